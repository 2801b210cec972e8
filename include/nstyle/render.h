/* The Gatys render as one library call, and its memory plan.
 *
 * nst_render_gatys() optimises an RGB [0,1] image so that its VGG19 features match the content
 * image's at the content layers and its Gram matrices match the style image's at the style layers
 * (docs/design.md, "Pixels and semantics"):
 *   content = sum_l w_l MSE(F_l(x), F_l(content))           (w_l = 1 for content layers)
 *   style   = sum_l w_l MSE(G_l(x), G_l(style)),  G = F^T F / (C H W)
 *   tv      = TV(x)   (sum of squared neighbour differences / pixel count)
 *   total   = content_weight * content + style_weight * style + tv_weight * tv
 * with torch.optim.Adam on the image alone, the image clamped to [0, 1] after each step. The
 * defaults are the brief's (nst_render_options_default): content relu4_2; style relu1_1, relu2_1,
 * relu3_1, relu4_1, relu5_1 with equal weights; content 1 : style 100; Adam lr 0.01; 300
 * iterations; init from the content image; max pooling; no TV.
 *
 * Controls (the fields at the end of nst_render_options): several style images blended into one
 * Gram target per layer (sum_j w_j G_j, weights normalised to sum 1, each style's target pass at
 * its own size); histogram matching of the styles to the content's colours; original colours
 * (the result's Y with the content's U, V); L-BFGS instead of Adam (src/host/pipelines/lbfgs.h:
 * torch's algorithm with no line search or its strong Wolfe one, history 2 (m + 1) + 4 image-sized
 * vectors in the plan, 3 more with the line search, the image clamped to [0, 1] only at the
 * end); a snapshot callback every N iterations.
 *
 * Memory: the whole run (weights, the image, Adam state, the style and content targets, every
 * activation and gradient, op scratch, the style-target pass at the style image's size) is one
 * plan recorded by a dry run of the same code (memory.h), checked against the budget before
 * anything is allocated and backed by one arena. nst_render_plan() is that dry run alone: it
 * needs no weights and no images, so `nstyle plan` works on a machine without either.
 *
 * Tested by tests/test_render.c (plan total = the arena's measured peak; a real-weights render
 * whose style loss falls; cancel and stop from the progress callback), tests/test_vgg19.c
 * (features, loss and image gradient against PyTorch goldens), tests/test_render_controls.c
 * (the controls), tests/test_lbfgs.c (L-BFGS against torch.optim.LBFGS) and
 * tests/test_render_geometry.c (transforms, robust views, augmented and learned style). */
#ifndef NSTYLE_RENDER_H
#define NSTYLE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "geometry.h"
#include "memory.h"
#include "ops.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int iteration, iterations; /* iteration counts from 1 (the step just taken), in this scale */
    int scale, scales;         /* coarse to fine: this scale (0 = the coarsest) of scales */
    double content_loss, style_loss, tv_loss, total_loss; /* at the image before that step */
    double seconds;                                       /* since the loop started */
} nst_render_progress;

/* Called after every iteration; return false to stop (the result keeps the last image). */
typedef bool (*nst_render_progress_fn)(const nst_render_progress *p, void *user);

typedef enum { NST_INIT_CONTENT = 0, NST_INIT_NOISE = 1, NST_INIT_IMAGE = 2 } nst_render_init;

typedef enum { NST_OPTIMIZER_ADAM = 0, NST_OPTIMIZER_LBFGS = 1 } nst_render_optimizer;

/* L-BFGS's step length: none (a fixed lr, as neural-style) or torch's strong Wolfe line search
 * (line_search_fn="strong_wolfe": c1 1e-4, c2 0.9, at most 25 evaluations per iteration). */
typedef enum { NST_LINE_SEARCH_NONE = 0, NST_LINE_SEARCH_STRONG_WOLFE = 1 } nst_render_line_search;

#define NST_RENDER_MAX_STYLES 8
#define NST_RENDER_MAX_SCALES 8

struct nst_render_options;
/* Coarse to fine: called before scale k (0 = the coarsest) of o->scales runs, with o the
 * options of that scale: width and height, each style's size and the initial image already set
 * for it, the images resized from the given ones. The callback may point content, the styles
 * (with sizes of its own choosing: styles_width, styles_height) and (at scale 0) init_image at
 * images of its own, the content and init_image at exactly width x height, all valid until the
 * next call or the render's end: `nstyle render` reads each scale's images from the files, as
 * neural-style does. Return NST_OK, or a failure (recorded in ctx) that ends the render. */
typedef nst_status (*nst_render_scale_images_fn)(nst_ctx *ctx, int scale,
                                                 struct nst_render_options *o, void *user);
/* Called every save_every iterations with the image after that step (clamped to [0, 1], with
 * the content's colours under original_colors), host memory valid during the call; return
 * false to stop the render with an error (the message is the caller's). */
typedef bool (*nst_render_snapshot_fn)(const float *image, int width, int height, int iteration,
                                       void *user);

typedef struct nst_render_options {
    int width, height;                 /* output = content size; the caller resizes */
    const float *content;              /* (H, W, 3) RGB [0,1], host; NULL only for nst_render_plan */
    const float *style;                /* (Hs, Ws, 3) RGB [0,1], host; NULL only for the plan */
    int style_width, style_height;     /* the caller scales it (to the content's long side) */
    nst_render_init init;
    const float *init_image;           /* (H, W, 3) RGB [0,1] for NST_INIT_IMAGE */
    uint64_t seed;                     /* NST_INIT_NOISE: uniform [0,1] from splitmix64(seed),
                                          the same on every backend */
    int iterations;
    double lr, content_weight, style_weight, tv_weight;
    double adam_beta1, adam_beta2, adam_eps; /* torch defaults 0.9, 0.999, 1e-8 */
    const char *content_layers, *style_layers; /* comma lists of names (relu4_2, conv3_1, ...);
                                                  NULL = the defaults */
    const double *style_layer_weights; /* one per style layer; NULL = equal weights (1 each) */
    nst_pool_mode pooling;             /* NST_POOL_MAX (default) or NST_POOL_AVG */
    const char *weights_path;          /* resolved file (nst_vgg19_weights_find) */
    size_t vram_limit;                 /* 0 = free memory of the device */
    size_t workspace_limit;            /* the cuDNN workspace cap set on the context for the
                                          render and its plan (0 = the context's own) */
    bool deterministic;                /* true: the context's deterministic setting on for the
                                          render (false = the context's own); both restored */
    nst_render_progress_fn progress;
    void *progress_user;
    const volatile int *cancel;        /* non-zero: stop after the current iteration */
    /* Several style images: n_styles >= 1 replaces style, style_width and style_height. Each
       style's target pass runs at its own size; the Gram target of each layer is the
       blend-weighted sum of the styles' Gram matrices. */
    int n_styles;                      /* 0 = the single style above; 1 .. NST_RENDER_MAX_STYLES */
    const float *const *styles;        /* n_styles (Hs_j, Ws_j, 3) RGB [0,1] images, host */
    const int *styles_width, *styles_height;
    const double *style_blend;         /* n_styles weights >= 0, not all 0, normalised to sum 1
                                          (as neural-style); NULL = equal */
    bool histogram_match;              /* match each style's colours to the content's
                                          (nst_histogram_match) before its targets */
    bool normalize_gradients;          /* neural-style's -normalize_gradients: each content
                                          and style loss's gradient at its layer divided by its
                                          L1 norm (+ 1e-8), then scaled by its weight; the
                                          image's gradient is then no longer the total loss's
                                          (two feature-sized temporaries per loss planned) */
    bool original_colors;              /* the result's luminance with the content's chroma
                                          (BT.601 YUV), clamped to [0, 1] */
    nst_render_optimizer optimizer;    /* Adam (default) or L-BFGS (torch.optim.LBFGS;
                                          iterations = evaluations; lr is its (first) step
                                          length, neural-style uses 1) */
    int lbfgs_history;                 /* pairs kept (default 100, as neural-style) */
    nst_render_line_search lbfgs_line_search; /* none (default) or strong Wolfe, L-BFGS only:
                                          iterations is torch's max_eval, checked after each
                                          L-BFGS iteration (its line search may run past it;
                                          evaluations says how many ran); 3 image-sized
                                          vectors more in the plan; progress, cancel and
                                          snapshots come after each L-BFGS iteration */
    double lbfgs_tolerance_grad, lbfgs_tolerance_change; /* < 0 = never stop early (default,
                                          as neural-style); torch's are 1e-7 and 1e-9 */
    int save_every;                    /* > 0: call snapshot every save_every iterations */
    nst_render_snapshot_fn snapshot;
    void *snapshot_user;
    /* Geometry (include/nstyle/geometry.h, src/host/pipelines/render_geometry.c;
     * docs/geometry.md). */
    nst_geometry content_transform, style_transform; /* resampled before the render uses them
                                          (the style one: every style image) */
    nst_grid_padding transform_padding; /* every resampling below (default reflection) */
    int robust_views;                  /* N > 0: the style loss also over N random views of the
                                          image each iteration (mean over N + 1, Adam only) */
    int style_augment;                 /* K > 0: each style's Gram targets the mean over K
                                          random views of it */
    double view_rotate_deg, view_scale_min, view_scale_max, view_shift; /* the random views:
                                          angle in +-rotate, scale in [min, max], shift tx, ty in
                                          +-shift (defaults 20, 0.8, 1.2, 0.1), from seed */
    bool learn_style_transform;        /* Adam on the style image's theta (one style, Adam) */
    double style_transform_penalty;    /* lambda of lambda |theta - I|^2 (default 1e8) */
    double style_transform_lr;         /* theta's Adam learning rate (0 = lr) */
    /* Coarse to fine (neural-style's multi-resolution): scales > 1 runs that many renders, the
       first at width x height halved scales - 1 times (each side max(1, floor(side * 2^-j +
       0.5))), each later one at twice the previous, the last at width x height, each started
       from the previous result resized through 8 bits (Catmull-Rom, nst_image_resize); the
       content, the styles (each scaled by the same factor) and an init_image are resized the
       same way from the given ones unless scale_images supplies its own. Iterations, seconds
       and evaluations of the result add up over the scales; the losses are the last scale's;
       snapshots count iterations over all scales. The largest scale's plan is checked against
       the budget before the first scale runs; nst_render_plan plans the largest and reports
       every scale's size and total in the plan's summary. */
    int scales;                        /* 0 or 1: one scale; up to NST_RENDER_MAX_SCALES */
    int scale_iterations[NST_RENDER_MAX_SCALES]; /* per scale, coarsest first; 0 = iterations */
    nst_render_scale_images_fn scale_images;
    void *scale_images_user;
} nst_render_options;

typedef struct {
    float *image; int width, height;   /* (H, W, 3) RGB [0,1], malloc'd: the last image (also when
                                          cancelled, stopped or failed after the loop began) */
    int iterations_done;
    bool cancelled;                    /* the cancel flag or the progress callback stopped it */
    double content_loss, style_loss, tv_loss, total_loss; /* at the last image evaluated */
    double initial_content_loss, initial_style_loss;      /* at the initial image */
    double setup_seconds;              /* weights upload, targets */
    double seconds;                    /* the iterations */
    double s_per_iter;
    size_t plan_total_bytes;           /* the arena's size; the peak is the context's tracker's */
    char nonfinite_layer[32];          /* set when a loss became NaN/inf ("relu3_1", "tv") */
    int nonfinite_iteration;           /* the iteration whose loss it was (1 = the initial
                                          image), else -1 */
    int evaluations;                   /* loss + gradient evaluations (= iterations_done; with a
                                          line search, every trial point's) */
    bool converged;                    /* L-BFGS: a tolerance stopped it early */
    double robust_style_loss;          /* robust_views: mean style loss of the views */
    double style_transform_penalty_loss; /* learn_style_transform: lambda |theta - I|^2 */
    float style_theta[6];              /* learn_style_transform: theta now, and its gradient */
    float style_theta_grad[6];         /* (of the total loss, penalty included) */
} nst_render_result;

/* The brief's defaults; pointers NULL, sizes 0. */
void nst_render_options_default(nst_render_options *o);
/* sizeof(nst_render_options) as the library was built (for bindings' checks, device.h). */
size_t nst_render_options_size(void);

/* Runs the render. Fails before allocating with NST_ERR_BUDGET (message: the biggest consumers
 * and what to change) when the plan exceeds vram_limit or the device's free memory; with
 * NST_ERR_INVALID_ARG naming a layer the weights file does not hold; with NST_ERR_INTERNAL when a
 * loss becomes non-finite (nonfinite_layer/iteration filled, image kept). *r is always
 * initialised; free it with nst_render_result_free(). */
nst_status nst_render_gatys(nst_ctx *ctx, const nst_render_options *o, nst_render_result *r);
void nst_render_result_free(nst_render_result *r);

/* The dry run alone: the solved plan of the render o describes (no weights, no images; only
 * the sizes, layers and pooling are read). Free with nst_plan_destroy(). */
nst_status nst_render_plan(nst_ctx *ctx, const nst_render_options *o, nst_plan **out);

#ifdef __cplusplus
}
#endif
#endif
