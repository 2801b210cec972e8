/* The Gatys render as a library call (src/host/pipelines/render.c): the plan's total equals the
 * arena's measured peak on a context with nothing else allocated; the real partial VGG19 weights on
 * a 64x64 crop make the style loss fall in 20 iterations (skipped, saying why, without
 * ../shared/data); the progress callback and the cancel flag stop the loop and keep the image; a
 * non-finite loss names its layer; a layer the file lacks, an unknown layer and a budget too
 * small are refused before anything is allocated. The small renders use the width-16 golden net
 * of tests/golden/gen_vgg19.py (conv1_1 .. conv3_1). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/render.h"
#include "test_images.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN NST_SOURCE_DIR "/tests/golden/vgg19.safetensors"
#define PARTIAL "models/vgg19-partial/vgg19_conv1_to_conv3.safetensors"

typedef struct {
    float *content, *style;
    nst_render_options o;
} small_render;

/* A 32x24 render of random images with the golden net (style 28x20). */
static small_render small_setup(int iterations) {
    nst_test_rng rng = nst_test_rng_seed(42);
    small_render s = {.content = nst_test_random_f32(&rng, 32 * 24 * 3, 0.0f, 1.0f),
                      .style = nst_test_random_f32(&rng, 28 * 20 * 3, 0.0f, 1.0f)};
    nst_render_options_default(&s.o);
    s.o.width = 32, s.o.height = 24, s.o.content = s.content;
    s.o.style = s.style, s.o.style_width = 28, s.o.style_height = 20;
    s.o.content_layers = "relu2_2";
    s.o.style_layers = "relu1_1,relu2_1,conv3_1";
    s.o.iterations = iterations;
    s.o.weights_path = GOLDEN;
    return s;
}

/* Frees the images and the context. */
static void small_done(small_render *s, nst_ctx *ctx) {
    free(s->content);
    free(s->style);
    nst_ctx_destroy(ctx);
}

Test(render, plan_total_equals_measured_peak) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    small_render s = small_setup(3);
    s.o.tv_weight = 1.0;
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &r), NST_OK, "%s", nst_last_error(ctx));
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    cr_expect_gt(r.plan_total_bytes, 0);
    cr_expect_eq(t.peak_total, r.plan_total_bytes, "tracker peak %zu, plan %zu", t.peak_total,
                 r.plan_total_bytes);
    cr_expect_eq(t.current_total, 0, "%zu bytes still allocated", t.current_total);
    cr_expect_eq(r.iterations_done, 3);
    cr_expect(!r.cancelled);
    cr_expect_eq(r.nonfinite_iteration, -1);
    cr_assert_not_null(r.image);
    for (size_t i = 0; i < 32 * 24 * 3; i++)
        cr_assert(r.image[i] >= 0.0f && r.image[i] <= 1.0f, "pixel %zu = %g", i, r.image[i]);
    nst_render_result_free(&r);
    small_done(&s, ctx);
}

static bool stop_at_two(const nst_render_progress *p, void *user) {
    int *calls = user;
    (*calls)++;
    cr_expect_eq(p->iteration, *calls);
    cr_expect(isfinite(p->total_loss));
    return p->iteration < 2;
}

Test(render, progress_false_and_cancel_stop_with_the_image) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    small_render s = small_setup(10);
    int calls = 0;
    s.o.progress = stop_at_two;
    s.o.progress_user = &calls;
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(calls, 2);
    cr_expect_eq(r.iterations_done, 2);
    cr_expect(r.cancelled);
    cr_expect_not_null(r.image);
    cr_expect(memcmp(r.image, s.content, 32 * 24 * 3 * sizeof(float)) != 0,
              "two steps must change the image");
    nst_render_result_free(&r);

    volatile int cancel = 1;
    s.o.progress = NULL;
    s.o.cancel = &cancel;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(r.iterations_done, 1);
    cr_expect(r.cancelled);
    cr_expect_not_null(r.image);
    nst_render_result_free(&r);
    small_done(&s, ctx);
}

typedef struct {
    nst_ctx *ctx;
    int calls;
    bool deterministic;
    size_t workspace_limit;
} settings_seen;

static bool see_settings(const nst_render_progress *p, void *user) {
    (void)p;
    settings_seen *s = user;
    s->calls++;
    s->deterministic = nst_ctx_deterministic(s->ctx);
    s->workspace_limit = nst_ctx_workspace_limit(s->ctx);
    return true;
}

/* deterministic and workspace_limit reach the context for the render (the CUDA backend reads
 * them there) and its plan, and the context's own settings come back after. */
Test(render, gpu_settings_hold_during_the_render_and_are_restored) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    small_render s = small_setup(2);
    settings_seen seen = {.ctx = ctx};
    s.o.progress = see_settings;
    s.o.progress_user = &seen;
    s.o.deterministic = true;
    s.o.workspace_limit = (size_t)3 << 20;
    cr_assert(!nst_ctx_deterministic(ctx));
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &r), NST_OK, "%s", nst_last_error(ctx));
    nst_render_result_free(&r);
    cr_expect_eq(seen.calls, 2);
    cr_expect(seen.deterministic, "deterministic was off during the render");
    cr_expect_eq(seen.workspace_limit, (size_t)3 << 20);
    cr_expect(!nst_ctx_deterministic(ctx), "deterministic left on after the render");
    cr_expect_eq(nst_ctx_workspace_limit(ctx), NST_DEFAULT_WORKSPACE_LIMIT);

    /* Planned for CUDA, each convolution's scratch counts at the cap: a smaller cap, a smaller
       plan (the golden net's convolutions are small, so the cap must be smaller still). */
    nst_ctx_plan_for_cuda(ctx, true);
    s.o.workspace_limit = 0;
    nst_plan *big = NULL, *small = NULL;
    cr_assert_eq(nst_render_plan(ctx, &s.o, &big), NST_OK, "%s", nst_last_error(ctx));
    s.o.workspace_limit = 4096;
    cr_assert_eq(nst_render_plan(ctx, &s.o, &small), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_lt(nst_plan_get_summary(small).total_bytes, nst_plan_get_summary(big).total_bytes,
                 "a 4 KiB workspace cap left the plan at %zu bytes",
                 nst_plan_get_summary(small).total_bytes);
    cr_expect_eq(nst_ctx_workspace_limit(ctx), NST_DEFAULT_WORKSPACE_LIMIT);
    nst_plan_destroy(big);
    nst_plan_destroy(small);
    small_done(&s, ctx);
}

Test(render, nonfinite_loss_names_its_layer) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    small_render s = small_setup(5);
    s.content[7] = NAN; /* the content target before the first ReLU becomes NaN (ReLU maps NaN
                           to 0); the style targets do not */
    s.o.content_layers = "conv1_1";
    s.o.init = NST_INIT_NOISE;
    s.o.seed = 3;
    nst_render_result r;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INTERNAL, "conv1_1",
                           "not finite");
    cr_expect_str_eq(r.nonfinite_layer, "conv1_1");
    cr_expect_eq(r.nonfinite_iteration, 1);
    cr_expect_not_null(r.image, "the last image comes back on failure too");
    nst_render_result_free(&r);
    small_done(&s, ctx);
}

Test(render, refusals_before_allocating) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    small_render s = small_setup(1);
    nst_render_result r;
    s.o.content_layers = "relu4_2";
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG, "relu4_2",
                           "vgg19.safetensors");
    s.o.content_layers = "relu9_9";
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG, "relu9_9",
                           "unknown");
    s.o.content_layers = "relu2_2";
    s.o.vram_limit = 4096;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_BUDGET, "limit",
                           "image size");
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    cr_expect_eq(t.peak_total, 0, "a refused render allocated %zu bytes", t.peak_total);
    cr_expect_null(r.image);
    small_done(&s, ctx);
}

Test(render, plan_needs_no_weights_and_grows_with_size) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = 96, o.height = 64, o.style_width = 96, o.style_height = 64;
    nst_plan *small = NULL, *big = NULL;
    cr_assert_eq(nst_render_plan(ctx, &o, &small), NST_OK, "%s", nst_last_error(ctx));
    o.width = 192, o.height = 128;
    cr_assert_eq(nst_render_plan(ctx, &o, &big), NST_OK, "%s", nst_last_error(ctx));
    nst_plan_summary a = nst_plan_get_summary(small), b = nst_plan_get_summary(big);
    cr_expect_gt(b.total_bytes, a.total_bytes);
    cr_expect_eq(a.tag_peak[NST_TAG_WEIGHTS], b.tag_peak[NST_TAG_WEIGHTS]);
    nst_plan_destroy(small);
    nst_plan_destroy(big);
    nst_ctx_destroy(ctx);
}

Test(render, real_partial_weights_style_loss_falls) {
    char weights[1024];
    if (!nst_test_shared_path(PARTIAL, weights, sizeof weights))
        cr_skip_test("../shared/data is absent: no real VGG19 weights to render with");
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    float *content = nst_test_shared_crop(ctx, "images/content/chelsea.png", 64, 64);
    float *style = nst_test_shared_crop(ctx, "images/style/starry_night.jpg", 64, 64);
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = o.height = o.style_width = o.style_height = 64;
    o.content = content, o.style = style;
    o.content_layers = "relu3_2";
    o.style_layers = "relu1_1,relu2_1,relu3_1";
    o.iterations = 20;
    o.weights_path = weights;
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_log_info("style loss %g -> %g, content loss %g -> %g, %.3f s/iteration",
                r.initial_style_loss, r.style_loss, r.initial_content_loss, r.content_loss,
                r.s_per_iter);
    cr_expect_eq(r.iterations_done, 20);
    cr_expect_lt(r.style_loss, 0.5 * r.initial_style_loss, "style loss %g -> %g",
                 r.initial_style_loss, r.style_loss);
    nst_plan *plan = NULL;
    cr_assert_eq(nst_render_plan(ctx, &o, &plan), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(nst_plan_get_summary(plan).total_bytes, r.plan_total_bytes,
                 "the weightless plan must be the render's own");
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    cr_expect_eq(t.peak_total, r.plan_total_bytes);
    nst_plan_destroy(plan);
    nst_render_result_free(&r);
    free(content), free(style);
    nst_ctx_destroy(ctx);
}
