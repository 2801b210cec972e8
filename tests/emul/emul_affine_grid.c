/* affine_grid.cu's launchers emulated (emul.h): the forward over its 1-D grid, and the
 * backward's two kernels, the partial-sum kernel over N * chunks blocks and the final one, the
 * partials in scratch. Run by tests/emul/test_kernel_emul.c over the shared and extra
 * affine-grid cases: the forward bit for bit with the CPU op, dtheta within the fp32 tolerances
 * (double sums in another order). */
#include "../../src/kernels/affine_grid.cuh"
#include "emul.h"

void emul_affine_grid(nst_op op, const nst_affine_grid_params *p, const emul_mode *m) {
    if (op == NST_OP_AFFINE_GRID_FORWARD) {
        const int64_t *s = p->grid->shape;
        nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
        k.theta = CF(p->theta), k.grid = OF(p->grid);
        EMUL_1D(m, nst_k_affine_forward, s[0] * s[1] * s[2], &k);
        return;
    }
    if (!p->dtheta)
        return;
    const int64_t *s = p->dgrid->shape;
    nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
    k.dgrid = CF(p->dgrid), k.dtheta = OF(p->dtheta);
    k.part = emul_scratch(nst_k_affine_scratch(s[0], s[1], s[2]), "chunk partial sums");
    const int64_t blocks = nst_k_affine_partial_blocks(&k);
    if (blocks > 0)
        EMUL_K(m, nst_k_affine_partial_kernel, blocks, NST_K_AFFINE_THREADS, &k);
    EMUL_1D(m, nst_k_affine_final, s[0] * 6, &k);
    emul_scratch_free(k.part);
}
