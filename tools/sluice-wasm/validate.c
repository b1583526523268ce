/* `sluice-wasm validate FILE.wasm`: decodes and validates a module (the engine's full load)
 * and reports the first rule it breaks with its byte offset. */
#include "sw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sw_cmd_validate(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: sluice-wasm validate FILE.wasm\n");
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
    err.func_index = UINT32_MAX;
    wa_status_t s = wa_module_load(bytes, len, &m, &err);
    free(bytes);
    if (s != WA_OK) {
        if (err.func_index != UINT32_MAX)
            fprintf(stderr, "%s: %s at offset %zu (0x%zx), function %u: %s\n", path,
                    wa_status_str(s), err.offset, err.offset, err.func_index, err.message);
        else
            fprintf(stderr, "%s: %s at offset %zu (0x%zx): %s\n", path, wa_status_str(s),
                    err.offset, err.offset, err.message);
        return SW_EXIT_FAIL;
    }
    wa_module_unref(m);
    printf("%s: valid (%zu bytes)\n", path, len);
    return SW_EXIT_OK;
}
