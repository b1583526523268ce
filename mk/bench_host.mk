# Host benchmarks: `make bench-host` measures the shared-data store (get, set, CAS increments
# with 1, 2 and 4 threads) against a single-mutex table and prints both and the ratio.
# BENCH_HOST_SECONDS sets the time per figure.

.PHONY: bench-host
bench: bench-host

BENCH_HOST_SECONDS ?= 0.3

$(B)/bench/host/shared_data_bench: $(call objs,bench/host/shared_data_bench.c) $(HOST_LIB) \
                                   $(WASM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-host: $(B)/bench/host/shared_data_bench
	$(B)/bench/host/shared_data_bench $(BENCH_HOST_SECONDS)
