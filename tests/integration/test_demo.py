# `make demo`'s script, run non-interactively (DEMO_SECONDS) on free ports: it must start the
# upstream and sluice, serve the routes it advertises, and stop by itself with exit code 0.
import os
import subprocess
import time

from harness import *


@test(timeout=90)
def demo_serves_then_stops_by_itself():
    ports = {"DEMO_PORT": free_port(), "DEMO_UPSTREAM_PORT": free_port(),
             "DEMO_TCP_PORT": free_port(), "DEMO_ADMIN_PORT": free_port()}
    env = dict(os.environ, SLUICE_BIN=sluice_bin(), DEMO_SECONDS=str(int(6 * timeout_scale())),
               **{k: str(v) for k, v in ports.items()})
    p = subprocess.Popen([os.path.join(ROOT, "scripts", "demo")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def ready():
            try:
                return http_request(ports["DEMO_ADMIN_PORT"], "GET", "/ready",
                                    timeout=0.5).status == 200
            except OSError:
                return False
        wait_for(ready, 10, what="demo admin /ready")
        wait_port(ports["DEMO_UPSTREAM_PORT"])
        # L4: an HTTP/1.0 request through the TCP proxy reaches the upstream unchanged.
        r = raw_request(ports["DEMO_TCP_PORT"], b"GET /via-tcp HTTP/1.0\r\n\r\n")
        check(r is not None and r.status == 200, r)
        check_eq(r.json()["path"], "/via-tcp")
        # L7: the direct response and a proxied request with the native filter's header.
        r = http_request(ports["DEMO_PORT"], "GET", "/hello")
        check_eq((r.status, r.body), (200, b"hello from sluice\n"))
        r = http_request(ports["DEMO_PORT"], "GET", "/api/users")
        check_eq(r.status, 200)
        doc = r.json()
        check_eq(doc["path"], "/users")
        check_eq({k.lower(): v for k, v in doc["headers"].items()}.get("x-proxied-by"), "sluice")
        # The Wasm plugin (C SDK) adds its configured response header.
        check_eq(r.header("x-wasm-plugin"), "add_header.wasm says hello")
        out, _ = p.communicate(timeout=30 * timeout_scale())
        text = out.decode("utf-8", "replace")
        check_eq(p.returncode, 0, text)
        check_in("curl -i http://127.0.0.1:%d/hello" % ports["DEMO_PORT"], text)
        check_in("time is up", text)
        check_in("byte_count demo_tcp: connection", text)
        check_in("x-wasm-plugin: add_header.wasm says hello", text)
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    run()
