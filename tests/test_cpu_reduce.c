/* CPU reductions (src/cpu/reduce.c): sum and mean against a plain double loop on odd NHWC shapes,
 * a sum whose exact value float accumulation would miss (so the accumulator must be double),
 * results independent of the thread count, the empty tensor, and shape errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};

static float run(nst_ctx *ctx, bool mean, const nst_tensor *x) {
    float out = NAN;
    nst_tensor ty = nst_tensor_make(NST_F32, NST_BACKEND_CPU, &out, 1, (const int64_t[]){1});
    nst_reduce_params p = {.x = x, .y = &ty};
    cr_assert_eq(mean ? nst_reduce_mean(ctx, &p) : nst_reduce_sum(ctx, &p), NST_OK, "%s",
                 nst_last_error(ctx));
    return out;
}

Test(cpu_reduce, sum_and_mean_match_a_double_loop) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(71);
    for (size_t ci = 0; ci < sizeof CHANNELS / sizeof *CHANNELS; ci++) {
        const int64_t N = 2, H = 7, W = 11, C = CHANNELS[ci];
        const size_t n = (size_t)(N * H * W * C);
        float *x = nst_test_random_f32(&rng, n, -1.0f, 3.0f);
        double ref = 0.0;
        for (size_t i = 0; i < n; i++)
            ref += x[i];
        nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, N, H, W, C);
        /* double sums in any order agree to ~1e-15; the float result is one rounding away:
         * within 2^-23 relative */
        const double got_sum = run(ctx, false, &tx), got_mean = run(ctx, true, &tx);
        cr_assert_leq(fabs(got_sum - ref), 0x1p-23 * fabs(ref), "C=%lld sum %.9g, want %.9g",
                      (long long)C, got_sum, ref);
        const double ref_mean = ref / (double)n;
        cr_assert_leq(fabs(got_mean - ref_mean), 0x1p-23 * fabs(ref_mean),
                      "C=%lld mean %.9g, want %.9g", (long long)C, got_mean, ref_mean);
        free(x);
    }
    nst_ctx_destroy(ctx);
}

Test(cpu_reduce, accumulates_in_double_whatever_the_thread_count) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    /* 10^6 copies of 0.1f: every partial sum is a multiple of 0.1f below 2^44 ulps, exact in
     * double, so the answer is exactly (float)(1e6 * 0.1f); a float accumulator drifts by ~1% */
    const size_t n = 1000000;
    float *x = nst_test_alloc_f32(n);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.1f;
    nst_tensor tx = nst_tensor_make(NST_F32, NST_BACKEND_CPU, x, 1, (const int64_t[]){(int64_t)n});
    const float want = (float)(1e6 * (double)0.1f);
    float results[3];
    const int threads[3] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
        nst_ctx_set_threads(ctx, threads[k]);
        results[k] = run(ctx, false, &tx);
        cr_assert(results[k] == want, "%d threads: sum %.9g, want %.9g", threads[k], results[k],
                  want);
        /* the mean divides the exact double sum: exactly 0.1f again */
        const float mean = run(ctx, true, &tx);
        cr_assert(mean == 0.1f, "%d threads: mean %.9g, want 0.1f", threads[k], mean);
    }
    /* random data: bitwise the same result on 1, 2 and 3 threads */
    nst_test_rng rng = nst_test_rng_seed(72);
    nst_test_fill_uniform(&rng, x, n, -1.0f, 1.0f);
    for (int k = 0; k < 3; k++) {
        nst_ctx_set_threads(ctx, threads[k]);
        results[k] = run(ctx, true, &tx);
    }
    cr_assert(results[0] == results[1] && results[1] == results[2], "mean %.9g %.9g %.9g",
              results[0], results[1], results[2]);
    free(x);
    nst_ctx_destroy(ctx);
}

Test(cpu_reduce, empty_tensor_sum_is_zero_mean_is_nan) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_tensor tx = nst_tensor_make(NST_F32, NST_BACKEND_CPU, NULL, 2, (const int64_t[]){0, 3});
    cr_assert(run(ctx, false, &tx) == 0.0f);
    cr_assert(isnan(run(ctx, true, &tx)), "torch.mean of an empty tensor is NaN");
    nst_ctx_destroy(ctx);
}

Test(cpu_reduce, output_must_have_shape_one) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[6] = {1, 2, 3, 4, 5, 6}, y[2];
    nst_tensor tx = nst_tensor_make(NST_F32, NST_BACKEND_CPU, x, 2, (const int64_t[]){2, 3});
    nst_tensor ty = nst_tensor_make(NST_F32, NST_BACKEND_CPU, y, 1, (const int64_t[]){2});
    nst_reduce_params p = {.x = &tx, .y = &ty};
    cr_assert_eq(nst_reduce_sum(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "op reduce_sum: tensor y is (2) F32, expected (1) F32"),
              "%s", nst_last_error(ctx));
    cr_assert_eq(nst_reduce_mean(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "op reduce_mean: tensor y") != NULL, "%s",
              nst_last_error(ctx));
    p.x = NULL;
    cr_assert_eq(nst_reduce_sum(ctx, &p), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}
