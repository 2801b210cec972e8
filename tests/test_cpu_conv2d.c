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
#include "cpu/cpu_ops.h"
#include "test_layer.h"
#include "test_support.h"
#include "test_tensors.h"

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

/* Random x (N, H, W, Cin), w (Cout, KH, KW, Cin), b (Cout) and dy (N, Ho, Wo, Cout) of one
 * case, as floats and as the same values in double. */
static nst_test_layer make_data(const conv_case *c, uint64_t seed) {
    return nst_test_layer_random(seed, 4, (const int64_t[]){c->n, c->h, c->w, c->cin}, 4,
                                 (const int64_t[]){c->cout, c->kh, c->kw, c->cin}, 4,
                                 (const int64_t[]){c->n, case_ho(c), case_wo(c), c->cout});
}

static nst_conv2d_params base_params(const conv_case *c, nst_test_layer *d) {
    nst_conv2d_params p = {0};
    p.x = &d->tx;
    p.w = &d->tw;
    p.b = c->bias ? &d->tb : NULL;
    p.dy = &d->tdy;
    p.stride = c->stride;
    p.pad = c->pad;
    p.relu = c->relu;
    return p;
}

/* The tolerance of the file header: atol 1e-5*max|ref|, rtol 1e-4. */
static bool close_to_ref(const char *what, const float *got, const double *ref, size_t n) {
    return nst_test_allclose(what, got, ref, n, 1e-5 * nst_test_max_abs(ref, n), 1e-4);
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
    nst_test_layer d = make_data(c, seed);
    nst_test_tensor y = nst_test_tensor_nan(d.tdy.ndim, d.tdy.shape); /* NaN: must be written */
    nst_conv2d_params p = base_params(c, &d);
    p.y = &y.t;
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_FORWARD, &p, sc), NST_OK, "%s: %s", name,
                 nst_last_error(ctx));
    double *ref = nst_test_alloc_f64(y_count(c));
    ref_forward(c, d.xd, d.wd, c->bias ? d.bd : NULL, c->relu, ref);
    cr_expect(close_to_ref("conv2d_forward y", y.data, ref, y_count(c)), "forward %s", name);
    free(ref);
    nst_test_tensor_free(&y);
    nst_test_layer_free(&d);
}

/* backward-data (dx overwritten: starts as NaN) and backward-filter with accumulate off (dw, db
 * start as NaN) and on (start random, must end as start + gradient). */
static void check_backward(nst_ctx *ctx, const conv_case *c, const sched *sc, uint64_t seed) {
    char name[160];
    describe(c, name, sizeof name);
    nst_test_layer d = make_data(c, seed);
    const size_t nx = x_count(c), nw = w_count(c), nb = (size_t)c->cout;
    double *rdx = nst_test_alloc_f64(nx), *rdw = nst_test_alloc_f64(nw);
    double *rdb = nst_test_alloc_f64(nb);
    ref_backward(c, d.xd, d.wd, d.dyd, rdx, rdw, rdb);

    nst_test_layer_grads g = nst_test_layer_nan_grads(&d);
    float *dx = g.dx.data, *dw = g.dw.data, *db = g.db.data;
    nst_conv2d_params p = base_params(c, &d);
    p.relu = false;
    p.dx = &g.dx.t, p.dw = &g.dw.t, p.db = &g.db.t;
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, sc), NST_OK, "%s: %s",
                 name, nst_last_error(ctx));
    cr_expect(close_to_ref("conv2d_backward_data dx", dx, rdx, nx), "dx %s", name);
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, sc), NST_OK, "%s: %s",
                 name, nst_last_error(ctx));
    cr_expect(close_to_ref("conv2d_backward_filter dw", dw, rdw, nw), "dw %s", name);
    cr_expect(close_to_ref("conv2d_backward_filter db", db, rdb, nb), "db %s", name);

    /* accumulate: start from random values s, expect s + gradient */
    nst_test_layer_accumulate_start(seed + 1000, dw, rdw, nw, db, rdb, nb);
    p.accumulate = true;
    cr_assert_eq(run_op(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, sc), NST_OK, "%s: %s",
                 name, nst_last_error(ctx));
    cr_expect(close_to_ref("accumulated dw", dw, rdw, nw), "dw accumulate %s", name);
    cr_expect(close_to_ref("accumulated db", db, rdb, nb), "db accumulate %s", name);
    free(rdx), free(rdw), free(rdb);
    nst_test_layer_grads_free(&g);
    nst_test_layer_free(&d);
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
 * (2 x 128 x 128 outputs: 8 tiles of 4096 pixels, the column buffer of one under a core's L2) on
 * 2 threads and on 1; and
 * thousands of 7-pixel tiles on 2 workers, so tiles of one col2im phase really run side by side
 * (a phase count that let footprints overlap races here; such a race shows up as a mismatch in
 * some runs, not in every run: col2im_phases_keep_concurrent_tiles_apart checks the phases
 * deterministically). */
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

/* The direct forward kernels (src/cpu/conv2d_direct.c for Cout <= 4, src/cpu/conv2d_wide.c for
 * Cout a multiple of 32) on rows wide enough for their pixel blocks (8 or 4 pixels, and single
 * ones at the borders; 12, 6, 3 and 1, or 3 and 1), in every variant this CPU runs (AVX-512, AVX2; then none:
 * im2col), on 3 threads, against the naive loops, forward and backward (backward-data of a
 * stride-1 conv runs on them when Cin is a multiple of 32 or at most 4); and, where they apply,
 * the forward's bits the same for 1 and 3 threads. The other tests run whichever variant the CPU picks; here each
 * one in turn. */
Test(cpu_conv2d, direct_kernels_match_naive) {
    const conv_case direct[] = {
        {2, 6, 40, 5, 32, 3, 3, 1, 1, true, true},    /* wide: 3 blocks of 12, a pair, borders */
        {1, 5, 53, 3, 64, 9, 9, 1, 4, true, false},   /* the 9x9 first layer's shape */
        {2, 7, 45, 16, 32, 3, 3, 2, 1, false, true},  /* stride 2 */
        {1, 3, 30, 64, 32, 3, 3, 1, 0, true, false},  /* no padding: every column inside */
        {1, 9, 40, 32, 3, 9, 9, 1, 0, true, false},   /* few channels: the 9x9 output layer */
        {1, 6, 37, 32, 3, 9, 9, 1, 4, false, true},
        {2, 4, 30, 7, 2, 3, 3, 2, 1, true, true},     /* 63 floats a patch: im2col, not direct */
        {1, 4, 31, 12, 4, 3, 3, 2, 1, true, false},
        {1, 4, 29, 9, 1, 3, 3, 1, 1, false, false},
    };
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 3);
    static const char *names[] = {"im2col", "AVX2", "AVX-512"};
    for (int v = 2; v >= 0; v--) {
        nst__cpu_simd_force(v);
        if (nst__cpu_simd() != v) {
            cr_log_info("direct kernels: this CPU has no %s; that variant is not tested here",
                        names[v]);
            continue;
        }
        for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++) {
            check_forward(ctx, &direct[i], NULL, 700 + 10 * (uint64_t)i + (uint64_t)v);
            /* backward-data of the stride-1 ones is a direct forward of dy (flipped weights) */
            check_backward(ctx, &direct[i], NULL, 900 + 10 * (uint64_t)i + (uint64_t)v);
            /* the direct kernels: the same bits on 1 thread as on 3 (im2col's tiles and so
             * OpenBLAS's blocking follow the thread count: there only per thread count) */
            const conv_case *c = &direct[i];
            if (v == 0 || !(c->cout % 32 == 0 || nst__conv_direct_applies(c->cout, c->kh, c->kw,
                                                                            c->cin)))
                continue;
            char name[160];
            describe(&direct[i], name, sizeof name);
            nst_test_layer d = make_data(&direct[i], 800 + i);
            nst_test_tensor y1 = nst_test_tensor_nan(d.tdy.ndim, d.tdy.shape);
            nst_test_tensor y3 = nst_test_tensor_nan(d.tdy.ndim, d.tdy.shape);
            nst_conv2d_params p = base_params(&direct[i], &d);
            p.y = &y3.t;
            cr_assert_eq(nst_conv2d_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
            nst_ctx_set_threads(ctx, 1);
            p.y = &y1.t;
            cr_assert_eq(nst_conv2d_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
            nst_ctx_set_threads(ctx, 3);
            cr_expect(memcmp(y1.data, y3.data, y_count(&direct[i]) * sizeof(float)) == 0,
                      "%s %s: 1 and 3 threads differ", names[v], name);
            nst_test_tensor_free(&y1);
            nst_test_tensor_free(&y3);
            nst_test_layer_free(&d);
        }
    }
    nst__cpu_simd_force(-1);
    nst_ctx_destroy(ctx);
}

/* Marks in `touched` (one byte per input pixel, N*H*W) every input pixel that output pixels
 * q0 .. q0+t-1 read through the kernel: what col2im of that tile writes, from the definition of
 * the convolution alone. */
static void pixels_of_tile(const conv_case *c, int64_t q0, int64_t t, unsigned char *touched) {
    const int ho = case_ho(c), wo = case_wo(c);
    memset(touched, 0, (size_t)c->n * c->h * c->w);
    for (int64_t q = q0; q < q0 + t; q++) {
        const int64_t n = q / ((int64_t)ho * wo), oy = q / wo % ho, ox = q % wo;
        for (int ky = 0; ky < c->kh; ky++)
            for (int kx = 0; kx < c->kw; kx++) {
                const int64_t iy = oy * c->stride - c->pad + ky, ix = ox * c->stride - c->pad + kx;
                if (iy >= 0 && iy < c->h && ix >= 0 && ix < c->w)
                    touched[(n * c->h + iy) * c->w + ix] = 1;
            }
    }
}

/* Output pixels in tile it (the last one may be short). */
static int64_t tile_pixels(const conv_case *c, const nst__conv_tiling *tl, int64_t it) {
    const int64_t p = (int64_t)c->n * case_ho(c) * case_wo(c);
    return p - it * tl->tile < tl->tile ? p - it * tl->tile : tl->tile;
}

/* The race the phases prevent, checked deterministically: backward-data runs tiles it and jt at
 * the same time only when it % phases == jt % phases, so such tiles must not share one input
 * pixel. (larger_image_matches_naive can only catch a wrong phase count when the race bites.) */
Test(cpu_conv2d, col2im_phases_keep_concurrent_tiles_apart) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 2);
    const conv_case shapes[] = {
        {2, 7, 11, 3, 5, 3, 3, 1, 1, false, false},
        {2, 7, 11, 3, 5, 3, 3, 2, 1, false, false},
        {2, 7, 11, 1, 3, 9, 9, 1, 4, false, false},
        {1, 16, 5, 2, 2, 5, 3, 2, 2, false, false},
        {2, 40, 40, 8, 8, 3, 3, 1, 1, false, false},
    };
    int concurrent_pairs = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const conv_case *c = &shapes[i];
        const int64_t xd[4] = {c->n, c->h, c->w, c->cin};
        const int64_t wd[4] = {c->cout, c->kh, c->kw, c->cin};
        nst_tensor dx = nst_tensor_make(NST_F32, NST_BACKEND_CPU, (void *)1, 4, xd);
        nst_tensor w = nst_tensor_make(NST_F32, NST_BACKEND_CPU, (void *)1, 4, wd);
        nst_conv2d_params p = {.w = &w, .dx = &dx, .stride = c->stride, .pad = c->pad};
        unsigned char *a = malloc((size_t)c->n * c->h * c->w);
        unsigned char *b = malloc((size_t)c->n * c->h * c->w);
        cr_assert(a && b);
        const size_t patch = (size_t)c->kh * c->kw * c->cin * sizeof(float);
        for (int64_t pixels = 1; pixels <= 37; pixels += 4) {
            nst__conv_tiling tl;
            cr_assert_eq(nst__cpu_conv2d_phases(ctx, &p, (size_t)pixels * patch, 2, &tl), NST_OK,
                         "%s", nst_last_error(ctx));
            cr_assert_geq(tl.phases, 1);
            for (int64_t it = 0; it < tl.ntiles; it++) {
                pixels_of_tile(c, it * tl.tile, tile_pixels(c, &tl, it), a);
                for (int64_t jt = it + tl.phases; jt < tl.ntiles; jt += tl.phases) {
                    pixels_of_tile(c, jt * tl.tile, tile_pixels(c, &tl, jt), b);
                    for (int64_t k = 0; k < (int64_t)c->n * c->h * c->w; k++)
                        cr_assert(!(a[k] && b[k]),
                                  "case %zu, tiles of %lld pixels, %lld phases: tiles %lld and "
                                  "%lld run together but both touch input pixel %lld",
                                  i, (long long)tl.tile, (long long)tl.phases, (long long)it,
                                  (long long)jt, (long long)k);
                    concurrent_pairs++;
                }
            }
        }
        free(a);
        free(b);
    }
    cr_assert_gt(concurrent_pairs, 100, "the shapes must give tiles that run side by side");
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
    return nst_test_dot(s->dy, s->y, y_count(s->c));
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
        nst_test_layer d = make_data(c, 600 + i);
        nst_test_layer_grads g = nst_test_layer_nan_grads(&d);
        nst_conv2d_params p = base_params(c, &d);
        p.dx = &g.dx.t, p.dw = &g.dw.t, p.db = &g.db.t;
        cr_assert_eq(nst_conv2d_backward_data(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(nst_conv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));

        /* the op's fp32 gradients against the double-precision central differences (exact up
         * to rounding here, L being linear in each argument) */
        fd_state s = {c, d.xd, d.wd, d.bd, d.dyd, nst_test_alloc_f64(y_count(c))};
        /* Element by element against the differences: fp32 sgemm sums of up to 81 products (dx,
         * dw) and a double column sum (db); measured worst 2.6e-7 of max|grad|. */
        nst_test_layer_expect_fd(&d, &g, fd_loss, &s, 1e-3, 1e-6, 1e-6, name);
        free(s.y);
        nst_test_layer_grads_free(&g);
        nst_test_layer_free(&d);
    }
    nst_ctx_destroy(ctx);
}

/* ---- NULL outputs and argument checks ------------------------------------------------------ */

Test(cpu_conv2d, null_outputs_are_skipped) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const conv_case *c = &cases[3];
    nst_test_layer d = make_data(c, 700);
    double rdb[5];
    cr_assert_eq(c->cout, 5);
    ref_backward(c, d.xd, d.wd, d.dyd, NULL, NULL, rdb);
    float db[5];
    nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, db, 1, (const int64_t[]){5});
    nst_conv2d_params p = base_params(c, &d);
    p.db = &tdb; /* dw NULL: bias gradient only */
    cr_assert_eq(nst_conv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(close_to_ref("db alone", db, rdb, 5));
    p.db = NULL; /* nothing requested: no work, no complaint even without x */
    p.x = NULL;
    cr_expect_eq(nst_conv2d_backward_filter(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(nst_conv2d_backward_data(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    nst_test_layer_free(&d);
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
    nst_test_layer d = make_data(c, 800);
    static float buf[4096];
    nst_tensor y = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 7, 11, 5);
    nst_tensor y_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 7, 10, 5);
    nst_tensor w_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 5, 3, 3, 4);
    nst_tensor b_bad = nst_tensor_make(NST_F32, NST_BACKEND_CPU, buf, 1, (const int64_t[]){4});
    nst_tensor dx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 7, 11, 3);
    nst_tensor dw_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 5, 3, 1, 3);
    nst_tensor x_big = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, d.x, 2, 2, 2, 3);

    nst_conv2d_params p = base_params(c, &d);
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

    p = base_params(c, &d);
    p.dx = &dx, p.dy = &y_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, NST_ERR_SHAPE, "tensor dy", "(2, 7, 10, 5)");
    p.dy = &d.tdy, p.w = &w_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, NST_ERR_SHAPE, "tensor w", NULL);
    p.w = &d.tw, p.dx = &x_big; /* backward-data takes its geometry from dx (x is not read) */
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_DATA, &p, NST_ERR_SHAPE, "tensor dy", NULL);

    p = base_params(c, &d);
    p.dw = &dw_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, NST_ERR_SHAPE, "tensor dw",
                 "(5, 3, 1, 3)");
    p.dw = NULL, p.db = &b_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, NST_ERR_SHAPE, "tensor db", "(4)");
    p.db = &d.tb, p.dy = &y_bad;
    expect_error(ctx, NST_OP_CONV2D_BACKWARD_FILTER, &p, NST_ERR_SHAPE, "tensor dy", NULL);
    nst_test_layer_free(&d);
    nst_ctx_destroy(ctx);
}

/* ---- PyTorch goldens ------------------------------------------------------------------------- */

/* A golden tensor as floats (inputs; exact, the generator draws float32 values) and doubles. */
static const nst_st_tensor *golden(const nst_st_file *f, const char *prefix, const char *name,
                                   float **as_f32, double **as_f64) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    return nst_test_golden(f, key, as_f32, as_f64);
}

/* A tensor of the golden's shape over data. */
static nst_tensor golden_tensor(const nst_st_tensor *t, float *data) {
    return nst_test_f32(data, t->ndim, t->shape);
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

    float *y = nst_test_nan_f32((size_t)gy->numel), *dx = nst_test_nan_f32((size_t)gx->numel);
    float *dw = nst_test_nan_f32((size_t)gw->numel), *db = nst_test_nan_f32((size_t)gb->numel);
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
    nst_st_file *f = nst_test_open_golden(ctx, "conv_linear.safetensors");
    check_golden_case(ctx, f, "conv_s1");
    check_golden_case(ctx, f, "conv_s2");
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}
