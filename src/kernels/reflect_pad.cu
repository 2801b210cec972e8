/* CUDA reflection padding, forward and backward (semantics of src/cpu/reflect_pad.c, bit for
 * bit). Launch shape: 1-D grid-stride grids of 256-thread blocks over the output's channel
 * vectors (float4 when C % 4 == 0 and aligned), channels innermost: coalesced; backward gathers
 * the at most 3 x 3 dy elements of each dx element (no atomics). Index math in reflect_pad.cuh,
 * which the CPU emulation (tests/emul/) runs over this same grid; parity on a GPU:
 * tests/parity/; bandwidth: bench/bench_gpu_kernels.cu. */
#include "kernel_launch.cuh"
#include "reflect_pad.cuh"

NST_K_GLOBAL(nst_k_pad_forward, nst_k_pad)
NST_K_GLOBAL(nst_k_pad_backward, nst_k_pad)

extern "C" nst_status nst__cuda_reflect_pad_forward(nst_ctx *ctx, const void *params) {
    const nst_reflect_pad_params *p = (const nst_reflect_pad_params *)params;
    const int64_t *s = p->x->shape;
    nst_k_pad k = nst_k_pad_make((const float *)p->x->data, NULL, (float *)p->y->data, NULL, s[0],
                                 s[1], s[2], s[3], p->top, p->bottom, p->left, p->right);
    NST_K_LAUNCH_1D(ctx, "reflect_pad_forward", nst_k_pad_forward, nst_k_pad_forward_work(&k), k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_reflect_pad_backward(nst_ctx *ctx, const void *params) {
    const nst_reflect_pad_params *p = (const nst_reflect_pad_params *)params;
    const int64_t *s = p->dx->shape;
    nst_k_pad k = nst_k_pad_make(NULL, (const float *)p->dy->data, NULL, (float *)p->dx->data,
                                 s[0], s[1], s[2], s[3], p->top, p->bottom, p->left, p->right);
    NST_K_LAUNCH_1D(ctx, "reflect_pad_backward", nst_k_pad_backward, nst_k_pad_backward_work(&k),
                    k);
    return NST_OK;
}
