/* Unit tests for outgoing HTTP calls on a real loop with a scripted loopback upstream: the
 * request as written, buffered responses with trailers, timeouts, failures and cancellation. */
#include "proxy/sl_http_call.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../t.h"
#include "proxy/sl_cluster.h"

/* ---- a scripted upstream on the test loop ------------------------------------------------- */

typedef struct upstream {
    uv_tcp_t listener;
    uint16_t port;
    const char *reply; /* sent once a whole request arrived; NULL: never answer */
    char got[8192];    /* the request bytes received (all connections) */
    size_t got_len;
    int requests;
    uv_tcp_t *conns[8];
    int n_conns;
} upstream_t;

static uv_loop_t loop;
static sl_worker_t worker;
static sl_cluster_t *clusters[1];

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void up_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(n);
    b->len = n;
}

static void up_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

/* A request is whole when its head ended and, if chunked, its last chunk arrived, or its
 * content-length bytes are there. */
static bool request_complete(const upstream_t *u)
{
    const char *end = memmem(u->got, u->got_len, "\r\n\r\n", 4);
    if (!end)
        return false;
    size_t head = (size_t)(end + 4 - u->got);
    if (memmem(u->got, head, "chunked", 7))
        return memmem(end + 4, u->got_len - head, "0\r\n", 3) &&
               u->got_len >= 4 && memcmp(u->got + u->got_len - 4, "\r\n\r\n", 4) == 0;
    const char *cl = memmem(u->got, head, "content-length: ", 16);
    size_t want = cl ? (size_t)atoi(cl + 16) : 0;
    return u->got_len - head >= want;
}

static void up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    upstream_t *u = s->data;
    if (n > 0 && u->got_len + (size_t)n < sizeof u->got) {
        memcpy(u->got + u->got_len, b->base, (size_t)n);
        u->got_len += (size_t)n;
        if (request_complete(u)) {
            u->requests++;
            if (u->reply) {
                uv_write_t *w = malloc(sizeof *w);
                uv_buf_t out = uv_buf_init((char *)u->reply, (unsigned)strlen(u->reply));
                uv_write(w, s, &out, 1, up_written);
            }
        }
    }
    free(b->base);
}

static void up_on_conn(uv_stream_t *s, int status)
{
    upstream_t *u = s->data;
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(&loop, c);
    if (uv_accept(s, (uv_stream_t *)c) != 0 || u->n_conns == 8) {
        uv_close((uv_handle_t *)c, free_handle);
        return;
    }
    c->data = u;
    u->conns[u->n_conns++] = c;
    uv_read_start((uv_stream_t *)c, up_alloc, up_read);
}

static void up_start(upstream_t *u, const char *reply)
{
    memset(u, 0, sizeof *u);
    u->reply = reply;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &u->listener);
    u->listener.data = u;
    T_EQ_INT(uv_tcp_bind(&u->listener, (struct sockaddr *)&a, 0), 0);
    T_EQ_INT(uv_listen((uv_stream_t *)&u->listener, 16, up_on_conn), 0);
    struct sockaddr_in b;
    int len = sizeof b;
    uv_tcp_getsockname(&u->listener, (struct sockaddr *)&b, &len);
    u->port = ntohs(b.sin_port);
}

static void up_stop(upstream_t *u)
{
    for (int i = 0; i < u->n_conns; i++)
        uv_close((uv_handle_t *)u->conns[i], free_handle);
    uv_close((uv_handle_t *)&u->listener, NULL);
}

/* Where `lit` first occurs in what the upstream received, or NULL. */
static const char *has(const upstream_t *u, const char *lit)
{
    return memmem(u->got, u->got_len, lit, strlen(lit));
}

/* ---- harness -------------------------------------------------------------------------------- */

typedef struct outcome {
    int calls;
    sl_status_t status;
    int code;
    char headers[1024]; /* "name: value\n" each */
    char body[1024];
    char trailers[256];
} outcome_t;

static void on_done(void *ud, sl_status_t st, const sl_http_call_response_t *r)
{
    outcome_t *o = ud;
    o->calls++;
    o->status = st;
    if (!r)
        return;
    o->code = r->status;
    size_t k = 0;
    for (size_t i = 0; i < r->n_headers; i++)
        k += (size_t)snprintf(o->headers + k, sizeof o->headers - k, "%s: %s\n",
                              r->headers[i].name, r->headers[i].value);
    snprintf(o->body, sizeof o->body, "%.*s", (int)r->body_len, r->body);
    k = 0;
    for (size_t i = 0; i < r->n_trailers; i++)
        k += (size_t)snprintf(o->trailers + k, sizeof o->trailers - k, "%s: %s\n",
                              r->trailers[i].name, r->trailers[i].value);
}

static uv_timer_t ticker;
static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* The loop and the worker (every case starts with this). */
static void begin(void)
{
    T_ASSERT(sl_stats_init(1));
    T_EQ_INT(uv_loop_init(&loop), 0);
    memset(&worker, 0, sizeof worker);
    worker.loop = &loop;
    worker.stats = sl_stats_block(0);
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, on_tick, 5, 5);
}

/* Cluster "auth" with one endpoint on `port`. */
static sl_cluster_def_t *setup(uint16_t port)
{
    char err[256];
    sl_cluster_def_t *d = sl_cluster_def_new("auth");
    T_ASSERT(d);
    T_EQ_INT(sl_cluster_def_add_host(d, "127.0.0.1", port, err, sizeof err), SL_OK);
    clusters[0] = sl_cluster_new(&worker, d);
    worker.clusters = clusters;
    worker.n_clusters = 1;
    return d;
}

static void teardown(sl_cluster_def_t *d)
{
    sl_cluster_destroy(clusters[0]);
    uv_close((uv_handle_t *)&ticker, NULL);
    for (int i = 0; i < 100; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    T_EQ_INT(uv_loop_close(&loop), 0); /* every handle closed: nothing leaked on the loop */
    sl_cluster_def_free(d);
    sl_stats_shutdown();
}

static bool run_until(const int *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++)
        uv_run(&loop, UV_RUN_ONCE);
    return *flag != 0;
}

static const sl_header_t GET_HEADERS[] = {
    {":method", "GET", 7, 3},
    {":path", "/check?x=1", 5, 10},
    {":authority", "auth.local", 10, 10},
    {"X-Token", "abc", 7, 3},
    {"connection", "close", 10, 5}, /* hop-by-hop: never sent */
};

/* ---- cases ------------------------------------------------------------------------------------ */

TEST(get_is_written_and_the_response_buffered)
{
    begin();
    upstream_t u;
    up_start(&u, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Answer: yes\r\n\r\nhello");
    sl_cluster_def_t *d = setup(u.port);
    outcome_t o = {0};
    sl_http_call_t *c;
    T_EQ_INT(sl_http_call_start(&worker, "auth", GET_HEADERS, 5, NULL, 0, NULL, 0, 1000,
                                on_done, &o, &c),
             SL_OK);
    T_EQ_INT(o.calls, 0); /* never from inside start */
    T_ASSERT(run_until(&o.calls));
    T_EQ_INT(o.status, SL_OK);
    T_EQ_INT(o.code, 200);
    T_EQ_STR(o.body, "hello");
    T_ASSERT(strstr(o.headers, ":status: 200\n") == o.headers); /* first, as Envoy gives it */
    T_ASSERT(strstr(o.headers, "x-answer: yes\n") != NULL);   /* names lower-cased */
    T_ASSERT(has(&u, "GET /check?x=1 HTTP/1.1\r\n") == u.got);
    T_ASSERT(has(&u, "\r\nhost: auth.local\r\n") ||
             has(&u, "\r\nHost: auth.local\r\n"));
    T_ASSERT(has(&u, "x-token: abc\r\n") != NULL);
    T_ASSERT(has(&u, "close") == NULL);
    T_ASSERT(has(&u, "content-length") == NULL); /* GET without body */
    up_stop(&u);
    teardown(d);
}

TEST(body_and_trailers_go_chunked_and_response_trailers_come_back)
{
    begin();
    upstream_t u;
    up_start(&u, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n");
    sl_cluster_def_t *d = setup(u.port);
    static const sl_header_t post[] = {{":method", "POST", 7, 4}, {":path", "/p", 5, 2}};
    static const sl_header_t tr[] = {{"x-check", "1", 7, 1}};
    outcome_t o = {0};
    sl_http_call_t *c;
    T_EQ_INT(sl_http_call_start(&worker, "auth", post, 2, "payload", 7, tr, 1, 1000, on_done,
                                &o, &c),
             SL_OK);
    T_ASSERT(run_until(&o.calls));
    T_EQ_INT(o.status, SL_OK);
    T_EQ_INT(o.code, 201);
    T_EQ_STR(o.body, "abcde");
    T_EQ_STR(o.trailers, "x-sum: 5\n");
    T_ASSERT(has(&u, "transfer-encoding: chunked\r\n") != NULL);
    T_ASSERT(has(&u, "7\r\npayload\r\n0\r\nx-check: 1\r\n\r\n") != NULL);
    up_stop(&u);
    teardown(d);
}

TEST(post_body_gets_a_content_length)
{
    begin();
    upstream_t u;
    up_start(&u, "HTTP/1.1 204 No Content\r\n\r\n");
    sl_cluster_def_t *d = setup(u.port);
    static const sl_header_t post[] = {{":method", "POST", 7, 4},
                                       {":path", "/p", 5, 2},
                                       {"content-length", "999", 14, 3}};
    outcome_t o = {0};
    sl_http_call_t *c;
    T_EQ_INT(sl_http_call_start(&worker, "auth", post, 3, "abc", 3, NULL, 0, 1000, on_done, &o,
                                &c),
             SL_OK);
    T_ASSERT(run_until(&o.calls));
    T_EQ_INT(o.status, SL_OK);
    T_EQ_INT(o.code, 204);
    /* The plugin's own framing header is replaced by the true length. */
    T_ASSERT(has(&u, "content-length: 3\r\n") != NULL);
    T_ASSERT(has(&u, "999") == NULL);
    T_ASSERT(has(&u, "\r\n\r\nabc") != NULL);
    up_stop(&u);
    teardown(d);
}

TEST(no_answer_times_out)
{
    begin();
    upstream_t u;
    up_start(&u, NULL);
    sl_cluster_def_t *d = setup(u.port);
    outcome_t o = {0};
    sl_http_call_t *c;
    uint64_t t0 = uv_now(&loop);
    T_EQ_INT(sl_http_call_start(&worker, "auth", GET_HEADERS, 3, NULL, 0, NULL, 0, 50, on_done,
                                &o, &c),
             SL_OK);
    T_ASSERT(run_until(&o.calls));
    T_EQ_INT(o.status, SL_ERR_TIMEOUT);
    T_ASSERT(uv_now(&loop) - t0 >= 50);
    T_EQ_INT(u.requests, 1);
    up_stop(&u);
    teardown(d);
}

TEST(unknown_cluster_and_bad_headers_fail_at_once)
{
    begin();
    upstream_t u;
    up_start(&u, NULL);
    sl_cluster_def_t *d = setup(u.port);
    outcome_t o = {0};
    sl_http_call_t *c = (sl_http_call_t *)&o;
    T_EQ_INT(sl_http_call_start(&worker, "nope", GET_HEADERS, 3, NULL, 0, NULL, 0, 50, on_done,
                                &o, &c),
             SL_ERR_NOT_FOUND);
    T_ASSERT(c == NULL);
    T_EQ_INT(sl_http_call_start(&worker, "auth", GET_HEADERS + 2, 2, NULL, 0, NULL, 0, 50,
                                on_done, &o, &c),
             SL_ERR_ARG); /* no :method / :path */
    T_EQ_INT(o.calls, 0);
    up_stop(&u);
    teardown(d);
}

TEST(refused_connection_is_reported_through_the_callback)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd); /* nothing listens there now */
    begin();
    sl_cluster_def_t *d = setup(ntohs(a.sin_port));
    outcome_t o = {0};
    sl_http_call_t *c;
    T_EQ_INT(sl_http_call_start(&worker, "auth", GET_HEADERS, 3, NULL, 0, NULL, 0, 1000, on_done,
                                &o, &c),
             SL_OK);
    T_ASSERT(run_until(&o.calls));
    T_EQ_INT(o.status, SL_ERR_UNAVAILABLE);
    teardown(d);
}

TEST(cancel_stops_the_callback_and_frees_everything)
{
    begin();
    upstream_t u;
    up_start(&u, NULL);
    sl_cluster_def_t *d = setup(u.port);
    outcome_t o = {0};
    sl_http_call_t *c;
    T_EQ_INT(sl_http_call_start(&worker, "auth", GET_HEADERS, 3, NULL, 0, NULL, 0, 100, on_done,
                                &o, &c),
             SL_OK);
    for (int i = 0; i < 50 && u.requests == 0; i++)
        uv_run(&loop, UV_RUN_ONCE);
    T_EQ_INT(u.requests, 1);
    sl_http_call_cancel(c);
    for (int i = 0; i < 60; i++) /* past the timeout: nothing may fire */
        uv_run(&loop, UV_RUN_ONCE);
    T_EQ_INT(o.calls, 0);
    up_stop(&u);
    teardown(d); /* the loop closes: no handle of the call is left */
}
