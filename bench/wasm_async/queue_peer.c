/* The shared-queue peer of bench/wasm_async/bench.py: the same cross-thread hand-off without
 * Wasm or proxy (a mutex-guarded list and uv_async_send to a libuv loop), its delay percentiles. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

/* `queue_peer THREADS RATE SECONDS`: THREADS senders together enqueue RATE items per second,
 * evenly paced, for SECONDS, whether or not the loop has taken the earlier ones (as the
 * proxy's workers enqueue: one sender at the one-request-at-a-time rate, one per worker at the
 * rate the proxy reached under wrk). Prints "count N p50_ns A p99_ns B max_ns C". */

enum { MAX_SAMPLES = 4 << 20, MAX_SENDERS = 16 };

typedef struct item {
    struct item *next;
    uint64_t sent;
} item_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static item_t *head, *tail; /* owned by the list until the loop takes them */
static uv_async_t wake, done_async;
static uint64_t *samples; /* owned by main; written by the loop thread only */
static size_t n_samples;
static atomic_int senders_left;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void enqueue(void)
{
    item_t *it = malloc(sizeof *it);
    if (!it)
        abort();
    it->next = NULL;
    pthread_mutex_lock(&lock);
    it->sent = now_ns();
    if (tail)
        tail->next = it;
    else
        head = it;
    tail = it;
    pthread_mutex_unlock(&lock);
    uv_async_send(&wake);
}

static void on_wake(uv_async_t *a)
{
    (void)a;
    pthread_mutex_lock(&lock);
    item_t *it = head;
    head = tail = NULL;
    pthread_mutex_unlock(&lock);
    while (it) {
        uint64_t now = now_ns();
        if (n_samples < MAX_SAMPLES)
            samples[n_samples++] = now > it->sent ? now - it->sent : 0;
        item_t *next = it->next;
        free(it);
        it = next;
    }
}

static void on_done(uv_async_t *a)
{
    (void)a;
    on_wake(&wake);
    uv_close((uv_handle_t *)&wake, NULL);
    uv_close((uv_handle_t *)&done_async, NULL);
}

typedef struct sender {
    pthread_t th;
    long count; /* items to send */
    uint64_t interval_ns;
} sender_t;

static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void *send_items(void *arg)
{
    sender_t *s = arg;
    uint64_t next = now_ns();
    for (long i = 0; i < s->count; i++) {
        sleep_until(next);
        next += s->interval_ns;
        enqueue();
    }
    if (atomic_fetch_sub(&senders_left, 1) == 1)
        uv_async_send(&done_async);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(double p)
{
    size_t i = (size_t)(p * (double)(n_samples - 1) + 0.5);
    return samples[i];
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: queue_peer THREADS RATE SECONDS\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    double rate = atof(argv[2]), secs = atof(argv[3]);
    if (threads < 1 || threads > MAX_SENDERS || rate <= 0 || secs <= 0 || secs > 600) {
        fprintf(stderr, "queue_peer: 1..%d threads, a positive rate, 0..600 seconds\n",
                MAX_SENDERS);
        return 2;
    }
    long per_thread = (long)(rate * secs / threads);
    uint64_t interval = (uint64_t)(1e9 * threads / rate);
    if (per_thread < 1 || (uint64_t)per_thread * (uint64_t)threads > MAX_SAMPLES) {
        fprintf(stderr, "queue_peer: between 1 and %d items\n", MAX_SAMPLES);
        return 2;
    }
    samples = malloc(sizeof *samples * MAX_SAMPLES);
    if (!samples)
        return 1;
    uv_loop_t *loop = uv_default_loop();
    uv_async_init(loop, &wake, on_wake);
    uv_async_init(loop, &done_async, on_done);
    sender_t s[MAX_SENDERS];
    atomic_store(&senders_left, threads);
    for (int t = 0; t < threads; t++) {
        s[t] = (sender_t){.count = per_thread, .interval_ns = interval};
        pthread_create(&s[t].th, NULL, send_items, &s[t]);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    for (int t = 0; t < threads; t++)
        pthread_join(s[t].th, NULL);
    if (!n_samples)
        return 1;
    qsort(samples, n_samples, sizeof *samples, cmp_u64);
    printf("count %zu p50_ns %llu p99_ns %llu max_ns %llu\n", n_samples,
           (unsigned long long)pct(0.50), (unsigned long long)pct(0.99),
           (unsigned long long)samples[n_samples - 1]);
    free(samples);
    return 0;
}
