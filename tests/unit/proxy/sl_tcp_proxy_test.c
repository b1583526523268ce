/* Unit tests for the TCP proxy's network filter interface on a real loop: a test filter
 * modifies bytes both ways, holds them until enough arrived, delays the upstream connect,
 * writes on its own and closes; the proxy relays through a loopback echo upstream. */
#include "proxy/sl_tcp_proxy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "../../t.h"
#include "proxy/sl_cluster.h"

static uv_loop_t loop;
static sl_worker_t worker;
static sl_cluster_t *cluster_list[1];

/* ---- the test filter: behaviour chosen per case ---------------------------------------- */

static struct {
    bool upper_down;        /* uppercase client bytes */
    size_t hold_until;      /* STOP until this many client bytes are held */
    bool suffix_up;         /* append "!" to upstream bytes */
    bool delay_connect;     /* STOP on_new_connection, continue from a timer */
    bool banner;            /* write "hi\n" to the client on connect */
    const char *close_on;   /* close the connection when client bytes contain this */
    int closes, creates, destroys, new_conns;
    sl_nf_close_t last_why;
    sl_nf_conn_t *conn;
} tf;

static uv_timer_t delay_timer;

static void on_delay(uv_timer_t *t)
{
    (void)t;
    sl_nf_continue(tf.conn, SL_NF_DOWNSTREAM);
}

static void *tf_create(void *shared, sl_nf_conn_t *conn, bool *ok)
{
    (void)shared;
    (void)ok;
    tf.creates++;
    tf.conn = conn;
    return &tf;
}

static sl_nf_status_t tf_new(void *st, sl_nf_conn_t *conn)
{
    (void)st;
    tf.new_conns++;
    if (tf.banner)
        T_EQ_INT(sl_nf_write(conn, SL_NF_DOWNSTREAM, "hi\n", 3), SL_OK);
    if (tf.delay_connect) {
        uv_timer_start(&delay_timer, on_delay, 50, 0);
        return SL_NF_STOP;
    }
    return SL_NF_CONTINUE;
}

static sl_nf_status_t tf_down(void *st, sl_nf_conn_t *conn, sl_buf_t *data, bool end)
{
    (void)st;
    if (tf.close_on && data->len && memmem(data->data, data->len, tf.close_on,
                                           strlen(tf.close_on))) {
        sl_nf_close(conn);
        return SL_NF_STOP;
    }
    if (tf.hold_until && data->len < tf.hold_until && !end)
        return SL_NF_STOP;
    if (tf.upper_down && data->len) {
        T_ASSERT(sl_buf_own(data));
        for (size_t i = 0; i < data->len; i++)
            if (data->data[i] >= 'a' && data->data[i] <= 'z')
                data->data[i] = (char)(data->data[i] - 32);
    }
    return SL_NF_CONTINUE;
}

static sl_nf_status_t tf_up(void *st, sl_nf_conn_t *conn, sl_buf_t *data, bool end)
{
    (void)st;
    (void)conn;
    if (tf.suffix_up && data->len && !end)
        T_ASSERT(sl_buf_append(data, "!", 1));
    return SL_NF_CONTINUE;
}

static void tf_close(void *st, sl_nf_conn_t *conn, sl_nf_close_t why)
{
    (void)st;
    (void)conn;
    tf.closes++;
    tf.last_why = why;
}

static void tf_destroy(void *st)
{
    (void)st;
    tf.destroys++;
}

static const sl_netfilter_ops_t test_ops = {
    .name = "test",
    .create = tf_create,
    .on_new_connection = tf_new,
    .on_downstream_data = tf_down,
    .on_upstream_data = tf_up,
    .on_close = tf_close,
    .destroy = tf_destroy,
};

/* ---- loopback plumbing: echo upstream, proxy listener, client ---------------------------- */

static void free_handle(uv_handle_t *h)
{
    free(h);
}

typedef struct echo_conn {
    uv_tcp_t tcp;
    char buf[65536];
} echo_conn_t;

static void echo_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)s;
    echo_conn_t *e = (echo_conn_t *)h;
    *b = uv_buf_init(e->buf, sizeof e->buf);
}

static void echo_written(uv_write_t *w, int st)
{
    (void)st;
    free(w);
}

static void echo_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, free_handle);
        return;
    }
    if (n == 0)
        return;
    uv_write_t *w = malloc(sizeof *w + (size_t)n);
    memcpy(w + 1, b->base, (size_t)n);
    uv_buf_t out = uv_buf_init((char *)(w + 1), (unsigned)n);
    uv_write(w, s, &out, 1, echo_written);
}

static void echo_on_conn(uv_stream_t *s, int st)
{
    (void)st;
    echo_conn_t *e = malloc(sizeof *e);
    uv_tcp_init(&loop, &e->tcp);
    uv_accept(s, (uv_stream_t *)&e->tcp);
    uv_read_start((uv_stream_t *)&e->tcp, echo_alloc, echo_read);
}

static const sl_tcp_chain_t *the_chain;

static void proxy_on_conn(uv_stream_t *s, int st)
{
    (void)st;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(&loop, c);
    uv_accept(s, (uv_stream_t *)c);
    sl_tcp_proxy_start(&worker, the_chain, c);
}

static uint16_t listen_on(uv_tcp_t *t, uv_connection_cb cb)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, t);
    T_EQ_INT(uv_tcp_bind(t, (struct sockaddr *)&a, 0), 0);
    T_EQ_INT(uv_listen((uv_stream_t *)t, 16, cb), 0);
    int len = sizeof a;
    uv_tcp_getsockname(t, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

/* The client: collects what it receives; `eof` when the proxy closes. */
static struct {
    uv_tcp_t tcp;
    uv_connect_t cr;
    char got[4096];
    size_t got_len;
    int connected, eof;
} cl;

static void cl_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)h;
    (void)s;
    *b = uv_buf_init(cl.got + cl.got_len, (unsigned)(sizeof cl.got - cl.got_len - 1));
}

static void cl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)s;
    (void)b;
    if (n < 0) {
        cl.eof = 1;
        uv_read_stop(s);
        return;
    }
    cl.got_len += (size_t)n;
    cl.got[cl.got_len] = 0;
}

static void cl_connected(uv_connect_t *r, int st)
{
    (void)r;
    T_EQ_INT(st, 0);
    cl.connected = 1;
    uv_read_start((uv_stream_t *)&cl.tcp, cl_alloc, cl_read);
}

static void cl_send(const char *s)
{
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
    T_EQ_INT(uv_try_write((uv_stream_t *)&cl.tcp, &b, 1), (int)strlen(s));
}

static uv_timer_t ticker;
static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static bool run_until_got(size_t n)
{
    for (int i = 0; i < 1000 && cl.got_len < n && !cl.eof; i++)
        uv_run(&loop, UV_RUN_ONCE);
    return cl.got_len >= n;
}

static bool run_until_flag(const int *flag)
{
    for (int i = 0; i < 1000 && !*flag; i++)
        uv_run(&loop, UV_RUN_ONCE);
    return *flag != 0;
}

static uv_tcp_t echo_listener, proxy_listener;
static sl_config_t *cfg;
static sl_cluster_def_t *def;
static sl_tcp_chain_t *chain;

static void setup(void)
{
    memset(&tf, 0, sizeof tf);
    memset(&cl, 0, sizeof cl);
    T_ASSERT(sl_stats_init(1));
    T_EQ_INT(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, on_tick, 5, 5);
    uv_timer_init(&loop, &delay_timer);
    sl_netfilter_register(SL_NETWORK_FILTER_BYTE_COUNT, &test_ops);
    uint16_t echo_port = listen_on(&echo_listener, echo_on_conn);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "static_resources:\n"
             "  listeners:\n"
             "  - name: t\n"
             "    address: {socket_address: {address: 127.0.0.1, port_value: 0}}\n"
             "    filter_chains:\n"
             "    - filters:\n"
             "      - name: sluice.filters.network.byte_count\n"
             "        typed_config:\n"
             "          \"@type\": type.googleapis.com/sluice.filters.network.byte_count.v1.ByteCount\n"
             "      - name: envoy.filters.network.tcp_proxy\n"
             "        typed_config:\n"
             "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
             "          stat_prefix: t\n"
             "          cluster: echo\n"
             "  clusters:\n"
             "  - name: echo\n"
             "    load_assignment:\n"
             "      endpoints:\n"
             "      - lb_endpoints:\n"
             "        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %u}}}\n",
             echo_port);
    sl_config_error_t err;
    T_EQ_INT(sl_config_load_string(yaml, strlen(yaml), "t.yaml", &cfg, &err), SL_OK);
    char msg[256];
    T_EQ_INT(sl_cluster_def_from_config(&cfg->clusters[0], &def, msg, sizeof msg), SL_OK);
    T_EQ_INT(sl_tcp_chain_new(&cfg->listeners[0], &cfg->listeners[0].filter_chains[0], &chain,
                              msg, sizeof msg),
             SL_OK);
    the_chain = chain;
    memset(&worker, 0, sizeof worker);
    worker.loop = &loop;
    worker.stats = sl_stats_block(0);
    worker.config = cfg;
    cluster_list[0] = sl_cluster_new(&worker, def);
    worker.clusters = cluster_list;
    worker.n_clusters = 1;
    uint16_t proxy_port = listen_on(&proxy_listener, proxy_on_conn);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", proxy_port, &a);
    uv_tcp_init(&loop, &cl.tcp);
    T_EQ_INT(uv_tcp_connect(&cl.cr, &cl.tcp, (struct sockaddr *)&a, cl_connected), 0);
    T_ASSERT(run_until_flag(&cl.connected));
    T_ASSERT(run_until_flag(&tf.creates));
}

static void teardown(void)
{
    if (!uv_is_closing((uv_handle_t *)&cl.tcp))
        uv_close((uv_handle_t *)&cl.tcp, NULL);
    for (int i = 0; i < 100 && worker.n_tcp_sessions; i++)
        uv_run(&loop, UV_RUN_ONCE);
    T_EQ_INT(worker.n_tcp_sessions, 0);
    sl_cluster_destroy(cluster_list[0]);
    uv_close((uv_handle_t *)&echo_listener, NULL);
    uv_close((uv_handle_t *)&proxy_listener, NULL);
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_close((uv_handle_t *)&delay_timer, NULL);
    for (int i = 0; i < 100; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    T_EQ_INT(uv_loop_close(&loop), 0);
    T_EQ_INT(tf.creates, tf.destroys);
    T_EQ_INT(tf.closes, tf.creates);
    sl_tcp_chain_free(chain);
    sl_cluster_def_free(def);
    sl_config_free(cfg);
    sl_stats_shutdown();
}

/* ---- cases ---------------------------------------------------------------------------------- */

TEST(filter_modifies_bytes_both_ways)
{
    setup();
    tf.upper_down = true;
    tf.suffix_up = true;
    T_ASSERT(run_until_flag(&tf.new_conns));
    run_until_got(0);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_ONCE); /* let the upstream connect */
    cl_send("hello");
    T_ASSERT(run_until_got(6));
    T_EQ_STR(cl.got, "HELLO!");
    teardown();
}

TEST(filter_holds_bytes_until_enough_arrived)
{
    setup();
    tf.hold_until = 10;
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_ONCE);
    cl_send("12345");
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_ONCE);
    T_EQ_INT(cl.got_len, 0); /* held */
    cl_send("67890abc");
    T_ASSERT(run_until_got(13));
    T_EQ_STR(cl.got, "1234567890abc");
    teardown();
}

TEST(filter_delays_the_upstream_connect_and_writes_a_banner)
{
    setup();
    tf.delay_connect = true;
    tf.banner = true;
    /* setup already ran on_new_connection with the flags off; reconnect with them on. */
    uv_close((uv_handle_t *)&cl.tcp, NULL);
    for (int i = 0; i < 100 && worker.n_tcp_sessions; i++)
        uv_run(&loop, UV_RUN_ONCE);
    struct sockaddr_in a;
    int len = sizeof a;
    uv_tcp_getsockname(&proxy_listener, (struct sockaddr *)&a, &len);
    memset(&cl, 0, sizeof cl);
    uv_tcp_init(&loop, &cl.tcp);
    T_EQ_INT(uv_tcp_connect(&cl.cr, &cl.tcp, (struct sockaddr *)&a, cl_connected), 0);
    T_ASSERT(run_until_got(3));
    T_EQ_STR(cl.got, "hi\n");
    T_EQ_STR(sl_nf_upstream_address(tf.conn), ""); /* not connected yet */
    cl_send("ping");
    T_ASSERT(run_until_got(7));
    T_EQ_STR(cl.got, "hi\nping");
    T_ASSERT(strncmp(sl_nf_upstream_address(tf.conn), "127.0.0.1:", 10) == 0);
    teardown();
}

TEST(filter_can_close_the_connection)
{
    setup();
    tf.close_on = "QUIT";
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_ONCE);
    cl_send("data");
    T_ASSERT(run_until_got(4));
    cl_send("QUIT");
    T_ASSERT(run_until_flag(&cl.eof));
    T_EQ_INT(tf.closes, 1);
    T_EQ_INT(tf.last_why, SL_NF_CLOSE_LOCAL);
    teardown();
}

TEST(client_close_reaches_filters_once)
{
    setup();
    T_ASSERT(sl_worker_cluster(&worker, "echo") == cluster_list[0]);
    T_ASSERT(sl_worker_cluster(&worker, "other") == NULL);
    T_ASSERT(sl_worker_cluster_at(&worker, cfg->clusters[0].index) == cluster_list[0]);
    T_ASSERT(sl_worker_cluster_at(&worker, 1) == NULL);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_ONCE);
    cl_send("x");
    T_ASSERT(run_until_got(1));
    uv_close((uv_handle_t *)&cl.tcp, NULL);
    for (int i = 0; i < 200 && worker.n_tcp_sessions; i++)
        uv_run(&loop, UV_RUN_ONCE);
    T_EQ_INT(tf.closes, 1);
    T_ASSERT(tf.last_why == SL_NF_CLOSE_DOWNSTREAM);
    teardown();
}
