/* Benchmark plugin: a singleton service that drains the shared queue fed by qlat_send.c and
 * records each item's delay from enqueue to proxy_on_queue_ready into bucket counters. */

/* Configuration: the queue name (default "lat"). Metrics: counters "qlat.count", "qlat.sum_ns"
 * and "qlat.bucket.<i>" (bucket i as bench/wasm_async/bench.py decodes it: i < 16 holds i ns;
 * above, 8 buckets per power of two, 12.5% wide), gauge "qlat.max_ns" (reset by a mark). The
 * Envoy histogram bounds (0.5 .. 3600000) are too coarse for microsecond percentiles. */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

enum {
    LINEAR = 16,
    SUB_BITS = 3,
    SUB = 1 << SUB_BITS,
    MAX_EXP = 36,
    N_BUCKETS = LINEAR + (MAX_EXP - 4 + 1) * SUB
};

static uint32_t bucket_metric[N_BUCKETS]; /* 0 until first used */
static uint32_t count_metric, sum_metric, max_metric;
static uint64_t max_ns;

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    char name[128] = "lat";
    char *cfg = NULL;
    size_t len = 0;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    if (cfg && len && len < sizeof name)
        memcpy(name, cfg, len + 1);
    free(cfg);
    uint32_t queue;
    if (pwc_register_queue(name, &queue) != PWC_OK)
        return false;
    pwc_log(PWC_LOG_INFO, "qlat_recv: measuring queue \"%s\" (%u)", name, queue);
    return pwc_define_metric(PWC_COUNTER, "qlat.count", &count_metric) == PWC_OK &&
           pwc_define_metric(PWC_COUNTER, "qlat.sum_ns", &sum_metric) == PWC_OK &&
           pwc_define_metric(PWC_GAUGE, "qlat.max_ns", &max_metric) == PWC_OK;
}

static unsigned bucket_of(uint64_t ns)
{
    if (ns < LINEAR)
        return (unsigned)ns;
    unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 4 */
    if (e > MAX_EXP)
        return N_BUCKETS - 1;
    unsigned sub = (unsigned)(ns >> (e - SUB_BITS)) & (SUB - 1);
    return LINEAR + (e - 4) * SUB + sub;
}

/* Bucket counters are defined the first time a bucket is hit: most are never used. */
static void count_in_bucket(unsigned b)
{
    if (!bucket_metric[b]) {
        char name[32] = "qlat.bucket.";
        size_t o = strlen(name);
        char digits[8];
        int nd = 0;
        unsigned v = b;
        do {
            digits[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (nd)
            name[o++] = digits[--nd];
        name[o] = 0;
        if (pwc_define_metric(PWC_COUNTER, name, &bucket_metric[b]) != PWC_OK)
            return;
    }
    pwc_increment_metric(bucket_metric[b], 1);
}

static void queue_ready(uint32_t root, uint32_t queue)
{
    (void)root;
    char *item = NULL;
    size_t len = 0;
    while (pwc_dequeue(queue, &item, &len) == PWC_OK) {
        __wasi_timestamp_t now = 0;
        bool timed = __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &now) == 0;
        if (len == sizeof(uint64_t) && timed) {
            uint64_t sent;
            memcpy(&sent, item, sizeof sent);
            uint64_t d = now > sent ? now - sent : 0;
            count_in_bucket(bucket_of(d));
            pwc_increment_metric(count_metric, 1);
            if (d) /* counters refuse a 0 increment */
                pwc_increment_metric(sum_metric, (int64_t)d);
            if (d > max_ns) {
                max_ns = d;
                pwc_record_metric(max_metric, max_ns);
            }
        } else if (len == 1 && item[0] == 'R') {
            max_ns = 0;
            pwc_record_metric(max_metric, 0);
        }
        free(item);
        item = NULL;
    }
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_queue_ready = queue_ready,
};
