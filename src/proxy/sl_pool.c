/* The per-worker upstream connection pool: idle keep-alive connections per endpoint, connects
 * with a timeout, a FIFO of waiting requests, circuit breakers shared across workers. */
#include "proxy/sl_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/sl_cluster.h"
#include "proxy/sl_log.h"

typedef enum { PC_CONNECTING, PC_IDLE, PC_BUSY, PC_RESERVED, PC_CLOSING } pconn_state_t;

struct sl_pconn {
    sl_upstream_conn_t pub;    /* first: the handle pointer is the connection pointer */
    sl_pconn_t *prev, *next;   /* links in `list` */
    sl_pconn_list_t *list;     /* borrowed: the list it is on, NULL when none */
    pconn_state_t state;
    uv_connect_t connect_req;
    uv_timer_t timer;          /* connect timeout */
    int handles_open;          /* tcp + timer, freed at 0 */
    bool fresh;                /* not pooled: closed on release */
    bool timed_out;
    unsigned idle_sweeps;      /* sweeps seen since it became idle */
    sl_pool_req_t *for_req;    /* fresh connects: the request it was opened for */
};

typedef enum { RQ_PENDING, RQ_READY, RQ_FRESH, RQ_DEAD } req_state_t;

struct sl_pool_req {
    sl_cluster_t *cluster;      /* borrowed */
    sl_pool_cb cb;
    void *ctx;
    sl_pool_req_t *prev, *next; /* links in `list` */
    sl_req_list_t *list;        /* borrowed: pending, ready or fresh list */
    req_state_t state;
    unsigned attempts;          /* connects tried for it (fresh requests) */
    sl_pconn_t *conn;           /* READY: the reserved connection; FRESH: its connect */
};

/* ---- lists --------------------------------------------------------------------------------- */

static void cl_push(sl_pconn_list_t *l, sl_pconn_t *p)
{
    p->list = l;
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    l->n++;
}

static void cl_remove(sl_pconn_t *p)
{
    sl_pconn_list_t *l = p->list;
    if (!l)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    l->n--;
    p->list = NULL;
    p->prev = p->next = NULL;
}

static void rl_push(sl_req_list_t *l, sl_pool_req_t *r)
{
    r->list = l;
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void rl_remove(sl_pool_req_t *r)
{
    sl_req_list_t *l = r->list;
    if (!l)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    l->n--;
    r->list = NULL;
    r->prev = r->next = NULL;
}

/* ---- breakers and stats --------------------------------------------------------------------- */

static void pending_add(sl_cluster_t *c, int delta)
{
    if (delta > 0)
        atomic_fetch_add_explicit(&c->def->rq_pending, 1, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&c->def->rq_pending, 1, memory_order_relaxed);
    sl_stats_gauge_add(c->worker, c->def->st.rq_pending_active, delta);
}

static size_t conns_on_worker(const sl_cluster_t *c)
{
    return c->idle_total + c->busy.n + c->connecting.n;
}

static bool can_create_conn(sl_cluster_t *c)
{
    if (atomic_load_explicit(&c->def->cx_active, memory_order_relaxed) <
        c->def->max_connections)
        return true;
    /* As Envoy does: a worker with no connection at all to this cluster may open one even
     * over the limit, or its waiting requests could never be served. */
    return conns_on_worker(c) == 0;
}

/* ---- connections ----------------------------------------------------------------------------- */

/* tcp.data belongs to the pool unless an attachment (which set it) is reading. */
static void set_tcp_data(sl_pconn_t *p, void *v)
{
    if (!p->pub.attach)
        p->pub.tcp.data = v;
}

static void conn_handle_closed(uv_handle_t *h)
{
    sl_pconn_t *p = h->data;
    if (--p->handles_open > 0)
        return;
    sl_cluster_t *c = p->pub.cluster;
    free(p);
    sl__cluster_unref(c);
}

/* Closes the connection and forgets it; safe in any state but CLOSING. */
static void conn_close(sl_pconn_t *p)
{
    if (p->state == PC_CLOSING)
        return;
    sl_cluster_t *c = p->pub.cluster;
    if (p->state == PC_IDLE)
        c->idle_total--;
    cl_remove(p);
    p->state = PC_CLOSING;
    if (p->pub.attach) {
        void *a = p->pub.attach;
        p->pub.attach = NULL;
        p->pub.attach_watch = false;
        p->pub.attach_free(a);
    }
    p->pub.tcp.data = p;
    atomic_fetch_sub_explicit(&c->def->cx_active, 1, memory_order_relaxed);
    sl_stats_gauge_add(c->worker, c->def->st.cx_active, -1);
    sl_stats_inc(c->worker, c->def->st.cx_destroy, 1);
    uv_timer_stop(&p->timer);
    /* The tcp handle may already be closing (connect timeout). */
    if (!uv_is_closing((uv_handle_t *)&p->pub.tcp))
        uv_close((uv_handle_t *)&p->pub.tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&p->timer, conn_handle_closed);
}

/* Is an idle connection still usable? Idle connections are not read (a read stop/start per
 * request would cost epoll_ctl calls on the hot path); instead a non-blocking peek, at reuse
 * and from the periodic sweep, tells whether the upstream closed it or sent anything. */
static bool idle_alive(sl_pconn_t *p)
{
    if (p->pub.attach_watch)
        return true; /* its watcher reports failures as they happen */
    uv_os_fd_t fd;
    char b;
    if (uv_fileno((uv_handle_t *)&p->pub.tcp, &fd) != 0)
        return false;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void idle_discard(sl_pconn_t *p)
{
    sl_cluster_t *c = p->pub.cluster;
    SL_DEBUG("cluster %s: idle connection to %s closed by the upstream (or it sent unexpected "
             "bytes), discarding it",
             c->def->name, p->pub.address);
    sl_stats_inc(c->worker, c->def->st.cx_idle_closed, 1);
    conn_close(p);
}

static void conn_make_idle(sl_pconn_t *p)
{
    sl_cluster_t *c = p->pub.cluster;
    p->state = PC_IDLE;
    p->idle_sweeps = 0;
    set_tcp_data(p, p);
    p->pub.user = NULL;
    cl_push(&p->pub.endpoint->idle, p);
    c->idle_total++;
}

/* Runs every SL_POOL_SWEEP_MS: drops idle connections the upstream has closed, so they do
 * not linger in CLOSE_WAIT until the next request. */
void sl__pool_sweep(sl_cluster_t *c)
{
    for (size_t i = 0; i < c->n_eps; i++) {
        sl_pconn_t *p = c->eps[i]->idle.head;
        while (p) {
            sl_pconn_t *next = p->next;
            if (!idle_alive(p))
                idle_discard(p);
            else if (++p->idle_sweeps == 2 && p->pub.attach && p->pub.attach_trim)
                p->pub.attach_trim(p->pub.attach);
            p = next;
        }
    }
}

/* Lends `p` to a request: takes it off whatever list, counts the request. */
static void conn_lend(sl_pconn_t *p)
{
    sl_cluster_t *c = p->pub.cluster;
    if (p->state == PC_IDLE)
        c->idle_total--;
    cl_remove(p);
    p->state = PC_BUSY;
    cl_push(&c->busy, p);
    set_tcp_data(p, NULL);
    p->pub.user = NULL;
    p->pub.requests++;
    p->pub.endpoint->active_requests++;
    if (p->pub.requests > 1)
        sl_stats_inc(c->worker, c->def->st.rq_reused, 1);
    sl_stats_inc(c->worker, c->def->st.rq_total, 1);
    atomic_fetch_add_explicit(&c->def->rq_active, 1, memory_order_relaxed);
    sl_stats_gauge_add(c->worker, c->def->st.rq_active, 1);
}

static void on_connect(uv_connect_t *cr, int status);
static void on_connect_timeout(uv_timer_t *t);

/* Starts a connection to `ep`. Returns NULL when it cannot even start (the endpoint is then
 * marked failed). */
static sl_pconn_t *conn_start(sl_cluster_t *c, sl_endpoint_t *ep, bool fresh)
{
    sl_pconn_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->pub.cluster = c;
    p->pub.endpoint = ep;
    p->pub.address = ep->address;
    p->fresh = fresh;
    p->state = PC_CONNECTING;
    uv_tcp_init(c->worker->loop, &p->pub.tcp);
    uv_timer_init(c->worker->loop, &p->timer);
    p->pub.tcp.data = p;
    p->timer.data = p;
    p->handles_open = 2;
    c->refs++;
    atomic_fetch_add_explicit(&c->def->cx_active, 1, memory_order_relaxed);
    sl_stats_gauge_add(c->worker, c->def->st.cx_active, 1);
    sl_stats_inc(c->worker, c->def->st.cx_total, 1);
    cl_push(&c->connecting, p);
    uv_tcp_nodelay(&p->pub.tcp, 1);
    int rc = uv_tcp_connect(&p->connect_req, &p->pub.tcp, (struct sockaddr *)&ep->addr,
                            on_connect);
    if (rc != 0) {
        SL_WARN("cluster %s: connect to %s: %s", c->def->name, ep->address, uv_strerror(rc));
        sl_stats_inc(c->worker, c->def->st.cx_connect_fail, 1);
        sl_cluster_endpoint_failed(ep);
        conn_close(p);
        return NULL;
    }
    uv_timer_start(&p->timer, on_connect_timeout, c->def->connect_timeout_ms, 0);
    return p;
}

static void on_connect_timeout(uv_timer_t *t)
{
    sl_pconn_t *p = t->data;
    p->timed_out = true;
    /* Closing a connecting handle makes libuv call on_connect with UV_ECANCELED. */
    uv_close((uv_handle_t *)&p->pub.tcp, conn_handle_closed);
}

static sl_pool_req_t *req_new(sl_cluster_t *c, sl_pool_cb cb, void *ctx, req_state_t state)
{
    sl_pool_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cluster = c;
    r->cb = cb;
    r->ctx = ctx;
    r->state = state;
    c->refs++; /* the request may outlive sl_cluster_destroy until it is cancelled */
    return r;
}

static void req_free(sl_pool_req_t *r)
{
    sl_cluster_t *c = r->cluster;
    rl_remove(r);
    free(r);
    sl__cluster_unref(c);
}

/* Fails the oldest pooled waiting request with `st`. */
static void fail_head(sl_cluster_t *c, sl_status_t st)
{
    sl_pool_req_t *r = c->pending.head;
    if (!r)
        return;
    pending_add(c, -1);
    sl_pool_cb cb = r->cb;
    void *ctx = r->ctx;
    req_free(r);
    cb(ctx, st, NULL);
}

static void deliver(sl_pool_req_t *r, sl_pconn_t *p)
{
    sl_pool_cb cb = r->cb;
    void *ctx = r->ctx;
    req_free(r);
    conn_lend(p);
    cb(ctx, SL_OK, &p->pub);
}

/* A connect attempt for a fresh request failed: try another endpoint or fail it. */
static void fresh_retry_or_fail(sl_cluster_t *c, sl_pool_req_t *r, sl_status_t st)
{
    r->conn = NULL;
    while (r->attempts < (c->n_eps ? c->n_eps : 1)) {
        sl_endpoint_t *ep = sl_cluster_pick(c);
        if (!ep || !can_create_conn(c))
            break;
        r->attempts++;
        sl_pconn_t *p = conn_start(c, ep, true);
        if (p) {
            p->for_req = r;
            r->conn = p;
            return;
        }
    }
    sl_pool_cb cb = r->cb;
    void *ctx = r->ctx;
    req_free(r);
    cb(ctx, st, NULL);
}

static void on_connect(uv_connect_t *cr, int status)
{
    sl_pconn_t *p = cr->handle->data;
    sl_cluster_t *c = p->pub.cluster;
    sl_endpoint_t *ep = p->pub.endpoint;
    if (p->state == PC_CLOSING) {
        /* Closed while connecting by cluster destruction or a cancelled fresh request. */
        return;
    }
    uv_timer_stop(&p->timer);
    if (status == 0 && !p->timed_out) {
        sl_cluster_endpoint_succeeded(ep);
        cl_remove(p);
        if (p->fresh) {
            sl_pool_req_t *r = p->for_req;
            p->for_req = NULL;
            p->state = PC_IDLE; /* conn_lend moves it to busy */
            c->idle_total++;
            deliver(r, p);
            return;
        }
        sl_pool_req_t *r = c->pending.head;
        if (r) {
            pending_add(c, -1);
            p->state = PC_IDLE;
            c->idle_total++;
            deliver(r, p);
        } else {
            conn_make_idle(p);
        }
        return;
    }
    sl_status_t st = p->timed_out ? SL_ERR_TIMEOUT : SL_ERR_UPSTREAM;
    sl_stats_inc(c->worker, c->def->st.cx_connect_fail, 1);
    if (p->timed_out)
        sl_stats_inc(c->worker, c->def->st.cx_connect_timeout, 1);
    SL_DEBUG("cluster %s: connect to %s failed: %s", c->def->name, ep->address,
             p->timed_out ? "timed out" : uv_strerror(status));
    sl_cluster_endpoint_failed(ep);
    conn_close(p);
    if (p->fresh) {
        sl_pool_req_t *r = p->for_req;
        p->for_req = NULL;
        if (r)
            fresh_retry_or_fail(c, r, st);
        return;
    }
    /* Pooled: try the oldest waiting request on another endpoint, else fail it. */
    if (!c->pending.head)
        return;
    sl_endpoint_t *next = sl_cluster_pick(c);
    if (next && can_create_conn(c) && c->pending.n > c->connecting.n &&
        conn_start(c, next, false))
        return;
    if (c->pending.n > c->connecting.n)
        fail_head(c, next ? st : SL_ERR_UNAVAILABLE);
}

/* Capacity was freed or endpoints changed: start connects for waiting requests that have no
 * connect in flight, and fail them when no endpoint is usable. */
static void maybe_serve_pending(sl_cluster_t *c)
{
    while (!c->destroyed && c->pending.n > c->connecting.n) {
        sl_endpoint_t *ep = sl_cluster_pick(c);
        if (!ep) {
            if (!c->dns_done_once)
                return; /* names not resolved yet: keep waiting */
            sl_stats_inc(c->worker, c->def->st.cx_none_healthy, 1);
            fail_head(c, SL_ERR_UNAVAILABLE);
            continue;
        }
        if (!can_create_conn(c))
            return;
        if (!conn_start(c, ep, false)) {
            fail_head(c, SL_ERR_UPSTREAM);
            continue;
        }
    }
}

void sl__pool_endpoints_changed(sl_cluster_t *c)
{
    maybe_serve_pending(c);
}

/* ---- deferred deliveries (release -> waiting request) --------------------------------------- */

static void on_deliver(uv_idle_t *h)
{
    sl_cluster_t *c = h->data;
    /* Deliver only what is queued now: callbacks may queue more, served next turn. */
    size_t n = c->ready.n;
    while (n-- > 0 && c->ready.head) {
        sl_pool_req_t *r = c->ready.head;
        sl_pconn_t *p = r->conn;
        r->conn = NULL;
        deliver(r, p);
    }
    if (c->ready.n == 0)
        uv_idle_stop(&c->deliver);
}

/* An idle or just-released connection: give it to the oldest waiting request (delivered from
 * the loop) or keep it idle. */
static void conn_offer(sl_cluster_t *c, sl_pconn_t *p)
{
    sl_pool_req_t *r = c->pending.head;
    if (!r) {
        conn_make_idle(p);
        return;
    }
    pending_add(c, -1);
    rl_remove(r);
    r->state = RQ_READY;
    r->conn = p;
    p->state = PC_RESERVED;
    set_tcp_data(p, p);
    rl_push(&c->ready, r);
    uv_idle_start(&c->deliver, on_deliver);
}

/* ---- public API ------------------------------------------------------------------------------ */

static sl_pconn_t *take_idle(sl_endpoint_t *ep)
{
    /* Newest first: the most recently used connection is the least likely to have been
     * closed by the upstream's idle timer. */
    while (ep->idle.tail) {
        sl_pconn_t *p = ep->idle.tail;
        if (idle_alive(p))
            return p;
        idle_discard(p);
    }
    return NULL;
}

sl_status_t sl_pool_acquire(sl_cluster_t *c, sl_pool_cb cb, void *ctx,
                            sl_upstream_conn_t **conn, sl_pool_req_t **req)
{
    *conn = NULL;
    *req = NULL;
    if (!c || c->destroyed)
        return SL_ERR_NOT_FOUND;
    sl_cluster_def_t *d = c->def;
    if (atomic_load_explicit(&d->rq_active, memory_order_relaxed) >= d->max_requests) {
        sl_stats_inc(c->worker, d->st.rq_pending_overflow, 1);
        return SL_ERR_OVERFLOW;
    }
    sl_endpoint_t *ep = sl_cluster_pick(c);
    if (!ep && c->dns_done_once) {
        sl_stats_inc(c->worker, d->st.cx_none_healthy, 1);
        return SL_ERR_UNAVAILABLE;
    }
    sl_pconn_t *p = ep ? take_idle(ep) : NULL;
    if (p) {
        conn_lend(p);
        *conn = &p->pub;
        return SL_OK;
    }
    if (atomic_load_explicit(&d->rq_pending, memory_order_relaxed) >= d->max_pending_requests) {
        sl_stats_inc(c->worker, d->st.rq_pending_overflow, 1);
        return SL_ERR_OVERFLOW;
    }
    bool create = ep && can_create_conn(c);
    if (ep && !create) {
        sl_stats_inc(c->worker, d->st.cx_overflow, 1);
        /* At the connection limit: any idle connection of another endpoint beats waiting. */
        for (size_t i = 0; i < c->n_eps && !p; i++)
            if (!c->eps[i]->removed)
                p = take_idle(c->eps[i]);
        if (p) {
            conn_lend(p);
            *conn = &p->pub;
            return SL_OK;
        }
    }
    sl_pool_req_t *r = req_new(c, cb, ctx, RQ_PENDING);
    if (!r)
        return SL_ERR_NOMEM;
    if (create && !conn_start(c, ep, false)) {
        req_free(r);
        return SL_ERR_UPSTREAM;
    }
    rl_push(&c->pending, r);
    pending_add(c, 1);
    sl_stats_inc(c->worker, d->st.rq_pending_total, 1);
    *req = r;
    return SL_OK;
}

sl_status_t sl_pool_acquire_by_name(sl_worker_t *w, const char *cluster_name, sl_pool_cb cb,
                                    void *ctx, sl_upstream_conn_t **conn, sl_pool_req_t **req)
{
    *conn = NULL;
    *req = NULL;
    sl_cluster_t *c = sl_worker_cluster(w, cluster_name);
    if (!c)
        return SL_ERR_NOT_FOUND;
    return sl_pool_acquire(c, cb, ctx, conn, req);
}

sl_status_t sl_pool_connect(sl_cluster_t *c, sl_pool_cb cb, void *ctx, sl_pool_req_t **req)
{
    *req = NULL;
    if (!c || c->destroyed)
        return SL_ERR_NOT_FOUND;
    sl_cluster_def_t *d = c->def;
    sl_endpoint_t *ep = sl_cluster_pick(c);
    if (!ep) {
        sl_stats_inc(c->worker, d->st.cx_none_healthy, 1);
        return SL_ERR_UNAVAILABLE;
    }
    if (atomic_load_explicit(&d->cx_active, memory_order_relaxed) >= d->max_connections) {
        sl_stats_inc(c->worker, d->st.cx_overflow, 1);
        return SL_ERR_OVERFLOW;
    }
    sl_pool_req_t *r = req_new(c, cb, ctx, RQ_FRESH);
    if (!r)
        return SL_ERR_NOMEM;
    r->attempts = 1;
    sl_pconn_t *p = conn_start(c, ep, true);
    if (!p) {
        req_free(r);
        return SL_ERR_UPSTREAM;
    }
    p->for_req = r;
    r->conn = p;
    rl_push(&c->fresh, r);
    *req = r;
    return SL_OK;
}

void sl_pool_cancel(sl_pool_req_t *r)
{
    if (!r)
        return;
    sl_cluster_t *c = r->cluster;
    switch (r->state) {
    case RQ_PENDING:
        pending_add(c, -1);
        req_free(r);
        /* A connect started for it stays: its connection becomes idle or serves another. */
        return;
    case RQ_READY: {
        sl_pconn_t *p = r->conn;
        req_free(r);
        conn_offer(c, p);
        return;
    }
    case RQ_FRESH: {
        sl_pconn_t *p = r->conn;
        if (p) {
            p->for_req = NULL;
            conn_close(p);
        }
        req_free(r);
        return;
    }
    case RQ_DEAD:
        req_free(r);
        return;
    }
}

void sl_pool_release(sl_upstream_conn_t *conn, bool reusable)
{
    sl_pconn_t *p = (sl_pconn_t *)conn;
    sl_cluster_t *c = p->pub.cluster;
    sl_cluster_def_t *d = c->def;
    if (p->pub.endpoint->active_requests > 0)
        p->pub.endpoint->active_requests--;
    atomic_fetch_sub_explicit(&d->rq_active, 1, memory_order_relaxed);
    sl_stats_gauge_add(c->worker, d->st.rq_active, -1);
    if (!p->pub.attach_watch)
        uv_read_stop((uv_stream_t *)&p->pub.tcp);
    set_tcp_data(p, p);
    p->pub.user = NULL;
    bool keep = reusable && !p->fresh && !c->destroyed && !p->pub.endpoint->removed &&
                (d->max_requests_per_connection == 0 ||
                 p->pub.requests < d->max_requests_per_connection);
    if (keep) {
        cl_remove(p);
        conn_offer(c, p);
        return;
    }
    conn_close(p);
    maybe_serve_pending(c);
}

void sl_pool_get_stats(const sl_cluster_t *c, sl_pool_stats_t *out)
{
    out->idle = c->idle_total;
    out->busy = c->busy.n;
    out->connecting = c->connecting.n;
    out->pending = c->pending.n;
}

/* Cluster teardown: close what the pool holds; waiting requests become dead (no callback,
 * freed when their owners cancel them). */
static void make_dead(sl_cluster_t *c, sl_pool_req_t *r)
{
    rl_remove(r);
    r->state = RQ_DEAD;
    r->conn = NULL;
    rl_push(&c->dead, r);
}

void sl__pool_destroy_conns(sl_cluster_t *c)
{
    while (c->pending.head) {
        pending_add(c, -1);
        make_dead(c, c->pending.head);
    }
    while (c->ready.head) {
        sl_pool_req_t *r = c->ready.head;
        sl_pconn_t *p = r->conn;
        make_dead(c, r);
        conn_close(p);
    }
    while (c->fresh.head) {
        sl_pool_req_t *r = c->fresh.head;
        if (r->conn)
            r->conn->for_req = NULL;
        make_dead(c, r);
    }
    while (c->connecting.head)
        conn_close(c->connecting.head);
    for (size_t i = 0; i < c->n_eps; i++)
        while (c->eps[i]->idle.head)
            conn_close(c->eps[i]->idle.head);
}

void sl_pool_conn_attach(sl_upstream_conn_t *conn, void *state, void (*free_fn)(void *),
                         bool watch)
{
    if (conn->attach && conn->attach != state)
        conn->attach_free(conn->attach);
    conn->attach = state;
    conn->attach_free = free_fn;
    conn->attach_trim = NULL;
    conn->attach_watch = watch;
}

void *sl_pool_conn_attached(sl_upstream_conn_t *conn, void (*free_fn)(void *))
{
    if (!conn->attach)
        return NULL;
    if (conn->attach_free == free_fn)
        return conn->attach;
    void *a = conn->attach;
    conn->attach = NULL;
    conn->attach_trim = NULL;
    conn->attach_watch = false;
    conn->attach_free(a);
    uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->tcp.data = NULL;
    return NULL;
}

void sl_pool_idle_failed(sl_upstream_conn_t *conn)
{
    sl_pconn_t *p = (sl_pconn_t *)conn;
    sl_cluster_t *c = p->pub.cluster;
    if (p->state == PC_RESERVED) {
        /* Promised to a waiting request on the next loop turn: it waits again instead. */
        for (sl_pool_req_t *r = c->ready.head; r; r = r->next) {
            if (r->conn != p)
                continue;
            rl_remove(r);
            r->conn = NULL;
            r->state = RQ_PENDING;
            rl_push(&c->pending, r);
            pending_add(c, 1);
            break;
        }
    } else if (p->state != PC_IDLE) {
        return; /* lent: its user sees the failure itself */
    }
    idle_discard(p);
    maybe_serve_pending(c);
}
