/* HTTP/1.1 codec on a libuv stream: feeds read bytes to the strict parser, reports message
 * events, and writes heads and bodies (chunked or not) with write-queue watermarks. */
#include "proxy/sl_h1_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/sl_h1_parse.h"

#define READ_CHUNK 65536

/* Writes are gathered: while any codec callback runs on this thread (a read being processed,
 * a write completing), bytes queued on any codec stay in its wbuf and the codec joins the
 * thread's pending list; the outermost callback flushes the list on its way out. A proxied
 * response (head, body, end) thus leaves in one write, and a request in one write upstream,
 * whatever the number of calls that produced them. Outside callbacks (timers, pool
 * deliveries) writes go out at once. */
#define FLUSH_NOW_BYTES (256 * 1024)

struct sl_h1_wreq {
    uv_write_t req;
    sl_h1_conn_t *c;          /* borrowed; NULL once the codec is freed (detached) */
    sl_h1_wreq_t *prev, *next; /* in-flight list of the codec */
    sl_buf_t buf;             /* owned: the bytes being written; kept (cleared) for reuse */
};

struct sl_h1_conn {
    uv_stream_t *stream;      /* borrowed: the owner closes it */
    sl_h1_role_t role;
    sl_h1_limits_t lim;
    const sl_h1_cbs_t *cbs;   /* borrowed, static */
    void *ud;
    char *rbuf;               /* owned: bytes read and not yet consumed by the parser */
    size_t rlen, rcap;
    size_t roff;              /* while parsing: bytes of rbuf already consumed */
    unsigned pause;           /* SL_H1_PAUSE_* reasons */
    bool reading;             /* uv_read_start is active */
    bool want_read;           /* sl_h1_conn_start_reading was called */
    bool eof;                 /* the peer closed its side */
    bool failed;              /* an error was reported: no more events */
    bool dead;                /* freed while inside a callback: free on unwind */
    bool head_response;
    bool allow_tunnel;        /* client: a 101 to the request sent is expected */
    int depth;                /* callback nesting */
    size_t queued;            /* bytes handed to uv_write and not completed */
    bool above;
    sl_h1_wreq_t *wreqs;      /* in-flight writes */
    sl_h1_wreq_t *spare;      /* owned: a completed write request kept for the next write */
    sl_buf_t wbuf;            /* bytes being assembled for the next uv_write */
    sl_h1_conn_t *pend_prev, *pend_next; /* in the thread's pending-flush list */
    bool pend;                /* on that list */
    bool begun;               /* on_begin was reported for the message being read */
    sl_h1_parser_t parser;    /* embedded */
};

/* The thread's codec dispatch state (each worker thread runs one loop). */
static _Thread_local struct {
    int depth;               /* codec callbacks running on this thread */
    sl_h1_conn_t *pending;   /* borrowed: codecs with bytes in wbuf to flush */
} tl;

static void process(sl_h1_conn_t *c);
static void update_reading(sl_h1_conn_t *c);
static void report_error(sl_h1_conn_t *c, int status, const char *why);
static int flush(sl_h1_conn_t *c);

/* The parser's field lines and ours share one layout, so heads are passed without copying. */
_Static_assert(sizeof(sl_h1_header_t) == sizeof(sl_header_t), "header layout");
_Static_assert(offsetof(sl_h1_header_t, value) == offsetof(sl_header_t, value), "header layout");
_Static_assert(offsetof(sl_h1_header_t, name_len) == offsetof(sl_header_t, name_len),
               "header layout");
_Static_assert(offsetof(sl_h1_header_t, value_len) == offsetof(sl_header_t, value_len),
               "header layout");

/* ---- writing ---------------------------------------------------------------------------- */

static void pend_remove(sl_h1_conn_t *c)
{
    if (!c->pend)
        return;
    if (c->pend_prev)
        c->pend_prev->pend_next = c->pend_next;
    else
        tl.pending = c->pend_next;
    if (c->pend_next)
        c->pend_next->pend_prev = c->pend_prev;
    c->pend_prev = c->pend_next = NULL;
    c->pend = false;
}

static void dispatch_enter(void)
{
    tl.depth++;
}

/* Leaves a callback; the outermost one flushes every codec that gathered bytes. Flushing may
 * run watermark callbacks, which may queue more: the loop ends when the list is empty. */
static void dispatch_leave(void)
{
    if (tl.depth > 1) {
        tl.depth--;
        return;
    }
    for (unsigned guard = 0; tl.pending && guard < 1000000; guard++) {
        sl_h1_conn_t *c = tl.pending;
        pend_remove(c);
        c->depth++;
        flush(c);
        /* Written at once: no completion will say so, so say it here. */
        if (!c->dead && c->queued == 0 && c->wbuf.len == 0 && c->cbs->on_drained)
            c->cbs->on_drained(c->ud);
        c->depth--;
        if (c->dead && c->depth == 0)
            sl_h1_conn_free(c);
    }
    tl.depth--;
}

static void on_written(uv_write_t *req, int status)
{
    sl_h1_wreq_t *w = (sl_h1_wreq_t *)req;
    sl_h1_conn_t *c = w->c;
    if (!c) {
        sl_buf_dispose(&w->buf);
        free(w);
        return;
    }
    if (w->prev)
        w->prev->next = w->next;
    else
        c->wreqs = w->next;
    if (w->next)
        w->next->prev = w->prev;
    c->queued -= w->buf.len;
    sl_buf_clear(&w->buf);
    if (!c->spare && w->buf.cap <= FLUSH_NOW_BYTES) {
        c->spare = w;
    } else {
        sl_buf_dispose(&w->buf);
        free(w);
    }
    (void)status; /* a failed write shows up as a read error / EOF on the same socket */
    dispatch_enter();
    c->depth++;
    if (c->above && c->queued <= c->lim.low_watermark) {
        c->above = false;
        if (c->cbs->on_watermark && !c->dead)
            c->cbs->on_watermark(c->ud, false);
    }
    if (c->queued == 0 && c->wbuf.len == 0 && c->cbs->on_drained && !c->dead)
        c->cbs->on_drained(c->ud);
    c->depth--;
    if (c->dead && c->depth == 0)
        sl_h1_conn_free(c);
    dispatch_leave();
}

static int flush(sl_h1_conn_t *c)
{
    pend_remove(c);
    if (c->wbuf.len == 0)
        return 0;
    if (c->queued == 0) {
        /* Nothing in flight: write in place. A complete write needs no request, and no
         * completion, whose POLLOUT bookkeeping would cost libuv an epoll_ctl. */
        uv_buf_t b0 = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
        int n = uv_try_write(c->stream, &b0, 1);
        if (n == (int)c->wbuf.len) {
            sl_buf_clear(&c->wbuf);
            return 0;
        }
        if (n > 0) {
            sl_buf_drain(&c->wbuf, (size_t)n);
        } else if (n != UV_EAGAIN) {
            /* The socket failed: the read side reports it. */
            sl_buf_clear(&c->wbuf);
            return n;
        }
    }
    sl_h1_wreq_t *w = c->spare;
    if (w) {
        c->spare = NULL;
    } else {
        w = calloc(1, sizeof(*w));
        if (!w) {
            sl_buf_clear(&c->wbuf);
            return UV_ENOMEM;
        }
    }
    w->c = c;
    /* Swap buffers: the request takes the assembled bytes, the codec keeps the request's
     * empty capacity for the next head. */
    sl_buf_t t = w->buf;
    w->buf = c->wbuf;
    c->wbuf = t;
    sl_buf_clear(&c->wbuf);
    uv_buf_t b = uv_buf_init(w->buf.data, (unsigned)w->buf.len);
    int rc = uv_write(&w->req, c->stream, &b, 1, on_written);
    if (rc != 0) {
        sl_buf_dispose(&w->buf);
        free(w);
        return rc;
    }
    w->prev = NULL;
    w->next = c->wreqs;
    if (c->wreqs)
        c->wreqs->prev = w;
    c->wreqs = w;
    c->queued += w->buf.len;
    if (!c->above && c->queued > c->lim.high_watermark) {
        c->above = true;
        if (c->cbs->on_watermark && !c->dead) {
            c->depth++;
            c->cbs->on_watermark(c->ud, true);
            c->depth--;
        }
    }
    return 0;
}

/* The bytes in wbuf are complete: send them now, or at the end of the running callback. */
static int commit(sl_h1_conn_t *c)
{
    if (tl.depth > 0 && c->wbuf.len < FLUSH_NOW_BYTES) {
        if (!c->pend && c->wbuf.len) {
            c->pend = true;
            c->pend_prev = NULL;
            c->pend_next = tl.pending;
            if (tl.pending)
                tl.pending->pend_prev = c;
            tl.pending = c;
        }
        return 0;
    }
    return flush(c);
}

static bool out(sl_h1_conn_t *c, const void *p, size_t n)
{
    return sl_buf_append(&c->wbuf, p, n);
}

int sl_h1_conn_write(sl_h1_conn_t *c, const void *p, size_t n)
{
    if (!out(c, p, n))
        return UV_ENOMEM;
    return commit(c);
}

bool sl_h1_is_hop_by_hop(const char *name, size_t len)
{
    /* The parser owns the RFC 9110 list; forwarding also drops Proxy-Authenticate, which
     * RFC 2616 13.5.1 named hop-by-hop and which answers only the hop that asked. */
    return sl_h1_parse_is_hop_by_hop(name, len) ||
           (len == 18 && strncasecmp(name, "proxy-authenticate", 18) == 0);
}

/* A head is assembled on the stack and appended to wbuf in one piece (spilling when large):
 * one capacity check per head rather than one per field. On failure wbuf goes back to what
 * it held before, since it may also hold earlier messages gathered for the same write. */
typedef struct head_out {
    sl_h1_conn_t *c;
    size_t mark; /* wbuf.len before the head */
    bool ok;
    size_t n;
    char tmp[2048];
} head_out_t;

static void hput(head_out_t *o, const void *p, size_t n)
{
    if (!o->ok)
        return;
    if (n > sizeof(o->tmp) - o->n) {
        if (!sl_buf_append(&o->c->wbuf, o->tmp, o->n)) {
            o->ok = false;
            return;
        }
        o->n = 0;
        if (n > sizeof(o->tmp)) {
            o->ok = sl_buf_append(&o->c->wbuf, p, n);
            return;
        }
    }
    memcpy(o->tmp + o->n, p, n);
    o->n += n;
}

static void hputz(head_out_t *o, const char *s)
{
    hput(o, s, strlen(s));
}

static int hdone(head_out_t *o)
{
    if (o->ok && !sl_buf_append(&o->c->wbuf, o->tmp, o->n))
        o->ok = false;
    if (!o->ok) {
        o->c->wbuf.len = o->mark;
        return UV_ENOMEM;
    }
    return commit(o->c);
}

int sl_h1_conn_write_head(sl_h1_conn_t *c, const sl_hmap_t *h, bool chunked,
                          const char *connection)
{
    head_out_t o;
    o.c = c;
    o.mark = c->wbuf.len;
    o.ok = true;
    o.n = 0;
    if (c->role == SL_H1_SERVER) {
        size_t sl = 0;
        const char *st = sl_hmap_get(h, ":status", 7, &sl);
        int status = 500;
        if (st && sl == 3 && st[0] >= '1' && st[0] <= '9' && st[1] >= '0' && st[1] <= '9' &&
            st[2] >= '0' && st[2] <= '9')
            status = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
        char line[16] = "HTTP/1.1 ";
        line[9] = (char)('0' + status / 100);
        line[10] = (char)('0' + status / 10 % 10);
        line[11] = (char)('0' + status % 10);
        line[12] = ' ';
        hput(&o, line, 13);
        hputz(&o, sl_h1_reason(status));
        hput(&o, "\r\n", 2);
    } else {
        const char *m = sl_hmap_getz(h, ":method");
        const char *p = sl_hmap_getz(h, ":path");
        const char *a = sl_hmap_getz(h, ":authority");
        hputz(&o, m ? m : "GET");
        hput(&o, " ", 1);
        hputz(&o, p && p[0] ? p : "/");
        hput(&o, " HTTP/1.1\r\n", 11);
        if (a && a[0]) {
            hput(&o, "host: ", 6);
            hputz(&o, a);
            hput(&o, "\r\n", 2);
        }
    }
    bool upgrade = connection && strcasecmp(connection, "upgrade") == 0;
    for (uint32_t i = 0; o.ok && i < sl_hmap_size(h); i++) {
        const sl_header_t *x = sl_hmap_at(h, i);
        if (x->name_len == 0 || x->name[0] == ':')
            continue;
        if (sl_h1_is_hop_by_hop(x->name, x->name_len) &&
            !(upgrade && x->name_len == 7 && strncasecmp(x->name, "upgrade", 7) == 0))
            continue;
        if (c->role == SL_H1_CLIENT && x->name_len == 4 && strncasecmp(x->name, "host", 4) == 0)
            continue;
        if (chunked && x->name_len == 14 && strncasecmp(x->name, "content-length", 14) == 0)
            continue;
        hput(&o, x->name, x->name_len);
        hput(&o, ": ", 2);
        hput(&o, x->value, x->value_len);
        hput(&o, "\r\n", 2);
    }
    if (chunked)
        hput(&o, "transfer-encoding: chunked\r\n", 28);
    if (connection) {
        hput(&o, "connection: ", 12);
        hputz(&o, connection);
        hput(&o, "\r\n", 2);
    }
    hput(&o, "\r\n", 2);
    return hdone(&o);
}

int sl_h1_conn_write_body(sl_h1_conn_t *c, const void *p, size_t n, bool chunked)
{
    if (n == 0)
        return 0;
    size_t mark = c->wbuf.len;
    if (chunked) {
        char hdr[24];
        int k = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
        if (!out(c, hdr, (size_t)k) || !out(c, p, n) || !out(c, "\r\n", 2)) {
            c->wbuf.len = mark;
            return UV_ENOMEM;
        }
    } else if (!out(c, p, n)) {
        return UV_ENOMEM;
    }
    return commit(c);
}

int sl_h1_conn_write_chunked_end(sl_h1_conn_t *c, const sl_hmap_t *trailers)
{
    size_t mark = c->wbuf.len;
    bool ok = out(c, "0\r\n", 3);
    for (uint32_t i = 0; ok && trailers && i < sl_hmap_size(trailers); i++) {
        const sl_header_t *x = sl_hmap_at(trailers, i);
        if (x->name_len == 0 || x->name[0] == ':')
            continue;
        ok = out(c, x->name, x->name_len) && out(c, ": ", 2) &&
             out(c, x->value, x->value_len) && out(c, "\r\n", 2);
    }
    ok = ok && out(c, "\r\n", 2);
    if (!ok) {
        c->wbuf.len = mark;
        return UV_ENOMEM;
    }
    return commit(c);
}

size_t sl_h1_conn_queued(const sl_h1_conn_t *c)
{
    return c->queued + c->wbuf.len;
}

const char *sl_h1_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* ---- reading ---------------------------------------------------------------------------- */

/* A message ended: the next one begins afresh. A server answers requests in order, so the
 * next one waits for this response. */
static void message_ended(sl_h1_conn_t *c)
{
    c->begun = false;
    if (c->role == SL_H1_SERVER)
        c->pause |= SL_H1_PAUSE_PIPELINE;
}

/* Delivers one parser event; false when processing must stop (error, stop, or freed). */
static bool deliver(sl_h1_conn_t *c, const sl_h1_event_t *ev)
{
    switch (ev->type) {
    case SL_H1_EV_HEADERS: {
        sl_h1_head_t hd = {
            .version = ev->version,
            .method = ev->method.p,
            .method_len = ev->method.len,
            .target = ev->target.p,
            .target_len = ev->target.len,
            .status = ev->status,
            .headers = (const sl_header_t *)ev->headers,
            .n_headers = ev->n_headers,
            .content_length = ev->content_length,
            .chunked = ev->framing == SL_H1_BODY_CHUNKED,
            .keep_alive = ev->keep_alive,
            .expect_continue = ev->expect_continue,
            .has_body = ev->framing != SL_H1_BODY_NONE,
            .upgrade = ev->upgrade,
            .is_connect = ev->is_connect,
            .tunnel = ev->framing == SL_H1_BODY_TUNNEL,
        };
        if (hd.tunnel && !(c->role == SL_H1_CLIENT && c->allow_tunnel)) {
            /* A switch nobody asked for cannot be framed: refuse rather than mis-frame. */
            report_error(c, c->role == SL_H1_SERVER ? 501 : 502, "unrequested protocol switch");
            return false;
        }
        if (!c->cbs->on_head(c->ud, &hd)) {
            c->failed = true;
            return false;
        }
        return true;
    }
    case SL_H1_EV_BODY:
        if (c->cbs->on_body_end && ev->data.len <= SL_H1_BODY_END_MAX &&
            sl_h1_parser_ends_next(&c->parser)) {
            sl_h1_event_t end;
            sl_h1_parse(&c->parser, c->rbuf + c->roff, 0, &end); /* consumes nothing */
            message_ended(c);
            c->cbs->on_body_end(c->ud, ev->data.p, ev->data.len);
            return true;
        }
        c->cbs->on_body(c->ud, ev->data.p, ev->data.len);
        return true;
    case SL_H1_EV_TRAILERS:
        if (c->cbs->on_trailers)
            c->cbs->on_trailers(c->ud, (const sl_header_t *)ev->headers, ev->n_headers);
        return true;
    case SL_H1_EV_MESSAGE_COMPLETE:
        message_ended(c);
        c->cbs->on_complete(c->ud);
        return true;
    case SL_H1_EV_ERROR:
        report_error(c, c->role == SL_H1_SERVER ? sl_h1_error_status(ev->error) : 502,
                     sl_h1_error_str(ev->error));
        return false;
    case SL_H1_EV_NEED_MORE:
        break;
    }
    return false;
}

/* Parses what has been read, one event at a time, while nothing pauses it. */
static void process(sl_h1_conn_t *c)
{
    size_t off = 0;
    /* Bounded by the bytes held: every event but NEED_MORE consumes or completes. */
    for (unsigned guard = 0; guard < 1000000; guard++) {
        if (c->dead || c->failed || (c->pause & (SL_H1_PAUSE_PIPELINE | SL_H1_PAUSE_BACKPRESSURE |
                                                  SL_H1_PAUSE_USER)))
            break;
        if (!c->begun && off < c->rlen && !sl_h1_parser_in_message(&c->parser)) {
            c->begun = true;
            if (c->cbs->on_begin)
                c->cbs->on_begin(c->ud);
            if (c->dead || c->failed)
                break;
        }
        sl_h1_event_t ev;
        size_t n = sl_h1_parse(&c->parser, c->rbuf + off, c->rlen - off, &ev);
        if (ev.type == SL_H1_EV_NEED_MORE) {
            off += n;
            break;
        }
        off += n;
        c->roff = off;
        bool go = deliver(c, &ev);
        if (!go)
            break;
    }
    /* Paused for backpressure right after the last body bytes: the end of the message needs
     * no byte, so report it now rather than when the peer drains (it may close first). */
    if (!c->dead && !c->failed && c->pause == SL_H1_PAUSE_BACKPRESSURE &&
        sl_h1_parser_in_message(&c->parser)) {
        sl_h1_event_t ev;
        if (sl_h1_parse(&c->parser, c->rbuf + off, 0, &ev) == 0 &&
            ev.type == SL_H1_EV_MESSAGE_COMPLETE) {
            c->roff = off;
            deliver(c, &ev);
        }
    }
    c->roff = 0;
    if (off && !c->dead) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->eof && !c->dead && !c->failed && !(c->pause & SL_H1_PAUSE_BACKPRESSURE)) {
        if (c->role == SL_H1_CLIENT && sl_h1_parser_in_message(&c->parser)) {
            sl_h1_event_t ev;
            sl_h1_parser_finish(&c->parser, c->rlen, &ev);
            if (ev.type == SL_H1_EV_MESSAGE_COMPLETE) {
                c->cbs->on_complete(c->ud);
                if (c->dead || c->failed)
                    return;
            }
        }
        report_error(c, 0, "peer closed the connection");
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sl_h1_conn_t *c = h->data;
    if (c->rcap - c->rlen < READ_CHUNK / 4) {
        size_t cap = c->rcap ? c->rcap * 2 : READ_CHUNK;
        while (cap - c->rlen < READ_CHUNK / 4)
            cap *= 2;
        char *n = realloc(c->rbuf, cap);
        if (!n) {
            buf->base = NULL;
            buf->len = 0;
            return;
        }
        c->rbuf = n;
        c->rcap = cap;
    }
    buf->base = c->rbuf + c->rlen;
    buf->len = c->rcap - c->rlen;
}

static void report_error(sl_h1_conn_t *c, int status, const char *why)
{
    if (c->failed)
        return;
    c->failed = true;
    if (c->reading) {
        uv_read_stop(c->stream);
        c->reading = false;
    }
    c->depth++;
    c->cbs->on_error(c->ud, status, why);
    c->depth--;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    sl_h1_conn_t *c = st->data;
    if (n == 0)
        return;
    if (n < 0) {
        if (n == UV_ENOBUFS) {
            report_error(c, 0, "out of memory for reading");
        } else {
            c->eof = true;
            if (c->reading) {
                uv_read_stop(c->stream);
                c->reading = false;
            }
        }
    } else {
        c->rlen += (size_t)n;
    }
    dispatch_enter();
    c->depth++;
    process(c);
    c->depth--;
    if (c->dead && c->depth == 0)
        sl_h1_conn_free(c);
    else
        update_reading(c);
    dispatch_leave();
}

/* Reading runs when asked, not paused, not failed, and the unparsed backlog is bounded. */
static void update_reading(sl_h1_conn_t *c)
{
    if (c->dead || c->failed || c->eof)
        return;
    bool want = c->want_read && c->pause == 0 && c->rlen < c->lim.max_header_bytes + READ_CHUNK;
    if (c->pause == SL_H1_PAUSE_PIPELINE && c->rlen < READ_CHUNK)
        want = c->want_read; /* keep reading a little ahead of a pipelined request */
    if (want && !c->reading) {
        if (uv_read_start(c->stream, on_alloc, on_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop(c->stream);
        c->reading = false;
    }
}

sl_h1_conn_t *sl_h1_conn_new(uv_stream_t *stream, sl_h1_role_t role, const sl_h1_limits_t *lim,
                             const sl_h1_cbs_t *cbs, void *ud)
{
    sl_h1_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->stream = stream;
    c->role = role;
    c->lim = *lim;
    if (!c->lim.max_header_bytes)
        c->lim.max_header_bytes = 60 * 1024;
    if (!c->lim.max_headers)
        c->lim.max_headers = 100;
    if (!c->lim.high_watermark)
        c->lim.high_watermark = 1024 * 1024;
    c->cbs = cbs;
    c->ud = ud;
    sl_buf_init(&c->wbuf);
    stream->data = c;
    sl_h1_parse_limits_t pl = {
        .max_head_bytes = (uint32_t)c->lim.max_header_bytes,
        .max_headers = (uint32_t)c->lim.max_headers,
    };
    sl_h1_parser_init(&c->parser, role == SL_H1_SERVER ? SL_H1_REQUEST : SL_H1_RESPONSE, &pl);
    return c;
}

void sl_h1_conn_set_cbs(sl_h1_conn_t *c, const sl_h1_cbs_t *cbs, void *ud)
{
    c->cbs = cbs;
    c->ud = ud;
}

void sl_h1_conn_free(sl_h1_conn_t *c)
{
    if (!c)
        return;
    if (c->reading) {
        uv_read_stop(c->stream);
        c->reading = false;
    }
    c->want_read = false;
    if (c->depth > 0) {
        c->dead = true;
        return;
    }
    /* Gathered bytes were promised to the peer: they go out before the owner closes (no
     * callback runs from here: dead). */
    c->dead = true;
    flush(c);
    for (sl_h1_wreq_t *w = c->wreqs; w; w = w->next)
        w->c = NULL;
    c->wreqs = NULL;
    if (c->spare) {
        sl_buf_dispose(&c->spare->buf);
        free(c->spare);
    }
    if (c->stream->data == c)
        c->stream->data = NULL;
    sl_buf_dispose(&c->wbuf);
    free(c->rbuf);
    free(c);
}

int sl_h1_conn_start_reading(sl_h1_conn_t *c)
{
    c->want_read = true;
    update_reading(c);
    if (!c->reading && !c->failed && c->pause == 0)
        return UV_EIO;
    return 0;
}

void sl_h1_conn_pause(sl_h1_conn_t *c, unsigned reason)
{
    if (!c)
        return;
    c->pause |= reason;
    update_reading(c);
}

void sl_h1_conn_unpause(sl_h1_conn_t *c, unsigned reason)
{
    if (!c)
        return;
    c->pause &= ~reason;
    if (c->depth == 0 && c->rlen && !(c->pause & SL_H1_PAUSE_PIPELINE)) {
        c->depth++;
        process(c);
        c->depth--;
        if (c->dead && c->depth == 0) {
            sl_h1_conn_free(c);
            return;
        }
    }
    update_reading(c);
}

void sl_h1_conn_expect_head_response(sl_h1_conn_t *c, bool head)
{
    c->head_response = head;
    if (head)
        sl_h1_parser_set_request_method(&c->parser, "HEAD", 4);
    else
        sl_h1_parser_set_request_method(&c->parser, "GET", 3);
}

void sl_h1_conn_allow_tunnel(sl_h1_conn_t *c, bool allow)
{
    c->allow_tunnel = allow;
}

void sl_h1_conn_start_tunnel(sl_h1_conn_t *c)
{
    sl_h1_parser_tunnel(&c->parser);
    sl_h1_conn_unpause(c, SL_H1_PAUSE_PIPELINE);
}

void sl_h1_conn_resume_parsing(sl_h1_conn_t *c)
{
    sl_h1_conn_unpause(c, SL_H1_PAUSE_PIPELINE);
}

void sl_h1_conn_trim(sl_h1_conn_t *c)
{
    if (c->depth > 0)
        return;
    if (c->rlen == 0) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    if (c->wbuf.len == 0)
        sl_buf_dispose(&c->wbuf);
    if (c->spare) {
        sl_buf_dispose(&c->spare->buf);
        free(c->spare);
        c->spare = NULL;
    }
}

bool sl_h1_conn_has_buffered_input(const sl_h1_conn_t *c)
{
    return c->rlen > c->roff;
}
