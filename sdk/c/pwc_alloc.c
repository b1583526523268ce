/* The C SDK's malloc family, replacing wasi-libc's dlmalloc in plugins: every hostcall that
 * returns data allocates through proxy_on_memory_allocate, so malloc+free is on the hot path. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Layout. Memory is cut into 4 KiB pages. A run of pages starts with a 16-byte header, and
 * every block handed out lies in (run, run + PAGE], so (p - 1) rounded down to a page finds
 * its header: no per-block overhead.
 *   - Small blocks (<= 2032 bytes): one-page runs of a size class. Free blocks of a class are
 *     on one list: malloc pops, free pushes, nothing else (the fewest guest instructions).
 *     Pages whose blocks are all free go back to the page heap when no free run fits a
 *     request (before memory grows): a sweep counts the free blocks of each page.
 *   - Large blocks: a run of whole pages, payload after the header (further in when aligned).
 *   - Free runs sit in bins by page count (exact up to 16 pages, then one per power of two;
 *     a bitmap finds the first non-empty bin), carry their length in their last 4 bytes (in
 *     the sentinel's header when one follows), and are merged with free neighbours on release
 *     (the next run's PREV_FREE flag says when the length is there). Each contiguous segment
 *     ends with a one-page in-use sentinel, so merging never reads past memory that is ours;
 *     growing contiguously turns the sentinel into part of the new run.
 * Memory comes from memory.grow, by what is needed or an eighth of the memory, whichever is
 * more (exactly what is needed if that fails); the first segment is what lies between
 * __heap_base and the initial memory size. A refused grow (the VM's cap) makes malloc return
 * NULL with ENOMEM. Links inside the heap are 32-bit offsets from the memory's base (0 in Wasm),
 * so a native build of this file for tests has the same layout. Single-threaded, as wasm32-wasi
 * plugins are. */

#ifndef PWC_FN /* a native test build renames the functions and supplies its own memory */
#define PWC_FN(name) name
#define MEM_PAGES() __builtin_wasm_memory_size(0)
#define MEM_GROW(n) __builtin_wasm_memory_grow(0, (n))
extern unsigned char __heap_base;
#define HEAP_BASE ((uintptr_t)&__heap_base)
#define TO_PTR(r) ((void *)(uintptr_t)(r))
#define TO_REF(p) ((ref_t)(uintptr_t)(p))
/* The memory size before any code of the plugin's runs (reactor constructors come first):
 * pages the plugin grows itself before its first malloc must not be taken for the heap. */
static size_t initial_pages;
__attribute__((constructor)) static void note_initial_pages(void)
{
    if (!initial_pages)
        initial_pages = MEM_PAGES();
}
#define INITIAL_PAGES() (initial_pages ? initial_pages : MEM_PAGES())
#else
#define TO_PTR(r) ((void *)(MEM_BASE + (r)))
#define TO_REF(p) ((ref_t)((unsigned char *)(p) - MEM_BASE))
#endif

enum {
    PAGE = 4096,
    WASM_PAGE = 65536,
    HDR = 16,         /* run header, also the minimum block and the alignment */
    NCLASS = 21,
    SMALL_MAX = 2032, /* the largest class */
    EXACT_BINS = 16,  /* free runs of 1..16 pages have a bin each */
    NBINS = 33,       /* then one bin per power of two up to 2^20 pages (4 GiB) */
    CLS_FREE = 0xFD,  /* run classes past the small ones */
    CLS_SENTINEL = 0xFE,
    CLS_LARGE = 0xFF,
    PREV_FREE = 1, /* flags: the run before this one is free and its length is recorded */
    QUEUED = 0xFFFF, /* a small page's `used` once a sweep has found all its blocks free */
};

typedef uint32_t ref_t; /* offset from MEM_BASE; 0 is never a heap address */

typedef struct hdr {
    uint8_t cls;   /* size class, or CLS_* */
    uint8_t flags; /* PREV_FREE */
    uint16_t used; /* small pages, during a sweep: free blocks counted, or QUEUED */
    union {
        uint32_t pages; /* large, free and sentinel runs: length in pages */
        ref_t queue;    /* small pages, during a sweep: next page to release */
    };
    ref_t next, prev; /* free runs: bin list; small pages: prev holds the last sweep's epoch;
                         sentinels: prev is the length of the free run before, if any */
} hdr_t;

_Static_assert(sizeof(hdr_t) == HDR, "a run header is 16 bytes");

/* Chosen so that each is the largest multiple of 16 giving its count of blocks per page. */
static const uint16_t class_size[NCLASS] = {16,  32,  48,  64,  80,  96,  112,
                                            128, 160, 192, 224, 272, 336, 400,
                                            448, 576, 672, 816, 1008, 1360, 2032};
/* class_of[(n + 15) / 16]: the smallest class holding n bytes. */
static const uint8_t class_of[SMALL_MAX / 16 + 1] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11, 11, 12, 12, 12, 12,
    13, 13, 13, 13, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 17,
    17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19,
    19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20};

static ref_t head[NCLASS];  /* per class: the free blocks, linked through their first bytes */
static uint32_t epoch;      /* sweeps so far */
static ref_t bins[NBINS];   /* free runs */
static uint64_t binmap;     /* bit b: bins[b] is not empty */
static uintptr_t seg_end;   /* end of the segment being extended (offset), 0 before set-up */
static int ready;           /* the initial segment has been taken */

static inline hdr_t *H(ref_t r) { return (hdr_t *)TO_PTR(r); }
static inline ref_t run_of(const void *p) { return (TO_REF(p) - 1) & ~(ref_t)(PAGE - 1); }
static inline uint32_t *footer(ref_t r, uint32_t pages)
{
    return (uint32_t *)TO_PTR(r + pages * PAGE - 4);
}

static unsigned bin_of(uint32_t pages)
{
    if (pages <= EXACT_BINS)
        return pages - 1;
    return EXACT_BINS - 4 + (31 - (unsigned)__builtin_clz(pages)); /* 17..31 -> 16 */
}

static void bin_unlink(ref_t r)
{
    hdr_t *h = H(r);
    if (h->prev)
        H(h->prev)->next = h->next;
    else {
        unsigned b = bin_of(h->pages);
        bins[b] = h->next;
        if (!h->next)
            binmap &= ~((uint64_t)1 << b);
    }
    if (h->next)
        H(h->next)->prev = h->prev;
}

/* Makes [r, r + pages) one free run, merged with free neighbours, in its bin. r's PREV_FREE
 * flag must be right, and the run after it must have a header. */
static void put_run(ref_t r, uint32_t pages)
{
    if (H(r)->flags & PREV_FREE) { /* (r is a sentinel when grow extends a segment) */
        uint32_t before = H(r)->cls == CLS_SENTINEL ? H(r)->prev : *(uint32_t *)TO_PTR(r - 4);
        r -= before * PAGE;
        bin_unlink(r);
        pages += before;
    }
    ref_t next = r + pages * PAGE;
    if (H(next)->cls == CLS_FREE) {
        bin_unlink(next);
        pages += H(next)->pages;
        next = r + pages * PAGE;
    }
    hdr_t *h = H(r);
    unsigned b = bin_of(pages);
    h->cls = CLS_FREE;
    h->flags = 0;
    h->pages = pages;
    h->prev = 0;
    h->next = bins[b];
    if (bins[b])
        H(bins[b])->prev = r;
    bins[b] = r;
    binmap |= (uint64_t)1 << b;
    /* A sentinel keeps the length itself: one memory page less touched per segment. */
    if (H(next)->cls == CLS_SENTINEL)
        H(next)->prev = pages;
    else
        *footer(r, pages) = pages;
    H(next)->flags |= PREV_FREE;
}

/* A free run of at least `pages` pages, or 0. */
static ref_t find_run(uint32_t pages)
{
    unsigned b = bin_of(pages);
    if (b >= EXACT_BINS) { /* a power-of-two bin holds shorter runs too: first fit in it */
        for (ref_t r = bins[b]; r; r = H(r)->next)
            if (H(r)->pages >= pages)
                return r;
        b++;
    }
    uint64_t m = b < 64 ? binmap >> b << b : 0;
    return m ? bins[__builtin_ctzll(m)] : 0;
}

/* Marks a run as in use from `keep` pages on: the rest, if any, goes back as a free run. */
static void trim(ref_t r, uint32_t keep)
{
    hdr_t *h = H(r);
    uint32_t pages = h->pages;
    if (keep < pages) {
        ref_t rest = r + keep * PAGE;
        h->pages = keep;
        H(rest)->flags = 0;
        put_run(rest, pages - keep);
    } else {
        H(r + pages * PAGE)->flags &= (uint8_t)~PREV_FREE;
    }
}

/* Adds a segment or extends the current one by at least `pages` free pages. */
static int grow(uint32_t pages)
{
    size_t cur = MEM_PAGES();
    int contiguous = seg_end && (uintptr_t)cur * WASM_PAGE == seg_end;
    /* contiguous: the old sentinel page joins the run and a new one ends it */
    size_t bytes = (size_t)pages * PAGE + (contiguous ? 0 : PAGE);
    size_t n = (bytes + WASM_PAGE - 1) / WASM_PAGE, more = cur / 8;
    if (n >= 65536 - cur) /* the end offset must fit in 32 bits */
        return 0;
    size_t old = (size_t)-1;
    if (more > n && more < 65536 - cur)
        old = MEM_GROW(more);
    if (old == (size_t)-1)
        old = MEM_GROW(n);
    else
        n = more;
    if (old == (size_t)-1)
        return 0;
    ref_t base = (ref_t)(old * WASM_PAGE);
    ref_t end = (ref_t)((old + n) * WASM_PAGE);
    ref_t run = base;
    if (seg_end && base == seg_end) {
        run = base - PAGE; /* the old sentinel; its PREV_FREE flag stays right */
    } else {
        H(run)->flags = 0;
    }
    hdr_t *s = H(end - PAGE);
    s->cls = CLS_SENTINEL;
    s->flags = 0;
    s->pages = 1;
    seg_end = end;
    put_run(run, (end - PAGE - run) / PAGE);
    return 1;
}

/* The initial segment: whole pages from __heap_base to the end of the initial memory. If
 * memory has grown since, the next grow starts a segment of its own. */
static void set_up(void)
{
    ready = 1;
    uintptr_t start = (HEAP_BASE + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    uintptr_t end = (uintptr_t)INITIAL_PAGES() * WASM_PAGE;
    if (end < start + 2 * PAGE)
        return; /* too little: the first grow starts a segment of its own */
    hdr_t *s = H((ref_t)(end - PAGE));
    s->cls = CLS_SENTINEL;
    s->flags = 0;
    s->pages = 1;
    seg_end = end;
    H((ref_t)start)->flags = 0;
    put_run((ref_t)start, (uint32_t)((end - PAGE - start) / PAGE));
}

/* Gives back every small page whose blocks are all free; true if there was one. Two passes
 * over the free small blocks, so it runs only when no free run fits (before growing). */
static int sweep(void)
{
    epoch++;
    for (unsigned c = 0; c < NCLASS; c++)
        for (ref_t b = head[c]; b; b = *(ref_t *)TO_PTR(b)) {
            hdr_t *h = H(run_of(TO_PTR(b)));
            if (h->prev != epoch) {
                h->prev = epoch;
                h->used = 0;
            }
            h->used++;
        }
    ref_t queue = 0;
    for (unsigned c = 0; c < NCLASS; c++) {
        uint32_t per_page = (PAGE - HDR) / class_size[c];
        ref_t *link = &head[c];
        for (ref_t b = head[c], next; b; b = next) {
            next = *(ref_t *)TO_PTR(b);
            ref_t r = run_of(TO_PTR(b));
            hdr_t *h = H(r);
            if (h->used == per_page) {
                h->used = QUEUED;
                h->queue = queue;
                queue = r;
            }
            if (h->used != QUEUED) {
                *link = b;
                link = (ref_t *)TO_PTR(b);
            }
        }
        *link = 0;
    }
    int any = queue != 0;
    while (queue) {
        ref_t next = H(queue)->queue; /* read first: releasing rewrites headers */
        put_run(queue, 1);
        queue = next;
    }
    return any;
}

/* An in-use run of exactly `pages` pages (class not yet set), or 0. */
static ref_t get_run(uint32_t pages)
{
    ref_t r = find_run(pages);
    if (!r) {
        if (!ready)
            set_up();
        r = find_run(pages);
        if (!r && sweep())
            r = find_run(pages);
        if (!r && (!grow(pages) || !(r = find_run(pages))))
            return 0;
    }
    bin_unlink(r);
    trim(r, pages);
    return r;
}

static void *oom(void)
{
    errno = ENOMEM;
    return NULL;
}

/* The class has no page with a free block: start one. */
static __attribute__((noinline)) void *small_refill(unsigned c)
{
    ref_t r = get_run(1);
    if (!r)
        return oom();
    hdr_t *h = H(r);
    uint32_t size = class_size[c];
    uint32_t n = (PAGE - HDR) / size;
    ref_t b = r + HDR;
    for (uint32_t i = 1; i < n; i++, b += size)
        *(ref_t *)TO_PTR(b) = b + size;
    *(ref_t *)TO_PTR(b) = 0;
    h->cls = (uint8_t)c;
    h->used = 0;
    h->prev = 0; /* no sweep has counted it */
    head[c] = r + HDR + size;
    return TO_PTR(r + HDR);
}

/* Largest request: its page count and header arithmetic stay within 32 bits. */
#define MAX_REQUEST ((size_t)0x7FFFFFFF)

static __attribute__((noinline)) void *large_alloc(size_t n)
{
    if (n > MAX_REQUEST)
        return oom();
    ref_t r = get_run((uint32_t)((n + HDR + PAGE - 1) / PAGE));
    if (!r)
        return oom();
    H(r)->cls = CLS_LARGE;
    return TO_PTR(r + HDR);
}

static inline __attribute__((always_inline)) void *alloc(size_t n)
{
    if (n > SMALL_MAX)
        return large_alloc(n);
    unsigned c = class_of[(n + 15) >> 4];
    ref_t b = head[c];
    if (!b)
        return small_refill(c);
    head[c] = *(ref_t *)TO_PTR(b);
    return TO_PTR(b);
}

void *PWC_FN(malloc)(size_t n) { return alloc(n); }

#ifndef PWC_ALLOC_TEST
/* The host allocates every value it returns through this export: malloc without a call. */
__attribute__((export_name("proxy_on_memory_allocate"))) void *pwc_on_memory_allocate(size_t n)
{
    return alloc(n);
}
#endif

void PWC_FN(free)(void *p)
{
    if (!p)
        return;
    ref_t r = run_of(p);
    hdr_t *h = H(r);
    unsigned c = h->cls;
    if (c >= NCLASS) {
        put_run(r, h->pages);
        return;
    }
    *(ref_t *)p = head[c];
    head[c] = TO_REF(p);
}

size_t PWC_FN(malloc_usable_size)(void *p)
{
    if (!p)
        return 0;
    ref_t r = run_of(p);
    hdr_t *h = H(r);
    if (h->cls < NCLASS)
        return class_size[h->cls];
    return r + h->pages * PAGE - TO_REF(p);
}

void *PWC_FN(calloc)(size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size)
        return oom();
    void *p = PWC_FN(malloc)(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *move(void *p, size_t had, size_t n)
{
    void *q = PWC_FN(malloc)(n);
    if (!q)
        return NULL;
    memcpy(q, p, had < n ? had : n);
    PWC_FN(free)(p);
    return q;
}

void *PWC_FN(realloc)(void *p, size_t n)
{
    if (!p)
        return PWC_FN(malloc)(n);
    ref_t r = run_of(p);
    hdr_t *h = H(r);
    if (h->cls < NCLASS) {
        size_t size = class_size[h->cls];
        if (n <= size && (n > size / 2 || size <= 32))
            return p;
        return move(p, size, n);
    }
    if (n > MAX_REQUEST)
        return oom();
    ref_t at = TO_REF(p);
    size_t had = r + h->pages * PAGE - at;
    if (n <= SMALL_MAX && n < had / 2) { /* much smaller: a small block wastes less */
        void *q = move(p, had, n);
        if (q)
            return q;
    }
    uint32_t want = (uint32_t)((at - r + n + PAGE - 1) / PAGE);
    if (want <= h->pages) {
        trim(r, want);
        return p;
    }
    ref_t next = r + h->pages * PAGE;
    uint32_t spare = H(next)->cls == CLS_FREE ? H(next)->pages : 0;
    ref_t last = next + spare * PAGE;
    if (h->pages + spare < want && last + PAGE == seg_end && H(last)->cls == CLS_SENTINEL &&
        (uintptr_t)MEM_PAGES() * WASM_PAGE == seg_end)
        grow(want - h->pages - spare); /* at the end of memory: extend it under the block */
    if (H(next)->cls == CLS_FREE && h->pages + H(next)->pages >= want) {
        bin_unlink(next);
        h->pages += H(next)->pages;
        trim(r, want);
        return p;
    }
    return move(p, had, n);
}

void *PWC_FN(aligned_alloc)(size_t align, size_t n)
{
    if (!align || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (align <= HDR)
        return PWC_FN(malloc)(n);
    if (n > MAX_REQUEST || align > MAX_REQUEST / 2)
        return oom();
    /* The payload starts `align` bytes into the run, or one page in when align >= PAGE (the
     * header is then the page just before it). Below PAGE alignment the run is page-aligned so
     * that is enough; above it, take align - PAGE spare bytes and give back the front. */
    size_t off = align < PAGE ? align : PAGE;
    n += !n; /* a distinct address even for 0 bytes */
    uint32_t need = (uint32_t)((off + n + PAGE - 1) / PAGE);
    uint32_t spare = align > PAGE ? (uint32_t)(align / PAGE - 1) : 0;
    ref_t r0 = get_run(need + spare);
    if (!r0)
        return oom();
    ref_t r = r0;
    if (spare) {
        r = (ref_t)(((uint64_t)r0 + PAGE + align - 1) & ~(uint64_t)(align - 1)) - PAGE;
        uint32_t front = (r - r0) / PAGE;
        uint32_t total = need + spare;
        if (front) {
            H(r)->cls = CLS_LARGE;
            H(r)->flags = 0;
            H(r)->pages = total - front;
            H(r0)->pages = front;
            put_run(r0, front);
        }
        H(r)->cls = CLS_LARGE;
        trim(r, need);
    }
    H(r)->cls = CLS_LARGE;
    return TO_PTR(r + off);
}

int PWC_FN(posix_memalign)(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = PWC_FN(aligned_alloc)(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

#ifndef PWC_ALLOC_TEST
/* wasi-libc's own callers (locale, atexit) use these names; defining them keeps its malloc
 * out of the link. */
void *__libc_malloc(size_t n) { return malloc(n); }
void __libc_free(void *p) { free(p); }
void *__libc_calloc(size_t n, size_t size) { return calloc(n, size); }
#endif
