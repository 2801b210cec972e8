/* CUDA Gram matrix, forward and backward, the 1/(C*H*W) scale folded in (semantics of
 * src/cpu/gram.c). Our own tiled kernels (gram.cuh): forward, a SYRK-style kernel over the
 * upper-triangle 64 x 64 tiles of G with split-K over H*W in fixed chunks (unscaled partials in
 * scratch), then a 1-D kernel adding the chunks in order, scaling and mirroring; backward,
 * S = dG + dG^T then a tiled GEMM dF = X S / (C*H*W). 256 threads per block, 4 x 4 outputs per
 * thread, 16-row stages through shared memory, coalesced loads along channels. No atomics: the
 * same bits on every run. The phases live in gram.cuh, which the CPU emulation (tests/emul/)
 * runs over these same grids; parity on a GPU: tests/parity/; TFLOP/s: bench/bench_gpu_brief.cu. */
#include "gram.cuh"
#include "kernel_launch.cuh"

NST_K_GLOBAL(nst_k_gram_final, nst_k_gram)
NST_K_GLOBAL(nst_k_gram_sym, nst_k_gram)

static nst_k_gram kernel_args(const nst_tensor *x) {
    return nst_k_gram_make((const float *)x->data, x->shape[0], x->shape[1] * x->shape[2],
                           x->shape[3]);
}

extern "C" size_t nst__cuda_gram_scratch(const void *params, int backward) {
    const nst_gram_params *p = (const nst_gram_params *)params;
    const nst_k_gram k = kernel_args(p->x);
    return nst_k_gram_scratch(&k, backward);
}

extern "C" nst_status nst__cuda_gram_forward(nst_ctx *ctx, const void *params) {
    const nst_gram_params *p = (const nst_gram_params *)params;
    const char *op = "gram_forward";
    nst_k_gram k = kernel_args(p->x);
    void *part = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "split-K partial Gram matrices",
                               nst_k_gram_scratch(&k, 0), &part));
    k.part = (float *)part;
    k.g = (float *)p->g->data;
    const int64_t blocks = nst_k_gram_forward_blocks(&k);
    if (blocks > 0) {
        nst_k_gram_forward_kernel<<<(unsigned)blocks, NST_K_GRAM_THREADS, 0,
                                    nst__cuda_launch_stream(ctx)>>>(k);
        NST__TRY(nst_k_launched(ctx, op, "nst_k_gram_forward_kernel"));
    }
    NST_K_LAUNCH_1D(ctx, op, nst_k_gram_final, k.N * k.C * k.C, k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_gram_backward(nst_ctx *ctx, const void *params) {
    const nst_gram_params *p = (const nst_gram_params *)params;
    const char *op = "gram_backward";
    if (!p->dx)
        return NST_OK;
    nst_k_gram k = kernel_args(p->x);
    if (k.HW == 0 || k.C == 0)
        return NST_OK;
    void *sym = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "the symmetrised gradient", nst_k_gram_scratch(&k, 1),
                               &sym));
    k.sym = (float *)sym;
    k.dg = (const float *)p->dg->data;
    k.dx = (float *)p->dx->data;
    k.accumulate = p->accumulate;
    NST_K_LAUNCH_1D(ctx, op, nst_k_gram_sym, k.N * k.C * k.C, k);
    const int64_t blocks = nst_k_gram_backward_blocks(&k);
    if (blocks > 0) {
        nst_k_gram_backward_kernel<<<(unsigned)blocks, NST_K_GRAM_THREADS, 0,
                                     nst__cuda_launch_stream(ctx)>>>(k);
        NST__TRY(nst_k_launched(ctx, op, "nst_k_gram_backward_kernel"));
    }
    return NST_OK;
}
