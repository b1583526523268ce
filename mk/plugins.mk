# Example Proxy-Wasm plugins (C SDK) compiled to wasm32-wasi reactors. They land in
# $(BUILD_DIR)/plugins/ for every variant, so release and sanitizer tests share them.
#
#   make plugins         builds $(BUILD_DIR)/plugins/<name>.wasm from examples/plugins/<name>.c
#
# The one-line command for a plugin of your own (see sdk/c/README.md):
#   clang --target=wasm32-wasi -O2 -flto -mexec-model=reactor -Isdk/c -o my.wasm my.c \
#         sdk/c/proxy_wasm.c sdk/c/pwc_alloc.c

WASM_CC ?= clang
WASM_CFLAGS := --target=wasm32-wasi -O2 -flto -mexec-model=reactor -std=c11 -Wall -Wextra -Werror \
               -Isdk/c -Wl,--strip-debug
PLUGIN_DIR := $(BUILD_DIR)/plugins
PLUGIN_SRCS := $(sort $(wildcard examples/plugins/*.c))
PLUGINS := $(patsubst examples/plugins/%.c,$(PLUGIN_DIR)/%.wasm,$(PLUGIN_SRCS))
# The runtime and its allocator (pwc_alloc.c takes the place of wasi-libc's malloc family).
SDK_C_SRCS := sdk/c/proxy_wasm.c sdk/c/pwc_alloc.c
SDK_C := $(SDK_C_SRCS) sdk/c/proxy_wasm.h mk/plugins.mk # the flags are in this file

$(PLUGIN_DIR)/%.wasm: examples/plugins/%.c $(SDK_C)
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -o $@.tmp $< $(SDK_C_SRCS) && mv $@.tmp $@

.PHONY: plugins
plugins: $(PLUGINS)
EXTRA_TARGETS += $(PLUGINS)

# Host unit tests load the plugins from here (absolute, computed at build time).
$(B)/obj/tests/unit/host/%.o: CFLAGS += -DPW_TEST_PLUGIN_DIR='"$(abspath $(PLUGIN_DIR))"'
$(UNIT_HOST): | $(PLUGINS)

# AssemblyScript examples (third-party SDK from npm, pinned in the script; needs network the
# first time). Not part of `all`: the host tests run the script themselves when they need it.
.PHONY: as-plugins
as-plugins:
	examples/plugins/as/build.sh $(PLUGIN_DIR)
