/* CPU sigmoid, forward and backward, elementwise over F32 tensors of any rank.
 * Semantics: torch.sigmoid and its backward: y = 1 / (1 + exp(-x)) (NaN stays NaN; large |x|
 * saturates to 0 or 1 without overflow), dx = dy * y * (1 - y) from the forward output y.
 * Computed in double and rounded once. dx is overwritten (may alias dy).
 * Tested by tests/test_cpu_sigmoid.c (PyTorch float64 goldens in
 * tests/golden/light_ops.safetensors, central finite differences in double). */
#include <math.h>

#include "cpu_ops.h"

#define SIGMOID_PARALLEL_MIN 65536

nst_status nst__cpu_sigmoid_forward(nst_ctx *ctx, const void *params) {
    const nst_sigmoid_params *p = params;
    const float *x = p->x->data; // any shape
    float *y = p->y->data;       // same shape (may alias x)
    const int64_t n = nst_tensor_numel(p->x);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > SIGMOID_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i];
        /* the form whose exp never overflows */
        y[i] = (float)(v >= 0.0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v)));
    }
    return NST_OK;
}

nst_status nst__cpu_sigmoid_backward(nst_ctx *ctx, const void *params) {
    const nst_sigmoid_params *p = params;
    const float *y = p->y->data;   // forward output
    const float *dy = p->dy->data; // same shape
    float *dx = p->dx->data;       // same shape (may alias dy)
    const int64_t n = nst_tensor_numel(p->y);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > SIGMOID_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        dx[i] = (float)((double)dy[i] * y[i] * (1.0 - (double)y[i]));
    return NST_OK;
}
