/* Benchmark kernel: dense f64 matrix multiply (96x96), the product fed back as the next
 * left operand. Exercises f64 mul/add and strided loads in a triple loop. */
#include "kernel.h"

#define DIM 96

static double a[DIM][DIM], b[DIM][DIM], c[DIM][DIM];

static uint32_t kernel(uint32_t n)
{
    uint32_t seed = 0x9e3779b9;
    for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM; j++) {
            a[i][j] = (double)(bk_rand(&seed) % 2001) / 1000.0 - 1.0;
            b[i][j] = (double)(bk_rand(&seed) % 2001) / 1000.0 - 1.0;
        }
    uint32_t sum = 0;
    for (uint32_t it = 0; it < n; it++) {
        for (int i = 0; i < DIM; i++) {
            for (int j = 0; j < DIM; j++)
                c[i][j] = 0.0;
            for (int k = 0; k < DIM; k++) {
                double aik = a[i][k];
                for (int j = 0; j < DIM; j++)
                    c[i][j] += aik * b[k][j];
            }
        }
        /* Scale back into [-1, 1] so values stay finite over any number of rounds. */
        double max = 1e-300;
        for (int i = 0; i < DIM; i++)
            for (int j = 0; j < DIM; j++) {
                double v = c[i][j] < 0 ? -c[i][j] : c[i][j];
                if (v > max)
                    max = v;
            }
        for (int i = 0; i < DIM; i++)
            for (int j = 0; j < DIM; j++)
                a[i][j] = c[i][j] / max;
        sum = sum * 31 + bk_fold_f64(max) + bk_fold_f64(c[it % DIM][(it * 7) % DIM]);
    }
    return sum;
}

BK_DEFINE(90, 8)
