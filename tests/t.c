/* The unit-test runner: every registered case runs in a forked child with a time limit, so
 * a crash or a hang fails that case alone. Usage: TEST_BINARY [case-name-substring]. */
#include "t.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_MAX_CASES 1024

static struct {
    const char *name;
    const char *file;
    t_fn_t fn;
} cases[T_MAX_CASES];
static int ncases;

void t_register(const char *name, t_fn_t fn, const char *file)
{
    if (ncases == T_MAX_CASES) {
        fprintf(stderr, "t: more than %d cases\n", T_MAX_CASES);
        exit(2);
    }
    cases[ncases].name = name;
    cases[ncases].fn = fn;
    cases[ncases].file = file;
    ncases++;
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

static int run_case(int i, unsigned timeout_s)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        alarm(timeout_s);
        cases[i].fn();
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 1;
    if (WIFSIGNALED(st))
        fprintf(stderr, "  %s: killed by signal %d%s\n", cases[i].name, WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    return 0;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *tmo = getenv("T_TIMEOUT_S");
    unsigned timeout_s = tmo ? (unsigned)atoi(tmo) : 60;
    int passed = 0, failed = 0;
    for (int i = 0; i < ncases; i++) {
        if (filter && !strstr(cases[i].name, filter))
            continue;
        if (run_case(i, timeout_s)) {
            passed++;
            printf("ok %s\n", cases[i].name);
        } else {
            failed++;
            printf("not ok %s (%s)\n", cases[i].name, cases[i].file);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
