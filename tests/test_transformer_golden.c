/* The stylizer (src/host/networks/transformer.c) with the five real pytorch/examples models of
 * ../shared/data/models/fast against PyTorch in float64 (tests/golden/gen_transformer.py: two
 * crops of chelsea.png, 52x40 and the odd 37x29): on the 0-255 scale before clamping,
 * max |d| <= 0.5 and mean |d| <= 0.01; after clamping and truncation to 8 bits no value is off
 * by more than 1. Skipped, saying why, when ../shared/data is absent (the synthetic-weight
 * tests in tests/test_transformer.c still run). */
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

static const char *const styles[] = {"candy", "mosaic", "pointilism", "rain_princess", "udnie"};
static const struct {
    const char *name;
    int w, h;
} crops[] = {{"52x40", 52, 40}, {"37x29", 37, 29}};

/* The real model styles[m] (../shared/data present). */
static nst_stylizer *open_real(nst_ctx *ctx, int m) {
    char rel[128], path[1024];
    snprintf(rel, sizeof rel, "models/fast/%s.safetensors", styles[m]);
    cr_assert(nst_test_shared_path(rel, path, sizeof path));
    nst_stylizer *s = NULL;
    cr_assert_eq(nst_stylizer_open(ctx, path, &s), NST_OK, "%s", nst_last_error(ctx));
    return s;
}

Test(transformer_golden, five_real_models_match_pytorch, .timeout = 300) {
    char path[1024];
    if (!nst_test_shared_path("models/fast/candy.safetensors", path, sizeof path))
        cr_skip_test("../shared/data is absent: no real TransformerNet models to test");
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *g = nst_test_open_golden(ctx, "transformer.safetensors");
    for (int m = 0; m < 5; m++) {
        nst_stylizer *s = open_real(ctx, m);
        cr_expect_str_eq(nst_stylizer_style(s), styles[m]);
        for (int c = 0; c < 2; c++) {
            const int w = crops[c].w, h = crops[c].h;
            const size_t n = (size_t)w * h * 3;
            char name[64];
            snprintf(name, sizeof name, "input_%s", crops[c].name);
            const nst_st_tensor *t = nst_test_golden(g, name, NULL, NULL);
            cr_assert_eq(t->numel, (int64_t)n);
            const uint8_t *px = t->data; // (h, w, 3)
            snprintf(name, sizeof name, "%s_%s", styles[m], crops[c].name);
            double *ref = nst_test_golden_f64(g, name, n);
            float *in = nst_test_alloc_f32(n), *out = nst_test_nan_f32(n);
            for (size_t i = 0; i < n; i++)
                in[i] = px[i];
            cr_assert_eq(nst_stylize_float(s, in, 1, w, h, out), NST_OK, "%s", nst_last_error(ctx));
            uint8_t *u8 = malloc(n), want[1];
            cr_assert_eq(nst_stylize_image(s, px, w, h, u8), NST_OK, "%s", nst_last_error(ctx));
            double worst = 0, sum = 0;
            int off = 0;
            size_t n_off = 0;
            for (size_t i = 0; i < n; i++) {
                const double d = fabs(out[i] - ref[i]);
                worst = isnan(d) ? INFINITY : fmax(worst, d);
                sum += d;
                const float r = (float)ref[i];
                nst_stylize_to_u8(&r, 1, want);
                const int du = abs((int)u8[i] - (int)want[0]);
                off = du > off ? du : off;
                n_off += du != 0;
            }
            cr_log_info("%-13s %s: max |d| %.4f, mean |d| %.5f, 8-bit values off: %zu of %zu "
                        "(at most %d)", styles[m], crops[c].name, worst, sum / n, n_off, n, off);
            cr_expect_leq(worst, 0.5, "%s %s: max |d| %g", styles[m], crops[c].name, worst);
            cr_expect_leq(sum / n, 0.01, "%s %s: mean |d| %g", styles[m], crops[c].name, sum / n);
            cr_expect_leq(off, 1, "%s %s: an 8-bit value off by %d", styles[m], crops[c].name, off);
            free(ref), free(in), free(out), free(u8);
        }
        nst_stylizer_close(s);
    }
    nst_st_close(g);
    nst_ctx_destroy(ctx);
}

/* Temporal smoothing with a real model on a real photo: a 64x48 crop of chelsea.png, static with
 * per-frame noise of +-3 levels (flicker at most half of the unsmoothed), and moving right by 4
 * pixels (the smoothed frame within 2.0 of its per-frame output on average, and under 5 % of
 * the difference between the two per-frame outputs). */
Test(transformer_golden, smoothing_with_a_real_model, .timeout = 300) {
    char path[1024], photo[1024];
    if (!nst_test_shared_path("models/fast/candy.safetensors", path, sizeof path) ||
        !nst_test_shared_path("images/content/chelsea.png", photo, sizeof photo))
        cr_skip_test("../shared/data is absent: no real model and photo to smooth");
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, photo, 3, &img), NST_OK, "%s", nst_last_error(ctx));
    const int w = 64, h = 48, shift = 4, left = 170, top = 70;
    uint8_t *crop = malloc((size_t)(w + shift) * h * 3);
    for (int r = 0; r < h; r++)
        memcpy(crop + (size_t)r * (w + shift) * 3,
               img.data + ((size_t)(top + r) * img.width + left) * 3, (size_t)(w + shift) * 3);
    uint8_t *still = malloc((size_t)w * h * 3);
    for (int r = 0; r < h; r++)
        memcpy(still + (size_t)r * w * 3, crop + (size_t)r * (w + shift) * 3, (size_t)w * 3);
    for (int m = 0; m < 5; m++) {
        nst_stylizer *s = open_real(ctx, m);
        const double off = nst_test_flicker(s, still, w, h, 5, 3, 0.0f);
        const double on = nst_test_flicker(s, still, w, h, 5, 3, 0.8f);
        double moved = 0;
        const double ghost = nst_test_ghost(s, crop, w, h, shift, 0.8f, &moved);
        cr_log_info("%-13s flicker %.3f -> %.3f smoothed; shift %d: smoothed vs per-frame %.3f "
                    "(per-frame outputs differ by %.3f)", styles[m], off, on, shift, ghost, moved);
        cr_expect_lt(on, 0.5 * off, "%s: flicker %.3f smoothed vs %.3f", styles[m], on, off);
        cr_expect_leq(ghost, 2.0, "%s: ghosting %.3f", styles[m], ghost);
        cr_expect_lt(ghost, 0.05 * moved, "%s: ghosting %.3f vs motion %.3f", styles[m], ghost,
                     moved);
        nst_stylizer_close(s);
    }
    free(crop), free(still);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}
