# Process and output helpers the benchmark scripts share: every server they start runs in its
# own process group and is killed on exit, normal or by signal; ports are chosen at run time.
import os
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
