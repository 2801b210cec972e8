/* CPU global average pooling, forward and backward, NHWC.
 * Semantics: PyTorch x.mean(dim=(2, 3), keepdim=True) (= AdaptiveAvgPool2d(1)):
 * y[n, 0, 0, c] = sum over H*W pixels of x[n, :, :, c] / (H*W), summed in double in memory order;
 * backward dx[n, h, w, c] = dy[n, 0, 0, c] / (H*W), dx overwritten.
 * Tested by tests/test_cpu_global_pool.c (PyTorch float64 goldens in
 * tests/golden/light_ops.safetensors, central finite differences in double). */
#include <stdlib.h>

#include "cpu_ops.h"

nst_status nst__cpu_global_avg_pool_forward(nst_ctx *ctx, const void *params) {
    const nst_global_avg_pool_params *p = params;
    const int64_t N = p->x->shape[0], M = p->x->shape[1] * p->x->shape[2], C = p->x->shape[3];
    const float *x = p->x->data; // (N, H, W, C)
    float *y = p->y->data;       // (N, 1, 1, C)
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (N * C > 64)
    for (int64_t nc = 0; nc < N * C; nc++) {
        const int64_t n = nc / C, c = nc % C;
        double s = 0.0;
        for (int64_t q = 0; q < M; q++)
            s += x[(n * M + q) * C + c];
        y[nc] = (float)(s / (double)M);
    }
    return NST_OK;
}

nst_status nst__cpu_global_avg_pool_backward(nst_ctx *ctx, const void *params) {
    const nst_global_avg_pool_params *p = params;
    const int64_t N = p->dx->shape[0], M = p->dx->shape[1] * p->dx->shape[2];
    const int64_t C = p->dx->shape[3];
    const float *dy = p->dy->data; // (N, 1, 1, C)
    float *dx = p->dx->data;       // (N, H, W, C)
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (N * M * C > 65536)
    for (int64_t k = 0; k < N * M; k++) {
        const int64_t n = k / M;
        for (int64_t c = 0; c < C; c++)
            dx[k * C + c] = (float)((double)dy[n * C + c] / (double)M);
    }
    return NST_OK;
}
