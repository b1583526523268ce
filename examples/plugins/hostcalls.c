/* Test plugin whose behaviour comes from its plugin configuration (one keyword): traps,
 * infinite loops, bad pointers to hostcalls, lifecycle logging, pauses and resumes, local
 * replies, buffer and header-map edits, allocator stress. The host's unit and integration
 * tests drive it. */
#include "proxy_wasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
IMPORT(proxy_log) int raw_log(int level, const char *msg, size_t len);
IMPORT(proxy_get_header_map_value)
int raw_get_header(int map, const char *k, size_t kl, char **v, size_t *vl);
IMPORT(proxy_get_buffer_bytes)
int raw_get_buffer(int type, size_t start, size_t max, char **ptr, size_t *len);
IMPORT(proxy_get_property) int raw_get_property(const char *p, size_t pl, char **v, size_t *vl);
IMPORT(proxy_set_header_map_pairs) int raw_set_pairs(int map, const void *p, size_t l);
IMPORT(proxy_send_local_response)
int raw_local_response(int status, const char *d, size_t dl, const void *b, size_t bl,
                       const void *h, size_t hl, int grpc);
IMPORT(proxy_get_current_time_nanoseconds) int raw_time(uint64_t *t);
IMPORT(proxy_http_call)
int raw_http_call(const char *u, size_t ul, const void *h, size_t hl, const void *b, size_t bl,
                  const void *t, size_t tl, int timeout, uint32_t *token);
IMPORT(proxy_set_shared_data)
int raw_set_shared(const char *k, size_t kl, const void *v, size_t vl, uint32_t cas);
IMPORT(proxy_get_shared_data)
int raw_get_shared(const char *k, size_t kl, char **v, size_t *vl, uint32_t *cas);
IMPORT(proxy_define_metric) int raw_define_metric(int type, const char *n, size_t nl, uint32_t *id);
IMPORT(proxy_continue_stream) int raw_continue(int type);
IMPORT(proxy_get_buffer_status) int raw_buffer_status(int type, size_t *len, uint32_t *flags);
IMPORT(proxy_get_header_map_size) int raw_map_size(int map, uint32_t *size);
IMPORT(proxy_dequeue_shared_queue) int raw_dequeue(uint32_t q, char **v, size_t *vl);

static char mode[64]; /* the configuration keyword */

static bool is(const char *m) { return strcmp(mode, m) == 0; }

static void trace(const char *what, uint32_t ctx)
{
    if (is("lifecycle"))
        pwc_log(PWC_LOG_INFO, "cb %s %u", what, ctx);
}

static bool vm_start(uint32_t root, size_t size)
{
    (void)size;
    trace("vm_start", root);
    return true;
}

static bool configure(uint32_t root, size_t size)
{
    char *cfg = NULL;
    size_t len = 0;
    if (pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    snprintf(mode, sizeof mode, "%s", cfg ? cfg : "");
    free(cfg);
    trace("configure", root);
    if (is("trap_on_configure"))
        __builtin_trap();
    if (is("tick_trap") && pwc_set_tick_period_ms(10) != PWC_OK)
        return false;
    return !is("reject_configure");
}

static volatile int sink;

/* "ctx_data": every stream context keeps a record through pwc_set_data and checks at each
 * callback that the SDK's context table still hands back its own; a mismatch traps. */
typedef struct ctx_rec {
    uint32_t id, magic;
} ctx_rec_t;

enum { CTX_MAGIC = 0x5eed1e55u };

static void ctx_check(uint32_t ctx)
{
    if (!is("ctx_data"))
        return;
    ctx_rec_t *r = pwc_data(ctx);
    if (!r || r->id != ctx || r->magic != CTX_MAGIC)
        __builtin_trap();
}

/* Results of hostcalls given out-of-range pointers, as "r1,r2,..." in x-badptr. */
static void bad_pointers(void)
{
    char *const bad = (char *)0xFFFFFFF0u;
    char *v;
    size_t l;
    uint64_t *badt = (uint64_t *)0xFFFFFFFCu;
    int r[8] = {
        raw_log(PWC_LOG_INFO, bad, 64),
        raw_get_header(PWC_REQUEST_HEADERS, bad, 32, &v, &l),
        raw_get_header(PWC_REQUEST_HEADERS, ":path", 5, (char **)bad, (size_t *)bad),
        raw_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, 10, &v, (size_t *)bad),
        raw_get_property(bad, 100, &v, &l),
        raw_set_pairs(PWC_REQUEST_HEADERS, bad, 100),
        raw_local_response(200, bad, 10, "", 0, "", 0, -1),
        raw_time(badt),
    };
    char out[64];
    snprintf(out, sizeof out, "%d,%d,%d,%d,%d,%d,%d,%d", r[0], r[1], r[2], r[3], r[4], r[5],
             r[6], r[7]);
    pwc_replace_header(PWC_REQUEST_HEADERS, "x-badptr", out);
}

/* Statuses of async hostcalls given minimal arguments, as x-unimplemented: the callout has
 * an empty header map (BAD_ARGUMENT, or UNIMPLEMENTED without the proxy's op). */
static void unimplemented(void)
{
    uint32_t token = 0, cas = 0, id = 0;
    char *v = NULL;
    size_t l = 0;
    static const char hdrs[] = "\0\0\0\0";
    int r[4] = {
        raw_http_call("cluster", 7, hdrs, 4, "", 0, hdrs, 4, 1000, &token),
        raw_set_shared("k", 1, "v", 1, 0),
        raw_get_shared("k", 1, &v, &l, &cas),
        raw_define_metric(0, "m", 1, &id),
    };
    char out[64];
    snprintf(out, sizeof out, "%d,%d,%d,%d", r[0], r[1], r[2], r[3]);
    pwc_replace_header(PWC_REQUEST_HEADERS, "x-unimplemented", out);
}

static void tick(uint32_t root)
{
    trace("tick", root);
    if (is("tick_trap"))
        __builtin_trap();
}

static void set_num(const char *name, long long v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    pwc_replace_header(PWC_REQUEST_HEADERS, name, num);
}

/* "k=v;" for every entry of a map, as a request header. */
static void dump_map(pwc_map_t m, const char *name)
{
    pwc_header_t *h = NULL;
    size_t n = 0;
    char out[512] = "";
    if (pwc_get_headers(m, &h, &n) == PWC_OK)
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(out);
            snprintf(out + l, sizeof out - l, "%s=%s;", h[i].key, h[i].value);
        }
    free(h);
    pwc_replace_header(PWC_REQUEST_HEADERS, name, out);
}

/* "callout_dump": everything a callout response exposes, copied onto the paused request;
 * "callout_trap": the answer traps. */
static void call_response(uint32_t ctx, uint32_t token, uint32_t nh, size_t body, uint32_t nt)
{
    (void)ctx, (void)token;
    if (is("callout_trap"))
        __builtin_trap();
    set_num("x-call-counts", (long long)nh * 10000 + (long long)body * 100 + nt);
    dump_map(PWC_HTTP_CALL_RESPONSE_HEADERS, "x-call-headers");
    dump_map(PWC_HTTP_CALL_RESPONSE_TRAILERS, "x-call-trailers");
    uint32_t size = 0;
    raw_map_size(PWC_HTTP_CALL_RESPONSE_HEADERS, &size);
    set_num("x-call-headers-bytes", size);
    char *b = NULL;
    size_t l = 0;
    pwc_get_buffer(PWC_HTTP_CALL_RESPONSE_BODY, 0, body, &b, &l);
    pwc_replace_header(PWC_REQUEST_HEADERS, "x-call-body", b ? b : "");
    free(b);
    uint32_t code = 99;
    pwc_get_status(&code, &b, &l);
    set_num("x-call-status", code);
    free(b);
    pwc_continue_stream(PWC_STREAM_REQUEST);
}

/* "alloc_stress": the SDK allocator under the VM's memory cap. Random malloc/calloc/realloc/
 * free of blocks filled with a byte each (checked every 16 bytes, so any overlap of two
 * 16-aligned blocks shows), host-allocated header values in between, then memory filled until
 * malloc says NULL, then everything freed and one big block taken. Reports "ok ..." or what
 * broke in x-alloc. */
typedef struct blk {
    unsigned char *p;
    size_t n;
    unsigned char fill;
} blk_t;

static blk_t blks[256];
static uint32_t xs = 2463534242u;

static uint32_t rnd(void)
{
    xs ^= xs << 13;
    xs ^= xs >> 17;
    xs ^= xs << 5;
    return xs;
}

static bool blk_ok(const blk_t *b)
{
    if ((uintptr_t)b->p % 16)
        return false;
    for (size_t i = 0; i < b->n; i += 16)
        if (b->p[i] != b->fill)
            return false;
    return !b->n || b->p[b->n - 1] == b->fill;
}

static size_t rnd_size(void)
{
    uint32_t r = rnd() % 100;
    return r < 60 ? rnd() % 200 : r < 90 ? rnd() % 3000 : rnd() % 300000;
}

static const char *alloc_stress(int *nulls)
{
    for (int op = 0; op < 6000; op++) {
        blk_t *b = &blks[rnd() % 256];
        if (op % 16 == 0) { /* a value the host allocates through proxy_on_memory_allocate */
            char *v = NULL;
            size_t l = 0;
            if (raw_get_header(PWC_REQUEST_HEADERS, ":path", 5, &v, &l) == PWC_OK &&
                (l != 1 || !v || v[0] != '/' || (uintptr_t)v % 16))
                return "header value";
            free(v);
        }
        if (b->p && !blk_ok(b))
            return "block changed";
        unsigned char fill = (unsigned char)(rnd() | 1);
        size_t n = rnd_size();
        unsigned char *p;
        if (b->p && rnd() % 3) {
            free(b->p);
            b->p = NULL;
            continue;
        } else if (b->p) {
            size_t keep = b->n < n ? b->n : n;
            if (!(p = realloc(b->p, n))) {
                ++*nulls;
                continue;
            }
            b->p = p;
            b->n = keep;
            if (!blk_ok(b))
                return "realloc lost the contents";
        } else if (rnd() % 8 == 0) {
            if (!(p = calloc(1, n))) {
                ++*nulls;
                continue;
            }
            for (size_t i = 0; i < n; i++)
                if (p[i])
                    return "calloc not zeroed";
        } else if (!(p = malloc(n))) {
            ++*nulls;
            continue;
        }
        memset(p, fill, n);
        *b = (blk_t){p, n, fill};
    }
    /* fill what memory is left, 32 KiB then 64 bytes at a time, chained through the blocks */
    void *chain = NULL, *q;
    size_t sizes[2] = {32768, 64}, taken = 0;
    for (int k = 0; k < 2; k++)
        while (taken < (1u << 30) && (q = malloc(sizes[k])) != NULL) {
            *(void **)q = chain;
            chain = q;
            taken += sizes[k];
        }
    if (taken >= (1u << 30))
        return "no memory cap reached";
    ++*nulls;
    for (size_t i = 0; i < 256; i++)
        if (blks[i].p && !blk_ok(&blks[i]))
            return "block changed by the fill";
    while (chain) {
        q = *(void **)chain;
        free(chain);
        chain = q;
    }
    for (size_t i = 0; i < 256; i++) {
        free(blks[i].p);
        blks[i].p = NULL;
    }
    /* everything is free and merged again: one block of 1 MiB fits under any cap of 2 MiB+ */
    if (!(q = malloc(1u << 20)))
        return "memory not whole after freeing everything";
    memset(q, 1, 1u << 20);
    free(q);
    return NULL;
}

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    trace(eos ? "request_headers eos" : "request_headers", ctx);
    ctx_check(ctx);
    if (is("loop"))
        for (;;)
            sink++;
    if (is("busy")) { /* 1.2 s of work (by the proxy's clock), then the request goes on */
        uint64_t t0 = 0, t = 0;
        raw_time(&t0);
        do
            for (int i = 0; i < 10000; i++)
                sink++;
        while (raw_time(&t) == PWC_OK && t - t0 < 1200000000u);
    }
    if (is("trap"))
        __builtin_trap();
    if (is("badptr"))
        bad_pointers();
    if (is("unimplemented"))
        unimplemented();
    if (is("callout_trap")) { /* pause for a callout whose answer traps */
        pwc_header_t h[3] = {{":method", "GET", 7, 3}, {":path", "/", 5, 1},
                             {":authority", "x", 10, 1}};
        if (pwc_http_call(ctx, "c", h, 3, NULL, 0, NULL, 0, 0, NULL) == PWC_OK)
            return PWC_PAUSE;
    }
    if (is("callout_dump")) {
        char *v = NULL;
        size_t l = 0;
        /* Outside the response callback the call maps do not exist (BAD_ARGUMENT). */
        set_num("x-call-outside", pwc_get_header(PWC_HTTP_CALL_RESPONSE_HEADERS, ":status",
                                                 &v, &l));
        free(v);
        pwc_header_t h[3] = {{":method", "POST", 7, 4}, {":path", "/dump", 5, 5},
                             {"Host", "dump", 4, 4}};
        pwc_header_t t[1] = {{"x-trailer", "t", 9, 1}};
        if (pwc_http_call(ctx, "dump", h, 3, "payload", 7, t, 1, 0, NULL) == PWC_OK)
            return PWC_PAUSE;
    }
    if (is("dequeue_foreign")) { /* a queue registered by another VM key */
        uint32_t q = 0;
        char *v = NULL;
        size_t l = 0;
        int r = pwc_resolve_queue("collector", "paths", &q);
        set_num("x-resolve", r);
        set_num("x-dequeue", r == PWC_OK ? raw_dequeue(q, &v, &l) : -1);
        set_num("x-enqueue", r == PWC_OK ? pwc_enqueue(q, "/from-hostcalls", 15) : -1);
        free(v);
    }
    if (is("grow")) {
        int pages = 0;
        while (__builtin_wasm_memory_grow(0, 16) != (size_t)-1 && pages < 1 << 20)
            pages += 16;
        char out[32];
        snprintf(out, sizeof out, "%d", pages);
        pwc_replace_header(PWC_REQUEST_HEADERS, "x-grown-pages", out);
    }
    if (is("headers")) {
        pwc_header_t *h;
        size_t cnt;
        if (pwc_get_headers(PWC_REQUEST_HEADERS, &h, &cnt) == PWC_OK) {
            pwc_header_t *nh = malloc((cnt + 1) * sizeof *nh);
            char num[16];
            snprintf(num, sizeof num, "%zu", cnt);
            if (nh) {
                memcpy(nh, h, cnt * sizeof *nh);
                nh[cnt] = (pwc_header_t){"X-Count", num, 7, strlen(num)};
                pwc_set_headers(PWC_REQUEST_HEADERS, nh, cnt + 1);
                free(nh);
            }
            free(h);
        }
    }
    if (is("props")) {
        pwc_set_property("my.state", "value-1", 7);
        char *v = NULL;
        size_t l;
        if (pwc_get_property("my.state", &v, &l) == PWC_OK && v)
            pwc_replace_header(PWC_REQUEST_HEADERS, "x-state", v);
        free(v);
        v = NULL;
        if (pwc_get_property("request.headers.x-id", &v, &l) == PWC_OK && v)
            pwc_replace_header(PWC_REQUEST_HEADERS, "x-prop-id", v);
        free(v);
        v = NULL;
        int64_t port;
        char num[24];
        if (pwc_get_property("source.port", &v, &l) == PWC_OK && pwc_property_int(v, l, &port)) {
            snprintf(num, sizeof num, "%lld", (long long)port);
            pwc_replace_header(PWC_REQUEST_HEADERS, "x-prop-port", num);
        }
        free(v);
        v = NULL;
        snprintf(num, sizeof num, "%d", (int)pwc_get_property("no.such.thing", &v, &l));
        pwc_replace_header(PWC_REQUEST_HEADERS, "x-prop-missing", num);
    }
    if (is("local_reply")) {
        pwc_header_t h = {"X-Reply", "yes", 7, 3};
        pwc_send_local_response(418, "i am a teapot", "short and stout", 15, &h, 1, -1);
        return PWC_CONTINUE; /* the host must turn this into a stop */
    }
    if (is("continue_in_headers")) {
        raw_continue(PWC_STREAM_REQUEST);
        return PWC_PAUSE; /* the host must turn this into a continue */
    }
    if (is("pause") || is("pause_request_resume_in_response"))
        return PWC_PAUSE;
    if (is("buffer")) /* the body will change length: let the proxy frame it */
        pwc_remove_header(PWC_REQUEST_HEADERS, "content-length");
    if (is("wasi")) { /* stdout becomes the plugin log; the environment is the VM's */
        const char *m = getenv("MODE");
        printf("hello from printf, MODE=%s\n", m ? m : "(unset)");
        fflush(stdout);
        pwc_replace_header(PWC_REQUEST_HEADERS, "x-env-mode", m ? m : "(unset)");
    }
    if (is("mixed_case_keys")) { /* names reach the proxy lower-cased, in every hostcall */
        char *v = NULL;
        size_t l = 0;
        if (raw_get_header(PWC_REQUEST_HEADERS, ":PaTh", 5, &v, &l) == PWC_OK && v) {
            char copy[128];
            snprintf(copy, sizeof copy, "%.*s", (int)l, v);
            pwc_add_header(PWC_REQUEST_HEADERS, "X-Got-Path", copy);
        }
        free(v);
        pwc_replace_header(PWC_REQUEST_HEADERS, "X-Replaced", "new");
        pwc_remove_header(PWC_REQUEST_HEADERS, "X-Gone");
    }
    if (is("alloc_stress")) {
        int nulls = 0;
        const char *bad = alloc_stress(&nulls);
        char out[96];
        snprintf(out, sizeof out, "%s nulls=%d pages=%zu", bad ? bad : "ok", nulls,
                 __builtin_wasm_memory_size(0));
        pwc_replace_header(PWC_REQUEST_HEADERS, "x-alloc", out);
    }
    if (is("bench_get_header")) { /* 100000 x get ":path", for the hostcall cost */
        for (int i = 0; i < 100000; i++) {
            char *v = NULL;
            size_t l = 0;
            if (raw_get_header(PWC_REQUEST_HEADERS, ":path", 5, &v, &l) != PWC_OK)
                __builtin_trap();
            free(v);
        }
    }
    if (is("bench_alloc_loop")) { /* the guest allocator alone, to subtract */
        for (int i = 0; i < 100000; i++) {
            char *volatile v = malloc(15);
            sink += v != NULL;
            free(v);
        }
    }
    if (is("bench_buffer_status")) { /* a hostcall round trip without allocation */
        for (int i = 0; i < 100000; i++) {
            size_t len = 0;
            uint32_t flags = 0;
            if (raw_buffer_status(PWC_REQUEST_BODY, &len, &flags) > PWC_NOT_FOUND)
                __builtin_trap();
        }
    }
    (void)n;
    return PWC_CONTINUE;
}

static pwc_action_t request_body(uint32_t ctx, size_t size, bool eos)
{
    trace(eos ? "request_body eos" : "request_body", ctx);
    if (is("buffer") || is("buffer_keep_length")) {
        if (!eos)
            return PWC_PAUSE;
        pwc_set_buffer(PWC_REQUEST_BODY, 0, 0, "<", 1);               /* prepend */
        pwc_set_buffer(PWC_REQUEST_BODY, SIZE_MAX, 0, ">", 1);        /* append */
        char *b = NULL;
        size_t l = 0;
        pwc_get_buffer(PWC_REQUEST_BODY, 0, size + 2, &b, &l);
        pwc_log(PWC_LOG_INFO, "body %s", b ? b : "");
        free(b);
    }
    if (is("trap_in_body"))
        __builtin_trap();
    return PWC_CONTINUE;
}

static pwc_action_t request_trailers(uint32_t ctx, uint32_t n)
{
    (void)n;
    trace("request_trailers", ctx);
    return PWC_CONTINUE;
}

static pwc_action_t response_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n;
    trace(eos ? "response_headers eos" : "response_headers", ctx);
    ctx_check(ctx);
    if (is("ctx_data")) {
        char v[16];
        snprintf(v, sizeof v, "%u", ctx);
        pwc_add_header(PWC_RESPONSE_HEADERS, "x-ctx", v);
    }
    if (is("pause_request_resume_in_response"))
        pwc_continue_stream(PWC_STREAM_REQUEST); /* another direction: reaches the proxy */
    return PWC_CONTINUE;
}

static pwc_action_t response_body(uint32_t ctx, size_t size, bool eos)
{
    (void)size;
    trace(eos ? "response_body eos" : "response_body", ctx);
    return PWC_CONTINUE;
}

static pwc_action_t response_trailers(uint32_t ctx, uint32_t n)
{
    (void)n;
    trace("response_trailers", ctx);
    return PWC_CONTINUE;
}

static void create(uint32_t ctx, uint32_t root)
{
    (void)root;
    trace("create", ctx);
    if (is("ctx_data")) {
        ctx_rec_t *r = malloc(sizeof *r);
        if (!r)
            __builtin_trap();
        *r = (ctx_rec_t){ctx, CTX_MAGIC};
        pwc_set_data(ctx, r);
    }
}

static void on_log(uint32_t ctx)
{
    trace("log", ctx);
    ctx_check(ctx);
}

static void done(uint32_t ctx)
{
    trace("done", ctx);
    ctx_check(ctx);
}

static void delete_ctx(uint32_t ctx)
{
    trace("delete", ctx);
    if (is("ctx_data") && pwc_root_of(ctx) != ctx) { /* roots are deleted here too */
        ctx_check(ctx);
        free(pwc_data(ctx));
        pwc_set_data(ctx, NULL);
    }
}

static pwc_action_t new_connection(uint32_t ctx)
{
    trace("new_connection", ctx);
    return PWC_CONTINUE;
}

static pwc_action_t downstream_data(uint32_t ctx, size_t size, bool eos)
{
    (void)size;
    trace(eos ? "downstream_data eos" : "downstream_data", ctx);
    if (is("trap"))
        __builtin_trap();
    return PWC_CONTINUE;
}

static pwc_action_t upstream_data(uint32_t ctx, size_t size, bool eos)
{
    (void)size;
    trace(eos ? "upstream_data eos" : "upstream_data", ctx);
    return PWC_CONTINUE;
}

static void downstream_close(uint32_t ctx, int peer)
{
    (void)peer;
    trace("downstream_close", ctx);
}

static void upstream_close(uint32_t ctx, int peer)
{
    (void)peer;
    trace("upstream_close", ctx);
}

const pwc_plugin_t pwc_plugin = {
    .on_vm_start = vm_start,
    .on_configure = configure,
    .on_tick = tick,
    .on_create = create,
    .on_log = on_log,
    .on_done = done,
    .on_delete = delete_ctx,
    .on_request_headers = request_headers,
    .on_request_body = request_body,
    .on_request_trailers = request_trailers,
    .on_response_headers = response_headers,
    .on_response_body = response_body,
    .on_response_trailers = response_trailers,
    .on_new_connection = new_connection,
    .on_downstream_data = downstream_data,
    .on_upstream_data = upstream_data,
    .on_downstream_close = downstream_close,
    .on_upstream_close = upstream_close,
    .on_http_call_response = call_response,
};
