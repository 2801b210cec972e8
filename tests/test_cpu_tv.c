/* CPU total-variation loss (src/cpu/tv.c): forward and backward against plain double loops on
 * odd shapes (N = 2, H = 7, W = 11, C in {1, 3, 5, 64}, plus 1-pixel-high and 1-pixel-wide
 * images), backward against central finite differences, accumulate, NULL output, argument
 * checks, and PyTorch float64 goldens (tests/golden/gen_losses_colour.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "losses_colour.safetensors"

typedef struct {
    int n, h, w, c;
} tv_shape;

static size_t at(const tv_shape *s, int n, int h, int w, int c) {
    return (((size_t)n * s->h + h) * s->w + w) * s->c + c;
}

/* TV = (sum of squared vertical + horizontal neighbour differences) / (N*H*W), in double. */
static double ref_tv(const tv_shape *s, const double *x) {
    double sum = 0.0;
    for (int n = 0; n < s->n; n++)
        for (int h = 0; h < s->h; h++)
            for (int w = 0; w < s->w; w++)
                for (int c = 0; c < s->c; c++) {
                    if (h + 1 < s->h) {
                        double d = x[at(s, n, h + 1, w, c)] - x[at(s, n, h, w, c)];
                        sum += d * d;
                    }
                    if (w + 1 < s->w) {
                        double d = x[at(s, n, h, w + 1, c)] - x[at(s, n, h, w, c)];
                        sum += d * d;
                    }
                }
    return sum / ((double)s->n * s->h * s->w);
}

/* Gradient of TV by scattering each difference's derivative to its two ends. */
static void ref_tv_backward(const tv_shape *s, const double *x, double scale, double *dx) {
    const size_t m = (size_t)s->n * s->h * s->w * s->c;
    const double k = 2.0 * scale / ((double)s->n * s->h * s->w);
    memset(dx, 0, m * sizeof *dx);
    for (int n = 0; n < s->n; n++)
        for (int h = 0; h < s->h; h++)
            for (int w = 0; w < s->w; w++)
                for (int c = 0; c < s->c; c++) {
                    const size_t i = at(s, n, h, w, c);
                    if (h + 1 < s->h) {
                        const size_t j = at(s, n, h + 1, w, c);
                        dx[j] += k * (x[j] - x[i]);
                        dx[i] -= k * (x[j] - x[i]);
                    }
                    if (w + 1 < s->w) {
                        const size_t j = at(s, n, h, w + 1, c);
                        dx[j] += k * (x[j] - x[i]);
                        dx[i] -= k * (x[j] - x[i]);
                    }
                }
}

typedef struct {
    nst_tensor x, loss, dx;
    nst_tv_params p;
} tv_io;

static void tv_bind(tv_io *io, const tv_shape *s, float *x, float *loss, float *dx) {
    io->x = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, s->n, s->h, s->w, s->c);
    io->dx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, s->n, s->h, s->w, s->c);
    const int64_t one = 1;
    io->loss = nst_tensor_make(NST_F32, NST_BACKEND_CPU, loss, 1, &one);
    memset(&io->p, 0, sizeof io->p);
    io->p.x = &io->x;
    io->p.loss = &io->loss;
    io->p.dx = dx ? &io->dx : NULL;
}

/* Forward sums in double: rtol 1e-6 (final fp32 rounding). Backward: four fp32 differences per
 * element, each exact or within 2^-24 of max|x| = 1, times k: atol 1e-6 * max|dx ref|, rtol 1e-5
 * (differences of nearby values cancel, so the relative error of small entries can be large). */
Test(cpu_tv, matches_naive_and_accumulates) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(31);
    const tv_shape shapes[] = {{2, 7, 11, 1}, {2, 7, 11, 3}, {2, 7, 11, 5},
                               {2, 7, 11, 64}, {2, 1, 9, 3}, {2, 6, 1, 3}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        const tv_shape *s = &shapes[k];
        const size_t m = (size_t)s->n * s->h * s->w * s->c;
        float *x = nst_test_random_f32(&rng, m, -1.0f, 1.0f);
        float *prev = nst_test_random_f32(&rng, m, -1.0f, 1.0f);
        float *dx = nst_test_alloc_f32(m), loss = NAN;
        double *xd = nst_test_to_f64(x, m), *ref = nst_test_alloc_f64(m);
        tv_io io;
        tv_bind(&io, s, x, &loss, dx);
        io.p.scale = 0.8f;
        cr_assert_eq(nst_tv_forward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        const double lref = ref_tv(s, xd);
        cr_assert_leq(fabs(loss - lref), 1e-6 * lref, "shape %d: loss %.9g, expected %.9g",
                      (int)k, loss, lref);

        ref_tv_backward(s, xd, 0.8f, ref);
        double mx = 0.0;
        for (size_t i = 0; i < m; i++) {
            mx = fmax(mx, fabs(ref[i]));
            dx[i] = NAN; /* overwrite mode must not read dx */
        }
        cr_assert_eq(nst_tv_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        char what[64];
        snprintf(what, sizeof what, "tv backward shape %d", (int)k);
        cr_assert(nst_test_allclose(what, dx, ref, m, 1e-6 * mx, 1e-5));

        memcpy(dx, prev, m * 4);
        io.p.accumulate = true;
        cr_assert_eq(nst_tv_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        for (size_t i = 0; i < m; i++)
            ref[i] += prev[i];
        /* one more rounding of a sum with |prev| <= 1: atol + 1e-7 */
        cr_assert(nst_test_allclose(what, dx, ref, m, 1e-6 * mx + 1e-7, 1e-5));
        free(x), free(dx), free(prev), free(xd), free(ref);
    }
    nst_ctx_destroy(ctx);
}

static double tv_objective(const double *x, void *user) { return ref_tv(user, x); }

/* scale * dTV/dx against central differences of the double TV (quadratic: exact up to
 * rounding), element by element. */
Test(cpu_tv, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(32);
    tv_shape s = {2, 7, 11, 3};
    const size_t m = (size_t)s.n * s.h * s.w * s.c;
    float *x = nst_test_random_f32(&rng, m, 0.0f, 1.0f), *dx = nst_test_alloc_f32(m), loss;
    double *xd = nst_test_to_f64(x, m), *fd = nst_test_alloc_f64(m);
    nst_test_fd_grad(tv_objective, &s, xd, m, 1e-3, NULL, 0, fd);
    tv_io io;
    tv_bind(&io, &s, x, &loss, dx);
    io.p.scale = 3.0f;
    cr_assert_eq(nst_tv_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = 0; i < m; i++)
        fd[i] *= 3.0;
    /* Element by element against the differences: four fp32 neighbour differences per element,
     * summed in fp32; measured worst 9e-8 of max|dx|. */
    nst_test_expect_grad("tv dx", dx, fd, m, 3e-7, 3e-7);
    free(x), free(dx), free(xd), free(fd);
    nst_ctx_destroy(ctx);
}

Test(cpu_tv, constant_image_has_zero_loss_and_gradient) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    tv_shape s = {1, 4, 5, 3};
    float x[60], dx[60], loss = NAN;
    for (int i = 0; i < 60; i++)
        x[i] = 0.25f * (float)(i % 3); /* constant per channel */
    tv_io io;
    tv_bind(&io, &s, x, &loss, dx);
    io.p.scale = 1.0f;
    cr_assert_eq(nst_tv_forward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(loss, 0.0f);
    cr_assert_eq(nst_tv_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    for (int i = 0; i < 60; i++)
        cr_assert_eq(dx[i], 0.0f, "dx[%d] = %g", i, dx[i]);
    nst_ctx_destroy(ctx);
}

Test(cpu_tv, null_dx_is_skipped_and_shapes_are_checked) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    tv_shape s = {1, 2, 3, 4};
    float x[24] = {0}, dx[24], loss;
    tv_io io;
    tv_bind(&io, &s, x, &loss, NULL);
    cr_assert_eq(nst_tv_backward(ctx, &io.p), NST_OK, "dx NULL means not needed");

    nst_tensor dxbad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, 1, 3, 2, 4);
    io.p.dx = &dxbad;
    cr_assert_eq(nst_tv_backward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tv_backward") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(1, 3, 2, 4)") != NULL, "%s", nst_last_error(ctx));

    const int64_t d3[3] = {2, 3, 4};
    nst_tensor x3 = nst_tensor_make(NST_F32, NST_BACKEND_CPU, x, 3, d3);
    io.p.x = &x3;
    cr_assert_eq(nst_tv_forward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor x") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

/* ---- PyTorch goldens -------------------------------------------------------------------------- */

/* fp32 op against PyTorch float64 on the same inputs: |got - ref| <= 1e-5 + 1e-4 * |ref|. */
Test(cpu_tv, pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    tv_shape s = {2, 7, 11, 3};
    const size_t m = (size_t)s.n * s.h * s.w * s.c;
    float *x = nst_test_golden_f32(f, "tv.x", m), *scale = nst_test_golden_f32(f, "tv.scale", 1);
    float *dx = nst_test_alloc_f32(m), loss;
    tv_io io;
    tv_bind(&io, &s, x, &loss, dx);
    io.p.scale = scale[0];
    cr_assert_eq(nst_tv_forward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_tv_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    nst_test_expect_golden(f, "tv.loss", &loss, 1, 1e-5, 1e-4);
    nst_test_expect_golden(f, "tv.dx", dx, m, 1e-5, 1e-4);
    free(scale), free(x), free(dx);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}
