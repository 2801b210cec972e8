/* CPU mean squared error loss, forward and backward.
 *
 * Semantics: PyTorch F.mse_loss(a, b, reduction="mean"): loss = mean((a - b)^2) over all
 * elements (the sum is accumulated in double over MSE_BLOCKS contiguous blocks added in block
 * order, so the loss has the same bits whatever the thread count). Backward gives the gradient to a only:
 * da = scale * 2 (a - b) / numel, added to da when accumulate is set; b is a constant target
 * (the gradient to b would be -da). a and b have the same shape, any rank; loss is shape (1).
 *
 * Tested by tests/test_cpu_mse.c (naive double loops, finite differences, PyTorch goldens). */
#include <math.h>

#include "cpu_ops.h"

#define MSE_BLOCKS 256

nst_status nst__cpu_mse_forward(nst_ctx *ctx, const void *params) {
    const nst_mse_params *p = params;
    const float *a = p->a->data, *b = p->b->data;
    const int64_t n = nst_tensor_numel(p->a);
    const int64_t block = (n + MSE_BLOCKS - 1) / MSE_BLOCKS;
    double part[MSE_BLOCKS];
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (n > 65536)
    for (int k = 0; k < MSE_BLOCKS; k++) {
        const int64_t lo = k * block, hi = lo + block < n ? lo + block : n;
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++) {
            const double d = (double)a[i] - (double)b[i];
            s += d * d;
        }
        part[k] = s;
    }
    double sum = 0.0;
    for (int k = 0; k < MSE_BLOCKS; k++)
        sum += part[k];
    /* mean of nothing is NaN, as in PyTorch */
    *(float *)p->loss->data = n > 0 ? (float)(sum / (double)n) : NAN;
    return NST_OK;
}

nst_status nst__cpu_mse_backward(nst_ctx *ctx, const void *params) {
    const nst_mse_params *p = params;
    if (!p->da)
        return NST_OK;
    const float *a = p->a->data, *b = p->b->data;
    float *da = p->da->data;
    const int64_t n = nst_tensor_numel(p->a);
    if (n == 0)
        return NST_OK;
    const float k = (float)(2.0 * (double)p->scale / (double)n);
    const bool acc = p->accumulate;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float g = k * (a[i] - b[i]);
        da[i] = acc ? da[i] + g : g;
    }
    return NST_OK;
}
