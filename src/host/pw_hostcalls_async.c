/* Hostcalls for timers, callouts, shared data, queues, metrics and foreign functions (ABI
 * 5.2, 5.9-5.14). Timers run through the proxy's dispatch ops; the rest are not built yet and
 * say so with the ABI's statuses: UNIMPLEMENTED for operations that would create state, and
 * NOT_FOUND for lookups of tokens, keys and ids that no operation can have created. */
#include "pw_internal.h"

#define A(i) PW_ARG_U32(args, i)

/* proxy_set_tick_period_milliseconds(period_ms): the timer of the effective context's root. */
static wa_trap_kind_t hc_set_tick_period(pw_vm_t *vm, const wa_value_t *args,
                                         wa_value_t *results)
{
    pw_root_t *r = pw__eff_root(vm);
    pw_thread_t *t = vm->thread;
    if (!t->ops || !t->ops->timer_set)
        PW_HC_RETURN(vm, results, PW_R_UNIMPLEMENTED);
    if (!r)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    r->tick_period_ms = A(0);
    t->ops->timer_set(t->ud, r, A(0));
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* Operations that would start a callout or create state: validated, then UNIMPLEMENTED. */
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

static int unimplemented(pw_vm_t *vm, const wa_value_t *args, const uint8_t *pairs, int npairs,
                         int ret_ptr)
{
    int r = check_ranges(vm, args, pairs, npairs, ret_ptr);
    return r != PW_R_OK ? r : PW_R_UNIMPLEMENTED;
}

static int not_found(pw_vm_t *vm, const wa_value_t *args, const uint8_t *pairs, int npairs,
                     int ret_ptr)
{
    int r = check_ranges(vm, args, pairs, npairs, ret_ptr);
    return r != PW_R_OK ? r : PW_R_NOT_FOUND;
}

/* proxy_http_call(upstream, headers, body, trailers, timeout_ms, ret_token_ptr) */
static wa_trap_kind_t hc_http_call(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3, 4, 5, 6, 7};
    PW_HC_RETURN(vm, results, unimplemented(vm, args, p, 4, 9));
}

/* proxy_grpc_call(upstream, service, method, metadata, message, timeout, ret_token_ptr) */
static wa_trap_kind_t hc_grpc_call(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    PW_HC_RETURN(vm, results, unimplemented(vm, args, p, 5, 11));
}

/* proxy_grpc_stream(upstream, service, method, metadata, ret_token_ptr) */
static wa_trap_kind_t hc_grpc_stream(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3, 4, 5, 6, 7};
    PW_HC_RETURN(vm, results, unimplemented(vm, args, p, 4, 8));
}

/* proxy_grpc_send(token, msg, end_stream): no stream can exist -> unknown token. */
static wa_trap_kind_t hc_grpc_send(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {1, 2};
    PW_HC_RETURN(vm, results, not_found(vm, args, p, 1, -1));
}

/* proxy_grpc_cancel(token) / proxy_grpc_close(token): unknown token. */
static wa_trap_kind_t hc_grpc_token(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    PW_HC_RETURN(vm, results, not_found(vm, args, NULL, 0, -1));
}

/* proxy_get_shared_data(key, ret_val_ptr_ptr, ret_val_size_ptr, ret_cas_ptr): no key can
 * have been stored, so every key is missing. */
static wa_trap_kind_t hc_get_shared_data(pw_vm_t *vm, const wa_value_t *args,
                                         wa_value_t *results)
{
    static const uint8_t p[] = {0, 1};
    int r = check_ranges(vm, args, p, 1, 2);
    if (r == PW_R_OK && (!pw__mem(vm, A(3), 4) || !pw__mem(vm, A(4), 4)))
        r = PW_R_INVALID_MEMORY_ACCESS;
    PW_HC_RETURN(vm, results, r != PW_R_OK ? r : PW_R_NOT_FOUND);
}

/* proxy_set_shared_data(key, value, cas) */
static wa_trap_kind_t hc_set_shared_data(pw_vm_t *vm, const wa_value_t *args,
                                         wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3};
    PW_HC_RETURN(vm, results, unimplemented(vm, args, p, 2, -1));
}

/* proxy_register_shared_queue(name, ret_token_ptr) */
static wa_trap_kind_t hc_register_queue(pw_vm_t *vm, const wa_value_t *args,
                                        wa_value_t *results)
{
    static const uint8_t p[] = {0, 1};
    PW_HC_RETURN(vm, results, unimplemented(vm, args, p, 1, 2));
}

/* proxy_resolve_shared_queue(vm_id, name, ret_token_ptr): no queue can exist. */
static wa_trap_kind_t hc_resolve_queue(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3};
    PW_HC_RETURN(vm, results, not_found(vm, args, p, 2, 4));
}

/* proxy_enqueue_shared_queue(token, value) */
static wa_trap_kind_t hc_enqueue(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {1, 2};
    PW_HC_RETURN(vm, results, not_found(vm, args, p, 1, -1));
}

/* proxy_dequeue_shared_queue(token, ret_ptr_ptr, ret_size_ptr) */
static wa_trap_kind_t hc_dequeue(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    int r = check_ranges(vm, args, NULL, 0, 1);
    if (r == PW_R_OK && !pw__mem(vm, A(2), 4))
        r = PW_R_INVALID_MEMORY_ACCESS;
    PW_HC_RETURN(vm, results, r != PW_R_OK ? r : PW_R_NOT_FOUND);
}

/* proxy_define_metric(type, name, ret_id_ptr) */
static wa_trap_kind_t hc_define_metric(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {1, 2};
    if (A(0) > 2)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    PW_HC_RETURN(vm, results, unimplemented(vm, args, p, 1, 3));
}

/* proxy_increment_metric / proxy_record_metric(id, i64): no metric can be defined. */
static wa_trap_kind_t hc_metric_update(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)args;
    PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
}

/* proxy_get_metric(id, ret_u64_ptr) */
static wa_trap_kind_t hc_get_metric(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__mem(vm, A(1), 8))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
}

/* proxy_call_foreign_function(name, args, ret_ptr_ptr, ret_size_ptr): sluice registers no
 * foreign functions, so every name is unknown (ABI 5.14: NOT_FOUND). */
static wa_trap_kind_t hc_call_foreign(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    static const uint8_t p[] = {0, 1, 2, 3};
    PW_HC_RETURN(vm, results, not_found(vm, args, p, 2, -1));
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
    {"env", "proxy_increment_metric", "iI", "i", hc_metric_update, 0},
    {"env", "proxy_record_metric", "iI", "i", hc_metric_update, 0},
    {"env", "proxy_get_metric", "ii", "i", hc_get_metric, 0},
    {"env", "proxy_call_foreign_function", "iiiiii", "i", hc_call_foreign, 0},
    {NULL, NULL, NULL, NULL, NULL, 0},
};
