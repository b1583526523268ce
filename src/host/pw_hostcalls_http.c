/* Hostcalls for buffers and header maps (ABI 5.5, 5.6) and the pairs serialization (ABI 3.1):
 * configuration buffers come from the plugin, stream buffers and maps from the proxy's ops. */
#include "pw_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define A(i) PW_ARG_U32(args, i)

/* ---- pairs (ABI 3.1) ------------------------------------------------------------------------ */

enum { PAIRS_MAX_BYTES = 1 << 20, PAIRS_MAX_COUNT = 1024 };

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Two u32 return slots in guest memory, through one look at the memory's bounds (hot getters
 * check them before doing any work); NULL when either is out of range. Valid until guest
 * code runs. */
static uint8_t *slots(pw_vm_t *vm, uint32_t a, uint32_t b)
{
    uint64_t size = 0;
    uint8_t *base = vm->mem ? wa_memory_data(vm->mem, &size) : NULL;
    return pw__slots_fit(base, size, a, b) ? base : NULL;
}

size_t pw__pairs_size(const pw_header_t *h, size_t n)
{
    size_t total = 4;
    for (size_t i = 0; i < n; i++)
        total += 8 + h[i].key.len + 1 + h[i].value.len + 1;
    return total;
}

void pw__pairs_write(uint8_t *dst, const pw_header_t *h, size_t n)
{
    pw__st32(dst, (uint32_t)n);
    uint8_t *sizes = dst + 4, *data = dst + 4 + 8 * n;
    for (size_t i = 0; i < n; i++) {
        pw__st32(sizes + 8 * i, (uint32_t)h[i].key.len);
        pw__st32(sizes + 8 * i + 4, (uint32_t)h[i].value.len);
        if (h[i].key.len)
            memcpy(data, h[i].key.ptr, h[i].key.len);
        data += h[i].key.len;
        *data++ = 0;
        if (h[i].value.len)
            memcpy(data, h[i].value.ptr, h[i].value.len);
        data += h[i].value.len;
        *data++ = 0;
    }
}

size_t pw__pairs_count(const uint8_t *buf, size_t len)
{
    if (len < 4)
        return 0;
    uint32_t n = rd32(buf);
    return n > PAIRS_MAX_COUNT ? 0 : n;
}

/* cpp-host's rules: too big, too many, a length past the end, a missing NUL or trailing bytes
 * make the whole buffer invalid. Shorter than 4 bytes is an empty map. */
bool pw__pairs_decode(const uint8_t *buf, size_t len, pw_header_t *out, size_t cap, size_t *n)
{
    *n = 0;
    if (len < 4)
        return true;
    if (len > PAIRS_MAX_BYTES)
        return false;
    uint32_t cnt = rd32(buf);
    if (cnt > PAIRS_MAX_COUNT || cnt > cap || (uint64_t)cnt * 8 > len - 4)
        return false;
    const uint8_t *sizes = buf + 4, *data = buf + 4 + 8 * (size_t)cnt, *end = buf + len;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t kl = rd32(sizes + 8 * i), vl = rd32(sizes + 8 * i + 4);
        if ((uint64_t)kl + 1 > (uint64_t)(end - data) || data[kl] != 0)
            return false;
        out[i].key = (pw_slice_t){data, kl};
        data += kl + 1;
        if ((uint64_t)vl + 1 > (uint64_t)(end - data) || data[vl] != 0)
            return false;
        out[i].value = (pw_slice_t){data, vl};
        data += vl + 1;
    }
    if (data != end)
        return false;
    *n = cnt;
    return true;
}

/* ---- buffers (ABI 5.5) -------------------------------------------------------------------- */

/* The configuration buffers the host owns; NULL with *avail=false when not available now. */
static const uint8_t *host_buffer(pw_vm_t *vm, uint32_t type, size_t *len, bool *avail)
{
    pw_root_t *r = pw__eff_root(vm);
    pw_plugin_t *p = r ? r->plugin : vm->plugin;
    *avail = true;
    if (type == PW_BUFFER_VM_CONFIGURATION) { /* Envoy: readable at any time */
        *len = p->vm_config_len;
        return p->vm_config;
    }
    if (type == PW_BUFFER_HTTP_CALL_RESPONSE_BODY && vm->http_resp) { /* ABI 5.5 */
        *len = vm->http_resp->body.len;
        return vm->http_resp->body.ptr;
    }
    if (type == PW_BUFFER_PLUGIN_CONFIGURATION && r && r->in_configure &&
        vm->eff && vm->eff->kind == PW_CTX_ROOT) {
        *len = p->plugin_config_len;
        return p->plugin_config;
    }
    *avail = false;
    *len = 0;
    return NULL;
}

static bool stream_buffer_type(uint32_t t)
{
    return t <= PW_BUFFER_UPSTREAM_DATA;
}

/* proxy_get_buffer_bytes(type, start, max_size, ret_ptr_ptr, ret_size_ptr) */
static wa_trap_kind_t hc_get_buffer_bytes(pw_vm_t *vm, const wa_value_t *args,
                                          wa_value_t *results)
{
    uint32_t type = A(0), start = A(1), max = A(2);
    if (type > PW_BUFFER_CALL_DATA || (uint64_t)start + max > UINT32_MAX)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    if (!pw__mem(vm, A(3), 4) || !pw__mem(vm, A(4), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    if (!stream_buffer_type(type)) {
        size_t len;
        bool avail;
        const uint8_t *b = host_buffer(vm, type, &len, &avail);
        if (!avail)
            PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
        size_t off = start < len ? start : len;
        size_t n = len - off < max ? len - off : max;
        if (n == 0)
            PW_HC_RETURN(vm, results, PW_R_OK); /* nothing written, as Envoy: see below */
        PW_HC_RETURN(vm, results, pw__return_bytes(vm, b + off, n, A(3), A(4)));
    }
    pw_stream_t *st = pw__eff_stream(vm);
    if (!st || !st->ops->buffer_size || !st->ops->buffer_copy)
        PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
    size_t len = 0;
    pw_result_t r = st->ops->buffer_size(st->s, (pw_buffer_type_t)type, &len);
    if (r != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    size_t off = start < len ? start : len;
    size_t n = len - off < max ? len - off : max;
    /* Nothing to copy: OK without touching the out-pointers, as Envoy does. SDKs preset them,
     * and one (AssemblyScript's proxy-runtime 0.1.8) passes a size, not an address, as the
     * size pointer when the configuration is empty. */
    if (n == 0)
        PW_HC_RETURN(vm, results, PW_R_OK);
    uint32_t g;
    int ar = pw__guest_alloc(vm, n, &g);
    if (ar != PW_R_OK)
        PW_HC_RETURN(vm, results, ar);
    r = st->ops->buffer_copy(st->s, (pw_buffer_type_t)type, off, n, pw__mem(vm, g, (uint32_t)n));
    if (r != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    if (!pw__put_u32(vm, A(3), g) || !pw__put_u32(vm, A(4), (uint32_t)n))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_get_buffer_status(type, ret_len_ptr, ret_flags_ptr) */
static wa_trap_kind_t hc_get_buffer_status(pw_vm_t *vm, const wa_value_t *args,
                                           wa_value_t *results)
{
    uint32_t type = A(0);
    if (type > PW_BUFFER_CALL_DATA)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    uint8_t *base = slots(vm, A(1), A(2)); /* the ops below run no guest code: stays valid */
    if (!base)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    size_t len = 0;
    if (stream_buffer_type(type)) {
        pw_stream_t *st = pw__eff_stream(vm);
        if (!st || !st->ops->buffer_size)
            PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
        pw_result_t r = st->ops->buffer_size(st->s, (pw_buffer_type_t)type, &len);
        if (r != PW_R_OK)
            PW_HC_RETURN(vm, results, r);
    } else {
        bool avail;
        host_buffer(vm, type, &len, &avail);
        if (!avail)
            PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
    }
    pw__st32(base + A(1), (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len));
    pw__st32(base + A(2), 0);
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_set_buffer_bytes(type, start, size, data_ptr, data_len): general splice with clamping
 * (a superset of Envoy's prepend / append / replace, ABI 5.5). */
static wa_trap_kind_t hc_set_buffer_bytes(pw_vm_t *vm, const wa_value_t *args,
                                          wa_value_t *results)
{
    uint32_t type = A(0), start = A(1), size = A(2);
    if (type > PW_BUFFER_CALL_DATA)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    uint8_t *data = pw__mem(vm, A(3), A(4));
    if (!data)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    if (!stream_buffer_type(type))
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT); /* read-only buffers */
    pw_stream_t *st = pw__eff_stream(vm);
    if (!st || !st->ops->buffer_size || !st->ops->buffer_splice)
        PW_HC_RETURN(vm, results, PW_R_NOT_FOUND);
    size_t len = 0;
    pw_result_t r = st->ops->buffer_size(st->s, (pw_buffer_type_t)type, &len);
    if (r != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    size_t off = start < len ? start : len;
    size_t rm = len - off < size ? len - off : size;
    PW_HC_RETURN(vm, results, st->ops->buffer_splice(st->s, (pw_buffer_type_t)type, off, rm,
                                                     (pw_slice_t){data, A(4)}));
}

/* ---- header maps (ABI 5.6) ------------------------------------------------------------------ */

static pw_stream_t *map_stream(pw_vm_t *vm, uint32_t type, int *r)
{
    if (type > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS) {
        *r = PW_R_BAD_ARGUMENT;
        return NULL;
    }
    pw_stream_t *st = pw__eff_stream(vm);
    /* Maps 4-7 belong to callouts: never a stream's, and read-only (gRPC is not built). */
    if (!st || type > PW_MAP_RESPONSE_TRAILERS || st->ctx.kind != PW_CTX_HTTP) {
        *r = PW_R_BAD_ARGUMENT;
        return NULL;
    }
    *r = PW_R_OK;
    return st;
}

/* Maps 6/7: the callout response being delivered (ABI 5.6); false outside that callback. */
static bool callout_map(pw_vm_t *vm, uint32_t type, const pw_header_t **h, size_t *n)
{
    const pw_http_response_t *resp = vm->http_resp;
    if (type == PW_MAP_HTTP_CALL_RESPONSE_HEADERS && resp) {
        *h = resp->headers;
        *n = resp->n_headers;
        return true;
    }
    if (type == PW_MAP_HTTP_CALL_RESPONSE_TRAILERS && resp) {
        *h = resp->trailers;
        *n = resp->n_trailers;
        return true;
    }
    return false;
}

static bool is_callout_map(uint32_t type)
{
    return type == PW_MAP_HTTP_CALL_RESPONSE_HEADERS ||
           type == PW_MAP_HTTP_CALL_RESPONSE_TRAILERS;
}

/* A key with a capital, lower-cased into the VM's scratch buffer: rare, kept out of line so
 * that the common path saves no registers for it. */
static __attribute__((noinline)) int lower_key_copy(pw_vm_t *vm, const uint8_t *k, uint32_t len,
                                                    pw_slice_t *out)
{
    if (!pw__scratch(vm, len))
        return PW_R_INTERNAL_FAILURE;
    for (uint32_t i = 0; i < len; i++)
        vm->scratch[i] = (uint8_t)(k[i] - 'A') < 26u ? (uint8_t)(k[i] + 32) : k[i];
    *out = (pw_slice_t){vm->scratch, len};
    return PW_R_OK;
}

/* The guest key at [ptr, ptr+len) of the memory at base (size bytes) as the proxy wants it,
 * lower-case (Envoy lower-cases names). Keys are almost always lower-case already: those are
 * passed in place (the proxy's map ops run no guest code, so guest memory stays put), and only
 * a key with a capital is copied. */
static inline int lower_key(pw_vm_t *vm, uint8_t *base, uint64_t size, uint32_t ptr,
                            uint32_t len, pw_slice_t *out)
{
    if (len == 0) { /* any address will do, as for pw__mem */
        *out = (pw_slice_t){(const uint8_t *)"", 0};
        return PW_R_OK;
    }
    if (!base || (uint64_t)ptr + len > size)
        return PW_R_INVALID_MEMORY_ACCESS;
    const uint8_t *k = base + ptr;
    if (pw__has_capital(k, len))
        return lower_key_copy(vm, k, len, out);
    *out = (pw_slice_t){k, len};
    return PW_R_OK;
}

/* proxy_get_header_map_pairs(type, ret_ptr_ptr, ret_size_ptr) */
static wa_trap_kind_t hc_get_map_pairs(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    int r;
    if (A(0) > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    if (!pw__mem(vm, A(1), 4) || !pw__mem(vm, A(2), 4))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    if (is_callout_map(A(0))) {
        const pw_header_t *h;
        size_t nh = 0;
        if (!callout_map(vm, A(0), &h, &nh) || nh == 0)
            PW_HC_RETURN(vm, results, pw__return_bytes(vm, NULL, 0, A(1), A(2)));
        size_t total = pw__pairs_size(h, nh);
        if (total > UINT32_MAX)
            PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
        uint32_t g;
        int ar = pw__guest_alloc(vm, total, &g);
        if (ar != PW_R_OK)
            PW_HC_RETURN(vm, results, ar);
        pw__pairs_write(pw__mem(vm, g, (uint32_t)total), h, nh);
        pw__put_u32(vm, A(1), g);
        pw__put_u32(vm, A(2), (uint32_t)total);
        PW_HC_RETURN(vm, results, PW_R_OK);
    }
    pw_stream_t *st = map_stream(vm, A(0), &r);
    uint32_t n = 0;
    /* Envoy: an unavailable map is an empty map (0, 0) with OK. */
    if (!st || !st->ops->map_count || !st->ops->map_entry ||
        st->ops->map_count(st->s, (pw_map_type_t)A(0), &n) != PW_R_OK || n == 0)
        PW_HC_RETURN(vm, results, pw__return_bytes(vm, NULL, 0, A(1), A(2)));
    size_t total = 4;
    pw_header_t h;
    for (uint32_t i = 0; i < n; i++) {
        if (st->ops->map_entry(st->s, (pw_map_type_t)A(0), i, &h) != PW_R_OK)
            PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
        total += 8 + h.key.len + 1 + h.value.len + 1;
    }
    if (total > UINT32_MAX)
        PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
    uint32_t g;
    int ar = pw__guest_alloc(vm, total, &g);
    if (ar != PW_R_OK)
        PW_HC_RETURN(vm, results, ar);
    /* The allocator ran guest code: re-read entries (they are the proxy's, unchanged) and
     * take the memory view only now. */
    uint8_t *dst = pw__mem(vm, g, (uint32_t)total);
    pw__st32(dst, n);
    uint8_t *sizes = dst + 4, *data = dst + 4 + 8 * (size_t)n;
    for (uint32_t i = 0; i < n; i++) {
        if (st->ops->map_entry(st->s, (pw_map_type_t)A(0), i, &h) != PW_R_OK)
            PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
        pw__st32(sizes + 8 * i, (uint32_t)h.key.len);
        pw__st32(sizes + 8 * i + 4, (uint32_t)h.value.len);
        memcpy(data, h.key.ptr, h.key.len);
        data += h.key.len;
        *data++ = 0;
        memcpy(data, h.value.ptr, h.value.len);
        data += h.value.len;
        *data++ = 0;
    }
    pw__put_u32(vm, A(1), g);
    pw__put_u32(vm, A(2), (uint32_t)total);
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_set_header_map_pairs(type, ptr, len) */
static wa_trap_kind_t hc_set_map_pairs(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    int r;
    uint8_t *buf = pw__mem(vm, A(1), A(2));
    if (A(0) <= PW_MAP_HTTP_CALL_RESPONSE_TRAILERS && !buf)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    pw_stream_t *st = map_stream(vm, A(0), &r);
    if (!st || !st->ops->map_set_all)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    size_t cnt = pw__pairs_count(buf, A(2)), n = 0;
    pw_header_t *h = cnt ? calloc(cnt, sizeof *h) : NULL;
    if (cnt && !h)
        PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
    /* Decode in place in guest memory (no guest call until set_all returns); names are
     * lower-cased into a copy. */
    uint8_t *copy = NULL;
    if (!pw__pairs_decode(buf, A(2), h, cnt, &n))
        n = 0;
    size_t klen = 0;
    for (size_t i = 0; i < n; i++)
        klen += h[i].key.len;
    /* at least a byte, so that empty names too point into the copy, never at NULL */
    if (n && !(copy = malloc(klen ? klen : 1))) {
        free(h);
        PW_HC_RETURN(vm, results, PW_R_INTERNAL_FAILURE);
    }
    for (size_t i = 0, off = 0; i < n; i++) {
        for (size_t j = 0; j < h[i].key.len; j++) {
            uint8_t c = h[i].key.ptr[j];
            copy[off + j] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
        }
        h[i].key.ptr = copy + off;
        off += h[i].key.len;
    }
    r = st->ops->map_set_all(st->s, (pw_map_type_t)A(0), h, n);
    free(copy);
    free(h);
    PW_HC_RETURN(vm, results, r);
}

/* proxy_get_header_map_size(type, ret_size_ptr): Envoy writes the byte size of the map. */
static wa_trap_kind_t hc_get_map_size(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    int r;
    if (!pw__mem(vm, A(1), 4) && A(0) <= PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    if (is_callout_map(A(0))) {
        const pw_header_t *h;
        size_t nh = 0;
        if (!callout_map(vm, A(0), &h, &nh))
            PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
        uint64_t bytes = 0;
        for (size_t i = 0; i < nh; i++)
            bytes += h[i].key.len + h[i].value.len;
        pw__put_u32(vm, A(1), (uint32_t)(bytes > UINT32_MAX ? UINT32_MAX : bytes));
        PW_HC_RETURN(vm, results, PW_R_OK);
    }
    pw_stream_t *st = map_stream(vm, A(0), &r);
    uint32_t n = 0;
    if (!st || !st->ops->map_count || !st->ops->map_entry ||
        st->ops->map_count(st->s, (pw_map_type_t)A(0), &n) != PW_R_OK)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    uint64_t bytes = 0;
    pw_header_t h;
    for (uint32_t i = 0; i < n; i++)
        if (st->ops->map_entry(st->s, (pw_map_type_t)A(0), i, &h) == PW_R_OK)
            bytes += h.key.len + h.value.len;
    pw__put_u32(vm, A(1), (uint32_t)(bytes > UINT32_MAX ? UINT32_MAX : bytes));
    PW_HC_RETURN(vm, results, PW_R_OK);
}

/* proxy_get_header_map_value(type, key_ptr, key_len, ret_ptr_ptr, ret_size_ptr) */
static wa_trap_kind_t hc_get_map_value(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    int r;
    pw_slice_t key, val;
    if (A(0) > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        PW_HC_RETURN(vm, results, PW_R_BAD_ARGUMENT);
    /* one view of the memory for the key and the slots: no guest code runs before the value
     * is returned */
    uint64_t size = 0;
    uint8_t *base = vm->mem ? wa_memory_data(vm->mem, &size) : NULL;
    if ((r = lower_key(vm, base, size, A(1), A(2), &key)) != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    if (!pw__slots_fit(base, size, A(3), A(4)))
        PW_HC_RETURN(vm, results, PW_R_INVALID_MEMORY_ACCESS);
    bool v010 = vm->code->abi == PW_ABI_0_1_0;
    const pw_header_t *ch;
    size_t cn;
    if (is_callout_map(A(0)) && callout_map(vm, A(0), &ch, &cn)) {
        for (size_t i = 0; i < cn; i++) /* the first value, names compared case-blind */
            if (ch[i].key.len == key.len && strncasecmp((const char *)ch[i].key.ptr,
                                                        (const char *)key.ptr, key.len) == 0)
                PW_HC_RETURN(vm, results, pw__return_bytes(vm, ch[i].value.ptr,
                                                           ch[i].value.len, A(3), A(4)));
        PW_HC_RETURN(vm, results, v010 ? pw__return_bytes(vm, NULL, 0, A(3), A(4))
                                       : PW_R_NOT_FOUND);
    }
    pw_stream_t *st = map_stream(vm, A(0), &r);
    if (!st || !st->ops->map_get)
        PW_HC_RETURN(vm, results, v010 ? pw__return_bytes(vm, NULL, 0, A(3), A(4))
                                       : PW_R_BAD_ARGUMENT);
    r = st->ops->map_get(st->s, (pw_map_type_t)A(0), key, &val);
    if (r == PW_R_NOT_FOUND && v010) /* 0.1.0: a missing key is OK with an empty value */
        PW_HC_RETURN(vm, results, pw__return_bytes(vm, NULL, 0, A(3), A(4)));
    if (r == PW_R_BAD_ARGUMENT && st->phase == PW_PHASE_LOG) /* Envoy: during on_log; there
                                                                 is no value to return */
        PW_HC_RETURN(vm, results, v010 ? pw__return_bytes(vm, NULL, 0, A(3), A(4))
                                       : PW_R_NOT_FOUND);
    if (r != PW_R_OK)
        PW_HC_RETURN(vm, results, r);
    /* The value is the proxy's and stays put while the allocator runs. */
    PW_HC_RETURN(vm, results, pw__return_bytes_to(vm, base, val.ptr, val.len, A(3), A(4)));
}

typedef pw_result_t (*map_write_fn)(void *, pw_map_type_t, pw_slice_t, pw_slice_t);

static int map_write(pw_vm_t *vm, const wa_value_t *args, int which)
{
    int r;
    pw_slice_t key;
    if (A(0) > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        return PW_R_BAD_ARGUMENT;
    uint64_t size = 0;
    uint8_t *base = vm->mem ? wa_memory_data(vm->mem, &size) : NULL;
    if ((r = lower_key(vm, base, size, A(1), A(2), &key)) != PW_R_OK)
        return r;
    uint8_t *v = which == 2 ? NULL : pw__mem(vm, A(3), A(4));
    if (which != 2 && !v)
        return PW_R_INVALID_MEMORY_ACCESS;
    pw_stream_t *st = map_stream(vm, A(0), &r);
    if (!st)
        return r;
    if (which == 2)
        return st->ops->map_remove ? st->ops->map_remove(st->s, (pw_map_type_t)A(0), key)
                                   : PW_R_BAD_ARGUMENT;
    map_write_fn fn = which == 0 ? st->ops->map_add : st->ops->map_replace;
    return fn ? fn(st->s, (pw_map_type_t)A(0), key, (pw_slice_t){v, A(4)}) : PW_R_BAD_ARGUMENT;
}

static wa_trap_kind_t hc_add_map_value(pw_vm_t *vm, const wa_value_t *args, wa_value_t *results)
{
    PW_HC_RETURN(vm, results, map_write(vm, args, 0));
}

static wa_trap_kind_t hc_replace_map_value(pw_vm_t *vm, const wa_value_t *args,
                                           wa_value_t *results)
{
    PW_HC_RETURN(vm, results, map_write(vm, args, 1));
}

static wa_trap_kind_t hc_remove_map_value(pw_vm_t *vm, const wa_value_t *args,
                                          wa_value_t *results)
{
    PW_HC_RETURN(vm, results, map_write(vm, args, 2));
}

const pw_hostcall_t pw__hostcalls_http[] = {
    {"env", "proxy_get_buffer_bytes", "iiiii", "i", hc_get_buffer_bytes, 0},
    {"env", "proxy_get_buffer_status", "iii", "i", hc_get_buffer_status, 0},
    {"env", "proxy_set_buffer_bytes", "iiiii", "i", hc_set_buffer_bytes, 0},
    {"env", "proxy_get_header_map_pairs", "iii", "i", hc_get_map_pairs, 0},
    {"env", "proxy_set_header_map_pairs", "iii", "i", hc_set_map_pairs, 0},
    {"env", "proxy_get_header_map_size", "ii", "i", hc_get_map_size, 0},
    {"env", "proxy_get_header_map_value", "iiiii", "i", hc_get_map_value, 0},
    {"env", "proxy_add_header_map_value", "iiiii", "i", hc_add_map_value, 0},
    {"env", "proxy_replace_header_map_value", "iiiii", "i", hc_replace_map_value, 0},
    {"env", "proxy_remove_header_map_value", "iii", "i", hc_remove_map_value, 0},
    {NULL, NULL, NULL, NULL, NULL, 0},
};
