/* Hostcalls for timers, HTTP callouts, shared data, queues, metrics and foreign functions
 * (ABI 5.2, 5.9-5.14): guest arguments are checked here, the machinery lives elsewhere. */

/* pw_shared_data.c, pw_queue.c, pw_metrics.c and pw_callout.c hold the machinery; gRPC is not
 * built (UNIMPLEMENTED to start a call, NOT_FOUND for tokens). */
#include "pw_internal.h"

#include <stdlib.h>
#include <string.h>

#define A(i) PW_ARG_U32(args, i)

static pw_slice_t vm_id_of(pw_vm_t *vm)
{
    const char *id = vm->plugin->vm_id; /* part of the VM key: every plugin here shares it */
    return (pw_slice_t){(const uint8_t *)id, strlen(id)};
}

static int check_ranges(pw_vm_t *vm, const wa_value_t *args, const uint8_t *pairs, int npairs,
                        int ret_ptr)
{
    for (int i = 0; i < npairs; i++)
        if (!pw__mem(vm, A(pairs[2 * i]), A(pairs[2 * i + 1])))
            return PW_R_INVALID_MEMORY_ACCESS;
    if (ret_ptr >= 0 && !pw__mem(vm, A(ret_ptr), 4))
        return PW_R_INVALID_MEMORY_ACCESS;
    return PW_R_OK;
}

/* ---- timers (ABI 5.2) ------------------------------------------------------------------ */

/* proxy_set_tick_period_milliseconds(period_ms): the timer of the effective context's root. */
static wa_trap_kind_t hc_set_tick_period(pw_vm_t *vm, const wa_value_t *args,
                                         wa_value_t *results)
{
    pw_root_t *r = pw__eff_root(vm);
    pw_thread_t *t = vm->thread;
    if (!t->ops || !t->ops->timer_set)
        PW_HC_RETURN(vm, results, PW_R_UNIMPLEMENTED);
    if (!r || r->detached)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    r->tick_period_ms = A(0);
    t->ops->timer_set(t->ud, r, A(0));
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* ---- HTTP callouts (ABI 5.9) --------------------------------------------------------------- */

/* Decodes guest pairs into *h (malloc'd) with lower-cased names copied into *keys
 * (malloc'd); values point into guest memory, valid until the next guest call. */
static int decode_pairs(pw_vm_t *vm, uint32_t ptr, uint32_t len, pw_header_t **h, size_t *n,
                        uint8_t **keys)
{
    uint8_t *buf = pw__mem(vm, ptr, len);
    *h = NULL;
    *keys = NULL;
    *n = 0;
    size_t cnt = pw__pairs_count(buf, len);
    if (!cnt)
        return PW_R_OK;
    if (!(*h = calloc(cnt, sizeof **h)))
        return PW_R_INTERNAL_FAILURE;
    if (!pw__pairs_decode(buf, len, *h, cnt, n))
        *n = 0; /* ABI 3.1: a malformed map is an empty map */
    size_t klen = 0;
    for (size_t i = 0; i < *n; i++)
        klen += (*h)[i].key.len;
    if (!(*keys = malloc(klen ? klen : 1)))
        return PW_R_INTERNAL_FAILURE;
    for (size_t i = 0, off = 0; i < *n; i++) {
        for (size_t j = 0; j < (*h)[i].key.len; j++) {
            uint8_t c = (*h)[i].key.ptr[j];
            (*keys)[off + j] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
        }
        (*h)[i].key.ptr = *keys + off;
        off += (*h)[i].key.len;
    }
    return PW_R_OK;
}

static bool has_header(const pw_header_t *h, size_t n, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].key.len == l && memcmp(h[i].key.ptr, name, l) == 0)
            return true;
    return false;
}

static int http_call(pw_vm_t *vm, const wa_value_t *args)
{
    static const uint8_t p[] = {0, 1, 2, 3, 4, 5, 6, 7};
    int r = check_ranges(vm, args, p, 4, 9);
    if (r != PW_R_OK)
        return r;
    pw_thread_t *t = vm->thread;
    pw_root_t *root = pw__eff_root(vm);
    if (!t->ops || !t->ops->http_call)
        return PW_R_UNIMPLEMENTED;
    if (!root || root->detached)
        return PW_R_BAD_ARGUMENT;
    pw_header_t *h = NULL, *tr = NULL;
    uint8_t *hk = NULL, *tk = NULL;
    size_t nh = 0, nt = 0;
    if ((r = decode_pairs(vm, A(2), A(3), &h, &nh, &hk)) != PW_R_OK ||
        (r = decode_pairs(vm, A(6), A(7), &tr, &nt, &tk)) != PW_R_OK)
        goto out;
    /* Envoy: :method, :path and a host are required, else BAD_ARGUMENT. */
    if (!has_header(h, nh, ":method") || !has_header(h, nh, ":path") ||
        (!has_header(h, nh, ":authority") && !has_header(h, nh, "host"))) {
        r = PW_R_BAD_ARGUMENT;
        goto out;
    }
    uint32_t token = pw__callout_add(t, root);
    if (!token) {
        r = PW_R_INTERNAL_FAILURE;
        goto out;
    }
    pw_http_call_t req = {
        .cluster = {pw__mem(vm, A(0), A(1)), A(1)},
        .headers = h, .n_headers = nh,
        .body = {pw__mem(vm, A(4), A(5)), A(5)},
        .trailers = tr, .n_trailers = nt,
        .timeout_ms = A(8),
    };
    r = t->ops->http_call(t->ud, &req, token);
    if (r != PW_R_OK)
        pw__callout_drop(t, token);
    else
        pw__put_u32(vm, A(9), token);
out:
    free(h);
    free(hk);
    free(tr);
    free(tk);
    return r;
}

/* proxy_http_call(upstream, headers, body, trailers, timeout_ms, ret_token_ptr) */
static wa_trap_kind_t hc_http_call(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    PW_HC_RETURN(vm, results, http_call(vm, args));
}

/* ---- gRPC: not built (UNIMPLEMENTED to start, NOT_FOUND for tokens) ------------------------ */

/* proxy_grpc_call(upstream, service, method, metadata, message, timeout, ret_token_ptr) */
static wa_trap_kind_t hc_grpc_call(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int r = check_ranges(vm, args, p, 5, 11);
    PW_HC_RETURN(vm, results, r != PW_R_OK ? r : PW_R_UNIMPLEMENTED);
}

/* proxy_grpc_stream(upstream, service, method, metadata, ret_token_ptr) */
static wa_trap_kind_t hc_grpc_stream(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3, 4, 5, 6, 7};
    int r = check_ranges(vm, args, p, 4, 8);
    PW_HC_RETURN(vm, results, r != PW_R_OK ? r : PW_R_UNIMPLEMENTED);
}

/* proxy_grpc_send(token, msg, end_stream): no stream can exist -> unknown token. */
static wa_trap_kind_t hc_grpc_send(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {1, 2};
    int r = check_ranges(vm, args, p, 1, -1);
    PW_HC_RETURN(vm, results, r != PW_R_OK ? r : PW_R_NOT_FOUND);
}

/* proxy_grpc_cancel(token) / proxy_grpc_close(token): unknown token. */
static wa_trap_kind_t hc_grpc_token(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)args;
    PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
}

/* ---- shared data (ABI 5.11) ------------------------------------------------------------------ */

/* proxy_get_shared_data(key, ret_val_ptr_ptr, ret_val_size_ptr, ret_cas_ptr) */
static wa_trap_kind_t hc_get_shared_data(pw_vm_t *vm, const wa_value_t *args,
                                         wa_value_t *results)
{
    uint8_t *key = pw__mem(vm, A(0), A(1));
    if (!key || !pw__mem(vm, A(2), 4) || !pw__mem(vm, A(3), 4) || !pw__mem(vm, A(4), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    size_t len = 0;
    uint32_t cas = 0;
    pw_result_t r = pw_shared_data_get(vm_id_of(vm), (pw_slice_t){key, A(1)}, &vm->xfer,
                                       &vm->xfer_cap, &len, &cas);
    if (r != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    int rr = pw__return_bytes(vm, vm->xfer, len, A(2), A(3));
    if (rr == PW_R_OK && !pw__put_u32(vm, A(4), cas))
        rr = PW_R_INVALID_MEMORY_ACCESS;
    PW_HC_RETURN(vm, results, rr);
}

/* proxy_set_shared_data(key, value, cas) */
static wa_trap_kind_t hc_set_shared_data(pw_vm_t *vm, const wa_value_t *args,
                                         wa_value_t *results)
{
    uint8_t *key = pw__mem(vm, A(0), A(1)), *val = pw__mem(vm, A(2), A(3));
    if (!key || !val)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    PW_HC_RETURN(vm, results, pw_shared_data_set(vm_id_of(vm), (pw_slice_t){key, A(1)},
                                                 (pw_slice_t){val, A(3)}, A(4)));
}

/* ---- shared queues (ABI 5.12) ------------------------------------------------------------- */

/* proxy_register_shared_queue(name, ret_token_ptr): owned by the effective root. */
static wa_trap_kind_t hc_register_queue(pw_vm_t *vm, const wa_value_t *args,
                                        wa_value_t *results)
{
    uint8_t *name = pw__mem(vm, A(0), A(1));
    if (!name || !pw__mem(vm, A(2), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_root_t *r = pw__eff_root(vm);
    if (!r || r->detached)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    uint32_t token = 0;
    pw_result_t res = pw__queue_register(r, vm_id_of(vm), (pw_slice_t){name, A(1)}, &token);
    if (res == PW_R_OK)
        pw__put_u32(vm, A(2), token);
    PW_HC_RETURN(vm, results, res);
}

/* proxy_resolve_shared_queue(vm_id, name, ret_token_ptr): empty vm_id = this VM's. */
static wa_trap_kind_t hc_resolve_queue(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint8_t *id = pw__mem(vm, A(0), A(1)), *name = pw__mem(vm, A(2), A(3));
    if (!id || !name || !pw__mem(vm, A(4), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_slice_t vm_id = A(1) ? (pw_slice_t){id, A(1)} : vm_id_of(vm);
    uint32_t token = 0;
    pw_result_t res = pw_shared_queue_resolve(vm_id, (pw_slice_t){name, A(3)}, &token);
    if (res == PW_R_OK)
        pw__put_u32(vm, A(4), token);
    PW_HC_RETURN(vm, results, res);
}

/* proxy_enqueue_shared_queue(token, value): from any VM on any thread. */
static wa_trap_kind_t hc_enqueue(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint8_t *val = pw__mem(vm, A(1), A(2));
    if (!val)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    PW_HC_RETURN(vm, results, pw__queue_enqueue(vm->thread, A(0), (pw_slice_t){val, A(2)}));
}

/* proxy_dequeue_shared_queue(token, ret_ptr_ptr, ret_size_ptr) */
static wa_trap_kind_t hc_dequeue(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__mem(vm, A(1), 4) || !pw__mem(vm, A(2), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    void *item;
    const uint8_t *data;
    size_t len;
    pw_result_t r = pw__queue_dequeue(A(0), vm->key, &item, &data, &len);
    if (r != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    int rr = pw__return_bytes(vm, data, len, A(1), A(2));
    pw__queue_item_free(item);
    PW_HC_RETURN(vm, results, rr);
}

/* ---- metrics (ABI 5.13) --------------------------------------------------------------------- */

/* proxy_define_metric(type, name, ret_id_ptr) */
static wa_trap_kind_t hc_define_metric(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (A(0) > PW_METRIC_HISTOGRAM)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    uint8_t *name = pw__mem(vm, A(1), A(2));
    if (!name || !pw__mem(vm, A(3), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    uint32_t id = 0;
    pw_result_t r = pw_metric_define((pw_metric_type_t)A(0), (pw_slice_t){name, A(2)}, &id);
    if (r == PW_R_OK)
        pw__put_u32(vm, A(3), id);
    PW_HC_RETURN(vm, results, r);
}

/* proxy_increment_metric(id, offset: i64) */
static wa_trap_kind_t hc_increment_metric(pw_vm_t *vm, const wa_value_t *args,
                                          wa_value_t *results)
{
    PW_HC_RETURN(vm, results, pw_metric_increment(A(0), args[1].i64));
}

/* proxy_record_metric(id, value: i64 read as u64) */
static wa_trap_kind_t hc_record_metric(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    PW_HC_RETURN(vm, results, pw_metric_record(A(0), (uint64_t)args[1].i64));
}

/* proxy_get_metric(id, ret_u64_ptr) */
static wa_trap_kind_t hc_get_metric(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__mem(vm, A(1), 8))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    uint64_t v = 0;
    pw_result_t r = pw_metric_get(A(0), &v);
    if (r == PW_R_OK)
        pw__put_u64(vm, A(1), v);
    PW_HC_RETURN(vm, results, r);
}

/* proxy_call_foreign_function(name, args, ret_ptr_ptr, ret_size_ptr): sluice registers no
 * foreign functions, so every name is unknown (ABI 5.14: NOT_FOUND). */
static wa_trap_kind_t hc_call_foreign(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3};
    int r = check_ranges(vm, args, p, 2, -1);
    PW_HC_RETURN(vm, results, r != PW_R_OK ? r : PW_R_NOT_FOUND);
}

const pw_hostcall_t pw__hostcalls_async[] = {
    {"env", "proxy_set_tick_period_milliseconds", "i", "i", hc_set_tick_period, 0},
    {"env", "proxy_http_call", "iiiiiiiiii", "i", hc_http_call, 0},
    {"env", "proxy_grpc_call", "iiiiiiiiiiii", "i", hc_grpc_call, 0},
    {"env", "proxy_grpc_stream", "iiiiiiiii", "i", hc_grpc_stream, 0},
    {"env", "proxy_grpc_send", "iiii", "i", hc_grpc_send, 0},
    {"env", "proxy_grpc_cancel", "i", "i", hc_grpc_token, 0},
    {"env", "proxy_grpc_close", "i", "i", hc_grpc_token, 0},
    {"env", "proxy_get_shared_data", "iiiii", "i", hc_get_shared_data, 0},
    {"env", "proxy_set_shared_data", "iiiii", "i", hc_set_shared_data, 0},
    {"env", "proxy_register_shared_queue", "iii", "i", hc_register_queue, 0},
    {"env", "proxy_resolve_shared_queue", "iiiii", "i", hc_resolve_queue, 0},
    {"env", "proxy_enqueue_shared_queue", "iii", "i", hc_enqueue, 0},
    {"env", "proxy_dequeue_shared_queue", "iii", "i", hc_dequeue, 0},
    {"env", "proxy_define_metric", "iiii", "i", hc_define_metric, 0},
    {"env", "proxy_increment_metric", "iI", "i", hc_increment_metric, 0},
    {"env", "proxy_record_metric", "iI", "i", hc_record_metric, 0},
    {"env", "proxy_get_metric", "ii", "i", hc_get_metric, 0},
    {"env", "proxy_call_foreign_function", "iiiiii", "i", hc_call_foreign, 0},
    {NULL, NULL, NULL, NULL, NULL, 0},
};
