/* Leveled logging for the proxy: one formatted line per call, written with a single write(2)
 * so lines from different threads never interleave; the level can change at run time. */
#ifndef SLUICE_PROXY_SL_LOG_H
#define SLUICE_PROXY_SL_LOG_H

#include <stdbool.h>

typedef enum {
    SL_LOG_TRACE = 0,
    SL_LOG_DEBUG = 1,
    SL_LOG_INFO = 2,
    SL_LOG_WARN = 3,
    SL_LOG_ERROR = 4,
    SL_LOG_CRITICAL = 5,
    SL_LOG_OFF = 6,
} sl_log_level_t;

/* "trace".."critical", "off" (Envoy's names; "warning" is accepted for warn). Returns false
 * and leaves *out alone when the name is unknown. */
bool sl_log_level_parse(const char *name, sl_log_level_t *out);
const char *sl_log_level_name(sl_log_level_t level);

/* Process-wide threshold; any thread may change or read it at any time (relaxed atomic). */
void sl_log_set_level(sl_log_level_t level);
sl_log_level_t sl_log_get_level(void);

/* Lines go to fd 2 by default; tests may redirect them to any descriptor. */
void sl_log_set_fd(int fd);

/* Name shown in each line written by the calling thread ("main", "worker 3"); the string is
 * copied (up to 15 bytes). */
void sl_log_set_thread_name(const char *name);

static inline bool sl_log_enabled(sl_log_level_t level)
{
    return level >= sl_log_get_level();
}

/* Writes "[2026-01-02 03:04:05.678][thread][level] message\n". Lines longer than 4 KiB are
 * cut (and end with "..."). Never allocates. */
void sl_log_write(sl_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The macros skip argument evaluation when the level is filtered out. */
#define SL_LOG(level, ...)                                                                   \
    do {                                                                                     \
        if (sl_log_enabled(level))                                                           \
            sl_log_write(level, __VA_ARGS__);                                                \
    } while (0)
#define SL_TRACE(...) SL_LOG(SL_LOG_TRACE, __VA_ARGS__)
#define SL_DEBUG(...) SL_LOG(SL_LOG_DEBUG, __VA_ARGS__)
#define SL_INFO(...) SL_LOG(SL_LOG_INFO, __VA_ARGS__)
#define SL_WARN(...) SL_LOG(SL_LOG_WARN, __VA_ARGS__)
#define SL_ERROR(...) SL_LOG(SL_LOG_ERROR, __VA_ARGS__)

#endif
