/* CUDA bilinear grid sampling, forward and backward to the input and the grid (semantics of
 * src/cpu/grid_sample.c, PyTorch F.grid_sample: padding zeros / border / reflection,
 * align_corners either way, the per-point math of src/math/grid_math.h). Launch shapes (see
 * grid_sample.cuh): blocks of 256 threads as pixel slots x G channel lanes, one slot per output
 * pixel, channels read and written coalesced (NHWC). Forward: one kernel, the CPU's bits.
 * Backward: dx zeroed, then one kernel scattering dx with atomicAdd and reducing dgrid per
 * pixel in shared memory (fixed order). With the context's deterministic setting
 * (nst_ctx_deterministic) dx comes instead from count -> scan -> fill -> sorted gather, which
 * gives the CPU's bits on every run, at the price of scratch (nst_k_gs_layout) and more passes.
 * The phases live in grid_sample.cuh, which the CPU emulation (tests/emul/) runs over these
 * same grids; parity on a GPU: tests/parity/; timing: bench/bench_gpu_brief.cu. */
#include "grid_sample.cuh"
#include "kernel_launch.cuh"

NST_K_GLOBAL(nst_k_gs_count, nst_k_gs)
NST_K_GLOBAL(nst_k_gs_fill, nst_k_gs)

static nst_k_gs kernel_args(const nst_grid_sample_params *p) {
    const int64_t *xs = p->x->shape, *gs = p->grid->shape;
    return nst_k_gs_make((const float *)p->x->data, (const float *)p->grid->data, xs[0], xs[1],
                         xs[2], xs[3], gs[1], gs[2], (int)p->padding, p->align_corners);
}

/* The deterministic path's scratch bytes for these params (0 on the atomic path). */
extern "C" size_t nst__cuda_grid_sample_scratch(nst_ctx *ctx, const void *params) {
    const nst_grid_sample_params *p = (const nst_grid_sample_params *)params;
    if (!p->dx || !nst_ctx_deterministic(ctx))
        return 0;
    const int64_t *xs = p->x->shape, *gs = p->grid->shape;
    return nst_k_gs_layout_make(xs[0] * xs[1] * xs[2], xs[0] * gs[1] * gs[2]).total;
}

extern "C" nst_status nst__cuda_grid_sample_forward(nst_ctx *ctx, const void *params) {
    const nst_grid_sample_params *p = (const nst_grid_sample_params *)params;
    nst_k_gs k = kernel_args(p);
    k.y = (float *)p->y->data;
    const int64_t blocks = nst_k_gs_blocks(&k, k.N * k.Ho * k.Wo);
    if (blocks == 0)
        return NST_OK;
    nst_k_gs_forward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0,
                              nst__cuda_launch_stream(ctx)>>>(k);
    return nst_k_launched(ctx, "grid_sample_forward", "nst_k_gs_forward_kernel");
}

/* dx by count -> scan -> fill -> sorted gather (no float atomics). */
static nst_status deterministic_dx(nst_ctx *ctx, const char *op, nst_k_gs k, float *dx) {
    const int64_t inputs = k.N * k.H * k.W, outputs = k.N * k.Ho * k.Wo;
    if (!nst_k_gs_keys_fit(outputs))
        return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                        "op %s: %lld output pixels exceed the deterministic dx path's int32 "
                        "keys (4 per pixel); turn deterministic mode off or sample in pieces",
                        op, (long long)outputs);
    void *scratch = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "deterministic dx lists",
                               nst_k_gs_layout_make(inputs, outputs).total, &scratch));
    nst_k_gs_set_scratch(&k, scratch);
    k.dx = NULL;
    k.dx_gather = dx;
    cudaStream_t stream = nst__cuda_launch_stream(ctx);
    NST_K_CUDA_TRY(ctx, cudaMemsetAsync(k.count, 0, (size_t)inputs * sizeof(int), stream),
                  "grid_sample_backward: zeroing the dx counts");
    NST_K_LAUNCH_1D(ctx, op, nst_k_gs_count, outputs, k);
    if (k.tiles > 0) {
        nst_k_gs_scan_sum_kernel<<<(unsigned)k.tiles, NST_K_GS_THREADS, 0, stream>>>(k);
        NST__TRY(nst_k_launched(ctx, op, "nst_k_gs_scan_sum_kernel"));
    }
    nst_k_gs_scan_tiles_kernel<<<1, 1, 0, stream>>>(k);
    NST__TRY(nst_k_launched(ctx, op, "nst_k_gs_scan_tiles_kernel"));
    if (k.tiles > 0) {
        nst_k_gs_scan_apply_kernel<<<(unsigned)k.tiles, NST_K_GS_THREADS, 0, stream>>>(k);
        NST__TRY(nst_k_launched(ctx, op, "nst_k_gs_scan_apply_kernel"));
    }
    NST_K_LAUNCH_1D(ctx, op, nst_k_gs_fill, outputs, k);
    const int64_t blocks = nst_k_gs_blocks(&k, inputs);
    if (blocks > 0) {
        nst_k_gs_gather_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0, stream>>>(k);
        NST__TRY(nst_k_launched(ctx, op, "nst_k_gs_gather_kernel"));
    }
    return NST_OK;
}

extern "C" nst_status nst__cuda_grid_sample_backward(nst_ctx *ctx, const void *params) {
    const nst_grid_sample_params *p = (const nst_grid_sample_params *)params;
    const char *op = "grid_sample_backward";
    nst_k_gs k = kernel_args(p);
    k.dy = (const float *)p->dy->data;
    k.dgrid = p->dgrid ? (float *)p->dgrid->data : NULL;
    float *dx = p->dx ? (float *)p->dx->data : NULL;
    const bool deterministic = dx && nst_ctx_deterministic(ctx);
    if (dx && !deterministic) {
        NST_K_CUDA_TRY(ctx,
                       cudaMemsetAsync(dx, 0, nst_tensor_bytes(p->dx),
                                       nst__cuda_launch_stream(ctx)),
                       "grid_sample_backward: zeroing dx");
        k.dx = dx;
    }
    const int64_t blocks = nst_k_gs_blocks(&k, k.N * k.Ho * k.Wo);
    if ((k.dx || k.dgrid) && blocks > 0) {
        nst_k_gs_backward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0,
                                   nst__cuda_launch_stream(ctx)>>>(k);
        NST__TRY(nst_k_launched(ctx, op, "nst_k_gs_backward_kernel"));
    }
    return deterministic ? deterministic_dx(ctx, op, k, dx) : NST_OK;
}
