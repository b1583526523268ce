/* WASI preview1 for sluice's engine: args, environ, clocks, randomness, stdio fds, poll,
 * exit over host fds, or a sandbox (log-line sinks, nothing blocks) for embedded plugins. */
#include "sluice/wasi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Values from the preview1 witx definitions (typenames.witx). */
enum {
    E_AGAIN = 6, E_INTR = 27, E_NOSPC = 51, E_OVERFLOW = 61, E_PERM = 63, E_PIPE = 64,
    E_ACCES = 2, E_FBIG = 22,
};
enum { FT_UNKNOWN = 0, FT_CHAR = 2, FT_DIR = 3, FT_REGULAR = 4, FT_SOCKET_STREAM = 6 };
enum { FDFLAG_APPEND = 1, FDFLAG_NONBLOCK = 4 };
#define RIGHT_FD_READ (1ull << 1)
#define RIGHT_FD_SEEK (1ull << 2)
#define RIGHT_FD_TELL (1ull << 5)
#define RIGHT_FD_WRITE (1ull << 6)
#define RIGHT_FD_FILESTAT_GET (1ull << 21)
#define RIGHT_POLL_FD_READWRITE (1ull << 27)
enum { EV_CLOCK = 0, EV_FD_READ = 1, EV_FD_WRITE = 2 };
#define SUBCLOCK_ABSTIME 1
#define EVENT_BYTES 32
#define MAX_POLL_SUBS 1024 /* subscriptions handled per poll_oneoff, bounded for the stack */

#define NSTDIO 3
#define LINE_MAX_DEFAULT 65536
#define SANDBOX_RANDOM_MAX 65536 /* bytes per random_get call in a sandbox */

typedef struct guest_fd {
    int host_fd; /* borrowed from the config: -1 when the guest fd is closed */
    bool open;
} guest_fd_t;

struct wa_wasi {
    char **argv;      /* owned array of owned strings */
    size_t argc;
    size_t argv_bytes; /* sum of strlen + 1 */
    char **env;       /* owned array of owned strings */
    size_t envc;
    size_t env_bytes;
    guest_fd_t fds[NSTDIO];
    wa_wasi_write_cb write_cb;
    void *write_user; /* borrowed */
    bool sandbox;
    wa_wasi_line_cb line_cb;
    void *line_user;  /* borrowed */
    size_t line_max;
    uint8_t *line;    /* owned: gathers a sandbox write of several buffers; grows to line_max */
    size_t line_cap;
};

/* ---- helpers ------------------------------------------------------------------------------- */

static uint32_t u32_arg(const wa_value_t *args, int i)
{
    return (uint32_t)args[i].i32;
}

static wa_trap_kind_t ret(wa_value_t *results, int32_t errno_value)
{
    results[0].i32 = errno_value;
    return WA_TRAP_NONE;
}

/* The caller's memory 0, looked up once per call (a write checks many ranges). */
typedef struct guest_mem {
    uint8_t *base; /* borrowed from the instance; NULL without a memory */
    uint64_t size;
} guest_mem_t;

static guest_mem_t guest_mem(wa_instance_t *caller)
{
    guest_mem_t g = {NULL, 0};
    g.base = wa_memory_data(wa_instance_memory(caller), &g.size);
    return g;
}

/* Where guest pointers become host pointers: NULL unless [ptr, ptr+len) is in g. An empty
 * range is valid wherever it points: nothing goes through it (toolchains pass a dangling
 * pointer with length 0). Never held across a call into Wasm. */
static inline uint8_t *view(const guest_mem_t *g, uint64_t ptr, uint64_t len)
{
    static uint8_t empty[1];
    if (len == 0)
        return empty;
    if (!g->base || ptr > g->size || len > g->size - ptr)
        return NULL;
    return g->base + ptr;
}

static uint8_t *lift(wa_instance_t *caller, uint64_t ptr, uint64_t len)
{
    guest_mem_t g = guest_mem(caller);
    return view(&g, ptr, len);
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static int32_t from_host_errno(int e)
{
    switch (e) {
    case EBADF: return WA_WASI_EBADF;
    case EINVAL: return WA_WASI_EINVAL;
    case ESPIPE: return WA_WASI_ESPIPE;
    case EAGAIN: return E_AGAIN;
    case EINTR: return E_INTR;
    case ENOSPC: return E_NOSPC;
    case EOVERFLOW: return E_OVERFLOW;
    case EPERM: return E_PERM;
    case EPIPE: return E_PIPE;
    case EACCES: return E_ACCES;
    case EFBIG: return E_FBIG;
    default: return WA_WASI_EIO;
    }
}

static guest_fd_t *get_fd(wa_wasi_t *w, uint32_t fd)
{
    if (fd >= NSTDIO || !w->fds[fd].open)
        return NULL;
    return &w->fds[fd];
}

static bool uses_cb(const wa_wasi_t *w, uint32_t fd)
{
    return w->write_cb && (fd == 1 || fd == 2);
}

/* ---- args and environ ---------------------------------------------------------------------- */

static int32_t sizes_get(wa_instance_t *c, uint32_t count_ptr, uint32_t bytes_ptr, size_t count,
                         size_t bytes)
{
    uint8_t *pc = lift(c, count_ptr, 4), *pb = lift(c, bytes_ptr, 4);
    if (!pc || !pb)
        return WA_WASI_EFAULT;
    put_u32(pc, (uint32_t)count);
    put_u32(pb, (uint32_t)bytes);
    return WA_WASI_ESUCCESS;
}

/* Writes `count` pointers at ptrs_ptr and the NUL-terminated strings from buf_ptr on. */
static int32_t strings_get(wa_instance_t *c, uint32_t ptrs_ptr, uint32_t buf_ptr, char **strs,
                           size_t count, size_t bytes)
{
    uint8_t *ptrs = lift(c, ptrs_ptr, (uint64_t)count * 4);
    uint8_t *buf = lift(c, buf_ptr, bytes);
    if (!ptrs || !buf)
        return WA_WASI_EFAULT;
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(strs[i]) + 1;
        put_u32(ptrs + 4 * i, buf_ptr + (uint32_t)off);
        memcpy(buf + off, strs[i], n);
        off += n;
    }
    return WA_WASI_ESUCCESS;
}

static wa_trap_kind_t args_sizes_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    wa_wasi_t *w = u;
    return ret(r, sizes_get(c, u32_arg(a, 0), u32_arg(a, 1), w->argc, w->argv_bytes));
}

static wa_trap_kind_t args_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    wa_wasi_t *w = u;
    return ret(r, strings_get(c, u32_arg(a, 0), u32_arg(a, 1), w->argv, w->argc, w->argv_bytes));
}

static wa_trap_kind_t environ_sizes_get(wa_instance_t *c, void *u, const wa_value_t *a,
                                        wa_value_t *r)
{
    wa_wasi_t *w = u;
    return ret(r, sizes_get(c, u32_arg(a, 0), u32_arg(a, 1), w->envc, w->env_bytes));
}

static wa_trap_kind_t environ_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    wa_wasi_t *w = u;
    return ret(r, strings_get(c, u32_arg(a, 0), u32_arg(a, 1), w->env, w->envc, w->env_bytes));
}

/* ---- clocks, randomness, scheduling -------------------------------------------------------- */

static int host_clock(uint32_t id, clockid_t *out)
{
    switch (id) {
    case 0: *out = CLOCK_REALTIME; return 0;
    case 1: *out = CLOCK_MONOTONIC; return 0;
    case 2: *out = CLOCK_PROCESS_CPUTIME_ID; return 0;
    case 3: *out = CLOCK_THREAD_CPUTIME_ID; return 0;
    default: return -1;
    }
}

static uint64_t ts_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static wa_trap_kind_t clock_res_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)u;
    clockid_t id;
    struct timespec ts;
    if (host_clock(u32_arg(a, 0), &id) != 0)
        return ret(r, WA_WASI_EINVAL);
    uint8_t *out = lift(c, u32_arg(a, 1), 8);
    if (!out)
        return ret(r, WA_WASI_EFAULT);
    if (clock_getres(id, &ts) != 0)
        return ret(r, from_host_errno(errno));
    put_u64(out, ts_ns(&ts));
    return ret(r, WA_WASI_ESUCCESS);
}

static wa_trap_kind_t clock_time_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)u; /* a[1] is the precision the guest would accept; the host clock is finer */
    clockid_t id;
    struct timespec ts;
    if (host_clock(u32_arg(a, 0), &id) != 0)
        return ret(r, WA_WASI_EINVAL);
    uint8_t *out = lift(c, u32_arg(a, 2), 8);
    if (!out)
        return ret(r, WA_WASI_EFAULT);
    if (clock_gettime(id, &ts) != 0)
        return ret(r, from_host_errno(errno));
    put_u64(out, ts_ns(&ts));
    return ret(r, WA_WASI_ESUCCESS);
}

static wa_trap_kind_t random_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)u;
    uint32_t len = u32_arg(a, 1);
    uint8_t *buf = lift(c, u32_arg(a, 0), len);
    if (!buf)
        return ret(r, WA_WASI_EFAULT);
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ret(r, from_host_errno(errno));
        }
        done += (size_t)n;
    }
    return ret(r, WA_WASI_ESUCCESS);
}

static wa_trap_kind_t sched_yield_fn(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)c, (void)u, (void)a;
    sched_yield();
    return ret(r, WA_WASI_ESUCCESS);
}

/* proc_exit ends the running call with a trap that carries the status: the embedder decides
 * what exiting means (the CLI exits the process, a proxy only ends the VM). */
static wa_trap_kind_t proc_exit(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)u, (void)r;
    int32_t code = a[0].i32;
    return wa_trap_set(c, WA_TRAP_EXIT, code, "proc_exit(%d)", (int)code);
}

/* ---- fds ----------------------------------------------------------------------------------- */

/* iovec arrays: 8 bytes each, {u32 buf, u32 len}. */
static wa_trap_kind_t fd_write(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    wa_wasi_t *w = u;
    uint32_t fd = u32_arg(a, 0), niov = u32_arg(a, 2);
    guest_fd_t *g = get_fd(w, fd);
    if (!g)
        return ret(r, WA_WASI_EBADF);
    const uint8_t *iov = lift(c, u32_arg(a, 1), (uint64_t)niov * 8);
    uint8_t *nwritten = lift(c, u32_arg(a, 3), 4);
    if (!iov || !nwritten)
        return ret(r, WA_WASI_EFAULT);
    /* Check every buffer first so that a bad one writes nothing. */
    for (uint32_t i = 0; i < niov; i++)
        if (!lift(c, get_u32(iov + 8 * i), get_u32(iov + 8 * i + 4)))
            return ret(r, WA_WASI_EFAULT);
    uint64_t total = 0;
    for (uint32_t i = 0; i < niov; i++) {
        uint32_t len = get_u32(iov + 8 * i + 4);
        const uint8_t *buf = lift(c, get_u32(iov + 8 * i), len);
        uint32_t off = 0;
        while (off < len) {
            long n = uses_cb(w, fd) ? w->write_cb(w->write_user, (int)fd, buf + off, len - off)
                                    : (long)write(g->host_fd, buf + off, len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                if (total > 0)
                    goto done; /* report the bytes that did go out */
                return ret(r, n < 0 ? from_host_errno(errno) : WA_WASI_EIO);
            }
            off += (uint32_t)n;
            total += (uint64_t)n;
        }
    }
done:
    put_u32(nwritten, (uint32_t)total);
    return ret(r, WA_WASI_ESUCCESS);
}

static wa_trap_kind_t fd_read(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    wa_wasi_t *w = u;
    uint32_t fd = u32_arg(a, 0), niov = u32_arg(a, 2);
    guest_fd_t *g = get_fd(w, fd);
    if (!g)
        return ret(r, WA_WASI_EBADF);
    if (uses_cb(w, fd))
        return ret(r, WA_WASI_EBADF); /* a write-only sink */
    const uint8_t *iov = lift(c, u32_arg(a, 1), (uint64_t)niov * 8);
    uint8_t *nread = lift(c, u32_arg(a, 3), 4);
    if (!iov || !nread)
        return ret(r, WA_WASI_EFAULT);
    uint64_t total = 0;
    for (uint32_t i = 0; i < niov; i++) {
        uint32_t len = get_u32(iov + 8 * i + 4);
        uint8_t *buf = lift(c, get_u32(iov + 8 * i), len);
        if (!buf)
            return ret(r, WA_WASI_EFAULT);
        if (len == 0)
            continue;
        ssize_t n;
        do
            n = read(g->host_fd, buf, len);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (total > 0)
                break;
            return ret(r, from_host_errno(errno));
        }
        total += (uint64_t)n;
        if ((uint32_t)n < len)
            break; /* like readv: a short read ends the call rather than blocking again */
    }
    put_u32(nread, (uint32_t)total);
    return ret(r, WA_WASI_ESUCCESS);
}

static wa_trap_kind_t fd_close(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)c;
    wa_wasi_t *w = u;
    guest_fd_t *g = get_fd(w, u32_arg(a, 0));
    if (!g)
        return ret(r, WA_WASI_EBADF);
    g->open = false; /* the host fd is borrowed and stays open for the embedder */
    return ret(r, WA_WASI_ESUCCESS);
}

static int32_t do_seek(wa_wasi_t *w, wa_instance_t *c, uint32_t fd, int64_t off, int whence,
                       uint32_t out_ptr)
{
    guest_fd_t *g = get_fd(w, fd);
    if (!g)
        return WA_WASI_EBADF;
    if (whence < 0)
        return WA_WASI_EINVAL;
    uint8_t *out = lift(c, out_ptr, 8);
    if (!out)
        return WA_WASI_EFAULT;
    if (uses_cb(w, fd))
        return WA_WASI_ESPIPE;
    off_t pos = lseek(g->host_fd, (off_t)off, whence);
    if (pos < 0)
        return from_host_errno(errno);
    put_u64(out, (uint64_t)pos);
    return WA_WASI_ESUCCESS;
}

static int preview1_whence(uint32_t w)
{
    return w == 0 ? SEEK_SET : w == 1 ? SEEK_CUR : w == 2 ? SEEK_END : -1;
}

/* wasi_unstable numbered its whence values cur, end, set. */
static int unstable_whence(uint32_t w)
{
    return w == 0 ? SEEK_CUR : w == 1 ? SEEK_END : w == 2 ? SEEK_SET : -1;
}

static wa_trap_kind_t fd_seek(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    return ret(r, do_seek(u, c, u32_arg(a, 0), a[1].i64, preview1_whence(u32_arg(a, 2)),
                          u32_arg(a, 3)));
}

static wa_trap_kind_t fd_seek_unstable(wa_instance_t *c, void *u, const wa_value_t *a,
                                       wa_value_t *r)
{
    return ret(r, do_seek(u, c, u32_arg(a, 0), a[1].i64, unstable_whence(u32_arg(a, 2)),
                          u32_arg(a, 3)));
}

static wa_trap_kind_t fd_tell(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    return ret(r, do_seek(u, c, u32_arg(a, 0), 0, SEEK_CUR, u32_arg(a, 1)));
}

/* fdstat: u8 filetype @0, u16 flags @2, u64 rights_base @8, u64 rights_inheriting @16. */
static wa_trap_kind_t fd_fdstat_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    wa_wasi_t *w = u;
    uint32_t fd = u32_arg(a, 0);
    guest_fd_t *g = get_fd(w, fd);
    if (!g)
        return ret(r, WA_WASI_EBADF);
    uint8_t *out = lift(c, u32_arg(a, 1), 24);
    if (!out)
        return ret(r, WA_WASI_EFAULT);
    uint8_t type = FT_CHAR; /* a callback sink behaves like a terminal: no seek */
    uint16_t flags = 0;
    uint64_t rights = RIGHT_POLL_FD_READWRITE | RIGHT_FD_FILESTAT_GET |
                      (fd == 0 ? RIGHT_FD_READ : RIGHT_FD_WRITE);
    if (!uses_cb(w, fd)) {
        struct stat st;
        if (fstat(g->host_fd, &st) != 0)
            return ret(r, from_host_errno(errno));
        type = S_ISCHR(st.st_mode)    ? FT_CHAR
               : S_ISREG(st.st_mode)  ? FT_REGULAR
               : S_ISDIR(st.st_mode)  ? FT_DIR
               : S_ISSOCK(st.st_mode) ? FT_SOCKET_STREAM
                                      : FT_UNKNOWN;
        int fl = fcntl(g->host_fd, F_GETFL);
        if (fl >= 0) {
            flags = (uint16_t)((fl & O_APPEND ? FDFLAG_APPEND : 0) |
                               (fl & O_NONBLOCK ? FDFLAG_NONBLOCK : 0));
            int acc = fl & O_ACCMODE;
            rights &= ~(RIGHT_FD_READ | RIGHT_FD_WRITE);
            rights |= (acc == O_RDONLY || acc == O_RDWR ? RIGHT_FD_READ : 0) |
                      (acc == O_WRONLY || acc == O_RDWR ? RIGHT_FD_WRITE : 0);
        }
        /* wasi-libc's isatty() wants a character device without seek/tell rights. */
        if (type == FT_REGULAR)
            rights |= RIGHT_FD_SEEK | RIGHT_FD_TELL;
    }
    memset(out, 0, 24);
    out[0] = type;
    put_u16(out + 2, flags);
    put_u64(out + 8, rights);
    put_u64(out + 16, 0);
    return ret(r, WA_WASI_ESUCCESS);
}

/* No directories are preopened: libc asks fd 3, 4, ... until EBADF. */
static wa_trap_kind_t fd_prestat_get(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)c, (void)u, (void)a;
    return ret(r, WA_WASI_EBADF);
}

/* ---- poll_oneoff --------------------------------------------------------------------------- */

typedef struct sub_layout {
    uint32_t size;      /* bytes per subscription */
    uint32_t clock_id;  /* offsets of the clock fields in a subscription */
    uint32_t timeout;
    uint32_t flags;
} sub_layout_t;

/* preview1: userdata @0, tag @8, clock {id u32, timeout u64, precision u64, flags u16} @16. */
static const sub_layout_t preview1_subs = {48, 16, 24, 40};
/* wasi_unstable's clock subscription starts with a u64 identifier. */
static const sub_layout_t unstable_subs = {56, 24, 32, 48};

static void put_event(uint8_t *ev, uint64_t userdata, uint16_t error, uint8_t type,
                      uint64_t nbytes, uint16_t rwflags)
{
    memset(ev, 0, EVENT_BYTES);
    put_u64(ev, userdata);
    put_u16(ev + 8, error);
    ev[10] = type;
    put_u64(ev + 16, nbytes);
    put_u16(ev + 24, rwflags);
}

/* Sleeps until the earliest clock subscription is due or an fd subscription is ready, then
 * reports every subscription that is. */
static int32_t do_poll(wa_wasi_t *w, wa_instance_t *c, const wa_value_t *a, const sub_layout_t *L)
{
    uint32_t nsubs = u32_arg(a, 2);
    if (nsubs == 0 || nsubs > MAX_POLL_SUBS)
        return WA_WASI_EINVAL;
    const uint8_t *subs = lift(c, u32_arg(a, 0), (uint64_t)nsubs * L->size);
    uint8_t *events = lift(c, u32_arg(a, 1), (uint64_t)nsubs * EVENT_BYTES);
    uint8_t *nevents_out = lift(c, u32_arg(a, 3), 4);
    if (!subs || !events || !nevents_out)
        return WA_WASI_EFAULT;
    struct pollfd pfds[MAX_POLL_SUBS];
    uint32_t pfd_sub[MAX_POLL_SUBS];
    uint32_t npfd = 0, nev = 0;
    int64_t wait_ns = -1; /* -1: no clock, wait for fds only */
    uint64_t mono_start = wa_now_ns();
    for (uint32_t i = 0; i < nsubs; i++) {
        const uint8_t *s = subs + (size_t)i * L->size;
        uint64_t ud = get_u64(s);
        uint8_t tag = s[8];
        if (tag == EV_CLOCK) {
            clockid_t id;
            if (host_clock(get_u32(s + L->clock_id), &id) != 0) {
                put_event(events + EVENT_BYTES * nev++, ud, WA_WASI_EINVAL, EV_CLOCK, 0, 0);
                continue;
            }
            uint64_t t = get_u64(s + L->timeout);
            uint16_t fl = (uint16_t)(s[L->flags] | s[L->flags + 1] << 8);
            int64_t rel = (int64_t)(t > INT64_MAX ? INT64_MAX : t);
            if (fl & SUBCLOCK_ABSTIME) {
                struct timespec now;
                clock_gettime(id, &now);
                rel = t > ts_ns(&now) ? (int64_t)(t - ts_ns(&now)) : 0;
            }
            if (wait_ns < 0 || rel < wait_ns)
                wait_ns = rel;
        } else if (tag == EV_FD_READ || tag == EV_FD_WRITE) {
            uint32_t fd = get_u32(s + 16);
            guest_fd_t *g = get_fd(w, fd);
            if (!g) {
                put_event(events + EVENT_BYTES * nev++, ud, WA_WASI_EBADF, tag, 0, 0);
            } else if (uses_cb(w, fd)) {
                put_event(events + EVENT_BYTES * nev++, ud,
                          tag == EV_FD_WRITE ? WA_WASI_ESUCCESS : WA_WASI_EBADF, tag, 0, 0);
            } else {
                pfds[npfd] = (struct pollfd){.fd = g->host_fd,
                                             .events = tag == EV_FD_READ ? POLLIN : POLLOUT};
                pfd_sub[npfd++] = i;
            }
        } else {
            put_event(events + EVENT_BYTES * nev++, ud, WA_WASI_EINVAL, tag, 0, 0);
        }
    }
    if (nev > 0)
        wait_ns = 0; /* something to report already: only look, do not wait */
    for (;;) {
        struct timespec ts, *tsp = NULL;
        int64_t left = -1;
        if (wait_ns >= 0) {
            int64_t spent = (int64_t)(wa_now_ns() - mono_start);
            left = wait_ns > spent ? wait_ns - spent : 0;
            ts.tv_sec = left / 1000000000;
            ts.tv_nsec = left % 1000000000;
            tsp = &ts;
        }
        int n = ppoll(pfds, npfd, tsp, NULL);
        if (n < 0 && errno != EINTR)
            return from_host_errno(errno);
        for (uint32_t k = 0; n > 0 && k < npfd; k++) {
            if (!pfds[k].revents)
                continue;
            const uint8_t *s = subs + (size_t)pfd_sub[k] * L->size;
            uint16_t err = (pfds[k].revents & POLLNVAL) ? WA_WASI_EBADF : 0;
            put_event(events + EVENT_BYTES * nev++, get_u64(s), err, s[8], 0,
                      (pfds[k].revents & POLLHUP) ? 1 : 0);
        }
        int64_t spent = (int64_t)(wa_now_ns() - mono_start);
        if (wait_ns >= 0 && spent >= wait_ns) {
            /* Every clock due by now fires (all relative to the same start). */
            for (uint32_t i = 0; i < nsubs; i++) {
                const uint8_t *s = subs + (size_t)i * L->size;
                clockid_t id;
                if (s[8] != EV_CLOCK || host_clock(get_u32(s + L->clock_id), &id) != 0)
                    continue;
                uint64_t t = get_u64(s + L->timeout);
                uint16_t fl = (uint16_t)(s[L->flags] | s[L->flags + 1] << 8);
                bool due;
                if (fl & SUBCLOCK_ABSTIME) {
                    struct timespec now;
                    clock_gettime(id, &now);
                    due = ts_ns(&now) >= t;
                } else {
                    due = (uint64_t)spent >= t;
                }
                if (due)
                    put_event(events + EVENT_BYTES * nev++, get_u64(s), 0, EV_CLOCK, 0, 0);
            }
        }
        if (nev > 0 || (wait_ns >= 0 && spent >= wait_ns))
            break;
    }
    put_u32(nevents_out, nev);
    return WA_WASI_ESUCCESS;
}

static wa_trap_kind_t poll_oneoff(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    return ret(r, do_poll(u, c, a, &preview1_subs));
}

static wa_trap_kind_t poll_oneoff_unstable(wa_instance_t *c, void *u, const wa_value_t *a,
                                           wa_value_t *r)
{
    return ret(r, do_poll(u, c, a, &unstable_subs));
}

/* A function that answers one errno whatever it is asked. */
#define ANSWER(fn, errno_value)                                                                  \
    static wa_trap_kind_t fn(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)     \
    {                                                                                            \
        (void)c, (void)u, (void)a;                                                               \
        return ret(r, errno_value);                                                              \
    }

/* Defined so modules importing it link; this layer has no filesystem, sockets or signals. */
ANSWER(nosys, WA_WASI_ENOSYS)

/* ---- sandbox ------------------------------------------------------------------------------- */

/* A sandbox's answers follow what Proxy-Wasm hosts give plugins: fds 1 and 2 exist (as
 * sinks), nothing else does, and no call waits for anything. */

static bool is_out(uint32_t fd)
{
    return fd == 1 || fd == 2;
}

/* Room for n gathered bytes (n <= line_max); false leaves the buffer as it was. */
static __attribute__((noinline, cold)) bool line_room(wa_wasi_t *w, size_t n)
{
    if (n <= w->line_cap)
        return true;
    size_t cap = w->line_cap ? w->line_cap : 256;
    while (cap < n)
        cap *= 2;
    if (cap > w->line_max)
        cap = w->line_max;
    uint8_t *p = realloc(w->line, cap);
    if (!p)
        return false;
    w->line = p;
    w->line_cap = cap;
    return true;
}

/* Appends up to len bytes of src to the record gathered in w->line (at most line_max in all),
 * growing the buffer if it must; returns the record's new length. Forced inline (and the
 * growth kept out of line) so that a write of several buffers costs no call per buffer. */
static inline __attribute__((always_inline)) size_t gather(wa_wasi_t *w, size_t off,
                                                            const uint8_t *src, size_t len)
{
    size_t take = len < w->line_max - off ? len : w->line_max - off;
    if (off + take > w->line_cap && !line_room(w, off + take))
        take = w->line_cap - off; /* out of memory: a shorter record */
    memcpy(w->line + off, src, take);
    return off + take;
}

/* One record per call. A single non-empty buffer reaches the sink straight from guest memory;
 * several are gathered into w->line, which only grows (to line_max at most), so a write
 * allocates nothing once it has grown. Out of memory shortens the record rather than failing
 * the write. The guest is told every byte was written. */
static int32_t sb_write(wa_wasi_t *w, wa_instance_t *c, uint32_t fd, uint32_t iovs_ptr,
                        uint32_t niov, uint32_t nwritten_ptr)
{
    if (!is_out(fd))
        return WA_WASI_EBADF;
    guest_mem_t g = guest_mem(c);
    const uint8_t *iov = view(&g, iovs_ptr, (uint64_t)niov * 8);
    if (!iov || !view(&g, nwritten_ptr, 4))
        return WA_WASI_EFAULT;
    uint64_t total = 0;
    const uint8_t *first = NULL; /* the first non-empty buffer, in guest memory */
    size_t first_len = 0, off = 0;
    bool gathered = false;
    for (uint32_t i = 0; i < niov; i++) {
        uint32_t len = get_u32(iov + 8 * i + 4);
        const uint8_t *b = view(&g, get_u32(iov + 8 * i), len);
        if (!b)
            return WA_WASI_EFAULT; /* the sink has seen nothing yet */
        total += len;
        if (len == 0)
            continue;
        if (!first) {
            first = b;
            first_len = len;
            continue;
        }
        if (!gathered) {
            off = gather(w, 0, first, first_len);
            gathered = true;
        }
        off = gather(w, off, b, len);
    }
    const uint8_t *rec = gathered ? w->line : first ? first : (const uint8_t *)"";
    size_t keep = gathered ? off : first_len < w->line_max ? first_len : w->line_max;
    if (keep && rec[keep - 1] == '\n')
        keep--;
    if (w->line_cb)
        w->line_cb(w->line_user, (int)fd, rec, keep);
    /* Still in range: the sink may not call into the guest, so memory has not moved. */
    put_u32(view(&g, nwritten_ptr, 4), (uint32_t)total);
    return WA_WASI_ESUCCESS;
}

static wa_trap_kind_t sb_fd_write(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    return ret(r, sb_write(u, c, u32_arg(a, 0), u32_arg(a, 1), u32_arg(a, 2), u32_arg(a, 3)));
}

/* The offset (a[3]) means nothing to a sink. */
static wa_trap_kind_t sb_fd_pwrite(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    return ret(r, sb_write(u, c, u32_arg(a, 0), u32_arg(a, 1), u32_arg(a, 2), u32_arg(a, 4)));
}

ANSWER(sb_success, WA_WASI_ESUCCESS)
ANSWER(sb_badf, WA_WASI_EBADF)
ANSWER(sb_notsup, WA_WASI_ENOTSUP)
ANSWER(sb_noent, WA_WASI_ENOENT) /* no file exists, so opening one finds nothing */

/* Sync, sizes, times, rights, allocation: nothing to do for a sink; other fds do not exist. */
static wa_trap_kind_t sb_out_ok(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)c, (void)u;
    return ret(r, is_out(u32_arg(a, 0)) ? WA_WASI_ESUCCESS : WA_WASI_EBADF);
}

static wa_trap_kind_t sb_fd_seek(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)c, (void)u;
    return ret(r, u32_arg(a, 0) < NSTDIO ? WA_WASI_ESPIPE : WA_WASI_EBADF);
}

/* A sink is always at offset 0. */
static wa_trap_kind_t sb_fd_tell(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)u;
    if (!is_out(u32_arg(a, 0)))
        return ret(r, WA_WASI_EBADF);
    uint8_t *out = lift(c, u32_arg(a, 1), 8);
    if (!out)
        return ret(r, WA_WASI_EFAULT);
    put_u64(out, 0);
    return ret(r, WA_WASI_ESUCCESS);
}

/* Filetype unknown, no flags, write right only (the Go runtime asks at start-up). */
static wa_trap_kind_t sb_fd_fdstat_get(wa_instance_t *c, void *u, const wa_value_t *a,
                                       wa_value_t *r)
{
    (void)u;
    if (!is_out(u32_arg(a, 0)))
        return ret(r, WA_WASI_EBADF);
    uint8_t *out = lift(c, u32_arg(a, 1), 24);
    if (!out)
        return ret(r, WA_WASI_EFAULT);
    memset(out, 0, 24);
    put_u64(out + 8, RIGHT_FD_WRITE);
    return ret(r, WA_WASI_ESUCCESS);
}

static wa_trap_kind_t sb_fd_renumber(wa_instance_t *c, void *u, const wa_value_t *a,
                                     wa_value_t *r)
{
    (void)c, (void)u;
    return ret(r, is_out(u32_arg(a, 0)) ? WA_WASI_ENOTSUP : WA_WASI_EBADF);
}

/* Writes 0 to the u32 at a[i] (a "bytes used" result), then answers e. */
static wa_trap_kind_t zero_then(wa_instance_t *c, const wa_value_t *a, int i, int32_t e,
                                wa_value_t *r)
{
    uint8_t *out = lift(c, u32_arg(a, i), 4);
    if (!out)
        return ret(r, WA_WASI_EFAULT);
    put_u32(out, 0);
    return ret(r, e);
}

static wa_trap_kind_t sb_fd_readdir(wa_instance_t *c, void *u, const wa_value_t *a,
                                    wa_value_t *r)
{
    (void)u;
    return zero_then(c, a, 4, WA_WASI_ENOTDIR, r);
}

static wa_trap_kind_t sb_path_readlink(wa_instance_t *c, void *u, const wa_value_t *a,
                                       wa_value_t *r)
{
    (void)u;
    return zero_then(c, a, 5, WA_WASI_ENOTSUP, r);
}

static wa_trap_kind_t sb_sock_send(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)u;
    return zero_then(c, a, 4, WA_WASI_ENOTSUP, r);
}

/* Zero bytes received, zero flags. */
static wa_trap_kind_t sb_sock_recv(wa_instance_t *c, void *u, const wa_value_t *a, wa_value_t *r)
{
    (void)u;
    uint8_t *flags = lift(c, u32_arg(a, 5), 2);
    if (!flags || !lift(c, u32_arg(a, 4), 4))
        return ret(r, WA_WASI_EFAULT);
    put_u16(flags, 0);
    return zero_then(c, a, 4, WA_WASI_ENOTSUP, r);
}

/* Wall and monotonic time only: the CPU-time clocks would describe the whole server. */
static wa_trap_kind_t sb_clock_time_get(wa_instance_t *c, void *u, const wa_value_t *a,
                                        wa_value_t *r)
{
    if (u32_arg(a, 0) > 1)
        return ret(r, WA_WASI_ENOTSUP);
    return clock_time_get(c, u, a, r);
}

static wa_trap_kind_t sb_clock_res_get(wa_instance_t *c, void *u, const wa_value_t *a,
                                       wa_value_t *r)
{
    if (u32_arg(a, 0) > 1)
        return ret(r, WA_WASI_ENOTSUP);
    return clock_res_get(c, u, a, r);
}

static wa_trap_kind_t sb_random_get(wa_instance_t *c, void *u, const wa_value_t *a,
                                    wa_value_t *r)
{
    if (u32_arg(a, 1) > SANDBOX_RANDOM_MAX)
        return ret(r, WA_WASI_EINVAL);
    return random_get(c, u, a, r);
}

/* Never waits: no event is ready (the Go runtime needs success here, not an error). */
static wa_trap_kind_t sb_poll_oneoff(wa_instance_t *c, void *u, const wa_value_t *a,
                                     wa_value_t *r)
{
    (void)u;
    return zero_then(c, a, 3, WA_WASI_ESUCCESS, r);
}

/* ---- the import table ---------------------------------------------------------------------- */

#define I WA_I32
#define L WA_I64
#define MAX_WASI_PARAMS 9

/* Every function returns an errno (i32) except proc_exit, which returns nothing. */
typedef struct wasi_fn {
    const char *name;
    uint32_t nparams;
    wa_valtype_t params[MAX_WASI_PARAMS];
    wa_host_fn_t preview1;
    wa_host_fn_t unstable; /* NULL: same as preview1 */
    wa_host_fn_t sandbox;  /* under both module names in a sandbox; NULL: same as preview1 */
} wasi_fn_t;

static const wasi_fn_t wasi_fns[] = {
    {"args_get", 2, {I, I}, args_get, NULL, NULL},
    {"args_sizes_get", 2, {I, I}, args_sizes_get, NULL, NULL},
    {"environ_get", 2, {I, I}, environ_get, NULL, NULL},
    {"environ_sizes_get", 2, {I, I}, environ_sizes_get, NULL, NULL},
    {"clock_res_get", 2, {I, I}, clock_res_get, NULL, sb_clock_res_get},
    {"clock_time_get", 3, {I, L, I}, clock_time_get, NULL, sb_clock_time_get},
    {"fd_advise", 4, {I, L, L, I}, nosys, NULL, sb_success},
    {"fd_allocate", 3, {I, L, L}, nosys, NULL, sb_out_ok},
    {"fd_close", 1, {I}, fd_close, NULL, sb_success},
    {"fd_datasync", 1, {I}, nosys, NULL, sb_out_ok},
    {"fd_fdstat_get", 2, {I, I}, fd_fdstat_get, NULL, sb_fd_fdstat_get},
    {"fd_fdstat_set_flags", 2, {I, I}, nosys, NULL, NULL},
    {"fd_fdstat_set_rights", 3, {I, L, L}, nosys, NULL, sb_out_ok},
    {"fd_filestat_get", 2, {I, I}, nosys, NULL, sb_badf},
    {"fd_filestat_set_size", 2, {I, L}, nosys, NULL, sb_out_ok},
    {"fd_filestat_set_times", 4, {I, L, L, I}, nosys, NULL, sb_out_ok},
    {"fd_pread", 5, {I, I, I, L, I}, nosys, NULL, NULL},
    {"fd_prestat_get", 2, {I, I}, fd_prestat_get, NULL, NULL},
    {"fd_prestat_dir_name", 3, {I, I, I}, fd_prestat_get, NULL, nosys},
    {"fd_pwrite", 5, {I, I, I, L, I}, nosys, NULL, sb_fd_pwrite},
    {"fd_read", 4, {I, I, I, I}, fd_read, NULL, nosys},
    {"fd_readdir", 5, {I, I, I, L, I}, nosys, NULL, sb_fd_readdir},
    {"fd_renumber", 2, {I, I}, nosys, NULL, sb_fd_renumber},
    {"fd_seek", 4, {I, L, I, I}, fd_seek, fd_seek_unstable, sb_fd_seek},
    {"fd_sync", 1, {I}, nosys, NULL, sb_out_ok},
    {"fd_tell", 2, {I, I}, fd_tell, NULL, sb_fd_tell},
    {"fd_write", 4, {I, I, I, I}, fd_write, NULL, sb_fd_write},
    {"path_create_directory", 3, {I, I, I}, nosys, NULL, sb_notsup},
    {"path_filestat_get", 5, {I, I, I, I, I}, nosys, NULL, sb_notsup},
    {"path_filestat_set_times", 7, {I, I, I, I, L, L, I}, nosys, NULL, sb_notsup},
    {"path_link", 7, {I, I, I, I, I, I, I}, nosys, NULL, sb_notsup},
    {"path_open", 9, {I, I, I, I, I, L, L, I, I}, nosys, NULL, sb_noent},
    {"path_readlink", 6, {I, I, I, I, I, I}, nosys, NULL, sb_path_readlink},
    {"path_remove_directory", 3, {I, I, I}, nosys, NULL, sb_notsup},
    {"path_rename", 6, {I, I, I, I, I, I}, nosys, NULL, sb_notsup},
    {"path_symlink", 5, {I, I, I, I, I}, nosys, NULL, sb_notsup},
    {"path_unlink_file", 3, {I, I, I}, nosys, NULL, sb_notsup},
    {"poll_oneoff", 4, {I, I, I, I}, poll_oneoff, poll_oneoff_unstable, sb_poll_oneoff},
    {"proc_exit", 1, {I}, proc_exit, NULL, NULL},
    {"proc_raise", 1, {I}, nosys, NULL, NULL},
    {"sched_yield", 0, {I}, sched_yield_fn, NULL, sb_success},
    {"random_get", 2, {I, I}, random_get, NULL, sb_random_get},
    {"sock_accept", 3, {I, I, I}, nosys, NULL, sb_notsup},
    {"sock_recv", 6, {I, I, I, I, I, I}, nosys, NULL, sb_sock_recv},
    {"sock_send", 5, {I, I, I, I, I}, nosys, NULL, sb_sock_send},
    {"sock_shutdown", 2, {I, I}, nosys, NULL, sb_notsup},
};

#undef I
#undef L

static const wa_valtype_t i32_result[] = {WA_I32};

static wa_functype_t fn_type(const wasi_fn_t *f)
{
    bool is_exit = strcmp(f->name, "proc_exit") == 0;
    return (wa_functype_t){.nparams = f->nparams, .params = f->params,
                           .nresults = is_exit ? 0 : 1, .results = i32_result};
}

static wa_host_fn_t fn_for(const wa_wasi_t *w, const wasi_fn_t *f, bool unstable)
{
    if (w->sandbox && f->sandbox)
        return f->sandbox;
    return unstable && f->unstable ? f->unstable : f->preview1;
}

/* 1: preview1, 2: unstable, 0: not a WASI module name. */
static int module_kind(const char *module)
{
    if (strcmp(module, "wasi_snapshot_preview1") == 0)
        return 1;
    return strcmp(module, "wasi_unstable") == 0 ? 2 : 0;
}

static wa_status_t define_module(wa_wasi_t *w, wa_linker_t *l, const char *module, bool unstable)
{
    for (size_t i = 0; i < sizeof(wasi_fns) / sizeof(wasi_fns[0]); i++) {
        const wasi_fn_t *f = &wasi_fns[i];
        wa_functype_t ft = fn_type(f);
        wa_status_t s = wa_linker_define_func(l, module, f->name, &ft, fn_for(w, f, unstable), w);
        if (s != WA_OK)
            return s;
    }
    return WA_OK;
}

wa_status_t wa_wasi_define(wa_wasi_t *w, wa_linker_t *l)
{
    if (!w || !l)
        return WA_ERR_ARG;
    wa_status_t s = define_module(w, l, "wasi_snapshot_preview1", false);
    if (s == WA_OK)
        s = define_module(w, l, "wasi_unstable", true);
    return s;
}

/* Linear: embedders look names up when they link a module, never per call. */
bool wa_wasi_lookup(const wa_wasi_t *w, const char *module, const char *name,
                    wa_wasi_func_t *out)
{
    int kind = module && name ? module_kind(module) : 0;
    if (!kind)
        return false;
    for (size_t i = 0; i < sizeof(wasi_fns) / sizeof(wasi_fns[0]); i++) {
        const wasi_fn_t *f = &wasi_fns[i];
        if (strcmp(f->name, name) != 0)
            continue;
        if (out) {
            out->type = fn_type(f);
            out->fn = w ? fn_for(w, f, kind == 2) : NULL;
        }
        return true;
    }
    return false;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static char **copy_strings(const char *const *src, size_t n, size_t *bytes)
{
    char **dst = calloc(n ? n : 1, sizeof(*dst));
    if (!dst)
        return NULL;
    *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        dst[i] = strdup(src[i] ? src[i] : "");
        if (!dst[i]) {
            for (size_t k = 0; k < i; k++)
                free(dst[k]);
            free(dst);
            return NULL;
        }
        *bytes += strlen(dst[i]) + 1;
    }
    return dst;
}

static void free_strings(char **s, size_t n)
{
    if (!s)
        return;
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

wa_status_t wa_wasi_new(const wa_wasi_config_t *cfg, wa_wasi_t **out)
{
    *out = NULL;
    if (!cfg || (cfg->argc && !cfg->argv) || (cfg->envc && !cfg->env))
        return WA_ERR_ARG;
    wa_wasi_t *w = calloc(1, sizeof(*w));
    if (!w)
        return WA_ERR_NOMEM;
    w->argv = copy_strings(cfg->argv, cfg->argc, &w->argv_bytes);
    if (!w->argv)
        goto fail;
    w->argc = cfg->argc;
    w->env = copy_strings(cfg->env, cfg->envc, &w->env_bytes);
    if (!w->env)
        goto fail;
    w->envc = cfg->envc;
    w->sandbox = cfg->sandbox;
    if (w->sandbox) {
        /* No host fd at all: the functions a sandbox shares with the host-fd mode then find
         * every fd closed. */
        for (int i = 0; i < NSTDIO; i++)
            w->fds[i] = (guest_fd_t){.host_fd = -1, .open = false};
        w->line_cb = cfg->line_cb;
        w->line_user = cfg->line_user;
        w->line_max = cfg->line_max ? cfg->line_max : LINE_MAX_DEFAULT;
    } else {
        int host[NSTDIO] = {cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd};
        for (int i = 0; i < NSTDIO; i++) {
            w->fds[i].host_fd = host[i];
            w->fds[i].open = host[i] >= 0 || (cfg->write_cb && i > 0);
        }
        w->write_cb = cfg->write_cb;
        w->write_user = cfg->write_user;
    }
    *out = w;
    return WA_OK;
fail:
    wa_wasi_free(w);
    return WA_ERR_NOMEM;
}

void wa_wasi_free(wa_wasi_t *w)
{
    if (!w)
        return;
    free_strings(w->argv, w->argc);
    free_strings(w->env, w->envc);
    free(w->line);
    free(w);
}
