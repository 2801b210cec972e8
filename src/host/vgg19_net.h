/* Internal: VGG19 forward/backward over the op table (src/host/vgg19.c), the Gatys losses on its
 * features (src/host/losses.c); the plan-then-run driver is memory_internal.h's (mem_pass.c).
 * Every buffer comes from a memory pass (include/nstyle/memory.h), so the same code records the
 * plan and then runs over the arena. Not installed. Tested by tests/test_vgg19.c and
 * tests/test_render.c. */
#ifndef NSTYLE_VGG19_NET_H
#define NSTYLE_VGG19_NET_H

#include <stdbool.h>

#include "memory_internal.h" /* nst__plan_record / nst__plan_run */
#include "nstyle/memory.h"
#include "nstyle/ops.h"
#include "nstyle/render.h"
#include "nstyle/vgg19.h"

#define NST__VGG_N NST_VGG19_CONV_COUNT
#define NST__MAX_TAPS (2 * NST__VGG_N)

/* What a pass needs of conv i's outputs: its ReLU output, its pre-ReLU output, or both. */
enum { NST__TAP_RELU = 1, NST__TAP_CONV = 2 };

/* ---- the network ---------------------------------------------------------------------------- */

typedef struct {
    int n_convs; /* convs held: conv1_1 .. the deepest any pass runs */
    int width;   /* conv1_1's Cout: 64 for VGG19, less for small test nets */
    nst_pool_mode pooling;
    nst_input_convert_params convert; /* the weights' input convention (tensors unset) */
    nst_tensor w[NST__VGG_N];         /* (Cout, 3, 3, Cin), persistent */
    nst_tensor b[NST__VGG_N];         /* (Cout), persistent */
} nst__vgg19;

/* The tensors of one forward (and, when `backward`, its backward) at one image size. */
typedef struct {
    int height, width;
    int depth;                          /* convs run: conv1_1 .. conv<depth> */
    unsigned char tap[NST__VGG_N];      /* NST__TAP_* per conv */
    bool backward;
    nst_tensor xin;                     /* (1, H, W, 3) the network's input convention */
    nst_tensor c[NST__VGG_N];           /* (1, Hi, Wi, Cout) pre-ReLU, conv taps only */
    nst_tensor a[NST__VGG_N];           /* (1, Hi, Wi, Cout) ReLU output */
    nst_tensor p[NST__VGG_N];           /* (1, Hi/2, Wi/2, Cout) pooled, when a conv follows */
    nst_tensor g_xin;                   /* (1, H, W, 3) */
    nst_tensor g_a[NST__VGG_N];         /* like a[i]; also holds the pre-ReLU gradient */
    nst_tensor g_p[NST__VGG_N];         /* like p[i] */
} nst__vgg19_pass;

/* Conv i's input and output channels for a net of this width. */
int nst__vgg19_cin(int i, int width);
int nst__vgg19_cout(int i, int width);

/* Requests the persistent weights of conv1_1 .. conv<n_convs>. */
nst_status nst__vgg19_declare(nst_mem_pass *pass, int n_convs, int width, nst_pool_mode pooling,
                              nst_input_convention convention, nst__vgg19 *net);
/* Copies the host weights in (a use of each, when recording). */
nst_status nst__vgg19_upload(nst_ctx *ctx, nst_mem_pass *pass, nst__vgg19 *net,
                             const nst_vgg19_weights *w);
/* Requests a pass's tensors (labels start with prefix: "style " ...). */
nst_status nst__vgg19_pass_declare(nst_mem_pass *pass, const nst__vgg19 *net, int height,
                                   int width, const unsigned char *tap, bool backward,
                                   const char *prefix, nst__vgg19_pass *out);
/* x (1, H, W, 3) RGB [0, 1] through conv1_1 .. conv<depth>. */
nst_status nst__vgg19_forward(nst_ctx *ctx, const nst__vgg19 *net, nst__vgg19_pass *p,
                              const nst_tensor *x);
/* Conv i's tapped output (relu: after the ReLU). */
const nst_tensor *nst__vgg19_feature(const nst__vgg19_pass *p, int i, bool relu);

/* Writes the loss gradients w.r.t. conv i's output (relu or pre-ReLU) into grad: the first
 * write overwrites unless *written, and each sets *written. */
typedef nst_status (*nst__vgg19_grad_fn)(nst_ctx *ctx, void *user, int i, bool relu,
                                         const nst_tensor *feature, nst_tensor *grad,
                                         bool *written);
/* Back-propagates from the deepest conv to the image: dx (1, H, W, 3), RGB [0, 1] image
 * gradient, overwritten (accumulate false) or added to. No weight gradients. */
nst_status nst__vgg19_backward(nst_ctx *ctx, const nst__vgg19 *net, nst__vgg19_pass *p,
                               nst__vgg19_grad_fn fn, void *user, nst_tensor *dx,
                               bool accumulate);

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


/* The render evaluated once at its initial image without a step: losses into r, the gradient of
 * the total loss w.r.t. the image into grad (H, W, 3). For tests against PyTorch. */
nst_status nst__render_evaluate(nst_ctx *ctx, const nst_render_options *o, float *grad,
                                nst_render_result *r);

#endif
