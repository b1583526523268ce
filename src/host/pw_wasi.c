/* WASI preview1 as a proxy plugin sees it (ABI section 9): stdout/stderr become the plugin's
 * log, no files, no preopens, a configured environment, and nothing ever blocks the worker. */
#include "pw_internal.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#define A(i) PW_ARG_U32(args, i)

enum {
    E_SUCCESS = 0, E_BADF = 8, E_FAULT = 21, E_INVAL = 28, E_NOENT = 44, E_NOSYS = 52,
    E_NOTDIR = 54, E_NOTSUP = 58, E_SPIPE = 70,
};

#define ERRNO(e)                                                                             \
    do {                                                                                     \
        results[0].i32 = (e);                                                                \
        return WA_TRAP_NONE;                                                                 \
    } while (0)

static bool is_out(uint32_t fd) { return fd == 1 || fd == 2; }

/* Gathers iovecs (u32 buf, u32 len each) into one log line, dropping one trailing '\n'. */
static wa_trap_kind_t write_iovs(pw_vm_t *vm, uint32_t fd, uint32_t iovs, uint32_t n,
                                 uint32_t nwritten_ptr, wa_value_t *results)
{
    if (!is_out(fd))
        ERRNO(E_BADF);
    if ((uint64_t)n * 8 > UINT32_MAX)
        ERRNO(E_FAULT);
    const uint8_t *v = pw__mem(vm, iovs, n * 8u);
    if (!v || !pw__mem(vm, nwritten_ptr, 4))
        ERRNO(E_FAULT);
    /* One log line keeps at most 64 KiB; the guest is told everything was written. */
    enum { LINE_MAX_BYTES = 65536 };
    size_t total = 0, off = 0;
    if (!pw__scratch(vm, LINE_MAX_BYTES))
        ERRNO(E_FAULT);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ptr, len;
        memcpy(&ptr, v + 8 * i, 4);
        memcpy(&len, v + 8 * i + 4, 4);
        const uint8_t *b = pw__mem(vm, ptr, len);
        if (!b)
            ERRNO(E_FAULT);
        size_t take = len < LINE_MAX_BYTES - off ? len : LINE_MAX_BYTES - off;
        memcpy(vm->scratch + off, b, take);
        off += take;
        total += len;
    }
    size_t show = off && vm->scratch[off - 1] == '\n' ? off - 1 : off;
    pw_ctx_t *c = vm->eff ? vm->eff : vm->cur;
    pw_plugin_t *p = c ? c->plugin : vm->plugin;
    pw_log_level_t lvl = fd == 1 ? PW_LOG_INFO : PW_LOG_ERROR;
    pw_thread_t *t = vm->thread;
    if (t->ops && t->ops->log)
        t->ops->log(t->ud, lvl, p->who, (const char *)vm->scratch, show);
    else
        pw__log(t, lvl, p->who, "%.*s", (int)show, (const char *)vm->scratch);
    pw__put_u32(vm, nwritten_ptr, (uint32_t)total);
    ERRNO(E_SUCCESS);
}

static wa_trap_kind_t fd_write(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    return write_iovs(vm, A(0), A(1), A(2), A(3), results);
}

static wa_trap_kind_t fd_pwrite(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    return write_iovs(vm, A(0), A(1), A(2), A(4), results);
}

static wa_trap_kind_t nosys(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm, (void)args;
    ERRNO(E_NOSYS);
}

static wa_trap_kind_t notsup(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm, (void)args;
    ERRNO(E_NOTSUP);
}

static wa_trap_kind_t badf(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm, (void)args;
    ERRNO(E_BADF);
}

static wa_trap_kind_t success(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm, (void)args;
    ERRNO(E_SUCCESS);
}

/* fd 1/2: accepted without effect; others BADF. */
static wa_trap_kind_t out_ok(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm;
    ERRNO(is_out(A(0)) ? E_SUCCESS : E_BADF);
}

static wa_trap_kind_t fd_seek(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm;
    ERRNO(A(0) <= 2 ? E_SPIPE : E_BADF);
}

static wa_trap_kind_t fd_tell(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!is_out(A(0)))
        ERRNO(E_BADF);
    ERRNO(pw__put_u64(vm, A(1), 0) ? E_SUCCESS : E_FAULT);
}

static wa_trap_kind_t fd_fdstat_get(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!is_out(A(0)))
        ERRNO(E_BADF);
    uint8_t *p = pw__mem(vm, A(1), 24);
    if (!p)
        ERRNO(E_FAULT);
    memset(p, 0, 24);
    p[8] = 64; /* rights_base = FD_WRITE */
    ERRNO(E_SUCCESS);
}

static wa_trap_kind_t fd_renumber(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm;
    ERRNO(is_out(A(0)) ? E_NOTSUP : E_BADF);
}

static wa_trap_kind_t fd_readdir(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__put_u32(vm, A(4), 0))
        ERRNO(E_FAULT);
    ERRNO(E_NOTDIR);
}

static wa_trap_kind_t path_open(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)vm, (void)args;
    ERRNO(E_NOENT);
}

static wa_trap_kind_t path_readlink(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__put_u32(vm, A(5), 0))
        ERRNO(E_FAULT);
    ERRNO(E_NOTSUP);
}

static wa_trap_kind_t sock_recv(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__put_u32(vm, A(4), 0) || !pw__mem(vm, A(5), 2))
        ERRNO(E_FAULT);
    memset(pw__mem(vm, A(5), 2), 0, 2);
    ERRNO(E_NOTSUP);
}

static wa_trap_kind_t sock_send(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__put_u32(vm, A(4), 0))
        ERRNO(E_FAULT);
    ERRNO(E_NOTSUP);
}

/* Environment: only vm_config.environment_variables, never the proxy's own. */
static wa_trap_kind_t environ_sizes_get(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    size_t bytes = 0;
    for (size_t i = 0; i < vm->plugin->n_env; i++)
        bytes += strlen(vm->plugin->env[i].key) + strlen(vm->plugin->env[i].value) + 2;
    if (!pw__put_u32(vm, A(0), (uint32_t)vm->plugin->n_env) ||
        !pw__put_u32(vm, A(1), (uint32_t)bytes))
        ERRNO(E_FAULT);
    ERRNO(E_SUCCESS);
}

static wa_trap_kind_t environ_get(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint32_t arr = A(0), buf = A(1);
    for (size_t i = 0; i < vm->plugin->n_env; i++) {
        const char *k = vm->plugin->env[i].key, *v = vm->plugin->env[i].value;
        size_t kl = strlen(k), vl = strlen(v);
        uint8_t *dst = pw__mem(vm, buf, (uint32_t)(kl + vl + 2));
        if (!dst || !pw__put_u32(vm, arr + 4 * (uint32_t)i, buf))
            ERRNO(E_FAULT);
        memcpy(dst, k, kl);
        dst[kl] = '=';
        memcpy(dst + kl + 1, v, vl);
        dst[kl + 1 + vl] = 0;
        buf += (uint32_t)(kl + vl + 2);
    }
    ERRNO(E_SUCCESS);
}

static wa_trap_kind_t args_sizes_get(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (!pw__put_u32(vm, A(0), 0) || !pw__put_u32(vm, A(1), 0))
        ERRNO(E_FAULT);
    ERRNO(E_SUCCESS);
}

static wa_trap_kind_t clock_time_get(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint32_t id = A(0);
    struct timespec ts;
    if (id > 1)
        ERRNO(E_NOTSUP);
    clock_gettime(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    ERRNO(pw__put_u64(vm, A(2), ns) ? E_SUCCESS : E_FAULT);
}

static wa_trap_kind_t clock_res_get(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    if (A(0) > 1)
        ERRNO(E_NOTSUP);
    ERRNO(pw__put_u64(vm, A(1), 1) ? E_SUCCESS : E_FAULT);
}

static wa_trap_kind_t random_get(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint32_t len = A(1);
    if (len > 65536)
        ERRNO(E_INVAL);
    uint8_t *p = pw__mem(vm, A(0), len);
    if (!p)
        ERRNO(E_FAULT);
    size_t off = 0;
    while (off < len) {
        ssize_t n = getrandom(p + off, len - off, 0);
        if (n <= 0)
            ERRNO(E_NOSYS);
        off += (size_t)n;
    }
    ERRNO(E_SUCCESS);
}

/* Never blocks a worker: reports no events at once (the Go runtime needs SUCCESS). */
static wa_trap_kind_t poll_oneoff(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    ERRNO(pw__put_u32(vm, A(3), 0) ? E_SUCCESS : E_FAULT);
}

/* Unwinds the current call; pw__vm_call treats exit 0 during _start as a finished start-up
 * and anything else as a trap (ABI 4.4). */
static wa_trap_kind_t proc_exit(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    (void)results;
    return wa_trap_set(vm->caller, WA_TRAP_EXIT, args[0].i32, "proc_exit(%d)", args[0].i32);
}

#define W(name, params, results, fn, flags) {"wasi", name, params, results, fn, flags}
#define ANY PW_HC_ANY_PHASE

const pw_hostcall_t pw__hostcalls_wasi[] = {
    W("fd_write", "iiii", "i", fd_write, ANY | PW_HC_IN_ALLOC),
    W("fd_read", "iiii", "i", nosys, 0),
    W("fd_pwrite", "iiiIi", "i", fd_pwrite, ANY),
    W("fd_pread", "iiiIi", "i", nosys, ANY),
    W("fd_seek", "iIii", "i", fd_seek, 0),
    W("fd_tell", "ii", "i", fd_tell, ANY),
    W("fd_close", "i", "i", success, 0),
    W("fd_fdstat_get", "ii", "i", fd_fdstat_get, ANY),
    W("fd_fdstat_set_flags", "ii", "i", nosys, ANY),
    W("fd_fdstat_set_rights", "iII", "i", out_ok, ANY),
    W("fd_filestat_get", "ii", "i", badf, ANY),
    W("fd_filestat_set_size", "iI", "i", out_ok, ANY),
    W("fd_filestat_set_times", "iIIi", "i", out_ok, ANY),
    W("fd_advise", "iIIi", "i", success, ANY),
    W("fd_allocate", "iII", "i", out_ok, ANY),
    W("fd_datasync", "i", "i", out_ok, ANY),
    W("fd_sync", "i", "i", out_ok, ANY),
    W("fd_renumber", "ii", "i", fd_renumber, ANY),
    W("fd_readdir", "iiiIi", "i", fd_readdir, ANY),
    W("fd_prestat_get", "ii", "i", badf, ANY),
    W("fd_prestat_dir_name", "iii", "i", nosys, ANY),
    W("path_open", "iiiiiIIii", "i", path_open, 0),
    W("path_filestat_get", "iiiii", "i", notsup, ANY),
    W("path_filestat_set_times", "iiiiIIi", "i", notsup, ANY),
    W("path_create_directory", "iii", "i", notsup, ANY),
    W("path_remove_directory", "iii", "i", notsup, ANY),
    W("path_unlink_file", "iii", "i", notsup, ANY),
    W("path_rename", "iiiiii", "i", notsup, ANY),
    W("path_link", "iiiiiii", "i", notsup, ANY),
    W("path_symlink", "iiiii", "i", notsup, ANY),
    W("path_readlink", "iiiiii", "i", path_readlink, ANY),
    W("sock_accept", "iii", "i", notsup, ANY),
    W("sock_recv", "iiiiii", "i", sock_recv, ANY),
    W("sock_send", "iiiii", "i", sock_send, ANY),
    W("sock_shutdown", "ii", "i", notsup, ANY),
    W("environ_sizes_get", "ii", "i", environ_sizes_get, ANY),
    W("environ_get", "ii", "i", environ_get, ANY),
    W("args_sizes_get", "ii", "i", args_sizes_get, ANY),
    W("args_get", "ii", "i", success, ANY),
    W("clock_time_get", "iIi", "i", clock_time_get, ANY | PW_HC_IN_ALLOC),
    W("clock_res_get", "ii", "i", clock_res_get, ANY),
    W("random_get", "ii", "i", random_get, ANY),
    W("sched_yield", "", "i", success, 0),
    W("poll_oneoff", "iiii", "i", poll_oneoff, ANY | PW_HC_IN_ALLOC),
    W("proc_exit", "i", "", proc_exit, ANY),
    W("proc_raise", "i", "i", nosys, ANY),
    {NULL, NULL, NULL, NULL, NULL, 0},
};
