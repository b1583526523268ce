/* The unit-test harness: TEST() registers a case, main() in t.c runs each in a forked child
 * under a timeout and prints "ok"/"not ok" lines and one "N passed, N failed" line. */
#ifndef SLUICE_TESTS_T_H
#define SLUICE_TESTS_T_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef void (*t_fn_t)(void);
void t_register(const char *name, t_fn_t fn, const char *file);
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                                           \
    static void name(void);                                                                  \
    __attribute__((constructor)) static void t_reg_##name(void)                              \
    {                                                                                        \
        t_register(#name, name, __FILE__);                                                   \
    }                                                                                        \
    static void name(void)

/* Each check prints both sides and ends the case (the case runs in its own process). */
#define T_ASSERT(c)                                                                          \
    do {                                                                                     \
        if (!(c))                                                                            \
            t_fail(__FILE__, __LINE__, "assertion failed: %s", #c);                          \
    } while (0)
#define T_EQ_INT(a, b)                                                                       \
    do {                                                                                     \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                              \
        if (t_a_ != t_b_)                                                                    \
            t_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, t_a_, t_b_);        \
    } while (0)
#define T_EQ_UINT(a, b)                                                                      \
    do {                                                                                     \
        unsigned long long t_a_ = (unsigned long long)(a), t_b_ = (unsigned long long)(b);   \
        if (t_a_ != t_b_)                                                                    \
            t_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b, t_a_, t_b_);        \
    } while (0)
#define T_EQ_STR(a, b)                                                                       \
    do {                                                                                     \
        const char *t_a_ = (a), *t_b_ = (b);                                                 \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0)                                       \
            t_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                \
                   t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                          \
    } while (0)
#define T_EQ_MEM(a, alen, b, blen)                                                           \
    do {                                                                                     \
        size_t t_al_ = (alen), t_bl_ = (blen);                                               \
        if (t_al_ != t_bl_ || memcmp((a), (b), t_al_) != 0)                                  \
            t_fail(__FILE__, __LINE__, "%s == %s: \"%.*s\" != \"%.*s\"", #a, #b, (int)t_al_, \
                   (const char *)(a), (int)t_bl_, (const char *)(b));                        \
    } while (0)

/* A repeatable pseudo-random sequence (xorshift64) from the state *s, which must not be 0:
 * generated test cases are the same on every run. */
static inline uint64_t t_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif
