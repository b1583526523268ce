/* Benchmark kernel: a small stack-machine bytecode interpreter (a switch in a loop, as
 * scripting engines are written) running a Collatz-steps program over 1..999. */
#include "kernel.h"

enum {
    OP_PUSH,  /* imm: push imm */
    OP_LOAD,  /* imm: push local[imm] */
    OP_STORE, /* imm: local[imm] = pop */
    OP_ADD,
    OP_MUL,
    OP_AND,
    OP_SHR1,
    OP_LT,   /* pops b then a, pushes a < b */
    OP_JZ,   /* imm: pops; jumps to imm if zero */
    OP_JMP,  /* imm: jumps to imm */
    OP_HALT, /* returns the top of the stack */
};

enum { L_K, L_X, L_TOTAL, L_COUNT };
#define LIMIT 1000

/* Labels: the offsets of the instructions marked below (each op is 1 word, imm 1 more). */
#define OUTER 4
#define INNER 15
#define EVEN 41
#define COUNT 46
#define NEXT 55
#define END 64

/* for k in 1..LIMIT-1: x = k; while 1 < x: x = x odd ? 3x+1 : x/2; total += 1 */
static const int32_t program[] = {
    OP_PUSH, 1, OP_STORE, L_K,
    /* OUTER */ OP_LOAD, L_K, OP_PUSH, LIMIT, OP_LT, OP_JZ, END,
    OP_LOAD, L_K, OP_STORE, L_X,
    /* INNER */ OP_PUSH, 1, OP_LOAD, L_X, OP_LT, OP_JZ, NEXT,
    OP_LOAD, L_X, OP_PUSH, 1, OP_AND, OP_JZ, EVEN,
    OP_LOAD, L_X, OP_PUSH, 3, OP_MUL, OP_PUSH, 1, OP_ADD, OP_STORE, L_X, OP_JMP, COUNT,
    /* EVEN */ OP_LOAD, L_X, OP_SHR1, OP_STORE, L_X,
    /* COUNT */ OP_LOAD, L_TOTAL, OP_PUSH, 1, OP_ADD, OP_STORE, L_TOTAL, OP_JMP, INNER,
    /* NEXT */ OP_LOAD, L_K, OP_PUSH, 1, OP_ADD, OP_STORE, L_K, OP_JMP, OUTER,
    /* END */ OP_LOAD, L_TOTAL, OP_HALT,
};

_Static_assert(sizeof program / sizeof program[0] == END + 3, "labels match the program");

static uint32_t exec(const int32_t *code, int32_t total)
{
    int32_t stack[16], local[L_COUNT] = {0};
    int32_t *sp = stack;
    const int32_t *pc = code;
    local[L_TOTAL] = total;
    for (;;) {
        switch (*pc++) {
        case OP_PUSH: *sp++ = *pc++; break;
        case OP_LOAD: *sp++ = local[*pc++]; break;
        case OP_STORE: local[*pc++] = *--sp; break;
        case OP_ADD: sp--; sp[-1] += sp[0]; break;
        case OP_MUL: sp--; sp[-1] *= sp[0]; break;
        case OP_AND: sp--; sp[-1] &= sp[0]; break;
        case OP_SHR1: sp[-1] = (int32_t)((uint32_t)sp[-1] >> 1); break;
        case OP_LT: sp--; sp[-1] = sp[-1] < sp[0]; break;
        case OP_JZ: {
            int32_t target = *pc++;
            if (*--sp == 0)
                pc = code + target;
            break;
        }
        case OP_JMP: pc = code + *pc; break;
        case OP_HALT: return (uint32_t)sp[-1];
        default: return 0xdeadbeef; /* a malformed program shows in the checksum */
        }
    }
}

static uint32_t kernel(uint32_t n)
{
    uint32_t sum = 0;
    for (uint32_t it = 0; it < n; it++)
        sum = sum * 31 + exec(program, (int32_t)it);
    return sum;
}

BK_DEFINE(40, 5)
