# `make demo`: installs what is missing, builds the release binary, then runs scripts/demo
# (sluice on examples/demo.yaml with a Wasm plugin in front of a small upstream; Ctrl-C stops
# it).
.PHONY: demo
demo:
	@scripts/setup
	$(MAKE) VARIANT=release BUILD_DIR=$(BUILD_DIR) $(BUILD_DIR)/sluice plugins
	BUILD_DIR=$(BUILD_DIR) scripts/demo
