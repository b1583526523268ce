/* Native baseline for the engine benchmark: the same kernel C as the Wasm modules, compiled
 * for the host and linked into this driver, timed with the same clock and repetitions. */
#include <stdio.h>
#include <string.h>

#include "bench_timing.h"
#include "kernels/kernel.h"

/* BK_KERNELS is X(name) for each kernel, given by mk/bench.mk from bench/wasm/kernels/. */
#ifndef BK_KERNELS
#error "BK_KERNELS must list the kernels"
#endif
#define X(name) extern const bk_kernel_t bk_kernel_##name;
BK_KERNELS
#undef X
#define X(name) &bk_kernel_##name,
static const bk_kernel_t *const kernels[] = {BK_KERNELS};
#undef X

static int usage(void)
{
    fprintf(stderr, "usage: bench-native list\n"
                    "       bench-native run KERNEL N REPS\n");
    return 2;
}

int main(int argc, char **argv)
{
    size_t count = sizeof kernels / sizeof kernels[0];
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < count; i++)
            printf("%s %u %u\n", kernels[i]->name, kernels[i]->n_main, kernels[i]->n_small);
        return 0;
    }
    if (argc != 5 || strcmp(argv[1], "run") != 0)
        return usage();
    const bk_kernel_t *k = NULL;
    for (size_t i = 0; i < count; i++)
        if (strcmp(kernels[i]->name, argv[2]) == 0)
            k = kernels[i];
    uint32_t n = bt_count(argv[3], UINT32_MAX), reps = bt_count(argv[4], BT_MAX_REPS);
    if (!k || !n || !reps) {
        fprintf(stderr, "bench-native: unknown kernel '%s' or bad N/REPS\n", argv[2]);
        return usage();
    }
    double ms[BT_MAX_REPS], cpu_ms[BT_MAX_REPS];
    uint32_t first = 0;
    for (uint32_t r = 0; r < reps; r++) {
        double t0 = bt_now_ms(), c0 = bt_cpu_ms();
        uint32_t sum = k->run(n);
        ms[r] = bt_now_ms() - t0;
        cpu_ms[r] = bt_cpu_ms() - c0;
        if (r == 0)
            first = sum;
        else if (sum != first) {
            fprintf(stderr, "bench-native: %s gave %u then %u for the same n\n", k->name, first,
                    sum);
            return 1;
        }
    }
    bt_report(first, ms, cpu_ms, (int)reps);
    return 0;
}
