/* VM replicas: one instance per VM key per thread, linked against the hostcall tables and
 * src/wasi, started as the ABI says (4.4), called with per-callback deadlines; and the
 * guest-memory helpers. */
#include "pw_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- logging ---------------------------------------------------------------------------- */

void pw__log(pw_thread_t *t, pw_log_level_t lvl, const char *who, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    if (t && t->ops && t->ops->log)
        t->ops->log(t->ud, lvl, who ? who : "", msg, len);
    else
        fprintf(stderr, "[wasm %s] %.*s\n", who ? who : "", (int)len, msg);
}

/* ---- guest memory --------------------------------------------------------------------------- */

uint8_t *pw__mem(pw_vm_t *vm, uint32_t ptr, uint32_t len)
{
    static uint8_t empty[1];
    if (len == 0)
        return empty;
    if (!vm->mem)
        return NULL;
    return wa_memory_view(vm->mem, ptr, len);
}

bool pw__put_u32(pw_vm_t *vm, uint32_t ptr, uint32_t v)
{
    uint8_t *p = pw__mem(vm, ptr, 4);
    if (!p)
        return false;
    pw__st32(p, v);
    return true;
}

bool pw__put_u64(pw_vm_t *vm, uint32_t ptr, uint64_t v)
{
    uint8_t *p = pw__mem(vm, ptr, 8);
    if (!p)
        return false;
    pw__st64(p, v);
    return true;
}

bool pw__scratch(pw_vm_t *vm, size_t n)
{
    if (n <= vm->scratch_cap)
        return true;
    size_t cap = vm->scratch_cap ? vm->scratch_cap : 256;
    while (cap < n)
        cap *= 2;
    uint8_t *p = realloc(vm->scratch, cap);
    if (!p)
        return false;
    vm->scratch = p;
    vm->scratch_cap = cap;
    return true;
}

/* Calls the module's allocator re-entrantly (ABI 1: getters re-enter the guest). */
/* The allocator's block of len bytes, checked to lie in memory; *base is the memory's base
 * after the allocator ran (it may have grown, and moved, the memory). */
static inline __attribute__((always_inline)) int guest_alloc(pw_vm_t *vm, size_t len,
                                                             uint32_t *gptr, uint8_t **base)
{
    if (!vm->alloc || !vm->mem || len > UINT32_MAX)
        return PW_R_INVALID_MEMORY_ACCESS;
    wa_value_t arg = {.i32 = (int32_t)len}, res = {0};
    wa_trap_t trap;
    vm->in_alloc++;
    vm->depth++;
    wa_status_t ws = wa_call(vm->alloc, &arg, 1, &res, 1, NULL, &trap);
    vm->depth--;
    vm->in_alloc--;
    if (ws == WA_ERR_TRAP) {
        wa_trap_set(vm->caller, trap.kind, trap.exit_code, "in allocator: %s", trap.message);
        vm->trap = trap;
        return -1;
    }
    if (ws != WA_OK)
        return PW_R_INVALID_MEMORY_ACCESS;
    uint32_t p = (uint32_t)res.i32;
    uint64_t size;
    uint8_t *b = wa_memory_data(vm->mem, &size);
    if (p == 0 || (uint64_t)p + len > size)
        return PW_R_INVALID_MEMORY_ACCESS;
    *gptr = p;
    *base = b;
    return PW_R_OK;
}

int pw__guest_alloc(pw_vm_t *vm, size_t len, uint32_t *gptr)
{
    uint8_t *base;
    return guest_alloc(vm, len, gptr, &base);
}

/* Hot: every getter ends here. The return slots are checked once before the allocator runs
 * and written through one view taken after it (guest code may have moved the memory; it can
 * only have grown it, so the slots are still in range). */
int pw__return_bytes(pw_vm_t *vm, const void *data, size_t len, uint32_t ret_ptr_ptr,
                     uint32_t ret_size_ptr)
{
    uint64_t size = 0;
    uint8_t *base = vm->mem ? wa_memory_data(vm->mem, &size) : NULL;
    if (!pw__slots_fit(base, size, ret_ptr_ptr, ret_size_ptr))
        return PW_R_INVALID_MEMORY_ACCESS;
    return pw__return_bytes_to(vm, base, data, len, ret_ptr_ptr, ret_size_ptr);
}

int pw__return_bytes_to(pw_vm_t *vm, uint8_t *base, const void *data, size_t len,
                        uint32_t ret_ptr_ptr, uint32_t ret_size_ptr)
{
    uint32_t g = 0;
    if (len > 0) {
        int r = guest_alloc(vm, len, &g, &base); /* [g, g+len) checked */
        if (r != PW_R_OK)
            return r;
        memcpy(base + g, data, len);
    }
    /* The pointer goes first: overlapping slots end with the size, as they did with two
     * pw__put_u32 calls. */
    pw__st32(base + ret_ptr_ptr, g);
    pw__st32(base + ret_size_ptr, (uint32_t)len);
    return PW_R_OK;
}

/* ---- contexts ---------------------------------------------------------------------------- */

uint32_t pw__vm_new_id(pw_vm_t *vm)
{
    /* Monotonic, skipping 0 and ids still alive after a wrap (ABI 1). Until the first wrap
     * no live id can be ahead, so the list of live contexts is not searched. */
    for (;;) {
        uint32_t id = ++vm->next_id;
        if (id == 0) {
            vm->ids_wrapped = true;
            continue;
        }
        if (!vm->ids_wrapped || !pw__ctx_find(vm, id))
            return id;
    }
}

void pw__ctx_link(pw_vm_t *vm, pw_ctx_t *c)
{
    c->prev = NULL;
    c->next = vm->ctxs;
    if (vm->ctxs)
        vm->ctxs->prev = c;
    vm->ctxs = c;
}

void pw__ctx_unlink(pw_vm_t *vm, pw_ctx_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (vm->ctxs == c)
        vm->ctxs = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (vm->eff == c)
        vm->eff = vm->cur == c ? NULL : vm->cur; /* ABI 1: fall back to the real context */
    if (vm->cur == c)
        vm->cur = NULL;
}

pw_ctx_t *pw__ctx_find(pw_vm_t *vm, uint32_t id)
{
    for (pw_ctx_t *c = vm->ctxs; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

pw_stream_t *pw__eff_stream(pw_vm_t *vm)
{
    pw_ctx_t *c = vm->eff;
    return c && c->kind != PW_CTX_ROOT ? (pw_stream_t *)c : NULL;
}

pw_root_t *pw__eff_root(pw_vm_t *vm)
{
    pw_ctx_t *c = vm->eff;
    if (!c)
        return NULL;
    if (c->kind == PW_CTX_ROOT)
        return (pw_root_t *)c;
    return ((pw_stream_t *)c)->root;
}

/* ---- linking: one trampoline per imported function -------------------------------------- */

typedef struct hc_slot {
    pw_vm_t *vm;                /* borrowed: the slot array lives in the VM */
    const char *name;           /* borrowed from the module (the VM holds its code) */
    unsigned flags;             /* PW_HC_* */
    const pw_hostcall_t *hc;    /* env import: static table entry */
    wa_host_fn_t wasi;          /* WASI import: src/wasi's function, run on vm->wasi */
} hc_slot_t;

/* Every import lands here: enforces the restricted phases of ABI 1, then runs the env
 * hostcall or src/wasi's function on the VM's sandbox. */
static wa_trap_kind_t trampoline(wa_instance_t *caller, void *user, const wa_value_t *args,
                                 wa_value_t *results)
{
    hc_slot_t *sl = user;
    pw_vm_t *vm = sl->vm;
    vm->caller = caller;
    if (vm->phase == PW_VMPHASE_INIT && !(sl->flags & PW_HC_ANY_PHASE))
        return wa_trap_set(caller, WA_TRAP_HOST, 0,
                           "restricted_callback: %s is not allowed during start-up", sl->name);
    if (vm->in_alloc && !(sl->flags & PW_HC_IN_ALLOC))
        return wa_trap_set(caller, WA_TRAP_HOST, 0,
                           "restricted_callback: %s is not allowed inside the allocator",
                           sl->name);
    return sl->wasi ? sl->wasi(caller, vm->wasi, args, results) : sl->hc->fn(vm, args, results);
}

/* WASI fds 1 and 2 (ABI 9): one log line per write, INFO for stdout and ERROR for stderr,
 * under the plugin of the effective context, as proxy_log does (without its level filter). */
static void wasi_log_line(void *user, int fd, const uint8_t *line, size_t len)
{
    pw_vm_t *vm = user;
    pw_ctx_t *c = vm->eff ? vm->eff : vm->cur;
    pw_plugin_t *p = c ? c->plugin : vm->plugin;
    pw_log_level_t lvl = fd == 1 ? PW_LOG_INFO : PW_LOG_ERROR;
    pw_thread_t *t = vm->thread;
    if (t->ops && t->ops->log)
        t->ops->log(t->ud, lvl, p->who, (const char *)line, len);
    else
        pw__log(t, lvl, p->who, "%.*s", (int)len, (const char *)line);
}

/* The VM's WASI context: a sandbox whose environment is vm_config.environment_variables
 * only, never the proxy's own (ABI 9). */
static bool wasi_new(pw_vm_t *vm)
{
    const pw_plugin_t *p = vm->plugin;
    size_t bytes = 0;
    for (size_t i = 0; i < p->n_env; i++)
        bytes += strlen(p->env[i].key) + strlen(p->env[i].value) + 2;
    char *buf = malloc(bytes ? bytes : 1);
    const char **env = calloc(p->n_env ? p->n_env : 1, sizeof *env);
    bool ok = buf && env;
    for (size_t i = 0, off = 0; ok && i < p->n_env; i++) {
        size_t kl = strlen(p->env[i].key), vl = strlen(p->env[i].value);
        env[i] = buf + off;
        memcpy(buf + off, p->env[i].key, kl);
        buf[off + kl] = '=';
        memcpy(buf + off + kl + 1, p->env[i].value, vl + 1);
        off += kl + vl + 2;
    }
    wa_wasi_config_t cfg = {.envc = p->n_env, .env = env, .stdin_fd = -1, .stdout_fd = -1,
                            .stderr_fd = -1, .sandbox = true, .line_cb = wasi_log_line,
                            .line_user = vm};
    ok = ok && wa_wasi_new(&cfg, &vm->wasi) == WA_OK; /* copies the strings */
    free(env);
    free(buf);
    return ok;
}

static pw_status_t link_imports(pw_vm_t *vm, pw_error_t *err)
{
    const wa_module_t *m = vm->code->module;
    size_t n = wa_module_import_count(m);
    hc_slot_t *slots = calloc(n ? n : 1, sizeof *slots);
    vm->hc_slots = slots;
    vm->linker = wa_linker_new();
    if (!slots || !vm->linker)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const char *mod, *name;
        wa_externtype_t t;
        wa_wasi_func_t wf;
        if (wa_module_import(m, i, &mod, &name, &t) != WA_OK)
            goto nomem;
        slots[i].vm = vm;
        slots[i].name = name;
        if (wa_wasi_lookup(NULL, mod, name, NULL)) {
            if (!vm->wasi && !wasi_new(vm))
                goto nomem;
            wa_wasi_lookup(vm->wasi, mod, name, &wf);
            slots[i].wasi = wf.fn;
            slots[i].flags = pw__wasi_flags(name);
        } else if ((slots[i].hc = pw__hostcall_find(mod, name)) != NULL) {
            slots[i].flags = slots[i].hc->flags;
        } else { /* pw_code_load checked this already */
            if (err) {
                err->status = PW_ERR_LINK;
                snprintf(err->message, sizeof err->message, "import %s.%s: not provided", mod,
                         name);
            }
            return PW_ERR_LINK;
        }
        if (wa_linker_define_func(vm->linker, mod, name, &t.u.func, trampoline, &slots[i]) !=
            WA_OK)
            goto nomem;
    }
    return PW_OK;
nomem:
    if (err) {
        err->status = PW_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "out of memory linking the module");
    }
    return PW_ERR_NOMEM;
}

/* ---- calls -------------------------------------------------------------------------------- */

static const char *ctx_who(pw_vm_t *vm, pw_ctx_t *ctx)
{
    if (ctx && ctx->plugin)
        return ctx->plugin->who;
    return vm->plugin->who;
}

static void mark_broken(pw_vm_t *vm, pw_ctx_t *ctx, pw_cb_t cb, const wa_trap_t *trap)
{
    if (!vm->broken) {
        vm->broken = true;
        vm->thread->stats.vms_broken++;
    }
    vm->trap = *trap;
    vm->trap_cb = cb;
    /* ABI 11.6: no tick, queue or callout callback reaches a broken instance again. */
    for (pw_root_t *r = vm->roots; r; r = r->next_root)
        pw__root_detach(r);
    pw__log(vm->thread, PW_LOG_ERROR, ctx_who(vm, ctx), "Function: %s failed: %s%s%s",
            pw__cb_name(cb), wa_trap_kind_str(trap->kind), trap->message[0] ? ": " : "",
            trap->message);
}

pw_status_t pw__vm_call(pw_vm_t *vm, pw_ctx_t *ctx, pw_cb_t cb, const wa_value_t *args,
                        uint32_t nargs, int32_t *result)
{
    wa_func_t *f = vm->cb[cb];
    if (vm->broken)
        return PW_ERR_BROKEN;
    if (!f)
        return PW_ERR_ARG;
    uint32_t nresults = vm->cb_nresults[cb];
    if (vm->cb_constant[cb]) { /* an SDK's unused callback: its answer is known */
        if (result && nresults == 1)
            *result = vm->cb_value[cb];
        return PW_OK;
    }
    pw_ctx_t *save_cur = vm->cur, *save_eff = vm->eff;
    vm->cur = vm->eff = ctx;
    wa_value_t res[1] = {{0}};
    wa_trap_t trap;
    uint64_t clock_reads = wa_thread_clock_reads();
    vm->depth++;
    wa_status_t ws = wa_call(f, args, nargs, res, nresults, vm->depth > 1 ? NULL : &vm->limits,
                            &trap);
    vm->depth--;
    vm->cur = save_cur;
    vm->eff = save_eff;
    /* A long callback: the proxy's loop time is stale by its duration (see clock_moved). */
    if (__builtin_expect(wa_thread_clock_reads() != clock_reads, 0) && vm->depth == 0) {
        pw_thread_t *t = vm->thread;
        if (t->ops && t->ops->clock_moved)
            t->ops->clock_moved(t->ud);
    }
    if (ws == WA_OK) {
        if (result && nresults == 1)
            *result = res[0].i32;
        return PW_OK;
    }
    if (ws != WA_ERR_TRAP) {
        memset(&trap, 0, sizeof trap);
        trap.kind = WA_TRAP_HOST;
        snprintf(trap.message, sizeof trap.message, "call failed: %s", wa_status_str(ws));
    }
    if (trap.kind == WA_TRAP_EXIT && (cb == PW_CB_START || cb == PW_CB_INITIALIZE) &&
        trap.exit_code == 0) {
        /* ABI 4.4: TinyGo/Go commands end _start with proc_exit(0) after registering. */
        pw__log(vm->thread, PW_LOG_WARN, ctx_who(vm, ctx),
                "%s called proc_exit(0); start-up treated as complete", pw__cb_name(cb));
        return PW_OK;
    }
    mark_broken(vm, ctx, cb, &trap);
    return PW_ERR_TRAP;
}

/* ---- replicas ------------------------------------------------------------------------------- */

static void vm_free(pw_vm_t *vm)
{
    pw_root_t *r = vm->roots;
    while (r) {
        pw_root_t *next = r->next_root;
        pw__root_detach(r);
        pw_plugin_unref(r->plugin);
        free(r);
        r = next;
    }
    wa_instance_free(vm->inst);
    wa_linker_free(vm->linker);
    wa_wasi_free(vm->wasi);
    free(vm->hc_slots);
    free(vm->scratch);
    free(vm->xfer);
    pw_plugin_unref(vm->plugin);
    pw_code_unref(vm->code);
    vm->thread->stats.vms_live--;
    free(vm);
}

void pw__vm_unref(pw_vm_t *vm)
{
    if (vm && --vm->refs == 0)
        vm_free(vm);
}

static pw_status_t vm_start(pw_vm_t *vm, pw_error_t *err)
{
    /* ABI 4.4: _initialize (+ main / __main_void), else _start. */
    pw_status_t st = PW_OK;
    int32_t ignored;
    vm->phase = PW_VMPHASE_INIT;
    if (vm->cb[PW_CB_INITIALIZE]) {
        st = pw__vm_call(vm, NULL, PW_CB_INITIALIZE, NULL, 0, NULL);
        if (st == PW_OK && vm->cb[PW_CB_MAIN]) {
            wa_value_t a[2] = {{.i32 = 0}, {.i32 = 0}};
            st = pw__vm_call(vm, NULL, PW_CB_MAIN, a, 2, &ignored);
        } else if (st == PW_OK && vm->cb[PW_CB_MAIN_VOID]) {
            st = pw__vm_call(vm, NULL, PW_CB_MAIN_VOID, NULL, 0, &ignored);
        }
    } else if (vm->cb[PW_CB_START]) {
        st = pw__vm_call(vm, NULL, PW_CB_START, NULL, 0, NULL);
    }
    vm->phase = PW_VMPHASE_READY;
    if (st != PW_OK && err) {
        err->status = PW_ERR_START;
        snprintf(err->message, sizeof err->message, "start-up of %s failed: %s: %s",
                 vm->plugin->who, wa_trap_kind_str(vm->trap.kind), vm->trap.message);
    }
    return st == PW_OK ? PW_OK : PW_ERR_START;
}

static pw_status_t vm_new(pw_thread_t *t, pw_plugin_t *p, pw_vm_t **out, pw_error_t *err)
{
    pw_status_t st;
    wa_error_t werr;
    pw_vm_t *vm = calloc(1, sizeof *vm);
    if (!vm) {
        if (err) {
            err->status = PW_ERR_NOMEM;
            snprintf(err->message, sizeof err->message, "out of memory creating a VM");
        }
        return PW_ERR_NOMEM;
    }
    vm->thread = t;
    vm->plugin = pw_plugin_ref(p);
    vm->code = pw_code_ref(p->code);
    memcpy(vm->key, p->vm_key, sizeof vm->key);
    vm->refs = 1;
    t->stats.vms_live++;
    t->stats.vms_created++;
    if ((st = link_imports(vm, err)) != PW_OK)
        goto fail;
    wa_instance_limits_t lim = {.max_memory_pages = p->max_memory_pages};
    vm->phase = PW_VMPHASE_INIT; /* the start section may call hostcalls (AssemblyScript) */
    if (wa_instance_new(vm->code->module, vm->linker, &lim, &vm->inst, &werr) != WA_OK) {
        st = werr.status == WA_ERR_UNLINKABLE ? PW_ERR_LINK : PW_ERR_START;
        if (err) {
            err->status = st;
            snprintf(err->message, sizeof err->message, "instantiating %s: %s: %s", p->who,
                     wa_status_str(werr.status), werr.message);
        }
        goto fail;
    }
    wa_instance_set_user(vm->inst, vm);
    vm->caller = vm->inst;
    vm->mem = wa_instance_memory(vm->inst);
    /* A budget, not a deadline: most callbacks end before the engine's first clock check. */
    vm->limits = (wa_call_limits_t){.budget_ns = p->deadline_ns};
    for (int cb = 0; cb < PW_CB__COUNT; cb++) {
        vm->cb[cb] = wa_instance_func(vm->inst, pw__cb_name((pw_cb_t)cb));
        if (vm->cb[cb]) {
            wa_functype_t ft;
            wa_func_type(vm->cb[cb], &ft);
            vm->cb_nresults[cb] = (uint8_t)(ft.nresults < 1 ? ft.nresults : 1);
            wa_value_t k;
            vm->cb_constant[cb] = wa_func_constant(vm->cb[cb], &k);
            vm->cb_value[cb] = vm->cb_constant[cb] ? k.i32 : 0;
        }
    }
    vm->alloc = vm->cb[PW_CB_ALLOC] ? vm->cb[PW_CB_ALLOC] : vm->cb[PW_CB_MALLOC];
    if (!vm->mem || !vm->alloc) {
        st = PW_ERR_START;
        if (err) {
            err->status = st;
            snprintf(err->message, sizeof err->message, "%s: module exports no %s", p->who,
                     vm->mem ? "allocator (proxy_on_memory_allocate or malloc)" : "memory");
        }
        goto fail;
    }
    if ((st = vm_start(vm, err)) != PW_OK)
        goto fail;
    *out = vm;
    return PW_OK;
fail:
    vm_free(vm);
    return st;
}

/* ---- threads ------------------------------------------------------------------------------ */

pw_thread_t *pw_thread_new(const pw_dispatch_ops_t *ops, void *ud)
{
    pw_thread_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ops = ops;
    t->ud = ud;
    pthread_mutex_init(&t->ready_lock, NULL);
    return t;
}

void pw_thread_free(pw_thread_t *t)
{
    if (!t)
        return;
    while (t->vms) {
        pw_vm_t *vm = t->vms;
        t->vms = vm->next;
        vm->listed = false;
        for (pw_root_t *r = vm->roots; r; r = r->next_root)
            pw__root_end(r);
        pw__vm_unref(vm);
    }
    pw__queues_detach_thread(t); /* no other thread may announce to t from now on */
    while (t->callouts) { /* roots of broken VMs already cancelled theirs; be thorough */
        pw_callout_t *c = t->callouts;
        t->callouts = c->next;
        if (t->ops && t->ops->http_call_cancel)
            t->ops->http_call_cancel(t->ud, c->token);
        free(c);
    }
    while (t->spare) {
        pw_stream_t *st = t->spare;
        t->spare = st->next_dirty;
        free(st);
    }
    free(t->ready);
    pthread_mutex_destroy(&t->ready_lock);
    while (t->fails) {
        pw_fail_mark_t *f = t->fails;
        t->fails = f->next;
        pw_plugin_unref(f->plugin);
        free(f);
    }
    free(t);
}

void pw_thread_stats(const pw_thread_t *t, pw_thread_stats_t *out)
{
    *out = t->stats;
}

/* Drops broken replicas from the thread's list; streams still on them keep them alive. */
static void sweep_broken(pw_thread_t *t)
{
    pw_vm_t **pp = &t->vms;
    while (*pp) {
        pw_vm_t *vm = *pp;
        if (vm->broken && vm->depth == 0) {
            *pp = vm->next;
            vm->listed = false;
            pw__vm_unref(vm);
        } else {
            pp = &vm->next;
        }
    }
}

static bool failed_recently(pw_thread_t *t, pw_plugin_t *p, uint64_t now)
{
    for (pw_fail_mark_t *f = t->fails; f; f = f->next)
        if (f->plugin == p && f->until_ns > now)
            return true;
    return false;
}

static void remember_failure(pw_thread_t *t, pw_plugin_t *p, uint64_t now)
{
    for (pw_fail_mark_t *f = t->fails; f; f = f->next)
        if (f->plugin == p) {
            f->until_ns = now + 1000000000ull;
            return;
        }
    pw_fail_mark_t *f = calloc(1, sizeof *f);
    if (!f)
        return;
    f->plugin = pw_plugin_ref(p);
    f->until_ns = now + 1000000000ull;
    f->next = t->fails;
    t->fails = f;
}

/* Finds or creates the plugin's root context on this thread (and its VM replica). */
pw_status_t pw__thread_root(pw_thread_t *t, pw_plugin_t *p, pw_root_t **out, pw_error_t *err)
{
    sweep_broken(t);
    pw_vm_t *vm = NULL;
    for (pw_vm_t *v = t->vms; v; v = v->next)
        if (!v->broken && memcmp(v->key, p->vm_key, sizeof v->key) == 0) {
            vm = v;
            break;
        }
    if (vm)
        for (pw_root_t *r = vm->roots; r; r = r->next_root)
            if (r->plugin == p && !r->deleted) {
                *out = r;
                return PW_OK;
            }
    uint64_t now = wa_now_ns();
    if (failed_recently(t, p, now)) {
        if (err) {
            err->status = PW_ERR_BROKEN;
            snprintf(err->message, sizeof err->message,
                     "%s: failed less than a second ago; not retried yet", p->who);
        }
        return PW_ERR_BROKEN;
    }
    pw_status_t st = PW_OK;
    bool fresh = false;
    if (!vm) {
        if ((st = vm_new(t, p, &vm, err)) != PW_OK)
            goto fail;
        vm->listed = true;
        vm->next = t->vms;
        t->vms = vm;
        fresh = true;
    }
    if ((st = pw__root_start(vm, p, out, err)) != PW_OK) {
        if (fresh && !vm->roots)
            vm->broken = true; /* never used: drop it at the next sweep */
        goto fail;
    }
    return PW_OK;
fail:
    remember_failure(t, p, now);
    pw__log(t, PW_LOG_ERROR, p->who, "%s", err ? err->message : pw_status_str(st));
    return st;
}

static pw_root_t *live_root(const pw_thread_t *t, const pw_plugin_t *p)
{
    for (pw_vm_t *v = t->vms; v; v = v->next)
        if (!v->broken)
            for (pw_root_t *r = v->roots; r; r = r->next_root)
                if (r->plugin == p && !r->deleted)
                    return r;
    return NULL;
}

bool pw_thread_has_root(const pw_thread_t *t, const pw_plugin_t *p)
{
    return live_root(t, p) != NULL;
}

void pw_thread_release(pw_thread_t *t, pw_plugin_t *p)
{
    pw_root_t *r = live_root(t, p);
    if (r && r->ctx.vm->depth == 0)
        pw__root_end(r);
}

pw_status_t pw_thread_prepare(pw_thread_t *t, pw_plugin_t *p, pw_error_t *err)
{
    pw_root_t *r;
    return pw__thread_root(t, p, &r, err);
}
