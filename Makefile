# sluice build: one non-recursive GNU make. Each layer is a static library; binaries, tests
# and fuzzers link the layers they need. Fragments in mk/*.mk add targets of their own.
#
#   make                 release build in build/ (build/sluice, build/sluice-wasm, ...)
#   make VARIANT=clang   release flags built with clang in build/clang/
#   make VARIANT=asan    ASan+UBSan build in build/asan/
#   make VARIANT=tsan    ThreadSanitizer build in build/tsan/ (sluice, threaded host tests)
#   make VARIANT=fuzz    libFuzzer targets in build/fuzz/
#   make test            set-up, every build, every suite; ends with "N passed, N failed"
#   make bench           every benchmark (bench-wasm, bench-proxy, ...)

.DEFAULT_GOAL := all
VARIANT ?= release
# BUILD_DIR moves every output (default build/); the sanitizer and fuzz flavours nest in it.
BUILD_DIR ?= build
ifeq ($(VARIANT),release)
B := $(BUILD_DIR)
OPT := -O2 -g
else ifeq ($(VARIANT),clang)
# The release flags with the other compiler: the interpreter's dispatch is compiler-specific
# code, so the unit and spec suites run on both.
B := $(BUILD_DIR)/clang
CC := clang
# DWARF 4: Debian's valgrind (3.19) cannot read clang 14's DWARF 5
OPT := -O2 -gdwarf-4
else ifeq ($(VARIANT),asan)
B := $(BUILD_DIR)/asan
CC := clang
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDOPT := -fsanitize=address,undefined
else ifeq ($(VARIANT),tsan)
# ThreadSanitizer: workers, the main thread and the host's shared state under real traffic.
# The switch dispatch, as in the other sanitizer builds (instrumenting the computed-goto
# interpreter takes minutes).
B := $(BUILD_DIR)/tsan
CC := clang
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=thread -DWA_INTERP_SWITCH=1
LDOPT := -fsanitize=thread
else ifeq ($(VARIANT),fuzz)
B := $(BUILD_DIR)/fuzz
CC := clang
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link \
       -fno-sanitize-recover=all -DSL_FUZZING=1
LDOPT := -fsanitize=address,undefined
else
$(error VARIANT must be release, clang, asan, tsan or fuzz)
endif

PKG_LIBS := libuv yaml-0.1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_LIBS) 2>/dev/null)
PKG_LDLIBS := $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null)

CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
          $(OPT) -Iinclude -Isrc $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS := $(LDOPT) $(EXTRA_LDFLAGS)
LDLIBS := $(PKG_LDLIBS) -lssl -lcrypto -lpthread -lm

objs = $(patsubst %.c,$(B)/obj/%.o,$(1))

# ---- layers -----------------------------------------------------------------------------
WASM_SRCS := $(sort $(wildcard src/wasm/*.c src/wasi/*.c))
HOST_SRCS := $(sort $(wildcard src/host/*.c))
PROXY_SRCS := $(sort $(filter-out src/proxy/sl_main.c,$(wildcard src/proxy/*.c)))

WASM_LIB := $(B)/lib/libsluice_wasm.a
HOST_LIB := $(B)/lib/libsluice_host.a
PROXY_LIB := $(B)/lib/libsluice_proxy.a
ALL_LIBS := $(PROXY_LIB) $(HOST_LIB) $(WASM_LIB)

$(WASM_LIB): $(call objs,$(WASM_SRCS))
$(HOST_LIB): $(call objs,$(HOST_SRCS))
$(PROXY_LIB): $(call objs,$(PROXY_SRCS))
$(B)/lib/%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# ---- binaries -----------------------------------------------------------------------------
BINS :=
ifneq ($(wildcard src/proxy/sl_main.c),)
BINS += $(B)/sluice
$(B)/sluice: $(call objs,src/proxy/sl_main.c) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
endif
SLUICE_WASM_SRCS := $(sort $(wildcard tools/sluice-wasm/*.c))
ifneq ($(SLUICE_WASM_SRCS),)
BINS += $(B)/sluice-wasm
$(B)/sluice-wasm: $(call objs,$(SLUICE_WASM_SRCS)) $(WASM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
endif

# ---- unit tests: tests/unit/<layer>/<name>_test.c, each its own program ------------------
T_OBJ := $(call objs,tests/t.c)
UNIT_WASM := $(patsubst %.c,$(B)/%,$(wildcard tests/unit/wasm/*_test.c))
UNIT_HOST := $(patsubst %.c,$(B)/%,$(wildcard tests/unit/host/*_test.c))
UNIT_PROXY := $(patsubst %.c,$(B)/%,$(wildcard tests/unit/proxy/*_test.c))
UNIT_TESTS := $(UNIT_WASM) $(UNIT_HOST) $(UNIT_PROXY)
$(UNIT_WASM): $(B)/tests/unit/wasm/%: $(B)/obj/tests/unit/wasm/%.o $(T_OBJ) $(WASM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(UNIT_HOST): $(B)/tests/unit/host/%: $(B)/obj/tests/unit/host/%.o $(T_OBJ) $(HOST_LIB) $(WASM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(UNIT_PROXY): $(B)/tests/unit/proxy/%: $(B)/obj/tests/unit/proxy/%.o $(T_OBJ) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- fuzz targets: tests/fuzz/<name>.c, built only in VARIANT=fuzz ------------------------
FUZZERS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(wildcard tests/fuzz/*.c))
$(FUZZERS): $(B)/fuzz/%: $(B)/obj/tests/fuzz/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# Fragments add to EXTRA_TARGETS (built by `make all`) and define their own phony targets.
EXTRA_TARGETS :=
include $(sort $(wildcard mk/*.mk))

.PHONY: all setup test bench unit-tests fuzzers clean
ifeq ($(VARIANT),fuzz)
all: $(FUZZERS)
else
all: $(BINS) $(UNIT_TESTS) $(EXTRA_TARGETS)
endif
unit-tests: $(UNIT_TESTS)
fuzzers: $(FUZZERS)

setup:
	@scripts/setup

# The whole suite. Builds run in order (set-up must finish before anything compiles).
test: setup
	$(MAKE) VARIANT=release all as-plugins
	$(MAKE) VARIANT=clang all
	$(MAKE) VARIANT=asan all
	$(MAKE) VARIANT=tsan $(BUILD_DIR)/tsan/sluice $(TSAN_HOST_TESTS)
	$(MAKE) VARIANT=fuzz all
	@tests/run-all

clean:
	rm -rf $(BUILD_DIR)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
