/* Worker control used by the server only: spawn a worker thread, send it commands, join it.
 * Not for the layers above (they use sl_worker.h). */
#ifndef SLUICE_PROXY_SL_WORKER_INTERNAL_H
#define SLUICE_PROXY_SL_WORKER_INTERNAL_H

#include <uv.h>

#include "proxy/sl_worker.h"

/* Initialises w's loop and command handle on the calling (main) thread, then starts its
 * thread. listen_fds: one bound socket per listener, taken by the worker. The worker posts
 * `started` once RUNNING or FAILED. Returns 0 or a libuv error. */
int sl__worker_spawn(sl_worker_t *w, sl_server_t *s, unsigned index, const int *listen_fds,
                     uv_sem_t *started);
/* Thread-safe: sets command bits (SL_WORKER_CMD_DRAIN / _STOP) and wakes the worker. */
void sl__worker_command(sl_worker_t *w, int cmd);
void sl__worker_join(sl_worker_t *w);

#endif
