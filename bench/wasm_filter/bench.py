#!/usr/bin/env python3
# The Wasm filter benchmark behind `make bench-wasm-filter`: wrk through sluice with no filter,
# the native add-header filter and the same header added by Wasm plugins, then host_bench.
"""Part 1: wrk (keep-alive) through sluice in front of a static nginx upstream, one sluice
per target: no filter; sluice.filters.http.add_header; examples/plugins/add_header.c (C SDK);
examples/plugins/as/as_add_header.ts (AssemblyScript). Every target is checked to return the
header before it is timed. Part 2: host_bench's hostcall figures (ns per call from inside a
plugin, the guest allocator's share, the same with a bump allocator, a native peer). Part 3:
VM replica start time and memory, from host_bench and from sluice's RSS at --concurrency 1
and N. Also: the Wasm work of one request on a warm replica, proxy excluded (host_bench).

Every server is started here on 127.0.0.1 ports chosen at run time, with its files in a
temporary directory; every process started is killed on exit (normal, error or signal)."""

import argparse
import os
import shutil
import statistics
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (cleanup, counts_per_request, fmt, free_port,  # noqa: E402
                      nginx_conf, on_signal, parse_wrk, sluice_conf, start, started, stop)

BODY = "hello, world\n"
# The AssemblyScript example's header name is fixed ("x-as-plugin", value = its plugin
# configuration), so every target adds that same header with the same value.
HEADER, VALUE = "x-as-plugin", "bench"


def get(port):
    """(status, headers dict with lower-case names, body) of GET / on the port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def wait_ready(port, proc, seconds=10.0):
    """True once GET / on the port answers 200 with the upstream's body."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            status, _, body = get(port)
            if status == 200 and body == BODY:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def upstream_server(port):
    """The upstream's server block: BODY on every path."""
    return f"""        listen 127.0.0.1:{port};
        location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}"""


def wasm_filter(name, root_id, conf, path):
    return f"""          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: {name}
                root_id: {root_id}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: "{conf}"
                vm_config:
                  vm_id: {name}
                  runtime: sluice.wasm.runtime.interp
                  code:
                    local:
                      filename: {path}
"""


def filters_for(target, plugins):
    if target == "native":
        return f"""          - name: sluice.filters.http.add_header
            typed_config:
              "@type": type.googleapis.com/sluice.filters.http.add_header.v1.AddHeader
              header: {HEADER}
              value: {VALUE}
              response: true
"""
    if target == "wasm-c":
        return wasm_filter("add_header", "add_header", f"{HEADER}: {VALUE}",
                           os.path.join(plugins, "add_header.wasm"))
    if target == "wasm-as":
        return wasm_filter("as_add_header", "as_add_header", VALUE,
                           os.path.join(plugins, "as_add_header.wasm"))
    return ""


def rss_kib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """User + system CPU time of every thread of the process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_wrk(port, seconds, conns, threads, pid):
    url = f"http://127.0.0.1:{port}/"
    subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", "1s", url],
                   capture_output=True, timeout=30)  # warm-up: connections, caches
    cpu0 = cpu_seconds(pid)
    r = subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s",
                        "--latency", url], capture_output=True, text=True,
                       timeout=seconds + 30)
    cpu1 = cpu_seconds(pid)
    res = parse_wrk(r.stdout, r.stderr)
    # sluice's own CPU per request: what the filter costs, whatever else runs on the machine
    res["cpu_us"] = None
    if res["requests"] and cpu0 is not None and cpu1 is not None:
        res["cpu_us"] = (cpu1 - cpu0) * 1e6 / res["requests"]
    return res


def start_sluice(args, d, name, up_port, filters, workers):
    """(process, port) once it serves GET /, else (None, None) with the reason printed."""
    port = free_port()
    conf = sluice_conf(os.path.join(d, f"sluice-{name}.yaml"), port, up_port, filters)
    log = f"{d}/sluice-{name}.out"
    p = start([args.sluice, "-c", conf, "--concurrency", str(workers), "-l", "error"], log)
    if wait_ready(port, p):
        return p, port
    print(f"bench-wasm-filter: sluice ({name}) did not serve GET / with 200 within 10 s "
          f"(exit status {p.poll()}); log:")
    with open(log, "rb") as f:
        print("  " + f.read()[-1500:].decode(errors="replace").replace("\n", "\n  "))
    stop(p)
    return None, None


def wrk_part(args, d, up_port):
    targets = [("no filter", "none"), ("native filter", "native"),
               ("wasm C SDK", "wasm-c"), ("wasm AS", "wasm-as")]
    live = []  # (label, process, port): every target runs at once, idle unless measured
    for label, t in targets:
        need = {"wasm-c": "add_header.wasm", "wasm-as": "as_add_header.wasm"}.get(t)
        if need and not os.path.exists(os.path.join(args.plugins, need)):
            print(f"bench-wasm-filter: {need} not built; row '{label}' skipped")
            continue
        p, port = start_sluice(args, d, t, up_port, filters_for(t, args.plugins), args.workers)
        if not p:
            continue
        status, hdrs, _ = get(port)
        got = hdrs.get(HEADER)
        want = None if t == "none" else VALUE
        if status != 200 or got != want:
            print(f"bench-wasm-filter: {label}: status {status}, response header {HEADER} "
                  f"is {got!r}, expected 200 and {want!r}; row not timed")
            stop(p)
            continue
        live.append((label, p, port))
    # Rounds interleave the targets so that a burst of other load on the machine does not
    # land on one target only; each row keeps its best round. Each round's own ratios to
    # the no-filter run just before it are kept too: load that drifts between rounds moves
    # both sides of such a ratio, so their median is the steadier figure.
    best = {}
    per_round = {label: [] for label, _, _ in live}
    for _ in range(args.rounds):
        this_round = {}
        for label, p, port in live:
            r = run_wrk(port, args.seconds, args.connections, args.wrk_threads, p.pid)
            this_round[label] = r["rps"]
            old = best.get(label)
            if old is None or (r["rps"] or 0) > (old["rps"] or 0):
                if old:
                    r["errors"] = r["errors"] or old["errors"]
                    if old["cpu_us"] is not None and (r["cpu_us"] is None or
                                                      old["cpu_us"] < r["cpu_us"]):
                        r["cpu_us"] = old["cpu_us"]
                best[label] = r
            else:
                old["errors"] = old["errors"] or r["errors"]
                if r["cpu_us"] is not None and (old["cpu_us"] is None or
                                                r["cpu_us"] < old["cpu_us"]):
                    old["cpu_us"] = r["cpu_us"]
        none_rps = this_round.get("no filter")
        for label, v in this_round.items():
            if none_rps and v:
                per_round[label].append(v / none_rps)
    rows = []
    for label, p, _ in live:
        best[label]["rss"] = rss_kib(p.pid, "VmHWM")
        rows.append((label, best[label]))
        stop(p)
    print()
    print("requests/s, p50 and p99 from the best round; CPU us/req is sluice's own CPU time "
          "per request (lowest round), which other load on the machine disturbs least")
    print(f"{'target':<14} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} "
          f"{'RSS MiB':>8} {'rps/none':>9} {'rps/native':>11} {'cpu/none':>9} "
          f"{'cpu/native':>11}  errors")
    by = {label: r for label, r in rows}
    base, nat = by.get("no filter"), by.get("native filter")

    def ratio(r, peer, key):
        if peer and peer[key] and r[key]:
            return f"{r[key] / peer[key]:.3f}"
        return "-"
    for label, r in rows:
        print(f"{label:<14} {fmt(r['rps'], '11.0f')} {fmt(r['p50'], '8.3f')} "
              f"{fmt(r['p99'], '8.3f')} {fmt(r['cpu_us'], '11.1f')} {r['rss'] / 1024:8.1f} "
              f"{ratio(r, base, 'rps'):>9} {ratio(r, nat, 'rps'):>11} "
              f"{ratio(r, base, 'cpu_us'):>9} {ratio(r, nat, 'cpu_us'):>11}  "
              f"{r['errors'] or '-'}")
        if r["rps"] is None:
            print("  wrk output:\n  " + r["raw"].replace("\n", "\n  "))
    if base and len(live) > 1:
        print(f"paired rounds, requests/s over the same round's no-filter run "
              f"(median of {args.rounds}):")
        for label, _, _ in live:
            qs = per_round[label]
            if label != "no filter" and qs:
                print(f"  {label:<14} median {statistics.median(qs):.3f}  rounds "
                      + " ".join(f"{q:.3f}" for q in qs))
    for label in ("wasm C SDK", "wasm AS"):
        r = by.get(label)
        if r and base and r["rps"] and base["rps"]:
            q = r["rps"] / base["rps"]
            line = f"{label}: {q * 100:.1f}% of no-filter throughput (best rounds"
            if per_round.get(label):
                line += f"; {statistics.median(per_round[label]) * 100:.1f}% paired median"
            line += ", target >= 95%)"
            if base["p99"] and r["p99"]:
                line += f", p99 {r['p99'] / base['p99']:.2f}x"
            if base["cpu_us"] and r["cpu_us"]:
                line += (f"; CPU per request {r['cpu_us'] / base['cpu_us']:.2f}x, i.e. "
                         f"{base['cpu_us'] / r['cpu_us'] * 100:.1f}% of no-filter throughput "
                         f"when sluice's CPU is the limit")
            if r["errors"]:
                line += f"; NOT comparable: {r['errors']} (see the sluice log with --keep)"
            print(line)


def instructions_part(args, d, up_port):
    """Instructions sluice executes per request (callgrind, every thread), per target: a count
    that other load on the machine does not disturb, unlike requests/s."""
    if args.callgrind <= 0:
        return
    if not shutil.which("valgrind"):
        print("bench-wasm-filter: valgrind is not installed; instruction counts skipped")
        return
    print()
    print(f"== instructions and simulated instruction-cache misses per request in sluice, every "
          f"thread (callgrind --cache-sim, runs of {args.callgrind} and {2 * args.callgrind} "
          f"sequential requests, {args.workers} workers) ==")
    print(f"{'target':<14} {'instr/req':>10} {'over none':>10} {'ratio':>7} {'I1 miss/req':>12} "
          f"{'over none':>10}")
    base = None
    for label, t in (("no filter", "none"), ("native filter", "native"),
                     ("wasm C SDK", "wasm-c"), ("wasm AS", "wasm-as")):
        need = {"wasm-c": "add_header.wasm", "wasm-as": "as_add_header.wasm"}.get(t)
        if need and not os.path.exists(os.path.join(args.plugins, need)):
            continue
        port = free_port()
        conf = sluice_conf(os.path.join(d, f"cg-{t}.yaml"), port, up_port,
                           filters_for(t, args.plugins))
        c = counts_per_request("bench-wasm-filter", args.sluice, args.workers, d, f"cg-{t}",
                               conf, port, args.callgrind, wait_ready, cache_sim=True)
        if c is None or "I1mr" not in c:
            continue
        if base is None and t == "none":
            base = c
        line = f"{label:<14} {c['Ir']:10,.0f}"
        if base and t != "none":
            line += (f" {c['Ir'] - base['Ir']:+10,.0f} {c['Ir'] / base['Ir']:6.3f}x "
                     f"{c['I1mr']:12,.0f} {c['I1mr'] - base['I1mr']:+10,.0f}")
        else:
            line += f" {'-':>10} {'-':>7} {c['I1mr']:12,.0f} {'-':>10}"
        print(line)
    print("(user space only: the kernel's work per request, the larger part of sluice's CPU "
          "time, is the same for every row and not counted. I1 misses are callgrind's model of "
          "this machine's first-level instruction cache: code a request runs that is not "
          "already cached, which costs more than its instruction count says)")


def host_bench(args, argv):
    r = subprocess.run([args.host_bench] + argv, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print(f"bench-wasm-filter: host_bench {' '.join(argv)} failed: {r.stderr.strip()}")
        return None
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = float(parts[1])
    return out


def hostcall_part(args):
    print()
    print("== hostcall: proxy_get_header_map_value(\":path\") from inside a plugin "
          "(host_bench, best of 5 x 100000) ==")
    h = host_bench(args, ["hostcall", args.plugins, "5"])
    if not h:
        return
    total, alloc = h["bench_get_header"], h["bench_alloc_loop"]
    net, rt, native = total - alloc, h["bench_buffer_status"], h["native_get_header"]
    print(f"{'figure':<52} {'ns':>8}")
    print(f"{'get header, whole call (incl. guest malloc + free)':<52} {total:8.1f}")
    print(f"{'  SDK malloc(15) + free alone (bench_alloc_loop)':<52} {alloc:8.1f}")
    print(f"{'  get header without the guest allocator':<52} {net:8.1f}")
    print(f"{'hostcall round trip, no allocation (buffer status)':<52} {rt:8.1f}")
    bump = None
    if args.bump_plugins and os.path.exists(os.path.join(args.bump_plugins, "hostcalls.wasm")):
        bump = host_bench(args, ["hostcall", args.bump_plugins, "5"])
    if bump:
        print(f"{'get header, guest malloc = bump allocator (no free)':<52} "
              f"{bump['bench_get_header']:8.1f}")
        print(f"{'  bump malloc(15) + free alone':<52} {bump['bench_alloc_loop']:8.1f}")
    print(f"{'native peer: lookup + malloc + copy + free in C':<52} {native:8.1f}")
    print(f"sluice/native: whole call {total / native:.1f}x, without allocator "
          f"{net / native:.1f}x; target < 50 ns per whole call: "
          f"{'met' if total < 50 else 'NOT met'} (without the guest allocator: "
          f"{'under' if net < 50 else 'over'} 50 ns)")


def calls_part(args):
    """The engine's share of a hostcall: each kind of host/Wasm call in sluice's engine, and
    in V8 with the host in JavaScript (node), the same module and loops."""
    calls = os.path.join(os.path.dirname(args.host_bench), "calls.wasm")
    if not os.path.exists(calls):
        return
    print()
    print("== calls between host and Wasm (calls.wat; host_bench, and node's V8 with a "
          "JavaScript host; best of 5 x 1000000) ==")
    ours = host_bench(args, ["calls", calls, "1000000"])
    v8 = None
    node = shutil.which("node")
    if node:
        js = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.js")
        r = subprocess.run([node, js, calls, "1000000"], capture_output=True, text=True,
                           timeout=300)
        if r.returncode == 0:
            v8 = {p[0]: float(p[1]) for p in (l.split() for l in r.stdout.splitlines())
                  if len(p) == 3}
    if not ours:
        return
    rows = [("call_outer", "host calls an export (a callback)"),
            ("call_import", "Wasm calls a host function (a hostcall)"),
            ("call_nested", "a hostcall that calls back into Wasm (the allocator)"),
            ("call_local", "Wasm calls a Wasm function")]
    print(f"{'kind':<54} {'sluice ns':>10} {'V8 ns':>8} {'sluice/V8':>10}")
    for key, label in rows:
        a, b = ours.get(key), (v8 or {}).get(key)
        ratio = f"{a / b:10.2f}" if a and b else f"{'-':>10}"
        print(f"{label:<54} {a:10.1f} {b if b is not None else float('nan'):8.1f} {ratio}")
    if not v8:
        print("(node not found or failed: no V8 column)")
    print("(per call, the calling loop's own few ops included; V8 compiles the loops, and its "
          "JavaScript host is the cheapest it offers: Envoy's C++ host goes through V8's API)")


def request_part(args):
    print()
    print("== Wasm work per request on a warm replica (host_bench: a fake stream through every "
          "callback, proxy excluded) ==")
    for name in ("add_header.wasm", "as_add_header.wasm"):
        path = os.path.join(args.plugins, name)
        if not os.path.exists(path):
            print(f"{name:<20} not built")
            continue
        h = host_bench(args, ["request", path, "20000" if name == "add_header.wasm" else "500"])
        if h:
            print(f"{name:<20} {h['request_ns'] / 1000:8.2f} us per request")
    print("(compare with the CPU us/req column above: the difference between a Wasm row and "
          "the no-filter row)")


def replica_part(args, d, up_port):
    print()
    print(f"== VM replicas: one more replica of a loaded plugin (host_bench, "
          f"{args.replicas} replicas, one request each) ==")
    print(f"{'plugin':<20} {'start ms median':>15} {'min':>7} {'page faults':>11} "
          f"{'RSS MiB/replica':>16} {'initial memory MiB':>19}")
    for name in ("add_header.wasm", "as_add_header.wasm"):
        path = os.path.join(args.plugins, name)
        if not os.path.exists(path):
            print(f"{name:<20} not built")
            continue
        h = host_bench(args, ["replica", path, str(args.replicas)])
        if h:
            print(f"{name:<20} {h['replica_start_median']:15.3f} {h['replica_start_min']:7.3f} "
                  f"{h['replica_start_faults']:11.1f} {h['replica_rss']:16.3f} "
                  f"{h['initial_memory']:19.3f}")
    print("targets: start < 1 ms, memory beyond the module's initial memory < 1 MiB")

    # The same from outside: sluice's RSS at 1 and N workers, with and without the plugin, so
    # the per-worker cost of the proxy itself (loop, buffers) is the peer and is subtracted.
    n = args.replicas
    print()
    print(f"== sluice RSS, --concurrency 1 vs {n}, after {args.warm_conns} new connections ==")
    per = {}
    for label, t in (("no filter", "none"), ("wasm C SDK", "wasm-c")):
        rss = []
        for workers in (1, n):
            p, port = start_sluice(args, d, f"{t}-{workers}", up_port,
                                   filters_for(t, args.plugins), workers)
            if not p:
                break
            # Connections spread over the workers' SO_REUSEPORT sockets by hash: enough of
            # them reach every worker with high probability.
            for _ in range(args.warm_conns):
                try:
                    get(port)
                except OSError:
                    pass
            time.sleep(0.2)
            rss.append(rss_kib(p.pid))
            stop(p)
        if len(rss) == 2:
            per[label] = (rss[1] - rss[0]) / (n - 1) / 1024
            print(f"{label:<12} RSS 1 worker {rss[0] / 1024:7.1f} MiB, {n} workers "
                  f"{rss[1] / 1024:7.1f} MiB: {per[label]:.3f} MiB per added worker")
    if len(per) == 2:
        print(f"per replica (wasm - no filter, per added worker): "
              f"{per['wasm C SDK'] - per['no filter']:.3f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sluice", required=True, help="path of the release sluice binary")
    ap.add_argument("--host-bench", required=True, help="path of host_bench")
    ap.add_argument("--plugins", required=True, help="folder of the built .wasm plugins")
    ap.add_argument("--bump-plugins", default="",
                    help="folder of hostcalls.wasm linked with bench/wasm_filter/bump_alloc.c")
    ap.add_argument("--seconds", type=int, default=3, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5,
                    help="wrk rounds: best round kept, and the median of paired ratios")
    ap.add_argument("--replicas", type=int, default=16)
    ap.add_argument("--warm-conns", type=int, default=200)
    ap.add_argument("--callgrind", type=int, default=300,
                    help="requests per callgrind run for instruction counts (0: none)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    args.plugins = os.path.abspath(args.plugins)

    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"bench-wasm-filter: '{tool}' is not installed (scripts/setup installs it)")
            return 1
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(args.sluice, os.X_OK):
        print(f"bench-wasm-filter: {args.sluice} is not built")
        return 1

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    d = tempfile.mkdtemp(prefix="sluice-bench-wasm-filter-")
    try:
        up_port = free_port()
        up = start([nginx, "-p", d, "-e", f"{d}/upstream-error.log", "-c",
                    nginx_conf(d, "upstream", args.workers, [upstream_server(up_port)])],
                   f"{d}/upstream.out")
        if not wait_ready(up_port, up):
            print(f"bench-wasm-filter: the nginx upstream did not start; see {d}/upstream.out")
            args.keep = True
            return 1
        print(f"== wrk through sluice ({args.workers} workers) to nginx on 127.0.0.1:{up_port}; "
              f"wrk {args.wrk_threads} threads, {args.connections} connections, "
              f"{args.seconds}s x {args.rounds} round(s), keep-alive; "
              f"header '{HEADER}: {VALUE}' checked first ==")
        wrk_part(args, d, up_port)
        instructions_part(args, d, up_port)
        request_part(args)
        hostcall_part(args)
        calls_part(args)
        replica_part(args, d, up_port)
    finally:
        cleanup()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print(f"bench-wasm-filter: files kept in {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
