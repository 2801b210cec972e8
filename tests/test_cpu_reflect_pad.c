/* CPU reflection padding (src/cpu/reflect_pad.c): a hand-written example, forward and backward
 * against plain loops on odd NHWC shapes with several pads (zero, symmetric, asymmetric, the
 * largest allowed), backward against central finite differences of a double-precision forward,
 * PyTorch goldens (tests/golden/nn_ops.safetensors, gen_nn_ops.py) and argument errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};

typedef struct {
    int top, bottom, left, right;
} pads4;

/* H = 7, W = 11: the last entry uses the largest pads allowed (size - 1). */
static const pads4 PADS[] = {
    {0, 0, 0, 0}, {1, 1, 1, 1}, {2, 3, 1, 4}, {0, 5, 7, 2}, {6, 6, 10, 10},
};

/* Mirror index i (relative to the image start) into [0, size) without repeating the edge. */
static int64_t mirror(int64_t i, int64_t size) {
    while (i < 0 || i >= size)
        i = i < 0 ? -i : 2 * (size - 1) - i;
    return i;
}

static void naive_forward(const double *x, int64_t N, int64_t H, int64_t W, int64_t C, pads4 p,
                          double *y) {
    const int64_t Hp = H + p.top + p.bottom, Wp = W + p.left + p.right;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < Hp; i++)
            for (int64_t j = 0; j < Wp; j++)
                for (int64_t c = 0; c < C; c++)
                    y[nst_test_at(Hp, Wp, C, n, i, j, c)] =
                        x[nst_test_at(H, W, C, n, mirror(i - p.top, H), mirror(j - p.left, W), c)];
}

static void naive_backward(const double *dy, int64_t N, int64_t H, int64_t W, int64_t C, pads4 p,
                           double *dx) {
    const int64_t Hp = H + p.top + p.bottom, Wp = W + p.left + p.right;
    memset(dx, 0, (size_t)(N * H * W * C) * sizeof *dx);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < Hp; i++)
            for (int64_t j = 0; j < Wp; j++)
                for (int64_t c = 0; c < C; c++)
                    dx[nst_test_at(H, W, C, n, mirror(i - p.top, H), mirror(j - p.left, W), c)] +=
                        dy[nst_test_at(Hp, Wp, C, n, i, j, c)];
}

static nst_reflect_pad_params make_params(nst_tensor *tx, nst_tensor *ty, nst_tensor *tdy,
                                          nst_tensor *tdx, pads4 p) {
    nst_reflect_pad_params q = {.x = tx, .y = ty, .dy = tdy, .dx = tdx, .top = p.top,
                                .bottom = p.bottom, .left = p.left, .right = p.right};
    return q;
}

static void run_op(nst_ctx *ctx, const float *x, const float *dy, int64_t N, int64_t H, int64_t W,
                   int64_t C, pads4 pd, float *y, float *dx) {
    const int64_t Hp = H + pd.top + pd.bottom, Wp = W + pd.left + pd.right;
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (float *)x, N, H, W, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, Hp, Wp, C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (float *)dy, N, Hp, Wp, C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
    nst_reflect_pad_params p = make_params(&tx, &ty, &tdy, &tdx, pd);
    cr_assert_eq(nst_reflect_pad_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    memset(dx, 0xff, (size_t)(N * H * W * C) * sizeof *dx); /* NaN: every element must be written */
    cr_assert_eq(nst_reflect_pad_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

Test(cpu_reflect_pad, edge_pixel_is_not_repeated) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    /* one row [a b c] = [1 2 3], pad 2 on both sides -> [c b a b c b a] */
    const float x[3] = {1, 2, 3}, dy[7] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    float y[7], dx[3];
    run_op(ctx, x, dy, 1, 1, 3, 1, (pads4){0, 0, 2, 2}, y, dx);
    const float want[7] = {3, 2, 1, 2, 3, 2, 1};
    for (int i = 0; i < 7; i++)
        cr_assert(y[i] == want[i], "y[%d] = %g, want %g", i, y[i], want[i]);
    /* a gets dy[2] + dy[6]; b gets dy[1] + dy[3] + dy[5]; c gets dy[0] + dy[4] */
    cr_assert(dx[0] == 1000100.0f && dx[1] == 101010.0f && dx[2] == 10001.0f, "dx %g %g %g",
              dx[0], dx[1], dx[2]);
    nst_ctx_destroy(ctx);
}

Test(cpu_reflect_pad, forward_and_backward_match_plain_loops) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(41);
    for (size_t pi = 0; pi < sizeof PADS / sizeof *PADS; pi++) {
        for (size_t ci = 0; ci < sizeof CHANNELS / sizeof *CHANNELS; ci++) {
            const pads4 pd = PADS[pi];
            const int64_t N = 2, H = 7, W = 11, C = CHANNELS[ci];
            const int64_t Hp = H + pd.top + pd.bottom, Wp = W + pd.left + pd.right;
            const size_t n = (size_t)(N * H * W * C), no = (size_t)(N * Hp * Wp * C);
            nst_test_fwd_bwd d = nst_test_fwd_bwd_random(&rng, n, no);
            run_op(ctx, d.x, d.dy, N, H, W, C, pd, d.y, d.dx);
            naive_forward(d.xd, N, H, W, C, pd, d.yr);
            naive_backward(d.dyd, N, H, W, C, pd, d.dxr);
            char what[96];
            snprintf(what, sizeof what, "pads t%d b%d l%d r%d C=%lld y", pd.top, pd.bottom,
                     pd.left, pd.right, (long long)C);
            cr_assert(nst_test_allclose(what, d.y, d.yr, no, 0.0, 0.0)); /* a copy: exact */
            snprintf(what, sizeof what, "pads t%d b%d l%d r%d C=%lld dx", pd.top, pd.bottom,
                     pd.left, pd.right, (long long)C);
            /* at most 9 terms in [-1, 1] added in float: error < 9 * 9 * 2^-24 < 1e-5 */
            cr_assert(nst_test_allclose(what, d.dx, d.dxr, n, 1e-5, 0.0));
            nst_test_fwd_bwd_free(&d);
        }
    }
    nst_ctx_destroy(ctx);
}

enum { FN = 2, FH = 7, FW = 11, FC = 3, FSIZE = FN * FH * FW * FC };
static const pads4 FPAD = {2, 5, 3, 1};
enum { FOUT = FN * (FH + 7) * (FW + 4) * FC };

static double pad_loss_fn(const double *x, void *user) {
    const double *w = user; /* weights of L = sum(w * pad(x)) */
    static double y[FOUT];
    naive_forward(x, FN, FH, FW, FC, FPAD, y);
    return nst_test_dot(w, y, FOUT);
}

Test(cpu_reflect_pad, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(42);
    nst_test_fwd_bwd d = nst_test_fwd_bwd_random(&rng, FSIZE, FOUT);
    run_op(ctx, d.x, d.dy, FN, FH, FW, FC, FPAD, d.y, d.dx);
    /* the loss is linear in x: only rounding separates the two */
    /* Element by element against the differences: each dx is a sum of at most four fp32 dy;
     * measured worst 6e-8 of max|dx|. */
    nst_test_fwd_bwd_expect_fd(&d, pad_loss_fn, d.dyd, 1e-4, 3e-7, 3e-7, "reflect_pad dx");
    nst_test_fwd_bwd_free(&d);
    nst_ctx_destroy(ctx);
}

Test(cpu_reflect_pad, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "nn_ops.safetensors");
    double *lrtb = nst_test_golden_f64(f, "reflect.pads_lrtb", 4);
    const pads4 pd = {(int)lrtb[2], (int)lrtb[3], (int)lrtb[0], (int)lrtb[1]};
    free(lrtb);
    const int64_t N = 2, H = 5, W = 7, C = 3;
    const int64_t Hp = H + pd.top + pd.bottom, Wp = W + pd.left + pd.right;
    float *x = nst_test_load_f32(ctx, f, "reflect.x", 4, (const int64_t[]){N, H, W, C});
    float *dy = nst_test_load_f32(ctx, f, "reflect.dy", 4, (const int64_t[]){N, Hp, Wp, C});
    const size_t n = (size_t)(N * H * W * C), no = (size_t)(N * Hp * Wp * C);
    float *y = nst_test_alloc_f32(no), *dx = nst_test_alloc_f32(n);
    run_op(ctx, x, dy, N, H, W, C, pd, y, dx);
    /* fp32 against float64 from the same float32 inputs: 1e-5 + 1e-4*|ref| */
    nst_test_expect_golden(f, "reflect.y", y, no, 1e-5, 1e-4);
    nst_test_expect_golden(f, "reflect.dx", dx, n, 1e-5, 1e-4);
    free(x), free(dy), free(y), free(dx);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_reflect_pad, pad_not_smaller_than_size_is_refused) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static float a[1 * 4 * 6 * 2], b[1 * 20 * 20 * 2];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 1, 4, 6, 2);
    /* bottom = H = 4: PyTorch refuses it too (one reflection would leave the image) */
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 8, 6, 2);
    nst_reflect_pad_params p = make_params(&tx, &ty, &ty, &tx, (pads4){0, 4, 0, 0});
    cr_assert_eq(nst_reflect_pad_forward(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "pad bottom = 4") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "H = 4") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_reflect_pad_backward(ctx, &p), NST_ERR_INVALID_ARG);
    /* right = W = 6 */
    ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 4, 12, 2);
    p = make_params(&tx, &ty, &ty, &tx, (pads4){0, 0, 0, 6});
    cr_assert_eq(nst_reflect_pad_forward(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "pad right = 6") != NULL, "%s", nst_last_error(ctx));
    /* negative pads */
    ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 3, 6, 2);
    p = make_params(&tx, &ty, &ty, &tx, (pads4){-1, 0, 0, 0});
    cr_assert_eq(nst_reflect_pad_forward(ctx, &p), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}

Test(cpu_reflect_pad, shape_mismatch_names_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static float a[1 * 4 * 6 * 2], b[1 * 20 * 20 * 2];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 1, 4, 6, 2);
    nst_tensor bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 6, 9, 2); /* wants 1,7,9,2 */
    nst_reflect_pad_params p = make_params(&tx, &bad, &bad, &tx, (pads4){1, 2, 1, 2});
    cr_assert_eq(nst_reflect_pad_forward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor y is (1, 6, 9, 2)") != NULL, "%s",
              nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(1, 7, 9, 2)") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_reflect_pad_backward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor dy") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
