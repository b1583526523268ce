# Plugins that keep state across requests and threads, through the real proxy: shared data with
# CAS, shared queues into a singleton service, ticks, metrics in the admin, HTTP callouts.
import os
import re
import threading
import time

from harness import *
from wasm_helpers import *


def clients(port, paths, n_threads, per_thread, check_header=None):
    """Sends n_threads x per_thread GETs concurrently (path i % len(paths)); returns the
    responses. Every request must answer 200."""
    out, errors, lock = [], [], threading.Lock()

    def run(k):
        for i in range(per_thread):
            path = paths[(k * per_thread + i) % len(paths)]
            try:
                r = http_request(port, "GET", path, timeout=10)
                with lock:
                    (out if r.status == 200 else errors).append(r)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))
    th = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    check_eq(errors, [])
    return out


def with_cluster(cfg, name, port):
    return cfg.rstrip("\n") + "\n" + cluster_yaml(name, [port])


# ---- shared data --------------------------------------------------------------------------------

@test
def shared_counter_is_exact_across_workers():
    with Upstream(echo()) as up:
        port = free_port()
        cfg = http_config(port, up.port, http_filters=wasm_filter(
            "shared_counter", "requests", vm_id="counter"))
        with Sluice(cfg, concurrency=4) as s:
            rs = clients(port, ["/a", "/b"], 8, 25)
            counts = sorted(int(r.header("x-request-count")) for r in rs)
            # Every increment is seen exactly once: no update lost, none applied twice.
            check_eq(counts, list(range(1, 201)))
            s.expect_stat("wasmcustom.shared_counter.requests", 200)
            # Values outlive the request path: the next request continues the count.
            check_eq(http_request(port, "GET", "/c").header("x-request-count"), "201")
            check_eq(s.log_errors(), [])


# ---- shared queues into a singleton service -------------------------------------------------------

@test
def every_worker_enqueues_to_the_singleton_service_exactly():
    paths = ["/p/one", "/p/two", "/p/three", "/p/four"]
    with Upstream(echo()) as up:
        port = free_port()
        cfg = http_config(port, up.port, http_filters=wasm_filter(
            "path_enqueue", "collector paths", vm_id="web"))
        cfg = wasm_service("path_stats", "paths", vm_id="collector") + cfg
        with Sluice(cfg, concurrency=4) as s:
            s.wait_log(r"path_stats.*singleton service running on the main thread")
            clients(port, paths, 8, 50)
            s.wait_stat("wasmcustom.path_stats.items", lambda v: v >= 400, timeout=10)
            time.sleep(0.3)  # nothing more may arrive: no duplicates
            st = s.stats()
            check_eq(st.get("wasmcustom.path_stats.items"), 400)
            per_path = {k: v for k, v in st.items()
                        if k.startswith("wasmcustom.path_stats.requests.") and not
                        k.endswith(".other")}
            check_eq(sorted(per_path.values()), [100, 100, 100, 100])
            check_eq(st.get("wasmcustom.path_enqueue.dropped", 0), 0)
            # The Prometheus rendering names them as Envoy does (namespace stripped).
            code, body = s.admin_get("/stats/prometheus")
            check_eq(code, 200)
            check_in("path_stats_items 400", body.decode())
            check_eq(s.log_errors(), [])


# ---- timers ---------------------------------------------------------------------------------------

@test
def tick_updates_a_gauge_and_period_zero_stops_it():
    with Upstream(echo()) as up:
        port = free_port()
        cfg = wasm_service("tick_gauge", "100", vm_id="ticker") + http_config(port, up.port)
        t0 = time.time()  # ticks start while sluice starts, which a sanitizer build slows
        with Sluice(cfg, concurrency=1) as s:
            v = s.wait_stat("wasmcustom.tick_gauge.ticks", lambda v: v >= 5, timeout=5)
            elapsed = time.time() - t0
            check(v >= 5, "ticks %d" % v)
            # About one tick per 100 ms: not a busy loop.
            check(s.stat("wasmcustom.tick_gauge.ticks") <= (elapsed + 1.0) * 10 + 2,
                  "too many ticks")
    with Upstream(echo()) as up:
        port = free_port()
        cfg = wasm_service("tick_gauge", "0", vm_id="ticker0") + http_config(port, up.port)
        with Sluice(cfg, concurrency=1) as s:
            s.wait_stat("wasmcustom.tick_gauge.ticks", lambda v: v >= 5, timeout=5)
            time.sleep(0.6)
            s.expect_stat("wasmcustom.tick_gauge.ticks", 5)


@test
def non_singleton_service_runs_once_per_worker():
    with Upstream(echo()) as up:
        port = free_port()
        cfg = wasm_service("hostcalls", "lifecycle", vm_id="per_worker", singleton=False,
                           root_id="svc") + http_config(port, up.port)
        with Sluice(cfg, concurrency=3) as s:
            check_eq(http_request(port, "GET", "/").status, 200)
            log = s.log()
            where = re.findall(r"\]\[(main|worker \d+)\]\[info\] wasm \[hostcalls svc per_worker\]: "
                               r"cb configure", log)
            check_eq(sorted(where), ["worker 0", "worker 1", "worker 2"])
    with Upstream(echo()) as up:
        port = free_port()
        cfg = wasm_service("hostcalls", "lifecycle", vm_id="single", singleton=True,
                           root_id="svc") + http_config(port, up.port)
        with Sluice(cfg, concurrency=3) as s:
            where = re.findall(r"\]\[(main|worker \d+)\]\[info\] wasm \[hostcalls svc single\]: "
                               r"cb configure", s.log())
            check_eq(where, ["main"])


# ---- HTTP callouts --------------------------------------------------------------------------------

def auth_config(port, up_port, auth_port, conf="auth 500"):
    cfg = http_config(port, up_port, http_filters=wasm_filter("callout_auth", conf))
    return with_cluster(cfg, "auth", auth_port)


@test
def callout_allows_and_copies_the_answer():
    with Upstream(echo()) as up, Upstream(fixed(200, b"ok", {"x-auth-user": "alice"})) as auth:
        port = free_port()
        with Sluice(auth_config(port, up.port, auth.port)) as s:
            r = http_request(port, "GET", "/private", headers={"authorization": "Bearer t"})
            check_eq(r.status, 200)
            j = r.json()
            hd = dict((k.lower(), v) for k, v in j["headers"])
            check_eq(hd.get("x-auth-user"), "alice")
            check_eq(j["path"], "/private")
            # A POST body held while the callout ran arrives whole.
            r = http_request(port, "POST", "/p", body=b"z" * 3000)
            check_eq(r.status, 200)
            check_eq(r.json()["body"], "z" * 3000)
            check_eq(s.log_errors(), [])


@test
def callouts_and_routed_requests_share_one_pool():
    # The callout goes to the routed cluster itself: pooled connections pass between the
    # router (which keeps a codec on them) and callouts, request after request.
    with Upstream(echo()) as up:
        port = free_port()
        cfg = http_config(port, up.port, http_filters=wasm_filter("callout_auth",
                                                                  "backend 1000"))
        with Sluice(cfg, concurrency=1) as s:
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(20):
                r = http_request(port, "GET", "/k%d" % i, conn=conn)
                check_eq(r.status, 200)
                check_eq(r.json()["path"], "/k%d" % i)
            conn.close()
            check_eq(s.log_errors(), [])


@test
def callout_denies():
    with Upstream(echo()) as up, Upstream(fixed(403, b"no")) as auth:
        port = free_port()
        with Sluice(auth_config(port, up.port, auth.port)) as s:
            r = http_request(port, "GET", "/private")
            check_eq(r.status, 403)
            check_eq(r.body, b"forbidden\n")
            check_eq(s.log_errors(), [])


@test
def callout_timeout_answers_503():
    with Upstream(echo()) as up, Upstream(delay(3, fixed(200))) as auth:
        port = free_port()
        with Sluice(auth_config(port, up.port, auth.port, "auth 200")) as s:
            t0 = time.time()
            r = http_request(port, "GET", "/slow", timeout=10)
            check_eq(r.status, 503)
            check(time.time() - t0 < 2.5 * timeout_scale(), "the callout timeout did not fire")
            check_eq(s.log_errors(), [])


@test
def callout_to_unreachable_cluster_answers_503():
    with Upstream(echo()) as up:
        dead = free_port()  # nothing listens there
        port = free_port()
        with Sluice(auth_config(port, up.port, dead)) as s:
            for _ in range(3):
                r = http_request(port, "GET", "/x")
                check_eq(r.status, 503)
            check_eq(s.log_errors(), [])


@test
def callout_to_unknown_cluster_is_refused_cleanly():
    with Upstream(echo()) as up, Upstream(fixed(200)) as auth:
        port = free_port()
        with Expecting(r'cannot call cluster "nosuchcluster": 2',
                       auth_config(port, up.port, auth.port, "nosuchcluster 500")) as s:
            # The plugin sees BadArgument (2) from proxy_http_call and answers 503 itself.
            r = http_request(port, "GET", "/x")
            check_eq(r.status, 503)
            r = http_request(port, "GET", "/y")
            check_eq(r.status, 503)
            s.wait_log(r'cannot call cluster "nosuchcluster": 2')


@test
def assemblyscript_plugin_makes_a_callout():
    # A plugin built with a third-party SDK (npm @solo-io/proxy-runtime) pauses the request
    # for proxy_http_call and resumes it from the callout's answer.
    for answer, want in ((200, 200), (401, 403)):
        with Upstream(echo()) as up, Upstream(fixed(answer, b"")) as auth:
            port = free_port()
            cfg = http_config(port, up.port, http_filters=wasm_filter(
                "as_callout", "auth", root_id="as_callout"))
            with Sluice(with_cluster(cfg, "auth", auth.port)) as s:
                r = http_request(port, "GET", "/as/path")
                check_eq(r.status, want)
                if want == 200:
                    check_eq(r.json()["path"], "/as/path")
                check_eq(s.log_errors(), [])


@test
def singleton_service_makes_callouts_from_the_main_thread():
    with Upstream(echo()) as up, Upstream(fixed(200, b"pong")) as probe:
        port = free_port()
        cfg = wasm_service("service_probe", "probe 50", vm_id="probe") + with_cluster(
            http_config(port, up.port), "probe", probe.port)
        with Sluice(cfg, concurrency=1) as s:
            s.wait_stat("wasmcustom.service_probe.ok", lambda v: v >= 3, timeout=10)
            s.expect_stat("wasmcustom.service_probe.failed", 0)
            check_eq(s.log_errors(), [])
    with Upstream(echo()) as up:
        port, dead = free_port(), free_port()
        cfg = wasm_service("service_probe", "probe 50", vm_id="probe2") + with_cluster(
            http_config(port, up.port), "probe", dead)
        with Sluice(cfg, concurrency=1) as s:
            # Nothing listens: Envoy's local 503 answer, counted as "bad".
            s.wait_stat("wasmcustom.service_probe.bad", lambda v: v >= 2, timeout=10)
            s.expect_stat("wasmcustom.service_probe.ok", 0)
            check_eq(s.log_errors(), [])


@test
def client_gone_while_callout_in_flight():
    with Upstream(echo()) as up, Upstream(delay(1, fixed(200))) as auth:
        port = free_port()
        with Sluice(auth_config(port, up.port, auth.port, "auth 3000")) as s:
            for _ in range(5):
                c = RawConn(port)
                c.send(b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.05)
                c.sock.close()
            time.sleep(1.5 * timeout_scale())  # the callouts complete or are cancelled
            r = http_request(port, "GET", "/after", timeout=10)
            check_eq(r.status, 200)
            check(s.alive(), "sluice died")
            check_eq(s.log_errors(), [])


if __name__ == "__main__":
    run()
