/* Loading the HTTP connection manager: its limits and timeouts, and the HTTP filter chain
 * (Wasm, the native test filter, the router last); routes are in sl_config_route.c. */
#include "proxy/sl_config_internal.h"

#include <string.h>

/* ---- HTTP filters -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    sl_config_type_t type;
} http_names[] = {
    {"envoy.filters.http.router", SL_TYPE_ROUTER},
    {"envoy.router", SL_TYPE_ROUTER},
    {"envoy.filters.http.wasm", SL_TYPE_HTTP_WASM},
    {"sluice.filters.http.add_header", SL_TYPE_ADD_HEADER},
};

/* Returns SL_OK with *skip set when the filter is optional-and-unknown or disabled. */
static sl_status_t http_filter(sl__ctx_t *c, const sl__node_t *n, sl_http_filter_config_t *out,
                               bool *skip)
{
    static const char *const keys[] = {
        "name", "is_optional", "disabled", "config_discovery", "typed_config", NULL};
    const char *what = "http filter";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    bool optional = false, disabled = false;
    *skip = false;
    out->line = n->line;
    out->add_header_name = "";
    out->add_header_value = "";
    if ((st = sl__str_req(c, n, "name", what, &out->name)) ||
        (st = sl__bool(c, n, "is_optional", what, &optional)) ||
        (st = sl__bool(c, n, "disabled", what, &disabled)) ||
        (st = sl__reject(c, n, "config_discovery", what, "no xDS")))
        return st;
    const sl__node_t *tc = sl__get(n, "typed_config");
    sl_config_type_t type = SL_TYPE_NONE;
    const sl__node_t *msg = NULL;
    if (tc) {
        /* An optional filter of a type sluice does not know is skipped, as Envoy does. */
        if (optional && tc->kind == SL__N_MAP && sl__typed_peek(tc) == SL_TYPE_NONE) {
            *skip = true;
            return sl__warn(c, sl__key(n, "name"), what, "optional filter of unknown type");
        }
        if ((st = sl__typed(c, tc, "typed_config of an http filter", &type, &msg)) != SL_OK)
            return st;
    } else {
        for (size_t i = 0; i < sizeof(http_names) / sizeof(http_names[0]); i++)
            if (strcmp(out->name, http_names[i].name) == 0)
                type = http_names[i].type;
        if (type == SL_TYPE_NONE) {
            if (optional) {
                *skip = true;
                return sl__warn(c, sl__key(n, "name"), what, "optional filter unknown to sluice");
            }
            return sl__fail(c, sl__get(n, "name"), "unknown http filter '%s'", out->name);
        }
        if (!(msg = sl__empty_map(c, n)))
            return sl__nomem(c);
    }
    switch (type) {
    case SL_TYPE_ROUTER: {
        static const char *const unsup[] = {"dynamic_stats",
                                            "start_child_span",
                                            "upstream_log",
                                            "upstream_log_options",
                                            "suppress_envoy_headers",
                                            "strict_check_headers",
                                            "respect_expected_rq_timeout",
                                            "suppress_grpc_request_failure_code_stats",
                                            "upstream_http_filters",
                                            NULL};
        out->kind = SL_HTTP_FILTER_ROUTER;
        st = sl__map_keys(c, msg, "envoy.filters.http.router", NULL, unsup);
        if (st == SL_OK)
            st = sl__map_end(c, msg, "envoy.filters.http.router", unsup);
        break;
    }
    case SL_TYPE_HTTP_WASM: {
        sl_wasm_plugin_config_t *p = sl__arena_alloc(c->arena, sizeof(*p));
        if (!p)
            return sl__nomem(c);
        out->kind = SL_HTTP_FILTER_WASM;
        out->wasm = p;
        static const char *const wkeys[] = {"config", NULL};
        if ((st = sl__map_keys(c, msg, "envoy.filters.http.wasm", wkeys, NULL)) != SL_OK)
            return st;
        const sl__node_t *pc = sl__get(msg, "config");
        if (!pc)
            return sl__fail(c, msg, "envoy.filters.http.wasm needs 'config'");
        if ((st = sl__wasm_plugin(c, pc, "config of envoy.filters.http.wasm", p)) == SL_OK)
            st = sl__map_end(c, msg, "envoy.filters.http.wasm", NULL);
        break;
    }
    case SL_TYPE_ADD_HEADER: {
        const char *aw = "sluice.filters.http.add_header", *h = NULL;
        static const char *const akeys[] = {"header", "value", "response", NULL};
        out->kind = SL_HTTP_FILTER_ADD_HEADER;
        if ((st = sl__map_keys(c, msg, aw, akeys, NULL)) ||
            (st = sl__str_req(c, msg, "header", aw, &h)) ||
            (st = sl__str(c, msg, "value", aw, &out->add_header_value)) ||
            (st = sl__bool(c, msg, "response", aw, &out->add_header_response)))
            return st;
        if (!(out->add_header_name = sl__lower_dup(c, h)))
            return sl__nomem(c);
        st = sl__map_end(c, msg, aw, NULL);
        break;
    }
    default:
        return sl__fail(c, sl__key(n, "typed_config"),
                        "typed_config of http filter '%s' has type %s, which is not an "
                        "http filter",
                        out->name, sl_config_type_name(type));
    }
    if (st != SL_OK)
        return st;
    if (disabled) {
        *skip = true;
        if ((st = sl__warn(c, sl__key(n, "disabled"), what,
                           "the filter is left out (no per-route configuration)")))
            return st;
    }
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t http_filters(sl__ctx_t *c, const sl__node_t *hcm, const sl__node_t *seq,
                                sl_hcm_config_t *out)
{
    sl_status_t st;
    if (!seq || seq->kind != SL__N_SEQ || seq->n == 0) {
        if (seq && (st = sl__want_seq(c, seq, "http_filters", "http_connection_manager")))
            return st;
        return sl__fail(c, seq ? seq : hcm,
                        "http_connection_manager needs 'http_filters' "
                        "ending with envoy.filters.http.router");
    }
    sl_http_filter_config_t *arr = sl__arena_alloc(c->arena, seq->n * sizeof(*arr));
    if (!arr)
        return sl__nomem(c);
    size_t k = 0;
    const sl__node_t *last = NULL;
    for (size_t i = 0; i < seq->n; i++) {
        bool skip;
        if ((st = http_filter(c, seq->items[i], &arr[k], &skip)) != SL_OK)
            return st;
        if (skip)
            continue;
        if (k > 0 && arr[k - 1].kind == SL_HTTP_FILTER_ROUTER)
            return sl__fail(c, seq->items[i],
                            "http filter '%s' comes after the router '%s', "
                            "which must be the last",
                            arr[k].name, arr[k - 1].name);
        last = seq->items[i];
        k++;
    }
    if (k == 0 || arr[k - 1].kind != SL_HTTP_FILTER_ROUTER)
        return sl__fail(c, last ? last : seq,
                        "the last http filter must be "
                        "envoy.filters.http.router");
    out->http_filters = arr;
    out->n_http_filters = k;
    return SL_OK;
}

/* ---- the connection manager ---------------------------------------------------------------- */

static sl_status_t common_options(sl__ctx_t *c, const sl__node_t *n, sl_hcm_config_t *out)
{
    static const char *const unsup[] = {
        "headers_with_underscores_action", "max_stream_duration",     "max_connection_duration",
        "max_requests_per_connection",     "max_response_headers_kb", NULL};
    static const char *const keys[] = {"idle_timeout", "max_headers_count", NULL};
    const char *what = "common_http_protocol_options";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st == SL_OK)
        st = sl__duration_ms(c, n, "idle_timeout", what, &out->idle_timeout_ms);
    if (st == SL_OK)
        st = sl__u32(c, n, "max_headers_count", what, 1, 10000, &out->max_request_headers_count);
    return st ? st : sl__map_end(c, n, what, unsup);
}

sl_status_t sl__hcm(sl__ctx_t *c, const sl__node_t *m, uint64_t buffer_limit, sl_hcm_config_t *out)
{
    static const char *const unsup[] = {"access_log",
                                        "access_log_options",
                                        "tracing",
                                        "normalize_path",
                                        "merge_slashes",
                                        "strip_matching_host_port",
                                        "strip_any_host_port",
                                        "internal_address_config",
                                        "skip_xff_append",
                                        "via",
                                        "forward_client_cert_details",
                                        "set_current_client_cert_details",
                                        "proxy_100_continue",
                                        "represent_ipv4_remote_address_as_ipv4_mapped_ipv6",
                                        "local_reply_config",
                                        "request_id_extension",
                                        "preserve_external_request_id",
                                        "always_set_request_id_in_response",
                                        "path_with_escaped_slashes_action",
                                        "server_header_transformation",
                                        "scheme_header_transformation",
                                        "delayed_close_timeout",
                                        "add_user_agent",
                                        "user_agent",
                                        "stream_error_on_invalid_http_message",
                                        "original_ip_detection_extensions",
                                        "early_header_mutation_extensions",
                                        "strip_trailing_host_dot",
                                        "http_protocol_options",
                                        "http2_protocol_options",
                                        "http3_protocol_options",
                                        "max_request_headers_count",
                                        "typed_header_validation_config",
                                        "append_x_forwarded_port",
                                        "append_local_overload",
                                        "proxy_status_config",
                                        "request_headers_timeout_action",
                                        "generate_request_id_for_response",
                                        NULL};
    static const char *const codecs[] = {"AUTO", "HTTP1", "HTTP2", NULL};
    static const char *const keys[] = {"stat_prefix",
                                       "codec_type",
                                       "request_timeout",
                                       "stream_idle_timeout",
                                       "request_headers_timeout",
                                       "drain_timeout",
                                       "max_request_headers_kb",
                                       "server_name",
                                       "generate_request_id",
                                       "use_remote_address",
                                       "xff_num_trusted_hops",
                                       "rds",
                                       "scoped_routes",
                                       "common_http_protocol_options",
                                       "route_config",
                                       "http_filters",
                                       "upgrade_configs",
                                       NULL};
    const char *what = "http_connection_manager";
    out->line = m->line;
    out->stat_prefix = "";
    out->stream_idle_timeout_ms = SL_CONFIG_STREAM_IDLE_TIMEOUT_MS_DEFAULT;
    out->idle_timeout_ms = SL_CONFIG_HTTP_IDLE_TIMEOUT_MS_DEFAULT;
    out->drain_timeout_ms = SL_CONFIG_DRAIN_TIMEOUT_MS_DEFAULT;
    out->max_request_headers_kb = SL_CONFIG_MAX_REQUEST_HEADERS_KB_DEFAULT;
    out->max_request_headers_count = SL_CONFIG_MAX_REQUEST_HEADERS_COUNT_DEFAULT;
    out->max_request_body_bytes = buffer_limit;
    out->server_name = "envoy";
    out->generate_request_id = true;
    int codec = 0;
    sl_status_t st;
    if ((st = sl__map_keys(c, m, what, keys, unsup)) ||
        (st = sl__str_req(c, m, "stat_prefix", what, &out->stat_prefix)) ||
        (st = sl__enum(c, m, "codec_type", what, codecs, &codec)) ||
        (st = sl__duration_ms(c, m, "request_timeout", what, &out->request_timeout_ms)) ||
        (st = sl__duration_ms(c, m, "stream_idle_timeout", what, &out->stream_idle_timeout_ms)) ||
        (st = sl__duration_ms(c, m, "request_headers_timeout", what,
                              &out->request_headers_timeout_ms)) ||
        (st = sl__duration_ms(c, m, "drain_timeout", what, &out->drain_timeout_ms)) ||
        (st = sl__u32(c, m, "max_request_headers_kb", what, 1, 8192,
                      &out->max_request_headers_kb)) ||
        (st = sl__str(c, m, "server_name", what, &out->server_name)) ||
        (st = sl__bool(c, m, "generate_request_id", what, &out->generate_request_id)) ||
        (st = sl__bool(c, m, "use_remote_address", what, &out->use_remote_address)) ||
        (st = sl__u32(c, m, "xff_num_trusted_hops", what, 0, 64, &out->xff_num_trusted_hops)) ||
        (st = sl__reject(c, m, "rds", what, "no xDS; use route_config")) ||
        (st = sl__reject(c, m, "scoped_routes", what, "no xDS; use route_config")))
        return st;
    out->codec_type = (sl_codec_type_t)codec;
    const sl__node_t *x;
    if ((x = sl__get(m, "common_http_protocol_options")) && (st = common_options(c, x, out)))
        return st;
    if ((x = sl__get(m, "upgrade_configs")) &&
        (st = sl__upgrade_configs(c, x, what, &out->upgrades, &out->n_upgrades)))
        return st;
    if (!(x = sl__get(m, "route_config")))
        return sl__fail(c, m, "http_connection_manager needs 'route_config'");
    if ((st = sl__route_table(c, x, &out->route_config)) != SL_OK)
        return st;
    if ((st = http_filters(c, m, sl__get(m, "http_filters"), out)) != SL_OK)
        return st;
    return sl__map_end(c, m, what, unsup);
}
