# Integration tests of the HTTP path: downstream HTTP/1.1 through the connection manager,
# filter chain and router to real upstream servers, and the response back.
import http.client
import os
import re
import socket
import threading
import time

from harness import *


def hcm_config(port, clusters, vhosts, http_filters="", hcm_extra="", listener_extra=""):
    """A full one-listener config. clusters: {name: [ports]}; vhosts: YAML for
    route_config.virtual_hosts list items (indent 12); http_filters: YAML list items before
    the router (indent 10)."""
    cl = "".join(cluster_yaml(n, p) for n, p in clusters.items())
    return """static_resources:
  listeners:
  - name: main
    address:
      socket_address: { address: 127.0.0.1, port_value: %d }
%s    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
%s          route_config:
            virtual_hosts:
%s          http_filters:
%s          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
%s""" % (port, listener_extra, hcm_extra, vhosts, http_filters, cl)


def one_route(cluster="backend", extra_route=""):
    return """            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: %s%s }
""" % (cluster, extra_route)


def simple(port, up_port, **kw):
    return hcm_config(port, {"backend": [up_port]}, one_route(), **kw)


def hdr(echo_json, name):
    for n, v in echo_json["headers"]:
        if n == name:
            return v
    return None


def under_asan():
    return "/asan/" in sluice_bin()


def check_rss(s, what):
    """Peak RSS of the proxy must stay far below a 100 MiB body (the sanitizer build keeps
    freed memory in quarantine, so there it is only printed)."""
    peak = rss_kb(s.pid)
    print("    %s: sluice peak RSS %d KiB" % (what, peak))
    if not under_asan():
        check(peak < 40 * 1024, "sluice peak RSS %d KiB" % peak)


def rss_kb(pid, key="VmHWM"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# ---- the basic flow -------------------------------------------------------------------------

@test
def get_is_proxied_with_forwarding_headers():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        r = http_request(port, "GET", "/hello?x=1", headers={"X-Custom": "a"})
        check_eq(r.status, 200)
        j = r.json()
        check_eq(j["method"], "GET")
        check_eq(j["path"], "/hello?x=1")
        check_eq(hdr(j, "x-custom"), "a")
        check_eq(hdr(j, "host"), "127.0.0.1:%d" % port)
        check_eq(hdr(j, "x-forwarded-for"), "127.0.0.1")
        check_eq(hdr(j, "x-forwarded-proto"), "http")
        rid = hdr(j, "x-request-id")
        check(rid is not None and re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4", rid), "x-request-id %r" % rid)
        check_eq(r.header("x-upstream"), up.name)


@test
def existing_request_id_and_xff_are_kept_and_appended():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        r = http_request(port, "GET", "/", headers={"x-request-id": "abc",
                                                    "x-forwarded-for": "10.1.2.3"})
        j = r.json()
        check_eq(hdr(j, "x-request-id"), "abc")
        check_eq(hdr(j, "x-forwarded-for"), "10.1.2.3, 127.0.0.1")


@test
def hop_by_hop_headers_are_removed():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("GET /h HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-secret\r\n"
                   "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\n"
                   "TE: trailers\r\nX-Kept: yes\r\n\r\n")
            r = c.read_response()
        j = r.json()
        names = [n for n, v in j["headers"]]
        for h in ("x-secret", "keep-alive", "proxy-connection", "te"):
            check(h not in names, "%s forwarded: %r" % (h, names))
        check_eq(hdr(j, "x-kept"), "yes")


@test
def post_body_with_content_length():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        r = http_request(port, "POST", "/p", body=b"hello body")
        check_eq(r.status, 200)
        check_eq(r.json()["body"], "hello body")
        check_eq(up.requests[-1]["body"], b"hello body")


@test
def keep_alive_reuses_both_connections():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port), concurrency=1) as s:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        ports = set()
        for i in range(5):
            r = http_request(port, "GET", "/k%d" % i, conn=c)
            check_eq(r.status, 200)
            ports.add(r.json()["connection"])
        c.close()
        check_eq(len(ports), 1, "upstream connections used: %r" % ports)
        check_eq(up.connections_total, 1)
        s.expect_stat("http.ingress.downstream_cx_total", 1)
        s.expect_stat("http.ingress.downstream_rq_2xx", 5)


@test
def chunked_request_body_is_forwarded():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            r = c.read_response()
        check_eq(r.status, 200)
        check_eq(r.json()["body"], "hello world")


@test
def chunked_response_with_trailers_is_streamed():
    up = Upstream(chunked(["abc", "defg", "h" * 5000], trailers={"x-checksum": "42"}))
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("GET /t HTTP/1.1\r\nHost: a\r\n\r\n")
            r = c.read_response()
        check_eq(r.status, 200)
        check_eq(r.body, b"abcdefg" + b"h" * 5000)
        check_eq(r.header("transfer-encoding"), "chunked")
        check_eq(r.header("x-checksum"), "42")


@test
def http10_client_gets_close_delimited_or_length():
    up = Upstream(chunked(["one", "two"]))
    up.on("/fixed", fixed(200, b"fixedbody"))
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("GET /fixed HTTP/1.0\r\n\r\n")
            r = c.read_response()
            check_eq(r.status, 200)
            check_eq(r.body, b"fixedbody")
            check(c.closed_by_peer(), "HTTP/1.0 without keep-alive must close")
        with RawConn(port) as c:
            c.send("GET /chunk HTTP/1.0\r\n\r\n")
            data = c.read_all()
            check(b"transfer-encoding" not in data.lower(), "chunked sent to HTTP/1.0: %r" % data)
            check(data.endswith(b"onetwo"), "body %r" % data)
        with RawConn(port) as c:
            c.send("GET /fixed HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            check_eq(r.body, b"fixedbody")
            check_eq((r.header("connection") or "").lower(), "keep-alive")
            c.send("GET /fixed HTTP/1.0\r\n\r\n")
            r = c.read_response()
            check_eq(r.body, b"fixedbody")


@test
def head_response_has_no_body():
    up = Upstream(fixed(200, b"0123456789"))
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n")
            r = c.read_response(head_request=True)
            check_eq(r.status, 200)
            check_eq(r.header("content-length"), "10")
            # The connection stays usable: the next response starts right away.
            c.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            r = c.read_response()
            check_eq(r.body, b"0123456789")


@test
def expect_100_continue_gets_interim_response():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                   "Expect: 100-continue\r\n\r\n")
            head = c.read_until(b"\r\n\r\n")
            check(head.startswith(b"HTTP/1.1 100"), "interim %r" % head)
            c.send("data")
            r = c.read_response()
            check_eq(r.status, 200)
            j = r.json()
            check_eq(j["body"], "data")
            check(hdr(j, "expect") is None, "expect forwarded")


@test
def pipelined_requests_are_answered_in_order():
    up = Upstream()
    up.on("/slow", delay(0.3))
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("GET /slow/1 HTTP/1.1\r\nHost: a\r\n\r\n"
                   "GET /fast/2 HTTP/1.1\r\nHost: a\r\n\r\n"
                   "POST /fast/3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                   "GET /slow/4 HTTP/1.1\r\nHost: a\r\n\r\n")
            paths = [c.read_response().json()["path"] for _ in range(4)]
        check_eq(paths, ["/slow/1", "/fast/2", "/fast/3", "/slow/4"])


@test
def access_log_line_per_request():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        http_request(port, "GET", "/logged/path")
        m = s.wait_log(r'"GET /logged/path HTTP/1.1" 200 - 0 \d+ \d+ "127\.0\.0\.1:%d"' % up.port)
        check(m is not None)


# ---- routing ----------------------------------------------------------------------------------

ROUTES = """            - name: api
              domains: ["api.example.com"]
              routes:
              - match: { path: "/exact" }
                route: { cluster: a }
              - match: { safe_regex: { regex: "/items/[0-9]+" } }
                route: { cluster: b }
              - match:
                  prefix: "/v1/"
                  headers:
                  - name: x-canary
                    string_match: { exact: "yes" }
                route: { cluster: b }
              - match: { prefix: "/v1/" }
                route: { cluster: a, prefix_rewrite: "/api/", host_rewrite_literal: backend.internal }
              - match: { prefix: "/direct" }
                direct_response: { status: 418, body: { inline_string: "teapot here" } }
            - name: wild
              domains: ["*.example.com"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: b }
            - name: pre
              domains: ["www.*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: a }
"""


@test
def routing_by_domain_path_regex_and_headers():
    a = Upstream(name="A")
    b = Upstream(name="B")
    port = free_port()
    with Sluice(hcm_config(port, {"a": [a.port], "b": [b.port]}, ROUTES)) as s:
        def who(path, host, headers=None):
            h = {"Host": host}
            h.update(headers or {})
            r = http_request(port, "GET", path, headers=h)
            return r.status, r.header("x-upstream"), r
        check_eq(who("/exact", "api.example.com")[:2], (200, "A"))
        check_eq(who("/exact?q=1", "api.example.com")[:2], (200, "A"))
        check_eq(who("/items/77", "api.example.com")[:2], (200, "B"))
        check_eq(who("/items/77x", "api.example.com")[0], 404)
        check_eq(who("/v1/x", "api.example.com", {"x-canary": "yes"})[:2], (200, "B"))
        st, u, r = who("/v1/users?id=1", "api.example.com:80")
        check_eq((st, u), (200, "A"))
        j = r.json()
        check_eq(j["path"], "/api/users?id=1")
        check_eq(hdr(j, "host"), "backend.internal")
        check_eq(who("/anything", "foo.example.com")[:2], (200, "B"))
        check_eq(who("/anything", "www.other.org")[:2], (200, "A"))
        check_eq(who("/anything", "nowhere.org")[0], 404)
        st, u, r = who("/direct", "api.example.com")
        check_eq(st, 418)
        check_eq(r.body, b"teapot here")
        check_eq(len(a.requests) + len(b.requests), 7)


# ---- native filter ------------------------------------------------------------------------------

ADD_HEADERS = """          - name: sluice.filters.http.add_header
            typed_config:
              "@type": type.googleapis.com/sluice.filters.http.add_header.v1.AddHeader
              header: x-added-request
              value: req-value
          - name: sluice.filters.http.add_header
            typed_config:
              "@type": type.googleapis.com/sluice.filters.http.add_header.v1.AddHeader
              header: x-added-response
              value: resp-value
              response: true
"""


@test
def add_header_filter_on_both_paths():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port, http_filters=ADD_HEADERS)) as s:
        r = http_request(port, "GET", "/f", headers={"x-added-request": "client"})
        check_eq(r.status, 200)
        check_eq(hdr(r.json(), "x-added-request"), "req-value")
        check_eq(r.header("x-added-response"), "resp-value")
        # Local replies pass through the encode path too.
        r = http_request(port, "GET", "/f", headers={"Host": "x"})
        check_eq(r.header("x-added-response"), "resp-value")


# ---- errors -----------------------------------------------------------------------------------

BAD_REQUESTS = [
    ("garbage", "HELLO\r\n\r\n"),
    ("cl_and_te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("two_cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    ("bad_chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"),
    ("nul_in_header", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n"),
    ("bare_lf_cr", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n"),
    ("space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
]


@test
def malformed_requests_get_400_and_close():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        for name, data in BAD_REQUESTS:
            with RawConn(port) as c:
                c.send(data)
                r = c.read_response()
                check_eq(r.status, 400, name)
                check(c.closed_by_peer(), "%s: connection left open" % name)
        check_eq(len(up.requests), 0, "a malformed request reached the upstream")


@test
def header_limits_give_431():
    up = Upstream()
    port = free_port()
    with Sluice(simple(port, up.port, hcm_extra="          max_request_headers_kb: 2\n")) as s:
        with RawConn(port) as c:
            c.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n" % ("v" * 4000))
            r = c.read_response()
            check_eq(r.status, 431)
            check(c.closed_by_peer())
        with RawConn(port) as c:
            c.send("GET / HTTP/1.1\r\nHost: a\r\n" + "".join("X-%d: v\r\n" % i for i in range(150))
                   + "\r\n")
            r = c.read_response()
            check_eq(r.status, 431)
        # Under the limit still works.
        r = http_request(port, "GET", "/ok", headers={"X-Small": "v" * 1000})
        check_eq(r.status, 200)


@test
def slow_headers_get_408():
    up = Upstream()
    port = free_port()
    cfg = simple(port, up.port, hcm_extra="          request_headers_timeout: 0.3s\n")
    with Sluice(cfg) as s:
        with RawConn(port) as c:
            c.send("GET / HTTP/1.1\r\nHost: a\r\n")
            t0 = time.monotonic()
            r = c.read_response()
            check_eq(r.status, 408)
            check(time.monotonic() - t0 < 3.0 * timeout_scale())
            check(c.closed_by_peer())
        # A connection with no bytes at all is not a request: no 408 for an idle client.
        r = http_request(port, "GET", "/fine")
        check_eq(r.status, 200)


@test
def connect_failure_gives_503():
    port = free_port()
    dead = free_port()  # nothing listens there
    with Sluice(simple(port, dead)) as s:
        r = http_request(port, "GET", "/")
        check_eq(r.status, 503)
        check(len(r.body) > 0 and len(r.body) < 200, "short body: %r" % r.body)


@test
def upstream_reset_before_response_gives_503():
    up = Upstream(close_abruptly())
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        r = http_request(port, "GET", "/")
        check_eq(r.status, 503)
        r = http_request(port, "GET", "/")
        check_eq(r.status, 503)


@test
def route_timeout_gives_504():
    # The upstream answers well after the bound, so a reply within it is the route timeout's.
    bound = 1.8 * timeout_scale()
    up = Upstream(delay(bound + 2.0))
    port = free_port()
    cfg = hcm_config(port, {"backend": [up.port]}, one_route(extra_route=", timeout: 0.3s"))
    with Sluice(cfg) as s:
        t0 = time.monotonic()
        r = http_request(port, "GET", "/slow")
        check_eq(r.status, 504)
        check(time.monotonic() - t0 < bound, "took %.2fs" % (time.monotonic() - t0))
        check_eq(r.body, b"upstream request timeout")


@test
def route_timeout_on_a_reused_upstream_connection():
    # The route timer lives with the pooled connection: a finished request's timer must not
    # fire into the next one, and each request on the connection gets its own.
    bound = 1.3 * timeout_scale()
    up = Upstream()
    up.on("/slow", delay(bound + 2.0))
    port = free_port()
    cfg = hcm_config(port, {"backend": [up.port]}, one_route(extra_route=", timeout: 0.5s"))
    with Sluice(cfg, concurrency=1) as s:
        with RawConn(port) as c:
            for i in range(3):
                c.send("GET /fast%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                check_eq(c.read_response().status, 200)
                time.sleep(0.3)
            time.sleep(0.4)  # longer than the timeout since the last request began
            c.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            check_eq(c.read_response().status, 200)
            t0 = time.monotonic()
            c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            check_eq(r.status, 504)
            check(time.monotonic() - t0 < bound, "took %.2fs" % (time.monotonic() - t0))
        s.expect_stat("cluster.backend.upstream_cx_total", 1)
        s.expect_stat("cluster.backend.upstream_cx_reused", 4)


@test
def interim_1xx_from_upstream_is_absorbed():
    up = Upstream(informational(103, headers={"link": "</a>"}))
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        r = http_request(port, "GET", "/i")
        check_eq(r.status, 200)
        check_eq(r.json()["path"], "/i")


# ---- big bodies ---------------------------------------------------------------------------------

@test(timeout=120)
def one_mib_bodies_both_ways():
    up = Upstream(huge(1 << 20))
    up.on("/echo", echo())
    port = free_port()
    with Sluice(simple(port, up.port)) as s:
        with RawConn(port) as c:
            c.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
            r = c.read_response()
            check_eq(len(r.body), 1 << 20)
            check(r.body == huge_pattern(0, 1 << 20), "body differs")
        body = bytes(i % 253 for i in range(1 << 20))
        r = http_request(port, "POST", "/echo", body=body, timeout=30)
        check_eq(r.status, 200)
        check(r.json()["body"].encode("latin-1") == body, "uploaded body differs")


@test(timeout=300)
def hundred_mib_download_streams_with_bounded_memory():
    total = 100 << 20
    up = Upstream(huge(total, chunk_bytes=256 * 1024))
    port = free_port()
    cfg = hcm_config(port, {"backend": [up.port]}, one_route(extra_route=", timeout: 0s"))
    with Sluice(cfg, concurrency=1) as s:
        got = [0]
        ok = [True]

        def sink(d):
            if ok[0] and d != huge_pattern(got[0], len(d)):
                ok[0] = False
            got[0] += len(d)
        with RawConn(port, timeout=60) as c:
            c.send("GET /huge HTTP/1.1\r\nHost: a\r\n\r\n")
            r = c.read_response(sink=sink)
        check_eq(r.status, 200)
        check_eq(got[0], total)
        check(ok[0], "bytes differ")
        check_rss(s, "100 MiB download")


@test(timeout=300)
def hundred_mib_upload_streams_with_bounded_memory():
    total = 100 << 20
    port = free_port()
    # A sink upstream that counts the body and answers with the count.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    got = {}

    def serve():
        conn, _ = srv.accept()
        f = conn.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += f.read(1)
        n = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
        left = n
        while left:
            d = f.read(min(left, 1 << 20))
            if not d:
                break
            left -= len(d)
        got["n"] = n - left
        body = b"%d" % got["n"]
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        conn.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cfg = hcm_config(port, {"backend": [srv.getsockname()[1]]},
                     one_route(extra_route=", timeout: 0s"))
    with Sluice(cfg, concurrency=1) as s:
        with RawConn(port, timeout=60) as c:
            c.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % total)
            block = bytes(1 << 20)
            for _ in range(100):
                c.sock.sendall(block)
            r = c.read_response()
        check_eq(r.status, 200)
        check_eq(r.body, b"%d" % total)
        check_rss(s, "100 MiB upload")
    srv.close()


if __name__ == "__main__":
    run()
