/* CPU Gram matrix (src/cpu/gram.c): forward and backward against plain double loops on odd
 * shapes (N = 2, H = 7, W = 11, C in {1, 3, 5, 64}), backward against central finite
 * differences of a double-precision forward, accumulate and NULL-output behaviour, argument
 * checks, and PyTorch float64 goldens (tests/golden/gen_losses_colour.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "losses_colour.safetensors"

static const int channel_cases[] = {1, 3, 5, 64};

/* G[n] = X[n]^T X[n] / (C*H*W), X[n] the (H*W, C) map; all in double. */
static void ref_gram(const double *x, int n, int hw, int c, double *g) {
    for (int b = 0; b < n; b++)
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++) {
                double acc = 0.0;
                for (int p = 0; p < hw; p++)
                    acc += x[((size_t)b * hw + p) * c + i] * x[((size_t)b * hw + p) * c + j];
                g[((size_t)b * c + i) * c + j] = acc / ((double)c * hw);
            }
}

/* dX[n] = X[n] (dG[n] + dG[n]^T) / (C*H*W), in double. */
static void ref_gram_backward(const double *x, const double *dg, int n, int hw, int c,
                              double *dx) {
    for (int b = 0; b < n; b++)
        for (int p = 0; p < hw; p++)
            for (int j = 0; j < c; j++) {
                double acc = 0.0;
                for (int i = 0; i < c; i++)
                    acc += x[((size_t)b * hw + p) * c + i] *
                           (dg[((size_t)b * c + i) * c + j] + dg[((size_t)b * c + j) * c + i]);
                dx[((size_t)b * hw + p) * c + j] = acc / ((double)c * hw);
            }
}

typedef struct {
    nst_tensor x, g, dg, dx;
    nst_gram_params p;
} gram_io;

static void gram_bind(gram_io *io, float *x, float *g, float *dg, float *dx, int n, int h, int w,
                      int c) {
    io->x = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, n, h, w, c);
    io->dx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, n, h, w, c);
    const int64_t gd[3] = {n, c, c};
    io->g = nst_tensor_make(NST_F32, NST_BACKEND_CPU, g, 3, gd);
    io->dg = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dg, 3, gd);
    memset(&io->p, 0, sizeof io->p);
    io->p.x = &io->x;
    io->p.g = &io->g;
    io->p.dg = &io->dg;
    io->p.dx = dx ? &io->dx : NULL;
}

/* The fp32 Gram is a sum of H*W products accumulated by OpenBLAS in fp32 (blocked order): the
 * rounding error is below H*W * 2^-24 of sum|x_i x_j| / (C*H*W) <= that of the largest diagonal
 * entry (Cauchy-Schwarz), so atol = 1e-5 * max|G| (77 * 6e-8 = 4.6e-6 worst case) and
 * rtol = 1e-5 for the entries without cancellation. */
Test(cpu_gram, forward_matches_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(11);
    const int n = 2, h = 7, w = 11;
    for (size_t k = 0; k < sizeof channel_cases / sizeof *channel_cases; k++) {
        const int c = channel_cases[k];
        const size_t nx = (size_t)n * h * w * c, ng = (size_t)n * c * c;
        float *x = nst_test_random_f32(&rng, nx, -1.0f, 1.5f), *g = nst_test_alloc_f32(ng);
        double *gref = nst_test_alloc_f64(ng);
        double *xd = nst_test_to_f64(x, nx);
        ref_gram(xd, n, h * w, c, gref);
        gram_io io;
        gram_bind(&io, x, g, NULL, NULL, n, h, w, c);
        cr_assert_eq(nst_gram_forward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        char what[64];
        snprintf(what, sizeof what, "gram forward C=%d", c);
        cr_assert(nst_test_allclose(what, g, gref, ng, 1e-5 * nst_test_max_abs(gref, ng), 1e-5));
        for (int b = 0; b < n; b++) /* exactly symmetric: the lower triangle is a copy */
            for (int i = 0; i < c; i++)
                for (int j = 0; j < i; j++)
                    cr_assert_eq(g[((size_t)b * c + i) * c + j], g[((size_t)b * c + j) * c + i]);
        free(x), free(g), free(gref), free(xd);
    }
    nst_ctx_destroy(ctx);
}

/* Backward: dx sums C products of x and dG per element (sgemm, fp32); same bound as forward. */
Test(cpu_gram, backward_matches_naive_and_accumulates) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(12);
    const int n = 2, h = 7, w = 11;
    for (size_t k = 0; k < sizeof channel_cases / sizeof *channel_cases; k++) {
        const int c = channel_cases[k];
        const size_t nx = (size_t)n * h * w * c, ng = (size_t)n * c * c;
        float *x = nst_test_random_f32(&rng, nx, -1.0f, 1.0f);
        float *dg = nst_test_random_f32(&rng, ng, -1.0f, 1.0f);
        float *prev = nst_test_random_f32(&rng, nx, -1.0f, 1.0f), *dx = nst_test_alloc_f32(nx);
        double *ref = nst_test_alloc_f64(nx);
        double *xd = nst_test_to_f64(x, nx), *dgd = nst_test_to_f64(dg, ng);
        ref_gram_backward(xd, dgd, n, h * w, c, ref);
        const double atol = 1e-5 * nst_test_max_abs(ref, nx);
        char what[64];

        gram_io io;
        gram_bind(&io, x, NULL, dg, dx, n, h, w, c);
        for (size_t i = 0; i < nx; i++)
            dx[i] = NAN; /* overwrite mode must not read dx */
        cr_assert_eq(nst_gram_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        snprintf(what, sizeof what, "gram backward C=%d", c);
        cr_assert(nst_test_allclose(what, dx, ref, nx, atol, 1e-5));

        memcpy(dx, prev, nx * sizeof *dx);
        io.p.accumulate = true;
        cr_assert_eq(nst_gram_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        for (size_t i = 0; i < nx; i++)
            ref[i] += prev[i];
        snprintf(what, sizeof what, "gram backward accumulate C=%d", c);
        cr_assert(nst_test_allclose(what, dx, ref, nx, atol + 1e-6, 1e-5));
        free(x), free(dg), free(dx), free(prev), free(ref), free(xd), free(dgd);
    }
    nst_ctx_destroy(ctx);
}

typedef struct {
    int n, hw, c;
    const double *dg;
    double *g; /* scratch (N, C, C) */
} gram_fd_ctx;

static double gram_objective(const double *x, void *user) {
    gram_fd_ctx *u = user;
    ref_gram(x, u->n, u->hw, u->c, u->g);
    return nst_test_dot(u->dg, u->g, (size_t)u->n * u->c * u->c);
}

/* The op's backward (dy = dG) against central differences of sum(dG * G(x)) in double:
 * G is quadratic, so the central difference is exact up to rounding; every element within the
 * fp32 op's rounding. */
Test(cpu_gram, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(13);
    const int n = 2, h = 7, w = 11, c = 5;
    const size_t nx = (size_t)n * h * w * c, ng = (size_t)n * c * c;
    float *x = nst_test_random_f32(&rng, nx, -1.0f, 1.0f);
    float *dg = nst_test_random_f32(&rng, ng, -1.0f, 1.0f), *dx = nst_test_alloc_f32(nx);
    double *xd = nst_test_to_f64(x, nx), *dgd = nst_test_to_f64(dg, ng);
    double *fd = nst_test_alloc_f64(nx);
    double *gs = nst_test_alloc_f64(ng);
    gram_fd_ctx u = {n, h * w, c, dgd, gs};
    nst_test_fd_grad(gram_objective, &u, xd, nx, 1e-4, NULL, 0, fd);
    gram_io io;
    gram_bind(&io, x, NULL, dg, dx, n, h, w, c);
    cr_assert_eq(nst_gram_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    /* Element by element against the differences: fp32 sgemm sums of 2C products per element,
     * some cancelling; measured worst 1.1e-7 of max|dx|. */
    nst_test_expect_grad("gram dx", dx, fd, nx, 5e-7, 1e-6);
    free(x), free(dg), free(dx), free(xd), free(dgd), free(fd), free(gs);
    nst_ctx_destroy(ctx);
}

Test(cpu_gram, null_dx_is_skipped_and_shapes_are_checked) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[2 * 3 * 4 * 5] = {0}, g[2 * 5 * 5], dx[2 * 3 * 4 * 5];
    gram_io io;
    gram_bind(&io, x, g, g, NULL, 2, 3, 4, 5);
    cr_assert_eq(nst_gram_backward(ctx, &io.p), NST_OK, "dx NULL means not needed");

    gram_bind(&io, x, g, g, dx, 2, 3, 4, 5);
    const int64_t bad[3] = {2, 5, 4};
    nst_tensor gbad = nst_tensor_make(NST_F32, NST_BACKEND_CPU, g, 3, bad);
    io.p.g = &gbad;
    cr_assert_eq(nst_gram_forward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "gram_forward") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(2, 5, 4)") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(2, 5, 5)") != NULL, "%s", nst_last_error(ctx));

    io.p.dg = &gbad;
    cr_assert_eq(nst_gram_backward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "dg") != NULL, "%s", nst_last_error(ctx));

    nst_tensor dxbad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, 2, 4, 3, 5);
    io.p.dg = &io.dg;
    io.p.dx = &dxbad;
    cr_assert_eq(nst_gram_backward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "dx") != NULL, "%s", nst_last_error(ctx));

    io.p.x = NULL;
    cr_assert_eq(nst_gram_forward(ctx, &io.p), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}

/* ---- PyTorch goldens -------------------------------------------------------------------------- */

/* fp32 op against PyTorch float64 on the same (float32-exact) inputs:
 * |got - ref| <= 1e-5 + 1e-4 * |ref| per element (fp32 accumulation of up to 77 products). */
Test(cpu_gram, pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    const struct {
        const char *name;
        int n, h, w, c;
    } cases[] = {{"gram_c5", 2, 7, 11, 5}, {"gram_c64", 1, 6, 5, 64}};
    for (size_t k = 0; k < 2; k++) {
        const int n = cases[k].n, h = cases[k].h, w = cases[k].w, c = cases[k].c;
        const size_t nx = (size_t)n * h * w * c, ng = (size_t)n * c * c;
        char key[64];
        snprintf(key, sizeof key, "%s.x", cases[k].name);
        float *x = nst_test_golden_f32(f, key, nx);
        snprintf(key, sizeof key, "%s.dg", cases[k].name);
        float *dg = nst_test_golden_f32(f, key, ng);
        float *g = nst_test_alloc_f32(ng), *dx = nst_test_alloc_f32(nx);
        gram_io io;
        gram_bind(&io, x, g, dg, dx, n, h, w, c);
        cr_assert_eq(nst_gram_forward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(nst_gram_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        snprintf(key, sizeof key, "%s.g", cases[k].name);
        nst_test_expect_golden(f, key, g, ng, 1e-5, 1e-4);
        snprintf(key, sizeof key, "%s.dx", cases[k].name);
        nst_test_expect_golden(f, key, dx, nx, 1e-5, 1e-4);
        free(x), free(dg), free(g), free(dx);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}
