/* Unit tests for the stats store: definition by name, per-thread slots merged on read, name
 * order in visits, and writers on several threads at once. */
#include "proxy/sl_stats.h"

#include <pthread.h>
#include <stdlib.h>

#include "proxy/sl_worker.h"
#include "../../t.h"

TEST(same_name_same_kind_gives_same_handle)
{
    T_ASSERT(sl_stats_init(2));
    sl_counter_t a = sl_stats_counter("cluster.x.upstream_rq_total");
    sl_counter_t b = sl_stats_counterf("cluster.%s.upstream_rq_total", "x");
    T_ASSERT(a.id != 0);
    T_EQ_UINT(a.id, b.id);
    sl_gauge_t g = sl_stats_gauge("cluster.x.upstream_rq_total");
    T_EQ_UINT(g.id, 0); /* exists as a counter */
    T_EQ_UINT(sl_stats_counter("").id, 0);
    sl_stats_shutdown();
}

TEST(values_merge_across_threads_and_main)
{
    T_ASSERT(sl_stats_init(2));
    sl_counter_t c = sl_stats_counter("a.b");
    sl_gauge_t g = sl_stats_gauge("a.g");
    sl_worker_t w0 = {.index = 0, .stats = sl_stats_block(0)};
    sl_worker_t w1 = {.index = 1, .stats = sl_stats_block(1)};
    T_ASSERT(w0.stats && w1.stats && w0.stats != w1.stats);
    T_ASSERT(sl_stats_block(2) == NULL);
    sl_stats_inc(&w0, c, 3);
    sl_stats_inc(&w1, c, 4);
    sl_stats_inc(NULL, c, 5);
    sl_stats_gauge_add(&w0, g, 2);
    sl_stats_gauge_add(&w1, g, -5);
    T_EQ_UINT(sl_stats_counter_value(c), 12);
    T_EQ_INT(sl_stats_gauge_value(g), -3);
    sl_stats_gauge_set(NULL, g, 10);
    T_EQ_INT(sl_stats_gauge_value(g), 7);
    sl_stats_inc(&w0, (sl_counter_t){0}, 1); /* no-op */
    sl_stat_kind_t kind;
    int64_t v;
    T_ASSERT(sl_stats_lookup("a.b", &kind, &v));
    T_EQ_INT(kind, SL_STAT_COUNTER);
    T_EQ_INT(v, 12);
    T_ASSERT(!sl_stats_lookup("a.c", &kind, &v));
    sl_stats_shutdown();
}

struct seen {
    char names[8][32];
    int64_t values[8];
    int n;
};

static void collect(void *ctx, const char *name, sl_stat_kind_t kind, int64_t value)
{
    struct seen *s = ctx;
    (void)kind;
    if (s->n < 8) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
        s->values[s->n] = value;
    }
    s->n++;
}

TEST(visit_is_in_name_order)
{
    T_ASSERT(sl_stats_init(1));
    sl_stats_inc(NULL, sl_stats_counter("z.last"), 1);
    sl_stats_inc(NULL, sl_stats_counter("a.first"), 2);
    sl_stats_gauge_add(NULL, sl_stats_gauge("m.middle"), 3);
    struct seen s = {0};
    T_ASSERT(sl_stats_visit(collect, &s));
    T_EQ_INT(s.n, 3);
    T_EQ_STR(s.names[0], "a.first");
    T_EQ_STR(s.names[1], "m.middle");
    T_EQ_STR(s.names[2], "z.last");
    T_EQ_INT(s.values[0], 2);
    T_EQ_INT(s.values[2], 1);
    sl_stats_shutdown();
}

TEST(store_full_returns_id_zero)
{
    T_ASSERT(sl_stats_init(0));
    sl_counter_t last = {0};
    for (int i = 1; i < SL_STATS_MAX; i++) {
        last = sl_stats_counterf("c.%d", i);
        T_ASSERT(last.id != 0);
    }
    T_EQ_UINT(sl_stats_counter("one.too.many").id, 0);
    T_EQ_UINT(sl_stats_counterf("c.%d", 5).id, 5); /* existing names still resolve */
    (void)last;
    sl_stats_shutdown();
}

#define ROUNDS 200000
static sl_counter_t shared_counter;

static void *writer(void *arg)
{
    sl_worker_t *w = arg;
    for (int i = 0; i < ROUNDS; i++)
        sl_stats_inc(w, shared_counter, 1);
    return NULL;
}

TEST(concurrent_writers_on_own_slots_lose_nothing)
{
    T_ASSERT(sl_stats_init(4));
    shared_counter = sl_stats_counter("http.x.downstream_rq_total");
    sl_worker_t w[4];
    pthread_t th[4];
    for (unsigned i = 0; i < 4; i++) {
        w[i] = (sl_worker_t){.index = i, .stats = sl_stats_block(i)};
        T_EQ_INT(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    /* Reads while writing must see a monotonic value. */
    uint64_t prev = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t now = sl_stats_counter_value(shared_counter);
        T_ASSERT(now >= prev);
        prev = now;
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    T_EQ_UINT(sl_stats_counter_value(shared_counter), 4u * ROUNDS);
    sl_stats_shutdown();
}
