/* The module's sections other than code (spec 5.5): types, imports, functions, tables,
 * memories, globals with their constant expressions, exports, start, elements and data. */
#include "wa_read.h"

#include <string.h>

static bool rd_limits(rd_t *r, wa_limits_desc_t *l, bool memory)
{
    const uint8_t *at = r->p;
    uint8_t flags;
    if (!rd_u8(r, &flags))
        return false;
    /* flags 2/3 (shared, threads) and 4..7 (memory64) are not Wasm 2.0: the spec suite
     * wants them malformed; the message names the feature */
    if (memory && (flags == 2 || flags == 3))
        return MALFORMED(r, at, "integer too large (limits flags 0x%02x: threads/shared memory "
                                "are not supported)", flags);
    if (memory && flags >= 4 && flags <= 7)
        return MALFORMED(r, at, "integer too large (limits flags 0x%02x: memory64 is not "
                                "supported)", flags);
    if (flags > 1)
        return MALFORMED(r, at, "integer too large");
    if (!rd_u32(r, &l->min))
        return false;
    l->has_max = flags == 1;
    l->max = 0;
    if (l->has_max && !rd_u32(r, &l->max))
        return false;
    if (memory) {
        if (l->min > WA_MAX_PAGES || (l->has_max && l->max > WA_MAX_PAGES))
            return INVALID(r, at, "memory size must be at most 65536 pages (4GiB)");
    }
    if (l->has_max && l->min > l->max)
        return INVALID(r, at, "size minimum must not be greater than maximum");
    return true;
}

/* A section's item count; each item takes at least one byte, so the rest of the section
 * bounds it. */
static bool rd_count(rd_t *r, uint32_t *n)
{
    if (!rd_u32(r, n))
        return false;
    if (*n > (uint32_t)(r->end - r->p))
        return MALFORMED(r, r->p, "length out of bounds");
    return true;
}

/* rd_count, then a zeroed array of that many items (at least one, so never NULL on
 * success); NULL with the error recorded on failure. */
static void *rd_vec(rd_t *r, uint32_t *n, size_t item_bytes)
{
    if (!rd_count(r, n))
        return NULL;
    void *arr = calloc(*n ? *n : 1, item_bytes);
    if (!arr)
        nomem(r);
    return arr;
}

static bool sec_types(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    if (!rd_count(r, &n))
        return false;
    /* every value type takes at least one byte, so the section size bounds the pool */
    size_t pool = (size_t)(r->end - r->p) + 1;
    m->valtypes = calloc(pool, sizeof *m->valtypes);
    m->types = calloc(n ? n : 1, sizeof *m->types);
    if (!m->valtypes || !m->types)
        return nomem(r);
    size_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *at = r->p;
        uint8_t form;
        if (!rd_u8(r, &form))
            return false;
        if (form != 0x60)
            return MALFORMED(r, at, "integer representation too long (function type form 0x%02x)",
                             form);
        wa_functype_t *ft = &m->types[i].ft;
        for (int pr = 0; pr < 2; pr++) {
            uint32_t k;
            const uint8_t *kat = r->p;
            if (!rd_u32(r, &k))
                return false;
            if (k > (size_t)(r->end - r->p))
                return MALFORMED(r, kat, "length out of bounds");
            if (k > MAX_TYPE_VALUES)
                return wa__fail(r, WA_ERR_LIMIT, kat, "more than %u %s", MAX_TYPE_VALUES,
                            pr ? "results" : "params");
            wa_valtype_t *vt = m->valtypes + used;
            for (uint32_t j = 0; j < k; j++)
                if (!rd_valtype(r, &vt[j]))
                    return false;
            used += k;
            if (pr == 0)
                ft->nparams = k, ft->params = vt;
            else
                ft->nresults = k, ft->results = vt;
        }
        m->types[i].hash = wa__type_hash(ft);
        m->ntypes = i + 1;
    }
    return true;
}

static bool add_func(ld_t *L, uint32_t type)
{
    wa_module_t *m = L->m;
    uint32_t cap = m->nfuncs; /* func_types grows by doubling past powers of two */
    uint32_t c2 = 1;
    while (c2 < cap)
        c2 *= 2;
    if (m->nfuncs == 0 || m->nfuncs == c2) {
        uint32_t *p = realloc(m->func_types, (size_t)(m->nfuncs ? m->nfuncs * 2 : 16) * 4);
        if (!p)
            return nomem(&L->r);
        m->func_types = p;
    }
    m->func_types[m->nfuncs++] = type;
    return true;
}

static bool sec_imports(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    if (!(m->imports = rd_vec(r, &n, sizeof *m->imports)))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        wa_import_t *im = &m->imports[i];
        m->nimports = i + 1;
        if (!wa__rd_name(r, &im->module) || !wa__rd_name(r, &im->name))
            return false;
        const uint8_t *at = r->p;
        uint8_t kind;
        if (!rd_u8(r, &kind))
            return false;
        switch (kind) {
        case 0: {
            uint32_t t;
            if (!rd_u32(r, &t) || !check_type_index(r, at + 1, m, t))
                return false;
            im->type.kind = WA_EXTERN_FUNC;
            im->type.u.func = m->types[t].ft;
            im->type_index = t;
            if (!add_func(L, t))
                return false;
            m->nfunc_imports++;
            break;
        }
        case 1: {
            im->type.kind = WA_EXTERN_TABLE;
            if (!rd_reftype(r, &im->type.u.table.elem) ||
                !rd_limits(r, &im->type.u.table.limits, false))
                return false;
            wa_table_desc_t *t = realloc(m->tables, (m->ntables + 1) * sizeof *t);
            if (!t)
                return nomem(r);
            m->tables = t;
            t[m->ntables].elem = im->type.u.table.elem;
            t[m->ntables].limits = im->type.u.table.limits;
            m->ntables++;
            m->ntable_imports++;
            break;
        }
        case 2:
            im->type.kind = WA_EXTERN_MEMORY;
            if (!rd_limits(r, &im->type.u.memory, true))
                return false;
            if (m->nmems)
                return INVALID(r, at, "multiple memories");
            m->mem = im->type.u.memory;
            m->nmems++;
            m->nmem_imports++;
            break;
        case 3: {
            im->type.kind = WA_EXTERN_GLOBAL;
            uint8_t mut;
            if (!rd_valtype(r, &im->type.u.global.type) || !rd_u8(r, &mut))
                return false;
            if (mut > 1)
                return MALFORMED(r, r->p - 1, "malformed mutability");
            im->type.u.global.mutable_ = mut;
            wa_global_desc_t *g = realloc(m->globals, (m->nglobals + 1) * sizeof *g);
            if (!g)
                return nomem(r);
            m->globals = g;
            memset(&g[m->nglobals], 0, sizeof *g);
            g[m->nglobals].type = im->type.u.global.type;
            g[m->nglobals].mutable_ = mut;
            m->nglobals++;
            m->nglobal_imports++;
            break;
        }
        case 4:
            return MALFORMED(r, at, "malformed import kind (4: exception handling tag, not supported)");
        default:
            return MALFORMED(r, at, "malformed import kind");
        }
    }
    return true;
}

static bool sec_funcs(ld_t *L)
{
    rd_t *r = &L->r;
    uint32_t n;
    if (!rd_count(r, &n))
        return false;
    L->saw_func_section = true;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *at = r->p;
        uint32_t t;
        if (!rd_u32(r, &t) || !check_type_index(r, at, L->m, t) || !add_func(L, t))
            return false;
    }
    L->ndefined_funcs = n;
    return true;
}

static bool sec_tables(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    if (!rd_count(r, &n))
        return false;
    wa_table_desc_t *t = realloc(m->tables, (m->ntables + n + 1) * sizeof *t);
    if (!t)
        return nomem(r);
    m->tables = t;
    for (uint32_t i = 0; i < n; i++) {
        if (!rd_reftype(r, &t[m->ntables].elem) || !rd_limits(r, &t[m->ntables].limits, false))
            return false;
        m->ntables++;
    }
    return true;
}

static bool sec_mems(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    if (!rd_u32(r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *at = r->p;
        wa_limits_desc_t l;
        if (!rd_limits(r, &l, true))
            return false;
        if (m->nmems)
            return INVALID(r, at, "multiple memories");
        m->mem = l;
        m->nmems++;
    }
    return true;
}

static bool known_opcode(uint8_t op)
{
    return op <= 0x05 || (op >= 0x0b && op <= 0x11) || (op >= 0x1a && op <= 0x1c) ||
           (op >= 0x20 && op <= 0x26) || (op >= 0x28 && op <= 0xc4) || (op >= 0xd0 && op <= 0xd2) ||
           op == 0xfc;
}

/* Constant expressions (spec 3.3.10): one constant instruction and `end`. */
static bool rd_constexpr(ld_t *L, wa_valtype_t want, wa_constexpr_t *e, uint32_t nglobals_visible)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t count = 0;
    wa_valtype_t have = WA_I32;
    memset(e, 0, sizeof *e);
    for (;;) {
        const uint8_t *at = r->p;
        uint8_t op;
        uint64_t v;
        if (!rd_u8(r, &op))
            return false;
        if (op == 0x0b)
            break;
        count++;
        e->op = op;
        switch (op) {
        case 0x41:
            if (!rd_leb(r, 32, true, &v))
                return false;
            e->value.i32 = (int32_t)(uint32_t)v;
            have = WA_I32;
            break;
        case 0x42:
            if (!rd_leb(r, 64, true, &v))
                return false;
            e->value.i64 = (int64_t)v;
            have = WA_I64;
            break;
        case 0x43: {
            const uint8_t *b;
            if (!rd_bytes(r, 4, &b))
                return false;
            memcpy(&e->value.f32_bits, b, 4);
            have = WA_F32;
            break;
        }
        case 0x44: {
            const uint8_t *b;
            if (!rd_bytes(r, 8, &b))
                return false;
            memcpy(&e->value.f64_bits, b, 8);
            have = WA_F64;
            break;
        }
        case 0xd0:
            if (!rd_reftype(r, &have))
                return false;
            e->value.raw = 0;
            break;
        case 0xd2:
            if (!rd_u32(r, &e->index))
                return false;
            if (e->index >= m->nfuncs)
                return INVALID(r, at, "unknown function %u", e->index);
            m->declared_funcs[e->index] = 1;
            have = WA_FUNCREF;
            break;
        case 0x23:
            if (!rd_u32(r, &e->index))
                return false;
            if (e->index >= nglobals_visible)
                return INVALID(r, at, "unknown global %u", e->index);
            if (m->globals[e->index].mutable_)
                return INVALID(r, at, "constant expression required");
            have = m->globals[e->index].type;
            break;
        default:
            if (op == 0xfd)
                return UNSUPPORTED(r, at, "SIMD (0xfd prefix) is not supported");
            if (!known_opcode(op))
                return MALFORMED(r, at, "illegal opcode 0x%02x", op);
            return INVALID(r, at, "constant expression required");
        }
    }
    if (count != 1 || have != want)
        return INVALID(r, r->p - 1, "type mismatch");
    return true;
}

static bool sec_globals(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    if (!rd_count(r, &n))
        return false;
    wa_global_desc_t *g = realloc(m->globals, (m->nglobals + n + 1) * sizeof *g);
    if (!g)
        return nomem(r);
    m->globals = g;
    for (uint32_t i = 0; i < n; i++) {
        wa_global_desc_t *d = &g[m->nglobals];
        uint8_t mut;
        if (!rd_valtype(r, &d->type) || !rd_u8(r, &mut))
            return false;
        if (mut > 1)
            return MALFORMED(r, r->p - 1, "malformed mutability");
        d->mutable_ = mut;
        /* only imported globals are visible to initialisers (Wasm 2.0 3.4.10) */
        if (!rd_constexpr(L, d->type, &d->init, m->nglobal_imports))
            return false;
        m->nglobals++;
    }
    return true;
}

static bool sec_exports(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    if (!(m->exports = rd_vec(r, &n, sizeof *m->exports)))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        wa_export_t *e = &m->exports[i];
        const uint8_t *nat = r->p;
        if (!wa__rd_name(r, &e->name))
            return false;
        {
            rd_t tmp = {.p = nat, .end = r->end, .base = r->base};
            uint32_t nl = 0;
            rd_u32(&tmp, &nl);
            e->name_len = nl;
        }
        m->nexports = i + 1;
        const uint8_t *at = r->p;
        uint8_t kind;
        if (!rd_u8(r, &kind) || !rd_u32(r, &e->index))
            return false;
        for (uint32_t j = 0; j < i; j++)
            if (m->exports[j].name_len == e->name_len &&
                memcmp(m->exports[j].name, e->name, e->name_len) == 0)
                return INVALID(r, nat, "duplicate export name");
        switch (kind) {
        case 0:
            e->kind = WA_EXTERN_FUNC;
            if (e->index >= m->nfuncs)
                return INVALID(r, at, "unknown function %u", e->index);
            m->declared_funcs[e->index] = 1;
            break;
        case 1:
            e->kind = WA_EXTERN_TABLE;
            if (e->index >= m->ntables)
                return INVALID(r, at, "unknown table %u", e->index);
            break;
        case 2:
            e->kind = WA_EXTERN_MEMORY;
            if (e->index >= m->nmems)
                return INVALID(r, at, "unknown memory %u", e->index);
            break;
        case 3:
            e->kind = WA_EXTERN_GLOBAL;
            if (e->index >= m->nglobals)
                return INVALID(r, at, "unknown global %u", e->index);
            break;
        case 4:
            return UNSUPPORTED(r, at, "exception handling (tag export) is not supported");
        default:
            return MALFORMED(r, at, "malformed export kind");
        }
    }
    return true;
}

static bool sec_start(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    const uint8_t *at = r->p;
    if (!rd_u32(r, &m->start))
        return false;
    if (m->start >= m->nfuncs)
        return INVALID(r, at, "unknown function %u", m->start);
    const wa_functype_t *t = &m->types[m->func_types[m->start]].ft;
    if (t->nparams || t->nresults)
        return INVALID(r, at, "start function must have type [] -> []");
    return true;
}

static bool sec_elems(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    if (!(m->elems = rd_vec(r, &n, sizeof *m->elems)))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        wa_elem_t *e = &m->elems[i];
        m->nelems = i + 1;
        const uint8_t *at = r->p;
        uint32_t flags;
        if (!rd_u32(r, &flags))
            return false;
        if (flags > 7)
            return MALFORMED(r, at, "malformed elements segment kind");
        e->mode = (flags & 1) ? ((flags & 2) ? WA_SEG_DECLARATIVE : WA_SEG_PASSIVE) : WA_SEG_ACTIVE;
        e->type = WA_FUNCREF;
        e->table = 0;
        const uint8_t *tat = r->p;
        if (flags == 2 || flags == 6) {
            if (!rd_u32(r, &e->table))
                return false;
        }
        if (e->mode == WA_SEG_ACTIVE) {
            if (e->table >= m->ntables)
                return INVALID(r, tat, "unknown table %u", e->table);
            if (!rd_constexpr(L, WA_I32, &e->offset, m->nglobal_imports))
                return false;
        }
        bool exprs = flags & 4;
        if (flags & 3) {
            const uint8_t *kat = r->p;
            if (exprs) {
                if (!rd_reftype(r, &e->type))
                    return false;
            } else {
                uint8_t k;
                if (!rd_u8(r, &k))
                    return false;
                if (k != 0)
                    return MALFORMED(r, kat, "malformed element kind");
            }
        }
        uint32_t cnt;
        if (!rd_u32(r, &cnt))
            return false;
        if (cnt > (uint32_t)(r->end - r->p))
            return MALFORMED(r, r->p, "length out of bounds");
        e->items = calloc(cnt ? cnt : 1, sizeof *e->items);
        if (!e->items)
            return nomem(r);
        for (uint32_t j = 0; j < cnt; j++) {
            if (exprs) {
                if (!rd_constexpr(L, e->type, &e->items[j], m->nglobal_imports))
                    return false;
            } else {
                const uint8_t *fat = r->p;
                uint32_t f;
                if (!rd_u32(r, &f))
                    return false;
                if (f >= m->nfuncs)
                    return INVALID(r, fat, "unknown function %u", f);
                m->declared_funcs[f] = 1;
                e->items[j].op = 0xd2;
                e->items[j].index = f;
            }
            e->count = j + 1;
        }
        if (e->mode == WA_SEG_ACTIVE && m->tables[e->table].elem != e->type)
            return INVALID(r, at, "type mismatch");
    }
    return true;
}

static bool sec_datas(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    const uint8_t *nat = r->p;
    if (!(m->datas = rd_vec(r, &n, sizeof *m->datas)))
        return false;
    if (m->has_datacount && n != m->ndatas)
        return MALFORMED(r, nat, "data count and data section have inconsistent lengths");
    m->ndatas = n;
    for (uint32_t i = 0; i < n; i++) {
        wa_data_t *d = &m->datas[i];
        const uint8_t *at = r->p;
        uint32_t flags, mem = 0;
        if (!rd_u32(r, &flags))
            return false;
        if (flags > 2)
            return MALFORMED(r, at, "malformed data segment kind");
        d->mode = flags == 1 ? WA_SEG_PASSIVE : WA_SEG_ACTIVE;
        if (flags == 2 && !rd_u32(r, &mem))
            return false;
        if (d->mode == WA_SEG_ACTIVE) {
            if (mem >= m->nmems)
                return INVALID(r, at, "unknown memory %u", mem);
            if (!rd_constexpr(L, WA_I32, &d->offset, m->nglobal_imports))
                return false;
        }
        const uint8_t *lat = r->p;
        if (!rd_u32(r, &d->len))
            return false;
        if (d->len > (size_t)(r->end - r->p))
            return MALFORMED(r, lat, "unexpected end of section or function");
        if (!rd_bytes(r, d->len, &d->bytes))
            return false;
        m->data_bytes += d->len;
    }
    return true;
}

bool wa__read_section(ld_t *L, uint8_t id)
{
    switch (id) {
    case 1: return sec_types(L);
    case 2: return sec_imports(L);
    case 3: return sec_funcs(L);
    case 4: return sec_tables(L);
    case 5: return sec_mems(L);
    case 6: return sec_globals(L);
    case 7: return sec_exports(L);
    case 8: return sec_start(L);
    case 9: return sec_elems(L);
    case 11: return sec_datas(L);
    case 12:
        L->m->has_datacount = true;
        return rd_u32(&L->r, &L->m->ndatas);
    }
    return MALFORMED(&L->r, L->r.p, "malformed section id");
}
