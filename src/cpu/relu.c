/* CPU ReLU, forward and backward, elementwise over F32 tensors of any rank.
 * Semantics: PyTorch F.relu / threshold_backward. forward y = max(x, 0) with NaN passed through;
 * backward dx = x > 0 ? dy : 0, where x may be the forward input or its output (same mask).
 * dx is overwritten. Tested by tests/test_cpu_relu.c (naive loops, finite differences). */
#include "cpu_ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define RELU_PARALLEL_MIN 65536

nst_status nst__cpu_relu_forward(nst_ctx *ctx, const void *params) {
    const nst_relu_params *p = params;
    const float *x = p->x->data; // any shape
    float *y = p->y->data;       // same shape as x (may alias x)
    const int64_t n = nst_tensor_numel(p->x);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > RELU_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN < 0 is false: NaN propagates as in PyTorch */
    return NST_OK;
}

nst_status nst__cpu_relu_backward(nst_ctx *ctx, const void *params) {
    const nst_relu_params *p = params;
    const float *x = p->x->data;   // forward input or output
    const float *dy = p->dy->data; // same shape
    float *dx = p->dx->data;       // same shape (may alias dy)
    const int64_t n = nst_tensor_numel(p->x);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > RELU_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float g = dy[i]; /* loaded unconditionally, so the select needs no branch */
        dx[i] = x[i] > 0.0f ? g : 0.0f;
    }
    return NST_OK;
}
