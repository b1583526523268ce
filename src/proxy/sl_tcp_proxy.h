/* The TCP proxy (envoy.filters.network.tcp_proxy) and the network filter chain in front of it:
 * each accepted connection is paired with a fresh upstream connection and bytes are relayed
 * both ways through the filters, with backpressure, half-close and an idle timeout. */
#ifndef SLUICE_PROXY_SL_TCP_PROXY_H
#define SLUICE_PROXY_SL_TCP_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "proxy/sl_config.h"
#include "proxy/sl_netfilter.h"
#include "proxy/sl_status.h"
#include "proxy/sl_worker.h"

/* The runtime form of one listener's filter chain ending in tcp_proxy: the filters' ops and
 * shared configuration, and the stat handles. Immutable once built; shared by all workers. */
typedef struct sl_tcp_chain sl_tcp_chain_t;

/* Builds it on the main thread. Errors: SL_ERR_CONFIG when a filter has no implementation or
 * rejects its config (message in err), SL_ERR_NOMEM. */
sl_status_t sl_tcp_chain_new(const sl_listener_config_t *lc, const sl_filter_chain_config_t *fc,
                             sl_tcp_chain_t **out, char *err, size_t err_len);
void sl_tcp_chain_free(sl_tcp_chain_t *chain);

/* Proxies one accepted connection. `client` was malloc'd, uv_tcp_init'ed on w->loop and
 * accepted; it is taken (closed and freed here). `chain` is borrowed and outlives it. */
void sl_tcp_proxy_start(sl_worker_t *w, const sl_tcp_chain_t *chain, uv_tcp_t *client);

/* Sessions open on this worker (drain waits for 0). */
size_t sl_tcp_proxy_active(sl_worker_t *w);
/* Closes every session of the worker now (shutdown after drain). Run the loop afterwards. */
void sl_tcp_proxy_close_all(sl_worker_t *w);

#endif
