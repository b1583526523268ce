/* Example plugin: answers 403 unless the request carries the header named in the plugin
 * configuration with the configured value ("name: value"). */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>

typedef struct conf {
    char name[128], value[256];
} conf_t;

static bool configure(uint32_t root, size_t size)
{
    char *cfg = NULL;
    size_t len = 0;
    if (pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK || !cfg)
        return false;
    char *colon = strchr(cfg, ':');
    conf_t *c = calloc(1, sizeof *c);
    if (!c || !colon || colon == cfg || (size_t)(colon - cfg) >= sizeof c->name) {
        pwc_log(PWC_LOG_ERROR, "auth_header: configuration must be \"name: value\"");
        free(c);
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
    free(pwc_data(root));
    pwc_set_data(root, c);
    return true;
}

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    conf_t *c = pwc_data(pwc_root_of(ctx));
    char *v = NULL;
    size_t len = 0;
    bool ok = c && pwc_get_header(PWC_REQUEST_HEADERS, c->name, &v, &len) == PWC_OK && v &&
              len == strlen(c->value) && memcmp(v, c->value, len) == 0;
    free(v);
    if (ok)
        return PWC_CONTINUE;
    static const char body[] = "forbidden\n";
    pwc_header_t h = {"content-type", "text/plain", 12, 10};
    pwc_send_local_response(403, "wasm_auth_header_denied", body, sizeof body - 1, &h, 1, -1);
    return PWC_PAUSE;
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
    .on_request_headers = request_headers,
};
