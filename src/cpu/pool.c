/* CPU 2x2 pooling with stride 2 (max and average), forward and backward, NHWC.
 * Semantics: PyTorch F.max_pool2d(x, 2) / F.avg_pool2d(x, 2): floor output size Ho = H/2,
 * Wo = W/2 (with odd H or W the last row/column is dropped and its gradient is 0). Max ties take
 * the first maximum in row-major order of the window, (0,0) (0,1) (1,0) (1,1), and backward sends
 * the whole gradient there; a NaN in a window wins, as in PyTorch's CPU kernel. Average divides
 * the window sum by 4. Backward recomputes the argmax from x and writes every element of dx.
 * Tested by tests/test_cpu_pool.c (naive loops, finite differences, exact ties, PyTorch goldens
 * in tests/golden/nn_ops.safetensors). */
#include <string.h>

#include "cpu_ops.h"

/* Below this many output elements the work runs on one thread. */
#define POOL_PARALLEL_MIN 32768

/* Whether v replaces the running maximum m: larger, or NaN (PyTorch's CPU kernel:
 * `val > maxval || isnan(val)`). Bitwise |, so loops over channels stay branch-free and
 * vectorise. */
static inline bool takes_max(float v, float m) {
    return (v > m) | (v != v);
}

/* The window's maximum in row-major order (v0 v1 / v2 v3): the first one on ties, the last
 * NaN. */
static inline float window_max(float v0, float v1, float v2, float v3) {
    float m = v0;
    m = takes_max(v1, m) ? v1 : m;
    m = takes_max(v2, m) ? v2 : m;
    return takes_max(v3, m) ? v3 : m;
}

nst_status nst__cpu_pool2x2_forward(nst_ctx *ctx, const void *params) {
    const nst_pool2x2_params *p = params;
    const int64_t N = p->x->shape[0], H = p->x->shape[1], W = p->x->shape[2], C = p->x->shape[3];
    const int64_t Ho = H / 2, Wo = W / 2;
    const float *x = p->x->data; // (N, H, W, C)
    float *y = p->y->data;       // (N, Ho, Wo, C)
    const bool is_max = p->mode == NST_POOL_MAX;
    const int64_t rows = N * Ho;

    /* one output row per iteration: reads two input rows, writes Wo*C contiguous floats */
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (rows * Wo * C > POOL_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t n = r / Ho, ho = r % Ho;
        const float *top = x + ((n * H + 2 * ho) * W) * C; // (W, C)
        const float *bot = top + W * C;                    // (W, C)
        float *out = y + r * Wo * C;                       // (Wo, C)
        for (int64_t wo = 0; wo < Wo; wo++) {
            const float *a = top + 2 * wo * C, *b = a + C, *c = bot + 2 * wo * C, *d = c + C;
            float *o = out + wo * C;
            if (is_max) {
                for (int64_t k = 0; k < C; k++)
                    o[k] = window_max(a[k], b[k], c[k], d[k]);
            } else {
                for (int64_t k = 0; k < C; k++)
                    o[k] = (a[k] + b[k] + c[k] + d[k]) * 0.25f;
            }
        }
    }
    return NST_OK;
}

/* dx rows 2i and 2i+1 (d0, d1: (W, C)) of average pooling from dy row i (g: (Wo, C)). */
static void avg_rows_backward(const float *g, float *d0, float *d1, int64_t Wo, int64_t C) {
    for (int64_t wo = 0; wo < Wo; wo++) {
        const float *gw = g + wo * C;
        float *a = d0 + 2 * wo * C, *b = d1 + 2 * wo * C;
        for (int64_t k = 0; k < C; k++) {
            const float q = gw[k] * 0.25f;
            a[k] = a[C + k] = b[k] = b[C + k] = q;
        }
    }
}

/* dx rows 2i and 2i+1 of max pooling from dy row i and x rows 2i, 2i+1 (x0, x1: (W, C)). */
static void max_rows_backward(const float *restrict x0, const float *restrict x1,
                              const float *restrict g, float *restrict d0, float *restrict d1,
                              int64_t Wo, int64_t C) {
    for (int64_t wo = 0; wo < Wo; wo++) {
        const float *gw = g + wo * C, *u = x0 + 2 * wo * C, *l = x1 + 2 * wo * C;
        float *a = d0 + 2 * wo * C, *b = d1 + 2 * wo * C;
        for (int64_t k = 0; k < C; k++) {
            /* the same scan as window_max, moving the gradient along with the running
             * maximum: a_j holds gk while element j is the maximum so far, 0 otherwise */
            const float v0 = u[k], v1 = u[C + k], v2 = l[k], v3 = l[C + k], gk = gw[k];
            float m = v0, a0 = gk, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            if (takes_max(v1, m))
                m = v1, a0 = 0.0f, a1 = gk;
            if (takes_max(v2, m))
                m = v2, a0 = a1 = 0.0f, a2 = gk;
            if (takes_max(v3, m))
                a0 = a1 = a2 = 0.0f, a3 = gk;
            a[k] = a0;
            a[C + k] = a1;
            b[k] = a2;
            b[C + k] = a3;
        }
    }
}

nst_status nst__cpu_pool2x2_backward(nst_ctx *ctx, const void *params) {
    const nst_pool2x2_params *p = params;
    const int64_t N = p->dx->shape[0], H = p->dx->shape[1], W = p->dx->shape[2];
    const int64_t C = p->dx->shape[3], Ho = H / 2, Wo = W / 2;
    const bool is_max = p->mode == NST_POOL_MAX;
    const float *x = is_max ? p->x->data : NULL; // (N, H, W, C), max mode only
    const float *dy = p->dy->data;               // (N, Ho, Wo, C)
    float *dx = p->dx->data;                     // (N, H, W, C)
    const int64_t pairs = (H + 1) / 2, rowlen = W * C;

    /* one pair of dx rows per iteration, so every dx element is written exactly once */
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (N * H * W * C > POOL_PARALLEL_MIN)
    for (int64_t r = 0; r < N * pairs; r++) {
        const int64_t n = r / pairs, hp = r % pairs;
        float *d0 = dx + (n * H + 2 * hp) * rowlen; // (W, C)
        if (hp >= Ho) { /* odd H: the last row is outside every window */
            memset(d0, 0, (size_t)rowlen * sizeof *d0);
            continue;
        }
        float *d1 = d0 + rowlen;
        const float *g = dy + (n * Ho + hp) * Wo * C; // (Wo, C)
        if (is_max) {
            const float *x0 = x + (n * H + 2 * hp) * rowlen; // (W, C)
            max_rows_backward(x0, x0 + rowlen, g, d0, d1, Wo, C);
        } else {
            avg_rows_backward(g, d0, d1, Wo, C);
        }
        if (W % 2) { /* odd W: the last column is outside every window */
            memset(d0 + (W - 1) * C, 0, (size_t)C * sizeof *d0);
            memset(d1 + (W - 1) * C, 0, (size_t)C * sizeof *d1);
        }
    }
    return NST_OK;
}
