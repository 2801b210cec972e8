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

#include "test_support.h"

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

typedef struct {
    lin_case c;
    float *x, *w, *b, *dy;
    double *xd, *wd, *bd, *dyd;
    nst_tensor tx, tw, tb, tdy;
} lin_data;

static double *to_double(const float *f, size_t n) {
    double *d = malloc(n * sizeof *d);
    cr_assert_not_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    return d;
}

static float *random_floats(nst_test_rng *r, size_t n) {
    float *f = malloc(n * sizeof *f);
    cr_assert_not_null(f);
    nst_test_fill_uniform(r, f, n, -1, 1);
    return f;
}

static nst_tensor t2(float *data, int64_t d0, int64_t d1) {
    return nst_tensor_make(NST_F32, NST_BACKEND_CPU, data, 2, (const int64_t[]){d0, d1});
}

static nst_tensor t1(float *data, int64_t d0) {
    return nst_tensor_make(NST_F32, NST_BACKEND_CPU, data, 1, (const int64_t[]){d0});
}

static lin_data make_data(const lin_case *c, uint64_t seed) {
    lin_data d;
    nst_test_rng r = nst_test_rng_seed(seed);
    d.c = *c;
    const size_t nx = (size_t)(c->n * c->in), nw = (size_t)(c->out * c->in);
    const size_t ny = (size_t)(c->n * c->out);
    d.x = random_floats(&r, nx), d.w = random_floats(&r, nw);
    d.b = random_floats(&r, (size_t)c->out), d.dy = random_floats(&r, ny);
    d.xd = to_double(d.x, nx), d.wd = to_double(d.w, nw);
    d.bd = to_double(d.b, (size_t)c->out), d.dyd = to_double(d.dy, ny);
    d.tx = t2(d.x, c->n, c->in), d.tw = t2(d.w, c->out, c->in);
    d.tb = t1(d.b, c->out), d.tdy = t2(d.dy, c->n, c->out);
    return d;
}

static void free_data(lin_data *d) {
    free(d->x), free(d->w), free(d->b), free(d->dy);
    free(d->xd), free(d->wd), free(d->bd), free(d->dyd);
}

static nst_linear_params base_params(lin_data *d) {
    nst_linear_params p = {0};
    p.x = &d->tx, p.w = &d->tw, p.b = d->c.bias ? &d->tb : NULL, p.dy = &d->tdy;
    p.relu = d->c.relu;
    return p;
}

static double max_abs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* The tolerance of the file header: atol 1e-5*max|ref|, rtol 1e-4. */
static bool close_to_ref(const char *what, const float *got, const double *ref, size_t n) {
    return nst_test_allclose(what, got, ref, n, 1e-5 * max_abs(ref, n), 1e-4);
}

static float *nan_floats(size_t n) {
    float *f = malloc(n * sizeof *f);
    cr_assert_not_null(f);
    for (size_t i = 0; i < n; i++)
        f[i] = NAN;
    return f;
}

Test(cpu_linear, forward_matches_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t k = 0; k < N_CASES; k++) {
        const lin_case *c = &cases[k];
        lin_data d = make_data(c, 100 + k);
        const size_t ny = (size_t)(c->n * c->out);
        float *y = nan_floats(ny);
        double *ref = malloc(ny * sizeof *ref);
        nst_tensor ty = t2(y, c->n, c->out);
        nst_linear_params p = base_params(&d);
        p.y = &ty;
        cr_assert_eq(nst_linear_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        ref_forward(c, d.xd, d.wd, c->bias ? d.bd : NULL, c->relu, ref);
        cr_expect(close_to_ref("linear y", y, ref, ny), "case %zu (%d, %d) -> %d", k, c->n,
                  c->in, c->out);
        free(y), free(ref);
        free_data(&d);
    }
    nst_ctx_destroy(ctx);
}

/* dx is overwritten (starts NaN); dw/db are overwritten without accumulate (start NaN) and
 * end as start + gradient with it. */
Test(cpu_linear, backward_matches_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t k = 0; k < N_CASES; k++) {
        const lin_case *c = &cases[k];
        lin_data d = make_data(c, 200 + k);
        const size_t nx = (size_t)(c->n * c->in), nw = (size_t)(c->out * c->in);
        const size_t nb = (size_t)c->out;
        double *rdx = malloc(nx * sizeof *rdx), *rdw = malloc(nw * sizeof *rdw);
        double *rdb = malloc(nb * sizeof *rdb);
        ref_backward(c, d.xd, d.wd, d.dyd, rdx, rdw, rdb);
        float *dx = nan_floats(nx), *dw = nan_floats(nw), *db = nan_floats(nb);
        nst_tensor tdx = t2(dx, c->n, c->in), tdw = t2(dw, c->out, c->in), tdb = t1(db, c->out);
        nst_linear_params p = base_params(&d);
        p.dx = &tdx, p.dw = &tdw, p.db = &tdb;
        cr_assert_eq(nst_linear_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_expect(close_to_ref("linear dx", dx, rdx, nx), "case %zu", k);
        cr_expect(close_to_ref("linear dw", dw, rdw, nw), "case %zu", k);
        cr_expect(close_to_ref("linear db", db, rdb, nb), "case %zu", k);

        nst_test_rng r = nst_test_rng_seed(300 + k);
        nst_test_fill_uniform(&r, dw, nw, -1, 1);
        nst_test_fill_uniform(&r, db, nb, -1, 1);
        for (size_t i = 0; i < nw; i++)
            rdw[i] += dw[i];
        for (size_t i = 0; i < nb; i++)
            rdb[i] += db[i];
        p.accumulate = true;
        p.dx = NULL; /* skipped */
        cr_assert_eq(nst_linear_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_expect(close_to_ref("accumulated dw", dw, rdw, nw), "case %zu", k);
        cr_expect(close_to_ref("accumulated db", db, rdb, nb), "case %zu", k);
        free(dx), free(dw), free(db), free(rdx), free(rdw), free(rdb);
        free_data(&d);
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
    double l = 0;
    for (int i = 0; i < s->c->n * s->c->out; i++)
        l += s->dy[i] * s->y[i];
    return l;
}

/* mean |a - b| / (|a| + |b|) <= 1e-4 between the fp32 gradient and the double central
 * difference (exact up to rounding, L being linear in each argument). */
static void expect_fd(const char *what, size_t k, const float *got, const double *fd, size_t n) {
    double *g = to_double(got, n);
    double rel = nst_test_mean_rel_diff(g, fd, n, 1e-12);
    cr_expect_leq(rel, 1e-4, "%s case %zu: mean relative difference %g", what, k, rel);
    free(g);
}

Test(cpu_linear, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t k = 0; k < N_CASES; k++) {
        const lin_case *c = &cases[k];
        lin_data d = make_data(c, 400 + k);
        const size_t nx = (size_t)(c->n * c->in), nw = (size_t)(c->out * c->in);
        const size_t nb = (size_t)c->out;
        float *dx = nan_floats(nx), *dw = nan_floats(nw), *db = nan_floats(nb);
        nst_tensor tdx = t2(dx, c->n, c->in), tdw = t2(dw, c->out, c->in), tdb = t1(db, c->out);
        nst_linear_params p = base_params(&d);
        p.dx = &tdx, p.dw = &tdw, p.db = &tdb;
        cr_assert_eq(nst_linear_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        fd_state s = {c, d.xd, d.wd, d.bd, d.dyd, malloc(sizeof(double) * (size_t)(c->n * c->out))};
        double *fd = malloc((nx > nw ? nx : nw) * sizeof *fd);
        nst_test_fd_grad(fd_loss, &s, d.xd, nx, 1e-3, NULL, 0, fd);
        expect_fd("dx", k, dx, fd, nx);
        nst_test_fd_grad(fd_loss, &s, d.wd, nw, 1e-3, NULL, 0, fd);
        expect_fd("dw", k, dw, fd, nw);
        nst_test_fd_grad(fd_loss, &s, d.bd, nb, 1e-3, NULL, 0, fd);
        expect_fd("db", k, db, fd, nb);
        free(fd), free(s.y), free(dx), free(dw), free(db);
        free_data(&d);
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
    lin_data d = make_data(&cases[0], 500); /* x (2, 3), w (5, 3), b (5), dy (2, 5) */
    static float buf[256];
    nst_tensor y = t2(buf, 2, 5), y_bad = t2(buf, 2, 4), w_bad = t2(buf, 5, 4);
    nst_tensor b_bad = t1(buf, 6), dx_bad = t2(buf, 3, 3), dw_bad = t2(buf, 3, 5);
    nst_linear_params p = base_params(&d);
    p.y = &y_bad;
    expect_shape_error(ctx, nst_linear_forward(ctx, &p), "linear_forward", "tensor y", "(2, 4)");
    p.y = &y, p.w = &w_bad;
    expect_shape_error(ctx, nst_linear_forward(ctx, &p), "linear_forward", "tensor w", "(5, 4)");
    p.w = &d.tw, p.b = &b_bad;
    expect_shape_error(ctx, nst_linear_forward(ctx, &p), "linear_forward", "tensor b", "(6)");

    p = base_params(&d);
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
    free_data(&d);
    nst_ctx_destroy(ctx);
}

/* ---- PyTorch goldens ------------------------------------------------------------------------- */

static const nst_st_tensor *golden(const nst_st_file *f, const char *name, float **as_f32,
                                   double **as_f64) {
    char key[64];
    snprintf(key, sizeof key, "linear.%s", name);
    const nst_st_tensor *t = nst_st_find(f, key);
    cr_assert_not_null(t, "golden tensor %s missing", key);
    cr_assert_eq(t->ndim, strcmp(name, "b") && strcmp(name, "db") ? 2 : 1, "%s rank", key);
    if (as_f32) {
        *as_f32 = malloc((size_t)t->numel * sizeof(float));
        nst_st_to_f32(t, *as_f32); /* exact: the generator draws float32 values */
    }
    if (as_f64) {
        *as_f64 = malloc((size_t)t->numel * sizeof(double));
        nst_st_to_f64(t, *as_f64);
    }
    return t;
}

/* y, y with ReLU, dx, dw, db against PyTorch in float64, within |a - b| <= 1e-5 + 1e-4*|ref|
 * (fp32 sums of at most 7 products of values in [-1, 1]). */
Test(cpu_linear, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f;
    const char *path = NST_SOURCE_DIR "/tests/golden/conv_linear.safetensors";
    cr_assert_eq(nst_st_open(ctx, path, &f), NST_OK, "%s", nst_last_error(ctx));
    float *x, *w, *b, *dy;
    double *ry, *ryr, *rdx, *rdw, *rdb;
    const nst_st_tensor *gx = golden(f, "x", &x, NULL), *gw = golden(f, "w", &w, NULL);
    const nst_st_tensor *gb = golden(f, "b", &b, NULL), *gdy = golden(f, "dy", &dy, NULL);
    golden(f, "y", NULL, &ry), golden(f, "y_relu", NULL, &ryr), golden(f, "dx", NULL, &rdx);
    golden(f, "dw", NULL, &rdw), golden(f, "db", NULL, &rdb);
    const int64_t n = gx->shape[0], in = gx->shape[1], out = gw->shape[0];
    cr_assert(gw->shape[1] == in && gb->shape[0] == out && gdy->shape[0] == n &&
              gdy->shape[1] == out, "golden shapes disagree");
    float *y = nan_floats((size_t)(n * out)), *dx = nan_floats((size_t)(n * in));
    float *dw = nan_floats((size_t)(out * in)), *db = nan_floats((size_t)out);
    nst_tensor tx = t2(x, n, in), tw = t2(w, out, in), tb = t1(b, out), tdy = t2(dy, n, out);
    nst_tensor ty = t2(y, n, out), tdx = t2(dx, n, in), tdw = t2(dw, out, in), tdb = t1(db, out);
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
