/* `sluice-wasm inspect FILE.wasm`: prints what a module imports and exports, with types,
 * and its sizes, so a user can see what a plugin needs from its host before running it. */
#include "sw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_limits(wa_limits_desc_t l)
{
    if (l.has_max)
        printf("min %u max %u", l.min, l.max);
    else
        printf("min %u", l.min);
}

static void print_type(const wa_externtype_t *t)
{
    switch (t->kind) {
    case WA_EXTERN_FUNC:
        printf("func (");
        for (uint32_t i = 0; i < t->u.func.nparams; i++)
            printf("%s%s", i ? " " : "", sw_valtype_str(t->u.func.params[i]));
        printf(") -> (");
        for (uint32_t i = 0; i < t->u.func.nresults; i++)
            printf("%s%s", i ? " " : "", sw_valtype_str(t->u.func.results[i]));
        printf(")");
        break;
    case WA_EXTERN_TABLE:
        printf("table %s ", sw_valtype_str(t->u.table.elem));
        print_limits(t->u.table.limits);
        break;
    case WA_EXTERN_MEMORY:
        printf("memory ");
        print_limits(t->u.memory);
        printf(" (pages of 64 KiB)");
        break;
    case WA_EXTERN_GLOBAL:
        printf("global %s%s", t->u.global.mutable_ ? "mut " : "", sw_valtype_str(t->u.global.type));
        break;
    }
}

int sw_cmd_inspect(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: sluice-wasm inspect FILE.wasm\n");
        return SW_EXIT_USAGE;
    }
    const char *path = argv[0];
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (sw_read_file(path, &bytes, &len) != 0)
        return SW_EXIT_FAIL;
    wa_module_t *m = NULL;
    wa_error_t err;
    memset(&err, 0, sizeof(err));
    wa_status_t s = wa_module_load(bytes, len, &m, &err);
    free(bytes);
    if (s != WA_OK) {
        fprintf(stderr, "%s: %s at offset %zu: %s\n", path, wa_status_str(s), err.offset,
                err.message);
        return SW_EXIT_FAIL;
    }
    size_t ni = wa_module_import_count(m), ne = wa_module_export_count(m);
    printf("module %s (%zu bytes)\n", path, len);
    printf("imports (%zu):\n", ni);
    for (size_t i = 0; i < ni; i++) {
        const char *mod, *name;
        wa_externtype_t t;
        if (wa_module_import(m, i, &mod, &name, &t) != WA_OK)
            continue;
        printf("  %s.%s: ", mod, name);
        print_type(&t);
        printf("\n");
    }
    printf("exports (%zu):\n", ne);
    for (size_t i = 0; i < ne; i++) {
        const char *name;
        wa_externtype_t t;
        if (wa_module_export(m, i, &name, &t) != WA_OK)
            continue;
        printf("  %s: ", name);
        print_type(&t);
        printf("\n");
    }
    wa_module_stats_t st;
    memset(&st, 0, sizeof(st));
    wa_module_translate(m); /* to show all the native code, not only what calls have made */
    wa_module_stats(m, &st);
    printf("defined: %u functions, %u types, %u tables, %u memories, %u globals, "
           "%u element segments, %u data segments\n",
           st.funcs, st.types, st.tables, st.memories, st.globals, st.elems, st.datas);
    printf("sizes: %zu code bytes, %zu data bytes, %zu bytes compiled\n", st.code_bytes,
           st.data_bytes, st.compiled_bytes);
    printf("native code: %u of %u functions, %zu bytes\n", st.native_funcs, st.funcs,
           st.native_bytes);
    wa_module_unref(m);
    return SW_EXIT_OK;
}
