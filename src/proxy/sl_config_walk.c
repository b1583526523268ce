/* Typed accessors over the YAML node tree: each read marks its key used so that unread keys
 * become "unknown key" errors; errors and warnings name the key, its context and its line. */
#include "proxy/sl_config_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors and warnings ------------------------------------------------------------------- */

static sl_status_t vfail(sl__ctx_t *c, sl_status_t st, uint32_t line, uint32_t col, bool add_pos,
                         const char *fmt, va_list ap)
{
    sl_config_error_t *e = c->err;
    if (e->status != SL_OK)
        return e->status; /* the first error is the one that matters */
    e->status = st;
    e->line = line;
    e->column = col;
    int n = vsnprintf(e->message, sizeof(e->message), fmt, ap);
    if (add_pos && line && n >= 0 && (size_t)n < sizeof(e->message))
        snprintf(e->message + n, sizeof(e->message) - (size_t)n, " at line %u:%u", line, col);
    return st;
}

sl_status_t sl__fail(sl__ctx_t *c, const sl__node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_status_t st = vfail(c, SL_ERR_CONFIG, at ? at->line : 0, at ? at->column : 0, true, fmt, ap);
    va_end(ap);
    return st;
}

sl_status_t sl__fail_status(sl__ctx_t *c, sl_status_t st, uint32_t line, uint32_t column,
                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st = vfail(c, st, line, column, false, fmt, ap);
    va_end(ap);
    return st;
}

sl_status_t sl__nomem(sl__ctx_t *c)
{
    return sl__fail_status(c, SL_ERR_NOMEM, 0, 0, "out of memory while loading the configuration");
}

sl_status_t sl__warn(sl__ctx_t *c, const sl__node_t *key, const char *what, const char *why)
{
    if (c->n_warnings == c->cap_warnings) {
        size_t cap = c->cap_warnings ? c->cap_warnings * 2 : 8;
        sl_config_warning_t *p = realloc(c->warnings, cap * sizeof(*p));
        if (!p)
            return sl__nomem(c);
        c->warnings = p;
        c->cap_warnings = cap;
    }
    char buf[512];
    snprintf(buf, sizeof(buf), "'%s' in %s at line %u:%u is not supported and is ignored%s%s",
             key->str, what, key->line, key->column, why ? ": " : "", why ? why : "");
    sl_config_warning_t *w = &c->warnings[c->n_warnings];
    w->key = key->str; /* already in the arena */
    w->message = sl__arena_strndup(c->arena, buf, strlen(buf));
    w->line = key->line;
    w->column = key->column;
    if (!w->message)
        return sl__nomem(c);
    c->n_warnings++;
    return SL_OK;
}

/* ---- node helpers -------------------------------------------------------------------------- */

bool sl__is_null(const sl__node_t *n)
{
    if (!n || n->kind != SL__N_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const char *sl__kind_str(const sl__node_t *n)
{
    if (!n || sl__is_null(n))
        return "null";
    switch (n->kind) {
    case SL__N_SCALAR:
        return "scalar";
    case SL__N_MAP:
        return "mapping";
    case SL__N_SEQ:
        return "list";
    }
    return "?";
}

/* Protobuf's JSON mapping, which Envoy's YAML loader follows, accepts each field under its
 * proto name (port_value) and its lowerCamelCase JSON name (portValue). */
static bool camel_eq(const char *snake, const char *s, size_t len)
{
    size_t j = 0;
    for (const char *p = snake; *p; p++) {
        char want = *p;
        if (want == '_' && p[1] >= 'a' && p[1] <= 'z')
            want = (char)(*++p - 'a' + 'A');
        if (j >= len || s[j] != want)
            return false;
        j++;
    }
    return j == len;
}

static ptrdiff_t find(const sl__node_t *map, const char *key)
{
    if (!map || map->kind != SL__N_MAP)
        return -1;
    size_t klen = strlen(key);
    bool snake = strchr(key, '_') != NULL;
    for (size_t i = 0; i < map->n; i++) {
        const sl__node_t *k = map->items[2 * i];
        if (k->len == klen && memcmp(k->str, key, klen) == 0)
            return (ptrdiff_t)i;
    }
    for (size_t i = 0; snake && i < map->n; i++) {
        const sl__node_t *k = map->items[2 * i];
        if (camel_eq(key, k->str, k->len))
            return (ptrdiff_t)i;
    }
    return -1;
}

const sl__node_t *sl__key(const sl__node_t *map, const char *key)
{
    ptrdiff_t i = find(map, key);
    return i < 0 ? NULL : map->items[2 * i];
}

const sl__node_t *sl__get(const sl__node_t *map, const char *key)
{
    ptrdiff_t i = find(map, key);
    if (i < 0)
        return NULL;
    map->used[i] = true;
    const sl__node_t *v = map->items[2 * i + 1];
    return sl__is_null(v) ? NULL : v;
}

static sl_status_t want(sl__ctx_t *c, const sl__node_t *n, sl__node_kind_t kind, const char *key,
                        const char *what)
{
    if (n && n->kind == kind && !sl__is_null(n))
        return SL_OK;
    static const char *const names[] = {"scalar", "mapping", "list"};
    if (key)
        return sl__fail(c, n, "'%s' in %s must be a %s, got a %s", key, what, names[kind],
                        sl__kind_str(n));
    return sl__fail(c, n, "%s must be a %s, got a %s", what, names[kind], sl__kind_str(n));
}

sl_status_t sl__want_map(sl__ctx_t *c, const sl__node_t *n, const char *key, const char *what)
{
    return want(c, n, SL__N_MAP, key, what);
}

sl_status_t sl__want_seq(sl__ctx_t *c, const sl__node_t *n, const char *key, const char *what)
{
    return want(c, n, SL__N_SEQ, key, what);
}

sl_status_t sl__want_scalar(sl__ctx_t *c, const sl__node_t *n, const char *key, const char *what)
{
    return want(c, n, SL__N_SCALAR, key, what);
}

sl_status_t sl__map_begin(sl__ctx_t *c, const sl__node_t *n, const char *what)
{
    sl_status_t st = want(c, n, SL__N_MAP, NULL, what);
    if (st == SL_OK && n->n)
        memset(n->used, 0, n->n * sizeof(*n->used));
    return st;
}

sl_status_t sl__map_keys(sl__ctx_t *c, const sl__node_t *n, const char *what,
                         const char *const *known, const char *const *unsupported)
{
    for (size_t i = 0; i < n->n; i++) {
        if (n->used[i])
            continue;
        const sl__node_t *k = n->items[2 * i];
        bool found = false;
        for (const char *const *u = known; u && *u && !found; u++)
            found = (strlen(*u) == k->len && memcmp(*u, k->str, k->len) == 0) ||
                    camel_eq(*u, k->str, k->len);
        if (found)
            continue;
        for (const char *const *u = unsupported; u && *u && !found; u++)
            found = (strlen(*u) == k->len && memcmp(*u, k->str, k->len) == 0) ||
                    camel_eq(*u, k->str, k->len);
        if (!found)
            return sl__fail(c, k, "unknown key '%s' in %s", k->str, what);
        sl_status_t st = sl__warn(c, k, what, NULL);
        if (st != SL_OK)
            return st;
        n->used[i] = true;
    }
    return SL_OK;
}

sl_status_t sl__map_open(sl__ctx_t *c, const sl__node_t *n, const char *what,
                         const char *const *known, const char *const *unsupported)
{
    sl_status_t st = sl__map_begin(c, n, what);
    return st ? st : sl__map_keys(c, n, what, known, unsupported);
}

sl_status_t sl__map_end(sl__ctx_t *c, const sl__node_t *n, const char *what,
                        const char *const *unsupported)
{
    for (size_t i = 0; i < n->n; i++) {
        if (n->used[i])
            continue;
        const sl__node_t *k = n->items[2 * i];
        bool known = false;
        for (const char *const *u = unsupported; u && *u; u++)
            if ((strlen(*u) == k->len && memcmp(*u, k->str, k->len) == 0) ||
                camel_eq(*u, k->str, k->len))
                known = true;
        if (!known)
            return sl__fail(c, k, "unknown key '%s' in %s", k->str, what);
        sl_status_t st = sl__warn(c, k, what, NULL);
        if (st != SL_OK)
            return st;
        n->used[i] = true;
    }
    return SL_OK;
}

sl_status_t sl__reject(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                       const char *why)
{
    const sl__node_t *k = sl__key(map, key);
    if (!k)
        return SL_OK;
    return sl__fail(c, k, "'%s' in %s is not supported (%s)", key, what, why);
}

/* ---- scalars ------------------------------------------------------------------------------- */

sl_status_t sl__str(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                    const char **out)
{
    const sl__node_t *v = sl__get(map, key);
    if (!v)
        return SL_OK;
    sl_status_t st = sl__want_scalar(c, v, key, what);
    if (st == SL_OK)
        *out = v->str;
    return st;
}

sl_status_t sl__str_req(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                        const char **out)
{
    const sl__node_t *v = sl__get(map, key);
    if (!v)
        return sl__fail(c, map, "%s needs '%s'", what, key);
    sl_status_t st = sl__want_scalar(c, v, key, what);
    if (st == SL_OK && v->len == 0)
        return sl__fail(c, v, "'%s' in %s must not be empty", key, what);
    if (st == SL_OK)
        *out = v->str;
    return st;
}

sl_status_t sl__bool(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                     bool *out)
{
    const sl__node_t *v = sl__get(map, key);
    if (!v)
        return SL_OK;
    /* google.protobuf.BoolValue may be written bare or as {value: b}. */
    if (v->kind == SL__N_MAP) {
        sl_status_t st = sl__map_begin(c, v, key);
        if (st == SL_OK)
            st = sl__bool(c, v, "value", key, out);
        return st ? st : sl__map_end(c, v, key, NULL);
    }
    sl_status_t st = sl__want_scalar(c, v, key, what);
    if (st != SL_OK)
        return st;
    if (!strcmp(v->str, "true") || !strcmp(v->str, "True") || !strcmp(v->str, "TRUE"))
        *out = true;
    else if (!strcmp(v->str, "false") || !strcmp(v->str, "False") || !strcmp(v->str, "FALSE"))
        *out = false;
    else
        return sl__fail(c, v, "'%s' in %s must be true or false, got '%s'", key, what, v->str);
    return SL_OK;
}

sl_status_t sl__scalar_u64(sl__ctx_t *c, const sl__node_t *v, const char *key, const char *what,
                           uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    if (v->len == 0 || v->len > 20)
        goto bad;
    for (size_t i = 0; i < v->len; i++) {
        unsigned d = (unsigned char)v->str[i] - '0';
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            goto bad;
        x = x * 10 + d;
    }
    if (x < min || x > max)
        return sl__fail(c, v, "'%s' in %s must be between %llu and %llu, got %llu", key, what,
                        (unsigned long long)min, (unsigned long long)max, (unsigned long long)x);
    *out = x;
    return SL_OK;
bad:
    return sl__fail(c, v, "'%s' in %s must be a non-negative integer, got '%s'", key, what, v->str);
}

sl_status_t sl__u64(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                    uint64_t min, uint64_t max, uint64_t *out)
{
    const sl__node_t *v = sl__get(map, key);
    if (!v)
        return SL_OK;
    /* Envoy's wrapper types (UInt32Value) are written either bare or as {value: N}. */
    if (v->kind == SL__N_MAP) {
        sl_status_t st = sl__map_begin(c, v, key);
        if (st == SL_OK)
            st = sl__u64(c, v, "value", key, min, max, out);
        return st ? st : sl__map_end(c, v, key, NULL);
    }
    sl_status_t st = sl__want_scalar(c, v, key, what);
    return st ? st : sl__scalar_u64(c, v, key, what, min, max, out);
}

sl_status_t sl__u32(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                    uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t x = *out;
    sl_status_t st = sl__u64(c, map, key, what, min, max, &x);
    if (st == SL_OK)
        *out = (uint32_t)x;
    return st;
}

/* Largest duration accepted: 10 years, far beyond any timeout, far below overflow. */
#define MAX_DURATION_S (10ull * 366 * 24 * 3600)

sl_status_t sl__scalar_duration_ms(sl__ctx_t *c, const sl__node_t *v, const char *key,
                                   const char *what, uint64_t *out)
{
    const char *s = v->str, *end = v->str + v->len;
    uint64_t whole = 0, frac_ns = 0;
    size_t nd = 0, nf = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (whole > MAX_DURATION_S * 1000)
            goto range;
        whole = whole * 10 + (uint64_t)(*s++ - '0');
        nd++;
    }
    if (s < end && *s == '.') {
        s++;
        while (s < end && *s >= '0' && *s <= '9') {
            if (nf < 9)
                frac_ns = frac_ns * 10 + (uint64_t)(*s - '0');
            else if (*s != '0')
                goto bad; /* more precision than a nanosecond */
            nf++;
            s++;
        }
        if (nf == 0)
            goto bad;
    }
    if (nd == 0)
        goto bad;
    for (size_t i = nf; i < 9; i++)
        frac_ns *= 10;
    uint64_t ms;
    size_t rest = (size_t)(end - s);
    if (rest == 1 && *s == 's') {
        if (whole > MAX_DURATION_S)
            goto range;
        ms = whole * 1000 + frac_ns / 1000000 + (frac_ns % 1000000 ? 1 : 0);
    } else if (rest == 2 && s[0] == 'm' && s[1] == 's') {
        if (whole > MAX_DURATION_S * 1000)
            goto range;
        ms = whole + (frac_ns ? 1 : 0);
    } else if (rest == 0) {
        return sl__fail(c, v, "'%s' in %s needs a unit: write '%ss' or '%sms'", key, what, v->str,
                        v->str);
    } else {
        goto bad;
    }
    *out = ms;
    return SL_OK;
bad:
    return sl__fail(c, v, "'%s' in %s must be a duration such as '1.5s' or '250ms', got '%s'", key,
                    what, v->str);
range:
    return sl__fail(c, v, "'%s' in %s is longer than ten years: '%s'", key, what, v->str);
}

sl_status_t sl__duration_ms(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                            uint64_t *out)
{
    const sl__node_t *v = sl__get(map, key);
    if (!v)
        return SL_OK;
    if (v->kind == SL__N_MAP) { /* google.protobuf.Duration as {seconds, nanos} */
        uint64_t sec = 0, nanos = 0;
        sl_status_t st = sl__map_begin(c, v, key);
        if (st == SL_OK)
            st = sl__u64(c, v, "seconds", key, 0, MAX_DURATION_S, &sec);
        if (st == SL_OK)
            st = sl__u64(c, v, "nanos", key, 0, 999999999, &nanos);
        if (st == SL_OK)
            st = sl__map_end(c, v, key, NULL);
        if (st == SL_OK)
            *out = sec * 1000 + nanos / 1000000 + (nanos % 1000000 ? 1 : 0);
        return st;
    }
    sl_status_t st = sl__want_scalar(c, v, key, what);
    return st ? st : sl__scalar_duration_ms(c, v, key, what, out);
}

sl_status_t sl__enum(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                     const char *const *names, int *out)
{
    const sl__node_t *v = sl__get(map, key);
    if (!v)
        return SL_OK;
    sl_status_t st = sl__want_scalar(c, v, key, what);
    if (st != SL_OK)
        return st;
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; names[i]; i++) {
        if (strcmp(v->str, names[i]) == 0) {
            *out = i;
            return SL_OK;
        }
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && used + (size_t)w < sizeof(list))
            used += (size_t)w;
    }
    return sl__fail(c, v, "'%s' in %s must be one of %s; got '%s'", key, what, list, v->str);
}

static int b64val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

sl_status_t sl__base64(sl__ctx_t *c, const sl__node_t *at, const char *what, sl_config_bytes_t *out)
{
    uint8_t *buf = sl__arena_alloc(c->arena, at->len / 4 * 3 + 4);
    if (!buf)
        return sl__nomem(c);
    size_t n = 0, pad = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < at->len; i++) {
        unsigned char ch = (unsigned char)at->str[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue; /* folded YAML strings carry line breaks */
        if (ch == '=') {
            pad++;
            continue;
        }
        int d = b64val(ch);
        if (d < 0 || pad)
            return sl__fail(c, at, "%s is not valid base64 (byte %zu)", what, i);
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 6 || pad > 2)
        return sl__fail(c, at, "%s is not valid base64 (bad length)", what);
    buf[n] = 0;
    out->ptr = n ? buf : NULL;
    out->len = n;
    return SL_OK;
}

/* ---- addresses ----------------------------------------------------------------------------- */

sl_status_t sl__address(sl__ctx_t *c, const sl__node_t *n, const char *what, bool need_ip,
                        bool allow_port0, sl_address_config_t *out)
{
    static const char *const addr_unsup[] = {"network_namespace_filepath", NULL};
    static const char *const sa_unsup[] = {"resolver_name", "ipv4_compat", NULL};
    static const char *const keys[] = {"pipe", "envoy_internal_address", "socket_address", NULL};
    static const char *const sa_keys[] = {"address", "port_value", "protocol", "named_port", NULL};
    sl_status_t st = sl__map_open(c, n, "address", keys, addr_unsup);
    if (st == SL_OK)
        st = sl__reject(c, n, "pipe", "address", "unix sockets");
    if (st == SL_OK)
        st = sl__reject(c, n, "envoy_internal_address", "address", "internal listeners");
    if (st != SL_OK)
        return st;
    const sl__node_t *sa = sl__get(n, "socket_address");
    if (!sa)
        return sl__fail(c, n, "%s needs 'socket_address'", what);
    if ((st = sl__map_end(c, n, "address", addr_unsup)) != SL_OK ||
        (st = sl__map_open(c, sa, "socket_address", sa_keys, sa_unsup)) != SL_OK)
        return st;
    static const char *const protos[] = {"TCP", NULL};
    int proto = 0;
    uint32_t port = 0;
    st = sl__str_req(c, sa, "address", "socket_address", &out->address);
    if (st == SL_OK)
        st = sl__u32(c, sa, "port_value", "socket_address", allow_port0 ? 0 : 1, 65535, &port);
    if (st == SL_OK)
        st = sl__enum(c, sa, "protocol", "socket_address", protos, &proto);
    if (st == SL_OK)
        st = sl__reject(c, sa, "named_port", "socket_address", "use port_value");
    if (st != SL_OK)
        return st;
    if (!allow_port0 && !sl__key(sa, "port_value"))
        return sl__fail(c, sa, "socket_address needs 'port_value'");
    unsigned char buf[16];
    out->is_ipv6 = inet_pton(AF_INET6, out->address, buf) == 1;
    bool ip = out->is_ipv6 || inet_pton(AF_INET, out->address, buf) == 1;
    if (need_ip && !ip)
        return sl__fail(c, sl__get(sa, "address"),
                        "'address' in socket_address of %s must be a numeric IPv4 or IPv6 "
                        "address, got '%s'",
                        what, out->address);
    out->port = (uint16_t)port;
    out->line = sa->line;
    return sl__map_end(c, sa, "socket_address", sa_unsup);
}
