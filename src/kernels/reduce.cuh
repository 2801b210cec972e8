/* Sum and mean of all elements: index math and the phases of the two shared-memory kernels
 * (src/kernels/reduce.cu launches them; the CPU emulation runs the kernels, thread by thread
 * with real barriers, over the same grid). Semantics of src/cpu/reduce.c: accumulated in
 * double, mean of an empty tensor NaN.
 * Deterministic, no atomics: pass 1 has a fixed number of blocks for n (nst_k_reduce_blocks,
 * never the device's SM count); each thread sums its grid-stride share in double (float4 loads
 * when x is 16-byte aligned: coalesced), the block adds its 256 values with a shared-memory tree
 * (nst_k_tree_step), and thread 0 stores the block's partial. Pass 2 is one block that sums the
 * partials the same way and writes y. Same bits on every run; the order differs from the CPU's
 * 256 chunks, so results agree within fp32 rounding (docs/design.md tolerances), not bit for bit.
 * Scratch: one double per pass-1 block (nst_k_reduce_scratch).
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_REDUCE_CUH
#define NSTYLE_REDUCE_CUH

#include <math.h>

#include "kernel_common.cuh"

#define NST_K_REDUCE_THREADS 256
#define NST_K_REDUCE_MAX_BLOCKS 1024
/* Elements per thread of pass 1 before a launch adds blocks. */
#define NST_K_REDUCE_PER_THREAD 16

typedef struct {
    const float *x; /* n elements */
    int64_t n;
    double *part;   /* (blocks) scratch */
    int64_t blocks; /* of pass 1 */
    float *y;       /* (1) */
    int mean;
    int v;
} nst_k_reduce;

NST_HDI int64_t nst_k_reduce_blocks(int64_t n) {
    const int64_t per_block = (int64_t)NST_K_REDUCE_THREADS * NST_K_REDUCE_PER_THREAD;
    int64_t b = (n + per_block - 1) / per_block;
    return b < 1 ? 1 : b > NST_K_REDUCE_MAX_BLOCKS ? NST_K_REDUCE_MAX_BLOCKS : b;
}

/* Scratch bytes of a reduction over n elements. */
NST_HDI size_t nst_k_reduce_scratch(int64_t n) {
    return (size_t)nst_k_reduce_blocks(n) * sizeof(double);
}

NST_HDI nst_k_reduce nst_k_reduce_make(const float *x, int64_t n, double *part, float *y,
                                       int mean) {
    nst_k_reduce p;
    p.x = x, p.n = n, p.part = part, p.blocks = nst_k_reduce_blocks(n), p.y = y, p.mean = mean;
    p.v = nst_k_vec_ok(0, x, NULL, NULL, NULL) ? 4 : 1;
    return p;
}

/* Pass 1, phase 1: thread t's share of x into sm[t]. */
NST_HDI void nst_k_reduce_load(int64_t block, int thread, int threads, int64_t blocks,
                               const nst_k_reduce *p, double *sm) {
    const int v = p->v;
    const int64_t nv = p->n / v, first = nst_k_first(block, thread, threads);
    const int64_t stride = nst_k_stride(blocks, threads);
    double acc = 0.0;
    for (int64_t i = first; i < nv; i += stride) {
        const nst_f4 q = nst_k_ldv(p->x + i * v, v);
        acc += (double)q.x;
        if (v == 4)
            acc = (((acc + (double)q.y) + (double)q.z) + (double)q.w);
    }
    for (int64_t i = nv * v + first; i < p->n; i += stride)
        acc += (double)p->x[i];
    sm[thread] = acc;
}

/* Pass 1, last phase: the block's sum (sm[0] after the tree) into its partial. */
NST_HDI void nst_k_reduce_store(int64_t block, int thread, const nst_k_reduce *p,
                                const double *sm) {
    if (thread == 0)
        p->part[block] = sm[0];
}

/* Pass 2 (one block), phase 1: thread t's partials, in index order, into sm[t]. */
NST_HDI void nst_k_reduce_final_load(int thread, int threads, const nst_k_reduce *p, double *sm) {
    double acc = 0.0;
    for (int64_t b = thread; b < p->blocks; b += threads)
        acc += p->part[b];
    sm[thread] = acc;
}

/* Pass 2, last phase: y from the total. */
NST_HDI void nst_k_reduce_final_store(int thread, const nst_k_reduce *p, const double *sm) {
    if (thread != 0)
        return;
    if (!p->mean)
        p->y[0] = (float)sm[0];
    else
        p->y[0] = p->n > 0 ? (float)(sm[0] / (double)p->n) : NAN;
}

#if NST_K_KERNELS
/* The two kernels: phases separated by barriers, each phase one of the functions above. */
static __global__ void nst_k_reduce_partial_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    nst_k_reduce_load(blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        nst_k_tree_step(threadIdx.x, 0, 1, s, sm);
        __syncthreads();
    }
    nst_k_reduce_store(blockIdx.x, threadIdx.x, &p, sm);
}

static __global__ void nst_k_reduce_final_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    nst_k_reduce_final_load(threadIdx.x, blockDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        nst_k_tree_step(threadIdx.x, 0, 1, s, sm);
        __syncthreads();
    }
    nst_k_reduce_final_store(threadIdx.x, &p, sm);
}

#endif

#endif
