/* CUDA global average pooling, forward and backward (semantics of src/cpu/global_pool.c).
 * Launch shapes:
 *   forward   instance_norm.cuh's partial sums (N * chunks * tiles blocks of 256 threads,
 *             coalesced over channels, a shared-memory tree per block, no atomics) and its
 *             finalize (one 32-thread block per (n, c), adding the chunks in order), which writes
 *             y = sum / M: deterministic, the same bits every run
 *   backward  dx = dy / M broadcast, 1-D grid-stride over channel vectors (global_pool.cuh)
 * The CPU emulation (tests/emul/) runs these kernels over the same grids; parity on a GPU:
 * tests/parity/. */
#include "global_pool.cuh"
#include "instance_norm.cuh"
#include "kernel_launch.cuh"

NST_K_GLOBAL(nst_k_gap_backward, nst_k_gap)

extern "C" nst_status nst__cuda_global_avg_pool_forward(nst_ctx *ctx, const void *params) {
    const nst_global_avg_pool_params *p = (const nst_global_avg_pool_params *)params;
    const char *op = "global_avg_pool_forward";
    const int64_t *s = p->x->shape;
    const nst_k_norm_shape d = nst_k_norm_shape_make(s[0], s[1] * s[2], s[3]);
    void *scratch = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "partial sums", nst_k_norm_layout_make(d, 0).total,
                               &scratch));
    nst_k_norm k = nst_k_norm_make(d, scratch, 0);
    k.x = (const float *)p->x->data;
    k.pool = (float *)p->y->data;
    k.mode = NST_K_NORM_SUM;
    const int64_t blocks = nst_k_norm_partial_blocks(&k);
    if (blocks == 0)
        return NST_OK;
    nst_k_norm_partial_kernel<<<(unsigned)blocks, NST_K_NORM_THREADS, 0,
                                nst__cuda_launch_stream(ctx)>>>(k);
    NST__TRY(nst_k_launched(ctx, op, "nst_k_norm_partial_kernel"));
    NST_K_LAUNCH_GRID(ctx, op, nst_k_norm_finalize, nst_k_norm_fin_grid(&k), k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_global_avg_pool_backward(nst_ctx *ctx, const void *params) {
    const nst_global_avg_pool_params *p = (const nst_global_avg_pool_params *)params;
    const int64_t *s = p->dx->shape;
    const nst_k_gap k = nst_k_gap_make((const float *)p->dy->data, (float *)p->dx->data, s[0],
                                       s[1] * s[2], s[3]);
    NST_K_LAUNCH_1D(ctx, "global_avg_pool_backward", nst_k_gap_backward,
                    nst_k_gap_backward_work(&k), k);
    return NST_OK;
}
