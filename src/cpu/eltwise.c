/* CPU elementwise ops over F32 tensors of any rank, all operands the same shape:
 *   add:   y = a + b
 *   scale: y = alpha * x        (y may alias x)
 *   axpy:  y += alpha * x       (BLAS saxpy)
 * Tested by tests/test_cpu_eltwise.c against plain loops. */
#include "cpu_ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define ELTWISE_PARALLEL_MIN 65536

nst_status nst__cpu_add(nst_ctx *ctx, const void *params) {
    const nst_add_params *p = params;
    const float *a = p->a->data, *b = p->b->data; // any shape
    float *y = p->y->data;                        // same shape
    const int64_t n = nst_tensor_numel(p->a);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > ELTWISE_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
    return NST_OK;
}

nst_status nst__cpu_scale(nst_ctx *ctx, const void *params) {
    const nst_scale_params *p = params;
    const float *x = p->x->data; // any shape
    float *y = p->y->data;       // same shape
    const float alpha = p->alpha;
    const int64_t n = nst_tensor_numel(p->x);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > ELTWISE_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = alpha * x[i];
    return NST_OK;
}

nst_status nst__cpu_axpy(nst_ctx *ctx, const void *params) {
    const nst_scale_params *p = params;
    const float *x = p->x->data; // any shape
    float *y = p->y->data;       // same shape
    const float alpha = p->alpha;
    const int64_t n = nst_tensor_numel(p->x);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > ELTWISE_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
    return NST_OK;
}
