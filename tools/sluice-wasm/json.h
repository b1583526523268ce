/* A small strict JSON (RFC 8259) reader for the spec runner: parses a whole document into a
 * tree of sw_json_t nodes that all live in one arena, freed at once. */
#ifndef SLUICE_WASM_TOOL_JSON_H
#define SLUICE_WASM_TOOL_JSON_H

#include <stddef.h>

typedef enum {
    SW_JSON_NULL,
    SW_JSON_FALSE,
    SW_JSON_TRUE,
    SW_JSON_NUMBER, /* kept as its source text: the caller picks the width it needs */
    SW_JSON_STRING,
    SW_JSON_ARRAY,
    SW_JSON_OBJECT,
} sw_json_kind_t;

typedef struct sw_json sw_json_t;
struct sw_json {
    sw_json_kind_t kind;
    const char *str; /* arena: NUMBER text or decoded STRING (NUL-terminated, may hold NULs) */
    size_t len;      /* bytes in str, or items in ARRAY/OBJECT */
    sw_json_t **items; /* arena: ARRAY elements, or OBJECT values */
    const char **keys; /* arena: OBJECT keys (decoded, NUL-terminated) */
    size_t *key_lens;  /* arena: OBJECT key lengths */
};

typedef struct sw_json_doc sw_json_doc_t; /* owns the arena holding every node */

/* Parses text[0..len). Returns NULL and writes "line L col C: why" into err on any error
 * (trailing garbage, bad escape, lone surrogate, invalid UTF-8, nesting deeper than 256). */
sw_json_doc_t *sw_json_parse(const char *text, size_t len, char *err, size_t errlen);
const sw_json_t *sw_json_root(const sw_json_doc_t *doc);
void sw_json_free(sw_json_doc_t *doc); /* NULL is a no-op */

/* Object member by key, or NULL when absent or `obj` is not an object. */
const sw_json_t *sw_json_get(const sw_json_t *obj, const char *key);
/* The member's string, or NULL when absent or not a string. */
const char *sw_json_get_str(const sw_json_t *obj, const char *key, size_t *len);

#endif
