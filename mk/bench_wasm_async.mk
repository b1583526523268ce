# `make bench-wasm-async`: the asynchronous Proxy-Wasm paths through the real proxy
# (bench/wasm_async/bench.py): shared-queue delay from a worker's enqueue to the singleton
# service's proxy_on_queue_ready, shared data ops/s with 1 and all workers' threads against a
# single-mutex table, the cost of one HTTP callout per request, and (callgrind) instructions
# per request for the queue and callout plugins against no filter. Run without -j.
# Knobs: BENCH_ASYNC_SECONDS (each loaded wrk run), BENCH_ASYNC_LOW_SECONDS (each one-request-
# at-a-time run), BENCH_ASYNC_WORKERS (the proxy's worker threads), BENCH_ASYNC_CONNECTIONS,
# BENCH_ASYNC_REPS (alternating callout runs), BENCH_ASYNC_SD_SECONDS (each shared data
# figure), BENCH_ASYNC_CALLGRIND (requests per callgrind run, 0 = none). The defaults take
# about a minute.

.PHONY: bench-wasm-async bench-wasm-filter
bench: bench-wasm-async
bench-wasm-filter: bench-wasm-async

BENCH_ASYNC_DIR := $(B)/bench/wasm_async
BENCH_ASYNC_SECONDS ?= 3
BENCH_ASYNC_LOW_SECONDS ?= 1
BENCH_ASYNC_WORKERS ?= 2
BENCH_ASYNC_CONNECTIONS ?= 32
BENCH_ASYNC_SD_SECONDS ?= 0.3
BENCH_ASYNC_REPS ?= 2
# requests per callgrind run (instruction counts per request); 0 leaves them out
BENCH_ASYNC_CALLGRIND ?= 200

# Benchmark plugins go next to the example plugins (same flags), named by file.
BENCH_ASYNC_PLUGIN_DIR := $(BUILD_DIR)/plugins
BENCH_ASYNC_PLUGINS := $(patsubst examples/bench_plugins/%.c,$(BENCH_ASYNC_PLUGIN_DIR)/%.wasm,\
                         $(sort $(wildcard examples/bench_plugins/*.c)))

$(BENCH_ASYNC_PLUGINS): $(BENCH_ASYNC_PLUGIN_DIR)/%.wasm: examples/bench_plugins/%.c \
                        sdk/c/proxy_wasm.c sdk/c/pwc_alloc.c sdk/c/proxy_wasm.h
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -o $@.tmp $< sdk/c/proxy_wasm.c sdk/c/pwc_alloc.c && mv $@.tmp $@

EXTRA_TARGETS += $(BENCH_ASYNC_PLUGINS)

$(BENCH_ASYNC_DIR)/queue_peer: $(call objs,bench/wasm_async/queue_peer.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

EXTRA_TARGETS += $(BENCH_ASYNC_DIR)/queue_peer

bench-wasm-async: $(B)/sluice $(B)/bench/host/shared_data_bench $(BENCH_ASYNC_DIR)/queue_peer \
                  $(BENCH_ASYNC_PLUGINS) $(BUILD_DIR)/plugins/callout_auth.wasm
ifneq ($(VARIANT),release)
	$(error bench-wasm-async measures the release build; run it without VARIANT=$(VARIANT))
endif
	python3 bench/wasm_async/bench.py --sluice $(B)/sluice --plugins $(BENCH_ASYNC_PLUGIN_DIR) \
	    --shared-data-bench $(B)/bench/host/shared_data_bench \
	    --queue-peer $(BENCH_ASYNC_DIR)/queue_peer --seconds $(BENCH_ASYNC_SECONDS) \
	    --low-seconds $(BENCH_ASYNC_LOW_SECONDS) \
	    --workers $(BENCH_ASYNC_WORKERS) --connections $(BENCH_ASYNC_CONNECTIONS) \
	    --sd-seconds $(BENCH_ASYNC_SD_SECONDS) --reps $(BENCH_ASYNC_REPS) \
	    --callgrind $(BENCH_ASYNC_CALLGRIND)
