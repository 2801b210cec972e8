/* CPU emulation of the sum reduction (reduce.cuh): reduce.cu's two passes, the partial-sum
 * kernel over its grid and the final one-block kernel, each phase by phase (a barrier = the end
 * of a loop over the block's threads, shared memory starting as NaN). The final kernel serves
 * the MSE and TV losses too (emul_mse_tv.c). Run by tests/emul/test_kernel_emul.c over the
 * shared and extra reduce, MSE and TV cases, compared with the CPU op within the fp32 tolerances
 * (double sums in another order). */
#include "emul.h"

void emul_reduce_final(const emul_mode *m, const nst_k_reduce *r) {
    enum { T = NST_K_REDUCE_THREADS };
    double sm[T];
    fill_nan(sm, T);
    for (int ti = 0; ti < T; ti++)
        nst_k_reduce_final_load((int)at(ti, T, m->reverse), T, r, sm);
    for (int s = T / 2; s > 0; s /= 2)
        for (int ti = 0; ti < T; ti++)
            nst_k_tree_step((int)at(ti, T, m->reverse), 0, 1, s, sm);
    for (int ti = 0; ti < T; ti++)
        nst_k_reduce_final_store((int)at(ti, T, m->reverse), r, sm);
}

void emul_reduce(const emul_mode *m, nst_k_reduce *k) {
    if (m->scalar)
        k->v = 1;
    EMUL_PARTIAL(m, nst_k_reduce_load, k, k);
    emul_reduce_final(m, k);
}
