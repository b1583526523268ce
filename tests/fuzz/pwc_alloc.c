/* libFuzzer target for the C SDK's allocator over a simulated linear memory: the input is a
 * memory size, a cap and a list of operations; every block keeps its contents and the heap
 * walk finds every invariant intact after each step. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MAX_PAGES 64 /* 4 MiB: caps are reached often */
#define SIM_ASSERT(c)                                                                        \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                          \
            abort();                                                                         \
        }                                                                                    \
    } while (0)
#define SIM_EQ(a, b) SIM_ASSERT((a) == (b))
#include "../unit/sdk/pwc_alloc_sim.h"

enum { SLOTS = 32 };

typedef struct {
    unsigned char *p;
    size_t n;
    unsigned char fill;
} slot_t;

static void check(const slot_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        SIM_ASSERT(s->p[i] == s->fill);
}

/* Sizes from two bytes: mostly small, sometimes several pages. */
static size_t size_of(uint8_t a, uint8_t b)
{
    size_t v = (size_t)a << 8 | b;
    return a & 0x80 ? (v & 0x7FFF) * 16 : v & 0x7FF;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 2)
        return 0;
    size_t pages = 1 + data[0] % 3, cap = pages + data[1] % (SIM_MAX_PAGES - 3);
    sim_init(pages, 65536 - 4096 * (data[0] >> 4) - 100, cap);
    slot_t s[SLOTS] = {{0}};
    for (size_t i = 2; i + 4 <= len; i += 4) {
        const uint8_t *op = data + i;
        slot_t *e = &s[op[1] % SLOTS];
        size_t n = size_of(op[2], op[3]);
        unsigned char fill = (unsigned char)(i | 1);
        unsigned char *p = NULL;
        switch (op[0] % 6) {
        case 0:
        case 1:
            if (e->p)
                continue;
            p = pwc_malloc(n);
            break;
        case 2:
            if (e->p)
                continue;
            p = pwc_calloc(n, 1);
            for (size_t k = 0; p && k < n; k++)
                SIM_ASSERT(p[k] == 0);
            break;
        case 3:
            if (e->p)
                continue;
            p = pwc_aligned_alloc((size_t)1 << (op[0] % 17), n);
            SIM_ASSERT(!p || (uintptr_t)p % ((size_t)1 << (op[0] % 17)) == 0);
            break;
        case 4:
            if (!e->p)
                continue;
            check(e);
            p = pwc_realloc(e->p, n);
            if (!p)
                continue; /* the old block stays */
            for (size_t k = 0; k < (e->n < n ? e->n : n); k++)
                SIM_ASSERT(p[k] == e->fill);
            e->p = NULL;
            break;
        case 5:
            if (e->p) {
                check(e);
                pwc_free(e->p);
                e->p = NULL;
            } else if (sim_pages < cap && op[2] == 0xF0) {
                foreign_grow(1, 0); /* another part of the module grows memory */
            }
            continue;
        }
        if (!p)
            continue;
        SIM_ASSERT((uintptr_t)p % 16 == 0 && in_sim(p, n));
        memset(p, fill, n);
        *e = (slot_t){p, n, fill};
        heap_check();
    }
    for (int k = 0; k < SLOTS; k++)
        if (s[k].p) {
            check(&s[k]);
            pwc_free(s[k].p);
        }
    walk_t w = heap_check();
    SIM_ASSERT(w.large_runs == 0 && w.live_small == 0);
    sim_done();
    return 0;
}
