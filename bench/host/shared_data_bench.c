/* Shared data throughput: get, set and CAS-increment operations per second on sluice's
 * sharded store, with 1 and several threads, against a single-mutex table (the peer). */
#include "sluice/host.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KEYS_PER_THREAD = 64, MAX_THREADS = 8 };

/* ---- the peer: one mutex over one chained hash table (same hash, same value reuse) ---- */

typedef struct pentry {
    struct pentry *next;
    uint64_t hash;
    char key[48];
    uint8_t *value;
    size_t len, cap;
    uint32_t cas;
} pentry_t;

static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;
static pentry_t *peer_buckets[4096];

static uint64_t fnv(const char *k)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 0x100000001b3ull;
    return h;
}

static pentry_t *peer_find(const char *key, uint64_t h)
{
    for (pentry_t *e = peer_buckets[h & 4095]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static pw_result_t peer_get(const char *key, uint8_t **buf, size_t *cap, size_t *len,
                            uint32_t *cas)
{
    uint64_t h = fnv(key);
    pw_result_t r = PW_R_NOT_FOUND;
    pthread_mutex_lock(&peer_lock);
    pentry_t *e = peer_find(key, h);
    if (e) {
        if (e->len > *cap) {
            *buf = realloc(*buf, e->len);
            *cap = e->len;
        }
        memcpy(*buf, e->value, e->len);
        *len = e->len;
        *cas = e->cas;
        r = PW_R_OK;
    }
    pthread_mutex_unlock(&peer_lock);
    return r;
}

static pw_result_t peer_set(const char *key, const void *v, size_t len, uint32_t cas)
{
    uint64_t h = fnv(key);
    pw_result_t r = PW_R_OK;
    pthread_mutex_lock(&peer_lock);
    pentry_t *e = peer_find(key, h);
    if (e && cas && cas != e->cas) {
        r = PW_R_CAS_MISMATCH;
    } else {
        if (!e) {
            e = calloc(1, sizeof *e);
            e->hash = h;
            snprintf(e->key, sizeof e->key, "%s", key);
            e->next = peer_buckets[h & 4095];
            peer_buckets[h & 4095] = e;
        }
        if (len > e->cap) {
            e->value = realloc(e->value, len);
            e->cap = len;
        }
        memcpy(e->value, v, len);
        e->len = len;
        e->cas++;
    }
    pthread_mutex_unlock(&peer_lock);
    return r;
}

/* ---- one implementation behind one interface ------------------------------------------- */

typedef enum { OP_GET, OP_SET, OP_CAS } op_t;
static const char *op_names[] = {"get", "set", "cas-increment"};

typedef struct job {
    bool peer;
    op_t op;
    int thread;
    bool hot; /* every thread on one key (CAS contention) */
    double seconds;
    uint64_t ops;
} job_t;

static atomic_bool stop;

static pw_result_t do_get(bool peer, const char *key, uint8_t **buf, size_t *cap, size_t *len,
                          uint32_t *cas)
{
    if (peer)
        return peer_get(key, buf, cap, len, cas);
    return pw_shared_data_get((pw_slice_t){(const uint8_t *)"bench", 5},
                              (pw_slice_t){(const uint8_t *)key, strlen(key)}, buf, cap, len,
                              cas);
}

static pw_result_t do_set(bool peer, const char *key, const void *v, size_t len, uint32_t cas)
{
    if (peer)
        return peer_set(key, v, len, cas);
    return pw_shared_data_set((pw_slice_t){(const uint8_t *)"bench", 5},
                              (pw_slice_t){(const uint8_t *)key, strlen(key)},
                              (pw_slice_t){v, len}, cas);
}

static void *run(void *arg)
{
    job_t *j = arg;
    char keys[KEYS_PER_THREAD][48];
    for (int i = 0; i < KEYS_PER_THREAD; i++)
        snprintf(keys[i], sizeof keys[i], j->hot ? "hot" : "t%d.key%d", j->thread, i);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint32_t cas = 0;
    uint64_t n = 0;
    char val[24] = "12345678";
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 256; i++, n++) {
            const char *k = keys[n % KEYS_PER_THREAD];
            if (j->op == OP_GET) {
                do_get(j->peer, k, &buf, &cap, &len, &cas);
            } else if (j->op == OP_SET) {
                do_set(j->peer, k, val, 8, 0);
            } else { /* read, add one, write back with the version read; retry on mismatch */
                for (;;) {
                    long long v = 0;
                    if (do_get(j->peer, k, &buf, &cap, &len, &cas) == PW_R_OK) {
                        char tmp[24];
                        snprintf(tmp, sizeof tmp, "%.*s", (int)len, (const char *)buf);
                        v = atoll(tmp);
                    } else {
                        cas = 0;
                    }
                    int l = snprintf(val, sizeof val, "%lld", v + 1);
                    if (do_set(j->peer, k, val, (size_t)l, cas) == PW_R_OK)
                        break;
                }
            }
        }
    }
    free(buf);
    j->ops = n;
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Operations per second of `threads` threads doing op for `dur` seconds. */
static double measure(bool peer, op_t op, int threads, bool hot, double dur)
{
    pthread_t th[MAX_THREADS];
    job_t jobs[MAX_THREADS];
    /* Pre-populate so get measures hits. */
    for (int t = 0; t < threads; t++)
        for (int i = 0; i < KEYS_PER_THREAD; i++) {
            char k[48];
            snprintf(k, sizeof k, hot ? "hot" : "t%d.key%d", t, i);
            do_set(peer, k, "0", 1, 0);
        }
    atomic_store(&stop, false);
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job_t){.peer = peer, .op = op, .thread = t, .hot = hot};
        pthread_create(&th[t], NULL, run, &jobs[t]);
    }
    struct timespec ts = {(time_t)dur, (long)((dur - (double)(time_t)dur) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    uint64_t total = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        total += jobs[t].ops;
    }
    return (double)total / (now_s() - t0);
}

/* `--fixed sluice|peer get|set|cas N`: N operations on one thread and nothing else, for
 * instruction counts under callgrind (wall times on a shared machine are noisy). */
static int fixed(const char *impl, const char *opname, long n)
{
    job_t j = {.peer = strcmp(impl, "peer") == 0,
               .op = strcmp(opname, "get") == 0 ? OP_GET : strcmp(opname, "set") == 0 ? OP_SET
                                                                                       : OP_CAS};
    char keys[KEYS_PER_THREAD][48];
    for (int i = 0; i < KEYS_PER_THREAD; i++) {
        snprintf(keys[i], sizeof keys[i], "t0.key%d", i);
        do_set(j.peer, keys[i], "0", 1, 0);
    }
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint32_t cas = 0;
    for (long i = 0; i < n; i++) {
        const char *k = keys[i % KEYS_PER_THREAD];
        if (j.op == OP_GET) {
            do_get(j.peer, k, &buf, &cap, &len, &cas);
        } else if (j.op == OP_SET) {
            do_set(j.peer, k, "12345678", 8, 0);
        } else {
            do_get(j.peer, k, &buf, &cap, &len, &cas);
            do_set(j.peer, k, "1", 1, cas);
        }
    }
    free(buf);
    printf("%s %s x %ld done\n", impl, opname, n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--fixed") == 0)
        return fixed(argv[2], argv[3], atol(argv[4]));
    double dur = argc > 1 ? atof(argv[1]) : 0.3;
    /* argv[2], "1,2" for instance, picks the thread counts (the proxy's worker count). */
    int thread_counts[MAX_THREADS] = {1, 2, 4};
    size_t n_counts = 3;
    if (argc > 2) {
        n_counts = 0;
        for (char *p = argv[2]; *p && n_counts < MAX_THREADS; p += *p == ',') {
            long t = strtol(p, &p, 10);
            if (t < 1 || t > MAX_THREADS || (*p && *p != ',')) {
                fprintf(stderr, "shared_data_bench: thread counts are 1..%d, comma-separated\n",
                        MAX_THREADS);
                return 2;
            }
            thread_counts[n_counts++] = (int)t;
        }
    }
    printf("shared data: operations per second (sluice: 64 mutex shards; peer: one mutex, "
           "same table); %.2f s per figure\n", dur);
    printf("%-14s %-8s %7s %14s %14s %7s\n", "op", "keys", "threads", "sluice ops/s",
           "peer ops/s", "ratio");
    for (int op = OP_GET; op <= OP_CAS; op++)
        for (int hot = 0; hot <= (op == OP_CAS); hot++)
            for (size_t i = 0; i < n_counts; i++) {
                int n = thread_counts[i];
                double s = measure(false, (op_t)op, n, hot, dur);
                double p = measure(true, (op_t)op, n, hot, dur);
                printf("%-14s %-8s %7d %14.0f %14.0f %6.2fx\n", op_names[op],
                       hot ? "one" : "distinct", n, s, p, s / p);
            }
    return 0;
}
