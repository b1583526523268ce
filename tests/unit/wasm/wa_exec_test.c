/* Running code: every trap kind with its location, fuel and deadline interruption, re-entrant
 * host calls, memory views, limits, instantiation cost and calls across instances. */
#include "../../t.h"
#include "sluice/wasm.h"

#include <stdbool.h>
#include <stdlib.h>

/* Built with wat2wasm from the texts in the comments of each test (see the export names). */
static const uint8_t traps_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x2e, 0x09, 0x60, 0x00, 0x00, 0x60, 0x00,
    0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7d,
    0x01, 0x7f, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x02, 0x7c, 0x7c, 0x01,
    0x7c, 0x60, 0x02, 0x7f, 0x7e, 0x02, 0x7e, 0x7f, 0x03, 0x13, 0x12, 0x02, 0x00, 0x03, 0x03, 0x01,
    0x04, 0x05, 0x01, 0x00, 0x00, 0x00, 0x03, 0x03, 0x03, 0x06, 0x01, 0x07, 0x08, 0x04, 0x04, 0x01,
    0x70, 0x00, 0x02, 0x05, 0x04, 0x01, 0x01, 0x01, 0x04, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x07,
    0x0b, 0x07, 0x8b, 0x01, 0x12, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x03, 0x61, 0x64, 0x64, 0x00,
    0x00, 0x0b, 0x75, 0x6e, 0x72, 0x65, 0x61, 0x63, 0x68, 0x61, 0x62, 0x6c, 0x65, 0x00, 0x01, 0x03,
    0x6f, 0x6f, 0x62, 0x00, 0x02, 0x04, 0x64, 0x69, 0x76, 0x30, 0x00, 0x03, 0x03, 0x6f, 0x76, 0x66,
    0x00, 0x04, 0x04, 0x63, 0x6f, 0x6e, 0x76, 0x00, 0x05, 0x08, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x69,
    0x6e, 0x64, 0x00, 0x06, 0x06, 0x62, 0x61, 0x64, 0x73, 0x69, 0x67, 0x00, 0x07, 0x03, 0x72, 0x65,
    0x63, 0x00, 0x09, 0x04, 0x73, 0x70, 0x69, 0x6e, 0x00, 0x0a, 0x03, 0x66, 0x69, 0x62, 0x00, 0x0b,
    0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x00, 0x0c, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x0d, 0x05,
    0x73, 0x74, 0x6f, 0x72, 0x65, 0x00, 0x0e, 0x04, 0x67, 0x65, 0x74, 0x67, 0x00, 0x0f, 0x06, 0x66,
    0x36, 0x34, 0x6d, 0x61, 0x78, 0x00, 0x10, 0x05, 0x6d, 0x75, 0x6c, 0x74, 0x69, 0x00, 0x11, 0x09,
    0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x08, 0x0a, 0xae, 0x01, 0x12, 0x07, 0x00, 0x20, 0x00,
    0x20, 0x01, 0x6a, 0x0b, 0x03, 0x00, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b,
    0x07, 0x00, 0x41, 0x01, 0x20, 0x00, 0x6d, 0x0b, 0x0b, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x78,
    0x41, 0x7f, 0x6d, 0x0b, 0x05, 0x00, 0x20, 0x00, 0xa8, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x11, 0x00,
    0x00, 0x0b, 0x07, 0x00, 0x41, 0x00, 0x11, 0x01, 0x00, 0x0b, 0x02, 0x00, 0x0b, 0x04, 0x00, 0x10,
    0x09, 0x0b, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x1c, 0x00, 0x20, 0x00, 0x41, 0x02,
    0x49, 0x04, 0x7f, 0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x0b, 0x20, 0x00, 0x41,
    0x02, 0x6b, 0x10, 0x0b, 0x6a, 0x0b, 0x0b, 0x1c, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x03, 0x40, 0x20,
    0x01, 0x20, 0x00, 0x4f, 0x0d, 0x01, 0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x0c, 0x00, 0x0b,
    0x0b, 0x20, 0x01, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, 0x09, 0x00, 0x20, 0x00, 0x20,
    0x01, 0x36, 0x02, 0x00, 0x0b, 0x04, 0x00, 0x23, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01,
    0xa5, 0x0b, 0x06, 0x00, 0x20, 0x01, 0x20, 0x00, 0x0b, 0x0b, 0x0b, 0x01, 0x00, 0x41, 0x10, 0x0b,
    0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t host_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x01, 0x7f, 0x00, 0x02, 0x18, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x05, 0x61, 0x67, 0x61, 0x69,
    0x6e, 0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x66, 0x61, 0x69, 0x6c, 0x00, 0x01, 0x03, 0x04,
    0x03, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x22, 0x04, 0x03, 0x6d, 0x65, 0x6d,
    0x02, 0x00, 0x05, 0x6f, 0x75, 0x74, 0x65, 0x72, 0x00, 0x02, 0x07, 0x64, 0x6f, 0x5f, 0x66, 0x61,
    0x69, 0x6c, 0x00, 0x03, 0x06, 0x64, 0x6f, 0x75, 0x62, 0x6c, 0x65, 0x00, 0x04, 0x0a, 0x25, 0x03,
    0x12, 0x00, 0x20, 0x00, 0x45, 0x04, 0x7f, 0x41, 0x00, 0x05, 0x20, 0x00, 0x10, 0x00, 0x41, 0x01,
    0x6a, 0x0b, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x10, 0x01, 0x41, 0x05, 0x0b, 0x07, 0x00, 0x20, 0x00,
    0x41, 0x02, 0x6c, 0x0b,
};
static const uint8_t provider_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60,
    0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x01, 0x04, 0x04, 0x01, 0x70, 0x00, 0x02, 0x05, 0x03, 0x01,
    0x00, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x03, 0x0b, 0x07, 0x1a, 0x04, 0x03, 0x74, 0x61,
    0x62, 0x01, 0x00, 0x02, 0x67, 0x6d, 0x03, 0x00, 0x04, 0x72, 0x65, 0x61, 0x64, 0x00, 0x00, 0x04,
    0x62, 0x75, 0x6d, 0x70, 0x00, 0x01, 0x09, 0x07, 0x01, 0x00, 0x41, 0x01, 0x0b, 0x01, 0x00, 0x0a,
    0x19, 0x02, 0x07, 0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x0b, 0x0f, 0x00, 0x41, 0x00, 0x41, 0x00,
    0x28, 0x02, 0x00, 0x41, 0x01, 0x6a, 0x36, 0x02, 0x00, 0x0b, 0x0b, 0x0a, 0x01, 0x00, 0x41, 0x00,
    0x0b, 0x04, 0x2a, 0x00, 0x00, 0x00,
};
static const uint8_t consumer_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60,
    0x01, 0x7f, 0x00, 0x02, 0x1c, 0x03, 0x01, 0x70, 0x04, 0x72, 0x65, 0x61, 0x64, 0x00, 0x00, 0x01,
    0x70, 0x03, 0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x02, 0x01, 0x70, 0x02, 0x67, 0x6d, 0x03, 0x7f,
    0x01, 0x03, 0x05, 0x04, 0x00, 0x00, 0x00, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x22, 0x04,
    0x06, 0x64, 0x69, 0x72, 0x65, 0x63, 0x74, 0x00, 0x01, 0x08, 0x69, 0x6e, 0x64, 0x69, 0x72, 0x65,
    0x63, 0x74, 0x00, 0x02, 0x03, 0x6f, 0x77, 0x6e, 0x00, 0x03, 0x04, 0x73, 0x65, 0x74, 0x67, 0x00,
    0x04, 0x0a, 0x1d, 0x04, 0x04, 0x00, 0x10, 0x00, 0x0b, 0x07, 0x00, 0x41, 0x01, 0x11, 0x00, 0x00,
    0x0b, 0x07, 0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x24, 0x00, 0x0b,
    0x0b, 0x0a, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x04, 0x07, 0x00, 0x00, 0x00,
};
static const uint8_t provider2_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60,
    0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x15, 0x03, 0x03,
    0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x72, 0x65, 0x61, 0x64, 0x00, 0x00, 0x04, 0x62, 0x6f, 0x6f,
    0x6d, 0x00, 0x01, 0x0a, 0x0d, 0x02, 0x07, 0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x0b, 0x03, 0x00,
    0x00, 0x0b, 0x0b, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x2a,
};
static const uint8_t consumer2_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x03, 0x60, 0x00, 0x01, 0x7f, 0x60,
    0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x02, 0x13, 0x02, 0x01, 0x70, 0x04, 0x72, 0x65, 0x61,
    0x64, 0x00, 0x00, 0x01, 0x70, 0x04, 0x62, 0x6f, 0x6f, 0x6d, 0x00, 0x01, 0x03, 0x04, 0x03, 0x00,
    0x02, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x16, 0x03, 0x05, 0x6d, 0x69, 0x78, 0x65, 0x64,
    0x00, 0x02, 0x03, 0x72, 0x65, 0x63, 0x00, 0x03, 0x04, 0x62, 0x6f, 0x6f, 0x6d, 0x00, 0x04, 0x0a,
    0x1e, 0x03, 0x0a, 0x00, 0x10, 0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x6a, 0x0b, 0x0c, 0x00, 0x10,
    0x00, 0x1a, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x10, 0x03, 0x0b, 0x04, 0x00, 0x10, 0x01, 0x0b, 0x0b,
    0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x07,
};

/* (import "env" "h" (func (result i32))), exported as "host", and:
 *   (func (export "none"))                           (func (export "nop") nop)
 *   (func (export "i32") (result i32) i32.const -5)
 *   (func (export "i32max") (param i32 i32) (result i32) (local i64) i32.const 2147483647)
 *   (func (export "i64") (result i64) i64.const -9223372036854775808)
 *   (func (export "f32") (result f32) f32.const -1.5)
 *   (func (export "f64") (result f64) f64.const nan:0x123)
 *   (func (export "two") (result i32) i32.const 1 i32.const 2 drop)
 *   (func (export "param") (param i32) (result i32) local.get 0) */
static const uint8_t constants_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x1f, 0x07, 0x60,
    0x00, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
    0x60, 0x00, 0x01, 0x7e, 0x60, 0x00, 0x01, 0x7d, 0x60, 0x00, 0x01, 0x7c,
    0x60, 0x01, 0x7f, 0x01, 0x7f, 0x02, 0x09, 0x01, 0x03, 0x65, 0x6e, 0x76,
    0x01, 0x68, 0x00, 0x00, 0x03, 0x0a, 0x09, 0x01, 0x00, 0x02, 0x03, 0x04,
    0x05, 0x01, 0x00, 0x06, 0x07, 0x44, 0x0a, 0x04, 0x6e, 0x6f, 0x6e, 0x65,
    0x00, 0x01, 0x03, 0x69, 0x33, 0x32, 0x00, 0x02, 0x06, 0x69, 0x33, 0x32,
    0x6d, 0x61, 0x78, 0x00, 0x03, 0x03, 0x69, 0x36, 0x34, 0x00, 0x04, 0x03,
    0x66, 0x33, 0x32, 0x00, 0x05, 0x03, 0x66, 0x36, 0x34, 0x00, 0x06, 0x03,
    0x6e, 0x6f, 0x70, 0x00, 0x07, 0x03, 0x74, 0x77, 0x6f, 0x00, 0x08, 0x05,
    0x70, 0x61, 0x72, 0x61, 0x6d, 0x00, 0x09, 0x04, 0x68, 0x6f, 0x73, 0x74,
    0x00, 0x00, 0x0a, 0x47, 0x09, 0x02, 0x00, 0x0b, 0x04, 0x00, 0x41, 0x7b,
    0x0b, 0x0a, 0x01, 0x01, 0x7e, 0x41, 0xff, 0xff, 0xff, 0xff, 0x07, 0x0b,
    0x0d, 0x00, 0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x7f, 0x0b, 0x07, 0x00, 0x43, 0x00, 0x00, 0xc0, 0xbf, 0x0b, 0x0b, 0x00,
    0x44, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x0b, 0x03, 0x00,
    0x01, 0x0b, 0x07, 0x00, 0x41, 0x01, 0x41, 0x02, 0x1a, 0x0b, 0x04, 0x00,
    0x20, 0x00, 0x0b
};

static wa_instance_t *inst_of(const uint8_t *b, size_t n, const wa_linker_t *l,
                              const wa_instance_limits_t *lim, wa_module_t **mout)
{
    wa_module_t *m = NULL;
    wa_error_t err;
    wa_status_t st = wa_module_load(b, n, &m, &err);
    if (st != WA_OK)
        t_fail(__FILE__, __LINE__, "load: %s at %zu", err.message, err.offset);
    wa_instance_t *inst = NULL;
    st = wa_instance_new(m, l, lim, &inst, &err);
    if (st != WA_OK)
        t_fail(__FILE__, __LINE__, "instantiate: %s", err.message);
    if (mout)
        *mout = m;
    else
        wa_module_unref(m);
    return inst;
}

#define TRAPS() inst_of(traps_wasm, sizeof traps_wasm, NULL, NULL, NULL)

static wa_status_t call1(wa_instance_t *inst, const char *name, wa_value_t arg, int nargs,
                         wa_value_t *res, const wa_call_limits_t *lim, wa_trap_t *trap)
{
    wa_func_t *f = wa_instance_func(inst, name);
    if (!f)
        t_fail(__FILE__, __LINE__, "no export %s", name);
    wa_functype_t ft;
    wa_func_type(f, &ft);
    return wa_call(f, &arg, (uint32_t)nargs, res, ft.nresults, lim, trap);
}

static void expect_trap(wa_instance_t *inst, const char *name, int nargs, wa_value_t arg,
                        wa_trap_kind_t kind, uint8_t opcode)
{
    wa_value_t res[2];
    wa_trap_t trap;
    wa_status_t st = call1(inst, name, arg, nargs, res, NULL, &trap);
    T_EQ_INT(st, WA_ERR_TRAP);
    T_EQ_INT(trap.kind, kind);
    T_EQ_STR(trap.message, wa_trap_kind_str(kind));
    if (opcode) {
        T_ASSERT(trap.code_offset > 0 && trap.code_offset < sizeof traps_wasm);
        T_EQ_UINT(traps_wasm[trap.code_offset], opcode);
    }
}

TEST(calls_return_values_including_multiple_results)
{
    wa_instance_t *inst = TRAPS();
    wa_value_t args[2] = {{.i32 = 40}, {.i32 = 2}}, res[2];
    wa_trap_t trap;
    T_EQ_INT(wa_call(wa_instance_func(inst, "add"), args, 2, res, 1, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 42);
    args[1].i64 = -5;
    T_EQ_INT(wa_call(wa_instance_func(inst, "multi"), args, 2, res, 2, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i64, -5);
    T_EQ_INT(res[1].i32, 40);
    wa_value_t n = {.i32 = 20};
    T_EQ_INT(call1(inst, "fib", n, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 6765);
    /* a wrong argument count is refused before running */
    T_EQ_INT(wa_call(wa_instance_func(inst, "add"), args, 1, res, 1, NULL, &trap), WA_ERR_TYPE);
    wa_instance_free(inst);
}

TEST(each_trap_kind_is_a_value_with_its_location)
{
    wa_instance_t *inst = TRAPS();
    wa_value_t none = {0}, v;
    expect_trap(inst, "unreachable", 0, none, WA_TRAP_UNREACHABLE, 0x00);
    v.i32 = 65534;
    expect_trap(inst, "oob", 1, v, WA_TRAP_MEMORY_OOB, 0x28);
    v.i32 = 0;
    expect_trap(inst, "div0", 1, v, WA_TRAP_INT_DIV_ZERO, 0x6d);
    expect_trap(inst, "ovf", 0, none, WA_TRAP_INT_OVERFLOW, 0x6d);
    v.f32_bits = 0x7fc00000;
    expect_trap(inst, "conv", 1, v, WA_TRAP_INVALID_CONVERSION, 0xa8);
    v.f32 = 3e9f;
    expect_trap(inst, "conv", 1, v, WA_TRAP_INT_OVERFLOW, 0xa8);
    v.i32 = 5;
    expect_trap(inst, "call_ind", 1, v, WA_TRAP_TABLE_OOB, 0x11);
    v.i32 = 1;
    expect_trap(inst, "call_ind", 1, v, WA_TRAP_UNINITIALIZED_ELEMENT, 0x11);
    expect_trap(inst, "badsig", 0, none, WA_TRAP_INDIRECT_TYPE, 0x11);
    expect_trap(inst, "rec", 0, none, WA_TRAP_STACK_EXHAUSTED, 0x10);
    /* the trap names the function: "unreachable" is function 1 */
    wa_trap_t trap;
    T_EQ_INT(call1(inst, "unreachable", none, 0, NULL, NULL, &trap), WA_ERR_TRAP);
    T_EQ_UINT(trap.func_index, 1);
    /* and the instance keeps working */
    wa_value_t res[1];
    v.i32 = 16;
    T_EQ_INT(call1(inst, "oob", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_MEM(&res[0].i32, 4, "hell", 4);
    v.i32 = 0;
    T_EQ_INT(call1(inst, "call_ind", v, 1, res, NULL, &trap), WA_OK);
    wa_instance_free(inst);
}

TEST(fuel_ends_a_loop_and_allows_enough_work)
{
    wa_instance_t *inst = TRAPS();
    wa_value_t res[1], v = {.i32 = 100};
    wa_trap_t trap;
    wa_call_limits_t lim = {.fuel = 1000};
    T_EQ_INT(call1(inst, "count", v, 1, res, &lim, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 100);
    v.i32 = 5000;
    T_EQ_INT(call1(inst, "count", v, 1, res, &lim, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_FUEL);
    T_EQ_INT(call1(inst, "spin", v, 0, res, &lim, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_FUEL);
    /* without limits the same call completes */
    T_EQ_INT(call1(inst, "count", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 5000);
    wa_instance_free(inst);
}

TEST(deadline_ends_an_infinite_loop_on_time)
{
    wa_instance_t *inst = TRAPS();
    wa_value_t none = {0};
    wa_trap_t trap;
    uint64_t t0 = wa_now_ns();
    wa_call_limits_t lim = {.deadline_ns = t0 + 50 * 1000000ull};
    T_EQ_INT(call1(inst, "spin", none, 0, NULL, &lim, &trap), WA_ERR_TRAP);
    uint64_t took = wa_now_ns() - t0;
    T_EQ_INT(trap.kind, WA_TRAP_DEADLINE);
    T_EQ_STR(trap.message, "deadline exceeded");
    T_ASSERT(took >= 50 * 1000000ull);
    T_ASSERT(took < 1000 * 1000000ull);
    /* a deadline already past stops recursion too (checked at calls) */
    lim.deadline_ns = wa_now_ns();
    wa_value_t v = {.i32 = 25}, res[1];
    T_EQ_INT(call1(inst, "fib", v, 1, res, &lim, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_DEADLINE);
    wa_instance_free(inst);
}

TEST(budget_ends_an_infinite_loop_and_lets_short_calls_finish)
{
    wa_instance_t *inst = TRAPS();
    wa_value_t none = {0};
    wa_trap_t trap;
    /* the budget's clock starts at the first check, a chunk of back-edges into the call */
    uint64_t t0 = wa_now_ns();
    wa_call_limits_t lim = {.budget_ns = 50 * 1000000ull};
    T_EQ_INT(call1(inst, "spin", none, 0, NULL, &lim, &trap), WA_ERR_TRAP);
    uint64_t took = wa_now_ns() - t0;
    T_EQ_INT(trap.kind, WA_TRAP_DEADLINE);
    T_ASSERT(took >= 50 * 1000000ull);
    T_ASSERT(took < 1000 * 1000000ull);
    /* a call that ends within its budget is not stopped, however tight the budget */
    lim.budget_ns = 1;
    wa_value_t v = {.i32 = 10}, res[1];
    T_EQ_INT(call1(inst, "fib", v, 1, res, &lim, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 55);
    /* ... but a longer one is, once its first check has started the clock */
    v.i32 = 25;
    T_EQ_INT(call1(inst, "fib", v, 1, res, &lim, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_DEADLINE);
    /* an absolute deadline wins over a budget */
    lim = (wa_call_limits_t){.deadline_ns = wa_now_ns(), .budget_ns = 10000 * 1000000ull};
    T_EQ_INT(call1(inst, "fib", v, 1, res, &lim, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_DEADLINE);
    wa_instance_free(inst);
}

/* An embedder that caches the time learns from the count of clock reads which calls ran long
 * enough to have read it: short calls never do, nor calls without a deadline or budget. */
TEST(clock_reads_move_only_for_calls_that_checked_the_clock)
{
    wa_instance_t *inst = TRAPS();
    wa_trap_t trap;
    wa_value_t v = {.i32 = 10}, res[1];
    wa_call_limits_t budget = {.budget_ns = 10000 * 1000000ull};
    uint64_t before = wa_thread_clock_reads();
    T_EQ_INT(call1(inst, "fib", v, 1, res, &budget, &trap), WA_OK); /* short */
    T_EQ_INT(call1(inst, "fib", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_UINT(wa_thread_clock_reads(), before);
    v.i32 = 25; /* hundreds of thousands of calls */
    wa_call_limits_t none = {0};
    T_EQ_INT(call1(inst, "fib", v, 1, res, &none, &trap), WA_OK);
    T_EQ_UINT(wa_thread_clock_reads(), before);
    T_EQ_INT(call1(inst, "fib", v, 1, res, &budget, &trap), WA_OK);
    T_ASSERT(wa_thread_clock_reads() > before);
    before = wa_thread_clock_reads();
    wa_call_limits_t deadline = {.deadline_ns = wa_now_ns() + 10000 * 1000000ull};
    T_EQ_INT(call1(inst, "fib", v, 1, res, &deadline, &trap), WA_OK);
    T_ASSERT(wa_thread_clock_reads() > before);
    wa_instance_free(inst);
}

/* env.again(n): calls the caller's "outer"(n - 1) re-entrantly, and its "double" too. */
static wa_trap_kind_t again_cb(wa_instance_t *caller, void *user, const wa_value_t *args,
                               wa_value_t *results)
{
    int *calls = user;
    (*calls)++;
    wa_value_t a = {.i32 = args[0].i32 - 1}, r;
    wa_trap_t trap;
    wa_status_t st = wa_call(wa_instance_func(caller, "outer"), &a, 1, &r, 1, NULL, &trap);
    if (st != WA_OK)
        return wa_trap_set(caller, trap.kind, 0, "nested: %s", trap.message);
    wa_value_t d;
    if (wa_call(wa_instance_func(caller, "double"), &a, 1, &d, 1, NULL, &trap) != WA_OK ||
        d.i32 != 2 * a.i32)
        return wa_trap_set(caller, WA_TRAP_HOST, 0, "double failed");
    results[0] = r;
    return WA_TRAP_NONE;
}

static wa_trap_kind_t fail_cb(wa_instance_t *caller, void *user, const wa_value_t *args,
                              wa_value_t *results)
{
    (void)user, (void)results;
    return wa_trap_set(caller, WA_TRAP_HOST, 0, "boom %d", args[0].i32);
}

static wa_linker_t *host_linker(int *calls)
{
    static const wa_valtype_t i32[1] = {WA_I32};
    wa_functype_t t1 = {1, 1, i32, i32}, t0 = {1, 0, i32, NULL};
    wa_linker_t *l = wa_linker_new();
    T_ASSERT(l != NULL);
    T_EQ_INT(wa_linker_define_func(l, "env", "again", &t1, again_cb, calls), WA_OK);
    T_EQ_INT(wa_linker_define_func(l, "env", "fail", &t0, fail_cb, NULL), WA_OK);
    return l;
}

TEST(host_functions_call_back_into_their_caller)
{
    int calls = 0;
    wa_linker_t *l = host_linker(&calls);
    wa_instance_t *inst = inst_of(host_wasm, sizeof host_wasm, l, NULL, NULL);
    wa_value_t v = {.i32 = 50}, res[1];
    wa_trap_t trap;
    T_EQ_INT(call1(inst, "outer", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 50);
    T_EQ_INT(calls, 50);
    wa_instance_free(inst);
    wa_linker_free(l);
}

TEST(deep_reentrancy_ends_in_stack_exhausted_not_a_crash)
{
    int calls = 0;
    wa_linker_t *l = host_linker(&calls);
    wa_instance_t *inst = inst_of(host_wasm, sizeof host_wasm, l, NULL, NULL);
    wa_value_t v = {.i32 = 1000000}, res[1];
    wa_trap_t trap;
    T_EQ_INT(call1(inst, "outer", v, 1, res, NULL, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_STACK_EXHAUSTED);
    v.i32 = 10;
    T_EQ_INT(call1(inst, "outer", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 10);
    wa_instance_free(inst);
    wa_linker_free(l);
}

TEST(host_trap_carries_its_message)
{
    int calls = 0;
    wa_linker_t *l = host_linker(&calls);
    wa_instance_t *inst = inst_of(host_wasm, sizeof host_wasm, l, NULL, NULL);
    wa_value_t v = {.i32 = 3}, res[1];
    wa_trap_t trap;
    T_EQ_INT(call1(inst, "do_fail", v, 1, res, NULL, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_HOST);
    T_EQ_STR(trap.message, "boom 3");
    T_EQ_UINT(trap.func_index, 3);
    wa_instance_free(inst);
    wa_linker_free(l);
}

/* (module
 *   (import "env" "fail" (func $fail (param i32)))
 *   (func (export "do_fail") (param i32) (result i32) local.get 0 call $fail i32.const 5)
 *   (func (export "boom") (param i32) (result i32) unreachable)) */
static const uint8_t fail_then_trap_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x66, 0x61, 0x69, 0x6c,
    0x00, 0x00, 0x03, 0x03, 0x02, 0x01, 0x01, 0x07, 0x12, 0x02, 0x07, 0x64, 0x6f, 0x5f, 0x66, 0x61,
    0x69, 0x6c, 0x00, 0x01, 0x04, 0x62, 0x6f, 0x6f, 0x6d, 0x00, 0x02, 0x0a, 0x0e, 0x02, 0x08, 0x00,
    0x20, 0x00, 0x10, 0x00, 0x41, 0x05, 0x0b, 0x03, 0x00, 0x00, 0x0b,
};

/* The same calls under each kind of limit (none, fuel, a budget: the last is the direct path
 * a proxy's callbacks take) give the same results, and one call's trap details never show in
 * the next call's. */
TEST(every_kind_of_limit_gives_the_same_results_and_fresh_trap_details)
{
    int calls = 0;
    wa_linker_t *l = host_linker(&calls);
    wa_instance_t *inst = inst_of(host_wasm, sizeof host_wasm, l, NULL, NULL);
    const wa_call_limits_t fuel = {.fuel = 1000000000}, budget = {.budget_ns = 10000000000ull};
    const wa_call_limits_t *kinds[] = {NULL, &fuel, &budget};
    for (int k = 0; k < 3; k++) {
        const wa_call_limits_t *lim = kinds[k];
        wa_value_t v = {.i32 = 3}, res[1];
        wa_trap_t trap;
        T_EQ_INT(call1(inst, "do_fail", v, 1, res, lim, &trap), WA_ERR_TRAP);
        T_EQ_INT(trap.kind, WA_TRAP_HOST);
        T_EQ_STR(trap.message, "boom 3");
        T_EQ_UINT(trap.func_index, 3);
        v.i32 = 10; /* re-entry: the host function calls back into the instance */
        T_EQ_INT(call1(inst, "outer", v, 1, res, lim, &trap), WA_OK);
        T_EQ_INT(res[0].i32, 10);
        T_EQ_INT(trap.kind, WA_TRAP_NONE);
        T_EQ_STR(trap.message, "");
        v.i32 = 1000000; /* a trap deep inside nested calls, then a clean call again */
        T_EQ_INT(call1(inst, "outer", v, 1, res, lim, &trap), WA_ERR_TRAP);
        T_EQ_INT(trap.kind, WA_TRAP_STACK_EXHAUSTED);
        v.i32 = 5;
        T_EQ_INT(call1(inst, "outer", v, 1, res, lim, &trap), WA_OK);
        T_EQ_INT(res[0].i32, 5);
        v.i32 = 7;
        T_EQ_INT(call1(inst, "do_fail", v, 1, res, lim, &trap), WA_ERR_TRAP);
        T_EQ_STR(trap.message, "boom 7");
        T_EQ_UINT(trap.exit_code, 0);
        /* malformed calls are refused the same way whatever the limits */
        T_EQ_INT(wa_call(wa_instance_func(inst, "outer"), NULL, 1, res, 1, lim, &trap),
                 WA_ERR_ARG);
        T_EQ_INT(wa_call(wa_instance_func(inst, "outer"), &v, 2, res, 1, lim, &trap),
                 WA_ERR_TYPE);
        T_EQ_INT(wa_call(wa_instance_func(inst, "outer"), &v, 1, res, 0, lim, &trap),
                 WA_ERR_TYPE);
    }
    wa_instance_free(inst);
    /* a host function's message belongs to its trap alone: the next trap has its own */
    inst = inst_of(fail_then_trap_wasm, sizeof fail_then_trap_wasm, l, NULL, NULL);
    for (int k = 0; k < 3; k++) {
        wa_value_t v = {.i32 = 9}, res[1];
        wa_trap_t trap;
        T_EQ_INT(call1(inst, "do_fail", v, 1, res, kinds[k], &trap), WA_ERR_TRAP);
        T_EQ_STR(trap.message, "boom 9");
        T_EQ_INT(call1(inst, "boom", v, 1, res, kinds[k], &trap), WA_ERR_TRAP);
        T_EQ_INT(trap.kind, WA_TRAP_UNREACHABLE);
        T_EQ_STR(trap.message, wa_trap_kind_str(WA_TRAP_UNREACHABLE));
        T_EQ_UINT(trap.func_index, 2);
    }
    wa_instance_free(inst);
    wa_linker_free(l);
}

/* A host function the embedder calls itself keeps its trap message, with no location in
 * Wasm code. The module re-exports its import, handing the host function to the embedder:
 *   (module (import "env" "fail" (func $f (param i32))) (export "fail" (func $f))) */
TEST(a_host_function_called_directly_keeps_its_trap_message)
{
    static const uint8_t reexport_wasm[] = {
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00,
        0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x66, 0x61, 0x69, 0x6c, 0x00, 0x00, 0x07,
        0x08, 0x01, 0x04, 0x66, 0x61, 0x69, 0x6c, 0x00, 0x00,
    };
    int calls = 0;
    wa_linker_t *l = host_linker(&calls);
    wa_instance_t *inst = inst_of(reexport_wasm, sizeof reexport_wasm, l, NULL, NULL);
    wa_func_t *fail = wa_instance_func(inst, "fail");
    T_ASSERT(fail != NULL);
    wa_value_t v = {.i32 = 12};
    wa_trap_t trap;
    T_EQ_INT(wa_call(fail, &v, 1, NULL, 0, NULL, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_HOST);
    T_EQ_STR(trap.message, "boom 12");
    T_EQ_UINT(trap.func_index, UINT32_MAX);
    wa_instance_free(inst);
    wa_linker_free(l);
}

TEST(missing_import_is_unlinkable_and_named)
{
    wa_module_t *m = NULL;
    wa_error_t err;
    T_EQ_INT(wa_module_load(host_wasm, sizeof host_wasm, &m, &err), WA_OK);
    wa_instance_t *inst = NULL;
    wa_linker_t *l = wa_linker_new();
    T_EQ_INT(wa_instance_new(m, l, NULL, &inst, &err), WA_ERR_UNLINKABLE);
    T_ASSERT(strstr(err.message, "env.again") != NULL);
    /* a function of the wrong type does not link either */
    static const wa_valtype_t i64[1] = {WA_I64};
    wa_functype_t bad = {1, 1, i64, i64};
    T_EQ_INT(wa_linker_define_func(l, "env", "again", &bad, again_cb, NULL), WA_OK);
    T_EQ_INT(wa_instance_new(m, l, NULL, &inst, &err), WA_ERR_UNLINKABLE);
    T_ASSERT(strstr(err.message, "incompatible import type") != NULL);
    wa_linker_free(l);
    wa_module_unref(m);
}

TEST(memory_views_are_bounds_checked)
{
    wa_instance_t *inst = TRAPS();
    wa_memory_t *mem = wa_instance_memory(inst);
    T_ASSERT(mem != NULL);
    T_EQ_UINT(wa_memory_pages(mem), 1);
    const char *p = wa_memory_view(mem, 16, 5);
    T_ASSERT(p != NULL);
    T_EQ_MEM(p, 5, "hello", 5);
    T_ASSERT(wa_memory_view(mem, 65532, 4) != NULL);
    T_ASSERT(wa_memory_view(mem, 65532, 5) == NULL);
    T_ASSERT(wa_memory_view(mem, 65536, 0) != NULL);
    T_ASSERT(wa_memory_view(mem, 65537, 0) == NULL);
    T_ASSERT(wa_memory_view(mem, UINT64_MAX, 2) == NULL);
    T_ASSERT(wa_memory_view(mem, 1, UINT64_MAX) == NULL);
    wa_value_t v = {.i32 = 1}, res[1];
    wa_trap_t trap;
    T_EQ_INT(call1(inst, "grow", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 1);
    T_ASSERT(wa_memory_view(mem, 65536, 65536) != NULL);
    /* the declared maximum is 4 pages */
    v.i32 = 3;
    T_EQ_INT(call1(inst, "grow", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, -1);
    T_EQ_INT(wa_memory_grow(mem, 2), 2);
    T_EQ_UINT(wa_memory_pages(mem), 4);
    uint64_t size;
    T_ASSERT(wa_memory_data(mem, &size) != NULL);
    T_EQ_UINT(size, 4 * 65536);
    wa_instance_free(inst);
}

TEST(instance_limits_cap_memory_and_call_depth)
{
    wa_instance_limits_t lim = {.max_memory_pages = 2, .max_call_depth = 100};
    wa_instance_t *inst = inst_of(traps_wasm, sizeof traps_wasm, NULL, &lim, NULL);
    wa_value_t v = {.i32 = 2}, res[1];
    wa_trap_t trap;
    T_EQ_INT(call1(inst, "grow", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, -1);
    v.i32 = 1;
    T_EQ_INT(call1(inst, "grow", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 1);
    v.i32 = 200; /* fib recursion depth ~200 > 100 */
    T_EQ_INT(call1(inst, "fib", v, 1, res, NULL, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_STACK_EXHAUSTED);
    wa_instance_free(inst);
    /* a cap equal to the declared minimum instantiates, and nothing can grow */
    lim.max_memory_pages = 1;
    inst = inst_of(traps_wasm, sizeof traps_wasm, NULL, &lim, NULL);
    T_EQ_INT(call1(inst, "grow", v, 1, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, -1);
    wa_instance_free(inst);
}

TEST(instantiation_is_cheap)
{
    wa_module_t *m = NULL;
    wa_error_t err;
    T_EQ_INT(wa_module_load(traps_wasm, sizeof traps_wasm, &m, &err), WA_OK);
    enum { N = 200 };
    uint64_t t0 = wa_now_ns();
    for (int i = 0; i < N; i++) {
        wa_instance_t *inst = NULL;
        T_EQ_INT(wa_instance_new(m, NULL, NULL, &inst, &err), WA_OK);
        wa_instance_free(inst);
    }
    uint64_t per = (wa_now_ns() - t0) / N;
    T_ASSERT(per < 1000000); /* < 1 ms each, including a 64 KiB memory and its data */
    wa_module_unref(m);
}

TEST(calls_cross_into_the_owning_instance)
{
    wa_instance_t *p = inst_of(provider_wasm, sizeof provider_wasm, NULL, NULL, NULL);
    wa_linker_t *l = wa_linker_new();
    T_EQ_INT(wa_linker_define_instance(l, "p", p), WA_OK);
    wa_instance_t *c = inst_of(consumer_wasm, sizeof consumer_wasm, l, NULL, NULL);
    wa_value_t none = {0}, res[1];
    wa_trap_t trap;
    /* "read" loads from the provider's memory (42), not the consumer's (7) */
    T_EQ_INT(call1(c, "direct", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 42);
    T_EQ_INT(call1(c, "indirect", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 42);
    T_EQ_INT(call1(c, "own", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 7);
    T_EQ_INT(call1(p, "bump", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(call1(c, "indirect", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 43);
    /* the mutable global is shared */
    wa_value_t v = {.i32 = 9};
    T_EQ_INT(call1(c, "setg", v, 1, res, NULL, &trap), WA_OK);
    wa_extern_t e;
    T_EQ_INT(wa_instance_export(p, "gm", &e), WA_OK);
    T_EQ_INT(e.kind, WA_EXTERN_GLOBAL);
    T_EQ_INT(wa_global_get(e.u.global).i32, 9);
    /* the provider may go first: the consumer keeps it alive */
    wa_instance_free(p);
    wa_linker_free(l);
    T_EQ_INT(call1(c, "direct", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 43);
    wa_instance_free(c);
}

/* provider2:
 *   (memory (export "mem") 1) (data (i32.const 0) "\2a")
 *   (func (export "read") (result i32) i32.const 0 i32.load)
 *   (func (export "boom") unreachable)
 * consumer2:
 *   (import "p" "read" (func $read (result i32))) (import "p" "boom" (func $boom))
 *   (memory 1) (data (i32.const 0) "\07")
 *   (func (export "mixed") (result i32) call $read i32.const 0 i32.load i32.add)
 *   (func $rec (export "rec") (param i32) (result i32)
 *     call $read drop local.get 0 i32.const 1 i32.add call $rec)
 *   (func (export "boom") call $boom) */
TEST(returns_from_another_instance_restore_the_callers_state)
{
    wa_instance_t *p = inst_of(provider2_wasm, sizeof provider2_wasm, NULL, NULL, NULL);
    wa_linker_t *l = wa_linker_new();
    T_EQ_INT(wa_linker_define_instance(l, "p", p), WA_OK);
    wa_instance_t *c = inst_of(consumer2_wasm, sizeof consumer2_wasm, l, NULL, NULL);
    wa_value_t none = {0}, res[1];
    wa_trap_t trap;
    /* 42 from the provider's memory, then 7 from the consumer's in the same function */
    T_EQ_INT(call1(c, "mixed", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 49);
    /* every level calls the provider first, so the frames run out on that call: the trap
     * names the consumer's call instruction, not the return path's internals */
    T_EQ_INT(call1(c, "rec", none, 1, res, NULL, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_STACK_EXHAUSTED);
    T_EQ_UINT(trap.func_index, 3);
    T_ASSERT(trap.code_offset > 0 && trap.code_offset + 1 < sizeof consumer2_wasm);
    T_EQ_UINT(consumer2_wasm[trap.code_offset], 0x10);     /* call */
    T_EQ_UINT(consumer2_wasm[trap.code_offset + 1], 0x00); /* $read */
    /* a trap inside the provider names the provider's instruction */
    T_EQ_INT(call1(c, "boom", none, 0, res, NULL, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_UNREACHABLE);
    T_EQ_UINT(trap.func_index, 1);
    T_ASSERT(trap.code_offset > 0 && trap.code_offset < sizeof provider2_wasm);
    T_EQ_UINT(provider2_wasm[trap.code_offset], 0x00); /* unreachable */
    /* and the consumer still runs after both traps */
    T_EQ_INT(call1(c, "mixed", none, 0, res, NULL, &trap), WA_OK);
    T_EQ_INT(res[0].i32, 49);
    wa_instance_free(c);
    wa_linker_free(l);
    wa_instance_free(p);
}

TEST(standalone_objects_follow_their_types)
{
    wa_global_t *g = NULL;
    wa_value_t v = {.i64 = 5};
    T_EQ_INT(wa_global_new(WA_I64, false, v, &g), WA_OK);
    T_EQ_INT(wa_global_set(g, v), WA_ERR_TYPE);
    T_EQ_INT(wa_global_get(g).i64, 5);
    wa_global_unref(g);
    wa_table_t *t = NULL;
    wa_limits_desc_t lim = {.min = 3, .max = 5, .has_max = true};
    T_EQ_INT(wa_table_new(WA_EXTERNREF, lim, &t), WA_OK);
    T_EQ_UINT(wa_table_size(t), 3);
    T_EQ_INT(wa_table_get(t, 2, &v), WA_OK);
    T_EQ_UINT(v.raw, 0);
    T_EQ_INT(wa_table_get(t, 3, &v), WA_ERR_ARG);
    wa_table_unref(t);
    wa_memory_t *m = NULL;
    lim.min = 1, lim.max = 2;
    T_EQ_INT(wa_memory_new(lim, &m), WA_OK);
    T_EQ_INT(wa_memory_grow(m, 1), 1);
    T_EQ_INT(wa_memory_grow(m, 1), -1);
    wa_memory_unref(m);
}

TEST(float_results_keep_their_bits)
{
    wa_instance_t *inst = TRAPS();
    wa_value_t args[2], res[1];
    wa_trap_t trap;
    args[0].f64 = -0.0;
    args[1].f64 = 0.0;
    T_EQ_INT(wa_call(wa_instance_func(inst, "f64max"), args, 2, res, 1, NULL, &trap), WA_OK);
    T_EQ_UINT(res[0].f64_bits, 0);
    args[0].f64_bits = 0x7ff8000000000123ull;
    T_EQ_INT(wa_call(wa_instance_func(inst, "f64max"), args, 2, res, 1, NULL, &trap), WA_OK);
    T_EQ_UINT(res[0].f64_bits & 0x7ff8000000000000ull, 0x7ff8000000000000ull);
    wa_instance_free(inst);
}

static wa_trap_kind_t seven_cb(wa_instance_t *caller, void *user, const wa_value_t *args,
                               wa_value_t *results)
{
    (void)caller, (void)user, (void)args;
    results[0].i32 = 7;
    return WA_TRAP_NONE;
}

TEST(a_lone_constant_body_is_known_without_a_call)
{
    static const wa_valtype_t i32[1] = {WA_I32};
    wa_functype_t t = {0, 1, NULL, i32};
    wa_linker_t *l = wa_linker_new();
    T_ASSERT(l != NULL);
    T_EQ_INT(wa_linker_define_func(l, "env", "h", &t, seven_cb, NULL), WA_OK);
    wa_instance_t *inst = inst_of(constants_wasm, sizeof constants_wasm, l, NULL, NULL);
    /* what wa_func_constant promises is what a call returns, to the bit */
    static const char *const known[] = {"none", "i32", "i32max", "i64", "f32", "f64"};
    static const uint64_t want[] = {0, (uint32_t)-5, 2147483647, 0x8000000000000000ull,
                                    0xbfc00000u, 0x7ff0000000000123ull};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        wa_func_t *f = wa_instance_func(inst, known[i]);
        wa_functype_t ft;
        wa_func_type(f, &ft);
        wa_value_t k = {.raw = 0xdead}, args[2] = {{0}}, res[1] = {{.raw = 0}};
        wa_trap_t trap;
        T_ASSERT(wa_func_constant(f, &k));
        T_EQ_INT(wa_call(f, args, ft.nparams, res, ft.nresults, NULL, &trap), WA_OK);
        T_EQ_UINT(k.raw, want[i]);
        T_EQ_UINT(res[0].raw, k.raw);
    }
    /* anything else, however short, is called: more than one op, a parameter, a host function */
    static const char *const called[] = {"nop", "two", "param", "host"};
    for (size_t i = 0; i < sizeof called / sizeof *called; i++) {
        wa_value_t k;
        T_ASSERT(!wa_func_constant(wa_instance_func(inst, called[i]), &k));
    }
    wa_instance_free(inst);
    wa_linker_free(l);
}
