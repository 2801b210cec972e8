/* CPU emulation of the affine-grid kernels (affine_grid.cuh): the forward over its 1-D grid,
 * and the backward's two kernels, the partial-sum kernel phase by phase (a barrier = the end of
 * a loop over the block's threads, shared memory starting as NaN in every block) and the final
 * one, with the partials in an exact-size heap buffer. Run by tests/emul/test_kernel_emul.c over
 * the shared and extra affine-grid cases: the forward bit for bit with the CPU op, dtheta within
 * the fp32 tolerances (double sums in another order). */
#include "../../src/kernels/affine_grid.cuh"
#include "emul.h"

static void emul_affine_backward(const nst_affine_grid_params *p, const emul_mode *m) {
    if (!p->dtheta)
        return;
    enum { T = NST_K_AFFINE_THREADS };
    const int64_t *s = p->dgrid->shape;
    nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
    k.dgrid = CF(p->dgrid), k.dtheta = OF(p->dtheta);
    k.part = emul_xmalloc(nst_k_affine_scratch(s[0], s[1], s[2]));
    double *sm = emul_xmalloc(6 * T * sizeof *sm);
    const int64_t blocks = nst_k_affine_partial_blocks(&k);
    for (int64_t bi = 0; bi < blocks; bi++) {
        const int64_t b = at(bi, blocks, m->reverse);
        fill_nan(sm, 6 * T);
        for (int ti = 0; ti < T; ti++)
            nst_k_affine_partial_load(b, (int)at(ti, T, m->reverse), &k, sm);
        for (int st = T / 2; st > 0; st /= 2)
            for (int ti = 0; ti < T; ti++)
                nst_k_affine_partial_step((int)at(ti, T, m->reverse), st, sm);
        for (int ti = 0; ti < T; ti++)
            nst_k_affine_partial_store(b, (int)at(ti, T, m->reverse), &k, sm);
    }
    EMUL_1D(m, nst_k_affine_final_body, s[0] * 6, &k);
    free(sm);
    free(k.part);
}

void emul_affine_grid(nst_op op, const nst_affine_grid_params *p, const emul_mode *m) {
    if (op == NST_OP_AFFINE_GRID_BACKWARD) {
        emul_affine_backward(p, m);
        return;
    }
    const int64_t *s = p->grid->shape;
    nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
    k.theta = CF(p->theta), k.grid = OF(p->grid);
    EMUL_1D(m, nst_k_affine_forward_body, s[0] * s[1] * s[2], &k);
}
