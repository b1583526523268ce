/* Route selection: virtual hosts by domain (Envoy's precedence), then the first route whose
 * path matcher (prefix, exact path, POSIX regex) and header matchers accept the request. */
#include "proxy/sl_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

sl_status_t sl_route_table_new(const sl_route_table_config_t *cfg, sl_route_table_t **out,
                               char *err, size_t err_len)
{
    sl_status_t st = SL_ERR_NOMEM;
    *out = NULL;
    sl_route_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        goto fail;
    t->cfg = cfg;
    size_t n = 0;
    for (size_t v = 0; v < cfg->n_vhosts; v++)
        n += cfg->vhosts[v].n_routes;
    t->routes = calloc(n ? n : 1, sizeof(*t->routes));
    t->vhost_first = calloc(cfg->n_vhosts + 1, sizeof(*t->vhost_first));
    if (!t->routes || !t->vhost_first)
        goto fail;
    for (size_t v = 0; v < cfg->n_vhosts; v++) {
        const sl_vhost_config_t *vh = &cfg->vhosts[v];
        t->vhost_first[v] = t->n_routes;
        for (size_t r = 0; r < vh->n_routes; r++) {
            sl_route_t *rt = &t->routes[t->n_routes];
            rt->cfg = &vh->routes[r];
            rt->vhost = vh;
            if (rt->cfg->match_kind == SL_PATH_MATCH_REGEX) {
                /* The regex must match the whole path: anchor it. */
                size_t len = strlen(rt->cfg->match_value);
                char *anch = malloc(len + 7);
                if (!anch)
                    goto fail;
                snprintf(anch, len + 7, "^(%s)$", rt->cfg->match_value);
                int rc = regcomp(&rt->re, anch, REG_EXTENDED | REG_NOSUB);
                free(anch);
                if (rc != 0) {
                    st = SL_ERR_CONFIG;
                    if (err)
                        snprintf(err, err_len, "route at line %u: regex '%s' does not compile",
                                 rt->cfg->line, rt->cfg->match_value);
                    goto fail;
                }
                rt->has_re = true;
            }
            if (rt->cfg->regex_rewrite_pattern) {
                if (regcomp(&rt->rw_re, rt->cfg->regex_rewrite_pattern, REG_EXTENDED) != 0) {
                    st = SL_ERR_CONFIG;
                    if (err)
                        snprintf(err, err_len,
                                 "route at line %u: regex_rewrite pattern '%s' does not compile",
                                 rt->cfg->line, rt->cfg->regex_rewrite_pattern);
                    t->n_routes++; /* so that the free below sees has_re */
                    goto fail;
                }
                rt->has_rw_re = true;
            }
            t->n_routes++;
        }
    }
    t->vhost_first[cfg->n_vhosts] = t->n_routes;
    *out = t;
    return SL_OK;
fail:
    if (st == SL_ERR_NOMEM && err)
        snprintf(err, err_len, "route table: out of memory");
    sl_route_table_free(t);
    return st;
}

void sl_route_table_free(sl_route_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_routes; i++)
    {
        if (t->routes[i].has_re)
            regfree(&t->routes[i].re);
        if (t->routes[i].has_rw_re)
            regfree(&t->routes[i].rw_re);
    }
    free(t->routes);
    free(t->vhost_first);
    free(t);
}

/* Strips ":port" (and keeps "[v6]" brackets intact). */
static size_t host_len_without_port(const char *h, size_t len)
{
    if (len && h[0] == '[') {
        const char *rb = memchr(h, ']', len);
        return rb ? (size_t)(rb - h) + 1 : len;
    }
    const char *c = memchr(h, ':', len);
    return c ? (size_t)(c - h) : len;
}

long sl_route_find_vhost(const sl_route_table_t *t, const char *host, size_t host_len)
{
    host_len = host_len_without_port(host, host_len);
    long best_suffix = -1, best_prefix = -1, any = -1;
    size_t suffix_len = 0, prefix_len = 0;
    const sl_route_table_config_t *cfg = t->cfg;
    for (size_t v = 0; v < cfg->n_vhosts; v++) {
        const sl_vhost_config_t *vh = &cfg->vhosts[v];
        for (size_t d = 0; d < vh->n_domains; d++) {
            const sl_domain_config_t *dm = &vh->domains[d];
            switch (dm->kind) {
            case SL_DOMAIN_EXACT:
                if (strlen(dm->pattern) == host_len &&
                    strncasecmp(dm->pattern, host, host_len) == 0)
                    return (long)v;
                break;
            case SL_DOMAIN_SUFFIX:
                /* "*.a.com" needs at least one character before the suffix (Envoy). */
                if (host_len > dm->part_len &&
                    strncasecmp(host + host_len - dm->part_len, dm->part, dm->part_len) == 0 &&
                    (best_suffix < 0 || dm->part_len > suffix_len)) {
                    best_suffix = (long)v;
                    suffix_len = dm->part_len;
                }
                break;
            case SL_DOMAIN_PREFIX:
                if (host_len > dm->part_len &&
                    strncasecmp(host, dm->part, dm->part_len) == 0 &&
                    (best_prefix < 0 || dm->part_len > prefix_len)) {
                    best_prefix = (long)v;
                    prefix_len = dm->part_len;
                }
                break;
            case SL_DOMAIN_ANY:
                if (any < 0)
                    any = (long)v;
                break;
            }
        }
    }
    return best_suffix >= 0 ? best_suffix : best_prefix >= 0 ? best_prefix : any;
}

static bool header_ok(const sl_header_matcher_config_t *m, const sl_hmap_t *h)
{
    size_t vlen = 0;
    const char *v = sl_hmap_get(h, m->name, strlen(m->name), &vlen);
    bool ok;
    size_t mlen = strlen(m->value);
    switch (m->kind) {
    case SL_HEADER_MATCH_PRESENT:
        ok = v != NULL;
        break;
    case SL_HEADER_MATCH_EXACT:
        ok = v && vlen == mlen && memcmp(v, m->value, mlen) == 0;
        break;
    case SL_HEADER_MATCH_PREFIX:
        ok = v && vlen >= mlen && memcmp(v, m->value, mlen) == 0;
        break;
    case SL_HEADER_MATCH_SUFFIX:
        ok = v && vlen >= mlen && memcmp(v + vlen - mlen, m->value, mlen) == 0;
        break;
    case SL_HEADER_MATCH_CONTAINS:
        ok = v && memmem(v, vlen, m->value, mlen) != NULL;
        break;
    default:
        ok = false;
    }
    return m->invert ? !ok : ok;
}

static bool path_ok(const sl_route_t *r, const char *path, size_t len)
{
    const sl_route_config_t *c = r->cfg;
    size_t mlen = strlen(c->match_value);
    /* Prefix matches the whole :path (query included, as Envoy); path and regex ignore the
     * query string. */
    size_t plen = len;
    const char *q = memchr(path, '?', len);
    if (q)
        plen = (size_t)(q - path);
    switch (c->match_kind) {
    case SL_PATH_MATCH_PREFIX:
        if (len < mlen)
            return false;
        return c->case_sensitive ? memcmp(path, c->match_value, mlen) == 0
                                 : strncasecmp(path, c->match_value, mlen) == 0;
    case SL_PATH_MATCH_PATH:
        if (plen != mlen)
            return false;
        return c->case_sensitive ? memcmp(path, c->match_value, mlen) == 0
                                 : strncasecmp(path, c->match_value, mlen) == 0;
    case SL_PATH_MATCH_REGEX: {
        char stack[512];
        char *p = plen < sizeof(stack) ? stack : malloc(plen + 1);
        if (!p)
            return false;
        memcpy(p, path, plen);
        p[plen] = '\0';
        bool ok = regexec(&r->re, p, 0, NULL, 0) == 0;
        if (p != stack)
            free(p);
        return ok;
    }
    }
    return false;
}

const sl_route_t *sl_route_match(const sl_route_table_t *t, const sl_hmap_t *headers)
{
    size_t host_len = 0, path_len = 0;
    const char *host = sl_hmap_get(headers, ":authority", 10, &host_len);
    const char *path = sl_hmap_get(headers, ":path", 5, &path_len);
    if (!host) {
        host = "";
        host_len = 0;
    }
    if (!path)
        return NULL;
    long v = sl_route_find_vhost(t, host, host_len);
    if (v < 0)
        return NULL;
    for (size_t i = t->vhost_first[v]; i < t->vhost_first[v + 1]; i++) {
        const sl_route_t *r = &t->routes[i];
        if (!path_ok(r, path, path_len))
            continue;
        bool ok = true;
        for (size_t h = 0; ok && h < r->cfg->n_headers; h++)
            ok = header_ok(&r->cfg->headers[h], headers);
        if (ok)
            return r;
    }
    return NULL;
}

/* Appends the substitution for one match: \N is group N (empty when it did not take part),
 * \\ a backslash; the configuration was checked at load. */
static bool substitute(sl_buf_t *out, const char *sub, const char *subject,
                       const regmatch_t *m, size_t nm)
{
    for (const char *p = sub; *p; p++) {
        if (*p == '\\' && p[1] >= '0' && p[1] <= '9') {
            size_t g = (size_t)(p[1] - '0');
            p++;
            if (g < nm && m[g].rm_so >= 0 &&
                !sl_buf_append(out, subject + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so)))
                return false;
            continue;
        }
        if (*p == '\\' && p[1] == '\\')
            p++;
        if (!sl_buf_append(out, p, 1))
            return false;
    }
    return true;
}

/* Every non-overlapping match of the route's rewrite pattern in path[0, plen) replaced (an
 * empty match moves on by one byte, as RE2's global replace does). NULL with *nlen 0 when
 * nothing matched or the result is empty; NULL with *oom set when out of memory. */
static char *regex_replace_all(const sl_route_t *r, const char *path, size_t plen,
                               sl_arena_t *arena, size_t *nlen, bool *oom)
{
    *nlen = 0;
    *oom = false;
    char stack[512];
    char *subj = plen < sizeof(stack) ? stack : malloc(plen + 1);
    if (!subj) {
        *oom = true;
        return NULL;
    }
    memcpy(subj, path, plen);
    subj[plen] = '\0';
    sl_buf_t out;
    sl_buf_init(&out);
    bool any = false, ok = true;
    size_t off = 0, lastend = (size_t)-1;
    regmatch_t m[10];
    /* Bounded: each turn consumes at least one byte or ends. */
    while (ok && off <= plen) {
        if (regexec(&r->rw_re, subj + off, 10, m, off ? REG_NOTBOL : 0) != 0)
            break;
        if (m[0].rm_so == m[0].rm_eo && (size_t)m[0].rm_so + off == lastend) {
            /* An empty match right where the last one ended does not count (RE2). */
            if (off < plen)
                ok = sl_buf_append(&out, subj + off, 1);
            off++;
            continue;
        }
        any = true;
        /* Offsets are relative to subj + off: make them absolute for substitute(). */
        for (size_t i = 0; i < 10; i++)
            if (m[i].rm_so >= 0) {
                m[i].rm_so += (regoff_t)off;
                m[i].rm_eo += (regoff_t)off;
            }
        size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;
        ok = sl_buf_append(&out, subj + off, so - off) &&
             substitute(&out, r->cfg->regex_rewrite_substitution, subj, m, 10);
        lastend = eo;
        if (eo == so) {
            if (so < plen)
                ok = ok && sl_buf_append(&out, subj + so, 1);
            off = so + 1;
        } else {
            off = eo;
        }
    }
    if (ok && any && off < plen)
        ok = sl_buf_append(&out, subj + off, plen - off);
    if (subj != stack)
        free(subj);
    char *res = NULL;
    if (!ok) {
        *oom = true;
    } else if (any && out.len) {
        res = sl_arena_dup(arena, out.data, out.len);
        if (!res)
            *oom = true;
        else
            *nlen = out.len;
    }
    sl_buf_dispose(&out);
    return res;
}

/* Sets :path to head (hlen bytes) followed by path[cut, len), keeping the original. */
static bool set_path(sl_hmap_t *headers, const char *path, size_t len, size_t cut,
                     const char *head, size_t hlen)
{
    char *np = sl_arena_alloc(headers->arena, hlen + len - cut + 1);
    if (!np)
        return false;
    memcpy(np, head, hlen);
    memcpy(np + hlen, path + cut, len - cut);
    size_t nlen = hlen + len - cut;
    if (nlen == 0) {
        /* A rewrite to "" leaves an empty path: HTTP needs at least "/". */
        np[0] = '/';
        nlen = 1;
    }
    return sl_hmap_set(headers, "x-envoy-original-path", 21, path, len) &&
           sl_hmap_set(headers, ":path", 5, np, nlen);
}

bool sl_route_rewrite(const sl_route_t *r, sl_hmap_t *headers)
{
    const sl_route_config_t *c = r->cfg;
    if (c->action != SL_ROUTE_ACTION_ROUTE)
        return true;
    size_t len = 0;
    const char *path = sl_hmap_get(headers, ":path", 5, &len);
    /* The path without its query (and fragment), which path and regex routes matched. */
    size_t plen = 0;
    while (path && plen < len && path[plen] != '?' && path[plen] != '#')
        plen++;
    if (path && c->prefix_rewrite && c->match_kind != SL_PATH_MATCH_PREFIX) {
        if (!set_path(headers, path, len, plen, c->prefix_rewrite, strlen(c->prefix_rewrite)))
            return false;
    } else if (path && r->has_rw_re) {
        size_t nlen;
        bool oom;
        char *np = regex_replace_all(r, path, plen, headers->arena, &nlen, &oom);
        if (oom)
            return false;
        if (np && !set_path(headers, path, len, plen, np, nlen))
            return false;
    } else if (c->prefix_rewrite) {
        size_t mlen = strlen(c->match_value);
        if (path && len >= mlen &&
            !set_path(headers, path, len, mlen, c->prefix_rewrite, strlen(c->prefix_rewrite)))
            return false;
    }
    if (c->host_rewrite_literal && c->host_rewrite_literal[0]) {
        if (!sl_hmap_setz(headers, ":authority", c->host_rewrite_literal))
            return false;
    }
    return true;
}
