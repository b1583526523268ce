/* Listener sockets: bound and put in listen state on the main thread (so a port conflict is
 * a start-up error, not a worker's), then adopted by each worker's loop with uv_tcp_open. */
#include "proxy/sl_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/sl_hcm.h"
#include "proxy/sl_log.h"

typedef struct listener {
    uv_tcp_t tcp;
    sl_worker_t *worker;         /* borrowed */
    const sl_listener_rt_t *rt;  /* borrowed: the server's */
    struct sl_listener_set *set; /* borrowed: owner */
} listener_t;

struct sl_listener_set {
    listener_t *items; /* owned array */
    size_t n;
    size_t open;       /* handles not yet closed */
    bool stopping;
};

/* ---- main thread ------------------------------------------------------------------------- */

static int bind_one(const sl_listener_config_t *lc, uint16_t port, bool reuseport,
                    uint16_t *bound, char *err, size_t err_len)
{
    struct sockaddr_storage ss = {0};
    socklen_t slen;
    if (lc->address.is_ipv6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, lc->address.address, &a->sin6_addr);
        slen = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (inet_pton(AF_INET, lc->address.address, &a->sin_addr) != 1) {
            snprintf(err, err_len, "listener %s: address %s is not an IPv4 address", lc->name,
                     lc->address.address);
            return -1;
        }
        slen = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail_errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        goto fail_errno_close;
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0)
        goto fail_errno_close;
    int backlog = lc->tcp_backlog_size ? (int)lc->tcp_backlog_size : SOMAXCONN;
    if (listen(fd, backlog) != 0)
        goto fail_errno_close;
    struct sockaddr_storage got;
    socklen_t glen = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &glen);
    *bound = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                             : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
fail_errno_close:;
    int e = errno;
    close(fd);
    errno = e;
fail_errno:
    snprintf(err, err_len, "listener %s %s:%u: %s", lc->name, lc->address.address, port,
             strerror(errno));
    return -1;
}

void sl_listener_rts_free(sl_listener_rt_t *rts, size_t n)
{
    if (!rts)
        return;
    for (size_t i = 0; i < n; i++) {
        sl_tcp_chain_free(rts[i].tcp);
        free(rts[i].worker_cx_total);
    }
    free(rts);
}

sl_status_t sl_listeners_prepare(const sl_config_t *cfg, unsigned n_workers,
                                 sl_listener_rt_t **rts_out, int **fds_out, char *err,
                                 size_t err_len)
{
    size_t nl = cfg->n_listeners;
    sl_listener_rt_t *rts = calloc(nl ? nl : 1, sizeof *rts);
    int *fds = malloc((nl * n_workers + 1) * sizeof *fds);
    size_t nfds = 0;
    sl_status_t st = SL_OK;
    *rts_out = NULL;
    *fds_out = NULL;
    if (!rts || !fds) {
        snprintf(err, err_len, "listeners: out of memory");
        st = SL_ERR_NOMEM;
        goto fail;
    }
    for (size_t l = 0; l < nl; l++) {
        const sl_listener_config_t *lc = &cfg->listeners[l];
        sl_listener_rt_t *rt = &rts[l];
        rt->config = lc;
        if (lc->n_filter_chains == 0 || lc->filter_chains[0].n_filters == 0) {
            snprintf(err, err_len, "listener %s (line %u): no filter chain", lc->name, lc->line);
            st = SL_ERR_CONFIG;
            goto fail;
        }
        const sl_filter_chain_config_t *fc = &lc->filter_chains[0];
        const sl_network_filter_config_t *term = &fc->filters[fc->n_filters - 1];
        if (term->kind == SL_NETWORK_FILTER_HCM) {
            rt->hcm = term->hcm;
            if (fc->n_filters > 1)
                SL_WARN("listener %s: network filters before http_connection_manager are not "
                        "applied",
                        lc->name);
        } else if (term->kind == SL_NETWORK_FILTER_TCP_PROXY) {
            if ((st = sl_tcp_chain_new(lc, fc, &rt->tcp, err, err_len)) != SL_OK)
                goto fail;
        } else {
            snprintf(err, err_len, "listener %s (line %u): the last filter must be "
                     "http_connection_manager or tcp_proxy", lc->name, lc->line);
            st = SL_ERR_CONFIG;
            goto fail;
        }
        /* The first socket fixes the port when the config asks for 0. */
        uint16_t port = lc->address.port;
        for (unsigned w = 0; w < n_workers; w++) {
            int fd;
            if (w > 0 && !lc->enable_reuse_port) {
                fd = dup(fds[l * n_workers]);
                if (fd < 0) {
                    snprintf(err, err_len, "listener %s: dup: %s", lc->name, strerror(errno));
                    st = SL_ERR_IO;
                    goto fail;
                }
            } else {
                fd = bind_one(lc, port, lc->enable_reuse_port, &port, err, err_len);
                if (fd < 0) {
                    st = SL_ERR_IO;
                    goto fail;
                }
            }
            fds[nfds++] = fd;
        }
        rt->port = port;
        if (lc->stat_prefix && lc->stat_prefix[0])
            snprintf(rt->stat_name, sizeof rt->stat_name, "%s", lc->stat_prefix);
        else
            snprintf(rt->stat_name, sizeof rt->stat_name, "%s_%u", lc->address.address, port);
        rt->cx_total = sl_stats_counterf("listener.%s.downstream_cx_total", rt->stat_name);
        if (n_workers && !(rt->worker_cx_total = calloc(n_workers, sizeof(sl_counter_t)))) {
            snprintf(err, err_len, "listeners: out of memory");
            st = SL_ERR_NOMEM;
            goto fail;
        }
        for (unsigned w = 0; w < n_workers; w++)
            rt->worker_cx_total[w] = sl_stats_counterf("listener.%s.worker_%u.downstream_cx_total",
                                                       rt->stat_name, w);
        SL_INFO("listener %s on %s:%u (%s, %u socket%s)", lc->name, lc->address.address, port,
                rt->hcm ? "http" : "tcp", n_workers, n_workers == 1 ? "" : "s");
    }
    *rts_out = rts;
    *fds_out = fds;
    return SL_OK;
fail:
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    free(fds);
    sl_listener_rts_free(rts, nl);
    return st;
}

/* ---- worker ------------------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    listener_t *l = server->data;
    sl_worker_t *w = l->worker;
    if (status < 0) {
        SL_WARN("listener %s: accept: %s", l->rt->config->name, uv_strerror(status));
        return;
    }
    uv_tcp_t *client = malloc(sizeof *client);
    if (!client)
        return; /* the connection stays in the backlog and is retried */
    uv_tcp_init(w->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) != 0) {
        uv_close((uv_handle_t *)client, free_handle);
        return;
    }
    sl_stats_inc(w, l->rt->cx_total, 1);
    sl_stats_inc(w, l->rt->worker_cx_total[w->index], 1);
    if (l->rt->hcm)
        sl_hcm_conn_start(w, l->rt->config, l->rt->hcm, client);
    else
        sl_tcp_proxy_start(w, l->rt->tcp, client);
}

sl_status_t sl_listener_set_start(sl_worker_t *w, const sl_listener_rt_t *rts, size_t n,
                                  const int *fds, char *err, size_t err_len)
{
    struct sl_listener_set *set = calloc(1, sizeof *set);
    if (!set || (n && !(set->items = calloc(n, sizeof *set->items)))) {
        free(set);
        snprintf(err, err_len, "worker %u: out of memory", w->index);
        return SL_ERR_NOMEM;
    }
    w->listeners = set;
    for (size_t i = 0; i < n; i++) {
        listener_t *l = &set->items[i];
        l->worker = w;
        l->rt = &rts[i];
        l->set = set;
        uv_tcp_init(w->loop, &l->tcp);
        l->tcp.data = l;
        set->n++;
        set->open++;
        int rc = uv_tcp_open(&l->tcp, fds[i]);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&l->tcp, SOMAXCONN, on_connection);
        if (rc != 0) {
            snprintf(err, err_len, "worker %u: listener %s: %s", w->index, rts[i].config->name,
                     uv_strerror(rc));
            for (size_t k = i + 1; k < n; k++)
                close(fds[k]);
            return SL_ERR_IO;
        }
    }
    return SL_OK;
}

static void listener_closed(uv_handle_t *h)
{
    listener_t *l = h->data;
    struct sl_listener_set *set = l->set;
    if (--set->open == 0) {
        free(set->items);
        free(set);
    }
}

void sl_listener_set_stop(sl_worker_t *w)
{
    struct sl_listener_set *set = w->listeners;
    if (!set || set->stopping)
        return;
    set->stopping = true;
    w->listeners = NULL;
    if (set->n == 0) {
        free(set->items);
        free(set);
        return;
    }
    for (size_t i = 0; i < set->n; i++)
        uv_close((uv_handle_t *)&set->items[i].tcp, listener_closed);
}
