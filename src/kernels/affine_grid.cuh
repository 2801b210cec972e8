/* Affine grid's index math and the phases of its backward reduction (src/kernels/affine_grid.cu
 * launches them; the CPU emulation runs them over the same grids). Semantics of
 * src/cpu/affine_grid.c (PyTorch F.affine_grid, the base coordinates of src/math/grid_math.h,
 * shared here unchanged):
 *   forward   grid[n, h, w] = theta[n] @ (bx[w], by[h], 1), products rounded before the adds,
 *             in the CPU's order: the GPU gives the CPU's bits;
 *   backward  dtheta[n, j, k] = sum over pixels of dgrid[n, h, w, j] * (bx[w], by[h], 1)[k], in
 *             double; dtheta is overwritten.
 * Launch shapes: forward, a 1-D grid-stride grid over the N*H*W grid points (one thread writes
 * one (x, y) pair: consecutive threads, consecutive 8-byte pairs). Backward, deterministic with
 * no atomics: pass 1 has N * chunks blocks of 256 threads (chunks depends only on H*W); thread t
 * adds pixels lo+t, lo+t+256, ... of its block's chunk into six double sums (coalesced reads of
 * dgrid), the block adds its 256 rows with a shared-memory tree (6 lanes), and thread 0 stores
 * the chunk's six partials; pass 2 is one thread per (n, j, k) adding the chunks in order. Same
 * bits on every run; they agree with the CPU within fp32 rounding (its 64 row blocks add in
 * another order). Scratch: N * chunks * 6 doubles (nst_k_affine_scratch).
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_AFFINE_GRID_CUH
#define NSTYLE_AFFINE_GRID_CUH

#include "kernel_common.cuh"
#include "../math/grid_math.h"

#define NST_K_AFFINE_THREADS 256
#define NST_K_AFFINE_MAX_CHUNKS 1024
/* Pixels per thread of a chunk before the launch adds chunks. */
#define NST_K_AFFINE_PER_THREAD 16

typedef struct {
    const float *theta; /* (N, 2, 3), forward */
    float *grid;        /* (N, H, W, 2), forward */
    const float *dgrid; /* (N, H, W, 2), backward */
    float *dtheta;      /* (N, 2, 3), backward */
    double *part;       /* (N, chunks, 6) scratch, backward */
    int64_t N, H, W, chunks;
    bool align_corners;
} nst_k_affine;

NST_HDI int64_t nst_k_affine_chunks(int64_t hw) {
    const int64_t per_chunk = (int64_t)NST_K_AFFINE_THREADS * NST_K_AFFINE_PER_THREAD;
    const int64_t k = (hw + per_chunk - 1) / per_chunk;
    return k < 1 ? 1 : k > NST_K_AFFINE_MAX_CHUNKS ? NST_K_AFFINE_MAX_CHUNKS : k;
}

/* Scratch bytes of the backward for N images of H x W. */
NST_HDI size_t nst_k_affine_scratch(int64_t N, int64_t H, int64_t W) {
    return (size_t)(N * nst_k_affine_chunks(H * W) * 6) * sizeof(double);
}

NST_HDI nst_k_affine nst_k_affine_make(int64_t N, int64_t H, int64_t W, bool align_corners) {
    nst_k_affine p;
    p.theta = NULL, p.grid = NULL, p.dgrid = NULL, p.dtheta = NULL, p.part = NULL;
    p.N = N, p.H = H, p.W = W, p.chunks = nst_k_affine_chunks(H * W);
    p.align_corners = align_corners;
    return p;
}

/* ---- forward: 1-D grid-stride over N*H*W points ---- */
NST_HDI void nst_k_affine_forward_body(int64_t block, int thread, int threads, int64_t blocks,
                                       const nst_k_affine *p) {
    const int64_t work = p->N * p->H * p->W, stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t w = i % p->W, h = (i / p->W) % p->H, n = i / (p->W * p->H);
        const float *t = p->theta + n * 6; /* (2, 3) */
        const float bx = nst__affine_base(w, p->W, p->align_corners);
        const float by = nst__affine_base(h, p->H, p->align_corners);
        p->grid[2 * i + 0] = NST_FADD(NST_FADD(NST_FMUL(t[0], bx), NST_FMUL(t[1], by)), t[2]);
        p->grid[2 * i + 1] = NST_FADD(NST_FADD(NST_FMUL(t[3], bx), NST_FMUL(t[4], by)), t[5]);
    }
}

/* ---- backward pass 1: blocks N * chunks, NST_K_AFFINE_THREADS threads, shared memory
 * 6 * NST_K_AFFINE_THREADS doubles (row t, lane k at sm[t * 6 + k]) ---- */
NST_HDI int64_t nst_k_affine_partial_blocks(const nst_k_affine *p) {
    return p->N * p->chunks;
}

/* Phase 1: thread t's six sums over its pixels of the chunk into sm[t * 6 ..]. */
NST_HDI void nst_k_affine_partial_load(int64_t block, int thread, const nst_k_affine *p,
                                       double *sm) {
    const int64_t n = block / p->chunks, s = block % p->chunks, hw = p->H * p->W;
    const int64_t lo = hw * s / p->chunks, hi = hw * (s + 1) / p->chunks;
    const float *g = p->dgrid + n * hw * 2; /* (H*W, 2) */
    double a[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int64_t q = lo + thread; q < hi; q += NST_K_AFFINE_THREADS) {
        const double bx = nst__affine_base(q % p->W, p->W, p->align_corners);
        const double by = nst__affine_base(q / p->W, p->H, p->align_corners);
        for (int j = 0; j < 2; j++) {
            const double d = g[2 * q + j];
            a[3 * j + 0] = NST_DADD(a[3 * j + 0], NST_DMUL(d, bx));
            a[3 * j + 1] = NST_DADD(a[3 * j + 1], NST_DMUL(d, by));
            a[3 * j + 2] += d;
        }
    }
    for (int k = 0; k < 6; k++)
        sm[thread * 6 + k] = a[k];
}

/* The tree phases: step s (128, 64, ... 1) adds row t + s into row t, every lane. */
NST_HDI void nst_k_affine_partial_step(int thread, int s, double *sm) {
    for (int k = 0; k < 6; k++)
        nst_k_tree_step(thread, k, 6, s, sm);
}

/* Last phase: thread 0 stores the chunk's six sums. */
NST_HDI void nst_k_affine_partial_store(int64_t block, int thread, const nst_k_affine *p,
                                        const double *sm) {
    if (thread != 0)
        return;
    for (int k = 0; k < 6; k++)
        p->part[block * 6 + k] = sm[k];
}

/* ---- backward pass 2: one thread per (n, k) of dtheta, chunks added in order ---- */
NST_HDI void nst_k_affine_final_body(int64_t block, int thread, int threads, int64_t blocks,
                                     const nst_k_affine *p) {
    const int64_t work = p->N * 6, stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t n = i / 6, k = i % 6;
        double s = 0.0;
        for (int64_t c = 0; c < p->chunks; c++)
            s += p->part[(n * p->chunks + c) * 6 + k];
        p->dtheta[i] = (float)s;
    }
}

#if NST_K_KERNELS
/* Pass 1: phases separated by barriers, each phase one of the functions above. */
static __global__ void nst_k_affine_partial_kernel(nst_k_affine p) {
    NST_K_SHARED(double, sm, 6 * NST_K_AFFINE_THREADS);
    nst_k_affine_partial_load(blockIdx.x, threadIdx.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_AFFINE_THREADS / 2; s > 0; s /= 2) {
        nst_k_affine_partial_step(threadIdx.x, s, sm);
        __syncthreads();
    }
    nst_k_affine_partial_store(blockIdx.x, threadIdx.x, &p, sm);
}
#endif

#endif
