/* Module loading: decode errors carry the byte offset and the spec's wording, validation errors
 * the function index, unsupported proposals are named, and valid modules introspect. */
#include "../../t.h"

#include <stdbool.h>
#include "sluice/wasm.h"

#define HDR 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

/* (module (func (export "add") (param i32 i32) (result i32) ...) (memory 1) (import ...)) */
static const uint8_t small_wasm[] = {
    HDR,
    0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,             /* type (i32 i32)->i32 */
    0x02, 0x0b, 0x01, 0x03, 'e', 'n', 'v', 0x03, 'i', 'm', 'p', 0x00, 0x00, /* import env.imp */
    0x03, 0x02, 0x01, 0x00,                                           /* one function, type 0 */
    0x05, 0x03, 0x01, 0x00, 0x01,                                     /* memory min 1 */
    0x07, 0x07, 0x01, 0x03, 'a', 'd', 'd', 0x00, 0x01,                /* export "add" = func 1 */
    0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, /* body */
};

static wa_status_t load(const uint8_t *b, size_t n, wa_error_t *err)
{
    wa_module_t *m = NULL;
    wa_status_t st = wa_module_load(b, n, &m, err);
    wa_module_unref(m);
    return st;
}

TEST(bad_magic_is_malformed_at_offset_0)
{
    static const uint8_t b[] = {0x00, 0x61, 0x73, 0x6e, 0x01, 0x00, 0x00, 0x00};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_MALFORMED);
    T_EQ_INT(err.status, WA_ERR_MALFORMED);
    T_EQ_UINT(err.offset, 0);
    T_ASSERT(strstr(err.message, "magic header not detected") != NULL);
}

TEST(bad_version_is_reported_at_offset_4)
{
    static const uint8_t b[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_MALFORMED);
    T_EQ_UINT(err.offset, 4);
    T_ASSERT(strstr(err.message, "unknown binary version") != NULL);
}

TEST(section_longer_than_the_input_is_malformed_at_the_section)
{
    static const uint8_t b[] = {HDR, 0x01, 0x05, 0x01, 0x60};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_MALFORMED);
    T_EQ_UINT(err.offset, 8);
    T_ASSERT(strstr(err.message, "unexpected end") != NULL);
}

TEST(overlong_leb_is_malformed)
{
    static const uint8_t b[] = {HDR, 0x01, 0x06, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_MALFORMED);
    T_EQ_UINT(err.offset, 14);
    T_ASSERT(strstr(err.message, "integer representation too long") != NULL);
}

TEST(simd_opcode_is_unsupported_and_named_with_its_offset)
{
    static const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                0x0a, 0x06, 0x01, 0x04, 0x00, 0xfd, 0x00, 0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_UNSUPPORTED);
    T_EQ_UINT(err.offset, 23);
    T_EQ_UINT(err.func_index, 0);
    T_ASSERT(strstr(err.message, "SIMD") != NULL);
}

TEST(threads_opcode_is_unsupported)
{
    static const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                0x0a, 0x06, 0x01, 0x04, 0x00, 0xfe, 0x03, 0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_UNSUPPORTED);
    T_EQ_UINT(err.offset, 23);
    T_ASSERT(strstr(err.message, "threads") != NULL);
}

TEST(result_type_mismatch_is_invalid_with_function_index)
{
    /* (func (result i32) i64.const 0) */
    static const uint8_t b[] = {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01,
                                0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x42, 0x00, 0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_INVALID);
    T_EQ_UINT(err.func_index, 0);
    T_EQ_UINT(err.offset, 26);
    T_ASSERT(strstr(err.message, "type mismatch") != NULL);
}

TEST(unknown_local_is_invalid_at_its_index)
{
    static const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                0x0a, 0x07, 0x01, 0x05, 0x00, 0x20, 0x05, 0x1a, 0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_INVALID);
    T_EQ_UINT(err.offset, 24);
    T_ASSERT(strstr(err.message, "unknown local") != NULL);
}

TEST(over_aligned_load_is_invalid)
{
    static const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                0x05, 0x03, 0x01, 0x00, 0x01, 0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41,
                                0x00, 0x28, 0x03, 0x00, 0x1a, 0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_INVALID);
    T_ASSERT(strstr(err.message, "alignment must not be larger than natural") != NULL);
}

TEST(load_without_memory_is_invalid)
{
    static const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x1a,
                                0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_INVALID);
    T_ASSERT(strstr(err.message, "unknown memory") != NULL);
}

TEST(truncated_inputs_never_load)
{
    for (size_t n = 0; n < sizeof small_wasm; n++) {
        wa_error_t err;
        wa_status_t st = load(small_wasm, n, &err);
        /* a prefix ending right after the header, the type or the import section is a
         * complete module; any other prefix is malformed */
        bool boundary = n == 8 || n == 17 || n == 30;
        T_EQ_INT(st, boundary ? WA_OK : WA_ERR_MALFORMED);
        if (st != WA_OK)
            T_ASSERT(err.offset <= n);
    }
    wa_error_t err;
    T_EQ_INT(load(small_wasm, sizeof small_wasm, &err), WA_OK);
}

TEST(imports_and_exports_are_introspected)
{
    wa_module_t *m = NULL;
    wa_error_t err;
    T_EQ_INT(wa_module_load(small_wasm, sizeof small_wasm, &m, &err), WA_OK);
    T_EQ_UINT(wa_module_import_count(m), 1);
    const char *mod, *name;
    wa_externtype_t t;
    T_EQ_INT(wa_module_import(m, 0, &mod, &name, &t), WA_OK);
    T_EQ_STR(mod, "env");
    T_EQ_STR(name, "imp");
    T_EQ_INT(t.kind, WA_EXTERN_FUNC);
    T_EQ_UINT(t.u.func.nparams, 2);
    T_EQ_UINT(t.u.func.nresults, 1);
    T_EQ_INT(t.u.func.results[0], WA_I32);
    T_EQ_UINT(wa_module_export_count(m), 1);
    T_EQ_INT(wa_module_export(m, 0, &name, &t), WA_OK);
    T_EQ_STR(name, "add");
    T_EQ_INT(t.kind, WA_EXTERN_FUNC);
    T_EQ_INT(wa_module_export(m, 1, &name, &t), WA_ERR_NOT_FOUND);
    wa_module_stats_t s;
    wa_module_stats(m, &s);
    T_EQ_UINT(s.funcs, 1);
    T_EQ_UINT(s.memories, 1);
    T_EQ_UINT(s.code_bytes, 7);
    T_ASSERT(s.compiled_bytes > 0);
    wa_module_unref(wa_module_ref(m));
    wa_module_unref(m);
}

TEST(duplicate_export_is_invalid)
{
    static const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                0x07, 0x09, 0x02, 0x01, 'a', 0x00, 0x00, 0x01, 'a', 0x00, 0x00,
                                0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_ERR_INVALID);
    T_ASSERT(strstr(err.message, "duplicate export name") != NULL);
}

TEST(br_table_in_unreachable_code_before_any_operand_validates)
{
    /* (func (block (result i32) unreachable br_table 0 0) drop): found by fuzzing, the
     * label check once read the operand-type stack before it was ever allocated */
    static const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x02, 0x7f, 0x00, 0x0e, 0x01, 0x00,
                                0x00, 0x0b, 0x1a, 0x0b};
    wa_error_t err;
    T_EQ_INT(load(b, sizeof b, &err), WA_OK);
}
