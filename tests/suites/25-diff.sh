# The engine against wabt on generated modules, seeds from 1 up for a bounded time each:
#   - tests/diff/wasm_diff.py: results against wabt's reference interpreter (wasm-interp). The
#     release build gets the most time: with its native tier, the same with a clock check
#     every 16 units (SLUICE_WASM_TICK_CHUNK), and with the interpreter alone; the clang build (its interpreter dispatch is compiled differently)
#     and the ASan+UBSan build (memory errors on code no one wrote by hand) run fewer seeds.
#   - tests/diff/validate_diff.py: mutated binaries accepted or refused alike by sluice-wasm
#     and wasm-validate (release build).
# One test per seed.
cd "$(dirname "$0")/../.."
B="${BUILD_DIR:-build}"
secs="${DIFF_SECONDS:-60}"
pass=0; fail=0
run() { # label tool seconds [script]
    if [ ! -x "$2" ]; then
        echo "FAIL $1: $2 is not built"; fail=$((fail + 1)); return
    fi
    out=$(python3 "tests/diff/${4:-wasm_diff.py}" --sluice-wasm "$2" --seeds 1:1000000 \
              --seconds "$3" --keep "$B/diff-failures/$1" 2>&1)
    echo "$out" | grep -v -E '^[0-9]+ passed' | sed "s/^/[$1] /"
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $1: no count line"; fail=$((fail + 1)); return
    fi
    echo "[$1] $line"
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    pass=$((pass + p)); fail=$((fail + f))
}
rm -rf "$B/diff-failures"
run release "$B/sluice-wasm" $((secs / 3))
# the clock check every 16 units instead of 4096: the tick's slow path (a call into the
# engine) then runs in the middle of native code at every kind of op that ticks
SLUICE_WASM_TICK_CHUNK=16 run ticks "$B/sluice-wasm" $((secs / 3))
# the same build with its native tier off: the interpreter alone on the same seeds
SLUICE_WASM_NATIVE=0 run interp "$B/sluice-wasm" $((secs / 3))
if [ -x "$B/clang/sluice-wasm" ]; then run clang "$B/clang/sluice-wasm" $((secs / 3)); fi
if [ -x "$B/asan/sluice-wasm" ]; then run asan "$B/asan/sluice-wasm" $((secs / 3)); fi
run validate "$B/sluice-wasm" $((secs / 2)) validate_diff.py
echo "$pass passed, $fail failed"
