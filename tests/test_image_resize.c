/* Resizing and float conversions of 8-bit images (src/host/image.c): the Catmull-Rom resize
 * against a naive separable implementation in double and against analytic results (constants,
 * linear gradients), up-then-down closeness, alpha weighting, refused sizes; u8 <-> float round
 * trips, clamping, NaN and rounding. File I/O: tests/test_image.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test_images.h"
#include "test_support.h"

/* ---- resizing ----------------------------------------------------------------------------- */

Test(image_resize, constant_stays_constant_and_sizes_are_honoured) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    static const int sizes[][2] = {{5, 3}, {1, 1}, {1, 50}, {50, 1}, {40, 29}, {17, 11}, {301, 7}};
    static const uint8_t value[4] = {77, 200, 3, 180};
    for (int c = 1; c <= 4; c++) {
        nst_image in = nst_test_image_new(17, 11, c);
        for (size_t i = 0; i < 17 * 11 * (size_t)c; i++)
            in.data[i] = value[i % c];
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            nst_image out = {0};
            cr_assert_eq(nst_image_resize(ctx, &in, sizes[k][0], sizes[k][1], &out), NST_OK,
                         "%s", nst_last_error(ctx));
            cr_assert(out.width == sizes[k][0] && out.height == sizes[k][1] && out.channels == c);
            /* normalised weights: a constant is reproduced exactly after rounding */
            for (size_t i = 0; i < (size_t)out.width * out.height * c; i++)
                cr_assert_eq(out.data[i], value[i % c], "c %d size %dx%d byte %zu: %d", c,
                             out.width, out.height, i, out.data[i]);
            nst_image_free(&out);
        }
        nst_image_free(&in);
    }
    nst_ctx_destroy(ctx);
}

/* f(x, y) = 10 + x + 2y sampled at pixel centres, shrunk 3x: a symmetric normalised kernel
 * reproduces a linear function, so away from the clamped edges each output pixel equals f at
 * its centre mapped back, u = 3 (j + 0.5) - 0.5. */
Test(image_resize, downscaled_gradient_matches_the_analytic_gradient) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image in = nst_test_image_new(120, 60, 1), out = {0};
    for (int y = 0; y < 60; y++)
        for (int x = 0; x < 120; x++)
            in.data[y * 120 + x] = (uint8_t)(10 + x + 2 * y);
    cr_assert_eq(nst_image_resize(ctx, &in, 40, 20, &out), NST_OK, "%s", nst_last_error(ctx));
    for (int i = 3; i < 17; i++) /* the kernel reaches 6 input pixels: skip 3 outputs a side */
        for (int j = 3; j < 37; j++) {
            double want = 10 + (3 * (j + 0.5) - 0.5) + 2 * (3 * (i + 0.5) - 0.5);
            /* output rounding (0.5) plus float accumulation: 0.51 */
            cr_assert_leq(fabs(out.data[i * 40 + j] - want), 0.51, "(%d, %d): %d vs %.2f", j, i,
                          out.data[i * 40 + j], want);
        }
    nst_image_free(&out);
    nst_image_free(&in);
    nst_ctx_destroy(ctx);
}

/* The textbook separable resize in double: Keys' cubic with a = -0.5 (Catmull-Rom), output
 * pixel j centred at u = (j + 0.5) * n / m - 0.5 in the input, weights K((i - u) * s) with
 * s = min(1, m / n) (the kernel widened when shrinking), indices clamped to the edge, weights
 * normalised to sum 1. One axis of a strided signal. */
static double keys_cubic(double x) {
    x = fabs(x);
    if (x < 1)
        return (1.5 * x - 2.5) * x * x + 1;
    return x < 2 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : 0;
}

static void naive_resize_1d(const double *in, int n, int in_stride, double *out, int m,
                            int out_stride) {
    double s = m < n ? (double)m / n : 1.0, radius = 2 / s;
    for (int j = 0; j < m; j++) {
        double u = (j + 0.5) * n / m - 0.5, sum = 0, wsum = 0;
        for (int i = (int)floor(u - radius); i <= (int)ceil(u + radius); i++) {
            double w = keys_cubic((i - u) * s);
            sum += w * in[(i < 0 ? 0 : i >= n ? n - 1 : i) * in_stride];
            wsum += w;
        }
        out[j * out_stride] = sum / wsum;
    }
}

Test(image_resize, matches_a_naive_catmull_rom_in_double) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    enum { W = 37, H = 23, C = 3 };
    nst_image in = nst_test_image_random(W, H, C, 11); /* noise: every weight matters */
    static const int sizes[][2] = {{20, 15}, {120, 80}, {11, 50}, {74, 46}, {36, 22}, {1, 1}};
    double *a = malloc(sizeof(double) * W * H), *t = malloc(sizeof(double) * 120 * H),
           *b = malloc(sizeof(double) * 120 * 80);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int ow = sizes[k][0], oh = sizes[k][1];
        nst_image out = {0};
        cr_assert_eq(nst_image_resize(ctx, &in, ow, oh, &out), NST_OK, "%s", nst_last_error(ctx));
        for (int c = 0; c < C; c++) {
            for (int i = 0; i < W * H; i++)
                a[i] = in.data[i * C + c];
            for (int y = 0; y < H; y++) /* rows, then columns */
                naive_resize_1d(a + y * W, W, 1, t + y * ow, ow, 1);
            for (int x = 0; x < ow; x++)
                naive_resize_1d(t + x, H, ow, b + x, oh, ow);
            for (int i = 0; i < ow * oh; i++) {
                double want = fmin(255, fmax(0, b[i]));
                /* rounding to 8 bits (0.5) plus stb's float arithmetic (measured < 0.01) */
                cr_assert_leq(fabs(out.data[i * C + c] - want), 0.52,
                              "%dx%d channel %d pixel %d: %d vs %.3f", ow, oh, c, i,
                              out.data[i * C + c], want);
            }
        }
        nst_image_free(&out);
    }
    free(a), free(t), free(b);
    nst_image_free(&in);
    nst_ctx_destroy(ctx);
}

Test(image_resize, up_then_down_is_close_to_the_original) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image in = nst_test_image_new(48, 36, 3), up = {0}, back = {0};
    for (int y = 0; y < 36; y++)
        for (int x = 0; x < 48; x++)
            for (int c = 0; c < 3; c++)
                in.data[(y * 48 + x) * 3 + c] =
                    (uint8_t)lround(128 + 90 * sin(0.3 * x + c) * cos(0.25 * y - c));
    cr_assert_eq(nst_image_resize(ctx, &in, 150, 111, &up), NST_OK);
    cr_assert_eq(nst_image_resize(ctx, &up, 48, 36, &back), NST_OK);
    int worst;
    double mean = nst_test_image_mean_abs_diff(&back, &in, &worst);
    /* smooth content (periods of 20+ pixels) survives interpolation and the antialiased
     * shrink with a slight blur (measured: mean 0.08, worst 2 levels); bounds 0.5 and 4 */
    cr_assert_lt(mean, 0.5, "mean abs error %.3f", mean);
    cr_assert_leq(worst, 4, "max abs error %d", worst);
    nst_image_free(&back);
    nst_image_free(&up);
    nst_image_free(&in);
    nst_ctx_destroy(ctx);
}

Test(image_resize, transparent_pixels_do_not_bleed) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image in = nst_test_image_new(16, 4, 4), out = {0};
    for (int i = 0; i < 16 * 4; i++) { /* left half opaque red, right half transparent green */
        uint8_t *px = in.data + 4 * i;
        bool left = i % 16 < 8;
        px[0] = left ? 255 : 0, px[1] = left ? 0 : 255, px[2] = 0, px[3] = left ? 255 : 0;
    }
    cr_assert_eq(nst_image_resize(ctx, &in, 5, 2, &out), NST_OK);
    for (int i = 0; i < 5 * 2; i++)
        if (out.data[4 * i + 3] > 0)
            cr_assert_eq(out.data[4 * i + 1], 0, "pixel %d: green bled in", i);
    nst_image_free(&out);
    nst_image_free(&in);
    nst_ctx_destroy(ctx);
}

Test(image_resize, bad_sizes_are_refused) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image in = nst_test_image_random(4, 4, 3, 4), out = {0};
    static const int bad[][2] = {{0, 4}, {4, 0}, {-3, 4}, {30001, 4}, {4, 30001}};
    for (int k = 0; k < 5; k++)
        cr_assert_eq(nst_image_resize(ctx, &in, bad[k][0], bad[k][1], &out), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "4x30001"), "%s", nst_last_error(ctx));
    cr_assert_eq(nst_image_resize(ctx, &in, 8, 8, &in), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_image_resize(ctx, &in, 8, 8, NULL), NST_ERR_INVALID_ARG);
    cr_assert_null(out.data);
    nst_image_free(&in);
    nst_ctx_destroy(ctx);
}

/* ---- float conversions --------------------------------------------------------------------- */

Test(image_float, conversions_round_trip_and_clamp) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image all = nst_test_image_new(256, 1, 1), back = {0};
    for (int i = 0; i < 256; i++)
        all.data[i] = (uint8_t)i;
    float f[256];
    cr_assert_eq(nst_image_to_float(ctx, &all, f), NST_OK);
    for (int i = 0; i < 256; i++)
        cr_assert_eq(f[i], (float)i / 255.0f, "to_float(%d)", i); /* exact: same expression */
    cr_assert_eq(nst_image_from_float(ctx, f, 256, 1, 1, &back), NST_OK);
    nst_test_assert_same_pixels(&back, &all, "u8 -> float -> u8");
    nst_image_free(&back);

    const float in[] = {NAN, -0.5f, -INFINITY, 1.5f, INFINITY, 0.5f, 0.2f, 100.4f / 255.0f,
                        100.6f / 255.0f};
    const uint8_t want[] = {0, 0, 0, 255, 255, 128, 51, 100, 101};
    cr_assert_eq(nst_image_from_float(ctx, in, 3, 3, 1, &back), NST_OK);
    for (int i = 0; i < 9; i++)
        cr_assert_eq(back.data[i], want[i], "from_float(%g) = %d, want %d", in[i], back.data[i],
                     want[i]);
    nst_image_free(&back);
    cr_assert_eq(nst_image_from_float(ctx, in, 0, 3, 1, &back), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_image_from_float(ctx, in, 3, 3, 5, &back), NST_ERR_INVALID_ARG);
    nst_image_free(&all);
    nst_ctx_destroy(ctx);
}
