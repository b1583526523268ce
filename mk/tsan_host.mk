# `make tsan-host`: the unit tests that use threads (shared data, queues and metrics are the
# host's cross-thread state; native code is translated by whichever thread first calls it),
# built by VARIANT=tsan into $(BUILD_DIR)/tsan/ and run with every race fatal. `make test`
# builds them and the unit suite runs them the same way.

TSAN_HOST_TESTS := $(BUILD_DIR)/tsan/tests/unit/host/pw_async_test \
                   $(BUILD_DIR)/tsan/tests/unit/host/pw_uv_test \
                   $(BUILD_DIR)/tsan/tests/unit/wasm/wa_native_test

.PHONY: tsan-host
tsan-host:
	$(MAKE) VARIANT=tsan $(TSAN_HOST_TESTS)
	@for t in $(TSAN_HOST_TESTS); do TSAN_OPTIONS=halt_on_error=1 $$t || exit 1; done
