/* CPU conditional instance norm (cond_instance_norm_*, src/cpu/instance_norm.c): instance norm
 * with per-image gamma and beta (N, C). Forward (y, saved mean and rstd) and backward (dx,
 * dgamma, dbeta per image) against PyTorch float64 goldens (tests/golden/light_ops.safetensors,
 * gen_light_ops.py: F.instance_norm(x) * gamma[n, c] + beta[n, c], eps 1e-5); the backward
 * against central finite differences of a double forward; with every image given the same
 * parameters it equals instance norm and its per-image gradients sum to instance norm's;
 * argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const float EPS = 1e-5f;

typedef struct {
    nst_tensor x, y, dy, dx, mean, rstd, gamma, beta, dgamma, dbeta;
    nst_instance_norm_params p;
} cin;

static void cin_make(cin *c, float *x, float *gamma, float *beta, float *dy, int64_t N, int64_t H,
                     int64_t W, int64_t C, float *y, float *mean, float *rstd, float *dx,
                     float *dgamma, float *dbeta) {
    const int64_t nc[2] = {N, C};
    c->x = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, N, H, W, C);
    c->y = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, H, W, C);
    c->dy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, N, H, W, C);
    c->dx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, N, H, W, C);
    c->mean = nst_tensor_make(NST_F32, NST_BACKEND_CPU, mean, 2, nc);
    c->rstd = nst_tensor_make(NST_F32, NST_BACKEND_CPU, rstd, 2, nc);
    c->gamma = nst_tensor_make(NST_F32, NST_BACKEND_CPU, gamma, 2, nc);
    c->beta = nst_tensor_make(NST_F32, NST_BACKEND_CPU, beta, 2, nc);
    c->dgamma = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dgamma, 2, nc);
    c->dbeta = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dbeta, 2, nc);
    c->p = (nst_instance_norm_params){.x = &c->x, .gamma = &c->gamma, .beta = &c->beta,
                                      .y = &c->y, .mean = &c->mean, .rstd = &c->rstd,
                                      .dy = &c->dy, .dx = dx ? &c->dx : NULL,
                                      .dgamma = dgamma ? &c->dgamma : NULL,
                                      .dbeta = dbeta ? &c->dbeta : NULL, .eps = EPS};
}

static void cin_run(nst_ctx *ctx, cin *c) {
    cr_assert_eq(nst_cond_instance_norm_forward(ctx, &c->p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_cond_instance_norm_backward(ctx, &c->p), NST_OK, "%s", nst_last_error(ctx));
}

Test(cpu_cond_instance_norm, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "light_ops.safetensors");
    enum { N = 2, H = 5, W = 7, C = 3, NX = N * H * W * C, NC = N * C };
    const int64_t dims[4] = {N, H, W, C}, nc[2] = {N, C};
    float *x = nst_test_load_f32(ctx, f, "cin.x", 4, dims);
    float *dy = nst_test_load_f32(ctx, f, "cin.dy", 4, dims);
    float *gamma = nst_test_load_f32(ctx, f, "cin.gamma", 2, nc);
    float *beta = nst_test_load_f32(ctx, f, "cin.beta", 2, nc);
    float *y = nst_test_nan_f32(NX), *dx = nst_test_nan_f32(NX), *mean = nst_test_nan_f32(NC);
    float *rstd = nst_test_nan_f32(NC), *dg = nst_test_nan_f32(NC), *db = nst_test_nan_f32(NC);
    cin c;
    cin_make(&c, x, gamma, beta, dy, N, H, W, C, y, mean, rstd, dx, dg, db);
    cin_run(ctx, &c);
    const struct {
        const char *key;
        const float *got;
        size_t n;
    } outs[6] = {{"cin.y", y, NX},   {"cin.mean", mean, NC},  {"cin.rstd", rstd, NC},
                 {"cin.dx", dx, NX}, {"cin.dgamma", dg, NC}, {"cin.dbeta", db, NC}};
    for (int o = 0; o < 6; o++) /* fp32 against float64 from the same inputs, as instance norm */
        nst_test_expect_golden(f, outs[o].key, outs[o].got, outs[o].n, 1e-5, 1e-4);
    free(x), free(dy), free(gamma), free(beta), free(y), free(dx), free(mean), free(rstd);
    free(dg), free(db);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

enum { FN = 2, FH = 3, FW = 4, FC = 3, FX = FN * FH * FW * FC, FNC = FN * FC };

typedef struct {
    const double *w; /* dy */
} cin_loss;

/* theta = [x, gamma (N, C), beta (N, C)]: sum(w * cond_instance_norm(x)) in double. */
static double cin_loss_fn(const double *theta, void *user) {
    const cin_loss *l = user;
    const double *x = theta, *g = theta + FX, *b = theta + FX + FNC;
    const int64_t M = FH * FW;
    double s = 0.0;
    for (int64_t n = 0; n < FN; n++)
        for (int64_t c = 0; c < FC; c++) {
            double mu = 0.0, v = 0.0;
            for (int64_t q = 0; q < M; q++)
                mu += x[(n * M + q) * FC + c];
            mu /= (double)M;
            for (int64_t q = 0; q < M; q++) {
                const double d = x[(n * M + q) * FC + c] - mu;
                v += d * d;
            }
            const double r = 1.0 / sqrt(v / (double)M + EPS);
            for (int64_t q = 0; q < M; q++) {
                const int64_t i = (n * M + q) * FC + c;
                s += l->w[i] * ((x[i] - mu) * r * g[n * FC + c] + b[n * FC + c]);
            }
        }
    return s;
}

Test(cpu_cond_instance_norm, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(95);
    float *x = nst_test_random_f32(&rng, FX, -1.0f, 2.0f);
    float *dy = nst_test_random_f32(&rng, FX, -1.0f, 1.0f);
    float *gamma = nst_test_random_f32(&rng, FNC, 0.5f, 1.5f);
    float *beta = nst_test_random_f32(&rng, FNC, -0.5f, 0.5f);
    float y[FX], dx[FX], mean[FNC], rstd[FNC], dg[FNC], db[FNC];
    cin c;
    cin_make(&c, x, gamma, beta, dy, FN, FH, FW, FC, y, mean, rstd, dx, dg, db);
    cin_run(ctx, &c);
    static double theta[FX + 2 * FNC], fd[FX + 2 * FNC];
    nst_test_widen(x, theta, FX), nst_test_widen(gamma, theta + FX, FNC);
    nst_test_widen(beta, theta + FX + FNC, FNC);
    double *w = nst_test_to_f64(dy, FX);
    cin_loss loss = {w};
    nst_test_fd_grad(cin_loss_fn, &loss, theta, FX + 2 * FNC, 1e-4, NULL, 0, fd);
    /* as instance norm's: the fp32 backward from fp32-saved statistics */
    nst_test_expect_grad("dx", dx, fd, FX, 1e-6, 1e-6);
    nst_test_expect_grad("dgamma", dg, fd + FX, FNC, 1e-6, 1e-6);
    nst_test_expect_grad("dbeta", db, fd + FX + FNC, FNC, 1e-6, 1e-6);
    free(x), free(dy), free(gamma), free(beta), free(w);
    nst_ctx_destroy(ctx);
}

Test(cpu_cond_instance_norm, shared_parameters_equal_instance_norm) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(96);
    enum { N = 3, H = 4, W = 5, C = 6, NX = N * H * W * C, NC = N * C };
    float *x = nst_test_random_f32(&rng, NX, -1.0f, 1.0f);
    float *dy = nst_test_random_f32(&rng, NX, -1.0f, 1.0f);
    float *g1 = nst_test_random_f32(&rng, C, 0.5f, 1.5f);
    float *b1 = nst_test_random_f32(&rng, C, -0.5f, 0.5f);
    float g[NC], b[NC], y[NX], dx[NX], mean[NC], rstd[NC], dg[NC], db[NC];
    float y1[NX], dx1[NX], dg1[C], db1[C];
    for (int i = 0; i < NC; i++)
        g[i] = g1[i % C], b[i] = b1[i % C];
    cin c;
    cin_make(&c, x, g, b, dy, N, H, W, C, y, mean, rstd, dx, dg, db);
    cin_run(ctx, &c);
    const int64_t cc = C;
    nst_tensor tg = nst_test_f32_1d(g1, cc), tb = nst_test_f32_1d(b1, cc);
    nst_tensor tdg = nst_test_f32_1d(dg1, cc), tdb = nst_test_f32_1d(db1, cc);
    nst_tensor ty1 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y1, N, H, W, C);
    nst_tensor tdx1 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx1, N, H, W, C);
    nst_instance_norm_params p = c.p;
    p.gamma = &tg, p.beta = &tb, p.y = &ty1, p.dx = &tdx1, p.dgamma = &tdg, p.dbeta = &tdb;
    cr_assert_eq(nst_instance_norm_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_instance_norm_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    /* the same code path: the same bits */
    cr_assert_eq(memcmp(y, y1, sizeof y), 0, "y differs from instance norm's");
    cr_assert_eq(memcmp(dx, dx1, sizeof dx), 0, "dx differs from instance norm's");
    for (int k = 0; k < C; k++) {
        double sg = 0.0, sb = 0.0;
        for (int n = 0; n < N; n++)
            sg += dg[n * C + k], sb += db[n * C + k];
        /* per-image float sums added again: a few float roundings of values below 10 */
        cr_assert_float_eq(sg, dg1[k], 1e-5, "dgamma[%d]", k);
        cr_assert_float_eq(sb, db1[k], 1e-5, "dbeta[%d]", k);
    }
    free(x), free(dy), free(g1), free(b1);
    nst_ctx_destroy(ctx);
}

Test(cpu_cond_instance_norm, argument_errors_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static float buf[2 * 3 * 4 * 5], small[16];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 3, 4, 5);
    nst_tensor c5 = nst_test_f32_1d(small, 5);
    nst_tensor nc = nst_test_f32_2d(small, 2, 5);
    /* instance norm's (C) parameters are refused: one row per image */
    nst_instance_norm_params p = {.x = &tx, .gamma = &c5, .beta = &nc, .y = &tx, .eps = EPS};
    nst_test_expect_status(ctx, nst_cond_instance_norm_forward(ctx, &p), NST_ERR_SHAPE,
                           "cond_instance_norm_forward", "tensor gamma is (5) F32, expected "
                                                         "(2, 5) F32");
    /* gamma and beta are required */
    p.gamma = &nc, p.beta = NULL;
    nst_test_expect_status(ctx, nst_cond_instance_norm_forward(ctx, &p), NST_ERR_INVALID_ARG,
                           "cond_instance_norm_forward", "tensor beta is missing");
    nst_ctx_destroy(ctx);
}
