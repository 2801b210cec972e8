/* CPU linear (fully connected) forward and backward.
 *
 * Semantics: PyTorch nn.Linear / F.linear, y = [relu](x w^T + b) with x (N, IN), w (OUT, IN),
 * b (OUT). Backward: dx = dy w (always overwritten), dw = dy^T x and db = sum_n dy
 * (+= when accumulate); a NULL output is skipped. ReLU applies to the forward only.
 *
 * A linear layer is a 1x1, stride-1, pad-0 convolution of a 1x1 image: the dispatch checks the
 * arguments (messages name the linear op), then the tensors are viewed as (N, 1, 1, IN),
 * (OUT, 1, 1, IN) and (N, 1, 1, OUT) and handed to the conv2d GEMM path in conv2d.c, which needs
 * no column buffer for this shape.
 *
 * Tested by tests/test_cpu_linear.c (naive loops, finite differences, PyTorch goldens).
 */
#include <string.h>

#include "cpu_ops.h"

/* The same data seen as an NHWC image of one pixel: (d0, d1) -> (d0, 1, 1, d1). */
static nst_tensor as_pixel(const nst_tensor *t) {
    return nst_tensor_nhwc(t->dtype, t->backend, t->data, t->shape[0], 1, 1, t->shape[1]);
}

/* The conv2d views of a linear op's tensors: each (d0, d1) tensor as (d0, 1, 1, d1). */
typedef struct {
    nst_tensor x, w, y, dy, dx, dw;
    nst_conv2d_params c;
} conv_view;

static void view_as_conv(const nst_linear_params *p, conv_view *v) {
    memset(v, 0, sizeof *v);
    v->c = (nst_conv2d_params){.b = p->b, .db = p->db, .stride = 1, .pad = 0, .relu = p->relu,
                               .accumulate = p->accumulate};
#define VIEW(field)                       \
    if (p->field) {                       \
        v->field = as_pixel(p->field);    \
        v->c.field = &v->field;           \
    }
    VIEW(x) VIEW(w) VIEW(y) VIEW(dy) VIEW(dx) VIEW(dw)
#undef VIEW
}

size_t nst__cpu_linear_scratch(nst_ctx *ctx, nst_op op, const void *params) {
    conv_view v;
    view_as_conv(params, &v);
    if (op == NST_OP_LINEAR_FORWARD)
        return nst__cpu_conv2d_scratch(ctx, NST_OP_CONV2D_FORWARD, &v.c);
    size_t bytes = 0;
    if (v.c.dx)
        bytes += nst__cpu_conv2d_scratch(ctx, NST_OP_CONV2D_BACKWARD_DATA, &v.c);
    if (v.c.dw || v.c.db)
        bytes += nst__cpu_conv2d_scratch(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &v.c);
    return bytes;
}

nst_status nst__cpu_linear_forward(nst_ctx *ctx, const void *params) {
    conv_view v;
    view_as_conv(params, &v);
    return nst__cpu_conv2d_forward(ctx, &v.c);
}

nst_status nst__cpu_linear_backward(nst_ctx *ctx, const void *params) {
    conv_view v;
    view_as_conv(params, &v);
    if (v.c.dx)
        NST__TRY(nst__cpu_conv2d_backward_data(ctx, &v.c));
    if (v.c.dw || v.c.db)
        NST__TRY(nst__cpu_conv2d_backward_filter(ctx, &v.c));
    return NST_OK;
}
