# Integration tests of protocol switches (HTTP/1.1 Upgrade, e.g. WebSocket) through the proxy:
# the upstream answers 101 and both directions become raw byte tunnels until a side closes.
import socket
import socketserver
import threading

from harness import *


class SwitchingUpstream:
    """An upstream that reads one request head and then, per `mode`:
    "switch"  answers 101 (Upgrade: echo-type), sends b"hello\\n" and echoes every byte until
              the client side closes (then records that it saw the close);
    "switch-then-close"  answers 101, sends b"bye\\n" and closes;
    "decline" answers 200 with a body and keeps the connection for more requests.
    Every head it read is kept in .heads (bytes)."""

    def __init__(self, mode="switch"):
        self.mode = mode
        self.heads = []
        self.saw_close = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _serve(self, sock):
        sock.settimeout(10 * timeout_scale())
        buf = b""
        try:
            for _ in range(100):  # requests on this connection (bounded)
                while b"\r\n\r\n" not in buf:
                    d = sock.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                if self.mode == "decline":
                    sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ndeclined")
                    continue
                sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo-type\r\n"
                             b"Connection: Upgrade\r\n\r\n")
                if self.mode == "switch-then-close":
                    sock.sendall(b"bye\n")
                    return
                sock.sendall(b"hello\n")
                if buf:
                    sock.sendall(buf)
                for _ in range(10000):  # echo chunks (bounded)
                    d = sock.recv(65536)
                    if not d:
                        self.saw_close.set()
                        return
                    sock.sendall(d)
                return
        except OSError:
            return
        finally:
            sock.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


UPGRADES = "          upgrade_configs:\n          - upgrade_type: echo-type\n"
REQ = ("GET /chat HTTP/1.1\r\nHost: example\r\nUpgrade: echo-type\r\n"
       "Connection: keep-alive, Upgrade\r\n\r\n")


def read_101(c):
    head = c.read_until(b"\r\n\r\n").decode("latin-1")
    lines = head.split("\r\n")
    check(lines[0].startswith("HTTP/1.1 101"), "status line %r" % lines[0])
    hdrs = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
            for l in lines[1:] if ":" in l}
    return hdrs


@test
def upgrade_tunnels_bytes_both_ways():
    up = SwitchingUpstream("switch")
    port = free_port()
    try:
        with Sluice(http_config(port, up.port, hcm_extra=UPGRADES)) as s:
            with RawConn(port) as c:
                # Bytes sent right after the head wait for the switch, then go through.
                c.send(REQ + "early")
                hdrs = read_101(c)
                check_eq(hdrs.get("upgrade"), "echo-type")
                check_eq(hdrs.get("connection", "").lower(), "upgrade")
                check("content-length" not in hdrs and "transfer-encoding" not in hdrs,
                      "no framing on a 101: %r" % hdrs)
                check_eq(c.read_exact(6), b"hello\n")
                check_eq(c.read_exact(5), b"early")
                for i in range(20):
                    msg = b"ping %d " % i + bytes(range(256)) * 4
                    c.send(msg)
                    check_eq(c.read_exact(len(msg)), msg)
                big = bytes(i % 251 for i in range(1 << 20))
                t = threading.Thread(target=c.send, args=(big,), daemon=True)
                t.start()
                check_eq(c.read_exact(len(big)), big)
                t.join(10 * timeout_scale())
            wait_for(up.saw_close.is_set, what="the upstream to see the client's close")
            head = up.heads[0].decode("latin-1").lower()
            check_in("upgrade: echo-type", head)
            check_in("connection: upgrade", head)
            check_eq(s.log_errors(), [])
    finally:
        up.close()


@test
def upstream_closing_ends_the_tunnel():
    up = SwitchingUpstream("switch-then-close")
    port = free_port()
    try:
        with Sluice(http_config(port, up.port, hcm_extra=UPGRADES)):
            with RawConn(port) as c:
                c.send(REQ)
                read_101(c)
                check_eq(c.read_all(), b"bye\n")
    finally:
        up.close()


@test
def upgrade_not_configured_is_403_and_closes():
    up = SwitchingUpstream("switch")
    port = free_port()
    try:
        with Sluice(http_config(port, up.port)) as s:
            with RawConn(port) as c:
                c.send(REQ)
                r = c.read_response()
                check_eq(r.status, 403)
                check_eq(r.header("connection"), "close")
                check(c.closed_by_peer(), "connection closed after the 403")
            check_eq(up.heads, [])
            s.expect_stat("http.ingress.downstream_rq_ws_on_non_ws_route", 1)
    finally:
        up.close()


@test
def route_can_disable_an_upgrade():
    up = SwitchingUpstream("switch")
    port = free_port()
    cfg = http_config(port, up.port, hcm_extra=UPGRADES).replace(
        "route: { cluster: backend }",
        "route: { cluster: backend, upgrade_configs: [{ upgrade_type: Echo-Type, "
        "enabled: false }] }")
    try:
        with Sluice(cfg):
            with RawConn(port) as c:
                c.send(REQ)
                check_eq(c.read_response().status, 403)
            check_eq(up.heads, [])
    finally:
        up.close()


@test
def declined_upgrade_is_a_plain_exchange():
    up = SwitchingUpstream("decline")
    port = free_port()
    try:
        with Sluice(http_config(port, up.port, hcm_extra=UPGRADES)):
            with RawConn(port) as c:
                c.send(REQ)
                r = c.read_response()
                check_eq(r.status, 200)
                check_eq(r.body, b"declined")
                check(r.header("upgrade") is None, "no Upgrade on a declined switch")
                # The connection stays an HTTP connection.
                c.send("GET /again HTTP/1.1\r\nHost: example\r\n\r\n")
                check_eq(c.read_response().body, b"declined")
    finally:
        up.close()


@test
def connect_is_501_and_closes():
    up = SwitchingUpstream("switch")
    port = free_port()
    try:
        with Sluice(http_config(port, up.port, hcm_extra=UPGRADES)):
            with RawConn(port) as c:
                c.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
                       "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
                r = c.read_response()
                check_eq(r.status, 501)
                check(c.closed_by_peer(), "connection closed after the 501")
            check_eq(up.heads, [])
    finally:
        up.close()


if __name__ == "__main__":
    run()
