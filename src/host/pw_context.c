/* Root and stream contexts: lifecycles in Envoy's order (ABI 7), return-value conversion
 * (ABI 8), deferred plugin actions and the failure policy for traps (ABI 11.5, 11.6). */
#include "pw_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- roots ------------------------------------------------------------------------------- */

pw_status_t pw__root_start(pw_vm_t *vm, pw_plugin_t *p, pw_root_t **out, pw_error_t *err)
{
    pw_root_t *r = calloc(1, sizeof *r);
    if (!r) {
        if (err) {
            err->status = PW_ERR_NOMEM;
            snprintf(err->message, sizeof err->message, "out of memory creating root context");
        }
        return PW_ERR_NOMEM;
    }
    r->ctx.kind = PW_CTX_ROOT;
    r->ctx.vm = vm;
    r->ctx.plugin = p;
    r->plugin = pw_plugin_ref(p);
    r->ctx.id = pw__vm_new_id(vm);
    pw__ctx_link(vm, &r->ctx);
    r->next_root = vm->roots;
    vm->roots = r;

    /* ABI 7.2: context_create(root, 0), vm_start(root, |vm config|), configure(root, |conf|). */
    wa_value_t a[2] = {{.i32 = (int32_t)r->ctx.id}, {.i32 = 0}};
    int32_t ok = 1;
    pw_status_t st = pw__vm_call(vm, &r->ctx, PW_CB_CONTEXT_CREATE, a, 2, NULL);
    const char *what = "proxy_on_context_create";
    if (st == PW_OK || st == PW_ERR_ARG) {
        a[1].i32 = (int32_t)p->vm_config_len;
        r->in_vm_start = true;
        st = pw__vm_call(vm, &r->ctx, PW_CB_VM_START, a, 2, &ok);
        r->in_vm_start = false;
        what = "proxy_on_vm_start";
    }
    if ((st == PW_OK || st == PW_ERR_ARG) && ok) {
        a[1].i32 = (int32_t)p->plugin_config_len;
        r->in_configure = true;
        st = pw__vm_call(vm, &r->ctx, PW_CB_CONFIGURE, a, 2, &ok);
        r->in_configure = false;
        what = "proxy_on_configure";
    }
    if ((st == PW_OK || st == PW_ERR_ARG) && ok) {
        *out = r;
        return PW_OK;
    }
    pw_status_t ret = st == PW_OK || st == PW_ERR_ARG
                          ? (strcmp(what, "proxy_on_vm_start") == 0 ? PW_ERR_START
                                                                    : PW_ERR_CONFIGURE)
                          : PW_ERR_TRAP;
    if (err) {
        err->status = ret;
        if (ret == PW_ERR_TRAP)
            snprintf(err->message, sizeof err->message, "%s: %s trapped: %s: %s", p->who, what,
                     wa_trap_kind_str(vm->trap.kind), vm->trap.message);
        else
            snprintf(err->message, sizeof err->message, "%s: %s returned false", p->who, what);
    }
    pw__root_end(r);
    return ret;
}

/* ABI 7.7: done, then delete when done says true (at shutdown we do not wait longer). */
void pw__root_end(pw_root_t *r)
{
    if (r->deleted)
        return;
    pw_vm_t *vm = r->ctx.vm;
    if (!vm->broken) {
        wa_value_t a = {.i32 = (int32_t)r->ctx.id};
        int32_t done = 1;
        pw__vm_call(vm, &r->ctx, PW_CB_DONE, &a, 1, &done);
        pw__vm_call(vm, &r->ctx, PW_CB_DELETE, &a, 1, NULL);
    }
    pw__root_detach(r);
    r->deleted = true;
    pw__ctx_unlink(vm, &r->ctx);
}

void pw__root_detach(pw_root_t *r)
{
    if (r->detached)
        return;
    r->detached = true;
    pw_thread_t *t = r->ctx.vm->thread;
    if (r->tick_period_ms && t->ops && t->ops->timer_set)
        t->ops->timer_set(t->ud, r, 0);
    r->tick_period_ms = 0;
    pw__queues_detach_root(r);
    pw__callouts_cancel_root(t, r);
}

/* ---- deferred actions ---------------------------------------------------------------------- */

void pw__stream_mark_dirty(pw_stream_t *st)
{
    if (st->dirty)
        return;
    pw_vm_t *vm = st->ctx.vm;
    st->dirty = true;
    st->next_dirty = vm->dirty;
    vm->dirty = st;
}

static void dirty_remove(pw_stream_t *st)
{
    if (!st->dirty)
        return;
    for (pw_stream_t **pp = &st->ctx.vm->dirty; *pp; pp = &(*pp)->next_dirty)
        if (*pp == st) {
            *pp = st->next_dirty;
            break;
        }
    st->dirty = false;
}

static void reply_free(pw_reply_t *r)
{
    if (!r)
        return;
    free(r->bytes);
    free(r->headers);
    free(r);
}

static pw_stream_type_t phase_dir(pw_phase_t ph)
{
    switch (ph) {
    case PW_PHASE_REQ_HEADERS: case PW_PHASE_REQ_BODY: case PW_PHASE_REQ_TRAILERS:
        return PW_STREAM_REQUEST;
    case PW_PHASE_RESP_HEADERS: case PW_PHASE_RESP_BODY: case PW_PHASE_RESP_TRAILERS:
        return PW_STREAM_RESPONSE;
    case PW_PHASE_UP_DATA:
        return PW_STREAM_UPSTREAM;
    default:
        return PW_STREAM_DOWNSTREAM;
    }
}

static bool phase_has_action(pw_phase_t ph)
{
    return ph != PW_PHASE_NONE && ph != PW_PHASE_LOG && ph != PW_PHASE_END;
}

/* The "stop" value of a callback type (ABI 5.8: forced after a local reply). */
static pw_action_t stop_action(pw_phase_t ph)
{
    switch (ph) {
    case PW_PHASE_REQ_HEADERS: case PW_PHASE_RESP_HEADERS:
        return PW_STOP_ALL_WATERMARK;
    case PW_PHASE_REQ_BODY: case PW_PHASE_RESP_BODY:
        return PW_STOP_NO_BUFFER;
    default:
        return PW_STOP_ITERATION;
    }
}

/* ABI 8: raw i32 -> action. */
static pw_action_t convert(const pw_stream_t *st, pw_phase_t ph, int32_t raw)
{
    uint32_t v = (uint32_t)raw;
    switch (ph) {
    case PW_PHASE_REQ_HEADERS: case PW_PHASE_RESP_HEADERS:
        if (v == 0 || v == 2)
            return PW_CONTINUE;
        if (v == 1)
            return st->plugin->allow_headers_stop ? PW_STOP_ITERATION : PW_STOP_ALL_WATERMARK;
        return v == 3 ? PW_STOP_ALL_BUFFER : PW_STOP_ALL_WATERMARK;
    case PW_PHASE_REQ_BODY: case PW_PHASE_RESP_BODY:
        return v == 0 ? PW_CONTINUE : v == 1 ? PW_STOP_AND_BUFFER
                                    : v == 2 ? PW_STOP_AND_WATERMARK : PW_STOP_NO_BUFFER;
    default:
        return v == 0 ? PW_CONTINUE : PW_STOP_ITERATION;
    }
}

static void apply(pw_stream_t *d)
{
    const pw_stream_ops_t *ops = d->ops;
    pw_reply_t *rep = d->reply;
    d->reply = NULL;
    if (rep) {
        d->reply_sent = true;
        memset(d->paused, 0, sizeof d->paused);
    }
    if (rep && ops->send_local_reply)
        ops->send_local_reply(d->s, rep->status, (pw_slice_t){rep->bytes, rep->details_len},
                              (pw_slice_t){rep->bytes + rep->details_len, rep->body_len},
                              rep->headers, rep->n_headers, rep->grpc_status);
    reply_free(rep);
    for (int dir = 0; dir < 4; dir++) {
        if (d->want_continue[dir]) { /* host.h: only a paused direction is continued */
            d->want_continue[dir] = false;
            if (d->paused[dir] && ops->continue_stream) {
                d->paused[dir] = false;
                ops->continue_stream(d->s, (pw_stream_type_t)dir);
            }
        }
        if (d->want_close[dir] && ops->close_stream) {
            d->want_close[dir] = false;
            ops->close_stream(d->s, (pw_stream_type_t)dir);
        }
    }
}

/* Runs the deferred actions once the outermost guest call returned (ABI 1, 5.8). The
 * returning stream's own direction: a continue becomes the action, a reply forces stop. */
static pw_action_t run_deferred(pw_vm_t *vm, pw_stream_t *self, pw_phase_t ph, pw_action_t act)
{
    if (vm->depth > 0)
        return act;
    if (self && self->dirty && phase_has_action(ph)) {
        pw_stream_type_t dir = phase_dir(ph);
        if (self->reply) {
            act = stop_action(ph);
            self->want_continue[dir] = false;
        } else if (self->want_continue[dir]) {
            self->want_continue[dir] = false;
            act = PW_CONTINUE;
        }
    }
    while (vm->dirty) {
        pw_stream_t *d = vm->dirty;
        vm->dirty = d->next_dirty;
        d->dirty = false;
        apply(d);
    }
    return act;
}

/* ---- failure policy ------------------------------------------------------------------------ */

static pw_action_t fail_stream(pw_stream_t *st, pw_phase_t ph)
{
    st->failed = true;
    if (st->plugin->fail_open)
        return PW_CONTINUE;
    if (!st->fail_handled && phase_has_action(ph)) {
        st->fail_handled = true;
        dirty_remove(st);
        reply_free(st->reply);
        st->reply = NULL;
        if (st->ctx.kind == PW_CTX_HTTP) {
            if (st->ops->send_local_reply) {
                static const char details[] = "wasm_fail_stream";
                st->ops->send_local_reply(st->s, 503,
                                          (pw_slice_t){(const uint8_t *)details,
                                                       sizeof details - 1},
                                          (pw_slice_t){NULL, 0}, NULL, 0, -1);
            }
        } else if (st->ops->close_stream) {
            st->ops->close_stream(st->s, PW_STREAM_DOWNSTREAM);
        }
    }
    return phase_has_action(ph) ? stop_action(ph) : PW_CONTINUE;
}

/* ---- streams ------------------------------------------------------------------------------- */

pw_stream_t *pw_stream_new(pw_thread_t *t, pw_plugin_t *p, pw_stream_kind_t kind,
                           const pw_stream_ops_t *ops, void *s)
{
    /* A stream per request: reuse a freed one rather than go through malloc. */
    pw_stream_t *st = t->spare;
    if (st) {
        t->spare = st->next_dirty;
        t->n_spare--;
        memset(st, 0, sizeof *st);
    } else if (!(st = calloc(1, sizeof *st))) {
        return NULL;
    }
    st->thread = t;
    st->plugin = pw_plugin_ref(p);
    st->ops = ops;
    st->s = s;
    st->ctx.kind = kind == PW_KIND_TCP ? PW_CTX_TCP : PW_CTX_HTTP;
    st->ctx.plugin = p;
    pw_error_t err;
    pw_root_t *root;
    if (pw__thread_root(t, p, &root, &err) == PW_OK) {
        st->root = root;
        st->ctx.vm = root->ctx.vm;
        st->ctx.vm->refs++;
    } else {
        st->failed = true;
    }
    t->stats.streams_live++;
    return st;
}

static bool ensure_created(pw_stream_t *st)
{
    if (st->failed)
        return false;
    if (st->created)
        return true;
    pw_vm_t *vm = st->ctx.vm;
    if (vm->broken)
        return false;
    st->ctx.id = pw__vm_new_id(vm);
    pw__ctx_link(vm, &st->ctx);
    st->created = true;
    wa_value_t a[2] = {{.i32 = (int32_t)st->ctx.id}, {.i32 = (int32_t)st->root->ctx.id}};
    pw_status_t s = pw__vm_call(vm, &st->ctx, PW_CB_CONTEXT_CREATE, a, 2, NULL);
    return s == PW_OK || s == PW_ERR_ARG;
}

static pw_action_t event(pw_stream_t *st, pw_phase_t ph, pw_cb_t cb, wa_value_t *args,
                         uint32_t nargs)
{
    if (st->ended)
        return PW_CONTINUE;
    if (st->failed || !ensure_created(st) || st->ctx.vm->broken)
        return fail_stream(st, ph);
    pw_vm_t *vm = st->ctx.vm;
    st->phase = ph;
    args[0].i32 = (int32_t)st->ctx.id;
    int32_t raw = 0;
    pw_status_t s = pw__vm_call(vm, &st->ctx, cb, args, nargs, &raw);
    if (s != PW_OK && s != PW_ERR_ARG)
        return fail_stream(st, ph);
    pw_action_t act = run_deferred(vm, st, ph, convert(st, ph, s == PW_OK ? raw : 0));
    if (phase_has_action(ph))
        st->paused[phase_dir(ph)] = act != PW_CONTINUE && !st->reply_sent;
    return act;
}

static pw_action_t headers_event(pw_stream_t *st, pw_phase_t ph, pw_cb_t cb, uint32_t n,
                                 bool eos)
{
    wa_value_t a[3] = {{0}, {.i32 = (int32_t)n}, {.i32 = eos ? 1 : 0}};
    bool v010 = st->ctx.vm && st->ctx.vm->code->abi == PW_ABI_0_1_0;
    return event(st, ph, cb, a, v010 ? 2 : 3);
}

static pw_action_t data_event(pw_stream_t *st, pw_phase_t ph, pw_cb_t cb, size_t size, bool eos)
{
    wa_value_t a[3] = {{0}, {.i32 = (int32_t)(size > UINT32_MAX ? UINT32_MAX : size)},
                       {.i32 = eos ? 1 : 0}};
    return event(st, ph, cb, a, 3);
}

pw_action_t pw_stream_on_request_headers(pw_stream_t *st, uint32_t n, bool eos)
{
    return headers_event(st, PW_PHASE_REQ_HEADERS, PW_CB_REQUEST_HEADERS, n, eos);
}

pw_action_t pw_stream_on_request_body(pw_stream_t *st, size_t size, bool eos)
{
    return data_event(st, PW_PHASE_REQ_BODY, PW_CB_REQUEST_BODY, size, eos);
}

pw_action_t pw_stream_on_request_trailers(pw_stream_t *st, uint32_t n)
{
    wa_value_t a[2] = {{0}, {.i32 = (int32_t)n}};
    return event(st, PW_PHASE_REQ_TRAILERS, PW_CB_REQUEST_TRAILERS, a, 2);
}

pw_action_t pw_stream_on_response_headers(pw_stream_t *st, uint32_t n, bool eos)
{
    return headers_event(st, PW_PHASE_RESP_HEADERS, PW_CB_RESPONSE_HEADERS, n, eos);
}

pw_action_t pw_stream_on_response_body(pw_stream_t *st, size_t size, bool eos)
{
    return data_event(st, PW_PHASE_RESP_BODY, PW_CB_RESPONSE_BODY, size, eos);
}

pw_action_t pw_stream_on_response_trailers(pw_stream_t *st, uint32_t n)
{
    wa_value_t a[2] = {{0}, {.i32 = (int32_t)n}};
    return event(st, PW_PHASE_RESP_TRAILERS, PW_CB_RESPONSE_TRAILERS, a, 2);
}

pw_action_t pw_stream_on_new_connection(pw_stream_t *st)
{
    wa_value_t a[1] = {{0}};
    return event(st, PW_PHASE_NEW_CONN, PW_CB_NEW_CONNECTION, a, 1);
}

pw_action_t pw_stream_on_downstream_data(pw_stream_t *st, size_t size, bool eos)
{
    return data_event(st, PW_PHASE_DOWN_DATA, PW_CB_DOWNSTREAM_DATA, size, eos);
}

pw_action_t pw_stream_on_upstream_data(pw_stream_t *st, size_t size, bool eos)
{
    return data_event(st, PW_PHASE_UP_DATA, PW_CB_UPSTREAM_DATA, size, eos);
}

static void close_event(pw_stream_t *st, pw_cb_t cb, pw_peer_t peer)
{
    wa_value_t a[2] = {{0}, {.i32 = (int32_t)peer}};
    pw_phase_t save = st->phase;
    event(st, PW_PHASE_NONE, cb, a, 2);
    st->phase = save;
}

void pw_stream_on_downstream_close(pw_stream_t *st, pw_peer_t peer)
{
    close_event(st, PW_CB_DOWNSTREAM_CLOSE, peer);
}

void pw_stream_on_upstream_close(pw_stream_t *st, pw_peer_t peer)
{
    close_event(st, PW_CB_UPSTREAM_CLOSE, peer);
}

/* A lifecycle callback without an action; skipped on a failed instance (ABI 11.6). */
static void plain(pw_stream_t *st, pw_phase_t ph, pw_cb_t cb)
{
    if (!st->created || st->failed || st->ctx.vm->broken)
        return;
    wa_value_t a = {.i32 = (int32_t)st->ctx.id};
    st->phase = ph;
    int32_t ignored;
    if (pw__vm_call(st->ctx.vm, &st->ctx, cb, &a, 1, &ignored) == PW_ERR_TRAP)
        st->failed = true;
    run_deferred(st->ctx.vm, NULL, ph, PW_CONTINUE);
}

void pw_stream_on_log(pw_stream_t *st)
{
    if (st->ctx.kind != PW_CTX_HTTP || st->logged || st->ended)
        return;
    st->logged = true;
    plain(st, PW_PHASE_LOG, PW_CB_LOG);
}

void pw_stream_free(pw_stream_t *st)
{
    if (!st)
        return;
    pw_vm_t *vm = st->ctx.vm;
    if (!st->ended) {
        st->ended = true;
        if (st->ctx.kind == PW_CTX_HTTP) { /* ABI 7.3: log, done, delete */
            if (!st->logged) {
                st->logged = true;
                plain(st, PW_PHASE_LOG, PW_CB_LOG);
            }
            plain(st, PW_PHASE_END, PW_CB_DONE);
        } else { /* ABI 7.4: done, log, delete */
            plain(st, PW_PHASE_END, PW_CB_DONE);
            plain(st, PW_PHASE_LOG, PW_CB_LOG);
        }
        plain(st, PW_PHASE_END, PW_CB_DELETE);
    }
    if (vm) {
        dirty_remove(st);
        if (st->created)
            pw__ctx_unlink(vm, &st->ctx);
        pw__vm_unref(vm);
    }
    reply_free(st->reply);
    free(st->props);
    pw_thread_t *t = st->thread;
    t->stats.streams_live--;
    pw_plugin_unref(st->plugin);
    if (t->n_spare < PW_SPARE_STREAMS) {
        st->next_dirty = t->spare;
        t->spare = st;
        t->n_spare++;
    } else {
        free(st);
    }
}

bool pw_stream_failed(const pw_stream_t *st) { return st->failed; }
uint32_t pw_stream_context_id(const pw_stream_t *st) { return st->ctx.id; }

/* ---- timers ------------------------------------------------------------------------------- */

void pw_root_on_tick(pw_root_t *r)
{
    pw_vm_t *vm = r->ctx.vm;
    if (r->deleted || r->detached || vm->broken)
        return;
    wa_value_t a = {.i32 = (int32_t)r->ctx.id};
    pw__vm_call(vm, &r->ctx, PW_CB_TICK, &a, 1, NULL);
    run_deferred(vm, NULL, PW_PHASE_NONE, PW_CONTINUE);
    pw__fail_paused_streams(vm);
}

bool pw__root_queue_ready(pw_root_t *r, uint32_t token)
{
    pw_vm_t *vm = r->ctx.vm;
    if (r->deleted || r->detached || vm->broken)
        return false;
    wa_value_t a[2] = {{.i32 = (int32_t)r->ctx.id}, {.i32 = (int32_t)token}};
    pw__vm_call(vm, &r->ctx, PW_CB_QUEUE_READY, a, 2, NULL);
    run_deferred(vm, NULL, PW_PHASE_NONE, PW_CONTINUE);
    pw__fail_paused_streams(vm);
    return !vm->broken;
}

void pw__run_deferred(pw_vm_t *vm)
{
    run_deferred(vm, NULL, PW_PHASE_NONE, PW_CONTINUE);
}

void pw__fail_paused_streams(pw_vm_t *vm)
{
    if (!vm->broken || vm->depth > 0)
        return;
    for (pw_ctx_t *c = vm->ctxs, *next; c; c = next) {
        next = c->next; /* an op may run other events of this stream, never free it */
        if (c->kind == PW_CTX_ROOT)
            continue;
        pw_stream_t *st = (pw_stream_t *)c;
        bool held = false;
        for (int dir = 0; dir < 4; dir++)
            held |= st->paused[dir];
        if (!held || st->ended || st->failed || st->reply_sent)
            continue;
        st->failed = true;
        if (st->plugin->fail_open) { /* ABI 11.5: the stream goes on without the plugin */
            for (int dir = 0; dir < 4; dir++)
                if (st->paused[dir] && st->ops->continue_stream) {
                    st->paused[dir] = false;
                    st->ops->continue_stream(st->s, (pw_stream_type_t)dir);
                }
            continue;
        }
        st->fail_handled = true;
        if (st->ctx.kind == PW_CTX_HTTP && st->paused[PW_STREAM_REQUEST] &&
            st->ops->send_local_reply) {
            static const char details[] = "wasm_fail_stream";
            st->ops->send_local_reply(st->s, 503,
                                      (pw_slice_t){(const uint8_t *)details, sizeof details - 1},
                                      (pw_slice_t){NULL, 0}, NULL, 0, -1);
        } else if (st->ops->close_stream) { /* response already under way, or TCP */
            st->ops->close_stream(st->s, st->ctx.kind == PW_CTX_HTTP ? PW_STREAM_RESPONSE
                                                                     : PW_STREAM_DOWNSTREAM);
        }
    }
}
