# Bounded libFuzzer runs: each build/fuzz/<target> for FUZZ_SECONDS (default 30) starting
# from tests/fuzz/<target>_corpus (copied, so the committed corpus is never rewritten).
cd "$(dirname "$0")/../.."
B="${BUILD_DIR:-build}"
secs="${FUZZ_SECONDS:-30}"
pass=0; fail=0
for f in $(find "$B/fuzz/fuzz" -maxdepth 1 -type f -perm -u+x 2>/dev/null | sort); do
    name=$(basename "$f")
    work=$(mktemp -d)
    if [ -d "tests/fuzz/${name}_corpus" ]; then cp -r "tests/fuzz/${name}_corpus/." "$work/"; fi
    dict=""
    if [ -f "tests/fuzz/$name.dict" ]; then dict="-dict=tests/fuzz/$name.dict"; fi
    if "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$B/fuzz/$name-" $dict "$work" >"$B/fuzz/$name.log" 2>&1; then
        pass=$((pass + 1)); echo "ok fuzz $name ($(grep -E 'stat::number_of_executed_units' "$B/fuzz/$name.log" | awk '{print $2}') runs in ${secs}s)"
    else
        fail=$((fail + 1)); echo "not ok fuzz $name: see build/fuzz/$name.log"; tail -n 30 "$B/fuzz/$name.log"
    fi
    rm -rf "$work"
done
echo "$pass passed, $fail failed"
