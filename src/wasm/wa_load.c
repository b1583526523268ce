/* Module loading: decodes the binary format, validates it (spec "Validation" algorithm) and
 * compiles every function body in the same pass into the interpreter's word code. */
#include "wa_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LOCALS 50000u   /* per function; real compilers stay far below */
#define MAX_BLOCK_DEPTH 100000u
#define MAX_TYPE_VALUES 1000u /* params or results of a Wasm type (host functions: 64) */

typedef struct rd {
    const uint8_t *p, *end, *base;
    wa_error_t *err;
} rd_t;

static bool fail(rd_t *r, wa_status_t st, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(rd_t *r, wa_status_t st, const uint8_t *at, const char *fmt, ...)
{
    if (r->err && (r->err->status == WA_OK ||
                   (r->err->status == WA_ERR_INVALID && st == WA_ERR_MALFORMED))) {
        va_list ap;
        r->err->status = st;
        r->err->offset = (size_t)(at - r->base);
        va_start(ap, fmt);
        vsnprintf(r->err->message, sizeof r->err->message, fmt, ap);
        va_end(ap);
    }
    return false;
}

#define MALFORMED(r, at, ...) fail((r), WA_ERR_MALFORMED, (at), __VA_ARGS__)
#define INVALID(r, at, ...) fail((r), WA_ERR_INVALID, (at), __VA_ARGS__)
#define UNSUPPORTED(r, at, ...) fail((r), WA_ERR_UNSUPPORTED, (at), __VA_ARGS__)

static bool rd_u8(rd_t *r, uint8_t *out)
{
    *out = 0;
    if (r->p >= r->end)
        return MALFORMED(r, r->p, "unexpected end");
    *out = *r->p++;
    return true;
}

/* LEB128 (spec 5.2.2): at most ceil(bits/7) bytes; unused bits of the last byte must be
 * zero (unsigned) or copies of the sign bit (signed). */
static bool rd_leb(rd_t *r, unsigned bits, bool sign, uint64_t *out)
{
    uint64_t v = 0;
    *out = 0;
    unsigned shift = 0, maxbytes = (bits + 6) / 7;
    for (unsigned i = 0;; i++) {
        if (r->p >= r->end)
            return MALFORMED(r, r->p, "unexpected end");
        uint8_t b = *r->p++;
        if (i == maxbytes - 1) {
            if (b & 0x80)
                return MALFORMED(r, r->p - 1, "integer representation too long");
            unsigned used = bits - shift; /* value bits in this byte */
            uint8_t rest = (uint8_t)(b & 0x7f) >> (used > 7 ? 7 : used);
            if (!sign) {
                if (rest)
                    return MALFORMED(r, r->p - 1, "integer too large");
            } else {
                uint8_t signbit = (b >> (used - 1)) & 1;
                uint8_t want = signbit ? (uint8_t)(0x7f >> used) : 0;
                if (rest != want)
                    return MALFORMED(r, r->p - 1, "integer too large");
            }
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (sign && shift < 64 && (v >> (shift - 1)) & 1)
        v |= ~0ull << shift;
    *out = v;
    return true;
}

static bool rd_u32(rd_t *r, uint32_t *out)
{
    uint64_t v;
    *out = 0;
    if (!rd_leb(r, 32, false, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool rd_bytes(rd_t *r, size_t n, const uint8_t **out)
{
    *out = NULL;
    if ((size_t)(r->end - r->p) < n)
        return MALFORMED(r, r->p, "unexpected end");
    *out = r->p;
    r->p += n;
    return true;
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static bool rd_name(rd_t *r, char **out)
{
    uint32_t n;
    const uint8_t *s, *at = r->p;
    if (!rd_u32(r, &n))
        return false;
    if ((size_t)(r->end - r->p) < n)
        return MALFORMED(r, at, "length out of bounds");
    if (!rd_bytes(r, n, &s))
        return false;
    if (!utf8_ok(s, n))
        return MALFORMED(r, s, "malformed UTF-8 encoding");
    if (out) {
        char *c = malloc((size_t)n + 1);
        if (!c)
            return fail(r, WA_ERR_NOMEM, s, "out of memory");
        memcpy(c, s, n);
        c[n] = 0;
        *out = c;
    }
    return true;
}

static bool is_num(uint8_t t) { return t == WA_I32 || t == WA_I64 || t == WA_F32 || t == WA_F64; }
static bool is_ref(uint8_t t) { return t == WA_FUNCREF || t == WA_EXTERNREF; }

static bool rd_valtype(rd_t *r, wa_valtype_t *out)
{
    const uint8_t *at = r->p;
    uint8_t b;
    if (!rd_u8(r, &b))
        return false;
    if (b == 0x7b)
        return UNSUPPORTED(r, at, "SIMD (v128 value type) is not supported");
    if (!is_num(b) && !is_ref(b))
        return MALFORMED(r, at, "malformed value type 0x%02x", b);
    *out = (wa_valtype_t)b;
    return true;
}

static bool rd_reftype(rd_t *r, wa_valtype_t *out)
{
    const uint8_t *at = r->p;
    uint8_t b;
    if (!rd_u8(r, &b))
        return false;
    if (!is_ref(b))
        return MALFORMED(r, at, "malformed reference type");
    *out = (wa_valtype_t)b;
    return true;
}

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

static void module_free(wa_module_t *m)
{
    if (!m)
        return;
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

/* Grows *arr (element size sz) so that it holds at least n elements. */
static bool grow(void **arr, uint32_t *cap, uint32_t n, size_t sz)
{
    if (n <= *cap)
        return true;
    uint32_t nc = *cap ? *cap * 2 : 16;
    while (nc < n)
        nc *= 2;
    void *p = realloc(*arr, (size_t)nc * sz);
    if (!p)
        return false;
    *arr = p;
    *cap = nc;
    return true;
}

typedef struct ld {
    rd_t r;
    wa_module_t *m;
    uint32_t nvaltypes, valtypes_cap;
    uint32_t ndefined_funcs; /* from the function section */
    bool saw_func_section;
    bool saw_code;
} ld_t;

static bool nomem(rd_t *r) { return fail(r, WA_ERR_NOMEM, r->p, "out of memory"); }

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
                return fail(r, WA_ERR_LIMIT, kat, "more than %u %s", MAX_TYPE_VALUES,
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

static bool check_type_index(rd_t *r, const uint8_t *at, wa_module_t *m, uint32_t t)
{
    if (t >= m->ntypes)
        return INVALID(r, at, "unknown type %u", t);
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
        if (!rd_name(r, &im->module) || !rd_name(r, &im->name))
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
        if (!rd_name(r, &e->name))
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

/* ---- function bodies: validation fused with compilation --------------------------------- */

enum { K_BLOCK, K_LOOP, K_IF, K_ELSE, K_FUNC };

typedef struct ctl {
    uint8_t kind;
    bool unreachable, dead;
    uint32_t height; /* operand height at entry, below the params */
    uint32_t nparams, nresults;
    const wa_valtype_t *params, *results;
    uint32_t loop_pc;
    uint32_t patch;      /* chain of forward branch words to patch at `end` (index + 1) */
    uint32_t else_patch; /* the if's JMP_IFNOT target word (index + 1) */
} ctl_t;

/* Where an operand-stack value lives at compile time. */
enum { VD_SLOT, VD_LOCAL, VD_C32, VD_C64 };
typedef struct vd {
    uint8_t kind; /* VD_SLOT: in the slot of its height; VD_LOCAL: local v; VD_C*: constant v */
    uint64_t v;
} vd_t;

typedef struct cc {
    rd_t *r;
    wa_module_t *m;
    uint8_t *vs; /* operand types; 0 = unknown (polymorphic stack) */
    uint32_t vh, vcap;
    ctl_t *cs;
    uint32_t ch, ccap;
    wa_word_t *code;
    uint32_t len, cap;
    uint32_t *tm; /* trap map pairs */
    uint32_t ntm, tmcap;
    wa_valtype_t *locals;
    uint32_t nlocals, max_h;
    const uint8_t *op_at;
    bool pending_invalid; /* an error was recorded but decoding continued */
    /* where each operand lives, parallel to vs: local.get and constants are not copied to
     * the operand's slot until something needs them there (see wa_compile.inc) */
    vd_t *vd;
    uint32_t vdcap;
    uint32_t lazy_lo; /* every entry below this height is in its own slot */
    /* the last value op, while it is the last code emitted: its result slot word can be
     * retargeted to a local (local.set/tee), a comparison can become a branch */
    uint32_t res_at, res_end, res_h;
    uint16_t res_op; /* its op (the _RC variant for a constant b), or 0 */
    /* until the first loop (no backward edge yet): the first 64 declared locals that some
     * earlier code may have made non-zero (the others still hold the zero every call starts
     * them with) */
    bool prologue;
    uint64_t written;
    uint32_t nparams;
    /* the last MOV, while it is the last code emitted: a second one merges into it */
    uint32_t mov_at, mov_end;
} cc_t;

/* The frame: params and declared locals, one hidden slot that stays zero (the base of
 * constant addresses), then one slot per operand-stack height. */
static uint32_t zero_slot(cc_t *c) { return c->nlocals; }
static uint32_t slot(cc_t *c, uint32_t h) { return c->nlocals + 1 + h; }


static const wa_valtype_t vt_one[4][1] = {{WA_I32}, {WA_I64}, {WA_F32}, {WA_F64}};
static const wa_valtype_t vt_ref[2][1] = {{WA_FUNCREF}, {WA_EXTERNREF}};

static const wa_valtype_t *vt_single(uint8_t t)
{
    switch (t) {
    case WA_I32: return vt_one[0];
    case WA_I64: return vt_one[1];
    case WA_F32: return vt_one[2];
    case WA_F64: return vt_one[3];
    case WA_FUNCREF: return vt_ref[0];
    default: return vt_ref[1];
    }
}

static bool live(cc_t *c)
{
    ctl_t *t = &c->cs[c->ch - 1];
    return !t->unreachable && !t->dead;
}

/* Branch targets are stored relative to the word holding them. */
static wa_word_t rel(uint32_t to, uint32_t at) { return (wa_word_t)(int32_t)((int64_t)to - at); }

static bool emit(cc_t *c, wa_word_t w)
{
    if (!live(c))
        return true;
    if (!grow((void **)&c->code, &c->cap, c->len + 1, sizeof *c->code))
        return nomem(c->r);
    c->code[c->len++] = w;
    return true;
}

static bool emit_force(cc_t *c, wa_word_t w)
{
    if (!grow((void **)&c->code, &c->cap, c->len + 1, sizeof *c->code))
        return nomem(c->r);
    c->code[c->len++] = w;
    return true;
}

/* Emits an op that may trap and records where it came from for trap reports. */
static bool emit_trap(cc_t *c, wa_word_t op)
{
    if (!live(c))
        return true;
    if (!grow((void **)&c->tm, &c->tmcap, c->ntm + 2, sizeof *c->tm))
        return nomem(c->r);
    c->tm[c->ntm++] = c->len;
    c->tm[c->ntm++] = (uint32_t)(c->op_at - c->r->base);
    return emit(c, op);
}

static bool push(cc_t *c, uint8_t t)
{
    if (!grow((void **)&c->vs, &c->vcap, c->vh + 1, 1) ||
        !grow((void **)&c->vd, &c->vdcap, c->vh + 1, sizeof *c->vd))
        return nomem(c->r);
    c->vd[c->vh].kind = VD_SLOT;
    c->vs[c->vh++] = t;
    if (c->vh > c->max_h)
        c->max_h = c->vh;
    return true;
}

/* Pops one operand expecting type `want` (0 = any); *got receives its type (0 = unknown). */
static bool pop(cc_t *c, uint8_t want, uint8_t *got)
{
    ctl_t *t = &c->cs[c->ch - 1];
    if (c->vh == t->height) {
        if (t->unreachable) {
            if (got)
                *got = 0;
            return true;
        }
        return INVALID(c->r, c->op_at, "type mismatch");
    }
    uint8_t a = c->vs[--c->vh];
    if (want && a && a != want)
        return INVALID(c->r, c->op_at, "type mismatch");
    if (got)
        *got = a;
    return true;
}

static bool pops(cc_t *c, uint32_t n, const wa_valtype_t *ts)
{
    for (uint32_t i = n; i-- > 0;)
        if (!pop(c, ts[i], NULL))
            return false;
    return true;
}

static bool pushes(cc_t *c, uint32_t n, const wa_valtype_t *ts)
{
    for (uint32_t i = 0; i < n; i++)
        if (!push(c, ts[i]))
            return false;
    return true;
}

static void set_unreachable(cc_t *c)
{
    ctl_t *t = &c->cs[c->ch - 1];
    c->vh = t->height;
    t->unreachable = true;
}

static bool push_ctl(cc_t *c, uint8_t kind, uint32_t np, const wa_valtype_t *p, uint32_t nr,
                     const wa_valtype_t *res)
{
    if (c->ch >= MAX_BLOCK_DEPTH)
        return fail(c->r, WA_ERR_LIMIT, c->op_at, "blocks nested too deeply");
    bool parent_dead = c->ch ? !live(c) : false;
    if (!grow((void **)&c->cs, &c->ccap, c->ch + 1, sizeof *c->cs))
        return nomem(c->r);
    ctl_t *t = &c->cs[c->ch++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->dead = parent_dead;
    t->height = c->vh;
    t->nparams = np, t->params = p;
    t->nresults = nr, t->results = res;
    t->loop_pc = c->len;
    return pushes(c, np, p);
}

static bool rd_blocktype(cc_t *c, uint32_t *np, const wa_valtype_t **p, uint32_t *nr,
                         const wa_valtype_t **res)
{
    rd_t *r = c->r;
    const uint8_t *at = r->p;
    if (r->p >= r->end)
        return MALFORMED(r, r->p, "unexpected end");
    uint8_t b = *r->p;
    *np = 0, *p = NULL;
    if (b == 0x40) {
        r->p++;
        *nr = 0, *res = NULL;
        return true;
    }
    if (is_num(b) || is_ref(b)) {
        r->p++;
        *nr = 1, *res = vt_single(b);
        return true;
    }
    if (b == 0x7b)
        return UNSUPPORTED(r, at, "SIMD (v128 value type) is not supported");
    uint64_t v;
    if (!rd_leb(r, 33, true, &v))
        return false;
    if ((int64_t)v < 0)
        return MALFORMED(r, at, "malformed block type");
    if (v >= c->m->ntypes) {
        /* reported, but decoding goes on: a malformed body wins over this (spec order) */
        INVALID(r, at, "unknown type");
        c->pending_invalid = true;
        *nr = 0, *res = NULL;
        return true;
    }
    const wa_functype_t *ft = &c->m->types[v].ft;
    *np = ft->nparams, *p = ft->params;
    *nr = ft->nresults, *res = ft->results;
    return true;
}

/* Points the target word at the label: now for a loop, at its `end` for the others. */
static void link_target(cc_t *c, ctl_t *t, uint32_t target_word)
{
    if (t->kind == K_LOOP) {
        c->code[target_word] = rel(t->loop_pc, target_word);
    } else {
        c->code[target_word] = t->patch;
        t->patch = target_word + 1;
    }
}

/* Emits a branch to label `depth` (already bounds-checked), the label's values on top of the
 * stack in their slots. cond: the slot of br_if's condition (UINT32_MAX for br). */
static bool emit_branch(cc_t *c, uint32_t depth, uint32_t cond)
{
    if (!live(c))
        return true;
    ctl_t *t = &c->cs[c->ch - 1 - depth];
    bool loop = t->kind == K_LOOP;
    uint32_t arity = loop ? t->nparams : t->nresults;
    uint32_t target_word;
    bool is_cond = cond != UINT32_MAX;
    if (c->vh == t->height + arity) {
        if (is_cond) {
            if (!emit(c, loop ? WA_OP_JMP_IF_LOOP : WA_OP_JMP_IF) || !emit(c, cond))
                return false;
        } else if (!emit(c, loop ? WA_OP_JMP_LOOP : WA_OP_JMP)) {
            return false;
        }
        target_word = c->len;
        if (!emit(c, 0))
            return false;
    } else {
        if (!emit(c, is_cond ? WA_OP_BR_IF : WA_OP_BR))
            return false;
        target_word = c->len;
        if (!emit(c, 0) || !emit(c, slot(c, t->height)) || !emit(c, arity) || !emit(c, loop) ||
            !emit(c, slot(c, c->vh)) || !emit(c, is_cond ? cond : 0))
            return false;
    }
    link_target(c, t, target_word);
    return true;
}

static void patch_chain(cc_t *c, uint32_t head, uint32_t to)
{
    while (head) {
        uint32_t next = c->code[head - 1];
        c->code[head - 1] = rel(to, head - 1);
        head = next;
    }
}

static bool rd_label(cc_t *c, uint32_t *depth)
{
    const uint8_t *at = c->r->p;
    if (!rd_u32(c->r, depth))
        return false;
    if (*depth >= c->ch)
        return INVALID(c->r, at, "unknown label");
    return true;
}

static uint32_t label_arity(ctl_t *t) { return t->kind == K_LOOP ? t->nparams : t->nresults; }
static const wa_valtype_t *label_types(ctl_t *t)
{
    return t->kind == K_LOOP ? t->params : t->results;
}

static bool memarg(cc_t *c, uint32_t natural, uint32_t *offset)
{
    rd_t *r = c->r;
    const uint8_t *at = r->p;
    uint32_t align;
    if (!rd_u32(r, &align))
        return false;
    if (align & 0x40)
        return UNSUPPORTED(r, at, "multi-memory is not supported");
    if (!rd_u32(r, offset))
        return false;
    if (c->m->nmems == 0)
        return INVALID(r, c->op_at, "unknown memory 0");
    if (align > natural)
        return INVALID(r, at, "alignment must not be larger than natural");
    return true;
}

static bool zero_byte(cc_t *c)
{
    uint8_t b;
    if (!rd_u8(c->r, &b))
        return false;
    if (b != 0)
        return MALFORMED(c->r, c->r->p - 1, "zero byte expected");
    return true;
}

static bool need_mem(cc_t *c)
{
    if (c->m->nmems == 0)
        return INVALID(c->r, c->op_at, "unknown memory 0");
    return true;
}

static bool table_idx(cc_t *c, uint32_t *t)
{
    const uint8_t *at = c->r->p;
    if (!rd_u32(c->r, t))
        return false;
    if (*t >= c->m->ntables)
        return INVALID(c->r, at, "unknown table %u", *t);
    return true;
}

static bool end_block(cc_t *c)
{
    ctl_t *t = &c->cs[c->ch - 1];
    if (!pops(c, t->nresults, t->results))
        return false;
    if (c->vh != t->height)
        return INVALID(c->r, c->op_at, "type mismatch");
    if (t->kind == K_IF) {
        /* an if without else passes its params through: they must equal the results */
        if (t->nparams != t->nresults)
            return INVALID(c->r, c->op_at, "type mismatch");
        for (uint32_t i = 0; i < t->nparams; i++)
            if (t->params[i] != t->results[i])
                return INVALID(c->r, c->op_at, "type mismatch");
    }
    if (t->kind != K_LOOP)
        patch_chain(c, t->patch, c->len);
    if (t->else_patch)
        c->code[t->else_patch - 1] = rel(c->len, t->else_patch - 1);
    return true;
}

#include "wa_compile.inc"

static bool sec_code(ld_t *L)
{
    rd_t *r = &L->r;
    wa_module_t *m = L->m;
    uint32_t n;
    const uint8_t *at = r->p;
    if (!rd_u32(r, &n))
        return false;
    L->saw_code = true;
    if (n != L->ndefined_funcs)
        return MALFORMED(r, at, "function and code section have inconsistent lengths");
    m->codes = calloc(n ? n : 1, sizeof *m->codes);
    if (!m->codes)
        return nomem(r);
    cc_t c = {.r = r, .m = m};
    bool ok = true;
    for (uint32_t i = 0; i < n && ok; i++) {
        uint32_t size;
        const uint8_t *sat = r->p;
        if (!rd_u32(r, &size)) {
            ok = false;
            break;
        }
        if (size > (size_t)(r->end - r->p)) {
            ok = MALFORMED(r, sat, "unexpected end of section or function");
            break;
        }
        rd_t br = *r;
        br.end = r->p + size;
        r->p += size;
        c.r = &br;
        wa_code_t *code = &m->codes[i];
        code->type_index = m->func_types[m->nfunc_imports + i];
        code->body_offset = (uint32_t)(br.p - br.base);
        ok = compile_body(&c, code);
        if (!ok && r->err && r->err->func_index == UINT32_MAX)
            r->err->func_index = m->nfunc_imports + i;
        m->code_bytes += size;
        m->compiled_bytes += (size_t)code->code_len * sizeof(wa_word_t);
    }
    free(c.vs);
    free(c.vd);
    free(c.cs);
    free(c.locals);
    free(c.code);
    free(c.tm);
    return ok;
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
        switch (id) {
        case 0: ok = rd_name(r, NULL); r->p = r->end; break;
        case 1: ok = sec_types(&L); break;
        case 2: ok = sec_imports(&L); break;
        case 3: ok = sec_funcs(&L); break;
        case 4: ok = sec_tables(&L); break;
        case 5: ok = sec_mems(&L); break;
        case 6: ok = sec_globals(&L); break;
        case 7: ok = sec_exports(&L); break;
        case 8: ok = sec_start(&L); break;
        case 9: ok = sec_elems(&L); break;
        case 10: ok = sec_code(&L); break;
        case 11: ok = sec_datas(&L); break;
        case 12:
            ok = rd_u32(r, &m->ndatas);
            m->has_datacount = true;
            break;
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
}
