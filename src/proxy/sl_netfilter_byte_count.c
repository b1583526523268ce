/* sluice.filters.network.byte_count: a native network filter that counts the bytes of each
 * connection in both directions (stats and a log line at close), passing them unchanged. */
#include <stdio.h>
#include <stdlib.h>

#include "proxy/sl_log.h"
#include "proxy/sl_netfilter.h"
#include "proxy/sl_stats.h"

typedef struct bc_shared {
    char prefix[128];
    sl_counter_t connections, downstream_bytes, upstream_bytes;
} bc_shared_t;

typedef struct bc_state {
    const bc_shared_t *shared; /* borrowed: lives as long as the configuration */
    uint64_t down, up;
} bc_state_t;

static sl_status_t bc_configure(const sl_network_filter_config_t *cfg, void **shared,
                                char *err, size_t err_len)
{
    bc_shared_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "byte_count (line %u): out of memory", cfg->line);
        return SL_ERR_NOMEM;
    }
    const char *p = cfg->byte_count_stat_prefix && cfg->byte_count_stat_prefix[0]
                        ? cfg->byte_count_stat_prefix
                        : "default";
    snprintf(s->prefix, sizeof s->prefix, "%s", p);
    s->connections = sl_stats_counterf("byte_count.%s.connections_total", s->prefix);
    s->downstream_bytes = sl_stats_counterf("byte_count.%s.downstream_bytes_total", s->prefix);
    s->upstream_bytes = sl_stats_counterf("byte_count.%s.upstream_bytes_total", s->prefix);
    *shared = s;
    return SL_OK;
}

static void bc_release(void *shared)
{
    free(shared);
}

static void *bc_create(void *shared, sl_nf_conn_t *conn, bool *ok)
{
    bc_state_t *st = calloc(1, sizeof *st);
    if (!st) {
        *ok = false;
        return NULL;
    }
    st->shared = shared;
    sl_stats_inc(sl_nf_worker(conn), st->shared->connections, 1);
    return st;
}

static sl_nf_status_t bc_down(void *state, sl_nf_conn_t *conn, sl_buf_t *data, bool end)
{
    (void)end;
    bc_state_t *st = state;
    st->down += data->len;
    sl_stats_inc(sl_nf_worker(conn), st->shared->downstream_bytes, data->len);
    return SL_NF_CONTINUE;
}

static sl_nf_status_t bc_up(void *state, sl_nf_conn_t *conn, sl_buf_t *data, bool end)
{
    (void)end;
    bc_state_t *st = state;
    st->up += data->len;
    sl_stats_inc(sl_nf_worker(conn), st->shared->upstream_bytes, data->len);
    return SL_NF_CONTINUE;
}

static void bc_close(void *state, sl_nf_conn_t *conn, sl_nf_close_t why)
{
    (void)why;
    bc_state_t *st = state;
    SL_INFO("byte_count %s: connection %llu from %s: %llu bytes from the client, %llu from "
            "the upstream",
            st->shared->prefix, (unsigned long long)sl_nf_id(conn),
            sl_nf_downstream_address(conn), (unsigned long long)st->down,
            (unsigned long long)st->up);
}

static const sl_netfilter_ops_t byte_count_ops = {
    .name = "sluice.filters.network.byte_count",
    .configure = bc_configure,
    .release = bc_release,
    .create = bc_create,
    .on_downstream_data = bc_down,
    .on_upstream_data = bc_up,
    .on_close = bc_close,
    .destroy = free,
};

void sl_netfilter_register_builtins(void)
{
    sl_netfilter_register(SL_NETWORK_FILTER_BYTE_COUNT, &byte_count_ops);
    sl_netfilter_wasm_register();
}
