/* CPU affine grid (src/cpu/affine_grid.c, math in src/math/grid_math.h), PyTorch
 * F.affine_grid semantics:
 *   - forward and backward against PyTorch float64 goldens (tests/golden/gen_grid.py ->
 *     grid.safetensors) for align_corners true and false, on a 5x8 grid and a one-row grid
 *     (where the base coordinate of a size-1 axis is 0);
 *   - forward against a naive double computation written here from ATen's
 *     linspace(-1, 1, n) * (n - 1) / n base grid, on a grid large enough to run threaded;
 *   - backward against central finite differences of that double forward;
 *   - wrong shapes report NST_ERR_SHAPE naming the argument; a NULL dtheta is skipped. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "grid.safetensors"

/* ---- naive double reference ------------------------------------------------------------- */

/* ATen's linspace_from_neg_one: linspace(-1, 1, n), times (n - 1) / n without align_corners. */
static double ref_base(int i, int n, bool ac) {
    if (n <= 1)
        return 0.0;
    double v = -1.0 + 2.0 * i / (n - 1);
    return ac ? v : v * (n - 1) / n;
}

/* grid (N, H, W, 2) = base (H*W, 3) @ theta^T for each image. */
static void ref_affine(const double *theta, int N, int H, int W, bool ac, double *grid) {
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) {
                double b[3] = {ref_base(w, W, ac), ref_base(h, H, ac), 1.0};
                for (int j = 0; j < 2; j++) {
                    double s = 0;
                    for (int k = 0; k < 3; k++)
                        s += theta[n * 6 + j * 3 + k] * b[k];
                    grid[((size_t)(n * H + h) * W + w) * 2 + j] = s;
                }
            }
}

typedef struct {
    int N, H, W;
    bool ac;
    const double *weights; /* (N, H, W, 2) */
} fd_user;

static double weighted_affine(const double *theta, void *user) {
    const fd_user *u = user;
    size_t n = (size_t)u->N * u->H * u->W * 2;
    double *g = malloc(n * sizeof *g);
    cr_assert_not_null(g);
    ref_affine(theta, u->N, u->H, u->W, u->ac, g);
    double s = nst_test_dot(u->weights, g, n);
    free(g);
    return s;
}

/* ---- goldens ---------------------------------------------------------------------------- */

/* Loads `name` as doubles into a new buffer; *shape receives its 4 leading dims (1 if fewer). */
static double *load(const nst_st_file *f, const char *name, int64_t shape[4]) {
    double *d;
    const nst_st_tensor *t = nst_test_golden(f, name, NULL, &d);
    for (int i = 0; i < 4; i++)
        shape[i] = i < t->ndim ? t->shape[i] : 1;
    return d;
}

static void check_golden_case(nst_ctx *ctx, const nst_st_file *f, const char *prefix, int ac) {
    char name[64];
    int64_t ts[4], gs[4], ds[4];
    snprintf(name, sizeof name, "%stheta", prefix);
    double *theta64 = load(f, name, ts);
    snprintf(name, sizeof name, "%sgrid_ac%d", prefix, ac);
    double *grid_ref = load(f, name, gs);
    snprintf(name, sizeof name, "%sdgrid", prefix);
    double *dgrid64 = load(f, name, ds);
    snprintf(name, sizeof name, "%sdtheta_ac%d", prefix, ac);
    double *dtheta_ref = load(f, name, ts);
    const size_t n_grid = (size_t)(gs[0] * gs[1] * gs[2] * 2), n_theta = (size_t)ts[0] * 6;

    float *theta = nst_test_to_f32(theta64, n_theta), *dgrid = nst_test_to_f32(dgrid64, n_grid);
    /* NaN: every element must be written */
    float *grid = nst_test_nan_f32(n_grid), *dtheta = nst_test_nan_f32(n_theta);
    nst_tensor tt = nst_tensor_make(NST_F32, NST_BACKEND_CPU, theta, 3, (int64_t[]){ts[0], 2, 3});
    nst_tensor tdt =
        nst_tensor_make(NST_F32, NST_BACKEND_CPU, dtheta, 3, (int64_t[]){ts[0], 2, 3});
    nst_tensor tg = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, grid, gs[0], gs[1], gs[2], 2);
    nst_tensor tdg = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dgrid, gs[0], gs[1], gs[2], 2);
    nst_affine_grid_params p = {.theta = &tt, .grid = &tg, .dgrid = &tdg, .dtheta = &tdt,
                                .align_corners = ac};
    cr_assert_eq(nst_affine_grid_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_affine_grid_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));

    /* fp32 against the float64 golden: |a - b| <= 1e-5 + 1e-4*|ref|. The grid is three float
     * products per element (|theta|, |base| <= 1): error a few 1e-7; dtheta sums at most 40
     * products in double and rounds once. */
    snprintf(name, sizeof name, "%sgrid_ac%d", prefix, ac);
    cr_assert(nst_test_allclose(name, grid, grid_ref, n_grid, 1e-5, 1e-4), "%s differs", name);
    snprintf(name, sizeof name, "%sdtheta_ac%d", prefix, ac);
    cr_assert(nst_test_allclose(name, dtheta, dtheta_ref, n_theta, 1e-5, 1e-4), "%s differs",
              name);
    free(theta64), free(grid_ref), free(dgrid64), free(dtheta_ref);
    free(theta), free(dgrid), free(grid), free(dtheta);
}

Test(cpu_affine_grid, pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    for (int ac = 0; ac <= 1; ac++) {
        check_golden_case(ctx, f, "ag_", ac);  /* (2, 5, 8) */
        check_golden_case(ctx, f, "ag1_", ac); /* (2, 1, 4): one row */
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* ---- against the naive double computation and finite differences -------------------------- */

/* Theta away from the identity: rotation, anisotropic scale, shift, per image. */
static void make_theta(nst_test_rng *r, int N, double *theta) {
    for (int n = 0; n < N; n++) {
        double a = nst_test_rng_uniform(r, -0.5, 0.5), sx = nst_test_rng_uniform(r, 0.7, 1.4),
               sy = nst_test_rng_uniform(r, 0.7, 1.4);
        double *t = theta + n * 6;
        t[0] = sx * cos(a), t[1] = -sy * sin(a), t[2] = nst_test_rng_uniform(r, -0.3, 0.3);
        t[3] = sx * sin(a), t[4] = sy * cos(a), t[5] = nst_test_rng_uniform(r, -0.3, 0.3);
    }
}

static void check_naive(int N, int H, int W, bool ac, uint64_t seed) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(seed);
    const size_t ng = (size_t)N * H * W * 2;
    double theta64[6 * 4], *grid_ref = malloc(ng * sizeof(double)),
                           *weights = malloc(ng * sizeof(double));
    float theta[6 * 4], dtheta[6 * 4], *grid = malloc(ng * sizeof(float)),
                                       *dgrid = malloc(ng * sizeof(float));
    cr_assert(N <= 4 && grid_ref && weights && grid && dgrid);
    make_theta(&r, N, theta64);
    for (int i = 0; i < 6 * N; i++) {
        theta[i] = (float)theta64[i];
        theta64[i] = theta[i]; /* the op sees the float values */
    }
    for (size_t i = 0; i < ng; i++) {
        dgrid[i] = (float)nst_test_rng_uniform(&r, -1, 1);
        weights[i] = dgrid[i];
    }
    nst_tensor tt = nst_tensor_make(NST_F32, NST_BACKEND_CPU, theta, 3, (int64_t[]){N, 2, 3});
    nst_tensor tdt = nst_tensor_make(NST_F32, NST_BACKEND_CPU, dtheta, 3, (int64_t[]){N, 2, 3});
    nst_tensor tg = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, grid, N, H, W, 2);
    nst_tensor tdg = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dgrid, N, H, W, 2);
    nst_affine_grid_params p = {.theta = &tt, .grid = &tg, .dgrid = &tdg, .dtheta = &tdt,
                                .align_corners = ac};
    cr_assert_eq(nst_affine_grid_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_affine_grid_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));

    /* forward: three float products and two sums of values below ~3: within 1e-6 absolute
     * (atol 1e-5 and rtol 1e-4 as for the goldens) */
    ref_affine(theta64, N, H, W, ac, grid_ref);
    cr_assert(nst_test_allclose("affine grid vs naive", grid, grid_ref, ng, 1e-5, 1e-4));

    /* backward: central differences of the double forward (linear in theta, so exact up to
     * rounding) */
    fd_user u = {N, H, W, ac, weights};
    double fd[6 * 4];
    nst_test_fd_grad(weighted_affine, &u, theta64, (size_t)6 * N, 1e-4, NULL, 0, fd);
    /* Element by element against the differences: the op sums in double and rounds once to fp32
     * (6e-8 relative); the worst element measured is 4e-8 of max|dtheta|. */
    nst_test_expect_grad("dtheta vs finite differences", dtheta, fd, (size_t)6 * N, 1e-7, 2e-7);
    free(grid_ref), free(weights), free(grid), free(dgrid);
    nst_ctx_destroy(ctx);
}

Test(cpu_affine_grid, naive_and_finite_differences_small) {
    check_naive(3, 6, 13, true, 1);
    check_naive(3, 6, 13, false, 2);
    check_naive(1, 1, 1, true, 3); /* a single point: base (0, 0) */
}

/* 160 x 120 per image: above the threading threshold of both forward and backward. */
Test(cpu_affine_grid, naive_and_finite_differences_threaded) {
    check_naive(2, 160, 120, true, 4);
    check_naive(2, 160, 120, false, 5);
}

/* ---- argument checks -------------------------------------------------------------------- */

static void expect_shape_error(nst_ctx *ctx, nst_status s, const char *arg) {
    char want[32];
    snprintf(want, sizeof want, "tensor %s ", arg);
    nst_test_expect_status(ctx, s, NST_ERR_SHAPE, "affine_grid", want);
}

Test(cpu_affine_grid, wrong_shapes_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float buf[2 * 4 * 5 * 3] = {0}, out[2 * 4 * 5 * 3] = {0}, th[2 * 3 * 3] = {0};
    nst_tensor theta = nst_tensor_make(NST_F32, NST_BACKEND_CPU, th, 3, (int64_t[]){2, 2, 3});
    nst_tensor theta33 = nst_tensor_make(NST_F32, NST_BACKEND_CPU, th, 3, (int64_t[]){2, 3, 3});
    nst_tensor grid = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, out, 2, 4, 5, 2);
    nst_tensor grid_n1 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, out, 1, 4, 5, 2);
    nst_tensor grid_c3 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, out, 2, 4, 5, 3);
    nst_tensor dgrid_c3 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 4, 5, 3);
    nst_tensor dgrid = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, buf, 2, 4, 5, 2);

    nst_affine_grid_params p = {.theta = &theta33, .grid = &grid};
    expect_shape_error(ctx, nst_affine_grid_forward(ctx, &p), "theta");
    p.theta = &theta, p.grid = &grid_n1;
    expect_shape_error(ctx, nst_affine_grid_forward(ctx, &p), "grid");
    p.grid = &grid_c3;
    expect_shape_error(ctx, nst_affine_grid_forward(ctx, &p), "grid");

    nst_affine_grid_params b = {.dgrid = &dgrid, .dtheta = &theta33};
    expect_shape_error(ctx, nst_affine_grid_backward(ctx, &b), "dtheta");
    b.dtheta = &theta, b.dgrid = &dgrid_c3;
    expect_shape_error(ctx, nst_affine_grid_backward(ctx, &b), "dgrid");

    /* nothing requested: a NULL dtheta is skipped, whatever dgrid is */
    b.dtheta = NULL, b.dgrid = NULL;
    cr_assert_eq(nst_affine_grid_backward(ctx, &b), NST_OK);
    /* a missing input is an invalid argument */
    p.theta = NULL, p.grid = &grid;
    cr_assert_eq(nst_affine_grid_forward(ctx, &p), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}
