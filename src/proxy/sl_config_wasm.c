/* Loading Envoy's envoy.extensions.wasm.v3.PluginConfig and VmConfig (ABI reference, 12.1 and
 * 12.2): code sources, runtimes and their aliases, configurations, environment, limits. */
#include "proxy/sl_config_internal.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    sl_wasm_runtime_t runtime;
    bool alias; /* Envoy's name for an engine sluice replaces with its own */
} runtimes[] = {
    {"sluice.wasm.runtime.interp", SL_WASM_RUNTIME_INTERP, false},
    {"sluice.wasm.runtime.aot", SL_WASM_RUNTIME_AOT, false},
    {"sluice.wasm.runtime.null", SL_WASM_RUNTIME_NULL, false},
    {"envoy.wasm.runtime.v8", SL_WASM_RUNTIME_INTERP, true},
    {"envoy.wasm.runtime.wamr", SL_WASM_RUNTIME_INTERP, true},
    {"envoy.wasm.runtime.wasmtime", SL_WASM_RUNTIME_INTERP, true},
    {"envoy.wasm.runtime.wavm", SL_WASM_RUNTIME_INTERP, true},
    {"envoy.wasm.runtime.null", SL_WASM_RUNTIME_NULL, true},
};

static sl_status_t runtime(sl__ctx_t *c, const sl__node_t *vm, sl_wasm_vm_config_t *out)
{
    const sl__node_t *v = sl__get(vm, "runtime");
    out->runtime_name = "";
    out->runtime = SL_WASM_RUNTIME_INTERP;
    if (!v)
        return SL_OK;
    sl_status_t st = sl__want_scalar(c, v, "runtime", "vm_config");
    if (st != SL_OK)
        return st;
    out->runtime_name = v->str;
    if (v->len == 0)
        return SL_OK; /* Envoy: empty means the default engine */
    for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
        if (strcmp(v->str, runtimes[i].name) == 0) {
            out->runtime = runtimes[i].runtime;
            out->runtime_is_alias = runtimes[i].alias;
            return SL_OK;
        }
    return sl__fail(c, v,
                    "unknown Wasm runtime '%s' in vm_config (sluice.wasm.runtime.interp, "
                    ".aot, .null, or Envoy's envoy.wasm.runtime.v8, .wamr, .wasmtime, .wavm, "
                    ".null)",
                    v->str);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static sl_status_t remote_code(sl__ctx_t *c, const sl__node_t *n, sl_wasm_code_config_t *out)
{
    static const char *const keys[] = {"http_uri", "sha256", "retry_policy", NULL};
    static const char *const uri_keys[] = {"uri", "cluster", "timeout", NULL};
    static const char *const rp_keys[] = {"num_retries", "retry_back_off", NULL};
    static const char *const bo_keys[] = {"base_interval", "max_interval", NULL};
    const char *what = "remote code";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    out->kind = SL_WASM_CODE_REMOTE;
    out->num_retries = 1;
    out->retry_base_interval_ms = 1000;
    const sl__node_t *hu = sl__get(n, "http_uri");
    if (!hu)
        return sl__fail(c, n, "remote code needs 'http_uri'");
    if ((st = sl__map_open(c, hu, "http_uri", uri_keys, NULL)) ||
        (st = sl__str_req(c, hu, "uri", "http_uri", &out->uri)) ||
        (st = sl__str_req(c, hu, "cluster", "http_uri", &out->cluster)))
        return st;
    if (!sl__key(hu, "timeout"))
        return sl__fail(c, hu, "http_uri needs 'timeout'");
    if ((st = sl__duration_ms(c, hu, "timeout", "http_uri", &out->fetch_timeout_ms)) ||
        (st = sl__map_end(c, hu, "http_uri", NULL)))
        return st;
    out->cluster_config = sl_config_find_cluster(c->cfg, out->cluster);
    if (!out->cluster_config)
        return sl__fail(c, sl__get(hu, "cluster"), "http_uri names unknown cluster '%s'",
                        out->cluster);
    const sl__node_t *sha = sl__get(n, "sha256");
    if (!sha)
        return sl__fail(c, n, "remote code needs 'sha256'");
    if ((st = sl__want_scalar(c, sha, "sha256", what)) != SL_OK)
        return st;
    char *hex = sl__arena_strndup(c->arena, sha->str, sha->len);
    if (!hex)
        return sl__nomem(c);
    for (size_t i = 0; i < sha->len && sha->len == 64; i++) {
        int d = hexval(hex[i]);
        if (d < 0)
            break;
        if (hex[i] >= 'A' && hex[i] <= 'F')
            hex[i] = (char)(hex[i] - 'A' + 'a');
        out->sha256[i / 2] = (uint8_t)(out->sha256[i / 2] << 4 | d);
        if (i == 63)
            out->sha256_hex = hex;
    }
    if (!out->sha256_hex)
        return sl__fail(c, sha, "'sha256' in remote code must be 64 hex digits");
    const sl__node_t *rp = sl__get(n, "retry_policy");
    if (rp) {
        const sl__node_t *bo;
        if ((st = sl__map_open(c, rp, "retry_policy", rp_keys, NULL)) ||
            (st = sl__u32(c, rp, "num_retries", "retry_policy", 0, 1000, &out->num_retries)))
            return st;
        if ((bo = sl__get(rp, "retry_back_off"))) {
            if ((st = sl__map_open(c, bo, "retry_back_off", bo_keys, NULL)) ||
                (st = sl__duration_ms(c, bo, "base_interval", "retry_back_off",
                                      &out->retry_base_interval_ms)) ||
                (st = sl__duration_ms(c, bo, "max_interval", "retry_back_off",
                                      &out->retry_max_interval_ms)) ||
                (st = sl__map_end(c, bo, "retry_back_off", NULL)))
                return st;
            if (out->retry_base_interval_ms == 0)
                return sl__fail(c, bo,
                                "'base_interval' in retry_back_off must be at least "
                                "1ms");
        }
        if ((st = sl__map_end(c, rp, "retry_policy", NULL)) != SL_OK)
            return st;
    }
    if (out->retry_max_interval_ms == 0)
        out->retry_max_interval_ms = 10 * out->retry_base_interval_ms;
    if (out->retry_max_interval_ms < out->retry_base_interval_ms)
        return sl__fail(c, rp,
                        "'max_interval' in retry_back_off is shorter than "
                        "'base_interval'");
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t local_code(sl__ctx_t *c, const sl__node_t *n, sl_wasm_code_config_t *out)
{
    static const char *const keys[] = {"environment_variable", "filename", "inline_bytes",
                                       "inline_string", NULL};
    const char *what = "local code";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st == SL_OK)
        st = sl__reject(c, n, "environment_variable", what, "name a file or inline the code");
    if (st != SL_OK)
        return st;
    const sl__node_t *fn = sl__get(n, "filename"), *ib = sl__get(n, "inline_bytes"),
                     *is = sl__get(n, "inline_string");
    int count = !!fn + !!ib + !!is;
    if (count != 1)
        return sl__fail(c, n,
                        "local code needs exactly one of 'filename', 'inline_bytes', "
                        "'inline_string' (has %d)",
                        count);
    if (fn) {
        if ((st = sl__want_scalar(c, fn, "filename", what)) != SL_OK)
            return st;
        if (fn->len == 0)
            return sl__fail(c, fn, "'filename' in local code must not be empty");
        out->kind = SL_WASM_CODE_FILE;
        out->filename = fn->str;
    } else if (ib) {
        if ((st = sl__want_scalar(c, ib, "inline_bytes", what)) ||
            (st = sl__base64(c, ib, "'inline_bytes' in local code", &out->inline_code)))
            return st;
        out->kind = SL_WASM_CODE_INLINE_BYTES;
    } else {
        if ((st = sl__want_scalar(c, is, "inline_string", what)) != SL_OK)
            return st;
        out->kind = SL_WASM_CODE_INLINE_STRING;
        out->inline_code.ptr = is->len ? (const uint8_t *)is->str : NULL;
        out->inline_code.len = is->len;
    }
    if (out->kind != SL_WASM_CODE_FILE && out->inline_code.len == 0)
        return sl__fail(c, ib ? ib : is, "inline code in local code is empty");
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t code(sl__ctx_t *c, const sl__node_t *n, sl_wasm_code_config_t *out)
{
    static const char *const keys[] = {"local", "remote", NULL};
    sl_status_t st = sl__map_open(c, n, "code", keys, NULL);
    if (st != SL_OK)
        return st;
    out->filename = "";
    out->uri = "";
    out->cluster = "";
    out->sha256_hex = NULL;
    out->line = n->line;
    const sl__node_t *l = sl__get(n, "local"), *r = sl__get(n, "remote");
    if (!!l + !!r != 1)
        return sl__fail(c, n, "code needs exactly one of 'local' and 'remote'");
    st = l ? local_code(c, l, out) : remote_code(c, r, out);
    if (st == SL_OK && !out->sha256_hex)
        out->sha256_hex = "";
    return st ? st : sl__map_end(c, n, "code", NULL);
}

/* Most environment entries one VM may get (WASI environ_get copies them all). */
#define MAX_ENV 1024

static sl_status_t environment(sl__ctx_t *c, const sl__node_t *n, sl_wasm_vm_config_t *out)
{
    static const char *const env_keys[] = {"host_env_keys", "key_values", NULL};
    const char *what = "environment_variables";
    sl_status_t st = sl__map_open(c, n, what, env_keys, NULL);
    if (st != SL_OK)
        return st;
    const sl__node_t *hk = sl__get(n, "host_env_keys"), *kv = sl__get(n, "key_values");
    if ((hk && (st = sl__want_seq(c, hk, "host_env_keys", what))) ||
        (kv && (st = sl__want_map(c, kv, "key_values", what))))
        return st;
    size_t nh = hk ? hk->n : 0, nk = kv ? kv->n : 0;
    if (nh + nk > MAX_ENV)
        return sl__fail(c, n, "environment_variables has more than %d entries", MAX_ENV);
    const char **keys = nh ? sl__arena_alloc(c->arena, nh * sizeof(*keys)) : NULL;
    sl_config_kv_t *kvs = nk ? sl__arena_alloc(c->arena, nk * sizeof(*kvs)) : NULL;
    sl_config_kv_t *env = nh + nk ? sl__arena_alloc(c->arena, (nh + nk) * sizeof(*env)) : NULL;
    if ((nh && !keys) || (nk && !kvs) || (nh + nk && !env))
        return sl__nomem(c);
    for (size_t i = 0; i < nk; i++) {
        const sl__node_t *k = kv->items[2 * i], *v = kv->items[2 * i + 1];
        kv->used[i] = true;
        if (sl__is_null(v))
            v = NULL;
        else if ((st = sl__want_scalar(c, v, k->str, "key_values")) != SL_OK)
            return st;
        kvs[i].key = k->str;
        kvs[i].value = v ? v->str : "";
    }
    size_t ne = 0;
    for (size_t i = 0; i < nh; i++) {
        const sl__node_t *k = hk->items[i];
        if ((st = sl__want_scalar(c, k, "host_env_keys", what)) != SL_OK)
            return st;
        for (size_t j = 0; j < nk; j++)
            if (strcmp(kvs[j].key, k->str) == 0)
                return sl__fail(c, k,
                                "environment variable '%s' is in both host_env_keys "
                                "and key_values",
                                k->str);
        keys[i] = k->str;
        /* Read once at load: the configuration is immutable afterwards. */
        const char *val = getenv(k->str);
        if (val) {
            env[ne].key = k->str;
            if (!(env[ne].value = sl__arena_strndup(c->arena, val, strlen(val))))
                return sl__nomem(c);
            ne++;
        }
    }
    for (size_t i = 0; i < nk; i++)
        env[ne++] = kvs[i];
    out->host_env_keys = keys;
    out->n_host_env_keys = nh;
    out->key_values = kvs;
    out->n_key_values = nk;
    out->env = ne ? env : NULL;
    out->n_env = ne;
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t limits(sl__ctx_t *c, const sl__node_t *n, sl_wasm_plugin_config_t *out)
{
    const char *what = "sluice_limits";
    static const char *const keys[] = {"callback_deadline", "max_memory_bytes",
                                       "shared_queue_max_items", NULL};
    uint64_t deadline = out->deadline_ms, queue_max = 0;
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st == SL_OK)
        st = sl__duration_ms(c, n, "callback_deadline", what, &deadline);
    if (st == SL_OK)
        st = sl__u64(c, n, "max_memory_bytes", what, 65536, 4294967296ull, &out->max_memory_bytes);
    if (st == SL_OK)
        st = sl__u64(c, n, "shared_queue_max_items", what, 1, 100000000, &queue_max);
    if (st != SL_OK)
        return st;
    if (deadline == 0 || deadline > 60000)
        return sl__fail(c, sl__get(n, "callback_deadline"),
                        "'callback_deadline' in "
                        "sluice_limits must be between 1ms and 60s");
    out->deadline_ms = (uint32_t)deadline;
    out->queue_max_items = (uint32_t)queue_max;
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t vm_config(sl__ctx_t *c, const sl__node_t *n, sl_wasm_plugin_config_t *p)
{
    const char *what = "vm_config";
    static const char *const keys[] = {"vm_id",
                                       "runtime",
                                       "allow_precompiled",
                                       "nack_on_code_cache_miss",
                                       "configuration",
                                       "environment_variables",
                                       "sluice_limits",
                                       "code",
                                       NULL};
    sl_wasm_vm_config_t *out = &p->vm;
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    out->vm_id = "";
    out->line = n->line;
    if ((st = sl__str(c, n, "vm_id", what, &out->vm_id)) || (st = runtime(c, n, out)) ||
        (st = sl__bool(c, n, "allow_precompiled", what, &out->allow_precompiled)) ||
        (st = sl__bool(c, n, "nack_on_code_cache_miss", what, &out->nack_on_code_cache_miss)))
        return st;
    const sl__node_t *x;
    if ((x = sl__get(n, "configuration")) &&
        (st = sl__any_bytes(c, x, "'configuration' in vm_config", &out->configuration)))
        return st;
    if ((x = sl__get(n, "environment_variables")) && (st = environment(c, x, out)))
        return st;
    if ((x = sl__get(n, "sluice_limits")) && (st = limits(c, x, p)))
        return st;
    if (!(x = sl__get(n, "code")))
        return sl__fail(c, n, "vm_config needs 'code'");
    if ((st = code(c, x, &out->code)) != SL_OK)
        return st;
    if (out->runtime == SL_WASM_RUNTIME_NULL && out->code.kind != SL_WASM_CODE_INLINE_STRING)
        return sl__fail(c, x,
                        "the null runtime needs code.local.inline_string naming a "
                        "native plugin");
    return sl__map_end(c, n, what, NULL);
}

sl_status_t sl__wasm_plugin(sl__ctx_t *c, const sl__node_t *n, const char *what,
                            sl_wasm_plugin_config_t *out)
{
    static const char *const unsup[] = {"capability_restriction_config", NULL};
    static const char *const policies[] = {"UNSPECIFIED", "FAIL_RELOAD", "FAIL_CLOSED", "FAIL_OPEN",
                                           NULL};
    static const char *const keys[] = {"name",
                                       "root_id",
                                       "fail_open",
                                       "failure_policy",
                                       "allow_on_headers_stop_iteration",
                                       "reload_config",
                                       "configuration",
                                       "vm_config",
                                       NULL};
    static const char *const rc_keys[] = {"backoff", NULL};
    static const char *const bo_keys[] = {"base_interval", NULL};
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    out->name = "";
    out->root_id = "";
    out->reload_base_interval_ms = 1000;
    out->deadline_ms = SL_CONFIG_WASM_DEADLINE_MS_DEFAULT;
    out->line = n->line;
    int policy = 0;
    bool fail_open = false;
    if ((st = sl__str(c, n, "name", what, &out->name)) ||
        (st = sl__str(c, n, "root_id", what, &out->root_id)) ||
        (st = sl__bool(c, n, "fail_open", what, &fail_open)) ||
        (st = sl__enum(c, n, "failure_policy", what, policies, &policy)) ||
        (st = sl__bool(c, n, "allow_on_headers_stop_iteration", what,
                       &out->allow_on_headers_stop_iteration)))
        return st;
    if (fail_open && policy != 0)
        return sl__fail(c, sl__key(n, "failure_policy"),
                        "%s sets both 'fail_open' and "
                        "'failure_policy'; use failure_policy only",
                        what);
    static const sl_wasm_failure_policy_t map[] = {SL_WASM_FAIL_CLOSED, SL_WASM_FAIL_RELOAD,
                                                   SL_WASM_FAIL_CLOSED, SL_WASM_FAIL_OPEN};
    out->failure_policy = fail_open ? SL_WASM_FAIL_OPEN : map[policy];
    out->fail_open = out->failure_policy == SL_WASM_FAIL_OPEN;
    const sl__node_t *x;
    if ((x = sl__get(n, "reload_config"))) {
        const sl__node_t *bo;
        if ((st = sl__map_open(c, x, "reload_config", rc_keys, NULL)) != SL_OK)
            return st;
        if ((bo = sl__get(x, "backoff"))) {
            static const char *const bo_unsup[] = {"max_interval", NULL};
            if ((st = sl__map_open(c, bo, "backoff", bo_keys, bo_unsup)) ||
                (st = sl__duration_ms(c, bo, "base_interval", "backoff",
                                      &out->reload_base_interval_ms)) ||
                (st = sl__map_end(c, bo, "backoff", bo_unsup)))
                return st;
            if (out->reload_base_interval_ms == 0)
                return sl__fail(c, bo, "'base_interval' in backoff must be at least 1ms");
        }
        if ((st = sl__map_end(c, x, "reload_config", NULL)) != SL_OK)
            return st;
    }
    if ((x = sl__get(n, "configuration")) &&
        (st = sl__any_bytes(c, x, "'configuration' in plugin config", &out->configuration)))
        return st;
    if (!(x = sl__get(n, "vm_config")))
        return sl__fail(c, n, "%s needs 'vm_config'", what);
    if ((st = vm_config(c, x, out)) != SL_OK || (st = sl__map_end(c, n, what, unsup)) != SL_OK)
        return st;
    if (c->n_plugins == c->cap_plugins) {
        size_t cap = c->cap_plugins ? c->cap_plugins * 2 : 8;
        const sl_wasm_plugin_config_t **p = realloc(c->plugins, cap * sizeof(*p));
        if (!p)
            return sl__nomem(c);
        c->plugins = p;
        c->cap_plugins = cap;
    }
    out->index = (uint32_t)c->n_plugins;
    c->plugins[c->n_plugins++] = out;
    return SL_OK;
}
