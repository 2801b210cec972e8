/* Per-element math of the spatial-transformer ops: affine grid base coordinates, grid
 * unnormalisation, border clipping, reflection, the four bilinear corners, and one output pixel
 * of bilinear grid sampling forward and backward.
 *
 * Semantics: PyTorch F.affine_grid(theta, size, align_corners) and
 * F.grid_sample(x, grid, mode="bilinear", padding_mode, align_corners), following ATen's
 * GridSampler.h (grid_sampler_unnormalize_set_grad, clip_coordinates_set_grad,
 * reflect_coordinates_set_grad, grid_sampler_compute_source_index_set_grad) and the bilinear
 * forward/backward of its generic kernels, step by step in float, so results match PyTorch's
 * float32 kernels to rounding and take the same branch on every border. Points exactly on a
 * clip or reflection border get a zero gradient multiplier, as in ATen.
 *
 * Every function is marked NST_HD (empty for C) so the CUDA kernels can compile the same code as
 * __host__ __device__ and keep identical semantics: each operation here rounds once, as written
 * (C11 in ISO mode does not contract a*b + c), and the kernel sources that include this header
 * are compiled with -fmad=false so that nvcc does not fuse them either (tests/ptx/ checks their
 * PTX; tests/emul/emul_rounding.c shows a border point that one fused rounding moves). Loops
 * live in src/cpu/affine_grid.c and src/cpu/grid_sample.c. Tested by
 * tests/test_cpu_grid_sample.c and tests/test_cpu_affine_grid.c (PyTorch goldens, finite
 * differences). */
#ifndef NSTYLE_GRID_MATH_H
#define NSTYLE_GRID_MATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "nstyle/ops.h"

#ifndef NST_HD
#define NST_HD
#endif

/* How backward adds into dx: a plain += on the CPU (each thread owns whole images there); the
 * CUDA kernels define it as atomicAdd before including this header. */
#ifndef NST_GRID_ADD
#define NST_GRID_ADD(ptr, v) (*(ptr) += (v))
#endif

/* ---- affine grid ------------------------------------------------------------------------- */

/* Base coordinate of step i of `size` (ATen's linspace_from_neg_one): linspace(-1, 1, size) with
 * align_corners, else (2i + 1) / size - 1; 0 when size == 1. Computed in double, rounded once. */
NST_HD static inline float nst__affine_base(int64_t i, int64_t size, bool align_corners) {
    if (size <= 1)
        return 0.0f;
    double num = (double)(2 * i - (size - 1));
    return (float)(align_corners ? num / (double)(size - 1) : num / (double)size);
}

/* ---- coordinate transforms (ATen GridSampler.h) -------------------------------------------- */

/* [-1, 1] -> pixel index; *mult = d(index)/d(coord).
 * align_corners: -1 and 1 are the centres of the corner pixels, else their outer edges. */
NST_HD static inline float nst__grid_unnormalize(float coord, int size, bool align_corners,
                                                 float *mult) {
    if (align_corners) {
        *mult = (float)(size - 1) / 2;
        return ((coord + 1) / 2) * (float)(size - 1);
    }
    *mult = (float)size / 2;
    return ((coord + 1) * (float)size - 1) / 2;
}

/* Clips to [0, size - 1]; *mult = 1 strictly inside, 0 on or beyond a border. */
NST_HD static inline float nst__grid_clip(float in, int size, float *mult) {
    if (in <= 0.0f) {
        *mult = 0.0f;
        return 0.0f;
    }
    float max = (float)(size - 1);
    if (in >= max) {
        *mult = 0.0f;
        return max;
    }
    *mult = 1.0f;
    return in;
}

/* Reflects `in` until it falls in [twice_low / 2, twice_high / 2]; *mult = +-1 (0 when the span
 * is empty). The parity of the flip count is taken in float so huge coordinates stay defined;
 * for every coordinate ATen's int cast can hold, it is ATen's parity. */
NST_HD static inline float nst__grid_reflect(float in, int twice_low, int twice_high,
                                             float *mult) {
    if (twice_low == twice_high) {
        *mult = 0.0f;
        return 0.0f;
    }
    float min = (float)twice_low / 2;
    float span = (float)(twice_high - twice_low) / 2;
    float sign = 1.0f;
    in = in - min;
    if (in < 0.0f) {
        sign = -1.0f;
        in = -in;
    }
    float extra = fmodf(in, span);
    float flips = floorf(in / span);
    if (fmodf(flips, 2.0f) == 0.0f) {
        *mult = sign;
        return extra + min;
    }
    *mult = -sign;
    return span - extra + min;
}

/* Grid coordinate -> source pixel coordinate under the padding mode; *mult = d(source)/d(coord)
 * (ATen's grid_sampler_compute_source_index_set_grad). */
NST_HD static inline float nst__grid_source_index(float coord, int size, int padding,
                                                  bool align_corners, float *mult) {
    float m, m_clip, m_refl;
    float ix = nst__grid_unnormalize(coord, size, align_corners, &m);
    if (padding == NST_PAD_BORDER) {
        ix = nst__grid_clip(ix, size, &m_clip);
        m = m * m_clip;
    } else if (padding == NST_PAD_REFLECTION) {
        if (align_corners)
            ix = nst__grid_reflect(ix, 0, 2 * (size - 1), &m_refl);
        else
            ix = nst__grid_reflect(ix, -1, 2 * size - 1, &m_refl);
        ix = nst__grid_clip(ix, size, &m_clip);
        m = m * m_refl * m_clip;
    }
    *mult = m;
    return ix;
}

/* ---- bilinear corners ---------------------------------------------------------------------- */

/* The four neighbours of source point (ix, iy), in the order nw, ne, sw, se. */
typedef struct {
    float weight[4];  /* bilinear weights */
    int64_t pixel[4]; /* y * W + x of each corner; meaningful only where inside[k] */
    bool inside[4];   /* corner lies in the image (zeros padding reads 0 elsewhere) */
    float dist_w, dist_e, dist_n, dist_s; /* ix - x0, x0 + 1 - ix, iy - y0, y0 + 1 - iy */
} nst__bilinear;

NST_HD static inline nst__bilinear nst__bilinear_corners(float ix, float iy, int H, int W) {
    /* Coordinates far outside (zeros padding) are pulled to just outside the image first: every
     * corner stays outside, so nothing changes, and the integer conversion stays defined. */
    ix = fminf(fmaxf(ix, -2.0f), (float)W + 1.0f);
    iy = fminf(fmaxf(iy, -2.0f), (float)H + 1.0f);
    float x0f = floorf(ix), y0f = floorf(iy);
    int x0 = (int)x0f, y0 = (int)y0f;
    nst__bilinear b;
    b.dist_w = ix - x0f;
    b.dist_e = (x0f + 1) - ix;
    b.dist_n = iy - y0f;
    b.dist_s = (y0f + 1) - iy;
    b.weight[0] = b.dist_e * b.dist_s;
    b.weight[1] = b.dist_w * b.dist_s;
    b.weight[2] = b.dist_e * b.dist_n;
    b.weight[3] = b.dist_w * b.dist_n;
    for (int k = 0; k < 4; k++) {
        int cx = x0 + (k & 1), cy = y0 + (k >> 1);
        b.inside[k] = cx >= 0 && cx < W && cy >= 0 && cy < H;
        b.pixel[k] = (int64_t)cy * W + cx;
    }
    return b;
}

/* ---- one output pixel ---------------------------------------------------------------------- */

/* Forward of one output pixel: y[c] = sum over inside corners of weight * x[corner, c]. */
NST_HD static inline void nst__grid_sample_pixel(const float *x, /* (H, W, C) one image */
                                                 int H, int W, int64_t C, float gx, float gy,
                                                 int padding, bool align_corners,
                                                 float *y /* (C) */) {
    float mx, my;
    float ix = nst__grid_source_index(gx, W, padding, align_corners, &mx);
    float iy = nst__grid_source_index(gy, H, padding, align_corners, &my);
    nst__bilinear b = nst__bilinear_corners(ix, iy, H, W);
    for (int64_t c = 0; c < C; c++)
        y[c] = 0.0f;
    for (int k = 0; k < 4; k++) {
        if (!b.inside[k])
            continue;
        const float *src = x + b.pixel[k] * C; /* (C) */
        for (int64_t c = 0; c < C; c++)
            y[c] += src[c] * b.weight[k];
    }
}

/* Backward of one output pixel with upstream gradient dy:
 *   dx (when not NULL): scatter-adds weight * dy[c] into each inside corner;
 *   dgrid (when not NULL): ATen's gix, giy (sum over channels of the corner differences times
 *   dy) times the coordinate multipliers. */
NST_HD static inline void nst__grid_sample_pixel_backward(
    const float *x, /* (H, W, C) one image */
    float *dx,      /* (H, W, C) one image, or NULL */
    int H, int W, int64_t C, float gx, float gy, int padding, bool align_corners,
    const float *dy, /* (C) */
    float *dgrid /* (2) or NULL */) {
    float mx, my;
    float ix = nst__grid_source_index(gx, W, padding, align_corners, &mx);
    float iy = nst__grid_source_index(gy, H, padding, align_corners, &my);
    nst__bilinear b = nst__bilinear_corners(ix, iy, H, W);
    if (dx) {
        for (int k = 0; k < 4; k++) {
            if (!b.inside[k])
                continue;
            float *dst = dx + b.pixel[k] * C; /* (C) */
            for (int64_t c = 0; c < C; c++)
                NST_GRID_ADD(dst + c, b.weight[k] * dy[c]);
        }
    }
    if (!dgrid)
        return;
    /* d(weight)/d(ix) and d(weight)/d(iy) of nw, ne, sw, se */
    const float wx[4] = {-b.dist_s, b.dist_s, -b.dist_n, b.dist_n};
    const float wy[4] = {-b.dist_e, -b.dist_w, b.dist_e, b.dist_w};
    float gix = 0.0f, giy = 0.0f;
    for (int k = 0; k < 4; k++) {
        if (!b.inside[k])
            continue;
        const float *src = x + b.pixel[k] * C; /* (C) */
        float dot = 0.0f;
        for (int64_t c = 0; c < C; c++)
            dot += src[c] * dy[c];
        gix += wx[k] * dot;
        giy += wy[k] * dot;
    }
    dgrid[0] = mx * gix;
    dgrid[1] = my * giy;
}

#endif
