/* The engine's private structures: the loaded module, compiled function code, instances,
 * runtime objects and the per-thread execution context shared by the interpreter and API. */
#ifndef SLUICE_WA_INTERNAL_H
#define SLUICE_WA_INTERNAL_H

#include "sluice/wasm.h"

#include <stdatomic.h>
#include <sys/types.h>
#include <string.h>

#define WA_PAGE_BYTES 65536u
#define WA_MAX_PAGES 65536u
#define WA_NO_INDEX UINT32_MAX

/* The internal instruction set: register/slot form. A frame is one array of slots: the
 * function's locals, then one slot per operand-stack height (the validator knows the height
 * at every instruction, so every stack operand has a fixed slot). Every compiled instruction
 * is one 32-bit op word followed by its immediates (32-bit words): slot indexes relative to
 * the frame, constants, and branch targets relative to the word holding them. Unless noted,
 * value ops are `op dst a [b]` (slots); the _RC variants take b as a constant (one word, two
 * for 64-bit operands). Ops marked "s" take the slot just above their stack operands (the
 * stack pointer of a stack machine) and read their operands below it. */
#define WA_OPS(X)                                                                                \
    X(UNREACHABLE) X(NOP)                                                                       \
    X(JMP) X(JMP_LOOP)                             /* target */                                 \
    X(JMP_IF) X(JMP_IF_LOOP) X(JMP_IFNOT)          /* cond, target */                           \
    X(BR) X(BR_IF)                                 /* target, dst, arity, loop, s, cond */      \
    X(BR_TABLE)                                    /* s, n, n+1 x (target, dst, arity, loop) */ \
    X(BR_TABLE0)                                   /* index, n, n+1 x target: no values */     \
    X(RETURN) X(RETURN1)                           /* src, n: results at src..src+n | src */    \
    X(EXIT) X(RESUME)                              /* only in wa_interp.c's return stubs */     \
    X(CALL) X(CALL_LOCAL) X(CALL_INDIRECT)         /* s, func | fp, func | s, type, table */   \
    X(SELECT)                                      /* s */                                      \
    X(MOV) X(MOV2)                                 /* dst, src | dst, src, dst2, src2 */        \
    X(GLOBAL_GET) X(GLOBAL_SET)                    /* dst, global | src, global */              \
    X(TABLE_GET) X(TABLE_SET)                      /* s, table */                               \
    X(I32_LOAD) X(I64_LOAD) X(F32_LOAD) X(F64_LOAD) X(I32_LOAD8_S) X(I32_LOAD8_U)               \
    X(I32_LOAD16_S) X(I32_LOAD16_U) X(I64_LOAD8_S) X(I64_LOAD8_U) X(I64_LOAD16_S)               \
    X(I64_LOAD16_U) X(I64_LOAD32_S) X(I64_LOAD32_U) /* dst, addr, add, offset */                  \
    X(I32_STORE) X(I64_STORE) X(F32_STORE)                                                      \
    X(F64_STORE) X(I32_STORE8) X(I32_STORE16) X(I64_STORE8) X(I64_STORE16) X(I64_STORE32)      \
                                      /* addr, value, add, offset: at addr + add + offset */    \
    X(I32_LOAD_O) X(I64_LOAD_O) X(F32_LOAD_O) X(F64_LOAD_O) X(I32_LOAD8_S_O) X(I32_LOAD8_U_O)   \
    X(I32_LOAD16_S_O) X(I32_LOAD16_U_O) X(I64_LOAD8_S_O) X(I64_LOAD8_U_O) X(I64_LOAD16_S_O)     \
    X(I64_LOAD16_U_O) X(I64_LOAD32_S_O) X(I64_LOAD32_U_O)                                       \
    X(I32_STORE_O) X(I64_STORE_O) X(F32_STORE_O) X(F64_STORE_O) X(I32_STORE8_O)                 \
    X(I32_STORE16_O) X(I64_STORE8_O) X(I64_STORE16_O) X(I64_STORE32_O)                          \
         /* the same without an addend: dst, addr, end | addr, value, end; end = offset + size */ \
    X(MEMORY_SIZE) X(MEMORY_GROW)                  /* dst | dst, delta */                       \
    X(I32_CONST) X(I64_CONST)                      /* dst, value (two words for 64 bits) */     \
    X(I32_EQZ) X(I32_EQ) X(I32_NE) X(I32_LT_S) X(I32_LT_U) X(I32_GT_S) X(I32_GT_U) X(I32_LE_S)  \
    X(I32_LE_U) X(I32_GE_S) X(I32_GE_U)                                                         \
    X(I64_EQZ) X(I64_EQ) X(I64_NE) X(I64_LT_S) X(I64_LT_U) X(I64_GT_S) X(I64_GT_U) X(I64_LE_S)  \
    X(I64_LE_U) X(I64_GE_S) X(I64_GE_U)                                                         \
    X(F32_EQ) X(F32_NE) X(F32_LT) X(F32_GT) X(F32_LE) X(F32_GE)                                 \
    X(F64_EQ) X(F64_NE) X(F64_LT) X(F64_GT) X(F64_LE) X(F64_GE)                                 \
    X(I32_CLZ) X(I32_CTZ) X(I32_POPCNT) X(I32_ADD) X(I32_SUB) X(I32_MUL) X(I32_DIV_S)           \
    X(I32_DIV_U) X(I32_REM_S) X(I32_REM_U) X(I32_AND) X(I32_OR) X(I32_XOR) X(I32_SHL)           \
    X(I32_SHR_S) X(I32_SHR_U) X(I32_ROTL) X(I32_ROTR)                                           \
    X(I64_CLZ) X(I64_CTZ) X(I64_POPCNT) X(I64_ADD) X(I64_SUB) X(I64_MUL) X(I64_DIV_S)           \
    X(I64_DIV_U) X(I64_REM_S) X(I64_REM_U) X(I64_AND) X(I64_OR) X(I64_XOR) X(I64_SHL)           \
    X(I64_SHR_S) X(I64_SHR_U) X(I64_ROTL) X(I64_ROTR)                                           \
    X(F32_ABS) X(F32_NEG) X(F32_CEIL) X(F32_FLOOR) X(F32_TRUNC) X(F32_NEAREST) X(F32_SQRT)      \
    X(F32_ADD) X(F32_SUB) X(F32_MUL) X(F32_DIV) X(F32_MIN) X(F32_MAX) X(F32_COPYSIGN)           \
    X(F64_ABS) X(F64_NEG) X(F64_CEIL) X(F64_FLOOR) X(F64_TRUNC) X(F64_NEAREST) X(F64_SQRT)      \
    X(F64_ADD) X(F64_SUB) X(F64_MUL) X(F64_DIV) X(F64_MIN) X(F64_MAX) X(F64_COPYSIGN)           \
    X(I32_WRAP_I64) X(I32_TRUNC_F32_S) X(I32_TRUNC_F32_U) X(I32_TRUNC_F64_S) X(I32_TRUNC_F64_U) \
    X(I64_EXTEND_I32_S) X(I64_EXTEND_I32_U) X(I64_TRUNC_F32_S) X(I64_TRUNC_F32_U)               \
    X(I64_TRUNC_F64_S) X(I64_TRUNC_F64_U) X(F32_CONVERT_I32_S) X(F32_CONVERT_I32_U)             \
    X(F32_CONVERT_I64_S) X(F32_CONVERT_I64_U) X(F32_DEMOTE_F64) X(F64_CONVERT_I32_S)            \
    X(F64_CONVERT_I32_U) X(F64_CONVERT_I64_S) X(F64_CONVERT_I64_U) X(F64_PROMOTE_F32)           \
    X(I32_EXTEND8_S) X(I32_EXTEND16_S) X(I64_EXTEND8_S) X(I64_EXTEND16_S) X(I64_EXTEND32_S)     \
    X(REF_IS_NULL) X(REF_FUNC)                     /* dst, a | dst, func */                     \
    X(I32_TRUNC_SAT_F32_S) X(I32_TRUNC_SAT_F32_U) X(I32_TRUNC_SAT_F64_S)                        \
    X(I32_TRUNC_SAT_F64_U) X(I64_TRUNC_SAT_F32_S) X(I64_TRUNC_SAT_F32_U)                        \
    X(I64_TRUNC_SAT_F64_S) X(I64_TRUNC_SAT_F64_U)                                               \
    X(MEMORY_INIT) X(DATA_DROP) X(MEMORY_COPY) X(MEMORY_FILL) X(TABLE_INIT) X(ELEM_DROP)        \
    X(TABLE_COPY) X(TABLE_GROW) X(TABLE_SIZE) X(TABLE_FILL)  /* s first, but *_DROP, SIZE */

/* The binary operators (two operands of the same type): each also has an _RC variant whose
 * second operand is a constant. (name, words of the constant) */
#define WA_BINOPS(B)                                                                             \
    B(I32_EQ, 1) B(I32_NE, 1) B(I32_LT_S, 1) B(I32_LT_U, 1) B(I32_GT_S, 1) B(I32_GT_U, 1)        \
    B(I32_LE_S, 1) B(I32_LE_U, 1) B(I32_GE_S, 1) B(I32_GE_U, 1)                                  \
    B(I64_EQ, 2) B(I64_NE, 2) B(I64_LT_S, 2) B(I64_LT_U, 2) B(I64_GT_S, 2) B(I64_GT_U, 2)        \
    B(I64_LE_S, 2) B(I64_LE_U, 2) B(I64_GE_S, 2) B(I64_GE_U, 2)                                  \
    B(F32_EQ, 1) B(F32_NE, 1) B(F32_LT, 1) B(F32_GT, 1) B(F32_LE, 1) B(F32_GE, 1)                \
    B(F64_EQ, 2) B(F64_NE, 2) B(F64_LT, 2) B(F64_GT, 2) B(F64_LE, 2) B(F64_GE, 2)                \
    B(I32_ADD, 1) B(I32_SUB, 1) B(I32_MUL, 1) B(I32_DIV_S, 1) B(I32_DIV_U, 1) B(I32_REM_S, 1)    \
    B(I32_REM_U, 1) B(I32_AND, 1) B(I32_OR, 1) B(I32_XOR, 1) B(I32_SHL, 1) B(I32_SHR_S, 1)       \
    B(I32_SHR_U, 1) B(I32_ROTL, 1) B(I32_ROTR, 1)                                                \
    B(I64_ADD, 2) B(I64_SUB, 2) B(I64_MUL, 2) B(I64_DIV_S, 2) B(I64_DIV_U, 2) B(I64_REM_S, 2)    \
    B(I64_REM_U, 2) B(I64_AND, 2) B(I64_OR, 2) B(I64_XOR, 2) B(I64_SHL, 2) B(I64_SHR_S, 2)       \
    B(I64_SHR_U, 2) B(I64_ROTL, 2) B(I64_ROTR, 2)                                                \
    B(F32_ADD, 1) B(F32_SUB, 1) B(F32_MUL, 1) B(F32_DIV, 1) B(F32_MIN, 1) B(F32_MAX, 1)          \
    B(F32_COPYSIGN, 1)                                                                           \
    B(F64_ADD, 2) B(F64_SUB, 2) B(F64_MUL, 2) B(F64_DIV, 2) B(F64_MIN, 2) B(F64_MAX, 2)          \
    B(F64_COPYSIGN, 2)

/* i32 comparisons that also exist fused with the br_if or `if` that consumes their result:
 * _BT branches when true, _BF when false, _BTC/_BFC take b as a constant; the layout is the
 * comparison's (dst unused) followed by the target. (name, condition on int32_t a and b) */
#define WA_CMPBR(C)                                                                              \
    C(I32_EQ, a == b) C(I32_NE, a != b) C(I32_LT_S, a < b) C(I32_LT_U, (uint32_t)a < (uint32_t)b) \
    C(I32_GT_S, a > b) C(I32_GT_U, (uint32_t)a > (uint32_t)b) C(I32_LE_S, a <= b)                  \
    C(I32_LE_U, (uint32_t)a <= (uint32_t)b) C(I32_GE_S, a >= b)                                   \
    C(I32_GE_U, (uint32_t)a >= (uint32_t)b)

typedef enum {
#define WA_OPX_(n) WA_OP_##n,
    WA_OPS(WA_OPX_)
#undef WA_OPX_
#define WA_RCX_(n, w) WA_OP_##n##_RC,
    WA_BINOPS(WA_RCX_)
#undef WA_RCX_
#define WA_CBX_(n, e) WA_OP_##n##_BT, WA_OP_##n##_BF, WA_OP_##n##_BTC, WA_OP_##n##_BFC,
    WA_CMPBR(WA_CBX_)
#undef WA_CBX_
    WA_OP_I32_EQZ_BT, WA_OP_I32_EQZ_BF,
    WA_OP_COUNT
} wa_op_t;

/* Words of the compiled code. */
typedef uint32_t wa_word_t;

/* A constant expression (global initialisers, segment offsets and elements). */
typedef struct wa_constexpr {
    uint8_t op;      /* 0x41 i32.const, 0x42, 0x43, 0x44, 0xd0 ref.null, 0xd2 ref.func, 0x23 global.get */
    uint32_t index;  /* function or global index */
    wa_value_t value;
} wa_constexpr_t;

typedef struct wa_type {
    wa_functype_t ft; /* params/results point into the module's valtype pool */
    uint64_t hash;    /* structural hash: call_indirect compares this, then the lists */
} wa_type_t;

/* One compiled function body. */
typedef struct wa_code {
    uint32_t type_index;
    uint32_t nparams, nresults;
    uint32_t nlocals;     /* params + declared locals + the zero slot (wa_compile.c) */
    uint32_t max_height;  /* operand stack slots needed beyond the locals (at least 4: a call
                             clears 4 slots past the params without looking at nlocals) */
    uint32_t frame_slots; /* nlocals + max_height: what a call checks the value stack for */
    uint32_t nzero;       /* nlocals - nparams: the slots a call clears */
    uint32_t body_offset; /* byte offset of the body in the module */
    wa_word_t *code;      /* owned */
    uint32_t code_len;
    uint32_t *trap_map;   /* owned: pairs (word index after the op word, byte offset) */
    uint32_t ntrap;
    bool constant;        /* the body is a lone constant (or empty): see wa_func_constant */
    wa_value_t constant_value;
    /* the native tier (wa_native.c) translates a function on its first call, on whichever
     * thread makes it; the code is then published here for every thread */
    _Atomic(const void *) native; /* its machine code (in the module's native_code), or NULL */
    atomic_int native_state;      /* WA_NATIVE_UNTRIED, _BUSY (being translated) or _DONE */
} wa_code_t;

enum { WA_NATIVE_UNTRIED, WA_NATIVE_BUSY, WA_NATIVE_DONE };

typedef struct wa_import {
    char *module, *name; /* owned */
    wa_externtype_t type; /* func types borrow from the module's type table */
    uint32_t type_index;  /* for functions */
} wa_import_t;

typedef struct wa_export {
    char *name; /* owned */
    uint32_t name_len; /* names may hold NUL bytes */
    wa_extern_kind_t kind;
    uint32_t index;
} wa_export_t;

typedef struct wa_global_desc {
    wa_valtype_t type;
    bool mutable_;
    wa_constexpr_t init;
} wa_global_desc_t;

typedef struct wa_table_desc {
    wa_valtype_t elem;
    wa_limits_desc_t limits;
} wa_table_desc_t;

enum { WA_SEG_ACTIVE, WA_SEG_PASSIVE, WA_SEG_DECLARATIVE };

typedef struct wa_elem {
    uint8_t mode;
    wa_valtype_t type;
    uint32_t table;
    wa_constexpr_t offset;
    uint32_t count;
    wa_constexpr_t *items; /* owned */
} wa_elem_t;

typedef struct wa_data {
    uint8_t mode;
    wa_constexpr_t offset;
    const uint8_t *bytes; /* borrowed from the module's copy of the binary */
    uint32_t len;
} wa_data_t;

struct wa_module {
    atomic_int refcnt;
    uint8_t *bin; /* owned copy of the binary */
    size_t bin_len;
    wa_valtype_t *valtypes; /* owned pool behind every wa_functype_t */
    wa_type_t *types;       /* owned */
    uint32_t ntypes;
    wa_import_t *imports; /* owned */
    uint32_t nimports;
    uint32_t nfunc_imports, ntable_imports, nmem_imports, nglobal_imports;
    uint32_t nfuncs;           /* imported + defined */
    uint32_t *func_types;      /* owned: type index of every function */
    wa_code_t *codes;          /* owned: one per defined function */
    uint32_t ntables;          /* imported + defined */
    wa_table_desc_t *tables;   /* owned: all tables */
    uint32_t nmems;
    wa_limits_desc_t mem;      /* memory 0, imported or defined */
    uint32_t nglobals;
    wa_global_desc_t *globals; /* owned: all globals (imports have no init) */
    wa_export_t *exports;      /* owned */
    uint32_t nexports;
    uint32_t start;            /* WA_NO_INDEX when none */
    wa_elem_t *elems;          /* owned */
    uint32_t nelems;
    wa_data_t *datas;          /* owned */
    uint32_t ndatas;
    bool has_datacount;
    uint32_t needs_datacount_at; /* offset of a data index used without a data count section */
    uint8_t *declared_funcs;   /* owned: 1 where ref.func may name the function */
    size_t code_bytes, data_bytes, compiled_bytes;
    /* the native tier's code (wa_native.c): one shared memory object mapped twice, written
     * through native_rw and run from native_code, both owned; functions are appended to it as
     * they are translated, by any thread */
    uint8_t *native_code, *native_rw;
    size_t native_bytes;          /* of each mapping */
    pid_t native_pid;             /* the process that made it (a forked child adds no code) */
    atomic_size_t native_used;    /* bytes of it handed out */
    atomic_uint native_funcs;     /* functions with native code */
    _Atomic size_t native_code_bytes; /* of their code */
};

struct wa_func {
    const wa_functype_t *type; /* borrowed from the owning module, or owned by the linker */
    uint64_t type_hash;
    wa_instance_t *inst;     /* owning instance for Wasm functions, NULL for host functions */
    const wa_code_t *code;   /* borrowed from inst->module; NULL for host functions */
    wa_host_fn_t host;
    void *user;               /* borrowed */
    uint32_t index;           /* function index in its instance */
};

struct wa_memory {
    int refcnt;
    uint8_t *base;         /* owned mmap reservation of reserved_bytes */
    uint64_t size_bytes;   /* committed, accessible size */
    uint64_t reserved_bytes;
    uint32_t pages, max_pages;
    bool has_max;
};

struct wa_table {
    int refcnt;
    wa_valtype_t elem;
    uint32_t size, max;
    bool has_max;
    wa_value_t *elems; /* owned */
    /* instances whose instantiation failed after writing their functions here: owned
     * references, so that those entries stay callable (spec 2.0 keeps partial writes) */
    wa_instance_t **keep;
    uint32_t nkeep;
};

struct wa_global {
    int refcnt;
    wa_valtype_t type;
    bool mutable_;
    wa_value_t val;
};

/* One Wasm activation record on the frame stack. A return goes to ret_pc without a test:
 * the outermost frame's ret_pc is a stub that leaves the interpreter (EXIT), and that of a
 * call into another instance a stub (RESUME) that reloads the caller's instance state and
 * continues at cross_pc. */
typedef struct wa_frame {
    const wa_word_t *ret_pc;   /* where the caller resumes */
    wa_value_t *fp;            /* caller's locals */
    wa_func_t *func;           /* the function running in this frame (the callee) */
    const wa_word_t *cross_pc; /* set only with ret_pc = the RESUME stub */
    const void *ret_native;    /* native code the caller resumes in instead, or NULL */
} wa_frame_t;

/* The state of the calls running on this thread; nested (re-entrant) calls continue on it. */
typedef struct wa_exec {
    wa_value_t *stack, *stack_end; /* borrowed from the outermost instance */
    wa_value_t *sp;                /* first free slot while a host function runs */
    wa_frame_t *frames;            /* borrowed from the outermost instance */
    uint32_t depth, max_depth;     /* frames in use */
    uint32_t host_nesting;
    uint64_t fuel_left;            /* not yet handed to the tick counter */
    bool fuel_on;
    uint64_t deadline_ns;          /* absolute; 0 = none yet */
    uint64_t budget_ns;            /* becomes deadline_ns at the first clock check */
    int64_t tick;                  /* units left before the next slow check */
    /* trap details */
    wa_trap_kind_t trap_kind;
    wa_func_t *trap_func;
    const wa_word_t *trap_pc;
    char host_msg[256];
    int32_t exit_code;
} wa_exec_t;

struct wa_instance {
    int refcnt;
    wa_module_t *module;        /* one reference */
    wa_func_t **funcs;          /* owned array; entries borrowed (own ones point into func_objs) */
    wa_func_t *func_objs;       /* owned: defined functions then copies of host imports */
    wa_table_t **tables;        /* owned array, one reference each (none where table_weak) */
    uint8_t *table_weak;        /* owned: 1 where a table keeps this instance alive instead */
    wa_memory_t *mem;           /* one reference, or NULL */
    wa_global_t **globals;      /* owned array, one reference each */
    wa_instance_t **deps;       /* owned array: one reference on each instance imported from */
    uint32_t ndeps;
    uint8_t *elem_dropped;      /* owned */
    uint8_t *data_dropped;      /* owned */
    wa_instance_limits_t lim;
    void *user;                 /* borrowed */
    wa_value_t *stack;          /* owned mmap, stack_bytes, made at first call */
    wa_frame_t *frames;         /* owned mmap, max_call_depth + 1 frames */
    size_t frames_bytes;
    wa_exec_t exec;             /* for calls made into this instance from outside any call;
                                   its stacks are the two above */
};

/* What native code (wa_native.c) reads and writes of the interpreter's state: the layout is
 * fixed by the machine code. */
typedef struct wa_native_ctx {
    uint8_t *mem;
    uint64_t mem_size;
    int64_t tick;
    const void *resume;     /* out: native code after the call op it left at, or NULL */
    wa_global_t **globals;
    wa_exec_t *ex;
    wa_func_t **funcs;         /* the instance's */
    wa_frame_t *frame;         /* in and out: the next free frame record */
    wa_frame_t *frames_end;
    wa_value_t *stack_end;
    wa_value_t *fp;            /* out: the frame native code left in */
    wa_instance_t *inst;
    wa_trap_kind_t trap;       /* out: a host function's trap, at the pc returned */
} wa_native_ctx_t;

/* A call of import x from native code, with its operands below sp: 0 when it returned (its
 * results in place, ctx's memory and tick up to date), 1 when it trapped (ctx->trap), 2 when
 * the import is no host function (the interpreter makes that call). */
int wa__native_host_call(wa_native_ctx_t *ctx, wa_value_t *sp, uint32_t x);
/* The callee of a call_indirect from native code (table index in sp[-1]) when it is a
 * function of the same instance with native code and the call would not trap; else NULL,
 * and the interpreter makes the call (or traps). */
wa_func_t *wa__native_indirect(wa_native_ctx_t *ctx, const wa_value_t *sp, uint32_t type,
                               uint32_t table);

/* Readies m for the native tier, whose functions are translated on their first call (none
 * are where there is no native tier, or with SLUICE_WASM_NATIVE=0 in the environment). */
void wa__native_compile(wa_module_t *m);
void wa__native_free(wa_module_t *m);
/* cd's native code, translating it now if no thread has tried yet; NULL while another thread
 * translates it, or when it has none (then the interpreter runs it). */
const void *wa__native_translate(wa_module_t *m, const wa_code_t *cd);
/* Translates every function of m not yet tried. */
void wa__native_translate_all(wa_module_t *m);
/* The memory a module's code goes in, mapped twice: written through *rw, run from *rx (each
 * size bytes; *dup in: try shared anonymous memory first, else a memfd only; out: whether
 * the first way was taken). */
bool wa__native_map_twice(size_t size, bool *dup, uint8_t **rw, uint8_t **rx);

static inline const void *wa__native_of(const wa_code_t *cd)
{
    return atomic_load_explicit(&cd->native, memory_order_acquire);
}
/* The native code cd runs from, translating it on this first call. */
static inline const void *wa__native_entry(wa_module_t *m, const wa_code_t *cd)
{
    const void *p = wa__native_of(cd);
    if (__builtin_expect(!p && atomic_load_explicit(&cd->native_state, memory_order_relaxed) ==
                                   WA_NATIVE_UNTRIED, 0))
        p = wa__native_translate(m, cd);
    return p;
}
/* Runs native code from target on the frame at fp; returns the word pc of the op where the
 * interpreter goes on. */
const wa_word_t *wa__native_run(wa_native_ctx_t *ctx, wa_value_t *fp, const void *target);

/* Branch hints for the hot paths (the interpreter loop, wa_call). */
#define LIKELY(c) __builtin_expect(!!(c), 1)
#define UNLIKELY(c) __builtin_expect(!!(c), 0)

/* memcpy that accepts (NULL, 0): empty type lists and tables have no storage. */
static inline void wa__copy(void *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
}

/* Interpreter entry: runs f, a function with Wasm code (never a host function), whose args
 * sit at args[0..nparams) on ex's stack; results land at args[0..nresults). Returns
 * WA_TRAP_NONE or the trap kind (details in ex). */
wa_trap_kind_t wa__run(wa_exec_t *ex, wa_func_t *f, wa_value_t *args);
/* Byte offset in the module of the instruction in f before pc. */
uint32_t wa__code_offset(const wa_code_t *c, const wa_word_t *pc);
uint64_t wa__type_hash(const wa_functype_t *t);
bool wa__type_eq(const wa_functype_t *a, const wa_functype_t *b);
int64_t wa__memory_grow(wa_memory_t *m, uint32_t delta, uint32_t cap);
int64_t wa__table_grow(wa_table_t *t, uint32_t delta, wa_value_t init, uint32_t cap);
wa_value_t wa__eval_const(wa_instance_t *inst, const wa_constexpr_t *e);
wa_status_t wa__memory_make(wa_limits_desc_t limits, uint32_t cap, wa_memory_t **out);
wa_status_t wa__table_make(wa_valtype_t elem, wa_limits_desc_t limits, uint32_t cap,
                           wa_table_t **out);
void wa__instance_release_kept(wa_instance_t **keep, uint32_t n);
bool wa__deadline_check(wa_exec_t *ex); /* slow path of the tick counter; false = trap set */
bool wa__tick_refill(wa_exec_t *ex);    /* the next chunk, no clock read; false = no fuel */
/* Units of work between clock checks under a time limit: 4096, or SLUICE_WASM_TICK_CHUNK from
 * the environment (read once per process; tests make it small so that the slow path of the
 * tick runs at every kind of op that ticks). */
extern int64_t wa__timed_chunk;
/* Units of work between clock checks: a chunk when a deadline or budget is set, else so many
 * that a check (which then only refills) comes rarely. */
static inline int64_t wa__tick_chunk(const wa_exec_t *ex)
{
    return ex->deadline_ns || ex->budget_ns ? wa__timed_chunk : (int64_t)1 << 40;
}

#endif
