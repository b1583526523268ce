/* Example plugin: an HTTP filter that enqueues each request's path on the shared queue of a
 * collector service (path_stats.c); requests pass whether or not the queue exists. */

/* Configuration: "<vm_id> <queue>" (default "collector paths"). */
#include "proxy_wasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char vm_id[128] = "collector", queue_name[128] = "paths";
static uint32_t queue;          /* 0 until resolved */
static uint32_t dropped_metric; /* counter "path_enqueue.dropped" */

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    char *cfg = NULL;
    size_t len = 0;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    if (cfg && sscanf(cfg, "%127s %127s", vm_id, queue_name) != 2) {
        pwc_log(PWC_LOG_ERROR, "path_enqueue: configuration must be \"<vm_id> <queue>\"");
        free(cfg);
        return false;
    }
    free(cfg);
    return pwc_define_metric(PWC_COUNTER, "path_enqueue.dropped", &dropped_metric) == PWC_OK;
}

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)ctx, (void)n, (void)eos;
    /* The collector may start after us (or restart): resolve until it is there. */
    if (!queue && pwc_resolve_queue(vm_id, queue_name, &queue) != PWC_OK) {
        queue = 0;
        pwc_increment_metric(dropped_metric, 1);
        return PWC_CONTINUE;
    }
    char *path = NULL;
    size_t len = 0;
    if (pwc_get_header(PWC_REQUEST_HEADERS, ":path", &path, &len) == PWC_OK &&
        pwc_enqueue(queue, path ? path : "", len) != PWC_OK)
        pwc_increment_metric(dropped_metric, 1); /* full (or gone): counted, not fatal */
    free(path);
    return PWC_CONTINUE;
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_request_headers = request_headers,
};
