/* Cluster definitions and per-worker cluster state: endpoint sets (static or resolved with
 * uv_getaddrinfo and refreshed), load balancing and passive health back-off. */
#include "proxy/sl_cluster.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_log.h"

/* ---- definitions (main thread) --------------------------------------------------------- */

sl_cluster_def_t *sl_cluster_def_new(const char *name)
{
    sl_cluster_def_t *d = calloc(1, sizeof *d);
    if (!d || !(d->name = strdup(name))) {
        free(d);
        return NULL;
    }
    d->type = SL_CLUSTER_STATIC;
    d->lb = SL_LB_ROUND_ROBIN;
    d->connect_timeout_ms = 5000;
    d->dns_refresh_ms = 5000;
    d->max_connections = d->max_pending_requests = d->max_requests = SL_CLUSTER_DEFAULT_MAX;
#define C_(field, stat) d->st.field = sl_stats_counterf("cluster.%s." stat, name)
#define G_(field, stat) d->st.field = sl_stats_gaugef("cluster.%s." stat, name)
    C_(cx_total, "upstream_cx_total");
    C_(cx_connect_fail, "upstream_cx_connect_fail");
    C_(cx_connect_timeout, "upstream_cx_connect_timeout");
    C_(cx_overflow, "upstream_cx_overflow");
    C_(cx_none_healthy, "upstream_cx_none_healthy");
    C_(cx_destroy, "upstream_cx_destroy");
    C_(cx_idle_closed, "upstream_cx_close_notify");
    C_(rq_total, "upstream_rq_total");
    C_(rq_pending_total, "upstream_rq_pending_total");
    C_(rq_pending_overflow, "upstream_rq_pending_overflow");
    C_(rq_reused, "upstream_cx_reused");
    C_(dns_failure, "update_failure");
    G_(cx_active, "upstream_cx_active");
    G_(rq_active, "upstream_rq_active");
    G_(rq_pending_active, "upstream_rq_pending_active");
    G_(membership_total, "membership_total");
#undef C_
#undef G_
    return d;
}

static bool parse_ip(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return true;
    memset(ss, 0, sizeof *ss);
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0;
}

sl_status_t sl_cluster_def_add_host(sl_cluster_def_t *d, const char *host, uint16_t port,
                                    char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    if (d->type == SL_CLUSTER_STATIC && !parse_ip(host, port, &ss)) {
        snprintf(err, err_len,
                 "cluster %s: endpoint \"%s\" is not an IP address (a STATIC cluster needs "
                 "one; use type STRICT_DNS to resolve names)",
                 d->name, host);
        return SL_ERR_CONFIG;
    }
    sl_cluster_host_t *h = realloc(d->hosts, (d->n_hosts + 1) * sizeof *h);
    if (!h)
        return SL_ERR_NOMEM;
    d->hosts = h;
    if (!(h[d->n_hosts].host = strdup(host)))
        return SL_ERR_NOMEM;
    h[d->n_hosts].port = port;
    d->n_hosts++;
    return SL_OK;
}

void sl_cluster_def_free(sl_cluster_def_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_hosts; i++)
        free(d->hosts[i].host);
    free(d->hosts);
    free(d->name);
    free(d);
}

/* ---- endpoints ----------------------------------------------------------------------------- */

static void format_address(const struct sockaddr_storage *ss, char *out, size_t out_len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(out, out_len, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(out, out_len, "%s:%u", ip, ntohs(a->sin_port));
    }
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0 &&
               ((const struct sockaddr_in6 *)a)->sin6_port ==
                   ((const struct sockaddr_in6 *)b)->sin6_port;
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr &&
           ((const struct sockaddr_in *)a)->sin_port == ((const struct sockaddr_in *)b)->sin_port;
}

/* membership_total is the cluster's endpoint count, not a sum over workers: worker 0 keeps it
 * (every worker resolves the same names). */
static void membership_add(sl_cluster_t *c, int64_t delta)
{
    if (c->worker->index == 0)
        sl_stats_gauge_add(c->worker, c->def->st.membership_total, delta);
}

static sl_endpoint_t *add_endpoint(sl_cluster_t *c, size_t host_index,
                                   const struct sockaddr_storage *ss)
{
    if (c->n_eps == c->cap_eps) {
        size_t cap = c->cap_eps ? c->cap_eps * 2 : 4;
        sl_endpoint_t **eps = realloc(c->eps, cap * sizeof *eps);
        if (!eps)
            return NULL;
        c->eps = eps;
        c->cap_eps = cap;
    }
    sl_endpoint_t *ep = calloc(1, sizeof *ep);
    if (!ep)
        return NULL;
    ep->addr = *ss;
    ep->cluster = c;
    ep->host_index = host_index;
    format_address(ss, ep->address, sizeof ep->address);
    c->eps[c->n_eps++] = ep;
    membership_add(c, 1);
    return ep;
}

static uint64_t now_ms(sl_cluster_t *c)
{
    return uv_now(c->worker->loop);
}

static bool usable(sl_cluster_t *c, const sl_endpoint_t *ep, uint64_t now)
{
    (void)c;
    return !ep->removed && ep->backoff_until_ms <= now;
}

size_t sl_cluster_healthy_count(sl_cluster_t *c)
{
    uint64_t now = now_ms(c);
    size_t n = 0;
    for (size_t i = 0; i < c->n_eps; i++)
        n += usable(c, c->eps[i], now);
    return n;
}

static uint64_t next_random(sl_cluster_t *c)
{
    uint64_t x = c->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->rng = x;
    return x;
}

sl_endpoint_t *sl_cluster_pick(sl_cluster_t *c)
{
    uint64_t now = now_ms(c);
    size_t n = c->n_eps;
    if (n == 0)
        return NULL;
    switch (c->def->lb) {
    case SL_LB_ROUND_ROBIN:
        for (size_t k = 0; k < n; k++) {
            sl_endpoint_t *ep = c->eps[(c->rr_next + k) % n];
            if (usable(c, ep, now)) {
                c->rr_next = (c->rr_next + k + 1) % n;
                return ep;
            }
        }
        return NULL;
    case SL_LB_RANDOM: {
        size_t start = (size_t)(next_random(c) % n);
        for (size_t k = 0; k < n; k++) {
            sl_endpoint_t *ep = c->eps[(start + k) % n];
            if (usable(c, ep, now))
                return ep;
        }
        return NULL;
    }
    case SL_LB_LEAST_REQUEST: {
        /* Fewest active requests on this worker; ties broken from a random start so equal
         * endpoints share the load. (Envoy samples two at random for large sets; a full
         * scan is as cheap for the handful of endpoints a cluster has here.) */
        size_t start = (size_t)(next_random(c) % n);
        sl_endpoint_t *best = NULL;
        for (size_t k = 0; k < n; k++) {
            sl_endpoint_t *ep = c->eps[(start + k) % n];
            if (usable(c, ep, now) && (!best || ep->active_requests < best->active_requests))
                best = ep;
        }
        return best;
    }
    }
    return NULL;
}

void sl_cluster_endpoint_failed(sl_endpoint_t *ep)
{
    sl_cluster_t *c = ep->cluster;
    if (ep->failures < 16)
        ep->failures++;
    uint64_t backoff = (uint64_t)SL_BACKOFF_BASE_MS << (ep->failures - 1);
    if (backoff > SL_BACKOFF_MAX_MS)
        backoff = SL_BACKOFF_MAX_MS;
    ep->backoff_until_ms = now_ms(c) + backoff;
    SL_DEBUG("cluster %s: endpoint %s failed %u time(s), skipped for %llu ms", c->def->name,
             ep->address, ep->failures, (unsigned long long)backoff);
}

void sl_cluster_endpoint_succeeded(sl_endpoint_t *ep)
{
    ep->failures = 0;
    ep->backoff_until_ms = 0;
}

/* ---- DNS --------------------------------------------------------------------------------- */

typedef struct dns_req {
    uv_getaddrinfo_t req;
    sl_cluster_t *cluster; /* borrowed; holds a ref until the answer */
    size_t host_index;
} dns_req_t;

static void resolve_all(sl_cluster_t *c);

static void apply_answer(sl_cluster_t *c, size_t hi, struct addrinfo *res)
{
    const sl_cluster_host_t *h = &c->def->hosts[hi];
    bool seen[256] = {0}; /* endpoints of this host kept, by index (bounded below) */
    size_t added = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        struct sockaddr_storage ss = {0};
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port = htons(h->port);
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons(h->port);
        size_t i;
        for (i = 0; i < c->n_eps; i++)
            if (c->eps[i]->host_index == hi && same_addr(&c->eps[i]->addr, &ss))
                break;
        if (i == c->n_eps && c->n_eps < 256 && !add_endpoint(c, hi, &ss))
            break;
        if (i < 256) {
            seen[i] = true;
            if (c->eps[i]->removed) {
                c->eps[i]->removed = false;
                membership_add(c, 1);
            }
        }
        if (++added == 1 && c->def->type == SL_CLUSTER_LOGICAL_DNS)
            break; /* LOGICAL_DNS connects to the first address of the latest answer */
    }
    for (size_t i = 0; i < c->n_eps && i < 256; i++) {
        sl_endpoint_t *ep = c->eps[i];
        if (ep->host_index == hi && !seen[i] && !ep->removed) {
            ep->removed = true;
            membership_add(c, -1);
        }
    }
}

static void on_resolved(uv_getaddrinfo_t *r, int status, struct addrinfo *res)
{
    dns_req_t *d = r->data;
    sl_cluster_t *c = d->cluster;
    c->dns_in_flight--;
    if (!c->destroyed) {
        if (status != 0) {
            sl_stats_inc(c->worker, c->def->st.dns_failure, 1);
            SL_WARN("cluster %s: resolving %s: %s", c->def->name,
                    c->def->hosts[d->host_index].host, uv_strerror(status));
        } else {
            apply_answer(c, d->host_index, res);
        }
        if (c->dns_in_flight == 0) {
            c->dns_done_once = true;
            sl__pool_endpoints_changed(c);
        }
    }
    if (res)
        uv_freeaddrinfo(res);
    free(d);
    sl__cluster_unref(c);
}

static void on_dns_timer(uv_timer_t *t)
{
    resolve_all(t->data);
}

static void resolve_all(sl_cluster_t *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[8];
    for (size_t i = 0; i < c->def->n_hosts; i++) {
        dns_req_t *d = calloc(1, sizeof *d);
        if (!d)
            continue;
        d->cluster = c;
        d->host_index = i;
        d->req.data = d;
        snprintf(port, sizeof port, "%u", c->def->hosts[i].port);
        if (uv_getaddrinfo(c->worker->loop, &d->req, on_resolved, c->def->hosts[i].host, port,
                           &hints) != 0) {
            free(d);
            continue;
        }
        c->dns_in_flight++;
        c->refs++;
    }
    if (c->dns_in_flight == 0) {
        c->dns_done_once = true;
        sl__pool_endpoints_changed(c);
    }
    uv_timer_start(&c->dns_timer, on_dns_timer, c->def->dns_refresh_ms, 0);
}

/* Declared in sl_worker.h; lives here so pool users do not pull in the worker. */
sl_cluster_t *sl_worker_cluster(sl_worker_t *w, const char *name)
{
    for (size_t i = 0; i < w->n_clusters; i++)
        if (strcmp(w->clusters[i]->def->name, name) == 0)
            return w->clusters[i];
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void on_sweep(uv_timer_t *t)
{
    sl__pool_sweep(t->data);
}

sl_cluster_t *sl_cluster_new(sl_worker_t *w, sl_cluster_def_t *def)
{
    sl_cluster_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->worker = w;
    c->def = def;
    c->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(uintptr_t)c) ^ ((uint64_t)w->index << 32);
    c->rr_next = w->index; /* workers start at different endpoints */
    uv_idle_init(w->loop, &c->deliver);
    c->deliver.data = c;
    uv_timer_init(w->loop, &c->dns_timer);
    c->dns_timer.data = c;
    uv_timer_init(w->loop, &c->sweep);
    c->sweep.data = c;
    uv_timer_start(&c->sweep, on_sweep, SL_POOL_SWEEP_MS, SL_POOL_SWEEP_MS);
    uv_unref((uv_handle_t *)&c->sweep); /* never what keeps a loop alive */
    c->handles_open = 3;
    c->refs = 3;
    if (def->type == SL_CLUSTER_STATIC) {
        for (size_t i = 0; i < def->n_hosts; i++) {
            struct sockaddr_storage ss;
            if (parse_ip(def->hosts[i].host, def->hosts[i].port, &ss) &&
                !add_endpoint(c, i, &ss)) {
                sl_cluster_destroy(c);
                return NULL;
            }
        }
        c->dns_done_once = true;
    } else {
        resolve_all(c);
    }
    return c;
}

static void free_cluster(sl_cluster_t *c)
{
    for (size_t i = 0; i < c->n_eps; i++) {
        if (!c->eps[i]->removed)
            membership_add(c, -1);
        free(c->eps[i]);
    }
    free(c->eps);
    free(c);
}

void sl__cluster_unref(sl_cluster_t *c)
{
    if (--c->refs == 0 && c->destroyed)
        free_cluster(c);
}

static void handle_closed(uv_handle_t *h)
{
    sl__cluster_unref(h->data);
}

void sl__pool_destroy_conns(sl_cluster_t *c); /* sl_pool.c */

void sl_cluster_destroy(sl_cluster_t *c)
{
    if (!c || c->destroyed)
        return;
    c->destroyed = true;
    sl__pool_destroy_conns(c);
    /* DNS answers in flight still arrive (getaddrinfo cannot always be cancelled); each
     * holds a reference and sees `destroyed`. */
    uv_close((uv_handle_t *)&c->deliver, handle_closed);
    uv_close((uv_handle_t *)&c->dns_timer, handle_closed);
    uv_close((uv_handle_t *)&c->sweep, handle_closed);
}

sl_status_t sl_cluster_def_from_config(const sl_cluster_config_t *cc, sl_cluster_def_t **out,
                                       char *err, size_t err_len)
{
    *out = NULL;
    sl_cluster_def_t *d = sl_cluster_def_new(cc->name);
    if (!d) {
        snprintf(err, err_len, "cluster %s: out of memory", cc->name);
        return SL_ERR_NOMEM;
    }
    d->type = cc->type;
    d->lb = cc->lb_policy;
    d->connect_timeout_ms = cc->connect_timeout_ms;
    d->dns_refresh_ms = cc->dns_refresh_rate_ms ? cc->dns_refresh_rate_ms : 5000;
    d->max_connections = cc->circuit_breakers.max_connections;
    d->max_pending_requests = cc->circuit_breakers.max_pending_requests;
    d->max_requests = cc->circuit_breakers.max_requests;
    d->max_requests_per_connection = cc->max_requests_per_connection;
    for (size_t i = 0; i < cc->n_endpoints; i++) {
        sl_status_t st = sl_cluster_def_add_host(d, cc->endpoints[i].address.address,
                                                 cc->endpoints[i].address.port, err, err_len);
        if (st != SL_OK) {
            if (st == SL_ERR_NOMEM)
                snprintf(err, err_len, "cluster %s: out of memory", cc->name);
            sl_cluster_def_free(d);
            return st;
        }
    }
    *out = d;
    return SL_OK;
}
