/* The spatial transformer's gradients against central finite differences in double precision,
 * and its training (include/nstyle/stn.h, src/host/networks/stn.c):
 *   - a double-precision reference of the whole module written here from PyTorch's definitions
 *     (bilinear grid_sample with its three paddings, affine_grid, valid convolution over OIHW
 *     weights, 2x2 max pool, ReLU, flatten in PyTorch's (c, h, w) order, linear), reduced to
 *     sum(w * y) for a fixed random w; its differences at a theta away from the identity are
 *     compared element by element with the fp32 module's dx, dtheta and weight gradients (dy = w).
 *     Finite differences step over kinks only if a sample position lies within the step's reach
 *     of an integer or a reflection fold, or a ReLU input or a max-pool winner's lead lies near 0:
 *     the test asserts margins far beyond that reach at the point it differentiates;
 *   - training: the module learns with Adam on MSE to undo a 20 degree rotation of a synthetic
 *     32x32 pattern (300 steps), and in a batch of two rotations of opposite sign (400 steps, so
 *     the localisation network must read the angle from its input); each theta it arrives at
 *     must be the inverse rotation within 0.01 per entry. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/stn.h"
#include "test_support.h"
#include "test_tensors.h"

/* ---- the reference, in double --------------------------------------------------------------- */

typedef struct {
    int N, H, W, C;
    nst_grid_padding pad;
    double *x;           /* (N, H, W, C) */
    double *theta;       /* (N, 2, 3) given, or NULL */
    double *w[NST_STN_N_TENSORS]; /* PyTorch layout */
    double *wy;          /* (N, H, W, C) */
    double margin_pos, margin_act; /* smallest distances from kinks seen by the last forward */
} ref_model;

static double source(double g, int size, nst_grid_padding pad, double *margin) {
    double i = ((g + 1) * size - 1) / 2;
    *margin = fmin(*margin, fabs(i - round(i)));
    if (pad == NST_PAD_REFLECTION) {
        *margin = fmin(*margin, fmin(fabs(i + 0.5), fabs(i - size + 0.5)));
        double t = fabs(i + 0.5), extra = fmod(t, size);
        i = ((long)floor(t / size) % 2 == 0) ? extra - 0.5 : size - extra - 0.5;
    }
    if (pad != NST_PAD_ZEROS)
        i = fmin(fmax(i, 0), size - 1);
    return i;
}

/* Bilinear sample of img (H, W, C) at grid point (gx, gy) into out (C). */
static void sample(const double *img, int H, int W, int C, double gx, double gy,
                   nst_grid_padding pad, double *margin, double *out) {
    const double ix = source(gx, W, pad, margin), iy = source(gy, H, pad, margin);
    const double x0 = floor(ix), y0 = floor(iy);
    for (int c = 0; c < C; c++)
        out[c] = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            const int xi = (int)x0 + dx, yi = (int)y0 + dy;
            if (xi < 0 || yi < 0 || xi >= W || yi >= H)
                continue;
            const double wgt = (dx ? ix - x0 : 1 - (ix - x0)) * (dy ? iy - y0 : 1 - (iy - y0));
            for (int c = 0; c < C; c++)
                out[c] += wgt * img[((size_t)yi * W + xi) * C + c];
        }
}

/* y (Ho, Wo, C) = grid_sample(img, affine_grid(t, Ho, Wo)). */
static void transform(const double *img, int H, int W, int C, const double *t, int Ho, int Wo,
                      nst_grid_padding pad, double *margin, double *y) {
    for (int i = 0; i < Ho; i++)
        for (int j = 0; j < Wo; j++) {
            const double bx = (2.0 * j + 1) / Wo - 1, by = (2.0 * i + 1) / Ho - 1;
            sample(img, H, W, C, t[0] * bx + t[1] * by + t[2], t[3] * bx + t[4] * by + t[5], pad,
                   margin, y + ((size_t)i * Wo + j) * C);
        }
}

/* Valid convolution (S, S, Ci) -> (S-K+1, S-K+1, Co) with OIHW weights (no ReLU: PyTorch's
 * comes after the pooling). */
static int conv(const double *in, int S, int Ci, const double *w, const double *b, int Co, int K,
                double *out) {
    const int So = S - K + 1;
    for (int i = 0; i < So; i++)
        for (int j = 0; j < So; j++)
            for (int o = 0; o < Co; o++) {
                double a = b[o];
                for (int c = 0; c < Ci; c++)
                    for (int p = 0; p < K; p++)
                        for (int q = 0; q < K; q++)
                            a += in[((size_t)(i + p) * S + j + q) * Ci + c] *
                                 w[((size_t)(o * Ci + c) * K + p) * K + q];
                out[((size_t)i * So + j) * Co + o] = a;
            }
    return So;
}

/* relu(maxpool2x2(in)), (S, S, C) -> (S/2, S/2, C). */
static int pool_relu(const double *in, int S, int C, double *margin, double *out) {
    const int So = S / 2;
    for (int i = 0; i < So; i++)
        for (int j = 0; j < So; j++)
            for (int c = 0; c < C; c++) {
                double v[4];
                for (int k = 0; k < 4; k++)
                    v[k] = in[((size_t)(2 * i + k / 2) * S + 2 * j + k % 2) * C + c];
                double top = -INFINITY, second = -INFINITY;
                for (int k = 0; k < 4; k++)
                    if (v[k] > top)
                        second = top, top = v[k];
                    else if (v[k] > second)
                        second = v[k];
                *margin = fmin(*margin, fabs(top));
                if (top > 0)
                    *margin = fmin(*margin, top - second);
                out[((size_t)i * So + j) * C + c] = fmax(top, 0);
            }
    return So;
}

/* theta (6) of image (H, W, C) through the localisation network. */
static void localise(ref_model *m, const double *img, double *theta) {
    double *r = malloc(sizeof(double) * 48 * 48 * (size_t)m->C), a[42 * 42 * 8], b[21 * 21 * 8];
    double c[17 * 17 * 10], d[8 * 8 * 10], e[6 * 6 * 10], f[32], ident[6] = {1, 0, 0, 0, 1, 0};
    double unused = 1;
    transform(img, m->H, m->W, m->C, ident, 48, 48, NST_PAD_BORDER, &unused, r);
    int S = conv(r, 48, m->C, m->w[0], m->w[1], 8, 7, a);
    S = pool_relu(a, S, 8, &m->margin_act, b);
    S = conv(b, S, 8, m->w[2], m->w[3], 10, 5, c);
    S = pool_relu(c, S, 10, &m->margin_act, d);
    conv(d, S, 10, m->w[4], m->w[5], 10, 3, e);
    for (int o = 0; o < 32; o++) { /* flatten in PyTorch's (c, h, w) order */
        double s = m->w[7][o];
        for (int ch = 0; ch < 10; ch++)
            for (int hw = 0; hw < 36; hw++)
                s += m->w[6][o * 360 + ch * 36 + hw] * fmax(e[hw * 10 + ch], 0);
        for (int hw = 0; o == 0 && hw < 360; hw++)
            m->margin_act = fmin(m->margin_act, fabs(e[hw]));
        m->margin_act = fmin(m->margin_act, fabs(s));
        f[o] = fmax(s, 0);
    }
    for (int k = 0; k < 6; k++) {
        theta[k] = m->w[9][k];
        for (int o = 0; o < 32; o++)
            theta[k] += m->w[8][k * 32 + o] * f[o];
    }
    free(r);
}

/* sum(wy * y) of the module (the scalar the finite differences differentiate). */
static double ref_loss(const double *unused, void *user) {
    (void)unused;
    ref_model *m = user;
    const size_t img = (size_t)m->H * m->W * m->C;
    double *y = malloc(img * sizeof *y), sum = 0;
    m->margin_pos = m->margin_act = INFINITY;
    for (int n = 0; n < m->N; n++) {
        double th[6];
        if (m->theta)
            memcpy(th, m->theta + 6 * n, sizeof th);
        else
            localise(m, m->x + n * img, th);
        transform(m->x + n * img, m->H, m->W, m->C, th, m->H, m->W, m->pad, &m->margin_pos, y);
        for (size_t i = 0; i < img; i++)
            sum += m->wy[n * img + i] * y[i];
    }
    free(y);
    return sum;
}

/* ---- finite differences --------------------------------------------------------------------- */

#define FD_STEP 1e-6
#define FD_PICK 24 /* elements checked per weight tensor (all of the smaller ones) */

/* got (n, fp32) against differences of ref_loss over `v` (n, inside m) at k chosen elements. */
static void fd_check(ref_model *m, const char *what, double *v, const float *got, size_t n,
                     size_t k, nst_test_rng *r, double atol_rel, double rtol) {
    size_t *idx = malloc((k < n ? k : n) * sizeof *idx);
    const size_t count = k < n ? k : n;
    for (size_t i = 0; i < count; i++)
        idx[i] = k < n ? (size_t)(nst_test_rng_next(r) % n) : i;
    double *fd = nst_test_alloc_f64(count);
    float *sel = nst_test_alloc_f32(count);
    nst_test_fd_grad(ref_loss, m, v, n, FD_STEP, idx, count, fd);
    for (size_t i = 0; i < count; i++)
        sel[i] = got[idx[i]];
    nst_test_expect_grad(what, sel, fd, count, atol_rel, rtol);
    free(idx), free(fd), free(sel);
}

static size_t tensor_numel(nst_stn *s, int i, const char **name) {
    int ndim;
    int64_t d[4];
    cr_assert_eq(nst_stn_tensor_info(s, i, name, &ndim, d), NST_OK);
    size_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= (size_t)d[k];
    return n;
}

/* Random weights for module s and the reference (the same float values), fc_loc.2 scaled
 * down and its bias a rotation with scale and shift, away from the identity. */
static void random_weights(nst_stn *s, ref_model *m, nst_test_rng *r) {
    const double c = cos(0.35), sn = sin(0.35);
    const float bias[6] = {(float)(0.9 * c), (float)(-1.1 * sn), 0.07f, (float)(0.9 * sn),
                           (float)(1.1 * c), -0.05f};
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const char *name;
        const size_t n = tensor_numel(s, i, &name);
        const int wi = i & ~1;
        const size_t fan_out = wi == 0 ? 8 : wi == 2 ? 10 : wi == 4 ? 10 : wi == 6 ? 32 : 6;
        const float bound = (float)(1.0 / sqrt((double)(tensor_numel(s, wi, NULL) / fan_out)));
        float *v = nst_test_random_f32(r, n, -bound, bound);
        if (i == 8)
            for (size_t k = 0; k < n; k++)
                v[k] *= 0.5f;
        if (i == 9)
            memcpy(v, bias, sizeof bias);
        cr_assert_eq(nst_stn_set(s, name, v), NST_OK);
        m->w[i] = nst_test_to_f64(v, n);
        free(v);
    }
}

static void fd_case(bool given, nst_grid_padding pad) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const int N = 2, H = 11, W = 14, C = 2;
    const size_t n = (size_t)N * H * W * C;
    nst_stn *s = NULL;
    cr_assert_eq(nst_stn_create(ctx, C, 1, &s), NST_OK);
    nst_stn_set_padding(s, pad);
    ref_model m = {.N = N, .H = H, .W = W, .C = C, .pad = pad};
    float *x = NULL, *wy = NULL, theta[12];
    bool ok = false;
    uint64_t seed = 0;
    for (seed = 1; !ok && seed < 100; seed++) { /* a draw far enough from every kink */
        nst_test_rng r = nst_test_rng_seed(seed);
        free(x), free(wy), free(m.x), free(m.wy);
        x = nst_test_random_f32(&r, n, 0, 1);
        wy = nst_test_random_f32(&r, n, -1, 1);
        m.x = nst_test_to_f64(x, n);
        m.wy = nst_test_to_f64(wy, n);
        for (int i = 0; i < 12; i++) /* rotations of 0.4 and -0.5 rad with scale and shift */
            theta[i] = (float)((const double[12]){0.85 * cos(0.4), -1.2 * sin(0.4), 0.1,
                                                  0.85 * sin(0.4), 1.2 * cos(0.4), -0.08,
                                                  1.1 * cos(0.5), 0.8 * sin(0.5), -0.12,
                                                  -1.1 * sin(0.5), 0.8 * cos(0.5), 0.06}[i] +
                               nst_test_rng_uniform(&r, -0.01, 0.01));
        free(m.theta);
        m.theta = given ? nst_test_to_f64(theta, 12) : NULL;
        for (int i = 0; !given && i < NST_STN_N_TENSORS; i++)
            free(m.w[i]);
        if (!given)
            random_weights(s, &m, &r);
        ref_loss(NULL, &m);
        ok = m.margin_pos > 1e-4 && (given || m.margin_act > 1e-5);
    }
    cr_assert(ok, "no draw kept its distance from the kinks");
    cr_log_info("fd %s: seed %llu, position margin %.2e, activation margin %.2e",
                given ? "theta given" : "localisation", (unsigned long long)seed - 1,
                m.margin_pos, m.margin_act);
    float *dx = nst_test_nan_f32(n), *dth = nst_test_nan_f32(12), *th_out = nst_test_nan_f32(12);
    nst_stn_io io = {.x = x, .theta = given ? theta : NULL, .dy = wy, .dx = dx,
                     .dtheta = dth, .theta_out = th_out};
    cr_assert_eq(nst_stn_run(s, N, H, W, &io), NST_OK, "%s", nst_last_error(ctx));
    nst_test_rng r = nst_test_rng_seed(77);
    fd_check(&m, "dx", m.x, dx, n, given ? n : 120, &r, 1e-5, 1e-3);
    if (given)
        fd_check(&m, "dtheta", m.theta, dth, 12, 12, &r, 1e-5, 1e-3);
    for (int i = 0; !given && i < NST_STN_N_TENSORS; i++) {
        const char *name;
        const size_t k = tensor_numel(s, i, &name);
        float *g = nst_test_nan_f32(k);
        cr_assert_eq(nst_stn_get(s, name, NST_STN_GRAD, g), NST_OK);
        fd_check(&m, name, m.w[i], g, k, FD_PICK, &r, 1e-5, 1e-3);
        free(g);
    }
    for (int i = 0; !given && i < NST_STN_N_TENSORS; i++)
        free(m.w[i]);
    free(x), free(wy), free(m.x), free(m.wy), free(m.theta), free(dx), free(dth), free(th_out);
    nst_stn_destroy(s);
    nst_ctx_destroy(ctx);
}

Test(stn_grad, localisation_path_zeros_matches_finite_differences, .timeout = 120) {
    fd_case(false, NST_PAD_ZEROS);
}

Test(stn_grad, localisation_path_reflection_matches_finite_differences, .timeout = 120) {
    fd_case(false, NST_PAD_REFLECTION);
}

Test(stn_grad, given_theta_matches_finite_differences_in_every_padding) {
    fd_case(true, NST_PAD_ZEROS);
    fd_case(true, NST_PAD_BORDER);
    fd_case(true, NST_PAD_REFLECTION);
}

/* ---- training ------------------------------------------------------------------------------- */

/* A smooth asymmetric pattern at normalised (u, v): three Gaussian blobs inside the central
 * disc, per channel weighted differently, so that a rotation of it is well defined. */
static double pattern(double u, double v, int c) {
    static const double blob[3][4] = {{0.35, -0.2, 0.18, 1.0}, {-0.3, -0.3, 0.12, 0.8},
                                      {0.0, 0.4, 0.22, 0.6}};
    double s = 0;
    for (int b = 0; b < 3; b++) {
        const double du = u - blob[b][0], dv = v - blob[b][1];
        s += blob[b][3] * (1.0 + 0.3 * c * (b - 1)) * exp(-(du * du + dv * dv) / (2 * blob[b][2] * blob[b][2]));
    }
    return s;
}

/* img (S, S, 3) at pixel centres: f(R(angle) (u, v)); angle 0 gives the pattern itself. */
static void render(float *img, int S, double angle) {
    const double c = cos(angle), s = sin(angle);
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            const double u = (2.0 * j + 1) / S - 1, v = (2.0 * i + 1) / S - 1;
            for (int ch = 0; ch < 3; ch++)
                img[((size_t)i * S + j) * 3 + ch] = (float)pattern(c * u - s * v, s * u + c * v, ch);
        }
}

/* x(q) = f(M q) with M = R(-a): the pattern rotated by a. y(p) = x(theta p) equals f(p) when
 * theta = M^-1 = R(a): (cos a, -sin a, 0; sin a, cos a, 0), the inverse rotation. Image 0 is
 * rotated by +20 degrees, image 1 (when N = 2) by -20 degrees, so that one theta cannot serve
 * both: the localisation network has to read the rotation from its input. */
static void undo_rotation(int N, int steps, double lr, double tol) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 1);
    const int S = 32;
    const double angle[2] = {20.0 * M_PI / 180.0, -20.0 * M_PI / 180.0};
    const size_t n = (size_t)S * S * 3;
    float *x = nst_test_alloc_f32(N * n), *target = nst_test_alloc_f32(N * n), theta[12];
    float loss = 0, first = 0;
    for (int i = 0; i < N; i++) {
        render(x + i * n, S, -angle[i]);
        render(target + i * n, S, 0.0);
    }
    nst_stn *s = NULL;
    cr_assert_eq(nst_stn_create(ctx, 3, 2024, &s), NST_OK);
    const nst_stn_adam opt = {.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    nst_stn_io io = {.x = x, .target = target, .theta_out = theta, .loss = &loss};
    for (int t = 0; t <= steps; t++) { /* the last run only measures */
        cr_assert_eq(nst_stn_run(s, N, S, S, &io), NST_OK, "%s", nst_last_error(ctx));
        if (t == 0)
            first = loss;
        if (t < steps)
            cr_assert_eq(nst_stn_adam_step(s, &opt), NST_OK, "%s", nst_last_error(ctx));
    }
    for (int i = 0; i < N; i++) {
        const double c = cos(angle[i]), sn = sin(angle[i]), want[6] = {c, -sn, 0, sn, c, 0};
        const float *th = theta + 6 * i;
        double worst = 0;
        for (int k = 0; k < 6; k++)
            worst = fmax(worst, fabs(th[k] - want[k]));
        cr_log_info("N=%d image %d after %d Adam steps (lr %g): loss %.3g -> %.3g; theta (%.4f "
                    "%.4f %.4f; %.4f %.4f %.4f), inverse rotation (%.4f %.4f 0; %.4f %.4f 0), "
                    "max |diff| %.4f", N, i, steps, lr, first, loss, th[0], th[1], th[2], th[3],
                    th[4], th[5], want[0], want[1], want[3], want[4], worst);
        cr_expect_lt(worst, tol, "image %d: theta within %g of the inverse rotation (max |diff| "
                     "%.4f)", i, tol, worst);
    }
    cr_expect_lt(loss, 0.02 * first, "the loss fell from %g to %g", first, loss);
    free(x), free(target);
    nst_stn_destroy(s);
    nst_ctx_destroy(ctx);
}

Test(stn_grad, learns_to_undo_a_20_degree_rotation, .timeout = 120) {
    undo_rotation(1, 300, 2e-3, 0.01);
}

Test(stn_grad, learns_to_undo_rotations_of_opposite_sign_in_one_batch, .timeout = 120) {
    undo_rotation(2, 400, 2e-3, 0.01);
}
