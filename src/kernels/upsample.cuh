/* Nearest 2x upsampling's index and per-element math (src/kernels/upsample.cu launches it; the
 * CPU emulation runs it over the same grid). Semantics of src/cpu/upsample.c: y[n, h, w] =
 * x[n, h/2, w/2]; backward dx = ((dy[2h, 2w] + dy[2h, 2w+1]) + dy[2h+1, 2w]) + dy[2h+1, 2w+1],
 * the CPU's order, so both are exact (the GPU gives the CPU's bits).
 * Launch shape: 1-D grid-stride over output vectors (forward: y, backward: dx, a gather: no
 * atomics), v = 4 channels per thread when C % 4 == 0 and the pointers are 16-byte aligned;
 * channels innermost, so a warp's accesses are contiguous runs of a pixel row.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_UPSAMPLE_CUH
#define NSTYLE_UPSAMPLE_CUH

#include "kernel_common.cuh"

typedef struct {
    const float *x;  /* (N, H, W, C), forward */
    const float *dy; /* (N, 2H, 2W, C), backward */
    float *y;        /* (N, 2H, 2W, C), forward */
    float *dx;       /* (N, H, W, C), backward */
    int64_t N, H, W, C; /* of x / dx */
    int v;
} nst_k_upsample;

NST_HDI nst_k_upsample nst_k_upsample_make(const float *x, const float *dy, float *y, float *dx,
                                           int64_t N, int64_t H, int64_t W, int64_t C) {
    nst_k_upsample p;
    p.x = x, p.dy = dy, p.y = y, p.dx = dx;
    p.N = N, p.H = H, p.W = W, p.C = C;
    p.v = nst_k_vec_ok(C, x, dy, y, dx) ? 4 : 1;
    return p;
}

NST_HDI int64_t nst_k_upsample_forward_work(const nst_k_upsample *p) {
    return p->N * 4 * p->H * p->W * (p->C / p->v);
}
NST_HDI int64_t nst_k_upsample_backward_work(const nst_k_upsample *p) {
    return p->N * p->H * p->W * (p->C / p->v);
}

NST_HDI void nst_k_upsample_forward_body(int64_t block, int thread, int threads, int64_t blocks,
                                         const nst_k_upsample *p) {
    const int v = p->v;
    const int64_t W2 = 2 * p->W, H2 = 2 * p->H, CG = p->C / v;
    const int64_t work = nst_k_upsample_forward_work(p), stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t cg = i % CG, q = i / CG, ow = q % W2, r = q / W2, oh = r % H2, n = r / H2;
        const nst_f4 s = nst_k_ldv(p->x + ((n * p->H + oh / 2) * p->W + ow / 2) * p->C + cg * v, v);
        nst_k_stv(p->y + i * v, s, v);
    }
}

NST_HDI void nst_k_upsample_backward_body(int64_t block, int thread, int threads, int64_t blocks,
                                          const nst_k_upsample *p) {
    const int v = p->v;
    const int64_t W = p->W, C = p->C, CG = C / v, row = 2 * W * C;
    const int64_t work = nst_k_upsample_backward_work(p), stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t cg = i % CG, q = i / CG, w = q % W, r = q / W, h = r % p->H, n = r / p->H;
        const float *g = p->dy + ((n * 2 * p->H + 2 * h) * 2 * W + 2 * w) * C + cg * v;
        const nst_f4 a = nst_k_ldv(g, v), b = nst_k_ldv(g + C, v);
        const nst_f4 c = nst_k_ldv(g + row, v), e = nst_k_ldv(g + row + C, v);
        nst_f4 o;
        o.x = ((a.x + b.x) + c.x) + e.x;
        o.y = ((a.y + b.y) + c.y) + e.y;
        o.z = ((a.z + b.z) + c.z) + e.z;
        o.w = ((a.w + b.w) + c.w) + e.w;
        nst_k_stv(p->dx + i * v, o, v);
    }
}

#endif
