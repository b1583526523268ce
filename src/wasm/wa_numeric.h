/* Wasm's float and conversion semantics that C does not give directly: fmin/fmax, rounding of
 * NaNs, saturating float-to-int conversions. Used by the interpreter's handlers. */
#ifndef SLUICE_WA_NUMERIC_H
#define SLUICE_WA_NUMERIC_H

#include <math.h>
#include <stdint.h>

/* Wasm's fmin/fmax (spec 4.3.3): NaN when either operand is, and -0 orders below +0. */
#define FMIN_FMAX(T, min, max)                                                                   \
    static inline T min(T a, T b)                                                                \
    {                                                                                            \
        if (a != a || b != b)                                                                    \
            return a + b;                                                                        \
        if (a == 0 && b == 0)                                                                    \
            return signbit(a) ? a : b;                                                           \
        return a < b ? a : b;                                                                    \
    }                                                                                            \
    static inline T max(T a, T b)                                                                \
    {                                                                                            \
        if (a != a || b != b)                                                                    \
            return a + b;                                                                        \
        if (a == 0 && b == 0)                                                                    \
            return signbit(a) ? b : a;                                                           \
        return a > b ? a : b;                                                                    \
    }
FMIN_FMAX(float, f32_min, f32_max)
FMIN_FMAX(double, f64_min, f64_max)
#undef FMIN_FMAX

/* libm's rounding functions may return a signalling NaN unchanged; Wasm wants it quieted. */
#define f32_round(x, fn) ((x) != (x) ? (x) + (x) : fn(x))
#define f64_round(x, fn) ((x) != (x) ? (x) + (x) : fn(x))

/* Saturating conversions (non-trapping float-to-int proposal). */
static inline int32_t sat_i32_s(double f)
{
    if (f != f) return 0;
    if (f <= -2147483648.0) return INT32_MIN;
    if (f >= 2147483647.0) return INT32_MAX;
    return (int32_t)f;
}
static inline uint32_t sat_i32_u(double f)
{
    if (f != f || f <= -1.0) return 0;
    if (f >= 4294967295.0) return UINT32_MAX;
    return (uint32_t)f;
}
static inline int64_t sat_i64_s(double f)
{
    if (f != f) return 0;
    if (f < -9223372036854775808.0) return INT64_MIN;
    if (f >= 9223372036854775808.0) return INT64_MAX;
    return (int64_t)f;
}
static inline uint64_t sat_i64_u(double f)
{
    if (f != f || f <= -1.0) return 0;
    if (f >= 18446744073709551616.0) return UINT64_MAX;
    return (uint64_t)f;
}

#endif
