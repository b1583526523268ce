/* Example plugin: adds one response header taken from the plugin configuration
 * ("name: value"; default "x-sluice-wasm: 1") to every response. */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>

typedef struct conf {
    char name[128], value[256];
    size_t name_len, value_len; /* measured once, at configuration */
} conf_t;

static bool configure(uint32_t root, size_t size)
{
    conf_t *c = pwc_data(root);
    if (!c && !(c = calloc(1, sizeof *c)))
        return false;
    pwc_set_data(root, c);
    strcpy(c->name, "x-sluice-wasm");
    strcpy(c->value, "1");
    char *cfg = NULL;
    size_t len = 0;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    if (cfg) {
        char *colon = strchr(cfg, ':');
        if (!colon || colon == cfg || (size_t)(colon - cfg) >= sizeof c->name) {
            pwc_log(PWC_LOG_ERROR, "add_header: configuration must be \"name: value\"");
            free(cfg);
            return false;
        }
        *colon = 0;
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        strncpy(c->name, cfg, sizeof c->name - 1);
        strncpy(c->value, v, sizeof c->value - 1);
        free(cfg);
    }
    c->name_len = strlen(c->name);
    c->value_len = strlen(c->value);
    return true;
}

static pwc_action_t response_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    conf_t *c = pwc_data(pwc_root_of(ctx));
    if (c)
        pwc_add_header_n(PWC_RESPONSE_HEADERS, c->name, c->name_len, c->value, c->value_len);
    return PWC_CONTINUE;
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
    .on_response_headers = response_headers,
};
