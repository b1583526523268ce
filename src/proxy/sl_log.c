/* Leveled, thread-safe line logging: each line is formatted on the stack and written with one
 * write(2), which the kernel keeps whole for pipes up to PIPE_BUF and for regular files. */
#include "proxy/sl_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = SL_LOG_INFO;
static _Atomic int log_fd = 2;
static _Thread_local char thread_name[16] = "main";

static const char *const level_names[] = {"trace", "debug", "info", "warning", "error",
                                          "critical", "off"};

bool sl_log_level_parse(const char *name, sl_log_level_t *out)
{
    if (!name)
        return false;
    for (int i = 0; i <= SL_LOG_OFF; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (sl_log_level_t)i;
            return true;
        }
    }
    if (strcasecmp(name, "warn") == 0) {
        *out = SL_LOG_WARN;
        return true;
    }
    return false;
}

const char *sl_log_level_name(sl_log_level_t level)
{
    if ((int)level < 0 || level > SL_LOG_OFF)
        return "unknown";
    return level_names[level];
}

void sl_log_set_level(sl_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

sl_log_level_t sl_log_get_level(void)
{
    return (sl_log_level_t)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void sl_log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

void sl_log_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof thread_name, "%s", name ? name : "");
}

void sl_log_write(sl_log_level_t level, const char *fmt, ...)
{
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "[%04d-%02d-%02d %02d:%02d:%02d.%03ld][%s][%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, thread_name, sl_log_level_name(level));
    if (n < 0)
        return;
    size_t len = (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof line - len - 1) {
        /* Cut: keep room for the marker and the newline. */
        len = sizeof line - 5;
        memcpy(line + len, "...", 3);
        len += 3;
    } else {
        len += (size_t)m;
    }
    line[len++] = '\n';
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    const char *p = line;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}
