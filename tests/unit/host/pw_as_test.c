/* Host tests with plugins built by a third-party SDK (AssemblyScript + @solo-io/proxy-runtime
 * from npm, built on first use by examples/plugins/as/build.sh): add a header, local reply. */
#include "../../t.h"
#include "sluice/host.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef PW_TEST_PLUGIN_DIR
#define PW_TEST_PLUGIN_DIR "build/plugins"
#endif

/* ---- a minimal fake stream: request/response header maps and replies ------------------------ */

enum { MAXH = 16 };
typedef struct fake {
    char *k[2][MAXH], *v[2][MAXH];
    uint32_t n[2];
    int replies;
    uint32_t status;
    char body[128];
} fake_t;

static int idx(pw_map_type_t m) { return m == PW_MAP_REQUEST_HEADERS ? 0 : m == PW_MAP_RESPONSE_HEADERS ? 1 : -1; }

static pw_result_t f_count(void *s, pw_map_type_t m, uint32_t *n)
{
    fake_t *f = s;
    if (idx(m) < 0)
        return PW_R_BAD_ARGUMENT;
    *n = f->n[idx(m)];
    return PW_R_OK;
}

static pw_result_t f_entry(void *s, pw_map_type_t m, uint32_t i, pw_header_t *out)
{
    fake_t *f = s;
    int x = idx(m);
    if (x < 0 || i >= f->n[x])
        return PW_R_NOT_FOUND;
    out->key = (pw_slice_t){(const uint8_t *)f->k[x][i], strlen(f->k[x][i])};
    out->value = (pw_slice_t){(const uint8_t *)f->v[x][i], strlen(f->v[x][i])};
    return PW_R_OK;
}

static pw_result_t f_get(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t *val)
{
    fake_t *f = s;
    int x = idx(m);
    if (x < 0)
        return PW_R_BAD_ARGUMENT;
    for (uint32_t i = 0; i < f->n[x]; i++)
        if (strlen(f->k[x][i]) == key.len && memcmp(f->k[x][i], key.ptr, key.len) == 0) {
            *val = (pw_slice_t){(const uint8_t *)f->v[x][i], strlen(f->v[x][i])};
            return PW_R_OK;
        }
    return PW_R_NOT_FOUND;
}

static pw_result_t f_add(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t val)
{
    fake_t *f = s;
    int x = idx(m);
    if (x < 0 || f->n[x] == MAXH)
        return PW_R_BAD_ARGUMENT;
    f->k[x][f->n[x]] = strndup((const char *)key.ptr, key.len);
    f->v[x][f->n[x]++] = strndup((const char *)val.ptr, val.len);
    return PW_R_OK;
}

static void f_reply(void *s, uint32_t status, pw_slice_t details, pw_slice_t body,
                    const pw_header_t *h, size_t n, int32_t grpc)
{
    fake_t *f = s;
    (void)details, (void)h, (void)n;
    T_EQ_INT(grpc, -1);
    f->replies++;
    f->status = status;
    snprintf(f->body, sizeof f->body, "%.*s", (int)body.len, (const char *)body.ptr);
}

static const pw_stream_ops_t sops = {
    .map_count = f_count, .map_entry = f_entry, .map_get = f_get, .map_add = f_add,
    .send_local_reply = f_reply,
};

static void fake_free(fake_t *f)
{
    for (int x = 0; x < 2; x++)
        for (uint32_t i = 0; i < f->n[x]; i++) {
            free(f->k[x][i]);
            free(f->v[x][i]);
        }
}

/* Builds the AssemblyScript plugins on first use (npm install into the build directory). */
static pw_code_t *load_as(const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s.wasm", PW_TEST_PLUGIN_DIR, name);
    if (stat(path, &sb) != 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "examples/plugins/as/build.sh '%s' >/dev/null 2>&1",
                 PW_TEST_PLUGIN_DIR);
        int rc = system(cmd);
        if (rc != 0)
            t_fail(__FILE__, __LINE__, "building AssemblyScript plugins failed (exit %d): "
                   "npm and the npm registry are needed once", rc);
    }
    FILE *fp = fopen(path, "rb");
    T_ASSERT(fp != NULL);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    T_ASSERT(fread(b, 1, (size_t)n, fp) == (size_t)n);
    fclose(fp);
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    pw_status_t st = pw_code_load(b, (size_t)n, &c, &err);
    free(b);
    if (st != PW_OK)
        t_fail(__FILE__, __LINE__, "load %s: %s", name, err.message);
    T_EQ_INT(pw_code_abi(c), PW_ABI_0_2_0);
    return c;
}

static void run(const char *name, const char *conf, const char *path, fake_t *f,
                pw_action_t *req, pw_action_t *resp)
{
    pw_code_t *c = load_as(name);
    pw_plugin_config_t cfg = {
        .name = name, .root_id = name, .log_level = PW_LOG_INFO,
        .plugin_configuration = {(const uint8_t *)conf, strlen(conf)},
    };
    pw_plugin_t *p;
    pw_error_t err = {0};
    T_EQ_INT(pw_plugin_new(&cfg, c, &p, &err), PW_OK);
    pw_thread_t *t = pw_thread_new(NULL, NULL);
    if (pw_thread_prepare(t, p, &err) != PW_OK)
        t_fail(__FILE__, __LINE__, "prepare %s: %s", name, err.message);
    memset(f, 0, sizeof *f);
    f_add(f, PW_MAP_REQUEST_HEADERS, (pw_slice_t){(const uint8_t *)":path", 5},
          (pw_slice_t){(const uint8_t *)path, strlen(path)});
    pw_stream_t *st = pw_stream_new(t, p, PW_KIND_HTTP, &sops, f);
    *req = pw_stream_on_request_headers(st, 1, true);
    f_add(f, PW_MAP_RESPONSE_HEADERS, (pw_slice_t){(const uint8_t *)":status", 7},
          (pw_slice_t){(const uint8_t *)"200", 3});
    *resp = pw_stream_on_response_headers(st, 1, true);
    T_ASSERT(!pw_stream_failed(st));
    pw_stream_free(st);
    pw_thread_free(t);
    pw_plugin_unref(p);
    pw_code_unref(c);
}

static const char *resp_header(fake_t *f, const char *k)
{
    for (uint32_t i = 0; i < f->n[1]; i++)
        if (strcmp(f->k[1][i], k) == 0)
            return f->v[1][i];
    return NULL;
}

TEST(as_add_header_adds_the_configured_value)
{
    fake_t f;
    pw_action_t a, b;
    run("as_add_header", "from-config", "/", &f, &a, &b);
    T_EQ_INT(a, PW_CONTINUE);
    T_EQ_INT(b, PW_CONTINUE);
    T_EQ_STR(resp_header(&f, "x-as-plugin"), "from-config");
    fake_free(&f);
}

/* A replica serves many streams, some at the same time: what a proxy worker does. */
TEST(as_add_header_serves_many_streams_on_one_replica)
{
    pw_code_t *c = load_as("as_add_header");
    pw_plugin_config_t cfg = {
        .name = "as_add_header", .root_id = "as_add_header", .log_level = PW_LOG_INFO,
        .plugin_configuration = {(const uint8_t *)"many", 4},
    };
    pw_plugin_t *p;
    pw_error_t err = {0};
    T_EQ_INT(pw_plugin_new(&cfg, c, &p, &err), PW_OK);
    pw_thread_t *t = pw_thread_new(NULL, NULL);
    enum { K = 3, ROUNDS = 4 };
    fake_t f[K];
    pw_stream_t *st[K];
    for (int round = 0; round < ROUNDS; round++) {
        int open = round % 2 ? 1 : K; /* odd rounds: one stream at a time */
        for (int base = 0; base < K; base += open) {
            for (int k = base; k < base + open && k < K; k++) {
                memset(&f[k], 0, sizeof f[k]);
                f_add(&f[k], PW_MAP_REQUEST_HEADERS, (pw_slice_t){(const uint8_t *)":path", 5},
                      (pw_slice_t){(const uint8_t *)"/", 1});
                st[k] = pw_stream_new(t, p, PW_KIND_HTTP, &sops, &f[k]);
                T_EQ_INT(pw_stream_on_request_headers(st[k], 1, true), PW_CONTINUE);
            }
            for (int k = base; k < base + open && k < K; k++) {
                f_add(&f[k], PW_MAP_RESPONSE_HEADERS,
                      (pw_slice_t){(const uint8_t *)":status", 7},
                      (pw_slice_t){(const uint8_t *)"200", 3});
                T_EQ_INT(pw_stream_on_response_headers(st[k], 1, true), PW_CONTINUE);
                T_ASSERT(!pw_stream_failed(st[k]));
                T_EQ_STR(resp_header(&f[k], "x-as-plugin"), "many");
                pw_stream_free(st[k]);
                fake_free(&f[k]);
            }
        }
    }
    pw_thread_stats_t stats;
    pw_thread_stats(t, &stats);
    T_EQ_INT(stats.vms_created, 1);
    pw_thread_free(t);
    pw_plugin_unref(p);
    pw_code_unref(c);
}

TEST(as_deny_sends_a_local_reply_for_the_prefix)
{
    fake_t f;
    pw_action_t a, b;
    run("as_deny", "/private", "/private/x", &f, &a, &b);
    T_EQ_INT(a, PW_STOP_ALL_WATERMARK);
    T_EQ_INT(f.replies, 1);
    T_EQ_INT(f.status, 403);
    T_EQ_STR(f.body, "denied by as_deny\n");
    fake_free(&f);
    run("as_deny", "/private", "/public", &f, &a, &b);
    T_EQ_INT(a, PW_CONTINUE);
    T_EQ_INT(f.replies, 0);
    fake_free(&f);
}
