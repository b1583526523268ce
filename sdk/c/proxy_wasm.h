/* sluice's C SDK for Proxy-Wasm plugins (ABI 0.2.1): callbacks a plugin fills in, and typed
 * wrappers around the host functions. Build with clang --target=wasm32-wasi (see README.md). */
#ifndef SLUICE_PROXY_WASM_H
#define SLUICE_PROXY_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ABI values ---------------------------------------------------------------------------- */

typedef enum {
    PWC_OK = 0, PWC_NOT_FOUND = 1, PWC_BAD_ARGUMENT = 2, PWC_SERIALIZATION_FAILURE = 3,
    PWC_PARSE_FAILURE = 4, PWC_INVALID_MEMORY_ACCESS = 6, PWC_EMPTY = 7, PWC_CAS_MISMATCH = 8,
    PWC_INTERNAL_FAILURE = 10, PWC_BROKEN_CONNECTION = 11, PWC_UNIMPLEMENTED = 12,
} pwc_result_t;

typedef enum {
    PWC_LOG_TRACE, PWC_LOG_DEBUG, PWC_LOG_INFO, PWC_LOG_WARN, PWC_LOG_ERROR, PWC_LOG_CRITICAL,
} pwc_log_level_t;

/* What a stream callback returns (FilterHeadersStatus / FilterDataStatus numbering). */
typedef enum {
    PWC_CONTINUE = 0,
    PWC_PAUSE = 1,                  /* headers/trailers/TCP: stop; body: stop and buffer */
    PWC_STOP_ALL_AND_BUFFER = 3,    /* headers only */
    PWC_STOP_ALL_AND_WATERMARK = 4, /* headers only */
} pwc_action_t;

typedef enum {
    PWC_REQUEST_HEADERS = 0, PWC_REQUEST_TRAILERS = 1, PWC_RESPONSE_HEADERS = 2,
    PWC_RESPONSE_TRAILERS = 3, PWC_HTTP_CALL_RESPONSE_HEADERS = 6,
    PWC_HTTP_CALL_RESPONSE_TRAILERS = 7,
} pwc_map_t;

typedef enum { PWC_COUNTER = 0, PWC_GAUGE = 1, PWC_HISTOGRAM = 2 } pwc_metric_type_t;

typedef enum {
    PWC_REQUEST_BODY = 0, PWC_RESPONSE_BODY = 1, PWC_DOWNSTREAM_DATA = 2, PWC_UPSTREAM_DATA = 3,
    PWC_HTTP_CALL_RESPONSE_BODY = 4, PWC_VM_CONFIGURATION = 6, PWC_PLUGIN_CONFIGURATION = 7,
} pwc_buffer_t;

typedef enum {
    PWC_STREAM_REQUEST = 0, PWC_STREAM_RESPONSE = 1, PWC_STREAM_DOWNSTREAM = 2,
    PWC_STREAM_UPSTREAM = 3,
} pwc_stream_t;

/* ---- the plugin: fill in what you need, leave the rest NULL ------------------------------
 * Define exactly one `const pwc_plugin_t pwc_plugin = {...};` in the plugin. Every id is a
 * context id; stream callbacks can find their root with pwc_root_of(). A NULL callback
 * behaves as "continue" / true. */
typedef struct pwc_plugin {
    /* Root (plugin) context. */
    bool (*on_vm_start)(uint32_t root, size_t vm_config_size);
    bool (*on_configure)(uint32_t root, size_t config_size);
    void (*on_tick)(uint32_t root);
    bool (*on_root_done)(uint32_t root);
    /* Stream context lifecycle. */
    void (*on_create)(uint32_t ctx, uint32_t root);
    void (*on_log)(uint32_t ctx);
    void (*on_done)(uint32_t ctx);
    void (*on_delete)(uint32_t ctx); /* free what pwc_set_data() holds here */
    /* HTTP. */
    pwc_action_t (*on_request_headers)(uint32_t ctx, uint32_t n_headers, bool eos);
    pwc_action_t (*on_request_body)(uint32_t ctx, size_t size, bool eos);
    pwc_action_t (*on_request_trailers)(uint32_t ctx, uint32_t n_trailers);
    pwc_action_t (*on_response_headers)(uint32_t ctx, uint32_t n_headers, bool eos);
    pwc_action_t (*on_response_body)(uint32_t ctx, size_t size, bool eos);
    pwc_action_t (*on_response_trailers)(uint32_t ctx, uint32_t n_trailers);
    /* TCP. */
    pwc_action_t (*on_new_connection)(uint32_t ctx);
    pwc_action_t (*on_downstream_data)(uint32_t ctx, size_t size, bool eos);
    pwc_action_t (*on_upstream_data)(uint32_t ctx, size_t size, bool eos);
    void (*on_downstream_close)(uint32_t ctx, int peer);
    void (*on_upstream_close)(uint32_t ctx, int peer);
    /* Root: an item is waiting on a queue this root registered (dequeue until PWC_EMPTY). */
    void (*on_queue_ready)(uint32_t root, uint32_t queue);
    /* The response of pwc_http_call(ctx, ...), delivered to the context that made the call
     * (the SDK makes it the effective context; a call whose context has ended is dropped).
     * n_headers == 0: the call failed (pwc_get_status says why). The response is readable
     * with PWC_HTTP_CALL_RESPONSE_HEADERS/_TRAILERS and PWC_HTTP_CALL_RESPONSE_BODY during
     * this callback only. */
    void (*on_http_call_response)(uint32_t ctx, uint32_t token, uint32_t n_headers,
                                  size_t body_size, uint32_t n_trailers);
} pwc_plugin_t;

extern const pwc_plugin_t pwc_plugin;

/* ---- context bookkeeping (kept by the SDK runtime) ------------------------------------------ */

uint32_t pwc_root_of(uint32_t ctx);        /* the root of a stream; a root's own id; 0 unknown */
void pwc_set_data(uint32_t ctx, void *data); /* a per-context pointer (owned by the plugin) */
void *pwc_data(uint32_t ctx);                /* NULL when unset or unknown */

/* ---- host functions ----------------------------------------------------------------------------
 * Outputs of variable size are malloc'd (through the module's allocator) and NUL-terminated
 * for convenience; the caller frees them with free(). An empty value gives *out = NULL and
 * *len = 0 with PWC_OK. */
pwc_result_t pwc_log(pwc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
pwc_result_t pwc_get_buffer(pwc_buffer_t b, size_t start, size_t max, char **out, size_t *len);
/* Replaces [start, start+size) of the buffer with data (clamped by the host). Use
 * (0, SIZE_MAX) to replace everything, (SIZE_MAX, 0) to append, (0, 0) to prepend. */
pwc_result_t pwc_set_buffer(pwc_buffer_t b, size_t start, size_t size, const void *data,
                            size_t len);
pwc_result_t pwc_get_header(pwc_map_t m, const char *key, char **out, size_t *len);
pwc_result_t pwc_add_header(pwc_map_t m, const char *key, const char *value);
/* The same with lengths: for names and values not NUL-terminated, or measured once. */
pwc_result_t pwc_add_header_n(pwc_map_t m, const char *key, size_t key_len, const char *value,
                              size_t value_len);
pwc_result_t pwc_replace_header(pwc_map_t m, const char *key, const char *value);
pwc_result_t pwc_remove_header(pwc_map_t m, const char *key);

typedef struct pwc_header {
    const char *key, *value; /* NUL-terminated, pointing into the pairs buffer */
    size_t key_len, value_len;
} pwc_header_t;
/* All entries of a map: *h is a malloc'd array of *n entries whose strings live in the same
 * allocation (one free(*h) frees all). */
pwc_result_t pwc_get_headers(pwc_map_t m, pwc_header_t **h, size_t *n);
pwc_result_t pwc_set_headers(pwc_map_t m, const pwc_header_t *h, size_t n);

/* Property paths are dotted here ("request.path", "source.address") and sent with 0x00
 * separators as the ABI wants. */
pwc_result_t pwc_get_property(const char *dotted_path, char **out, size_t *len);
pwc_result_t pwc_set_property(const char *dotted_path, const void *value, size_t len);

/* Local reply; headers may be NULL. grpc_status -1 = not gRPC. */
pwc_result_t pwc_send_local_response(uint32_t status, const char *details, const void *body,
                                     size_t body_len, const pwc_header_t *headers, size_t n,
                                     int32_t grpc_status);
pwc_result_t pwc_continue_stream(pwc_stream_t s);
pwc_result_t pwc_close_stream(pwc_stream_t s);
pwc_result_t pwc_set_effective_context(uint32_t ctx);
pwc_result_t pwc_set_tick_period_ms(uint32_t ms);
uint64_t pwc_now_ns(void); /* wall clock from the host (0 on failure) */

/* Shared data (process-wide, per vm_id): the value (malloc'd, NUL-added) and its version.
 * Set with cas 0 always succeeds; a non-zero cas must equal the current version or
 * PWC_CAS_MISMATCH comes back (then get again and retry). PWC_NOT_FOUND when absent. */
pwc_result_t pwc_get_shared_data(const char *key, char **out, size_t *len, uint32_t *cas);
pwc_result_t pwc_set_shared_data(const char *key, const void *value, size_t len, uint32_t cas);

/* Shared queues: a root registers (and receives on_queue_ready); anyone resolves (vm_id ""
 * = this VM's) and enqueues; the registering VM dequeues (PWC_EMPTY when none). */
pwc_result_t pwc_register_queue(const char *name, uint32_t *queue);
pwc_result_t pwc_resolve_queue(const char *vm_id, const char *name, uint32_t *queue);
pwc_result_t pwc_enqueue(uint32_t queue, const void *data, size_t len);
pwc_result_t pwc_dequeue(uint32_t queue, char **out, size_t *len);

/* Metrics, shared by name across every VM and thread (the proxy shows "wasmcustom.NAME"). */
pwc_result_t pwc_define_metric(pwc_metric_type_t type, const char *name, uint32_t *id);
pwc_result_t pwc_increment_metric(uint32_t id, int64_t offset); /* counters: offset > 0 */
pwc_result_t pwc_record_metric(uint32_t id, uint64_t value); /* counter +=, gauge =, sample */
pwc_result_t pwc_get_metric(uint32_t id, uint64_t *value);

/* HTTP callout to a cluster; headers must include :method, :path and :authority. ctx is
 * the calling context (stream or root): the response goes to on_http_call_response(ctx,
 * ...). timeout_ms 0 = none. PWC_BAD_ARGUMENT for an unknown cluster or missing headers. */
pwc_result_t pwc_http_call(uint32_t ctx, const char *cluster, const pwc_header_t *headers,
                           size_t n_headers, const void *body, size_t body_len,
                           const pwc_header_t *trailers, size_t n_trailers,
                           uint32_t timeout_ms, uint32_t *token);
/* Status of the last callout: (0, "") or (PWC_BROKEN_CONNECTION, "reset") after a failure. */
pwc_result_t pwc_get_status(uint32_t *code, char **msg, size_t *len);

/* Parses a little-endian 8-byte integer property value (e.g. "source.port"). */
bool pwc_property_int(const char *bytes, size_t len, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
