/* Example plugin: a root context ticking every N ms (configuration, default 100) that keeps
 * gauge "tick_gauge.ticks" at the number of ticks so far. */

/* A period of 0 in the configuration ticks at 100 ms and stops the timer at the fifth tick
 * (for tests of "0 stops it"). */
#include "proxy_wasm.h"

#include <stdlib.h>

static uint32_t period_ms = 100, ticks, gauge;
static bool stop_at_five;

static bool configure(uint32_t root, size_t size)
{
    (void)root;
    char *cfg = NULL;
    size_t len = 0;
    if (size && pwc_get_buffer(PWC_PLUGIN_CONFIGURATION, 0, size, &cfg, &len) != PWC_OK)
        return false;
    if (cfg && len) {
        long v = atol(cfg);
        stop_at_five = v == 0;
        period_ms = v > 0 ? (uint32_t)v : 100;
    }
    free(cfg);
    if (pwc_define_metric(PWC_GAUGE, "tick_gauge.ticks", &gauge) != PWC_OK)
        return false;
    return pwc_set_tick_period_ms(period_ms) == PWC_OK;
}

static void tick(uint32_t root)
{
    (void)root;
    ticks++;
    pwc_record_metric(gauge, ticks);
    if (stop_at_five && ticks == 5)
        pwc_set_tick_period_ms(0);
}

const pwc_plugin_t pwc_plugin = {
    .on_configure = configure,
    .on_tick = tick,
};
