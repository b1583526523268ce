/* Example plugin: reads properties while the request is held (request.path, source.address,
 * plugin_name, plugin_root_id) and returns them as x-prop-* response headers. */

/* Configuration (optional): lines "<path> <s|i|b>" naming more properties and how Envoy
 * encodes them (string, 8-byte integer, 1-byte bool); they are read when the response
 * headers arrive (so response.* and upstream.* exist) and returned as x-prop-<path with '.'
 * as '-'> headers, integers in decimal and bools as true/false. */
#include "proxy_wasm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *extra; /* owned: the configuration, one "<path> <kind>" per line */

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    size_t len = 0;
    free(extra);
    extra = NULL;
    return !size || pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &extra, &len) == PWC_OK;
}

/* Adds x-prop-<path> for each configured property. */
static void extra_headers(void)
{
    for (char *line = extra; line && *line;) {
        char *nl = strchr(line, '\n');
        char path[128], name[160];
        char kind = 's';
        int n = sscanf(line, "%127s %c", path, &kind);
        line = nl ? nl + 1 : NULL;
        if (n < 1)
            continue;
        snprintf(name, sizeof name, "x-prop-%s", path);
        for (char *c = name; *c; c++)
            if (*c == '.')
                *c = '-';
        char *v = NULL, out[32];
        size_t len = 0;
        const char *shown = "(not found)";
        int64_t i;
        if (pwc_get_property(path, &v, &len) == PWC_OK) {
            if (kind == 'i' && pwc_property_int(v, len, &i)) {
                snprintf(out, sizeof out, "%" PRId64, i);
                shown = out;
            } else if (kind == 'b' && len == 1) {
                shown = v[0] ? "true" : "false";
            } else if (kind == 's') {
                shown = v ? v : "";
            } else {
                shown = "(bad encoding)";
            }
        }
        pwc_add_header(PWC_RESPONSE_HEADERS, name, shown);
        free(v);
    }
}

static const char *const props[] = {"request.path", "source.address", "plugin_name",
                                    "plugin_root_id"};
static const char *const names[] = {"x-prop-request-path", "x-prop-source-address",
                                    "x-prop-plugin-name", "x-prop-plugin-root-id"};
enum { NPROPS = sizeof props / sizeof props[0] };

typedef struct seen {
    char *value[NPROPS]; /* owned; NULL when the property was not found */
} seen_t;

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    seen_t *s = calloc(1, sizeof *s);
    if (!s)
        return PWC_CONTINUE;
    for (int i = 0; i < NPROPS; i++) {
        size_t len;
        if (pwc_get_property(props[i], &s->value[i], &len) != PWC_OK)
            s->value[i] = NULL;
        else if (!s->value[i])
            s->value[i] = calloc(1, 1); /* found and empty (e.g. no root id) */
    }
    pwc_set_data(ctx, s);
    return PWC_CONTINUE;
}

static pwc_action_t response_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    seen_t *s = pwc_data(ctx);
    for (int i = 0; s && i < NPROPS; i++)
        pwc_add_header(PWC_RESPONSE_HEADERS, names[i], s->value[i] ? s->value[i] : "(not found)");
    extra_headers();
    return PWC_CONTINUE;
}

static void delete_ctx(uint32_t ctx)
{
    seen_t *s = pwc_data(ctx);
    for (int i = 0; s && i < NPROPS; i++)
        free(s->value[i]);
    free(s);
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_request_headers = request_headers,
    .on_response_headers = response_headers,
    .on_delete = delete_ctx,
};
