/* Hostcalls for logging, time, configuration, contexts and stream control (ABI 5.1-5.4, 5.8,
 * 5.16). Each validates its guest pointers and returns the status Envoy returns. */
#include "pw_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define A(i) PW_ARG_U32(args, i)

/* proxy_log(level, msg_ptr, msg_len) */
static wa_trap_kind_t hc_log(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint32_t level = A(0);
    if (level > PW_LOG_CRITICAL)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    uint8_t *msg = pw__mem(vm, A(1), A(2));
    if (!msg)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_ctx_t *c = vm->eff ? vm->eff : vm->cur;
    pw_plugin_t *p = c ? c->plugin : vm->plugin;
    if ((pw_log_level_t)level >= p->log_level) {
        pw_thread_t *t = vm->thread;
        if (t->ops && t->ops->log)
            t->ops->log(t->ud, (pw_log_level_t)level, p->who, (const char *)msg, A(2));
        else
            pw__log(t, (pw_log_level_t)level, p->who, "%.*s", (int)A(2), (const char *)msg);
    }
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_get_log_level(ret_level_ptr) (0.2.1) */
static wa_trap_kind_t hc_get_log_level(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    pw_ctx_t *c = vm->eff ? vm->eff : vm->cur;
    pw_plugin_t *p = c ? c->plugin : vm->plugin;
    PW_HC_RETURN(vm, results,
                 pw__put_u32(vm, A(0), p->log_level) ? PW_R_OK : PW_R_INVALID_MEMORY_ACCESS);
}

/* proxy_get_current_time_nanoseconds(ret_u64_ptr) */
static wa_trap_kind_t hc_time(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    PW_HC_RETURN(vm, results, pw__put_u64(vm, A(0), ns) ? PW_R_OK : PW_R_INVALID_MEMORY_ACCESS);
}

/* proxy_get_configuration(ret_ptr_ptr, ret_size_ptr) (0.1.0): the plugin configuration inside
 * proxy_on_configure, else the VM configuration (ABI 5.3). */
static wa_trap_kind_t hc_get_configuration(pw_vm_t *vm, const wa_value_t *args,
                                           wa_value_t *results)
{
    pw_root_t *r = pw__eff_root(vm);
    pw_plugin_t *p = r ? r->plugin : vm->plugin;
    if (r && r->in_configure)
        PW_HC_RETURN(vm, results,
                     pw__return_bytes(vm, p->plugin_config, p->plugin_config_len, A(0), A(1)));
    PW_HC_RETURN(vm, results, pw__return_bytes(vm, p->vm_config, p->vm_config_len, A(0), A(1)));
}

/* proxy_set_effective_context(context_id): any live context of this VM (ABI 5.4). */
static wa_trap_kind_t hc_set_effective_context(pw_vm_t *vm, const wa_value_t *args,
                                               wa_value_t *results)
{
    pw_ctx_t *c = pw__ctx_find(vm, A(0));
    if (!c)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    vm->eff = c;
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_done(): a root that answered false to proxy_on_done may now be deleted. */
static wa_trap_kind_t hc_done(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)args;
    pw_ctx_t *c = vm->eff;
    if (!c || c->kind != PW_CTX_ROOT || !((pw_root_t *)c)->pending_done)
        PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
    ((pw_root_t *)c)->pending_done = false;
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_get_status(ret_code_ptr, ret_msg_ptr_ptr, ret_msg_size_ptr): the status of the
 * root's last callout, kept on the root as Envoy does: (0, "") until a callout failed, then
 * (BROKEN_CONNECTION, "reset") for a failed HTTP call. */
static wa_trap_kind_t hc_get_status(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__mem(vm, A(0), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_root_t *root = pw__eff_root(vm);
    uint32_t code = root ? root->status_code : 0;
    const char *msg = root && root->status_msg ? root->status_msg : "";
    int r = pw__return_bytes(vm, msg, strlen(msg), A(1), A(2));
    if (r == PW_R_OK && !pw__put_u32(vm, A(0), code))
        r = PW_R_INVALID_MEMORY_ACCESS;
    PW_HC_RETURN(vm, results, r);
}

/* ---- stream control (deferred, ABI 5.8) ---------------------------------------------------- */

static int want_continue(pw_vm_t *vm, uint32_t dir)
{
    if (dir > PW_STREAM_UPSTREAM)
        return PW_R_BAD_ARGUMENT;
    if (dir == PW_STREAM_UPSTREAM)
        return PW_R_UNIMPLEMENTED; /* Envoy cannot resume upstream reads either */
    pw_stream_t *st = pw__eff_stream(vm);
    if (!st || st->ended)
        return PW_R_OK; /* Envoy: no stream -> still OK */
    st->want_continue[dir] = true;
    pw__stream_mark_dirty(st);
    return PW_R_OK;
}

static wa_trap_kind_t hc_continue_stream(pw_vm_t *vm, const wa_value_t *args,
                                         wa_value_t *results)
{
    PW_HC_RETURN(vm, results, want_continue(vm, A(0)));
}

static wa_trap_kind_t hc_continue_request(pw_vm_t *vm, const wa_value_t *args,
                                          wa_value_t *results)
{
    (void)args;
    PW_HC_RETURN(vm, results, want_continue(vm, PW_STREAM_REQUEST));
}

static wa_trap_kind_t hc_continue_response(pw_vm_t *vm, const wa_value_t *args,
                                           wa_value_t *results)
{
    (void)args;
    PW_HC_RETURN(vm, results, want_continue(vm, PW_STREAM_RESPONSE));
}

static wa_trap_kind_t hc_close_stream(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint32_t dir = A(0);
    if (dir > PW_STREAM_UPSTREAM)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    pw_stream_t *st = pw__eff_stream(vm);
    if (st && !st->ended) {
        st->want_close[dir] = true;
        pw__stream_mark_dirty(st);
    }
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_clear_route_cache() (0.1.0): sluice evaluates the route after the filter chain's
 * request headers phase, so a header change is always seen; nothing to clear. */
static wa_trap_kind_t hc_clear_route_cache(pw_vm_t *vm, const wa_value_t *args,
                                           wa_value_t *results)
{
    (void)args;
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_send_local_response(status, details, body, headers(pairs), grpc_status) */
static wa_trap_kind_t hc_send_local_response(pw_vm_t *vm, const wa_value_t *args,
                                             wa_value_t *results)
{
    uint8_t *details = pw__mem(vm, A(1), A(2));
    uint8_t *body = pw__mem(vm, A(3), A(4));
    uint8_t *hdrs = pw__mem(vm, A(5), A(6));
    if (!details || !body || !hdrs)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_stream_t *st = pw__eff_stream(vm);
    if (!st || st->ended || st->ctx.kind != PW_CTX_HTTP)
        PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
    size_t n = pw__pairs_count(hdrs, A(6));
    pw_reply_t *rep = calloc(1, sizeof *rep);
    size_t total = (size_t)A(2) + A(4) + A(6);
    if (!rep || !(rep->bytes = malloc(total ? total : 1)) ||
        (n && !(rep->headers = calloc(n, sizeof *rep->headers)))) {
        if (rep)
            free(rep->bytes);
        free(rep);
        PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
    }
    memcpy(rep->bytes, details, A(2));
    memcpy(rep->bytes + A(2), body, A(4));
    memcpy(rep->bytes + A(2) + A(4), hdrs, A(6));
    rep->details_len = A(2);
    rep->body_len = A(4);
    /* Envoy replaces whitespace in details with '_' (response-code details are tokens). */
    for (size_t i = 0; i < rep->details_len; i++)
        if (rep->bytes[i] == ' ' || rep->bytes[i] == '\t' || rep->bytes[i] == '\n' ||
            rep->bytes[i] == '\r')
            rep->bytes[i] = '_';
    if (!pw__pairs_decode(rep->bytes + A(2) + A(4), A(6), rep->headers, n, &rep->n_headers))
        rep->n_headers = 0;
    for (size_t i = 0; i < rep->n_headers; i++) /* lower-case names (ABI 3.1) */
        for (size_t j = 0; j < rep->headers[i].key.len; j++) {
            uint8_t *k = (uint8_t *)rep->headers[i].key.ptr;
            if (k[j] >= 'A' && k[j] <= 'Z')
                k[j] = (uint8_t)(k[j] + 32);
        }
    rep->status = A(0);
    int32_t g = args[7].i32;
    rep->grpc_status = g >= 0 && g <= 16 ? g : -1;
    if (st->reply) { /* the last reply asked for wins */
        free(st->reply->bytes);
        free(st->reply->headers);
        free(st->reply);
    }
    st->reply = rep;
    pw__stream_mark_dirty(st);
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* ---- toolchain helpers (ABI 5.16) ------------------------------------------------------------ */

static wa_trap_kind_t hc_notify_memory_growth(pw_vm_t *vm, const wa_value_t *args,
                                              wa_value_t *results)
{
    (void)vm, (void)args, (void)results;
    return WA_TRAP_NONE;
}

static wa_trap_kind_t hc_pthread_equal(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm;
    results[0].i32 = args[0].i32 == args[1].i32;
    return WA_TRAP_NONE;
}

/* env.abort(msg, file, line, col) of AssemblyScript builds without abort_proc_exit: a trap. */
static wa_trap_kind_t hc_as_abort(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)results;
    return wa_trap_set(vm->caller, WA_TRAP_HOST, 0, "abort called at line %u column %u",
                       A(2), A(3));
}

const pw_hostcall_t pw__hostcalls_core[] = {
    {"env", "proxy_log", "iii", "i", hc_log, PW_HC_ANY_PHASE | PW_HC_IN_ALLOC},
    {"env", "proxy_get_log_level", "i", "i", hc_get_log_level, 0},
    {"env", "proxy_get_current_time_nanoseconds", "i", "i", hc_time, 0},
    {"env", "proxy_get_configuration", "ii", "i", hc_get_configuration, 0},
    {"env", "proxy_set_effective_context", "i", "i", hc_set_effective_context, 0},
    {"env", "proxy_done", "", "i", hc_done, 0},
    {"env", "proxy_get_status", "iii", "i", hc_get_status, 0},
    {"env", "proxy_continue_stream", "i", "i", hc_continue_stream, 0},
    {"env", "proxy_close_stream", "i", "i", hc_close_stream, 0},
    {"env", "proxy_continue_request", "", "i", hc_continue_request, 0},
    {"env", "proxy_continue_response", "", "i", hc_continue_response, 0},
    {"env", "proxy_clear_route_cache", "", "i", hc_clear_route_cache, 0},
    {"env", "proxy_send_local_response", "iiiiiiii", "i", hc_send_local_response, 0},
    {"env", "emscripten_notify_memory_growth", "i", "", hc_notify_memory_growth,
     PW_HC_ANY_PHASE | PW_HC_IN_ALLOC},
    {"env", "pthread_equal", "ii", "i", hc_pthread_equal, PW_HC_ANY_PHASE | PW_HC_IN_ALLOC},
    {"env", "abort", "iiii", "", hc_as_abort, PW_HC_ANY_PHASE | PW_HC_IN_ALLOC},
    {NULL, NULL, NULL, NULL, NULL, 0},
};
