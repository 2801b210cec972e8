/* The render's geometry (src/host/pipelines/render_geometry.h): fixed content / style
 * transforms, robust views of the image, augmented style targets and a learned
 * style theta, all through affine_grid + grid_sample (bilinear, align_corners
 * false, options.transform_padding) and planned in the render's memory pass.
 * The random views come from an xorshift64* generator seeded from options.seed,
 * one stream for the robust views and one for the augmentation, the same on
 * every backend. Tested by tests/test_render_geometry.c. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "render_geometry.h"

#define MAX_VIEWS 64

bool nst__geometry_learns(const nst_render_options *o) { return o->learn_style_transform; }

bool nst__geometry_owns_targets(const nst_render_options *o) {
    return o->learn_style_transform || o->style_augment > 0;
}

double nst__geometry_style_weight(const nst_render_options *o) {
    return o->style_weight / (o->robust_views > 0 ? o->robust_views + 1 : 1);
}

static bool transform_ok(const nst_geometry *g) {
    return !g->set || g->raw ||
           (isfinite(g->rotate_deg) && isfinite(g->scale_x) && isfinite(g->scale_y) &&
            g->scale_x > 0 && g->scale_y > 0 && isfinite(g->translate_x) &&
            isfinite(g->translate_y));
}

nst_status nst__geometry_check(nst_ctx *ctx, const nst_render_options *o) {
    if (!transform_ok(&o->content_transform) || !transform_ok(&o->style_transform))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "render: a %s transform has a non-finite value "
                        "or a scale <= 0",
                        transform_ok(&o->content_transform) ? "style" : "content");
    if (o->normalize_gradients && (o->robust_views > 0 || o->learn_style_transform))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "render: normalize_gradients does not combine with %s (their gradients "
                        "are taken from the unnormalised losses)",
                        o->robust_views > 0 ? "robust_views" : "learn_style_transform");
    if ((unsigned)o->transform_padding > NST_PAD_REFLECTION)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: unknown transform padding %d",
                        (int)o->transform_padding);
    if (o->robust_views < 0 || o->robust_views > MAX_VIEWS || o->style_augment < 0 ||
        o->style_augment > MAX_VIEWS)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "render: robust views %d, style augment %d "
                        "(want 0 .. %d)",
                        o->robust_views, o->style_augment, MAX_VIEWS);
    if (o->robust_views > 0 || o->style_augment > 0) {
        if (!isfinite(o->view_rotate_deg) || o->view_rotate_deg < 0 ||
            !isfinite(o->view_scale_min) || !isfinite(o->view_scale_max) ||
            !(o->view_scale_min > 0) || o->view_scale_max < o->view_scale_min ||
            !isfinite(o->view_shift) || o->view_shift < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                            "render: view ranges rotate %g, scale %g .. "
                            "%g, shift %g (want >= 0, 0 < min <= max, finite)",
                            o->view_rotate_deg, o->view_scale_min, o->view_scale_max,
                            o->view_shift);
    }
    if (o->robust_views > 0 && o->optimizer == NST_OPTIMIZER_LBFGS)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "render: robust views draw new random views "
                        "every iteration, which L-BFGS's curvature pairs cannot follow: use "
                        "Adam");
    if (!o->learn_style_transform)
        return NST_OK;
    if (o->optimizer == NST_OPTIMIZER_LBFGS || o->n_styles > 1 || o->robust_views > 0 ||
        o->style_augment > 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "render: a learned style transform works with "
                        "Adam, one style image, and no robust views or style augmentation");
    if (!isfinite(o->style_transform_penalty) || o->style_transform_penalty < 0 ||
        !isfinite(o->style_transform_lr) || o->style_transform_lr < 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "render: style transform penalty %g, lr %g "
                        "(want finite, >= 0)",
                        o->style_transform_penalty, o->style_transform_lr);
    return NST_OK;
}

nst_status nst__geometry_prepare_images(nst_ctx *ctx, const nst_render_options *o,
                                        const float **content, int n_styles, const float **styles,
                                        const int *style_w, const int *style_h, float **owned) {
    const bool style = o->style_transform.set && !o->learn_style_transform; /* else: theta's
                                                                               start */
    for (int j = -1; j < n_styles; j++) {
        if (j < 0 ? !o->content_transform.set : !style)
            continue;
        const int w = j < 0 ? o->width : style_w[j], h = j < 0 ? o->height : style_h[j];
        const float *src = j < 0 ? *content : styles[j];
        float theta[6];
        nst_geometry_theta(j < 0 ? &o->content_transform : &o->style_transform, w, h, theta);
        if (!(owned[j + 1] = malloc((size_t)w * (size_t)h * 3 * sizeof(float))))
            return NST__ERR(ctx, NST_ERR_NO_MEMORY, "render: no host memory for a transform");
        NST__TRY(nst_geometry_apply(ctx, theta, o->transform_padding, src, w, h, 3, owned[j + 1]));
        if (j < 0)
            *content = owned[0];
        else
            styles[j] = owned[j + 1];
    }
    return NST_OK;
}

/* ---- random views ---------------------------------------------------------------------------- */

static double uniform(uint64_t *s) { /* xorshift64*, [0, 1) */
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (double)((*s * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-53;
}

static void random_theta(const nst_render_options *o, uint64_t *rng, int w, int h, float theta[6]) {
    nst_geometry g = nst_geometry_identity();
    g.set = true;
    g.rotate_deg = (2 * uniform(rng) - 1) * o->view_rotate_deg;
    g.scale_x = g.scale_y =
        o->view_scale_min + uniform(rng) * (o->view_scale_max - o->view_scale_min);
    g.translate_x = (2 * uniform(rng) - 1) * o->view_shift;
    g.translate_y = (2 * uniform(rng) - 1) * o->view_shift;
    nst_geometry_theta(&g, w, h, theta);
}

/* ---- tensors --------------------------------------------------------------------------------- */

static nst_status tensor(nst_mem_pass *pass, nst_mem_tag tag, int h, int w, int c, unsigned flags,
                         const char *label, nst_tensor *out) {
    return nst_mem_pass_tensor(pass, tag, NST_F32, 4, (const int64_t[]){1, h, w, c}, flags, label,
                               out);
}

static nst_status theta_tensor(nst_mem_pass *pass, nst_mem_tag tag, unsigned flags,
                               const char *label, nst_tensor *out) {
    return nst_mem_pass_tensor(pass, tag, NST_F32, 3, (const int64_t[]){1, 2, 3}, flags, label,
                               out);
}

/* 6 floats to or from a (1, 2, 3) tensor (recording: a use of it). */
static nst_status theta_io(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *t, float *host,
                           bool to_device) {
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, t);
        return NST_OK;
    }
    return to_device ? nst_copy_to_device(ctx, t->data, host, 6 * sizeof(float))
                     : nst_copy_to_host(ctx, host, t->data, 6 * sizeof(float));
}

nst_status nst__geometry_declare(nst_mem_pass *pass, const nst__geometry_env *e, nst__geometry *g) {
    const nst_render_options *o = e->o;
    const int H = o->height, W = o->width;
    const nst_mem_tag A = NST_TAG_ACTIVATIONS, G = NST_TAG_GRADIENTS;
    g->rng = o->seed * 0x9e3779b97f4a7c15ull + 0x5851f42d4c957f2dull;
    g->st_step = 0;
    if (o->robust_views > 0 || o->style_augment > 0)
        NST__TRY(theta_tensor(pass, NST_TAG_OTHER, 0, "view theta", &g->theta));
    if (o->robust_views > 0) {
        g->L_style = *e->L;
        g->L_style.n_content = 0;
        g->L_style.depth = g->L_style.style_depth;
        unsigned char tc[NST__VGG_N], ts[NST__VGG_N], both[NST__VGG_N];
        nst__gatys_taps(&g->L_style, tc, ts, both);
        NST__TRY(tensor(pass, A, H, W, 2, 0, "view grid", &g->grid));
        NST__TRY(tensor(pass, A, H, W, 3, 0, "view image", &g->view));
        NST__TRY(tensor(pass, G, H, W, 3, 0, "view image grad", &g->view_grad));
        NST__TRY(tensor(pass, G, H, W, 3, 0, "view sampler grad", &g->view_dx));
        NST__TRY(nst__vgg19_pass_declare(pass, e->net, H, W, ts, true, "view ", &g->view_pass));
    }
    for (int j = 0; o->style_augment > 0 && j < e->n_styles; j++) {
        NST__TRY(tensor(pass, A, e->style_h[j], e->style_w[j], 2, 0, "style view grid",
                        &g->aug_grid[j]));
        NST__TRY(tensor(pass, A, e->style_h[j], e->style_w[j], 3, 0, "style view image",
                        &g->aug_view[j]));
    }
    if (o->learn_style_transform) {
        const int hs = e->style_h[0], ws = e->style_w[0];
        NST__TRY(
            theta_tensor(pass, NST_TAG_OTHER, NST_MEM_PERSISTENT, "style theta", &g->st_theta));
        NST__TRY(theta_tensor(pass, NST_TAG_OPTIMISER, NST_MEM_PERSISTENT, "style theta adam m",
                              &g->st_m));
        NST__TRY(theta_tensor(pass, NST_TAG_OPTIMISER, NST_MEM_PERSISTENT, "style theta adam v",
                              &g->st_v));
        NST__TRY(theta_tensor(pass, G, 0, "style theta grad", &g->st_dtheta));
        NST__TRY(tensor(pass, A, hs, ws, 2, 0, "style grid", &g->st_grid));
        NST__TRY(tensor(pass, A, hs, ws, 3, 0, "style transformed", &g->st_view));
        NST__TRY(tensor(pass, G, hs, ws, 3, 0, "style transformed grad", &g->st_dview));
        NST__TRY(tensor(pass, G, hs, ws, 2, 0, "style grid grad", &g->st_dgrid));
    }
    return NST_OK;
}

/* view = grid_sample(x, affine_grid(theta)) with the render's padding. */
static nst_status sample(nst_ctx *ctx, const nst_render_options *o, const nst_tensor *theta,
                         nst_tensor *grid, const nst_tensor *x, nst_tensor *view) {
    nst_affine_grid_params ag = {.theta = theta, .grid = grid};
    NST__TRY(nst_affine_grid_forward(ctx, &ag));
    nst_grid_sample_params gs = {.x = x, .grid = grid, .y = view, .padding = o->transform_padding};
    return nst_grid_sample_forward(ctx, &gs);
}

/* Each style's Gram targets: the blend-weighted mean over K random views of it.
 */
static nst_status augmented_targets(nst_ctx *ctx, nst_mem_pass *pass, const nst__geometry_env *e,
                                    nst__geometry *g) {
    const nst_render_options *o = e->o;
    const int K = o->style_augment;
    const nst__gatys_layers *L = e->L;
    uint64_t rng = g->rng ^ 0xa5a5a5a5deadbeefull;
    for (int j = 0; j < e->n_styles; j++) {
        for (int v = 0; v < K; v++) {
            float theta[6];
            random_theta(o, &rng, e->style_w[j], e->style_h[j], theta);
            NST__TRY(theta_io(ctx, pass, &g->theta, theta, true));
            NST__TRY(sample(ctx, o, &g->theta, &g->aug_grid[j], &e->style_in[j], &g->aug_view[j]));
            NST__TRY(nst__vgg19_forward(ctx, e->net, &e->style[j], &g->aug_view[j]));
            for (int k = 0; k < L->n_style; k++) {
                nst_gram_params gp = {
                    .x = nst__vgg19_feature(&e->style[j], L->style[k].conv, L->style[k].relu),
                    .g = &e->loss->gram[k]};
                NST__TRY(nst_gram_forward(ctx, &gp));
                nst_scale_params sp = {.x = &e->loss->gram[k],
                                       .y = &e->loss->style_target[k],
                                       .alpha = (float)(e->blend[j] / K)};
                NST__TRY(j == 0 && v == 0 ? nst_scale(ctx, &sp) : nst_axpy(ctx, &sp));
            }
        }
    }
    return NST_OK;
}

nst_status nst__geometry_setup(nst_ctx *ctx, nst_mem_pass *pass, const nst__geometry_env *e,
                               nst__geometry *g) {
    const nst_render_options *o = e->o;
    if (o->style_augment > 0)
        NST__TRY(augmented_targets(ctx, pass, e, g));
    if (!o->learn_style_transform)
        return NST_OK;
    float theta[6];
    nst_geometry_theta(&o->style_transform, e->style_w[0], e->style_h[0], theta);
    NST__TRY(theta_io(ctx, pass, &g->st_theta, theta, true));
    const float zero[6] = {0};
    NST__TRY(theta_io(ctx, pass, &g->st_m, (float *)zero, true));
    return theta_io(ctx, pass, &g->st_v, (float *)zero, true);
}

nst_status nst__geometry_before_evaluate(nst_ctx *ctx, const nst__geometry_env *e,
                                         nst__geometry *g) {
    if (!e->o->learn_style_transform)
        return NST_OK;
    NST__TRY(sample(ctx, e->o, &g->st_theta, &g->st_grid, &e->style_in[0], &g->st_view));
    NST__TRY(nst__vgg19_forward(ctx, e->net, &e->style[0], &g->st_view));
    return nst__gatys_targets(ctx, e->loss, NULL, &e->style[0]);
}

/* The style pass's gradient from the targets: at each style layer gram_backward
 * of dL/dG (the image Gram's gradient, which is minus the target's: the sign is
 * put back on theta). */
static nst_status target_grad(nst_ctx *ctx, void *user, int i, bool relu, const nst_tensor *feature,
                              nst_tensor *grad, bool *written) {
    nst__gatys_losses *loss = user;
    const nst__gatys_layers *L = loss->L;
    for (int k = 0; k < L->n_style; k++) {
        if (L->style[k].conv != i || L->style[k].relu != relu)
            continue;
        nst_gram_params gp = {
            .x = feature, .dg = &loss->dgram[k], .dx = grad, .accumulate = *written};
        NST__TRY(nst_gram_backward(ctx, &gp));
        *written = true;
    }
    return NST_OK;
}

/* theta's gradient through the style pass, the penalty, and its Adam step. */
static nst_status learn_step(nst_ctx *ctx, nst_mem_pass *pass, const nst__geometry_env *e,
                             nst__geometry *g) {
    const nst_render_options *o = e->o;
    NST__TRY(
        nst__vgg19_backward(ctx, e->net, &e->style[0], target_grad, e->loss, &g->st_dview, false));
    nst_grid_sample_params gs = {.x = &e->style_in[0],
                                 .grid = &g->st_grid,
                                 .dy = &g->st_dview,
                                 .dgrid = &g->st_dgrid,
                                 .padding = o->transform_padding};
    NST__TRY(nst_grid_sample_backward(ctx, &gs));
    nst_affine_grid_params ag = {.dgrid = &g->st_dgrid, .dtheta = &g->st_dtheta};
    NST__TRY(nst_affine_grid_backward(ctx, &ag));
    float theta[6], d[6];
    NST__TRY(theta_io(ctx, pass, &g->st_theta, theta, false));
    NST__TRY(theta_io(ctx, pass, &g->st_dtheta, d, false));
    const float id[6] = {1, 0, 0, 0, 1, 0};
    const double lambda = o->style_transform_penalty;
    double penalty = 0;
    for (int i = 0; i < 6; i++) {
        const double dev = (double)theta[i] - id[i];
        penalty += lambda * dev * dev;
        d[i] = (float)(-(double)d[i] + 2 * lambda * dev);
    }
    e->loss->total += penalty;
    e->r->style_transform_penalty_loss = penalty;
    memcpy(e->r->style_theta, theta, sizeof theta);
    memcpy(e->r->style_theta_grad, d, sizeof d);
    NST__TRY(theta_io(ctx, pass, &g->st_dtheta, d, true));
    if (!e->steps)
        return NST_OK;
    const double lr = o->style_transform_lr > 0 ? o->style_transform_lr : o->lr;
    nst_adam_slot slot = {
        .param = &g->st_theta, .grad = &g->st_dtheta, .m = &g->st_m, .v = &g->st_v};
    nst_adam_params a = {.slots = &slot,
                         .n_slots = 1,
                         .step = nst_adam_step_make(lr, o->adam_beta1, o->adam_beta2, o->adam_eps,
                                                    0.0, ++g->st_step)};
    NST__TRY(nst_adam(ctx, &a));
    return theta_io(ctx, pass, &g->st_theta, e->r->style_theta, false);
}

/* N random views of the image: each one's style losses (weight style_weight /
 * (N + 1)) and their gradient through the sampler, added to the image's. */
static nst_status robust_views(nst_ctx *ctx, nst_mem_pass *pass, const nst__geometry_env *e,
                               nst__geometry *g, char *bad) {
    const nst_render_options *o = e->o;
    const int N = o->robust_views;
    nst__gatys_losses vloss = *e->loss;
    vloss.L = &g->L_style;
    vloss.tv_weight = 0.0f;
    double sum = 0, weighted = 0;
    for (int v = 0; v < N; v++) {
        float theta[6];
        random_theta(o, &g->rng, o->width, o->height, theta);
        NST__TRY(theta_io(ctx, pass, &g->theta, theta, true));
        NST__TRY(sample(ctx, o, &g->theta, &g->grid, e->image, &g->view));
        NST__TRY(nst__vgg19_forward(ctx, e->net, &g->view_pass, &g->view));
        nst_status st = nst__gatys_forward(ctx, pass, &vloss, &g->view_pass, &g->view, bad);
        if (st != NST_OK) {
            if (bad[0])
                snprintf(bad + strlen(bad), 32 - strlen(bad), " view");
            return st;
        }
        sum += vloss.style;
        weighted += vloss.total;
        NST__TRY(nst__vgg19_backward(ctx, e->net, &g->view_pass, nst__gatys_grad, &vloss,
                                     &g->view_grad, false));
        nst_grid_sample_params gs = {.x = e->image,
                                     .grid = &g->grid,
                                     .dy = &g->view_grad,
                                     .dx = &g->view_dx,
                                     .padding = o->transform_padding};
        NST__TRY(nst_grid_sample_backward(ctx, &gs));
        nst_scale_params add = {.x = &g->view_dx, .y = e->image_grad, .alpha = 1.0f};
        NST__TRY(nst_axpy(ctx, &add));
    }
    e->loss->total += weighted;
    e->r->robust_style_loss = sum / N;
    return NST_OK;
}

nst_status nst__geometry_after_evaluate(nst_ctx *ctx, nst_mem_pass *pass,
                                        const nst__geometry_env *e, nst__geometry *g, char *bad) {
    if (e->o->learn_style_transform)
        NST__TRY(learn_step(ctx, pass, e, g));
    if (e->o->robust_views > 0)
        NST__TRY(robust_views(ctx, pass, e, g, bad));
    return NST_OK;
}
