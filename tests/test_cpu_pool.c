/* CPU 2x2 max/avg pooling (src/cpu/pool.c): forward and backward against plain loops on odd NHWC
 * shapes (the floor drops the last row/column), backward against central finite differences of a
 * double-precision forward on tie-free inputs, exact ties (the first maximum in row-major order
 * takes the gradient), PyTorch goldens (tests/golden/nn_ops.safetensors, gen_nn_ops.py) and
 * argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};

/* Naive pooling in double: y (N, H/2, W/2, C); for max, arg gets the flat x index of the first
 * maximum of each window in row-major order. */
static void naive_forward(const double *x, int64_t N, int64_t H, int64_t W, int64_t C, bool max,
                          double *y, size_t *arg) {
    const int64_t Ho = H / 2, Wo = W / 2;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++)
                for (int64_t c = 0; c < C; c++) {
                    double acc = 0.0, best = -INFINITY;
                    size_t best_i = 0;
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++) {
                            const size_t k = nst_test_at(H, W, C, n, 2 * i + a, 2 * j + b, c);
                            acc += x[k];
                            if (x[k] > best)
                                best = x[k], best_i = k;
                        }
                    const size_t o = nst_test_at(Ho, Wo, C, n, i, j, c);
                    y[o] = max ? best : acc / 4.0;
                    if (arg)
                        arg[o] = best_i;
                }
}

/* Naive backward: scatter dy into a zeroed dx. */
static void naive_backward(const double *x, const double *dy, int64_t N, int64_t H, int64_t W,
                           int64_t C, bool max, double *dx) {
    const int64_t Ho = H / 2, Wo = W / 2;
    const size_t no = (size_t)(N * Ho * Wo * C);
    double *y = nst_test_alloc_f64(no);
    size_t *arg = malloc((no ? no : 1) * sizeof *arg);
    cr_assert_not_null(arg);
    naive_forward(x, N, H, W, C, max, y, arg);
    memset(dx, 0, (size_t)(N * H * W * C) * sizeof *dx);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++)
                for (int64_t c = 0; c < C; c++) {
                    const size_t o = nst_test_at(Ho, Wo, C, n, i, j, c);
                    if (max) {
                        dx[arg[o]] += dy[o];
                        continue;
                    }
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++)
                            dx[nst_test_at(H, W, C, n, 2 * i + a, 2 * j + b, c)] += dy[o] / 4.0;
                }
    free(y), free(arg);
}

/* Runs forward and backward of the op on float copies; returns y and dx. */
static void run_op(nst_ctx *ctx, const float *x, const float *dy, int64_t N, int64_t H, int64_t W,
                   int64_t C, nst_pool_mode mode, float *y, float *dx) {
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (float *)x, N, H, W, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, H / 2, W / 2, C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (float *)dy, N, H / 2, W / 2, C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
    nst_pool2x2_params p = {.x = &tx, .y = &ty, .dy = &tdy, .dx = &tdx, .mode = mode};
    cr_assert_eq(nst_pool2x2_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    memset(dx, 0xff, (size_t)(N * H * W * C) * sizeof *dx); /* NaN: every element must be written */
    cr_assert_eq(nst_pool2x2_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

Test(cpu_pool, forward_and_backward_match_plain_loops_on_odd_sizes) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(21);
    for (int mode = 0; mode < 2; mode++) {
        for (size_t ci = 0; ci < sizeof CHANNELS / sizeof *CHANNELS; ci++) {
            const int64_t N = 2, H = 7, W = 11, C = CHANNELS[ci];
            const size_t n = (size_t)(N * H * W * C), no = (size_t)(N * (H / 2) * (W / 2) * C);
            nst_test_fwd_bwd d = nst_test_fwd_bwd_random(&rng, n, no);
            run_op(ctx, d.x, d.dy, N, H, W, C, (nst_pool_mode)mode, d.y, d.dx);
            naive_forward(d.xd, N, H, W, C, mode == NST_POOL_MAX, d.yr, NULL);
            naive_backward(d.xd, d.dyd, N, H, W, C, mode == NST_POOL_MAX, d.dxr);
            char what[64];
            snprintf(what, sizeof what, "%s C=%lld y", mode ? "avg" : "max", (long long)C);
            /* max selects exactly; avg rounds 3 float adds of values in [-1, 1]: < 1e-6 */
            cr_assert(nst_test_allclose(what, d.y, d.yr, no, mode ? 1e-6 : 0.0, 0.0));
            snprintf(what, sizeof what, "%s C=%lld dx", mode ? "avg" : "max", (long long)C);
            /* dx is dy or dy/4 (exact in float), 0 elsewhere, including the dropped row/col */
            cr_assert(nst_test_allclose(what, d.dx, d.dxr, n, 0.0, 0.0));
            nst_test_fwd_bwd_free(&d);
        }
    }
    nst_ctx_destroy(ctx);
}

enum { FN = 2, FH = 7, FW = 11, FC = 3, FSIZE = FN * FH * FW * FC, FOUT = FN * 3 * 5 * FC };

typedef struct {
    const double *w; /* (FN, 3, 5, FC) weights of L = sum(w * pool(x)) */
    bool max;
} pool_loss;

static double pool_loss_fn(const double *x, void *user) {
    const pool_loss *l = user;
    double y[FOUT];
    naive_forward(x, FN, FH, FW, FC, l->max, y, NULL);
    return nst_test_dot(l->w, y, FOUT);
}

Test(cpu_pool, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(22);
    static float x[FSIZE], dx[FSIZE], y[FOUT], dy[FOUT];
    static double xd[FSIZE], w[FOUT], fd[FSIZE];
    /* distinct inputs by construction: a shuffled ramp with spacing 1e-2, far above the step 1e-4,
     * so no finite-difference probe changes which element is the maximum */
    for (size_t i = 0; i < FSIZE; i++)
        x[i] = (float)(-1.0 + 0.01 * (double)i);
    for (size_t i = FSIZE - 1; i > 0; i--) {
        const size_t j = (size_t)(nst_test_rng_next(&rng) % (i + 1));
        const float t = x[i];
        x[i] = x[j], x[j] = t;
    }
    nst_test_fill_uniform(&rng, dy, FOUT, -1.0f, 1.0f);
    nst_test_widen(dy, w, FOUT);
    for (int mode = 0; mode < 2; mode++) {
        nst_test_widen(x, xd, FSIZE);
        run_op(ctx, x, dy, FN, FH, FW, FC, (nst_pool_mode)mode, y, dx);
        pool_loss loss = {w, mode == NST_POOL_MAX};
        nst_test_fd_grad(pool_loss_fn, &loss, xd, FSIZE, 1e-4, NULL, 0, fd);
        /* the loss is linear around each sample, so only rounding separates the two */
        /* Element by element against the differences: dx is exact (a copy or a quarter of dy),
         * so only the differences' double rounding remains (5e-11 of max|dx| measured). */
        nst_test_expect_grad(mode ? "avg" : "max", dx, fd, FSIZE, 1e-9, 1e-9);
        /* the dropped last row and column get exactly zero */
        for (int64_t n = 0; n < FN; n++)
            for (int64_t c = 0; c < FC; c++) {
                for (int64_t h = 0; h < FH; h++)
                    cr_assert(dx[nst_test_at(FH, FW, FC, n, h, FW - 1, c)] == 0.0f);
                for (int64_t w = 0; w < FW; w++)
                    cr_assert(dx[nst_test_at(FH, FW, FC, n, FH - 1, w, c)] == 0.0f);
            }
    }
    nst_ctx_destroy(ctx);
}

Test(cpu_pool, max_ties_send_the_gradient_to_the_first_maximum) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    /* four 2x2 windows side by side in a (1, 2, 8, 1) image; row-major window order is
     * (0,0) (0,1) (1,0) (1,1). Window 0: all equal -> (0,0). Window 1: (0,1) and (1,1) tie ->
     * (0,1). Window 2: (1,0) and (1,1) tie -> (1,0). Window 3: (0,0) and (1,1) tie -> (0,0). */
    const float x[16] = {/* row 0 */ 5, 5, 1, 7, 0, 2, 9, 3,
                         /* row 1 */ 5, 5, 6, 7, 4, 4, 8, 9};
    const float dy[4] = {1, 2, 3, 4};
    const float want[16] = {/* row 0 */ 1, 0, 0, 2, 0, 0, 4, 0,
                            /* row 1 */ 0, 0, 0, 0, 3, 0, 0, 0};
    const float want_y[4] = {5, 7, 4, 9};
    float y[4], dx[16];
    run_op(ctx, x, dy, 1, 2, 8, 1, NST_POOL_MAX, y, dx);
    for (int i = 0; i < 4; i++)
        cr_assert(y[i] == want_y[i], "y[%d] = %g, want %g", i, y[i], want_y[i]);
    for (int i = 0; i < 16; i++)
        cr_assert(dx[i] == want[i], "dx[%d] = %g, want %g", i, dx[i], want[i]);
    nst_ctx_destroy(ctx);
}

Test(cpu_pool, max_propagates_nan_like_pytorch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const float x[4] = {1.0f, NAN, 3.0f, 2.0f}, dy[1] = {1.0f};
    float y[1], dx[4];
    run_op(ctx, x, dy, 1, 2, 2, 1, NST_POOL_MAX, y, dx);
    cr_assert(isnan(y[0]), "max over a window with NaN must be NaN (torch max_pool2d)");
    cr_assert(dx[0] == 0.0f && dx[1] == 1.0f && dx[2] == 0.0f && dx[3] == 0.0f);
    nst_ctx_destroy(ctx);
}

Test(cpu_pool, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "nn_ops.safetensors");
    const int64_t N = 2, H = 7, W = 11, C = 3;
    const char *names[2] = {"maxpool", "avgpool"};
    for (int mode = 0; mode < 2; mode++) {
        char key[64];
        snprintf(key, sizeof key, "%s.x", names[mode]);
        float *x = nst_test_load_f32(ctx, f, key, 4, (const int64_t[]){N, H, W, C});
        snprintf(key, sizeof key, "%s.dy", names[mode]);
        float *dy = nst_test_load_f32(ctx, f, key, 4, (const int64_t[]){N, H / 2, W / 2, C});
        float y[2 * 3 * 5 * 3], dx[2 * 7 * 11 * 3];
        run_op(ctx, x, dy, N, H, W, C, (nst_pool_mode)mode, y, dx);
        /* |a-b| <= 1e-5 + 1e-4*|ref|, the budget for fp32 results against float64 goldens
         * computed from the same float32 inputs */
        snprintf(key, sizeof key, "%s.y", names[mode]);
        nst_test_expect_golden(f, key, y, sizeof y / sizeof *y, 1e-5, 1e-4);
        snprintf(key, sizeof key, "%s.dx", names[mode]);
        nst_test_expect_golden(f, key, dx, sizeof dx / sizeof *dx, 1e-5, 1e-4);
        free(x), free(dy);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_pool, argument_errors_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float buf[2 * 7 * 11 * 3] = {0}, out[2 * 3 * 5 * 3];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 7, 11, 3);
    /* (2, 4, 5, 3) would be ceil mode; the op floors */
    nst_tensor bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, out, 2, 4, 5, 3);
    nst_pool2x2_params p = {.x = &tx, .y = &bad, .dy = &bad, .dx = &tx, .mode = NST_POOL_MAX};
    cr_assert_eq(nst_pool2x2_forward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor y is (2, 4, 5, 3)") != NULL, "%s",
              nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(2, 3, 5, 3)") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_pool2x2_backward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor dy") != NULL, "%s", nst_last_error(ctx));
    /* max backward needs x; avg backward does not */
    nst_tensor ok = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, out, 2, 3, 5, 3);
    p.dy = &ok;
    p.x = NULL;
    cr_assert_eq(nst_pool2x2_backward(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "tensor x is missing") != NULL, "%s",
              nst_last_error(ctx));
    p.mode = NST_POOL_AVG;
    cr_assert_eq(nst_pool2x2_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    p.mode = (nst_pool_mode)7;
    cr_assert_eq(nst_pool2x2_forward(ctx, &p), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}
