/* HTTP callouts of ABI 5.9 on one thread: tokens, the list of calls in flight, cancellation
 * when the owning root context goes, and delivery of responses to proxy_on_http_call_response. */
#include "pw_internal.h"

#include <stdlib.h>

static pw_callout_t *find(pw_thread_t *t, uint32_t token, pw_callout_t ***link)
{
    for (pw_callout_t **pp = &t->callouts; *pp; pp = &(*pp)->next)
        if ((*pp)->token == token) {
            if (link)
                *link = pp;
            return *pp;
        }
    return NULL;
}

uint32_t pw__callout_add(pw_thread_t *t, pw_root_t *r)
{
    pw_callout_t *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    /* Unique on the thread (so within every VM of it) while outstanding, never 0. */
    do
        c->token = ++t->next_token;
    while (c->token == 0 || find(t, c->token, NULL));
    c->root = r;
    c->next = t->callouts;
    t->callouts = c;
    return c->token;
}

void pw__callout_drop(pw_thread_t *t, uint32_t token)
{
    pw_callout_t **link, *c = find(t, token, &link);
    if (c) {
        *link = c->next;
        free(c);
    }
}

void pw__callouts_cancel_root(pw_thread_t *t, pw_root_t *r)
{
    pw_callout_t **pp = &t->callouts;
    while (*pp) {
        pw_callout_t *c = *pp;
        if (c->root != r) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        if (t->ops && t->ops->http_call_cancel)
            t->ops->http_call_cancel(t->ud, c->token);
        free(c);
    }
}

void pw_thread_http_call_done(pw_thread_t *t, uint32_t token, const pw_http_response_t *resp)
{
    pw_callout_t **link, *c = find(t, token, &link);
    if (!c)
        return; /* cancelled, or not ours: a late completion is dropped */
    *link = c->next;
    pw_root_t *r = c->root;
    free(c);
    pw_vm_t *vm = r->ctx.vm;
    if (r->deleted || vm->broken)
        return;
    /* Envoy: a failure reports 0 headers and proxy_get_status (BROKEN_CONNECTION, "reset"). */
    r->status_code = resp ? PW_R_OK : PW_R_BROKEN_CONNECTION;
    r->status_msg = resp ? "" : "reset";
    wa_value_t a[5] = {
        {.i32 = (int32_t)r->ctx.id},
        {.i32 = (int32_t)token},
        {.i32 = resp ? (int32_t)resp->n_headers : 0},
        {.i32 = resp ? (int32_t)(resp->body.len > INT32_MAX ? INT32_MAX : resp->body.len) : 0},
        {.i32 = resp ? (int32_t)resp->n_trailers : 0},
    };
    const pw_http_response_t *save = vm->http_resp;
    vm->http_resp = resp;
    pw__vm_call(vm, &r->ctx, PW_CB_HTTP_CALL_RESPONSE, a, 5, NULL);
    vm->http_resp = save;
    pw__run_deferred(vm);
    pw__fail_paused_streams(vm);
}
