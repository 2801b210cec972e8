/* mse.cu's and tv.cu's launchers emulated (emul.h): each loss's two reduction passes (its
 * pass-1 kernel, then reduce.cuh's final kernel, one block), the partials in scratch; and the
 * gradients' 1-D grid-stride kernels. Run by tests/emul/test_kernel_emul.c over the shared and
 * extra MSE and TV cases: the gradients bit for bit with the CPU op, the losses within the fp32
 * tolerances (double sums in another order). */
#include "../../src/kernels/mse.cuh"
#include "../../src/kernels/tv.cuh"
#include "emul.h"

void emul_mse(nst_op op, const nst_mse_params *p, const emul_mode *m) {
    const int64_t n = nst_tensor_numel(p->a);
    if (op == NST_OP_MSE_FORWARD) {
        double *part = emul_scratch(nst_k_reduce_scratch(n), "block partial sums");
        nst_k_mse k = nst_k_mse_make(CF(p->a), CF(p->b), n, part, OF(p->loss));
        if (m->scalar)
            k.v = 1;
        EMUL_K(m, nst_k_mse_partial_kernel, k.r.blocks, NST_K_REDUCE_THREADS, &k);
        emul_reduce_final(m, &k.r);
        emul_scratch_free(part);
        return;
    }
    if (!p->da || n == 0)
        return;
    nst_k_flat k = nst_k_flat_make(CF(p->a), CF(p->b), OF(p->da), n);
    k.alpha = (float)(2.0 * (double)p->scale / (double)n);
    if (p->accumulate)
        EMUL_FLAT(m, nst_k_mse_grad_acc, k);
    else
        EMUL_FLAT(m, nst_k_mse_grad, k);
}

void emul_tv(nst_op op, const nst_tv_params *p, const emul_mode *m) {
    const int64_t *s = p->x->shape;
    nst_k_tv k = nst_k_tv_make(CF(p->x), s[0], s[1], s[2], s[3]);
    if (op == NST_OP_TV_FORWARD) {
        k.r.part = emul_scratch((size_t)k.r.blocks * sizeof(double), "block partial sums");
        k.r.y = OF(p->loss);
        EMUL_K(m, nst_k_tv_partial_kernel, k.r.blocks, NST_K_REDUCE_THREADS, &k);
        emul_reduce_final(m, &k.r);
        emul_scratch_free(k.r.part);
        return;
    }
    const int64_t pixels = k.N * k.H * k.W;
    if (!p->dx || pixels == 0)
        return;
    k.dx = OF(p->dx);
    k.k = (float)(2.0 * (double)p->scale / (double)pixels);
    k.accumulate = p->accumulate;
    EMUL_1D(m, nst_k_tv_grad, nst_k_tv_numel(&k), &k);
}
