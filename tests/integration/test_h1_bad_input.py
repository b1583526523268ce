#!/usr/bin/env python3
# Malformed HTTP/1.1 sent byte-exact to the real sluice: each case gets its status code and the
# connection closed, and nothing of it reaches the upstream (no smuggled request).

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

CHUNKED = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

# (name, bytes sent, expected status)
CASES = [
    # line endings: bare LF and bare CR are refused, not guessed at (RFC 9112 2.2)
    ("bare_lf_after_request_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    ("bare_lf_after_field", "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", 400),
    ("bare_lf_only", "GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare_cr_in_field", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
    ("bare_cr_after_request_line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    # framing ambiguities (request smuggling)
    ("cl_and_te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_and_cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("differing_cl_fields", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                            "Content-Length: 4\r\n\r\nabcd", 400),
    ("differing_cl_list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
    ("cl_plus_sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("cl_negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    ("cl_not_a_number", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3a\r\n\r\nabc", 400),
    ("cl_empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    ("cl_overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
     400),
    ("te_not_chunked_last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     400),
    ("te_gzip_only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("te_chunked_twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_in_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_unsupported_coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
                              "\r\n0\r\n\r\n", 501),
    # chunked bodies
    ("chunk_size_not_hex", CHUNKED + "zz\r\n", 400),
    ("chunk_size_empty", CHUNKED + "\r\nabc\r\n", 400),
    ("chunk_size_overflow", CHUNKED + "10000000000000000\r\n", 400),
    ("chunk_size_0x", CHUNKED + "0x3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_size_bare_lf", CHUNKED + "3\nabc\r\n0\r\n\r\n", 400),
    ("chunk_size_bare_cr", CHUNKED + "3\rabc\r\n0\r\n\r\n", 400),
    ("chunk_data_without_crlf", CHUNKED + "3\r\nabcX\r\n0\r\n\r\n", 400),
    ("chunk_extension_too_long", CHUNKED + "3;" + "e" * 2000 + "\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_extension_control", CHUNKED + "3;a\x01\r\nabc\r\n0\r\n\r\n", 400),
    # field syntax
    ("obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    ("fold_before_first_field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("tab_before_colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    ("nul_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400),
    ("nul_in_name", "GET / HTTP/1.1\r\nHost: a\r\nX\x00A: b\r\n\r\n", 400),
    ("control_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", 400),
    ("del_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n", 400),
    ("escape_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x1b[31m\r\n\r\n", 400),
    ("separator_in_name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400),
    ("empty_name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
    ("no_colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
    # start line
    ("garbage", "HELLO\r\n\r\n", 400),
    ("bad_method_char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("leading_space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("double_space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("control_in_target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("non_ascii_target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("asterisk_for_get", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("no_version", "GET /\r\nHost: a\r\n\r\n", 400),
    ("lowercase_version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ("trailing_space_after_version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    ("http2_version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("http09_version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    # Host (RFC 9112 3.2)
    ("missing_host_in_http11", "GET / HTTP/1.1\r\nX: 1\r\n\r\n", 400),
    ("two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
]


def _latin1(s):
    return s.encode("latin-1") if isinstance(s, str) else s


SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


def _expect_refused(port, name, data, status):
    with RawConn(port) as c:
        c.send(_latin1(data))
        try:
            r = c.read_response()
        except (EOFError, ConnectionResetError):
            raise TestFailure("%s: connection closed without a response" % name)
        check_eq(r.status, status, name)
        check(c.closed_by_peer(), "%s: connection left open after %d" % (name, status))


@test
def each_malformed_request_gets_its_status_and_close():
    """Every case is followed by a second request on the same connection, which must never be
    forwarded. A head with a fault never reaches the upstream; a chunked body's fault is found
    after its (valid) head was streamed on, and that upstream request is abandoned."""
    up = Upstream()
    port = free_port()
    with Sluice(http_config(port, up.port)):
        failures = []
        # faulty heads first: none of them may reach the upstream
        heads = [c for c in CASES if not c[1].startswith(CHUNKED)]
        bodies = [c for c in CASES if c[1].startswith(CHUNKED)]
        for name, data, status in heads + bodies:
            try:
                _expect_refused(port, name, data + SMUGGLED, status)
            except (TestFailure, OSError) as e:
                failures.append(str(e))
            if name == heads[-1][0] and up.requests:
                failures.append("a malformed head reached the upstream: %r"
                                % [q["path"] for q in up.requests])
        check(not failures, "%d of %d cases failed:\n  %s"
              % (len(failures), len(CASES), "\n  ".join(failures)))
        check_eq([q["path"] for q in up.requests if q["path"] != "/"], [],
                 "a request after a malformed one reached the upstream")


@test
def bad_request_after_a_good_one_is_not_forwarded():
    """A valid request pipelined with a malformed one: the first is answered, then 400 and
    close; only the first reaches the upstream."""
    up = Upstream()
    port = free_port()
    with Sluice(http_config(port, up.port)):
        with RawConn(port) as c:
            c.send(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n"
                   b"Host: a\r\n\r\n")
            r = c.read_response()
            check_eq(r.status, 200)
            r = c.read_response()
            check_eq(r.status, 400)
            check(c.closed_by_peer(), "connection left open after 400")
        check_eq([q["path"] for q in up.requests], ["/first"])


@test
def header_section_over_the_limit_is_431():
    up = Upstream()
    port = free_port()
    with Sluice(http_config(port, up.port, hcm_extra="          max_request_headers_kb: 4\n")):
        _expect_refused(port, "one big field", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n"
                        % ("v" * 5000), 431)
        _expect_refused(port, "one endless line", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s"
                        % ("v" * 5000), 431)
        _expect_refused(port, "too many fields", "GET / HTTP/1.1\r\nHost: a\r\n"
                        + "".join("X-%d: v\r\n" % i for i in range(150)) + "\r\n", 431)
        check_eq(len(up.requests), 0)
        # just under the limits still goes through
        r = http_request(port, "GET", "/ok", headers={"X-Small": "v" * 3000})
        check_eq(r.status, 200)


@test
def every_split_of_a_bad_request_is_refused_the_same():
    """Bytes dribbled one send at a time are judged like bytes sent at once."""
    up = Upstream()
    port = free_port()
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    with Sluice(http_config(port, up.port)):
        with RawConn(port) as c:
            for i in range(len(data)):
                try:
                    c.send(data[i:i + 1])
                except OSError:
                    break
            r = c.read_response()
            check_eq(r.status, 400)
            check(c.closed_by_peer())
        check_eq(len(up.requests), 0)


@test
def valid_edge_cases_are_accepted():
    """What strictness must not refuse: empty lines before a request, HTTP/1.0 without Host,
    chunk extensions, obs-text in values."""
    up = Upstream()
    port = free_port()
    with Sluice(http_config(port, up.port)):
        ok = [
            b"\r\nGET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            b"GET /b HTTP/1.0\r\n\r\n",
            b"POST /d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
            b"\r\n3;name=val\r\nabc\r\n0\r\n\r\n",
            b"GET /e HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\nConnection: close\r\n\r\n",
        ]
        for data in ok:
            with RawConn(port) as c:
                c.send(data)
                r = c.read_response()
                check_eq(r.status, 200, repr(data[:40]))
        check_eq(sorted(q["path"] for q in up.requests), ["/a", "/b", "/d", "/e"])
        bodies = {q["path"]: q["body"] for q in up.requests}
        check_eq(bodies["/d"], b"abc")


@test
def identical_content_lengths_are_forwarded_as_one():
    """RFC 9110 8.6: "Content-Length: 3, 3" may be accepted, but then the upstream must get a
    single valid Content-Length, not the list."""
    up = Upstream()
    port = free_port()
    with Sluice(http_config(port, up.port)):
        with RawConn(port) as c:
            c.send(b"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n"
                   b"Connection: close\r\n\r\nabc")
            r = c.read_response()
            check_eq(r.status, 200)
        check_eq([(q["path"], q["body"]) for q in up.requests], [("/c", b"abc")])


if __name__ == "__main__":
    run()
