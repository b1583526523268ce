/* typed_config and google.protobuf.Any: the table of accepted type URLs, both of Envoy's
 * forms (the message's own "@type" and a TypedStruct), and Any values turned into bytes. */
#include "proxy/sl_config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- typed_config and Any ------------------------------------------------------------------ */

static const struct {
    const char *type, *canonical;
} types[] = {{"", ""},
#define SL_X_(id, type, name) {type, name},
             SL_CONFIG_TYPE_LIST(SL_X_)
#undef SL_X_
};

const char *sl_config_type_name(sl_config_type_t t)
{
    return (unsigned)t < SL_TYPE_COUNT_ ? types[t].type : "";
}

const char *sl_config_type_canonical(sl_config_type_t t)
{
    return (unsigned)t < SL_TYPE_COUNT_ ? types[t].canonical : "";
}

sl_config_type_t sl__type_of_url(const char *url)
{
    const char *slash = strrchr(url, '/');
    if (!slash)
        return SL_TYPE_NONE;
    for (int i = 1; i < SL_TYPE_COUNT_; i++)
        if (strcmp(types[i].type, slash + 1) == 0)
            return (sl_config_type_t)i;
    return SL_TYPE_NONE;
}

sl_config_type_t sl__typed_peek(const sl__node_t *n)
{
    const sl__node_t *url = sl__key(n, "@type") ? sl__get(n, "@type") : NULL;
    if (!url || url->kind != SL__N_SCALAR)
        return SL_TYPE_NONE;
    sl_config_type_t t = sl__type_of_url(url->str);
    if (t == SL_TYPE_UDPA_TYPED_STRUCT || t == SL_TYPE_XDS_TYPED_STRUCT) {
        const sl__node_t *inner = sl__get(n, "type_url");
        t = inner && inner->kind == SL__N_SCALAR ? sl__type_of_url(inner->str) : SL_TYPE_NONE;
    }
    return t;
}

static sl_status_t type_of(sl__ctx_t *c, const sl__node_t *url, const char *key, const char *what,
                           sl_config_type_t *out)
{
    sl_status_t st = sl__want_scalar(c, url, key, what);
    if (st != SL_OK)
        return st;
    if (!strchr(url->str, '/'))
        return sl__fail(c, url,
                        "'%s' in %s must be a type URL such as "
                        "'type.googleapis.com/%s', got '%s'",
                        key, what, types[1].type, url->str);
    if ((*out = sl__type_of_url(url->str)) == SL_TYPE_NONE)
        return sl__fail(c, url, "unsupported type '%s' in %s", url->str, what);
    return SL_OK;
}

sl_status_t sl__typed(sl__ctx_t *c, const sl__node_t *n, const char *what, sl_config_type_t *type,
                      const sl__node_t **msg)
{
    sl_status_t st = sl__map_begin(c, n, what);
    if (st != SL_OK)
        return st;
    const sl__node_t *url = sl__get(n, "@type");
    if (!url)
        return sl__fail(c, n, "%s needs an '@type'", what);
    st = type_of(c, url, "@type", what, type);
    if (st != SL_OK)
        return st;
    if (*type != SL_TYPE_UDPA_TYPED_STRUCT && *type != SL_TYPE_XDS_TYPED_STRUCT) {
        *msg = n;
        return SL_OK;
    }
    /* TypedStruct: the message is `value`, written as YAML/JSON, its type is `type_url`. */
    static const char *const ts_keys[] = {"type_url", "value", NULL};
    if ((st = sl__map_keys(c, n, "TypedStruct", ts_keys, NULL)) != SL_OK)
        return st;
    const sl__node_t *inner = sl__get(n, "type_url");
    if (!inner)
        return sl__fail(c, n, "TypedStruct in %s needs 'type_url'", what);
    st = type_of(c, inner, "type_url", what, type);
    if (st != SL_OK)
        return st;
    if (*type == SL_TYPE_UDPA_TYPED_STRUCT || *type == SL_TYPE_XDS_TYPED_STRUCT)
        return sl__fail(c, inner, "TypedStruct in %s must not wrap another TypedStruct", what);
    const sl__node_t *v = sl__get(n, "value");
    st = sl__map_end(c, n, "TypedStruct", NULL);
    if (st != SL_OK)
        return st;
    if (!v) { /* an absent value is the empty message */
        *msg = sl__empty_map(c, n);
        return *msg ? SL_OK : sl__nomem(c);
    }
    st = sl__map_begin(c, v, "TypedStruct value");
    if (st == SL_OK)
        *msg = v;
    return st;
}

/* JSON rendering of a YAML subtree (google.protobuf.Struct configurations). Scalars that
 * YAML would read as numbers, booleans or null are written bare, everything else quoted. */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    bool over;
} jbuf_t;

static void jput(jbuf_t *b, const char *s, size_t n)
{
    if (b->over)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > SL_CONFIG_MAX_BYTES) {
            b->over = true;
            return;
        }
        char *np = realloc(b->p, cap);
        if (!np) {
            b->over = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static bool looks_bare(const sl__node_t *n)
{
    if (!n->plain)
        return false;
    if (sl__is_null(n) || !strcmp(n->str, "true") || !strcmp(n->str, "false"))
        return true;
    const char *s = n->str;
    if (*s == '-')
        s++;
    if (!(*s >= '0' && *s <= '9'))
        return false;
    if (*s == '0' && s[1] >= '0' && s[1] <= '9')
        return false; /* JSON has no leading zeros */
    while (*s >= '0' && *s <= '9')
        s++;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return (size_t)(s - n->str) == n->len;
}

static void jstr(jbuf_t *b, const char *s, size_t n)
{
    jput(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            jput(b, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            jput(b, esc, 6);
        } else {
            jput(b, (const char *)&s[i], 1);
        }
    }
    jput(b, "\"", 1);
}

static void jnode(jbuf_t *b, const sl__node_t *n)
{
    if (b->over)
        return;
    if (n->kind == SL__N_SCALAR) {
        if (sl__is_null(n))
            jput(b, "null", 4);
        else if (looks_bare(n))
            jput(b, n->str, n->len);
        else
            jstr(b, n->str, n->len);
        return;
    }
    bool map = n->kind == SL__N_MAP;
    jput(b, map ? "{" : "[", 1);
    for (size_t i = 0; i < n->n; i++) {
        if (i)
            jput(b, ",", 1);
        if (map) {
            jstr(b, n->items[2 * i]->str, n->items[2 * i]->len);
            jput(b, ":", 1);
            jnode(b, n->items[2 * i + 1]);
        } else {
            jnode(b, n->items[i]);
        }
    }
    jput(b, map ? "}" : "]", 1);
}

sl_status_t sl__any_bytes(sl__ctx_t *c, const sl__node_t *n, const char *what,
                          sl_config_bytes_t *out)
{
    sl_config_type_t t;
    const sl__node_t *msg;
    if (n->kind != SL__N_MAP)
        return sl__fail(c, n,
                        "%s must be a google.protobuf.Any mapping with '@type' (e.g. "
                        "type.googleapis.com/google.protobuf.StringValue), got a %s",
                        what, sl__kind_str(n));
    static const char *const keys[] = {"value", NULL};
    sl_status_t st = sl__typed(c, n, what, &t, &msg);
    if (st != SL_OK)
        return st;
    if (t == SL_TYPE_STRING_VALUE || t == SL_TYPE_BYTES_VALUE || t == SL_TYPE_STRUCT)
        st = sl__map_keys(c, msg, sl_config_type_name(t), keys, NULL);
    if (st != SL_OK)
        return st;
    const sl__node_t *v = sl__get(msg, "value");
    if (t == SL_TYPE_STRING_VALUE) {
        if (v && (st = sl__want_scalar(c, v, "value", "google.protobuf.StringValue")))
            return st;
        out->ptr = v && v->len ? (const uint8_t *)v->str : NULL;
        out->len = v ? v->len : 0;
    } else if (t == SL_TYPE_BYTES_VALUE) {
        if (v && (st = sl__want_scalar(c, v, "value", "google.protobuf.BytesValue")))
            return st;
        if (v && (st = sl__base64(c, v, "'value' in google.protobuf.BytesValue", out)))
            return st;
    } else if (t == SL_TYPE_STRUCT) {
        if (v && (st = sl__want_map(c, v, "value", "google.protobuf.Struct")))
            return st;
        jbuf_t b = {0};
        if (v)
            jnode(&b, v);
        else
            jput(&b, "{}", 2);
        if (b.over) {
            free(b.p);
            return sl__fail_status(c, SL_ERR_LIMIT, n->line, n->column,
                                   "%s renders to more than %u bytes of JSON at line %u:%u", what,
                                   SL_CONFIG_MAX_BYTES, n->line, n->column);
        }
        char *s = sl__arena_strndup(c->arena, b.p, b.len);
        free(b.p);
        if (!s)
            return sl__nomem(c);
        out->ptr = (const uint8_t *)s;
        out->len = b.len;
    } else {
        return sl__fail(c, n,
                        "%s must hold google.protobuf.StringValue, BytesValue or Struct, "
                        "not %s",
                        what, sl_config_type_name(t));
    }
    return sl__map_end(c, msg, sl_config_type_name(t), NULL);
}
