/* Example network filter: counts bytes in both directions, logs them when the connection
 * ends, and closes the connection when client data contains the configured banned word. */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>

typedef struct counts {
    size_t down, up;   /* bytes seen from the client / from the upstream */
} counts_t;

static bool configure(uint32_t root, size_t size)
{
    char *word = NULL;
    size_t len = 0;
    if (pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &word, &len) != PWC_OK)
        return false;
    free(pwc_data(root));
    pwc_set_data(root, word); /* NULL: nothing is banned */
    return true;
}

static pwc_action_t new_connection(uint32_t ctx)
{
    pwc_set_data(ctx, calloc(1, sizeof(counts_t)));
    return PWC_CONTINUE;
}

static pwc_action_t downstream_data(uint32_t ctx, size_t size, bool eos)
{
    (void)eos;
    counts_t *c = pwc_data(ctx);
    const char *word = pwc_data(pwc_root_of(ctx));
    if (c)
        c->down += size;
    if (!word || !*word || !size)
        return PWC_CONTINUE;
    char *data = NULL;
    size_t len = 0;
    if (pwc_get_buffer(PWC_DOWNSTREAM_DATA, 0, size, &data, &len) == PWC_OK && data &&
        strstr(data, word)) {
        pwc_log(PWC_LOG_WARN, "tcp_guard: banned word seen, closing connection %u", ctx);
        pwc_close_stream(PWC_STREAM_DOWNSTREAM);
        free(data);
        return PWC_PAUSE;
    }
    free(data);
    return PWC_CONTINUE;
}

static pwc_action_t upstream_data(uint32_t ctx, size_t size, bool eos)
{
    (void)eos;
    counts_t *c = pwc_data(ctx);
    if (c)
        c->up += size;
    return PWC_CONTINUE;
}

static void done(uint32_t ctx)
{
    counts_t *c = pwc_data(ctx);
    if (c)
        pwc_log(PWC_LOG_INFO, "tcp_guard: connection %u: %zu bytes down, %zu bytes up", ctx,
                c->down, c->up);
}

static void delete_ctx(uint32_t ctx)
{
    if (pwc_root_of(ctx) != ctx)
        free(pwc_data(ctx));
}

static bool root_done(uint32_t root)
{
    free(pwc_data(root));
    pwc_set_data(root, NULL);
    return true;
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_root_done = root_done,
    .on_new_connection = new_connection,
    .on_downstream_data = downstream_data,
    .on_upstream_data = upstream_data,
    .on_done = done,
    .on_delete = delete_ctx,
};
