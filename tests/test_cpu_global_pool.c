/* CPU global average pooling (src/cpu/global_pool.c): forward and backward against PyTorch
 * float64 goldens (tests/golden/light_ops.safetensors, gen_light_ops.py: x.mean((2, 3),
 * keepdim=True)); the backward against central finite differences; a 1x1 map is the identity;
 * argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static void run_op(nst_ctx *ctx, float *x, float *y, float *dy, float *dx, int64_t N, int64_t H,
                   int64_t W, int64_t C) {
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, N, H, W, C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, 1, 1, C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, N, 1, 1, C);
    nst_global_avg_pool_params p = {.x = &tx, .y = &ty, .dy = &tdy, .dx = &tdx};
    cr_assert_eq(nst_global_avg_pool_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_global_avg_pool_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

typedef struct {
    const double *w; /* (N, C) */
    int64_t N, M, C;
} gap_loss;

static double gap_loss_fn(const double *x, void *user) {
    const gap_loss *l = user;
    double s = 0.0;
    for (int64_t n = 0; n < l->N; n++)
        for (int64_t c = 0; c < l->C; c++) {
            double m = 0.0;
            for (int64_t q = 0; q < l->M; q++)
                m += x[(n * l->M + q) * l->C + c];
            s += l->w[n * l->C + c] * m / (double)l->M;
        }
    return s;
}

Test(cpu_global_pool, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "light_ops.safetensors");
    enum { N = 2, H = 5, W = 7, C = 6 };
    float *x = nst_test_load_f32(ctx, f, "gap.x", 4, (const int64_t[]){N, H, W, C});
    float *dy = nst_test_load_f32(ctx, f, "gap.dy", 4, (const int64_t[]){N, 1, 1, C});
    float *y = nst_test_nan_f32(N * C), *dx = nst_test_nan_f32(N * H * W * C);
    run_op(ctx, x, y, dy, dx, N, H, W, C);
    /* a double sum of 35 values rounded once */
    nst_test_expect_golden(f, "gap.y", y, N * C, 1e-7, 1e-6);
    nst_test_expect_golden(f, "gap.dx", dx, N * H * W * C, 1e-8, 1e-6);
    free(x), free(dy), free(y), free(dx);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_global_pool, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(94);
    enum { N = 3, H = 4, W = 3, C = 5, NX = N * H * W * C };
    float *x = nst_test_random_f32(&rng, NX, -1.0f, 1.0f);
    float *dy = nst_test_random_f32(&rng, N * C, -1.0f, 1.0f);
    float *y = nst_test_nan_f32(N * C), *dx = nst_test_nan_f32(NX);
    run_op(ctx, x, y, dy, dx, N, H, W, C);
    double *xd = nst_test_to_f64(x, NX), *w = nst_test_to_f64(dy, N * C);
    double *fd = nst_test_alloc_f64(NX);
    gap_loss loss = {w, N, H * W, C};
    nst_test_fd_grad(gap_loss_fn, &loss, xd, NX, 1e-3, NULL, 0, fd);
    /* a linear loss: the differences are exact up to double rounding */
    nst_test_expect_grad("dx", dx, fd, NX, 1e-6, 1e-6);
    free(x), free(dy), free(y), free(dx), free(xd), free(w), free(fd);
    nst_ctx_destroy(ctx);
}

Test(cpu_global_pool, one_pixel_is_the_identity) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[6] = {1, -2, 3, 4.5f, -5, 6}, y[6], dy[6] = {6, 5, 4, 3, 2, 1}, dx[6];
    run_op(ctx, x, y, dy, dx, 2, 1, 1, 3);
    cr_assert_eq(memcmp(x, y, sizeof x), 0);
    cr_assert_eq(memcmp(dy, dx, sizeof dx), 0);
    nst_ctx_destroy(ctx);
}

Test(cpu_global_pool, argument_errors_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static float a[2 * 3 * 4 * 5];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 2, 3, 4, 5);
    nst_tensor ty = nst_tensor_make(NST_F32, NST_BACKEND_CPU, a, 2, (const int64_t[]){2, 5});
    nst_global_avg_pool_params p = {.x = &tx, .y = &ty};
    nst_test_expect_status(ctx, nst_global_avg_pool_forward(ctx, &p), NST_ERR_SHAPE,
                           "global_avg_pool_forward", "tensor y is (2, 5) F32, expected "
                                                      "(2, 1, 1, 5)");
    nst_tensor empty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 2, 0, 4, 5);
    nst_tensor ty4 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 2, 1, 1, 5);
    p = (nst_global_avg_pool_params){.x = &empty, .y = &ty4};
    nst_test_expect_status(ctx, nst_global_avg_pool_forward(ctx, &p), NST_ERR_SHAPE,
                           "global_avg_pool_forward", "empty planes");
    nst_ctx_destroy(ctx);
}
