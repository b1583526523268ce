/* TCP proxying: one upstream connection per client, bytes relayed both ways through the
 * network filters; writes try the socket first and queue only what it does not take. */
#include "proxy/sl_tcp_proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_cluster.h"
#include "proxy/sl_log.h"
#include "proxy/sl_pool.h"

#define READ_BYTES 65536

typedef struct chain_filter {
    const sl_netfilter_ops_t *ops; /* borrowed: registry, static */
    void *shared;                  /* owned via ops->release */
} chain_filter_t;

struct sl_tcp_chain {
    const sl_listener_config_t *listener;  /* borrowed: config */
    const sl_tcp_proxy_config_t *proxy;    /* borrowed: config */
    chain_filter_t *filters;               /* owned array */
    size_t n_filters;
    uint64_t buffer_limit;                 /* bytes queued toward one side before reading
                                              from the other pauses */
    struct {
        sl_counter_t cx_total, rx_bytes, tx_bytes, no_route, connect_fail, idle_timeout,
            cx_overflow;
        sl_gauge_t cx_active;
    } st;
};

/* One direction of relaying: bytes read from `src` go to the other side. */
typedef struct dir {
    sl_buf_t held;     /* bytes held by a filter (or waiting for it to continue) */
    int stopped_at;    /* filter that returned STOP, -1 when none */
    bool end_read;     /* the source half-closed */
    bool end_passed;   /* end_stream went through every filter */
    bool shutdown;     /* shutdown sent to the destination */
    size_t queued;     /* bytes accepted by uv_write toward the destination, not yet done */
    bool paused;       /* reading from the source is stopped for backpressure */
} dir_t;

struct sl_nf_conn {
    sl_worker_t *worker;            /* borrowed */
    const sl_tcp_chain_t *chain;    /* borrowed */
    struct sl_nf_conn *prev, *next; /* worker's session list */
    uint64_t id;
    uv_tcp_t *down;                 /* owned: the client connection (taken from listener) */
    sl_upstream_conn_t *up;         /* lent by the pool until close */
    sl_pool_req_t *preq;            /* pending connect */
    void **states;                  /* owned: per-filter state */
    dir_t dirs[2];                  /* [SL_NF_DOWNSTREAM]: client -> upstream */
    bool connect_held;              /* on_new_connection returned STOP */
    int connect_stopped_at;
    uv_timer_t idle;
    uint64_t last_activity_ms;
    size_t in_flight;               /* writes, shutdowns and handle closes outstanding */
    bool closed;
    bool upstream_failed;
    char down_addr[64];
    char rbuf[2][READ_BYTES];       /* read buffers, one per source side */
};

typedef struct wreq {
    uv_write_t req;
    sl_nf_conn_t *conn; /* borrowed: held alive by in_flight */
    int d;              /* direction whose destination this writes */
    size_t len;
    char data[];        /* the copied bytes */
} wreq_t;

/* ---- registry -------------------------------------------------------------------------------- */

static const sl_netfilter_ops_t *registry[8];

void sl_netfilter_register(sl_network_filter_kind_t kind, const sl_netfilter_ops_t *ops)
{
    if ((size_t)kind < sizeof registry / sizeof registry[0])
        registry[kind] = ops;
}

const sl_netfilter_ops_t *sl_netfilter_lookup(sl_network_filter_kind_t kind)
{
    if ((size_t)kind < sizeof registry / sizeof registry[0])
        return registry[kind];
    return NULL;
}

/* ---- chain ------------------------------------------------------------------------------------ */

sl_status_t sl_tcp_chain_new(const sl_listener_config_t *lc, const sl_filter_chain_config_t *fc,
                             sl_tcp_chain_t **out, char *err, size_t err_len)
{
    *out = NULL;
    sl_tcp_chain_t *ch = calloc(1, sizeof *ch);
    if (!ch || fc->n_filters == 0)
        goto nomem;
    ch->listener = lc;
    ch->proxy = fc->filters[fc->n_filters - 1].tcp_proxy;
    if (!ch->proxy) {
        snprintf(err, err_len, "listener %s: the last network filter is not tcp_proxy",
                 lc->name);
        free(ch);
        return SL_ERR_CONFIG;
    }
    ch->buffer_limit = lc->per_connection_buffer_limit_bytes ? lc->per_connection_buffer_limit_bytes
                                                             : 1024 * 1024;
    ch->n_filters = fc->n_filters - 1;
    if (ch->n_filters && !(ch->filters = calloc(ch->n_filters, sizeof *ch->filters)))
        goto nomem;
    for (size_t i = 0; i < ch->n_filters; i++) {
        const sl_network_filter_config_t *f = &fc->filters[i];
        const sl_netfilter_ops_t *ops = sl_netfilter_lookup(f->kind);
        if (!ops) {
            snprintf(err, err_len,
                     "listener %s: network filter %s (line %u) has no implementation in this "
                     "build",
                     lc->name, f->name, f->line);
            sl_tcp_chain_free(ch);
            return SL_ERR_CONFIG;
        }
        ch->filters[i].ops = ops;
        if (ops->configure) {
            sl_status_t st = ops->configure(f, &ch->filters[i].shared, err, err_len);
            if (st != SL_OK) {
                ch->filters[i].ops = NULL;
                sl_tcp_chain_free(ch);
                return st;
            }
        }
    }
    const char *p = ch->proxy->stat_prefix;
#define C_(field, stat) ch->st.field = sl_stats_counterf("tcp.%s." stat, p)
    C_(cx_total, "downstream_cx_total");
    C_(rx_bytes, "downstream_cx_rx_bytes_total");
    C_(tx_bytes, "downstream_cx_tx_bytes_total");
    C_(no_route, "downstream_cx_no_route");
    C_(connect_fail, "upstream_connect_fail");
    C_(idle_timeout, "idle_timeout");
    C_(cx_overflow, "downstream_cx_overflow");
#undef C_
    ch->st.cx_active = sl_stats_gaugef("tcp.%s.downstream_cx_active", p);
    *out = ch;
    return SL_OK;
nomem:
    free(ch);
    snprintf(err, err_len, "listener %s: out of memory", lc->name);
    return SL_ERR_NOMEM;
}

void sl_tcp_chain_free(sl_tcp_chain_t *ch)
{
    if (!ch)
        return;
    for (size_t i = 0; i < ch->n_filters; i++)
        if (ch->filters[i].ops && ch->filters[i].ops->release)
            ch->filters[i].ops->release(ch->filters[i].shared);
    free(ch->filters);
    free(ch);
}

/* ---- session lifecycle ------------------------------------------------------------------------ */

static void maybe_free(sl_nf_conn_t *c)
{
    if (!c->closed || c->in_flight > 0)
        return;
    sl_worker_t *w = c->worker;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->tcp_sessions = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_tcp_sessions--;
    sl_stats_gauge_add(w, c->chain->st.cx_active, -1);
    sl_buf_dispose(&c->dirs[0].held);
    sl_buf_dispose(&c->dirs[1].held);
    free(c->states);
    free(c);
}

static void handle_closed(uv_handle_t *h)
{
    sl_nf_conn_t *c = h->data;
    if (h != (uv_handle_t *)&c->idle)
        free(h); /* the downstream handle was malloc'd by the listener */
    c->in_flight--;
    maybe_free(c);
}

static void session_close(sl_nf_conn_t *c, sl_nf_close_t why)
{
    if (c->closed)
        return;
    c->closed = true;
    const sl_tcp_chain_t *ch = c->chain;
    for (size_t i = 0; i < ch->n_filters; i++) {
        const sl_netfilter_ops_t *ops = ch->filters[i].ops;
        if (ops->on_close)
            ops->on_close(c->states[i], c, why);
    }
    for (size_t i = 0; i < ch->n_filters; i++) {
        const sl_netfilter_ops_t *ops = ch->filters[i].ops;
        if (ops->destroy)
            ops->destroy(c->states[i]);
        c->states[i] = NULL;
    }
    if (c->preq) {
        sl_pool_cancel(c->preq);
        c->preq = NULL;
    }
    if (c->up) {
        sl_pool_release(c->up, false);
        c->up = NULL;
    }
    c->in_flight += 2;
    uv_close((uv_handle_t *)c->down, handle_closed);
    uv_close((uv_handle_t *)&c->idle, handle_closed);
    SL_DEBUG("tcp %s: session %llu from %s closed (%s)", ch->proxy->stat_prefix,
             (unsigned long long)c->id, c->down_addr,
             why == SL_NF_CLOSE_DOWNSTREAM ? "client"
             : why == SL_NF_CLOSE_UPSTREAM ? "upstream"
                                           : "local");
}

static uv_stream_t *dest_stream(sl_nf_conn_t *c, int d)
{
    return d == SL_NF_DOWNSTREAM ? (uv_stream_t *)&c->up->tcp : (uv_stream_t *)c->down;
}

static uv_stream_t *src_stream(sl_nf_conn_t *c, int d)
{
    return d == SL_NF_DOWNSTREAM ? (uv_stream_t *)c->down : (uv_stream_t *)&c->up->tcp;
}

static void start_reading(sl_nf_conn_t *c, int d);

static void maybe_finish(sl_nf_conn_t *c)
{
    /* Both directions ended and flushed: the session is complete. */
    if (c->dirs[0].shutdown && c->dirs[1].shutdown && c->dirs[0].queued == 0 &&
        c->dirs[1].queued == 0)
        session_close(c, SL_NF_CLOSE_DOWNSTREAM);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    sl_nf_conn_t *c = req->data;
    free(req);
    c->in_flight--;
    if (!c->closed)
        maybe_finish(c);
    maybe_free(c);
}

static void send_shutdown(sl_nf_conn_t *c, int d)
{
    dir_t *dr = &c->dirs[d];
    if (dr->shutdown || !dr->end_passed || dr->queued > 0 || c->closed)
        return;
    dr->shutdown = true;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || (req->data = c, uv_shutdown(req, dest_stream(c, d), on_shutdown) != 0)) {
        free(req);
        maybe_finish(c);
        return;
    }
    c->in_flight++;
}

static void on_write(uv_write_t *req, int status)
{
    wreq_t *wr = (wreq_t *)req;
    sl_nf_conn_t *c = wr->conn;
    dir_t *dr = &c->dirs[wr->d];
    dr->queued -= wr->len;
    int d = wr->d;
    free(wr);
    c->in_flight--;
    if (!c->closed) {
        if (status < 0) {
            session_close(c, d == SL_NF_DOWNSTREAM ? SL_NF_CLOSE_UPSTREAM : SL_NF_CLOSE_DOWNSTREAM);
        } else {
            if (dr->paused && dr->queued <= c->chain->buffer_limit / 2)
                start_reading(c, d);
            send_shutdown(c, d);
            maybe_finish(c);
        }
    }
    maybe_free(c);
}

/* Sends bytes toward the destination of direction d: what the socket takes now is written
 * at once, the rest is copied into a write request. */
static bool relay_write(sl_nf_conn_t *c, int d, const char *p, size_t n)
{
    if (n == 0)
        return true;
    dir_t *dr = &c->dirs[d];
    uv_stream_t *dst = dest_stream(c, d);
    if (d == SL_NF_UPSTREAM)
        sl_stats_inc(c->worker, c->chain->st.tx_bytes, n);
    if (dr->queued == 0) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
        int w = uv_try_write(dst, &b, 1);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w != UV_EAGAIN && w != UV_ENOSYS) {
            return false;
        }
        if (n == 0)
            return true;
    }
    wreq_t *wr = malloc(sizeof *wr + n);
    if (!wr)
        return false;
    wr->conn = c;
    wr->d = d;
    wr->len = n;
    memcpy(wr->data, p, n);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)n);
    if (uv_write(&wr->req, dst, &b, 1, on_write) != 0) {
        free(wr);
        return false;
    }
    c->in_flight++;
    dr->queued += n;
    if (dr->queued > c->chain->buffer_limit && !dr->paused) {
        dr->paused = true;
        uv_read_stop(src_stream(c, d));
    }
    return true;
}

/* Runs direction d's filters from `from` over the held bytes and relays what gets through. */
static void run_filters(sl_nf_conn_t *c, int d, size_t from)
{
    const sl_tcp_chain_t *ch = c->chain;
    dir_t *dr = &c->dirs[d];
    size_t n = ch->n_filters;
    bool end = dr->end_read;
    for (size_t k = from; k < n; k++) {
        /* Client bytes go through the filters in order, upstream bytes in reverse. */
        size_t i = d == SL_NF_DOWNSTREAM ? k : n - 1 - k;
        const sl_netfilter_ops_t *ops = ch->filters[i].ops;
        sl_nf_status_t st = SL_NF_CONTINUE;
        if (d == SL_NF_DOWNSTREAM && ops->on_downstream_data)
            st = ops->on_downstream_data(c->states[i], c, &dr->held, end);
        else if (d == SL_NF_UPSTREAM && ops->on_upstream_data)
            st = ops->on_upstream_data(c->states[i], c, &dr->held, end);
        if (c->closed)
            return;
        if (st == SL_NF_STOP) {
            dr->stopped_at = (int)k;
            /* Held bytes must survive the next read into the same buffer. */
            if (!sl_buf_own(&dr->held))
                session_close(c, SL_NF_CLOSE_LOCAL);
            return;
        }
    }
    dr->stopped_at = -1;
    if (!relay_write(c, d, dr->held.data, dr->held.len)) {
        session_close(c, d == SL_NF_DOWNSTREAM ? SL_NF_CLOSE_UPSTREAM : SL_NF_CLOSE_DOWNSTREAM);
        return;
    }
    sl_buf_clear(&dr->held);
    if (end) {
        dr->end_passed = true;
        send_shutdown(c, d);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sl_nf_conn_t *c = h->data;
    int d = (uv_tcp_t *)h == c->down ? SL_NF_DOWNSTREAM : SL_NF_UPSTREAM;
    *buf = uv_buf_init(c->rbuf[d], READ_BYTES);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sl_nf_conn_t *c = s->data;
    int d = (uv_tcp_t *)s == c->down ? SL_NF_DOWNSTREAM : SL_NF_UPSTREAM;
    dir_t *dr = &c->dirs[d];
    if (nread == 0 || c->closed)
        return;
    c->last_activity_ms = uv_now(c->worker->loop);
    if (nread < 0) {
        if (nread != UV_EOF) {
            session_close(c, d == SL_NF_DOWNSTREAM ? SL_NF_CLOSE_DOWNSTREAM : SL_NF_CLOSE_UPSTREAM);
            return;
        }
        uv_read_stop(s);
        dr->end_read = true;
    } else {
        if (d == SL_NF_DOWNSTREAM)
            sl_stats_inc(c->worker, c->chain->st.rx_bytes, (uint64_t)nread);
        if (dr->held.len == 0 && dr->stopped_at < 0)
            sl_buf_borrow(&dr->held, buf->base, (size_t)nread);
        else if (!sl_buf_append(&dr->held, buf->base, (size_t)nread)) {
            session_close(c, SL_NF_CLOSE_LOCAL);
            return;
        }
    }
    if (dr->stopped_at >= 0) {
        /* A filter holds this direction: hand it everything again (Envoy's semantics);
         * while it holds more than the buffer limit, stop reading. */
        if (dr->held.len > c->chain->buffer_limit && !dr->paused && !dr->end_read) {
            dr->paused = true;
            uv_read_stop(s);
        }
        run_filters(c, d, (size_t)dr->stopped_at);
    } else {
        run_filters(c, d, 0);
    }
}

static void start_reading(sl_nf_conn_t *c, int d)
{
    dir_t *dr = &c->dirs[d];
    dr->paused = false;
    if (dr->end_read || c->closed)
        return;
    if (uv_read_start(src_stream(c, d), on_alloc, on_read) != 0)
        session_close(c, SL_NF_CLOSE_LOCAL);
}

static void on_idle_timer(uv_timer_t *t)
{
    sl_nf_conn_t *c = t->data;
    uint64_t limit = c->chain->proxy->idle_timeout_ms;
    uint64_t idle_for = uv_now(c->worker->loop) - c->last_activity_ms;
    if (idle_for >= limit) {
        sl_stats_inc(c->worker, c->chain->st.idle_timeout, 1);
        SL_DEBUG("tcp %s: session %llu idle for %llu ms, closing", c->chain->proxy->stat_prefix,
                 (unsigned long long)c->id, (unsigned long long)idle_for);
        session_close(c, SL_NF_CLOSE_LOCAL);
        return;
    }
    uv_timer_start(&c->idle, on_idle_timer, limit - idle_for, 0);
}

static void on_upstream(void *ctx, sl_status_t st, sl_upstream_conn_t *up)
{
    sl_nf_conn_t *c = ctx;
    c->preq = NULL;
    if (st != SL_OK) {
        sl_stats_inc(c->worker, c->chain->st.connect_fail, 1);
        SL_DEBUG("tcp %s: no upstream for %s: %s", c->chain->proxy->stat_prefix, c->down_addr,
                 sl_status_str(st));
        session_close(c, SL_NF_CLOSE_UPSTREAM);
        return;
    }
    c->up = up;
    up->tcp.data = c;
    start_reading(c, SL_NF_DOWNSTREAM);
    start_reading(c, SL_NF_UPSTREAM);
}

static void connect_upstream(sl_nf_conn_t *c)
{
    sl_cluster_t *cl = sl_worker_cluster(c->worker, c->chain->proxy->cluster);
    sl_status_t st = cl ? sl_pool_connect(cl, on_upstream, c, &c->preq) : SL_ERR_NOT_FOUND;
    if (st != SL_OK) {
        sl_stats_inc(c->worker, st == SL_ERR_OVERFLOW ? c->chain->st.cx_overflow
                                                       : c->chain->st.no_route,
                     1);
        SL_DEBUG("tcp %s: connection from %s refused: %s", c->chain->proxy->stat_prefix,
                 c->down_addr, sl_status_str(st));
        session_close(c, SL_NF_CLOSE_UPSTREAM);
    }
}

/* Runs on_new_connection from filter `from`; connects when every filter continued. */
static void run_new_connection(sl_nf_conn_t *c, size_t from)
{
    const sl_tcp_chain_t *ch = c->chain;
    for (size_t i = from; i < ch->n_filters; i++) {
        const sl_netfilter_ops_t *ops = ch->filters[i].ops;
        if (ops->on_new_connection &&
            ops->on_new_connection(c->states[i], c) == SL_NF_STOP) {
            if (c->closed)
                return;
            c->connect_held = true;
            c->connect_stopped_at = (int)i;
            return;
        }
        if (c->closed)
            return;
    }
    c->connect_held = false;
    connect_upstream(c);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void sl_tcp_proxy_start(sl_worker_t *w, const sl_tcp_chain_t *ch, uv_tcp_t *client)
{
    sl_nf_conn_t *c = calloc(1, sizeof *c);
    if (!c || (ch->n_filters && !(c->states = calloc(ch->n_filters, sizeof *c->states)))) {
        free(c);
        uv_close((uv_handle_t *)client, free_handle);
        return;
    }
    c->worker = w;
    c->chain = ch;
    c->id = ++w->next_conn_id;
    c->down = client;
    client->data = c;
    c->dirs[0].stopped_at = c->dirs[1].stopped_at = -1;
    sl_buf_init(&c->dirs[0].held);
    sl_buf_init(&c->dirs[1].held);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->down_addr, sizeof c->down_addr, "?");
    if (uv_tcp_getpeername(client, (struct sockaddr *)&ss, &len) == 0) {
        char ip[64] = "";
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            snprintf(c->down_addr, sizeof c->down_addr, "[%s]:%u", ip,
                     ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            snprintf(c->down_addr, sizeof c->down_addr, "%s:%u", ip,
                     ntohs(((struct sockaddr_in *)&ss)->sin_port));
        }
    }
    c->next = w->tcp_sessions;
    if (c->next)
        c->next->prev = c;
    w->tcp_sessions = c;
    w->n_tcp_sessions++;
    sl_stats_inc(w, ch->st.cx_total, 1);
    sl_stats_gauge_add(w, ch->st.cx_active, 1);
    uv_tcp_nodelay(client, 1);
    uv_timer_init(w->loop, &c->idle);
    c->idle.data = c;
    c->last_activity_ms = uv_now(w->loop);
    if (ch->proxy->idle_timeout_ms)
        uv_timer_start(&c->idle, on_idle_timer, ch->proxy->idle_timeout_ms, 0);
    for (size_t i = 0; i < ch->n_filters; i++) {
        bool ok = true;
        if (ch->filters[i].ops->create)
            c->states[i] = ch->filters[i].ops->create(ch->filters[i].shared, c, &ok);
        if (!ok) {
            session_close(c, SL_NF_CLOSE_LOCAL);
            return;
        }
    }
    run_new_connection(c, 0);
}

/* ---- filter-facing API --------------------------------------------------------------------- */

void sl_nf_continue(sl_nf_conn_t *c, sl_nf_side_t side)
{
    if (c->closed)
        return;
    if (side == SL_NF_DOWNSTREAM && c->connect_held) {
        run_new_connection(c, (size_t)c->connect_stopped_at + 1);
        return;
    }
    dir_t *dr = &c->dirs[side];
    if (dr->stopped_at < 0 || !c->up)
        return;
    size_t next = (size_t)dr->stopped_at + 1;
    bool was_paused = dr->paused;
    run_filters(c, side, next);
    if (!c->closed && was_paused && dr->stopped_at < 0 &&
        dr->queued <= c->chain->buffer_limit)
        start_reading(c, side);
}

void sl_nf_close(sl_nf_conn_t *c)
{
    session_close(c, SL_NF_CLOSE_LOCAL);
}

sl_status_t sl_nf_write(sl_nf_conn_t *c, sl_nf_side_t side, const void *p, size_t n)
{
    if (c->closed)
        return SL_ERR_CLOSED;
    /* Writing to the upstream is direction DOWNSTREAM's destination and vice versa. */
    int d = side == SL_NF_UPSTREAM ? SL_NF_DOWNSTREAM : SL_NF_UPSTREAM;
    if (d == SL_NF_DOWNSTREAM && !c->up)
        return SL_ERR_CLOSED;
    return relay_write(c, d, p, n) ? SL_OK : SL_ERR_IO;
}

sl_worker_t *sl_nf_worker(const sl_nf_conn_t *c)
{
    return c->worker;
}

uint64_t sl_nf_id(const sl_nf_conn_t *c)
{
    return c->id;
}

const char *sl_nf_downstream_address(const sl_nf_conn_t *c)
{
    return c->down_addr;
}

const char *sl_nf_upstream_address(const sl_nf_conn_t *c)
{
    return c->up ? c->up->address : "";
}

const sl_listener_config_t *sl_nf_listener(const sl_nf_conn_t *c)
{
    return c->chain->listener;
}

/* ---- worker-level ------------------------------------------------------------------------------ */

size_t sl_tcp_proxy_active(sl_worker_t *w)
{
    return w->n_tcp_sessions;
}

void sl_tcp_proxy_close_all(sl_worker_t *w)
{
    for (sl_nf_conn_t *c = w->tcp_sessions; c; c = c->next)
        session_close(c, SL_NF_CLOSE_LOCAL);
}
