/* The reader's out-of-line primitives: error recording, LEB128, names (UTF-8 checked) and
 * array growth. The inline ones are in wa_read.h. */
#include "wa_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool wa__fail(rd_t *r, wa_status_t st, const uint8_t *at, const char *fmt, ...)
{
    if (r->err && (r->err->status == WA_OK ||
                   (r->err->status == WA_ERR_INVALID && st == WA_ERR_MALFORMED))) {
        va_list ap;
        r->err->status = st;
        r->err->offset = (size_t)(at - r->base);
        va_start(ap, fmt);
        vsnprintf(r->err->message, sizeof r->err->message, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* LEB128 (spec 5.2.2): at most ceil(bits/7) bytes; unused bits of the last byte must be
 * zero (unsigned) or copies of the sign bit (signed). */
bool wa__rd_leb(rd_t *r, unsigned bits, bool sign, uint64_t *out)
{
    uint64_t v = 0;
    *out = 0;
    unsigned shift = 0, maxbytes = (bits + 6) / 7;
    for (unsigned i = 0;; i++) {
        if (r->p >= r->end)
            return MALFORMED(r, r->p, "unexpected end");
        uint8_t b = *r->p++;
        if (i == maxbytes - 1) {
            if (b & 0x80)
                return MALFORMED(r, r->p - 1, "integer representation too long");
            unsigned used = bits - shift; /* value bits in this byte */
            uint8_t rest = (uint8_t)(b & 0x7f) >> (used > 7 ? 7 : used);
            if (!sign) {
                if (rest)
                    return MALFORMED(r, r->p - 1, "integer too large");
            } else {
                uint8_t signbit = (b >> (used - 1)) & 1;
                uint8_t want = signbit ? (uint8_t)(0x7f >> used) : 0;
                if (rest != want)
                    return MALFORMED(r, r->p - 1, "integer too large");
            }
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (sign && shift < 64 && (v >> (shift - 1)) & 1)
        v |= ~0ull << shift;
    *out = v;
    return true;
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

bool wa__rd_name(rd_t *r, char **out)
{
    uint32_t n;
    const uint8_t *s, *at = r->p;
    if (!rd_u32(r, &n))
        return false;
    if ((size_t)(r->end - r->p) < n)
        return MALFORMED(r, at, "length out of bounds");
    if (!rd_bytes(r, n, &s))
        return false;
    if (!utf8_ok(s, n))
        return MALFORMED(r, s, "malformed UTF-8 encoding");
    if (out) {
        char *c = malloc((size_t)n + 1);
        if (!c)
            return wa__fail(r, WA_ERR_NOMEM, s, "out of memory");
        memcpy(c, s, n);
        c[n] = 0;
        *out = c;
    }
    return true;
}

bool wa__grow(void **arr, uint32_t *cap, uint32_t n, size_t sz)
{
    if (n <= *cap)
        return true;
    uint32_t nc = *cap ? *cap * 2 : 16;
    while (nc < n)
        nc *= 2;
    void *p = realloc(*arr, (size_t)nc * sz);
    if (!p)
        return false;
    *arr = p;
    *cap = nc;
    return true;
}
