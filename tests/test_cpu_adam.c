/* CPU fused Adam (src/cpu/adam.c) and nst_adam_step_make (src/host/ops.c): several steps over
 * three tensors of different shapes (one large enough to run in parallel) against a double
 * loop, with and without weight decay; the step constants against torch.optim.Adam's; 10 steps
 * of torch.optim.Adam (tests/golden/nn_ops.safetensors, gen_nn_ops.py) for params, exp_avg and
 * exp_avg_sq; argument errors leave every tensor untouched. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

enum { SLOTS = 3 };

typedef struct {
    size_t n[SLOTS];
    float *param[SLOTS], *grad[SLOTS], *m[SLOTS], *v[SLOTS];
    nst_tensor tp[SLOTS], tg[SLOTS], tm[SLOTS], tv[SLOTS];
    nst_adam_slot slot[SLOTS];
} adam_state;

static float *alloc_f(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static void state_init(adam_state *s, const int64_t dims[SLOTS][3], const int ndims[SLOTS]) {
    for (int i = 0; i < SLOTS; i++) {
        const nst_tensor shape = nst_tensor_make(NST_F32, NST_BACKEND_CPU, NULL, ndims[i], dims[i]);
        s->n[i] = (size_t)nst_tensor_numel(&shape);
        s->param[i] = alloc_f(s->n[i]), s->grad[i] = alloc_f(s->n[i]);
        s->m[i] = alloc_f(s->n[i]), s->v[i] = alloc_f(s->n[i]);
        s->tp[i] = nst_tensor_make(NST_F32, NST_BACKEND_CPU, s->param[i], ndims[i], dims[i]);
        s->tg[i] = nst_tensor_make(NST_F32, NST_BACKEND_CPU, s->grad[i], ndims[i], dims[i]);
        s->tm[i] = nst_tensor_make(NST_F32, NST_BACKEND_CPU, s->m[i], ndims[i], dims[i]);
        s->tv[i] = nst_tensor_make(NST_F32, NST_BACKEND_CPU, s->v[i], ndims[i], dims[i]);
        s->slot[i] = (nst_adam_slot){&s->tp[i], &s->tg[i], &s->tm[i], &s->tv[i]};
    }
}

static void state_free(adam_state *s) {
    for (int i = 0; i < SLOTS; i++)
        free(s->param[i]), free(s->grad[i]), free(s->m[i]), free(s->v[i]);
}

/* One torch.optim.Adam step in double (the hyperparameters as the float values the op gets). */
static void ref_step(double *param, const double *grad, double *m, double *v, size_t n,
                     double lr, double b1, double b2, double eps, double wd, long t) {
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    for (size_t i = 0; i < n; i++) {
        const double g = grad[i] + wd * param[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        param[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

Test(cpu_adam, steps_match_a_double_loop) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(81);
    const int64_t dims[SLOTS][3] = {{5, 3, 0}, {7, 0, 0}, {70001, 1, 0}};
    const int ndims[SLOTS] = {2, 1, 2};
    /* the second case also uses a large eps, so eps outside vs inside the sqrt is visible */
    const float wds[2] = {0.0f, 0.05f}, epss[2] = {1e-8f, 1e-3f};
    for (int k = 0; k < 2; k++) {
        adam_state s;
        state_init(&s, dims, ndims);
        double *rp[SLOTS], *rm[SLOTS], *rv[SLOTS], *rg[SLOTS];
        for (int i = 0; i < SLOTS; i++) {
            nst_test_fill_uniform(&rng, s.param[i], s.n[i], -1.0f, 1.0f);
            rp[i] = calloc(s.n[i], sizeof(double)), rm[i] = calloc(s.n[i], sizeof(double));
            rv[i] = calloc(s.n[i], sizeof(double)), rg[i] = calloc(s.n[i], sizeof(double));
            for (size_t j = 0; j < s.n[i]; j++)
                rp[i][j] = s.param[i][j];
        }
        const float lr = 0.02f, b1 = 0.9f, b2 = 0.999f, eps = epss[k];
        for (long t = 1; t <= 5; t++) {
            for (int i = 0; i < SLOTS; i++) {
                nst_test_fill_uniform(&rng, s.grad[i], s.n[i], -2.0f, 2.0f);
                for (size_t j = 0; j < s.n[i]; j++)
                    rg[i][j] = s.grad[i][j];
                ref_step(rp[i], rg[i], rm[i], rv[i], s.n[i], lr, b1, b2, eps, wds[k], t);
            }
            nst_adam_params p = {s.slot, SLOTS, nst_adam_step_make(lr, b1, b2, eps, wds[k], t)};
            cr_assert_eq(nst_adam(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        }
        for (int i = 0; i < SLOTS; i++) {
            char what[64];
            /* float against double over 5 steps: a few roundings of 2^-24 per step, relative to
             * values of order 1 (param, m) or 1e-2 (v): 1e-5 relative with a 1e-6 floor */
            snprintf(what, sizeof what, "wd=%g slot %d param", (double)wds[k], i);
            cr_assert(nst_test_allclose(what, s.param[i], rp[i], s.n[i], 1e-6, 1e-5));
            snprintf(what, sizeof what, "wd=%g slot %d m", (double)wds[k], i);
            cr_assert(nst_test_allclose(what, s.m[i], rm[i], s.n[i], 1e-6, 1e-5));
            snprintf(what, sizeof what, "wd=%g slot %d v", (double)wds[k], i);
            cr_assert(nst_test_allclose(what, s.v[i], rv[i], s.n[i], 1e-8, 1e-5));
            free(rp[i]), free(rm[i]), free(rv[i]), free(rg[i]);
        }
        state_free(&s);
    }
    nst_ctx_destroy(ctx);
}

Test(cpu_adam, step_constants_match_torch) {
    /* torch holds lr and betas as Python doubles: 1 - beta, 1 - beta1**t and
     * sqrt(1 - beta2**t) are computed in double, then rounded once to float. The step constants
     * must equal that to float rounding (2^-24 relative; 1e-6 leaves margin). Computing
     * 1 - 0.999f in float instead would be 1.3e-5 off, and this test would catch it. */
    const long ts[4] = {1, 2, 10, 1000};
    for (int k = 0; k < 4; k++) {
        const long t = ts[k];
        const nst_adam_step s = nst_adam_step_make(0.01, 0.9, 0.999, 1e-8, 0.1, t);
        const double bc1 = 1.0 - pow(0.9, (double)t), bc2s = sqrt(1.0 - pow(0.999, (double)t));
        cr_assert_leq(fabs(s.bias_correction1 - bc1), 1e-6 * bc1, "t=%ld bc1 %.9g vs %.9g", t,
                      (double)s.bias_correction1, bc1);
        cr_assert_leq(fabs(s.bias_correction2_sqrt - bc2s), 1e-6 * bc2s,
                      "t=%ld bc2_sqrt %.9g vs %.9g", t, (double)s.bias_correction2_sqrt, bc2s);
        cr_assert_leq(fabs(s.one_minus_beta1 - 0.1), 1e-6 * 0.1);
        cr_assert_leq(fabs(s.one_minus_beta2 - 0.001), 1e-6 * 0.001, "1 - beta2 = %.9g",
                      (double)s.one_minus_beta2);
        cr_assert(s.lr == 0.01f && s.beta1 == 0.9f && s.beta2 == 0.999f && s.eps == 1e-8f &&
                  s.weight_decay == 0.1f);
    }
}

/* Loads a golden into a float buffer of n elements. */
static void load_into(const nst_st_file *f, const char *key, float *out, size_t n) {
    const nst_st_tensor *t = nst_test_golden(f, key, NULL, NULL);
    cr_assert_eq((size_t)t->numel, n, "golden %s: %lld elements, expected %zu", key,
                 (long long)t->numel, n);
    nst_st_to_f32(t, out);
}

static void check_golden(const nst_st_file *f, const char *key, const float *got, size_t n) {
    /* 1e-5 + 1e-4*|ref|: float32 arithmetic against float64 PyTorch adds a few 2^-24 roundings
     * per step (< 1e-6 relative after 10 steps), and the float beta2 = 0.999f makes 1 - beta2
     * 1.3e-5 relative smaller than torch's 0.001, which scales exp_avg_sq by the same factor
     * (the bias correction uses the same float beta2, so the parameter update is unaffected to
     * first order). The largest expected deviation, 1.3e-5 relative in exp_avg_sq, is thus 7x
     * inside the bound, while a wrong formula (AdamW decay, eps inside the sqrt, a missing bias
     * correction) moves params by 1e-3 or more. */
    nst_test_expect_golden(f, key, got, n, 1e-5, 1e-4);
}

Test(cpu_adam, ten_steps_match_torch_optim_adam) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "nn_ops.safetensors");
    const int64_t dims[SLOTS][3] = {{4, 3, 0}, {7, 0, 0}, {2, 3, 5}};
    const int ndims[SLOTS] = {2, 1, 3};
    const char *configs[2] = {"adam_plain", "adam_wd"};
    for (int k = 0; k < 2; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s.hyper", configs[k]);
        double *hyper = nst_test_golden_f64(f, key, 6); /* lr, beta1, beta2, eps, wd, steps */
        const long steps = (long)hyper[5];
        adam_state s;
        state_init(&s, dims, ndims);
        float *grads[SLOTS];
        for (int i = 0; i < SLOTS; i++) {
            snprintf(key, sizeof key, "adam.init%d", i);
            load_into(f, key, s.param[i], s.n[i]);
            grads[i] = alloc_f(s.n[i] * (size_t)steps);
            snprintf(key, sizeof key, "adam.grads%d", i);
            load_into(f, key, grads[i], s.n[i] * (size_t)steps);
        }
        for (long t = 1; t <= steps; t++) {
            for (int i = 0; i < SLOTS; i++)
                memcpy(s.grad[i], grads[i] + (size_t)(t - 1) * s.n[i], s.n[i] * sizeof(float));
            nst_adam_params p = {s.slot, SLOTS,
                                 nst_adam_step_make(hyper[0], hyper[1], hyper[2], hyper[3],
                                                    hyper[4], t)};
            cr_assert_eq(nst_adam(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        }
        for (int i = 0; i < SLOTS; i++) {
            snprintf(key, sizeof key, "%s.param%d", configs[k], i);
            check_golden(f, key, s.param[i], s.n[i]);
            snprintf(key, sizeof key, "%s.m%d", configs[k], i);
            check_golden(f, key, s.m[i], s.n[i]);
            snprintf(key, sizeof key, "%s.v%d", configs[k], i);
            check_golden(f, key, s.v[i], s.n[i]);
            free(grads[i]);
        }
        state_free(&s);
        free(hyper);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_adam, errors_are_reported_before_anything_changes) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const int64_t dims[SLOTS][3] = {{2, 3, 0}, {4, 0, 0}, {3, 0, 0}};
    const int ndims[SLOTS] = {2, 1, 1};
    adam_state s;
    state_init(&s, dims, ndims);
    for (int i = 0; i < SLOTS; i++)
        for (size_t j = 0; j < s.n[i]; j++)
            s.param[i][j] = 1.0f, s.grad[i][j] = 0.5f;
    /* slot 2's grad has the wrong shape: slot 0 and 1 must not be updated either */
    nst_tensor bad = nst_tensor_make(NST_F32, NST_BACKEND_CPU, s.grad[2], 1, (const int64_t[]){2});
    s.slot[2].grad = &bad;
    nst_adam_params p = {s.slot, SLOTS, nst_adam_step_make(0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1)};
    cr_assert_eq(nst_adam(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "slot 2") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "tensor grad is (2) F32, expected (3) F32") != NULL,
              "%s", nst_last_error(ctx));
    for (int i = 0; i < SLOTS; i++)
        for (size_t j = 0; j < s.n[i]; j++)
            cr_assert(s.param[i][j] == 1.0f && s.m[i][j] == 0.0f && s.v[i][j] == 0.0f);
    s.slot[2].grad = &s.tg[2];
    /* step 0 has zero bias corrections */
    p.step = nst_adam_step_make(0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
    cr_assert_eq(nst_adam(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "bias correction") != NULL, "%s", nst_last_error(ctx));
    p.step = nst_adam_step_make(0.01f, 1.0f, 0.999f, 1e-8f, 0.0f, 3);
    cr_assert_eq(nst_adam(ctx, &p), NST_ERR_INVALID_ARG); /* beta1 = 1: bias correction 0 */
    p.step = nst_adam_step_make(-0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 3);
    cr_assert_eq(nst_adam(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "lr") != NULL, "%s", nst_last_error(ctx));
    for (int i = 0; i < SLOTS; i++)
        for (size_t j = 0; j < s.n[i]; j++)
            cr_assert(s.param[i][j] == 1.0f);
    /* no slots is a valid no-op; slots missing with a positive count is not */
    nst_adam_params none = {NULL, 0, nst_adam_step_make(0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1)};
    cr_assert_eq(nst_adam(ctx, &none), NST_OK, "%s", nst_last_error(ctx));
    none.n_slots = 2;
    cr_assert_eq(nst_adam(ctx, &none), NST_ERR_INVALID_ARG);
    state_free(&s);
    nst_ctx_destroy(ctx);
}
