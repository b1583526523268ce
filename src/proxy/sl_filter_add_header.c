/* sluice.filters.http.add_header: a native HTTP filter that sets one configured header on the
 * request (decode path) or on the response (encode path); it proves the filter interface. */
#include <stdio.h>
#include <string.h>

#include "proxy/sl_config.h"
#include "proxy/sl_filter.h"

static sl_filter_status_t add_on_request(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    (void)end;
    const sl_http_filter_config_t *fc = f->config;
    if (!sl_hmap_setz(h, fc->add_header_name, fc->add_header_value))
        sl_filter_send_local_reply(f, 500, "out of memory", 13, NULL, "out_of_memory");
    /* Routing may depend on the header just set. */
    sl_stream_clear_route_cache(f->stream);
    return SL_FILTER_CONTINUE;
}

static sl_filter_status_t add_on_response(sl_http_filter_t *f, sl_hmap_t *h, bool end)
{
    (void)end;
    const sl_http_filter_config_t *fc = f->config;
    if (!sl_hmap_setz(h, fc->add_header_name, fc->add_header_value))
        sl_filter_send_local_reply(f, 500, "out of memory", 13, NULL, "out_of_memory");
    return SL_FILTER_CONTINUE;
}

static const sl_http_filter_ops_t request_ops = {.decode_headers = add_on_request};
static const sl_http_filter_ops_t response_ops = {.encode_headers = add_on_response};

static bool add_header_config(const struct sl_http_filter_config *fc, void **out, char *err,
                              size_t err_len)
{
    if (!fc->add_header_name || !fc->add_header_name[0]) {
        snprintf(err, err_len, "add_header needs a header name");
        return false;
    }
    /* The configuration entry itself is the parsed form: it is immutable and outlives us. */
    *out = (void *)fc;
    return true;
}

static bool add_header_create(const void *config, sl_http_filter_t *f)
{
    const sl_http_filter_config_t *fc = config;
    f->ops = fc->add_header_response ? &response_ops : &request_ops;
    f->ctx = NULL;
    return true;
}

const sl_http_filter_factory_t sl_filter_add_header_factory = {
    .name = "sluice.filters.http.add_header",
    .type_url = "type.googleapis.com/sluice.filters.http.add_header.v1.AddHeader",
    .config_create = add_header_config,
    .create = add_header_create,
};
