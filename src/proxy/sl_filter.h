/* The HTTP filter interface: per-stream filters called on the decode (request) and encode
 * (response) paths, header maps, body buffers, the per-stream arena and the filter registry. */
#ifndef SLUICE_PROXY_SL_FILTER_H
#define SLUICE_PROXY_SL_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct sl_worker sl_worker_t;
typedef struct sl_stream sl_stream_t;
typedef struct sl_http_filter sl_http_filter_t;

/* ---- per-stream arena -------------------------------------------------------------------
 * A bump allocator: every allocation lives until the stream ends (sl_arena_reset/dispose).
 * The first block is embedded in the stream; more blocks are malloc'd when it is full. */
typedef struct sl_arena_block sl_arena_block_t;
typedef struct sl_arena {
    char *cur;                /* next free byte in the current block */
    char *end;                /* end of the current block */
    sl_arena_block_t *blocks; /* owned: overflow blocks, newest first */
    char *first;              /* borrowed: the caller's initial block (may be NULL) */
    size_t first_len;
} sl_arena_t;

void sl_arena_init(sl_arena_t *a, void *first, size_t first_len);
/* Returns 8-byte aligned memory or NULL when malloc fails. */
void *sl_arena_alloc(sl_arena_t *a, size_t n);
/* Copies n bytes and adds a NUL (so the copy is also a C string). NULL when out of memory. */
char *sl_arena_dup(sl_arena_t *a, const void *p, size_t n);
/* Frees overflow blocks and rewinds to the initial block. */
void sl_arena_reset(sl_arena_t *a);
void sl_arena_dispose(sl_arena_t *a);

/* ---- header maps ------------------------------------------------------------------------
 * An ordered multimap of (name, value). Names are stored lower-case; lookups are
 * case-insensitive. Request maps carry the pseudo-headers :method, :path, :authority and
 * :scheme first; response maps carry :status first (as Envoy's maps do, so Proxy-Wasm
 * plugins see what they expect). Strings are copied into the map's arena and NUL-ended.
 * A value returned by get is valid until the entry is changed or removed. */
typedef struct sl_header {
    const char *name;  /* arena; lower-case, NUL-ended */
    const char *value; /* arena; NUL-ended */
    uint32_t name_len;
    uint32_t value_len;
} sl_header_t;

typedef struct sl_hmap {
    sl_header_t *items; /* arena: entries in order */
    uint32_t count;
    uint32_t cap;
    size_t bytes;       /* sum of name + value lengths (for size limits) */
    sl_arena_t *arena;  /* borrowed: the stream's arena */
} sl_hmap_t;

void sl_hmap_init(sl_hmap_t *m, sl_arena_t *arena);
/* Number of entries; entry i (0 <= i < count) for iteration. */
static inline uint32_t sl_hmap_size(const sl_hmap_t *m)
{
    return m->count;
}
static inline const sl_header_t *sl_hmap_at(const sl_hmap_t *m, uint32_t i)
{
    return &m->items[i];
}
/* First value of `name` (NULL when absent); *len gets its length when len != NULL. */
const char *sl_hmap_get(const sl_hmap_t *m, const char *name, size_t name_len, size_t *len);
/* C-string convenience: sl_hmap_getz(m, "host"). */
const char *sl_hmap_getz(const sl_hmap_t *m, const char *name);
/* Appends an entry (keeps existing ones). False only when out of memory. */
bool sl_hmap_add(sl_hmap_t *m, const char *name, size_t name_len, const char *value,
                 size_t value_len);
/* Replaces every entry of `name` with one (added at the end when absent; the first
 * entry keeps its place otherwise). False only when out of memory. */
bool sl_hmap_set(sl_hmap_t *m, const char *name, size_t name_len, const char *value,
                 size_t value_len);
bool sl_hmap_setz(sl_hmap_t *m, const char *name, const char *value);
bool sl_hmap_addz(sl_hmap_t *m, const char *name, const char *value);
/* Removes every entry of `name`; returns how many were removed. */
uint32_t sl_hmap_remove(sl_hmap_t *m, const char *name, size_t name_len);
uint32_t sl_hmap_removez(sl_hmap_t *m, const char *name);
void sl_hmap_clear(sl_hmap_t *m);

/* ---- body buffers -----------------------------------------------------------------------
 * Contiguous bytes. A buffer may borrow bytes it was handed (cap == 0, for zero-copy
 * pass-through of a read); any change first copies them into owned heap memory. */
typedef struct sl_buf {
    char *data;  /* owned when cap > 0, borrowed when cap == 0 */
    size_t len;
    size_t cap;
} sl_buf_t;

static inline void sl_buf_init(sl_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
/* Points the (empty or borrowed) buffer at p..p+n without copying. */
void sl_buf_borrow(sl_buf_t *b, const void *p, size_t n);
/* Makes the bytes owned (copies borrowed bytes). False when out of memory. */
bool sl_buf_own(sl_buf_t *b);
bool sl_buf_append(sl_buf_t *b, const void *p, size_t n);
bool sl_buf_prepend(sl_buf_t *b, const void *p, size_t n);
/* Replaces bytes [off, off+n) with `with` (with_len bytes); off/n are clamped to the data. */
bool sl_buf_replace(sl_buf_t *b, size_t off, size_t n, const void *with, size_t with_len);
/* Drops the first n bytes (all when n >= len). */
void sl_buf_drain(sl_buf_t *b, size_t n);
/* Empties the buffer and keeps owned capacity for reuse. */
void sl_buf_clear(sl_buf_t *b);
/* Frees owned memory. */
void sl_buf_dispose(sl_buf_t *b);

/* ---- filters ----------------------------------------------------------------------------
 * Return values of the callbacks (Envoy's semantics):
 * - CONTINUE: pass this event (and everything this filter held) to the next filter.
 * - STOP: hold headers/data/trailers at this filter; later events still reach this filter
 *   (data is accumulated and handed again, whole, on each later data call). Reading from the
 *   peer pauses while the held body is over the stream's buffer limit (backpressure).
 *   Iteration resumes when a later callback returns CONTINUE or when the filter calls
 *   sl_filter_continue_decoding/encoding (asynchronously, from the same worker thread).
 * - STOP_AND_BUFFER: like STOP, but the body is meant to be buffered whole: going over the
 *   buffer limit ends the stream with 413 (request) or 500 (response).
 * On data callbacks `data` may be modified freely (any size: drain, append, replace); what it
 * holds on CONTINUE is what the next filter gets. Header and trailer maps may be modified
 * likewise. A callback may call sl_filter_send_local_reply; the return value is then ignored.
 * A NULL callback means CONTINUE. */
typedef enum {
    SL_FILTER_CONTINUE = 0,
    SL_FILTER_STOP = 1,
    SL_FILTER_STOP_AND_BUFFER = 2,
} sl_filter_status_t;

/* Facts about the stream for access logs and plugins (filled progressively). */
typedef struct sl_stream_info {
    uint64_t start_ms;            /* loop time when the request began */
    uint64_t end_ms;              /* loop time at completion (0 while running) */
    uint64_t bytes_received;      /* request body bytes read from downstream */
    uint64_t bytes_sent;          /* response body bytes written downstream */
    int status;                   /* response status sent downstream (0 before) */
    const char *upstream_host;    /* arena or borrowed from the pool: "ip:port", or NULL */
    const char *cluster_name;     /* borrowed from config, or NULL */
    const char *route_name;       /* borrowed from config, or NULL */
    const char *downstream_addr;  /* arena: "ip:port" of the client */
    const char *local_addr;       /* arena: "ip:port" the client connected to */
    const char *response_details; /* static or arena: why a local reply was sent, or NULL */
    bool local_reply;             /* the response was generated by sluice */
    bool reset;                   /* the stream ended before a complete response */
    bool upstream_failure;        /* the router could not get or keep an upstream */
} sl_stream_info_t;

typedef struct sl_http_filter_ops {
    sl_filter_status_t (*decode_headers)(sl_http_filter_t *f, sl_hmap_t *headers,
                                         bool end_stream);
    sl_filter_status_t (*decode_data)(sl_http_filter_t *f, sl_buf_t *data, bool end_stream);
    sl_filter_status_t (*decode_trailers)(sl_http_filter_t *f, sl_hmap_t *trailers);
    sl_filter_status_t (*encode_headers)(sl_http_filter_t *f, sl_hmap_t *headers,
                                         bool end_stream);
    sl_filter_status_t (*encode_data)(sl_http_filter_t *f, sl_buf_t *data, bool end_stream);
    sl_filter_status_t (*encode_trailers)(sl_http_filter_t *f, sl_hmap_t *trailers);
    /* The downstream connection's write queue crossed its high (above = true) or low
     * watermark; a filter producing response data (the router) should pause/resume it. */
    void (*encode_watermark)(sl_http_filter_t *f, bool above);
    /* The stream is over (complete or reset, see info->reset); no more callbacks except
     * on_log and on_destroy follow. Async work must be cancelled here. */
    void (*on_stream_complete)(sl_http_filter_t *f, const sl_stream_info_t *info);
    /* Once per stream, after completion (the access-log point, proxy_on_log). */
    void (*on_log)(sl_http_filter_t *f, const sl_stream_info_t *info);
    /* Last call: free the per-stream state (f->ctx). Always called once per created filter. */
    void (*on_destroy)(sl_http_filter_t *f);
} sl_http_filter_ops_t;

/* One filter in one stream's chain. The HCM allocates it in the stream's arena. */
struct sl_http_filter {
    const sl_http_filter_ops_t *ops; /* set by the factory's create; static */
    void *ctx;                       /* the filter's per-stream state (owned by the filter) */
    sl_stream_t *stream;             /* borrowed: the stream it serves */
    const void *config;              /* borrowed: the factory's parsed config */
    unsigned index;                  /* position in the chain (0 = first decoder) */

    /* ---- private to sl_hcm.c: what this filter holds (seen by it, not passed on) ---- */
    sl_buf_t held[2];       /* [0] decode, [1] encode: held body bytes */
    uint8_t hold[2];        /* SL__HOLD_* bits per direction */
    uint8_t mode[2];        /* last data status per direction */
    bool decode_started;    /* decode_headers was called */
};

/* ---- what a filter may do to its stream (only from the stream's worker thread) -------- */

/* Resumes iteration held at `f` (headers, then held data, then trailers). Safe to call from
 * a timer or any callback of the worker, including inside this filter's own callback (then
 * it acts when the callback returns). No-op when nothing is held or the stream is over. */
void sl_filter_continue_decoding(sl_http_filter_t *f);
void sl_filter_continue_encoding(sl_http_filter_t *f);

/* Sends a response generated here (status, optional extra headers, body) downstream through
 * the encode path of the filters before `f`. If a response was already started downstream
 * the stream is reset instead (the connection is closed). The request side stops. `details`
 * (a static string) goes to the access log. Safe from any callback or asynchronously. */
void sl_filter_send_local_reply(sl_http_filter_t *f, int status, const char *body,
                                size_t body_len, const sl_hmap_t *extra_headers,
                                const char *details);

/* Ends the stream at once and closes its downstream connection (Envoy's resetStream): no
 * more callbacks but on_stream_complete, on_log and on_destroy. `details` is static. Not from
 * inside another filter's data path on the same stack: call it from the filter's own callback
 * or asynchronously. */
void sl_filter_reset_stream(sl_http_filter_t *f, const char *details);

/* Producing a response (the router, or any filter answering itself): pass response headers,
 * data and trailers into the encode path, starting at the filter before `f`. The headers map
 * should be sl_stream_response_headers() filled in (":status" first). */
void sl_filter_encode_headers(sl_http_filter_t *f, bool end_stream);
void sl_filter_encode_data(sl_http_filter_t *f, sl_buf_t *data, bool end_stream);
void sl_filter_encode_trailers(sl_http_filter_t *f);

/* The body held at `f` for a direction (decode = request, false = response); what a
 * STOP/STOP_AND_BUFFER filter has accumulated. Never NULL. */
sl_buf_t *sl_filter_held_body(sl_http_filter_t *f, bool decode);

/* Tells the HCM whether the filter's sink of request data is full (above = true): reading
 * from downstream pauses until it is called again with false. */
void sl_filter_decode_watermark(sl_http_filter_t *f, bool above);

sl_hmap_t *sl_stream_request_headers(sl_stream_t *s);
sl_hmap_t *sl_stream_response_headers(sl_stream_t *s);
/* Trailers: NULL when the peer sent none unless create is true (then an empty map is made,
 * and its entries are sent as trailers if non-empty when the body ends; chunked only). */
sl_hmap_t *sl_stream_request_trailers(sl_stream_t *s, bool create);
sl_hmap_t *sl_stream_response_trailers(sl_stream_t *s, bool create);
sl_arena_t *sl_stream_arena(sl_stream_t *s);
sl_worker_t *sl_stream_worker(sl_stream_t *s);
uv_loop_t *sl_stream_loop(sl_stream_t *s);
sl_stream_info_t *sl_stream_info(sl_stream_t *s);
/* Monotonic id of the stream within its worker (for logs and plugin context ids). */
uint64_t sl_stream_id(const sl_stream_t *s);
/* The connection manager's body buffer limit in bytes. */
size_t sl_stream_buffer_limit(const sl_stream_t *s);
/* True once the stream has ended (completed or reset). */
bool sl_stream_done(const sl_stream_t *s);
/* Route of the stream: resolved lazily from the current request headers; call
 * sl_stream_clear_route_cache after changing :path/:authority/headers that routing uses. */
struct sl_route;
const struct sl_route *sl_stream_route(sl_stream_t *s);
void sl_stream_clear_route_cache(sl_stream_t *s);
/* The HTTP version of the downstream request: 10 (HTTP/1.0) or 11. */
int sl_stream_http_version(const sl_stream_t *s);
/* Id of the downstream connection within its worker (Envoy's connection.id). */
uint64_t sl_stream_connection_id(const sl_stream_t *s);
/* The listener that accepted the stream's connection. */
struct sl_listener_config;
const struct sl_listener_config *sl_stream_listener(const sl_stream_t *s);

/* ---- registry -----------------------------------------------------------------------
 * Maps a filter name from the configuration (http_filters[].name, or the "@type" of its
 * typed_config) to a factory. Register on the main thread before configuration loads. */
struct sl_http_filter_config; /* from sl_config.h: one http_filters[] entry */

typedef struct sl_http_filter_factory {
    const char *name;     /* e.g. "envoy.filters.http.router" */
    const char *type_url; /* "@type" of its typed_config, or NULL */
    /* Parses the filter's configuration once per worker, on that worker's thread, before its
     * first stream (so per-thread state such as a Wasm VM replica can live in it); *out is
     * shared by the worker's streams. Returns false and writes a message to err on bad
     * configuration (the HCM then answers 500). May be NULL. */
    bool (*config_create)(const struct sl_http_filter_config *fc, void **out, char *err,
                          size_t err_len);
    void (*config_destroy)(void *config);
    /* Per stream (worker thread): set f->ops and f->ctx. Return false to fail the stream with
     * 500 (e.g. out of memory, or a plugin that cannot run). */
    bool (*create)(const void *config, sl_http_filter_t *f);
    /* True for the filter that ends a chain (the router). */
    bool terminal;
} sl_http_filter_factory_t;

/* Adds a factory (borrowed: must outlive the process). Returns false when the name is
 * taken or the registry is full. */
bool sl_filter_register(const sl_http_filter_factory_t *factory);
/* Looks a factory up by name or by type URL; NULL when unknown. */
const sl_http_filter_factory_t *sl_filter_find(const char *name);
/* Registers the built-in filters (router, add_header, wasm); idempotent and thread-safe. */
void sl_filter_register_builtins(void);

#endif
