/* The network (L4) filter interface: filters placed before tcp_proxy in a listener's chain see
 * each connection open, every chunk of bytes in both directions (and may change, hold or pass
 * it) and its close. Filters are looked up by kind in a registry of ops tables. */
#ifndef SLUICE_PROXY_SL_NETFILTER_H
#define SLUICE_PROXY_SL_NETFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/sl_config.h"
#include "proxy/sl_filter.h" /* sl_buf_t */
#include "proxy/sl_status.h"
#include "proxy/sl_worker.h"

/* What a data or new-connection callback asks for:
 * - SL_NF_CONTINUE: pass the bytes (as the filter left them in `data`) to the next filter, and
 *   after the last one to the other side.
 * - SL_NF_STOP: hold them here. Later bytes in the same direction are appended to the held
 *   ones and this filter is called again with all of them. Iteration resumes when a later call
 *   returns CONTINUE or the filter calls sl_nf_continue() (from the same worker, any time). */
typedef enum { SL_NF_CONTINUE = 0, SL_NF_STOP = 1 } sl_nf_status_t;

typedef enum { SL_NF_DOWNSTREAM = 0, SL_NF_UPSTREAM = 1 } sl_nf_side_t;

/* Why a connection ended, as passed to on_close. */
typedef enum {
    SL_NF_CLOSE_DOWNSTREAM, /* the client closed (both directions done or reset) */
    SL_NF_CLOSE_UPSTREAM,   /* the upstream closed or could not be reached */
    SL_NF_CLOSE_LOCAL,      /* sluice closed it: filter request, idle timeout, shutdown */
} sl_nf_close_t;

/* One proxied connection as filters see it (opaque; owned by the TCP proxy). */
typedef struct sl_nf_conn sl_nf_conn_t;

typedef struct sl_netfilter_ops {
    const char *name; /* for logs */
    /* Called once at configuration time (main thread) with the filter's config; returns an
     * immutable per-config object shared by every worker (may be NULL when the filter needs
     * none). SL_OK or an error with a message in err. Optional. */
    sl_status_t (*configure)(const sl_network_filter_config_t *cfg, void **shared, char *err,
                             size_t err_len);
    /* Frees what configure returned (main thread, after the workers stopped). Optional. */
    void (*release)(void *shared);
    /* Per connection: returns the filter's state (NULL is allowed when it needs none; report
     * failure with *ok = false, which closes the connection). */
    void *(*create)(void *shared, sl_nf_conn_t *conn, bool *ok);
    /* The client connected (before the upstream is chosen). STOP delays connecting upstream
     * until sl_nf_continue(conn, SL_NF_DOWNSTREAM). Optional (= CONTINUE). */
    sl_nf_status_t (*on_new_connection)(void *state, sl_nf_conn_t *conn);
    /* Bytes from the client toward the upstream (filters in config order). end_stream: the
     * client half-closed; `data` may be empty then. `data` may be changed in any way. */
    sl_nf_status_t (*on_downstream_data)(void *state, sl_nf_conn_t *conn, sl_buf_t *data,
                                         bool end_stream);
    /* Bytes from the upstream toward the client (filters in reverse config order). */
    sl_nf_status_t (*on_upstream_data)(void *state, sl_nf_conn_t *conn, sl_buf_t *data,
                                       bool end_stream);
    /* The connection is over; called once per filter, then destroy. Optional. */
    void (*on_close)(void *state, sl_nf_conn_t *conn, sl_nf_close_t why);
    /* Frees the per-connection state. Optional. */
    void (*destroy)(void *state);
} sl_netfilter_ops_t;

/* Registry: the ops for a config filter kind (NULL when no implementation is linked in).
 * Registration happens at start-up on the main thread, before configuration: the built-in
 * filters register themselves in sl_netfilter_register_builtins(); others (the Wasm network
 * filter) call sl_netfilter_register. A later registration for a kind replaces the earlier. */
void sl_netfilter_register(sl_network_filter_kind_t kind, const sl_netfilter_ops_t *ops);
const sl_netfilter_ops_t *sl_netfilter_lookup(sl_network_filter_kind_t kind);
void sl_netfilter_register_builtins(void);
/* envoy.filters.network.wasm (sl_netfilter_wasm.c); part of the built-ins. */
void sl_netfilter_wasm_register(void);

/* ---- what filters may do with a connection (worker thread only) --------------------------- */

/* Resumes iteration in `side`'s direction (SL_NF_DOWNSTREAM: client->upstream bytes, or the
 * connect held by on_new_connection) after the filter that returned STOP. No-op when nothing
 * is held. May be called from inside a callback of another filter or of a timer. */
void sl_nf_continue(sl_nf_conn_t *conn, sl_nf_side_t side);
/* Closes both sides now (pending bytes are dropped); on_close gets SL_NF_CLOSE_LOCAL. */
void sl_nf_close(sl_nf_conn_t *conn);
/* Writes bytes straight to one side (e.g. a banner to the client), bypassing the filters. */
sl_status_t sl_nf_write(sl_nf_conn_t *conn, sl_nf_side_t side, const void *p, size_t n);

sl_worker_t *sl_nf_worker(const sl_nf_conn_t *conn);
uint64_t sl_nf_id(const sl_nf_conn_t *conn);                 /* unique per worker */
const char *sl_nf_downstream_address(const sl_nf_conn_t *conn); /* "ip:port" of the client */
const char *sl_nf_upstream_address(const sl_nf_conn_t *conn);   /* "" until connected */
const sl_listener_config_t *sl_nf_listener(const sl_nf_conn_t *conn);

#endif
