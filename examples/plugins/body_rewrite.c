/* Example plugin: buffers the whole response body and replaces every occurrence of FROM with
 * TO (configuration "FROM=>TO"); drops content-length so the proxy frames the new length. */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>

typedef struct conf {
    char *from, *to; /* owned; one allocation (from) holds both */
    size_t from_len, to_len;
} conf_t;

static bool configure(uint32_t root, size_t size)
{
    char *cfg = NULL;
    size_t len = 0;
    if (pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK || !cfg)
        return false;
    char *arrow = strstr(cfg, "=>");
    conf_t *c = calloc(1, sizeof *c);
    if (!c || !arrow || arrow == cfg) {
        pwc_log(PWC_LOG_ERROR, "body_rewrite: configuration must be \"FROM=>TO\"");
        free(c);
        free(cfg);
        return false;
    }
    *arrow = 0;
    c->from = cfg;
    c->from_len = strlen(cfg);
    c->to = arrow + 2;
    c->to_len = strlen(c->to);
    pwc_set_data(root, c);
    return true;
}

static pwc_action_t response_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)ctx, (void)n;
    if (!eos)
        pwc_remove_header(PWC_RESPONSE_HEADERS, "content-length");
    return PWC_CONTINUE;
}

static pwc_action_t response_body(uint32_t ctx, size_t size, bool eos)
{
    if (!eos)
        return PWC_PAUSE; /* keep buffering; the next call reports the total size */
    conf_t *c = pwc_data(pwc_root_of(ctx));
    char *body = NULL;
    size_t len = 0;
    if (!c || pwc_get_buffer(PWC_RESPONSE_BODY, 0, size, &body, &len) != PWC_OK || !body)
        return PWC_CONTINUE;
    size_t hits = 0;
    for (char *p = body; (p = strstr(p, c->from)); p += c->from_len)
        hits++;
    if (hits) {
        size_t out_len = len + hits * c->to_len - hits * c->from_len;
        char *out = malloc(out_len + 1), *o = out;
        if (out) {
            const char *p = body, *q;
            while ((q = strstr(p, c->from))) {
                memcpy(o, p, (size_t)(q - p));
                o += q - p;
                memcpy(o, c->to, c->to_len);
                o += c->to_len;
                p = q + c->from_len;
            }
            memcpy(o, p, len - (size_t)(p - body));
            pwc_set_buffer(PWC_RESPONSE_BODY, 0, len, out, out_len);
            free(out);
        }
    }
    free(body);
    return PWC_CONTINUE;
}

static bool root_done(uint32_t root)
{
    conf_t *c = pwc_data(root);
    if (c) {
        free(c->from);
        free(c);
    }
    pwc_set_data(root, NULL);
    return true;
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_root_done = root_done,
    .on_response_headers = response_headers,
    .on_response_body = response_body,
};
