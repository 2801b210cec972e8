/* CUDA instance norm and conditional instance norm (per-image gamma and beta), forward and
 * backward (semantics of src/cpu/instance_norm.c: statistics in double, two passes for the
 * variance). Launch shapes (see instance_norm.cuh):
 *   partial sums   N * chunks * tiles blocks of 256 threads (channel lanes x pixel rows),
 *                  coalesced over channels, a shared-memory tree per block, one double partial
 *                  per (n, chunk, c) in scratch; no atomics
 *   finalize       one 32-thread block per (n, c) (forward) or per c (backward): the block
 *                  loads the chunk partials into shared memory, 256 at a time, and one thread
 *                  adds them in chunk order (instance_norm.cuh says why)
 *   elementwise    y or dx, 1-D grid-stride over channel vectors (float4 when C % 4 == 0)
 * forward: sums -> mean -> squares -> stats -> normalize; backward: gradient sums -> finalize
 * (dgamma, dbeta, per-(n, c) constants) -> dx. The same bits on every run. The phases live in
 * instance_norm.cuh, whose kernels the CPU emulation (tests/emul/) runs over these same grids;
 * parity on a GPU: tests/parity/; bandwidth: bench/bench_gpu_kernels.cu. */
#include "instance_norm.cuh"
#include "kernel_launch.cuh"

NST_K_GLOBAL(nst_k_norm_apply, nst_k_norm)
NST_K_GLOBAL(nst_k_norm_dx, nst_k_norm)

static nst_status partial_sums(nst_ctx *ctx, const char *op, const nst_k_norm *k) {
    const int64_t blocks = nst_k_norm_partial_blocks(k);
    if (blocks == 0)
        return NST_OK;
    nst_k_norm_partial_kernel<<<(unsigned)blocks, NST_K_NORM_THREADS, 0,
                                nst__cuda_launch_stream(ctx)>>>(*k);
    return nst_k_launched(ctx, op, "nst_k_norm_partial_kernel");
}

static nst_k_norm_shape shape_of(const nst_tensor *x) {
    return nst_k_norm_shape_make(x->shape[0], x->shape[1] * x->shape[2], x->shape[3]);
}

/* per_image: conditional instance norm (gamma, beta, dgamma, dbeta (N, C)). */
static nst_status norm_forward(nst_ctx *ctx, const void *params, int per_image, const char *op) {
    const nst_instance_norm_params *p = (const nst_instance_norm_params *)params;
    const nst_k_norm_shape d = shape_of(p->x);
    void *scratch = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "partial sums and statistics",
                               nst_k_norm_layout_make(d, 0).total, &scratch));
    nst_k_norm k = nst_k_norm_make(d, scratch, 0);
    k.x = (const float *)p->x->data;
    k.gamma = p->gamma ? (const float *)p->gamma->data : NULL;
    k.beta = p->beta ? (const float *)p->beta->data : NULL;
    k.y = (float *)p->y->data;
    k.mean_out = p->mean ? (float *)p->mean->data : NULL;
    k.rstd_out = p->rstd ? (float *)p->rstd->data : NULL;
    k.eps = p->eps;
    k.per_image = per_image;
    k.v = nst_k_norm_vec(&k);
    k.mode = NST_K_NORM_SUM;
    NST__TRY(partial_sums(ctx, op, &k));
    NST_K_LAUNCH_GRID(ctx, op, nst_k_norm_finalize, nst_k_norm_fin_grid(&k), k);
    k.mode = NST_K_NORM_SQUARES;
    NST__TRY(partial_sums(ctx, op, &k));
    NST_K_LAUNCH_GRID(ctx, op, nst_k_norm_finalize, nst_k_norm_fin_grid(&k), k);
    NST_K_LAUNCH_1D(ctx, op, nst_k_norm_apply, nst_k_norm_elem_work(&k), k);
    return NST_OK;
}

static nst_status norm_backward(nst_ctx *ctx, const void *params, int per_image, const char *op) {
    const nst_instance_norm_params *p = (const nst_instance_norm_params *)params;
    const nst_k_norm_shape d = shape_of(p->x);
    void *scratch = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "partial sums and constants",
                               nst_k_norm_layout_make(d, 1).total, &scratch));
    nst_k_norm k = nst_k_norm_make(d, scratch, 1);
    k.x = (const float *)p->x->data;
    k.gamma = p->gamma ? (const float *)p->gamma->data : NULL;
    k.dy = (const float *)p->dy->data;
    k.mean_in = (const float *)p->mean->data;
    k.rstd_in = (const float *)p->rstd->data;
    k.dx = p->dx ? (float *)p->dx->data : NULL;
    k.dgamma = p->dgamma ? (float *)p->dgamma->data : NULL;
    k.dbeta = p->dbeta ? (float *)p->dbeta->data : NULL;
    k.accumulate = p->accumulate;
    k.per_image = per_image;
    k.v = nst_k_norm_vec(&k);
    k.mode = NST_K_NORM_GRAD;
    NST__TRY(partial_sums(ctx, op, &k));
    NST_K_LAUNCH_GRID(ctx, op, nst_k_norm_finalize, nst_k_norm_fin_grid(&k), k);
    if (k.dx)
        NST_K_LAUNCH_1D(ctx, op, nst_k_norm_dx, nst_k_norm_elem_work(&k), k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_instance_norm_forward(nst_ctx *ctx, const void *params) {
    return norm_forward(ctx, params, 0, "instance_norm_forward");
}

extern "C" nst_status nst__cuda_instance_norm_backward(nst_ctx *ctx, const void *params) {
    return norm_backward(ctx, params, 0, "instance_norm_backward");
}

extern "C" nst_status nst__cuda_cond_instance_norm_forward(nst_ctx *ctx, const void *params) {
    return norm_forward(ctx, params, 1, "cond_instance_norm_forward");
}

extern "C" nst_status nst__cuda_cond_instance_norm_backward(nst_ctx *ctx, const void *params) {
    return norm_backward(ctx, params, 1, "cond_instance_norm_backward");
}
