/* The configuration: an Envoy v3 YAML bootstrap (a documented subset, see docs/config.md)
 * loaded, checked and turned into one immutable tree that every thread reads without locks. */
#ifndef SLUICE_PROXY_SL_CONFIG_H
#define SLUICE_PROXY_SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/sl_status.h"

/* ---- ownership ----------------------------------------------------------------------------
 * sl_config_load_* returns one sl_config_t that owns everything reachable from it: every
 * string, byte slice, array and nested struct lives in the config's arena and dies with the
 * last sl_config_free. Nothing in the tree is ever written after load, so any thread may read
 * it while it holds a reference. Strings are NUL-terminated and never NULL ("" when absent,
 * unless a comment says otherwise); arrays are {pointer, count} with the pointer NULL when the
 * count is 0. `line` fields are 1-based YAML line numbers of the item, for runtime messages. */

/* Bytes that may contain NUL (configuration values, inline code, bodies). ptr is arena-owned,
 * NULL when len is 0; a NUL byte follows the last byte so text users may treat it as a
 * string. */
typedef struct sl_config_bytes {
    const uint8_t *ptr;
    size_t len;
} sl_config_bytes_t;

/* A key and value in written order (env vars, headers). Both arena-owned. */
typedef struct sl_config_kv {
    const char *key;
    const char *value;
} sl_config_kv_t;

/* ---- the "@type" URLs accepted in typed_config (one table) --------------------------------
 * X(id, type name after the last '/' of the URL, canonical filter/extension name or "").
 * Any URL prefix ending in '/' is accepted (Envoy writes "type.googleapis.com/"). */
#define SL_CONFIG_TYPE_LIST(X)                                                               \
    X(SL_TYPE_HCM,                                                                           \
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",   \
      "envoy.filters.network.http_connection_manager")                                      \
    X(SL_TYPE_TCP_PROXY, "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",           \
      "envoy.filters.network.tcp_proxy")                                                     \
    X(SL_TYPE_NETWORK_WASM, "envoy.extensions.filters.network.wasm.v3.Wasm",                 \
      "envoy.filters.network.wasm")                                                          \
    X(SL_TYPE_BYTE_COUNT, "sluice.filters.network.byte_count.v1.ByteCount",                  \
      "sluice.filters.network.byte_count")                                                   \
    X(SL_TYPE_ROUTER, "envoy.extensions.filters.http.router.v3.Router",                      \
      "envoy.filters.http.router")                                                           \
    X(SL_TYPE_HTTP_WASM, "envoy.extensions.filters.http.wasm.v3.Wasm",                       \
      "envoy.filters.http.wasm")                                                             \
    X(SL_TYPE_ADD_HEADER, "sluice.filters.http.add_header.v1.AddHeader",                     \
      "sluice.filters.http.add_header")                                                      \
    X(SL_TYPE_WASM_SERVICE, "envoy.extensions.wasm.v3.WasmService", "envoy.bootstrap.wasm")  \
    X(SL_TYPE_STRING_VALUE, "google.protobuf.StringValue", "")                               \
    X(SL_TYPE_BYTES_VALUE, "google.protobuf.BytesValue", "")                                 \
    X(SL_TYPE_STRUCT, "google.protobuf.Struct", "")                                          \
    X(SL_TYPE_UDPA_TYPED_STRUCT, "udpa.type.v1.TypedStruct", "")                             \
    X(SL_TYPE_XDS_TYPED_STRUCT, "xds.type.v3.TypedStruct", "")

typedef enum {
    SL_TYPE_NONE = 0,
#define SL_X_(id, type, name) id,
    SL_CONFIG_TYPE_LIST(SL_X_)
#undef SL_X_
        SL_TYPE_COUNT_
} sl_config_type_t;

/* The type name ("envoy.extensions...v3.Wasm") and canonical name of a type; "" for NONE. */
const char *sl_config_type_name(sl_config_type_t t);
const char *sl_config_type_canonical(sl_config_type_t t);

/* ---- common pieces ------------------------------------------------------------------------ */

/* address.socket_address. For listeners, admin and STATIC clusters `address` is a numeric
 * IPv4 or IPv6 address (checked at load); for DNS clusters a host name. */
typedef struct sl_address_config {
    const char *address; /* arena */
    uint16_t port;       /* 0 allowed for listeners/admin (kernel picks), not for endpoints */
    bool is_ipv6;        /* address is a numeric IPv6 address */
    uint32_t line;
} sl_address_config_t;

/* ---- Wasm plugins (envoy.extensions.wasm.v3.PluginConfig + VmConfig) ----------------------- */

typedef enum {
    SL_WASM_RUNTIME_INTERP = 0, /* sluice.wasm.runtime.interp, also the default */
    SL_WASM_RUNTIME_AOT,        /* sluice.wasm.runtime.aot */
    SL_WASM_RUNTIME_NULL,       /* sluice.wasm.runtime.null / envoy.wasm.runtime.null: native
                                   code linked into sluice, named by code.local.inline_string */
} sl_wasm_runtime_t;

typedef enum {
    SL_WASM_CODE_FILE = 0,      /* code.local.filename */
    SL_WASM_CODE_INLINE_BYTES,  /* code.local.inline_bytes (base64 in YAML, decoded here) */
    SL_WASM_CODE_INLINE_STRING, /* code.local.inline_string (raw; the null runtime's name) */
    SL_WASM_CODE_REMOTE,        /* code.remote: fetched over HTTP from a cluster */
} sl_wasm_code_kind_t;

typedef struct sl_cluster_config sl_cluster_config_t;

typedef struct sl_wasm_code_config {
    sl_wasm_code_kind_t kind;
    const char *filename;     /* FILE: as written; relative paths are relative to the
                                 working directory (as in Envoy). "" otherwise */
    sl_config_bytes_t inline_code; /* INLINE_BYTES / INLINE_STRING: the bytes */
    /* REMOTE: */
    const char *uri;                    /* http_uri.uri ("" unless REMOTE) */
    const char *cluster;                /* http_uri.cluster ("" unless REMOTE) */
    const sl_cluster_config_t *cluster_config; /* arena: the cluster named by `cluster`;
                                                  NULL unless REMOTE */
    uint64_t fetch_timeout_ms;          /* http_uri.timeout (required) */
    uint8_t sha256[32];                 /* from the 64 hex digits of `sha256` (required) */
    const char *sha256_hex;             /* as written, lower-cased ("" unless REMOTE) */
    uint32_t num_retries;               /* retry_policy.num_retries, default 1 */
    uint64_t retry_base_interval_ms;    /* retry_back_off.base_interval, default 1000 */
    uint64_t retry_max_interval_ms;     /* retry_back_off.max_interval, default 10 x base */
    uint32_t line;
} sl_wasm_code_config_t;

typedef enum {
    SL_WASM_FAIL_CLOSED = 0, /* UNSPECIFIED and FAIL_CLOSED: 503 / close the connection */
    SL_WASM_FAIL_OPEN,       /* FAIL_OPEN or fail_open: true: skip the plugin */
    SL_WASM_FAIL_RELOAD,     /* FAIL_RELOAD: new replica after a back-off, else fail closed */
} sl_wasm_failure_policy_t;

typedef struct sl_wasm_vm_config {
    const char *vm_id;          /* arena; "" allowed */
    const char *runtime_name;   /* as written ("" when absent) */
    sl_wasm_runtime_t runtime;  /* resolved */
    bool runtime_is_alias;      /* an Envoy runtime name mapped to sluice's (v8, wamr,
                                   wasmtime, wavm -> interp; null -> null): log it once */
    sl_config_bytes_t configuration; /* vm_config.configuration -> proxy_on_vm_start */
    sl_wasm_code_config_t code;
    bool allow_precompiled;
    bool nack_on_code_cache_miss;
    /* environment_variables: host_env_keys as written, key_values in written order, and the
     * resolved WASI environment: host_env_keys found in the process environment at load time
     * followed by key_values. A key in both lists is a load error. */
    const char *const *host_env_keys; /* arena array of arena strings */
    size_t n_host_env_keys;
    const sl_config_kv_t *key_values;
    size_t n_key_values;
    const sl_config_kv_t *env;
    size_t n_env;
    uint32_t line;
} sl_wasm_vm_config_t;

/* Default per-callback deadline when vm_config.sluice_limits.callback_deadline is absent. */
#define SL_CONFIG_WASM_DEADLINE_MS_DEFAULT 100

typedef struct sl_wasm_plugin_config {
    const char *name;    /* PluginConfig.name; "" when absent */
    const char *root_id; /* "" when absent */
    sl_wasm_vm_config_t vm;
    sl_config_bytes_t configuration; /* PluginConfig.configuration -> proxy_on_configure */
    sl_wasm_failure_policy_t failure_policy;
    bool fail_open;                       /* failure_policy == SL_WASM_FAIL_OPEN */
    uint64_t reload_base_interval_ms;     /* reload_config.backoff.base_interval, def. 1000 */
    bool allow_on_headers_stop_iteration; /* default false */
    /* sluice's limits (vm_config.sluice_limits {callback_deadline, max_memory_bytes,
     * shared_queue_max_items}): */
    uint32_t deadline_ms;      /* per-callback wall-clock deadline, default 100 */
    uint64_t max_memory_bytes; /* linear memory cap per VM replica; 0 = the 4 GiB of wasm32 */
    uint32_t queue_max_items;  /* items per shared queue this plugin registers; 0 = 10000 */
    uint32_t line;
    uint32_t index; /* position in sl_config_t.wasm_plugins */
} sl_wasm_plugin_config_t;

/* bootstrap_extensions[] of type envoy.extensions.wasm.v3.WasmService. */
typedef struct sl_wasm_service_config {
    const char *name;    /* the extension's name (e.g. "envoy.bootstrap.wasm") */
    bool singleton;      /* true: one VM on the main thread; false: one per worker */
    sl_wasm_plugin_config_t plugin;
    uint32_t line;
} sl_wasm_service_config_t;

/* ---- HTTP routes -------------------------------------------------------------------------- */

typedef enum {
    SL_PATH_MATCH_PREFIX = 0, /* match.prefix ("" or "/" matches every path) */
    SL_PATH_MATCH_PATH,       /* match.path: the whole path (before '?') equals it */
    SL_PATH_MATCH_REGEX,      /* match.safe_regex.regex: the whole path (before '?') matches.
                                 Checked at load to compile as a POSIX extended regex
                                 (REG_EXTENDED), bounded in size, with no back-references;
                                 users compile their own copy (anchored) per thread. */
} sl_path_match_kind_t;

typedef enum {
    SL_HEADER_MATCH_EXACT = 0, /* exact_match / string_match.exact */
    SL_HEADER_MATCH_PRESENT,   /* present_match: true */
    SL_HEADER_MATCH_PREFIX,    /* prefix_match / string_match.prefix */
    SL_HEADER_MATCH_SUFFIX,    /* suffix_match / string_match.suffix */
    SL_HEADER_MATCH_CONTAINS,  /* contains_match / string_match.contains */
} sl_header_match_kind_t;

typedef struct sl_header_matcher_config {
    const char *name;  /* arena, lower-cased (header names compare case-insensitively) */
    sl_header_match_kind_t kind;
    const char *value; /* arena; "" for PRESENT */
    bool invert;       /* invert_match: the route matches when this matcher does not */
    uint32_t line;
} sl_header_matcher_config_t;

/* One upgrade_configs entry (of the connection manager or of a route): an Upgrade token,
 * compared case-insensitively ("websocket"), and whether that switch is proxied. */
typedef struct sl_upgrade_config {
    const char *type; /* arena */
    bool enabled;     /* default true */
    uint32_t line;
} sl_upgrade_config_t;

typedef enum {
    SL_ROUTE_ACTION_ROUTE = 0,        /* forward to a cluster */
    SL_ROUTE_ACTION_DIRECT_RESPONSE,  /* answer locally */
} sl_route_action_kind_t;

/* Envoy's default route timeout (route.timeout absent). 0 written in YAML disables it. */
#define SL_CONFIG_ROUTE_TIMEOUT_MS_DEFAULT 15000

typedef struct sl_route_config {
    const char *name; /* route.name; "" when absent */
    /* match */
    sl_path_match_kind_t match_kind;
    const char *match_value; /* prefix, path or regex, arena */
    bool case_sensitive;     /* match.case_sensitive, default true (prefix and path) */
    const sl_header_matcher_config_t *headers; /* all must match */
    size_t n_headers;
    /* action */
    sl_route_action_kind_t action;
    const char *cluster;                       /* ROUTE: route.cluster ("" otherwise) */
    const sl_cluster_config_t *cluster_config; /* ROUTE: arena, the cluster it names */
    const char *prefix_rewrite;       /* ROUTE: NULL when absent ("" is a valid rewrite). On a
                                         safe_regex route it replaces the whole path (before
                                         '?'), as Envoy does. */
    const char *regex_rewrite_pattern;      /* ROUTE: regex_rewrite.pattern.regex (POSIX
                                               extended, checked like safe_regex), NULL when
                                               absent; never set with prefix_rewrite */
    const char *regex_rewrite_substitution; /* ROUTE: regex_rewrite.substitution (\0-\9
                                               name groups, \\ is a backslash) */
    const char *host_rewrite_literal; /* ROUTE: NULL when absent */
    uint64_t timeout_ms;              /* ROUTE: route.timeout, default 15000, 0 = none */
    uint64_t idle_timeout_ms;         /* ROUTE: route.idle_timeout, 0 = none */
    const sl_upgrade_config_t *upgrades; /* ROUTE: arena; overrides the connection manager's
                                            entry of the same type */
    size_t n_upgrades;
    uint32_t status;                  /* DIRECT_RESPONSE: 100..599 */
    sl_config_bytes_t body;           /* DIRECT_RESPONSE: body (inline_string/inline_bytes/
                                         filename read at load); len 0 when absent */
    uint32_t line;
} sl_route_config_t;

typedef enum {
    SL_DOMAIN_EXACT = 0, /* "example.com" */
    SL_DOMAIN_SUFFIX,    /* "*.example.com" or "*-bar.example.com": host ends with `part` */
    SL_DOMAIN_PREFIX,    /* "foo.*": host starts with `part` */
    SL_DOMAIN_ANY,       /* "*" */
} sl_domain_kind_t;

/* Envoy's matching order: exact, then the longest suffix, then the longest prefix, then "*".
 * Hosts are compared case-insensitively; domains are stored lower-cased. */
typedef struct sl_domain_config {
    const char *pattern; /* as written, lower-cased */
    sl_domain_kind_t kind;
    const char *part;    /* the pattern without its '*' ("" for ANY) */
    size_t part_len;
} sl_domain_config_t;

typedef struct sl_vhost_config {
    const char *name;
    const sl_domain_config_t *domains;
    size_t n_domains;
    const sl_route_config_t *routes; /* first match wins */
    size_t n_routes;
    uint32_t line;
} sl_vhost_config_t;

/* route_config (Envoy's RouteConfiguration). */
typedef struct sl_route_table_config {
    const char *name; /* "" when absent */
    const sl_vhost_config_t *vhosts;
    size_t n_vhosts;
    uint32_t line;
} sl_route_table_config_t;

/* ---- HTTP filters ------------------------------------------------------------------------- */

typedef enum {
    SL_HTTP_FILTER_ROUTER = 0, /* envoy.filters.http.router (always the last one) */
    SL_HTTP_FILTER_WASM,       /* envoy.filters.http.wasm */
    SL_HTTP_FILTER_ADD_HEADER, /* sluice.filters.http.add_header (native test filter) */
} sl_http_filter_kind_t;

typedef struct sl_http_filter_config {
    const char *name; /* as written in `name` */
    sl_http_filter_kind_t kind;
    const sl_wasm_plugin_config_t *wasm; /* WASM: arena; NULL otherwise */
    /* ADD_HEADER: adds `header: value` to the request (decode path) and, when
     * `response` is true, to the response (encode path) instead. */
    const char *add_header_name;  /* lower-cased */
    const char *add_header_value;
    bool add_header_response;
    uint32_t line;
} sl_http_filter_config_t;

typedef enum {
    SL_CODEC_AUTO = 0, /* AUTO (the default) */
    SL_CODEC_HTTP1,
    SL_CODEC_HTTP2,
} sl_codec_type_t;

/* Defaults as in Envoy. */
#define SL_CONFIG_STREAM_IDLE_TIMEOUT_MS_DEFAULT 300000
#define SL_CONFIG_MAX_REQUEST_HEADERS_KB_DEFAULT 60
#define SL_CONFIG_MAX_REQUEST_HEADERS_COUNT_DEFAULT 100
#define SL_CONFIG_BUFFER_LIMIT_BYTES_DEFAULT (1024 * 1024)
#define SL_CONFIG_HTTP_IDLE_TIMEOUT_MS_DEFAULT 3600000
#define SL_CONFIG_DRAIN_TIMEOUT_MS_DEFAULT 5000

/* envoy.filters.network.http_connection_manager. Timeouts are 0 when disabled. */
typedef struct sl_hcm_config {
    const char *stat_prefix;
    sl_codec_type_t codec_type;
    sl_route_table_config_t route_config;
    const sl_http_filter_config_t *http_filters; /* in order; the last is the router */
    size_t n_http_filters;
    uint64_t request_timeout_ms;         /* whole request received; default 0 (off) */
    uint64_t stream_idle_timeout_ms;     /* default 300000 */
    uint64_t request_headers_timeout_ms; /* headers received; default 0 (off) */
    uint64_t idle_timeout_ms;       /* common_http_protocol_options.idle_timeout (connection
                                       without streams), default 3600000 */
    uint64_t drain_timeout_ms;      /* default 5000 */
    uint32_t max_request_headers_kb;    /* 1..8192, default 60 */
    uint32_t max_request_headers_count; /* common_http_protocol_options.max_headers_count,
                                           default 100 */
    uint64_t max_request_body_bytes; /* buffer limit for buffered bodies: the listener's
                                        per_connection_buffer_limit_bytes, default 1 MiB */
    const char *server_name;         /* server_name, default "envoy" (as Envoy) */
    bool generate_request_id;        /* default true */
    bool use_remote_address;         /* default false */
    uint32_t xff_num_trusted_hops;   /* default 0 */
    const sl_upgrade_config_t *upgrades; /* upgrade_configs, arena: the protocol switches
                                            proxied (none by default, as Envoy: 403) */
    size_t n_upgrades;
    uint32_t line;
} sl_hcm_config_t;

/* envoy.filters.network.tcp_proxy. */
#define SL_CONFIG_TCP_IDLE_TIMEOUT_MS_DEFAULT 3600000
typedef struct sl_tcp_proxy_config {
    const char *stat_prefix;
    const char *cluster;
    const sl_cluster_config_t *cluster_config; /* arena */
    uint64_t idle_timeout_ms; /* default 3600000; 0 = none */
    uint32_t max_connect_attempts; /* default 1 */
    uint32_t line;
} sl_tcp_proxy_config_t;

/* ---- listeners ---------------------------------------------------------------------------- */

typedef enum {
    SL_NETWORK_FILTER_HCM = 0,    /* terminal */
    SL_NETWORK_FILTER_TCP_PROXY,  /* terminal */
    SL_NETWORK_FILTER_WASM,       /* envoy.filters.network.wasm */
    SL_NETWORK_FILTER_BYTE_COUNT, /* sluice.filters.network.byte_count (native test filter) */
} sl_network_filter_kind_t;

typedef struct sl_network_filter_config {
    const char *name;
    sl_network_filter_kind_t kind;
    const sl_hcm_config_t *hcm;             /* HCM: arena, else NULL */
    const sl_tcp_proxy_config_t *tcp_proxy; /* TCP_PROXY: arena, else NULL */
    const sl_wasm_plugin_config_t *wasm;    /* WASM: arena, else NULL */
    const char *byte_count_stat_prefix;     /* BYTE_COUNT: stat_prefix, "" when absent */
    uint32_t line;
} sl_network_filter_config_t;

typedef struct sl_filter_chain_config {
    const char *name;                           /* "" when absent */
    const sl_network_filter_config_t *filters;  /* in order; exactly one terminal, last */
    size_t n_filters;
    uint32_t line;
} sl_filter_chain_config_t;

typedef enum {
    SL_DIRECTION_UNSPECIFIED = 0,
    SL_DIRECTION_INBOUND,
    SL_DIRECTION_OUTBOUND,
} sl_traffic_direction_t;

typedef struct sl_listener_config {
    const char *name;    /* unique; "listener_<index>" when absent */
    sl_address_config_t address;
    const char *stat_prefix; /* "" when absent (stats then use the address) */
    /* Exactly one filter chain today (filter_chain_match is not supported); an array so that
     * chains selected by match can come later without a new field. */
    const sl_filter_chain_config_t *filter_chains;
    size_t n_filter_chains;
    uint64_t per_connection_buffer_limit_bytes; /* default 1 MiB */
    sl_traffic_direction_t traffic_direction;   /* property listener_direction */
    bool enable_reuse_port;                     /* default true */
    uint32_t tcp_backlog_size;                  /* default 0 = the system's SOMAXCONN */
    uint32_t line;
    uint32_t index; /* position in sl_config_t.listeners */
} sl_listener_config_t;

/* ---- clusters ----------------------------------------------------------------------------- */

typedef enum {
    SL_CLUSTER_STATIC = 0,
    SL_CLUSTER_STRICT_DNS,
    SL_CLUSTER_LOGICAL_DNS,
} sl_cluster_type_t;

typedef enum {
    SL_LB_ROUND_ROBIN = 0,
    SL_LB_LEAST_REQUEST,
    SL_LB_RANDOM,
} sl_lb_policy_t;

typedef struct sl_endpoint_config {
    sl_address_config_t address; /* STATIC: numeric IP; DNS types: host name or IP */
    const char *hostname;        /* endpoint.hostname, "" when absent */
    uint32_t weight;             /* load_balancing_weight, default 1 */
    uint32_t line;
} sl_endpoint_config_t;

/* circuit_breakers.thresholds with priority DEFAULT; Envoy's defaults. */
#define SL_CONFIG_CB_DEFAULT 1024
#define SL_CONFIG_CB_RETRIES_DEFAULT 3
typedef struct sl_circuit_breakers_config {
    uint32_t max_connections;      /* default 1024 */
    uint32_t max_pending_requests; /* default 1024 */
    uint32_t max_requests;         /* default 1024 */
    uint32_t max_retries;          /* default 3 */
} sl_circuit_breakers_config_t;

#define SL_CONFIG_CONNECT_TIMEOUT_MS_DEFAULT 5000
#define SL_CONFIG_DNS_REFRESH_MS_DEFAULT 5000
struct sl_cluster_config {
    const char *name; /* unique, required */
    sl_cluster_type_t type;  /* default STATIC */
    uint64_t connect_timeout_ms; /* default 5000 */
    sl_lb_policy_t lb_policy;    /* default ROUND_ROBIN */
    uint32_t least_request_choice_count; /* least_request_lb_config.choice_count, default 2 */
    const sl_endpoint_config_t *endpoints; /* load_assignment, flattened in written order */
    size_t n_endpoints;
    sl_circuit_breakers_config_t circuit_breakers;
    uint64_t per_connection_buffer_limit_bytes; /* default 1 MiB */
    uint64_t dns_refresh_rate_ms;               /* default 5000 */
    uint32_t max_requests_per_connection;       /* 0 = unlimited (default) */
    uint32_t index; /* position in sl_config_t.clusters */
    uint32_t line;
};

/* ---- the bootstrap ------------------------------------------------------------------------ */

typedef struct sl_admin_config {
    bool present;                /* false when `admin` is absent: no admin listener */
    sl_address_config_t address; /* admin.address.socket_address */
} sl_admin_config_t;

/* A known key that sluice accepts but does not act on (docs/config.md lists them). */
typedef struct sl_config_warning {
    const char *message; /* arena: "... 'access_log' in http_connection_manager at line 7:9
                            is not supported and is ignored" */
    const char *key;     /* arena: the key */
    uint32_t line, column;
} sl_config_warning_t;

typedef struct sl_config {
    const char *node_id;      /* node.id, "" when absent */
    const char *node_cluster; /* node.cluster, "" when absent */
    sl_admin_config_t admin;
    const sl_listener_config_t *listeners; /* static_resources.listeners */
    size_t n_listeners;
    const sl_cluster_config_t *clusters;   /* static_resources.clusters */
    size_t n_clusters;
    const sl_wasm_service_config_t *wasm_services; /* bootstrap_extensions (WasmService) */
    size_t n_wasm_services;
    const sl_config_warning_t *warnings; /* outer objects first, then document order */
    size_t n_warnings;
    /* Every PluginConfig of the configuration (HTTP filters, network filters, services), in
     * the order met, so that plugins can be created and checked once at load. Arena array of
     * pointers into the tree. */
    const sl_wasm_plugin_config_t *const *wasm_plugins;
    size_t n_wasm_plugins;
    const char *path; /* arena: the file it came from ("<string>" for load_string) */
    struct sl_config_private *priv_; /* owned: arena and reference count */
} sl_config_t;

/* ---- errors ------------------------------------------------------------------------------- */

typedef struct sl_config_error {
    sl_status_t status;   /* SL_ERR_CONFIG, SL_ERR_IO, SL_ERR_NOMEM, SL_ERR_ARG */
    char file[256];       /* the path given, cut to fit; "<string>" for load_string */
    uint32_t line, column; /* 1-based; 0 when the error has no position (I/O, memory) */
    /* Names the key, the context and the position, e.g.
     * "unknown key 'foo' in listener at line 12:5",
     * "route at line 30:11 names unknown cluster 'backend'". */
    char message[512];
} sl_config_error_t;

/* ---- API ---------------------------------------------------------------------------------- */

/* Most bytes a configuration may have (larger inputs fail with SL_ERR_LIMIT). */
#define SL_CONFIG_MAX_BYTES (16u * 1024 * 1024)

/* Reads and loads the YAML file at `path`. On SL_OK *out holds a new configuration with one
 * reference; otherwise *out is NULL and `err` (may be NULL) says what, where and why:
 * SL_ERR_IO (cannot read), SL_ERR_CONFIG (YAML syntax, unknown key, wrong type, bad value,
 * failed cross-check), SL_ERR_LIMIT (too big or too deeply nested), SL_ERR_NOMEM. */
sl_status_t sl_config_load_file(const char *path, sl_config_t **out, sl_config_error_t *err);

/* Same from `len` bytes of YAML text (need not be NUL-terminated; copied). `name` is used
 * in messages and as sl_config_t.path (NULL = "<string>"). */
sl_status_t sl_config_load_string(const char *yaml, size_t len, const char *name,
                                  sl_config_t **out, sl_config_error_t *err);

/* Takes one more reference (thread-safe); returns cfg. */
sl_config_t *sl_config_ref(sl_config_t *cfg);

/* Drops one reference; the last one frees the configuration and everything it owns.
 * NULL is a no-op. */
void sl_config_free(sl_config_t *cfg);

/* Lookups by name (linear; do them at set-up, not per request). NULL when absent. */
const sl_cluster_config_t *sl_config_find_cluster(const sl_config_t *cfg, const char *name);
const sl_listener_config_t *sl_config_find_listener(const sl_config_t *cfg, const char *name);

/* Short names of enum values, for logs, /config_dump and tests ("STATIC", "ROUND_ROBIN",
 * "interp", "FAIL_CLOSED", "router", "http_connection_manager", ...). */
const char *sl_cluster_type_str(sl_cluster_type_t t);
const char *sl_lb_policy_str(sl_lb_policy_t p);
const char *sl_wasm_runtime_str(sl_wasm_runtime_t r);
const char *sl_wasm_failure_policy_str(sl_wasm_failure_policy_t p);
const char *sl_http_filter_kind_str(sl_http_filter_kind_t k);
const char *sl_network_filter_kind_str(sl_network_filter_kind_t k);
const char *sl_codec_type_str(sl_codec_type_t c);

#endif
