/* Benchmark plugin: an HTTP filter that enqueues, for each request, its send time (WASI
 * monotonic clock) on the shared queue of the qlat_recv.c service, which measures the delay. */

/* Configuration: "<vm_id> <queue>" (default "qlat lat"). A request carrying the header
 * x-qlat-reset enqueues a reset mark instead, so the receiver's maximum starts again. */
#include "proxy_wasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

static char vm_id[128] = "qlat", queue_name[128] = "lat";
static uint32_t queue;          /* 0 until resolved */
static uint32_t dropped_metric; /* counter "qlat.dropped": not resolved yet, or queue full */

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    char *cfg = NULL;
    size_t len = 0;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    if (cfg && sscanf(cfg, "%127s %127s", vm_id, queue_name) != 2) {
        pwc_log(PWC_LOG_ERROR, "qlat_send: configuration must be \"<vm_id> <queue>\"");
        free(cfg);
        return false;
    }
    free(cfg);
    return pwc_define_metric(PWC_COUNTER, "qlat.dropped", &dropped_metric) == PWC_OK;
}

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)ctx, (void)n, (void)eos;
    if (!queue && pwc_resolve_queue(vm_id, queue_name, &queue) != PWC_OK) {
        queue = 0;
        pwc_increment_metric(dropped_metric, 1);
        return PWC_CONTINUE;
    }
    char *reset = NULL;
    size_t rl = 0;
    bool is_reset =
        pwc_get_header(PWC_REQUEST_HEADERS, "x-qlat-reset", &reset, &rl) == PWC_OK && reset;
    free(reset);
    pwc_result_t r;
    if (is_reset) {
        r = pwc_enqueue(queue, "R", 1);
    } else {
        /* The clock is read last so the figure is the queue's alone, not the header lookup. */
        __wasi_timestamp_t t = 0;
        if (__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t) != 0)
            return PWC_CONTINUE;
        uint64_t sent = t;
        r = pwc_enqueue(queue, &sent, sizeof sent);
    }
    if (r != PWC_OK)
        pwc_increment_metric(dropped_metric, 1);
    return PWC_CONTINUE;
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_request_headers = request_headers,
};
