/* CPU nearest-neighbour upsampling by 2, forward and backward, NHWC.
 * Semantics: PyTorch nn.Upsample(scale_factor=2, mode="nearest"): y[n, h, w, c] =
 * x[n, h/2, w/2, c]; backward dx[n, h, w, c] = sum of the 2x2 block of dy it was copied to, added
 * in row-major order as PyTorch's CPU kernel does. dx is overwritten.
 * Tested by tests/test_cpu_upsample.c (naive loops, finite differences, PyTorch goldens in
 * tests/golden/nn_ops.safetensors). */
#include <string.h>

#include "cpu_ops.h"

/* Below this many output elements the work runs on one thread. */
#define UPSAMPLE_PARALLEL_MIN 32768

nst_status nst__cpu_upsample2x_forward(nst_ctx *ctx, const void *params) {
    const nst_upsample2x_params *p = params;
    const int64_t N = p->x->shape[0], H = p->x->shape[1], W = p->x->shape[2], C = p->x->shape[3];
    const float *x = p->x->data; // (N, H, W, C)
    float *y = p->y->data;       // (N, 2H, 2W, C)

    /* one input row per iteration: widen it into output row 2h, then copy that row to 2h + 1 */
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (4 * N * H * W * C > UPSAMPLE_PARALLEL_MIN)
    for (int64_t r = 0; r < N * H; r++) {
        const float *src = x + r * W * C; // (W, C)
        float *out0 = y + 2 * r * 2 * W * C; // (2W, C), row 2h of image n (= row 2r overall)
        for (int64_t w = 0; w < W; w++) {
            const float *s = src + w * C;
            float *o = out0 + 2 * w * C;
            for (int64_t k = 0; k < C; k++)
                o[k] = o[C + k] = s[k];
        }
        memcpy(out0 + 2 * W * C, out0, 2 * (size_t)(W * C) * sizeof *out0);
    }
    return NST_OK;
}

nst_status nst__cpu_upsample2x_backward(nst_ctx *ctx, const void *params) {
    const nst_upsample2x_params *p = params;
    const int64_t N = p->dx->shape[0], H = p->dx->shape[1], W = p->dx->shape[2];
    const int64_t C = p->dx->shape[3];
    const float *dy = p->dy->data; // (N, 2H, 2W, C)
    float *dx = p->dx->data;       // (N, H, W, C)
    const int64_t W2C = 2 * W * C;

#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (4 * N * H * W * C > UPSAMPLE_PARALLEL_MIN)
    for (int64_t r = 0; r < N * H; r++) {
        const float *g0 = dy + 2 * r * W2C; // (2W, C), output row 2h
        const float *g1 = g0 + W2C;         // (2W, C), output row 2h + 1
        float *d = dx + r * W * C;          // (W, C)
        for (int64_t w = 0; w < W; w++) {
            const float *a = g0 + 2 * w * C, *b = a + C, *c = g1 + 2 * w * C, *e = c + C;
            for (int64_t k = 0; k < C; k++)
                d[w * C + k] = ((a[k] + b[k]) + c[k]) + e[k];
        }
    }
    return NST_OK;
}
