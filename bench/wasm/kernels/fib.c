/* Benchmark kernel: naive recursive Fibonacci. Measures call/return and the function
 * prologue, with almost no arithmetic around them. */
#include "kernel.h"

/* Read each round through a volatile so no compiler hoists the pure call out of the loop. */
static volatile uint32_t depth = 25;

static uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static uint32_t kernel(uint32_t n)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum = sum * 31 + fib(depth) + i;
    return sum;
}

BK_DEFINE(220, 60)
