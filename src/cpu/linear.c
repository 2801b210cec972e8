/* CPU linear (fully connected) forward and backward.
 *
 * Semantics: PyTorch nn.Linear / F.linear, y = [relu](x w^T + b) with x (N, IN), w (OUT, IN),
 * b (OUT). Backward: dx = dy w (always overwritten), dw = dy^T x and db = sum_n dy
 * (+= when accumulate); a NULL output is skipped. ReLU applies to the forward only.
 *
 * A linear layer is a 1x1, stride-1, pad-0 convolution of a 1x1 image: the arguments are checked
 * here (messages name the linear op), then the tensors are viewed as (N, 1, 1, IN),
 * (OUT, 1, 1, IN) and (N, 1, 1, OUT) and handed to the conv2d GEMM path in conv2d.c, which needs
 * no column buffer for this shape.
 *
 * Tested by tests/test_cpu_linear.c (naive loops, finite differences, PyTorch goldens).
 */
#include "cpu_ops.h"

/* The same data seen as an NHWC image of one pixel: (d0, d1) -> (d0, 1, 1, d1). */
static nst_tensor as_pixel(const nst_tensor *t) {
    return nst_tensor_nhwc(t->dtype, t->backend, t->data, t->shape[0], 1, 1, t->shape[1]);
}

nst_status nst__cpu_linear_forward(nst_ctx *ctx, const void *params) {
    static const char op[] = "linear_forward";
    const nst_linear_params *p = params;
    NST__TRY(NST__CHECK2(ctx, op, "x", p->x, NST_BACKEND_CPU, -1, -1));
    NST__TRY(NST__CHECK2(ctx, op, "w", p->w, NST_BACKEND_CPU, -1, p->x->shape[1]));
    const int64_t n = p->x->shape[0], in = p->x->shape[1], out = p->w->shape[0];
    if (in < 1 || out < 1)
        return NST__ERR(ctx, NST_ERR_SHAPE, "op %s: IN = %lld and OUT = %lld must be >= 1", op,
                        (long long)in, (long long)out);
    NST__TRY(NST__CHECK2(ctx, op, "y", p->y, NST_BACKEND_CPU, n, out));
    if (p->b)
        NST__TRY(NST__CHECK1(ctx, op, "b", p->b, NST_BACKEND_CPU, out));
    nst_tensor x4 = as_pixel(p->x), w4 = as_pixel(p->w), y4 = as_pixel(p->y);
    nst_conv2d_params c = {.x = &x4, .w = &w4, .b = p->b, .y = &y4, .stride = 1, .pad = 0,
                           .relu = p->relu};
    return nst__cpu_conv2d_forward(ctx, &c);
}

nst_status nst__cpu_linear_backward(nst_ctx *ctx, const void *params) {
    static const char op[] = "linear_backward";
    const nst_linear_params *p = params;
    if (!p->dx && !p->dw && !p->db)
        return NST_OK; /* nothing needed */
    NST__TRY(NST__CHECK2(ctx, op, "dy", p->dy, NST_BACKEND_CPU, -1, -1));
    const int64_t n = p->dy->shape[0], out = p->dy->shape[1];
    NST__TRY(NST__CHECK2(ctx, op, "w", p->w, NST_BACKEND_CPU, out, -1));
    const int64_t in = p->w->shape[1];
    if (in < 1 || out < 1)
        return NST__ERR(ctx, NST_ERR_SHAPE, "op %s: IN = %lld and OUT = %lld must be >= 1", op,
                        (long long)in, (long long)out);
    if (p->dx)
        NST__TRY(NST__CHECK2(ctx, op, "dx", p->dx, NST_BACKEND_CPU, n, in));
    if (p->dw || p->db)
        NST__TRY(NST__CHECK2(ctx, op, "x", p->x, NST_BACKEND_CPU, n, in));
    if (p->dw)
        NST__TRY(NST__CHECK2(ctx, op, "dw", p->dw, NST_BACKEND_CPU, out, in));
    if (p->db)
        NST__TRY(NST__CHECK1(ctx, op, "db", p->db, NST_BACKEND_CPU, out));
    nst_tensor w4 = as_pixel(p->w), dy4 = as_pixel(p->dy), x4, dx4, dw4;
    nst_conv2d_params c = {.w = &w4, .dy = &dy4, .b = p->b, .db = p->db, .stride = 1, .pad = 0,
                           .accumulate = p->accumulate};
    if (p->dx) {
        dx4 = as_pixel(p->dx);
        c.dx = &dx4;
        NST__TRY(nst__cpu_conv2d_backward_data(ctx, &c));
    }
    if (p->dw || p->db) {
        x4 = as_pixel(p->x);
        c.x = &x4;
        if (p->dw) {
            dw4 = as_pixel(p->dw);
            c.dw = &dw4;
        }
        NST__TRY(nst__cpu_conv2d_backward_filter(ctx, &c));
    }
    return NST_OK;
}
