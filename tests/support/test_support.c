/* Shared helpers for the Criterion tests (see test_support.h). */
#include "test_support.h"

#include "test_files.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

nst_test_rng nst_test_rng_seed(uint64_t seed) {
    nst_test_rng r = {seed * 0x9e3779b97f4a7c15ull + 1};
    return r;
}

uint64_t nst_test_rng_next(nst_test_rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double nst_test_rng_uniform(nst_test_rng *r, double lo, double hi) {
    double u = (double)(nst_test_rng_next(r) >> 11) * 0x1p-53;
    return lo + (hi - lo) * u;
}

void nst_test_fill_uniform(nst_test_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)nst_test_rng_uniform(r, lo, hi);
}

const char *nst_test_shared_data(void) {
    static char path[4096];
    struct stat st;
    const char *env = getenv("NST_SHARED_DATA");
    const char *dir = env && *env ? env : NST_SHARED_DATA_DIR;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    snprintf(path, sizeof path, "%s", dir);
    return path;
}

bool nst_test_shared_path(const char *rel, char *buf, size_t size) {
    const char *dir = nst_test_shared_data();
    if (!dir)
        return false;
    snprintf(buf, size, "%s/%s", dir, rel);
    return access(buf, R_OK) == 0;
}

/* The folders nst_test_tmpdir made in this process, removed when it exits: Criterion runs each
 * test in a process of its own, so that is the end of the test, whether it passed or failed. */
static char tmp_made[32][1024];
static int n_tmp_made;

static void remove_tmp_made(void) {
    while (n_tmp_made > 0)
        nst_test_remove_tree(tmp_made[--n_tmp_made]);
}

void nst_test_tmpdir(char *buf, size_t size) {
    const char *root = getenv("NST_TEST_TMPROOT"), *base = getenv("TMPDIR");
    if (!(root && *root))
        root = base && *base ? base : "/tmp";
    snprintf(buf, size, "%s/nstyle-test-XXXXXX", root);
    cr_assert_lt(n_tmp_made, (int)(sizeof tmp_made / sizeof *tmp_made), "too many temporary folders");
    cr_assert_lt(strlen(buf), sizeof *tmp_made, "temporary folder path too long: %s", buf);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp failed for %s", buf);
    if (n_tmp_made == 0)
        atexit(remove_tmp_made);
    strcpy(tmp_made[n_tmp_made++], buf);
}

static bool close_enough(double got, double ref, double atol, double rtol) {
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got))
        return got == ref;
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

bool nst_test_allclose(const char *what, const float *got, const double *ref, size_t n,
                       double atol, double rtol) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (close_enough(got[i], ref[i], atol, rtol))
            continue;
        if (bad < 5)
            fprintf(stderr, "%s: element %zu: got %.9g, expected %.9g (|diff| %.3g > %.3g)\n",
                    what, i, got[i], ref[i], fabs(got[i] - ref[i]), atol + rtol * fabs(ref[i]));
        bad++;
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu elements outside atol %.3g + rtol %.3g*|ref|\n", what, bad,
                n, atol, rtol);
    return bad == 0;
}

bool nst_test_allclose_f(const char *what, const float *got, const float *ref, size_t n,
                         double atol, double rtol) {
    double *r = malloc((n ? n : 1) * sizeof *r);
    cr_assert_not_null(r);
    for (size_t i = 0; i < n; i++)
        r[i] = ref[i];
    bool ok = nst_test_allclose(what, got, r, n, atol, rtol);
    free(r);
    return ok;
}

nst_ctx *nst_test_bare_cpu_ctx(void) {
    nst_ctx *ctx = nst_ctx_create();
    cr_assert_not_null(ctx, "nst_ctx_create failed");
    return ctx;
}

nst_ctx *nst_test_cpu_ctx(void) {
    nst_ctx *ctx = nst_ctx_create();
    cr_assert_not_null(ctx, "nst_ctx_create failed");
    /* op scratch for tests that run ops one at a time (pages are touched only where used) */
    cr_assert_eq(nst_ctx_reserve_scratch(ctx, NST_TEST_SCRATCH_BYTES), NST_OK, "%s",
                 nst_last_error(ctx));
    return ctx;
}

nst_ctx *nst_test_cuda_ctx(void) {
#ifndef NST_HAVE_CUDA
    cr_skip_test("CPU-only build (NST_CUDA=OFF or no CUDA toolkit): no CUDA backend to test");
#endif
    nst_gpu_info gpu;
    int count = 0;
    char why[512];
    nst_status s = nst_list_gpus(&gpu, 1, &count, why, sizeof why);
    if (s == NST_ERR_NO_DEVICE && access("/dev/nvidia0", F_OK) != 0)
        cr_skip_test("no GPU on this machine: %s", why);
    cr_assert_eq(s, NST_OK, "a GPU is present (/dev/nvidia0) but cannot be listed: %s: %s",
                 nst_status_name(s), why);
    cr_assert_gt(count, 0, "nst_list_gpus succeeded with no device");
    nst_ctx *ctx = nst_test_cpu_ctx();
    s = nst_ctx_set_device(ctx, "cuda:0");
    cr_assert_eq(s, NST_OK, "cuda:0 (%s) is listed but does not open: %s: %s", gpu.name,
                 nst_status_name(s), nst_last_error(ctx));
    return ctx;
}

void nst_test_expect_status(nst_ctx *ctx, nst_status s, nst_status want, const char *op,
                            const char *needle) {
    const char *msg = nst_last_error(ctx);
    cr_assert_eq(s, want, "%s: status %s, expected %s (%s)", op, nst_status_name(s),
                 nst_status_name(want), msg);
    cr_assert(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    cr_assert(strstr(msg, op) != NULL, "message '%s' does not name %s", msg, op);
}

void nst_test_fd_grad(nst_test_scalar_fn f, void *user, double *x, size_t n, double h,
                      const size_t *idx, size_t n_idx, double *grad) {
    size_t count = idx ? n_idx : n;
    for (size_t k = 0; k < count; k++) {
        size_t i = idx ? idx[k] : k;
        cr_assert_lt(i, n, "finite-difference index %zu out of range %zu", i, n);
        double saved = x[i];
        x[i] = saved + h;
        double up = f(x, user);
        x[i] = saved - h;
        double down = f(x, user);
        x[i] = saved;
        grad[k] = (up - down) / (2.0 * h);
    }
}

static void slurp(FILE *f, char *buf, size_t size) {
    if (!buf || !size)
        return;
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
}

/* argv for execv: the program's path, then args (at most 62). */
static void program_argv(const char *program, const char *const *args, const char **argv) {
    int argc = 0;
    argv[argc++] = program;
    for (; args && args[argc - 1] && argc < 63; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;
}

static void cli_argv(const char *const *args, const char **argv) {
    program_argv(NST_CLI_PATH, args, argv);
}

int nst_test_run_cli(const char *const *args, char *out, size_t out_size, char *err,
                     size_t err_size) {
    return nst_test_run_program(NST_CLI_PATH, args, out, out_size, err, err_size);
}

int nst_test_run_program(const char *program, const char *const *args, char *out,
                         size_t out_size, char *err, size_t err_size) {
    const char *argv[64];
    program_argv(program, args, argv);
    FILE *fo = tmpfile(), *fe = tmpfile();
    cr_assert(fo && fe, "tmpfile failed");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0) {
        dup2(fileno(fo), 1);
        dup2(fileno(fe), 2);
        execv(program, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    slurp(fo, out, out_size);
    slurp(fe, err, err_size);
    fclose(fo);
    fclose(fe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *nst_test_cli_version(void) {
    static char version[256];
    char out[4096], err[4096];
    cr_assert_eq(nst_test_run_cli((const char *const[]){"--version", NULL}, out, sizeof out, err,
                                  sizeof err),
                 0, "nstyle --version: %s", err);
    const char *nl = strchr(out, '\n');
    cr_assert(strncmp(out, "nstyle ", 7) == 0 && nl && nl - out > 7 &&
                  (size_t)(nl - out - 7) < sizeof version && !memchr(out + 7, ' ', nl - out - 7),
              "nstyle --version's first line is not 'nstyle VERSION': %s", out);
    memcpy(version, out + 7, (size_t)(nl - out - 7));
    version[nl - out - 7] = '\0';
    return version;
}

void nst_test_expect_json_version(const char *json) {
    char field[300];
    snprintf(field, sizeof field, "\"nstyle_version\": \"%s\"", nst_test_cli_version());
    cr_expect(json && strstr(json, field), "the JSON summary lacks %s:\n%s", field,
              json ? json : "(none)");
}

int nst_test_start_cli(const char *const *args, const char *first, int *fd) {
    const char *argv[64];
    cli_argv(args, argv);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execv(NST_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf - 1 && !memchr(buf, '\n', n)) {
        ssize_t k = read(p[0], buf + n, sizeof buf - 1 - n);
        cr_assert_gt(k, 0, "nstyle %s ended before its first line on stderr", argv[1]);
        n += (size_t)k;
    }
    buf[n] = '\0';
    cr_assert(strstr(buf, first), "first line: %s (want '%s')", buf, first);
    *fd = p[0];
    return pid;
}

int nst_test_wait_cli(int pid, int fd) {
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}
