# The admin server: /ready, /stats (text, filter, usedonly, json), /stats/prometheus,
# /config_dump, /server_info, /help, POST /logging and /quitquitquit, and method checks.
import json
import re
import socket
import time

from harness import *


def tcp_sluice(**kw):
    up = TcpEchoServer()
    port = free_port()
    s = Sluice(tcp_config(port, up.port), **kw)
    return s, port


def one_session(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"abc")
    c.recv(3)
    c.close()


@test
def ready_says_live():
    s, _ = tcp_sluice()
    with s:
        st, body = s.admin_get("/ready")
        check_eq((st, body), (200, b"LIVE\n"))


@test
def stats_lists_envoy_style_names_and_values():
    s, port = tcp_sluice()
    with s:
        one_session(port)
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)
        st, body = s.admin_get("/stats")
        check_eq(st, 200)
        lines = body.decode().splitlines()
        check(all(re.match(r"^[a-zA-Z0-9_.:-]+: -?\d+$", l) for l in lines), lines[:5])
        check_eq(lines, sorted(lines))
        stats = s.stats()
        check_eq(stats["cluster.tcp_backend.upstream_cx_total"], 1)
        check_eq(stats["tcp.tcp.downstream_cx_total"], 1)
        check_eq(stats["listener.127.0.0.1_%d.downstream_cx_total" % port], 1)
        check_eq(stats["cluster.tcp_backend.membership_total"], 1)
        check_eq(stats["server.live"], 1)


@test
def stats_filter_usedonly_and_json():
    s, port = tcp_sluice()
    with s:
        one_session(port)
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)
        st, body = s.admin_get("/stats?filter=%5Ecluster%5C.")
        check_eq(st, 200)
        names = [l.split(":")[0] for l in body.decode().splitlines()]
        check(names and all(n.startswith("cluster.") for n in names), names)
        st, body = s.admin_get("/stats?usedonly")
        check(all(not l.endswith(": 0") for l in body.decode().splitlines()))
        check_in("tcp.tcp.downstream_cx_total: 1", body.decode())
        st, body = s.admin_get("/stats?format=json")
        check_eq(st, 200)
        doc = json.loads(body)
        byname = {e["name"]: e["value"] for e in doc["stats"]}
        check_eq(byname["tcp.tcp.downstream_cx_total"], 1)
        st, body = s.admin_get("/stats?filter=(")
        check_eq(st, 400)


@test
def prometheus_format():
    s, port = tcp_sluice()
    with s:
        one_session(port)
        s.wait_stat("tcp.tcp.downstream_cx_active", lambda v: v == 0)
        st, body = s.admin_get("/stats/prometheus")
        check_eq(st, 200)
        text = body.decode()
        check_in("# TYPE envoy_cluster_upstream_cx_total counter\n", text)
        check_in('envoy_cluster_upstream_cx_total{envoy_cluster_name="tcp_backend"} 1\n', text)
        check_in('envoy_tcp_downstream_cx_total{envoy_tcp_prefix="tcp"} 1\n', text)
        check_in("# TYPE envoy_server_live gauge\nenvoy_server_live 1\n", text)
        families = []
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                families.append(line.split()[2])
                continue
            check(re.match(r'^[a-zA-Z_][a-zA-Z0-9_]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? '
                           r'-?\d+$', line), line)
        check_eq(len(families), len(set(families)), "a family has two TYPE lines")


@test
def config_dump_is_the_configuration_as_json():
    s, port = tcp_sluice()
    with s:
        st, body = s.admin_get("/config_dump")
        check_eq(st, 200)
        doc = json.loads(body)
        boot = doc["configs"][0]["bootstrap"]
        check_eq(doc["configs"][0]["@type"],
                 "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump")
        lst = boot["static_resources"]["listeners"][0]
        check_eq(lst["address"]["socket_address"]["port_value"], port)
        check_eq(boot["static_resources"]["clusters"][0]["name"], "tcp_backend")
        check_eq(boot["static_resources"]["clusters"][0]["connect_timeout"], "1s")


@test
def server_info_reports_state_and_options():
    s, _ = tcp_sluice(concurrency=3, log_level="warning")
    with s:
        st, body = s.admin_get("/server_info")
        check_eq(st, 200)
        doc = json.loads(body)
        check_eq(doc["state"], "LIVE")
        check(doc["version"].startswith("sluice/"), doc["version"])
        check_eq(doc["command_line_options"]["concurrency"], 3)
        check_eq(doc["command_line_options"]["log_level"], "warning")
        check(doc["command_line_options"]["config_path"].endswith(".yaml"))


@test
def logging_changes_the_level_at_run_time():
    s, port = tcp_sluice(log_level="info")
    with s:
        one_session(port)
        time.sleep(0.2)
        check(" session " not in s.log(), "debug lines before the change")
        st, body = s.admin_post("/logging?level=debug")
        check_eq(st, 200)
        check_in(b"debug", body)
        one_session(port)
        s.wait_log(r"\]\[debug\] tcp tcp: session \d+ from 127\.0\.0\.1:\d+ closed")
        st, body = s.admin_post("/logging?level=shouting")
        check_eq(st, 400)
        st, _ = s.admin_get("/logging?level=debug")
        check_eq(st, 405)
        st, body = s.admin_post("/logging?level=info")
        check_eq(st, 200)


@test
def quitquitquit_exits_0():
    s, _ = tcp_sluice()
    st, _ = s.admin_get("/quitquitquit")
    check_eq(st, 405)
    check(s.alive())
    st, body = s.admin_post("/quitquitquit")
    check_eq((st, body), (200, b"OK\n"))
    check_eq(s.wait(10), 0)


@test
def help_and_unknown_paths():
    s, _ = tcp_sluice()
    with s:
        st, body = s.admin_get("/help")
        check_eq(st, 200)
        for path in (b"/ready", b"/stats", b"/stats/prometheus", b"/config_dump",
                     b"/server_info", b"/logging", b"/quitquitquit"):
            check_in(path, body)
        st, _ = s.admin_get("/nope")
        check_eq(st, 404)
        st, _ = s.admin_post("/stats")
        check_eq(st, 405)


@test
def malformed_admin_requests_get_400():
    s, _ = tcp_sluice()
    with s:
        r = raw_request(s.admin_port, b"GARBAGE\r\n\r\n")
        check(r is not None and r.status == 400, r)
        r = raw_request(s.admin_port, b"GET /ready HTTP/1.1\r\n" + b"x: " + b"a" * 20000
                        + b"\r\n\r\n")
        check(r is None or r.status == 400, r)
        st, _ = s.admin_get("/ready")
        check_eq(st, 200)


if __name__ == "__main__":
    run()
