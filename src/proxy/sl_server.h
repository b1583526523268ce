/* The main thread: loads the configuration, binds every listener, starts the workers, runs
 * the admin server and handles signals (SIGTERM/SIGINT drain, then exit 0). */
#ifndef SLUICE_PROXY_SL_SERVER_H
#define SLUICE_PROXY_SL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/sl_log.h"
#include "proxy/sl_worker.h"

#define SL_VERSION "0.1.0"

typedef struct sl_server_options {
    const char *config_path; /* borrowed: argv */
    unsigned concurrency;    /* workers; 0 = number of cores */
    sl_log_level_t log_level;
    unsigned drain_time_s;   /* how long SIGTERM waits for in-flight work (default 5) */
    bool validate_only;      /* --mode validate */
    const char *command_line; /* borrowed: for /server_info */
} sl_server_options_t;

typedef enum {
    SL_SERVER_INITIALIZING,
    SL_SERVER_LIVE,
    SL_SERVER_DRAINING,
    SL_SERVER_STOPPING,
} sl_server_state_t;

typedef struct sl_admin sl_admin_t;

struct sl_cluster_def;
struct sl_listener_rt;

/* One per process. Everything here is touched by the main thread only, except what workers
 * read while running (config, cluster_defs, listeners: immutable by then) and their own
 * published atomics (see sl_worker.h). */
struct sl_server {
    sl_server_options_t opt;
    sl_config_t *config;            /* owned: one reference to the loaded configuration */
    char *config_text;              /* owned: the file as read, for /config_dump */
    struct sl_cluster_def **cluster_defs; /* owned array of owned defs, config order */
    size_t n_cluster_defs;
    struct sl_listener_rt *listeners; /* owned array: one per configured listener */
    size_t n_listeners;
    int *listen_fds;                /* owned: n_listeners * n_workers bound sockets,
                                       listener-major; each is taken by its worker */
    size_t n_listen_fds;
    int *worker_fds;                /* owned: the same, worker-major (what workers read) */
    uv_loop_t loop;                 /* the main loop */
    sl_worker_t *workers;           /* owned array of n_workers */
    unsigned n_workers;
    unsigned n_spawned;             /* workers whose thread started */
    unsigned n_joined;
    sl_admin_t *admin;              /* owned, NULL when the config has no admin */
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;         /* polls worker activity while draining */
    uv_timer_t stop_timer;          /* runs the stop from the loop */
    uv_timer_t tick;                /* once a second: server.uptime */
    uint64_t drain_deadline_ms;     /* loop time when draining gives up */
    sl_server_state_t state;
    uint64_t start_time_ms;         /* wall clock at start, for /server_info */
    sl_gauge_t live_gauge, uptime_gauge;
    bool loop_ready, handles_ready;
};

/* Runs the whole process life: load, (validate and return) or start, serve, drain, stop.
 * Returns the process exit code: 0 for a clean stop or a valid config, 1 for a config or
 * start failure. */
int sl_server_run(const sl_server_options_t *opt);

/* Main-thread helpers used by the admin server. */
void sl_server_shutdown(sl_server_t *s, bool drain); /* begin drain (true) or stop at once */
const char *sl_server_state_name(sl_server_state_t st);

#endif
