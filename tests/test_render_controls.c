/* The render's controls (src/host/pipelines/render.c) on the width-16 golden net of
 * tests/golden/gen_vgg19.py with small random images:
 *  - several styles: blend (1, 0) is the first style alone, weights are normalised (2, 6 is
 *    0.25, 0.75), and the initial style loss is quadratic in the blend weight, as it is when the
 *    targets are w G_a + (1 - w) G_b;
 *  - histogram matching: a darkened copy of the content matched to the content gives the
 *    content's own style targets;
 *  - original colours: the output's U, V are the content's and its Y the plain render's;
 *  - L-BFGS: the loss falls, iterations count evaluations, the plan's optimiser memory is the
 *    2 (m + 1) + 4 vectors of the history and equals the measured peak; with the strong Wolfe
 *    line search on the real partial VGG19 of ../shared/data (skipped without it) the loss
 *    falls, the evaluations reach --iters, and the plan holds exactly 3 vectors more;
 *  - snapshots every N iterations; refusals of bad values;
 *  - `nstyle render` (the built CLI): --scales with --scale-iters grows 16x12, 32x24, 64x48 with
 *    numbered snapshots (--save-every, cumulative numbers, no temporary left) and plans the
 *    largest scale against --vram-limit before the first; several -s with --style-blend,
 *    --style-scale, L-BFGS, original colours and histogram matching; the JSON's fields; bad
 *    values are usage errors naming them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/pipelines/gatys.h"
#include "nstyle/render.h"
#include "test_files.h"
#include "test_images.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN NST_SOURCE_DIR "/tests/golden/vgg19.safetensors"
#define W 32
#define H 24
#define NPIX (W * H)

typedef struct {
    float *content, *a, *b;
    nst_render_options o;
} setup_t;

static setup_t make(int iterations, float lo, float hi) {
    nst_test_rng rng = nst_test_rng_seed(11);
    setup_t s = {.content = nst_test_random_f32(&rng, NPIX * 3, lo, hi),
                 .a = nst_test_random_f32(&rng, 28 * 20 * 3, 0.0f, 1.0f),
                 .b = nst_test_random_f32(&rng, 20 * 16 * 3, 0.0f, 1.0f)};
    nst_render_options_default(&s.o);
    s.o.width = W, s.o.height = H, s.o.content = s.content;
    s.o.style = s.a, s.o.style_width = 28, s.o.style_height = 20;
    s.o.content_layers = "relu2_2";
    s.o.style_layers = "relu1_1,relu2_1,conv3_1";
    s.o.iterations = iterations;
    s.o.weights_path = GOLDEN;
    return s;
}

static void done(setup_t *s) { free(s->content), free(s->a), free(s->b); }

static const float *two_styles[2];
static const int two_w[2] = {28, 20}, two_h[2] = {20, 16};

static void use_two(setup_t *s, const double *blend) {
    two_styles[0] = s->a, two_styles[1] = s->b;
    s->o.n_styles = 2, s->o.styles = two_styles, s->o.styles_width = two_w;
    s->o.styles_height = two_h, s->o.style_blend = blend;
}

static double initial_style_loss(nst_ctx *ctx, const nst_render_options *o) {
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, o, &r), NST_OK, "%s", nst_last_error(ctx));
    const double v = r.initial_style_loss;
    nst_render_result_free(&r);
    return v;
}

/* The image gradient at a noise image (so the content loss's gradient is not zero). */
static void gradient(nst_ctx *ctx, nst_render_options *o, double cw, double sw, bool normalize,
                     float *grad) {
    o->init = NST_INIT_NOISE, o->seed = 5;
    o->content_weight = cw, o->style_weight = sw, o->normalize_gradients = normalize;
    nst_render_result r;
    cr_assert_eq(nst__render_evaluate(ctx, o, grad, &r), NST_OK, "%s", nst_last_error(ctx));
    nst_render_result_free(&r);
}

/* The least-squares coefficients of want ~ a x + b y (b = 0 when y is NULL) and the largest
 * residual relative to max |want|. */
static double fit(const float *want, const float *x, const float *y, double *a, double *b) {
    double xx = 0, xy = 0, yy = 0, xw = 0, yw = 0, m = 0;
    for (int i = 0; i < NPIX * 3; i++) {
        const double xi = x[i], yi = y ? y[i] : 0.0;
        xx += xi * xi, xy += xi * yi, yy += yi * yi, xw += xi * want[i], yw += yi * want[i];
        m = fmax(m, fabs(want[i]));
    }
    const double det = xx * yy - xy * xy;
    *a = y ? (xw * yy - yw * xy) / det : xw / xx;
    *b = y ? (yw * xx - xw * xy) / det : 0.0;
    double worst = 0;
    for (int i = 0; i < NPIX * 3; i++)
        worst = fmax(worst, fabs(want[i] - *a * x[i] - (y ? *b * y[i] : 0.0)));
    return worst / m;
}

/* --normalize-gradients: each loss's gradient at its layer is divided by a positive number (its
 * L1 norm) before its weight: with one loss the image gradient is the plain one times a positive
 * factor; with a content and a style loss it is a_c g_c + a_s g_s with the single-loss factors,
 * which differ, so it is not the plain sum rescaled; and the factors do not depend on the
 * weights' scale (w u / |w u|_1 = u / |u|_1 before the weight). */
Test(render_controls, normalize_gradients_divides_each_loss_by_its_norm) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(0, 0.0f, 1.0f);
    s.o.style_layers = "relu1_1";
    float *gc = malloc(NPIX * 3 * sizeof(float)), *gs = malloc(NPIX * 3 * sizeof(float));
    float *n = malloc(NPIX * 3 * sizeof(float));
    double ac, as, b, worst;
    gradient(ctx, &s.o, 1.0, 0.0, false, gc);
    gradient(ctx, &s.o, 1.0, 0.0, true, n);
    worst = fit(n, gc, NULL, &ac, &b);
    cr_expect_lt(worst, 1e-4, "content alone: normalised = %g x plain, off by %g", ac, worst);
    cr_expect_gt(ac, 0.0);
    gradient(ctx, &s.o, 0.0, 1.0, false, gs);
    gradient(ctx, &s.o, 0.0, 1.0, true, n);
    worst = fit(n, gs, NULL, &as, &b);
    cr_expect_lt(worst, 1e-4, "style alone: normalised = %g x plain, off by %g", as, worst);
    cr_expect_gt(as, 0.0);
    cr_expect_gt(fabs(log(ac / as)), 0.1, "the factors %g and %g should differ", ac, as);
    gradient(ctx, &s.o, 1.0, 1.0, true, n);
    double a2, b2;
    worst = fit(n, gc, gs, &a2, &b2);
    cr_expect_lt(worst, 1e-4, "both: off the span by %g", worst);
    cr_expect_lt(fabs(a2 / ac - 1.0), 1e-3, "content factor %g, alone %g", a2, ac);
    cr_expect_lt(fabs(b2 / as - 1.0), 1e-3, "style factor %g, alone %g", b2, as);
    /* 1000 times the content weight scales its term 1000 times, the factor unchanged */
    gradient(ctx, &s.o, 1000.0, 1.0, true, n);
    worst = fit(n, gc, gs, &a2, &b2);
    cr_expect_lt(worst, 1e-4);
    cr_expect_lt(fabs(a2 / (1000.0 * ac) - 1.0), 1e-3, "content factor %g at weight 1000", a2);
    cr_expect_lt(fabs(b2 / as - 1.0), 1e-3);
    /* the views' and the learned transform's gradients are the plain losses': refused */
    nst_render_result r;
    s.o.normalize_gradients = true, s.o.robust_views = 1;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG,
                           "normalize_gradients", "robust_views");
    nst_render_result_free(&r);
    s.o.robust_views = 0, s.o.learn_style_transform = true;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG,
                           "normalize_gradients", "learn_style_transform");
    nst_render_result_free(&r);
    free(gc), free(gs), free(n);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(render_controls, style_blend_targets) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(0, 0.0f, 1.0f);
    const double alone = initial_style_loss(ctx, &s.o);
    use_two(&s, (const double[]){1.0, 0.0});
    const double f1 = initial_style_loss(ctx, &s.o);
    cr_expect(fabs(f1 - alone) <= 1e-6 * alone, "blend 1,0: %.9g, style a alone %.9g", f1, alone);
    use_two(&s, (const double[]){0.0, 1.0});
    const double f0 = initial_style_loss(ctx, &s.o);
    use_two(&s, (const double[]){0.5, 0.5});
    const double fh = initial_style_loss(ctx, &s.o);
    use_two(&s, NULL);
    const double feq = initial_style_loss(ctx, &s.o);
    cr_expect(fabs(feq - fh) <= 1e-6 * fh, "no blend = equal weights: %g vs %g", feq, fh);
    use_two(&s, (const double[]){0.25, 0.75});
    const double fq = initial_style_loss(ctx, &s.o);
    use_two(&s, (const double[]){2.0, 6.0});
    const double fq2 = initial_style_loss(ctx, &s.o);
    cr_expect(fabs(fq2 - fq) <= 1e-6 * fq, "2,6 must be 0.25,0.75: %g vs %g", fq2, fq);
    /* w = weight of style a: f(0.25) from the parabola through f(0), f(0.5), f(1) */
    const double want = 0.375 * f0 + 0.75 * fh - 0.125 * f1;
    cr_expect(fabs(fq - want) <= 1e-4 * fq, "blend 0.25: %.7g, quadratic through the others %.7g",
              fq, want);
    cr_expect(fabs(f0 - f1) > 1e-3 * f1, "the two styles must differ (%g, %g)", f0, f1);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(render_controls, histogram_match_recolours_the_style) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(0, 0.0f, 1.0f);
    float *dark = nst_test_alloc_f32(NPIX * 3);
    for (int i = 0; i < NPIX * 3; i++)
        dark[i] = 0.5f * s.content[i];
    s.o.style = s.content, s.o.style_width = W, s.o.style_height = H;
    const double own = initial_style_loss(ctx, &s.o);
    s.o.style = dark;
    const double plain = initial_style_loss(ctx, &s.o);
    s.o.histogram_match = true;
    const double matched = initial_style_loss(ctx, &s.o);
    cr_expect(fabs(matched - own) <= 1e-6 * (own + 1e-12), "matched %g, the content's own %g",
              matched, own);
    cr_expect_gt(plain, matched, "unmatched %g must be further than matched %g", plain, matched);
    free(dark);
    done(&s);
    nst_ctx_destroy(ctx);
}

static void yuv(const float *p, double *y, double *u, double *v) {
    *y = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    *u = -0.14714119 * p[0] - 0.28886916 * p[1] + 0.43601035 * p[2];
    *v = 0.61497538 * p[0] - 0.51496512 * p[1] - 0.10001026 * p[2];
}

Test(render_controls, original_colors_keep_the_contents_chroma) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(5, 0.3f, 0.7f);
    nst_render_result plain, kept;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &plain), NST_OK, "%s", nst_last_error(ctx));
    s.o.original_colors = true;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &kept), NST_OK, "%s", nst_last_error(ctx));
    int inside = 0;
    double worst_uv = 0, worst_y = 0;
    for (int i = 0; i < NPIX; i++) {
        const float *k = kept.image + 3 * i;
        if (k[0] <= 0 || k[0] >= 1 || k[1] <= 0 || k[1] >= 1 || k[2] <= 0 || k[2] >= 1)
            continue;
        inside++;
        double y0, u0, v0, y1, u1, v1, yp, up, vp;
        yuv(s.content + 3 * i, &y0, &u0, &v0);
        yuv(k, &y1, &u1, &v1);
        yuv(plain.image + 3 * i, &yp, &up, &vp);
        worst_uv = fmax(worst_uv, fmax(fabs(u1 - u0), fabs(v1 - v0)));
        worst_y = fmax(worst_y, fabs(y1 - yp));
    }
    cr_log_info("original colours: %d of %d pixels unclamped, |dU|,|dV| <= %.3g, |dY| <= %.3g",
                inside, NPIX, worst_uv, worst_y);
    cr_expect_gt(inside, NPIX / 2);
    cr_expect_lt(worst_uv, 1e-6, "U, V off the content's by %g", worst_uv);
    cr_expect_lt(worst_y, 1e-6, "Y off the plain render's by %g", worst_y);
    nst_render_result_free(&plain);
    nst_render_result_free(&kept);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(render_controls, lbfgs_render_and_its_plan) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    setup_t s = make(10, 0.0f, 1.0f);
    s.o.optimizer = NST_OPTIMIZER_LBFGS;
    s.o.lr = 1.0;
    s.o.lbfgs_history = 5;
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_log_info("L-BFGS: total loss %g after %d evaluations (style %g -> %g)", r.total_loss,
                r.evaluations, r.initial_style_loss, r.style_loss);
    cr_expect_eq(r.evaluations, 10);
    cr_expect_eq(r.iterations_done, 10);
    cr_expect_lt(r.style_loss, 0.5 * r.initial_style_loss);
    for (int i = 0; i < NPIX * 3; i++)
        cr_assert(r.image[i] >= 0.0f && r.image[i] <= 1.0f);
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    cr_expect_eq(t.peak_total, r.plan_total_bytes);
    nst_render_result_free(&r);

    nst_render_options big;
    nst_render_options_default(&big);
    big.width = 768, big.height = 512, big.style_width = 768, big.style_height = 512;
    big.optimizer = NST_OPTIMIZER_LBFGS;
    nst_plan *plan = NULL;
    cr_assert_eq(nst_render_plan(ctx, &big, &plan), NST_OK, "%s", nst_last_error(ctx));
    const size_t vec = 768 * 512 * 3 * sizeof(float);
    const size_t opt = nst_plan_get_summary(plan).tag_peak[NST_TAG_OPTIMISER];
    cr_log_info("768x512, history 100: optimiser memory %.3f GB", opt / 1e9);
    cr_expect_geq(opt, (2 * 101 + 4) * vec);
    cr_expect_lt(opt, (2 * 101 + 4) * vec + 4096);
    nst_plan_destroy(plan);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(render_controls, real_weights_strong_wolfe_lowers_the_loss_in_a_larger_plan) {
    char weights[1024];
    if (!nst_test_shared_path("models/vgg19-partial/vgg19_conv1_to_conv3.safetensors", weights,
                              sizeof weights))
        cr_skip_test("../shared/data is absent: no real VGG19 weights to render with");
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    enum { S = 64 };
    float *content = nst_test_shared_crop(ctx, "images/content/chelsea.png", S, S);
    float *style = nst_test_shared_crop(ctx, "images/style/starry_night.jpg", S, S);
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = o.height = o.style_width = o.style_height = S;
    o.content = content, o.style = style;
    o.content_layers = "relu3_2";
    o.style_layers = "relu1_1,relu2_1,relu3_1";
    o.iterations = 12;
    o.weights_path = weights;
    o.optimizer = NST_OPTIMIZER_LBFGS, o.lr = 1.0, o.lbfgs_history = 10;
    nst_plan *plain = NULL, *wolfe = NULL;
    cr_assert_eq(nst_render_plan(ctx, &o, &plain), NST_OK, "%s", nst_last_error(ctx));
    o.lbfgs_line_search = NST_LINE_SEARCH_STRONG_WOLFE;
    cr_assert_eq(nst_render_plan(ctx, &o, &wolfe), NST_OK, "%s", nst_last_error(ctx));
    const nst_plan_summary a = nst_plan_get_summary(plain), b = nst_plan_get_summary(wolfe);
    const size_t vec = S * S * 3 * sizeof(float);
    cr_expect_eq(b.tag_peak[NST_TAG_OPTIMISER], a.tag_peak[NST_TAG_OPTIMISER] + 3 * vec,
                 "the saved image and two bracket gradients: %zu -> %zu bytes",
                 a.tag_peak[NST_TAG_OPTIMISER], b.tag_peak[NST_TAG_OPTIMISER]);
    cr_expect_gt(b.total_bytes, a.total_bytes);
    cr_expect_leq(b.total_bytes, a.total_bytes + 3 * vec + 4096,
                  "only the 3 vectors may grow the plan: %zu -> %zu", a.total_bytes,
                  b.total_bytes);
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &o, &r), NST_OK, "%s", nst_last_error(ctx));
    const double initial = o.content_weight * r.initial_content_loss +
                           o.style_weight * r.initial_style_loss;
    cr_log_info("strong Wolfe, real weights: total loss %g -> %g in %d evaluations, plan %zu "
                "bytes (%zu without the line search)", initial, r.total_loss, r.evaluations,
                r.plan_total_bytes, a.total_bytes);
    cr_expect_geq(r.evaluations, 12);
    cr_expect_lt(r.evaluations, 12 + 25, "one line search at most past max_eval");
    cr_expect_eq(r.iterations_done, r.evaluations);
    cr_expect_lt(r.total_loss, 0.5 * initial, "total loss %g -> %g", initial, r.total_loss);
    cr_expect_eq(r.plan_total_bytes, b.total_bytes, "the weightless plan must be the render's");
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    cr_expect_eq(t.peak_total, r.plan_total_bytes);
    nst_render_result_free(&r);
    o.optimizer = NST_OPTIMIZER_ADAM; /* the line search is L-BFGS's */
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &o, &r), NST_ERR_INVALID_ARG,
                           "line search", "NST_OPTIMIZER_LBFGS");
    nst_plan_destroy(plain);
    nst_plan_destroy(wolfe);
    free(content), free(style);
    nst_ctx_destroy(ctx);
}

static bool count_snapshot(const float *image, int w, int h, int iteration, void *user) {
    int *seen = user;
    cr_expect_eq(w, W);
    cr_expect_eq(h, H);
    for (int i = 0; i < w * h * 3; i++)
        cr_assert(image[i] >= 0.0f && image[i] <= 1.0f);
    seen[seen[0]++ + 1] = iteration;
    return true;
}

Test(render_controls, snapshots_every_n) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(7, 0.0f, 1.0f);
    int seen[8] = {0};
    s.o.save_every = 3, s.o.snapshot = count_snapshot, s.o.snapshot_user = seen;
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(seen[0], 2);
    cr_expect_eq(seen[1], 3);
    cr_expect_eq(seen[2], 6);
    nst_render_result_free(&r);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(render_controls, bad_values_are_refused) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    setup_t s = make(1, 0.0f, 1.0f);
    nst_render_result r;
    use_two(&s, (const double[]){1.0, -0.5});
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG, "blend",
                           "-0.5");
    use_two(&s, (const double[]){0.0, 0.0});
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG, "blend",
                           "all 0");
    use_two(&s, NULL);
    s.o.n_styles = NST_RENDER_MAX_STYLES + 1;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG,
                           "style images", "want 1");
    s.o.n_styles = 0;
    s.o.optimizer = (nst_render_optimizer)7;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG,
                           "optimizer", "7");
    s.o.optimizer = NST_OPTIMIZER_LBFGS;
    s.o.lbfgs_history = 0;
    nst_test_expect_status(ctx, nst_render_gatys(ctx, &s.o, &r), NST_ERR_INVALID_ARG, "history",
                           "want 1");
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    cr_expect_eq(t.peak_total, 0);
    done(&s);
    nst_ctx_destroy(ctx);
}

/* ---- `nstyle render` with the controls (the built CLI, the golden net as weights) ----------- */

static char out[65536], err[65536], dir[256], content[512], style_a[512], style_b[512];
static char result[512], json[512];

#define RUN(...) \
    nst_test_run_cli((const char *const[]){__VA_ARGS__, NULL}, out, sizeof out, err, sizeof err)
#define RENDER(...)                                                                            \
    RUN("render", "-c", content, "-o", result, "--model", GOLDEN, "--size", "64", "--device",  \
        "cpu", "--threads", "2", "--content-layers", "relu2_2", "--style-layers",              \
        "relu1_1,relu2_1", "-q", __VA_ARGS__)

static void write_image(const char *path, int w, int h, uint64_t seed) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(w, h, 3, seed);
    cr_assert_eq(nst_image_save(ctx, path, &img, 0), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static void cli_setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(content, sizeof content, "%s/content.png", dir);
    snprintf(style_a, sizeof style_a, "%s/a.png", dir);
    snprintf(style_b, sizeof style_b, "%s/b.png", dir);
    snprintf(result, sizeof result, "%s/out.png", dir);
    snprintf(json, sizeof json, "%s/summary.json", dir);
    write_image(content, 64, 48, 1);
    write_image(style_a, 48, 48, 2);
    write_image(style_b, 40, 30, 3);
}

static char *read_json(void) {
    size_t n = 0;
    char *t = (char *)nst_test_read_bytes(json, &n);
    t[n] = '\0';
    return t;
}

static double json_num(const char *text, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(text, pat);
    cr_assert_not_null(p, "no \"%s\" in the JSON:\n%s", key, text);
    return strtod(p + strlen(pat), NULL);
}

static void image_size(const char *path, int w, int h) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, path, 0, &img), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(img.width == w && img.height == h, "%s is %dx%d, want %dx%d", path, img.width,
              img.height, w, h);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static const char *in_dir(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

TestSuite(cli_render_controls, .init = cli_setup, .timeout = 300);

Test(cli_render_controls, scales_grow_to_the_size_with_numbered_snapshots) {
    cr_assert_eq(RENDER("-s", style_a, "--scales", "3", "--scale-iters", "2,2,3",
                        "--save-every", "2", "--json", json), 0, "%s", err);
    image_size(result, 64, 48);
    image_size(in_dir("out_000002.png"), 16, 12); /* scale 1 of 3 */
    image_size(in_dir("out_000004.png"), 32, 24); /* scale 2 */
    image_size(in_dir("out_000006.png"), 64, 48); /* scale 3 */
    cr_expect_eq(access(in_dir("out_000008.png"), F_OK), -1);
    int tmp = 0;
    cr_expect_eq(nst_test_count_entries(dir, &tmp), 8, "content, 2 styles, 3 snapshots, out, json");
    cr_expect_eq(tmp, 0, "a temporary file was left");
    char *j = read_json();
    cr_expect_eq(json_num(j, "iterations"), 7);
    cr_expect_eq(json_num(j, "iterations_requested"), 7);
    cr_expect_eq(json_num(j, "scales"), 3);
    cr_expect_eq(json_num(j, "width"), 64);
    free(j);
}

Test(cli_render_controls, several_styles_blend_and_lbfgs) {
    cr_assert_eq(RENDER("-s", style_a, "-s", style_b, "--style-blend", "1,3", "--style-scale",
                        "0.5", "--optimizer", "lbfgs", "--lbfgs-history", "4", "-n", "6",
                        "--original-colors", "--histogram-match", "--json", json), 0, "%s", err);
    image_size(result, 64, 48);
    char *j = read_json();
    cr_expect(strstr(j, "\"optimizer\": \"lbfgs\""), "%s", j);
    cr_expect_eq(json_num(j, "evaluations"), 6);
    cr_expect(strstr(j, "\"line_search\": \"none\""), "%s", j);
    cr_expect_eq(json_num(j, "styles"), 2);
    cr_expect(strstr(j, "\"style_blend\": [0.25, 0.75]"), "%s", j);
    cr_expect(strstr(j, "\"original_colors\": true"), "%s", j);
    cr_expect_lt(json_num(j, "style_loss"), json_num(j, "initial_style_loss"));
    free(j);
    char list[1100];
    snprintf(list, sizeof list, "%s,%s", style_a, style_b);
    cr_assert_eq(RENDER("-s", list, "-n", "1", "--json", json), 0, "%s", err);
    j = read_json();
    cr_expect_eq(json_num(j, "styles"), 2);
    cr_expect(strstr(j, "\"optimizer\": \"adam\""), "%s", j);
    free(j);
}

Test(cli_render_controls, lbfgs_strong_wolfe_counts_its_evaluations) {
    cr_assert_eq(RENDER("-s", style_a, "--optimizer", "lbfgs", "--line-search", "strong-wolfe",
                        "-n", "5", "--json", json), 0, "%s", err);
    image_size(result, 64, 48);
    char *j = read_json();
    cr_expect(strstr(j, "\"line_search\": \"strong-wolfe\""), "%s", j);
    cr_expect_geq(json_num(j, "evaluations"), 5);
    cr_expect_eq(json_num(j, "evaluations"), json_num(j, "iterations"));
    cr_expect_lt(json_num(j, "style_loss"), json_num(j, "initial_style_loss"));
    free(j);
}

Test(cli_render_controls, bad_values_are_usage_errors) {
    struct { const char *opt, *value, *word; } bad[] = {
        {"--style-blend", "1,2", "2 weights"}, {"--style-blend", "1,-1", "-1"},
        {"--style-blend", "0", "all 0"},       {"--scales", "0", "0"},
        {"--scales", "9", "9"},                {"--optimizer", "sgd", "sgd"},
        {"--scale-iters", "5,5", "2 counts"},  {"--save-every", "0", "0"},
        {"--lbfgs-history", "0", "0"},         {"--style-scale", "-2", "-2"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(RENDER("-s", style_a, bad[i].opt, bad[i].value), 2, "%s %s: %s", bad[i].opt,
                     bad[i].value, err);
        cr_expect(strstr(err, bad[i].word), "%s %s: the message should say '%s': %s",
                  bad[i].opt, bad[i].value, bad[i].word, err);
    }
    cr_expect_eq(RENDER("-s", "a.png,,b.png"), 2, "%s", err);
    cr_expect(strstr(err, "empty"), "%s", err);
    cr_expect_eq(access(result, F_OK), -1, "nothing may be written");
}

Test(cli_render_controls, scales_are_planned_at_the_largest) {
    cr_assert_eq(RENDER("-s", style_a, "--scales", "2", "--vram-limit", "64K"), 1, "%s", err);
    cr_expect(strstr(err, "memory plan needs") && strstr(err, "limit"), "%s", err);
    cr_expect_eq(access(result, F_OK), -1, "nothing may be written");
    cr_expect_eq(access(in_dir("out_000001.png"), F_OK), -1);
}
