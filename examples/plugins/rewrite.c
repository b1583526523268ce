/* Example plugin: rewrites the request before routing. Configuration lines:
 *   path <prefix> <replacement>   rewrite a :path prefix
 *   header <name> <value>         set a request header */
#include "proxy_wasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conf {
    char prefix[256], repl[256];
    char hname[128], hvalue[256];
} conf_t;

static bool configure(uint32_t root, size_t size)
{
    char *cfg = NULL;
    size_t len = 0;
    conf_t *c = calloc(1, sizeof *c);
    if (!c || pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK) {
        free(c);
        return false;
    }
    for (char *line = cfg ? strtok(cfg, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "path %255s %255s", c->prefix, c->repl) == 2 ||
            sscanf(line, "header %127s %255s", c->hname, c->hvalue) == 2)
            continue;
        pwc_log(PWC_LOG_ERROR, "rewrite: bad configuration line \"%s\"", line);
        free(cfg);
        free(c);
        return false;
    }
    free(cfg);
    free(pwc_data(root));
    pwc_set_data(root, c);
    return true;
}

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    conf_t *c = pwc_data(pwc_root_of(ctx));
    if (!c)
        return PWC_CONTINUE;
    char *path = NULL;
    size_t len = 0, pl = strlen(c->prefix);
    if (pl && pwc_get_header(PWC_REQUEST_HEADERS, ":path", &path, &len) == PWC_OK && path &&
        len >= pl && memcmp(path, c->prefix, pl) == 0) {
        size_t rl = strlen(c->repl);
        char *np = malloc(rl + len - pl + 1);
        if (np) {
            memcpy(np, c->repl, rl);
            memcpy(np + rl, path + pl, len - pl + 1);
            pwc_replace_header(PWC_REQUEST_HEADERS, ":path", np);
            pwc_replace_header(PWC_REQUEST_HEADERS, "x-original-path", path);
            free(np);
        }
    }
    free(path);
    if (c->hname[0])
        pwc_replace_header(PWC_REQUEST_HEADERS, c->hname, c->hvalue);
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
    .on_request_headers = request_headers,
};
