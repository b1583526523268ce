/* Private structures of the Proxy-Wasm host shared by the host sources: code, plugins, per-thread
 * VM replicas, root and stream contexts, and the helpers hostcalls use to touch guest memory. */
#ifndef SLUICE_PW_INTERNAL_H
#define SLUICE_PW_INTERNAL_H

#include "sluice/host.h"
#include "sluice/wasi.h"
#include "sluice/wasm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* Callbacks the host calls, in one table (name, type) defined in pw_abi.c. */
#define PW_CALLBACK_LIST(X)                                                                  \
    X(PW_CB_INITIALIZE, "_initialize", "", "")                                               \
    X(PW_CB_START, "_start", "", "")                                                         \
    X(PW_CB_MAIN, "main", "ii", "i")                                                         \
    X(PW_CB_MAIN_VOID, "__main_void", "", "i")                                               \
    X(PW_CB_ALLOC, "proxy_on_memory_allocate", "i", "i")                                     \
    X(PW_CB_MALLOC, "malloc", "i", "i")                                                      \
    X(PW_CB_CONTEXT_CREATE, "proxy_on_context_create", "ii", "")                             \
    X(PW_CB_VM_START, "proxy_on_vm_start", "ii", "i")                                        \
    X(PW_CB_CONFIGURE, "proxy_on_configure", "ii", "i")                                      \
    X(PW_CB_TICK, "proxy_on_tick", "i", "")                                                  \
    X(PW_CB_QUEUE_READY, "proxy_on_queue_ready", "ii", "")                                   \
    X(PW_CB_NEW_CONNECTION, "proxy_on_new_connection", "i", "i")                             \
    X(PW_CB_DOWNSTREAM_DATA, "proxy_on_downstream_data", "iii", "i")                         \
    X(PW_CB_UPSTREAM_DATA, "proxy_on_upstream_data", "iii", "i")                             \
    X(PW_CB_DOWNSTREAM_CLOSE, "proxy_on_downstream_connection_close", "ii", "")              \
    X(PW_CB_UPSTREAM_CLOSE, "proxy_on_upstream_connection_close", "ii", "")                  \
    X(PW_CB_REQUEST_HEADERS, "proxy_on_request_headers", "*", "i")                           \
    X(PW_CB_REQUEST_BODY, "proxy_on_request_body", "iii", "i")                               \
    X(PW_CB_REQUEST_TRAILERS, "proxy_on_request_trailers", "ii", "i")                        \
    X(PW_CB_RESPONSE_HEADERS, "proxy_on_response_headers", "*", "i")                         \
    X(PW_CB_RESPONSE_BODY, "proxy_on_response_body", "iii", "i")                             \
    X(PW_CB_RESPONSE_TRAILERS, "proxy_on_response_trailers", "ii", "i")                      \
    X(PW_CB_HTTP_CALL_RESPONSE, "proxy_on_http_call_response", "iiiii", "")                  \
    X(PW_CB_DONE, "proxy_on_done", "i", "i")                                                 \
    X(PW_CB_LOG, "proxy_on_log", "i", "")                                                    \
    X(PW_CB_DELETE, "proxy_on_delete", "i", "")

typedef enum {
#define PW_X_(id, name, params, results) id,
    PW_CALLBACK_LIST(PW_X_)
#undef PW_X_
        PW_CB__COUNT
} pw_cb_t;

const char *pw__cb_name(pw_cb_t cb);

/* ---- code and plugins -------------------------------------------------------------------- */

struct pw_code {
    atomic_uint refs;
    wa_module_t *module; /* owned (one reference) */
    pw_abi_t abi;
    uint8_t sha256[32];
};

struct pw_plugin {
    atomic_uint refs;
    pw_code_t *code;          /* owned reference */
    char *name, *root_id, *vm_id, *runtime; /* owned, NUL-terminated */
    uint8_t *vm_config;       /* owned; may be NULL when empty */
    size_t vm_config_len;
    uint8_t *plugin_config;   /* owned; may be NULL when empty */
    size_t plugin_config_len;
    pw_env_var_t *env;        /* owned array; keys/values owned strings */
    size_t n_env;
    bool fail_open, allow_headers_stop;
    uint64_t deadline_ns;
    uint32_t max_memory_pages;
    uint32_t queue_max_items; /* 0 = the process default */
    pw_log_level_t log_level;
    uint8_t vm_key[32];       /* sha256(vm_id, runtime, vm configuration, code hash) */
    char *who;                /* owned: "name root_id vm_id" prefix for logs */
};

/* ---- contexts -------------------------------------------------------------------------- */

typedef enum { PW_CTX_ROOT, PW_CTX_HTTP, PW_CTX_TCP } pw_ctx_kind_t;

typedef struct pw_vm pw_vm_t;
typedef struct pw_ctx pw_ctx_t;

/* Common head of root and stream contexts. */
struct pw_ctx {
    uint32_t id;          /* unique per VM while alive; 0 = not created in the guest yet */
    pw_ctx_kind_t kind;
    pw_vm_t *vm;          /* borrowed; the context holds one VM reference */
    pw_plugin_t *plugin;  /* borrowed from the root (which holds a reference) */
    pw_ctx_t *prev, *next;/* the VM's list of live contexts */
};

struct pw_root {
    pw_ctx_t ctx;
    pw_plugin_t *plugin;  /* owned reference */
    bool in_vm_start, in_configure;
    bool pending_done;    /* proxy_on_done returned false; waiting for proxy_done */
    bool deleted;
    bool detached;        /* timer stopped, queues released, callouts cancelled */
    uint32_t tick_period_ms;
    uint32_t status_code; /* proxy_get_status: of the last callout (ABI 5.8) */
    const char *status_msg; /* static string */
    pw_root_t *next_root; /* the VM's list of roots */
};

/* A local reply the plugin asked for, copied out of guest memory (owned). */
typedef struct pw_reply {
    uint32_t status;
    int32_t grpc_status;
    uint8_t *bytes;       /* owned: details, body and header strings back to back */
    size_t details_len, body_len;
    pw_header_t *headers; /* owned array; slices point into bytes */
    size_t n_headers;
} pw_reply_t;

typedef enum {
    PW_PHASE_NONE = 0,
    PW_PHASE_REQ_HEADERS, PW_PHASE_REQ_BODY, PW_PHASE_REQ_TRAILERS,
    PW_PHASE_RESP_HEADERS, PW_PHASE_RESP_BODY, PW_PHASE_RESP_TRAILERS,
    PW_PHASE_NEW_CONN, PW_PHASE_DOWN_DATA, PW_PHASE_UP_DATA,
    PW_PHASE_LOG, PW_PHASE_END,
} pw_phase_t;

/* Freed streams a thread keeps for reuse: enough for a burst of concurrent requests. */
enum { PW_SPARE_STREAMS = 64 };

struct pw_stream {
    pw_ctx_t ctx;
    pw_thread_t *thread;       /* borrowed; outlives the stream */
    pw_root_t *root;           /* borrowed; the stream holds a VM reference, roots die with it */
    pw_plugin_t *plugin;       /* owned reference */
    const pw_stream_ops_t *ops;/* borrowed (proxy) */
    void *s;                   /* the proxy's stream, passed back to ops */
    pw_phase_t phase;          /* callback in progress or last finished */
    bool created, failed, fail_handled, logged, ended;
    bool want_continue[4], want_close[4];
    bool paused[4];            /* a direction the plugin holds (stop returned, not resumed) */
    bool reply_sent;           /* a local reply went to the proxy: nothing is held any more */
    bool dirty;                /* on the VM's list of streams with deferred actions */
    pw_reply_t *reply;         /* owned; a deferred local reply */
    pw_stream_t *next_dirty;   /* also links the thread's spare streams */
    uint8_t *props;            /* owned: filter state written by proxy_set_property, as
                                  pairs (u32 klen, u32 vlen, key, value) back to back */
    size_t props_len;
};

/* ---- VM replicas ------------------------------------------------------------------------ */

typedef enum {
    PW_VMPHASE_INIT = 0, /* instantiation and _initialize/_start: restricted hostcalls */
    PW_VMPHASE_READY,
} pw_vmphase_t;

struct pw_vm {
    pw_thread_t *thread;      /* borrowed; owns the VM */
    pw_plugin_t *plugin;      /* owned reference: the plugin that created it (limits, env) */
    pw_code_t *code;          /* owned reference */
    uint8_t key[32];
    unsigned refs;            /* thread list + live contexts */
    bool broken;
    bool listed;              /* still on the thread's list */
    pw_vmphase_t phase;
    unsigned in_alloc;        /* >0 while the allocator runs: restricted hostcalls */
    unsigned depth;           /* guest calls on the stack (re-entrancy) */
    wa_linker_t *linker;      /* owned */
    wa_instance_t *inst;      /* owned */
    wa_instance_t *caller;    /* borrowed: inst, also while instantiation runs the start
                                 section (before inst is known) */
    wa_memory_t *mem;         /* borrowed from inst */
    wa_func_t *cb[PW_CB__COUNT]; /* borrowed from inst; NULL when not exported */
    uint8_t cb_nresults[PW_CB__COUNT]; /* of each cb's type, read once at start */
    bool cb_constant[PW_CB__COUNT]; /* the export only returns cb_value: never called */
    int32_t cb_value[PW_CB__COUNT];
    wa_call_limits_t limits;  /* of every outermost call: the plugin's deadline, as a budget */
    wa_func_t *alloc;         /* proxy_on_memory_allocate, else malloc */
    pw_ctx_t *ctxs;           /* list of live contexts (borrowed; each owned elsewhere) */
    pw_root_t *roots;         /* owned list */
    pw_ctx_t *cur;            /* context of the running callback (0 = VM context) */
    pw_ctx_t *eff;            /* effective context (proxy_set_effective_context) */
    uint32_t next_id;
    bool ids_wrapped;         /* next_id went round: a new id may still be in use */
    pw_stream_t *dirty;       /* streams with deferred actions (borrowed) */
    const pw_http_response_t *http_resp; /* borrowed from the proxy during
                                  proxy_on_http_call_response: maps 6/7, buffer 4 */
    wa_trap_t trap;           /* last trap, for the error line */
    pw_cb_t trap_cb;
    uint8_t *scratch;         /* owned; reused for lower-casing keys and decoding pairs */
    size_t scratch_cap;
    uint8_t *xfer;            /* owned; shared-data values on their way to the guest (apart
                                 from scratch, which property getters hold across the
                                 allocator call) */
    size_t xfer_cap;
    void *hc_slots;           /* owned: one slot (vm, hostcall or WASI function) per import */
    wa_wasi_t *wasi;          /* owned; NULL unless the module imports WASI: a sandbox with
                                 the plugin's environment whose fds 1/2 are its log */
    pw_vm_t *next;            /* the thread's list */
};

typedef struct pw_fail_mark {
    pw_plugin_t *plugin;      /* owned reference */
    uint64_t until_ns;
    struct pw_fail_mark *next;
} pw_fail_mark_t;

/* An HTTP callout in flight (owned by its thread's list). */
typedef struct pw_callout {
    uint32_t token;
    pw_root_t *root;          /* borrowed; the callout is cancelled before the root goes */
    struct pw_callout *next;
} pw_callout_t;

struct pw_thread {
    const pw_dispatch_ops_t *ops; /* borrowed */
    void *ud;
    pw_vm_t *vms;             /* owned list */
    pw_fail_mark_t *fails;    /* owned list */
    pw_thread_stats_t stats;
    pthread_mutex_t ready_lock; /* guards ready/n_ready/cap_ready: other threads append */
    uint32_t *ready;          /* owned: tokens of queues with announced items */
    size_t n_ready, cap_ready;
    pw_callout_t *callouts;   /* owned list */
    uint32_t next_token;
    pw_stream_t *spare;       /* owned: freed streams kept for reuse, linked by next_dirty */
    unsigned n_spare;
};

/* ---- cross-file internals ------------------------------------------------------------------ */

/* pw_abi.c: hostcall table lookup. A hostcall receives its VM and the guest's arguments. */
typedef wa_trap_kind_t (*pw_hostcall_fn_t)(pw_vm_t *vm, const wa_value_t *args,
                                           wa_value_t *results);
enum { PW_HC_ANY_PHASE = 1, PW_HC_IN_ALLOC = 2 };
typedef struct pw_hostcall {
    const char *module, *name;
    const char *params, *results; /* 'i' = i32, 'I' = i64 */
    pw_hostcall_fn_t fn;
    unsigned flags;
} pw_hostcall_t;
/* The "env" hostcall named `name`, or NULL (WASI imports come from src/wasi). */
const pw_hostcall_t *pw__hostcall_find(const char *module, const char *name);
bool pw__sig_matches(const wa_functype_t *ft, const char *params, const char *results);
/* PW_HC_* flags for the WASI function `name`: where ABI 1 lets a plugin call it. */
unsigned pw__wasi_flags(const char *name);

/* Hostcall tables, one per group file, each ending with a {NULL} entry. */
extern const pw_hostcall_t pw__hostcalls_core[];
extern const pw_hostcall_t pw__hostcalls_http[];
extern const pw_hostcall_t pw__hostcalls_props[];
extern const pw_hostcall_t pw__hostcalls_async[];

/* pw_vm.c: guest memory and calls. */
void pw__log(pw_thread_t *t, pw_log_level_t lvl, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* [ptr, ptr+len) in guest memory, or NULL. len 0 is always valid (returns a non-NULL
 * pointer that must not be dereferenced). Valid until the next guest call. */
uint8_t *pw__mem(pw_vm_t *vm, uint32_t ptr, uint32_t len);
bool pw__put_u32(pw_vm_t *vm, uint32_t ptr, uint32_t v);
bool pw__put_u64(pw_vm_t *vm, uint32_t ptr, uint64_t v);
/* Hands `len` bytes to the guest: allocator call, then (if data) copy, then writes address and
 * size. Empty -> (0, 0) without calling the allocator. Returns a WasmResult, or -1 if the
 * allocator trapped (the trap is already recorded on the caller; return vm->trap.kind). */
int pw__return_bytes(pw_vm_t *vm, const void *data, size_t len, uint32_t ret_ptr_ptr,
                     uint32_t ret_size_ptr);
/* The same, for a getter that has already checked both slots against the memory whose base
 * is `base` (no guest code ran since). */
int pw__return_bytes_to(pw_vm_t *vm, uint8_t *base, const void *data, size_t len,
                        uint32_t ret_ptr_ptr, uint32_t ret_size_ptr);
/* Whether two u32 return slots at guest addresses a and b lie in the memory at base (size
 * bytes; base NULL when the module has none). */
static inline bool pw__slots_fit(const uint8_t *base, uint64_t size, uint32_t a, uint32_t b)
{
    return base && (uint64_t)a + 4 <= size && (uint64_t)b + 4 <= size;
}
/* Allocates `len` guest bytes; *gptr is the guest address. Same returns as above. */
int pw__guest_alloc(pw_vm_t *vm, size_t len, uint32_t *gptr);
/* Grows vm->scratch to at least n bytes; false when out of memory. */
bool pw__scratch(pw_vm_t *vm, size_t n);
/* Calls callback cb on the VM with ctx as current context. Returns PW_OK, PW_ERR_ARG when the
 * callback is not exported (result untouched), or PW_ERR_TRAP (VM marked broken, one error
 * line logged). */
pw_status_t pw__vm_call(pw_vm_t *vm, pw_ctx_t *ctx, pw_cb_t cb, const wa_value_t *args,
                        uint32_t nargs, int32_t *result);
void pw__vm_unref(pw_vm_t *vm);
uint32_t pw__vm_new_id(pw_vm_t *vm);
void pw__ctx_link(pw_vm_t *vm, pw_ctx_t *c);
void pw__ctx_unlink(pw_vm_t *vm, pw_ctx_t *c);
pw_ctx_t *pw__ctx_find(pw_vm_t *vm, uint32_t id);
/* The effective context's stream, or NULL when it is a root / the VM context. */
pw_stream_t *pw__eff_stream(pw_vm_t *vm);
pw_root_t *pw__eff_root(pw_vm_t *vm);

pw_status_t pw__thread_root(pw_thread_t *t, pw_plugin_t *p, pw_root_t **out, pw_error_t *err);

/* pw_context.c: roots and deferred actions. */
pw_status_t pw__root_start(pw_vm_t *vm, pw_plugin_t *p, pw_root_t **out, pw_error_t *err);
void pw__root_end(pw_root_t *r);
/* Stops the root's timer, releases its queues and cancels its callouts; idempotent. Called
 * when the root ends, when its VM breaks and before its VM is freed. */
void pw__root_detach(pw_root_t *r);
/* proxy_on_queue_ready(root, token) then deferred actions; false if the root is gone or
 * its VM broken (nothing was called). */
bool pw__root_queue_ready(pw_root_t *r, uint32_t token);
/* Runs the deferred stream actions once no guest call is on the stack. */
void pw__run_deferred(pw_vm_t *vm);
/* After a trap in a root-level callback (callout response, queue, tick): applies the
 * failure policy to the VM's streams that were paused waiting for the plugin, which no
 * later event would otherwise reach. */
void pw__fail_paused_streams(pw_vm_t *vm);
void pw__stream_mark_dirty(pw_stream_t *st);

/* pw_queue.c */
pw_result_t pw__queue_register(pw_root_t *r, pw_slice_t vm_id, pw_slice_t name,
                               uint32_t *token);
pw_result_t pw__queue_enqueue(pw_thread_t *caller, uint32_t token, pw_slice_t value);
/* Pops the oldest item into *item_out (free with pw__queue_item_free); data/len point
 * into it. vm_key NULL skips the owner check. */
pw_result_t pw__queue_dequeue(uint32_t token, const uint8_t vm_key[32], void **item_out,
                              const uint8_t **data, size_t *len);
void pw__queue_item_free(void *item);
void pw__queues_detach_root(pw_root_t *r);
void pw__queues_detach_thread(pw_thread_t *t);

/* pw_callout.c */
void pw__callouts_cancel_root(pw_thread_t *t, pw_root_t *r);
uint32_t pw__callout_add(pw_thread_t *t, pw_root_t *r); /* token, or 0 out of memory */
void pw__callout_drop(pw_thread_t *t, uint32_t token);

/* pw_hostcalls_http.c: pairs serialization (ABI 3.1), shared with properties. */
size_t pw__pairs_size(const pw_header_t *h, size_t n);
void pw__pairs_write(uint8_t *dst, const pw_header_t *h, size_t n);
/* Decodes pairs into headers whose slices point into buf. Returns false for a malformed
 * buffer (the ABI's rule: then it is treated as an empty map by callers that tolerate it). */
bool pw__pairs_decode(const uint8_t *buf, size_t len, pw_header_t *out, size_t cap, size_t *n);
size_t pw__pairs_count(const uint8_t *buf, size_t len);

/* 0x80 in each byte of x that is an ASCII capital, 0 elsewhere. Per byte b < 0x80, b | 0x80
 * minus 'A' (or 'Z' + 1) keeps its top bit exactly when b >= 'A' (or b > 'Z'), and no byte
 * borrows from its neighbour; bytes >= 0x80 are masked out. */
static inline uint64_t pw__capitals(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, tops = ones * 0x80;
    uint64_t y = x | tops;
    return (y - ones * 'A') & ~(y - ones * ('Z' + 1)) & ~x & tops;
}

static inline uint64_t pw__ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t pw__ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Little-endian stores into guest memory: a byte array copied whole compiles to one store,
 * where a loop over the bytes stays a loop. */
static inline void pw__st32(uint8_t *p, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memcpy(p, b, 4);
}

static inline void pw__st64(uint8_t *p, uint64_t v)
{
    pw__st32(p, (uint32_t)v);
    pw__st32(p + 4, (uint32_t)(v >> 32));
}

/* Whether k[0, len) has an ASCII capital (header names from a plugin are lower-cased): a word
 * at a time, the last word overlapping the one before it (a letter seen twice is still one). */
static inline bool pw__has_capital(const uint8_t *k, uint32_t len)
{
    uint64_t c = 0;
    if (len >= 8) {
        for (uint32_t i = 0; i + 8 <= len; i += 8)
            c |= pw__capitals(pw__ld64(k + i));
        c |= pw__capitals(pw__ld64(k + len - 8));
    } else if (len >= 4) {
        c = pw__capitals(pw__ld32(k) | pw__ld32(k + len - 4) << 32);
    } else if (len > 0) {
        c = pw__capitals((uint64_t)k[0] | (uint64_t)k[len / 2] << 8 | (uint64_t)k[len - 1] << 16);
    }
    return c != 0;
}

/* Returns a hostcall's status to the guest, or propagates a trap (r < 0). */
#define PW_HC_RETURN(vm, results, r)                                                         \
    do {                                                                                     \
        int pw_r_ = (r);                                                                     \
        if (pw_r_ < 0)                                                                       \
            return (vm)->trap.kind;                                                          \
        (results)[0].i32 = pw_r_;                                                            \
        return WA_TRAP_NONE;                                                                 \
    } while (0)

#define PW_ARG_U32(args, i) ((uint32_t)(args)[i].i32)

#endif
