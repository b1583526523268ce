/* Names of the engine's status codes and trap kinds, and the monotonic clock deadlines use.
 * Trap wording follows the spec test suite's so messages match what users search for. */
#include "sluice/wasm.h"

#include <time.h>

const char *wa_status_str(wa_status_t s)
{
    switch (s) {
#define WA_X_(name, str)                                                                     \
    case name:                                                                               \
        return str;
        WA_STATUS_LIST(WA_X_)
#undef WA_X_
    }
    return "unknown status";
}

const char *wa_trap_kind_str(wa_trap_kind_t k)
{
    switch (k) {
    case WA_TRAP_NONE: return "no trap";
    case WA_TRAP_UNREACHABLE: return "unreachable";
    case WA_TRAP_MEMORY_OOB: return "out of bounds memory access";
    case WA_TRAP_TABLE_OOB: return "out of bounds table access";
    case WA_TRAP_INT_DIV_ZERO: return "integer divide by zero";
    case WA_TRAP_INT_OVERFLOW: return "integer overflow";
    case WA_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WA_TRAP_UNINITIALIZED_ELEMENT: return "uninitialized element";
    case WA_TRAP_INDIRECT_TYPE: return "indirect call type mismatch";
    case WA_TRAP_STACK_EXHAUSTED: return "call stack exhausted";
    case WA_TRAP_FUEL: return "fuel exhausted";
    case WA_TRAP_DEADLINE: return "deadline exceeded";
    case WA_TRAP_HOST: return "host function trapped";
    case WA_TRAP_EXIT: return "program exited";
    }
    return "unknown trap";
}

uint64_t wa_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
