/* libFuzzer target for the configuration loader: any bytes given to sl_config_load_string
 * must end in a configuration or an error with a message, never a crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_config.h"

/* Reads every part of a loaded configuration so that ASan sees any dangling pointer. */
static size_t touch(const sl_config_t *cfg)
{
    size_t sum = strlen(cfg->node_id) + strlen(cfg->admin.address.address);
    for (size_t i = 0; i < cfg->n_clusters; i++) {
        const sl_cluster_config_t *c = &cfg->clusters[i];
        sum += strlen(c->name);
        for (size_t j = 0; j < c->n_endpoints; j++)
            sum += strlen(c->endpoints[j].address.address) + strlen(c->endpoints[j].hostname);
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const sl_listener_config_t *l = &cfg->listeners[i];
        sum += strlen(l->name);
        for (size_t f = 0; f < l->filter_chains[0].n_filters; f++) {
            const sl_network_filter_config_t *nf = &l->filter_chains[0].filters[f];
            if (nf->hcm) {
                const sl_route_table_config_t *rt = &nf->hcm->route_config;
                for (size_t v = 0; v < rt->n_vhosts; v++)
                    for (size_t r = 0; r < rt->vhosts[v].n_routes; r++) {
                        const sl_route_config_t *ro = &rt->vhosts[v].routes[r];
                        sum += strlen(ro->match_value) + ro->body.len;
                        if (ro->cluster_config)
                            sum += strlen(ro->cluster_config->name);
                    }
                for (size_t h = 0; h < nf->hcm->n_http_filters; h++)
                    if (nf->hcm->http_filters[h].wasm)
                        sum += nf->hcm->http_filters[h].wasm->configuration.len;
            }
            if (nf->tcp_proxy)
                sum += strlen(nf->tcp_proxy->cluster_config->name);
        }
    }
    for (size_t i = 0; i < cfg->n_wasm_services; i++)
        sum += cfg->wasm_services[i].plugin.vm.code.inline_code.len;
    for (size_t i = 0; i < cfg->n_warnings; i++)
        sum += strlen(cfg->warnings[i].message);
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_config_t *cfg = NULL;
    sl_config_error_t err;
    sl_status_t st = sl_config_load_string((const char *)data, size, "fuzz", &cfg, &err);
    if (st == SL_OK) {
        volatile size_t sink = touch(cfg);
        (void)sink;
        sl_config_free(cfg);
    } else if (cfg != NULL || err.status != st || err.message[0] == '\0' ||
               memchr(err.message, '\0', sizeof(err.message)) == NULL) {
        abort(); /* an error must come with its message and no configuration */
    }
    return 0;
}
