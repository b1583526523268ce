/* Process-wide shared queues of ABI 5.12: any thread enqueues, the thread of the root context
 * that registered a queue is woken through its dispatch ops and runs proxy_on_queue_ready. */
#include "pw_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 256, NCHUNKS = 256, DEFAULT_CAPACITY = 10000, BATCH = 1024 };

typedef struct item {
    struct item *next;
    size_t len;
    uint8_t data[];
} item_t;

typedef struct pw_queue {
    uint32_t token;           /* index in the registry + 1; never 0 */
    char *vm_id, *name;       /* owned */
    size_t vm_id_len, name_len;
    pthread_mutex_t lock;     /* guards everything below */
    item_t *head, *tail;      /* owned FIFO */
    uint32_t count;
    uint32_t notes;           /* enqueues not yet announced by proxy_on_queue_ready */
    bool on_ready_list;       /* token is on the owner's ready list */
    bool full_logged;         /* one warning per full episode */
    uint32_t cap;             /* max items: the registering plugin's, 0 = process default */
    pw_thread_t *owner;       /* borrowed; cleared by pw__queues_detach_thread */
    pw_root_t *owner_root;    /* borrowed; cleared by pw__queues_detach_root */
    uint8_t owner_vm_key[32]; /* VMs with this key may dequeue (cpp-host's rule) */
} pw_queue_t;

/* The registry: append-only, and queues are never freed (tokens stay valid for the process),
 * so lookups by token and by name need no lock: a queue's names are set before it is
 * published by the release store of nqueues. Registration takes reg_lock. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(pw_queue_t *) *chunks[NCHUNKS]; /* owned; entries owned by the registry */
static atomic_uint nqueues;
static atomic_uint capacity = DEFAULT_CAPACITY;

void pw_shared_queue_set_capacity(uint32_t max_items)
{
    atomic_store(&capacity, max_items ? max_items : DEFAULT_CAPACITY);
}

static pw_queue_t *by_token(uint32_t token)
{
    if (token == 0 || token > atomic_load_explicit(&nqueues, memory_order_acquire))
        return NULL;
    uint32_t i = token - 1;
    return atomic_load_explicit(&chunks[i / CHUNK][i % CHUNK], memory_order_acquire);
}

/* Any thread, with or without reg_lock: sees every queue published before it started. */
static pw_queue_t *by_name(pw_slice_t vm_id, pw_slice_t name)
{
    uint32_t n = atomic_load_explicit(&nqueues, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        pw_queue_t *q = atomic_load_explicit(&chunks[i / CHUNK][i % CHUNK], memory_order_acquire);
        if (q->vm_id_len == vm_id.len && q->name_len == name.len &&
            memcmp(q->vm_id, vm_id.ptr, vm_id.len) == 0 &&
            memcmp(q->name, name.ptr, name.len) == 0)
            return q;
    }
    return NULL;
}

static char *dup_slice(pw_slice_t s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = 0;
    }
    return p;
}

/* Caller holds reg_lock. */
static pw_queue_t *create(pw_slice_t vm_id, pw_slice_t name)
{
    uint32_t n = atomic_load(&nqueues);
    if (n >= (uint32_t)CHUNK * NCHUNKS)
        return NULL;
    if (!chunks[n / CHUNK] && !(chunks[n / CHUNK] = calloc(CHUNK, sizeof *chunks[0])))
        return NULL;
    pw_queue_t *q = calloc(1, sizeof *q);
    if (!q || !(q->vm_id = dup_slice(vm_id)) || !(q->name = dup_slice(name))) {
        if (q)
            free(q->vm_id);
        free(q);
        return NULL;
    }
    q->vm_id_len = vm_id.len;
    q->name_len = name.len;
    q->token = n + 1;
    pthread_mutex_init(&q->lock, NULL);
    atomic_store_explicit(&chunks[n / CHUNK][n % CHUNK], q, memory_order_release);
    atomic_store_explicit(&nqueues, n + 1, memory_order_release);
    return q;
}

/* Puts q on its owner's ready list and wakes the owner's loop, once until it is drained.
 * Caller holds q->lock; the owner cannot be freed meanwhile (detach takes q->lock). */
static void announce(pw_queue_t *q)
{
    pw_thread_t *t = q->owner;
    if (!t || q->on_ready_list || q->notes == 0)
        return;
    pthread_mutex_lock(&t->ready_lock);
    if (t->n_ready == t->cap_ready) {
        size_t nc = t->cap_ready ? t->cap_ready * 2 : 16;
        uint32_t *nr = realloc(t->ready, nc * sizeof *nr);
        if (!nr) {
            pthread_mutex_unlock(&t->ready_lock);
            return; /* the next enqueue tries again; items stay queued */
        }
        t->ready = nr;
        t->cap_ready = nc;
    }
    t->ready[t->n_ready++] = q->token;
    pthread_mutex_unlock(&t->ready_lock);
    q->on_ready_list = true;
    if (t->ops && t->ops->queue_notify)
        t->ops->queue_notify(t->ud);
}

pw_result_t pw__queue_register(pw_root_t *r, pw_slice_t vm_id, pw_slice_t name, uint32_t *token)
{
    pthread_mutex_lock(&reg_lock);
    pw_queue_t *q = by_name(vm_id, name);
    if (!q)
        q = create(vm_id, name);
    pthread_mutex_unlock(&reg_lock);
    if (!q)
        return PW_R_INTERNAL_FAILURE;
    pthread_mutex_lock(&q->lock);
    /* ABI 5.12: the last registration wins; queued items are kept for the new owner. */
    q->owner = r->ctx.vm->thread;
    q->owner_root = r;
    q->cap = r->plugin->queue_max_items;
    memcpy(q->owner_vm_key, r->ctx.vm->key, sizeof q->owner_vm_key);
    q->on_ready_list = false; /* an old owner's list entry is skipped by the owner check */
    if (q->count && !q->notes)
        q->notes = q->count;
    announce(q);
    pthread_mutex_unlock(&q->lock);
    *token = q->token;
    return PW_R_OK;
}

/* Plugins may resolve on every request: no lock, so workers never wait on each other here. */
pw_result_t pw_shared_queue_resolve(pw_slice_t vm_id, pw_slice_t name, uint32_t *token)
{
    pw_queue_t *q = by_name(vm_id, name);
    if (!q)
        return PW_R_NOT_FOUND;
    *token = q->token;
    return PW_R_OK;
}

pw_result_t pw__queue_enqueue(pw_thread_t *caller, uint32_t token, pw_slice_t value)
{
    pw_queue_t *q = by_token(token);
    if (!q)
        return PW_R_NOT_FOUND;
    item_t *it = malloc(sizeof *it + value.len); /* outside the lock */
    if (!it)
        return PW_R_INTERNAL_FAILURE;
    it->next = NULL;
    it->len = value.len;
    if (value.len)
        memcpy(it->data, value.ptr, value.len);
    pthread_mutex_lock(&q->lock);
    uint32_t cap = q->cap ? q->cap : atomic_load(&capacity);
    if (q->count >= cap) {
        bool warn = !q->full_logged;
        q->full_logged = true;
        pthread_mutex_unlock(&q->lock);
        free(it);
        if (warn) /* through the caller's own log sink: never another thread's */
            pw__log(caller, PW_LOG_WARN, "shared queue",
                    "queue \"%s\" of vm_id \"%s\" is full (%u items); dropping new items",
                    q->name, q->vm_id, cap);
        /* NOT_FOUND: the only failure the Rust SDK returns as an error instead of
         * panicking (the ABI has no "full" status); see docs/host-async.md. */
        return PW_R_NOT_FOUND;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->count++;
    q->notes++;
    announce(q);
    pthread_mutex_unlock(&q->lock);
    return PW_R_OK;
}

pw_result_t pw_shared_queue_enqueue(uint32_t token, pw_slice_t value)
{
    return pw__queue_enqueue(NULL, token, value);
}

pw_result_t pw__queue_dequeue(uint32_t token, const uint8_t vm_key[32], void **item_out,
                              const uint8_t **data, size_t *len)
{
    pw_queue_t *q = by_token(token);
    if (!q)
        return PW_R_NOT_FOUND;
    pthread_mutex_lock(&q->lock);
    if (vm_key && memcmp(vm_key, q->owner_vm_key, 32) != 0) {
        pthread_mutex_unlock(&q->lock);
        return PW_R_NOT_FOUND; /* cpp-host: only VMs of the registering VM key dequeue */
    }
    item_t *it = q->head;
    if (it) {
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->count--;
        if (q->count < (q->cap ? q->cap : atomic_load(&capacity)))
            q->full_logged = false;
    }
    pthread_mutex_unlock(&q->lock);
    if (!it)
        return PW_R_EMPTY;
    *item_out = it;
    *data = it->data;
    *len = it->len;
    return PW_R_OK;
}

void pw__queue_item_free(void *item)
{
    free(item);
}

uint32_t pw_shared_queue_size(uint32_t token)
{
    pw_queue_t *q = by_token(token);
    if (!q)
        return 0;
    pthread_mutex_lock(&q->lock);
    uint32_t n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

static void detach(pw_thread_t *t, pw_root_t *r)
{
    uint32_t n = atomic_load(&nqueues);
    for (uint32_t i = 0; i < n; i++) {
        pw_queue_t *q = by_token(i + 1);
        pthread_mutex_lock(&q->lock);
        if ((t && q->owner == t) || (r && q->owner_root == r)) {
            q->owner = NULL;
            q->owner_root = NULL;
            q->on_ready_list = false;
        }
        pthread_mutex_unlock(&q->lock);
    }
}

void pw__queues_detach_root(pw_root_t *r) { detach(NULL, r); }
void pw__queues_detach_thread(pw_thread_t *t) { detach(t, NULL); }

/* Takes the ready list, then for each queue of this thread calls proxy_on_queue_ready once
 * per announced enqueue while items remain (several enqueues before the loop ran coalesce
 * into one wake-up, and a plugin that drains in one callback gets one callback). */
void pw_thread_dispatch_queues(pw_thread_t *t)
{
    pthread_mutex_lock(&t->ready_lock);
    uint32_t *list = t->ready;
    size_t n = t->n_ready;
    t->ready = NULL;
    t->n_ready = t->cap_ready = 0;
    pthread_mutex_unlock(&t->ready_lock);
    for (size_t i = 0; i < n; i++) {
        pw_queue_t *q = by_token(list[i]);
        pthread_mutex_lock(&q->lock);
        if (q->owner != t) { /* re-registered elsewhere, or the root ended */
            pthread_mutex_unlock(&q->lock);
            continue;
        }
        pw_root_t *r = q->owner_root;
        uint32_t notes = q->notes;
        q->notes = 0;
        q->on_ready_list = false;
        pthread_mutex_unlock(&q->lock);
        uint32_t calls = 0;
        while (calls < notes && calls < BATCH && r && pw_shared_queue_size(q->token) > 0) {
            if (!pw__root_queue_ready(r, q->token))
                break; /* the root or its VM is gone: items wait for a new registration */
            calls++;
            pthread_mutex_lock(&q->lock);
            r = q->owner == t ? q->owner_root : NULL;
            pthread_mutex_unlock(&q->lock);
        }
        if (calls == BATCH && notes > BATCH) { /* give the loop back; come again */
            pthread_mutex_lock(&q->lock);
            if (q->owner == t) {
                q->notes += notes - BATCH;
                announce(q);
            }
            pthread_mutex_unlock(&q->lock);
        }
    }
    free(list);
}
