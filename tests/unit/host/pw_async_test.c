/* Host tests for shared data, shared queues, metrics, ticks and HTTP callouts, through the C
 * API and the example plugins, with real threads and a fake per-thread dispatch. */
#include "../../t.h"
#include "sluice/host.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PW_TEST_PLUGIN_DIR
#define PW_TEST_PLUGIN_DIR "build/plugins"
#endif

#define S(str) ((pw_slice_t){(const uint8_t *)(str), strlen(str)})

/* ---- a fake dispatch (the proxy's per-thread loop) ---------------------------------------- */

enum { MAXREC = 64 };
typedef struct fdisp {
    atomic_int notifies;
    int timer_calls;
    pw_root_t *timer_root[MAXREC];
    uint32_t timer_ms[MAXREC];
    pw_result_t http_result; /* what http_call answers */
    int calls;
    uint32_t token[MAXREC];
    char cluster[64], headers[512];
    uint32_t timeout_ms;
    int cancels;
    uint32_t cancelled[MAXREC];
} fdisp_t;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[32768];

static void d_log(void *ud, pw_log_level_t lvl, const char *who, const char *msg, size_t len)
{
    (void)ud, (void)who;
    pthread_mutex_lock(&log_lock);
    size_t l = strlen(logbuf);
    snprintf(logbuf + l, sizeof logbuf - l, "%d|%.*s\n", (int)lvl, (int)len, msg);
    pthread_mutex_unlock(&log_lock);
}

static void d_timer(void *ud, pw_root_t *root, uint32_t ms)
{
    fdisp_t *d = ud;
    if (d->timer_calls < MAXREC) {
        d->timer_root[d->timer_calls] = root;
        d->timer_ms[d->timer_calls] = ms;
    }
    d->timer_calls++;
}

static void d_notify(void *ud) { atomic_fetch_add(&((fdisp_t *)ud)->notifies, 1); }

static pw_result_t d_http_call(void *ud, const pw_http_call_t *req, uint32_t token)
{
    fdisp_t *d = ud;
    if (d->http_result != PW_R_OK)
        return d->http_result;
    snprintf(d->cluster, sizeof d->cluster, "%.*s", (int)req->cluster.len,
             (const char *)req->cluster.ptr);
    d->headers[0] = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        size_t l = strlen(d->headers);
        snprintf(d->headers + l, sizeof d->headers - l, "%.*s=%.*s;",
                 (int)req->headers[i].key.len, (const char *)req->headers[i].key.ptr,
                 (int)req->headers[i].value.len, (const char *)req->headers[i].value.ptr);
    }
    d->timeout_ms = req->timeout_ms;
    if (d->calls < MAXREC)
        d->token[d->calls] = token;
    d->calls++;
    return PW_R_OK;
}

static void d_cancel(void *ud, uint32_t token)
{
    fdisp_t *d = ud;
    if (d->cancels < MAXREC)
        d->cancelled[d->cancels] = token;
    d->cancels++;
}

static const pw_dispatch_ops_t dops = {
    .log = d_log, .timer_set = d_timer, .queue_notify = d_notify,
    .http_call = d_http_call, .http_call_cancel = d_cancel,
};

/* ---- a fake HTTP stream: request headers, local reply, continue --------------------------- */

enum { MAXH = 16 };
typedef struct fstream {
    char *k[MAXH], *v[MAXH];
    uint32_t n;
    int replies, continues;
    uint32_t reply_status;
    char reply_details[64];
} fstream_t;

static int fs_find(fstream_t *f, pw_slice_t key)
{
    for (uint32_t i = 0; i < f->n; i++)
        if (strlen(f->k[i]) == key.len && memcmp(f->k[i], key.ptr, key.len) == 0)
            return (int)i;
    return -1;
}

static pw_result_t fs_count(void *s, pw_map_type_t m, uint32_t *n)
{
    if (m != PW_MAP_REQUEST_HEADERS)
        return PW_R_BAD_ARGUMENT;
    *n = ((fstream_t *)s)->n;
    return PW_R_OK;
}

static pw_result_t fs_entry(void *s, pw_map_type_t m, uint32_t i, pw_header_t *out)
{
    fstream_t *f = s;
    if (m != PW_MAP_REQUEST_HEADERS || i >= f->n)
        return PW_R_NOT_FOUND;
    out->key = S(f->k[i]);
    out->value = S(f->v[i]);
    return PW_R_OK;
}

static pw_result_t fs_get(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t *val)
{
    fstream_t *f = s;
    if (m != PW_MAP_REQUEST_HEADERS)
        return PW_R_BAD_ARGUMENT;
    int i = fs_find(f, key);
    if (i < 0)
        return PW_R_NOT_FOUND;
    *val = S(f->v[i]);
    return PW_R_OK;
}

static char *dupn(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static pw_result_t fs_replace(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t val)
{
    fstream_t *f = s;
    if (m != PW_MAP_REQUEST_HEADERS)
        return PW_R_BAD_ARGUMENT;
    int i = fs_find(f, key);
    if (i >= 0) {
        free(f->v[i]);
        f->v[i] = dupn(val.ptr, val.len);
    } else if (f->n < MAXH) {
        f->k[f->n] = dupn(key.ptr, key.len);
        f->v[f->n++] = dupn(val.ptr, val.len);
    }
    return PW_R_OK;
}

static void fs_reply(void *s, uint32_t status, pw_slice_t details, pw_slice_t body,
                     const pw_header_t *h, size_t n, int32_t grpc)
{
    fstream_t *f = s;
    (void)body, (void)h, (void)n, (void)grpc;
    f->replies++;
    f->reply_status = status;
    snprintf(f->reply_details, sizeof f->reply_details, "%.*s", (int)details.len,
             (const char *)details.ptr);
}

static void fs_continue(void *s, pw_stream_type_t dir)
{
    if (dir == PW_STREAM_REQUEST)
        ((fstream_t *)s)->continues++;
}

static const pw_stream_ops_t sops = {
    .map_count = fs_count, .map_entry = fs_entry, .map_get = fs_get,
    .map_replace = fs_replace, .send_local_reply = fs_reply, .continue_stream = fs_continue,
};

static void fs_init(fstream_t *f, const char *path)
{
    memset(f, 0, sizeof *f);
    fs_replace(f, PW_MAP_REQUEST_HEADERS, S(":method"), S("GET"));
    fs_replace(f, PW_MAP_REQUEST_HEADERS, S(":path"), S(path));
    fs_replace(f, PW_MAP_REQUEST_HEADERS, S(":authority"), S("example.test"));
}

static const char *fs_header(fstream_t *f, const char *k)
{
    int i = fs_find(f, S(k));
    return i < 0 ? NULL : f->v[i];
}

static void fs_free(fstream_t *f)
{
    for (uint32_t i = 0; i < f->n; i++) {
        free(f->k[i]);
        free(f->v[i]);
    }
}

/* ---- plugins -------------------------------------------------------------------------------- */

static pw_code_t *load_code(const char *name)
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
    pw_status_t st = pw_code_load(b, (size_t)n, &c, &err);
    free(b);
    if (st != PW_OK)
        t_fail(__FILE__, __LINE__, "load %s: %s", name, err.message);
    return c;
}

static pw_plugin_t *plugin(const char *name, const char *vm_id, const char *conf)
{
    pw_code_t *c = load_code(name);
    pw_plugin_config_t cfg = {
        .name = name, .root_id = name, .vm_id = vm_id,
        .plugin_configuration = {(const uint8_t *)conf, conf ? strlen(conf) : 0},
    };
    pw_plugin_t *p = NULL;
    pw_error_t err = {0};
    if (pw_plugin_new(&cfg, c, &p, &err) != PW_OK)
        t_fail(__FILE__, __LINE__, "plugin %s: %s", name, err.message);
    pw_code_unref(c);
    return p;
}

static void prepare(pw_thread_t *t, pw_plugin_t *p)
{
    pw_error_t err = {0};
    if (pw_thread_prepare(t, p, &err) != PW_OK)
        t_fail(__FILE__, __LINE__, "prepare: %s", err.message);
}

/* The value of a metric by name, through the admin's iteration API. */
typedef struct mfind {
    const char *name;
    pw_metric_info_t info;
    bool found;
} mfind_t;

static void mfind_cb(void *ud, const pw_metric_info_t *m)
{
    mfind_t *f = ud;
    if (strcmp(m->name, f->name) == 0) {
        f->info = *m;
        f->found = true;
    }
}

static uint64_t metric(const char *name)
{
    mfind_t f = {.name = name};
    pw_metrics_foreach(mfind_cb, &f);
    if (!f.found)
        t_fail(__FILE__, __LINE__, "no metric %s", name);
    return f.info.value;
}

/* ---- shared data ---------------------------------------------------------------------------- */

TEST(shared_data_versions_start_at_one_and_cas_guards_sets)
{
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint32_t cas = 0;
    T_EQ_INT(pw_shared_data_get(S("vm"), S("k"), &buf, &cap, &len, &cas), PW_R_NOT_FOUND);
    T_EQ_INT(pw_shared_data_set(S("vm"), S("k"), S("one"), 77), PW_R_OK); /* created anyway */
    T_EQ_INT(pw_shared_data_get(S("vm"), S("k"), &buf, &cap, &len, &cas), PW_R_OK);
    T_EQ_MEM(buf, len, "one", 3);
    T_EQ_UINT(cas, 1);
    T_EQ_INT(pw_shared_data_set(S("vm"), S("k"), S("two"), 2), PW_R_CAS_MISMATCH);
    T_EQ_INT(pw_shared_data_set(S("vm"), S("k"), S("two"), 1), PW_R_OK);
    T_EQ_INT(pw_shared_data_set(S("vm"), S("k"), S("three!"), 1), PW_R_CAS_MISMATCH);
    T_EQ_INT(pw_shared_data_set(S("vm"), S("k"), S("three!"), 0), PW_R_OK);
    T_EQ_INT(pw_shared_data_get(S("vm"), S("k"), &buf, &cap, &len, &cas), PW_R_OK);
    T_EQ_MEM(buf, len, "three!", 6);
    T_EQ_UINT(cas, 3);
    T_EQ_INT(pw_shared_data_set(S("vm"), S("k"), S(""), 0), PW_R_OK);
    T_EQ_INT(pw_shared_data_get(S("vm"), S("k"), &buf, &cap, &len, &cas), PW_R_OK);
    T_EQ_UINT(len, 0);
    T_EQ_UINT(cas, 4);
    free(buf);
}

TEST(shared_data_is_namespaced_by_vm_id)
{
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint32_t cas = 0;
    T_EQ_INT(pw_shared_data_set(S("a"), S("bk"), S("in a"), 0), PW_R_OK);
    /* ("a","bk") and ("ab","k") must not collide even though the bytes concatenate alike. */
    T_EQ_INT(pw_shared_data_get(S("ab"), S("k"), &buf, &cap, &len, &cas), PW_R_NOT_FOUND);
    T_EQ_INT(pw_shared_data_get(S("b"), S("bk"), &buf, &cap, &len, &cas), PW_R_NOT_FOUND);
    T_EQ_INT(pw_shared_data_get(S("a"), S("bk"), &buf, &cap, &len, &cas), PW_R_OK);
    T_EQ_MEM(buf, len, "in a", 4);
    free(buf);
}

TEST(shared_data_keys_differing_in_any_one_byte_are_distinct)
{
    /* Every length 0..20 and every position: the short-string paths of hash and compare. */
    char key[21];
    for (int len = 0; len <= 20; len++) {
        memset(key, 'k', sizeof key);
        T_EQ_INT(pw_shared_data_set(S("vm"), (pw_slice_t){(const uint8_t *)key, (size_t)len},
                                    (pw_slice_t){(const uint8_t *)"base", 4}, 0), PW_R_OK);
        for (int pos = 0; pos < len; pos++) {
            key[pos] = 'x';
            char val[8];
            snprintf(val, sizeof val, "%d.%d", len, pos);
            T_EQ_INT(pw_shared_data_set(S("vm"), (pw_slice_t){(const uint8_t *)key, (size_t)len},
                                        S(val), 0), PW_R_OK);
            key[pos] = 'k';
        }
    }
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint32_t cas;
    for (int l = 0; l <= 20; l++) {
        memset(key, 'k', sizeof key);
        T_EQ_INT(pw_shared_data_get(S("vm"), (pw_slice_t){(const uint8_t *)key, (size_t)l}, &buf,
                                    &cap, &len, &cas), PW_R_OK);
        T_EQ_MEM(buf, len, "base", 4);
        for (int pos = 0; pos < l; pos++) {
            key[pos] = 'x';
            char val[8];
            snprintf(val, sizeof val, "%d.%d", l, pos);
            T_EQ_INT(pw_shared_data_get(S("vm"), (pw_slice_t){(const uint8_t *)key, (size_t)l},
                                        &buf, &cap, &len, &cas), PW_R_OK);
            T_EQ_MEM(buf, len, val, strlen(val));
            T_EQ_UINT(cas, 1);
            key[pos] = 'k';
        }
    }
    free(buf);
}

enum { CAS_THREADS = 4, CAS_INCREMENTS = 2000 };

static long long read_counter(const char *key, uint32_t *cas)
{
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    long long n = 0;
    if (pw_shared_data_get(S("cas"), S(key), &buf, &cap, &len, cas) == PW_R_OK) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)len, (const char *)buf);
        n = atoll(tmp);
    } else {
        *cas = 0;
    }
    free(buf);
    return n;
}

static void *cas_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < CAS_INCREMENTS; i++) {
        for (int attempt = 0; attempt < 1000000; attempt++) {
            uint32_t cas;
            long long n = read_counter("n", &cas);
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", n + 1);
            if (pw_shared_data_set(S("cas"), S("n"), S(buf), cas) == PW_R_OK)
                break;
        }
    }
    return NULL;
}

TEST(shared_data_cas_increments_from_threads_lose_nothing)
{
    pw_shared_data_set(S("cas"), S("n"), S("0"), 0); /* created first: no creation race */
    pthread_t th[CAS_THREADS];
    for (int i = 0; i < CAS_THREADS; i++)
        T_EQ_INT(pthread_create(&th[i], NULL, cas_worker, NULL), 0);
    for (int i = 0; i < CAS_THREADS; i++)
        pthread_join(th[i], NULL);
    uint32_t cas;
    T_EQ_INT(read_counter("n", &cas), CAS_THREADS * CAS_INCREMENTS);
    T_EQ_UINT(cas, CAS_THREADS * CAS_INCREMENTS + 1);
}

TEST(shared_counter_plugin_counts_requests_across_threads_states)
{
    pw_plugin_t *p = plugin("shared_counter", "counter_vm", "hits");
    fdisp_t d1 = {0}, d2 = {0};
    pw_thread_t *t1 = pw_thread_new(&dops, &d1), *t2 = pw_thread_new(&dops, &d2);
    const char *want[] = {"1", "2", "3", "4"};
    for (int i = 0; i < 4; i++) { /* alternating threads: two VM replicas, one count */
        fstream_t f;
        fs_init(&f, "/");
        pw_stream_t *st = pw_stream_new(i % 2 ? t2 : t1, p, PW_KIND_HTTP, &sops, &f);
        T_EQ_INT(pw_stream_on_request_headers(st, f.n, true), PW_CONTINUE);
        T_EQ_STR(fs_header(&f, "x-request-count"), want[i]);
        pw_stream_free(st);
        fs_free(&f);
    }
    /* The value outlives both replicas. */
    pw_thread_free(t1);
    pw_thread_free(t2);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint32_t cas = 0;
    T_EQ_INT(pw_shared_data_get(S("counter_vm"), S("hits"), &buf, &cap, &len, &cas), PW_R_OK);
    T_EQ_MEM(buf, len, "4", 1);
    T_EQ_UINT(cas, 5); /* configure made the key ("0"), then four increments */
    free(buf);
    pw_plugin_unref(p);
}

/* Workers that take their first requests at the same moment must not both count "1": each
 * replica is configured, then all of them increment at once through a barrier. */
enum { RACE_THREADS = 4, RACE_ROUNDS = 40 };

typedef struct race {
    pw_plugin_t *p;
    pthread_barrier_t *go;
    int count; /* what the request was stamped with; 0 if none */
} race_t;

static void *race_worker(void *arg)
{
    race_t *r = arg;
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    pw_error_t err = {0};
    bool ok = t && pw_thread_prepare(t, r->p, &err) == PW_OK;
    pthread_barrier_wait(r->go);
    if (ok) {
        fstream_t f;
        fs_init(&f, "/");
        pw_stream_t *st = pw_stream_new(t, r->p, PW_KIND_HTTP, &sops, &f);
        if (st && pw_stream_on_request_headers(st, f.n, true) == PW_CONTINUE) {
            const char *v = fs_header(&f, "x-request-count");
            r->count = v ? atoi(v) : 0;
        }
        pw_stream_free(st);
        fs_free(&f);
    }
    pw_thread_free(t);
    return NULL;
}

TEST(shared_counter_plugin_first_requests_on_racing_threads_count_once)
{
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char key[32];
        snprintf(key, sizeof key, "race%d", round);
        pw_plugin_t *p = plugin("shared_counter", "race_vm", key);
        /* The main thread's start-up run, as the proxy does before its workers start. */
        fdisp_t d = {0};
        pw_thread_t *main_t = pw_thread_new(&dops, &d);
        prepare(main_t, p);
        pw_thread_free(main_t);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACE_THREADS);
        race_t r[RACE_THREADS];
        pthread_t th[RACE_THREADS];
        for (int i = 0; i < RACE_THREADS; i++) {
            r[i] = (race_t){.p = p, .go = &go};
            T_EQ_INT(pthread_create(&th[i], NULL, race_worker, &r[i]), 0);
        }
        int seen = 0; /* bit k set: some request was stamped k+1 */
        for (int i = 0; i < RACE_THREADS; i++) {
            pthread_join(th[i], NULL);
            T_ASSERT(r[i].count >= 1 && r[i].count <= RACE_THREADS);
            T_ASSERT(!(seen & (1 << (r[i].count - 1))));
            seen |= 1 << (r[i].count - 1);
        }
        pthread_barrier_destroy(&go);
        pw_plugin_unref(p);
    }
}

/* ---- shared queues -------------------------------------------------------------------------- */

TEST(queue_register_resolve_and_ownership)
{
    pw_plugin_t *svc = plugin("path_stats", "collector", "paths");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, svc);
    T_ASSERT(pw_thread_has_root(t, svc));
    uint32_t q = 0, q2 = 0;
    T_EQ_INT(pw_shared_queue_resolve(S("collector"), S("paths"), &q), PW_R_OK);
    T_ASSERT(q != 0);
    T_EQ_INT(pw_shared_queue_resolve(S("other"), S("paths"), &q2), PW_R_NOT_FOUND);
    T_EQ_INT(pw_shared_queue_resolve(S("collector"), S("nope"), &q2), PW_R_NOT_FOUND);
    T_EQ_INT(pw_shared_queue_enqueue(q + 100, S("x")), PW_R_NOT_FOUND);
    /* A second service replica (another thread) re-registers: same token, new owner. */
    fdisp_t d2 = {0};
    pw_thread_t *t2 = pw_thread_new(&dops, &d2);
    prepare(t2, svc);
    T_EQ_INT(pw_shared_queue_resolve(S("collector"), S("paths"), &q2), PW_R_OK);
    T_EQ_UINT(q2, q);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/a")), PW_R_OK);
    T_EQ_INT(atomic_load(&d2.notifies), 1);
    T_EQ_INT(atomic_load(&d.notifies), 0);
    pw_thread_dispatch_queues(t); /* not the owner any more: nothing happens */
    T_EQ_UINT(pw_shared_queue_size(q), 1);
    pw_thread_dispatch_queues(t2);
    T_EQ_UINT(pw_shared_queue_size(q), 0);
    T_EQ_UINT(metric("path_stats.requests._a"), 1);
    pw_thread_free(t2);
    pw_thread_free(t);
    pw_plugin_unref(svc);
}

TEST(queue_wake_ups_coalesce_and_a_drain_takes_every_item)
{
    pw_plugin_t *svc = plugin("path_stats", "collector", "paths");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, svc);
    uint32_t q;
    T_EQ_INT(pw_shared_queue_resolve(S("collector"), S("paths"), &q), PW_R_OK);
    for (int i = 0; i < 5; i++)
        T_EQ_INT(pw_shared_queue_enqueue(q, S("/x")), PW_R_OK);
    T_EQ_INT(atomic_load(&d.notifies), 1); /* one wake-up for five items */
    pw_thread_dispatch_queues(t);
    T_EQ_UINT(metric("path_stats.items"), 5);
    T_EQ_UINT(metric("path_stats.requests._x"), 5);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/x")), PW_R_OK);
    T_EQ_INT(atomic_load(&d.notifies), 2); /* drained: the next item wakes again */
    pw_thread_dispatch_queues(t);
    T_EQ_UINT(metric("path_stats.items"), 6);
    pw_thread_free(t);
    pw_plugin_unref(svc);
}

TEST(queue_full_returns_not_found_and_keeps_what_it_has)
{
    pw_shared_queue_set_capacity(3);
    pw_plugin_t *svc = plugin("path_stats", "collector", "paths");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, svc);
    uint32_t q;
    T_EQ_INT(pw_shared_queue_resolve(S("collector"), S("paths"), &q), PW_R_OK);
    for (int i = 0; i < 3; i++)
        T_EQ_INT(pw_shared_queue_enqueue(q, S("/f")), PW_R_OK);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/f")), PW_R_NOT_FOUND);
    T_EQ_UINT(pw_shared_queue_size(q), 3);
    pw_thread_dispatch_queues(t);
    T_EQ_UINT(metric("path_stats.requests._f"), 3);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/f")), PW_R_OK); /* room again */
    pw_thread_free(t);
    pw_plugin_unref(svc);
}

TEST(queue_capacity_comes_from_the_registering_plugin)
{
    pw_shared_queue_set_capacity(0); /* the process default (10000) for everyone else */
    pw_code_t *c = load_code("path_stats");
    pw_plugin_config_t cfg = {
        .name = "path_stats", .root_id = "path_stats", .vm_id = "small_vm",
        .plugin_configuration = {(const uint8_t *)"small", 5},
        .queue_max_items = 2,
    };
    pw_plugin_t *svc = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_plugin_new(&cfg, c, &svc, &err), PW_OK);
    pw_code_unref(c);
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, svc);
    uint32_t q;
    T_EQ_INT(pw_shared_queue_resolve(S("small_vm"), S("small"), &q), PW_R_OK);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/a")), PW_R_OK);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/a")), PW_R_OK);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/a")), PW_R_NOT_FOUND); /* full at 2 */
    T_EQ_UINT(pw_shared_queue_size(q), 2);
    pw_thread_dispatch_queues(t);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/a")), PW_R_OK);
    pw_thread_free(t);
    pw_plugin_unref(svc);
}

TEST(queue_items_survive_the_service_being_replaced)
{
    pw_plugin_t *svc = plugin("path_stats", "collector", "paths");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, svc);
    uint32_t q;
    T_EQ_INT(pw_shared_queue_resolve(S("collector"), S("paths"), &q), PW_R_OK);
    pw_thread_release(t, svc);
    T_ASSERT(!pw_thread_has_root(t, svc));
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/kept")), PW_R_OK);
    T_EQ_INT(pw_shared_queue_enqueue(q, S("/kept")), PW_R_OK);
    T_EQ_INT(atomic_load(&d.notifies), 0); /* nobody owns it now */
    prepare(t, svc);                       /* a new root registers again */
    T_EQ_INT(atomic_load(&d.notifies), 1);
    pw_thread_dispatch_queues(t);
    T_EQ_UINT(metric("path_stats.requests._kept"), 2);
    pw_thread_free(t);
    pw_plugin_unref(svc);
}

/* Producers: real threads, each with its own pw_thread and VM replica of the path_enqueue
 * filter, run requests while the main thread (the service's) dispatches as it is woken. */
enum { PRODUCERS = 3, REQUESTS = 150 };

typedef struct producer {
    pw_plugin_t *filter;
    int index;
} producer_t;

static void *produce(void *arg)
{
    producer_t *pr = arg;
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    char path[32];
    snprintf(path, sizeof path, "/p%d", pr->index);
    for (int i = 0; i < REQUESTS; i++) {
        fstream_t f;
        fs_init(&f, path);
        pw_stream_t *st = pw_stream_new(t, pr->filter, PW_KIND_HTTP, &sops, &f);
        if (pw_stream_on_request_headers(st, f.n, true) != PW_CONTINUE)
            abort();
        pw_stream_free(st);
        fs_free(&f);
    }
    pw_thread_free(t);
    return NULL;
}

TEST(queue_from_filter_threads_to_a_service_loses_and_duplicates_nothing)
{
    pw_plugin_t *svc = plugin("path_stats", "collector", "paths");
    pw_plugin_t *filter = plugin("path_enqueue", "web", "collector paths");
    fdisp_t d = {0};
    pw_thread_t *main_t = pw_thread_new(&dops, &d);
    prepare(main_t, svc);
    pthread_t th[PRODUCERS];
    producer_t pr[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        pr[i] = (producer_t){filter, i};
        T_EQ_INT(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
    }
    /* The main loop: dispatch whenever woken, until every item has been counted. */
    int seen = 0;
    for (long spins = 0; spins < 200000000L; spins++) {
        int n = atomic_load(&d.notifies);
        if (n != seen) {
            seen = n;
            pw_thread_dispatch_queues(main_t);
        }
        if (metric("path_stats.items") == PRODUCERS * REQUESTS)
            break;
        sched_yield();
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&d.notifies) != seen) /* a last wake-up after the loop's last look */
        pw_thread_dispatch_queues(main_t);
    T_EQ_UINT(metric("path_stats.items"), PRODUCERS * REQUESTS);
    for (int i = 0; i < PRODUCERS; i++) {
        char name[64];
        snprintf(name, sizeof name, "path_stats.requests._p%d", i);
        T_EQ_UINT(metric(name), REQUESTS);
    }
    T_EQ_UINT(metric("path_enqueue.dropped"), 0);
    pw_thread_free(main_t);
    pw_plugin_unref(filter);
    pw_plugin_unref(svc);
}

enum { RAW_PRODUCERS = 4, RAW_ITEMS = 20000 };

static void *raw_produce(void *arg)
{
    uint32_t q = *(uint32_t *)arg >> 8, who = *(uint32_t *)arg & 0xff;
    for (uint32_t i = 0; i < RAW_ITEMS; i++) {
        uint8_t item[8];
        memcpy(item, &who, 4);
        memcpy(item + 4, &i, 4);
        while (pw_shared_queue_enqueue(q, (pw_slice_t){item, 8}) != PW_R_OK)
            sched_yield(); /* full: the consumer catches up */
    }
    return NULL;
}

/* The C-level queue under a heavier load: every (producer, sequence) exactly once and in
 * order per producer, whatever the interleaving. */
TEST(queue_c_api_many_threads_exactly_once_in_order)
{
    pw_shared_queue_set_capacity(RAW_PRODUCERS * RAW_ITEMS); /* fullness: tested above */
    pw_plugin_t *svc = plugin("path_stats", "raw_vm", "raw");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, svc);
    pw_thread_release(t, svc); /* keep the queue, drain it by hand below */
    uint32_t q;
    T_EQ_INT(pw_shared_queue_resolve(S("raw_vm"), S("raw"), &q), PW_R_OK);
    pthread_t th[RAW_PRODUCERS];
    uint32_t arg[RAW_PRODUCERS];
    for (uint32_t i = 0; i < RAW_PRODUCERS; i++) {
        arg[i] = q << 8 | i;
        T_EQ_INT(pthread_create(&th[i], NULL, raw_produce, &arg[i]), 0);
    }
    uint32_t next[RAW_PRODUCERS] = {0};
    uint32_t total = 0;
    extern pw_result_t pw__queue_dequeue(uint32_t, const uint8_t *, void **, const uint8_t **,
                                         size_t *);
    extern void pw__queue_item_free(void *);
    for (long spins = 0; total < RAW_PRODUCERS * RAW_ITEMS && spins < 100000000L; spins++) {
        void *item;
        const uint8_t *data;
        size_t len;
        if (pw__queue_dequeue(q, NULL, &item, &data, &len) != PW_R_OK) {
            sched_yield();
            continue;
        }
        uint32_t who, seq;
        T_EQ_UINT(len, 8);
        memcpy(&who, data, 4);
        memcpy(&seq, data + 4, 4);
        T_ASSERT(who < RAW_PRODUCERS);
        T_EQ_UINT(seq, next[who]); /* no loss, no duplicate, FIFO per producer */
        next[who]++;
        total++;
        pw__queue_item_free(item);
    }
    for (int i = 0; i < RAW_PRODUCERS; i++)
        pthread_join(th[i], NULL);
    T_EQ_UINT(total, RAW_PRODUCERS * RAW_ITEMS);
    T_EQ_UINT(pw_shared_queue_size(q), 0);
    pw_thread_free(t);
    pw_plugin_unref(svc);
}

/* Readers resolve queue names while the registry grows: resolving takes no lock, so this is
 * where a missing publication order would show (under ThreadSanitizer in make test). */
enum { LF_QUEUES = 24, LF_READERS = 2 };
typedef struct lf_state {
    atomic_uint seen[LF_QUEUES]; /* the token a reader found, 0 until found */
    atomic_int stop, wrong;
} lf_state_t;

static void lf_vm_id(char *buf, size_t cap, int k) { snprintf(buf, cap, "lockfree%d", k); }

static void *lf_reader(void *arg)
{
    lf_state_t *st = arg;
    char vm[32];
    while (!atomic_load(&st->stop)) {
        for (int k = 0; k < LF_QUEUES; k++) {
            lf_vm_id(vm, sizeof vm, k);
            uint32_t tok = 0;
            pw_result_t r = pw_shared_queue_resolve((pw_slice_t){(const uint8_t *)vm, strlen(vm)},
                                                    S("raw"), &tok);
            if (r == PW_R_NOT_FOUND)
                continue;
            unsigned want = 0;
            if (r != PW_R_OK || tok == 0 ||
                (!atomic_compare_exchange_strong(&st->seen[k], &want, tok) && want != tok))
                atomic_store(&st->wrong, 1);
        }
    }
    return NULL;
}

TEST(queue_names_resolve_while_other_queues_are_registered)
{
    static lf_state_t st;
    memset(&st, 0, sizeof st);
    pthread_t th[LF_READERS];
    for (int i = 0; i < LF_READERS; i++)
        T_EQ_INT(pthread_create(&th[i], NULL, lf_reader, &st), 0);
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    pw_plugin_t *svc[LF_QUEUES];
    uint32_t tok[LF_QUEUES];
    char vm[32];
    for (int k = 0; k < LF_QUEUES; k++) {
        lf_vm_id(vm, sizeof vm, k);
        svc[k] = plugin("path_stats", vm, "raw");
        prepare(t, svc[k]); /* registers queue (vm, "raw") */
        T_EQ_INT(pw_shared_queue_resolve((pw_slice_t){(const uint8_t *)vm, strlen(vm)},
                                         S("raw"), &tok[k]),
                 PW_R_OK);
    }
    atomic_store(&st.stop, 1);
    for (int i = 0; i < LF_READERS; i++)
        pthread_join(th[i], NULL);
    T_EQ_INT(atomic_load(&st.wrong), 0);
    for (int k = 0; k < LF_QUEUES; k++) {
        unsigned seen = atomic_load(&st.seen[k]);
        T_ASSERT(seen == 0 || seen == tok[k]); /* a found name never changed its token */
        for (int j = 0; j < k; j++)
            T_ASSERT(tok[j] != tok[k]);
    }
    pw_thread_free(t);
    for (int k = 0; k < LF_QUEUES; k++)
        pw_plugin_unref(svc[k]);
}

/* ---- metrics ------------------------------------------------------------------------------ */

TEST(metrics_follow_envoy_rules_per_type)
{
    uint32_t c, c2, g, h;
    uint64_t val;
    T_EQ_INT(pw_metric_define(3, S("bad"), &c), PW_R_BAD_ARGUMENT);
    T_EQ_INT(pw_metric_define(PW_METRIC_COUNTER, S("m.c"), &c), PW_R_OK);
    T_EQ_INT(pw_metric_define(PW_METRIC_COUNTER, S("m.c"), &c2), PW_R_OK);
    T_EQ_UINT(c2, c); /* same name: same statistic */
    T_EQ_INT(pw_metric_define(PW_METRIC_GAUGE, S("m.g"), &g), PW_R_OK);
    T_EQ_INT(pw_metric_define(PW_METRIC_HISTOGRAM, S("m.h"), &h), PW_R_OK);
    T_EQ_UINT(c & 3, 0);
    T_EQ_UINT(g & 3, 1);
    T_EQ_UINT(h & 3, 2);
    T_EQ_INT(pw_metric_increment(c, 0), PW_R_BAD_ARGUMENT);
    T_EQ_INT(pw_metric_increment(c, -1), PW_R_BAD_ARGUMENT);
    T_EQ_INT(pw_metric_increment(c, 5), PW_R_OK);
    T_EQ_INT(pw_metric_record(c, 2), PW_R_OK); /* counters: record adds */
    T_EQ_INT(pw_metric_get(c, &val), PW_R_OK);
    T_EQ_UINT(val, 7);
    T_EQ_INT(pw_metric_record(g, 10), PW_R_OK);
    T_EQ_INT(pw_metric_increment(g, -3), PW_R_OK);
    T_EQ_INT(pw_metric_get(g, &val), PW_R_OK);
    T_EQ_UINT(val, 7);
    T_EQ_INT(pw_metric_increment(h, 1), PW_R_BAD_ARGUMENT);
    T_EQ_INT(pw_metric_get(h, &val), PW_R_BAD_ARGUMENT);
    T_EQ_INT(pw_metric_record(h, 0), PW_R_OK);
    T_EQ_INT(pw_metric_record(h, 7), PW_R_OK);
    T_EQ_INT(pw_metric_record(h, 7000000), PW_R_OK); /* beyond the last bound */
    T_EQ_INT(pw_metric_get(c + 4 * 1000, &val), PW_R_NOT_FOUND);
    T_EQ_INT(pw_metric_get(c | 1, &val), PW_R_NOT_FOUND); /* wrong type bits */
    mfind_t f = {.name = "m.h"};
    pw_metrics_foreach(mfind_cb, &f);
    T_ASSERT(f.found);
    T_EQ_INT(f.info.type, PW_METRIC_HISTOGRAM);
    T_EQ_UINT(f.info.count, 3);
    T_EQ_UINT(f.info.sum, 7000007);
    T_EQ_UINT(f.info.cumulative[0], 1);  /* <= 0.5 */
    T_EQ_UINT(f.info.cumulative[2], 1);  /* <= 5 */
    T_EQ_UINT(f.info.cumulative[3], 2);  /* <= 10 */
    T_EQ_UINT(f.info.cumulative[PW_HISTOGRAM_BUCKETS - 1], 2);
    T_ASSERT(f.info.bounds[3] == 10);
}

TEST(metric_prometheus_names_follow_envoys_custom_namespace_rule)
{
    char out[64];
    T_EQ_UINT(pw_metric_prometheus_name("path_stats.requests._a-b", out, sizeof out), 24);
    T_EQ_STR(out, "path_stats_requests__a_b");
    pw_metric_prometheus_name("5xx.count", out, sizeof out);
    T_EQ_STR(out, "_5xx_count");
    T_EQ_UINT(pw_metric_prometheus_name("abcdef", out, 4), 6); /* truncated, NUL-ended */
    T_EQ_STR(out, "abc");
}

TEST(many_metric_names_each_keep_their_own_id)
{
    enum { N = 5000 };
    static uint32_t ids[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "many.%d", i);
        T_EQ_INT(pw_metric_define(i % 3 ? PW_METRIC_COUNTER : PW_METRIC_GAUGE, S(name), &ids[i]),
                 PW_R_OK);
        pw_metric_record(ids[i], (uint64_t)i);
    }
    for (int i = 0; i < N; i++) { /* defining again finds the same statistic */
        uint32_t again;
        uint64_t v;
        snprintf(name, sizeof name, "many.%d", i);
        T_EQ_INT(pw_metric_define(i % 3 ? PW_METRIC_COUNTER : PW_METRIC_GAUGE, S(name), &again),
                 PW_R_OK);
        T_EQ_UINT(again, ids[i]);
        T_EQ_INT(pw_metric_get(again, &v), PW_R_OK);
        T_EQ_UINT(v, (uint64_t)i);
    }
    uint32_t other; /* same name, other type: another statistic */
    T_EQ_INT(pw_metric_define(PW_METRIC_HISTOGRAM, S("many.1"), &other), PW_R_OK);
    T_ASSERT(other != ids[1]);
}

enum { METRIC_THREADS = 4, METRIC_INCS = 50000 };

static void *metric_worker(void *arg)
{
    uint32_t id;
    (void)arg;
    if (pw_metric_define(PW_METRIC_COUNTER, S("m.threads"), &id) != PW_R_OK)
        abort();
    for (int i = 0; i < METRIC_INCS; i++)
        pw_metric_increment(id, 1);
    return NULL;
}

TEST(metrics_are_shared_by_name_across_threads)
{
    pthread_t th[METRIC_THREADS];
    for (int i = 0; i < METRIC_THREADS; i++)
        T_EQ_INT(pthread_create(&th[i], NULL, metric_worker, NULL), 0);
    for (int i = 0; i < METRIC_THREADS; i++)
        pthread_join(th[i], NULL);
    T_EQ_UINT(metric("m.threads"), METRIC_THREADS * METRIC_INCS);
}

/* ---- ticks ------------------------------------------------------------------------------- */

TEST(tick_period_is_per_root_and_zero_stops_it)
{
    pw_plugin_t *a = plugin("tick_gauge", "tick_a", "100");
    pw_plugin_t *b = plugin("tick_gauge", "tick_b", "0"); /* 100 ms, stops itself at 5 */
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, a);
    prepare(t, b);
    T_EQ_INT(d.timer_calls, 2);
    T_ASSERT(d.timer_root[0] != d.timer_root[1]);
    T_EQ_UINT(d.timer_ms[0], 100);
    T_EQ_UINT(d.timer_ms[1], 100);
    pw_root_t *ra = d.timer_root[0], *rb = d.timer_root[1];
    for (int i = 0; i < 3; i++)
        pw_root_on_tick(ra);
    T_EQ_UINT(metric("tick_gauge.ticks"), 3);
    for (int i = 0; i < 5; i++)
        pw_root_on_tick(rb);
    T_EQ_UINT(metric("tick_gauge.ticks"), 5); /* b's VM holds its own count */
    T_EQ_INT(d.timer_calls, 3);
    T_ASSERT(d.timer_root[2] == rb);
    T_EQ_UINT(d.timer_ms[2], 0);
    pw_thread_free(t); /* a's timer is stopped as its root ends; b's was already */
    T_EQ_INT(d.timer_calls, 4);
    T_ASSERT(d.timer_root[3] == ra);
    T_EQ_UINT(d.timer_ms[3], 0);
    pw_plugin_unref(a);
    pw_plugin_unref(b);
}

TEST(a_trap_in_a_tick_stops_the_timer_and_later_ticks_do_nothing)
{
    pw_plugin_t *p = plugin("hostcalls", "tick_trap_vm", "tick_trap");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, p);
    T_EQ_INT(d.timer_calls, 1);
    T_EQ_UINT(d.timer_ms[0], 10);
    pw_root_t *r = d.timer_root[0];
    pw_root_on_tick(r);
    T_EQ_INT(d.timer_calls, 2);
    T_ASSERT(d.timer_root[1] == r);
    T_EQ_UINT(d.timer_ms[1], 0);
    T_ASSERT(strstr(logbuf, "proxy_on_tick failed") != NULL);
    pw_root_on_tick(r); /* a late timer: ignored */
    T_ASSERT(!pw_thread_has_root(t, p));
    pw_thread_free(t);
    T_EQ_INT(d.timer_calls, 2);
    pw_plugin_unref(p);
}

/* ---- HTTP callouts ------------------------------------------------------------------------- */

typedef struct auth_env {
    pw_plugin_t *p;
    fdisp_t d;
    pw_thread_t *t;
    fstream_t f;
    pw_stream_t *st;
} auth_env_t;

static void auth_open(auth_env_t *e, pw_result_t http_result)
{
    memset(e, 0, sizeof *e);
    e->p = plugin("callout_auth", "auth_vm", "auth 250");
    e->d.http_result = http_result;
    e->t = pw_thread_new(&dops, &e->d);
    fs_init(&e->f, "/private");
    fs_replace(&e->f, PW_MAP_REQUEST_HEADERS, S("authorization"), S("Bearer x"));
    e->st = pw_stream_new(e->t, e->p, PW_KIND_HTTP, &sops, &e->f);
}

static void auth_close(auth_env_t *e)
{
    if (e->st)
        pw_stream_free(e->st);
    pw_thread_free(e->t);
    pw_plugin_unref(e->p);
    fs_free(&e->f);
}

static pw_http_response_t response(const pw_header_t *h, size_t n, const char *body)
{
    return (pw_http_response_t){.headers = h, .n_headers = n, .body = S(body)};
}

TEST(callout_auth_sends_the_call_pauses_and_resumes_on_200)
{
    auth_env_t e;
    auth_open(&e, PW_R_OK);
    T_EQ_INT(pw_stream_on_request_headers(e.st, e.f.n, true), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(e.d.calls, 1);
    T_EQ_STR(e.d.cluster, "auth");
    T_EQ_UINT(e.d.timeout_ms, 250);
    T_EQ_STR(e.d.headers, ":method=GET;:path=/check;:authority=auth;x-original-path=/private;"
                          "authorization=Bearer x;");
    pw_header_t h[2] = {{S(":status"), S("200")}, {S("x-auth-user"), S("alice")}};
    pw_http_response_t r = response(h, 2, "ok");
    pw_thread_http_call_done(e.t, e.d.token[0], &r);
    T_EQ_INT(e.f.continues, 1);
    T_EQ_INT(e.f.replies, 0);
    T_EQ_STR(fs_header(&e.f, "x-auth-user"), "alice"); /* written through the stream */
    pw_thread_http_call_done(e.t, e.d.token[0], &r); /* a second completion: dropped */
    T_EQ_INT(e.f.continues, 1);
    auth_close(&e);
}

TEST(callout_auth_denies_403_with_the_answer_logged)
{
    auth_env_t e;
    auth_open(&e, PW_R_OK);
    pw_stream_on_request_headers(e.st, e.f.n, true);
    pw_header_t h[1] = {{S(":status"), S("401")}};
    pw_http_response_t r = response(h, 1, "who are you");
    pw_thread_http_call_done(e.t, e.d.token[0], &r);
    T_EQ_INT(e.f.replies, 1);
    T_EQ_UINT(e.f.reply_status, 403);
    T_EQ_STR(e.f.reply_details, "auth_denied");
    T_EQ_INT(e.f.continues, 0);
    T_ASSERT(strstr(logbuf, "auth answered 401: who are you") != NULL);
    auth_close(&e);
}

TEST(callout_auth_answers_503_on_failure_and_timeout)
{
    auth_env_t e;
    auth_open(&e, PW_R_OK);
    pw_stream_on_request_headers(e.st, e.f.n, true);
    pw_thread_http_call_done(e.t, e.d.token[0], NULL); /* reset */
    T_EQ_INT(e.f.replies, 1);
    T_EQ_UINT(e.f.reply_status, 503);
    T_EQ_STR(e.f.reply_details, "auth_unavailable");
    T_ASSERT(strstr(logbuf, "callout failed: 11 reset") != NULL);
    auth_close(&e);

    auth_open(&e, PW_R_OK);
    pw_stream_on_request_headers(e.st, e.f.n, true);
    pw_header_t h[1] = {{S(":status"), S("504")}};
    pw_http_response_t r = response(h, 1, "upstream request timeout");
    pw_thread_http_call_done(e.t, e.d.token[0], &r);
    T_EQ_UINT(e.f.reply_status, 503);
    auth_close(&e);
}

TEST(callout_to_an_unknown_cluster_is_bad_argument_at_once)
{
    auth_env_t e;
    auth_open(&e, PW_R_BAD_ARGUMENT);
    T_EQ_INT(pw_stream_on_request_headers(e.st, e.f.n, true), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(e.f.replies, 1);
    T_EQ_UINT(e.f.reply_status, 503);
    T_EQ_STR(e.f.reply_details, "auth_callout_failed");
    T_ASSERT(strstr(logbuf, "cannot call cluster \"auth\": 2") != NULL);
    auth_close(&e);
}

TEST(a_callout_outlives_its_stream_and_its_late_answer_is_dropped)
{
    auth_env_t e;
    auth_open(&e, PW_R_OK);
    pw_stream_on_request_headers(e.st, e.f.n, true);
    pw_stream_free(e.st); /* client went away: Envoy keeps the call (it is the root's) */
    e.st = NULL;
    T_EQ_INT(e.d.cancels, 0);
    pw_header_t h[1] = {{S(":status"), S("200")}};
    pw_http_response_t r = response(h, 1, "");
    pw_thread_http_call_done(e.t, e.d.token[0], &r);
    T_EQ_INT(e.f.continues, 0); /* the SDK found no stream: nothing reached the proxy */
    T_EQ_INT(e.f.replies, 0);
    auth_close(&e);
}

TEST(ending_the_root_cancels_its_callouts)
{
    auth_env_t e;
    auth_open(&e, PW_R_OK);
    pw_stream_on_request_headers(e.st, e.f.n, true);
    pw_stream_free(e.st);
    e.st = NULL;
    pw_thread_release(e.t, e.p);
    T_EQ_INT(e.d.cancels, 1);
    T_EQ_UINT(e.d.cancelled[0], e.d.token[0]);
    pw_thread_http_call_done(e.t, e.d.token[0], NULL); /* after a cancel: ignored */
    auth_close(&e);
    T_EQ_INT(e.d.cancels, 1);
}

TEST(callout_tokens_are_unique_while_outstanding)
{
    auth_env_t e;
    auth_open(&e, PW_R_OK);
    fstream_t f2;
    fs_init(&f2, "/other");
    pw_stream_t *st2 = pw_stream_new(e.t, e.p, PW_KIND_HTTP, &sops, &f2);
    pw_stream_on_request_headers(e.st, e.f.n, true);
    pw_stream_on_request_headers(st2, f2.n, true);
    T_EQ_INT(e.d.calls, 2);
    T_ASSERT(e.d.token[0] != 0 && e.d.token[1] != 0 && e.d.token[0] != e.d.token[1]);
    pw_header_t h[1] = {{S(":status"), S("200")}};
    pw_http_response_t r = response(h, 1, "");
    pw_thread_http_call_done(e.t, e.d.token[1], &r); /* answers reach their own streams */
    T_EQ_INT(f2.continues, 1);
    T_EQ_INT(e.f.continues, 0);
    pw_thread_http_call_done(e.t, e.d.token[0], &r);
    T_EQ_INT(e.f.continues, 1);
    pw_stream_free(st2);
    fs_free(&f2);
    auth_close(&e);
}

TEST(callout_needs_method_path_and_authority)
{
    /* The hostcalls plugin's "unimplemented" mode sends headers "\0\0\0\0" (empty map). */
    pw_plugin_t *p = plugin("hostcalls", "hc_vm", "unimplemented");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    fstream_t f;
    fs_init(&f, "/");
    pw_stream_t *st = pw_stream_new(t, p, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, f.n, true), PW_CONTINUE);
    T_EQ_STR(fs_header(&f, "x-unimplemented"), "2,0,0,0");
    T_EQ_INT(d.calls, 0);
    pw_stream_free(st);
    fs_free(&f);
    pw_thread_free(t);
    pw_plugin_unref(p);
}

TEST(callout_response_maps_body_and_status_are_readable_in_the_callback_only)
{
    pw_plugin_t *p = plugin("hostcalls", "hc_vm", "callout_dump");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    fstream_t f;
    fs_init(&f, "/");
    pw_stream_t *st = pw_stream_new(t, p, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, f.n, true), PW_STOP_ALL_WATERMARK);
    T_EQ_STR(fs_header(&f, "x-call-outside"), "2"); /* BAD_ARGUMENT outside the callback */
    T_EQ_STR(d.cluster, "dump");
    T_EQ_STR(d.headers, ":method=POST;:path=/dump;host=dump;"); /* names lower-cased */
    T_EQ_UINT(d.timeout_ms, 0);
    pw_header_t h[2] = {{S(":status"), S("201")}, {S("x-a"), S("b")}};
    pw_header_t tr[1] = {{S("grpc-status"), S("0")}};
    pw_http_response_t r = {h, 2, S("hello"), tr, 1};
    pw_thread_http_call_done(t, d.token[0], &r);
    T_EQ_INT(f.continues, 1);
    T_EQ_STR(fs_header(&f, "x-call-counts"), "20501"); /* 2 headers, 5 bytes, 1 trailer */
    T_EQ_STR(fs_header(&f, "x-call-headers"), ":status=201;x-a=b;");
    T_EQ_STR(fs_header(&f, "x-call-trailers"), "grpc-status=0;");
    T_EQ_STR(fs_header(&f, "x-call-headers-bytes"), "14"); /* 7+3 + 3+1 */
    T_EQ_STR(fs_header(&f, "x-call-body"), "hello");
    T_EQ_STR(fs_header(&f, "x-call-status"), "0");
    pw_stream_free(st);
    fs_free(&f);
    pw_thread_free(t);
    pw_plugin_unref(p);
}

TEST(only_the_registering_vm_key_dequeues_but_anyone_enqueues)
{
    pw_plugin_t *svc = plugin("path_stats", "collector", "paths");
    pw_plugin_t *p = plugin("hostcalls", "hc_vm", "dequeue_foreign");
    fdisp_t d = {0};
    pw_thread_t *t = pw_thread_new(&dops, &d);
    prepare(t, svc);
    fstream_t f;
    fs_init(&f, "/");
    pw_stream_t *st = pw_stream_new(t, p, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, f.n, true), PW_CONTINUE);
    T_EQ_STR(fs_header(&f, "x-resolve"), "0");
    T_EQ_STR(fs_header(&f, "x-dequeue"), "1"); /* NOT_FOUND: not the queue's VM key */
    T_EQ_STR(fs_header(&f, "x-enqueue"), "0");
    pw_thread_dispatch_queues(t);
    T_EQ_UINT(metric("path_stats.requests._from-hostcalls"), 1);
    pw_stream_free(st);
    fs_free(&f);
    pw_thread_free(t);
    pw_plugin_unref(p);
    pw_plugin_unref(svc);
}

static void callout_trap_case(bool fail_open, fstream_t *f, fdisp_t *d)
{
    pw_code_t *c = load_code("hostcalls");
    pw_plugin_config_t cfg = {
        .name = "hostcalls", .root_id = "hostcalls", .vm_id = "trap_vm",
        .plugin_configuration = S("callout_trap"), .fail_open = fail_open,
    };
    pw_plugin_t *p = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_plugin_new(&cfg, c, &p, &err), PW_OK);
    pw_code_unref(c);
    pw_thread_t *t = pw_thread_new(&dops, d);
    fs_init(f, "/");
    pw_stream_t *st = pw_stream_new(t, p, PW_KIND_HTTP, &sops, f);
    T_EQ_INT(pw_stream_on_request_headers(st, f->n, true), PW_STOP_ALL_WATERMARK);
    pw_header_t h[1] = {{S(":status"), S("200")}};
    pw_http_response_t r = {h, 1, S(""), NULL, 0};
    pw_thread_http_call_done(t, d->token[0], &r);
    T_ASSERT(pw_stream_failed(st));
    pw_stream_free(st);
    pw_thread_free(t);
    pw_plugin_unref(p);
}

TEST(a_trap_in_the_callout_answer_fails_the_stream_waiting_for_it)
{
    fstream_t f;
    fdisp_t d = {0};
    callout_trap_case(false, &f, &d);
    T_EQ_INT(f.replies, 1); /* not left hanging: 503 as for any trap */
    T_EQ_UINT(f.reply_status, 503);
    T_EQ_STR(f.reply_details, "wasm_fail_stream");
    T_EQ_INT(f.continues, 0);
    T_ASSERT(strstr(logbuf, "proxy_on_http_call_response failed") != NULL);
    fs_free(&f);
}

TEST(a_trap_in_the_callout_answer_continues_the_stream_when_fail_open)
{
    fstream_t f;
    fdisp_t d = {0};
    callout_trap_case(true, &f, &d);
    T_EQ_INT(f.replies, 0);
    T_EQ_INT(f.continues, 1);
    fs_free(&f);
}
