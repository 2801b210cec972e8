/* CPU linear (src/cpu/linear.c): forward (bias, fused ReLU) and backward (dx, dw, db with
 * accumulate on and off, NULL outputs skipped) against plain loops in double; backward against
 * central finite differences of a double-precision forward; PyTorch goldens
 * (tests/golden/gen_conv_linear.py); argument checks naming the argument.
 *
 * Tolerance for fp32 results against the double reference: |got - ref| <= 1e-5*max|ref| +
 * 1e-4*|ref|: OpenBLAS sums IN or N products in fp32 (at most 64 here), whose rounding error is
 * far below 1e-5 of the largest output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_layer.h"
#include "test_support.h"
#include "test_tensors.h"

typedef struct {
    int n, in, out;
    bool bias, relu;
} lin_case;

/* IN and OUT each take 1, 3, 5 and 64. */
static const lin_case cases[] = {
    {2, 3, 5, true, false},
    {2, 64, 1, false, true},
    {3, 1, 64, true, true},
    {2, 5, 3, false, false},
    {5, 64, 64, true, false},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void ref_forward(const lin_case *c, const double *x, const double *w, const double *b,
                        bool relu, double *y) {
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < c->out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < c->in; i++)
                acc += x[n * c->in + i] * w[o * c->in + i];
            y[n * c->out + o] = relu && acc < 0 ? 0.0 : acc;
        }
}

static void ref_backward(const lin_case *c, const double *x, const double *w, const double *dy,
                         double *dx, double *dw, double *db) {
    memset(dx, 0, sizeof *dx * (size_t)(c->n * c->in));
    memset(dw, 0, sizeof *dw * (size_t)(c->out * c->in));
    memset(db, 0, sizeof *db * (size_t)c->out);
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < c->out; o++) {
            double g = dy[n * c->out + o];
            db[o] += g;
            for (int i = 0; i < c->in; i++) {
                dx[n * c->in + i] += g * w[o * c->in + i];
                dw[o * c->in + i] += g * x[n * c->in + i];
            }
        }
}

/* Random x (N, IN), w (OUT, IN), b (OUT) and dy (N, OUT) of one case, as floats and as the
 * same values in double. */
static nst_test_layer make_data(const lin_case *c, uint64_t seed) {
    return nst_test_layer_random(seed, 2, (const int64_t[]){c->n, c->in}, 2,
                                 (const int64_t[]){c->out, c->in}, 2,
                                 (const int64_t[]){c->n, c->out});
}

static nst_linear_params base_params(const lin_case *c, nst_test_layer *d) {
    nst_linear_params p = {0};
    p.x = &d->tx, p.w = &d->tw, p.b = c->bias ? &d->tb : NULL, p.dy = &d->tdy;
    p.relu = c->relu;
    return p;
}

/* The tolerance of the file header: atol 1e-5*max|ref|, rtol 1e-4. */
static bool close_to_ref(const char *what, const float *got, const double *ref, size_t n) {
    return nst_test_allclose(what, got, ref, n, 1e-5 * nst_test_max_abs(ref, n), 1e-4);
}

Test(cpu_linear, forward_matches_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t k = 0; k < N_CASES; k++) {
        const lin_case *c = &cases[k];
        nst_test_layer d = make_data(c, 100 + k);
        const size_t ny = (size_t)(c->n * c->out);
        float *y = nst_test_nan_f32(ny);
        double *ref = nst_test_alloc_f64(ny);
        nst_tensor ty = nst_test_f32_2d(y, c->n, c->out);
        nst_linear_params p = base_params(c, &d);
        p.y = &ty;
        cr_assert_eq(nst_linear_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        ref_forward(c, d.xd, d.wd, c->bias ? d.bd : NULL, c->relu, ref);
        cr_expect(close_to_ref("linear y", y, ref, ny), "case %zu (%d, %d) -> %d", k, c->n,
                  c->in, c->out);
        free(y), free(ref);
        nst_test_layer_free(&d);
    }
    nst_ctx_destroy(ctx);
}

/* dx is overwritten (starts NaN); dw/db are overwritten without accumulate (start NaN) and
 * end as start + gradient with it. */
Test(cpu_linear, backward_matches_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t k = 0; k < N_CASES; k++) {
        const lin_case *c = &cases[k];
        nst_test_layer d = make_data(c, 200 + k);
        const size_t nx = (size_t)(c->n * c->in), nw = (size_t)(c->out * c->in);
        const size_t nb = (size_t)c->out;
        double *rdx = nst_test_alloc_f64(nx), *rdw = nst_test_alloc_f64(nw);
        double *rdb = nst_test_alloc_f64(nb);
        ref_backward(c, d.xd, d.wd, d.dyd, rdx, rdw, rdb);
        nst_test_layer_grads g = nst_test_layer_nan_grads(&d);
        float *dx = g.dx.data, *dw = g.dw.data, *db = g.db.data;
        nst_linear_params p = base_params(c, &d);
        p.dx = &g.dx.t, p.dw = &g.dw.t, p.db = &g.db.t;
        cr_assert_eq(nst_linear_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_expect(close_to_ref("linear dx", dx, rdx, nx), "case %zu", k);
        cr_expect(close_to_ref("linear dw", dw, rdw, nw), "case %zu", k);
        cr_expect(close_to_ref("linear db", db, rdb, nb), "case %zu", k);

        nst_test_layer_accumulate_start(300 + k, dw, rdw, nw, db, rdb, nb);
        p.accumulate = true;
        p.dx = NULL; /* skipped */
        cr_assert_eq(nst_linear_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_expect(close_to_ref("accumulated dw", dw, rdw, nw), "case %zu", k);
        cr_expect(close_to_ref("accumulated db", db, rdb, nb), "case %zu", k);
        free(rdx), free(rdw), free(rdb);
        nst_test_layer_grads_free(&g);
        nst_test_layer_free(&d);
    }
    nst_ctx_destroy(ctx);
}

/* ---- finite differences ------------------------------------------------------------------- */

typedef struct {
    const lin_case *c;
    double *x, *w, *b;
    const double *dy;
    double *y;
} fd_state;

/* L = sum(dy .* (x w^T + b)) in double. */
static double fd_loss(const double *unused, void *user) {
    (void)unused;
    fd_state *s = user;
    ref_forward(s->c, s->x, s->w, s->b, false, s->y);
    return nst_test_dot(s->dy, s->y, (size_t)(s->c->n * s->c->out));
}

Test(cpu_linear, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t k = 0; k < N_CASES; k++) {
        const lin_case *c = &cases[k];
        nst_test_layer d = make_data(c, 400 + k);
        nst_test_layer_grads g = nst_test_layer_nan_grads(&d);
        nst_linear_params p = base_params(c, &d);
        p.dx = &g.dx.t, p.dw = &g.dw.t, p.db = &g.db.t;
        cr_assert_eq(nst_linear_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        /* the fp32 gradients against the double central differences (exact up to rounding, L
         * being linear in each argument) */
        fd_state s = {c, d.xd, d.wd, d.bd, d.dyd, nst_test_alloc_f64(d.ny)};
        char name[32];
        snprintf(name, sizeof name, "case %zu", k);
        /* Element by element against the differences: fp32 sgemm sums of up to IN or N products;
         * measured worst 2e-7 of max|grad|. */
        nst_test_layer_expect_fd(&d, &g, fd_loss, &s, 1e-3, 1e-6, 1e-6, name);
        free(s.y);
        nst_test_layer_grads_free(&g);
        nst_test_layer_free(&d);
    }
    nst_ctx_destroy(ctx);
}

/* ---- argument checks ---------------------------------------------------------------------- */

static void expect_shape_error(nst_ctx *ctx, nst_status s, const char *op, const char *arg,
                               const char *shape) {
    const char *msg = nst_last_error(ctx);
    cr_expect_eq(s, NST_ERR_SHAPE, "%s: status %s (%s)", op, nst_status_name(s), msg);
    cr_expect(strstr(msg, op) != NULL, "message '%s' lacks the op %s", msg, op);
    cr_expect(strstr(msg, arg) != NULL, "message '%s' lacks '%s'", msg, arg);
    cr_expect(strstr(msg, shape) != NULL, "message '%s' lacks '%s'", msg, shape);
}

Test(cpu_linear, argument_errors) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const lin_case *c = &cases[0];
    nst_test_layer d = make_data(c, 500); /* x (2, 3), w (5, 3), b (5), dy (2, 5) */
    static float buf[256];
    nst_tensor y = nst_test_f32_2d(buf, 2, 5), y_bad = nst_test_f32_2d(buf, 2, 4);
    nst_tensor w_bad = nst_test_f32_2d(buf, 5, 4), b_bad = nst_test_f32_1d(buf, 6);
    nst_tensor dx_bad = nst_test_f32_2d(buf, 3, 3), dw_bad = nst_test_f32_2d(buf, 3, 5);
    nst_linear_params p = base_params(c, &d);
    p.y = &y_bad;
    expect_shape_error(ctx, nst_linear_forward(ctx, &p), "linear_forward", "tensor y", "(2, 4)");
    p.y = &y, p.w = &w_bad;
    expect_shape_error(ctx, nst_linear_forward(ctx, &p), "linear_forward", "tensor w", "(5, 4)");
    p.w = &d.tw, p.b = &b_bad;
    expect_shape_error(ctx, nst_linear_forward(ctx, &p), "linear_forward", "tensor b", "(6)");

    p = base_params(c, &d);
    p.dx = &dx_bad;
    expect_shape_error(ctx, nst_linear_backward(ctx, &p), "linear_backward", "tensor dx",
                       "(3, 3)");
    p.dx = NULL, p.dw = &dw_bad;
    expect_shape_error(ctx, nst_linear_backward(ctx, &p), "linear_backward", "tensor dw",
                       "(3, 5)");
    p.dw = NULL, p.db = &b_bad;
    expect_shape_error(ctx, nst_linear_backward(ctx, &p), "linear_backward", "tensor db", "(6)");
    p.db = &d.tb, p.dy = &y_bad; /* dy (2, 4) against w (5, 3) */
    expect_shape_error(ctx, nst_linear_backward(ctx, &p), "linear_backward", "tensor w", "(5, 3)");
    nst_test_layer_free(&d);
    nst_ctx_destroy(ctx);
}

/* ---- PyTorch goldens ------------------------------------------------------------------------- */

static const nst_st_tensor *golden(const nst_st_file *f, const char *name, float **as_f32,
                                   double **as_f64) {
    char key[64];
    snprintf(key, sizeof key, "linear.%s", name);
    /* as_f32 is exact: the generator draws float32 values */
    const nst_st_tensor *t = nst_test_golden(f, key, as_f32, as_f64);
    cr_assert_eq(t->ndim, strcmp(name, "b") && strcmp(name, "db") ? 2 : 1, "%s rank", key);
    return t;
}

/* y, y with ReLU, dx, dw, db against PyTorch in float64, within |a - b| <= 1e-5 + 1e-4*|ref|
 * (fp32 sums of at most 7 products of values in [-1, 1]). */
Test(cpu_linear, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "conv_linear.safetensors");
    float *x, *w, *b, *dy;
    double *ry, *ryr, *rdx, *rdw, *rdb;
    const nst_st_tensor *gx = golden(f, "x", &x, NULL), *gw = golden(f, "w", &w, NULL);
    const nst_st_tensor *gb = golden(f, "b", &b, NULL), *gdy = golden(f, "dy", &dy, NULL);
    golden(f, "y", NULL, &ry), golden(f, "y_relu", NULL, &ryr), golden(f, "dx", NULL, &rdx);
    golden(f, "dw", NULL, &rdw), golden(f, "db", NULL, &rdb);
    const int64_t n = gx->shape[0], in = gx->shape[1], out = gw->shape[0];
    cr_assert(gw->shape[1] == in && gb->shape[0] == out && gdy->shape[0] == n &&
              gdy->shape[1] == out, "golden shapes disagree");
    float *y = nst_test_nan_f32((size_t)(n * out)), *dx = nst_test_nan_f32((size_t)(n * in));
    float *dw = nst_test_nan_f32((size_t)(out * in)), *db = nst_test_nan_f32((size_t)out);
    nst_tensor tx = nst_test_f32_2d(x, n, in), tw = nst_test_f32_2d(w, out, in);
    nst_tensor tb = nst_test_f32_1d(b, out), tdy = nst_test_f32_2d(dy, n, out);
    nst_tensor ty = nst_test_f32_2d(y, n, out), tdx = nst_test_f32_2d(dx, n, in);
    nst_tensor tdw = nst_test_f32_2d(dw, out, in), tdb = nst_test_f32_1d(db, out);
    nst_linear_params p = {.x = &tx, .w = &tw, .b = &tb, .y = &ty, .dy = &tdy, .dx = &tdx,
                           .dw = &tdw, .db = &tdb};
    cr_assert_eq(nst_linear_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(nst_test_allclose("golden y", y, ry, (size_t)(n * out), 1e-5, 1e-4));
    p.relu = true;
    cr_assert_eq(nst_linear_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(nst_test_allclose("golden y_relu", y, ryr, (size_t)(n * out), 1e-5, 1e-4));
    cr_assert_eq(nst_linear_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(nst_test_allclose("golden dx", dx, rdx, (size_t)(n * in), 1e-5, 1e-4));
    cr_expect(nst_test_allclose("golden dw", dw, rdw, (size_t)(out * in), 1e-5, 1e-4));
    cr_expect(nst_test_allclose("golden db", db, rdb, (size_t)out, 1e-5, 1e-4));
    free(x), free(w), free(b), free(dy), free(ry), free(ryr), free(rdx), free(rdw), free(rdb);
    free(y), free(dx), free(dw), free(db);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}
