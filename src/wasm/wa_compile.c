/* Function bodies: validates each one (spec appendix "Validation Algorithm") and compiles it
 * in the same pass to the interpreter's register/slot word code (docs/engine.md). The value
 * tracking lives in wa_compile_slots.inc, the per-opcode rules in wa_compile_op.inc. */
#include "wa_read.h"

#include <string.h>

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
     * the operand's slot until something needs them there (see wa_compile_slots.inc) */
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

/* A return of n results that start at slot src; RETURN1 carries only the slot. `force` emits
 * it in unreachable code too (a function's closing end must be in the code). */
static bool emit_return(cc_t *c, bool force, wa_word_t src, uint32_t n)
{
    bool (*e)(cc_t *, wa_word_t) = force ? emit_force : emit;
    if (n == 1)
        return e(c, WA_OP_RETURN1) && e(c, src);
    return e(c, WA_OP_RETURN) && e(c, src) && e(c, n);
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
        return wa__fail(c->r, WA_ERR_LIMIT, c->op_at, "blocks nested too deeply");
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

#include "wa_compile_slots.inc"

static bool compile_op(cc_t *c, uint8_t op, bool *done);
static bool compile_fc(cc_t *c);

/* A validated body that is `end` alone, or one constant and `end`: calling it can only
 * return that value, so an embedder may skip the call (an SDK's unused callbacks, once its
 * dispatch is folded at link time, look like this). */
static bool lone_constant(const uint8_t *p, const uint8_t *end, uint32_t nresults,
                          wa_value_t *out)
{
    out->raw = 0;
    if (end - p == 1)
        return nresults == 0;
    if (nresults != 1)
        return false;
    uint8_t op = *p++;
    if (op == 0x43 || op == 0x44) {
        size_t n = op == 0x43 ? 4 : 8;
        if ((size_t)(end - p) != n + 1)
            return false;
        memcpy(&out->raw, p, n); /* little-endian, as f32_bits / f64_bits */
        return true;
    }
    if (op != 0x41 && op != 0x42)
        return false;
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do { /* validation bounded the LEB at 5 (i32) or 10 (i64) bytes */
        b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && p < end);
    if (p != end - 1)
        return false;
    if (shift < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << shift;
    if (op == 0x41)
        out->i32 = (int32_t)(uint32_t)v;
    else
        out->i64 = (int64_t)v;
    return true;
}

static bool compile_body(cc_t *c, wa_code_t *code)
{
    rd_t *r = c->r;
    const wa_functype_t *ft = &c->m->types[code->type_index].ft;
    c->vh = c->ch = c->len = c->ntm = c->max_h = 0;
    c->pending_invalid = false;
    c->lazy_lo = 0;
    c->res_end = UINT32_MAX;
    c->res_op = 0;
    c->prologue = true;
    c->written = 0;
    c->mov_end = UINT32_MAX;
    c->nparams = ft->nparams;
    /* locals: params then the declared groups */
    uint32_t ngroups;
    uint64_t total = ft->nparams;
    if (!rd_u32(r, &ngroups))
        return false;
    const uint8_t *save = r->p;
    for (uint32_t g = 0; g < ngroups; g++) {
        uint32_t cnt;
        wa_valtype_t t;
        if (!rd_u32(r, &cnt) || !rd_valtype(r, &t))
            return false;
        total += cnt;
        if (total > MAX_LOCALS)
            return MALFORMED(r, save, "too many locals");
    }
    free(c->locals);
    c->locals = malloc((size_t)(total ? total : 1) * sizeof *c->locals);
    if (!c->locals)
        return nomem(r);
    c->nlocals = (uint32_t)total;
    wa__copy(c->locals, ft->params, ft->nparams * sizeof *c->locals);
    r->p = save;
    uint32_t k = ft->nparams;
    for (uint32_t g = 0; g < ngroups; g++) {
        uint32_t cnt = 0;
        wa_valtype_t t = WA_I32;
        rd_u32(r, &cnt);
        rd_valtype(r, &t);
        for (uint32_t j = 0; j < cnt; j++)
            c->locals[k++] = t;
    }
    c->op_at = r->p;
    const uint8_t *ops = r->p;
    if (!push_ctl(c, K_FUNC, 0, NULL, ft->nresults, ft->results))
        return false;
    bool done = false;
    while (!done) {
        c->op_at = r->p;
        uint8_t op;
        if (r->p >= r->end)
            return MALFORMED(r, r->p, "unexpected end of section or function");
        if (!rd_u8(r, &op) || !compile_op(c, op, &done))
            return false;
    }
    if (r->p != r->end)
        return MALFORMED(r, r->p, "section size mismatch (junk after function end)");
    if (c->pending_invalid)
        return false;
    code->nparams = ft->nparams;
    code->nresults = ft->nresults;
    code->nlocals = c->nlocals + 1; /* the zero slot is cleared with the declared locals */
    code->max_height = c->max_h + 4;
    code->frame_slots = code->nlocals + code->max_height;
    code->nzero = code->nlocals - code->nparams;
    code->code = malloc((size_t)c->len * sizeof(wa_word_t));
    code->trap_map = malloc((size_t)(c->ntm ? c->ntm : 1) * sizeof(uint32_t));
    if (!code->code || !code->trap_map)
        return nomem(r);
    memcpy(code->code, c->code, (size_t)c->len * sizeof(wa_word_t));
    wa__copy(code->trap_map, c->tm, (size_t)c->ntm * sizeof(uint32_t));
    code->code_len = c->len;
    code->ntrap = c->ntm / 2;
    code->constant = lone_constant(ops, r->end, ft->nresults, &code->constant_value);
    return true;
}

static bool local_idx(cc_t *c, uint32_t *x)
{
    const uint8_t *at = c->r->p;
    if (!rd_u32(c->r, x))
        return false;
    if (*x >= c->nlocals)
        return INVALID(c->r, at, "unknown local %u", *x);
    return true;
}

static bool global_idx(cc_t *c, uint32_t *x)
{
    const uint8_t *at = c->r->p;
    if (!rd_u32(c->r, x))
        return false;
    if (*x >= c->m->nglobals)
        return INVALID(c->r, at, "unknown global %u", *x);
    return true;
}

static bool do_call_type(cc_t *c, const wa_functype_t *ft)
{
    return pops(c, ft->nparams, ft->params) && pushes(c, ft->nresults, ft->results);
}


#include "wa_compile_op.inc"

bool wa__sec_code(ld_t *L)
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
