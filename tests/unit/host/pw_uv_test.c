/* The host's dispatch contract run on real libuv loops, as the proxy wires it: uv_timer per
 * root for ticks, uv_async for queue wake-ups from other threads, deferred callout answers. */
#include "../../t.h"
#include "sluice/host.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#ifndef PW_TEST_PLUGIN_DIR
#define PW_TEST_PLUGIN_DIR "build/plugins"
#endif

#define S(str) ((pw_slice_t){(const uint8_t *)(str), strlen(str)})

/* ---- the loop side: what src/proxy implements with libuv ---------------------------------- */

enum { MAX_TIMERS = 8, MAX_CALLS = 8 };

typedef struct root_timer {
    uv_timer_t timer;  /* data: the loop */
    pw_root_t *root;   /* NULL: slot free */
    uint32_t period_ms;
} root_timer_t;

typedef struct pending_call {
    uv_timer_t timer;  /* fires the answer on a later loop iteration */
    uint32_t token;
    bool live;
} pending_call_t;

typedef struct loop {
    uv_loop_t uv;
    uv_async_t wake;    /* queue_notify target */
    uv_timer_t guard;   /* bounds every test */
    pw_thread_t *t;
    root_timer_t timers[MAX_TIMERS];
    pending_call_t calls[MAX_CALLS];
    int status;         /* answer of every callout */
    int wakes, cancels;
    bool (*done)(struct loop *);
    uv_timer_t check;   /* polls done() */
} loop_t;

static void on_tick(uv_timer_t *h)
{
    root_timer_t *rt = (root_timer_t *)h;
    pw_root_on_tick(rt->root);
    /* Envoy measures the period from the end of the previous tick; the plugin may have
     * stopped or changed it inside the tick (timer_set ran meanwhile). */
    if (rt->root && rt->period_ms)
        uv_timer_start(&rt->timer, on_tick, rt->period_ms, 0);
}

static void l_timer_set(void *ud, pw_root_t *root, uint32_t period_ms)
{
    loop_t *l = ud;
    root_timer_t *free_slot = NULL;
    for (int i = 0; i < MAX_TIMERS; i++) {
        if (l->timers[i].root == root) {
            uv_timer_stop(&l->timers[i].timer);
            l->timers[i].period_ms = period_ms;
            if (period_ms)
                uv_timer_start(&l->timers[i].timer, on_tick, period_ms, 0);
            else
                l->timers[i].root = NULL;
            return;
        }
        if (!l->timers[i].root && !free_slot)
            free_slot = &l->timers[i];
    }
    if (period_ms && free_slot) {
        free_slot->root = root;
        free_slot->period_ms = period_ms;
        uv_timer_start(&free_slot->timer, on_tick, period_ms, 0);
    }
}

static void l_notify(void *ud) { uv_async_send(&((loop_t *)ud)->wake); } /* any thread */

static void on_wake(uv_async_t *h)
{
    loop_t *l = h->data;
    l->wakes++;
    pw_thread_dispatch_queues(l->t);
}

static void on_answer(uv_timer_t *h)
{
    pending_call_t *c = (pending_call_t *)h;
    loop_t *l = h->data;
    c->live = false;
    char code[8];
    snprintf(code, sizeof code, "%d", l->status);
    pw_header_t hd[1] = {{S(":status"), S(code)}};
    pw_http_response_t r = {hd, 1, S("answer"), NULL, 0};
    pw_thread_http_call_done(l->t, c->token, &r);
}

static pw_result_t l_http_call(void *ud, const pw_http_call_t *req, uint32_t token)
{
    loop_t *l = ud;
    if (req->cluster.len != 4 || memcmp(req->cluster.ptr, "auth", 4) != 0)
        return PW_R_BAD_ARGUMENT;
    for (int i = 0; i < MAX_CALLS; i++)
        if (!l->calls[i].live) { /* answered on a later iteration, never from inside here */
            l->calls[i].live = true;
            l->calls[i].token = token;
            uv_timer_start(&l->calls[i].timer, on_answer, 1, 0);
            return PW_R_OK;
        }
    return PW_R_INTERNAL_FAILURE;
}

static void l_cancel(void *ud, uint32_t token)
{
    loop_t *l = ud;
    l->cancels++;
    for (int i = 0; i < MAX_CALLS; i++)
        if (l->calls[i].live && l->calls[i].token == token) {
            uv_timer_stop(&l->calls[i].timer);
            l->calls[i].live = false;
        }
}

/* libuv caches the time per iteration; a long callback makes it stale. */
static void l_clock_moved(void *ud) { uv_update_time(&((loop_t *)ud)->uv); }

static const pw_dispatch_ops_t uv_ops = {
    .timer_set = l_timer_set, .queue_notify = l_notify,
    .http_call = l_http_call, .http_call_cancel = l_cancel, .clock_moved = l_clock_moved,
};

static void on_guard(uv_timer_t *h)
{
    (void)h;
    t_fail(__FILE__, __LINE__, "the loop did not finish in time");
}

static void on_check(uv_timer_t *h)
{
    loop_t *l = h->data;
    if (l->done(l))
        uv_stop(&l->uv);
}

static void loop_open(loop_t *l)
{
    memset(l, 0, sizeof *l);
    T_EQ_INT(uv_loop_init(&l->uv), 0);
    uv_async_init(&l->uv, &l->wake, on_wake);
    l->wake.data = l;
    uv_timer_init(&l->uv, &l->guard);
    uv_timer_init(&l->uv, &l->check);
    l->check.data = l;
    for (int i = 0; i < MAX_TIMERS; i++)
        uv_timer_init(&l->uv, &l->timers[i].timer);
    for (int i = 0; i < MAX_CALLS; i++) {
        uv_timer_init(&l->uv, &l->calls[i].timer);
        l->calls[i].timer.data = l;
    }
    l->t = pw_thread_new(&uv_ops, l);
}

/* Runs until done() holds (checked every millisecond), at most 10 s. */
static void loop_run(loop_t *l, bool (*done)(loop_t *))
{
    l->done = done;
    uv_timer_start(&l->guard, on_guard, 10000, 0);
    uv_timer_start(&l->check, on_check, 1, 1);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    uv_timer_stop(&l->check);
    uv_timer_stop(&l->guard);
}

static void on_closed(uv_handle_t *h) { (void)h; }

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

/* pw_thread_free first (it stops timers and cancels callouts through the ops), then the
 * handles: queue_notify must work until pw_thread_free returns. */
static void loop_close(loop_t *l)
{
    pw_thread_free(l->t);
    uv_walk(&l->uv, close_walk, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    T_EQ_INT(uv_loop_close(&l->uv), 0);
}

/* ---- plugins and metrics --------------------------------------------------------------------- */

static pw_plugin_t *plugin(const char *name, const char *vm_id, const char *conf)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.wasm", PW_TEST_PLUGIN_DIR, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        t_fail(__FILE__, __LINE__, "cannot open %s (build with `make plugins`)", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    T_ASSERT(fread(b, 1, (size_t)n, fp) == (size_t)n);
    fclose(fp);
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(b, (size_t)n, &c, &err), PW_OK);
    free(b);
    pw_plugin_config_t cfg = {.name = name, .root_id = name, .vm_id = vm_id,
                              .plugin_configuration = S(conf)};
    pw_plugin_t *p = NULL;
    if (pw_plugin_new(&cfg, c, &p, &err) != PW_OK)
        t_fail(__FILE__, __LINE__, "plugin %s: %s", name, err.message);
    pw_code_unref(c);
    return p;
}

typedef struct mfind {
    const char *name;
    uint64_t value;
} mfind_t;

static void mfind_cb(void *ud, const pw_metric_info_t *m)
{
    mfind_t *f = ud;
    if (strcmp(m->name, f->name) == 0)
        f->value = m->value;
}

static uint64_t metric(const char *name)
{
    mfind_t f = {name, 0};
    pw_metrics_foreach(mfind_cb, &f);
    return f.value;
}

/* ---- a fake stream (request headers, replies, continues) ------------------------------------- */

typedef struct fstream {
    const char *path;
    int continues, replies;
    uint32_t reply_status;
} fstream_t;

static pw_result_t fs_get(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t *val)
{
    fstream_t *f = s;
    if (m != PW_MAP_REQUEST_HEADERS)
        return PW_R_BAD_ARGUMENT;
    if (key.len == 5 && memcmp(key.ptr, ":path", 5) == 0) {
        *val = S(f->path);
        return PW_R_OK;
    }
    return PW_R_NOT_FOUND;
}

static void fs_reply(void *s, uint32_t status, pw_slice_t d, pw_slice_t b, const pw_header_t *h,
                     size_t n, int32_t g)
{
    (void)d, (void)b, (void)h, (void)n, (void)g;
    ((fstream_t *)s)->replies++;
    ((fstream_t *)s)->reply_status = status;
}

static void fs_continue(void *s, pw_stream_type_t dir)
{
    if (dir == PW_STREAM_REQUEST)
        ((fstream_t *)s)->continues++;
}

static const pw_stream_ops_t sops = {
    .map_get = fs_get, .send_local_reply = fs_reply, .continue_stream = fs_continue,
};

/* ---- tests ----------------------------------------------------------------------------------- */

static bool five_ticks(loop_t *l)
{
    (void)l;
    return metric("tick_gauge.ticks") >= 5;
}

TEST(a_service_ticks_on_a_uv_timer_until_its_thread_is_freed)
{
    pw_plugin_t *p = plugin("tick_gauge", "uv_tick", "10");
    loop_t l;
    loop_open(&l);
    pw_error_t err = {0};
    T_EQ_INT(pw_thread_prepare(l.t, p, &err), PW_OK); /* main thread, no streams */
    T_ASSERT(l.timers[0].root != NULL);
    loop_run(&l, five_ticks);
    T_ASSERT(metric("tick_gauge.ticks") >= 5);
    loop_close(&l);
    T_ASSERT(l.timers[0].root == NULL); /* stopped by pw_thread_free through timer_set */
    pw_plugin_unref(p);
}

enum { PRODUCERS = 3, REQUESTS = 100 };

typedef struct producer {
    pw_plugin_t *filter;
    int index;
} producer_t;

static void *produce(void *arg)
{
    producer_t *pr = arg;
    static const pw_dispatch_ops_t none = {0};
    pw_thread_t *t = pw_thread_new(&none, NULL);
    char path[16];
    snprintf(path, sizeof path, "/w%d", pr->index);
    for (int i = 0; i < REQUESTS; i++) {
        fstream_t f = {.path = path};
        pw_stream_t *st = pw_stream_new(t, pr->filter, PW_KIND_HTTP, &sops, &f);
        pw_stream_on_request_headers(st, 1, true);
        pw_stream_free(st);
    }
    pw_thread_free(t);
    return NULL;
}

static bool all_items(loop_t *l)
{
    (void)l;
    return metric("path_stats.items") == PRODUCERS * REQUESTS;
}

TEST(workers_enqueue_and_uv_async_wakes_the_service_loop)
{
    pw_plugin_t *svc = plugin("path_stats", "uv_collector", "paths");
    pw_plugin_t *filter = plugin("path_enqueue", "uv_web", "uv_collector paths");
    loop_t l;
    loop_open(&l);
    pw_error_t err = {0};
    T_EQ_INT(pw_thread_prepare(l.t, svc, &err), PW_OK);
    pthread_t th[PRODUCERS];
    producer_t pr[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        pr[i] = (producer_t){filter, i};
        T_EQ_INT(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
    }
    loop_run(&l, all_items);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    T_EQ_UINT(metric("path_stats.items"), PRODUCERS * REQUESTS);
    for (int i = 0; i < PRODUCERS; i++) {
        char name[48];
        snprintf(name, sizeof name, "path_stats.requests._w%d", i);
        T_EQ_UINT(metric(name), REQUESTS);
    }
    T_ASSERT(l.wakes >= 1 && l.wakes <= PRODUCERS * REQUESTS); /* coalesced or not, enough */
    loop_close(&l);
    pw_plugin_unref(filter);
    pw_plugin_unref(svc);
}

static fstream_t *watched;

static bool answered(loop_t *l)
{
    (void)l;
    return watched->continues + watched->replies > 0;
}

TEST(a_callout_answered_on_a_later_loop_iteration_resumes_the_request)
{
    pw_plugin_t *p = plugin("callout_auth", "uv_auth", "auth 100");
    int statuses[] = {200, 403};
    for (int i = 0; i < 2; i++) {
        loop_t l;
        loop_open(&l);
        l.status = statuses[i];
        fstream_t f = {.path = "/x"};
        watched = &f;
        pw_stream_t *st = pw_stream_new(l.t, p, PW_KIND_HTTP, &sops, &f);
        T_EQ_INT(pw_stream_on_request_headers(st, 1, true), PW_STOP_ALL_WATERMARK);
        loop_run(&l, answered);
        if (statuses[i] == 200) {
            T_EQ_INT(f.continues, 1);
            T_EQ_INT(f.replies, 0);
        } else {
            T_EQ_INT(f.replies, 1);
            T_EQ_UINT(f.reply_status, 403);
        }
        pw_stream_free(st);
        loop_close(&l);
        T_EQ_INT(l.cancels, 0);
    }
    pw_plugin_unref(p);
}

TEST(freeing_the_thread_cancels_a_callout_in_flight)
{
    pw_plugin_t *p = plugin("callout_auth", "uv_auth", "auth 100");
    loop_t l;
    loop_open(&l);
    fstream_t f = {.path = "/x"};
    pw_stream_t *st = pw_stream_new(l.t, p, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 1, true), PW_STOP_ALL_WATERMARK);
    pw_stream_free(st);
    loop_close(&l); /* the answer timer never fires: cancelled first */
    T_EQ_INT(l.cancels, 1);
    T_EQ_INT(f.continues + f.replies, 0);
    pw_plugin_unref(p);
}

/* Inside the loop, a callback that runs into its 100 ms deadline moves the loop's time
 * forward (clock_moved), so a timer armed next counts from the callback's end; a short
 * callback leaves the cached time alone. */
typedef struct timed_run {
    pw_plugin_t *p;
    loop_t *l;
    uint64_t moved_ms; /* uv_now after the callback minus before */
    bool ran;
} timed_run_t;

static void on_run(uv_timer_t *h)
{
    timed_run_t *r = h->data;
    fstream_t f = {.path = "/x"};
    pw_stream_t *st = pw_stream_new(r->l->t, r->p, PW_KIND_HTTP, &sops, &f);
    uint64_t before = uv_now(&r->l->uv);
    pw_stream_on_request_headers(st, 1, true);
    r->moved_ms = uv_now(&r->l->uv) - before;
    pw_stream_free(st);
    r->ran = true;
    uv_stop(&r->l->uv);
}

TEST(a_long_callback_brings_the_loops_time_forward)
{
    const char *modes[] = {"headers", "loop"};
    for (int m = 0; m < 2; m++) {
        timed_run_t r = {.p = plugin("hostcalls", m ? "uv_loop" : "uv_headers", modes[m])};
        loop_t l;
        loop_open(&l);
        r.l = &l;
        uv_timer_t run;
        uv_timer_init(&l.uv, &run);
        run.data = &r;
        uv_timer_start(&run, on_run, 0, 0);
        uv_timer_start(&l.guard, on_guard, 10000, 0);
        uv_run(&l.uv, UV_RUN_DEFAULT);
        uv_timer_stop(&l.guard);
        T_ASSERT(r.ran);
        if (m == 0)
            T_EQ_UINT(r.moved_ms, 0);
        else
            T_ASSERT(r.moved_ms >= 90);
        loop_close(&l);
        pw_plugin_unref(r.p);
    }
}
