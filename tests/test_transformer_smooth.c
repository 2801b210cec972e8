/* Temporal smoothing of stylised frames (src/host/networks/smooth.c, formula in
 * include/nstyle/stylize.h):
 * - the formula on hand-made values: still pixels blend, a pixel changed by the threshold or
 *   more (and its 3x3 neighbours) takes the new output, half the threshold halves the weight;
 *   a size change or reset starts again; bad parameters are refused;
 * - with a synthetic TransformerNet: a static scene with per-frame noise flickers less when
 *   smoothed (mean |out_t - out_{t-1}| at most half of the unsmoothed), and content translated
 *   by 4 pixels is not ghosted: the smoothed second frame is within 1.0 (mean, 0-255 scale) of
 *   its per-frame output, far below the difference between the two per-frame outputs.
 * The same measures with a real model: tests/test_transformer_golden.c. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/stylize.h"
#include "test_support.h"
#include "test_transformer_model.h"

Test(smooth, formula_on_hand_values) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_smoother *sm = NULL;
    cr_assert_eq(nst_smoother_create(ctx, 0.5f, 24.0f, &sm), NST_OK);
    enum { W = 8, H = 5, N = W * H * 3 };
    uint8_t f[N];
    float y[N];
    memset(f, 100, N);
    for (int i = 0; i < N; i++)
        y[i] = 50.0f;
    cr_assert_eq(nst_smoother_apply(sm, f, W, H, y), NST_OK);
    cr_assert_float_eq(y[0], 50.0f, 0, "frame 0 is kept as it is");
    for (int i = 0; i < N; i++)
        y[i] = 150.0f;
    f[(2 * W + 1) * 3 + 1] = 124; /* pixel (1, 2) changes by 24 in green: no blending near it */
    f[(2 * W + 6) * 3 + 0] = 88;  /* pixel (6, 2) changes by 12: half the weight near it */
    cr_assert_eq(nst_smoother_apply(sm, f, W, H, y), NST_OK);
    for (int r = 0; r < H; r++)
        for (int x = 0; x < W; x++) {
            const float got = y[(r * W + x) * 3 + 2];
            const bool near_big = abs(r - 2) <= 1 && abs(x - 1) <= 1;
            const bool near_half = abs(r - 2) <= 1 && abs(x - 6) <= 1;
            const float want = near_big ? 150.0f : near_half ? 0.25f * 50 + 0.75f * 150 : 100.0f;
            cr_expect_float_eq(got, want, 1e-4, "(%d, %d): %g, want %g", x, r, got, want);
        }
    /* values are clamped first; another size starts a new sequence */
    float z[3 * 6 * 6];
    uint8_t g[3 * 6 * 6] = {0};
    for (int i = 0; i < 108; i++)
        z[i] = i % 2 ? 400.0f : -5.0f;
    z[1] = NAN;
    cr_assert_eq(nst_smoother_apply(sm, g, 6, 6, z), NST_OK);
    cr_expect_float_eq(z[0], 0.0f, 0);
    cr_expect_float_eq(z[1], 0.0f, 0, "NaN gives 0");
    cr_expect_float_eq(z[3], 255.0f, 0);
    /* reset: the next frame is a first frame */
    nst_smoother_reset(sm);
    for (int i = 0; i < 108; i++)
        z[i] = 7.0f;
    cr_assert_eq(nst_smoother_apply(sm, g, 6, 6, z), NST_OK);
    cr_expect_float_eq(z[5], 7.0f, 0);
    nst_smoother_destroy(sm);
    nst_test_expect_status(ctx, nst_smoother_create(ctx, 1.0f, 24.0f, &sm), NST_ERR_INVALID_ARG,
                           "", "alpha");
    nst_test_expect_status(ctx, nst_smoother_create(ctx, 0.5f, 0.0f, &sm), NST_ERR_INVALID_ARG,
                           "", "threshold");
    nst_ctx_destroy(ctx);
}

/* A scene (h, w, 3) like a photo: shading, a disc and bars, and a fine texture fixed to the
 * content (+-24 levels from a hash of the position), so that motion shows in the pixels. */
static uint8_t *scene(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v[3] = {60 + 120 * x / w, 90 + 80 * y / h, 140 - 60 * x / w};
            const int dx = x - w / 3, dy = y - h / 2;
            if (dx * dx + dy * dy < h * h / 10)
                v[0] = 230, v[1] = 200, v[2] = 40;
            if ((x / 9) % 4 == 0 && y > 2 * h / 3)
                v[0] = 30, v[1] = 30, v[2] = 90;
            const uint32_t hash = ((uint32_t)x * 2654435761u) ^ ((uint32_t)y * 40503u + 977u);
            const int t = (int)((hash >> 7) % 49) - 24;
            for (int c = 0; c < 3; c++) {
                const int q = v[c] + t;
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    return p;
}

Test(smooth, less_flicker_and_no_ghosting_with_a_stylizer, .timeout = 120) {
    char dir[256], model[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(model, sizeof model, "%s/net.safetensors", dir);
    nst_test_tn_write(model, 3, NULL);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = NULL;
    cr_assert_eq(nst_stylizer_open(ctx, model, &s), NST_OK, "%s", nst_last_error(ctx));
    const int w = 64, h = 48, shift = 4;
    uint8_t *still = scene(w, h), *wide = scene(w + shift, h);
    const double off = nst_test_flicker(s, still, w, h, 6, 3, 0.0f);
    const double on = nst_test_flicker(s, still, w, h, 6, 3, 0.8f);
    cr_log_info("static scene, noise +-3: flicker %.3f unsmoothed, %.3f with alpha 0.8", off, on);
    cr_expect_lt(on, 0.5 * off, "flicker %.3f smoothed vs %.3f", on, off);
    double moved = 0;
    const double ghost = nst_test_ghost(s, wide, w, h, shift, 0.8f, &moved);
    cr_log_info("shift by %d: smoothed vs per-frame %.3f; per-frame outputs differ by %.3f",
                shift, ghost, moved);
    cr_expect_leq(ghost, 1.0, "ghosting: %.3f", ghost);
    cr_expect_lt(ghost, 0.2 * moved, "ghosting %.3f vs motion %.3f", ghost, moved);
    free(still), free(wide);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}
