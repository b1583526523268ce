/* Example plugin: reads properties while the request is held (request.path, source.address,
 * plugin_name, plugin_root_id) and returns them as x-prop-* response headers. */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>

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
    .on_request_headers = request_headers,
    .on_response_headers = response_headers,
    .on_delete = delete_ctx,
};
