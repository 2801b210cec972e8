/* CPU clamp (src/cpu/clamp.c) against a plain loop: values inside, below and above the range,
 * NaN kept, a tensor large enough to run in parallel, in place, and the lo > hi refusal. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "test_support.h"
#include "test_tensors.h"

static float naive_clamp(float v, float lo, float hi) {
    if (isnan(v))
        return v;
    return fminf(fmaxf(v, lo), hi);
}

static void check(nst_ctx *ctx, nst_test_rng *rng, int64_t H, int64_t W, int64_t C, bool inplace) {
    const size_t n = (size_t)(H * W * C);
    float *x = nst_test_random_f32(rng, n, -0.5f, 1.5f);
    float *y = inplace ? x : nst_test_nan_f32(n);
    float *x0 = nst_test_alloc_f32(n);
    x[0] = NAN;
    for (size_t i = 0; i < n; i++)
        x0[i] = x[i];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, H, W, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, H, W, C);
    nst_clamp_params p = {.x = &tx, .y = &ty, .lo = 0.0f, .hi = 1.0f};
    cr_assert_eq(nst_clamp(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(isnan(y[0]), "NaN must stay NaN, got %g", y[0]);
    for (size_t i = 1; i < n; i++) {
        const float want = naive_clamp(x0[i], 0.0f, 1.0f);
        cr_assert(y[i] == want, "y[%zu] = %g, want %g (x %g)", i, y[i], want, x0[i]);
    }
    free(x0);
    if (!inplace)
        free(y);
    free(x);
}

Test(cpu_clamp, matches_plain_loop) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(7);
    check(ctx, &rng, 7, 11, 3, false);
    check(ctx, &rng, 129, 257, 3, false); /* 99k elements: the parallel path */
    check(ctx, &rng, 5, 9, 3, true);
    nst_ctx_destroy(ctx);
}

Test(cpu_clamp, refuses_lo_above_hi_and_shape_mismatch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[6] = {0}, y[6];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, 1, 2, 3);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 1, 2, 3);
    nst_clamp_params p = {.x = &tx, .y = &ty, .lo = 1.0f, .hi = 0.0f};
    nst_test_expect_status(ctx, nst_clamp(ctx, &p), NST_ERR_INVALID_ARG, "clamp", "lo");
    nst_tensor tbad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 2, 1, 3);
    p = (nst_clamp_params){.x = &tx, .y = &tbad, .lo = 0.0f, .hi = 1.0f};
    nst_test_expect_status(ctx, nst_clamp(ctx, &p), NST_ERR_SHAPE, "clamp", "y");
    nst_ctx_destroy(ctx);
}
