# Benchmarks. `make bench` runs every benchmark; `make bench-wasm` the engine benchmark:
# bench/wasm/kernels/*.c natively, in sluice's engine, in node's V8 and in wabt's wasm-interp.
#
# How `bench` collects benchmarks: each fragment adds its own phony target as a prerequisite
# with a rule that has no recipe (`bench: bench-wasm` here; e.g. `bench: bench-proxy` in
# another fragment). GNU make merges the prerequisites of recipe-less rules whatever order
# the fragments are read in, so no fragment owns `bench` and none may give it a recipe.
# Run `make bench` without -j: benchmarks that run at the same time disturb each other.

.PHONY: bench-wasm
bench: bench-wasm

BENCH_WASM_DIR := $(B)/bench/wasm
BENCH_KERNELS := $(sort $(basename $(notdir $(wildcard bench/wasm/kernels/*.c))))
# The compiler for both the native baseline and the .wasm, so both get the same optimiser.
BENCH_CC ?= clang
BENCH_REPS ?= 3
# wall (CLOCK_MONOTONIC) or cpu (process CPU time, for a machine busy with other work).
BENCH_CLOCK ?= wall
# Functions in the generated module that load throughput is measured on (about 600 bytes
# of Wasm each).
BENCH_BIG_FUNCS ?= 3000

BENCH_KCFLAGS := -O2 -std=c11 -Wall -Wextra -Werror -fno-math-errno -Ibench/wasm/kernels
# Kernels import nothing: no libc, no WASI; wasm_rt.c supplies memcpy and friends.
BENCH_WASM_FLAGS := --target=wasm32 -nostdlib -Wl,--no-entry

BENCH_WASM_MODS := $(patsubst %,$(BENCH_WASM_DIR)/%.wasm,$(BENCH_KERNELS))
BENCH_WASM_BINS := $(BENCH_WASM_DIR)/bench-native $(BENCH_WASM_DIR)/bench-sluice \
                   $(BENCH_WASM_MODS) $(BENCH_WASM_DIR)/big.wasm

$(BENCH_WASM_DIR)/wasm_rt.o: bench/wasm/wasm_rt.c
	@mkdir -p $(dir $@)
	$(BENCH_CC) --target=wasm32 $(BENCH_KCFLAGS) -ffreestanding -fno-builtin -c $< -o $@

$(BENCH_WASM_DIR)/%.wasm: bench/wasm/kernels/%.c bench/wasm/kernels/kernel.h \
                          $(BENCH_WASM_DIR)/wasm_rt.o
	$(BENCH_CC) $(BENCH_WASM_FLAGS) $(BENCH_KCFLAGS) -o $@ $< $(BENCH_WASM_DIR)/wasm_rt.o

$(BENCH_WASM_DIR)/big.c: bench/wasm/gen_big.py
	@mkdir -p $(dir $@)
	python3 bench/wasm/gen_big.py $(BENCH_BIG_FUNCS) $@

# Names stripped: load throughput counts code, not debug names an engine would skip.
$(BENCH_WASM_DIR)/big.wasm: $(BENCH_WASM_DIR)/big.c bench/wasm/kernels/kernel.h \
                            $(BENCH_WASM_DIR)/wasm_rt.o
	$(BENCH_CC) $(BENCH_WASM_FLAGS) -Wl,--strip-all $(BENCH_KCFLAGS) -o $@ $< \
	    $(BENCH_WASM_DIR)/wasm_rt.o

$(BENCH_WASM_DIR)/native/%.o: bench/wasm/kernels/%.c bench/wasm/kernels/kernel.h
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_KCFLAGS) -DBK_NAME=$* -c $< -o $@

$(BENCH_WASM_DIR)/bench-native: bench/wasm/bench_native.c bench/wasm/bench_timing.h \
                                $(patsubst %,$(BENCH_WASM_DIR)/native/%.o,$(BENCH_KERNELS))
	$(BENCH_CC) $(BENCH_KCFLAGS) -D_GNU_SOURCE \
	    '-DBK_KERNELS=$(foreach k,$(BENCH_KERNELS),X($(k)))' -o $@ $(filter %.c %.o,$^)

$(BENCH_WASM_DIR)/bench-sluice: $(call objs,bench/wasm/bench_sluice.c) $(WASM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The engine's driver is compiled (not linked) by `make all`, so it keeps up with wasm.h.
EXTRA_TARGETS += $(call objs,bench/wasm/bench_sluice.c)

bench-wasm: $(BENCH_WASM_BINS)
ifneq ($(VARIANT),release)
	$(error bench-wasm measures the release build; run it without VARIANT=$(VARIANT))
endif
	python3 bench/wasm/bench.py --dir $(BENCH_WASM_DIR) --reps $(BENCH_REPS) --clock $(BENCH_CLOCK)

# The same modules at their small counts in every engine, checksums compared, no timing.
.PHONY: bench-wasm-check
bench-wasm-check: $(BENCH_WASM_BINS)
	python3 bench/wasm/bench.py --dir $(BENCH_WASM_DIR) --check
