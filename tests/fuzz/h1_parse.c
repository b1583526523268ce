/* libFuzzer target for the HTTP/1.1 parser: any bytes, split into calls at any points, must
 * give the same events as one whole buffer (differential), and never crash or read outside. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_h1_parse.h"

/* A digest of the event stream; body bytes are hashed as one stream per run of BODY events,
 * because how a body is cut into events depends on how the input was cut. */
typedef struct digest {
    uint64_t h;
    bool in_body;
    uint32_t events;
} digest_t;

static void mix(digest_t *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 0x100000001b3ull;
}

static void mix_u64(digest_t *d, uint64_t v)
{
    mix(d, &v, sizeof(v));
}

static void check_in(const char *p, size_t n, const char *buf, size_t len)
{
    if (n && (p < buf || p + n > buf + len)) {
        fprintf(stderr, "slice outside the buffer\n");
        abort();
    }
}

static void record(digest_t *d, const sl_h1_event_t *ev, const char *buf, size_t len)
{
    if (ev->type == SL_H1_EV_NEED_MORE)
        return;
    if (ev->type == SL_H1_EV_BODY) {
        check_in(ev->data.p, ev->data.len, buf, len);
        if (ev->data.len == 0)
            abort(); /* a BODY event always carries bytes */
        if (!d->in_body)
            mix_u64(d, 0xB0D1);
        d->in_body = true;
        mix(d, ev->data.p, ev->data.len);
        return;
    }
    if (d->in_body)
        mix_u64(d, 0xE0B);
    d->in_body = false;
    d->events++;
    mix_u64(d, (uint64_t)ev->type);
    switch (ev->type) {
    case SL_H1_EV_HEADERS:
        check_in(ev->method.p, ev->method.len, buf, len);
        check_in(ev->target.p, ev->target.len, buf, len);
        check_in(ev->reason.p, ev->reason.len, buf, len);
        mix(d, ev->method.p ? ev->method.p : "", ev->method.len);
        mix(d, ev->target.p ? ev->target.p : "", ev->target.len);
        mix(d, ev->reason.p ? ev->reason.p : "", ev->reason.len);
        mix_u64(d, (uint64_t)ev->status ^ ((uint64_t)ev->version << 16) ^
                       ((uint64_t)ev->framing << 24) ^ ((uint64_t)ev->keep_alive << 32) ^
                       ((uint64_t)ev->expect_continue << 33) ^ ((uint64_t)ev->upgrade << 34));
        mix_u64(d, (uint64_t)ev->content_length);
        /* fall through: the fields */
    case SL_H1_EV_TRAILERS:
        if (ev->n_headers > SL_H1_MAX_HEADERS)
            abort();
        mix_u64(d, ev->n_headers);
        for (uint32_t i = 0; i < ev->n_headers; i++) {
            const sl_h1_header_t *h = &ev->headers[i];
            check_in(h->name, h->name_len, buf, len);
            check_in(h->value, h->value_len, buf, len);
            if (h->name_len == 0)
                abort();
            mix(d, h->name, h->name_len);
            mix_u64(d, 0x3A);
            mix(d, h->value, h->value_len);
        }
        break;
    case SL_H1_EV_ERROR:
        if (sl_h1_error_status(ev->error) == 0)
            abort(); /* an error always maps to a status */
        mix_u64(d, (uint64_t)ev->error);
        mix_u64(d, ev->error_offset);
        break;
    default:
        break;
    }
}

/* Feeds data in pieces whose sizes come from `step` (0: all at once; 1: byte by byte;
 * otherwise a seed for pseudo-random sizes), as a caller keeping unconsumed bytes would. */
static uint64_t run(const uint8_t *data, size_t size, sl_h1_kind_t kind, const char *method,
                    const sl_h1_parse_limits_t *lim, uint64_t step)
{
    digest_t d = {0xcbf29ce484222325ull, false, 0};
    sl_h1_parser_t p;
    sl_h1_parser_init(&p, kind, lim);
    if (method)
        sl_h1_parser_set_request_method(&p, method, strlen(method));
    char *buf = malloc(size + 1);
    size_t have = 0, off = 0;
    uint64_t rng = step | 1;
    bool failed = false;
    while (off < size && !failed) {
        size_t piece = size - off;
        if (step == 1) {
            piece = 1;
        } else if (step > 1) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            piece = 1 + (size_t)(rng % 64);
            if (piece > size - off)
                piece = size - off;
        }
        /* a fresh allocation each time, so stale pointers into the old buffer are caught */
        char *nb = malloc(have + piece + 1);
        memcpy(nb, buf, have);
        memcpy(nb + have, data + off, piece);
        free(buf);
        buf = nb;
        have += piece;
        off += piece;
        for (int guard = 0;; guard++) {
            if (guard > 1000000)
                abort(); /* no progress */
            sl_h1_event_t ev;
            size_t n = sl_h1_parse(&p, buf, have, &ev);
            if (n > have)
                abort();
            record(&d, &ev, buf, have);
            memmove(buf, buf + n, have - n);
            have -= n;
            if (ev.type == SL_H1_EV_ERROR)
                failed = true;
            if (ev.type == SL_H1_EV_ERROR || ev.type == SL_H1_EV_NEED_MORE)
                break;
        }
    }
    if (!failed) {
        sl_h1_event_t ev;
        sl_h1_parser_finish(&p, have, &ev);
        record(&d, &ev, buf, have);
    }
    free(buf);
    mix_u64(&d, d.events);
    return d.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* the first byte picks the kind, the request method and small or default limits */
    uint8_t mode = data[0];
    data++;
    size--;
    static const char *const methods[] = {"GET", "HEAD", "CONNECT", "POST"};
    sl_h1_kind_t kind = (mode & 1) ? SL_H1_RESPONSE : SL_H1_REQUEST;
    const char *method = kind == SL_H1_RESPONSE ? methods[(mode >> 1) & 3] : NULL;
    sl_h1_parse_limits_t small = {
        .max_head_bytes = 128, .max_headers = 4, .max_chunk_ext_bytes = 8, .max_trailer_bytes = 64};
    const sl_h1_parse_limits_t *lim = (mode & 8) ? &small : NULL;

    uint64_t whole = run(data, size, kind, method, lim, 0);
    uint64_t bytes = run(data, size, kind, method, lim, 1);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
    for (size_t i = 0; i < size && i < 16; i++)
        seed = seed * 31 + data[i];
    uint64_t random = run(data, size, kind, method, lim, seed | 2);
    if (whole != bytes || whole != random) {
        fprintf(stderr,
                "h1_parse: split-dependent events (whole %016llx, byte-by-byte %016llx, "
                "random %016llx)\n",
                (unsigned long long)whole, (unsigned long long)bytes, (unsigned long long)random);
        abort();
    }
    return 0;
}
