# Command-line tests of build/sluice-wasm: WASI programs built from C with clang at test time,
# hand-written modules from wat2wasm, usage errors, validation errors, fuel and deadlines.
cd "$(dirname "$0")/../.."
B="${BUILD_DIR:-build}"
tool="$B/sluice-wasm"
w="$B/tools-test"
pass=0; fail=0

ok() { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
# expect NAME WANT_RC GOT_RC: compares exit codes.
expect_rc() { if [ "$3" = "$2" ]; then ok "$1"; else bad "$1" "exit $3, expected $2"; fi; }
# expect_out NAME FILE TEXT: FILE holds TEXT (a fixed string).
expect_in() { if grep -qF -- "$3" "$2"; then ok "$1"; else bad "$1" "'$3' not in: $(head -c 300 "$2")"; fi; }

if [ ! -x "$tool" ]; then echo "FAIL: $tool is not built"; echo "0 passed, 1 failed"; exit 1; fi
rm -rf "$w"; mkdir -p "$w"

cc_wasm() { clang --target=wasm32-wasi -O2 -o "$w/$1.wasm" "$w/$1.c" 2>"$w/$1.cc.log"; }

# ---- usage ----------------------------------------------------------------------------------
"$tool" --help >"$w/help.out" 2>&1; expect_rc "help exits 0" 0 $?
for c in validate inspect run spec --invoke --fuel --deadline-ms; do
    expect_in "help mentions $c" "$w/help.out" "$c"
done
"$tool" run --help >/dev/null 2>&1; expect_rc "run --help exits 0" 0 $?
"$tool" >/dev/null 2>&1; expect_rc "no command is bad usage" 2 $?
"$tool" frobnicate >/dev/null 2>&1; expect_rc "unknown command is bad usage" 2 $?
"$tool" run >/dev/null 2>&1; expect_rc "run without a file is bad usage" 2 $?
"$tool" run --fuel >/dev/null 2>&1; expect_rc "option without value is bad usage" 2 $?
"$tool" run --fuel abc x.wasm >/dev/null 2>&1; expect_rc "non-numeric fuel is bad usage" 2 $?
"$tool" validate a b >/dev/null 2>&1; expect_rc "validate with two files is bad usage" 2 $?
"$tool" validate "$w/missing.wasm" >"$w/missing.out" 2>&1; expect_rc "validate of a missing file fails" 1 $?
expect_in "missing file is named" "$w/missing.out" "missing.wasm"

# ---- WASI programs built from C ---------------------------------------------------------------
cat >"$w/hello.c" <<'C'
#include <stdio.h>
int main(void) { printf("hello, world\n"); return 0; }
C
cat >"$w/exitcode.c" <<'C'
#include <stdlib.h>
int main(int argc, char **argv) { return argc > 1 ? atoi(argv[1]) : 0; }
C
cat >"$w/callexit.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(void) { fprintf(stderr, "bye\n"); exit(42); }
C
cat >"$w/args.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("arg%d=[%s]\n", i, argv[i]);
    const char *g = getenv("GREETING");
    printf("argc=%d GREETING=%s HOME=%s\n", argc, g ? g : "(unset)", getenv("HOME") ? "set" : "unset");
    return 0;
}
C
cat >"$w/cat.c" <<'C'
#include <stdio.h>
int main(void) {
    int c; long n = 0;
    while ((c = getchar()) != EOF) { putchar(c); n++; }
    fprintf(stderr, "%ld bytes\n", n);
    return 0;
}
C
cat >"$w/spin.c" <<'C'
#include <time.h>
volatile unsigned long counter;
int main(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    for (;;) counter++;
}
C
cat >"$w/sleep.c" <<'C'
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    usleep(50000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    printf("slept %s\n", ms >= 50 ? "enough" : "too little");
    return 0;
}
C
built=1
for p in hello exitcode callexit args cat spin sleep; do
    if ! cc_wasm $p; then bad "clang builds $p.c for wasm32-wasi" "$(head -c 300 "$w/$p.cc.log")"; built=0; fi
done

if [ "$built" = 1 ]; then
    "$tool" run "$w/hello.wasm" >"$w/hello.out" 2>"$w/hello.err"; expect_rc "hello exits 0" 0 $?
    if [ "$(cat "$w/hello.out")" = "hello, world" ]; then ok "hello prints hello, world"; else bad "hello prints hello, world" "got '$(head -c 200 "$w/hello.out")' $(head -c 300 "$w/hello.err")"; fi
    "$tool" run "$w/exitcode.wasm" 3 >/dev/null 2>&1; expect_rc "return 3 from main exits 3" 3 $?
    "$tool" run "$w/exitcode.wasm" 0 >/dev/null 2>&1; expect_rc "return 0 from main exits 0" 0 $?
    "$tool" run "$w/callexit.wasm" >/dev/null 2>"$w/callexit.err"; expect_rc "exit(42) exits 42" 42 $?
    expect_in "stderr reaches stderr" "$w/callexit.err" "bye"
    "$tool" run --env GREETING=hi "$w/args.wasm" one "two words" -x >"$w/args.out" 2>&1
    expect_rc "args program exits 0" 0 $?
    expect_in "argument 1 is passed" "$w/args.out" "arg1=[one]"
    expect_in "argument with a space is one argument" "$w/args.out" "arg2=[two words]"
    expect_in "dash argument after FILE belongs to the program" "$w/args.out" "arg3=[-x]"
    expect_in "argc counts the program name" "$w/args.out" "argc=4"
    expect_in "--env sets a variable" "$w/args.out" "GREETING=hi"
    expect_in "the host environment is not leaked" "$w/args.out" "HOME=unset"
    printf 'line one\nline two\n' | "$tool" run "$w/cat.wasm" >"$w/cat.out" 2>"$w/cat.err"
    expect_rc "cat exits 0" 0 $?
    if [ "$(cat "$w/cat.out")" = "$(printf 'line one\nline two')" ]; then ok "stdin is read to EOF"; else bad "stdin is read to EOF" "got '$(head -c 200 "$w/cat.out")'"; fi
    expect_in "cat counts bytes" "$w/cat.err" "18 bytes"
    "$tool" run "$w/sleep.wasm" >"$w/sleep.out" 2>&1; expect_rc "usleep (poll_oneoff) exits 0" 0 $?
    expect_in "usleep sleeps at least as asked" "$w/sleep.out" "slept enough"
    start=$(date +%s%N)
    timeout 20 "$tool" run --deadline-ms 300 "$w/spin.wasm" >/dev/null 2>"$w/spin.err"; rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    expect_rc "deadline stops an endless C loop (exit 124)" 124 $rc
    if [ "$ms" -ge 300 ] && [ "$ms" -lt 5000 ]; then ok "deadline 300 ms stops it in ${ms} ms"; else bad "deadline timing" "${ms} ms"; fi
    expect_in "deadline is named on stderr" "$w/spin.err" "deadline"
    timeout 20 "$tool" run --fuel 100000 "$w/spin.wasm" >/dev/null 2>"$w/spinfuel.err"
    expect_rc "fuel stops an endless C loop (exit 124)" 124 $?
    expect_in "fuel is named on stderr" "$w/spinfuel.err" "fuel"
    "$tool" inspect "$w/hello.wasm" >"$w/inspect.out" 2>&1; expect_rc "inspect exits 0" 0 $?
    expect_in "inspect lists the fd_write import with its type" "$w/inspect.out" "wasi_snapshot_preview1.fd_write: func (i32 i32 i32 i32) -> (i32)"
    expect_in "inspect lists the _start export" "$w/inspect.out" "_start: func () -> ()"
    expect_in "inspect lists the memory export" "$w/inspect.out" "memory: memory min"
    expect_in "inspect counts the functions with native code" "$w/inspect.out" "native code: "
    expect_in "inspect prints sizes" "$w/inspect.out" "code bytes"
    "$tool" validate "$w/hello.wasm" >/dev/null 2>&1; expect_rc "clang output validates" 0 $?
fi

# ---- hand-written modules ---------------------------------------------------------------------
wat() { wat2wasm "$@" 2>"$w/wat.log"; }
cat >"$w/calc.wat" <<'W'
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "mul64") (param i64 i64) (result i64) (i64.mul (local.get 0) (local.get 1)))
  (func (export "half") (param f64) (result f64) (f64.div (local.get 0) (f64.const 2)))
  (func (export "pair") (result i32 i64) (i32.const -1) (i64.const 7))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "spin") (loop $l (br $l)))
  (func (export "recurse") (call 6))
  (func (call 6)))
W
if wat "$w/calc.wat" -o "$w/calc.wasm"; then
    "$tool" run --invoke add "$w/calc.wasm" 2 3 >"$w/add.out" 2>&1; expect_rc "invoke add exits 0" 0 $?
    if [ "$(cat "$w/add.out")" = 5 ]; then ok "invoke add 2 3 prints 5"; else bad "invoke add 2 3 prints 5" "$(cat "$w/add.out")"; fi
    "$tool" run --invoke add "$w/calc.wasm" -7 3 >"$w/neg.out" 2>&1
    if [ "$(cat "$w/neg.out")" = -4 ]; then ok "negative values after FILE"; else bad "negative values after FILE" "$(cat "$w/neg.out")"; fi
    "$tool" run --invoke mul64 "$w/calc.wasm" 4294967296 3 >"$w/mul.out" 2>&1
    if [ "$(cat "$w/mul.out")" = 12884901888 ]; then ok "invoke with i64 values"; else bad "invoke with i64 values" "$(cat "$w/mul.out")"; fi
    "$tool" run --invoke half "$w/calc.wasm" 5 >"$w/half.out" 2>&1
    if [ "$(cat "$w/half.out")" = 2.5 ]; then ok "invoke with f64 values"; else bad "invoke with f64 values" "$(cat "$w/half.out")"; fi
    # SLUICE_WASM_PERF_MAP=1: the functions translated (on their first call) are named in
    # perf's map for the process, and only those
    SLUICE_WASM_PERF_MAP=1 "$tool" run --invoke add "$w/calc.wasm" 2 3 >/dev/null 2>&1 &
    pid=$!; wait $pid
    map="/tmp/perf-$pid.map"
    if [ "$(uname -m)" = x86_64 ]; then
        if [ -f "$map" ] && grep -qE '^[0-9a-f]+ [0-9a-f]+ wasm\[[0-9]+\] add$' "$map" &&
           ! grep -q ' mul64$' "$map"; then
            ok "perf map names the translated function"
        else
            bad "perf map names the translated function" "$(cat "$map" 2>&1 | head -c 300)"
        fi
        SLUICE_WASM_PERF_MAP=0 "$tool" run --invoke add "$w/calc.wasm" 2 3 >/dev/null 2>&1 &
        pid2=$!; wait $pid2
        if [ ! -e "/tmp/perf-$pid2.map" ]; then ok "no perf map unless asked"; else bad "no perf map unless asked" "/tmp/perf-$pid2.map exists"; fi
        rm -f "/tmp/perf-$pid2.map"
    fi
    rm -f "$map"
    "$tool" run --invoke pair "$w/calc.wasm" >"$w/pair.out" 2>&1
    if [ "$(tr '\n' ' ' <"$w/pair.out")" = "-1 7 " ]; then ok "multi-value results one per line"; else bad "multi-value results" "$(cat "$w/pair.out")"; fi
    "$tool" run --invoke add "$w/calc.wasm" 1 >/dev/null 2>&1; expect_rc "wrong value count is bad usage" 2 $?
    "$tool" run --invoke add "$w/calc.wasm" 1 x >/dev/null 2>&1; expect_rc "non-numeric value is bad usage" 2 $?
    "$tool" run --invoke nope "$w/calc.wasm" >/dev/null 2>&1; expect_rc "missing export fails" 1 $?
    "$tool" run --invoke div "$w/calc.wasm" 1 0 >/dev/null 2>"$w/div.err"; expect_rc "a trap exits 134" 134 $?
    expect_in "the trap is named" "$w/div.err" "integer divide by zero"
    start=$(date +%s%N)
    timeout 20 "$tool" run --fuel 1000000 --invoke spin "$w/calc.wasm" >/dev/null 2>"$w/fuel.err"; rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    expect_rc "fuel stops an endless Wasm loop (exit 124)" 124 $rc
    if [ "$ms" -lt 5000 ]; then ok "fuel 1000000 stops it in ${ms} ms"; else bad "fuel timing" "${ms} ms"; fi
    timeout 20 "$tool" run --deadline-ms 200 --invoke spin "$w/calc.wasm" >/dev/null 2>&1
    expect_rc "deadline stops an endless Wasm loop" 124 $?
    timeout 20 "$tool" run --invoke recurse "$w/calc.wasm" >/dev/null 2>"$w/rec.err"
    expect_rc "endless recursion traps, not crashes" 134 $?
    expect_in "stack exhaustion is named" "$w/rec.err" "call stack exhausted"
    "$tool" run "$w/calc.wasm" >/dev/null 2>"$w/nostart.err"; expect_rc "run without _start fails" 1 $?
    expect_in "missing _start is explained" "$w/nostart.err" "_start"
else
    bad "wat2wasm builds calc.wat" "$(cat "$w/wat.log")"
fi

# ---- validation errors with byte offsets ------------------------------------------------------
cat >"$w/typeerr.wat" <<'W'
(module (func (result i32) (i64.const 1)))
W
printf '\x00asm\x01\x00\x00\x00' >"$w/empty.wasm"
"$tool" validate "$w/empty.wasm" >/dev/null 2>&1; expect_rc "the empty module is valid" 0 $?
printf '\x00asn\x01\x00\x00\x00' >"$w/badmagic.wasm"
"$tool" validate "$w/badmagic.wasm" >/dev/null 2>"$w/badmagic.err"; expect_rc "bad magic fails validation" 1 $?
expect_in "bad magic error gives offset 0" "$w/badmagic.err" "offset 0"
printf '\x00asm\x01\x00\x00\x00\x01\x05\x01\x60' >"$w/trunc.wasm"
"$tool" validate "$w/trunc.wasm" >/dev/null 2>"$w/trunc.err"; expect_rc "truncated section fails validation" 1 $?
expect_in "malformed module is reported as malformed" "$w/trunc.err" "malformed"
if wat --no-check "$w/typeerr.wat" -o "$w/typeerr.wasm"; then
    "$tool" validate "$w/typeerr.wasm" >/dev/null 2>"$w/typeerr.err"; expect_rc "type error fails validation" 1 $?
    expect_in "type error is reported as invalid" "$w/typeerr.err" "invalid module"
    # The code section starts at byte 19; the offending body lies after it.
    off=$(sed -nE 's/.*at offset ([0-9]+).*/\1/p' "$w/typeerr.err")
    if [ -n "$off" ] && [ "$off" -ge 19 ] && [ "$off" -lt "$(stat -c %s "$w/typeerr.wasm")" ]; then
        ok "type error offset $off points into the code"
    else
        bad "type error offset points into the code" "$(cat "$w/typeerr.err")"
    fi
else
    bad "wat2wasm --no-check builds typeerr.wat" "$(cat "$w/wat.log")"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
