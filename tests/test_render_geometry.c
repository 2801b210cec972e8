/* The render's geometry (include/nstyle/geometry.h, src/host/pipelines/render_geometry.c)
 * on the width-16 golden net of tests/golden/gen_vgg19.py with small random
 * images:
 *  - the transform parser: theta of key lists against matrices worked out by
 * hand (the order of composition, the turn of a positive angle, the aspect of
 * the rotation), and its refusals naming the key and the value;
 *  - rotate=90 moves a 4x4 image's pixels where a quarter turn
 * counter-clockwise puts them, and a content transform is what the render
 * starts from;
 *  - robust views: identity views give the plain loss and gradient (the chain
 * through the sampler is right), random ones change the gradient, and the plan
 * holds the view tensors;
 *  - style augmentation: one identity view reproduces the plain targets, K = 3
 * random ones change them;
 *  - the learned style theta: moves from the identity, a large penalty keeps it
 * closer, and its gradient through the style pass matches central differences
 * of the total loss. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/pipelines/gatys.h"
#include "nstyle/geometry.h"
#include "nstyle/render.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN NST_SOURCE_DIR "/tests/golden/vgg19.safetensors"

/* ---- the parser ------------------------------------------------------------------------------ */

static void expect_theta(const char *text, int w, int h, const double want[6]) {
    nst_geometry g;
    char err[256] = "";
    cr_assert_eq(nst_geometry_parse(text, &g, err, sizeof err), NST_OK, "'%s': %s", text, err);
    float t[6];
    nst_geometry_theta(&g, w, h, t);
    for (int i = 0; i < 6; i++)
        cr_expect(fabs(t[i] - want[i]) < 1e-6, "'%s' at %dx%d: theta[%d] = %.7f, want %.7f", text,
                  w, h, i, t[i], want[i]);
}

Test(geometry, theta_of_key_lists) {
    expect_theta("rotate=90", 4, 4, (const double[]){0, -1, 0, 1, 0, 0});
    expect_theta("rotate=-90", 4, 4, (const double[]){0, 1, 0, -1, 0, 0});
    expect_theta("scale=0.5", 4, 4, (const double[]){2, 0, 0, 0, 2, 0});
    expect_theta("scale=2,1", 4, 4, (const double[]){0.5, 0, 0, 0, 1, 0});
    expect_theta("translate=0.1,-0.2", 4, 4, (const double[]){1, 0, -0.1, 0, 1, 0.2});
    /* scale 2, then a quarter turn, then right by 0.5: (x, y) -> (2y + 0.5, -2x);
     * inverted */
    expect_theta("translate=0.5,0,rotate=90,scale=2", 4, 4,
                 (const double[]){0, -0.5, 0, 0.5, 0, -0.25});
    /* on an 8x4 image a quarter turn in pixels: x_n = 2 y_n in normalised units,
     * y_n = -x_n/2 */
    expect_theta("rotate=90", 8, 4, (const double[]){0, -0.5, 0, 2, 0, 0});
    const double c = cos(M_PI / 6), s = sin(M_PI / 6);
    expect_theta("rotate=30", 6, 6, (const double[]){c, -s, 0, s, c, 0});
    nst_geometry id = nst_geometry_identity();
    float t[6];
    nst_geometry_theta(&id, 5, 3, t);
    cr_expect(t[0] == 1 && t[1] == 0 && t[2] == 0 && t[3] == 0 && t[4] == 1 && t[5] == 0,
              "unset is the identity");
}

static void expect_refused(const char *text, const char *a, const char *b) {
    nst_geometry g;
    char err[256] = "";
    cr_expect_eq(nst_geometry_parse(text, &g, err, sizeof err), NST_ERR_INVALID_ARG,
                 "'%s' must be refused", text);
    cr_expect(strstr(err, a) && (!b || strstr(err, b)), "'%s': message '%s' must name '%s' %s",
              text, err, a, b ? b : "");
}

Test(geometry, refusals_name_the_key_and_value) {
    expect_refused("scale=0", "scale", "'0' must be > 0");
    expect_refused("scale=-2", "scale", "'-2' must be > 0");
    expect_refused("scale=1,0", "scale", "'0'");
    expect_refused("rotate=nan", "rotate", "'nan' is not a finite number");
    expect_refused("translate=inf,0", "translate", "'inf'");
    expect_refused("rotate=1e999", "rotate", "not a finite number");
    expect_refused("zoom=2", "unknown key 'zoom'", NULL);
    expect_refused("rotate=5,scale=1,rotate=6", "'rotate' is given twice", NULL);
    expect_refused("rotate=", "rotate", "empty value");
    expect_refused("translate=0.1", "translate", "two values");
    expect_refused("scale=1,2,3", "scale", "at most 2");
    expect_refused("rotate=abc", "rotate", "'abc' is not a number");
    expect_refused("rotate=5,", "ends with a comma", NULL);
    expect_refused("0.5", "'0.5' has no key", NULL);
    expect_refused("", "empty transform", NULL);
}

/* ---- the content transform ------------------------------------------------------------------- */

Test(geometry, rotate_90_moves_pixels_a_quarter_turn) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    enum { N = 4 };
    float in[N * N], out[N * N];
    for (int i = 0; i < N * N; i++)
        in[i] = (float)i;
    nst_geometry g;
    cr_assert_eq(nst_geometry_parse("rotate=90", &g, NULL, 0), NST_OK);
    float theta[6];
    nst_geometry_theta(&g, N, N, theta);
    cr_assert_eq(nst_geometry_apply(ctx, theta, NST_PAD_ZEROS, in, N, N, 1, out), NST_OK, "%s",
                 nst_last_error(ctx));
    /* counter-clockwise: the right column becomes the top row, out[r][c] =
     * in[c][N-1-r] */
    for (int r = 0; r < N; r++)
        for (int c = 0; c < N; c++)
            cr_expect(fabsf(out[r * N + c] - in[c * N + (N - 1 - r)]) < 1e-5,
                      "out[%d][%d] = %g, want in[%d][%d] = %g", r, c, out[r * N + c], c, N - 1 - r,
                      in[c * N + N - 1 - r]);
    nst_ctx_destroy(ctx);
}

typedef struct {
    float *content, *style;
    nst_render_options o;
} setup_t;

/* The options of a render of a w x h content and a sw x sh style (the images
 * kept). */
static void reset(setup_t *s, int w, int h, int sw, int sh, int iterations) {
    nst_render_options_default(&s->o);
    s->o.width = w, s->o.height = h, s->o.content = s->content;
    s->o.style = s->style, s->o.style_width = sw, s->o.style_height = sh;
    s->o.content_layers = "relu2_2";
    s->o.style_layers = "relu1_1,relu2_1,conv3_1";
    s->o.iterations = iterations;
    s->o.weights_path = GOLDEN;
}

static setup_t make(int w, int h, int sw, int sh, int iterations) {
    nst_test_rng rng = nst_test_rng_seed(7);
    setup_t s = {.content = nst_test_random_f32(&rng, (size_t)w * h * 3, 0.1f, 0.9f),
                 .style = nst_test_random_f32(&rng, (size_t)sw * sh * 3, 0.0f, 1.0f)};
    reset(&s, w, h, sw, sh, iterations);
    return s;
}

static void done(setup_t *s) { free(s->content), free(s->style); }

Test(geometry, the_render_starts_from_the_transformed_content) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(16, 16, 16, 12, 0);
    cr_assert_eq(nst_geometry_parse("rotate=90", &s.o.content_transform, NULL, 0), NST_OK);
    nst_render_result r;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &r), NST_OK, "%s", nst_last_error(ctx));
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            for (int ch = 0; ch < 3; ch++) {
                const float got = r.image[(y * 16 + x) * 3 + ch];
                const float want = s.content[(x * 16 + 15 - y) * 3 + ch];
                cr_assert(fabsf(got - want) < 1e-5, "pixel (%d, %d) %d: %g, want %g", x, y, ch, got,
                          want);
            }
    nst_render_result_free(&r);
    done(&s);
    nst_ctx_destroy(ctx);
}

/* ---- robust views ---------------------------------------------------------------------------- */

static double evaluate(nst_ctx *ctx, const nst_render_options *o, float *grad,
                       nst_render_result *r) {
    cr_assert_eq(nst__render_evaluate(ctx, o, grad, r), NST_OK, "%s", nst_last_error(ctx));
    return r->total_loss;
}

static double max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (b ? b[i] : 0.0f)));
    return m;
}

Test(geometry, robust_views_identity_is_plain_random_changes_the_gradient) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(24, 20, 20, 16, 0);
    const size_t n = 24 * 20 * 3;
    float *plain = nst_test_alloc_f32(n), *ident = nst_test_alloc_f32(n),
          *robust = nst_test_alloc_f32(n);
    nst_render_result r0, r1, r2;
    const double l0 = evaluate(ctx, &s.o, plain, &r0);
    s.o.robust_views = 3;
    s.o.view_rotate_deg = 0, s.o.view_scale_min = s.o.view_scale_max = 1, s.o.view_shift = 0;
    const double l1 = evaluate(ctx, &s.o, ident, &r1);
    const double g = max_abs(plain, NULL, n);
    cr_expect(fabs(l1 - l0) <= 1e-5 * l0, "identity views: loss %.8g, plain %.8g", l1, l0);
    cr_expect(fabs(r1.robust_style_loss - r0.style_loss) <= 1e-5 * r0.style_loss,
              "identity views: their style loss %.8g, the image's %.8g", r1.robust_style_loss,
              r0.style_loss);
    cr_expect(max_abs(ident, plain, n) <= 1e-4 * g, "identity views: gradient off by %g of %g",
              max_abs(ident, plain, n), g);
    reset(&s, 24, 20, 20, 16, 0);
    s.o.robust_views = 3;
    evaluate(ctx, &s.o, robust, &r2);
    cr_expect(max_abs(robust, plain, n) > 0.05 * g,
              "random views must change the gradient "
              "(by %g of %g)",
              max_abs(robust, plain, n), g);
    cr_expect(r2.robust_style_loss > 0 && r2.robust_style_loss != r0.style_loss,
              "views' style loss %g", r2.robust_style_loss);
    nst_plan *plan = NULL;
    cr_assert_eq(nst_render_plan(ctx, &s.o, &plan), NST_OK, "%s", nst_last_error(ctx));
    int views = 0;
    for (int i = 0; i < nst_plan_count(plan); i++)
        views += strncmp(nst_plan_get(plan, i)->label, "view ", 5) == 0;
    cr_expect_geq(views, 8, "the plan must hold the views' tensors (found %d)", views);
    nst_plan_destroy(plan);
    nst_render_result_free(&r0), nst_render_result_free(&r1), nst_render_result_free(&r2);
    free(plain), free(ident), free(robust);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(geometry, robust_render_runs_and_differs_from_plain) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(24, 20, 20, 16, 4);
    nst_render_result a, b;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &a), NST_OK, "%s", nst_last_error(ctx));
    s.o.robust_views = 2;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &b), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(b.iterations_done, 4);
    cr_expect(max_abs(a.image, b.image, 24 * 20 * 3) > 1e-4, "robust must change the result");
    s.o.optimizer = NST_OPTIMIZER_LBFGS;
    nst_render_result c;
    cr_expect_eq(nst_render_gatys(ctx, &s.o, &c), NST_ERR_INVALID_ARG, "robust + L-BFGS");
    cr_expect(strstr(nst_last_error(ctx), "Adam"), "%s", nst_last_error(ctx));
    nst_render_result_free(&a), nst_render_result_free(&b), nst_render_result_free(&c);
    done(&s);
    nst_ctx_destroy(ctx);
}

/* ---- style augmentation ---------------------------------------------------------------------- */

Test(geometry, style_augment_identity_reproduces_the_targets) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(24, 20, 20, 16, 0);
    const size_t n = 24 * 20 * 3;
    float *grad = nst_test_alloc_f32(n);
    nst_render_result r;
    evaluate(ctx, &s.o, grad, &r);
    const double plain = r.style_loss;
    nst_render_result_free(&r);
    s.o.style_augment = 1;
    s.o.view_rotate_deg = 0, s.o.view_scale_min = s.o.view_scale_max = 1, s.o.view_shift = 0;
    evaluate(ctx, &s.o, grad, &r);
    const double ident = r.style_loss;
    nst_render_result_free(&r);
    cr_expect(fabs(ident - plain) <= 1e-5 * plain, "K = 1 identity: %.8g, plain %.8g", ident,
              plain);
    reset(&s, 24, 20, 20, 16, 0);
    s.o.style_augment = 3;
    evaluate(ctx, &s.o, grad, &r);
    const double aug = r.style_loss;
    nst_render_result_free(&r);
    cr_expect(fabs(aug - plain) > 1e-3 * plain, "K = 3 random views: %.8g, plain %.8g", aug, plain);
    nst_plan *plan = NULL;
    cr_assert_eq(nst_render_plan(ctx, &s.o, &plan), NST_OK, "%s", nst_last_error(ctx));
    bool found = false;
    for (int i = 0; i < nst_plan_count(plan); i++)
        found |= strcmp(nst_plan_get(plan, i)->label, "style view image") == 0;
    cr_expect(found, "the plan must hold the style views");
    nst_plan_destroy(plan);
    free(grad);
    done(&s);
    nst_ctx_destroy(ctx);
}

/* ---- the learned style theta ----------------------------------------------------------------- */

static double theta_dev(const float *t) {
    const float id[6] = {1, 0, 0, 0, 1, 0};
    double d = 0;
    for (int i = 0; i < 6; i++)
        d += (t[i] - id[i]) * (t[i] - id[i]);
    return sqrt(d);
}

Test(geometry, learned_theta_moves_and_the_penalty_holds_it) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(24, 20, 20, 16, 20);
    s.o.learn_style_transform = true;
    s.o.style_transform_penalty = 0;
    nst_render_result free_r, held_r;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &free_r), NST_OK, "%s", nst_last_error(ctx));
    s.o.style_transform_penalty = 1e9;
    cr_assert_eq(nst_render_gatys(ctx, &s.o, &held_r), NST_OK, "%s", nst_last_error(ctx));
    const double d_free = theta_dev(free_r.style_theta), d_held = theta_dev(held_r.style_theta);
    cr_expect_gt(d_free, 0.02, "theta must move from the identity (|theta - I| = %g)", d_free);
    cr_expect_lt(d_held, 0.5 * d_free, "a large penalty must keep theta closer: %g vs %g", d_held,
                 d_free);
    cr_expect_gt(held_r.style_transform_penalty_loss, 0, "the penalty is in the loss");
    nst_render_result_free(&free_r), nst_render_result_free(&held_r);
    done(&s);
    nst_ctx_destroy(ctx);
}

Test(geometry, theta_gradient_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    setup_t s = make(16, 16, 14, 12, 0);
    s.o.transform_padding = NST_PAD_BORDER;
    const size_t n = 16 * 16 * 3;
    float *grad = nst_test_alloc_f32(n);
    /* a start off the pixel grid, where bilinear sampling is smooth enough to
     * difference */
    nst_geometry g0;
    cr_assert_eq(nst_geometry_parse("rotate=11,scale=0.93,translate=0.03,-0.02", &g0, NULL, 0),
                 NST_OK);
    float t0[6];
    nst_geometry_theta(&g0, 14, 12, t0);
    s.o.style_transform = g0;
    s.o.learn_style_transform = true;
    s.o.style_transform_penalty = 0;
    nst_render_result r;
    evaluate(ctx, &s.o, grad, &r);
    float analytic[6];
    memcpy(analytic, r.style_theta_grad, sizeof analytic);
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(r.style_theta[i] - t0[i]) < 1e-6, "theta starts at the style transform");
    nst_render_result_free(&r);
    s.o.learn_style_transform = false;
    double scale = 0;
    for (int i = 0; i < 6; i++)
        scale = fmax(scale, fabs(analytic[i]));
    cr_assert_gt(scale, 0, "theta's gradient is 0");
    const double h = 2e-4;
    for (int i = 0; i < 6; i++) {
        double f[2];
        for (int k = 0; k < 2; k++) {
            nst_geometry g = {.set = true, .raw = true};
            memcpy(g.theta, t0, sizeof t0);
            g.theta[i] += (float)(k ? -h : h);
            s.o.style_transform = g;
            f[k] = evaluate(ctx, &s.o, grad, &r);
            nst_render_result_free(&r);
        }
        const double fd = (f[0] - f[1]) / (2 * h);
        cr_expect(fabs(fd - analytic[i]) <= 0.03 * scale,
                  "dL/dtheta[%d]: %.6g, differences %.6g "
                  "(largest %.4g)",
                  i, analytic[i], fd, scale);
    }
    free(grad);
    done(&s);
    nst_ctx_destroy(ctx);
}
