/* Unit tests for the configuration loader: the seed and reference examples load as written,
 * every field lands where it should, and every error names its key and YAML line. */
#include "proxy/sl_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../t.h"

/* Under ASan the leak checker runs after each error load: failed loads must free
 * everything they allocated (the forked cases end with _exit, which skips the exit check). */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
static void leak_check(void)
{
    if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check())
        t_fail(__FILE__, __LINE__, "memory leaked (see the report above)");
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* A minimal valid bootstrap; the markers are replaced by test text (or removed). */
static const char *const BASE =
    "static_resources:\n"
    "  clusters:\n"
    "  - name: backend\n"
    "    connect_timeout: 0.25s\n"
    "@CLUSTER@"
    "    load_assignment:\n"
    "      cluster_name: backend\n"
    "      endpoints:\n"
    "      - lb_endpoints:\n"
    "        - endpoint:\n"
    "            address:\n"
    "              socket_address: { address: 127.0.0.1, port_value: 8080 }\n"
    "  listeners:\n"
    "  - name: http\n"
    "@LISTENER@"
    "    address:\n"
    "      socket_address: { address: 127.0.0.1, port_value: 10000 }\n"
    "    filter_chains:\n"
    "    - filters:\n"
    "      - name: envoy.filters.network.http_connection_manager\n"
    "        typed_config:\n"
    "          \"@type\": type.googleapis.com/envoy.extensions.filters.network."
    "http_connection_manager.v3.HttpConnectionManager\n"
    "          stat_prefix: ingress\n"
    "@HCM@"
    "          route_config:\n"
    "            virtual_hosts:\n"
    "            - name: all\n"
    "              domains: [\"*\"]\n"
    "              routes:\n"
    "@ROUTES@"
    "              - match: { prefix: \"/\" }\n"
    "                route: { cluster: backend }\n"
    "          http_filters:\n"
    "@FILTERS@"
    "          - name: envoy.filters.http.router\n"
    "@TOP@";

/* BASE with each marker replaced by its text (NULL = removed). Returns a static buffer. */
static const char *base(const char *cluster, const char *listener, const char *hcm,
                        const char *routes, const char *filters, const char *top)
{
    static char out[16384];
    const char *marks[] = {"@CLUSTER@", "@LISTENER@", "@HCM@", "@ROUTES@", "@FILTERS@", "@TOP@"};
    const char *texts[] = {cluster, listener, hcm, routes, filters, top};
    const char *s = BASE;
    size_t n = 0;
    while (*s) {
        int hit = -1;
        for (int i = 0; i < 6; i++)
            if (strncmp(s, marks[i], strlen(marks[i])) == 0)
                hit = i;
        if (hit >= 0) {
            const char *t = texts[hit] ? texts[hit] : "";
            size_t l = strlen(t);
            T_ASSERT(n + l < sizeof(out));
            memcpy(out + n, t, l);
            n += l;
            s += strlen(marks[hit]);
        } else {
            T_ASSERT(n + 1 < sizeof(out));
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    return out;
}

/* 1-based line of the first occurrence of `needle` in `text` (0 if absent). */
static unsigned line_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (!p)
        return 0;
    unsigned line = 1;
    for (const char *q = text; q < p; q++)
        line += *q == '\n';
    return line;
}

static sl_config_t *load_ok(const char *yaml)
{
    sl_config_t *cfg = NULL;
    sl_config_error_t err;
    sl_status_t st = sl_config_load_string(yaml, strlen(yaml), "test.yaml", &cfg, &err);
    if (st != SL_OK)
        t_fail(__FILE__, __LINE__, "load failed: %s: %s:%u:%u: %s", sl_status_str(st), err.file,
               err.line, err.column, err.message);
    T_ASSERT(cfg != NULL);
    return cfg;
}

/* Loading must fail with SL_ERR_CONFIG on the line holding `at_token`, and the message must
 * contain `want` and the line number. */
static void load_err(const char *yaml, const char *want, const char *at_token)
{
    sl_config_t *cfg = (sl_config_t *)1;
    sl_config_error_t err;
    sl_status_t st = sl_config_load_string(yaml, strlen(yaml), "test.yaml", &cfg, &err);
    if (st == SL_OK)
        t_fail(__FILE__, __LINE__, "load succeeded, wanted an error containing \"%s\"", want);
    T_EQ_INT(st, SL_ERR_CONFIG);
    T_ASSERT(cfg == NULL);
    T_EQ_INT(err.status, SL_ERR_CONFIG);
    T_EQ_STR(err.file, "test.yaml");
    if (!strstr(err.message, want))
        t_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", err.message, want);
    if (at_token) {
        unsigned line = line_of(yaml, at_token);
        T_ASSERT(line > 0);
        if (err.line != line)
            t_fail(__FILE__, __LINE__, "error at line %u, wanted %u (\"%s\"): %s", err.line, line,
                   at_token, err.message);
        char pos[32];
        snprintf(pos, sizeof(pos), "line %u:", line);
        if (!strstr(err.message, pos))
            t_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", err.message, pos);
        T_ASSERT(err.column > 0);
    }
}

static const sl_hcm_config_t *first_hcm(const sl_config_t *cfg)
{
    T_ASSERT(cfg->n_listeners >= 1);
    const sl_filter_chain_config_t *fc = &cfg->listeners[0].filter_chains[0];
    const sl_network_filter_config_t *f = &fc->filters[fc->n_filters - 1];
    T_EQ_INT(f->kind, SL_NETWORK_FILTER_HCM);
    T_ASSERT(f->hcm != NULL);
    return f->hcm;
}

/* ---- the seed document's and the ABI reference's examples, as written ---------------------- */

/* The generic Wasm extension configuration from the seed document, verbatim, placed in a
 * listener's http_filters. */
static const char *const SEED_FILTER =
    "- name: envoy.filters.http.wasm\n"
    "  typed_config:\n"
    "    \"@type\": type.googleapis.com/udpa.type.v1.TypedStruct\n"
    "    type_url: type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n"
    "    value:\n"
    "      config:\n"
    "        vm_config:\n"
    "          vm_id: \"my_vm\"\n"
    "          runtime: \"envoy.wasm.runtime.v8\"\n"
    "          configuration:\n"
    "            \"@type\": type.googleapis.com/google.protobuf.StringValue\n"
    "            value: '{\"plugin-config\": \"some-value\"}'\n"
    "          code:\n"
    "            local:\n"
    "              filename: \"my-plugin.wasm\"\n"
    "        configuration:\n"
    "          \"@type\": type.googleapis.com/google.protobuf.StringValue\n"
    "          value: '{\"vm-wide-config\": \"some-value\"}'\n";

/* Indents every line of `text` by `n` spaces into a static buffer. */
static const char *indent(const char *text, int n)
{
    static char out[8192];
    size_t k = 0;
    bool bol = true;
    for (const char *s = text; *s; s++) {
        if (bol && *s != '\n')
            for (int i = 0; i < n; i++)
                out[k++] = ' ';
        out[k++] = *s;
        bol = *s == '\n';
        T_ASSERT(k + (size_t)n + 2 < sizeof(out));
    }
    out[k] = '\0';
    return out;
}

TEST(seed_typed_struct_wasm_filter_loads_as_written)
{
    char filters[8192];
    snprintf(filters, sizeof(filters), "%s", indent(SEED_FILTER, 10));
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, filters, NULL));
    const sl_hcm_config_t *h = first_hcm(cfg);
    T_EQ_UINT(h->n_http_filters, 2);
    const sl_http_filter_config_t *f = &h->http_filters[0];
    T_EQ_INT(f->kind, SL_HTTP_FILTER_WASM);
    T_EQ_STR(f->name, "envoy.filters.http.wasm");
    const sl_wasm_plugin_config_t *p = f->wasm;
    T_ASSERT(p != NULL);
    T_EQ_STR(p->vm.vm_id, "my_vm");
    T_EQ_STR(p->vm.runtime_name, "envoy.wasm.runtime.v8");
    T_EQ_INT(p->vm.runtime, SL_WASM_RUNTIME_INTERP);
    T_ASSERT(p->vm.runtime_is_alias);
    T_EQ_MEM(p->vm.configuration.ptr, p->vm.configuration.len,
             "{\"plugin-config\": \"some-value\"}", strlen("{\"plugin-config\": \"some-value\"}"));
    T_EQ_MEM(p->configuration.ptr, p->configuration.len, "{\"vm-wide-config\": \"some-value\"}",
             strlen("{\"vm-wide-config\": \"some-value\"}"));
    T_EQ_INT(p->vm.code.kind, SL_WASM_CODE_FILE);
    T_EQ_STR(p->vm.code.filename, "my-plugin.wasm");
    T_EQ_STR(p->name, "");
    T_EQ_STR(p->root_id, "");
    T_EQ_INT(p->failure_policy, SL_WASM_FAIL_CLOSED);
    T_EQ_UINT(p->deadline_ms, 100);
    T_EQ_INT(h->http_filters[1].kind, SL_HTTP_FILTER_ROUTER);
    T_EQ_UINT(cfg->n_warnings, 0);
    sl_config_free(cfg);
}

TEST(seed_wasm_service_loads_with_its_placeholder_filled)
{
    /* The seed writes `vm_config: { ... }` as a placeholder; filled with real code it loads. */
    const char *top = "bootstrap_extensions:\n"
                      "- name: envoy.bootstrap.wasm\n"
                      "  typed_config:\n"
                      "    \"@type\": type.googleapis.com/envoy.extensions.wasm.v3.WasmService\n"
                      "    singleton: true\n"
                      "    config:\n"
                      "      vm_config: { code: { local: { filename: svc.wasm } } }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, NULL, top));
    T_EQ_UINT(cfg->n_wasm_services, 1);
    T_EQ_STR(cfg->wasm_services[0].name, "envoy.bootstrap.wasm");
    T_ASSERT(cfg->wasm_services[0].singleton);
    T_EQ_STR(cfg->wasm_services[0].plugin.vm.code.filename, "svc.wasm");
    sl_config_free(cfg);

    /* As written, the placeholder is an unknown key named in the error. */
    const char *as_written = "bootstrap_extensions:\n"
                             "- name: envoy.bootstrap.wasm\n"
                             "  typed_config:\n"
                             "    \"@type\": type.googleapis.com/envoy.extensions.wasm.v3."
                             "WasmService\n"
                             "    singleton: true\n"
                             "    config:\n"
                             "      vm_config: { ... }\n";
    load_err(as_written, "unknown key '...' in vm_config", "{ ... }");
}

TEST(abi_reference_example_loads)
{
    /* ABI reference 12.4, with the sha256 placeholder replaced by real digits. */
    const char *filters =
        "          - name: envoy.filters.http.wasm\n"
        "            typed_config:\n"
        "              \"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n"
        "              config:\n"
        "                name: add_header\n"
        "                root_id: add_header\n"
        "                configuration:\n"
        "                  \"@type\": type.googleapis.com/google.protobuf.StringValue\n"
        "                  value: '{\"header\": \"x-hello\"}'\n"
        "                failure_policy: FAIL_CLOSED\n"
        "                vm_config:\n"
        "                  vm_id: shared_vm\n"
        "                  runtime: envoy.wasm.runtime.v8\n"
        "                  code: { local: { filename: /etc/proxy/plugins/add_header.wasm } }\n"
        "                  environment_variables: { key_values: { MODE: prod } }\n";
    const char *top =
        "  - name: plugin_store\n"
        "    type: STRICT_DNS\n"
        "    load_assignment:\n"
        "      endpoints:\n"
        "      - lb_endpoints:\n"
        "        - endpoint: { address: { socket_address: { address: plugins.local, "
        "port_value: 80 } } }\n"
        "bootstrap_extensions:\n"
        "- name: envoy.bootstrap.wasm\n"
        "  typed_config:\n"
        "    \"@type\": type.googleapis.com/envoy.extensions.wasm.v3.WasmService\n"
        "    singleton: true\n"
        "    config:\n"
        "      name: collector\n"
        "      root_id: collector\n"
        "      vm_config:\n"
        "        vm_id: shared_vm\n"
        "        code:\n"
        "          remote:\n"
        "            http_uri: { uri: \"http://plugins.local/collector.wasm\", cluster: "
        "plugin_store, timeout: 5s }\n"
        "            sha256: \"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"\n"
        "            retry_policy: { num_retries: 3, retry_back_off: { base_interval: 1s, "
        "max_interval: 8s } }\n";
    /* plugin_store must be a cluster: the cluster list precedes listeners in BASE, so append
     * it by putting it under `clusters` through a second static_resources key is impossible;
     * instead rebuild: insert the cluster text before "  listeners:". */
    const char *y = base(NULL, NULL, NULL, NULL, filters, NULL);
    char buf[16384];
    const char *cut = strstr(y, "  listeners:\n");
    T_ASSERT(cut != NULL);
    const char *bx = strstr(top, "bootstrap_extensions:");
    snprintf(buf, sizeof(buf), "%.*s%.*s%s%s", (int)(cut - y), y, (int)(bx - top), top, cut, bx);
    sl_config_t *cfg = load_ok(buf);
    const sl_hcm_config_t *h = first_hcm(cfg);
    const sl_wasm_plugin_config_t *p = h->http_filters[0].wasm;
    T_EQ_STR(p->name, "add_header");
    T_EQ_STR(p->root_id, "add_header");
    T_EQ_INT(p->failure_policy, SL_WASM_FAIL_CLOSED);
    T_ASSERT(!p->fail_open);
    T_EQ_STR(p->vm.vm_id, "shared_vm");
    T_EQ_STR(p->vm.code.filename, "/etc/proxy/plugins/add_header.wasm");
    T_EQ_UINT(p->vm.n_key_values, 1);
    T_EQ_STR(p->vm.key_values[0].key, "MODE");
    T_EQ_STR(p->vm.key_values[0].value, "prod");
    T_EQ_UINT(p->vm.n_env, 1);
    T_EQ_STR(p->vm.env[0].value, "prod");
    T_EQ_MEM(p->configuration.ptr, p->configuration.len, "{\"header\": \"x-hello\"}", 21);

    T_EQ_UINT(cfg->n_wasm_services, 1);
    const sl_wasm_service_config_t *s = &cfg->wasm_services[0];
    T_ASSERT(s->singleton);
    /* Every plugin, in the order met: the HTTP filter's, then the service's. */
    T_EQ_UINT(cfg->n_wasm_plugins, 2);
    T_ASSERT(cfg->wasm_plugins[0] == p);
    T_ASSERT(cfg->wasm_plugins[1] == &s->plugin);
    T_EQ_UINT(p->index, 0);
    T_EQ_UINT(s->plugin.index, 1);
    const sl_wasm_code_config_t *code = &s->plugin.vm.code;
    T_EQ_INT(code->kind, SL_WASM_CODE_REMOTE);
    T_EQ_STR(code->uri, "http://plugins.local/collector.wasm");
    T_EQ_STR(code->cluster, "plugin_store");
    T_ASSERT(code->cluster_config == sl_config_find_cluster(cfg, "plugin_store"));
    T_EQ_UINT(code->fetch_timeout_ms, 5000);
    T_EQ_STR(code->sha256_hex, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    T_EQ_UINT(code->sha256[0], 0x9f);
    T_EQ_UINT(code->sha256[31], 0x08);
    T_EQ_UINT(code->num_retries, 3);
    T_EQ_UINT(code->retry_base_interval_ms, 1000);
    T_EQ_UINT(code->retry_max_interval_ms, 8000);
    sl_config_free(cfg);
}

/* ---- the example configurations in examples/ ------------------------------------------------ */

TEST(example_files_load)
{
    static const char *const files[] = {"examples/config-full.yaml", "examples/config-tcp.yaml",
                                        "examples/config-wasm.yaml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        sl_config_t *cfg = NULL;
        sl_config_error_t err;
        sl_status_t st = sl_config_load_file(files[i], &cfg, &err);
        if (st != SL_OK)
            t_fail(__FILE__, __LINE__, "%s: %s:%u:%u: %s", sl_status_str(st), err.file, err.line,
                   err.column, err.message);
        T_EQ_STR(cfg->path, files[i]);
        T_ASSERT(cfg->n_listeners >= 1);
        sl_config_free(cfg);
    }
}

TEST(full_example_fields)
{
    sl_config_t *cfg = NULL;
    sl_config_error_t err;
    T_EQ_INT(sl_config_load_file("examples/config-full.yaml", &cfg, &err), SL_OK);
    T_ASSERT(cfg->admin.present);
    T_EQ_STR(cfg->admin.address.address, "127.0.0.1");
    T_EQ_UINT(cfg->admin.address.port, 9901);
    T_EQ_STR(cfg->node_id, "sluice-1");
    T_EQ_UINT(cfg->n_clusters, 2);
    const sl_cluster_config_t *b = sl_config_find_cluster(cfg, "backend");
    T_ASSERT(b != NULL);
    T_EQ_INT(b->type, SL_CLUSTER_STATIC);
    T_EQ_INT(b->lb_policy, SL_LB_LEAST_REQUEST);
    T_EQ_UINT(b->connect_timeout_ms, 250);
    T_EQ_UINT(b->n_endpoints, 2);
    T_EQ_STR(b->endpoints[1].address.address, "127.0.0.2");
    T_EQ_UINT(b->endpoints[1].address.port, 8081);
    T_EQ_UINT(b->endpoints[1].weight, 3);
    T_EQ_UINT(b->circuit_breakers.max_connections, 100);
    T_EQ_UINT(b->circuit_breakers.max_pending_requests, 10);
    T_EQ_UINT(b->circuit_breakers.max_requests, 1024);
    const sl_cluster_config_t *d = sl_config_find_cluster(cfg, "dns");
    T_EQ_INT(d->type, SL_CLUSTER_STRICT_DNS);
    T_EQ_INT(d->lb_policy, SL_LB_ROUND_ROBIN);
    T_EQ_UINT(d->connect_timeout_ms, 5000);
    T_EQ_STR(d->endpoints[0].address.address, "localhost");

    const sl_hcm_config_t *h = first_hcm(cfg);
    T_EQ_STR(h->stat_prefix, "ingress_http");
    T_EQ_INT(h->codec_type, SL_CODEC_HTTP1);
    T_EQ_UINT(h->request_timeout_ms, 30000);
    T_EQ_UINT(h->stream_idle_timeout_ms, 1500);
    T_EQ_UINT(h->request_headers_timeout_ms, 100);
    T_EQ_UINT(h->max_request_headers_kb, 32);
    T_EQ_UINT(h->max_request_body_bytes, 65536);
    T_EQ_UINT(h->idle_timeout_ms, 60000);
    T_EQ_UINT(h->max_request_headers_count, 50);
    const sl_route_table_config_t *rt = &h->route_config;
    T_EQ_STR(rt->name, "local_route");
    T_EQ_UINT(rt->n_vhosts, 2);
    const sl_vhost_config_t *v = &rt->vhosts[0];
    T_EQ_STR(v->name, "api");
    T_EQ_UINT(v->n_domains, 3);
    T_EQ_INT(v->domains[0].kind, SL_DOMAIN_EXACT);
    T_EQ_STR(v->domains[0].pattern, "api.example.com");
    T_EQ_INT(v->domains[1].kind, SL_DOMAIN_SUFFIX);
    T_EQ_STR(v->domains[1].part, ".api.example.com");
    T_EQ_INT(v->domains[2].kind, SL_DOMAIN_PREFIX);
    T_EQ_STR(v->domains[2].part, "api.");
    T_EQ_UINT(v->domains[2].part_len, 4);
    T_EQ_UINT(v->n_routes, 4);
    const sl_route_config_t *r = &v->routes[0];
    T_EQ_INT(r->match_kind, SL_PATH_MATCH_PATH);
    T_EQ_STR(r->match_value, "/healthz");
    T_EQ_INT(r->action, SL_ROUTE_ACTION_DIRECT_RESPONSE);
    T_EQ_UINT(r->status, 200);
    T_EQ_MEM(r->body.ptr, r->body.len, "ok\n", 3);
    r = &v->routes[1];
    T_EQ_INT(r->match_kind, SL_PATH_MATCH_PREFIX);
    T_EQ_STR(r->match_value, "/v1/");
    T_EQ_UINT(r->n_headers, 2);
    T_EQ_STR(r->headers[0].name, "x-tenant");
    T_EQ_INT(r->headers[0].kind, SL_HEADER_MATCH_EXACT);
    T_EQ_STR(r->headers[0].value, "blue");
    T_EQ_INT(r->headers[1].kind, SL_HEADER_MATCH_PRESENT);
    T_EQ_INT(r->action, SL_ROUTE_ACTION_ROUTE);
    T_EQ_STR(r->cluster, "backend");
    T_ASSERT(r->cluster_config == b);
    T_EQ_STR(r->prefix_rewrite, "/");
    T_EQ_STR(r->host_rewrite_literal, "internal.example.com");
    T_EQ_UINT(r->timeout_ms, 2500);
    r = &v->routes[2];
    T_EQ_INT(r->match_kind, SL_PATH_MATCH_REGEX);
    T_EQ_STR(r->match_value, "^/items/[0-9]+$");
    T_ASSERT(r->prefix_rewrite == NULL);
    T_EQ_UINT(r->timeout_ms, 15000);
    r = &v->routes[3];
    T_EQ_UINT(r->timeout_ms, 0);
    T_EQ_INT(rt->vhosts[1].domains[0].kind, SL_DOMAIN_ANY);
    T_EQ_UINT(cfg->n_warnings, 0);

    T_EQ_UINT(h->n_http_filters, 3);
    T_EQ_INT(h->http_filters[0].kind, SL_HTTP_FILTER_ADD_HEADER);
    T_EQ_STR(h->http_filters[0].add_header_name, "x-sluice");
    T_EQ_STR(h->http_filters[0].add_header_value, "yes");
    T_ASSERT(!h->http_filters[0].add_header_response);
    T_EQ_INT(h->http_filters[1].kind, SL_HTTP_FILTER_WASM);
    T_EQ_INT(h->http_filters[2].kind, SL_HTTP_FILTER_ROUTER);

    const sl_listener_config_t *tcp = sl_config_find_listener(cfg, "tcp");
    T_ASSERT(tcp != NULL);
    T_EQ_UINT(tcp->index, 1);
    T_EQ_UINT(cfg->n_wasm_plugins, 1);
    const sl_filter_chain_config_t *fc = &tcp->filter_chains[0];
    T_EQ_UINT(fc->n_filters, 2);
    T_EQ_INT(fc->filters[0].kind, SL_NETWORK_FILTER_BYTE_COUNT);
    T_EQ_STR(fc->filters[0].byte_count_stat_prefix, "bytes");
    T_EQ_INT(fc->filters[1].kind, SL_NETWORK_FILTER_TCP_PROXY);
    T_EQ_STR(fc->filters[1].tcp_proxy->cluster, "backend");
    T_ASSERT(fc->filters[1].tcp_proxy->cluster_config == b);
    T_EQ_UINT(fc->filters[1].tcp_proxy->idle_timeout_ms, 600000);
    sl_config_free(cfg);
    leak_check();
}

/* ---- typed_config forms --------------------------------------------------------------------- */

static const char *const WASM_DIRECT =
    "          - name: my_wasm\n"
    "            typed_config:\n"
    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n"
    "              config:\n"
    "                name: p\n"
    "                root_id: r\n"
    "                fail_open: true\n"
    "                vm_config:\n"
    "                  vm_id: v\n"
    "                  runtime: sluice.wasm.runtime.interp\n"
    "                  code: { local: { inline_string: \"\\0asm\\x01\\0\\0\\0\" } }\n";
static const char *const WASM_TYPED_STRUCT =
    "          - name: my_wasm\n"
    "            typed_config:\n"
    "              \"@type\": type.googleapis.com/xds.type.v3.TypedStruct\n"
    "              type_url: type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n"
    "              value:\n"
    "                config:\n"
    "                  name: p\n"
    "                  root_id: r\n"
    "                  fail_open: true\n"
    "                  vm_config:\n"
    "                    vm_id: v\n"
    "                    runtime: sluice.wasm.runtime.interp\n"
    "                    code: { local: { inline_bytes: \"AGFzbQEAAAA=\" } }\n";

TEST(both_typed_config_forms_give_the_same_plugin)
{
    sl_config_t *a = load_ok(base(NULL, NULL, NULL, NULL, WASM_DIRECT, NULL));
    sl_config_t *b = load_ok(base(NULL, NULL, NULL, NULL, WASM_TYPED_STRUCT, NULL));
    const sl_wasm_plugin_config_t *pa = first_hcm(a)->http_filters[0].wasm;
    const sl_wasm_plugin_config_t *pb = first_hcm(b)->http_filters[0].wasm;
    T_EQ_STR(pa->name, pb->name);
    T_EQ_STR(pa->root_id, pb->root_id);
    T_EQ_STR(pa->vm.vm_id, "v");
    T_EQ_STR(pb->vm.vm_id, "v");
    T_ASSERT(pa->fail_open && pb->fail_open);
    T_EQ_INT(pa->failure_policy, SL_WASM_FAIL_OPEN);
    T_ASSERT(!pa->vm.runtime_is_alias);
    /* inline_string (YAML escapes) and inline_bytes (base64) hold the same 8 bytes. */
    T_EQ_INT(pa->vm.code.kind, SL_WASM_CODE_INLINE_STRING);
    T_EQ_INT(pb->vm.code.kind, SL_WASM_CODE_INLINE_BYTES);
    T_EQ_MEM(pa->vm.code.inline_code.ptr, pa->vm.code.inline_code.len, pb->vm.code.inline_code.ptr,
             pb->vm.code.inline_code.len);
    T_EQ_MEM(pb->vm.code.inline_code.ptr, pb->vm.code.inline_code.len, "\0asm\1\0\0\0", 8);
    sl_config_free(a);
    sl_config_free(b);
}

TEST(filters_identified_by_name_or_by_type)
{
    /* The name is free-form when typed_config says what it is; no typed_config: the name. */
    const char *filters =
        "          - name: anything-goes\n"
        "            typed_config:\n"
        "              \"@type\": type.googleapis.com/sluice.filters.http.add_header.v1.AddHeader\n"
        "              header: X-Mixed-Case\n"
        "              value: v\n"
        "              response: true\n";
    const char *y = base(NULL, NULL, NULL, NULL, filters, NULL);
    sl_config_t *cfg = load_ok(y);
    const sl_hcm_config_t *h = first_hcm(cfg);
    T_EQ_STR(h->http_filters[0].name, "anything-goes");
    T_EQ_INT(h->http_filters[0].kind, SL_HTTP_FILTER_ADD_HEADER);
    T_EQ_STR(h->http_filters[0].add_header_name, "x-mixed-case");
    T_ASSERT(h->http_filters[0].add_header_response);
    T_EQ_STR(h->http_filters[1].name, "envoy.filters.http.router");
    sl_config_free(cfg);
}

TEST(configuration_as_bytes_value_and_struct)
{
    const char *filters =
        "          - name: envoy.filters.http.wasm\n"
        "            typed_config:\n"
        "              \"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n"
        "              config:\n"
        "                configuration:\n"
        "                  \"@type\": type.googleapis.com/google.protobuf.BytesValue\n"
        "                  value: aGVsbG8Ad29ybGQ=\n"
        "                vm_config:\n"
        "                  configuration:\n"
        "                    \"@type\": type.googleapis.com/google.protobuf.Struct\n"
        "                    value:\n"
        "                      name: \"a\\\"b\"\n"
        "                      n: 12\n"
        "                      on: true\n"
        "                      list: [1, x, null]\n"
        "                      zip: \"007\"\n"
        "                  code: { local: { filename: a.wasm } }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, filters, NULL));
    const sl_wasm_plugin_config_t *p = first_hcm(cfg)->http_filters[0].wasm;
    T_EQ_MEM(p->configuration.ptr, p->configuration.len, "hello\0world", 11);
    const char *json = "{\"name\":\"a\\\"b\",\"n\":12,\"on\":true,\"list\":[1,\"x\",null],"
                       "\"zip\":\"007\"}";
    T_EQ_MEM(p->vm.configuration.ptr, p->vm.configuration.len, json, strlen(json));
    sl_config_free(cfg);
}

/* ---- durations ------------------------------------------------------------------------------ */

static uint64_t timeout_of(const char *dur)
{
    char hcm[256];
    snprintf(hcm, sizeof(hcm), "          request_timeout: %s\n", dur);
    sl_config_t *cfg = load_ok(base(NULL, NULL, hcm, NULL, NULL, NULL));
    uint64_t ms = first_hcm(cfg)->request_timeout_ms;
    sl_config_free(cfg);
    return ms;
}

TEST(durations_in_envoy_and_ms_forms)
{
    T_EQ_UINT(timeout_of("5s"), 5000);
    T_EQ_UINT(timeout_of("\"5s\""), 5000);
    T_EQ_UINT(timeout_of("1.5s"), 1500);
    T_EQ_UINT(timeout_of("0.25s"), 250);
    T_EQ_UINT(timeout_of("0.000000001s"), 1); /* rounds up: never turns into "off" */
    T_EQ_UINT(timeout_of("0s"), 0);
    T_EQ_UINT(timeout_of("100ms"), 100);
    T_EQ_UINT(timeout_of("2.5ms"), 3);
    T_EQ_UINT(timeout_of("{ seconds: 2, nanos: 500000000 }"), 2500);
    T_EQ_UINT(timeout_of("{ seconds: 3 }"), 3000);
    T_EQ_UINT(timeout_of("315360000s"), 315360000000ull);
}

TEST(bad_durations_name_key_and_line)
{
    static const char *const bad[] = {
        "5",  "5m", "s", "1.s", "-1s", "1.0000000001s", "abc", "1e3s", "99999999999999999999s",
        "[1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char hcm[256];
        snprintf(hcm, sizeof(hcm), "          request_timeout: %s\n", bad[i]);
        load_err(base(NULL, NULL, hcm, NULL, NULL, NULL), "'request_timeout'", "request_timeout");
    }
    load_err(base(NULL, NULL, "          request_timeout: 5\n", NULL, NULL, NULL), "needs a unit",
             "request_timeout");
}

/* ---- defaults ------------------------------------------------------------------------------- */

TEST(defaults_match_envoy)
{
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, NULL, NULL));
    T_ASSERT(!cfg->admin.present);
    T_EQ_STR(cfg->node_id, "");
    const sl_cluster_config_t *c = &cfg->clusters[0];
    T_EQ_INT(c->type, SL_CLUSTER_STATIC);
    T_EQ_INT(c->lb_policy, SL_LB_ROUND_ROBIN);
    T_EQ_UINT(c->circuit_breakers.max_connections, 1024);
    T_EQ_UINT(c->circuit_breakers.max_pending_requests, 1024);
    T_EQ_UINT(c->circuit_breakers.max_requests, 1024);
    T_EQ_UINT(c->circuit_breakers.max_retries, 3);
    T_EQ_UINT(c->endpoints[0].weight, 1);
    T_EQ_UINT(c->index, 0);
    const sl_hcm_config_t *h = first_hcm(cfg);
    T_EQ_INT(h->codec_type, SL_CODEC_AUTO);
    T_EQ_UINT(h->request_timeout_ms, 0);
    T_EQ_UINT(h->stream_idle_timeout_ms, 300000);
    T_EQ_UINT(h->request_headers_timeout_ms, 0);
    T_EQ_UINT(h->max_request_headers_kb, 60);
    T_EQ_UINT(h->max_request_headers_count, 100);
    T_EQ_UINT(h->max_request_body_bytes, 1024 * 1024);
    T_ASSERT(h->generate_request_id);
    T_EQ_STR(h->server_name, "envoy");
    const sl_route_config_t *r = &h->route_config.vhosts[0].routes[0];
    T_EQ_UINT(r->timeout_ms, 15000);
    T_ASSERT(r->case_sensitive);
    T_ASSERT(r->prefix_rewrite == NULL);
    T_ASSERT(r->host_rewrite_literal == NULL);
    const sl_listener_config_t *l = &cfg->listeners[0];
    T_ASSERT(l->enable_reuse_port);
    T_EQ_INT(l->traffic_direction, SL_DIRECTION_UNSPECIFIED);
    T_EQ_UINT(l->address.port, 10000);
    T_ASSERT(!l->address.is_ipv6);
    sl_config_free(cfg);
}

/* ---- warnings for known-but-unsupported keys ------------------------------------------------ */

TEST(known_unsupported_keys_warn_with_key_and_line)
{
    const char *hcm = "          access_log:\n"
                      "          - name: envoy.access_loggers.stdout\n"
                      "          normalize_path: true\n";
    const char *top = "layered_runtime: {}\n";
    const char *y = base("    health_checks: []\n", NULL, hcm, NULL, NULL, top);
    sl_config_t *cfg = load_ok(y);
    T_EQ_UINT(cfg->n_warnings, 4);
    /* Outer objects first (each mapping's keys are checked when it is opened): the
     * bootstrap's top level, then the cluster, then the HCM. */
    T_EQ_STR(cfg->warnings[0].key, "layered_runtime");
    T_EQ_UINT(cfg->warnings[0].line, line_of(y, "layered_runtime"));
    T_EQ_STR(cfg->warnings[1].key, "health_checks");
    T_EQ_UINT(cfg->warnings[1].line, line_of(y, "health_checks"));
    T_EQ_STR(cfg->warnings[2].key, "access_log");
    T_EQ_UINT(cfg->warnings[2].line, line_of(y, "access_log"));
    T_EQ_UINT(cfg->warnings[2].column, 11);
    T_ASSERT(strstr(cfg->warnings[2].message, "'access_log' in http_connection_manager at line") !=
             NULL);
    T_ASSERT(strstr(cfg->warnings[2].message, "not supported") != NULL);
    T_EQ_STR(cfg->warnings[3].key, "normalize_path");
    sl_config_free(cfg);
}

TEST(optional_and_disabled_filters_are_skipped_with_a_warning)
{
    const char *filters = "          - name: envoy.filters.http.cors\n"
                          "            is_optional: true\n"
                          "          - name: x\n"
                          "            is_optional: true\n"
                          "            typed_config:\n"
                          "              \"@type\": type.googleapis.com/foo.Bar\n"
                          "          - name: sluice.filters.http.add_header\n"
                          "            disabled: true\n"
                          "            typed_config: { \"@type\": type.googleapis.com/sluice."
                          "filters.http.add_header.v1.AddHeader, header: a }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, filters, NULL));
    T_EQ_UINT(first_hcm(cfg)->n_http_filters, 1);
    T_EQ_UINT(cfg->n_warnings, 3);
    sl_config_free(cfg);
}

/* ---- errors: each names its key and line ---------------------------------------------------- */

TEST(unknown_key_in_listener)
{
    const char *y = base(NULL, "    bogus_key: 1\n", NULL, NULL, NULL, NULL);
    load_err(y, "unknown key 'bogus_key' in listener", "bogus_key");
}

TEST(unknown_keys_everywhere_are_caught)
{
    load_err(base("    nope: 1\n", NULL, NULL, NULL, NULL, NULL), "unknown key 'nope' in cluster",
             "nope");
    load_err(base(NULL, NULL, "          nope: 1\n", NULL, NULL, NULL),
             "unknown key 'nope' in http_connection_manager", "nope");
    load_err(base(NULL, NULL, NULL,
                  "              - match: { prefix: /a, nope: 1 }\n"
                  "                route: { cluster: backend }\n",
                  NULL, NULL),
             "unknown key 'nope' in route match", "nope");
    load_err(base(NULL, NULL, NULL, NULL, NULL, "nope: 1\n"), "unknown key 'nope' in bootstrap",
             "nope");
    load_err(base(NULL, NULL, NULL, NULL,
                  "          - name: envoy.filters.http.router\n            nope: {}\n", NULL),
             "unknown key 'nope' in http filter", "nope");
    const char *in_vm =
        "          - name: envoy.filters.http.wasm\n"
        "            typed_config:\n"
        "              \"@type\": type.googleapis.com/envoy.extensions.filters."
        "http.wasm.v3.Wasm\n"
        "              config:\n"
        "                vm_config: { code: { local: { filename: a } }, nope: 1 }\n";
    load_err(base(NULL, NULL, NULL, NULL, in_vm, NULL), "unknown key 'nope' in vm_config", "nope");
}

TEST(route_to_unknown_cluster)
{
    const char *routes = "              - match: { prefix: /x }\n"
                         "                route: { cluster: missing }\n";
    load_err(base(NULL, NULL, NULL, routes, NULL, NULL), "unknown cluster 'missing'", "missing");
}

TEST(router_must_be_last_and_present)
{
    const char *after = "          - name: envoy.filters.http.router\n";
    char buf[16384];
    const char *y = base(NULL, NULL, NULL, NULL, NULL, NULL);
    /* Append a second filter after the router. */
    const char *router = strstr(y, "          - name: envoy.filters.http.router\n");
    snprintf(buf, sizeof(buf),
             "%.*s%s          - name: sluice.filters.http.add_header\n"
             "            typed_config: { \"@type\": type.googleapis.com/sluice.filters.http."
             "add_header.v1.AddHeader, header: late }\n",
             (int)(router - y), y, after);
    load_err(buf, "comes after the router", "sluice.filters.http.add_header");

    /* No router at all. */
    snprintf(buf, sizeof(buf),
             "%.*s          - name: sluice.filters.http.add_header\n"
             "            typed_config: { \"@type\": type.googleapis.com/sluice.filters.http."
             "add_header.v1.AddHeader, header: h }\n",
             (int)(router - y), y);
    load_err(buf, "last http filter must be envoy.filters.http.router",
             "sluice.filters.http.add_header");
}

TEST(unknown_http_filter_name)
{
    load_err(base(NULL, NULL, NULL, NULL, "          - name: envoy.filters.http.lua\n", NULL),
             "unknown http filter 'envoy.filters.http.lua'", "envoy.filters.http.lua");
}

TEST(unknown_type_url)
{
    const char *f = "          - name: x\n"
                    "            typed_config:\n"
                    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
                    "lua.v3.Lua\n";
    load_err(base(NULL, NULL, NULL, NULL, f, NULL), "unsupported type", "lua.v3.Lua");
    const char *g = "          - name: x\n"
                    "            typed_config:\n"
                    "              \"@type\": type.googleapis.com/envoy.extensions.filters.network."
                    "tcp_proxy.v3.TcpProxy\n";
    load_err(base(NULL, NULL, NULL, NULL, g, NULL), "not an http filter",
             "            typed_config:\n              \"@type\": type.googleapis.com/envoy."
             "extensions.filters.network");
}

TEST(duplicate_names)
{
    const char *y = "static_resources:\n"
                    "  clusters:\n"
                    "  - name: a\n"
                    "  - name: a\n";
    load_err(y, "duplicate cluster name 'a' (first at line 3) at line 4:11", NULL);
    sl_config_error_t err;
    sl_config_t *cfg;
    T_EQ_INT(sl_config_load_string(y, strlen(y), NULL, &cfg, &err), SL_ERR_CONFIG);
    T_EQ_UINT(err.line, 4);
    T_EQ_STR(err.file, "<string>");

    const char *l = "static_resources:\n"
                    "  clusters: [{name: c}]\n"
                    "  listeners:\n"
                    "  - name: l\n"
                    "    address: { socket_address: { address: 0.0.0.0, port_value: 1 } }\n"
                    "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, "
                    "typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters."
                    "network.tcp_proxy.v3.TcpProxy, stat_prefix: s, cluster: c}}]}]\n"
                    "  - name: l\n"
                    "    address: { socket_address: { address: 0.0.0.0, port_value: 2 } }\n"
                    "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, "
                    "typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters."
                    "network.tcp_proxy.v3.TcpProxy, stat_prefix: s, cluster: c}}]}]\n";
    T_EQ_INT(sl_config_load_string(l, strlen(l), NULL, &cfg, &err), SL_ERR_CONFIG);
    T_ASSERT(strstr(err.message, "duplicate listener name 'l'") != NULL);
    T_EQ_UINT(err.line, 7);

    const char *k = "admin: {}\nadmin: {}\n";
    load_err(k, "duplicate key 'admin' (first at line 1) at line 2:1", NULL);
}

TEST(port_range)
{
    const char *y = "admin:\n"
                    "  address: { socket_address: { address: 127.0.0.1, port_value: 70000 } }\n";
    load_err(y, "'port_value' in socket_address must be between 0 and 65535", "70000");
}

TEST(endpoint_port_zero_and_hostname_in_static_cluster)
{
    const char *y = "static_resources:\n"
                    "  clusters:\n"
                    "  - name: c\n"
                    "    load_assignment:\n"
                    "      endpoints:\n"
                    "      - lb_endpoints:\n"
                    "        - endpoint: { address: { socket_address: { address: 127.0.0.1, "
                    "port_value: 0 } } }\n";
    load_err(y, "between 1 and 65535", "port_value: 0");
    const char *h = "static_resources:\n"
                    "  clusters:\n"
                    "  - name: c\n"
                    "    load_assignment:\n"
                    "      endpoints:\n"
                    "      - lb_endpoints:\n"
                    "        - endpoint: { address: { socket_address: { address: example.com, "
                    "port_value: 80 } } }\n";
    load_err(h, "numeric IPv4 or IPv6 address, got 'example.com'", "example.com");
}

TEST(bad_enum_values_list_the_choices)
{
    load_err(base("    lb_policy: MAGLEV\n", NULL, NULL, NULL, NULL, NULL),
             "'lb_policy' in cluster must be one of ROUND_ROBIN, LEAST_REQUEST, RANDOM; got "
             "'MAGLEV'",
             "MAGLEV");
    load_err(base("    type: EDS\n", NULL, NULL, NULL, NULL, NULL), "'type' in cluster", "EDS");
    load_err(base(NULL, NULL, "          codec_type: HTTP3\n", NULL, NULL, NULL), "'codec_type'",
             "HTTP3");
}

TEST(logical_dns_needs_one_endpoint)
{
    const char *y = "static_resources:\n"
                    "  clusters:\n"
                    "  - name: c\n"
                    "    type: LOGICAL_DNS\n"
                    "    load_assignment:\n"
                    "      endpoints:\n"
                    "      - lb_endpoints:\n"
                    "        - endpoint: { address: { socket_address: { address: a, port_value: 1 "
                    "} } }\n"
                    "        - endpoint: { address: { socket_address: { address: b, port_value: 1 "
                    "} } }\n";
    load_err(y, "LOGICAL_DNS cluster 'c' must have exactly one endpoint", "load_assignment");
}

TEST(wasm_semantic_errors)
{
    const char *both = "          - name: envoy.filters.http.wasm\n"
                       "            typed_config:\n"
                       "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                       "http.wasm.v3.Wasm\n"
                       "              config:\n"
                       "                fail_open: true\n"
                       "                failure_policy: FAIL_RELOAD\n"
                       "                vm_config: { code: { local: { filename: a } } }\n";
    load_err(base(NULL, NULL, NULL, NULL, both, NULL), "both 'fail_open' and 'failure_policy'",
             "failure_policy");
    const char *env = "          - name: envoy.filters.http.wasm\n"
                      "            typed_config:\n"
                      "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                      "http.wasm.v3.Wasm\n"
                      "              config:\n"
                      "                vm_config:\n"
                      "                  code: { local: { filename: a } }\n"
                      "                  environment_variables:\n"
                      "                    key_values: { HOME: x }\n"
                      "                    host_env_keys: [PATH, HOME]\n";
    load_err(base(NULL, NULL, NULL, NULL, env, NULL), "'HOME' is in both", "PATH, HOME");
    const char *nocode = "          - name: envoy.filters.http.wasm\n"
                         "            typed_config:\n"
                         "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                         "http.wasm.v3.Wasm\n"
                         "              config:\n"
                         "                vm_config: { vm_id: a }\n";
    load_err(base(NULL, NULL, NULL, NULL, nocode, NULL), "vm_config needs 'code'", "vm_id: a");
    const char *rt = "          - name: envoy.filters.http.wasm\n"
                     "            typed_config:\n"
                     "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                     "http.wasm.v3.Wasm\n"
                     "              config:\n"
                     "                vm_config: { runtime: envoy.wasm.runtime.lua, code: { "
                     "local: { filename: a } } }\n";
    load_err(base(NULL, NULL, NULL, NULL, rt, NULL), "unknown Wasm runtime", "runtime.lua");
    const char *nul = "          - name: envoy.filters.http.wasm\n"
                      "            typed_config:\n"
                      "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                      "http.wasm.v3.Wasm\n"
                      "              config:\n"
                      "                vm_config: { runtime: envoy.wasm.runtime.null, code: { "
                      "local: { filename: a } } }\n";
    load_err(base(NULL, NULL, NULL, NULL, nul, NULL), "null runtime needs", "runtime.null");
    const char *sha = "          - name: envoy.filters.http.wasm\n"
                      "            typed_config:\n"
                      "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                      "http.wasm.v3.Wasm\n"
                      "              config:\n"
                      "                vm_config:\n"
                      "                  code:\n"
                      "                    remote:\n"
                      "                      http_uri: { uri: http://x/a.wasm, cluster: backend, "
                      "timeout: 1s }\n"
                      "                      sha256: abc\n";
    load_err(base(NULL, NULL, NULL, NULL, sha, NULL), "64 hex digits", "sha256");
    const char *two = "          - name: envoy.filters.http.wasm\n"
                      "            typed_config:\n"
                      "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                      "http.wasm.v3.Wasm\n"
                      "              config:\n"
                      "                vm_config: { code: { local: { filename: a, inline_string: "
                      "b } } }\n";
    load_err(base(NULL, NULL, NULL, NULL, two, NULL), "exactly one of 'filename'", "inline_string");
    const char *cfgstr = "          - name: envoy.filters.http.wasm\n"
                         "            typed_config:\n"
                         "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                         "http.wasm.v3.Wasm\n"
                         "              config:\n"
                         "                configuration: plain\n"
                         "                vm_config: { code: { local: { filename: a } } }\n";
    load_err(base(NULL, NULL, NULL, NULL, cfgstr, NULL), "google.protobuf.Any", "plain");
}

TEST(sluice_limits_knobs)
{
    const char *f = "          - name: envoy.filters.http.wasm\n"
                    "            typed_config:\n"
                    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
                    "wasm.v3.Wasm\n"
                    "              config:\n"
                    "                vm_config:\n"
                    "                  code: { local: { filename: a } }\n"
                    "                  sluice_limits: { callback_deadline: 250ms, "
                    "max_memory_bytes: 16777216, shared_queue_max_items: 500 }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, f, NULL));
    const sl_wasm_plugin_config_t *p = first_hcm(cfg)->http_filters[0].wasm;
    T_EQ_UINT(p->deadline_ms, 250);
    T_EQ_UINT(p->max_memory_bytes, 16777216);
    T_EQ_UINT(p->queue_max_items, 500);
    sl_config_free(cfg);
    const char *h = "          - name: envoy.filters.http.wasm\n"
                    "            typed_config:\n"
                    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
                    "wasm.v3.Wasm\n"
                    "              config:\n"
                    "                vm_config:\n"
                    "                  code: { local: { filename: a } }\n"
                    "                  sluice_limits: { shared_queue_max_items: 0 }\n";
    load_err(base(NULL, NULL, NULL, NULL, h, NULL), "between 1 and 100000000",
             "shared_queue_max_items: 0");
    const char *g = "          - name: envoy.filters.http.wasm\n"
                    "            typed_config:\n"
                    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
                    "wasm.v3.Wasm\n"
                    "              config:\n"
                    "                vm_config:\n"
                    "                  code: { local: { filename: a } }\n"
                    "                  sluice_limits: { callback_deadline: 0s }\n";
    load_err(base(NULL, NULL, NULL, NULL, g, NULL), "between 1ms and 60s", "callback_deadline");
}

TEST(environment_resolved_at_load)
{
    T_ASSERT(setenv("SL_CONFIG_TEST_VAR", "from-host", 1) == 0);
    unsetenv("SL_CONFIG_TEST_ABSENT");
    const char *f =
        "          - name: envoy.filters.http.wasm\n"
        "            typed_config:\n"
        "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
        "wasm.v3.Wasm\n"
        "              config:\n"
        "                vm_config:\n"
        "                  code: { local: { filename: a } }\n"
        "                  environment_variables:\n"
        "                    host_env_keys: [SL_CONFIG_TEST_VAR, SL_CONFIG_TEST_ABSENT]\n"
        "                    key_values: { A: \"1\", B: \"\" }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, f, NULL));
    const sl_wasm_vm_config_t *vm = &first_hcm(cfg)->http_filters[0].wasm->vm;
    T_EQ_UINT(vm->n_host_env_keys, 2);
    T_EQ_UINT(vm->n_env, 3);
    T_EQ_STR(vm->env[0].key, "SL_CONFIG_TEST_VAR");
    T_EQ_STR(vm->env[0].value, "from-host");
    T_EQ_STR(vm->env[1].key, "A");
    T_EQ_STR(vm->env[2].key, "B");
    T_EQ_STR(vm->env[2].value, "");
    sl_config_free(cfg);
}

TEST(network_chain_rules)
{
    const char *two_terminal =
        "static_resources:\n"
        "  clusters: [{name: c}]\n"
        "  listeners:\n"
        "  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
        "    filter_chains:\n"
        "    - filters:\n"
        "      - name: envoy.filters.network.tcp_proxy\n"
        "        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network."
        "tcp_proxy.v3.TcpProxy, stat_prefix: s, cluster: c}\n"
        "      - name: sluice.filters.network.byte_count\n";
    load_err(two_terminal, "comes after the terminal filter", "byte_count");
    const char *no_terminal =
        "static_resources:\n"
        "  listeners:\n"
        "  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
        "    filter_chains:\n"
        "    - filters:\n"
        "      - name: sluice.filters.network.byte_count\n";
    load_err(no_terminal, "last network filter must be", "byte_count");
    const char *unknown_cluster =
        "static_resources:\n"
        "  listeners:\n"
        "  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
        "    filter_chains:\n"
        "    - filters:\n"
        "      - name: envoy.filters.network.tcp_proxy\n"
        "        typed_config:\n"
        "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3."
        "TcpProxy\n"
        "          stat_prefix: s\n"
        "          cluster: nowhere\n";
    load_err(unknown_cluster, "tcp_proxy names unknown cluster 'nowhere'", "nowhere");
    const char *two_chains =
        "static_resources:\n"
        "  clusters: [{name: c}]\n"
        "  listeners:\n"
        "  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
        "    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: "
        "{\"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, "
        "stat_prefix: s, cluster: c}}]}, {filters: []}]\n";
    load_err(two_chains, "exactly one", "filter_chains");
    const char *tls = "static_resources:\n"
                      "  clusters: [{name: c}]\n"
                      "  listeners:\n"
                      "  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
                      "    filter_chains:\n"
                      "    - transport_socket: {}\n"
                      "      filters: []\n";
    load_err(tls, "'transport_socket' in filter chain is not supported (TLS", "transport_socket");
    const char *wasm_net =
        "static_resources:\n"
        "  clusters: [{name: c}]\n"
        "  listeners:\n"
        "  - name: t\n"
        "    address: { socket_address: { address: \"::1\", port_value: 0 } }\n"
        "    filter_chains:\n"
        "    - filters:\n"
        "      - name: envoy.filters.network.wasm\n"
        "        typed_config:\n"
        "          \"@type\": type.googleapis.com/udpa.type.v1.TypedStruct\n"
        "          type_url: type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm\n"
        "          value:\n"
        "            config:\n"
        "              root_id: tcp\n"
        "              vm_config: { runtime: envoy.wasm.runtime.null, code: { local: { "
        "inline_string: envoy.wasm.tcp } } }\n"
        "      - name: envoy.filters.network.tcp_proxy\n"
        "        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network."
        "tcp_proxy.v3.TcpProxy, stat_prefix: s, cluster: c}\n";
    sl_config_t *cfg = load_ok(wasm_net);
    const sl_listener_config_t *l = &cfg->listeners[0];
    T_ASSERT(l->address.is_ipv6);
    T_EQ_INT(l->filter_chains[0].filters[0].kind, SL_NETWORK_FILTER_WASM);
    const sl_wasm_plugin_config_t *p = l->filter_chains[0].filters[0].wasm;
    T_EQ_STR(p->root_id, "tcp");
    T_EQ_INT(p->vm.runtime, SL_WASM_RUNTIME_NULL);
    T_EQ_MEM(p->vm.code.inline_code.ptr, p->vm.code.inline_code.len, "envoy.wasm.tcp", 14);
    sl_config_free(cfg);
}

TEST(rejected_keys_name_why)
{
    load_err(base(NULL, NULL, NULL, NULL, NULL, "dynamic_resources: {}\n"),
             "'dynamic_resources' in bootstrap is not supported (no xDS", "dynamic_resources");
    load_err(base("    transport_socket: {}\n", NULL, NULL, NULL, NULL, NULL),
             "'transport_socket' in cluster is not supported", "transport_socket");
    load_err(base(NULL, NULL, "          rds: {}\n", NULL, NULL, NULL), "'rds'", "rds");
    const char *redirect = "              - match: { prefix: /old }\n"
                           "                redirect: { path_redirect: /new }\n";
    load_err(base(NULL, NULL, NULL, redirect, NULL, NULL), "'redirect' in route", "redirect");
}

TEST(route_matching_errors)
{
    const char *two = "              - match: { prefix: /a, path: /a }\n"
                      "                route: { cluster: backend }\n";
    load_err(base(NULL, NULL, NULL, two, NULL, NULL), "exactly one of 'prefix', 'path'",
             "prefix: /a");
    const char *bad_re = "              - match: { safe_regex: { google_re2: {}, regex: \"(\" } }\n"
                         "                route: { cluster: backend }\n";
    load_err(base(NULL, NULL, NULL, bad_re, NULL, NULL), "does not compile", "regex: \"(\"");
    const char *no_action = "              - match: { prefix: /a }\n";
    load_err(base(NULL, NULL, NULL, no_action, NULL, NULL),
             "exactly one of 'route' and 'direct_response'", "prefix: /a");
    const char *status = "              - match: { prefix: /a }\n"
                         "                direct_response: { status: 700 }\n";
    load_err(base(NULL, NULL, NULL, status, NULL, NULL), "between 100 and 599", "700");
    const char *hm = "              - match:\n"
                     "                  prefix: /a\n"
                     "                  headers: [{ name: x, exact_match: a, prefix_match: b }]\n"
                     "                route: { cluster: backend }\n";
    load_err(base(NULL, NULL, NULL, hm, NULL, NULL), "more than one match specifier", "name: x");
}

TEST(duplicate_domain_across_virtual_hosts)
{
    const char *y = base(NULL, NULL, NULL, NULL, NULL, NULL);
    char buf[16384];
    const char *cut = strstr(y, "          http_filters:");
    snprintf(buf, sizeof(buf),
             "%.*s            - name: again\n"
             "              domains: [\"*\"]\n%s",
             (int)(cut - y), y, cut);
    load_err(buf, "domain '*' of virtual host 'again' is also in virtual host 'all'",
             "name: again");
    const char *bad = "            - name: two\n              domains: [\"a.*.b\"]\n";
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(cut - y), y, bad, cut);
    load_err(buf, "one '*'", "a.*.b");
}

TEST(header_matchers_all_forms)
{
    const char *routes =
        "              - match:\n"
        "                  prefix: /\n"
        "                  headers:\n"
        "                  - { name: A, present_match: false }\n"
        "                  - { name: b, string_match: { suffix: .x } }\n"
        "                  - { name: c, contains_match: mid, invert_match: true }\n"
        "                  - { name: d }\n"
        "                route: { cluster: backend, prefix_rewrite: \"\", timeout: 0s }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, routes, NULL, NULL));
    const sl_route_config_t *r = &first_hcm(cfg)->route_config.vhosts[0].routes[0];
    T_EQ_UINT(r->n_headers, 4);
    T_EQ_STR(r->headers[0].name, "a");
    T_EQ_INT(r->headers[0].kind, SL_HEADER_MATCH_PRESENT);
    T_ASSERT(r->headers[0].invert);
    T_EQ_INT(r->headers[1].kind, SL_HEADER_MATCH_SUFFIX);
    T_EQ_STR(r->headers[1].value, ".x");
    T_EQ_INT(r->headers[2].kind, SL_HEADER_MATCH_CONTAINS);
    T_ASSERT(r->headers[2].invert);
    T_EQ_INT(r->headers[3].kind, SL_HEADER_MATCH_PRESENT);
    T_ASSERT(!r->headers[3].invert);
    T_EQ_STR(r->prefix_rewrite, "");
    T_EQ_UINT(r->timeout_ms, 0);
    sl_config_free(cfg);
}

TEST(regex_rewrite_loads_and_is_checked)
{
    const char *ok =
        "              - match: { safe_regex: { regex: \"/svc/([^/]+)(/.*)\" } }\n"
        "                route:\n"
        "                  cluster: backend\n"
        "                  regex_rewrite:\n"
        "                    pattern: { google_re2: {}, regex: \"^/svc/([^/]+)(/.*)$\" }\n"
        "                    substitution: \"\\\\2/instance/\\\\1\"\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, ok, NULL, NULL));
    const sl_route_config_t *r = &first_hcm(cfg)->route_config.vhosts[0].routes[0];
    T_EQ_STR(r->regex_rewrite_pattern, "^/svc/([^/]+)(/.*)$");
    T_EQ_STR(r->regex_rewrite_substitution, "\\2/instance/\\1");
    T_ASSERT(r->prefix_rewrite == NULL);
    sl_config_free(cfg);

    const char *both = "              - match: { safe_regex: { regex: \"/a.*\" } }\n"
                       "                route: { cluster: backend, prefix_rewrite: /b,\n"
                       "                         regex_rewrite: { pattern: { regex: a },\n"
                       "                                          substitution: b } }\n";
    load_err(base(NULL, NULL, NULL, both, NULL, NULL),
             "specify only one of prefix_rewrite and regex_rewrite", "regex_rewrite");
    const char *group = "              - match: { prefix: / }\n"
                        "                route: { cluster: backend, regex_rewrite:\n"
                        "                         { pattern: { regex: \"(a)\" },\n"
                        "                           substitution: \"x\\\\2\" } }\n";
    load_err(base(NULL, NULL, NULL, group, NULL, NULL), "names group \\2 but the pattern has 1",
             "substitution");
    const char *esc = "              - match: { prefix: / }\n"
                      "                route: { cluster: backend, regex_rewrite:\n"
                      "                         { pattern: { regex: \"a\" },\n"
                      "                           substitution: \"\\\\x\" } }\n";
    load_err(base(NULL, NULL, NULL, esc, NULL, NULL), "must be followed by a digit", "\\\\x");
    const char *bad = "              - match: { prefix: / }\n"
                      "                route: { cluster: backend, regex_rewrite:\n"
                      "                         { pattern: { regex: \"(a\" }, substitution: b } }\n";
    load_err(base(NULL, NULL, NULL, bad, NULL, NULL), "regex_rewrite pattern", "(a");
}

TEST(upgrade_configs_load_on_the_manager_and_routes)
{
    const char *hcm = "          upgrade_configs:\n"
                      "          - upgrade_type: websocket\n"
                      "          - { upgrade_type: h2c, enabled: false }\n";
    const char *routes = "              - match: { prefix: /ws }\n"
                         "                route: { cluster: backend, upgrade_configs:\n"
                         "                         [{ upgrade_type: WebSocket, enabled: false }] }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, hcm, routes, NULL, NULL));
    const sl_hcm_config_t *h = first_hcm(cfg);
    T_EQ_UINT(h->n_upgrades, 2);
    T_EQ_STR(h->upgrades[0].type, "websocket");
    T_ASSERT(h->upgrades[0].enabled);
    T_EQ_STR(h->upgrades[1].type, "h2c");
    T_ASSERT(!h->upgrades[1].enabled);
    const sl_route_config_t *r = &h->route_config.vhosts[0].routes[0];
    T_EQ_UINT(r->n_upgrades, 1);
    T_EQ_STR(r->upgrades[0].type, "WebSocket");
    T_ASSERT(!r->upgrades[0].enabled);
    T_EQ_UINT(cfg->n_warnings, 0);
    sl_config_free(cfg);

    load_err(base(NULL, NULL, "          upgrade_configs: [{ upgrade_type: CONNECT }]\n", NULL,
                  NULL, NULL),
             "CONNECT is not supported", "upgrade_configs");
    load_err(base(NULL, NULL,
                  "          upgrade_configs:\n"
                  "          - { upgrade_type: websocket, filters: [] }\n",
                  NULL, NULL, NULL),
             "filters", "filters: []");
    load_err(base(NULL, NULL, "          upgrade_configs: [{ enabled: true }]\n", NULL, NULL,
                  NULL),
             "upgrade_type", "enabled");
}

TEST(regexes_are_bounded_and_body_files_must_be_regular)
{
    const char *big = "              - match: { safe_regex: { regex: \"(a{100}){100}\" } }\n"
                      "                route: { cluster: backend }\n";
    load_err(base(NULL, NULL, NULL, big, NULL, NULL), "repeats too much", "a{100}");
    /* Found by the fuzzer: a run of '+' made glibc's regcomp copy the tree for each one. */
    const char *runs = "              - match: { safe_regex: { regex: \"^/a++++++++++++\" } }\n"
                       "                route: { cluster: backend }\n";
    load_err(base(NULL, NULL, NULL, runs, NULL, NULL), "two quantifiers in a row", "a+++");
    const char *nested =
        "              - match: { safe_regex: { regex: \"((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)"
        "+)+)+)+\" } }\n"
        "                route: { cluster: backend }\n";
    load_err(base(NULL, NULL, NULL, nested, NULL, NULL), "repeats too much", "((((");
    const char *backref = "              - match: { safe_regex: { regex: \"^/(a)\\\\1$\" } }\n"
                          "                route: { cluster: backend }\n";
    load_err(base(NULL, NULL, NULL, backref, NULL, NULL), "back-reference", "(a)");
    const char *fine =
        "              - match: { safe_regex: { regex: \"^/(v[0-9]+|api)/[a-z_]{1,32}"
        "(\\\\.json)?$\" } }\n"
        "                route: { cluster: backend }\n";
    sl_config_t *ok = load_ok(base(NULL, NULL, NULL, fine, NULL, NULL));
    T_EQ_STR(first_hcm(ok)->route_config.vhosts[0].routes[0].match_value,
             "^/(v[0-9]+|api)/[a-z_]{1,32}(\\.json)?$");
    sl_config_free(ok);
    const char *dev = "              - match: { prefix: /d }\n"
                      "                direct_response: { status: 200, body: { filename: "
                      "/dev/null } }\n";
    load_err(base(NULL, NULL, NULL, dev, NULL, NULL), "not a regular file", "/dev/null");
    char path[] = "/tmp/sl_config_body_XXXXXX";
    int fd = mkstemp(path);
    T_ASSERT(fd >= 0);
    T_EQ_INT(write(fd, "hello body", 10), 10);
    close(fd);
    char routes[512];
    snprintf(routes, sizeof(routes),
             "              - match: { prefix: /d }\n"
             "                direct_response: { status: 503, body: { filename: %s } }\n",
             path);
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, routes, NULL, NULL));
    unlink(path);
    const sl_route_config_t *r = &first_hcm(cfg)->route_config.vhosts[0].routes[0];
    T_EQ_UINT(r->status, 503);
    T_EQ_MEM(r->body.ptr, r->body.len, "hello body", 10);
    sl_config_free(cfg);
    leak_check();
}

/* ---- YAML-level behaviour ------------------------------------------------------------------- */

TEST(yaml_syntax_error_has_position)
{
    const char *y = "admin:\n  address: [1, 2\n";
    sl_config_t *cfg;
    sl_config_error_t err;
    T_EQ_INT(sl_config_load_string(y, strlen(y), "x.yaml", &cfg, &err), SL_ERR_CONFIG);
    T_ASSERT(strstr(err.message, "YAML syntax error") != NULL);
    T_ASSERT(err.line >= 2);
    T_ASSERT(strstr(err.message, "at line") != NULL);
}

TEST(empty_and_non_mapping_documents)
{
    sl_config_t *cfg;
    sl_config_error_t err;
    T_EQ_INT(sl_config_load_string("", 0, NULL, &cfg, &err), SL_ERR_CONFIG);
    T_ASSERT(strstr(err.message, "empty") != NULL);
    T_EQ_INT(sl_config_load_string("# nothing\n", 10, NULL, &cfg, &err), SL_ERR_CONFIG);
    load_err("- a\n- b\n", "must be a mapping", "- a");
    load_err("admin: {}\n---\nadmin: {}\n", "more than one YAML document", "---");
    load_err("admin: {}\n", "admin needs 'address'", "admin");
    load_err("static_resources: 5\n", "static_resources must be a mapping, got a scalar", "5");
    load_err("? [a]\n: b\n", "mapping keys must be plain strings", "[a]");
}

TEST(anchors_and_aliases)
{
    const char *y = "static_resources:\n"
                    "  clusters:\n"
                    "  - name: a\n"
                    "    connect_timeout: &t 2s\n"
                    "    circuit_breakers: &cb { thresholds: [{ max_connections: 7 }] }\n"
                    "  - name: b\n"
                    "    connect_timeout: *t\n"
                    "    circuit_breakers: *cb\n";
    sl_config_t *cfg = load_ok(y);
    T_EQ_UINT(cfg->clusters[1].connect_timeout_ms, 2000);
    T_EQ_UINT(cfg->clusters[1].circuit_breakers.max_connections, 7);
    sl_config_free(cfg);
    load_err("admin: *nope\n", "unknown YAML alias '*nope'", "*nope");
}

TEST(alias_bomb_and_deep_nesting_are_bounded)
{
    /* Nine levels of ten-fold aliases would be 10^9 nodes if expanded. */
    char y[4096];
    size_t n = (size_t)snprintf(y, sizeof(y), "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for (int i = 1; i < 9; i++)
        n += (size_t)snprintf(
            y + n, sizeof(y) - n, "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n",
            i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    sl_config_t *cfg;
    sl_config_error_t err;
    T_EQ_INT(sl_config_load_string(y, n, NULL, &cfg, &err), SL_ERR_LIMIT);
    T_ASSERT(strstr(err.message, "alias expansion") != NULL);

    char deep[512];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    T_EQ_INT(sl_config_load_string(deep, k, NULL, &cfg, &err), SL_ERR_LIMIT);
    T_ASSERT(strstr(err.message, "nesting deeper") != NULL);
    leak_check();
}

TEST(wrong_shapes_name_key)
{
    load_err(base(NULL, NULL, "          max_request_headers_kb: lots\n", NULL, NULL, NULL),
             "'max_request_headers_kb' in http_connection_manager must be a non-negative integer",
             "lots");
    load_err(base(NULL, NULL, "          max_request_headers_kb: 9000\n", NULL, NULL, NULL),
             "between 1 and 8192", "9000");
    load_err(base(NULL, NULL, "          generate_request_id: maybe\n", NULL, NULL, NULL),
             "must be true or false", "maybe");
    load_err(base(NULL, NULL, "          stat_prefix2: [x]\n", NULL, NULL, NULL),
             "unknown key 'stat_prefix2'", "stat_prefix2");
    load_err("static_resources: { clusters: {name: a} }\n",
             "'clusters' in static_resources must be a list, got a mapping", "clusters");
}

/* ---- API ------------------------------------------------------------------------------------ */

TEST(load_file_errors_and_refcount)
{
    sl_config_t *cfg = (sl_config_t *)1;
    sl_config_error_t err;
    T_EQ_INT(sl_config_load_file("/nonexistent/sluice.yaml", &cfg, &err), SL_ERR_IO);
    T_ASSERT(cfg == NULL);
    T_ASSERT(strstr(err.message, "/nonexistent/sluice.yaml") != NULL);
    T_EQ_UINT(err.line, 0);
    T_EQ_INT(sl_config_load_file(NULL, &cfg, NULL), SL_ERR_ARG);
    T_EQ_INT(sl_config_load_string("a", 1, NULL, NULL, NULL), SL_ERR_ARG);

    char path[] = "/tmp/sl_config_test_XXXXXX";
    int fd = mkstemp(path);
    T_ASSERT(fd >= 0);
    const char *y = base(NULL, NULL, NULL, NULL, NULL, NULL);
    T_EQ_INT(write(fd, y, strlen(y)), (long long)strlen(y));
    close(fd);
    T_EQ_INT(sl_config_load_file(path, &cfg, &err), SL_OK);
    unlink(path);
    T_EQ_STR(cfg->path, path);
    T_ASSERT(sl_config_ref(cfg) == cfg);
    sl_config_free(cfg);
    T_EQ_STR(cfg->clusters[0].name, "backend"); /* still alive: one reference left */
    sl_config_free(cfg);
    sl_config_free(NULL);
    leak_check();
}

TEST(type_table_and_names)
{
    T_EQ_STR(sl_config_type_name(SL_TYPE_HTTP_WASM), "envoy.extensions.filters.http.wasm.v3.Wasm");
    T_EQ_STR(sl_config_type_canonical(SL_TYPE_ROUTER), "envoy.filters.http.router");
    T_EQ_STR(sl_config_type_name(SL_TYPE_NONE), "");
    T_EQ_STR(sl_config_type_name((sl_config_type_t)999), "");
    T_EQ_STR(sl_cluster_type_str(SL_CLUSTER_LOGICAL_DNS), "LOGICAL_DNS");
    T_EQ_STR(sl_lb_policy_str(SL_LB_RANDOM), "RANDOM");
    T_EQ_STR(sl_wasm_runtime_str(SL_WASM_RUNTIME_AOT), "aot");
    T_EQ_STR(sl_wasm_failure_policy_str(SL_WASM_FAIL_RELOAD), "FAIL_RELOAD");
    T_EQ_STR(sl_http_filter_kind_str(SL_HTTP_FILTER_ADD_HEADER), "add_header");
    T_EQ_STR(sl_network_filter_kind_str(SL_NETWORK_FILTER_TCP_PROXY), "tcp_proxy");
    T_EQ_STR(sl_codec_type_str(SL_CODEC_HTTP2), "HTTP2");
    T_EQ_STR(sl_status_str(SL_ERR_CONFIG), "invalid configuration");
    T_EQ_STR(sl_status_str((sl_status_t)-1), "unknown status");
}

TEST(many_clusters_routes_and_domains)
{
    /* 2000 clusters, each with a route and a domain of its own: every reference resolves
     * through the sorted index, and a duplicate far from its twin is still found. */
    enum { N = 2000 };
    size_t cap = (size_t)N * 400 + 4096, n = 0;
    char *y = malloc(cap);
    T_ASSERT(y != NULL);
    n += (size_t)snprintf(y + n, cap - n, "static_resources:\n  clusters:\n");
    for (int i = N - 1; i >= 0; i--)
        n += (size_t)snprintf(y + n, cap - n, "  - name: c%d\n", i);
    n += (size_t)snprintf(y + n, cap - n,
                          "  listeners:\n"
                          "  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
                          "    filter_chains:\n"
                          "    - filters:\n"
                          "      - name: envoy.filters.network.http_connection_manager\n"
                          "        typed_config:\n"
                          "          \"@type\": type.googleapis.com/envoy.extensions.filters."
                          "network.http_connection_manager.v3.HttpConnectionManager\n"
                          "          stat_prefix: s\n"
                          "          http_filters: [{name: envoy.filters.http.router}]\n"
                          "          route_config:\n"
                          "            virtual_hosts:\n");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(
            y + n, cap - n,
            "            - name: v%d\n"
            "              domains: [h%d.example.com]\n"
            "              routes: [{match: {prefix: /}, route: {cluster: c%d}}]\n",
            i, i, i);
    sl_config_t *cfg = load_ok(y);
    T_EQ_UINT(cfg->n_clusters, N);
    T_EQ_STR(cfg->clusters[0].name, "c1999");
    const sl_route_table_config_t *rt = &first_hcm(cfg)->route_config;
    T_EQ_UINT(rt->n_vhosts, N);
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        const sl_cluster_config_t *c = sl_config_find_cluster(cfg, name);
        T_ASSERT(c != NULL);
        T_EQ_STR(c->name, name);
        T_EQ_UINT(c->index, (unsigned)(N - 1 - i));
        T_ASSERT(rt->vhosts[i].routes[0].cluster_config == c);
    }
    T_ASSERT(sl_config_find_cluster(cfg, "c2000") == NULL);
    T_ASSERT(sl_config_find_cluster(cfg, "") == NULL);
    sl_config_free(cfg);

    /* The same domain in two far-apart virtual hosts. */
    char *d = strstr(y, "[h1999.example.com]");
    T_ASSERT(d != NULL);
    memcpy(d + 1, "h0007", 5); /* "h0007" is not "h7": still unique */
    cfg = load_ok(y);
    sl_config_free(cfg);
    memcpy(d + 1, "h1000", 5);
    load_err(y,
             "domain 'h1000.example.com' of virtual host 'v1999' is also in virtual host "
             "'v1000'",
             "- name: v1999\n");
    memcpy(d + 1, "h1999", 5);
    /* A duplicate cluster name far from its twin: reported on the later one. */
    char *c5 = strstr(y, "  - name: c5\n");
    T_ASSERT(c5 != NULL);
    memcpy(c5 + 11, "7", 1);
    char want[96];
    snprintf(want, sizeof(want), "duplicate cluster name 'c7' (first at line %u) at line %u:11",
             line_of(y, "  - name: c7\n"), line_of(y, "  - name: c6\n") + 1);
    load_err(y, want, NULL);
    free(y);
}

TEST(json_camel_case_names_and_json_syntax)
{
    /* Envoy's loader takes protobuf's JSON names too, and JSON is YAML. */
    const char *j =
        "{\"staticResources\": {\"clusters\": [{\"name\": \"c\", \"connectTimeout\": \"2s\","
        " \"lbPolicy\": \"RANDOM\", \"loadAssignment\": {\"endpoints\": [{\"lbEndpoints\": "
        "[{\"endpoint\": {\"address\": {\"socketAddress\": {\"address\": \"10.0.0.1\", "
        "\"portValue\": 81}}}}]}]}}],\n"
        " \"listeners\": [{\"address\": {\"socketAddress\": {\"address\": \"127.0.0.1\", "
        "\"portValue\": 0}}, \"filterChains\": [{\"filters\": [{\"name\": \"t\", "
        "\"typedConfig\": {\"@type\": \"type.googleapis.com/envoy.extensions.filters.network."
        "tcp_proxy.v3.TcpProxy\", \"statPrefix\": \"s\", \"cluster\": \"c\", "
        "\"idleTimeout\": \"7s\"}}]}]}]},\n"
        " \"admin\": {\"address\": {\"socketAddress\": {\"address\": \"::\", "
        "\"portValue\": 9901}}, \"accessLogPath\": \"/dev/null\"}}\n";
    sl_config_t *cfg = load_ok(j);
    T_EQ_UINT(cfg->clusters[0].connect_timeout_ms, 2000);
    T_EQ_INT(cfg->clusters[0].lb_policy, SL_LB_RANDOM);
    T_EQ_UINT(cfg->clusters[0].endpoints[0].address.port, 81);
    const sl_network_filter_config_t *f = &cfg->listeners[0].filter_chains[0].filters[0];
    T_EQ_INT(f->kind, SL_NETWORK_FILTER_TCP_PROXY);
    T_EQ_UINT(f->tcp_proxy->idle_timeout_ms, 7000);
    T_ASSERT(cfg->admin.address.is_ipv6);
    T_EQ_UINT(cfg->n_warnings, 1);
    T_EQ_STR(cfg->warnings[0].key, "accessLogPath");
    T_EQ_UINT(cfg->warnings[0].line, 3);
    sl_config_free(cfg);
    load_err("{\"admin\": {\"addres\": 1}}", "unknown key 'addres' in admin", "addres");
}

TEST(unknown_keys_are_reported_before_missing_ones)
{
    /* A misspelt required key is named as unknown rather than reported as missing. */
    load_err("admin: { addres: {} }\n", "unknown key 'addres' in admin", "addres");
    load_err(base(NULL, NULL, NULL,
                  "              - match: { prefix: /a }\n"
                  "                route: { clsuter: backend }\n",
                  NULL, NULL),
             "unknown key 'clsuter' in route action", "clsuter");
    load_err(base(NULL, NULL, NULL,
                  "              - mtach: { prefix: /a }\n"
                  "                route: { cluster: backend }\n",
                  NULL, NULL),
             "unknown key 'mtach' in route", "mtach");
    const char *f = "          - name: envoy.filters.http.wasm\n"
                    "            typed_config:\n"
                    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
                    "wasm.v3.Wasm\n"
                    "              config:\n"
                    "                vm_config: { code: { locl: { filename: a } } }\n";
    load_err(base(NULL, NULL, NULL, NULL, f, NULL), "unknown key 'locl' in code", "locl");
    load_err("static_resources: { clusters: [{ nmae: x }] }\n", "unknown key 'nmae' in cluster",
             "nmae");
}

TEST(bytes_that_are_not_yaml)
{
    sl_config_t *cfg = (sl_config_t *)1;
    sl_config_error_t err;
    static const char bad_utf8[] = "admin: \xff\xfe\n";
    T_EQ_INT(sl_config_load_string(bad_utf8, sizeof(bad_utf8) - 1, NULL, &cfg, &err),
             SL_ERR_CONFIG);
    T_ASSERT(cfg == NULL);
    T_ASSERT(strstr(err.message, "YAML syntax error") != NULL);
    static const char nul[] = "admin:\0 {}\n";
    T_EQ_INT(sl_config_load_string(nul, sizeof(nul) - 1, NULL, &cfg, &err), SL_ERR_CONFIG);
    T_ASSERT(err.message[0] != '\0');
    /* Over the size limit: refused before a byte is read. */
    T_EQ_INT(sl_config_load_string("", (size_t)SL_CONFIG_MAX_BYTES + 1, NULL, &cfg, &err),
             SL_ERR_LIMIT);
    T_ASSERT(strstr(err.message, "more than") != NULL);
    leak_check();
}

TEST(capability_restriction_and_reload_backoff)
{
    const char *f = "          - name: envoy.filters.http.wasm\n"
                    "            typed_config:\n"
                    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
                    "wasm.v3.Wasm\n"
                    "              config:\n"
                    "                failure_policy: FAIL_RELOAD\n"
                    "                reload_config: { backoff: { base_interval: 3s, max_interval: "
                    "9s } }\n"
                    "                allow_on_headers_stop_iteration: { value: true }\n"
                    "                capability_restriction_config: { allowed_capabilities: {} }\n"
                    "                vm_config: { code: { local: { filename: a } } }\n";
    sl_config_t *cfg = load_ok(base(NULL, NULL, NULL, NULL, f, NULL));
    const sl_wasm_plugin_config_t *p = first_hcm(cfg)->http_filters[0].wasm;
    T_EQ_INT(p->failure_policy, SL_WASM_FAIL_RELOAD);
    T_EQ_UINT(p->reload_base_interval_ms, 3000);
    T_ASSERT(p->allow_on_headers_stop_iteration);
    T_EQ_UINT(cfg->n_warnings, 2);
    T_EQ_STR(cfg->warnings[0].key, "capability_restriction_config");
    T_EQ_STR(cfg->warnings[1].key, "max_interval");
    sl_config_free(cfg);
}
