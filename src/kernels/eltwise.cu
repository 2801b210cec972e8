/* CUDA elementwise ops: add, scale, axpy, clamp (semantics of src/cpu/eltwise.c and clamp.c,
 * bit for bit). Launch shape: a 1-D grid-stride grid of 256-thread blocks, one thread per float4
 * when every pointer is 16-byte aligned (else per float); coalesced, each element touched once.
 * Element math in eltwise.cuh, which the CPU emulation (tests/emul/) runs over this same grid;
 * parity with the CPU op on a GPU: tests/parity/; bandwidth: bench/bench_gpu_kernels.cu. */
#include "eltwise.cuh"
#include "kernel_launch.cuh"

NST_K_FLAT_GLOBAL(nst_k_add)
NST_K_FLAT_GLOBAL(nst_k_scale)
NST_K_FLAT_GLOBAL(nst_k_axpy)
NST_K_FLAT_GLOBAL(nst_k_clamp)

extern "C" nst_status nst__cuda_add(nst_ctx *ctx, const void *params) {
    const nst_add_params *p = (const nst_add_params *)params;
    nst_k_flat k = nst_k_flat_make((const float *)p->a->data, (const float *)p->b->data,
                                   (float *)p->y->data, nst_tensor_numel(p->a));
    NST_K_LAUNCH_FLAT(ctx, "add", nst_k_add_kernel, k);
}

extern "C" nst_status nst__cuda_scale(nst_ctx *ctx, const void *params) {
    const nst_scale_params *p = (const nst_scale_params *)params;
    nst_k_flat k = nst_k_flat_make((const float *)p->x->data, NULL, (float *)p->y->data,
                                   nst_tensor_numel(p->x));
    k.alpha = p->alpha;
    NST_K_LAUNCH_FLAT(ctx, "scale", nst_k_scale_kernel, k);
}

extern "C" nst_status nst__cuda_axpy(nst_ctx *ctx, const void *params) {
    const nst_scale_params *p = (const nst_scale_params *)params;
    nst_k_flat k = nst_k_flat_make((const float *)p->x->data, NULL, (float *)p->y->data,
                                   nst_tensor_numel(p->x));
    k.alpha = p->alpha;
    NST_K_LAUNCH_FLAT(ctx, "axpy", nst_k_axpy_kernel, k);
}

extern "C" nst_status nst__cuda_clamp(nst_ctx *ctx, const void *params) {
    const nst_clamp_params *p = (const nst_clamp_params *)params;
    nst_k_flat k = nst_k_flat_make((const float *)p->x->data, NULL, (float *)p->y->data,
                                   nst_tensor_numel(p->x));
    k.lo = p->lo, k.hi = p->hi;
    NST_K_LAUNCH_FLAT(ctx, "clamp", nst_k_clamp_kernel, k);
}
