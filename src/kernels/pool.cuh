/* 2x2 pooling's index and per-element math (src/kernels/pool.cu launches it; the CPU emulation
 * runs it over the same grid). Semantics of src/cpu/pool.c: floor size Ho = H/2, Wo = W/2; max
 * takes the first maximum in row-major window order (0,0) (0,1) (1,0) (1,1), a NaN wins; average
 * is ((a + b) + c + d) * 0.25. Backward is a gather, one thread per dx vector: it writes every
 * element of dx (0 outside every window), recomputing the window's argmax from x.
 * Launch shape: 1-D grid-stride over output vectors (forward: y, backward: dx), v = 4 channels
 * per thread when C % 4 == 0 and the pointers are 16-byte aligned; channels innermost, so a warp
 * reads and writes contiguous runs of each pixel row. Exact: the GPU gives the CPU's bits.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_POOL_CUH
#define NSTYLE_POOL_CUH

#include "kernel_common.cuh"

typedef struct {
    const float *x;  /* (N, H, W, C); backward: NULL for average */
    const float *dy; /* (N, Ho, Wo, C), backward */
    float *y;        /* (N, Ho, Wo, C), forward */
    float *dx;       /* (N, H, W, C), backward */
    int64_t N, H, W, C;
    int is_max;
    int v;
} nst_k_pool;

NST_HDI nst_k_pool nst_k_pool_make(const float *x, const float *dy, float *y, float *dx,
                                   int64_t N, int64_t H, int64_t W, int64_t C, int is_max) {
    nst_k_pool p;
    p.x = x, p.dy = dy, p.y = y, p.dx = dx;
    p.N = N, p.H = H, p.W = W, p.C = C, p.is_max = is_max;
    p.v = nst_k_vec_ok(C, x, dy, y, dx) ? 4 : 1;
    return p;
}

NST_HDI int64_t nst_k_pool_forward_work(const nst_k_pool *p) {
    return p->N * (p->H / 2) * (p->W / 2) * (p->C / p->v);
}
NST_HDI int64_t nst_k_pool_backward_work(const nst_k_pool *p) {
    return p->N * p->H * p->W * (p->C / p->v);
}

/* Whether v replaces the running maximum m (PyTorch's CPU kernel: larger, or NaN). */
NST_HDI bool nst_k_takes_max(float v, float m) {
    return (v > m) | (v != v);
}

/* The window's maximum and which element (0..3, row-major) holds it. */
NST_HDI float nst_k_window_max(float v0, float v1, float v2, float v3, int *which) {
    float m = v0;
    int k = 0;
    if (nst_k_takes_max(v1, m))
        m = v1, k = 1;
    if (nst_k_takes_max(v2, m))
        m = v2, k = 2;
    if (nst_k_takes_max(v3, m))
        m = v3, k = 3;
    *which = k;
    return m;
}

#define NST_K_POOL_LANES(OUT, EXPR_OF_LANE)                                                \
    (OUT).x = EXPR_OF_LANE(x), (OUT).y = EXPR_OF_LANE(y), (OUT).z = EXPR_OF_LANE(z),       \
    (OUT).w = EXPR_OF_LANE(w)

NST_HDI float nst_k_pool_lane(float a, float b, float c, float d, int is_max) {
    int k;
    return is_max ? nst_k_window_max(a, b, c, d, &k) : (a + b + c + d) * 0.25f;
}

/* Forward: y vector i = the window of output pixel (n, ho, wo), channels cg*v .. cg*v + v. */
NST_HDI void nst_k_pool_forward_body(int64_t block, int thread, int threads, int64_t blocks,
                                     const nst_k_pool *p) {
    const int v = p->v;
    const int64_t Ho = p->H / 2, Wo = p->W / 2, CG = p->C / v, W = p->W, C = p->C;
    const int64_t work = nst_k_pool_forward_work(p), stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t cg = i % CG, q = i / CG, wo = q % Wo, r = q / Wo, ho = r % Ho, n = r / Ho;
        const float *a = p->x + ((n * p->H + 2 * ho) * W + 2 * wo) * C + cg * v;
        const nst_f4 x0 = nst_k_ldv(a, v), x1 = nst_k_ldv(a + C, v);
        const nst_f4 x2 = nst_k_ldv(a + W * C, v), x3 = nst_k_ldv(a + W * C + C, v);
        nst_f4 o;
#define NST_K_POOL_FWD_LANE(l) nst_k_pool_lane(x0.l, x1.l, x2.l, x3.l, p->is_max)
        NST_K_POOL_LANES(o, NST_K_POOL_FWD_LANE);
#undef NST_K_POOL_FWD_LANE
        nst_k_stv(p->y + i * v, o, v); /* y vector i starts at float i * v */
    }
}

/* dx of one lane: the gradient reaching element `pos` (0..3) of its window. */
NST_HDI float nst_k_pool_grad_lane(float g, float a, float b, float c, float d, int pos,
                                   int is_max) {
    if (!is_max)
        return g * 0.25f;
    int k;
    nst_k_window_max(a, b, c, d, &k);
    return k == pos ? g : 0.0f;
}

/* Backward: dx vector i of pixel (n, h, w) from its window's dy (0 outside every window). */
NST_HDI void nst_k_pool_backward_body(int64_t block, int thread, int threads, int64_t blocks,
                                      const nst_k_pool *p) {
    const int v = p->v;
    const int64_t Ho = p->H / 2, Wo = p->W / 2, CG = p->C / v, W = p->W, C = p->C;
    const int64_t work = nst_k_pool_backward_work(p), stride = nst_k_stride(blocks, threads);
    const nst_f4 zero = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t cg = i % CG, q = i / CG, w = q % W, r = q / W, h = r % p->H, n = r / p->H;
        nst_f4 o = zero;
        if (h < 2 * Ho && w < 2 * Wo) {
            const nst_f4 g = nst_k_ldv(p->dy + ((n * Ho + h / 2) * Wo + w / 2) * C + cg * v, v);
            const int pos = (int)(h % 2) * 2 + (int)(w % 2);
            nst_f4 x0 = zero, x1 = zero, x2 = zero, x3 = zero;
            if (p->is_max) {
                const float *a = p->x + ((n * p->H + h - h % 2) * W + w - w % 2) * C + cg * v;
                x0 = nst_k_ldv(a, v), x1 = nst_k_ldv(a + C, v);
                x2 = nst_k_ldv(a + W * C, v), x3 = nst_k_ldv(a + W * C + C, v);
            }
#define NST_K_POOL_BWD_LANE(l) nst_k_pool_grad_lane(g.l, x0.l, x1.l, x2.l, x3.l, pos, p->is_max)
            NST_K_POOL_LANES(o, NST_K_POOL_BWD_LANE);
#undef NST_K_POOL_BWD_LANE
        }
        nst_k_stv(p->dx + i * v, o, v);
    }
}

#endif
