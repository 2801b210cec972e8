/* The nstyle CLI's skeleton: --help, --version, info, and exit codes (0 success, 1 failure,
 * 2 usage error) with errors on stderr. */
#include <criterion/criterion.h>
#include <string.h>

#include "test_support.h"

static char out[16384], err[16384];

#define RUN(...) nst_test_run_cli((const char *const[]){__VA_ARGS__, NULL}, out, sizeof out, err, sizeof err)

Test(cli, help_lists_commands_and_exit_codes) {
    cr_assert_eq(RUN("--help"), 0);
    cr_assert(strstr(out, "Usage: nstyle") != NULL, "%s", out);
    cr_assert(strstr(out, "info") != NULL);
    cr_assert(strstr(out, "Exit status") != NULL);
    cr_assert_str_empty(err);
    cr_assert_eq(RUN("help"), 0);
    cr_assert(strstr(out, "Usage: nstyle") != NULL);
}

Test(cli, version_names_the_build) {
    cr_assert_eq(RUN("--version"), 0);
    cr_assert(strncmp(out, "nstyle " NST_VERSION_STRING, strlen("nstyle " NST_VERSION_STRING)) == 0,
              "%s", out);
#ifdef NST_HAVE_CUDA
    cr_assert(strstr(out, "CUDA runtime") != NULL, "%s", out);
#else
    cr_assert(strstr(out, "not built (CPU only)") != NULL, "%s", out);
#endif
}

Test(cli, info_reports_cpu_and_gpus_or_why_not) {
    cr_assert_eq(RUN("info"), 0, "stderr: %s", err);
    cr_assert(strstr(out, "CPU: ") != NULL, "%s", out);
    /* Either a GPU list or the reason there is none: never silence. */
    cr_assert(strstr(out, "GPUs: ") != NULL, "%s", out);
#ifndef NST_HAVE_CUDA
    cr_assert(strstr(out, "built without CUDA") != NULL, "%s", out);
#endif
    cr_assert_eq(RUN("info", "--help"), 0);
    cr_assert(strstr(out, "Usage: nstyle info") != NULL);
}

Test(cli, usage_errors_exit_2_on_stderr) {
    cr_assert_eq(RUN("--no-such-option"), 2);
    cr_assert(strstr(err, "unknown option") != NULL, "%s", err);
    cr_assert_str_empty(out);
    cr_assert_eq(RUN("frobnicate"), 2);
    cr_assert(strstr(err, "unknown command 'frobnicate'") != NULL, "%s", err);
    cr_assert_eq(RUN("info", "--bogus"), 2);
    cr_assert_eq(RUN("info", "extra"), 2);
    cr_assert_eq(nst_test_run_cli(NULL, out, sizeof out, err, sizeof err), 2, "no command");
    cr_assert(strstr(err, "Usage") != NULL);
}
