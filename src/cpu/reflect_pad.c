/* CPU reflection padding, forward and backward, NHWC.
 * Semantics: PyTorch nn.ReflectionPad2d((left, right, top, bottom)): the edge pixel is not
 * repeated (x = [a b c], pad 2 -> [c b a b c b a]); every pad must be smaller than the size of
 * its axis, as PyTorch requires, so one reflection always lands inside the image.
 * Backward gathers: each dx element sums the (at most 3 x 3) dy elements that copied it, so rows
 * run in parallel without atomics and dx is overwritten.
 * Tested by tests/test_cpu_reflect_pad.c (naive loops, finite differences, PyTorch goldens in
 * tests/golden/nn_ops.safetensors). */
#include <string.h>

#include "cpu_ops.h"
#include "math/reflect_index.h"

/* Below this many output elements the work runs on one thread. */
#define PAD_PARALLEL_MIN 32768


nst_status nst__cpu_reflect_pad_forward(nst_ctx *ctx, const void *params) {
    const nst_reflect_pad_params *p = params;
    const int64_t N = p->x->shape[0], H = p->x->shape[1], W = p->x->shape[2], C = p->x->shape[3];
    const int64_t Hp = H + p->top + p->bottom, Wp = W + p->left + p->right;
    const float *x = p->x->data; // (N, H, W, C)
    float *y = p->y->data;       // (N, Hp, Wp, C)
    const size_t pixel = (size_t)C * sizeof(float);

    /* one output row per iteration: the interior is one copy, each pad pixel one more */
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (N * Hp * Wp * C > PAD_PARALLEL_MIN)
    for (int64_t r = 0; r < N * Hp; r++) {
        const int64_t n = r / Hp, i = r % Hp;
        const float *src = x + (n * H + nst__reflect_src(i, H, p->top)) * W * C; // (W, C)
        float *out = y + r * Wp * C;                                        // (Wp, C)
        memcpy(out + p->left * C, src, (size_t)W * pixel);
        for (int64_t j = 0; j < p->left; j++)
            memcpy(out + j * C, src + nst__reflect_src(j, W, p->left) * C, pixel);
        for (int64_t j = p->left + W; j < Wp; j++)
            memcpy(out + j * C, src + nst__reflect_src(j, W, p->left) * C, pixel);
    }
    return NST_OK;
}

nst_status nst__cpu_reflect_pad_backward(nst_ctx *ctx, const void *params) {
    const nst_reflect_pad_params *p = params;
    const int64_t N = p->dx->shape[0], H = p->dx->shape[1], W = p->dx->shape[2];
    const int64_t C = p->dx->shape[3];
    const int64_t Hp = H + p->top + p->bottom, Wp = W + p->left + p->right;
    const float *dy = p->dy->data; // (N, Hp, Wp, C)
    float *dx = p->dx->data;       // (N, H, W, C)

#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (N * Hp * Wp * C > PAD_PARALLEL_MIN)
    for (int64_t r = 0; r < N * H; r++) {
        const int64_t n = r / H, i = r % H;
        int64_t rows[3], cols[3];
        const int nr = nst__reflect_dst(i, H, p->top, p->bottom, rows);
        float *d = dx + r * W * C; // (W, C)
        for (int64_t j = 0; j < W; j++) {
            const int nc = nst__reflect_dst(j, W, p->left, p->right, cols);
            float *o = d + j * C;
            for (int64_t k = 0; k < C; k++)
                o[k] = 0.0f;
            for (int a = 0; a < nr; a++) {
                const float *g = dy + (n * Hp + rows[a]) * Wp * C; // (Wp, C)
                for (int b = 0; b < nc; b++)
                    for (int64_t k = 0; k < C; k++)
                        o[k] += g[cols[b] * C + k];
            }
        }
    }
    return NST_OK;
}
