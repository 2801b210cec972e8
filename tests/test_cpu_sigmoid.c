/* CPU sigmoid (src/cpu/sigmoid.c): forward and backward against PyTorch float64 goldens
 * (tests/golden/light_ops.safetensors, gen_light_ops.py: torch.sigmoid over [-12, 12]); the
 * backward against central finite differences of the double forward; saturation far out,
 * NaN passing through, in-place use; argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static void run_op(nst_ctx *ctx, float *x, float *y, float *dy, float *dx, int64_t n) {
    nst_tensor tx = nst_test_f32_1d(x, n), ty = nst_test_f32_1d(y, n);
    nst_tensor tdy = nst_test_f32_1d(dy, n), tdx = nst_test_f32_1d(dx, n);
    nst_sigmoid_params p = {.x = &tx, .y = &ty, .dy = &tdy, .dx = &tdx};
    cr_assert_eq(nst_sigmoid_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    if (dx)
        cr_assert_eq(nst_sigmoid_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

typedef struct {
    const double *w;
    size_t n;
} sig_loss;

static double sig_loss_fn(const double *x, void *user) {
    const sig_loss *l = user;
    double s = 0.0;
    for (size_t i = 0; i < l->n; i++)
        s += l->w[i] * sigmoid(x[i]);
    return s;
}

Test(cpu_sigmoid, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "light_ops.safetensors");
    const int64_t dims[4] = {2, 4, 5, 3};
    const size_t n = 2 * 4 * 5 * 3;
    float *x = nst_test_load_f32(ctx, f, "sigmoid.x", 4, dims);
    float *dy = nst_test_load_f32(ctx, f, "sigmoid.dy", 4, dims);
    float *y = nst_test_nan_f32(n), *dx = nst_test_nan_f32(n);
    run_op(ctx, x, y, dy, dx, (int64_t)n);
    /* one rounding of the double result */
    nst_test_expect_golden(f, "sigmoid.y", y, n, 1e-7, 1e-6);
    /* from the float-rounded y: y (1 - y) carries y's rounding, relative 2^-24 / (1 - y) */
    nst_test_expect_golden(f, "sigmoid.dx", dx, n, 1e-7, 1e-5);
    free(x), free(dy), free(y), free(dx);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_sigmoid, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(93);
    enum { N = 257 };
    float *x = nst_test_random_f32(&rng, N, -8.0f, 8.0f);
    float *dy = nst_test_random_f32(&rng, N, -1.0f, 1.0f);
    float *y = nst_test_nan_f32(N), *dx = nst_test_nan_f32(N);
    run_op(ctx, x, y, dy, dx, N);
    double *xd = nst_test_to_f64(x, N), *w = nst_test_to_f64(dy, N), *fd = nst_test_alloc_f64(N);
    sig_loss loss = {w, N};
    nst_test_fd_grad(sig_loss_fn, &loss, xd, N, 1e-4, NULL, 0, fd);
    /* O(h^2) differences (h^2 * |sigma'''| / 6 < 1e-9) against the float backward */
    nst_test_expect_grad("dx", dx, fd, N, 1e-6, 1e-5);
    free(x), free(dy), free(y), free(dx), free(xd), free(w), free(fd);
    nst_ctx_destroy(ctx);
}

Test(cpu_sigmoid, saturates_passes_nan_and_runs_in_place) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[5] = {-1000.0f, 1000.0f, NAN, 0.0f, -90.0f}, y[5], dy[5] = {1, 1, 1, 1, 1}, dx[5];
    run_op(ctx, x, y, dy, dx, 5);
    cr_assert_eq(y[0], 0.0f);
    cr_assert_eq(y[1], 1.0f);
    cr_assert(isnan(y[2]));
    cr_assert_eq(y[3], 0.5f);
    cr_assert(y[4] > 0.0f && y[4] < 1e-38f, "sigmoid(-90) = %g", (double)y[4]);
    cr_assert_eq(dx[0], 0.0f);
    cr_assert_eq(dx[1], 0.0f);
    cr_assert_eq(dx[3], 0.25f);
    /* y may alias x, dx may alias dy */
    run_op(ctx, x, x, dy, dy, 5);
    cr_assert_eq(memcmp(x, y, sizeof x), 0);
    cr_assert_eq(memcmp(dy, dx, sizeof dx), 0);
    nst_ctx_destroy(ctx);
}

Test(cpu_sigmoid, argument_errors_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static float a[12], b[10];
    nst_tensor ta = nst_test_f32_1d(a, 12), tb = nst_test_f32_1d(b, 10);
    nst_sigmoid_params p = {.x = &ta, .y = &tb};
    nst_test_expect_status(ctx, nst_sigmoid_forward(ctx, &p), NST_ERR_SHAPE, "sigmoid_forward",
                           "tensor y is (10) F32, expected (12) F32");
    /* backward reads the forward output */
    p = (nst_sigmoid_params){.x = &ta, .dy = &ta, .dx = &ta};
    nst_test_expect_status(ctx, nst_sigmoid_backward(ctx, &p), NST_ERR_INVALID_ARG,
                           "sigmoid_backward", "tensor y is missing");
    nst_ctx_destroy(ctx);
}
