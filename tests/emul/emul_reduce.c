/* reduce.cu's launcher emulated (emul.h): the partial-sum kernel over its grid, then the final
 * one-block kernel, the partials in scratch. The final kernel serves the MSE and TV losses too
 * (emul_mse_tv.c). Run by tests/emul/test_kernel_emul.c over the shared and extra reduce, MSE
 * and TV cases, compared with the CPU op within the fp32 tolerances (double sums in another
 * order). */
#include "emul.h"

void emul_reduce_final(const emul_mode *m, const nst_k_reduce *r) {
    EMUL_K(m, nst_k_reduce_final_kernel, 1, NST_K_REDUCE_THREADS, r);
}

void emul_reduce(const emul_mode *m, nst_k_reduce *k) {
    if (m->scalar)
        k->v = 1;
    EMUL_K(m, nst_k_reduce_partial_kernel, k->blocks, NST_K_REDUCE_THREADS, k);
    emul_reduce_final(m, k);
}
