/* Example plugin: external authorization; each request waits, paused, for an HTTP callout to
 * the cluster "auth": 200 lets it through, failure/timeout/503 answers 503, else 403. */

/* Configuration: "<cluster> <timeout_ms>" (default "auth 1000"). The callout is GET /check
 * with the original path in x-original-path and the authorization header; on 200 the
 * answer's x-auth-user is copied onto the request; on a denial the answer's body is logged. */
#include "proxy_wasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char cluster[128] = "auth";
static uint32_t timeout_ms = 1000;

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    char *cfg = NULL;
    size_t len = 0;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    unsigned t = timeout_ms;
    if (cfg && sscanf(cfg, "%127s %u", cluster, &t) < 1) {
        free(cfg);
        return false;
    }
    timeout_ms = t;
    free(cfg);
    return true;
}

static void deny(uint32_t status, const char *details)
{
    pwc_header_t h = {"content-type", "text/plain", 12, 10};
    const char *body = status == 403 ? "forbidden\n" : "authorization unavailable\n";
    pwc_send_local_response(status, details, body, strlen(body), &h, 1, -1);
}

static pwc_action_t request_headers(uint32_t ctx, uint32_t n, bool eos)
{
    (void)n, (void)eos;
    char *path = NULL, *auth = NULL;
    size_t pl = 0, al = 0;
    pwc_get_header(PWC_REQUEST_HEADERS, ":path", &path, &pl);
    pwc_get_header(PWC_REQUEST_HEADERS, "authorization", &auth, &al);
    pwc_header_t h[5] = {
        {":method", "GET", 7, 3},
        {":path", "/check", 5, 6},
        {":authority", cluster, 10, strlen(cluster)},
        {"x-original-path", path ? path : "", 15, pl},
        {"authorization", auth ? auth : "", 13, al},
    };
    pwc_result_t r = pwc_http_call(ctx, cluster, h, auth ? 5 : 4, NULL, 0, NULL, 0, timeout_ms,
                                   NULL);
    free(path);
    free(auth);
    if (r != PWC_OK) {
        pwc_log(PWC_LOG_ERROR, "callout_auth: cannot call cluster \"%s\": %d", cluster, r);
        deny(503, "auth_callout_failed");
        return PWC_PAUSE;
    }
    return PWC_PAUSE; /* until the response arrives */
}

static void call_response(uint32_t ctx, uint32_t token, uint32_t n_headers, size_t body,
                          uint32_t n_trailers)
{
    (void)ctx, (void)token, (void)n_trailers;
    if (n_headers == 0) { /* reset / connect failure */
        uint32_t code = 0;
        char *msg = NULL;
        size_t ml = 0;
        pwc_get_status(&code, &msg, &ml);
        pwc_log(PWC_LOG_WARN, "callout_auth: callout failed: %u %s", code, msg ? msg : "");
        free(msg);
        deny(503, "auth_unavailable");
        return;
    }
    char *status = NULL;
    size_t sl = 0;
    pwc_get_header(PWC_HTTP_CALL_RESPONSE_HEADERS, ":status", &status, &sl);
    int code = status ? atoi(status) : 0;
    free(status);
    if (code == 200) {
        char *user = NULL;
        size_t ul = 0;
        if (pwc_get_header(PWC_HTTP_CALL_RESPONSE_HEADERS, "x-auth-user", &user, &ul) ==
                PWC_OK && user)
            pwc_replace_header(PWC_REQUEST_HEADERS, "x-auth-user", user);
        free(user);
        pwc_continue_stream(PWC_STREAM_REQUEST);
        return;
    }
    char *text = NULL;
    size_t tl = 0;
    pwc_get_buffer(PWC_HTTP_CALL_RESPONSE_BODY, 0, body, &text, &tl);
    pwc_log(PWC_LOG_INFO, "callout_auth: auth answered %d: %s", code, text ? text : "");
    free(text);
    if (code == 503 || code == 504) /* Envoy reports a callout timeout as 504 */
        deny(503, "auth_unavailable");
    else
        deny(403, "auth_denied");
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_request_headers = request_headers,
    .on_http_call_response = call_response,
};
