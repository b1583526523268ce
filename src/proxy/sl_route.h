/* Route selection for HTTP requests: virtual host by Host/:authority (exact, *.suffix,
 * prefix.*, *), then the first route whose path and header matchers accept the request. */
#ifndef SLUICE_PROXY_SL_ROUTE_H
#define SLUICE_PROXY_SL_ROUTE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "proxy/sl_config.h"
#include "proxy/sl_filter.h"
#include "proxy/sl_status.h"

/* One route ready to match: its configuration plus the regex compiled for this thread. */
typedef struct sl_route {
    const sl_route_config_t *cfg;   /* borrowed: the configuration outlives the table */
    const sl_vhost_config_t *vhost; /* borrowed */
    regex_t re;                     /* owned: compiled when cfg->match_kind is REGEX */
    bool has_re;
    regex_t rw_re;                  /* owned: cfg->regex_rewrite_pattern compiled */
    bool has_rw_re;
} sl_route_t;

/* A route table for one thread (regex_t is not shared across threads). */
typedef struct sl_route_table {
    const sl_route_table_config_t *cfg; /* borrowed */
    sl_route_t *routes;                 /* owned: every route of every vhost, config order */
    size_t n_routes;
    size_t *vhost_first;                /* owned: index of each vhost's first route */
} sl_route_table_t;

/* Builds a table. Fails with SL_ERR_NOMEM, or SL_ERR_CONFIG when a regex does not compile
 * (message in err naming the route's line). */
sl_status_t sl_route_table_new(const sl_route_table_config_t *cfg, sl_route_table_t **out,
                               char *err, size_t err_len);
void sl_route_table_free(sl_route_table_t *t);

/* The virtual host for `host` (a port suffix ":123" is ignored; case-insensitive), using
 * Envoy's order: exact, longest *.suffix, longest prefix.*, then "*". -1 when none. */
long sl_route_find_vhost(const sl_route_table_t *t, const char *host, size_t host_len);

/* The first route of the matching vhost that accepts the request headers (":authority",
 * ":path" and the header matchers). NULL when no vhost or no route matches (404). */
const sl_route_t *sl_route_match(const sl_route_table_t *t, const sl_hmap_t *headers);

/* Applies the route's path rewrite to ":path" (keeping the original in
 * x-envoy-original-path) and host_rewrite_literal to ":authority". The path rewrite is, as in
 * Envoy: prefix_rewrite replaces the matched prefix (prefix routes), or the whole path
 * before '?' (path and safe_regex routes); regex_rewrite replaces every match of its pattern
 * in the path before '?' with the substitution, and leaves the path alone when the result
 * would be empty. The query string is kept. False when out of memory. */
bool sl_route_rewrite(const sl_route_t *r, sl_hmap_t *headers);

#endif
