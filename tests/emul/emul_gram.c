/* gram.cu's launchers emulated (emul.h): the forward's tile kernel then its final kernel, the
 * backward's symmetrise kernel then its tile kernel, on gram.cu's grids, with the partials or
 * the symmetrised gradient in scratch laid out as gram.cu lays it out. Run by
 * tests/emul/test_kernel_emul.c over the shared and extra Gram cases (split-K, several tiles),
 * compared with the CPU op within the fp32 tolerances (fmaf on purpose, sums in another order
 * than OpenBLAS's). */
#include "../../src/kernels/gram.cuh"
#include "emul.h"

void emul_gram(nst_op op, const nst_gram_params *p, const emul_mode *m) {
    const int64_t *s = p->x->shape;
    nst_k_gram k = nst_k_gram_make(CF(p->x), s[0], s[1] * s[2], s[3]);
    if (op == NST_OP_GRAM_FORWARD) {
        k.part = emul_scratch(nst_k_gram_scratch(&k, 0), "split-K partial Gram matrices");
        k.g = OF(p->g);
        const int64_t blocks = nst_k_gram_forward_blocks(&k);
        if (blocks > 0)
            EMUL_K(m, nst_k_gram_forward_kernel, blocks, NST_K_GRAM_THREADS, &k);
        EMUL_1D(m, nst_k_gram_final, k.N * k.C * k.C, &k);
        emul_scratch_free(k.part);
        return;
    }
    if (!p->dx || k.HW == 0 || k.C == 0)
        return;
    k.sym = emul_scratch(nst_k_gram_scratch(&k, 1), "the symmetrised gradient");
    k.dg = CF(p->dg), k.dx = OF(p->dx), k.accumulate = p->accumulate;
    EMUL_1D(m, nst_k_gram_sym, k.N * k.C * k.C, &k);
    const int64_t blocks = nst_k_gram_backward_blocks(&k);
    if (blocks > 0)
        EMUL_K(m, nst_k_gram_backward_kernel, blocks, NST_K_GRAM_THREADS, &k);
    emul_scratch_free(k.sym);
}
