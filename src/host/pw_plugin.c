/* Plugins: one filter's PluginConfig + VmConfig, copied and frozen, with its VM key
 * (vm_id, runtime, VM configuration, code hash) so threads can find a shared replica. */
#include "pw_internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

static uint8_t *dup_bytes(pw_slice_t b)
{
    if (!b.len)
        return NULL;
    uint8_t *p = malloc(b.len);
    if (p)
        memcpy(p, b.ptr, b.len);
    return p;
}

/* sha256 over length-prefixed fields, so ("ab","c") and ("a","bc") differ. */
static bool vm_key(pw_plugin_t *p)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return false;
    bool ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    const struct { const void *ptr; size_t len; } parts[] = {
        {p->vm_id, strlen(p->vm_id)},
        {p->runtime, strlen(p->runtime)},
        {p->vm_config, p->vm_config_len},
        {p->code->sha256, sizeof p->code->sha256},
    };
    for (size_t i = 0; ok && i < sizeof parts / sizeof parts[0]; i++) {
        uint64_t n = parts[i].len;
        ok = EVP_DigestUpdate(md, &n, sizeof n) == 1 &&
             (n == 0 || EVP_DigestUpdate(md, parts[i].ptr, n) == 1);
    }
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(md, p->vm_key, &len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void plugin_free(pw_plugin_t *p)
{
    for (size_t i = 0; i < p->n_env; i++) {
        free((char *)p->env[i].key);
        free((char *)p->env[i].value);
    }
    free(p->env);
    free(p->name);
    free(p->root_id);
    free(p->vm_id);
    free(p->runtime);
    free(p->vm_config);
    free(p->plugin_config);
    free(p->who);
    pw_code_unref(p->code);
    free(p);
}

pw_status_t pw_plugin_new(const pw_plugin_config_t *cfg, pw_code_t *code, pw_plugin_t **out,
                          pw_error_t *err)
{
    bool alias;
    *out = NULL;
    if (!pw_runtime_supported(cfg->runtime, &alias)) {
        if (err) {
            err->status = PW_ERR_ARG;
            snprintf(err->message, sizeof err->message,
                     "unknown Wasm runtime \"%s\" (sluice runs sluice.wasm.runtime.interp and "
                     "accepts Envoy's runtime names as aliases)", cfg->runtime);
        }
        return PW_ERR_ARG;
    }
    pw_plugin_t *p = calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    atomic_init(&p->refs, 1);
    p->code = pw_code_ref(code);
    p->name = dup_str(cfg->name);
    p->root_id = dup_str(cfg->root_id);
    p->vm_id = dup_str(cfg->vm_id);
    p->runtime = dup_str(cfg->runtime && *cfg->runtime ? cfg->runtime
                                                       : "sluice.wasm.runtime.interp");
    p->vm_config = dup_bytes(cfg->vm_configuration);
    p->vm_config_len = cfg->vm_configuration.len;
    p->plugin_config = dup_bytes(cfg->plugin_configuration);
    p->plugin_config_len = cfg->plugin_configuration.len;
    p->queue_max_items = cfg->queue_max_items;
    if (!p->name || !p->root_id || !p->vm_id || !p->runtime ||
        (p->vm_config_len && !p->vm_config) || (p->plugin_config_len && !p->plugin_config))
        goto nomem_p;
    if (cfg->n_env) {
        p->env = calloc(cfg->n_env, sizeof *p->env);
        if (!p->env)
            goto nomem_p;
        for (size_t i = 0; i < cfg->n_env; i++, p->n_env++) {
            p->env[i].key = dup_str(cfg->env[i].key);
            p->env[i].value = dup_str(cfg->env[i].value);
            if (!p->env[i].key || !p->env[i].value) {
                p->n_env++;
                goto nomem_p;
            }
        }
    }
    p->fail_open = cfg->fail_open;
    p->allow_headers_stop = cfg->allow_on_headers_stop_iteration;
    p->deadline_ns = (uint64_t)(cfg->deadline_ms ? cfg->deadline_ms : 100) * 1000000ull;
    uint64_t pages = cfg->max_memory_bytes ? cfg->max_memory_bytes / 65536 : 65536;
    p->max_memory_pages = (uint32_t)(pages == 0 ? 1 : pages > 65536 ? 65536 : pages);
    p->log_level = cfg->log_level;
    size_t wl = strlen(p->name) + strlen(p->root_id) + strlen(p->vm_id) + 3;
    p->who = malloc(wl);
    if (!p->who)
        goto nomem_p;
    snprintf(p->who, wl, "%s %s %s", p->name, p->root_id, p->vm_id);
    if (!vm_key(p))
        goto nomem_p;
    *out = p;
    return PW_OK;
nomem_p:
    plugin_free(p);
nomem:
    if (err) {
        err->status = PW_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "out of memory creating plugin");
    }
    return PW_ERR_NOMEM;
}

pw_plugin_t *pw_plugin_ref(pw_plugin_t *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void pw_plugin_unref(pw_plugin_t *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1)
        plugin_free(p);
}

const char *pw_plugin_name(const pw_plugin_t *p) { return p->name; }
bool pw_plugin_fail_open(const pw_plugin_t *p) { return p->fail_open; }
