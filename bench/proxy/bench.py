#!/usr/bin/env python3
# The proxy benchmark behind `make bench-proxy`: wrk against a small static nginx upstream
# directly, through nginx as a keep-alive reverse proxy, and through sluice; prints a table.
"""Every server is started here on 127.0.0.1 ports chosen at run time, with its files in a
temporary directory, and every process started is killed on exit (normal, error or signal).
nginx and sluice run with the same worker count; wrk uses keep-alive connections."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (cleanup, fmt, free_port, nginx_conf, on_signal,  # noqa: E402
                      parse_wrk, sluice_conf, start, started, stop)

BODY = "hello, world\n"


def wait_ready(port, proc, seconds=10.0):
    """True once GET / on the port answers 200 with the upstream's body."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                if r.status == 200 and r.read().decode() == BODY:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def children(pid):
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(e))
        except (OSError, IndexError, ValueError):
            pass
    return out


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_wrk(port, seconds, conns, threads):
    url = f"http://127.0.0.1:{port}/"
    # a short warm-up so that connections and caches are in place
    subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", "1s", url],
                   capture_output=True, timeout=30)
    r = subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s",
                        "--latency", url], capture_output=True, text=True,
                       timeout=seconds + 30)
    return parse_wrk(r.stdout, r.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sluice", default="", help="path of the sluice binary ('' = none)")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"bench-proxy: '{tool}' is not installed (scripts/setup installs it)")
            return 1
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    d = tempfile.mkdtemp(prefix="sluice-bench-proxy-")
    rows = []
    try:
        up_port = free_port()
        up_conf = nginx_conf(d, "upstream", args.workers, [f"""        listen 127.0.0.1:{up_port};
        location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}"""])
        up = start([nginx, "-p", d, "-e", f"{d}/upstream-error.log", "-c", up_conf],
                   f"{d}/upstream.out")
        if not wait_ready(up_port, up):
            print(f"bench-proxy: the nginx upstream did not start; see {d}/upstream.out")
            args.keep = True
            return 1

        print(f"upstream: nginx on 127.0.0.1:{up_port}, {args.workers} workers, "
              f"{len(BODY)}-byte body; wrk: {args.wrk_threads} threads, "
              f"{args.connections} connections, {args.seconds}s, keep-alive")

        r = run_wrk(up_port, args.seconds, args.connections, args.wrk_threads)
        rows.append(("upstream direct", r, None))

        px_port = free_port()
        px_conf = nginx_conf(
            d, "proxy", args.workers,
            [f"""        listen 127.0.0.1:{px_port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}"""],
            upstream_block=f"""    upstream backend {{
        server 127.0.0.1:{up_port};
        keepalive 128;
    }}""")
        px = start([nginx, "-p", d, "-e", f"{d}/proxy-error.log", "-c", px_conf],
                   f"{d}/proxy.out")
        if wait_ready(px_port, px):
            r = run_wrk(px_port, args.seconds, args.connections, args.wrk_threads)
            rss = sum(peak_rss_kib(c) for c in children(px.pid))
            rows.append(("nginx proxy", r, rss))
        else:
            print(f"bench-proxy: nginx as a proxy did not start; see {d}/proxy.out")
            args.keep = True
        stop(px)

        if not args.sluice or not os.access(args.sluice, os.X_OK):
            print(f"bench-proxy: sluice binary not available ({args.sluice or 'not built'}); "
                  "its row is missing")
        else:
            sl_port = free_port()
            conf = sluice_conf(os.path.join(d, "sluice.yaml"), sl_port, up_port)
            # The access log goes to stdout: sent to a file, as nginx's would go to disk if on.
            sl = start([args.sluice, "-c", conf, "--concurrency", str(args.workers),
                        "-l", "error"], f"{d}/sluice.out")
            if wait_ready(sl_port, sl):
                r = run_wrk(sl_port, args.seconds, args.connections, args.wrk_threads)
                rows.append(("sluice proxy", r, peak_rss_kib(sl.pid)))
            else:
                print(f"bench-proxy: sluice did not serve GET / with 200 within 10 s "
                      f"(exit status {sl.poll()}); see {d}/sluice.out")
                with open(f"{d}/sluice.out", "rb") as f:
                    tail = f.read()[-2000:].decode(errors="replace")
                print("  " + tail.replace("\n", "\n  "))
                args.keep = True
            stop(sl)
    finally:
        cleanup()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print(f"bench-proxy: files kept in {d}")

    print()
    print(f"{'target':<16} {'requests/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MiB':>13}  errors")
    for name, r, rss in rows:
        rss_s = f"{rss / 1024:.1f}" if rss is not None else "-"
        print(f"{name:<16} {fmt(r['rps'], '12.0f'):>12} {fmt(r['p50'], '8.3f'):>8} "
              f"{fmt(r['p99'], '8.3f'):>8} {rss_s:>13}  {r['errors'] or '-'}")
        if r["rps"] is None:
            print("  wrk output:\n  " + r["raw"].replace("\n", "\n  "))
    by = {name: r for name, r, _ in rows}
    ng, sl = by.get("nginx proxy"), by.get("sluice proxy")
    if ng and sl and ng["rps"] and sl["rps"]:
        line = f"sluice/nginx: throughput {sl['rps'] / ng['rps']:.2f}x"
        if ng["p99"] and sl["p99"]:
            line += f", p99 {sl['p99'] / ng['p99']:.2f}x (lower is better)"
        print(line)
    else:
        print("sluice/nginx: no ratio (a row is missing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
