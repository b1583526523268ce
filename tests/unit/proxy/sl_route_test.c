/* Unit tests of route selection: domain precedence, path matchers, header matchers and the
 * rewrites, on route tables built directly from configuration structs. */
#include "proxy/sl_route.h"

#include <stdio.h>
#include <string.h>

#include "../../t.h"

static sl_domain_config_t dom(const char *pattern, sl_domain_kind_t kind, const char *part)
{
    return (sl_domain_config_t){pattern, kind, part, strlen(part)};
}

static sl_route_config_t route(sl_path_match_kind_t k, const char *v, const char *cluster)
{
    sl_route_config_t r = {0};
    r.match_kind = k;
    r.match_value = v;
    r.case_sensitive = true;
    r.action = SL_ROUTE_ACTION_ROUTE;
    r.cluster = cluster;
    r.name = cluster;
    return r;
}

/* vhosts: 0 exact "api.example.com", 1 "*.example.com", 2 "*.b.example.com", 3 "www.*",
 * 4 "*". */
static sl_domain_config_t d0[1], d1[1], d2[1], d3[1], d4[1];
static sl_route_config_t r0[4], r1[1], r2[1], r3[1], r4[1];
static sl_header_matcher_config_t hm[2];
static sl_vhost_config_t vh[5];
static sl_route_table_config_t table_cfg;

static sl_route_table_t *make_table(void)
{
    d0[0] = dom("api.example.com", SL_DOMAIN_EXACT, "api.example.com");
    d1[0] = dom("*.example.com", SL_DOMAIN_SUFFIX, ".example.com");
    d2[0] = dom("*.b.example.com", SL_DOMAIN_SUFFIX, ".b.example.com");
    d3[0] = dom("www.*", SL_DOMAIN_PREFIX, "www.");
    d4[0] = dom("*", SL_DOMAIN_ANY, "");
    hm[0] = (sl_header_matcher_config_t){"x-canary", SL_HEADER_MATCH_EXACT, "yes", false, 1};
    hm[1] = (sl_header_matcher_config_t){"x-debug", SL_HEADER_MATCH_PRESENT, "", false, 1};
    r0[0] = route(SL_PATH_MATCH_PATH, "/exact", "exact");
    r0[1] = route(SL_PATH_MATCH_REGEX, "/items/[0-9]+", "regex");
    r0[2] = route(SL_PATH_MATCH_PREFIX, "/v1/", "canary");
    r0[2].headers = hm;
    r0[2].n_headers = 2;
    r0[3] = route(SL_PATH_MATCH_PREFIX, "/v1/", "v1");
    r0[3].prefix_rewrite = "/api/";
    r0[3].host_rewrite_literal = "backend.local";
    r1[0] = route(SL_PATH_MATCH_PREFIX, "/", "suffix");
    r2[0] = route(SL_PATH_MATCH_PREFIX, "/", "longsuffix");
    r3[0] = route(SL_PATH_MATCH_PREFIX, "/", "prefix");
    r4[0] = route(SL_PATH_MATCH_PREFIX, "/only", "any");
    vh[0] = (sl_vhost_config_t){"v0", d0, 1, r0, 4, 1};
    vh[1] = (sl_vhost_config_t){"v1", d1, 1, r1, 1, 1};
    vh[2] = (sl_vhost_config_t){"v2", d2, 1, r2, 1, 1};
    vh[3] = (sl_vhost_config_t){"v3", d3, 1, r3, 1, 1};
    vh[4] = (sl_vhost_config_t){"v4", d4, 1, r4, 1, 1};
    table_cfg = (sl_route_table_config_t){"rc", vh, 5, 1};
    sl_route_table_t *t = NULL;
    char err[128];
    T_EQ_INT(sl_route_table_new(&table_cfg, &t, err, sizeof(err)), SL_OK);
    return t;
}

static const char *pick(sl_route_table_t *t, const char *host, const char *path,
                        const char *hname, const char *hvalue)
{
    static char arena_mem[4096];
    sl_arena_t a;
    sl_arena_init(&a, arena_mem, sizeof(arena_mem));
    sl_hmap_t h;
    sl_hmap_init(&h, &a);
    sl_hmap_addz(&h, ":authority", host);
    sl_hmap_addz(&h, ":path", path);
    if (hname)
        sl_hmap_addz(&h, hname, hvalue);
    const sl_route_t *r = sl_route_match(t, &h);
    const char *out = r ? r->cfg->cluster : "404";
    sl_arena_dispose(&a);
    return out;
}

TEST(domain_exact_beats_suffix)
{
    sl_route_table_t *t = make_table();
    T_EQ_STR(pick(t, "api.example.com", "/exact", NULL, NULL), "exact");
    T_EQ_STR(pick(t, "API.Example.com:8080", "/exact", NULL, NULL), "exact");
    sl_route_table_free(t);
}

TEST(domain_longest_suffix_then_prefix_then_any)
{
    sl_route_table_t *t = make_table();
    T_EQ_STR(pick(t, "x.example.com", "/", NULL, NULL), "suffix");
    T_EQ_STR(pick(t, "x.b.example.com", "/", NULL, NULL), "longsuffix");
    T_EQ_STR(pick(t, "www.other.org", "/", NULL, NULL), "prefix");
    /* Suffix beats prefix (Envoy's order). */
    T_EQ_STR(pick(t, "www.example.com", "/", NULL, NULL), "suffix");
    T_EQ_STR(pick(t, "other.org", "/only/x", NULL, NULL), "any");
    /* The suffix needs a non-empty label before it. */
    T_EQ_STR(pick(t, ".example.com", "/only", NULL, NULL), "any");
    sl_route_table_free(t);
}

TEST(no_route_is_404)
{
    sl_route_table_t *t = make_table();
    T_EQ_STR(pick(t, "other.org", "/elsewhere", NULL, NULL), "404");
    T_EQ_STR(pick(t, "api.example.com", "/nothing", NULL, NULL), "404");
    sl_route_table_free(t);
}

TEST(path_exact_ignores_query_regex_is_anchored)
{
    sl_route_table_t *t = make_table();
    T_EQ_STR(pick(t, "api.example.com", "/exact?a=1", NULL, NULL), "exact");
    T_EQ_STR(pick(t, "api.example.com", "/exact/more", NULL, NULL), "404");
    T_EQ_STR(pick(t, "api.example.com", "/items/42", NULL, NULL), "regex");
    T_EQ_STR(pick(t, "api.example.com", "/items/42?x", NULL, NULL), "regex");
    T_EQ_STR(pick(t, "api.example.com", "/items/42x", NULL, NULL), "404");
    T_EQ_STR(pick(t, "api.example.com", "/pre/items/42", NULL, NULL), "404");
    sl_route_table_free(t);
}

TEST(header_matchers_all_must_match)
{
    sl_route_table_t *t = make_table();
    /* Only one of the two matchers: falls through to the next route. */
    T_EQ_STR(pick(t, "api.example.com", "/v1/a", "x-canary", "yes"), "v1");
    T_EQ_STR(pick(t, "api.example.com", "/v1/a", "x-debug", ""), "v1");
    sl_route_table_free(t);
}

TEST(header_matchers_match_with_both)
{
    sl_route_table_t *t = make_table();
    static char mem[4096];
    sl_arena_t a;
    sl_arena_init(&a, mem, sizeof(mem));
    sl_hmap_t h;
    sl_hmap_init(&h, &a);
    sl_hmap_addz(&h, ":authority", "api.example.com");
    sl_hmap_addz(&h, ":path", "/v1/z");
    sl_hmap_addz(&h, "X-Canary", "yes");
    sl_hmap_addz(&h, "x-debug", "1");
    const sl_route_t *r = sl_route_match(t, &h);
    T_ASSERT(r != NULL);
    T_EQ_STR(r->cfg->cluster, "canary");
    sl_hmap_setz(&h, "x-canary", "no");
    r = sl_route_match(t, &h);
    T_EQ_STR(r->cfg->cluster, "v1");
    sl_arena_dispose(&a);
    sl_route_table_free(t);
}

TEST(prefix_and_host_rewrite)
{
    sl_route_table_t *t = make_table();
    static char mem[4096];
    sl_arena_t a;
    sl_arena_init(&a, mem, sizeof(mem));
    sl_hmap_t h;
    sl_hmap_init(&h, &a);
    sl_hmap_addz(&h, ":authority", "api.example.com");
    sl_hmap_addz(&h, ":path", "/v1/users?id=3");
    const sl_route_t *r = sl_route_match(t, &h);
    T_EQ_STR(r->cfg->cluster, "v1");
    T_ASSERT(sl_route_rewrite(r, &h));
    T_EQ_STR(sl_hmap_getz(&h, ":path"), "/api/users?id=3");
    T_EQ_STR(sl_hmap_getz(&h, ":authority"), "backend.local");
    T_EQ_STR(sl_hmap_getz(&h, "x-envoy-original-path"), "/v1/users?id=3");
    sl_arena_dispose(&a);
    sl_route_table_free(t);
}

/* Applies the rewrite of the only route of a one-route table to `path`; returns the new
 * :path (copied to out). */
static const char *rewrite_one(sl_route_config_t *rc, const char *path, char *out, size_t n)
{
    static sl_domain_config_t d[1];
    static sl_vhost_config_t v[1];
    d[0] = dom("*", SL_DOMAIN_ANY, "");
    v[0] = (sl_vhost_config_t){"v", d, 1, rc, 1, 1};
    sl_route_table_config_t cfg = {"rc", v, 1, 1};
    sl_route_table_t *t = NULL;
    char err[128] = "";
    T_EQ_INT(sl_route_table_new(&cfg, &t, err, sizeof(err)), SL_OK);
    static char mem[4096];
    sl_arena_t a;
    sl_arena_init(&a, mem, sizeof(mem));
    sl_hmap_t h;
    sl_hmap_init(&h, &a);
    sl_hmap_addz(&h, ":authority", "x");
    sl_hmap_addz(&h, ":path", path);
    const sl_route_t *r = sl_route_match(t, &h);
    snprintf(out, n, "no route");
    if (r) {
        T_ASSERT(sl_route_rewrite(r, &h));
        snprintf(out, n, "%s", sl_hmap_getz(&h, ":path"));
    }
    sl_arena_dispose(&a);
    sl_route_table_free(t);
    return out;
}

TEST(prefix_rewrite_on_regex_route_replaces_the_whole_path)
{
    static sl_route_config_t rc[1];
    char out[256];
    rc[0] = route(SL_PATH_MATCH_REGEX, "/items/[0-9]+", "c");
    rc[0].prefix_rewrite = "/item";
    T_EQ_STR(rewrite_one(rc, "/items/42?full=1", out, sizeof(out)), "/item?full=1");
    T_EQ_STR(rewrite_one(rc, "/items/7", out, sizeof(out)), "/item");
}

TEST(regex_rewrite_substitutes_groups_and_keeps_the_query)
{
    static sl_route_config_t rc[1];
    char out[256];
    rc[0] = route(SL_PATH_MATCH_PREFIX, "/", "c");
    rc[0].regex_rewrite_pattern = "^/service/([^/]+)(/.*)$";
    rc[0].regex_rewrite_substitution = "\\2/instance/\\1";
    T_EQ_STR(rewrite_one(rc, "/service/foo/v1/api?x=1", out, sizeof(out)),
             "/v1/api/instance/foo?x=1");
    /* No match: the path is left alone. */
    T_EQ_STR(rewrite_one(rc, "/other/path", out, sizeof(out)), "/other/path");
    /* Every match is replaced, \\0 is the whole match, \\\\ a backslash. */
    rc[0].regex_rewrite_pattern = "o+";
    rc[0].regex_rewrite_substitution = "<\\0\\\\>";
    T_EQ_STR(rewrite_one(rc, "/foo/boo/x?o=o", out, sizeof(out)), "/f<oo\\>/b<oo\\>/x?o=o");
    /* A result that would be empty leaves the path unchanged, as Envoy does. */
    rc[0].regex_rewrite_pattern = ".*";
    rc[0].regex_rewrite_substitution = "";
    T_EQ_STR(rewrite_one(rc, "/gone", out, sizeof(out)), "/gone");
    /* An empty match where the previous one ended is skipped (RE2's global replace). */
    rc[0].regex_rewrite_substitution = "/x";
    T_EQ_STR(rewrite_one(rc, "/gone?q", out, sizeof(out)), "/x?q");
    rc[0].regex_rewrite_pattern = "b*";
    rc[0].regex_rewrite_substitution = "-";
    T_EQ_STR(rewrite_one(rc, "/abc", out, sizeof(out)), "-/-a-c-");
}

TEST(bad_regex_is_a_config_error)
{
    static sl_route_config_t bad[1];
    static sl_domain_config_t d[1];
    static sl_vhost_config_t v[1];
    d[0] = dom("*", SL_DOMAIN_ANY, "");
    bad[0] = route(SL_PATH_MATCH_REGEX, "/(unclosed", "c");
    bad[0].line = 17;
    v[0] = (sl_vhost_config_t){"v", d, 1, bad, 1, 1};
    sl_route_table_config_t cfg = {"rc", v, 1, 1};
    sl_route_table_t *t = (sl_route_table_t *)1;
    char err[128] = "";
    T_EQ_INT(sl_route_table_new(&cfg, &t, err, sizeof(err)), SL_ERR_CONFIG);
    T_ASSERT(t == NULL);
    T_ASSERT(strstr(err, "line 17") != NULL);
}

TEST(header_map_set_add_remove)
{
    static char mem[256];
    sl_arena_t a;
    sl_arena_init(&a, mem, sizeof(mem));
    sl_hmap_t h;
    sl_hmap_init(&h, &a);
    for (int i = 0; i < 40; i++)
        T_ASSERT(sl_hmap_addz(&h, "X-Many", "v"));
    T_ASSERT(sl_hmap_addz(&h, "other", "o"));
    T_EQ_INT(sl_hmap_size(&h), 41);
    T_ASSERT(sl_hmap_setz(&h, "x-many", "one"));
    T_EQ_INT(sl_hmap_size(&h), 2);
    T_EQ_STR(sl_hmap_getz(&h, "X-MANY"), "one");
    T_EQ_STR(sl_hmap_at(&h, 0)->name, "x-many");
    T_EQ_INT(sl_hmap_removez(&h, "x-many"), 1);
    T_EQ_INT(sl_hmap_size(&h), 1);
    T_EQ_INT(h.bytes, 6);
    T_ASSERT(sl_hmap_getz(&h, "x-many") == NULL);
    sl_arena_dispose(&a);
}

TEST(body_buffer_borrow_copy_on_write)
{
    char src[] = "hello world";
    sl_buf_t b;
    sl_buf_init(&b);
    sl_buf_borrow(&b, src, 11);
    T_ASSERT(b.data == src);
    T_ASSERT(sl_buf_replace(&b, 0, 5, "HOWDY THERE", 11));
    T_ASSERT(b.data != src);
    T_EQ_MEM(b.data, b.len, "HOWDY THERE world", 17);
    T_EQ_STR(src, "hello world");
    sl_buf_drain(&b, 6);
    T_ASSERT(sl_buf_prepend(&b, ">", 1));
    T_ASSERT(sl_buf_append(&b, "<", 1));
    T_EQ_MEM(b.data, b.len, ">THERE world<", 13);
    sl_buf_dispose(&b);
}
