/* Listeners: the main thread binds one SO_REUSEPORT socket per worker per configured listener
 * (so the kernel spreads connections); each worker accepts on its own sockets and hands every
 * connection to the listener's terminal filter (HTTP connection manager or TCP proxy). */
#ifndef SLUICE_PROXY_SL_LISTENER_H
#define SLUICE_PROXY_SL_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/sl_config.h"
#include "proxy/sl_stats.h"
#include "proxy/sl_status.h"
#include "proxy/sl_tcp_proxy.h"
#include "proxy/sl_worker.h"

/* What a worker needs to serve one configured listener; built on the main thread, shared
 * read-only by all workers. */
typedef struct sl_listener_rt {
    const sl_listener_config_t *config;  /* borrowed: configuration */
    const sl_hcm_config_t *hcm;          /* borrowed: terminal HCM, or NULL */
    sl_tcp_chain_t *tcp;                 /* owned: terminal tcp_proxy chain, or NULL */
    uint16_t port;                       /* bound port (differs from config when it was 0) */
    char stat_name[128];                 /* "127.0.0.1_10000" or the stat_prefix */
    sl_counter_t cx_total;               /* listener.<stat_name>.downstream_cx_total */
    sl_counter_t *worker_cx_total;       /* owned array, one per worker:
                                            listener.<stat_name>.worker_<i>.downstream_cx_total */
} sl_listener_rt_t;

/* Builds the runtime form of every listener in `cfg` and binds n_workers sockets for each:
 * fds[l * n_workers + w] (SO_REUSEPORT unless the listener disables it, then one socket
 * dup'ed per worker). *rts and *fds are malloc'd arrays owned by the caller (free with
 * sl_listener_rts_free and by closing the fds not handed to workers). Errors: SL_ERR_IO
 * (socket, bind, listen: "listener main 127.0.0.1:10000: bind: Address already in use"),
 * SL_ERR_CONFIG (tcp chain), SL_ERR_NOMEM. */
sl_status_t sl_listeners_prepare(const sl_config_t *cfg, unsigned n_workers,
                                 sl_listener_rt_t **rts, int **fds, char *err, size_t err_len);
void sl_listener_rts_free(sl_listener_rt_t *rts, size_t n);

/* Worker side: starts accepting on fds[0..n) (one per listener, taken). Errors as above. */
sl_status_t sl_listener_set_start(sl_worker_t *w, const sl_listener_rt_t *rts, size_t n,
                                  const int *fds, char *err, size_t err_len);
/* Stops accepting (drain or stop) and closes the sockets; the set frees itself once closed.
 * Connections already accepted are unaffected. Safe to call twice. */
void sl_listener_set_stop(sl_worker_t *w);

#endif
