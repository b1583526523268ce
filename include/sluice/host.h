/* sluice's Proxy-Wasm host: loads plugins (ABI 0.1.0 / 0.2.0 / 0.2.1), runs one VM replica
 * per VM key per thread, and drives root and stream contexts for the proxy's filters. */
#ifndef SLUICE_HOST_H
#define SLUICE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/wasm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- host status codes (what the proxy sees) ------------------------------------------- */

#define PW_STATUS_LIST(X)                                                                    \
    X(PW_OK, "ok")                                                                           \
    X(PW_ERR_LOAD, "module does not load")      /* decode/validate/compile failed */         \
    X(PW_ERR_ABI, "missing or unknown Proxy-Wasm ABI version")                               \
    X(PW_ERR_LINK, "unlinkable module")         /* an import sluice does not provide */      \
    X(PW_ERR_EXPORT, "bad export")              /* callback with a wrong signature */        \
    X(PW_ERR_START, "VM start failed")          /* _initialize/_start/on_vm_start failed */  \
    X(PW_ERR_CONFIGURE, "plugin configuration rejected")                                     \
    X(PW_ERR_TRAP, "plugin trapped")                                                         \
    X(PW_ERR_BROKEN, "VM replica is broken")                                                 \
    X(PW_ERR_NOMEM, "out of memory")                                                         \
    X(PW_ERR_ARG, "bad argument")

typedef enum {
#define PW_X_(name, str) name,
    PW_STATUS_LIST(PW_X_)
#undef PW_X_
} pw_status_t;

const char *pw_status_str(pw_status_t s);

/* What failed and why, for configuration errors and logs. */
typedef struct pw_error {
    pw_status_t status;
    char message[320]; /* e.g. "import env.proxy_foo: not provided by sluice" */
} pw_error_t;

/* ---- the ABI's own enumerations (numeric values are the ABI's) -------------------------- */

/* WasmResult: what hostcalls return to the guest, and what the proxy's ops return. */
#define PW_RESULT_LIST(X)                                                                    \
    X(PW_R_OK, 0, "Ok")                                                                      \
    X(PW_R_NOT_FOUND, 1, "NotFound")                                                         \
    X(PW_R_BAD_ARGUMENT, 2, "BadArgument")                                                   \
    X(PW_R_SERIALIZATION_FAILURE, 3, "SerializationFailure")                                 \
    X(PW_R_PARSE_FAILURE, 4, "ParseFailure")                                                 \
    X(PW_R_BAD_EXPRESSION, 5, "BadExpression")                                               \
    X(PW_R_INVALID_MEMORY_ACCESS, 6, "InvalidMemoryAccess")                                  \
    X(PW_R_EMPTY, 7, "Empty")                                                                \
    X(PW_R_CAS_MISMATCH, 8, "CasMismatch")                                                   \
    X(PW_R_RESULT_MISMATCH, 9, "ResultMismatch")                                             \
    X(PW_R_INTERNAL_FAILURE, 10, "InternalFailure")                                          \
    X(PW_R_BROKEN_CONNECTION, 11, "BrokenConnection")                                        \
    X(PW_R_UNIMPLEMENTED, 12, "Unimplemented")

typedef enum {
#define PW_X_(name, val, str) name = val,
    PW_RESULT_LIST(PW_X_)
#undef PW_X_
} pw_result_t;

const char *pw_result_str(pw_result_t r);

typedef enum {
    PW_LOG_TRACE = 0,
    PW_LOG_DEBUG = 1,
    PW_LOG_INFO = 2,
    PW_LOG_WARN = 3,
    PW_LOG_ERROR = 4,
    PW_LOG_CRITICAL = 5,
    PW_LOG_OFF = 6,
} pw_log_level_t;

typedef enum {
    PW_ABI_UNKNOWN = 0,
    PW_ABI_0_1_0,
    PW_ABI_0_2_0,
    PW_ABI_0_2_1,
} pw_abi_t;

typedef enum {
    PW_MAP_REQUEST_HEADERS = 0,
    PW_MAP_REQUEST_TRAILERS = 1,
    PW_MAP_RESPONSE_HEADERS = 2,
    PW_MAP_RESPONSE_TRAILERS = 3,
    PW_MAP_GRPC_INITIAL_METADATA = 4,
    PW_MAP_GRPC_TRAILING_METADATA = 5,
    PW_MAP_HTTP_CALL_RESPONSE_HEADERS = 6,
    PW_MAP_HTTP_CALL_RESPONSE_TRAILERS = 7,
} pw_map_type_t;

typedef enum {
    PW_BUFFER_REQUEST_BODY = 0,
    PW_BUFFER_RESPONSE_BODY = 1,
    PW_BUFFER_DOWNSTREAM_DATA = 2,
    PW_BUFFER_UPSTREAM_DATA = 3,
    PW_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
    PW_BUFFER_GRPC_RECEIVE = 5,
    PW_BUFFER_VM_CONFIGURATION = 6,
    PW_BUFFER_PLUGIN_CONFIGURATION = 7,
    PW_BUFFER_CALL_DATA = 8,
} pw_buffer_type_t;

typedef enum {
    PW_STREAM_REQUEST = 0,   /* HTTP request direction */
    PW_STREAM_RESPONSE = 1,  /* HTTP response direction */
    PW_STREAM_DOWNSTREAM = 2,/* TCP: client side */
    PW_STREAM_UPSTREAM = 3,  /* TCP: upstream side */
} pw_stream_type_t;

typedef enum { PW_PEER_UNKNOWN = 0, PW_PEER_LOCAL = 1, PW_PEER_REMOTE = 2 } pw_peer_t;

/* ---- actions: what a stream callback tells the proxy's filter ----------------------------
 * The raw i32 a plugin returns is converted as Envoy does (ABI reference section 8). */
typedef enum {
    PW_CONTINUE = 0,
    /* headers: hold only the headers (only with allow_on_headers_stop_iteration);
     * trailers / TCP data: stop iteration. */
    PW_STOP_ITERATION,
    /* headers: hold headers and everything after them; buffer arriving body without flow
     * control (subject to the connection manager's limit); no body callbacks until resumed. */
    PW_STOP_ALL_BUFFER,
    /* headers: as above, with flow control (watermarks). The default for a plugin's 1. */
    PW_STOP_ALL_WATERMARK,
    /* body: keep this chunk buffered; the next body callback reports the total size. */
    PW_STOP_AND_BUFFER,
    /* body: as above with flow control. */
    PW_STOP_AND_WATERMARK,
    /* body: do not forward, do not buffer beyond the current chunk. */
    PW_STOP_NO_BUFFER,
} pw_action_t;

const char *pw_action_str(pw_action_t a);

/* ---- byte slices and headers -------------------------------------------------------------- */

typedef struct pw_slice {
    const uint8_t *ptr; /* borrowed; valid as documented by whoever hands it out */
    size_t len;
} pw_slice_t;

typedef struct pw_header {
    pw_slice_t key;   /* lower-case for anything the host passes to the proxy */
    pw_slice_t value;
} pw_header_t;

/* Attributes the host asks the proxy for when a plugin reads a property (ABI section 10).
 * The host parses paths, knows the plugin_* and configuration attributes itself, serializes
 * values in Envoy's encodings, and resolves request.headers.* through the map ops. */
typedef enum {
    PW_ATTR_REQUEST_PATH,        /* string: path with query */
    PW_ATTR_REQUEST_URL_PATH,    /* string: path without query */
    PW_ATTR_REQUEST_HOST,        /* string */
    PW_ATTR_REQUEST_SCHEME,      /* string */
    PW_ATTR_REQUEST_METHOD,      /* string */
    PW_ATTR_REQUEST_REFERER,     /* string */
    PW_ATTR_REQUEST_USERAGENT,   /* string */
    PW_ATTR_REQUEST_ID,          /* string (x-request-id) */
    PW_ATTR_REQUEST_PROTOCOL,    /* string: "HTTP/1.1", "HTTP/2" */
    PW_ATTR_REQUEST_QUERY,       /* string without '?' */
    PW_ATTR_REQUEST_TIME,        /* timestamp (int64 ns since epoch) */
    PW_ATTR_REQUEST_DURATION,    /* duration (int64 ns) */
    PW_ATTR_REQUEST_SIZE,        /* int */
    PW_ATTR_REQUEST_TOTAL_SIZE,  /* int */
    PW_ATTR_RESPONSE_CODE,       /* int */
    PW_ATTR_RESPONSE_CODE_DETAILS, /* string */
    PW_ATTR_RESPONSE_FLAGS,      /* int */
    PW_ATTR_RESPONSE_GRPC_STATUS,/* int */
    PW_ATTR_RESPONSE_SIZE,       /* int */
    PW_ATTR_RESPONSE_TOTAL_SIZE, /* int */
    PW_ATTR_SOURCE_ADDRESS,      /* string "ip:port" */
    PW_ATTR_SOURCE_PORT,         /* int */
    PW_ATTR_DESTINATION_ADDRESS, /* string "ip:port" */
    PW_ATTR_DESTINATION_PORT,    /* int */
    PW_ATTR_CONNECTION_ID,       /* uint */
    PW_ATTR_CONNECTION_MTLS,     /* bool */
    PW_ATTR_CONNECTION_SNI,      /* string: connection.requested_server_name */
    PW_ATTR_CONNECTION_TLS_VERSION, /* string */
    PW_ATTR_UPSTREAM_ADDRESS,    /* string "ip:port" */
    PW_ATTR_UPSTREAM_PORT,       /* int */
    PW_ATTR_UPSTREAM_LOCAL_ADDRESS, /* string */
    PW_ATTR_CLUSTER_NAME,        /* string: xds.cluster_name / cluster_name */
    PW_ATTR_ROUTE_NAME,          /* string: xds.route_name / route_name */
    PW_ATTR_LISTENER_DIRECTION,  /* int: 0 unspecified, 1 inbound, 2 outbound */
    PW_ATTR_NODE_ID,             /* string: xds.node.id / node.id */
    PW_ATTR_NODE_CLUSTER,        /* string: xds.node.cluster / node.cluster */
    PW_ATTR__COUNT
} pw_attr_t;

typedef enum { PW_VAL_STRING, PW_VAL_INT, PW_VAL_UINT, PW_VAL_BOOL, PW_VAL_DOUBLE } pw_val_kind_t;

/* One attribute value from the proxy. `str` is borrowed and must stay valid until the
 * attribute callback's caller returns (the host copies it into guest memory at once). */
typedef struct pw_attr_value {
    pw_val_kind_t kind;
    union {
        pw_slice_t str;
        int64_t i;  /* INT, and timestamps/durations in ns */
        uint64_t u;
        bool b;
        double d;
    } u;
} pw_attr_value_t;

/* ---- the interface the proxy implements for one stream or connection (pw_stream_ops_t) ---
 * `s` is the proxy's stream pointer given to pw_stream_new. Every function is called on the
 * stream's thread, never while guest code is on the stack, except the map, buffer and
 * attribute accessors, which a hostcall uses synchronously. Returns are WasmResult values
 * the host passes to the plugin (OK, NOT_FOUND, BAD_ARGUMENT as the ABI reference 5.5-5.7
 * describes). A NULL entry means "not available": maps -> BAD_ARGUMENT, buffers ->
 * NOT_FOUND, attributes -> NOT_FOUND, actions -> ignored.
 * An op may run other events of the same stream (a local reply flowing through
 * pw_stream_on_response_headers, say), but must not call pw_stream_free on it: defer the
 * free to the event loop. */
typedef struct pw_stream_ops {
    /* Header maps 0..3. Key lookups are case-insensitive; the host always passes lower-case
     * keys. An unavailable map (e.g. response headers during the request phase) returns
     * BAD_ARGUMENT; a read-only one (during on_log) returns BAD_ARGUMENT from writers. */
    pw_result_t (*map_count)(void *s, pw_map_type_t map, uint32_t *count);
    /* Entry i (0 <= i < count) in order; slices valid until the map changes. */
    pw_result_t (*map_entry)(void *s, pw_map_type_t map, uint32_t i, pw_header_t *out);
    /* First value of key, or NOT_FOUND. Slice valid until the map changes. */
    pw_result_t (*map_get)(void *s, pw_map_type_t map, pw_slice_t key, pw_slice_t *value);
    pw_result_t (*map_add)(void *s, pw_map_type_t map, pw_slice_t key, pw_slice_t value);
    pw_result_t (*map_replace)(void *s, pw_map_type_t map, pw_slice_t key, pw_slice_t value);
    pw_result_t (*map_remove)(void *s, pw_map_type_t map, pw_slice_t key); /* OK if absent */
    /* Replaces the whole map (proxy_set_header_map_pairs); trailers may be created here. */
    pw_result_t (*map_set_all)(void *s, pw_map_type_t map, const pw_header_t *h, size_t n);

    /* Buffers 0..3 (request/response body as currently buffered by the filter, TCP data).
     * size: bytes available now, NOT_FOUND if the buffer is not available. copy: copies
     * [start, start+len) (already clamped by the host) to dst. splice: replaces
     * [start, start+remove_len) (clamped) with data; the proxy fixes framing
     * (content-length / chunked) for modified bodies. */
    pw_result_t (*buffer_size)(void *s, pw_buffer_type_t b, size_t *len);
    pw_result_t (*buffer_copy)(void *s, pw_buffer_type_t b, size_t start, size_t len,
                               uint8_t *dst);
    pw_result_t (*buffer_splice)(void *s, pw_buffer_type_t b, size_t start, size_t remove_len,
                                 pw_slice_t data);

    /* Attributes for properties; NOT_FOUND when unknown or not available now. */
    pw_result_t (*attr_get)(void *s, pw_attr_t attr, pw_attr_value_t *out);

    /* Deferred actions, called after the guest callback returned (never re-entrantly).
     * send_local_reply: reply to the client instead of forwarding; headers are lower-case;
     * grpc_status < 0 means "not gRPC". All slices are valid only during the call. The host
     * already turned the callback's action into the "stop" value for its phase. */
    void (*send_local_reply)(void *s, uint32_t status_code, pw_slice_t details, pw_slice_t body,
                             const pw_header_t *headers, size_t n_headers, int32_t grpc_status);
    /* Resume a direction the filter paused earlier. The host drops a continue for the
     * direction whose callback is returning (it turns that callback's action into
     * PW_CONTINUE instead), so the proxy only sees continues for paused directions. */
    void (*continue_stream)(void *s, pw_stream_type_t dir);
    /* HTTP: reset the stream; TCP: close that side after flushing writes. */
    void (*close_stream)(void *s, pw_stream_type_t dir);
} pw_stream_ops_t;

/* ---- HTTP callouts (proxy_http_call, ABI 5.9) ---------------------------------------------- */

/* A callout the host asks the proxy to send. Every slice and array is borrowed from guest
 * memory or host scratch and valid only during pw_dispatch_ops_t.http_call: copy what you
 * keep. Header names are lower-case; the host has checked that :method, :path and
 * (:authority or host) are present. */
typedef struct pw_http_call {
    pw_slice_t cluster;         /* upstream cluster name, as the plugin gave it */
    const pw_header_t *headers; /* including the pseudo-headers */
    size_t n_headers;
    pw_slice_t body;            /* may be empty; the proxy sets content-length when not */
    const pw_header_t *trailers;
    size_t n_trailers;
    uint32_t timeout_ms;        /* 0 = no timeout */
} pw_http_call_t;

/* A callout's response, borrowed for the duration of pw_thread_http_call_done. */
typedef struct pw_http_response {
    const pw_header_t *headers; /* lower-case names, ":status" included */
    size_t n_headers;
    pw_slice_t body;
    const pw_header_t *trailers;
    size_t n_trailers;
} pw_http_response_t;

/* ---- the per-thread interface the proxy implements (pw_dispatch_ops_t) --------------------
 * Asynchronous work of root contexts on one thread. Entries may be NULL: the hostcalls that
 * need them then return the ABI's UNIMPLEMENTED status to the plugin (queue_notify NULL: the
 * proxy must call pw_thread_dispatch_queues by other means). New entries are only ever added
 * at the end. */
typedef struct pw_root pw_root_t;
typedef struct pw_dispatch_ops {
    /* Log sink for plugin and host messages. `who` names plugin/root/vm ("name root_id
     * vm_id"); NULL ud-less default writes to stderr. */
    void (*log)(void *ud, pw_log_level_t level, const char *who, const char *msg, size_t len);
    /* Arms (period_ms > 0) or stops (0) the tick timer of `root`; the proxy's loop then
     * calls pw_root_on_tick(root) every period, measured from the end of the previous tick.
     * One timer per root context; a new period replaces the old one. The host stops the
     * timer (period 0) before the root goes away, including when its VM breaks. */
    void (*timer_set)(void *ud, pw_root_t *root, uint32_t period_ms);
    /* Called from ANY thread (the one enqueuing) when a queue owned by this thread has new
     * items: wake this thread's loop (uv_async_send) which then calls
     * pw_thread_dispatch_queues. Wake-ups may be coalesced; no item is lost. Must be
     * callable until pw_thread_free returns; must not call back into the host. */
    void (*queue_notify)(void *ud);
    /* Starts an HTTP callout (see pw_http_call_t) identified by `token` (unique on this
     * thread while outstanding). Returns OK, BAD_ARGUMENT for an unknown cluster (the
     * plugin sees it), or INTERNAL_FAILURE if the request cannot start. After OK the proxy
     * calls pw_thread_http_call_done(t, token, ...) exactly once, later, from its loop
     * (never from inside this op), unless http_call_cancel came first. Envoy reports a
     * timeout as a locally generated 504 response and a connect failure as 503; a reset
     * before a response is a failure (resp NULL). */
    pw_result_t (*http_call)(void *ud, const pw_http_call_t *req, uint32_t token);
    /* Abandons an outstanding callout (its root context is ending, or its VM broke): no
     * pw_thread_http_call_done may follow for this token. */
    void (*http_call_cancel)(void *ud, uint32_t token);
    /* Called after a callback that ran long enough for the engine to read the clock (a few
     * thousand loop iterations or calls; a trap on the deadline is one): an event loop that
     * caches the time per iteration should refresh it, or timers it arms next would count
     * from before the callback and fire early. May be NULL. Never called for short calls. */
    void (*clock_moved)(void *ud);
} pw_dispatch_ops_t;

/* ---- hostcalls without machinery ------------------------------------------------------------
 * Every import is linked (a module using them loads). These answer with the ABI's statuses
 * instead of pretending to work:
 *   UNIMPLEMENTED (12): proxy_grpc_call, proxy_grpc_stream; proxy_http_call when
 *     pw_dispatch_ops_t.http_call is NULL; proxy_set_tick_period_milliseconds when
 *     timer_set is NULL;
 *   NOT_FOUND (1): proxy_grpc_send/cancel/close (no gRPC stream can exist),
 *     proxy_call_foreign_function (sluice registers no foreign functions).
 * Bad pointers still give INVALID_MEMORY_ACCESS first. Shared data, shared queues, metrics,
 * ticks and HTTP callouts work as described below and in docs/host-async.md. */

/* ---- compiled code (process-wide, immutable, atomically refcounted) ------------------------ */

typedef struct pw_code pw_code_t;

/* Decodes, validates and compiles `bytes` (copied), detects the ABI version from the
 * exports (rejects modules without one) and checks that every import is one sluice provides
 * with the exact type (error names the import) and every callback export has its type.
 * Thread-safe result; one reference in *out. */
pw_status_t pw_code_load(const uint8_t *bytes, size_t len, pw_code_t **out, pw_error_t *err);
pw_code_t *pw_code_ref(pw_code_t *c);
void pw_code_unref(pw_code_t *c); /* NULL is a no-op */
pw_abi_t pw_code_abi(const pw_code_t *c);
const uint8_t *pw_code_sha256(const pw_code_t *c); /* 32 bytes */

/* ---- plugins (process-wide, immutable, atomically refcounted) ------------------------------ */

typedef struct pw_env_var {
    const char *key;   /* copied */
    const char *value; /* copied */
} pw_env_var_t;

/* Everything Envoy's PluginConfig + VmConfig say about one filter instance. All pointers
 * are borrowed for the duration of pw_plugin_new, which copies them. */
typedef struct pw_plugin_config {
    const char *name;    /* PluginConfig.name; "" if absent */
    const char *root_id; /* "" if absent */
    const char *vm_id;   /* "" if absent */
    const char *runtime; /* "sluice.wasm.runtime.interp" or an alias; NULL = default */
    pw_slice_t vm_configuration;     /* buffer 6 */
    pw_slice_t plugin_configuration; /* buffer 7 */
    const pw_env_var_t *env;         /* WASI environment (vm_config.environment_variables) */
    size_t n_env;
    bool fail_open;                       /* true: skip the plugin on failure, else 503 */
    bool allow_on_headers_stop_iteration; /* see pw_action_t */
    uint32_t deadline_ms;       /* per-callback deadline; 0 = 100 ms */
    uint64_t max_memory_bytes;  /* linear memory cap per VM replica; 0 = 4 GiB */
    pw_log_level_t log_level;   /* threshold for plugin logs; what proxy_get_log_level says */
    uint32_t queue_max_items;   /* capacity of the shared queues this plugin registers;
                                   0 = the process default (pw_shared_queue_set_capacity) */
} pw_plugin_config_t;

typedef struct pw_plugin pw_plugin_t;

/* Takes a reference on `code`. The VM key is vm_id + runtime + vm configuration + code hash. */
pw_status_t pw_plugin_new(const pw_plugin_config_t *cfg, pw_code_t *code, pw_plugin_t **out,
                          pw_error_t *err);
pw_plugin_t *pw_plugin_ref(pw_plugin_t *p);
void pw_plugin_unref(pw_plugin_t *p); /* NULL is a no-op */
const char *pw_plugin_name(const pw_plugin_t *p);
bool pw_plugin_fail_open(const pw_plugin_t *p);

/* ---- per-thread host state ------------------------------------------------------------------
 * One per worker thread (and one for the main thread). Owns that thread's VM replicas (one
 * per VM key, created lazily) and root contexts (one per plugin per replica). Not
 * thread-safe: use only on its thread. */
typedef struct pw_thread pw_thread_t;

/* ops is borrowed (must outlive the thread state); ud is passed back to every op. */
pw_thread_t *pw_thread_new(const pw_dispatch_ops_t *ops, void *ud);
/* Calls proxy_on_done/proxy_on_delete on live roots and frees every replica. Every stream of
 * this thread must have been freed first. */
void pw_thread_free(pw_thread_t *t);

/* Creates (if needed) this thread's VM replica for the plugin and its root context, running
 * _initialize/_start, proxy_on_vm_start and proxy_on_configure. Call at config load to fail
 * early; pw_stream_new does it lazily. A failure is remembered: new attempts are refused for
 * one second (PW_ERR_BROKEN) so a crashing plugin cannot make every request rebuild it. */
pw_status_t pw_thread_prepare(pw_thread_t *t, pw_plugin_t *p, pw_error_t *err);

/* Root context timers: the proxy's loop calls this when a timer armed by
 * pw_dispatch_ops_t.timer_set fires. */
void pw_root_on_tick(pw_root_t *root);

/* Ends the plugin's root context on this thread (proxy_on_done, proxy_on_delete), stopping
 * its timer and cancelling its callouts; its queues keep their items for a later
 * registration. For a bootstrap service being removed or reconfigured. No-op when the
 * plugin has no root here. Streams of the plugin must have been freed first. */
void pw_thread_release(pw_thread_t *t, pw_plugin_t *p);

/* Shared-queue wake-up (see pw_dispatch_ops_t.queue_notify): on this thread, calls
 * proxy_on_queue_ready(root, queue) for every queue this thread's roots registered that has
 * items, once per enqueue announced since the last call while items remain, at most 1024
 * per queue per call (then it re-notifies itself so the loop stays responsive). */
void pw_thread_dispatch_queues(pw_thread_t *t);

/* Completion of a callout started by pw_dispatch_ops_t.http_call, on this thread, from the
 * loop. resp NULL = failure (reset, no response): the plugin gets
 * proxy_on_http_call_response(root, token, 0, 0, 0) and proxy_get_status says
 * (BROKEN_CONNECTION 11, "reset"), as Envoy does. Otherwise maps 6/7 and buffer 4 are the
 * response's during the callback. Delivered to the ROOT context id (ABI 7.5); the SDKs
 * then select the calling stream with proxy_set_effective_context. Unknown or cancelled
 * tokens, and tokens whose root ended, are dropped. */
void pw_thread_http_call_done(pw_thread_t *t, uint32_t token, const pw_http_response_t *resp);

/* Bootstrap services (envoy.bootstrap.wasm): a pw_thread for the main thread with no
 * streams is enough. pw_thread_prepare(main, plugin) creates the VM and the root context
 * (vm_start, configure); ticks, queues and callouts then run through the main thread's
 * dispatch ops. singleton: false means one pw_thread_prepare per worker thread. If the
 * service's VM breaks (trap), its timer is stopped and its callouts cancelled; calling
 * pw_thread_prepare again (after its one-second back-off) starts a fresh replica. */
bool pw_thread_has_root(const pw_thread_t *t, const pw_plugin_t *p);

/* Measurements for tests and benchmarks. */
typedef struct pw_thread_stats {
    uint32_t vms_live;     /* replicas currently alive on this thread */
    uint32_t vms_created;  /* replicas created since pw_thread_new */
    uint32_t vms_broken;   /* replicas marked broken (trap, deadline, memory limit) */
    uint32_t streams_live;
} pw_thread_stats_t;
void pw_thread_stats(const pw_thread_t *t, pw_thread_stats_t *out);

/* ---- stream contexts: one per HTTP stream or TCP connection ---------------------------------
 * The proxy's Wasm filter creates one per stream and calls the event functions in the order
 * the ABI reference (section 7.3 / 7.4) gives. Each event function returns the action for the
 * proxy's filter chain. Failure handling is inside: if the plugin traps, exceeds its deadline
 * or memory limit (or its VM could not be created), the replica is marked broken (replaced
 * for new streams), one error line names plugin, root id, callback and trap, and then
 *   - fail_open: the stream continues without the plugin (every later event: PW_CONTINUE);
 *   - otherwise: HTTP streams get ops->send_local_reply(503, "wasm_fail_stream") and TCP
 *     connections ops->close_stream(DOWNSTREAM), once, and the event returns "stop".
 * Deferred plugin actions (local reply, continue, close) run through `ops` after the guest
 * callback returned and before the event function returns. */
typedef struct pw_stream pw_stream_t;

typedef enum { PW_KIND_HTTP, PW_KIND_TCP } pw_stream_kind_t;

/* Never fails for plugin reasons (a stream on an unavailable VM is created failed, see
 * above); returns NULL only when out of memory. ops must outlive the stream; s is passed
 * back to every op. The context (proxy_on_context_create) is created at the first event. */
pw_stream_t *pw_stream_new(pw_thread_t *t, pw_plugin_t *p, pw_stream_kind_t kind,
                           const pw_stream_ops_t *ops, void *s);
/* Ends the context and frees the stream: HTTP runs proxy_on_log (if pw_stream_on_log was
 * not called), proxy_on_done, proxy_on_delete; TCP runs proxy_on_done, proxy_on_log,
 * proxy_on_delete (ABI 7.3 / 7.4). Safe at any point (client reset, upstream failure, local
 * reply). The stream's ops (maps, read-only) must still work until it returns. */
void pw_stream_free(pw_stream_t *st);
bool pw_stream_failed(const pw_stream_t *st); /* the plugin failed on this stream */
uint32_t pw_stream_context_id(const pw_stream_t *st);

/* HTTP events (ABI 7.3). Counts are the number of header entries; sizes are the bytes
 * currently in the filter's buffer for that direction. */
pw_action_t pw_stream_on_request_headers(pw_stream_t *st, uint32_t n_headers, bool eos);
pw_action_t pw_stream_on_request_body(pw_stream_t *st, size_t size, bool eos);
pw_action_t pw_stream_on_request_trailers(pw_stream_t *st, uint32_t n_trailers);
pw_action_t pw_stream_on_response_headers(pw_stream_t *st, uint32_t n_headers, bool eos);
pw_action_t pw_stream_on_response_body(pw_stream_t *st, size_t size, bool eos);
pw_action_t pw_stream_on_response_trailers(pw_stream_t *st, uint32_t n_trailers);
/* Access-log phase (HTTP): proxy_on_log with the maps readable (read-only); then
 * pw_stream_free runs proxy_on_done and proxy_on_delete. Ignored for TCP. */
void pw_stream_on_log(pw_stream_t *st);

/* TCP events (ABI 7.4): the order is new_connection, data (both sides interleaved),
 * closes, then pw_stream_free (done, log, delete). */
pw_action_t pw_stream_on_new_connection(pw_stream_t *st);
pw_action_t pw_stream_on_downstream_data(pw_stream_t *st, size_t size, bool eos);
pw_action_t pw_stream_on_upstream_data(pw_stream_t *st, size_t size, bool eos);
void pw_stream_on_downstream_close(pw_stream_t *st, pw_peer_t peer);
void pw_stream_on_upstream_close(pw_stream_t *st, pw_peer_t peer);

/* ---- shared data (ABI 5.11), process-wide ---------------------------------------------------
 * Keyed by (vm_id, key); shared by every VM with that vm_id on every thread; kept for the
 * life of the process (values survive VM replica replacement). Each key has a version: 1 on
 * its first set, +1 on every set. Thread-safe: 64 shards, one mutex each. */

/* Copies the value into *buf (grown with realloc when *cap is too small; the caller frees
 * it) and its version into *cas. NOT_FOUND when absent, INTERNAL_FAILURE out of memory. */
pw_result_t pw_shared_data_get(pw_slice_t vm_id, pw_slice_t key, uint8_t **buf, size_t *cap,
                               size_t *len, uint32_t *cas);
/* Stores value (copied). cas 0: unconditional; otherwise CAS_MISMATCH unless it equals the
 * key's current version. A missing key is created whatever cas says (ABI 5.11). */
pw_result_t pw_shared_data_set(pw_slice_t vm_id, pw_slice_t key, pw_slice_t value,
                               uint32_t cas);

/* ---- shared queues (ABI 5.12), process-wide ---------------------------------------------------
 * Registered by a root context with proxy_register_shared_queue (the last registration
 * wins), found by (vm_id, name), fed from any thread, drained by the registering VM key. */

/* Maximum items per queue (default and 0: 10000). An enqueue on a full queue returns
 * NOT_FOUND to the plugin (the only non-OK status the Rust SDK does not turn into a trap)
 * and logs one warning per full episode. */
void pw_shared_queue_set_capacity(uint32_t max_items);
pw_result_t pw_shared_queue_resolve(pw_slice_t vm_id, pw_slice_t name, uint32_t *token);
/* As proxy_enqueue_shared_queue, from any thread: OK, NOT_FOUND (unknown or full). */
pw_result_t pw_shared_queue_enqueue(uint32_t token, pw_slice_t value);
uint32_t pw_shared_queue_size(uint32_t token); /* items waiting; 0 for unknown tokens */

/* ---- metrics (ABI 5.13), process-wide -----------------------------------------------------------
 * Defined by name from any VM; one statistic per (type, name) shared by every thread. Envoy
 * stores a plugin's metric "x" as "wasmcustom.x": /stats prints it so, and
 * /stats/prometheus strips the namespace (prints "x", no "envoy_" prefix, with characters
 * outside [a-zA-Z0-9_:] replaced by '_'). Counters and histograms are u64; gauges are u64
 * holding a two's-complement int64 (increments may be negative). */
typedef enum {
    PW_METRIC_COUNTER = 0,
    PW_METRIC_GAUGE = 1,
    PW_METRIC_HISTOGRAM = 2,
} pw_metric_type_t;

#define PW_METRIC_NAMESPACE "wasmcustom."
#define PW_HISTOGRAM_BUCKETS 19 /* Envoy's default bounds: 0.5, 1, 5, ... 3600000 */

typedef struct pw_metric_info {
    const char *name;       /* as defined by the plugin (no namespace); valid for the process */
    pw_metric_type_t type;
    uint64_t value;         /* counter, gauge; histogram: sum of samples */
    uint64_t count;         /* histogram: number of samples */
    uint64_t sum;           /* histogram: sum of samples */
    const double *bounds;   /* PW_HISTOGRAM_BUCKETS upper bounds ("le") */
    uint64_t cumulative[PW_HISTOGRAM_BUCKETS]; /* histogram: samples <= bounds[i] */
} pw_metric_info_t;
typedef void (*pw_metric_cb_t)(void *ud, const pw_metric_info_t *m);

/* Calls cb for every metric, in definition order, from the caller's thread (values are
 * read atomically; a histogram's fields may be a sample apart). */
void pw_metrics_foreach(pw_metric_cb_t cb, void *ud);
const double *pw_histogram_bounds(void);
/* The Prometheus name Envoy prints for a plugin metric: the name without namespace, every
 * character outside [a-zA-Z0-9_:] replaced by '_', and a leading '_' added if it would start
 * with a digit. Writes at most cap-1 bytes plus a NUL; returns the full length. */
size_t pw_metric_prometheus_name(const char *name, char *out, size_t cap);
/* The hostcalls' machinery, usable by the proxy and tests: ids as the plugin sees them.
 * define: BAD_ARGUMENT for a type > 2. increment: counters need offset > 0, histograms
 * -> BAD_ARGUMENT. record: counter adds, gauge sets, histogram samples. get: histogram ->
 * BAD_ARGUMENT. Unknown ids -> NOT_FOUND. */
pw_result_t pw_metric_define(pw_metric_type_t type, pw_slice_t name, uint32_t *id);
pw_result_t pw_metric_increment(uint32_t id, int64_t offset);
pw_result_t pw_metric_record(uint32_t id, uint64_t value);
pw_result_t pw_metric_get(uint32_t id, uint64_t *value);

/* ---- runtime names -------------------------------------------------------------------------- */

/* True for "sluice.wasm.runtime.interp" (also NULL/"") and Envoy's runtime names
 * (envoy.wasm.runtime.v8/wamr/wasmtime/wavm), which run on the interpreter; *alias is set
 * for Envoy's names so the proxy can log one info line. */
bool pw_runtime_supported(const char *runtime, bool *alias);

#ifdef __cplusplus
}
#endif
#endif
