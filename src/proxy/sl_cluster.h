/* Upstream clusters: the process-wide definition (endpoints as configured, breaker counts
 * shared by all workers, stat handles) and each worker's own state (resolved endpoints,
 * balancer position, passive health, connection pool). */
#ifndef SLUICE_PROXY_SL_CLUSTER_H
#define SLUICE_PROXY_SL_CLUSTER_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "proxy/sl_config.h"
#include "proxy/sl_pool.h"
#include "proxy/sl_stats.h"
#include "proxy/sl_status.h"
#include "proxy/sl_worker.h"


/* Envoy's default thresholds. */
#define SL_CLUSTER_DEFAULT_MAX 1024u
/* Passive health: a refused or timed-out connect puts the endpoint in back-off for
 * base * 2^(failures-1), capped. */
#define SL_BACKOFF_BASE_MS 1000u
#define SL_BACKOFF_MAX_MS 10000u

typedef struct sl_cluster_host {
    char *host;    /* owned: IP literal (STATIC) or name to resolve (DNS types) */
    uint16_t port;
} sl_cluster_host_t;

/* One configured cluster, shared read-only by every worker, except the breaker counts
 * (atomics). Built on the main thread before the workers start. */
typedef struct sl_cluster_def {
    char *name;                  /* owned */
    sl_cluster_type_t type;
    sl_lb_policy_t lb;
    uint64_t connect_timeout_ms; /* default 5000 */
    uint64_t dns_refresh_ms;     /* default 5000 */
    uint32_t max_connections, max_pending_requests, max_requests;
    uint32_t max_requests_per_connection; /* 0 = unlimited */
    sl_cluster_host_t *hosts;    /* owned array */
    size_t n_hosts;

    /* Breaker state across all workers. */
    _Atomic uint32_t cx_active;
    _Atomic uint32_t rq_pending;
    _Atomic uint32_t rq_active;

    struct {
        sl_counter_t cx_total, cx_connect_fail, cx_connect_timeout, cx_overflow,
            cx_none_healthy, cx_destroy, cx_idle_closed, rq_total, rq_pending_total,
            rq_pending_overflow, rq_reused, dns_failure;
        sl_gauge_t cx_active, rq_active, rq_pending_active, membership_total;
    } st;
} sl_cluster_def_t;

/* Creates a definition with Envoy's defaults (ROUND_ROBIN, STATIC, 5 s connect timeout,
 * thresholds 1024) and defines its stats ("cluster.<name>.upstream_cx_total", ...). The
 * caller then sets fields and adds hosts. NULL when out of memory. */
sl_cluster_def_t *sl_cluster_def_new(const char *name);
/* Adds an endpoint; STATIC types need an IPv4/IPv6 literal. Errors: SL_ERR_CONFIG (bad
 * address for STATIC, with a message in err), SL_ERR_NOMEM. */
sl_status_t sl_cluster_def_add_host(sl_cluster_def_t *d, const char *host, uint16_t port,
                                    char *err, size_t err_len);
void sl_cluster_def_free(sl_cluster_def_t *d);
/* A definition from a loaded cluster config (type, lb_policy, connect_timeout,
 * circuit_breakers, dns_refresh_rate, max_requests_per_connection, endpoints). Errors as
 * sl_cluster_def_add_host; *out is NULL on error. */
sl_status_t sl_cluster_def_from_config(const sl_cluster_config_t *cc, sl_cluster_def_t **out,
                                       char *err, size_t err_len);

/* ---- per worker -------------------------------------------------------------------------- */

typedef struct sl_pconn sl_pconn_t;

/* A list of pooled connections (intrusive, doubly linked). */
typedef struct sl_pconn_list {
    sl_pconn_t *head, *tail;
    size_t n;
} sl_pconn_list_t;

struct sl_endpoint {
    struct sockaddr_storage addr;
    char address[64];          /* "ip:port" (IPv6 as "[ip]:port") */
    sl_cluster_t *cluster;     /* borrowed: owner */
    size_t host_index;         /* which configured host it came from */
    bool removed;              /* no longer in DNS answers: not picked, freed with cluster */
    uint64_t backoff_until_ms; /* loop time before which it is skipped */
    unsigned failures;         /* consecutive connect failures */
    unsigned active_requests;  /* on this worker (LEAST_REQUEST) */
    sl_pconn_list_t idle;      /* idle keep-alive connections to it */
};

typedef struct sl_req_list {
    sl_pool_req_t *head, *tail;
    size_t n;
} sl_req_list_t;

struct sl_cluster {
    sl_worker_t *worker;        /* borrowed: owner */
    sl_cluster_def_t *def;      /* borrowed: the server's, outlives the worker */
    sl_endpoint_t **eps;        /* owned array of owned endpoints */
    size_t n_eps, cap_eps;
    size_t rr_next;             /* ROUND_ROBIN position */
    uint64_t rng;               /* xorshift state (RANDOM, LEAST_REQUEST ties) */
    sl_req_list_t pending;      /* requests waiting for a connection, FIFO */
    sl_req_list_t ready;        /* requests with a connection reserved, delivered on idle */
    sl_req_list_t fresh;        /* sl_pool_connect requests waiting for their connect */
    sl_req_list_t dead;         /* requests outstanding at destroy: no callback will come,
                                   their owners still cancel them (each holds a ref) */
    sl_pconn_list_t busy;       /* lent connections */
    sl_pconn_list_t connecting; /* connects in flight */
    size_t idle_total;          /* sum of endpoint idle lists */
    uv_idle_t deliver;          /* runs deliveries outside acquire/release */
    uv_timer_t dns_timer;       /* DNS refresh */
    uv_timer_t sweep;           /* drops idle connections the upstream closed */
    size_t dns_in_flight;       /* getaddrinfo requests not yet answered */
    bool dns_done_once;         /* first round of answers complete */
    bool destroyed;             /* sl_cluster_destroy called: free when refs reach 0 */
    size_t handles_open;        /* deliver + dns_timer + sweep until closed */
    size_t refs;                /* connections alive + DNS requests + handles */
};

/* Creates the worker's view of `def` and, for DNS types, starts resolving on w->loop.
 * NULL when out of memory. */
sl_cluster_t *sl_cluster_new(sl_worker_t *w, sl_cluster_def_t *def);
/* Closes idle and connecting connections and stops DNS. Requests still waiting get no
 * callback any more but stay valid until their owner calls sl_pool_cancel; lent connections
 * stay valid until released. The cluster frees itself when the last of those is gone. */
void sl_cluster_destroy(sl_cluster_t *c);

/* Picks an endpoint outside back-off by the cluster's policy (NULL when none). */
sl_endpoint_t *sl_cluster_pick(sl_cluster_t *c);
/* Passive health bookkeeping. */
void sl_cluster_endpoint_failed(sl_endpoint_t *ep);
void sl_cluster_endpoint_succeeded(sl_endpoint_t *ep);
/* Endpoints not removed and not in back-off. */
size_t sl_cluster_healthy_count(sl_cluster_t *c);

/* Internal to sl_cluster.c / sl_pool.c: DNS answers changed the endpoint set (retry
 * pending requests); free when unreferenced. */
void sl__pool_endpoints_changed(sl_cluster_t *c);
void sl__pool_sweep(sl_cluster_t *c);
#define SL_POOL_SWEEP_MS 1000
void sl__cluster_unref(sl_cluster_t *c);

#endif
