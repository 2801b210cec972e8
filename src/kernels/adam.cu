/* CUDA fused Adam: one launch updates every (param, grad, m, v) slot of a step (semantics of
 * src/cpu/adam.c, bit for bit). Before the launch the step constants and the slot table (device
 * pointers, sizes, first chunks, vector widths) are uploaded into the op's scratch with
 * cudaMemcpyAsync on the context's stream, in batches from a stack buffer (a pageable copy is
 * staged before the call returns, so the buffer can be reused); the kernel reads them from
 * device memory. Launch shape: a 1-D grid-stride grid of 256-thread blocks over 4096-element
 * chunks of all slots, float4 where aligned, coalesced (adam.cuh). The kernel body lives in
 * adam.cuh, which the CPU emulation (tests/emul/) runs over this same grid; parity on a GPU:
 * tests/parity/; timing: bench/bench_gpu_brief.cu. */
#include "adam.cuh"
#include "kernel_launch.cuh"

#define TABLE_BATCH 32

extern "C" nst_status nst__cuda_adam(nst_ctx *ctx, const void *params) {
    const nst_adam_params *p = (const nst_adam_params *)params;
    const char *op = "adam";
    if (p->n_slots == 0)
        return NST_OK;
    void *scratch = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "the step constants and slot table",
                               nst_k_adam_scratch(p->n_slots), &scratch));
    cudaStream_t stream = nst__cuda_launch_stream(ctx);
    nst_k_adam_head head;
    head.step = p->step;
    NST_K_CUDA_TRY(ctx,
                   cudaMemcpyAsync(scratch, &head, sizeof head, cudaMemcpyHostToDevice, stream),
                   "adam: uploading the step constants");
    nst_k_adam_slot *table = (nst_k_adam_slot *)((char *)scratch + nst_k_adam_slots_offset());
    nst_k_adam_slot batch[TABLE_BATCH];
    int64_t chunks = 0;
    for (int i0 = 0; i0 < p->n_slots; i0 += TABLE_BATCH) {
        const int n = p->n_slots - i0 < TABLE_BATCH ? p->n_slots - i0 : TABLE_BATCH;
        for (int i = 0; i < n; i++) {
            batch[i] = nst_k_adam_row(&p->slots[i0 + i], chunks);
            chunks += nst_k_adam_slot_chunks(batch[i].n);
        }
        NST_K_CUDA_TRY(ctx,
                       cudaMemcpyAsync(table + i0, batch, (size_t)n * sizeof batch[0],
                                       cudaMemcpyHostToDevice, stream),
                       "adam: uploading the slot table");
    }
    nst_k_adam k;
    k.head = (const nst_k_adam_head *)scratch;
    k.slots = table;
    k.chunks = chunks;
    k.n_slots = p->n_slots;
    const nst_k_grid g = nst_k_adam_grid(&k);
    if (g.blocks == 0)
        return NST_OK;
    nst_k_adam_kernel<<<(unsigned)g.blocks, g.threads, 0, stream>>>(k);
    return nst_k_launched(ctx, op, "nst_k_adam_kernel");
}
