/* The parts of the HTTP filter interface that do not need a stream: the per-stream arena,
 * header maps, body buffers and the registry of filter factories. */
#include "proxy/sl_filter.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- arena ------------------------------------------------------------------------------ */

struct sl_arena_block {
    sl_arena_block_t *next; /* owned: older block */
    size_t size;            /* usable bytes after the header */
    /* data follows, 16-aligned */
};

#define ARENA_BLOCK_MIN 4096

void sl_arena_init(sl_arena_t *a, void *first, size_t first_len)
{
    a->blocks = NULL;
    a->first = first;
    a->first_len = first ? first_len : 0;
    a->cur = first;
    a->end = first ? (char *)first + first_len : NULL;
}

void *sl_arena_alloc(sl_arena_t *a, size_t n)
{
    if (n == 0)
        n = 1;
    uintptr_t p = ((uintptr_t)a->cur + 7) & ~(uintptr_t)7;
    if (a->cur && p + n <= (uintptr_t)a->end && p + n > p) {
        a->cur = (char *)(p + n);
        return (void *)p;
    }
    if (n > SIZE_MAX / 2)
        return NULL;
    size_t size = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
    size_t hdr = (sizeof(sl_arena_block_t) + 15) & ~(size_t)15;
    sl_arena_block_t *b = malloc(hdr + size);
    if (!b)
        return NULL;
    b->next = a->blocks;
    b->size = size;
    a->blocks = b;
    char *data = (char *)b + hdr;
    /* A huge one-off allocation keeps the current block for the small ones that follow. */
    if (size == n && a->cur && (size_t)(a->end - a->cur) > 256)
        return data;
    a->cur = data + n;
    a->end = data + size;
    return data;
}

char *sl_arena_dup(sl_arena_t *a, const void *p, size_t n)
{
    char *d = sl_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

void sl_arena_reset(sl_arena_t *a)
{
    while (a->blocks) {
        sl_arena_block_t *next = a->blocks->next;
        free(a->blocks);
        a->blocks = next;
    }
    a->cur = a->first;
    a->end = a->first ? a->first + a->first_len : NULL;
}

void sl_arena_dispose(sl_arena_t *a)
{
    sl_arena_reset(a);
}

/* ---- header maps ------------------------------------------------------------------------ */

void sl_hmap_init(sl_hmap_t *m, sl_arena_t *arena)
{
    m->items = NULL;
    m->count = 0;
    m->cap = 0;
    m->bytes = 0;
    m->arena = arena;
}

static bool name_eq(const sl_header_t *h, const char *name, size_t len)
{
    return h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

const char *sl_hmap_get(const sl_hmap_t *m, const char *name, size_t name_len, size_t *len)
{
    for (uint32_t i = 0; i < m->count; i++) {
        if (name_eq(&m->items[i], name, name_len)) {
            if (len)
                *len = m->items[i].value_len;
            return m->items[i].value;
        }
    }
    return NULL;
}

const char *sl_hmap_getz(const sl_hmap_t *m, const char *name)
{
    return sl_hmap_get(m, name, strlen(name), NULL);
}

static bool fill(sl_hmap_t *m, sl_header_t *h, const char *name, size_t name_len,
                 const char *value, size_t value_len)
{
    if (name_len > UINT32_MAX || value_len > UINT32_MAX)
        return false;
    char *n = sl_arena_dup(m->arena, name, name_len);
    char *v = sl_arena_dup(m->arena, value, value_len);
    if (!n || !v)
        return false;
    for (size_t i = 0; i < name_len; i++)
        n[i] = (char)tolower((unsigned char)n[i]);
    h->name = n;
    h->name_len = (uint32_t)name_len;
    h->value = v;
    h->value_len = (uint32_t)value_len;
    return true;
}

bool sl_hmap_add(sl_hmap_t *m, const char *name, size_t name_len, const char *value,
                 size_t value_len)
{
    if (m->count == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 16;
        sl_header_t *items = sl_arena_alloc(m->arena, cap * sizeof(*items));
        if (!items)
            return false;
        if (m->count)
            memcpy(items, m->items, m->count * sizeof(*items));
        m->items = items;
        m->cap = cap;
    }
    if (!fill(m, &m->items[m->count], name, name_len, value, value_len))
        return false;
    m->count++;
    m->bytes += name_len + value_len;
    return true;
}

bool sl_hmap_set(sl_hmap_t *m, const char *name, size_t name_len, const char *value,
                 size_t value_len)
{
    uint32_t i = 0;
    while (i < m->count && !name_eq(&m->items[i], name, name_len))
        i++;
    if (i == m->count)
        return sl_hmap_add(m, name, name_len, value, value_len);
    sl_header_t *h = &m->items[i];
    size_t old = h->name_len + h->value_len;
    if (!fill(m, h, name, name_len, value, value_len))
        return false;
    m->bytes = m->bytes - old + name_len + value_len;
    /* Drop later duplicates. */
    uint32_t out = i + 1;
    for (uint32_t j = i + 1; j < m->count; j++) {
        if (name_eq(&m->items[j], name, name_len))
            m->bytes -= m->items[j].name_len + m->items[j].value_len;
        else
            m->items[out++] = m->items[j];
    }
    m->count = out;
    return true;
}

bool sl_hmap_setz(sl_hmap_t *m, const char *name, const char *value)
{
    return sl_hmap_set(m, name, strlen(name), value, strlen(value));
}

bool sl_hmap_addz(sl_hmap_t *m, const char *name, const char *value)
{
    return sl_hmap_add(m, name, strlen(name), value, strlen(value));
}

uint32_t sl_hmap_remove(sl_hmap_t *m, const char *name, size_t name_len)
{
    uint32_t out = 0, removed = 0;
    for (uint32_t j = 0; j < m->count; j++) {
        if (name_eq(&m->items[j], name, name_len)) {
            m->bytes -= m->items[j].name_len + m->items[j].value_len;
            removed++;
        } else {
            m->items[out++] = m->items[j];
        }
    }
    m->count = out;
    return removed;
}

uint32_t sl_hmap_removez(sl_hmap_t *m, const char *name)
{
    return sl_hmap_remove(m, name, strlen(name));
}

void sl_hmap_clear(sl_hmap_t *m)
{
    m->count = 0;
    m->bytes = 0;
}

/* ---- body buffers ----------------------------------------------------------------------- */

void sl_buf_borrow(sl_buf_t *b, const void *p, size_t n)
{
    if (b->cap > 0) {
        /* Owned storage stays for reuse only when the caller empties it first. */
        free(b->data);
    }
    b->data = (char *)p;
    b->len = n;
    b->cap = 0;
}

static bool reserve(sl_buf_t *b, size_t need)
{
    if (b->cap >= need && b->cap > 0)
        return true;
    size_t cap = b->cap > 0 ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    if (b->cap == 0) {
        char *d = malloc(cap);
        if (!d)
            return false;
        if (b->len)
            memcpy(d, b->data, b->len);
        b->data = d;
    } else {
        char *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d;
    }
    b->cap = cap;
    return true;
}

bool sl_buf_own(sl_buf_t *b)
{
    return b->cap > 0 || b->len == 0 ? true : reserve(b, b->len);
}

bool sl_buf_append(sl_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return true;
    if (b->len + n < b->len || !reserve(b, b->len + n))
        return false;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

bool sl_buf_prepend(sl_buf_t *b, const void *p, size_t n)
{
    return sl_buf_replace(b, 0, 0, p, n);
}

bool sl_buf_replace(sl_buf_t *b, size_t off, size_t n, const void *with, size_t with_len)
{
    if (off > b->len)
        off = b->len;
    if (n > b->len - off)
        n = b->len - off;
    size_t new_len = b->len - n + with_len;
    if (new_len < with_len || !reserve(b, new_len > 0 ? new_len : 1))
        return false;
    memmove(b->data + off + with_len, b->data + off + n, b->len - off - n);
    if (with_len)
        memcpy(b->data + off, with, with_len);
    b->len = new_len;
    return true;
}

void sl_buf_drain(sl_buf_t *b, size_t n)
{
    if (n >= b->len) {
        sl_buf_clear(b);
        return;
    }
    if (b->cap == 0)
        b->data += n;
    else
        memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void sl_buf_clear(sl_buf_t *b)
{
    if (b->cap == 0)
        b->data = NULL;
    b->len = 0;
}

void sl_buf_dispose(sl_buf_t *b)
{
    if (b->cap > 0)
        free(b->data);
    sl_buf_init(b);
}

/* ---- registry --------------------------------------------------------------------------- */

#define REGISTRY_MAX 64

/* Written only on the main thread before workers start; read-only afterwards. */
static const sl_http_filter_factory_t *registry[REGISTRY_MAX];
static size_t registry_len;

bool sl_filter_register(const sl_http_filter_factory_t *factory)
{
    if (!factory || !factory->name || !factory->create)
        return false;
    for (size_t i = 0; i < registry_len; i++) {
        if (registry[i] == factory)
            return true;
        if (strcmp(registry[i]->name, factory->name) == 0)
            return false;
    }
    if (registry_len == REGISTRY_MAX)
        return false;
    registry[registry_len++] = factory;
    return true;
}

const sl_http_filter_factory_t *sl_filter_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < registry_len; i++) {
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
        if (registry[i]->type_url && strcmp(registry[i]->type_url, name) == 0)
            return registry[i];
    }
    return NULL;
}

extern const sl_http_filter_factory_t sl_filter_router_factory;
extern const sl_http_filter_factory_t sl_filter_add_header_factory;
extern const sl_http_filter_factory_t sl_filter_wasm_factory;

static void register_builtins_once(void)
{
    sl_filter_register(&sl_filter_router_factory);
    sl_filter_register(&sl_filter_add_header_factory);
    sl_filter_register(&sl_filter_wasm_factory);
}

void sl_filter_register_builtins(void)
{
    /* Workers may reach this first; registering happens exactly once. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_builtins_once);
}
