/* A worker: one thread running its own libuv loop, owning every connection it accepts, its
 * own view of each upstream cluster (pools, balancer state) and its own stats slot. */
#ifndef SLUICE_PROXY_SL_WORKER_H
#define SLUICE_PROXY_SL_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/sl_config.h"
#include "proxy/sl_stats.h"

typedef struct sl_worker sl_worker_t;
typedef struct sl_server sl_server_t;
typedef struct sl_cluster sl_cluster_t;
struct sl_listener_set;

/* Public fields may be read by any code running on this worker's thread; only the server
 * and sl_worker.c write them. */
struct sl_worker {
    uv_loop_t *loop;                /* owned (points at loop_storage); runs on this thread */
    unsigned index;                 /* 0 .. concurrency-1 */
    const sl_config_t *config;      /* borrowed: the server's, outlives the worker */
    sl_cluster_t **clusters;        /* owned array of owned clusters, config order */
    size_t n_clusters;
    sl_stats_block_t *stats;        /* borrowed: this worker's stats slot */
    sl_server_t *server;            /* borrowed: outlives the worker */
    bool draining;                  /* set when the server starts draining */

    /* Per-worker state of the layers above, created and freed by them (owner named). */
    void *http;   /* owned by the HTTP connection manager (sl_hcm.c) */
    void *host;   /* owned by the Wasm host glue */

    /* ---- private to sl_worker.c / sl_server.c ---- */
    uv_loop_t loop_storage;
    uv_thread_t thread;
    uv_async_t wakeup;              /* main -> worker commands (drain, stop) */
    uv_timer_t activity;            /* while draining: publishes `active` */
    uv_timer_t stop_guard;          /* after stop: closes stragglers */
    _Atomic int command;            /* SL_WORKER_CMD_* bits, set by main */
    struct sl_listener_set *listeners; /* owned: this worker's accepting sockets */
    const int *listen_fds;          /* borrowed: the server's, one per listener (taken) */
    uv_sem_t *started;              /* borrowed: posted once running or failed */
    bool stopping;
    bool loop_ready;                /* loop initialised (main thread view) */
    struct sl_nf_conn *tcp_sessions; /* borrowed list head: TCP proxy sessions (each owned by
                                        sl_tcp_proxy.c, freed when it ends) */
    size_t n_tcp_sessions;
    uint64_t next_conn_id;          /* ids for connections accepted by this worker */
    _Atomic uint64_t active;        /* published by the worker for the main thread while
                                       draining: streams + sessions in flight */
    _Atomic int state;              /* SL_WORKER_STARTING / RUNNING / FAILED / STOPPED */
    char error[256];                /* why start failed (state FAILED) */
};

enum { SL_WORKER_STARTING, SL_WORKER_RUNNING, SL_WORKER_FAILED, SL_WORKER_STOPPED };
enum { SL_WORKER_CMD_DRAIN = 1, SL_WORKER_CMD_STOP = 2 };

/* The worker whose thread is calling, or NULL on the main thread or any other thread. */
sl_worker_t *sl_worker_current(void);

/* This worker's state of the cluster named `name` (a linear scan over a handful of
 * clusters; resolve once per route at first use if it matters). NULL when unknown. */
sl_cluster_t *sl_worker_cluster(sl_worker_t *w, const char *name);

/* The same by position: sl_cluster_config_t.index (clusters are kept in config order). O(1),
 * for the hot path. NULL when out of range. */
static inline sl_cluster_t *sl_worker_cluster_at(const sl_worker_t *w, uint32_t index)
{
    return index < w->n_clusters ? w->clusters[index] : NULL;
}

/* True once the server has started draining: stop keep-alive, accept nothing new. */
static inline bool sl_worker_is_draining(const sl_worker_t *w)
{
    return w->draining;
}

#endif
