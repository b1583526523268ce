#!/usr/bin/env python3
# The benchmark behind `make bench-wasm-async`: shared-queue delay across threads, shared data
# ops/s, and HTTP callout cost, measured through the real sluice binary; prints one table.
"""1. Shared queue: the HTTP filter qlat_send (every worker) enqueues its monotonic send time on
   the queue of the singleton service qlat_recv (main thread), which records the delay to
   proxy_on_queue_ready in bucket counters read from the admin's /stats; with wrk one request
   at a time, then with wrk under load. Peer: queue_peer, the same hand-off in native code
   (mutex-guarded list + uv_async_send to a libuv loop), at the same arrival rate.
2. Shared data: bench/host/shared_data_bench with 1 thread and one per worker, against a
   single-mutex table.
3. HTTP callout: wrk through sluice with callout_auth (one GET /check to an nginx "auth" server
   per request) against wrk through sluice with no filter, to the same nginx upstream.
4. With --callgrind N: instructions per request in sluice (callgrind, every thread) with no
   filter, with the queue plugins and with callout_auth, from runs of N and 2N requests.
Servers listen on 127.0.0.1 ports chosen at run time; every process started is killed on exit."""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (cleanup, cluster, fmt, free_port,  # noqa: E402
                      instructions_per_request, nginx_conf, on_signal, parse_wrk, sluice_conf,
                      start, started, stop, tail)

BODY = "hello, world\n"


def http_get(port, path="/", headers=None, timeout=2.0):
    """(status, body) of one GET, or (None, error text)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError as e:
        return None, str(e)


def wait_ready(port, proc, seconds=10.0):
    """True once GET / on the port answers 200 with the upstream's body."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        st, body = http_get(port, timeout=1)
        if st == 200 and body == BODY:
            return True
        time.sleep(0.1)
    return False


# ---- configurations -----------------------------------------------------------------------------

def nginx_servers(up_port, auth_port):
    """The upstream (BODY on every path) and the auth service (200 "ok" on /check)."""
    return [f"""        listen 127.0.0.1:{up_port};
        location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}""",
            f"""        listen 127.0.0.1:{auth_port};
        location /check {{ default_type text/plain; return 200 "ok\\n"; }}"""]


def wasm_filter(name, configuration, vm_id, plugin_dir, runtime):
    return f"""          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: {name}
                root_id: {name}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: "{configuration}"
                vm_config:
                  vm_id: {vm_id}
                  runtime: {runtime}
                  code:
                    local:
                      filename: {os.path.join(plugin_dir, name + ".wasm")}
"""


def wasm_service(name, configuration, vm_id, plugin_dir, runtime):
    return f"""bootstrap_extensions:
- name: envoy.bootstrap.wasm
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.wasm.v3.WasmService
    singleton: true
    config:
      name: {name}
      root_id: {name}
      configuration:
        "@type": type.googleapis.com/google.protobuf.StringValue
        value: "{configuration}"
      vm_config:
        vm_id: {vm_id}
        runtime: {runtime}
        code:
          local:
            filename: {os.path.join(plugin_dir, name + ".wasm")}
"""


def wrk(argv, timeout):
    """wrk's (stdout, stderr); it is in `started` while it runs, so a signal stops it too."""
    p = subprocess.Popen(["wrk"] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    started.append(p)
    try:
        return p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return "", "wrk did not finish in time"
    finally:
        stop(p)


def run_wrk(port, seconds, conns, threads, warmup=0):
    url = f"http://127.0.0.1:{port}/"
    if warmup:
        wrk(["-t", str(threads), "-c", str(conns), "-d", f"{warmup}s", url], warmup + 30)
    out, err = wrk(["-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--latency", url],
                   seconds + 30)
    return parse_wrk(out, err)


def ratio(a, b, spec=".2f"):
    return format(a / b, spec) + "x" if a is not None and b else "-"


# ---- 1. shared queue ----------------------------------------------------------------------------

def bucket_bounds(i):
    """[lo, hi) in ns of qlat_recv.c's bucket i (16 linear ones, then 8 per power of two)."""
    if i < 16:
        return i, i + 1
    j = i - 16
    e, sub = j // 8 + 4, j % 8
    return (8 + sub) << (e - 3), (9 + sub) << (e - 3)


def percentile(buckets, p):
    """The p-quantile (ns) of {bucket index: count}, interpolated inside its bucket."""
    total = sum(buckets.values())
    if not total:
        return None
    rank, seen = p * total, 0
    for i in sorted(buckets):
        c = buckets[i]
        if c and seen + c >= rank:
            lo, hi = bucket_bounds(i)
            return lo + (hi - lo) * max(0.0, rank - seen) / c
        seen += c
    return bucket_bounds(max(buckets))[1]


def queue_phase(sl, port, drive):
    """Runs drive() (wrk) and returns the delay figures of the items it caused."""
    st, _ = http_get(port, headers={"x-qlat-reset": "1"})
    if st != 200:
        raise RuntimeError(f"the reset request answered {st}")
    time.sleep(0.2)  # the mark is taken before the phase starts
    before = sl.stats()
    res = drive()
    want = res["requests"] or 0
    deadline = time.time() + 10
    while True:
        after = sl.stats()
        got = after.get("wasmcustom.qlat.count", 0) - before.get("wasmcustom.qlat.count", 0)
        if got >= want or time.time() > deadline:
            break
        time.sleep(0.1)
    buckets = {}
    for k, v in after.items():
        m = re.match(r"wasmcustom\.qlat\.bucket\.(\d+)$", k)
        if m:
            d = v - before.get(k, 0)
            if d:
                buckets[int(m.group(1))] = d
    n = sum(buckets.values())
    dropped = after.get("wasmcustom.qlat.dropped", 0) - before.get("wasmcustom.qlat.dropped", 0)
    return {"count": n, "requests": want, "dropped": dropped, "rps": res["rps"],
            "p50": percentile(buckets, 0.50), "p99": percentile(buckets, 0.99),
            "max": after.get("wasmcustom.qlat.max_ns"), "wrk": res}


def queue_peer(binary, args, port, wrk_args):
    """Runs the native peer while wrk (wrk_args) drives the same proxy as in the measured
    phase, so the peer shares the CPU with the same background work; its figures or None."""
    p = subprocess.Popen([binary] + [str(x) for x in args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    started.append(p)
    try:
        run_wrk(port, *wrk_args)
        out, _ = p.communicate(timeout=120)
    finally:
        stop(p)
    m = re.search(r"count (\d+) p50_ns (\d+) p99_ns (\d+) max_ns (\d+)", out or "")
    if not m:
        print(f"bench-wasm-async: queue_peer {args} failed: {out}")
        return None
    return {"count": int(m.group(1)), "p50": int(m.group(2)), "p99": int(m.group(3)),
            "max": int(m.group(4))}


class Sluice:
    def __init__(self, binary, d, name, conf, workers):
        self.log = os.path.join(d, f"{name}.out")
        self.proc = start([binary, "-c", conf, "--concurrency", str(workers), "-l", "warning"],
                          self.log)
        m = re.search(r"^admin:\n(?:[ \t]+.*\n)*?.*port_value:\s*(\d+)", open(conf).read(), re.M)
        self.admin_port = int(m.group(1))

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/stats",
                                    timeout=5) as r:
            text = r.read().decode(errors="replace")
        out = {}
        for line in text.splitlines():
            m = re.match(r"^([\w.:-]+):\s+(-?\d+)\s*$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def stop(self):
        stop(self.proc)


# ---- wrk ----------------------------------------------------------------------------------------


def bench_queue(a, d, up_port):
    port, admin = free_port(), free_port()
    head = wasm_service("qlat_recv", "lat", "qlat", a.plugins, a.runtime)
    filters = wasm_filter("qlat_send", "qlat lat", "qlat_web", a.plugins, a.runtime)
    conf = sluice_conf(os.path.join(d, "sluice-queue.yaml"), port, up_port, filters=filters,
                       head=head, admin_port=admin)
    sl = Sluice(a.sluice, d, "sluice-queue", conf, a.workers)
    rows = []
    try:
        if not wait_ready(port, sl.proc):
            print(f"bench-wasm-async: sluice (queue) did not start:\n{tail(sl.log)}")
            return rows
        # The service may come up after the listener: wait for the first item to be measured.
        deadline = time.time() + 10
        while sl.stats().get("wasmcustom.qlat.count", 0) == 0 and time.time() < deadline:
            http_get(port)
            time.sleep(0.1)
        low_wrk = (a.low_seconds, 1, 1)
        load_wrk = (a.seconds, a.connections, a.wrk_threads)
        low = queue_phase(sl, port, lambda: run_wrk(port, *low_wrk))
        load = queue_phase(sl, port, lambda: run_wrk(port, *load_wrk))
        # The peer's senders: one for one connection, one per worker under load; each at the
        # item rate the proxy reached.
        peer_low = queue_peer(a.queue_peer, [1, f"{low['wrk']['rps'] or 1000:.0f}",
                                             a.low_seconds], port, low_wrk)
        peer_load = queue_peer(a.queue_peer, [a.workers, f"{load['wrk']['rps'] or 1000:.0f}",
                                              a.seconds], port, load_wrk)
    finally:
        sl.stop()
    rows.append(("one request at a time (wrk -c1)", low, peer_low))
    rows.append((f"under load (wrk -c{a.connections})", load, peer_load))
    return rows


# ---- 2. shared data -----------------------------------------------------------------------------

def bench_shared_data(a):
    r = subprocess.run([a.shared_data_bench, str(a.sd_seconds), f"1,{a.workers}"],
                       capture_output=True, text=True, timeout=300)
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"^(\S+)\s+(distinct|one)\s+(\d+)\s+(\d+)\s+(\d+)\s+", line)
        if m:
            rows.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4)),
                         int(m.group(5))))
    if not rows:
        print(f"bench-wasm-async: shared_data_bench failed:\n{r.stdout}{r.stderr}")
    return rows


# ---- 3. HTTP callouts ---------------------------------------------------------------------------

def bench_callout(a, d, up_port, auth_port):
    """{name: (one-at-a-time wrk result, loaded wrk result)}. Both proxies run side by side and
    their wrk runs alternate, a.reps times each; the run with the lower p50 is kept, so a
    burst of other work on the machine does not land on one configuration only."""
    procs = {}
    for name, filters, extra in (
            ("no filter", "", ""),
            ("callout_auth", wasm_filter("callout_auth", "auth 1000", "callout_auth", a.plugins,
                                         a.runtime), cluster("auth", auth_port))):
        port, admin = free_port(), free_port()
        tag = "sluice-" + name.replace(" ", "-")
        conf = sluice_conf(os.path.join(d, tag + ".yaml"), port, up_port, filters=filters,
                           admin_port=admin, extra_clusters=extra)
        procs[name] = (Sluice(a.sluice, d, tag, conf, a.workers), port)
    out = {}
    try:
        for name, (sl, port) in procs.items():
            if not wait_ready(port, sl.proc):
                print(f"bench-wasm-async: sluice ({name}) did not start:\n{tail(sl.log)}")
                return out
        best = {name: [None, None] for name in procs}

        def keep(name, i, r):
            cur = best[name][i]
            if cur is None or (r["p50"] is not None and
                               (cur["p50"] is None or r["p50"] < cur["p50"])):
                best[name][i] = r
        for rep in range(a.reps):
            for name, (sl, port) in procs.items():
                keep(name, 0, run_wrk(port, a.low_seconds, 1, 1))
        for rep in range(a.reps):
            for name, (sl, port) in procs.items():
                keep(name, 1, run_wrk(port, a.seconds, a.connections, a.wrk_threads,
                                      warmup=1 if rep == 0 else 0))
        out = {name: tuple(v) for name, v in best.items()}
        # Every request through callout_auth must have made its callout.
        st = procs["callout_auth"][0].stats()
        out["counts"] = (st.get("cluster.auth.upstream_rq_total"),
                         st.get("cluster.upstream.upstream_rq_total"))
    finally:
        for sl, _ in procs.values():
            sl.stop()
    return out


# ---- 4. instructions per request (callgrind) ----------------------------------------------------

def bench_callgrind(a, d, up_port, auth_port):
    """{name: instructions per request}: the difference between a run of 2n and one of n
    requests, over n, so start-up and shutdown cancel."""
    n = a.callgrind
    configs = (
        ("no filter", "", "", ""),
        ("qlat_send + qlat_recv",
         wasm_filter("qlat_send", "qlat lat", "qlat_web", a.plugins, a.runtime), "",
         wasm_service("qlat_recv", "lat", "qlat", a.plugins, a.runtime)),
        ("callout_auth",
         wasm_filter("callout_auth", "auth 5000", "callout_auth", a.plugins, a.runtime),
         cluster("auth", auth_port), ""))
    out = {}
    for name, filters, extra, head in configs:
        tag = "cg-" + re.sub(r"[^a-z]+", "-", name)
        port = free_port()
        conf = sluice_conf(os.path.join(d, tag + ".yaml"), port, up_port,
                           filters=filters, head=head, admin_port=free_port(),
                           extra_clusters=extra)
        out[name] = instructions_per_request("bench-wasm-async", a.sluice, a.workers, d, tag,
                                             conf, port, n, wait_ready)
    return out


# ---- main ---------------------------------------------------------------------------------------

def us(ns):
    return fmt(ns / 1000 if ns is not None else None, "9.1f")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--plugins", required=True, help="directory of the .wasm plugins")
    ap.add_argument("--shared-data-bench", required=True)
    ap.add_argument("--queue-peer", required=True)
    ap.add_argument("--runtime", default="sluice.wasm.runtime.interp")
    ap.add_argument("--seconds", type=int, default=3, help="each wrk run under load")
    ap.add_argument("--low-seconds", type=int, default=1, help="each one-at-a-time wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sd-seconds", type=float, default=0.3)
    ap.add_argument("--reps", type=int, default=2, help="alternating callout runs per figure")
    ap.add_argument("--callgrind", type=int, default=0,
                    help="also count instructions per request over N requests (0: off)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"bench-wasm-async: '{tool}' is not installed (scripts/setup installs it)")
            return 1
    for f in (a.sluice, a.shared_data_bench, a.queue_peer):
        if not os.access(f, os.X_OK):
            print(f"bench-wasm-async: {f} is not built")
            return 1
    a.plugins = os.path.abspath(a.plugins)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    d = tempfile.mkdtemp(prefix="sluice-bench-wasm-async-")
    t0 = time.time()
    try:
        up_port, auth_port = free_port(), free_port()
        ng = start([nginx, "-p", d, "-e", f"{d}/nginx-error.log",
                    "-c", nginx_conf(d, "nginx", a.workers, nginx_servers(up_port, auth_port))],
                   f"{d}/nginx.out")
        if not wait_ready(up_port, ng):
            print(f"bench-wasm-async: nginx did not start:\n{tail(d + '/nginx.out')}")
            a.keep = True
            return 1
        print(f"sluice: {a.workers} workers, {a.runtime}; nginx upstream and auth server: "
              f"{a.workers} workers; wrk: {a.seconds}s, {a.wrk_threads} threads, keep-alive")
        queue = bench_queue(a, d, up_port)
        sd = bench_shared_data(a)
        callout = bench_callout(a, d, up_port, auth_port)
        cg = {}
        if a.callgrind > 0 and not shutil.which("valgrind"):
            print("bench-wasm-async: valgrind is not installed: no instruction counts")
        elif a.callgrind > 0:
            cg = bench_callgrind(a, d, up_port, auth_port)
    except Exception:
        a.keep = True
        raise
    finally:
        cleanup()
        if a.keep:
            print(f"bench-wasm-async: files kept in {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)

    print()
    print("1. shared queue: enqueue (HTTP filter, every worker) -> proxy_on_queue_ready "
          "(singleton service, main thread), microseconds")
    print("   peer: native mutex-guarded list + uv_async_send to a libuv loop, no Wasm: paced "
          "senders at sluice's item rate, run while the same wrk load drives sluice")
    print(f"   {'load':<34} {'items':>7} {'items/s':>8} {'p50':>9} {'p99':>9} {'max':>9} "
          f"{'peer p50':>9} {'peer p99':>9} {'peer max':>9} {'p50 ratio':>9} {'p99 ratio':>9}")
    for name, s, p in queue:
        rate = s["wrk"]["rps"] or 0
        p = p or {"p50": None, "p99": None, "max": None}
        print(f"   {name:<34} {s['count']:>7} {rate:>8.0f} {us(s['p50'])} {us(s['p99'])} "
              f"{us(s['max'])} {us(p['p50'])} {us(p['p99'])} {us(p['max'])} "
              f"{ratio(s['p50'], p['p50']):>9} {ratio(s['p99'], p['p99']):>9}")
        problems = []
        # wrk does not count the requests still in flight when it stops: more items is normal.
        if s["count"] < s["requests"]:
            problems.append(f"{s['count']} items measured for {s['requests']} requests")
        if s["dropped"]:
            problems.append(f"{s['dropped']} enqueues dropped")
        if s["wrk"]["errors"]:
            problems.append("wrk: " + s["wrk"]["errors"])
        if problems:
            print("     !! " + "; ".join(problems))
    if not queue:
        print("   (no figures: sluice did not run)")

    print()
    print(f"2. shared data (host library, {a.sd_seconds:.2f} s per figure): ops/s, sluice's "
          f"64-shard store vs a single-mutex table; 1 thread and {a.workers} (one per worker)")
    print(f"   {'op':<14} {'keys':<9} {'threads':>7} {'sluice ops/s':>13} {'peer ops/s':>13} "
          f"{'ratio':>7}")
    for op, keys, th, s, p in sd:
        print(f"   {op:<14} {keys:<9} {th:>7} {s:>13} {p:>13} {ratio(s, p):>7}")

    print()
    print("3. HTTP callout per request: sluice + callout_auth (GET /check to nginx, 200) vs "
          "sluice with no filter, same nginx upstream; ms")
    print(f"   runs alternate between the two, best p50 of {a.reps} kept")
    print(f"   {'sluice':<14} {'load':<6} {'requests/s':>11} {'p50':>8} {'p99':>8}  errors")
    for name in ("no filter", "callout_auth"):
        if name not in callout:
            print(f"   {name:<14} (did not run)")
            continue
        for label, r in zip(("-c1", f"-c{a.connections}"), callout[name]):
            print(f"   {name:<14} {label:<6} {fmt(r['rps'], '11.0f')} {fmt(r['p50'], '8.3f')} "
                  f"{fmt(r['p99'], '8.3f')}  {r['errors'] or '-'}")
            if r["rps"] is None:
                print("     wrk output:\n     " + r["raw"].replace("\n", "\n     "))
    if "counts" in callout:
        calls, reqs = callout["counts"]
        print(f"   callout_auth's proxy made {fmt(calls, 'd')} callouts for {fmt(reqs, 'd')} "
              "upstream requests" + ("" if calls is not None and reqs is not None and
                                     calls >= reqs else "  !! fewer callouts than requests"))
    if "no filter" in callout and "callout_auth" in callout:
        for i, label in ((0, "one at a time (-c1)"), (1, f"under load (-c{a.connections})")):
            base, co = callout["no filter"][i], callout["callout_auth"][i]
            if base["p50"] is not None and co["p50"] is not None:
                print(f"   {label}: extra latency per request (p50 difference) "
                      f"{(co['p50'] - base['p50']) * 1000:.0f} us; throughput callout/no filter "
                      f"{ratio(co['rps'], base['rps'])}; p99 {ratio(co['p99'], base['p99'])}")
    if cg:
        print()
        print(f"4. instructions per request in sluice, every thread (callgrind, runs of "
              f"{a.callgrind} and {2 * a.callgrind} sequential requests)")
        base = cg.get("no filter")
        for name, v in cg.items():
            extra = f"  +{v - base:,.0f} over no filter, {ratio(v, base)}" \
                if v is not None and base and name != "no filter" else ""
            print(f"   {name:<24} {fmt(v, ',.0f'):>12}{extra}")
    print(f"\nbench-wasm-async: {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
