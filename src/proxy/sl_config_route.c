/* Loading route_config: virtual hosts and their domains, route matches (prefix, path, regex,
 * headers) and actions (forward to a cluster, or answer directly). */
#include "proxy/sl_config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

char *sl__lower_dup(sl__ctx_t *c, const char *s)
{
    size_t n = strlen(s);
    char *p = sl__arena_strndup(c->arena, s, n);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (char)tolower((unsigned char)p[i]);
    return p;
}

/* Largest direct_response body read from a file (Envoy's default limit is 4 KiB; we allow
 * more but keep the configuration small). */
#define MAX_DIRECT_BODY_FILE (1024 * 1024)

/* ---- routes -------------------------------------------------------------------------------- */

static sl_status_t header_matcher(sl__ctx_t *c, const sl__node_t *n,
                                  sl_header_matcher_config_t *out)
{
    static const char *const unsup[] = {"treat_missing_header_as_empty", NULL};
    static const char *const keys[] = {"name",
                                       "invert_match",
                                       "safe_regex_match",
                                       "range_match",
                                       "exact_match",
                                       "prefix_match",
                                       "suffix_match",
                                       "contains_match",
                                       "present_match",
                                       "string_match",
                                       NULL};
    const char *what = "header matcher";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    const char *name = NULL;
    bool present = true;
    out->line = n->line;
    out->value = "";
    if ((st = sl__str_req(c, n, "name", what, &name)) ||
        (st = sl__bool(c, n, "invert_match", what, &out->invert)) ||
        (st = sl__reject(c, n, "safe_regex_match", what, "use exact/prefix/suffix/contains")) ||
        (st = sl__reject(c, n, "range_match", what, "use exact/prefix/suffix/contains")))
        return st;
    if (!(out->name = sl__lower_dup(c, name)))
        return sl__nomem(c);
    static const struct {
        const char *key;
        sl_header_match_kind_t kind;
    } forms[] = {{"exact_match", SL_HEADER_MATCH_EXACT},
                 {"prefix_match", SL_HEADER_MATCH_PREFIX},
                 {"suffix_match", SL_HEADER_MATCH_SUFFIX},
                 {"contains_match", SL_HEADER_MATCH_CONTAINS}};
    int count = 0;
    out->kind = SL_HEADER_MATCH_PRESENT; /* no specifier: the header must be present */
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        const sl__node_t *v = sl__get(n, forms[i].key);
        if (!v)
            continue;
        if ((st = sl__want_scalar(c, v, forms[i].key, what)) != SL_OK)
            return st;
        out->kind = forms[i].kind;
        out->value = v->str;
        count++;
    }
    if (sl__get(n, "present_match")) {
        if ((st = sl__bool(c, n, "present_match", what, &present)) != SL_OK)
            return st;
        out->kind = SL_HEADER_MATCH_PRESENT;
        /* present_match: false matches when the header is absent (Envoy). */
        if (!present)
            out->invert = !out->invert;
        count++;
    }
    const sl__node_t *sm = sl__get(n, "string_match");
    if (sm) {
        const char *sw = "string_match";
        static const struct {
            const char *key;
            sl_header_match_kind_t kind;
        } sforms[] = {{"exact", SL_HEADER_MATCH_EXACT},
                      {"prefix", SL_HEADER_MATCH_PREFIX},
                      {"suffix", SL_HEADER_MATCH_SUFFIX},
                      {"contains", SL_HEADER_MATCH_CONTAINS}};
        static const char *const skeys[] = {"safe_regex", "ignore_case", "exact", "prefix",
                                            "suffix",     "contains",    NULL};
        if ((st = sl__map_open(c, sm, sw, skeys, NULL)) ||
            (st = sl__reject(c, sm, "safe_regex", sw, "use exact/prefix/suffix/contains")) ||
            (st = sl__reject(c, sm, "ignore_case", sw, "header values match case-sensitively")))
            return st;
        int scount = 0;
        for (size_t i = 0; i < sizeof(sforms) / sizeof(sforms[0]); i++) {
            const sl__node_t *v = sl__get(sm, sforms[i].key);
            if (!v)
                continue;
            if ((st = sl__want_scalar(c, v, sforms[i].key, sw)) != SL_OK)
                return st;
            out->kind = sforms[i].kind;
            out->value = v->str;
            scount++;
        }
        if (scount != 1)
            return sl__fail(c, sm,
                            "string_match needs exactly one of exact, prefix, suffix, "
                            "contains");
        if ((st = sl__map_end(c, sm, sw, NULL)) != SL_OK)
            return st;
        count++;
    }
    if (count > 1)
        return sl__fail(c, n, "header matcher for '%s' has more than one match specifier", name);
    return sl__map_end(c, n, what, unsup);
}

/* glibc's regcomp copies the subtree of every repetition ('+' and {n,m} once per count), so
 * nested repetitions grow the automaton multiplicatively. Estimate that size while scanning
 * and refuse patterns over the bound, so a configuration cannot make the load take minutes
 * or gigabytes. Adjacent quantifiers ("a++", "a*{2}") are refused too: POSIX leaves them
 * undefined and RE2 rejects them. */
#define MAX_REGEX_LEN 1024
#define MAX_REGEX_SIZE 10000u
#define MAX_REGEX_GROUPS 64

typedef struct re_frame {
    uint64_t total; /* estimated size of the group so far */
    uint64_t last;  /* size of the last atom, what a quantifier applies to */
} re_frame_t;

/* Reads a quantifier at p (already known to start one); returns its growth factor and sets
 * *end past it, or 0 when it is not a well-formed {n,m}. */
static uint64_t quantifier(const char *p, const char **end)
{
    if (*p == '*' || *p == '?') {
        *end = p + 1;
        return 2;
    }
    if (*p == '+') {
        *end = p + 1;
        return 2;
    }
    uint64_t n = 0, m = 0;
    const char *q = p + 1;
    if (!(*q >= '0' && *q <= '9'))
        return 0;
    while (*q >= '0' && *q <= '9' && n <= MAX_REGEX_SIZE)
        n = n * 10 + (uint64_t)(*q++ - '0');
    if (*q == ',') {
        q++;
        while (*q >= '0' && *q <= '9' && m <= MAX_REGEX_SIZE)
            m = m * 10 + (uint64_t)(*q++ - '0');
    }
    if (*q != '}')
        return 0;
    *end = q + 1;
    return (m > n ? m : n) + 1;
}

static sl_status_t regex_bounded(sl__ctx_t *c, const sl__node_t *rx)
{
    if (rx->len > MAX_REGEX_LEN || strlen(rx->str) != rx->len)
        return sl__fail(c, rx, "'regex' in safe_regex is longer than %d bytes or holds a NUL",
                        MAX_REGEX_LEN);
    re_frame_t stack[MAX_REGEX_GROUPS + 1] = {{0, 0}};
    size_t depth = 0;
    bool after_quant = false;
    for (const char *p = rx->str; *p;) {
        re_frame_t *f = &stack[depth];
        const char *end = p + 1;
        uint64_t k;
        if (*p == '*' || *p == '+' || *p == '?' || (*p == '{' && (k = quantifier(p, &end)))) {
            if (after_quant)
                return sl__fail(c, rx,
                                "'regex' in safe_regex has two quantifiers in a row "
                                "at byte %zu",
                                (size_t)(p - rx->str));
            k = quantifier(p, &end);
            f->total += f->last * (k - 1);
            f->last *= k;
            after_quant = true;
        } else {
            after_quant = false;
            if (*p == '(') {
                if (depth == MAX_REGEX_GROUPS)
                    return sl__fail(c, rx, "'regex' in safe_regex nests more than %d groups",
                                    MAX_REGEX_GROUPS);
                stack[++depth] = (re_frame_t){0, 0};
            } else if (*p == ')' && depth > 0) {
                uint64_t size = f->total + 1;
                depth--;
                stack[depth].total += size;
                stack[depth].last = size;
            } else {
                if (*p == '\\' && p[1] >= '1' && p[1] <= '9')
                    return sl__fail(c, rx,
                                    "'regex' in safe_regex uses a back-reference at "
                                    "byte %zu (RE2 has none, and they make matching "
                                    "exponential)",
                                    (size_t)(p - rx->str));
                if (*p == '\\' && p[1]) {
                    end = p + 2;
                } else if (*p == '[') { /* a bracket expression is one atom */
                    const char *q = p + 1;
                    if (*q == '^')
                        q++;
                    if (*q == ']')
                        q++;
                    while (*q && *q != ']')
                        q++;
                    end = *q ? q + 1 : q;
                }
                f->total += 1;
                f->last = 1;
            }
        }
        if (stack[depth].total > MAX_REGEX_SIZE || stack[depth].last > MAX_REGEX_SIZE)
            return sl__fail(c, rx,
                            "'regex' in safe_regex repeats too much (its expanded "
                            "size is over %u)",
                            MAX_REGEX_SIZE);
        p = end;
    }
    return SL_OK;
}

/* A RegexMatcher map ({regex, google_re2}) named `what`: the regex must be bounded (see
 * regex_bounded) and compile as POSIX extended; *groups gets its number of groups. */
static sl_status_t safe_regex(sl__ctx_t *c, const sl__node_t *re, const char *what,
                              const char **out, size_t *groups)
{
    static const char *const re_keys[] = {"google_re2", "regex", NULL};
    static const char *const re_unsup[] = {NULL};
    const sl__node_t *rx;
    sl_status_t st;
    if ((st = sl__map_open(c, re, what, re_keys, NULL)) != SL_OK)
        return st;
    /* google_re2 only names the engine (sluice has one); its one field is deprecated. */
    const sl__node_t *g = sl__get(re, "google_re2");
    static const char *const g_unsup[] = {"max_program_size", NULL};
    if (g && ((st = sl__map_open(c, g, "google_re2", NULL, g_unsup)) ||
              (st = sl__map_end(c, g, "google_re2", NULL))))
        return st;
    if (!(rx = sl__get(re, "regex")))
        return sl__fail(c, re, "%s needs 'regex'", what);
    if ((st = sl__want_scalar(c, rx, "regex", what)) != SL_OK)
        return st;
    if ((st = regex_bounded(c, rx)) != SL_OK)
        return st;
    regex_t compiled;
    int rc = regcomp(&compiled, rx->str, REG_EXTENDED);
    if (rc != 0) {
        char why[128];
        regerror(rc, &compiled, why, sizeof(why));
        return sl__fail(c, rx, "'regex' in %s does not compile: %s", what, why);
    }
    *groups = compiled.re_nsub;
    regfree(&compiled);
    *out = rx->str;
    return sl__map_end(c, re, what, re_unsup);
}

/* route.regex_rewrite: {pattern: RegexMatcher, substitution}. The substitution is checked as
 * RE2 checks it: a backslash is followed by a digit naming an existing group, or by a
 * backslash. */
static sl_status_t regex_rewrite(sl__ctx_t *c, const sl__node_t *n, sl_route_config_t *out)
{
    static const char *const keys[] = {"pattern", "substitution", NULL};
    const char *what = "regex_rewrite";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    const sl__node_t *pat = sl__get(n, "pattern"), *sub = sl__get(n, "substitution");
    if (!pat)
        return sl__fail(c, n, "regex_rewrite needs 'pattern'");
    size_t groups = 0;
    if ((st = safe_regex(c, pat, "regex_rewrite pattern", &out->regex_rewrite_pattern,
                         &groups)) != SL_OK)
        return st;
    out->regex_rewrite_substitution = "";
    if (sub && !sl__is_null(sub)) {
        if ((st = sl__want_scalar(c, sub, "substitution", what)) != SL_OK)
            return st;
        for (const char *p = sub->str; *p; p++) {
            if (*p != '\\')
                continue;
            p++;
            if (*p == '\\')
                continue;
            if (*p < '0' || *p > '9')
                return sl__fail(c, sub,
                                "'substitution' in regex_rewrite: a backslash must be followed "
                                "by a digit or a backslash (byte %zu)",
                                (size_t)(p - 1 - sub->str));
            if ((size_t)(*p - '0') > groups)
                return sl__fail(c, sub,
                                "'substitution' in regex_rewrite names group \\%c but the "
                                "pattern has %zu",
                                *p, groups);
        }
        out->regex_rewrite_substitution = sub->str;
    }
    return sl__map_end(c, n, what, NULL);
}

sl_status_t sl__upgrade_configs(sl__ctx_t *c, const sl__node_t *seq, const char *what,
                                const sl_upgrade_config_t **out, size_t *n_out)
{
    sl_status_t st = sl__want_seq(c, seq, "upgrade_configs", what);
    if (st != SL_OK)
        return st;
    sl_upgrade_config_t *arr = seq->n ? sl__arena_alloc(c->arena, seq->n * sizeof(*arr)) : NULL;
    if (seq->n && !arr)
        return sl__nomem(c);
    static const char *const keys[] = {"upgrade_type", "enabled", "filters", "connect_config",
                                       NULL};
    for (size_t i = 0; i < seq->n; i++) {
        const sl__node_t *e = seq->items[i];
        const char *ew = "upgrade_configs entry";
        arr[i].enabled = true;
        arr[i].line = e->line;
        if ((st = sl__map_open(c, e, ew, keys, NULL)) ||
            (st = sl__reject(c, e, "filters", ew, "upgraded streams use the listener's filters")) ||
            (st = sl__reject(c, e, "connect_config", ew, "CONNECT is not proxied")) ||
            (st = sl__str_req(c, e, "upgrade_type", ew, &arr[i].type)) ||
            (st = sl__bool(c, e, "enabled", ew, &arr[i].enabled)) ||
            (st = sl__map_end(c, e, ew, NULL)))
            return st;
        if (strcasecmp(arr[i].type, "CONNECT") == 0)
            return sl__fail(c, e, "upgrade_type CONNECT is not supported (CONNECT is not "
                                  "proxied)");
    }
    *out = arr;
    *n_out = seq->n;
    return SL_OK;
}

static sl_status_t route_match(sl__ctx_t *c, const sl__node_t *n, sl_route_config_t *out)
{
    static const char *const keys[] = {"query_parameters",
                                       "grpc",
                                       "tls_context",
                                       "dynamic_metadata",
                                       "filter_state",
                                       "runtime_fraction",
                                       "path_separated_prefix",
                                       "connect_matcher",
                                       "path_match_policy",
                                       "case_sensitive",
                                       "prefix",
                                       "path",
                                       "safe_regex",
                                       "headers",
                                       NULL};
    const char *what = "route match";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    static const char *const rejected[][2] = {
        {"query_parameters", "routes cannot match on the query string"},
        {"grpc", "routes cannot match on gRPC"},
        {"tls_context", "TLS is not implemented"},
        {"dynamic_metadata", "routes cannot match on metadata"},
        {"filter_state", "routes cannot match on filter state"},
        {"runtime_fraction", "no runtime"},
        {"path_separated_prefix", "use prefix"},
        {"connect_matcher", "CONNECT is not routed"},
        {"path_match_policy", "use prefix, path or safe_regex"},
    };
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++)
        if ((st = sl__reject(c, n, rejected[i][0], what, rejected[i][1])) != SL_OK)
            return st;
    out->case_sensitive = true;
    if ((st = sl__bool(c, n, "case_sensitive", what, &out->case_sensitive)) != SL_OK)
        return st;
    const sl__node_t *pre = sl__get(n, "prefix"), *path = sl__get(n, "path"),
                     *re = sl__get(n, "safe_regex");
    /* `prefix:` with no value is null: Envoy reads it as the empty, match-all prefix. */
    bool null_prefix = !pre && sl__key(n, "prefix");
    int count = (pre || null_prefix) + !!path + !!re;
    if (count != 1)
        return sl__fail(c, n,
                        "route match needs exactly one of 'prefix', 'path', "
                        "'safe_regex' (has %d)",
                        count);
    if (pre || null_prefix) {
        out->match_kind = SL_PATH_MATCH_PREFIX;
        out->match_value = "";
        if (pre && (st = sl__want_scalar(c, pre, "prefix", what)) != SL_OK)
            return st;
        if (pre)
            out->match_value = pre->str;
    } else if (path) {
        if ((st = sl__want_scalar(c, path, "path", what)) != SL_OK)
            return st;
        out->match_kind = SL_PATH_MATCH_PATH;
        out->match_value = path->str;
    } else {
        size_t groups;
        if ((st = safe_regex(c, re, "safe_regex", &out->match_value, &groups)) != SL_OK)
            return st;
        out->match_kind = SL_PATH_MATCH_REGEX;
    }
    const sl__node_t *hs = sl__get(n, "headers");
    if (hs) {
        if ((st = sl__want_seq(c, hs, "headers", what)) != SL_OK)
            return st;
        sl_header_matcher_config_t *arr =
            hs->n ? sl__arena_alloc(c->arena, hs->n * sizeof(*arr)) : NULL;
        if (hs->n && !arr)
            return sl__nomem(c);
        for (size_t i = 0; i < hs->n; i++)
            if ((st = header_matcher(c, hs->items[i], &arr[i])) != SL_OK)
                return st;
        out->headers = arr;
        out->n_headers = hs->n;
    }
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t read_body_file(sl__ctx_t *c, const sl__node_t *fn, sl_config_bytes_t *out)
{
    /* Only regular files: a FIFO or a device could block the load or never end. */
    int fd = open(fn->str, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return sl__fail(c, fn, "cannot open direct_response body file '%s': %s", fn->str,
                        strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return sl__fail(c, fn, "direct_response body file '%s' is not a regular file", fn->str);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return sl__nomem(c);
    }
    uint8_t *buf = sl__arena_alloc(c->arena, MAX_DIRECT_BODY_FILE + 1);
    if (!buf) {
        fclose(f);
        return sl__nomem(c);
    }
    size_t n = fread(buf, 1, MAX_DIRECT_BODY_FILE + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad)
        return sl__fail(c, fn, "cannot read direct_response body file '%s'", fn->str);
    if (n > MAX_DIRECT_BODY_FILE)
        return sl__fail(c, fn, "direct_response body file '%s' is larger than %d bytes", fn->str,
                        MAX_DIRECT_BODY_FILE);
    buf[n] = 0;
    out->ptr = n ? buf : NULL;
    out->len = n;
    return SL_OK;
}

static sl_status_t direct_response(sl__ctx_t *c, const sl__node_t *n, sl_route_config_t *out)
{
    static const char *const keys[] = {"status", "body", NULL};
    static const char *const body_keys[] = {"environment_variable", "inline_string", "inline_bytes",
                                            "filename", NULL};
    const char *what = "direct_response";
    sl_status_t st = sl__map_open(c, n, what, keys, NULL);
    if (st != SL_OK)
        return st;
    out->action = SL_ROUTE_ACTION_DIRECT_RESPONSE;
    if (!sl__key(n, "status"))
        return sl__fail(c, n, "direct_response needs 'status'");
    if ((st = sl__u32(c, n, "status", what, 100, 599, &out->status)) != SL_OK)
        return st;
    const sl__node_t *b = sl__get(n, "body");
    if (b) {
        const char *bw = "body of direct_response";
        if ((st = sl__map_open(c, b, bw, body_keys, NULL)) ||
            (st = sl__reject(c, b, "environment_variable", bw, "inline the body")))
            return st;
        const sl__node_t *is = sl__get(b, "inline_string"), *ib = sl__get(b, "inline_bytes"),
                         *fn = sl__get(b, "filename");
        if (!!is + !!ib + !!fn > 1)
            return sl__fail(c, b,
                            "body of direct_response needs one of 'inline_string', "
                            "'inline_bytes', 'filename'");
        if (is) {
            if ((st = sl__want_scalar(c, is, "inline_string", bw)) != SL_OK)
                return st;
            out->body.ptr = is->len ? (const uint8_t *)is->str : NULL;
            out->body.len = is->len;
        } else if (ib) {
            if ((st = sl__want_scalar(c, ib, "inline_bytes", bw)) ||
                (st = sl__base64(c, ib, "'inline_bytes' in direct_response body", &out->body)))
                return st;
        } else if (fn) {
            if ((st = sl__want_scalar(c, fn, "filename", bw)) ||
                (st = read_body_file(c, fn, &out->body)))
                return st;
        }
        if ((st = sl__map_end(c, b, bw, NULL)) != SL_OK)
            return st;
    }
    return sl__map_end(c, n, what, NULL);
}

static sl_status_t route_action(sl__ctx_t *c, const sl__node_t *n, sl_route_config_t *out)
{
    static const char *const unsup[] = {"retry_policy",
                                        "retry_policy_typed_config",
                                        "hash_policy",
                                        "priority",
                                        "rate_limits",
                                        "include_vh_rate_limits",
                                        "cors",
                                        "max_stream_duration",
                                        "internal_redirect_policy",
                                        "max_internal_redirects",
                                        "request_mirror_policies",
                                        "append_x_forwarded_host",
                                        "metadata_match",
                                        "max_grpc_timeout",
                                        "grpc_timeout_offset",
                                        "early_data_policy",
                                        "hedge_policy",
                                        "auto_host_rewrite",
                                        "cluster_not_found_response_code",
                                        "per_filter_config",
                                        NULL};
    static const char *const keys[] = {"cluster_header",
                                       "weighted_clusters",
                                       "cluster_specifier_plugin",
                                       "inline_cluster_specifier_plugin",
                                       "regex_rewrite",
                                       "path_rewrite_policy",
                                       "host_rewrite_header",
                                       "host_rewrite_path_regex",
                                       "cluster",
                                       "timeout",
                                       "idle_timeout",
                                       "host_rewrite_literal",
                                       "prefix_rewrite",
                                       "upgrade_configs",
                                       NULL};
    const char *what = "route action";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    static const char *const rejected[][2] = {
        {"cluster_header", "name one 'cluster'"},
        {"weighted_clusters", "name one 'cluster'"},
        {"cluster_specifier_plugin", "name one 'cluster'"},
        {"inline_cluster_specifier_plugin", "name one 'cluster'"},
        {"path_rewrite_policy", "use prefix_rewrite or regex_rewrite"},
        {"host_rewrite_header", "use host_rewrite_literal"},
        {"host_rewrite_path_regex", "use host_rewrite_literal"},
    };
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++)
        if ((st = sl__reject(c, n, rejected[i][0], what, rejected[i][1])) != SL_OK)
            return st;
    out->action = SL_ROUTE_ACTION_ROUTE;
    out->timeout_ms = SL_CONFIG_ROUTE_TIMEOUT_MS_DEFAULT;
    if ((st = sl__str_req(c, n, "cluster", what, &out->cluster)) ||
        (st = sl__duration_ms(c, n, "timeout", what, &out->timeout_ms)) ||
        (st = sl__duration_ms(c, n, "idle_timeout", what, &out->idle_timeout_ms)) ||
        (st = sl__str(c, n, "host_rewrite_literal", what, &out->host_rewrite_literal)))
        return st;
    /* prefix_rewrite: "" is a real rewrite (strip the prefix), so look at the raw value. */
    const sl__node_t *pk = sl__key(n, "prefix_rewrite");
    if (pk) {
        const sl__node_t *pv = NULL;
        (void)sl__get(n, "prefix_rewrite");
        for (size_t i = 0; i < n->n; i++)
            if (n->items[2 * i] == pk)
                pv = n->items[2 * i + 1];
        if (!sl__is_null(pv) && (st = sl__want_scalar(c, pv, "prefix_rewrite", what)))
            return st;
        out->prefix_rewrite = sl__is_null(pv) ? "" : pv->str;
    }
    const sl__node_t *uc = sl__get(n, "upgrade_configs");
    if (uc && (st = sl__upgrade_configs(c, uc, what, &out->upgrades, &out->n_upgrades)))
        return st;
    const sl__node_t *rr = sl__get(n, "regex_rewrite");
    if (rr) {
        /* Envoy refuses both: each one rewrites the whole path its own way. */
        if (pk)
            return sl__fail(c, rr,
                            "route action: specify only one of prefix_rewrite and "
                            "regex_rewrite");
        if ((st = regex_rewrite(c, rr, out)) != SL_OK)
            return st;
    }
    out->cluster_config = sl_config_find_cluster(c->cfg, out->cluster);
    if (!out->cluster_config)
        return sl__fail(c, sl__get(n, "cluster"), "route names unknown cluster '%s'", out->cluster);
    return sl__map_end(c, n, what, unsup);
}

static sl_status_t route(sl__ctx_t *c, const sl__node_t *n, sl_route_config_t *out)
{
    static const char *const unsup[] = {"metadata",
                                        "decorator",
                                        "typed_per_filter_config",
                                        "request_headers_to_add",
                                        "request_headers_to_remove",
                                        "response_headers_to_add",
                                        "response_headers_to_remove",
                                        "tracing",
                                        "per_request_buffer_limit_bytes",
                                        "stat_prefix",
                                        NULL};
    static const char *const keys[] = {
        "name",  "redirect", "filter_action",   "non_forwarding_action",
        "match", "route",    "direct_response", NULL};
    const char *what = "route";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    out->name = "";
    out->cluster = "";
    out->line = n->line;
    if ((st = sl__str(c, n, "name", what, &out->name)) ||
        (st = sl__reject(c, n, "redirect", what, "redirects are not implemented")) ||
        (st = sl__reject(c, n, "filter_action", what, "use route or direct_response")) ||
        (st = sl__reject(c, n, "non_forwarding_action", what, "use route or direct_response")))
        return st;
    const sl__node_t *m = sl__get(n, "match");
    if (!m)
        return sl__fail(c, n, "route needs 'match'");
    if ((st = route_match(c, m, out)) != SL_OK)
        return st;
    const sl__node_t *ra = sl__get(n, "route"), *dr = sl__get(n, "direct_response");
    if (!!ra + !!dr != 1)
        return sl__fail(c, n, "route needs exactly one of 'route' and 'direct_response'");
    st = ra ? route_action(c, ra, out) : direct_response(c, dr, out);
    return st ? st : sl__map_end(c, n, what, unsup);
}

static sl_status_t domain(sl__ctx_t *c, const sl__node_t *v, sl_domain_config_t *out)
{
    sl_status_t st = sl__want_scalar(c, v, "domains", "virtual host");
    if (st != SL_OK)
        return st;
    char *p = sl__lower_dup(c, v->str);
    if (!p)
        return sl__nomem(c);
    size_t len = strlen(p);
    out->pattern = p;
    if (len == 0)
        return sl__fail(c, v, "empty domain in virtual host");
    const char *star = strchr(p, '*');
    if (len == 1 && star) {
        out->kind = SL_DOMAIN_ANY;
        out->part = "";
        return SL_OK;
    }
    if (!star) {
        out->kind = SL_DOMAIN_EXACT;
        out->part = p;
        out->part_len = len;
        return SL_OK;
    }
    if (strchr(star + 1, '*') || (star != p && star != p + len - 1))
        return sl__fail(c, v, "domain '%s' may have one '*', only at its start or end", p);
    out->kind = star == p ? SL_DOMAIN_SUFFIX : SL_DOMAIN_PREFIX;
    out->part = star == p ? p + 1 : sl__arena_strndup(c->arena, p, len - 1);
    if (!out->part)
        return sl__nomem(c);
    out->part_len = len - 1;
    return SL_OK;
}

static sl_status_t vhost(sl__ctx_t *c, const sl__node_t *n, sl_vhost_config_t *out)
{
    static const char *const unsup[] = {"virtual_clusters",
                                        "rate_limits",
                                        "request_headers_to_add",
                                        "request_headers_to_remove",
                                        "response_headers_to_add",
                                        "response_headers_to_remove",
                                        "cors",
                                        "typed_per_filter_config",
                                        "include_request_attempt_count",
                                        "include_attempt_count_in_response",
                                        "retry_policy",
                                        "retry_policy_typed_config",
                                        "hedge_policy",
                                        "per_request_buffer_limit_bytes",
                                        "request_mirror_policies",
                                        "metadata",
                                        "matcher",
                                        NULL};
    static const char *const keys[] = {"name", "require_tls", "domains", "routes", NULL};
    const char *what = "virtual host";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    out->line = n->line;
    if ((st = sl__str_req(c, n, "name", what, &out->name)) ||
        (st = sl__reject(c, n, "require_tls", what, "TLS is not implemented")))
        return st;
    const sl__node_t *ds = sl__get(n, "domains");
    if (!ds)
        return sl__fail(c, n, "virtual host '%s' needs 'domains'", out->name);
    if ((st = sl__want_seq(c, ds, "domains", what)) != SL_OK)
        return st;
    if (ds->n == 0)
        return sl__fail(c, ds, "'domains' in virtual host '%s' must not be empty", out->name);
    sl_domain_config_t *d = sl__arena_alloc(c->arena, ds->n * sizeof(*d));
    if (!d)
        return sl__nomem(c);
    for (size_t i = 0; i < ds->n; i++)
        if ((st = domain(c, ds->items[i], &d[i])) != SL_OK)
            return st;
    out->domains = d;
    out->n_domains = ds->n;
    const sl__node_t *rs = sl__get(n, "routes");
    if (rs) {
        if ((st = sl__want_seq(c, rs, "routes", what)) != SL_OK)
            return st;
        sl_route_config_t *r = rs->n ? sl__arena_alloc(c->arena, rs->n * sizeof(*r)) : NULL;
        if (rs->n && !r)
            return sl__nomem(c);
        for (size_t i = 0; i < rs->n; i++)
            if ((st = route(c, rs->items[i], &r[i])) != SL_OK)
                return st;
        out->routes = r;
        out->n_routes = rs->n;
    }
    return sl__map_end(c, n, what, unsup);
}

typedef struct domain_ref {
    const char *pattern;
    size_t vhost; /* index in the route table */
    size_t pos;   /* position in written order, for a stable report */
} domain_ref_t;

static int domain_ref_cmp(const void *a, const void *b)
{
    const domain_ref_t *x = a, *y = b;
    int r = strcmp(x->pattern, y->pattern);
    return r ? r : (x->pos > y->pos) - (x->pos < y->pos);
}

/* A domain in two virtual hosts (or twice in one) would make routes unreachable; Envoy
 * rejects it too. Sorted, so that large route tables stay O(n log n). */
static sl_status_t domains_unique(sl__ctx_t *c, const sl__node_t *vs, const sl_vhost_config_t *v,
                                  size_t total)
{
    if (total < 2)
        return SL_OK;
    domain_ref_t *refs = malloc(total * sizeof(*refs));
    if (!refs)
        return sl__nomem(c);
    size_t k = 0;
    for (size_t i = 0; i < vs->n; i++)
        for (size_t d = 0; d < v[i].n_domains; d++, k++)
            refs[k] = (domain_ref_t){v[i].domains[d].pattern, i, k};
    qsort(refs, total, sizeof(*refs), domain_ref_cmp);
    sl_status_t st = SL_OK;
    for (size_t i = 1; i < total && st == SL_OK; i++)
        if (strcmp(refs[i - 1].pattern, refs[i].pattern) == 0)
            st = sl__fail(c, vs->items[refs[i].vhost],
                          "domain '%s' of virtual host '%s' is "
                          "also in virtual host '%s'",
                          refs[i].pattern, v[refs[i].vhost].name, v[refs[i - 1].vhost].name);
    free(refs);
    return st;
}

sl_status_t sl__route_table(sl__ctx_t *c, const sl__node_t *n, sl_route_table_config_t *out)
{
    static const char *const unsup[] = {"internal_only_headers",
                                        "response_headers_to_add",
                                        "response_headers_to_remove",
                                        "request_headers_to_add",
                                        "request_headers_to_remove",
                                        "most_specific_header_mutations_wins",
                                        "validate_clusters",
                                        "max_direct_response_body_size_bytes",
                                        "cluster_specifier_plugins",
                                        "request_mirror_policies",
                                        "ignore_port_in_host_matching",
                                        "ignore_path_parameters_in_path_matching",
                                        "typed_per_filter_config",
                                        "metadata",
                                        NULL};
    static const char *const keys[] = {"name", "vhds", "virtual_hosts", NULL};
    const char *what = "route_config";
    sl_status_t st = sl__map_open(c, n, what, keys, unsup);
    if (st != SL_OK)
        return st;
    out->name = "";
    out->line = n->line;
    if ((st = sl__str(c, n, "name", what, &out->name)) ||
        (st = sl__reject(c, n, "vhds", what, "no xDS")))
        return st;
    const sl__node_t *vs = sl__get(n, "virtual_hosts");
    if (vs) {
        if ((st = sl__want_seq(c, vs, "virtual_hosts", what)) != SL_OK)
            return st;
        sl_vhost_config_t *v = vs->n ? sl__arena_alloc(c->arena, vs->n * sizeof(*v)) : NULL;
        if (vs->n && !v)
            return sl__nomem(c);
        size_t n_domains = 0;
        for (size_t i = 0; i < vs->n; i++) {
            if ((st = vhost(c, vs->items[i], &v[i])) != SL_OK)
                return st;
            n_domains += v[i].n_domains;
        }
        if ((st = domains_unique(c, vs, v, n_domains)) != SL_OK)
            return st;
        out->vhosts = v;
        out->n_vhosts = vs->n;
    }
    return sl__map_end(c, n, what, unsup);
}
