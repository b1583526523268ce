/* The HTTP connection manager: owns downstream HTTP/1.1 connections accepted by a listener,
 * turns each request into a stream that runs the configured filter chain. */
#ifndef SLUICE_PROXY_SL_HCM_H
#define SLUICE_PROXY_SL_HCM_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "proxy/sl_filter.h"

typedef struct sl_worker sl_worker_t;
struct sl_listener_config; /* sl_config.h: the listener the connection came in on */
struct sl_hcm_config;      /* sl_config.h: its http_connection_manager filter */

/* Serves one accepted connection. `client` was malloc'd by the caller, uv_tcp_init'ed on
 * w->loop and accepted; it is taken: the HCM reads and writes it, uv_closes it and free()s it.
 * lc and hc are borrowed and must outlive the connection (they belong to the configuration).
 * Never fails visibly: on out of memory the connection is closed. */
void sl_hcm_conn_start(sl_worker_t *w, const struct sl_listener_config *lc,
                       const struct sl_hcm_config *hc, uv_tcp_t *client);

/* Draining: every later response carries "Connection: close" and its connection closes
 * after it; idle connections close now. Call on the worker's thread. */
void sl_hcm_worker_drain(sl_worker_t *w);

/* Streams in flight on this worker (requests begun and not complete), and open downstream
 * HTTP connections. The server's drain loop waits for the first to reach 0. */
size_t sl_hcm_active_streams(sl_worker_t *w);
size_t sl_hcm_active_conns(sl_worker_t *w);

/* Closes every connection of the worker at once (worker shutdown after drain); streams are
 * reset. The loop must run afterwards so the close callbacks free them. Frees w->http once
 * the last connection is gone. */
void sl_hcm_worker_close_all(sl_worker_t *w);

#endif
