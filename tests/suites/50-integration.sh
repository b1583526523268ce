# Integration tests: every tests/integration/test_*.py against the release build, then again
# against the ASan+UBSan build when it exists, and the tests whose work crosses threads against
# the ThreadSanitizer build when it exists; prints the summed "N passed, N failed".
cd "$(dirname "$0")/../.."
B="${BUILD_DIR:-build}"
case "$B" in /*) ;; *) B="$PWD/$B" ;; esac
pass=0; fail=0
run_with() {
    bin="$1"; scale="$2"; label="$3"; tests="${4:-tests/integration/test_*.py}"
    for t in $tests; do
        [ -e "$t" ] || continue
        out=$(SLUICE_BIN="$bin" SLUICE_TIMEOUT_SCALE="$scale" timeout $((600 * scale)) python3 "$t" 2>&1); rc=$?
        echo "$out" | sed "s|^|[$label $(basename "$t" .py)] |"
        line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
        if [ -z "$line" ]; then
            fail=$((fail + 1)); echo "not ok $label $t: no count line (exit $rc)"; continue
        fi
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
        pass=$((pass + p)); fail=$((fail + f))
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail=$((fail + 1)); fi
    done
}
if [ -x "$B/sluice" ]; then
    run_with "$B/sluice" 1 release
else
    echo "not ok integration: $B/sluice is not built"; fail=$((fail + 1))
fi
if [ -x "$B/asan/sluice" ]; then
    run_with "$B/asan/sluice" 3 asan
fi
# Workers and the main thread: services, shared data, queues, callouts, replicas, drain.
if [ -x "$B/tsan/sluice" ]; then
    run_with "$B/tsan/sluice" 3 tsan "tests/integration/test_wasm_async.py \
        tests/integration/test_wasm.py tests/integration/test_server.py"
fi
echo "$pass passed, $fail failed"
