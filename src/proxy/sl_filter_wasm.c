/* envoy.filters.http.wasm: runs a Proxy-Wasm plugin as an HTTP filter. Implements the host's
 * stream interface over the connection manager's maps and buffers and maps ABI actions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_config.h"
#include "proxy/sl_filter.h"
#include "proxy/sl_log.h"
#include "proxy/sl_wasm.h"
#include "proxy/sl_worker.h"
#include "sluice/host.h"

enum { DEC = 0, ENC = 1 };

/* Per worker: the plugin and this worker's host state (owned by the HCM's config slot). */
typedef struct wf_conf {
    pw_plugin_t *plugin;   /* borrowed: the process table's */
    pw_thread_t *thread;   /* borrowed: the worker's */
    sl_worker_t *worker;   /* borrowed */
    struct wf *spare;      /* owned: freed per-stream states kept for reuse */
    unsigned n_spare;
} wf_conf_t;

/* Freed per-stream states a worker keeps, so a request does not go through malloc. */
enum { WF_SPARE = 64 };

/* Per stream; malloc'd and reference counted because a deferred task may hold it past the
 * stream (the stream's arena dies in on_destroy). */
typedef struct wf {
    sl_http_filter_t *f;   /* borrowed; valid until on_destroy (dead) */
    wf_conf_t *conf;       /* borrowed: outlives its streams; takes x back when unused */
    struct wf *next_spare;
    pw_stream_t *st;       /* owned */
    sl_worker_t *worker;   /* borrowed */
    sl_buf_t *cur[2];      /* body being offered to the plugin right now, per direction */
    int refs;
    bool in_call;          /* a pw_stream_* event is running: actions wait for its end */
    bool dead;             /* on_destroy ran: f and the arena are gone */
    bool hdr_held[2];      /* the plugin stopped headers and has not resumed them */
    bool hdr_passed[2];    /* headers left this filter */
    bool hdr_end[2];       /* the headers ended the direction (no body follows) */
    bool end_seen[2];      /* the last data/trailers of the direction reached us */
    bool body_changed[2];  /* the plugin rewrote the body before the headers passed */
    bool len_broken[2];    /* ... or changed its length after a content-length went out */
    pw_plugin_t *plugin;   /* borrowed: for log lines */
    bool resp_seen;        /* response headers exist (encode path or local reply) */
    bool in_log;           /* proxy_on_log and after: maps read-only */
    bool fail_seen;        /* an event already reported the plugin's failure (503 sent, or
                              fail-open): later events pass without the plugin */
    /* actions asked for by the plugin, run after its callback returned */
    bool want_continue[2];
    bool want_reset;
    bool want_reply;
    int reply_status;
    const char *reply_body; /* stream arena */
    size_t reply_len;
    const char *reply_details; /* stream arena */
    sl_hmap_t reply_headers;   /* stream arena */
    sl_wasm_task_t task;       /* runs the actions when they came outside our callbacks */
} wf_t;

static void wf_unref(wf_t *x)
{
    if (--x->refs > 0)
        return;
    wf_conf_t *c = x->conf;
    if (c->n_spare < WF_SPARE) {
        x->next_spare = c->spare;
        c->spare = x;
        c->n_spare++;
    } else {
        free(x);
    }
}

static void flush(wf_t *x);

static void task_run(sl_wasm_task_t *t)
{
    wf_t *x = (wf_t *)((char *)t - offsetof(wf_t, task));
    flush(x);
}

/* An action arrived: run it now if we are outside the host, after the call otherwise. */
static void want(wf_t *x)
{
    if (!x->in_call && !x->dead)
        sl_wasm_defer(x->worker, &x->task);
}

/* ---- header maps -------------------------------------------------------------------------- */

static sl_hmap_t *map_of(wf_t *x, pw_map_type_t m, bool create, pw_result_t *why)
{
    *why = PW_R_BAD_ARGUMENT;
    if (x->dead)
        return NULL;
    sl_stream_t *s = x->f->stream;
    switch (m) {
    case PW_MAP_REQUEST_HEADERS:
        return sl_stream_request_headers(s);
    case PW_MAP_REQUEST_TRAILERS:
        *why = PW_R_OK; /* absent trailers read as an empty map */
        return sl_stream_request_trailers(s, create);
    case PW_MAP_RESPONSE_HEADERS:
        return x->resp_seen ? sl_stream_response_headers(s) : NULL;
    case PW_MAP_RESPONSE_TRAILERS:
        if (!x->resp_seen)
            return NULL;
        *why = PW_R_OK;
        return sl_stream_response_trailers(s, create);
    default:
        return NULL;
    }
}

static pw_result_t writable(wf_t *x, pw_map_type_t m, bool create, sl_hmap_t **out)
{
    pw_result_t why;
    if (x->in_log)
        return PW_R_BAD_ARGUMENT;
    *out = map_of(x, m, create, &why);
    if (!*out)
        return why == PW_R_OK ? PW_R_INTERNAL_FAILURE : why;
    /* Routing reads the request headers: a rewrite of :path or :authority re-routes. */
    if (m == PW_MAP_REQUEST_HEADERS)
        sl_stream_clear_route_cache(x->f->stream);
    return PW_R_OK;
}

static pw_result_t op_map_count(void *p, pw_map_type_t m, uint32_t *count)
{
    pw_result_t why;
    sl_hmap_t *h = map_of(p, m, false, &why);
    if (!h && why != PW_R_OK)
        return why;
    *count = h ? sl_hmap_size(h) : 0;
    return PW_R_OK;
}

static pw_result_t op_map_entry(void *p, pw_map_type_t m, uint32_t i, pw_header_t *out)
{
    pw_result_t why;
    sl_hmap_t *h = map_of(p, m, false, &why);
    if (!h || i >= sl_hmap_size(h))
        return PW_R_BAD_ARGUMENT;
    const sl_header_t *e = sl_hmap_at(h, i);
    out->key = (pw_slice_t){(const uint8_t *)e->name, e->name_len};
    out->value = (pw_slice_t){(const uint8_t *)e->value, e->value_len};
    return PW_R_OK;
}

static pw_result_t op_map_get(void *p, pw_map_type_t m, pw_slice_t key, pw_slice_t *value)
{
    pw_result_t why;
    sl_hmap_t *h = map_of(p, m, false, &why);
    if (!h)
        return why == PW_R_OK ? PW_R_NOT_FOUND : why;
    size_t len = 0;
    const char *v = sl_hmap_get(h, (const char *)key.ptr, key.len, &len);
    if (!v)
        return PW_R_NOT_FOUND;
    *value = (pw_slice_t){(const uint8_t *)v, len};
    return PW_R_OK;
}

static pw_result_t op_map_add(void *p, pw_map_type_t m, pw_slice_t key, pw_slice_t value)
{
    sl_hmap_t *h;
    pw_result_t r = writable(p, m, true, &h);
    if (r != PW_R_OK)
        return r;
    return sl_hmap_add(h, (const char *)key.ptr, key.len, (const char *)value.ptr, value.len)
               ? PW_R_OK
               : PW_R_INTERNAL_FAILURE;
}

static pw_result_t op_map_replace(void *p, pw_map_type_t m, pw_slice_t key, pw_slice_t value)
{
    sl_hmap_t *h;
    pw_result_t r = writable(p, m, true, &h);
    if (r != PW_R_OK)
        return r;
    return sl_hmap_set(h, (const char *)key.ptr, key.len, (const char *)value.ptr, value.len)
               ? PW_R_OK
               : PW_R_INTERNAL_FAILURE;
}

static pw_result_t op_map_remove(void *p, pw_map_type_t m, pw_slice_t key)
{
    wf_t *x = p;
    if (x->in_log)
        return PW_R_BAD_ARGUMENT;
    pw_result_t why;
    sl_hmap_t *h = map_of(x, m, false, &why);
    if (!h)
        return why;
    if (m == PW_MAP_REQUEST_HEADERS)
        sl_stream_clear_route_cache(x->f->stream);
    sl_hmap_remove(h, (const char *)key.ptr, key.len);
    return PW_R_OK;
}

static pw_result_t op_map_set_all(void *p, pw_map_type_t m, const pw_header_t *hs, size_t n)
{
    sl_hmap_t *h;
    pw_result_t r = writable(p, m, true, &h);
    if (r != PW_R_OK)
        return r;
    sl_hmap_clear(h);
    for (size_t i = 0; i < n; i++)
        if (!sl_hmap_add(h, (const char *)hs[i].key.ptr, hs[i].key.len,
                         (const char *)hs[i].value.ptr, hs[i].value.len))
            return PW_R_INTERNAL_FAILURE;
    return PW_R_OK;
}

/* ---- body buffers ------------------------------------------------------------------------- */

static sl_buf_t *body_of(wf_t *x, pw_buffer_type_t b, int *dir)
{
    if (x->dead || (b != PW_BUFFER_REQUEST_BODY && b != PW_BUFFER_RESPONSE_BODY))
        return NULL;
    *dir = b == PW_BUFFER_REQUEST_BODY ? DEC : ENC;
    /* In a body callback: that chunk (or everything held); outside: what this filter holds. */
    return x->cur[*dir] ? x->cur[*dir] : sl_filter_held_body(x->f, *dir == DEC);
}

static pw_result_t op_buffer_size(void *p, pw_buffer_type_t b, size_t *len)
{
    int dir;
    sl_buf_t *buf = body_of(p, b, &dir);
    if (!buf)
        return PW_R_NOT_FOUND;
    *len = buf->len;
    return PW_R_OK;
}

static pw_result_t op_buffer_copy(void *p, pw_buffer_type_t b, size_t start, size_t len,
                                  uint8_t *dst)
{
    int dir;
    sl_buf_t *buf = body_of(p, b, &dir);
    if (!buf)
        return PW_R_NOT_FOUND;
    if (start > buf->len || len > buf->len - start)
        return PW_R_BAD_ARGUMENT;
    if (len)
        memcpy(dst, buf->data + start, len);
    return PW_R_OK;
}

static pw_result_t op_buffer_splice(void *p, pw_buffer_type_t b, size_t start,
                                    size_t remove_len, pw_slice_t data)
{
    wf_t *x = p;
    int dir;
    sl_buf_t *buf = body_of(x, b, &dir);
    if (!buf)
        return PW_R_NOT_FOUND;
    if (x->in_log)
        return PW_R_BAD_ARGUMENT;
    if (!sl_buf_replace(buf, start, remove_len, data.ptr, data.len))
        return PW_R_INTERNAL_FAILURE;
    if (!x->hdr_passed[dir]) {
        x->body_changed[dir] = true;
    } else if (data.len != remove_len) {
        sl_stream_t *s = x->f->stream;
        sl_hmap_t *h = dir == DEC ? sl_stream_request_headers(s) : sl_stream_response_headers(s);
        if (sl_hmap_getz(h, "content-length"))
            x->len_broken[dir] = true;
    }
    return PW_R_OK;
}

/* The headers of `dir` are about to leave this filter with a body the plugin rewrote: frame
 * it by its new length when it is whole, else let the codec frame it (chunked). */
static void fix_length(wf_t *x, int dir, const sl_buf_t *body)
{
    if (!x->body_changed[dir] || x->dead)
        return;
    x->body_changed[dir] = false;
    sl_stream_t *s = x->f->stream;
    sl_hmap_t *h = dir == DEC ? sl_stream_request_headers(s) : sl_stream_response_headers(s);
    if (x->end_seen[dir] && body) {
        char num[24];
        snprintf(num, sizeof num, "%zu", body->len);
        sl_hmap_setz(h, "content-length", num);
    } else {
        sl_hmap_removez(h, "content-length");
    }
}

/* ---- attributes (properties) -------------------------------------------------------------- */

static pw_result_t str_attr(const char *v, size_t len, pw_attr_value_t *out)
{
    return sl_wasm_attr_str(v, len, true, out);
}

static pw_result_t cstr_attr(const char *v, pw_attr_value_t *out)
{
    return sl_wasm_attr_str(v, v ? strlen(v) : 0, false, out);
}

static pw_result_t hdr_attr(sl_hmap_t *h, const char *name, pw_attr_value_t *out)
{
    size_t len = 0;
    const char *v = h ? sl_hmap_get(h, name, strlen(name), &len) : NULL;
    return str_attr(v, len, out);
}

static pw_result_t op_attr_get(void *p, pw_attr_t a, pw_attr_value_t *out)
{
    wf_t *x = p;
    if (x->dead)
        return PW_R_NOT_FOUND;
    sl_stream_t *s = x->f->stream;
    sl_hmap_t *rq = sl_stream_request_headers(s);
    sl_hmap_t *rs = x->resp_seen ? sl_stream_response_headers(s) : NULL;
    const sl_stream_info_t *in = sl_stream_info(s);
    const sl_config_t *cfg = sl_stream_worker(s)->config;
    pw_result_t r;
    if (sl_wasm_attr_common(a, cfg, sl_stream_listener(s), sl_stream_connection_id(s), out, &r))
        return r;
    size_t len = 0;
    const char *v;
    switch (a) {
    case PW_ATTR_REQUEST_PATH:
        return hdr_attr(rq, ":path", out);
    case PW_ATTR_REQUEST_URL_PATH:
        v = sl_hmap_get(rq, ":path", 5, &len);
        if (v) {
            const char *q = memchr(v, '?', len);
            if (q)
                len = (size_t)(q - v);
        }
        return str_attr(v, len, out);
    case PW_ATTR_REQUEST_QUERY:
        v = sl_hmap_get(rq, ":path", 5, &len);
        if (!v)
            return PW_R_NOT_FOUND;
        {
            const char *q = memchr(v, '?', len);
            return q ? str_attr(q + 1, len - (size_t)(q + 1 - v), out) : str_attr("", 0, out);
        }
    case PW_ATTR_REQUEST_HOST:
        return hdr_attr(rq, ":authority", out);
    case PW_ATTR_REQUEST_SCHEME:
        return hdr_attr(rq, ":scheme", out);
    case PW_ATTR_REQUEST_METHOD:
        return hdr_attr(rq, ":method", out);
    case PW_ATTR_REQUEST_REFERER:
        return hdr_attr(rq, "referer", out);
    case PW_ATTR_REQUEST_USERAGENT:
        return hdr_attr(rq, "user-agent", out);
    case PW_ATTR_REQUEST_ID:
        return hdr_attr(rq, "x-request-id", out);
    case PW_ATTR_REQUEST_PROTOCOL:
        return sl_stream_http_version(s) == 10 ? str_attr("HTTP/1.0", 8, out)
                                               : str_attr("HTTP/1.1", 8, out);
    case PW_ATTR_REQUEST_TIME:
        return sl_wasm_attr_int(sl_wasm_wall_ns_of(sl_stream_loop(s), in->start_ms), out);
    case PW_ATTR_REQUEST_DURATION: {
        uint64_t end = in->end_ms ? in->end_ms : uv_now(sl_stream_loop(s));
        return sl_wasm_attr_int((int64_t)(end - in->start_ms) * 1000000, out);
    }
    case PW_ATTR_REQUEST_SIZE:
        return sl_wasm_attr_int((int64_t)in->bytes_received, out);
    case PW_ATTR_REQUEST_TOTAL_SIZE:
        return sl_wasm_attr_int((int64_t)(in->bytes_received + rq->bytes), out);
    case PW_ATTR_RESPONSE_CODE:
        if (in->status)
            return sl_wasm_attr_int(in->status, out);
        v = rs ? sl_hmap_get(rs, ":status", 7, &len) : NULL;
        return v ? sl_wasm_attr_int(atoi(v), out) : PW_R_NOT_FOUND;
    case PW_ATTR_RESPONSE_CODE_DETAILS:
        if (in->response_details)
            return cstr_attr(in->response_details, out);
        return rs ? str_attr("via_upstream", 12, out) : PW_R_NOT_FOUND;
    case PW_ATTR_RESPONSE_FLAGS:
        return sl_wasm_attr_int(0, out);
    case PW_ATTR_RESPONSE_SIZE:
        return rs ? sl_wasm_attr_int((int64_t)in->bytes_sent, out) : PW_R_NOT_FOUND;
    case PW_ATTR_RESPONSE_TOTAL_SIZE:
        return rs ? sl_wasm_attr_int((int64_t)(in->bytes_sent + rs->bytes), out) : PW_R_NOT_FOUND;
    case PW_ATTR_SOURCE_ADDRESS:
        return cstr_attr(in->downstream_addr, out);
    case PW_ATTR_SOURCE_PORT:
        return sl_wasm_attr_port(in->downstream_addr, out);
    case PW_ATTR_DESTINATION_ADDRESS:
        return cstr_attr(in->local_addr, out);
    case PW_ATTR_DESTINATION_PORT:
        return sl_wasm_attr_port(in->local_addr, out);
    case PW_ATTR_UPSTREAM_ADDRESS:
        return cstr_attr(in->upstream_host, out);
    case PW_ATTR_UPSTREAM_PORT:
        return sl_wasm_attr_port(in->upstream_host, out);
    case PW_ATTR_CLUSTER_NAME:
        return cstr_attr(in->cluster_name, out);
    case PW_ATTR_ROUTE_NAME:
        return cstr_attr(in->route_name, out);
    default:
        return PW_R_NOT_FOUND;
    }
}

/* ---- actions ------------------------------------------------------------------------------ */

static void op_send_local_reply(void *p, uint32_t status, pw_slice_t details, pw_slice_t body,
                                const pw_header_t *hs, size_t n, int32_t grpc_status)
{
    wf_t *x = p;
    if (x->dead)
        return;
    sl_arena_t *a = sl_stream_arena(x->f->stream);
    sl_hmap_init(&x->reply_headers, a);
    for (size_t i = 0; i < n; i++)
        sl_hmap_add(&x->reply_headers, (const char *)hs[i].key.ptr, hs[i].key.len,
                    (const char *)hs[i].value.ptr, hs[i].value.len);
    if (grpc_status >= 0) {
        char num[16];
        snprintf(num, sizeof num, "%d", (int)grpc_status);
        sl_hmap_setz(&x->reply_headers, "grpc-status", num);
    }
    x->reply_status = (int)status;
    x->reply_body = body.len ? sl_arena_dup(a, body.ptr, body.len) : "";
    x->reply_len = x->reply_body ? body.len : 0;
    x->reply_details = details.len ? sl_arena_dup(a, details.ptr, details.len) : "wasm_local_reply";
    if (!x->reply_details)
        x->reply_details = "wasm_local_reply";
    x->want_reply = true;
    want(x);
}

static void op_continue_stream(void *p, pw_stream_type_t dir)
{
    wf_t *x = p;
    if (dir != PW_STREAM_REQUEST && dir != PW_STREAM_RESPONSE)
        return;
    x->want_continue[dir == PW_STREAM_REQUEST ? DEC : ENC] = true;
    want(x);
}

static void op_close_stream(void *p, pw_stream_type_t dir)
{
    (void)dir;
    wf_t *x = p;
    x->want_reset = true;
    want(x);
}

static const pw_stream_ops_t stream_ops = {
    .map_count = op_map_count,
    .map_entry = op_map_entry,
    .map_get = op_map_get,
    .map_add = op_map_add,
    .map_replace = op_map_replace,
    .map_remove = op_map_remove,
    .map_set_all = op_map_set_all,
    .buffer_size = op_buffer_size,
    .buffer_copy = op_buffer_copy,
    .buffer_splice = op_buffer_splice,
    .attr_get = op_attr_get,
    .send_local_reply = op_send_local_reply,
    .continue_stream = op_continue_stream,
    .close_stream = op_close_stream,
};

/* ---- events ------------------------------------------------------------------------------- */

static sl_filter_status_t body_status(pw_action_t a)
{
    switch (a) {
    case PW_CONTINUE:
        return SL_FILTER_CONTINUE;
    case PW_STOP_AND_BUFFER:
    case PW_STOP_ALL_BUFFER:
        return SL_FILTER_STOP_AND_BUFFER;
    default:
        return SL_FILTER_STOP;
    }
}

/* Offers the body of `dir` (b: the chunk, or everything held) to the plugin. */
static pw_action_t call_body(wf_t *x, int dir, sl_buf_t *b, bool end)
{
    x->cur[dir] = b;
    x->in_call = true;
    pw_action_t a = dir == DEC ? pw_stream_on_request_body(x->st, b->len, end)
                               : pw_stream_on_response_body(x->st, b->len, end);
    x->in_call = false;
    x->cur[dir] = NULL;
    x->fail_seen = x->fail_seen || pw_stream_failed(x->st);
    return a;
}

/* Resumes `dir` after the plugin asked to. Headers the plugin held are followed by the body
 * that arrived meanwhile, which the plugin sees first (as after Envoy's StopAllIteration). */
static void resume(wf_t *x, int dir)
{
    sl_http_filter_t *f = x->f;
    if (x->hdr_held[dir]) {
        x->hdr_held[dir] = false;
        sl_buf_t *held = sl_filter_held_body(f, dir == DEC);
        if (held->len > 0 || (x->end_seen[dir] && !x->hdr_end[dir])) {
            pw_action_t a = call_body(x, dir, held, x->end_seen[dir]);
            if (x->dead)
                return;
            if (a != PW_CONTINUE)
                return; /* the plugin keeps buffering; a later callback or continue resumes */
            held = sl_filter_held_body(f, dir == DEC);
        }
        fix_length(x, dir, held);
    } else {
        fix_length(x, dir, sl_filter_held_body(f, dir == DEC));
    }
    x->hdr_passed[dir] = true;
    if (dir == DEC)
        sl_filter_continue_decoding(f);
    else
        sl_filter_continue_encoding(f);
}

/* Runs the actions the plugin asked for, in the order Envoy gives them effect. */
static void flush(wf_t *x)
{
    x->refs++;
    while (!x->dead && !x->in_call &&
           (x->want_reply || x->want_reset || x->want_continue[DEC] || x->want_continue[ENC])) {
        if (x->want_reply) {
            x->want_reply = false;
            x->want_continue[DEC] = x->want_continue[ENC] = false;
            x->resp_seen = true;
            sl_filter_send_local_reply(x->f, x->reply_status, x->reply_body, x->reply_len,
                                       &x->reply_headers, x->reply_details);
        } else if (x->want_reset) {
            x->want_reset = false;
            sl_filter_reset_stream(x->f, "wasm_close_stream");
        } else {
            int dir = x->want_continue[DEC] ? DEC : ENC;
            x->want_continue[dir] = false;
            resume(x, dir);
        }
    }
    wf_unref(x);
}

/* After an event: run what it asked for; true when the stream is still ours. */
static bool after(wf_t *x)
{
    x->fail_seen = x->fail_seen || pw_stream_failed(x->st);
    if (!x->want_reply && !x->want_reset && !x->want_continue[DEC] && !x->want_continue[ENC])
        return !x->dead; /* the common case: the plugin asked for nothing */
    x->refs++;
    flush(x);
    bool alive = !x->dead;
    wf_unref(x);
    return alive;
}

static sl_filter_status_t on_headers(wf_t *x, int dir, sl_hmap_t *h, bool end)
{
    x->end_seen[dir] = x->hdr_end[dir] = end;
    if (dir == ENC)
        x->resp_seen = true;
    /* A failed plugin has had its say (503 once, or fail-open): let everything through,
     * including the 503 it caused. A stream whose VM was unavailable from the start fails
     * at its first event, which the host answers. */
    if (x->fail_seen)
        return SL_FILTER_CONTINUE;
    x->in_call = true;
    pw_action_t a = dir == DEC ? pw_stream_on_request_headers(x->st, sl_hmap_size(h), end)
                               : pw_stream_on_response_headers(x->st, sl_hmap_size(h), end);
    x->in_call = false;
    if (!after(x))
        return SL_FILTER_STOP;
    switch (a) {
    case PW_CONTINUE:
        x->hdr_passed[dir] = true;
        return SL_FILTER_CONTINUE;
    case PW_STOP_ITERATION:
        return SL_FILTER_STOP; /* headers only: body callbacks still reach the plugin */
    case PW_STOP_ALL_BUFFER:
        x->hdr_held[dir] = true;
        return SL_FILTER_STOP_AND_BUFFER;
    default:
        x->hdr_held[dir] = true;
        return SL_FILTER_STOP;
    }
}

static sl_filter_status_t on_data(wf_t *x, int dir, sl_buf_t *b, bool end)
{
    if (end)
        x->end_seen[dir] = true;
    if (x->fail_seen)
        return SL_FILTER_CONTINUE;
    if (x->hdr_held[dir])
        return SL_FILTER_STOP; /* no body callbacks until the plugin resumes its headers */
    pw_action_t a = call_body(x, dir, b, end);
    if (!after(x))
        return SL_FILTER_STOP;
    if (x->len_broken[dir]) {
        /* Forwarding would contradict the content-length already sent (a desynchronised or
         * smuggled message on a reused connection): end the stream instead. */
        x->len_broken[dir] = false;
        SL_ERROR("wasm [%s]: stream %llu: the plugin changed the %s body's length after its "
                 "content-length was sent; remove content-length in the headers callback to "
                 "rewrite bodies",
                 pw_plugin_name(x->plugin), (unsigned long long)sl_stream_id(x->f->stream),
                 dir == DEC ? "request" : "response");
        if (dir == DEC)
            sl_filter_send_local_reply(x->f, 500, "body length mismatch", 20, NULL,
                                       "wasm_body_length_mismatch");
        else
            sl_filter_reset_stream(x->f, "wasm_body_length_mismatch");
        return SL_FILTER_STOP;
    }
    if (a == PW_CONTINUE && !x->hdr_passed[dir]) {
        fix_length(x, dir, b);
        x->hdr_passed[dir] = true;
    }
    return body_status(a);
}

static sl_filter_status_t on_trailers(wf_t *x, int dir, sl_hmap_t *t)
{
    x->end_seen[dir] = true;
    if (x->fail_seen)
        return SL_FILTER_CONTINUE;
    if (x->hdr_held[dir])
        return SL_FILTER_STOP;
    x->in_call = true;
    pw_action_t a = dir == DEC ? pw_stream_on_request_trailers(x->st, t ? sl_hmap_size(t) : 0)
                               : pw_stream_on_response_trailers(x->st, t ? sl_hmap_size(t) : 0);
    x->in_call = false;
    if (!after(x))
        return SL_FILTER_STOP;
    if (a == PW_CONTINUE) {
        fix_length(x, dir, sl_filter_held_body(x->f, dir == DEC));
        x->hdr_passed[dir] = true;
        return SL_FILTER_CONTINUE;
    }
    return SL_FILTER_STOP;
}

static sl_filter_status_t wf_decode_headers(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    return on_headers(f->ctx, DEC, h, end);
}
static sl_filter_status_t wf_decode_data(sl_http_filter_t *f, sl_buf_t *b, bool end)
{
    return on_data(f->ctx, DEC, b, end);
}
static sl_filter_status_t wf_decode_trailers(sl_http_filter_t *f, sl_hmap_t *t)
{
    return on_trailers(f->ctx, DEC, t);
}
static sl_filter_status_t wf_encode_headers(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    return on_headers(f->ctx, ENC, h, end);
}
static sl_filter_status_t wf_encode_data(sl_http_filter_t *f, sl_buf_t *b, bool end)
{
    return on_data(f->ctx, ENC, b, end);
}
static sl_filter_status_t wf_encode_trailers(sl_http_filter_t *f, sl_hmap_t *t)
{
    return on_trailers(f->ctx, ENC, t);
}

static void wf_on_log(sl_http_filter_t *f, const sl_stream_info_t *info)
{
    (void)info;
    wf_t *x = f->ctx;
    x->in_log = true;
    x->in_call = true;
    pw_stream_on_log(x->st);
    x->in_call = false;
}

static void wf_on_destroy(sl_http_filter_t *f)
{
    wf_t *x = f->ctx;
    sl_wasm_cancel(x->worker, &x->task);
    x->in_log = true;
    x->in_call = true;
    pw_stream_free(x->st); /* proxy_on_done, proxy_on_delete: maps still readable */
    x->st = NULL;
    x->in_call = false;
    x->dead = true;
    x->want_reply = x->want_reset = x->want_continue[DEC] = x->want_continue[ENC] = false;
    f->ctx = NULL;
    wf_unref(x);
}

static const sl_http_filter_ops_t wf_ops = {
    .decode_headers = wf_decode_headers,
    .decode_data = wf_decode_data,
    .decode_trailers = wf_decode_trailers,
    .encode_headers = wf_encode_headers,
    .encode_data = wf_encode_data,
    .encode_trailers = wf_encode_trailers,
    .on_log = wf_on_log,
    .on_destroy = wf_on_destroy,
};

/* ---- factory ------------------------------------------------------------------------------ */

static bool wf_config_create(const struct sl_http_filter_config *fc, void **out, char *err,
                             size_t err_len)
{
    sl_worker_t *w = sl_worker_current();
    pw_plugin_t *p = fc->wasm ? sl_wasm_plugin(fc->wasm->index) : NULL;
    if (!w || !p) {
        snprintf(err, err_len, "wasm plugin was not loaded");
        return false;
    }
    wf_conf_t *c = calloc(1, sizeof *c);
    if (!c || !(c->thread = sl_wasm_worker_thread(w))) {
        free(c);
        snprintf(err, err_len, "out of memory");
        return false;
    }
    c->plugin = p;
    c->worker = w;
    /* Start this worker's replica now, so the first request does not pay for it. A failure
     * is remembered by the host; streams then fail open or closed as configured. */
    pw_error_t e;
    if (pw_thread_prepare(c->thread, p, &e) != PW_OK)
        SL_ERROR("wasm [%s]: %s", pw_plugin_name(p), e.message);
    *out = c;
    return true;
}

static void wf_config_destroy(void *config)
{
    wf_conf_t *c = config;
    while (c->spare) {
        wf_t *x = c->spare;
        c->spare = x->next_spare;
        free(x);
    }
    free(c);
}

static bool wf_create(const void *config, sl_http_filter_t *f)
{
    wf_conf_t *c = (wf_conf_t *)config; /* per worker: only this thread touches it */
    wf_t *x = c->spare;
    if (x) {
        c->spare = x->next_spare;
        c->n_spare--;
        memset(x, 0, sizeof *x);
    } else if (!(x = calloc(1, sizeof *x))) {
        return false;
    }
    x->f = f;
    x->conf = c;
    x->worker = c->worker;
    x->plugin = c->plugin;
    x->refs = 1;
    x->task.run = task_run;
    if (!(x->st = pw_stream_new(c->thread, c->plugin, PW_KIND_HTTP, &stream_ops, x))) {
        wf_unref(x);
        return false;
    }
    f->ops = &wf_ops;
    f->ctx = x;
    return true;
}

const sl_http_filter_factory_t sl_filter_wasm_factory = {
    .name = "envoy.filters.http.wasm",
    .type_url = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
    .config_create = wf_config_create,
    .config_destroy = wf_config_destroy,
    .create = wf_create,
};
