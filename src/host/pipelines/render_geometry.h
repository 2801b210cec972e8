/* Internal: the render's geometry (src/host/pipelines/render_geometry.c) as hooks of
 * src/host/pipelines/render.c.
 *   - content / style transforms: host images resampled before the render
 * (prepare_images);
 *   - robust views: after the image's own evaluation, N random views of the
 * image, each through VGG19 and the style losses, their gradient back through
 * grid_sample to the image;
 *   - style augmentation: the setup's Gram targets averaged over K random views
 * of each style;
 *   - a learned style theta: before the evaluation the style image is resampled
 * at theta and its targets taken; after it, the targets' gradient goes back
 * through the style pass, grid_sample and affine_grid to theta, plus the
 * penalty, and Adam steps theta. Every tensor comes from the render's memory
 * pass. Not installed. */
#ifndef NSTYLE_RENDER_GEOMETRY_H
#define NSTYLE_RENDER_GEOMETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "gatys.h"

/* What the hooks need of the render's state (pointers into it). */
typedef struct {
    const nst_render_options *o;
    const nst__gatys_layers *L;
    const nst__vgg19 *net;
    nst__gatys_losses *loss;
    nst_tensor *image, *image_grad; /* (1, H, W, 3) */
    int n_styles;
    nst__vgg19_pass *style; /* n_styles passes */
    nst_tensor *style_in;   /* n_styles (1, Hs, Ws, 3) */
    const int *style_w, *style_h;
    const double *blend;
    bool steps; /* the render takes steps (not an evaluation alone) */
    nst_render_result *r;
} nst__geometry_env;

typedef struct {
    /* robust views */
    nst__gatys_layers L_style; /* the style layers alone */
    nst__vgg19_pass view_pass; /* style taps, with backward */
    nst_tensor theta, grid, view, view_grad, view_dx;
    uint64_t rng;
    /* style augmentation */
    nst_tensor aug_grid[NST_RENDER_MAX_STYLES], aug_view[NST_RENDER_MAX_STYLES];
    /* the learned style theta */
    nst_tensor st_theta, st_m, st_v, st_dtheta; /* (1, 2, 3) */
    nst_tensor st_grid, st_view, st_dview, st_dgrid;
    long st_step;
} nst__geometry;

/* Refuses what the geometry options cannot do (a message naming the option). */
nst_status nst__geometry_check(nst_ctx *ctx, const nst_render_options *o);
/* Whether the style pass needs its backward and a persistent input (learned
 * theta). */
bool nst__geometry_learns(const nst_render_options *o);
/* Whether the setup's style targets are this module's (augmentation or learned
 * theta). */
bool nst__geometry_owns_targets(const nst_render_options *o);
/* The content and style transforms on the host: *content and styles[j] replaced
 * by resampled copies (malloc'd into owned[0] and owned[1 + j]; free them after
 * the render). */
nst_status nst__geometry_prepare_images(nst_ctx *ctx, const nst_render_options *o,
                                        const float **content, int n_styles, const float **styles,
                                        const int *style_w, const int *style_h, float **owned);
/* The loss weight of the image's own style term (style_weight / (N + 1) under
 * robust views). */
double nst__geometry_style_weight(const nst_render_options *o);

nst_status nst__geometry_declare(nst_mem_pass *pass, const nst__geometry_env *e, nst__geometry *g);
/* After the styles are uploaded: the augmented or learned targets, theta's
 * initial state. */
nst_status nst__geometry_setup(nst_ctx *ctx, nst_mem_pass *pass, const nst__geometry_env *e,
                               nst__geometry *g);
/* Before the image's forward: the learned theta's targets. */
nst_status nst__geometry_before_evaluate(nst_ctx *ctx, const nst__geometry_env *e,
                                         nst__geometry *g);
/* After the image's gradient: the robust views (loss and gradient added),
 * theta's gradient, penalty and step. bad (32) names a non-finite loss. */
nst_status nst__geometry_after_evaluate(nst_ctx *ctx, nst_mem_pass *pass,
                                        const nst__geometry_env *e, nst__geometry *g, char *bad);

#endif
