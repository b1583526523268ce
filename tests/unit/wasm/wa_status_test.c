/* Status and trap names: every code has a distinct, non-empty name. */
#include "../../t.h"
#include "sluice/wasm.h"

TEST(every_status_has_a_distinct_name)
{
    T_EQ_STR(wa_status_str(WA_OK), "ok");
    T_EQ_STR(wa_status_str(WA_ERR_MALFORMED), "malformed module");
    for (int a = WA_OK; a <= WA_ERR_LIMIT; a++)
        for (int b = a + 1; b <= WA_ERR_LIMIT; b++)
            T_ASSERT(strcmp(wa_status_str(a), wa_status_str(b)) != 0);
}

TEST(trap_names_use_the_spec_wording)
{
    T_EQ_STR(wa_trap_kind_str(WA_TRAP_INT_DIV_ZERO), "integer divide by zero");
    T_EQ_STR(wa_trap_kind_str(WA_TRAP_MEMORY_OOB), "out of bounds memory access");
}

TEST(monotonic_clock_advances)
{
    uint64_t a = wa_now_ns(), b = wa_now_ns();
    T_ASSERT(a > 0);
    T_ASSERT(b >= a);
}
