/* Where a trap happened (word code position back to the byte offset in the module) and the
 * slow path of the fuel and deadline counter that the interpreter ticks at loops and calls. */
#include "wa_internal.h"

#include <stdlib.h>

uint32_t wa__code_offset(const wa_code_t *c, const wa_word_t *pc)
{
    if (!c || !pc || pc < c->code || pc > c->code + c->code_len)
        return 0;
    uint32_t idx = (uint32_t)(pc - c->code);
    uint32_t best = c->body_offset;
    /* the last trap site whose op word precedes pc */
    uint32_t lo = 0, hi = c->ntrap;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (c->trap_map[2 * mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0)
        best = c->trap_map[2 * (lo - 1) + 1];
    return best;
}

int64_t wa__timed_chunk = 4096;

__attribute__((constructor)) static void read_tick_chunk(void)
{
    const char *e = getenv("SLUICE_WASM_TICK_CHUNK");
    char *end;
    long long v = e ? strtoll(e, &end, 10) : 0;
    if (e && *e && !*end && v >= 1 && v <= 1 << 20)
        wa__timed_chunk = v;
}

/* Counts the next chunk of ticks without reading the clock: fuel is taken from the budget in
 * chunks and the clock is read once per chunk when a deadline is set. False when the fuel is
 * gone. */
bool wa__tick_refill(wa_exec_t *ex)
{
    int64_t chunk = wa__tick_chunk(ex);
    if (ex->fuel_on) {
        if (ex->fuel_left == 0) {
            ex->trap_kind = WA_TRAP_FUEL;
            return false;
        }
        if ((uint64_t)chunk > ex->fuel_left)
            chunk = (int64_t)ex->fuel_left;
        ex->fuel_left -= (uint64_t)chunk;
    }
    ex->tick = chunk - 1;
    return true;
}

static _Thread_local uint64_t clock_reads;

uint64_t wa_thread_clock_reads(void)
{
    return clock_reads;
}

bool wa__deadline_check(wa_exec_t *ex)
{
    if (ex->deadline_ns || ex->budget_ns)
        clock_reads++;
    if (ex->deadline_ns) {
        if (wa_now_ns() >= ex->deadline_ns) {
            ex->trap_kind = WA_TRAP_DEADLINE;
            return false;
        }
    } else if (ex->budget_ns) {
        /* The first check of a call that outlived one chunk: its time starts now. */
        ex->deadline_ns = wa_now_ns() + ex->budget_ns;
    }
    return wa__tick_refill(ex);
}
