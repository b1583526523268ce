/* Unit tests of the connection manager and the filter interface over real loopback TCP:
 * test filters that pause and resume from a timer, buffer and replace bodies, answer locally
 * and rewrite responses, driven by a blocking client thread. */
#include "proxy/sl_hcm.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/sl_config.h"
#include "proxy/sl_filter.h"
#include "proxy/sl_stats.h"
#include "proxy/sl_worker.h"
#include "../../t.h"

/* ---- test filters ---------------------------------------------------------------------- */

/* test.responder: terminal; answers 200 with the request body it receives (or "path=<p>"),
 * echoing x-* request headers as response headers. */
typedef struct responder {
    sl_buf_t body;
} responder_t;

static void respond(sl_http_filter_t *f)
{
    responder_t *r = f->ctx;
    sl_stream_t *s = f->stream;
    sl_hmap_t *req = sl_stream_request_headers(s);
    sl_hmap_t *h = sl_stream_response_headers(s);
    sl_hmap_setz(h, ":status", "200");
    for (uint32_t i = 0; i < sl_hmap_size(req); i++) {
        const sl_header_t *x = sl_hmap_at(req, i);
        if (strncmp(x->name, "x-", 2) == 0 && strcmp(x->name, "x-request-id") != 0 &&
            strcmp(x->name, "x-forwarded-for") != 0 && strcmp(x->name, "x-forwarded-proto") != 0)
            sl_hmap_add(h, x->name, x->name_len, x->value, x->value_len);
    }
    if (r->body.len == 0) {
        const char *p = sl_hmap_getz(req, ":path");
        sl_buf_append(&r->body, "path=", 5);
        sl_buf_append(&r->body, p, strlen(p));
    }
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", r->body.len);
    sl_hmap_setz(h, "content-length", cl);
    sl_filter_encode_headers(f, false);
    sl_filter_encode_data(f, &r->body, true);
}

static sl_filter_status_t resp_headers(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    (void)h;
    if (end)
        respond(f);
    return SL_FILTER_CONTINUE;
}

static sl_filter_status_t resp_data(sl_http_filter_t *f, sl_buf_t *d, bool end)
{
    responder_t *r = f->ctx;
    sl_buf_append(&r->body, d->data, d->len);
    sl_buf_clear(d);
    if (end)
        respond(f);
    return SL_FILTER_CONTINUE;
}

static void resp_destroy(sl_http_filter_t *f)
{
    responder_t *r = f->ctx;
    sl_buf_dispose(&r->body);
    free(r);
}

static const sl_http_filter_ops_t responder_ops = {
    .decode_headers = resp_headers,
    .decode_data = resp_data,
    .on_destroy = resp_destroy,
};

static bool responder_create(const void *cfg, sl_http_filter_t *f)
{
    (void)cfg;
    f->ctx = calloc(1, sizeof(responder_t));
    f->ops = &responder_ops;
    return f->ctx != NULL;
}

static const sl_http_filter_factory_t responder_factory = {
    .name = "test.responder", .create = responder_create, .terminal = true};

/* test.pause: holds request headers, resumes from a 30 ms timer after adding x-paused. Also
 * answers 403 locally when x-deny is present, from the timer (an async local reply). */
typedef struct pauser {
    uv_timer_t timer;
    sl_http_filter_t *f;
    bool live;
} pauser_t;

static void pause_fire(uv_timer_t *t)
{
    pauser_t *p = t->data;
    if (!p->live)
        return;
    sl_hmap_t *h = sl_stream_request_headers(p->f->stream);
    if (sl_hmap_getz(h, "x-deny")) {
        sl_filter_send_local_reply(p->f, 403, "denied", 6, NULL, "test_denied");
        return;
    }
    sl_hmap_setz(h, "x-paused", "1");
    sl_filter_continue_decoding(p->f);
}

static sl_filter_status_t pause_headers(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    (void)h;
    (void)end;
    pauser_t *p = f->ctx;
    uv_timer_start(&p->timer, pause_fire, 30, 0);
    return SL_FILTER_STOP;
}

static void pause_complete(sl_http_filter_t *f, const sl_stream_info_t *info)
{
    (void)info;
    pauser_t *p = f->ctx;
    p->live = false;
    uv_timer_stop(&p->timer);
}

static void pause_destroy(sl_http_filter_t *f)
{
    pauser_t *p = f->ctx;
    uv_close((uv_handle_t *)&p->timer, (uv_close_cb)free);
}

static const sl_http_filter_ops_t pause_ops = {
    .decode_headers = pause_headers,
    .on_stream_complete = pause_complete,
    .on_destroy = pause_destroy,
};

static bool pause_create(const void *cfg, sl_http_filter_t *f)
{
    (void)cfg;
    pauser_t *p = calloc(1, sizeof(*p));
    if (!p)
        return false;
    uv_timer_init(sl_stream_loop(f->stream), &p->timer);
    p->timer.data = p;
    p->f = f;
    p->live = true;
    f->ctx = p;
    f->ops = &pause_ops;
    return true;
}

static const sl_http_filter_factory_t pause_factory = {.name = "test.pause",
                                                        .create = pause_create};

/* test.upper: buffers the whole request body (STOP_AND_BUFFER) and replaces it with its
 * upper-case form wrapped in "<...>"; buffers the response body and wraps it in "[...]". */
static sl_filter_status_t upper_data(sl_http_filter_t *f, sl_buf_t *d, bool end)
{
    (void)f;
    if (!end)
        return SL_FILTER_STOP_AND_BUFFER;
    sl_buf_own(d);
    for (size_t i = 0; i < d->len; i++)
        d->data[i] = (char)toupper((unsigned char)d->data[i]);
    sl_buf_prepend(d, "<", 1);
    sl_buf_append(d, ">", 1);
    return SL_FILTER_CONTINUE;
}

static sl_filter_status_t upper_resp_headers(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    (void)f;
    if (!end)
        sl_hmap_removez(h, "content-length"); /* the body changes size */
    return SL_FILTER_CONTINUE;
}

static sl_filter_status_t upper_resp_data(sl_http_filter_t *f, sl_buf_t *d, bool end)
{
    (void)f;
    if (!end)
        return SL_FILTER_STOP_AND_BUFFER;
    sl_buf_prepend(d, "[", 1);
    sl_buf_append(d, "]", 1);
    return SL_FILTER_CONTINUE;
}

static const sl_http_filter_ops_t upper_ops = {
    .decode_data = upper_data,
    .encode_headers = upper_resp_headers,
    .encode_data = upper_resp_data,
};

static bool upper_create(const void *cfg, sl_http_filter_t *f)
{
    (void)cfg;
    f->ops = &upper_ops;
    return true;
}

static const sl_http_filter_factory_t upper_factory = {.name = "test.upper",
                                                        .create = upper_create};

/* test.resp: on the encode path, holds the response headers for 20 ms then adds x-late and
 * continues; or, when the request had x-deny-response, replaces the response with a local
 * 502 from inside encode_headers. */
typedef struct resp_pauser {
    uv_timer_t timer;
    sl_http_filter_t *f;
    bool live;
} resp_pauser_t;

static void resp_fire(uv_timer_t *t)
{
    resp_pauser_t *p = t->data;
    if (!p->live)
        return;
    sl_hmap_setz(sl_stream_response_headers(p->f->stream), "x-late", "yes");
    sl_filter_continue_encoding(p->f);
}

static sl_filter_status_t rp_encode_headers(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    (void)h;
    (void)end;
    resp_pauser_t *p = f->ctx;
    if (sl_hmap_getz(sl_stream_request_headers(f->stream), "x-deny-response")) {
        sl_filter_send_local_reply(f, 502, "replaced", 8, NULL, "test_replaced");
        return SL_FILTER_CONTINUE;
    }
    uv_timer_start(&p->timer, resp_fire, 20, 0);
    return SL_FILTER_STOP;
}

static void rp_complete(sl_http_filter_t *f, const sl_stream_info_t *info)
{
    (void)info;
    resp_pauser_t *p = f->ctx;
    p->live = false;
    uv_timer_stop(&p->timer);
}

static void rp_destroy(sl_http_filter_t *f)
{
    resp_pauser_t *p = f->ctx;
    uv_close((uv_handle_t *)&p->timer, (uv_close_cb)free);
}

static const sl_http_filter_ops_t rp_ops = {
    .encode_headers = rp_encode_headers,
    .on_stream_complete = rp_complete,
    .on_destroy = rp_destroy,
};

static bool rp_create(const void *cfg, sl_http_filter_t *f)
{
    (void)cfg;
    resp_pauser_t *p = calloc(1, sizeof(*p));
    if (!p)
        return false;
    uv_timer_init(sl_stream_loop(f->stream), &p->timer);
    p->timer.data = p;
    p->f = f;
    p->live = true;
    f->ctx = p;
    f->ops = &rp_ops;
    return true;
}

static const sl_http_filter_factory_t rp_factory = {.name = "test.resp", .create = rp_create};

/* ---- harness: one worker loop, one listener, a blocking client thread ------------------ */

static sl_worker_t worker;
static sl_hcm_config_t hcm;
static sl_http_filter_config_t filters[4];
static uv_tcp_t server;
static int server_port;

static void on_conn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof(*c));
    uv_tcp_init(srv->loop, c);
    if (uv_accept(srv, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        return;
    }
    sl_hcm_conn_start(&worker, NULL, &hcm, c);
}

static void setup(const char *const *names, size_t n, uint64_t buffer_limit)
{
    T_ASSERT(sl_stats_init(1));
    sl_filter_register(&responder_factory);
    sl_filter_register(&pause_factory);
    sl_filter_register(&upper_factory);
    sl_filter_register(&rp_factory);
    memset(&worker, 0, sizeof(worker));
    worker.loop = uv_default_loop();
    worker.stats = sl_stats_block(0);
    memset(&hcm, 0, sizeof(hcm));
    hcm.stat_prefix = "t";
    hcm.stream_idle_timeout_ms = 5000;
    hcm.max_request_headers_kb = 60;
    hcm.max_request_headers_count = 100;
    hcm.max_request_body_bytes = buffer_limit;
    hcm.server_name = "sluice-test";
    hcm.generate_request_id = true;
    for (size_t i = 0; i < n; i++) {
        memset(&filters[i], 0, sizeof(filters[i]));
        filters[i].name = names[i];
        filters[i].kind = SL_HTTP_FILTER_WASM; /* resolved by name first */
    }
    hcm.http_filters = filters;
    hcm.n_http_filters = n;
    uv_tcp_init(worker.loop, &server);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    T_EQ_INT(uv_tcp_bind(&server, (const struct sockaddr *)&a, 0), 0);
    T_EQ_INT(uv_listen((uv_stream_t *)&server, 16, on_conn), 0);
    struct sockaddr_in b;
    int len = sizeof(b);
    uv_tcp_getsockname(&server, (struct sockaddr *)&b, &len);
    server_port = ntohs(b.sin_port);
}

typedef struct client_job {
    const char *send;
    size_t send_len;
    char reply[65536];
    size_t reply_len;
    _Atomic int done;
} client_job_t;

/* Sends the request, then reads until the peer closes or 1 s passes with no byte. */
static void *client_main(void *arg)
{
    client_job_t *j = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        size_t off = 0;
        while (off < j->send_len) {
            ssize_t n = write(fd, j->send + off, j->send_len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        for (;;) {
            ssize_t n = read(fd, j->reply + j->reply_len, sizeof(j->reply) - 1 - j->reply_len);
            if (n <= 0)
                break;
            j->reply_len += (size_t)n;
        }
    }
    j->reply[j->reply_len] = '\0';
    close(fd);
    atomic_store(&j->done, 1);
    return NULL;
}

/* Runs the loop while a client sends `req`; returns what came back. */
static const char *exchange(client_job_t *j, const char *req)
{
    memset(j, 0, sizeof(*j));
    j->send = req;
    j->send_len = strlen(req);
    pthread_t th;
    pthread_create(&th, NULL, client_main, j);
    for (int i = 0; i < 1000 && !atomic_load(&j->done); i++)
        uv_run(worker.loop, UV_RUN_NOWAIT), usleep(2000);
    pthread_join(th, NULL);
    for (int i = 0; i < 20; i++)
        uv_run(worker.loop, UV_RUN_NOWAIT);
    return j->reply;
}

static client_job_t job;

/* Closes everything so the sanitizer build sees no leak. */
static void teardown(void)
{
    sl_hcm_worker_close_all(&worker);
    uv_close((uv_handle_t *)&server, NULL);
    for (int i = 0; i < 50; i++)
        uv_run(worker.loop, UV_RUN_NOWAIT);
    T_ASSERT(worker.http == NULL);
    uv_loop_close(worker.loop);
    sl_stats_shutdown();
}

/* ---- cases ---------------------------------------------------------------------------------- */

TEST(terminal_filter_answers_with_keep_alive_and_pipelining)
{
    static const char *const names[] = {"test.responder"};
    setup(names, 1, 1 << 20);
    const char *r = exchange(&job, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *first = strstr(r, "path=/a");
    const char *second = strstr(r, "path=/b");
    T_ASSERT(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
    T_ASSERT(first && second && first < second);
    T_ASSERT(strstr(r, "server: sluice-test\r\n") != NULL);
    T_EQ_INT(sl_hcm_active_streams(&worker), 0);
    teardown();
}

TEST(filter_pauses_and_resumes_from_a_timer)
{
    static const char *const names[] = {"test.pause", "test.responder"};
    setup(names, 2, 1 << 20);
    const char *r = exchange(&job, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                   "Connection: close\r\n\r\nhello");
    T_ASSERT(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
    T_ASSERT(strstr(r, "x-paused: 1\r\n") != NULL);
    T_ASSERT(strstr(r, "\r\n\r\nhello") != NULL);
    teardown();
}

TEST(async_local_reply_from_a_paused_filter)
{
    static const char *const names[] = {"test.pause", "test.responder"};
    setup(names, 2, 1 << 20);
    const char *r = exchange(&job, "GET /d HTTP/1.1\r\nHost: x\r\nX-Deny: 1\r\n"
                                   "Connection: close\r\n\r\n");
    T_ASSERT(strstr(r, "HTTP/1.1 403 Forbidden\r\n") == r);
    T_ASSERT(strstr(r, "content-length: 6\r\n") != NULL);
    T_ASSERT(strstr(r, "\r\n\r\ndenied") != NULL);
    teardown();
}

TEST(buffered_bodies_are_replaced_both_ways)
{
    static const char *const names[] = {"test.upper", "test.responder"};
    setup(names, 2, 1 << 20);
    const char *r = exchange(&job, "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                   "Connection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    T_ASSERT(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
    /* The response body changed size: sent chunked. */
    T_ASSERT(strstr(r, "transfer-encoding: chunked\r\n") != NULL);
    T_ASSERT(strstr(r, "[<ABCDE>]") != NULL);
    teardown();
}

TEST(buffered_body_over_the_limit_gets_413)
{
    static const char *const names[] = {"test.upper", "test.responder"};
    setup(names, 2, 16);
    const char *r = exchange(&job, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
                                   "0123456789012345678901234567890123456789");
    T_ASSERT(strstr(r, "HTTP/1.1 413 Payload Too Large\r\n") == r);
    T_ASSERT(strstr(r, "connection: close\r\n") != NULL);
    teardown();
}

TEST(malformed_request_gets_400_and_close)
{
    static const char *const names[] = {"test.responder"};
    setup(names, 1, 1 << 20);
    const char *r = exchange(&job, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                                   "Content-Length: 2\r\n\r\nab");
    T_ASSERT(strstr(r, "HTTP/1.1 400 Bad Request\r\n") == r);
    T_ASSERT(strstr(r, "path=") == NULL);
    teardown();
}

TEST(response_held_on_encode_and_resumed_asynchronously)
{
    static const char *const names[] = {"test.resp", "test.responder"};
    setup(names, 2, 1 << 20);
    const char *r = exchange(&job, "GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    T_ASSERT(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
    T_ASSERT(strstr(r, "x-late: yes\r\n") != NULL);
    T_ASSERT(strstr(r, "\r\n\r\npath=/r") != NULL);
    teardown();
}

TEST(local_reply_from_the_encode_path_replaces_the_response)
{
    static const char *const names[] = {"test.resp", "test.responder"};
    setup(names, 2, 1 << 20);
    const char *r = exchange(&job, "GET /r HTTP/1.1\r\nHost: x\r\nX-Deny-Response: 1\r\n"
                                   "Connection: close\r\n\r\n");
    T_ASSERT(strstr(r, "HTTP/1.1 502 Bad Gateway\r\n") == r);
    T_ASSERT(strstr(r, "\r\n\r\nreplaced") != NULL);
    T_ASSERT(strstr(r, "path=") == NULL);
    teardown();
}
