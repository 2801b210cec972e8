/* Coarse to fine in the library (src/host/pipelines/render_scales.c, nst_render_options.scales)
 * on the width-16 golden net of tests/golden/gen_vgg19.py with small random images:
 *  - a 2-scale render ends at the requested size with the iterations of both scales, and gives
 *    the same bits as the loop it replaces, written out here with single-scale calls (scale 0
 *    at half size from images resized through 8 bits, scale 1 started from scale 0's result
 *    resized through 8 bits), as `nstyle render --scales` ran it;
 *  - the scale_images callback is called once per coarser scale with that scale's sizes, and
 *    the images it supplies are the ones rendered;
 *  - nst_render_plan of a 3-scale render is the largest scale's plan, with every scale's size
 *    and total equal to single-scale plans at those sizes;
 *  - the progress callback is told the scale; snapshots count iterations over the scales;
 *    bad scale counts are refused. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/image.h"
#include "nstyle/render.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN NST_SOURCE_DIR "/tests/golden/vgg19.safetensors"
#define W 36
#define H 28
#define SW 30
#define SH 22

typedef struct {
    float *content, *style;
    nst_render_options o;
} setup_t;

static setup_t make(void) {
    nst_test_rng rng = nst_test_rng_seed(5);
    setup_t s = {.content = nst_test_random_f32(&rng, W * H * 3, 0.0f, 1.0f),
                 .style = nst_test_random_f32(&rng, SW * SH * 3, 0.0f, 1.0f)};
    nst_render_options_default(&s.o);
    s.o.width = W, s.o.height = H, s.o.content = s.content;
    s.o.style = s.style, s.o.style_width = SW, s.o.style_height = SH;
    s.o.content_layers = "relu2_2";
    s.o.style_layers = "relu1_1,relu2_1";
    s.o.iterations = 3;
    s.o.lr = 0.05;
    s.o.weights_path = GOLDEN;
    return s;
}

static void done(setup_t *s) { free(s->content), free(s->style); }

/* src at w x h through 8 bits, as an independent copy of the resizing the CLI did. */
static float *through_8_bits(nst_ctx *ctx, const float *src, int sw, int sh, int w, int h) {
    nst_image a = {0}, b = {0};
    float *out = nst_test_alloc_f32((size_t)w * h * 3);
    cr_assert_eq(nst_image_from_float(ctx, src, sw, sh, 3, &a), NST_OK);
    cr_assert_eq(nst_image_resize(ctx, &a, w, h, &b), NST_OK);
    cr_assert_eq(nst_image_to_float(ctx, &b, out), NST_OK);
    nst_image_free(&a), nst_image_free(&b);
    return out;
}

Test(render_scales, two_scales_are_the_loop_of_single_scale_renders) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make();
    /* the loop, by hand: 18x14 (36 * 2^-1, 28 * 2^-1), style 15x11, then 36x28 */
    nst_render_options o0 = s.o;
    o0.width = 18, o0.height = 14, o0.style_width = 15, o0.style_height = 11;
    float *c0 = through_8_bits(ctx, s.content, W, H, 18, 14);
    float *s0 = through_8_bits(ctx, s.style, SW, SH, 15, 11);
    o0.content = c0, o0.style = s0, o0.iterations = 2;
    nst_render_result r0, r1;
    cr_assert_eq(nst_render_gatys(ctx, &o0, &r0), NST_OK, "%s", nst_last_error(ctx));
    float *init = through_8_bits(ctx, r0.image, 18, 14, W, H);
    nst_render_options o1 = s.o;
    o1.init = NST_INIT_IMAGE, o1.init_image = init;
    cr_assert_eq(nst_render_gatys(ctx, &o1, &r1), NST_OK, "%s", nst_last_error(ctx));
    /* the library's two scales */
    nst_render_options o = s.o;
    o.scales = 2;
    o.scale_iterations[0] = 2; /* scale 1: 0 = iterations (3) */
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(r.width, W);
    cr_assert_eq(r.height, H);
    cr_assert_eq(r.iterations_done, 5, "2 + 3 iterations, got %d", r.iterations_done);
    cr_assert(memcmp(r.image, r1.image, (size_t)W * H * 3 * sizeof(float)) == 0,
              "the library's 2-scale render differs from the loop of single-scale renders");
    cr_assert_eq(r.style_loss, r1.style_loss, "the losses are the last scale's");
    nst_render_result_free(&r0), nst_render_result_free(&r1), nst_render_result_free(&r);
    free(c0), free(s0), free(init);
    done(&s);
    nst_ctx_destroy(ctx);
}

typedef struct {
    int calls, widths[4], heights[4], style_w[4];
    float *content;
} callback_log;

static nst_status supply(nst_ctx *ctx, int k, nst_render_options *o, void *user) {
    callback_log *l = user;
    (void)ctx;
    l->widths[k] = o->width, l->heights[k] = o->height, l->style_w[k] = o->styles_width[0];
    l->calls++;
    if (k == 0) { /* a flat grey content of the scale's size: what gets rendered */
        for (int i = 0; i < o->width * o->height * 3; i++)
            l->content[i] = 0.5f;
        o->content = l->content;
    }
    return NST_OK;
}

Test(render_scales, the_callback_supplies_a_scales_images) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make();
    callback_log l = {.content = nst_test_alloc_f32(18 * 14 * 3)};
    nst_render_options o = s.o;
    o.scales = 2, o.iterations = 1;
    o.scale_images = supply, o.scale_images_user = &l;
    nst_render_result r, plain;
    cr_assert_eq(nst_render_gatys(ctx, &o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(l.calls, 2, "once per scale");
    cr_assert(l.widths[0] == 18 && l.heights[0] == 14 && l.style_w[0] == 15, "%dx%d style %d",
              l.widths[0], l.heights[0], l.style_w[0]);
    cr_assert(l.widths[1] == W && l.heights[1] == H && l.style_w[1] == SW);
    o.scale_images = NULL;
    cr_assert_eq(nst_render_gatys(ctx, &o, &plain), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(memcmp(r.image, plain.image, (size_t)W * H * 3 * sizeof(float)) != 0,
              "the callback's grey content at scale 0 changed nothing");
    nst_render_result_free(&r), nst_render_result_free(&plain);
    free(l.content);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(render_scales, the_plan_is_the_largest_with_every_scales_total) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make();
    nst_render_options o = s.o;
    o.scales = 3;
    nst_plan *plan = NULL;
    cr_assert_eq(nst_render_plan(ctx, &o, &plan), NST_OK, "%s", nst_last_error(ctx));
    const nst_plan_summary sum = nst_plan_get_summary(plan);
    cr_assert_eq(sum.scales, 3);
    static const int w[3] = {9, 18, 36}, h[3] = {7, 14, 28}, sw[3] = {8, 15, 30},
                     sh[3] = {6, 11, 22};
    for (int k = 0; k < 3; k++) {
        cr_assert(sum.scale_width[k] == w[k] && sum.scale_height[k] == h[k], "scale %d: %dx%d",
                  k, sum.scale_width[k], sum.scale_height[k]);
        nst_render_options one = s.o;
        one.width = w[k], one.height = h[k], one.style_width = sw[k], one.style_height = sh[k];
        nst_plan *p = NULL;
        cr_assert_eq(nst_render_plan(ctx, &one, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(sum.scale_total_bytes[k], nst_plan_get_summary(p).total_bytes,
                     "scale %d: %zu vs a single-scale plan's %zu", k, sum.scale_total_bytes[k],
                     nst_plan_get_summary(p).total_bytes);
        if (k == 2)
            cr_assert_eq(sum.total_bytes, nst_plan_get_summary(p).total_bytes, "the largest");
        nst_plan_destroy(p);
    }
    nst_plan_destroy(plan);
    /* a single-scale plan has no scales */
    cr_assert_eq(nst_render_plan(ctx, &s.o, &plan), NST_OK);
    cr_assert_eq(nst_plan_get_summary(plan).scales, 0);
    nst_plan_destroy(plan);
    done(&s);
    nst_ctx_destroy(ctx);
}

typedef struct {
    int last_scale, calls_at[2], snapshots[8], n_snapshots;
} seen_t;

static bool on_progress(const nst_render_progress *p, void *user) {
    seen_t *s = user;
    cr_assert(p->scales == 2 && p->scale >= s->last_scale, "scale %d of %d after %d", p->scale,
              p->scales, s->last_scale);
    s->last_scale = p->scale;
    s->calls_at[p->scale]++;
    return true;
}

static bool on_snapshot(const float *image, int w, int h, int iteration, void *user) {
    seen_t *s = user;
    (void)image, (void)w, (void)h;
    s->snapshots[s->n_snapshots++] = iteration;
    return true;
}

Test(render_scales, progress_knows_the_scale_and_snapshots_count_across) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make();
    seen_t seen = {0};
    nst_render_options o = s.o;
    o.scales = 2, o.iterations = 2;
    o.progress = on_progress, o.progress_user = &seen;
    o.save_every = 1, o.snapshot = on_snapshot, o.snapshot_user = &seen;
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(seen.calls_at[0] == 2 && seen.calls_at[1] == 2, "%d, %d", seen.calls_at[0],
              seen.calls_at[1]);
    cr_assert_eq(seen.n_snapshots, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(seen.snapshots[i], i + 1, "snapshot %d numbered %d", i, seen.snapshots[i]);
    nst_render_result_free(&r);
    o.scales = NST_RENDER_MAX_SCALES + 1;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &o, &r), NST_ERR_INVALID_ARG, "scales", "");
    nst_render_result_free(&r);
    done(&s);
    nst_ctx_destroy(ctx);
}
