/* CUDA affine grid, forward and backward to theta (semantics of src/cpu/affine_grid.c, PyTorch
 * F.affine_grid). Launch shapes (see affine_grid.cuh): forward, a 1-D grid-stride grid of
 * 256-thread blocks, one thread per grid point, coalesced 8-byte stores, the CPU's bits;
 * backward, N * chunks blocks of 256 threads each reducing a fixed chunk of dgrid into six
 * double partials (shared-memory tree, no atomics), then one thread per dtheta element adding
 * the chunks in order: the same bits on every run. The phases live in affine_grid.cuh, which
 * the CPU emulation (tests/emul/) runs over these same grids; parity on a GPU: tests/parity/;
 * timing: bench/bench_gpu_brief.cu. */
#include "affine_grid.cuh"
#include "kernel_launch.cuh"

NST_K_GLOBAL(nst_k_affine_forward, nst_k_affine)
NST_K_GLOBAL(nst_k_affine_final, nst_k_affine)

extern "C" nst_status nst__cuda_affine_grid_forward(nst_ctx *ctx, const void *params) {
    const nst_affine_grid_params *p = (const nst_affine_grid_params *)params;
    const int64_t *s = p->grid->shape;
    nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
    k.theta = (const float *)p->theta->data;
    k.grid = (float *)p->grid->data;
    NST_K_LAUNCH_1D(ctx, "affine_grid_forward", nst_k_affine_forward, s[0] * s[1] * s[2], k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_affine_grid_backward(nst_ctx *ctx, const void *params) {
    const nst_affine_grid_params *p = (const nst_affine_grid_params *)params;
    const char *op = "affine_grid_backward";
    if (!p->dtheta)
        return NST_OK;
    const int64_t *s = p->dgrid->shape;
    nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
    void *part = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "chunk partial sums",
                               nst_k_affine_scratch(s[0], s[1], s[2]), &part));
    k.dgrid = (const float *)p->dgrid->data;
    k.dtheta = (float *)p->dtheta->data;
    k.part = (double *)part;
    const int64_t blocks = nst_k_affine_partial_blocks(&k);
    if (blocks > 0) {
        nst_k_affine_partial_kernel<<<(unsigned)blocks, NST_K_AFFINE_THREADS, 0,
                                      nst__cuda_launch_stream(ctx)>>>(k);
        NST__TRY(nst_k_launched(ctx, op, "nst_k_affine_partial_kernel"));
    }
    NST_K_LAUNCH_1D(ctx, op, nst_k_affine_final, s[0] * 6, k);
    return NST_OK;
}
