/* The C SDK's allocator (sdk/c/pwc_alloc.c) built natively over a simulated linear memory:
 * random alloc/realloc/free with pattern checks, alignment, reuse, heap walks, memory caps. */
#include "../../t.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SIM_ASSERT(c) T_ASSERT(c)
#define SIM_EQ(a, b) T_EQ_INT((a), (b))
#include "pwc_alloc_sim.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void) { return t_rand(&rng); }

static unsigned char pat(uint32_t seed, size_t i)
{
    return (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static void fill(void *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)p)[i] = pat(seed, i);
}

static int intact(const void *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != pat(seed, i))
            return 0;
    return 1;
}

/* ---- cases ---------------------------------------------------------------------------------- */

TEST(size_classes_are_consistent)
{
    for (unsigned c = 0; c < NCLASS; c++) {
        T_EQ_INT(class_size[c] % 16, 0);
        T_ASSERT((PAGE - HDR) / class_size[c] >= 2);
        if (c)
            T_ASSERT(class_size[c] > class_size[c - 1]);
    }
    T_EQ_INT(class_size[NCLASS - 1], SMALL_MAX);
    for (size_t n = 0; n <= SMALL_MAX; n++) {
        unsigned c = class_of[(n + 15) >> 4];
        T_ASSERT(class_size[c] >= n);
        T_ASSERT(c == 0 || class_size[c - 1] < n);
    }
    for (uint32_t p = 1; p < (1u << 20); p = p * 3 / 2 + 1) {
        unsigned b = bin_of(p);
        T_ASSERT(b < NBINS);
        T_ASSERT(p <= EXACT_BINS ? b == p - 1 : b >= EXACT_BINS);
    }
}

TEST(basics_alignment_and_reuse)
{
    sim_init(2, 70000, SIM_MAX_PAGES);
    pwc_free(NULL);
    void *z = pwc_malloc(0), *z2 = pwc_malloc(0);
    T_ASSERT(z && z2 && z != z2);
    size_t sizes[] = {1, 15, 16, 17, 100, 255, 1000, 2032, 2033, 4000, 4080, 4081, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = pwc_malloc(sizes[i]);
        T_ASSERT(p != NULL && in_sim(p, sizes[i]));
        T_EQ_UINT((uintptr_t)p % 16, 0);
        T_ASSERT(pwc_malloc_usable_size(p) >= sizes[i]);
        fill(p, sizes[i], (uint32_t)i);
        pwc_free(p);
        void *q = pwc_malloc(sizes[i]); /* the block just freed comes back */
        T_ASSERT(q == p);
        pwc_free(q);
    }
    pwc_free(z);
    pwc_free(z2);
    walk_t w = heap_check();
    T_EQ_UINT(w.live_small, 0);
    T_EQ_UINT(w.large_runs, 0);
    sim_done();
}

TEST(calloc_zeroes_reused_memory_and_checks_overflow)
{
    sim_init(2, 70000, SIM_MAX_PAGES);
    size_t sizes[] = {24, 700, 9000};
    for (int i = 0; i < 3; i++) {
        unsigned char *p = pwc_malloc(sizes[i]);
        memset(p, 0xFF, sizes[i]);
        pwc_free(p);
        unsigned char *q = pwc_calloc(1, sizes[i]);
        T_ASSERT(q == p);
        for (size_t j = 0; j < sizes[i]; j++)
            T_EQ_INT(q[j], 0);
        pwc_free(q);
    }
    errno = 0;
    T_ASSERT(pwc_calloc((size_t)1 << 40, (size_t)1 << 40) == NULL);
    T_EQ_INT(errno, ENOMEM);
    T_ASSERT(pwc_calloc(SIZE_MAX / 2, 3) == NULL);
    void *p = pwc_calloc(0, 5);
    T_ASSERT(p != NULL);
    pwc_free(p);
    heap_check();
    sim_done();
}

TEST(freed_neighbours_merge_and_empty_pages_go_back)
{
    sim_init(2, 70000, SIM_MAX_PAGES);
    void *a = pwc_malloc(20000), *b = pwc_malloc(20000), *c = pwc_malloc(20000);
    T_ASSERT(a && b && c);
    pwc_free(a);
    pwc_free(c);
    pwc_free(b); /* merges with both */
    size_t pages = sim_pages, grows = sim_grows;
    void *big = pwc_malloc(60000); /* fits in the three merged runs: no grow */
    T_ASSERT(big != NULL);
    T_EQ_UINT(sim_pages, pages);
    pwc_free(big);
    /* 20 pages of 16-byte blocks, all freed: the pages return to the page heap */
    void *blk[255 * 20];
    for (int i = 0; i < 255 * 20; i++)
        T_ASSERT((blk[i] = pwc_malloc(16)) != NULL);
    walk_t w = heap_check();
    T_EQ_UINT(w.small_pages, 20); /* all full */
    for (int i = 0; i < 255 * 20; i++)
        pwc_free(blk[i]);
    w = heap_check();
    T_EQ_UINT(w.small_pages, 20); /* kept for their class until memory would grow */
    T_EQ_UINT(w.live_small, 0);
    sim_cap = sim_pages; /* no growing now: the pages must come back to the page heap */
    grows = sim_grows;
    big = pwc_malloc(19 * PAGE - HDR);
    T_ASSERT(big != NULL);
    T_EQ_UINT(sim_grows, grows);
    w = heap_check();
    T_EQ_UINT(w.small_pages, 0);
    pwc_free(big);
    w = heap_check();
    T_ASSERT(w.free_runs <= 2); /* the initial segment's run and the rest of memory */
    sim_done();
}

TEST(realloc_in_place_and_moving)
{
    sim_init(2, 70000, SIM_MAX_PAGES);
    unsigned char *p = pwc_malloc(100);
    fill(p, 100, 1);
    T_ASSERT(pwc_realloc(p, 110) == p); /* same class */
    T_ASSERT(intact(p, 100, 1));
    unsigned char *q = pwc_realloc(p, 3000); /* to a large run */
    T_ASSERT(q && q != p && intact(q, 100, 1));
    fill(q, 3000, 2);
    /* the last block before the sentinel grows in place, with memory.grow under it */
    unsigned char *r = pwc_realloc(q, 200000);
    T_ASSERT(r != NULL && intact(r, 3000, 2));
    fill(r, 200000, 3);
    unsigned char *s = pwc_realloc(r, 500000);
    T_ASSERT(s == r && intact(s, 200000, 3));
    s = pwc_realloc(s, 50000); /* shrink in place, the tail freed */
    T_ASSERT(s == r && intact(s, 50000, 3));
    walk_t w = heap_check();
    T_ASSERT(w.free_pages * PAGE >= 400000);
    /* a free neighbour is absorbed */
    unsigned char *t = pwc_malloc(10000), *u = pwc_malloc(10000), *v = pwc_malloc(10000);
    fill(t, 10000, 4);
    pwc_free(u);
    T_ASSERT(pwc_realloc(t, 20000) == t && intact(t, 10000, 4));
    /* much smaller: into a small class */
    unsigned char *x = pwc_realloc(t, 40);
    T_ASSERT(x && intact(x, 40, 4));
    T_EQ_INT(H(run_of(x))->cls < NCLASS, 1);
    T_ASSERT(pwc_realloc(NULL, 10) != NULL);
    void *m = pwc_realloc(x, 0); /* a minimum block, the old one freed */
    T_ASSERT(m != NULL);
    pwc_free(m);
    pwc_free(v);
    pwc_free(s);
    heap_check();
    sim_done();
}

TEST(aligned_allocations)
{
    sim_init(2, 70000, SIM_MAX_PAGES);
    void *keep[64];
    int n = 0;
    for (size_t a = 1; a <= 65536 * 4; a *= 2) {
        for (size_t sz = 0; sz < 20000; sz = sz * 5 + 7) {
            unsigned char *p = pwc_aligned_alloc(a, sz);
            T_ASSERT(p != NULL && in_sim(p, sz));
            T_EQ_UINT((uintptr_t)p % a, 0);
            T_EQ_UINT((uintptr_t)p % 16, 0);
            T_ASSERT(pwc_malloc_usable_size(p) >= sz);
            fill(p, sz, (uint32_t)(a + sz));
            if (n < 64 && (sz & 1))
                keep[n++] = p;
            else
                pwc_free(p);
        }
        void *q = NULL;
        T_EQ_INT(pwc_posix_memalign(&q, a < sizeof(void *) ? sizeof(void *) : a, 33), 0);
        T_ASSERT(q && (uintptr_t)q % a == 0);
        pwc_free(q);
    }
    heap_check();
    for (int i = 0; i < n; i++)
        pwc_free(keep[i]);
    errno = 0;
    T_ASSERT(pwc_aligned_alloc(24, 10) == NULL);
    T_EQ_INT(errno, EINVAL);
    void *q = NULL;
    T_EQ_INT(pwc_posix_memalign(&q, 2, 8), EINVAL);
    T_EQ_INT(pwc_posix_memalign(&q, 48, 8), EINVAL);
    walk_t w = heap_check();
    T_EQ_UINT(w.large_runs, 0);
    T_EQ_UINT(w.live_small, 0);
    sim_done();
}

/* Random malloc/calloc/realloc/aligned_alloc/free over live blocks whose contents are checked
 * on every touch (an overlap or a lost copy shows as a broken pattern). */
typedef struct {
    unsigned char *p;
    size_t n;
    uint32_t seed;
} live_t;

static size_t rand_size(void)
{
    uint64_t r = rnd() % 100;
    if (r < 70)
        return rnd() % 128;
    if (r < 90)
        return rnd() % 2100;
    if (r < 98)
        return rnd() % 40000;
    return rnd() % 400000;
}

static int cmp_live(const void *a, const void *b)
{
    const live_t *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

static void stress(size_t slots, int ops, size_t cap, uintptr_t foreign_at_op)
{
    live_t *l = calloc(slots, sizeof *l);
    T_ASSERT(l != NULL);
    uintptr_t foreign = 0;
    size_t foreign_pages = 3;
    int nulls = 0;
    for (int op = 0; op < ops; op++) {
        if ((uintptr_t)op == foreign_at_op && sim_pages + foreign_pages <= cap)
            foreign = foreign_grow(foreign_pages, 0x5C);
        live_t *e = &l[rnd() % slots];
        if (e->p) {
            T_ASSERT(intact(e->p, e->n, e->seed));
            if (rnd() % 3 == 0) {
                size_t n = rand_size();
                unsigned char *q = pwc_realloc(e->p, n);
                if (!q) {
                    nulls++;
                    T_ASSERT(intact(e->p, e->n, e->seed)); /* untouched on failure */
                    continue;
                }
                T_EQ_UINT((uintptr_t)q % 16, 0);
                T_ASSERT(intact(q, e->n < n ? e->n : n, e->seed));
                e->p = q;
                e->n = n;
                e->seed = (uint32_t)rnd();
                fill(q, n, e->seed);
            } else {
                pwc_free(e->p);
                e->p = NULL;
            }
            continue;
        }
        size_t n = rand_size();
        uint64_t kind = rnd() % 10;
        size_t align = 16;
        if (kind == 0)
            e->p = pwc_calloc(1, n);
        else if (kind == 1)
            e->p = pwc_aligned_alloc(align = (size_t)1 << (rnd() % 15), n);
        else
            e->p = pwc_malloc(n);
        if (!e->p) {
            T_EQ_INT(errno, ENOMEM);
            nulls++;
            continue;
        }
        T_ASSERT(in_sim(e->p, n));
        T_EQ_UINT((uintptr_t)e->p % (align > 16 ? align : 16), 0);
        if (kind == 0)
            for (size_t i = 0; i < n; i++)
                T_EQ_INT(e->p[i], 0);
        e->n = n;
        e->seed = (uint32_t)rnd();
        fill(e->p, n, e->seed);
        if (op % 5000 == 0) {
            heap_check();
            /* no two live blocks overlap */
            live_t *s = malloc(slots * sizeof *s);
            size_t k = 0;
            for (size_t i = 0; i < slots; i++)
                if (l[i].p)
                    s[k++] = l[i];
            qsort(s, k, sizeof *s, cmp_live);
            for (size_t i = 1; i < k; i++)
                T_ASSERT(s[i - 1].p + s[i - 1].n <= s[i].p);
            free(s);
        }
    }
    if (cap < SIM_MAX_PAGES)
        T_ASSERT(nulls > 0); /* the cap was reached */
    heap_check();
    for (size_t i = 0; i < slots; i++)
        if (l[i].p) {
            T_ASSERT(intact(l[i].p, l[i].n, l[i].seed));
            pwc_free(l[i].p);
        }
    walk_t w = heap_check();
    T_EQ_UINT(w.large_runs, 0);
    T_EQ_UINT(w.live_small, 0);
    if (foreign)
        SIM_UNPOISON(sim + foreign, foreign_pages * 65536);
    if (foreign)
        for (size_t i = 0; i < foreign_pages * 65536; i++)
            T_EQ_INT(sim[foreign + i], 0x5C);
    free(l);
}

TEST(random_operations_keep_every_block_intact)
{
    sim_init(2, 70000, SIM_MAX_PAGES);
    stress(400, 200000, SIM_MAX_PAGES, 300);
    T_ASSERT(nsegs >= 2); /* the foreign pages split the heap */
    sim_done();
}

TEST(random_operations_under_a_memory_cap_fail_with_null)
{
    sim_init(2, 70000, 48); /* 3 MiB */
    rng = 12345;
    stress(300, 200000, 48, (uintptr_t)-1);
    /* after everything is freed, the memory is whole again: one big block fits */
    void *p = pwc_malloc(2 << 20);
    T_ASSERT(p != NULL);
    T_ASSERT(pwc_malloc(2 << 20) == NULL);
    T_EQ_INT(errno, ENOMEM);
    pwc_free(p);
    sim_done();
}

TEST(out_of_memory_returns_null_and_recovers)
{
    sim_init(2, 70000, 4);
    void *blk[4096];
    int n = 0;
    while (n < 4096 && (blk[n] = pwc_malloc(1000)) != NULL)
        n++;
    T_ASSERT(n > 100 && n < 4096);
    T_EQ_INT(errno, ENOMEM);
    T_EQ_UINT(sim_pages, 4);
    T_ASSERT(pwc_malloc(5000) == NULL);
    T_ASSERT(pwc_realloc(blk[0], 100000) == NULL);
    T_ASSERT(pwc_aligned_alloc(4096, 10) == NULL);
    heap_check();
    for (int i = 0; i < n; i++)
        pwc_free(blk[i]);
    void *big = pwc_malloc(150000);
    T_ASSERT(big != NULL);
    pwc_free(big);
    walk_t w = heap_check();
    T_EQ_UINT(w.live_small, 0);
    sim_done();
}

TEST(a_tiny_initial_heap_starts_a_segment_of_its_own)
{
    sim_init(1, 65536 - 100, 8); /* less than two pages after the heap base */
    void *p = pwc_malloc(10);
    T_ASSERT(p != NULL);
    T_ASSERT((unsigned char *)p >= sim + 65536);
    T_EQ_INT(nsegs, 1);
    pwc_free(p);
    heap_check();
    sim_done();
}

TEST(pages_grown_by_others_before_the_first_malloc_are_left_alone)
{
    sim_init(2, 70000, 16);
    uintptr_t theirs = foreign_grow(2, 0x77);
    unsigned char *p = pwc_malloc(100), *q = pwc_malloc(300000);
    T_ASSERT(p && q);
    T_ASSERT((uintptr_t)(p - sim) < theirs || (uintptr_t)(p - sim) >= theirs + 2 * 65536);
    T_ASSERT((uintptr_t)(q - sim) >= theirs + 2 * 65536);
    memset(q, 1, 300000);
    pwc_free(p);
    pwc_free(q);
    heap_check();
    SIM_UNPOISON(sim + theirs, 2 * 65536);
    for (size_t i = 0; i < 2 * 65536; i++)
        T_EQ_INT(sim[theirs + i], 0x77);
    sim_done();
}

TEST(no_memory_at_all_returns_null)
{
    sim_init(1, 65536 - 100, 1);
    errno = 0;
    T_ASSERT(pwc_malloc(1) == NULL);
    T_EQ_INT(errno, ENOMEM);
    T_ASSERT(pwc_malloc(100000) == NULL);
    sim_done();
}
