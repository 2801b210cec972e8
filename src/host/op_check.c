/* The op contract, one place for every backend: each op's shape and scalar rules, over its
 * tensors as src/host/op_args.c lists them (inputs, outputs, which may be absent, which are
 * always F32). nst_op_run (src/host/ops.c)
 * runs these checks once before any backend sees the call, so a backend's implementation may
 * assume well-formed arguments; a dry run uses the same lists to record which buffers an op
 * touches, and tests use them to put guard bytes around every output.
 *
 * The dtype rule: every tensor not marked F32 has the op's compute dtype, the dtype of its first
 * such tensor; whether a backend computes an op in that dtype is the backend's answer
 * (nst__backend.supports), never assumed here.
 *
 * Tested by tests/test_op_contract.c (every op's argument list, refusals by name, guard bytes)
 * and by each tests/test_cpu_*.c through the dispatch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* ---- shape rules --------------------------------------------------------------------------- */

/* t (present) has `ndim` dims, each dims[i] >= 0 matching exactly (-1 = any). */
static nst_status dims_are(nst_ctx *ctx, const char *op, const char *arg, const nst_tensor *t,
                           int ndim, const int64_t *dims) {
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = dims[i] < 0 || dims[i] == t->shape[i];
    if (ok)
        return NST_OK;
    char have[96], want[96];
    int n = snprintf(want, sizeof want, "(");
    for (int i = 0; i < ndim && n < (int)sizeof want; i++)
        n += dims[i] < 0 ? snprintf(want + n, sizeof want - (size_t)n, "%s*", i ? ", " : "")
                         : snprintf(want + n, sizeof want - (size_t)n, "%s%lld", i ? ", " : "",
                                    (long long)dims[i]);
    if (n < (int)sizeof want)
        snprintf(want + n, sizeof want - (size_t)n, ") %s", nst_dtype_name(t->dtype));
    return NST__ERR(ctx, NST_ERR_SHAPE, "op %s: tensor %s is %s, expected %s", op, arg,
                    nst_tensor_describe(t, have, sizeof have), want);
}

#define DIMS1(arg, t, a) dims_are(ctx, op, arg, t, 1, (const int64_t[]){(a)})
#define DIMS2(arg, t, a, b) dims_are(ctx, op, arg, t, 2, (const int64_t[]){(a), (b)})
#define DIMS3(arg, t, a, b, c) dims_are(ctx, op, arg, t, 3, (const int64_t[]){(a), (b), (c)})
#define DIMS4(arg, t, a, b, c, d) \
    dims_are(ctx, op, arg, t, 4, (const int64_t[]){(a), (b), (c), (d)})
#define ANY4(arg, t) DIMS4(arg, t, -1, -1, -1, -1)
/* t has ref's shape. */
#define SAME(arg, t, ref) dims_are(ctx, op, arg, t, (ref)->ndim, (ref)->shape)
/* Checks only a tensor that is present. */
#define IF(t, check) ((t) ? (check) : NST_OK)

static nst_status needed(nst_ctx *ctx, const char *op, const char *arg, const nst_tensor *t,
                         const char *why) {
    if (t)
        return NST_OK;
    return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s is missing (%s)", op, arg, why);
}

/* The convolution's input-shaped tensor `in` (x or dx), w, the scalars, and the output-shaped
 * tensor `out` (y or dy). */
static nst_status conv_shapes(nst_ctx *ctx, const char *op, const nst_conv2d_params *p,
                              const char *in_name, const nst_tensor *in, const char *out_name,
                              const nst_tensor *out) {
    NST__TRY(ANY4(in_name, in));
    NST__TRY(DIMS4("w", p->w, -1, -1, -1, in->shape[3]));
    if (p->stride < 1)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: stride %d must be >= 1", op, p->stride);
    if (p->pad < 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: pad %d must be >= 0", op, p->pad);
    const int64_t n = in->shape[0], h = in->shape[1], w = in->shape[2], cin = in->shape[3];
    const int64_t cout = p->w->shape[0], kh = p->w->shape[1], kw = p->w->shape[2];
    if (cin < 1 || cout < 1 || kh < 1 || kw < 1 || h < 1 || w < 1)
        return NST__ERR(ctx, NST_ERR_SHAPE,
                        "op %s: empty convolution: %s (%lld, %lld, %lld, %lld), w (%lld, %lld, "
                        "%lld, %lld); H, W, Cin, Cout, KH and KW must be >= 1",
                        op, in_name, (long long)n, (long long)h, (long long)w, (long long)cin,
                        (long long)cout, (long long)kh, (long long)kw, (long long)cin);
    if (h + 2 * (int64_t)p->pad < kh || w + 2 * (int64_t)p->pad < kw)
        return NST__ERR(ctx, NST_ERR_SHAPE,
                        "op %s: kernel %lldx%lld does not fit input %lldx%lld with pad %d "
                        "(output size would be < 1)",
                        op, (long long)kh, (long long)kw, (long long)h, (long long)w, p->pad);
    if (kh * kw * cin > INT32_MAX || cout > INT32_MAX)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                        "op %s: patch length KH*KW*Cin = %lld or Cout = %lld exceeds the BLAS "
                        "integer range",
                        op, (long long)(kh * kw * cin), (long long)cout);
    const int64_t ho = (h + 2 * p->pad - kh) / p->stride + 1;
    const int64_t wo = (w + 2 * p->pad - kw) / p->stride + 1;
    NST__TRY(DIMS4(out_name, out, n, ho, wo, cout));
    return NST_OK;
}

static nst_status linear_shapes(nst_ctx *ctx, const char *op, const nst_linear_params *p,
                                bool backward) {
    const nst_tensor *ref = backward ? p->dy : p->x;
    NST__TRY(DIMS2(backward ? "dy" : "x", ref, -1, -1));
    const int64_t n = ref->shape[0];
    if (backward)
        NST__TRY(DIMS2("w", p->w, ref->shape[1], -1));
    else
        NST__TRY(DIMS2("w", p->w, -1, ref->shape[1]));
    const int64_t out = p->w->shape[0], in = p->w->shape[1];
    if (in < 1 || out < 1)
        return NST__ERR(ctx, NST_ERR_SHAPE, "op %s: IN = %lld and OUT = %lld must be >= 1", op,
                        (long long)in, (long long)out);
    if (!backward) {
        NST__TRY(DIMS2("y", p->y, n, out));
        return IF(p->b, DIMS1("b", p->b, out));
    }
    NST__TRY(IF(p->dx, DIMS2("dx", p->dx, n, in)));
    if (p->dw)
        NST__TRY(needed(ctx, op, "x", p->x, "the weight gradient needs the forward input"));
    NST__TRY(IF(p->x, DIMS2("x", p->x, n, in)));
    NST__TRY(IF(p->dw, DIMS2("dw", p->dw, out, in)));
    return IF(p->db, DIMS1("db", p->db, out));
}

static nst_status pool_mode(nst_ctx *ctx, const char *op, nst_pool_mode mode) {
    if (mode != NST_POOL_MAX && mode != NST_POOL_AVG)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: unknown pool mode %d", op, (int)mode);
    return NST_OK;
}

static nst_status reflect_pads(nst_ctx *ctx, const char *op, const nst_reflect_pad_params *p,
                               int64_t H, int64_t W) {
    const struct {
        const char *name;
        int pad;
        int64_t size;
        const char *axis;
    } pads[4] = {{"top", p->top, H, "H"},
                 {"bottom", p->bottom, H, "H"},
                 {"left", p->left, W, "W"},
                 {"right", p->right, W, "W"}};
    for (int i = 0; i < 4; i++)
        if (pads[i].pad < 0 || pads[i].pad >= pads[i].size)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                            "op %s: pad %s = %d must be >= 0 and < %s = %lld (reflection padding "
                            "does not repeat the edge pixel, so it needs pad < size)",
                            op, pads[i].name, pads[i].pad, pads[i].axis, (long long)pads[i].size);
    return NST_OK;
}

static nst_status norm_eps(nst_ctx *ctx, const char *op, float eps) {
    if (!(eps >= 0.0f) || isinf(eps))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: eps = %g must be finite and >= 0", op,
                        (double)eps);
    return NST_OK;
}

/* per_image (conditional instance norm): gamma, beta, dgamma, dbeta are (N, C), else (C). */
static nst_status instance_norm_shapes(nst_ctx *ctx, const char *op,
                                       const nst_instance_norm_params *p, bool backward,
                                       bool per_image) {
    NST__TRY(ANY4("x", p->x));
    const int64_t N = p->x->shape[0], C = p->x->shape[3];
#define AFFINE(arg, t) (per_image ? DIMS2(arg, t, N, C) : DIMS1(arg, t, C))
    NST__TRY(IF(p->gamma, AFFINE("gamma", p->gamma)));
    NST__TRY(IF(p->mean, DIMS2("mean", p->mean, N, C)));
    NST__TRY(IF(p->rstd, DIMS2("rstd", p->rstd, N, C)));
    if (!backward) {
        NST__TRY(SAME("y", p->y, p->x));
        NST__TRY(IF(p->beta, AFFINE("beta", p->beta)));
        NST__TRY(norm_eps(ctx, op, p->eps));
        if (p->x->shape[1] * p->x->shape[2] == 0 && N * C > 0)
            return NST__ERR(ctx, NST_ERR_SHAPE, "op %s: x has empty planes (H*W = 0)", op);
        return NST_OK;
    }
    NST__TRY(SAME("dy", p->dy, p->x));
    NST__TRY(IF(p->dx, SAME("dx", p->dx, p->x)));
    NST__TRY(IF(p->dgamma, AFFINE("dgamma", p->dgamma)));
    return IF(p->dbeta, AFFINE("dbeta", p->dbeta));
#undef AFFINE
}

/* Depthwise convolution: w (C, KH, KW, 1), the input-shaped `in` (N, H, W, C) and the
 * output-shaped `out` (N, Ho, Wo, C); the rest as conv2d. */
static nst_status dwconv_shapes(nst_ctx *ctx, const char *op, const nst_conv2d_params *p,
                                const char *in_name, const nst_tensor *in, const char *out_name,
                                const nst_tensor *out) {
    NST__TRY(ANY4(in_name, in));
    NST__TRY(DIMS4("w", p->w, in->shape[3], -1, -1, 1));
    if (p->stride < 1)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: stride %d must be >= 1", op, p->stride);
    if (p->pad < 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: pad %d must be >= 0", op, p->pad);
    const int64_t n = in->shape[0], h = in->shape[1], w = in->shape[2], c = in->shape[3];
    const int64_t kh = p->w->shape[1], kw = p->w->shape[2];
    if (c < 1 || kh < 1 || kw < 1 || h < 1 || w < 1)
        return NST__ERR(ctx, NST_ERR_SHAPE,
                        "op %s: empty convolution: %s (%lld, %lld, %lld, %lld), w (%lld, %lld, "
                        "%lld, 1); H, W, C, KH and KW must be >= 1",
                        op, in_name, (long long)n, (long long)h, (long long)w, (long long)c,
                        (long long)c, (long long)kh, (long long)kw);
    if (h + 2 * (int64_t)p->pad < kh || w + 2 * (int64_t)p->pad < kw)
        return NST__ERR(ctx, NST_ERR_SHAPE,
                        "op %s: kernel %lldx%lld does not fit input %lldx%lld with pad %d "
                        "(output size would be < 1)",
                        op, (long long)kh, (long long)kw, (long long)h, (long long)w, p->pad);
    const int64_t ho = (h + 2 * p->pad - kh) / p->stride + 1;
    const int64_t wo = (w + 2 * p->pad - kw) / p->stride + 1;
    return DIMS4(out_name, out, n, ho, wo, c);
}

static nst_status adam_rules(nst_ctx *ctx, const nst_adam_params *p) {
    if (p->n_slots < 0 || (p->n_slots > 0 && !p->slots))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op adam: %d slots at %p", p->n_slots,
                        (const void *)p->slots);
    for (int i = 0; i < p->n_slots; i++) {
        const nst_adam_slot *s = &p->slots[i];
        char op[32];
        snprintf(op, sizeof op, "adam (slot %d)", i);
        NST__TRY(SAME("grad", s->grad, s->param));
        NST__TRY(SAME("m", s->m, s->param));
        NST__TRY(SAME("v", s->v, s->param));
    }
    const nst_adam_step *st = &p->step;
    if (!(st->bias_correction1 > 0.0f) || !(st->bias_correction2_sqrt > 0.0f))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "op adam: bias corrections %g and %g must be > 0 (make the step with "
                        "nst_adam_step_make, step t counting from 1)",
                        (double)st->bias_correction1, (double)st->bias_correction2_sqrt);
    if (!(st->beta1 >= 0.0f && st->beta1 < 1.0f) || !(st->beta2 >= 0.0f && st->beta2 < 1.0f))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op adam: betas (%g, %g) must be in [0, 1)",
                        (double)st->beta1, (double)st->beta2);
    if (!(st->lr >= 0.0f) || !(st->eps >= 0.0f) || !(st->weight_decay >= 0.0f))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "op adam: lr %g, eps %g and weight_decay %g must be >= 0", (double)st->lr,
                        (double)st->eps, (double)st->weight_decay);
    return NST_OK;
}

/* Coordinates beyond 2^24 pixels cannot address single pixels in float. */
#define GRID_MAX_SIDE (1 << 24)

static nst_status grid_sample_shapes(nst_ctx *ctx, const char *op,
                                     const nst_grid_sample_params *p, const char *out_name,
                                     const nst_tensor *out) {
    NST__TRY(ANY4("x", p->x));
    const int64_t N = p->x->shape[0], H = p->x->shape[1], W = p->x->shape[2],
                  C = p->x->shape[3];
    NST__TRY(DIMS4("grid", p->grid, N, -1, -1, 2));
    NST__TRY(DIMS4(out_name, out, N, p->grid->shape[1], p->grid->shape[2], C));
    if (H < 1 || W < 1)
        return NST__ERR(ctx, NST_ERR_SHAPE,
                        "op %s: tensor x has empty spatial size %lld x %lld (need H, W >= 1)", op,
                        (long long)H, (long long)W);
    if (H > GRID_MAX_SIDE || W > GRID_MAX_SIDE)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                        "op %s: tensor x spatial size %lld x %lld exceeds %d per side", op,
                        (long long)H, (long long)W, GRID_MAX_SIDE);
    if (p->padding != NST_PAD_ZEROS && p->padding != NST_PAD_BORDER &&
        p->padding != NST_PAD_REFLECTION)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "op %s: padding %d is not zeros (0), border (1) or reflection (2)", op,
                        (int)p->padding);
    return NST_OK;
}

static nst_status gram_shapes(nst_ctx *ctx, const char *op, const nst_tensor *x,
                              const char *out_name, const nst_tensor *out) {
    NST__TRY(ANY4("x", x));
    const int64_t n = x->shape[0], c = x->shape[3];
    NST__TRY(DIMS3(out_name, out, n, c, c));
    if (c > INT32_MAX || x->shape[1] * x->shape[2] > INT32_MAX)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                        "op %s: feature map %lld x %lld x %lld exceeds the BLAS index range", op,
                        (long long)x->shape[1], (long long)x->shape[2], (long long)c);
    return NST_OK;
}

static nst_status convert_scalars(nst_ctx *ctx, const char *op, const nst_input_convert_params *p) {
    if (!isfinite(p->mul))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: mul %g is not finite", op,
                        (double)p->mul);
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
            return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                            "op %s: channel %d has mean %g, std %g (std must be finite, nonzero)",
                            op, c, (double)p->mean[c], (double)p->std[c]);
    return NST_OK;
}

static nst_status shapes_op(nst_ctx *ctx, nst_op op_id, const char *op, const void *params) {
    switch (op_id) {
    case NST_OP_CONV2D_FORWARD: {
        const nst_conv2d_params *p = params;
        NST__TRY(conv_shapes(ctx, op, p, "x", p->x, "y", p->y));
        return IF(p->b, DIMS1("b", p->b, p->w->shape[0]));
    }
    case NST_OP_CONV2D_BACKWARD_DATA: {
        const nst_conv2d_params *p = params;
        return conv_shapes(ctx, op, p, "dx", p->dx, "dy", p->dy);
    }
    case NST_OP_CONV2D_BACKWARD_FILTER: {
        const nst_conv2d_params *p = params;
        if (p->dw)
            NST__TRY(needed(ctx, op, "x", p->x, "the weight gradient needs the forward input"));
        if (!p->x) { /* db alone: dy (N, Ho, Wo, Cout) */
            NST__TRY(DIMS4("dy", p->dy, -1, -1, -1, p->w->ndim == 4 ? p->w->shape[0] : -1));
            return DIMS1("db", p->db, p->dy->shape[3]);
        }
        NST__TRY(conv_shapes(ctx, op, p, "x", p->x, "dy", p->dy));
        NST__TRY(IF(p->dw, SAME("dw", p->dw, p->w)));
        return IF(p->db, DIMS1("db", p->db, p->w->shape[0]));
    }
    case NST_OP_RELU_FORWARD: {
        const nst_relu_params *p = params;
        return SAME("y", p->y, p->x);
    }
    case NST_OP_RELU_BACKWARD: {
        const nst_relu_params *p = params;
        NST__TRY(SAME("dy", p->dy, p->x));
        return SAME("dx", p->dx, p->x);
    }
    case NST_OP_POOL2X2_FORWARD: {
        const nst_pool2x2_params *p = params;
        NST__TRY(pool_mode(ctx, op, p->mode));
        NST__TRY(ANY4("x", p->x));
        const int64_t *s = p->x->shape;
        return DIMS4("y", p->y, s[0], s[1] / 2, s[2] / 2, s[3]);
    }
    case NST_OP_POOL2X2_BACKWARD: {
        const nst_pool2x2_params *p = params;
        NST__TRY(pool_mode(ctx, op, p->mode));
        NST__TRY(ANY4("dx", p->dx));
        const int64_t *s = p->dx->shape;
        NST__TRY(DIMS4("dy", p->dy, s[0], s[1] / 2, s[2] / 2, s[3]));
        if (p->mode == NST_POOL_MAX) /* the argmax is recomputed from the forward input */
            NST__TRY(needed(ctx, op, "x", p->x, "max pooling's backward recomputes the argmax"));
        return IF(p->x, SAME("x", p->x, p->dx));
    }
    case NST_OP_UPSAMPLE2X_FORWARD: {
        const nst_upsample2x_params *p = params;
        NST__TRY(ANY4("x", p->x));
        const int64_t *s = p->x->shape;
        return DIMS4("y", p->y, s[0], 2 * s[1], 2 * s[2], s[3]);
    }
    case NST_OP_UPSAMPLE2X_BACKWARD: {
        const nst_upsample2x_params *p = params;
        NST__TRY(ANY4("dx", p->dx));
        const int64_t *s = p->dx->shape;
        return DIMS4("dy", p->dy, s[0], 2 * s[1], 2 * s[2], s[3]);
    }
    case NST_OP_REFLECT_PAD_FORWARD:
    case NST_OP_REFLECT_PAD_BACKWARD: {
        const nst_reflect_pad_params *p = params;
        const bool fwd = op_id == NST_OP_REFLECT_PAD_FORWARD;
        const nst_tensor *in = fwd ? p->x : p->dx, *out = fwd ? p->y : p->dy;
        NST__TRY(ANY4(fwd ? "x" : "dx", in));
        const int64_t *s = in->shape;
        NST__TRY(reflect_pads(ctx, op, p, s[1], s[2]));
        return DIMS4(fwd ? "y" : "dy", out, s[0], s[1] + p->top + p->bottom,
                     s[2] + p->left + p->right, s[3]);
    }
    case NST_OP_INSTANCE_NORM_FORWARD:
        return instance_norm_shapes(ctx, op, params, false, false);
    case NST_OP_INSTANCE_NORM_BACKWARD:
        return instance_norm_shapes(ctx, op, params, true, false);
    case NST_OP_COND_INSTANCE_NORM_FORWARD:
        return instance_norm_shapes(ctx, op, params, false, true);
    case NST_OP_COND_INSTANCE_NORM_BACKWARD:
        return instance_norm_shapes(ctx, op, params, true, true);
    case NST_OP_DWCONV2D_FORWARD: {
        const nst_conv2d_params *p = params;
        NST__TRY(dwconv_shapes(ctx, op, p, "x", p->x, "y", p->y));
        return IF(p->b, DIMS1("b", p->b, p->w->shape[0]));
    }
    case NST_OP_DWCONV2D_BACKWARD_DATA: {
        const nst_conv2d_params *p = params;
        return dwconv_shapes(ctx, op, p, "dx", p->dx, "dy", p->dy);
    }
    case NST_OP_DWCONV2D_BACKWARD_FILTER: {
        const nst_conv2d_params *p = params;
        if (p->dw)
            NST__TRY(needed(ctx, op, "x", p->x, "the weight gradient needs the forward input"));
        if (!p->x) { /* db alone: dy (N, Ho, Wo, C) */
            NST__TRY(DIMS4("dy", p->dy, -1, -1, -1, p->w->ndim == 4 ? p->w->shape[0] : -1));
            return DIMS1("db", p->db, p->dy->shape[3]);
        }
        NST__TRY(dwconv_shapes(ctx, op, p, "x", p->x, "dy", p->dy));
        NST__TRY(IF(p->dw, SAME("dw", p->dw, p->w)));
        return IF(p->db, DIMS1("db", p->db, p->w->shape[0]));
    }
    case NST_OP_SIGMOID_FORWARD: {
        const nst_sigmoid_params *p = params;
        return SAME("y", p->y, p->x);
    }
    case NST_OP_SIGMOID_BACKWARD: {
        const nst_sigmoid_params *p = params;
        NST__TRY(SAME("dy", p->dy, p->y));
        return SAME("dx", p->dx, p->y);
    }
    case NST_OP_GLOBAL_AVG_POOL_FORWARD:
    case NST_OP_GLOBAL_AVG_POOL_BACKWARD: {
        const nst_global_avg_pool_params *p = params;
        const bool fwd = op_id == NST_OP_GLOBAL_AVG_POOL_FORWARD;
        const nst_tensor *in = fwd ? p->x : p->dx, *out = fwd ? p->y : p->dy;
        NST__TRY(ANY4(fwd ? "x" : "dx", in));
        const int64_t *s = in->shape;
        if (s[1] * s[2] == 0 && s[0] * s[3] > 0)
            return NST__ERR(ctx, NST_ERR_SHAPE, "op %s: %s has empty planes (H*W = 0)", op,
                            fwd ? "x" : "dx");
        return DIMS4(fwd ? "y" : "dy", out, s[0], 1, 1, s[3]);
    }
    case NST_OP_LINEAR_FORWARD:
        return linear_shapes(ctx, op, params, false);
    case NST_OP_LINEAR_BACKWARD:
        return linear_shapes(ctx, op, params, true);
    case NST_OP_ADD: {
        const nst_add_params *p = params;
        NST__TRY(SAME("b", p->b, p->a));
        return SAME("y", p->y, p->a);
    }
    case NST_OP_SCALE:
    case NST_OP_AXPY: {
        const nst_scale_params *p = params;
        return SAME("y", p->y, p->x);
    }
    case NST_OP_CLAMP: {
        const nst_clamp_params *p = params;
        if (!(p->lo <= p->hi))
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: lo %g must not exceed hi %g", op,
                            (double)p->lo, (double)p->hi);
        return SAME("y", p->y, p->x);
    }
    case NST_OP_REDUCE_SUM:
    case NST_OP_REDUCE_MEAN: {
        const nst_reduce_params *p = params;
        return DIMS1("y", p->y, 1);
    }
    case NST_OP_ADAM:
        return adam_rules(ctx, params);
    case NST_OP_AFFINE_GRID_FORWARD:
    case NST_OP_AFFINE_GRID_BACKWARD: {
        const nst_affine_grid_params *p = params;
        const bool fwd = op_id == NST_OP_AFFINE_GRID_FORWARD;
        const nst_tensor *theta = fwd ? p->theta : p->dtheta, *grid = fwd ? p->grid : p->dgrid;
        NST__TRY(DIMS3(fwd ? "theta" : "dtheta", theta, -1, 2, 3));
        return DIMS4(fwd ? "grid" : "dgrid", grid, theta->shape[0], -1, -1, 2);
    }
    case NST_OP_GRID_SAMPLE_FORWARD: {
        const nst_grid_sample_params *p = params;
        return grid_sample_shapes(ctx, op, p, "y", p->y);
    }
    case NST_OP_GRID_SAMPLE_BACKWARD: {
        const nst_grid_sample_params *p = params;
        NST__TRY(grid_sample_shapes(ctx, op, p, "dy", p->dy));
        NST__TRY(IF(p->dx, SAME("dx", p->dx, p->x)));
        return IF(p->dgrid, SAME("dgrid", p->dgrid, p->grid));
    }
    case NST_OP_GRAM_FORWARD: {
        const nst_gram_params *p = params;
        return gram_shapes(ctx, op, p->x, "g", p->g);
    }
    case NST_OP_GRAM_BACKWARD: {
        const nst_gram_params *p = params;
        NST__TRY(gram_shapes(ctx, op, p->x, "dg", p->dg));
        return SAME("dx", p->dx, p->x);
    }
    case NST_OP_MSE_FORWARD:
    case NST_OP_MSE_BACKWARD: {
        const nst_mse_params *p = params;
        NST__TRY(SAME("b", p->b, p->a));
        if (op_id == NST_OP_MSE_FORWARD)
            return DIMS1("loss", p->loss, 1);
        return SAME("da", p->da, p->a);
    }
    case NST_OP_TV_FORWARD: {
        const nst_tv_params *p = params;
        NST__TRY(ANY4("x", p->x));
        return DIMS1("loss", p->loss, 1);
    }
    case NST_OP_TV_BACKWARD: {
        const nst_tv_params *p = params;
        NST__TRY(ANY4("x", p->x));
        return SAME("dx", p->dx, p->x);
    }
    case NST_OP_RGB_TO_YUV:
    case NST_OP_YUV_TO_RGB: {
        const nst_colour_params *p = params;
        NST__TRY(DIMS4("x", p->x, -1, -1, -1, 3));
        return SAME("y", p->y, p->x);
    }
    case NST_OP_INPUT_CONVERT_FORWARD: {
        const nst_input_convert_params *p = params;
        NST__TRY(DIMS4("x", p->x, -1, -1, -1, 3));
        NST__TRY(SAME("y", p->y, p->x));
        return convert_scalars(ctx, op, p);
    }
    case NST_OP_INPUT_CONVERT_BACKWARD: {
        const nst_input_convert_params *p = params;
        NST__TRY(DIMS4("dy", p->dy, -1, -1, -1, 3));
        NST__TRY(SAME("dx", p->dx, p->dy));
        return convert_scalars(ctx, op, p);
    }
    default:
        return NST__ERR(ctx, NST_ERR_INTERNAL, "op %s has no shape rule", op);
    }
}

/* ---- the whole check ----------------------------------------------------------------------- */

static const char *backend_kind_name(nst_backend_kind k) {
    return k == NST_BACKEND_CPU ? "cpu" : k == NST_BACKEND_CUDA ? "cuda" : "?";
}

/* "x" or "slot 3 m" for a message. */
static const char *arg_label(const nst_op_arg *a, char *buf, size_t size) {
    if (a->slot < 0)
        return a->name;
    snprintf(buf, size, "%s of slot %d", a->name, a->slot);
    return buf;
}

nst_status nst__op_check(nst_ctx *ctx, nst_op op, const void *params, bool *nothing_to_do) {
    *nothing_to_do = false;
    if ((unsigned)op >= NST_OP_COUNT)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "unknown op %d", (int)op);
    const char *name = nst_op_get_info(op)->name;
    if (!params)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: params is NULL", name);
    nst_op_arg stack_args[NST__OP_ARGS_STACK], *args;
    const int n = nst__op_args_collect(ctx, op, params, stack_args, &args);
    if (n < 0)
        return NST_ERR_NO_MEMORY;
    bool any_output = false;
    for (int i = 0; i < n; i++)
        any_output |= args[i].role != NST_ARG_IN && (args[i].t || !args[i].optional);
    if (!any_output) { /* a backward op asked for no gradient, or Adam with no slots: whatever
                          * its inputs are, there is nothing to compute */
        nst__op_args_release(stack_args, args);
        *nothing_to_do = true;
        return NST_OK;
    }
    nst_status st = NST_OK;
    const bool recording = nst__recording(ctx);
    const nst_backend_kind kind = ctx->backend->kind;
    nst_dtype compute = NST_F32;
    bool have_compute = false;
    char lbuf[48];
    for (int i = 0; i < n && st == NST_OK; i++) {
        const nst_op_arg *a = &args[i];
        const char *arg = arg_label(a, lbuf, sizeof lbuf);
        if (!a->t) {
            if (!a->optional)
                st = NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s is missing", name, arg);
            continue;
        }
        const nst_tensor *t = a->t;
        if (t->ndim < 1 || t->ndim > NST_MAX_DIMS || (unsigned)t->dtype >= NST_DTYPE_COUNT) {
            st = NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s is malformed (ndim %d, "
                          "dtype %d)", name, arg, t->ndim, (int)t->dtype);
            break;
        }
        if (t->backend != kind) {
            st = NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s lives on %s, op runs on %s",
                          name, arg, backend_kind_name(t->backend), backend_kind_name(kind));
            break;
        }
        const bool planned = nst_tensor_plan_id(t) >= 0;
        if (!t->data && nst_tensor_numel(t) > 0 && !(recording && planned)) {
            st = NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s has no data%s", name, arg,
                          planned ? " (a planned tensor gets its memory in the pass that runs "
                                    "over the arena)" : "");
            break;
        }
        if (a->f32) {
            if (t->dtype != NST_F32)
                st = NST__ERR(ctx, NST_ERR_SHAPE, "op %s: tensor %s is %s; it must be F32",
                              name, arg, nst_dtype_name(t->dtype));
        } else if (!have_compute) {
            compute = t->dtype;
            have_compute = true;
        } else if (t->dtype != compute) {
            st = NST__ERR(ctx, NST_ERR_SHAPE,
                          "op %s: tensor %s is %s, but the op computes in %s (its first tensor's "
                          "dtype)", name, arg, nst_dtype_name(t->dtype), nst_dtype_name(compute));
        }
    }
    nst__op_args_release(stack_args, args);
    NST__TRY(st);
    NST__TRY(shapes_op(ctx, op, name, params));
    return ctx->backend->supports(ctx, op, params, compute);
}

nst_status nst_op_check(nst_ctx *ctx, nst_op op, const void *params) {
    bool nothing;
    return nst__op_check(ctx, op, params, &nothing);
}
