/* CUDA MSE loss, forward and backward (semantics of src/cpu/mse.c). Forward: a deterministic
 * two-pass reduction (nst_k_reduce_blocks(n) blocks of 256 threads summing (a - b)^2 in double
 * with float4 loads where aligned, a shared-memory tree per block, one partial per block in
 * scratch; then reduce.cuh's final kernel dividing by numel), no atomics. Backward: a 1-D
 * grid-stride flat kernel, float4 where aligned, coalesced, the CPU's bits. The phases live in
 * mse.cuh, which the CPU emulation (tests/emul/) runs over these same grids; parity on a GPU:
 * tests/parity/. */
#include "kernel_launch.cuh"
#include "mse.cuh"

NST_K_FLAT_GLOBAL(nst_k_mse_grad)
NST_K_FLAT_GLOBAL(nst_k_mse_grad_acc)

extern "C" nst_status nst__cuda_mse_forward(nst_ctx *ctx, const void *params) {
    const nst_mse_params *p = (const nst_mse_params *)params;
    const char *op = "mse_forward";
    const int64_t n = nst_tensor_numel(p->a);
    void *part = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "block partial sums", nst_k_reduce_scratch(n), &part));
    nst_k_mse k = nst_k_mse_make((const float *)p->a->data, (const float *)p->b->data, n,
                                 (double *)part, (float *)p->loss->data);
    cudaStream_t stream = nst__cuda_launch_stream(ctx);
    nst_k_mse_partial_kernel<<<(unsigned)k.r.blocks, NST_K_REDUCE_THREADS, 0, stream>>>(k);
    NST__TRY(nst_k_launched(ctx, op, "nst_k_mse_partial_kernel"));
    nst_k_reduce_final_kernel<<<1, NST_K_REDUCE_THREADS, 0, stream>>>(k.r);
    return nst_k_launched(ctx, op, "nst_k_reduce_final_kernel");
}

extern "C" nst_status nst__cuda_mse_backward(nst_ctx *ctx, const void *params) {
    const nst_mse_params *p = (const nst_mse_params *)params;
    const int64_t n = nst_tensor_numel(p->a);
    if (!p->da || n == 0)
        return NST_OK;
    nst_k_flat k = nst_k_flat_make((const float *)p->a->data, (const float *)p->b->data,
                                   (float *)p->da->data, n);
    k.alpha = (float)(2.0 * (double)p->scale / (double)n);
    if (p->accumulate)
        NST_K_LAUNCH_FLAT(ctx, "mse_backward", nst_k_mse_grad_acc_kernel, k);
    NST_K_LAUNCH_FLAT(ctx, "mse_backward", nst_k_mse_grad_kernel, k);
}
