/* The native tier: translates a function's word code into x86-64 machine code, op by op, on
 * the function's first call. The interpreter enters it and takes over again wherever it is left. */
#include "wa_internal.h"

#include <stdlib.h>

/* How it fits the interpreter (wa_interp.c):
 *   - Native code works on the same frame slots and frame records as the interpreter: rbx
 *     holds fp, r12 the memory base, r13 the memory size, r14 the context (wa_native_ctx_t),
 *     r15 the tick counter.
 *   - It runs straight-line ops, branches and loops, calls of the module's own functions
 *     (direct, and indirect ones the interpreter's checks resolve), calls of host functions
 *     (through the interpreter's own host-call code) and returns. At anything else it leaves:
 *     it returns the word pc of the op where the interpreter is to go on.
 *       * A call the interpreter makes for it (another instance's function, a callee without
 *         native code): ctx->resume holds the native code after the call op, the frame
 *         record keeps it, and the return enters native code there again.
 *       * An op it has no code for, or any condition under which an op would trap (a bound,
 *         a zero divisor, a full stack): it leaves without a resume address, and the
 *         interpreter runs the op itself, trapping with the location it always reports, or
 *         runs the rest of the activation.
 *   - The tick counter is decremented where the interpreter's is; when it runs out, the
 *     interpreter's slow check (deadline, fuel) runs, and native code goes on or leaves.
 * So the native tier adds no semantics of its own: every trap, limit and call is the
 * interpreter's. All code of a module is in one executable mapping, shared by every instance
 * on every thread: it holds no address of an instance.
 *
 * A function is translated when it is first called (wa__native_entry), by the thread that
 * calls it, so that loading a module costs no translation and a plugin pays only for the
 * functions it runs. Threads never wait for each other: one that finds a function being
 * translated interprets that call. The code is appended to the module's mapping through a
 * second, writable mapping of the same memory, and published with a release store; a call
 * from native code to a function not yet translated leaves at the call op, and the
 * interpreter's call translates it. */

#if defined(__x86_64__) && defined(__linux__)

#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { C_O, C_NO, C_B, C_AE, C_E, C_NE, C_BE, C_A, C_S, C_NS, C_P, C_NP, C_L, C_GE, C_LE, C_G };

/* The context's field offsets, fixed by the code: checked against the struct. */
_Static_assert(offsetof(wa_native_ctx_t, mem) == 0, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, mem_size) == 8, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, tick) == 16, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, resume) == 24, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, globals) == 32, "ctx layout");
enum { CTX_FUNCS = 48, CTX_FRAME = 56, CTX_FRAMES_END = 64, CTX_STACK_END = 72, CTX_FP = 80 };
_Static_assert(offsetof(wa_native_ctx_t, funcs) == CTX_FUNCS, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, frame) == CTX_FRAME, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, frames_end) == CTX_FRAMES_END, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, stack_end) == CTX_STACK_END, "ctx layout");
_Static_assert(offsetof(wa_native_ctx_t, fp) == CTX_FP, "ctx layout");
/* The frame record's fields, which native calls and returns write and read. */
enum {
    FR_RET_PC = offsetof(wa_frame_t, ret_pc),
    FR_FP = offsetof(wa_frame_t, fp),
    FR_FUNC = offsetof(wa_frame_t, func),
    FR_RET_NATIVE = offsetof(wa_frame_t, ret_native),
    FR_SIZE = sizeof(wa_frame_t),
};

_Static_assert(sizeof(wa_value_t) == 8, "slots are 8 bytes");

/* Out-of-line code after a function's body: a way out, or the tick's slow path. */
enum { STUB_LEAVE, STUB_TICK, STUB_UNTICK_LEAVE };
typedef struct stub {
    uint32_t patch;      /* rel32 of the jump to the stub */
    uint32_t back;       /* STUB_TICK: where to go on */
    const wa_word_t *pc; /* the op to leave at */
    uint32_t resume;     /* word index native code resumes at after it, or UINT32_MAX */
    uint8_t kind;
} stub_t;

typedef struct fix {
    uint32_t patch;  /* rel32 position */
    uint32_t target; /* word index; for a jump out of the function, an offset in the module's
                        code */
} fix_t;

/* One function's translation under way (or the module's shared code), written into a buffer
 * of its own and copied into the module's code when done. */
typedef struct nb {
    uint8_t *p; /* owned */
    size_t len, cap;
    bool fail;
    uint32_t *label; /* per word index: native offset, or UINT32_MAX where no op starts */
    fix_t *fix;      /* owned: jumps to word indexes */
    size_t nfix, capfix;
    fix_t *ext;      /* owned: jumps to the module's shared code, patched once placed */
    size_t next, capext;
    stub_t *stub;    /* owned */
    size_t nstub, capstub;
    const wa_module_t *m;
} nb_t;

/* The module's shared code, at the start of its mapping: the way out, then the tick's slow
 * path. */
enum { EXIT_AT = 0, TICK_AT = 64 };

static void grow(nb_t *b, size_t more)
{
    if (b->fail || b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->fail = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void nb_free(nb_t *b)
{
    free(b->p);
    free(b->fix);
    free(b->ext);
    free(b->stub);
    memset(b, 0, sizeof *b);
}

/* Every byte of the code goes through here: the common case is one compare. */
__attribute__((always_inline)) static inline void u8(nb_t *b, uint8_t v)
{
    if (UNLIKELY(b->len >= b->cap)) {
        grow(b, 1);
        if (b->fail)
            return;
    }
    b->p[b->len++] = v;
}

static void u32(nb_t *b, uint32_t v)
{
    if (UNLIKELY(b->len + 4 > b->cap)) {
        grow(b, 4);
        if (b->fail)
            return;
    }
    memcpy(b->p + b->len, &v, 4); /* x86 is little-endian, as the code's immediates */
    b->len += 4;
}

static void u64(nb_t *b, uint64_t v)
{
    u32(b, (uint32_t)v);
    u32(b, (uint32_t)(v >> 32));
}

static void patch32(nb_t *b, uint32_t at, uint32_t to)
{
    if (b->fail)
        return;
    uint32_t v = to - (at + 4);
    for (int i = 0; i < 4; i++)
        b->p[at + i] = (uint8_t)(v >> (8 * i));
}

static void rex(nb_t *b, bool w, int reg, int index, int base, bool force)
{
    uint8_t r = (uint8_t)(0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0) | (index >= 8 ? 2 : 0) |
                          (base >= 8 ? 1 : 0));
    if (r != 0x40 || force)
        u8(b, r);
}

/* op reg, [base + disp] (base is never rsp, r12 or absent here). */
static void mem_op(nb_t *b, bool w, const uint8_t *opc, int nopc, int reg, int base, int32_t disp)
{
    rex(b, w, reg, 0, base, false);
    for (int i = 0; i < nopc; i++)
        u8(b, opc[i]);
    if (disp >= -128 && disp <= 127) {
        u8(b, (uint8_t)(0x40 | (reg & 7) << 3 | (base & 7)));
        u8(b, (uint8_t)disp);
    } else {
        u8(b, (uint8_t)(0x80 | (reg & 7) << 3 | (base & 7)));
        u32(b, (uint32_t)disp);
    }
}

/* op reg, [r12 + rcx]: a linear-memory access at ea (in rcx). */
static void lin_op(nb_t *b, bool w, const uint8_t *opc, int nopc, int reg, bool byte_reg)
{
    rex(b, w, reg, RCX, R12, byte_reg && reg >= 4);
    for (int i = 0; i < nopc; i++)
        u8(b, opc[i]);
    u8(b, (uint8_t)((reg & 7) << 3 | 4));
    u8(b, (uint8_t)(RCX << 3 | (R12 & 7)));
}

/* op r/m=rm, reg=reg (register direct) */
static void rr_op(nb_t *b, bool w, const uint8_t *opc, int nopc, int reg, int rm)
{
    rex(b, w, reg, 0, rm, false);
    for (int i = 0; i < nopc; i++)
        u8(b, opc[i]);
    u8(b, (uint8_t)(0xC0 | (reg & 7) << 3 | (rm & 7)));
}

#define OPC(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define SD(s) ((int32_t)(s)*8) /* a slot's displacement from fp */

/* mov between a register and a slot ([rbx + 8 * slot]): most of the code is these, so they
 * are written out directly (at most 7 bytes, one capacity check). */
__attribute__((always_inline)) static inline void slot_mov(nb_t *b, bool w, uint8_t opc, int reg,
                                                           uint32_t slot)
{
    if (UNLIKELY(b->len + 8 > b->cap)) {
        grow(b, 8);
        if (b->fail)
            return;
    }
    uint8_t *p = b->p + b->len;
    int32_t d = SD(slot);
    uint8_t r = (uint8_t)(0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0));
    if (r != 0x40)
        *p++ = r;
    *p++ = opc;
    if (d <= 127) {
        *p++ = (uint8_t)(0x40 | (reg & 7) << 3 | RBX);
        *p++ = (uint8_t)d;
    } else {
        *p++ = (uint8_t)(0x80 | (reg & 7) << 3 | RBX);
        memcpy(p, &d, 4);
        p += 4;
    }
    b->len = (size_t)(p - b->p);
}

static inline void ld64(nb_t *b, int reg, uint32_t slot) { slot_mov(b, true, 0x8B, reg, slot); }
static inline void ld32(nb_t *b, int reg, uint32_t slot) { slot_mov(b, false, 0x8B, reg, slot); }
static inline void st64(nb_t *b, int reg, uint32_t slot) { slot_mov(b, true, 0x89, reg, slot); }
/* An i32 result: the register holds it zero-extended, and all 8 bytes are stored, so that an
 * 8-byte copy of the slot soon after (MOV) reads what the store wrote (a 4-byte store
 * followed by an 8-byte load of the same slot stalls the load). */
static inline void st32(nb_t *b, int reg, uint32_t slot) { slot_mov(b, true, 0x89, reg, slot); }

static void mov_imm32(nb_t *b, int reg, uint32_t v) /* zero-extends */
{
    rex(b, false, 0, 0, reg, false);
    u8(b, (uint8_t)(0xB8 + (reg & 7)));
    u32(b, v);
}

static void mov_imm64(nb_t *b, int reg, uint64_t v)
{
    if (v <= UINT32_MAX) {
        mov_imm32(b, reg, (uint32_t)v);
        return;
    }
    rex(b, true, 0, 0, reg, false);
    u8(b, (uint8_t)(0xB8 + (reg & 7)));
    u64(b, v);
}

/* Room for one more entry in one of the builder's lists (*items of *n, *cap entries of size
 * bytes); false, with b->fail set, when memory runs out. */
static bool list_room(nb_t *b, void **items, size_t n, size_t *cap, size_t size)
{
    if (b->fail)
        return false;
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(*items, c * size);
    if (!p) {
        b->fail = true;
        return false;
    }
    *items = p;
    *cap = c;
    return true;
}

/* A rel32 at the current position, to be patched with the code of word index target. */
static void add_fix(nb_t *b, uint32_t target)
{
    if (list_room(b, (void **)&b->fix, b->nfix, &b->capfix, sizeof *b->fix))
        b->fix[b->nfix++] = (fix_t){(uint32_t)b->len, target};
}

/* A rel32 at the current position to the module's shared code at offset `at` (EXIT_AT,
 * TICK_AT), patched when the function's place is known. */
static void add_ext(nb_t *b, uint32_t at)
{
    if (list_room(b, (void **)&b->ext, b->next, &b->capext, sizeof *b->ext))
        b->ext[b->next++] = (fix_t){(uint32_t)b->len, at};
    u32(b, 0);
}

/* jcc rel32 / jmp rel32 to a word index (patched when the function is done). */
static void jump_to(nb_t *b, int cc, uint32_t target)
{
    if (cc < 0) {
        u8(b, 0xE9);
    } else {
        u8(b, 0x0F);
        u8(b, (uint8_t)(0x80 + cc));
    }
    add_fix(b, target);
    u32(b, 0);
}

/* jcc rel32 (cc < 0: jmp) to a new stub of the kind. */
static void jump_stub_k(nb_t *b, int cc, const wa_word_t *pc, int kind, uint32_t resume)
{
    if (cc < 0) {
        u8(b, 0xE9);
    } else {
        u8(b, 0x0F);
        u8(b, (uint8_t)(0x80 + cc));
    }
    if (list_room(b, (void **)&b->stub, b->nstub, &b->capstub, sizeof *b->stub))
        b->stub[b->nstub++] =
            (stub_t){(uint32_t)b->len, (uint32_t)b->len + 4, pc, resume, (uint8_t)kind};
    u32(b, 0);
}

/* jcc rel32 to a new stub leaving at pc (tick: the slow path of the tick, going on here). */
static void jump_stub(nb_t *b, int cc, const wa_word_t *pc, bool tick)
{
    jump_stub_k(b, cc, pc, tick ? STUB_TICK : STUB_LEAVE, UINT32_MAX);
}


/* Leaves at pc: the interpreter runs the op there (resume_at: where native code goes on after
 * a call op, as a word index; UINT32_MAX: nowhere). */
static void leave(nb_t *b, const wa_word_t *pc, uint32_t resume_at)
{
    mov_imm64(b, RAX, (uint64_t)(uintptr_t)pc);
    if (resume_at == UINT32_MAX) {
        u8(b, 0x31); /* xor ecx, ecx */
        u8(b, 0xC9);
    } else {
        u8(b, 0x48); /* lea rcx, [rip + rel32] */
        u8(b, 0x8D);
        u8(b, 0x0D);
        add_fix(b, resume_at);
        u32(b, 0);
    }
    u8(b, 0xE9);
    add_ext(b, EXIT_AT);
}

/* One unit of the tick counter, as the interpreter's TICK(): sub r15, 1; js slow path. The
 * slow path calls C code: no scratch register (rax..r11, xmm) may hold a value across it. */
static void tick(nb_t *b, const wa_word_t *pc)
{
    u8(b, 0x49);
    u8(b, 0x83);
    u8(b, 0xEF);
    u8(b, 0x01);
    jump_stub(b, C_S, pc, true);
}

/* The tick's slow path (called from native code, stack aligned): the interpreter's check. */
static int native_tick(wa_native_ctx_t *ctx)
{
    wa_exec_t *ex = ctx->ex;
    ex->tick = ctx->tick;
    if (!wa__deadline_check(ex))
        return 0;
    ctx->tick = ex->tick;
    return 1;
}

/* The stubs of one function (code: its word code), after its body. They are the cold paths
 * and many (a bound check, a tick per branch), so each is small: it loads the op's word
 * index and jumps to one of two ways out shared by the function (with or without a resume
 * address in rcx), which make the pc; the tick's slow path is a subroutine of the module. */
static void emit_stubs(nb_t *b, const wa_word_t *code)
{
    if (!b->nstub)
        return;
    uint32_t out_resume = (uint32_t)b->len;
    mov_imm64(b, RDX, (uint64_t)(uintptr_t)code);
    u8(b, 0x48), u8(b, 0x8D), u8(b, 0x04), u8(b, 0x82); /* lea rax, [rdx + rax*4] */
    u8(b, 0xE9);
    add_ext(b, EXIT_AT);
    uint32_t out = (uint32_t)b->len;
    u8(b, 0x31), u8(b, 0xC9); /* xor ecx, ecx: nothing to resume */
    u8(b, 0xE9);
    u32(b, 0);
    patch32(b, (uint32_t)b->len - 4, out_resume);
    for (size_t i = 0; i < b->nstub && !b->fail; i++) {
        stub_t *s = &b->stub[i];
        patch32(b, s->patch, (uint32_t)b->len);
        if (s->kind == STUB_TICK) {
            u8(b, 0xE8); /* call the tick's slow path: ZF clear when the call may go on */
            add_ext(b, TICK_AT);
            u8(b, 0x0F), u8(b, 0x85); /* jnz back */
            u32(b, 0);
            patch32(b, (uint32_t)b->len - 4, s->back);
        }
        /* out of time or fuel, or a call the interpreter makes: the counter as before this
         * op's unit, and the interpreter runs the op again */
        if (s->kind != STUB_LEAVE) {
            u8(b, 0x49), u8(b, 0x83), u8(b, 0xC7), u8(b, 0x01); /* add r15, 1 */
        }
        mov_imm32(b, RAX, (uint32_t)(s->pc - code));
        if (s->resume != UINT32_MAX) {
            u8(b, 0x48), u8(b, 0x8D), u8(b, 0x0D); /* lea rcx, [rip + resume] */
            add_fix(b, s->resume);
            u32(b, 0);
        }
        u8(b, 0xE9);
        u32(b, 0);
        patch32(b, (uint32_t)b->len - 4, s->resume != UINT32_MAX ? out_resume : out);
    }
}

/* The tick's slow path, once per module: a call from native code (the stack then 8 bytes off
 * its alignment) runs native_tick; ZF is set when the call must stop. */
static void emit_tick_sub(nb_t *b)
{
    u8(b, 0x48), u8(b, 0x83), u8(b, 0xEC), u8(b, 0x08); /* sub rsp, 8 */
    mem_op(b, true, OPC(0x89), R15, R14, 16);            /* ctx->tick = r15 */
    rr_op(b, true, OPC(0x89), R14, RDI);                 /* mov rdi, r14 */
    mov_imm64(b, RAX, (uint64_t)(uintptr_t)native_tick);
    u8(b, 0xFF), u8(b, 0xD0);                            /* call rax */
    mem_op(b, true, OPC(0x8B), R15, R14, 16);            /* r15 = ctx->tick */
    u8(b, 0x48), u8(b, 0x83), u8(b, 0xC4), u8(b, 0x08); /* add rsp, 8 */
    u8(b, 0x85), u8(b, 0xC0);                            /* test eax, eax */
    u8(b, 0xC3);                                         /* ret */
}

/* Words of the op at pc (op word included), or 0 for a word that is no op. */
static uint32_t op_words_slow(const wa_word_t *pc, const wa_word_t *end);

/* Per op code, found once: its length (0 for the table branches, whose length varies) and
 * which of the translator's families it belongs to, with its index there, so that the
 * translation of an op looks nothing up. */
enum { K_NONE, K_MEM, K_FLOAT, K_DIVREM, K_ALU, K_CMP, K_CMPBR };
typedef struct opinfo {
    uint8_t len, kind, k;
    bool w, rc;
} opinfo_t;
static opinfo_t opinfo[WA_OP_COUNT];

static uint32_t op_words(const wa_word_t *pc, const wa_word_t *end)
{
    if (LIKELY(pc[0] < WA_OP_COUNT && opinfo[pc[0]].len))
        return opinfo[pc[0]].len;
    return op_words_slow(pc, end);
}

static uint32_t op_words_slow(const wa_word_t *pc, const wa_word_t *end)
{
    switch ((wa_op_t)pc[0]) {
    case WA_OP_UNREACHABLE:
    case WA_OP_NOP:
    case WA_OP_EXIT:
    case WA_OP_RESUME:
        return 1;
    case WA_OP_JMP:
    case WA_OP_JMP_LOOP:
        return 2;
    case WA_OP_JMP_IF:
    case WA_OP_JMP_IF_LOOP:
    case WA_OP_JMP_IFNOT:
        return 3;
    case WA_OP_BR:
        return 6;
    case WA_OP_BR_IF:
        return 7;
    case WA_OP_BR_TABLE:
        return end - pc >= 3 && pc[2] < (UINT32_MAX - 16) / 4 ? 3 + 4 * (pc[2] + 1) : 0;
    case WA_OP_BR_TABLE0:
        return end - pc >= 3 && pc[2] < UINT32_MAX - 16 ? 3 + pc[2] + 1 : 0;
    case WA_OP_RETURN:
        return 3;
    case WA_OP_RETURN1:
        return 2;
    case WA_OP_CALL:
    case WA_OP_CALL_LOCAL:
        return 3;
    case WA_OP_CALL_INDIRECT:
        return 4;
    case WA_OP_SELECT:
        return 2;
    case WA_OP_MOV:
        return 3;
    case WA_OP_MOV2:
        return 5;
    case WA_OP_GLOBAL_GET:
    case WA_OP_GLOBAL_SET:
    case WA_OP_TABLE_GET:
    case WA_OP_TABLE_SET:
        return 3;
    case WA_OP_I32_LOAD:
    case WA_OP_I64_LOAD:
    case WA_OP_F32_LOAD:
    case WA_OP_F64_LOAD:
    case WA_OP_I32_LOAD8_S:
    case WA_OP_I32_LOAD8_U:
    case WA_OP_I32_LOAD16_S:
    case WA_OP_I32_LOAD16_U:
    case WA_OP_I64_LOAD8_S:
    case WA_OP_I64_LOAD8_U:
    case WA_OP_I64_LOAD16_S:
    case WA_OP_I64_LOAD16_U:
    case WA_OP_I64_LOAD32_S:
    case WA_OP_I64_LOAD32_U:
    case WA_OP_I32_STORE:
    case WA_OP_I64_STORE:
    case WA_OP_F32_STORE:
    case WA_OP_F64_STORE:
    case WA_OP_I32_STORE8:
    case WA_OP_I32_STORE16:
    case WA_OP_I64_STORE8:
    case WA_OP_I64_STORE16:
    case WA_OP_I64_STORE32:
        return 5;
    case WA_OP_I32_LOAD_O:
    case WA_OP_I64_LOAD_O:
    case WA_OP_F32_LOAD_O:
    case WA_OP_F64_LOAD_O:
    case WA_OP_I32_LOAD8_S_O:
    case WA_OP_I32_LOAD8_U_O:
    case WA_OP_I32_LOAD16_S_O:
    case WA_OP_I32_LOAD16_U_O:
    case WA_OP_I64_LOAD8_S_O:
    case WA_OP_I64_LOAD8_U_O:
    case WA_OP_I64_LOAD16_S_O:
    case WA_OP_I64_LOAD16_U_O:
    case WA_OP_I64_LOAD32_S_O:
    case WA_OP_I64_LOAD32_U_O:
    case WA_OP_I32_STORE_O:
    case WA_OP_I64_STORE_O:
    case WA_OP_F32_STORE_O:
    case WA_OP_F64_STORE_O:
    case WA_OP_I32_STORE8_O:
    case WA_OP_I32_STORE16_O:
    case WA_OP_I64_STORE8_O:
    case WA_OP_I64_STORE16_O:
    case WA_OP_I64_STORE32_O:
        return 4;
    case WA_OP_MEMORY_SIZE:
        return 2;
    case WA_OP_MEMORY_GROW:
        return 3;
    case WA_OP_I32_CONST:
        return 3;
    case WA_OP_I64_CONST:
        return 4;
    case WA_OP_REF_FUNC:
        return 3;
    case WA_OP_MEMORY_INIT:
        return 3;
    case WA_OP_DATA_DROP:
    case WA_OP_MEMORY_COPY:
    case WA_OP_MEMORY_FILL:
    case WA_OP_ELEM_DROP:
        return 2;
    case WA_OP_TABLE_INIT:
    case WA_OP_TABLE_COPY:
        return 4;
    case WA_OP_TABLE_GROW:
    case WA_OP_TABLE_SIZE:
    case WA_OP_TABLE_FILL:
        return 3;
    case WA_OP_I32_EQZ_BT:
    case WA_OP_I32_EQZ_BF:
        return 4;
    default:
        break;
    }
    uint32_t op = pc[0];
#define WA_RCLEN_(n, w)                                                                            \
    if (op == WA_OP_##n)                                                                           \
        return 4;                                                                                  \
    if (op == WA_OP_##n##_RC)                                                                      \
        return 3 + (w);
    WA_BINOPS(WA_RCLEN_)
#undef WA_RCLEN_
#define WA_CBLEN_(n, e)                                                                            \
    if (op == WA_OP_##n##_BT || op == WA_OP_##n##_BF || op == WA_OP_##n##_BTC ||                   \
        op == WA_OP_##n##_BFC)                                                                     \
        return 5;
    WA_CMPBR(WA_CBLEN_)
#undef WA_CBLEN_
    return op < WA_OP_COUNT ? 3 : 0; /* the remaining ops are unary: dst, a */
}

/* x86 condition codes of the i32/i64 comparisons, indexed from EQ to GE_U. */
static const uint8_t cmp_cc[10] = {C_E, C_NE, C_L, C_B, C_G, C_A, C_LE, C_BE, C_GE, C_AE};

/* Integer binary ops: the ALU op on rax, rcx (w: 64-bit). */
static bool int_binop(nb_t *b, uint32_t k /* 0 = ADD .. */, bool w)
{
    switch (k) {
    case 0:
        rr_op(b, w, OPC(0x01), RCX, RAX);
        return true; /* add rax, rcx */
    case 1:
        rr_op(b, w, OPC(0x29), RCX, RAX);
        return true; /* sub */
    case 2:
        rr_op(b, w, OPC(0x0F, 0xAF), RAX, RCX);
        return true; /* imul rax, rcx */
    case 3:
        rr_op(b, w, OPC(0x21), RCX, RAX);
        return true; /* and */
    case 4:
        rr_op(b, w, OPC(0x09), RCX, RAX);
        return true; /* or */
    case 5:
        rr_op(b, w, OPC(0x31), RCX, RAX);
        return true; /* xor */
    case 6:
        rr_op(b, w, OPC(0xD3), 4, RAX);
        return true; /* shl rax, cl */
    case 7:
        rr_op(b, w, OPC(0xD3), 7, RAX);
        return true; /* sar */
    case 8:
        rr_op(b, w, OPC(0xD3), 5, RAX);
        return true; /* shr */
    case 9:
        rr_op(b, w, OPC(0xD3), 0, RAX);
        return true; /* rol */
    case 10:
        rr_op(b, w, OPC(0xD3), 1, RAX);
        return true; /* ror */
    default:
        return false;
    }
}

/* The ALU op index of an integer binary op (and its width), or -1. */
static int alu_of(uint32_t op, bool *w, bool *rc)
{
    static const uint32_t ops32[] = {WA_OP_I32_ADD,  WA_OP_I32_SUB,   WA_OP_I32_MUL,
                                     WA_OP_I32_AND,  WA_OP_I32_OR,    WA_OP_I32_XOR,
                                     WA_OP_I32_SHL,  WA_OP_I32_SHR_S, WA_OP_I32_SHR_U,
                                     WA_OP_I32_ROTL, WA_OP_I32_ROTR};
    static const uint32_t rc32[] = {WA_OP_I32_ADD_RC,  WA_OP_I32_SUB_RC,   WA_OP_I32_MUL_RC,
                                    WA_OP_I32_AND_RC,  WA_OP_I32_OR_RC,    WA_OP_I32_XOR_RC,
                                    WA_OP_I32_SHL_RC,  WA_OP_I32_SHR_S_RC, WA_OP_I32_SHR_U_RC,
                                    WA_OP_I32_ROTL_RC, WA_OP_I32_ROTR_RC};
    static const uint32_t ops64[] = {WA_OP_I64_ADD,  WA_OP_I64_SUB,   WA_OP_I64_MUL,
                                     WA_OP_I64_AND,  WA_OP_I64_OR,    WA_OP_I64_XOR,
                                     WA_OP_I64_SHL,  WA_OP_I64_SHR_S, WA_OP_I64_SHR_U,
                                     WA_OP_I64_ROTL, WA_OP_I64_ROTR};
    static const uint32_t rc64[] = {WA_OP_I64_ADD_RC,  WA_OP_I64_SUB_RC,   WA_OP_I64_MUL_RC,
                                    WA_OP_I64_AND_RC,  WA_OP_I64_OR_RC,    WA_OP_I64_XOR_RC,
                                    WA_OP_I64_SHL_RC,  WA_OP_I64_SHR_S_RC, WA_OP_I64_SHR_U_RC,
                                    WA_OP_I64_ROTL_RC, WA_OP_I64_ROTR_RC};
    for (int i = 0; i < 11; i++) {
        if (op == ops32[i] || op == rc32[i] || op == ops64[i] || op == rc64[i]) {
            *w = op == ops64[i] || op == rc64[i];
            *rc = op == rc32[i] || op == rc64[i];
            return i;
        }
    }
    return -1;
}

/* Integer division and remainder: 0 DIV_S, 1 DIV_U, 2 REM_S, 3 REM_U, or -1. */
static int divrem_of(uint32_t op, bool *w, bool *rc)
{
    static const uint32_t ops[4][4] = {
        {WA_OP_I32_DIV_S, WA_OP_I32_DIV_S_RC, WA_OP_I64_DIV_S, WA_OP_I64_DIV_S_RC},
        {WA_OP_I32_DIV_U, WA_OP_I32_DIV_U_RC, WA_OP_I64_DIV_U, WA_OP_I64_DIV_U_RC},
        {WA_OP_I32_REM_S, WA_OP_I32_REM_S_RC, WA_OP_I64_REM_S, WA_OP_I64_REM_S_RC},
        {WA_OP_I32_REM_U, WA_OP_I32_REM_U_RC, WA_OP_I64_REM_U, WA_OP_I64_REM_U_RC}};
    for (int k = 0; k < 4; k++)
        for (int f = 0; f < 4; f++)
            if (op == ops[k][f]) {
                *w = f >= 2;
                *rc = f & 1;
                return k;
            }
    return -1;
}

/* A forward jcc rel8 whose target is set by land(). */
static size_t short_jcc(nb_t *b, int cc)
{
    u8(b, cc < 0 ? 0xEB : (uint8_t)(0x70 + cc));
    u8(b, 0);
    return b->len;
}

static void land(nb_t *b, size_t from)
{
    if (b->fail)
        return;
    if (b->len - from > 127)
        b->fail = true;
    else
        b->p[from - 1] = (uint8_t)(b->len - from);
}

/* Division and remainder of rax by rcx into the slot: a zero divisor, and the one quotient
 * that overflows, leave for the interpreter, which traps; x % -1 is 0 (x86 would fault on
 * INT_MIN % -1). */
static void emit_divrem(nb_t *b, const wa_word_t *pc, int k, bool w, uint32_t dst)
{
    rr_op(b, w, OPC(0x85), RCX, RCX); /* test rcx, rcx */
    jump_stub(b, C_E, pc, false);
    size_t skip = 0;
    if (k == 0 || k == 2) {
        rr_op(b, w, OPC(0x83), 7, RCX); /* cmp rcx, -1 */
        u8(b, 0xFF);
        size_t not_m1 = short_jcc(b, C_NE);
        if (k == 0) { /* INT_MIN / -1 overflows; anything else / -1 is its negation */
            mov_imm64(b, RDX, w ? 0x8000000000000000ull : 0x80000000u);
            rr_op(b, w, OPC(0x39), RDX, RAX); /* cmp rax, rdx */
            jump_stub(b, C_E, pc, false);
        } else {
            u8(b, 0x31), u8(b, 0xD2); /* xor edx, edx: the remainder */
            skip = short_jcc(b, -1);
        }
        land(b, not_m1);
        if (w)
            u8(b, 0x48);
        u8(b, 0x99);                    /* cdq / cqo */
        rr_op(b, w, OPC(0xF7), 7, RCX); /* idiv rcx */
    } else {
        u8(b, 0x31), u8(b, 0xD2);       /* xor edx, edx */
        rr_op(b, w, OPC(0xF7), 6, RCX); /* div rcx */
    }
    if (skip)
        land(b, skip);
    int res = k >= 2 ? RDX : RAX;
    if (w)
        st64(b, res, dst);
    else
        st32(b, res, dst);
}

/* Float ops on xmm0 (a) and xmm1 (b): the same SSE instructions the C compiler gives the
 * interpreter, so every result, NaN bits included, is the interpreter's. */
static void xmm_load(nb_t *b, bool f64, int x, uint32_t slot)
{
    u8(b, f64 ? 0xF2 : 0xF3); /* movsd / movss xmm, [slot] */
    mem_op(b, false, OPC(0x0F, 0x10), x, RBX, SD(slot));
}

/* xmm1 = the constant of an _RC op (its bits in rax first). */
static void xmm1_const(nb_t *b, bool f64, const wa_word_t *c)
{
    if (f64)
        mov_imm64(b, RAX, (uint64_t)c[0] | (uint64_t)c[1] << 32);
    else
        mov_imm32(b, RAX, c[0]);
    u8(b, 0x66); /* movq / movd xmm1, rax / eax */
    rex(b, f64, 1, 0, RAX, false);
    u8(b, 0x0F), u8(b, 0x6E), u8(b, 0xC8);
}

/* The slot = xmm0's value (all 8 bytes: an f32 zero-extended). */
static void xmm0_store(nb_t *b, bool f64, uint32_t slot)
{
    u8(b, 0x66); /* movq rax, xmm0 / movd eax, xmm0 */
    rex(b, f64, 0, 0, RAX, false);
    u8(b, 0x0F), u8(b, 0x7E), u8(b, 0xC0);
    st64(b, RAX, slot);
}

typedef struct fop {
    uint32_t f32, f32_rc, f64, f64_rc;
    uint8_t kind; /* 0..3: add sub mul div (SSE opcodes 58 5C 59 5E); 4..9: eq ne lt gt le ge */
} fop_t;

static const fop_t fops[] = {
    {WA_OP_F32_ADD, WA_OP_F32_ADD_RC, WA_OP_F64_ADD, WA_OP_F64_ADD_RC, 0},
    {WA_OP_F32_SUB, WA_OP_F32_SUB_RC, WA_OP_F64_SUB, WA_OP_F64_SUB_RC, 1},
    {WA_OP_F32_MUL, WA_OP_F32_MUL_RC, WA_OP_F64_MUL, WA_OP_F64_MUL_RC, 2},
    {WA_OP_F32_DIV, WA_OP_F32_DIV_RC, WA_OP_F64_DIV, WA_OP_F64_DIV_RC, 3},
    {WA_OP_F32_EQ, WA_OP_F32_EQ_RC, WA_OP_F64_EQ, WA_OP_F64_EQ_RC, 4},
    {WA_OP_F32_NE, WA_OP_F32_NE_RC, WA_OP_F64_NE, WA_OP_F64_NE_RC, 5},
    {WA_OP_F32_LT, WA_OP_F32_LT_RC, WA_OP_F64_LT, WA_OP_F64_LT_RC, 6},
    {WA_OP_F32_GT, WA_OP_F32_GT_RC, WA_OP_F64_GT, WA_OP_F64_GT_RC, 7},
    {WA_OP_F32_LE, WA_OP_F32_LE_RC, WA_OP_F64_LE, WA_OP_F64_LE_RC, 8},
    {WA_OP_F32_GE, WA_OP_F32_GE_RC, WA_OP_F64_GE, WA_OP_F64_GE_RC, 9},
};

/* A float op: fops[k] in the f64 or f32 form, with a constant operand or not; k = FOP_MISC
 * for the unary ops and conversions. */
enum { FOP_MISC = 255 };
static bool float_op(nb_t *b, const wa_word_t *pc, uint32_t k, bool f64, bool rc)
{
    const wa_word_t *im = pc + 1;
    uint32_t op = pc[0];
    if (k != FOP_MISC) {
        const fop_t *f = &fops[k];
        xmm_load(b, f64, 0, im[1]);
        if (rc)
            xmm1_const(b, f64, im + 2);
        else
            xmm_load(b, f64, 1, im[2]);
        if (f->kind < 4) {
            static const uint8_t sse[4] = {0x58, 0x5C, 0x59, 0x5E};
            u8(b, f64 ? 0xF2 : 0xF3), u8(b, 0x0F), u8(b, sse[f->kind]), u8(b, 0xC1);
            xmm0_store(b, f64, im[0]);
            return true;
        }
        /* ucomis[sd]: (a, b) for eq ne gt ge, (b, a) for lt le */
        bool swap = f->kind == 6 || f->kind == 8;
        if (f64)
            u8(b, 0x66);
        u8(b, 0x0F), u8(b, 0x2E), u8(b, swap ? 0xC8 : 0xC1);
        switch (f->kind) {
        case 4: /* equal and ordered */
            u8(b, 0x0F), u8(b, 0x94), u8(b, 0xC0); /* sete al */
            u8(b, 0x0F), u8(b, 0x9B), u8(b, 0xC1); /* setnp cl */
            u8(b, 0x20), u8(b, 0xC8);              /* and al, cl */
            break;
        case 5: /* unequal or unordered */
            u8(b, 0x0F), u8(b, 0x95), u8(b, 0xC0); /* setne al */
            u8(b, 0x0F), u8(b, 0x9A), u8(b, 0xC1); /* setp cl */
            u8(b, 0x08), u8(b, 0xC8);              /* or al, cl */
            break;
        case 6:
        case 7: u8(b, 0x0F), u8(b, 0x97), u8(b, 0xC0); break; /* seta al */
        default: u8(b, 0x0F), u8(b, 0x93), u8(b, 0xC0); break; /* setae al */
        }
        u8(b, 0x0F), u8(b, 0xB6), u8(b, 0xC0); /* movzx eax, al */
        st32(b, RAX, im[0]);
        return true;
    }
    switch ((wa_op_t)op) {
    case WA_OP_F32_NEG:
    case WA_OP_F32_ABS:
    case WA_OP_F64_NEG:
    case WA_OP_F64_ABS: { /* the sign bit flipped or cleared: btc / btr */
        bool f64 = op == WA_OP_F64_NEG || op == WA_OP_F64_ABS;
        bool neg = op == WA_OP_F32_NEG || op == WA_OP_F64_NEG;
        (f64 ? ld64 : ld32)(b, RAX, im[1]);
        rr_op(b, f64, OPC(0x0F, 0xBA), neg ? 7 : 6, RAX);
        u8(b, f64 ? 63 : 31);
        st64(b, RAX, im[0]);
        return true;
    }
    case WA_OP_F64_PROMOTE_F32:
    case WA_OP_F32_DEMOTE_F64: {
        bool to64 = op == WA_OP_F64_PROMOTE_F32;
        xmm_load(b, !to64, 0, im[1]);
        u8(b, to64 ? 0xF3 : 0xF2), u8(b, 0x0F), u8(b, 0x5A), u8(b, 0xC0); /* cvts[sd]2s[ds] */
        xmm0_store(b, to64, im[0]);
        return true;
    }
    case WA_OP_F64_CONVERT_I32_S:
    case WA_OP_F64_CONVERT_I32_U:
    case WA_OP_F64_CONVERT_I64_S:
    case WA_OP_F32_CONVERT_I32_S:
    case WA_OP_F32_CONVERT_I32_U:
    case WA_OP_F32_CONVERT_I64_S: {
        bool to64 = op == WA_OP_F64_CONVERT_I32_S || op == WA_OP_F64_CONVERT_I32_U ||
                    op == WA_OP_F64_CONVERT_I64_S;
        bool from64 = op == WA_OP_F64_CONVERT_I64_S || op == WA_OP_F32_CONVERT_I64_S;
        bool sign32 = op == WA_OP_F64_CONVERT_I32_S || op == WA_OP_F32_CONVERT_I32_S;
        if (from64)
            ld64(b, RAX, im[1]);
        else if (sign32)
            mem_op(b, true, OPC(0x63), RAX, RBX, SD(im[1])); /* movsxd rax, dword [a] */
        else
            ld32(b, RAX, im[1]); /* unsigned: zero-extended, exact as a 64-bit integer */
        u8(b, 0x66), u8(b, 0x0F), u8(b, 0xEF), u8(b, 0xC0); /* pxor xmm0, xmm0 */
        u8(b, to64 ? 0xF2 : 0xF3), u8(b, 0x48), u8(b, 0x0F), u8(b, 0x2A), u8(b, 0xC0); /* cvtsi2s[sd] xmm0, rax */
        xmm0_store(b, to64, im[0]);
        return true;
    }
    default: return false;
    }
}

/* The comparison index (EQ .. GE_U) of an integer comparison, or -1. */
static int cmp_of(uint32_t op, bool *w, bool *rc)
{
    static const uint32_t base[4] = {WA_OP_I32_EQ, WA_OP_I32_EQ_RC, WA_OP_I64_EQ, WA_OP_I64_EQ_RC};
    for (int k = 0; k < 4; k++) {
        if (op >= base[k] && op < base[k] + 10) {
            *w = k >= 2;
            *rc = k & 1;
            return (int)(op - base[k]);
        }
    }
    return -1;
}

/* Linear memory access: rcx = the effective address, checked; leaves at pc when out of
 * bounds (the interpreter then traps). a: the address slot; k: index of the add/end word. */
static void effective_address(nb_t *b, const wa_word_t *pc, uint32_t a, bool addend, uint32_t n)
{
    const wa_word_t *im = pc + 1;
    ld32(b, RAX, im[a]); /* zero-extends */
    if (addend) {
        if (im[2]) {
            u8(b, 0x05); /* add eax, imm32: wraps at 32 bits as Wasm's i32.add */
            u32(b, im[2]);
        }
        mov_imm32(b, RCX, im[3]);
        rr_op(b, true, OPC(0x01), RAX, RCX);              /* add rcx, rax */
        mem_op(b, true, OPC(0x8D), RDX, RCX, (int32_t)n); /* lea rdx, [rcx + n] */
    } else {
        mov_imm32(b, RDX, im[2]);                          /* the access's end: offset + n */
        rr_op(b, true, OPC(0x01), RAX, RDX);               /* add rdx, rax */
        mem_op(b, true, OPC(0x8D), RCX, RDX, -(int32_t)n); /* lea rcx, [rdx - n] */
    }
    rr_op(b, true, OPC(0x39), R13, RDX); /* cmp rdx, r13 */
    jump_stub(b, C_A, pc, false);
}

typedef struct memop {
    uint32_t op, op_o;
    uint8_t size;
    bool store, w; /* w: 64-bit slot */
    uint8_t kind;  /* loads: 0 mov, 1 movzx, 2 movsx, 3 movsxd */
} memop_t;

static const memop_t memops[] = {
    {WA_OP_I32_LOAD, WA_OP_I32_LOAD_O, 4, false, false, 0},
    {WA_OP_I64_LOAD, WA_OP_I64_LOAD_O, 8, false, true, 0},
    {WA_OP_F32_LOAD, WA_OP_F32_LOAD_O, 4, false, false, 0},
    {WA_OP_F64_LOAD, WA_OP_F64_LOAD_O, 8, false, true, 0},
    {WA_OP_I32_LOAD8_S, WA_OP_I32_LOAD8_S_O, 1, false, false, 2},
    {WA_OP_I32_LOAD8_U, WA_OP_I32_LOAD8_U_O, 1, false, false, 1},
    {WA_OP_I32_LOAD16_S, WA_OP_I32_LOAD16_S_O, 2, false, false, 2},
    {WA_OP_I32_LOAD16_U, WA_OP_I32_LOAD16_U_O, 2, false, false, 1},
    {WA_OP_I64_LOAD8_S, WA_OP_I64_LOAD8_S_O, 1, false, true, 2},
    {WA_OP_I64_LOAD8_U, WA_OP_I64_LOAD8_U_O, 1, false, true, 1},
    {WA_OP_I64_LOAD16_S, WA_OP_I64_LOAD16_S_O, 2, false, true, 2},
    {WA_OP_I64_LOAD16_U, WA_OP_I64_LOAD16_U_O, 2, false, true, 1},
    {WA_OP_I64_LOAD32_S, WA_OP_I64_LOAD32_S_O, 4, false, true, 3},
    {WA_OP_I64_LOAD32_U, WA_OP_I64_LOAD32_U_O, 4, false, true, 0},
    {WA_OP_I32_STORE, WA_OP_I32_STORE_O, 4, true, false, 0},
    {WA_OP_I64_STORE, WA_OP_I64_STORE_O, 8, true, true, 0},
    {WA_OP_F32_STORE, WA_OP_F32_STORE_O, 4, true, false, 0},
    {WA_OP_F64_STORE, WA_OP_F64_STORE_O, 8, true, true, 0},
    {WA_OP_I32_STORE8, WA_OP_I32_STORE8_O, 1, true, false, 0},
    {WA_OP_I32_STORE16, WA_OP_I32_STORE16_O, 2, true, false, 0},
    {WA_OP_I64_STORE8, WA_OP_I64_STORE8_O, 1, true, true, 0},
    {WA_OP_I64_STORE16, WA_OP_I64_STORE16_O, 2, true, true, 0},
    {WA_OP_I64_STORE32, WA_OP_I64_STORE32_O, 4, true, true, 0},
};

/* A load or store: memops[k], with an addend word (the long form) or not. */
static void memory_op(nb_t *b, const wa_word_t *pc, const memop_t *m, bool addend)
{
    const wa_word_t *im = pc + 1;
    effective_address(b, pc, m->store ? 0 : 1, addend, m->size);
    if (m->store) {
        ld64(b, RDX, im[1]);
        switch (m->size) {
        case 1:
            lin_op(b, false, OPC(0x88), RDX, true);
            break;
        case 2:
            u8(b, 0x66);
            lin_op(b, false, OPC(0x89), RDX, false);
            break;
        case 4:
            lin_op(b, false, OPC(0x89), RDX, false);
            break;
        default:
            lin_op(b, true, OPC(0x89), RDX, false);
            break;
        }
        return;
    }
    switch (m->kind) {
    case 0:
        lin_op(b, m->size == 8, OPC(0x8B), RAX, false);
        break;
    case 1: /* movzx */
        lin_op(b, false, (const uint8_t[]){0x0F, m->size == 1 ? 0xB6 : 0xB7}, 2, RAX, false);
        break;
    case 2: /* movsx */
        lin_op(b, m->w, (const uint8_t[]){0x0F, m->size == 1 ? 0xBE : 0xBF}, 2, RAX, false);
        break;
    default:
        lin_op(b, true, OPC(0x63), RAX, false);
        break;
    }
    if (m->w)
        st64(b, RAX, im[0]);
    else
        st32(b, RAX, im[0]);
}


/* RETURN / RETURN1 as the interpreter's: the results to the frame's first slots, the frame
 * record popped, and the caller resumed natively where its call left native code, else left
 * at its return address (the exit and resume stubs included). */
static void emit_return(nb_t *b, uint32_t src, uint32_t n)
{
    if (src != 0)
        for (uint32_t j = 0; j < n; j++) { /* src is above: ascending is safe */
            ld64(b, RAX, src + j);
            st64(b, RAX, j);
        }
    mem_op(b, true, OPC(0x8B), RCX, R14, CTX_FRAME);
    mem_op(b, true, OPC(0x8D), RCX, RCX, -(int32_t)FR_SIZE); /* lea rcx, [rcx - size] */
    mem_op(b, true, OPC(0x89), RCX, R14, CTX_FRAME);
    mem_op(b, true, OPC(0x8B), RBX, RCX, FR_FP);
    mem_op(b, true, OPC(0x8B), RDX, RCX, FR_RET_NATIVE);
    u8(b, 0x48), u8(b, 0x85), u8(b, 0xD2); /* test rdx, rdx */
    u8(b, 0x74), u8(b, 0x02);              /* jz over: */
    u8(b, 0xFF), u8(b, 0xE2);              /* jmp rdx */
    mem_op(b, true, OPC(0x8B), RAX, RCX, FR_RET_PC);
    u8(b, 0x31), u8(b, 0xC9); /* xor ecx, ecx */
    u8(b, 0xE9);
    add_ext(b, EXIT_AT);
}

/* The interpreter's `enter` for a call from native code at pc, with rdi = the callee's fp,
 * rdx = the end of its frame and rax = its wa_func_t: the value-stack and frame-stack checks
 * and the tick (any failing one leaves at the call op, to resume after it), the frame record
 * (returning natively to the op after the call), and rbx = the callee's frame. */
static void emit_frame_push(nb_t *b, const wa_code_t *cd, const wa_word_t *pc, uint32_t next)
{
    mem_op(b, true, OPC(0x3B), RDX, R14, CTX_STACK_END); /* cmp rdx, ctx->stack_end */
    jump_stub_k(b, C_A, pc, STUB_LEAVE, next);
    mem_op(b, true, OPC(0x8B), RCX, R14, CTX_FRAME);
    mem_op(b, true, OPC(0x3B), RCX, R14, CTX_FRAMES_END);
    jump_stub_k(b, C_AE, pc, STUB_LEAVE, next);
    u8(b, 0x49), u8(b, 0x83), u8(b, 0xEF), u8(b, 0x01); /* sub r15, 1 */
    jump_stub_k(b, C_S, pc, STUB_UNTICK_LEAVE, next);
    mov_imm64(b, RDX, (uint64_t)(uintptr_t)(cd->code + next));
    mem_op(b, true, OPC(0x89), RDX, RCX, FR_RET_PC);
    mem_op(b, true, OPC(0x89), RBX, RCX, FR_FP);
    mem_op(b, true, OPC(0x89), RAX, RCX, FR_FUNC);
    u8(b, 0x48), u8(b, 0x8D), u8(b, 0x15); /* lea rdx, [rip + resume] */
    add_fix(b, next);
    u32(b, 0);
    mem_op(b, true, OPC(0x89), RDX, RCX, FR_RET_NATIVE);
    mem_op(b, true, OPC(0x8D), RCX, RCX, (int32_t)FR_SIZE);
    mem_op(b, true, OPC(0x89), RCX, R14, CTX_FRAME);
    rr_op(b, true, OPC(0x89), RDI, RBX); /* mov rbx, rdi: the callee's frame */
}

/* CALL_LOCAL as the interpreter's `enter`, for a callee of this module: the checks, the tick,
 * the frame record (returning natively to the op after the call), the callee's locals
 * cleared, and a jump to its code: straight there if it is known now, else read from its
 * wa_code_t at the call (it may be translated after the caller). Anything unusual, or a
 * callee with no native code yet, leaves at the call op with native code to resume after it,
 * so the interpreter makes the call (translating the callee, or trapping where it must). */
static bool emit_call_local(nb_t *b, const wa_code_t *cd, uint32_t i, uint32_t next)
{
    const wa_word_t *pc = cd->code + i, *im = pc + 1;
    uint32_t x = im[1];
    if (x < b->m->nfunc_imports || x >= b->m->nfuncs || x > INT32_MAX / 8)
        return false;
    const wa_code_t *callee = &b->m->codes[x - b->m->nfunc_imports];
    uint64_t top = (uint64_t)im[0] + callee->frame_slots;
    if (top > INT32_MAX / 8 || callee->nzero > INT32_MAX / 8)
        return false;
    /* the function itself, or a callee translated already: a direct jump; else its address
     * is read at the call */
    const uint8_t *known = callee == cd ? NULL : wa__native_of(callee);
    if (callee != cd && !known) {
        mov_imm64(b, R8, (uint64_t)(uintptr_t)&callee->native);
        mem_op(b, true, OPC(0x8B), R8, R8, 0); /* r8 = the callee's code */
        rr_op(b, true, OPC(0x85), R8, R8);     /* test r8, r8 */
        jump_stub_k(b, C_E, pc, STUB_LEAVE, next);
    }
    mem_op(b, true, OPC(0x8D), RDI, RBX, SD(im[0])); /* rdi = the callee's fp */
    mem_op(b, true, OPC(0x8D), RDX, RBX, SD(top));   /* rdx = its frame's end */
    mem_op(b, true, OPC(0x8B), RAX, R14, CTX_FUNCS);
    mem_op(b, true, OPC(0x8B), RAX, RAX, SD(x)); /* rax = the callee's wa_func_t */
    emit_frame_push(b, cd, pc, next);
    uint32_t nz = callee->nzero, z = callee->nparams;
    if (nz) {
        u8(b, 0x31), u8(b, 0xC0); /* xor eax, eax */
        if (nz <= 16) {
            for (uint32_t j = 0; j < nz; j++)
                st64(b, RAX, z + j);
        } else {
            mem_op(b, true, OPC(0x8D), RDI, RBX, SD(z));
            mov_imm32(b, RCX, nz);
            u8(b, 0xF3), u8(b, 0x48), u8(b, 0xAB); /* rep stosq */
        }
    }
    if (callee == cd) {
        u8(b, 0xE9); /* jmp to its own first op */
        add_fix(b, 0);
        u32(b, 0);
    } else if (known) {
        u8(b, 0xE9);
        add_ext(b, (uint32_t)(known - b->m->native_code));
    } else {
        u8(b, 0x41), u8(b, 0xFF), u8(b, 0xE0); /* jmp r8 */
    }
    return true;
}

/* CALL of an import: a host function is called through wa__native_host_call; an import
 * that is another instance's function leaves at the call op, for the interpreter to call. */
static void emit_call_import(nb_t *b, const wa_code_t *cd, uint32_t i, uint32_t next)
{
    const wa_word_t *pc = cd->code + i, *im = pc + 1;
    mem_op(b, true, OPC(0x89), R15, R14, 16);        /* ctx->tick = r15 */
    rr_op(b, true, OPC(0x89), R14, RDI);             /* mov rdi, r14 */
    mem_op(b, true, OPC(0x8D), RSI, RBX, SD(im[0])); /* rsi = sp */
    mov_imm32(b, RDX, im[1]);
    mov_imm64(b, RAX, (uint64_t)(uintptr_t)wa__native_host_call);
    u8(b, 0xFF), u8(b, 0xD0);                 /* call rax */
    mem_op(b, true, OPC(0x8B), R15, R14, 16); /* the tick, memory and size again */
    mem_op(b, true, OPC(0x8B), R12, R14, 0);
    mem_op(b, true, OPC(0x8B), R13, R14, 8);
    u8(b, 0x83), u8(b, 0xF8), u8(b, 0x01); /* cmp eax, 1 */
    /* a trap: the interpreter reports it after the op, as from its own call */
    jump_stub_k(b, C_E, cd->code + next, STUB_LEAVE, UINT32_MAX);
    jump_stub_k(b, C_A, pc, STUB_LEAVE, next);
}

enum {
    FN_CODE = offsetof(wa_func_t, code),
    CD_NPARAMS = offsetof(wa_code_t, nparams),
    CD_FRAME_SLOTS = offsetof(wa_code_t, frame_slots),
    CD_NZERO = offsetof(wa_code_t, nzero),
    CD_NATIVE = offsetof(wa_code_t, native),
};

/* CALL_INDIRECT: wa__native_indirect resolves the callee (the interpreter's checks); one of
 * this instance with native code is entered as CALL_LOCAL enters its callee, with the frame
 * read off its code. Anything else leaves at the op for the interpreter, with native code to
 * resume after it. */
static void emit_call_indirect(nb_t *b, const wa_code_t *cd, uint32_t i, uint32_t next)
{
    const wa_word_t *pc = cd->code + i, *im = pc + 1;
    rr_op(b, true, OPC(0x89), R14, RDI);             /* mov rdi, r14 */
    mem_op(b, true, OPC(0x8D), RSI, RBX, SD(im[0])); /* rsi = sp */
    mov_imm32(b, RDX, im[1]);
    mov_imm32(b, RCX, im[2]);
    mov_imm64(b, RAX, (uint64_t)(uintptr_t)wa__native_indirect);
    u8(b, 0xFF), u8(b, 0xD0);                 /* call rax */
    rr_op(b, true, OPC(0x85), RAX, RAX);      /* test rax, rax */
    jump_stub_k(b, C_E, pc, STUB_LEAVE, next);
    mem_op(b, true, OPC(0x8B), R8, RAX, FN_CODE); /* r8 = the callee's code */
    /* rdi = the callee's fp: its parameters end below the table index at s - 1 */
    mem_op(b, false, OPC(0x8B), RDX, R8, CD_NPARAMS);
    rr_op(b, true, OPC(0xF7), 3, RDX); /* neg rdx */
    mem_op(b, true, OPC(0x8D), RDI, RBX, SD(im[0] - 1));
    u8(b, 0x48), u8(b, 0x8D), u8(b, 0x3C), u8(b, 0xD7); /* lea rdi, [rdi + rdx*8] */
    mem_op(b, false, OPC(0x8B), RDX, R8, CD_FRAME_SLOTS);
    u8(b, 0x48), u8(b, 0x8D), u8(b, 0x14), u8(b, 0xD7); /* lea rdx, [rdi + rdx*8] */
    emit_frame_push(b, cd, pc, next);
    /* its declared locals cleared: rep stosq from fp + nparams, nzero slots */
    mem_op(b, false, OPC(0x8B), RDX, R8, CD_NPARAMS);
    u8(b, 0x48), u8(b, 0x8D), u8(b, 0x3C), u8(b, 0xD3); /* lea rdi, [rbx + rdx*8] */
    mem_op(b, false, OPC(0x8B), RCX, R8, CD_NZERO);
    u8(b, 0x31), u8(b, 0xC0);                           /* xor eax, eax */
    u8(b, 0xF3), u8(b, 0x48), u8(b, 0xAB);              /* rep stosq */
    mem_op(b, false, OPC(0xFF), 4, R8, CD_NATIVE);      /* jmp [r8 + native] */
}

/* A taken branch to word index t, with the interpreter's tick. */
static void branch_ticked(nb_t *b, const wa_word_t *pc, uint32_t t)
{
    tick(b, pc);
    jump_to(b, -1, t);
}

static void init_opinfo(void)
{
    for (uint32_t op = 0; op < WA_OP_COUNT; op++) {
        opinfo_t *oi = &opinfo[op];
        wa_word_t w[4] = {op, 0, 0, 0};
        if (op != WA_OP_BR_TABLE && op != WA_OP_BR_TABLE0)
            oi->len = (uint8_t)op_words_slow(w, w + 4);
        bool wide = false, rc = false;
        int k;
        for (size_t i = 0; i < sizeof memops / sizeof *memops; i++)
            if (op == memops[i].op || op == memops[i].op_o)
                *oi = (opinfo_t){oi->len, K_MEM, (uint8_t)i, false, op == memops[i].op};
        for (size_t i = 0; i < sizeof fops / sizeof *fops; i++) {
            const fop_t *f = &fops[i];
            if (op == f->f32 || op == f->f32_rc || op == f->f64 || op == f->f64_rc)
                *oi = (opinfo_t){oi->len, K_FLOAT, (uint8_t)i, op == f->f64 || op == f->f64_rc,
                                 op == f->f32_rc || op == f->f64_rc};
        }
        switch ((wa_op_t)op) {
        case WA_OP_F32_NEG: case WA_OP_F32_ABS: case WA_OP_F64_NEG: case WA_OP_F64_ABS:
        case WA_OP_F64_PROMOTE_F32: case WA_OP_F32_DEMOTE_F64: case WA_OP_F64_CONVERT_I32_S:
        case WA_OP_F64_CONVERT_I32_U: case WA_OP_F64_CONVERT_I64_S: case WA_OP_F32_CONVERT_I32_S:
        case WA_OP_F32_CONVERT_I32_U: case WA_OP_F32_CONVERT_I64_S:
            *oi = (opinfo_t){oi->len, K_FLOAT, FOP_MISC, false, false};
            break;
        default: break;
        }
        if ((k = divrem_of(op, &wide, &rc)) >= 0)
            *oi = (opinfo_t){oi->len, K_DIVREM, (uint8_t)k, wide, rc};
        if ((k = alu_of(op, &wide, &rc)) >= 0)
            *oi = (opinfo_t){oi->len, K_ALU, (uint8_t)k, wide, rc};
        if ((k = cmp_of(op, &wide, &rc)) >= 0)
            *oi = (opinfo_t){oi->len, K_CMP, (uint8_t)k, wide, rc};
        if (op >= WA_OP_I32_EQ_BT && op < WA_OP_I32_EQ_BT + 40) {
            uint32_t v = (op - WA_OP_I32_EQ_BT) % 4; /* BT, BF, BTC, BFC */
            *oi = (opinfo_t){oi->len, K_CMPBR, (uint8_t)((op - WA_OP_I32_EQ_BT) / 4), v & 1,
                             v >= 2};
        }
    }
}

/* Translates the op at word index i; false when this function cannot be translated. */
/* A binary op's operands: rax = the slot im[1], rcx = the slot im[2] or (rc) the constant
 * im[2] (and im[3], its high half, when w). */
static void load_operands(nb_t *b, const wa_word_t *im, bool w, bool rc)
{
    (w ? ld64 : ld32)(b, RAX, im[1]);
    if (!rc)
        (w ? ld64 : ld32)(b, RCX, im[2]);
    else if (w)
        mov_imm64(b, RCX, (uint64_t)im[2] | (uint64_t)im[3] << 32);
    else
        mov_imm32(b, RCX, im[2]);
}

static bool translate_op(nb_t *b, const wa_code_t *cd, uint32_t i, uint32_t len)
{
    const wa_word_t *pc = cd->code + i, *im = pc + 1;
    uint32_t op = pc[0], next = i + len;
    /* a branch target: relative to the word holding it */
#define TARGET(k) ((uint32_t)((int64_t)i + 1 + (k) + (int32_t)im[k]))
    bool w, rc;
    int k;
    switch ((wa_op_t)op) {
    case WA_OP_NOP:
        return true;
    case WA_OP_JMP:
        jump_to(b, -1, TARGET(0));
        return true;
    case WA_OP_JMP_LOOP:
        branch_ticked(b, pc, TARGET(0));
        return true;
    case WA_OP_JMP_IF:
    case WA_OP_JMP_IFNOT:
        ld32(b, RAX, im[0]);
        u8(b, 0x85); /* test eax, eax */
        u8(b, 0xC0);
        jump_to(b, op == WA_OP_JMP_IF ? C_NE : C_E, TARGET(1));
        return true;
    case WA_OP_JMP_IF_LOOP: {
        ld32(b, RAX, im[0]);
        u8(b, 0x85);
        u8(b, 0xC0);
        u8(b, 0x74); /* jz over the taken path */
        size_t at = b->len;
        u8(b, 0);
        branch_ticked(b, pc, TARGET(1));
        if (!b->fail && b->len - at - 1 <= 127)
            b->p[at] = (uint8_t)(b->len - at - 1);
        else
            b->fail = true;
        return true;
    }
    case WA_OP_BR:
    case WA_OP_BR_IF: {
        size_t at = 0;
        if (op == WA_OP_BR_IF) {
            ld32(b, RAX, im[5]);
            u8(b, 0x85);
            u8(b, 0xC0);
            u8(b, 0x0F); /* jz rel32 over the taken path */
            u8(b, 0x84);
            at = b->len;
            u32(b, 0);
        }
        uint32_t arity = im[2], dst = im[1], src = im[4] - arity;
        if (arity > 64)
            return false;
        if (dst != src)
            for (uint32_t j = 0; j < arity; j++) { /* dst is below src: ascending is safe */
                ld64(b, RAX, src + j);
                st64(b, RAX, dst + j);
            }
        if (im[3])
            tick(b, pc);
        jump_to(b, -1, TARGET(0));
        if (op == WA_OP_BR_IF)
            patch32(b, (uint32_t)at, (uint32_t)b->len);
        return true;
    }
    case WA_OP_BR_TABLE0: {
        uint32_t n = im[1];
        /* the tick first: its slow path is a call, which keeps no scratch register */
        tick(b, pc);
        ld32(b, RAX, im[0]);
        mov_imm32(b, RCX, n);
        rr_op(b, false, OPC(0x39), RCX, RAX);       /* cmp eax, ecx */
        rr_op(b, false, OPC(0x0F, 0x47), RAX, RCX); /* cmova eax, ecx */
        /* a table of jumps, 5 bytes each: lea rcx, [rip + table]; lea rax, [rax + rax*4];
         * add rax, rcx; jmp rax */
        u8(b, 0x48);
        u8(b, 0x8D);
        u8(b, 0x0D);
        u32(b, 12); /* the table follows the next 12 bytes */
        u8(b, 0x48), u8(b, 0x8D), u8(b, 0x04), u8(b, 0x80); /* lea rax, [rax + rax*4] */
        u8(b, 0x48), u8(b, 0x01), u8(b, 0xC8);              /* add rax, rcx */
        u8(b, 0xFF), u8(b, 0xE0);                           /* jmp rax */
        u8(b, 0x90), u8(b, 0x90), u8(b, 0x90);              /* to the 12 bytes */
        for (uint32_t j = 0; j <= n; j++)
            jump_to(b, -1, (uint32_t)((int64_t)i + 3 + j + (int32_t)im[2 + j]));
        return true;
    }
    case WA_OP_CALL_LOCAL:
        if (emit_call_local(b, cd, i, next))
            return true;
        leave(b, pc, next);
        return true;
    case WA_OP_CALL:
        emit_call_import(b, cd, i, next);
        return true;
    case WA_OP_CALL_INDIRECT:
        emit_call_indirect(b, cd, i, next);
        return true;
    case WA_OP_RETURN:
        if (im[1] > 64)
            break;
        emit_return(b, im[0], im[1]);
        return true;
    case WA_OP_RETURN1:
        emit_return(b, im[0], 1);
        return true;
    case WA_OP_SELECT: {
        uint32_t s = im[0];
        ld32(b, RAX, s - 1);
        u8(b, 0x85);
        u8(b, 0xC0);
        u8(b, 0x75); /* jnz over the move */
        size_t at = b->len;
        u8(b, 0);
        ld64(b, RAX, s - 2);
        st64(b, RAX, s - 3);
        if (!b->fail)
            b->p[at] = (uint8_t)(b->len - at - 1);
        return true;
    }
    case WA_OP_MOV:
        ld64(b, RAX, im[1]);
        st64(b, RAX, im[0]);
        return true;
    case WA_OP_MOV2:
        ld64(b, RAX, im[1]);
        st64(b, RAX, im[0]);
        ld64(b, RAX, im[3]);
        st64(b, RAX, im[2]);
        return true;
    case WA_OP_GLOBAL_GET:
    case WA_OP_GLOBAL_SET:
        if (im[1] > INT32_MAX / 8)
            return false;
        mem_op(b, true, OPC(0x8B), RCX, R14, 32);        /* rcx = ctx->globals */
        mem_op(b, true, OPC(0x8B), RCX, RCX, SD(im[1])); /* rcx = globals[g] */
        if (op == WA_OP_GLOBAL_GET) {
            mem_op(b, true, OPC(0x8B), RAX, RCX, (int32_t)offsetof(wa_global_t, val));
            st64(b, RAX, im[0]);
        } else {
            ld64(b, RAX, im[0]);
            mem_op(b, true, OPC(0x89), RAX, RCX, (int32_t)offsetof(wa_global_t, val));
        }
        return true;
    case WA_OP_I32_CONST:
        mov_imm32(b, RAX, im[1]); /* zero-extended, as every i32 result */
        st32(b, RAX, im[0]);
        return true;
    case WA_OP_I64_CONST:
        mov_imm64(b, RAX, (uint64_t)im[1] | (uint64_t)im[2] << 32);
        st64(b, RAX, im[0]);
        return true;
    case WA_OP_I32_EQZ:
    case WA_OP_I64_EQZ:
        mem_op(b, op == WA_OP_I64_EQZ, OPC(0x83), 7, RBX, SD(im[1])); /* cmp [a], 0 */
        u8(b, 0);
        u8(b, 0x0F), u8(b, 0x94), u8(b, 0xC0); /* sete al */
        u8(b, 0x0F), u8(b, 0xB6), u8(b, 0xC0); /* movzx eax, al */
        st32(b, RAX, im[0]);
        return true;
    case WA_OP_I32_CLZ:
    case WA_OP_I64_CLZ:
    case WA_OP_I32_CTZ:
    case WA_OP_I64_CTZ: { /* bsr / bsf, whose result is undefined for 0: the width then */
        bool wide = op == WA_OP_I64_CLZ || op == WA_OP_I64_CTZ;
        bool clz = op == WA_OP_I32_CLZ || op == WA_OP_I64_CLZ;
        mov_imm32(b, RCX, wide ? 64 : 32);
        mem_op(b, wide, (const uint8_t[]){0x0F, clz ? 0xBD : 0xBC}, 2, RAX, RBX, SD(im[1]));
        size_t zero = short_jcc(b, C_E);
        if (clz) { /* the highest set bit's index, counted from the top */
            rr_op(b, false, OPC(0x83), 6, RAX); /* xor eax, width - 1 */
            u8(b, wide ? 63 : 31);
        }
        rr_op(b, false, OPC(0x89), RAX, RCX); /* mov ecx, eax */
        land(b, zero);
        (wide ? st64 : st32)(b, RCX, im[0]);
        return true;
    }
    case WA_OP_MEMORY_SIZE: /* the size in bytes is a whole number of pages */
        rr_op(b, true, OPC(0x89), R13, RAX); /* mov rax, r13 */
        rr_op(b, true, OPC(0xC1), 5, RAX);   /* shr rax, 16 */
        u8(b, 16);
        st32(b, RAX, im[0]);
        return true;
    case WA_OP_I32_WRAP_I64:
        ld32(b, RAX, im[1]);
        st32(b, RAX, im[0]);
        return true;
    case WA_OP_I64_EXTEND_I32_S:
        mem_op(b, true, OPC(0x63), RAX, RBX, SD(im[1])); /* movsxd rax, dword [a] */
        st64(b, RAX, im[0]);
        return true;
    case WA_OP_I64_EXTEND_I32_U:
        ld32(b, RAX, im[1]);
        st64(b, RAX, im[0]);
        return true;
    case WA_OP_I32_EXTEND8_S:
        mem_op(b, false, OPC(0x0F, 0xBE), RAX, RBX, SD(im[1]));
        st32(b, RAX, im[0]);
        return true;
    case WA_OP_I32_EXTEND16_S:
        mem_op(b, false, OPC(0x0F, 0xBF), RAX, RBX, SD(im[1]));
        st32(b, RAX, im[0]);
        return true;
    case WA_OP_I64_EXTEND8_S:
        mem_op(b, true, OPC(0x0F, 0xBE), RAX, RBX, SD(im[1]));
        st64(b, RAX, im[0]);
        return true;
    case WA_OP_I64_EXTEND16_S:
        mem_op(b, true, OPC(0x0F, 0xBF), RAX, RBX, SD(im[1]));
        st64(b, RAX, im[0]);
        return true;
    case WA_OP_I64_EXTEND32_S:
        mem_op(b, true, OPC(0x63), RAX, RBX, SD(im[1]));
        st64(b, RAX, im[0]);
        return true;
    case WA_OP_I32_EQZ_BT:
    case WA_OP_I32_EQZ_BF: {
        mem_op(b, false, OPC(0x83), 7, RBX, SD(im[1])); /* cmp dword [a], 0 */
        u8(b, 0);
        /* over the taken path when the branch is not taken */
        u8(b, 0x0F);
        u8(b, op == WA_OP_I32_EQZ_BT ? 0x85 : 0x84);
        size_t at = b->len;
        u32(b, 0);
        branch_ticked(b, pc, TARGET(2));
        patch32(b, (uint32_t)at, (uint32_t)b->len);
        return true;
    }
    default:
        break;
    }
    const opinfo_t *oi = &opinfo[op];
    w = oi->w;
    rc = oi->rc;
    k = oi->k;
    switch (oi->kind) {
    case K_MEM:
        memory_op(b, pc, &memops[k], rc);
        return true;
    case K_FLOAT:
        if (float_op(b, pc, (uint32_t)k, w, rc))
            return true;
        break;
    case K_DIVREM:
        load_operands(b, im, w, rc);
        emit_divrem(b, pc, k, w, im[0]);
        return true;
    case K_ALU:
        load_operands(b, im, w, rc);
        int_binop(b, (uint32_t)k, w);
        (w ? st64 : st32)(b, RAX, im[0]);
        return true;
    case K_CMP:
        load_operands(b, im, w, rc);
        rr_op(b, w, OPC(0x39), RCX, RAX);                             /* cmp rax, rcx */
        u8(b, 0x0F), u8(b, (uint8_t)(0x90 + cmp_cc[k])), u8(b, 0xC0); /* setcc al */
        u8(b, 0x0F), u8(b, 0xB6), u8(b, 0xC0);                        /* movzx eax, al */
        st32(b, RAX, im[0]);
        return true;
    case K_CMPBR: { /* fused compare-and-branch: dst (unused), a, b or constant, target */
        int c = k;
        bool taken_when_true = !w, cst = rc; /* w: the _BF forms */
        ld32(b, RAX, im[1]);
        if (cst)
            mov_imm32(b, RCX, im[2]);
        else
            ld32(b, RCX, im[2]);
        rr_op(b, false, OPC(0x39), RCX, RAX); /* cmp eax, ecx */
        int cc = cmp_cc[c];
        /* over the taken path when not taken: the negated condition (x86 pairs cc, cc ^ 1) */
        u8(b, 0x0F);
        u8(b, (uint8_t)(0x80 + (taken_when_true ? cc ^ 1 : cc)));
        size_t at = b->len;
        u32(b, 0);
        branch_ticked(b, pc, TARGET(3));
        patch32(b, (uint32_t)at, (uint32_t)b->len);
        return true;
    }
    default:
        break;
    }
    /* everything else, and returns: the interpreter runs it and the rest of the activation */
    leave(b, pc, UINT32_MAX);
    return true;
#undef TARGET
}

/* Translates one function into b; false leaves it to the interpreter. */
static bool translate(nb_t *b, const wa_code_t *cd)
{
    uint32_t n = cd->code_len;
    if (!n || cd->frame_slots > INT32_MAX / 8 - 8)
        return false;
    uint32_t *label = malloc((size_t)n * sizeof *label);
    if (!label)
        return false;
    for (uint32_t i = 0; i < n; i++)
        label[i] = UINT32_MAX;
    b->label = label;
    bool ok = true;
    uint32_t i = 0;
    while (ok && i < n) {
        uint32_t len = op_words(cd->code + i, cd->code + n);
        if (!len || len > n - i) {
            ok = false;
            break;
        }
        label[i] = (uint32_t)b->len;
        ok = translate_op(b, cd, i, len) && !b->fail;
        i += len;
    }
    if (ok)
        emit_stubs(b, cd->code);
    for (size_t f = 0; ok && f < b->nfix; f++) {
        uint32_t t = b->fix[f].target;
        if (t >= n || label[t] == UINT32_MAX)
            ok = false;
        else
            patch32(b, b->fix[f].patch, label[t]);
    }
    free(label);
    b->label = NULL;
    return ok && !b->fail;
}

/* The way in, once per process: saves the registers native code keeps its state in, loads
 * them from the context and jumps to the target. Its counterpart, the way out, is at the
 * start of every module's code (a jump there is then always within reach). */
static uint8_t *enter_code;
static pthread_once_t enter_once = PTHREAD_ONCE_INIT;

/* b's code in pages of its own, read-only and executable; NULL if the system refuses. */
static uint8_t *map_exec(const nb_t *b)
{
    size_t size = (b->len + 4095) & ~(size_t)4095;
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memcpy(p, b->p, b->len);
    if (mprotect(p, size, PROT_READ | PROT_EXEC) != 0) {
        munmap(p, size);
        return NULL;
    }
    return p;
}

static void make_enter(void)
{
    init_opinfo();
    nb_t b = {0};
    u8(&b, 0x53);                              /* push rbx */
    u8(&b, 0x41), u8(&b, 0x54);                /* push r12 */
    u8(&b, 0x41), u8(&b, 0x55);                /* push r13 */
    u8(&b, 0x41), u8(&b, 0x56);                /* push r14 */
    u8(&b, 0x41), u8(&b, 0x57);                /* push r15 */
    rr_op(&b, true, OPC(0x89), RDI, R14);      /* mov r14, rdi: ctx */
    rr_op(&b, true, OPC(0x89), RSI, RBX);      /* mov rbx, rsi: fp */
    mem_op(&b, true, OPC(0x8B), R12, R14, 0);  /* mem */
    mem_op(&b, true, OPC(0x8B), R13, R14, 8);  /* mem_size */
    mem_op(&b, true, OPC(0x8B), R15, R14, 16); /* tick */
    u8(&b, 0xFF), u8(&b, 0xE2);                /* jmp rdx */
    if (!b.fail)
        enter_code = map_exec(&b);
    nb_free(&b);
}

static void emit_exit(nb_t *b)
{
    mem_op(b, true, OPC(0x89), RCX, R14, 24);     /* ctx->resume = rcx */
    mem_op(b, true, OPC(0x89), R15, R14, 16);     /* ctx->tick = r15 */
    mem_op(b, true, OPC(0x89), RBX, R14, CTX_FP); /* ctx->fp = rbx */
    u8(b, 0x41), u8(b, 0x5F);                     /* pop r15 */
    u8(b, 0x41), u8(b, 0x5E);                     /* pop r14 */
    u8(b, 0x41), u8(b, 0x5D);                     /* pop r13 */
    u8(b, 0x41), u8(b, 0x5C);                     /* pop r12 */
    u8(b, 0x5B);                                  /* pop rbx */
    u8(b, 0xC3);                                  /* ret */
}

static bool native_wanted(void)
{
    const char *e = getenv("SLUICE_WASM_NATIVE");
    return !(e && strcmp(e, "0") == 0);
}

/* The module's code pages are mapped in chunks, each by the thread whose function first
 * reaches into it: one call maps 16 pages where writing the code would fault on each, and
 * this machine's page faults are slow (a chunk's pages simply fault if its call is late). */
enum { CODE_CHUNK = 65536 };

static void populate(wa_module_t *m, size_t from)
{
#ifdef MADV_POPULATE_WRITE
    size_t n = m->native_bytes - from < CODE_CHUNK ? m->native_bytes - from : CODE_CHUNK;
    (void)madvise(m->native_rw + from, n, MADV_POPULATE_WRITE);
#else
    (void)m, (void)from;
#endif
}

/* The same memory mapped twice, read-write (*rw) and read-execute (*rx); false if the system
 * refuses. First choice (*dup in): shared anonymous memory and its duplicate (mremap of a
 * shared mapping with old size 0), which perf counts as code made at run time and names from
 * the perf map. Where that is refused (valgrind, for one), or without *dup, a memfd mapped
 * twice; *dup out: whether the first way was taken. Neither is charged as committed memory
 * until written. */
bool wa__native_map_twice(size_t size, bool *dup, uint8_t **rw, uint8_t **rx)
{
    *rw = *dup ? mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
               : MAP_FAILED;
    if (*rw != MAP_FAILED) {
        *rx = mremap(*rw, 0, size, MREMAP_MAYMOVE);
        if (*rx != MAP_FAILED && mprotect(*rx, size, PROT_READ | PROT_EXEC) == 0)
            return true;
        if (*rx != MAP_FAILED)
            munmap(*rx, size);
        munmap(*rw, size);
    }
    *dup = false;
    int fd = memfd_create("sluice-wasm-code", MFD_CLOEXEC);
    if (fd < 0)
        return false;
    *rw = *rx = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0) {
        *rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        *rx = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    }
    close(fd); /* the mappings keep the memory */
    if (*rw != MAP_FAILED && *rx != MAP_FAILED)
        return true;
    if (*rw != MAP_FAILED)
        munmap(*rw, size);
    if (*rx != MAP_FAILED)
        munmap(*rx, size);
    return false;
}

/* The module's code mapping, reserved at load for every function it may translate (only the
 * pages code is written to take memory), with the shared code at its start; false if the
 * system refuses one (the module is then interpreted). */
static bool make_code_map(wa_module_t *m)
{
    size_t ncodes = m->nfuncs - m->nfunc_imports;
    /* Translated code is about 4 times the size of the Wasm code it comes from, but up to 45
     * times for code that is mostly calls (a 2-byte call becomes a frame push): the mapping
     * is only address space until written, so it is reserved generously. A function that
     * finds no room left is interpreted. Jumps to the shared code reach 2 GiB. */
    size_t size = ((size_t)64 << 20) + 64 * m->code_bytes + 256 * ncodes;
    if (size > ((size_t)1 << 30))
        size = (size_t)1 << 30;
    size = (size + 4095) & ~(size_t)4095;
    uint8_t *rw, *rx;
    bool dup = true;
    if (!wa__native_map_twice(size, &dup, &rw, &rx))
        return false;
    nb_t b = {.m = m};
    emit_exit(&b);
    bool ok = b.len <= TICK_AT;
    while (b.len < TICK_AT)
        u8(&b, 0xCC);
    emit_tick_sub(&b);
    if (!ok || b.fail) {
        munmap(rw, size);
        munmap(rx, size);
        nb_free(&b);
        return false;
    }
    m->native_code = rx;
    m->native_rw = rw;
    m->native_bytes = size;
    m->native_pid = getpid();
    memcpy(rw, b.p, b.len);
    atomic_store_explicit(&m->native_used, (b.len + 63) & ~(size_t)63, memory_order_relaxed);
    nb_free(&b);
    return true;
}

void wa__native_compile(wa_module_t *m)
{
    uint32_t ncodes = m->nfuncs - m->nfunc_imports;
    bool on = ncodes && native_wanted();
    if (on) {
        pthread_once(&enter_once, make_enter);
        on = enter_code && make_code_map(m);
    }
    for (uint32_t i = 0; i < ncodes; i++) {
        atomic_init(&m->codes[i].native, NULL);
        atomic_init(&m->codes[i].native_state, on ? WA_NATIVE_UNTRIED : WA_NATIVE_DONE);
    }
}

/* Copies b's function into the module's code and points its jumps to the shared code;
 * returns where it starts, or SIZE_MAX when the mapping is full. Each function takes whole
 * cache lines, so that no line holds both new code and code a thread may have run. */
static size_t place(wa_module_t *m, const nb_t *b)
{
    size_t len = (b->len + 63) & ~(size_t)63;
    /* a claim that does not fit takes nothing, so a smaller function may still fit */
    size_t at = atomic_load_explicit(&m->native_used, memory_order_relaxed);
    do {
        if (at > m->native_bytes || len > m->native_bytes - at)
            return SIZE_MAX;
    } while (!atomic_compare_exchange_weak_explicit(&m->native_used, &at, at + len,
                                                    memory_order_relaxed, memory_order_relaxed));
    for (size_t c = (at + CODE_CHUNK - 1) / CODE_CHUNK * CODE_CHUNK; c < at + len;
         c += CODE_CHUNK)
        populate(m, c);
    uint8_t *dst = m->native_rw + at;
    memcpy(dst, b->p, b->len);
    for (size_t i = 0; i < b->next; i++) {
        uint32_t v = (uint32_t)(b->ext[i].target - (at + b->ext[i].patch + 4));
        memcpy(dst + b->ext[i].patch, &v, 4);
    }
    return at;
}

/* With SLUICE_WASM_PERF_MAP=1, every translated function gets a line in perf's map for code
 * made at run time (/tmp/perf-PID.map, the file perf reads for any process), so that `perf
 * report` names Wasm functions instead of showing bare addresses. */
static int perf_map = -1;
static pthread_once_t perf_map_once = PTHREAD_ONCE_INIT;

static void open_perf_map(void)
{
    const char *e = getenv("SLUICE_WASM_PERF_MAP");
    if (!e || strcmp(e, "1") != 0)
        return;
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    perf_map = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
}

/* "START SIZE wasm[INDEX] EXPORT": one write, so lines from several threads never mix. */
static void perf_map_add(const wa_module_t *m, uint32_t index, const void *code, size_t len)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%lx %zx wasm[%u]", (unsigned long)(uintptr_t)code, len,
                     index);
    for (uint32_t i = 0; i < m->nexports && n < (int)sizeof line - 2; i++) {
        const wa_export_t *e = &m->exports[i];
        if (e->kind != WA_EXTERN_FUNC || e->index != index)
            continue;
        line[n++] = ' ';
        for (uint32_t k = 0; k < e->name_len && n < (int)sizeof line - 2; k++) {
            unsigned char c = (unsigned char)e->name[k];
            line[n++] = c > ' ' && c < 0x7F ? (char)c : '?';
        }
        break;
    }
    line[n++] = '\n';
    (void)!write(perf_map, line, (size_t)n);
}

const void *wa__native_translate(wa_module_t *m, const wa_code_t *code)
{
    wa_code_t *cd = &m->codes[code - m->codes];
    int untried = WA_NATIVE_UNTRIED;
    if (!atomic_compare_exchange_strong_explicit(&cd->native_state, &untried, WA_NATIVE_BUSY,
                                                 memory_order_acq_rel, memory_order_acquire))
        return wa__native_of(cd); /* another thread's: done, or NULL while it works */
    const void *entry = NULL;
    nb_t b = {.m = m};
    /* A forked child shares the code's pages with its parent but has its own copy of the
     * bump pointer: what it would append, the parent may write too. It keeps the code made
     * before the fork (never written again) and interprets everything else. */
    if (m->native_rw && m->native_pid == getpid() && translate(&b, cd)) {
        size_t at = place(m, &b);
        if (at != SIZE_MAX) {
            entry = m->native_code + at;
            atomic_fetch_add_explicit(&m->native_funcs, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&m->native_code_bytes, b.len, memory_order_relaxed);
            pthread_once(&perf_map_once, open_perf_map);
            if (perf_map >= 0)
                perf_map_add(m, (uint32_t)(cd - m->codes) + m->nfunc_imports, entry, b.len);
        }
    }
    nb_free(&b);
    /* the code's bytes are written before any thread can read its address */
    atomic_store_explicit(&cd->native, entry, memory_order_release);
    atomic_store_explicit(&cd->native_state, WA_NATIVE_DONE, memory_order_release);
    return entry;
}

void wa__native_translate_all(wa_module_t *m)
{
    for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++)
        if (atomic_load_explicit(&m->codes[i].native_state, memory_order_acquire) ==
            WA_NATIVE_UNTRIED)
            (void)wa__native_translate(m, &m->codes[i]);
}

void wa__native_free(wa_module_t *m)
{
    if (m->native_code) {
        munmap(m->native_code, m->native_bytes);
        munmap(m->native_rw, m->native_bytes);
    }
    m->native_code = m->native_rw = NULL;
}

const wa_word_t *wa__native_run(wa_native_ctx_t *ctx, wa_value_t *fp, const void *target)
{
    const wa_word_t *(*fn)(wa_native_ctx_t *, wa_value_t *, const void *);
    void *code = enter_code;
    memcpy(&fn, &code, sizeof fn);
    return fn(ctx, fp, target);
}

#else /* no native tier on this platform: everything is interpreted */

void wa__native_compile(wa_module_t *m)
{
    for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++) {
        atomic_init(&m->codes[i].native, NULL);
        atomic_init(&m->codes[i].native_state, WA_NATIVE_DONE);
    }
}
void wa__native_free(wa_module_t *m)
{
    (void)m;
}
const void *wa__native_translate(wa_module_t *m, const wa_code_t *cd)
{
    (void)m, (void)cd;
    return NULL;
}
void wa__native_translate_all(wa_module_t *m)
{
    (void)m;
}
bool wa__native_map_twice(size_t size, bool *dup, uint8_t **rw, uint8_t **rx)
{
    (void)size, (void)dup, (void)rw, (void)rx;
    return false;
}
const wa_word_t *wa__native_run(wa_native_ctx_t *ctx, wa_value_t *fp, const void *target)
{
    (void)ctx, (void)fp, (void)target;
    return NULL;
}

#endif
