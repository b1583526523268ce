// V8's side of the engine benchmark (node's WebAssembly API): the same kernel modules, the
// same `run(n)` calls and the same result line as the C drivers, for bench.py to compare.
'use strict';
const fs = require('fs');

function nowMs() {
    return Number(process.hrtime.bigint()) / 1e6;
}

// CPU time of the whole process (user + system), the counterpart of the C drivers'
// CLOCK_PROCESS_CPUTIME_ID; it includes V8's background compile threads while they work.
function cpuMs() {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
}

function report(fields) {
    console.log('result ' + Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' '));
}

function count(text, max) {
    const v = Number(text);
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`bad count '${text}'`);
    return v;
}

// run: one untimed warm-up call with a tenth of n lets V8 tier the hot functions up, as a
// long-lived plugin would be; then the timed calls, each checked against the first.
function cmdRun(path, n, reps) {
    const mod = new WebAssembly.Module(fs.readFileSync(path));
    const inst = new WebAssembly.Instance(mod, {});
    const run = inst.exports.run;
    if (typeof run !== 'function') throw new Error(`${path} exports no function 'run'`);
    run(Math.max(1, Math.floor(n / 10)));
    const ms = [], cpu = [];
    let first;
    for (let r = 0; r < reps; r++) {
        const t0 = nowMs(), c0 = cpuMs();
        const sum = run(n) >>> 0;
        ms.push(nowMs() - t0);
        cpu.push(cpuMs() - c0);
        if (r === 0) first = sum;
        else if (sum !== first) throw new Error(`${path} gave ${first} then ${sum} for the same n`);
    }
    ms.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    report({checksum: first, best_ms: ms[0].toFixed(3),
            median_ms: ms[Math.floor(reps / 2)].toFixed(3), best_cpu_ms: cpu[0].toFixed(3), reps});
}

// load: synchronous WebAssembly.Module construction (V8 decodes, validates and compiles
// with its baseline tier here; optimised code comes later, in the background).
function cmdLoad(path, reps) {
    const bytes = fs.readFileSync(path);
    const ms = [], cpu = [];
    for (let r = 0; r < reps; r++) {
        const t0 = nowMs(), c0 = cpuMs();
        new WebAssembly.Module(bytes);
        ms.push(nowMs() - t0);
        cpu.push(cpuMs() - c0);
    }
    ms.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    report({bytes: bytes.length, best_ms: ms[0].toFixed(3),
            median_ms: ms[Math.floor(reps / 2)].toFixed(3), best_cpu_ms: cpu[0].toFixed(3), reps});
}

const args = process.argv.slice(2);
try {
    if (args.length === 4 && args[0] === 'run') cmdRun(args[1], count(args[2], 2 ** 32 - 1),
                                                       count(args[3], 64));
    else if (args.length === 3 && args[0] === 'load') cmdLoad(args[1], count(args[2], 64));
    else {
        console.error('usage: node bench_v8.js run FILE.wasm N REPS | load FILE.wasm REPS');
        process.exit(2);
    }
} catch (e) {
    console.error(`bench_v8: ${e.message}`);
    process.exit(1);
}
