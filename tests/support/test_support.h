/* Shared helpers for the Criterion tests: seeded random data, naive-vs-op comparisons,
 * finite differences, and the paths of the data folder and the CLI. */
#ifndef NSTYLE_TEST_SUPPORT_H
#define NSTYLE_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nstyle/nstyle.h"

/* Deterministic generator (splitmix64). */
typedef struct {
    uint64_t state;
} nst_test_rng;

nst_test_rng nst_test_rng_seed(uint64_t seed);
uint64_t nst_test_rng_next(nst_test_rng *r);
double nst_test_rng_uniform(nst_test_rng *r, double lo, double hi); /* [lo, hi) */
void nst_test_fill_uniform(nst_test_rng *r, float *x, size_t n, float lo, float hi);

/* ../shared/data next to the checkout, or NULL when absent (tests then skip, saying why). */
const char *nst_test_shared_data(void);
/* Path of a file inside the shared data folder into buf; false when the folder is absent. */
bool nst_test_shared_path(const char *rel, char *buf, size_t size);
/* A fresh empty temporary directory (mkdtemp), removed with all it holds when the test's
 * process exits (at most 32 per test). It is made inside $NST_TEST_TMPROOT, the folder of the
 * run that tests/support/test_main.c makes and removes at the end (so a crash leaves nothing
 * either), else in $TMPDIR or /tmp. */
void nst_test_tmpdir(char *buf, size_t size);

/* Compares n floats: every element within atol + rtol*|ref|, no NaN/inf mismatch. On failure
 * prints the first few mismatches to stderr with `what` and returns false. */
bool nst_test_allclose(const char *what, const float *got, const double *ref, size_t n,
                       double atol, double rtol);
bool nst_test_allclose_f(const char *what, const float *got, const float *ref, size_t n,
                         double atol, double rtol);

/* A context on the CPU backend that fails the test if it cannot be created, with a scratch region
 * of NST_TEST_SCRATCH_BYTES for ops run one at a time. */
#define NST_TEST_SCRATCH_BYTES ((size_t)256 << 20)
nst_ctx *nst_test_cpu_ctx(void);
/* The same without the scratch region, for tests that count the tracker's bytes. */
nst_ctx *nst_test_bare_cpu_ctx(void);
/* A context on cuda:0. Skips the test, saying why, only when there is no GPU: a CPU-only build,
 * or nst_list_gpus answers NST_ERR_NO_DEVICE (no driver, no device) on a machine whose kernel
 * shows no NVIDIA device node either. Any other failure (a listed GPU that does not open, a
 * driver that refuses a device it has) fails the test. */
nst_ctx *nst_test_cuda_ctx(void);
/* Asserts that the status s is want and that the context's last message names op and holds
 * needle (an argument name, a shape, a value). */
void nst_test_expect_status(nst_ctx *ctx, nst_status s, nst_status want, const char *op,
                            const char *needle);

/* Central finite differences in double precision: grad[k] = (f(x + h e_i) - f(x - h e_i)) / 2h
 * for i = idx[k] (or for every i < n when idx is NULL, then n_idx is ignored and grad has n
 * entries). x is restored afterwards. f is a double-precision (naive) forward reduced to a
 * scalar, typically sum(w * op(x)) with fixed random w, so the op's backward with dy = w must
 * equal grad. */
typedef double (*nst_test_scalar_fn)(const double *x, void *user);
void nst_test_fd_grad(nst_test_scalar_fn f, void *user, double *x, size_t n, double h,
                      const size_t *idx, size_t n_idx, double *grad);

/* Runs the built nstyle CLI with argv (NULL-terminated, without the program name) and returns
 * its exit code (-1 if it did not exit normally). Its stdout and stderr are captured into
 * out/err (NUL-terminated, truncated to size) when those are not NULL. */
int nst_test_run_cli(const char *const *args, char *out, size_t out_size, char *err,
                     size_t err_size);
/* The same for another program (a copy of the CLI placed elsewhere). */
int nst_test_run_program(const char *program, const char *const *args, char *out,
                         size_t out_size, char *err, size_t err_size);

/* The version the built nstyle reports: its `--version` output's first line, "nstyle VERSION",
 * without "nstyle " (the test fails unless the line has that form). */
const char *nst_test_cli_version(void);
/* Fails the test (cr_expect) unless the JSON summary json holds the field "nstyle_version" with
 * exactly nst_test_cli_version(). */
void nst_test_expect_json_version(const char *json);

/* Starts the built nstyle CLI with args (NULL-terminated, without the program name), stdout to
 * /dev/null and stderr on a pipe, and returns its pid once its first stderr line has come (the
 * test fails unless that line holds `first`); *fd is the pipe's read end. */
int nst_test_start_cli(const char *const *args, const char *first, int *fd);
/* Drains fd (so the child never blocks on stderr), closes it and returns pid's wait status. */
int nst_test_wait_cli(int pid, int fd);

#endif
