/* Outgoing HTTP/1.1 calls for plugins: pool acquire, one request, the response buffered whole,
 * a timeout, and cancellation that never leaves a half-used connection in the pool. */
#include "proxy/sl_http_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/sl_h1_conn.h"
#include "proxy/sl_log.h"
#include "proxy/sl_pool.h"

struct sl_http_call {
    sl_worker_t *w;               /* borrowed */
    sl_cluster_t *cl;             /* borrowed: the worker's */
    sl_arena_t arena;             /* owns the header maps' strings */
    sl_hmap_t req_h, req_t, resp_h, resp_t;
    sl_buf_t req_body;            /* owned copy */
    sl_buf_t resp_body;           /* owned */
    size_t resp_bytes;            /* head + body + trailers so far (limit) */
    int status;
    sl_upstream_conn_t *uc;       /* lent by the pool while connected */
    sl_pool_req_t *preq;          /* pending acquire */
    sl_h1_conn_t *codec;          /* owned while connected */
    uv_timer_t timer;             /* timeout, or the deferred failure; closed at the end */
    sl_status_t deferred;         /* failure to report from the timer (SL_OK: none) */
    uint64_t timeout_ms;
    bool send_pending;            /* a pooled connection came at once: send from the loop */
    sl_http_call_cb cb;
    void *ud;
    bool chunked_req;
    bool keepalive;
    bool done;                    /* completed or cancelled: no more callbacks */
    char arena0[2048];
};

static void call_closed(uv_handle_t *h)
{
    sl_http_call_t *c = h->data;
    sl_arena_dispose(&c->arena);
    sl_buf_dispose(&c->req_body);
    sl_buf_dispose(&c->resp_body);
    free(c);
}

static void release(sl_http_call_t *c, bool reusable)
{
    if (c->preq) {
        sl_pool_cancel(c->preq);
        c->preq = NULL;
    }
    if (c->codec) {
        reusable = reusable && sl_h1_conn_queued(c->codec) == 0 &&
                   !sl_h1_conn_has_buffered_input(c->codec);
        sl_h1_conn_free(c->codec);
        c->codec = NULL;
    }
    if (c->uc) {
        sl_pool_release(c->uc, reusable);
        c->uc = NULL;
    }
}

static void finish(sl_http_call_t *c, sl_status_t st)
{
    if (c->done)
        return;
    c->done = true;
    uv_timer_stop(&c->timer);
    release(c, st == SL_OK && c->keepalive);
    if (st == SL_OK) {
        sl_http_call_response_t r = {
            .status = c->status,
            .headers = c->resp_h.items,
            .n_headers = c->resp_h.count,
            .body = c->resp_body.data ? c->resp_body.data : "",
            .body_len = c->resp_body.len,
            .trailers = c->resp_t.items,
            .n_trailers = c->resp_t.count,
        };
        c->cb(c->ud, SL_OK, &r);
    } else {
        c->cb(c->ud, st, NULL);
    }
    uv_close((uv_handle_t *)&c->timer, call_closed);
}

static bool over_limit(sl_http_call_t *c, size_t more)
{
    c->resp_bytes += more;
    if (c->resp_bytes <= SL_HTTP_CALL_MAX_RESPONSE)
        return false;
    finish(c, SL_ERR_LIMIT);
    return true;
}

static bool up_head(void *ud, const sl_h1_head_t *hd)
{
    sl_http_call_t *c = ud;
    if (hd->status >= 100 && hd->status < 200)
        return true;
    c->status = hd->status;
    c->keepalive = hd->keep_alive;
    char num[16];
    snprintf(num, sizeof num, "%d", hd->status);
    bool ok = sl_hmap_setz(&c->resp_h, ":status", num);
    size_t bytes = 0;
    for (size_t i = 0; i < hd->n_headers && ok; i++) {
        const sl_header_t *x = &hd->headers[i];
        bytes += x->name_len + x->value_len;
        if (!sl_h1_is_hop_by_hop(x->name, x->name_len))
            ok = sl_hmap_add(&c->resp_h, x->name, x->name_len, x->value, x->value_len);
    }
    if (!ok) {
        finish(c, SL_ERR_NOMEM);
        return false;
    }
    return !over_limit(c, bytes);
}

static void up_body(void *ud, const char *p, size_t n)
{
    sl_http_call_t *c = ud;
    if (c->done || over_limit(c, n))
        return;
    if (!sl_buf_append(&c->resp_body, p, n))
        finish(c, SL_ERR_NOMEM);
}

static void up_trailers(void *ud, const sl_header_t *t, size_t n)
{
    sl_http_call_t *c = ud;
    for (size_t i = 0; i < n && !c->done; i++) {
        if (over_limit(c, t[i].name_len + t[i].value_len))
            return;
        if (!sl_hmap_add(&c->resp_t, t[i].name, t[i].name_len, t[i].value, t[i].value_len))
            finish(c, SL_ERR_NOMEM);
    }
}

static void up_complete(void *ud)
{
    sl_http_call_t *c = ud;
    if (c->status)
        finish(c, SL_OK);
}

static void up_error(void *ud, int status, const char *why)
{
    (void)status;
    sl_http_call_t *c = ud;
    SL_DEBUG("http call to %s: %s", c->uc ? c->uc->address : "-", why);
    finish(c, SL_ERR_UPSTREAM);
}

static void up_watermark(void *ud, bool above)
{
    (void)ud, (void)above; /* the request is written once; nothing to pause */
}

static const sl_h1_cbs_t call_cbs = {
    .on_head = up_head,
    .on_body = up_body,
    .on_trailers = up_trailers,
    .on_complete = up_complete,
    .on_error = up_error,
    .on_watermark = up_watermark,
};

/* Callouts keep nothing on a pooled connection; this only names "not the router's". */
static void no_attachment(void *state)
{
    (void)state;
}

static void send_request(sl_http_call_t *c, sl_upstream_conn_t *uc)
{
    c->uc = uc;
    /* A connection the router used keeps its codec reading it while idle: drop that, so this
     * call's codec is the only reader. */
    sl_pool_conn_attached(uc, no_attachment);
    sl_h1_limits_t lim = {
        .max_header_bytes = 96 * 1024,
        .max_headers = 200,
        .high_watermark = 1024 * 1024,
        .low_watermark = 512 * 1024,
    };
    if (!(c->codec = sl_h1_conn_new((uv_stream_t *)&uc->tcp, SL_H1_CLIENT, &lim, &call_cbs, c))) {
        finish(c, SL_ERR_NOMEM);
        return;
    }
    const char *m = sl_hmap_getz(&c->req_h, ":method");
    sl_h1_conn_expect_head_response(c->codec, m && strcmp(m, "HEAD") == 0);
    if (sl_h1_conn_write_head(c->codec, &c->req_h, c->chunked_req, NULL) != 0 ||
        (c->req_body.len &&
         sl_h1_conn_write_body(c->codec, c->req_body.data, c->req_body.len, c->chunked_req) !=
             0) ||
        (c->chunked_req && sl_h1_conn_write_chunked_end(c->codec, &c->req_t) != 0) ||
        sl_h1_conn_start_reading(c->codec) != 0)
        finish(c, SL_ERR_UPSTREAM);
}

static void on_pool(void *ctx, sl_status_t st, sl_upstream_conn_t *conn)
{
    sl_http_call_t *c = ctx;
    c->preq = NULL;
    if (c->done) {
        if (conn)
            sl_pool_release(conn, true); /* unused: still clean */
        return;
    }
    if (st != SL_OK || !conn) {
        finish(c, st == SL_ERR_OVERFLOW ? st : SL_ERR_UNAVAILABLE); /* no connection */
        return;
    }
    send_request(c, conn);
}

static void on_timer(uv_timer_t *t)
{
    sl_http_call_t *c = t->data;
    if (c->send_pending) {
        c->send_pending = false;
        if (c->timeout_ms)
            uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
        send_request(c, c->uc);
        return;
    }
    finish(c, c->deferred != SL_OK ? c->deferred : SL_ERR_TIMEOUT);
}

/* The map lower-cases names itself; hop-by-hop headers are this connection's business. */
static bool copy_map(sl_hmap_t *m, const sl_header_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (sl_h1_is_hop_by_hop(h[i].name, h[i].name_len))
            continue;
        if (!sl_hmap_add(m, h[i].name, h[i].name_len, h[i].value, h[i].value_len))
            return false;
    }
    return true;
}

sl_status_t sl_http_call_start(sl_worker_t *w, const char *cluster, const sl_header_t *headers,
                               size_t n_headers, const void *body, size_t body_len,
                               const sl_header_t *trailers, size_t n_trailers,
                               uint64_t timeout_ms, sl_http_call_cb cb, void *ud,
                               sl_http_call_t **out)
{
    *out = NULL;
    sl_cluster_t *cl = sl_worker_cluster(w, cluster);
    if (!cl)
        return SL_ERR_NOT_FOUND;
    sl_http_call_t *c = calloc(1, sizeof *c);
    if (!c)
        return SL_ERR_NOMEM;
    c->w = w;
    c->cl = cl;
    c->cb = cb;
    c->ud = ud;
    sl_arena_init(&c->arena, c->arena0, sizeof c->arena0);
    sl_hmap_init(&c->req_h, &c->arena);
    sl_hmap_init(&c->req_t, &c->arena);
    sl_hmap_init(&c->resp_h, &c->arena);
    sl_hmap_init(&c->resp_t, &c->arena);
    sl_buf_init(&c->req_body);
    sl_buf_init(&c->resp_body);
    sl_status_t st = SL_OK;
    if (!copy_map(&c->req_h, headers, n_headers) || !copy_map(&c->req_t, trailers, n_trailers) ||
        (body_len && !sl_buf_append(&c->req_body, body, body_len)))
        st = SL_ERR_NOMEM;
    const char *method = sl_hmap_getz(&c->req_h, ":method");
    if (st == SL_OK && (!method || !sl_hmap_getz(&c->req_h, ":path")))
        st = SL_ERR_ARG;
    if (st == SL_OK) {
        /* Framing is ours: the body as given, chunked only to carry trailers. */
        sl_hmap_removez(&c->req_h, "content-length");
        sl_hmap_removez(&c->req_h, "transfer-encoding");
        c->chunked_req = c->req_t.count > 0;
        bool bodiless = strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0;
        if (!c->chunked_req && (body_len || !bodiless)) {
            char num[24];
            snprintf(num, sizeof num, "%zu", body_len);
            if (!sl_hmap_setz(&c->req_h, "content-length", num))
                st = SL_ERR_NOMEM;
        }
    }
    if (st != SL_OK) {
        sl_arena_dispose(&c->arena);
        sl_buf_dispose(&c->req_body);
        free(c);
        return st;
    }
    uv_timer_init(w->loop, &c->timer);
    c->timer.data = c;
    sl_upstream_conn_t *uc = NULL;
    st = sl_pool_acquire(cl, on_pool, c, &uc, &c->preq);
    if (st != SL_OK) {
        /* Reported like any other failure: later, from the loop. */
        c->deferred = st;
        uv_timer_start(&c->timer, on_timer, 0, 0);
    } else if (uc) {
        /* Sending may fail at once; failures are only ever reported from the loop. */
        c->uc = uc;
        c->send_pending = true;
        c->timeout_ms = timeout_ms;
        uv_timer_start(&c->timer, on_timer, 0, 0);
    } else if (timeout_ms) {
        uv_timer_start(&c->timer, on_timer, timeout_ms, 0);
    }
    *out = c;
    return SL_OK;
}

void sl_http_call_cancel(sl_http_call_t *c)
{
    if (!c || c->done)
        return;
    c->done = true;
    uv_timer_stop(&c->timer);
    release(c, false);
    uv_close((uv_handle_t *)&c->timer, call_closed);
}
