/* Benchmark kernel: counts primes in a window of 32-bit numbers with deterministic
 * Miller-Rabin. Exercises i64 multiply and unsigned remainder (modular exponentiation). */
#include "kernel.h"

static uint32_t mulmod(uint32_t a, uint32_t b, uint32_t m)
{
    return (uint32_t)((uint64_t)a * b % m);
}

static uint32_t powmod(uint32_t b, uint32_t e, uint32_t m)
{
    uint32_t r = 1;
    while (e) {
        if (e & 1)
            r = mulmod(r, b, m);
        b = mulmod(b, b, m);
        e >>= 1;
    }
    return r;
}

/* Bases 2, 7 and 61 decide primality for every n < 2^32. */
static int is_prime(uint32_t n)
{
    static const uint32_t bases[3] = {2, 7, 61};
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    uint32_t d = n - 1;
    int s = 0;
    while ((d & 1) == 0) {
        d >>= 1;
        s++;
    }
    for (int i = 0; i < 3; i++) {
        uint32_t a = bases[i] % n;
        if (a == 0)
            continue;
        uint32_t x = powmod(a, d, n);
        if (x == 1 || x == n - 1)
            continue;
        int composite = 1;
        for (int r = 1; r < s; r++) {
            x = mulmod(x, x, n);
            if (x == n - 1) {
                composite = 0;
                break;
            }
        }
        if (composite)
            return 0;
    }
    return 1;
}

static uint32_t kernel(uint32_t n)
{
    uint32_t sum = 0;
    for (uint32_t it = 0; it < n; it++) {
        uint32_t base = 0x7fff0000u + it * 2000u, count = 0, last = 0;
        for (uint32_t k = base; k < base + 2000u; k++)
            if (is_prime(k)) {
                count++;
                last = k;
            }
        sum = sum * 31 + count + last;
    }
    return sum;
}

BK_DEFINE(1200, 100)
