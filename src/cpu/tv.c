/* CPU total-variation loss, forward and backward.
 *
 * Semantics (squared, anisotropic TV as used for style transfer), x (N, H, W, C):
 *   TV = ( sum (x[n, h+1, w, c] - x[n, h, w, c])^2 + sum (x[n, h, w+1, c] - x[n, h, w, c])^2 )
 *        / (N*H*W)
 * i.e. in PyTorch `((x[:, 1:] - x[:, :-1])**2).sum() + ((x[:, :, 1:] - x[:, :, :-1])**2).sum()`
 * over NHWC, divided by the pixel count (not by the channel count). The sum is accumulated in
 * double, row by row within TV_BLOCKS contiguous blocks of rows whose sums are added in block
 * order, so the loss has the same bits whatever the thread count. Backward: dx = scale * dTV/dx, i.e. for each element
 *   2 scale / (N*H*W) * ( (x - up) + (x - left) - (down - x) - (right - x) )
 * with the terms of missing neighbours left out; accumulate adds to dx.
 *
 * Tested by tests/test_cpu_tv.c (naive double loops, finite differences, PyTorch goldens). */
#include <math.h>

#include "cpu_ops.h"

#define TV_BLOCKS 256

nst_status nst__cpu_tv_forward(nst_ctx *ctx, const void *params) {
    const nst_tv_params *p = params;
    const int64_t n = p->x->shape[0], h = p->x->shape[1], w = p->x->shape[2];
    const int64_t c = p->x->shape[3];
    const int64_t row = w * c, rows = n * h;
    const float *x = p->x->data; // (N, H, W, C)
    const int64_t block = (rows + TV_BLOCKS - 1) / TV_BLOCKS;
    double part[TV_BLOCKS];
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (rows * row > 65536)
    for (int k = 0; k < TV_BLOCKS; k++) {
        const int64_t lo = k * block, hi = lo + block < rows ? lo + block : rows;
        double s = 0.0;
        for (int64_t r = lo; r < hi; r++) {
            const float *xr = x + r * row;
            const bool has_down = (r % h) + 1 < h;
            for (int64_t i = 0; i < row; i++) {
                if (has_down) {
                    const double dv = (double)xr[i + row] - (double)xr[i];
                    s += dv * dv;
                }
                if (i + c < row) {
                    const double dh = (double)xr[i + c] - (double)xr[i];
                    s += dh * dh;
                }
            }
        }
        part[k] = s;
    }
    double sum = 0.0;
    for (int k = 0; k < TV_BLOCKS; k++)
        sum += part[k];
    const int64_t pixels = n * h * w;
    *(float *)p->loss->data = pixels > 0 ? (float)(sum / (double)pixels) : NAN;
    return NST_OK;
}

nst_status nst__cpu_tv_backward(nst_ctx *ctx, const void *params) {
    const nst_tv_params *p = params;
    if (!p->dx)
        return NST_OK;
    const int64_t n = p->x->shape[0], h = p->x->shape[1], w = p->x->shape[2];
    const int64_t c = p->x->shape[3];
    const int64_t row = w * c, rows = n * h, pixels = n * h * w;
    if (pixels == 0)
        return NST_OK;
    const float k = (float)(2.0 * (double)p->scale / (double)pixels);
    const bool acc = p->accumulate;
    const float *x = p->x->data; // (N, H, W, C)
    float *dx = p->dx->data;     // (N, H, W, C)
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (rows * row > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * row;
        float *dr = dx + r * row;
        const bool has_up = r % h > 0, has_down = (r % h) + 1 < h;
        for (int64_t i = 0; i < row; i++) {
            const float v = xr[i];
            float d = 0.0f;
            if (has_up)
                d += v - xr[i - row];
            if (has_down)
                d -= xr[i + row] - v;
            if (i >= c)
                d += v - xr[i - c];
            if (i + c < row)
                d -= xr[i + c] - v;
            dr[i] = acc ? dr[i] + k * d : k * d;
        }
    }
    return NST_OK;
}
