/* The nstyle CLI's skeleton: --help, --version (the build's version, OpenBLAS's), info, and
 * exit codes (0 success, 1 failure, 2 usage error) with errors on stderr. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_files.h"
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

/* The version is the one the configure settled (BUILD/VERSION, cmake/NstVersion.cmake: git's,
 * or -DNST_VERSION, or the VERSION file), alone on the first line; OpenBLAS is the one
 * pkg-config found, with the kernels in use; then OpenMP and the compiler. */
Test(cli, version_names_the_build) {
    cr_assert_eq(RUN("--version"), 0);
    size_t n = 0;
    char *file = (char *)nst_test_read_bytes(NST_VERSION_FILE, &n);
    cr_assert(file && n > 1 && file[n - 1] == '\n', "%s is not one line", NST_VERSION_FILE);
    file[n] = '\0'; /* nst_test_read_bytes leaves a byte for it */
    char first[512];
    snprintf(first, sizeof first, "nstyle %s", file);
    cr_assert(strncmp(out, first, strlen(first)) == 0, "want '%s' first:\n%s", first, out);
    cr_assert_str_eq(nst_get_build_info().version, nst_test_cli_version());
    free(file);
    char version_out[sizeof out], kernels[64] = "";
    snprintf(version_out, sizeof version_out, "%s", out);
    /* the kernels `nstyle info` says are in use (the CLI may have chosen them itself) */
    cr_assert_eq(RUN("info"), 0, "%s", err);
    const char *k = strstr(out, "OpenBLAS kernels: ");
    cr_assert(k && sscanf(k, "OpenBLAS kernels: %63s", kernels) == 1, "%s", out);
    char blas[128];
    snprintf(blas, sizeof blas, "\nOpenBLAS: %s, kernels %s", NST_OPENBLAS_PKG_VERSION, kernels);
    cr_assert(strstr(version_out, blas) != NULL, "want '%s':\n%s", blas + 1, version_out);
    cr_assert(strstr(version_out, "\nOpenMP: ") && strstr(version_out, "\nCompiler: "), "%s",
              version_out);
    snprintf(out, sizeof out, "%s", version_out);
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
