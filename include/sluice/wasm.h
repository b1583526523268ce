/* sluice's WebAssembly engine: load (decode + validate + compile), link, instantiate, call.
 * Knows nothing about proxies; the Proxy-Wasm host and the tools are built on this API. */
#ifndef SLUICE_WASM_H
#define SLUICE_WASM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes --------------------------------------------------------------------- */

/* Every fallible function returns one of these (0 = OK); wa_status_str() names it. */
#define WA_STATUS_LIST(X)                                                        \
    X(WA_OK, "ok")                                                               \
    X(WA_ERR_MALFORMED, "malformed module")    /* binary does not decode */      \
    X(WA_ERR_INVALID, "invalid module")        /* decodes, fails validation */   \
    X(WA_ERR_UNSUPPORTED, "unsupported feature") /* SIMD, threads, ... */        \
    X(WA_ERR_UNLINKABLE, "unlinkable")         /* import missing or mistyped */  \
    X(WA_ERR_UNINSTANTIABLE, "uninstantiable") /* segment OOB or start trapped */\
    X(WA_ERR_TRAP, "trap")                     /* a call trapped: see wa_trap_t */\
    X(WA_ERR_NOMEM, "out of memory")                                             \
    X(WA_ERR_NOT_FOUND, "not found")                                             \
    X(WA_ERR_TYPE, "type mismatch")                                              \
    X(WA_ERR_ARG, "bad argument")                                                \
    X(WA_ERR_LIMIT, "limit exceeded")

typedef enum {
#define WA_X_(name, str) name,
    WA_STATUS_LIST(WA_X_)
#undef WA_X_
} wa_status_t;

const char *wa_status_str(wa_status_t s);

/* A load/link/instantiate error: what failed, where, and why. */
typedef struct wa_error {
    wa_status_t status;
    size_t offset;       /* byte offset in the module binary, when meaningful */
    uint32_t func_index; /* function index for code errors, UINT32_MAX when none */
    char message[256];   /* the rule broken, e.g. "type mismatch in i32.add" */
} wa_error_t;

/* ---- values and types ------------------------------------------------------------------- */

typedef enum {
    WA_I32 = 0x7f,
    WA_I64 = 0x7e,
    WA_F32 = 0x7d,
    WA_F64 = 0x7c,
    WA_FUNCREF = 0x70,
    WA_EXTERNREF = 0x6f,
} wa_valtype_t;

typedef struct wa_func wa_func_t;     /* a function: Wasm (bound to an instance) or host */
typedef struct wa_table wa_table_t;   /* refcounted, single-thread */
typedef struct wa_memory wa_memory_t; /* refcounted, single-thread */
typedef struct wa_global wa_global_t; /* refcounted, single-thread */

/* One Wasm value. Floats are carried as bits (NaN payloads survive). A funcref is a
 * wa_func_t pointer and an externref an opaque host word; 0 / NULL is the null ref. */
typedef union wa_value {
    int32_t i32;
    int64_t i64;
    uint32_t f32_bits;
    uint64_t f64_bits;
    float f32;
    double f64;
    wa_func_t *funcref;
    uintptr_t externref;
    uint64_t raw;
} wa_value_t;

#define WA_MAX_FUNC_VALUES 64 /* params or results per function type we accept */

typedef struct wa_functype {
    uint32_t nparams, nresults;
    const wa_valtype_t *params;  /* borrowed from the module or the definer */
    const wa_valtype_t *results; /* borrowed from the module or the definer */
} wa_functype_t;

typedef struct wa_limits_desc {
    uint32_t min;
    uint32_t max;
    bool has_max;
} wa_limits_desc_t;

typedef enum { WA_EXTERN_FUNC, WA_EXTERN_TABLE, WA_EXTERN_MEMORY, WA_EXTERN_GLOBAL } wa_extern_kind_t;

/* The type of an import or export. */
typedef struct wa_externtype {
    wa_extern_kind_t kind;
    union {
        wa_functype_t func;
        struct { wa_valtype_t elem; wa_limits_desc_t limits; } table;
        wa_limits_desc_t memory; /* in 64 KiB pages */
        struct { wa_valtype_t type; bool mutable_; } global;
    } u;
} wa_externtype_t;

/* A live import/export: the object is borrowed from whoever holds it. */
typedef struct wa_extern {
    wa_extern_kind_t kind;
    union {
        wa_func_t *func;
        wa_table_t *table;
        wa_memory_t *memory;
        wa_global_t *global;
    } u;
} wa_extern_t;

/* ---- modules ------------------------------------------------------------------------------ */

typedef struct wa_module wa_module_t;

/* Decodes, validates and compiles `bytes` (copied; the caller keeps its buffer). Accepts
 * Wasm 1.0 plus mutable globals, sign extension, non-trapping float-to-int, bulk memory,
 * multi-value and reference types; anything else is WA_ERR_UNSUPPORTED naming the feature.
 * On success *out holds one reference. The module is immutable and thread-safe. */
wa_status_t wa_module_load(const uint8_t *bytes, size_t len, wa_module_t **out, wa_error_t *err);
wa_module_t *wa_module_ref(wa_module_t *m);  /* atomic; returns m */
void wa_module_unref(wa_module_t *m);        /* atomic; frees at zero; NULL is a no-op */

size_t wa_module_import_count(const wa_module_t *m);
/* Import i: module and field names (borrowed from m, NUL-terminated) and its type. */
wa_status_t wa_module_import(const wa_module_t *m, size_t i, const char **module,
                             const char **name, wa_externtype_t *type);
size_t wa_module_export_count(const wa_module_t *m);
wa_status_t wa_module_export(const wa_module_t *m, size_t i, const char **name,
                             wa_externtype_t *type);
/* Sizes for `inspect`: number of defined functions, code bytes, data bytes; how many
 * functions have native code so far (x86-64 Linux, unless SLUICE_WASM_NATIVE=0: a function is
 * translated on its first call, or by wa_module_translate), and its bytes. */
typedef struct wa_module_stats {
    uint32_t funcs, types, tables, memories, globals, elems, datas;
    size_t code_bytes, data_bytes, compiled_bytes;
    uint32_t native_funcs;
    size_t native_bytes;
} wa_module_stats_t;
void wa_module_stats(const wa_module_t *m, wa_module_stats_t *out);
/* Translates now every function of m not yet translated (otherwise each is translated on its
 * first call): for tools that report on the native code, or a host that would rather pay for
 * it before the first call. Safe while other threads call m's functions. */
void wa_module_translate(wa_module_t *m);

/* ---- traps -------------------------------------------------------------------------------- */

typedef enum {
    WA_TRAP_NONE = 0,
    WA_TRAP_UNREACHABLE,
    WA_TRAP_MEMORY_OOB,
    WA_TRAP_TABLE_OOB,         /* table access or call_indirect index out of bounds */
    WA_TRAP_INT_DIV_ZERO,
    WA_TRAP_INT_OVERFLOW,
    WA_TRAP_INVALID_CONVERSION,
    WA_TRAP_UNINITIALIZED_ELEMENT, /* call_indirect through a null entry */
    WA_TRAP_INDIRECT_TYPE,     /* call_indirect signature mismatch */
    WA_TRAP_STACK_EXHAUSTED,   /* call depth or value stack limit */
    WA_TRAP_FUEL,              /* fuel ran out */
    WA_TRAP_DEADLINE,          /* the call's deadline passed */
    WA_TRAP_HOST,              /* a host function trapped with a message */
    WA_TRAP_EXIT,              /* WASI proc_exit: exit_code is set; not an error as such */
} wa_trap_kind_t;

const char *wa_trap_kind_str(wa_trap_kind_t k); /* the spec's wording, e.g. "integer divide by zero" */

typedef struct wa_trap {
    wa_trap_kind_t kind;
    int32_t exit_code;    /* for WA_TRAP_EXIT */
    uint32_t func_index;  /* function that trapped, UINT32_MAX if unknown */
    uint32_t code_offset; /* byte offset in the module of the trapping instruction, if known */
    char message[256];
} wa_trap_t;

/* ---- instances ---------------------------------------------------------------------------- */

typedef struct wa_instance wa_instance_t;

/* Per-instance resource limits; 0 in a field means the engine default. */
typedef struct wa_instance_limits {
    uint32_t max_memory_pages; /* cap on memory.grow and declared minimums (default 65536) */
    uint32_t max_table_elems;  /* default 10,000,000 */
    uint32_t max_call_depth;   /* Wasm frames, including re-entrant calls (default 10,000) */
    size_t stack_bytes;        /* value stack size (default 1 MiB) */
} wa_instance_limits_t;

/* Per-call interruption. Checked at loop back-edges and calls. Nested (re-entrant) calls
 * made by a host function run under the outer call's limits. */
typedef struct wa_call_limits {
    uint64_t fuel;        /* 0: unlimited; else roughly one unit per back-edge or call */
    uint64_t deadline_ns; /* 0: none; else absolute CLOCK_MONOTONIC time in ns */
    uint64_t budget_ns;   /* 0: none; else the call may run this long, counted from the first
                             clock check (a few thousand back-edges or calls in), so a short
                             call never reads the clock; deadline_ns wins when both are set */
} wa_call_limits_t;

uint64_t wa_now_ns(void); /* CLOCK_MONOTONIC in ns, the clock deadlines use */

/* How many times calls on this thread have read the clock for their deadline or budget. It
 * moves only when a call has run a few thousand back-edges or calls, so an embedder that
 * caches the time (an event loop) can compare it before and after a call and refresh its
 * time only after a long one. */
uint64_t wa_thread_clock_reads(void);

/* A host function. `caller` is the instance whose code made the call (NULL when the embedder
 * calls the host function itself through wa_call). args has nparams
 * values; the function writes nresults values to results. Return WA_TRAP_NONE, or trap
 * with wa_trap_set(caller, ...) and return its result. No allocation per call. */
typedef wa_trap_kind_t (*wa_host_fn_t)(wa_instance_t *caller, void *user, const wa_value_t *args,
                                       wa_value_t *results);

/* Record the trap a host function is about to return; returns `kind` for convenience. */
wa_trap_kind_t wa_trap_set(wa_instance_t *caller, wa_trap_kind_t kind, int32_t exit_code,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- linking ------------------------------------------------------------------------------ */

typedef struct wa_linker wa_linker_t; /* a name -> extern map used to satisfy imports */

wa_linker_t *wa_linker_new(void);
void wa_linker_free(wa_linker_t *l);
/* Defines (module, name) as a host function of the given type. Names and type are copied. */
wa_status_t wa_linker_define_func(wa_linker_t *l, const char *module, const char *name,
                                  const wa_functype_t *type, wa_host_fn_t fn, void *user);
/* Defines (module, name) as an existing object; the linker takes a reference on it. */
wa_status_t wa_linker_define(wa_linker_t *l, const char *module, const char *name,
                             wa_extern_t ext);
/* Defines every export of `inst` under `module` (the spec's `register`). */
wa_status_t wa_linker_define_instance(wa_linker_t *l, const char *module, wa_instance_t *inst);

/* Instantiates m: resolves every import through l (WA_ERR_UNLINKABLE naming the import if
 * missing or mistyped), allocates memories, tables and globals, applies segments, runs the
 * start function. Cheap: no re-compilation. Takes a reference on m. The instance is bound
 * to the calling thread's use: one thread at a time, no internal locks. */
wa_status_t wa_instance_new(wa_module_t *m, const wa_linker_t *l, const wa_instance_limits_t *lim,
                            wa_instance_t **out, wa_error_t *err);
void wa_instance_free(wa_instance_t *inst); /* NULL is a no-op */
const wa_module_t *wa_instance_module(const wa_instance_t *inst);
void wa_instance_set_user(wa_instance_t *inst, void *user);
void *wa_instance_user(const wa_instance_t *inst);

/* Looks up an export by name; the object stays owned by the instance. */
wa_status_t wa_instance_export(wa_instance_t *inst, const char *name, wa_extern_t *out);
wa_func_t *wa_instance_func(wa_instance_t *inst, const char *name); /* NULL if absent */
/* As wa_instance_export, for names given with a length (export names may contain NUL). */
wa_status_t wa_instance_export_n(wa_instance_t *inst, const char *name, size_t name_len,
                                 wa_extern_t *out);

void wa_func_type(const wa_func_t *f, wa_functype_t *out);
/* True when f is a Wasm function whose body is one constant (or nothing): a call can only
 * return that value (written to *result; 0 when f has no result), so an embedder may skip
 * it. False for host functions and every other body. */
bool wa_func_constant(const wa_func_t *f, wa_value_t *result);
/* Two function types are the same: parameters and results, in order. */
bool wa_functype_eq(const wa_functype_t *a, const wa_functype_t *b);

/* Calls f with nargs args (checked against its type), writing its results. Returns WA_OK,
 * WA_ERR_TRAP with *trap filled, or WA_ERR_TYPE / WA_ERR_ARG for a bad call. After a trap
 * the instance stays usable. May be called from inside a host function (re-entrancy); then
 * limits may be NULL to inherit the outer call's. */
wa_status_t wa_call(wa_func_t *f, const wa_value_t *args, uint32_t nargs, wa_value_t *results,
                    uint32_t nresults, const wa_call_limits_t *limits, wa_trap_t *trap);

/* ---- memory, tables, globals -------------------------------------------------------------- */

/* The instance's memory 0 (NULL if none). */
wa_memory_t *wa_instance_memory(wa_instance_t *inst);
/* A pointer to [ptr, ptr+len) if fully in bounds, else NULL. Valid until the next call
 * into Wasm (memory.grow may move it). */
void *wa_memory_view(wa_memory_t *mem, uint64_t ptr, uint64_t len);
uint8_t *wa_memory_data(wa_memory_t *mem, uint64_t *size_bytes);
uint32_t wa_memory_pages(const wa_memory_t *mem);
/* Grows by delta pages; returns the old page count or -1 (limit or max reached). */
int64_t wa_memory_grow(wa_memory_t *mem, uint32_t delta_pages);

/* Standalone objects for hosts and the spec test harness; each starts with one reference. */
wa_status_t wa_memory_new(wa_limits_desc_t limits, wa_memory_t **out);
wa_status_t wa_table_new(wa_valtype_t elem, wa_limits_desc_t limits, wa_table_t **out);
wa_status_t wa_global_new(wa_valtype_t type, bool mutable_, wa_value_t init, wa_global_t **out);
void wa_memory_unref(wa_memory_t *m);
void wa_table_unref(wa_table_t *t);
void wa_global_unref(wa_global_t *g);

wa_value_t wa_global_get(const wa_global_t *g);
wa_status_t wa_global_set(wa_global_t *g, wa_value_t v); /* WA_ERR_TYPE if immutable */
uint32_t wa_table_size(const wa_table_t *t);
wa_status_t wa_table_get(const wa_table_t *t, uint32_t i, wa_value_t *out);

#ifdef __cplusplus
}
#endif
#endif
