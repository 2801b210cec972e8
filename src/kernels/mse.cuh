/* MSE loss's kernel phases and element math (src/kernels/mse.cu launches them; the CPU
 * emulation runs them over the same grids). Semantics of src/cpu/mse.c (PyTorch F.mse_loss,
 * reduction mean): loss = sum((a - b)^2) / numel, accumulated in double, NaN for no elements;
 * backward da = k * (a - b) with k = 2 * scale / numel rounded once in double (+= with
 * accumulate), the CPU's float operations: bit for bit.
 * Forward launch shape: reduce.cuh's two deterministic passes (no atomics): pass 1 has
 * nst_k_reduce_blocks(n) blocks of 256 threads, each thread a grid-stride share of (a - b)^2
 * (float4 loads when aligned: coalesced), a shared-memory tree, one double partial per block;
 * pass 2 is reduce.cuh's final kernel (the mean over numel). The loss agrees with the CPU within
 * fp32 rounding (other order of the double sum). Backward: the flat kernel of
 * kernel_common.cuh. Scratch: one double per pass-1 block.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_MSE_CUH
#define NSTYLE_MSE_CUH

#include "kernel_common.cuh"
#include "reduce.cuh"

typedef struct {
    const float *a, *b; /* n elements each */
    int v;
    nst_k_reduce r;     /* partials, blocks, loss (r.y), r.n = numel, r.mean = 1 */
} nst_k_mse;

NST_HDI nst_k_mse nst_k_mse_make(const float *a, const float *b, int64_t n, double *part,
                                 float *loss) {
    nst_k_mse p;
    p.a = a, p.b = b;
    p.v = nst_k_vec_ok(0, a, b, NULL, NULL) ? 4 : 1;
    p.r = nst_k_reduce_make(NULL, n, part, loss, 1);
    return p;
}

NST_HDI double nst_k_mse_sq(float a, float b) {
    const double d = (double)a - (double)b;
    return NST_DMUL(d, d);
}

/* Pass 1, phase 1: thread t's share of the squared differences into sm[t]. */
NST_HDI void nst_k_mse_load(int64_t block, int thread, int threads, int64_t blocks,
                            const nst_k_mse *p, double *sm) {
    const int v = p->v;
    const int64_t n = p->r.n, nv = n / v, first = nst_k_first(block, thread, threads);
    const int64_t stride = nst_k_stride(blocks, threads);
    double acc = 0.0;
    for (int64_t i = first; i < nv; i += stride) {
        const nst_f4 a = nst_k_ldv(p->a + i * v, v), b = nst_k_ldv(p->b + i * v, v);
        acc = NST_DADD(acc, nst_k_mse_sq(a.x, b.x));
        if (v == 4) {
            acc = NST_DADD(acc, nst_k_mse_sq(a.y, b.y));
            acc = NST_DADD(acc, nst_k_mse_sq(a.z, b.z));
            acc = NST_DADD(acc, nst_k_mse_sq(a.w, b.w));
        }
    }
    for (int64_t i = nv * v + first; i < n; i += stride)
        acc = NST_DADD(acc, nst_k_mse_sq(p->a[i], p->b[i]));
    sm[thread] = acc;
}

/* Backward: da = k (a - b), or da + k (a - b); k in alpha. */
NST_K_FLAT_KERNEL(nst_k_mse_grad, true, false, NST_FMUL(p->alpha, x - g))
NST_K_FLAT_KERNEL(nst_k_mse_grad_acc, true, true, NST_FADD(yv, NST_FMUL(p->alpha, x - g)))

#if NST_K_KERNELS
/* A loss's pass-1 kernel NAME_partial_kernel(TYPE p): LOAD(block, thread, threads, blocks, &p,
 * sm), reduce.cuh's tree, then the store into p.r's partials (also used by tv.cuh). */
#define NST_K_LOSS_PARTIAL_KERNEL(NAME, TYPE, LOAD)                                       \
    static __global__ void NAME##_partial_kernel(TYPE p) {                                \
        NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);                                   \
        LOAD(blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, &p, sm);                     \
        __syncthreads();                                                                  \
        for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {                           \
            nst_k_tree_step(threadIdx.x, 0, 1, s, sm);                                    \
            __syncthreads();                                                              \
        }                                                                                 \
        nst_k_reduce_store(blockIdx.x, threadIdx.x, &p.r, sm);                            \
    }
NST_K_LOSS_PARTIAL_KERNEL(nst_k_mse, nst_k_mse, nst_k_mse_load)
#endif

#endif
