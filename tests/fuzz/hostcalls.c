/* libFuzzer target for the Proxy-Wasm host's guest boundary: the input becomes a plugin whose
 * callbacks call every import (env hostcalls, WASI) with chosen arguments, under a fake proxy. */
#include "host/pw_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken promise of the host (or a fuzzer bug) is a crash libFuzzer keeps. */
#define CHECK(c)                                                                             \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "hostcalls: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* Guest memory layout: return slots, then the data segment, then the allocator's heap. One
 * page at start and at most two, so addresses near both ends are cheap to hit. */
enum {
    SCRATCH = 256,     /* 32 slots of 8 bytes for the host's answers */
    DATA_BASE = 1024,  /* the data segment's items */
    HEAP_BASE = 8192,  /* the bump allocator hands out [HEAP_BASE, end of memory) */
    PAGE = 65536,
    MAX_PAGES = 2,
};

/* Each input runs in well under a millisecond of guest code: a handful of calls per callback. */
enum { SLOT_STEPS = 24, MAX_STEPS = 96, MAX_IMPORTS = 256, MAX_SIGS = 64 };

/* ---- input ------------------------------------------------------------------------------- */

typedef struct in {
    const uint8_t *p; /* borrowed: libFuzzer's input */
    size_t len, off;
} in_t;

/* Past the end the input reads as zeros, so every prefix is a complete program. */
static uint8_t in_u8(in_t *in)
{
    return in->off < in->len ? in->p[in->off++] : 0;
}

static uint64_t in_le(in_t *in, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)in_u8(in) << (8 * i);
    return v;
}

/* ---- byte buffers and the Wasm binary encoding -------------------------------------------- */

typedef struct buf {
    uint8_t *p; /* owned */
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        CHECK(p != NULL);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put8(buf_t *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_u32le(buf_t *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, le, 4);
}

static void uleb(buf_t *b, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7F;
        v >>= 7;
        put8(b, v ? byte | 0x80 : byte);
    } while (v);
}

static void sleb(buf_t *b, int64_t v)
{
    for (;;) {
        uint8_t byte = v & 0x7F;
        v >>= 7; /* arithmetic: the sign bit is what ends the number */
        if ((v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40))) {
            put8(b, byte);
            return;
        }
        put8(b, byte | 0x80);
    }
}

static void put_name(buf_t *b, const char *s)
{
    uleb(b, strlen(s));
    put(b, s, strlen(s));
}

/* Appends section `id` holding body's bytes, and empties body for the next section. */
static void put_section(buf_t *mod, uint8_t id, buf_t *body)
{
    put8(mod, id);
    uleb(mod, body->len);
    put(mod, body->p, body->len);
    body->len = 0;
}

enum {
    OP_UNREACHABLE = 0x00, OP_IF = 0x04, OP_END = 0x0B, OP_CALL = 0x10, OP_DROP = 0x1A,
    OP_LOCAL_GET = 0x20, OP_LOCAL_SET = 0x21, OP_GLOBAL_GET = 0x23, OP_GLOBAL_SET = 0x24,
    OP_I32_LOAD = 0x28, OP_I64_LOAD = 0x29, OP_MEMORY_SIZE = 0x3F, OP_MEMORY_GROW = 0x40,
    OP_I32_CONST = 0x41, OP_I64_CONST = 0x42, OP_I32_EQ = 0x46, OP_I32_GT_U = 0x4B,
    OP_I32_ADD = 0x6A, OP_I32_AND = 0x71, OP_I32_SHL = 0x74,
};

static void i32_const(buf_t *b, uint32_t v)
{
    put8(b, OP_I32_CONST);
    sleb(b, (int32_t)v);
}

/* ---- what the module is made of ------------------------------------------------------------ */

/* One import of the module: every env hostcall in table order, then the WASI functions a
 * Proxy-Wasm VM gets (its sandbox). The import index of imps[i] is i. */
typedef struct imp {
    const char *module, *name; /* borrowed: static tables */
    char params[16], results[4]; /* 'i' = i32, 'I' = i64, as the hostcall tables write them */
} imp_t;

static imp_t imps[MAX_IMPORTS];
static size_t n_imps;

static void imp_add(const char *module, const char *name, const char *params,
                    const char *results)
{
    CHECK(n_imps < MAX_IMPORTS && strlen(params) < sizeof imps[0].params &&
          strlen(results) < sizeof imps[0].results);
    imp_t *m = &imps[n_imps++];
    m->module = module;
    m->name = name;
    strcpy(m->params, params);
    strcpy(m->results, results);
}

static void sig_string(char *out, size_t cap, const wa_valtype_t *t, uint32_t n)
{
    CHECK(n < cap);
    for (uint32_t i = 0; i < n; i++) {
        CHECK(t[i] == WA_I32 || t[i] == WA_I64);
        out[i] = t[i] == WA_I64 ? 'I' : 'i';
    }
    out[n] = 0;
}

static void imports_init(void)
{
    static const pw_hostcall_t *const tables[] = {
        pw__hostcalls_core, pw__hostcalls_http, pw__hostcalls_props, pw__hostcalls_async,
    };
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const pw_hostcall_t *h = tables[t]; h->name; h++)
            imp_add(h->module, h->name, h->params, h->results);
    /* preview1 names; one src/wasi does not know is skipped, so the list may run ahead */
    static const char *const wasi[] = {
        "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get",
        "clock_time_get", "fd_advise", "fd_allocate", "fd_close", "fd_datasync",
        "fd_fdstat_get", "fd_fdstat_set_flags", "fd_fdstat_set_rights", "fd_filestat_get",
        "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_prestat_get",
        "fd_prestat_dir_name", "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber", "fd_seek",
        "fd_sync", "fd_tell", "fd_write", "path_create_directory", "path_filestat_get",
        "path_filestat_set_times", "path_link", "path_open", "path_readlink",
        "path_remove_directory", "path_rename", "path_symlink", "path_unlink_file",
        "poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get", "sock_accept",
        "sock_recv", "sock_send", "sock_shutdown",
    };
    static const char module[] = "wasi_snapshot_preview1";
    for (size_t i = 0; i < sizeof wasi / sizeof wasi[0]; i++) {
        wa_wasi_func_t f;
        if (!wa_wasi_lookup(NULL, module, wasi[i], &f))
            continue;
        char params[16], results[4];
        sig_string(params, sizeof params, f.type.params, f.type.nparams);
        sig_string(results, sizeof results, f.type.results, f.type.nresults);
        imp_add(module, wasi[i], params, results);
    }
}

/* The data segment: strings, pairs and property paths that pass validation, so calls reach
 * the code behind it. An argument picks one by number (its offset or its length). */
typedef struct item {
    uint32_t off, len; /* guest address and size */
} item_t;

enum { N_ITEMS = 32 };
static item_t items[N_ITEMS];
static buf_t data_img; /* owned for the process; its bytes are copied into each module */

static void pairs(buf_t *b, const char *const *kv, size_t n)
{
    put_u32le(b, (uint32_t)n);
    for (size_t i = 0; i < 2 * n; i++)
        put_u32le(b, (uint32_t)strlen(kv[i]));
    for (size_t i = 0; i < 2 * n; i++)
        put(b, kv[i], strlen(kv[i]) + 1);
}

static void item_add(size_t *n, const void *p, size_t len)
{
    CHECK(*n < N_ITEMS);
    items[*n] = (item_t){(uint32_t)(DATA_BASE + data_img.len), (uint32_t)len};
    put(&data_img, p, len);
    put8(&data_img, 0); /* a NUL after each item: C-string readers stay inside it */
    (*n)++;
}

#define ITEM(n, s) item_add(n, s, sizeof(s) - 1)

static void items_init(void)
{
    static const char *const call_hdrs[] = {":method", "GET", ":path", "/", ":authority", "h"};
    static const char *const small[] = {"x-a", "1", "X-Upper", "two"};
    size_t n = 0;
    buf_t b = {0};
    ITEM(&n, ":path");
    ITEM(&n, "value");
    put_u32le(&b, items[1].off); /* a WASI iovec over "value" */
    put_u32le(&b, items[1].len);
    item_add(&n, b.p, b.len);
    b.len = 0;
    ITEM(&n, "x-a");
    ITEM(&n, "X-Mixed-Case-Header");
    ITEM(&n, "/hello?q=1");
    ITEM(&n, "GET");
    ITEM(&n, ":authority");
    pairs(&b, call_hdrs, 3);
    item_add(&n, b.p, b.len);
    b.len = 0;
    pairs(&b, small, 2);
    item_add(&n, b.p, b.len);
    item_add(&n, b.p, b.len - 1); /* the same, one NUL short: malformed */
    b.len = 0;
    pairs(&b, NULL, 0);
    item_add(&n, b.p, b.len);
    free(b.p);
    ITEM(&n, "request\0path");
    ITEM(&n, "request\0headers\0:path");
    ITEM(&n, "request\0headers");
    ITEM(&n, "response\0headers");
    ITEM(&n, "source\0address");
    ITEM(&n, "source\0port");
    ITEM(&n, "plugin_name");
    ITEM(&n, "connection\0mtls");
    ITEM(&n, "connection_id");
    ITEM(&n, "xds\0cluster_name");
    ITEM(&n, "response\0code");
    ITEM(&n, "filter_state\0k");
    ITEM(&n, "request\0headers\0x-a\0extra");
    ITEM(&n, "cluster");
    ITEM(&n, "q");
    ITEM(&n, "vm");
    ITEM(&n, "counter.a");
    ITEM(&n, "shared-key");
    ITEM(&n, "body bytes");
    ITEM(&n, "request\0duration");
    CHECK(n == N_ITEMS && DATA_BASE + data_img.len <= HEAP_BASE);
}

/* Values where range checks flip: both ends of one and two pages, sign bits, wrap-around. */
static const uint32_t edges32[32] = {
    0,          1,          3,          4,          7,          8,          255,
    256,        1023,       1024,       4095,       4096,       65528,      65532,
    65535,      65536,      65537,      131064,     131068,     131071,     131072,
    1u << 20,   (1u << 20) + 1, 0x7FFFFFFF, 0x80000000, 0xFFFF0000, 0xFFFFFF00, 0xFFFFFFF8,
    0xFFFFFFFC, 0xFFFFFFFE, 0xFFFFFFFF, 1025,
};
static const uint64_t edges64[16] = {
    0, 1, UINT64_MAX, INT64_MAX, (uint64_t)INT64_MIN, UINT32_MAX, 1ull << 32,
    (uint64_t)-(1ll << 32), 100, 1000000, (uint64_t)-100, 0x8000000000000001ull, 2, 3,
    0xFFFFFFFFFFFFFFFEull, 1ull << 63,
};

/* ---- programs ------------------------------------------------------------------------------ */

/* Callback bodies, in input order. Each is up to SLOT_STEPS calls, then its return value. */
enum {
    S_REQ_HEADERS, S_REQ_BODY, S_RESP_HEADERS, S_RESP_BODY, S_LOG, S_CALLOUT, S_TICK, S_QUEUE,
    S_CONFIGURE, S_ALLOC, S_INIT, S__COUNT
};

/* One argument: a selector byte whose low 3 bits say where the value comes from. Most kinds
 * give values that pass validation (items, return slots) or sit on its edges. */
static void emit_arg(buf_t *code, in_t *in, bool wide)
{
    uint8_t s = in_u8(in);
    unsigned k = s >> 3;
    uint64_t v;
    switch (s & 7) {
    case 0: v = k; break;
    case 1: v = in_u8(in); break;
    case 2: v = items[k % N_ITEMS].off; break;
    case 3: v = items[k % N_ITEMS].len; break;
    case 4: v = SCRATCH + 8 * k; break;
    case 5: /* what the host wrote into a return slot earlier: a pointer, size or token */
        i32_const(code, SCRATCH + 8 * k);
        put8(code, wide ? OP_I64_LOAD : OP_I32_LOAD);
        put8(code, wide ? 3 : 2);
        put8(code, 0);
        return;
    case 6: v = wide ? edges64[k % 16] : edges32[k]; break;
    default: v = in_le(in, wide ? 8 : 4); break;
    }
    if (wide) {
        put8(code, OP_I64_CONST);
        sleb(code, (int64_t)v);
    } else {
        i32_const(code, (uint32_t)v);
    }
}

/* One step: an import chosen by a byte, its arguments, its results dropped. */
static void emit_step(buf_t *code, in_t *in)
{
    size_t h = in_u8(in) % n_imps;
    for (const char *p = imps[h].params; *p; p++)
        emit_arg(code, in, *p == 'I');
    put8(code, OP_CALL);
    uleb(code, h);
    for (const char *r = imps[h].results; *r; r++)
        put8(code, OP_DROP);
}

/* Return values are mostly the actions of ABI 8, sometimes values no SDK returns. */
static int32_t ret_value(uint8_t r)
{
    return r < 0xF0 ? r % 4 : (int32_t)(0xFFFFFF00u | r);
}

/* Reads every slot's program into prog[] (instructions, no end) and ret[]. */
static void read_programs(in_t *in, buf_t prog[S__COUNT], int32_t ret[S__COUNT])
{
    unsigned used = 0;
    for (int s = 0; s < S__COUNT; s++) {
        unsigned n = in_u8(in) % (SLOT_STEPS + 1);
        ret[s] = ret_value(in_u8(in));
        if (n > MAX_STEPS - used)
            n = MAX_STEPS - used;
        used += n;
        for (unsigned i = 0; i < n; i++)
            emit_step(&prog[s], in);
    }
    ret[S_CONFIGURE] = 1; /* a refused configuration would leave nothing to fuzz */
}

/* ---- the allocator ------------------------------------------------------------------------- */

/* Modes 0-2 all bump, so most inputs have an allocator that works and reach past it. */
enum { A_BUMP_LAST = 2, A_CONST, A_TRAP, A_GROW, A_SKEW, A_TRAP_LATER };

/* proxy_on_memory_allocate(size): its own program first (hostcalls are restricted there),
 * then an answer the host must check: wrapping bump, constant, trap, grow, off by delta, or
 * a trap after k good blocks. Globals: 0 = bump pointer, 1 = calls so far. */
static void emit_alloc(buf_t *code, const buf_t *prog, unsigned mode, uint32_t k)
{
    put(code, prog->p, prog->len);
    if (mode == A_CONST) {
        i32_const(code, k);
        return;
    }
    if (mode == A_TRAP) {
        put8(code, OP_UNREACHABLE);
        return;
    }
    if (mode == A_TRAP_LATER) {
        static const uint8_t count[] = {OP_GLOBAL_GET, 1, OP_I32_CONST, 1, OP_I32_ADD,
                                        OP_GLOBAL_SET, 1, OP_GLOBAL_GET, 1};
        put(code, count, sizeof count);
        i32_const(code, k % 16);
        static const uint8_t trap[] = {OP_I32_EQ, OP_IF, 0x40, OP_UNREACHABLE, OP_END};
        put(code, trap, sizeof trap);
    }
    if (mode == A_GROW) {
        static const uint8_t grow[] = {OP_I32_CONST, 1, OP_MEMORY_GROW, 0, OP_DROP};
        put(code, grow, sizeof grow);
    }
    /* p = top; if (p + size > memory end) p = HEAP_BASE; top = (p + size + 7) & ~7; p */
    static const uint8_t bump1[] = {
        OP_GLOBAL_GET, 0, OP_LOCAL_SET, 1, OP_LOCAL_GET, 1, OP_LOCAL_GET, 0, OP_I32_ADD,
        OP_MEMORY_SIZE, 0, OP_I32_CONST, 16, OP_I32_SHL, OP_I32_GT_U, OP_IF, 0x40,
    };
    put(code, bump1, sizeof bump1);
    i32_const(code, HEAP_BASE);
    static const uint8_t bump2[] = {
        OP_LOCAL_SET, 1, OP_END, OP_LOCAL_GET, 1, OP_LOCAL_GET, 0, OP_I32_ADD,
        OP_I32_CONST, 7, OP_I32_ADD, OP_I32_CONST, 0x78 /* -8 */, OP_I32_AND,
        OP_GLOBAL_SET, 0, OP_LOCAL_GET, 1,
    };
    put(code, bump2, sizeof bump2);
    if (mode == A_SKEW) {
        i32_const(code, (uint32_t)((int32_t)(k & 0xFF) - 128));
        put8(code, OP_I32_ADD);
    }
}

/* ---- the module ---------------------------------------------------------------------------- */

enum {
    F_ABI, F_ALLOC, F_CTX_CREATE, F_CONFIGURE, F_REQ_HEADERS, F_NEW_CONN, F_REQ_BODY,
    F_RESP_HEADERS, F_RESP_BODY, F_REQ_TRAILERS, F_RESP_TRAILERS, F_LOG, F_CALLOUT, F_TICK,
    F_QUEUE, F_DONE, F_INIT, F__COUNT
};

typedef struct fn_def {
    const char *params, *results;
    int slot;             /* program of the body; -1: none (constant or empty) */
    const char *names[2]; /* exports; NULL when fewer */
} fn_def_t;

/* Functions with the same type and program share a body under two export names, as SDKs
 * route HTTP and TCP data through one handler. */
static const fn_def_t fn_template[F__COUNT] = {
    [F_ABI] = {"", "", -1, {NULL, NULL}},
    [F_ALLOC] = {"i", "i", S_ALLOC, {"proxy_on_memory_allocate", NULL}},
    [F_CTX_CREATE] = {"ii", "", -1, {"proxy_on_context_create", NULL}},
    [F_CONFIGURE] = {"ii", "i", S_CONFIGURE, {"proxy_on_configure", NULL}},
    [F_REQ_HEADERS] = {"iii", "i", S_REQ_HEADERS, {"proxy_on_request_headers", NULL}},
    [F_NEW_CONN] = {"i", "i", S_REQ_HEADERS, {"proxy_on_new_connection", NULL}},
    [F_REQ_BODY] = {"iii", "i", S_REQ_BODY, {"proxy_on_request_body", "proxy_on_downstream_data"}},
    [F_RESP_HEADERS] = {"iii", "i", S_RESP_HEADERS, {"proxy_on_response_headers", NULL}},
    [F_RESP_BODY] = {"iii", "i", S_RESP_BODY, {"proxy_on_response_body", "proxy_on_upstream_data"}},
    [F_REQ_TRAILERS] = {"ii", "i", S_REQ_BODY, {"proxy_on_request_trailers", NULL}},
    [F_RESP_TRAILERS] = {"ii", "i", S_RESP_BODY, {"proxy_on_response_trailers", NULL}},
    [F_LOG] = {"i", "", S_LOG, {"proxy_on_log", NULL}},
    [F_CALLOUT] = {"iiiii", "", S_CALLOUT, {"proxy_on_http_call_response", NULL}},
    [F_TICK] = {"i", "", S_TICK, {"proxy_on_tick", NULL}},
    [F_QUEUE] = {"ii", "", S_QUEUE, {"proxy_on_queue_ready", NULL}},
    [F_DONE] = {"i", "i", -1, {"proxy_on_done", NULL}},
    [F_INIT] = {"", "", S_INIT, {"_initialize", NULL}},
};

typedef struct sigs {
    const char *params[MAX_SIGS], *results[MAX_SIGS]; /* borrowed static strings */
    size_t n;
} sigs_t;

static uint32_t sig_of(sigs_t *s, const char *params, const char *results)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->params[i], params) == 0 && strcmp(s->results[i], results) == 0)
            return (uint32_t)i;
    CHECK(s->n < MAX_SIGS);
    s->params[s->n] = params;
    s->results[s->n] = results;
    return (uint32_t)s->n++;
}

static void put_valtypes(buf_t *b, const char *t)
{
    uleb(b, strlen(t));
    for (; *t; t++)
        put8(b, *t == 'I' ? 0x7E : 0x7F);
}

typedef struct plan {
    unsigned alloc_mode;
    uint32_t alloc_k;
    const char *abi_marker;
    bool v010; /* headers callbacks take (context, headers) */
    buf_t prog[S__COUNT]; /* owned */
    int32_t ret[S__COUNT];
} plan_t;

static void emit_body(buf_t *code, const plan_t *pl, int f, const fn_def_t *d)
{
    buf_t body = {0};
    if (f == F_ALLOC) {
        put8(&body, 1); /* one local: the block's address */
        put8(&body, 1);
        put8(&body, 0x7F);
        emit_alloc(&body, &pl->prog[S_ALLOC], pl->alloc_mode, pl->alloc_k);
    } else {
        put8(&body, 0);
        if (d->slot >= 0)
            put(&body, pl->prog[d->slot].p, pl->prog[d->slot].len);
        if (d->results[0])
            i32_const(&body, d->slot >= 0 ? (uint32_t)pl->ret[d->slot] : 1);
    }
    put8(&body, OP_END);
    uleb(code, body.len);
    put(code, body.p, body.len);
    free(body.p);
}

/* Types, imports and the function section: every import's type comes from its table. */
static void emit_head(buf_t *mod, buf_t *sec, const fn_def_t *fns)
{
    sigs_t sigs = {.n = 0};
    uint32_t imp_type[MAX_IMPORTS], fn_type[F__COUNT];
    for (size_t i = 0; i < n_imps; i++)
        imp_type[i] = sig_of(&sigs, imps[i].params, imps[i].results);
    for (int f = 0; f < F__COUNT; f++)
        fn_type[f] = sig_of(&sigs, fns[f].params, fns[f].results);
    uleb(sec, sigs.n);
    for (size_t i = 0; i < sigs.n; i++) {
        put8(sec, 0x60);
        put_valtypes(sec, sigs.params[i]);
        put_valtypes(sec, sigs.results[i]);
    }
    put_section(mod, 1, sec);
    uleb(sec, n_imps);
    for (size_t i = 0; i < n_imps; i++) {
        put_name(sec, imps[i].module);
        put_name(sec, imps[i].name);
        put8(sec, 0x00);
        uleb(sec, imp_type[i]);
    }
    put_section(mod, 2, sec);
    uleb(sec, F__COUNT);
    for (int f = 0; f < F__COUNT; f++)
        uleb(sec, fn_type[f]);
    put_section(mod, 3, sec);
}

/* Memory (1 page, at most MAX_PAGES), the allocator's globals and the exports. */
static void emit_state(buf_t *mod, buf_t *sec, const fn_def_t *fns)
{
    static const uint8_t memory[] = {1, 0x01, 1, MAX_PAGES};
    put(sec, memory, sizeof memory);
    put_section(mod, 5, sec);
    put8(sec, 2);
    for (int g = 0; g < 2; g++) {
        put8(sec, 0x7F);
        put8(sec, 1);
        i32_const(sec, g == 0 ? HEAP_BASE : 0);
        put8(sec, OP_END);
    }
    put_section(mod, 6, sec);
    size_t n_exports = 1;
    for (int f = 0; f < F__COUNT; f++)
        n_exports += (fns[f].names[0] != NULL) + (fns[f].names[1] != NULL);
    uleb(sec, n_exports);
    put_name(sec, "memory");
    put8(sec, 0x02);
    put8(sec, 0);
    for (int f = 0; f < F__COUNT; f++)
        for (int k = 0; k < 2 && fns[f].names[k]; k++) {
            put_name(sec, fns[f].names[k]);
            put8(sec, 0x00);
            uleb(sec, n_imps + (size_t)f);
        }
    put_section(mod, 7, sec);
}

static void emit_module(buf_t *mod, const plan_t *pl)
{
    static const uint8_t magic[] = {0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00};
    fn_def_t fns[F__COUNT];
    memcpy(fns, fn_template, sizeof fns);
    fns[F_ABI].names[0] = pl->abi_marker;
    if (pl->v010)
        fns[F_REQ_HEADERS].params = fns[F_RESP_HEADERS].params = "ii";
    buf_t sec = {0};
    put(mod, magic, sizeof magic);
    emit_head(mod, &sec, fns);
    emit_state(mod, &sec, fns);
    uleb(&sec, F__COUNT);
    for (int f = 0; f < F__COUNT; f++)
        emit_body(&sec, pl, f, &fns[f]);
    put_section(mod, 10, &sec);
    put8(&sec, 1);
    put8(&sec, 0);
    i32_const(&sec, DATA_BASE);
    put8(&sec, OP_END);
    uleb(&sec, data_img.len);
    put(&sec, data_img.p, data_img.len);
    put_section(mod, 11, &sec);
    free(sec.p);
}

/* ---- a fake proxy stream: bounded maps and bodies, owned copies ------------------------------ */

enum { MAP_CAP = 16, STR_CAP = 4096, BODY_CAP = 4096, MAX_CALLOUTS = 16 };

typedef struct fstr {
    uint8_t *p; /* owned */
    size_t len;
} fstr_t;

typedef struct fmap {
    fstr_t k[MAP_CAP], v[MAP_CAP];
    uint32_t n;
    bool avail;
} fmap_t;

typedef struct fake {
    pw_stream_t *st; /* borrowed: the host's stream, once created */
    bool tcp;
    bool in_log;     /* maps are read-only from the access-log phase on */
    bool held[4];    /* directions the last event of each left stopped */
    bool replied;    /* a local reply went out: no more request events */
    bool responded;  /* response headers went through the filter */
    bool resuming;   /* a continue is handing buffered data to the plugin */
    fmap_t maps[4];
    uint8_t body[4][BODY_CAP];
    size_t body_len[4];
    bool body_avail[4];
    unsigned replies, continues[4], closes[4];
} fake_t;

static volatile uint8_t sink; /* reads of every byte the host hands out land here */

static void touch(const uint8_t *p, size_t n)
{
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= p[i];
    sink ^= x;
}

static bool lower_case(pw_slice_t k)
{
    for (size_t i = 0; i < k.len; i++)
        if (k.ptr[i] >= 'A' && k.ptr[i] <= 'Z')
            return false;
    return true;
}

/* The host defers stream actions until no guest code is on the stack (host.h). */
static void check_outside_guest(const fake_t *f)
{
    if (f->st && f->st->ctx.vm)
        CHECK(f->st->ctx.vm->depth == 0);
}

static fstr_t fdup(pw_slice_t s)
{
    fstr_t d = {malloc(s.len ? s.len : 1), s.len};
    CHECK(d.p != NULL);
    if (s.len)
        memcpy(d.p, s.ptr, s.len);
    return d;
}

static bool fstr_is(const fstr_t *a, pw_slice_t b)
{
    return a->len == b.len && (b.len == 0 || memcmp(a->p, b.ptr, b.len) == 0);
}

/* What a failing op leaves in its out-parameters: unusable, so a host that reads them anyway
 * crashes at once instead of now and then, on whatever the stack held. */
static const pw_slice_t poison = {(const uint8_t *)16, 64};

static fmap_t *map_of(void *s, pw_map_type_t m)
{
    CHECK((unsigned)m <= PW_MAP_RESPONSE_TRAILERS); /* maps 4..7 never reach the proxy */
    return &((fake_t *)s)->maps[m];
}

static pw_result_t f_map_count(void *s, pw_map_type_t m, uint32_t *count)
{
    fmap_t *fm = map_of(s, m);
    *count = UINT32_MAX;
    if (!fm->avail)
        return PW_R_BAD_ARGUMENT;
    *count = fm->n;
    return PW_R_OK;
}

static pw_result_t f_map_entry(void *s, pw_map_type_t m, uint32_t i, pw_header_t *out)
{
    fmap_t *fm = map_of(s, m);
    CHECK(fm->avail && i < fm->n);
    out->key = (pw_slice_t){fm->k[i].p, fm->k[i].len};
    out->value = (pw_slice_t){fm->v[i].p, fm->v[i].len};
    return PW_R_OK;
}

static pw_result_t f_map_get(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t *value)
{
    fmap_t *fm = map_of(s, m);
    CHECK(lower_case(key));
    touch(key.ptr, key.len);
    *value = poison;
    if (!fm->avail)
        return PW_R_BAD_ARGUMENT;
    for (uint32_t i = 0; i < fm->n; i++)
        if (fstr_is(&fm->k[i], key)) {
            *value = (pw_slice_t){fm->v[i].p, fm->v[i].len};
            return PW_R_OK;
        }
    return PW_R_NOT_FOUND;
}

static bool writable(const fake_t *f, const fmap_t *fm)
{
    return fm->avail && !f->in_log;
}

static pw_result_t f_map_add(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t value)
{
    fmap_t *fm = map_of(s, m);
    CHECK(lower_case(key));
    touch(key.ptr, key.len);
    touch(value.ptr, value.len);
    if (!writable(s, fm) || fm->n == MAP_CAP || key.len > STR_CAP || value.len > STR_CAP)
        return PW_R_BAD_ARGUMENT;
    fm->k[fm->n] = fdup(key);
    fm->v[fm->n++] = fdup(value);
    return PW_R_OK;
}

static pw_result_t f_map_remove(void *s, pw_map_type_t m, pw_slice_t key)
{
    fmap_t *fm = map_of(s, m);
    CHECK(lower_case(key));
    touch(key.ptr, key.len);
    if (!writable(s, fm))
        return PW_R_BAD_ARGUMENT;
    uint32_t out = 0;
    for (uint32_t i = 0; i < fm->n; i++) {
        if (fstr_is(&fm->k[i], key)) {
            free(fm->k[i].p);
            free(fm->v[i].p);
            continue;
        }
        fm->k[out] = fm->k[i];
        fm->v[out++] = fm->v[i];
    }
    fm->n = out;
    return PW_R_OK;
}

static pw_result_t f_map_replace(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t value)
{
    pw_result_t r = f_map_remove(s, m, key);
    return r == PW_R_OK ? f_map_add(s, m, key, value) : r;
}

static void map_clear(fmap_t *fm)
{
    while (fm->n) {
        fm->n--;
        free(fm->k[fm->n].p);
        free(fm->v[fm->n].p);
    }
}

static pw_result_t f_map_set_all(void *s, pw_map_type_t m, const pw_header_t *h, size_t n)
{
    fmap_t *fm = map_of(s, m);
    CHECK(n == 0 || h != NULL);
    bool fits = n <= MAP_CAP;
    for (size_t i = 0; i < n; i++) {
        CHECK(lower_case(h[i].key));
        touch(h[i].key.ptr, h[i].key.len);
        touch(h[i].value.ptr, h[i].value.len);
        fits = fits && h[i].key.len <= STR_CAP && h[i].value.len <= STR_CAP;
    }
    if (!writable(s, fm) || !fits)
        return PW_R_BAD_ARGUMENT;
    map_clear(fm);
    for (size_t i = 0; i < n; i++) {
        fm->k[fm->n] = fdup(h[i].key);
        fm->v[fm->n++] = fdup(h[i].value);
    }
    return PW_R_OK;
}

static pw_result_t f_buffer_size(void *s, pw_buffer_type_t b, size_t *len)
{
    fake_t *f = s;
    CHECK((unsigned)b <= PW_BUFFER_UPSTREAM_DATA);
    *len = SIZE_MAX / 2;
    if (!f->body_avail[b])
        return PW_R_NOT_FOUND;
    *len = f->body_len[b];
    return PW_R_OK;
}

/* The host clamps ranges before these two (host.h): a range past the end is its bug. */
static pw_result_t f_buffer_copy(void *s, pw_buffer_type_t b, size_t start, size_t len,
                                 uint8_t *dst)
{
    fake_t *f = s;
    CHECK((unsigned)b <= PW_BUFFER_UPSTREAM_DATA && f->body_avail[b]);
    CHECK(start <= f->body_len[b] && len <= f->body_len[b] - start);
    CHECK(len == 0 || dst != NULL);
    if (len)
        memcpy(dst, f->body[b] + start, len);
    return PW_R_OK;
}

static pw_result_t f_buffer_splice(void *s, pw_buffer_type_t b, size_t start, size_t remove_len,
                                   pw_slice_t data)
{
    fake_t *f = s;
    CHECK((unsigned)b <= PW_BUFFER_UPSTREAM_DATA && f->body_avail[b]);
    size_t len = f->body_len[b];
    CHECK(start <= len && remove_len <= len - start);
    touch(data.ptr, data.len);
    if (data.len > BODY_CAP || len - remove_len + data.len > BODY_CAP)
        return PW_R_BAD_ARGUMENT;
    uint8_t *p = f->body[b];
    memmove(p + start + data.len, p + start + remove_len, len - start - remove_len);
    if (data.len)
        memcpy(p + start, data.ptr, data.len);
    f->body_len[b] = len - remove_len + data.len;
    return PW_R_OK;
}

static pw_result_t f_attr_get(void *s, pw_attr_t attr, pw_attr_value_t *out)
{
    fake_t *f = s;
    CHECK((unsigned)attr < PW_ATTR__COUNT);
    *out = (pw_attr_value_t){.kind = PW_VAL_STRING, .u.str = poison};
    static const char path[] = "/hello?q=1", addr[] = "127.0.0.1:4242", cluster[] = "cluster";
    switch (attr) {
    case PW_ATTR_REQUEST_PATH:
        *out = (pw_attr_value_t){.kind = PW_VAL_STRING,
                                 .u.str = {(const uint8_t *)path, sizeof path - 1}};
        return PW_R_OK;
    case PW_ATTR_SOURCE_ADDRESS:
        *out = (pw_attr_value_t){.kind = PW_VAL_STRING,
                                 .u.str = {(const uint8_t *)addr, sizeof addr - 1}};
        return PW_R_OK;
    case PW_ATTR_CLUSTER_NAME:
        *out = (pw_attr_value_t){.kind = PW_VAL_STRING,
                                 .u.str = {(const uint8_t *)cluster, sizeof cluster - 1}};
        return PW_R_OK;
    case PW_ATTR_SOURCE_PORT:
        *out = (pw_attr_value_t){.kind = PW_VAL_INT, .u.i = 4242};
        return PW_R_OK;
    case PW_ATTR_REQUEST_TIME:
        *out = (pw_attr_value_t){.kind = PW_VAL_INT, .u.i = 1700000000000000000ll};
        return PW_R_OK;
    case PW_ATTR_CONNECTION_ID:
        *out = (pw_attr_value_t){.kind = PW_VAL_UINT, .u.u = UINT64_MAX};
        return PW_R_OK;
    case PW_ATTR_CONNECTION_MTLS:
        *out = (pw_attr_value_t){.kind = PW_VAL_BOOL, .u.b = true};
        return PW_R_OK;
    case PW_ATTR_REQUEST_DURATION:
        *out = (pw_attr_value_t){.kind = PW_VAL_DOUBLE, .u.d = -0.5};
        return PW_R_OK;
    case PW_ATTR_RESPONSE_CODE:
        if (!f->maps[PW_MAP_RESPONSE_HEADERS].avail)
            return PW_R_NOT_FOUND;
        *out = (pw_attr_value_t){.kind = PW_VAL_INT, .u.i = 200};
        return PW_R_OK;
    default:
        return PW_R_NOT_FOUND;
    }
}

/* The action is one the filter chain knows; a stop holds its direction until a continue or a
 * local reply, as the host keeps track of it. */
static void after_event(fake_t *f, pw_stream_type_t dir, pw_action_t a)
{
    CHECK((unsigned)a <= PW_STOP_NO_BUFFER);
    f->held[dir] = a != PW_CONTINUE && f->replies == 0;
}

static void fake_header(fake_t *f, pw_map_type_t m, const char *k, const char *v)
{
    fmap_t *fm = &f->maps[m];
    CHECK(fm->n < MAP_CAP);
    fm->avail = true;
    fm->k[fm->n] = fdup((pw_slice_t){(const uint8_t *)k, strlen(k)});
    fm->v[fm->n++] = fdup((pw_slice_t){(const uint8_t *)v, strlen(v)});
}

/* As a proxy does (and host.h allows), the reply flows through the response filters at once:
 * the plugin's response callbacks run from inside this op. */
static void reply_through_filters(fake_t *f, uint32_t status, pw_slice_t body,
                                  const pw_header_t *h, size_t n)
{
    char code[16];
    snprintf(code, sizeof code, "%u", status);
    fmap_t *fm = &f->maps[PW_MAP_RESPONSE_HEADERS];
    map_clear(fm);
    fake_header(f, PW_MAP_RESPONSE_HEADERS, ":status", code);
    for (size_t i = 0; i < n && fm->n < MAP_CAP; i++)
        if (h[i].key.len <= STR_CAP && h[i].value.len <= STR_CAP) {
            fm->k[fm->n] = fdup(h[i].key);
            fm->v[fm->n++] = fdup(h[i].value);
        }
    size_t len = body.len < BODY_CAP ? body.len : BODY_CAP;
    if (len)
        memcpy(f->body[PW_BUFFER_RESPONSE_BODY], body.ptr, len);
    f->body_len[PW_BUFFER_RESPONSE_BODY] = len;
    f->body_avail[PW_BUFFER_RESPONSE_BODY] = true;
    f->responded = true;
    after_event(f, PW_STREAM_RESPONSE, pw_stream_on_response_headers(f->st, fm->n, len == 0));
    if (len)
        after_event(f, PW_STREAM_RESPONSE, pw_stream_on_response_body(f->st, len, true));
}

static void f_send_local_reply(void *s, uint32_t status, pw_slice_t details, pw_slice_t body,
                               const pw_header_t *h, size_t n, int32_t grpc_status)
{
    fake_t *f = s;
    (void)grpc_status;
    check_outside_guest(f);
    CHECK(!f->tcp);
    touch(details.ptr, details.len);
    touch(body.ptr, body.len);
    CHECK(n == 0 || h != NULL);
    for (size_t i = 0; i < n; i++) {
        CHECK(lower_case(h[i].key));
        touch(h[i].key.ptr, h[i].key.len);
        touch(h[i].value.ptr, h[i].value.len);
    }
    f->replies++;
    f->replied = true;
    memset(f->held, 0, sizeof f->held); /* a reply ends whatever the filter held */
    if (f->st && !f->responded && !f->in_log)
        reply_through_filters(f, status, body, h, n);
}

/* A proxy resuming a direction hands the plugin the data it buffered meanwhile, from inside
 * the continue op (host.h allows it): the plugin runs while the host applies its actions. */
static void resume_data(fake_t *f, pw_stream_type_t dir)
{
    pw_buffer_type_t b = (pw_buffer_type_t)dir; /* each direction's buffer has its number */
    if (!f->st || f->in_log || f->replied || f->resuming || !f->body_avail[b])
        return;
    f->resuming = true;
    size_t n = f->body_len[b];
    pw_action_t a = dir == PW_STREAM_REQUEST    ? pw_stream_on_request_body(f->st, n, true)
                    : dir == PW_STREAM_RESPONSE ? pw_stream_on_response_body(f->st, n, true)
                    : dir == PW_STREAM_DOWNSTREAM
                        ? pw_stream_on_downstream_data(f->st, n, false)
                        : pw_stream_on_upstream_data(f->st, n, false);
    after_event(f, dir, a);
    f->resuming = false;
}

static void f_continue_stream(void *s, pw_stream_type_t dir)
{
    fake_t *f = s;
    check_outside_guest(f);
    CHECK((unsigned)dir <= PW_STREAM_UPSTREAM);
    CHECK(f->held[dir]); /* host.h: the proxy only sees continues for paused directions */
    f->held[dir] = false;
    f->continues[dir]++;
    resume_data(f, dir);
}

static void f_close_stream(void *s, pw_stream_type_t dir)
{
    fake_t *f = s;
    check_outside_guest(f);
    CHECK((unsigned)dir <= PW_STREAM_UPSTREAM);
    f->closes[dir]++;
}

static const pw_stream_ops_t stream_ops = {
    .map_count = f_map_count, .map_entry = f_map_entry, .map_get = f_map_get,
    .map_add = f_map_add, .map_replace = f_map_replace, .map_remove = f_map_remove,
    .map_set_all = f_map_set_all, .buffer_size = f_buffer_size, .buffer_copy = f_buffer_copy,
    .buffer_splice = f_buffer_splice, .attr_get = f_attr_get,
    .send_local_reply = f_send_local_reply, .continue_stream = f_continue_stream,
    .close_stream = f_close_stream,
};

static void fake_body(fake_t *f, pw_buffer_type_t b, const char *text)
{
    size_t n = strlen(text);
    memcpy(f->body[b], text, n);
    f->body_len[b] = n;
    f->body_avail[b] = true;
}

static void fake_free(fake_t *f)
{
    for (int m = 0; m < 4; m++)
        map_clear(&f->maps[m]);
}

/* ---- the per-thread ops: a log sink, a recording timer, recorded callouts ------------------ */

typedef struct disp {
    unsigned log_lines, notifies;
    pw_root_t *timer_root; /* borrowed: the host stops the timer before the root goes */
    uint32_t period_ms;
    uint32_t tokens[MAX_CALLOUTS]; /* outstanding callouts */
    size_t n_tokens;
} disp_t;

static void d_log(void *ud, pw_log_level_t level, const char *who, const char *msg, size_t len)
{
    disp_t *d = ud;
    CHECK((unsigned)level <= PW_LOG_CRITICAL && who != NULL);
    touch((const uint8_t *)who, strlen(who));
    touch((const uint8_t *)msg, len);
    d->log_lines++;
}

static void d_timer_set(void *ud, pw_root_t *root, uint32_t period_ms)
{
    disp_t *d = ud;
    CHECK(root != NULL);
    if (period_ms) {
        d->timer_root = root;
        d->period_ms = period_ms;
    } else if (d->timer_root == root) {
        d->timer_root = NULL;
        d->period_ms = 0;
    }
}

static void d_queue_notify(void *ud)
{
    ((disp_t *)ud)->notifies++;
}

static bool has_key(const pw_header_t *h, size_t n, const char *key)
{
    pw_slice_t k = {(const uint8_t *)key, strlen(key)};
    for (size_t i = 0; i < n; i++)
        if (h[i].key.len == k.len && memcmp(h[i].key.ptr, k.ptr, k.len) == 0)
            return true;
    return false;
}

static size_t token_index(const disp_t *d, uint32_t token)
{
    for (size_t i = 0; i < d->n_tokens; i++)
        if (d->tokens[i] == token)
            return i;
    return SIZE_MAX;
}

/* Checks what host.h promises about a callout, then records its token; only the cluster
 * the data segment names exists. */
static pw_result_t d_http_call(void *ud, const pw_http_call_t *req, uint32_t token)
{
    disp_t *d = ud;
    CHECK(token != 0 && token_index(d, token) == SIZE_MAX);
    CHECK(req->n_headers == 0 || req->headers != NULL);
    CHECK(req->n_trailers == 0 || req->trailers != NULL);
    CHECK(has_key(req->headers, req->n_headers, ":method") &&
          has_key(req->headers, req->n_headers, ":path") &&
          (has_key(req->headers, req->n_headers, ":authority") ||
           has_key(req->headers, req->n_headers, "host")));
    const pw_header_t *lists[2] = {req->headers, req->trailers};
    size_t counts[2] = {req->n_headers, req->n_trailers};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            CHECK(lower_case(lists[l][i].key));
            touch(lists[l][i].key.ptr, lists[l][i].key.len);
            touch(lists[l][i].value.ptr, lists[l][i].value.len);
        }
    touch(req->cluster.ptr, req->cluster.len);
    touch(req->body.ptr, req->body.len);
    if (req->cluster.len != 7 || memcmp(req->cluster.ptr, "cluster", 7) != 0)
        return PW_R_BAD_ARGUMENT;
    if (d->n_tokens == MAX_CALLOUTS)
        return PW_R_INTERNAL_FAILURE;
    d->tokens[d->n_tokens++] = token;
    return PW_R_OK;
}

static void d_http_call_cancel(void *ud, uint32_t token)
{
    disp_t *d = ud;
    size_t i = token_index(d, token);
    CHECK(i != SIZE_MAX); /* only outstanding callouts are cancelled */
    d->tokens[i] = d->tokens[--d->n_tokens];
}

/* ---- driving one plugin through a request -------------------------------------------------- */

/* Options from the input's first bytes. */
typedef struct opts {
    bool tcp, second_stream, fail_open, allow_stop, one_page, no_http_call, no_timer, eos;
    bool explicit_log, callout_fails, configs, trailers, reuse, other_vm;
    pw_log_level_t log_level;
} opts_t;

/* Delivers what a proxy's loop would between events: callout completions (responses or
 * resets), one tick of an armed timer, and queue wake-ups. */
static void async_round(pw_thread_t *t, disp_t *d, const opts_t *o)
{
    static const pw_header_t hdrs[] = {
        {{(const uint8_t *)":status", 7}, {(const uint8_t *)"200", 3}},
        {{(const uint8_t *)"x-a", 3}, {(const uint8_t *)"1", 1}},
    };
    static const pw_header_t trailers[] = {
        {{(const uint8_t *)"grpc-status", 11}, {(const uint8_t *)"0", 1}},
    };
    static const pw_http_response_t resp = {
        .headers = hdrs, .n_headers = 2, .body = {(const uint8_t *)"callout body", 12},
        .trailers = trailers, .n_trailers = 1,
    };
    /* Callouts started by these callbacks wait for the next round; one whose root ends (a
     * trap) is cancelled by the host while still outstanding here. */
    uint32_t due[MAX_CALLOUTS];
    size_t n = d->n_tokens;
    memcpy(due, d->tokens, n * sizeof *due);
    for (size_t i = 0; i < n; i++) {
        size_t k = token_index(d, due[i]);
        if (k == SIZE_MAX)
            continue;
        d->tokens[k] = d->tokens[--d->n_tokens];
        pw_thread_http_call_done(t, due[i], o->callout_fails && (i & 1) == 0 ? NULL : &resp);
    }
    if (d->timer_root)
        pw_root_on_tick(d->timer_root);
    pw_thread_dispatch_queues(t);
}

/* After a local reply the request is over and the reply was the response: the proxy sends
 * no more events of either. Otherwise events keep coming while a direction is held, so the
 * host copes with any order. */
static void request_rest(fake_t *f, const opts_t *o)
{
    if (f->replied)
        return;
    fake_body(f, PW_BUFFER_REQUEST_BODY, "request body");
    after_event(f, PW_STREAM_REQUEST,
                pw_stream_on_request_body(f->st, f->body_len[0], !o->trailers));
    if (o->trailers && !f->replied) {
        fake_header(f, PW_MAP_REQUEST_TRAILERS, "x-t", "1");
        after_event(f, PW_STREAM_REQUEST, pw_stream_on_request_trailers(f->st, f->maps[1].n));
    }
}

static void response(fake_t *f, const opts_t *o)
{
    if (f->responded)
        return;
    f->responded = true;
    fake_header(f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    fake_header(f, PW_MAP_RESPONSE_HEADERS, "content-type", "text/plain");
    after_event(f, PW_STREAM_RESPONSE, pw_stream_on_response_headers(f->st, f->maps[2].n, false));
    fake_body(f, PW_BUFFER_RESPONSE_BODY, "response body");
    after_event(f, PW_STREAM_RESPONSE,
                pw_stream_on_response_body(f->st, f->body_len[1], !o->trailers));
    if (o->trailers) {
        fake_header(f, PW_MAP_RESPONSE_TRAILERS, "grpc-status", "0");
        after_event(f, PW_STREAM_RESPONSE, pw_stream_on_response_trailers(f->st, f->maps[3].n));
    }
}

static fake_t *stream_open(pw_thread_t *t, pw_plugin_t *p, const char *method, const char *path)
{
    fake_t *f = calloc(1, sizeof *f);
    CHECK(f != NULL);
    fake_header(f, PW_MAP_REQUEST_HEADERS, ":method", method);
    fake_header(f, PW_MAP_REQUEST_HEADERS, ":path", path);
    fake_header(f, PW_MAP_REQUEST_HEADERS, ":authority", "example.test");
    CHECK((f->st = pw_stream_new(t, p, PW_KIND_HTTP, &stream_ops, f)) != NULL);
    return f;
}

static void stream_close(fake_t *f, bool explicit_log)
{
    if (!f)
        return;
    f->in_log = true;
    if (explicit_log)
        pw_stream_on_log(f->st);
    pw_stream_free(f->st);
    fake_free(f);
    free(f);
}

/* Stream a is the one followed to the end; b runs beside it (on p2's VM when there is one)
 * and ends early, and c reuses the host's stream object b left behind, so a stale field of b
 * would show. */
static void drive_http(pw_thread_t *t, pw_plugin_t *p, pw_plugin_t *p2, disp_t *d,
                       const opts_t *o)
{
    fake_t *a = stream_open(t, p, "POST", "/hello?q=1"), *b = NULL, *c = NULL;
    fake_header(a, PW_MAP_REQUEST_HEADERS, "x-a", "1");
    fake_header(a, PW_MAP_REQUEST_HEADERS, "x-a", "2"); /* properties join repeated names */
    if (o->second_stream)
        b = stream_open(t, p2 ? p2 : p, "GET", "/other");
    after_event(a, PW_STREAM_REQUEST,
                pw_stream_on_request_headers(a->st, a->maps[0].n, o->eos));
    if (b)
        after_event(b, PW_STREAM_REQUEST, pw_stream_on_request_headers(b->st, b->maps[0].n, true));
    async_round(t, d, o);
    request_rest(a, o);
    stream_close(b, false);
    if (o->reuse) {
        c = stream_open(t, p, "PUT", "/third");
        after_event(c, PW_STREAM_REQUEST, pw_stream_on_request_headers(c->st, c->maps[0].n, true));
    }
    response(a, o);
    async_round(t, d, o);
    stream_close(c, false);
    stream_close(a, o->explicit_log);
}

static void drive_tcp(pw_thread_t *t, pw_plugin_t *p, disp_t *d, const opts_t *o)
{
    fake_t *a = calloc(1, sizeof *a);
    CHECK(a != NULL);
    a->tcp = true;
    pw_stream_t *sa = pw_stream_new(t, p, PW_KIND_TCP, &stream_ops, a);
    CHECK(sa != NULL);
    a->st = sa;
    after_event(a, PW_STREAM_DOWNSTREAM, pw_stream_on_new_connection(sa));
    fake_body(a, PW_BUFFER_DOWNSTREAM_DATA, "ping");
    after_event(a, PW_STREAM_DOWNSTREAM, pw_stream_on_downstream_data(sa, a->body_len[2], false));
    async_round(t, d, o);
    fake_body(a, PW_BUFFER_UPSTREAM_DATA, "pong");
    after_event(a, PW_STREAM_UPSTREAM, pw_stream_on_upstream_data(sa, a->body_len[3], o->eos));
    pw_stream_on_downstream_close(sa, PW_PEER_REMOTE);
    pw_stream_on_upstream_close(sa, PW_PEER_LOCAL);
    async_round(t, d, o);
    pw_stream_free(sa);
    fake_free(a);
    free(a);
}

/* Input: a mode byte (allocator | ABI << 3 | TCP, second stream, fail-open), a byte of plugin
 * and proxy options, a byte of log level | trailers, stream reuse, second VM, a 4-byte
 * allocator constant, then each slot's step count, return byte and steps. */
static void read_plan(in_t *in, plan_t *pl, opts_t *o)
{
    static const char *const markers[4] = {
        "proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0", "proxy_abi_version_0_1_0",
        "proxy_abi_version_0_2_1",
    };
    uint8_t m = in_u8(in), x = in_u8(in), y = in_u8(in);
    pl->alloc_mode = m & 7;
    pl->abi_marker = markers[(m >> 3) & 3];
    pl->v010 = ((m >> 3) & 3) == 2;
    o->tcp = m & 0x20;
    o->second_stream = m & 0x40;
    o->fail_open = m & 0x80;
    o->allow_stop = x & 0x01;
    o->one_page = x & 0x02;
    o->no_http_call = x & 0x04;
    o->no_timer = x & 0x08;
    o->eos = x & 0x10;
    o->explicit_log = x & 0x20;
    o->callout_fails = x & 0x40;
    o->configs = x & 0x80;
    o->log_level = (pw_log_level_t)((y & 7) % 7);
    o->trailers = y & 0x08;
    o->reuse = y & 0x10;
    o->other_vm = y & 0x20;
    pl->alloc_k = (uint32_t)in_le(in, 4);
    read_programs(in, pl->prog, pl->ret);
}

static void run(const uint8_t *bytes, size_t len, const opts_t *o)
{
    pw_code_t *code = NULL;
    pw_error_t err = {0};
    pw_status_t st = pw_code_load(bytes, len, &code, &err);
    if (st != PW_OK) {
        fprintf(stderr, "hostcalls: the generated module does not load: %s: %s\n",
                pw_status_str(st), err.message);
        abort();
    }
    static const char vm_conf[] = "vm configuration", plugin_conf[] = "{\"k\": 1}";
    static const pw_env_var_t env[] = {{"FUZZ", "1"}}; /* what WASI environ_get hands out */
    pw_plugin_config_t cfg = {
        .name = "fuzz", .root_id = "root", .vm_id = "vm",
        .vm_configuration = {(const uint8_t *)vm_conf, o->configs ? sizeof vm_conf - 1 : 0},
        .plugin_configuration = {(const uint8_t *)plugin_conf,
                                 o->configs ? sizeof plugin_conf - 1 : 0},
        .fail_open = o->fail_open, .allow_on_headers_stop_iteration = o->allow_stop,
        .deadline_ms = 50, .max_memory_bytes = (o->one_page ? 1 : MAX_PAGES) * (uint64_t)PAGE,
        .log_level = o->log_level, .queue_max_items = 8, .env = env, .n_env = 1,
    };
    pw_plugin_t *plugin = NULL, *plugin2 = NULL;
    CHECK(pw_plugin_new(&cfg, code, &plugin, &err) == PW_OK);
    if (o->other_vm) { /* another vm_id: the same code in a second replica on this thread */
        cfg.name = "fuzz2";
        cfg.vm_id = "vm2";
        CHECK(pw_plugin_new(&cfg, code, &plugin2, &err) == PW_OK);
    }
    pw_dispatch_ops_t ops = {
        .log = d_log, .queue_notify = d_queue_notify,
        .timer_set = o->no_timer ? NULL : d_timer_set,
        .http_call = o->no_http_call ? NULL : d_http_call,
        .http_call_cancel = d_http_call_cancel,
    };
    disp_t d = {0};
    pw_thread_t *t = pw_thread_new(&ops, &d);
    CHECK(t != NULL);
    if (o->tcp)
        drive_tcp(t, plugin, &d, o);
    else
        drive_http(t, plugin, plugin2, &d, o);
    pw_thread_stats_t stats;
    pw_thread_stats(t, &stats);
    CHECK(stats.streams_live == 0);
    pw_thread_free(t);
    /* Every callout ended (answered or cancelled) and every timer stopped with its root. */
    CHECK(d.n_tokens == 0 && d.timer_root == NULL);
    pw_plugin_unref(plugin2);
    pw_plugin_unref(plugin);
    pw_code_unref(code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!n_imps) {
        imports_init();
        items_init();
    }
    in_t in = {data, size, 0};
    plan_t pl = {0};
    opts_t o = {0};
    read_plan(&in, &pl, &o);
    buf_t mod = {0};
    emit_module(&mod, &pl);
    run(mod.p, mod.len, &o);
    free(mod.p);
    for (int s = 0; s < S__COUNT; s++)
        free(pl.prog[s].p);
    return 0;
}
