/* The op table: every op nstyle computes, listed once.
 *
 * Each op is a params struct (its tensors and scalars) plus one implementation per backend with
 * identical semantics: src/cpu/<family>.c is the reference, src/kernels/<family>.cu the CUDA one.
 * Call an op through its typed wrapper, e.g. nst_conv2d_forward(ctx, &params); the wrapper
 * dispatches on the context's backend, and an op a backend lacks returns NST_ERR_UNSUPPORTED
 * with a message naming the op and the backend; it never pretends to have run.
 *
 * Conventions (PyTorch semantics, NHWC memory layout):
 *   images and feature maps  (N, H, W, C)
 *   conv weights             (Cout, KH, KW, Cin)  = PyTorch OIHW permuted once at load
 *   linear weights           (OUT, IN)            = PyTorch nn.Linear
 *   scalars (losses, sums)   shape (1)
 * Backward ops overwrite their outputs. Where a params struct has `accumulate`, the outputs its
 * comment names are added to instead: parameter gradients (dw, db, dgamma, dbeta) for
 * conv2d, linear and instance norm, whose dx is always overwritten; the input gradient for the
 * losses and conversions (gram, mse, tv, input_convert), whose inputs feed several losses.
 * A NULL output pointer in a backward op means "not needed" and is skipped.
 */
#ifndef NSTYLE_OPS_H
#define NSTYLE_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- params structs -------------------------------------------------------------------- */

/* conv2d (cross-correlation, zero padding). forward: y = [relu](conv(x, w) + b).
 * backward_data: dx = conv_transpose(dy, w) (apply relu_backward to dy first if fused).
 * backward_filter: dw = sum dy (x) patches, db = sum dy (db may be NULL). */
typedef struct {
    const nst_tensor *x;  /* (N, H, W, Cin) */
    const nst_tensor *w;  /* (Cout, KH, KW, Cin) */
    const nst_tensor *b;  /* (Cout) or NULL */
    nst_tensor *y;        /* (N, Ho, Wo, Cout), Ho = (H + 2*pad - KH) / stride + 1 */
    const nst_tensor *dy; /* (N, Ho, Wo, Cout) */
    nst_tensor *dx;       /* (N, H, W, Cin) */
    nst_tensor *dw;       /* (Cout, KH, KW, Cin) */
    nst_tensor *db;       /* (Cout) */
    int stride;           /* >= 1, both axes */
    int pad;              /* zero padding, both axes, both sides */
    bool relu;            /* forward only: fuse ReLU into the output */
    bool accumulate;      /* backward_filter: dw/db += instead of = */
} nst_conv2d_params;

typedef struct {
    const nst_tensor *x; /* forward input; backward: the input or the output (same mask) */
    nst_tensor *y;       /* forward output */
    const nst_tensor *dy;
    nst_tensor *dx;      /* dx = dy * (x > 0) */
} nst_relu_params;

typedef enum { NST_POOL_MAX = 0, NST_POOL_AVG = 1 } nst_pool_mode;

/* 2x2 pooling, stride 2, floor: Ho = H / 2. Max ties take the first maximum in row-major order
 * and backward sends the gradient there; backward writes every element of dx. */
typedef struct {
    const nst_tensor *x;  /* (N, H, W, C) */
    nst_tensor *y;        /* (N, H/2, W/2, C) */
    const nst_tensor *dy; /* (N, H/2, W/2, C) */
    nst_tensor *dx;       /* (N, H, W, C) */
    nst_pool_mode mode;
} nst_pool2x2_params;

/* Nearest-neighbour upsampling by 2 (PyTorch Upsample(scale_factor=2, mode="nearest")). */
typedef struct {
    const nst_tensor *x;  /* (N, H, W, C) */
    nst_tensor *y;        /* (N, 2H, 2W, C) */
    const nst_tensor *dy; /* (N, 2H, 2W, C) */
    nst_tensor *dx;       /* (N, H, W, C) */
} nst_upsample2x_params;

/* Reflection padding (PyTorch ReflectionPad2d: the edge pixel is not repeated; pad < size). */
typedef struct {
    const nst_tensor *x;  /* (N, H, W, C) */
    nst_tensor *y;        /* (N, H + top + bottom, W + left + right, C) */
    const nst_tensor *dy;
    nst_tensor *dx;
    int top, bottom, left, right;
} nst_reflect_pad_params;

/* Instance norm (PyTorch InstanceNorm2d, affine optional, biased variance):
 * y = (x - mean) * rstd * gamma + beta over each (n, c) plane; rstd = 1/sqrt(var + eps).
 * Forward saves mean and rstd for backward. */
typedef struct {
    const nst_tensor *x;     /* (N, H, W, C) */
    const nst_tensor *gamma; /* (C) or NULL (= 1) */
    const nst_tensor *beta;  /* (C) or NULL (= 0) */
    nst_tensor *y;           /* (N, H, W, C) */
    nst_tensor *mean;        /* (N, C) saved by forward (NULL when no backward follows) */
    nst_tensor *rstd;        /* (N, C) saved by forward (NULL likewise); backward needs both */
    const nst_tensor *dy;    /* (N, H, W, C) */
    nst_tensor *dx;          /* (N, H, W, C) */
    nst_tensor *dgamma;      /* (C) */
    nst_tensor *dbeta;       /* (C) */
    float eps;
    bool accumulate;         /* dgamma/dbeta += */
} nst_instance_norm_params;

/* Conditional instance norm (cond_instance_norm_*) takes the same params with per-image affine
 * parameters, as a style vector's projection gives them: gamma, beta (N, C), required; dgamma,
 * dbeta (N, C), each image's own gradient. Otherwise identical to instance norm. */

/* Depthwise convolution (PyTorch Conv2d(C, C, k, stride, padding, groups=C)) takes
 * nst_conv2d_params with w (C, KH, KW, 1) = PyTorch (C, 1, KH, KW) permuted like conv2d's weights,
 * b (C) or NULL, y (N, Ho, Wo, C); relu fuses as in conv2d. backward_data writes dx,
 * backward_filter dw (and db). */

/* Sigmoid (torch.sigmoid): y = 1 / (1 + exp(-x)). backward: dx = dy * y * (1 - y) from the
 * forward OUTPUT y. */
typedef struct {
    const nst_tensor *x;  /* forward input, any shape */
    nst_tensor *y;        /* forward: output; backward: the forward output (input) */
    const nst_tensor *dy; /* same shape */
    nst_tensor *dx;       /* same shape */
} nst_sigmoid_params;

/* Global average pooling (PyTorch x.mean((2, 3), keepdim=True) / AdaptiveAvgPool2d(1)):
 * y[n, 0, 0, c] = mean over H, W of x[n, :, :, c] (accumulated in double on the CPU);
 * backward: dx = dy / (H*W) broadcast. */
typedef struct {
    const nst_tensor *x;  /* (N, H, W, C), H*W >= 1 */
    nst_tensor *y;        /* (N, 1, 1, C) */
    const nst_tensor *dy; /* (N, 1, 1, C) */
    nst_tensor *dx;       /* (N, H, W, C) */
} nst_global_avg_pool_params;

/* Linear (PyTorch nn.Linear): y = x w^T + b. */
typedef struct {
    const nst_tensor *x;  /* (N, IN) */
    const nst_tensor *w;  /* (OUT, IN) */
    const nst_tensor *b;  /* (OUT) or NULL */
    nst_tensor *y;        /* (N, OUT) */
    const nst_tensor *dy; /* (N, OUT) */
    nst_tensor *dx;       /* (N, IN) */
    nst_tensor *dw;       /* (OUT, IN) */
    nst_tensor *db;       /* (OUT) */
    bool relu;            /* forward only */
    bool accumulate;      /* dw/db += */
} nst_linear_params;

/* y = a + b, elementwise, same shapes. */
typedef struct {
    const nst_tensor *a, *b;
    nst_tensor *y;
} nst_add_params;

/* scale: y = alpha * x.  axpy: y += alpha * x.  Same shapes. */
typedef struct {
    const nst_tensor *x;
    nst_tensor *y;
    float alpha;
} nst_scale_params;

/* clamp: y = min(max(x, lo), hi) elementwise (torch.clamp; y may alias x; NaN stays NaN). */
typedef struct {
    const nst_tensor *x; /* any shape */
    nst_tensor *y;       /* same shape */
    float lo, hi;        /* lo <= hi */
} nst_clamp_params;

/* Sum or mean of all elements of x into y (shape (1)), accumulated in double on the CPU. */
typedef struct {
    const nst_tensor *x;
    nst_tensor *y;
} nst_reduce_params;

/* torch.optim.Adam, one call over many tensors. With g = grad + weight_decay * param:
 *   m = beta1 m + one_minus_beta1 g;  v = beta2 v + one_minus_beta2 g^2
 *   param -= (lr / bias_correction1) * m / (sqrt(v) / bias_correction2_sqrt + eps)
 * The step constants are computed once per step by nst_adam_step_make() and shared by all
 * backends, so every backend evaluates the same formula. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float one_minus_beta1;       /* 1 - beta1, computed in double as torch does */
    float one_minus_beta2;       /* 1 - beta2, likewise (1 - 0.999f in float is 1.3e-5 off) */
    float bias_correction1;      /* 1 - beta1^t */
    float bias_correction2_sqrt; /* sqrt(1 - beta2^t) */
} nst_adam_step;

typedef struct {
    nst_tensor *param;      /* any shape, F32 */
    const nst_tensor *grad; /* same shape */
    nst_tensor *m, *v;      /* same shape, start at 0 */
} nst_adam_slot;

typedef struct {
    const nst_adam_slot *slots;
    int n_slots;
    nst_adam_step step;
} nst_adam_params;

/* step t counts from 1. Takes the hyper-parameters as doubles (as torch holds them) and
 * computes every constant in double before storing it as float. */
nst_adam_step nst_adam_step_make(double lr, double beta1, double beta2, double eps,
                                 double weight_decay, long t);

/* PyTorch F.affine_grid(theta, (N, C, H, W), align_corners). */
typedef struct {
    const nst_tensor *theta;  /* (N, 2, 3) */
    nst_tensor *grid;         /* (N, H, W, 2), (x, y) in [-1, 1] */
    const nst_tensor *dgrid;  /* (N, H, W, 2) */
    nst_tensor *dtheta;       /* (N, 2, 3) */
    bool align_corners;
} nst_affine_grid_params;

typedef enum {
    NST_PAD_ZEROS = 0,
    NST_PAD_BORDER = 1,
    NST_PAD_REFLECTION = 2
} nst_grid_padding;

/* PyTorch F.grid_sample(x, grid, mode="bilinear", padding_mode, align_corners). */
typedef struct {
    const nst_tensor *x;     /* (N, H, W, C) */
    const nst_tensor *grid;  /* (N, Ho, Wo, 2) */
    nst_tensor *y;           /* (N, Ho, Wo, C) */
    const nst_tensor *dy;    /* (N, Ho, Wo, C) */
    nst_tensor *dx;          /* (N, H, W, C) */
    nst_tensor *dgrid;       /* (N, Ho, Wo, 2) */
    nst_grid_padding padding;
    bool align_corners;
} nst_grid_sample_params;

/* Gram matrix G = F^T F / (C*H*W) of each image's (H*W, C) feature map. */
typedef struct {
    const nst_tensor *x;  /* (N, H, W, C) */
    nst_tensor *g;        /* (N, C, C) */
    const nst_tensor *dg; /* (N, C, C) */
    nst_tensor *dx;       /* (N, H, W, C) */
    bool accumulate;      /* dx += */
} nst_gram_params;

/* MSE loss = mean((a - b)^2) into loss (1); backward: da = scale * 2 (a - b) / numel. */
typedef struct {
    const nst_tensor *a, *b;
    nst_tensor *loss; /* (1) */
    nst_tensor *da;
    float scale;      /* backward: upstream gradient times the loss weight */
    bool accumulate;  /* da += */
} nst_mse_params;

/* Total variation = (sum of squared differences of vertical and horizontal neighbours) / (N*H*W);
 * backward: dx = scale * d(TV)/dx. */
typedef struct {
    const nst_tensor *x; /* (N, H, W, C) */
    nst_tensor *loss;    /* (1) */
    nst_tensor *dx;      /* (N, H, W, C) */
    float scale;
    bool accumulate;
} nst_tv_params;

/* RGB <-> YUV (BT.601), elementwise over the last axis. */
typedef struct {
    const nst_tensor *x; /* (N, H, W, 3) */
    nst_tensor *y;       /* (N, H, W, 3) */
} nst_colour_params;

typedef enum {
    NST_INPUT_RGB_0_1_IMAGENET_NORM = 0, /* (rgb - mean) / std, mean .485,.456,.406 std .229,.224,.225 */
    NST_INPUT_BGR_0_255_MINUS_MEAN = 1,  /* 255 * bgr - mean_bgr (Caffe) */
    NST_INPUT_RGB_0_255 = 2,             /* 255 * rgb */
    NST_INPUT_CONVENTION_COUNT
} nst_input_convention;

/* From the optimised RGB [0,1] image to a network's input convention and back (gradient):
 * out[c] = (in[swap_rb ? 2 - c : c] * mul - mean[c]) / std[c]. */
typedef struct {
    const nst_tensor *x;  /* (N, H, W, 3), RGB in [0, 1] */
    nst_tensor *y;        /* (N, H, W, 3), the network's convention */
    const nst_tensor *dy;
    nst_tensor *dx;
    bool swap_rb;
    float mul;
    float mean[3]; /* in output channel order */
    float std[3];  /* in output channel order */
    bool accumulate;
} nst_input_convert_params;

/* ---- the table --------------------------------------------------------------------------- */

/* X(ENUM, name, params type) */
#define NST_OP_LIST(X)                                                          \
    X(CONV2D_FORWARD, conv2d_forward, nst_conv2d_params)                        \
    X(CONV2D_BACKWARD_DATA, conv2d_backward_data, nst_conv2d_params)            \
    X(CONV2D_BACKWARD_FILTER, conv2d_backward_filter, nst_conv2d_params)        \
    X(RELU_FORWARD, relu_forward, nst_relu_params)                              \
    X(RELU_BACKWARD, relu_backward, nst_relu_params)                            \
    X(POOL2X2_FORWARD, pool2x2_forward, nst_pool2x2_params)                     \
    X(POOL2X2_BACKWARD, pool2x2_backward, nst_pool2x2_params)                   \
    X(UPSAMPLE2X_FORWARD, upsample2x_forward, nst_upsample2x_params)            \
    X(UPSAMPLE2X_BACKWARD, upsample2x_backward, nst_upsample2x_params)          \
    X(REFLECT_PAD_FORWARD, reflect_pad_forward, nst_reflect_pad_params)         \
    X(REFLECT_PAD_BACKWARD, reflect_pad_backward, nst_reflect_pad_params)       \
    X(INSTANCE_NORM_FORWARD, instance_norm_forward, nst_instance_norm_params)   \
    X(INSTANCE_NORM_BACKWARD, instance_norm_backward, nst_instance_norm_params) \
    X(LINEAR_FORWARD, linear_forward, nst_linear_params)                        \
    X(LINEAR_BACKWARD, linear_backward, nst_linear_params)                      \
    X(ADD, add, nst_add_params)                                                 \
    X(SCALE, scale, nst_scale_params)                                           \
    X(AXPY, axpy, nst_scale_params)                                             \
    X(CLAMP, clamp, nst_clamp_params)                                           \
    X(REDUCE_SUM, reduce_sum, nst_reduce_params)                                \
    X(REDUCE_MEAN, reduce_mean, nst_reduce_params)                              \
    X(ADAM, adam, nst_adam_params)                                              \
    X(AFFINE_GRID_FORWARD, affine_grid_forward, nst_affine_grid_params)         \
    X(AFFINE_GRID_BACKWARD, affine_grid_backward, nst_affine_grid_params)       \
    X(GRID_SAMPLE_FORWARD, grid_sample_forward, nst_grid_sample_params)         \
    X(GRID_SAMPLE_BACKWARD, grid_sample_backward, nst_grid_sample_params)       \
    X(GRAM_FORWARD, gram_forward, nst_gram_params)                              \
    X(GRAM_BACKWARD, gram_backward, nst_gram_params)                            \
    X(MSE_FORWARD, mse_forward, nst_mse_params)                                 \
    X(MSE_BACKWARD, mse_backward, nst_mse_params)                               \
    X(TV_FORWARD, tv_forward, nst_tv_params)                                    \
    X(TV_BACKWARD, tv_backward, nst_tv_params)                                  \
    X(RGB_TO_YUV, rgb_to_yuv, nst_colour_params)                                \
    X(YUV_TO_RGB, yuv_to_rgb, nst_colour_params)                                \
    X(INPUT_CONVERT_FORWARD, input_convert_forward, nst_input_convert_params)   \
    X(INPUT_CONVERT_BACKWARD, input_convert_backward, nst_input_convert_params)  \
    X(DWCONV2D_FORWARD, dwconv2d_forward, nst_conv2d_params)                    \
    X(DWCONV2D_BACKWARD_DATA, dwconv2d_backward_data, nst_conv2d_params)        \
    X(DWCONV2D_BACKWARD_FILTER, dwconv2d_backward_filter, nst_conv2d_params)    \
    X(SIGMOID_FORWARD, sigmoid_forward, nst_sigmoid_params)                     \
    X(SIGMOID_BACKWARD, sigmoid_backward, nst_sigmoid_params)                   \
    X(GLOBAL_AVG_POOL_FORWARD, global_avg_pool_forward, nst_global_avg_pool_params) \
    X(GLOBAL_AVG_POOL_BACKWARD, global_avg_pool_backward, nst_global_avg_pool_params) \
    X(COND_INSTANCE_NORM_FORWARD, cond_instance_norm_forward, nst_instance_norm_params) \
    X(COND_INSTANCE_NORM_BACKWARD, cond_instance_norm_backward, nst_instance_norm_params)

typedef enum {
#define NST__OP_ENUM(E, name, P) NST_OP_##E,
    NST_OP_LIST(NST__OP_ENUM)
#undef NST__OP_ENUM
    NST_OP_COUNT
} nst_op;

typedef struct {
    const char *name;        /* "conv2d_forward" */
    const char *params_type; /* "nst_conv2d_params" */
    size_t params_size;
} nst_op_info;

const nst_op_info *nst_op_get_info(nst_op op); /* NULL when op is out of range */
/* Looks an op up by name; returns NST_OP_COUNT when unknown. */
nst_op nst_op_from_name(const char *name);
/* Whether the context's backend (or `backend`) has an implementation of op (for some params;
 * nst_op_check() answers for given params). */
bool nst_op_supported(const nst_ctx *ctx, nst_op op);
bool nst_op_supported_on(nst_backend_kind backend, nst_op op);

/* ---- the op contract ------------------------------------------------------------------------
 * Every op lists its tensors (nst_op_args): inputs, outputs, which may be absent, which are
 * always F32. nst_op_run() checks them once for every backend before the backend runs: each
 * present tensor is on the context's backend and has data (or, in a recording pass, is planned),
 * the tensors not marked f32 share the op's compute dtype (that of the first of them), the shapes
 * and scalars follow the op's rule, and the backend supports the op for that dtype and those
 * modes (NST_ERR_UNSUPPORTED names what it lacks). A backward op whose outputs are all absent
 * does nothing. Each op states its scratch bytes before it runs (nst_op_scratch_bytes) and takes
 * them from a region the caller provides: the memory pass's planned scratch buffer (memory.h), or
 * the context's scratch region (nst_ctx_set_scratch / nst_ctx_reserve_scratch). No op allocates
 * while it runs. */

typedef enum { NST_ARG_IN = 1, NST_ARG_OUT = 2, NST_ARG_INOUT = 3 } nst_arg_role;

typedef struct {
    const char *name; /* the params field: "x", "dw"; Adam: "param", "grad", "m", "v" */
    int slot;         /* Adam's slot index, else -1 */
    nst_tensor *t;    /* NULL when an optional tensor is absent */
    nst_arg_role role;
    bool optional;    /* may be NULL (for a backward op's outputs: "not needed") */
    bool f32;         /* always F32 whatever the compute dtype (losses, saved statistics, Gram,
                         optimiser state) */
} nst_op_arg;

/* The tensors of op for these params, in a fixed order: writes up to max entries to out (which
 * may be NULL when max is 0) and returns how many there are, or -1 for an unknown op or NULL
 * params. */
int nst_op_args(nst_op op, const void *params, nst_op_arg *out, int max);
/* The checks nst_op_run() makes, without running the op. */
nst_status nst_op_check(nst_ctx *ctx, nst_op op, const void *params);
/* The scratch bytes the context's backend needs to run op with these params (checked first). */
nst_status nst_op_scratch_bytes(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes);
/* The scratch region for op calls made outside a memory pass: `bytes` at ptr, memory of the
 * context's backend that the caller owns (NULL, 0 removes it). */
void nst_ctx_set_scratch(nst_ctx *ctx, void *ptr, size_t bytes);
/* Makes the context own a scratch region of at least `bytes` (tracked as workspace), replacing
 * a smaller one it owns; freed with the context or when the context changes device. For callers
 * that run ops one at a time. */
nst_status nst_ctx_reserve_scratch(nst_ctx *ctx, size_t bytes);

/* Runs op on the context's backend. params must point to the op's params struct. */
nst_status nst_op_run(nst_ctx *ctx, nst_op op, const void *params);

/* Typed wrappers: nst_conv2d_forward(ctx, &p) == nst_op_run(ctx, NST_OP_CONV2D_FORWARD, &p). */
#define NST__OP_WRAPPER(E, name, P)                                         \
    static inline nst_status nst_##name(nst_ctx *ctx, const P *params) {    \
        return nst_op_run(ctx, NST_OP_##E, params);                         \
    }
NST_OP_LIST(NST__OP_WRAPPER)
#undef NST__OP_WRAPPER

/* Parameters for a weight file's input convention name ("rgb-0-1-imagenet-norm",
 * "bgr-0-255-minus-mean", "rgb-0-255"); returns NST_ERR_INVALID_ARG for an unknown name.
 * Tensors and accumulate are left zero for the caller to fill. */
nst_status nst_input_convention_from_name(const char *name, nst_input_convention *out);
nst_input_convert_params nst_input_convert_params_for(nst_input_convention conv);

#ifdef __cplusplus
}
#endif
#endif
