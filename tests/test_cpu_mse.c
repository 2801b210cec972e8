/* CPU MSE loss (src/cpu/mse.c): forward and backward against plain double loops on odd shapes
 * (N = 2, H = 7, W = 11, C in {1, 3, 5, 64}), backward against central finite differences,
 * accumulate, NULL output, argument checks, and PyTorch float64 goldens
 * (tests/golden/gen_losses_colour.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "losses_colour.safetensors"

static const int channel_cases[] = {1, 3, 5, 64};

static double ref_mse(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}

typedef struct {
    nst_tensor a, b, loss, da;
    nst_mse_params p;
} mse_io;

static void mse_bind(mse_io *io, float *a, float *b, float *loss, float *da, int n, int h, int w,
                     int c) {
    io->a = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, n, h, w, c);
    io->b = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, n, h, w, c);
    io->da = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, da, n, h, w, c);
    const int64_t one = 1;
    io->loss = nst_tensor_make(NST_F32, NST_BACKEND_CPU, loss, 1, &one);
    memset(&io->p, 0, sizeof io->p);
    io->p.a = &io->a;
    io->p.b = &io->b;
    io->p.loss = &io->loss;
    io->p.da = da ? &io->da : NULL;
}

/* Forward: the op sums in double, so only the final rounding to fp32 differs: rtol 1e-6
 * (2^-24 = 6e-8 plus summation-order noise). Backward: one fp32 product per element, exact
 * up to ~2 roundings: rtol 1e-6 with atol 1e-9 for the (rare) tiny differences. */
Test(cpu_mse, matches_naive_and_accumulates) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(21);
    const int n = 2, h = 7, w = 11;
    const float scale = 0.37f;
    for (size_t k = 0; k < sizeof channel_cases / sizeof *channel_cases; k++) {
        const int c = channel_cases[k];
        const size_t m = (size_t)n * h * w * c;
        float *a = nst_test_alloc_f32(m), *b = nst_test_alloc_f32(m), *da = nst_test_alloc_f32(m);
        float *prev = nst_test_alloc_f32(m);
        double *ref = nst_test_alloc_f64(m);
        nst_test_fill_uniform(&rng, a, m, -2.0f, 2.0f);
        nst_test_fill_uniform(&rng, b, m, -1.0f, 3.0f);
        nst_test_fill_uniform(&rng, prev, m, -1.0f, 1.0f);
        float loss = NAN;
        mse_io io;
        mse_bind(&io, a, b, &loss, da, n, h, w, c);
        io.p.scale = scale;
        cr_assert_eq(nst_mse_forward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        const double lref = ref_mse(a, b, m);
        cr_assert_leq(fabs(loss - lref), 1e-6 * lref, "C=%d: loss %.9g, expected %.9g", c, loss,
                      lref);

        for (size_t i = 0; i < m; i++) {
            ref[i] = (double)scale * 2.0 * ((double)a[i] - b[i]) / (double)m;
            da[i] = NAN; /* overwrite mode must not read da */
        }
        cr_assert_eq(nst_mse_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert(nst_test_allclose("mse backward", da, ref, m, 1e-9, 1e-6));

        memcpy(da, prev, m * 4);
        io.p.accumulate = true;
        cr_assert_eq(nst_mse_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
        for (size_t i = 0; i < m; i++)
            ref[i] += prev[i];
        /* the sum rounds once more, relative to |prev| ~ 1: atol 1e-7 */
        cr_assert(nst_test_allclose("mse backward accumulate", da, ref, m, 1e-7, 1e-6));
        free(a), free(b), free(da), free(prev), free(ref);
    }
    nst_ctx_destroy(ctx);
}

typedef struct {
    const double *b;
    size_t n;
} mse_fd_ctx;

static double mse_objective(const double *a, void *user) {
    const mse_fd_ctx *u = user;
    double s = 0.0;
    for (size_t i = 0; i < u->n; i++)
        s += (a[i] - u->b[i]) * (a[i] - u->b[i]);
    return s / (double)u->n;
}

/* scale * dMSE/da against central differences of the double MSE (quadratic: exact up to
 * rounding), element by element. */
Test(cpu_mse, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(22);
    const int n = 2, h = 7, w = 11, c = 3;
    const size_t m = (size_t)n * h * w * c;
    float *a = nst_test_random_f32(&rng, m, -1.0f, 1.0f);
    float *b = nst_test_random_f32(&rng, m, -1.0f, 1.0f), *da = nst_test_alloc_f32(m), loss;
    double *ad = nst_test_to_f64(a, m), *bd = nst_test_to_f64(b, m), *fd = nst_test_alloc_f64(m);
    mse_fd_ctx u = {bd, m};
    nst_test_fd_grad(mse_objective, &u, ad, m, 1e-3, NULL, 0, fd);
    mse_io io;
    mse_bind(&io, a, b, &loss, da, n, h, w, c);
    io.p.scale = 2.5f;
    cr_assert_eq(nst_mse_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = 0; i < m; i++)
        fd[i] *= 2.5;
    /* Element by element against the differences: one fp32 product k (a - b) per element (two
     * roundings); measured worst 9e-8 of max|da|. */
    nst_test_expect_grad("mse da", da, fd, m, 3e-7, 3e-7);
    free(a), free(b), free(da), free(ad), free(bd), free(fd);
    nst_ctx_destroy(ctx);
}

Test(cpu_mse, null_da_is_skipped_and_shapes_are_checked) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float a[24] = {0}, b[24] = {0}, da[24], loss;
    mse_io io;
    mse_bind(&io, a, b, &loss, NULL, 1, 2, 3, 4);
    cr_assert_eq(nst_mse_backward(ctx, &io.p), NST_OK, "da NULL means not needed");

    nst_tensor bbad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 3, 2, 4);
    io.p.b = &bbad;
    cr_assert_eq(nst_mse_forward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "mse_forward") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(1, 3, 2, 4)") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(1, 2, 3, 4)") != NULL, "%s", nst_last_error(ctx));

    io.p.b = &io.b;
    const int64_t two = 2;
    nst_tensor lbad = nst_tensor_make(NST_F32, NST_BACKEND_CPU, &loss, 1, &two);
    io.p.loss = &lbad;
    cr_assert_eq(nst_mse_forward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "loss") != NULL, "%s", nst_last_error(ctx));

    nst_tensor dabad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, da, 1, 2, 3, 5);
    io.p.da = &dabad;
    cr_assert_eq(nst_mse_backward(ctx, &io.p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "da") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

/* ---- PyTorch goldens -------------------------------------------------------------------------- */

/* fp32 op against PyTorch float64 on the same inputs: |got - ref| <= 1e-5 + 1e-4 * |ref|. */
Test(cpu_mse, pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    const int n = 2, h = 7, w = 11, c = 3;
    const size_t m = (size_t)n * h * w * c;
    float *a = nst_test_golden_f32(f, "mse.a", m), *b = nst_test_golden_f32(f, "mse.b", m);
    float *scale = nst_test_golden_f32(f, "mse.scale", 1), *da = nst_test_alloc_f32(m), loss;
    mse_io io;
    mse_bind(&io, a, b, &loss, da, n, h, w, c);
    io.p.scale = scale[0];
    cr_assert_eq(nst_mse_forward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_mse_backward(ctx, &io.p), NST_OK, "%s", nst_last_error(ctx));
    nst_test_expect_golden(f, "mse.loss", &loss, 1, 1e-5, 1e-4);
    nst_test_expect_golden(f, "mse.da", da, m, 1e-5, 1e-4);
    free(scale), free(a), free(b), free(da);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}
