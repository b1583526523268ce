/* Example plugin: counts requests across every worker in shared data (CAS retry loop), stamps
 * the count as "x-request-count" on request and response, and counts them in a metric. */

/* Configuration: the shared-data key (default "requests"). */
#include "proxy_wasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_RETRIES = 64 };

static char key[128] = "requests";
static uint32_t retries_metric; /* counter "shared_counter.cas_retries" */
static uint32_t counted_metric; /* counter "shared_counter.requests": one per increment won */

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    char *cfg = NULL;
    size_t len = 0;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    if (cfg && len && len < sizeof key)
        memcpy(key, cfg, len + 1);
    free(cfg);
    /* The key is made here, not by the first request. A set with cas 0 is unconditional (as
     * in Envoy), so two workers that both found no key would both write "1". The plugin is
     * configured once on the main thread before any worker starts, so this write comes before
     * any count; a worker's replica finds the key and leaves it alone. */
    char *v = NULL;
    size_t l = 0;
    uint32_t cas = 0;
    pwc_result_t r = pwc_get_shared_data(key, &v, &l, &cas);
    free(v);
    if (r == PWC_NOT_FOUND)
        r = pwc_set_shared_data(key, "0", 1, 0);
    if (r != PWC_OK)
        return false;
    return pwc_define_metric(PWC_COUNTER, "shared_counter.cas_retries", &retries_metric) ==
               PWC_OK &&
           pwc_define_metric(PWC_COUNTER, "shared_counter.requests", &counted_metric) == PWC_OK;
}

/* Read, add one, write back with the version read; someone else won -> read again. */
static long long increment(void)
{
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        char *v = NULL;
        size_t l = 0;
        uint32_t cas = 0;
        pwc_result_t r = pwc_get_shared_data(key, &v, &l, &cas);
        long long n = r == PWC_OK && v ? atoll(v) : 0;
        free(v);
        if (r != PWC_OK)
            return -1; /* configure made the key: a missing one is an error here */
        char buf[24];
        int bl = snprintf(buf, sizeof buf, "%lld", n + 1);
        r = pwc_set_shared_data(key, buf, (size_t)bl, cas);
        if (r == PWC_OK) {
            pwc_increment_metric(counted_metric, 1); /* admin: wasmcustom.shared_counter.requests */
            return n + 1;
        }
        if (r != PWC_CAS_MISMATCH)
            return -1;
        pwc_increment_metric(retries_metric, 1);
    }
    pwc_log(PWC_LOG_WARN, "shared_counter: gave up after %d CAS retries", MAX_RETRIES);
    return -1;
}

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    long long count = increment();
    if (count < 0)
        return PWC_CONTINUE;
    long long *mine = malloc(sizeof *mine);
    if (mine) {
        *mine = count;
        pwc_set_data(ctx, mine);
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", count);
    pwc_replace_header(PWC_REQUEST_HEADERS, "x-request-count", buf);
    return PWC_CONTINUE;
}

static pwc_action_t response_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    long long *mine = pwc_data(ctx);
    if (mine) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", *mine);
        pwc_replace_header(PWC_RESPONSE_HEADERS, "x-request-count", buf);
    }
    return PWC_CONTINUE;
}

static void delete_ctx(uint32_t ctx)
{
    free(pwc_data(ctx));
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_request_headers = request_headers,
    .on_response_headers = response_headers,
    .on_delete = delete_ctx,
};
