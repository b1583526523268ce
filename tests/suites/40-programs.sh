# Real C programs under sluice-wasm: Lua 5.4 (Debian source package, via apt-get source) and
# SQLite (the amalgamation inside the better-sqlite3 npm tarball), each built to wasm32-wasi and
# natively from the same source at test time; the two builds must print the same output.
cd "$(dirname "$0")/../.."
B="${BUILD_DIR:-build}"
tool="$(pwd)/$B/sluice-wasm"
case "$B" in /*) tool="$B/sluice-wasm" ;; esac
tp="$B/third-party"             # fetched sources, kept between runs (build/ is git-ignored)
case "$tp" in /*) ;; *) tp="$(pwd)/$tp" ;; esac  # apt resolves relative Dir:: paths under /etc/apt
w="$B/programs-test"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
run_wasm() { timeout 120 "$tool" run --deadline-ms 60000 "$@"; }

if [ ! -x "$tool" ]; then echo "FAIL: $tool is not built"; echo "0 passed, 1 failed"; exit 1; fi
rm -rf "$w"; mkdir -p "$w" "$tp"
WASI_CC="clang --target=wasm32-wasi -O2"
# Built programs are kept too, keyed by this script and the compilers: SQLite takes a minute.
key=$( (cat "$0"; clang --version; cc --version) 2>/dev/null | sha256sum | cut -c1-16)
bin="$tp/built-$key"
mkdir -p "$bin"

# ---- fetch: Lua from Debian's source package, through a private apt configuration --------------
# deb-src is not among the machine's apt sources; a private list, state and cache directory
# leave the system's apt configuration untouched.
fetch_lua() {
    [ -f "$tp/lua/src/lvm.c" ] && return 0
    local apt="$tp/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$tp/lua-dl"
    suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
    # The mirror is whatever the machine's own apt sources name (deb822 or one-line form).
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | awk '{print $2}')
    [ -n "$uri" ] || uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | head -n 1 | awk '{print $2}')
    echo "deb-src $uri $suite main" >"$apt/sources.list"
    local A="-o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -o APT::Sandbox::User=root"
    # shellcheck disable=SC2086
    apt-get -qq $A update >"$w/apt.log" 2>&1 &&
        (cd "$tp/lua-dl" && apt-get -qq $A source --download-only lua5.4) >>"$w/apt.log" 2>&1 ||
        return 1
    rm -rf "$tp/lua" && mkdir -p "$tp/lua" &&
        tar xzf "$tp"/lua-dl/lua5.4_*.orig.tar.gz -C "$tp/lua" --strip-components=1
}

# ---- fetch: the SQLite amalgamation from an npm tarball (npm pack runs no package scripts) ----
SQLITE_NPM="better-sqlite3@12.11.1"
fetch_sqlite() {
    [ -f "$tp/sqlite/sqlite3.c" ] && return 0
    mkdir -p "$tp/sqlite-dl"
    (cd "$tp/sqlite-dl" && npm pack "$SQLITE_NPM" --silent) >"$w/npm.log" 2>&1 || return 1
    rm -rf "$tp/sqlite" && mkdir -p "$tp/sqlite" &&
        tar xzf "$tp"/sqlite-dl/better-sqlite3-*.tgz -C "$tp/sqlite" --strip-components=3 \
            package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
}

# ---- Lua -------------------------------------------------------------------------------------
# wasm32-wasi (clang 14, no exception handling) has no setjmp: a Lua error ends the program
# with a trap instead of unwinding to pcall (coroutine.yield unwinds the same way, so it traps
# too). Temporary files and os.execute are not in WASI.
mkdir -p "$w/shim"
cat >"$w/shim/setjmp.h" <<'C'
/* No setjmp on wasm32-wasi without exception handling: a Lua error aborts the program. */
#ifndef PROGRAMS_SHIM_SETJMP_H
#define PROGRAMS_SHIM_SETJMP_H
#include <stdlib.h>
typedef int jmp_buf[1];
#define setjmp(b) 0
#define longjmp(b, v) abort()
#endif
C
cat >"$w/shim/wasi_port.c" <<'C'
/* What WASI preview1 cannot give Lua's os and io libraries: a shell and temporary files. */
#include <errno.h>
#include <stdio.h>
FILE *tmpfile(void) { errno = ENOTSUP; return NULL; }
char *tmpnam(char *s) { (void)s; errno = ENOTSUP; return NULL; }
int system(const char *cmd) { return cmd ? -1 : 0; }
C
cat >"$w/bench.lua" <<'L'
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
print("fib", fib(25))
local seed, t = 42, {}
for i = 1, 20000 do seed = (seed * 1103515245 + 12345) % 2147483648; t[i] = seed end
table.sort(t)
local sorted = true
for i = 2, #t do if t[i - 1] > t[i] then sorted = false end end
print("sort", sorted, t[1], t[#t])
local parts = {}
for i = 1, 2000 do parts[#parts + 1] = string.format("%x", i * 7919) end
local s = table.concat(parts, ",")
print("string", #s, s:sub(1, 24), select(2, s:gsub("a", "")))
local words = {}
for w in ("the quick brown fox jumps over the lazy dog the end"):gmatch("%a+") do
    words[w] = (words[w] or 0) + 1
end
print("words", words.the, words.fox, words.cat)
print("math", math.floor(math.sqrt(2) * 1e6), 7 // 2, 7 % -3, 2^10, math.maxinteger)
local V = setmetatable({}, {__add = function(a, b) return a.n + b.n end, __index = function() return 0 end})
local x, y = setmetatable({n = 2}, getmetatable(V)), setmetatable({n = 40}, getmetatable(V))
print("metatable", x + y, V.missing, select("#", 1, nil, 3))
print("utf8", utf8.len("h\u{e9}llo"), utf8.char(72, 228))
L
lua_ok=0
if fetch_lua; then
    ok "lua5.4 source fetched with apt-get source ($(ls "$tp"/lua-dl/*.dsc | xargs -n1 basename))"
    lua_srcs=$(ls "$tp"/lua/src/*.c | grep -v -e '/luac\.c$')
    # shellcheck disable=SC2086
    if [ -x "$bin/lua.wasm" ] && [ -x "$bin/lua-native" ] ||
       { $WASI_CC -I"$w/shim" -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL \
           -DL_tmpnam=32 $lua_srcs "$w/shim/wasi_port.c" -o "$bin/lua.wasm" \
           -lwasi-emulated-process-clocks -lwasi-emulated-signal >"$w/lua-wasm.log" 2>&1 &&
         cc -O2 -DLUA_USE_POSIX $lua_srcs -o "$bin/lua-native" -lm >"$w/lua-native.log" 2>&1; }; then
        cp "$bin/lua.wasm" "$bin/lua-native" "$w/"
        ok "lua builds for wasm32-wasi and natively"
        lua_ok=1
    else
        bad "lua builds" "$(tail -n 5 "$w"/lua-*.log)"
    fi
else
    bad "lua5.4 source fetched with apt-get source" "$(tail -n 5 "$w/apt.log")"
fi
if [ "$lua_ok" = 1 ]; then
    out=$(run_wasm "$w/lua.wasm" -e 'print(_VERSION, 6 * 7)' 2>&1)
    if [ "$out" = "$(printf 'Lua 5.4\t42')" ]; then ok "lua -e prints"; else bad "lua -e prints" "$out"; fi
    "$w/lua-native" - <"$w/bench.lua" >"$w/bench.native" 2>&1
    start=$(date +%s%N)
    run_wasm "$w/lua.wasm" - <"$w/bench.lua" >"$w/bench.wasm" 2>&1; rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ "$rc" = 0 ] && cmp -s "$w/bench.native" "$w/bench.wasm"; then
        ok "lua script from stdin prints what native Lua prints (${ms} ms)"
    else
        bad "lua script matches native" "exit $rc; $(diff "$w/bench.native" "$w/bench.wasm" | head -n 10)"
    fi
    run_wasm "$w/lua.wasm" -e 'os.exit(7)' >/dev/null 2>&1
    rc=$?; if [ "$rc" = 7 ]; then ok "lua os.exit(7) exits 7"; else bad "lua os.exit(7)" "exit $rc"; fi
    out=$(run_wasm "$w/lua.wasm" -e 'print(os.time() > 1600000000, os.clock() >= 0, os.getenv("X"))' 2>&1)
    if [ "$out" = "$(printf 'true\ttrue\tnil')" ]; then ok "lua clocks and environment"; else bad "lua clocks and environment" "$out"; fi
fi

# ---- SQLite ----------------------------------------------------------------------------------
cat >"$w/sqldrv.c" <<'C'
/* Drives SQLite in memory: tables, indexes, joins, aggregates, text functions. */
#include <stdio.h>
#include "sqlite3.h"
static int row(void *u, int n, char **v, char **c)
{
    (void)u;
    for (int i = 0; i < n; i++) printf("%s%s=%s", i ? " " : "", c[i], v[i] ? v[i] : "NULL");
    printf("\n");
    return 0;
}
int main(void)
{
    static const char *sql =
        "create table t(a integer primary key, b text, c real);"
        "with recursive n(x) as (select 1 union all select x + 1 from n where x < 20000)"
        " insert into t select x, printf('k%05d', (x * 7919) % 20000), x / 3.0 from n;"
        "create index tb on t(b);"
        "select count(*), sum(a), round(avg(c), 3), min(b), max(b) from t;"
        "select b, a from t where b between 'k00100' and 'k00103' order by b;"
        "create table u(k integer, v text);"
        "insert into u select a % 10, upper(substr(b, 2)) from t where a <= 100;"
        "select k, count(*), group_concat(v, '') from u group by k having k < 3 order by k;"
        "select count(*) from t join u on t.a = u.k;"
        "select typeof(1), typeof(1.5), typeof('x'), typeof(null), 7 / 2, 7 % 3, -7 / 2;"
        "select sqlite_version() like '3.%';";
    sqlite3 *db;
    char *err = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
    if (sqlite3_exec(db, sql, row, NULL, &err) != SQLITE_OK) {
        printf("error: %s\n", err);
        return 2;
    }
    sqlite3_close(db);
    return 0;
}
C
sql_ok=0
SQL_FLAGS="-DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION"
if fetch_sqlite; then
    ok "sqlite amalgamation fetched with npm pack $SQLITE_NPM"
    # shellcheck disable=SC2086
    if [ -x "$bin/sql.wasm" ] && [ -x "$bin/sql-native" ] ||
       { $WASI_CC $SQL_FLAGS -D_WASI_EMULATED_MMAN -D_WASI_EMULATED_GETPID \
           -D_WASI_EMULATED_PROCESS_CLOCKS -I"$tp/sqlite" "$w/sqldrv.c" "$tp/sqlite/sqlite3.c" \
           -o "$bin/sql.wasm" -lwasi-emulated-mman -lwasi-emulated-getpid \
           -lwasi-emulated-process-clocks >"$w/sql-wasm.log" 2>&1 &&
         cc -O1 $SQL_FLAGS -I"$tp/sqlite" "$w/sqldrv.c" "$tp/sqlite/sqlite3.c" \
           -o "$bin/sql-native" -lm >"$w/sql-native.log" 2>&1; }; then
        cp "$bin/sql.wasm" "$bin/sql-native" "$w/"
        ok "sqlite builds for wasm32-wasi and natively"
        sql_ok=1
    else
        bad "sqlite builds" "$(tail -n 5 "$w"/sql-*.log)"
    fi
else
    bad "sqlite amalgamation fetched with npm pack" "$(tail -n 5 "$w/npm.log")"
fi
if [ "$sql_ok" = 1 ]; then
    "$w/sql-native" >"$w/sql.native" 2>&1
    start=$(date +%s%N)
    run_wasm "$w/sql.wasm" >"$w/sql.wasm.out" 2>&1; rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ "$rc" = 0 ] && cmp -s "$w/sql.native" "$w/sql.wasm.out"; then
        ok "sqlite in memory prints what native SQLite prints (${ms} ms)"
    else
        bad "sqlite matches native" "exit $rc; $(diff "$w/sql.native" "$w/sql.wasm.out" | head -n 10)"
    fi
fi

echo "CoreMark: no Debian or npm package ships its source, so it is not run here."
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
