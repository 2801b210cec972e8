/* CPU ReLU (src/cpu/relu.c): forward and backward against plain loops on odd NHWC shapes,
 * backward against central finite differences of a double-precision forward, NaN handling,
 * in-place use and shape errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};

Test(cpu_relu, forward_and_backward_match_plain_loops) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(11);
    for (size_t ci = 0; ci < sizeof CHANNELS / sizeof *CHANNELS; ci++) {
        const int64_t N = 2, H = 7, W = 11, C = CHANNELS[ci];
        const size_t n = (size_t)(N * H * W * C);
        float *x = nst_test_alloc_f32(n), *y = nst_test_alloc_f32(n);
        float *dy = nst_test_alloc_f32(n), *dx = nst_test_alloc_f32(n);
        nst_test_fill_uniform(&rng, x, n, -1.0f, 1.0f);
        nst_test_fill_uniform(&rng, dy, n, -1.0f, 1.0f);
        x[0] = 0.0f; /* the kink itself: relu(0) = 0, gradient 0 (PyTorch's choice) */
        nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, N, H, W, C);
        nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, H, W, C);
        nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, N, H, W, C);
        nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
        nst_relu_params p = {.x = &tx, .y = &ty, .dy = &tdy, .dx = &tdx};
        cr_assert_eq(nst_relu_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        memset(dx, 0xff, n * sizeof *dx); /* NaN: every element must be written */
        cr_assert_eq(nst_relu_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        for (size_t i = 0; i < n; i++) {
            /* exact: the op selects values, it does no arithmetic */
            const float want_y = x[i] > 0.0f ? x[i] : 0.0f;
            const float want_dx = x[i] > 0.0f ? dy[i] : 0.0f;
            cr_assert(y[i] == want_y, "C=%lld y[%zu] = %g, want %g", (long long)C, i, y[i], want_y);
            cr_assert(dx[i] == want_dx, "C=%lld dx[%zu] = %g, want %g", (long long)C, i, dx[i],
                      want_dx);
        }
        /* the forward output gives the same mask as the input */
        float *dx2 = nst_test_alloc_f32(n);
        nst_tensor tdx2 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx2, N, H, W, C);
        nst_relu_params q = {.x = &ty, .dy = &tdy, .dx = &tdx2};
        cr_assert_eq(nst_relu_backward(ctx, &q), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(memcmp(dx, dx2, n * sizeof *dx), 0, "mask from y differs from mask from x");
        free(x), free(y), free(dy), free(dx), free(dx2);
    }
    nst_ctx_destroy(ctx);
}

typedef struct {
    const double *w; /* weights of L = sum(w * relu(x)) */
} relu_loss;

static double relu_loss_fn(const double *x, void *user) {
    const relu_loss *l = user;
    double s = 0.0;
    for (size_t i = 0; i < 2 * 7 * 11 * 3; i++)
        s += l->w[i] * (x[i] > 0.0 ? x[i] : 0.0);
    return s;
}

Test(cpu_relu, backward_matches_finite_differences) {
    enum { N = 2, H = 7, W = 11, C = 3, n = N * H * W * C };
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(12);
    static float x[n], dy[n], dx[n];
    static double xd[n], w[n], fd[n];
    for (size_t i = 0; i < n; i++) {
        /* |x| >= 0.05, far from the kink compared with the step 1e-4 */
        const double mag = nst_test_rng_uniform(&rng, 0.05, 1.0);
        x[i] = (float)(nst_test_rng_uniform(&rng, 0.0, 1.0) < 0.5 ? -mag : mag);
        xd[i] = x[i];
        dy[i] = (float)nst_test_rng_uniform(&rng, -1.0, 1.0);
        w[i] = dy[i];
    }
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, N, H, W, C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, N, H, W, C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
    nst_relu_params p = {.x = &tx, .dy = &tdy, .dx = &tdx};
    cr_assert_eq(nst_relu_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    relu_loss loss = {w};
    nst_test_fd_grad(relu_loss_fn, &loss, xd, n, 1e-4, NULL, 0, fd);
    /* the loss is linear on each side of the kink, so only rounding separates the two */
    /* Element by element against the differences: dx is exact (dy or 0), so only the
     * differences' double rounding remains (3e-12 of max|dx| measured). */
    nst_test_expect_grad("relu dx", dx, fd, n, 1e-10, 1e-10);
    nst_ctx_destroy(ctx);
}

Test(cpu_relu, nan_passes_forward_and_in_place_works) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[4] = {NAN, -2.0f, 3.0f, -0.0f}, dy[4] = {1, 1, 1, 1}, dx[4];
    nst_tensor t = nst_tensor_make(NST_F32, NST_BACKEND_CPU, x, 1, (const int64_t[]){4});
    nst_tensor tdy = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dy, 1, (const int64_t[]){4});
    nst_tensor tdx = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dx, 1, (const int64_t[]){4});
    nst_relu_params p = {.x = &t, .y = &t, .dy = &tdy, .dx = &tdx}; /* y aliases x */
    cr_assert_eq(nst_relu_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(isnan(x[0]), "relu(NaN) must stay NaN, as torch.relu");
    cr_assert(x[1] == 0.0f && x[2] == 3.0f && x[3] == 0.0f);
    cr_assert_eq(nst_relu_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(dx[0] == 0.0f && dx[1] == 0.0f && dx[2] == 1.0f && dx[3] == 0.0f);
    nst_ctx_destroy(ctx);
}

Test(cpu_relu, shape_mismatch_names_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float a[12] = {0}, b[12] = {0}, c[12] = {0};
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 1, 3, 4, 1);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 4, 3, 1);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, c, 1, 3, 4, 1);
    nst_relu_params p = {.x = &tx, .y = &ty, .dy = &ty, .dx = &tdx};
    cr_assert_eq(nst_relu_forward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor y") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(1, 4, 3, 1)") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_relu_backward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor dy") != NULL, "%s", nst_last_error(ctx));
    p.x = NULL;
    cr_assert_eq(nst_relu_forward(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "tensor x is missing") != NULL, "%s",
              nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
