/* The CPU reductions sum in a fixed order: mse, tv, reduce sum/mean, affine_grid backward and
 * instance_norm forward/backward, each on a few hundred thousand elements (enough to run
 * parallel), give the same bits on 1, 2, 3 and 5 threads and when run again. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

/* 2 x 200 x 250 x 3 = 300,000 elements; each image (and each affine_grid dgrid image) holds
 * 150 whole periods of the pattern below */
enum { N = 2, H = 200, W = 250, C = 3, NX = N * H * W * C, PERIOD = 1000 };

static const int thread_counts[] = {1, 2, 3, 5};
#define N_COUNTS (sizeof thread_counts / sizeof *thread_counts)

/* Runs one op into out (n floats) with a given thread count. */
typedef void (*run_fn)(nst_ctx *ctx, const float *in, float *out);

/* Runs fn twice for every thread count; every run must give the bits of the first. */
static void expect_same_bits(const char *what, run_fn fn, size_t n_out) {
    nst_test_rng r = nst_test_rng_seed(77);
    float *in = nst_test_random_f32(&r, 2 * (size_t)NX, -1.0f, 1.0f);
    /* in each PERIOD, six values of +2^40 and, half a period later, six of -2^40 (six in a row:
     * every channel of a stride-2 or stride-3 layout gets two of each). While +2^40 is in a
     * running sum the small values added to it lose their low bits, differently for each order
     * of the double additions; once the big values cancel, that difference would show in the
     * fp32 result. (The squares of mse and tv cannot cancel: there the test only guards.) */
    for (size_t i = 0; i < 2 * (size_t)NX; i++) {
        const size_t k = i % PERIOD;
        if (k < 6)
            in[i] = 0x1p40f;
        else if (k >= PERIOD / 2 && k < PERIOD / 2 + 6)
            in[i] = -0x1p40f;
    }
    float *first = nst_test_nan_f32(n_out), *out = nst_test_nan_f32(n_out);
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t t = 0; t < N_COUNTS; t++)
        for (int rep = 0; rep < 2; rep++) {
            nst_ctx_set_threads(ctx, thread_counts[t]);
            float *dst = t == 0 && rep == 0 ? first : out;
            fn(ctx, in, dst);
            cr_assert_eq(memcmp(dst, first, n_out * sizeof *dst), 0,
                         "%s: %d threads (run %d) differ from 1 thread", what, thread_counts[t],
                         rep + 1);
        }
    nst_ctx_destroy(ctx);
    free(in), free(first), free(out);
}

static nst_tensor nhwc(const float *data) {
    return nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (float *)data, N, H, W, C);
}

static void run_mse(nst_ctx *ctx, const float *in, float *out) {
    nst_tensor a = nhwc(in), b = nhwc(in + NX), loss = nst_test_f32_1d(out, 1);
    nst_mse_params p = {.a = &a, .b = &b, .loss = &loss};
    cr_assert_eq(nst_mse_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

static void run_tv(nst_ctx *ctx, const float *in, float *out) {
    nst_tensor x = nhwc(in), loss = nst_test_f32_1d(out, 1);
    nst_tv_params p = {.x = &x, .loss = &loss};
    cr_assert_eq(nst_tv_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

static void run_reduce(nst_ctx *ctx, const float *in, float *out) {
    nst_tensor x = nst_test_f32_1d((float *)in, 2 * (int64_t)NX);
    nst_tensor sum = nst_test_f32_1d(out, 1), mean = nst_test_f32_1d(out + 1, 1);
    nst_reduce_params ps = {.x = &x, .y = &sum}, pm = {.x = &x, .y = &mean};
    cr_assert_eq(nst_reduce_sum(ctx, &ps), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_reduce_mean(ctx, &pm), NST_OK, "%s", nst_last_error(ctx));
}

/* dgrid (N, GH, W, 2): the input's first 300,000 values */
enum { GH = H * C / 2 };

static void run_affine_backward(nst_ctx *ctx, const float *in, float *out) {
    nst_tensor dgrid = nst_test_f32((float *)in, 4, (const int64_t[]){N, GH, W, 2});
    nst_tensor dtheta = nst_test_f32(out, 3, (const int64_t[]){N, 2, 3});
    nst_affine_grid_params p = {.dgrid = &dgrid, .dtheta = &dtheta, .align_corners = false};
    cr_assert_eq(nst_affine_grid_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

/* out: y (NX), mean and rstd (N * C each), dx (NX), dgamma and dbeta (C each) */
enum { NORM_OUT = 2 * NX + 2 * N * C + 2 * C };

static void run_instance_norm(nst_ctx *ctx, const float *in, float *out) {
    const float gamma_v[C] = {0.7f, -1.3f, 2.1f}, beta_v[C] = {0.1f, 0.2f, -0.3f};
    nst_tensor x = nhwc(in), dy = nhwc(in + NX), y = nhwc(out), dx = nhwc(out + NX);
    nst_tensor gamma = nst_test_f32_1d((float *)gamma_v, C);
    nst_tensor beta = nst_test_f32_1d((float *)beta_v, C);
    float *stats = out + 2 * NX;
    nst_tensor mean = nst_test_f32_2d(stats, N, C), rstd = nst_test_f32_2d(stats + N * C, N, C);
    nst_tensor dgamma = nst_test_f32_1d(stats + 2 * N * C, C);
    nst_tensor dbeta = nst_test_f32_1d(stats + 2 * N * C + C, C);
    nst_instance_norm_params p = {.x = &x, .gamma = &gamma, .beta = &beta, .y = &y,
                                  .mean = &mean, .rstd = &rstd, .dy = &dy, .dx = &dx,
                                  .dgamma = &dgamma, .dbeta = &dbeta, .eps = 1e-5f};
    cr_assert_eq(nst_instance_norm_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_instance_norm_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

Test(cpu_determinism, mse_forward) { expect_same_bits("mse_forward", run_mse, 1); }
Test(cpu_determinism, tv_forward) { expect_same_bits("tv_forward", run_tv, 1); }
Test(cpu_determinism, reduce_sum_and_mean) { expect_same_bits("reduce", run_reduce, 2); }
Test(cpu_determinism, affine_grid_backward) {
    expect_same_bits("affine_grid_backward", run_affine_backward, N * 6);
}
Test(cpu_determinism, instance_norm_forward_and_backward) {
    expect_same_bits("instance_norm", run_instance_norm, NORM_OUT);
}
