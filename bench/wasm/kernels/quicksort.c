/* Benchmark kernel: quicksort (median of three, insertion sort below 16 elements) of 20,000
 * pseudo-random words. Exercises data-dependent branches, i32 compares and recursion. */
#include "kernel.h"

#define COUNT 20000

static uint32_t v[COUNT];

static void insertion(uint32_t *p, int32_t lo, int32_t hi)
{
    for (int32_t i = lo + 1; i <= hi; i++) {
        uint32_t x = p[i];
        int32_t j = i - 1;
        while (j >= lo && p[j] > x) {
            p[j + 1] = p[j];
            j--;
        }
        p[j + 1] = x;
    }
}

static void swap(uint32_t *p, int32_t i, int32_t j)
{
    uint32_t t = p[i];
    p[i] = p[j];
    p[j] = t;
}

static void quicksort(uint32_t *p, int32_t lo, int32_t hi)
{
    while (hi - lo > 16) {
        int32_t mid = lo + (hi - lo) / 2;
        if (p[mid] < p[lo]) swap(p, mid, lo);
        if (p[hi] < p[lo]) swap(p, hi, lo);
        if (p[hi] < p[mid]) swap(p, hi, mid);
        uint32_t pivot = p[mid];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (p[i] < pivot) i++;
            while (p[j] > pivot) j--;
            if (i <= j) swap(p, i++, j--);
        }
        /* Recurse into the smaller half so the depth stays logarithmic. */
        if (j - lo < hi - i) {
            quicksort(p, lo, j);
            lo = i;
        } else {
            quicksort(p, i, hi);
            hi = j;
        }
    }
    insertion(p, lo, hi);
}

static uint32_t kernel(uint32_t n)
{
    uint32_t sum = 0;
    for (uint32_t it = 0; it < n; it++) {
        uint32_t seed = 0x2545f491u + it;
        for (int32_t i = 0; i < COUNT; i++)
            v[i] = bk_rand(&seed) % 1000000u;
        quicksort(v, 0, COUNT - 1);
        uint32_t ordered = 1;
        for (int32_t i = 1; i < COUNT; i++)
            ordered &= v[i - 1] <= v[i];
        sum = sum * 31 + v[it % COUNT] + v[COUNT / 2] + ordered;
    }
    return sum;
}

BK_DEFINE(100, 12)
