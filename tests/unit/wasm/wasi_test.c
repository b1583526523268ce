/* Unit tests of the WASI preview1 layer: a probe module re-exports each import as a plain
 * function, and each case calls it through the engine and checks guest memory and host fds. */
#include "sluice/wasi.h"
#include "../../t.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The probe module, built with wat2wasm from this text (abridged: every function below is
 * imported from wasi_snapshot_preview1 under its own name and exported as a wrapper that passes
 * its parameters through; clock_time_get's wrapper passes precision 1; path_open's wrapper
 * passes zeros; u_fd_write wraps wasi_unstable's fd_write; memory is exported, 1 page):
 *   args_sizes_get args_get environ_sizes_get environ_get clock_time_get clock_res_get
 *   random_get fd_write fd_read fd_close fd_seek fd_fdstat_get fd_prestat_get poll_oneoff
 *   proc_exit sched_yield path_open u_fd_write */
static const uint8_t probe_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x38, 0x08, 0x60,
  0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x03, 0x7f, 0x7e, 0x7f, 0x01, 0x7f,
  0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01,
  0x7f, 0x60, 0x04, 0x7f, 0x7e, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f,
  0x00, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x09, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
  0x7e, 0x7e, 0x7f, 0x7f, 0x01, 0x7f, 0x02, 0x8c, 0x05, 0x12, 0x16, 0x77,
  0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74,
  0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0e, 0x61, 0x72,
  0x67, 0x73, 0x5f, 0x73, 0x69, 0x7a, 0x65, 0x73, 0x5f, 0x67, 0x65, 0x74,
  0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70,
  0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77,
  0x31, 0x08, 0x61, 0x72, 0x67, 0x73, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x00,
  0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68,
  0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x11,
  0x65, 0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e, 0x5f, 0x73, 0x69, 0x7a, 0x65,
  0x73, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69,
  0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72,
  0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0b, 0x65, 0x6e, 0x76, 0x69, 0x72,
  0x6f, 0x6e, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73,
  0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70,
  0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0e, 0x63, 0x6c, 0x6f, 0x63,
  0x6b, 0x5f, 0x74, 0x69, 0x6d, 0x65, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x01,
  0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68,
  0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0d,
  0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x5f, 0x72, 0x65, 0x73, 0x5f, 0x67, 0x65,
  0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61,
  0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65,
  0x77, 0x31, 0x0a, 0x72, 0x61, 0x6e, 0x64, 0x6f, 0x6d, 0x5f, 0x67, 0x65,
  0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61,
  0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65,
  0x77, 0x31, 0x08, 0x66, 0x64, 0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00,
  0x02, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73,
  0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31,
  0x07, 0x66, 0x64, 0x5f, 0x72, 0x65, 0x61, 0x64, 0x00, 0x02, 0x16, 0x77,
  0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74,
  0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x08, 0x66, 0x64,
  0x5f, 0x63, 0x6c, 0x6f, 0x73, 0x65, 0x00, 0x03, 0x16, 0x77, 0x61, 0x73,
  0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70,
  0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x07, 0x66, 0x64, 0x5f, 0x73,
  0x65, 0x65, 0x6b, 0x00, 0x04, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73,
  0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76,
  0x69, 0x65, 0x77, 0x31, 0x0d, 0x66, 0x64, 0x5f, 0x66, 0x64, 0x73, 0x74,
  0x61, 0x74, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73,
  0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70,
  0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0e, 0x66, 0x64, 0x5f, 0x70,
  0x72, 0x65, 0x73, 0x74, 0x61, 0x74, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x00,
  0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68,
  0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0b,
  0x70, 0x6f, 0x6c, 0x6c, 0x5f, 0x6f, 0x6e, 0x65, 0x6f, 0x66, 0x66, 0x00,
  0x02, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73,
  0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31,
  0x09, 0x70, 0x72, 0x6f, 0x63, 0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x05,
  0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68,
  0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x0b,
  0x73, 0x63, 0x68, 0x65, 0x64, 0x5f, 0x79, 0x69, 0x65, 0x6c, 0x64, 0x00,
  0x06, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73,
  0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31,
  0x09, 0x70, 0x61, 0x74, 0x68, 0x5f, 0x6f, 0x70, 0x65, 0x6e, 0x00, 0x07,
  0x0d, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x75, 0x6e, 0x73, 0x74, 0x61, 0x62,
  0x6c, 0x65, 0x08, 0x66, 0x64, 0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00,
  0x02, 0x03, 0x13, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
  0x02, 0x03, 0x04, 0x00, 0x00, 0x02, 0x05, 0x06, 0x06, 0x02, 0x05, 0x03,
  0x01, 0x00, 0x01, 0x07, 0x82, 0x02, 0x13, 0x06, 0x6d, 0x65, 0x6d, 0x6f,
  0x72, 0x79, 0x02, 0x00, 0x0e, 0x61, 0x72, 0x67, 0x73, 0x5f, 0x73, 0x69,
  0x7a, 0x65, 0x73, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x12, 0x08, 0x61, 0x72,
  0x67, 0x73, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x13, 0x11, 0x65, 0x6e, 0x76,
  0x69, 0x72, 0x6f, 0x6e, 0x5f, 0x73, 0x69, 0x7a, 0x65, 0x73, 0x5f, 0x67,
  0x65, 0x74, 0x00, 0x14, 0x0b, 0x65, 0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e,
  0x5f, 0x67, 0x65, 0x74, 0x00, 0x15, 0x0e, 0x63, 0x6c, 0x6f, 0x63, 0x6b,
  0x5f, 0x74, 0x69, 0x6d, 0x65, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x16, 0x0d,
  0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x5f, 0x72, 0x65, 0x73, 0x5f, 0x67, 0x65,
  0x74, 0x00, 0x17, 0x0a, 0x72, 0x61, 0x6e, 0x64, 0x6f, 0x6d, 0x5f, 0x67,
  0x65, 0x74, 0x00, 0x18, 0x08, 0x66, 0x64, 0x5f, 0x77, 0x72, 0x69, 0x74,
  0x65, 0x00, 0x19, 0x07, 0x66, 0x64, 0x5f, 0x72, 0x65, 0x61, 0x64, 0x00,
  0x1a, 0x08, 0x66, 0x64, 0x5f, 0x63, 0x6c, 0x6f, 0x73, 0x65, 0x00, 0x1b,
  0x07, 0x66, 0x64, 0x5f, 0x73, 0x65, 0x65, 0x6b, 0x00, 0x1c, 0x0d, 0x66,
  0x64, 0x5f, 0x66, 0x64, 0x73, 0x74, 0x61, 0x74, 0x5f, 0x67, 0x65, 0x74,
  0x00, 0x1d, 0x0e, 0x66, 0x64, 0x5f, 0x70, 0x72, 0x65, 0x73, 0x74, 0x61,
  0x74, 0x5f, 0x67, 0x65, 0x74, 0x00, 0x1e, 0x0b, 0x70, 0x6f, 0x6c, 0x6c,
  0x5f, 0x6f, 0x6e, 0x65, 0x6f, 0x66, 0x66, 0x00, 0x1f, 0x09, 0x70, 0x72,
  0x6f, 0x63, 0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x20, 0x0b, 0x73, 0x63,
  0x68, 0x65, 0x64, 0x5f, 0x79, 0x69, 0x65, 0x6c, 0x64, 0x00, 0x21, 0x09,
  0x70, 0x61, 0x74, 0x68, 0x5f, 0x6f, 0x70, 0x65, 0x6e, 0x00, 0x22, 0x0a,
  0x75, 0x5f, 0x66, 0x64, 0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00, 0x23,
  0x0a, 0xc0, 0x01, 0x12, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x00,
  0x0b, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x01, 0x0b, 0x08, 0x00,
  0x20, 0x00, 0x20, 0x01, 0x10, 0x02, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x20,
  0x01, 0x10, 0x03, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x42, 0x01, 0x20, 0x01,
  0x10, 0x04, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x05, 0x0b,
  0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x06, 0x0b, 0x0c, 0x00, 0x20,
  0x00, 0x20, 0x01, 0x20, 0x02, 0x20, 0x03, 0x10, 0x07, 0x0b, 0x0c, 0x00,
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0x20, 0x03, 0x10, 0x08, 0x0b, 0x06,
  0x00, 0x20, 0x00, 0x10, 0x09, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01,
  0x20, 0x02, 0x20, 0x03, 0x10, 0x0a, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x20,
  0x01, 0x10, 0x0b, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x0c,
  0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0x20, 0x03, 0x10,
  0x0d, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x10, 0x0e, 0x00, 0x0b, 0x04, 0x00,
  0x10, 0x0f, 0x0b, 0x16, 0x00, 0x41, 0x03, 0x41, 0x00, 0x41, 0x00, 0x41,
  0x00, 0x41, 0x00, 0x42, 0x00, 0x42, 0x00, 0x41, 0x00, 0x41, 0x00, 0x10,
  0x10, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0x20, 0x03,
  0x10, 0x11, 0x0b
};

typedef struct fixture {
    wa_module_t *mod;
    wa_linker_t *linker;
    wa_wasi_t *wasi;
    wa_instance_t *inst;
    uint8_t *mem;
    uint64_t mem_bytes;
} fixture_t;

static void setup(fixture_t *f, const wa_wasi_config_t *cfg)
{
    wa_error_t err;
    memset(f, 0, sizeof(*f));
    memset(&err, 0, sizeof(err));
    T_EQ_INT(wa_module_load(probe_wasm, sizeof(probe_wasm), &f->mod, &err), WA_OK);
    f->linker = wa_linker_new();
    T_ASSERT(f->linker != NULL);
    T_EQ_INT(wa_wasi_new(cfg, &f->wasi), WA_OK);
    T_EQ_INT(wa_wasi_define(f->wasi, f->linker), WA_OK);
    wa_status_t s = wa_instance_new(f->mod, f->linker, NULL, &f->inst, &err);
    if (s != WA_OK)
        t_fail(__FILE__, __LINE__, "instantiation: %s: %s", wa_status_str(s), err.message);
    f->mem = wa_memory_data(wa_instance_memory(f->inst), &f->mem_bytes);
    T_ASSERT(f->mem != NULL);
    T_EQ_UINT(f->mem_bytes, 65536);
}

static void teardown(fixture_t *f)
{
    wa_instance_free(f->inst);
    wa_linker_free(f->linker);
    wa_wasi_free(f->wasi);
    wa_module_unref(f->mod);
}

/* Calls export `name` with i32 arguments (an i64 where the export takes one) and returns its
 * i32 result (the WASI errno). */
static int32_t call(fixture_t *f, const char *name, int n, ...)
{
    wa_func_t *fn = wa_instance_func(f->inst, name);
    T_ASSERT(fn != NULL);
    wa_functype_t ft;
    wa_func_type(fn, &ft);
    T_EQ_INT(ft.nparams, n);
    wa_value_t args[16], res[1];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        if (ft.params[i] == WA_I64)
            args[i].i64 = va_arg(ap, int64_t);
        else
            args[i].i32 = va_arg(ap, int32_t);
    }
    va_end(ap);
    wa_trap_t trap;
    memset(&trap, 0, sizeof(trap));
    wa_status_t s = wa_call(fn, args, (uint32_t)n, res, ft.nresults, NULL, &trap);
    if (s != WA_OK)
        t_fail(__FILE__, __LINE__, "%s: %s (%s)", name, wa_status_str(s), trap.message);
    return ft.nresults ? res[0].i32 : 0;
}

static uint32_t rd32(const fixture_t *f, uint32_t at)
{
    uint32_t v;
    memcpy(&v, f->mem + at, 4);
    return v;
}

static uint64_t rd64(const fixture_t *f, uint32_t at)
{
    uint64_t v;
    memcpy(&v, f->mem + at, 8);
    return v;
}

static void wr32(fixture_t *f, uint32_t at, uint32_t v)
{
    memcpy(f->mem + at, &v, 4);
}

static void wr64(fixture_t *f, uint32_t at, uint64_t v)
{
    memcpy(f->mem + at, &v, 8);
}

static wa_wasi_config_t stdio_config(int in, int out, int err)
{
    wa_wasi_config_t c;
    memset(&c, 0, sizeof(c));
    c.stdin_fd = in;
    c.stdout_fd = out;
    c.stderr_fd = err;
    return c;
}

TEST(args_are_counted_and_copied_with_pointers_into_the_buffer)
{
    const char *argv[] = {"prog", "", "two words"};
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    c.argc = 3;
    c.argv = argv;
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "args_sizes_get", 2, 0, 4), 0);
    T_EQ_UINT(rd32(&f, 0), 3);
    T_EQ_UINT(rd32(&f, 4), 5 + 1 + 10);
    T_EQ_INT(call(&f, "args_get", 2, 100, 200), 0);
    T_EQ_UINT(rd32(&f, 100), 200);
    T_EQ_UINT(rd32(&f, 104), 205);
    T_EQ_UINT(rd32(&f, 108), 206);
    T_EQ_MEM(f.mem + 200, 16, "prog\0\0two words\0", 16);
    teardown(&f);
}

TEST(environ_is_counted_and_copied)
{
    const char *env[] = {"A=1", "PATH=/x"};
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    c.envc = 2;
    c.env = env;
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "environ_sizes_get", 2, 0, 4), 0);
    T_EQ_UINT(rd32(&f, 0), 2);
    T_EQ_UINT(rd32(&f, 4), 12);
    T_EQ_INT(call(&f, "environ_get", 2, 64, 128), 0);
    T_EQ_UINT(rd32(&f, 64), 128);
    T_EQ_UINT(rd32(&f, 68), 132);
    T_EQ_MEM(f.mem + 128, 12, "A=1\0PATH=/x\0", 12);
    teardown(&f);
}

TEST(pointers_outside_memory_return_efault_and_write_nothing)
{
    const char *argv[] = {"prog"};
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    c.argc = 1;
    c.argv = argv;
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "args_sizes_get", 2, 65534, 0), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "args_get", 2, 0, 65533), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "args_get", 2, -4, 0), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "random_get", 2, 65000, 1000), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "clock_time_get", 2, 1, 65530), WA_WASI_EFAULT);
    teardown(&f);
}

TEST(fd_write_gathers_iovecs_to_the_host_fd)
{
    int p[2];
    T_EQ_INT(pipe(p), 0);
    wa_wasi_config_t c = stdio_config(-1, p[1], -1);
    fixture_t f;
    setup(&f, &c);
    memcpy(f.mem + 1000, "hello, ", 7);
    memcpy(f.mem + 2000, "world\n", 6);
    wr32(&f, 16, 1000);
    wr32(&f, 20, 7);
    wr32(&f, 24, 2000);
    wr32(&f, 28, 6);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 13);
    char buf[32];
    T_EQ_INT(read(p[0], buf, sizeof(buf)), 13);
    T_EQ_MEM(buf, 13, "hello, world\n", 13);
    /* The older module name reaches the same fd. */
    T_EQ_INT(call(&f, "u_fd_write", 4, 1, 16, 1, 8), 0);
    T_EQ_INT(read(p[0], buf, sizeof(buf)), 7);
    teardown(&f);
    close(p[0]);
    close(p[1]);
}

TEST(fd_write_with_a_bad_iovec_buffer_returns_efault_and_writes_nothing)
{
    int p[2];
    T_EQ_INT(pipe(p), 0);
    T_EQ_INT(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    wa_wasi_config_t c = stdio_config(-1, p[1], -1);
    fixture_t f;
    setup(&f, &c);
    wr32(&f, 16, 1000);
    wr32(&f, 20, 4);
    wr32(&f, 24, 65530);
    wr32(&f, 28, 100);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 8), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 65532, 1, 8), WA_WASI_EFAULT);
    char buf[8];
    T_EQ_INT(read(p[0], buf, sizeof(buf)), -1);
    teardown(&f);
    close(p[0]);
    close(p[1]);
}

typedef struct sink {
    char buf[64];
    size_t len;
    int fd;
} sink_t;

static long sink_write(void *user, int fd, const uint8_t *buf, size_t len)
{
    sink_t *s = user;
    s->fd = fd;
    if (len > sizeof(s->buf) - s->len)
        len = sizeof(s->buf) - s->len;
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    return (long)len;
}

TEST(write_callback_receives_stderr_and_the_sink_cannot_seek)
{
    sink_t sink = {.len = 0};
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    c.write_cb = sink_write;
    c.write_user = &sink;
    fixture_t f;
    setup(&f, &c);
    memcpy(f.mem + 1000, "log line", 8);
    wr32(&f, 16, 1000);
    wr32(&f, 20, 8);
    T_EQ_INT(call(&f, "fd_write", 4, 2, 16, 1, 8), 0);
    T_EQ_MEM(sink.buf, sink.len, "log line", 8);
    T_EQ_INT(sink.fd, 2);
    T_EQ_INT(call(&f, "fd_seek", 4, 1, (int64_t)0, 1, 8), WA_WASI_ESPIPE);
    T_EQ_INT(call(&f, "fd_fdstat_get", 2, 1, 64), 0);
    T_EQ_INT(f.mem[64], 2); /* character device: libc line-buffers it like a terminal */
    teardown(&f);
}

TEST(fd_read_fills_iovecs_and_stops_at_a_short_read)
{
    int p[2];
    T_EQ_INT(pipe(p), 0);
    T_EQ_INT(write(p[1], "abcdef", 6), 6);
    wa_wasi_config_t c = stdio_config(p[0], -1, -1);
    fixture_t f;
    setup(&f, &c);
    wr32(&f, 16, 1000);
    wr32(&f, 20, 4);
    wr32(&f, 24, 2000);
    wr32(&f, 28, 100);
    T_EQ_INT(call(&f, "fd_read", 4, 0, 16, 2, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 6);
    T_EQ_MEM(f.mem + 1000, 4, "abcd", 4);
    T_EQ_MEM(f.mem + 2000, 2, "ef", 2);
    close(p[1]);
    T_EQ_INT(call(&f, "fd_read", 4, 0, 16, 2, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 0); /* end of file */
    teardown(&f);
    close(p[0]);
}

TEST(closed_and_unknown_fds_are_ebadf)
{
    int p[2];
    T_EQ_INT(pipe(p), 0);
    wa_wasi_config_t c = stdio_config(-1, p[1], -1);
    fixture_t f;
    setup(&f, &c);
    wr32(&f, 16, 1000);
    wr32(&f, 20, 1);
    T_EQ_INT(call(&f, "fd_write", 4, 0, 16, 1, 8), WA_WASI_EBADF); /* stdin not given */
    T_EQ_INT(call(&f, "fd_write", 4, 7, 16, 1, 8), WA_WASI_EBADF);
    T_EQ_INT(call(&f, "fd_close", 1, 1), 0);
    T_EQ_INT(call(&f, "fd_close", 1, 1), WA_WASI_EBADF);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 1, 8), WA_WASI_EBADF);
    /* The host fd is borrowed: closing the guest's view leaves it open. */
    T_EQ_INT(write(p[1], "x", 1), 1);
    teardown(&f);
    close(p[0]);
    close(p[1]);
}

TEST(no_preopens_so_prestat_is_ebadf)
{
    wa_wasi_config_t c = stdio_config(0, 1, 2);
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "fd_prestat_get", 2, 3, 0), WA_WASI_EBADF);
    T_EQ_INT(call(&f, "fd_prestat_get", 2, 0, 0), WA_WASI_EBADF);
    teardown(&f);
}

TEST(fd_seek_moves_a_file_and_refuses_a_pipe)
{
    char path[] = "/tmp/wasi_test_XXXXXX";
    int fd = mkstemp(path);
    T_ASSERT(fd >= 0);
    unlink(path);
    T_EQ_INT(write(fd, "0123456789", 10), 10);
    int p[2];
    T_EQ_INT(pipe(p), 0);
    wa_wasi_config_t c = stdio_config(fd, p[1], -1);
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "fd_seek", 4, 0, (int64_t)3, 0, 8), 0); /* SET */
    T_EQ_UINT(rd64(&f, 8), 3);
    T_EQ_INT(call(&f, "fd_seek", 4, 0, (int64_t)2, 1, 8), 0); /* CUR */
    T_EQ_UINT(rd64(&f, 8), 5);
    T_EQ_INT(call(&f, "fd_seek", 4, 0, (int64_t)-1, 2, 8), 0); /* END */
    T_EQ_UINT(rd64(&f, 8), 9);
    T_EQ_INT(call(&f, "fd_seek", 4, 0, (int64_t)0, 9, 8), WA_WASI_EINVAL);
    T_EQ_INT(call(&f, "fd_seek", 4, 1, (int64_t)0, 1, 8), WA_WASI_ESPIPE);
    T_EQ_INT(call(&f, "fd_fdstat_get", 2, 0, 64), 0);
    T_EQ_INT(f.mem[64], 4); /* regular file */
    T_ASSERT(rd64(&f, 72) & (1u << 2)); /* may seek */
    T_EQ_INT(call(&f, "fd_fdstat_get", 2, 1, 64), 0);
    T_ASSERT(!(rd64(&f, 72) & (1u << 2)));
    T_ASSERT(rd64(&f, 72) & (1u << 6)); /* may write */
    teardown(&f);
    close(fd);
    close(p[0]);
    close(p[1]);
}

TEST(clocks_tick_and_unknown_clocks_are_einval)
{
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "clock_time_get", 2, 1, 8), 0);
    uint64_t a = rd64(&f, 8);
    usleep(2000);
    T_EQ_INT(call(&f, "clock_time_get", 2, 1, 8), 0);
    T_ASSERT(rd64(&f, 8) >= a + 2000000);
    T_EQ_INT(call(&f, "clock_time_get", 2, 0, 8), 0);
    T_ASSERT(rd64(&f, 8) > 1600000000ull * 1000000000ull); /* realtime is after 2020 */
    T_EQ_INT(call(&f, "clock_res_get", 2, 1, 16), 0);
    T_ASSERT(rd64(&f, 16) > 0);
    T_EQ_INT(call(&f, "clock_time_get", 2, 9, 8), WA_WASI_EINVAL);
    teardown(&f);
}

TEST(random_get_fills_the_buffer)
{
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "random_get", 2, 100, 64), 0);
    int nonzero = 0;
    for (int i = 0; i < 64; i++)
        nonzero += f.mem[100 + i] != 0;
    T_ASSERT(nonzero > 32); /* all but impossible to fail for 64 random bytes */
    T_EQ_INT(f.mem[164], 0);
    teardown(&f);
}

TEST(poll_oneoff_sleeps_for_a_relative_clock_and_reports_it)
{
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    fixture_t f;
    setup(&f, &c);
    memset(f.mem + 1000, 0, 96);
    wr64(&f, 1000, 0x1122334455667788ull); /* userdata */
    f.mem[1008] = 0;                         /* clock */
    wr32(&f, 1016, 1);                       /* monotonic */
    wr64(&f, 1024, 20000000);                /* 20 ms */
    wr64(&f, 1048, 7);                       /* second subscription: 10 s, must not fire */
    f.mem[1056] = 0;
    wr32(&f, 1064, 1);
    wr64(&f, 1072, 10000000000ull);
    uint64_t t0 = wa_now_ns();
    T_EQ_INT(call(&f, "poll_oneoff", 4, 1000, 2000, 2, 8), 0);
    uint64_t spent = wa_now_ns() - t0;
    T_ASSERT(spent >= 20000000 && spent < 2000000000ull);
    T_EQ_UINT(rd32(&f, 8), 1);
    T_EQ_UINT(rd64(&f, 2000), 0x1122334455667788ull);
    T_EQ_INT(f.mem[2008], 0); /* no error */
    T_EQ_INT(f.mem[2010], 0); /* clock event */
    T_EQ_INT(call(&f, "poll_oneoff", 4, 1000, 2000, 0, 8), WA_WASI_EINVAL);
    teardown(&f);
}

TEST(poll_oneoff_reports_a_readable_fd_at_once)
{
    int p[2];
    T_EQ_INT(pipe(p), 0);
    T_EQ_INT(write(p[1], "x", 1), 1);
    wa_wasi_config_t c = stdio_config(p[0], -1, -1);
    fixture_t f;
    setup(&f, &c);
    memset(f.mem + 1000, 0, 96);
    wr64(&f, 1000, 42);
    f.mem[1008] = 1; /* fd_read */
    wr32(&f, 1016, 0);
    wr64(&f, 1048, 43);
    f.mem[1056] = 0; /* a 10 s clock that must not delay the answer */
    wr32(&f, 1064, 1);
    wr64(&f, 1072, 10000000000ull);
    uint64_t t0 = wa_now_ns();
    T_EQ_INT(call(&f, "poll_oneoff", 4, 1000, 2000, 2, 8), 0);
    T_ASSERT(wa_now_ns() - t0 < 1000000000ull);
    T_EQ_UINT(rd32(&f, 8), 1);
    T_EQ_UINT(rd64(&f, 2000), 42);
    T_EQ_INT(f.mem[2010], 1);
    teardown(&f);
    close(p[0]);
    close(p[1]);
}

TEST(proc_exit_ends_the_call_with_its_code)
{
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    fixture_t f;
    setup(&f, &c);
    wa_func_t *fn = wa_instance_func(f.inst, "proc_exit");
    T_ASSERT(fn != NULL);
    wa_value_t arg = {.i32 = 7};
    wa_trap_t trap;
    memset(&trap, 0, sizeof(trap));
    T_EQ_INT(wa_call(fn, &arg, 1, NULL, 0, NULL, &trap), WA_ERR_TRAP);
    T_EQ_INT(trap.kind, WA_TRAP_EXIT);
    T_EQ_INT(trap.exit_code, 7);
    /* The instance stays usable. */
    T_EQ_INT(call(&f, "sched_yield", 0), 0);
    teardown(&f);
}

TEST(unimplemented_functions_link_and_return_enosys)
{
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "path_open", 0), WA_WASI_ENOSYS);
    teardown(&f);
}

TEST(config_strings_are_copied)
{
    char arg[] = "original";
    const char *argv[] = {arg};
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    c.argc = 1;
    c.argv = argv;
    fixture_t f;
    setup(&f, &c);
    strcpy(arg, "changed!");
    T_EQ_INT(call(&f, "args_get", 2, 0, 16), 0);
    T_EQ_STR((const char *)f.mem + 16, "original");
    teardown(&f);
    wa_wasi_t *w = NULL;
    T_EQ_INT(wa_wasi_new(NULL, &w), WA_ERR_ARG);
    T_ASSERT(w == NULL);
}

/* ---- sandbox ------------------------------------------------------------------------------ */

typedef struct lines {
    char text[8][128]; /* the records, NUL-terminated copies */
    size_t len[8];
    int fd[8];
    int n;
} lines_t;

static void line_sink(void *user, int fd, const uint8_t *line, size_t len)
{
    lines_t *l = user;
    if (l->n >= 8 || len >= sizeof(l->text[0]))
        t_fail(__FILE__, __LINE__, "record %d of %zu bytes: more than the test expects", l->n,
               len);
    memcpy(l->text[l->n], line, len);
    l->text[l->n][len] = 0;
    l->len[l->n] = len;
    l->fd[l->n++] = fd;
}

static wa_wasi_config_t sandbox_config(lines_t *l, size_t line_max)
{
    wa_wasi_config_t c = stdio_config(-1, -1, -1);
    c.sandbox = true;
    c.line_cb = line_sink;
    c.line_user = l;
    c.line_max = line_max;
    return c;
}

/* iovecs at 16: (1000, 7) "hello, " and (2000, 6) "world\n". */
static void two_buffers(fixture_t *f)
{
    memcpy(f->mem + 1000, "hello, ", 7);
    memcpy(f->mem + 2000, "world\n", 6);
    wr32(f, 16, 1000);
    wr32(f, 20, 7);
    wr32(f, 24, 2000);
    wr32(f, 28, 6);
}

TEST(sandbox_write_is_one_record_per_call_without_its_trailing_newline)
{
    lines_t l = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&l, 0);
    fixture_t f;
    setup(&f, &c);
    two_buffers(&f);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 13);
    T_EQ_INT(l.n, 1);
    T_EQ_STR(l.text[0], "hello, world");
    T_EQ_INT(l.fd[0], 1);
    /* One buffer, two newlines: only the last goes; stderr keeps its fd. */
    memcpy(f.mem + 3000, "oops\n\n", 6);
    wr32(&f, 32, 3000);
    wr32(&f, 36, 6);
    T_EQ_INT(call(&f, "fd_write", 4, 2, 32, 1, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 6);
    T_EQ_INT(l.n, 2);
    T_EQ_STR(l.text[1], "oops\n");
    T_EQ_INT(l.fd[1], 2);
    /* An empty write is an empty record; a zero-length buffer may point anywhere. */
    wr32(&f, 40, 0xfffffff0u);
    wr32(&f, 44, 0);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 40, 1, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 0);
    T_EQ_INT(l.n, 3);
    T_EQ_UINT(l.len[2], 0);
    /* wasi_unstable reaches the same sink. */
    T_EQ_INT(call(&f, "u_fd_write", 4, 1, 16, 1, 8), 0);
    T_EQ_STR(l.text[3], "hello, ");
    /* Only fds 1 and 2 exist. */
    T_EQ_INT(call(&f, "fd_write", 4, 0, 16, 1, 8), WA_WASI_EBADF);
    T_EQ_INT(call(&f, "fd_write", 4, 3, 16, 1, 8), WA_WASI_EBADF);
    T_EQ_INT(l.n, 4);
    teardown(&f);
}

TEST(sandbox_record_is_cut_at_line_max_and_every_byte_is_reported_written)
{
    lines_t l = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&l, 8);
    fixture_t f;
    setup(&f, &c);
    two_buffers(&f); /* 13 bytes in two buffers: gathered, cut to 8 */
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 13);
    T_EQ_STR(l.text[0], "hello, w");
    memcpy(f.mem + 3000, "0123456\nXYZ", 11); /* one buffer, cut right after a newline */
    wr32(&f, 32, 3000);
    wr32(&f, 36, 11);
    T_EQ_INT(call(&f, "fd_write", 4, 2, 32, 1, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 11);
    T_EQ_STR(l.text[1], "0123456");
    teardown(&f);
}

static void length_sink(void *user, int fd, const uint8_t *line, size_t len)
{
    (void)fd;
    size_t *got = user;
    *got = len;
    T_EQ_INT(line[len - 1], 'x'); /* gathered in order: the second buffer's end is cut */
}

TEST(sandbox_keeps_64_kib_by_default_and_may_drop_lines)
{
    size_t got = 0;
    lines_t unused = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&unused, 0);
    c.line_cb = length_sink;
    c.line_user = &got;
    fixture_t f;
    setup(&f, &c);
    memset(f.mem + 100, 'x', 65436);
    wr32(&f, 16, 100); /* 65436 + 200 bytes: 65636 written, 65536 kept */
    wr32(&f, 20, 65436);
    wr32(&f, 24, 100);
    wr32(&f, 28, 200);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 65636);
    T_EQ_UINT(got, 65536);
    teardown(&f);
    /* Without a sink the lines go nowhere and writes still succeed. */
    c.line_cb = NULL;
    setup(&f, &c);
    two_buffers(&f);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 8), 0);
    T_EQ_UINT(rd32(&f, 8), 13);
    teardown(&f);
}

TEST(sandbox_leaves_host_fds_alone_and_stdin_answers_at_once)
{
    int in[2], out[2];
    T_EQ_INT(pipe(in), 0);
    T_EQ_INT(pipe(out), 0);
    T_EQ_INT(fcntl(out[0], F_SETFL, O_NONBLOCK), 0);
    T_EQ_INT(write(in[1], "abc", 3), 3);
    lines_t l = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&l, 0);
    c.stdin_fd = in[0]; /* ignored by a sandbox */
    c.stdout_fd = out[1];
    c.stderr_fd = out[1];
    fixture_t f;
    setup(&f, &c);
    wr32(&f, 16, 1000);
    wr32(&f, 20, 16);
    uint64_t t0 = wa_now_ns();
    T_EQ_INT(call(&f, "fd_read", 4, 0, 16, 1, 8), WA_WASI_ENOSYS);
    T_ASSERT(wa_now_ns() - t0 < 1000000000ull);
    char buf[8];
    T_EQ_INT(read(in[0], buf, sizeof(buf)), 3); /* still there: the guest read nothing */
    memcpy(f.mem + 1000, "to the log", 10);
    wr32(&f, 20, 10);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 1, 8), 0);
    T_EQ_STR(l.text[0], "to the log");
    T_EQ_INT(read(out[0], buf, sizeof(buf)), -1); /* nothing reached the host fd */
    /* Closing a sink has no effect: it stays writable. */
    T_EQ_INT(call(&f, "fd_close", 1, 1), 0);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 1, 8), 0);
    T_EQ_INT(l.n, 2);
    teardown(&f);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
}

TEST(sandbox_has_no_files_and_never_blocks)
{
    lines_t l = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&l, 0);
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "path_open", 0), WA_WASI_ENOENT);
    T_EQ_INT(call(&f, "fd_prestat_get", 2, 3, 0), WA_WASI_EBADF);
    T_EQ_INT(call(&f, "fd_seek", 4, 1, (int64_t)0, 1, 8), WA_WASI_ESPIPE);
    T_EQ_INT(call(&f, "fd_seek", 4, 0, (int64_t)0, 0, 8), WA_WASI_ESPIPE);
    T_EQ_INT(call(&f, "fd_seek", 4, 5, (int64_t)0, 0, 8), WA_WASI_EBADF);
    memset(f.mem + 64, 0xee, 24);
    T_EQ_INT(call(&f, "fd_fdstat_get", 2, 2, 64), 0);
    T_EQ_INT(f.mem[64], 0);        /* filetype unknown */
    T_EQ_UINT(rd64(&f, 72), 64);   /* rights: fd_write only */
    T_EQ_UINT(rd64(&f, 80), 0);
    T_EQ_INT(call(&f, "fd_fdstat_get", 2, 0, 64), WA_WASI_EBADF);
    T_EQ_INT(call(&f, "sched_yield", 0), 0);
    /* A 10 s clock subscription: no event, at once. */
    memset(f.mem + 1000, 0, 48);
    f.mem[1008] = 0;
    wr32(&f, 1016, 1);
    wr64(&f, 1024, 10000000000ull);
    wr32(&f, 8, 99);
    uint64_t t0 = wa_now_ns();
    T_EQ_INT(call(&f, "poll_oneoff", 4, 1000, 2000, 1, 8), 0);
    T_ASSERT(wa_now_ns() - t0 < 1000000000ull);
    T_EQ_UINT(rd32(&f, 8), 0);
    teardown(&f);
}

TEST(sandbox_environment_is_the_callers_and_clocks_are_wall_and_monotonic)
{
    const char *env[] = {"MODE=prod"};
    lines_t l = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&l, 0);
    c.envc = 1;
    c.env = env;
    fixture_t f;
    setup(&f, &c);
    T_EQ_INT(call(&f, "environ_sizes_get", 2, 0, 4), 0);
    T_EQ_UINT(rd32(&f, 0), 1);
    T_EQ_UINT(rd32(&f, 4), 10);
    T_EQ_INT(call(&f, "environ_get", 2, 64, 128), 0);
    T_EQ_UINT(rd32(&f, 64), 128);
    T_EQ_STR((const char *)f.mem + 128, "MODE=prod");
    T_EQ_INT(call(&f, "args_sizes_get", 2, 0, 4), 0);
    T_EQ_UINT(rd32(&f, 0), 0);
    T_EQ_UINT(rd32(&f, 4), 0);
    T_EQ_INT(call(&f, "args_get", 2, 0, 16), 0);
    T_EQ_INT(call(&f, "clock_time_get", 2, 1, 8), 0);
    T_ASSERT(rd64(&f, 8) > 0);
    T_EQ_INT(call(&f, "clock_time_get", 2, 0, 8), 0);
    T_ASSERT(rd64(&f, 8) > 1600000000ull * 1000000000ull);
    T_EQ_INT(call(&f, "clock_time_get", 2, 2, 8), WA_WASI_ENOTSUP); /* process CPU time */
    T_EQ_INT(call(&f, "clock_res_get", 2, 3, 16), WA_WASI_ENOTSUP);
    T_EQ_INT(call(&f, "clock_res_get", 2, 1, 16), 0);
    T_ASSERT(rd64(&f, 16) > 0);
    T_EQ_INT(call(&f, "random_get", 2, 100, 64), 0);
    T_EQ_INT(call(&f, "random_get", 2, 0, 65537), WA_WASI_EINVAL);
    T_EQ_INT(call(&f, "random_get", 2, 0, 65536), 0);
    T_EQ_INT(call(&f, "random_get", 2, 70000, 0), 0);
    teardown(&f);
}

TEST(sandbox_bad_pointers_are_efault_and_reach_no_sink)
{
    lines_t l = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&l, 0);
    fixture_t f;
    setup(&f, &c);
    two_buffers(&f);
    T_EQ_INT(call(&f, "fd_write", 4, 1, 65532, 1, 8), WA_WASI_EFAULT);      /* iovec array */
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 0x20000000, 8), WA_WASI_EFAULT); /* its length */
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 65534), WA_WASI_EFAULT);     /* nwritten */
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, -4), WA_WASI_EFAULT);
    wr32(&f, 24, 65533); /* second buffer runs off the end */
    T_EQ_INT(call(&f, "fd_write", 4, 1, 16, 2, 8), WA_WASI_EFAULT);
    wr32(&f, 24, 2000);
    wr32(&f, 28, 0x80000000u);
    T_EQ_INT(call(&f, "fd_write", 4, 2, 16, 2, 8), WA_WASI_EFAULT);
    T_EQ_INT(l.n, 0);
    T_EQ_INT(call(&f, "poll_oneoff", 4, 1000, 2000, 1, 65533), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "fd_fdstat_get", 2, 1, 65520), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "environ_sizes_get", 2, 65534, 0), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "clock_time_get", 2, 0, 65530), WA_WASI_EFAULT);
    T_EQ_INT(call(&f, "random_get", 2, 65000, 1000), WA_WASI_EFAULT);
    teardown(&f);
}

TEST(lookup_gives_each_function_type_and_the_contexts_implementation)
{
    wa_wasi_func_t fw, fu;
    T_ASSERT(wa_wasi_lookup(NULL, "wasi_snapshot_preview1", "fd_write", &fw));
    T_EQ_UINT(fw.type.nparams, 4);
    T_EQ_UINT(fw.type.nresults, 1);
    T_EQ_INT(fw.type.results[0], WA_I32);
    T_ASSERT(fw.fn == NULL);
    T_ASSERT(wa_wasi_lookup(NULL, "wasi_unstable", "path_open", &fw));
    T_EQ_UINT(fw.type.nparams, 9);
    T_EQ_INT(fw.type.params[5], WA_I64);
    T_EQ_INT(fw.type.params[7], WA_I32);
    T_ASSERT(wa_wasi_lookup(NULL, "wasi_unstable", "proc_exit", &fw));
    T_EQ_UINT(fw.type.nresults, 0);
    T_ASSERT(!wa_wasi_lookup(NULL, "env", "fd_write", &fw));
    T_ASSERT(!wa_wasi_lookup(NULL, "wasi_snapshot_preview1", "no_such_call", &fw));
    T_ASSERT(wa_wasi_lookup(NULL, "wasi_snapshot_preview1", "sched_yield", NULL));
    /* Each context's own functions: wasi_unstable numbers whence differently, a sandbox
     * answers fd_seek alike under both names. */
    wa_wasi_config_t hc = stdio_config(0, 1, 2);
    lines_t l = {.n = 0};
    wa_wasi_config_t sc = sandbox_config(&l, 0);
    wa_wasi_t *host = NULL, *sandbox = NULL;
    T_EQ_INT(wa_wasi_new(&hc, &host), WA_OK);
    T_EQ_INT(wa_wasi_new(&sc, &sandbox), WA_OK);
    T_ASSERT(wa_wasi_lookup(host, "wasi_snapshot_preview1", "fd_seek", &fw));
    T_ASSERT(wa_wasi_lookup(host, "wasi_unstable", "fd_seek", &fu));
    T_ASSERT(fw.fn != NULL && fu.fn != NULL && fw.fn != fu.fn);
    wa_wasi_func_t sw, su;
    T_ASSERT(wa_wasi_lookup(sandbox, "wasi_snapshot_preview1", "fd_seek", &sw));
    T_ASSERT(wa_wasi_lookup(sandbox, "wasi_unstable", "fd_seek", &su));
    T_ASSERT(sw.fn == su.fn && sw.fn != fw.fn);
    wa_wasi_free(host);
    wa_wasi_free(sandbox);
}

/* A module linked through wa_wasi_lookup alone (as an embedder wrapping each import does)
 * behaves as one linked by wa_wasi_define. */
TEST(lookup_links_a_module_like_define)
{
    wa_error_t err;
    memset(&err, 0, sizeof(err));
    wa_module_t *m = NULL;
    T_EQ_INT(wa_module_load(probe_wasm, sizeof(probe_wasm), &m, &err), WA_OK);
    lines_t l = {.n = 0};
    wa_wasi_config_t c = sandbox_config(&l, 0);
    wa_wasi_t *w = NULL;
    T_EQ_INT(wa_wasi_new(&c, &w), WA_OK);
    wa_linker_t *lk = wa_linker_new();
    for (size_t i = 0; i < wa_module_import_count(m); i++) {
        const char *mod, *name;
        wa_externtype_t t;
        wa_wasi_func_t fn;
        T_EQ_INT(wa_module_import(m, i, &mod, &name, &t), WA_OK);
        T_ASSERT(wa_wasi_lookup(w, mod, name, &fn));
        T_EQ_INT(wa_linker_define_func(lk, mod, name, &fn.type, fn.fn, w), WA_OK);
    }
    fixture_t f;
    memset(&f, 0, sizeof(f));
    f.mod = m;
    f.linker = lk;
    f.wasi = w;
    T_EQ_INT(wa_instance_new(m, lk, NULL, &f.inst, &err), WA_OK);
    f.mem = wa_memory_data(wa_instance_memory(f.inst), &f.mem_bytes);
    two_buffers(&f);
    T_EQ_INT(call(&f, "fd_write", 4, 2, 16, 2, 8), 0);
    T_EQ_STR(l.text[0], "hello, world");
    T_EQ_INT(l.fd[0], 2);
    teardown(&f);
}
