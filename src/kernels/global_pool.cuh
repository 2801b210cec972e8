/* Global average pooling's backward kernel (src/kernels/global_pool.cu launches it, and the
 * forward through instance_norm.cuh's partial-sum and finalize kernels; the CPU emulation runs
 * them over the same grids). Semantics of src/cpu/global_pool.c:
 *   forward  y[n, c] = sum over the M = H*W pixels of x[n, :, :, c] / M, summed in double: the
 *            instance-norm sums (mode NST_K_NORM_SUM, `pool` set), deterministic, within fp32
 *            rounding of the CPU (the double sums are added in another order);
 *   backward dx[n, q, c] = dy[n, c] / M in double, rounded once: the CPU's bits.
 * Backward launch: 1-D grid-stride over (N, M, C / v), float4 when C % 4 == 0 and the pointers
 * are aligned; stores coalesced, dy (N, C) read from L1/L2.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_GLOBAL_POOL_CUH
#define NSTYLE_GLOBAL_POOL_CUH

#include "kernel_common.cuh"

typedef struct {
    const float *dy; /* (N, C) */
    float *dx;       /* (N, M, C) */
    int64_t N, M, C;
    int v;           /* 1 or 4 */
} nst_k_gap;

NST_HDI nst_k_gap nst_k_gap_make(const float *dy, float *dx, int64_t N, int64_t M, int64_t C) {
    nst_k_gap p;
    p.dy = dy, p.dx = dx, p.N = N, p.M = M, p.C = C;
    p.v = nst_k_vec_ok(C, dy, dx, NULL, NULL) ? 4 : 1;
    return p;
}

NST_HDI int64_t nst_k_gap_backward_work(const nst_k_gap *p) {
    return p->N * p->M * (p->C / p->v);
}

NST_HDI float nst_k_gap_share(float g, int64_t M) {
    return (float)((double)g / (double)M);
}

NST_HDI void nst_k_gap_backward_body(int64_t block, int thread, int threads, int64_t blocks,
                                     const nst_k_gap *p) {
    const int v = p->v;
    const int64_t CG = p->C / v, MC = p->M * CG, stride = nst_k_stride(blocks, threads);
    const int64_t work = nst_k_gap_backward_work(p);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const nst_f4 g = nst_k_ldv(p->dy + (i / MC) * p->C + (i % CG) * v, v);
        nst_f4 o;
        o.x = nst_k_gap_share(g.x, p->M);
        o.y = nst_k_gap_share(g.y, p->M);
        o.z = nst_k_gap_share(g.z, p->M);
        o.w = nst_k_gap_share(g.w, p->M);
        nst_k_stv(p->dx + i * v, o, v);
    }
}

#endif
