/* Loading static_resources.listeners: addresses, the one filter chain and its network
 * filters (http_connection_manager, tcp_proxy, Wasm, byte_count), uniqueness checks. */
#include "proxy/sl_config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- network filters ----------------------------------------------------------------------- */

static const struct {
    const char *name;
    sl_config_type_t type;
} network_names[] = {
    {"envoy.filters.network.http_connection_manager", SL_TYPE_HCM},
    {"envoy.http_connection_manager", SL_TYPE_HCM},
    {"envoy.filters.network.tcp_proxy", SL_TYPE_TCP_PROXY},
    {"envoy.tcp_proxy", SL_TYPE_TCP_PROXY},
    {"envoy.filters.network.wasm", SL_TYPE_NETWORK_WASM},
    {"sluice.filters.network.byte_count", SL_TYPE_BYTE_COUNT},
};

static sl_status_t tcp_proxy(sl__ctx_t *c, const sl__node_t *m, sl_tcp_proxy_config_t *out)
{
    static const char *const unsup[] = {"access_log",
                                        "metadata_match",
                                        "hash_policy",
                                        "access_log_options",
                                        "on_demand",
                                        "max_downstream_connection_duration",
                                        "upstream_connect_mode",
                                        NULL};
    static const char *const keys[] = {"stat_prefix", "weighted_clusters", "tunneling_config",
                                       "cluster",     "idle_timeout",      "max_connect_attempts",
                                       NULL};
    const char *what = "tcp_proxy";
    out->stat_prefix = "";
    out->cluster = "";
    out->idle_timeout_ms = SL_CONFIG_TCP_IDLE_TIMEOUT_MS_DEFAULT;
    out->max_connect_attempts = 1;
    out->line = m->line;
    sl_status_t st = sl__map_keys(c, m, what, keys, unsup);
    if (st == SL_OK)
        st = sl__str_req(c, m, "stat_prefix", what, &out->stat_prefix);
    if (st == SL_OK)
        st = sl__reject(c, m, "weighted_clusters", what, "name one 'cluster'");
    if (st == SL_OK)
        st = sl__reject(c, m, "tunneling_config", what, "no HTTP tunneling");
    if (st == SL_OK)
        st = sl__str_req(c, m, "cluster", what, &out->cluster);
    if (st == SL_OK)
        st = sl__duration_ms(c, m, "idle_timeout", what, &out->idle_timeout_ms);
    if (st == SL_OK)
        st = sl__u32(c, m, "max_connect_attempts", what, 1, 100, &out->max_connect_attempts);
    if (st != SL_OK)
        return st;
    out->cluster_config = sl_config_find_cluster(c->cfg, out->cluster);
    if (!out->cluster_config)
        return sl__fail(c, sl__get(m, "cluster"), "tcp_proxy names unknown cluster '%s'",
                        out->cluster);
    return sl__map_end(c, m, what, unsup);
}

static sl_status_t network_filter(sl__ctx_t *c, const sl__node_t *n, uint64_t buffer_limit,
                                  sl_network_filter_config_t *out)
{
    static const char *const keys[] = {"name", "config_discovery", "typed_config", NULL};
    static const char *const wkeys[] = {"config", NULL};
    static const char *const bkeys[] = {"stat_prefix", NULL};
    const char *what = "network filter";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    out->name = "";
    out->byte_count_stat_prefix = "";
    out->line = n->line;
    if ((st = sl__str(c, n, "name", what, &out->name)) != SL_OK ||
        (st = sl__reject(c, n, "config_discovery", what, "no xDS")) != SL_OK)
        return st;
    const sl__node_t *tc = sl__get(n, "typed_config");
    sl_config_type_t type = SL_TYPE_NONE;
    const sl__node_t *msg = NULL;
    if (tc) {
        if ((st = sl__typed(c, tc, "typed_config of a network filter", &type, &msg)) != SL_OK)
            return st;
    } else {
        for (size_t i = 0; i < sizeof(network_names) / sizeof(network_names[0]); i++)
            if (strcmp(out->name, network_names[i].name) == 0)
                type = network_names[i].type;
        if (type == SL_TYPE_NONE)
            return sl__fail(c, n, "unknown network filter '%s' (and no typed_config)", out->name);
        if (!(msg = sl__empty_map(c, n)))
            return sl__nomem(c);
    }
    switch (type) {
    case SL_TYPE_HCM: {
        sl_hcm_config_t *h = sl__arena_alloc(c->arena, sizeof(*h));
        if (!h)
            return sl__nomem(c);
        out->kind = SL_NETWORK_FILTER_HCM;
        out->hcm = h;
        st = sl__hcm(c, msg, buffer_limit, h);
        break;
    }
    case SL_TYPE_TCP_PROXY: {
        sl_tcp_proxy_config_t *t = sl__arena_alloc(c->arena, sizeof(*t));
        if (!t)
            return sl__nomem(c);
        out->kind = SL_NETWORK_FILTER_TCP_PROXY;
        out->tcp_proxy = t;
        st = tcp_proxy(c, msg, t);
        break;
    }
    case SL_TYPE_NETWORK_WASM: {
        sl_wasm_plugin_config_t *p = sl__arena_alloc(c->arena, sizeof(*p));
        if (!p)
            return sl__nomem(c);
        out->kind = SL_NETWORK_FILTER_WASM;
        out->wasm = p;
        if ((st = sl__map_keys(c, msg, "envoy.filters.network.wasm", wkeys, NULL)) != SL_OK)
            return st;
        const sl__node_t *pc = sl__get(msg, "config");
        if (!pc)
            return sl__fail(c, msg, "envoy.filters.network.wasm needs 'config'");
        st = sl__wasm_plugin(c, pc, "config of envoy.filters.network.wasm", p);
        if (st == SL_OK)
            st = sl__map_end(c, msg, "envoy.filters.network.wasm", NULL);
        break;
    }
    case SL_TYPE_BYTE_COUNT:
        out->kind = SL_NETWORK_FILTER_BYTE_COUNT;
        st = sl__map_keys(c, msg, "sluice.filters.network.byte_count", bkeys, NULL);
        if (st == SL_OK)
            st = sl__str(c, msg, "stat_prefix", "sluice.filters.network.byte_count",
                         &out->byte_count_stat_prefix);
        if (st == SL_OK)
            st = sl__map_end(c, msg, "sluice.filters.network.byte_count", NULL);
        break;
    default:
        return sl__fail(c, sl__key(n, "typed_config"),
                        "typed_config of network filter '%s' has type %s, which is not a "
                        "network filter",
                        out->name, sl_config_type_name(type));
    }
    if (st != SL_OK)
        return st;
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t filter_chain(sl__ctx_t *c, const sl__node_t *n, uint64_t buffer_limit,
                                sl_filter_chain_config_t *out)
{
    static const char *const unsup[] = {"filter_chain_match", "use_proxy_proto", "metadata",
                                        "transport_socket_connect_timeout", NULL};
    static const char *const keys[] = {"name", "transport_socket", "on_demand_configuration",
                                       "filters", NULL};
    const char *what = "filter chain";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    out->name = "";
    out->line = n->line;
    if (st == SL_OK)
        st = sl__str(c, n, "name", what, &out->name);
    if (st == SL_OK)
        st = sl__reject(c, n, "transport_socket", what, "TLS is not implemented");
    if (st == SL_OK)
        st = sl__reject(c, n, "on_demand_configuration", what, "no xDS");
    if (st != SL_OK)
        return st;
    const sl__node_t *fs = sl__get(n, "filters");
    if (!fs)
        return sl__fail(c, n, "filter chain needs 'filters'");
    if ((st = sl__want_seq(c, fs, "filters", what)) != SL_OK)
        return st;
    if (fs->n == 0)
        return sl__fail(c, fs, "'filters' in filter chain must not be empty");
    sl_network_filter_config_t *f = sl__array(c, fs->n, sizeof(*f));
    if (!f)
        return sl__nomem(c);
    for (size_t i = 0; i < fs->n; i++) {
        if ((st = network_filter(c, fs->items[i], buffer_limit, &f[i])) != SL_OK)
            return st;
        bool terminal =
            f[i].kind == SL_NETWORK_FILTER_HCM || f[i].kind == SL_NETWORK_FILTER_TCP_PROXY;
        if (terminal && i + 1 != fs->n)
            return sl__fail(c, fs->items[i + 1],
                            "a network filter comes after the terminal "
                            "filter '%s' (which must be the last)",
                            f[i].name);
        if (!terminal && i + 1 == fs->n)
            return sl__fail(c, fs->items[i],
                            "the last network filter must be "
                            "http_connection_manager or tcp_proxy, not '%s'",
                            f[i].name);
    }
    out->filters = f;
    out->n_filters = fs->n;
    return sl__map_end(c, n, what, unsup);
}

/* ---- listeners ----------------------------------------------------------------------------- */

static sl_status_t listener(sl__ctx_t *c, const sl__node_t *n, size_t index,
                            sl_listener_config_t *out)
{
    static const char *const unsup[] = {"listener_filters",
                                        "listener_filters_timeout",
                                        "continue_on_listener_filters_timeout",
                                        "socket_options",
                                        "connection_balance_config",
                                        "access_log",
                                        "drain_type",
                                        "transparent",
                                        "freebind",
                                        "metadata",
                                        "use_original_dst",
                                        "bind_to_port",
                                        "ignore_global_conn_limit",
                                        "max_connections_to_accept_per_socket_event",
                                        "additional_addresses",
                                        "tcp_fast_open_queue_length",
                                        "enable_mptcp",
                                        NULL};
    static const char *const directions[] = {"UNSPECIFIED", "INBOUND", "OUTBOUND", NULL};
    static const char *const keys[] = {"name",
                                       "stat_prefix",
                                       "per_connection_buffer_limit_bytes",
                                       "traffic_direction",
                                       "enable_reuse_port",
                                       "tcp_backlog_size",
                                       "default_filter_chain",
                                       "filter_chain_matcher",
                                       "udp_listener_config",
                                       "api_listener",
                                       "internal_listener",
                                       "reuse_port",
                                       "address",
                                       "filter_chains",
                                       NULL};
    const char *what = "listener";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    out->line = n->line;
    out->name = NULL;
    out->stat_prefix = "";
    out->per_connection_buffer_limit_bytes = SL_CONFIG_BUFFER_LIMIT_BYTES_DEFAULT;
    out->enable_reuse_port = true;
    int dir = 0;
    if ((st = sl__str(c, n, "name", what, &out->name)) != SL_OK ||
        (st = sl__str(c, n, "stat_prefix", what, &out->stat_prefix)) != SL_OK ||
        (st = sl__u64(c, n, "per_connection_buffer_limit_bytes", what, 1, UINT32_MAX,
                      &out->per_connection_buffer_limit_bytes)) != SL_OK ||
        (st = sl__enum(c, n, "traffic_direction", what, directions, &dir)) != SL_OK ||
        (st = sl__bool(c, n, "enable_reuse_port", what, &out->enable_reuse_port)) != SL_OK ||
        (st = sl__u32(c, n, "tcp_backlog_size", what, 1, 65535, &out->tcp_backlog_size)) != SL_OK)
        return st;
    static const char *const rejected[][2] = {
        {"default_filter_chain", "put the chain under filter_chains"},
        {"filter_chain_matcher", "one filter chain per listener"},
        {"udp_listener_config", "TCP only"},
        {"api_listener", "TCP only"},
        {"internal_listener", "TCP only"},
        {"reuse_port", "use enable_reuse_port"},
    };
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++)
        if ((st = sl__reject(c, n, rejected[i][0], what, rejected[i][1])) != SL_OK)
            return st;
    out->traffic_direction = (sl_traffic_direction_t)dir;
    if (!out->name) {
        char buf[32];
        snprintf(buf, sizeof(buf), "listener_%zu", index);
        if (!(out->name = sl__arena_strndup(c->arena, buf, strlen(buf))))
            return sl__nomem(c);
    }
    const sl__node_t *a = sl__get(n, "address");
    if (!a)
        return sl__fail(c, n, "listener '%s' needs 'address'", out->name);
    if ((st = sl__address(c, a, "listener", true, true, &out->address)) != SL_OK)
        return st;
    const sl__node_t *fcs = sl__get(n, "filter_chains");
    if (!fcs)
        return sl__fail(c, n, "listener '%s' needs 'filter_chains'", out->name);
    if ((st = sl__want_seq(c, fcs, "filter_chains", what)) != SL_OK)
        return st;
    if (fcs->n != 1)
        return sl__fail(c, fcs,
                        "listener '%s' has %zu filter chains; sluice supports exactly "
                        "one (no filter_chain_match)",
                        out->name, fcs->n);
    sl_filter_chain_config_t *fc = sl__array(c, 1, sizeof(*fc));
    if (!fc)
        return sl__nomem(c);
    if ((st = filter_chain(c, fcs->items[0], out->per_connection_buffer_limit_bytes, fc)) != SL_OK)
        return st;
    out->filter_chains = fc;
    out->n_filter_chains = 1;
    return sl__map_end(c, n, what, unsup);
}

static int listener_name_cmp(const void *a, const void *b)
{
    const sl_listener_config_t *x = *(const sl_listener_config_t *const *)a;
    const sl_listener_config_t *y = *(const sl_listener_config_t *const *)b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x > y) - (x < y); /* same name: keep written order */
}

static int listener_addr_cmp(const void *a, const void *b)
{
    const sl_listener_config_t *x = *(const sl_listener_config_t *const *)a;
    const sl_listener_config_t *y = *(const sl_listener_config_t *const *)b;
    int r = strcmp(x->address.address, y->address.address);
    if (r)
        return r;
    if (x->address.port != y->address.port)
        return x->address.port < y->address.port ? -1 : 1;
    return (x > y) - (x < y);
}

/* Unique names, and no two listeners on one address and non-zero port; sorting keeps this
 * O(n log n) however many listeners there are. */
static sl_status_t listeners_unique(sl__ctx_t *c, const sl__node_t *seq,
                                    const sl_listener_config_t *arr)
{
    size_t n = seq->n;
    const sl_listener_config_t **v = malloc(n * sizeof(*v));
    if (!v)
        return sl__nomem(c);
    for (size_t i = 0; i < n; i++)
        v[i] = &arr[i];
    sl_status_t st = SL_OK;
    qsort(v, n, sizeof(*v), listener_name_cmp);
    for (size_t i = 1; i < n && st == SL_OK; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0)
            st = sl__fail(c, seq->items[v[i] - arr],
                          "duplicate listener name '%s' (first at "
                          "line %u)",
                          v[i]->name, v[i - 1]->line);
    qsort(v, n, sizeof(*v), listener_addr_cmp);
    for (size_t i = 1; i < n && st == SL_OK; i++) {
        const sl_listener_config_t *a = v[i - 1], *b = v[i];
        if (b->address.port != 0 && a->address.port == b->address.port &&
            strcmp(a->address.address, b->address.address) == 0)
            st = sl__fail(c, seq->items[b - arr],
                          "listener '%s' binds %s:%u like listener "
                          "'%s' (line %u)",
                          b->name, b->address.address, b->address.port, a->name, a->line);
    }
    free(v);
    return st;
}

sl_status_t sl__listeners(sl__ctx_t *c, const sl__node_t *seq)
{
    sl_status_t st = sl__want_seq(c, seq, "listeners", "static_resources");
    if (st != SL_OK)
        return st;
    sl_listener_config_t *arr = sl__array(c, seq->n, sizeof(*arr));
    if (seq->n && !arr)
        return sl__nomem(c);
    for (size_t i = 0; i < seq->n; i++) {
        if ((st = listener(c, seq->items[i], i, &arr[i])) != SL_OK)
            return st;
        arr[i].index = (uint32_t)i;
    }
    if (seq->n > 1 && (st = listeners_unique(c, seq, arr)) != SL_OK)
        return st;
    c->cfg->listeners = arr;
    c->cfg->n_listeners = seq->n;
    return SL_OK;
}
