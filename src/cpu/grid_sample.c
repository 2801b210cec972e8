/* CPU bilinear grid sampling: forward (x, grid -> y) and backward (dy -> dx, dgrid).
 *
 * Semantics: PyTorch F.grid_sample(x, grid, mode="bilinear", padding_mode, align_corners) with
 * padding zeros / border / reflection and align_corners true / false; the per-pixel math is in
 * src/math/grid_math.h (shared with the CUDA kernels). Layout NHWC: x (N, H, W, C),
 * grid (N, Ho, Wo, 2) holding (x, y) in [-1, 1], y (N, Ho, Wo, C).
 * Backward overwrites dx and dgrid (dx is zeroed, then receives the scatter-adds); a NULL dx or
 * dgrid is not computed.
 *
 * Threads: forward and a dgrid-only backward run over the N * Ho output rows. When dx is wanted,
 * the threads split over images n instead: each thread scatters only into its own images, so
 * there are no races, no scratch memory, and the sums are added in the same order whatever the
 * thread count (bitwise reproducible).
 *
 * Tested by tests/test_cpu_grid_sample.c (PyTorch goldens from tests/golden/gen_grid.py in all
 * six modes, finite differences in double, identity sampling, error paths). */
#include <string.h>

#include "cpu_ops.h"
#include "math/grid_math.h"

nst_status nst__cpu_grid_sample_forward(nst_ctx *ctx, const void *params) {
    const nst_grid_sample_params *p = params;
    const float *x = p->x->data;       /* (N, H, W, C) */
    const float *grid = p->grid->data; /* (N, Ho, Wo, 2) */
    float *y = p->y->data;             /* (N, Ho, Wo, C) */
    const int64_t N = p->x->shape[0], C = p->x->shape[3];
    const int H = (int)p->x->shape[1], W = (int)p->x->shape[2];
    const int64_t Ho = p->grid->shape[1], Wo = p->grid->shape[2];
    const int padding = (int)p->padding;
    const bool ac = p->align_corners;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (N * Ho * Wo * (C + 8) > 65536)
    for (int64_t row = 0; row < N * Ho; row++) {
        const float *img = x + (row / Ho) * H * W * C; /* (H, W, C) */
        for (int64_t j = 0; j < Wo; j++) {
            const float *g = grid + (row * Wo + j) * 2; /* (2) */
            nst__grid_sample_pixel(img, H, W, C, g[0], g[1], padding, ac,
                                   y + (row * Wo + j) * C);
        }
    }
    return NST_OK;
}

/* Backward over the output rows [row0, row1) of image n (dx, dgrid may be NULL). */
static void backward_rows(const nst_grid_sample_params *p, int64_t n, int64_t row0,
                          int64_t row1, float *dx, float *dgrid) {
    const int64_t C = p->x->shape[3];
    const int H = (int)p->x->shape[1], W = (int)p->x->shape[2];
    const int64_t Ho = p->grid->shape[1], Wo = p->grid->shape[2];
    const float *img = (const float *)p->x->data + n * H * W * C; /* (H, W, C) */
    float *dimg = dx ? dx + n * H * W * C : NULL;                 /* (H, W, C) */
    const float *grid = p->grid->data;                            /* (N, Ho, Wo, 2) */
    const float *dy = p->dy->data;                                /* (N, Ho, Wo, C) */
    for (int64_t i = row0; i < row1; i++) {
        const int64_t pix0 = (n * Ho + i) * Wo; /* first output pixel of the row */
        for (int64_t j = 0; j < Wo; j++) {
            const float *g = grid + (pix0 + j) * 2; /* (2) */
            nst__grid_sample_pixel_backward(img, dimg, H, W, C, g[0], g[1], (int)p->padding,
                                            p->align_corners, dy + (pix0 + j) * C,
                                            dgrid ? dgrid + (pix0 + j) * 2 : NULL);
        }
    }
}

nst_status nst__cpu_grid_sample_backward(nst_ctx *ctx, const void *params) {
    const nst_grid_sample_params *p = params;
    if (!p->dx && !p->dgrid)
        return NST_OK; /* nothing requested */
    float *dx = p->dx ? p->dx->data : NULL;          /* (N, H, W, C) */
    float *dgrid = p->dgrid ? p->dgrid->data : NULL; /* (N, Ho, Wo, 2) */
    const int64_t N = p->x->shape[0], Ho = p->grid->shape[1], Wo = p->grid->shape[2];
    const int64_t C = p->x->shape[3];
    const int threads = nst__cpu_threads(ctx);
    const bool parallel = N * Ho * Wo * (C + 8) > 65536;
    if (dx) {
        if (nst_tensor_bytes(p->dx) > 0)
            memset(dx, 0, nst_tensor_bytes(p->dx));
        /* one thread per image: scatter-adds never race */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (parallel && N > 1)
        for (int64_t n = 0; n < N; n++)
            backward_rows(p, n, 0, Ho, dx, dgrid);
        return NST_OK;
    }
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
    for (int64_t row = 0; row < N * Ho; row++)
        backward_rows(p, row / Ho, row % Ho, row % Ho + 1, NULL, dgrid);
    return NST_OK;
}
