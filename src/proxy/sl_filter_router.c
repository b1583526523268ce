/* The router: the terminal HTTP filter. Picks the route's cluster, borrows an upstream
 * connection from the worker's pool, sends the request with the HTTP/1 codec and streams the
 * response back through the encode path; 503/504 when the upstream fails or times out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/sl_config.h"
#include "proxy/sl_filter.h"
#include "proxy/sl_h1_conn.h"
#include "proxy/sl_log.h"
#include "proxy/sl_pool.h"
#include "proxy/sl_route.h"
#include "proxy/sl_worker.h"

/* What stays with a pooled upstream connection from one request to the next: its codec
 * (reading while the connection is idle) and the route timer of the request holding it, so
 * that a request costs no handle set-up or close. Freed when the pool closes the
 * connection. */
typedef struct upconn {
    sl_h1_conn_t *codec; /* owned */
    uv_timer_t timer;    /* data: the router holding the connection, NULL while idle */
} upconn_t;

/* Per-stream router state, in the stream's arena: nothing of it outlives on_destroy. */
typedef struct router {
    sl_http_filter_t *f;          /* borrowed: our filter slot (valid until on_destroy) */
    const sl_route_t *route;      /* borrowed: the worker's route table */
    sl_pool_req_t *preq;          /* pending acquire, NULL otherwise */
    sl_upstream_conn_t *uc;       /* lent by the pool while the request runs */
    upconn_t *up;                 /* borrowed while uc is held: the connection's attachment */
    sl_h1_conn_t *codec;          /* borrowed while uc is held: up->codec */
    bool timer_active;            /* up->timer runs the route timeout for us */
    bool req_chunked;             /* upstream request body is chunk-encoded */
    bool req_end_seen;            /* the downstream request has ended (maybe held) */
    bool req_end_sent;            /* the upstream request is complete */
    bool req_body_expected;
    bool resp_started;            /* response head passed into the encode path */
    bool resp_done;
    bool upstream_keepalive;
    bool head_request;
    bool upstream_paused;         /* reading upstream paused (downstream queue high) */
    bool upgrade;                 /* the request asks for a protocol switch */
    bool tunnel;                  /* the upstream switched (101): raw bytes both ways */
    bool decode_paused;           /* we asked the HCM to pause downstream reading */
    bool destroyed;               /* on_destroy ran */
    bool stream_over;
} router_t;

static void router_release(router_t *r, bool reusable);

static void stop_timer(router_t *r)
{
    if (r->timer_active && r->up)
        uv_timer_stop(&r->up->timer);
    r->timer_active = false;
}

static void fail_upstream(router_t *r, int status, const char *body, const char *details)
{
    sl_http_filter_t *f = r->f;
    sl_stream_info_t *info = sl_stream_info(f->stream);
    info->upstream_failure = true;
    router_release(r, false);
    sl_filter_send_local_reply(f, status, body, strlen(body), NULL, details);
}

static void on_route_timeout(uv_timer_t *t)
{
    router_t *r = t->data;
    if (!r)
        return;
    r->timer_active = false;
    if (r->destroyed || r->stream_over)
        return;
    fail_upstream(r, 504, "upstream request timeout", "upstream_response_timeout");
}

static void start_timer(router_t *r)
{
    if (!r->route || r->timer_active || r->resp_done || !r->up)
        return;
    uint64_t ms = r->route->cfg->timeout_ms;
    if (!ms)
        return;
    r->timer_active = true;
    uv_timer_start(&r->up->timer, on_route_timeout, ms, 0);
}

/* ---- upstream codec callbacks ----------------------------------------------------------- */

static bool up_head(void *ud, const sl_h1_head_t *hd)
{
    router_t *r = ud;
    if (hd->status >= 100 && hd->status < 200 && !hd->tunnel)
        return true; /* interim responses (100 Continue was answered downstream already) */
    sl_stream_t *s = r->f->stream;
    sl_hmap_t *h = sl_stream_response_headers(s);
    sl_hmap_clear(h);
    /* The parser gives 100..999: three digits. */
    char num[3] = {(char)('0' + hd->status / 100 % 10), (char)('0' + hd->status / 10 % 10),
                   (char)('0' + hd->status % 10)};
    sl_hmap_set(h, ":status", 7, num, 3);
    for (size_t i = 0; i < hd->n_headers; i++) {
        const sl_header_t *x = &hd->headers[i];
        if (sl_h1_is_hop_by_hop(x->name, x->name_len) &&
            !(hd->tunnel && x->name_len == 7 && strncasecmp(x->name, "upgrade", 7) == 0))
            continue;
        sl_hmap_add(h, x->name, x->name_len, x->value, x->value_len);
    }
    if (hd->tunnel) {
        /* The route timeout bounds the wait for the answer, not the tunnel's life. */
        r->tunnel = true;
        stop_timer(r);
    }
    r->upstream_keepalive = hd->keep_alive;
    r->resp_started = true;
    sl_filter_encode_headers(r->f, !hd->has_body);
    return !r->destroyed && r->codec != NULL;
}

static void up_body(void *ud, const char *p, size_t n)
{
    router_t *r = ud;
    sl_buf_t b;
    sl_buf_init(&b);
    sl_buf_borrow(&b, p, n);
    sl_filter_encode_data(r->f, &b, false);
    sl_buf_dispose(&b);
}

static void up_trailers(void *ud, const sl_header_t *t, size_t n)
{
    router_t *r = ud;
    sl_hmap_t *m = sl_stream_response_trailers(r->f->stream, true);
    if (!m)
        return;
    for (size_t i = 0; i < n; i++)
        sl_hmap_add(m, t[i].name, t[i].name_len, t[i].value, t[i].value_len);
}

/* The response ended; `tail` (stream arena, may be empty) is its last body bytes. */
static void finish_response(router_t *r, const char *tail, size_t tail_len)
{
    r->resp_done = true;
    stop_timer(r);
    sl_stream_t *s = r->f->stream;
    bool reusable = r->upstream_keepalive && r->req_end_sent && r->codec &&
                    sl_h1_conn_queued(r->codec) == 0 && !sl_h1_conn_has_buffered_input(r->codec);
    SL_DEBUG("upstream %s: response complete, keep-alive %d, request sent %d, reusable %d",
             r->uc ? r->uc->address : "-", r->upstream_keepalive, r->req_end_sent, reusable);
    sl_hmap_t *t = sl_stream_response_trailers(s, false);
    /* Give the connection back before the response end runs the stream's completion. */
    router_release(r, reusable);
    if (t && sl_hmap_size(t)) {
        sl_filter_encode_trailers(r->f);
    } else {
        sl_buf_t b;
        sl_buf_init(&b);
        if (tail_len)
            sl_buf_borrow(&b, tail, tail_len);
        sl_filter_encode_data(r->f, &b, true);
        sl_buf_dispose(&b);
    }
}

static void up_complete(void *ud)
{
    router_t *r = ud;
    if (!r->resp_started)
        return;
    finish_response(r, NULL, 0);
}

/* The last body bytes and the end at once: the filters see one data call with end_stream,
 * as behind Envoy. The tail is copied to the stream's arena because the connection is given
 * back first (the codec offers tails of at most SL_H1_BODY_END_MAX bytes this way). */
static void up_body_end(void *ud, const char *p, size_t n)
{
    router_t *r = ud;
    if (!r->resp_started)
        return;
    char *tail = n ? sl_arena_dup(sl_stream_arena(r->f->stream), p, n) : NULL;
    if (n && !tail) {
        router_release(r, false);
        sl_filter_send_local_reply(r->f, 502, "", 0, NULL, "out_of_memory");
        return;
    }
    finish_response(r, tail, n);
}

static void up_error(void *ud, int status, const char *why)
{
    router_t *r = ud;
    (void)status;
    SL_DEBUG("upstream %s: %s", r->uc ? r->uc->address : "-", why);
    if (r->resp_started) {
        /* Cut mid-response: the client must see the connection end. */
        router_release(r, false);
        sl_filter_send_local_reply(r->f, 502, "", 0, NULL, "upstream_reset_after_response_started");
        return;
    }
    fail_upstream(r, 503,
                  "upstream connect error or disconnect/reset before headers. reset reason: "
                  "connection termination",
                  "upstream_reset_before_response_started");
}

static void up_watermark(void *ud, bool above)
{
    router_t *r = ud;
    if (above == r->decode_paused)
        return;
    r->decode_paused = above;
    sl_filter_decode_watermark(r->f, above);
}

static void up_drained(void *ud)
{
    (void)ud;
}

static const sl_h1_cbs_t upstream_cbs = {
    .on_head = up_head,
    .on_body = up_body,
    .on_trailers = up_trailers,
    .on_complete = up_complete,
    .on_body_end = up_body_end,
    .on_error = up_error,
    .on_watermark = up_watermark,
    .on_drained = up_drained,
};

/* ---- idle upstream connections ------------------------------------------------------------
 * The codec stays with the pooled connection and keeps reading while it is idle: anything
 * that arrives then (the peer closing, or stray bytes) discards the connection. */

static void upconn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void upconn_trim(void *p)
{
    sl_h1_conn_trim(((upconn_t *)p)->codec);
}

static void upconn_free(void *p)
{
    upconn_t *u = p;
    sl_h1_conn_free(u->codec);
    uv_timer_stop(&u->timer);
    u->timer.data = u;
    uv_close((uv_handle_t *)&u->timer, upconn_closed);
}

static void idle_begin(void *ud)
{
    sl_pool_idle_failed(ud);
}

static bool idle_head(void *ud, const sl_h1_head_t *hd)
{
    (void)hd;
    sl_pool_idle_failed(ud);
    return false;
}

static void idle_body(void *ud, const char *p, size_t n)
{
    (void)ud, (void)p, (void)n;
}

static void idle_complete(void *ud)
{
    (void)ud;
}

static void idle_error(void *ud, int status, const char *why)
{
    (void)status, (void)why;
    sl_pool_idle_failed(ud);
}

static const sl_h1_cbs_t idle_cbs = {
    .on_begin = idle_begin,
    .on_head = idle_head,
    .on_body = idle_body,
    .on_complete = idle_complete,
    .on_error = idle_error,
};

static void router_release(router_t *r, bool reusable)
{
    if (r->preq) {
        sl_pool_cancel(r->preq);
        r->preq = NULL;
    }
    if (r->decode_paused) {
        r->decode_paused = false;
        sl_filter_decode_watermark(r->f, false);
    }
    if (!r->uc)
        return;
    sl_upstream_conn_t *uc = r->uc;
    r->uc = NULL;
    stop_timer(r);
    if (r->up)
        r->up->timer.data = NULL;
    r->up = NULL;
    if (r->codec && reusable) {
        sl_h1_conn_set_cbs(r->codec, &idle_cbs, uc);
        sl_h1_conn_expect_head_response(r->codec, false);
        sl_h1_conn_allow_tunnel(r->codec, false);
        if (r->upstream_paused)
            sl_h1_conn_unpause(r->codec, SL_H1_PAUSE_BACKPRESSURE);
    }
    r->upstream_paused = false;
    r->codec = NULL;
    /* Not reusable: the pool closes it and frees the codec with it. */
    sl_pool_release(uc, reusable);
}

/* ---- sending the request ---------------------------------------------------------------- */

static void send_body(router_t *r, const char *p, size_t n)
{
    if (n && r->codec)
        sl_h1_conn_write_body(r->codec, p, n, r->req_chunked);
}

static void send_end(router_t *r)
{
    if (r->req_end_sent || !r->codec)
        return;
    r->req_end_sent = true;
    if (r->req_chunked)
        sl_h1_conn_write_chunked_end(r->codec, sl_stream_request_trailers(r->f->stream, false));
    start_timer(r);
}

/* The connection is ours: write the head and whatever the request has delivered so far. */
static void start_upstream(router_t *r, sl_upstream_conn_t *uc)
{
    sl_stream_t *s = r->f->stream;
    r->uc = uc;
    sl_stream_info(s)->upstream_host = uc->address;
    size_t high = 1024 * 1024;
    sl_h1_limits_t lim = {
        .max_header_bytes = 96 * 1024,
        .max_headers = 200,
        .high_watermark = high,
        .low_watermark = high / 2,
    };
    r->up = sl_pool_conn_attached(uc, upconn_free);
    if (r->up) {
        sl_h1_conn_set_cbs(r->up->codec, &upstream_cbs, r);
    } else {
        upconn_t *u = calloc(1, sizeof(*u));
        if (u && !(u->codec = sl_h1_conn_new((uv_stream_t *)&uc->tcp, SL_H1_CLIENT, &lim,
                                             &upstream_cbs, r))) {
            free(u);
            u = NULL;
        }
        if (!u) {
            fail_upstream(r, 503, "out of memory", "out_of_memory");
            return;
        }
        uv_timer_init(sl_stream_loop(s), &u->timer);
        sl_pool_conn_attach(uc, u, upconn_free, true);
        uc->attach_trim = upconn_trim;
        r->up = u;
    }
    r->up->timer.data = r;
    r->codec = r->up->codec;
    sl_h1_conn_expect_head_response(r->codec, r->head_request);
    sl_h1_conn_allow_tunnel(r->codec, r->upgrade);
    sl_hmap_t *h = sl_stream_request_headers(s);
    r->req_chunked = r->req_body_expected && !r->upgrade && !sl_hmap_getz(h, "content-length");
    sl_h1_conn_write_head(r->codec, h, r->req_chunked, r->upgrade ? "upgrade" : NULL);
    if (r->upgrade) {
        /* The request on the wire ends with its head; later bytes belong to the tunnel. */
        r->req_end_sent = true;
        start_timer(r);
    }
    if (sl_h1_conn_start_reading(r->codec) != 0) {
        fail_upstream(r, 503,
                      "upstream connect error or disconnect/reset before headers. reset "
                      "reason: connection failure",
                      "upstream_reset_before_response_started");
        return;
    }
    /* Body held while we waited for the connection. */
    sl_buf_t *held = sl_filter_held_body(r->f, true);
    send_body(r, held->data, held->len);
    sl_buf_clear(held);
    if (r->req_end_seen)
        send_end(r);
    sl_filter_continue_decoding(r->f);
}

static void on_pool(void *ctx, sl_status_t st, sl_upstream_conn_t *conn)
{
    router_t *r = ctx;
    r->preq = NULL;
    if (r->destroyed || r->stream_over) {
        if (conn)
            sl_pool_release(conn, true);
        return;
    }
    if (st != SL_OK || !conn) {
        const char *body = st == SL_ERR_OVERFLOW
                               ? "upstream connect error or disconnect/reset before headers. "
                                 "reset reason: overflow"
                           : st == SL_ERR_TIMEOUT
                               ? "upstream connect error or disconnect/reset before headers. "
                                 "reset reason: connection timeout"
                               : "upstream connect error or disconnect/reset before headers. "
                                 "reset reason: connection failure";
        fail_upstream(r, 503, body, "upstream_connect_failure");
        return;
    }
    start_upstream(r, conn);
}

/* ---- filter callbacks ------------------------------------------------------------------- */

static sl_filter_status_t decode_headers(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    router_t *r = f->ctx;
    sl_stream_t *s = f->stream;
    const sl_route_t *rt = sl_stream_route(s);
    r->route = rt;
    if (!rt) {
        sl_filter_send_local_reply(f, 404, NULL, 0, NULL, "route_not_found");
        return SL_FILTER_STOP;
    }
    const sl_route_config_t *rc = rt->cfg;
    if (rc->action == SL_ROUTE_ACTION_DIRECT_RESPONSE) {
        sl_filter_send_local_reply(f, (int)rc->status, (const char *)rc->body.ptr, rc->body.len,
                                   NULL, "direct_response");
        return SL_FILTER_STOP;
    }
    if (!sl_route_rewrite(rt, h)) {
        sl_filter_send_local_reply(f, 500, "out of memory", 13, NULL, "out_of_memory");
        return SL_FILTER_STOP;
    }
    const char *m = sl_hmap_getz(h, ":method");
    r->head_request = m && strcmp(m, "HEAD") == 0;
    /* The connection manager keeps Upgrade only on a request that asks for a switch. */
    const char *cn = sl_hmap_getz(h, "connection");
    r->upgrade = !end && sl_hmap_getz(h, "upgrade") && cn && strcasecmp(cn, "upgrade") == 0;
    r->req_body_expected = !end;
    r->req_end_seen = end;
    sl_worker_t *w = sl_stream_worker(s);
    sl_cluster_t *cl = sl_worker_cluster(w, rc->cluster);
    if (!cl) {
        sl_filter_send_local_reply(f, 503, "no healthy upstream", 19, NULL,
                                   "cluster_not_found");
        return SL_FILTER_STOP;
    }
    sl_upstream_conn_t *uc = NULL;
    sl_status_t st = sl_pool_acquire(cl, on_pool, r, &uc, &r->preq);
    if (st != SL_OK) {
        const char *body = st == SL_ERR_OVERFLOW
                               ? "upstream connect error or disconnect/reset before headers. "
                                 "reset reason: overflow"
                               : "no healthy upstream";
        sl_stream_info(s)->upstream_failure = true;
        sl_filter_send_local_reply(f, 503, body, strlen(body), NULL,
                                   st == SL_ERR_OVERFLOW ? "upstream_overflow"
                                                         : "no_healthy_upstream");
        return SL_FILTER_STOP;
    }
    if (uc) {
        start_upstream(r, uc);
        /* start_upstream continued us from inside: CONTINUE passes the (consumed) headers. */
        return SL_FILTER_CONTINUE;
    }
    /* Wait for the pool: the HCM holds what arrives meanwhile. */
    return SL_FILTER_STOP;
}

static sl_filter_status_t decode_data(sl_http_filter_t *f, sl_buf_t *data, bool end)
{
    router_t *r = f->ctx;
    if (end)
        r->req_end_seen = true;
    if (!r->codec)
        return SL_FILTER_STOP; /* still waiting for a connection: keep holding */
    send_body(r, data->data, data->len);
    sl_buf_clear(data);
    if (end)
        send_end(r);
    return SL_FILTER_CONTINUE;
}

static sl_filter_status_t decode_trailers(sl_http_filter_t *f, sl_hmap_t *t)
{
    (void)t;
    router_t *r = f->ctx;
    r->req_end_seen = true;
    if (!r->codec)
        return SL_FILTER_STOP;
    send_end(r);
    return SL_FILTER_CONTINUE;
}

static void encode_watermark(sl_http_filter_t *f, bool above)
{
    router_t *r = f->ctx;
    if (!r->codec || above == r->upstream_paused)
        return;
    r->upstream_paused = above;
    if (above)
        sl_h1_conn_pause(r->codec, SL_H1_PAUSE_BACKPRESSURE);
    else
        sl_h1_conn_unpause(r->codec, SL_H1_PAUSE_BACKPRESSURE);
}

static void on_stream_complete(sl_http_filter_t *f, const sl_stream_info_t *info)
{
    (void)info;
    router_t *r = f->ctx;
    r->stream_over = true;
    stop_timer(r);
    /* Anything still open upstream is unfinished: never reuse it. */
    router_release(r, false);
}

static void on_destroy(sl_http_filter_t *f)
{
    router_t *r = f->ctx;
    r->destroyed = true;
    router_release(r, false);
}

static const sl_http_filter_ops_t router_ops = {
    .decode_headers = decode_headers,
    .decode_data = decode_data,
    .decode_trailers = decode_trailers,
    .encode_watermark = encode_watermark,
    .on_stream_complete = on_stream_complete,
    .on_destroy = on_destroy,
};

static bool router_create(const void *config, sl_http_filter_t *f)
{
    (void)config;
    router_t *r = sl_arena_alloc(sl_stream_arena(f->stream), sizeof(*r));
    if (!r)
        return false;
    memset(r, 0, sizeof(*r));
    r->f = f;
    f->ctx = r;
    f->ops = &router_ops;
    return true;
}

const sl_http_filter_factory_t sl_filter_router_factory = {
    .name = "envoy.filters.http.router",
    .type_url = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
    .create = router_create,
    .terminal = true,
};
