/* Linear memories, tables and globals: the refcounted runtime objects instances own or share.
 * A memory is one mmap reservation, committed page by page as it grows; its base never moves.
 *
 * Bounds: explicit checks, not guard pages. Every load/store computes a 64-bit effective
 * address (u32 index + u32 addend, wrapped, + u32 offset, which cannot overflow) and compares
 * it with the memory's size cached in a local of the interpreter loop. A guard-page build
 * (8 GiB reservations, a fault handler, siglongjmp back to the run) was measured against it:
 * 2-7% fewer instructions on memory-heavy kernels, no measurable time difference, and real
 * costs (address space, a process-wide handler, longjmp over the interpreter). The numbers
 * are in docs/engine.md. */
#include "wa_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint64_t reserve_bytes(uint32_t max_pages)
{
    uint64_t b = (uint64_t)max_pages * WA_PAGE_BYTES;
    return b ? b : WA_PAGE_BYTES; /* a 0-page memory still gets a non-NULL base */
}

/* Creates a memory with `limits`, never growing past `cap` pages. */
static wa_status_t memory_make(wa_limits_desc_t limits, uint32_t cap, wa_memory_t **out)
{
    if (cap == 0 || cap > WA_MAX_PAGES)
        cap = WA_MAX_PAGES;
    if (limits.min > cap)
        return WA_ERR_LIMIT;
    wa_memory_t *m = calloc(1, sizeof *m);
    if (!m)
        return WA_ERR_NOMEM;
    m->refcnt = 1;
    m->max_pages = limits.has_max && limits.max < cap ? limits.max : cap;
    m->has_max = limits.has_max;
    m->reserved_bytes = reserve_bytes(m->max_pages);
    void *p = mmap(NULL, m->reserved_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        free(m);
        return WA_ERR_NOMEM;
    }
    m->base = p;
    if (limits.min && mprotect(p, (uint64_t)limits.min * WA_PAGE_BYTES, PROT_READ | PROT_WRITE)) {
        munmap(p, m->reserved_bytes);
        free(m);
        return WA_ERR_NOMEM;
    }
    m->pages = limits.min;
    m->size_bytes = (uint64_t)limits.min * WA_PAGE_BYTES;
    *out = m;
    return WA_OK;
}

wa_status_t wa__memory_make(wa_limits_desc_t limits, uint32_t cap, wa_memory_t **out)
{
    return memory_make(limits, cap, out);
}

wa_status_t wa_memory_new(wa_limits_desc_t limits, wa_memory_t **out)
{
    if (!out || limits.min > WA_MAX_PAGES || (limits.has_max && limits.max < limits.min))
        return WA_ERR_ARG;
    return memory_make(limits, WA_MAX_PAGES, out);
}

void wa_memory_unref(wa_memory_t *m)
{
    if (m && --m->refcnt == 0) {
        munmap(m->base, m->reserved_bytes);
        free(m);
    }
}

int64_t wa__memory_grow(wa_memory_t *m, uint32_t delta, uint32_t cap)
{
    uint32_t old = m->pages;
    if (cap == 0 || cap > WA_MAX_PAGES)
        cap = WA_MAX_PAGES;
    uint64_t want = (uint64_t)old + delta;
    if (want > m->max_pages || want > cap)
        return -1;
    if (delta) {
        /* pages are committed by the kernel on first touch; mprotect only opens them */
        if (mprotect(m->base + m->size_bytes, (uint64_t)delta * WA_PAGE_BYTES,
                     PROT_READ | PROT_WRITE))
            return -1;
        m->pages = (uint32_t)want;
        m->size_bytes = want * WA_PAGE_BYTES;
    }
    return old;
}

int64_t wa_memory_grow(wa_memory_t *mem, uint32_t delta_pages)
{
    return wa__memory_grow(mem, delta_pages, WA_MAX_PAGES);
}

void *wa_memory_view(wa_memory_t *mem, uint64_t ptr, uint64_t len)
{
    if (!mem || ptr > mem->size_bytes || len > mem->size_bytes - ptr)
        return NULL;
    return mem->base + ptr;
}

uint8_t *wa_memory_data(wa_memory_t *mem, uint64_t *size_bytes)
{
    if (size_bytes)
        *size_bytes = mem ? mem->size_bytes : 0;
    return mem ? mem->base : NULL;
}

uint32_t wa_memory_pages(const wa_memory_t *mem) { return mem ? mem->pages : 0; }

/* ---- tables ------------------------------------------------------------------------------- */

wa_status_t wa__table_make(wa_valtype_t elem, wa_limits_desc_t limits, uint32_t cap,
                           wa_table_t **out)
{
    if (cap == 0)
        cap = 10000000;
    if (limits.min > cap)
        return WA_ERR_LIMIT;
    wa_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return WA_ERR_NOMEM;
    t->refcnt = 1;
    t->elem = elem;
    t->size = limits.min;
    t->has_max = limits.has_max;
    t->max = limits.has_max ? limits.max : UINT32_MAX;
    t->elems = calloc(limits.min ? limits.min : 1, sizeof *t->elems);
    if (!t->elems) {
        free(t);
        return WA_ERR_NOMEM;
    }
    *out = t;
    return WA_OK;
}

wa_status_t wa_table_new(wa_valtype_t elem, wa_limits_desc_t limits, wa_table_t **out)
{
    if (!out || (elem != WA_FUNCREF && elem != WA_EXTERNREF) ||
        (limits.has_max && limits.max < limits.min))
        return WA_ERR_ARG;
    return wa__table_make(elem, limits, 0, out);
}


void wa_table_unref(wa_table_t *t)
{
    if (t && --t->refcnt == 0) {
        wa_instance_t **keep = t->keep;
        uint32_t nkeep = t->nkeep;
        free(t->elems);
        free(t);
        wa__instance_release_kept(keep, nkeep);
    }
}

int64_t wa__table_grow(wa_table_t *t, uint32_t delta, wa_value_t init, uint32_t cap)
{
    uint32_t old = t->size;
    if (cap == 0)
        cap = 10000000;
    uint64_t want = (uint64_t)old + delta;
    if (want > t->max || want > cap)
        return -1;
    if (delta) {
        wa_value_t *e = realloc(t->elems, want * sizeof *e);
        if (!e)
            return -1;
        for (uint64_t i = old; i < want; i++)
            e[i] = init;
        t->elems = e;
        t->size = (uint32_t)want;
    }
    return old;
}

uint32_t wa_table_size(const wa_table_t *t) { return t->size; }

wa_status_t wa_table_get(const wa_table_t *t, uint32_t i, wa_value_t *out)
{
    if (i >= t->size)
        return WA_ERR_ARG;
    *out = t->elems[i];
    return WA_OK;
}

/* ---- globals ------------------------------------------------------------------------------ */

wa_status_t wa_global_new(wa_valtype_t type, bool mutable_, wa_value_t init, wa_global_t **out)
{
    wa_global_t *g = calloc(1, sizeof *g);
    if (!g)
        return WA_ERR_NOMEM;
    g->refcnt = 1;
    g->type = type;
    g->mutable_ = mutable_;
    g->val = init;
    *out = g;
    return WA_OK;
}

void wa_global_unref(wa_global_t *g)
{
    if (g && --g->refcnt == 0)
        free(g);
}

wa_value_t wa_global_get(const wa_global_t *g) { return g->val; }

wa_status_t wa_global_set(wa_global_t *g, wa_value_t v)
{
    if (!g->mutable_)
        return WA_ERR_TYPE;
    g->val = v;
    return WA_OK;
}
