/* Example plugin: a Wasm service whose root context probes a cluster with an HTTP callout on
 * every tick and counts the answers by class in metrics (wasmcustom.service_probe.*). */

/* Configuration: "<cluster> <period_ms>" (default "probe 200"). Metrics: service_probe.ok (a
 * 2xx answer), service_probe.bad (another status, including Envoy's local 503/504 for an
 * unreachable or slow upstream), service_probe.failed (no answer: reset). */
#include "proxy_wasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char cluster[128] = "probe";
static uint32_t root_id, ok_metric, bad_metric, failed_metric;

static bool configure(uint32_t root, size_t size)
{
    char *cfg = NULL;
    size_t len = 0;
    unsigned period = 200;
    root_id = root;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    if (cfg && len)
        sscanf(cfg, "%127s %u", cluster, &period);
    free(cfg);
    return pwc_define_metric(PWC_COUNTER, "service_probe.ok", &ok_metric) == PWC_OK &&
           pwc_define_metric(PWC_COUNTER, "service_probe.bad", &bad_metric) == PWC_OK &&
           pwc_define_metric(PWC_COUNTER, "service_probe.failed", &failed_metric) == PWC_OK &&
           pwc_set_tick_period_ms(period ? period : 200) == PWC_OK;
}

static void tick(uint32_t root)
{
    pwc_header_t h[] = {
        {":method", "GET", 7, 3},
        {":path", "/probe", 5, 6},
        {":authority", cluster, 10, strlen(cluster)},
    };
    if (pwc_http_call(root, cluster, h, 3, NULL, 0, NULL, 0, 1000, NULL) != PWC_OK)
        pwc_increment_metric(failed_metric, 1);
}

static void answer(uint32_t ctx, uint32_t token, uint32_t n_headers, size_t body,
                   uint32_t n_trailers)
{
    (void)ctx, (void)token, (void)body, (void)n_trailers;
    if (n_headers == 0) {
        pwc_increment_metric(failed_metric, 1);
        return;
    }
    char *status = NULL;
    size_t sl = 0;
    pwc_get_header(PWC_HTTP_CALL_RESPONSE_HEADERS, ":status", &status, &sl);
    int code = status ? atoi(status) : 0;
    free(status);
    pwc_increment_metric(code >= 200 && code < 300 ? ok_metric : bad_metric, 1);
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_tick = tick,
    .on_http_call_response = answer,
};
