# The sluice process: command-line flags, --mode validate, start-up errors, workers, and the
# SIGTERM/SIGINT drain (in-flight work finishes, nothing new is accepted, exit 0).
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import *


def sluice(*args, config=None, timeout=20):
    """Runs the binary to completion; returns (exit code, stdout, stderr)."""
    argv = [sluice_bin()] + list(args)
    path = None
    if config is not None:
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        f.write(config)
        f.close()
        path = f.name
        argv = [a if a != "CONFIG" else path for a in argv]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * timeout_scale())
    return p.returncode, p.stdout, p.stderr


def minimal_tcp_config(port=None):
    return tcp_config(port or free_port(), free_port())


@test
def help_prints_usage_and_exits_0():
    rc, out, err = sluice("--help")
    check_eq(rc, 0)
    for flag in ("-c", "--concurrency", "--log-level", "--mode", "--drain-time-s",
                 "--version"):
        check_in(flag, out)


@test
def version_prints_the_version():
    rc, out, err = sluice("--version")
    check_eq(rc, 0)
    check(re.match(r"sluice version \d+\.\d+\.\d+", out), out)


@test
def bad_flags_print_usage_and_exit_2():
    cases = [("--bogus",), ("-c",), ("--concurrency", "zero", "-c", "x.yaml"),
             ("--concurrency", "0", "-c", "x.yaml"), ("--mode", "fly", "-c", "x.yaml"),
             ("-l", "loud", "-c", "x.yaml"), ("--drain-time-s", "-1", "-c", "x.yaml"),
             (), ("-c", "x.yaml", "extra")]
    for args in cases:
        rc, out, err = sluice(*args)
        check_eq(rc, 2, "for %r" % (args,))
        check_in("usage:", err, "for %r" % (args,))


@test
def validate_accepts_a_good_config():
    rc, out, err = sluice("--mode", "validate", "-c", "CONFIG", config=minimal_tcp_config())
    check_eq(rc, 0, err)
    check_in("OK", out)


@test
def validate_rejects_a_bad_config_naming_the_line():
    bad = minimal_tcp_config().replace("    lb_policy: ROUND_ROBIN\n",
                                       "    lb_policy: ROUND_ROBIN\n    frobnicate: 3\n")
    rc, out, err = sluice("--mode", "validate", "-c", "CONFIG", config=bad)
    check_eq(rc, 1)
    line = bad.splitlines().index("    frobnicate: 3") + 1
    check_in(":%d:" % line, err)
    check_in("frobnicate", err)


@test
def validate_rejects_unknown_cluster_reference():
    cfg = minimal_tcp_config().replace("cluster: tcp_backend", "cluster: nowhere")
    rc, out, err = sluice("--mode", "validate", "-c", "CONFIG", config=cfg)
    check_eq(rc, 1)
    check_in("nowhere", err)


@test
def missing_config_file_exits_1():
    rc, out, err = sluice("-c", "/nonexistent/sluice.yaml")
    check_eq(rc, 1)
    check_in("sluice.yaml", err)


@test
def listener_port_in_use_is_a_start_error():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        cfg = minimal_tcp_config(port) + (
            "admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: %d }\n"
            % free_port())
        rc, out, err = sluice("-c", "CONFIG", config=cfg)
        check_eq(rc, 1)
        check_in("listener tcp 127.0.0.1:%d" % port, err)
        check_in("in use", err)
    finally:
        busy.close()


@test
def starts_the_requested_number_of_workers():
    with Sluice(minimal_tcp_config(), concurrency=3) as s:
        s.expect_stat("server.concurrency", 3)
        s.expect_stat("server.live", 1)
        check_in("3 workers", s.log())


@test
def sigterm_when_idle_exits_0_quickly():
    s = Sluice(minimal_tcp_config())
    start = time.monotonic()
    check_eq(s.stop(signal.SIGTERM), 0)
    check(time.monotonic() - start < 2 * timeout_scale(), "slow exit")
    check_in("drained", s.log())


@test
def sigint_also_drains_and_exits_0():
    s = Sluice(minimal_tcp_config())
    check_eq(s.stop(signal.SIGINT), 0)


@test
def sigterm_drains_open_sessions_and_refuses_new_ones():
    up = TcpEchoServer()
    port = free_port()
    s = Sluice(tcp_config(port, up.port), args=["--drain-time-s", "20"])
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"before")
    check_eq(c.recv(6), b"before")
    s.send_signal(signal.SIGTERM)
    s.wait_log(r"draining")
    time.sleep(0.3)
    check(s.alive(), "exited while a session was open")
    st, body = s.admin_get("/ready")
    check_eq(st, 503)
    check_in(b"DRAINING", body)
    # The listener is closed: new connections are refused.
    refused = False
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        refused = True
    check(refused, "a new connection was accepted while draining")
    # The open session still works, and closing it lets the process finish.
    c.sendall(b"during")
    check_eq(c.recv(6), b"during")
    c.close()
    check_eq(s.wait(10), 0)
    check_in("drained", s.log())


@test
def drain_time_limit_ends_the_wait():
    up = TcpEchoServer()
    port = free_port()
    s = Sluice(tcp_config(port, up.port), args=["--drain-time-s", "1"])
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"x")
    check_eq(c.recv(1), b"x")
    start = time.monotonic()
    s.send_signal(signal.SIGTERM)
    check_eq(s.wait(10), 0)
    took = time.monotonic() - start
    check(0.8 <= took < 5 * timeout_scale(), "exit after %.2fs" % took)
    check_in("drain time over", s.log())
    c.close()


@test
def second_signal_stops_at_once():
    up = TcpEchoServer()
    port = free_port()
    s = Sluice(tcp_config(port, up.port), args=["--drain-time-s", "60"])
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"x")
    c.recv(1)
    s.send_signal(signal.SIGTERM)
    s.wait_log("draining")
    s.send_signal(signal.SIGTERM)
    check_eq(s.wait(10), 0)
    c.close()


@test
def sigterm_lets_an_in_flight_http_request_finish():
    up = Upstream(delay(1.0, fixed(200, b"slow answer")))
    port = free_port()
    s = Sluice(http_config(port, up.port), args=["--drain-time-s", "10"])
    box = {}

    def client():
        try:
            box["r"] = http_request(port, "GET", "/slow", timeout=10)
        except Exception as e:
            box["e"] = e
    t = threading.Thread(target=client)
    t.start()
    wait_for(lambda: len(up.requests) == 1, 5, what="request at the upstream")
    s.send_signal(signal.SIGTERM)
    t.join(10 * timeout_scale())
    check("e" not in box, "request failed: %r" % box.get("e"))
    check_eq(box["r"].status, 200)
    check_eq(box["r"].body, b"slow answer")
    check_eq(s.wait(10), 0)


@test
def sigterm_closes_idle_keep_alive_connections_and_exits():
    up = Upstream()
    port = free_port()
    s = Sluice(http_config(port, up.port), args=["--drain-time-s", "30"])
    c = RawConn(port)
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    check_eq(c.read_response().status, 200)
    start = time.monotonic()
    s.send_signal(signal.SIGTERM)
    # The idle keep-alive connection is closed at once, so nothing holds the drain.
    check(c.closed_by_peer(5), "idle keep-alive connection left open while draining")
    check_eq(s.wait(10), 0)
    check(time.monotonic() - start < 5 * timeout_scale(), "drain waited on an idle connection")
    c.close()


@test
def http_connections_spread_over_workers():
    up = Upstream()
    port = free_port()
    with Sluice(http_config(port, up.port), concurrency=2) as s:
        for i in range(40):
            r = http_request(port, "GET", "/%d" % i)  # a new connection each time
            check_eq(r.status, 200)
        per_worker = [s.stat("listener.127.0.0.1_%d.worker_%d.downstream_cx_total" % (port, w))
                      for w in range(2)]
        check_eq(sum(per_worker), 40)
        check(min(per_worker) > 0, "one worker got every connection: %r" % per_worker)


if __name__ == "__main__":
    run()
