/* Tiled stylisation (nst_stylize_tiled, src/host/networks/transformer.c and tiling.c) with the
 * whole image's instance-norm statistics:
 * - the tiled float output equals the untiled one everywhere, image borders and tile borders
 *   included, within a stated bound (0.01 on the 0-255 scale; the figure is logged), on strips
 *   whose windows are cut along x, along y, and on a small image cut both ways, at sizes that
 *   are not multiples of 4, with synthetic weights (nothing from ../shared/data);
 * - 8-bit tiled output is the truncation of the float one; original colours per tile equal the
 *   untiled run's; an image of one tile runs untiled, bit for bit;
 * - no seam on a gradient: within 8 columns of every tile border the tiled output is the
 *   untiled one (within the bound), where naive tiling (each core stylised alone, its own
 *   statistics and padding) is off by more than 100 times the bound;
 * - plans: a 16384 x 16384 run in tiles of 1024 fits in 1 GiB of arena where the untiled plan
 *   needs over 100 GiB; nst_stylizer_choose_tile picks no tiles when the untiled plan fits and,
 *   under a limit, the largest tile that fits;
 * - with the real candy model (skipped when ../shared/data is absent): a 2-D tiling with
 *   margins on every side matches the untiled output. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/stylize.h"
#include "test_support.h"
#include "test_tensors.h"
#include "test_transformer_model.h"

#define BOUND 0.01 /* max |tiled - untiled| on the 0-255 scale */

static char dir[256], model[512];

static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(model, sizeof model, "%s/net.safetensors", dir);
    nst_test_tn_write(model, 7, &(nst_test_tn_options){.f16_convs = true});
}

/* One timeout for the tests run together (see test_cli_stylize.c); the real model's test runs in
 * a ctest entry of its own (CMakeLists.txt) and keeps its longer one. */
TestSuite(transformer_tiled, .init = setup, .timeout = 300);

static nst_stylizer *open_model(nst_ctx *ctx, const char *path) {
    nst_stylizer *s = NULL;
    cr_assert_eq(nst_stylizer_open(ctx, path, &s), NST_OK, "%s", nst_last_error(ctx));
    return s;
}

/* A photo-like test image: gradients, a bright block and some texture. */
static uint8_t *picture(int w, int h, uint64_t seed) {
    uint8_t *p = malloc((size_t)w * h * 3);
    nst_test_rng r = nst_test_rng_seed(seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                int v = (x * 200 / w + y * 90 / h + c * 50) % 256;
                if (x > w / 3 && x < w / 2 && y > h / 4 && y < 3 * h / 4)
                    v = 240 - v / 3;
                v += (int)nst_test_rng_uniform(&r, -12, 12);
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

static float *untiled(nst_ctx *ctx, nst_stylizer *s, const uint8_t *px, int w, int h) {
    const size_t count = (size_t)w * h * 3;
    float *f = nst_test_alloc_f32(count);
    for (size_t i = 0; i < count; i++)
        f[i] = px[i];
    cr_assert_eq(nst_stylize_float(s, f, 1, w, h, f), NST_OK, "%s", nst_last_error(ctx));
    return f;
}

/* Tiled against untiled over the whole image; returns the largest difference. */
static double compare(nst_ctx *ctx, nst_stylizer *s, int w, int h, int tile, int want_nx,
                      int want_ny) {
    uint8_t *px = picture(w, h, (uint64_t)w * 7 + h);
    const size_t count = (size_t)w * h * 3;
    float *ref = untiled(ctx, s, px, w, h), *got = nst_test_nan_f32(count);
    nst_stylize_tiling t;
    cr_assert_eq(nst_stylizer_plan_tiled(s, w, h, tile, &t), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(t.nx, want_nx);
    cr_assert_eq(t.ny, want_ny);
    cr_assert_eq(nst_stylize_tiled_float(s, px, w, h, tile, got), NST_OK, "%s",
                 nst_last_error(ctx));
    double worst = 0, scale = 0;
    int wx = 0, wy = 0;
    for (size_t i = 0; i < count; i++) {
        const double d = fabs((double)got[i] - ref[i]);
        cr_assert(!isnan(got[i]), "value %zu not written", i);
        if (d > worst) {
            worst = d;
            wx = (int)(i / 3 % w), wy = (int)(i / 3 / w);
        }
        scale = fmax(scale, fabs(ref[i]));
    }
    cr_log_info("%dx%d in %dx%d tiles of %d (windows %dx%d): max |tiled - untiled| = %.3g at "
                "(%d, %d), output up to %.1f", w, h, t.nx, t.ny, t.tile, t.win_w, t.win_h, worst,
                wx, wy, scale);
    cr_expect_leq(worst, BOUND, "%dx%d tile %d: tiled differs from untiled by %g at (%d, %d)",
                  w, h, tile, worst, wx, wy);
    free(px), free(ref), free(got);
    return worst;
}

Test(transformer_tiled, matches_untiled_along_x) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, model);
    compare(ctx, s, 238, 9, 40, 6, 1); /* windows 162 wide: margins on both sides */
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(transformer_tiled, matches_untiled_along_y) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, model);
    compare(ctx, s, 9, 229, 36, 1, 7);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(transformer_tiled, matches_untiled_both_ways_small) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, model);
    compare(ctx, s, 41, 30, 20, 3, 2); /* windows = the image: cores and statistics only */
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(transformer_tiled, u8_and_original_colours_match_untiled) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, model);
    const int w = 150, h = 7, tile = 48;
    const size_t count = (size_t)w * h * 3;
    uint8_t *px = picture(w, h, 3), *u8 = malloc(count), *ref8 = malloc(count);
    float *f = nst_test_nan_f32(count);
    cr_assert_eq(nst_stylize_tiled_float(s, px, w, h, tile, f), NST_OK, "%s",
                 nst_last_error(ctx));
    cr_assert_eq(nst_stylize_tiled(s, px, w, h, tile, u8), NST_OK, "%s", nst_last_error(ctx));
    uint8_t *want = malloc(count);
    nst_stylize_to_u8(f, count, want);
    cr_assert_eq(memcmp(want, u8, count), 0, "8-bit tiled output is not the float one truncated");
    nst_stylizer_set_original_colors(s, true);
    float *ref = untiled(ctx, s, px, w, h);
    cr_assert_eq(nst_stylize_tiled_float(s, px, w, h, tile, f), NST_OK, "%s",
                 nst_last_error(ctx));
    double worst = 0;
    for (size_t i = 0; i < count; i++)
        worst = fmax(worst, fabs((double)f[i] - ref[i]));
    cr_log_info("original colours, %dx%d in tiles of %d: max |tiled - untiled| = %.3g", w, h,
                tile, worst);
    cr_expect_leq(worst, BOUND);
    free(px), free(u8), free(ref8), free(f), free(want), free(ref);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(transformer_tiled, one_tile_is_the_untiled_run) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, model);
    const int w = 19, h = 11;
    const size_t count = (size_t)w * h * 3;
    uint8_t *px = picture(w, h, 5);
    float *ref = untiled(ctx, s, px, w, h), *got = nst_test_nan_f32(count);
    cr_assert_eq(nst_stylize_tiled_float(s, px, w, h, 64, got), NST_OK, "%s",
                 nst_last_error(ctx));
    cr_expect_eq(memcmp(ref, got, count * sizeof *got), 0, "one tile differs from untiled");
    nst_stylize_tiling t;
    cr_assert_eq(nst_stylizer_plan_tiled(s, w, h, 64, &t), NST_OK);
    cr_expect_eq(t.passes, 1);
    free(px), free(ref), free(got);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

/* ---- seams ----------------------------------------------------------------------------------- */

#define BAND 8 /* columns on each side of a tile border */

/* The largest |out - ref| over the BAND columns on each side of every tile border. */
static double at_borders(const float *out, const float *ref, int w, int h, int tile) {
    double worst = 0;
    for (int b = tile; b < w; b += tile)
        for (int x = b - BAND; x < b + BAND && x < w; x++)
            for (int y = 0; y < h; y++)
                for (int c = 0; c < 3; c++) {
                    const size_t i = ((size_t)y * w + x) * 3 + c;
                    worst = fmax(worst, fabs((double)out[i] - ref[i]));
                }
    return worst;
}

Test(transformer_tiled, no_seam_on_a_gradient) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, model);
    const int w = 232, h = 12, tile = 40;
    const size_t count = (size_t)w * h * 3;
    uint8_t *px = malloc(count);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[((size_t)y * w + x) * 3 + c] = (uint8_t)(20 + x * 200 / w + c * 10 + y);
    float *out = nst_test_nan_f32(count);
    cr_assert_eq(nst_stylize_tiled_float(s, px, w, h, tile, out), NST_OK, "%s",
                 nst_last_error(ctx));
    float *ref = untiled(ctx, s, px, w, h);
    const double tiled = at_borders(out, ref, w, h, tile);
    /* naive tiling: each core stylised alone (its own statistics and padding), pasted */
    float *mosaic = nst_test_nan_f32(count), *win = nst_test_alloc_f32((size_t)tile * h * 3);
    for (int c0 = 0; c0 < w; c0 += tile) {
        const int cw = c0 + tile < w ? tile : w - c0;
        for (int y = 0; y < h; y++)
            for (int k = 0; k < cw * 3; k++)
                win[(size_t)y * cw * 3 + k] = px[((size_t)y * w + c0) * 3 + k];
        cr_assert_eq(nst_stylize_float(s, win, 1, cw, h, win), NST_OK);
        for (int y = 0; y < h; y++)
            memcpy(mosaic + ((size_t)y * w + c0) * 3, win + (size_t)y * cw * 3,
                   (size_t)cw * 3 * sizeof(float));
    }
    const double own = at_borders(mosaic, ref, w, h, tile);
    cr_log_info("gradient %dx%d, tiles of %d: max |out - untiled| within %d columns of a tile "
                "border: %.3g tiled, %.3g for cores stylised alone", w, h, tile, BAND, tiled, own);
    cr_expect_leq(tiled, BOUND, "a seam at a tile border: %g from the untiled output", tiled);
    cr_expect_gt(own, 100 * BOUND, "naive tiling shows no seam to this test (%g)", own);
    free(px), free(out), free(mosaic), free(win), free(ref);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

/* ---- plans ----------------------------------------------------------------------------------- */

Test(transformer_tiled, plan_of_16k_fits_one_gib) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, model);
    const int side = 16384;
    nst_stylize_tiling t;
    cr_assert_eq(nst_stylizer_plan_tiled(s, side, side, 1024, &t), NST_OK, "%s",
                 nst_last_error(ctx));
    nst_plan_summary whole;
    cr_assert_eq(nst_stylizer_plan(s, 1, side, side, &whole), NST_OK, "%s", nst_last_error(ctx));
    const double gib = 1024.0 * 1024 * 1024;
    cr_log_info("16384x16384: untiled plan %.1f GiB; tiles of %d: %dx%d tiles, windows %dx%d, "
                "plan %.1f MiB per tile, %.1f MiB host staging, %d window passes",
                whole.total_bytes / gib, t.tile, t.nx, t.ny, t.win_w, t.win_h,
                t.plan.total_bytes / 1048576.0, t.host_bytes / 1048576.0, t.passes);
    cr_expect_eq(t.nx, 16);
    cr_expect_eq(t.win_w, 1024 + 2 * NST_STYLIZE_TILE_HALO);
    cr_expect_leq((double)t.plan.total_bytes, gib, "a 1024 tile's plan is %zu bytes",
                  t.plan.total_bytes);
    cr_expect_gt((double)whole.total_bytes, 100 * gib);
    /* a limit picks the largest tile whose plan fits */
    const size_t limit = 256u << 20;
    int tile = -1;
    cr_assert_eq(nst_stylizer_choose_tile(s, side, side, limit, &tile), NST_OK, "%s",
                 nst_last_error(ctx));
    nst_stylize_tiling c, bigger;
    cr_assert_eq(nst_stylizer_plan_tiled(s, side, side, tile, &c), NST_OK);
    cr_assert_eq(nst_stylizer_plan_tiled(s, side, side, side / (c.nx - 1) + 4, &bigger), NST_OK);
    cr_log_info("limit 256 MiB: tiles of %d (%dx%d), plan %.1f MiB; with one tile fewer across, "
                "%.1f MiB", tile, c.nx, c.ny, c.plan.total_bytes / 1048576.0,
                bigger.plan.total_bytes / 1048576.0);
    cr_expect_leq(c.plan.total_bytes, limit);
    cr_expect_gt(bigger.plan.total_bytes, limit);
    cr_expect_eq(nst_stylizer_choose_tile(s, 64, 48, limit, &tile), NST_OK);
    cr_expect_eq(tile, 0, "a 64x48 frame fits untiled, yet tile %d was chosen", tile);
    cr_expect_eq(nst_stylizer_choose_tile(s, side, side, 1u << 20, &tile), NST_ERR_BUDGET);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

/* ---- the real model ------------------------------------------------------------------------ */

Test(transformer_tiled, real_model_both_ways_with_margins, .timeout = 900) {
    char path[1024];
    if (!nst_test_shared_path("models/fast/candy.safetensors", path, sizeof path))
        cr_skip_test("../shared/data is absent: no real TransformerNet model to tile");
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_model(ctx, path);
    compare(ctx, s, 201, 190, 64, 4, 3);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}
