/* A small strict JSON reader: recursive descent over the whole text, nodes and decoded
 * strings bump-allocated from chunks that the document owns and frees together. */
#include "json.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256
#define CHUNK_BYTES (64 * 1024)

typedef struct chunk {
    struct chunk *next; /* owned: the next older chunk */
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk_t;

struct sw_json_doc {
    chunk_t *chunks;  /* owned: every allocation of this document */
    sw_json_t *root;  /* arena */
};

typedef struct parser {
    sw_json_doc_t *doc;
    const char *p, *start, *end;
    char *err;
    size_t errlen;
    bool failed;
} parser_t;

static void *arena_alloc(sw_json_doc_t *doc, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    chunk_t *c = doc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = doc->chunks;
        c->used = 0;
        c->cap = cap;
        doc->chunks = c;
    }
    void *r = c->data + c->used;
    c->used += n;
    return r;
}

static void fail(parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(parser_t *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = true;
    int line = 1, col = 1;
    for (const char *q = ps->start; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    int n = snprintf(ps->err, ps->errlen, "line %d col %d: ", line, col);
    if (n < 0 || (size_t)n >= ps->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static sw_json_t *new_node(parser_t *ps, sw_json_kind_t kind)
{
    sw_json_t *v = arena_alloc(ps->doc, sizeof(*v));
    if (!v) {
        fail(ps, "out of memory");
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    v->kind = kind;
    return v;
}

static int hex4(parser_t *ps, uint32_t *out)
{
    if (ps->end - ps->p < 4) {
        fail(ps, "truncated \\u escape");
        return -1;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else {
            fail(ps, "bad hex digit in \\u escape");
            return -1;
        }
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Decodes the string at ps->p (on the opening quote) into arena memory. */
static const char *parse_string(parser_t *ps, size_t *len_out)
{
    ps->p++; /* opening quote */
    const char *q = ps->p;
    while (q < ps->end && *q != '"') /* the decoded form is never longer than the source */
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    char *out = arena_alloc(ps->doc, (size_t)(q - ps->p) + 1);
    if (!out) {
        fail(ps, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (;;) {
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            return NULL;
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            fail(ps, "control character 0x%02x in string", c);
            return NULL;
        }
        if (c != '\\') {
            size_t k = utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
            if (k == 0) {
                fail(ps, "invalid UTF-8 in string");
                return NULL;
            }
            memcpy(out + n, ps->p, k);
            n += k;
            ps->p += k;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            fail(ps, "unterminated escape");
            return NULL;
        }
        char e = *ps->p++;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (hex4(ps, &cp) != 0)
                return NULL;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                fail(ps, "lone low surrogate \\u%04x", (unsigned)cp);
                return NULL;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                    fail(ps, "high surrogate without low surrogate");
                    return NULL;
                }
                ps->p += 2;
                if (hex4(ps, &lo) != 0)
                    return NULL;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    fail(ps, "high surrogate followed by \\u%04x", (unsigned)lo);
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(out + n, cp); /* a 6-byte escape never yields more than 4 bytes */
            break;
        }
        default:
            fail(ps, "bad escape \\%c", e);
            return NULL;
        }
    }
    out[n] = '\0';
    *len_out = n;
    return out;
}

static sw_json_t *parse_value(parser_t *ps, int depth);

static sw_json_t *parse_number(parser_t *ps)
{
    const char *s = ps->p;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '0') {
        ps->p++;
    } else if (ps->p < ps->end && *ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    } else {
        fail(ps, "bad number");
        return NULL;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            fail(ps, "digit expected after '.'");
            return NULL;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            fail(ps, "digit expected in exponent");
            return NULL;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    sw_json_t *v = new_node(ps, SW_JSON_NUMBER);
    char *t = v ? arena_alloc(ps->doc, (size_t)(ps->p - s) + 1) : NULL;
    if (!t) {
        fail(ps, "out of memory");
        return NULL;
    }
    memcpy(t, s, (size_t)(ps->p - s));
    t[ps->p - s] = '\0';
    v->str = t;
    v->len = (size_t)(ps->p - s);
    return v;
}

/* Items are gathered on a heap list first (their count is unknown), then copied to the arena. */
typedef struct list {
    sw_json_t **vals;  /* owned */
    const char **keys; /* owned array; strings in the arena */
    size_t *key_lens;  /* owned */
    size_t n, cap;
} list_t;

static int list_push(list_t *l, const char *key, size_t key_len, sw_json_t *v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        sw_json_t **nv = realloc(l->vals, cap * sizeof(*nv));
        if (!nv)
            return -1;
        l->vals = nv;
        const char **nk = realloc(l->keys, cap * sizeof(*nk));
        if (!nk)
            return -1;
        l->keys = nk;
        size_t *nl = realloc(l->key_lens, cap * sizeof(*nl));
        if (!nl)
            return -1;
        l->key_lens = nl;
        l->cap = cap;
    }
    l->vals[l->n] = v;
    l->keys[l->n] = key;
    l->key_lens[l->n] = key_len;
    l->n++;
    return 0;
}

static sw_json_t *finish_list(parser_t *ps, list_t *l, sw_json_kind_t kind)
{
    sw_json_t *v = new_node(ps, kind);
    if (!v)
        goto fail;
    v->len = l->n;
    v->items = arena_alloc(ps->doc, (l->n ? l->n : 1) * sizeof(*v->items));
    if (!v->items)
        goto oom;
    if (l->n) /* an empty list has no heap arrays to copy from */
        memcpy(v->items, l->vals, l->n * sizeof(*v->items));
    if (kind == SW_JSON_OBJECT && l->n) {
        v->keys = arena_alloc(ps->doc, (l->n ? l->n : 1) * sizeof(*v->keys));
        v->key_lens = arena_alloc(ps->doc, (l->n ? l->n : 1) * sizeof(*v->key_lens));
        if (!v->keys || !v->key_lens)
            goto oom;
        memcpy(v->keys, l->keys, l->n * sizeof(*v->keys));
        memcpy(v->key_lens, l->key_lens, l->n * sizeof(*v->key_lens));
    }
    free(l->vals);
    free(l->keys);
    free(l->key_lens);
    return v;
oom:
    fail(ps, "out of memory");
fail:
    free(l->vals);
    free(l->keys);
    free(l->key_lens);
    return NULL;
}

static sw_json_t *parse_container(parser_t *ps, int depth, bool object)
{
    list_t l = {0};
    char close = object ? '}' : ']';
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return finish_list(ps, &l, object ? SW_JSON_OBJECT : SW_JSON_ARRAY);
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "object key expected");
                goto fail;
            }
            key = parse_string(ps, &key_len);
            if (!key)
                goto fail;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, "':' expected");
                goto fail;
            }
            ps->p++;
        }
        sw_json_t *v = parse_value(ps, depth + 1);
        if (!v)
            goto fail;
        if (list_push(&l, key, key_len, v) != 0) {
            fail(ps, "out of memory");
            goto fail;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return finish_list(ps, &l, object ? SW_JSON_OBJECT : SW_JSON_ARRAY);
        }
        fail(ps, "',' or '%c' expected", close);
        goto fail;
    }
fail:
    free(l.vals);
    free(l.keys);
    free(l.key_lens);
    return NULL;
}

static bool literal(parser_t *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static sw_json_t *parse_value(parser_t *ps, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(ps, "nesting deeper than %d", MAX_DEPTH);
        return NULL;
    }
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "value expected");
        return NULL;
    }
    switch (*ps->p) {
    case '{': return parse_container(ps, depth, true);
    case '[': return parse_container(ps, depth, false);
    case '"': {
        size_t len;
        const char *s = parse_string(ps, &len);
        if (!s)
            return NULL;
        sw_json_t *v = new_node(ps, SW_JSON_STRING);
        if (v) {
            v->str = s;
            v->len = len;
        }
        return v;
    }
    case 't':
        if (literal(ps, "true"))
            return new_node(ps, SW_JSON_TRUE);
        break;
    case 'f':
        if (literal(ps, "false"))
            return new_node(ps, SW_JSON_FALSE);
        break;
    case 'n':
        if (literal(ps, "null"))
            return new_node(ps, SW_JSON_NULL);
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps);
        break;
    }
    fail(ps, "unexpected character '%c'", *ps->p);
    return NULL;
}

sw_json_doc_t *sw_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    sw_json_doc_t *doc = calloc(1, sizeof(*doc));
    if (!doc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    parser_t ps = {.doc = doc, .p = text, .start = text, .end = text + len,
                   .err = err, .errlen = errlen};
    doc->root = parse_value(&ps, 0);
    if (doc->root) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            fail(&ps, "trailing characters after the document");
    }
    if (ps.failed || !doc->root) {
        sw_json_free(doc);
        return NULL;
    }
    return doc;
}

const sw_json_t *sw_json_root(const sw_json_doc_t *doc)
{
    return doc->root;
}

void sw_json_free(sw_json_doc_t *doc)
{
    if (!doc)
        return;
    chunk_t *c = doc->chunks;
    while (c) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

const sw_json_t *sw_json_get(const sw_json_t *obj, const char *key)
{
    if (!obj || obj->kind != SW_JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->len; i++)
        if (obj->key_lens[i] == kl && memcmp(obj->keys[i], key, kl) == 0)
            return obj->items[i];
    return NULL;
}

const char *sw_json_get_str(const sw_json_t *obj, const char *key, size_t *len)
{
    const sw_json_t *v = sw_json_get(obj, key);
    if (!v || v->kind != SW_JSON_STRING)
        return NULL;
    if (len)
        *len = v->len;
    return v->str;
}
