/* CPU bilinear grid sampling (src/cpu/grid_sample.c, math in src/math/grid_math.h), PyTorch
 * F.grid_sample(mode="bilinear") semantics in all six padding x align_corners modes:
 *   - forward, dx and dgrid against PyTorch float64 goldens (tests/golden/gen_grid.py ->
 *     grid.safetensors): a 2x5x7x11 (N, C, H, W) input sampled at 6x9 points that reach beyond
 *     the image and include points on -1, 0, 1, pixel centres and reflection folds; the same
 *     input sampled through an affine grid (rotation + scale + shift); a one-pixel-high image;
 *     every output overwritten (outputs start as NaN), dx/dgrid alone equal to both together;
 *   - dx and dgrid against central finite differences of a double forward written here from
 *     the PyTorch formulas (independent of grid_math.h), at points kept 1e-3 pixel away from
 *     every kink;
 *   - identity theta reproduces the input; results independent of the thread count;
 *   - wrong shapes report NST_ERR_SHAPE naming the argument; a bad padding is invalid. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "grid.safetensors"

static const char *const pad_names[3] = {"zeros", "border", "reflection"};

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

/* One sampling problem: tensors over caller-owned buffers. */
typedef struct {
    int N, H, W, C, Ho, Wo;
    float *x, *grid, *y, *dy, *dx, *dgrid;
    nst_tensor tx, tgrid, ty, tdy, tdx, tdgrid;
} problem;

static void problem_init(problem *pb, int N, int H, int W, int C, int Ho, int Wo) {
    memset(pb, 0, sizeof *pb);
    pb->N = N, pb->H = H, pb->W = W, pb->C = C, pb->Ho = Ho, pb->Wo = Wo;
    const size_t nx = (size_t)N * H * W * C, ng = (size_t)N * Ho * Wo * 2,
                 ny = (size_t)N * Ho * Wo * C;
    pb->x = nst_test_alloc_f32(nx), pb->dx = nst_test_alloc_f32(nx);
    pb->grid = nst_test_alloc_f32(ng), pb->dgrid = nst_test_alloc_f32(ng);
    pb->y = nst_test_alloc_f32(ny), pb->dy = nst_test_alloc_f32(ny);
    pb->tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, pb->x, N, H, W, C);
    pb->tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, pb->dx, N, H, W, C);
    pb->tgrid = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, pb->grid, N, Ho, Wo, 2);
    pb->tdgrid = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, pb->dgrid, N, Ho, Wo, 2);
    pb->ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, pb->y, N, Ho, Wo, C);
    pb->tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, pb->dy, N, Ho, Wo, C);
}

static void problem_free(problem *pb) {
    free(pb->x), free(pb->dx), free(pb->grid), free(pb->dgrid), free(pb->y), free(pb->dy);
}

static size_t nx_of(const problem *pb) { return (size_t)pb->N * pb->H * pb->W * pb->C; }
static size_t ng_of(const problem *pb) { return (size_t)pb->N * pb->Ho * pb->Wo * 2; }
static size_t ny_of(const problem *pb) { return (size_t)pb->N * pb->Ho * pb->Wo * pb->C; }

static nst_grid_sample_params params_of(problem *pb, int padding, bool ac) {
    nst_grid_sample_params p = {.x = &pb->tx, .grid = &pb->tgrid, .y = &pb->ty, .dy = &pb->tdy,
                                .dx = &pb->tdx, .dgrid = &pb->tdgrid,
                                .padding = (nst_grid_padding)padding, .align_corners = ac};
    return p;
}

/* x and dy uniform in [-1, 1), then the grid in [-g, g), all drawn from r. */
static void problem_random(problem *pb, nst_test_rng *r, float g) {
    nst_test_fill_uniform(r, pb->x, nx_of(pb), -1, 1);
    nst_test_fill_uniform(r, pb->dy, ny_of(pb), -1, 1);
    nst_test_fill_uniform(r, pb->grid, ng_of(pb), -g, g);
}

/* Runs forward and backward; outputs start as NaN so every element must be written. */
static void run_both(nst_ctx *ctx, problem *pb, int padding, bool ac) {
    nst_grid_sample_params p = params_of(pb, padding, ac);
    fill(pb->y, ny_of(pb), NAN), fill(pb->dx, nx_of(pb), NAN), fill(pb->dgrid, ng_of(pb), NAN);
    cr_assert_eq(nst_grid_sample_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_grid_sample_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
}

/* ---- naive double reference (PyTorch formulas, independent of grid_math.h) --------------- */

static double ref_unnormalize(double c, int size, bool ac) {
    return ac ? (c + 1) / 2 * (size - 1) : ((c + 1) * size - 1) / 2;
}

/* Padding applied to an unnormalised coordinate: border clamps to [0, size - 1]; reflection
 * folds the line with period 2*span around [lo, lo + span] (lo = 0 or -0.5), then clamps. */
static double ref_pad(double u, int size, int padding, bool ac) {
    if (padding == NST_PAD_ZEROS)
        return u;
    if (padding == NST_PAD_REFLECTION) {
        double lo = ac ? 0.0 : -0.5, span = ac ? size - 1.0 : (double)size;
        if (span <= 0)
            return 0.0;
        double t = fmod(u - lo, 2 * span);
        if (t < 0)
            t += 2 * span;
        u = lo + (t > span ? 2 * span - t : t);
    }
    return fmin(fmax(u, 0.0), size - 1.0);
}

static double ref_pixel(const double *x, int H, int W, int C, int n, int yy, int xx, int c) {
    if (yy < 0 || yy >= H || xx < 0 || xx >= W)
        return 0.0;
    return x[(((size_t)n * H + yy) * W + xx) * C + c];
}

/* sum over all outputs of w * grid_sample(x, grid) */
static double ref_weighted(const problem *pb, const double *x, const double *grid,
                           const double *w, int padding, bool ac) {
    double total = 0;
    for (int n = 0; n < pb->N; n++)
        for (int i = 0; i < pb->Ho * pb->Wo; i++) {
            const double *g = grid + ((size_t)n * pb->Ho * pb->Wo + i) * 2;
            double u = ref_pad(ref_unnormalize(g[0], pb->W, ac), pb->W, padding, ac);
            double v = ref_pad(ref_unnormalize(g[1], pb->H, ac), pb->H, padding, ac);
            int x0 = (int)floor(u), y0 = (int)floor(v);
            double fx = u - x0, fy = v - y0;
            for (int c = 0; c < pb->C; c++) {
                double val = (1 - fx) * (1 - fy) * ref_pixel(x, pb->H, pb->W, pb->C, n, y0, x0, c) +
                             fx * (1 - fy) * ref_pixel(x, pb->H, pb->W, pb->C, n, y0, x0 + 1, c) +
                             (1 - fx) * fy * ref_pixel(x, pb->H, pb->W, pb->C, n, y0 + 1, x0, c) +
                             fx * fy * ref_pixel(x, pb->H, pb->W, pb->C, n, y0 + 1, x0 + 1, c);
                total += w[((size_t)n * pb->Ho * pb->Wo + i) * pb->C + c] * val;
            }
        }
    return total;
}

typedef struct {
    const problem *pb;
    const double *x, *grid, *w;
    int padding;
    bool ac;
} fd_user;

static double f_of_x(const double *x, void *user) {
    const fd_user *u = user;
    return ref_weighted(u->pb, x, u->grid, u->w, u->padding, u->ac);
}

static double f_of_grid(const double *grid, void *user) {
    const fd_user *u = user;
    return ref_weighted(u->pb, u->x, grid, u->w, u->padding, u->ac);
}

/* ---- goldens ---------------------------------------------------------------------------- */

/* Loads a golden tensor of exactly n elements into out. */
static void load_f32(const nst_st_file *f, const char *name, float *out, size_t n) {
    double *d = nst_test_golden_f64(f, name, n);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)d[i]; /* exact: the generator rounds inputs to float32 */
    free(d);
}

static void check_golden_set(nst_ctx *ctx, const nst_st_file *f, const char *prefix, int N,
                             int H, int W, int C, int Ho, int Wo, const char *tag,
                             const char *const grid_names[2]) {
    problem pb;
    problem_init(&pb, N, H, W, C, Ho, Wo);
    char name[96];
    snprintf(name, sizeof name, "%sx", prefix);
    load_f32(f, name, pb.x, nx_of(&pb));
    snprintf(name, sizeof name, "%sdy", prefix);
    load_f32(f, name, pb.dy, ny_of(&pb));
    for (int ac = 0; ac <= 1; ac++) {
        load_f32(f, grid_names[ac], pb.grid, ng_of(&pb));
        for (int pad = 0; pad < 3; pad++) {
            run_both(ctx, &pb, pad, ac);
            const char *kinds[3] = {"y", "dx", "dgrid"};
            const float *outs[3] = {pb.y, pb.dx, pb.dgrid};
            const size_t counts[3] = {ny_of(&pb), nx_of(&pb), ng_of(&pb)};
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "%s%s_%s_%s_ac%d", prefix, kinds[k], tag,
                         pad_names[pad], ac);
                /* fp32 op against the float64 golden: |a - b| <= 1e-5 + 1e-4*|ref|. Inputs
                 * are in [-1, 1]; y mixes 4 corners, dx adds a handful of weighted dy, dgrid
                 * sums 4*C corner products scaled by at most size/2 = 5.5, so float rounding
                 * stays near 1e-6 absolute. */
                nst_test_expect_golden(f, name, outs[k], counts[k], 1e-5, 1e-4);
            }
        }
    }
    problem_free(&pb);
}

Test(cpu_grid_sample, pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    /* random grid in [-1.6, 1.6] with special points; all six modes */
    check_golden_set(ctx, f, "gs_", 2, 7, 11, 5, 6, 9, "rand",
                     (const char *const[2]){"gs_grid_rand", "gs_grid_rand"});
    /* grids made by affine_grid, one per align_corners */
    check_golden_set(ctx, f, "gs_", 2, 7, 11, 5, 6, 9, "affine",
                     (const char *const[2]){"gs_grid_affine_ac0", "gs_grid_affine_ac1"});
    /* a 1x4 image: size-1 unnormalisation and reflection */
    check_golden_set(ctx, f, "s1_", 1, 1, 4, 2, 3, 5, "rand",
                     (const char *const[2]){"s1_grid", "s1_grid"});
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* dx alone and dgrid alone (each output NULL in turn) equal the combined backward bitwise. */
Test(cpu_grid_sample, single_outputs_match_combined) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(11);
    problem pb;
    problem_init(&pb, 3, 7, 11, 4, 6, 9);
    problem_random(&pb, &r, 1.5f);
    float *dx = nst_test_alloc_f32(nx_of(&pb)), *dgrid = nst_test_alloc_f32(ng_of(&pb));
    for (int pad = 0; pad < 3; pad++) {
        run_both(ctx, &pb, pad, pad != 1);
        memcpy(dx, pb.dx, nx_of(&pb) * sizeof *dx);
        memcpy(dgrid, pb.dgrid, ng_of(&pb) * sizeof *dgrid);
        nst_grid_sample_params p = params_of(&pb, pad, pad != 1);
        p.dx = NULL;
        fill(pb.dgrid, ng_of(&pb), NAN);
        cr_assert_eq(nst_grid_sample_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert(memcmp(dgrid, pb.dgrid, ng_of(&pb) * sizeof *dgrid) == 0, "dgrid alone differs");
        p = params_of(&pb, pad, pad != 1);
        p.dgrid = NULL;
        fill(pb.dx, nx_of(&pb), NAN);
        cr_assert_eq(nst_grid_sample_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert(memcmp(dx, pb.dx, nx_of(&pb) * sizeof *dx) == 0, "dx alone differs");
    }
    free(dx), free(dgrid);
    problem_free(&pb);
    nst_ctx_destroy(ctx);
}

/* ---- finite differences ------------------------------------------------------------------ */

/* Affine grid in double from a theta near the identity (rotation, scale, shift). */
static void ref_affine_grid(const problem *pb, const double *theta, bool ac, double *grid) {
    for (int n = 0; n < pb->N; n++)
        for (int i = 0; i < pb->Ho; i++)
            for (int j = 0; j < pb->Wo; j++) {
                double bx = pb->Wo > 1 ? -1.0 + 2.0 * j / (pb->Wo - 1) : 0.0;
                double by = pb->Ho > 1 ? -1.0 + 2.0 * i / (pb->Ho - 1) : 0.0;
                if (!ac)
                    bx *= (pb->Wo - 1.0) / pb->Wo, by *= (pb->Ho - 1.0) / pb->Ho;
                const double *t = theta + n * 6;
                double *g = grid + (((size_t)n * pb->Ho + i) * pb->Wo + j) * 2;
                g[0] = t[0] * bx + t[1] * by + t[2];
                g[1] = t[3] * bx + t[4] * by + t[5];
            }
}

/* Every kink of bilinear sampling with any padding (corner changes at integers, clip borders
 * at 0 and size - 1, reflection folds at multiples of 0.5) sits on a multiple of 0.5 of the
 * unnormalised coordinate: true when both coordinates of every point keep 1e-3 away. */
static bool clear_of_kinks(const problem *pb, const float *grid, bool ac) {
    for (size_t i = 0; i < ng_of(pb); i++) {
        int size = i % 2 == 0 ? pb->W : pb->H;
        double u2 = 2 * ref_unnormalize(grid[i], size, ac);
        if (fabs(u2 - nearbyint(u2)) < 2e-3)
            return false;
    }
    return true;
}

static void check_fd(int padding, bool ac) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(100 + (uint64_t)(2 * padding + ac));
    problem pb;
    problem_init(&pb, 2, 7, 11, 3, 6, 9);
    const size_t nx = nx_of(&pb), ng = ng_of(&pb), ny = ny_of(&pb);
    double theta[12], *grid_d = nst_test_alloc_f64(ng), *x_d = nst_test_alloc_f64(nx);
    double *w = nst_test_alloc_f64(ny);
    /* Redraw the perturbation until no point lies within 1e-3 pixel of a kink; the scale up to
     * 1.45 sends the outer points past the image so the padding modes matter. */
    int tries = 0;
    do {
        cr_assert_lt(tries++, 200, "no theta found whose points avoid every kink");
        for (int n = 0; n < 2; n++) {
            double a = nst_test_rng_uniform(&r, -0.4, 0.4), s = nst_test_rng_uniform(&r, 1.1, 1.45);
            double *t = theta + 6 * n;
            t[0] = s * cos(a), t[1] = -s * sin(a), t[2] = nst_test_rng_uniform(&r, -0.2, 0.2);
            t[3] = s * sin(a), t[4] = s * cos(a), t[5] = nst_test_rng_uniform(&r, -0.2, 0.2);
        }
        ref_affine_grid(&pb, theta, ac, grid_d);
        for (size_t i = 0; i < ng; i++)
            pb.grid[i] = (float)grid_d[i];
    } while (!clear_of_kinks(&pb, pb.grid, ac));
    nst_test_fill_uniform(&r, pb.x, nx, -1, 1);
    nst_test_fill_uniform(&r, pb.dy, ny, -1, 1);
    nst_test_widen(pb.grid, grid_d, ng), nst_test_widen(pb.x, x_d, nx);
    nst_test_widen(pb.dy, w, ny);
    run_both(ctx, &pb, padding, ac);

    /* The double forward is linear in x and, between kinks, linear in each grid coordinate, so
     * central differences are exact up to rounding; a step of 1e-5 in grid units moves a point
     * at most 5.5e-5 pixel, far from any kink. */
    fd_user u = {&pb, x_d, grid_d, w, padding, ac};
    double *fd_x = nst_test_alloc_f64(nx), *fd_g = nst_test_alloc_f64(ng);
    nst_test_fd_grad(f_of_x, &u, x_d, nx, 1e-3, NULL, 0, fd_x);
    nst_test_fd_grad(f_of_grid, &u, grid_d, ng, 1e-5, NULL, 0, fd_g);
    char what[64];
    snprintf(what, sizeof what, "%s ac%d dx", pad_names[padding], ac);
    /* Element by element, dx and dgrid alike: fp32 bilinear weights from fp32 unnormalised
     * coordinates (an error of a few ulps of the image size, 1e-6 relative); measured worst 1e-6
     * of max|grad|. */
    nst_test_expect_grad(what, pb.dx, fd_x, nx, 3e-6, 1e-5);
    snprintf(what, sizeof what, "%s ac%d dgrid", pad_names[padding], ac);
    nst_test_expect_grad(what, pb.dgrid, fd_g, ng, 3e-6, 1e-5);
    /* the forward itself against the double reference: each y is within ~1e-6 and |w| <= 1,
     * so sum(w * y) is within ny * 1e-6; allow 1e-5 per output */
    double sum = 0, ref = ref_weighted(&pb, x_d, grid_d, w, padding, ac);
    for (size_t i = 0; i < ny; i++)
        sum += w[i] * pb.y[i];
    cr_assert_leq(fabs(sum - ref), 1e-5 * (double)ny, "%s ac%d: forward %.9g vs %.9g",
                  pad_names[padding], ac, sum, ref);
    free(grid_d), free(x_d), free(w);
    free(fd_x), free(fd_g);
    problem_free(&pb);
    nst_ctx_destroy(ctx);
}

Test(cpu_grid_sample, fd_zeros) { check_fd(NST_PAD_ZEROS, false), check_fd(NST_PAD_ZEROS, true); }
Test(cpu_grid_sample, fd_border) {
    check_fd(NST_PAD_BORDER, false), check_fd(NST_PAD_BORDER, true);
}
Test(cpu_grid_sample, fd_reflection) {
    check_fd(NST_PAD_REFLECTION, false), check_fd(NST_PAD_REFLECTION, true);
}

/* ---- identity, threads ------------------------------------------------------------------- */

/* The identity theta samples every pixel at its own centre, in both align_corners modes: with
 * align_corners false the grid is (2i + 1)/W - 1, which unnormalises to i as well, so zero
 * padding never enters (a corner outside the image gets a weight of float-rounding size at most)
 * and all three paddings reproduce the input. Tolerance: float rounding of the base coordinate
 * and of the unnormalisation moves a sample by up to half a float step of the pixel index
 * (measured on 9x11: 1.2e-7 pixel with align_corners, 4.8e-7 without), times a neighbour
 * difference of up to 2*max|x|, plus one rounding of the weighted sum: 1e-6*max|x| with
 * align_corners, 2e-6*max|x| without. */
Test(cpu_grid_sample, identity_reproduces_input) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(7);
    problem pb;
    problem_init(&pb, 2, 9, 11, 3, 9, 11);
    nst_test_fill_uniform(&r, pb.x, nx_of(&pb), -2, 2);
    float theta[12] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0}, xmax = 0;
    for (size_t i = 0; i < nx_of(&pb); i++)
        xmax = fmaxf(xmax, fabsf(pb.x[i]));
    nst_tensor tt = nst_tensor_make(NST_F32, NST_BACKEND_CPU, theta, 3, (int64_t[]){2, 2, 3});
    for (int ac = 0; ac <= 1; ac++) {
        nst_affine_grid_params ap = {.theta = &tt, .grid = &pb.tgrid, .align_corners = ac};
        cr_assert_eq(nst_affine_grid_forward(ctx, &ap), NST_OK, "%s", nst_last_error(ctx));
        for (int pad = 0; pad < 3; pad++) {
            nst_grid_sample_params p = params_of(&pb, pad, ac);
            fill(pb.y, ny_of(&pb), NAN);
            cr_assert_eq(nst_grid_sample_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
            char what[64];
            snprintf(what, sizeof what, "identity %s ac%d", pad_names[pad], ac);
            const double atol = (ac ? 1e-6 : 2e-6) * xmax;
            cr_assert(nst_test_allclose_f(what, pb.y, pb.x, nx_of(&pb), atol, 0.0),
                      "%s does not reproduce the input", what);
        }
    }
    problem_free(&pb);
    nst_ctx_destroy(ctx);
}

/* 1 thread and 2 threads give identical bits, on a size above the threading threshold
 * (forward over rows, dgrid-only over rows, dx over images). */
Test(cpu_grid_sample, thread_count_does_not_change_results) {
    nst_test_rng r = nst_test_rng_seed(21);
    problem pb;
    problem_init(&pb, 3, 40, 50, 3, 64, 70);
    problem_random(&pb, &r, 1.3f);
    float *y1 = nst_test_alloc_f32(ny_of(&pb)), *dx1 = nst_test_alloc_f32(nx_of(&pb));
    float *dg1 = nst_test_alloc_f32(ng_of(&pb));
    for (int threads = 1; threads <= 2; threads++) {
        nst_ctx *ctx = nst_test_cpu_ctx();
        nst_ctx_set_threads(ctx, threads);
        run_both(ctx, &pb, NST_PAD_REFLECTION, false);
        if (threads == 1) {
            memcpy(y1, pb.y, ny_of(&pb) * sizeof *y1);
            memcpy(dx1, pb.dx, nx_of(&pb) * sizeof *dx1);
            memcpy(dg1, pb.dgrid, ng_of(&pb) * sizeof *dg1);
        } else {
            cr_assert(memcmp(y1, pb.y, ny_of(&pb) * sizeof *y1) == 0, "y depends on threads");
            cr_assert(memcmp(dx1, pb.dx, nx_of(&pb) * sizeof *dx1) == 0, "dx depends on threads");
            cr_assert(memcmp(dg1, pb.dgrid, ng_of(&pb) * sizeof *dg1) == 0,
                      "dgrid depends on threads");
        }
        nst_ctx_destroy(ctx);
    }
    free(y1), free(dx1), free(dg1);
    problem_free(&pb);
}

/* ---- argument checks -------------------------------------------------------------------- */

static void expect_error(nst_ctx *ctx, nst_status s, nst_status want, const char *needle) {
    nst_test_expect_status(ctx, s, want, "grid_sample", needle);
}

Test(cpu_grid_sample, wrong_shapes_name_the_argument) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    problem pb;
    problem_init(&pb, 2, 5, 6, 3, 4, 4);
    fill(pb.x, nx_of(&pb), 0), fill(pb.grid, ng_of(&pb), 0), fill(pb.dy, ny_of(&pb), 0);
    float *big = nst_test_alloc_f32(2 * 5 * 6 * 4);
    nst_tensor x3 = nst_tensor_make(NST_F32, NST_BACKEND_CPU, big, 3, (int64_t[]){2, 5, 6});
    nst_tensor grid_n1 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, big, 1, 4, 4, 2);
    nst_tensor grid_c3 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, big, 2, 4, 4, 3);
    nst_tensor y_c4 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, big, 2, 4, 4, 4);
    nst_tensor y_wo = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, big, 2, 4, 5, 3);
    nst_tensor dx_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, big, 2, 5, 6, 4);
    nst_tensor dgrid_bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, big, 2, 4, 3, 2);
    nst_tensor x_empty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, big, 2, 0, 6, 3);

    nst_grid_sample_params p = params_of(&pb, NST_PAD_ZEROS, false);
    p.x = &x3;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_SHAPE, "tensor x ");
    p = params_of(&pb, NST_PAD_ZEROS, false), p.grid = &grid_n1;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_SHAPE, "tensor grid ");
    p.grid = &grid_c3;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_SHAPE, "tensor grid ");
    p = params_of(&pb, NST_PAD_ZEROS, false), p.y = &y_c4;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_SHAPE, "tensor y ");
    p.y = &y_wo;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_SHAPE, "tensor y ");
    p = params_of(&pb, NST_PAD_ZEROS, false), p.x = &x_empty, p.y = &pb.ty;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_SHAPE, "empty spatial size");

    p = params_of(&pb, NST_PAD_BORDER, true), p.dy = &y_c4;
    expect_error(ctx, nst_grid_sample_backward(ctx, &p), NST_ERR_SHAPE, "tensor dy ");
    p = params_of(&pb, NST_PAD_BORDER, true), p.dx = &dx_bad;
    expect_error(ctx, nst_grid_sample_backward(ctx, &p), NST_ERR_SHAPE, "tensor dx ");
    p = params_of(&pb, NST_PAD_BORDER, true), p.dgrid = &dgrid_bad;
    expect_error(ctx, nst_grid_sample_backward(ctx, &p), NST_ERR_SHAPE, "tensor dgrid ");

    p = params_of(&pb, NST_PAD_ZEROS, false), p.padding = (nst_grid_padding)3;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_INVALID_ARG, "padding 3");
    p.grid = NULL, p.padding = NST_PAD_ZEROS;
    expect_error(ctx, nst_grid_sample_forward(ctx, &p), NST_ERR_INVALID_ARG, "tensor grid ");
    /* nothing requested: both gradients NULL is a no-op */
    p = params_of(&pb, NST_PAD_ZEROS, false), p.dx = NULL, p.dgrid = NULL;
    cr_assert_eq(nst_grid_sample_backward(ctx, &p), NST_OK);
    free(big);
    problem_free(&pb);
    nst_ctx_destroy(ctx);
}
