/* The C SDK runtime: the module's Proxy-Wasm exports (ABI 0.2.1) dispatching to pwc_plugin,
 * a context table, and the typed wrappers over the env.proxy_* imports. */
#include "proxy_wasm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PWC_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define PWC_EXPORT(name) __attribute__((export_name(#name)))

/* ---- imports (only those referenced end up in the module) ---------------------------------- */

PWC_IMPORT(proxy_log) int proxy_log(int level, const char *msg, size_t len);
PWC_IMPORT(proxy_get_buffer_bytes)
int proxy_get_buffer_bytes(int type, size_t start, size_t max, char **ptr, size_t *len);
PWC_IMPORT(proxy_set_buffer_bytes)
int proxy_set_buffer_bytes(int type, size_t start, size_t size, const void *data, size_t len);
PWC_IMPORT(proxy_get_header_map_value)
int proxy_get_header_map_value(int map, const char *k, size_t kl, char **v, size_t *vl);
PWC_IMPORT(proxy_add_header_map_value)
int proxy_add_header_map_value(int map, const char *k, size_t kl, const char *v, size_t vl);
PWC_IMPORT(proxy_replace_header_map_value)
int proxy_replace_header_map_value(int map, const char *k, size_t kl, const char *v, size_t vl);
PWC_IMPORT(proxy_remove_header_map_value)
int proxy_remove_header_map_value(int map, const char *k, size_t kl);
PWC_IMPORT(proxy_get_header_map_pairs) int proxy_get_header_map_pairs(int map, char **p, size_t *l);
PWC_IMPORT(proxy_set_header_map_pairs)
int proxy_set_header_map_pairs(int map, const void *p, size_t l);
PWC_IMPORT(proxy_get_property)
int proxy_get_property(const char *path, size_t pl, char **v, size_t *vl);
PWC_IMPORT(proxy_set_property)
int proxy_set_property(const char *path, size_t pl, const void *v, size_t vl);
PWC_IMPORT(proxy_send_local_response)
int proxy_send_local_response(int status, const char *d, size_t dl, const void *b, size_t bl,
                              const void *h, size_t hl, int grpc);
PWC_IMPORT(proxy_continue_stream) int proxy_continue_stream(int type);
PWC_IMPORT(proxy_close_stream) int proxy_close_stream(int type);
PWC_IMPORT(proxy_set_effective_context) int proxy_set_effective_context(int ctx);
PWC_IMPORT(proxy_set_tick_period_milliseconds) int proxy_set_tick_period_milliseconds(int ms);
PWC_IMPORT(proxy_get_current_time_nanoseconds) int proxy_get_current_time_nanoseconds(uint64_t *t);

PWC_IMPORT(proxy_get_shared_data)
int proxy_get_shared_data(const char *k, size_t kl, char **v, size_t *vl, uint32_t *cas);
PWC_IMPORT(proxy_set_shared_data)
int proxy_set_shared_data(const char *k, size_t kl, const void *v, size_t vl, uint32_t cas);
PWC_IMPORT(proxy_register_shared_queue)
int proxy_register_shared_queue(const char *n, size_t nl, uint32_t *token);
PWC_IMPORT(proxy_resolve_shared_queue)
int proxy_resolve_shared_queue(const char *vm, size_t vml, const char *n, size_t nl,
                               uint32_t *token);
PWC_IMPORT(proxy_enqueue_shared_queue)
int proxy_enqueue_shared_queue(uint32_t token, const void *v, size_t vl);
PWC_IMPORT(proxy_dequeue_shared_queue)
int proxy_dequeue_shared_queue(uint32_t token, char **v, size_t *vl);
PWC_IMPORT(proxy_define_metric)
int proxy_define_metric(int type, const char *n, size_t nl, uint32_t *id);
PWC_IMPORT(proxy_increment_metric) int proxy_increment_metric(uint32_t id, int64_t offset);
PWC_IMPORT(proxy_record_metric) int proxy_record_metric(uint32_t id, uint64_t value);
PWC_IMPORT(proxy_get_metric) int proxy_get_metric(uint32_t id, uint64_t *value);
PWC_IMPORT(proxy_http_call)
int proxy_http_call(const char *u, size_t ul, const void *h, size_t hl, const void *b, size_t bl,
                    const void *t, size_t tl, uint32_t timeout, uint32_t *token);
PWC_IMPORT(proxy_get_status) int proxy_get_status(uint32_t *code, char **msg, size_t *len);

/* ---- version marker and allocator ------------------------------------------------------------ */

PWC_EXPORT(proxy_abi_version_0_2_1) void pwc_abi_version_0_2_1(void) {}

/* Weak: pwc_alloc.c, when linked, exports its own with malloc's fast path inlined, saving
 * a call on every hostcall that returns data. */
PWC_EXPORT(proxy_on_memory_allocate) __attribute__((weak))
void *pwc_on_memory_allocate(size_t size)
{
    return malloc(size);
}

/* ---- context table: open addressing on the id, grown when half full --------------------------- */

/* Linear probing with backward-shift deletion: no tombstones, so a table where contexts
 * come and go stays at the size its live contexts need and no insert pays for a rebuild. */
typedef struct slot {
    uint32_t id;   /* 0 = empty */
    uint32_t root; /* own id for roots */
    void *data;    /* plugin-owned */
} slot_t;

static slot_t *table; /* owned */
static size_t cap, used;

static size_t home(uint32_t id) { return id & (cap - 1); }

static slot_t *find(uint32_t id)
{
    if (!cap || !id)
        return NULL;
    for (size_t i = home(id), n = 0; n < cap; i = (i + 1) & (cap - 1), n++) {
        if (table[i].id == id)
            return &table[i];
        if (table[i].id == 0)
            return NULL;
    }
    return NULL;
}

static bool insert(uint32_t id, uint32_t root)
{
    if ((used + 1) * 2 > cap) {
        size_t ncap = cap ? cap * 2 : 64;
        slot_t *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return false;
        slot_t *old = table;
        size_t ocap = cap;
        table = nt;
        cap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (!old[i].id)
                continue;
            size_t j = home(old[i].id);
            while (table[j].id)
                j = (j + 1) & (cap - 1);
            table[j] = old[i];
        }
        free(old);
    }
    size_t i = home(id);
    while (table[i].id)
        i = (i + 1) & (cap - 1);
    table[i] = (slot_t){.id = id, .root = root};
    used++;
    return true;
}

static void erase(uint32_t id)
{
    slot_t *s = find(id);
    if (!s)
        return;
    size_t i = (size_t)(s - table);
    table[i].id = 0;
    used--;
    /* Pull back every later entry of the run that may no longer be reachable from its home. */
    for (size_t j = (i + 1) & (cap - 1); table[j].id; j = (j + 1) & (cap - 1)) {
        size_t h = home(table[j].id);
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (stays)
            continue;
        table[i] = table[j];
        table[j].id = 0;
        i = j;
    }
}

uint32_t pwc_root_of(uint32_t ctx)
{
    slot_t *s = find(ctx);
    return s ? s->root : 0;
}

void pwc_set_data(uint32_t ctx, void *data)
{
    slot_t *s = find(ctx);
    if (s)
        s->data = data;
}

void *pwc_data(uint32_t ctx)
{
    slot_t *s = find(ctx);
    return s ? s->data : NULL;
}

/* ---- exports ------------------------------------------------------------------------------- */

PWC_EXPORT(proxy_on_context_create) void pwc_on_context_create(uint32_t ctx, uint32_t parent)
{
    if (!insert(ctx, parent ? parent : ctx))
        __builtin_trap(); /* out of memory: the host fails this stream */
    if (parent && pwc_plugin.on_create)
        pwc_plugin.on_create(ctx, parent);
}

PWC_EXPORT(proxy_on_vm_start) int pwc_on_vm_start(uint32_t root, size_t size)
{
    return pwc_plugin.on_vm_start ? pwc_plugin.on_vm_start(root, size) : 1;
}

PWC_EXPORT(proxy_on_configure) int pwc_on_configure(uint32_t root, size_t size)
{
    return pwc_plugin.on_configure ? pwc_plugin.on_configure(root, size) : 1;
}

PWC_EXPORT(proxy_on_tick) void pwc_on_tick(uint32_t root)
{
    if (pwc_plugin.on_tick)
        pwc_plugin.on_tick(root);
}

#define ACTION(cb, ...) (pwc_plugin.cb ? (int)pwc_plugin.cb(__VA_ARGS__) : 0)

PWC_EXPORT(proxy_on_request_headers) int pwc_on_request_headers(uint32_t c, uint32_t n, int eos)
{
    return ACTION(on_request_headers, c, n, eos != 0);
}

PWC_EXPORT(proxy_on_request_body) int pwc_on_request_body(uint32_t c, size_t n, int eos)
{
    return ACTION(on_request_body, c, n, eos != 0);
}

PWC_EXPORT(proxy_on_request_trailers) int pwc_on_request_trailers(uint32_t c, uint32_t n)
{
    return ACTION(on_request_trailers, c, n);
}

PWC_EXPORT(proxy_on_response_headers) int pwc_on_response_headers(uint32_t c, uint32_t n, int eos)
{
    return ACTION(on_response_headers, c, n, eos != 0);
}

PWC_EXPORT(proxy_on_response_body) int pwc_on_response_body(uint32_t c, size_t n, int eos)
{
    return ACTION(on_response_body, c, n, eos != 0);
}

PWC_EXPORT(proxy_on_response_trailers) int pwc_on_response_trailers(uint32_t c, uint32_t n)
{
    return ACTION(on_response_trailers, c, n);
}

PWC_EXPORT(proxy_on_new_connection) int pwc_on_new_connection(uint32_t c)
{
    return ACTION(on_new_connection, c);
}

PWC_EXPORT(proxy_on_downstream_data) int pwc_on_downstream_data(uint32_t c, size_t n, int eos)
{
    return ACTION(on_downstream_data, c, n, eos != 0);
}

PWC_EXPORT(proxy_on_upstream_data) int pwc_on_upstream_data(uint32_t c, size_t n, int eos)
{
    return ACTION(on_upstream_data, c, n, eos != 0);
}

PWC_EXPORT(proxy_on_downstream_connection_close) void pwc_on_downstream_close(uint32_t c, int p)
{
    if (pwc_plugin.on_downstream_close)
        pwc_plugin.on_downstream_close(c, p);
}

PWC_EXPORT(proxy_on_upstream_connection_close) void pwc_on_upstream_close(uint32_t c, int p)
{
    if (pwc_plugin.on_upstream_close)
        pwc_plugin.on_upstream_close(c, p);
}

PWC_EXPORT(proxy_on_log) void pwc_on_log(uint32_t c)
{
    if (pwc_plugin.on_log && pwc_root_of(c) != c)
        pwc_plugin.on_log(c);
}

PWC_EXPORT(proxy_on_done) int pwc_on_done(uint32_t c)
{
    if (pwc_root_of(c) == c)
        return pwc_plugin.on_root_done ? pwc_plugin.on_root_done(c) : 1;
    if (pwc_plugin.on_done)
        pwc_plugin.on_done(c);
    return 1;
}

PWC_EXPORT(proxy_on_queue_ready) void pwc_on_queue_ready(uint32_t root, uint32_t queue)
{
    if (pwc_plugin.on_queue_ready)
        pwc_plugin.on_queue_ready(root, queue);
}

/* Callouts in flight: token -> calling context, so the response reaches that context as in
 * the official SDKs (the host delivers every response to the root). */
typedef struct callout {
    uint32_t token, ctx;
} callout_t;
static callout_t *callouts; /* owned */
static size_t n_callouts, cap_callouts;

PWC_EXPORT(proxy_on_http_call_response)
void pwc_on_http_call_response(uint32_t root, uint32_t token, uint32_t nh, uint32_t body,
                               uint32_t nt)
{
    (void)root;
    uint32_t ctx = 0;
    for (size_t i = 0; i < n_callouts; i++)
        if (callouts[i].token == token) {
            ctx = callouts[i].ctx;
            callouts[i] = callouts[--n_callouts];
            break;
        }
    if (!ctx || !find(ctx) || !pwc_plugin.on_http_call_response)
        return; /* the calling context ended meanwhile */
    if (proxy_set_effective_context((int)ctx) != PWC_OK)
        return;
    pwc_plugin.on_http_call_response(ctx, token, nh, body, nt);
}

PWC_EXPORT(proxy_on_delete) void pwc_on_delete(uint32_t c)
{
    if (pwc_plugin.on_delete)
        pwc_plugin.on_delete(c);
    erase(c);
}

/* ---- wrappers ------------------------------------------------------------------------------- */

pwc_result_t pwc_log(pwc_log_level_t level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PWC_BAD_ARGUMENT;
    return (pwc_result_t)proxy_log(level, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* The host hands over malloc'd bytes; add a NUL so callers may treat them as strings. */
static pwc_result_t own(int r, char *p, size_t l, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (r != PWC_OK)
        return (pwc_result_t)r;
    if (p) {
        char *q = realloc(p, l + 1);
        if (!q) {
            free(p);
            return PWC_INTERNAL_FAILURE;
        }
        q[l] = 0;
        *out = q;
        *len = l;
    }
    return PWC_OK;
}

static size_t clamp32(size_t v)
{
    return v > 0xFFFFFFFFu ? 0xFFFFFFFFu : v;
}

pwc_result_t pwc_get_buffer(pwc_buffer_t b, size_t start, size_t max, char **out, size_t *len)
{
    char *p = NULL;
    size_t l = 0;
    if (max > 0xFFFFFFFFu - start)
        max = 0xFFFFFFFFu - start;
    return own(proxy_get_buffer_bytes(b, start, max, &p, &l), p, l, out, len);
}

pwc_result_t pwc_set_buffer(pwc_buffer_t b, size_t start, size_t size, const void *data,
                            size_t len)
{
    return (pwc_result_t)proxy_set_buffer_bytes(b, clamp32(start), clamp32(size), data, len);
}

pwc_result_t pwc_get_header(pwc_map_t m, const char *key, char **out, size_t *len)
{
    char *p = NULL;
    size_t l = 0;
    return own(proxy_get_header_map_value(m, key, strlen(key), &p, &l), p, l, out, len);
}

pwc_result_t pwc_add_header(pwc_map_t m, const char *key, const char *value)
{
    return pwc_add_header_n(m, key, strlen(key), value, strlen(value));
}

pwc_result_t pwc_add_header_n(pwc_map_t m, const char *key, size_t key_len, const char *value,
                              size_t value_len)
{
    return (pwc_result_t)proxy_add_header_map_value(m, key, key_len, value, value_len);
}

pwc_result_t pwc_replace_header(pwc_map_t m, const char *key, const char *value)
{
    return (pwc_result_t)proxy_replace_header_map_value(m, key, strlen(key), value,
                                                        strlen(value));
}

pwc_result_t pwc_remove_header(pwc_map_t m, const char *key)
{
    return (pwc_result_t)proxy_remove_header_map_value(m, key, strlen(key));
}

static uint32_t rd32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

pwc_result_t pwc_get_headers(pwc_map_t m, pwc_header_t **h, size_t *n)
{
    char *p = NULL;
    size_t l = 0;
    *h = NULL;
    *n = 0;
    int r = proxy_get_header_map_pairs(m, &p, &l);
    if (r != PWC_OK || !p || l < 4) {
        free(p);
        return (pwc_result_t)r;
    }
    uint32_t cnt = rd32(p);
    if ((uint64_t)cnt * 8 + 4 > l) {
        free(p);
        return PWC_SERIALIZATION_FAILURE;
    }
    /* One allocation: the entry array, then a copy of the pairs data. */
    pwc_header_t *arr = malloc(cnt * sizeof *arr + l);
    if (!arr) {
        free(p);
        return PWC_INTERNAL_FAILURE;
    }
    char *data = (char *)(arr + cnt);
    memcpy(data, p, l);
    free(p);
    const char *s = data + 4 + 8 * (size_t)cnt, *end = data + l;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t kl = rd32(data + 4 + 8 * i), vl = rd32(data + 8 + 8 * i);
        if ((size_t)(end - s) < (size_t)kl + vl + 2) {
            free(arr);
            return PWC_SERIALIZATION_FAILURE;
        }
        arr[i] = (pwc_header_t){s, s + kl + 1, kl, vl};
        s += kl + vl + 2;
    }
    *h = arr;
    *n = cnt;
    return PWC_OK;
}

static size_t pairs_encode(const pwc_header_t *h, size_t n, char *out)
{
    size_t total = 4;
    for (size_t i = 0; i < n; i++)
        total += 8 + h[i].key_len + h[i].value_len + 2;
    if (!out)
        return total;
    uint32_t cnt = (uint32_t)n;
    memcpy(out, &cnt, 4);
    char *d = out + 4 + 8 * n;
    for (size_t i = 0; i < n; i++) {
        uint32_t kl = (uint32_t)h[i].key_len, vl = (uint32_t)h[i].value_len;
        memcpy(out + 4 + 8 * i, &kl, 4);
        memcpy(out + 8 + 8 * i, &vl, 4);
        memcpy(d, h[i].key, kl);
        d[kl] = 0;
        memcpy(d + kl + 1, h[i].value, vl);
        d[kl + 1 + vl] = 0;
        d += kl + vl + 2;
    }
    return total;
}

pwc_result_t pwc_set_headers(pwc_map_t m, const pwc_header_t *h, size_t n)
{
    size_t l = pairs_encode(h, n, NULL);
    char *p = malloc(l);
    if (!p)
        return PWC_INTERNAL_FAILURE;
    pairs_encode(h, n, p);
    int r = proxy_set_header_map_pairs(m, p, l);
    free(p);
    return (pwc_result_t)r;
}

static char *path_of(const char *dotted, size_t *len)
{
    size_t l = strlen(dotted);
    char *p = malloc(l + 1);
    if (!p)
        return NULL;
    for (size_t i = 0; i < l; i++)
        p[i] = dotted[i] == '.' ? 0 : dotted[i];
    *len = l;
    return p;
}

pwc_result_t pwc_get_property(const char *dotted_path, char **out, size_t *len)
{
    size_t pl;
    char *path = path_of(dotted_path, &pl), *p = NULL;
    size_t l = 0;
    *out = NULL;
    *len = 0;
    if (!path)
        return PWC_INTERNAL_FAILURE;
    int r = proxy_get_property(path, pl, &p, &l);
    free(path);
    return own(r, p, l, out, len);
}

pwc_result_t pwc_set_property(const char *dotted_path, const void *value, size_t len)
{
    size_t pl;
    char *path = path_of(dotted_path, &pl);
    if (!path)
        return PWC_INTERNAL_FAILURE;
    int r = proxy_set_property(path, pl, value, len);
    free(path);
    return (pwc_result_t)r;
}

pwc_result_t pwc_send_local_response(uint32_t status, const char *details, const void *body,
                                     size_t body_len, const pwc_header_t *headers, size_t n,
                                     int32_t grpc_status)
{
    size_t hl = pairs_encode(headers, headers ? n : 0, NULL);
    char *hp = malloc(hl);
    if (!hp)
        return PWC_INTERNAL_FAILURE;
    pairs_encode(headers, headers ? n : 0, hp);
    int r = proxy_send_local_response((int)status, details, details ? strlen(details) : 0, body,
                                      body_len, hp, hl, grpc_status);
    free(hp);
    return (pwc_result_t)r;
}

pwc_result_t pwc_continue_stream(pwc_stream_t s) { return (pwc_result_t)proxy_continue_stream(s); }
pwc_result_t pwc_close_stream(pwc_stream_t s) { return (pwc_result_t)proxy_close_stream(s); }

pwc_result_t pwc_set_effective_context(uint32_t ctx)
{
    return (pwc_result_t)proxy_set_effective_context((int)ctx);
}

pwc_result_t pwc_set_tick_period_ms(uint32_t ms)
{
    return (pwc_result_t)proxy_set_tick_period_milliseconds((int)ms);
}

uint64_t pwc_now_ns(void)
{
    uint64_t t = 0;
    return proxy_get_current_time_nanoseconds(&t) == PWC_OK ? t : 0;
}

bool pwc_property_int(const char *bytes, size_t len, int64_t *out)
{
    if (!bytes || len != 8)
        return false;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | (uint8_t)bytes[i];
    *out = (int64_t)v;
    return true;
}

/* ---- shared data, queues, metrics, callouts ------------------------------------------------- */

pwc_result_t pwc_get_shared_data(const char *key, char **out, size_t *len, uint32_t *cas)
{
    char *p = NULL;
    size_t l = 0;
    uint32_t c = 0;
    pwc_result_t r = own(proxy_get_shared_data(key, strlen(key), &p, &l, &c), p, l, out, len);
    if (r == PWC_OK && cas)
        *cas = c;
    return r;
}

pwc_result_t pwc_set_shared_data(const char *key, const void *value, size_t len, uint32_t cas)
{
    return (pwc_result_t)proxy_set_shared_data(key, strlen(key), value, len, cas);
}

pwc_result_t pwc_register_queue(const char *name, uint32_t *queue)
{
    return (pwc_result_t)proxy_register_shared_queue(name, strlen(name), queue);
}

pwc_result_t pwc_resolve_queue(const char *vm_id, const char *name, uint32_t *queue)
{
    return (pwc_result_t)proxy_resolve_shared_queue(vm_id, strlen(vm_id), name, strlen(name),
                                                    queue);
}

pwc_result_t pwc_enqueue(uint32_t queue, const void *data, size_t len)
{
    return (pwc_result_t)proxy_enqueue_shared_queue(queue, data, len);
}

pwc_result_t pwc_dequeue(uint32_t queue, char **out, size_t *len)
{
    char *p = NULL;
    size_t l = 0;
    return own(proxy_dequeue_shared_queue(queue, &p, &l), p, l, out, len);
}

pwc_result_t pwc_define_metric(pwc_metric_type_t type, const char *name, uint32_t *id)
{
    return (pwc_result_t)proxy_define_metric(type, name, strlen(name), id);
}

pwc_result_t pwc_increment_metric(uint32_t id, int64_t offset)
{
    return (pwc_result_t)proxy_increment_metric(id, offset);
}

pwc_result_t pwc_record_metric(uint32_t id, uint64_t value)
{
    return (pwc_result_t)proxy_record_metric(id, value);
}

pwc_result_t pwc_get_metric(uint32_t id, uint64_t *value)
{
    return (pwc_result_t)proxy_get_metric(id, value);
}

pwc_result_t pwc_http_call(uint32_t ctx, const char *cluster, const pwc_header_t *headers,
                           size_t n_headers, const void *body, size_t body_len,
                           const pwc_header_t *trailers, size_t n_trailers,
                           uint32_t timeout_ms, uint32_t *token)
{
    if (n_callouts == cap_callouts) {
        size_t nc = cap_callouts ? cap_callouts * 2 : 16;
        callout_t *p = realloc(callouts, nc * sizeof *p);
        if (!p)
            return PWC_INTERNAL_FAILURE;
        callouts = p;
        cap_callouts = nc;
    }
    size_t hl = pairs_encode(headers, headers ? n_headers : 0, NULL);
    size_t tl = pairs_encode(trailers, trailers ? n_trailers : 0, NULL);
    char *hp = malloc(hl + tl);
    if (!hp)
        return PWC_INTERNAL_FAILURE;
    pairs_encode(headers, headers ? n_headers : 0, hp);
    pairs_encode(trailers, trailers ? n_trailers : 0, hp + hl);
    uint32_t t = 0;
    int r = proxy_http_call(cluster, strlen(cluster), hp, hl, body, body_len, hp + hl, tl,
                            timeout_ms, &t);
    free(hp);
    if (r == PWC_OK) {
        callouts[n_callouts++] = (callout_t){t, ctx};
        if (token)
            *token = t;
    }
    return (pwc_result_t)r;
}

pwc_result_t pwc_get_status(uint32_t *code, char **msg, size_t *len)
{
    char *p = NULL;
    size_t l = 0;
    uint32_t c = 0;
    pwc_result_t r = own(proxy_get_status(&c, &p, &l), p, l, msg, len);
    if (r == PWC_OK && code)
        *code = c;
    return r;
}
