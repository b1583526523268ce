/* Process-wide shared key-value store of ABI 5.11: values namespaced by vm_id, shared by every
 * VM replica on every thread, with a per-key CAS version; 64 shards, each under its own rwlock. */
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
    pthread_rwlock_t lock; /* guards everything below */
    entry_t **buckets;     /* owned array of chains (entries owned by the shard) */
    size_t nbuckets, count;
    char pad[64];          /* keeps neighbouring shards' locks off one cache line */
} shard_t;

/* The store lives as long as the process: values outlive VM replicas by design. */
static shard_t shards[NSHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_shards(void)
{
    for (int i = 0; i < NSHARDS; i++)
        pthread_rwlock_init(&shards[i].lock, NULL);
}

/* FNV-1a over vm_id, a separator no length can fake (0xff 0x00), and key. */
static uint64_t hash_of(pw_slice_t vm_id, pw_slice_t key)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < vm_id.len; i++)
        h = (h ^ vm_id.ptr[i]) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
    h = (h ^ 0x00) * 0x100000001b3ull;
    for (size_t i = 0; i < key.len; i++)
        h = (h ^ key.ptr[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static shard_t *shard_of(uint64_t h)
{
    return &shards[h >> (64 - SHARD_BITS)];
}

static entry_t *lookup(shard_t *s, uint64_t h, pw_slice_t vm_id, pw_slice_t key)
{
    if (!s->nbuckets)
        return NULL;
    for (entry_t *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->vm_id_len == vm_id.len && e->key_len == key.len &&
            memcmp(e->name, vm_id.ptr, vm_id.len) == 0 &&
            memcmp(e->name + vm_id.len, key.ptr, key.len) == 0)
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
    pthread_once(&once, init_shards);
    uint64_t h = hash_of(vm_id, key);
    shard_t *s = shard_of(h);
    pw_result_t r = PW_R_OK;
    pthread_rwlock_rdlock(&s->lock);
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
    pthread_rwlock_unlock(&s->lock);
    return r;
}

pw_result_t pw_shared_data_set(pw_slice_t vm_id, pw_slice_t key, pw_slice_t value, uint32_t cas)
{
    pthread_once(&once, init_shards);
    uint64_t h = hash_of(vm_id, key);
    shard_t *s = shard_of(h);
    pw_result_t r = PW_R_OK;
    pthread_rwlock_wrlock(&s->lock);
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
    pthread_rwlock_unlock(&s->lock);
    return r;
}
