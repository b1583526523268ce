#!/usr/bin/env python3
# Runs the engine benchmark: every kernel natively, in sluice's engine, in node's V8 and in
# wabt's wasm-interp, checks that their checksums agree, and prints one table of ratios.
#
# usage: bench.py --dir BUILD/bench/wasm [--reps N] [--only k1,k2] [--node NODE]
#                 [--clock wall|cpu] [--check]
# Engines run one after another, never at once. Exit status 1 on any checksum mismatch or
# failed run, so a wrong answer can never pass as a fast one. --clock cpu ranks by process
# CPU time instead of CLOCK_MONOTONIC wall time (for a machine busy with other work).
# --check only runs the small counts in every engine and compares checksums (no timing): a
# conformance check of the engine on real compiled C.
import math
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULT = re.compile(r"^result (.*)$", re.M)
WABT_RESULT = re.compile(r"^run_small\(\) => i32:(-?\d+)$", re.M)
BUDGET_NATIVE = 10.0  # sluice within 10x of native (geometric mean)
BUDGET_WABT = 20.0  # sluice at least 20x faster than wasm-interp (geometric mean)
BUDGET_LOAD = 50.0  # module load at least 50 MB/s
WABT_TIMEOUT_S = 300
LOAD_REPS = "5"
USAGE = ("usage: bench.py --dir BUILD/bench/wasm [--reps N] [--only k1,k2] [--node NODE] "
         "[--clock wall|cpu] [--check]")


class RunError(Exception):
    pass


def run_result(argv, timeout=600):
    """Runs one driver and returns the fields of its `result` line as a dict."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunError("%s: timed out after %ds" % (" ".join(argv), timeout))
    except OSError as e:
        raise RunError("%s: %s" % (argv[0], e))
    m = RESULT.search(p.stdout)
    if p.returncode != 0 or not m:
        msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
        raise RunError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                            msg[-1] if msg else "no result line"))
    fields = dict(kv.split("=", 1) for kv in m.group(1).split())
    return {k: (float(v) if re.fullmatch(r"-?[\d.]+", v) else v) for k, v in fields.items()}


def timed(argv, timeout):
    """Runs one process; returns its wall ms, its CPU ms (user + system) and its stdout."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunError("%s: timed out after %ds" % (" ".join(argv), timeout))
    except OSError as e:
        raise RunError("%s: %s" % (argv[0], e))
    wall_ms = (time.monotonic() - t0) * 1e3
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1e3
    if p.returncode != 0:
        raise RunError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return wall_ms, cpu_ms, p.stdout


def best_of(argv, times, timeout=60):
    """Best wall and best CPU ms of `times` runs of one process."""
    runs = [timed(argv, timeout) for _ in range(times)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def wabt_run(wasm):
    """wasm-interp can pass no arguments, so it runs the nullary run_small() export. Its
    time is the process's minus that of a parse-and-validate-only run of the same file.
    Returns (checksum, {"best_ms": wall, "best_cpu_ms": cpu})."""
    base_wall, base_cpu = best_of(["wasm-interp", wasm], 3)
    wall_ms, cpu_ms, out = timed(["wasm-interp", wasm, "--run-all-exports"], WABT_TIMEOUT_S)
    m = WABT_RESULT.search(out)
    if not m:
        raise RunError("wasm-interp %s: no run_small() result in: %s" % (wasm, out.strip()))
    return int(m.group(1)) & 0xFFFFFFFF, {"best_ms": max(wall_ms - base_wall, 0.001),
                                          "best_cpu_ms": max(cpu_ms - base_cpu, 0.001)}


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


def fmt(x, digits=1):
    return "n/a" if x is None else "%.*f" % (digits, x)


def check(kernels, d, native, sluice, v8):
    """Every engine runs every module at its small count; all checksums must agree."""
    passed = failed = 0
    cases = [(name, n_small, [native, "run", name]) for name, _, n_small in kernels]
    cases.append(("big", 1, None))
    for name, n_small, native_argv in cases:
        wasm = os.path.join(d, name + ".wasm")
        got, errors = {}, []
        runners = [("sluice", [sluice, "run", wasm]), ("V8", v8 + ["run", wasm])]
        if native_argv:
            runners.insert(0, ("native", native_argv))
        for engine, argv in runners:
            try:
                got[engine] = int(run_result(argv + [str(n_small), "1"])["checksum"])
            except RunError as e:
                errors.append("%s: %s" % (engine, e))
        try:
            got["wabt"] = wabt_run(wasm)[0]
        except RunError as e:
            errors.append("wabt: %s" % e)
        if len(set(got.values())) > 1:
            errors.append("CHECKSUM MISMATCH: " +
                          ", ".join("%s=%u" % kv for kv in sorted(got.items())))
        if errors:
            failed += 1
            print("not ok %s (n=%d): %s" % (name, n_small, "; ".join(errors)))
        else:
            passed += 1
            print("ok %s (n=%d): %u in %s" % (name, n_small, next(iter(got.values())),
                                             ", ".join(sorted(got))))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def run_kernel(name, n_main, n_small, d, engines, reps, key, failures):
    """One table row: each engine's time at n_main (wabt's scaled from n_small), and the
    checksums compared at both counts."""
    wasm = os.path.join(d, name + ".wasm")
    row = {"name": name, "n": n_main, "n_small": n_small}
    small, sums = {}, {}
    for engine, argv in engines(name, wasm):
        row[engine] = None
        try:
            small[engine] = int(run_result(argv + [str(n_small), "1"])["checksum"])
            r = run_result(argv + [str(n_main), reps])
            row[engine] = r[key]
            sums[engine] = int(r["checksum"])
        except RunError as e:
            failures.append("%s/%s: %s" % (name, engine, e))
    row["wabt"] = None
    try:
        small["wabt"], t = wabt_run(wasm)
        row["wabt"] = t[key] * n_main / n_small
    except RunError as e:
        failures.append("%s/wabt: %s" % (name, e))
    for label, got in (("n=%d" % n_small, small), ("n=%d" % n_main, sums)):
        if len(set(got.values())) > 1:
            failures.append("%s: CHECKSUM MISMATCH at %s: %s" % (
                name, label, ", ".join("%s=%u" % kv for kv in sorted(got.items()))))
    return row


def print_table(rows):
    line = "%-10s %6s %6s %10s %10s %10s %10s   %13s %9s %11s"
    hdr = line % ("kernel", "n", "n_wabt", "native ms", "sluice ms", "V8 ms", "wabt ms*",
                  "sluice/native", "sluice/V8", "wabt/sluice")
    print(hdr)
    print("-" * len(hdr))
    cols = {"sn": [], "sv": [], "ws": [], "vn": [], "wn": []}
    for r in rows:
        sn, sv, ws = ratio(r["sluice"], r["native"]), ratio(r["sluice"], r["V8"]), \
            ratio(r["wabt"], r["sluice"])
        for k, v in (("sn", sn), ("sv", sv), ("ws", ws), ("vn", ratio(r["V8"], r["native"])),
                     ("wn", ratio(r["wabt"], r["native"]))):
            cols[k].append(v)
        print(line % (r["name"], r["n"], r["n_small"], fmt(r["native"]), fmt(r["sluice"]),
                      fmt(r["V8"]), fmt(r["wabt"], 0), fmt(sn, 2), fmt(sv, 2), fmt(ws, 1)))
    g = {k: geomean(v) for k, v in cols.items()}
    print("-" * len(hdr))
    print(line % ("geomean", "", "", "", "", "", "", fmt(g["sn"], 2), fmt(g["sv"], 2),
                  fmt(g["ws"], 1)))
    print("(for scale: V8/native geomean %s, wabt/native geomean %s)" % (
        fmt(g["vn"], 2), fmt(g["wn"], 0)))
    print("* wabt's wasm-interp ran run(n_wabt) once (it cannot pass arguments, so the module's")
    print("  nullary run_small() export); its time minus a parse-only run is scaled linearly")
    print("  by n/n_wabt. Kernels do n equal units of work, so the scaling is close to exact.")
    return g


def measure_load(d, sluice, v8, v8_load, v8_lazy, key, failures):
    """Load throughput on big.wasm in each engine; prints the lines and returns sluice's MB/s."""
    big = os.path.join(d, "big.wasm")
    size = os.path.getsize(big)
    load = {}
    for engine, argv in (("sluice", [sluice, "load", big, LOAD_REPS]),
                         ("V8", v8_load + ["load", big, LOAD_REPS]),
                         ("V8 lazy", v8_lazy + ["load", big, LOAD_REPS])):
        try:
            load[engine] = run_result(argv)
        except RunError as e:
            failures.append("load/%s: %s" % (engine, e))
    # sluice translates a function into native code on its first call; bench-sluice also
    # times translating all of them after a load, which is what V8's eager Liftoff does
    s = load.get("sluice")
    if s and "translate_best_ms" in s:
        tr_key = "translate_best_ms" if key == "best_ms" else "translate_best_cpu_ms"
        load["sluice+tr"] = {key: float(s[key]) + float(s[tr_key])}
    try:
        # A one-function module's run stands for process start-up and reading a file.
        tiny = best_of(["wasm-interp", os.path.join(d, "fib.wasm")], 3)
        full = best_of(["wasm-interp", big], 3)
        load["wabt"] = {"best_ms": full[0] - tiny[0], "best_cpu_ms": full[1] - tiny[1]}
    except RunError as e:
        failures.append("load/wabt: %s" % e)
    print("module load: big.wasm, %.2f MB of generated code, best of %s:" % (size / 1e6,
                                                                            LOAD_REPS))
    mbs = {}
    for engine, note in (("sluice", "wa_module_load: decode + validate + word code; native code "
                                    "comes at first calls"),
                         ("sluice+tr", "the same, then every function translated"),
                         ("V8", "new WebAssembly.Module: eager Liftoff, no module cache"),
                         ("V8 lazy", "the same with lazy compilation, V8's default"),
                         ("wabt", "wasm-interp read + validate, minus a tiny module's")):
        r = load.get(engine)
        ms = r and float(r[key])
        mbs[engine] = size / 1e6 / (ms / 1e3) if ms and ms > 0 else None
        extra = ""
        if engine == "sluice" and r:
            extra = "; then instantiate %.3f ms" % float(r["instantiate_best_ms"])
        if engine == "sluice+tr" and s and "native_funcs" in s:
            extra = ": %d of %d functions, %.1f MB of code" % (
                int(s["native_funcs"]), int(s["funcs"]), int(s["native_bytes"]) / 1e6)
        print("  %-9s %8s MB/s  %9s ms   (%s%s)" % (engine, fmt(mbs[engine]), fmt(ms, 2), note,
                                                     extra))
    big_sums = {}
    for engine, argv in (("sluice", [sluice, "run", big, "1", "1"]),
                         ("V8", v8 + ["run", big, "1", "1"])):
        try:
            big_sums[engine] = int(run_result(argv)["checksum"])
        except RunError as e:
            failures.append("big/%s: %s" % (engine, e))
    try:
        big_sums["wabt"] = wabt_run(big)[0]
    except RunError as e:
        failures.append("big/wabt: %s" % e)
    if len(set(big_sums.values())) > 1:
        failures.append("big: CHECKSUM MISMATCH: " + ", ".join(
            "%s=%u" % kv for kv in sorted(big_sums.items())))
    elif big_sums:
        print("  big.wasm run(1) checksum %u agrees in %s" % (
            next(iter(big_sums.values())), ", ".join(sorted(big_sums))))
    return mbs["sluice"]


def main():
    args = sys.argv[1:]
    opts = {"--dir": None, "--reps": "3", "--only": "", "--node": "node", "--clock": "wall"}
    check_only = "--check" in args
    args = [a for a in args if a != "--check"]
    while args:
        if args[0] not in opts or len(args) < 2:
            sys.exit(USAGE)
        opts[args[0]] = args[1]
        args = args[2:]
    d = opts["--dir"]
    if not d or opts["--clock"] not in ("wall", "cpu"):
        sys.exit(USAGE)
    key = "best_ms" if opts["--clock"] == "wall" else "best_cpu_ms"
    reps = opts["--reps"]
    native = os.path.join(d, "bench-native")
    sluice = os.path.join(d, "bench-sluice")
    js = os.path.join(HERE, "bench_v8.js")
    v8 = [opts["--node"], js]
    v8_load = [opts["--node"], "--no-wasm-lazy-compilation",
               "--no-wasm-native-module-cache-enabled", js]
    v8_lazy = [opts["--node"], "--wasm-lazy-compilation",
               "--no-wasm-native-module-cache-enabled", js]

    kernels = []
    try:
        listing = subprocess.run([native, "list"], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("bench.py: %s list: %s" % (native, e))
    for line in listing.splitlines():
        name, n_main, n_small = line.split()
        if not opts["--only"] or name in opts["--only"].split(","):
            kernels.append((name, int(n_main), int(n_small)))
    if check_only:
        return check(kernels, d, native, sluice, v8)

    def engines(name, wasm):
        return (("native", [native, "run", name]), ("sluice", [sluice, "run", wasm]),
                ("V8", v8 + ["run", wasm]))

    cpus = os.cpu_count()
    load1 = os.getloadavg()[0]
    print("sluice engine benchmark: %d kernels; native, sluice and V8 best of %s runs, wabt one"
          % (len(kernels), reps))
    print("clock: %s; machine: %d CPUs, load average %.2f at start%s" % (
        "wall (CLOCK_MONOTONIC)" if key == "best_ms" else "process CPU time (user + system)",
        cpus, load1, "  (BUSY: other work shares the CPUs)" if load1 > 0.5 else ""))
    print()
    failures, rows = [], []
    for name, n_main, n_small in kernels:
        rows.append(run_kernel(name, n_main, n_small, d, engines, reps, key, failures))
        print("  %-10s done" % name, file=sys.stderr, flush=True)
    g = print_table(rows)
    print()
    lmb = measure_load(d, sluice, v8, v8_load, v8_lazy, key, failures)
    print()

    def verdict(x, ok):
        return "n/a" if x is None else ("within budget" if ok(x) else "OVER BUDGET")

    print("budgets (DESIGN.md):")
    print("  sluice/native geomean %6s  (budget <= %.0f)   %s" % (
        fmt(g["sn"], 2), BUDGET_NATIVE, verdict(g["sn"], lambda x: x <= BUDGET_NATIVE)))
    print("  wabt/sluice geomean   %6s  (budget >= %.0f)   %s" % (
        fmt(g["ws"], 1), BUDGET_WABT, verdict(g["ws"], lambda x: x >= BUDGET_WABT)))
    print("  module load MB/s      %6s  (budget >= %.0f)   %s" % (
        fmt(lmb), BUDGET_LOAD, verdict(lmb, lambda x: x >= BUDGET_LOAD)))
    print()
    load2 = os.getloadavg()[0]
    print("caveats: one machine, one run; other processes share its %d CPUs (load average %.2f"
          % (cpus, load1))
    print("  at start, %.2f at end). Quote the ratios, not the milliseconds: the engines ran" %
          load2)
    print("  back to back under the same conditions.")
    if key == "best_ms" and (load2 > cpus or load1 > cpus):
        print("  The load average exceeded the CPU count, so wall times include waiting for a")
        print("  CPU: prefer `make bench-wasm BENCH_CLOCK=cpu` (process CPU time) then.")
    print("  native = the kernel C built by clang -O2 for the host (no -march); the .wasm = the")
    print("  same C by clang -O2 for wasm32. V8 times follow one untimed warm-up call.")
    if failures:
        print()
        print("FAILED (%d):" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    return 0


sys.exit(main())
