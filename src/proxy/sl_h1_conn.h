/* HTTP/1.1 codec on a libuv stream, for both sides of the proxy: reads and parses messages
 * (requests downstream, responses upstream) and writes them with framing and backpressure. */
#ifndef SLUICE_PROXY_SL_H1_CONN_H
#define SLUICE_PROXY_SL_H1_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/sl_filter.h"

typedef struct sl_h1_conn sl_h1_conn_t;
typedef struct sl_h1_wreq sl_h1_wreq_t;

/* A parsed message head, valid during on_head only. Header names and values point into the
 * read buffer; the codec has already checked framing (Content-Length / Transfer-Encoding). */
typedef struct sl_h1_head {
    int version;                /* 10 or 11 */
    const char *method;         /* request only */
    size_t method_len;
    const char *target;         /* request only */
    size_t target_len;
    int status;                 /* response only */
    const sl_header_t *headers; /* name/value pairs as received (names not lower-cased) */
    size_t n_headers;
    int64_t content_length;     /* -1 when absent */
    bool chunked;
    bool keep_alive;            /* by version and Connection header */
    bool expect_continue;       /* request has "Expect: 100-continue" */
    bool has_body;              /* a body follows (length > 0, chunked, or read-until-close) */
    bool upgrade;               /* an Upgrade field with "upgrade" among the Connection tokens */
    bool is_connect;            /* request method CONNECT */
    bool tunnel;                /* response: 101 (or 2xx to CONNECT) accepted by a codec told
                                   sl_h1_conn_allow_tunnel; every later byte comes as body */
} sl_h1_head_t;

/* The longest message tail on_body_end is offered; a longer one comes as on_body and then
 * on_complete. */
#define SL_H1_BODY_END_MAX 2048

typedef struct sl_h1_cbs {
    /* The first bytes of a new message arrived (starts the headers timeout). May be NULL. */
    void (*on_begin)(void *ud);
    /* A message head. Return false to stop the codec (the callee closed it). */
    bool (*on_head)(void *ud, const sl_h1_head_t *head);
    /* Body bytes (de-chunked), valid during the call. */
    void (*on_body)(void *ud, const char *p, size_t n);
    /* Trailers (chunked only), valid during the call; before on_complete. */
    void (*on_trailers)(void *ud, const sl_header_t *t, size_t n);
    /* The message is complete. Downstream, parsing stops until sl_h1_conn_resume_parsing. */
    void (*on_complete)(void *ud);
    /* May be NULL. Body bytes (at most SL_H1_BODY_END_MAX) that end the message, in place of
     * on_body then on_complete (as Envoy's codec delivers a body with its end). */
    void (*on_body_end)(void *ud, const char *p, size_t n);
    /* Bad input (status: 400, 413, 431, 501 for the reply) or, with status 0, the peer
     * closed / a read error (why says which). No more reading happens. */
    void (*on_error)(void *ud, int status, const char *why);
    /* The write queue went above the high watermark (true) or back below the low (false). */
    void (*on_watermark)(void *ud, bool above);
    /* Every queued write has completed. */
    void (*on_drained)(void *ud);
} sl_h1_cbs_t;

typedef enum { SL_H1_SERVER = 0, SL_H1_CLIENT = 1 } sl_h1_role_t;

typedef struct sl_h1_limits {
    size_t max_header_bytes;  /* request/status line + headers (431 above) */
    size_t max_headers;       /* header count (431 above) */
    size_t high_watermark;    /* write queue bytes that trigger on_watermark(true) */
    size_t low_watermark;
} sl_h1_limits_t;

/* Creates a codec on `stream` (borrowed: the caller closes it after sl_h1_conn_free; the
 * codec sets stream->data). Reading starts with sl_h1_conn_start_reading. */
sl_h1_conn_t *sl_h1_conn_new(uv_stream_t *stream, sl_h1_role_t role, const sl_h1_limits_t *lim,
                             const sl_h1_cbs_t *cbs, void *ud);
/* Stops reading and detaches in-flight writes (their completions become no-ops). */
void sl_h1_conn_free(sl_h1_conn_t *c);
/* Re-targets the callbacks (an upstream connection lent to a new request). */
void sl_h1_conn_set_cbs(sl_h1_conn_t *c, const sl_h1_cbs_t *cbs, void *ud);

int sl_h1_conn_start_reading(sl_h1_conn_t *c);
/* Pauses/resumes reading for a reason bit (backpressure, pipelining); reading runs when no
 * bit is set. */
void sl_h1_conn_pause(sl_h1_conn_t *c, unsigned reason);
void sl_h1_conn_unpause(sl_h1_conn_t *c, unsigned reason);
enum { SL_H1_PAUSE_BACKPRESSURE = 1, SL_H1_PAUSE_PIPELINE = 2, SL_H1_PAUSE_USER = 4 };
/* Client side: the next response answers a HEAD request (no body) */
void sl_h1_conn_expect_head_response(sl_h1_conn_t *c, bool head);
/* Client side: the request sent asked for a protocol switch, so a 101 answer is reported
 * (head->tunnel) and what follows it comes as body bytes until the peer closes. Without it a
 * 101 is an error (502). */
void sl_h1_conn_allow_tunnel(sl_h1_conn_t *c, bool allow);
/* Server side, after the request that asked for it was answered with 101: every byte from
 * now on (those already read first) is passed to on_body, unparsed, until the peer closes. */
void sl_h1_conn_start_tunnel(sl_h1_conn_t *c);
/* Server side: parse the next pipelined request (bytes already read are parsed first;
 * callbacks may run before this returns). */
void sl_h1_conn_resume_parsing(sl_h1_conn_t *c);
/* Gives back the read and write buffers while nothing is buffered (an idle keep-alive
 * connection); they are allocated again on the next use. */
void sl_h1_conn_trim(sl_h1_conn_t *c);
/* True when bytes of a following message have been read but not parsed. */
bool sl_h1_conn_has_buffered_input(const sl_h1_conn_t *c);

/* ---- writing: bytes are copied; those written while a codec callback runs on the thread
 * leave together when it returns, others at once ---- */
int sl_h1_conn_write(sl_h1_conn_t *c, const void *p, size_t n);
/* Serializes a message head from a header map: requests take :method, :path, :authority
 * (sent as Host); responses take :status. Pseudo-headers and hop-by-hop headers are not
 * written; content-length is written as found in the map. `chunked` adds
 * "transfer-encoding: chunked"; `connection` (NULL for none) adds "connection: <value>".
 * With connection "upgrade" the map's Upgrade field is written too (a protocol switch). */
int sl_h1_conn_write_head(sl_h1_conn_t *c, const sl_hmap_t *h, bool chunked,
                          const char *connection);
/* Body bytes; chunked frames them. */
int sl_h1_conn_write_body(sl_h1_conn_t *c, const void *p, size_t n, bool chunked);
/* Ends a chunked body: last chunk, optional trailers, final CRLF. */
int sl_h1_conn_write_chunked_end(sl_h1_conn_t *c, const sl_hmap_t *trailers);
size_t sl_h1_conn_queued(const sl_h1_conn_t *c);

/* The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" otherwise). */
const char *sl_h1_reason(int status);
/* True for headers that apply to one connection only (RFC 9110 7.6.1). */
bool sl_h1_is_hop_by_hop(const char *name, size_t len);

#endif
