/* The process-wide stats store: a name registry (mutex, definition time only) and one value
 * block per thread, each written by its own thread with relaxed atomics and summed on read. */
#include "proxy/sl_stats.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_log.h"
#include "proxy/sl_worker.h"

#define NAME_MAX_BYTES 255
#define HASH_SLOTS (SL_STATS_MAX * 2) /* open addressing, load <= 0.5 */

struct sl_stats_block {
    _Atomic int64_t v[SL_STATS_MAX]; /* counters are stored as int64 and read back unsigned */
};

typedef struct stat_def {
    char *name; /* owned */
    sl_stat_kind_t kind;
} stat_def_t;

/* One store per process: stats are defined by every layer by name, and the admin reads them
 * all; the server creates it before the workers and frees it after they stop. */
static struct {
    pthread_mutex_t lock;   /* guards defs, hash and count writes */
    stat_def_t *defs;       /* owned, SL_STATS_MAX entries; id 0 unused */
    uint32_t *hash;         /* owned, HASH_SLOTS ids (0 = empty) */
    _Atomic uint32_t count; /* next id; published with release after the def is written */
    sl_stats_block_t *blocks; /* owned, n_blocks blocks; [0] = main thread */
    unsigned n_blocks;
    bool full_logged;
} store = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

void sl_stats_shutdown(void)
{
    pthread_mutex_lock(&store.lock);
    uint32_t n = atomic_load(&store.count);
    for (uint32_t i = 1; i < n && store.defs; i++)
        free(store.defs[i].name);
    free(store.defs);
    free(store.hash);
    free(store.blocks);
    store.defs = NULL;
    store.hash = NULL;
    store.blocks = NULL;
    store.n_blocks = 0;
    atomic_store(&store.count, 0);
    store.full_logged = false;
    pthread_mutex_unlock(&store.lock);
}

bool sl_stats_init(unsigned workers)
{
    sl_stats_shutdown();
    pthread_mutex_lock(&store.lock);
    store.defs = calloc(SL_STATS_MAX, sizeof *store.defs);
    store.hash = calloc(HASH_SLOTS, sizeof *store.hash);
    store.blocks = calloc((size_t)workers + 1, sizeof *store.blocks);
    if (!store.defs || !store.hash || !store.blocks) {
        free(store.defs);
        free(store.hash);
        free(store.blocks);
        store.defs = NULL;
        store.hash = NULL;
        store.blocks = NULL;
        pthread_mutex_unlock(&store.lock);
        return false;
    }
    store.n_blocks = workers + 1;
    atomic_store(&store.count, 1);
    pthread_mutex_unlock(&store.lock);
    return true;
}

sl_stats_block_t *sl_stats_block(unsigned worker_index)
{
    if (!store.blocks || worker_index + 1 >= store.n_blocks)
        return NULL;
    return &store.blocks[worker_index + 1];
}

sl_stats_block_t *sl_stats_main_block(void)
{
    return store.blocks ? &store.blocks[0] : NULL;
}

static uint32_t define(const char *name, sl_stat_kind_t kind)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > NAME_MAX_BYTES)
        return 0;
    uint32_t id = 0;
    pthread_mutex_lock(&store.lock);
    if (!store.defs)
        goto done;
    uint32_t slot = hash_name(name) % HASH_SLOTS;
    for (;;) {
        uint32_t cur = store.hash[slot];
        if (cur == 0)
            break;
        if (strcmp(store.defs[cur].name, name) == 0) {
            if (store.defs[cur].kind == kind)
                id = cur;
            goto done;
        }
        slot = (slot + 1) % HASH_SLOTS;
    }
    uint32_t n = atomic_load_explicit(&store.count, memory_order_relaxed);
    if (n >= SL_STATS_MAX) {
        if (!store.full_logged)
            SL_ERROR("stats: store full (%d stats), \"%s\" not defined", SL_STATS_MAX, name);
        store.full_logged = true;
        goto done;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        goto done;
    memcpy(copy, name, len + 1);
    store.defs[n].name = copy;
    store.defs[n].kind = kind;
    store.hash[slot] = n;
    atomic_store_explicit(&store.count, n + 1, memory_order_release);
    id = n;
done:
    pthread_mutex_unlock(&store.lock);
    return id;
}

sl_counter_t sl_stats_counter(const char *name)
{
    return (sl_counter_t){define(name, SL_STAT_COUNTER)};
}

sl_gauge_t sl_stats_gauge(const char *name)
{
    return (sl_gauge_t){define(name, SL_STAT_GAUGE)};
}

sl_counter_t sl_stats_counterf(const char *fmt, ...)
{
    char name[NAME_MAX_BYTES + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n < 0 || n > NAME_MAX_BYTES)
        return (sl_counter_t){0};
    return sl_stats_counter(name);
}

sl_gauge_t sl_stats_gaugef(const char *fmt, ...)
{
    char name[NAME_MAX_BYTES + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n < 0 || n > NAME_MAX_BYTES)
        return (sl_gauge_t){0};
    return sl_stats_gauge(name);
}

static _Atomic int64_t *slot_of(sl_worker_t *w, uint32_t id)
{
    sl_stats_block_t *b = w ? w->stats : (store.blocks ? &store.blocks[0] : NULL);
    if (!b || id == 0 || id >= SL_STATS_MAX)
        return NULL;
    return &b->v[id];
}

/* Single writer per slot: a relaxed load and store (plain moves on x86 and arm64) instead of
 * an atomic read-modify-write, so the hot path has no bus lock. */
void sl_stats_inc(sl_worker_t *w, sl_counter_t c, uint64_t n)
{
    _Atomic int64_t *v = slot_of(w, c.id);
    if (v)
        atomic_store_explicit(
            v, (int64_t)((uint64_t)atomic_load_explicit(v, memory_order_relaxed) + n),
            memory_order_relaxed);
}

void sl_stats_gauge_add(sl_worker_t *w, sl_gauge_t g, int64_t delta)
{
    _Atomic int64_t *v = slot_of(w, g.id);
    if (v)
        atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + delta,
                              memory_order_relaxed);
}

void sl_stats_gauge_set(sl_worker_t *w, sl_gauge_t g, int64_t value)
{
    _Atomic int64_t *v = slot_of(w, g.id);
    if (v)
        atomic_store_explicit(v, value, memory_order_relaxed);
}

static int64_t sum(uint32_t id)
{
    if (!store.blocks || id == 0 || id >= atomic_load_explicit(&store.count, memory_order_acquire))
        return 0;
    int64_t total = 0;
    for (unsigned i = 0; i < store.n_blocks; i++)
        total += atomic_load_explicit(&store.blocks[i].v[id], memory_order_relaxed);
    return total;
}

uint64_t sl_stats_counter_value(sl_counter_t c)
{
    return (uint64_t)sum(c.id);
}

int64_t sl_stats_gauge_value(sl_gauge_t g)
{
    return sum(g.id);
}

bool sl_stats_lookup(const char *name, sl_stat_kind_t *kind, int64_t *value)
{
    bool found = false;
    pthread_mutex_lock(&store.lock);
    if (store.hash && name) {
        uint32_t slot = hash_name(name) % HASH_SLOTS;
        for (uint32_t cur; (cur = store.hash[slot]) != 0; slot = (slot + 1) % HASH_SLOTS) {
            if (strcmp(store.defs[cur].name, name) == 0) {
                if (kind)
                    *kind = store.defs[cur].kind;
                if (value)
                    *value = sum(cur);
                found = true;
                break;
            }
        }
    }
    pthread_mutex_unlock(&store.lock);
    return found;
}

static int by_name(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return strcmp(store.defs[x].name, store.defs[y].name);
}

bool sl_stats_visit(sl_stats_visit_cb cb, void *ctx)
{
    uint32_t n = atomic_load_explicit(&store.count, memory_order_acquire);
    if (n <= 1)
        return true;
    uint32_t *order = malloc(sizeof *order * n);
    if (!order)
        return false;
    /* Names never change once defined, so the sort needs no lock; count was read with
     * acquire, which makes every def below it visible. */
    for (uint32_t i = 1; i < n; i++)
        order[i - 1] = i;
    qsort(order, n - 1, sizeof *order, by_name);
    for (uint32_t i = 0; i + 1 < n; i++)
        cb(ctx, store.defs[order[i]].name, store.defs[order[i]].kind, sum(order[i]));
    free(order);
    return true;
}
