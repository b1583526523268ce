/* libFuzzer target for the engine: arbitrary bytes through load, native translation,
 * instantiation (every imported function linked to a stub that calls back into the module,
 * then traps) and calls of every exported function: fuel-limited, then again under a time
 * budget alone when that ended.
 * The corpus holds modules from the spec suite and, as generated-NNN.wasm, from
 * tests/diff/wasm_diff.py's generator (seeds 1 to 16, three exports): larger functions that
 * mix blocks, loops, calls, tables and memory, for mutations to start from. */
#include "sluice/wasm.h"

#include <stdlib.h>
#include <string.h>

/* Small limits keep each input fast and bounded: the target looks for crashes, not for work. */
static const wa_instance_limits_t fuzz_limits = {
    .max_memory_pages = 64, .max_table_elems = 4096, .max_call_depth = 200,
    .stack_bytes = 64 * 1024};
#define FUZZ_FUEL 20000
#define FUZZ_DEADLINE_NS (50u * 1000 * 1000)

/* The export a stub calls back into (the first one without parameters), as a Proxy-Wasm
 * host calls a plugin's allocator from inside a hostcall; nesting is kept shallow. */
static wa_func_t *reentry;
static int reentry_depth;

static wa_trap_kind_t trap_stub(wa_instance_t *caller, void *user, const wa_value_t *args,
                                wa_value_t *results)
{
    (void)user, (void)args, (void)results;
    if (reentry && reentry_depth < 3) {
        wa_value_t res[WA_MAX_FUNC_VALUES];
        wa_functype_t ft;
        wa_func_type(reentry, &ft);
        wa_trap_t trap;
        reentry_depth++;
        wa_status_t st = wa_call(reentry, NULL, 0, res, ft.nresults, NULL, &trap);
        reentry_depth--;
        if (st == WA_ERR_TRAP)
            return wa_trap_set(caller, trap.kind, trap.exit_code, "in re-entry: %s",
                               trap.message);
    }
    return wa_trap_set(caller, WA_TRAP_HOST, 0, "imported function called");
}

/* Links every function import to the stub; returns NULL for modules that import anything
 * else (tables, memories, globals need real objects the fuzzer does not provide). */
static wa_linker_t *stub_linker(const wa_module_t *m)
{
    wa_linker_t *l = wa_linker_new();
    if (!l)
        return NULL;
    for (size_t i = 0; i < wa_module_import_count(m); i++) {
        const char *mod, *name;
        wa_externtype_t t;
        if (wa_module_import(m, i, &mod, &name, &t) != WA_OK || t.kind != WA_EXTERN_FUNC) {
            wa_linker_free(l);
            return NULL;
        }
        /* A second import of the same name may clash; instantiation then reports it. */
        (void)wa_linker_define_func(l, mod, name, &t.u.func, trap_stub, NULL);
    }
    return l;
}

/* What wa_func_constant promised is what the call gave: it ended, with that value. */
static bool same_constant(wa_status_t st, const wa_functype_t *ft, const wa_value_t *res,
                          wa_value_t k)
{
    if (st != WA_OK)
        return false;
    if (ft->nresults == 0)
        return true;
    switch (ft->results[0]) {
    case WA_I32:
    case WA_F32:
        return res[0].f32_bits == k.f32_bits;
    default:
        return res[0].raw == k.raw;
    }
}

static void call_exports(wa_instance_t *inst, const wa_module_t *m)
{
    reentry = NULL;
    for (size_t i = 0; i < wa_module_export_count(m) && !reentry; i++) {
        const char *name;
        wa_externtype_t t;
        if (wa_module_export(m, i, &name, &t) == WA_OK && t.kind == WA_EXTERN_FUNC &&
            t.u.func.nparams == 0 && t.u.func.nresults <= WA_MAX_FUNC_VALUES)
            reentry = wa_instance_func(inst, name);
    }
    for (size_t i = 0; i < wa_module_export_count(m); i++) {
        const char *name;
        wa_externtype_t t;
        if (wa_module_export(m, i, &name, &t) != WA_OK || t.kind != WA_EXTERN_FUNC)
            continue;
        wa_func_t *f = wa_instance_func(inst, name);
        if (!f)
            continue;
        wa_functype_t ft;
        wa_func_type(f, &ft);
        if (ft.nparams > WA_MAX_FUNC_VALUES || ft.nresults > WA_MAX_FUNC_VALUES)
            continue;
        wa_value_t args[WA_MAX_FUNC_VALUES], results[WA_MAX_FUNC_VALUES];
        memset(args, 0, sizeof(args)); /* zero of every type, null for references */
        wa_call_limits_t lim = {.fuel = FUZZ_FUEL, .deadline_ns = wa_now_ns() + FUZZ_DEADLINE_NS};
        wa_trap_t trap;
        wa_status_t st = wa_call(f, args, ft.nparams, results, ft.nresults, &lim, &trap);
        wa_value_t k;
        if (wa_func_constant(f, &k) && !same_constant(st, &ft, results, k))
            __builtin_trap(); /* a host would have answered this call differently */
        /* A call that ended within its fuel ends again, state changes aside: once more with
         * only a time budget, the limits a Proxy-Wasm host gives (the engine's direct path). */
        if (st == WA_OK || (st == WA_ERR_TRAP && trap.kind != WA_TRAP_FUEL &&
                            trap.kind != WA_TRAP_DEADLINE)) {
            memset(args, 0, sizeof(args));
            wa_call_limits_t budget = {.budget_ns = FUZZ_DEADLINE_NS};
            (void)wa_call(f, args, ft.nparams, results, ft.nresults, &budget, &trap);
        }
    }
    reentry = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wa_module_t *m = NULL;
    wa_error_t err;
    if (wa_module_load(data, size, &m, &err) != WA_OK)
        return 0;
    /* Native code is made on a function's first call: for half the inputs every function is
     * translated first (the translator meets every body), for the rest the calls translate
     * what they reach (callers before their callees). */
    if (size & 1)
        wa_module_translate(m);
    wa_module_stats_t st;
    wa_module_stats(m, &st);
    wa_linker_t *l = stub_linker(m);
    if (l) {
        wa_instance_t *inst = NULL;
        if (wa_instance_new(m, l, &fuzz_limits, &inst, &err) == WA_OK) {
            call_exports(inst, m);
            wa_instance_free(inst);
        }
        wa_linker_free(l);
    }
    wa_module_unref(m);
    return 0;
}
