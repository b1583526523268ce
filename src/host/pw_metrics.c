/* Process-wide metrics of ABI 5.13: counters, gauges and fixed-bucket histograms defined by
 * name from any VM on any thread, updated with atomics, listed for the admin's /stats. */
#include "pw_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 256, NCHUNKS = 1024 };

/* Envoy's default histogram bucket bounds (supported_buckets of its stats config). */
static const double bounds[PW_HISTOGRAM_BUCKETS] = {
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
    600000, 1800000, 3600000,
};

typedef struct metric {
    pw_metric_type_t type;
    char *name;                 /* owned; as the plugin defined it */
    size_t name_len;
    _Atomic uint64_t value;     /* counter, gauge (two's complement), histogram sum */
    _Atomic uint64_t count;     /* histogram samples */
    _Atomic uint64_t buckets[PW_HISTOGRAM_BUCKETS]; /* histogram: samples <= bound[i] only */
} metric_t;

/* Metrics are never freed: ids stay valid for the process, and lookups by id need no lock.
 * Definitions find names through an open-addressing index (guarded by reg_lock), so a
 * plugin defining many names does not make each definition scan them all. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(metric_t *) *chunks[NCHUNKS]; /* owned; entries owned by the registry */
static atomic_uint nmetrics;
static uint32_t *index_slots; /* owned; metric index + 1, 0 = empty */
static size_t index_cap;      /* power of two */

static uint64_t name_hash(pw_metric_type_t type, const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)type;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

static metric_t *at(uint32_t i)
{
    return atomic_load_explicit(&chunks[i / CHUNK][i % CHUNK], memory_order_relaxed);
}

/* Caller holds reg_lock. The slot for (type, name): its metric's, or the empty one to use. */
static uint32_t *index_find(pw_metric_type_t type, pw_slice_t name)
{
    if (!index_cap)
        return NULL;
    for (size_t i = name_hash(type, name.ptr, name.len) & (index_cap - 1);;
         i = (i + 1) & (index_cap - 1)) {
        uint32_t v = index_slots[i];
        if (v == 0)
            return &index_slots[i];
        metric_t *m = at(v - 1);
        if (m->type == type && m->name_len == name.len &&
            memcmp(m->name, name.ptr, name.len) == 0)
            return &index_slots[i];
    }
}

/* Caller holds reg_lock. Keeps the index at most half full. */
static bool index_grow(uint32_t n)
{
    if ((size_t)(n + 1) * 2 <= index_cap)
        return true;
    size_t cap = index_cap ? index_cap * 2 : 64;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        metric_t *m = at(i);
        size_t j = name_hash(m->type, (const uint8_t *)m->name, m->name_len) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = i + 1;
    }
    free(index_slots);
    index_slots = slots;
    index_cap = cap;
    return true;
}

const double *pw_histogram_bounds(void) { return bounds; }

/* cpp-host's id shape: the type in the low two bits, so a wrong-type use is cheap to spot. */
static uint32_t id_of(uint32_t index, pw_metric_type_t type)
{
    return ((index + 1) << 2) | (uint32_t)type;
}

static metric_t *by_id(uint32_t id)
{
    uint32_t index = (id >> 2) - 1;
    if (id < 4 || index >= atomic_load_explicit(&nmetrics, memory_order_acquire))
        return NULL;
    metric_t *m = atomic_load_explicit(&chunks[index / CHUNK][index % CHUNK],
                                       memory_order_acquire);
    return m && (uint32_t)m->type == (id & 3) ? m : NULL;
}

pw_result_t pw_metric_define(pw_metric_type_t type, pw_slice_t name, uint32_t *id)
{
    if ((uint32_t)type > PW_METRIC_HISTOGRAM)
        return PW_R_BAD_ARGUMENT;
    pthread_mutex_lock(&reg_lock);
    uint32_t n = atomic_load(&nmetrics);
    /* Envoy's store deduplicates by name (per type): every VM shares one statistic. */
    uint32_t *slot = index_find(type, name);
    if (slot && *slot) {
        *id = id_of(*slot - 1, type);
        pthread_mutex_unlock(&reg_lock);
        return PW_R_OK;
    }
    pw_result_t r = PW_R_INTERNAL_FAILURE;
    metric_t *m = NULL;
    if (n >= (uint32_t)CHUNK * NCHUNKS || !index_grow(n))
        goto out;
    if (!chunks[n / CHUNK] && !(chunks[n / CHUNK] = calloc(CHUNK, sizeof *chunks[0])))
        goto out;
    if (!(m = calloc(1, sizeof *m)) || !(m->name = malloc(name.len + 1))) {
        free(m);
        goto out;
    }
    memcpy(m->name, name.ptr, name.len);
    m->name[name.len] = 0;
    m->name_len = name.len;
    m->type = type;
    atomic_store_explicit(&chunks[n / CHUNK][n % CHUNK], m, memory_order_release);
    atomic_store_explicit(&nmetrics, n + 1, memory_order_release);
    *index_find(type, name) = n + 1; /* the index was grown above: an empty slot exists */
    *id = id_of(n, type);
    r = PW_R_OK;
out:
    pthread_mutex_unlock(&reg_lock);
    return r;
}

/* ABI 5.13: counters only grow; gauges move both ways; histograms take samples only. */
pw_result_t pw_metric_increment(uint32_t id, int64_t offset)
{
    metric_t *m = by_id(id);
    if (!m)
        return PW_R_NOT_FOUND;
    if (m->type == PW_METRIC_HISTOGRAM || (m->type == PW_METRIC_COUNTER && offset <= 0))
        return PW_R_BAD_ARGUMENT;
    atomic_fetch_add_explicit(&m->value, (uint64_t)offset, memory_order_relaxed);
    return PW_R_OK;
}

pw_result_t pw_metric_record(uint32_t id, uint64_t value)
{
    metric_t *m = by_id(id);
    if (!m)
        return PW_R_NOT_FOUND;
    switch (m->type) {
    case PW_METRIC_COUNTER:
        atomic_fetch_add_explicit(&m->value, value, memory_order_relaxed);
        break;
    case PW_METRIC_GAUGE:
        atomic_store_explicit(&m->value, value, memory_order_relaxed);
        break;
    case PW_METRIC_HISTOGRAM:
        for (int i = 0; i < PW_HISTOGRAM_BUCKETS; i++)
            if ((double)value <= bounds[i]) {
                atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
                break;
            }
        atomic_fetch_add_explicit(&m->value, value, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
        break;
    }
    return PW_R_OK;
}

pw_result_t pw_metric_get(uint32_t id, uint64_t *value)
{
    metric_t *m = by_id(id);
    if (!m)
        return PW_R_NOT_FOUND;
    if (m->type == PW_METRIC_HISTOGRAM)
        return PW_R_BAD_ARGUMENT;
    *value = atomic_load_explicit(&m->value, memory_order_relaxed);
    return PW_R_OK;
}

void pw_metrics_foreach(pw_metric_cb_t cb, void *ud)
{
    uint32_t n = atomic_load_explicit(&nmetrics, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        metric_t *m = atomic_load_explicit(&chunks[i / CHUNK][i % CHUNK], memory_order_acquire);
        pw_metric_info_t info = {
            .name = m->name,
            .type = m->type,
            .value = atomic_load_explicit(&m->value, memory_order_relaxed),
            .bounds = bounds,
        };
        if (m->type == PW_METRIC_HISTOGRAM) {
            /* Cumulative counts, as Prometheus' le buckets want them. */
            uint64_t acc = 0;
            for (int b = 0; b < PW_HISTOGRAM_BUCKETS; b++) {
                acc += atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
                info.cumulative[b] = acc;
            }
            info.count = atomic_load_explicit(&m->count, memory_order_relaxed);
            info.sum = info.value;
        }
        cb(ud, &info);
    }
}

size_t pw_metric_prometheus_name(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    if (name[0] >= '0' && name[0] <= '9') {
        if (n + 1 < cap)
            out[n] = '_';
        n++;
    }
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == ':';
        if (n + 1 < cap)
            out[n] = ok ? c : '_';
    }
    if (cap)
        out[n < cap ? n : cap - 1] = 0;
    return n;
}
