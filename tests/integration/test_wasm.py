# Wasm plugins through the real proxy: the C SDK examples and the AssemblyScript examples as
# envoy.filters.http.wasm / envoy.filters.network.wasm, failure handling and limits.
import os
import re
import threading
import time

from harness import *
from wasm_helpers import *


# ---- the C SDK examples --------------------------------------------------------------------------

@test
def add_header_from_configuration():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "add_header", "x-hello: world"))) as s:
            for _ in range(3):
                r = http_request(port, "GET", "/a")
                check_eq(r.status, 200)
                check_eq(r.header("x-hello"), "world")
                check_eq(r.json()["path"], "/a")
            check_eq(s.log_errors(), [])


@test
def auth_header_denies_without_token():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "auth_header", "x-token: s3cret"))) as s:
            r = http_request(port, "GET", "/secret")
            check_eq(r.status, 403)
            r = http_request(port, "GET", "/secret", headers={"x-token": "wrong"})
            check_eq(r.status, 403)
            r = http_request(port, "GET", "/secret", headers={"x-token": "s3cret"})
            check_eq(r.status, 200)
            check_eq(r.json()["path"], "/secret")
            check_eq(s.log_errors(), [])


@test
def body_rewrite_fixes_length():
    body = b"the cat sat on the cat mat " * 200
    with Upstream(fixed(200, body, {"content-type": "text/plain"})) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "body_rewrite", "cat=>tiger"))) as s:
            want = body.replace(b"cat", b"tiger")
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            check_eq(r.body, want)
            cl = r.header("content-length")
            if cl is not None:
                check_eq(int(cl), len(want))
            else:
                check_eq(r.header("transfer-encoding"), "chunked")
            # Chunked from upstream, rewritten across chunk boundaries.
            check_eq(s.log_errors(), [])
    with Upstream(chunked([b"a c", b"at and a ", b"cat"])) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "body_rewrite", "cat=>dog"))):
            r = http_request(port, "GET", "/")
            check_eq(r.body, b"a dog and a dog")


@test
def rewrite_path_and_header_before_routing():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "rewrite", "path /old /new\nheader x-rewritten yes"))) as s:
            r = http_request(port, "GET", "/old/page?q=1")
            check_eq(r.status, 200)
            j = r.json()
            check_eq(j["path"], "/new/page?q=1")
            check_in(["x-rewritten", "yes"], [[k.lower(), v] for k, v in j["headers"]])
            r = http_request(port, "GET", "/other")
            check_eq(r.json()["path"], "/other")
            check_eq(s.log_errors(), [])


@test
def properties_to_headers():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "props_to_headers", "", root_id="props_root"))) as s:
            r = http_request(port, "GET", "/p/q?x=1")
            check_eq(r.status, 200)
            check_eq(r.header("x-prop-request-path"), "/p/q?x=1")
            src = r.header("x-prop-source-address")
            check(src is not None and src.startswith("127.0.0.1:"), "source.address %r" % src)
            check_eq(r.header("x-prop-plugin-name"), "props_to_headers")
            check_eq(r.header("x-prop-plugin-root-id"), "props_root")
            check_eq(s.log_errors(), [])


@test
def properties_in_envoy_encodings():
    props = """request.method s
request.host s
request.scheme s
request.protocol s
request.url_path s
request.query s
request.headers.user-agent s
request.id s
request.size i
request.time i
response.code i
response.code_details s
source.port i
destination.address s
destination.port i
connection.id i
connection.mtls b
upstream.address s
xds.cluster_name s
plugin_vm_id s
node.id s
node.cluster s
listener_direction i
no.such.property s"""
    with Upstream(echo()) as up:
        port = free_port()
        cfg = "node: { id: node-7, cluster: edge }\n" + http_config(
            port, up.port, http_filters=wasm_filter("props_to_headers", props, vm_id="pvm"))
        with Sluice(cfg) as s:
            t0 = time.time()
            r = http_request(port, "POST", "/a/b?x=1&y=2", body=b"12345",
                             headers={"user-agent": "tester/1"})
            check_eq(r.status, 200)
            h = lambda p: r.header("x-prop-" + p.replace(".", "-"))  # noqa: E731
            check_eq(h("request.method"), "POST")
            check_eq(h("request.host"), "127.0.0.1:%d" % port)
            check_eq(h("request.scheme"), "http")
            check_eq(h("request.protocol"), "HTTP/1.1")
            check_eq(h("request.url_path"), "/a/b")
            check_eq(h("request.query"), "x=1&y=2")
            check_eq(h("request.headers.user-agent"), "tester/1")
            check(len(h("request.id")) == 36, "request.id %r" % h("request.id"))
            check_eq(h("request.size"), "5")
            check(abs(int(h("request.time")) / 1e9 - t0) < 5, "request.time %s" % h("request.time"))
            check_eq(h("response.code"), "200")
            check_eq(h("response.code_details"), "via_upstream")
            check(1 <= int(h("source.port")) <= 65535, "source.port")
            check_eq(h("destination.address"), "127.0.0.1:%d" % port)
            check_eq(h("destination.port"), str(port))
            check(int(h("connection.id")) >= 1, "connection.id")
            check_eq(h("connection.mtls"), "false")
            check_eq(h("upstream.address"), "127.0.0.1:%d" % up.port)
            check_eq(h("xds.cluster_name"), "backend")
            check_eq(h("plugin_vm_id"), "pvm")
            check_eq(h("node.id"), "node-7")
            check_eq(h("node.cluster"), "edge")
            check_eq(h("listener_direction"), "0")
            check_eq(h("no.such.property"), "(not found)")
            check_eq(s.log_errors(), [])


@test
def set_property_is_read_back_as_filter_state():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "props"))) as s:
            r = http_request(port, "GET", "/", headers={"x-id": "abc"})
            check_eq(r.status, 200)
            hd = dict((k.lower(), v) for k, v in r.json()["headers"])
            check_eq(hd.get("x-state"), "value-1")       # proxy_set_property, then get
            check_eq(hd.get("x-prop-id"), "abc")          # request.headers.x-id
            check(1 <= int(hd.get("x-prop-port", "0")) <= 65535, "source.port")
            check_eq(hd.get("x-prop-missing"), "1")       # NotFound for an unknown path
            check_eq(s.log_errors(), [])


@test
def tcp_guard_counts_and_closes_on_banned_word():
    echo_srv = TcpEchoServer()
    try:
        port = free_port()
        with Sluice(tcp_config(port, echo_srv.port,
                               network_filters=net_wasm_filter("tcp_guard", "forbidden"))) as s:
            c = RawConn(port)
            c.send(b"hello there")
            check_eq(c.read_exact(11), b"hello there")
            c.send(b"this is forbidden talk")
            check(c.closed_by_peer(3.0), "connection with the banned word stays open")
            s.wait_log(r"tcp_guard")
            c2 = RawConn(port)
            c2.send(b"fine")
            check_eq(c2.read_exact(4), b"fine")
            c2.sock.close()
            check_eq(s.log_errors(), [])
    finally:
        echo_srv.close()


@test
def typed_struct_form_from_the_seed_runs():
    # The seed document's udpa.type.v1.TypedStruct form, with a real plugin as its code.
    f = """          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/udpa.type.v1.TypedStruct
              type_url: type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              value:
                config:
                  vm_config:
                    vm_id: "my_vm"
                    runtime: "envoy.wasm.runtime.v8"
                    configuration:
                      "@type": type.googleapis.com/google.protobuf.StringValue
                      value: '{"plugin-config": "some-value"}'
                    code:
                      local:
                        filename: "%s"
                  configuration:
                    "@type": type.googleapis.com/google.protobuf.StringValue
                    value: 'x-typed-struct: yes'
""" % plugin("add_header")
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=f)) as s:
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            check_eq(r.header("x-typed-struct"), "yes")
            check_eq(s.log_errors(), [])


@test
def two_plugins_share_one_vm_with_their_own_root_contexts():
    # Same vm_id, code and VM configuration: one replica per worker, two root contexts, each
    # configured with its own plugin configuration.
    f = (wasm_filter("add_header", "x-first: 1", root_id="first", vm_id="shared") +
         wasm_filter("add_header", "x-second: 2", root_id="second", vm_id="shared"))
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=f), concurrency=1) as s:
            r = http_request(port, "GET", "/")
            check_eq((r.header("x-first"), r.header("x-second")), ("1", "2"))
            check_eq(s.log_errors(), [])


# ---- the AssemblyScript examples (a third-party SDK) ---------------------------------------------

@test
def assemblyscript_add_header():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "as_add_header", "from-as", root_id="as_add_header",
                runtime="envoy.wasm.runtime.v8"))) as s:
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            check_eq(r.header("x-as-plugin"), "from-as")
            s.wait_log(r"runtime envoy\.wasm\.runtime\.v8 runs on sluice\.wasm\.runtime\.interp")
            check_eq(s.log_errors(), [])


@test
def assemblyscript_plugin_with_an_empty_configuration():
    # The SDK reads an empty configuration with a bad size pointer; Envoy writes nothing for an
    # empty buffer, and so must sluice: the plugin then runs (what it makes of the stale value
    # it reads is the SDK's business) instead of trapping at start.
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "as_add_header", "", root_id="as_add_header"))) as s:
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            check(r.header("x-as-plugin") is not None, "the plugin did not run")
            check_eq(s.log_errors(), [])


@test
def assemblyscript_local_reply():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "as_deny", "/deny", root_id="as_deny"))) as s:
            r = http_request(port, "GET", "/deny/x")
            check_eq(r.status, 403)
            r = http_request(port, "GET", "/ok")
            check_eq(r.status, 200)
            check_eq(s.log_errors(), [])


# ---- lifecycle, pauses, failures and limits ------------------------------------------------------

@test
def lifecycle_order_through_the_proxy():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "lifecycle")), concurrency=1) as s:
            r = http_request(port, "POST", "/", body=b"abc")
            check_eq(r.status, 200)
            s.wait_log(r"cb delete 2")
            events = re.findall(r"\]: cb ([a-z_ ]+?) 2$", s.log(), re.M)
            want = ["create", "request_headers", "request_body eos", "response_headers",
                    "response_body eos", "log", "done", "delete"]
            it = iter(events)
            check(all(any(e == w for e in it) for w in want),
                  "events %r lack the order %r" % (events, want))
            check_eq(events[0], "create")
            check_eq(events[-3:], ["log", "done", "delete"])
            # A small response body arrives with its end: one callback, as behind Envoy.
            check_eq([e for e in events if e.startswith("response_body")], ["response_body eos"])


@test
def many_live_streams_keep_their_own_context_data():
    # Long streams stay alive on one worker's VM while hundreds of short ones come and go, so
    # context ids wrap around the SDK's table onto occupied slots and are deleted from the
    # middle of probe runs; every callback checks that its context's data is its own (the
    # plugin traps otherwise, which answers 503).
    up = Upstream(echo())
    up.on("/long", delay(1.0))
    with up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "ctx_data")), concurrency=1) as s:
            out, lock = [], threading.Lock()

            def run(paths):
                for p in paths:
                    try:
                        r = http_request(port, "GET", p, timeout=20)
                        got = (r.status, r.header("x-ctx"))
                    except Exception as e:  # noqa: BLE001 - reported below
                        got = (repr(e), None)
                    with lock:
                        out.append(got)
            longs = [threading.Thread(target=run, args=(["/long/%d" % i],)) for i in range(40)]
            for t in longs:
                t.start()
            time.sleep(0.2)
            shorts = [threading.Thread(target=run, args=(["/s/%d/%d" % (k, i)
                                                          for i in range(40)],))
                      for k in range(8)]
            for t in shorts:
                t.start()
            for t in longs + shorts:
                t.join(60)
            check_eq(sorted(st for st, _ in out), [200] * 360)
            ids = [c for _, c in out]
            check_eq(len(set(ids)), 360)  # one context per stream
            check(all(c and c.isdigit() for c in ids), "x-ctx values %r" % ids[:5])
            check_eq(s.log_errors(), [])


@test
def local_reply_from_headers():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "local_reply"))) as s:
            r = http_request(port, "GET", "/")
            check_eq(r.status, 418)
            check_eq(r.body, b"short and stout")
            check_eq(r.header("x-reply"), "yes")
            check_eq(s.log_errors(), [])


@test
def paused_request_ends_at_the_idle_timeout():
    # "pause" holds the request forever: the route timeout must answer, the worker stays free.
    with Upstream(echo()) as up:
        port = free_port()
        cfg = http_config(port, up.port, http_filters=wasm_filter("hostcalls", "pause"),
                          hcm_extra="          stream_idle_timeout: 0.5s\n")
        with Sluice(cfg, concurrency=1) as s:
            t0 = time.time()
            r = http_request(port, "GET", "/", timeout=10)
            check_eq(r.status, 408)
            check(time.time() - t0 < 5 * timeout_scale(), "held too long")
            # The paused stream did not block the worker.
            s.wait_log(r"stream_idle_timeout")
            check_eq(s.log_errors(), [])


@test
def request_body_buffered_and_rewritten():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "buffer"))) as s:
            r = http_request(port, "POST", "/b", body=b"x" * 10000)
            check_eq(r.status, 200)
            j = r.json()
            check(j["body"] == "<" + "x" * 10000 + ">", "body not rewritten: %d bytes %r..%r"
                  % (len(j["body"]), j["body"][:3], j["body"][-3:]))
            hd = dict((k.lower(), v) for k, v in j["headers"])
            check("content-length" not in hd or hd["content-length"] == "10002", repr(hd))


@test
def body_length_change_after_content_length_is_refused():
    # The plugin keeps content-length and then grows the body: forwarding it would desync the
    # upstream connection, so the stream ends with 500 and the connection is not reused.
    with Upstream(echo()) as up:
        port = free_port()
        with Expecting('changed the request body', http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "buffer_keep_length")), concurrency=1) as s:
            r = http_request(port, "POST", "/b", body=b"y" * 5000)
            check_eq(r.status, 500)
            s.wait_log(r"changed the request body's length")
            for _ in range(3):
                r = http_request(port, "GET", "/after")
                check_eq(r.status, 200)
                check_eq(r.json()["path"], "/after")


@test
def trap_gives_503_and_one_log_line():
    with Upstream(echo()) as up:
        port = free_port()
        with Expecting('proxy_on_request_headers failed', http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "trap", root_id="trapper"))) as s:
            r = http_request(port, "GET", "/")
            check_eq(r.status, 503)
            line = s.wait_log(r"hostcalls.*trapper.*request_headers")
            check(line is not None, "no log line naming plugin, root id and callback")
            r = http_request(port, "GET", "/")
            check_eq(r.status, 503)


@test
def wasi_stdout_is_a_log_line_and_the_environment_is_the_vms_own():
    # The proxy's own MODE must not reach the plugin: only environment_variables does.
    proxy_env = {"MODE": "the-proxys"}
    with Upstream(echo()) as up:
        port = free_port()
        f = wasm_filter("hostcalls", "wasi", vm_extra=(
            "                  environment_variables:\n"
            "                    key_values: { MODE: prod }\n"))
        with Sluice(http_config(port, up.port, http_filters=f), env=proxy_env) as s:
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            check_in(["x-env-mode", "prod"], [[k.lower(), v] for k, v in r.json()["headers"]])
            line = s.wait_log(r"^.*\[info\].*hello from printf, MODE=prod$")
            check(line is not None, "no INFO line from the plugin's printf")
            check(not re.search(r"MODE=prod\n\s*\n", s.log()), "trailing newline was kept")
            check_eq(s.log_errors(), [])
        with Sluice(http_config(port, up.port, http_filters=wasm_filter("hostcalls", "wasi")),
                    env=proxy_env) as s:
            r = http_request(port, "GET", "/")
            check_in(["x-env-mode", "(unset)"],
                     [[k.lower(), v] for k, v in r.json()["headers"]])
            s.wait_log(r"hello from printf, MODE=\(unset\)$")


@test
def fail_open_skips_a_trapping_plugin():
    with Upstream(echo()) as up:
        port = free_port()
        with Expecting('proxy_on_request_headers failed', http_config(port, up.port, http_filters=wasm_filter(
                "hostcalls", "trap", extra="                fail_open: true\n"))) as s:
            r = http_request(port, "GET", "/x")
            check_eq(r.status, 200)
            check_eq(r.json()["path"], "/x")


@test
def timers_armed_after_a_long_callback_count_from_its_end():
    # The plugin works for 1.2 s in request headers; the router then connects upstream with a
    # 1 s connect timeout. The loop's cached time must not date from before the callback, or
    # that timer would fire at once (503 upstream_connect_failure).
    with Upstream(echo()) as up:
        port = free_port()
        busy = wasm_filter("hostcalls", "busy", vm_extra=(
            "                  sluice_limits: { callback_deadline: 5s }\n"))
        with Sluice(http_config(port, up.port, http_filters=busy, connect_timeout="1s"),
                    concurrency=1):
            t0 = time.time()
            r = http_request(port, "GET", "/slow", timeout=20 * timeout_scale())
            check_eq(r.status, 200)
            check(time.time() - t0 >= 1.2, "the plugin did not run its 1.2 s")


@test
def infinite_loop_hits_the_deadline_and_the_worker_keeps_serving():
    with Upstream(echo()) as up:
        port = free_port()
        loop = wasm_filter("hostcalls", "loop", vm_extra=(
            "                  sluice_limits: { callback_deadline: 0.2s }\n"))
        cfg = http_config(port, up.port, http_filters=loop)
        plain_port = free_port()
        # A second listener on the same single worker, without the plugin.
        cfg = cfg.replace("  clusters:\n", """  - name: plain
    address:
      socket_address: { address: 127.0.0.1, port_value: %d }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: plain
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
""" % plain_port, 1)
        with Expecting('proxy_on_request_headers', cfg, concurrency=1) as s:
            results = []

            def looping():
                results.append(http_request(port, "GET", "/loop", timeout=10).status)
            th = [threading.Thread(target=looping) for _ in range(3)]
            for t in th:
                t.start()
            for _ in range(5):
                r = http_request(plain_port, "GET", "/plain", timeout=10)
                check_eq(r.status, 200)
            for t in th:
                t.join(20)
            check_eq(sorted(results), [503, 503, 503])
            s.wait_log(r"deadline|interrupt")


@test
def memory_limit_stops_growth():
    with Upstream(echo()) as up:
        port = free_port()
        f = wasm_filter("hostcalls", "grow", vm_extra=(
            "                  sluice_limits: { max_memory_bytes: 8388608 }\n"))
        with Sluice(http_config(port, up.port, http_filters=f)) as s:
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            hd = dict((k.lower(), v) for k, v in r.json()["headers"])
            check(int(hd["x-grown-pages"]) <= 128, "grew to %s pages" % hd["x-grown-pages"])


@test
def sdk_allocator_returns_null_at_the_memory_limit():
    # The C SDK's malloc under an 8 MiB cap: random use, then filled to the cap (NULL, no
    # trap), then everything freed and a 1 MiB block taken (examples/plugins/hostcalls.c).
    with Upstream(echo()) as up:
        port = free_port()
        f = wasm_filter("hostcalls", "alloc_stress", vm_extra=(
            "                  sluice_limits: { max_memory_bytes: 8388608,"
            " callback_deadline: 20s }\n"))
        with Sluice(http_config(port, up.port, http_filters=f)):
            r = http_request(port, "GET", "/")
            check_eq(r.status, 200)
            hd = dict((k.lower(), v) for k, v in r.json()["headers"])
            m = re.match(r"ok nulls=(\d+) pages=(\d+)$", hd.get("x-alloc", ""))
            check(m is not None, "x-alloc: %r" % hd.get("x-alloc"))
            check(int(m.group(1)) >= 1 and int(m.group(2)) <= 128, hd["x-alloc"])


@test
def bad_plugin_fails_the_configuration():
    with Upstream(echo()) as up:
        port = free_port()
        s = Sluice(http_config(port, up.port, http_filters=wasm_filter(
            "hostcalls", "reject_configure")), start=False)
        import subprocess
        p = subprocess.run([sluice_bin(), "-c", s.config_path, "--mode", "validate"],
                           capture_output=True, text=True, timeout=60 * timeout_scale())
        check_eq(p.returncode, 1)
        check("hostcalls" in p.stderr and "configur" in p.stderr, p.stderr)


@test
def missing_code_file_is_a_clear_error():
    with Upstream(echo()) as up:
        port = free_port()
        cfg = http_config(port, up.port, http_filters=wasm_filter("add_header", "x: y"))
        cfg = cfg.replace(plugin("add_header"), "/nonexistent/plugin.wasm")
        s = Sluice(cfg, start=False)
        import subprocess
        p = subprocess.run([sluice_bin(), "-c", s.config_path], capture_output=True, text=True,
                           timeout=60 * timeout_scale())
        check_eq(p.returncode, 1)
        check("/nonexistent/plugin.wasm" in p.stderr and "add_header" in p.stderr, p.stderr)


@test
def many_requests_many_connections():
    with Upstream(echo()) as up:
        port = free_port()
        with Sluice(http_config(port, up.port, http_filters=wasm_filter(
                "add_header", "x-n: 1")), concurrency=2) as s:
            errors = []

            def client():
                try:
                    for i in range(40):
                        r = http_request(port, "GET", "/c%d" % i)
                        if r.status != 200 or r.header("x-n") != "1":
                            errors.append(r.status)
                except Exception as e:
                    errors.append(repr(e))
            th = [threading.Thread(target=client) for _ in range(4)]
            for t in th:
                t.start()
            for t in th:
                t.join(60)
            check_eq(errors, [])
            check_eq(s.log_errors(), [])


if __name__ == "__main__":
    run()
