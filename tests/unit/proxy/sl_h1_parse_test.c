/* Tests of the HTTP/1.1 parser: every framing and anti-smuggling rule, and that any split of
 * the input into calls (whole, byte by byte, every two-way split, random) gives the same events. */
#include "proxy/sl_h1_parse.h"

#include <stdlib.h>

#include "../../t.h"

/* ---- a caller: keeps unconsumed bytes, appends new ones, records events as text ------------ */

#define TRACE_MAX 16384
#define MSG_MAX 200000

static const char *const err_names[] = {
#define X_(name, status, msg) #name,
    SL_H1_ERROR_LIST(X_)
#undef X_
};

typedef struct trace {
    char s[TRACE_MAX];
    size_t len;
    bool in_body; /* consecutive BODY events merge: splits change their sizes */
} trace_t;

static void tr_put(trace_t *t, const char *fmt_s, size_t n)
{
    if (t->len + n >= TRACE_MAX)
        n = TRACE_MAX - 1 - t->len;
    if (n == 0)
        return;
    memcpy(t->s + t->len, fmt_s, n);
    t->len += n;
    t->s[t->len] = 0;
}

static void tr_str(trace_t *t, const char *s)
{
    tr_put(t, s, strlen(s));
}

static void tr_fields(trace_t *t, const sl_h1_event_t *ev)
{
    for (uint32_t i = 0; i < ev->n_headers; i++) {
        tr_put(t, ev->headers[i].name, ev->headers[i].name_len);
        tr_str(t, "=");
        tr_put(t, ev->headers[i].value, ev->headers[i].value_len);
        tr_str(t, "|");
    }
}

static void record(trace_t *t, const sl_h1_event_t *ev, sl_h1_kind_t kind)
{
    char tmp[160];
    if (ev->type != SL_H1_EV_BODY && ev->type != SL_H1_EV_NEED_MORE && t->in_body) {
        tr_str(t, "\n");
        t->in_body = false;
    }
    switch (ev->type) {
    case SL_H1_EV_NEED_MORE:
        break;
    case SL_H1_EV_HEADERS:
        if (kind == SL_H1_REQUEST) {
            tr_str(t, "H ");
            tr_put(t, ev->method.p, ev->method.len);
            tr_str(t, " ");
            tr_put(t, ev->target.p, ev->target.len);
        } else {
            snprintf(tmp, sizeof(tmp), "H %d ", ev->status);
            tr_str(t, tmp);
            tr_put(t, ev->reason.p, ev->reason.len);
        }
        snprintf(tmp, sizeof(tmp), " v%d|", ev->version);
        tr_str(t, tmp);
        tr_fields(t, ev);
        snprintf(tmp, sizeof(tmp), " f%d cl%lld ka%d ec%d up%d\n", (int)ev->framing,
                 (long long)ev->content_length, ev->keep_alive, ev->expect_continue, ev->upgrade);
        tr_str(t, tmp);
        break;
    case SL_H1_EV_BODY:
        if (!t->in_body)
            tr_str(t, "B ");
        t->in_body = true;
        tr_put(t, ev->data.p, ev->data.len);
        break;
    case SL_H1_EV_TRAILERS:
        tr_str(t, "T ");
        tr_fields(t, ev);
        tr_str(t, "\n");
        break;
    case SL_H1_EV_MESSAGE_COMPLETE:
        tr_str(t, "C\n");
        break;
    case SL_H1_EV_ERROR:
        snprintf(tmp, sizeof(tmp), "E %s@%llu\n", err_names[ev->error],
                 (unsigned long long)ev->error_offset);
        tr_str(t, tmp);
        break;
    }
}

/* Feeds msg in pieces ending at cuts[0..ncuts) (then the rest), then signals EOF. Returns a
 * static trace. `method` (responses) is the method of the request being answered. */
static const char *feed(sl_h1_kind_t kind, const sl_h1_parse_limits_t *lim, const char *method,
                        const char *msg, size_t len, const size_t *cuts, size_t ncuts)
{
    static trace_t t;
    static char buf[MSG_MAX];
    memset(&t, 0, sizeof(t));
    sl_h1_parser_t *p = malloc(sizeof(*p));
    sl_h1_parser_init(p, kind, lim);
    if (method)
        sl_h1_parser_set_request_method(p, method, strlen(method));
    size_t have = 0, off = 0;
    bool failed = false;
    for (size_t k = 0; k <= ncuts && !failed; k++) {
        size_t stop = k < ncuts ? cuts[k] : len;
        if (stop < off)
            continue;
        memcpy(buf + have, msg + off, stop - off);
        have += stop - off;
        off = stop;
        for (int guard = 0; guard < 100000; guard++) {
            sl_h1_event_t ev;
            size_t n = sl_h1_parse(p, buf, have, &ev);
            T_ASSERT(n <= have);
            record(&t, &ev, kind);
            memmove(buf, buf + n, have - n);
            have -= n;
            if (ev.type == SL_H1_EV_ERROR) {
                failed = true;
                break;
            }
            if (ev.type == SL_H1_EV_NEED_MORE)
                break;
        }
    }
    if (!failed) {
        sl_h1_event_t ev;
        sl_h1_parser_finish(p, have, &ev);
        record(&t, &ev, kind);
        if (ev.type == SL_H1_EV_NEED_MORE)
            tr_str(&t, "EOF\n");
    }
    free(p);
    return t.s;
}

static const char *whole(sl_h1_kind_t kind, const char *method, const char *msg)
{
    return feed(kind, NULL, method, msg, strlen(msg), NULL, 0);
}
#define REQ(msg) whole(SL_H1_REQUEST, NULL, msg)
#define RESP(method, msg) whole(SL_H1_RESPONSE, method, msg)

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void) { return t_rand(&rng_state); }

/* Every way of cutting msg must give the trace of the whole-buffer run. */
static void check_splits(sl_h1_kind_t kind, const sl_h1_parse_limits_t *lim, const char *method,
                         const char *msg, size_t len)
{
    static char expect[TRACE_MAX];
    snprintf(expect, sizeof(expect), "%s", feed(kind, lim, method, msg, len, NULL, 0));
    size_t *cuts = malloc((len + 1) * sizeof(size_t));
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    T_EQ_STR(feed(kind, lim, method, msg, len, cuts, len), expect);
    for (size_t i = 0; i <= len; i++)
        T_EQ_STR(feed(kind, lim, method, msg, len, &i, 1), expect);
    for (int r = 0; r < 200; r++) {
        size_t n = 0, at = 0;
        while (at < len && n < len) {
            at += 1 + rng() % 9;
            cuts[n++] = at < len ? at : len;
        }
        T_EQ_STR(feed(kind, lim, method, msg, len, cuts, n), expect);
    }
    free(cuts);
}
#define SPLITS_REQ(msg) check_splits(SL_H1_REQUEST, NULL, NULL, msg, sizeof(msg) - 1)
#define SPLITS_RESP(m, msg) check_splits(SL_H1_RESPONSE, NULL, m, msg, sizeof(msg) - 1)

/* ---- requests ------------------------------------------------------------------------------ */

TEST(request_get_reports_line_fields_and_keep_alive)
{
    T_EQ_STR(REQ("GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept:  */*  \r\n\r\n"),
             "H GET /a?b=c v11|Host=x|Accept=*/*| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

TEST(request_content_length_body_is_reported_and_completes)
{
    T_EQ_STR(REQ("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
             "H POST /p v11|Host=x|Content-Length=5| f1 cl5 ka1 ec0 up0\nB hello\nC\nEOF\n");
}

TEST(request_content_length_zero_completes_without_bytes)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
             "H POST / v11|Host=x|Content-Length=0| f1 cl0 ka1 ec0 up0\nC\nEOF\n");
}

TEST(request_chunked_body_with_extensions_and_trailers)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;a=b\r\nhello\r\nA ; q=\"x\"\r\n0123456789\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n"),
             "H POST / v11|Host=x|Transfer-Encoding=chunked| f2 cl-1 ka1 ec0 up0\n"
             "B hello0123456789\nT X-T=1|Y=2|\nC\nEOF\n");
}

TEST(request_chunked_without_trailers_completes)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n"),
             "H POST / v11|Host=x|Transfer-Encoding=Chunked| f2 cl-1 ka1 ec0 up0\nB abc\nC\nEOF\n");
}

TEST(pipelined_requests_are_reported_in_order)
{
    T_EQ_STR(REQ("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
                 "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
             "H GET /1 v11|Host=x| f0 cl-1 ka1 ec0 up0\nC\n"
             "H POST /2 v11|Host=x|Content-Length=2| f1 cl2 ka1 ec0 up0\nB ok\nC\n"
             "H GET /3 v11|Host=x|Connection=close| f0 cl-1 ka0 ec0 up0\nC\nEOF\n");
}

TEST(empty_lines_before_a_request_are_skipped)
{
    T_EQ_STR(REQ("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
             "H GET / v11|Host=x| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

TEST(http10_keeps_alive_only_when_asked)
{
    T_EQ_STR(REQ("GET / HTTP/1.0\r\n\r\n"), "H GET / v10| f0 cl-1 ka0 ec0 up0\nC\nEOF\n");
    T_EQ_STR(REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
             "H GET / v10|Connection=Keep-Alive| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, CLOSE\r\n\r\n"),
             "H GET / v11|Host=x|Connection=foo, CLOSE| f0 cl-1 ka0 ec0 up0\nC\nEOF\n");
}

TEST(higher_minor_version_is_treated_as_1_1)
{
    T_EQ_STR(REQ("GET / HTTP/1.7\r\nHost: x\r\n\r\n"),
             "H GET / v11|Host=x| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

TEST(expect_continue_and_upgrade_are_flagged)
{
    T_EQ_STR(REQ("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nz"),
             "H PUT / v11|Host=x|Expect=100-Continue|Content-Length=1| f1 cl1 ka1 ec1 up0\n"
             "B z\nC\nEOF\n");
    T_EQ_STR(REQ("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
             "H GET / v10|Expect=100-continue| f0 cl-1 ka0 ec0 up0\nC\nEOF\n");
    T_EQ_STR(
        REQ("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
        "H GET /ws v11|Host=x|Connection=Upgrade|Upgrade=websocket| f0 cl-1 ka1 ec0 up1\n"
        "C\nEOF\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"),
             "H GET / v11|Host=x|Upgrade=websocket| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

TEST(identical_content_lengths_are_folded)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n"
                 "abc"),
             "H POST / v11|Host=x|Content-Length=3, 3|Content-Length=3| f1 cl3 ka1 ec0 up0\n"
             "B abc\nC\nEOF\n");
}

TEST(request_target_forms)
{
    T_EQ_STR(REQ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
             "H CONNECT example.com:443 v11|Host=example.com:443| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    T_EQ_STR(REQ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
             "H OPTIONS * v11|Host=x| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    T_EQ_STR(REQ("GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n"),
             "H GET http://x/y v11|Host=x| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    T_EQ_STR(REQ("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_TARGET@4\n");
    T_EQ_STR(REQ("CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_TARGET@8\n");
    T_EQ_STR(REQ("GET x.y:80 HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_TARGET@4\n");
}

TEST(obs_text_in_values_is_kept)
{
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\t\r\n\r\n"),
             "H GET / v11|Host=x|X=caf\xc3\xa9| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

TEST(empty_header_value_is_allowed)
{
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nY:   \r\n\r\n"),
             "H GET / v11|Host=x|X-Empty=|Y=| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

/* ---- bad requests: one status each, never a guess ----------------------------------------- */

TEST(bare_lf_is_rejected_anywhere)
{
    T_EQ_STR(REQ("GET / HTTP/1.1\nHost: x\r\n\r\n"), "E SL_H1_E_BARE_LF@14\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\n\r\n"), "E SL_H1_E_BARE_LF@23\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\n\n"), "E SL_H1_E_BARE_LF@25\n");
    T_EQ_STR(REQ("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_BARE_LF@0\n");
    T_EQ_STR(
        REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n"),
        "H POST / v11|Host=x|Transfer-Encoding=chunked| f2 cl-1 ka1 ec0 up0\n"
        "E SL_H1_E_BARE_LF@57\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n\r\n"),
             "H POST / v11|Host=x|Transfer-Encoding=chunked| f2 cl-1 ka1 ec0 up0\n"
             "E SL_H1_E_BARE_LF@63\n");
}

TEST(bare_cr_is_rejected_anywhere)
{
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\rY: 1\r\n\r\n"), "E SL_H1_E_BARE_CR@23\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\rX\r\nHost: x\r\n\r\n"), "E SL_H1_E_BARE_CR@14\n");
    T_EQ_STR(REQ("\rGET / HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_BARE_CR@0\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\n\r\r\n"), "E SL_H1_E_BARE_CR@25\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\rx\r\n"),
             "H POST / v11|Host=x|Transfer-Encoding=chunked| f2 cl-1 ka1 ec0 up0\n"
             "E SL_H1_E_BARE_CR@58\n");
}

TEST(both_content_length_and_transfer_encoding_are_rejected)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
                 "chunked\r\n\r\n"),
             "E SL_H1_E_CL_AND_TE@0\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: "
                 "3\r\n\r\n"),
             "E SL_H1_E_CL_AND_TE@0\n");
    T_EQ_INT(sl_h1_error_status(SL_H1_E_CL_AND_TE), 400);
}

TEST(differing_content_lengths_are_rejected)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
             "E SL_H1_E_CONTENT_LENGTH_DIFFERS@61\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n"),
             "E SL_H1_E_CONTENT_LENGTH_DIFFERS@42\n");
}

TEST(invalid_content_length_is_rejected)
{
    static const char *const bad[] = {
        "+5", "-1", "5a", "", ",", "0x10", "1 2", "9999999999999999999", "1152921504606846976"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char m[200];
        snprintf(m, sizeof(m), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n", bad[i]);
        T_EQ_STR(REQ(m), "E SL_H1_E_CONTENT_LENGTH@42\n");
    }
    /* the largest accepted length, 2^60 - 1 */
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1152921504606846975\r\n\r\n"),
             "H POST / v11|Host=x|Content-Length=1152921504606846975| f1 cl1152921504606846975 "
             "ka1 ec0 up0\nE SL_H1_E_TRUNCATED@65\n");
}

TEST(transfer_encoding_other_than_chunked_is_rejected)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
             "E SL_H1_E_TE_NOT_CHUNKED@0\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
             "E SL_H1_E_TE_NOT_CHUNKED@0\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
                 "chunked\r\n\r\n"),
             "E SL_H1_E_TE_NOT_CHUNKED@0\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
             "E SL_H1_E_TE_UNSUPPORTED@0\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"),
             "E SL_H1_E_TE_NOT_CHUNKED@0\n");
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n"),
             "E SL_H1_E_TE_NOT_CHUNKED@45\n");
    T_EQ_STR(REQ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
             "E SL_H1_E_TE_HTTP10@0\n");
    T_EQ_INT(sl_h1_error_status(SL_H1_E_TE_UNSUPPORTED), 501);
    T_EQ_INT(sl_h1_error_status(SL_H1_E_TE_NOT_CHUNKED), 400);
}

TEST(invalid_chunk_sizes_are_rejected)
{
#define CH(body) REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" body)
#define CH_HEAD "H POST / v11|Host=x|Transfer-Encoding=chunked| f2 cl-1 ka1 ec0 up0\n"
    T_EQ_STR(CH("g\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@56\n");
    T_EQ_STR(CH("\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@56\n");
    T_EQ_STR(CH(";x\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@56\n");
    T_EQ_STR(CH("-1\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@56\n");
    T_EQ_STR(CH("0x5\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@57\n");
    T_EQ_STR(CH("1 2\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@58\n");
    T_EQ_STR(CH("10000000000000000\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@71\n");
    T_EQ_STR(CH("fffffffffffffffff\r\n"), CH_HEAD "E SL_H1_E_CHUNK_SIZE@71\n");
    /* a large size with leading zeros is still a valid number */
    T_EQ_STR(CH("00000000000000000000001\r\nx\r\n0\r\n\r\n"), CH_HEAD "B x\nC\nEOF\n");
}

TEST(chunk_data_must_end_in_crlf)
{
    T_EQ_STR(CH("3\r\nabcd\r\n"), CH_HEAD "B abc\nE SL_H1_E_CHUNK_DATA_CRLF@62\n");
    T_EQ_STR(CH("3\r\nabc\rX"), CH_HEAD "B abc\nE SL_H1_E_CHUNK_DATA_CRLF@63\n");
    T_EQ_STR(CH("3\r\nabc\n"), CH_HEAD "B abc\nE SL_H1_E_CHUNK_DATA_CRLF@62\n");
}

TEST(chunk_extensions_are_bounded)
{
    char m[1200];
    int n = snprintf(m, sizeof(m),
                     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    memset(m + n, 'a', 300);
    memcpy(m + n + 300, "\r\nx\r\n0\r\n\r\n", 11);
    T_EQ_STR(REQ(m), CH_HEAD "E SL_H1_E_CHUNK_EXT@313\n");
    sl_h1_parse_limits_t lim = {.max_chunk_ext_bytes = 400};
    T_EQ_STR(feed(SL_H1_REQUEST, &lim, NULL, m, strlen(m), NULL, 0), CH_HEAD "B x\nC\nEOF\n");
    T_EQ_STR(CH("1;a\x01\r\nx\r\n"), CH_HEAD "E SL_H1_E_CHUNK_EXT@59\n");
}

TEST(obs_fold_is_rejected)
{
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"), "E SL_H1_E_OBS_FOLD@31\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\n\tHost: x\r\n\r\n"), "E SL_H1_E_OBS_FOLD@16\n");
}

TEST(whitespace_before_colon_is_rejected)
{
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), "E SL_H1_E_HEADER_SPACE@20\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n"), "E SL_H1_E_HEADER_SPACE@20\n");
}

TEST(control_characters_in_fields_are_rejected)
{
    static const char m1[] = "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n";
    T_EQ_STR(feed(SL_H1_REQUEST, NULL, NULL, m1, sizeof(m1) - 1, NULL, 0),
             "E SL_H1_E_HEADER_VALUE@29\n");
    static const char m2[] = "GET / HTTP/1.1\r\nHost: x\r\nX\0: a\r\n\r\n";
    T_EQ_STR(feed(SL_H1_REQUEST, NULL, NULL, m2, sizeof(m2) - 1, NULL, 0),
             "E SL_H1_E_HEADER_NAME@26\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n"), "E SL_H1_E_HEADER_VALUE@29\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nX: a\x1b[0m\r\n\r\n"),
             "E SL_H1_E_HEADER_VALUE@29\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nX(y): a\r\n\r\n"), "E SL_H1_E_HEADER_NAME@26\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n"), "E SL_H1_E_HEADER_NAME@25\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), "E SL_H1_E_HEADER_NO_COLON@32\n");
}

TEST(invalid_method_target_version_are_rejected)
{
    T_EQ_STR(REQ("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_METHOD@1\n");
    T_EQ_STR(REQ(" GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_METHOD@0\n");
    T_EQ_STR(REQ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_TARGET@4\n");
    T_EQ_STR(REQ("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_TARGET@6\n");
    T_EQ_STR(REQ("GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_TARGET@5\n");
    T_EQ_STR(REQ("GET /\r\nHost: x\r\n\r\n"), "E SL_H1_E_VERSION@5\n");
    T_EQ_STR(REQ("GET / http/1.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_VERSION@6\n");
    T_EQ_STR(REQ("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), "E SL_H1_E_VERSION@14\n");
    T_EQ_STR(REQ("GET / HTTP/1.\r\nHost: x\r\n\r\n"), "E SL_H1_E_VERSION@6\n");
    T_EQ_STR(REQ("GET / HTTP/11.1\r\nHost: x\r\n\r\n"), "E SL_H1_E_VERSION@6\n");
    T_EQ_STR(REQ("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), "E SL_H1_E_VERSION_UNSUPPORTED@6\n");
    T_EQ_STR(REQ("GET / HTTP/0.9\r\n\r\n"), "E SL_H1_E_VERSION_UNSUPPORTED@6\n");
    T_EQ_INT(sl_h1_error_status(SL_H1_E_VERSION_UNSUPPORTED), 505);
}

TEST(bad_start_line_is_rejected_before_the_head_ends)
{
    /* no empty line yet: the start line alone is enough to refuse */
    T_EQ_STR(REQ("G@T / HTTP/1.1\r\nHost: x\r\n"), "E SL_H1_E_METHOD@1\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: x\r\n"), "E SL_H1_E_TRUNCATED@25\n");
}

TEST(host_must_appear_once_in_http11)
{
    T_EQ_STR(REQ("GET / HTTP/1.1\r\n\r\n"), "E SL_H1_E_HOST@0\n");
    T_EQ_STR(REQ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), "E SL_H1_E_HOST@0\n");
    T_EQ_STR(REQ("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), "E SL_H1_E_HOST@0\n");
}

TEST(header_section_over_the_size_limit_is_431)
{
    sl_h1_parse_limits_t lim = {.max_head_bytes = 60};
    const char *ok = "GET / HTTP/1.1\r\nHost: x\r\nX: 0123456789012345678901234567\r\n\r\n";
    T_EQ_UINT(strlen(ok), 60);
    T_EQ_STR(feed(SL_H1_REQUEST, &lim, NULL, ok, strlen(ok), NULL, 0),
             "H GET / v11|Host=x|X=0123456789012345678901234567| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    const char *big = "GET / HTTP/1.1\r\nHost: x\r\nX: 01234567890123456789012345678\r\n\r\n";
    T_EQ_STR(feed(SL_H1_REQUEST, &lim, NULL, big, strlen(big), NULL, 0),
             "E SL_H1_E_HEAD_TOO_LARGE@60\n");
    /* an endless header line is refused once the limit is reached, not when it ends */
    static char endless[70000];
    memcpy(endless, "GET / HTTP/1.1\r\nX: ", 19);
    memset(endless + 19, 'a', sizeof(endless) - 20);
    T_EQ_STR(REQ(endless), "E SL_H1_E_HEAD_TOO_LARGE@61440\n");
    T_EQ_INT(sl_h1_error_status(SL_H1_E_HEAD_TOO_LARGE), 431);
}

TEST(too_many_header_fields_is_431)
{
    sl_h1_parse_limits_t lim = {.max_headers = 3};
    const char *m = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n";
    T_EQ_STR(feed(SL_H1_REQUEST, &lim, NULL, m, strlen(m), NULL, 0),
             "H GET / v11|Host=x|A=1|B=2| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    m = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    T_EQ_STR(feed(SL_H1_REQUEST, &lim, NULL, m, strlen(m), NULL, 0),
             "E SL_H1_E_TOO_MANY_HEADERS@37\n");
    T_EQ_INT(sl_h1_error_status(SL_H1_E_TOO_MANY_HEADERS), 431);
    /* the built-in cap holds even when the limit asks for more */
    static char many[8000];
    size_t n = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < SL_H1_MAX_HEADERS; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "H%d: v\r\n", i);
    snprintf(many + n, sizeof(many) - n, "\r\n");
    lim.max_headers = 100000;
    T_ASSERT(strstr(feed(SL_H1_REQUEST, &lim, NULL, many, strlen(many), NULL, 0),
                    "E SL_H1_E_TOO_MANY_HEADERS@") != NULL);
}

TEST(trailers_over_the_limit_are_431)
{
    sl_h1_parse_limits_t lim = {.max_trailer_bytes = 16};
    const char *m = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "0\r\nX: 0123456789012\r\n\r\n";
    T_EQ_STR(feed(SL_H1_REQUEST, &lim, NULL, m, strlen(m), NULL, 0),
             CH_HEAD "E SL_H1_E_TRAILERS_TOO_LARGE@75\n");
}

TEST(errors_are_sticky)
{
    sl_h1_parser_t p;
    sl_h1_event_t ev;
    sl_h1_parser_init(&p, SL_H1_REQUEST, NULL);
    const char *m = "GET / HTTP/1.1\r\nHost : x\r\n\r\n";
    T_EQ_UINT(sl_h1_parse(&p, m, strlen(m), &ev), 0);
    T_EQ_INT(ev.type, SL_H1_EV_ERROR);
    T_EQ_INT(ev.error, SL_H1_E_HEADER_SPACE);
    const char *good = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    T_EQ_UINT(sl_h1_parse(&p, good, strlen(good), &ev), 0);
    T_EQ_INT(ev.type, SL_H1_EV_ERROR);
    T_EQ_INT(ev.error, SL_H1_E_HEADER_SPACE);
    T_EQ_UINT(ev.error_offset, 20);
    T_EQ_STR(sl_h1_error_str(ev.error), "whitespace between header name and colon");
}

TEST(the_last_body_bytes_announce_the_end)
{
    sl_h1_parser_t p;
    sl_h1_event_t ev;
    sl_h1_parser_init(&p, SL_H1_RESPONSE, NULL);
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    size_t len = strlen(m), off = sl_h1_parse(&p, m, len, &ev);
    T_EQ_INT(ev.type, SL_H1_EV_HEADERS);
    T_ASSERT(!sl_h1_parser_ends_next(&p));
    /* two bytes, then the other three: only the last ones end the message */
    off += sl_h1_parse(&p, m + off, 2, &ev);
    T_EQ_INT(ev.type, SL_H1_EV_BODY);
    T_ASSERT(!sl_h1_parser_ends_next(&p));
    off += sl_h1_parse(&p, m + off, len - off, &ev);
    T_EQ_INT(ev.type, SL_H1_EV_BODY);
    T_EQ_UINT(ev.data.len, 3);
    T_ASSERT(sl_h1_parser_ends_next(&p));
    T_EQ_UINT(sl_h1_parse(&p, m + off, 0, &ev), 0);
    T_EQ_INT(ev.type, SL_H1_EV_MESSAGE_COMPLETE);
    T_ASSERT(!sl_h1_parser_ends_next(&p));
    /* a chunked body's data is never the end: the last chunk and trailers follow */
    const char *c = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    len = strlen(c);
    off = sl_h1_parse(&p, c, len, &ev);
    T_EQ_INT(ev.type, SL_H1_EV_HEADERS);
    off += sl_h1_parse(&p, c + off, len - off, &ev);
    T_EQ_INT(ev.type, SL_H1_EV_BODY);
    T_ASSERT(!sl_h1_parser_ends_next(&p));
}

TEST(eof_inside_a_message_is_truncation)
{
    T_EQ_STR(REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel"),
             "H POST / v11|Host=x|Content-Length=5| f1 cl5 ka1 ec0 up0\nB hel\n"
             "E SL_H1_E_TRUNCATED@50\n");
    T_EQ_STR(CH("5\r\nhel"), CH_HEAD "B hel\nE SL_H1_E_TRUNCATED@62\n");
    T_EQ_STR(REQ("GET / HT"), "E SL_H1_E_TRUNCATED@8\n");
    T_EQ_STR(REQ(""), "EOF\n");
    T_EQ_STR(REQ("\r\n"), "EOF\n");
}

/* ---- responses ------------------------------------------------------------------------------ */

TEST(response_with_content_length)
{
    T_EQ_STR(RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
             "H 200 OK v11|Content-Length=2| f1 cl2 ka1 ec0 up0\nB hi\nC\nEOF\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"),
             "H 404  v11|Content-Length=0| f1 cl0 ka1 ec0 up0\nC\nEOF\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
             "H 200  v11|Content-Length=0| f1 cl0 ka1 ec0 up0\nC\nEOF\n");
}

TEST(response_without_length_is_read_until_close)
{
    T_EQ_STR(RESP("GET", "HTTP/1.1 200 OK\r\nServer: s\r\n\r\nall of it"),
             "H 200 OK v11|Server=s| f3 cl-1 ka0 ec0 up0\nB all of it\nC\n");
    T_EQ_STR(RESP("GET", "HTTP/1.0 200 OK\r\n\r\n"), "H 200 OK v10| f3 cl-1 ka0 ec0 up0\nC\n");
}

TEST(bodiless_responses_ignore_their_length)
{
    T_EQ_STR(RESP("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
             "H 200 OK v11|Content-Length=10| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"),
             "H 304 Not Modified v11|Content-Length=10| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 204 No Content\r\n\r\n"),
             "H 204 No Content v11| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

TEST(interim_responses_precede_the_final_one)
{
    T_EQ_STR(RESP("HEAD",
                  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
                  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
             "H 100 Continue v11| f0 cl-1 ka1 ec0 up0\nC\n"
             "H 103 Early Hints v11|Link=</s>| f0 cl-1 ka1 ec0 up0\nC\n"
             "H 200 OK v11|Content-Length=5| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}

TEST(request_method_is_used_up_by_the_final_response)
{
    /* the second response answers a GET: its body is read */
    T_EQ_STR(RESP("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"),
             "H 200 OK v11|Content-Length=2| f0 cl-1 ka1 ec0 up0\nC\n"
             "H 200 OK v11|Content-Length=2| f1 cl2 ka1 ec0 up0\nB ab\nC\nEOF\n");
}

TEST(switching_protocols_and_connect_become_tunnels)
{
    T_EQ_STR(RESP("GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: upgrade\r\n\r\n\x81\x05hello"),
             "H 101 Switching Protocols v11|Upgrade=websocket|Connection=upgrade| f4 cl-1 ka0 "
             "ec0 up1\nB \x81\x05hello\nC\n");
    T_EQ_STR(RESP("CONNECT", "HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 tunnel"),
             "H 200 Connection Established v11| f4 cl-1 ka0 ec0 up0\nB HTTP/1.1 tunnel\nC\n");
    T_EQ_STR(RESP("CONNECT", "HTTP/1.1 407 No\r\nContent-Length: 1\r\n\r\nx"),
             "H 407 No v11|Content-Length=1| f1 cl1 ka1 ec0 up0\nB x\nC\nEOF\n");

    sl_h1_parser_t p;
    sl_h1_event_t ev;
    sl_h1_parser_init(&p, SL_H1_REQUEST, NULL);
    const char *m = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: a\r\nConnection: upgrade\r\n\r\n";
    T_EQ_UINT(sl_h1_parse(&p, m, strlen(m), &ev), strlen(m));
    T_ASSERT(ev.upgrade);
    sl_h1_parser_tunnel(&p);
    T_ASSERT(sl_h1_parser_in_message(&p));
    T_EQ_UINT(sl_h1_parse(&p, "GET x", 5, &ev), 5);
    T_EQ_INT(ev.type, SL_H1_EV_BODY);
    T_EQ_MEM(ev.data.p, ev.data.len, "GET x", 5);
}

TEST(chunked_response_with_trailers)
{
    T_EQ_STR(RESP("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "4\r\nwiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n"),
             "H 200 OK v11|Transfer-Encoding=chunked| f2 cl-1 ka1 ec0 up0\nB wikipedia\n"
             "T Expires=never|\nC\nEOF\n");
}

TEST(bad_responses_are_rejected)
{
    T_EQ_STR(RESP("GET", "HTTP/1.1 20 OK\r\n\r\n"), "E SL_H1_E_STATUS@8\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 099 OK\r\n\r\n"), "E SL_H1_E_STATUS@9\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 600 OK\r\n\r\n"), "E SL_H1_E_STATUS@9\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 2000 OK\r\n\r\n"), "E SL_H1_E_STATUS@12\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 200 O\x01K\r\n\r\n"), "E SL_H1_E_STATUS@14\n");
    T_EQ_STR(RESP("GET", "HTTP/3.0 200 OK\r\n\r\n"), "E SL_H1_E_VERSION_UNSUPPORTED@0\n");
    T_EQ_STR(RESP("GET", "\r\nHTTP/1.1 200 OK\r\n\r\n"), "E SL_H1_E_STATUS@0\n");
    T_EQ_STR(
        RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        "E SL_H1_E_CL_AND_TE@0\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
             "E SL_H1_E_CONTENT_LENGTH_DIFFERS@52\n");
    T_EQ_STR(RESP("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
             "E SL_H1_E_TE_NOT_CHUNKED@0\n");
}

/* ---- every split gives the same events ------------------------------------------------------ */

TEST(splits_of_valid_requests_give_identical_events)
{
    SPLITS_REQ("\r\nGET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
               "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
               "PUT /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n"
               "GET /4 HTTP/1.0\r\n\r\n");
    SPLITS_REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
}

TEST(splits_of_valid_responses_give_identical_events)
{
    SPLITS_RESP("GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
                       "abcHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nxyz\r\n0\r\nA: b\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil close");
}

TEST(splits_of_bad_input_give_identical_errors)
{
    SPLITS_REQ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n");
    SPLITS_REQ("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n");
    SPLITS_REQ("GET / HTTP/1.1\r\nHost: x\nX: 1\r\n\r\n");
    SPLITS_REQ("\r\n\nGET / HTTP/1.1\r\n\r\n");
    SPLITS_REQ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    SPLITS_REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n10000000000000000\r\n");
    SPLITS_REQ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX");
    SPLITS_REQ("G{T / HTTP/1.1\r\nHost: x\r\n\r\n");
    SPLITS_REQ("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/9.9\r\n\r\n");
    /* found by the fuzzer: a bad start line and a bare LF on the next line */
    SPLITS_REQ("GET / HTTP/1chunkedt: x\r\n&\n");
}

/* ---- helpers ------------------------------------------------------------------------------- */

TEST(name_compare_ignores_case_only)
{
    T_ASSERT(SL_H1_NAME_EQ("Content-Length", 14, "content-length"));
    T_ASSERT(SL_H1_NAME_EQ("HOST", 4, "host"));
    T_ASSERT(!SL_H1_NAME_EQ("hosts", 5, "host"));
    T_ASSERT(!SL_H1_NAME_EQ("h0st", 4, "host"));
    T_ASSERT(!SL_H1_NAME_EQ("\x08ost", 4, "host"));
}

TEST(list_iteration_trims_and_skips_empty_elements)
{
    const char *v = " a ,, b\t,c  d ,";
    const char *pos = v, *end = v + strlen(v);
    sl_h1_slice_t t;
    T_ASSERT(sl_h1_parse_list_next(&pos, end, &t));
    T_EQ_MEM(t.p, t.len, "a", 1);
    T_ASSERT(sl_h1_parse_list_next(&pos, end, &t));
    T_EQ_MEM(t.p, t.len, "b", 1);
    T_ASSERT(sl_h1_parse_list_next(&pos, end, &t));
    T_EQ_MEM(t.p, t.len, "c  d", 4);
    T_ASSERT(!sl_h1_parse_list_next(&pos, end, &t));
    T_ASSERT(sl_h1_parse_list_has("keep-alive, Upgrade", 19, "upgrade", 7));
    T_ASSERT(!sl_h1_parse_list_has("keep-alive, Upgrades", 20, "upgrade", 7));
    T_ASSERT(!sl_h1_parse_list_has("", 0, "upgrade", 7));
}

TEST(hop_by_hop_fields_are_recognised)
{
    static const char *const hop[] = {"Connection", "keep-alive",        "Proxy-Connection", "TE",
                                      "trailer",    "Transfer-Encoding", "UPGRADE"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        T_ASSERT(sl_h1_parse_is_hop_by_hop(hop[i], strlen(hop[i])));
    T_ASSERT(!sl_h1_parse_is_hop_by_hop("Content-Length", 14));
    T_ASSERT(!sl_h1_parse_is_hop_by_hop("Host", 4));
    T_ASSERT(!sl_h1_parse_is_hop_by_hop("trailers", 8));
}

TEST(every_error_has_a_status_and_message)
{
    for (int e = SL_H1_E_BARE_LF; e <= SL_H1_E_STATE; e++) {
        int st = sl_h1_error_status((sl_h1_error_t)e);
        T_ASSERT(st == 400 || st == 431 || st == 501 || st == 505 || st == 500);
        T_ASSERT(strcmp(sl_h1_error_str((sl_h1_error_t)e), "unknown error") != 0);
    }
    T_EQ_STR(sl_h1_error_str((sl_h1_error_t)1000), "unknown error");
}

TEST(long_values_and_targets_are_checked_at_every_byte)
{
    /* values and targets are scanned 8 bytes at a time: a bad byte at any position is found */
    static const char bad_value[] = {'\x00', '\x01', '\x1f', '\x7f', '\n'};
    for (size_t b = 0; b < sizeof(bad_value); b++) {
        for (size_t pos = 0; pos < 40; pos++) {
            char v[41];
            memset(v, 'a', 40);
            v[40] = 0;
            char m[200];
            size_t n =
                (size_t)snprintf(m, sizeof(m), "GET / HTTP/1.1\r\nHost: x\r\nX: %s\r\n\r\n", v);
            m[28 + pos] = bad_value[b];
            const char *tr = feed(SL_H1_REQUEST, NULL, NULL, m, n, NULL, 0);
            T_ASSERT(strncmp(tr, "E SL_H1_E_", 10) == 0);
        }
    }
    for (size_t pos = 1; pos < 40; pos++) {
        char m[200];
        size_t n = (size_t)snprintf(m, sizeof(m), "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n",
                                    "0123456789012345678901234567890123456789");
        m[4 + pos] = (pos & 1) ? '\x80' : '\x7f';
        char want[64];
        snprintf(want, sizeof(want), "E SL_H1_E_TARGET@%zu\n", 4 + pos);
        T_EQ_STR(feed(SL_H1_REQUEST, NULL, NULL, m, n, NULL, 0), want);
    }
    /* TAB, SP and obs-text inside a long value are fine */
    T_EQ_STR(REQ("GET /0123456789abcdef0123456789 HTTP/1.1\r\nHost: x\r\n"
                 "X: 0123456\t89 bcdef\xff\x80\xfe"
                 "3456789abcdef\r\n\r\n"),
             "H GET /0123456789abcdef0123456789 v11|Host=x|X=0123456\t89 bcdef\xff\x80\xfe"
             "3456789abcdef| f0 cl-1 ka1 ec0 up0\nC\nEOF\n");
}
