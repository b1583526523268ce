/* The server's life on the main thread: load and check the configuration, bind listeners,
 * start workers, serve admin, then on SIGTERM/SIGINT drain in-flight work and exit 0. */
#include "proxy/sl_server.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "proxy/sl_admin.h"
#include "proxy/sl_wasm.h"
#include "proxy/sl_cluster.h"
#include "proxy/sl_config.h"
#include "proxy/sl_listener.h"
#include "proxy/sl_netfilter.h"
#include "proxy/sl_stats.h"
#include "proxy/sl_worker_internal.h"

const char *sl_server_state_name(sl_server_state_t st)
{
    switch (st) {
    case SL_SERVER_INITIALIZING: return "PRE_INITIALIZING";
    case SL_SERVER_LIVE: return "LIVE";
    case SL_SERVER_DRAINING: return "DRAINING";
    case SL_SERVER_STOPPING: return "STOPPING";
    }
    return "UNKNOWN";
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *p = malloc(cap);
    while (p) {
        size_t n = fread(p + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
            cap *= 2;
        }
    }
    fclose(f);
    if (p)
        p[len] = 0;
    return p;
}

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* ---- stopping -------------------------------------------------------------------------------- */

static void stop_now(sl_server_t *s)
{
    if (s->state == SL_SERVER_STOPPING)
        return;
    s->state = SL_SERVER_STOPPING;
    SL_INFO("stopping %u worker%s", s->n_workers, s->n_workers == 1 ? "" : "s");
    for (unsigned i = 0; i < s->n_workers; i++)
        sl__worker_command(&s->workers[i], SL_WORKER_CMD_STOP);
    /* Joining blocks the main loop; nothing on it matters any more but admin replies
     * already queued, which the loop finishes after. */
    for (unsigned i = 0; i < s->n_workers; i++)
        sl__worker_join(&s->workers[i]);
    s->n_joined = s->n_workers;
    sl_wasm_main_stop();
    sl_admin_stop(s->admin);
    s->admin = NULL;
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->drain_timer, NULL);
    uv_close((uv_handle_t *)&s->stop_timer, NULL);
    uv_close((uv_handle_t *)&s->tick, NULL);
}

static void on_drain_poll(uv_timer_t *t)
{
    sl_server_t *s = t->data;
    uint64_t busy = 0;
    for (unsigned i = 0; i < s->n_workers; i++) {
        uint64_t a = atomic_load_explicit(&s->workers[i].active, memory_order_acquire);
        busy += a == UINT64_MAX ? 1 : a;
    }
    bool late = uv_now(&s->loop) >= s->drain_deadline_ms;
    if (busy == 0 || late) {
        if (busy)
            SL_WARN("drain time over with %llu request(s)/session(s) still in flight",
                    (unsigned long long)busy);
        else
            SL_INFO("drained");
        uv_timer_stop(t);
        stop_now(s);
    }
}

static void on_stop_timer(uv_timer_t *t)
{
    stop_now(t->data);
}

void sl_server_shutdown(sl_server_t *s, bool drain)
{
    if (s->state == SL_SERVER_STOPPING)
        return;
    if (!drain || s->state == SL_SERVER_DRAINING) {
        /* Not from inside an admin or signal callback's stack: from the loop, next turn. */
        uv_timer_start(&s->stop_timer, on_stop_timer, 0, 0);
        return;
    }
    s->state = SL_SERVER_DRAINING;
    sl_stats_gauge_set(NULL, s->live_gauge, 0);
    SL_INFO("draining: accepting no new connections, waiting up to %u s for in-flight work",
            s->opt.drain_time_s);
    for (unsigned i = 0; i < s->n_workers; i++)
        sl__worker_command(&s->workers[i], SL_WORKER_CMD_DRAIN);
    s->drain_deadline_ms = uv_now(&s->loop) + (uint64_t)s->opt.drain_time_s * 1000;
    uv_timer_start(&s->drain_timer, on_drain_poll, 10, 20);
}

static void on_signal(uv_signal_t *h, int signum)
{
    sl_server_t *s = h->data;
    if (s->state == SL_SERVER_DRAINING) {
        SL_INFO("%s again: stopping now", strsignal(signum));
        sl_server_shutdown(s, false);
        return;
    }
    SL_INFO("%s received", strsignal(signum));
    sl_server_shutdown(s, true);
}

static void on_tick(uv_timer_t *t)
{
    sl_server_t *s = t->data;
    sl_stats_gauge_set(NULL, s->uptime_gauge, (int64_t)((wall_ms() - s->start_time_ms) / 1000));
}

/* ---- start ------------------------------------------------------------------------------------ */

static int load_config(sl_server_t *s)
{
    sl_config_error_t err;
    memset(&err, 0, sizeof err);
    if (sl_config_load_file(s->opt.config_path, &s->config, &err) != SL_OK) {
        if (err.line)
            fprintf(stderr, "error: %s:%u:%u: %s\n", err.file, err.line, err.column,
                    err.message);
        else
            fprintf(stderr, "error: %s: %s\n", err.file[0] ? err.file : s->opt.config_path,
                    err.message[0] ? err.message : sl_status_str(err.status));
        return 1;
    }
    for (size_t i = 0; i < s->config->n_warnings; i++)
        SL_WARN("config: %s", s->config->warnings[i].message);
    s->config_text = read_file(s->opt.config_path);
    return 0;
}

static int build_clusters(sl_server_t *s)
{
    char err[512];
    const sl_config_t *cfg = s->config;
    s->cluster_defs = calloc(cfg->n_clusters ? cfg->n_clusters : 1, sizeof *s->cluster_defs);
    if (!s->cluster_defs) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < cfg->n_clusters; i++) {
        if (sl_cluster_def_from_config(&cfg->clusters[i], &s->cluster_defs[i], err,
                                       sizeof err) != SL_OK) {
            fprintf(stderr, "error: %s:%u: %s\n", s->opt.config_path, cfg->clusters[i].line,
                    err);
            return 1;
        }
        s->n_cluster_defs++;
    }
    return 0;
}

static void free_server(sl_server_t *s)
{
    for (size_t i = 0; i < s->n_cluster_defs; i++)
        sl_cluster_def_free(s->cluster_defs[i]);
    free(s->cluster_defs);
    sl_listener_rts_free(s->listeners, s->n_listeners);
    if (s->listen_fds && s->n_listeners) {
        /* Sockets never handed to a worker (start failed before spawning it). */
        size_t nw = s->n_listen_fds / s->n_listeners;
        for (size_t l = 0; l < s->n_listeners; l++)
            for (size_t w = s->n_spawned; w < nw; w++)
                close(s->listen_fds[l * nw + w]);
    }
    free(s->listen_fds);
    free(s->workers);
    sl_wasm_stop();
    sl_config_free(s->config);
    free(s->config_text);
}

static unsigned default_concurrency(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Spawns every worker and waits until each runs or fails. 0 when all run. */
static int start_workers(sl_server_t *s)
{
    uv_sem_t started;
    uv_sem_init(&started, 0);
    int failed = 0;
    for (unsigned i = 0; i < s->n_workers; i++) {
        /* fds are laid out listener-major: fds[l * n_workers + w]; give worker i its own
         * column, gathered into a row the worker may keep. */
        for (size_t l = 0; l < s->n_listeners; l++)
            s->worker_fds[i * s->n_listeners + l] = s->listen_fds[l * s->n_workers + i];
        int rc = sl__worker_spawn(&s->workers[i], s, i, &s->worker_fds[i * s->n_listeners],
                                  &started);
        if (rc != 0) {
            fprintf(stderr, "error: starting worker %u: %s\n", i, uv_strerror(rc));
            failed = 1;
            break;
        }
        s->n_spawned++;
    }
    for (unsigned i = 0; i < s->n_spawned; i++)
        uv_sem_wait(&started);
    uv_sem_destroy(&started);
    for (unsigned i = 0; i < s->n_spawned; i++) {
        if (atomic_load(&s->workers[i].state) == SL_WORKER_FAILED) {
            fprintf(stderr, "error: %s\n", s->workers[i].error);
            failed = 1;
        }
    }
    return failed;
}

int sl_server_run(const sl_server_options_t *opt)
{
    sl_server_t server, *s = &server;
    char err[512];
    int rc = 1;
    memset(s, 0, sizeof *s);
    s->opt = *opt;
    s->start_time_ms = wall_ms();
    s->n_workers = opt->concurrency ? opt->concurrency : default_concurrency();
    sl_log_set_level(opt->log_level);
    sl_log_set_thread_name("main");
    signal(SIGPIPE, SIG_IGN);
    if (!sl_stats_init(opt->validate_only ? 0 : s->n_workers)) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    sl_netfilter_register_builtins();
    if (load_config(s) != 0 || build_clusters(s) != 0)
        goto out;
    if (sl_wasm_start(s->config, opt->validate_only, err, sizeof err) != SL_OK) {
        fprintf(stderr, "error: %s: %s\n", opt->config_path, err);
        goto out;
    }
    if (opt->validate_only) {
        /* Everything but binding: listener chains and filter configs must build too. */
        sl_listener_rt_t *rts = NULL;
        int *fds = NULL;
        sl_status_t st = sl_listeners_prepare(s->config, 0, &rts, &fds, err, sizeof err);
        sl_listener_rts_free(rts, s->config->n_listeners);
        free(fds);
        if (st != SL_OK) {
            fprintf(stderr, "error: %s: %s\n", opt->config_path, err);
            goto out;
        }
        printf("configuration '%s' OK\n", opt->config_path);
        rc = 0;
        goto out;
    }
    uv_loop_init(&s->loop);
    s->loop_ready = true;
    /* Services first: they run before any listener accepts traffic. */
    if (sl_wasm_main_start(&s->loop, s->cluster_defs, s->n_cluster_defs, err, sizeof err) !=
        SL_OK) {
        SL_ERROR("%s", err);
        fprintf(stderr, "error: %s: %s\n", opt->config_path, err);
        goto out;
    }
    s->live_gauge = sl_stats_gauge("server.live");
    s->uptime_gauge = sl_stats_gauge("server.uptime");
    sl_stats_gauge_set(NULL, sl_stats_gauge("server.concurrency"), s->n_workers);
    if (sl_listeners_prepare(s->config, s->n_workers, &s->listeners, &s->listen_fds, err,
                             sizeof err) != SL_OK) {
        SL_ERROR("%s", err);
        fprintf(stderr, "error: %s\n", err);
        goto out;
    }
    s->n_listeners = s->config->n_listeners;
    s->n_listen_fds = s->n_listeners * s->n_workers;
    s->workers = calloc(s->n_workers, sizeof *s->workers);
    s->worker_fds = calloc(s->n_listen_fds + 1, sizeof *s->worker_fds);
    if (!s->workers || !s->worker_fds) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    if (s->config->admin.present) {
        s->admin = sl_admin_start(s, s->config->admin.address.address,
                                  s->config->admin.address.port, err, sizeof err);
        if (!s->admin) {
            SL_ERROR("%s", err);
            fprintf(stderr, "error: %s\n", err);
            goto out;
        }
    }
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    uv_timer_init(&s->loop, &s->drain_timer);
    uv_timer_init(&s->loop, &s->stop_timer);
    uv_timer_init(&s->loop, &s->tick);
    s->sigterm.data = s->sigint.data = s->drain_timer.data = s->stop_timer.data =
        s->tick.data = s;
    s->handles_ready = true;
    if (start_workers(s) != 0)
        goto out;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_timer_start(&s->tick, on_tick, 1000, 1000);
    s->state = SL_SERVER_LIVE;
    sl_stats_gauge_set(NULL, s->live_gauge, 1);
    SL_INFO("sluice " SL_VERSION " live: %u worker%s, %zu listener%s, %zu cluster%s",
            s->n_workers, s->n_workers == 1 ? "" : "s", s->n_listeners,
            s->n_listeners == 1 ? "" : "s", s->n_cluster_defs,
            s->n_cluster_defs == 1 ? "" : "s");
    uv_run(&s->loop, UV_RUN_DEFAULT);
    SL_INFO("exiting");
    rc = 0;
out:
    if (s->loop_ready) {
        if (s->state != SL_SERVER_STOPPING) {
            /* Start failure: stop what started. */
            s->n_workers = s->n_spawned;
            if (s->handles_ready) {
                stop_now(s);
            } else {
                for (unsigned i = 0; i < s->n_spawned; i++)
                    sl__worker_command(&s->workers[i], SL_WORKER_CMD_STOP);
                for (unsigned i = 0; i < s->n_spawned; i++)
                    sl__worker_join(&s->workers[i]);
                sl_admin_stop(s->admin);
            }
        }
        sl_wasm_main_stop();
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        sl_wasm_main_free();
    }
    free(s->worker_fds);
    free_server(s);
    sl_stats_shutdown();
    return rc;
}
