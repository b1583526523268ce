/* The byte reader shared by the module loader, the section readers and the function compiler:
 * bounds-checked primitives that record the first error with its offset and return false. */
#ifndef SLUICE_WA_READ_H
#define SLUICE_WA_READ_H

#include "wa_internal.h"

#include <stdlib.h>

#define MAX_LOCALS 50000u   /* per function; real compilers stay far below */
#define MAX_BLOCK_DEPTH 100000u
#define MAX_TYPE_VALUES 1000u /* params or results of a Wasm type (host functions: 64) */

typedef struct rd {
    const uint8_t *p, *end, *base; /* borrowed: the module's copy of the binary */
    wa_error_t *err;               /* borrowed: where the first error goes, or NULL */
} rd_t;

/* The loader's state across sections. */
typedef struct ld {
    rd_t r;
    wa_module_t *m; /* borrowed: the module being built */
    uint32_t nvaltypes, valtypes_cap;
    uint32_t ndefined_funcs; /* from the function section */
    bool saw_func_section;
    bool saw_code;
} ld_t;

/* Records status st at byte `at` with a message, unless an error is already recorded (a
 * malformed one replaces an invalid one: the spec reports decoding errors first); returns
 * false so that callers can `return MALFORMED(...)`. */
bool wa__fail(rd_t *r, wa_status_t st, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define MALFORMED(r, at, ...) wa__fail((r), WA_ERR_MALFORMED, (at), __VA_ARGS__)
#define INVALID(r, at, ...) wa__fail((r), WA_ERR_INVALID, (at), __VA_ARGS__)
#define UNSUPPORTED(r, at, ...) wa__fail((r), WA_ERR_UNSUPPORTED, (at), __VA_ARGS__)

/* LEB128 of at most `bits` bits (spec 5.2.2), sign-extended when `sign`. */
bool wa__rd_leb(rd_t *r, unsigned bits, bool sign, uint64_t *out);
/* A name (spec 5.2.4): UTF-8 checked; *out (owned by the caller) gets a NUL-terminated copy,
 * or nothing when out is NULL. */
bool wa__rd_name(rd_t *r, char **out);
/* Grows *arr (element size sz) so that it holds at least n elements. */
bool wa__grow(void **arr, uint32_t *cap, uint32_t n, size_t sz);
/* Reads one section with id 1..9, 11 or 12 into L->m (the code section is wa__sec_code). */
bool wa__read_section(ld_t *L, uint8_t id);
/* The code section: validates and compiles every function body (wa_compile.c). */
bool wa__sec_code(ld_t *L);

static inline bool nomem(rd_t *r) { return wa__fail(r, WA_ERR_NOMEM, r->p, "out of memory"); }

/* One-byte values (most indexes, counts and small constants) are read inline. */
static inline bool rd_leb(rd_t *r, unsigned bits, bool sign, uint64_t *out)
{
    if (bits > 7 && r->p < r->end && *r->p < 0x80) {
        uint64_t v = *r->p++;
        if (sign && (v & 0x40))
            v |= ~(uint64_t)0x7f;
        *out = v;
        return true;
    }
    return wa__rd_leb(r, bits, sign, out);
}

static inline bool grow(void **arr, uint32_t *cap, uint32_t n, size_t sz)
{
    return n <= *cap || wa__grow(arr, cap, n, sz);
}

static inline bool rd_u8(rd_t *r, uint8_t *out)
{
    *out = 0;
    if (r->p >= r->end)
        return MALFORMED(r, r->p, "unexpected end");
    *out = *r->p++;
    return true;
}

static inline bool rd_u32(rd_t *r, uint32_t *out)
{
    uint64_t v;
    *out = 0;
    if (!rd_leb(r, 32, false, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

static inline bool rd_bytes(rd_t *r, size_t n, const uint8_t **out)
{
    *out = NULL;
    if ((size_t)(r->end - r->p) < n)
        return MALFORMED(r, r->p, "unexpected end");
    *out = r->p;
    r->p += n;
    return true;
}

static inline bool is_num(uint8_t t) { return t == WA_I32 || t == WA_I64 || t == WA_F32 || t == WA_F64; }
static inline bool is_ref(uint8_t t) { return t == WA_FUNCREF || t == WA_EXTERNREF; }

static inline bool rd_valtype(rd_t *r, wa_valtype_t *out)
{
    const uint8_t *at = r->p;
    uint8_t b;
    if (!rd_u8(r, &b))
        return false;
    if (b == 0x7b)
        return UNSUPPORTED(r, at, "SIMD (v128 value type) is not supported");
    if (!is_num(b) && !is_ref(b))
        return MALFORMED(r, at, "malformed value type 0x%02x", b);
    *out = (wa_valtype_t)b;
    return true;
}

static inline bool rd_reftype(rd_t *r, wa_valtype_t *out)
{
    const uint8_t *at = r->p;
    uint8_t b;
    if (!rd_u8(r, &b))
        return false;
    if (!is_ref(b))
        return MALFORMED(r, at, "malformed reference type");
    *out = (wa_valtype_t)b;
    return true;
}

static inline bool check_type_index(rd_t *r, const uint8_t *at, wa_module_t *m, uint32_t t)
{
    if (t >= m->ntypes)
        return INVALID(r, at, "unknown type %u", t);
    return true;
}

#endif
