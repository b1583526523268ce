# Process and output helpers the benchmark scripts share: every server they start runs in its
# own process group and is killed on exit, normal or by signal; ports are chosen at run time.
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time

started = []  # Popen objects, each the leader of its own process group


def cleanup():
    for p in reversed(started):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 5
    for p in reversed(started):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    started.clear()


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, log_path, cwd=None):
    log = open(log_path, "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                         start_new_session=True)
    log.close()
    started.append(p)
    return p


def stop(p, grace=5):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p in started:
        started.remove(p)


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def fmt(v, spec):
    return format(v, spec) if v is not None else "-"


def cluster(name, port):
    """A STATIC cluster of one 127.0.0.1 endpoint (YAML list item under clusters:)."""
    return f"""  - name: {name}
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: {port} }}
"""


def sluice_conf(path, port, up_port, filters="", head="", admin_port=None, extra_clusters=""):
    """Writes the benchmarks' sluice configuration to path: one HTTP listener on port routing
    everything to the cluster "upstream" (127.0.0.1:up_port) through `filters` (http_filters
    YAML before the router), with `head` (e.g. bootstrap_extensions) first, an admin server
    when admin_port is given, and `extra_clusters` after "upstream". Returns path."""
    admin = ("" if admin_port is None else f"""admin:
  address:
    socket_address: {{ address: 127.0.0.1, port_value: {admin_port} }}
""")
    conf = f"""{head}{admin}static_resources:
  listeners:
  - name: bench
    address:
      socket_address: {{ address: 127.0.0.1, port_value: {port} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: / }}
                route: {{ cluster: upstream }}
          http_filters:
{filters}          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
{cluster("upstream", up_port)}{extra_clusters}"""
    with open(path, "w") as f:
        f.write(conf)
    return path


def tail(path, n=1500):
    """The last n bytes of a log file, as text ("" if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


def sequential_gets(port, n):
    """n GETs one after another on one keep-alive connection; how many answered 200."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = 0
    try:
        for _ in range(n):
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            ok += r.status == 200
    finally:
        c.close()
    return ok


def callgrind_counts(who, sluice, workers, d, tag, conf, port, n, ready, cache_sim=False):
    """Callgrind's totals ({"Ir": instructions, and with cache_sim the simulated cache events
    such as "I1mr", first-level instruction-cache misses}) over sluice's start-up, 20 warm-up
    requests, n requests and shutdown, every thread; None if the run failed. ready(port, proc,
    seconds) says when sluice serves; `who` prefixes every message."""
    out = os.path.join(d, f"{tag}-{n}.callgrind")
    log = os.path.join(d, f"{tag}-{n}.valgrind")
    sim = ["--cache-sim=yes"] if cache_sim else []
    p = start(["valgrind", "--tool=callgrind", *sim, f"--callgrind-out-file={out}", sluice,
               "-c", conf, "--concurrency", str(workers), "-l", "error"], log)
    try:
        if not ready(port, p, 60):
            print(f"{who}: sluice under callgrind ({tag}) did not start:\n{tail(log)}")
            return None
        sequential_gets(port, 20)
        time.sleep(0.5)
        if sequential_gets(port, n) != n:
            print(f"{who}: under callgrind ({tag}) a request did not answer 200")
            return None
        time.sleep(0.5)  # queue items and callouts settle
    finally:
        stop(p, grace=60)  # callgrind writes its counts as sluice exits
    try:
        with open(out) as f:
            text = f.read()
        events = re.search(r"^events:\s+(.+)$", text, re.M).group(1).split()
        totals = [int(v) for v in re.search(r"^totals:\s+(.+)$", text, re.M).group(1).split()]
    except (OSError, AttributeError, ValueError):
        print(f"{who}: no callgrind totals for {tag}:\n{tail(log)}")
        return None
    return dict(zip(events, totals))


def callgrind_total(who, sluice, workers, d, tag, conf, port, n, ready):
    """Instructions of callgrind_counts' run; None if it failed."""
    c = callgrind_counts(who, sluice, workers, d, tag, conf, port, n, ready)
    return c["Ir"] if c else None


def counts_per_request(who, sluice, workers, d, tag, conf, port, n, ready, cache_sim=False):
    """callgrind_counts per request: the difference between a run of 2n requests and one of
    n, over n, so start-up and shutdown cancel; None if either run failed."""
    one = callgrind_counts(who, sluice, workers, d, tag, conf, port, n, ready, cache_sim)
    two = callgrind_counts(who, sluice, workers, d, tag, conf, port, 2 * n, ready, cache_sim)
    if one is None or two is None:
        return None
    return {k: (two[k] - one.get(k, 0)) / n for k in two}


def instructions_per_request(who, sluice, workers, d, tag, conf, port, n, ready):
    """Instructions per request (counts_per_request's "Ir"); None if a run failed."""
    c = counts_per_request(who, sluice, workers, d, tag, conf, port, n, ready)
    return c["Ir"] if c else None


def nginx_conf(d, name, workers, servers, upstream_block=""):
    """Writes the benchmarks' nginx configuration to d/name.conf and returns its path:
    `workers` processes, no access log, long keep-alive, temporary files under d, then
    `upstream_block` and one `server { }` around each entry of `servers` (their inner lines)."""
    tmp = os.path.join(d, f"{name}-tmp")
    os.makedirs(tmp, exist_ok=True)
    temps = "\n".join(f"    {k}_temp_path {tmp}/{k};"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    blocks = "".join(f"    server {{\n{s}\n    }}\n" for s in servers)
    conf = f"""worker_processes {workers};
daemon off;
master_process on;
pid {d}/{name}.pid;
error_log {d}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
{temps}
{upstream_block}
{blocks}}}
"""
    path = os.path.join(d, f"{name}.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def parse_wrk(out, err=""):
    """A `wrk --latency` report as {rps, requests, p50, p99 (ms), errors, raw}; None (or "")
    for what it does not say."""
    res = {"rps": None, "requests": None, "p50": None, "p99": None, "errors": "",
           "raw": out + err}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            res[key] = to_ms(m.group(1), m.group(2))
    errs = []
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs.append(f"{m.group(1)} non-2xx")
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        errs.append("socket errors: " + m.group(1).strip())
    res["errors"] = "; ".join(errs)
    return res
