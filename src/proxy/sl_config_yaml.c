/* YAML text to a node tree with line:column marks (libyaml's event parser), in the
 * configuration's arena; plus the arena itself. Bounded: depth, anchors and alias expansion. */
#include "proxy/sl_config_internal.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- arena ----------------------------------------------------------------------------------- */

struct sl__arena_chunk {
    sl__arena_chunk_t *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK 16384

void *sl__arena_alloc(sl__arena_t *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    sl__arena_chunk_t *h = a->head;
    if (!h || h->cap - h->used < size) {
        size_t cap = size > ARENA_CHUNK / 2 ? size : ARENA_CHUNK;
        h = malloc(sizeof(*h) + cap);
        if (!h)
            return NULL;
        h->cap = cap;
        h->used = 0;
        /* A big block gets its own chunk behind the current one, so the current chunk's
         * free space stays usable. */
        if (cap == size && a->head) {
            h->next = a->head->next;
            a->head->next = h;
        } else {
            h->next = a->head;
            a->head = h;
        }
        a->total += sizeof(*h) + cap;
    }
    void *p = h->data + h->used;
    h->used += size;
    memset(p, 0, size);
    return p;
}

char *sl__arena_strndup(sl__arena_t *a, const char *s, size_t len)
{
    char *p = sl__arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void sl__arena_dispose(sl__arena_t *a)
{
    sl__arena_chunk_t *h = a->head;
    while (h) {
        sl__arena_chunk_t *next = h->next;
        free(h);
        h = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- tree building ------------------------------------------------------------------------- */

/* One open container while events arrive: its children collect in a malloc'd vector and are
 * copied into the arena when the container ends. */
typedef struct frame {
    sl__node_t *node;
    sl__node_t **kids; /* owned until the container ends */
    size_t n, cap;
    const char *anchor; /* arena, NULL when none */
} frame_t;

typedef struct anchor {
    const char *name; /* arena */
    sl__node_t *node; /* arena */
    int next;         /* the previous anchor in the same hash bucket, -1 at the end */
} anchor_t;

/* Anchors are found through a small hash table so that a document with many aliases stays
 * linear; newest first in each bucket, so a redefined anchor shadows the older one. */
#define ANCHOR_BUCKETS 1024

typedef struct builder {
    sl__ctx_t *c;
    frame_t stack[SL__YAML_MAX_DEPTH];
    size_t depth;
    anchor_t *anchors; /* owned (malloc) */
    size_t n_anchors, cap_anchors;
    int bucket[ANCHOR_BUCKETS]; /* index of the newest anchor per bucket, -1 when empty */
    sl__node_t *root;
} builder_t;

#define MAX_ANCHORS 4096

static size_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % ANCHOR_BUCKETS;
}

static sl_status_t add_anchor(builder_t *b, const char *name, sl__node_t *node,
                              const yaml_mark_t *m)
{
    if (!name)
        return SL_OK;
    if (b->n_anchors == MAX_ANCHORS)
        return sl__fail_status(b->c, SL_ERR_LIMIT, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
                               "more than %d YAML anchors at line %zu:%zu", MAX_ANCHORS,
                               m->line + 1, m->column + 1);
    if (b->n_anchors == b->cap_anchors) {
        size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 16;
        anchor_t *p = realloc(b->anchors, cap * sizeof(*p));
        if (!p)
            return sl__nomem(b->c);
        b->anchors = p;
        b->cap_anchors = cap;
    }
    /* A later anchor of the same name shadows the earlier one (YAML 1.2, 3.2.2.2). */
    size_t h = hash(name);
    b->anchors[b->n_anchors].name = name;
    b->anchors[b->n_anchors].node = node;
    b->anchors[b->n_anchors].next = b->bucket[h];
    b->bucket[h] = (int)b->n_anchors;
    b->n_anchors++;
    return SL_OK;
}

static sl__node_t *find_anchor(builder_t *b, const char *name)
{
    for (int i = b->bucket[hash(name)]; i >= 0; i = b->anchors[i].next)
        if (strcmp(b->anchors[i].name, name) == 0)
            return b->anchors[i].node;
    return NULL;
}

static sl_status_t push_child(builder_t *b, sl__node_t *n, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        if (b->root)
            return sl__fail_status(b->c, SL_ERR_CONFIG, (uint32_t)m->line + 1,
                                   (uint32_t)m->column + 1, "more than one YAML root node");
        b->root = n;
        return SL_OK;
    }
    frame_t *f = &b->stack[b->depth - 1];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        sl__node_t **p = realloc(f->kids, cap * sizeof(*p));
        if (!p)
            return sl__nomem(b->c);
        f->kids = p;
        f->cap = cap;
    }
    f->kids[f->n++] = n;
    f->node->weight += n->weight;
    if (f->node->weight > SL__YAML_MAX_WEIGHT)
        return sl__fail_status(b->c, SL_ERR_LIMIT, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
                               "document has more than %u nodes (counting alias expansion) "
                               "at line %zu:%zu",
                               SL__YAML_MAX_WEIGHT, m->line + 1, m->column + 1);
    /* In a mapping, keys sit at even positions and must be scalars. */
    if (f->node->kind == SL__N_MAP && (f->n % 2) == 1 && n->kind != SL__N_SCALAR)
        return sl__fail(b->c, n, "mapping keys must be plain strings, got a %s", sl__kind_str(n));
    return SL_OK;
}

static sl__node_t *new_node(builder_t *b, sl__node_kind_t kind, const yaml_mark_t *m)
{
    sl__node_t *n = sl__arena_alloc(b->c->arena, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (uint32_t)m->line + 1;
    n->column = (uint32_t)m->column + 1;
    n->weight = 1;
    return n;
}

static const char *dup_anchor(builder_t *b, const yaml_char_t *a)
{
    return a ? sl__arena_strndup(b->c->arena, (const char *)a, strlen((const char *)a)) : NULL;
}

static sl_status_t open_container(builder_t *b, sl__node_kind_t kind, const yaml_event_t *ev,
                                  const yaml_char_t *anchor)
{
    const yaml_mark_t *m = &ev->start_mark;
    if (b->depth == SL__YAML_MAX_DEPTH)
        return sl__fail_status(b->c, SL_ERR_LIMIT, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
                               "nesting deeper than %d levels at line %zu:%zu", SL__YAML_MAX_DEPTH,
                               m->line + 1, m->column + 1);
    sl__node_t *n = new_node(b, kind, m);
    const char *name = dup_anchor(b, anchor);
    if (!n || (anchor && !name))
        return sl__nomem(b->c);
    frame_t *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = n;
    f->anchor = name;
    return SL_OK;
}

static int key_cmp(const void *x, const void *y)
{
    const sl__node_t *a = *(const sl__node_t *const *)x, *b = *(const sl__node_t *const *)y;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    int r = memcmp(a->str, b->str, a->len);
    if (r)
        return r;
    /* Same key: order by position so the report names the later one. */
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->column < b->column ? -1 : a->column > b->column;
}

/* Duplicate keys are an error in YAML and would hide a value silently. Sorting a copy keeps
 * this O(n log n) for mappings of any size. */
static sl_status_t check_duplicates(builder_t *b, const sl__node_t *map)
{
    if (map->n < 2)
        return SL_OK;
    sl__node_t **keys = malloc(map->n * sizeof(*keys));
    if (!keys)
        return sl__nomem(b->c);
    for (size_t i = 0; i < map->n; i++)
        keys[i] = map->items[2 * i];
    qsort(keys, map->n, sizeof(*keys), key_cmp);
    sl_status_t st = SL_OK;
    for (size_t i = 1; i < map->n; i++) {
        const sl__node_t *a = keys[i - 1], *k = keys[i];
        if (a->len == k->len && memcmp(a->str, k->str, a->len) == 0) {
            st = sl__fail(b->c, k, "duplicate key '%s' (first at line %u)", k->str, a->line);
            break;
        }
    }
    free(keys);
    return st;
}

static sl_status_t close_container(builder_t *b, const yaml_event_t *ev)
{
    frame_t *f = &b->stack[b->depth - 1];
    sl__node_t *n = f->node;
    sl_status_t st = SL_OK;
    if (f->n) {
        n->items = sl__arena_alloc(b->c->arena, f->n * sizeof(*n->items));
        if (!n->items) {
            st = sl__nomem(b->c);
            goto done;
        }
        memcpy(n->items, f->kids, f->n * sizeof(*n->items));
    }
    if (n->kind == SL__N_MAP) {
        n->n = f->n / 2;
        if (n->n) {
            n->used = sl__arena_alloc(b->c->arena, n->n * sizeof(*n->used));
            if (!n->used) {
                st = sl__nomem(b->c);
                goto done;
            }
        }
        st = check_duplicates(b, n);
        if (st != SL_OK)
            goto done;
    } else {
        n->n = f->n;
    }
    const char *anchor = f->anchor;
    free(f->kids);
    f->kids = NULL;
    b->depth--;
    st = add_anchor(b, anchor, n, &ev->start_mark);
    if (st == SL_OK)
        st = push_child(b, n, &ev->start_mark);
    return st;
done:
    return st;
}

static sl_status_t on_event(builder_t *b, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    case YAML_NO_EVENT:
        return SL_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (b->root)
            return sl__fail_status(
                b->c, SL_ERR_CONFIG, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
                "more than one YAML document at line %zu:%zu", m->line + 1, m->column + 1);
        return SL_OK;
    case YAML_SCALAR_EVENT: {
        sl__node_t *n = new_node(b, SL__N_SCALAR, m);
        if (!n)
            return sl__nomem(b->c);
        n->str = sl__arena_strndup(b->c->arena, (const char *)ev->data.scalar.value,
                                   ev->data.scalar.length);
        if (!n->str)
            return sl__nomem(b->c);
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        const char *anchor = dup_anchor(b, ev->data.scalar.anchor);
        if (ev->data.scalar.anchor && !anchor)
            return sl__nomem(b->c);
        sl_status_t st = add_anchor(b, anchor, n, m);
        return st ? st : push_child(b, n, m);
    }
    case YAML_ALIAS_EVENT: {
        sl__node_t *n = find_anchor(b, (const char *)ev->data.alias.anchor);
        if (!n)
            return sl__fail_status(b->c, SL_ERR_CONFIG, (uint32_t)m->line + 1,
                                   (uint32_t)m->column + 1,
                                   "unknown YAML alias '*%s' at line %zu:%zu",
                                   (const char *)ev->data.alias.anchor, m->line + 1, m->column + 1);
        return push_child(b, n, m);
    }
    case YAML_SEQUENCE_START_EVENT:
        return open_container(b, SL__N_SEQ, ev, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return open_container(b, SL__N_MAP, ev, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_container(b, ev);
    }
    return SL_OK;
}

sl_status_t sl__yaml_parse(sl__ctx_t *c, const char *text, size_t len, sl__node_t **root)
{
    yaml_parser_t parser;
    builder_t b;
    memset(&b, 0, sizeof(b));
    memset(b.bucket, 0xff, sizeof(b.bucket)); /* every bucket -1 */
    b.c = c;
    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        return sl__nomem(c);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    sl_status_t st = SL_OK;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t *m = parser.problem_mark.line || parser.problem_mark.column
                                       ? &parser.problem_mark
                                       : &parser.context_mark;
            if (parser.error == YAML_MEMORY_ERROR)
                st = sl__nomem(c);
            else
                st = sl__fail_status(
                    c, SL_ERR_CONFIG, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
                    "YAML syntax error: %s%s%s at line %zu:%zu",
                    parser.problem ? parser.problem : "malformed input", parser.context ? " " : "",
                    parser.context ? parser.context : "", m->line + 1, m->column + 1);
            break;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        st = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (st != SL_OK || end)
            break;
    }
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < b.depth; i++)
        free(b.stack[i].kids);
    free(b.anchors);
    if (st != SL_OK)
        return st;
    if (!b.root || sl__is_null(b.root))
        return sl__fail_status(c, SL_ERR_CONFIG, 1, 1, "the configuration is empty");
    if (b.root->kind != SL__N_MAP)
        return sl__fail(c, b.root, "the configuration must be a mapping (a bootstrap), got a %s",
                        sl__kind_str(b.root));
    *root = b.root;
    return SL_OK;
}
