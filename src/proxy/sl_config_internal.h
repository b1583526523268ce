/* Shared by the sl_config*.c files only: the load arena, the YAML node tree with its marks,
 * and the typed accessors that walk it so that every key of every mapping is accounted for. */
#ifndef SLUICE_PROXY_SL_CONFIG_INTERNAL_H
#define SLUICE_PROXY_SL_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/sl_config.h"

/* ---- arena: every allocation of one configuration, freed at once --------------------------- */

typedef struct sl__arena_chunk sl__arena_chunk_t;
typedef struct sl__arena {
    sl__arena_chunk_t *head; /* owned list of chunks, newest first */
    size_t total;            /* bytes obtained from malloc, for limits */
} sl__arena_t;

void *sl__arena_alloc(sl__arena_t *a, size_t size);                /* zeroed; NULL on OOM */
char *sl__arena_strndup(sl__arena_t *a, const char *s, size_t len); /* NUL-terminated */
void sl__arena_dispose(sl__arena_t *a);

struct sl_config_private {
    sl__arena_t arena;     /* owns the sl_config_t itself and the whole tree */
    _Atomic unsigned refs; /* sl_config_ref / sl_config_free */
    /* arena: the clusters sorted by name, for lookups in O(log n) during and after load */
    const sl_cluster_config_t **clusters_by_name;
};

/* ---- YAML node tree ------------------------------------------------------------------------ */

typedef enum { SL__N_SCALAR, SL__N_MAP, SL__N_SEQ } sl__node_kind_t;

typedef struct sl__node sl__node_t;
struct sl__node {
    sl__node_kind_t kind;
    bool plain;            /* SCALAR: written without quotes (so `null`, `~`, `` are null) */
    uint32_t line, column; /* 1-based start mark */
    const char *str;       /* SCALAR: arena, NUL-terminated (may contain NUL: use len) */
    size_t len;
    /* MAP: items[2i] is a key (always a SCALAR), items[2i+1] its value; n = pairs.
     * SEQ: items[i]; n = items. Arena array of arena nodes (aliases share nodes). */
    sl__node_t **items;
    size_t n;
    bool *used; /* MAP: arena, one flag per pair, set when an accessor reads the key */
    size_t weight; /* nodes in the subtree counting alias targets, for the expansion limit */
};

/* Most nesting and most nodes (after alias expansion) one configuration may have. */
#define SL__YAML_MAX_DEPTH 64
#define SL__YAML_MAX_WEIGHT 1000000u

/* ---- load context -------------------------------------------------------------------------- */

typedef struct sl__ctx {
    sl__arena_t *arena;      /* borrowed: the config's arena */
    sl_config_t *cfg;        /* arena: the configuration being built */
    sl_config_error_t *err;  /* borrowed; never NULL (points at a local when the user's is) */
    sl_config_warning_t *warnings; /* owned (malloc) while loading, copied to the arena */
    size_t n_warnings, cap_warnings;
    const sl_wasm_plugin_config_t **plugins; /* owned (malloc) while loading, likewise */
    size_t n_plugins, cap_plugins;
} sl__ctx_t;

/* Records the first error (SL_ERR_CONFIG) with the position of `at` (NULL: none) and
 * " at line L:C" appended to the message; returns SL_ERR_CONFIG. */
sl_status_t sl__fail(sl__ctx_t *c, const sl__node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sl_status_t sl__fail_status(sl__ctx_t *c, sl_status_t st, uint32_t line, uint32_t column,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
sl_status_t sl__nomem(sl__ctx_t *c);
/* Adds a warning for `key` (a key node) of a mapping that is `what`. */
sl_status_t sl__warn(sl__ctx_t *c, const sl__node_t *key, const char *what, const char *why);

/* Parses YAML text into a node tree in the arena; the root must be a mapping. */
sl_status_t sl__yaml_parse(sl__ctx_t *c, const char *text, size_t len, sl__node_t **root);

/* ---- typed accessors ------------------------------------------------------------------------
 * Each reads one key of a mapping, marks it used, leaves *out alone when the key is absent or
 * null, and fails naming key, context and line when the value has the wrong shape. `what`
 * names the mapping in messages ("listener", "socket_address"). */

/* Value node of `key` (marked used), NULL when absent or null. */
const sl__node_t *sl__get(const sl__node_t *map, const char *key);
/* Key node of `key` (for positions), NULL when absent. */
const sl__node_t *sl__key(const sl__node_t *map, const char *key);
bool sl__is_null(const sl__node_t *n);
const char *sl__kind_str(const sl__node_t *n);

sl_status_t sl__want_map(sl__ctx_t *c, const sl__node_t *n, const char *key, const char *what);
sl_status_t sl__want_seq(sl__ctx_t *c, const sl__node_t *n, const char *key, const char *what);
sl_status_t sl__want_scalar(sl__ctx_t *c, const sl__node_t *n, const char *key,
                            const char *what);

/* Starts walking a mapping: checks that `n` is one and clears its used flags. */
sl_status_t sl__map_begin(sl__ctx_t *c, const sl__node_t *n, const char *what);
/* Checks the keys of a begun mapping up front, so that an unknown key is reported before any
 * "needs 'x'" error it may have caused: each key must be in `known` (NULL-terminated; the
 * keys the caller reads or rejects) or in `unsupported` (warned about and marked read). */
sl_status_t sl__map_keys(sl__ctx_t *c, const sl__node_t *n, const char *what,
                         const char *const *known, const char *const *unsupported);
/* sl__map_begin then sl__map_keys. */
sl_status_t sl__map_open(sl__ctx_t *c, const sl__node_t *n, const char *what,
                         const char *const *known, const char *const *unsupported);
/* Ends it: a key not read is an error ("unknown key 'k' in what at line L:C") unless it is in
 * `unsupported` (NULL-terminated, may be NULL), which gives a warning instead. */
sl_status_t sl__map_end(sl__ctx_t *c, const sl__node_t *n, const char *what,
                        const char *const *unsupported);
/* Fails when `key` is present: a known key whose meaning sluice cannot honour safely. */
sl_status_t sl__reject(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                       const char *why);

sl_status_t sl__str(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                    const char **out);
sl_status_t sl__str_req(sl__ctx_t *c, const sl__node_t *map, const char *key,
                        const char *what, const char **out);
sl_status_t sl__bool(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                     bool *out);
sl_status_t sl__u64(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                    uint64_t min, uint64_t max, uint64_t *out);
sl_status_t sl__u32(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                    uint32_t min, uint32_t max, uint32_t *out);
/* Envoy duration ("1.5s", "0.250s", {seconds, nanos}) or sluice's "100ms"; to ms, rounding a
 * non-zero sub-millisecond value up to 1 so it never turns into "disabled". */
sl_status_t sl__duration_ms(sl__ctx_t *c, const sl__node_t *map, const char *key,
                            const char *what, uint64_t *out);
/* One of `names` (NULL-terminated); *out is its index. */
sl_status_t sl__enum(sl__ctx_t *c, const sl__node_t *map, const char *key, const char *what,
                     const char *const *names, int *out);
/* Standard base64 (proto3 JSON bytes; the URL-safe alphabet and missing padding too). */
sl_status_t sl__base64(sl__ctx_t *c, const sl__node_t *at, const char *what,
                       sl_config_bytes_t *out);

/* Parses a scalar (already checked to be one) into a number / duration. */
sl_status_t sl__scalar_u64(sl__ctx_t *c, const sl__node_t *v, const char *key,
                           const char *what, uint64_t min, uint64_t max, uint64_t *out);
sl_status_t sl__scalar_duration_ms(sl__ctx_t *c, const sl__node_t *v, const char *key,
                                   const char *what, uint64_t *out);

/* A typed_config / Any: `n` is the mapping holding "@type". For a TypedStruct the inner
 * type_url and `value` mapping are returned (the wrapper is checked for stray keys); otherwise
 * the mapping itself with "@type" marked used. Unknown type URLs fail naming the URL. */
sl_status_t sl__typed(sl__ctx_t *c, const sl__node_t *n, const char *what,
                      sl_config_type_t *type, const sl__node_t **msg);
/* The type a typed_config names (through a TypedStruct too) without reporting anything;
 * SL_TYPE_NONE when it is absent, malformed or unknown. */
sl_config_type_t sl__typed_peek(const sl__node_t *n);
sl_config_type_t sl__type_of_url(const char *url);
/* google.protobuf.Any holding StringValue / BytesValue / Struct -> bytes (Struct renders
 * as JSON); other types fail. */
sl_status_t sl__any_bytes(sl__ctx_t *c, const sl__node_t *n, const char *what,
                          sl_config_bytes_t *out);

/* address { socket_address { address, port_value } }. */
sl_status_t sl__address(sl__ctx_t *c, const sl__node_t *n, const char *what, bool need_ip,
                        bool allow_port0, sl_address_config_t *out);

/* ---- shared helpers ------------------------------------------------------------------------ */

/* An empty mapping standing for an absent message (its required keys are then reported). */
const sl__node_t *sl__empty_map(sl__ctx_t *c, const sl__node_t *at);
/* A zeroed arena array of n elements; NULL when n is 0 (or on OOM: check n). */
void *sl__array(sl__ctx_t *c, size_t n, size_t size);
/* An arena copy of s in lower case (header names, domains). */
char *sl__lower_dup(sl__ctx_t *c, const char *s);

/* ---- the parts ----------------------------------------------------------------------------- */

sl_status_t sl__clusters(sl__ctx_t *c, const sl__node_t *seq);
sl_status_t sl__listeners(sl__ctx_t *c, const sl__node_t *seq);
sl_status_t sl__route_table(sl__ctx_t *c, const sl__node_t *n, sl_route_table_config_t *out);
/* An upgrade_configs list (connection manager or route): entries {upgrade_type, enabled};
 * per-upgrade `filters` and `connect_config` are rejected. */
sl_status_t sl__upgrade_configs(sl__ctx_t *c, const sl__node_t *seq, const char *what,
                                const sl_upgrade_config_t **out, size_t *n_out);
sl_status_t sl__wasm_plugin(sl__ctx_t *c, const sl__node_t *n, const char *what,
                            sl_wasm_plugin_config_t *out);
sl_status_t sl__hcm(sl__ctx_t *c, const sl__node_t *msg, uint64_t buffer_limit,
                    sl_hcm_config_t *out);
/* Both run after static_resources.clusters is loaded (whatever the written order), so
 * cluster names resolve to sl_config_t.clusters at once. */

#endif
