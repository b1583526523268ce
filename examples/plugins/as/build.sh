#!/bin/sh
# Builds the AssemblyScript example plugins with the third-party SDK pinned below, installed
# by npm into a git-ignored folder: build.sh <out-dir> (e.g. build/plugins). Exit 2 when npm
# or the registry is unavailable, so callers can report "skipped" rather than "failed".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh <out-dir>}
mkdir -p "$out"
out=$(cd "$out" && pwd)
sdk="$out/as-sdk"
if [ ! -x "$sdk/node_modules/.bin/asc" ]; then
    command -v npm >/dev/null 2>&1 || { echo "build.sh: npm not found" >&2; exit 2; }
    mkdir -p "$sdk"
    [ -f "$sdk/package.json" ] || echo '{"name":"sluice-as-plugins","private":true}' > "$sdk/package.json"
    (cd "$sdk" && npm install --no-audit --no-fund --silent \
        assemblyscript@0.14.13 @solo-io/proxy-runtime@0.1.8) || {
        echo "build.sh: npm install failed" >&2; exit 2; }
fi
for src in "$here"/*.ts; do
    name=$(basename "$src" .ts)
    cp "$src" "$sdk/$name.ts"
    (cd "$sdk" && ./node_modules/.bin/asc "$name.ts" -b "$out/$name.wasm" \
        --use abort=abort_proc_exit --optimize)
done
