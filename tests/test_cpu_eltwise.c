/* CPU elementwise ops (src/cpu/eltwise.c): add, scale and axpy against plain loops on odd NHWC
 * shapes and on a tensor large enough to run in parallel, in-place use, and shape errors. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

static const int64_t CHANNELS[] = {1, 3, 5, 64};

/* One case: shape (N, H, W, C); checks add, scale and axpy element by element. The plain loops
 * do the same single float operations, so the results must be identical (tolerance 0). */
static void check_shape(nst_ctx *ctx, nst_test_rng *rng, int64_t N, int64_t H, int64_t W,
                        int64_t C) {
    const size_t n = (size_t)(N * H * W * C);
    float *a = nst_test_alloc_f32(n), *b = nst_test_alloc_f32(n);
    float *y = nst_test_alloc_f32(n), *y0 = nst_test_alloc_f32(n);
    nst_test_fill_uniform(rng, a, n, -2.0f, 2.0f);
    nst_test_fill_uniform(rng, b, n, -2.0f, 2.0f);
    nst_test_fill_uniform(rng, y0, n, -2.0f, 2.0f);
    nst_tensor ta = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, N, H, W, C);
    nst_tensor tb = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, N, H, W, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, N, H, W, C);
    const float alpha = -0.3712f;

    nst_add_params pa = {&ta, &tb, &ty};
    cr_assert_eq(nst_add(ctx, &pa), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = 0; i < n; i++)
        cr_assert(y[i] == a[i] + b[i], "add: y[%zu] = %g, want %g", i, y[i], a[i] + b[i]);

    nst_scale_params ps = {.x = &ta, .y = &ty, .alpha = alpha};
    cr_assert_eq(nst_scale(ctx, &ps), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = 0; i < n; i++)
        cr_assert(y[i] == alpha * a[i], "scale: y[%zu] = %g, want %g", i, y[i], alpha * a[i]);

    memcpy(y, y0, n * sizeof *y);
    cr_assert_eq(nst_axpy(ctx, &ps), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = 0; i < n; i++) {
        const float prod = alpha * a[i], want = y0[i] + prod;
        cr_assert(y[i] == want, "axpy: y[%zu] = %.9g, want %.9g", i, y[i], want);
    }
    free(a), free(b), free(y), free(y0);
}

Test(cpu_eltwise, add_scale_axpy_match_plain_loops) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(61);
    for (size_t ci = 0; ci < sizeof CHANNELS / sizeof *CHANNELS; ci++)
        check_shape(ctx, &rng, 2, 7, 11, CHANNELS[ci]);
    check_shape(ctx, &rng, 1, 129, 257, 5); /* 165k elements: the parallel path */
    nst_ctx_destroy(ctx);
}

Test(cpu_eltwise, scale_in_place_and_axpy_onto_itself) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[5] = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f};
    nst_tensor t = nst_tensor_make(NST_F32, NST_BACKEND_CPU, x, 1, (const int64_t[]){5});
    nst_scale_params p = {.x = &t, .y = &t, .alpha = 4.0f};
    cr_assert_eq(nst_scale(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    const float want[5] = {4.0f, -8.0f, 2.0f, 12.0f, -1.0f};
    for (int i = 0; i < 5; i++)
        cr_assert(x[i] == want[i], "scale in place: x[%d] = %g", i, x[i]);
    p.alpha = 0.5f; /* y += 0.5 y: 1.5 y, exact for these values */
    cr_assert_eq(nst_axpy(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    for (int i = 0; i < 5; i++)
        cr_assert(x[i] == 1.5f * want[i], "axpy onto itself: x[%d] = %g", i, x[i]);
    nst_ctx_destroy(ctx);
}

Test(cpu_eltwise, shape_mismatch_names_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float a[24] = {0}, b[24] = {0};
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 2, 3, 4, 1);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 2, 4, 3, 1);
    nst_scale_params p = {.x = &tx, .y = &ty, .alpha = 1.0f};
    cr_assert_eq(nst_scale(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "op scale: tensor y is (2, 4, 3, 1)") != NULL, "%s",
              nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(2, 3, 4, 1)") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_axpy(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "op axpy: tensor y") != NULL, "%s", nst_last_error(ctx));
    nst_add_params pa = {&tx, &ty, &tx};
    cr_assert_eq(nst_add(ctx, &pa), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "op add: tensor b") != NULL, "%s", nst_last_error(ctx));
    p.x = NULL;
    cr_assert_eq(nst_scale(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "tensor x is missing") != NULL, "%s",
              nst_last_error(ctx));
    /* a tensor on another backend is refused, not dereferenced */
    nst_tensor dev = nst_tensor_nhwc(NST_F32, NST_BACKEND_CUDA, a, 2, 3, 4, 1);
    p.x = &dev;
    p.y = &dev;
    cr_assert_eq(nst_scale(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "lives on cuda") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
