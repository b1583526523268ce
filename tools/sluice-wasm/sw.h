/* Shared declarations of the sluice-wasm tool: one entry point per subcommand, and the few
 * helpers more than one subcommand uses (reading a file, value text, printing values). */
#ifndef SLUICE_WASM_TOOL_SW_H
#define SLUICE_WASM_TOOL_SW_H

#include "sluice/wasm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes shared by every subcommand. */
enum { SW_EXIT_OK = 0, SW_EXIT_FAIL = 1, SW_EXIT_USAGE = 2 };

/* Each takes the arguments after the subcommand name and returns the process exit code. */
int sw_cmd_validate(int argc, char **argv);
int sw_cmd_inspect(int argc, char **argv);
int sw_cmd_run(int argc, char **argv);
int sw_cmd_spec(int argc, char **argv);

/* Reads a whole file into *out (owned by the caller, free()). On failure prints
 * "sluice-wasm: PATH: why" to stderr and returns -1. */
int sw_read_file(const char *path, uint8_t **out, size_t *len);

const char *sw_valtype_str(wa_valtype_t t);
/* Prints v of type t as the user reads it (integers signed, floats with %g and their bits). */
void sw_print_value(wa_valtype_t t, wa_value_t v);
/* Parses a value given on the command line for type t: integers in decimal or 0x hex,
 * floats as C float text (inf, nan) or as raw bits "0x..." prefixed with "bits:". */
int sw_parse_value(wa_valtype_t t, const char *s, wa_value_t *out);

#endif
