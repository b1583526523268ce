/* The strict HTTP/1.1 parser (RFC 9112): finds a head's end with memchr, then parses it in one
 * pass with table-driven loops; bodies (length, chunked, until-close) go through a state machine.
 */
#include "proxy/sl_h1_parse.h"

#include <string.h>

enum {
    ST_IDLE,          /* before a message (requests skip empty lines here, RFC 9112 2.2) */
    ST_HEAD,          /* scanning the head for its empty line */
    ST_COMPLETE,      /* the message ended: report MESSAGE_COMPLETE on the next call */
    ST_LENGTH,        /* Content-Length body */
    ST_CHUNK_SIZE,    /* hex digits of a chunk size */
    ST_CHUNK_EXT,     /* after the size, up to CR */
    ST_CHUNK_SIZE_LF, /* the LF of the size line */
    ST_CHUNK_DATA,    /* chunk data */
    ST_CHUNK_DATA_CR, /* the CRLF after chunk data */
    ST_CHUNK_DATA_LF,
    ST_TRAILERS,    /* scanning the trailer section for its empty line */
    ST_UNTIL_CLOSE, /* response body delimited by the connection's close */
    ST_TUNNEL,      /* opaque bytes after a protocol switch */
    ST_ERROR,       /* sticky */
    ST_CLOSED,      /* sl_h1_parser_finish was called */
};

#define DEFAULT_HEAD_BYTES (60u * 1024u)
#define DEFAULT_CHUNK_EXT_BYTES 256u
/* The largest Content-Length / chunk size accepted: 2^60 - 1 keeps every sum far from
 * overflow and is larger than any real body. */
#define MAX_BODY_DIGITS_VALUE ((1ull << 60) - 1)

/* Byte classes (RFC 9110 5.6.2 tchar; 5.5 field-vchar / SP / HTAB / obs-text; request-target
 * bytes: visible ASCII). */
#define C_TCHAR 1
#define C_VALUE 2
#define C_TARGET 4
static const unsigned char cls[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 0x20 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0x30 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 0x50 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80: obs-text */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* Hex digit values; 255 for every other byte. */
static const unsigned char hexval[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0,   1,   2,   3,   4,   5,   6,   7,   8,
    9,   255, 255, 255, 255, 255, 255, 255, 10,  11,  12,  13,  14,  15,  255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 10,  11,  12,  13,  14,  15,  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255,
};

static inline unsigned char lower(unsigned char c)
{
    return (unsigned char)((unsigned)(c - 'A') < 26u ? c + ('a' - 'A') : c);
}

static inline bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Word-at-a-time checks (8 bytes per step) for the long runs in values and targets: a word
 * passes when none of its bytes could end the run. A flagged word goes to the byte loop, which
 * decides exactly, so the checks only need to never pass a bad byte. */
#define W_ONES 0x0101010101010101ull
#define W_HIGH 0x8080808080808080ull

static inline uint64_t load64(const char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/* Some byte is below n (n <= 0x80); bytes >= 0x80 are never flagged themselves. */
static inline uint64_t w_below(uint64_t x, unsigned n)
{
    return (x - W_ONES * n) & ~x & W_HIGH;
}

/* field-vchar / SP / obs-text: no byte below 0x20 (that includes HTAB, CR and LF) or 0x7F. */
static inline bool w_value(uint64_t x)
{
    return (w_below(x, 0x20) | w_below(x ^ (W_ONES * 0x7f), 1)) == 0;
}

/* request-target bytes: 0x21..0x7E only. */
static inline bool w_target(uint64_t x)
{
    return (w_below(x, 0x21) | (x & W_HIGH) | w_below(x ^ (W_ONES * 0x7f), 1)) == 0;
}

/* What the special fields of a head say; collected while the fields are parsed. */
typedef struct head_info {
    uint32_t hosts;
    bool has_cl, has_te, te_last_chunked, te_other;
    uint32_t te_chunked;
    uint64_t cl;
    bool conn_close, conn_keep_alive, conn_upgrade;
    bool has_upgrade, expect_continue;
} head_info_t;

/* ---- errors ------------------------------------------------------------------------------ */

static const struct {
    int status;
    const char *msg;
} errors[] = {
#define SL_H1_X_(name, status, msg) {status, msg},
    SL_H1_ERROR_LIST(SL_H1_X_)
#undef SL_H1_X_
};

const char *sl_h1_error_str(sl_h1_error_t e)
{
    if ((unsigned)e >= sizeof(errors) / sizeof(errors[0]))
        return "unknown error";
    return errors[e].msg;
}

int sl_h1_error_status(sl_h1_error_t e)
{
    if ((unsigned)e >= sizeof(errors) / sizeof(errors[0]))
        return 400;
    return errors[e].status;
}

/* Makes the error sticky and reports it; `at` is an offset into the current buffer. */
static size_t fail(sl_h1_parser_t *p, sl_h1_event_t *ev, sl_h1_error_t e, size_t at)
{
    p->state = ST_ERROR;
    p->error = e;
    p->error_offset = p->msg_off + at;
    ev->type = SL_H1_EV_ERROR;
    ev->error = e;
    ev->error_offset = p->error_offset;
    return 0;
}

/* ---- helpers (public) ------------------------------------------------------------------- */

bool sl_h1_parse_name_eq(const char *name, size_t len, const char *lc, size_t lc_len)
{
    if (len != lc_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower((unsigned char)name[i]) != (unsigned char)lc[i])
            return false;
    return true;
}

bool sl_h1_parse_list_next(const char **pos, const char *end, sl_h1_slice_t *tok)
{
    const char *s = *pos;
    for (;;) {
        while (s < end && (is_ows(*s) || *s == ','))
            s++;
        if (s >= end) {
            *pos = end;
            return false;
        }
        const char *e = s;
        while (e < end && *e != ',')
            e++;
        const char *t = e;
        while (t > s && is_ows(t[-1]))
            t--;
        *pos = e;
        tok->p = s;
        tok->len = (size_t)(t - s);
        return true;
    }
}

bool sl_h1_parse_list_has(const char *value, size_t len, const char *lc, size_t lc_len)
{
    const char *pos = value, *end = value + len;
    sl_h1_slice_t t;
    while (sl_h1_parse_list_next(&pos, end, &t))
        if (sl_h1_parse_name_eq(t.p, t.len, lc, lc_len))
            return true;
    return false;
}

bool sl_h1_parse_is_hop_by_hop(const char *name, size_t len)
{
    switch (len) {
    case 2:
        return SL_H1_NAME_EQ(name, len, "te");
    case 7:
        return SL_H1_NAME_EQ(name, len, "trailer") || SL_H1_NAME_EQ(name, len, "upgrade");
    case 10:
        return SL_H1_NAME_EQ(name, len, "connection") || SL_H1_NAME_EQ(name, len, "keep-alive");
    case 16:
        return SL_H1_NAME_EQ(name, len, "proxy-connection");
    case 17:
        return SL_H1_NAME_EQ(name, len, "transfer-encoding");
    default:
        return false;
    }
}

/* ---- start lines ------------------------------------------------------------------------- */

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3). A 1.x minor above 1 is treated as 1.1 (RFC 9110
 * 2.5); another major version is answered 505. */
static sl_h1_error_t parse_version(const char *s, int *version)
{
    if (memcmp(s, "HTTP/", 5) != 0 || hexval[(unsigned char)s[5]] > 9 || s[6] != '.' ||
        hexval[(unsigned char)s[7]] > 9)
        return SL_H1_E_VERSION;
    if (s[5] != '1')
        return SL_H1_E_VERSION_UNSUPPORTED;
    *version = s[7] == '0' ? 10 : 11;
    return SL_H1_OK;
}

/* request-target forms (RFC 9112 3.2): origin, absolute (scheme "://"), authority (CONNECT
 * only), asterisk (OPTIONS only). */
static bool target_ok(const char *t, size_t n, bool connect, bool options)
{
    if (connect)
        return t[0] != '/' && memchr(t, ':', n) != NULL && memchr(t, '/', n) == NULL;
    if (t[0] == '/')
        return true;
    if (n == 1 && t[0] == '*')
        return options;
    size_t i = 0;
    if ((unsigned)(lower((unsigned char)t[0]) - 'a') >= 26u)
        return false;
    while (i < n && ((unsigned)(lower((unsigned char)t[i]) - 'a') < 26u ||
                     hexval[(unsigned char)t[i]] <= 9 || t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    return i + 3 <= n && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/';
}

/* request-line = method SP request-target SP HTTP-version CRLF, single spaces. The line is
 * known to end in LF within buf[0..len); *end gets the offset after it. */
static sl_h1_error_t parse_request_line(const char *buf, size_t len, sl_h1_event_t *ev, size_t *end,
                                        size_t *at)
{
    size_t i = 0;
    while (cls[(unsigned char)buf[i]] & C_TCHAR)
        i++;
    if (i == 0 || buf[i] != ' ')
        return *at = i, SL_H1_E_METHOD;
    ev->method.p = buf;
    ev->method.len = i;
    size_t ts = ++i;
    while (i + 8 <= len && w_target(load64(buf + i)))
        i += 8;
    while (cls[(unsigned char)buf[i]] & C_TARGET)
        i++;
    if (i == ts)
        return *at = i, SL_H1_E_TARGET;
    if (buf[i] != ' ')
        return *at = i, buf[i] == '\r' ? SL_H1_E_VERSION : SL_H1_E_TARGET;
    ev->target.p = buf + ts;
    ev->target.len = i - ts;
    ev->is_head = ev->method.len == 4 && memcmp(buf, "HEAD", 4) == 0;
    ev->is_connect = ev->method.len == 7 && memcmp(buf, "CONNECT", 7) == 0;
    bool options = ev->method.len == 7 && memcmp(buf, "OPTIONS", 7) == 0;
    if (!target_ok(ev->target.p, ev->target.len, ev->is_connect, options))
        return *at = ts, SL_H1_E_TARGET;
    i++;
    /* the version: 8 bytes, then CRLF; a shorter rest reaches the CR first */
    for (size_t k = 0; k < 8; k++)
        if (buf[i + k] == '\r' || buf[i + k] == '\n')
            return *at = i, SL_H1_E_VERSION;
    sl_h1_error_t e = parse_version(buf + i, &ev->version);
    if (e != SL_H1_OK)
        return *at = i, e;
    i += 8;
    if (buf[i] != '\r')
        return *at = i, SL_H1_E_VERSION;
    if (buf[i + 1] != '\n')
        return *at = i, SL_H1_E_BARE_CR;
    *end = i + 2;
    return SL_H1_OK;
}

/* status-line = HTTP-version SP status-code SP [reason-phrase] CRLF; a missing SP before an
 * empty reason is accepted (RFC 9112 4 asks clients to be tolerant there). */
static sl_h1_error_t parse_status_line(const char *buf, sl_h1_event_t *ev, size_t *end, size_t *at)
{
    for (size_t k = 0; k < 12; k++)
        if (buf[k] == '\r' || buf[k] == '\n')
            return *at = k, SL_H1_E_STATUS;
    sl_h1_error_t e = parse_version(buf, &ev->version);
    if (e != SL_H1_OK)
        return *at = 0, e;
    if (buf[8] != ' ' || hexval[(unsigned char)buf[9]] > 9 || hexval[(unsigned char)buf[10]] > 9 ||
        hexval[(unsigned char)buf[11]] > 9)
        return *at = 8, SL_H1_E_STATUS;
    ev->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (ev->status < 100 || ev->status > 599)
        return *at = 9, SL_H1_E_STATUS;
    size_t i = 12;
    if (buf[i] == ' ') {
        size_t rs = ++i;
        while (cls[(unsigned char)buf[i]] & C_VALUE)
            i++;
        ev->reason.p = buf + rs;
        ev->reason.len = i - rs;
    }
    if (buf[i] != '\r')
        return *at = i, SL_H1_E_STATUS;
    if (buf[i + 1] != '\n')
        return *at = i, SL_H1_E_BARE_CR;
    *end = i + 2;
    return SL_H1_OK;
}

/* ---- fields ------------------------------------------------------------------------------ */

/* Content-Length = 1*DIGIT; a list of identical values ("5, 5") is folded (RFC 9110 8.6). */
static sl_h1_error_t note_content_length(head_info_t *hi, const char *v, size_t n)
{
    const char *pos = v, *end = v + n;
    sl_h1_slice_t t;
    bool any = false;
    while (sl_h1_parse_list_next(&pos, end, &t)) {
        uint64_t x = 0;
        if (t.len == 0 || t.len > 19)
            return SL_H1_E_CONTENT_LENGTH;
        for (size_t i = 0; i < t.len; i++) {
            unsigned d = (unsigned char)t.p[i] - '0';
            if (d > 9)
                return SL_H1_E_CONTENT_LENGTH;
            x = x * 10 + d;
        }
        if (x > MAX_BODY_DIGITS_VALUE)
            return SL_H1_E_CONTENT_LENGTH;
        if (hi->has_cl && hi->cl != x)
            return SL_H1_E_CONTENT_LENGTH_DIFFERS;
        hi->has_cl = true;
        hi->cl = x;
        any = true;
    }
    /* an empty value or one of only commas has no length at all */
    return any ? SL_H1_OK : SL_H1_E_CONTENT_LENGTH;
}

/* Transfer-Encoding: records whether chunked is last, how often it occurs and whether any
 * other coding occurs, across every field line in order (RFC 9112 6.1). */
static sl_h1_error_t note_transfer_encoding(head_info_t *hi, const char *v, size_t n)
{
    const char *pos = v, *end = v + n;
    sl_h1_slice_t t;
    bool any = false;
    hi->has_te = true;
    while (sl_h1_parse_list_next(&pos, end, &t)) {
        any = true;
        if (SL_H1_NAME_EQ(t.p, t.len, "chunked")) {
            hi->te_chunked++;
            hi->te_last_chunked = true;
        } else {
            hi->te_other = true;
            hi->te_last_chunked = false;
        }
    }
    return any ? SL_H1_OK : SL_H1_E_TE_NOT_CHUNKED;
}

static void note_connection(head_info_t *hi, const char *v, size_t n)
{
    const char *pos = v, *end = v + n;
    sl_h1_slice_t t;
    while (sl_h1_parse_list_next(&pos, end, &t)) {
        if (SL_H1_NAME_EQ(t.p, t.len, "close"))
            hi->conn_close = true;
        else if (SL_H1_NAME_EQ(t.p, t.len, "keep-alive"))
            hi->conn_keep_alive = true;
        else if (SL_H1_NAME_EQ(t.p, t.len, "upgrade"))
            hi->conn_upgrade = true;
    }
}

/* Dispatches the fields whose meaning the parser needs, by length first. */
static sl_h1_error_t note_field(head_info_t *hi, const char *name, size_t nl, const char *v,
                                size_t vl)
{
    switch (nl) {
    case 4:
        if (SL_H1_NAME_EQ(name, nl, "host"))
            hi->hosts++;
        break;
    case 6:
        if (SL_H1_NAME_EQ(name, nl, "expect") && SL_H1_NAME_EQ(v, vl, "100-continue"))
            hi->expect_continue = true;
        break;
    case 7:
        if (SL_H1_NAME_EQ(name, nl, "upgrade"))
            hi->has_upgrade = true;
        break;
    case 10:
        if (SL_H1_NAME_EQ(name, nl, "connection"))
            note_connection(hi, v, vl);
        break;
    case 14:
        if (SL_H1_NAME_EQ(name, nl, "content-length"))
            return note_content_length(hi, v, vl);
        break;
    case 17:
        if (SL_H1_NAME_EQ(name, nl, "transfer-encoding"))
            return note_transfer_encoding(hi, v, vl);
        break;
    default:
        break;
    }
    return SL_H1_OK;
}

/* field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112 5), from buf[i] up to and
 * including the section's empty line. Every line is known to end in CRLF; the loops stop at
 * the CR because CR is in no class. hi is NULL for trailers. */
static sl_h1_error_t parse_fields(sl_h1_parser_t *p, const char *buf, size_t i, size_t end,
                                  head_info_t *hi, uint32_t *count, size_t *at)
{
    uint32_t n = 0;
    uint32_t max = p->lim.max_headers;
    for (;;) {
        if (buf[i] == '\r') {
            if (buf[i + 1] != '\n')
                return *at = i, SL_H1_E_BARE_CR;
            break;
        }
        if (is_ows(buf[i]))
            return *at = i, SL_H1_E_OBS_FOLD;
        size_t ns = i;
        while (cls[(unsigned char)buf[i]] & C_TCHAR)
            i++;
        if (buf[i] != ':') {
            *at = i;
            if (is_ows(buf[i]))
                return SL_H1_E_HEADER_SPACE;
            if (buf[i] == '\r' && i > ns)
                return SL_H1_E_HEADER_NO_COLON;
            return SL_H1_E_HEADER_NAME;
        }
        if (i == ns)
            return *at = i, SL_H1_E_HEADER_NAME;
        size_t nl = i - ns;
        i++;
        while (is_ows(buf[i]))
            i++;
        size_t vs = i;
        while (i + 8 <= end && w_value(load64(buf + i)))
            i += 8;
        while (cls[(unsigned char)buf[i]] & C_VALUE)
            i++;
        if (buf[i] != '\r')
            return *at = i, SL_H1_E_HEADER_VALUE;
        if (buf[i + 1] != '\n')
            return *at = i, SL_H1_E_BARE_CR;
        size_t ve = i;
        while (ve > vs && is_ows(buf[ve - 1]))
            ve--;
        if (n == max)
            return *at = ns, SL_H1_E_TOO_MANY_HEADERS;
        sl_h1_header_t *h = &p->hdrs[n++];
        h->name = buf + ns;
        h->name_len = (uint32_t)nl;
        h->value = buf + vs;
        h->value_len = (uint32_t)(ve - vs);
        if (hi) {
            sl_h1_error_t e = note_field(hi, h->name, nl, h->value, h->value_len);
            if (e != SL_H1_OK)
                return *at = vs, e;
        }
        i += 2;
    }
    *count = n;
    return SL_H1_OK;
}

/* ---- framing ----------------------------------------------------------------------------- */

/* Body framing from the fields (RFC 9112 6.1, 6.3), rejecting every ambiguity a request
 * smuggler could use: CL with TE, TE in HTTP/1.0, chunked not last or repeated. */
static sl_h1_error_t decide_framing(const sl_h1_parser_t *p, const head_info_t *hi,
                                    sl_h1_event_t *ev)
{
    bool resp = p->kind == SL_H1_RESPONSE;
    ev->content_length = -1;
    if (resp) {
        int st = ev->status;
        if (st == 101 || (p->req_connect && st >= 200 && st < 300)) {
            ev->framing = SL_H1_BODY_TUNNEL;
            return SL_H1_OK;
        }
        if (st < 200 || st == 204 || st == 304 || p->req_head) {
            ev->framing = SL_H1_BODY_NONE;
            return SL_H1_OK;
        }
    }
    if (hi->has_te) {
        if (hi->has_cl)
            return SL_H1_E_CL_AND_TE;
        if (ev->version == 10)
            return SL_H1_E_TE_HTTP10;
        if (!hi->te_last_chunked || hi->te_chunked > 1)
            return SL_H1_E_TE_NOT_CHUNKED;
        /* Transfer-Encoding is hop-by-hop and re-framed on the other side, so a coding
         * before chunked could not be passed on: 501 (RFC 9112 6.1). */
        if (hi->te_other)
            return SL_H1_E_TE_UNSUPPORTED;
        ev->framing = SL_H1_BODY_CHUNKED;
        return SL_H1_OK;
    }
    if (hi->has_cl) {
        ev->framing = SL_H1_BODY_LENGTH;
        ev->content_length = (int64_t)hi->cl;
        return SL_H1_OK;
    }
    ev->framing = resp ? SL_H1_BODY_UNTIL_CLOSE : SL_H1_BODY_NONE;
    return SL_H1_OK;
}

static sl_h1_error_t parse_start_line(const sl_h1_parser_t *p, const char *buf, size_t len,
                                      sl_h1_event_t *ev, size_t *end, size_t *at)
{
    memset(ev, 0, sizeof(*ev));
    return p->kind == SL_H1_REQUEST ? parse_request_line(buf, len, ev, end, at)
                                    : parse_status_line(buf, ev, end, at);
}

/* Parses a complete head of `end` bytes (through its empty line) and reports it. `i` is the
 * end of the start line when ev already holds it (parsed in this call), else 0. */
static size_t parse_head(sl_h1_parser_t *p, const char *buf, size_t end, size_t i,
                         sl_h1_event_t *ev)
{
    head_info_t hi;
    memset(&hi, 0, sizeof(hi));
    size_t at = 0;
    sl_h1_error_t e;
    if (i == 0 && (e = parse_start_line(p, buf, end, ev, &i, &at)) != SL_H1_OK)
        return fail(p, ev, e, at);
    uint32_t n = 0;
    e = parse_fields(p, buf, i, end, &hi, &n, &at);
    if (e != SL_H1_OK)
        return fail(p, ev, e, at);
    /* RFC 9112 3.2: a 1.1 request needs exactly one Host; no request may have two */
    if (p->kind == SL_H1_REQUEST && (hi.hosts > 1 || (hi.hosts == 0 && ev->version == 11)))
        return fail(p, ev, SL_H1_E_HOST, 0);
    e = decide_framing(p, &hi, ev);
    if (e != SL_H1_OK)
        return fail(p, ev, e, 0);
    ev->type = SL_H1_EV_HEADERS;
    ev->headers = p->hdrs;
    ev->n_headers = n;
    ev->keep_alive = ev->version == 11 ? !hi.conn_close : hi.conn_keep_alive && !hi.conn_close;
    if (ev->framing == SL_H1_BODY_UNTIL_CLOSE || ev->framing == SL_H1_BODY_TUNNEL)
        ev->keep_alive = false;
    ev->expect_continue = p->kind == SL_H1_REQUEST && ev->version == 11 && hi.expect_continue;
    ev->upgrade = hi.has_upgrade && hi.conn_upgrade;
    if (p->kind == SL_H1_RESPONSE) {
        ev->is_head = p->req_head;
        ev->is_connect = p->req_connect;
        p->status = ev->status;
    }
    switch (ev->framing) {
    case SL_H1_BODY_NONE:
        p->state = ST_COMPLETE;
        break;
    case SL_H1_BODY_LENGTH:
        p->remaining = hi.cl;
        p->state = hi.cl ? ST_LENGTH : ST_COMPLETE;
        break;
    case SL_H1_BODY_CHUNKED:
        p->state = ST_CHUNK_SIZE;
        p->remaining = 0;
        p->size_digit = false;
        break;
    case SL_H1_BODY_UNTIL_CLOSE:
        p->state = ST_UNTIL_CLOSE;
        break;
    case SL_H1_BODY_TUNNEL:
        p->state = ST_TUNNEL;
        break;
    }
    return end;
}

/* Scans for the empty line that ends a head or trailer section, resuming where the last call
 * stopped. Returns the section length, or 0 when more bytes are needed (or *e is set). */
static size_t scan_section(sl_h1_parser_t *p, const char *buf, size_t len, uint32_t limit,
                           sl_h1_error_t too_large, sl_h1_error_t *e, size_t *at,
                           sl_h1_event_t *start, size_t *start_end)
{
    size_t n = len < limit ? len : limit;
    size_t i = p->scanned, ls = p->line_start;
    *e = SL_H1_OK;
    while (i < n) {
        const char *lf = memchr(buf + i, '\n', n - i);
        if (!lf) {
            i = n;
            break;
        }
        size_t pos = (size_t)(lf - buf);
        if (pos == 0 || buf[pos - 1] != '\r') {
            *e = SL_H1_E_BARE_LF;
            *at = pos;
            return 0;
        }
        if (buf[ls] == '\r' && pos - 1 != ls) {
            *e = SL_H1_E_BARE_CR; /* a line starting with CR that is not the empty line */
            *at = ls;
            return 0;
        }
        /* A head's start line is parsed as soon as it is complete, so that errors come in
         * byte order however the input was split, and garbage is refused early. */
        if (ls == 0 && start) {
            *e = parse_start_line(p, buf, pos + 1, start, start_end, at);
            if (*e != SL_H1_OK)
                return 0;
        }
        if (pos - 1 == ls) {
            p->scanned = 0;
            p->line_start = 0;
            return pos + 1;
        }
        ls = pos + 1;
        i = pos + 1;
    }
    p->scanned = (uint32_t)i;
    p->line_start = (uint32_t)ls;
    if (n == limit) {
        *e = too_large;
        *at = limit;
    }
    return 0;
}

static size_t on_head(sl_h1_parser_t *p, const char *buf, size_t len, sl_h1_event_t *ev)
{
    sl_h1_error_t e;
    size_t at = 0, start_end = 0;
    size_t end = scan_section(p, buf, len, p->lim.max_head_bytes, SL_H1_E_HEAD_TOO_LARGE, &e, &at,
                              ev, &start_end);
    if (e != SL_H1_OK)
        return fail(p, ev, e, at);
    if (end)
        return parse_head(p, buf, end, start_end, ev);
    ev->type = SL_H1_EV_NEED_MORE;
    return 0;
}

static size_t on_trailers(sl_h1_parser_t *p, const char *buf, size_t len, sl_h1_event_t *ev)
{
    sl_h1_error_t e;
    size_t at = 0;
    size_t end = scan_section(p, buf, len, p->lim.max_trailer_bytes, SL_H1_E_TRAILERS_TOO_LARGE, &e,
                              &at, NULL, NULL);
    if (e != SL_H1_OK)
        return fail(p, ev, e, at);
    if (!end) {
        ev->type = SL_H1_EV_NEED_MORE;
        return 0;
    }
    p->state = ST_COMPLETE;
    if (end == 2) {
        /* no trailer fields: the message is complete */
        ev->type = SL_H1_EV_NEED_MORE;
        return end;
    }
    uint32_t n = 0;
    e = parse_fields(p, buf, 0, end, NULL, &n, &at);
    if (e != SL_H1_OK)
        return fail(p, ev, e, at);
    ev->type = SL_H1_EV_TRAILERS;
    ev->headers = p->hdrs;
    ev->n_headers = n;
    return end;
}

/* ---- chunked body (RFC 9112 7.1) ---------------------------------------------------------- */

/* Runs the chunk framing bytes until there is data to report, the buffer ends or the last
 * chunk's line ended. Returns the bytes consumed. */
static size_t on_chunked(sl_h1_parser_t *p, const char *buf, size_t len, sl_h1_event_t *ev)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)buf[i];
        switch (p->state) {
        case ST_CHUNK_SIZE: {
            unsigned h = hexval[c];
            if (h != 255) {
                if (p->remaining > (MAX_BODY_DIGITS_VALUE >> 4))
                    return fail(p, ev, SL_H1_E_CHUNK_SIZE, i);
                p->remaining = (p->remaining << 4) | h;
                p->size_digit = true;
                i++;
                continue;
            }
            if (!p->size_digit)
                return fail(p, ev, SL_H1_E_CHUNK_SIZE, i);
            if (c == '\r') {
                p->state = ST_CHUNK_SIZE_LF;
            } else if (c == ';' || is_ows((char)c)) {
                p->state = ST_CHUNK_EXT;
                p->ext_len = 0;
                p->ext_semi = false;
                continue; /* the extension state counts and checks this byte */
            } else {
                return fail(p, ev, c == '\n' ? SL_H1_E_BARE_LF : SL_H1_E_CHUNK_SIZE, i);
            }
            i++;
            continue;
        }
        case ST_CHUNK_EXT:
            /* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): bounded, no
             * control bytes, and nothing but whitespace before the first ';' */
            if (c == '\r') {
                p->state = ST_CHUNK_SIZE_LF;
                i++;
                continue;
            }
            if (c == '\n')
                return fail(p, ev, SL_H1_E_BARE_LF, i);
            if (++p->ext_len > p->lim.max_chunk_ext_bytes || !(cls[c] & C_VALUE))
                return fail(p, ev, SL_H1_E_CHUNK_EXT, i);
            if (c == ';')
                p->ext_semi = true;
            else if (!p->ext_semi && !is_ows((char)c))
                return fail(p, ev, SL_H1_E_CHUNK_SIZE, i);
            i++;
            continue;
        case ST_CHUNK_SIZE_LF:
            if (c != '\n')
                return fail(p, ev, SL_H1_E_BARE_CR, i);
            i++;
            if (p->remaining == 0) {
                p->state = ST_TRAILERS;
                p->scanned = 0;
                p->line_start = 0;
                ev->type = SL_H1_EV_NEED_MORE;
                return i; /* the trailer section is reported from its own first byte */
            }
            p->state = ST_CHUNK_DATA;
            continue;
        case ST_CHUNK_DATA: {
            size_t n = len - i;
            if (n > p->remaining)
                n = (size_t)p->remaining;
            p->remaining -= n;
            if (p->remaining == 0)
                p->state = ST_CHUNK_DATA_CR;
            ev->type = SL_H1_EV_BODY;
            ev->data.p = buf + i;
            ev->data.len = n;
            return i + n;
        }
        case ST_CHUNK_DATA_CR:
            if (c != '\r')
                return fail(p, ev, SL_H1_E_CHUNK_DATA_CRLF, i);
            p->state = ST_CHUNK_DATA_LF;
            i++;
            continue;
        case ST_CHUNK_DATA_LF:
            if (c != '\n')
                return fail(p, ev, SL_H1_E_CHUNK_DATA_CRLF, i);
            p->state = ST_CHUNK_SIZE;
            p->remaining = 0;
            p->size_digit = false;
            i++;
            continue;
        default:
            return fail(p, ev, SL_H1_E_STATE, i);
        }
    }
    ev->type = SL_H1_EV_NEED_MORE;
    return i;
}

/* ---- public ------------------------------------------------------------------------------ */

void sl_h1_parser_init(sl_h1_parser_t *p, sl_h1_kind_t kind, const sl_h1_parse_limits_t *lim)
{
    memset(p, 0, offsetof(sl_h1_parser_t, hdrs));
    p->kind = kind;
    if (lim)
        p->lim = *lim;
    if (p->lim.max_head_bytes == 0)
        p->lim.max_head_bytes = DEFAULT_HEAD_BYTES;
    if (p->lim.max_headers == 0 || p->lim.max_headers > SL_H1_MAX_HEADERS)
        p->lim.max_headers = SL_H1_MAX_HEADERS;
    if (p->lim.max_chunk_ext_bytes == 0)
        p->lim.max_chunk_ext_bytes = DEFAULT_CHUNK_EXT_BYTES;
    if (p->lim.max_trailer_bytes == 0)
        p->lim.max_trailer_bytes = p->lim.max_head_bytes;
    p->state = ST_IDLE;
}

void sl_h1_parser_set_request_method(sl_h1_parser_t *p, const char *method, size_t len)
{
    p->req_head = len == 4 && memcmp(method, "HEAD", 4) == 0;
    p->req_connect = len == 7 && memcmp(method, "CONNECT", 7) == 0;
}

void sl_h1_parser_tunnel(sl_h1_parser_t *p)
{
    if (p->state != ST_ERROR && p->state != ST_CLOSED)
        p->state = ST_TUNNEL;
}

bool sl_h1_parser_ends_next(const sl_h1_parser_t *p) { return p->state == ST_COMPLETE; }

bool sl_h1_parser_in_message(const sl_h1_parser_t *p)
{
    return p->state != ST_IDLE && p->state != ST_HEAD && p->state != ST_ERROR &&
           p->state != ST_CLOSED;
}

/* The message ended: back to ST_IDLE. A final response uses up the request method. */
static size_t complete(sl_h1_parser_t *p, sl_h1_event_t *ev)
{
    ev->type = SL_H1_EV_MESSAGE_COMPLETE;
    p->state = ST_IDLE;
    p->msg_off = 0;
    if (p->kind == SL_H1_RESPONSE && p->status >= 200) {
        p->req_head = false;
        p->req_connect = false;
    }
    return 0;
}

static size_t parse_one(sl_h1_parser_t *p, const char *buf, size_t len, sl_h1_event_t *ev)
{
    switch (p->state) {
    case ST_IDLE:
        p->state = ST_HEAD;
        p->scanned = 0;
        p->line_start = 0;
        return on_head(p, buf, len, ev);
    case ST_HEAD:
        return on_head(p, buf, len, ev);
    case ST_COMPLETE:
        return complete(p, ev);
    case ST_LENGTH: {
        size_t n = len;
        if (n > p->remaining)
            n = (size_t)p->remaining;
        if (n == 0) {
            ev->type = SL_H1_EV_NEED_MORE;
            return 0;
        }
        p->remaining -= n;
        if (p->remaining == 0)
            p->state = ST_COMPLETE;
        ev->type = SL_H1_EV_BODY;
        ev->data.p = buf;
        ev->data.len = n;
        return n;
    }
    case ST_CHUNK_SIZE:
    case ST_CHUNK_EXT:
    case ST_CHUNK_SIZE_LF:
    case ST_CHUNK_DATA:
    case ST_CHUNK_DATA_CR:
    case ST_CHUNK_DATA_LF: {
        size_t n = on_chunked(p, buf, len, ev);
        /* the last chunk's line was consumed: go straight on to the trailer section */
        if (ev->type == SL_H1_EV_NEED_MORE && p->state == ST_TRAILERS && n < len) {
            p->msg_off += n;
            size_t m = on_trailers(p, buf + n, len - n, ev);
            p->msg_off -= n;
            n += m;
        }
        if (ev->type == SL_H1_EV_NEED_MORE && p->state == ST_COMPLETE)
            return n + complete(p, ev);
        return n;
    }
    case ST_TRAILERS: {
        size_t n = on_trailers(p, buf, len, ev);
        if (ev->type == SL_H1_EV_NEED_MORE && p->state == ST_COMPLETE)
            return n + complete(p, ev);
        return n;
    }
    case ST_UNTIL_CLOSE:
    case ST_TUNNEL:
        if (len == 0) {
            ev->type = SL_H1_EV_NEED_MORE;
            return 0;
        }
        ev->type = SL_H1_EV_BODY;
        ev->data.p = buf;
        ev->data.len = len;
        return len;
    case ST_ERROR:
        ev->type = SL_H1_EV_ERROR;
        ev->error = p->error;
        ev->error_offset = p->error_offset;
        return 0;
    default:
        return fail(p, ev, SL_H1_E_STATE, 0);
    }
}

size_t sl_h1_parse(sl_h1_parser_t *p, const char *buf, size_t len, sl_h1_event_t *ev)
{
    ev->type = SL_H1_EV_NEED_MORE;
    size_t skipped = 0;
    if (p->state == ST_IDLE) {
        /* RFC 9112 2.2: empty lines before a request-line are ignored; they belong to no
         * message, so they do not count in error offsets */
        if (p->kind == SL_H1_REQUEST) {
            while (skipped < len && buf[skipped] == '\r') {
                if (skipped + 1 == len)
                    return skipped;
                if (buf[skipped + 1] != '\n')
                    return skipped + fail(p, ev, SL_H1_E_BARE_CR, 0);
                skipped += 2;
            }
        }
        if (skipped == len)
            return skipped;
        buf += skipped;
        len -= skipped;
    }
    size_t n = parse_one(p, buf, len, ev);
    if (ev->type != SL_H1_EV_MESSAGE_COMPLETE && ev->type != SL_H1_EV_ERROR)
        p->msg_off += n;
    return skipped + n;
}

void sl_h1_parser_finish(sl_h1_parser_t *p, size_t pending, sl_h1_event_t *ev)
{
    ev->type = SL_H1_EV_NEED_MORE;
    switch (p->state) {
    case ST_IDLE:
        if (pending) {
            fail(p, ev, SL_H1_E_TRUNCATED, pending);
            return;
        }
        p->state = ST_CLOSED;
        return;
    case ST_UNTIL_CLOSE:
    case ST_TUNNEL:
    case ST_COMPLETE:
        complete(p, ev);
        p->state = ST_CLOSED;
        return;
    case ST_ERROR:
        ev->type = SL_H1_EV_ERROR;
        ev->error = p->error;
        ev->error_offset = p->error_offset;
        return;
    case ST_CLOSED:
        return;
    default:
        fail(p, ev, SL_H1_E_TRUNCATED, pending);
        return;
    }
}
