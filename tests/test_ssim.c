/* SSIM (src/host/ssim.c, include/nstyle/metrics.h) against scikit-image's
 * structural_similarity(channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False): goldens on crops of real photos (blurred, JPEG-recompressed),
 * synthetic pairs (noisy, shifted, single-channel at the 11x11 minimum), whole photos from
 * ../shared/data paired with versions rebuilt here with integer arithmetic (skipped when the
 * folder is absent); a direct 2-D window reference in double; exact properties (identical
 * images give 1, symmetry); argument checks. Goldens: tests/golden/gen_losses_colour.py.
 *
 * Tolerance against skimage: 1e-4 absolute on the mean SSIM (both compute in double; the
 * differences are summation order, ~1e-13). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/metrics.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "losses_colour.safetensors"

static double golden_scalar(const nst_st_file *f, const char *name) {
    double *d = nst_test_golden_f64(f, name, 1), v = d[0];
    free(d);
    return v;
}

/* An 8-bit image stored as F16 (exact for 0..255), shape (H, W, C). */
static uint8_t *golden_u8(const nst_st_file *f, const char *name, int *h, int *w, int *c) {
    const nst_st_tensor *t = nst_test_golden(f, name, NULL, NULL);
    cr_assert_eq(t->ndim, 3, "%s", name);
    *h = (int)t->shape[0], *w = (int)t->shape[1], *c = (int)t->shape[2];
    double *d = malloc((size_t)t->numel * sizeof *d);
    uint8_t *u = malloc((size_t)t->numel);
    cr_assert(d && u);
    nst_st_to_f64(t, d);
    for (int64_t i = 0; i < t->numel; i++) {
        cr_assert(d[i] >= 0 && d[i] <= 255 && d[i] == floor(d[i]), "%s[%lld] = %g", name,
                  (long long)i, d[i]);
        u[i] = (uint8_t)d[i];
    }
    free(d);
    return u;
}

Test(ssim, skimage_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    const char *pairs[] = {"ssim_blur", "ssim_jpeg", "ssim_noise", "ssim_shift", "ssim_grey"};
    for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++) {
        char key[64];
        int h, w, c, h2, w2, c2;
        snprintf(key, sizeof key, "%s.a", pairs[k]);
        uint8_t *a = golden_u8(f, key, &h, &w, &c);
        snprintf(key, sizeof key, "%s.b", pairs[k]);
        uint8_t *b = golden_u8(f, key, &h2, &w2, &c2);
        cr_assert(h == h2 && w == w2 && c == c2, "%s: pair shapes differ", pairs[k]);
        snprintf(key, sizeof key, "%s.ssim", pairs[k]);
        const double want = golden_scalar(f, key);
        double got = NAN;
        cr_assert_eq(nst_ssim_u8(ctx, a, b, w, h, c, &got), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_leq(fabs(got - want), 1e-4, "%s (%dx%dx%d): ssim %.8f, skimage %.8f",
                      pairs[k], w, h, c, got, want);
        if (k == 2) { /* the noisy pair's first image against itself: skimage says 1 too */
            cr_assert_eq(nst_ssim_u8(ctx, a, a, w, h, c, &got), NST_OK);
            cr_assert_leq(fabs(got - golden_scalar(f, "ssim_identical.ssim")), 1e-4);
        }
        free(a), free(b);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* ---- whole photos, derived images rebuilt exactly ------------------------------------------- */

static bool load_photo(nst_ctx *ctx, const char *name, nst_image *img) {
    char rel[128], path[4096];
    snprintf(rel, sizeof rel, "images/content/%s", name);
    if (!nst_test_shared_path(rel, path, sizeof path))
        return false;
    cr_assert_eq(nst_image_load(ctx, path, 3, img), NST_OK, "%s", nst_last_error(ctx));
    return true;
}

static void posterise(const nst_image *in, uint8_t *out) { /* (v // 32) * 32 + 16 */
    for (size_t i = 0; i < (size_t)in->width * in->height * 3; i++)
        out[i] = (uint8_t)((in->data[i] / 32) * 32 + 16);
}

static void box3(const nst_image *in, uint8_t *out) { /* interior (3x3 sum + 4) / 9 */
    const int w = in->width, h = in->height;
    memcpy(out, in->data, (size_t)w * h * 3);
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++)
            for (int c = 0; c < 3; c++) {
                int s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        s += in->data[((size_t)(y + dy) * w + x + dx) * 3 + c];
                out[((size_t)y * w + x) * 3 + c] = (uint8_t)((s + 4) / 9);
            }
}

/* Columns [from, from + width) of img into out (width x height x 3). */
static void crop_cols(const nst_image *img, int from, int width, uint8_t *out) {
    for (int y = 0; y < img->height; y++)
        memcpy(out + (size_t)y * width * 3, img->data + ((size_t)y * img->width + from) * 3,
               (size_t)width * 3);
}

Test(ssim, whole_photos_against_skimage) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image astronaut, chelsea, coffee;
    if (!load_photo(ctx, "astronaut.png", &astronaut)) {
        nst_ctx_destroy(ctx);
        cr_skip_test("../shared/data/images/content is absent: whole-photo SSIM not checked "
                     "(the committed crops in skimage_goldens still are)");
    }
    cr_assert(load_photo(ctx, "chelsea.png", &chelsea));
    cr_assert(load_photo(ctx, "coffee.png", &coffee));
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    double got;

    uint8_t *b = malloc((size_t)astronaut.width * astronaut.height * 3);
    posterise(&astronaut, b);
    cr_assert_eq(nst_ssim_u8(ctx, astronaut.data, b, astronaut.width, astronaut.height, 3, &got),
                 NST_OK);
    double want = golden_scalar(f, "ssim_photo.astronaut_posterised");
    cr_assert_leq(fabs(got - want), 1e-4, "astronaut posterised %.8f vs %.8f", got, want);
    free(b);

    const int w3 = chelsea.width - 3;
    uint8_t *a = malloc((size_t)w3 * chelsea.height * 3);
    b = malloc((size_t)w3 * chelsea.height * 3);
    crop_cols(&chelsea, 3, w3, a); /* chelsea[:, 3:] */
    crop_cols(&chelsea, 0, w3, b); /* chelsea[:, :-3] */
    cr_assert_eq(nst_ssim_u8(ctx, a, b, w3, chelsea.height, 3, &got), NST_OK);
    want = golden_scalar(f, "ssim_photo.chelsea_shift3");
    cr_assert_leq(fabs(got - want), 1e-4, "chelsea shifted %.8f vs %.8f", got, want);
    free(a), free(b);

    b = malloc((size_t)coffee.width * coffee.height * 3);
    box3(&coffee, b);
    cr_assert_eq(nst_ssim_u8(ctx, coffee.data, b, coffee.width, coffee.height, 3, &got), NST_OK);
    want = golden_scalar(f, "ssim_photo.coffee_box3");
    cr_assert_leq(fabs(got - want), 1e-4, "coffee box blur %.8f vs %.8f", got, want);
    free(b);

    nst_st_close(f);
    nst_image_free(&astronaut), nst_image_free(&chelsea), nst_image_free(&coffee);
    nst_ctx_destroy(ctx);
}

/* ---- direct reference and properties ---------------------------------------------------------- */

/* The same statistic with the 11x11 window applied directly (not separably), over the interior,
 * from the Gaussian's definition. */
static double ref_ssim(const uint8_t *a, const uint8_t *b, int w, int h, int ch) {
    double g[11], gs = 0.0;
    for (int k = 0; k < 11; k++)
        gs += g[k] = exp(-(double)((k - 5) * (k - 5)) / (2.0 * 1.5 * 1.5));
    const double c1 = pow(0.01 * 255, 2), c2 = pow(0.03 * 255, 2);
    double total = 0.0;
    for (int c = 0; c < ch; c++) {
        double sum = 0.0;
        for (int y = 5; y < h - 5; y++)
            for (int x = 5; x < w - 5; x++) {
                double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
                for (int i = 0; i < 11; i++)
                    for (int j = 0; j < 11; j++) {
                        const double wt = g[i] * g[j] / (gs * gs);
                        const size_t at = ((size_t)(y - 5 + i) * w + (x - 5 + j)) * ch + c;
                        mx += wt * a[at], my += wt * b[at];
                        mxx += wt * a[at] * a[at], myy += wt * b[at] * b[at];
                        mxy += wt * a[at] * b[at];
                    }
                const double vx = mxx - mx * mx, vy = myy - my * my, cxy = mxy - mx * my;
                sum += (2 * mx * my + c1) * (2 * cxy + c2) /
                       ((mx * mx + my * my + c1) * (vx + vy + c2));
            }
        total += sum / ((double)(h - 10) * (w - 10));
    }
    return total / ch;
}

/* Same formula in double, different summation order: 1e-10 absolute. */
Test(ssim, matches_direct_window_reference) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(51);
    const int w = 23, h = 17, c = 3;
    uint8_t a[23 * 17 * 3], b[23 * 17 * 3];
    for (int i = 0; i < w * h * c; i++) {
        a[i] = (uint8_t)(nst_test_rng_next(&rng) % 256);
        int v = a[i] + (int)(nst_test_rng_next(&rng) % 61) - 30;
        b[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    double got;
    cr_assert_eq(nst_ssim_u8(ctx, a, b, w, h, c, &got), NST_OK, "%s", nst_last_error(ctx));
    const double want = ref_ssim(a, b, w, h, c);
    cr_assert_leq(fabs(got - want), 1e-10, "ssim %.12f, direct %.12f", got, want);
    cr_assert(got > 0.0 && got < 1.0, "%g", got);

    /* identical images: numerator and denominator are computed as the same numbers */
    cr_assert_eq(nst_ssim_u8(ctx, a, a, w, h, c, &got), NST_OK);
    cr_assert_eq(got, 1.0, "ssim(a, a) = %.17g", got);
    /* symmetric in its arguments, exactly */
    double ab, ba;
    cr_assert_eq(nst_ssim_u8(ctx, a, b, w, h, c, &ab), NST_OK);
    cr_assert_eq(nst_ssim_u8(ctx, b, a, w, h, c, &ba), NST_OK);
    cr_assert_eq(ab, ba, "ssim(a, b) %.17g != ssim(b, a) %.17g", ab, ba);
    /* and the same bits whatever the thread count (the row sums are added in row order) */
    for (int threads = 1; threads <= 5; threads += 2) {
        double t_ab;
        nst_ctx_set_threads(ctx, threads);
        cr_assert_eq(nst_ssim_u8(ctx, a, b, w, h, c, &t_ab), NST_OK);
        cr_assert_eq(t_ab, ab, "%d threads: %.17g vs %.17g", threads, t_ab, ab);
    }
    nst_ctx_set_threads(ctx, 0);
    /* an inverted image is strongly anti-correlated */
    for (int i = 0; i < w * h * c; i++)
        b[i] = (uint8_t)(255 - a[i]);
    cr_assert_eq(nst_ssim_u8(ctx, a, b, w, h, c, &got), NST_OK);
    cr_assert_lt(got, -0.5, "ssim(a, 255 - a) = %g", got);
    nst_ctx_destroy(ctx);
}

Test(ssim, checks_arguments) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    uint8_t img[20 * 11 * 3] = {0};
    double v;
    cr_assert_eq(nst_ssim_u8(ctx, img, img, 20, 11, 3, &v), NST_OK, "11 rows is the minimum");
    cr_assert_eq(nst_ssim_u8(ctx, img, img, 20, 10, 3, &v), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "20x10") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_ssim_u8(ctx, img, img, 10, 20, 3, &v), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_ssim_u8(ctx, img, img, 20, 11, 0, &v), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_ssim_u8(ctx, NULL, img, 20, 11, 3, &v), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_ssim_u8(ctx, img, img, 20, 11, 3, NULL), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}
