/* The HTTP connection manager: downstream HTTP/1.1 connections, one stream per request run
 * through the filter chain (decode in order, encode in reverse), local replies, timeouts. */
#include "proxy/sl_hcm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "proxy/sl_config.h"
#include "proxy/sl_h1_conn.h"
#include "proxy/sl_log.h"
#include "proxy/sl_route.h"
#include "proxy/sl_stats.h"
#include "proxy/sl_worker.h"

#define STREAM_ARENA_BYTES 4096
#define MAX_FREE_STREAMS 256
#define MAX_LOG_LINE 2048 /* longer access-log lines are cut */

/* Per worker, per http_connection_manager configuration: what every stream of it shares. */
typedef struct hcm_cfg {
    struct hcm_cfg *next;                          /* owned: next configuration */
    const sl_hcm_config_t *hc;                     /* borrowed: configuration */
    sl_route_table_t *routes;                      /* owned: this thread's route table */
    const sl_http_filter_factory_t **factories;    /* owned array of borrowed factories */
    void **filter_cfgs;                            /* owned array of factory-owned configs */
    size_t n_filters;
    bool broken;                                   /* a filter config failed: 500 */
    struct {
        sl_counter_t cx_total, rq_total, rq_xx[6], rq_timeout, rq_too_large, rq_headers_large,
            rx_bad, no_route, ws_on_non_ws_route;
        sl_gauge_t cx_active, rq_active;
    } st;
} hcm_cfg_t;

typedef struct hconn hconn_t;

/* The worker's HTTP state, kept in sl_worker_t.http. */
typedef struct hcm_worker {
    sl_worker_t *w;    /* borrowed */
    hcm_cfg_t *cfgs;   /* owned list */
    hconn_t *conns;    /* list of live connections (each owned by itself until closed) */
    size_t n_conns;
    size_t n_alloc;    /* connections not yet freed (closing ones included) */
    size_t n_streams;
    bool closing_all;  /* worker shutdown: free this state with the last connection */
    uint64_t next_stream_id;
    uint64_t rng;      /* xorshift state for request ids */
    bool draining;
    sl_stream_t *free_streams; /* owned: ended streams kept for reuse (MAX_FREE_STREAMS) */
    size_t n_free_streams;
    /* Access-log lines wait here and leave in one write when the loop is about to poll (or
     * when the next line would not fit): a line per request without a syscall per request.
     * A batch never exceeds PIPE_BUF, so batches of different workers never interleave. */
    uv_prepare_t log_flush;
    size_t log_len;
    char log_buf[4096];
    time_t log_secs;   /* the second log_date shows */
    char log_date[24]; /* "YYYY-MM-DDTHH:MM:SS" */
} hcm_worker_t;

struct hconn {
    hconn_t *prev, *next;          /* list in hcm_worker_t.conns */
    hcm_worker_t *hw;              /* borrowed */
    hcm_cfg_t *cfg;                /* borrowed (worker state) */
    const sl_listener_config_t *lc; /* borrowed */
    uint64_t id;                   /* unique per worker (shared with TCP sessions) */
    uv_tcp_t *tcp;                 /* owned: taken from the listener, freed on close */
    uv_timer_t timer;              /* headers / idle / stream timeouts */
    sl_h1_conn_t *codec;           /* owned */
    sl_stream_t *stream;           /* owned: the current stream (one at a time, in order) */
    uint64_t last_activity_ms;     /* loop time of the last byte moved for the stream */
    int handles;                   /* handles still to close before free */
    bool closing;
    bool close_after_write;        /* close once the write queue drains */
    bool waiting_headers;          /* first byte of a request read, headers not complete */
    bool in_process;               /* inside a codec callback (stream end must not recurse) */
    bool above_watermark;          /* downstream write queue over the high watermark */
    char peer[64];
    char local[64];
};

enum { DEC = 0, ENC = 1 };
enum { HOLD_HEADERS = 1, HOLD_DATA = 2, HOLD_TRAILERS = 4, HOLD_END = 8 };

struct sl_stream {
    hconn_t *conn;              /* borrowed: outlives the stream */
    hcm_cfg_t *cfg;             /* borrowed */
    uint64_t id;
    sl_arena_t arena;           /* owns every per-request allocation below */
    sl_hmap_t req_h, resp_h;
    sl_hmap_t *req_t, *resp_t;  /* arena, NULL until used */
    sl_http_filter_t *filters;  /* arena array */
    unsigned n_filters;
    sl_stream_info_t info;
    const sl_route_t *route;
    bool route_cached;
    int version;
    bool head_request;
    bool body_expected;         /* the request head announced a body */
    bool keep_alive;            /* the client allows keep-alive */
    bool req_complete;          /* the codec delivered the whole request */
    bool resp_started;          /* response head written downstream */
    bool resp_complete;         /* response end written downstream */
    bool resp_chunked, resp_no_body, resp_close;
    bool upgrade;               /* a bodiless request asking for a protocol switch */
    bool tunnel;                /* the upstream agreed (101): raw bytes both ways */
    bool tunnel_pending;        /* the 101 was written; the downstream switches when unwound */
    bool decode_aborted;        /* a local reply ended the request side */
    bool done;                  /* completion callbacks have run */
    bool freed_pending;
    unsigned enc_gen;           /* bumped when a local reply replaces the response */
    int refs;
    sl_http_filter_t *cb_filter; /* filter whose callback is running */
    int cb_dir;
    bool cb_continue;            /* that filter asked to continue from inside */
    unsigned dec_pauses;         /* filters asking downstream reading to pause */
    bool held_over[2];
    uint64_t request_deadline_ms; /* 0 = none */
    sl_stream_t *next_free;       /* in hcm_worker_t.free_streams once ended */
    char arena0[STREAM_ARENA_BYTES];
};

static void stream_unref(sl_stream_t *s);
static void stream_end(sl_stream_t *s, bool reset);
static void conn_close(hconn_t *c);
static void conn_after_stream(hconn_t *c);
static void local_reply(sl_stream_t *s, sl_http_filter_t *from, int dir, int status,
                        const char *body, size_t body_len, const sl_hmap_t *extra,
                        const char *details);

static uint64_t now_ms(const hconn_t *c)
{
    return uv_now(c->hw->w->loop);
}

/* ---- worker state ----------------------------------------------------------------------- */

static hcm_worker_t *worker_state(sl_worker_t *w)
{
    if (w->http)
        return w->http;
    hcm_worker_t *hw = calloc(1, sizeof(*hw));
    if (!hw)
        return NULL;
    hw->w = w;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = uv_hrtime();
    hw->rng = seed ^ ((uint64_t)w->index << 32) ^ 0x9e3779b97f4a7c15ull;
    if (!hw->rng)
        hw->rng = 1;
    uv_prepare_init(w->loop, &hw->log_flush);
    hw->log_flush.data = hw;
    uv_unref((uv_handle_t *)&hw->log_flush);
    w->http = hw;
    return hw;
}

static void log_write_out(hcm_worker_t *hw)
{
    if (hw->log_len) {
        ssize_t wr = write(1, hw->log_buf, hw->log_len);
        (void)wr;
        hw->log_len = 0;
    }
}

static void on_log_flush(uv_prepare_t *p)
{
    hcm_worker_t *hw = p->data;
    log_write_out(hw);
    uv_prepare_stop(p);
}

static const char *filter_kind_name(sl_http_filter_kind_t k)
{
    switch (k) {
    case SL_HTTP_FILTER_ROUTER:
        return "envoy.filters.http.router";
    case SL_HTTP_FILTER_WASM:
        return "envoy.filters.http.wasm";
    case SL_HTTP_FILTER_ADD_HEADER:
        return "sluice.filters.http.add_header";
    }
    return "";
}

static hcm_cfg_t *cfg_state(hcm_worker_t *hw, const sl_hcm_config_t *hc)
{
    for (hcm_cfg_t *c = hw->cfgs; c; c = c->next)
        if (c->hc == hc)
            return c;
    hcm_cfg_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->hc = hc;
    char err[256] = "";
    if (sl_route_table_new(&hc->route_config, &c->routes, err, sizeof(err)) != SL_OK) {
        SL_ERROR("http_connection_manager '%s': %s", hc->stat_prefix, err);
        c->broken = true;
    }
    sl_filter_register_builtins();
    c->n_filters = hc->n_http_filters;
    c->factories = calloc(c->n_filters + 1, sizeof(*c->factories));
    c->filter_cfgs = calloc(c->n_filters + 1, sizeof(*c->filter_cfgs));
    if (!c->factories || !c->filter_cfgs) {
        c->broken = true;
        c->n_filters = 0;
    }
    for (size_t i = 0; i < c->n_filters; i++) {
        const sl_http_filter_config_t *fc = &hc->http_filters[i];
        /* The name as written first (lets any registered filter be named), then the kind. */
        const sl_http_filter_factory_t *fac = sl_filter_find(fc->name);
        if (!fac)
            fac = sl_filter_find(filter_kind_name(fc->kind));
        if (!fac) {
            SL_ERROR("http filter '%s' (line %u): no such filter is registered", fc->name,
                     fc->line);
            c->broken = true;
            continue;
        }
        c->factories[i] = fac;
        if (fac->config_create &&
            !fac->config_create(fc, &c->filter_cfgs[i], err, sizeof(err))) {
            SL_ERROR("http filter '%s' (line %u): %s", fc->name, fc->line, err);
            c->broken = true;
        }
    }
    const char *p = hc->stat_prefix && hc->stat_prefix[0] ? hc->stat_prefix : "ingress_http";
    c->st.cx_total = sl_stats_counterf("http.%s.downstream_cx_total", p);
    c->st.rq_total = sl_stats_counterf("http.%s.downstream_rq_total", p);
    for (int k = 1; k <= 5; k++)
        c->st.rq_xx[k] = sl_stats_counterf("http.%s.downstream_rq_%dxx", p, k);
    c->st.rq_timeout = sl_stats_counterf("http.%s.downstream_rq_timeout", p);
    c->st.rq_too_large = sl_stats_counterf("http.%s.downstream_rq_too_large", p);
    c->st.rq_headers_large = sl_stats_counterf("http.%s.downstream_rq_header_too_large", p);
    c->st.rx_bad = sl_stats_counterf("http.%s.downstream_rq_rx_reset", p);
    c->st.no_route = sl_stats_counterf("http.%s.no_route", p);
    c->st.ws_on_non_ws_route = sl_stats_counterf("http.%s.downstream_rq_ws_on_non_ws_route", p);
    c->st.cx_active = sl_stats_gaugef("http.%s.downstream_cx_active", p);
    c->st.rq_active = sl_stats_gaugef("http.%s.downstream_rq_active", p);
    c->next = hw->cfgs;
    hw->cfgs = c;
    return c;
}

/* ---- filter manager --------------------------------------------------------------------- */

static bool dir_valid(const sl_stream_t *s, long j)
{
    return j >= 0 && j < (long)s->n_filters;
}

static long dir_next(int dir, long j)
{
    return dir == DEC ? j + 1 : j - 1;
}

typedef struct cb_guard {
    sl_http_filter_t *f;
    int dir;
    bool cont;
} cb_guard_t;

static void guard_enter(sl_stream_t *s, cb_guard_t *g, sl_http_filter_t *f, int dir)
{
    g->f = s->cb_filter;
    g->dir = s->cb_dir;
    g->cont = s->cb_continue;
    s->cb_filter = f;
    s->cb_dir = dir;
    s->cb_continue = false;
}

static sl_filter_status_t guard_leave(sl_stream_t *s, cb_guard_t *g, sl_filter_status_t st)
{
    if (s->cb_continue)
        st = SL_FILTER_CONTINUE;
    s->cb_filter = g->f;
    s->cb_dir = g->dir;
    s->cb_continue = g->cont;
    return st;
}

/* True when iteration in `dir` must stop (stream over, request side ended, or the response
 * being encoded was replaced by a local reply). */
static bool halted(const sl_stream_t *s, int dir, unsigned gen)
{
    if (s->done)
        return true;
    return dir == DEC ? s->decode_aborted : s->enc_gen != gen;
}

static void sink_headers(sl_stream_t *s, int dir, bool end);
static void sink_data(sl_stream_t *s, int dir, sl_buf_t *b, bool end);
static void sink_trailers(sl_stream_t *s, int dir);
static void release_held(sl_stream_t *s, int dir, long j);

static sl_hmap_t *dir_headers(sl_stream_t *s, int dir)
{
    return dir == DEC ? &s->req_h : &s->resp_h;
}

static sl_hmap_t *dir_trailers(sl_stream_t *s, int dir)
{
    return dir == DEC ? s->req_t : s->resp_t;
}

static void run_headers(sl_stream_t *s, int dir, long j, bool end)
{
    unsigned gen = s->enc_gen;
    for (; dir_valid(s, j); j = dir_next(dir, j)) {
        sl_http_filter_t *f = &s->filters[j];
        if (dir == DEC)
            f->decode_started = true;
        sl_filter_status_t (*cb)(sl_http_filter_t *, sl_hmap_t *, bool) =
            dir == DEC ? f->ops->decode_headers : f->ops->encode_headers;
        sl_filter_status_t st = SL_FILTER_CONTINUE;
        if (cb) {
            cb_guard_t g;
            guard_enter(s, &g, f, dir);
            st = guard_leave(s, &g, cb(f, dir_headers(s, dir), end));
        }
        if (halted(s, dir, gen))
            return;
        if (st != SL_FILTER_CONTINUE) {
            f->hold[dir] = HOLD_HEADERS | (end ? HOLD_END : 0);
            f->mode[dir] = (uint8_t)st;
            return;
        }
    }
    sink_headers(s, dir, end);
}

static bool check_held_limit(sl_stream_t *s, int dir, sl_http_filter_t *f)
{
    size_t limit = sl_stream_buffer_limit(s);
    if (f->held[dir].len <= limit)
        return true;
    if (f->mode[dir] == SL_FILTER_STOP_AND_BUFFER) {
        if (dir == DEC) {
            sl_stats_inc(s->conn->hw->w, s->cfg->st.rq_too_large, 1);
            local_reply(s, NULL, DEC, 413, "payload too large", 17, NULL,
                        "request_payload_too_large");
        } else {
            local_reply(s, NULL, ENC, 500, "response payload too large", 26, NULL,
                        "response_payload_too_large");
        }
        return false;
    }
    /* STOP: hold, and stop the source until released. */
    if (!s->held_over[dir]) {
        s->held_over[dir] = true;
        if (dir == DEC) {
            sl_h1_conn_pause(s->conn->codec, SL_H1_PAUSE_BACKPRESSURE);
        } else {
            for (unsigned i = 0; i < s->n_filters; i++)
                if (s->filters[i].ops->encode_watermark)
                    s->filters[i].ops->encode_watermark(&s->filters[i], true);
        }
    }
    return true;
}

static void run_data(sl_stream_t *s, int dir, long j, sl_buf_t *b, bool end)
{
    unsigned gen = s->enc_gen;
    for (; dir_valid(s, j); j = dir_next(dir, j)) {
        sl_http_filter_t *f = &s->filters[j];
        sl_filter_status_t (*cb)(sl_http_filter_t *, sl_buf_t *, bool) =
            dir == DEC ? f->ops->decode_data : f->ops->encode_data;
        if (f->hold[dir]) {
            /* Held: accumulate and offer the whole held body again. */
            if (!sl_buf_append(&f->held[dir], b->data, b->len)) {
                local_reply(s, NULL, dir, 500, "out of memory", 13, NULL, "out_of_memory");
                return;
            }
            sl_buf_clear(b);
            f->hold[dir] |= HOLD_DATA | (end ? HOLD_END : 0);
            if (!check_held_limit(s, dir, f))
                return;
            sl_filter_status_t st = SL_FILTER_STOP;
            if (cb) {
                cb_guard_t g;
                guard_enter(s, &g, f, dir);
                st = guard_leave(s, &g, cb(f, &f->held[dir], end));
            } else if (!(f->hold[dir] & HOLD_HEADERS)) {
                st = SL_FILTER_CONTINUE;
            }
            if (halted(s, dir, gen))
                return;
            if (st == SL_FILTER_CONTINUE)
                release_held(s, dir, j);
            else if (st == SL_FILTER_STOP_AND_BUFFER)
                f->mode[dir] = (uint8_t)st;
            return;
        }
        sl_filter_status_t st = SL_FILTER_CONTINUE;
        if (cb) {
            cb_guard_t g;
            guard_enter(s, &g, f, dir);
            st = guard_leave(s, &g, cb(f, b, end));
        }
        if (halted(s, dir, gen))
            return;
        if (st != SL_FILTER_CONTINUE) {
            f->hold[dir] = HOLD_DATA | (end ? HOLD_END : 0);
            f->mode[dir] = (uint8_t)st;
            if (!sl_buf_append(&f->held[dir], b->data, b->len)) {
                local_reply(s, NULL, dir, 500, "out of memory", 13, NULL, "out_of_memory");
                return;
            }
            sl_buf_clear(b);
            check_held_limit(s, dir, f);
            return;
        }
    }
    sink_data(s, dir, b, end);
}

static void run_trailers(sl_stream_t *s, int dir, long j)
{
    unsigned gen = s->enc_gen;
    for (; dir_valid(s, j); j = dir_next(dir, j)) {
        sl_http_filter_t *f = &s->filters[j];
        sl_filter_status_t (*cb)(sl_http_filter_t *, sl_hmap_t *) =
            dir == DEC ? f->ops->decode_trailers : f->ops->encode_trailers;
        bool was_held = f->hold[dir] != 0;
        sl_filter_status_t st = SL_FILTER_CONTINUE;
        if (was_held)
            f->hold[dir] |= HOLD_TRAILERS | HOLD_END;
        if (cb) {
            cb_guard_t g;
            guard_enter(s, &g, f, dir);
            st = guard_leave(s, &g, cb(f, dir_trailers(s, dir)));
        }
        if (halted(s, dir, gen))
            return;
        if (st == SL_FILTER_CONTINUE && was_held) {
            release_held(s, dir, j);
            return;
        }
        if (st != SL_FILTER_CONTINUE) {
            f->hold[dir] |= HOLD_TRAILERS | HOLD_END;
            return;
        }
    }
    sink_trailers(s, dir);
}

/* Passes what filter j holds to the filters after it: headers, then data, then trailers. */
static void release_held(sl_stream_t *s, int dir, long j)
{
    sl_http_filter_t *f = &s->filters[j];
    uint8_t h = f->hold[dir];
    if (!h)
        return;
    f->hold[dir] = 0;
    f->mode[dir] = SL_FILTER_CONTINUE;
    sl_buf_t b = f->held[dir];
    sl_buf_init(&f->held[dir]);
    bool end = h & HOLD_END, has_data = h & HOLD_DATA, has_tr = h & HOLD_TRAILERS;
    if (s->held_over[dir]) {
        s->held_over[dir] = false;
        if (dir == DEC) {
            sl_h1_conn_unpause(s->conn->codec, SL_H1_PAUSE_BACKPRESSURE);
        } else {
            for (unsigned i = 0; i < s->n_filters; i++)
                if (s->filters[i].ops->encode_watermark)
                    s->filters[i].ops->encode_watermark(&s->filters[i], false);
        }
    }
    unsigned gen = s->enc_gen;
    long nx = dir_next(dir, j);
    if (h & HOLD_HEADERS) {
        run_headers(s, dir, nx, end && !has_data && !has_tr);
        if (halted(s, dir, gen))
            goto out;
    }
    if (has_data || (end && !(h & HOLD_HEADERS) && !has_tr)) {
        run_data(s, dir, nx, &b, end && !has_tr);
        if (halted(s, dir, gen))
            goto out;
    }
    if (has_tr)
        run_trailers(s, dir, nx);
out:
    sl_buf_dispose(&b);
}

/* ---- sinks: what leaves the chain ------------------------------------------------------- */

static void stream_response_done(sl_stream_t *s)
{
    s->resp_complete = true;
    if (!s->req_complete || s->resp_close)
        s->conn->close_after_write = true;
    stream_end(s, false);
}

static bool response_has_no_body(const sl_stream_t *s, int status)
{
    return s->head_request || status == 204 || status == 304 || (status >= 100 && status < 200);
}

static void sink_headers(sl_stream_t *s, int dir, bool end)
{
    if (dir == DEC)
        return; /* the terminal filter consumed the request */
    hconn_t *c = s->conn;
    const char *st = sl_hmap_getz(&s->resp_h, ":status");
    int status = st ? atoi(st) : 0;
    if (status < 100 || status > 999) {
        status = 502;
        sl_hmap_setz(&s->resp_h, ":status", "502");
    }
    s->info.status = status;
    s->resp_started = true;
    if (status == 101 && s->upgrade && !end) {
        /* The switch: no framing from here, and the connection ends with the tunnel. */
        s->tunnel = true;
        s->resp_close = true;
        sl_hmap_removez(&s->resp_h, "content-length");
        sl_hmap_removez(&s->resp_h, "transfer-encoding");
        sl_h1_conn_write_head(c->codec, &s->resp_h, false, "upgrade");
        c->last_activity_ms = now_ms(c);
        s->tunnel_pending = true;
        return;
    }
    s->resp_no_body = response_has_no_body(s, status);
    sl_hmap_removez(&s->resp_h, "transfer-encoding");
    bool has_cl = sl_hmap_getz(&s->resp_h, "content-length") != NULL;
    if (end && !has_cl && status != 204 && status != 304 && status >= 200)
        sl_hmap_setz(&s->resp_h, "content-length", "0");
    else if (!end && !has_cl && !s->resp_no_body) {
        if (s->version >= 11)
            s->resp_chunked = true;
        else
            s->resp_close = true; /* HTTP/1.0: the body ends when the connection closes */
    }
    if (!s->keep_alive || c->hw->draining || sl_worker_is_draining(c->hw->w) ||
        c->close_after_write)
        s->resp_close = true;
    if (s->info.local_reply && !s->req_complete)
        s->resp_close = true;
    if (s->cfg->hc->server_name && !sl_hmap_getz(&s->resp_h, "server"))
        sl_hmap_setz(&s->resp_h, "server", s->cfg->hc->server_name);
    const char *conn_hdr = s->resp_close ? "close" : s->version < 11 ? "keep-alive" : NULL;
    sl_h1_conn_write_head(c->codec, &s->resp_h, s->resp_chunked, conn_hdr);
    c->last_activity_ms = now_ms(c);
    if (end)
        stream_response_done(s);
}

static void sink_data(sl_stream_t *s, int dir, sl_buf_t *b, bool end)
{
    if (dir == DEC) {
        sl_buf_clear(b);
        return;
    }
    hconn_t *c = s->conn;
    if (b->len && !s->resp_no_body) {
        sl_h1_conn_write_body(c->codec, b->data, b->len, s->resp_chunked);
        s->info.bytes_sent += b->len;
    }
    sl_buf_clear(b);
    c->last_activity_ms = now_ms(c);
    if (end) {
        if (s->resp_chunked)
            sl_h1_conn_write_chunked_end(c->codec, NULL);
        stream_response_done(s);
    }
}

static void sink_trailers(sl_stream_t *s, int dir)
{
    if (dir == DEC)
        return;
    if (s->resp_chunked)
        sl_h1_conn_write_chunked_end(s->conn->codec, s->resp_t);
    stream_response_done(s);
}

/* ---- local replies ---------------------------------------------------------------------- */

static void reset_stream(sl_stream_t *s, const char *details)
{
    if (s->done)
        return;
    s->info.reset = true;
    if (details && !s->info.response_details)
        s->info.response_details = details;
    s->conn->close_after_write = true;
    hconn_t *c = s->conn;
    stream_end(s, true);
    /* A response was cut short: the client must see the connection end. */
    conn_close(c);
}

static void local_reply(sl_stream_t *s, sl_http_filter_t *from, int dir, int status,
                        const char *body, size_t body_len, const sl_hmap_t *extra,
                        const char *details)
{
    if (s->done)
        return;
    s->decode_aborted = true;
    if (s->resp_started) {
        reset_stream(s, details);
        return;
    }
    /* Replace whatever response was in progress. */
    s->enc_gen++;
    for (unsigned i = 0; i < s->n_filters; i++) {
        s->filters[i].hold[ENC] = 0;
        sl_buf_clear(&s->filters[i].held[ENC]);
    }
    s->info.local_reply = true;
    s->info.response_details = details;
    if (status < 100 || status > 999)
        status = 500;
    sl_hmap_clear(&s->resp_h);
    char num[16];
    snprintf(num, sizeof(num), "%d", status);
    sl_hmap_setz(&s->resp_h, ":status", num);
    if (extra)
        for (uint32_t i = 0; i < sl_hmap_size(extra); i++) {
            const sl_header_t *h = sl_hmap_at(extra, i);
            sl_hmap_add(&s->resp_h, h->name, h->name_len, h->value, h->value_len);
        }
    snprintf(num, sizeof(num), "%zu", body_len);
    sl_hmap_setz(&s->resp_h, "content-length", num);
    if (body_len && !sl_hmap_getz(&s->resp_h, "content-type"))
        sl_hmap_setz(&s->resp_h, "content-type", "text/plain");
    s->resp_t = NULL;
    /* Which encoders see it: those that saw the request (decode) or that come after the
     * sender on the encode path. */
    long start = -1;
    if (dir == ENC && from) {
        start = (long)from->index - 1;
    } else {
        for (long i = (long)s->n_filters - 1; i >= 0; i--)
            if (s->filters[i].decode_started) {
                start = i;
                break;
            }
    }
    char *copy = body_len ? sl_arena_dup(&s->arena, body, body_len) : NULL;
    unsigned gen = s->enc_gen;
    run_headers(s, ENC, start, body_len == 0);
    if (body_len && !s->done && s->enc_gen == gen) {
        sl_buf_t b;
        sl_buf_init(&b);
        sl_buf_borrow(&b, copy ? copy : "", copy ? body_len : 0);
        run_data(s, ENC, start, &b, true);
        sl_buf_dispose(&b);
    }
}

/* ---- stream lifecycle ------------------------------------------------------------------- */

static void stream_ref(sl_stream_t *s)
{
    s->refs++;
}

/* The access log line is assembled by hand: it is written for every request, and the printf
 * family cost more than the rest of the request's user-space work. */
typedef struct line_out {
    char *p;
    size_t n, cap; /* cap keeps one byte for the final newline */
} line_out_t;

static void put(line_out_t *o, const char *s, size_t len)
{
    if (len > o->cap - o->n)
        len = o->cap - o->n;
    memcpy(o->p + o->n, s, len);
    o->n += len;
}

static void putz(line_out_t *o, const char *s)
{
    put(o, s ? s : "-", s ? strlen(s) : 1);
}

static void put_u64(line_out_t *o, uint64_t v)
{
    char d[24];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, d + i, sizeof(d) - i);
}

/* Fixed-width decimal with leading zeros. */
static void put_dec(line_out_t *o, unsigned v, int width)
{
    char d[8];
    for (int i = width - 1; i >= 0; i--) {
        d[i] = (char)('0' + v % 10);
        v /= 10;
    }
    put(o, d, (size_t)width);
}

static void access_log(sl_stream_t *s)
{
    hcm_worker_t *hw = s->conn->hw;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t dur = s->info.end_ms - s->info.start_ms;
    int64_t start_wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)dur;
    time_t secs = (time_t)(start_wall_ms / 1000);
    if (secs != hw->log_secs || !hw->log_date[0]) {
        /* The date part changes once a second: format it then. */
        struct tm tm;
        gmtime_r(&secs, &tm);
        line_out_t d = {hw->log_date, 0, sizeof(hw->log_date) - 1};
        put_dec(&d, (unsigned)(tm.tm_year + 1900), 4);
        put(&d, "-", 1);
        put_dec(&d, (unsigned)tm.tm_mon + 1, 2);
        put(&d, "-", 1);
        put_dec(&d, (unsigned)tm.tm_mday, 2);
        put(&d, "T", 1);
        put_dec(&d, (unsigned)tm.tm_hour, 2);
        put(&d, ":", 1);
        put_dec(&d, (unsigned)tm.tm_min, 2);
        put(&d, ":", 1);
        put_dec(&d, (unsigned)tm.tm_sec, 2);
        hw->log_date[d.n] = '\0';
        hw->log_secs = secs;
    }
    const char *method = sl_hmap_getz(&s->req_h, ":method");
    const char *path = sl_hmap_getz(&s->req_h, "x-envoy-original-path");
    if (!path)
        path = sl_hmap_getz(&s->req_h, ":path");
    const char *rid = sl_hmap_getz(&s->req_h, "x-request-id");
    const char *auth = sl_hmap_getz(&s->req_h, ":authority");
    if (hw->log_len + MAX_LOG_LINE > sizeof(hw->log_buf))
        log_write_out(hw);
    line_out_t o = {hw->log_buf + hw->log_len, 0, MAX_LOG_LINE - 1};
    /* [start] "METHOD PATH PROTO" status details rx tx duration_ms "upstream" "request id"
     * "authority" "client" */
    put(&o, "[", 1);
    putz(&o, hw->log_date);
    put(&o, ".", 1);
    put_dec(&o, (unsigned)(start_wall_ms % 1000), 3);
    put(&o, "Z] \"", 4);
    putz(&o, method);
    put(&o, " ", 1);
    putz(&o, path);
    put(&o, s->version == 10 ? " HTTP/1.0\" " : " HTTP/1.1\" ", 11);
    put_u64(&o, (uint64_t)(s->info.status > 0 ? s->info.status : 0));
    put(&o, " ", 1);
    putz(&o, s->info.response_details);
    put(&o, " ", 1);
    put_u64(&o, s->info.bytes_received);
    put(&o, " ", 1);
    put_u64(&o, s->info.bytes_sent);
    put(&o, " ", 1);
    put_u64(&o, dur);
    put(&o, " \"", 2);
    putz(&o, s->info.upstream_host);
    put(&o, "\" \"", 3);
    putz(&o, rid);
    put(&o, "\" \"", 3);
    putz(&o, auth);
    put(&o, "\" \"", 3);
    putz(&o, s->conn->peer);
    put(&o, "\"", 1);
    o.p[o.n++] = '\n';
    hw->log_len += o.n;
    if (!uv_is_active((uv_handle_t *)&hw->log_flush))
        uv_prepare_start(&hw->log_flush, on_log_flush);
}

static void stream_free(sl_stream_t *s)
{
    for (unsigned i = 0; i < s->n_filters; i++) {
        sl_http_filter_t *f = &s->filters[i];
        if (f->ops && f->ops->on_destroy)
            f->ops->on_destroy(f);
        sl_buf_dispose(&f->held[DEC]);
        sl_buf_dispose(&f->held[ENC]);
    }
    sl_arena_dispose(&s->arena);
    /* Kept for the next request of this worker: no malloc per stream in steady state. */
    hcm_worker_t *hw = s->conn->hw;
    if (hw->n_free_streams < MAX_FREE_STREAMS && !hw->closing_all) {
        s->next_free = hw->free_streams;
        hw->free_streams = s;
        hw->n_free_streams++;
        return;
    }
    free(s);
}

/* Ends the stream: completion and log callbacks, stats, access log. The memory goes when the
 * last reference is dropped. */
static void stream_end(sl_stream_t *s, bool reset)
{
    if (s->done)
        return;
    s->done = true;
    hconn_t *c = s->conn;
    hcm_worker_t *hw = c->hw;
    s->info.end_ms = now_ms(c);
    if (reset)
        s->info.reset = true;
    if (s->dec_pauses || s->held_over[DEC]) {
        s->dec_pauses = 0;
        s->held_over[DEC] = false;
        sl_h1_conn_unpause(c->codec, SL_H1_PAUSE_BACKPRESSURE);
    }
    for (unsigned i = 0; i < s->n_filters; i++)
        if (s->filters[i].ops && s->filters[i].ops->on_stream_complete)
            s->filters[i].ops->on_stream_complete(&s->filters[i], &s->info);
    for (unsigned i = 0; i < s->n_filters; i++)
        if (s->filters[i].ops && s->filters[i].ops->on_log)
            s->filters[i].ops->on_log(&s->filters[i], &s->info);
    int k = s->info.status / 100;
    if (k >= 1 && k <= 5)
        sl_stats_inc(hw->w, s->cfg->st.rq_xx[k], 1);
    sl_stats_gauge_add(hw->w, s->cfg->st.rq_active, -1);
    access_log(s);
    hw->n_streams--;
    if (c->stream == s)
        c->stream = NULL;
    if (s->refs == 0)
        stream_free(s);
    else
        s->freed_pending = true;
    conn_after_stream(c);
}

static void stream_unref(sl_stream_t *s)
{
    if (--s->refs == 0 && s->freed_pending)
        stream_free(s);
}

/* Builds the request header map from the parsed head: pseudo-headers first, hop-by-hop
 * headers dropped, x-forwarded-for appended, x-request-id generated when absent. */
static bool build_request_headers(sl_stream_t *s, const sl_h1_head_t *hd)
{
    sl_hmap_t *m = &s->req_h;
    const char *host = NULL;
    size_t host_len = 0;
    for (size_t i = 0; i < hd->n_headers; i++)
        if (hd->headers[i].name_len == 4 && strncasecmp(hd->headers[i].name, "host", 4) == 0) {
            host = hd->headers[i].value;
            host_len = hd->headers[i].value_len;
            break;
        }
    if (!sl_hmap_add(m, ":method", 7, hd->method, hd->method_len) ||
        !sl_hmap_add(m, ":path", 5, hd->target, hd->target_len) ||
        !sl_hmap_add(m, ":authority", 10, host ? host : "", host ? host_len : 0) ||
        !sl_hmap_add(m, ":scheme", 7, "http", 4))
        return false;
    /* Names listed in Connection are hop-by-hop too (RFC 9110 7.6.1). */
    const char *conn_list = NULL;
    size_t conn_len = 0;
    for (size_t i = 0; i < hd->n_headers; i++) {
        const sl_header_t *h = &hd->headers[i];
        if (h->name_len == 10 && strncasecmp(h->name, "connection", 10) == 0) {
            conn_list = h->value;
            conn_len = h->value_len;
        }
    }
    for (size_t i = 0; i < hd->n_headers; i++) {
        const sl_header_t *h = &hd->headers[i];
        if (h->name_len == 4 && strncasecmp(h->name, "host", 4) == 0)
            continue;
        bool keep_upgrade =
            s->upgrade && h->name_len == 7 && strncasecmp(h->name, "upgrade", 7) == 0;
        if (sl_h1_is_hop_by_hop(h->name, h->name_len) && !keep_upgrade)
            continue;
        if (h->name_len == 6 && strncasecmp(h->name, "expect", 6) == 0 && hd->expect_continue)
            continue;
        if (conn_list && !keep_upgrade) {
            bool listed = false;
            const char *p = conn_list, *e = conn_list + conn_len;
            while (p < e && !listed) {
                while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
                    p++;
                const char *q = p;
                while (q < e && *q != ',' && *q != ' ' && *q != '\t')
                    q++;
                if ((size_t)(q - p) == h->name_len && strncasecmp(p, h->name, h->name_len) == 0)
                    listed = true;
                p = q;
            }
            if (listed)
                continue;
        }
        if (!sl_hmap_add(m, h->name, h->name_len, h->value, h->value_len))
            return false;
    }
    /* Identical duplicate Content-Length values were folded by the parser (RFC 9112 6.3);
     * forward the one length it framed the body with, never the list. */
    if (!hd->chunked && hd->content_length >= 0) {
        char *num = sl_arena_alloc(&s->arena, 24);
        if (!num)
            return false;
        int n = snprintf(num, 24, "%lld", (long long)hd->content_length);
        if (!sl_hmap_set(m, "content-length", 14, num, (size_t)n))
            return false;
    }
    /* x-forwarded-for: append the client address. */
    const char *peer = s->conn->peer;
    const char *ip_end = strrchr(peer, ':');
    size_t ip_len = ip_end ? (size_t)(ip_end - peer) : strlen(peer);
    if (ip_len >= 2 && peer[0] == '[') {
        peer++;
        ip_len -= 2;
    }
    size_t xlen = 0;
    const char *xff = sl_hmap_get(m, "x-forwarded-for", 15, &xlen);
    if (xff) {
        char *v = sl_arena_alloc(&s->arena, xlen + 2 + ip_len + 1);
        if (!v)
            return false;
        memcpy(v, xff, xlen);
        memcpy(v + xlen, ", ", 2);
        memcpy(v + xlen + 2, peer, ip_len);
        if (!sl_hmap_set(m, "x-forwarded-for", 15, v, xlen + 2 + ip_len))
            return false;
    } else if (!sl_hmap_add(m, "x-forwarded-for", 15, peer, ip_len)) {
        return false;
    }
    if (!sl_hmap_getz(m, "x-forwarded-proto") && !sl_hmap_addz(m, "x-forwarded-proto", "http"))
        return false;
    /* Kept as Envoy keeps them for an upgrade, so that filters see what is asked. */
    if (s->upgrade && !sl_hmap_setz(m, "connection", "upgrade"))
        return false;
    if (s->cfg->hc->generate_request_id && !sl_hmap_getz(m, "x-request-id")) {
        hcm_worker_t *hw = s->conn->hw;
        uint8_t r[16];
        for (int i = 0; i < 16; i += 8) {
            uint64_t x = hw->rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            hw->rng = x;
            memcpy(r + i, &x, 8);
        }
        r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
        r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        char id[37];
        static const char hex[] = "0123456789abcdef";
        int o = 0;
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10)
                id[o++] = '-';
            id[o++] = hex[r[i] >> 4];
            id[o++] = hex[r[i] & 15];
        }
        id[o] = '\0';
        if (!sl_hmap_addz(m, "x-request-id", id))
            return false;
    }
    return true;
}

static sl_stream_t *stream_new(hconn_t *c, const sl_h1_head_t *hd)
{
    hcm_cfg_t *cfg = c->cfg;
    sl_stream_t *s = c->hw->free_streams;
    if (s) {
        c->hw->free_streams = s->next_free;
        c->hw->n_free_streams--;
    } else if (!(s = malloc(sizeof(*s)))) {
        return NULL;
    }
    memset(s, 0, offsetof(sl_stream_t, arena0));
    s->conn = c;
    s->cfg = cfg;
    s->id = ++c->hw->next_stream_id;
    sl_arena_init(&s->arena, s->arena0, sizeof(s->arena0));
    sl_hmap_init(&s->req_h, &s->arena);
    sl_hmap_init(&s->resp_h, &s->arena);
    s->version = hd->version;
    s->keep_alive = hd->keep_alive;
    /* An upgrade request's stream goes on after its head (Envoy: no end_stream) with the
     * tunnelled bytes once the upstream agrees; one with a body is proxied as a plain one. */
    s->upgrade = hd->upgrade && !hd->has_body && !hd->is_connect;
    s->body_expected = hd->has_body || s->upgrade;
    s->req_complete = !hd->has_body; /* a bodiless request is whole once its head is parsed */
    s->head_request = hd->method_len == 4 && memcmp(hd->method, "HEAD", 4) == 0;
    s->info.start_ms = now_ms(c);
    s->info.downstream_addr = c->peer;
    s->info.local_addr = c->local;
    c->hw->n_streams++;
    sl_stats_inc(c->hw->w, cfg->st.rq_total, 1);
    sl_stats_gauge_add(c->hw->w, cfg->st.rq_active, 1);
    if (cfg->hc->request_timeout_ms)
        s->request_deadline_ms = s->info.start_ms + cfg->hc->request_timeout_ms;
    c->stream = s;
    return s;
}

/* Creates the filters; false when one could not be created (the caller replies 500). */
static bool stream_create_filters(sl_stream_t *s)
{
    hcm_cfg_t *cfg = s->cfg;
    s->filters = sl_arena_alloc(&s->arena, (cfg->n_filters + 1) * sizeof(*s->filters));
    if (!s->filters)
        return false;
    memset(s->filters, 0, (cfg->n_filters + 1) * sizeof(*s->filters));
    static const sl_http_filter_ops_t no_ops = {0};
    for (size_t i = 0; i < cfg->n_filters; i++) {
        sl_http_filter_t *f = &s->filters[i];
        f->stream = s;
        f->index = (unsigned)i;
        f->config = cfg->filter_cfgs[i];
        f->ops = &no_ops;
        s->n_filters = (unsigned)i + 1;
        if (!cfg->factories[i] || !cfg->factories[i]->create(f->config, f)) {
            f->ops = &no_ops;
            return false;
        }
        if (!f->ops)
            f->ops = &no_ops;
    }
    return true;
}

/* ---- the public stream API -------------------------------------------------------------- */

void sl_filter_continue_decoding(sl_http_filter_t *f)
{
    sl_stream_t *s = f->stream;
    if (s->done)
        return;
    if (s->cb_filter == f && s->cb_dir == DEC) {
        s->cb_continue = true;
        return;
    }
    if (s->decode_aborted || !f->hold[DEC])
        return;
    stream_ref(s);
    hconn_t *c = s->conn;
    c->in_process = true;
    release_held(s, DEC, f->index);
    c->in_process = false;
    stream_unref(s);
    conn_after_stream(c);
}

void sl_filter_continue_encoding(sl_http_filter_t *f)
{
    sl_stream_t *s = f->stream;
    if (s->done)
        return;
    if (s->cb_filter == f && s->cb_dir == ENC) {
        s->cb_continue = true;
        return;
    }
    if (!f->hold[ENC])
        return;
    stream_ref(s);
    hconn_t *c = s->conn;
    bool nested = c->in_process;
    c->in_process = true;
    release_held(s, ENC, f->index);
    c->in_process = nested;
    stream_unref(s);
    if (!nested)
        conn_after_stream(c);
}

void sl_filter_send_local_reply(sl_http_filter_t *f, int status, const char *body,
                                size_t body_len, const sl_hmap_t *extra_headers,
                                const char *details)
{
    sl_stream_t *s = f->stream;
    if (s->done)
        return;
    stream_ref(s);
    hconn_t *c = s->conn;
    bool nested = c->in_process;
    c->in_process = true;
    int dir = (s->cb_filter == f) ? s->cb_dir : (s->resp_h.count ? ENC : DEC);
    local_reply(s, f, dir, status, body, body_len, extra_headers, details);
    c->in_process = nested;
    stream_unref(s);
    if (!nested)
        conn_after_stream(c);
}

void sl_filter_encode_headers(sl_http_filter_t *f, bool end_stream)
{
    sl_stream_t *s = f->stream;
    if (s->done || s->info.local_reply)
        return;
    stream_ref(s);
    hconn_t *c = s->conn;
    bool nested = c->in_process;
    c->in_process = true;
    run_headers(s, ENC, (long)f->index - 1, end_stream);
    c->in_process = nested;
    stream_unref(s);
    if (!nested)
        conn_after_stream(c);
}

void sl_filter_encode_data(sl_http_filter_t *f, sl_buf_t *data, bool end_stream)
{
    sl_stream_t *s = f->stream;
    if (s->done || s->info.local_reply)
        return;
    stream_ref(s);
    hconn_t *c = s->conn;
    bool nested = c->in_process;
    c->in_process = true;
    run_data(s, ENC, (long)f->index - 1, data, end_stream);
    c->in_process = nested;
    stream_unref(s);
    if (!nested)
        conn_after_stream(c);
}

void sl_filter_encode_trailers(sl_http_filter_t *f)
{
    sl_stream_t *s = f->stream;
    if (s->done || s->info.local_reply)
        return;
    if (!s->resp_t)
        sl_stream_response_trailers(s, true);
    stream_ref(s);
    hconn_t *c = s->conn;
    bool nested = c->in_process;
    c->in_process = true;
    run_trailers(s, ENC, (long)f->index - 1);
    c->in_process = nested;
    stream_unref(s);
    if (!nested)
        conn_after_stream(c);
}

sl_buf_t *sl_filter_held_body(sl_http_filter_t *f, bool decode)
{
    return &f->held[decode ? DEC : ENC];
}

void sl_filter_decode_watermark(sl_http_filter_t *f, bool above)
{
    sl_stream_t *s = f->stream;
    if (s->done)
        return;
    if (above) {
        if (s->dec_pauses++ == 0)
            sl_h1_conn_pause(s->conn->codec, SL_H1_PAUSE_BACKPRESSURE);
    } else if (s->dec_pauses > 0) {
        if (--s->dec_pauses == 0 && !s->held_over[DEC])
            sl_h1_conn_unpause(s->conn->codec, SL_H1_PAUSE_BACKPRESSURE);
    }
}

sl_hmap_t *sl_stream_request_headers(sl_stream_t *s)
{
    return &s->req_h;
}

sl_hmap_t *sl_stream_response_headers(sl_stream_t *s)
{
    return &s->resp_h;
}

static sl_hmap_t *make_map(sl_stream_t *s)
{
    sl_hmap_t *m = sl_arena_alloc(&s->arena, sizeof(*m));
    if (m)
        sl_hmap_init(m, &s->arena);
    return m;
}

sl_hmap_t *sl_stream_request_trailers(sl_stream_t *s, bool create)
{
    if (!s->req_t && create)
        s->req_t = make_map(s);
    return s->req_t;
}

sl_hmap_t *sl_stream_response_trailers(sl_stream_t *s, bool create)
{
    if (!s->resp_t && create)
        s->resp_t = make_map(s);
    return s->resp_t;
}

sl_arena_t *sl_stream_arena(sl_stream_t *s)
{
    return &s->arena;
}

sl_worker_t *sl_stream_worker(sl_stream_t *s)
{
    return s->conn->hw->w;
}

uv_loop_t *sl_stream_loop(sl_stream_t *s)
{
    return s->conn->hw->w->loop;
}

sl_stream_info_t *sl_stream_info(sl_stream_t *s)
{
    return &s->info;
}

uint64_t sl_stream_id(const sl_stream_t *s)
{
    return s->id;
}

size_t sl_stream_buffer_limit(const sl_stream_t *s)
{
    uint64_t l = s->cfg->hc->max_request_body_bytes;
    return l ? (size_t)l : SL_CONFIG_BUFFER_LIMIT_BYTES_DEFAULT;
}

bool sl_stream_done(const sl_stream_t *s)
{
    return s->done;
}

const struct sl_route *sl_stream_route(sl_stream_t *s)
{
    if (!s->route_cached) {
        s->route = s->cfg->routes ? sl_route_match(s->cfg->routes, &s->req_h) : NULL;
        s->route_cached = true;
        if (s->route) {
            s->info.route_name = s->route->cfg->name;
            s->info.cluster_name =
                s->route->cfg->action == SL_ROUTE_ACTION_ROUTE ? s->route->cfg->cluster : NULL;
        }
    }
    return s->route;
}

void sl_stream_clear_route_cache(sl_stream_t *s)
{
    s->route_cached = false;
    s->route = NULL;
}

int sl_stream_http_version(const sl_stream_t *s)
{
    return s->version;
}

uint64_t sl_stream_connection_id(const sl_stream_t *s)
{
    return s->conn->id;
}

const struct sl_listener_config *sl_stream_listener(const sl_stream_t *s)
{
    return s->conn->lc;
}

void sl_filter_reset_stream(sl_http_filter_t *f, const char *details)
{
    reset_stream(f->stream, details);
}

/* ---- connections ------------------------------------------------------------------------ */

static void conn_arm_timer(hconn_t *c);
static void on_log_closed(uv_handle_t *h);

static void worker_state_free(hcm_worker_t *hw)
{
    hcm_cfg_t *next;
    for (hcm_cfg_t *c = hw->cfgs; c; c = next) {
        next = c->next;
        for (size_t i = 0; i < c->n_filters; i++)
            if (c->factories[i] && c->factories[i]->config_destroy && c->filter_cfgs[i])
                c->factories[i]->config_destroy(c->filter_cfgs[i]);
        free(c->factories);
        free(c->filter_cfgs);
        sl_route_table_free(c->routes);
        free(c);
    }
    while (hw->free_streams) {
        sl_stream_t *s = hw->free_streams;
        hw->free_streams = s->next_free;
        free(s);
    }
    log_write_out(hw);
    hw->w->http = NULL;
    /* The prepare handle's memory is hw's: free it once the loop has let it go. A forced
     * shutdown may have closed it already (then hw stays until the process ends). */
    if (!uv_is_closing((uv_handle_t *)&hw->log_flush))
        uv_close((uv_handle_t *)&hw->log_flush, on_log_closed);
}

static void on_log_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_handle_closed(uv_handle_t *h)
{
    hconn_t *c = h->data;
    if (--c->handles > 0)
        return;
    hcm_worker_t *hw = c->hw;
    free(c->tcp);
    free(c);
    if (--hw->n_alloc == 0 && hw->closing_all)
        worker_state_free(hw);
}

static void conn_close(hconn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->stream) {
        sl_stream_t *s = c->stream;
        s->info.reset = true;
        if (!s->info.response_details)
            s->info.response_details = "downstream_connection_termination";
        stream_end(s, true);
    }
    hcm_worker_t *hw = c->hw;
    if (c->prev)
        c->prev->next = c->next;
    else
        hw->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    hw->n_conns--;
    sl_stats_gauge_add(hw->w, c->cfg->st.cx_active, -1);
    sl_h1_conn_free(c->codec);
    c->codec = NULL;
    /* The codec used tcp->data; the close callbacks need the connection. */
    c->tcp->data = c;
    c->handles = 2;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)c->tcp, on_handle_closed);
}

/* After a stream ended (or any event that may have ended it): close, or go on with the next
 * pipelined request. */
static void conn_after_stream(hconn_t *c)
{
    if (!c->closing && !c->in_process && c->stream && c->stream->tunnel_pending) {
        /* Switch once no stream callback is on the stack: bytes the client sent after its
         * request head are delivered from inside this call. */
        c->stream->tunnel_pending = false;
        sl_h1_conn_start_tunnel(c->codec);
        return;
    }
    if (c->closing || c->stream || c->in_process)
        return;
    if (c->close_after_write) {
        if (sl_h1_conn_queued(c->codec) == 0)
            conn_close(c);
        return;
    }
    if (c->hw->draining && !sl_h1_conn_has_buffered_input(c->codec)) {
        conn_close(c);
        return;
    }
    conn_arm_timer(c);
    c->in_process = true;
    sl_h1_conn_resume_parsing(c->codec);
    c->in_process = false;
    /* The next request may have completed synchronously. */
    if (!c->closing && !c->stream && c->close_after_write && sl_h1_conn_queued(c->codec) == 0)
        conn_close(c);
}

static void send_error_and_close(hconn_t *c, int status, const char *details)
{
    if (c->stream) {
        sl_stream_t *s = c->stream;
        stream_ref(s);
        c->close_after_write = true;
        local_reply(s, NULL, DEC, status, NULL, 0, NULL, details);
        if (!s->done)
            reset_stream(s, details);
        stream_unref(s);
        return;
    }
    /* No stream yet (bad request line or headers): a minimal response, then close. */
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", status,
                     sl_h1_reason(status));
    sl_h1_conn_write(c->codec, buf, (size_t)n);
    SL_DEBUG("downstream %s: %d (%s)", c->peer, status, details);
    c->close_after_write = true;
}

static void on_timer(uv_timer_t *t)
{
    hconn_t *c = t->data;
    if (c->closing)
        return;
    uint64_t now = now_ms(c);
    const sl_hcm_config_t *hc = c->cfg->hc;
    sl_stream_t *s = c->stream;
    if (s) {
        bool req_timeout = s->request_deadline_ms && now >= s->request_deadline_ms &&
                           !s->req_complete;
        bool idle = hc->stream_idle_timeout_ms &&
                    now - c->last_activity_ms >= hc->stream_idle_timeout_ms;
        if (req_timeout || idle) {
            sl_stats_inc(c->hw->w, c->cfg->st.rq_timeout, 1);
            c->in_process = true;
            send_error_and_close(c, 408, req_timeout ? "request_overall_timeout"
                                                     : "stream_idle_timeout");
            c->in_process = false;
            conn_after_stream(c);
            return;
        }
        conn_arm_timer(c);
        return;
    }
    if (c->waiting_headers) {
        sl_stats_inc(c->hw->w, c->cfg->st.rq_timeout, 1);
        send_error_and_close(c, 408, "request_header_timeout");
        conn_after_stream(c);
        return;
    }
    /* Idle connection. */
    conn_close(c);
}

static void conn_arm_timer(hconn_t *c)
{
    if (c->closing)
        return;
    const sl_hcm_config_t *hc = c->cfg->hc;
    uint64_t now = now_ms(c);
    uint64_t due = 0;
    sl_stream_t *s = c->stream;
    if (s) {
        if (s->request_deadline_ms && !s->req_complete)
            due = s->request_deadline_ms;
        if (hc->stream_idle_timeout_ms) {
            uint64_t d = c->last_activity_ms + hc->stream_idle_timeout_ms;
            if (!due || d < due)
                due = d;
        }
    } else if (c->waiting_headers && hc->request_headers_timeout_ms) {
        due = c->last_activity_ms + hc->request_headers_timeout_ms;
    } else if (!c->waiting_headers && hc->idle_timeout_ms) {
        due = now + hc->idle_timeout_ms;
    }
    if (!due) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- codec callbacks -------------------------------------------------------------------- */

static void cb_begin(void *ud)
{
    hconn_t *c = ud;
    c->waiting_headers = true;
    c->last_activity_ms = now_ms(c);
    if (!c->stream)
        conn_arm_timer(c);
}

/* Is the switch the request asks for configured? A route's upgrade_configs entry decides for
 * its type; otherwise the connection manager's. Without a route the request goes on as a
 * plain one (and finds no route). */
static bool upgrade_allowed(sl_stream_t *s)
{
    const char *type = sl_hmap_getz(&s->req_h, "upgrade");
    const sl_route_t *rt = sl_stream_route(s);
    if (!type || !rt) {
        s->upgrade = false;
        sl_hmap_removez(&s->req_h, "upgrade");
        sl_hmap_removez(&s->req_h, "connection");
        return true;
    }
    bool route_enabled = false;
    for (size_t i = 0; i < rt->cfg->n_upgrades; i++)
        if (strcasecmp(rt->cfg->upgrades[i].type, type) == 0) {
            if (!rt->cfg->upgrades[i].enabled)
                return false;
            route_enabled = true;
        }
    const sl_hcm_config_t *hc = s->cfg->hc;
    for (size_t i = 0; i < hc->n_upgrades; i++)
        if (strcasecmp(hc->upgrades[i].type, type) == 0)
            return hc->upgrades[i].enabled || route_enabled;
    return route_enabled;
}

static bool cb_head(void *ud, const sl_h1_head_t *hd)
{
    hconn_t *c = ud;
    c->waiting_headers = false;
    c->last_activity_ms = now_ms(c);
    sl_stream_t *s = stream_new(c, hd);
    if (!s) {
        send_error_and_close(c, 503, "out_of_memory");
        return false;
    }
    stream_ref(s);
    c->in_process = true;
    conn_arm_timer(c);
    if (!build_request_headers(s, hd) || c->cfg->broken || !stream_create_filters(s)) {
        local_reply(s, NULL, DEC, 500, "internal error", 14, NULL, "filter_chain_not_ready");
    } else if (hd->is_connect) {
        /* CONNECT tunnels are not proxied (routes have no connect_matcher): refuse, and close
         * so that tunnel bytes the client may send next are never read as a request. */
        c->close_after_write = true;
        local_reply(s, NULL, DEC, 501, "CONNECT is not supported", 24, NULL,
                    "connect_not_supported");
    } else if (s->upgrade && !upgrade_allowed(s)) {
        /* As Envoy: 403, and no further request on this connection, since bytes after an
         * unaccepted switch could smuggle one. */
        sl_stats_inc(c->hw->w, c->cfg->st.ws_on_non_ws_route, 1);
        c->close_after_write = true;
        local_reply(s, NULL, DEC, 403, NULL, 0, NULL, "upgrade_failed");
    } else {
        if (hd->expect_continue && hd->version >= 11 && hd->has_body)
            sl_h1_conn_write(c->codec, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        run_headers(s, DEC, 0, !s->body_expected);
    }
    c->in_process = false;
    bool alive = !c->closing;
    stream_unref(s);
    return alive;
}

static void cb_body(void *ud, const char *p, size_t n)
{
    hconn_t *c = ud;
    sl_stream_t *s = c->stream;
    c->last_activity_ms = now_ms(c);
    if (!s || s->done) {
        return;
    }
    s->info.bytes_received += n;
    if (s->decode_aborted)
        return;
    stream_ref(s);
    c->in_process = true;
    sl_buf_t b;
    sl_buf_init(&b);
    sl_buf_borrow(&b, p, n);
    run_data(s, DEC, 0, &b, false);
    sl_buf_dispose(&b);
    c->in_process = false;
    stream_unref(s);
    conn_after_stream(c);
}

static void cb_trailers(void *ud, const sl_header_t *t, size_t n)
{
    hconn_t *c = ud;
    sl_stream_t *s = c->stream;
    if (!s || s->done || s->decode_aborted)
        return;
    sl_hmap_t *m = sl_stream_request_trailers(s, true);
    if (!m)
        return;
    for (size_t i = 0; i < n; i++)
        sl_hmap_add(m, t[i].name, t[i].name_len, t[i].value, t[i].value_len);
}

static void cb_complete(void *ud)
{
    hconn_t *c = ud;
    sl_stream_t *s = c->stream;
    c->last_activity_ms = now_ms(c);
    /* Parsing stops here until the response is done (pipelined requests wait their turn). */
    if (s) {
        s->req_complete = true;
        if (!s->done && !s->decode_aborted && s->body_expected && !s->upgrade) {
            stream_ref(s);
            c->in_process = true;
            conn_arm_timer(c);
            if (s->req_t) {
                run_trailers(s, DEC, 0);
            } else {
                sl_buf_t b;
                sl_buf_init(&b);
                run_data(s, DEC, 0, &b, true);
                sl_buf_dispose(&b);
            }
            c->in_process = false;
            stream_unref(s);
        }
    }
    conn_after_stream(c);
}

static void cb_error(void *ud, int status, const char *why)
{
    hconn_t *c = ud;
    if (status == 0) {
        /* The client went away (or a read error): whatever is in flight is reset. */
        if (c->stream && c->stream->resp_complete == false)
            SL_DEBUG("downstream %s: %s", c->peer, why);
        conn_close(c);
        return;
    }
    if (status == 431)
        sl_stats_inc(c->hw->w, c->cfg->st.rq_headers_large, 1);
    c->in_process = true;
    c->waiting_headers = false;
    send_error_and_close(c, status, why);
    c->in_process = false;
    conn_after_stream(c);
}

static void cb_watermark(void *ud, bool above)
{
    hconn_t *c = ud;
    c->above_watermark = above;
    sl_stream_t *s = c->stream;
    if (!s || s->done)
        return;
    stream_ref(s);
    for (unsigned i = 0; i < s->n_filters; i++)
        if (s->filters[i].ops->encode_watermark)
            s->filters[i].ops->encode_watermark(&s->filters[i], above);
    stream_unref(s);
}

static void cb_drained(void *ud)
{
    hconn_t *c = ud;
    if (c->close_after_write && !c->stream && !c->in_process)
        conn_close(c);
}

static const sl_h1_cbs_t downstream_cbs = {
    .on_begin = cb_begin,
    .on_head = cb_head,
    .on_body = cb_body,
    .on_trailers = cb_trailers,
    .on_complete = cb_complete,
    .on_error = cb_error,
    .on_watermark = cb_watermark,
    .on_drained = cb_drained,
};

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(out, n, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(out, n, "[%s]:%d", ip, port);
    } else {
        snprintf(out, n, "-");
    }
}

void sl_hcm_conn_start(sl_worker_t *w, const struct sl_listener_config *lc,
                       const struct sl_hcm_config *hc, uv_tcp_t *client)
{
    hcm_worker_t *hw = worker_state(w);
    hcm_cfg_t *cfg = hw ? cfg_state(hw, hc) : NULL;
    hconn_t *c = cfg ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        uv_close((uv_handle_t *)client, (uv_close_cb)free);
        return;
    }
    c->hw = hw;
    c->cfg = cfg;
    c->lc = lc;
    c->id = ++w->next_conn_id;
    c->tcp = client;
    uv_timer_init(w->loop, &c->timer);
    c->timer.data = c;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(client, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, c->peer, sizeof(c->peer));
    else
        snprintf(c->peer, sizeof(c->peer), "-");
    len = sizeof(ss);
    if (uv_tcp_getsockname(client, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, c->local, sizeof(c->local));
    else
        snprintf(c->local, sizeof(c->local), "-");
    uv_tcp_nodelay(client, 1);
    uint32_t kb = hc->max_request_headers_kb ? hc->max_request_headers_kb
                                             : SL_CONFIG_MAX_REQUEST_HEADERS_KB_DEFAULT;
    uint64_t buf = lc && lc->per_connection_buffer_limit_bytes
                       ? lc->per_connection_buffer_limit_bytes
                       : SL_CONFIG_BUFFER_LIMIT_BYTES_DEFAULT;
    sl_h1_limits_t lim = {
        .max_header_bytes = (size_t)kb * 1024,
        .max_headers = hc->max_request_headers_count ? hc->max_request_headers_count
                                                     : SL_CONFIG_MAX_REQUEST_HEADERS_COUNT_DEFAULT,
        .high_watermark = (size_t)buf,
        .low_watermark = (size_t)buf / 2,
    };
    c->codec = sl_h1_conn_new((uv_stream_t *)client, SL_H1_SERVER, &lim, &downstream_cbs, c);
    c->next = hw->conns;
    if (hw->conns)
        hw->conns->prev = c;
    hw->conns = c;
    hw->n_conns++;
    hw->n_alloc++;
    sl_stats_inc(w, cfg->st.cx_total, 1);
    sl_stats_gauge_add(w, cfg->st.cx_active, 1);
    if (!c->codec || sl_h1_conn_start_reading(c->codec) != 0) {
        conn_close(c);
        return;
    }
    conn_arm_timer(c);
}

void sl_hcm_worker_drain(sl_worker_t *w)
{
    hcm_worker_t *hw = w->http;
    if (!hw)
        return;
    hw->draining = true;
    hconn_t *next;
    for (hconn_t *c = hw->conns; c; c = next) {
        next = c->next;
        if (!c->stream && !c->in_process && !sl_h1_conn_has_buffered_input(c->codec) &&
            !c->waiting_headers)
            conn_close(c);
    }
}

size_t sl_hcm_active_streams(sl_worker_t *w)
{
    hcm_worker_t *hw = w->http;
    return hw ? hw->n_streams : 0;
}

size_t sl_hcm_active_conns(sl_worker_t *w)
{
    hcm_worker_t *hw = w->http;
    return hw ? hw->n_conns : 0;
}

void sl_hcm_worker_close_all(sl_worker_t *w)
{
    hcm_worker_t *hw = w->http;
    if (!hw)
        return;
    hw->draining = true;
    hw->closing_all = true;
    while (hw->conns)
        conn_close(hw->conns);
    if (hw->n_alloc == 0)
        worker_state_free(hw);
}
