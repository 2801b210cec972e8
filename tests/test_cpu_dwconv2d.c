/* CPU depthwise convolution (src/cpu/dwconv2d.c): forward, backward data and backward filter
 * against PyTorch float64 goldens (tests/golden/light_ops.safetensors, gen_light_ops.py:
 * Conv2d(groups=C) at stride 2 and 1, 3x3 and 5x5); dx, dw and db against central finite
 * differences of a double forward; the fused ReLU and the accumulate flag; argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

typedef struct {
    int64_t N, H, W, C, K, Ho, Wo;
    int stride, pad;
} geom;

static geom geom_make(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int stride,
                      int pad) {
    return (geom){N, H, W, C, K, (H + 2 * pad - K) / stride + 1, (W + 2 * pad - K) / stride + 1,
                  stride, pad};
}

/* Runs forward (y), backward data (dx) and backward filter (dw, db) on one geometry. */
static void run_all(nst_ctx *ctx, geom g, float *x, float *w, float *b, float *dy, float *y,
                    float *dx, float *dw, float *db, bool relu, bool accumulate) {
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, g.N, g.H, g.W, g.C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, g.N, g.H, g.W, g.C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, g.N, g.Ho, g.Wo, g.C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, g.N, g.Ho, g.Wo, g.C);
    const int64_t wd[4] = {g.C, g.K, g.K, 1};
    nst_tensor tw = nst_tensor_make(NST_F32, NST_BACKEND_CPU, w, 4, wd);
    nst_tensor tdw = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dw, 4, wd);
    nst_tensor tb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, b, 1, &g.C);
    nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, db, 1, &g.C);
    nst_conv2d_params p = {.x = &tx, .w = &tw, .b = b ? &tb : NULL, .y = &ty, .dy = &tdy,
                           .dx = &tdx, .dw = &tdw, .db = &tdb, .stride = g.stride, .pad = g.pad,
                           .relu = relu, .accumulate = accumulate};
    cr_assert_eq(nst_dwconv2d_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    if (dx)
        cr_assert_eq(nst_dwconv2d_backward_data(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    if (dw)
        cr_assert_eq(nst_dwconv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

/* The double forward: y = b + depthwise correlation of x with w, zero padding. */
static void naive_forward(geom g, const double *x, const double *w, const double *b, double *y) {
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t i = 0; i < g.Ho; i++)
            for (int64_t j = 0; j < g.Wo; j++)
                for (int64_t c = 0; c < g.C; c++) {
                    double s = b[c];
                    for (int64_t u = 0; u < g.K; u++)
                        for (int64_t v = 0; v < g.K; v++) {
                            const int64_t yy = i * g.stride - g.pad + u;
                            const int64_t xx = j * g.stride - g.pad + v;
                            if (yy >= 0 && yy < g.H && xx >= 0 && xx < g.W)
                                s += x[nst_test_at(g.H, g.W, g.C, n, yy, xx, c)] *
                                     w[(c * g.K + u) * g.K + v];
                        }
                    y[nst_test_at(g.Ho, g.Wo, g.C, n, i, j, c)] = s;
                }
}

typedef struct {
    geom g;
    const double *wdy; /* the fixed upstream gradient */
    double *y;
} dw_loss;

/* theta = [x, w, b]: sum(wdy * forward). */
static double dw_loss_fn(const double *theta, void *user) {
    dw_loss *l = user;
    const geom g = l->g;
    const int64_t nx = g.N * g.H * g.W * g.C, nw = g.C * g.K * g.K;
    naive_forward(g, theta, theta + nx, theta + nx + nw, l->y);
    return nst_test_dot(l->wdy, l->y, (size_t)(g.N * g.Ho * g.Wo * g.C));
}

Test(cpu_dwconv2d, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(91);
    const geom gs[2] = {geom_make(2, 7, 6, 3, 3, 2, 1), geom_make(1, 5, 5, 4, 3, 1, 0)};
    for (int k = 0; k < 2; k++) {
        const geom g = gs[k];
        const size_t nx = (size_t)(g.N * g.H * g.W * g.C), nw = (size_t)(g.C * g.K * g.K);
        const size_t ny = (size_t)(g.N * g.Ho * g.Wo * g.C), nc = (size_t)g.C;
        float *x = nst_test_random_f32(&rng, nx, -1.0f, 1.0f);
        float *w = nst_test_random_f32(&rng, nw, -1.0f, 1.0f);
        float *b = nst_test_random_f32(&rng, nc, -1.0f, 1.0f);
        float *dy = nst_test_random_f32(&rng, ny, -1.0f, 1.0f);
        float *y = nst_test_nan_f32(ny), *dx = nst_test_nan_f32(nx);
        float *dw = nst_test_nan_f32(nw), *db = nst_test_nan_f32(nc);
        run_all(ctx, g, x, w, b, dy, y, dx, dw, db, false, false);
        double *theta = nst_test_alloc_f64(nx + nw + nc), *fd = nst_test_alloc_f64(nx + nw + nc);
        nst_test_widen(x, theta, nx), nst_test_widen(w, theta + nx, nw);
        nst_test_widen(b, theta + nx + nw, nc);
        double *wdy = nst_test_to_f64(dy, ny), *yr = nst_test_alloc_f64(ny);
        dw_loss loss = {g, wdy, yr};
        nst_test_fd_grad(dw_loss_fn, &loss, theta, nx + nw + nc, 1e-3, NULL, 0, fd);
        /* the forward against the double forward: sums of at most 26 products in double */
        nst_test_allclose("y", y, yr, ny, 1e-6, 1e-6);
        /* a bilinear loss: the central differences are exact up to double rounding; the op
         * rounds each double sum to float once */
        nst_test_expect_grad("dx", dx, fd, nx, 1e-6, 1e-6);
        nst_test_expect_grad("dw", dw, fd + nx, nw, 1e-6, 1e-6);
        nst_test_expect_grad("db", db, fd + nx + nw, nc, 1e-6, 1e-6);
        free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
        free(theta), free(fd), free(wdy), free(yr);
    }
    nst_ctx_destroy(ctx);
}

Test(cpu_dwconv2d, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "light_ops.safetensors");
    const struct {
        const char *name;
        geom g;
    } cases[3] = {{"dw_s2", geom_make(2, 7, 9, 3, 3, 2, 1)},
                  {"dw_s1", geom_make(2, 6, 5, 4, 3, 1, 1)},
                  {"dw_k5", geom_make(1, 8, 8, 5, 5, 2, 2)}};
    for (int k = 0; k < 3; k++) {
        const geom g = cases[k].g;
        const int64_t xd[4] = {g.N, g.H, g.W, g.C}, yd[4] = {g.N, g.Ho, g.Wo, g.C};
        const int64_t wd[4] = {g.C, g.K, g.K, 1};
        const size_t nx = (size_t)(g.N * g.H * g.W * g.C), nw = (size_t)(g.C * g.K * g.K);
        const size_t ny = (size_t)(g.N * g.Ho * g.Wo * g.C);
        char key[64];
#define LOAD(field, nd, dims)                                 \
    (snprintf(key, sizeof key, "%s." field, cases[k].name), \
     nst_test_load_f32(ctx, f, key, nd, dims))
        float *x = LOAD("x", 4, xd), *w = LOAD("w", 4, wd), *b = LOAD("b", 1, &g.C);
        float *dy = LOAD("dy", 4, yd);
#undef LOAD
        float *y = nst_test_nan_f32(ny), *dx = nst_test_nan_f32(nx);
        float *dw = nst_test_nan_f32(nw), *db = nst_test_nan_f32((size_t)g.C);
        run_all(ctx, g, x, w, b, dy, y, dx, dw, db, false, false);
        const struct {
            const char *suffix;
            const float *got;
            size_t n;
        } outs[4] = {{"y", y, ny}, {"dx", dx, nx}, {"dw", dw, nw}, {"db", db, (size_t)g.C}};
        for (int o = 0; o < 4; o++) {
            snprintf(key, sizeof key, "%s.%s", cases[k].name, outs[o].suffix);
            /* fp32 against float64 from the same float32 inputs: 1e-5 + 1e-4*|ref| */
            nst_test_expect_golden(f, key, outs[o].got, outs[o].n, 1e-5, 1e-4);
        }
        free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_dwconv2d, relu_and_accumulate) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(92);
    const geom g = geom_make(2, 5, 7, 6, 3, 1, 1);
    enum { NX = 2 * 5 * 7 * 6, NW = 6 * 9, NC = 6 };
    float *x = nst_test_random_f32(&rng, NX, -1.0f, 1.0f);
    float *w = nst_test_random_f32(&rng, NW, -1.0f, 1.0f);
    float *b = nst_test_random_f32(&rng, NC, -1.0f, 1.0f);
    float *dy = nst_test_random_f32(&rng, NX, -1.0f, 1.0f);
    float y[NX], yr[NX], dw[NW], db[NC], dw2[NW], db2[NC];
    run_all(ctx, g, x, w, b, dy, y, NULL, dw, db, false, false);
    run_all(ctx, g, x, w, b, dy, yr, NULL, NULL, NULL, true, false);
    for (int i = 0; i < NX; i++)
        cr_assert_eq(yr[i], y[i] < 0.0f ? 0.0f : y[i], "relu y[%d]", i);
    for (int i = 0; i < NW; i++)
        dw2[i] = 1.0f + (float)i;
    for (int i = 0; i < NC; i++)
        db2[i] = -2.0f * (float)i;
    run_all(ctx, g, x, w, b, dy, y, NULL, dw2, db2, false, true);
    /* one float rounding of the sum: 2^-24 relative of values below 60 */
    for (int i = 0; i < NW; i++)
        cr_assert_float_eq(dw2[i], 1.0f + (float)i + dw[i], 1e-5f, "dw[%d]", i);
    for (int i = 0; i < NC; i++)
        cr_assert_float_eq(db2[i], -2.0f * (float)i + db[i], 1e-5f, "db[%d]", i);
    free(x), free(w), free(b), free(dy);
    nst_ctx_destroy(ctx);
}

Test(cpu_dwconv2d, argument_errors_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static float buf[2 * 5 * 5 * 4], wbuf[64];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 5, 5, 4);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 3, 3, 4);
    /* conv2d's dense layout (Cout, KH, KW, Cin) is refused: depthwise weights are (C, KH, KW, 1) */
    nst_tensor dense = nst_tensor_make(NST_F32, NST_BACKEND_CPU, wbuf, 4,
                                       (const int64_t[]){4, 3, 3, 4});
    nst_tensor tw = nst_tensor_make(NST_F32, NST_BACKEND_CPU, wbuf, 4,
                                    (const int64_t[]){4, 3, 3, 1});
    nst_conv2d_params p = {.x = &tx, .w = &dense, .y = &ty, .stride = 1};
    nst_test_expect_status(ctx, nst_dwconv2d_forward(ctx, &p), NST_ERR_SHAPE, "dwconv2d_forward",
                           "tensor w is (4, 3, 3, 4) F32, expected (4, *, *, 1)");
    p.w = &tw, p.y = &tx;
    nst_test_expect_status(ctx, nst_dwconv2d_forward(ctx, &p), NST_ERR_SHAPE, "dwconv2d_forward",
                           "tensor y is (2, 5, 5, 4) F32, expected (2, 3, 3, 4)");
    p.y = &ty;
    p.stride = 0;
    nst_test_expect_status(ctx, nst_dwconv2d_forward(ctx, &p), NST_ERR_INVALID_ARG,
                           "dwconv2d_forward", "stride 0");
    /* the filter gradient needs the forward input */
    p.stride = 1, p.pad = 0, p.x = NULL, p.dy = &ty, p.dw = &tw;
    nst_test_expect_status(ctx, nst_dwconv2d_backward_filter(ctx, &p), NST_ERR_INVALID_ARG,
                           "dwconv2d_backward_filter", "tensor x is missing");
    nst_ctx_destroy(ctx);
}
