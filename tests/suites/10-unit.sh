# Unit tests: every tests/unit/<layer>/*_test program of the release build, the clang build and
# the ASan+UBSan build, and those the ThreadSanitizer build has (the host's threaded tests),
# each build beyond the release one when it exists. A race is fatal under ThreadSanitizer.
cd "$(dirname "$0")/../.."
B="${BUILD_DIR:-build}"
pass=0; fail=0
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}"
for variant in "$B" "$B/clang" "$B/asan" "$B/tsan"; do
    if [ "$variant" != "$B" ] && [ ! -d "$variant/tests/unit" ]; then continue; fi
    for t in $(find "$variant/tests/unit" -type f -name '*_test' 2>/dev/null | sort); do
        out=$("$t" 2>&1); rc=$?
        echo "$out" | sed "s|^|[$t] |"
        line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
        if [ -z "$line" ]; then fail=$((fail + 1)); echo "not ok $t: no count line (exit $rc)"; continue; fi
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
        pass=$((pass + p)); fail=$((fail + f))
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail=$((fail + 1)); fi
    done
done
echo "$pass passed, $fail failed"
