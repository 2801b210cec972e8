/* The stylizer (src/host/networks/transformer.c), the model lookup (src/host/model_path.c) and
 * temporal smoothing (src/host/networks/smooth.c) on synthetic weights written here, so nothing
 * needs ../shared/data (the real models: tests/test_transformer_golden.c):
 * - the output against a naive double-precision forward (tests/support/test_transformer_model.c)
 *   at sizes that are and are not multiples of 4, F16 and F32 weights;
 * - odd sizes keep the input size and write nothing past the output; a batch of 3 equals 3 single
 *   runs; 8-bit output is the clamped, truncated float output;
 * - original colours against a naive BT.601 computation (the result's luminance, the input's
 *   chroma; where nothing is clamped the output's U and V are the input's);
 * - memory: the plan's total equals the arena's bytes in the tracker, the arena is reused for the
 *   same size and planned again for another, and at 512x512 the plan is far below the sum of the
 *   activations (figures logged);
 * - refusals: a corrupt file, missing / extra / mis-shaped tensors named, a wrong input
 *   convention, frames below 5x5, a plan over the memory limit;
 * - nst_model_find's order and message; the smoothing formula, less flicker on a static noisy
 *   scene, no ghosting on a translation. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nstyle/models.h"
#include "nstyle/stylize.h"
#include "test_files.h"
#include "test_support.h"
#include "test_tensors.h"
#include "test_transformer_model.h"

static char dir[256], model[512];

static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(model, sizeof model, "%s/net.safetensors", dir);
    nst_test_tn_write(model, 7, &(nst_test_tn_options){.f16_convs = true});
}

TestSuite(transformer, .init = setup);

/* A context (bare: no scratch region, for counting the tracker's bytes) and a stylizer on it. */
typedef struct {
    nst_ctx *ctx;
    nst_stylizer *s;
} rig;

static rig rig_open(const char *path, bool bare) {
    rig r = {bare ? nst_test_bare_cpu_ctx() : nst_test_cpu_ctx(), NULL};
    cr_assert_eq(nst_stylizer_open(r.ctx, path, &r.s), NST_OK, "%s", nst_last_error(r.ctx));
    return r;
}

static void rig_close(rig *r) {
    nst_stylizer_close(r->s);
    nst_ctx_destroy(r->ctx);
}

/* n frames of w x h: smooth gradients plus a few hard-edged blocks, 0-255 integers. */
static uint8_t *frames(int n, int w, int h, uint64_t seed) {
    uint8_t *p = malloc((size_t)n * w * h * 3);
    nst_test_rng r = nst_test_rng_seed(seed);
    for (int i = 0; i < n; i++) {
        const int bx = (int)nst_test_rng_uniform(&r, 0, w), by = (int)nst_test_rng_uniform(&r, 0, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    int v = (x * 255 / w + y * 97 / h + c * 60 + i * 31) % 256;
                    if (abs(x - bx) < w / 5 && abs(y - by) < h / 4)
                        v = 255 - v / 2;
                    p[(((size_t)i * h + y) * w + x) * 3 + c] = (uint8_t)v;
                }
    }
    return p;
}

static float *widen_u8(const uint8_t *p, size_t n) {
    float *f = nst_test_alloc_f32(n);
    for (size_t i = 0; i < n; i++)
        f[i] = p[i];
    return f;
}

static void check_against_reference(const char *path, int n, int w, int h) {
    rig r = rig_open(path, false);
    nst_ctx *ctx = r.ctx;
    nst_stylizer *s = r.s;
    const size_t count = (size_t)n * w * h * 3;
    uint8_t *px = frames(n, w, h, (uint64_t)w * 131 + h);
    float *in = widen_u8(px, count), *out = nst_test_nan_f32(count);
    double *ind = nst_test_to_f64(in, count), *ref = nst_test_alloc_f64(count);
    cr_assert_eq(nst_stylize_float(s, in, n, w, h, out), NST_OK, "%s", nst_last_error(ctx));
    nst_test_tn_reference(path, ind, n, w, h, ref);
    const double scale = nst_test_max_abs(ref, count);
    double worst = 0;
    for (size_t i = 0; i < count; i++)
        worst = fmax(worst, fabs(out[i] - ref[i]));
    cr_log_info("%dx%d x%d: max |stylizer - reference| = %.3g (max |ref| %.1f)", w, h, n, worst,
                scale);
    cr_expect(nst_test_allclose("stylizer vs naive", out, ref, count, 2e-5 * scale, 1e-4));
    free(px), free(in), free(out), free(ind), free(ref);
    rig_close(&r);
}

Test(transformer, matches_naive_reference_f16_weights, .timeout = 120) {
    check_against_reference(model, 1, 13, 9);
    check_against_reference(model, 2, 16, 12);
}

Test(transformer, matches_naive_reference_f32_weights, .timeout = 120) {
    char path[600];
    snprintf(path, sizeof path, "%s/f32.safetensors", dir);
    nst_test_tn_write(path, 11, NULL);
    check_against_reference(path, 1, 11, 14);
}

Test(transformer, odd_size_keeps_input_size_and_u8_truncates, .timeout = 120) {
    rig r = rig_open(model, false);
    nst_ctx *ctx = r.ctx;
    nst_stylizer *s = r.s;
    cr_assert_str_eq(nst_stylizer_style(s), "synthetic");
    const int w = 257, h = 131;
    const size_t count = (size_t)w * h * 3;
    uint8_t *in = frames(1, w, h, 5), *out = malloc(count + 64);
    memset(out, 0xA5, count + 64);
    cr_assert_eq(nst_stylize_image(s, in, w, h, out), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = count; i < count + 64; i++)
        cr_assert_eq(out[i], 0xA5, "byte %zu past the %dx%d output was written", i - count, w, h);
    float *fin = widen_u8(in, count), *fout = nst_test_nan_f32(count + 16);
    cr_assert_eq(nst_stylize_float(s, fin, 1, w, h, fout), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = count; i < count + 16; i++)
        cr_assert(isnan(fout[i]), "float %zu past the output was written", i - count);
    size_t low = 0, high = 0;
    for (size_t i = 0; i < count; i++) {
        const float v = fout[i];
        const uint8_t want = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)floorf(v);
        cr_assert_eq(out[i], want, "pixel value %zu: %u for %g", i, out[i], v);
        low += v < 0, high += v > 255;
    }
    cr_log_info("257x131: %zu values below 0, %zu above 255 clamped", low, high);
    free(in), free(out), free(fin), free(fout);
    rig_close(&r);
}

Test(transformer, batch_of_three_equals_single_runs, .timeout = 120) {
    rig r = rig_open(model, false);
    nst_ctx *ctx = r.ctx;
    nst_stylizer *s = r.s;
    const int w = 23, h = 18, n = 3;
    const size_t one = (size_t)w * h * 3;
    uint8_t *px = frames(n, w, h, 99);
    float *in = widen_u8(px, n * one), *batch = nst_test_nan_f32(n * one);
    float *single = nst_test_nan_f32(one);
    cr_assert_eq(nst_stylize_float(s, in, n, w, h, batch), NST_OK, "%s", nst_last_error(ctx));
    double worst = 0, scale = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(nst_stylize_float(s, in + i * one, 1, w, h, single), NST_OK);
        for (size_t k = 0; k < one; k++) {
            worst = fmax(worst, fabs(single[k] - batch[i * one + k]));
            scale = fmax(scale, fabs(single[k]));
        }
    }
    cr_log_info("batch 3 vs single runs: max |diff| %.3g of max |y| %.1f", worst, scale);
    cr_expect_leq(worst, 1e-5 * scale, "batch differs from single runs by %g", worst);
    free(px), free(in), free(batch), free(single);
    rig_close(&r);
}

/* ---- original colours ---------------------------------------------------------------------- */

/* BT.601 as scikit-image's rgb2yuv, written out here, and its inverse by Cramer's rule. */
static const double yuv_of_rgb[3][3] = {{0.299, 0.587, 0.114},
                                        {-0.14714119, -0.28886916, 0.43601035},
                                        {0.61497538, -0.51496512, -0.10001026}};

static void apply3(const double m[3][3], const double *x, double *y) {
    for (int r = 0; r < 3; r++)
        y[r] = m[r][0] * x[0] + m[r][1] * x[1] + m[r][2] * x[2];
}

static void invert3(const double m[3][3], double inv[3][3]) {
    const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                       m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                       m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) { /* the cofactor of (c, r) over det */
            const int r0 = (c + 1) % 3, r1 = (c + 2) % 3, c0 = (r + 1) % 3, c1 = (r + 2) % 3;
            inv[r][c] = (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / det;
        }
}

Test(transformer, original_colors_against_naive_bt601, .timeout = 120) {
    rig r = rig_open(model, false);
    nst_ctx *ctx = r.ctx;
    nst_stylizer *s = r.s;
    const int w = 19, h = 14, n = 2;
    const size_t count = (size_t)n * w * h * 3;
    uint8_t *px = frames(n, w, h, 41);
    float *in = widen_u8(px, count), *plain = nst_test_nan_f32(count);
    float *kept = widen_u8(px, count); /* run in place: out is the input buffer */
    cr_assert_eq(nst_stylize_float(s, in, n, w, h, plain), NST_OK, "%s", nst_last_error(ctx));
    nst_stylizer_set_original_colors(s, true);
    cr_assert_eq(nst_stylize_float(s, kept, n, w, h, kept), NST_OK, "%s", nst_last_error(ctx));
    double inv[3][3];
    invert3(yuv_of_rgb, inv);
    double worst = 0, worst_uv = 0;
    size_t inside = 0;
    for (size_t i = 0; i < count; i += 3) {
        double y[3], yuv_y[3], yuv_in[3], ref[3], x[3] = {in[i], in[i + 1], in[i + 2]};
        for (int c = 0; c < 3; c++)
            y[c] = fmin(fmax(plain[i + c], 0.0), 255.0);
        apply3(yuv_of_rgb, y, yuv_y);
        apply3(yuv_of_rgb, x, yuv_in);
        const double mixed[3] = {yuv_y[0], yuv_in[1], yuv_in[2]};
        apply3(inv, mixed, ref);
        bool in_range = true;
        for (int c = 0; c < 3; c++) {
            worst = fmax(worst, fabs(kept[i + c] - ref[c]));
            in_range = in_range && kept[i + c] >= 0 && kept[i + c] <= 255;
        }
        if (in_range) { /* nothing clamped: the result's chroma is the input's */
            const double got[3] = {kept[i], kept[i + 1], kept[i + 2]};
            double yuv_got[3];
            apply3(yuv_of_rgb, got, yuv_got);
            worst_uv = fmax(worst_uv, fmax(fabs(yuv_got[1] - yuv_in[1]),
                                           fabs(yuv_got[2] - yuv_in[2])));
            inside++;
        }
    }
    cr_log_info("original colours: max |stylizer - naive| %.3g, max |UV - input UV| %.3g over "
                "%zu of %zu pixels inside [0, 255]", worst, worst_uv, inside, count / 3);
    cr_expect_leq(worst, 1e-3, "original colours differ from the naive BT.601 result by %g", worst);
    cr_expect_leq(worst_uv, 1e-3, "U, V differ from the input's by %g", worst_uv);
    cr_expect_gt(inside, count / 3 / 4, "only %zu pixels inside [0, 255]", inside);
    /* 8-bit: the same values clamped and truncated */
    uint8_t *u8 = malloc(count), *want = malloc(count);
    cr_assert_eq(nst_stylize_images(s, px, n, w, h, u8), NST_OK, "%s", nst_last_error(ctx));
    nst_stylize_to_u8(kept, count, want);
    cr_expect_eq(memcmp(u8, want, count), 0, "8-bit output is not the clamped float output");
    /* off again: the plain output */
    nst_stylizer_set_original_colors(s, false);
    float *again = nst_test_nan_f32(count);
    cr_assert_eq(nst_stylize_float(s, in, n, w, h, again), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(memcmp(again, plain, count * sizeof *again), 0);
    free(px), free(in), free(plain), free(kept), free(u8), free(want), free(again);
    rig_close(&r);
}

/* ---- memory ------------------------------------------------------------------------------ */

Test(transformer, plan_total_is_the_arena_in_the_tracker_and_reused, .timeout = 120) {
    rig r = rig_open(model, true);
    nst_ctx *ctx = r.ctx;
    nst_stylizer *s = r.s;
    const size_t weights = nst_stylizer_weight_bytes(s);
    cr_assert_geq(weights, (size_t)1679235 * 4, "weights %zu bytes", weights);
    const int w = 41, h = 30;
    uint8_t *in = frames(2, w, h, 3), *out = malloc((size_t)2 * w * h * 3);
    cr_assert_eq(nst_stylize_images(s, in, 2, w, h, out), NST_OK, "%s", nst_last_error(ctx));
    const nst_plan *plan = nst_stylizer_current_plan(s);
    cr_assert_not_null(plan);
    const nst_plan_summary sum = nst_plan_get_summary(plan);
    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    cr_assert_eq(snap.current[NST_TAG_WEIGHTS], weights);
    cr_assert_eq(snap.current_total - weights, sum.total_bytes, "arena %zu vs plan %zu",
                 snap.current_total - weights, sum.total_bytes);
    cr_assert_eq(snap.peak_total, weights + sum.total_bytes, "tracker peak %zu vs weights %zu + "
                 "plan %zu", snap.peak_total, weights, sum.total_bytes);
    /* the same size again: the same plan and arena, nothing allocated */
    cr_assert_eq(nst_stylize_images(s, in, 2, w, h, out), NST_OK);
    cr_assert_eq(nst_stylizer_current_plan(s), plan);
    nst_tracker_snapshot again;
    nst_tracker_snapshot_get(ctx, &again);
    cr_assert_eq(again.current_total, snap.current_total);
    cr_assert_eq(again.n_live, snap.n_live);
    /* another size: planned again, the old arena freed first */
    cr_assert_eq(nst_stylize_images(s, in, 1, w, h, out), NST_OK);
    const nst_plan_summary one = nst_plan_get_summary(nst_stylizer_current_plan(s));
    cr_assert_lt(one.total_bytes, sum.total_bytes);
    nst_tracker_snapshot_get(ctx, &again);
    cr_assert_eq(again.current_total, weights + one.total_bytes);
    cr_assert_eq(again.peak_total, weights + sum.total_bytes);
    free(in), free(out);
    nst_stylizer_close(s);
    nst_tracker_snapshot_get(ctx, &again);
    cr_assert_eq(again.current_total, 0, "%zu bytes left after close", again.current_total);
    nst_ctx_destroy(ctx);
}

Test(transformer, plan_at_512_overlaps_activations) {
    rig r = rig_open(model, true);
    nst_ctx *ctx = r.ctx;
    nst_stylizer *s = r.s;
    nst_plan_summary p;
    cr_assert_eq(nst_stylizer_plan(s, 1, 512, 512, &p), NST_OK, "%s", nst_last_error(ctx));
    const double mib = 1048576.0;
    cr_log_info("512x512 plan: total %.1f MiB (lower bound %.1f, activations at peak %.1f, "
                "workspace at peak %.1f), sum of all %d buffers %.1f MiB", p.total_bytes / mib,
                p.lower_bound / mib, p.tag_at_peak[NST_TAG_ACTIVATIONS] / mib,
                p.tag_at_peak[NST_TAG_WORKSPACE] / mib, p.n_buffers, p.sum_bytes / mib);
    /* the largest activation is 32 x 512 x 512 floats (32 MiB); the pad before deconv3 is larger */
    cr_assert_geq(p.total_bytes, (size_t)2 * 32 * 512 * 512 * 4);
    cr_assert_lt(p.total_bytes * 4, p.sum_bytes, "plan %zu is not far below the sum %zu",
                 p.total_bytes, p.sum_bytes);
    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    cr_assert_eq(snap.current_total, nst_stylizer_weight_bytes(s), "planning allocated memory");
    nst_stylizer_set_memory_limit(s, p.total_bytes - 1);
    uint8_t *img = calloc(512 * 512, 3);
    nst_status st = nst_stylize_image(s, img, 512, 512, img);
    nst_test_expect_status(ctx, st, NST_ERR_BUDGET, "", "MiB");
    free(img);
    rig_close(&r);
}

/* ---- refusals ---------------------------------------------------------------------------- */

static void expect_refused(const char *path, nst_status want, const char *const *needles) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = (nst_stylizer *)1;
    nst_status st = nst_stylizer_open(ctx, path, &s);
    cr_assert_eq(st, want, "status %s: %s", nst_status_name(st), nst_last_error(ctx));
    cr_assert_null(s);
    for (int i = 0; needles[i]; i++)
        cr_expect(strstr(nst_last_error(ctx), needles[i]), "'%s' not in: %s", needles[i],
                  nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

static const char *broken(const char *name, const nst_test_tn_options *o) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    nst_test_tn_write(path, 1, o);
    return path;
}

Test(transformer, refuses_corrupt_and_missing_files) {
    char path[600];
    snprintf(path, sizeof path, "%s/corrupt.safetensors", dir);
    nst_test_write_bytes(path, "\x10\0\0\0\0\0\0\0{\"a\": nonsense", 22);
    expect_refused(path, NST_ERR_FORMAT, (const char *[]){"corrupt.safetensors", NULL});
    size_t n = 0;
    uint8_t *good = nst_test_read_bytes(model, &n);
    nst_test_write_bytes(path, good, n / 2); /* truncated */
    expect_refused(path, NST_ERR_FORMAT, (const char *[]){"corrupt.safetensors", NULL});
    free(good);
    snprintf(path, sizeof path, "%s/none.safetensors", dir);
    expect_refused(path, NST_ERR_IO, (const char *[]){"none.safetensors", NULL});
}

Test(transformer, refuses_wrong_architecture_naming_tensors) {
    expect_refused(broken("drop", &(nst_test_tn_options){.drop = "res3.in2.bias"}),
                   NST_ERR_FORMAT, (const char *[]){"1 missing (res3.in2.bias)", "0 extra", NULL});
    expect_refused(broken("extra", &(nst_test_tn_options){.extra = "res6.conv1.conv2d.bias"}),
                   NST_ERR_FORMAT, (const char *[]){"1 extra (res6.conv1.conv2d.bias)", NULL});
    expect_refused(broken("shape", &(nst_test_tn_options){.reshape = "conv1.conv2d.weight"}),
                   NST_ERR_FORMAT,
                   (const char *[]){"conv1.conv2d.weight is [16, 3, 9, 9], expected [32, 3, 9, 9]",
                                    NULL});
    expect_refused(broken("input", &(nst_test_tn_options){.input = "bgr-0-255-minus-mean"}),
                   NST_ERR_FORMAT, (const char *[]){"bgr-0-255-minus-mean", "rgb-0-255", NULL});
}

Test(transformer, refuses_tiny_frames) {
    rig r = rig_open(model, false);
    nst_ctx *ctx = r.ctx;
    nst_stylizer *s = r.s;
    uint8_t img[6 * 6 * 3] = {0};
    nst_test_expect_status(ctx, nst_stylize_image(s, img, 4, 6, img), NST_ERR_INVALID_ARG,
                           "stylize", "4x6");
    cr_assert_eq(nst_stylize_image(s, img, 5, 5, img), NST_OK, "%s", nst_last_error(ctx));
    rig_close(&r);
}

Test(transformer, to_u8_clamps_and_truncates) {
    const float y[] = {-1.0f, 0.0f, 0.5f, 1.99f, 127.5f, 254.99f, 255.0f, 300.0f, NAN, -INFINITY,
                       INFINITY};
    const uint8_t want[] = {0, 0, 0, 1, 127, 254, 255, 255, 0, 0, 255};
    uint8_t got[11];
    nst_stylize_to_u8(y, 11, got);
    for (int i = 0; i < 11; i++)
        cr_expect_eq(got[i], want[i], "%g -> %u, want %u", y[i], got[i], want[i]);
}

/* ---- model lookup -------------------------------------------------------------------------- */

Test(transformer, model_find_order_and_message) {
    char a[600], b[600], home[600], path[1024];
    snprintf(a, sizeof a, "%s/env", dir);
    snprintf(b, sizeof b, "%s/work", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    mkdir(a, 0755), mkdir(b, 0755), mkdir(home, 0755);
    cr_assert_eq(chdir(b), 0);
    mkdir("models", 0755);
    setenv("NSTYLE_MODELS", a, 1);
    setenv("HOME", home, 1);
    const char *names[] = {"candy.safetensors"};
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_status st = nst_model_find(ctx, "candy", names, 1, path, sizeof path);
    cr_assert_eq(st, NST_ERR_IO);
    const char *msg = nst_last_error(ctx);
    char want[1400];
    snprintf(want, sizeof want, "%s/candy.safetensors, ./models/candy.safetensors, "
             "%s/.cache/nstyle/candy.safetensors", a, home);
    cr_expect(strstr(msg, want), "places not listed in order: %s", msg);
    cr_expect(strstr(msg, "NSTYLE_MODELS"), "%s", msg);
    cr_expect(!strstr(msg, "mount it"), "%s", msg);
    setenv("NSTYLE_MODELS_HINT", "mount it at /models", 1);
    cr_assert_eq(nst_model_find(ctx, "candy", names, 1, path, sizeof path), NST_ERR_IO);
    cr_expect(strstr(nst_last_error(ctx), "'candy' not found; mount it at /models; looked for "),
              "the hint comes first: %s", nst_last_error(ctx));
    unsetenv("NSTYLE_MODELS_HINT");
    nst_test_write_bytes("models/candy.safetensors", "x", 1);
    cr_assert_eq(nst_model_find(ctx, "candy", names, 1, path, sizeof path), NST_OK);
    cr_assert_str_eq(path, "./models/candy.safetensors");
    snprintf(want, sizeof want, "%s/candy.safetensors", a);
    nst_test_write_bytes(want, "x", 1);
    cr_assert_eq(nst_model_find(ctx, "candy", names, 1, path, sizeof path), NST_OK);
    cr_assert_str_eq(path, want, "$NSTYLE_MODELS comes first");
    /* a path is taken as it is; a path that is not there is not searched for */
    cr_assert_eq(nst_model_find(ctx, model, names, 1, path, sizeof path), NST_OK);
    cr_assert_str_eq(path, model);
    nst_test_expect_status(ctx, nst_model_find(ctx, "x/candy", names, 1, path, sizeof path),
                           NST_ERR_IO, "", "x/candy");
    cr_assert_eq(nst_model_find(ctx, "candy", names, 1, path, 4), NST_ERR_INVALID_ARG);
    unsetenv("NSTYLE_MODELS");
    unsetenv("HOME");
    cr_assert_eq(nst_model_find(ctx, "udnie", (const char *[]){"udnie.safetensors"}, 1, path,
                                sizeof path), NST_ERR_IO);
    cr_expect(strstr(nst_last_error(ctx), "$NSTYLE_MODELS is not set"), "%s", nst_last_error(ctx));
    cr_expect(strstr(nst_last_error(ctx), "$HOME is not set"), "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
