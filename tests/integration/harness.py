# Shared library for sluice's integration tests: starts the real binary on a config text,
# runs scripted upstream servers and raw clients on 127.0.0.1, and a small test runner.
#
# Python standard library only. Typical test file:
#
#     from harness import *
#
#     @test
#     def proxies_get():
#         up = Upstream()                        # echo upstream on a free port
#         port = free_port()
#         with Sluice(http_config(port, up.port)) as s:
#             r = http_request(port, "GET", "/x")
#             check_eq(r.status, 200)
#
#     if __name__ == "__main__":
#         run()
#
# Environment: SLUICE_BIN (binary to run; default $BUILD_DIR/sluice, BUILD_DIR defaulting to
# build), SLUICE_TIMEOUT_SCALE (multiplies every wait; the ASan run sets it), SLUICE_KEEP_LOGS
# (print the proxy's log even for passing tests).

import http.client
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import traceback

__all__ = [
    "ROOT", "sluice_bin", "timeout_scale", "free_port", "wait_for", "wait_port",
    "Sluice", "SluiceError", "http_config", "tcp_config", "cluster_yaml",
    "Upstream", "echo", "fixed", "delay", "chunked", "huge", "close_abruptly", "informational",
    "huge_pattern", "TcpEchoServer", "RawConn", "raw_request", "parse_response", "Response", "http_request",
    "test", "run", "check", "check_eq", "check_in", "TestFailure",
]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sluice_bin():
    """Path of the binary under test: $SLUICE_BIN, else $BUILD_DIR/sluice (BUILD_DIR relative to
    the repository root, default build)."""
    if os.environ.get("SLUICE_BIN"):
        return os.environ["SLUICE_BIN"]
    b = os.environ.get("BUILD_DIR", "build")
    if not os.path.isabs(b):
        b = os.path.join(ROOT, b)
    return os.path.join(b, "sluice")


def timeout_scale():
    try:
        return max(1.0, float(os.environ.get("SLUICE_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


# ---- ports and waiting --------------------------------------------------------------------

_given_ports = set()
_port_lock = threading.Lock()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago and that this process has not handed
    out before (so two calls never collide with each other)."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with _port_lock:
            if port not in _given_ports:
                _given_ports.add(port)
                return port
    raise RuntimeError("no free port found")


def wait_for(pred, timeout=5.0, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout (scaled) passes."""
    deadline = time.monotonic() + timeout * timeout_scale()
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_port(port, timeout=5.0):
    """Waits until something accepts TCP connections on 127.0.0.1:port."""
    def ok():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    wait_for(ok, timeout, what="port %d" % port)


# ---- the proxy process ----------------------------------------------------------------------

class SluiceError(Exception):
    pass


_running = []  # every started Sluice, so the runner can kill leftovers after each test


class Sluice:
    """One sluice process on a config text.

    config: the YAML text. If it has no top-level "admin:" key, an admin block on a free port is
    appended; otherwise pass admin_port (the port the text names).
    Starts in the constructor unless start=False; start() waits for GET /ready on the admin port
    to answer 200. The log (stdout+stderr) goes to a temporary file: log().
    Use as a context manager, or call stop() (SIGTERM, returns the exit code)."""

    def __init__(self, config, concurrency=2, args=(), log_level="info", admin_port=None,
                 start=True, ready_timeout=10.0, binary=None, env=None):
        if re.search(r"^admin:", config, re.M) is None:
            admin_port = admin_port or free_port()
            config = config.rstrip("\n") + (
                "\nadmin:\n  address:\n    socket_address: { address: 127.0.0.1, "
                "port_value: %d }\n" % admin_port)
        elif admin_port is None:
            m = re.search(r"^admin:(?:\n[ \t]+.*)*?port_value:\s*(\d+)", config, re.M)
            if not m:
                raise SluiceError("config has an admin block: pass admin_port")
            admin_port = int(m.group(1))
        self.admin_port = admin_port
        self.config = config
        self.dir = tempfile.mkdtemp(prefix="sluice-it-")
        self.config_path = os.path.join(self.dir, "sluice.yaml")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(self.dir, "sluice.log")
        self.binary = binary or sluice_bin()
        self.argv = [self.binary, "-c", self.config_path, "--concurrency", str(concurrency),
                     "-l", log_level] + list(args)
        self.env = dict(os.environ)
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if env:
            self.env.update(env)
        self.proc = None
        self.returncode = None
        if start:
            self.start(ready_timeout)

    # -- lifecycle --
    def start(self, ready_timeout=10.0):
        self._logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        _running.append(self)
        deadline = time.monotonic() + ready_timeout * timeout_scale()
        while True:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise SluiceError("sluice exited with %d before ready; log:\n%s"
                                  % (self.returncode, self.log()))
            try:
                st, body = self.admin_get("/ready", timeout=0.5)
                if st == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise SluiceError("sluice not ready after %.1fs; log:\n%s"
                                  % (ready_timeout, self.log()))
            time.sleep(0.02)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Waits for exit; returns the exit code (raises TestFailure on timeout)."""
        try:
            self.returncode = self.proc.wait(timeout * timeout_scale())
        except subprocess.TimeoutExpired:
            raise TestFailure("sluice did not exit within %.1fs" % timeout)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig (SIGTERM) and waits; returns the exit code. Kills after the timeout."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.returncode = self.proc.wait(timeout * timeout_scale())
            except subprocess.TimeoutExpired:
                self.kill()
                raise TestFailure("sluice did not exit within %.1fs of signal %d"
                                  % (timeout, sig))
        self.returncode = self.proc.returncode
        self._close()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self):
        if self in _running:
            _running.remove(self)
        f = getattr(self, "_logf", None)
        if f and not f.closed:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if self.alive():
            rc = self.stop()
            if et is None and rc != 0:
                raise TestFailure("sluice exited with %s on SIGTERM; log:\n%s"
                                  % (rc, self.log()))
        else:
            self._close()
        if et is None:
            bad = self.log_errors()
            if bad:
                raise TestFailure("errors in the sluice log:\n" + "\n".join(bad[:20]))
        return False

    # -- log --
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_errors(self, allow=()):
        """Lines of the log at [error]/[critical] level or from the sanitizers, except those
        matching any regex in allow."""
        out = []
        for line in self.log().splitlines():
            if ("][error]" in line or "][critical]" in line or "AddressSanitizer" in line
                    or "LeakSanitizer" in line or "ThreadSanitizer" in line
                    or "runtime error:" in line):
                if not any(re.search(a, line) for a in allow):
                    out.append(line)
        return out

    def wait_log(self, regex, timeout=5.0):
        """Waits until a log line matches regex; returns the match."""
        return wait_for(lambda: re.search(regex, self.log(), re.M), timeout,
                        what="log line /%s/" % regex)

    # -- admin --
    def admin(self, method, path, body=None, timeout=5.0):
        """(status, body bytes) of one admin request."""
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port,
                                       timeout=timeout * timeout_scale())
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def admin_get(self, path, timeout=5.0):
        return self.admin("GET", path, timeout=timeout)

    def admin_post(self, path, body=None, timeout=5.0):
        return self.admin("POST", path, body=body, timeout=timeout)

    def stats(self):
        """GET /stats parsed into {name: int}."""
        st, body = self.admin_get("/stats")
        if st != 200:
            raise TestFailure("/stats answered %d" % st)
        out = {}
        for line in body.decode().splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                try:
                    out[name] = int(value)
                except ValueError:
                    pass
        return out

    def stat(self, name, default=0):
        return self.stats().get(name, default)

    def wait_stat(self, name, pred, timeout=5.0):
        """Waits until pred(value of stat name) is true; returns the value."""
        box = {}

        def ok():
            box["v"] = self.stat(name)
            return pred(box["v"])
        wait_for(ok, timeout, what="stat %s" % name)
        return box["v"]

    def expect_stat(self, name, want, timeout=5.0):
        """Checks that stat name reaches want. A worker counts a response after writing it,
        so a client that has read the response may still see the old count for a moment."""
        try:
            self.wait_stat(name, lambda v: v == want, timeout)
        except TestFailure:
            raise TestFailure("stat %s is %r, expected %r" % (name, self.stat(name), want))


# ---- config helpers ---------------------------------------------------------------------------

def cluster_yaml(name, ports, lb_policy="ROUND_ROBIN", connect_timeout="1s",
                 host="127.0.0.1", type_="STATIC", extra=""):
    """A clusters[] entry (indented for static_resources.clusters) with one endpoint per
    port. extra is appended inside the cluster, already indented by 4 spaces."""
    eps = "".join(
        "\n        - endpoint:\n            address:\n              socket_address: "
        "{ address: %s, port_value: %d }" % (host, p) for p in ports)
    return ("  - name: %s\n    type: %s\n    connect_timeout: %s\n    lb_policy: %s\n"
            "    load_assignment:\n      cluster_name: %s\n      endpoints:\n      - lb_endpoints:%s\n%s"
            % (name, type_, connect_timeout, lb_policy, name, eps, extra))


def http_config(listen_port, upstream_ports, cluster="backend", lb_policy="ROUND_ROBIN",
                hcm_extra="", cluster_extra="", http_filters=None, connect_timeout="1s"):
    """A one-listener HTTP proxy config: every path to one cluster of 127.0.0.1 endpoints.
    upstream_ports is a port or a list. hcm_extra is inserted into the connection manager's
    typed_config (indent 10 spaces); http_filters, if given, is YAML for the filters before
    the router (indent 10, list items)."""
    if isinstance(upstream_ports, int):
        upstream_ports = [upstream_ports]
    filters = (http_filters or "") + (
        "          - name: envoy.filters.http.router\n"
        "            typed_config:\n"
        "              \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n")
    return """static_resources:
  listeners:
  - name: main
    address:
      socket_address: { address: 127.0.0.1, port_value: %d }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
%s          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: %s }
          http_filters:
%s  clusters:
%s""" % (listen_port, hcm_extra, cluster, filters,
         cluster_yaml(cluster, upstream_ports, lb_policy, connect_timeout, extra=cluster_extra))


def tcp_config(listen_port, upstream_ports, cluster="tcp_backend", stat_prefix="tcp",
               network_filters="", tcp_extra="", cluster_extra="", lb_policy="ROUND_ROBIN",
               connect_timeout="1s"):
    """A one-listener TCP proxy config. network_filters is YAML for filters before tcp_proxy
    (indent 6, list items); tcp_extra goes into tcp_proxy's typed_config (indent 10)."""
    if isinstance(upstream_ports, int):
        upstream_ports = [upstream_ports]
    return """static_resources:
  listeners:
  - name: tcp
    address:
      socket_address: { address: 127.0.0.1, port_value: %d }
    filter_chains:
    - filters:
%s      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: %s
          cluster: %s
%s  clusters:
%s""" % (listen_port, network_filters, stat_prefix, cluster, tcp_extra,
         cluster_yaml(cluster, upstream_ports, lb_policy, connect_timeout, extra=cluster_extra))


# ---- scripted upstream HTTP servers ----------------------------------------------------------
# A behaviour is a dict; build them with the helpers below. Upstream picks one per request by
# the longest matching path prefix set with on(), else its default.

def echo(status=200, headers=None):
    """Answers with a JSON object: method, path, version, headers (list of [name, value]),
    body (text, latin-1), connection (the client port, to tell connections apart), upstream
    (this server's name)."""
    return {"kind": "echo", "status": status, "headers": headers or {}}


def fixed(status=200, body=b"", headers=None):
    return {"kind": "fixed", "status": status, "body": _b(body), "headers": headers or {}}


def delay(seconds, then=None):
    """Waits, then behaves as `then` (default echo)."""
    return {"kind": "delay", "seconds": seconds, "then": then or echo()}


def chunked(chunks, status=200, headers=None, trailers=None):
    """Sends the body with Transfer-Encoding: chunked, one chunk per element (bytes/str)."""
    return {"kind": "chunked", "chunks": [_b(c) for c in chunks], "status": status,
            "headers": headers or {}, "trailers": trailers or {}}


def huge(total_bytes, chunk_bytes=65536, use_chunked=False):
    """Streams total_bytes of a repeating pattern (byte i is i % 251) with Content-Length
    (or chunked), never holding it whole."""
    return {"kind": "huge", "total": total_bytes, "chunk": chunk_bytes, "chunked": use_chunked}


def close_abruptly(after_bytes=b""):
    """Reads the request, writes after_bytes (maybe a partial response), then closes (RST)."""
    return {"kind": "close", "after": _b(after_bytes)}


def informational(code=100, then=None, headers=None):
    """Sends an interim 1xx response (e.g. 100 or 103) before behaving as `then`."""
    return {"kind": "1xx", "code": code, "then": then or echo(), "headers": headers or {}}


def _b(x):
    return x.encode("latin-1") if isinstance(x, str) else bytes(x)


def huge_pattern(offset, n):
    """Bytes offset..offset+n of the huge() pattern (for checking what arrived)."""
    return bytes((i % 251) for i in range(offset, offset + n))


class _UpstreamServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class Upstream:
    """A threaded HTTP/1.1 server on 127.0.0.1 (keep-alive), started by the constructor.

    Records every request as dicts in .requests (method, path, headers list, body bytes,
    connection port) and counts TCP connections in .connections_total. name appears in echo
    answers and in the x-upstream header of every response."""

    def __init__(self, default=None, name=None, port=0):
        self.default = default or echo()
        self.rules = []
        self.requests = []
        self.connections_total = 0
        self.lock = threading.Lock()
        self.server = _UpstreamServer(("127.0.0.1", port), self._handler_class())
        self.port = self.server.server_address[1]
        self.name = name or "upstream-%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        _upstreams.append(self)

    def on(self, path_prefix, behaviour):
        """Requests whose path starts with path_prefix get behaviour (longest prefix wins)."""
        with self.lock:
            self.rules.append((path_prefix, behaviour))
            self.rules.sort(key=lambda r: -len(r[0]))
        return self

    def pick(self, path):
        with self.lock:
            for prefix, b in self.rules:
                if path.startswith(prefix):
                    return b
        return self.default

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        if self in _upstreams:
            _upstreams.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    def _handler_class(self):
        up = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with up.lock:
                    up.connections_total += 1
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    while _serve_one(up, self.rfile, self.connection,
                                     self.client_address[1]):
                        pass
                except (OSError, ValueError):
                    pass

        return Handler


_upstreams = []


def _read_request(rfile):
    line = rfile.readline(65537)
    if not line:
        return None
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(65537)
        if not line:
            return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line %r" % line)
    method, path, version = parts
    headers = []
    while True:
        h = rfile.readline(65537)
        if not h or h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers.append([name.strip().lower(), value.strip()])
    hd = {}
    for n, v in headers:
        hd.setdefault(n, v)
    body = b""
    if "chunked" in hd.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = rfile.readline(65537)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers
                    t = rfile.readline(65537)
                    if not t or t in (b"\r\n", b"\n"):
                        break
                break
            chunks.append(rfile.read(size))
            rfile.readline(65537)
        body = b"".join(chunks)
    elif "content-length" in hd:
        body = rfile.read(int(hd["content-length"]))
    return {"method": method, "path": path, "version": version, "headers": headers,
            "hd": hd, "body": body}


def _serve_one(up, rfile, sock, client_port):
    """Handles one request on a connection; returns False when the connection should end."""
    req = _read_request(rfile)
    if req is None:
        return False
    req["connection"] = client_port
    with up.lock:
        up.requests.append({k: req[k] for k in ("method", "path", "headers", "body",
                                                "connection", "version")})
    keep = (req["version"] == "HTTP/1.1"
            and req["hd"].get("connection", "").lower() != "close")
    b = up.pick(req["path"])
    return _respond(up, b, req, sock, keep)


def _head(status, headers, up, keep, extra=()):
    lines = ["HTTP/1.1 %d %s" % (status, _reason(status)), "x-upstream: %s" % up.name]
    for k, v in headers.items():
        lines.append("%s: %s" % (k, v))
    lines.extend(extra)
    if not keep:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _respond(up, b, req, sock, keep):
    kind = b["kind"]
    head_only = req["method"] == "HEAD"
    if kind == "delay":
        time.sleep(b["seconds"])
        return _respond(up, b["then"], req, sock, keep)
    if kind == "1xx":
        lines = ["HTTP/1.1 %d %s" % (b["code"], _reason(b["code"]))]
        lines += ["%s: %s" % kv for kv in b["headers"].items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return _respond(up, b["then"], req, sock, keep)
    if kind == "close":
        if b["after"]:
            sock.sendall(b["after"])
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        sock.close()
        return False
    if kind in ("echo", "fixed"):
        if kind == "echo":
            body = json.dumps({"method": req["method"], "path": req["path"],
                               "version": req["version"], "headers": req["headers"],
                               "body": req["body"].decode("latin-1"),
                               "connection": req["connection"], "upstream": up.name}).encode()
            headers = dict(b["headers"])
            headers.setdefault("content-type", "application/json")
        else:
            body = b["body"]
            headers = dict(b["headers"])
        status = b["status"]
        no_body = head_only or status in (204, 304) or 100 <= status < 200
        extra = [] if status in (204, 304) else ["content-length: %d" % len(body)]
        sock.sendall(_head(status, headers, up, keep, extra) + (b"" if no_body else body))
        return keep
    if kind == "chunked":
        sock.sendall(_head(b["status"], b["headers"], up, keep, ["transfer-encoding: chunked"]))
        if not head_only:
            for c in b["chunks"]:
                if c:
                    sock.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
            trailer = "".join("%s: %s\r\n" % kv for kv in b["trailers"].items())
            sock.sendall(b"0\r\n" + trailer.encode("latin-1") + b"\r\n")
        return keep
    if kind == "huge":
        total, step = b["total"], b["chunk"]
        pattern = bytes(i % 251 for i in range(251 * ((step // 251) + 2)))
        if b["chunked"]:
            sock.sendall(_head(200, {}, up, keep, ["transfer-encoding: chunked"]))
        else:
            sock.sendall(_head(200, {}, up, keep, ["content-length: %d" % total]))
        if head_only:
            return keep
        sent = 0
        while sent < total:
            n = min(step, total - sent)
            off = sent % 251
            data = pattern[off:off + n]
            sock.sendall(b"%x\r\n" % n + data + b"\r\n" if b["chunked"] else data)
            sent += n
        if b["chunked"]:
            sock.sendall(b"0\r\n\r\n")
        return keep
    raise ValueError("unknown behaviour %r" % kind)


_REASONS = {100: "Continue", 101: "Switching Protocols", 103: "Early Hints", 200: "OK",
            201: "Created", 204: "No Content", 301: "Moved Permanently", 304: "Not Modified",
            400: "Bad Request", 404: "Not Found", 408: "Request Timeout",
            413: "Payload Too Large", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


def _reason(code):
    return _REASONS.get(code, "Status")


# ---- a TCP echo server (for TCP proxy tests) ---------------------------------------------------

class TcpEchoServer:
    """Echoes every byte back on each connection; prefix (bytes) is sent first on accept.
    Counts connections (.connections_total) and bytes received (.bytes_in)."""

    def __init__(self, prefix=b""):
        self.prefix = prefix
        self.connections_total = 0
        self.bytes_in = 0
        self.lock = threading.Lock()
        srv = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                with srv.lock:
                    srv.connections_total += 1
                try:
                    if srv.prefix:
                        self.request.sendall(srv.prefix)
                    while True:
                        d = self.request.recv(65536)
                        if not d:
                            break
                        with srv.lock:
                            srv.bytes_in += len(d)
                        self.request.sendall(d)
                except OSError:
                    pass

        self.server = _UpstreamServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        _upstreams.append(self)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        if self in _upstreams:
            _upstreams.remove(self)


# ---- clients ------------------------------------------------------------------------------------

class Response:
    """status (int), reason, headers (list of [lowercase name, value]), body (bytes),
    interim (list of earlier 1xx Responses)."""

    def __init__(self, status, reason, headers, body, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.version = version
        self.interim = []

    def header(self, name, default=None):
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return default

    def header_all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r %d bytes>" % (self.status, self.headers, len(self.body))


class RawConn:
    """A raw TCP client for exact bytes on the wire: send() anything, then read responses
    with read_response() (handles Content-Length, chunked, read-until-close and 1xx)."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout * timeout_scale())
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(_b(data))

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            return False
        self.buf += d
        return True

    def read_until(self, marker):
        while marker not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before %r (have %r)" % (marker, self.buf[:200]))
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed after %d of %d bytes" % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_all(self):
        """Everything until the peer closes."""
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        out, self.buf = self.buf, b""
        return out

    def closed_by_peer(self, timeout=2.0):
        """True when the peer closes (EOF or reset) within timeout with no more bytes."""
        self.sock.settimeout(timeout * timeout_scale())
        try:
            d = self.sock.recv(1)
            if d:
                self.buf += d
                return False
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def read_response(self, head_request=False, sink=None):
        """One response (interim 1xx responses are collected in .interim). With sink (a
        callable taking bytes), the body is passed to it chunk by chunk and not kept."""
        interim = []
        while True:
            head = self.read_until(b"\r\n\r\n").decode("latin-1")
            lines = head.split("\r\n")
            version, _, rest = lines[0].partition(" ")
            code, _, reason = rest.partition(" ")
            headers = []
            for l in lines[1:]:
                if l:
                    n, _, v = l.partition(":")
                    headers.append([n.strip().lower(), v.strip()])
            status = int(code)
            if 100 <= status < 200 and status != 101:
                interim.append(Response(status, reason, headers, b"", version))
                continue
            break
        r = Response(status, reason, headers, b"", version)
        r.interim = interim
        body = []
        keep = sink is None

        def put(d):
            if keep:
                body.append(d)
            else:
                sink(d)
        if head_request or status in (204, 304):
            pass
        elif "chunked" in (r.header("transfer-encoding") or "").lower():
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    trailers = self.read_until(b"\r\n")
                    while trailers != b"\r\n":
                        n, _, v = trailers.decode("latin-1").partition(":")
                        r.headers.append([n.strip().lower(), v.strip()])
                        trailers = self.read_until(b"\r\n")
                    break
                while size > 0:
                    if not self.buf and not self._fill():
                        raise EOFError("closed inside a chunk")
                    d = self.buf[:size]
                    self.buf = self.buf[len(d):]
                    size -= len(d)
                    put(d)
                self.read_until(b"\r\n")
        elif r.header("content-length") is not None:
            left = int(r.header("content-length"))
            while left > 0:
                if not self.buf and not self._fill():
                    raise EOFError("closed with %d body bytes missing" % left)
                d = self.buf[:left]
                self.buf = self.buf[len(d):]
                left -= len(d)
                put(d)
        else:
            put(self.read_all())
        r.body = b"".join(body)
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


def raw_request(port, data, timeout=5.0, head_request=False):
    """Sends data on a fresh connection and returns the first Response (or None if the
    connection closed with no answer)."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        try:
            return c.read_response(head_request=head_request)
        except (EOFError, ConnectionResetError):
            return None


def parse_response(data):
    """Parses response bytes already read (e.g. from read_all) into a list of Responses."""
    out = []

    class _Buf(RawConn):
        def __init__(self, b):
            self.buf = b

        def _fill(self):
            return False
    c = _Buf(data)
    while c.buf:
        out.append(c.read_response())
    return out


def http_request(port, method="GET", path="/", headers=None, body=None, timeout=5.0,
                 host="127.0.0.1", conn=None):
    """One request with http.client; returns a Response. Pass conn (an
    http.client.HTTPConnection) to reuse a keep-alive connection."""
    own = conn is None
    c = conn or http.client.HTTPConnection(host, port, timeout=timeout * timeout_scale())
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Response(r.status, r.reason, [[k.lower(), v] for k, v in r.getheaders()], data)
    finally:
        if own:
            c.close()


# ---- the test runner ------------------------------------------------------------------------------

class TestFailure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def check_eq(a, b, msg=""):
    if a != b:
        raise TestFailure("%r != %r %s" % (a, b, msg))


def check_in(item, container, msg=""):
    if item not in container:
        raise TestFailure("%r not in %r %s" % (item, container, msg))


_tests = []


def test(fn=None, timeout=60):
    """Decorator registering a test case (@test or @test(timeout=120)). Each case runs in
    order; sluice processes and upstreams it leaves running are stopped after it."""
    def reg(f):
        _tests.append((f.__name__, f, timeout))
        return f
    if fn is not None:
        return reg(fn)
    return reg


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def run(argv=None):
    """Runs the registered tests (those whose names contain an argument, if any). Prints
    "ok NAME" / "not ok NAME: why" per case and "N passed, N failed"; exits 1 on failure."""
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]).replace(".py", "")
    passed = failed = 0
    signal.signal(signal.SIGALRM, _alarm)
    for name, fn, tmo in _tests:
        if argv and not any(a in name for a in argv):
            continue
        start = time.monotonic()
        why = None
        signal.alarm(int(tmo * timeout_scale()))
        try:
            fn()
        except _Timeout:
            why = "timed out after %ds" % int(tmo * timeout_scale())
        except Exception as e:
            why = "%s: %s" % (type(e).__name__, e)
            if not isinstance(e, TestFailure):
                why += "\n" + traceback.format_exc()
        finally:
            signal.alarm(0)
        logs = []
        for s in list(_running):
            logs.append(s.log())
            s.kill()
        for u in list(_upstreams):
            try:
                u.close()
            except Exception:
                pass
        secs = time.monotonic() - start
        if why is None:
            passed += 1
            print("ok %s.%s (%.2fs)" % (prog, name, secs), flush=True)
        else:
            failed += 1
            print("not ok %s.%s: %s" % (prog, name, why.replace("\n", "\n    ")), flush=True)
            for l in logs:
                print("    --- sluice log of the failed case ---\n    "
                      + l[-4000:].replace("\n", "\n    "), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)
