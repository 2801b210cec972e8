/* CPU nearest upsampling x2 (src/cpu/upsample.c): forward and backward against plain loops on odd
 * NHWC shapes, backward against central finite differences of a double-precision forward,
 * PyTorch goldens (tests/golden/nn_ops.safetensors, gen_nn_ops.py) and shape errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/safetensors.h"
#include "test_support.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};

static float *alloc_f(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static double *alloc_d(size_t n) {
    double *p = calloc(n ? n : 1, sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static size_t at(int64_t H, int64_t W, int64_t C, int64_t n, int64_t h, int64_t w, int64_t c) {
    return (size_t)(((n * H + h) * W + w) * C + c);
}

/* y (N, 2H, 2W, C) = x at (h/2, w/2), in double. */
static void naive_forward(const double *x, int64_t N, int64_t H, int64_t W, int64_t C, double *y) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < 2 * H; i++)
            for (int64_t j = 0; j < 2 * W; j++)
                for (int64_t c = 0; c < C; c++)
                    y[at(2 * H, 2 * W, C, n, i, j, c)] = x[at(H, W, C, n, i / 2, j / 2, c)];
}

/* dx = scatter-add of dy to (h/2, w/2), in double. */
static void naive_backward(const double *dy, int64_t N, int64_t H, int64_t W, int64_t C,
                           double *dx) {
    memset(dx, 0, (size_t)(N * H * W * C) * sizeof *dx);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < 2 * H; i++)
            for (int64_t j = 0; j < 2 * W; j++)
                for (int64_t c = 0; c < C; c++)
                    dx[at(H, W, C, n, i / 2, j / 2, c)] += dy[at(2 * H, 2 * W, C, n, i, j, c)];
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
        float *x = alloc_f(n), *dx = alloc_f(n), *y = alloc_f(no), *dy = alloc_f(no);
        double *xd = alloc_d(n), *dyd = alloc_d(no), *yr = alloc_d(no), *dxr = alloc_d(n);
        nst_test_fill_uniform(&rng, x, n, -1.0f, 1.0f);
        nst_test_fill_uniform(&rng, dy, no, -1.0f, 1.0f);
        for (size_t i = 0; i < n; i++)
            xd[i] = x[i];
        for (size_t i = 0; i < no; i++)
            dyd[i] = dy[i];
        run_op(ctx, x, dy, N, H, W, C, y, dx);
        naive_forward(xd, N, H, W, C, yr);
        naive_backward(dyd, N, H, W, C, dxr);
        char what[64];
        snprintf(what, sizeof what, "C=%lld y", (long long)C);
        cr_assert(nst_test_allclose(what, y, yr, no, 0.0, 0.0)); /* a copy: exact */
        snprintf(what, sizeof what, "C=%lld dx", (long long)C);
        /* 3 float adds of values in [-1, 1]: error below 4 * 2^-24 * 4 < 1e-6 */
        cr_assert(nst_test_allclose(what, dx, dxr, n, 1e-6, 0.0));
        free(x), free(dx), free(y), free(dy), free(xd), free(dyd), free(yr), free(dxr);
    }
    nst_ctx_destroy(ctx);
}

enum { FN = 2, FH = 7, FW = 11, FC = 3, FSIZE = FN * FH * FW * FC, FOUT = 4 * FSIZE };

static double upsample_loss_fn(const double *x, void *user) {
    const double *w = user; /* (FN, 2FH, 2FW, FC) weights of L = sum(w * upsample(x)) */
    static double y[FOUT];
    naive_forward(x, FN, FH, FW, FC, y);
    double s = 0.0;
    for (size_t i = 0; i < FOUT; i++)
        s += w[i] * y[i];
    return s;
}

Test(cpu_upsample, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(32);
    static float x[FSIZE], dx[FSIZE], y[FOUT], dy[FOUT];
    static double xd[FSIZE], w[FOUT], fd[FSIZE], got[FSIZE];
    nst_test_fill_uniform(&rng, x, FSIZE, -1.0f, 1.0f);
    nst_test_fill_uniform(&rng, dy, FOUT, -1.0f, 1.0f);
    for (size_t i = 0; i < FSIZE; i++)
        xd[i] = x[i];
    for (size_t i = 0; i < FOUT; i++)
        w[i] = dy[i];
    run_op(ctx, x, dy, FN, FH, FW, FC, y, dx);
    nst_test_fd_grad(upsample_loss_fn, w, xd, FSIZE, 1e-4, NULL, 0, fd);
    for (size_t i = 0; i < FSIZE; i++)
        got[i] = dx[i];
    /* the loss is linear in x: only rounding separates the two */
    const double rel = nst_test_mean_rel_diff(got, fd, FSIZE, 1e-12);
    cr_assert_leq(rel, 1e-4, "mean relative difference %g", rel);
    nst_ctx_destroy(ctx);
}

Test(cpu_upsample, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = NULL;
    cr_assert_eq(nst_st_open(ctx, NST_SOURCE_DIR "/tests/golden/nn_ops.safetensors", &f), NST_OK,
                 "%s", nst_last_error(ctx));
    const int64_t N = 2, H = 4, W = 5, C = 3;
    float *x = NULL, *dy = NULL, y[2 * 8 * 10 * 3], dx[2 * 4 * 5 * 3];
    cr_assert_eq(nst_st_load_f32(ctx, f, "upsample.x", 4, (const int64_t[]){N, H, W, C}, &x),
                 NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_st_load_f32(ctx, f, "upsample.dy", 4,
                                 (const int64_t[]){N, 2 * H, 2 * W, C}, &dy),
                 NST_OK, "%s", nst_last_error(ctx));
    run_op(ctx, x, dy, N, H, W, C, y, dx);
    const char *names[2] = {"upsample.y", "upsample.dx"};
    const float *got[2] = {y, dx};
    const size_t count[2] = {sizeof y / sizeof *y, sizeof dx / sizeof *dx};
    for (int k = 0; k < 2; k++) {
        const nst_st_tensor *t = nst_st_find(f, names[k]);
        cr_assert_not_null(t, "golden %s missing", names[k]);
        cr_assert_eq((size_t)t->numel, count[k]);
        double *ref = alloc_d(count[k]);
        nst_st_to_f64(t, ref);
        /* fp32 against float64 from the same float32 inputs: 1e-5 + 1e-4*|ref| */
        cr_assert(nst_test_allclose(names[k], got[k], ref, count[k], 1e-5, 1e-4));
        free(ref);
    }
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
