/* Outgoing HTTP/1.1 calls from inside the proxy (Proxy-Wasm proxy_http_call): one request to a
 * configured cluster through the worker's connection pool, the whole response buffered. */
#ifndef SLUICE_PROXY_SL_HTTP_CALL_H
#define SLUICE_PROXY_SL_HTTP_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/sl_filter.h"
#include "proxy/sl_status.h"
#include "proxy/sl_worker.h"

typedef struct sl_http_call sl_http_call_t;

/* A complete response; everything is valid during the completion callback only. Headers come
 * as Envoy gives them to plugins: ":status" first, then the upstream's headers with lower-case
 * names (hop-by-hop headers dropped). */
typedef struct sl_http_call_response {
    int status;
    const sl_header_t *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    const sl_header_t *trailers;
    size_t n_trailers;
} sl_http_call_response_t;

/* Called once, from the worker's loop (never from inside sl_http_call_start), unless the call
 * was cancelled first. status: SL_OK with resp; SL_ERR_TIMEOUT (the call's timeout fired),
 * SL_ERR_UNAVAILABLE (no connection: no healthy endpoint, connect refused or timed out),
 * SL_ERR_OVERFLOW (breakers), SL_ERR_UPSTREAM (reset or malformed response after
 * connecting), SL_ERR_LIMIT (response over the size limit), with resp NULL. The call is freed after the callback returns (the handle is invalid then). */
typedef void (*sl_http_call_cb)(void *ud, sl_status_t status,
                                const sl_http_call_response_t *resp);

/* Maximum response (head + body + trailers) a call buffers. */
#define SL_HTTP_CALL_MAX_RESPONSE (4u * 1024 * 1024)

/* Sends `headers` (must hold :method and :path; :authority becomes Host; names as given,
 * hop-by-hop ones dropped), `body` and optional `trailers` (sent chunked when non-empty) to
 * `cluster` on worker w, on its thread. timeout_ms 0 = none. Fails at once, without calling
 * cb, with SL_ERR_NOT_FOUND (no such cluster), SL_ERR_ARG (no :method/:path) or
 * SL_ERR_NOMEM; every other failure (no healthy endpoint included) comes through cb. */
sl_status_t sl_http_call_start(sl_worker_t *w, const char *cluster, const sl_header_t *headers,
                               size_t n_headers, const void *body, size_t body_len,
                               const sl_header_t *trailers, size_t n_trailers,
                               uint64_t timeout_ms, sl_http_call_cb cb, void *ud,
                               sl_http_call_t **out);

/* Abandons a call: the callback is not called; its connection is closed (not reused). Only
 * before the callback ran: once it has, the handle is gone. */
void sl_http_call_cancel(sl_http_call_t *c);

#endif
