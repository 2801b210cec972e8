/* CPU affine grid generation: forward (theta -> grid) and backward (dgrid -> dtheta).
 *
 * Semantics: PyTorch F.affine_grid(theta, (N, C, H, W), align_corners), ATen's
 * affine_grid_generator_4D: grid[n, h, w] = theta[n] @ (bx[w], by[h], 1) with bx, by the base
 * coordinates of src/math/grid_math.h (linspace(-1, 1, size) with align_corners, else
 * (2i + 1) / size - 1; 0 for size 1). Backward: dtheta[n, j] = sum over pixels of
 * dgrid[n, h, w, j] * (bx[w], by[h], 1), accumulated in double over AFFINE_BLOCKS contiguous
 * blocks of rows added in block order (the same bits whatever the thread count); dtheta is
 * overwritten.
 * The output size (H, W) is read from the grid / dgrid tensor.
 *
 * Tested by tests/test_cpu_affine_grid.c (PyTorch goldens from tests/golden/gen_grid.py, finite
 * differences, error paths). */
#include "cpu_ops.h"
#include "math/grid_math.h"

#define AFFINE_BLOCKS 64

nst_status nst__cpu_affine_grid_forward(nst_ctx *ctx, const void *params) {
    const nst_affine_grid_params *p = params;
    const float *theta = p->theta->data; /* (N, 2, 3) */
    float *grid = p->grid->data;         /* (N, H, W, 2) */
    const int64_t N = p->grid->shape[0], H = p->grid->shape[1], W = p->grid->shape[2];
    const bool ac = p->align_corners;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (N * H * W > 16384)
    for (int64_t row = 0; row < N * H; row++) {
        const int64_t n = row / H, h = row % H;
        const float *t = theta + n * 6; /* (2, 3) */
        const float by = nst__affine_base(h, H, ac);
        float *out = grid + row * W * 2; /* (W, 2) */
        for (int64_t w = 0; w < W; w++) {
            const float bx = nst__affine_base(w, W, ac);
            out[2 * w + 0] = t[0] * bx + t[1] * by + t[2];
            out[2 * w + 1] = t[3] * bx + t[4] * by + t[5];
        }
    }
    return NST_OK;
}

/* dtheta for one image: the six sums over its H * W grid points. */
static void affine_backward_image(const float *dgrid, /* (H, W, 2) */
                                  int64_t H, int64_t W, bool ac, int threads,
                                  float *dtheta /* (2, 3) */) {
    const int64_t block = (H + AFFINE_BLOCKS - 1) / AFFINE_BLOCKS;
    double part[AFFINE_BLOCKS][6]; /* per block, (2, 3): d/d theta[j][k] */
#pragma omp parallel for num_threads(threads) schedule(static) if (H * W > 16384)
    for (int b = 0; b < AFFINE_BLOCKS; b++) {
        double *s = part[b];
        for (int k = 0; k < 6; k++)
            s[k] = 0.0;
        const int64_t h1 = (b + 1) * block < H ? (b + 1) * block : H;
        for (int64_t h = b * block; h < h1; h++) {
            const double by = nst__affine_base(h, H, ac);
            const float *g = dgrid + h * W * 2; /* (W, 2) */
            for (int64_t w = 0; w < W; w++) {
                const double bx = nst__affine_base(w, W, ac);
                for (int j = 0; j < 2; j++) {
                    const double d = g[2 * w + j];
                    s[3 * j + 0] += d * bx;
                    s[3 * j + 1] += d * by;
                    s[3 * j + 2] += d;
                }
            }
        }
    }
    for (int k = 0; k < 6; k++) {
        double sum = 0.0;
        for (int b = 0; b < AFFINE_BLOCKS; b++)
            sum += part[b][k];
        dtheta[k] = (float)sum;
    }
}

nst_status nst__cpu_affine_grid_backward(nst_ctx *ctx, const void *params) {
    const nst_affine_grid_params *p = params;
    if (!p->dtheta)
        return NST_OK; /* nothing requested */
    const float *dgrid = p->dgrid->data; /* (N, H, W, 2) */
    float *dtheta = p->dtheta->data;     /* (N, 2, 3) */
    const int64_t N = p->dgrid->shape[0], H = p->dgrid->shape[1], W = p->dgrid->shape[2];
    for (int64_t n = 0; n < N; n++)
        affine_backward_image(dgrid + n * H * W * 2, H, W, p->align_corners,
                              nst__cpu_threads(ctx), dtheta + n * 6);
    return NST_OK;
}
