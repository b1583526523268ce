// V8's side of host_bench's call figures (node's WebAssembly API, the host in JavaScript):
// the same module and loops, one "key value ns" line per figure for bench.py.
'use strict';
const fs = require('fs');

const [path, nText] = process.argv.slice(2);
const n = Number(nText);
if (!path || !Number.isInteger(n) || n < 1 || n > 1e8) {
    console.error('usage: node calls.js CALLS.wasm N');
    process.exit(2);
}
let id = null;
const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(path)), {
    env: {p: (x) => x, h: (x) => id(x)},
});
const ex = inst.exports;
id = ex.id;

function nowNs() {
    return Number(process.hrtime.bigint());
}

// Best of 5 timed runs after an untimed one that lets V8 tier the code up.
function best(run) {
    run();
    let b = Infinity;
    for (let r = 0; r < 5; r++) {
        const t0 = nowNs();
        run();
        b = Math.min(b, nowNs() - t0);
    }
    return b / n;
}

let sink = 0;
const outer = best(() => {
    for (let i = 0; i < n; i++) sink += id(i);
});
const loops = {};
for (const k of ['local', 'import', 'nested']) {
    loops[k] = best(() => {
        sink += ex[k](n);
    });
}
if (sink === 0.5) console.log('');  // keeps the sums alive
console.log(`call_outer ${outer.toFixed(1)} ns`);
console.log(`call_local ${loops.local.toFixed(1)} ns`);
console.log(`call_import ${loops.import.toFixed(1)} ns`);
console.log(`call_nested ${loops.nested.toFixed(1)} ns`);
