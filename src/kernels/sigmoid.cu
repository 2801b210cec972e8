/* CUDA sigmoid, forward and backward (semantics of src/cpu/sigmoid.c). Launch shape: a 1-D
 * grid-stride grid of 256-thread blocks, one thread per float4 when every pointer is 16-byte
 * aligned (else per float); loads and stores are coalesced and each element is touched once.
 * Element math lives in sigmoid.cuh, which the CPU emulation (tests/emul/) runs over this same
 * grid; parity with the CPU op on a GPU: tests/parity/. */
#include "kernel_launch.cuh"
#include "sigmoid.cuh"

NST_K_FLAT_GLOBAL(nst_k_sigmoid_forward)
NST_K_FLAT_GLOBAL(nst_k_sigmoid_backward)

extern "C" nst_status nst__cuda_sigmoid_forward(nst_ctx *ctx, const void *params) {
    const nst_sigmoid_params *p = (const nst_sigmoid_params *)params;
    nst_k_flat k = nst_k_flat_make((const float *)p->x->data, NULL, (float *)p->y->data,
                                   nst_tensor_numel(p->x));
    NST_K_LAUNCH_FLAT(ctx, "sigmoid_forward", nst_k_sigmoid_forward_kernel, k);
}

extern "C" nst_status nst__cuda_sigmoid_backward(nst_ctx *ctx, const void *params) {
    const nst_sigmoid_params *p = (const nst_sigmoid_params *)params;
    nst_k_flat k = nst_k_flat_make((const float *)p->y->data, (const float *)p->dy->data,
                                   (float *)p->dx->data, nst_tensor_numel(p->y));
    NST_K_LAUNCH_FLAT(ctx, "sigmoid_backward", nst_k_sigmoid_backward_kernel, k);
}
