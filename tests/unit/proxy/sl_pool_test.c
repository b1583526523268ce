/* Unit tests for clusters and the upstream pool on a real loop with real loopback upstreams:
 * keep-alive reuse, idle close detection, balancing, passive health, timeouts, breakers. */
#include "proxy/sl_pool.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../t.h"
#include "proxy/sl_cluster.h"

/* ---- a tiny upstream on the test loop ----------------------------------------------------- */

typedef struct upstream {
    uv_tcp_t listener;
    uint16_t port;
    int accepted;
    bool close_on_accept; /* close each connection right away */
    uv_tcp_t *conns[32];  /* owned: accepted connections */
    int n_conns;
} upstream_t;

static uv_loop_t loop;
static sl_worker_t worker;

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void up_on_conn(uv_stream_t *s, int status)
{
    upstream_t *u = s->data;
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(&loop, c);
    if (uv_accept(s, (uv_stream_t *)c) != 0 || u->n_conns == 32) {
        uv_close((uv_handle_t *)c, free_handle);
        return;
    }
    u->accepted++;
    if (u->close_on_accept) {
        uv_close((uv_handle_t *)c, free_handle);
        return;
    }
    u->conns[u->n_conns++] = c;
}

static void up_start(upstream_t *u)
{
    memset(u, 0, sizeof *u);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &u->listener);
    u->listener.data = u;
    T_EQ_INT(uv_tcp_bind(&u->listener, (struct sockaddr *)&a, 0), 0);
    T_EQ_INT(uv_listen((uv_stream_t *)&u->listener, 64, up_on_conn), 0);
    struct sockaddr_in b;
    int len = sizeof b;
    uv_tcp_getsockname(&u->listener, (struct sockaddr *)&b, &len);
    u->port = ntohs(b.sin_port);
}

static void up_stop(upstream_t *u)
{
    for (int i = 0; i < u->n_conns; i++)
        uv_close((uv_handle_t *)u->conns[i], free_handle);
    u->n_conns = 0;
    uv_close((uv_handle_t *)&u->listener, NULL);
}

/* A port with nothing listening: bind, read the port, close. */
static uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- harness ---------------------------------------------------------------------------------- */

typedef struct result {
    int calls;
    sl_status_t status;
    sl_upstream_conn_t *conn;
} result_t;

static void on_pool(void *ctx, sl_status_t st, sl_upstream_conn_t *conn)
{
    result_t *r = ctx;
    r->calls++;
    r->status = st;
    r->conn = conn;
}

static uv_timer_t ticker;
static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void setup(void)
{
    T_ASSERT(sl_stats_init(1));
    T_EQ_INT(uv_loop_init(&loop), 0);
    memset(&worker, 0, sizeof worker);
    worker.loop = &loop;
    worker.stats = sl_stats_block(0);
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, on_tick, 5, 5); /* keeps uv_run(ONCE) from blocking forever */
}

/* Runs the loop until *flag becomes nonzero (or about 5 s pass). */
static bool run_until(const int *flag)
{
    for (int i = 0; i < 1000 && !*flag; i++)
        uv_run(&loop, UV_RUN_ONCE);
    return *flag != 0;
}

static void run_for_ms(uint64_t ms)
{
    uint64_t end = uv_now(&loop) + ms;
    while (uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
}

static void teardown(sl_cluster_t *c, sl_cluster_def_t *d)
{
    sl_cluster_destroy(c);
    uv_close((uv_handle_t *)&ticker, NULL);
    for (int i = 0; i < 100; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    T_EQ_INT(uv_loop_close(&loop), 0); /* every handle closed: nothing leaked on the loop */
    sl_cluster_def_free(d);
    sl_stats_shutdown();
}

static sl_cluster_def_t *def_with(const uint16_t *ports, size_t n)
{
    char err[256];
    sl_cluster_def_t *d = sl_cluster_def_new("backend");
    T_ASSERT(d);
    for (size_t i = 0; i < n; i++)
        T_EQ_INT(sl_cluster_def_add_host(d, "127.0.0.1", ports[i], err, sizeof err), SL_OK);
    return d;
}

static uint64_t stat_of(const char *name)
{
    int64_t v = 0;
    sl_stat_kind_t k;
    if (!sl_stats_lookup(name, &k, &v))
        return 0;
    return (uint64_t)v;
}

/* ---- cases ------------------------------------------------------------------------------------ */

TEST(connects_then_reuses_the_idle_connection)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(conn == NULL && req != NULL);
    T_ASSERT(run_until(&r.calls));
    T_EQ_INT(r.status, SL_OK);
    T_ASSERT(r.conn != NULL);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", u.port);
    T_EQ_STR(r.conn->address, want);
    T_EQ_INT(r.conn->requests, 1);
    sl_upstream_conn_t *first = r.conn;
    sl_pool_release(first, true);
    sl_pool_stats_t ps;
    sl_pool_get_stats(c, &ps);
    T_EQ_INT(ps.idle, 1);
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(conn == first && req == NULL); /* handed over at once, no callback */
    T_EQ_INT(conn->requests, 2);
    T_EQ_INT(r.calls, 1);
    sl_pool_release(conn, true);
    run_until(&u.accepted);
    T_EQ_INT(u.accepted, 1);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_total"), 1);
    T_EQ_UINT(stat_of("cluster.backend.upstream_rq_total"), 2);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_reused"), 1);
    up_stop(&u);
    teardown(c, d);
}

TEST(idle_connection_closed_by_upstream_is_not_reused)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls) && r.status == SL_OK);
    T_ASSERT(run_until(&u.n_conns));
    sl_pool_release(r.conn, true);
    /* The upstream closes its side while the connection is idle: the next acquire must see
     * it and connect again instead of lending a dead connection. */
    uv_close((uv_handle_t *)u.conns[0], free_handle);
    u.n_conns = 0;
    run_for_ms(30);
    r.calls = 0;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(conn == NULL && req != NULL);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_close_notify"), 1);
    T_ASSERT(run_until(&r.calls) && r.status == SL_OK);
    sl_pool_release(r.conn, false);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_total"), 2);
    up_stop(&u);
    teardown(c, d);
}

TEST(idle_connection_closed_by_upstream_is_swept)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls) && r.status == SL_OK);
    T_ASSERT(run_until(&u.n_conns));
    sl_pool_release(r.conn, true);
    uv_close((uv_handle_t *)u.conns[0], free_handle);
    u.n_conns = 0;
    int gone = 0;
    uint64_t end = uv_now(&loop) + 3 * SL_POOL_SWEEP_MS;
    while (!gone && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
        sl_pool_stats_t ps;
        sl_pool_get_stats(c, &ps);
        gone = ps.idle == 0;
    }
    T_ASSERT(gone);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_close_notify"), 1);
    up_stop(&u);
    teardown(c, d);
}

TEST(refused_endpoint_is_retried_elsewhere_and_backed_off)
{
    setup();
    upstream_t u;
    up_start(&u);
    uint16_t ports[2] = {dead_port(), u.port};
    sl_cluster_def_t *d = def_with(ports, 2);
    sl_cluster_t *c = sl_cluster_new(&worker, d); /* worker 0 starts at endpoint 0: dead */
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls));
    T_EQ_INT(r.status, SL_OK);
    T_EQ_INT(r.conn->endpoint == c->eps[1], 1);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_connect_fail"), 1);
    T_ASSERT(c->eps[0]->backoff_until_ms > uv_now(&loop));
    T_EQ_INT(sl_cluster_healthy_count(c), 1);
    sl_pool_release(r.conn, false);
    /* While the dead one backs off, every new connection goes to the live one. */
    for (int i = 0; i < 4; i++) {
        r.calls = 0;
        T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
        T_ASSERT(run_until(&r.calls) && r.status == SL_OK);
        T_ASSERT(r.conn->endpoint == c->eps[1]);
        sl_pool_release(r.conn, false);
    }
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_connect_fail"), 1);
    up_stop(&u);
    teardown(c, d);
}

TEST(single_dead_endpoint_fails_then_fails_fast)
{
    setup();
    uint16_t port = dead_port();
    sl_cluster_def_t *d = def_with(&port, 1);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls));
    T_EQ_INT(r.status, SL_ERR_UNAVAILABLE); /* refused, and no other endpoint to try */
    T_ASSERT(r.conn == NULL);
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_ERR_UNAVAILABLE);
    T_ASSERT(conn == NULL && req == NULL);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_none_healthy"), 1);
    /* After the back-off the endpoint is tried again. */
    c->eps[0]->backoff_until_ms = 0;
    r.calls = 0;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls));
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_connect_fail"), 2);
    teardown(c, d);
}

TEST(connect_timeout_fails_the_request)
{
    setup();
    /* A listener whose accept queue is full drops SYNs, so connects hang. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    T_EQ_INT(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    T_EQ_INT(listen(lfd, 0), 0);
    getsockname(lfd, (struct sockaddr *)&a, &len);
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    usleep(50000);
    uint16_t port = ntohs(a.sin_port);
    sl_cluster_def_t *d = def_with(&port, 1);
    d->connect_timeout_ms = 200;
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    uint64_t t0 = uv_now(&loop);
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls));
    uv_update_time(&loop);
    T_ASSERT(r.status == SL_ERR_TIMEOUT || r.status == SL_ERR_UNAVAILABLE);
    T_ASSERT(uv_now(&loop) - t0 >= 190);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_connect_timeout"), 1);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(lfd);
    teardown(c, d);
}

TEST(pending_overflow_is_refused_at_once)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    d->max_connections = 1;
    d->max_pending_requests = 1;
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r1 = {0}, r2 = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r1, &conn, &req), SL_OK);
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r2, &conn, &req), SL_ERR_OVERFLOW);
    T_EQ_UINT(stat_of("cluster.backend.upstream_rq_pending_overflow"), 1);
    T_ASSERT(run_until(&r1.calls) && r1.status == SL_OK);
    T_EQ_INT(r2.calls, 0);
    sl_pool_release(r1.conn, true);
    up_stop(&u);
    teardown(c, d);
}

TEST(at_max_connections_requests_queue_and_get_released_connections)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    d->max_connections = 1;
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r1 = {0}, r2 = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req1, *req2;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r1, &conn, &req1), SL_OK);
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r2, &conn, &req2), SL_OK);
    T_ASSERT(req1 && req2);
    T_EQ_UINT(stat_of("cluster.backend.upstream_cx_overflow"), 1);
    T_ASSERT(run_until(&r1.calls) && r1.status == SL_OK);
    T_EQ_INT(r2.calls, 0);
    sl_pool_release(r1.conn, true);
    T_EQ_INT(r2.calls, 0); /* never delivered from inside release */
    T_ASSERT(run_until(&r2.calls));
    T_EQ_INT(r2.status, SL_OK);
    T_ASSERT(r2.conn == r1.conn);
    T_EQ_INT(r2.conn->requests, 2);
    sl_pool_release(r2.conn, false);
    T_EQ_INT(u.accepted, 1);
    up_stop(&u);
    teardown(c, d);
}

TEST(cancelled_request_gets_no_callback_and_its_connection_goes_idle)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    sl_pool_cancel(req);
    int idle = 0;
    for (int i = 0; i < 400 && !idle; i++) {
        uv_run(&loop, UV_RUN_ONCE);
        sl_pool_stats_t ps;
        sl_pool_get_stats(c, &ps);
        idle = ps.idle == 1;
    }
    T_ASSERT(idle);
    T_EQ_INT(r.calls, 0);
    up_stop(&u);
    teardown(c, d);
}

TEST(max_requests_overflows)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    d->max_requests = 1;
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls) && r.status == SL_OK);
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_ERR_OVERFLOW);
    sl_pool_release(r.conn, true);
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(conn != NULL);
    sl_pool_release(conn, true);
    up_stop(&u);
    teardown(c, d);
}

TEST(round_robin_and_least_request_spread_connections)
{
    setup();
    upstream_t u1, u2;
    up_start(&u1);
    up_start(&u2);
    uint16_t ports[2] = {u1.port, u2.port};
    sl_cluster_def_t *d = def_with(ports, 2);
    d->lb = SL_LB_LEAST_REQUEST;
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t a = {0}, b = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &a, &conn, &req), SL_OK);
    T_ASSERT(run_until(&a.calls) && a.status == SL_OK);
    /* a is in flight on one endpoint: least-request must pick the other. */
    T_EQ_INT(sl_pool_acquire(c, on_pool, &b, &conn, &req), SL_OK);
    T_ASSERT(run_until(&b.calls) && b.status == SL_OK);
    T_ASSERT(a.conn->endpoint != b.conn->endpoint);
    sl_pool_release(a.conn, false);
    sl_pool_release(b.conn, false);
    /* Round robin alternates. */
    d->lb = SL_LB_ROUND_ROBIN;
    sl_endpoint_t *seen[4];
    for (int i = 0; i < 4; i++) {
        seen[i] = sl_cluster_pick(c);
        T_ASSERT(seen[i] != NULL);
    }
    T_ASSERT(seen[0] != seen[1] && seen[0] == seen[2] && seen[1] == seen[3]);
    up_stop(&u1);
    up_stop(&u2);
    teardown(c, d);
}

TEST(strict_dns_resolves_names)
{
    setup();
    upstream_t u;
    up_start(&u);
    char err[256];
    sl_cluster_def_t *d = sl_cluster_def_new("backend");
    d->type = SL_CLUSTER_STRICT_DNS;
    T_EQ_INT(sl_cluster_def_add_host(d, "localhost", u.port, err, sizeof err), SL_OK);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    /* Before the answer the request waits; then it connects (to 127.0.0.1 at the latest,
     * after ::1, where nothing listens, is refused). */
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls));
    T_EQ_INT(r.status, SL_OK);
    T_ASSERT(c->n_eps >= 1);
    sl_pool_release(r.conn, true);
    up_stop(&u);
    teardown(c, d);
}

TEST(static_cluster_rejects_names)
{
    T_ASSERT(sl_stats_init(0));
    char err[256];
    sl_cluster_def_t *d = sl_cluster_def_new("backend");
    T_EQ_INT(sl_cluster_def_add_host(d, "example.com", 80, err, sizeof err), SL_ERR_CONFIG);
    T_ASSERT(strstr(err, "not an IP address") != NULL);
    sl_cluster_def_free(d);
    sl_stats_shutdown();
}

TEST(release_after_cluster_destroy_frees_everything)
{
    setup();
    upstream_t u;
    up_start(&u);
    sl_cluster_def_t *d = def_with(&u.port, 1);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(run_until(&r.calls) && r.status == SL_OK);
    sl_cluster_destroy(c);
    run_for_ms(20);
    sl_pool_release(r.conn, true); /* closes it: the cluster is gone */
    up_stop(&u);
    teardown(NULL, d); /* the cluster freed itself; the loop must close cleanly */
}

TEST(waiting_request_survives_destroy_until_cancelled)
{
    setup();
    uint16_t port = dead_port();
    sl_cluster_def_t *d = def_with(&port, 1);
    sl_cluster_t *c = sl_cluster_new(&worker, d);
    result_t r = {0};
    sl_upstream_conn_t *conn;
    sl_pool_req_t *req;
    T_EQ_INT(sl_pool_acquire(c, on_pool, &r, &conn, &req), SL_OK);
    T_ASSERT(req != NULL);
    sl_cluster_destroy(c);
    run_for_ms(20);
    T_EQ_INT(r.calls, 0); /* no callback after destroy */
    sl_pool_cancel(req);  /* still valid; frees the request and then the cluster */
    teardown(NULL, d);
}
