# The WebAssembly spec suite: converts every ../shared/wasm-spec-tests/core/*.wast with wast2json
# into $BUILD_DIR/spec/ and runs `sluice-wasm spec` on each; known failures are listed, not hidden.
# The release build runs every script twice, with its native tier (wa_native.c) and with the
# interpreter alone; the clang build's sluice-wasm, when built, runs them again (its
# interpreter dispatch is compiled differently).
cd "$(dirname "$0")/../.."
B="${BUILD_DIR:-build}"
src="../shared/wasm-spec-tests/core"
out="$B/spec"
tool="$B/sluice-wasm"
known="tests/spec/known-failures.txt"
jobs="${SPEC_JOBS:-$(nproc 2>/dev/null || echo 2)}"

if [ ! -x "$tool" ]; then echo "FAIL: $tool is not built"; echo "spec: 0 passed, 1 failed"; exit 1; fi
if ! command -v wast2json >/dev/null; then echo "FAIL: wast2json missing (wabt)"; echo "spec: 0 passed, 1 failed"; exit 1; fi
if ! ls "$src"/*.wast >/dev/null 2>&1; then echo "FAIL: no spec scripts in $src"; echo "spec: 0 passed, 1 failed"; exit 1; fi

known_arg=""
if [ -f "$known" ]; then known_arg="--known $known"; fi

# One job per script: convert, then run with a time bound; the runner's output goes to NAME.log.
one() {
    name=$(basename "$1" .wast)
    if ! wast2json "$1" -o "$out/$name.json" >"$out/$name.log" 2>&1; then
        echo "FAIL $name.wast: wast2json could not convert it" >>"$out/$name.log"
        return
    fi
    # shellcheck disable=SC2086
    timeout 100 "$tool" spec $known_arg "$out/$name.json" >>"$out/$name.log" 2>&1
    echo "exit $?" >>"$out/$name.log"
}
export -f one
export known_arg

pass=0; fail=0; skip=0; known_n=0; fixed=0
# Runs every script with $tool, its files in $out; $1 prefixes its lines ("" for release).
run_all() {
    label="$1"
    rm -rf "$out"
    mkdir -p "$out"
    export out tool
    ls "$src"/*.wast | xargs -P "$jobs" -I{} bash -c 'one "$@"' _ {}
    for f in "$src"/*.wast; do
        name=$(basename "$f" .wast)
        log="$out/$name.log"
        grep -E '^(FAIL|FIXED|STALE) ' "$log" | sed "s|^|$label|"
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped, [0-9]+ known, [0-9]+ fixed' "$log" | tail -n 1)
        if [ -z "$line" ]; then
            # The runner died (crash or time limit): every command of the script counts as failed.
            n=0
            if [ -f "$out/$name.json" ]; then
                n=$(grep -c '^  {"type": ' "$out/$name.json")
                t=$(grep -c '"module_type": "text"' "$out/$name.json")
                n=$((n - t)); skip=$((skip + t))
            fi
            [ "$n" -gt 0 ] || n=1
            echo "${label}FAIL $name.wast: runner ended without a count ($(grep '^exit ' "$log" | tail -n 1)); $n commands counted as failed"
            tail -n 5 "$log" | sed 's/^/    /'
            fail=$((fail + n))
            continue
        fi
        set -- $line
        pass=$((pass + $1)); fail=$((fail + $3)); skip=$((skip + $5)); known_n=$((known_n + $7)); fixed=$((fixed + $9))
        echo "$label$name.wast: $line" | sed -E 's/ \([^)]*\)$//'
    done
}

run_all ""
# The same build with its native tier off: the interpreter alone runs every script.
export SLUICE_WASM_NATIVE=0
out="$B/spec-interp"
run_all "[interp] "
unset SLUICE_WASM_NATIVE
out="$B/spec"
if [ -x "$B/clang/sluice-wasm" ]; then
    tool="$B/clang/sluice-wasm"
    out="$B/clang/spec"
    run_all "[clang] "
fi
echo "spec totals: $skip skipped (text-format), $known_n known failures, $fixed listed but now passing"
echo "spec: $pass passed, $fail failed"
[ "$fail" = 0 ]
