/* Module loading: decodes the binary format (spec 5), validating as it goes; the sections are
 * read by wa_sections.c and every function body is compiled by wa_compile.c in the same pass. */
#include "wa_read.h"

#include <string.h>

/* ---- module --------------------------------------------------------------------------- */

uint64_t wa__type_hash(const wa_functype_t *t)
{
    uint64_t h = 1469598103934665603ull;
    h = (h ^ t->nparams) * 1099511628211ull;
    for (uint32_t i = 0; i < t->nparams; i++)
        h = (h ^ (uint8_t)t->params[i]) * 1099511628211ull;
    h = (h ^ (0x100 + t->nresults)) * 1099511628211ull;
    for (uint32_t i = 0; i < t->nresults; i++)
        h = (h ^ (uint8_t)t->results[i]) * 1099511628211ull;
    return h;
}

bool wa__type_eq(const wa_functype_t *a, const wa_functype_t *b)
{
    if (a->nparams != b->nparams || a->nresults != b->nresults)
        return false;
    for (uint32_t i = 0; i < a->nparams; i++)
        if (a->params[i] != b->params[i])
            return false;
    for (uint32_t i = 0; i < a->nresults; i++)
        if (a->results[i] != b->results[i])
            return false;
    return true;
}

bool wa_functype_eq(const wa_functype_t *a, const wa_functype_t *b)
{
    return a && b && wa__type_eq(a, b);
}

static void module_free(wa_module_t *m)
{
    if (!m)
        return;
    wa__native_free(m);
    for (uint32_t i = 0; i < m->nimports; i++) {
        free(m->imports[i].module);
        free(m->imports[i].name);
    }
    free(m->imports);
    for (uint32_t i = 0; i < m->nexports; i++)
        free(m->exports[i].name);
    free(m->exports);
    if (m->codes) {
        for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++) {
            free(m->codes[i].code);
            free(m->codes[i].trap_map);
        }
    }
    free(m->codes);
    for (uint32_t i = 0; i < m->nelems; i++)
        free(m->elems[i].items);
    free(m->elems);
    free(m->datas);
    free(m->func_types);
    free(m->tables);
    free(m->globals);
    free(m->types);
    free(m->valtypes);
    free(m->declared_funcs);
    free(m->bin);
    free(m);
}

wa_module_t *wa_module_ref(wa_module_t *m)
{
    atomic_fetch_add(&m->refcnt, 1);
    return m;
}

void wa_module_unref(wa_module_t *m)
{
    if (m && atomic_fetch_sub(&m->refcnt, 1) == 1)
        module_free(m);
}

wa_status_t wa_module_load(const uint8_t *bytes, size_t len, wa_module_t **out, wa_error_t *err)
{
    wa_error_t dummy;
    if (!err)
        err = &dummy;
    memset(err, 0, sizeof *err);
    err->func_index = UINT32_MAX;
    *out = NULL;
    if (!bytes && len)
        return WA_ERR_ARG;
    wa_module_t *m = calloc(1, sizeof *m);
    if (!m)
        return WA_ERR_NOMEM;
    atomic_init(&m->refcnt, 1);
    m->start = WA_NO_INDEX;
    m->bin = malloc(len ? len : 1);
    if (!m->bin) {
        free(m);
        return WA_ERR_NOMEM;
    }
    if (len)
        memcpy(m->bin, bytes, len);
    m->bin_len = len;
    ld_t L = {.r = {.p = m->bin, .end = m->bin + len, .base = m->bin, .err = err}, .m = m};
    rd_t *r = &L.r;
    static const uint8_t rank[13] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10};
    uint8_t last = 0;
    bool ok = true;
    const uint8_t *hdr;
    if (len < 4 || memcmp(m->bin, "\0asm", 4) != 0) {
        ok = MALFORMED(r, r->p, "magic header not detected");
        goto done;
    }
    r->p += 4;
    if (!rd_bytes(r, 4, &hdr) || memcmp(hdr, "\1\0\0\0", 4) != 0) {
        ok = MALFORMED(r, m->bin + 4, "unknown binary version");
        goto done;
    }
    while (ok && r->p < r->end) {
        const uint8_t *sat = r->p;
        uint8_t id;
        uint32_t size;
        if (!rd_u8(r, &id) || !rd_u32(r, &size)) {
            ok = false;
            break;
        }
        if (size > (size_t)(r->end - r->p)) {
            ok = MALFORMED(r, sat, "unexpected end of section or function (length out of bounds)");
            break;
        }
        if (id > 12) {
            /* 13 is the exception-handling proposal's tag section: not part of Wasm 2.0 */
            ok = MALFORMED(r, sat, id == 13 ? "malformed section id 13 (exception handling tag "
                                              "section is not supported)"
                                            : "malformed section id");
            break;
        }
        if (id != 0) {
            if (rank[id] <= last) {
                ok = MALFORMED(r, sat, "unexpected content after last section");
                break;
            }
            last = rank[id];
        }
        rd_t saved = *r;
        r->end = r->p + size;
        if (id >= 6 && !m->declared_funcs) {
            m->declared_funcs = calloc(m->nfuncs ? m->nfuncs : 1, 1);
            if (!m->declared_funcs) {
                ok = nomem(r);
                break;
            }
        }
        if (id == 0) { /* custom section: its name must be valid, its contents are skipped */
            ok = wa__rd_name(r, NULL);
            r->p = r->end;
        } else {
            ok = id == 10 ? wa__sec_code(&L) : wa__read_section(&L, id);
        }
        if (ok && r->p != r->end)
            ok = MALFORMED(r, r->p, "section size mismatch");
        const uint8_t *endp = r->end;
        *r = saved;
        r->p = endp;
    }
    if (ok && L.ndefined_funcs && !L.saw_code)
        ok = MALFORMED(r, r->p, "function and code section have inconsistent lengths");
    if (ok && m->needs_datacount_at) {
        const uint8_t *at = m->bin + m->needs_datacount_at;
        ok = m->ndatas ? MALFORMED(r, at, "data count section required")
                       : INVALID(r, at, "unknown data segment");
    }
    if (ok && m->has_datacount && !m->datas && m->ndatas)
        ok = MALFORMED(r, r->p, "data count and data section have inconsistent lengths");
    if (ok && !m->declared_funcs) {
        m->declared_funcs = calloc(m->nfuncs ? m->nfuncs : 1, 1);
        if (!m->declared_funcs)
            ok = nomem(r);
    }
done:
    if (!ok) {
        wa_status_t st = err->status ? err->status : WA_ERR_MALFORMED;
        module_free(m);
        return st;
    }
    wa__native_compile(m); /* functions are translated on their first call */
    *out = m;
    return WA_OK;
}

/* ---- introspection ------------------------------------------------------------------------ */

size_t wa_module_import_count(const wa_module_t *m) { return m->nimports; }

wa_status_t wa_module_import(const wa_module_t *m, size_t i, const char **module, const char **name,
                             wa_externtype_t *type)
{
    if (i >= m->nimports)
        return WA_ERR_NOT_FOUND;
    if (module)
        *module = m->imports[i].module;
    if (name)
        *name = m->imports[i].name;
    if (type)
        *type = m->imports[i].type;
    return WA_OK;
}

size_t wa_module_export_count(const wa_module_t *m) { return m->nexports; }

wa_status_t wa_module_export(const wa_module_t *m, size_t i, const char **name,
                             wa_externtype_t *type)
{
    if (i >= m->nexports)
        return WA_ERR_NOT_FOUND;
    const wa_export_t *e = &m->exports[i];
    if (name)
        *name = e->name;
    if (type) {
        memset(type, 0, sizeof *type);
        type->kind = e->kind;
        switch (e->kind) {
        case WA_EXTERN_FUNC: type->u.func = m->types[m->func_types[e->index]].ft; break;
        case WA_EXTERN_TABLE:
            type->u.table.elem = m->tables[e->index].elem;
            type->u.table.limits = m->tables[e->index].limits;
            break;
        case WA_EXTERN_MEMORY: type->u.memory = m->mem; break;
        case WA_EXTERN_GLOBAL:
            type->u.global.type = m->globals[e->index].type;
            type->u.global.mutable_ = m->globals[e->index].mutable_;
            break;
        }
    }
    return WA_OK;
}

void wa_module_stats(const wa_module_t *m, wa_module_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->funcs = m->nfuncs - m->nfunc_imports;
    out->types = m->ntypes;
    out->tables = m->ntables;
    out->memories = m->nmems;
    out->globals = m->nglobals;
    out->elems = m->nelems;
    out->datas = m->ndatas;
    out->code_bytes = m->code_bytes;
    out->data_bytes = m->data_bytes;
    out->compiled_bytes = m->compiled_bytes;
    out->native_funcs = atomic_load_explicit(&m->native_funcs, memory_order_relaxed);
    out->native_bytes = atomic_load_explicit(&m->native_code_bytes, memory_order_relaxed);
}

void wa_module_translate(wa_module_t *m)
{
    wa__native_translate_all(m);
}

