/* Coarse to fine (include/nstyle/render.h, nst_render_options.scales): neural-style's
 * multi-resolution render as one library call. Scale k of n (0 = the coarsest) renders at each
 * side max(1, floor(side * 2^-(n-1-k) + 0.5)) of the final width x height, the styles scaled by
 * the same rule from their given sizes; each scale starts from the previous scale's result
 * resized through 8 bits (nst_image_from_float, nst_image_resize's Catmull-Rom,
 * nst_image_to_float), and the images of a coarser scale are resized the same way from the
 * given ones unless the caller's scale_images callback supplies its own (the CLI reads the
 * files again). The largest scale's plan is checked against the budget before anything runs;
 * nst_render_plan of a coarse-to-fine render is the largest scale's plan with every scale's
 * size and total in its summary.
 *
 * Tested by tests/test_render_scales.c (the final size, per-scale totals against single-scale
 * plans, the same bits as the loop of single-scale calls it replaces, the callback's images)
 * and tests/test_cli_render.c / test_cli_plan.c (--scales). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "../plan_run.h"
#include "gatys.h"
#include "nstyle/image.h"
#include "nstyle/render.h"

/* A side at scale k of n, the coarsest k = 0. */
static int scale_side(int side, int k, int n) {
    return (int)fmax(1.0, floor(side * ldexp(1.0, -(n - 1 - k)) + 0.5));
}

/* The given styles as arrays, whichever form the options use. */
typedef struct {
    int n;
    const float *image[NST_RENDER_MAX_STYLES];
    int width[NST_RENDER_MAX_STYLES], height[NST_RENDER_MAX_STYLES];
} style_set;

static style_set given_styles(const nst_render_options *o) {
    style_set s = {0};
    if (o->n_styles >= 1) {
        s.n = o->n_styles < NST_RENDER_MAX_STYLES ? o->n_styles : NST_RENDER_MAX_STYLES;
        for (int j = 0; j < s.n; j++) {
            s.image[j] = o->styles ? o->styles[j] : NULL;
            s.width[j] = o->styles_width ? o->styles_width[j] : 0;
            s.height[j] = o->styles_height ? o->styles_height[j] : 0;
        }
    } else {
        s.n = 1;
        s.image[0] = o->style;
        s.width[0] = o->style_width, s.height[0] = o->style_height;
    }
    return s;
}

static nst_status check_scales(nst_ctx *ctx, const nst_render_options *o) {
    if (o->scales < 1 || o->scales > NST_RENDER_MAX_SCALES)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: %d scales (1 .. %d)", o->scales,
                        NST_RENDER_MAX_SCALES);
    for (int k = 0; k < o->scales; k++)
        if (o->scale_iterations[k] < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: scale %d: %d iterations", k + 1,
                            o->scale_iterations[k]);
    return NST_OK;
}

/* The options of scale k: sizes, styles' sizes, iterations; the images still the given ones
 * (sizes[] and the style arrays live in *st). */
static nst_render_options scale_options(const nst_render_options *o, int k, style_set *st,
                                        const style_set *given) {
    nst_render_options s = *o;
    const int n = o->scales;
    s.scales = 1;
    s.scale_images = NULL;
    s.width = scale_side(o->width, k, n);
    s.height = scale_side(o->height, k, n);
    *st = *given;
    for (int j = 0; j < given->n; j++) {
        st->width[j] = scale_side(given->width[j], k, n);
        st->height[j] = scale_side(given->height[j], k, n);
    }
    s.n_styles = st->n;
    s.styles = st->image;
    s.styles_width = st->width;
    s.styles_height = st->height;
    s.style = NULL, s.style_width = s.style_height = 0;
    s.iterations = o->scale_iterations[k] ? o->scale_iterations[k] : o->iterations;
    return s;
}

nst_status nst__render_scales_plan(nst_ctx *ctx, const nst_render_options *o, nst_plan **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render plan: NULL output");
    *out = NULL;
    NST__TRY(check_scales(ctx, o));
    const style_set given = given_styles(o);
    int w[NST_RENDER_MAX_SCALES], h[NST_RENDER_MAX_SCALES];
    size_t total[NST_RENDER_MAX_SCALES];
    nst_plan *plan = NULL;
    for (int k = 0; k < o->scales; k++) {
        style_set st;
        const nst_render_options s = scale_options(o, k, &st, &given);
        if (k + 1 < o->scales) {
            nst_plan *p = NULL;
            NST__TRY(nst__render_plan_one(ctx, &s, &p));
            total[k] = nst_plan_get_summary(p).total_bytes;
            nst_plan_destroy(p);
        } else {
            NST__TRY(nst__render_plan_one(ctx, &s, &plan));
            total[k] = nst_plan_get_summary(plan).total_bytes;
        }
        w[k] = s.width, h[k] = s.height;
    }
    nst__plan_set_scales(plan, o->scales, w, h, total);
    *out = plan;
    return NST_OK;
}

/* src (sw x sh RGB floats) at w x h through 8 bits, malloc'd (a plain copy at the same size). */
static nst_status resize_rgb(nst_ctx *ctx, const float *src, int sw, int sh, int w, int h,
                             bool always, float **out) {
    *out = malloc((size_t)w * h * 3 * sizeof **out);
    if (!*out)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "render: no host memory for a %dx%d image", w, h);
    if (sw == w && sh == h && !always) {
        memcpy(*out, src, (size_t)w * h * 3 * sizeof **out);
        return NST_OK;
    }
    nst_image small = {0}, big = {0};
    nst_status st = nst_image_from_float(ctx, src, sw, sh, 3, &small);
    if (st == NST_OK)
        st = nst_image_resize(ctx, &small, w, h, &big);
    if (st == NST_OK)
        st = nst_image_to_float(ctx, &big, *out);
    nst_image_free(&small);
    nst_image_free(&big);
    if (st != NST_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* The progress and snapshot callbacks of one scale: the caller's, told which scale it is and
 * (snapshots) the iterations done at the coarser scales. */
typedef struct {
    const nst_render_options *o;
    int scale, offset;
} relay;

static bool relay_progress(const nst_render_progress *p, void *user) {
    const relay *r = user;
    nst_render_progress q = *p;
    q.scale = r->scale, q.scales = r->o->scales;
    return r->o->progress(&q, r->o->progress_user);
}

static bool relay_snapshot(const float *image, int width, int height, int iteration,
                           void *user) {
    const relay *r = user;
    return r->o->snapshot(image, width, height, r->offset + iteration, r->o->snapshot_user);
}

/* The images of scale k into s: the given ones resized (owned[] keeps them), then the
 * caller's, if it has any. */
typedef struct {
    float *content, *style[NST_RENDER_MAX_STYLES], *init;
} owned_images;

static void owned_free(owned_images *m) {
    free(m->content);
    free(m->init);
    for (int j = 0; j < NST_RENDER_MAX_STYLES; j++)
        free(m->style[j]);
    memset(m, 0, sizeof *m);
}

static nst_status scale_images(nst_ctx *ctx, const nst_render_options *o, int k,
                               const style_set *given, style_set *st, owned_images *m,
                               nst_render_options *s) {
    owned_free(m);
    if (k + 1 < o->scales) {
        NST__TRY(resize_rgb(ctx, o->content, o->width, o->height, s->width, s->height, false,
                            &m->content));
        s->content = m->content;
        for (int j = 0; j < given->n; j++) {
            NST__TRY(resize_rgb(ctx, given->image[j], given->width[j], given->height[j],
                                st->width[j], st->height[j], false, &m->style[j]));
            st->image[j] = m->style[j];
        }
        if (k == 0 && o->init == NST_INIT_IMAGE && o->init_image) {
            NST__TRY(resize_rgb(ctx, o->init_image, o->width, o->height, s->width, s->height,
                                false, &m->init));
            s->init_image = m->init;
        }
    }
    if (o->scale_images)
        NST__TRY(o->scale_images(ctx, k, s, o->scale_images_user));
    return NST_OK;
}

/* The next scale's initial image: the previous result, resized through 8 bits. */
static nst_status start_from(nst_ctx *ctx, const nst_render_result *prev, nst_render_options *s,
                             owned_images *m) {
    free(m->init);
    m->init = NULL;
    NST__TRY(resize_rgb(ctx, prev->image, prev->width, prev->height, s->width, s->height, true,
                        &m->init));
    s->init = NST_INIT_IMAGE;
    s->init_image = m->init;
    return NST_OK;
}

/* Adds a finished scale's counts to the total result r, which then takes its image. */
static void take_scale(nst_render_result *r, nst_render_result *one, bool first) {
    const int iterations = r->iterations_done, evaluations = r->evaluations;
    const double seconds = r->seconds, setup = r->setup_seconds;
    if (!first)
        nst_render_result_free(r);
    *r = *one;
    r->iterations_done += first ? 0 : iterations;
    r->evaluations += first ? 0 : evaluations;
    r->seconds += first ? 0.0 : seconds;
    r->setup_seconds += first ? 0.0 : setup;
    memset(one, 0, sizeof *one);
}

nst_status nst__render_scales(nst_ctx *ctx, const nst_render_options *o, nst_render_result *r) {
    if (!r)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: NULL result");
    memset(r, 0, sizeof *r);
    r->nonfinite_iteration = -1;
    NST__TRY(check_scales(ctx, o));
    if (!o->content)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: no content image");
    /* the largest scale against the budget before the first one runs */
    nst_plan *largest = NULL;
    NST__TRY(nst_render_plan(ctx, o, &largest));
    nst_status st = nst_plan_check_budget(ctx, largest, o->vram_limit);
    nst_plan_destroy(largest);
    NST__TRY(st);
    const style_set given = given_styles(o);
    owned_images m = {0};
    relay rl = {o, 0, 0};
    for (int k = 0; k < o->scales; k++) {
        style_set sset;
        nst_render_options s = scale_options(o, k, &sset, &given);
        rl.scale = k, rl.offset = r->iterations_done;
        s.progress = o->progress ? relay_progress : NULL, s.progress_user = &rl;
        s.snapshot = o->snapshot ? relay_snapshot : NULL, s.snapshot_user = &rl;
        if ((st = scale_images(ctx, o, k, &given, &sset, &m, &s)) == NST_OK && k > 0)
            st = start_from(ctx, r, &s, &m);
        if (st != NST_OK)
            break;
        nst_render_result one;
        st = nst__render_one(ctx, &s, &one);
        take_scale(r, &one, k == 0);
        if (st != NST_OK || r->cancelled)
            break;
    }
    owned_free(&m);
    return st;
}
