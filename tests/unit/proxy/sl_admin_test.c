/* Unit tests for the admin server's renderings: the configuration as JSON (/config_dump) and
 * the Prometheus exposition of stats (/stats/prometheus). */
#include "proxy/sl_admin.h"

#include <stdlib.h>
#include <string.h>

#include "../../t.h"
#include "proxy/sl_stats.h"

static char *to_json(const char *yaml)
{
    char *out = NULL, err[256];
    T_ASSERT(sl_admin_yaml_to_json(yaml, strlen(yaml), &out, err, sizeof err));
    return out;
}

TEST(yaml_maps_sequences_and_scalars_become_json)
{
    char *j = to_json("a: 1\nb: [x, \"2\", true, null, 1.5e3]\nc: {d: -0.25, e: ''}\n");
    T_EQ_STR(j, "{\"a\":1,\"b\":[\"x\",\"2\",true,null,1.5e3],\"c\":{\"d\":-0.25,\"e\":\"\"}}");
    free(j);
}

TEST(keys_stay_strings_and_text_is_escaped)
{
    char *j = to_json("1: \"quote \\\" back\\\\ tab\\t nl\\n\"\nempty:\n\"@type\": type.x/y\n");
    T_EQ_STR(j, "{\"1\":\"quote \\\" back\\\\ tab\\t nl\\n\",\"empty\":null,"
                "\"@type\":\"type.x/y\"}");
    free(j);
}

TEST(numbers_that_json_would_not_read_stay_strings)
{
    char *j = to_json("- 0123\n- 1s\n- .5\n- 0x10\n- +1\n- 10\n");
    T_EQ_STR(j, "[\"0123\",\"1s\",\".5\",\"0x10\",\"+1\",10]");
    free(j);
}

TEST(nested_envoy_shape)
{
    char *j = to_json("static_resources:\n  clusters:\n  - name: b\n    load_assignment:\n"
                      "      endpoints:\n      - lb_endpoints: []\n");
    T_EQ_STR(j, "{\"static_resources\":{\"clusters\":[{\"name\":\"b\",\"load_assignment\":"
                "{\"endpoints\":[{\"lb_endpoints\":[]}]}}]}}");
    free(j);
}

TEST(bad_yaml_is_an_error_with_a_line)
{
    char *out = NULL, err[256];
    const char *y = "a: 1\nb: [1, 2\nc: 3\n";
    T_ASSERT(!sl_admin_yaml_to_json(y, strlen(y), &out, err, sizeof err));
    T_ASSERT(out == NULL);
    T_ASSERT(strstr(err, "line") != NULL);
}

TEST(empty_document_is_null)
{
    char *j = to_json("");
    T_EQ_STR(j, "null");
    free(j);
}

TEST(prometheus_uses_envoy_tags_and_one_type_line_per_family)
{
    T_ASSERT(sl_stats_init(1));
    sl_stats_inc(NULL, sl_stats_counter("cluster.b-2.upstream_rq_total"), 7);
    sl_stats_inc(NULL, sl_stats_counter("cluster.a.upstream_rq_total"), 1);
    sl_stats_gauge_add(NULL, sl_stats_gauge("listener.127.0.0.1_80.downstream_cx_active"), -2);
    sl_stats_inc(NULL, sl_stats_counter("listener.127.0.0.1_80.worker_1.downstream_cx_total"), 3);
    sl_stats_gauge_add(NULL, sl_stats_gauge("server.live"), 1);
    char *t = sl_admin_prometheus_text();
    T_ASSERT(t != NULL);
    T_EQ_STR(t, "# TYPE envoy_cluster_upstream_rq_total counter\n"
                "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"a\"} 1\n"
                "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"b-2\"} 7\n"
                "# TYPE envoy_listener_downstream_cx_active gauge\n"
                "envoy_listener_downstream_cx_active{envoy_listener_address=\"127.0.0.1_80\"} -2\n"
                "# TYPE envoy_listener_worker_downstream_cx_total counter\n"
                "envoy_listener_worker_downstream_cx_total{envoy_listener_address="
                "\"127.0.0.1_80\",envoy_worker_id=\"1\"} 3\n"
                "# TYPE envoy_server_live gauge\n"
                "envoy_server_live 1\n");
    free(t);
    sl_stats_shutdown();
}
