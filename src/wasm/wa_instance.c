/* Linking and instantiation (spec 4.5.4), exports, and wa_call: the entry into the interpreter,
 * with per-thread execution state so that host functions may call back in (re-entrancy). */
#include "wa_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DEFAULT_MAX_TABLE_ELEMS 10000000u
#define DEFAULT_MAX_CALL_DEPTH 10000u
#define DEFAULT_STACK_BYTES (1u << 20)

/* The calls running on this thread (NULL when none): nested wa_call continues on its stack. */
static _Thread_local wa_exec_t *tl_exec;

/* ---- linker ------------------------------------------------------------------------------- */

typedef struct lentry {
    char *module, *name; /* owned */
    wa_extern_t ext;     /* one reference on the object (or on the function's instance) */
    wa_func_t *host;     /* owned, for host functions */
    wa_valtype_t *types; /* owned: the host function's params then results */
    wa_functype_t ft;    /* the host function's type, pointing into types */
} lentry_t;

struct wa_linker {
    lentry_t **v; /* owned array of owned entries (host functions point into their entry) */
    uint32_t n, cap;
};

static void inst_unref(wa_instance_t *inst);

wa_linker_t *wa_linker_new(void) { return calloc(1, sizeof(wa_linker_t)); }

static void ext_release(wa_extern_t e)
{
    switch (e.kind) {
    case WA_EXTERN_FUNC:
        if (e.u.func && e.u.func->inst)
            inst_unref(e.u.func->inst);
        break;
    case WA_EXTERN_TABLE: wa_table_unref(e.u.table); break;
    case WA_EXTERN_MEMORY: wa_memory_unref(e.u.memory); break;
    case WA_EXTERN_GLOBAL: wa_global_unref(e.u.global); break;
    }
}

static void ext_retain(wa_extern_t e)
{
    switch (e.kind) {
    case WA_EXTERN_FUNC:
        if (e.u.func->inst)
            e.u.func->inst->refcnt++;
        break;
    case WA_EXTERN_TABLE: e.u.table->refcnt++; break;
    case WA_EXTERN_MEMORY: e.u.memory->refcnt++; break;
    case WA_EXTERN_GLOBAL: e.u.global->refcnt++; break;
    }
}

static void entry_clear(lentry_t *e)
{
    if (!e->host)
        ext_release(e->ext);
    free(e->host);
    free(e->types);
    free(e->module);
    free(e->name);
    memset(e, 0, sizeof *e);
}

void wa_linker_free(wa_linker_t *l)
{
    if (!l)
        return;
    for (uint32_t i = 0; i < l->n; i++) {
        entry_clear(l->v[i]);
        free(l->v[i]);
    }
    free(l->v);
    free(l);
}

static lentry_t *lookup(const wa_linker_t *l, const char *module, const char *name)
{
    if (!l)
        return NULL;
    for (uint32_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i]->module, module) == 0 && strcmp(l->v[i]->name, name) == 0)
            return l->v[i];
    return NULL;
}

static uint32_t i_of(const wa_linker_t *l, const lentry_t *e)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i] == e)
            return i;
    return 0;
}

/* A fresh or replaced slot for (module, name): later definitions win, like `register`. */
static lentry_t *slot(wa_linker_t *l, const char *module, const char *name)
{
    lentry_t *e = lookup(l, module, name);
    if (e) {
        entry_clear(e);
    } else {
        if (l->n == l->cap) {
            uint32_t nc = l->cap ? l->cap * 2 : 16;
            lentry_t **v = realloc(l->v, nc * sizeof *v);
            if (!v)
                return NULL;
            l->v = v;
            l->cap = nc;
        }
        e = calloc(1, sizeof *e);
        if (!e)
            return NULL;
        l->v[l->n++] = e;
    }
    e->module = strdup(module);
    e->name = strdup(name);
    if (!e->module || !e->name) {
        free(e->module);
        free(e->name);
        e->module = e->name = NULL;
        free(e);
        l->v[i_of(l, e)] = l->v[--l->n];
        return NULL;
    }
    return e;
}

wa_status_t wa_linker_define_func(wa_linker_t *l, const char *module, const char *name,
                                  const wa_functype_t *type, wa_host_fn_t fn, void *user)
{
    if (!l || !module || !name || !type || !fn || type->nparams > WA_MAX_FUNC_VALUES ||
        type->nresults > WA_MAX_FUNC_VALUES)
        return WA_ERR_ARG;
    lentry_t *e = slot(l, module, name);
    if (!e)
        return WA_ERR_NOMEM;
    e->types = malloc((type->nparams + type->nresults + 1) * sizeof *e->types);
    e->host = calloc(1, sizeof *e->host);
    if (!e->types || !e->host) {
        free(e->types);
        free(e->host);
        e->types = NULL;
        e->host = NULL;
        e->ext.kind = WA_EXTERN_GLOBAL;
        e->ext.u.global = NULL;
        return WA_ERR_NOMEM;
    }
    wa__copy(e->types, type->params, type->nparams * sizeof *e->types);
    wa__copy(e->types + type->nparams, type->results, type->nresults * sizeof *e->types);
    e->ft.nparams = type->nparams;
    e->ft.params = e->types;
    e->ft.nresults = type->nresults;
    e->ft.results = e->types + type->nparams;
    e->host->type = &e->ft;
    e->host->type_hash = wa__type_hash(&e->ft);
    e->host->host = fn;
    e->host->user = user;
    e->host->index = UINT32_MAX;
    e->ext.kind = WA_EXTERN_FUNC;
    e->ext.u.func = e->host;
    return WA_OK;
}

wa_status_t wa_linker_define(wa_linker_t *l, const char *module, const char *name, wa_extern_t ext)
{
    if (!l || !module || !name || !ext.u.func)
        return WA_ERR_ARG;
    lentry_t *e = slot(l, module, name);
    if (!e)
        return WA_ERR_NOMEM;
    if (ext.kind == WA_EXTERN_FUNC && !ext.u.func->inst) {
        /* a host function from elsewhere: keep our own copy so lifetimes stay independent */
        const wa_func_t *src = ext.u.func;
        wa_status_t st = WA_OK;
        e->types = malloc((src->type->nparams + src->type->nresults + 1) * sizeof *e->types);
        e->host = calloc(1, sizeof *e->host);
        if (!e->types || !e->host)
            st = WA_ERR_NOMEM;
        if (st == WA_OK) {
            wa__copy(e->types, src->type->params, src->type->nparams * sizeof *e->types);
            wa__copy(e->types + src->type->nparams, src->type->results,
                   src->type->nresults * sizeof *e->types);
            e->ft.nparams = src->type->nparams;
            e->ft.params = e->types;
            e->ft.nresults = src->type->nresults;
            e->ft.results = e->types + src->type->nparams;
            *e->host = *src;
            e->host->type = &e->ft;
            e->ext.kind = WA_EXTERN_FUNC;
            e->ext.u.func = e->host;
        }
        return st;
    }
    ext_retain(ext);
    e->ext = ext;
    return WA_OK;
}

wa_status_t wa_linker_define_instance(wa_linker_t *l, const char *module, wa_instance_t *inst)
{
    const wa_module_t *m = inst->module;
    for (uint32_t i = 0; i < m->nexports; i++) {
        wa_extern_t ext;
        wa_status_t st = wa_instance_export(inst, m->exports[i].name, &ext);
        if (st == WA_OK)
            st = wa_linker_define(l, module, m->exports[i].name, ext);
        if (st != WA_OK)
            return st;
    }
    return WA_OK;
}

/* ---- instances ---------------------------------------------------------------------------- */

static void inst_destroy(wa_instance_t *inst)
{
    const wa_module_t *m = inst->module;
    if (inst->tables)
        for (uint32_t i = 0; i < m->ntables; i++)
            if (!(inst->table_weak && inst->table_weak[i]))
                wa_table_unref(inst->tables[i]);
    wa_memory_unref(inst->mem);
    if (inst->globals)
        for (uint32_t i = 0; i < m->nglobals; i++)
            wa_global_unref(inst->globals[i]);
    for (uint32_t i = 0; i < inst->ndeps; i++)
        inst_unref(inst->deps[i]);
    if (inst->stack)
        munmap(inst->stack, inst->lim.stack_bytes);
    if (inst->frames)
        munmap(inst->frames, inst->frames_bytes);
    free(inst->deps);
    free(inst->tables);
    free(inst->table_weak);
    free(inst->globals);
    free(inst->funcs);
    free(inst->func_objs);
    free(inst->elem_dropped);
    free(inst->data_dropped);
    wa_module_unref(inst->module);
    free(inst);
}

static void inst_unref(wa_instance_t *inst)
{
    if (inst && --inst->refcnt == 0)
        inst_destroy(inst);
}

void wa__instance_release_kept(wa_instance_t **keep, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        inst_unref(keep[i]);
    free(keep);
}

void wa_instance_free(wa_instance_t *inst) { inst_unref(inst); }

wa_value_t wa__eval_const(wa_instance_t *inst, const wa_constexpr_t *e)
{
    wa_value_t v = e->value;
    switch (e->op) {
    case 0xd0: v.raw = 0; break;
    case 0xd2: v.raw = 0; v.funcref = inst->funcs[e->index]; break;
    case 0x23: v = inst->globals[e->index]->val; break;
    }
    return v;
}

static wa_status_t ierr(wa_error_t *err, wa_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static wa_status_t ierr(wa_error_t *err, wa_status_t st, const char *fmt, ...)
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

static bool limits_match(uint32_t amin, bool ahas, uint32_t amax, wa_limits_desc_t want)
{
    if (amin < want.min)
        return false;
    if (want.has_max && (!ahas || amax > want.max))
        return false;
    return true;
}

static wa_status_t resolve_import(wa_instance_t *inst, const wa_linker_t *l, uint32_t i,
                                  uint32_t *nf, uint32_t *nt, uint32_t *ng, uint32_t *nhost,
                                  wa_error_t *err)
{
    const wa_module_t *m = inst->module;
    const wa_import_t *im = &m->imports[i];
    lentry_t *e = lookup(l, im->module, im->name);
    if (!e)
        return ierr(err, WA_ERR_UNLINKABLE, "unknown import %s.%s", im->module, im->name);
    if (e->ext.kind != im->type.kind)
        return ierr(err, WA_ERR_UNLINKABLE, "incompatible import type for %s.%s (wrong kind)",
                    im->module, im->name);
    switch (im->type.kind) {
    case WA_EXTERN_FUNC: {
        wa_func_t *f = e->ext.u.func;
        if (!wa__type_eq(f->type, &im->type.u.func))
            return ierr(err, WA_ERR_UNLINKABLE, "incompatible import type for %s.%s",
                        im->module, im->name);
        if (f->inst) {
            inst->funcs[*nf] = f;
            f->inst->refcnt++;
            inst->deps[inst->ndeps++] = f->inst;
        } else {
            wa_func_t *c = &inst->func_objs[m->nfuncs - m->nfunc_imports + (*nhost)++];
            *c = *f;
            c->type = &m->types[im->type_index].ft;
            c->index = *nf;
            inst->funcs[*nf] = c;
        }
        (*nf)++;
        break;
    }
    case WA_EXTERN_TABLE: {
        wa_table_t *t = e->ext.u.table;
        if (t->elem != im->type.u.table.elem ||
            !limits_match(t->size, t->has_max, t->max, im->type.u.table.limits))
            return ierr(err, WA_ERR_UNLINKABLE, "incompatible import type for %s.%s",
                        im->module, im->name);
        t->refcnt++;
        inst->tables[(*nt)++] = t;
        break;
    }
    case WA_EXTERN_MEMORY: {
        wa_memory_t *mem = e->ext.u.memory;
        if (!limits_match(mem->pages, mem->has_max, mem->max_pages, im->type.u.memory))
            return ierr(err, WA_ERR_UNLINKABLE, "incompatible import type for %s.%s",
                        im->module, im->name);
        mem->refcnt++;
        inst->mem = mem;
        break;
    }
    case WA_EXTERN_GLOBAL: {
        wa_global_t *g = e->ext.u.global;
        if (g->type != im->type.u.global.type || g->mutable_ != im->type.u.global.mutable_)
            return ierr(err, WA_ERR_UNLINKABLE, "incompatible import type for %s.%s",
                        im->module, im->name);
        g->refcnt++;
        inst->globals[(*ng)++] = g;
        break;
    }
    }
    return WA_OK;
}

/* After a failed instantiation that already wrote into imported tables, those tables keep the
 * instance alive so that the functions written there stay callable (spec 2.0 semantics). */
static void keep_in_tables(wa_instance_t *inst)
{
    const wa_module_t *m = inst->module;
    for (uint32_t i = 0; i < m->ntable_imports; i++) {
        wa_table_t *t = inst->tables[i];
        if (!t)
            continue;
        wa_instance_t **k = realloc(t->keep, (t->nkeep + 1) * sizeof *k);
        if (!k)
            continue;
        t->keep = k;
        t->keep[t->nkeep++] = inst;
        inst->refcnt++;
        inst->table_weak[i] = 1;
        t->refcnt--; /* the instance's own reference would make a cycle */
    }
}

static wa_status_t apply_segments(wa_instance_t *inst, wa_error_t *err)
{
    const wa_module_t *m = inst->module;
    for (uint32_t i = 0; i < m->nelems; i++) {
        const wa_elem_t *e = &m->elems[i];
        if (e->mode == WA_SEG_ACTIVE) {
            wa_table_t *t = inst->tables[e->table];
            uint64_t off = (uint32_t)wa__eval_const(inst, &e->offset).i32;
            if (off + e->count > t->size)
                return ierr(err, WA_ERR_UNINSTANTIABLE,
                            "out of bounds table access (element segment %u)", i);
            for (uint32_t j = 0; j < e->count; j++)
                t->elems[off + j] = wa__eval_const(inst, &e->items[j]);
        }
        if (e->mode != WA_SEG_PASSIVE)
            inst->elem_dropped[i] = 1;
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        const wa_data_t *d = &m->datas[i];
        if (d->mode != WA_SEG_ACTIVE)
            continue;
        uint64_t off = (uint32_t)wa__eval_const(inst, &d->offset).i32;
        if (off + d->len > inst->mem->size_bytes)
            return ierr(err, WA_ERR_UNINSTANTIABLE,
                        "out of bounds memory access (data segment %u)", i);
        if (d->len)
            memcpy(inst->mem->base + off, d->bytes, d->len);
        inst->data_dropped[i] = 1;
    }
    return WA_OK;
}

wa_status_t wa_instance_new(wa_module_t *m, const wa_linker_t *l, const wa_instance_limits_t *lim,
                            wa_instance_t **out, wa_error_t *err)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->func_index = UINT32_MAX;
    }
    if (!m || !out)
        return WA_ERR_ARG;
    *out = NULL;
    wa_instance_t *inst = calloc(1, sizeof *inst);
    if (!inst)
        return ierr(err, WA_ERR_NOMEM, "out of memory");
    inst->refcnt = 1;
    inst->module = wa_module_ref(m);
    if (lim)
        inst->lim = *lim;
    if (!inst->lim.max_memory_pages || inst->lim.max_memory_pages > WA_MAX_PAGES)
        inst->lim.max_memory_pages = WA_MAX_PAGES;
    if (!inst->lim.max_table_elems)
        inst->lim.max_table_elems = DEFAULT_MAX_TABLE_ELEMS;
    if (!inst->lim.max_call_depth)
        inst->lim.max_call_depth = DEFAULT_MAX_CALL_DEPTH;
    if (!inst->lim.stack_bytes)
        inst->lim.stack_bytes = DEFAULT_STACK_BYTES;
    inst->lim.stack_bytes = (inst->lim.stack_bytes + 4095) & ~(size_t)4095;

    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    wa_status_t st = WA_OK;
    inst->funcs = calloc(m->nfuncs + 1, sizeof *inst->funcs);
    inst->func_objs = calloc(m->nfuncs + 1, sizeof *inst->func_objs);
    inst->tables = calloc(m->ntables + 1, sizeof *inst->tables);
    inst->table_weak = calloc(m->ntables + 1, 1);
    inst->globals = calloc(m->nglobals + 1, sizeof *inst->globals);
    inst->deps = calloc(m->nfunc_imports + 1, sizeof *inst->deps);
    inst->elem_dropped = calloc(m->nelems + 1, 1);
    inst->data_dropped = calloc(m->ndatas + 1, 1);
    if (!inst->funcs || !inst->func_objs || !inst->tables || !inst->table_weak || !inst->globals ||
        !inst->deps || !inst->elem_dropped || !inst->data_dropped) {
        st = ierr(err, WA_ERR_NOMEM, "out of memory");
        goto fail;
    }
    uint32_t nf = 0, nt = 0, ng = 0, nhost = 0;
    for (uint32_t i = 0; i < m->nimports; i++) {
        st = resolve_import(inst, l, i, &nf, &nt, &ng, &nhost, err);
        if (st != WA_OK)
            goto fail;
    }
    for (uint32_t i = 0; i < ndef; i++) {
        wa_func_t *f = &inst->func_objs[i];
        const wa_type_t *t = &m->types[m->codes[i].type_index];
        f->type = &t->ft;
        f->type_hash = t->hash;
        f->inst = inst;
        f->code = &m->codes[i];
        f->index = m->nfunc_imports + i;
        inst->funcs[m->nfunc_imports + i] = f;
    }
    for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
        st = wa__table_make(m->tables[i].elem, m->tables[i].limits, inst->lim.max_table_elems,
                            &inst->tables[i]);
        if (st != WA_OK) {
            ierr(err, st, "table %u: %u elements exceed the limit of %u", i,
                 m->tables[i].limits.min, inst->lim.max_table_elems);
            goto fail;
        }
    }
    if (m->nmems && !m->nmem_imports) {
        st = wa__memory_make(m->mem, inst->lim.max_memory_pages, &inst->mem);
        if (st != WA_OK) {
            ierr(err, st, "memory: %u pages exceed the limit of %u", m->mem.min,
                 inst->lim.max_memory_pages);
            goto fail;
        }
    }
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        const wa_global_desc_t *d = &m->globals[i];
        st = wa_global_new(d->type, d->mutable_, wa__eval_const(inst, &d->init), &inst->globals[i]);
        if (st != WA_OK) {
            ierr(err, st, "out of memory");
            goto fail;
        }
    }
    st = apply_segments(inst, err);
    if (st == WA_OK && m->start != WA_NO_INDEX) {
        wa_trap_t trap;
        st = wa_call(inst->funcs[m->start], NULL, 0, NULL, 0, NULL, &trap);
        if (st == WA_ERR_TRAP)
            st = ierr(err, WA_ERR_UNINSTANTIABLE, "start function trapped: %s", trap.message);
        else if (st != WA_OK)
            st = ierr(err, WA_ERR_UNINSTANTIABLE, "start function failed: %s", wa_status_str(st));
    }
    if (st != WA_OK) {
        keep_in_tables(inst);
        goto fail;
    }
    *out = inst;
    return WA_OK;
fail:
    inst_unref(inst);
    return st;
}

const wa_module_t *wa_instance_module(const wa_instance_t *inst) { return inst->module; }
void wa_instance_set_user(wa_instance_t *inst, void *user) { inst->user = user; }
void *wa_instance_user(const wa_instance_t *inst) { return inst->user; }
wa_memory_t *wa_instance_memory(wa_instance_t *inst) { return inst->mem; }

wa_status_t wa_instance_export(wa_instance_t *inst, const char *name, wa_extern_t *out)
{
    return wa_instance_export_n(inst, name, strlen(name), out);
}

wa_status_t wa_instance_export_n(wa_instance_t *inst, const char *name, size_t name_len,
                                 wa_extern_t *out)
{
    const wa_module_t *m = inst->module;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const wa_export_t *e = &m->exports[i];
        if (e->name_len != name_len || memcmp(e->name, name, name_len) != 0)
            continue;
        out->kind = e->kind;
        switch (e->kind) {
        case WA_EXTERN_FUNC: out->u.func = inst->funcs[e->index]; break;
        case WA_EXTERN_TABLE: out->u.table = inst->tables[e->index]; break;
        case WA_EXTERN_MEMORY: out->u.memory = inst->mem; break;
        case WA_EXTERN_GLOBAL: out->u.global = inst->globals[e->index]; break;
        }
        return WA_OK;
    }
    return WA_ERR_NOT_FOUND;
}

wa_func_t *wa_instance_func(wa_instance_t *inst, const char *name)
{
    wa_extern_t e;
    if (wa_instance_export(inst, name, &e) != WA_OK || e.kind != WA_EXTERN_FUNC)
        return NULL;
    return e.u.func;
}

void wa_func_type(const wa_func_t *f, wa_functype_t *out) { *out = *f->type; }

bool wa_func_constant(const wa_func_t *f, wa_value_t *result)
{
    if (!f->code || !f->code->constant)
        return false;
    *result = f->code->constant_value;
    return true;
}

/* ---- calls -------------------------------------------------------------------------------- */

wa_trap_kind_t wa_trap_set(wa_instance_t *caller, wa_trap_kind_t kind, int32_t exit_code,
                           const char *fmt, ...)
{
    (void)caller;
    wa_exec_t *ex = tl_exec;
    if (ex) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ex->host_msg, sizeof ex->host_msg, fmt, ap);
        va_end(ap);
        ex->exit_code = exit_code;
    }
    return kind;
}

/* The value and frame stacks are made at an instance's first call: mmap'd, so only the pages
 * a call actually touches cost memory. */
static bool ensure_stacks(wa_instance_t *inst)
{
    if (inst->stack)
        return true;
    void *s = mmap(NULL, inst->lim.stack_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED)
        return false;
    size_t fb = ((size_t)inst->lim.max_call_depth + 2) * sizeof(wa_frame_t);
    fb = (fb + 4095) & ~(size_t)4095;
    void *f = mmap(NULL, fb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (f == MAP_FAILED) {
        munmap(s, inst->lim.stack_bytes);
        return false;
    }
    inst->stack = s;
    inst->frames = f;
    inst->frames_bytes = fb;
    wa_exec_t *ex = &inst->exec; /* calloc'd with the instance: the rest starts at zero */
    ex->stack = s;
    ex->stack_end = (wa_value_t *)s + inst->lim.stack_bytes / sizeof(wa_value_t);
    ex->sp = ex->stack;
    ex->frames = f;
    ex->max_depth = inst->lim.max_call_depth;
    return true;
}

static void fill_trap(wa_trap_t *trap, wa_exec_t *ex, wa_trap_kind_t kind)
{
    if (!trap)
        return;
    memset(trap, 0, sizeof *trap);
    trap->kind = kind;
    trap->exit_code = ex->exit_code;
    trap->func_index = ex->trap_func ? ex->trap_func->index : UINT32_MAX;
    trap->code_offset =
        ex->trap_func && ex->trap_func->code ? wa__code_offset(ex->trap_func->code, ex->trap_pc) : 0;
    if ((kind == WA_TRAP_HOST || kind == WA_TRAP_EXIT || ex->host_msg[0]) && ex->host_msg[0])
        snprintf(trap->message, sizeof trap->message, "%s", ex->host_msg);
    else
        snprintf(trap->message, sizeof trap->message, "%s", wa_trap_kind_str(kind));
}

/* An outermost call runs under its instance's own exec (set up with the stacks): the limits
 * and the tick counter are all a call has to set. The limits are read before any store, so
 * that where limits is known non-NULL and fuel zero the tests fold away. */
static inline void exec_start(wa_exec_t *ex, const wa_call_limits_t *limits)
{
    uint64_t fuel = limits ? limits->fuel : 0, deadline = limits ? limits->deadline_ns : 0;
    uint64_t budget = limits && !deadline ? limits->budget_ns : 0;
    ex->depth = 0;
    ex->host_nesting = 0;
    ex->fuel_on = fuel != 0;
    ex->fuel_left = fuel;
    ex->deadline_ns = deadline;
    ex->budget_ns = budget;
    /* A deadline was just set from the clock, a budget starts at the first check: either
     * way the first read can wait a whole chunk. */
    if (fuel)
        (void)wa__tick_refill(ex); /* fuel is non-zero here */
    else
        ex->tick = wa__tick_chunk(ex) - 1;
}

/* A call starts with no trap details: a host function's message, an exit code, a location. */
static inline void exec_clear_trap(wa_exec_t *ex)
{
    ex->host_msg[0] = 0;
    ex->exit_code = 0;
    ex->trap_func = NULL;
    ex->trap_pc = NULL;
}

/* Runs Wasm code f on ex with its arguments copied to base; on success its results are copied
 * out. A handful of values: plain loops beat two calls into libc on every guest call. */
static inline wa_trap_kind_t run_at(wa_exec_t *ex, wa_func_t *f, wa_value_t *base,
                                    const wa_value_t *args, uint32_t nargs, wa_value_t *results,
                                    uint32_t nres)
{
    for (uint32_t i = 0; i < nargs; i++)
        base[i] = args[i];
    wa_trap_kind_t kind = wa__run(ex, f, base);
    if (LIKELY(kind == WA_TRAP_NONE))
        for (uint32_t i = 0; i < nres; i++)
            results[i] = base[i];
    return kind;
}

static wa_status_t call_general(wa_func_t *f, const wa_value_t *args, uint32_t nargs,
                                wa_value_t *results, uint32_t nresults,
                                const wa_call_limits_t *limits, wa_trap_t *trap);

/* What a successful call leaves in *trap. */
static void trap_clear(wa_trap_t *trap)
{
    if (trap) { /* field by field: zeroing the 256-byte message costs more than the call */
        trap->kind = WA_TRAP_NONE;
        trap->exit_code = 0;
        trap->func_index = 0;
        trap->code_offset = 0;
        trap->message[0] = 0;
    }
}

/* The common cases first: a call of Wasm code with well-formed arguments, either the
 * embedder's outermost call (fuel off, stacks made) or a host function's call back into Wasm
 * (the Proxy-Wasm host calling the plugin's allocator). They do only what such a call needs;
 * every other call, and every malformed one, goes through call_general. */
wa_status_t wa_call(wa_func_t *f, const wa_value_t *args, uint32_t nargs, wa_value_t *results,
                    uint32_t nresults, const wa_call_limits_t *limits, wa_trap_t *trap)
{
    wa_exec_t *outer = tl_exec;
    if (UNLIKELY(!f || !f->inst || f->host))
        return call_general(f, args, nargs, results, nresults, limits, trap);
    const wa_functype_t *ty = f->type;
    uint32_t nres = ty->nresults;
    if (UNLIKELY(nargs != ty->nparams || nresults < nres || (nargs && !args) ||
                 (nres && !results) || nargs >= 64))
        return call_general(f, args, nargs, results, nresults, limits, trap);
    wa_exec_t *ex;
    wa_value_t *base;
    if (outer) {
        base = outer->sp;
        if (UNLIKELY(!outer->stack || base + nargs + 1 > outer->stack_end))
            return call_general(f, args, nargs, results, nresults, limits, trap);
        ex = outer;
    } else {
        if (UNLIKELY(!f->inst->stack || !limits || limits->fuel))
            return call_general(f, args, nargs, results, nresults, limits, trap);
        ex = &f->inst->exec;
        exec_start(ex, limits);
        base = ex->stack; /* 64 values always fit: the stack is at least 4 KiB */
    }
    exec_clear_trap(ex);
    tl_exec = ex;
    wa_trap_kind_t kind = run_at(ex, f, base, args, nargs, results, nres);
    tl_exec = outer;
    if (outer)
        outer->sp = base;
    if (LIKELY(kind == WA_TRAP_NONE)) {
        trap_clear(trap);
        return WA_OK;
    }
    fill_trap(trap, ex, kind);
    return WA_ERR_TRAP;
}

/* Every call: nested ones (from a host function inside a call) run on the outer call's
 * stacks; outermost ones start their instance's exec. A host function the embedder calls
 * itself, outside any call, runs under an exec of its own without stacks, which a nested
 * wa_call from it replaces. */
static wa_status_t call_general(wa_func_t *f, const wa_value_t *args, uint32_t nargs,
                                wa_value_t *results, uint32_t nresults,
                                const wa_call_limits_t *limits, wa_trap_t *trap)
{
    trap_clear(trap);
    if (!f || (nargs && !args) || (f->type->nresults && !results))
        return WA_ERR_ARG;
    const uint32_t nres = f->type->nresults;
    if (nargs != f->type->nparams || nresults < nres)
        return WA_ERR_TYPE;
    wa_exec_t *outer = tl_exec, *ex, alone;
    wa_value_t *base = NULL;
    if (outer && outer->stack) { /* from a host function inside a call: run above it */
        ex = outer;
        base = outer->sp;
    } else if (f->host) {
        memset(&alone, 0, offsetof(wa_exec_t, host_msg)); /* exec_clear_trap does the rest */
        ex = &alone;
        tl_exec = ex;
    } else {
        if (!f->inst->stack && !ensure_stacks(f->inst))
            return WA_ERR_NOMEM;
        ex = &f->inst->exec;
        exec_start(ex, limits);
        base = ex->stack;
        tl_exec = ex;
    }
    wa_value_t *saved_sp = ex->sp;
    exec_clear_trap(ex);
    wa_trap_kind_t kind;
    if (f->host) {
        wa_value_t res[WA_MAX_FUNC_VALUES];
        if (ex->host_nesting >= 200) {
            kind = WA_TRAP_STACK_EXHAUSTED;
        } else {
            ex->host_nesting++;
            /* called from the embedder, not from Wasm code: there is no calling instance */
            kind = f->host(NULL, f->user, args, res);
            ex->host_nesting--;
        }
        if (kind == WA_TRAP_NONE)
            for (uint32_t i = 0; i < nres; i++)
                results[i] = res[i];
    } else if (base + nargs + 1 > ex->stack_end) {
        kind = WA_TRAP_STACK_EXHAUSTED;
        ex->trap_func = f;
    } else {
        kind = run_at(ex, f, base, args, nargs, results, nres);
    }
    if (kind != WA_TRAP_NONE)
        fill_trap(trap, ex, kind); /* a host function alone: its message, no location */
    ex->sp = saved_sp;
    if (ex != outer)
        tl_exec = outer;
    return kind == WA_TRAP_NONE ? WA_OK : WA_ERR_TRAP;
}
