/* The proxy-wide status codes: every fallible sl_ function returns one (0 = SL_OK) and passes
 * its results out through pointers. One X-macro list generates the enum and sl_status_str. */
#ifndef SLUICE_PROXY_SL_STATUS_H
#define SLUICE_PROXY_SL_STATUS_H

#define SL_STATUS_LIST(X)                                                                    \
    X(SL_OK, "ok")                                                                           \
    X(SL_ERR_CONFIG, "invalid configuration")                                                \
    X(SL_ERR_NOMEM, "out of memory")                                                         \
    X(SL_ERR_IO, "i/o error")                                                                \
    X(SL_ERR_ARG, "bad argument")                                                            \
    X(SL_ERR_NOT_FOUND, "not found")                                                         \
    X(SL_ERR_LIMIT, "limit exceeded")                                                        \
    X(SL_ERR_PROTOCOL, "protocol error")                                                     \
    X(SL_ERR_TIMEOUT, "timed out")                                                           \
    X(SL_ERR_CLOSED, "connection closed")                                                    \
    X(SL_ERR_UPSTREAM, "upstream failure")                                                   \
    X(SL_ERR_UNAVAILABLE, "no healthy upstream")   /* every endpoint is in back-off */       \
    X(SL_ERR_OVERFLOW, "circuit breaker overflow") /* a threshold was reached */

typedef enum {
#define SL_X_(name, str) name,
    SL_STATUS_LIST(SL_X_)
#undef SL_X_
} sl_status_t;

/* A short constant English phrase for `s` ("unknown status" for values outside the list). */
const char *sl_status_str(sl_status_t s);

#endif
