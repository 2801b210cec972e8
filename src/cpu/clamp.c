/* CPU clamp over F32 tensors of any rank: y = min(max(x, lo), hi), as torch.clamp(x, lo, hi)
 * (NaN stays NaN; y may alias x). The render keeps its image in [0, 1] with it after each Adam
 * step. Tested by tests/test_cpu_clamp.c against a plain loop. */
#include "cpu_ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define CLAMP_PARALLEL_MIN 65536

nst_status nst__cpu_clamp(nst_ctx *ctx, const void *params) {
    const nst_clamp_params *p = params;
    const float *x = p->x->data; // any shape
    float *y = p->y->data;       // same shape
    const float lo = p->lo, hi = p->hi;
    const int64_t n = nst_tensor_numel(p->x);
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > CLAMP_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v < lo ? lo : (v > hi ? hi : v); /* comparisons with NaN are false: NaN kept */
    }
    return NST_OK;
}
