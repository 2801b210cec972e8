/* CUDA nearest 2x upsampling, forward and backward (semantics of src/cpu/upsample.c, bit for
 * bit). Launch shape: 1-D grid-stride grids of 256-thread blocks over the output's channel
 * vectors (float4 when C % 4 == 0 and aligned), channels innermost: coalesced; backward gathers
 * each dx element's 2x2 block of dy (no atomics). Index math in upsample.cuh, which the CPU
 * emulation (tests/emul/) runs over this same grid; parity on a GPU: tests/parity/; bandwidth:
 * bench/bench_gpu_kernels.cu. */
#include "kernel_launch.cuh"
#include "upsample.cuh"

NST_K_GLOBAL(nst_k_upsample_forward, nst_k_upsample)
NST_K_GLOBAL(nst_k_upsample_backward, nst_k_upsample)

extern "C" nst_status nst__cuda_upsample2x_forward(nst_ctx *ctx, const void *params) {
    const nst_upsample2x_params *p = (const nst_upsample2x_params *)params;
    const int64_t *s = p->x->shape;
    nst_k_upsample k = nst_k_upsample_make((const float *)p->x->data, NULL, (float *)p->y->data,
                                           NULL, s[0], s[1], s[2], s[3]);
    NST_K_LAUNCH_1D(ctx, "upsample2x_forward", nst_k_upsample_forward,
                    nst_k_upsample_forward_work(&k), k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_upsample2x_backward(nst_ctx *ctx, const void *params) {
    const nst_upsample2x_params *p = (const nst_upsample2x_params *)params;
    const int64_t *s = p->dx->shape;
    nst_k_upsample k = nst_k_upsample_make(NULL, (const float *)p->dy->data, NULL,
                                           (float *)p->dx->data, s[0], s[1], s[2], s[3]);
    NST_K_LAUNCH_1D(ctx, "upsample2x_backward", nst_k_upsample_backward,
                    nst_k_upsample_backward_work(&k), k);
    return NST_OK;
}
