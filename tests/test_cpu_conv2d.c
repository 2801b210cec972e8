/* CPU conv2d (src/cpu/conv2d.c): forward, backward-data and backward-filter against plain NHWC
 * loops accumulated in double, on odd shapes covering 1x1 / 3x3 / 9x9 kernels, stride 1 and 2,
 * pad 0 / 1 / 4, Cin and Cout in {1, 3, 5, 64}, bias, fused ReLU and accumulate; tile boundaries
 * mid-row and mid-image under both schedules (tiny column buffers); backward against central
 * finite differences of a double-precision forward; PyTorch goldens
 * (tests/golden/gen_conv_linear.py); and the argument checks (shape mismatches name the
 * argument).
 *
 * Tolerance for fp32 results against the double reference: |got - ref| <= 1e-5*max|ref| +
 * 1e-4*|ref|. OpenBLAS sums K = KH*KW*Cin (up to 5184 here) or P = N*Ho*Wo products in fp32, in a
 * blocked order; the rounding error grows like sqrt(K)*2^-24*max|partial sum|, well under 1e-5
 * of the largest output, and the relative term covers the large entries. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/conv2d.h"
#include "test_support.h"

typedef struct {
    int n, h, w, cin, cout, kh, kw, stride, pad;
    bool bias, relu;
} conv_case;

static int out_size(int in, int k, int s, int pad) { return (in + 2 * pad - k) / s + 1; }
static int case_ho(const conv_case *c) { return out_size(c->h, c->kh, c->stride, c->pad); }
static int case_wo(const conv_case *c) { return out_size(c->w, c->kw, c->stride, c->pad); }
static size_t x_count(const conv_case *c) { return (size_t)c->n * c->h * c->w * c->cin; }
static size_t w_count(const conv_case *c) { return (size_t)c->cout * c->kh * c->kw * c->cin; }
static size_t y_count(const conv_case *c) {
    return (size_t)c->n * case_ho(c) * case_wo(c) * c->cout;
}

/* N = 2, H = 7, W = 11: every Cin/Cout in {1, 3, 5, 64}, kernels 1x1 / 3x3 / 9x9, stride 2 on
 * odd sizes, pad 0 / 1 / 4, with and without bias and ReLU. */
static const conv_case cases[] = {
    {2, 7, 11, 3, 5, 1, 1, 1, 0, true, false},   /* pointwise: GEMM on x directly */
    {2, 7, 11, 5, 3, 1, 1, 2, 0, false, true},   /* 1x1 strided: im2col path */
    {2, 7, 11, 1, 64, 1, 1, 1, 1, true, false},  /* 1x1 with padding: zero border outputs */
    {2, 7, 11, 3, 5, 3, 3, 1, 1, true, true},
    {2, 7, 11, 64, 3, 3, 3, 2, 1, true, false},
    {2, 7, 11, 5, 64, 3, 3, 2, 0, false, true},
    {2, 7, 11, 1, 1, 3, 3, 1, 0, false, false},
    {2, 7, 11, 64, 64, 3, 3, 1, 1, true, true},
    {2, 7, 11, 3, 5, 9, 9, 1, 4, true, false},
    {2, 7, 11, 1, 3, 9, 9, 2, 4, false, true},
    {2, 7, 11, 64, 5, 9, 9, 2, 4, true, false},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void describe(const conv_case *c, char *buf, size_t size) {
    snprintf(buf, size, "x (%d,%d,%d,%d) w (%d,%d,%d,%d) stride %d pad %d%s%s", c->n, c->h, c->w,
             c->cin, c->cout, c->kh, c->kw, c->cin, c->stride, c->pad, c->bias ? " bias" : "",
             c->relu ? " relu" : "");
}

/* ---- naive references in double ------------------------------------------------------------ */

static void ref_forward(const conv_case *c, const double *x, const double *w, const double *b,
                        bool relu, double *y) {
    const int ho = case_ho(c), wo = case_wo(c);
    for (int n = 0; n < c->n; n++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++)
                for (int co = 0; co < c->cout; co++) {
                    double acc = b ? b[co] : 0.0;
                    for (int kh = 0; kh < c->kh; kh++)
                        for (int kw = 0; kw < c->kw; kw++) {
                            int ih = oh * c->stride - c->pad + kh;
                            int iw = ow * c->stride - c->pad + kw;
                            if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                                continue;
                            for (int ci = 0; ci < c->cin; ci++)
                                acc += x[((size_t)(n * c->h + ih) * c->w + iw) * c->cin + ci] *
                                       w[((size_t)(co * c->kh + kh) * c->kw + kw) * c->cin + ci];
                        }
                    y[((size_t)(n * ho + oh) * wo + ow) * c->cout + co] =
                        relu && acc < 0 ? 0.0 : acc;
                }
}

/* dx, dw, db of L = sum(dy .* y) for the un-fused conv; any output may be NULL. */
static void ref_backward(const conv_case *c, const double *x, const double *w, const double *dy,
                         double *dx, double *dw, double *db) {
    const int ho = case_ho(c), wo = case_wo(c);
    if (dx)
        memset(dx, 0, x_count(c) * sizeof *dx);
    if (dw)
        memset(dw, 0, w_count(c) * sizeof *dw);
    if (db)
        memset(db, 0, (size_t)c->cout * sizeof *db);
    for (int n = 0; n < c->n; n++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++)
                for (int co = 0; co < c->cout; co++) {
                    double g = dy[((size_t)(n * ho + oh) * wo + ow) * c->cout + co];
                    if (db)
                        db[co] += g;
                    for (int kh = 0; kh < c->kh; kh++)
                        for (int kw = 0; kw < c->kw; kw++) {
                            int ih = oh * c->stride - c->pad + kh;
                            int iw = ow * c->stride - c->pad + kw;
                            if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                                continue;
                            size_t xi = ((size_t)(n * c->h + ih) * c->w + iw) * c->cin;
                            size_t wi = ((size_t)(co * c->kh + kh) * c->kw + kw) * c->cin;
                            for (int ci = 0; ci < c->cin; ci++) {
                                if (dx)
                                    dx[xi + ci] += g * w[wi + ci];
                                if (dw)
                                    dw[wi + ci] += g * x[xi + ci];
                            }
                        }
                }
}

/* ---- fixtures ------------------------------------------------------------------------------- */

/* Random inputs of one case as floats and as the same values in double. */
typedef struct {
    conv_case c;
    float *x, *w, *b, *dy;
    double *xd, *wd, *bd, *dyd;
    nst_tensor tx, tw, tb, tdy;
} conv_data;

static double *to_double(const float *f, size_t n) {
    double *d = malloc(n * sizeof *d);
    cr_assert_not_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    return d;
}

static float *random_floats(nst_test_rng *r, size_t n, float lo, float hi) {
    float *f = malloc(n * sizeof *f);
    cr_assert_not_null(f);
    nst_test_fill_uniform(r, f, n, lo, hi);
    return f;
}

static conv_data make_data(const conv_case *c, uint64_t seed) {
    conv_data d;
    nst_test_rng r = nst_test_rng_seed(seed);
    d.c = *c;
    d.x = random_floats(&r, x_count(c), -1, 1);
    d.w = random_floats(&r, w_count(c), -1, 1);
    d.b = random_floats(&r, (size_t)c->cout, -1, 1);
    d.dy = random_floats(&r, y_count(c), -1, 1);
    d.xd = to_double(d.x, x_count(c));
    d.wd = to_double(d.w, w_count(c));
    d.bd = to_double(d.b, (size_t)c->cout);
    d.dyd = to_double(d.dy, y_count(c));
    d.tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, d.x, c->n, c->h, c->w, c->cin);
    d.tw = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, d.w, c->cout, c->kh, c->kw, c->cin);
    d.tb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, d.b, 1, (const int64_t[]){c->cout});
    d.tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, d.dy, c->n, case_ho(c), case_wo(c),
                            c->cout);
    return d;
}

static void free_data(conv_data *d) {
    free(d->x), free(d->w), free(d->b), free(d->dy);
    free(d->xd), free(d->wd), free(d->bd), free(d->dyd);
}

static nst_conv2d_params base_params(conv_data *d) {
    nst_conv2d_params p = {0};
    p.x = &d->tx;
    p.w = &d->tw;
    p.b = d->c.bias ? &d->tb : NULL;
    p.dy = &d->tdy;
    p.stride = d->c.stride;
    p.pad = d->c.pad;
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

/* NaN everywhere, so an output the op forgets to write fails the comparison. */
static float *nan_floats(size_t n) {
    float *f = malloc(n * sizeof *f);
    cr_assert_not_null(f);
    for (size_t i = 0; i < n; i++)
        f[i] = NAN;
    return f;
}

/* A schedule forced on the op (nst__cpu_conv2d_tiled); NULL runs it through the op table. */
typedef struct {
    size_t tile_bytes;
    int workers;
} sched;

static nst_status run_op(nst_ctx *ctx, nst_op op, const nst_conv2d_params *p, const sched *s) {
    return s ? nst__cpu_conv2d_tiled(ctx, op, p, s->tile_bytes, s->workers)
             : nst_op_run(ctx, op, p);
}

/* ---- forward and backward against the naive loops ------------------------------------------- */

static void check_forward(nst_ctx *ctx, const conv_case *c, const sched *sc, uint64_t seed) {
    char name[160];
    describe(c, name, sizeof name);
    conv_data d = make_data(c, seed);
    float *y = nan_floats(y_count(c));
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, c->n, case_ho(c), case_wo(c),
                                    c->cout);
    nst_conv2d_params p = base_params(&d);
    p.y = &ty;
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_FORWARD, &p, sc), NST_OK, "%s: %s", name,
                 nst_last_error(ctx));
    double *ref = malloc(y_count(c) * sizeof *ref);
    ref_forward(c, d.xd, d.wd, c->bias ? d.bd : NULL, c->relu, ref);
    cr_expect(close_to_ref("conv2d_forward y", y, ref, y_count(c)), "forward %s", name);
    free(ref), free(y);
    free_data(&d);
}

/* backward-data (dx overwritten: starts as NaN) and backward-filter with accumulate off (dw, db
 * start as NaN) and on (start random, must end as start + gradient). */
static void check_backward(nst_ctx *ctx, const conv_case *c, const sched *sc, uint64_t seed) {
    char name[160];
    describe(c, name, sizeof name);
    conv_data d = make_data(c, seed);
    const size_t nx = x_count(c), nw = w_count(c), nb = (size_t)c->cout;
    double *rdx = malloc(nx * sizeof *rdx), *rdw = malloc(nw * sizeof *rdw);
    double *rdb = malloc(nb * sizeof *rdb);
    ref_backward(c, d.xd, d.wd, d.dyd, rdx, rdw, rdb);

    float *dx = nan_floats(nx), *dw = nan_floats(nw), *db = nan_floats(nb);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, c->n, c->h, c->w, c->cin);
    nst_tensor tdw = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dw, c->cout, c->kh, c->kw, c->cin);
    nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, db, 1, (const int64_t[]){c->cout});
    nst_conv2d_params p = base_params(&d);
    p.relu = false;
    p.dx = &tdx, p.dw = &tdw, p.db = &tdb;
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, sc), NST_OK, "%s: %s",
                 name, nst_last_error(ctx));
    cr_expect(close_to_ref("conv2d_backward_data dx", dx, rdx, nx), "dx %s", name);
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, sc), NST_OK, "%s: %s",
                 name, nst_last_error(ctx));
    cr_expect(close_to_ref("conv2d_backward_filter dw", dw, rdw, nw), "dw %s", name);
    cr_expect(close_to_ref("conv2d_backward_filter db", db, rdb, nb), "db %s", name);

    /* accumulate: start from random values s, expect s + gradient */
    nst_test_rng r = nst_test_rng_seed(seed + 1000);
    nst_test_fill_uniform(&r, dw, nw, -1, 1);
    nst_test_fill_uniform(&r, db, nb, -1, 1);
    for (size_t i = 0; i < nw; i++)
        rdw[i] += dw[i];
    for (size_t i = 0; i < nb; i++)
        rdb[i] += db[i];
    p.accumulate = true;
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, sc), NST_OK, "%s: %s",
                 name, nst_last_error(ctx));
    cr_expect(close_to_ref("accumulated dw", dw, rdw, nw), "dw accumulate %s", name);
    cr_expect(close_to_ref("accumulated db", db, rdb, nb), "db accumulate %s", name);
    free(dx), free(dw), free(db), free(rdx), free(rdw), free(rdb);
    free_data(&d);
}

Test(cpu_conv2d, forward_matches_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 3); /* uneven GEMM slices and OpenMP splits on any machine */
    for (size_t i = 0; i < N_CASES; i++)
        check_forward(ctx, &cases[i], NULL, 100 + i);
    nst_ctx_destroy(ctx);
}

Test(cpu_conv2d, backward_matches_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 3); /* uneven GEMM slices and OpenMP splits on any machine */
    for (size_t i = 0; i < N_CASES; i++)
        check_backward(ctx, &cases[i], NULL, 200 + i);
    nst_ctx_destroy(ctx);
}

/* Column buffers of a few pixels: tiles end mid-row and mid-image (2 images of 4x6 or 7x11
 * outputs in tiles of 1, 5 or 7 pixels), run one after another over 2 threads (workers 1: the
 * threaded im2col and col2im gather) and several at a time (workers 2 and 3: per-worker buffers,
 * col2im scatter, partial dW sums, col2im phases), so im2col, the GEMM offsets, the col2im
 * footprint and the accumulation over tiles all cross boundaries. */
Test(cpu_conv2d, small_tiles_match_naive) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 2); /* whatever the machine: workers 1 then threads its tiles */
    const conv_case tiled[] = {
        {2, 7, 11, 3, 5, 3, 3, 2, 1, true, true},
        {2, 7, 11, 5, 3, 9, 9, 1, 4, true, false},
        {2, 7, 11, 3, 5, 1, 1, 1, 0, true, false},
    };
    for (size_t i = 0; i < sizeof tiled / sizeof tiled[0]; i++) {
        const size_t patch = (size_t)tiled[i].kh * tiled[i].kw * tiled[i].cin * sizeof(float);
        const size_t bounds[] = {patch, 5 * patch, 7 * patch + 3};
        for (int workers = 1; workers <= 3; workers++)
            for (size_t j = 0; j < 3; j++) {
                const sched sc = {bounds[j], workers};
                const uint64_t seed = 300 + 100 * i + 10 * (uint64_t)workers + j;
                check_forward(ctx, &tiled[i], &sc, seed);
                check_backward(ctx, &tiled[i], &sc, seed + 1000);
            }
    }
    nst_ctx_destroy(ctx);
}

/* An image large enough for the automatic schedule to give each thread its own cache-sized tiles
 * (2 x 128 x 128 outputs in 1 MB tiles of 3640 pixels: 9 tiles) on 2 threads and on 1; and
 * thousands of 7-pixel tiles on 2 workers, so tiles of one col2im phase really run side by side
 * (a phase count that let footprints overlap races here; such a race shows up as a mismatch in
 * some runs, not in every run). */
Test(cpu_conv2d, larger_image_matches_naive) {
    const conv_case big = {2, 128, 128, 8, 8, 3, 3, 1, 1, true, true};
    const sched tiny = {7 * 3 * 3 * 8 * sizeof(float), 2};
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 2);
    check_forward(ctx, &big, NULL, 500);
    check_backward(ctx, &big, NULL, 501);
    check_backward(ctx, &big, &tiny, 502);
    nst_ctx_set_threads(ctx, 1);
    check_forward(ctx, &big, NULL, 503);
    check_backward(ctx, &big, NULL, 504);
    nst_ctx_destroy(ctx);
}

/* ---- finite differences ------------------------------------------------------------------- */

/* L(x, w, b) = sum(dy .* conv(x, w) + b), evaluated in double; nst_test_fd_grad perturbs one of
 * the arrays in place, so the function reads them all through this struct. */
typedef struct {
    const conv_case *c;
    double *x, *w, *b;
    const double *dy;
    double *y; /* scratch */
} fd_state;

static double fd_loss(const double *unused, void *user) {
    (void)unused;
    fd_state *s = user;
    ref_forward(s->c, s->x, s->w, s->b, false, s->y);
    double l = 0;
    for (size_t i = 0; i < y_count(s->c); i++)
        l += s->dy[i] * s->y[i];
    return l;
}

/* mean |a - b| / (|a| + |b|) <= 1e-4: the op's fp32 gradient against the double-precision
 * central difference (exact up to rounding here, L being linear in each argument). */
static void expect_fd(const char *what, const char *name, const float *got, const double *fd,
                      size_t n) {
    double *g = to_double(got, n);
    double rel = nst_test_mean_rel_diff(g, fd, n, 1e-12);
    cr_expect_leq(rel, 1e-4, "%s %s: mean relative difference %g to finite differences", what,
                  name, rel);
    free(g);
}

Test(cpu_conv2d, backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const conv_case fd_cases[] = {
        {2, 7, 11, 3, 5, 3, 3, 2, 1, true, false},
        {2, 7, 11, 1, 3, 9, 9, 1, 4, true, false},
        {2, 7, 11, 5, 3, 1, 1, 1, 0, true, false},
        {2, 7, 11, 5, 1, 3, 3, 2, 0, true, false},
    };
    for (size_t i = 0; i < sizeof fd_cases / sizeof fd_cases[0]; i++) {
        const conv_case *c = &fd_cases[i];
        char name[160];
        describe(c, name, sizeof name);
        conv_data d = make_data(c, 600 + i);
        const size_t nx = x_count(c), nw = w_count(c), nb = (size_t)c->cout;
        float *dx = nan_floats(nx), *dw = nan_floats(nw), *db = nan_floats(nb);
        nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, c->n, c->h, c->w, c->cin);
        nst_tensor tdw = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dw, c->cout, c->kh, c->kw,
                                         c->cin);
        nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, db, 1,
                                         (const int64_t[]){c->cout});
        nst_conv2d_params p = base_params(&d);
        p.dx = &tdx, p.dw = &tdw, p.db = &tdb;
        cr_assert_eq(nst_conv2d_backward_data(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(nst_conv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));

        fd_state s = {c, d.xd, d.wd, d.bd, d.dyd, malloc(y_count(c) * sizeof(double))};
        double *fd = malloc((nx > nw ? nx : nw) * sizeof *fd);
        nst_test_fd_grad(fd_loss, &s, d.xd, nx, 1e-3, NULL, 0, fd);
        expect_fd("dx", name, dx, fd, nx);
        nst_test_fd_grad(fd_loss, &s, d.wd, nw, 1e-3, NULL, 0, fd);
        expect_fd("dw", name, dw, fd, nw);
        nst_test_fd_grad(fd_loss, &s, d.bd, nb, 1e-3, NULL, 0, fd);
        expect_fd("db", name, db, fd, nb);
        free(fd), free(s.y), free(dx), free(dw), free(db);
        free_data(&d);
    }
    nst_ctx_destroy(ctx);
}

/* ---- NULL outputs and argument checks ------------------------------------------------------ */

Test(cpu_conv2d, null_outputs_are_skipped) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const conv_case *c = &cases[3];
    conv_data d = make_data(c, 700);
    double rdb[5];
    cr_assert_eq(c->cout, 5);
    ref_backward(c, d.xd, d.wd, d.dyd, NULL, NULL, rdb);
    float db[5];
    nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, db, 1, (const int64_t[]){5});
    nst_conv2d_params p = base_params(&d);
    p.db = &tdb; /* dw NULL: bias gradient only */
    cr_assert_eq(nst_conv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(close_to_ref("db alone", db, rdb, 5));
    p.db = NULL; /* nothing requested: no work, no complaint even without x */
    p.x = NULL;
    cr_expect_eq(nst_conv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(nst_conv2d_backward_data(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    free_data(&d);
    nst_ctx_destroy(ctx);
}

/* Runs op, expects `status` and a message containing each of the given fragments. */
static void expect_error(nst_ctx *ctx, nst_op op, const nst_conv2d_params *p, nst_status status,
                         const char *frag1, const char *frag2) {
    nst_status s = nst_op_run(ctx, op, p);
    const char *msg = nst_last_error(ctx);
    cr_expect_eq(s, status, "%s: status %s, expected %s (%s)", nst_op_get_info(op)->name,
                 nst_status_name(s), nst_status_name(status), msg);
    cr_expect(strstr(msg, nst_op_get_info(op)->name) != NULL, "message '%s' lacks the op", msg);
    cr_expect(strstr(msg, frag1) != NULL, "message '%s' lacks '%s'", msg, frag1);
    if (frag2)
        cr_expect(strstr(msg, frag2) != NULL, "message '%s' lacks '%s'", msg, frag2);
}

Test(cpu_conv2d, argument_errors) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const conv_case *c = &cases[3]; /* x (2, 7, 11, 3), w (5, 3, 3, 3), stride 1, pad 1 */
    conv_data d = make_data(c, 800);
    static float buf[4096];
    nst_tensor y = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 7, 11, 5);
    nst_tensor y_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 7, 10, 5);
    nst_tensor w_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 5, 3, 3, 4);
    nst_tensor b_bad = nst_tensor_make(NST_F32, NST_BACKEND_CPU, buf, 1, (const int64_t[]){4});
    nst_tensor dx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 7, 11, 3);
    nst_tensor dw_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 5, 3, 1, 3);
    nst_tensor x_big = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, d.x, 2, 2, 2, 3);

    nst_conv2d_params p = base_params(&d);
    p.y = &y_bad;
    expect_error(ctx, NST_OP_CONV2D_FORWARD, &p, NST_ERR_SHAPE, "tensor y", "(2, 7, 10, 5)");
    p.y = &y, p.w = &w_bad;
    expect_error(ctx, NST_OP_CONV2D_FORWARD, &p, NST_ERR_SHAPE, "tensor w", "(5, 3, 3, 4)");
    p.w = &d.tw, p.b = &b_bad;
    expect_error(ctx, NST_OP_CONV2D_FORWARD, &p, NST_ERR_SHAPE, "tensor b", "(4)");
    p.b = NULL, p.stride = 0;
    expect_error(ctx, NST_OP_CONV2D_FORWARD, &p, NST_ERR_INVALID_ARG, "stride", NULL);
    p.stride = 1, p.pad = -1;
    expect_error(ctx, NST_OP_CONV2D_FORWARD, &p, NST_ERR_INVALID_ARG, "pad", NULL);
    p.pad = 0, p.x = &x_big; /* 3x3 kernel on a 2x2 input without padding */
    expect_error(ctx, NST_OP_CONV2D_FORWARD, &p, NST_ERR_SHAPE, "does not fit", NULL);
    p.x = NULL;
    expect_error(ctx, NST_OP_CONV2D_FORWARD, &p, NST_ERR_INVALID_ARG, "tensor x", "missing");

    p = base_params(&d);
    p.dx = &dx, p.dy = &y_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, NST_ERR_SHAPE, "tensor dy", "(2, 7, 10, 5)");
    p.dy = &d.tdy, p.w = &w_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, NST_ERR_SHAPE, "tensor w", NULL);
    p.w = &d.tw, p.x = &x_big;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, NST_ERR_SHAPE, "tensor x", NULL);

    p = base_params(&d);
    p.dw = &dw_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, NST_ERR_SHAPE, "tensor dw",
                 "(5, 3, 1, 3)");
    p.dw = NULL, p.db = &b_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, NST_ERR_SHAPE, "tensor db", "(4)");
    p.db = &d.tb, p.dy = &y_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, NST_ERR_SHAPE, "tensor dy", NULL);
    free_data(&d);
    nst_ctx_destroy(ctx);
}

/* ---- PyTorch goldens ------------------------------------------------------------------------- */

/* A golden tensor as floats (inputs; exact, the generator draws float32 values) and doubles. */
static const nst_st_tensor *golden(const nst_st_file *f, const char *prefix, const char *name,
                                   float **as_f32, double **as_f64) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    const nst_st_tensor *t = nst_st_find(f, key);
    cr_assert_not_null(t, "golden tensor %s missing", key);
    if (as_f32) {
        *as_f32 = malloc((size_t)t->numel * sizeof(float));
        nst_st_to_f32(t, *as_f32);
    }
    if (as_f64) {
        *as_f64 = malloc((size_t)t->numel * sizeof(double));
        nst_st_to_f64(t, *as_f64);
    }
    return t;
}

static nst_tensor golden_tensor(const nst_st_tensor *t, float *data) {
    return nst_tensor_make(NST_F32, NST_BACKEND_CPU, data, t->ndim, t->shape);
}

/* y, y with fused ReLU, dx, dw and db of one golden case, within |a - b| <= 1e-5 + 1e-4*|ref|
 * (fp32 sums of at most 27 (forward, dx) or 154 (dw, db) products of values in [-1, 1]). */
static void check_golden_case(nst_ctx *ctx, const nst_st_file *f, const char *prefix) {
    float *x, *w, *b, *dy;
    double *ry, *ryr, *rdx, *rdw, *rdb;
    const nst_st_tensor *gx = golden(f, prefix, "x", &x, NULL);
    const nst_st_tensor *gw = golden(f, prefix, "w", &w, NULL);
    const nst_st_tensor *gb = golden(f, prefix, "b", &b, NULL);
    const nst_st_tensor *gdy = golden(f, prefix, "dy", &dy, NULL);
    const nst_st_tensor *gy = golden(f, prefix, "y", NULL, &ry);
    golden(f, prefix, "y_relu", NULL, &ryr);
    golden(f, prefix, "dx", NULL, &rdx);
    golden(f, prefix, "dw", NULL, &rdw);
    golden(f, prefix, "db", NULL, &rdb);
    char key[64];
    snprintf(key, sizeof key, "%s.stride", prefix);
    const char *stride = nst_st_metadata(f, key);
    snprintf(key, sizeof key, "%s.pad", prefix);
    const char *pad = nst_st_metadata(f, key);
    cr_assert(stride && pad, "%s: stride/pad metadata missing", prefix);

    float *y = nan_floats((size_t)gy->numel), *dx = nan_floats((size_t)gx->numel);
    float *dw = nan_floats((size_t)gw->numel), *db = nan_floats((size_t)gb->numel);
    nst_tensor tx = golden_tensor(gx, x), tw = golden_tensor(gw, w), tb = golden_tensor(gb, b);
    nst_tensor tdy = golden_tensor(gdy, dy), ty = golden_tensor(gy, y);
    nst_tensor tdx = golden_tensor(gx, dx), tdw = golden_tensor(gw, dw);
    nst_tensor tdb = golden_tensor(gb, db);
    nst_conv2d_params p = {.x = &tx, .w = &tw, .b = &tb, .y = &ty, .dy = &tdy, .dx = &tdx,
                           .dw = &tdw, .db = &tdb, .stride = atoi(stride), .pad = atoi(pad)};
    cr_assert_eq(nst_conv2d_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(nst_test_allclose("golden y", y, ry, (size_t)gy->numel, 1e-5, 1e-4), "%s", prefix);
    p.relu = true;
    cr_assert_eq(nst_conv2d_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(nst_test_allclose("golden y_relu", y, ryr, (size_t)gy->numel, 1e-5, 1e-4), "%s",
              prefix);
    p.relu = false;
    cr_assert_eq(nst_conv2d_backward_data(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_conv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(nst_test_allclose("golden dx", dx, rdx, (size_t)gx->numel, 1e-5, 1e-4), "%s",
              prefix);
    cr_expect(nst_test_allclose("golden dw", dw, rdw, (size_t)gw->numel, 1e-5, 1e-4), "%s",
              prefix);
    cr_expect(nst_test_allclose("golden db", db, rdb, (size_t)gb->numel, 1e-5, 1e-4), "%s",
              prefix);
    free(x), free(w), free(b), free(dy), free(ry), free(ryr), free(rdx), free(rdw), free(rdb);
    free(y), free(dx), free(dw), free(db);
}

Test(cpu_conv2d, matches_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f;
    const char *path = NST_SOURCE_DIR "/tests/golden/conv_linear.safetensors";
    cr_assert_eq(nst_st_open(ctx, path, &f), NST_OK, "%s", nst_last_error(ctx));
    check_golden_case(ctx, f, "conv_s1");
    check_golden_case(ctx, f, "conv_s2");
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}
