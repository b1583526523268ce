/* sluice's WASI preview1 layer: the "wasi_snapshot_preview1" (and older "wasi_unstable")
 * imports a command or an embedded plugin needs, over a configured context. */
#ifndef SLUICE_WASI_H
#define SLUICE_WASI_H

#include "sluice/wasm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* WASI errno values returned to the guest (preview1 numbering). */
#define WA_WASI_ESUCCESS 0
#define WA_WASI_EBADF 8
#define WA_WASI_EFAULT 21
#define WA_WASI_EINVAL 28
#define WA_WASI_EIO 29
#define WA_WASI_ENOENT 44
#define WA_WASI_ENOSYS 52
#define WA_WASI_ENOTDIR 54
#define WA_WASI_ENOTSUP 58
#define WA_WASI_ESPIPE 70

typedef struct wa_wasi wa_wasi_t;

/* Receives what the guest writes to fd 1 or 2 instead of a host fd (e.g. a plugin's log).
 * Returns the number of bytes taken, or -1 with errno set. */
typedef long (*wa_wasi_write_cb)(void *user, int fd, const uint8_t *buf, size_t len);

/* Receives one record per fd_write or fd_pwrite on fd 1 or 2 of a sandboxed context: the
 * call's buffers gathered in order, cut at line_max bytes, then one trailing '\n' dropped.
 * `line` is valid only during the call (it may point into guest memory); the callback must
 * not call into the guest. */
typedef void (*wa_wasi_line_cb)(void *user, int fd, const uint8_t *line, size_t len);

typedef struct wa_wasi_config {
    size_t argc;
    const char *const *argv; /* copied by wa_wasi_new */
    size_t envc;
    const char *const *env;  /* "NAME=VALUE" strings, copied by wa_wasi_new */
    /* Host fds behind the guest's fds 0, 1, 2; -1 leaves that guest fd closed. Borrowed:
     * never closed by this layer (the guest's fd_close only closes its own view). */
    int stdin_fd, stdout_fd, stderr_fd;
    wa_wasi_write_cb write_cb; /* when set, fds 1 and 2 write here instead of to host fds */
    void *write_user;          /* borrowed: passed to write_cb */
    /* A sandbox, for a guest embedded in a server, reaches nothing of the host but clocks 0
     * and 1 and randomness, and no call blocks. stdin_fd, stdout_fd, stderr_fd and write_cb
     * are ignored. fds 1 and 2 are line sinks (to line_cb; none when NULL) that take every
     * byte; fd 0 is not readable (fd_read is ENOSYS); there are no preopens, files,
     * directories or sockets (path_open ENOENT, other path and sock calls ENOTSUP); seeking
     * fds 0-2 is ESPIPE; poll_oneoff reports no event at once; random_get gives at most
     * 64 KiB per call; sched_yield returns at once. */
    bool sandbox;
    wa_wasi_line_cb line_cb;
    void *line_user;           /* borrowed: passed to line_cb */
    size_t line_max;           /* bytes a record keeps; 0 means 64 KiB */
} wa_wasi_config_t;

/* Creates a context from cfg (strings copied). WA_ERR_NOMEM or WA_ERR_ARG (NULL cfg). */
wa_status_t wa_wasi_new(const wa_wasi_config_t *cfg, wa_wasi_t **out);
void wa_wasi_free(wa_wasi_t *w); /* NULL is a no-op; w must outlive the instances using it */

/* Defines every preview1 function on l under "wasi_snapshot_preview1" and "wasi_unstable".
 * Implemented: args, environ, clocks, random_get, fd_read/fd_write/fd_close/fd_seek/fd_tell/
 * fd_fdstat_get on fds 0-2, fd_prestat_get/fd_prestat_dir_name (EBADF: no preopens),
 * poll_oneoff (clocks and fds 0-2), proc_exit (a WA_TRAP_EXIT trap carrying the code),
 * sched_yield. Every other function is defined and returns ENOSYS so modules importing it
 * still link. A sandboxed context defines the same names with the answers described at
 * wa_wasi_config_t.sandbox. Guest memory is the calling instance's memory 0; every pointer
 * and length is bounds-checked, a bad one returns EFAULT (an empty range is valid wherever
 * it points: nothing is read or written through it). Returns the linker's status. */
wa_status_t wa_wasi_define(wa_wasi_t *w, wa_linker_t *l);

/* One function as wa_wasi_define defines it. */
typedef struct wa_wasi_func {
    wa_functype_t type; /* arrays are static */
    wa_host_fn_t fn;    /* call with the context as `user`; NULL when looked up without one */
} wa_wasi_func_t;

/* What wa_wasi_define(w, ...) defines as module.name, for embedders that link imports
 * themselves (e.g. to wrap each call); w may be NULL to learn only the type, to check a
 * module's imports before any context exists. False when the module is not
 * "wasi_snapshot_preview1" or "wasi_unstable" or the name is no preview1 function. */
bool wa_wasi_lookup(const wa_wasi_t *w, const char *module, const char *name,
                    wa_wasi_func_t *out);

#ifdef __cplusplus
}
#endif
#endif
