/* CPU depthwise convolution, NHWC: forward, backward data, backward filter.
 * Semantics: PyTorch Conv2d(C, C, (KH, KW), stride, padding=pad, groups=C) (cross-correlation,
 * zero padding), weights (C, KH, KW, 1) = PyTorch's (C, 1, KH, KW) permuted as conv2d's are:
 *     y[n, i, j, c] = [relu](b[c] + sum_{u, v} x[n, i*s - pad + u, j*s - pad + v, c] w[c, u, v])
 * backward_data: dx = the transpose of that map applied to dy (overwritten);
 * backward_filter: dw[c, u, v] = sum_{n, i, j} dy[n, i, j, c] x[n, i*s - pad + u, ...],
 * db[c] = sum dy[..., c], overwritten or added to (`accumulate`). Sums run in double.
 * Direct loops (no im2col): each output pixel reads KH*KW*C inputs, channels innermost (the
 * forward keeps the sums of up to DW_BLOCK channels at once, each in the order above, so it
 * reads x contiguously), so the cost is the output size times the kernel area. Work is split by
 * image and output row; the filter gradient is reduced per channel in a fixed order, so
 * results do not depend on the thread count.
 * Tested by tests/test_cpu_dwconv2d.c (PyTorch float64 goldens in
 * tests/golden/light_ops.safetensors, central finite differences in double, a naive check). */
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"

#define DW_BLOCK 256 /* forward: channels summed together per output pixel */

typedef struct {
    int64_t N, H, W, C, KH, KW, Ho, Wo;
    int stride, pad;
} dw_dims;

static dw_dims dims_of(const nst_conv2d_params *p, const nst_tensor *in, const nst_tensor *out) {
    return (dw_dims){in->shape[0], in->shape[1], in->shape[2], in->shape[3], p->w->shape[1],
                     p->w->shape[2], out->shape[1], out->shape[2], p->stride, p->pad};
}

nst_status nst__cpu_dwconv2d_forward(nst_ctx *ctx, const void *params) {
    const nst_conv2d_params *p = params;
    const dw_dims d = dims_of(p, p->x, p->y);
    const float *x = p->x->data;                   // (N, H, W, C)
    const float *w = p->w->data;                   // (C, KH, KW, 1)
    const float *b = p->b ? p->b->data : NULL;     // (C)
    float *y = p->y->data;                         // (N, Ho, Wo, C)
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static)
    for (int64_t row = 0; row < d.N * d.Ho; row++) {
        const int64_t n = row / d.Ho, i = row % d.Ho;
        double acc[DW_BLOCK]; /* channels c0 .. c0 + nc - 1, summed in the order above */
        for (int64_t j = 0; j < d.Wo; j++) {
            float *py = y + ((n * d.Ho + i) * d.Wo + j) * d.C; // (C)
            for (int64_t c0 = 0; c0 < d.C; c0 += DW_BLOCK) {
                const int64_t nc = d.C - c0 < DW_BLOCK ? d.C - c0 : DW_BLOCK;
                for (int64_t c = 0; c < nc; c++)
                    acc[c] = b ? b[c0 + c] : 0.0;
                for (int64_t u = 0; u < d.KH; u++) {
                    const int64_t yy = i * d.stride - d.pad + u;
                    if (yy < 0 || yy >= d.H)
                        continue;
                    for (int64_t v = 0; v < d.KW; v++) {
                        const int64_t xx = j * d.stride - d.pad + v;
                        if (xx < 0 || xx >= d.W)
                            continue;
                        const float *px = x + ((n * d.H + yy) * d.W + xx) * d.C + c0;
                        const float *pw = w + (c0 * d.KH + u) * d.KW + v;
                        for (int64_t c = 0; c < nc; c++) /* channels innermost: x contiguous */
                            acc[c] += (double)px[c] * pw[c * d.KH * d.KW];
                    }
                }
                for (int64_t c = 0; c < nc; c++) {
                    const float r = (float)acc[c];
                    py[c0 + c] = p->relu && r < 0.0f ? 0.0f : r;
                }
            }
        }
    }
    return NST_OK;
}

/* dx[n, yy, xx, c] = sum over the (i, u) with i*s - pad + u = yy (and likewise j, v) of
 * dy[n, i, j, c] w[c, u, v]: each input pixel gathers its own terms, so no writes collide. */
nst_status nst__cpu_dwconv2d_backward_data(nst_ctx *ctx, const void *params) {
    const nst_conv2d_params *p = params;
    const dw_dims d = dims_of(p, p->dx, p->dy);
    const float *dy = p->dy->data; // (N, Ho, Wo, C)
    const float *w = p->w->data;   // (C, KH, KW, 1)
    float *dx = p->dx->data;       // (N, H, W, C)
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static)
    for (int64_t row = 0; row < d.N * d.H; row++) {
        const int64_t n = row / d.H, yy = row % d.H;
        for (int64_t xx = 0; xx < d.W; xx++) {
            float *px = dx + ((n * d.H + yy) * d.W + xx) * d.C; // (C)
            for (int64_t c = 0; c < d.C; c++) {
                double acc = 0.0;
                for (int64_t u = 0; u < d.KH; u++) {
                    const int64_t t = yy + d.pad - u; /* = i * stride */
                    if (t < 0 || t % d.stride != 0 || t / d.stride >= d.Ho)
                        continue;
                    const int64_t i = t / d.stride;
                    for (int64_t v = 0; v < d.KW; v++) {
                        const int64_t q = xx + d.pad - v;
                        if (q < 0 || q % d.stride != 0 || q / d.stride >= d.Wo)
                            continue;
                        const int64_t j = q / d.stride;
                        acc += (double)dy[((n * d.Ho + i) * d.Wo + j) * d.C + c] *
                               w[(c * d.KH + u) * d.KW + v];
                    }
                }
                px[c] = (float)acc;
            }
        }
    }
    return NST_OK;
}

/* Each channel's KH*KW weight gradients and its bias gradient are one work item, summed over
 * images and output pixels in memory order. */
nst_status nst__cpu_dwconv2d_backward_filter(nst_ctx *ctx, const void *params) {
    const nst_conv2d_params *p = params;
    const int64_t N = p->dy->shape[0], Ho = p->dy->shape[1], Wo = p->dy->shape[2];
    const int64_t C = p->dy->shape[3];
    const float *dy = p->dy->data; // (N, Ho, Wo, C)
    float *db = p->db ? p->db->data : NULL; // (C)
    if (db) {
        for (int64_t c = 0; c < C; c++) {
            double s = 0.0;
            for (int64_t k = 0; k < N * Ho * Wo; k++)
                s += dy[k * C + c];
            db[c] = (float)(p->accumulate ? db[c] + s : s);
        }
    }
    if (!p->dw)
        return NST_OK;
    const dw_dims d = dims_of(p, p->x, p->dy);
    const float *x = p->x->data; // (N, H, W, C)
    float *dw = p->dw->data;     // (C, KH, KW, 1)
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) collapse(2)
    for (int64_t c = 0; c < d.C; c++) {
        for (int64_t uv = 0; uv < d.KH * d.KW; uv++) {
            const int64_t u = uv / d.KW, v = uv % d.KW;
            double s = 0.0;
            for (int64_t n = 0; n < d.N; n++) {
                for (int64_t i = 0; i < d.Ho; i++) {
                    const int64_t yy = i * d.stride - d.pad + u;
                    if (yy < 0 || yy >= d.H)
                        continue;
                    for (int64_t j = 0; j < d.Wo; j++) {
                        const int64_t xx = j * d.stride - d.pad + v;
                        if (xx < 0 || xx >= d.W)
                            continue;
                        s += (double)dy[((n * d.Ho + i) * d.Wo + j) * d.C + c] *
                             x[((n * d.H + yy) * d.W + xx) * d.C + c];
                    }
                }
            }
            float *o = dw + c * d.KH * d.KW + uv;
            *o = (float)(p->accumulate ? *o + s : s);
        }
    }
    return NST_OK;
}
