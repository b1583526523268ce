/* Process statistics: counters and gauges defined by name once (at configuration time) and
 * updated by handle on the hot path, per thread and lock-free, merged only when read. */
#ifndef SLUICE_PROXY_SL_STATS_H
#define SLUICE_PROXY_SL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_worker sl_worker_t;

/* Handles are small indices; id 0 is "no stat" (what a failed definition returns), and
 * updating it is a no-op, so callers need not check. */
typedef struct sl_counter {
    uint32_t id;
} sl_counter_t;
typedef struct sl_gauge {
    uint32_t id;
} sl_gauge_t;

typedef enum { SL_STAT_COUNTER, SL_STAT_GAUGE } sl_stat_kind_t;

/* Most stats one process can define; a definition past it returns id 0 (and logs once). */
#define SL_STATS_MAX 16384

/* One thread's values: slot 0 belongs to the main thread, slot i+1 to worker i. Written by
 * that thread only (plain load + store on a relaxed atomic: no lock prefix), read by any. */
typedef struct sl_stats_block sl_stats_block_t;

/* Sets up the process-wide store with room for `workers` worker threads plus the main
 * thread. Called once by the server before any stat is defined; calling it again (a test)
 * discards everything. Returns false when memory is short. */
bool sl_stats_init(unsigned workers);
/* Frees the store (after every worker has stopped). */
void sl_stats_shutdown(void);

/* The block a worker keeps in sl_worker_t.stats (borrowed; lives until sl_stats_shutdown). */
sl_stats_block_t *sl_stats_block(unsigned worker_index);
/* The main thread's block (slot 0), for main-thread objects that take a worker view. */
sl_stats_block_t *sl_stats_main_block(void);

/* Defines (or finds, when the name exists with the same kind) a stat. Names are Envoy's
 * dotted names, e.g. "cluster.backend.upstream_rq_total". Thread-safe (takes a mutex: never
 * call it per request). Returns id 0 when the store is full, the name is empty or longer than
 * 255 bytes, or it exists with the other kind. */
sl_counter_t sl_stats_counter(const char *name);
sl_gauge_t sl_stats_gauge(const char *name);
/* printf-style convenience for composed names ("cluster.%s.upstream_cx_total"). */
sl_counter_t sl_stats_counterf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
sl_gauge_t sl_stats_gaugef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Hot path: add to the calling thread's slot. `w` is the worker the caller runs on; NULL
 * means the main thread. Only that thread may pass that worker. */
void sl_stats_inc(sl_worker_t *w, sl_counter_t c, uint64_t n);
void sl_stats_gauge_add(sl_worker_t *w, sl_gauge_t g, int64_t delta);
/* Gauge set: valid only for gauges that a single thread owns (e.g. main-thread gauges such as
 * server.live); it sets that thread's slot, the others keep their share. */
void sl_stats_gauge_set(sl_worker_t *w, sl_gauge_t g, int64_t value);

/* Reads: the sum over all threads (a counter is exact once writers are quiet; while they
 * run it is a recent value). Unknown ids read 0. */
uint64_t sl_stats_counter_value(sl_counter_t c);
int64_t sl_stats_gauge_value(sl_gauge_t g);
/* Finds a stat by name (not for the hot path). Returns false when it does not exist. */
bool sl_stats_lookup(const char *name, sl_stat_kind_t *kind, int64_t *value);

/* Calls `cb` for every stat in name order with its merged value (gauges may be negative;
 * counters are cast). Returns false when memory for the sort is short. */
typedef void (*sl_stats_visit_cb)(void *ctx, const char *name, sl_stat_kind_t kind,
                                  int64_t value);
bool sl_stats_visit(sl_stats_visit_cb cb, void *ctx);

#endif
