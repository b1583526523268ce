/* `sluice-wasm run`: runs a WASI command module's _start with the host's stdio, or calls one
 * export with values from the command line, under optional fuel and deadline limits. */
#include "sluice/wasi.h"
#include "sw.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit codes of a run that did not end by the program's own choice. */
enum { RUN_EXIT_LIMIT = 124 /* fuel or deadline, as timeout(1) */, RUN_EXIT_TRAP = 134 };

#define MAX_ENV 256

typedef struct run_opts {
    const char *invoke;   /* borrowed from argv: export to call instead of _start */
    uint64_t fuel;
    uint64_t deadline_ms;
    uint32_t max_pages;
    const char *env[MAX_ENV]; /* borrowed from argv */
    size_t envc;
    const char *file;     /* borrowed from argv */
    char **rest;          /* borrowed: program arguments or invoke values */
    int nrest;
} run_opts_t;

static int run_usage(void)
{
    fprintf(stderr, "usage: sluice-wasm run [--fuel N] [--deadline-ms N] [--env NAME=VALUE] "
                    "[--max-pages N] [--invoke NAME] FILE.wasm [ARGS or VALUES...]\n");
    return SW_EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* Options come before FILE; everything after FILE belongs to the program. */
static int parse_opts(int argc, char **argv, run_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        uint64_t v;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--invoke") == 0 && has_val) {
            o->invoke = argv[++i];
        } else if (strcmp(a, "--fuel") == 0 && has_val) {
            if (parse_u64(argv[++i], &o->fuel) != 0 || o->fuel == 0)
                return -1;
        } else if (strcmp(a, "--deadline-ms") == 0 && has_val) {
            if (parse_u64(argv[++i], &o->deadline_ms) != 0 || o->deadline_ms == 0)
                return -1;
        } else if (strcmp(a, "--max-pages") == 0 && has_val) {
            if (parse_u64(argv[++i], &v) != 0 || v == 0 || v > 65536)
                return -1;
            o->max_pages = (uint32_t)v;
        } else if (strcmp(a, "--env") == 0 && has_val) {
            if (!strchr(argv[i + 1], '=') || o->envc == MAX_ENV)
                return -1;
            o->env[o->envc++] = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return -1;
        } else {
            break;
        }
    }
    if (i >= argc)
        return -1;
    o->file = argv[i];
    o->rest = argv + i + 1;
    o->nrest = argc - i - 1;
    return 0;
}

static void print_trap(const char *file, const wa_trap_t *t)
{
    fprintf(stderr, "sluice-wasm: %s: trap: %s", file, wa_trap_kind_str(t->kind));
    if (t->message[0] && strcmp(t->message, wa_trap_kind_str(t->kind)) != 0)
        fprintf(stderr, ": %s", t->message);
    if (t->func_index != UINT32_MAX)
        fprintf(stderr, " (function %u, offset %u)", t->func_index, t->code_offset);
    fprintf(stderr, "\n");
}

/* Maps the end of a call to the process exit code. */
static int call_exit_code(const char *file, wa_status_t s, const wa_trap_t *t)
{
    if (s == WA_OK)
        return SW_EXIT_OK;
    if (s != WA_ERR_TRAP) {
        fprintf(stderr, "sluice-wasm: %s: call failed: %s\n", file, wa_status_str(s));
        return SW_EXIT_FAIL;
    }
    if (t->kind == WA_TRAP_EXIT)
        return t->exit_code;
    print_trap(file, t);
    return t->kind == WA_TRAP_FUEL || t->kind == WA_TRAP_DEADLINE ? RUN_EXIT_LIMIT
                                                                   : RUN_EXIT_TRAP;
}

static int invoke(const run_opts_t *o, wa_instance_t *inst, const wa_call_limits_t *lim)
{
    wa_func_t *f = wa_instance_func(inst, o->invoke);
    if (!f) {
        fprintf(stderr, "sluice-wasm: %s: no exported function \"%s\"\n", o->file, o->invoke);
        return SW_EXIT_FAIL;
    }
    wa_functype_t ft;
    wa_func_type(f, &ft);
    if ((uint32_t)o->nrest != ft.nparams) {
        fprintf(stderr, "sluice-wasm: %s: \"%s\" takes %u values, %d given\n", o->file,
                o->invoke, ft.nparams, o->nrest);
        return SW_EXIT_USAGE;
    }
    wa_value_t args[WA_MAX_FUNC_VALUES], results[WA_MAX_FUNC_VALUES];
    if (ft.nparams > WA_MAX_FUNC_VALUES || ft.nresults > WA_MAX_FUNC_VALUES)
        return SW_EXIT_FAIL;
    for (uint32_t i = 0; i < ft.nparams; i++) {
        if (sw_parse_value(ft.params[i], o->rest[i], &args[i]) != 0) {
            fprintf(stderr, "sluice-wasm: value %u \"%s\" is not a valid %s\n", i + 1,
                    o->rest[i], sw_valtype_str(ft.params[i]));
            return SW_EXIT_USAGE;
        }
    }
    wa_trap_t trap;
    memset(&trap, 0, sizeof(trap));
    wa_status_t s = wa_call(f, args, ft.nparams, results, ft.nresults, lim, &trap);
    if (s != WA_OK)
        return call_exit_code(o->file, s, &trap);
    for (uint32_t i = 0; i < ft.nresults; i++) {
        sw_print_value(ft.results[i], results[i]);
        printf("\n");
    }
    return SW_EXIT_OK;
}

int sw_cmd_run(int argc, char **argv)
{
    run_opts_t o;
    if (parse_opts(argc, argv, &o) != 0)
        return run_usage();
    int rc = SW_EXIT_FAIL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    wa_module_t *m = NULL;
    wa_linker_t *l = NULL;
    wa_wasi_t *wasi = NULL;
    wa_instance_t *inst = NULL;
    wa_error_t err;
    memset(&err, 0, sizeof(err));
    if (sw_read_file(o.file, &bytes, &len) != 0)
        return SW_EXIT_FAIL;
    wa_status_t s = wa_module_load(bytes, len, &m, &err);
    free(bytes);
    if (s != WA_OK) {
        fprintf(stderr, "sluice-wasm: %s: %s at offset %zu: %s\n", o.file, wa_status_str(s),
                err.offset, err.message);
        return SW_EXIT_FAIL;
    }
    /* The program sees FILE as argv[0], then its arguments (not for --invoke). */
    const char *args[1 + 4096];
    size_t nargs = 0;
    args[nargs++] = o.file;
    for (int i = 0; !o.invoke && i < o.nrest && nargs < sizeof(args) / sizeof(args[0]); i++)
        args[nargs++] = o.rest[i];
    wa_wasi_config_t cfg = {.argc = nargs, .argv = args, .envc = o.envc, .env = o.env,
                            .stdin_fd = STDIN_FILENO, .stdout_fd = STDOUT_FILENO,
                            .stderr_fd = STDERR_FILENO};
    l = wa_linker_new();
    if (!l || wa_wasi_new(&cfg, &wasi) != WA_OK || wa_wasi_define(wasi, l) != WA_OK) {
        fprintf(stderr, "sluice-wasm: out of memory\n");
        goto out;
    }
    wa_instance_limits_t ilim = {.max_memory_pages = o.max_pages};
    s = wa_instance_new(m, l, &ilim, &inst, &err);
    if (s != WA_OK) {
        fprintf(stderr, "sluice-wasm: %s: %s: %s\n", o.file, wa_status_str(s), err.message);
        goto out;
    }
    wa_call_limits_t lim = {.fuel = o.fuel,
                            .deadline_ns = o.deadline_ms ? wa_now_ns() + o.deadline_ms * 1000000u
                                                         : 0};
    if (o.invoke) {
        /* A WASI reactor sets itself up in _initialize before any other export runs. */
        wa_func_t *init = wa_instance_func(inst, "_initialize");
        wa_trap_t trap;
        memset(&trap, 0, sizeof(trap));
        if (init && (s = wa_call(init, NULL, 0, NULL, 0, &lim, &trap)) != WA_OK) {
            rc = call_exit_code(o.file, s, &trap);
            goto out;
        }
        rc = invoke(&o, inst, &lim);
    } else {
        wa_func_t *start = wa_instance_func(inst, "_start");
        if (!start) {
            fprintf(stderr, "sluice-wasm: %s: no _start export (not a WASI command; "
                            "use --invoke NAME)\n", o.file);
            goto out;
        }
        wa_trap_t trap;
        memset(&trap, 0, sizeof(trap));
        s = wa_call(start, NULL, 0, NULL, 0, &lim, &trap);
        rc = call_exit_code(o.file, s, &trap);
    }
out:
    fflush(stdout);
    wa_instance_free(inst);
    wa_linker_free(l);
    wa_wasi_free(wasi);
    wa_module_unref(m);
    return rc;
}
