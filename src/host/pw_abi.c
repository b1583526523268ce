/* Proxy-Wasm ABI facts: status names, version detection from exports, the import and callback
 * tables a module is checked against at load, and runtime names (ABI reference 4, 5.17, 6). */
#include "pw_internal.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pw_status_str(pw_status_t s)
{
    switch (s) {
#define PW_X_(name, str)                                                                     \
    case name:                                                                               \
        return str;
        PW_STATUS_LIST(PW_X_)
#undef PW_X_
    }
    return "unknown status";
}

const char *pw_result_str(pw_result_t r)
{
    switch (r) {
#define PW_X_(name, val, str)                                                                \
    case name:                                                                               \
        return str;
        PW_RESULT_LIST(PW_X_)
#undef PW_X_
    }
    return "unknown result";
}

const char *pw_action_str(pw_action_t a)
{
    switch (a) {
    case PW_CONTINUE: return "Continue";
    case PW_STOP_ITERATION: return "StopIteration";
    case PW_STOP_ALL_BUFFER: return "StopAllIterationAndBuffer";
    case PW_STOP_ALL_WATERMARK: return "StopAllIterationAndWatermark";
    case PW_STOP_AND_BUFFER: return "StopIterationAndBuffer";
    case PW_STOP_AND_WATERMARK: return "StopIterationAndWatermark";
    case PW_STOP_NO_BUFFER: return "StopIterationNoBuffer";
    }
    return "unknown action";
}

static const struct {
    const char *name, *params, *results;
} cbs[PW_CB__COUNT] = {
#define PW_X_(id, n, p, r) [id] = {n, p, r},
    PW_CALLBACK_LIST(PW_X_)
#undef PW_X_
};

const char *pw__cb_name(pw_cb_t cb)
{
    return cb < PW_CB__COUNT ? cbs[cb].name : "?";
}

bool pw__sig_matches(const wa_functype_t *ft, const char *params, const char *results)
{
    size_t np = strlen(params), nr = strlen(results);
    if (ft->nparams != np || ft->nresults != nr)
        return false;
    for (size_t i = 0; i < np; i++)
        if (ft->params[i] != (params[i] == 'I' ? WA_I64 : WA_I32))
            return false;
    for (size_t i = 0; i < nr; i++)
        if (ft->results[i] != (results[i] == 'I' ? WA_I64 : WA_I32))
            return false;
    return true;
}

const pw_hostcall_t *pw__hostcall_find(const char *module, const char *name)
{
    static const pw_hostcall_t *const tables[] = {
        pw__hostcalls_core, pw__hostcalls_http, pw__hostcalls_props, pw__hostcalls_async,
    };
    if (strcmp(module, "env") != 0)
        return NULL;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const pw_hostcall_t *h = tables[t]; h->name; h++)
            if (strcmp(h->name, name) == 0)
                return h;
    return NULL;
}

/* ABI 1 (restricted phases): start-up may call every WASI function but these; proc_exit stays
 * allowed because TinyGo and Go end _start with it (ABI 4.4). */
unsigned pw__wasi_flags(const char *name)
{
    static const char *const not_at_start_up[] = {
        "fd_read", "fd_seek", "fd_close", "path_open", "sched_yield",
    };
    static const char *const in_allocator[] = {"fd_write", "clock_time_get", "poll_oneoff"};
    unsigned flags = PW_HC_ANY_PHASE;
    for (size_t i = 0; i < sizeof not_at_start_up / sizeof not_at_start_up[0]; i++)
        if (strcmp(name, not_at_start_up[i]) == 0)
            flags &= ~(unsigned)PW_HC_ANY_PHASE;
    for (size_t i = 0; i < sizeof in_allocator / sizeof in_allocator[0]; i++)
        if (strcmp(name, in_allocator[i]) == 0)
            flags |= PW_HC_IN_ALLOC;
    return flags;
}

static pw_status_t fail(pw_error_t *err, pw_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* vsnprintf: error messages are truncated to fit, which is fine for names. */
static pw_status_t fail(pw_error_t *err, pw_status_t st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->status = st;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* ABI 4.1: the first known marker in export order wins. */
static pw_abi_t detect_abi(const wa_module_t *m)
{
    size_t n = wa_module_export_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        wa_externtype_t t;
        if (wa_module_export(m, i, &name, &t) != WA_OK || t.kind != WA_EXTERN_FUNC)
            continue;
        if (strcmp(name, "proxy_abi_version_0_1_0") == 0)
            return PW_ABI_0_1_0;
        if (strcmp(name, "proxy_abi_version_0_2_0") == 0)
            return PW_ABI_0_2_0;
        if (strcmp(name, "proxy_abi_version_0_2_1") == 0)
            return PW_ABI_0_2_1;
    }
    return PW_ABI_UNKNOWN;
}

/* Every import must be one we provide (an env hostcall, or WASI from src/wasi), with the
 * exact type (ABI 4.5, 5.17, 9). */
static pw_status_t check_imports(const wa_module_t *m, pw_error_t *err)
{
    size_t n = wa_module_import_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *mod, *name;
        wa_externtype_t t;
        if (wa_module_import(m, i, &mod, &name, &t) != WA_OK)
            return fail(err, PW_ERR_LINK, "import %zu: unreadable", i);
        if (t.kind != WA_EXTERN_FUNC)
            return fail(err, PW_ERR_LINK, "import %s.%s: only functions can be imported",
                        mod, name);
        wa_wasi_func_t wf;
        const pw_hostcall_t *h = NULL;
        bool typed;
        if (wa_wasi_lookup(NULL, mod, name, &wf))
            typed = wa_functype_eq(&t.u.func, &wf.type);
        else if ((h = pw__hostcall_find(mod, name)) != NULL)
            typed = pw__sig_matches(&t.u.func, h->params, h->results);
        else
            return fail(err, PW_ERR_LINK, "import %s.%s: not provided by sluice", mod, name);
        if (!typed)
            return fail(err, PW_ERR_LINK, "import %s.%s: type mismatch", mod, name);
    }
    return PW_OK;
}

/* Every exported callback we bind must have the ABI's type (ABI 4.5). */
static pw_status_t check_exports(const wa_module_t *m, pw_abi_t abi, pw_error_t *err)
{
    size_t n = wa_module_export_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        wa_externtype_t t;
        if (wa_module_export(m, i, &name, &t) != WA_OK)
            continue;
        for (int cb = 0; cb < PW_CB__COUNT; cb++) {
            if (strcmp(cbs[cb].name, name) != 0)
                continue;
            const char *params = cbs[cb].params;
            if (params[0] == '*')
                params = abi == PW_ABI_0_1_0 ? "ii" : "iii";
            if (t.kind != WA_EXTERN_FUNC || !pw__sig_matches(&t.u.func, params, cbs[cb].results))
                return fail(err, PW_ERR_EXPORT, "export %s: bad function signature", name);
        }
        if (strcmp(name, "memory") == 0 && t.kind != WA_EXTERN_MEMORY)
            return fail(err, PW_ERR_EXPORT, "export %s: not a memory", name);
    }
    return PW_OK;
}

pw_status_t pw_code_load(const uint8_t *bytes, size_t len, pw_code_t **out, pw_error_t *err)
{
    wa_error_t werr;
    wa_module_t *m = NULL;
    pw_status_t st;
    *out = NULL;
    if (wa_module_load(bytes, len, &m, &werr) != WA_OK) {
        return fail(err, PW_ERR_LOAD, "module does not load (at byte %zu): %s", werr.offset,
                    werr.message);
    }
    pw_abi_t abi = detect_abi(m);
    if (abi == PW_ABI_UNKNOWN) {
        st = fail(err, PW_ERR_ABI, "missing or unknown Proxy-Wasm ABI version");
        goto fail;
    }
    if ((st = check_imports(m, err)) != PW_OK || (st = check_exports(m, abi, err)) != PW_OK)
        goto fail;
    pw_code_t *c = calloc(1, sizeof *c);
    if (!c) {
        st = fail(err, PW_ERR_NOMEM, "out of memory loading code");
        goto fail;
    }
    atomic_init(&c->refs, 1);
    c->module = m;
    c->abi = abi;
    unsigned int dlen = 0;
    if (!EVP_Digest(bytes, len, c->sha256, &dlen, EVP_sha256(), NULL))
        memset(c->sha256, 0, sizeof c->sha256);
    *out = c;
    return PW_OK;
fail:
    wa_module_unref(m);
    return st;
}

pw_code_t *pw_code_ref(pw_code_t *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void pw_code_unref(pw_code_t *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    wa_module_unref(c->module);
    free(c);
}

pw_abi_t pw_code_abi(const pw_code_t *c) { return c->abi; }
const uint8_t *pw_code_sha256(const pw_code_t *c) { return c->sha256; }

bool pw_runtime_supported(const char *runtime, bool *alias)
{
    static const char *const envoy[] = {
        "envoy.wasm.runtime.v8", "envoy.wasm.runtime.wamr", "envoy.wasm.runtime.wasmtime",
        "envoy.wasm.runtime.wavm",
    };
    if (alias)
        *alias = false;
    if (!runtime || !*runtime || strcmp(runtime, "sluice.wasm.runtime.interp") == 0)
        return true;
    for (size_t i = 0; i < sizeof envoy / sizeof envoy[0]; i++)
        if (strcmp(runtime, envoy[i]) == 0) {
            if (alias)
                *alias = true;
            return true;
        }
    return false;
}
