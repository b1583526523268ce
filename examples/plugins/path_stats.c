/* Example plugin: a singleton service (envoy.bootstrap.wasm) draining the shared queue "paths"
 * on proxy_on_queue_ready into per-path counter metrics. */

/* Configuration: the queue name. Metrics: "path_stats.requests.<path>" (characters outside
 * [A-Za-z0-9_-] become '_') and "path_stats.items" for every item seen. */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_PATHS = 1024, NAME_MAX_BYTES = 200 };

typedef struct path_metric {
    char *path;   /* owned */
    uint32_t id;  /* counter id */
} path_metric_t;

static path_metric_t paths[MAX_PATHS];
static size_t n_paths;
static uint32_t items_metric, other_metric;

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    char name[128] = "paths";
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
    pwc_log(PWC_LOG_INFO, "path_stats: collecting from queue \"%s\" (%u)", name, queue);
    return pwc_define_metric(PWC_COUNTER, "path_stats.items", &items_metric) == PWC_OK &&
           pwc_define_metric(PWC_COUNTER, "path_stats.requests.other", &other_metric) ==
               PWC_OK;
}

/* The counter for a path: defined once, then looked up here (past MAX_PATHS distinct paths
 * everything else goes to "other", which bounds the number of metrics). */
static uint32_t metric_for(const char *path, size_t len)
{
    for (size_t i = 0; i < n_paths; i++)
        if (strcmp(paths[i].path, path) == 0)
            return paths[i].id;
    if (n_paths == MAX_PATHS)
        return other_metric;
    char name[NAME_MAX_BYTES + 32] = "path_stats.requests.";
    size_t o = strlen(name);
    for (size_t i = 0; i < len && i < NAME_MAX_BYTES; i++) {
        char c = path[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
        name[o++] = keep ? c : '_';
    }
    name[o] = 0;
    uint32_t id;
    char *copy = strdup(path);
    if (!copy || pwc_define_metric(PWC_COUNTER, name, &id) != PWC_OK) {
        free(copy);
        return other_metric;
    }
    paths[n_paths++] = (path_metric_t){copy, id};
    return id;
}

static void queue_ready(uint32_t root, uint32_t queue)
{
    (void)root;
    char *item = NULL;
    size_t len = 0;
    while (pwc_dequeue(queue, &item, &len) == PWC_OK) {
        pwc_increment_metric(items_metric, 1);
        pwc_increment_metric(metric_for(item ? item : "", len), 1);
        free(item);
        item = NULL;
    }
}

static bool root_done(uint32_t root)
{
    (void)root;
    for (size_t i = 0; i < n_paths; i++)
        free(paths[i].path);
    n_paths = 0;
    return true;
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_queue_ready = queue_ready,
    .on_root_done = root_done,
};
