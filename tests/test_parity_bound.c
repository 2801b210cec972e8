/* The parity tool's pass settings and tolerances (tests/parity/parity_setup.c, parity_bound.c),
 * without a GPU: each pass's context settings read back from a CPU context, and which ops each
 * pass runs; the reduction lengths of the shared cases; the magnitudes M against plain loops in
 * double on absolute values; and the bound against errors of the size TF32 makes (x and w
 * rounded to TF32, then convolved in double): on a convolution whose outputs cancel to near
 * zero such an error passes the TF32 bound but fails docs/design.md's rtol form, twice the bound
 * fails everywhere and half of it nowhere, and the strict fp32 bound rejects TF32 errors on
 * reductions of 145 and 289 terms. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_cases.h"
#include "parity_bound.h"
#include "parity_setup.h"
#include "test_support.h"
#include "test_tensors.h"

/* ---- pass settings ------------------------------------------------------------------------- */

Test(parity_setup, strict_pass_turns_tf32_off_for_convolutions_and_gemms) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_tf32(ctx, true, true);
    nst_ctx_set_deterministic(ctx, false);
    nst_parity_ctx_setup(ctx, NST_PARITY_FP32);
    cr_expect_not(nst_ctx_tf32_convolutions(ctx), "TF32 convolutions on in the strict pass");
    cr_expect_not(nst_ctx_tf32_gemms(ctx), "TF32 GEMMs on in the strict pass");
    cr_expect(nst_ctx_deterministic(ctx), "the strict pass is not deterministic");
    cr_expect_str_eq(nst_parity_pass_get(NST_PARITY_FP32)->name, "fp32");
    nst_ctx_destroy(ctx);
}

Test(parity_setup, a_fresh_context_is_strict_only_after_the_setup) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    /* the defaults (PyTorch's): TF32 on for convolutions, which the strict pass must undo */
    cr_assert(nst_ctx_tf32_convolutions(ctx));
    nst_parity_ctx_setup(ctx, NST_PARITY_FP32);
    cr_expect_not(nst_ctx_tf32_convolutions(ctx));
    cr_expect_not(nst_ctx_tf32_gemms(ctx));
    nst_ctx_destroy(ctx);
}

Test(parity_setup, tf32_pass_turns_tf32_on_for_both) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_tf32(ctx, false, false);
    nst_ctx_set_deterministic(ctx, false);
    nst_parity_ctx_setup(ctx, NST_PARITY_TF32);
    cr_expect(nst_ctx_tf32_convolutions(ctx), "TF32 convolutions off in the TF32 pass");
    cr_expect(nst_ctx_tf32_gemms(ctx), "TF32 GEMMs off in the TF32 pass");
    cr_expect(nst_ctx_deterministic(ctx), "the TF32 pass is not deterministic");
    /* and back: a strict pass after it turns both off again */
    nst_parity_ctx_setup(ctx, NST_PARITY_FP32);
    cr_expect_not(nst_ctx_tf32_convolutions(ctx));
    cr_expect_not(nst_ctx_tf32_gemms(ctx));
    nst_ctx_destroy(ctx);
}

Test(parity_setup, atomic_pass_is_strict_without_deterministic_mode) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_tf32(ctx, true, true);
    nst_ctx_set_deterministic(ctx, true);
    nst_parity_ctx_setup(ctx, NST_PARITY_FP32_ATOMIC);
    cr_expect_not(nst_ctx_tf32_convolutions(ctx));
    cr_expect_not(nst_ctx_tf32_gemms(ctx));
    cr_expect_not(nst_ctx_deterministic(ctx));
    nst_ctx_destroy(ctx);
}

Test(parity_setup, each_pass_runs_its_ops) {
    const nst_grid_sample_params with_dx = {.dx = &(nst_tensor){0}}, without_dx = {0};
    for (int op = 0; op < NST_OP_COUNT; op++) {
        const bool tf32 = op == NST_OP_CONV2D_FORWARD || op == NST_OP_CONV2D_BACKWARD_DATA ||
                          op == NST_OP_CONV2D_BACKWARD_FILTER || op == NST_OP_DWCONV2D_FORWARD ||
                          op == NST_OP_DWCONV2D_BACKWARD_DATA ||
                          op == NST_OP_DWCONV2D_BACKWARD_FILTER || op == NST_OP_LINEAR_FORWARD ||
                          op == NST_OP_LINEAR_BACKWARD;
        const char *name = nst_op_get_info((nst_op)op)->name;
        cr_expect(nst_parity_pass_runs(NST_PARITY_FP32, (nst_op)op, &with_dx), "%s", name);
        cr_expect_eq(nst_parity_pass_runs(NST_PARITY_TF32, (nst_op)op, &with_dx), tf32, "%s",
                     name);
        cr_expect_eq(nst_parity_tf32_applies((nst_op)op), tf32, "%s", name);
        cr_expect_eq(nst_parity_pass_runs(NST_PARITY_FP32_ATOMIC, (nst_op)op, &with_dx),
                     op == NST_OP_GRID_SAMPLE_BACKWARD, "%s", name);
        cr_expect_eq(nst_parity_bound_applies((nst_op)op),
                     tf32 || op == NST_OP_GRAM_FORWARD || op == NST_OP_GRAM_BACKWARD, "%s", name);
    }
    cr_expect_not(nst_parity_pass_runs(NST_PARITY_FP32_ATOMIC, NST_OP_GRID_SAMPLE_BACKWARD,
                                       &without_dx));
    cr_expect_str_neq(nst_parity_pass_get(NST_PARITY_TF32)->name,
                      nst_parity_pass_get(NST_PARITY_FP32)->name);
    cr_expect_null(nst_parity_pass_get(NST_PARITY_PASSES));
}

/* ---- reduction lengths --------------------------------------------------------------------- */

typedef struct {
    const char *what, *arg;
    int64_t length;
} length_case;

Test(parity_bound, reduction_lengths_of_the_shared_cases) {
    static const length_case want[] = {
        {"conv2d_forward stride 2 pad 1 relu", "y", 3 * 3 * 3 + 1},      /* w (5, 3, 3, 3) */
        {"conv2d_forward 1x1 no bias", "y", 1 * 1 * 6 + 1},              /* w (4, 1, 1, 6) */
        {"conv2d_backward_data stride 2 pad 1", "dx", 5 * 2 * 2},        /* ceil(3 / 2) taps */
        {"conv2d_backward_filter stride 2 pad 1", "dw", 2 * 4 * 5},      /* dy (2, 4, 5, 5) */
        {"conv2d_backward_filter stride 2 pad 1", "db", 2 * 4 * 5},
        {"dwconv2d_forward stride 2 pad 1 relu", "y", 3 * 3 + 1},        /* w (3, 3, 3, 1) */
        {"dwconv2d_backward_data stride 2 pad 1", "dx", 2 * 2},          /* ceil(3 / 2) taps */
        {"dwconv2d_backward_filter stride 1 pad 1", "dw", 2 * 7 * 9},    /* dy (2, 7, 9, 5) */
        {"dwconv2d_backward_filter stride 1 pad 1", "db", 2 * 7 * 9},
        {"linear_forward relu", "y", 11 + 1},                            /* w (5, 11) */
        {"linear_backward", "dx", 5},
        {"linear_backward", "dw", 3},                                    /* dy (3, 5) */
        {"linear_backward", "db", 3},
        {"gram_forward", "g", 5 * 6 + 2},                                /* x (2, 5, 6, 7) */
        {"gram_backward", "dx", 7 + 3},
    };
    int count = 0, checked = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    for (int i = 0; i < count; i++) {
        nst_test_op_case *c = &cases[i];
        nst_op_arg args[NST_TEST_CASE_TENSORS];
        const int n = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
        for (int a = 0; a < n; a++) {
            if (args[a].role == NST_ARG_IN || !args[a].t)
                continue;
            const int64_t got = nst_parity_reduction_length(c->op, &c->p, args[a].name);
            if (!nst_parity_bound_applies(c->op)) {
                cr_expect_eq(got, 0, "%s %s", c->what, args[a].name);
                continue;
            }
            bool found = false;
            for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
                if (strcmp(want[k].what, c->what) || strcmp(want[k].arg, args[a].name))
                    continue;
                cr_expect_eq(got, want[k].length, "%s %s: %lld, not %lld", c->what,
                             args[a].name, (long long)got, (long long)want[k].length);
                found = true;
                checked++;
            }
            cr_expect(found, "no expected length for %s %s", c->what, args[a].name);
        }
        /* accumulating into dw / db adds one rounding; stride 1 reaches every tap */
        if (c->op == NST_OP_CONV2D_BACKWARD_FILTER || c->op == NST_OP_LINEAR_BACKWARD) {
            const int64_t plain = nst_parity_reduction_length(c->op, &c->p, "dw");
            if (c->op == NST_OP_CONV2D_BACKWARD_FILTER)
                c->p.conv2d.accumulate = true;
            else
                c->p.linear.accumulate = true;
            cr_expect_eq(nst_parity_reduction_length(c->op, &c->p, "dw"), plain + 1, "%s",
                         c->what);
            cr_expect_eq(nst_parity_reduction_length(c->op, &c->p, "db"), plain + 1, "%s",
                         c->what);
        }
        if (c->op == NST_OP_CONV2D_BACKWARD_DATA) {
            c->p.conv2d.stride = 1;
            cr_expect_eq(nst_parity_reduction_length(c->op, &c->p, "dx"), 5 * 3 * 3);
        }
    }
    cr_expect_eq(checked, (int)(sizeof want / sizeof want[0]));
    cr_expect_eq(nst_parity_reduction_length(NST_OP_CONV2D_FORWARD, &cases[0].p, "dx"), 0);
    nst_test_op_cases_free(cases, count);
}

/* ---- magnitudes ---------------------------------------------------------------------------- */

static const float *fdata(const nst_tensor *t) { return t ? (const float *)t->data : NULL; }

/* The conv2d (or, depthwise, the dwconv2d) of params p in double over absolute values, all three
 * directions (the outputs p names: y; dx; dw and db), each starting from zero or, accumulating,
 * from |initial value|. */
static void conv_abs(nst_op op, const nst_conv2d_params *p, double *y, double *dx, double *dw,
                     double *db) {
    const bool depthwise = op == NST_OP_DWCONV2D_FORWARD || op == NST_OP_DWCONV2D_BACKWARD_DATA ||
                           op == NST_OP_DWCONV2D_BACKWARD_FILTER;
    const bool data = op == NST_OP_CONV2D_BACKWARD_DATA || op == NST_OP_DWCONV2D_BACKWARD_DATA;
    const bool fwd = op == NST_OP_CONV2D_FORWARD || op == NST_OP_DWCONV2D_FORWARD;
    const nst_tensor *w = p->w, *xt = data ? p->dx : p->x;
    const nst_tensor *yt = fwd ? p->y : p->dy;
    const int64_t N = xt->shape[0], H = xt->shape[1], W = xt->shape[2], C = xt->shape[3];
    const int64_t CW = depthwise ? 1 : C; /* the weights' last dimension */
    const int64_t O = w->shape[0], KH = w->shape[1], KW = w->shape[2];
    const int64_t HO = yt->shape[1], WO = yt->shape[2];
    const float *x = fdata(p->x), *wd = fdata(w), *dy = fdata(p->dy), *b = fdata(p->b);
    if (y)
        for (int64_t i = 0; i < N * HO * WO * O; i++)
            y[i] = b ? fabs(b[i % O]) : 0.0;
    if (dx)
        memset(dx, 0, (size_t)(N * H * W * C) * sizeof *dx);
    if (dw)
        for (int64_t i = 0; i < O * KH * KW * CW; i++)
            dw[i] = p->accumulate ? fabs(fdata(p->dw)[i]) : 0.0;
    if (db)
        for (int64_t i = 0; i < O; i++)
            db[i] = p->accumulate ? fabs(fdata(p->db)[i]) : 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t oh = 0; oh < HO; oh++)
            for (int64_t ow = 0; ow < WO; ow++)
                for (int64_t o = 0; o < O; o++) {
                    const size_t yi = nst_test_at(HO, WO, O, n, oh, ow, o);
                    if (db)
                        db[o] += fabs(dy[yi]);
                    for (int64_t kh = 0; kh < KH; kh++)
                        for (int64_t kw = 0; kw < KW; kw++) {
                            const int64_t ih = oh * p->stride - p->pad + kh;
                            const int64_t iw = ow * p->stride - p->pad + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                continue;
                            /* depthwise: output channel o sees input channel o only */
                            for (int64_t c = depthwise ? o : 0; c < (depthwise ? o + 1 : C);
                                 c++) {
                                const size_t xi = nst_test_at(H, W, C, n, ih, iw, c);
                                const size_t wi =
                                    nst_test_at(KH, KW, CW, o, kh, kw, depthwise ? 0 : c);
                                if (y)
                                    y[yi] += fabs(x[xi]) * fabs(wd[wi]);
                                if (dx)
                                    dx[xi] += fabs(dy[yi]) * fabs(wd[wi]);
                                if (dw)
                                    dw[wi] += fabs(dy[yi]) * fabs(x[xi]);
                            }
                        }
                }
}

/* The linear layer of params p in double over absolute values (y; dx, dw, db). */
static void linear_abs(const nst_linear_params *p, double *y, double *dx, double *dw,
                       double *db) {
    const int64_t O = p->w->shape[0], I = p->w->shape[1];
    const int64_t N = (p->x ? p->x : p->dy)->shape[0];
    const float *x = fdata(p->x), *w = fdata(p->w), *b = fdata(p->b), *dy = fdata(p->dy);
    for (int64_t o = 0; o < O; o++) {
        if (db)
            db[o] = p->accumulate ? fabs(fdata(p->db)[o]) : 0.0;
        for (int64_t i = 0; dw && i < I; i++)
            dw[o * I + i] = p->accumulate ? fabs(fdata(p->dw)[o * I + i]) : 0.0;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            if (y)
                y[n * O + o] = b ? fabs(b[o]) : 0.0;
            if (db)
                db[o] += fabs(dy[n * O + o]);
            for (int64_t i = 0; i < I; i++) {
                if (y)
                    y[n * O + o] += fabs(x[n * I + i]) * fabs(w[o * I + i]);
                if (dx)
                    dx[n * I + i] += fabs(dy[n * O + o]) * fabs(w[o * I + i]);
                if (dw)
                    dw[o * I + i] += fabs(dy[n * O + o]) * fabs(x[n * I + i]);
            }
        }
}

/* The Gram op of params p in double over absolute values (g; dx). */
static void gram_abs(const nst_gram_params *p, double *g, double *dx) {
    const int64_t N = p->x->shape[0], P = p->x->shape[1] * p->x->shape[2], C = p->x->shape[3];
    const double alpha = 1.0 / (double)(C * P);
    const float *x = fdata(p->x), *dg = fdata(p->dg);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < C; i++)
            for (int64_t j = 0; j < C; j++)
                for (int64_t q = 0; q < P; q++) {
                    const double xi = fabs(x[(n * P + q) * C + i]);
                    if (g)
                        g[(n * C + i) * C + j] += alpha * xi * fabs(x[(n * P + q) * C + j]);
                    if (dx) /* i: the summed channel, j: dx's channel */
                        dx[(n * P + q) * C + j] += alpha * xi *
                                                   (fabs(dg[(n * C + i) * C + j]) +
                                                    fabs(dg[(n * C + j) * C + i]));
                }
    if (dx && p->accumulate)
        for (int64_t k = 0; k < N * P * C; k++)
            dx[k] += fabs(fdata(p->dx)[k]);
}

/* Plain-loop M of output `arg` of case c (zeroed buffer ref of its size). */
static void magnitude_ref(const nst_test_op_case *c, const char *arg, double *ref) {
    const bool y = !strcmp(arg, "y") || !strcmp(arg, "g"), dx = !strcmp(arg, "dx");
    const bool dw = !strcmp(arg, "dw"), db = !strcmp(arg, "db");
    switch (c->op) {
    case NST_OP_CONV2D_FORWARD:
    case NST_OP_CONV2D_BACKWARD_DATA:
    case NST_OP_CONV2D_BACKWARD_FILTER:
    case NST_OP_DWCONV2D_FORWARD:
    case NST_OP_DWCONV2D_BACKWARD_DATA:
    case NST_OP_DWCONV2D_BACKWARD_FILTER:
        conv_abs(c->op, &c->p.conv2d, y ? ref : NULL, dx ? ref : NULL, dw ? ref : NULL,
                 db ? ref : NULL);
        break;
    case NST_OP_LINEAR_FORWARD:
    case NST_OP_LINEAR_BACKWARD:
        linear_abs(&c->p.linear, y ? ref : NULL, dx ? ref : NULL, dw ? ref : NULL,
                   db ? ref : NULL);
        break;
    case NST_OP_GRAM_FORWARD:
    case NST_OP_GRAM_BACKWARD:
        gram_abs(&c->p.gram, y ? ref : NULL, dx ? ref : NULL);
        break;
    default:
        cr_assert_fail("%s is not of the bound form", c->what);
    }
}

/* Copies of every block of case c (guards and data), to see that nothing changed them. */
static unsigned char **blocks_copy(const nst_test_op_case *c) {
    unsigned char **b = calloc(NST_TEST_CASE_TENSORS, sizeof *b);
    cr_assert_not_null(b);
    for (int k = 0; k < c->n_tensors; k++) {
        const size_t bytes = nst_tensor_bytes(&c->t[k]) + 2 * NST_TEST_GUARD_BYTES;
        b[k] = malloc(bytes);
        cr_assert_not_null(b[k]);
        memcpy(b[k], c->block[k], bytes);
    }
    return b;
}

static void blocks_free(unsigned char **b) {
    for (int k = 0; k < NST_TEST_CASE_TENSORS; k++)
        free(b[k]);
    free(b);
}

Test(parity_bound, magnitudes_are_the_ops_on_absolute_values) {
    nst_ctx *cpu = nst_test_cpu_ctx();
    int count = 0, outputs = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    for (int i = 0; i < count; i++) {
        nst_test_op_case *c = &cases[i];
        float *mag[NST_TEST_CASE_TENSORS];
        if (!nst_parity_bound_applies(c->op)) {
            cr_expect_eq(nst_parity_magnitudes(cpu, c->op, &c->p, mag, NST_TEST_CASE_TENSORS),
                         NST_ERR_INVALID_ARG, "%s", c->what);
            continue;
        }
        unsigned char **before = blocks_copy(c);
        cr_assert_eq(nst_parity_magnitudes(cpu, c->op, &c->p, mag, NST_TEST_CASE_TENSORS),
                     NST_OK, "%s: %s", c->what, nst_last_error(cpu));
        for (int k = 0; k < c->n_tensors; k++)
            cr_expect_eq(memcmp(before[k], c->block[k],
                                nst_tensor_bytes(&c->t[k]) + 2 * NST_TEST_GUARD_BYTES),
                         0, "%s: tensor %d changed", c->what, k);
        nst_op_arg args[NST_TEST_CASE_TENSORS];
        const int n = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
        for (int a = 0; a < n; a++) {
            const bool output = args[a].role != NST_ARG_IN && args[a].t;
            cr_expect_eq(mag[a] != NULL, output, "%s %s", c->what, args[a].name);
            if (!output || !mag[a])
                continue;
            const size_t len = (size_t)nst_tensor_numel(args[a].t);
            double *ref = nst_test_alloc_f64(len);
            magnitude_ref(c, args[a].name, ref);
            char what[160];
            snprintf(what, sizeof what, "%s: M of %s", c->what, args[a].name);
            /* sums of non-negative terms: fp32 within a few 1e-7 of double */
            cr_expect(nst_test_allclose(what, mag[a], ref, len, 0.0, 1e-5), "%s", what);
            outputs++;
            free(ref);
        }
        nst_parity_magnitudes_free(mag, NST_TEST_CASE_TENSORS);
        blocks_free(before);
    }
    cr_expect_eq(outputs, 15, "M checked for %d outputs", outputs);
    nst_test_op_cases_free(cases, count);
    nst_ctx_destroy(cpu);
}

/* ---- the bound against TF32-sized errors --------------------------------------------------- */

/* v rounded to TF32 (10 explicit mantissa bits): to nearest, ties to even, or truncated. */
static float tf32_round(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b += 0xFFFu + ((b >> 13) & 1u);
    b &= ~0x1FFFu;
    memcpy(&v, &b, sizeof v);
    return v;
}

static float tf32_truncate(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b &= ~0x1FFFu;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* A stride-1 pad-1 3x3 convolution without bias on the CPU: x (n, h, w, cin), w (cout, 3, 3,
 * cin), y = the CPU op's result, mag = M from nst_parity_magnitudes. */
typedef struct {
    int64_t n, h, w, cin, cout;
    float *x, *wt, *y, *mag;
    nst_tensor tx, tw, ty;
    nst_conv2d_params p;
    size_t ny;
} conv3x3;

static void conv3x3_make(conv3x3 *c, int64_t n, int64_t h, int64_t w, int64_t cin,
                         int64_t cout) {
    *c = (conv3x3){.n = n, .h = h, .w = w, .cin = cin, .cout = cout};
    c->x = nst_test_alloc_f32((size_t)(n * h * w * cin));
    c->wt = nst_test_alloc_f32((size_t)(cout * 9 * cin));
    c->ny = (size_t)(n * h * w * cout);
    c->y = nst_test_nan_f32(c->ny);
    c->tx = nst_test_f32(c->x, 4, (const int64_t[]){n, h, w, cin});
    c->tw = nst_test_f32(c->wt, 4, (const int64_t[]){cout, 3, 3, cin});
    c->ty = nst_test_f32(c->y, 4, (const int64_t[]){n, h, w, cout});
    c->p = (nst_conv2d_params){.x = &c->tx, .w = &c->tw, .y = &c->ty, .stride = 1, .pad = 1};
}

/* M, then the CPU result. */
static void conv3x3_run(conv3x3 *c, nst_ctx *cpu) {
    float *mag[NST_PARITY_MAX_ARGS];
    cr_assert_eq(nst_parity_magnitudes(cpu, NST_OP_CONV2D_FORWARD, &c->p, mag,
                                       NST_PARITY_MAX_ARGS),
                 NST_OK, "%s", nst_last_error(cpu));
    c->mag = mag[3]; /* x, w, b, y */
    mag[3] = NULL;
    cr_assert_not_null(c->mag);
    nst_parity_magnitudes_free(mag, NST_PARITY_MAX_ARGS);
    cr_assert_eq(nst_conv2d_forward(cpu, &c->p), NST_OK, "%s", nst_last_error(cpu));
}

/* The convolution of round(x) and round(w) in double, rounded once to float: what a TF32
 * convolution with exact fp32 accumulation gives. */
static float *conv3x3_tf32(const conv3x3 *c, float (*round_fn)(float)) {
    float *out = nst_test_alloc_f32(c->ny);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t oh = 0; oh < c->h; oh++)
            for (int64_t ow = 0; ow < c->w; ow++)
                for (int64_t o = 0; o < c->cout; o++) {
                    double acc = 0.0;
                    for (int64_t kh = 0; kh < 3; kh++)
                        for (int64_t kw = 0; kw < 3; kw++) {
                            const int64_t ih = oh - 1 + kh, iw = ow - 1 + kw;
                            if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                                continue;
                            for (int64_t ci = 0; ci < c->cin; ci++)
                                acc += (double)round_fn(
                                           c->x[nst_test_at(c->h, c->w, c->cin, n, ih, iw, ci)]) *
                                       round_fn(c->wt[nst_test_at(3, 3, c->cin, o, kh, kw, ci)]);
                        }
                    out[nst_test_at(c->h, c->w, c->cout, n, oh, ow, o)] = (float)acc;
                }
    return out;
}

static void conv3x3_free(conv3x3 *c) {
    free(c->x), free(c->wt), free(c->y), free(c->mag);
}

static int count_outside(const conv3x3 *c, const float *got, const nst_parity_tol *tol) {
    return nst_parity_compare("y", got, c->y, c->ny, tol, NULL, 0);
}

/* The largest |got - y| / bound(M) over the output. */
static double worst_ratio(const conv3x3 *c, const float *got, int64_t length, bool tf32) {
    double worst = 0.0;
    for (size_t i = 0; i < c->ny; i++) {
        const double r = fabs((double)got[i] - c->y[i]) / nst_parity_bound(c->mag[i], length, tf32);
        worst = r > worst ? r : worst;
    }
    return worst;
}

Test(parity_bound, tf32_error_under_cancellation_passes_the_tf32_bound_not_rtol) {
    nst_ctx *cpu = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(77);
    conv3x3 c;
    conv3x3_make(&c, 2, 9, 8, 16, 4);
    /* channel pairs that cancel: x[2k+1] = x[2k] (1 + e), e ~ 1e-3, and w[2k+1] = -w[2k], so y
     * = -sum w[2k] x[2k] e: about 1e-3 of M, while TF32's rounding of x and w (up to 2^-11 of
     * each) does not cancel */
    for (size_t i = 0; i < (size_t)(c.n * c.h * c.w * c.cin); i += 2) {
        c.x[i] = (float)nst_test_rng_uniform(&r, -1.0, 1.0);
        c.x[i + 1] = c.x[i] * (float)(1.0 + nst_test_rng_uniform(&r, -1e-3, 1e-3));
    }
    for (size_t i = 0; i < (size_t)(c.cout * 9 * c.cin); i += 2) {
        c.wt[i] = (float)nst_test_rng_uniform(&r, -1.0, 1.0);
        c.wt[i + 1] = -c.wt[i];
    }
    conv3x3_run(&c, cpu);
    double max_y = 0.0, max_m = 0.0;
    for (size_t i = 0; i < c.ny; i++) {
        max_y = fmax(max_y, fabs(c.y[i]));
        max_m = fmax(max_m, c.mag[i]);
    }
    cr_assert_lt(max_y, 1e-2 * max_m, "the outputs do not cancel: max|y| %g, max M %g", max_y,
                 max_m);
    float *got = conv3x3_tf32(&c, tf32_round);
    const int64_t length = nst_parity_reduction_length(NST_OP_CONV2D_FORWARD, &c.p, "y");
    cr_assert_eq(length, 9 * 16 + 1);
    const nst_parity_tol rtol_form = {0},
                         tf32 = {.magnitude = c.mag, .length = length, .tf32 = true};
    const int outside_rtol = count_outside(&c, got, &rtol_form);
    cr_log_info("cancellation: max|y| %.3g, max M %.3g; rtol form fails %d of %zu; worst "
                "|diff| / TF32 bound %.3f", max_y, max_m, outside_rtol, c.ny,
                worst_ratio(&c, got, length, true));
    cr_expect_gt(outside_rtol, (int)(c.ny / 2), "docs/design.md's rtol form fails only %d of %zu",
                 outside_rtol, c.ny);
    char msg[1024] = "";
    cr_expect_eq(nst_parity_compare("y", got, c.y, c.ny, &tf32, msg, sizeof msg), 0,
                 "a TF32-sized error fails the TF32 bound:%s", msg);
    free(got);
    conv3x3_free(&c);
    nst_ctx_destroy(cpu);
}

Test(parity_bound, strict_bound_rejects_tf32_errors) {
    nst_ctx *cpu = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(5);
    /* 9 * 16 + 1 = 145 roundings with TF32 rounded to nearest, 9 * 32 + 1 = 289 with TF32
     * truncated: the worst element is 3.2-3.4 and 2.6-3.3 times the strict bound over seeds.
     * The strict bound grows as L while TF32's error falls as 1/sqrt(L) of M, so from about
     * L = 300 (rounded) or 600 (truncated) the strict bound no longer tells TF32 from fp32 */
    const struct {
        int64_t cin;
        float (*round_fn)(float);
        const char *how;
    } runs[] = {{16, tf32_round, "rounded"}, {32, tf32_truncate, "truncated"}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        conv3x3 c;
        conv3x3_make(&c, 1, 10, 9, runs[k].cin, 8);
        nst_test_fill_uniform(&r, c.x, (size_t)(c.n * c.h * c.w * c.cin), -1.0f, 1.0f);
        nst_test_fill_uniform(&r, c.wt, (size_t)(c.cout * 9 * c.cin), -1.0f, 1.0f);
        conv3x3_run(&c, cpu);
        float *got = conv3x3_tf32(&c, runs[k].round_fn);
        const int64_t length = nst_parity_reduction_length(NST_OP_CONV2D_FORWARD, &c.p, "y");
        cr_assert_eq(length, 9 * runs[k].cin + 1);
        const nst_parity_tol strict = {.magnitude = c.mag, .length = length},
                             tf32 = {.magnitude = c.mag, .length = length, .tf32 = true};
        const int outside = count_outside(&c, got, &strict);
        cr_log_info("L %lld, TF32 %s: strict bound rejects %d of %zu (worst |diff| / strict "
                    "bound %.2f), worst |diff| / TF32 bound %.3f",
                    (long long)length, runs[k].how, outside, c.ny,
                    worst_ratio(&c, got, length, false), worst_ratio(&c, got, length, true));
        cr_expect_gt(outside, 0, "L %lld: the strict bound takes TF32 %s errors",
                     (long long)length, runs[k].how);
        cr_expect_eq(count_outside(&c, got, &tf32), 0, "L %lld: TF32 %s fails the TF32 bound",
                     (long long)length, runs[k].how);
        /* an error of half the TF32 bound at every element: the strict bound rejects it all */
        for (size_t i = 0; i < c.ny; i++)
            got[i] = (float)(c.y[i] + (i % 2 ? 0.5 : -0.5) *
                                          nst_parity_bound(c.mag[i], length, true));
        cr_expect_eq(count_outside(&c, got, &strict), (int)c.ny, "L %lld", (long long)length);
        cr_expect_eq(count_outside(&c, got, &tf32), 0, "L %lld", (long long)length);
        free(got);
        conv3x3_free(&c);
    }
    nst_ctx_destroy(cpu);
}

Test(parity_bound, twice_the_bound_fails_everywhere_half_of_it_nowhere) {
    nst_ctx *cpu = nst_test_cpu_ctx();
    int count = 0, checked = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    for (int i = 0; i < count; i++) {
        nst_test_op_case *c = &cases[i];
        if (!nst_parity_bound_applies(c->op))
            continue;
        float *mag[NST_TEST_CASE_TENSORS];
        cr_assert_eq(nst_parity_magnitudes(cpu, c->op, &c->p, mag, NST_TEST_CASE_TENSORS),
                     NST_OK, "%s: %s", c->what, nst_last_error(cpu));
        cr_assert_eq(nst_op_run(cpu, c->op, &c->p), NST_OK, "%s: %s", c->what,
                     nst_last_error(cpu));
        nst_op_arg args[NST_TEST_CASE_TENSORS];
        const int n = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
        for (int a = 0; a < n; a++) {
            if (!mag[a])
                continue;
            const size_t len = (size_t)nst_tensor_numel(args[a].t);
            const float *ref = args[a].t->data;
            float *got = nst_test_alloc_f32(len);
            for (int tf32 = 0; tf32 < 2; tf32++) {
                const nst_parity_tol tol = {
                    .magnitude = mag[a],
                    .length = nst_parity_reduction_length(c->op, &c->p, args[a].name),
                    .tf32 = tf32};
                const double scales[] = {0.5, 2.0};
                for (int s = 0; s < 2; s++) {
                    for (size_t e = 0; e < len; e++)
                        got[e] = (float)(ref[e] + (e % 2 ? scales[s] : -scales[s]) *
                                                      nst_parity_bound(mag[a][e], tol.length,
                                                                       tf32));
                    const int outside = nst_parity_compare(args[a].name, got, ref, len, &tol,
                                                           NULL, 0);
                    cr_expect_eq(outside, s ? (int)len : 0,
                                 "%s %s, %s bound: %g x the bound is outside at %d of %zu",
                                 c->what, args[a].name, tf32 ? "TF32" : "strict", scales[s],
                                 outside, len);
                }
            }
            checked++;
            free(got);
        }
        nst_parity_magnitudes_free(mag, NST_TEST_CASE_TENSORS);
    }
    cr_expect_eq(checked, 15);
    nst_test_op_cases_free(cases, count);
    nst_ctx_destroy(cpu);
}

Test(parity_bound, nan_and_inf_must_match_in_both_forms) {
    const float ref[4] = {1.0f, NAN, INFINITY, -2.0f};
    const float same[4] = {1.0f, NAN, INFINITY, -2.0f};
    const float nan_for_number[4] = {NAN, NAN, INFINITY, -2.0f};
    const float number_for_nan[4] = {1.0f, 0.0f, INFINITY, -2.0f};
    const float other_inf[4] = {1.0f, NAN, -INFINITY, -2.0f};
    const float mag[4] = {1.0f, 1.0f, 1.0f, 2.0f};
    const nst_parity_tol forms[2] = {{0}, {.magnitude = mag, .length = 10}};
    for (int f = 0; f < 2; f++) {
        cr_expect_eq(nst_parity_compare("t", same, ref, 4, &forms[f], NULL, 0), 0);
        cr_expect_eq(nst_parity_compare("t", nan_for_number, ref, 4, &forms[f], NULL, 0), 1);
        cr_expect_eq(nst_parity_compare("t", number_for_nan, ref, 4, &forms[f], NULL, 0), 1);
        cr_expect_eq(nst_parity_compare("t", other_inf, ref, 4, &forms[f], NULL, 0), 1);
    }
    char msg[256] = "";
    cr_expect_eq(nst_parity_compare("dw", nan_for_number, ref, 4, &forms[1], msg, sizeof msg), 1);
    cr_expect(strstr(msg, "dw[0]"), "the message names the element: %s", msg);
}
