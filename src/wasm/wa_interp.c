/* The interpreter: runs compiled word code with computed-goto dispatch (a switch build with
 * -DWA_INTERP_SWITCH). Wasm calls do not recurse on the C stack; they push wa_frame_t. */
#include "wa_internal.h"
#include "wa_numeric.h"

#include <math.h>
#include <string.h>

#define MAX_HOST_NESTING 200 /* re-entrant host -> Wasm -> host chains; each uses C stack */

/* Sanitizer builds dispatch through the switch: clang's instrumentation of a computed-goto
 * function with this many handlers takes minutes, the switch compiles in seconds. */
#if defined(__SANITIZE_ADDRESS__) && !defined(WA_INTERP_SWITCH)
#define WA_INTERP_SWITCH 1
#endif
#if defined(__has_feature) && !defined(WA_INTERP_SWITCH)
#if __has_feature(address_sanitizer)
#define WA_INTERP_SWITCH 1
#endif
#endif

/* A host function called from Wasm code with its operands below sp, by the interpreter or by
 * native code: the nesting limit, a unit of the tick counter, the state a nested call needs,
 * the call and its results. */
__attribute__((always_inline)) static inline wa_trap_kind_t
host_call(wa_exec_t *ex, wa_instance_t *inst, wa_func_t *callee, wa_value_t *sp,
          const wa_frame_t *frame, int64_t *tick)
{
    const wa_functype_t *ht = callee->type;
    wa_value_t *a = sp - ht->nparams;
    wa_value_t res[WA_MAX_FUNC_VALUES];
    if (ex->host_nesting >= MAX_HOST_NESTING)
        return WA_TRAP_STACK_EXHAUSTED;
    if (UNLIKELY(--*tick < 0)) {
        ex->tick = *tick;
        if (!wa__deadline_check(ex))
            return ex->trap_kind;
        *tick = ex->tick;
    }
    ex->sp = sp;
    ex->tick = *tick;
    ex->depth = (uint32_t)(frame - ex->frames); /* nested calls push above it */
    ex->host_nesting++;
    ex->host_msg[0] = 0;
    wa_trap_kind_t hk = callee->host(inst, callee->user, a, res);
    ex->host_nesting--;
    *tick = ex->tick;
    if (hk != WA_TRAP_NONE)
        return hk;
    uint32_t n = ht->nresults;
    if (LIKELY(n == 1)) /* 0 or 1, nearly always: a call to memcpy would cost more */
        a[0] = res[0];
    else if (n)
        memcpy(a, res, n * sizeof *a);
    return WA_TRAP_NONE;
}

/* A call's declared locals (nz slots from z) start at zero, at the interpreter's call and at
 * a native call from the host. A run of up to 8 is cleared by fixed-size stores
 * (AssemblyScript's runtime helpers have 5 to 8 locals), the at most 3 extra slots landing in
 * operand slots, which are dead at a call (max_height is at least 4). */
__attribute__((always_inline)) static inline void clear_locals(wa_value_t *z, uint32_t nz)
{
    if (nz <= 4) {
        z[0].raw = 0;
        z[1].raw = 0;
        z[2].raw = 0;
        z[3].raw = 0;
    } else if (nz <= 8) {
        for (int i = 0; i < 8; i++)
            z[i].raw = 0;
    } else {
        memset(z, 0, nz * sizeof *z);
    }
}

/* Whether call_indirect's callee has the type the call names (ty); the same type entry of
 * the same module needs no structural compare. */
__attribute__((always_inline)) static inline bool indirect_type_ok(const wa_func_t *callee,
                                                                   const wa_type_t *ty)
{
    return callee->type == &ty->ft ||
           (callee->type_hash == ty->hash && wa__type_eq(callee->type, &ty->ft));
}

int wa__native_host_call(wa_native_ctx_t *ctx, wa_value_t *sp, uint32_t x)
{
    wa_func_t *callee = ctx->funcs[x];
    if (!callee->host)
        return 2;
    wa_trap_kind_t k = host_call(ctx->ex, ctx->inst, callee, sp, ctx->frame, &ctx->tick);
    if (k != WA_TRAP_NONE) {
        ctx->trap = k;
        return 1;
    }
    wa_memory_t *m = ctx->inst->mem; /* the host function may have grown it */
    ctx->mem = m ? m->base : NULL;
    ctx->mem_size = m ? m->size_bytes : 0;
    return 0;
}

/* where a return lands instead of testing the frame record (see wa_frame_t) */
static const wa_word_t exit_stub[1] = {WA_OP_EXIT}, resume_stub[1] = {WA_OP_RESUME};

/* The interpreter. It starts at f's entry, or (from != NULL) goes on where native code left
 * the call at from_pc, with from's frame, frame record, tick and resume address. */
static wa_trap_kind_t run(wa_exec_t *ex, wa_func_t *f, wa_value_t *args,
                          const wa_native_ctx_t *from, const wa_word_t *from_pc)
{
#ifndef WA_INTERP_SWITCH
    static const void *const labels[WA_OP_COUNT] = {
#define WA_LBL_(n) [WA_OP_##n] = &&L_##n,
        WA_OPS(WA_LBL_)
#undef WA_LBL_
#define WA_RCLBL_(n, w) [WA_OP_##n##_RC] = &&L_##n##_RC,
        WA_BINOPS(WA_RCLBL_)
#undef WA_RCLBL_
#define WA_CBLBL_(n, e)                                                                          \
    [WA_OP_##n##_BT] = &&L_##n##_BT, [WA_OP_##n##_BF] = &&L_##n##_BF,                            \
    [WA_OP_##n##_BTC] = &&L_##n##_BTC, [WA_OP_##n##_BFC] = &&L_##n##_BFC,
        WA_CMPBR(WA_CBLBL_)
#undef WA_CBLBL_
        [WA_OP_I32_EQZ_BT] = &&L_I32_EQZ_BT, [WA_OP_I32_EQZ_BF] = &&L_I32_EQZ_BF,
    };
#define OP(n) L_##n:
/* The empty asm makes the memory base a register operand at every dispatch, so that GCC's
 * allocator keeps it in a register across the loop; left to itself it gives the register to
 * state that fewer handlers read and loads the base from the stack in every load and store.
 * It emits no instruction. (Pinning the current function too saved call instructions but
 * cost time: docs/engine.md.) Clang 14 miscompiles it: after a call into another instance a
 * load used a stale spilled base (NULL), so clang builds go without the hint. */
#if defined(__clang__)
#define WA_PIN_MEM() ((void)0)
#else
#define WA_PIN_MEM() __asm__("" : "+r"(mem))
#endif
#define NEXT()                                                                                   \
    do {                                                                                         \
        WA_PIN_MEM();                                                                            \
        goto *labels[*pc++];                                                                     \
    } while (0)
#else
#define OP(n) case WA_OP_##n:
#define NEXT() goto dispatch
#endif
    wa_func_t *callee = f; /* the running function is frame[-1].func */
    const wa_word_t *pc = exit_stub; /* the outermost frame's return address */
    /* sp is only live from an "s" operand to the call or branch that uses it, nfp from a
     * call to the callee's entry */
    wa_value_t *fp = NULL, *sp = args, *nfp = args;
    wa_instance_t *inst = NULL;
    uint8_t *mem = NULL;
    uint64_t mem_size = 0;
    wa_global_t **globals = NULL;
    wa_func_t **funcs = NULL;
    int64_t tick = ex->tick;
    uint32_t entry_depth = ex->depth;
    /* the next free frame record; ex->depth is brought up to date only where someone else
     * reads it (a host function's nested calls) */
    wa_frame_t *frame = ex->frames + entry_depth;
    wa_frame_t *const frames_end = ex->frames + ex->max_depth;
    wa_trap_kind_t kind = WA_TRAP_NONE;
    /* the native tier (wa_native.c): its view of the state, and where it goes on after the
     * call op it left at (NULL when it did not leave at one) */
    wa_native_ctx_t nctx; /* set field by field: zeroing it all costs a nested call more */
    nctx.ex = ex;
    nctx.frames_end = frames_end;
    nctx.stack_end = ex->stack_end;
    nctx.trap = WA_TRAP_NONE;
    const void *nres = NULL;

#define LOAD_CTX()                                                                               \
    do {                                                                                         \
        globals = inst->globals;                                                                 \
        funcs = inst->funcs;                                                                     \
        if (inst->mem) {                                                                         \
            mem = inst->mem->base;                                                               \
            mem_size = inst->mem->size_bytes;                                                    \
        } else {                                                                                 \
            mem = NULL;                                                                          \
            mem_size = 0;                                                                        \
        }                                                                                        \
    } while (0)
#define RUN_NATIVE(target)                                                                       \
    do {                                                                                         \
        nctx.mem = mem;                                                                          \
        nctx.mem_size = mem_size;                                                                \
        nctx.tick = tick;                                                                        \
        nctx.globals = globals;                                                                  \
        nctx.funcs = funcs;                                                                      \
        nctx.frame = frame;                                                                      \
        nctx.inst = inst;                                                                        \
        pc = wa__native_run(&nctx, fp, (target));                                                \
        if (UNLIKELY(nctx.trap))                                                                 \
            TRAP(nctx.trap);                                                                     \
        tick = nctx.tick;                                                                        \
        nres = nctx.resume;                                                                      \
        fp = nctx.fp;                                                                            \
        frame = nctx.frame;                                                                      \
    } while (0)
#define TRAP(k)                                                                                  \
    do {                                                                                         \
        kind = (k);                                                                              \
        goto trap;                                                                               \
    } while (0)
#define TICK()                                                                                   \
    do {                                                                                         \
        if (UNLIKELY(--tick < 0)) {                                                              \
            ex->tick = tick;                                                                     \
            if (!wa__deadline_check(ex))                                                         \
                TRAP(ex->trap_kind);                                                             \
            tick = ex->tick;                                                                     \
        }                                                                                        \
    } while (0)
/* Conditional branches: the target word is pc[k] (relative to itself); when not taken, the
 * k + 1 words of the op are stepped over. BRANCH_IF counts a unit of fuel when taken. */
#define JUMP_IF(c, k) pc += (c) ? (k) + (int32_t)pc[k] : (k) + 1
#define BRANCH_IF(c, k)                                                                          \
    do {                                                                                         \
        if (c) {                                                                                 \
            TICK();                                                                              \
            pc += (k) + (int32_t)pc[k];                                                          \
        } else {                                                                                 \
            pc += (k) + 1;                                                                       \
        }                                                                                        \
    } while (0)
/* the stack operand form: the old stack pointer from the op's first immediate */
#define SP_FROM_PC() sp = fp + *pc++
#define SLOT(i) fp[pc[i]]

    if (from) {
        frame = from->frame;
        fp = from->fp;
        pc = from_pc;
        tick = from->tick;
        nres = from->resume;
        inst = frame > ex->frames + entry_depth ? frame[-1].func->inst : f->inst;
        LOAD_CTX();
        if (from->trap)
            TRAP(from->trap);
        NEXT();
    }
    /* f is Wasm code (wa_call runs host functions itself) in an instance not yet loaded */
    inst = f->inst;
    LOAD_CTX();
    goto enter;

#ifdef WA_INTERP_SWITCH
dispatch:
    switch (*pc++) {
#endif
    OP(UNREACHABLE) TRAP(WA_TRAP_UNREACHABLE);
    OP(NOP) NEXT();
    OP(JMP) pc += (int32_t)*pc; NEXT();
    OP(JMP_LOOP) TICK(); pc += (int32_t)*pc; NEXT();
    OP(JMP_IF) JUMP_IF(SLOT(0).i32, 1); NEXT();
    OP(JMP_IF_LOOP) BRANCH_IF(SLOT(0).i32, 1); NEXT();
    OP(JMP_IFNOT) JUMP_IF(!SLOT(0).i32, 1); NEXT();
    OP(BR_IF)
    if (!SLOT(5).i32) {
        pc += 6;
        NEXT();
    }
    /* fall through */
    OP(BR)
    {
        uint32_t arity = pc[2];
        wa_value_t *dst = fp + pc[1];
        sp = fp + pc[4];
        if (arity)
            memmove(dst, sp - arity, arity * sizeof *sp);
        if (pc[3])
            TICK();
        pc += (int32_t)*pc;
        NEXT();
    }
    OP(BR_TABLE)
    {
        SP_FROM_PC();
        uint32_t n = pc[0], i = (uint32_t)(--sp)->i32;
        if (i > n)
            i = n;
        const wa_word_t *e = pc + 1 + 4 * (size_t)i;
        uint32_t arity = e[2];
        wa_value_t *dst = fp + e[1];
        if (arity && dst != sp - arity)
            memmove(dst, sp - arity, arity * sizeof *sp);
        TICK();
        pc = e + (int32_t)e[0];
        NEXT();
    }
    OP(BR_TABLE0)
    {
        uint32_t n = pc[1], i = (uint32_t)SLOT(0).i32;
        if (i > n)
            i = n;
        const wa_word_t *e = pc + 2 + i;
        TICK();
        pc = e + (int32_t)*e;
        NEXT();
    }
    OP(RETURN)
    {
        /* the results move down to the frame's first slots (src is never below them) */
        wa_value_t *src = fp + pc[0];
        uint32_t n = pc[1];
        for (uint32_t i = 0; i < n; i++)
            fp[i] = src[i];
        frame--;
        pc = frame->ret_pc;
        fp = frame->fp;
        if (frame->ret_native)
            RUN_NATIVE(frame->ret_native);
        NEXT();
    }
    OP(RETURN1)
    fp[0] = SLOT(0);
    frame--;
    pc = frame->ret_pc;
    fp = frame->fp;
    if (frame->ret_native)
        RUN_NATIVE(frame->ret_native);
    NEXT();
    OP(EXIT)
    ex->tick = tick;
    return WA_TRAP_NONE;
    OP(RESUME) /* back from another instance; frame is the record just popped, the one below
                  it the caller's */
    pc = frame->cross_pc;
    inst = frame[-1].func->inst;
    LOAD_CTX();
    NEXT();
    OP(CALL)
    SP_FROM_PC();
    callee = funcs[*pc++];
    goto do_call;
    OP(CALL_LOCAL)
    nfp = fp + pc[0];
    callee = funcs[pc[1]];
    pc += 2;
    goto enter;
    OP(CALL_INDIRECT)
    {
        SP_FROM_PC();
        const wa_type_t *ty = &inst->module->types[pc[0]];
        wa_table_t *t = inst->tables[pc[1]];
        pc += 2;
        uint32_t i = (uint32_t)(--sp)->i32;
        if (i >= t->size)
            TRAP(WA_TRAP_TABLE_OOB);
        callee = t->elems[i].funcref;
        if (!callee)
            TRAP(WA_TRAP_UNINITIALIZED_ELEMENT);
        if (!indirect_type_ok(callee, ty))
            TRAP(WA_TRAP_INDIRECT_TYPE);
        goto do_call;
    }
    OP(SELECT)
    SP_FROM_PC();
    sp -= 2;
    if (!sp[1].i32)
        sp[-1] = sp[0];
    NEXT();
    OP(MOV) SLOT(0) = SLOT(1); pc += 2; NEXT();
    OP(MOV2)
    SLOT(0) = SLOT(1);
    SLOT(2) = SLOT(3);
    pc += 4;
    NEXT();
    OP(GLOBAL_GET) SLOT(0) = globals[pc[1]]->val; pc += 2; NEXT();
    OP(GLOBAL_SET) globals[pc[1]]->val = SLOT(0); pc += 2; NEXT();
    OP(TABLE_GET)
    {
        SP_FROM_PC();
        wa_table_t *t = inst->tables[*pc++];
        uint32_t i = (uint32_t)sp[-1].i32;
        if (i >= t->size)
            TRAP(WA_TRAP_TABLE_OOB);
        sp[-1] = t->elems[i];
        NEXT();
    }
    OP(TABLE_SET)
    {
        SP_FROM_PC();
        wa_table_t *t = inst->tables[*pc++];
        uint32_t i = (uint32_t)sp[-2].i32;
        if (i >= t->size)
            TRAP(WA_TRAP_TABLE_OOB);
        t->elems[i] = sp[-1];
        NEXT();
    }

/* effective address ea of an n-byte access, checked against the memory size: with an addend
 * (w = 4 words), slot `a` plus the addend word at pc[k] (an i32.add folded in, wrapping as
 * Wasm's does) plus the offset word after it; without (w = 3), slot `a` plus the word at
 * pc[k], which holds the offset plus n, so that its sum is the access's end, compared as is */
#define EA(a, k, w, n)                                                                           \
    uint64_t ea = (w) == 4 ? (uint64_t)(uint32_t)((uint32_t)SLOT(a).i32 + pc[k]) + pc[(k) + 1]   \
                           : (uint64_t)(uint32_t)SLOT(a).i32 + pc[k];                            \
    if (UNLIKELY(ea + ((w) == 4 ? (n) : 0) > mem_size))                                          \
        TRAP(WA_TRAP_MEMORY_OOB);                                                                \
    if ((w) == 3)                                                                                \
        ea -= (n);
#define LOAD1(name, w, T, field, cast)                                                           \
    OP(name)                                                                                     \
    {                                                                                            \
        EA(1, 2, w, sizeof(T))                                                                   \
        T v_;                                                                                    \
        memcpy(&v_, mem + ea, sizeof v_);                                                        \
        SLOT(0).field = cast v_;                                                                 \
        pc += (w);                                                                               \
        NEXT();                                                                                  \
    }
#define STORE1(name, w, T, field)                                                                \
    OP(name)                                                                                     \
    {                                                                                            \
        EA(0, 2, w, sizeof(T))                                                                   \
        T v_ = (T)SLOT(1).field;                                                                 \
        memcpy(mem + ea, &v_, sizeof v_);                                                        \
        pc += (w);                                                                               \
        NEXT();                                                                                  \
    }
#define LOAD(name, T, field, cast) LOAD1(name, 4, T, field, cast) LOAD1(name##_O, 3, T, field, cast)
#define STORE(name, T, field) STORE1(name, 4, T, field) STORE1(name##_O, 3, T, field)
    LOAD(I32_LOAD, uint32_t, i32, (int32_t))
    LOAD(I64_LOAD, uint64_t, i64, (int64_t))
    LOAD(F32_LOAD, uint32_t, f32_bits, )
    LOAD(F64_LOAD, uint64_t, f64_bits, )
    LOAD(I32_LOAD8_S, int8_t, i32, (int32_t))
    LOAD(I32_LOAD8_U, uint8_t, i32, (int32_t))
    LOAD(I32_LOAD16_S, int16_t, i32, (int32_t))
    LOAD(I32_LOAD16_U, uint16_t, i32, (int32_t))
    LOAD(I64_LOAD8_S, int8_t, i64, (int64_t))
    LOAD(I64_LOAD8_U, uint8_t, i64, (int64_t))
    LOAD(I64_LOAD16_S, int16_t, i64, (int64_t))
    LOAD(I64_LOAD16_U, uint16_t, i64, (int64_t))
    LOAD(I64_LOAD32_S, int32_t, i64, (int64_t))
    LOAD(I64_LOAD32_U, uint32_t, i64, (int64_t))
    STORE(I32_STORE, uint32_t, i32)
    STORE(I64_STORE, uint64_t, i64)
    STORE(F32_STORE, uint32_t, f32_bits)
    STORE(F64_STORE, uint64_t, f64_bits)
    STORE(I32_STORE8, uint8_t, i32)
    STORE(I32_STORE16, uint16_t, i32)
    STORE(I64_STORE8, uint8_t, i64)
    STORE(I64_STORE16, uint16_t, i64)
    STORE(I64_STORE32, uint32_t, i64)

    OP(MEMORY_SIZE) SLOT(0).i32 = (int32_t)inst->mem->pages; pc += 1; NEXT();
    OP(MEMORY_GROW)
    {
        int64_t old = wa__memory_grow(inst->mem, (uint32_t)SLOT(1).i32, inst->lim.max_memory_pages);
        SLOT(0).i32 = (int32_t)old;
        mem = inst->mem->base;
        mem_size = inst->mem->size_bytes;
        pc += 2;
        NEXT();
    }
    OP(I32_CONST) SLOT(0).i32 = (int32_t)pc[1]; pc += 2; NEXT();
    OP(I64_CONST) SLOT(0).i64 = (int64_t)((uint64_t)pc[1] | (uint64_t)pc[2] << 32); pc += 3; NEXT();

/* Value handlers are written against a two-slot scratch stack (sp[-2] = a, sp[-1] = b) that
 * the compiler keeps in registers. */
#define U32(k) ((uint32_t)sp[k].i32)
#define S32(k) (sp[k].i32)
#define U64(k) ((uint64_t)sp[k].i64)
#define S64(k) (sp[k].i64)
#define BINX(name, W, field, check, expr)                                                        \
    OP(name)                                                                                     \
    {                                                                                            \
        wa_value_t sp_[2] = {SLOT(1), SLOT(2)};                                                  \
        wa_value_t *sp = sp_ + 2;                                                                \
        check;                                                                                   \
        SLOT(0).field = (expr);                                                                  \
        pc += 3;                                                                                 \
        NEXT();                                                                                  \
    }                                                                                            \
    OP(name##_RC)                                                                                \
    {                                                                                            \
        wa_value_t sp_[2] = {SLOT(1)};                                                           \
        sp_[1].raw = (W) == 2 ? ((uint64_t)pc[2] | (uint64_t)pc[3] << 32) : pc[2];               \
        wa_value_t *sp = sp_ + 2;                                                                \
        check;                                                                                   \
        SLOT(0).field = (expr);                                                                  \
        pc += 2 + (W);                                                                           \
        NEXT();                                                                                  \
    }
#define UN(name, field, expr)                                                                    \
    OP(name)                                                                                     \
    {                                                                                            \
        wa_value_t sp_[1] = {SLOT(1)};                                                           \
        wa_value_t *sp = sp_ + 1;                                                                \
        SLOT(0).field = (expr);                                                                  \
        pc += 2;                                                                                 \
        NEXT();                                                                                  \
    }

/* The integer operators, once for each width: P the op prefix, f the value field, S/U the
 * signed/unsigned operand reads, T/UT the C types, N the bit count, W the constant's words. */
#define INT_OPS(P, f, S, U, T, UT, N, W, SMIN, CLZ, CTZ, POPCNT)                                 \
    UN(P##_EQZ, i32, S(-1) == 0)                                                                 \
    BINX(P##_EQ, W, i32, (void)0, S(-2) == S(-1))                                                \
    BINX(P##_NE, W, i32, (void)0, S(-2) != S(-1))                                                \
    BINX(P##_LT_S, W, i32, (void)0, S(-2) < S(-1))                                               \
    BINX(P##_LT_U, W, i32, (void)0, U(-2) < U(-1))                                               \
    BINX(P##_GT_S, W, i32, (void)0, S(-2) > S(-1))                                               \
    BINX(P##_GT_U, W, i32, (void)0, U(-2) > U(-1))                                               \
    BINX(P##_LE_S, W, i32, (void)0, S(-2) <= S(-1))                                              \
    BINX(P##_LE_U, W, i32, (void)0, U(-2) <= U(-1))                                              \
    BINX(P##_GE_S, W, i32, (void)0, S(-2) >= S(-1))                                              \
    BINX(P##_GE_U, W, i32, (void)0, U(-2) >= U(-1))                                              \
    UN(P##_CLZ, f, U(-1) ? CLZ(U(-1)) : N)                                                       \
    UN(P##_CTZ, f, U(-1) ? CTZ(U(-1)) : N)                                                       \
    UN(P##_POPCNT, f, POPCNT(U(-1)))                                                             \
    BINX(P##_ADD, W, f, (void)0, (T)(U(-2) + U(-1)))                                             \
    BINX(P##_SUB, W, f, (void)0, (T)(U(-2) - U(-1)))                                             \
    BINX(P##_MUL, W, f, (void)0, (T)(U(-2) * U(-1)))                                             \
    BINX(P##_DIV_S, W, f,                                                                        \
         if (S(-1) == 0) TRAP(WA_TRAP_INT_DIV_ZERO);                                             \
         if (S(-1) == -1 && S(-2) == SMIN) TRAP(WA_TRAP_INT_OVERFLOW), S(-2) / S(-1))            \
    BINX(P##_DIV_U, W, f, if (S(-1) == 0) TRAP(WA_TRAP_INT_DIV_ZERO), (T)(U(-2) / U(-1)))        \
    BINX(P##_REM_S, W, f, if (S(-1) == 0) TRAP(WA_TRAP_INT_DIV_ZERO),                            \
         S(-1) == -1 ? 0 : S(-2) % S(-1))                                                        \
    BINX(P##_REM_U, W, f, if (S(-1) == 0) TRAP(WA_TRAP_INT_DIV_ZERO), (T)(U(-2) % U(-1)))        \
    BINX(P##_AND, W, f, (void)0, S(-2) & S(-1))                                                  \
    BINX(P##_OR, W, f, (void)0, S(-2) | S(-1))                                                   \
    BINX(P##_XOR, W, f, (void)0, S(-2) ^ S(-1))                                                  \
    BINX(P##_SHL, W, f, (void)0, (T)(U(-2) << (U(-1) & (N - 1))))                                \
    BINX(P##_SHR_S, W, f, (void)0, S(-2) >> (U(-1) & (N - 1)))                                   \
    BINX(P##_SHR_U, W, f, (void)0, (T)(U(-2) >> (U(-1) & (N - 1))))                              \
    BINX(P##_ROTL, W, f, (void)0,                                                                \
         (T)((UT)(U(-2) << (U(-1) & (N - 1))) | (U(-2) >> ((N - (U(-1) & (N - 1))) & (N - 1)))))  \
    BINX(P##_ROTR, W, f, (void)0,                                                                \
         (T)((U(-2) >> (U(-1) & (N - 1))) | (UT)(U(-2) << ((N - (U(-1) & (N - 1))) & (N - 1)))))
    INT_OPS(I32, i32, S32, U32, int32_t, uint32_t, 32, 1, INT32_MIN, __builtin_clz, __builtin_ctz,
            __builtin_popcount)
    INT_OPS(I64, i64, S64, U64, int64_t, uint64_t, 64, 2, INT64_MIN, __builtin_clzll,
            __builtin_ctzll, __builtin_popcountll)
#undef INT_OPS

/* The float operators, once for each width: P the op prefix, f/fb the value and bits fields,
 * W the constant's words, SIGN the sign bit, the libm rounding functions and min/max. */
#define FLOAT_OPS(P, f, fb, W, SIGN, CEIL, FLOOR, TRUNC, NEAREST, SQRT, MIN, MAX)                 \
    BINX(P##_EQ, W, i32, (void)0, sp[-2].f == sp[-1].f)                                          \
    BINX(P##_NE, W, i32, (void)0, sp[-2].f != sp[-1].f)                                          \
    BINX(P##_LT, W, i32, (void)0, sp[-2].f < sp[-1].f)                                           \
    BINX(P##_GT, W, i32, (void)0, sp[-2].f > sp[-1].f)                                           \
    BINX(P##_LE, W, i32, (void)0, sp[-2].f <= sp[-1].f)                                          \
    BINX(P##_GE, W, i32, (void)0, sp[-2].f >= sp[-1].f)                                          \
    UN(P##_ABS, fb, sp[-1].fb & ~SIGN)                                                           \
    UN(P##_NEG, fb, sp[-1].fb ^ SIGN)                                                            \
    UN(P##_CEIL, f, f##_round(sp[-1].f, CEIL))                                                   \
    UN(P##_FLOOR, f, f##_round(sp[-1].f, FLOOR))                                                 \
    UN(P##_TRUNC, f, f##_round(sp[-1].f, TRUNC))                                                 \
    UN(P##_NEAREST, f, f##_round(sp[-1].f, NEAREST))                                             \
    UN(P##_SQRT, f, SQRT(sp[-1].f))                                                              \
    BINX(P##_ADD, W, f, (void)0, sp[-2].f + sp[-1].f)                                            \
    BINX(P##_SUB, W, f, (void)0, sp[-2].f - sp[-1].f)                                            \
    BINX(P##_MUL, W, f, (void)0, sp[-2].f * sp[-1].f)                                            \
    BINX(P##_DIV, W, f, (void)0, sp[-2].f / sp[-1].f)                                            \
    BINX(P##_MIN, W, f, (void)0, MIN(sp[-2].f, sp[-1].f))                                        \
    BINX(P##_MAX, W, f, (void)0, MAX(sp[-2].f, sp[-1].f))                                        \
    BINX(P##_COPYSIGN, W, fb, (void)0, (sp[-2].fb & ~SIGN) | (sp[-1].fb & SIGN))
    FLOAT_OPS(F32, f32, f32_bits, 1, 0x80000000u, ceilf, floorf, truncf, nearbyintf, sqrtf,
              f32_min, f32_max)
    FLOAT_OPS(F64, f64, f64_bits, 2, 0x8000000000000000ull, ceil, floor, trunc, nearbyint, sqrt,
              f64_min, f64_max)
#undef FLOAT_OPS

    UN(I32_WRAP_I64, i32, (int32_t)(uint32_t)U64(-1))
#define TRUNC(name, field, src, lo_ok, hi_ok, cast)                                              \
    OP(name)                                                                                     \
    {                                                                                            \
        double f_ = SLOT(1).src;                                                                 \
        if (f_ != f_)                                                                            \
            TRAP(WA_TRAP_INVALID_CONVERSION);                                                    \
        if (!(lo_ok && hi_ok))                                                                   \
            TRAP(WA_TRAP_INT_OVERFLOW);                                                          \
        SLOT(0).field = cast(f_);                                                                \
        pc += 2;                                                                                 \
        NEXT();                                                                                  \
    }
    TRUNC(I32_TRUNC_F32_S, i32, f32, f_ >= -2147483648.0, f_ < 2147483648.0, (int32_t))
    TRUNC(I32_TRUNC_F32_U, i32, f32, f_ > -1.0, f_ < 4294967296.0, (int32_t)(uint32_t))
    TRUNC(I32_TRUNC_F64_S, i32, f64, f_ > -2147483649.0, f_ < 2147483648.0, (int32_t))
    TRUNC(I32_TRUNC_F64_U, i32, f64, f_ > -1.0, f_ < 4294967296.0, (int32_t)(uint32_t))
    UN(I64_EXTEND_I32_S, i64, (int64_t)S32(-1))
    UN(I64_EXTEND_I32_U, i64, (int64_t)(uint64_t)U32(-1))
    TRUNC(I64_TRUNC_F32_S, i64, f32, f_ >= -9223372036854775808.0, f_ < 9223372036854775808.0,
          (int64_t))
    TRUNC(I64_TRUNC_F32_U, i64, f32, f_ > -1.0, f_ < 18446744073709551616.0, (int64_t)(uint64_t))
    TRUNC(I64_TRUNC_F64_S, i64, f64, f_ >= -9223372036854775808.0, f_ < 9223372036854775808.0,
          (int64_t))
    TRUNC(I64_TRUNC_F64_U, i64, f64, f_ > -1.0, f_ < 18446744073709551616.0, (int64_t)(uint64_t))
    UN(F32_CONVERT_I32_S, f32, (float)S32(-1))
    UN(F32_CONVERT_I32_U, f32, (float)U32(-1))
    UN(F32_CONVERT_I64_S, f32, (float)S64(-1))
    UN(F32_CONVERT_I64_U, f32, (float)U64(-1))
    UN(F32_DEMOTE_F64, f32, (float)sp[-1].f64)
    UN(F64_CONVERT_I32_S, f64, (double)S32(-1))
    UN(F64_CONVERT_I32_U, f64, (double)U32(-1))
    UN(F64_CONVERT_I64_S, f64, (double)S64(-1))
    UN(F64_CONVERT_I64_U, f64, (double)U64(-1))
    UN(F64_PROMOTE_F32, f64, (double)sp[-1].f32)
    UN(I32_EXTEND8_S, i32, (int32_t)(int8_t)S32(-1))
    UN(I32_EXTEND16_S, i32, (int32_t)(int16_t)S32(-1))
    UN(I64_EXTEND8_S, i64, (int64_t)(int8_t)S64(-1))
    UN(I64_EXTEND16_S, i64, (int64_t)(int16_t)S64(-1))
    UN(I64_EXTEND32_S, i64, (int64_t)(int32_t)S64(-1))
    UN(REF_IS_NULL, i32, sp[-1].raw == 0)
    OP(REF_FUNC) SLOT(0).funcref = funcs[pc[1]]; pc += 2; NEXT();
    UN(I32_TRUNC_SAT_F32_S, i32, sat_i32_s(sp[-1].f32))
    UN(I32_TRUNC_SAT_F32_U, i32, (int32_t)sat_i32_u(sp[-1].f32))
    UN(I32_TRUNC_SAT_F64_S, i32, sat_i32_s(sp[-1].f64))
    UN(I32_TRUNC_SAT_F64_U, i32, (int32_t)sat_i32_u(sp[-1].f64))
    UN(I64_TRUNC_SAT_F32_S, i64, sat_i64_s(sp[-1].f32))
    UN(I64_TRUNC_SAT_F32_U, i64, (int64_t)sat_i64_u(sp[-1].f32))
    UN(I64_TRUNC_SAT_F64_S, i64, sat_i64_s(sp[-1].f64))
    UN(I64_TRUNC_SAT_F64_U, i64, (int64_t)sat_i64_u(sp[-1].f64))

    OP(MEMORY_INIT)
    {
        SP_FROM_PC();
        const wa_data_t *d = &inst->module->datas[*pc++];
        uint64_t dst = U32(-3), src = U32(-2), n = U32(-1);
        uint64_t len = inst->data_dropped[d - inst->module->datas] ? 0 : d->len;
        if (src + n > len || dst + n > mem_size)
            TRAP(WA_TRAP_MEMORY_OOB);
        if (n)
            memcpy(mem + dst, d->bytes + src, n);
        sp -= 3;
        NEXT();
    }
    OP(DATA_DROP) inst->data_dropped[*pc++] = 1; NEXT();
    OP(MEMORY_COPY)
    {
        SP_FROM_PC();
        uint64_t dst = U32(-3), src = U32(-2), n = U32(-1);
        if (src + n > mem_size || dst + n > mem_size)
            TRAP(WA_TRAP_MEMORY_OOB);
        if (n)
            memmove(mem + dst, mem + src, n);
        sp -= 3;
        NEXT();
    }
    OP(MEMORY_FILL)
    {
        SP_FROM_PC();
        uint64_t dst = U32(-3), n = U32(-1);
        if (dst + n > mem_size)
            TRAP(WA_TRAP_MEMORY_OOB);
        if (n)
            memset(mem + dst, (uint8_t)S32(-2), n);
        sp -= 3;
        NEXT();
    }
    OP(TABLE_INIT)
    {
        SP_FROM_PC();
        uint32_t ei = pc[0];
        const wa_elem_t *e = &inst->module->elems[ei];
        wa_table_t *t = inst->tables[pc[1]];
        pc += 2;
        uint64_t dst = U32(-3), src = U32(-2), n = U32(-1);
        uint64_t len = inst->elem_dropped[ei] ? 0 : e->count;
        if (src + n > len || dst + n > t->size)
            TRAP(WA_TRAP_TABLE_OOB);
        for (uint64_t i = 0; i < n; i++)
            t->elems[dst + i] = wa__eval_const(inst, &e->items[src + i]);
        sp -= 3;
        NEXT();
    }
    OP(ELEM_DROP) inst->elem_dropped[*pc++] = 1; NEXT();
    OP(TABLE_COPY)
    {
        SP_FROM_PC();
        wa_table_t *td = inst->tables[pc[0]], *ts = inst->tables[pc[1]];
        pc += 2;
        uint64_t dst = U32(-3), src = U32(-2), n = U32(-1);
        if (src + n > ts->size || dst + n > td->size)
            TRAP(WA_TRAP_TABLE_OOB);
        if (n)
            memmove(td->elems + dst, ts->elems + src, n * sizeof *td->elems);
        sp -= 3;
        NEXT();
    }
    OP(TABLE_GROW)
    {
        SP_FROM_PC();
        wa_table_t *t = inst->tables[*pc++];
        int64_t old = wa__table_grow(t, U32(-1), sp[-2], inst->lim.max_table_elems);
        sp[-2].i32 = (int32_t)old;
        sp--;
        NEXT();
    }
    OP(TABLE_SIZE) SLOT(0).i32 = (int32_t)inst->tables[pc[1]]->size; pc += 2; NEXT();
    OP(TABLE_FILL)
    {
        SP_FROM_PC();
        wa_table_t *t = inst->tables[*pc++];
        uint64_t dst = U32(-3), n = U32(-1);
        wa_value_t v = sp[-2];
        if (dst + n > t->size)
            TRAP(WA_TRAP_TABLE_OOB);
        for (uint64_t i = 0; i < n; i++)
            t->elems[dst + i] = v;
        sp -= 3;
        NEXT();
    }

    /* comparisons fused with the branch that consumes them */
#define CMPBR(name, cond)                                                                        \
    OP(name##_BT)                                                                                \
    {                                                                                            \
        int32_t a = SLOT(1).i32, b = SLOT(2).i32;                                                \
        BRANCH_IF(cond, 3);                                                                      \
        NEXT();                                                                                  \
    }                                                                                            \
    OP(name##_BF)                                                                                \
    {                                                                                            \
        int32_t a = SLOT(1).i32, b = SLOT(2).i32;                                                \
        BRANCH_IF(!(cond), 3);                                                                   \
        NEXT();                                                                                  \
    }                                                                                            \
    OP(name##_BTC)                                                                               \
    {                                                                                            \
        int32_t a = SLOT(1).i32, b = (int32_t)pc[2];                                             \
        BRANCH_IF(cond, 3);                                                                      \
        NEXT();                                                                                  \
    }                                                                                            \
    OP(name##_BFC)                                                                               \
    {                                                                                            \
        int32_t a = SLOT(1).i32, b = (int32_t)pc[2];                                             \
        BRANCH_IF(!(cond), 3);                                                                   \
        NEXT();                                                                                  \
    }
    WA_CMPBR(CMPBR)
#undef CMPBR
    OP(I32_EQZ_BT) BRANCH_IF(SLOT(1).i32 == 0, 2); NEXT();
    OP(I32_EQZ_BF) BRANCH_IF(SLOT(1).i32 != 0, 2); NEXT();

#ifdef WA_INTERP_SWITCH
    default:
        TRAP(WA_TRAP_UNREACHABLE);
    }
#endif

do_call:
    if (callee->host) {
        int64_t t = tick;
        wa_trap_kind_t hk = host_call(ex, inst, callee, sp, frame, &t);
        tick = t;
        if (hk != WA_TRAP_NONE)
            TRAP(hk);
        LOAD_CTX(); /* the host function may have grown the memory */
        if (nres)
            RUN_NATIVE(nres);
        NEXT();
    }
    if (callee->inst != inst) {
        inst = callee->inst;
        LOAD_CTX();
        nres = NULL; /* the caller goes on in the interpreter, after the RESUME stub */
        /* return through the RESUME stub (calls only come from running code: the
         * outermost function is entered at `enter`) */
        frame->cross_pc = pc;
        pc = resume_stub;
    }
    nfp = sp - callee->code->nparams;
enter:
    {
        const wa_code_t *cd = callee->code;
        if (UNLIKELY(frame >= frames_end || nfp + cd->frame_slots > ex->stack_end))
            TRAP(WA_TRAP_STACK_EXHAUSTED);
        TICK();
        wa_frame_t *fr = frame++;
        fr->ret_pc = pc;
        fr->fp = fp;
        fr->func = callee;
        fr->ret_native = nres;
        nres = NULL;
        clear_locals(nfp + cd->nparams, cd->nzero);
        fp = nfp;
        pc = cd->code;
        const void *native = wa__native_entry(callee->inst->module, cd);
        if (native)
            RUN_NATIVE(native);
        NEXT();
    }

trap:
{
    /* the running function, if the outermost one had started */
    wa_func_t *func = frame > ex->frames + entry_depth ? frame[-1].func : NULL;
    ex->trap_kind = kind;
    ex->trap_func = func ? func : callee;
    /* a call into another instance that could not start has pc at the stub */
    ex->trap_pc = !func ? NULL : pc == resume_stub ? frame->cross_pc : pc;
    ex->depth = entry_depth;
    ex->tick = tick;
    return kind;
}
}

wa_func_t *wa__native_indirect(wa_native_ctx_t *ctx, const wa_value_t *sp, uint32_t type,
                               uint32_t table)
{
    wa_instance_t *inst = ctx->inst;
    const wa_type_t *ty = &inst->module->types[type];
    wa_table_t *t = inst->tables[table];
    uint32_t i = (uint32_t)sp[-1].i32;
    if (i >= t->size)
        return NULL;
    wa_func_t *callee = t->elems[i].funcref;
    if (!callee || callee->inst != inst || callee->host || !wa__native_of(callee->code))
        return NULL;
    return indirect_type_ok(callee, ty) ? callee : NULL;
}

/* A call of f from outside Wasm code: when f has native code, it runs with no interpreter
 * state set up unless it leaves native code before its return, at which the interpreter goes
 * on. Everything unusual (limits, the tick running out) goes to the interpreter from the
 * start, as do functions without native code. */
wa_trap_kind_t wa__run(wa_exec_t *ex, wa_func_t *f, wa_value_t *args)
{
    /* Host calls set ex->depth for the calls they nest; it is put back on every way out, so
     * that a host function calling Wasm again and again starts each call where the first
     * one started. */
    const uint32_t depth = ex->depth;
    const wa_code_t *cd = f->code;
    const void *native = wa__native_entry(f->inst->module, cd);
    if (!native || UNLIKELY(depth >= ex->max_depth ||
                                args + cd->frame_slots > ex->stack_end || ex->tick <= 0)) {
        wa_trap_kind_t k = run(ex, f, args, NULL, NULL);
        ex->depth = depth;
        return k;
    }
    ex->tick--; /* the call's unit, as at the interpreter's entry */
    wa_frame_t *fr = ex->frames + depth;
    fr->ret_pc = exit_stub;
    fr->fp = NULL;
    fr->func = f;
    fr->ret_native = NULL;
    clear_locals(args + cd->nparams, cd->nzero);
    wa_instance_t *inst = f->inst;
    wa_native_ctx_t c;
    c.mem = inst->mem ? inst->mem->base : NULL;
    c.mem_size = inst->mem ? inst->mem->size_bytes : 0;
    c.tick = ex->tick;
    c.globals = inst->globals;
    c.ex = ex;
    c.funcs = inst->funcs;
    c.frame = fr + 1;
    c.frames_end = ex->frames + ex->max_depth;
    c.stack_end = ex->stack_end;
    c.inst = inst;
    c.trap = WA_TRAP_NONE;
    const wa_word_t *pc = wa__native_run(&c, args, native);
    ex->depth = depth;
    if (LIKELY(pc == exit_stub && c.trap == WA_TRAP_NONE)) {
        ex->tick = c.tick;
        return WA_TRAP_NONE;
    }
    wa_trap_kind_t k = run(ex, f, args, &c, pc);
    ex->depth = depth;
    return k;
}
