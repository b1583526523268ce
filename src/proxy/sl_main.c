/* The sluice binary: parses Envoy-style command-line flags and runs the server (or only
 * validates the configuration). Exit codes: 0 ok, 1 configuration/start error, 2 usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sl_log.h"
#include "proxy/sl_server.h"

static void usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s -c FILE.yaml [options]\n"
            "\n"
            "  -c, --config-path FILE     the configuration (Envoy v3 YAML subset)\n"
            "      --concurrency N        worker threads (default: number of cores)\n"
            "  -l, --log-level LEVEL      trace, debug, info, warning, error, critical, off\n"
            "                             (default info)\n"
            "      --mode serve|validate  validate: load and check the configuration, exit 0\n"
            "                             when valid, 1 with the errors otherwise\n"
            "      --drain-time-s N       on SIGTERM/SIGINT, wait up to N s for in-flight\n"
            "                             requests before exiting (default 5)\n"
            "      --help                 this text\n"
            "      --version              the version\n"
            "\n"
            "environment: SLUICE_WASM_NATIVE=0 runs plugins in the interpreter alone\n"
            "(no machine code is made from them); SLUICE_WASM_PERF_MAP=1 names each\n"
            "plugin function's machine code in /tmp/perf-PID.map, for perf\n",
            argv0);
}

static bool parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

int main(int argc, char **argv)
{
    enum { OPT_CONCURRENCY = 256, OPT_MODE, OPT_DRAIN, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        {"config-path", required_argument, NULL, 'c'},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"log-level", required_argument, NULL, 'l'},
        {"mode", required_argument, NULL, OPT_MODE},
        {"drain-time-s", required_argument, NULL, OPT_DRAIN},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    sl_server_options_t opt = {.log_level = SL_LOG_INFO, .drain_time_s = 5};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:l:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt.config_path = optarg;
            break;
        case 'l':
            if (!sl_log_level_parse(optarg, &opt.log_level)) {
                fprintf(stderr, "error: unknown log level '%s'\n", optarg);
                usage(stderr, argv[0]);
                return 2;
            }
            break;
        case OPT_CONCURRENCY:
            if (!parse_uint(optarg, 1024, &opt.concurrency) || opt.concurrency == 0) {
                fprintf(stderr, "error: --concurrency needs a number from 1 to 1024, not '%s'\n",
                        optarg);
                usage(stderr, argv[0]);
                return 2;
            }
            break;
        case OPT_MODE:
            if (strcmp(optarg, "validate") == 0) {
                opt.validate_only = true;
            } else if (strcmp(optarg, "serve") == 0) {
                opt.validate_only = false;
            } else {
                fprintf(stderr, "error: --mode is serve or validate, not '%s'\n", optarg);
                usage(stderr, argv[0]);
                return 2;
            }
            break;
        case OPT_DRAIN:
            if (!parse_uint(optarg, 86400, &opt.drain_time_s)) {
                fprintf(stderr, "error: --drain-time-s needs a number of seconds, not '%s'\n",
                        optarg);
                usage(stderr, argv[0]);
                return 2;
            }
            break;
        case 'h':
        case OPT_HELP:
            usage(stdout, argv[0]);
            return 0;
        case OPT_VERSION:
            printf("sluice version " SL_VERSION "\n");
            return 0;
        case ':':
            fprintf(stderr, "error: option '%s' needs a value\n", argv[optind - 1]);
            usage(stderr, argv[0]);
            return 2;
        default:
            fprintf(stderr, "error: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        usage(stderr, argv[0]);
        return 2;
    }
    if (!opt.config_path) {
        fprintf(stderr, "error: a configuration is required (-c FILE.yaml)\n");
        usage(stderr, argv[0]);
        return 2;
    }
    return sl_server_run(&opt);
}
