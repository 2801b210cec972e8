/* CPU fused Adam: one call updates every (param, grad, m, v) slot, all F32, any shapes.
 * Semantics: torch.optim.Adam (amsgrad=False, maximize=False): L2 weight decay is added to the
 * gradient (not AdamW's decoupled decay) and eps is added outside the square root:
 *     g = grad + weight_decay * param
 *     m = beta1 * m + one_minus_beta1 * g
 *     v = beta2 * v + one_minus_beta2 * g * g
 *     param -= (lr / bias_correction1) * m / (sqrt(v) / bias_correction2_sqrt + eps)
 * with the step constants from nst_adam_step_make() (include/nstyle/ops.h), so every backend
 * evaluates the same formula in float. Every slot is checked before any is modified.
 * Tested by tests/test_cpu_adam.c (a double-precision loop, and 10 torch.optim.Adam steps in
 * tests/golden/nn_ops.safetensors). */
#include <math.h>
#include <stdio.h>

#include "cpu_ops.h"

/* Below this many elements a slot is updated on one thread. */
#define ADAM_PARALLEL_MIN 65536

/* One slot's update; n elements. */
static void adam_slot(nst_ctx *ctx, const nst_adam_step *st, float *param, const float *grad,
                      float *m, float *v, int64_t n) {
    const float b1 = st->beta1, b2 = st->beta2, wd = st->weight_decay, eps = st->eps;
    const float one_b1 = st->one_minus_beta1, one_b2 = st->one_minus_beta2;
    const float step_size = st->lr / st->bias_correction1;
    const float bc2_sqrt = st->bias_correction2_sqrt;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > ADAM_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float g = grad[i] + wd * param[i];
        const float mi = b1 * m[i] + one_b1 * g;
        const float vi = b2 * v[i] + one_b2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        param[i] -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

nst_status nst__cpu_adam(nst_ctx *ctx, const void *params) {
    const nst_adam_params *p = params;
    for (int i = 0; i < p->n_slots; i++) {
        const nst_adam_slot *s = &p->slots[i];
        adam_slot(ctx, &p->step, s->param->data, s->grad->data, s->m->data, s->v->data,
                  nst_tensor_numel(s->param));
    }
    return NST_OK;
}
