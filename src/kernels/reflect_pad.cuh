/* Reflection padding's index and per-element math (src/kernels/reflect_pad.cu launches it; the
 * CPU emulation runs it over the same grid). Semantics of src/cpu/reflect_pad.c (PyTorch
 * ReflectionPad2d, pad < size): forward copies y[i, j] = x[reflect(i), reflect(j)]; backward is a
 * gather: each dx element sums the (at most 3 x 3) dy elements that copied it, rows outer and
 * columns inner from 0, the CPU's order, so both are exact (the GPU gives the CPU's bits).
 * Launch shape: 1-D grid-stride over output vectors (forward: y, backward: dx; no atomics),
 * v = 4 channels per thread when C % 4 == 0 and the pointers are 16-byte aligned; channels
 * innermost, so a warp's accesses are contiguous runs of a pixel row.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_REFLECT_PAD_CUH
#define NSTYLE_REFLECT_PAD_CUH

#include "kernel_common.cuh"
#include "../math/reflect_index.h"

typedef struct {
    const float *x;  /* (N, H, W, C), forward */
    const float *dy; /* (N, Hp, Wp, C), backward */
    float *y;        /* (N, Hp, Wp, C), forward */
    float *dx;       /* (N, H, W, C), backward */
    int64_t N, H, W, C; /* of x / dx */
    int64_t top, bottom, left, right;
    int v;
} nst_k_pad;

NST_HDI nst_k_pad nst_k_pad_make(const float *x, const float *dy, float *y, float *dx, int64_t N,
                                 int64_t H, int64_t W, int64_t C, int top, int bottom, int left,
                                 int right) {
    nst_k_pad p;
    p.x = x, p.dy = dy, p.y = y, p.dx = dx;
    p.N = N, p.H = H, p.W = W, p.C = C;
    p.top = top, p.bottom = bottom, p.left = left, p.right = right;
    p.v = nst_k_vec_ok(C, x, dy, y, dx) ? 4 : 1;
    return p;
}

NST_HDI int64_t nst_k_pad_forward_work(const nst_k_pad *p) {
    return p->N * (p->H + p->top + p->bottom) * (p->W + p->left + p->right) * (p->C / p->v);
}
NST_HDI int64_t nst_k_pad_backward_work(const nst_k_pad *p) {
    return p->N * p->H * p->W * (p->C / p->v);
}

NST_HDI void nst_k_pad_forward_body(int64_t block, int thread, int threads, int64_t blocks,
                                    const nst_k_pad *p) {
    const int v = p->v;
    const int64_t Hp = p->H + p->top + p->bottom, Wp = p->W + p->left + p->right, CG = p->C / v;
    const int64_t work = nst_k_pad_forward_work(p), stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t cg = i % CG, q = i / CG, j = q % Wp, r = q / Wp, h = r % Hp, n = r / Hp;
        const int64_t sh = nst__reflect_src(h, p->H, p->top);
        const int64_t sw = nst__reflect_src(j, p->W, p->left);
        nst_k_stv(p->y + i * v, nst_k_ldv(p->x + ((n * p->H + sh) * p->W + sw) * p->C + cg * v, v), v);
    }
}

NST_HDI void nst_k_pad_backward_body(int64_t block, int thread, int threads, int64_t blocks,
                                     const nst_k_pad *p) {
    const int v = p->v;
    const int64_t Hp = p->H + p->top + p->bottom, Wp = p->W + p->left + p->right;
    const int64_t C = p->C, CG = C / v;
    const int64_t work = nst_k_pad_backward_work(p), stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t cg = i % CG, q = i / CG, w = q % p->W, r = q / p->W, h = r % p->H,
                      n = r / p->H;
        int64_t rows[3], cols[3];
        const int nr = nst__reflect_dst(h, p->H, p->top, p->bottom, rows);
        const int nc = nst__reflect_dst(w, p->W, p->left, p->right, cols);
        nst_f4 o = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int a = 0; a < nr; a++) {
            for (int b = 0; b < nc; b++) {
                const nst_f4 g = nst_k_ldv(p->dy + ((n * Hp + rows[a]) * Wp + cols[b]) * C + cg * v, v);
                o.x += g.x, o.y += g.y, o.z += g.z, o.w += g.w;
            }
        }
        nst_k_stv(p->dx + i * v, o, v);
    }
}

#endif
