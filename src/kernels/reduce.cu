/* CUDA sum and mean of all elements (semantics of src/cpu/reduce.c; double accumulation).
 * Launch shape: pass 1, nst_k_reduce_blocks(n) blocks of 256 threads, each thread a grid-stride
 * share of x (float4 loads when aligned: coalesced), a shared-memory tree per block, one double
 * partial per block in scratch; pass 2, one block of 256 threads adds the partials in a fixed
 * order and writes y. No atomics: the same bits on every run. The phases live in reduce.cuh,
 * whose kernels the CPU emulation (tests/emul/) runs over this same grid; parity on a GPU:
 * tests/parity/; bandwidth: bench/bench_gpu_kernels.cu. */
#include "kernel_launch.cuh"
#include "reduce.cuh"

static nst_status reduce(nst_ctx *ctx, const void *params, int mean) {
    const nst_reduce_params *p = (const nst_reduce_params *)params;
    const char *op = mean ? "reduce_mean" : "reduce_sum";
    const int64_t n = nst_tensor_numel(p->x);
    void *part = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "block partial sums", nst_k_reduce_scratch(n), &part));
    nst_k_reduce k = nst_k_reduce_make((const float *)p->x->data, n, (double *)part,
                                       (float *)p->y->data, mean);
    cudaStream_t stream = nst__cuda_launch_stream(ctx);
    nst_k_reduce_partial_kernel<<<(unsigned)k.blocks, NST_K_REDUCE_THREADS, 0, stream>>>(k);
    NST__TRY(nst_k_launched(ctx, op, "nst_k_reduce_partial_kernel"));
    nst_k_reduce_final_kernel<<<1, NST_K_REDUCE_THREADS, 0, stream>>>(k);
    return nst_k_launched(ctx, op, "nst_k_reduce_final_kernel");
}

extern "C" nst_status nst__cuda_reduce_sum(nst_ctx *ctx, const void *params) {
    return reduce(ctx, params, 0);
}

extern "C" nst_status nst__cuda_reduce_mean(nst_ctx *ctx, const void *params) {
    return reduce(ctx, params, 1);
}
