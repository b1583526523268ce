/* Properties (ABI 3.2, 3.3, 10): path parsing, the attribute catalogue, Envoy's value
 * encodings, and per-stream filter state written by proxy_set_property. */
#include "pw_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define A(i) PW_ARG_U32(args, i)

typedef struct attr_name {
    const char *name; /* dotted form of the 0x00-separated path */
    pw_attr_t attr;
} attr_name_t;

/* Current names and Envoy's legacy top-level aliases (ABI 10.2: resolve both spellings). */
static const attr_name_t catalogue[] = {
    {"request.path", PW_ATTR_REQUEST_PATH},
    {"request.url_path", PW_ATTR_REQUEST_URL_PATH},
    {"request.host", PW_ATTR_REQUEST_HOST},
    {"request.scheme", PW_ATTR_REQUEST_SCHEME},
    {"request.method", PW_ATTR_REQUEST_METHOD},
    {"request.referer", PW_ATTR_REQUEST_REFERER},
    {"request.useragent", PW_ATTR_REQUEST_USERAGENT},
    {"request.id", PW_ATTR_REQUEST_ID},
    {"request.protocol", PW_ATTR_REQUEST_PROTOCOL},
    {"request.query", PW_ATTR_REQUEST_QUERY},
    {"request.time", PW_ATTR_REQUEST_TIME},
    {"request.duration", PW_ATTR_REQUEST_DURATION},
    {"request.size", PW_ATTR_REQUEST_SIZE},
    {"request.total_size", PW_ATTR_REQUEST_TOTAL_SIZE},
    {"response.code", PW_ATTR_RESPONSE_CODE},
    {"response.code_details", PW_ATTR_RESPONSE_CODE_DETAILS},
    {"response.flags", PW_ATTR_RESPONSE_FLAGS},
    {"response.grpc_status", PW_ATTR_RESPONSE_GRPC_STATUS},
    {"response.size", PW_ATTR_RESPONSE_SIZE},
    {"response.total_size", PW_ATTR_RESPONSE_TOTAL_SIZE},
    {"source.address", PW_ATTR_SOURCE_ADDRESS},
    {"source.port", PW_ATTR_SOURCE_PORT},
    {"destination.address", PW_ATTR_DESTINATION_ADDRESS},
    {"destination.port", PW_ATTR_DESTINATION_PORT},
    {"connection.id", PW_ATTR_CONNECTION_ID},
    {"connection_id", PW_ATTR_CONNECTION_ID},
    {"connection.mtls", PW_ATTR_CONNECTION_MTLS},
    {"connection.requested_server_name", PW_ATTR_CONNECTION_SNI},
    {"connection.tls_version", PW_ATTR_CONNECTION_TLS_VERSION},
    {"upstream.address", PW_ATTR_UPSTREAM_ADDRESS},
    {"upstream.port", PW_ATTR_UPSTREAM_PORT},
    {"upstream.local_address", PW_ATTR_UPSTREAM_LOCAL_ADDRESS},
    {"xds.cluster_name", PW_ATTR_CLUSTER_NAME},
    {"cluster_name", PW_ATTR_CLUSTER_NAME},
    {"xds.route_name", PW_ATTR_ROUTE_NAME},
    {"route_name", PW_ATTR_ROUTE_NAME},
    {"xds.listener_direction", PW_ATTR_LISTENER_DIRECTION},
    {"listener_direction", PW_ATTR_LISTENER_DIRECTION},
    {"xds.node.id", PW_ATTR_NODE_ID},
    {"node.id", PW_ATTR_NODE_ID},
    {"xds.node.cluster", PW_ATTR_NODE_CLUSTER},
    {"node.cluster", PW_ATTR_NODE_CLUSTER},
};

enum { MAX_SEGS = 8 };

/* Splits a path on 0x00 (ABI 3.2); an empty trailing segment is tolerated. */
static size_t split(const uint8_t *p, size_t len, pw_slice_t *seg)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len && n < MAX_SEGS; i++) {
        if (i == len || p[i] == 0) {
            if (i == len && i == start && n > 0)
                break;
            seg[n++] = (pw_slice_t){p + start, i - start};
            start = i + 1;
        }
    }
    return n;
}

static bool seg_is(pw_slice_t s, const char *name)
{
    return s.len == strlen(name) && memcmp(s.ptr, name, s.len) == 0;
}

static void le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* Serializes an attribute value (ABI 3.3) and hands it to the guest. */
static int return_value(pw_vm_t *vm, const pw_attr_value_t *v, uint32_t rp, uint32_t rs)
{
    uint8_t b[8];
    switch (v->kind) {
    case PW_VAL_STRING:
        return pw__return_bytes(vm, v->u.str.ptr, v->u.str.len, rp, rs);
    case PW_VAL_INT:
        le64(b, (uint64_t)v->u.i);
        return pw__return_bytes(vm, b, 8, rp, rs);
    case PW_VAL_UINT:
        le64(b, v->u.u);
        return pw__return_bytes(vm, b, 8, rp, rs);
    case PW_VAL_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        le64(b, bits);
        return pw__return_bytes(vm, b, 8, rp, rs);
    }
    case PW_VAL_BOOL:
        b[0] = v->u.b ? 1 : 0;
        return pw__return_bytes(vm, b, 1, rp, rs);
    }
    return PW_R_SERIALIZATION_FAILURE;
}

/* A whole header map as a map value (pairs), or one header: duplicates joined with ','. */
static int return_map(pw_vm_t *vm, pw_stream_t *st, pw_map_type_t map, const pw_slice_t *key,
                      uint32_t rp, uint32_t rs)
{
    uint32_t n = 0;
    if (!st || st->ctx.kind != PW_CTX_HTTP || !st->ops->map_count || !st->ops->map_entry ||
        st->ops->map_count(st->s, map, &n) != PW_R_OK)
        return PW_R_NOT_FOUND;
    size_t total = 0;
    pw_header_t h;
    bool found = false;
    for (int pass = 0; pass < 2; pass++) {
        uint8_t *out = pass ? vm->scratch : NULL;
        size_t off = 0;
        if (!key && pass) {
            out[0] = (uint8_t)n, out[1] = (uint8_t)(n >> 8), out[2] = (uint8_t)(n >> 16),
            out[3] = (uint8_t)(n >> 24);
        }
        size_t data = key ? 0 : 4 + 8 * (size_t)n;
        for (uint32_t i = 0; i < n; i++) {
            if (st->ops->map_entry(st->s, map, i, &h) != PW_R_OK)
                return PW_R_INTERNAL_FAILURE;
            if (!key) {
                if (pass) {
                    uint8_t *sz = out + 4 + 8 * (size_t)i;
                    for (int k = 0; k < 4; k++) {
                        sz[k] = (uint8_t)(h.key.len >> (8 * k));
                        sz[4 + k] = (uint8_t)(h.value.len >> (8 * k));
                    }
                    memcpy(out + data, h.key.ptr, h.key.len);
                    out[data + h.key.len] = 0;
                    memcpy(out + data + h.key.len + 1, h.value.ptr, h.value.len);
                    out[data + h.key.len + 1 + h.value.len] = 0;
                }
                data += h.key.len + h.value.len + 2;
                continue;
            }
            if (h.key.len != key->len || strncasecmp((const char *)h.key.ptr,
                                                     (const char *)key->ptr, key->len) != 0)
                continue;
            if (off) {
                if (pass)
                    out[off] = ',';
                off++;
            }
            if (pass)
                memcpy(out + off, h.value.ptr, h.value.len);
            off += h.value.len;
            found = true;
        }
        total = key ? off : data;
        if (key && !found)
            return PW_R_NOT_FOUND;
        if (!pass && !pw__scratch(vm, total ? total : 1))
            return PW_R_INTERNAL_FAILURE;
    }
    /* vm->scratch is host memory: it survives the allocator call. */
    return pw__return_bytes(vm, vm->scratch, (key || n) ? total : 0, rp, rs);
}

static int state_get(pw_stream_t *st, const uint8_t *path, size_t len, pw_slice_t *out)
{
    if (!st)
        return PW_R_NOT_FOUND;
    size_t off = 0;
    while (off + 8 <= st->props_len) {
        uint32_t kl, vl;
        memcpy(&kl, st->props + off, 4);
        memcpy(&vl, st->props + off + 4, 4);
        const uint8_t *k = st->props + off + 8;
        if (kl == len && memcmp(k, path, len) == 0) {
            *out = (pw_slice_t){k + kl, vl};
            return PW_R_OK;
        }
        off += 8 + (size_t)kl + vl;
    }
    return PW_R_NOT_FOUND;
}

/* proxy_get_property(path_ptr, path_len, ret_ptr_ptr, ret_size_ptr) */
static wa_trap_kind_t hc_get_property(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint8_t *path = pw__mem(vm, A(0), A(1));
    if (!path || !pw__mem(vm, A(2), 4) || !pw__mem(vm, A(3), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_slice_t seg[MAX_SEGS];
    size_t nseg = split(path, A(1), seg);
    pw_ctx_t *c = vm->eff ? vm->eff : vm->cur;
    pw_plugin_t *p = c ? c->plugin : vm->plugin;
    pw_stream_t *st = pw__eff_stream(vm);
    if (nseg == 1) { /* plugin attributes: always available, also in roots (ABI 10.2) */
        const char *v = seg_is(seg[0], "plugin_name")      ? p->name
                        : seg_is(seg[0], "plugin_root_id") ? p->root_id
                        : seg_is(seg[0], "plugin_vm_id")   ? p->vm_id
                                                           : NULL;
        if (v)
            PW_HC_RETURN(vm, results, pw__return_bytes(vm, v, strlen(v), A(2), A(3)));
    }
    if (nseg >= 2 && (seg_is(seg[0], "request") || seg_is(seg[0], "response")) &&
        (seg_is(seg[1], "headers") || seg_is(seg[1], "trailers"))) {
        bool req = seg_is(seg[0], "request"), hdr = seg_is(seg[1], "headers");
        pw_map_type_t map = req ? (hdr ? PW_MAP_REQUEST_HEADERS : PW_MAP_REQUEST_TRAILERS)
                                : (hdr ? PW_MAP_RESPONSE_HEADERS : PW_MAP_RESPONSE_TRAILERS);
        if (nseg > 3)
            PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
        PW_HC_RETURN(vm, results,
                     return_map(vm, st, map, nseg == 3 ? &seg[2] : NULL, A(2), A(3)));
    }
    char dotted[128];
    size_t dl = 0;
    bool fits = true;
    for (size_t i = 0; i < nseg && fits; i++) {
        if (dl + seg[i].len + 2 > sizeof dotted) {
            fits = false;
            break;
        }
        if (i)
            dotted[dl++] = '.';
        memcpy(dotted + dl, seg[i].ptr, seg[i].len);
        dl += seg[i].len;
    }
    dotted[dl] = 0;
    for (size_t i = 0; fits && i < sizeof catalogue / sizeof catalogue[0]; i++) {
        if (strcmp(catalogue[i].name, dotted) != 0)
            continue;
        pw_attr_value_t v;
        if (!st || !st->ops->attr_get || st->ops->attr_get(st->s, catalogue[i].attr, &v) != PW_R_OK)
            PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
        PW_HC_RETURN(vm, results, return_value(vm, &v, A(2), A(3)));
    }
    /* Unknown names fall back to filter state written by proxy_set_property (ABI 10.1). */
    pw_slice_t val;
    int r = state_get(st, path, A(1), &val);
    if (r != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    PW_HC_RETURN(vm, results, pw__return_bytes(vm, val.ptr, val.len, A(2), A(3)));
}

/* proxy_set_property(path_ptr, path_len, val_ptr, val_len): stream filter state. */
static wa_trap_kind_t hc_set_property(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    uint8_t *path = pw__mem(vm, A(0), A(1)), *val = pw__mem(vm, A(2), A(3));
    if (!path || !val)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_stream_t *st = pw__eff_stream(vm);
    if (!st)
        PW_HC_RETURN(vm, results, PW_R_NOT_FOUND); /* Envoy: no stream */
    /* Rebuild without the old entry, then append the new one. */
    size_t need = st->props_len + 8 + (size_t)A(1) + A(3);
    uint8_t *nb = malloc(need);
    if (!nb)
        PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
    size_t off = 0, out = 0;
    while (off + 8 <= st->props_len) {
        uint32_t kl, vl;
        memcpy(&kl, st->props + off, 4);
        memcpy(&vl, st->props + off + 4, 4);
        size_t sz = 8 + (size_t)kl + vl;
        if (!(kl == A(1) && memcmp(st->props + off + 8, path, kl) == 0)) {
            memcpy(nb + out, st->props + off, sz);
            out += sz;
        }
        off += sz;
    }
    uint32_t kl = A(1), vl = A(3);
    memcpy(nb + out, &kl, 4);
    memcpy(nb + out + 4, &vl, 4);
    memcpy(nb + out + 8, path, kl);
    memcpy(nb + out + 8 + kl, val, vl);
    out += 8 + (size_t)kl + vl;
    free(st->props);
    st->props = nb;
    st->props_len = out;
    PW_HC_RETURN(vm, results, PW_R_OK);
}

const pw_hostcall_t pw__hostcalls_props[] = {
    {"env", "proxy_get_property", "iiii", "i", hc_get_property, 0},
    {"env", "proxy_set_property", "iiii", "i", hc_set_property, 0},
    {NULL, NULL, NULL, NULL, NULL, 0},
};
