/* CPU colour ops: RGB <-> YUV and the input-convention conversion (forward and backward).
 *
 * YUV is BT.601 exactly as scikit-image's rgb2yuv / yuv2rgb (skimage/color/colorconv.py):
 * yuv = M rgb with M = yuv_from_rgb below, and rgb = inv(M) yuv with inv(M) computed as skimage
 * does (numpy.linalg.inv in double) and written out to full double precision, so a round trip
 * returns the input to within rounding. Both are applied in double, stored as float.
 *
 * Input conversion (the optimised RGB [0, 1] image to a network's input convention, see
 * nst_input_convert_params_for() in src/host/ops.c):
 *   forward   y[c] = (x[s(c)] * mul - mean[c]) / std[c],   s(c) = swap_rb ? 2 - c : c
 *   backward  dx[s(c)] = dy[c] * mul / std[c]               (+= when accumulate)
 * The forward is evaluated in double (255 x - 123.68 cancels), stored as float.
 *
 * Tested by tests/test_cpu_colour.c (naive loops, round trip, finite differences, skimage and
 * PyTorch goldens). */
#include <math.h>

#include "cpu_ops.h"

/* skimage.color.colorconv.yuv_from_rgb */
static const double yuv_from_rgb[3][3] = {
    {0.299, 0.587, 0.114},
    {-0.14714119, -0.28886916, 0.43601035},
    {0.61497538, -0.51496512, -0.10001026},
};

/* skimage.color.colorconv.rgb_from_yuv = numpy.linalg.inv(yuv_from_rgb), every digit kept */
static const double rgb_from_yuv[3][3] = {
    {1.0000000000000002, -4.182779605511789e-09, 1.1398830297637945},
    {1.0, -0.3946423339441288, -0.5806218496761879},
    {1.0000000000000002, 2.0320618532969705, -1.2232658219701875e-09},
};

static nst_status colour_3x3(nst_ctx *ctx, const nst_colour_params *p,
                             const double m[3][3]) {
    const float *x = p->x->data; // (N, H, W, 3)
    float *y = p->y->data;       // (N, H, W, 3)
    const int64_t pixels = nst_tensor_numel(p->x) / 3;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (pixels > 65536)
    for (int64_t i = 0; i < pixels; i++) {
        const double a = x[3 * i], b = x[3 * i + 1], c = x[3 * i + 2];
        const double r0 = m[0][0] * a + m[0][1] * b + m[0][2] * c;
        const double r1 = m[1][0] * a + m[1][1] * b + m[1][2] * c;
        const double r2 = m[2][0] * a + m[2][1] * b + m[2][2] * c;
        y[3 * i] = (float)r0; /* after all reads: y may alias x */
        y[3 * i + 1] = (float)r1;
        y[3 * i + 2] = (float)r2;
    }
    return NST_OK;
}

nst_status nst__cpu_rgb_to_yuv(nst_ctx *ctx, const void *params) {
    return colour_3x3(ctx, params, yuv_from_rgb);
}

nst_status nst__cpu_yuv_to_rgb(nst_ctx *ctx, const void *params) {
    return colour_3x3(ctx, params, rgb_from_yuv);
}

nst_status nst__cpu_input_convert_forward(nst_ctx *ctx, const void *params) {
    const nst_input_convert_params *p = params;
    const float *x = p->x->data; // (N, H, W, 3) RGB [0, 1]
    float *y = p->y->data;       // (N, H, W, 3) network convention
    const int64_t pixels = nst_tensor_numel(p->x) / 3;
    const int s0 = p->swap_rb ? 2 : 0, s2 = p->swap_rb ? 0 : 2;
    const double mul = p->mul;
    const double m0 = p->mean[0], m1 = p->mean[1], m2 = p->mean[2];
    const double d0 = p->std[0], d1 = p->std[1], d2 = p->std[2];
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (pixels > 65536)
    for (int64_t i = 0; i < pixels; i++) {
        const float *xi = x + 3 * i;
        const double a = xi[s0], b = xi[1], c = xi[s2];
        float *yi = y + 3 * i; /* written after the reads: y may alias x */
        yi[0] = (float)((a * mul - m0) / d0);
        yi[1] = (float)((b * mul - m1) / d1);
        yi[2] = (float)((c * mul - m2) / d2);
    }
    return NST_OK;
}

nst_status nst__cpu_input_convert_backward(nst_ctx *ctx, const void *params) {
    const nst_input_convert_params *p = params;
    if (!p->dx)
        return NST_OK;
    const float *dy = p->dy->data; // (N, H, W, 3) network convention
    float *dx = p->dx->data;       // (N, H, W, 3) RGB
    const int64_t pixels = nst_tensor_numel(p->dy) / 3;
    const int s0 = p->swap_rb ? 2 : 0, s2 = p->swap_rb ? 0 : 2;
    const float k0 = p->mul / p->std[0], k1 = p->mul / p->std[1], k2 = p->mul / p->std[2];
    const bool acc = p->accumulate;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (pixels > 65536)
    for (int64_t i = 0; i < pixels; i++) {
        const float g0 = dy[3 * i] * k0, g1 = dy[3 * i + 1] * k1, g2 = dy[3 * i + 2] * k2;
        float *di = dx + 3 * i;
        di[s0] = acc ? di[s0] + g0 : g0;
        di[1] = acc ? di[1] + g1 : g1;
        di[s2] = acc ? di[s2] + g2 : g2;
    }
    return NST_OK;
}
