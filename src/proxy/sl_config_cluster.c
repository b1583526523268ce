/* Loading static_resources.clusters: type, balancing, timeouts, endpoints flattened from
 * load_assignment, circuit breakers; names are unique and indexed for lookups. */
#include "proxy/sl_config_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- clusters ------------------------------------------------------------------------------ */

static sl_status_t circuit_breakers(sl__ctx_t *c, const sl__node_t *n,
                                    sl_circuit_breakers_config_t *out)
{
    static const char *const unsup[] = {"per_host_thresholds", NULL};
    static const char *const th_unsup[] = {"retry_budget", "track_remaining",
                                           "max_connection_pools", NULL};
    static const char *const prios[] = {"DEFAULT", "HIGH", NULL};
    static const char *const keys[] = {"thresholds", NULL};
    static const char *const th_keys[] = {"priority",     "max_connections", "max_pending_requests",
                                          "max_requests", "max_retries",     NULL};
    const char *what = "circuit_breakers";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    const sl__node_t *ths = sl__get(n, "thresholds");
    if (ths && (st = sl__want_seq(c, ths, "thresholds", what)) != SL_OK)
        return st;
    for (size_t i = 0; ths && i < ths->n; i++) {
        const sl__node_t *t = ths->items[i];
        const char *tw = "circuit_breakers threshold";
        int prio = 0;
        if ((st = sl__map_open(c, t, tw, th_keys, th_unsup)) != SL_OK ||
            (st = sl__enum(c, t, "priority", tw, prios, &prio)) != SL_OK)
            return st;
        sl_circuit_breakers_config_t tmp = *out;
        if ((st = sl__u32(c, t, "max_connections", tw, 0, UINT32_MAX, &tmp.max_connections)) ||
            (st = sl__u32(c, t, "max_pending_requests", tw, 0, UINT32_MAX,
                          &tmp.max_pending_requests)) ||
            (st = sl__u32(c, t, "max_requests", tw, 0, UINT32_MAX, &tmp.max_requests)) ||
            (st = sl__u32(c, t, "max_retries", tw, 0, UINT32_MAX, &tmp.max_retries)) ||
            (st = sl__map_end(c, t, tw, th_unsup)))
            return st;
        if (prio == 0) {
            *out = tmp;
        } else if ((st = sl__warn(c, sl__key(t, "priority"), tw,
                                  "HIGH priority thresholds do not apply (no routing "
                                  "priorities)")) != SL_OK) {
            return st;
        }
    }
    return sl__map_end(c, n, what, unsup);
}

static sl_status_t lb_endpoint(sl__ctx_t *c, const sl__node_t *n, bool need_ip,
                               sl_endpoint_config_t *out)
{
    static const char *const unsup[] = {"health_status", "metadata", NULL};
    static const char *const ep_unsup[] = {"health_check_config", "additional_addresses", NULL};
    static const char *const keys[] = {"load_balancing_weight", "endpoint_name", "endpoint", NULL};
    static const char *const ep_keys[] = {"hostname", "address", NULL};
    const char *what = "lb_endpoint";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    out->hostname = "";
    out->weight = 1;
    out->line = n->line;
    if ((st = sl__u32(c, n, "load_balancing_weight", what, 1, UINT32_MAX, &out->weight)) ||
        (st = sl__reject(c, n, "endpoint_name", what, "no named endpoints")))
        return st;
    const sl__node_t *ep = sl__get(n, "endpoint");
    if (!ep)
        return sl__fail(c, n, "lb_endpoint needs 'endpoint'");
    if ((st = sl__map_open(c, ep, "endpoint", ep_keys, ep_unsup)) ||
        (st = sl__str(c, ep, "hostname", "endpoint", &out->hostname)))
        return st;
    const sl__node_t *a = sl__get(ep, "address");
    if (!a)
        return sl__fail(c, ep, "endpoint needs 'address'");
    if ((st = sl__address(c, a, "endpoint", need_ip, false, &out->address)) ||
        (st = sl__map_end(c, ep, "endpoint", ep_unsup)))
        return st;
    return sl__map_end(c, n, what, unsup);
}

static sl_status_t load_assignment(sl__ctx_t *c, const sl__node_t *n, bool need_ip,
                                   sl_cluster_config_t *out)
{
    static const char *const unsup[] = {"policy", "named_endpoints", NULL};
    static const char *const loc_unsup[] = {"locality",  "load_balancing_weight",        "metadata",
                                            "proximity", "leds_cluster_locality_config", NULL};
    static const char *const keys[] = {"cluster_name", "endpoints", NULL};
    static const char *const loc_keys[] = {"lb_endpoints", "priority", NULL};
    const char *what = "load_assignment";
    const char *name = "";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st == SL_OK)
        st = sl__str(c, n, "cluster_name", what, &name);
    if (st != SL_OK)
        return st;
    const sl__node_t *eps = sl__get(n, "endpoints");
    if (eps && (st = sl__want_seq(c, eps, "endpoints", what)) != SL_OK)
        return st;
    /* Count first so the flattened array is allocated once. */
    size_t total = 0;
    for (size_t i = 0; eps && i < eps->n; i++) {
        const sl__node_t *loc = eps->items[i], *lbs;
        if ((st = sl__map_open(c, loc, "locality_lb_endpoints", loc_keys, loc_unsup)) != SL_OK)
            return st;
        if ((lbs = sl__get(loc, "lb_endpoints")) &&
            (st = sl__want_seq(c, lbs, "lb_endpoints", "locality_lb_endpoints")) != SL_OK)
            return st;
        total += lbs ? lbs->n : 0;
    }
    sl_endpoint_config_t *arr = sl__array(c, total, sizeof(*arr));
    if (total && !arr)
        return sl__nomem(c);
    size_t k = 0;
    for (size_t i = 0; eps && i < eps->n; i++) {
        const sl__node_t *loc = eps->items[i];
        const char *lw = "locality_lb_endpoints";
        const sl__node_t *lbs = sl__get(loc, "lb_endpoints");
        uint32_t prio = 0;
        if ((st = sl__u32(c, loc, "priority", lw, 0, 0, &prio)) != SL_OK)
            return st;
        for (size_t j = 0; lbs && j < lbs->n; j++)
            if ((st = lb_endpoint(c, lbs->items[j], need_ip, &arr[k++])) != SL_OK)
                return st;
        if ((st = sl__map_end(c, loc, lw, loc_unsup)) != SL_OK)
            return st;
    }
    out->endpoints = arr;
    out->n_endpoints = total;
    return sl__map_end(c, n, what, unsup);
}

static sl_status_t cluster(sl__ctx_t *c, const sl__node_t *n, sl_cluster_config_t *out)
{
    static const char *const unsup[] = {"dns_lookup_family",
                                        "respect_dns_ttl",
                                        "health_checks",
                                        "outlier_detection",
                                        "common_lb_config",
                                        "typed_extension_protocol_options",
                                        "http2_protocol_options",
                                        "http_protocol_options",
                                        "common_http_protocol_options",
                                        "upstream_http_protocol_options",
                                        "upstream_connection_options",
                                        "cleanup_interval",
                                        "dns_resolvers",
                                        "use_tcp_for_dns_lookups",
                                        "dns_resolution_config",
                                        "typed_dns_resolver_config",
                                        "alt_stat_name",
                                        "track_timeout_budgets",
                                        "track_cluster_stats",
                                        "upstream_bind_config",
                                        "close_connections_on_host_health_failure",
                                        "ignore_health_on_host_removal",
                                        "metadata",
                                        "protocol_selection",
                                        "wait_for_warm_on_init",
                                        "preconnect_policy",
                                        "connection_pool_per_downstream_connection",
                                        "lb_subset_config",
                                        "round_robin_lb_config",
                                        "ring_hash_lb_config",
                                        "maglev_lb_config",
                                        "original_dst_lb_config",
                                        "dns_failure_refresh_rate",
                                        "dns_jitter",
                                        "filters",
                                        "load_balancing_policy",
                                        "upstream_config",
                                        NULL};
    static const char *const types[] = {"STATIC", "STRICT_DNS", "LOGICAL_DNS", NULL};
    static const char *const lbs[] = {"ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", NULL};
    static const char *const keys[] = {"name",
                                       "type",
                                       "connect_timeout",
                                       "lb_policy",
                                       "per_connection_buffer_limit_bytes",
                                       "dns_refresh_rate",
                                       "max_requests_per_connection",
                                       "transport_socket",
                                       "transport_socket_matches",
                                       "hosts",
                                       "eds_cluster_config",
                                       "cluster_type",
                                       "least_request_lb_config",
                                       "circuit_breakers",
                                       "load_assignment",
                                       NULL};
    const char *what = "cluster";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    out->line = n->line;
    out->connect_timeout_ms = SL_CONFIG_CONNECT_TIMEOUT_MS_DEFAULT;
    out->least_request_choice_count = 2;
    out->circuit_breakers.max_connections = SL_CONFIG_CB_DEFAULT;
    out->circuit_breakers.max_pending_requests = SL_CONFIG_CB_DEFAULT;
    out->circuit_breakers.max_requests = SL_CONFIG_CB_DEFAULT;
    out->circuit_breakers.max_retries = SL_CONFIG_CB_RETRIES_DEFAULT;
    out->per_connection_buffer_limit_bytes = SL_CONFIG_BUFFER_LIMIT_BYTES_DEFAULT;
    out->dns_refresh_rate_ms = SL_CONFIG_DNS_REFRESH_MS_DEFAULT;
    int type = 0, lb = 0;
    if ((st = sl__str_req(c, n, "name", what, &out->name)) ||
        (st = sl__enum(c, n, "type", what, types, &type)) ||
        (st = sl__duration_ms(c, n, "connect_timeout", what, &out->connect_timeout_ms)) ||
        (st = sl__enum(c, n, "lb_policy", what, lbs, &lb)) ||
        (st = sl__u64(c, n, "per_connection_buffer_limit_bytes", what, 1, UINT32_MAX,
                      &out->per_connection_buffer_limit_bytes)) ||
        (st = sl__duration_ms(c, n, "dns_refresh_rate", what, &out->dns_refresh_rate_ms)) ||
        (st = sl__u32(c, n, "max_requests_per_connection", what, 0, UINT32_MAX,
                      &out->max_requests_per_connection)))
        return st;
    static const char *const rejected[][2] = {
        {"transport_socket", "TLS is not implemented"},
        {"transport_socket_matches", "TLS is not implemented"},
        {"hosts", "use load_assignment"},
        {"eds_cluster_config", "no xDS"},
        {"cluster_type", "no custom cluster types"},
    };
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++)
        if ((st = sl__reject(c, n, rejected[i][0], what, rejected[i][1])) != SL_OK)
            return st;
    out->type = (sl_cluster_type_t)type;
    out->lb_policy = (sl_lb_policy_t)lb;
    if (out->connect_timeout_ms == 0)
        return sl__fail(c, sl__get(n, "connect_timeout"),
                        "'connect_timeout' in cluster '%s' "
                        "must be greater than 0",
                        out->name);
    const sl__node_t *lr = sl__get(n, "least_request_lb_config");
    if (lr) {
        static const char *const lr_unsup[] = {"active_request_bias", "slow_start_config",
                                               "selection_method", NULL};
        static const char *const lr_keys[] = {"choice_count", NULL};
        if ((st = sl__map_open(c, lr, "least_request_lb_config", lr_keys, lr_unsup)) ||
            (st = sl__u32(c, lr, "choice_count", "least_request_lb_config", 2, 100,
                          &out->least_request_choice_count)) ||
            (st = sl__map_end(c, lr, "least_request_lb_config", lr_unsup)))
            return st;
    }
    const sl__node_t *cb = sl__get(n, "circuit_breakers");
    if (cb && (st = circuit_breakers(c, cb, &out->circuit_breakers)) != SL_OK)
        return st;
    const sl__node_t *la = sl__get(n, "load_assignment");
    if (la && (st = load_assignment(c, la, out->type == SL_CLUSTER_STATIC, out)) != SL_OK)
        return st;
    if (out->type == SL_CLUSTER_LOGICAL_DNS && out->n_endpoints != 1)
        return sl__fail(c, la ? sl__key(n, "load_assignment") : n,
                        "LOGICAL_DNS cluster '%s' must have exactly one "
                        "endpoint, has %zu",
                        out->name, out->n_endpoints);
    return sl__map_end(c, n, what, unsup);
}

static int cluster_cmp(const void *a, const void *b)
{
    const sl_cluster_config_t *x = *(const sl_cluster_config_t *const *)a;
    const sl_cluster_config_t *y = *(const sl_cluster_config_t *const *)b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->index > y->index) - (x->index < y->index);
}

sl_status_t sl__clusters(sl__ctx_t *c, const sl__node_t *seq)
{
    sl_status_t st = sl__want_seq(c, seq, "clusters", "static_resources");
    if (st != SL_OK)
        return st;
    sl_cluster_config_t *arr = sl__array(c, seq->n, sizeof(*arr));
    const sl_cluster_config_t **idx = sl__array(c, seq->n, sizeof(*idx));
    if (seq->n && (!arr || !idx))
        return sl__nomem(c);
    for (size_t i = 0; i < seq->n; i++) {
        if ((st = cluster(c, seq->items[i], &arr[i])) != SL_OK)
            return st;
        arr[i].index = (uint32_t)i;
        idx[i] = &arr[i];
    }
    /* Sorted by name (then position): duplicates become neighbours, lookups binary. */
    if (seq->n > 1)
        qsort(idx, seq->n, sizeof(*idx), cluster_cmp);
    for (size_t i = 1; i < seq->n; i++)
        if (strcmp(idx[i - 1]->name, idx[i]->name) == 0)
            return sl__fail(c, sl__get(seq->items[idx[i]->index], "name"),
                            "duplicate cluster "
                            "name '%s' (first at line %u)",
                            idx[i]->name, idx[i - 1]->line);
    c->cfg->clusters = arr;
    c->cfg->n_clusters = seq->n;
    c->cfg->priv_->clusters_by_name = idx;
    return SL_OK;
}
