/* envoy.filters.network.wasm: runs a Proxy-Wasm plugin as a network (L4) filter in front of
 * tcp_proxy: connection open, bytes both ways (readable and rewritable), close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_log.h"
#include "proxy/sl_netfilter.h"
#include "proxy/sl_wasm.h"
#include "sluice/host.h"

/* Per connection; reference counted because a deferred task may outlive the connection. */
typedef struct nw {
    sl_nf_conn_t *conn;   /* borrowed; valid until destroy (dead) */
    pw_stream_t *st;      /* owned */
    sl_worker_t *worker;  /* borrowed */
    sl_buf_t *cur[2];     /* bytes being offered right now: [0] downstream, [1] upstream */
    int refs;
    bool in_call;         /* a pw_stream_* event runs: actions wait for its end */
    bool dead;
    bool closing;         /* on_close ran: the plugin's close requests are moot */
    bool fail_seen;       /* an event already reported the plugin's failure */
    bool want_continue[2];
    bool want_close;
    sl_wasm_task_t task;
} nw_t;

static void nw_unref(nw_t *x)
{
    if (--x->refs == 0)
        free(x);
}

static void flush(nw_t *x)
{
    x->refs++;
    while (!x->dead && !x->in_call && !x->closing &&
           (x->want_close || x->want_continue[0] || x->want_continue[1])) {
        if (x->want_close) {
            x->want_close = x->want_continue[0] = x->want_continue[1] = false;
            sl_nf_close(x->conn); /* destroys us (dead) through on_close and destroy */
        } else {
            int side = x->want_continue[0] ? 0 : 1;
            x->want_continue[side] = false;
            sl_nf_continue(x->conn, side == 0 ? SL_NF_DOWNSTREAM : SL_NF_UPSTREAM);
        }
    }
    nw_unref(x);
}

static void task_run(sl_wasm_task_t *t)
{
    flush((nw_t *)((char *)t - offsetof(nw_t, task)));
}

static void want(nw_t *x)
{
    if (!x->in_call && !x->dead)
        sl_wasm_defer(x->worker, &x->task);
}

/* ---- stream interface --------------------------------------------------------------------- */

static sl_buf_t *data_of(nw_t *x, pw_buffer_type_t b)
{
    if (x->dead)
        return NULL;
    if (b == PW_BUFFER_DOWNSTREAM_DATA)
        return x->cur[0];
    if (b == PW_BUFFER_UPSTREAM_DATA)
        return x->cur[1];
    return NULL;
}

static pw_result_t op_buffer_size(void *p, pw_buffer_type_t b, size_t *len)
{
    sl_buf_t *buf = data_of(p, b);
    if (!buf) {
        /* Outside a data callback the direction has nothing buffered for the plugin. */
        if (b == PW_BUFFER_DOWNSTREAM_DATA || b == PW_BUFFER_UPSTREAM_DATA) {
            *len = 0;
            return PW_R_OK;
        }
        return PW_R_NOT_FOUND;
    }
    *len = buf->len;
    return PW_R_OK;
}

static pw_result_t op_buffer_copy(void *p, pw_buffer_type_t b, size_t start, size_t len,
                                  uint8_t *dst)
{
    sl_buf_t *buf = data_of(p, b);
    if (!buf)
        return len == 0 ? PW_R_OK : PW_R_NOT_FOUND;
    if (start > buf->len || len > buf->len - start)
        return PW_R_BAD_ARGUMENT;
    if (len)
        memcpy(dst, buf->data + start, len);
    return PW_R_OK;
}

static pw_result_t op_buffer_splice(void *p, pw_buffer_type_t b, size_t start,
                                    size_t remove_len, pw_slice_t data)
{
    sl_buf_t *buf = data_of(p, b);
    if (!buf)
        return PW_R_NOT_FOUND;
    return sl_buf_replace(buf, start, remove_len, data.ptr, data.len) ? PW_R_OK
                                                                       : PW_R_INTERNAL_FAILURE;
}

static pw_result_t str_attr(const char *v, pw_attr_value_t *out)
{
    return sl_wasm_attr_str(v, v ? strlen(v) : 0, false, out);
}

static pw_result_t op_attr_get(void *p, pw_attr_t a, pw_attr_value_t *out)
{
    nw_t *x = p;
    if (x->dead)
        return PW_R_NOT_FOUND;
    const sl_listener_config_t *lc = sl_nf_listener(x->conn);
    pw_result_t r;
    if (sl_wasm_attr_common(a, sl_nf_worker(x->conn)->config, lc, sl_nf_id(x->conn), out, &r))
        return r;
    char local[96];
    switch (a) {
    case PW_ATTR_SOURCE_ADDRESS:
        return str_attr(sl_nf_downstream_address(x->conn), out);
    case PW_ATTR_SOURCE_PORT:
        return sl_wasm_attr_port(sl_nf_downstream_address(x->conn), out);
    case PW_ATTR_DESTINATION_ADDRESS:
        /* The host copies the value before this returns: a stack buffer is enough. */
        snprintf(local, sizeof local, "%s:%u", lc->address.address, (unsigned)lc->address.port);
        return str_attr(local, out);
    case PW_ATTR_DESTINATION_PORT:
        return sl_wasm_attr_int(lc->address.port, out);
    case PW_ATTR_UPSTREAM_ADDRESS:
        return str_attr(sl_nf_upstream_address(x->conn), out);
    case PW_ATTR_UPSTREAM_PORT:
        return sl_wasm_attr_port(sl_nf_upstream_address(x->conn), out);
    default:
        return PW_R_NOT_FOUND;
    }
}

static void op_continue_stream(void *p, pw_stream_type_t dir)
{
    nw_t *x = p;
    if (dir == PW_STREAM_DOWNSTREAM)
        x->want_continue[0] = true;
    else if (dir == PW_STREAM_UPSTREAM)
        x->want_continue[1] = true;
    else
        return;
    want(x);
}

static void op_close_stream(void *p, pw_stream_type_t dir)
{
    (void)dir; /* either side: the proxied connection ends as a whole */
    nw_t *x = p;
    x->want_close = true;
    want(x);
}

static const pw_stream_ops_t stream_ops = {
    .buffer_size = op_buffer_size,
    .buffer_copy = op_buffer_copy,
    .buffer_splice = op_buffer_splice,
    .attr_get = op_attr_get,
    .continue_stream = op_continue_stream,
    .close_stream = op_close_stream,
};

/* ---- network filter ----------------------------------------------------------------------- */

static sl_status_t nw_configure(const sl_network_filter_config_t *cfg, void **shared, char *err,
                                size_t err_len)
{
    pw_plugin_t *p = cfg->wasm ? sl_wasm_plugin(cfg->wasm->index) : NULL;
    if (!p) {
        snprintf(err, err_len, "network filter '%s' (line %u): its wasm plugin was not loaded",
                 cfg->name, cfg->line);
        return SL_ERR_CONFIG;
    }
    *shared = p;
    return SL_OK;
}

static void *nw_create(void *shared, sl_nf_conn_t *conn, bool *ok)
{
    sl_worker_t *w = sl_nf_worker(conn);
    pw_thread_t *t = sl_wasm_worker_thread(w);
    nw_t *x = t ? calloc(1, sizeof *x) : NULL;
    if (!x) {
        *ok = false;
        return NULL;
    }
    x->conn = conn;
    x->worker = w;
    x->refs = 1;
    x->task.run = task_run;
    if (!(x->st = pw_stream_new(t, shared, PW_KIND_TCP, &stream_ops, x))) {
        free(x);
        *ok = false;
        return NULL;
    }
    return x;
}

static sl_nf_status_t status_of(pw_action_t a)
{
    return a == PW_CONTINUE ? SL_NF_CONTINUE : SL_NF_STOP;
}

/* After an event: runs the plugin's requests; false when the connection went away. */
static bool after(nw_t *x)
{
    x->fail_seen = x->fail_seen || pw_stream_failed(x->st);
    x->refs++;
    flush(x);
    bool alive = !x->dead;
    nw_unref(x);
    return alive;
}

static sl_nf_status_t nw_new_connection(void *state, sl_nf_conn_t *conn)
{
    (void)conn;
    nw_t *x = state;
    x->in_call = true;
    pw_action_t a = pw_stream_on_new_connection(x->st);
    x->in_call = false;
    if (!after(x))
        return SL_NF_STOP;
    return status_of(a);
}

static sl_nf_status_t on_data(nw_t *x, int side, sl_buf_t *data, bool end)
{
    if (x->fail_seen)
        return x->want_close ? SL_NF_STOP : SL_NF_CONTINUE; /* fail-open passes bytes */
    x->cur[side] = data;
    x->in_call = true;
    pw_action_t a = side == 0 ? pw_stream_on_downstream_data(x->st, data->len, end)
                              : pw_stream_on_upstream_data(x->st, data->len, end);
    x->in_call = false;
    x->cur[side] = NULL;
    if (!after(x))
        return SL_NF_STOP;
    return status_of(a);
}

static sl_nf_status_t nw_down(void *state, sl_nf_conn_t *conn, sl_buf_t *data, bool end)
{
    (void)conn;
    return on_data(state, 0, data, end);
}

static sl_nf_status_t nw_up(void *state, sl_nf_conn_t *conn, sl_buf_t *data, bool end)
{
    (void)conn;
    return on_data(state, 1, data, end);
}

static void nw_close(void *state, sl_nf_conn_t *conn, sl_nf_close_t why)
{
    (void)conn;
    nw_t *x = state;
    x->closing = true;
    sl_wasm_cancel(x->worker, &x->task);
    /* The side that ended first is the remote one; the other is closed by sluice. */
    x->in_call = true;
    pw_stream_on_downstream_close(x->st, why == SL_NF_CLOSE_DOWNSTREAM ? PW_PEER_REMOTE
                                                                       : PW_PEER_LOCAL);
    pw_stream_on_upstream_close(x->st, why == SL_NF_CLOSE_UPSTREAM ? PW_PEER_REMOTE
                                                                   : PW_PEER_LOCAL);
    x->in_call = false;
}

static void nw_destroy(void *state)
{
    nw_t *x = state;
    if (!x)
        return;
    sl_wasm_cancel(x->worker, &x->task);
    x->in_call = true;
    pw_stream_free(x->st); /* proxy_on_done, proxy_on_log, proxy_on_delete */
    x->st = NULL;
    x->dead = true;
    nw_unref(x);
}

static const sl_netfilter_ops_t nw_ops = {
    .name = "envoy.filters.network.wasm",
    .configure = nw_configure,
    .create = nw_create,
    .on_new_connection = nw_new_connection,
    .on_downstream_data = nw_down,
    .on_upstream_data = nw_up,
    .on_close = nw_close,
    .destroy = nw_destroy,
};

void sl_netfilter_wasm_register(void)
{
    sl_netfilter_register(SL_NETWORK_FILTER_WASM, &nw_ops);
}
