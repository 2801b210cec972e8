/* CUDA 2x2 pooling (max and average), forward and backward (semantics of src/cpu/pool.c, bit for
 * bit). Launch shape: 1-D grid-stride grids of 256-thread blocks over the output's channel
 * vectors (float4 when C % 4 == 0 and aligned), channels innermost: coalesced; backward is a
 * gather over dx that writes every element once (no atomics). Index and element math in
 * pool.cuh, which the CPU emulation (tests/emul/) runs over this same grid; parity on a GPU:
 * tests/parity/; bandwidth: bench/bench_gpu_kernels.cu. */
#include "kernel_launch.cuh"
#include "pool.cuh"

NST_K_GLOBAL(nst_k_pool_forward, nst_k_pool)
NST_K_GLOBAL(nst_k_pool_backward, nst_k_pool)

extern "C" nst_status nst__cuda_pool2x2_forward(nst_ctx *ctx, const void *params) {
    const nst_pool2x2_params *p = (const nst_pool2x2_params *)params;
    const int64_t *s = p->x->shape;
    nst_k_pool k = nst_k_pool_make((const float *)p->x->data, NULL, (float *)p->y->data, NULL,
                                   s[0], s[1], s[2], s[3], p->mode == NST_POOL_MAX);
    NST_K_LAUNCH_1D(ctx, "pool2x2_forward", nst_k_pool_forward, nst_k_pool_forward_work(&k), k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_pool2x2_backward(nst_ctx *ctx, const void *params) {
    const nst_pool2x2_params *p = (const nst_pool2x2_params *)params;
    const int64_t *s = p->dx->shape;
    const bool is_max = p->mode == NST_POOL_MAX;
    nst_k_pool k = nst_k_pool_make(is_max ? (const float *)p->x->data : NULL,
                                   (const float *)p->dy->data, NULL, (float *)p->dx->data, s[0],
                                   s[1], s[2], s[3], is_max);
    NST_K_LAUNCH_1D(ctx, "pool2x2_backward", nst_k_pool_backward, nst_k_pool_backward_work(&k), k);
    return NST_OK;
}
