/* Worker threads: each runs its own libuv loop with its own listeners, clusters and
 * connections; the main thread talks to it only through an atomic command word + uv_async. */
#include "proxy/sl_worker.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_cluster.h"
#include "proxy/sl_hcm.h"
#include "proxy/sl_listener.h"
#include "proxy/sl_log.h"
#include "proxy/sl_server.h"
#include "proxy/sl_tcp_proxy.h"
#include "proxy/sl_wasm.h"
#include "proxy/sl_worker_internal.h"

static _Thread_local sl_worker_t *current;

sl_worker_t *sl_worker_current(void)
{
    return current;
}

/* What the main thread's drain loop waits for: requests and TCP sessions in flight. */
static void publish_activity(sl_worker_t *w)
{
    uint64_t n = (uint64_t)sl_hcm_active_streams(w) + sl_tcp_proxy_active(w);
    atomic_store_explicit(&w->active, n, memory_order_release);
}

static void on_activity_timer(uv_timer_t *t)
{
    publish_activity(t->data);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Last resort when something still holds the loop open after stop: close it all. */
static void on_stop_guard(uv_timer_t *t)
{
    sl_worker_t *w = t->data;
    SL_WARN("worker %u: handles still open %s after stop; closing them", w->index,
            "2 s");
    uv_walk(w->loop, close_any, NULL);
}

static void worker_stop(sl_worker_t *w)
{
    sl_listener_set_stop(w);
    sl_hcm_worker_close_all(w);
    sl_tcp_proxy_close_all(w);
    sl_wasm_worker_stop(w);
    for (size_t i = 0; i < w->n_clusters; i++)
        sl_cluster_destroy(w->clusters[i]);
    uv_close((uv_handle_t *)&w->wakeup, NULL);
    if (!uv_is_closing((uv_handle_t *)&w->activity))
        uv_close((uv_handle_t *)&w->activity, NULL);
    uv_timer_init(w->loop, &w->stop_guard);
    w->stop_guard.data = w;
    uv_timer_start(&w->stop_guard, on_stop_guard, 2000, 0);
    uv_unref((uv_handle_t *)&w->stop_guard);
}

static void on_wakeup(uv_async_t *a)
{
    sl_worker_t *w = a->data;
    int cmd = atomic_exchange_explicit(&w->command, 0, memory_order_acq_rel);
    if ((cmd & SL_WORKER_CMD_DRAIN) && !w->draining && !w->stopping) {
        w->draining = true;
        sl_listener_set_stop(w);
        sl_hcm_worker_drain(w);
        publish_activity(w);
        uv_timer_start(&w->activity, on_activity_timer, 20, 20);
    }
    if ((cmd & SL_WORKER_CMD_STOP) && !w->stopping) {
        w->stopping = true;
        worker_stop(w);
    }
}

static void worker_main(void *arg)
{
    sl_worker_t *w = arg;
    char name[16];
    current = w;
    snprintf(name, sizeof name, "worker %u", w->index);
    sl_log_set_thread_name(name);
    sl_server_t *s = w->server;
    w->clusters = calloc(s->n_cluster_defs ? s->n_cluster_defs : 1, sizeof *w->clusters);
    if (!w->clusters) {
        snprintf(w->error, sizeof w->error, "worker %u: out of memory", w->index);
        goto failed;
    }
    for (size_t i = 0; i < s->n_cluster_defs; i++) {
        if (!(w->clusters[i] = sl_cluster_new(w, s->cluster_defs[i]))) {
            snprintf(w->error, sizeof w->error, "worker %u: cluster %s: out of memory",
                     w->index, s->cluster_defs[i]->name);
            goto failed;
        }
        w->n_clusters++;
    }
    sl_wasm_worker_start(w); /* replicas and root contexts before the first connection */
    if (sl_listener_set_start(w, s->listeners, s->n_listeners, w->listen_fds, w->error,
                              sizeof w->error) != SL_OK)
        goto failed;
    atomic_store(&w->state, SL_WORKER_RUNNING);
    uv_sem_post(w->started);
    SL_DEBUG("worker %u running", w->index);
    uv_run(w->loop, UV_RUN_DEFAULT);
    goto done;
failed:
    atomic_store(&w->state, SL_WORKER_FAILED);
    uv_sem_post(w->started);
    /* Tear down what was made; the main thread sends STOP, then joins. */
    uv_run(w->loop, UV_RUN_DEFAULT);
done:
    if (uv_loop_close(w->loop) != 0) {
        uv_walk(w->loop, close_any, NULL);
        uv_run(w->loop, UV_RUN_DEFAULT);
        uv_loop_close(w->loop);
    }
    sl_wasm_worker_free(w); /* every stream and session is gone with the loop */
    for (size_t i = 0; i < w->n_clusters; i++)
        w->clusters[i] = NULL; /* freed by their last connection's close */
    free(w->clusters);
    w->clusters = NULL;
    w->n_clusters = 0;
    atomic_store(&w->state, SL_WORKER_STOPPED);
    SL_DEBUG("worker %u stopped", w->index);
}

int sl__worker_spawn(sl_worker_t *w, sl_server_t *s, unsigned index, const int *listen_fds,
                     uv_sem_t *started)
{
    w->index = index;
    w->server = s;
    w->config = s->config;
    w->stats = sl_stats_block(index);
    w->listen_fds = listen_fds;
    w->started = started;
    w->loop = &w->loop_storage;
    atomic_store(&w->state, SL_WORKER_STARTING);
    atomic_store(&w->active, UINT64_MAX);
    int rc = uv_loop_init(w->loop);
    if (rc != 0)
        return rc;
    uv_async_init(w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    uv_timer_init(w->loop, &w->activity);
    w->activity.data = w;
    w->loop_ready = true;
    return uv_thread_create(&w->thread, worker_main, w);
}

void sl__worker_command(sl_worker_t *w, int cmd)
{
    atomic_fetch_or_explicit(&w->command, cmd, memory_order_acq_rel);
    uv_async_send(&w->wakeup);
}

void sl__worker_join(sl_worker_t *w)
{
    uv_thread_join(&w->thread);
}
