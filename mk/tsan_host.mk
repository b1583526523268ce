# `make tsan-host`: the host unit tests that use threads, built with ThreadSanitizer into
# $(BUILD_DIR)/tsan-host and run (shared data, queues and metrics are the host's cross-thread
# state). `make VARIANT=tsan` builds the whole proxy that way for the integration tests.

TSAN_DIR := $(BUILD_DIR)/tsan-host
TSAN_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
               -O1 -g -fsanitize=thread -Iinclude -Isrc $(PKG_CFLAGS)
TSAN_LIB_OBJS := $(patsubst %.c,$(TSAN_DIR)/obj/%.o,$(HOST_SRCS) $(WASM_SRCS) tests/t.c)
TSAN_TESTS := $(TSAN_DIR)/pw_async_test $(TSAN_DIR)/pw_uv_test

$(TSAN_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(TSAN_CFLAGS) -c $< -o $@

$(TSAN_DIR)/obj/tests/unit/host/%.o: TSAN_CFLAGS += \
    -DPW_TEST_PLUGIN_DIR='"$(abspath $(PLUGIN_DIR))"'

$(TSAN_DIR)/%_test: $(TSAN_DIR)/obj/tests/unit/host/%_test.o $(TSAN_LIB_OBJS) | $(PLUGINS)
	clang -fsanitize=thread -o $@ $^ $(LDLIBS)

.PHONY: tsan-host
tsan-host: $(TSAN_TESTS)
	@for t in $(TSAN_TESTS); do TSAN_OPTIONS=halt_on_error=1 $$t || exit 1; done
