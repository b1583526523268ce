/* sluice's side of the engine benchmark: loads a kernel module through the public API
 * (include/sluice/wasm.h), calls its `run` export, and times module load and instantiation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "sluice/wasm.h"

/* The whole file in one heap buffer; *out is owned by the caller (free). */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench-sluice: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *grown = realloc(buf, cap);
            if (!grown)
                goto fail;
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
fail:
    fprintf(stderr, "bench-sluice: %s: read failed\n", path);
    free(buf);
    fclose(f);
    return -1;
}

static void print_error(const char *what, const char *path, const wa_error_t *err)
{
    fprintf(stderr, "bench-sluice: %s %s: %s at offset %zu (func %u): %s\n", what, path,
            wa_status_str(err->status), err->offset, err->func_index, err->message);
}

/* Loads and instantiates path with no imports; on success the caller frees both. */
static int open_module(const char *path, wa_module_t **mod, wa_instance_t **inst,
                       double *load_ms)
{
    uint8_t *bytes;
    size_t len;
    wa_error_t err = {0};
    if (read_file(path, &bytes, &len) != 0)
        return -1;
    double t0 = bt_now_ms();
    wa_status_t st = wa_module_load(bytes, len, mod, &err);
    *load_ms = bt_now_ms() - t0;
    free(bytes);
    if (st != WA_OK) {
        print_error("loading", path, &err);
        return -1;
    }
    wa_linker_t *linker = wa_linker_new();
    wa_instance_limits_t lim = {0};
    st = linker ? wa_instance_new(*mod, linker, &lim, inst, &err) : WA_ERR_NOMEM;
    wa_linker_free(linker);
    if (st != WA_OK) {
        if (!linker)
            err.status = st;
        print_error("instantiating", path, &err);
        wa_module_unref(*mod);
        return -1;
    }
    return 0;
}

/* Calls run(n) once; returns 0 and the checksum, or -1 after printing the trap. */
static int call_run(wa_func_t *run, uint32_t n, uint32_t *sum)
{
    wa_value_t arg = {.i32 = (int32_t)n}, res = {0};
    wa_call_limits_t lim = {0};
    wa_trap_t trap = {0};
    wa_status_t st = wa_call(run, &arg, 1, &res, 1, &lim, &trap);
    if (st != WA_OK) {
        fprintf(stderr, "bench-sluice: run(%u): %s", n, wa_status_str(st));
        if (st == WA_ERR_TRAP)
            fprintf(stderr, ": %s in func %u at offset %u: %s", wa_trap_kind_str(trap.kind),
                    trap.func_index, trap.code_offset, trap.message);
        fprintf(stderr, "\n");
        return -1;
    }
    *sum = (uint32_t)res.i32;
    return 0;
}

static int cmd_run(const char *path, uint32_t n, uint32_t reps)
{
    wa_module_t *mod;
    wa_instance_t *inst;
    double load_ms, ms[BT_MAX_REPS], cpu_ms[BT_MAX_REPS];
    if (open_module(path, &mod, &inst, &load_ms) != 0)
        return 1;
    int rc = 1;
    uint32_t first = 0, sum;
    wa_func_t *run = wa_instance_func(inst, "run");
    if (!run) {
        fprintf(stderr, "bench-sluice: %s exports no function 'run'\n", path);
        goto out;
    }
    for (uint32_t r = 0; r < reps; r++) {
        double t0 = bt_now_ms(), c0 = bt_cpu_ms();
        if (call_run(run, n, &sum) != 0)
            goto out;
        ms[r] = bt_now_ms() - t0;
        cpu_ms[r] = bt_cpu_ms() - c0;
        if (r == 0)
            first = sum;
        else if (sum != first) {
            fprintf(stderr, "bench-sluice: %s gave %u then %u for the same n\n", path, first, sum);
            goto out;
        }
    }
    bt_report(first, ms, cpu_ms, (int)reps);
    rc = 0;
out:
    wa_instance_free(inst);
    wa_module_unref(mod);
    return rc;
}

/* Module load (decode + validate + compile), instantiation and the translation of every
 * function into native code (otherwise made on each function's first call), each timed reps
 * times. */
static int cmd_load(const char *path, uint32_t reps)
{
    uint8_t *bytes;
    size_t len;
    if (read_file(path, &bytes, &len) != 0)
        return 1;
    double load_ms[BT_MAX_REPS], load_cpu_ms[BT_MAX_REPS], inst_ms[BT_MAX_REPS];
    double tr_ms[BT_MAX_REPS], tr_cpu_ms[BT_MAX_REPS];
    int rc = 1;
    wa_linker_t *linker = wa_linker_new();
    if (!linker)
        goto out;
    for (uint32_t r = 0; r < reps; r++) {
        wa_module_t *mod;
        wa_instance_t *inst;
        wa_error_t err = {0};
        wa_instance_limits_t lim = {0};
        double t0 = bt_now_ms(), c0 = bt_cpu_ms();
        if (wa_module_load(bytes, len, &mod, &err) != WA_OK) {
            print_error("loading", path, &err);
            goto out;
        }
        double t1 = bt_now_ms(), c1 = bt_cpu_ms();
        wa_status_t st = wa_instance_new(mod, linker, &lim, &inst, &err);
        double t2 = bt_now_ms();
        if (st != WA_OK) {
            print_error("instantiating", path, &err);
            wa_module_unref(mod);
            goto out;
        }
        wa_instance_free(inst);
        double t3 = bt_now_ms(), c3 = bt_cpu_ms();
        wa_module_translate(mod);
        double t4 = bt_now_ms(), c4 = bt_cpu_ms();
        wa_module_unref(mod);
        load_ms[r] = t1 - t0;
        load_cpu_ms[r] = c1 - c0;
        inst_ms[r] = t2 - t1;
        tr_ms[r] = t4 - t3;
        tr_cpu_ms[r] = c4 - c3;
    }
    qsort(load_ms, reps, sizeof load_ms[0], bt_cmp);
    qsort(load_cpu_ms, reps, sizeof load_cpu_ms[0], bt_cmp);
    qsort(inst_ms, reps, sizeof inst_ms[0], bt_cmp);
    qsort(tr_ms, reps, sizeof tr_ms[0], bt_cmp);
    qsort(tr_cpu_ms, reps, sizeof tr_cpu_ms[0], bt_cmp);
    wa_module_t *mod;
    wa_error_t err = {0};
    wa_module_stats_t stats = {0};
    if (wa_module_load(bytes, len, &mod, &err) == WA_OK) { /* how much of it translates */
        wa_module_translate(mod);
        wa_module_stats(mod, &stats);
        wa_module_unref(mod);
    }
    printf("result bytes=%zu best_ms=%.3f median_ms=%.3f best_cpu_ms=%.3f "
           "instantiate_best_ms=%.3f translate_best_ms=%.3f translate_best_cpu_ms=%.3f "
           "native_funcs=%u funcs=%u native_bytes=%zu reps=%u\n",
           len, load_ms[0], load_ms[reps / 2], load_cpu_ms[0], inst_ms[0], tr_ms[0],
           tr_cpu_ms[0], stats.native_funcs, stats.funcs, stats.native_bytes, reps);
    rc = 0;
out:
    wa_linker_free(linker);
    free(bytes);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench-sluice run FILE.wasm N REPS   time run(N), print its checksum\n"
                    "       bench-sluice load FILE.wasm REPS    time load, instantiation and translation\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "run") == 0) {
        uint32_t n = bt_count(argv[3], UINT32_MAX), reps = bt_count(argv[4], BT_MAX_REPS);
        return n && reps ? cmd_run(argv[2], n, reps) : usage();
    }
    if (argc == 4 && strcmp(argv[1], "load") == 0) {
        uint32_t reps = bt_count(argv[3], BT_MAX_REPS);
        return reps ? cmd_load(argv[2], reps) : usage();
    }
    return usage();
}
