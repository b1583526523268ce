/* The native tier against the interpreter: the same results, traps, limits and locations
 * either way, host functions called from native code, and the switch that turns it off. */
#include "../../t.h"
#include "sluice/wasm.h"
#include "wasm/wa_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* wat2wasm of:
 * (module
 *   (import "env" "grow" (func $grow (param i32) (result i32)))
 *   (import "env" "fail" (func $fail (param i32)))
 *   (import "env" "repeat" (func $repeat (param i32) (result i32)))
 *   (memory (export "mem") 1)
 *   (global $g (mut i64) (i64.const 5))
 *   ;; integer ops, comparisons and shifts by counts past the width
 *   (func (export "mix") (param $a i32) (param $b i32) (result i64)
 *     (local $x i64)
 *     (local.set $x (i64.extend_i32_s (local.get $a)))
 *     (local.set $x (i64.add (local.get $x) (i64.shl (i64.extend_i32_u (local.get $b)) (i64.const
 * 67)))) (local.set $x (i64.xor (local.get $x) (i64.rotl (local.get $x) (i64.extend_i32_u
 * (local.get $a))))) (local.set $x (i64.add (local.get $x) (i64.extend_i32_u (i32.rotr (local.get
 * $a) (local.get $b))))) (local.set $x (i64.sub (local.get $x) (i64.extend_i32_s (i32.shr_s
 * (local.get $a) (i32.const 33))))) (local.set $x (i64.mul (local.get $x) (i64.extend_i32_u
 * (i32.lt_s (local.get $a) (local.get $b))))) (local.set $x (i64.add (local.get $x)
 * (i64.extend_i32_u (i32.ge_u (local.get $a) (local.get $b))))) (global.set $g (i64.add (global.get
 * $g) (local.get $x))) (i64.add (local.get $x) (global.get $g)))
 *   ;; every load width and sign, at an address near the end of memory
 *   (func (export "loads") (param $p i32) (result i64)
 *     (i64.store (local.get $p) (i64.const 0x8182838485868788))
 *     (i64.add
 *       (i64.add (i64.load8_s (local.get $p)) (i64.load16_u offset=2 (local.get $p)))
 *       (i64.add (i64.extend_i32_s (i32.load16_s offset=4 (local.get $p)))
 *                (i64.load32_s (local.get $p)))))
 *   ;; br_table, select and a loop with a value carried by br
 *   (func (export "flow") (param $n i32) (result i32)
 *     (local $s i32)
 *     (block $done
 *       (loop $l
 *         (local.set $s (i32.add (local.get $s)
 *           (block $c (result i32)
 *             (block $b2 (block $b1 (block $b0
 *               (br_table $b0 $b1 $b2 (i32.rem_u (local.get $n) (i32.const 4))))
 *               (br $c (i32.const 7)))
 *               (br $c (select (i32.const 100) (i32.const 3) (i32.and (local.get $n) (i32.const
 * 8))))) (i32.const 1)))) (br_if $done (i32.eqz (local.get $n))) (local.set $n (i32.sub (local.get
 * $n) (i32.const 1))) (br $l))) (local.get $s))
 *   ;; recursion through native calls
 *   (func $fib (export "fib") (param $n i32) (result i32)
 *     (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
 *       (then (local.get $n))
 *       (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
 *                      (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
 *   ;; the host grows memory; the store right after lands in the new page
 *   (func (export "grow_then_store") (result i32)
 *     (local $old i32)
 *     (local.set $old (call $grow (i32.const 1)))
 *     (i32.store (i32.add (i32.mul (local.get $old) (i32.const 65536)) (i32.const 8)) (i32.const
 * 42)) (i32.load (i32.add (i32.mul (local.get $old) (i32.const 65536)) (i32.const 8))))
 *   ;; a host trap after some native work
 *   (func (export "host_trap") (param $n i32) (result i32)
 *     (local.set $n (i32.mul (local.get $n) (i32.const 3)))
 *     (call $fail (local.get $n))
 *     (local.get $n))
 *   ;; a host function calling "leaf" n times, each of which calls the host again
 *   (func (export "repeat_leaf") (param $n i32) (result i32) (call $repeat (local.get $n)))
 *   (func (export "leaf") (result i32) (call $grow (i32.const 0)))
 * )
 */
static const uint8_t native_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x19, 0x05, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x01, 0x7f, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7e, 0x60, 0x01, 0x7f, 0x01, 0x7e, 0x60,
    0x00, 0x01, 0x7f, 0x02, 0x24, 0x03, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00,
    0x00, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x66, 0x61, 0x69, 0x6c, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76,
    0x06, 0x72, 0x65, 0x70, 0x65, 0x61, 0x74, 0x00, 0x00, 0x03, 0x09, 0x08, 0x02, 0x03, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x04, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06, 0x01, 0x7e, 0x01, 0x42, 0x05,
    0x0b, 0x07, 0x55, 0x09, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x03, 0x6d, 0x69, 0x78, 0x00, 0x03,
    0x05, 0x6c, 0x6f, 0x61, 0x64, 0x73, 0x00, 0x04, 0x04, 0x66, 0x6c, 0x6f, 0x77, 0x00, 0x05, 0x03,
    0x66, 0x69, 0x62, 0x00, 0x06, 0x0f, 0x67, 0x72, 0x6f, 0x77, 0x5f, 0x74, 0x68, 0x65, 0x6e, 0x5f,
    0x73, 0x74, 0x6f, 0x72, 0x65, 0x00, 0x07, 0x09, 0x68, 0x6f, 0x73, 0x74, 0x5f, 0x74, 0x72, 0x61,
    0x70, 0x00, 0x08, 0x0b, 0x72, 0x65, 0x70, 0x65, 0x61, 0x74, 0x5f, 0x6c, 0x65, 0x61, 0x66, 0x00,
    0x09, 0x04, 0x6c, 0x65, 0x61, 0x66, 0x00, 0x0a, 0x0a, 0xb0, 0x02, 0x08, 0x58, 0x01, 0x01, 0x7e,
    0x20, 0x00, 0xac, 0x21, 0x02, 0x20, 0x02, 0x20, 0x01, 0xad, 0x42, 0xc3, 0x00, 0x86, 0x7c, 0x21,
    0x02, 0x20, 0x02, 0x20, 0x02, 0x20, 0x00, 0xad, 0x89, 0x85, 0x21, 0x02, 0x20, 0x02, 0x20, 0x00,
    0x20, 0x01, 0x78, 0xad, 0x7c, 0x21, 0x02, 0x20, 0x02, 0x20, 0x00, 0x41, 0x21, 0x75, 0xac, 0x7d,
    0x21, 0x02, 0x20, 0x02, 0x20, 0x00, 0x20, 0x01, 0x48, 0xad, 0x7e, 0x21, 0x02, 0x20, 0x02, 0x20,
    0x00, 0x20, 0x01, 0x4f, 0xad, 0x7c, 0x21, 0x02, 0x23, 0x00, 0x20, 0x02, 0x7c, 0x24, 0x00, 0x20,
    0x02, 0x23, 0x00, 0x7c, 0x0b, 0x2a, 0x00, 0x20, 0x00, 0x42, 0x88, 0x8f, 0x9a, 0xac, 0xc8, 0xf0,
    0xa0, 0xc1, 0x81, 0x7f, 0x37, 0x03, 0x00, 0x20, 0x00, 0x30, 0x00, 0x00, 0x20, 0x00, 0x33, 0x01,
    0x02, 0x7c, 0x20, 0x00, 0x2e, 0x01, 0x04, 0xac, 0x20, 0x00, 0x34, 0x02, 0x00, 0x7c, 0x7c, 0x0b,
    0x48, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x03, 0x40, 0x20, 0x01, 0x02, 0x7f, 0x02, 0x40, 0x02, 0x40,
    0x02, 0x40, 0x20, 0x00, 0x41, 0x04, 0x70, 0x0e, 0x02, 0x00, 0x01, 0x02, 0x0b, 0x41, 0x07, 0x0c,
    0x02, 0x0b, 0x41, 0xe4, 0x00, 0x41, 0x03, 0x20, 0x00, 0x41, 0x08, 0x71, 0x1b, 0x0c, 0x01, 0x0b,
    0x41, 0x01, 0x0b, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x45, 0x0d, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b,
    0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x0b, 0x1c, 0x00, 0x20, 0x00, 0x41, 0x02, 0x49,
    0x04, 0x7f, 0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x06, 0x20, 0x00, 0x41, 0x02,
    0x6b, 0x10, 0x06, 0x6a, 0x0b, 0x0b, 0x26, 0x01, 0x01, 0x7f, 0x41, 0x01, 0x10, 0x00, 0x21, 0x00,
    0x20, 0x00, 0x41, 0x80, 0x80, 0x04, 0x6c, 0x41, 0x08, 0x6a, 0x41, 0x2a, 0x36, 0x02, 0x00, 0x20,
    0x00, 0x41, 0x80, 0x80, 0x04, 0x6c, 0x41, 0x08, 0x6a, 0x28, 0x02, 0x00, 0x0b, 0x0f, 0x00, 0x20,
    0x00, 0x41, 0x03, 0x6c, 0x21, 0x00, 0x20, 0x00, 0x10, 0x01, 0x20, 0x00, 0x0b, 0x06, 0x00, 0x20,
    0x00, 0x10, 0x02, 0x0b, 0x06, 0x00, 0x41, 0x00, 0x10, 0x00, 0x0b,
};

/* "grow": grows the caller's memory by its argument, returns the old size in pages. */
static wa_trap_kind_t grow_cb(wa_instance_t *caller, void *user, const wa_value_t *args,
                              wa_value_t *results)
{
    (void)user;
    results[0].i32 = (int32_t)wa_memory_grow(wa_instance_memory(caller), (uint32_t)args[0].i32);
    return WA_TRAP_NONE;
}

/* "fail": traps with its argument in the message. */
static wa_trap_kind_t fail_cb(wa_instance_t *caller, void *user, const wa_value_t *args,
                              wa_value_t *results)
{
    (void)user, (void)results;
    return wa_trap_set(caller, WA_TRAP_HOST, 0, "failed at %d", args[0].i32);
}

/* "repeat": calls the caller's export "leaf" n times; returns how many calls succeeded. */
static wa_trap_kind_t repeat_cb(wa_instance_t *caller, void *user, const wa_value_t *args,
                                wa_value_t *results)
{
    (void)user;
    wa_func_t *leaf = wa_instance_func(caller, "leaf");
    int32_t ok = 0;
    for (int32_t i = 0; i < args[0].i32; i++) {
        wa_value_t r;
        wa_trap_t trap;
        ok += wa_call(leaf, NULL, 0, &r, 1, NULL, &trap) == WA_OK;
    }
    results[0].i32 = ok;
    return WA_TRAP_NONE;
}

typedef struct tier {
    wa_module_t *m;
    wa_linker_t *l;
    wa_instance_t *inst;
} tier_t;

/* The module loaded with the native tier on (native) or off: the switch is read at load. */
static tier_t load(bool native)
{
    static const wa_valtype_t i32[1] = {WA_I32};
    wa_functype_t t1 = {1, 1, i32, i32}, t0 = {1, 0, i32, NULL};
    tier_t t = {0};
    if (native)
        unsetenv("SLUICE_WASM_NATIVE");
    else
        setenv("SLUICE_WASM_NATIVE", "0", 1);
    wa_error_t err;
    T_EQ_INT(wa_module_load(native_wasm, sizeof native_wasm, &t.m, &err), WA_OK);
    unsetenv("SLUICE_WASM_NATIVE");
    t.l = wa_linker_new();
    T_ASSERT(t.l != NULL);
    T_EQ_INT(wa_linker_define_func(t.l, "env", "grow", &t1, grow_cb, NULL), WA_OK);
    T_EQ_INT(wa_linker_define_func(t.l, "env", "fail", &t0, fail_cb, NULL), WA_OK);
    T_EQ_INT(wa_linker_define_func(t.l, "env", "repeat", &t1, repeat_cb, NULL), WA_OK);
    T_EQ_INT(wa_instance_new(t.m, t.l, NULL, &t.inst, &err), WA_OK);
    return t;
}

static void unload(tier_t *t)
{
    wa_instance_free(t->inst);
    wa_linker_free(t->l);
    wa_module_unref(t->m);
}

/* Calls export name with up to two i32 arguments; the status, its result and trap. */
static wa_status_t run(tier_t *t, const char *name, int nargs, int32_t a, int32_t b,
                       wa_value_t *res, wa_trap_t *trap, const wa_call_limits_t *lim)
{
    wa_func_t *f = wa_instance_func(t->inst, name);
    T_ASSERT(f != NULL);
    wa_value_t args[2] = {{.i32 = a}, {.i32 = b}};
    wa_functype_t ft;
    wa_func_type(f, &ft);
    return wa_call(f, args, (uint32_t)nargs, res, ft.nresults, lim, trap);
}

TEST(functions_get_native_code_on_first_call_unless_it_is_switched_off)
{
    wa_module_stats_t st;
    tier_t on = load(true), off = load(false);
    wa_module_stats(on.m, &st);
    T_EQ_UINT(st.native_funcs, 0); /* loading translates nothing */
    T_EQ_UINT(st.native_bytes, 0);
    wa_value_t r;
    wa_trap_t tr;
    T_EQ_INT(run(&on, "fib", 1, 10, 0, &r, &tr, NULL), WA_OK);
    T_EQ_INT(r.i32, 55);
    wa_module_stats(on.m, &st);
#if defined(__x86_64__) && defined(__linux__)
    T_EQ_UINT(st.native_funcs, 1); /* fib, and only fib */
    T_ASSERT(st.native_bytes > 0);
    size_t fib_bytes = st.native_bytes;
    wa_module_translate(on.m);
    wa_module_stats(on.m, &st);
    T_EQ_UINT(st.native_funcs, st.funcs); /* every function of this module translates */
    T_ASSERT(st.native_bytes > fib_bytes);
#else
    T_EQ_UINT(st.native_funcs, 0);
#endif
    T_EQ_INT(run(&off, "fib", 1, 10, 0, &r, &tr, NULL), WA_OK);
    wa_module_translate(off.m);
    wa_module_stats(off.m, &st);
    T_EQ_UINT(st.native_funcs, 0);
    T_EQ_UINT(st.native_bytes, 0);
    unload(&on);
    unload(&off);
}

/* wat2wasm of:
 * (module
 *   (type $t (func (param i32) (result i32)))
 *   (table 1 funcref)
 *   (elem (i32.const 0) $cube)
 *   (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
 *   (func $cube (param i32) (result i32) (i32.mul (local.get 0) (call $sq (local.get 0))))
 *   ;; sum of n*n for n down to 1, by direct calls
 *   (func (export "sum") (param $n i32) (result i32)
 *     (local $s i32)
 *     (block $d (loop $l
 *       (br_if $d (i32.eqz (local.get $n)))
 *       (local.set $s (i32.add (local.get $s) (call $sq (local.get $n))))
 *       (local.set $n (i32.sub (local.get $n) (i32.const 1)))
 *       (br $l)))
 *     (local.get $s))
 *   ;; sum of n*n*n, by an indirect call of $cube
 *   (func (export "sum_ind") (param $n i32) (result i32)
 *     (local $s i32)
 *     (block $d (loop $l
 *       (br_if $d (i32.eqz (local.get $n)))
 *       (local.set $s (i32.add (local.get $s)
 *         (call_indirect (type $t) (local.get $n) (i32.const 0))))
 *       (local.set $n (i32.sub (local.get $n) (i32.const 1)))
 *       (br $l)))
 *     (local.get $s)))
 */
static const uint8_t lazy_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x03, 0x05, 0x04, 0x00, 0x00, 0x00, 0x00, 0x04,
    0x04, 0x01, 0x70, 0x00, 0x01, 0x07, 0x11, 0x02, 0x03, 0x73, 0x75, 0x6d,
    0x00, 0x02, 0x07, 0x73, 0x75, 0x6d, 0x5f, 0x69, 0x6e, 0x64, 0x00, 0x03,
    0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x01, 0x0a, 0x5e, 0x04,
    0x07, 0x00, 0x20, 0x00, 0x20, 0x00, 0x6c, 0x0b, 0x09, 0x00, 0x20, 0x00,
    0x20, 0x00, 0x10, 0x00, 0x6c, 0x0b, 0x23, 0x01, 0x01, 0x7f, 0x02, 0x40,
    0x03, 0x40, 0x20, 0x00, 0x45, 0x0d, 0x01, 0x20, 0x01, 0x20, 0x00, 0x10,
    0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, 0x0c,
    0x00, 0x0b, 0x0b, 0x20, 0x01, 0x0b, 0x26, 0x01, 0x01, 0x7f, 0x02, 0x40,
    0x03, 0x40, 0x20, 0x00, 0x45, 0x0d, 0x01, 0x20, 0x01, 0x20, 0x00, 0x41,
    0x00, 0x11, 0x00, 0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b,
    0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x0b
};

static uint32_t sum_powers(uint32_t n, int cube)
{
    uint32_t s = 0;
    for (uint32_t k = 1; k <= n; k++)
        s += k * k * (cube ? k : 1);
    return s;
}

static int32_t call1(wa_instance_t *inst, const char *name, int32_t n)
{
    wa_func_t *f = wa_instance_func(inst, name);
    wa_value_t a = {.i32 = n}, r = {.i64 = -1};
    wa_trap_t tr;
    if (!f || wa_call(f, &a, 1, &r, 1, NULL, &tr) != WA_OK)
        return -1;
    return r.i32;
}

/* A fresh load of lazy_wasm with the native tier on (*m) and an instance of it. */
static wa_instance_t *lazy_instance(wa_module_t **m)
{
    wa_instance_t *inst = NULL;
    wa_error_t err;
    unsetenv("SLUICE_WASM_NATIVE");
    T_EQ_INT(wa_module_load(lazy_wasm, sizeof lazy_wasm, m, &err), WA_OK);
    T_EQ_INT(wa_instance_new(*m, NULL, NULL, &inst, &err), WA_OK);
    return inst;
}

/* A caller translated before its callees: its direct and indirect calls go through the
 * interpreter's call, which translates the callee, and come back into native code. */
TEST(a_callee_is_translated_when_native_code_first_calls_it)
{
    wa_module_t *m;
    wa_instance_t *inst = lazy_instance(&m);
    wa_module_stats_t st;
    for (int round = 0; round < 2; round++) {
        T_EQ_UINT((uint32_t)call1(inst, "sum", 300), sum_powers(300, 0));
#if defined(__x86_64__) && defined(__linux__)
        wa_module_stats(m, &st);
        T_EQ_UINT(st.native_funcs, round == 0 ? 2 : 4); /* sum and sq: what the call reached */
#endif
        T_EQ_UINT((uint32_t)call1(inst, "sum_ind", 300), sum_powers(300, 1));
    }
    wa_module_stats(m, &st);
#if defined(__x86_64__) && defined(__linux__)
    T_EQ_UINT(st.native_funcs, 4);
#endif
    wa_instance_free(inst);
    wa_module_unref(m);
}

/* Threads that make a module's first calls at the same time: each function is translated
 * once, and every thread gets the right results, whether it ran native code or, while
 * another thread translated, the interpreter. */
enum { RACERS = 4 };
typedef struct racer {
    wa_module_t *m;
    pthread_barrier_t *go;
    int bad;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    wa_instance_t *inst;
    wa_error_t err;
    if (wa_instance_new(r->m, NULL, NULL, &inst, &err) != WA_OK) {
        r->bad = 1;
        return NULL;
    }
    pthread_barrier_wait(r->go);
    for (uint32_t n = 1; n <= 200; n++) {
        r->bad += (uint32_t)call1(inst, n & 1 ? "sum_ind" : "sum", (int32_t)n) !=
                  sum_powers(n, n & 1);
    }
    wa_instance_free(inst);
    return NULL;
}

TEST(threads_racing_to_the_first_call_get_one_translation_and_right_results)
{
    unsetenv("SLUICE_WASM_NATIVE");
    for (int trial = 0; trial < 20; trial++) {
        wa_module_t *m, *ref;
        wa_error_t err;
        T_EQ_INT(wa_module_load(lazy_wasm, sizeof lazy_wasm, &m, &err), WA_OK);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS);
        racer_t rs[RACERS];
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) {
            rs[i] = (racer_t){m, &go, 0};
            T_EQ_INT(pthread_create(&th[i], NULL, race, &rs[i]), 0);
        }
        for (int i = 0; i < RACERS; i++) {
            pthread_join(th[i], NULL);
            T_EQ_INT(rs[i].bad, 0);
        }
        pthread_barrier_destroy(&go);
        /* as many translations as one thread translating all of it makes (the bytes may
         * differ: a call to a callee translated before its caller is a direct jump), and
         * none left to make */
        T_EQ_INT(wa_module_load(lazy_wasm, sizeof lazy_wasm, &ref, &err), WA_OK);
        wa_module_translate(ref);
        wa_module_stats_t a, b, c;
        wa_module_stats(m, &a);
        wa_module_stats(ref, &b);
        T_EQ_UINT(a.native_funcs, b.native_funcs);
        wa_module_translate(m);
        wa_module_stats(m, &c);
        T_EQ_UINT(c.native_funcs, a.native_funcs);
        T_EQ_UINT(c.native_bytes, a.native_bytes);
        wa_module_unref(ref);
        wa_module_unref(m);
    }
}

/* A forked child shares the pages of its parent's code: it keeps what was translated before
 * the fork and interprets the rest, so that neither process writes code the other runs. */
TEST(a_forked_child_adds_no_code_and_both_processes_compute_right)
{
    wa_module_t *m;
    wa_instance_t *inst = lazy_instance(&m);
    T_EQ_UINT((uint32_t)call1(inst, "sum", 50), sum_powers(50, 0));
    wa_module_stats_t before, st;
    wa_module_stats(m, &before);
    fflush(stdout);
    pid_t child = fork();
    T_ASSERT(child >= 0);
    if (child == 0) {
        int bad = (uint32_t)call1(inst, "sum_ind", 60) != sum_powers(60, 1);
        bad |= (uint32_t)call1(inst, "sum", 70) != sum_powers(70, 0);
        wa_module_stats(m, &st);
        bad |= st.native_funcs != before.native_funcs;
        _exit(bad);
    }
    /* the parent translates what the child did not, in the same pages */
    T_EQ_UINT((uint32_t)call1(inst, "sum_ind", 80), sum_powers(80, 1));
    int status = -1;
    T_EQ_INT(waitpid(child, &status, 0), child);
    T_ASSERT(WIFEXITED(status));
    T_EQ_INT(WEXITSTATUS(status), 0);
    T_EQ_UINT((uint32_t)call1(inst, "sum", 90), sum_powers(90, 0));
    wa_instance_free(inst);
    wa_module_unref(m);
}

#if defined(__x86_64__) && defined(__linux__)
/* Both ways the engine maps a module's code twice: bytes written through the writable view
 * run from the executable one. */
TEST(code_written_through_one_mapping_runs_from_the_other)
{
    static const uint8_t ret42[] = {0xB8, 0x2A, 0, 0, 0, 0xC3}; /* mov eax, 42; ret */
    for (int dup = 0; dup < 2; dup++) {
        uint8_t *rw, *rx;
        bool way = dup;
        T_ASSERT(wa__native_map_twice(65536, &way, &rw, &rx));
        T_EQ_INT(way, dup); /* the way asked for, not the fallback */
        T_ASSERT(rw != rx);
        memcpy(rw + 4096 + 64, ret42, sizeof ret42);
        int (*fn)(void);
        void *p = rx + 4096 + 64;
        memcpy(&fn, &p, sizeof fn);
        T_EQ_INT(fn(), 42);
        rw[4096 + 65] = 7; /* written again: the executable view sees it at once */
        T_EQ_INT(fn(), 7);
        T_EQ_INT(munmap(rw, 65536), 0);
        T_EQ_INT(munmap(rx, 65536), 0);
    }
}
#endif

TEST(native_code_computes_what_the_interpreter_computes)
{
    tier_t on = load(true), off = load(false);
    static const int32_t ins[][2] = {{0, 0},   {1, 2},         {-7, 3},         {65, 31},
                                     {-1, -1}, {INT32_MIN, 1}, {INT32_MAX, 40}, {12345, 6789}};
    for (size_t i = 0; i < sizeof ins / sizeof *ins; i++) {
        wa_value_t r1, r2;
        wa_trap_t tr;
        /* "mix" also adds to a global: both instances see the same sequence */
        T_EQ_INT(run(&on, "mix", 2, ins[i][0], ins[i][1], &r1, &tr, NULL), WA_OK);
        T_EQ_INT(run(&off, "mix", 2, ins[i][0], ins[i][1], &r2, &tr, NULL), WA_OK);
        T_EQ_UINT((uint64_t)r1.i64, (uint64_t)r2.i64);
        T_EQ_INT(run(&on, "flow", 1, (int32_t)(ins[i][1] & 63), 0, &r1, &tr, NULL), WA_OK);
        T_EQ_INT(run(&off, "flow", 1, (int32_t)(ins[i][1] & 63), 0, &r2, &tr, NULL), WA_OK);
        T_EQ_INT(r1.i32, r2.i32);
    }
    wa_value_t r1, r2;
    wa_trap_t tr;
    for (int32_t p = 0; p <= 65536 - 8; p += 4091) {
        T_EQ_INT(run(&on, "loads", 1, p, 0, &r1, &tr, NULL), WA_OK);
        T_EQ_INT(run(&off, "loads", 1, p, 0, &r2, &tr, NULL), WA_OK);
        T_EQ_UINT((uint64_t)r1.i64, (uint64_t)r2.i64);
    }
    /* 0x88 (-120) + 0x8586 + (int16_t)0x8384 + (int32_t)0x85868788 */
    T_EQ_UINT((uint64_t)r1.i64,
              (uint64_t)(-120 + 0x8586 + (int16_t)0x8384 + (int64_t)(int32_t)0x85868788u));
    T_EQ_INT(run(&on, "fib", 1, 20, 0, &r1, &tr, NULL), WA_OK);
    T_EQ_INT(r1.i32, 6765);
    unload(&on);
    unload(&off);
}

TEST(a_bound_crossed_in_native_code_traps_where_the_interpreter_traps)
{
    tier_t on = load(true), off = load(false);
    wa_value_t r;
    wa_trap_t t1, t2;
    T_EQ_INT(run(&on, "loads", 1, 65536 - 7, 0, &r, &t1, NULL), WA_ERR_TRAP);
    T_EQ_INT(run(&off, "loads", 1, 65536 - 7, 0, &r, &t2, NULL), WA_ERR_TRAP);
    T_EQ_INT(t1.kind, WA_TRAP_MEMORY_OOB);
    T_EQ_INT(t2.kind, WA_TRAP_MEMORY_OOB);
    T_EQ_UINT(t1.code_offset, t2.code_offset);
    T_EQ_UINT(t1.func_index, t2.func_index);
    T_ASSERT(t1.code_offset > 0);
    T_EQ_UINT(native_wasm[t1.code_offset], 0x37); /* the i64.store */
    /* deep recursion: the native call's frame check leaves to the interpreter, which traps */
    T_EQ_INT(run(&on, "fib", 1, 1 << 30, 0, &r, &t1, NULL), WA_ERR_TRAP);
    T_EQ_INT(t1.kind, WA_TRAP_STACK_EXHAUSTED);
    /* the instance is usable afterwards */
    T_EQ_INT(run(&on, "fib", 1, 10, 0, &r, &t1, NULL), WA_OK);
    T_EQ_INT(r.i32, 55);
    unload(&on);
    unload(&off);
}

TEST(memory_a_host_function_grows_is_usable_by_native_code_right_after)
{
    tier_t on = load(true);
    wa_value_t r;
    wa_trap_t tr;
    T_EQ_INT(run(&on, "grow_then_store", 0, 0, 0, &r, &tr, NULL), WA_OK);
    T_EQ_INT(r.i32, 42);
    T_EQ_INT(run(&on, "grow_then_store", 0, 0, 0, &r, &tr, NULL), WA_OK);
    T_EQ_INT(r.i32, 42);
    uint64_t size = 0;
    uint8_t *base = wa_memory_data(wa_instance_memory(on.inst), &size);
    T_EQ_UINT(size, 3 * 65536);
    T_EQ_UINT(base[2 * 65536 + 8], 42);
    unload(&on);
}

TEST(a_host_trap_under_native_code_has_the_call_site_and_message)
{
    tier_t on = load(true), off = load(false);
    wa_value_t r;
    wa_trap_t t1, t2;
    T_EQ_INT(run(&on, "host_trap", 1, 14, 0, &r, &t1, NULL), WA_ERR_TRAP);
    T_EQ_INT(run(&off, "host_trap", 1, 14, 0, &r, &t2, NULL), WA_ERR_TRAP);
    T_EQ_INT(t1.kind, WA_TRAP_HOST);
    T_EQ_STR(t1.message, "failed at 42");
    T_EQ_STR(t2.message, "failed at 42");
    T_EQ_UINT(t1.code_offset, t2.code_offset);
    T_EQ_UINT(native_wasm[t1.code_offset], 0x10); /* the call */
    unload(&on);
    unload(&off);
}

TEST(fuel_runs_out_at_the_same_point_in_native_code)
{
    tier_t on = load(true), off = load(false);
    /* "flow" ticks once per loop iteration; with too little fuel both tiers stop, and with
     * just enough both finish */
    for (uint64_t fuel = 1; fuel < 80; fuel += 3) {
        wa_call_limits_t lim = {.fuel = fuel};
        wa_value_t r1, r2;
        wa_trap_t t1, t2;
        wa_status_t s1 = run(&on, "flow", 1, 40, 0, &r1, &t1, &lim);
        wa_status_t s2 = run(&off, "flow", 1, 40, 0, &r2, &t2, &lim);
        T_EQ_INT(s1, s2);
        if (s1 == WA_OK)
            T_EQ_INT(r1.i32, r2.i32);
        else
            T_EQ_INT(t1.kind, WA_TRAP_FUEL);
    }
    unload(&on);
    unload(&off);
}

TEST(a_host_function_may_call_back_any_number_of_times)
{
    /* each call back makes a host call of its own; none may leave the call depth deeper */
    for (int native = 0; native < 2; native++) {
        tier_t t = load(native);
        wa_value_t r;
        wa_trap_t tr;
        T_EQ_INT(run(&t, "repeat_leaf", 1, 50000, 0, &r, &tr, NULL), WA_OK);
        T_EQ_INT(r.i32, 50000);
        unload(&t);
    }
}

TEST(native_loops_go_on_after_the_clock_check)
{
    /* under a time limit the tick counter runs out every few thousand units and its slow
     * path (a call into the engine) runs in the middle of native code; "flow" branches
     * through a br_table on every iteration, at which the check lands sooner or later */
    tier_t on = load(true), off = load(false);
    wa_call_limits_t lim = {.budget_ns = 30ull * 1000 * 1000 * 1000};
    for (int32_t n = 40000; n < 40040; n += 7) {
        wa_value_t r1, r2;
        wa_trap_t t1, t2;
        T_EQ_INT(run(&on, "flow", 1, n, 0, &r1, &t1, &lim), WA_OK);
        T_EQ_INT(run(&off, "flow", 1, n, 0, &r2, &t2, &lim), WA_OK);
        T_EQ_INT(r1.i32, r2.i32);
    }
    unload(&on);
    unload(&off);
}
