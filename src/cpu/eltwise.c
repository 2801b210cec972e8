/* CPU elementwise ops: add (y = a + b). Same shapes, F32, any rank.
 * Tested by tests/test_cpu_eltwise.c against plain loops. */
#include "cpu_ops.h"

nst_status nst__cpu_add(nst_ctx *ctx, const void *params) {
    const nst_add_params *p = params;
    NST__TRY(nst__check_same_shape(ctx, "add", "a", p->a, "a", p->a));
    if (p->a->backend != NST_BACKEND_CPU)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op add: tensor a is not on the cpu");
    NST__TRY(nst__check_same_shape(ctx, "add", "b", p->b, "a", p->a));
    NST__TRY(nst__check_same_shape(ctx, "add", "y", p->y, "a", p->a));
    const float *a = p->a->data, *b = p->b->data;
    float *y = p->y->data;
    const int64_t n = nst_tensor_numel(p->a);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
    return NST_OK;
}
