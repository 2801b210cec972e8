/* CPU instance norm (src/cpu/instance_norm.c): forward (y, saved mean and rstd) against plain
 * double loops on odd NHWC shapes with and without affine parameters; backward (dx, dgamma,
 * dbeta) against central finite differences of the double-precision forward; NULL outputs and
 * the accumulate flag; PyTorch goldens (tests/golden/nn_ops.safetensors, gen_nn_ops.py:
 * nn.InstanceNorm2d, eps 1e-5, affine and not); argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};
static const float EPS = 1e-5f;

/* Instance norm in double over each (n, c) plane of an NHWC tensor with M = H*W pixels.
 * gamma/beta may be NULL; mean/rstd (N, C) may be NULL. */
static void naive_forward(const double *x, const double *gamma, const double *beta, int64_t N,
                          int64_t M, int64_t C, double eps, double *y, double *mean,
                          double *rstd) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const double *xp = x + n * M * C + c;
            double s = 0.0, v = 0.0;
            for (int64_t q = 0; q < M; q++)
                s += xp[q * C];
            const double mu = s / (double)M;
            for (int64_t q = 0; q < M; q++)
                v += (xp[q * C] - mu) * (xp[q * C] - mu);
            const double r = 1.0 / sqrt(v / (double)M + eps);
            for (int64_t q = 0; q < M; q++)
                y[n * M * C + q * C + c] =
                    (xp[q * C] - mu) * r * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
            if (mean)
                mean[n * C + c] = mu;
            if (rstd)
                rstd[n * C + c] = r;
        }
}

Test(cpu_instance_norm, forward_matches_plain_loops) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(51);
    for (int affine = 0; affine < 2; affine++) {
        for (size_t ci = 0; ci < sizeof CHANNELS / sizeof *CHANNELS; ci++) {
            const int64_t N = 2, H = 7, W = 11, C = CHANNELS[ci], M = H * W;
            const size_t n = (size_t)(N * M * C), nc = (size_t)(N * C);
            float *x = nst_test_random_f32(&rng, n, -1.0f, 2.0f);
            float *gamma = nst_test_random_f32(&rng, (size_t)C, 0.5f, 1.5f);
            float *beta = nst_test_random_f32(&rng, (size_t)C, -0.5f, 0.5f);
            float *y = nst_test_alloc_f32(n), *mean = nst_test_alloc_f32(nc);
            float *rstd = nst_test_alloc_f32(nc);
            double *xd = nst_test_to_f64(x, n), *gd = nst_test_to_f64(gamma, (size_t)C);
            double *bd = nst_test_to_f64(beta, (size_t)C), *yr = nst_test_alloc_f64(n);
            double *mr = nst_test_alloc_f64(nc), *rr = nst_test_alloc_f64(nc);
            nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, N, H, W, C);
            nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, H, W, C);
            nst_tensor tm = nst_tensor_make(NST_F32, NST_BACKEND_CPU, mean, 2,
                                            (const int64_t[]){N, C});
            nst_tensor tr = nst_tensor_make(NST_F32, NST_BACKEND_CPU, rstd, 2,
                                            (const int64_t[]){N, C});
            nst_tensor tg = nst_tensor_make(NST_F32, NST_BACKEND_CPU, gamma, 1, &C);
            nst_tensor tb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, beta, 1, &C);
            nst_instance_norm_params p = {.x = &tx, .gamma = affine ? &tg : NULL,
                                          .beta = affine ? &tb : NULL, .y = &ty, .mean = &tm,
                                          .rstd = &tr, .eps = EPS};
            cr_assert_eq(nst_instance_norm_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
            naive_forward(xd, affine ? gd : NULL, affine ? bd : NULL, N, M, C, EPS, yr, mr, rr);
            char what[64];
            /* mean and rstd are double statistics rounded once to float: 1e-6 relative */
            snprintf(what, sizeof what, "affine=%d C=%lld mean", affine, (long long)C);
            cr_assert(nst_test_allclose(what, mean, mr, nc, 1e-7, 1e-6));
            snprintf(what, sizeof what, "affine=%d C=%lld rstd", affine, (long long)C);
            cr_assert(nst_test_allclose(what, rstd, rr, nc, 0.0, 1e-6));
            /* y: a handful of float roundings of O(1) values, each below 2^-24 relative */
            snprintf(what, sizeof what, "affine=%d C=%lld y", affine, (long long)C);
            cr_assert(nst_test_allclose(what, y, yr, n, 2e-6, 1e-5));
            free(x), free(y), free(mean), free(rstd), free(gamma), free(beta);
            free(xd), free(yr), free(mr), free(rr), free(gd), free(bd);
        }
    }
    nst_ctx_destroy(ctx);
}

/* Finite differences over theta = [x (FN*FM*FC), gamma (FC), beta (FC)]. */
enum { FN = 2, FH = 7, FW = 11, FC = 3, FM = FH * FW, FX = FN * FM * FC, FT = FX + 2 * FC };

typedef struct {
    const double *w; /* (FN, FH, FW, FC) weights of L = sum(w * y) */
    bool affine;
} in_loss;

static double in_loss_fn(const double *theta, void *user) {
    const in_loss *l = user;
    static double y[FX];
    naive_forward(theta, l->affine ? theta + FX : NULL, l->affine ? theta + FX + FC : NULL, FN,
                  FM, FC, EPS, y, NULL, NULL);
    return nst_test_dot(l->w, y, FX);
}

/* Runs forward then backward; dx/dgamma/dbeta are written where non-NULL. */
static void run_op(nst_ctx *ctx, float *x, float *gamma, float *beta, float *dy, int64_t N,
                   int64_t H, int64_t W, int64_t C, float *y, float *mean, float *rstd, float *dx,
                   float *dgamma, float *dbeta, bool accumulate) {
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, N, H, W, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, H, W, C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, N, H, W, C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
    nst_tensor tm = nst_tensor_make(NST_F32, NST_BACKEND_CPU, mean, 2, (const int64_t[]){N, C});
    nst_tensor tr = nst_tensor_make(NST_F32, NST_BACKEND_CPU, rstd, 2, (const int64_t[]){N, C});
    nst_tensor tg = nst_tensor_make(NST_F32, NST_BACKEND_CPU, gamma, 1, &C);
    nst_tensor tb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, beta, 1, &C);
    nst_tensor tdg = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dgamma, 1, &C);
    nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dbeta, 1, &C);
    nst_instance_norm_params p = {.x = &tx, .gamma = gamma ? &tg : NULL,
                                  .beta = beta ? &tb : NULL, .y = &ty, .mean = &tm, .rstd = &tr,
                                  .dy = &tdy, .dx = dx ? &tdx : NULL,
                                  .dgamma = dgamma ? &tdg : NULL, .dbeta = dbeta ? &tdb : NULL,
                                  .eps = EPS, .accumulate = accumulate};
    cr_assert_eq(nst_instance_norm_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_instance_norm_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

Test(cpu_instance_norm, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(52);
    static float x[FX], y[FX], dy[FX], dx[FX], gamma[FC], beta[FC], dgamma[FC], dbeta[FC];
    static float mean[FN * FC], rstd[FN * FC];
    static double theta[FT], w[FX], fd[FT];
    for (int affine = 0; affine < 2; affine++) {
        nst_test_fill_uniform(&rng, x, FX, -1.0f, 2.0f);
        nst_test_fill_uniform(&rng, gamma, FC, 0.5f, 1.5f);
        nst_test_fill_uniform(&rng, beta, FC, -0.5f, 0.5f);
        nst_test_fill_uniform(&rng, dy, FX, -1.0f, 1.0f);
        nst_test_widen(x, theta, FX), nst_test_widen(gamma, theta + FX, FC);
        nst_test_widen(beta, theta + FX + FC, FC), nst_test_widen(dy, w, FX);
        memset(dx, 0xff, sizeof dx); /* NaN: every element must be written */
        run_op(ctx, x, affine ? gamma : NULL, affine ? beta : NULL, dy, FN, FH, FW, FC, y, mean,
               rstd, dx, dgamma, dbeta, false);
        in_loss loss = {w, affine};
        nst_test_fd_grad(in_loss_fn, &loss, theta, FT, 1e-4, NULL, 0, fd);
        /* the float backward (from float-saved statistics) against O(h^2) central differences
         * of the double forward */
        /* Element by element against the differences: the fp32 backward runs from fp32-saved
         * mean and rstd (a few roundings of xhat); measured worst 1.7e-7 of max|grad|. */
        nst_test_expect_grad(affine ? "affine dx" : "dx", dx, fd, FX, 1e-6, 1e-6);
        if (affine) {
            /* Element by element against the differences: the fp32 backward runs from fp32-saved
             * mean and rstd (a few roundings of xhat); measured worst 1.7e-7 of max|grad|. */
            nst_test_expect_grad("dgamma", dgamma, fd + FX, FC, 1e-6, 1e-6);
            /* Element by element against the differences: the fp32 backward runs from fp32-saved
             * mean and rstd (a few roundings of xhat); measured worst 1.7e-7 of max|grad|. */
            nst_test_expect_grad("dbeta", dbeta, fd + FX + FC, FC, 1e-6, 1e-6);
        }
    }
    nst_ctx_destroy(ctx);
}

Test(cpu_instance_norm, null_outputs_and_accumulate) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(53);
    enum { N = 2, H = 5, W = 3, C = 5, n = N * H * W * C };
    float x[n], y[n], dy[n], dx[n], dx2[n], gamma[C], beta[C], mean[N * C], rstd[N * C];
    float dg[C], db[C], dg2[C], db2[C];
    nst_test_fill_uniform(&rng, x, n, -1.0f, 1.0f);
    nst_test_fill_uniform(&rng, dy, n, -1.0f, 1.0f);
    nst_test_fill_uniform(&rng, gamma, C, 0.5f, 1.5f);
    nst_test_fill_uniform(&rng, beta, C, -0.5f, 0.5f);
    run_op(ctx, x, gamma, beta, dy, N, H, W, C, y, mean, rstd, dx, dg, db, false);
    /* dx alone, then dgamma alone, then dbeta alone: the same values as all at once */
    run_op(ctx, x, gamma, beta, dy, N, H, W, C, y, mean, rstd, dx2, NULL, NULL, false);
    cr_assert_eq(memcmp(dx, dx2, sizeof dx), 0, "dx differs when dgamma/dbeta are skipped");
    run_op(ctx, x, gamma, beta, dy, N, H, W, C, y, mean, rstd, NULL, dg2, NULL, false);
    cr_assert_eq(memcmp(dg, dg2, sizeof dg), 0, "dgamma differs when dx/dbeta are skipped");
    run_op(ctx, x, gamma, beta, dy, N, H, W, C, y, mean, rstd, NULL, NULL, db2, false);
    cr_assert_eq(memcmp(db, db2, sizeof db), 0, "dbeta differs when dx/dgamma are skipped");
    /* accumulate adds to what is there; dx is still overwritten */
    for (int c = 0; c < C; c++)
        dg2[c] = 10.0f + (float)c, db2[c] = -3.0f * (float)c;
    memset(dx2, 0xff, sizeof dx2);
    run_op(ctx, x, gamma, beta, dy, N, H, W, C, y, mean, rstd, dx2, dg2, db2, true);
    for (int c = 0; c < C; c++) {
        /* one float rounding of the sum: 2^-24 relative of values below 20 */
        cr_assert_float_eq(dg2[c], 10.0f + (float)c + dg[c], 4e-6f, "dgamma[%d]", c);
        cr_assert_float_eq(db2[c], -3.0f * (float)c + db[c], 4e-6f, "dbeta[%d]", c);
    }
    cr_assert_eq(memcmp(dx, dx2, sizeof dx), 0, "dx must be overwritten, not accumulated");
    nst_ctx_destroy(ctx);
}

Test(cpu_instance_norm, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "nn_ops.safetensors");
    const struct {
        const char *name;
        int64_t N, H, W, C;
        bool affine;
    } cases[2] = {{"in_affine", 2, 5, 7, 3, true}, {"in_plain", 2, 6, 5, 4, false}};
    for (int k = 0; k < 2; k++) {
        const int64_t N = cases[k].N, H = cases[k].H, W = cases[k].W, C = cases[k].C;
        const int64_t dims[4] = {N, H, W, C};
        const size_t n = (size_t)(N * H * W * C), nc = (size_t)(N * C);
        char key[64];
        snprintf(key, sizeof key, "%s.x", cases[k].name);
        float *x = nst_test_load_f32(ctx, f, key, 4, dims);
        snprintf(key, sizeof key, "%s.dy", cases[k].name);
        float *dy = nst_test_load_f32(ctx, f, key, 4, dims);
        float *gamma = NULL, *beta = NULL;
        if (cases[k].affine) {
            snprintf(key, sizeof key, "%s.gamma", cases[k].name);
            gamma = nst_test_load_f32(ctx, f, key, 1, &C);
            snprintf(key, sizeof key, "%s.beta", cases[k].name);
            beta = nst_test_load_f32(ctx, f, key, 1, &C);
        }
        float *y = nst_test_alloc_f32(n), *dx = nst_test_alloc_f32(n);
        float *mean = nst_test_alloc_f32(nc), *rstd = nst_test_alloc_f32(nc);
        float *dg = nst_test_alloc_f32((size_t)C), *db = nst_test_alloc_f32((size_t)C);
        run_op(ctx, x, gamma, beta, dy, N, H, W, C, y, mean, rstd, dx, gamma ? dg : NULL,
               beta ? db : NULL, false);
        const struct {
            const char *suffix;
            const float *got;
            size_t n;
        } outs[6] = {{"y", y, n}, {"mean", mean, nc}, {"rstd", rstd, nc},
                     {"dx", dx, n}, {"dgamma", dg, (size_t)C}, {"dbeta", db, (size_t)C}};
        for (int o = 0; o < (cases[k].affine ? 6 : 4); o++) {
            snprintf(key, sizeof key, "%s.%s", cases[k].name, outs[o].suffix);
            /* fp32 against float64 from the same float32 inputs: 1e-5 + 1e-4*|ref| */
            nst_test_expect_golden(f, key, outs[o].got, outs[o].n, 1e-5, 1e-4);
        }
        free(x), free(dy), free(gamma), free(beta), free(y), free(dx), free(mean), free(rstd);
        free(dg), free(db);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_instance_norm, argument_errors_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static float buf[2 * 3 * 4 * 5], small[16];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 3, 4, 5);
    nst_tensor g4 = nst_tensor_make(NST_F32, NST_BACKEND_CPU, small, 1, (const int64_t[]){4});
    nst_tensor nc_bad = nst_tensor_make(NST_F32, NST_BACKEND_CPU, small, 2,
                                        (const int64_t[]){5, 2});
    nst_instance_norm_params p = {.x = &tx, .gamma = &g4, .y = &tx, .eps = EPS};
    cr_assert_eq(nst_instance_norm_forward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor gamma is (4) F32, expected (5) F32") != NULL,
              "%s", nst_last_error(ctx));
    p.gamma = NULL;
    p.mean = &nc_bad;
    cr_assert_eq(nst_instance_norm_forward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor mean is (5, 2)") != NULL, "%s",
              nst_last_error(ctx));
    p.mean = NULL;
    p.eps = -1.0f;
    cr_assert_eq(nst_instance_norm_forward(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "eps") != NULL, "%s", nst_last_error(ctx));
    /* backward needs the saved statistics */
    p.eps = EPS;
    p.dy = &tx;
    p.dx = &tx;
    cr_assert_eq(nst_instance_norm_backward(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "tensor mean is missing") != NULL, "%s",
              nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
