/* The admin server on the main thread: GET /ready, /stats, /stats/prometheus, /config_dump,
 * /server_info, /help; POST /quitquitquit, /logging?level=. One request per connection. */
#ifndef SLUICE_PROXY_SL_ADMIN_H
#define SLUICE_PROXY_SL_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/sl_server.h"

/* Binds address:port (port 0 picks one) on the server's main loop. Returns NULL and writes
 * why into err (e.g. "admin 127.0.0.1:9901: bind: address already in use") on failure. */
sl_admin_t *sl_admin_start(sl_server_t *s, const char *address, uint16_t port, char *err,
                           size_t err_len);
/* The port actually bound. */
uint16_t sl_admin_port(const sl_admin_t *a);
/* Stops listening and closes open admin connections; frees itself once libuv has closed
 * every handle (run the loop afterwards). */
void sl_admin_stop(sl_admin_t *a);

/* Writes the configuration text (YAML) as JSON into a malloc'd string (*out, owned by the
 * caller). Plain scalars that read as integers, reals, true/false or null become JSON
 * values of that type; everything else becomes a string. Returns false with a message in
 * err when the text is not YAML. Exposed for tests. */
#include <stdbool.h>
bool sl_admin_yaml_to_json(const char *yaml, size_t len, char **out, char *err, size_t err_len);

/* Prometheus exposition of every stat (for tests): "envoy_" + the name with every byte
 * outside [a-zA-Z0-9_] turned into '_', a # TYPE line per stat. malloc'd, caller owns. */
char *sl_admin_prometheus_text(void);

#endif
