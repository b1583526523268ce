/* sluice-wasm: the command line front of sluice's WebAssembly engine. Dispatches to one
 * subcommand per file (validate, inspect, run, spec) and owns the usage text. */
#include "sw.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: sluice-wasm COMMAND [OPTIONS] ...\n"
    "\n"
    "commands:\n"
    "  validate FILE.wasm          decode and validate; exit 0, or print the byte offset\n"
    "                              and the rule broken and exit 1\n"
    "  inspect FILE.wasm           print imports, exports (with types), memories, tables,\n"
    "                              globals and sizes\n"
    "  run [OPTIONS] FILE.wasm [ARGS...]\n"
    "                              run a WASI command (its _start export) with ARGS; the\n"
    "                              program's stdout, stderr and exit code are its own\n"
    "  run [OPTIONS] --invoke NAME FILE.wasm [VALUES...]\n"
    "                              call export NAME with VALUES and print its results\n"
    "  spec [--known FILE] [-v] FILE.json\n"
    "                              run one wast2json script of the WebAssembly spec suite\n"
    "\n"
    "run options:\n"
    "  --fuel N                    stop the call after about N loop iterations and calls\n"
    "  --deadline-ms N             stop the call after N milliseconds\n"
    "  --env NAME=VALUE            set in the program's environment, which holds only\n"
    "                              these (repeatable)\n"
    "  --max-pages N               cap linear memory at N 64 KiB pages\n"
    "\n"
    "exit status: 0 success; 1 failure (a module that does not load or link, a failed\n"
    "spec command); 2 bad usage. `run` exits with the program's own code, 124 when fuel\n"
    "or the deadline stopped it, 134 when it trapped.\n"
    "\n"
    "environment: SLUICE_WASM_NATIVE=0 runs modules in the interpreter alone (no machine\n"
    "code is made from them); SLUICE_WASM_PERF_MAP=1 names each function's machine code in\n"
    "/tmp/perf-PID.map, for perf\n";

static void usage(FILE *f)
{
    fputs(usage_text, f);
}

int sw_read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sluice-wasm: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 64 * 1024, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf || ferror(f)) {
        fprintf(stderr, "sluice-wasm: %s: %s\n", path, buf ? "read error" : "out of memory");
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

const char *sw_valtype_str(wa_valtype_t t)
{
    switch (t) {
    case WA_I32: return "i32";
    case WA_I64: return "i64";
    case WA_F32: return "f32";
    case WA_F64: return "f64";
    case WA_FUNCREF: return "funcref";
    case WA_EXTERNREF: return "externref";
    }
    return "?";
}

void sw_print_value(wa_valtype_t t, wa_value_t v)
{
    switch (t) {
    case WA_I32: printf("%" PRId32, v.i32); break;
    case WA_I64: printf("%" PRId64, v.i64); break;
    case WA_F32: printf("%.9g", (double)v.f32); break;
    case WA_F64: printf("%.17g", v.f64); break;
    case WA_FUNCREF: printf(v.funcref ? "funcref:%p" : "null", (void *)v.funcref); break;
    case WA_EXTERNREF:
        if (v.externref)
            printf("externref:%" PRIuPTR, v.externref);
        else
            printf("null");
        break;
    }
}

int sw_parse_value(wa_valtype_t t, const char *s, wa_value_t *out)
{
    char *end = NULL;
    memset(out, 0, sizeof(*out));
    errno = 0;
    if (strncmp(s, "bits:", 5) == 0 && (t == WA_F32 || t == WA_F64)) {
        unsigned long long b = strtoull(s + 5, &end, 0);
        if (errno || end == s + 5 || *end || (t == WA_F32 && b > UINT32_MAX))
            return -1;
        if (t == WA_F32)
            out->f32_bits = (uint32_t)b;
        else
            out->f64_bits = b;
        return 0;
    }
    switch (t) {
    case WA_I32: {
        long long v = strtoll(s, &end, 0);
        if (s[0] == '\0' || *end || errno || v < INT32_MIN || v > UINT32_MAX)
            return -1;
        out->i32 = (int32_t)(uint32_t)v;
        return 0;
    }
    case WA_I64: {
        if (s[0] == '-') {
            long long v = strtoll(s, &end, 0);
            if (*end || errno)
                return -1;
            out->i64 = v;
        } else {
            unsigned long long v = strtoull(s, &end, 0);
            if (s[0] == '\0' || *end || errno)
                return -1;
            out->i64 = (int64_t)v;
        }
        return 0;
    }
    case WA_F32: {
        float v = strtof(s, &end);
        if (s[0] == '\0' || *end)
            return -1;
        out->f32 = v;
        return 0;
    }
    case WA_F64: {
        double v = strtod(s, &end);
        if (s[0] == '\0' || *end)
            return -1;
        out->f64 = v;
        return 0;
    }
    case WA_FUNCREF:
        if (strcmp(s, "null") != 0)
            return -1; /* only the null funcref can be written on a command line */
        out->funcref = NULL;
        return 0;
    case WA_EXTERNREF: {
        if (strcmp(s, "null") == 0)
            return 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (s[0] == '\0' || *end || errno || v == UINTPTR_MAX)
            return -1;
        out->externref = (uintptr_t)v + 1; /* the same "N + 1" word the spec runner uses */
        return 0;
    }
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SW_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return SW_EXIT_OK;
    }
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        usage(stdout); /* `sluice-wasm COMMAND --help` */
        return SW_EXIT_OK;
    }
    if (strcmp(cmd, "validate") == 0)
        return sw_cmd_validate(argc - 2, argv + 2);
    if (strcmp(cmd, "inspect") == 0)
        return sw_cmd_inspect(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0)
        return sw_cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "spec") == 0)
        return sw_cmd_spec(argc - 2, argv + 2);
    fprintf(stderr, "sluice-wasm: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return SW_EXIT_USAGE;
}
