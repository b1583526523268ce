/* Wasm plugins on the proxy side: code loaded once per process, plugin objects per configured
 * PluginConfig, per-worker host thread state with root-context tick timers and deferred tasks. */
#include "proxy/sl_wasm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "proxy/sl_cluster.h"
#include "proxy/sl_http_call.h"
#include "proxy/sl_log.h"

/* ---- process-wide plugin table (written on the main thread before workers start) ------- */

typedef struct code_entry {
    uint8_t *bytes; /* owned: the module as loaded, to find identical code */
    size_t len;
    pw_code_t *code; /* one reference */
} code_entry_t;

static struct {
    const sl_config_t *cfg; /* borrowed: the configuration the table was built from */
    pw_plugin_t **plugins;  /* owned array of owned references, by plugin index */
    size_t n_plugins;
    code_entry_t *codes; /* owned */
    size_t n_codes;
} g;

const char *sl_wasm_plugin_label(const sl_wasm_plugin_config_t *pc, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s %s", pc->name[0] ? pc->name : "-",
             pc->root_id[0] ? pc->root_id : "-", pc->vm.vm_id[0] ? pc->vm.vm_id : "-");
    return buf;
}

static bool read_all(const char *path, uint8_t **out, size_t *len, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            snprintf(why, why_len, "out of memory reading %s", path);
            return false;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (!nb)
            free(buf);
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(why, why_len, "cannot read %s", path);
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

/* The compiled code for these bytes: shared with an earlier plugin when identical. Takes
 * ownership of `bytes`. */
static pw_code_t *code_for(uint8_t *bytes, size_t len, char *why, size_t why_len)
{
    for (size_t i = 0; i < g.n_codes; i++)
        if (g.codes[i].len == len && memcmp(g.codes[i].bytes, bytes, len) == 0) {
            free(bytes);
            return g.codes[i].code;
        }
    code_entry_t *nc = realloc(g.codes, (g.n_codes + 1) * sizeof *nc);
    if (!nc) {
        free(bytes);
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    g.codes = nc;
    pw_error_t e;
    pw_code_t *code = NULL;
    if (pw_code_load(bytes, len, &code, &e) != PW_OK) {
        free(bytes);
        snprintf(why, why_len, "%s: %s", pw_status_str(e.status), e.message);
        return NULL;
    }
    g.codes[g.n_codes++] = (code_entry_t){.bytes = bytes, .len = len, .code = code};
    return code;
}

static pw_log_level_t pw_level_of(sl_log_level_t l)
{
    return (pw_log_level_t)l; /* the two enumerations share Envoy's numbering */
}

static sl_status_t make_plugin(const sl_wasm_plugin_config_t *pc, pw_plugin_t **out,
                               char *why, size_t why_len)
{
    const sl_wasm_vm_config_t *vm = &pc->vm;
    if (vm->runtime == SL_WASM_RUNTIME_NULL) {
        snprintf(why, why_len,
                 "runtime %s runs plugins compiled into the proxy; sluice has none named '%.*s'",
                 vm->runtime_name, (int)vm->code.inline_code.len,
                 (const char *)vm->code.inline_code.ptr);
        return SL_ERR_CONFIG;
    }
    if (vm->runtime == SL_WASM_RUNTIME_AOT) {
        snprintf(why, why_len, "runtime sluice.wasm.runtime.aot is not available in this build");
        return SL_ERR_CONFIG;
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    switch (vm->code.kind) {
    case SL_WASM_CODE_FILE:
        if (!read_all(vm->code.filename, &bytes, &len, why, why_len))
            return SL_ERR_CONFIG;
        break;
    case SL_WASM_CODE_INLINE_BYTES:
    case SL_WASM_CODE_INLINE_STRING:
        len = vm->code.inline_code.len;
        if (!(bytes = malloc(len ? len : 1))) {
            snprintf(why, why_len, "out of memory");
            return SL_ERR_NOMEM;
        }
        memcpy(bytes, vm->code.inline_code.ptr, len);
        break;
    case SL_WASM_CODE_REMOTE:
        snprintf(why, why_len,
                 "code.remote (fetching %s from cluster %s) is not supported; use code.local",
                 vm->code.uri, vm->code.cluster);
        return SL_ERR_CONFIG;
    }
    pw_code_t *code = code_for(bytes, len, why, why_len);
    if (!code)
        return SL_ERR_CONFIG;
    pw_env_var_t *env = calloc(vm->n_env ? vm->n_env : 1, sizeof *env);
    if (!env) {
        snprintf(why, why_len, "out of memory");
        return SL_ERR_NOMEM;
    }
    for (size_t i = 0; i < vm->n_env; i++)
        env[i] = (pw_env_var_t){.key = vm->env[i].key, .value = vm->env[i].value};
    pw_plugin_config_t hc = {
        .name = pc->name,
        .root_id = pc->root_id,
        .vm_id = vm->vm_id,
        .runtime = NULL, /* resolved by the configuration: our interpreter */
        .vm_configuration = {vm->configuration.ptr, vm->configuration.len},
        .plugin_configuration = {pc->configuration.ptr, pc->configuration.len},
        .env = env,
        .n_env = vm->n_env,
        .fail_open = pc->fail_open,
        .allow_on_headers_stop_iteration = pc->allow_on_headers_stop_iteration,
        .deadline_ms = pc->deadline_ms,
        .max_memory_bytes = pc->max_memory_bytes,
        .queue_max_items = pc->queue_max_items,
        .log_level = pw_level_of(sl_log_get_level()),
    };
    pw_error_t e;
    pw_status_t st = pw_plugin_new(&hc, code, out, &e);
    free(env);
    if (st != PW_OK) {
        snprintf(why, why_len, "%s", e.message);
        return st == PW_ERR_NOMEM ? SL_ERR_NOMEM : SL_ERR_CONFIG;
    }
    return SL_OK;
}

static void log_op(void *ud, pw_log_level_t level, const char *who, const char *msg,
                   size_t len)
{
    (void)ud;
    sl_log_level_t l = level > PW_LOG_CRITICAL ? SL_LOG_CRITICAL : (sl_log_level_t)level;
    SL_LOG(l, "wasm [%s]: %.*s", who, (int)(len > 3000 ? 3000 : len), msg);
}

/* The start-up check accepts a tick period (plugins commonly set one in proxy_on_configure) but
 * never fires it: the check's VMs are freed right after. */
static void check_timer_op(void *ud, pw_root_t *root, uint32_t period_ms)
{
    (void)ud, (void)root, (void)period_ms;
}

static const pw_dispatch_ops_t check_ops = {.log = log_op, .timer_set = check_timer_op};

/* The bootstrap service plugin `i` belongs to, or NULL for a filter's plugin. */
static const sl_wasm_service_config_t *service_of(size_t i)
{
    for (size_t k = 0; k < g.cfg->n_wasm_services; k++)
        if (g.cfg->wasm_services[k].plugin.index == i)
            return &g.cfg->wasm_services[k];
    return NULL;
}

sl_status_t sl_wasm_start(const sl_config_t *cfg, bool check_services, char *err,
                          size_t err_len)
{
    if (g.cfg == cfg)
        return SL_OK;
    sl_wasm_stop();
    g.cfg = cfg;
    if (cfg->n_wasm_plugins == 0)
        return SL_OK;
    g.plugins = calloc(cfg->n_wasm_plugins, sizeof *g.plugins);
    if (!g.plugins) {
        snprintf(err, err_len, "out of memory");
        return SL_ERR_NOMEM;
    }
    g.n_plugins = cfg->n_wasm_plugins;
    char why[400], label[256];
    for (size_t i = 0; i < cfg->n_wasm_plugins; i++) {
        const sl_wasm_plugin_config_t *pc = cfg->wasm_plugins[i];
        sl_wasm_plugin_label(pc, label, sizeof label);
        if (pc->vm.runtime_is_alias)
            SL_INFO("wasm [%s]: runtime %s runs on sluice.wasm.runtime.interp", label,
                    pc->vm.runtime_name);
        sl_status_t st = make_plugin(pc, &g.plugins[i], why, sizeof why);
        if (st != SL_OK) {
            snprintf(err, err_len, "wasm plugin '%s' (line %u): %s", label, pc->line, why);
            return st;
        }
    }
    /* Start every plugin once, as Envoy does on its main thread, so that a module that traps
     * in its start functions or rejects its configuration fails the load, not the traffic. */
    pw_thread_t *t = pw_thread_new(&check_ops, NULL);
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return SL_ERR_NOMEM;
    }
    sl_status_t st = SL_OK;
    for (size_t i = 0; i < g.n_plugins && st == SL_OK; i++) {
        /* Services run for real at start (their queues and ticks must not belong to a VM
         * that goes away); only a validation run checks them here. */
        if (!check_services && service_of(i))
            continue;
        pw_error_t e;
        if (pw_thread_prepare(t, g.plugins[i], &e) != PW_OK) {
            const sl_wasm_plugin_config_t *pc = cfg->wasm_plugins[i];
            snprintf(err, err_len, "wasm plugin '%s' (line %u): %s: %s",
                     sl_wasm_plugin_label(pc, label, sizeof label), pc->line,
                     pw_status_str(e.status), e.message);
            st = SL_ERR_CONFIG;
        }
    }
    pw_thread_free(t);
    return st;
}

void sl_wasm_stop(void)
{
    for (size_t i = 0; i < g.n_plugins; i++)
        pw_plugin_unref(g.plugins[i]);
    free(g.plugins);
    for (size_t i = 0; i < g.n_codes; i++) {
        pw_code_unref(g.codes[i].code);
        free(g.codes[i].bytes);
    }
    free(g.codes);
    memset(&g, 0, sizeof g);
}

pw_plugin_t *sl_wasm_plugin(uint32_t index)
{
    return index < g.n_plugins ? g.plugins[index] : NULL;
}

/* ---- per-worker state -------------------------------------------------------------------- */

typedef struct tick {
    uv_timer_t timer; /* closed (then freed) when the root stops ticking or the worker stops */
    pw_root_t *root;  /* borrowed: the host's; it calls timer_set(0) before freeing it */
    uint32_t period_ms;
    struct tick *next;
    bool in_tick; /* pw_root_on_tick is running: re-arm after it unless it stopped us */
} tick_t;

/* One event loop's host state: a worker's (owned by sl_worker_t.host) or the main thread's
 * (the singleton services; owned by this file). */
typedef struct wasm_worker {
    sl_worker_t *w;       /* borrowed: the worker, or the main thread's view (g_main_view);
                             NULL only for the start-up check */
    uv_loop_t *loop;      /* borrowed */
    pw_thread_t *thread;  /* owned */
    tick_t *ticks;        /* owned list */
    uv_timer_t defer_timer;
    sl_wasm_task_t *head, *tail; /* queued tasks (owned by their filters) */
    struct callout *callouts;    /* owned list: HTTP calls in flight */
    uv_async_t wake;             /* shared-queue wake-ups from any thread */
    pthread_mutex_t wake_lock;   /* guards wake against its close (wake_closed) */
    bool wake_closed;
    bool stopping;
} wasm_worker_t;

/* One proxy_http_call in flight. */
typedef struct callout {
    uint32_t token;
    sl_http_call_t *call;  /* owned by sl_http_call until it completes or is cancelled */
    wasm_worker_t *ww;     /* borrowed */
    struct callout *next;
} callout_t;

static void tick_closed(uv_handle_t *h)
{
    free(h->data);
}

static void tick_drop(wasm_worker_t *ww, tick_t *tk)
{
    for (tick_t **p = &ww->ticks; *p; p = &(*p)->next)
        if (*p == tk) {
            *p = tk->next;
            break;
        }
    uv_timer_stop(&tk->timer);
    uv_close((uv_handle_t *)&tk->timer, tick_closed);
}

static void on_tick(uv_timer_t *h)
{
    tick_t *tk = h->data;
    tk->in_tick = true;
    pw_root_t *root = tk->root;
    pw_root_on_tick(root);
    tk->in_tick = false;
    /* The period counts from the end of the tick; a period of 0 set inside it dropped us. */
    if (tk->root && tk->period_ms)
        uv_timer_start(&tk->timer, on_tick, tk->period_ms, 0);
}

static void timer_set_op(void *ud, pw_root_t *root, uint32_t period_ms)
{
    wasm_worker_t *ww = ud;
    tick_t *tk = ww->ticks;
    while (tk && tk->root != root)
        tk = tk->next;
    if (period_ms == 0 || ww->stopping) {
        if (tk) {
            tk->root = NULL;
            tick_drop(ww, tk);
        }
        return;
    }
    if (!tk) {
        if (!(tk = calloc(1, sizeof *tk)))
            return;
        uv_timer_init(ww->loop, &tk->timer);
        tk->timer.data = tk;
        tk->root = root;
        tk->next = ww->ticks;
        ww->ticks = tk;
    }
    tk->period_ms = period_ms;
    if (!tk->in_tick)
        uv_timer_start(&tk->timer, on_tick, period_ms, 0);
}

/* Any thread: an item is waiting in a queue this loop's roots own. */
static void queue_notify_op(void *ud)
{
    wasm_worker_t *ww = ud;
    pthread_mutex_lock(&ww->wake_lock);
    if (!ww->wake_closed)
        uv_async_send(&ww->wake);
    pthread_mutex_unlock(&ww->wake_lock);
}

static void on_wake(uv_async_t *a)
{
    wasm_worker_t *ww = a->data;
    if (!ww->stopping)
        pw_thread_dispatch_queues(ww->thread);
}

static callout_t *callout_take(wasm_worker_t *ww, uint32_t token)
{
    for (callout_t **p = &ww->callouts; *p; p = &(*p)->next)
        if ((*p)->token == token) {
            callout_t *c = *p;
            *p = c->next;
            return c;
        }
    return NULL;
}

static pw_header_t *to_pw_headers(const sl_header_t *h, size_t n)
{
    pw_header_t *out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = (pw_header_t){{(const uint8_t *)h[i].name, h[i].name_len},
                               {(const uint8_t *)h[i].value, h[i].value_len}};
    return out;
}

/* A local answer where Envoy gives one instead of a failure: 504 on timeout, 503 when no
 * connection could be had. */
static void callout_local_reply(wasm_worker_t *ww, uint32_t token, const char *status,
                                const char *body)
{
    char len[24];
    snprintf(len, sizeof len, "%zu", strlen(body));
    pw_header_t h[3] = {
        {{(const uint8_t *)":status", 7}, {(const uint8_t *)status, strlen(status)}},
        {{(const uint8_t *)"content-length", 14}, {(const uint8_t *)len, strlen(len)}},
        {{(const uint8_t *)"content-type", 12}, {(const uint8_t *)"text/plain", 10}},
    };
    pw_http_response_t r = {.headers = h, .n_headers = 3,
                            .body = {(const uint8_t *)body, strlen(body)}};
    pw_thread_http_call_done(ww->thread, token, &r);
}

static void callout_done(void *ud, sl_status_t st, const sl_http_call_response_t *resp)
{
    callout_t *co = ud;
    wasm_worker_t *ww = co->ww;
    uint32_t token = co->token;
    callout_take(ww, token);
    free(co);
    if (st == SL_OK) {
        pw_header_t *h = to_pw_headers(resp->headers, resp->n_headers);
        pw_header_t *t = to_pw_headers(resp->trailers, resp->n_trailers);
        if (h && t) {
            pw_http_response_t r = {
                .headers = h,
                .n_headers = resp->n_headers,
                .body = {(const uint8_t *)resp->body, resp->body_len},
                .trailers = t,
                .n_trailers = resp->n_trailers,
            };
            pw_thread_http_call_done(ww->thread, token, &r);
        } else {
            pw_thread_http_call_done(ww->thread, token, NULL);
        }
        free(h);
        free(t);
    } else if (st == SL_ERR_TIMEOUT) {
        callout_local_reply(ww, token, "504", "upstream request timeout");
    } else if (st == SL_ERR_UNAVAILABLE || st == SL_ERR_OVERFLOW) {
        callout_local_reply(ww, token, "503", "no healthy upstream");
    } else {
        pw_thread_http_call_done(ww->thread, token, NULL); /* reset before a response */
    }
}

static pw_result_t http_call_op(void *ud, const pw_http_call_t *req, uint32_t token)
{
    wasm_worker_t *ww = ud;
    if (!ww->w || ww->stopping)
        return PW_R_INTERNAL_FAILURE;
    char cluster[256];
    if (req->cluster.len >= sizeof cluster)
        return PW_R_BAD_ARGUMENT;
    memcpy(cluster, req->cluster.ptr, req->cluster.len);
    cluster[req->cluster.len] = 0;
    size_t nh = req->n_headers, nt = req->n_trailers;
    sl_header_t *h = calloc(nh + nt + 1, sizeof *h);
    callout_t *co = calloc(1, sizeof *co);
    if (!h || !co) {
        free(h);
        free(co);
        return PW_R_INTERNAL_FAILURE;
    }
    for (size_t i = 0; i < nh + nt; i++) {
        const pw_header_t *x = i < nh ? &req->headers[i] : &req->trailers[i - nh];
        h[i] = (sl_header_t){(const char *)x->key.ptr, (const char *)x->value.ptr,
                             (uint32_t)x->key.len, (uint32_t)x->value.len};
    }
    co->token = token;
    co->ww = ww;
    sl_status_t st = sl_http_call_start(ww->w, cluster, h, nh, req->body.ptr, req->body.len,
                                        h + nh, nt, req->timeout_ms, callout_done, co,
                                        &co->call);
    free(h);
    if (st != SL_OK) {
        free(co);
        return st == SL_ERR_NOT_FOUND || st == SL_ERR_ARG ? PW_R_BAD_ARGUMENT
                                                           : PW_R_INTERNAL_FAILURE;
    }
    co->next = ww->callouts;
    ww->callouts = co;
    return PW_R_OK;
}

static void http_call_cancel_op(void *ud, uint32_t token)
{
    callout_t *co = callout_take(ud, token);
    if (co) {
        sl_http_call_cancel(co->call);
        free(co);
    }
}

/* libuv reads the clock once per loop iteration: after a callback that ran for a while, a
 * timer armed next (an upstream connect or a route timeout) would count from before it. */
static void clock_moved_op(void *ud)
{
    wasm_worker_t *ww = ud;
    uv_update_time(ww->loop);
}

static const pw_dispatch_ops_t worker_ops = {
    .log = log_op,
    .timer_set = timer_set_op,
    .queue_notify = queue_notify_op,
    .http_call = http_call_op,
    .http_call_cancel = http_call_cancel_op,
    .clock_moved = clock_moved_op,
};

static void run_deferred(uv_timer_t *h)
{
    wasm_worker_t *ww = h->data;
    /* Tasks queued while running wait for the next turn, so none can starve the loop. */
    sl_wasm_task_t *last = ww->tail;
    while (ww->head) {
        sl_wasm_task_t *t = ww->head;
        bool was_last = t == last;
        ww->head = t->next;
        if (ww->head)
            ww->head->prev = NULL;
        else
            ww->tail = NULL;
        t->next = t->prev = NULL;
        t->queued = false;
        t->run(t);
        if (was_last)
            break;
    }
    if (ww->head)
        uv_timer_start(&ww->defer_timer, run_deferred, 0, 0);
}

static wasm_worker_t *loop_state_new(sl_worker_t *w, uv_loop_t *loop)
{
    wasm_worker_t *ww = calloc(1, sizeof *ww);
    if (!ww)
        return NULL;
    ww->w = w;
    ww->loop = loop;
    pthread_mutex_init(&ww->wake_lock, NULL);
    if (uv_async_init(loop, &ww->wake, on_wake) != 0 ||
        !(ww->thread = pw_thread_new(&worker_ops, ww))) {
        if (!uv_is_closing((uv_handle_t *)&ww->wake) && ww->wake.loop)
            uv_close((uv_handle_t *)&ww->wake, NULL);
        pthread_mutex_destroy(&ww->wake_lock);
        free(ww); /* only ever at start-up: the loop has not run the close yet */
        return NULL;
    }
    ww->wake.data = ww;
    uv_timer_init(loop, &ww->defer_timer);
    ww->defer_timer.data = ww;
    return ww;
}

/* Closes the loop's handles (ticks, deferred tasks); the loop can then finish. */
static void loop_state_stop(wasm_worker_t *ww)
{
    if (!ww || ww->stopping)
        return;
    ww->stopping = true;
    while (ww->ticks) {
        ww->ticks->root = NULL;
        tick_drop(ww, ww->ticks);
    }
    uv_timer_stop(&ww->defer_timer);
    uv_close((uv_handle_t *)&ww->defer_timer, NULL);
    while (ww->callouts) {
        callout_t *co = ww->callouts;
        ww->callouts = co->next;
        sl_http_call_cancel(co->call);
        free(co);
    }
    /* Other threads may still enqueue: they find the handle marked closed. */
    pthread_mutex_lock(&ww->wake_lock);
    ww->wake_closed = true;
    pthread_mutex_unlock(&ww->wake_lock);
    uv_close((uv_handle_t *)&ww->wake, NULL);
}

/* After the loop ended: the roots' last callbacks, then the replicas go. */
static void loop_state_free(wasm_worker_t *ww)
{
    if (!ww)
        return;
    ww->stopping = true;
    pw_thread_free(ww->thread);
    pthread_mutex_destroy(&ww->wake_lock);
    free(ww);
}

pw_thread_t *sl_wasm_worker_thread(sl_worker_t *w)
{
    wasm_worker_t *ww = w->host;
    if (!ww && (ww = loop_state_new(w, w->loop)))
        w->host = ww;
    return ww ? ww->thread : NULL;
}

void sl_wasm_worker_start(sl_worker_t *w)
{
    if (g.n_plugins == 0)
        return;
    pw_thread_t *t = sl_wasm_worker_thread(w);
    char label[256];
    for (size_t i = 0; i < g.n_plugins; i++) {
        const sl_wasm_service_config_t *sc = service_of(i);
        if (sc && sc->singleton)
            continue; /* the main thread runs it */
        pw_error_t e;
        if (!t || pw_thread_prepare(t, g.plugins[i], &e) != PW_OK)
            SL_ERROR("wasm [%s]: worker %u: %s",
                     sl_wasm_plugin_label(g.cfg->wasm_plugins[i], label, sizeof label),
                     w->index, t ? e.message : "out of memory");
    }
}

/* The main thread's loop state (singleton services), and the worker view it uses for the
 * services' HTTP callouts: its own clusters and pools on the main loop, the main stats slot. */
static wasm_worker_t *g_main;
static sl_worker_t g_main_view; /* clusters: owned array of owned clusters */

sl_status_t sl_wasm_main_start(uv_loop_t *loop, sl_cluster_def_t *const *defs, size_t n_defs,
                               char *err, size_t err_len)
{
    if (!g.cfg || g.cfg->n_wasm_services == 0)
        return SL_OK;
    memset(&g_main_view, 0, sizeof g_main_view);
    g_main_view.loop = loop;
    g_main_view.config = g.cfg;
    g_main_view.stats = sl_stats_main_block();
    g_main_view.clusters = calloc(n_defs ? n_defs : 1, sizeof *g_main_view.clusters);
    if (!g_main_view.clusters) {
        snprintf(err, err_len, "out of memory");
        return SL_ERR_NOMEM;
    }
    for (size_t i = 0; i < n_defs; i++) {
        if (!(g_main_view.clusters[i] = sl_cluster_new(&g_main_view, defs[i]))) {
            snprintf(err, err_len, "out of memory");
            return SL_ERR_NOMEM;
        }
        g_main_view.n_clusters++;
    }
    if (!(g_main = loop_state_new(&g_main_view, loop))) {
        snprintf(err, err_len, "out of memory");
        return SL_ERR_NOMEM;
    }
    char label[256];
    for (size_t k = 0; k < g.cfg->n_wasm_services; k++) {
        const sl_wasm_service_config_t *sc = &g.cfg->wasm_services[k];
        if (!sc->singleton)
            continue;
        pw_error_t e;
        sl_wasm_plugin_label(&sc->plugin, label, sizeof label);
        if (pw_thread_prepare(g_main->thread, g.plugins[sc->plugin.index], &e) != PW_OK) {
            snprintf(err, err_len, "wasm service '%s' (line %u): %s", label, sc->line,
                     e.message);
            return SL_ERR_CONFIG;
        }
        SL_INFO("wasm [%s]: singleton service running on the main thread", label);
    }
    return SL_OK;
}

void sl_wasm_main_stop(void)
{
    loop_state_stop(g_main); /* cancels callouts first: they hold pool connections */
    for (size_t i = 0; i < g_main_view.n_clusters; i++)
        sl_cluster_destroy(g_main_view.clusters[i]);
    g_main_view.n_clusters = 0;
}

void sl_wasm_main_free(void)
{
    loop_state_free(g_main);
    g_main = NULL;
    free(g_main_view.clusters); /* each cluster freed itself with its last connection */
    g_main_view.clusters = NULL;
}

void sl_wasm_defer(sl_worker_t *w, sl_wasm_task_t *t)
{
    wasm_worker_t *ww = w->host;
    if (!ww || t->queued || ww->stopping)
        return;
    t->queued = true;
    t->next = NULL;
    t->prev = ww->tail;
    if (ww->tail)
        ww->tail->next = t;
    else
        ww->head = t;
    ww->tail = t;
    if (!uv_is_active((uv_handle_t *)&ww->defer_timer))
        uv_timer_start(&ww->defer_timer, run_deferred, 0, 0);
}

void sl_wasm_cancel(sl_worker_t *w, sl_wasm_task_t *t)
{
    wasm_worker_t *ww = w->host;
    if (!ww || !t->queued)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        ww->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        ww->tail = t->prev;
    t->next = t->prev = NULL;
    t->queued = false;
}

void sl_wasm_worker_stop(sl_worker_t *w)
{
    loop_state_stop(w->host);
}

void sl_wasm_worker_free(sl_worker_t *w)
{
    loop_state_free(w->host);
    w->host = NULL;
}

pw_result_t sl_wasm_attr_str(const char *v, size_t len, bool allow_empty, pw_attr_value_t *out)
{
    if (!v || (!len && !allow_empty))
        return PW_R_NOT_FOUND;
    out->kind = PW_VAL_STRING;
    out->u.str = (pw_slice_t){(const uint8_t *)v, len};
    return PW_R_OK;
}

pw_result_t sl_wasm_attr_int(int64_t v, pw_attr_value_t *out)
{
    out->kind = PW_VAL_INT;
    out->u.i = v;
    return PW_R_OK;
}

pw_result_t sl_wasm_attr_port(const char *addr, pw_attr_value_t *out)
{
    const char *c = addr ? strrchr(addr, ':') : NULL;
    return c ? sl_wasm_attr_int(atoi(c + 1), out) : PW_R_NOT_FOUND;
}

bool sl_wasm_attr_common(pw_attr_t a, const sl_config_t *cfg, const sl_listener_config_t *lc,
                         uint64_t conn_id, pw_attr_value_t *out, pw_result_t *r)
{
    switch (a) {
    case PW_ATTR_CONNECTION_ID:
        out->kind = PW_VAL_UINT;
        out->u.u = conn_id;
        *r = PW_R_OK;
        return true;
    case PW_ATTR_CONNECTION_MTLS:
        out->kind = PW_VAL_BOOL;
        out->u.b = false; /* plain-text listeners only */
        *r = PW_R_OK;
        return true;
    case PW_ATTR_LISTENER_DIRECTION:
        *r = sl_wasm_attr_int((int64_t)lc->traffic_direction, out);
        return true;
    case PW_ATTR_NODE_ID:
        *r = sl_wasm_attr_str(cfg->node_id, strlen(cfg->node_id), true, out);
        return true;
    case PW_ATTR_NODE_CLUSTER:
        *r = sl_wasm_attr_str(cfg->node_cluster, strlen(cfg->node_cluster), true, out);
        return true;
    default:
        return false;
    }
}

int64_t sl_wasm_wall_ns_of(uv_loop_t *loop, uint64_t loop_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    uint64_t now_ms = uv_now(loop);
    int64_t ago_ms = now_ms > loop_ms ? (int64_t)(now_ms - loop_ms) : 0;
    return now_ns - ago_ms * 1000000;
}
