/* Internal: the Gatys render's layers and losses on VGG19's features (src/host/pipelines/
 * losses.c), as docs/design.md "Pixels and semantics" defines them, and the render's one
 * evaluation for tests (src/host/pipelines/render.c). Not installed. Tested by
 * tests/test_render.c, tests/test_render_controls.c and tests/test_vgg19.c. */
#ifndef NSTYLE_GATYS_H
#define NSTYLE_GATYS_H

#include <stdbool.h>

#include "../networks/vgg19_net.h"
#include "nstyle/render.h"

/* ---- the layers a render uses ------------------------------------------------------------------ */

typedef struct {
    int conv;     /* index in the VGG19 table */
    bool relu;    /* relu<b>_<k> (else conv<b>_<k>, before the ReLU) */
    double weight;
    char name[16];
} nst__tap;

typedef struct {
    int n_content, n_style;
    nst__tap content[NST__MAX_TAPS], style[NST__MAX_TAPS];
    int content_depth, style_depth, depth; /* convs each pass needs; depth = the larger */
} nst__gatys_layers;

/* Parses the comma lists (NULL: the brief's defaults); style_weights NULL = 1 each. */
nst_status nst__gatys_layers_parse(nst_ctx *ctx, const char *content, const char *style,
                                   const double *style_weights, nst__gatys_layers *out);
/* The tap masks of the content pass, the style pass and the iteration (both). */
void nst__gatys_taps(const nst__gatys_layers *L, unsigned char content[NST__VGG_N],
                     unsigned char style[NST__VGG_N], unsigned char both[NST__VGG_N]);

/* ---- the losses ----------------------------------------------------------------------------------- */

typedef struct {
    const nst__gatys_layers *L;
    float content_weight, style_weight, tv_weight;
    nst_tensor content_target[NST__MAX_TAPS]; /* like the tapped feature, persistent */
    nst_tensor style_target[NST__MAX_TAPS];   /* (1, C, C), persistent */
    nst_tensor gram[NST__MAX_TAPS];           /* (1, C, C) of the image being optimised */
    nst_tensor dgram[NST__MAX_TAPS];          /* (1, C, C) */
    nst_tensor losses; /* (n_content + n_style + 1): every loss value, read back in one copy */
    nst_tensor content_loss[NST__MAX_TAPS], style_loss[NST__MAX_TAPS], tv_loss; /* (1) views */
    int content_at[NST__MAX_TAPS], style_at[NST__MAX_TAPS], tv_at; /* their places in losses:
                                 kept by a copy that taps fewer layers (the robust views) */
    double content_value[NST__MAX_TAPS], style_value[NST__MAX_TAPS], tv_value;
    double content, style, tv, total; /* weighted sums of the values */
    /* normalize: neural-style's -normalize_gradients: each loss's gradient at its feature is
       divided by its L1 norm (+ 1e-8) before its weight scales it; set before
       nst__gatys_losses_declare, which then plans two feature-sized temporaries per loss */
    bool normalize;
    nst_tensor norm_u[2 * NST__MAX_TAPS], norm_tmp[2 * NST__MAX_TAPS]; /* content, then style */
    nst_tensor norm_sum;                                                /* (1) */
    nst_mem_pass *pass; /* the pass of the last nst__gatys_forward (the gradient's reads) */
} nst__gatys_losses;

nst_status nst__gatys_losses_declare(nst_mem_pass *pass, const nst__gatys_layers *L,
                                     const nst__vgg19_pass *it, nst__gatys_losses *out);
/* Targets from forwards already run on the content and/or style image (either may be NULL). */
nst_status nst__gatys_targets(nst_ctx *ctx, nst__gatys_losses *g, const nst__vgg19_pass *content,
                              const nst__vgg19_pass *style);
/* The losses of image x (1, H, W, 3) after nst__vgg19_forward(it, x), read back to the host.
 * A non-finite one names its layer in bad (size 32) and fails with NST_ERR_INTERNAL. */
nst_status nst__gatys_forward(nst_ctx *ctx, nst_mem_pass *pass, nst__gatys_losses *g,
                              const nst__vgg19_pass *it, const nst_tensor *x, char *bad);
/* The nst__vgg19_grad_fn of these losses (user = the nst__gatys_losses). */
nst_status nst__gatys_grad(nst_ctx *ctx, void *user, int i, bool relu, const nst_tensor *feature,
                           nst_tensor *grad, bool *written);
/* Adds tv_weight * dTV/dx to dx (1, H, W, 3). */
nst_status nst__gatys_tv_backward(nst_ctx *ctx, const nst__gatys_losses *g, const nst_tensor *x,
                                  nst_tensor *dx);


/* One scale of the render (nst_render_gatys and nst_render_plan with scales <= 1), and the
 * coarse-to-fine loop over them (render_scales.c). */
nst_status nst__render_one(nst_ctx *ctx, const nst_render_options *o, nst_render_result *r);
nst_status nst__render_plan_one(nst_ctx *ctx, const nst_render_options *o, nst_plan **out);
nst_status nst__render_scales(nst_ctx *ctx, const nst_render_options *o, nst_render_result *r);
nst_status nst__render_scales_plan(nst_ctx *ctx, const nst_render_options *o, nst_plan **out);

/* The render evaluated once at its initial image without a step: losses into r, the gradient of
 * the total loss w.r.t. the image into grad (H, W, 3). For tests against PyTorch. */
nst_status nst__render_evaluate(nst_ctx *ctx, const nst_render_options *o, float *grad,
                                nst_render_result *r);

#endif
