/* Upstream connections for one worker: pick an endpoint of a cluster (load balancing, passive
 * health), reuse an idle keep-alive connection or connect one (connect timeout, breakers). */
#ifndef SLUICE_PROXY_SL_POOL_H
#define SLUICE_PROXY_SL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "proxy/sl_status.h"
#include "proxy/sl_worker.h"

typedef struct sl_endpoint sl_endpoint_t;
typedef struct sl_pool_req sl_pool_req_t;

/* A connected upstream connection, lent to one user (one HTTP request at a time) between
 * acquire and release. While lent, the user owns reading and writing on `tcp` (and may set
 * tcp.data); it must not uv_close it: sl_pool_release does. While idle nobody reads it
 * unless an attachment watches it (see sl_pool_conn_attach); otherwise the pool checks it (a
 * non-blocking peek) before lending it again and once a second, and discards it if the peer
 * closed it or sent anything. */
typedef struct sl_upstream_conn {
    uv_tcp_t tcp;             /* embedded; valid from delivery until release */
    const char *address;      /* borrowed "ip:port" of the endpoint, for logs (lives as long
                                 as the cluster) */
    sl_cluster_t *cluster;    /* borrowed: the cluster it belongs to */
    sl_endpoint_t *endpoint;  /* borrowed: the endpoint it is connected to */
    unsigned requests;        /* requests served on it so far (1 on first use) */
    void *user;               /* free for the user while lent; reset on release */
    void *attach;             /* owned through attach_free: state kept across lends */
    void (*attach_free)(void *attach);
    void (*attach_trim)(void *attach); /* may be set after attaching: called once when the
                                          connection has been idle for a whole sweep period,
                                          to give back buffers it holds for the next use */
    bool attach_watch;        /* the attachment reads the connection while it is idle */
} sl_upstream_conn_t;

/* Keeps protocol state (an HTTP/1 codec and its buffers) with the connection across lends,
 * so that a keep-alive connection costs no set-up per request; the pool calls free_fn(state)
 * when the connection closes. With watch = true the attachment keeps reading while the
 * connection is idle (no read stop/start, so no epoll_ctl per request) and must call
 * sl_pool_idle_failed when the peer closes it or sends anything; the pool then skips its
 * peek. Call while the connection is lent. */
void sl_pool_conn_attach(sl_upstream_conn_t *conn, void *state, void (*free_fn)(void *),
                         bool watch);
/* The attachment made with free_fn, or NULL. An attachment of another kind (made with
 * another free_fn) is freed first, so a user that finds NULL has the bare socket, not read. */
void *sl_pool_conn_attached(sl_upstream_conn_t *conn, void (*free_fn)(void *));
/* An idle (or reserved, not yet delivered) connection's watcher saw the peer close or send
 * bytes: the connection is discarded; a request it was reserved for waits for another. */
void sl_pool_idle_failed(sl_upstream_conn_t *conn);

/* Delivery of a pending acquire. status SL_OK: `conn` is connected and now lent to the
 * caller. Otherwise conn is NULL and status says why (connect failure or timeout, no healthy
 * endpoint, overflow); the request is over either way and its handle is invalid after the
 * call. Always called from the worker's loop, never from inside sl_pool_acquire/release. */
typedef void (*sl_pool_cb)(void *ctx, sl_status_t status, sl_upstream_conn_t *conn);

/* Asks for a connection to `cluster` (from sl_worker_cluster) for one request.
 * - An idle keep-alive connection is available: returns SL_OK, sets *conn (now lent),
 *   *req = NULL; cb is not called.
 * - Otherwise the request waits (a connect starts if max_connections allows, else it queues):
 *   returns SL_OK, *conn = NULL, *req set; cb is called exactly once later unless
 *   sl_pool_cancel(*req) is called first.
 * - Fails at once (cb not called, *conn and *req NULL) with: SL_ERR_NOT_FOUND for a NULL
 *   cluster, SL_ERR_UNAVAILABLE when the cluster has no endpoint outside its back-off,
 *   SL_ERR_OVERFLOW when max_pending_requests or max_requests is reached (counted as
 *   upstream_rq_pending_overflow).
 * Each successful acquire counts one active request (max_requests, LEAST_REQUEST) until the
 * connection is released. */
sl_status_t sl_pool_acquire(sl_cluster_t *cluster, sl_pool_cb cb, void *ctx,
                            sl_upstream_conn_t **conn, sl_pool_req_t **req);

/* Same, naming the cluster; SL_ERR_NOT_FOUND when the worker has no such cluster. */
sl_status_t sl_pool_acquire_by_name(sl_worker_t *w, const char *cluster_name, sl_pool_cb cb,
                                    void *ctx, sl_upstream_conn_t **conn,
                                    sl_pool_req_t **req);

/* A new connection that is never pooled (TCP proxying): picks an endpoint, connects (trying
 * other endpoints on failure, up to one attempt each) and calls cb once. Fails at once with
 * SL_ERR_UNAVAILABLE (no usable endpoint) or SL_ERR_OVERFLOW (max_connections; counted as
 * upstream_cx_overflow). Release it with reusable = false. */
sl_status_t sl_pool_connect(sl_cluster_t *cluster, sl_pool_cb cb, void *ctx,
                            sl_pool_req_t **req);

/* Withdraws a pending request; its callback will not be called. `req` is invalid after. */
void sl_pool_cancel(sl_pool_req_t *req);

/* Ends the request: gives the connection back. reusable = true (the response was complete
 * and both sides keep the connection alive, no bytes pending in either direction) puts it on
 * the idle list or hands it to a waiting request; false closes it. The caller must have no
 * uv_write in flight on it when reusable; when not reusable, in-flight writes complete with
 * UV_ECANCELED before the close finishes, so their callbacks must not need the caller's
 * state. Reading is stopped by the pool. `conn` is invalid for the caller after the call. */
void sl_pool_release(sl_upstream_conn_t *conn, bool reusable);

/* Counters of one cluster on this worker (for tests and admin). */
typedef struct sl_pool_stats {
    size_t idle;       /* idle connections */
    size_t busy;       /* lent connections */
    size_t connecting; /* connects in progress */
    size_t pending;    /* requests waiting for a connection */
} sl_pool_stats_t;
void sl_pool_get_stats(const sl_cluster_t *cluster, sl_pool_stats_t *out);

#endif
