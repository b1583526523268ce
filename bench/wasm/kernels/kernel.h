/* What every benchmark kernel shares: the entry points a kernel exposes and the definition
 * macro that makes one C file a Wasm module with no imports or one entry in a native table. */
#ifndef BENCH_WASM_KERNEL_H
#define BENCH_WASM_KERNEL_H

#include <stddef.h>
#include <stdint.h>

/* A kernel is `static uint32_t kernel(uint32_t n)`: n repetitions of a fixed unit of work,
 * so time is linear in n, returning a checksum of everything it computed. BK_DEFINE names
 * the iteration count for the fast engines (N_MAIN) and for wabt's interpreter (N_SMALL).
 *
 * As Wasm (clang --target=wasm32 -nostdlib) the module exports:
 *   run(n) -> checksum          what the timed drivers call;
 *   run_small() -> checksum     run(N_SMALL), nullary so `wasm-interp --run-all-exports`
 *                               (which can pass no arguments) runs exactly that;
 *   n_main(), n_small()         the two counts, so every driver reads them from the module.
 * Natively (BK_NAME given) it defines one bk_kernel_t named bk_kernel_<BK_NAME>. */
typedef struct bk_kernel {
    const char *name;
    uint32_t (*run)(uint32_t n);
    uint32_t n_main, n_small;
} bk_kernel_t;

#define BK_CAT2_(a, b) a##b
#define BK_CAT_(a, b) BK_CAT2_(a, b)
#define BK_STR2_(a) #a
#define BK_STR_(a) BK_STR2_(a)

#ifdef __wasm__
#define BK_EXPORT_(name) __attribute__((export_name(#name)))
#define BK_DEFINE(N_MAIN, N_SMALL)                                                          \
    BK_EXPORT_(run) uint32_t run(uint32_t n) { return kernel(n); }                         \
    BK_EXPORT_(run_small) uint32_t run_small(void) { return kernel(N_SMALL); }              \
    BK_EXPORT_(n_main) uint32_t n_main(void) { return N_MAIN; }                             \
    BK_EXPORT_(n_small) uint32_t n_small(void) { return N_SMALL; }
#else
#define BK_DEFINE(N_MAIN, N_SMALL)                                                          \
    const bk_kernel_t BK_CAT_(bk_kernel_, BK_NAME) = {BK_STR_(BK_NAME), kernel, N_MAIN,     \
                                                      N_SMALL};
#endif

/* A small deterministic generator for input data (same sequence in every build). */
static inline uint32_t bk_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Folds a double's bits into a checksum, so floating-point kernels compare exactly. */
static inline uint32_t bk_fold_f64(double d)
{
    union { double d; uint64_t u; } v = {d};
    return (uint32_t)v.u ^ (uint32_t)(v.u >> 32);
}

#endif
