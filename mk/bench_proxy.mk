# `make bench-proxy`: the HTTP/1 parser's throughput alone (bench/proxy/h1_parse_bench.c), then
# wrk against nginx directly, nginx as a reverse proxy and sluice (bench/proxy/bench.py).
# A sluice that fails to build still leaves the other rows. Run without -j (see mk/bench.mk).

.PHONY: bench-proxy
bench: bench-proxy

BENCH_PROXY_DIR := $(B)/bench/proxy
BENCH_PROXY_SECONDS ?= 5
BENCH_PROXY_PARSE_SECONDS ?= 1

# Linked with the parser's object alone, so it builds whatever state the rest is in.
$(BENCH_PROXY_DIR)/h1_parse_bench: $(call objs,bench/proxy/h1_parse_bench.c src/proxy/sl_h1_parse.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

EXTRA_TARGETS += $(BENCH_PROXY_DIR)/h1_parse_bench

bench-proxy: $(BENCH_PROXY_DIR)/h1_parse_bench
ifneq ($(VARIANT),release)
	$(error bench-proxy measures the release build; run it without VARIANT=$(VARIANT))
endif
	@echo "== HTTP/1 parser alone =="
	$(BENCH_PROXY_DIR)/h1_parse_bench $(BENCH_PROXY_PARSE_SECONDS)
	@echo "== proxies =="
	@if $(MAKE) --no-print-directory $(B)/sluice >$(BENCH_PROXY_DIR)/sluice-build.log 2>&1; \
	then s=$(B)/sluice; \
	else echo "bench-proxy: building $(B)/sluice FAILED (log: $(BENCH_PROXY_DIR)/sluice-build.log)"; \
	     tail -n 5 $(BENCH_PROXY_DIR)/sluice-build.log; s=; fi; \
	python3 bench/proxy/bench.py --sluice "$$s" --seconds $(BENCH_PROXY_SECONDS)
