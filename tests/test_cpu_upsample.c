/* CPU nearest upsampling x2 (src/cpu/upsample.c): forward and backward against plain loops on odd
 * NHWC shapes, backward against central finite differences of a double-precision forward,
 * PyTorch goldens (tests/golden/nn_ops.safetensors, gen_nn_ops.py) and shape errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};

/* y (N, 2H, 2W, C) = x at (h/2, w/2), in double. */
static void naive_forward(const double *x, int64_t N, int64_t H, int64_t W, int64_t C, double *y) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < 2 * H; i++)
            for (int64_t j = 0; j < 2 * W; j++)
                for (int64_t c = 0; c < C; c++)
                    y[nst_test_at(2 * H, 2 * W, C, n, i, j, c)] =
                        x[nst_test_at(H, W, C, n, i / 2, j / 2, c)];
}

/* dx = scatter-add of dy to (h/2, w/2), in double. */
static void naive_backward(const double *dy, int64_t N, int64_t H, int64_t W, int64_t C,
                           double *dx) {
    memset(dx, 0, (size_t)(N * H * W * C) * sizeof *dx);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < 2 * H; i++)
            for (int64_t j = 0; j < 2 * W; j++)
                for (int64_t c = 0; c < C; c++)
                    dx[nst_test_at(H, W, C, n, i / 2, j / 2, c)] +=
                        dy[nst_test_at(2 * H, 2 * W, C, n, i, j, c)];
}

static void run_op(nst_ctx *ctx, const float *x, const float *dy, int64_t N, int64_t H, int64_t W,
                   int64_t C, float *y, float *dx) {
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (float *)x, N, H, W, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, 2 * H, 2 * W, C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (float *)dy, N, 2 * H, 2 * W, C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
    nst_upsample2x_params p = {.x = &tx, .y = &ty, .dy = &tdy, .dx = &tdx};
    cr_assert_eq(nst_upsample2x_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    memset(dx, 0xff, (size_t)(N * H * W * C) * sizeof *dx); /* NaN: every element must be written */
    cr_assert_eq(nst_upsample2x_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

Test(cpu_upsample, forward_and_backward_match_plain_loops) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(31);
    for (size_t ci = 0; ci < sizeof CHANNELS / sizeof *CHANNELS; ci++) {
        const int64_t N = 2, H = 7, W = 11, C = CHANNELS[ci];
        const size_t n = (size_t)(N * H * W * C), no = 4 * n;
        nst_test_fwd_bwd d = nst_test_fwd_bwd_random(&rng, n, no);
        run_op(ctx, d.x, d.dy, N, H, W, C, d.y, d.dx);
        naive_forward(d.xd, N, H, W, C, d.yr);
        naive_backward(d.dyd, N, H, W, C, d.dxr);
        char what[64];
        snprintf(what, sizeof what, "C=%lld y", (long long)C);
        cr_assert(nst_test_allclose(what, d.y, d.yr, no, 0.0, 0.0)); /* a copy: exact */
        snprintf(what, sizeof what, "C=%lld dx", (long long)C);
        /* 3 float adds of values in [-1, 1]: error below 4 * 2^-24 * 4 < 1e-6 */
        cr_assert(nst_test_allclose(what, d.dx, d.dxr, n, 1e-6, 0.0));
        nst_test_fwd_bwd_free(&d);
    }
    nst_ctx_destroy(ctx);
}

enum { FN = 2, FH = 7, FW = 11, FC = 3, FSIZE = FN * FH * FW * FC, FOUT = 4 * FSIZE };

static double upsample_loss_fn(const double *x, void *user) {
    const double *w = user; /* (FN, 2FH, 2FW, FC) weights of L = sum(w * upsample(x)) */
    static double y[FOUT];
    naive_forward(x, FN, FH, FW, FC, y);
    return nst_test_dot(w, y, FOUT);
}

Test(cpu_upsample, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(32);
    nst_test_fwd_bwd d = nst_test_fwd_bwd_random(&rng, FSIZE, FOUT);
    run_op(ctx, d.x, d.dy, FN, FH, FW, FC, d.y, d.dx);
    /* the loss is linear in x: only rounding separates the two */
    /* Element by element against the differences: each dx is an fp32 sum of four dy; measured
     * worst 8e-8 of max|dx|. */
    nst_test_fwd_bwd_expect_fd(&d, upsample_loss_fn, d.dyd, 1e-4, 3e-7, 3e-7, "upsample dx");
    nst_test_fwd_bwd_free(&d);
    nst_ctx_destroy(ctx);
}

Test(cpu_upsample, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "nn_ops.safetensors");
    const int64_t N = 2, H = 4, W = 5, C = 3;
    float y[2 * 8 * 10 * 3], dx[2 * 4 * 5 * 3];
    float *x = nst_test_load_f32(ctx, f, "upsample.x", 4, (const int64_t[]){N, H, W, C});
    float *dy = nst_test_load_f32(ctx, f, "upsample.dy", 4, (const int64_t[]){N, 2 * H, 2 * W, C});
    run_op(ctx, x, dy, N, H, W, C, y, dx);
    /* fp32 against float64 from the same float32 inputs: 1e-5 + 1e-4*|ref| */
    nst_test_expect_golden(f, "upsample.y", y, sizeof y / sizeof *y, 1e-5, 1e-4);
    nst_test_expect_golden(f, "upsample.dx", dx, sizeof dx / sizeof *dx, 1e-5, 1e-4);
    free(x), free(dy);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_upsample, shape_mismatch_names_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float a[2 * 3 * 4 * 2] = {0}, b[2 * 6 * 8 * 2] = {0};
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 2, 3, 4, 2);
    nst_tensor bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 2, 8, 6, 2);
    nst_upsample2x_params p = {.x = &tx, .y = &bad, .dy = &bad, .dx = &tx};
    cr_assert_eq(nst_upsample2x_forward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor y is (2, 8, 6, 2)") != NULL, "%s",
              nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(2, 6, 8, 2)") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_upsample2x_backward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor dy") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
