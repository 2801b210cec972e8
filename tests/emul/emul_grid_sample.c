/* grid_sample.cu's launchers emulated (emul.h): the forward's slot kernel; the backward's
 * slot kernel, writing dgrid and, on the atomic path, dx (dx zeroed first, a memset for the
 * launcher's cudaMemsetAsync); and the deterministic dx path's kernels (count, the three scan
 * kernels, fill, gather), the scratch laid out as the launcher lays it out. Run by
 * tests/emul/test_kernel_emul.c: every grid-sample case through the deterministic path against
 * the CPU op's bits (dgrid too when it has one channel lane), and the atomic dx path within the
 * fp32 tolerances in every order. */
#include <string.h>

#include "../../src/kernels/grid_sample.cuh"
#include "emul.h"

static nst_k_gs gs_args(const nst_grid_sample_params *p) {
    const int64_t *xs = p->x->shape, *gs = p->grid->shape;
    return nst_k_gs_make(CF(p->x), CF(p->grid), xs[0], xs[1], xs[2], xs[3], gs[1], gs[2],
                         (int)p->padding, p->align_corners);
}

void emul_grid_sample_forward(const nst_grid_sample_params *p, const emul_mode *m) {
    nst_k_gs k = gs_args(p);
    k.y = OF(p->y);
    const int64_t blocks = nst_k_gs_blocks(&k, k.N * k.Ho * k.Wo);
    if (blocks > 0)
        EMUL_K(m, nst_k_gs_forward_kernel, blocks, NST_K_GS_THREADS, &k);
}

/* The deterministic dx kernels: count, scan (three kernels), fill, gather. */
static void emul_gs_deterministic_dx(nst_k_gs k, float *dx, const emul_mode *m) {
    const int64_t inputs = k.N * k.H * k.W, outputs = k.N * k.Ho * k.Wo;
    cr_assert(nst_k_gs_keys_fit(outputs));
    void *scratch = emul_scratch(nst_k_gs_layout_make(inputs, outputs).total,
                                 "deterministic dx lists");
    nst_k_gs_set_scratch(&k, scratch);
    k.dx = NULL, k.dx_gather = dx;
    memset(k.count, 0, (size_t)inputs * sizeof(int));
    EMUL_1D(m, nst_k_gs_count, outputs, &k);
    if (k.tiles > 0)
        EMUL_K(m, nst_k_gs_scan_sum_kernel, k.tiles, NST_K_GS_THREADS, &k);
    EMUL_K(m, nst_k_gs_scan_tiles_kernel, 1, 1, &k);
    if (k.tiles > 0)
        EMUL_K(m, nst_k_gs_scan_apply_kernel, k.tiles, NST_K_GS_THREADS, &k);
    EMUL_1D(m, nst_k_gs_fill, outputs, &k);
    const int64_t blocks = nst_k_gs_blocks(&k, inputs);
    if (blocks > 0)
        EMUL_K(m, nst_k_gs_gather_kernel, blocks, NST_K_GS_THREADS, &k);
    emul_scratch_free(scratch);
}

void emul_grid_sample_backward(const nst_grid_sample_params *p, const emul_mode *m,
                               bool deterministic) {
    nst_k_gs k = gs_args(p);
    k.dy = CF(p->dy), k.dgrid = OF(p->dgrid);
    float *dx = OF(p->dx);
    if (dx && !deterministic) {
        memset(dx, 0, nst_tensor_bytes(p->dx));
        k.dx = dx;
    }
    const int64_t blocks = nst_k_gs_blocks(&k, k.N * k.Ho * k.Wo);
    if ((k.dx || k.dgrid) && blocks > 0)
        EMUL_K(m, nst_k_gs_backward_kernel, blocks, NST_K_GS_THREADS, &k);
    if (dx && deterministic)
        emul_gs_deterministic_dx(k, dx, m);
}

bool emul_grid_sample_dgrid_exact(const nst_grid_sample_params *p) {
    return nst_k_gs_lanes(p->x->shape[3]) == 1;
}
