# Upstream clusters seen through HTTP: keep-alive reuse of upstream connections, load
# balancing, connect failures and timeouts (503), passive health and circuit breakers.
import socket
import threading
import time

from harness import *


def parallel(fns):
    """Runs each fn in its own thread; returns their results (exceptions as values)."""
    out = [None] * len(fns)

    def run_one(i, fn):
        try:
            out[i] = fn()
        except Exception as e:  # returned, the test decides
            out[i] = e
    ts = [threading.Thread(target=run_one, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30 * timeout_scale())
    return out


@test
def keep_alive_reuses_one_upstream_connection():
    up = Upstream()
    port = free_port()
    with Sluice(http_config(port, up.port), concurrency=1) as s:
        for i in range(5):
            r = http_request(port, "GET", "/r%d" % i)
            check_eq(r.status, 200)
        check_eq(up.connections_total, 1)
        check_eq(len(up.requests), 5)
        stats = s.stats()
        check_eq(stats["cluster.backend.upstream_cx_total"], 1)
        check_eq(stats["cluster.backend.upstream_rq_total"], 5)
        check_eq(stats["cluster.backend.upstream_cx_reused"], 4)
        check_eq(stats["cluster.backend.upstream_cx_active"], 1)  # idle, kept


@test
def round_robin_alternates_endpoints():
    a, b = Upstream(name="A"), Upstream(name="B")
    port = free_port()
    with Sluice(http_config(port, [a.port, b.port]), concurrency=1):
        names = [http_request(port, "GET", "/").json()["upstream"] for _ in range(6)]
        check_eq(sorted(names), ["A"] * 3 + ["B"] * 3)
        check(all(names[i] != names[i + 1] for i in range(5)), names)
        # Each endpoint keeps its own keep-alive connection.
        check_eq((a.connections_total, b.connections_total), (1, 1))


@test
def least_request_avoids_the_busy_endpoint():
    a, b = Upstream(name="A"), Upstream(name="B")
    for u in (a, b):
        u.on("/slow", delay(1.5))
    port = free_port()
    with Sluice(http_config(port, [a.port, b.port], lb_policy="LEAST_REQUEST"),
                concurrency=1):
        box = {}
        t = threading.Thread(target=lambda: box.update(r=http_request(port, "GET", "/slow")))
        t.start()
        wait_for(lambda: len(a.requests) + len(b.requests) == 1, 5, what="slow request")
        busy = "A" if a.requests else "B"
        names = [http_request(port, "GET", "/fast").json()["upstream"] for _ in range(4)]
        check(all(n != busy for n in names), "went to the busy endpoint: %r" % names)
        t.join(10)
        check_eq(box["r"].status, 200)


@test
def random_uses_every_endpoint():
    a, b = Upstream(name="A"), Upstream(name="B")
    port = free_port()
    with Sluice(http_config(port, [a.port, b.port], lb_policy="RANDOM"), concurrency=1):
        names = {http_request(port, "GET", "/").json()["upstream"] for _ in range(40)}
        check_eq(names, {"A", "B"})


@test
def refused_connection_is_503_and_counted():
    port = free_port()
    dead = free_port()
    with Sluice(http_config(port, dead), concurrency=1) as s:
        r = http_request(port, "GET", "/")
        check_eq(r.status, 503)
        check(b"upstream connect error" in r.body or b"no healthy upstream" in r.body, r.body)
        s.expect_stat("cluster.backend.upstream_cx_connect_fail", 1)
        # Within the back-off the endpoint is not even tried.
        r = http_request(port, "GET", "/")
        check_eq(r.status, 503)
        check_in(b"no healthy upstream", r.body)
        s.expect_stat("cluster.backend.upstream_cx_connect_fail", 1)
        s.wait_stat("cluster.backend.upstream_cx_none_healthy", lambda v: v >= 1)


@test
def passive_health_routes_around_a_dead_endpoint():
    up = Upstream(name="live")
    port = free_port()
    dead = free_port()
    with Sluice(http_config(port, [dead, up.port]), concurrency=1) as s:
        for _ in range(10):
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            check_eq(r.json()["upstream"], "live")
        s.expect_stat("cluster.backend.upstream_cx_connect_fail", 1)


@test
def connect_timeout_is_503():
    # A listener whose accept queue is full drops SYNs: connects to it hang.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(lsock.getsockname())
        except BlockingIOError:
            pass
        fillers.append(f)
    time.sleep(0.1)
    port = free_port()
    try:
        cfg = http_config(port, lsock.getsockname()[1], connect_timeout="0.25s")
        with Sluice(cfg, concurrency=1) as s:
            start = time.monotonic()
            r = http_request(port, "GET", "/", timeout=10)
            took = time.monotonic() - start
            check_eq(r.status, 503)
            check(0.2 <= took < 5 * timeout_scale(), "503 after %.2fs" % took)
            s.expect_stat("cluster.backend.upstream_cx_connect_timeout", 1)
    finally:
        for f in fillers:
            f.close()
        lsock.close()


@test
def max_pending_requests_breaker_answers_503():
    up = Upstream(delay(1.0))
    port = free_port()
    extra = ("    circuit_breakers:\n      thresholds:\n      - max_connections: 1\n"
             "        max_pending_requests: 1\n")
    with Sluice(http_config(port, up.port, cluster_extra=extra), concurrency=1) as s:
        rs = parallel([lambda i=i: http_request(port, "GET", "/%d" % i, timeout=10)
                       for i in range(4)])
        codes = sorted(r.status for r in rs if isinstance(r, Response))
        check_eq(len(codes), 4, rs)
        check(codes.count(503) >= 1 and codes.count(200) >= 1, codes)
        s.wait_stat("cluster.backend.upstream_rq_pending_overflow", lambda v: v >= 1)
        check(up.connections_total <= 1, "opened %d connections over max_connections 1"
              % up.connections_total)


@test
def max_requests_breaker_answers_503():
    up = Upstream(delay(1.0))
    port = free_port()
    extra = "    circuit_breakers:\n      thresholds:\n      - max_requests: 1\n"
    with Sluice(http_config(port, up.port, cluster_extra=extra), concurrency=1) as s:
        box = {}
        t = threading.Thread(target=lambda: box.update(r=http_request(port, "GET", "/a")))
        t.start()
        wait_for(lambda: len(up.requests) == 1, 5, what="first request upstream")
        r = http_request(port, "GET", "/b")
        check_eq(r.status, 503)
        t.join(10)
        check_eq(box["r"].status, 200)
        s.wait_stat("cluster.backend.upstream_rq_pending_overflow", lambda v: v >= 1)


@test
def strict_dns_cluster_resolves_localhost():
    up = Upstream()
    port = free_port()
    cfg = http_config(port, up.port).replace("type: STATIC", "type: STRICT_DNS").replace(
        "address: 127.0.0.1, port_value: %d" % up.port, "address: localhost, port_value: %d"
        % up.port)
    with Sluice(cfg, concurrency=1):
        r = http_request(port, "GET", "/dns")
        check_eq(r.status, 200)
        check_eq(r.json()["path"], "/dns")


class OneShotUpstream:
    """Answers one keep-alive request per connection, then (after `after` seconds) either
    closes the connection or, with stray=True, writes unsolicited bytes on it. Counts the
    connections it accepted."""

    def __init__(self, after=0.2, stray=False):
        self.connections = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.after, self.stray = after, stray
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except OSError:
                continue
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5 * timeout_scale())
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            time.sleep(self.after)
            if self.stray:
                c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray")
                time.sleep(1.0)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.srv.close()


@test
def idle_upstream_close_is_noticed_before_reuse():
    for stray in (False, True):
        up = OneShotUpstream(after=0.1, stray=stray)
        port = free_port()
        try:
            with Sluice(http_config(port, up.port), concurrency=1) as s:
                check_eq(http_request(port, "GET", "/one").status, 200)
                # The idle connection is dropped as soon as the upstream closes it or
                # speaks out of turn, not when the next request would have used it.
                s.wait_stat("cluster.backend.upstream_cx_close_notify", lambda v: v == 1)
                r = http_request(port, "GET", "/two")
                check_eq(r.status, 200)
                check_eq(r.body, b"ok")
                check_eq(up.connections, 2)
                s.expect_stat("cluster.backend.upstream_cx_reused", 0)
        finally:
            up.close()


@test
def connection_idle_across_sweeps_is_reused():
    # An idle pooled connection gives back its buffers after a sweep period; it must still
    # serve the next request (and more than a buffer's worth of body) unharmed.
    up = Upstream()
    up.on("/big", huge(300000))
    port = free_port()
    with Sluice(http_config(port, up.port), concurrency=1) as s:
        check_eq(http_request(port, "GET", "/a").status, 200)
        time.sleep(2.5)
        r = http_request(port, "GET", "/big")
        check_eq(r.status, 200)
        check_eq(r.body, huge_pattern(0, 300000))
        time.sleep(2.5)
        check_eq(http_request(port, "GET", "/c").status, 200)
        check_eq(up.connections_total, 1)
        s.expect_stat("cluster.backend.upstream_cx_reused", 2)


if __name__ == "__main__":
    run()
