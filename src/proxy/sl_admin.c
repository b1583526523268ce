/* The admin HTTP server: a deliberately small HTTP/1.1 responder on the main loop (one request
 * per connection, Connection: close) serving readiness, stats, config and control endpoints. */
#include "proxy/sl_admin.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "proxy/sl_log.h"
#include "proxy/sl_stats.h"
#include "sluice/host.h"

#define ADMIN_MAX_REQUEST_BYTES 16384

/* A growable byte string for building responses (admin only, never on the request path). */
typedef struct sbuf {
    char *p; /* owned */
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

static void sb_json_str(sbuf_t *b, const char *s, size_t n)
{
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        default:
            if (c < 0x20)
                sb_printf(b, "\\u%04x", c);
            else
                sb_put(b, (const char *)&s[i], 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* ---- YAML -> JSON (for /config_dump) --------------------------------------------------- */

static bool plain_is_json_literal(const char *s, size_t n)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++)
        if (n == strlen(words[i]) && memcmp(s, words[i], n) == 0)
            return true;
    if (n == 0)
        return false;
    /* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    size_t i = 0;
    if (s[i] == '-')
        i++;
    if (i >= n || !isdigit((unsigned char)s[i]))
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return false;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return false;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    return i == n;
}

bool sl_admin_yaml_to_json(const char *yaml, size_t len, char **out, char *err, size_t err_len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    sbuf_t b = {0};
    /* Per nesting level: is it a mapping, and how many items (keys count once) so far. */
    struct {
        bool map;
        size_t items;
    } stack[64];
    int depth = -1;
    bool ok = false, done = false, have_root = false;

    *out = NULL;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, err_len, "yaml parser: out of memory");
        return false;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, err_len, "yaml: %s at line %zu", p.problem ? p.problem : "error",
                     p.problem_mark.line + 1);
            goto fail;
        }
        bool is_value_start = ev.type == YAML_SCALAR_EVENT || ev.type == YAML_ALIAS_EVENT ||
                              ev.type == YAML_SEQUENCE_START_EVENT ||
                              ev.type == YAML_MAPPING_START_EVENT;
        if (is_value_start && depth >= 0) {
            size_t k = stack[depth].items++;
            if (stack[depth].map)
                sb_puts(&b, k == 0 ? "" : (k % 2 == 1 ? ":" : ","));
            else if (k > 0)
                sb_puts(&b, ",");
        } else if (is_value_start) {
            if (have_root) {
                yaml_event_delete(&ev);
                continue; /* only the first document is dumped */
            }
            have_root = true;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (depth + 1 >= (int)(sizeof stack / sizeof stack[0])) {
                snprintf(err, err_len, "yaml: nesting deeper than 64 levels");
                yaml_event_delete(&ev);
                goto fail;
            }
            depth++;
            stack[depth].map = ev.type == YAML_MAPPING_START_EVENT;
            stack[depth].items = 0;
            sb_puts(&b, stack[depth].map ? "{" : "[");
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            sb_puts(&b, stack[depth].map ? "}" : "]");
            depth--;
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            size_t n = ev.data.scalar.length;
            bool is_key = depth >= 0 && stack[depth].map && stack[depth].items % 2 == 1;
            if (!is_key && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                plain_is_json_literal(v, n))
                sb_put(&b, v, n);
            else if (!is_key && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                     (n == 0 || (n == 1 && v[0] == '~')))
                sb_puts(&b, "null");
            else
                sb_json_str(&b, v, n);
            break;
        }
        case YAML_ALIAS_EVENT:
            sb_puts(&b, "null"); /* aliases are not expanded in the dump */
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    if (!have_root)
        sb_puts(&b, "null");
    if (b.oom) {
        snprintf(err, err_len, "yaml to json: out of memory");
        goto fail;
    }
    *out = b.p;
    b.p = NULL;
    ok = true;
fail:
    free(b.p);
    yaml_parser_delete(&p);
    return ok;
}

/* ---- stats renderings ------------------------------------------------------------------- */

typedef struct stats_ctx {
    sbuf_t *b;
    regex_t *filter; /* borrowed, NULL = all */
    bool used_only;
    const char *last_type_name;
} stats_ctx_t;

static void stat_text(void *ctx, const char *name, sl_stat_kind_t kind, int64_t value)
{
    stats_ctx_t *c = ctx;
    if (c->filter && regexec(c->filter, name, 0, NULL, 0) != 0)
        return;
    if (c->used_only && value == 0)
        return;
    if (kind == SL_STAT_COUNTER)
        sb_printf(c->b, "%s: %" PRIu64 "\n", name, (uint64_t)value);
    else
        sb_printf(c->b, "%s: %" PRId64 "\n", name, value);
}

static void stat_json(void *ctx, const char *name, sl_stat_kind_t kind, int64_t value)
{
    stats_ctx_t *c = ctx;
    if (c->filter && regexec(c->filter, name, 0, NULL, 0) != 0)
        return;
    if (c->used_only && value == 0)
        return;
    sb_puts(c->b, c->last_type_name ? ",{\"name\":" : "{\"name\":");
    c->last_type_name = name;
    sb_json_str(c->b, name, strlen(name));
    if (kind == SL_STAT_COUNTER)
        sb_printf(c->b, ",\"value\":%" PRIu64 "}", (uint64_t)value);
    else
        sb_printf(c->b, ",\"value\":%" PRId64 "}", value);
}

/* Prometheus: Envoy's tag extraction for the families sluice defines, so dashboards made for
 * Envoy read sluice unchanged: "cluster.<name>.<rest>" becomes
 * envoy_cluster_<rest>{envoy_cluster_name="<name>"} (the name ends at the first '.', as in
 * Envoy's default extractor), likewise http., tcp. and listener. (+ worker_<n>). */
typedef struct prom_series {
    char family[160]; /* metric name without labels */
    char labels[200]; /* "{...}" or "" */
    sl_stat_kind_t kind;
    int64_t value;
} prom_series_t;

typedef struct prom_ctx {
    prom_series_t *items; /* owned */
    size_t n, cap;
    bool oom;
} prom_ctx_t;

static void sanitize(char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            *s = '_';
}

static void prom_collect(void *ctx, const char *name, sl_stat_kind_t kind, int64_t value)
{
    static const struct {
        const char *prefix, *label;
    } families[] = {
        {"cluster.", "envoy_cluster_name"},
        {"http.", "envoy_http_conn_manager_prefix"},
        {"tcp.", "envoy_tcp_prefix"},
        {"listener.", "envoy_listener_address"},
    };
    prom_ctx_t *c = ctx;
    if (c->oom)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        prom_series_t *p = realloc(c->items, cap * sizeof *p);
        if (!p) {
            c->oom = true;
            return;
        }
        c->items = p;
        c->cap = cap;
    }
    prom_series_t *ps = &c->items[c->n++];
    ps->kind = kind;
    ps->value = value;
    ps->labels[0] = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        size_t pl = strlen(families[i].prefix);
        if (strncmp(name, families[i].prefix, pl) != 0)
            continue;
        /* The stat itself is the last component; what lies between the prefix and it is the
         * tag value (listener addresses and cluster names may contain dots). Listeners may
         * have a "worker_<n>" component before the stat. */
        const char *tag = name + pl, *dot = strrchr(tag, '.');
        if (!dot || dot == tag)
            continue;
        const char *rest = dot + 1;
        char worker[32] = "";
        const char *w = NULL;
        if (i == 3) {
            for (const char *q = tag; q < dot; q++)
                if (q[0] == '.' && strncmp(q + 1, "worker_", 7) == 0)
                    w = q;
        }
        if (w && w > tag) {
            snprintf(worker, sizeof worker, ",envoy_worker_id=\"%.*s\"",
                     (int)(dot - (w + 8)), w + 8);
            snprintf(ps->family, sizeof ps->family, "envoy_listener_worker_%s", rest);
            dot = w;
        } else {
            snprintf(ps->family, sizeof ps->family, "envoy_%.*s_%s", (int)(pl - 1),
                     families[i].prefix, rest);
        }
        sanitize(ps->family);
        char value_text[128];
        size_t vl = (size_t)(dot - tag) < sizeof value_text - 1 ? (size_t)(dot - tag)
                                                                : sizeof value_text - 1;
        size_t o = 0;
        for (size_t k = 0; k < vl && o + 2 < sizeof value_text; k++) {
            if (tag[k] == '"' || tag[k] == '\\')
                value_text[o++] = '\\';
            value_text[o++] = tag[k];
        }
        value_text[o] = 0;
        snprintf(ps->labels, sizeof ps->labels, "{%s=\"%s\"%s}", families[i].label,
                 value_text, worker);
        return;
    }
    snprintf(ps->family, sizeof ps->family, "envoy_%s", name);
    sanitize(ps->family);
}

/* ---- plugin metrics (proxy_define_metric), kept by the Wasm host ---------------------------- */

/* "wasmcustom.<name>" as Envoy names them in /stats. */
static void wasm_stat_name(const pw_metric_info_t *m, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", PW_METRIC_NAMESPACE, m->name);
}

static void wasm_text(void *ud, const pw_metric_info_t *m)
{
    stats_ctx_t *c = ud;
    char name[512];
    wasm_stat_name(m, name, sizeof name);
    if (c->filter && regexec(c->filter, name, 0, NULL, 0) != 0)
        return;
    uint64_t v = m->type == PW_METRIC_HISTOGRAM ? m->count : m->value;
    if (c->used_only && v == 0)
        return;
    if (m->type == PW_METRIC_HISTOGRAM)
        sb_printf(c->b, "%s: count=%" PRIu64 " sum=%" PRIu64 "\n", name, m->count, m->sum);
    else if (m->type == PW_METRIC_GAUGE)
        sb_printf(c->b, "%s: %" PRId64 "\n", name, (int64_t)m->value);
    else
        sb_printf(c->b, "%s: %" PRIu64 "\n", name, m->value);
}

static void wasm_json(void *ud, const pw_metric_info_t *m)
{
    stats_ctx_t *c = ud;
    char name[512];
    wasm_stat_name(m, name, sizeof name);
    if (c->filter && regexec(c->filter, name, 0, NULL, 0) != 0)
        return;
    uint64_t v = m->type == PW_METRIC_HISTOGRAM ? m->count : m->value;
    if (c->used_only && v == 0)
        return;
    sb_puts(c->b, c->last_type_name ? ",{\"name\":" : "{\"name\":");
    c->last_type_name = m->name;
    sb_json_str(c->b, name, strlen(name));
    if (m->type == PW_METRIC_HISTOGRAM)
        sb_printf(c->b, ",\"count\":%" PRIu64 ",\"sum\":%" PRIu64 "}", m->count, m->sum);
    else if (m->type == PW_METRIC_GAUGE)
        sb_printf(c->b, ",\"value\":%" PRId64 "}", (int64_t)m->value);
    else
        sb_printf(c->b, ",\"value\":%" PRIu64 "}", m->value);
}

/* Prometheus: the bare sanitized name (Envoy strips the wasmcustom namespace), histograms as
 * cumulative buckets with _sum and _count. */
static void wasm_prom(void *ud, const pw_metric_info_t *m)
{
    sbuf_t *b = ud;
    char name[512];
    pw_metric_prometheus_name(m->name, name, sizeof name);
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    sb_printf(b, "# TYPE %s %s\n", name, kinds[m->type]);
    if (m->type == PW_METRIC_COUNTER) {
        sb_printf(b, "%s %" PRIu64 "\n", name, m->value);
    } else if (m->type == PW_METRIC_GAUGE) {
        sb_printf(b, "%s %" PRId64 "\n", name, (int64_t)m->value);
    } else {
        for (int i = 0; i < PW_HISTOGRAM_BUCKETS; i++)
            sb_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, m->bounds[i],
                      m->cumulative[i]);
        sb_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, m->count);
        sb_printf(b, "%s_sum %" PRIu64 "\n%s_count %" PRIu64 "\n", name, m->sum, name,
                  m->count);
    }
}

static int prom_order(const void *a, const void *b)
{
    const prom_series_t *x = a, *y = b;
    int d = strcmp(x->family, y->family);
    return d ? d : strcmp(x->labels, y->labels);
}

static bool prom_render(sbuf_t *b)
{
    prom_ctx_t c = {0};
    if (!sl_stats_visit(prom_collect, &c) || c.oom) {
        free(c.items);
        return false;
    }
    if (c.n)
        qsort(c.items, c.n, sizeof *c.items, prom_order);
    for (size_t i = 0; i < c.n; i++) {
        const prom_series_t *ps = &c.items[i];
        if (i == 0 || strcmp(ps->family, c.items[i - 1].family) != 0)
            sb_printf(b, "# TYPE %s %s\n", ps->family,
                      ps->kind == SL_STAT_COUNTER ? "counter" : "gauge");
        if (ps->kind == SL_STAT_COUNTER)
            sb_printf(b, "%s%s %" PRIu64 "\n", ps->family, ps->labels, (uint64_t)ps->value);
        else
            sb_printf(b, "%s%s %" PRId64 "\n", ps->family, ps->labels, ps->value);
    }
    free(c.items);
    pw_metrics_foreach(wasm_prom, b);
    return !b->oom;
}

char *sl_admin_prometheus_text(void)
{
    sbuf_t b = {0};
    sb_puts(&b, "");
    if (!prom_render(&b)) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the server --------------------------------------------------------------------------- */

struct sl_admin {
    sl_server_t *server; /* borrowed: owns this admin */
    uv_tcp_t listener;
    uint16_t port;
    size_t open_conns; /* admin connections not yet closed (free waits for 0) */
    bool stopping;
    bool listener_closed;
};

typedef struct admin_conn {
    uv_tcp_t tcp;
    sl_admin_t *admin;         /* borrowed */
    char req[ADMIN_MAX_REQUEST_BYTES]; /* the request head as read */
    size_t req_len;
    bool responded;
    uv_write_t write;
    sbuf_t out;                /* owned: the response being written */
} admin_conn_t;

static void maybe_free_admin(sl_admin_t *a)
{
    if (a->stopping && a->listener_closed && a->open_conns == 0)
        free(a);
}

static void conn_closed(uv_handle_t *h)
{
    admin_conn_t *c = h->data;
    sl_admin_t *a = c->admin;
    free(c->out.p);
    free(c);
    a->open_conns--;
    maybe_free_admin(a);
}

static void conn_close(admin_conn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void written(uv_write_t *w, int status)
{
    (void)status;
    admin_conn_t *c = w->data;
    conn_close(c);
}

static void respond(admin_conn_t *c, int status, const char *ctype, const char *body,
                    size_t body_len)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 503 ? "Service Unavailable"
                                         : "Internal Server Error";
    sb_printf(&c->out,
              "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
              "cache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\n"
              "connection: close\r\n\r\n",
              status, reason, ctype, body_len);
    sb_put(&c->out, body, body_len);
    c->responded = true;
    if (c->out.oom) {
        conn_close(c);
        return;
    }
    uv_buf_t buf = uv_buf_init(c->out.p, (unsigned)c->out.len);
    c->write.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, written) != 0)
        conn_close(c);
}

static void respond_text(admin_conn_t *c, int status, const char *text)
{
    respond(c, status, "text/plain; charset=UTF-8", text, strlen(text));
}

/* Finds query parameter `key` in `query` (no leading '?'); copies its value, %-decoded. */
static bool query_param(const char *query, const char *key, char *val, size_t val_len)
{
    size_t klen = strlen(key);
    const char *p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n >= klen && memcmp(p, key, klen) == 0 && (n == klen || p[klen] == '=')) {
            const char *v = n == klen ? p + n : p + klen + 1;
            size_t vn = (size_t)(p + n - v), o = 0;
            for (size_t i = 0; i < vn && o + 1 < val_len; i++) {
                if (v[i] == '%' && i + 2 < vn && isxdigit((unsigned char)v[i + 1]) &&
                    isxdigit((unsigned char)v[i + 2])) {
                    char hex[3] = {v[i + 1], v[i + 2], 0};
                    val[o++] = (char)strtol(hex, NULL, 16);
                    i += 2;
                } else {
                    val[o++] = v[i] == '+' ? ' ' : v[i];
                }
            }
            val[o] = 0;
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void handle_stats(admin_conn_t *c, const char *query, bool prometheus)
{
    sbuf_t b = {0};
    regex_t re;
    char filter[256], format[32];
    stats_ctx_t ctx = {.b = &b};
    bool have_re = false;
    if (query && query_param(query, "filter", filter, sizeof filter) && filter[0]) {
        if (regcomp(&re, filter, REG_EXTENDED | REG_NOSUB) != 0) {
            respond_text(c, 400, "Invalid regex for filter\n");
            return;
        }
        have_re = true;
        ctx.filter = &re;
    }
    ctx.used_only = query && query_param(query, "usedonly", format, sizeof format);
    bool json = query && query_param(query, "format", format, sizeof format) &&
                strcmp(format, "json") == 0;
    if (prometheus || (query && query_param(query, "format", format, sizeof format) &&
                       strcmp(format, "prometheus") == 0)) {
        sb_puts(&b, "");
        prom_render(&b);
        respond(c, 200, "text/plain; version=0.0.4", b.p, b.len);
    } else if (json) {
        sb_puts(&b, "{\"stats\":[");
        sl_stats_visit(stat_json, &ctx);
        pw_metrics_foreach(wasm_json, &ctx);
        sb_puts(&b, "]}\n");
        respond(c, 200, "application/json", b.p, b.len);
    } else {
        sb_puts(&b, "");
        sl_stats_visit(stat_text, &ctx);
        pw_metrics_foreach(wasm_text, &ctx);
        respond(c, 200, "text/plain; charset=UTF-8", b.p, b.len);
    }
    if (have_re)
        regfree(&re);
    free(b.p);
}

static void handle_config_dump(admin_conn_t *c)
{
    sl_server_t *s = c->admin->server;
    char *json = NULL, err[256];
    const char *text = s->config_text ? s->config_text : "";
    if (!sl_admin_yaml_to_json(text, strlen(text), &json, err, sizeof err)) {
        respond_text(c, 500, err);
        return;
    }
    sbuf_t b = {0};
    sb_puts(&b, "{\"configs\":[{\"@type\":\"type.googleapis.com/envoy.admin.v3."
                "BootstrapConfigDump\",\"bootstrap\":");
    sb_puts(&b, json);
    sb_puts(&b, "}]}\n");
    free(json);
    respond(c, 200, "application/json", b.p, b.len);
    free(b.p);
}

static void handle_server_info(admin_conn_t *c)
{
    sl_server_t *s = c->admin->server;
    sbuf_t b = {0};
    uint64_t now = (uint64_t)time(NULL);
    uint64_t up = now > s->start_time_ms / 1000 ? now - s->start_time_ms / 1000 : 0;
    sb_puts(&b, "{\"version\":\"sluice/" SL_VERSION "\",\"state\":");
    const char *st = sl_server_state_name(s->state);
    sb_json_str(&b, st, strlen(st));
    sb_printf(&b, ",\"uptime_current_epoch\":\"%" PRIu64 "s\",\"uptime_all_epochs\":\"%" PRIu64
                  "s\",\"command_line_options\":{\"concurrency\":%u,\"config_path\":",
              up, up, s->n_workers);
    const char *cp = s->opt.config_path ? s->opt.config_path : "";
    sb_json_str(&b, cp, strlen(cp));
    const char *lvl = sl_log_level_name(sl_log_get_level());
    sb_puts(&b, ",\"log_level\":");
    sb_json_str(&b, lvl, strlen(lvl));
    sb_printf(&b, ",\"drain_time\":\"%us\",\"mode\":\"Serve\"}}\n", s->opt.drain_time_s);
    respond(c, 200, "application/json", b.p, b.len);
    free(b.p);
}

static void handle_logging(admin_conn_t *c, const char *query)
{
    char level[32];
    if (query && query_param(query, "level", level, sizeof level)) {
        sl_log_level_t l;
        if (!sl_log_level_parse(level, &l)) {
            respond_text(c, 400, "invalid log level; use trace, debug, info, warning, error, "
                                 "critical or off\n");
            return;
        }
        sl_log_set_level(l);
        SL_INFO("admin: log level set to %s", sl_log_level_name(l));
    }
    char body[64];
    snprintf(body, sizeof body, "active loggers:\n  sluice: %s\n",
             sl_log_level_name(sl_log_get_level()));
    respond_text(c, 200, body);
}

static const char help_text[] =
    "admin commands are:\n"
    "  /: this page\n"
    "  /config_dump: the configuration as loaded, as JSON\n"
    "  /help: this page\n"
    "  /logging: change the log level (POST /logging?level=debug)\n"
    "  /quitquitquit: exit the server (POST)\n"
    "  /ready: LIVE when the server serves\n"
    "  /server_info: version, state, uptime and command line, as JSON\n"
    "  /stats: every stat as \"name: value\" (?filter=REGEX, ?usedonly, ?format=json)\n"
    "  /stats/prometheus: every stat in the Prometheus text format\n";

static void dispatch(admin_conn_t *c, const char *method, char *target)
{
    sl_server_t *s = c->admin->server;
    char *query = strchr(target, '?');
    if (query)
        *query++ = 0;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    SL_DEBUG("admin: %s %s", method, target);
    if (strcmp(target, "/ready") == 0 && get) {
        if (s->state == SL_SERVER_LIVE)
            respond_text(c, 200, "LIVE\n");
        else if (s->state == SL_SERVER_INITIALIZING)
            respond_text(c, 503, "PRE_INITIALIZING\n");
        else
            respond_text(c, 503, "DRAINING\n");
    } else if (strcmp(target, "/stats") == 0 && get) {
        handle_stats(c, query, false);
    } else if (strcmp(target, "/stats/prometheus") == 0 && get) {
        handle_stats(c, query, true);
    } else if (strcmp(target, "/config_dump") == 0 && get) {
        handle_config_dump(c);
    } else if (strcmp(target, "/server_info") == 0 && get) {
        handle_server_info(c);
    } else if ((strcmp(target, "/") == 0 || strcmp(target, "/help") == 0) && get) {
        respond_text(c, 200, help_text);
    } else if (strcmp(target, "/quitquitquit") == 0 && post) {
        respond_text(c, 200, "OK\n");
        SL_INFO("admin: /quitquitquit: shutting down");
        sl_server_shutdown(s, false);
    } else if (strcmp(target, "/logging") == 0 && post) {
        handle_logging(c, query);
    } else if (strcmp(target, "/quitquitquit") == 0 || strcmp(target, "/logging") == 0) {
        respond_text(c, 405, "This endpoint requires POST\n");
    } else if (strcmp(target, "/ready") == 0 || strcmp(target, "/stats") == 0 ||
               strcmp(target, "/stats/prometheus") == 0 ||
               strcmp(target, "/config_dump") == 0 || strcmp(target, "/server_info") == 0) {
        respond_text(c, 405, "This endpoint requires GET\n");
    } else {
        respond_text(c, 404, "invalid path; see /help\n");
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    admin_conn_t *c = h->data;
    size_t room = sizeof c->req - 1 - c->req_len;
    *buf = uv_buf_init(c->req + c->req_len, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    admin_conn_t *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->req_len += (size_t)nread;
    c->req[c->req_len] = 0;
    char *end = strstr(c->req, "\r\n\r\n");
    if (!end) {
        if (c->req_len >= sizeof c->req - 1)
            respond_text(c, 400, "request head too large\n");
        return;
    }
    /* Request line: METHOD SP target SP version. The body (if any) is ignored: no admin
     * endpoint takes one. */
    char method[16], target[2048], version[16];
    if (sscanf(c->req, "%15s %2047s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        respond_text(c, 400, "bad request line\n");
        return;
    }
    dispatch(c, method, target);
}

static void on_connection(uv_stream_t *server, int status)
{
    sl_admin_t *a = server->data;
    if (status < 0 || a->stopping)
        return;
    admin_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->admin = a;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    a->open_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void listener_closed(uv_handle_t *h)
{
    sl_admin_t *a = h->data;
    a->listener_closed = true;
    maybe_free_admin(a);
}

sl_admin_t *sl_admin_start(sl_server_t *s, const char *address, uint16_t port, char *err,
                           size_t err_len)
{
    struct sockaddr_storage ss;
    int rc;
    sl_admin_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_len, "admin: out of memory");
        return NULL;
    }
    a->server = s;
    if (uv_ip4_addr(address, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(address, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, err_len, "admin %s:%u: not an IP address", address, port);
        free(a);
        return NULL;
    }
    uv_tcp_init(&s->loop, &a->listener);
    a->listener.data = a;
    if ((rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&a->listener, 128, on_connection)) != 0) {
        snprintf(err, err_len, "admin %s:%u: %s", address, port, uv_strerror(rc));
        /* Freed by the close callback when the caller runs the loop to close handles. */
        a->stopping = true;
        uv_close((uv_handle_t *)&a->listener, listener_closed);
        return NULL;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&a->listener, (struct sockaddr *)&bound, &blen);
    a->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    SL_INFO("admin listening on %s:%u", address, a->port);
    return a;
}

uint16_t sl_admin_port(const sl_admin_t *a)
{
    return a->port;
}

static void close_conn_walk(uv_handle_t *h, void *arg)
{
    sl_admin_t *a = arg;
    if (h->type == UV_TCP && h != (uv_handle_t *)&a->listener && h->data) {
        admin_conn_t *c = h->data;
        if (c->admin == a && !c->responded)
            conn_close(c);
    }
}

void sl_admin_stop(sl_admin_t *a)
{
    if (!a || a->stopping)
        return;
    a->stopping = true;
    uv_close((uv_handle_t *)&a->listener, listener_closed);
    /* Connections still reading a request are closed; those writing a response finish. */
    uv_walk(a->listener.loop, close_conn_walk, a);
}
