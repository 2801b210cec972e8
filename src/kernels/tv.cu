/* CUDA total-variation loss, forward and backward (semantics of src/cpu/tv.c). Forward: a
 * deterministic two-pass reduction over the elements (nst_k_reduce_blocks(numel) blocks of 256
 * threads summing squared neighbour differences in double, a shared-memory tree per block, one
 * partial per block in scratch; then reduce.cuh's final kernel dividing by N*H*W), no atomics.
 * Backward: a 1-D grid-stride kernel, one thread per element, coalesced, the CPU's bits. The
 * phases live in tv.cuh, which the CPU emulation (tests/emul/) runs over these same grids;
 * parity on a GPU: tests/parity/. */
#include "kernel_launch.cuh"
#include "tv.cuh"

NST_K_GLOBAL(nst_k_tv_grad, nst_k_tv)

static nst_k_tv kernel_args(const nst_tensor *x) {
    const int64_t *s = x->shape;
    return nst_k_tv_make((const float *)x->data, s[0], s[1], s[2], s[3]);
}

extern "C" size_t nst__cuda_tv_scratch(const void *params) {
    const nst_k_tv k = kernel_args(((const nst_tv_params *)params)->x);
    return (size_t)k.r.blocks * sizeof(double);
}

extern "C" nst_status nst__cuda_tv_forward(nst_ctx *ctx, const void *params) {
    const nst_tv_params *p = (const nst_tv_params *)params;
    const char *op = "tv_forward";
    nst_k_tv k = kernel_args(p->x);
    void *part = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "block partial sums",
                               (size_t)k.r.blocks * sizeof(double), &part));
    k.r.part = (double *)part;
    k.r.y = (float *)p->loss->data;
    cudaStream_t stream = nst__cuda_launch_stream(ctx);
    nst_k_tv_partial_kernel<<<(unsigned)k.r.blocks, NST_K_REDUCE_THREADS, 0, stream>>>(k);
    NST__TRY(nst_k_launched(ctx, op, "nst_k_tv_partial_kernel"));
    nst_k_reduce_final_kernel<<<1, NST_K_REDUCE_THREADS, 0, stream>>>(k.r);
    return nst_k_launched(ctx, op, "nst_k_reduce_final_kernel");
}

extern "C" nst_status nst__cuda_tv_backward(nst_ctx *ctx, const void *params) {
    const nst_tv_params *p = (const nst_tv_params *)params;
    nst_k_tv k = kernel_args(p->x);
    const int64_t pixels = k.N * k.H * k.W;
    if (!p->dx || pixels == 0)
        return NST_OK;
    k.dx = (float *)p->dx->data;
    k.k = (float)(2.0 * (double)p->scale / (double)pixels);
    k.accumulate = p->accumulate;
    NST_K_LAUNCH_1D(ctx, "tv_backward", nst_k_tv_grad, nst_k_tv_numel(&k), k);
    return NST_OK;
}
