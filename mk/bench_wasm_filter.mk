# `make bench-wasm-filter`: what a Wasm HTTP filter costs. wrk through sluice with no filter,
# the native add-header filter, and the same header added by a C SDK and an AssemblyScript
# plugin; then host_bench's hostcall, call (against node's V8) and VM replica figures
# (bench/wasm_filter/bench.py).
# Run without -j (see mk/bench.mk).

.PHONY: bench-wasm-filter
bench: bench-wasm-filter

BENCH_WF_DIR := $(B)/bench/wasm_filter
# seconds per wrk run
BENCH_WF_SECONDS ?= 3
BENCH_WF_REPLICAS ?= 16
# wrk rounds over all targets, interleaved; each row keeps its best round, and the median
# of its per-round ratios to the no-filter run is printed too.
BENCH_WF_ROUNDS ?= 5
# requests per callgrind run (instructions per request); 0 leaves them out
BENCH_WF_CALLGRIND ?= 300

$(BENCH_WF_DIR)/host_bench: $(call objs,bench/wasm_filter/host_bench.c) $(HOST_LIB) $(WASM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Compiled by `make all` so the driver keeps up with host.h.
EXTRA_TARGETS += $(call objs,bench/wasm_filter/host_bench.c)

bench-wasm-filter: $(BENCH_WF_DIR)/host_bench $(BENCH_WF_DIR)/bump/hostcalls.wasm \
                   $(BENCH_WF_DIR)/calls.wasm $(B)/sluice \
                   $(PLUGINS)
ifneq ($(VARIANT),release)
	$(error bench-wasm-filter measures the release build; run it without VARIANT=$(VARIANT))
endif
	@$(MAKE) --no-print-directory as-plugins >$(BENCH_WF_DIR)/as-plugins.log 2>&1 || \
	    echo "bench-wasm-filter: AssemblyScript plugins not built" \
	         "(log: $(BENCH_WF_DIR)/as-plugins.log)"
	python3 bench/wasm_filter/bench.py --sluice $(B)/sluice \
	    --host-bench $(BENCH_WF_DIR)/host_bench --plugins $(PLUGIN_DIR) \
	    --bump-plugins $(BENCH_WF_DIR)/bump --seconds $(BENCH_WF_SECONDS) \
	    --rounds $(BENCH_WF_ROUNDS) --replicas $(BENCH_WF_REPLICAS) \
	    --callgrind $(BENCH_WF_CALLGRIND)

# hostcalls.wasm again, with bump_alloc.c in place of the SDK's allocator (sdk/c/pwc_alloc.c):
# host_bench runs it to show what a hostcall costs when the guest allocator costs next to
# nothing.
$(BENCH_WF_DIR)/bump/hostcalls.wasm: examples/plugins/hostcalls.c bench/wasm_filter/bump_alloc.c \
                                     $(SDK_C)
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -o $@.tmp examples/plugins/hostcalls.c sdk/c/proxy_wasm.c \
	    bench/wasm_filter/bump_alloc.c && mv $@.tmp $@

# The module behind host_bench's call figures, and calls.js's (V8) same figures.
$(BENCH_WF_DIR)/calls.wasm: bench/wasm_filter/calls.wat
	@mkdir -p $(dir $@)
	wat2wasm $< -o $@
