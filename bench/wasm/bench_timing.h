/* Timing shared by the native and sluice benchmark drivers: wall and CPU clocks and the
 * summary of repeated runs (best and median), printed in the line bench.py parses. */
#ifndef BENCH_WASM_TIMING_H
#define BENCH_WASM_TIMING_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BT_MAX_REPS 64

static inline double bt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this process: unlike wall time it does not count time spent descheduled, so
 * it stays meaningful when other work shares the machine's CPUs. */
static inline double bt_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bt_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts both series in place and prints
 * "result checksum=... best_ms=... median_ms=... best_cpu_ms=... reps=...". */
static inline void bt_report(uint32_t checksum, double *ms, double *cpu_ms, int n)
{
    qsort(ms, (size_t)n, sizeof ms[0], bt_cmp);
    qsort(cpu_ms, (size_t)n, sizeof cpu_ms[0], bt_cmp);
    printf("result checksum=%u best_ms=%.3f median_ms=%.3f best_cpu_ms=%.3f reps=%d\n", checksum,
           ms[0], ms[n / 2], cpu_ms[0], n);
}

/* Parses a decimal count in [1, max]; returns 0 when the text is not one. */
static inline uint32_t bt_count(const char *s, uint32_t max)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > max)
        return 0;
    return (uint32_t)v;
}

#endif
