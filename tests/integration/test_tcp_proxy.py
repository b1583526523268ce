# TCP proxying through the real binary: relaying both ways, large transfers with backpressure,
# half-close, upstream failures, idle timeout, balancing, breakers and the byte_count filter.
import os
import re
import socket
import threading
import time

from harness import *

BYTE_COUNT = """      - name: sluice.filters.network.byte_count
        typed_config:
          "@type": type.googleapis.com/sluice.filters.network.byte_count.v1.ByteCount
          stat_prefix: bc
"""


def connect(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=5 * timeout_scale())
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def recv_exact(c, n):
    out = bytearray()
    while len(out) < n:
        d = c.recv(min(65536, n - len(out)))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += d
    return bytes(out)


def closed_soon(c, timeout=3.0):
    """True when the peer closes c (EOF or reset) within timeout."""
    c.settimeout(timeout * timeout_scale())
    try:
        return c.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@test
def relays_bytes_both_ways():
    up = TcpEchoServer()
    port = free_port()
    with Sluice(tcp_config(port, up.port)) as s:
        c = connect(port)
        for msg in (b"hello", b"x" * 1000, bytes(range(256))):
            c.sendall(msg)
            check_eq(recv_exact(c, len(msg)), msg)
        c.close()
        s.wait_stat("tcp.tcp.downstream_cx_total", lambda v: v == 1)
        s.expect_stat("tcp.tcp.downstream_cx_rx_bytes_total", 5 + 1000 + 256)
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)


@test
def many_concurrent_connections():
    up = TcpEchoServer()
    port = free_port()
    with Sluice(tcp_config(port, up.port), concurrency=2) as s:
        conns = [connect(port) for _ in range(40)]
        for i, c in enumerate(conns):
            c.sendall(b"conn %d\n" % i)
        for i, c in enumerate(conns):
            check_eq(recv_exact(c, len(b"conn %d\n" % i)), b"conn %d\n" % i)
        for c in conns:
            c.close()
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)
        s.expect_stat("tcp.tcp.downstream_cx_total", 40)
        check_eq(up.connections_total, 40)


@test(timeout=120)
def large_transfer_with_backpressure_keeps_every_byte():
    up = TcpEchoServer()
    port = free_port()
    total = 16 * 1024 * 1024
    data = os.urandom(1024 * 1024)
    with Sluice(tcp_config(port, up.port)) as s:
        c = connect(port)
        got = bytearray()
        err = []

        def reader():
            try:
                while len(got) < total:
                    d = c.recv(1 << 16)
                    if not d:
                        break
                    got.extend(d)
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=reader)
        t.start()
        for _ in range(total // len(data)):
            c.sendall(data)
        t.join(60 * timeout_scale())
        check(not err, "reader failed: %r" % err)
        check_eq(len(got), total)
        check(bytes(got[:len(data)]) == data and bytes(got[-len(data):]) == data,
              "bytes changed on the way")
        c.close()
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)


@test
def client_half_close_reaches_upstream_and_ends_session():
    up = TcpEchoServer()
    port = free_port()
    with Sluice(tcp_config(port, up.port)) as s:
        c = connect(port)
        c.sendall(b"last words")
        c.shutdown(socket.SHUT_WR)
        # The echo server answers, sees EOF and closes; the proxy passes both on.
        check_eq(recv_exact(c, 10), b"last words")
        check(closed_soon(c), "session not closed after both sides finished")
        c.close()
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)


@test
def upstream_down_closes_the_client():
    port = free_port()
    dead = free_port()
    with Sluice(tcp_config(port, dead)) as s:
        c = connect(port)
        check(closed_soon(c), "client connection left open with no upstream")
        c.close()
        s.wait_stat("tcp.tcp.upstream_connect_fail", lambda v: v >= 1)
        s.wait_stat("cluster.tcp_backend.upstream_cx_connect_fail", lambda v: v >= 1)


@test
def dead_endpoint_is_skipped_after_it_refuses():
    up = TcpEchoServer()
    port = free_port()
    dead = free_port()
    with Sluice(tcp_config(port, [dead, up.port]), concurrency=1) as s:
        for i in range(10):
            c = connect(port)
            c.sendall(b"ping")
            check_eq(recv_exact(c, 4), b"ping")
            c.close()
        # One refusal, then the back-off keeps the dead endpoint out.
        s.expect_stat("cluster.tcp_backend.upstream_cx_connect_fail", 1)
        check_eq(up.connections_total, 10)


@test
def round_robin_spreads_connections():
    a = TcpEchoServer(prefix=b"A")
    b = TcpEchoServer(prefix=b"B")
    port = free_port()
    with Sluice(tcp_config(port, [a.port, b.port]), concurrency=1):
        seen = []
        for _ in range(6):
            c = connect(port)
            seen.append(recv_exact(c, 1))
            c.close()
        check_eq(sorted(seen), [b"A"] * 3 + [b"B"] * 3)
        check(seen[0] != seen[1], "not alternating: %r" % seen)


@test
def idle_timeout_closes_quiet_sessions():
    up = TcpEchoServer()
    port = free_port()
    cfg = tcp_config(port, up.port, tcp_extra="          idle_timeout: 0.5s\n")
    with Sluice(cfg) as s:
        c = connect(port)
        c.sendall(b"hi")
        check_eq(recv_exact(c, 2), b"hi")
        start = time.monotonic()
        check(closed_soon(c, 5), "idle session not closed")
        check(time.monotonic() - start >= 0.3, "closed too early")
        s.wait_stat("tcp.tcp.idle_timeout", lambda v: v == 1)


@test
def max_connections_breaker_refuses_extra_sessions():
    up = TcpEchoServer()
    port = free_port()
    extra = ("    circuit_breakers:\n      thresholds:\n      - max_connections: 1\n")
    with Sluice(tcp_config(port, up.port, cluster_extra=extra), concurrency=1) as s:
        c1 = connect(port)
        c1.sendall(b"one")
        check_eq(recv_exact(c1, 3), b"one")
        c2 = connect(port)
        check(closed_soon(c2), "second session accepted over max_connections")
        s.wait_stat("cluster.tcp_backend.upstream_cx_overflow", lambda v: v >= 1)
        c1.sendall(b"still")
        check_eq(recv_exact(c1, 5), b"still")
        c1.close()
        c2.close()


@test
def byte_count_filter_counts_both_directions():
    up = TcpEchoServer(prefix=b"hello!")
    port = free_port()
    with Sluice(tcp_config(port, up.port, network_filters=BYTE_COUNT)) as s:
        c = connect(port)
        check_eq(recv_exact(c, 6), b"hello!")
        c.sendall(b"0123456789")
        check_eq(recv_exact(c, 10), b"0123456789")
        c.close()
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)
        s.expect_stat("byte_count.bc.connections_total", 1)
        s.expect_stat("byte_count.bc.downstream_bytes_total", 10)
        s.expect_stat("byte_count.bc.upstream_bytes_total", 16)
        s.wait_log(r"byte_count bc: connection \d+ from 127\.0\.0\.1:\d+: 10 bytes from the "
                   r"client, 16 from the upstream")


@test
def connections_spread_over_workers():
    up = TcpEchoServer()
    port = free_port()
    with Sluice(tcp_config(port, up.port, network_filters=BYTE_COUNT), concurrency=2) as s:
        for _ in range(30):
            c = connect(port)
            c.sendall(b"x")
            recv_exact(c, 1)
            c.close()
        s.wait_stat("byte_count.bc.connections_total", lambda v: v == 30)
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)
        workers = set(re.findall(r"\]\[(worker \d+)\]\[info\] byte_count", s.log()))
        check_eq(len(workers), 2, "SO_REUSEPORT sockets: connections on %r" % workers)
        per_worker = [s.stat("listener.127.0.0.1_%d.worker_%d.downstream_cx_total" % (port, w))
                      for w in range(2)]
        check_eq(sum(per_worker), 30)
        check(min(per_worker) > 0, "one worker got everything: %r" % per_worker)


if __name__ == "__main__":
    run()
