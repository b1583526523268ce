/* Loading a configuration: the bootstrap's top level (node, admin, static resources, Wasm
 * services) and the public API: load, reference counting, lookups and names. */
#include "proxy/sl_config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------------------- */

const sl__node_t *sl__empty_map(sl__ctx_t *c, const sl__node_t *at)
{
    sl__node_t *n = sl__arena_alloc(c->arena, sizeof(*n));
    if (n) {
        n->kind = SL__N_MAP;
        n->line = at->line;
        n->column = at->column;
    }
    return n;
}

void *sl__array(sl__ctx_t *c, size_t n, size_t size)
{
    return n ? sl__arena_alloc(c->arena, n * size) : NULL;
}

/* ---- top level ----------------------------------------------------------------------------- */

static sl_status_t node_info(sl__ctx_t *c, const sl__node_t *n)
{
    static const char *const unsup[] = {"metadata",
                                        "locality",
                                        "user_agent_name",
                                        "user_agent_version",
                                        "user_agent_build_version",
                                        "extensions",
                                        "client_features",
                                        "listening_addresses",
                                        "dynamic_parameters",
                                        NULL};
    static const char *const keys[] = {"id", "cluster", NULL};
    sl_status_t st = sl__map_open(c, n, "node", keys, unsup);
    if (st == SL_OK)
        st = sl__str(c, n, "id", "node", &c->cfg->node_id);
    if (st == SL_OK)
        st = sl__str(c, n, "cluster", "node", &c->cfg->node_cluster);
    return st ? st : sl__map_end(c, n, "node", unsup);
}

static sl_status_t admin(sl__ctx_t *c, const sl__node_t *n)
{
    static const char *const unsup[] = {
        "access_log_path",          "access_log", "profile_path", "socket_options",
        "ignore_global_conn_limit", NULL};
    static const char *const keys[] = {"address", NULL};
    sl_status_t st = sl__map_open(c, n, "admin", keys, unsup);
    if (st != SL_OK)
        return st;
    const sl__node_t *a = sl__get(n, "address");
    if (!a)
        return sl__fail(c, n, "admin needs 'address'");
    if ((st = sl__address(c, a, "admin", true, true, &c->cfg->admin.address)) != SL_OK)
        return st;
    c->cfg->admin.present = true;
    return sl__map_end(c, n, "admin", unsup);
}

static sl_status_t static_resources(sl__ctx_t *c, const sl__node_t *n)
{
    static const char *const unsup[] = {"secrets", NULL};
    static const char *const keys[] = {"clusters", "listeners", NULL};
    sl_status_t st = sl__map_open(c, n, "static_resources", keys, unsup);
    if (st != SL_OK)
        return st;
    /* Clusters first, whatever the written order, so every reference resolves at once. */
    const sl__node_t *cl = sl__get(n, "clusters");
    if (cl && (st = sl__clusters(c, cl)) != SL_OK)
        return st;
    const sl__node_t *ls = sl__get(n, "listeners");
    if (ls && (st = sl__listeners(c, ls)) != SL_OK)
        return st;
    return sl__map_end(c, n, "static_resources", unsup);
}

static sl_status_t wasm_service(sl__ctx_t *c, const sl__node_t *n, sl_wasm_service_config_t *out)
{
    static const char *const keys[] = {"name", "typed_config", NULL};
    static const char *const svc_keys[] = {"singleton", "config", NULL};
    const char *what = "bootstrap extension";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    out->name = "";
    out->line = n->line;
    if ((st = sl__str(c, n, "name", what, &out->name)) != SL_OK)
        return st;
    const sl__node_t *tc = sl__get(n, "typed_config");
    if (!tc)
        return sl__fail(c, n, "bootstrap extension '%s' needs 'typed_config'", out->name);
    sl_config_type_t type;
    const sl__node_t *msg;
    if ((st = sl__typed(c, tc, "typed_config of a bootstrap extension", &type, &msg)) != SL_OK)
        return st;
    if (type != SL_TYPE_WASM_SERVICE)
        return sl__fail(c, sl__key(n, "typed_config"),
                        "bootstrap extension '%s' has type %s; only %s is supported", out->name,
                        sl_config_type_name(type), sl_config_type_name(SL_TYPE_WASM_SERVICE));
    if ((st = sl__map_keys(c, msg, "WasmService", svc_keys, NULL)) ||
        (st = sl__bool(c, msg, "singleton", "WasmService", &out->singleton)))
        return st;
    const sl__node_t *pc = sl__get(msg, "config");
    if (!pc)
        return sl__fail(c, msg, "WasmService needs 'config'");
    if ((st = sl__wasm_plugin(c, pc, "config of WasmService", &out->plugin)) ||
        (st = sl__map_end(c, msg, "WasmService", NULL)))
        return st;
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t bootstrap_extensions(sl__ctx_t *c, const sl__node_t *seq)
{
    sl_status_t st = sl__want_seq(c, seq, "bootstrap_extensions", "bootstrap");
    if (st != SL_OK)
        return st;
    sl_wasm_service_config_t *arr = sl__array(c, seq->n, sizeof(*arr));
    if (seq->n && !arr)
        return sl__nomem(c);
    for (size_t i = 0; i < seq->n; i++)
        if ((st = wasm_service(c, seq->items[i], &arr[i])) != SL_OK)
            return st;
    c->cfg->wasm_services = arr;
    c->cfg->n_wasm_services = seq->n;
    return SL_OK;
}

static sl_status_t bootstrap(sl__ctx_t *c, const sl__node_t *root)
{
    static const char *const unsup[] = {"layered_runtime",
                                        "runtime",
                                        "stats_config",
                                        "stats_sinks",
                                        "stats_flush_interval",
                                        "stats_flush_on_admin",
                                        "overload_manager",
                                        "cluster_manager",
                                        "watchdog",
                                        "watchdogs",
                                        "tracing",
                                        "hds_config",
                                        "flags_path",
                                        "fatal_actions",
                                        "default_regex_engine",
                                        "enable_dispatcher_stats",
                                        "header_prefix",
                                        "typed_dns_resolver_config",
                                        "use_tcp_for_dns_lookups",
                                        "dns_resolution_config",
                                        "stats_server_version_override",
                                        "node_context_params",
                                        "inline_headers",
                                        "perf_tracing_file_path",
                                        "default_socket_interface",
                                        "certificate_provider_instances",
                                        "xds_delegate_extension",
                                        "xds_config_tracker_extension",
                                        "listener_manager",
                                        "application_log_config",
                                        "grpc_async_client_manager_config",
                                        "memory_allocator_manager",
                                        "default_config_validators",
                                        "config_sources",
                                        "stats_eviction_interval",
                                        NULL};
    static const char *const keys[] = {
        "node", "static_resources", "admin", "bootstrap_extensions", "dynamic_resources", NULL};
    sl_status_t st = sl__map_open(c, root, "bootstrap", keys, unsup);
    if (st == SL_OK)
        st = sl__reject(c, root, "dynamic_resources", "bootstrap",
                        "no xDS; put listeners and clusters under static_resources");
    if (st != SL_OK)
        return st;
    const sl__node_t *n;
    if ((n = sl__get(root, "node")) && (st = node_info(c, n)) != SL_OK)
        return st;
    if ((n = sl__get(root, "static_resources")) && (st = static_resources(c, n)) != SL_OK)
        return st;
    if ((n = sl__get(root, "admin")) && (st = admin(c, n)) != SL_OK)
        return st;
    if ((n = sl__get(root, "bootstrap_extensions")) && (st = bootstrap_extensions(c, n)) != SL_OK)
        return st;
    return sl__map_end(c, root, "bootstrap", unsup);
}

/* ---- public API ---------------------------------------------------------------------------- */

/* The lists gathered while loading (malloc'd, they grow) move into the arena. */
static sl_status_t move_lists(sl__ctx_t *c)
{
    sl_config_warning_t *w = sl__array(c, c->n_warnings, sizeof(*w));
    const sl_wasm_plugin_config_t **p = sl__array(c, c->n_plugins, sizeof(*p));
    if ((c->n_warnings && !w) || (c->n_plugins && !p))
        return sl__nomem(c);
    if (c->n_warnings)
        memcpy(w, c->warnings, c->n_warnings * sizeof(*w));
    if (c->n_plugins)
        memcpy(p, c->plugins, c->n_plugins * sizeof(*p));
    c->cfg->warnings = w;
    c->cfg->n_warnings = c->n_warnings;
    c->cfg->wasm_plugins = p;
    c->cfg->n_wasm_plugins = c->n_plugins;
    return SL_OK;
}

static void set_file(sl_config_error_t *err, const char *name)
{
    snprintf(err->file, sizeof(err->file), "%s", name);
}

sl_status_t sl_config_load_string(const char *yaml, size_t len, const char *name, sl_config_t **out,
                                  sl_config_error_t *err)
{
    sl_config_error_t local;
    if (!err)
        err = &local;
    memset(err, 0, sizeof(*err));
    if (!name)
        name = "<string>";
    set_file(err, name);
    if (!out || (!yaml && len))
        return sl__fail_status(&(sl__ctx_t){.err = err}, SL_ERR_ARG, 0, 0,
                               "sl_config_load_string: NULL argument");
    *out = NULL;
    if (len > SL_CONFIG_MAX_BYTES)
        return sl__fail_status(&(sl__ctx_t){.err = err}, SL_ERR_LIMIT, 0, 0,
                               "configuration is %zu bytes, more than the %u allowed", len,
                               SL_CONFIG_MAX_BYTES);
    sl__arena_t arena = {0};
    sl__ctx_t c = {.arena = &arena, .err = err};
    sl_status_t st;
    struct sl_config_private *priv = sl__arena_alloc(&arena, sizeof(*priv));
    c.cfg = sl__arena_alloc(&arena, sizeof(*c.cfg));
    if (!priv || !c.cfg || !(c.cfg->path = sl__arena_strndup(&arena, name, strlen(name)))) {
        st = sl__nomem(&c);
        goto fail;
    }
    c.cfg->priv_ = priv; /* its arena and count are filled in once the load succeeds */
    c.cfg->node_id = "";
    c.cfg->node_cluster = "";
    c.cfg->admin.address.address = "";
    sl__node_t *root;
    if ((st = sl__yaml_parse(&c, yaml ? yaml : "", len, &root)) != SL_OK ||
        (st = bootstrap(&c, root)) != SL_OK)
        goto fail;
    if ((st = move_lists(&c)) != SL_OK)
        goto fail;
    free(c.warnings);
    free(c.plugins);
    atomic_init(&priv->refs, 1);
    priv->arena = arena; /* the arena now owns itself through the config */
    *out = c.cfg;
    return SL_OK;
fail:
    free(c.warnings);
    free(c.plugins);
    sl__arena_dispose(&arena);
    return st;
}

sl_status_t sl_config_load_file(const char *path, sl_config_t **out, sl_config_error_t *err)
{
    sl_config_error_t local;
    if (!err)
        err = &local;
    memset(err, 0, sizeof(*err));
    sl__ctx_t c = {.err = err};
    if (!path || !out)
        return sl__fail_status(&c, SL_ERR_ARG, 0, 0, "sl_config_load_file: NULL argument");
    set_file(err, path);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl__fail_status(&c, SL_ERR_IO, 0, 0, "cannot open '%s': %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    sl_status_t st = SL_OK;
    for (;;) {
        if (len == cap) {
            if (cap > SL_CONFIG_MAX_BYTES) {
                st = sl__fail_status(&c, SL_ERR_LIMIT, 0, 0, "'%s' is larger than %u bytes", path,
                                     SL_CONFIG_MAX_BYTES);
                goto done;
            }
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                st = sl__nomem(&c);
                goto done;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                st = sl__fail_status(&c, SL_ERR_IO, 0, 0, "cannot read '%s': %s", path,
                                     strerror(errno));
            break;
        }
    }
    if (st == SL_OK)
        st = sl_config_load_string(buf, len, path, out, err);
done:
    free(buf);
    fclose(f);
    return st;
}

sl_config_t *sl_config_ref(sl_config_t *cfg)
{
    if (cfg)
        atomic_fetch_add_explicit(&cfg->priv_->refs, 1, memory_order_relaxed);
    return cfg;
}

void sl_config_free(sl_config_t *cfg)
{
    if (!cfg || atomic_fetch_sub_explicit(&cfg->priv_->refs, 1, memory_order_acq_rel) != 1)
        return;
    sl__arena_t arena = cfg->priv_->arena; /* copy: the struct lives in the arena it names */
    sl__arena_dispose(&arena);
}

const sl_cluster_config_t *sl_config_find_cluster(const sl_config_t *cfg, const char *name)
{
    if (!cfg || !name || !cfg->priv_->clusters_by_name)
        return NULL;
    const sl_cluster_config_t *const *idx = cfg->priv_->clusters_by_name;
    size_t lo = 0, hi = cfg->n_clusters;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(idx[mid]->name, name);
        if (r == 0)
            return idx[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const sl_listener_config_t *sl_config_find_listener(const sl_config_t *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_listeners; i++)
        if (strcmp(cfg->listeners[i].name, name) == 0)
            return &cfg->listeners[i];
    return NULL;
}

/* ---- names --------------------------------------------------------------------------------- */

#define NAME_OF(arr, v) ((unsigned)(v) < sizeof(arr) / sizeof(arr[0]) ? arr[v] : "?")

const char *sl_cluster_type_str(sl_cluster_type_t t)
{
    static const char *const n[] = {"STATIC", "STRICT_DNS", "LOGICAL_DNS"};
    return NAME_OF(n, t);
}

const char *sl_lb_policy_str(sl_lb_policy_t p)
{
    static const char *const n[] = {"ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"};
    return NAME_OF(n, p);
}

const char *sl_wasm_runtime_str(sl_wasm_runtime_t r)
{
    static const char *const n[] = {"interp", "aot", "null"};
    return NAME_OF(n, r);
}

const char *sl_wasm_failure_policy_str(sl_wasm_failure_policy_t p)
{
    static const char *const n[] = {"FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"};
    return NAME_OF(n, p);
}

const char *sl_http_filter_kind_str(sl_http_filter_kind_t k)
{
    static const char *const n[] = {"router", "wasm", "add_header"};
    return NAME_OF(n, k);
}

const char *sl_network_filter_kind_str(sl_network_filter_kind_t k)
{
    static const char *const n[] = {"http_connection_manager", "tcp_proxy", "wasm", "byte_count"};
    return NAME_OF(n, k);
}

const char *sl_codec_type_str(sl_codec_type_t c)
{
    static const char *const n[] = {"AUTO", "HTTP1", "HTTP2"};
    return NAME_OF(n, c);
}
