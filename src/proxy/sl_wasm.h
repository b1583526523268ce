/* The proxy's side of Wasm plugins: loads each configured plugin's code once per process, keeps
 * one Proxy-Wasm host thread state per worker, and lets filters defer work to the worker loop. */
#ifndef SLUICE_PROXY_SL_WASM_H
#define SLUICE_PROXY_SL_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/sl_config.h"
#include "proxy/sl_status.h"
#include "proxy/sl_worker.h"
#include "sluice/host.h"

/* Loads and compiles the code of every plugin in cfg->wasm_plugins (identical code is compiled
 * once), creates the host's plugin objects and checks each one by starting a throw-away VM
 * replica and its root context (proxy_on_vm_start, proxy_on_configure), so a bad plugin fails
 * the configuration as it does in Envoy. Main thread, before workers start. On failure err
 * names the plugin, its config line and the reason. Bootstrap services are only checked so
 * with check_services (validation); when serving they start for real in sl_wasm_main_start
 * and sl_wasm_worker_start. Idempotent for the same configuration. */
sl_status_t sl_wasm_start(const sl_config_t *cfg, bool check_services, char *err,
                          size_t err_len);
/* Drops the plugins and their code (after every worker has stopped). */
void sl_wasm_stop(void);

/* The host plugin of a configured plugin (its sl_wasm_plugin_config_t.index); NULL before
 * sl_wasm_start or when out of range. Borrowed: lives until sl_wasm_stop. */
pw_plugin_t *sl_wasm_plugin(uint32_t index);

/* The worker's host thread state, created on first use on the worker's own thread. NULL when
 * out of memory. */
pw_thread_t *sl_wasm_worker_thread(sl_worker_t *w);
/* Worker start (its thread, before it accepts): starts the worker's replica and root contexts
 * of every plugin but the singleton services; failures are logged (streams then fail open or
 * closed as configured). */
void sl_wasm_worker_start(sl_worker_t *w);
/* Worker teardown: sl_wasm_worker_stop when the worker begins stopping (closes timers; no
 * more ticks), sl_wasm_worker_free after its loop has ended and every stream is freed. */
void sl_wasm_worker_stop(sl_worker_t *w);
void sl_wasm_worker_free(sl_worker_t *w);

/* The main thread's singleton services (bootstrap_extensions, envoy.bootstrap.wasm with
 * singleton: true): started on `loop` before workers accept, with their root contexts' ticks,
 * queues and HTTP callouts on that loop. sl_wasm_main_stop closes their handles when the server stops;
 * sl_wasm_main_free runs their last callbacks after the loop has ended. */
struct sl_cluster_def;
/* defs: the server's cluster definitions (borrowed, outlive the services): the main thread
 * gets its own view of each, so services can make HTTP callouts from it. */
sl_status_t sl_wasm_main_start(uv_loop_t *loop, struct sl_cluster_def *const *defs,
                               size_t n_defs, char *err, size_t err_len);
void sl_wasm_main_stop(void);
void sl_wasm_main_free(void);

/* Deferred work on a worker's loop: a filter that must act outside the host's call stack
 * (a plugin action requested from a timer or callout callback) links a task and the loop runs
 * it on its next turn. A task is embedded in its owner, which must cancel it before freeing. */
typedef struct sl_wasm_task sl_wasm_task_t;
struct sl_wasm_task {
    void (*run)(sl_wasm_task_t *t);
    sl_wasm_task_t *next, *prev; /* list links while queued; NULL otherwise */
    bool queued;
};
void sl_wasm_defer(sl_worker_t *w, sl_wasm_task_t *t);
void sl_wasm_cancel(sl_worker_t *w, sl_wasm_task_t *t);

/* "name root_id vm_id" of a plugin for log lines. */
const char *sl_wasm_plugin_label(const sl_wasm_plugin_config_t *pc, char *buf, size_t len);

/* Property values for the filters' attr_get: a string (NULL or "" with allow_empty false ->
 * NOT_FOUND), an int, the port of an "ip:port" address. */
pw_result_t sl_wasm_attr_str(const char *v, size_t len, bool allow_empty, pw_attr_value_t *out);
pw_result_t sl_wasm_attr_int(int64_t v, pw_attr_value_t *out);
pw_result_t sl_wasm_attr_port(const char *addr, pw_attr_value_t *out);
/* The attributes HTTP and TCP filters answer alike (connection.id, connection.mtls,
 * listener_direction, node.id, node.cluster); false when `a` is not one of them. */
bool sl_wasm_attr_common(pw_attr_t a, const sl_config_t *cfg, const sl_listener_config_t *lc,
                         uint64_t conn_id, pw_attr_value_t *out, pw_result_t *r);

/* Wall-clock nanoseconds of a loop-time millisecond stamp (for request.time). */
int64_t sl_wasm_wall_ns_of(uv_loop_t *loop, uint64_t loop_ms);

#endif
