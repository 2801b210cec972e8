/* CPU emulation of the Gram kernels (gram.cuh): the forward's tile kernel and final kernel,
 * the backward's symmetrise kernel and tile kernel, each tile kernel stage by stage (a load
 * phase and a multiply-add phase per stage, then the store phase; a barrier = the end of a loop
 * over the block's threads), shared memory starting as NaN in every block, each thread's
 * accumulators kept in an array between phases, scratch in exact-size heap buffers. Run by
 * tests/emul/test_kernel_emul.c over the shared and extra Gram cases (split-K, several tiles),
 * compared with the CPU op within the fp32 tolerances (fmaf on purpose, sums in another order
 * than OpenBLAS's). */
#include "../../src/kernels/gram.cuh"
#include "emul.h"

/* A gram.cuh tile kernel: per stage a load phase and a mac phase, then the store phase. */
#define EMUL_GRAM(m, k, BLOCKS, STAGES, LOAD, STORE)                                    \
    do {                                                                                \
        enum { T_ = NST_K_GRAM_THREADS };                                               \
        float *sm_ = emul_xmalloc(NST_K_GRAM_SMEM * sizeof(float));                     \
        nst_k_gram_acc *st_ = emul_xmalloc(T_ * sizeof *st_);                           \
        const int64_t blocks_ = BLOCKS(&(k)), stages_ = STAGES(&(k));                   \
        for (int64_t bi = 0; bi < blocks_; bi++) {                                      \
            const int64_t b_ = at(bi, blocks_, (m)->reverse);                           \
            for (int i = 0; i < NST_K_GRAM_SMEM; i++)                                   \
                sm_[i] = NAN;                                                           \
            for (int ti = 0; ti < T_; ti++)                                             \
                nst_k_gram_zero(&st_[ti]);                                              \
            for (int64_t s_ = 0; s_ < stages_; s_++) {                                  \
                for (int ti = 0; ti < T_; ti++)                                         \
                    LOAD(b_, (int)at(ti, T_, (m)->reverse), s_, &(k), sm_);             \
                for (int ti = 0; ti < T_; ti++) {                                       \
                    const int t_ = (int)at(ti, T_, (m)->reverse);                       \
                    nst_k_gram_mac(t_, sm_, &st_[t_]);                                  \
                }                                                                       \
            }                                                                           \
            for (int ti = 0; ti < T_; ti++) {                                           \
                const int t_ = (int)at(ti, T_, (m)->reverse);                           \
                STORE(b_, t_, &(k), &st_[t_]);                                          \
            }                                                                           \
        }                                                                               \
        free(st_);                                                                      \
        free(sm_);                                                                      \
    } while (0)

void emul_gram(nst_op op, const nst_gram_params *p, const emul_mode *m) {
    const int64_t *s = p->x->shape;
    nst_k_gram k = nst_k_gram_make(CF(p->x), s[0], s[1] * s[2], s[3]);
    if (op == NST_OP_GRAM_FORWARD) {
        k.part = emul_xmalloc(nst_k_gram_scratch(&k, 0));
        k.g = OF(p->g);
        EMUL_GRAM(m, k, nst_k_gram_forward_blocks, nst_k_gram_forward_stages,
                  nst_k_gram_forward_load, nst_k_gram_forward_store);
        EMUL_1D(m, nst_k_gram_final_body, k.N * k.C * k.C, &k);
        free(k.part);
        return;
    }
    if (!p->dx || k.HW == 0 || k.C == 0)
        return;
    k.sym = emul_xmalloc(nst_k_gram_scratch(&k, 1));
    k.dg = CF(p->dg), k.dx = OF(p->dx), k.accumulate = p->accumulate;
    EMUL_1D(m, nst_k_gram_sym_body, k.N * k.C * k.C, &k);
    EMUL_GRAM(m, k, nst_k_gram_backward_blocks, nst_k_gram_backward_stages,
              nst_k_gram_backward_load, nst_k_gram_backward_store);
    free(k.sym);
}
