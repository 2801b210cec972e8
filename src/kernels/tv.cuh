/* Total variation's kernel phases and element math (src/kernels/tv.cu launches them; the CPU
 * emulation runs them over the same grids). Semantics of src/cpu/tv.c, x (N, H, W, C):
 *   TV = (sum of squared differences with the pixel below and the pixel to the right) / (N*H*W)
 * summed in double, NaN for no pixels; backward, per element in the CPU's float operations and
 * order, dx = k * ((x - up) - (down - x) + (x - left) - (right - x)) with the missing
 * neighbours' terms left out and k = 2 * scale / (N*H*W) rounded once (+= with accumulate): the
 * CPU's bits.
 * Forward launch shape: reduce.cuh's two deterministic passes over the elements (no atomics):
 * nst_k_reduce_blocks(numel) blocks of 256 threads, each thread a grid-stride share (its
 * element, the one W*C floats on and the one C floats on: coalesced), a shared-memory tree, one
 * double partial per block; then reduce.cuh's final kernel dividing by N*H*W. The loss agrees
 * with the CPU within fp32 rounding. Backward: 1-D grid-stride, one thread per element,
 * coalesced. Scratch: one double per pass-1 block.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_TV_CUH
#define NSTYLE_TV_CUH

#include "kernel_common.cuh"
#include "mse.cuh" /* NST_K_LOSS_PARTIAL_KERNEL */
#include "reduce.cuh"

typedef struct {
    const float *x; /* (N, H, W, C) */
    float *dx;      /* (N, H, W, C), backward */
    int64_t N, H, W, C;
    float k;        /* backward: 2 * scale / (N*H*W) */
    int accumulate;
    nst_k_reduce r; /* forward: partials, blocks, loss (r.y), r.n = N*H*W, r.mean = 1 */
} nst_k_tv;

NST_HDI nst_k_tv nst_k_tv_make(const float *x, int64_t N, int64_t H, int64_t W, int64_t C) {
    nst_k_tv p;
    p.x = x, p.dx = NULL, p.N = N, p.H = H, p.W = W, p.C = C, p.k = 0.0f, p.accumulate = 0;
    p.r = nst_k_reduce_make(NULL, N * H * W, NULL, NULL, 1);
    p.r.blocks = nst_k_reduce_blocks(N * H * W * C);
    return p;
}

NST_HDI int64_t nst_k_tv_numel(const nst_k_tv *p) {
    return p->N * p->H * p->W * p->C;
}

/* Pass 1, phase 1: thread t's share of the squared neighbour differences into sm[t]. */
NST_HDI void nst_k_tv_load(int64_t block, int thread, int threads, int64_t blocks,
                           const nst_k_tv *p, double *sm) {
    const int64_t n = nst_k_tv_numel(p), row = p->W * p->C, stride = nst_k_stride(blocks, threads);
    double acc = 0.0;
    for (int64_t i = nst_k_first(block, thread, threads); i < n; i += stride) {
        const int64_t w = (i / p->C) % p->W, h = (i / row) % p->H;
        if (h + 1 < p->H) {
            const double dv = (double)p->x[i + row] - (double)p->x[i];
            acc = NST_DADD(acc, NST_DMUL(dv, dv));
        }
        if (w + 1 < p->W) {
            const double dh = (double)p->x[i + p->C] - (double)p->x[i];
            acc = NST_DADD(acc, NST_DMUL(dh, dh));
        }
    }
    sm[thread] = acc;
}

/* Backward: one element per thread, grid-stride over N*H*W*C. */
NST_HDI void nst_k_tv_grad_body(int64_t block, int thread, int threads, int64_t blocks,
                                const nst_k_tv *p) {
    const int64_t n = nst_k_tv_numel(p), row = p->W * p->C, stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < n; i += stride) {
        const int64_t w = (i / p->C) % p->W, h = (i / row) % p->H;
        const float v = p->x[i];
        float d = 0.0f;
        if (h > 0)
            d = d + (v - p->x[i - row]);
        if (h + 1 < p->H)
            d = d - (p->x[i + row] - v);
        if (w > 0)
            d = d + (v - p->x[i - p->C]);
        if (w + 1 < p->W)
            d = d - (p->x[i + p->C] - v);
        const float g = NST_FMUL(p->k, d);
        p->dx[i] = p->accumulate ? NST_FADD(p->dx[i], g) : g;
    }
}

#if NST_K_KERNELS
NST_K_LOSS_PARTIAL_KERNEL(nst_k_tv, nst_k_tv, nst_k_tv_load)
#endif

#endif
