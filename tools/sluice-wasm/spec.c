/* `sluice-wasm spec FILE.json`: runs one script of the WebAssembly spec test suite, as
 * converted by wast2json, against the engine, and counts passed, failed and skipped commands. */
#include "json.h"
#include "sw.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A runaway spec command (an engine bug) must not hang the suite. */
#define SPEC_CALL_DEADLINE_NS (10ull * 1000 * 1000 * 1000)
#define MAX_VALUES WA_MAX_FUNC_VALUES

typedef struct known {
    char *file;   /* owned */
    unsigned line;
    char *reason; /* owned */
    bool seen;
} known_t;

typedef struct named {
    char *name;           /* owned: the script's $name of a module */
    wa_instance_t *inst;  /* borrowed from runner_t.insts */
} named_t;

typedef struct runner {
    const char *dir;       /* borrowed: directory of the JSON file */
    char wast[256];        /* the script's .wast name, as failures print it */
    bool verbose;
    wa_linker_t *linker;   /* owned: spectest + every registered instance */
    wa_instance_t **insts; /* owned array of owned instances; freed after the linker */
    size_t ninsts, cap_insts;
    named_t *names;        /* owned array */
    size_t nnames, cap_names;
    wa_instance_t *current; /* borrowed: the last module defined */
    known_t *known;         /* owned array */
    size_t nknown;
    unsigned passed, failed, skipped, known_hits, fixed;
} runner_t;

/* ---- the spectest host module ----------------------------------------------------------- */

static wa_trap_kind_t spectest_print(wa_instance_t *caller, void *user, const wa_value_t *args,
                                     wa_value_t *results)
{
    (void)caller, (void)user, (void)args, (void)results;
    return WA_TRAP_NONE;
}

static int define_spectest(wa_linker_t *l)
{
    static const wa_valtype_t i32[] = {WA_I32}, i64[] = {WA_I64}, f32[] = {WA_F32},
                              f64[] = {WA_F64}, i32_f32[] = {WA_I32, WA_F32},
                              f64_f64[] = {WA_F64, WA_F64};
    static const struct {
        const char *name;
        const wa_valtype_t *params;
        uint32_t n;
    } prints[] = {
        {"print", NULL, 0},       {"print_i32", i32, 1},         {"print_i64", i64, 1},
        {"print_f32", f32, 1},    {"print_f64", f64, 1},         {"print_i32_f32", i32_f32, 2},
        {"print_f64_f64", f64_f64, 2},
    };
    static const wa_valtype_t none[1] = {WA_I32}; /* a valid pointer for empty lists */
    for (size_t i = 0; i < sizeof(prints) / sizeof(prints[0]); i++) {
        wa_functype_t ft = {.nparams = prints[i].n,
                            .params = prints[i].params ? prints[i].params : none,
                            .results = none};
        if (wa_linker_define_func(l, "spectest", prints[i].name, &ft, spectest_print, NULL))
            return -1;
    }
    /* The globals are 666 (wabt's choice; the suite never checks the float values). */
    static const struct {
        const char *name;
        wa_valtype_t t;
    } globals[] = {{"global_i32", WA_I32}, {"global_i64", WA_I64},
                   {"global_f32", WA_F32}, {"global_f64", WA_F64}};
    for (size_t i = 0; i < 4; i++) {
        wa_value_t v = {.raw = 0};
        switch (globals[i].t) {
        case WA_I32: v.i32 = 666; break;
        case WA_I64: v.i64 = 666; break;
        case WA_F32: v.f32 = 666.0f; break;
        default: v.f64 = 666.0; break;
        }
        wa_global_t *g = NULL;
        if (wa_global_new(globals[i].t, false, v, &g) != WA_OK)
            return -1;
        wa_status_t s = wa_linker_define(l, "spectest", globals[i].name,
                                         (wa_extern_t){.kind = WA_EXTERN_GLOBAL, .u.global = g});
        wa_global_unref(g); /* the linker holds its own reference */
        if (s != WA_OK)
            return -1;
    }
    wa_table_t *t = NULL;
    if (wa_table_new(WA_FUNCREF, (wa_limits_desc_t){10, 20, true}, &t) != WA_OK)
        return -1;
    wa_status_t s = wa_linker_define(l, "spectest", "table",
                                     (wa_extern_t){.kind = WA_EXTERN_TABLE, .u.table = t});
    wa_table_unref(t);
    if (s != WA_OK)
        return -1;
    wa_memory_t *m = NULL;
    if (wa_memory_new((wa_limits_desc_t){1, 2, true}, &m) != WA_OK)
        return -1;
    s = wa_linker_define(l, "spectest", "memory",
                         (wa_extern_t){.kind = WA_EXTERN_MEMORY, .u.memory = m});
    wa_memory_unref(m);
    return s == WA_OK ? 0 : -1;
}

/* ---- known failures --------------------------------------------------------------------- */

static void load_known(runner_t *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "sluice-wasm spec: %s: %s (no known failures used)\n", path,
                strerror(errno));
        return;
    }
    char line[1024];
    unsigned lineno = 0;
    size_t cap = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        char *colon = NULL;
        char *sp = p + strcspn(p, " \t\n");
        for (char *q = p; q < sp; q++)
            if (*q == ':')
                colon = q;
        char *end = NULL;
        unsigned long ln = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (!colon || end != sp || ln == 0) {
            fprintf(stderr, "%s:%u: expected 'file.wast:LINE reason'\n", path, lineno);
            continue;
        }
        char *reason = sp;
        while (*reason == ' ' || *reason == '\t')
            reason++;
        reason[strcspn(reason, "\n")] = '\0';
        if (r->nknown == cap) {
            cap = cap ? cap * 2 : 32;
            known_t *nk = realloc(r->known, cap * sizeof(*nk));
            if (!nk)
                break;
            r->known = nk;
        }
        known_t *k = &r->known[r->nknown];
        k->file = strndup(p, (size_t)(colon - p));
        k->reason = strdup(reason);
        k->line = (unsigned)ln;
        k->seen = false;
        if (!k->file || !k->reason) {
            free(k->file);
            free(k->reason);
            break;
        }
        r->nknown++;
    }
    fclose(f);
}

static known_t *find_known(runner_t *r, unsigned line)
{
    for (size_t i = 0; i < r->nknown; i++)
        if (r->known[i].line == line && strcmp(r->known[i].file, r->wast) == 0)
            return &r->known[i];
    return NULL;
}

/* ---- results ---------------------------------------------------------------------------- */

static void pass(runner_t *r, unsigned line, const char *cmd)
{
    known_t *k = find_known(r, line);
    if (k) {
        k->seen = true;
        r->fixed++;
        printf("FIXED %s:%u: %s passes but is listed in known failures (%s)\n", r->wast, line,
               cmd, k->reason);
    }
    r->passed++;
}

static void fail(runner_t *r, unsigned line, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(runner_t *r, unsigned line, const char *cmd, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    known_t *k = find_known(r, line);
    if (k) {
        k->seen = true;
        r->known_hits++;
        if (r->verbose)
            printf("KNOWN %s:%u: %s %s (%s)\n", r->wast, line, cmd, what, k->reason);
        return;
    }
    r->failed++;
    printf("FAIL %s:%u: %s %s\n", r->wast, line, cmd, what);
}

/* ---- values ----------------------------------------------------------------------------- */

static int parse_type(const char *s, wa_valtype_t *t)
{
    static const struct {
        const char *name;
        wa_valtype_t t;
    } types[] = {{"i32", WA_I32},         {"i64", WA_I64},
                 {"f32", WA_F32},         {"f64", WA_F64},
                 {"funcref", WA_FUNCREF}, {"externref", WA_EXTERNREF}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(s, types[i].name) == 0) {
            *t = types[i].t;
            return 0;
        }
    return -1;
}

/* An expected or argument value: raw bits, or a NaN class, or "any value of this type". */
typedef enum { VAL_BITS, VAL_NULL, VAL_NAN_CANONICAL, VAL_NAN_ARITHMETIC, VAL_ANY } val_kind_t;

typedef struct spec_value {
    wa_valtype_t type;
    val_kind_t kind;
    uint64_t bits;
} spec_value_t;

static int parse_spec_value(const sw_json_t *j, spec_value_t *out, char *why, size_t whylen)
{
    const char *ts = sw_json_get_str(j, "type", NULL);
    if (!ts || parse_type(ts, &out->type) != 0) {
        snprintf(why, whylen, "unsupported value type %s", ts ? ts : "(none)");
        return -1;
    }
    const char *vs = sw_json_get_str(j, "value", NULL);
    out->bits = 0;
    if (!vs) {
        out->kind = VAL_ANY;
        return 0;
    }
    if (strcmp(vs, "null") == 0) {
        out->kind = VAL_NULL;
        return 0;
    }
    if (strcmp(vs, "nan:canonical") == 0) {
        out->kind = VAL_NAN_CANONICAL;
        return 0;
    }
    if (strcmp(vs, "nan:arithmetic") == 0) {
        out->kind = VAL_NAN_ARITHMETIC;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long b = strtoull(vs, &end, 10);
    if (vs[0] < '0' || vs[0] > '9' || *end || errno ||
        ((out->type == WA_I32 || out->type == WA_F32) && b > UINT32_MAX)) {
        snprintf(why, whylen, "bad %s value \"%s\"", ts, vs);
        return -1;
    }
    out->kind = VAL_BITS;
    out->bits = b;
    return 0;
}

static wa_value_t to_wa_value(const spec_value_t *v)
{
    wa_value_t w;
    memset(&w, 0, sizeof(w));
    switch (v->type) {
    case WA_I32: w.i32 = (int32_t)(uint32_t)v->bits; break;
    case WA_F32: w.f32_bits = (uint32_t)v->bits; break;
    case WA_I64: w.i64 = (int64_t)v->bits; break;
    case WA_F64: w.f64_bits = v->bits; break;
    case WA_FUNCREF: w.funcref = NULL; break; /* scripts only pass null funcrefs */
    case WA_EXTERNREF:
        /* ref.extern N becomes the word N + 1 so that ref.extern 0 differs from null. */
        w.externref = v->kind == VAL_NULL ? 0 : (uintptr_t)v->bits + 1;
        break;
    }
    return w;
}

static void format_value(wa_valtype_t t, wa_value_t v, char *buf, size_t n)
{
    switch (t) {
    case WA_I32: snprintf(buf, n, "i32:%" PRIu32, (uint32_t)v.i32); break;
    case WA_F32: snprintf(buf, n, "f32:%" PRIu32 " (%.9g)", v.f32_bits, (double)v.f32); break;
    case WA_I64: snprintf(buf, n, "i64:%" PRIu64, (uint64_t)v.i64); break;
    case WA_F64: snprintf(buf, n, "f64:%" PRIu64 " (%.17g)", v.f64_bits, v.f64); break;
    case WA_FUNCREF: snprintf(buf, n, v.funcref ? "funcref:%p" : "funcref:null", (void *)v.funcref); break;
    case WA_EXTERNREF:
        if (v.externref)
            snprintf(buf, n, "externref:%" PRIuPTR, v.externref - 1);
        else
            snprintf(buf, n, "externref:null");
        break;
    }
}

static void format_expected(const spec_value_t *e, char *buf, size_t n)
{
    switch (e->kind) {
    case VAL_NULL: snprintf(buf, n, "%s:null", sw_valtype_str(e->type)); return;
    case VAL_NAN_CANONICAL: snprintf(buf, n, "%s:nan:canonical", sw_valtype_str(e->type)); return;
    case VAL_NAN_ARITHMETIC: snprintf(buf, n, "%s:nan:arithmetic", sw_valtype_str(e->type)); return;
    case VAL_ANY: snprintf(buf, n, "%s:any", sw_valtype_str(e->type)); return;
    case VAL_BITS: format_value(e->type, to_wa_value(e), buf, n); return;
    }
}

static bool value_matches(const spec_value_t *e, wa_value_t got)
{
    switch (e->kind) {
    case VAL_ANY: return true;
    case VAL_NULL:
        return e->type == WA_FUNCREF ? got.funcref == NULL : got.externref == 0;
    case VAL_NAN_CANONICAL:
        if (e->type == WA_F32)
            return (got.f32_bits & 0x7fffffffu) == 0x7fc00000u;
        return (got.f64_bits & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
    case VAL_NAN_ARITHMETIC: /* any NaN whose payload has its top (quiet) bit set */
        if (e->type == WA_F32)
            return (got.f32_bits & 0x7fc00000u) == 0x7fc00000u;
        return (got.f64_bits & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
    case VAL_BITS:
        switch (e->type) {
        case WA_I32: return (uint32_t)got.i32 == (uint32_t)e->bits;
        case WA_F32: return got.f32_bits == (uint32_t)e->bits;
        case WA_I64: return (uint64_t)got.i64 == e->bits;
        case WA_F64: return got.f64_bits == e->bits;
        case WA_FUNCREF: return got.funcref != NULL; /* a non-null function reference */
        case WA_EXTERNREF: return got.externref == (uintptr_t)e->bits + 1;
        }
    }
    return false;
}

/* ---- modules and instances -------------------------------------------------------------- */

static wa_instance_t *find_instance(runner_t *r, const char *name)
{
    if (!name)
        return r->current;
    for (size_t i = r->nnames; i-- > 0;)
        if (strcmp(r->names[i].name, name) == 0)
            return r->names[i].inst;
    return NULL;
}

static int keep_instance(runner_t *r, wa_instance_t *inst)
{
    if (r->ninsts == r->cap_insts) {
        size_t cap = r->cap_insts ? r->cap_insts * 2 : 16;
        wa_instance_t **n = realloc(r->insts, cap * sizeof(*n));
        if (!n)
            return -1;
        r->insts = n;
        r->cap_insts = cap;
    }
    r->insts[r->ninsts++] = inst;
    return 0;
}

static int name_instance(runner_t *r, const char *name, wa_instance_t *inst)
{
    if (r->nnames == r->cap_names) {
        size_t cap = r->cap_names ? r->cap_names * 2 : 8;
        named_t *n = realloc(r->names, cap * sizeof(*n));
        if (!n)
            return -1;
        r->names = n;
        r->cap_names = cap;
    }
    r->names[r->nnames].name = strdup(name);
    if (!r->names[r->nnames].name)
        return -1;
    r->names[r->nnames++].inst = inst;
    return 0;
}

/* Loads FILE (relative to the script) into *m; returns the load status. */
static wa_status_t load_module(runner_t *r, const char *file, wa_module_t **m, wa_error_t *err)
{
    char path[4096];
    uint8_t *bytes = NULL;
    size_t len = 0;
    memset(err, 0, sizeof(*err));
    snprintf(path, sizeof(path), "%s/%s", r->dir, file);
    if (sw_read_file(path, &bytes, &len) != 0) {
        err->status = WA_ERR_ARG;
        snprintf(err->message, sizeof(err->message), "cannot read %.200s", path);
        return WA_ERR_ARG;
    }
    wa_status_t s = wa_module_load(bytes, len, m, err);
    free(bytes);
    if (s != WA_OK && err->status == WA_OK)
        err->status = s;
    return s;
}

static void cmd_module(runner_t *r, const sw_json_t *c, unsigned line)
{
    const char *file = sw_json_get_str(c, "filename", NULL);
    const char *name = sw_json_get_str(c, "name", NULL);
    wa_module_t *m = NULL;
    wa_error_t err;
    r->current = NULL; /* a later action must not reach a previous module by accident */
    if (!file) {
        fail(r, line, "module", "has no filename");
        return;
    }
    if (load_module(r, file, &m, &err) != WA_OK) {
        fail(r, line, "module", "%s: load failed: %s at offset %zu: %s", file,
             wa_status_str(err.status), err.offset, err.message);
        return;
    }
    wa_instance_t *inst = NULL;
    memset(&err, 0, sizeof(err));
    wa_status_t s = wa_instance_new(m, r->linker, NULL, &inst, &err);
    wa_module_unref(m); /* the instance holds its own reference */
    if (s != WA_OK) {
        fail(r, line, "module", "%s: instantiation failed: %s: %s", file, wa_status_str(s),
             err.message);
        return;
    }
    if (keep_instance(r, inst) != 0 || (name && name_instance(r, name, inst) != 0)) {
        wa_instance_free(inst);
        fail(r, line, "module", "out of memory");
        return;
    }
    r->current = inst;
    pass(r, line, "module");
}

static void cmd_register(runner_t *r, const sw_json_t *c, unsigned line)
{
    const char *as = sw_json_get_str(c, "as", NULL);
    const char *name = sw_json_get_str(c, "name", NULL);
    wa_instance_t *inst = find_instance(r, name);
    if (!as || !inst) {
        fail(r, line, "register", "no module %s to register", name ? name : "(current)");
        return;
    }
    wa_status_t s = wa_linker_define_instance(r->linker, as, inst);
    if (s != WA_OK) {
        fail(r, line, "register", "as \"%s\": %s", as, wa_status_str(s));
        return;
    }
    pass(r, line, "register");
}

/* The outcome of an action: status, trap, results with their types. */
typedef struct outcome {
    wa_status_t status;
    wa_trap_t trap;
    uint32_t nresults;
    wa_valtype_t types[MAX_VALUES];
    wa_value_t results[MAX_VALUES];
    char why[512]; /* set when the action could not be attempted */
} outcome_t;

static void do_action(runner_t *r, const sw_json_t *a, outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    o->status = WA_ERR_ARG;
    const char *type = sw_json_get_str(a, "type", NULL);
    size_t field_len = 0;
    const char *field = sw_json_get_str(a, "field", &field_len);
    const char *modname = sw_json_get_str(a, "module", NULL);
    wa_instance_t *inst = find_instance(r, modname);
    if (!type || !field) {
        snprintf(o->why, sizeof(o->why), "action without type or field");
        return;
    }
    if (!inst) {
        snprintf(o->why, sizeof(o->why), "no instance %s", modname ? modname : "(current)");
        return;
    }
    /* Names go by length: an export name may hold NUL bytes (names.wast). */
    wa_extern_t ext;
    bool found = wa_instance_export_n(inst, field, field_len, &ext) == WA_OK;
    if (strcmp(type, "get") == 0) {
        if (!found || ext.kind != WA_EXTERN_GLOBAL) {
            snprintf(o->why, sizeof(o->why), "no global export \"%s\"", field);
            return;
        }
        /* The global's type comes from the module's export list. */
        const wa_module_t *m = wa_instance_module(inst);
        for (size_t i = 0; i < wa_module_export_count(m); i++) {
            const char *n;
            wa_externtype_t et;
            if (wa_module_export(m, i, &n, &et) == WA_OK && strlen(n) == field_len &&
                memcmp(n, field, field_len) == 0 &&
                et.kind == WA_EXTERN_GLOBAL)
                o->types[0] = et.u.global.type;
        }
        o->results[0] = wa_global_get(ext.u.global);
        o->nresults = 1;
        o->status = WA_OK;
        return;
    }
    if (strcmp(type, "invoke") != 0) {
        snprintf(o->why, sizeof(o->why), "unknown action type %s", type);
        return;
    }
    wa_func_t *f = found && ext.kind == WA_EXTERN_FUNC ? ext.u.func : NULL;
    if (!f) {
        snprintf(o->why, sizeof(o->why), "no function export \"%s\"", field);
        return;
    }
    const sw_json_t *args = sw_json_get(a, "args");
    size_t nargs = args && args->kind == SW_JSON_ARRAY ? args->len : 0;
    wa_value_t vals[MAX_VALUES];
    if (nargs > MAX_VALUES) {
        snprintf(o->why, sizeof(o->why), "too many arguments");
        return;
    }
    for (size_t i = 0; i < nargs; i++) {
        spec_value_t sv;
        if (parse_spec_value(args->items[i], &sv, o->why, sizeof(o->why)) != 0)
            return;
        vals[i] = to_wa_value(&sv);
    }
    wa_functype_t ft;
    wa_func_type(f, &ft);
    if (ft.nresults > MAX_VALUES) {
        snprintf(o->why, sizeof(o->why), "too many results");
        return;
    }
    o->nresults = ft.nresults;
    memcpy(o->types, ft.results, ft.nresults * sizeof(ft.results[0]));
    wa_call_limits_t lim = {.fuel = 0, .deadline_ns = wa_now_ns() + SPEC_CALL_DEADLINE_NS};
    o->status = wa_call(f, vals, (uint32_t)nargs, o->results, ft.nresults, &lim, &o->trap);
    if (o->status != WA_OK && o->status != WA_ERR_TRAP)
        snprintf(o->why, sizeof(o->why), "call \"%s\" failed: %s", field, wa_status_str(o->status));
}

/* Describes what went wrong with an action that should have returned normally. */
static bool action_ok(runner_t *r, unsigned line, const char *cmd, const outcome_t *o)
{
    if (o->why[0]) {
        fail(r, line, cmd, "%s", o->why);
        return false;
    }
    if (o->status == WA_ERR_TRAP) {
        fail(r, line, cmd, "trapped: %s (%s)", wa_trap_kind_str(o->trap.kind), o->trap.message);
        return false;
    }
    return true;
}

static void cmd_assert_return(runner_t *r, const sw_json_t *c, unsigned line, bool check)
{
    const char *name = check ? "assert_return" : "action";
    outcome_t o;
    do_action(r, sw_json_get(c, "action"), &o);
    if (!action_ok(r, line, name, &o))
        return;
    const sw_json_t *exp = sw_json_get(c, "expected");
    if (!check) {
        pass(r, line, name);
        return;
    }
    size_t nexp = exp && exp->kind == SW_JSON_ARRAY ? exp->len : 0;
    if (nexp != o.nresults) {
        fail(r, line, name, "returned %u values, expected %zu", o.nresults, nexp);
        return;
    }
    for (size_t i = 0; i < nexp; i++) {
        spec_value_t e;
        char why[128], gbuf[96], ebuf[96];
        if (parse_spec_value(exp->items[i], &e, why, sizeof(why)) != 0) {
            fail(r, line, name, "%s", why);
            return;
        }
        if (e.type != o.types[i]) {
            fail(r, line, name, "result %zu has type %s, expected %s", i,
                 sw_valtype_str(o.types[i]), sw_valtype_str(e.type));
            return;
        }
        if (!value_matches(&e, o.results[i])) {
            format_value(o.types[i], o.results[i], gbuf, sizeof(gbuf));
            format_expected(&e, ebuf, sizeof(ebuf));
            fail(r, line, name, "result %zu: got %s, expected %s", i, gbuf, ebuf);
            return;
        }
    }
    pass(r, line, name);
}

/* The spec's trap texts, each mapped to the kind the engine must report. */
static bool trap_text_matches(const char *text, wa_trap_kind_t kind)
{
    if (strncmp(text, "undefined element", 17) == 0) /* call_indirect index past the table */
        return kind == WA_TRAP_TABLE_OOB;
    const char *k = wa_trap_kind_str(kind);
    return strncmp(text, k, strlen(k)) == 0;
}

static void cmd_assert_trap(runner_t *r, const sw_json_t *c, unsigned line, const char *name,
                            wa_trap_kind_t want_kind)
{
    const char *text = sw_json_get_str(c, "text", NULL);
    outcome_t o;
    do_action(r, sw_json_get(c, "action"), &o);
    if (o.why[0]) {
        fail(r, line, name, "%s", o.why);
        return;
    }
    if (o.status != WA_ERR_TRAP) {
        fail(r, line, name, "returned normally, expected trap \"%s\"", text ? text : "");
        return;
    }
    bool ok = want_kind != WA_TRAP_NONE ? o.trap.kind == want_kind
                                         : (text && trap_text_matches(text, o.trap.kind));
    if (!ok) {
        fail(r, line, name, "trapped with \"%s\" (%s), expected \"%s\"",
             wa_trap_kind_str(o.trap.kind), o.trap.message, text ? text : "");
        return;
    }
    pass(r, line, name);
}

/* assert_invalid / assert_malformed: loading must fail with exactly this status. */
static void cmd_assert_load_fails(runner_t *r, const sw_json_t *c, unsigned line,
                                  const char *name, wa_status_t want)
{
    const char *file = sw_json_get_str(c, "filename", NULL);
    const char *mt = sw_json_get_str(c, "module_type", NULL);
    const char *text = sw_json_get_str(c, "text", NULL);
    if (mt && strcmp(mt, "text") == 0) {
        r->skipped++; /* text-format cases need a text parser; the engine reads binaries */
        return;
    }
    if (!file) {
        fail(r, line, name, "has no filename");
        return;
    }
    wa_module_t *m = NULL;
    wa_error_t err;
    wa_status_t s = load_module(r, file, &m, &err);
    if (s == WA_OK) {
        wa_module_unref(m);
        fail(r, line, name, "%s loaded, expected %s \"%s\"", file, wa_status_str(want),
             text ? text : "");
        return;
    }
    if (s != want) {
        fail(r, line, name, "%s: got %s at offset %zu: %s; expected %s \"%s\"", file,
             wa_status_str(s), err.offset, err.message, wa_status_str(want), text ? text : "");
        return;
    }
    if (r->verbose)
        printf("ok %s:%u: %s: %s at offset %zu: %s (expected \"%s\")\n", r->wast, line, name,
               wa_status_str(s), err.offset, err.message, text ? text : "");
    pass(r, line, name);
}

/* assert_unlinkable / assert_uninstantiable: loads, but instantiation fails with `want`. */
static void cmd_assert_inst_fails(runner_t *r, const sw_json_t *c, unsigned line,
                                  const char *name, wa_status_t want)
{
    const char *file = sw_json_get_str(c, "filename", NULL);
    const char *text = sw_json_get_str(c, "text", NULL);
    wa_module_t *m = NULL;
    wa_error_t err;
    if (!file) {
        fail(r, line, name, "has no filename");
        return;
    }
    if (load_module(r, file, &m, &err) != WA_OK) {
        fail(r, line, name, "%s: load failed: %s at offset %zu: %s", file,
             wa_status_str(err.status), err.offset, err.message);
        return;
    }
    wa_instance_t *inst = NULL;
    memset(&err, 0, sizeof(err));
    wa_status_t s = wa_instance_new(m, r->linker, NULL, &inst, &err);
    wa_module_unref(m);
    if (s == WA_OK) {
        /* Kept alive: its functions may already sit in shared tables. */
        if (keep_instance(r, inst) != 0)
            wa_instance_free(inst);
        fail(r, line, name, "%s instantiated, expected %s \"%s\"", file, wa_status_str(want),
             text ? text : "");
        return;
    }
    if (s != want) {
        fail(r, line, name, "%s: got %s: %s; expected %s \"%s\"", file, wa_status_str(s),
             err.message, wa_status_str(want), text ? text : "");
        return;
    }
    pass(r, line, name);
}

static void run_command(runner_t *r, const sw_json_t *c)
{
    const char *type = sw_json_get_str(c, "type", NULL);
    const sw_json_t *ln = sw_json_get(c, "line");
    unsigned line = ln && ln->kind == SW_JSON_NUMBER ? (unsigned)strtoul(ln->str, NULL, 10) : 0;
    if (!type) {
        fail(r, line, "?", "command without a type");
    } else if (strcmp(type, "module") == 0) {
        cmd_module(r, c, line);
    } else if (strcmp(type, "register") == 0) {
        cmd_register(r, c, line);
    } else if (strcmp(type, "action") == 0) {
        cmd_assert_return(r, c, line, false);
    } else if (strcmp(type, "assert_return") == 0) {
        cmd_assert_return(r, c, line, true);
    } else if (strcmp(type, "assert_trap") == 0) {
        if (sw_json_get(c, "action"))
            cmd_assert_trap(r, c, line, type, WA_TRAP_NONE);
        else /* the older form of a module whose start function traps */
            cmd_assert_inst_fails(r, c, line, type, WA_ERR_UNINSTANTIABLE);
    } else if (strcmp(type, "assert_exhaustion") == 0) {
        cmd_assert_trap(r, c, line, type, WA_TRAP_STACK_EXHAUSTED);
    } else if (strcmp(type, "assert_invalid") == 0) {
        cmd_assert_load_fails(r, c, line, type, WA_ERR_INVALID);
    } else if (strcmp(type, "assert_malformed") == 0) {
        cmd_assert_load_fails(r, c, line, type, WA_ERR_MALFORMED);
    } else if (strcmp(type, "assert_unlinkable") == 0) {
        cmd_assert_inst_fails(r, c, line, type, WA_ERR_UNLINKABLE);
    } else if (strcmp(type, "assert_uninstantiable") == 0) {
        cmd_assert_inst_fails(r, c, line, type, WA_ERR_UNINSTANTIABLE);
    } else {
        fail(r, line, type, "unknown command type");
    }
    fflush(stdout); /* a crash later must not lose what was already reported */
}

static void runner_dispose(runner_t *r)
{
    wa_linker_free(r->linker); /* drops its references before the instances go */
    for (size_t i = r->ninsts; i-- > 0;)
        wa_instance_free(r->insts[i]);
    free(r->insts);
    for (size_t i = 0; i < r->nnames; i++)
        free(r->names[i].name);
    free(r->names);
    for (size_t i = 0; i < r->nknown; i++) {
        free(r->known[i].file);
        free(r->known[i].reason);
    }
    free(r->known);
}

/* The .wast name failures print: the script's source_filename, else the JSON's own name. */
static void set_wast_name(runner_t *r, const sw_json_t *root, const char *json_path)
{
    const char *src = sw_json_get_str(root, "source_filename", NULL);
    const char *base = src ? src : json_path;
    const char *slash = strrchr(base, '/');
    snprintf(r->wast, sizeof(r->wast), "%s", slash ? slash + 1 : base);
    if (!src) {
        char *dot = strrchr(r->wast, '.');
        if (dot && strcmp(dot, ".json") == 0 && (size_t)(dot - r->wast) + 6 <= sizeof(r->wast))
            strcpy(dot, ".wast");
    }
}

int sw_cmd_spec(int argc, char **argv)
{
    runner_t r;
    memset(&r, 0, sizeof(r));
    const char *known_path = NULL, *json_path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--known") == 0 && i + 1 < argc) {
            known_path = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0) {
            r.verbose = true;
        } else if (argv[i][0] == '-' || json_path) {
            fprintf(stderr, "usage: sluice-wasm spec [--known FILE] [-v] FILE.json\n");
            return SW_EXIT_USAGE;
        } else {
            json_path = argv[i];
        }
    }
    if (!json_path) {
        fprintf(stderr, "usage: sluice-wasm spec [--known FILE] [-v] FILE.json\n");
        return SW_EXIT_USAGE;
    }
    uint8_t *text = NULL;
    size_t len = 0;
    if (sw_read_file(json_path, &text, &len) != 0)
        return SW_EXIT_FAIL;
    char err[256];
    sw_json_doc_t *doc = sw_json_parse((const char *)text, len, err, sizeof(err));
    free(text);
    if (!doc) {
        fprintf(stderr, "sluice-wasm spec: %s: %s\n", json_path, err);
        return SW_EXIT_FAIL;
    }
    const sw_json_t *cmds = sw_json_get(sw_json_root(doc), "commands");
    if (!cmds || cmds->kind != SW_JSON_ARRAY) {
        fprintf(stderr, "sluice-wasm spec: %s: no \"commands\" array\n", json_path);
        sw_json_free(doc);
        return SW_EXIT_FAIL;
    }
    char *dir = strdup(json_path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    r.dir = slash ? dir : ".";
    set_wast_name(&r, sw_json_root(doc), json_path);
    if (known_path)
        load_known(&r, known_path);
    r.linker = wa_linker_new();
    if (!r.linker || define_spectest(r.linker) != 0) {
        fprintf(stderr, "sluice-wasm spec: cannot define the spectest module\n");
        runner_dispose(&r);
        sw_json_free(doc);
        free(dir);
        return SW_EXIT_FAIL;
    }
    for (size_t i = 0; i < cmds->len; i++)
        run_command(&r, cmds->items[i]);
    for (size_t i = 0; i < r.nknown; i++)
        if (!r.known[i].seen && strcmp(r.known[i].file, r.wast) == 0)
            printf("STALE %s:%u: listed in known failures, but no command is on that line\n",
                   r.wast, r.known[i].line);
    printf("%u passed, %u failed, %u skipped, %u known, %u fixed (%s)\n", r.passed, r.failed,
           r.skipped, r.known_hits, r.fixed, r.wast);
    int rc = r.failed ? SW_EXIT_FAIL : SW_EXIT_OK;
    runner_dispose(&r);
    sw_json_free(doc);
    free(dir);
    return rc;
}
