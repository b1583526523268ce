/* The register/slot compiler's rewrites: deferred local reads against later writes, results
 * retargeted to locals, i32.add folded into memory addresses, comparisons fused with branches. */
#include "../../t.h"
#include "sluice/wasm.h"

#include <stdlib.h>

/* wat2wasm of:
 * (module
 *   (memory (export "mem") 1)
 *   (data (i32.const 8) "\2a\00\00\00")
 *   (func (export "alias") (param i32) (result i32)
 *     local.get 0 local.get 0 i32.const 1 i32.add local.set 0 local.get 0 i32.add)
 *   (func (export "tee_alias") (param i32) (result i32)
 *     local.get 0 local.get 0 i32.const 10 i32.mul local.tee 0 i32.sub)
 *   (func (export "loop_param") (param i32) (result i32) (local i32)
 *     local.get 0 i32.const 1 i32.add
 *     loop (param i32)
 *       local.set 1
 *       local.get 1 i32.const 2 i32.add
 *       local.get 1 i32.const 100 i32.lt_u
 *       br_if 0
 *       drop
 *     end
 *     local.get 1)
 *   (func (export "load_add") (param i32) (result i32)
 *     local.get 0 i32.const -4 i32.add i32.load offset=8)
 *   (func (export "store_add") (param i32 i32)
 *     local.get 0 i32.const -4 i32.add local.get 1 i32.store offset=8)
 *   (func (export "tee_cmp") (param i32) (result i32) (local i32)
 *     block
 *       local.get 0 i32.const 5 i32.lt_s local.tee 1
 *       br_if 0
 *     end
 *     local.get 1)
 *   (func (export "swap_sub") (param i32 i32) (result i32)
 *     local.get 1 local.get 0 local.set 1 local.set 0 local.get 0 local.get 1 i32.sub)
 *   (func (export "zero_after_if") (param i32) (result i32) (local i32)
 *     local.get 0
 *     if
 *       i32.const 5 local.set 1
 *     end
 *     i32.const 0 local.set 1
 *     local.get 1)
 *   (func (export "zero_in_loop") (param i32) (result i32) (local i32 i32)
 *     loop
 *       i32.const 0 local.set 1
 *       local.get 1 i32.const 7 i32.add local.set 1
 *       local.get 2 local.get 1 i32.add local.set 2
 *       local.get 0 i32.const 1 i32.sub local.tee 0
 *       br_if 0
 *     end
 *     local.get 2)
 *   (func (export "const_addr") (param i32) (result i32)
 *     i32.const 4 local.get 0 i32.store offset=12
 *     i32.const 0 i32.load offset=16)
 *   (func (export "rotate") (param i32 i32 i32) (result i32)
 *     local.get 2 local.get 1 local.set 2 local.get 0 local.set 1 local.set 0
 *     local.get 0 i32.const 100 i32.mul local.get 1 i32.const 10 i32.mul i32.add local.get 2 i32.add)
 *   (func (export "table") (param i32) (result i32) (local i32)
 *     i32.const 7 local.set 1
 *     block
 *       block
 *         block
 *           local.get 1 local.get 0
 *           br_table 0 1 2
 *         end
 *         i32.const 10 return
 *       end
 *       i32.const 20 return
 *     end
 *     i32.const 30))
 */
static const uint8_t slots_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x1c, 0x05, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x01, 0x7f, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60,
    0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x0d, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x03,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x91, 0x01, 0x0d, 0x03, 0x6d,
    0x65, 0x6d, 0x02, 0x00, 0x05, 0x61, 0x6c, 0x69, 0x61, 0x73, 0x00, 0x00, 0x09, 0x74, 0x65, 0x65,
    0x5f, 0x61, 0x6c, 0x69, 0x61, 0x73, 0x00, 0x01, 0x0a, 0x6c, 0x6f, 0x6f, 0x70, 0x5f, 0x70, 0x61,
    0x72, 0x61, 0x6d, 0x00, 0x02, 0x08, 0x6c, 0x6f, 0x61, 0x64, 0x5f, 0x61, 0x64, 0x64, 0x00, 0x03,
    0x09, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x5f, 0x61, 0x64, 0x64, 0x00, 0x04, 0x07, 0x74, 0x65, 0x65,
    0x5f, 0x63, 0x6d, 0x70, 0x00, 0x05, 0x08, 0x73, 0x77, 0x61, 0x70, 0x5f, 0x73, 0x75, 0x62, 0x00,
    0x06, 0x0d, 0x7a, 0x65, 0x72, 0x6f, 0x5f, 0x61, 0x66, 0x74, 0x65, 0x72, 0x5f, 0x69, 0x66, 0x00,
    0x07, 0x0c, 0x7a, 0x65, 0x72, 0x6f, 0x5f, 0x69, 0x6e, 0x5f, 0x6c, 0x6f, 0x6f, 0x70, 0x00, 0x08,
    0x0a, 0x63, 0x6f, 0x6e, 0x73, 0x74, 0x5f, 0x61, 0x64, 0x64, 0x72, 0x00, 0x09, 0x06, 0x72, 0x6f,
    0x74, 0x61, 0x74, 0x65, 0x00, 0x0a, 0x05, 0x74, 0x61, 0x62, 0x6c, 0x65, 0x00, 0x0b, 0x0a, 0x80,
    0x02, 0x0c, 0x0e, 0x00, 0x20, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00, 0x20, 0x00, 0x6a,
    0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x00, 0x41, 0x0a, 0x6c, 0x22, 0x00, 0x6b, 0x0b, 0x1e, 0x01,
    0x01, 0x7f, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x03, 0x01, 0x21, 0x01, 0x20, 0x01, 0x41, 0x02, 0x6a,
    0x20, 0x01, 0x41, 0xe4, 0x00, 0x49, 0x0d, 0x00, 0x1a, 0x0b, 0x20, 0x01, 0x0b, 0x0a, 0x00, 0x20,
    0x00, 0x41, 0x7c, 0x6a, 0x28, 0x02, 0x08, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x41, 0x7c, 0x6a, 0x20,
    0x01, 0x36, 0x02, 0x08, 0x0b, 0x12, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x41, 0x05, 0x48,
    0x22, 0x01, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x0b, 0x0f, 0x00, 0x20, 0x01, 0x20, 0x00, 0x21, 0x01,
    0x21, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6b, 0x0b, 0x13, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x04, 0x40,
    0x41, 0x05, 0x21, 0x01, 0x0b, 0x41, 0x00, 0x21, 0x01, 0x20, 0x01, 0x0b, 0x24, 0x01, 0x02, 0x7f,
    0x03, 0x40, 0x41, 0x00, 0x21, 0x01, 0x20, 0x01, 0x41, 0x07, 0x6a, 0x21, 0x01, 0x20, 0x02, 0x20,
    0x01, 0x6a, 0x21, 0x02, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x20, 0x02,
    0x0b, 0x0e, 0x00, 0x41, 0x04, 0x20, 0x00, 0x36, 0x02, 0x0c, 0x41, 0x00, 0x28, 0x02, 0x10, 0x0b,
    0x1d, 0x00, 0x20, 0x02, 0x20, 0x01, 0x21, 0x02, 0x20, 0x00, 0x21, 0x01, 0x21, 0x00, 0x20, 0x00,
    0x41, 0xe4, 0x00, 0x6c, 0x20, 0x01, 0x41, 0x0a, 0x6c, 0x6a, 0x20, 0x02, 0x6a, 0x0b, 0x22, 0x01,
    0x01, 0x7f, 0x41, 0x07, 0x21, 0x01, 0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x20, 0x01, 0x20, 0x00,
    0x0e, 0x02, 0x00, 0x01, 0x02, 0x0b, 0x41, 0x0a, 0x0f, 0x0b, 0x41, 0x14, 0x0f, 0x0b, 0x41, 0x1e,
    0x0b, 0x0b, 0x0a, 0x01, 0x00, 0x41, 0x08, 0x0b, 0x04, 0x2a, 0x00, 0x00, 0x00,
};

/* wat2wasm of:
 * (module
 *   (memory 1)
 *   (func (export "store_edge") (result i32)
 *     i32.const 65528 i32.const 9 i32.store offset=4
 *     i32.const 65532 i32.load)
 *   (func (export "past_edge") (result i32) i32.const 65530 i32.load offset=4)
 *   (func (export "wraps_past_4g") (result i32) i32.const -1 i32.load offset=2))
 */
static const uint8_t const_addr_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03,
    0x04, 0x03, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x2a, 0x03, 0x0a, 0x73, 0x74,
    0x6f, 0x72, 0x65, 0x5f, 0x65, 0x64, 0x67, 0x65, 0x00, 0x00, 0x09, 0x70, 0x61, 0x73, 0x74, 0x5f,
    0x65, 0x64, 0x67, 0x65, 0x00, 0x01, 0x0d, 0x77, 0x72, 0x61, 0x70, 0x73, 0x5f, 0x70, 0x61, 0x73,
    0x74, 0x5f, 0x34, 0x67, 0x00, 0x02, 0x0a, 0x26, 0x03, 0x12, 0x00, 0x41, 0xf8, 0xff, 0x03, 0x41,
    0x09, 0x36, 0x02, 0x04, 0x41, 0xfc, 0xff, 0x03, 0x28, 0x02, 0x00, 0x0b, 0x09, 0x00, 0x41, 0xfa,
    0xff, 0x03, 0x28, 0x02, 0x04, 0x0b, 0x07, 0x00, 0x41, 0x7f, 0x28, 0x02, 0x02, 0x0b,
};

/* The instance keeps its own reference on the module. */
static wa_instance_t *instance_of(const uint8_t *bytes, size_t len)
{
    wa_module_t *m = NULL;
    wa_error_t err;
    wa_status_t st = wa_module_load(bytes, len, &m, &err);
    if (st != WA_OK)
        t_fail(__FILE__, __LINE__, "load: %s at %zu", err.message, err.offset);
    wa_linker_t *l = wa_linker_new();
    wa_instance_limits_t lim = {0};
    wa_instance_t *inst = NULL;
    st = wa_instance_new(m, l, &lim, &inst, &err);
    wa_linker_free(l);
    wa_module_unref(m);
    if (st != WA_OK)
        t_fail(__FILE__, __LINE__, "instantiate: %s", err.message);
    return inst;
}

static wa_instance_t *slots_instance(void) { return instance_of(slots_wasm, sizeof slots_wasm); }

/* Calls export `name` with up to three i32 arguments under a fuel bound (a miscompiled loop
 * ends in a trap rather than a hang); returns the status, *nres the function's result count. */
static wa_status_t call(wa_instance_t *inst, const char *name, const int32_t *a, int nargs,
                        int32_t *out, uint32_t *nres, wa_trap_t *trap)
{
    wa_func_t *f = wa_instance_func(inst, name);
    if (!f)
        t_fail(__FILE__, __LINE__, "no export %s", name);
    wa_value_t args[3] = {{.i32 = a[0]}, {.i32 = a[1]}, {.i32 = a[2]}}, res[1] = {{0}};
    wa_functype_t ft;
    wa_func_type(f, &ft);
    *nres = ft.nresults;
    wa_call_limits_t lim = {.fuel = 100000};
    wa_status_t st = wa_call(f, args, (uint32_t)nargs, res, ft.nresults, &lim, trap);
    *out = res[0].i32;
    return st;
}

/* One call that must succeed with result `want` (want_kind 0) or trap with want_kind. */
static void expect3(wa_instance_t *inst, const char *name, int32_t a, int32_t b, int32_t c,
                    int nargs, int32_t want, wa_trap_kind_t want_kind)
{
    wa_trap_t trap;
    int32_t r, args[3] = {a, b, c};
    uint32_t nres;
    wa_status_t st = call(inst, name, args, nargs, &r, &nres, &trap);
    if (want_kind) {
        T_EQ_INT(st, WA_ERR_TRAP);
        T_EQ_INT(trap.kind, want_kind);
    } else {
        T_EQ_INT(st, WA_OK);
        if (nres)
            T_EQ_INT(r, want);
    }
}

static void expect(wa_instance_t *inst, const char *name, int32_t a, int32_t b, int nargs,
                   int32_t want, wa_trap_kind_t want_kind)
{
    expect3(inst, name, a, b, 0, nargs, want, want_kind);
}

TEST(a_deferred_local_read_sees_the_value_before_a_later_write)
{
    wa_instance_t *inst = slots_instance();
    expect(inst, "alias", 5, 0, 1, 5 + 6, 0);
    expect(inst, "tee_alias", 3, 0, 1, 3 - 30, 0);
    expect(inst, "swap_sub", 10, 3, 2, 3 - 10, 0);
    /* three moves in a row, two of them merged into one instruction */
    expect3(inst, "rotate", 1, 2, 3, 3, 312, 0);
    wa_instance_free(inst);
}

TEST(a_loop_parameter_is_stored_on_every_iteration)
{
    wa_instance_t *inst = slots_instance();
    expect(inst, "loop_param", 0, 0, 1, 101, 0);
    expect(inst, "loop_param", 200, 0, 1, 201, 0);
    wa_instance_free(inst);
}

TEST(an_address_add_folded_into_an_access_still_wraps_at_4_gib)
{
    wa_instance_t *inst = slots_instance();
    /* (4 - 4) + 8 reads the data at 8 */
    expect(inst, "load_add", 4, 0, 1, 42, 0);
    /* (0 - 4) wraps to 0xfffffffc; + 8 is past 4 GiB: out of bounds, not address 4 */
    expect(inst, "load_add", 0, 0, 1, 0, WA_TRAP_MEMORY_OOB);
    expect(inst, "store_add", 0, 7, 2, 0, WA_TRAP_MEMORY_OOB);
    expect(inst, "store_add", 12, 7, 2, 0, 0);
    expect(inst, "load_add", 12, 0, 1, 7, 0);
    wa_instance_free(inst);
}

TEST(a_comparison_kept_by_local_tee_is_stored_before_its_branch)
{
    wa_instance_t *inst = slots_instance();
    expect(inst, "tee_cmp", 3, 0, 1, 1, 0);
    expect(inst, "tee_cmp", 7, 0, 1, 0, 0);
    wa_instance_free(inst);
}

TEST(a_zero_store_is_dropped_only_where_the_local_is_still_zero)
{
    wa_instance_t *inst = slots_instance();
    expect(inst, "zero_after_if", 1, 0, 1, 0, 0);
    expect(inst, "zero_after_if", 0, 0, 1, 0, 0);
    /* inside a loop the local holds the previous iteration's value: 3 x 7, not 7 + 14 + 21 */
    expect(inst, "zero_in_loop", 3, 0, 1, 21, 0);
    wa_instance_free(inst);
}

TEST(a_constant_address_reads_and_writes_the_same_memory)
{
    wa_instance_t *inst = slots_instance();
    /* the store goes to 4 + 12, the load reads 0 + 16 */
    expect(inst, "const_addr", 1234, 0, 1, 1234, 0);
    wa_instance_free(inst);
}

TEST(a_constant_address_joins_the_offset_only_while_the_sum_fits_32_bits)
{
    wa_instance_t *inst = instance_of(const_addr_wasm, sizeof const_addr_wasm);
    /* the last four bytes of the page, written as 65528 + 4 and read as 65532 + 0 */
    expect(inst, "store_edge", 0, 0, 0, 9, 0);
    /* 65530 + 4 ends two bytes past the page */
    expect(inst, "past_edge", 0, 0, 0, 0, WA_TRAP_MEMORY_OOB);
    /* 0xffffffff + 2 does not fit: kept apart, the access is past 4 GiB, not at address 1 */
    expect(inst, "wraps_past_4g", 0, 0, 0, 0, WA_TRAP_MEMORY_OOB);
    wa_instance_free(inst);
}

TEST(a_br_table_index_from_a_local_picks_each_label)
{
    wa_instance_t *inst = slots_instance();
    /* the value pushed before the index is dropped by the branch, whichever label it takes */
    expect(inst, "table", 0, 0, 1, 10, 0);
    expect(inst, "table", 1, 0, 1, 20, 0);
    expect(inst, "table", 2, 0, 1, 30, 0);
    expect(inst, "table", -1, 0, 1, 30, 0);
    wa_instance_free(inst);
}
