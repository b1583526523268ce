/* A simulated Wasm linear memory for building sdk/c/pwc_alloc.c natively, and a walk over the
 * allocator's heap that checks every invariant. Included by its unit test and fuzz target. */
#ifndef SLUICE_TESTS_PWC_ALLOC_SIM_H
#define SLUICE_TESTS_PWC_ALLOC_SIM_H

/* The includer defines SIM_ASSERT(cond) and SIM_EQ(a, b), each ending the run on failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define SIM_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SIM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#endif
#endif
#ifndef SIM_POISON /* without ASan, pages past the memory's end are simply not checked */
#define SIM_POISON(p, n) ((void)(p), (void)(n))
#define SIM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ---- the simulated linear memory: 64 KiB pages from offset 0, grown up to a cap ------------ */

#ifndef SIM_MAX_PAGES
#define SIM_MAX_PAGES 512 /* 32 MiB */
#endif

static unsigned char *sim;  /* owned; aligned so offsets and addresses agree on alignment */
static size_t sim_pages;    /* current size in 64 KiB pages */
static size_t sim_cap;      /* grows past this fail */
static uintptr_t sim_heap;  /* the heap base the allocator sees (offset) */
static size_t sim_grows;    /* grows made by the allocator */
static size_t sim_initial;  /* pages before anything ran */

/* Segments the allocator owns, for the heap walk: extended or added by each of its grows. */
typedef struct {
    uintptr_t start, end;
} seg_t;
static seg_t segs[64];
static int nsegs;

static size_t sim_grow(size_t n)
{
    if (sim_pages + n > sim_cap)
        return (size_t)-1;
    size_t old = sim_pages;
    sim_pages += n;
    sim_grows++;
    SIM_UNPOISON(sim + old * 65536, n * 65536);
    uintptr_t base = old * 65536, end = sim_pages * 65536;
    if (nsegs && segs[nsegs - 1].end == base)
        segs[nsegs - 1].end = end;
    else if (nsegs < 64)
        segs[nsegs++] = (seg_t){base, end};
    return old;
}

#define PWC_ALLOC_TEST 1
#define PWC_FN(name) pwc_##name
#define MEM_BASE sim
#define MEM_PAGES() sim_pages
#define MEM_GROW(n) sim_grow(n)
#define HEAP_BASE sim_heap
#define INITIAL_PAGES() sim_initial
#include "../../../sdk/c/pwc_alloc.c"

/* Memory of `pages` pages with the heap from `heap` on, growable to `cap` pages. */
static void sim_init(size_t pages, uintptr_t heap, size_t cap)
{
    if (!sim) /* kept across runs of one process (sim_done resets the rest) */
        sim = aligned_alloc(1 << 20, (size_t)SIM_MAX_PAGES * 65536);
    SIM_ASSERT(sim != NULL);
    SIM_UNPOISON(sim, (size_t)SIM_MAX_PAGES * 65536);
    memset(sim, 0xA5, (size_t)pages * 65536); /* what data and stack would hold */
    sim_pages = pages;
    sim_initial = pages;
    /* under ASan, touching memory the module has not grown yet is an error */
    SIM_POISON(sim + pages * 65536, (SIM_MAX_PAGES - pages) * (size_t)65536);
    sim_heap = heap;
    sim_cap = cap;
    uintptr_t start = (heap + PAGE - 1) & ~(uintptr_t)(PAGE - 1), end = pages * 65536;
    if (end >= start + 2 * PAGE)
        segs[nsegs++] = (seg_t){start, end};
}

/* Someone else in the module grows memory (the allocator must leave those pages alone). */
static uintptr_t foreign_grow(size_t n, unsigned char fill)
{
    SIM_ASSERT(sim_pages + n <= sim_cap);
    uintptr_t at = sim_pages * 65536;
    sim_pages += n;
    SIM_UNPOISON(sim + at, n * 65536);
    memset(sim + at, fill, n * 65536);
    /* under ASan, the allocator touching these pages is an error */
    SIM_POISON(sim + at, n * 65536);
    return at;
}

/* Back to a fresh module: the allocator's state too (for runs in one process). */
static void sim_done(void)
{
    memset(head, 0, sizeof head);
    epoch = 0;
    memset(bins, 0, sizeof bins);
    binmap = 0;
    seg_end = 0;
    ready = 0;
    nsegs = 0;
    sim_grows = 0;
    SIM_UNPOISON(sim, (size_t)SIM_MAX_PAGES * 65536);
}

/* [p, p + n) lies in the memory the module has. */
static int in_sim(const void *p, size_t n)
{
    const unsigned char *c = p;
    return c >= sim && c + n <= sim + sim_pages * 65536;
}

/* ---- the heap walk: every invariant the allocator relies on --------------------------------- */

typedef struct {
    size_t free_runs, free_pages, small_pages, large_runs, live_small;
} walk_t;

static walk_t heap_check(void)
{
    walk_t w = {0};
    /* free blocks per page, from the class lists (each block in a page of its class, on the
     * page's grid, no page with more free blocks than it holds, so no block twice) */
    static uint16_t nfree[SIM_MAX_PAGES * (65536 / PAGE)];
    memset(nfree, 0, sizeof nfree);
    for (unsigned c = 0; c < NCLASS; c++) {
        uint32_t size = class_size[c], n = (PAGE - HDR) / size;
        for (ref_t b = head[c]; b; b = *(ref_t *)TO_PTR(b)) {
            SIM_ASSERT(b < sim_pages * 65536);
            ref_t r = run_of(TO_PTR(b));
            SIM_EQ(H(r)->cls, c);
            SIM_ASSERT(b >= r + HDR && (b - r - HDR) % size == 0);
            SIM_ASSERT(++nfree[r / PAGE] <= n);
        }
    }
    for (int s = 0; s < nsegs && ready; s++) { /* before set-up, nothing is the heap's */
        ref_t r = (ref_t)segs[s].start, end = (ref_t)segs[s].end;
        int prev_free = 0;
        for (;;) {
            SIM_ASSERT(r < end);
            hdr_t *h = H(r);
            SIM_EQ(!!(h->flags & PREV_FREE), prev_free);
            if (h->cls == CLS_SENTINEL) {
                SIM_EQ(r, end - PAGE);
                break;
            }
            uint32_t pages = 1;
            if (h->cls < NCLASS) {
                SIM_ASSERT(h->used != QUEUED); /* only within a sweep */
                w.small_pages++;
                w.live_small += (PAGE - HDR) / class_size[h->cls] - nfree[r / PAGE];
                prev_free = 0;
            } else if (h->cls == CLS_LARGE) {
                pages = h->pages;
                w.large_runs++;
                prev_free = 0;
            } else {
                SIM_EQ(h->cls, CLS_FREE);
                SIM_ASSERT(!prev_free); /* neighbours are always merged */
                pages = h->pages;
                ref_t after = r + pages * PAGE;
                SIM_EQ(H(after)->cls == CLS_SENTINEL ? H(after)->prev : *footer(r, pages), pages);
                int found = 0;
                for (ref_t x = bins[bin_of(pages)]; x && !found; x = H(x)->next)
                    found = x == r;
                SIM_ASSERT(found);
                w.free_runs++;
                w.free_pages += pages;
                prev_free = 1;
            }
            SIM_ASSERT(pages >= 1 && r + (uint64_t)pages * PAGE <= end - PAGE);
            r += pages * PAGE;
        }
    }
    size_t binned = 0;
    for (unsigned b = 0; b < NBINS; b++) {
        SIM_EQ(!!(binmap & ((uint64_t)1 << b)), bins[b] != 0);
        ref_t prev = 0;
        for (ref_t x = bins[b]; x; prev = x, x = H(x)->next) {
            SIM_EQ(H(x)->prev, prev);
            SIM_EQ(bin_of(H(x)->pages), b);
            binned++;
        }
    }
    SIM_EQ(binned, w.free_runs);
    return w;
}

#endif
