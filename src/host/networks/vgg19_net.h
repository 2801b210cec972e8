/* Internal: VGG19 forward/backward over the op table (src/host/networks/vgg19.c); the Gatys
 * losses on its features are the render's (src/host/pipelines/gatys.h), the plan-then-run
 * driver the core's (src/host/plan_run.h). Every buffer comes from a memory pass
 * (include/nstyle/memory.h), so the same code records the plan and then runs over the arena.
 * Not installed. Tested by tests/test_vgg19.c and tests/test_render.c. */
#ifndef NSTYLE_VGG19_NET_H
#define NSTYLE_VGG19_NET_H

#include <stdbool.h>

#include "../plan_run.h" /* nst__plan_record / nst__plan_run */
#include "nstyle/memory.h"
#include "nstyle/ops.h"
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

#endif
