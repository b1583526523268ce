/* Process-wide shared key-value store of ABI 5.11: values namespaced by vm_id, shared by every
 * VM replica on every thread, with a per-key CAS version; 64 shards, each under its own mutex. */
#include "pw_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { NSHARDS = 64, SHARD_BITS = 6 };

/* One key. The name bytes (vm_id then key) follow the struct. */
typedef struct entry {
    struct entry *next;  /* bucket chain */
    uint64_t hash;
    uint32_t vm_id_len, key_len;
    uint32_t cas;        /* 1 on first set, +1 per set, skips 0 on wrap */
    uint8_t *value;      /* owned; NULL when empty */
    size_t value_len, value_cap;
    uint8_t name[];
} entry_t;

typedef struct shard {
    pthread_mutex_t lock;  /* guards everything below */
    entry_t **buckets;     /* owned array of chains (entries owned by the shard) */
    size_t nbuckets, count;
    char pad[64];          /* keeps neighbouring shards' locks off one cache line */
} shard_t;

/* The store lives as long as the process: values outlive VM replicas by design. Statically
 * initialized, so no call pays for a once-check. */
#define SH1 {.lock = PTHREAD_MUTEX_INITIALIZER}
#define SH8 SH1, SH1, SH1, SH1, SH1, SH1, SH1, SH1
static shard_t shards[NSHARDS] = {SH8, SH8, SH8, SH8, SH8, SH8, SH8, SH8};
_Static_assert(NSHARDS == 64, "the initializer above lists 64 shards");

/* Eight bytes at a time, the last 1-7 bytes read as two overlapping words (no byte loop),
 * the length mixed in so that ("a","bk") and ("ab","k") differ. Lookups compare lengths and
 * bytes anyway; this only spreads keys. */
static uint64_t mix_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    h ^= n * 0x9e3779b97f4a7c15ull;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    uint64_t w = 0;
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        w = (uint64_t)a << 32 | b;
    } else if (n) {
        w = (uint64_t)p[0] << 16 | (uint64_t)p[n / 2] << 8 | p[n - 1];
    }
    h = (h ^ w) * 0x94d049bb133111ebull;
    return h ^ (h >> 29);
}

static uint64_t hash_of(pw_slice_t vm_id, pw_slice_t key)
{
    uint64_t h = mix_bytes(0x243f6a8885a308d3ull, vm_id.ptr, vm_id.len);
    h = mix_bytes(h, key.ptr, key.len);
    h = (h ^ (h >> 32)) * 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

static shard_t *shard_of(uint64_t h)
{
    return &shards[h >> (64 - SHARD_BITS)];
}

/* Equality of short byte strings without a byte loop or a libc call (whose size dispatch
 * mispredicts on keys of a few bytes): words, then overlapping words for the tail. */
static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t x, y;
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return false;
    }
    if (n >= 4) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n == 0)
        return true;
    return ((a[0] ^ b[0]) | (a[n / 2] ^ b[n / 2]) | (a[n - 1] ^ b[n - 1])) == 0;
}

static entry_t *lookup(shard_t *s, uint64_t h, pw_slice_t vm_id, pw_slice_t key)
{
    if (!s->nbuckets)
        return NULL;
    for (entry_t *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->vm_id_len == vm_id.len && e->key_len == key.len &&
            same(e->name, vm_id.ptr, vm_id.len) && same(e->name + vm_id.len, key.ptr, key.len))
            return e;
    return NULL;
}

/* Doubles the bucket array when the load passes 1; false when out of memory. */
static bool grow(shard_t *s)
{
    if (s->count < s->nbuckets)
        return true;
    size_t nb = s->nbuckets ? s->nbuckets * 2 : 16;
    entry_t **b = calloc(nb, sizeof *b);
    if (!b)
        return s->nbuckets > 0; /* a full table still works, only slower */
    for (size_t i = 0; i < s->nbuckets; i++)
        for (entry_t *e = s->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
    return true;
}

pw_result_t pw_shared_data_get(pw_slice_t vm_id, pw_slice_t key, uint8_t **buf, size_t *cap,
                               size_t *len, uint32_t *cas)
{
    uint64_t h = hash_of(vm_id, key);
    shard_t *s = shard_of(h);
    pw_result_t r = PW_R_OK;
    pthread_mutex_lock(&s->lock);
    entry_t *e = lookup(s, h, vm_id, key);
    if (!e) {
        r = PW_R_NOT_FOUND;
    } else {
        if (e->value_len > *cap) {
            uint8_t *nb = realloc(*buf, e->value_len);
            if (!nb) {
                r = PW_R_INTERNAL_FAILURE;
                goto out;
            }
            *buf = nb;
            *cap = e->value_len;
        }
        if (e->value_len)
            memcpy(*buf, e->value, e->value_len);
        *len = e->value_len;
        *cas = e->cas;
    }
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}

pw_result_t pw_shared_data_set(pw_slice_t vm_id, pw_slice_t key, pw_slice_t value, uint32_t cas)
{
    uint64_t h = hash_of(vm_id, key);
    shard_t *s = shard_of(h);
    pw_result_t r = PW_R_OK;
    pthread_mutex_lock(&s->lock);
    entry_t *e = lookup(s, h, vm_id, key);
    if (e && cas != 0 && cas != e->cas) {
        r = PW_R_CAS_MISMATCH;
        goto out;
    }
    if (!e) { /* ABI 5.11: a missing key is created whatever cas says */
        if (!grow(s) || !(e = calloc(1, sizeof *e + vm_id.len + key.len))) {
            r = PW_R_INTERNAL_FAILURE;
            goto out;
        }
        e->hash = h;
        e->vm_id_len = (uint32_t)vm_id.len;
        e->key_len = (uint32_t)key.len;
        memcpy(e->name, vm_id.ptr, vm_id.len);
        memcpy(e->name + vm_id.len, key.ptr, key.len);
        e->next = s->buckets[h & (s->nbuckets - 1)];
        s->buckets[h & (s->nbuckets - 1)] = e;
        s->count++;
    }
    /* Reuse the value's allocation when it fits: a counter updated per request never
     * allocates after its first set. */
    if (value.len > e->value_cap) {
        uint8_t *nv = realloc(e->value, value.len);
        if (!nv) {
            r = PW_R_INTERNAL_FAILURE;
            goto out;
        }
        e->value = nv;
        e->value_cap = value.len;
    }
    if (value.len)
        memcpy(e->value, value.ptr, value.len);
    e->value_len = value.len;
    e->cas = e->cas + 1 == 0 ? 1 : e->cas + 1;
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}
