/* The strict HTTP/1.1 message parser (RFC 9112): a pure, incremental, zero-copy push parser
 * for requests and responses. Bytes in, one event out per call; no I/O and no allocation. */
#ifndef SLUICE_PROXY_SL_H1_PARSE_H
#define SLUICE_PROXY_SL_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header fields the parser can report per head or trailer section (the array is embedded
 * in the parser); sl_h1_parse_limits_t.max_headers is clamped to it. */
#define SL_H1_MAX_HEADERS 100

/* ---- slices ------------------------------------------------------------------------------
 * Every string in an event points into the buffer given to the call that produced it; it is
 * NOT NUL-ended and keeps its received case. */
typedef struct sl_h1_slice {
    const char *p; /* borrowed: the caller's buffer (NULL with len 0 when absent) */
    size_t len;
} sl_h1_slice_t;

/* One field line, trimmed of OWS. Same member layout as sl_header_t, but borrowed. */
typedef struct sl_h1_header {
    const char *name;  /* borrowed: the caller's buffer */
    const char *value; /* borrowed: the caller's buffer */
    uint32_t name_len;
    uint32_t value_len;
} sl_h1_header_t;

/* ---- errors ------------------------------------------------------------------------------
 * Each error carries the status a server answers a bad REQUEST with (a bad response from an
 * upstream is a 502 whatever the code says). X(name, http status, message). */
#define SL_H1_ERROR_LIST(X)                                                                        \
    X(SL_H1_OK, 0, "ok")                                                                           \
    X(SL_H1_E_BARE_LF, 400, "line ends in LF without CR")                                          \
    X(SL_H1_E_BARE_CR, 400, "CR not followed by LF")                                               \
    X(SL_H1_E_METHOD, 400, "invalid method")                                                       \
    X(SL_H1_E_TARGET, 400, "invalid request target")                                               \
    X(SL_H1_E_VERSION, 400, "invalid HTTP version")                                                \
    X(SL_H1_E_VERSION_UNSUPPORTED, 505, "HTTP version not supported")                              \
    X(SL_H1_E_STATUS, 400, "invalid status line")                                                  \
    X(SL_H1_E_HEADER_NAME, 400, "invalid header field name")                                       \
    X(SL_H1_E_HEADER_SPACE, 400, "whitespace between header name and colon")                       \
    X(SL_H1_E_HEADER_NO_COLON, 400, "header line without colon")                                   \
    X(SL_H1_E_HEADER_VALUE, 400, "invalid character in header value")                              \
    X(SL_H1_E_OBS_FOLD, 400, "obsolete line folding")                                              \
    X(SL_H1_E_HEAD_TOO_LARGE, 431, "header section too large")                                     \
    X(SL_H1_E_TOO_MANY_HEADERS, 431, "too many header fields")                                     \
    X(SL_H1_E_HOST, 400, "missing or repeated Host header")                                        \
    X(SL_H1_E_CONTENT_LENGTH, 400, "invalid Content-Length")                                       \
    X(SL_H1_E_CONTENT_LENGTH_DIFFERS, 400, "differing Content-Length values")                      \
    X(SL_H1_E_CL_AND_TE, 400, "both Content-Length and Transfer-Encoding")                         \
    X(SL_H1_E_TE_NOT_CHUNKED, 400, "chunked is not the final coding or is repeated")               \
    X(SL_H1_E_TE_UNSUPPORTED, 501, "unsupported transfer coding")                                  \
    X(SL_H1_E_TE_HTTP10, 400, "Transfer-Encoding in an HTTP/1.0 message")                          \
    X(SL_H1_E_CHUNK_SIZE, 400, "invalid chunk size")                                               \
    X(SL_H1_E_CHUNK_EXT, 400, "invalid or oversized chunk extension")                              \
    X(SL_H1_E_CHUNK_DATA_CRLF, 400, "chunk data not followed by CRLF")                             \
    X(SL_H1_E_TRAILERS_TOO_LARGE, 431, "trailer section too large")                                \
    X(SL_H1_E_TRUNCATED, 400, "connection closed inside a message")                                \
    X(SL_H1_E_STATE, 500, "parser used after an error")

typedef enum {
#define SL_H1_X_(name, status, msg) name,
    SL_H1_ERROR_LIST(SL_H1_X_)
#undef SL_H1_X_
} sl_h1_error_t;

/* The constant message of an error ("unknown error" outside the list). */
const char *sl_h1_error_str(sl_h1_error_t e);
/* The status a server replies to a request failing with `e` (400, 431, 501, 505; 0 for OK). */
int sl_h1_error_status(sl_h1_error_t e);

/* ---- configuration ------------------------------------------------------------------------ */
typedef enum { SL_H1_REQUEST = 0, SL_H1_RESPONSE = 1 } sl_h1_kind_t;

typedef struct sl_h1_parse_limits {
    uint32_t max_head_bytes;      /* start line + fields + final CRLF; 431 above (0: 60 KiB) */
    uint32_t max_headers;         /* field lines per section; 431 above (0 or above the cap:
                                   * SL_H1_MAX_HEADERS) */
    uint32_t max_chunk_ext_bytes; /* bytes after the chunk size on its line; 400 above (0: 256) */
    uint32_t max_trailer_bytes;   /* trailer section; 431 above (0: max_head_bytes) */
} sl_h1_parse_limits_t;

/* How the body of the message just reported is delimited (RFC 9112 6.3). */
typedef enum {
    SL_H1_BODY_NONE = 0,    /* no body: request without length, HEAD/1xx/204/304 response */
    SL_H1_BODY_LENGTH,      /* Content-Length bytes */
    SL_H1_BODY_CHUNKED,     /* chunked, possibly with trailers */
    SL_H1_BODY_UNTIL_CLOSE, /* response read until the connection closes */
    SL_H1_BODY_TUNNEL,      /* 101 or 2xx to CONNECT: every later byte is opaque data */
} sl_h1_framing_t;

/* ---- events ------------------------------------------------------------------------------- */
typedef enum {
    SL_H1_EV_NEED_MORE = 0,    /* every byte given was consumed or must be given again */
    SL_H1_EV_HEADERS,          /* a complete head: start line and fields */
    SL_H1_EV_BODY,             /* body bytes (de-chunked) in ev->data */
    SL_H1_EV_TRAILERS,         /* trailer fields (chunked only, at least one) */
    SL_H1_EV_MESSAGE_COMPLETE, /* the message ended; the parser is ready for the next one */
    SL_H1_EV_ERROR,            /* bad input: every later call returns the same error */
} sl_h1_event_type_t;

typedef struct sl_h1_event {
    sl_h1_event_type_t type;

    /* SL_H1_EV_HEADERS (requests: method, target; responses: status, reason) */
    int version;          /* 10 or 11 */
    sl_h1_slice_t method; /* borrowed */
    sl_h1_slice_t target; /* borrowed */
    int status;           /* 100..999 */
    sl_h1_slice_t reason; /* borrowed; may be empty */
    sl_h1_framing_t framing;
    int64_t content_length; /* SL_H1_BODY_LENGTH: the length; otherwise -1 */
    bool keep_alive;        /* version + Connection tokens (+ framing for responses) */
    bool expect_continue;   /* HTTP/1.1 request with "Expect: 100-continue" */
    bool upgrade;           /* an Upgrade field and "upgrade" among the Connection tokens */
    bool is_head;           /* request method is HEAD */
    bool is_connect;        /* request method is CONNECT */

    /* SL_H1_EV_HEADERS and SL_H1_EV_TRAILERS: fields in received order */
    const sl_h1_header_t *headers; /* borrowed: the parser's array, until the next call */
    uint32_t n_headers;

    /* SL_H1_EV_BODY */
    sl_h1_slice_t data; /* borrowed: the caller's buffer */

    /* SL_H1_EV_ERROR */
    sl_h1_error_t error;
    uint64_t error_offset; /* byte offset of the fault from the start of the message */
} sl_h1_event_t;

/* ---- the parser ---------------------------------------------------------------------------
 * Embedded in its owner (no allocation). All fields are private. */
typedef struct sl_h1_parser {
    sl_h1_kind_t kind;
    sl_h1_parse_limits_t lim;
    int state;
    sl_h1_error_t error; /* sticky after the first error */
    uint64_t error_offset;
    uint64_t msg_off;    /* bytes of the current message consumed before this call */
    uint32_t scanned;    /* head/trailers: bytes already checked for line ends */
    uint32_t line_start; /* head/trailers: offset of the line being scanned */
    uint32_t ext_len;    /* chunk extension bytes on the current size line */
    uint64_t remaining;  /* body bytes left in the message (length) or chunk */
    int status;          /* responses: status of the last head */
    bool req_head;       /* responses: the request was HEAD */
    bool req_connect;    /* responses: the request was CONNECT */
    bool size_digit;     /* chunk size line: a hex digit was seen */
    bool ext_semi;       /* chunk size line: the extension's ';' was seen */
    sl_h1_header_t hdrs[SL_H1_MAX_HEADERS]; /* the last reported head or trailers */
} sl_h1_parser_t;

/* Prepares `p` to parse a stream of requests or responses; `lim` may be NULL (defaults). */
void sl_h1_parser_init(sl_h1_parser_t *p, sl_h1_kind_t kind, const sl_h1_parse_limits_t *lim);

/* Responses only: the method of the request the next response answers (HEAD and CONNECT
 * change its framing). Call it before the response's first byte; it holds through 1xx
 * interim responses and is cleared when the final response completes. */
void sl_h1_parser_set_request_method(sl_h1_parser_t *p, const char *method, size_t len);

/* Parses from buf[0..len) and reports ONE event in *ev; returns the bytes consumed (the
 * caller drops them and passes the rest first next time).
 * - Head and trailers are reported whole: until they are complete the call returns
 *   NEED_MORE having consumed nothing of them, and the caller must call again with the same
 *   unconsumed bytes at the front followed by more (bytes already scanned are not scanned
 *   again). The buffer must therefore hold up to max_head_bytes. On HEADERS/TRAILERS the
 *   consumed count covers the section, and its slices stay valid as long as the caller keeps
 *   those bytes (until it is done with the event).
 * - After HEADERS, keep calling (len may be 0) until NEED_MORE: a body-less message yields
 *   MESSAGE_COMPLETE without any new byte.
 * - Pipelined messages: after MESSAGE_COMPLETE the next call starts the next message.
 * - SL_H1_BODY_UNTIL_CLOSE bodies end with sl_h1_parser_finish.
 * Errors are sticky: ERROR with ev->error, never a partial guess. */
size_t sl_h1_parse(sl_h1_parser_t *p, const char *buf, size_t len, sl_h1_event_t *ev);

/* The peer closed its side. Reports MESSAGE_COMPLETE for a read-until-close body,
 * NEED_MORE when no message had started (a clean close), ERROR SL_H1_E_TRUNCATED otherwise.
 * `pending` is the count of unconsumed bytes the caller still holds (a partial head). */
void sl_h1_parser_finish(sl_h1_parser_t *p, size_t pending, sl_h1_event_t *ev);

/* Switches to tunnel mode (after a 101 or a 2xx to CONNECT seen on the other side): every
 * later byte is reported as BODY, never parsed. */
void sl_h1_parser_tunnel(sl_h1_parser_t *p);

/* True between HEADERS and MESSAGE_COMPLETE (a message body is in progress). */
bool sl_h1_parser_in_message(const sl_h1_parser_t *p);
/* The body just reported was the message's last byte: the next call reports its end
 * (MESSAGE_COMPLETE) without consuming input. */
bool sl_h1_parser_ends_next(const sl_h1_parser_t *p);

/* ---- helpers for field names and lists ------------------------------------------------------ */

/* Case-insensitive equality of a field name with `lower` (an all-lower-case literal). */
bool sl_h1_parse_name_eq(const char *name, size_t len, const char *lower, size_t lower_len);
#define SL_H1_NAME_EQ(name, len, lit) sl_h1_parse_name_eq((name), (len), lit, sizeof(lit) - 1)

/* Iterates a comma-separated list (RFC 9110 5.6.1): stores the next element, trimmed of
 * OWS, in *tok and advances *pos; empty elements are skipped. False at the end. */
bool sl_h1_parse_list_next(const char **pos, const char *end, sl_h1_slice_t *tok);

/* True when the list value contains `lower` as an element (case-insensitive). */
bool sl_h1_parse_list_has(const char *value, size_t len, const char *lower, size_t lower_len);

/* True for the fields that belong to one connection only (RFC 9110 7.6.1): Connection,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade. Fields named in a
 * Connection value are hop-by-hop too; check those with sl_h1_parse_list_has. */
bool sl_h1_parse_is_hop_by_hop(const char *name, size_t len);

#endif
