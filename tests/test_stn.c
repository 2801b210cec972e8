/* The spatial transformer module (include/nstyle/stn.h) against PyTorch and as a component:
 *   - output, theta, dx, dtheta (theta given) and every weight gradient against float64 PyTorch
 *     goldens (tests/golden/gen_stn.py): N=2, C=3 at 37x29 with zeros padding, C=1 at 31x40
 *     with border padding, theta given with reflection padding; every element within
 *     1e-5 + 1e-4*|ref|. The weights come in by name in PyTorch's layout, so a wrong flatten
 *     order of fc_loc.0.weight fails every loc-path value;
 *   - a batch of two computes what two single runs do (to rounding);
 *   - a fresh module: PyTorch's default bounds, fc_loc.2 the identity, same seed same weights,
 *     and the identity theta returns the image;
 *   - the plan's total equals the arena's measured peak; planning is kept across equal calls;
 *   - save -> load round trip (the file holds PyTorch's layout) and bad files refused by name.
 * Finite differences and training: tests/test_stn_grad.c. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/stn.h"
#include "test_support.h"
#include "test_tensors.h"

#define ATOL 1e-5
#define RTOL 1e-4

static size_t numel_of(const nst_stn *s, int i, const char **name) {
    int ndim;
    int64_t d[4];
    cr_assert_eq(nst_stn_tensor_info(s, i, name, &ndim, d), NST_OK);
    size_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= (size_t)d[k];
    return n;
}

/* got against the golden `name`, logging the largest error and its ratio to the bound. */
static void expect_golden(const nst_st_file *g, const char *name, const float *got, size_t n) {
    double *ref = nst_test_golden_f64(g, name, n);
    double worst_abs = 0, worst_ratio = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - ref[i]);
        worst_abs = fmax(worst_abs, e);
        worst_ratio = fmax(worst_ratio, e / (ATOL + RTOL * fabs(ref[i])));
    }
    cr_log_info("%-36s max |err| %.2e, max err/bound %.3f (max |ref| %.3g)", name, worst_abs,
                worst_ratio, nst_test_max_abs(ref, n));
    cr_expect(nst_test_allclose(name, got, ref, n, ATOL, RTOL), "%s differs from PyTorch", name);
    free(ref);
}

/* A module with the golden's weights of case `prefix` (set by name, PyTorch layout). */
static nst_stn *golden_module(nst_ctx *ctx, const nst_st_file *g, const char *prefix, int C) {
    nst_stn *s = NULL;
    cr_assert_eq(nst_stn_create(ctx, C, 1, &s), NST_OK, "%s", nst_last_error(ctx));
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const char *name;
        const size_t n = numel_of(s, i, &name);
        char key[96];
        snprintf(key, sizeof key, "%s%s", prefix, name);
        float *w = nst_test_golden_f32(g, key, n);
        cr_assert_eq(nst_stn_set(s, name, w), NST_OK, "%s", nst_last_error(ctx));
        free(w);
    }
    return s;
}

static void golden_case(const char *prefix, int N, int C, int H, int W, nst_grid_padding pad) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 2);
    nst_st_file *g = nst_test_open_golden(ctx, "stn.safetensors");
    nst_stn *s = golden_module(ctx, g, prefix, C);
    nst_stn_set_padding(s, pad);
    const size_t n = (size_t)N * H * W * C;
    char key[96];
    snprintf(key, sizeof key, "%sx", prefix);
    float *x = nst_test_golden_f32(g, key, n);
    snprintf(key, sizeof key, "%sdy", prefix);
    float *dy = nst_test_golden_f32(g, key, n);
    float *y = nst_test_nan_f32(n), *dx = nst_test_nan_f32(n), *theta = nst_test_nan_f32(6 * N);
    nst_stn_io io = {.x = x, .dy = dy, .y = y, .theta_out = theta, .dx = dx};
    cr_assert_eq(nst_stn_run(s, N, H, W, &io), NST_OK, "%s", nst_last_error(ctx));
    snprintf(key, sizeof key, "%sy", prefix);
    expect_golden(g, key, y, n);
    snprintf(key, sizeof key, "%stheta", prefix);
    expect_golden(g, key, theta, 6 * (size_t)N);
    snprintf(key, sizeof key, "%sdx", prefix);
    expect_golden(g, key, dx, n);
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const char *name;
        const size_t m = numel_of(s, i, &name);
        float *grad = nst_test_nan_f32(m);
        cr_assert_eq(nst_stn_get(s, name, NST_STN_GRAD, grad), NST_OK, "%s", nst_last_error(ctx));
        snprintf(key, sizeof key, "%sgrad.%s", prefix, name);
        expect_golden(g, key, grad, m);
        free(grad);
    }
    free(x), free(dy), free(y), free(dx), free(theta);
    nst_stn_destroy(s);
    nst_st_close(g);
    nst_ctx_destroy(ctx);
}

Test(stn, three_channels_zeros_padding_matches_pytorch) {
    golden_case("c3.", 2, 3, 37, 29, NST_PAD_ZEROS);
}

Test(stn, one_channel_border_padding_matches_pytorch) {
    golden_case("c1.", 2, 1, 31, 40, NST_PAD_BORDER);
}

Test(stn, given_theta_reflection_padding_matches_pytorch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *g = nst_test_open_golden(ctx, "stn.safetensors");
    const int N = 2, C = 3, H = 37, W = 29;
    const size_t n = (size_t)N * H * W * C;
    nst_stn *s = NULL;
    cr_assert_eq(nst_stn_create(ctx, C, 5, &s), NST_OK, "%s", nst_last_error(ctx));
    nst_stn_set_padding(s, NST_PAD_REFLECTION);
    float *x = nst_test_golden_f32(g, "given.x", n), *dy = nst_test_golden_f32(g, "given.dy", n);
    float *theta = nst_test_golden_f32(g, "given.theta", 6 * N);
    float *y = nst_test_nan_f32(n), *dx = nst_test_nan_f32(n), *dth = nst_test_nan_f32(6 * N);
    float *th_out = nst_test_nan_f32(6 * N);
    float *before = nst_test_nan_f32(360 * 32), *after = nst_test_nan_f32(360 * 32);
    cr_assert_eq(nst_stn_get(s, "fc_loc.0.weight", NST_STN_GRAD, before), NST_OK);
    nst_stn_io io = {.x = x, .theta = theta, .dy = dy, .y = y, .theta_out = th_out, .dx = dx,
                     .dtheta = dth};
    cr_assert_eq(nst_stn_run(s, N, H, W, &io), NST_OK, "%s", nst_last_error(ctx));
    expect_golden(g, "given.y", y, n);
    expect_golden(g, "given.dx", dx, n);
    expect_golden(g, "given.dtheta", dth, 6 * (size_t)N);
    cr_expect(memcmp(th_out, theta, 6 * N * sizeof *theta) == 0, "the given theta is the one used");
    cr_assert_eq(nst_stn_get(s, "fc_loc.0.weight", NST_STN_GRAD, after), NST_OK);
    cr_expect(memcmp(before, after, 360 * 32 * sizeof *after) == 0,
              "a given theta leaves the weight gradients alone");
    /* forward only: the same y */
    float *y2 = nst_test_nan_f32(n);
    cr_assert_eq(nst_stn_run(s, N, H, W, &(nst_stn_io){.x = x, .theta = theta, .y = y2}), NST_OK);
    cr_expect(memcmp(y, y2, n * sizeof *y) == 0);
    free(x), free(dy), free(theta), free(y), free(dx), free(dth), free(th_out), free(before);
    free(after), free(y2);
    nst_stn_destroy(s);
    nst_st_close(g);
    nst_ctx_destroy(ctx);
}

/* Runs one call of n images from x and dy; y, dx and all gradients (concatenated) out. */
static void run_all(nst_stn *s, int n, int H, int W, const float *x, const float *dy, float *y,
                    float *dx, float *grads) {
    nst_stn_io io = {.x = x, .dy = dy, .y = y, .dx = dx};
    cr_assert_eq(nst_stn_run(s, n, H, W, &io), NST_OK);
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const char *name;
        const size_t m = numel_of(s, i, &name);
        cr_assert_eq(nst_stn_get(s, name, NST_STN_GRAD, grads), NST_OK);
        grads += m;
    }
}

Test(stn, a_batch_of_two_is_two_single_runs) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *g = nst_test_open_golden(ctx, "stn.safetensors");
    nst_stn *s = golden_module(ctx, g, "c3.", 3);
    const int H = 37, W = 29;
    const size_t one = (size_t)H * W * 3;
    float *x = nst_test_golden_f32(g, "c3.x", 2 * one), *dy = nst_test_golden_f32(g, "c3.dy", 2 * one);
    size_t ng = 0;
    for (int i = 0; i < NST_STN_N_TENSORS; i++)
        ng += numel_of(s, i, NULL);
    float *y = nst_test_nan_f32(2 * one), *dx = nst_test_nan_f32(2 * one);
    float *y1 = nst_test_nan_f32(2 * one), *dx1 = nst_test_nan_f32(2 * one);
    float *gb = nst_test_nan_f32(ng), *ga = nst_test_nan_f32(ng), *gc = nst_test_nan_f32(ng);
    run_all(s, 2, H, W, x, dy, y, dx, gb);
    run_all(s, 1, H, W, x, dy, y1, dx1, ga);
    run_all(s, 1, H, W, x + one, dy + one, y1 + one, dx1 + one, gc);
    /* equal up to rounding: the convolutions' matrix products block a batch differently */
    cr_expect(nst_test_allclose_f("batch y", y, y1, 2 * one, ATOL, RTOL));
    cr_expect(nst_test_allclose_f("batch dx", dx, dx1, 2 * one, ATOL, RTOL));
    double *sum = nst_test_alloc_f64(ng);
    for (size_t i = 0; i < ng; i++)
        sum[i] = (double)ga[i] + gc[i];
    cr_expect(nst_test_allclose("batch gradients", gb, sum, ng, ATOL, RTOL),
              "a batch's weight gradients are the sums of the single runs'");
    free(x), free(dy), free(y), free(dx), free(y1), free(dx1), free(gb), free(ga), free(gc);
    free(sum);
    nst_stn_destroy(s);
    nst_st_close(g);
    nst_ctx_destroy(ctx);
}

Test(stn, a_new_module_is_initialised_as_pytorch_does) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stn *a = NULL, *b = NULL, *c = NULL;
    cr_assert_eq(nst_stn_create(ctx, 4, 11, &a), NST_OK);
    cr_assert_eq(nst_stn_create(ctx, 4, 11, &b), NST_OK);
    cr_assert_eq(nst_stn_create(ctx, 4, 12, &c), NST_OK);
    cr_assert_eq(nst_stn_channels(a), 4);
    const char *expect_names[NST_STN_N_TENSORS] = {
        "localization.0.weight", "localization.0.bias", "localization.3.weight",
        "localization.3.bias", "localization.6.weight", "localization.6.bias",
        "fc_loc.0.weight", "fc_loc.0.bias", "fc_loc.2.weight", "fc_loc.2.bias"};
    const double fan_in[NST_STN_N_TENSORS] = {196, 196, 200, 200, 90, 90, 360, 360, 32, 32};
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const char *name;
        const size_t m = numel_of(a, i, &name);
        cr_expect_str_eq(name, expect_names[i]);
        float *wa = nst_test_nan_f32(m), *wb = nst_test_nan_f32(m), *wc = nst_test_nan_f32(m);
        cr_assert_eq(nst_stn_get(a, name, NST_STN_WEIGHT, wa), NST_OK);
        cr_assert_eq(nst_stn_get(b, name, NST_STN_WEIGHT, wb), NST_OK);
        cr_assert_eq(nst_stn_get(c, name, NST_STN_WEIGHT, wc), NST_OK);
        cr_expect(memcmp(wa, wb, m * sizeof *wa) == 0, "%s: same seed, same values", name);
        if (i >= 8) {
            for (size_t k = 0; k < m; k++)
                cr_expect_eq(wa[k], i == 8 ? 0.0f : (k == 0 || k == 4) ? 1.0f : 0.0f,
                             "%s[%zu] is the identity's", name, k);
            free(wa), free(wb), free(wc);
            continue;
        }
        const double bound = 1.0 / sqrt(fan_in[i]);
        double lo = 1, hi = -1;
        for (size_t k = 0; k < m; k++)
            lo = fmin(lo, wa[k]), hi = fmax(hi, wa[k]);
        cr_expect(lo >= -bound && hi <= bound, "%s in [%g, %g], bound %g", name, lo, hi, bound);
        if (m >= 100) /* a uniform draw of that many reaches near both ends */
            cr_expect(lo < -0.9 * bound && hi > 0.9 * bound, "%s spans [%g, %g]", name, lo, hi);
        cr_expect(memcmp(wa, wc, m * sizeof *wa) != 0, "%s: another seed, other values", name);
        free(wa), free(wb), free(wc);
    }
    /* the identity theta samples every pixel at its centre: y = x */
    const int H = 9, W = 13;
    nst_test_rng r = nst_test_rng_seed(3);
    float *x = nst_test_random_f32(&r, (size_t)H * W * 4, 0, 1), *y = nst_test_nan_f32(H * W * 4);
    float th[6];
    cr_assert_eq(nst_stn_run(a, 1, H, W, &(nst_stn_io){.x = x, .y = y, .theta_out = th}), NST_OK);
    const float ident[6] = {1, 0, 0, 0, 1, 0};
    cr_expect(memcmp(th, ident, sizeof th) == 0, "a new module's theta is the identity");
    cr_expect(nst_test_allclose_f("identity transform", y, x, (size_t)H * W * 4, 1e-6, 1e-6));
    free(x), free(y);
    nst_stn_destroy(a), nst_stn_destroy(b), nst_stn_destroy(c);
    nst_ctx_destroy(ctx);
}

Test(stn, the_plan_total_is_the_arenas_measured_peak) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx(); /* nothing else allocated */
    nst_stn *s = NULL;
    cr_assert_eq(nst_stn_create(ctx, 3, 2, &s), NST_OK, "%s", nst_last_error(ctx));
    nst_tracker_snapshot t0, t1, t2;
    nst_tracker_snapshot_get(ctx, &t0);
    cr_assert_eq(t0.current_total, nst_stn_owned_bytes(s), "the module owns weights, "
                 "gradients and Adam moments");
    const int N = 2, H = 23, W = 31;
    const size_t n = (size_t)N * H * W * 3;
    nst_test_rng r = nst_test_rng_seed(8);
    float *x = nst_test_random_f32(&r, n, 0, 1), *tg = nst_test_random_f32(&r, n, 0, 1);
    float *y = nst_test_nan_f32(n), *dx = nst_test_nan_f32(n), loss = NAN;
    nst_stn_io io = {.x = x, .target = tg, .y = y, .dx = dx, .loss = &loss};
    nst_plan_summary ps;
    cr_assert_eq(nst_stn_plan(s, N, H, W, &io, &ps), NST_OK, "%s", nst_last_error(ctx));
    nst_tracker_snapshot_get(ctx, &t1);
    cr_assert_eq(t1.peak_total, t0.peak_total, "planning allocates nothing");
    cr_assert_eq(nst_stn_run(s, N, H, W, &io), NST_OK, "%s", nst_last_error(ctx));
    nst_tracker_snapshot_get(ctx, &t2);
    const nst_plan_summary run = nst_plan_get_summary(nst_stn_current_plan(s));
    cr_expect_eq(run.total_bytes, ps.total_bytes, "nst_stn_plan plans what nst_stn_run runs");
    cr_expect_eq(t2.peak_total - t0.current_total, run.total_bytes,
                 "measured peak %zu above the module's own bytes, plan total %zu",
                 t2.peak_total - t0.current_total, run.total_bytes);
    cr_expect_lt(run.lower_bound, run.sum_bytes, "buffers share space");
    cr_log_info("stn 2x3x23x31 with MSE and backward: %d buffers, plan %zu bytes (lower bound "
                "%zu, %zu separately), module %zu bytes", run.n_buffers, run.total_bytes,
                run.lower_bound, run.sum_bytes, nst_stn_owned_bytes(s));
    cr_expect(isfinite(loss) && loss > 0);
    /* the same call again keeps its plan and arena; another mode plans again */
    const nst_plan *kept = nst_stn_current_plan(s);
    cr_assert_eq(nst_stn_run(s, N, H, W, &io), NST_OK);
    cr_expect_eq(nst_stn_current_plan(s), kept);
    cr_assert_eq(nst_stn_run(s, N, H, W, &(nst_stn_io){.x = x, .y = y}), NST_OK);
    cr_expect_lt(nst_plan_get_summary(nst_stn_current_plan(s)).total_bytes, run.total_bytes,
                 "forward alone needs less");
    /* a budget below the plan is refused before a byte is allocated */
    nst_stn_set_memory_limit(s, 4096);
    nst_test_expect_status(ctx, nst_stn_run(s, N, H + 1, W, &io), NST_ERR_BUDGET, "", "");
    free(x), free(tg), free(y), free(dx);
    nst_stn_destroy(s);
    nst_tracker_snapshot_get(ctx, &t1);
    cr_expect_eq(t1.current_total, 0, "everything freed");
    nst_ctx_destroy(ctx);
}

Test(stn, weights_save_and_load_in_pytorch_layout) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *g = nst_test_open_golden(ctx, "stn.safetensors");
    nst_stn *s = golden_module(ctx, g, "c3.", 3), *t = NULL, *u = NULL;
    char dir[512], path[600];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/stn.safetensors", dir);
    cr_assert_eq(nst_stn_save_weights(s, path), NST_OK, "%s", nst_last_error(ctx));
    /* the file holds exactly what PyTorch's state_dict holds */
    nst_st_file *f = nst_test_st_open(ctx, path);
    cr_expect_eq(nst_st_count(f), NST_STN_N_TENSORS);
    cr_expect_str_eq(nst_st_metadata(f, "format"), "nstyle-stn");
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const char *name;
        const size_t m = numel_of(s, i, &name);
        char key[96];
        snprintf(key, sizeof key, "c3.%s", name);
        const nst_st_tensor *a = nst_test_golden(f, name, NULL, NULL), *b = nst_test_golden(g, key, NULL, NULL);
        cr_expect_eq(a->dtype, NST_ST_F32);
        cr_expect_eq(a->ndim, b->ndim);
        cr_expect(memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0);
        cr_expect(a->bytes == m * 4 && memcmp(a->data, b->data, a->bytes) == 0,
                  "%s on disk = PyTorch's tensor", name);
    }
    nst_st_close(f);
    /* open makes a module of the file's channel count; load_weights replaces another's */
    cr_assert_eq(nst_stn_open(ctx, path, &t), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(nst_stn_channels(t), 3);
    cr_assert_eq(nst_stn_create(ctx, 3, 99, &u), NST_OK);
    cr_assert_eq(nst_stn_load_weights(u, path), NST_OK, "%s", nst_last_error(ctx));
    const size_t n = 2 * 37 * 29 * 3;
    float *x = nst_test_golden_f32(g, "c3.x", n);
    float *ya = nst_test_nan_f32(n), *yb = nst_test_nan_f32(n), *yc = nst_test_nan_f32(n);
    cr_assert_eq(nst_stn_run(s, 2, 37, 29, &(nst_stn_io){.x = x, .y = ya}), NST_OK);
    cr_assert_eq(nst_stn_run(t, 2, 37, 29, &(nst_stn_io){.x = x, .y = yb}), NST_OK);
    cr_assert_eq(nst_stn_run(u, 2, 37, 29, &(nst_stn_io){.x = x, .y = yc}), NST_OK);
    cr_expect(memcmp(ya, yb, n * 4) == 0 && memcmp(ya, yc, n * 4) == 0, "same weights, same y");
    free(x), free(ya), free(yb), free(yc);
    nst_stn_destroy(s), nst_stn_destroy(t), nst_stn_destroy(u);
    nst_st_close(g);
    nst_ctx_destroy(ctx);
}

/* Writes the ten tensors of a 2-channel module with `skip` left out, `reshape` given another
 * shape, `u8` stored as U8, and an extra tensor when `extra`. */
static void write_variant(nst_ctx *ctx, nst_stn *s, const char *path, const char *skip,
                          const char *reshape, const char *u8, bool extra) {
    nst_st_writer *w = nst_st_writer_create();
    static float buf[360 * 32];
    static uint8_t bytes[360 * 32];
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const char *name;
        int ndim;
        int64_t d[4];
        cr_assert_eq(nst_stn_tensor_info(s, i, &name, &ndim, d), NST_OK);
        if (skip && strcmp(name, skip) == 0)
            continue;
        cr_assert_eq(nst_stn_get(s, name, NST_STN_WEIGHT, buf), NST_OK);
        if (reshape && strcmp(name, reshape) == 0)
            d[2] = d[3] = 3; /* fewer elements than stored: fine for the writer */
        const bool as_u8 = u8 && strcmp(name, u8) == 0;
        cr_assert_eq(nst_st_writer_add(ctx, w, name, as_u8 ? NST_ST_U8 : NST_ST_F32, ndim, d,
                                       as_u8 ? (const void *)bytes : buf), NST_OK);
    }
    if (extra)
        cr_assert_eq(nst_st_writer_add(ctx, w, "fc_loc.4.weight", NST_ST_F32, 1,
                                       (const int64_t[]){3}, buf), NST_OK);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
}

Test(stn, bad_weight_files_are_refused_by_name) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stn *s = NULL, *other = NULL;
    cr_assert_eq(nst_stn_create(ctx, 2, 4, &s), NST_OK);
    cr_assert_eq(nst_stn_create(ctx, 2, 5, &other), NST_OK);
    char dir[512], path[600];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    float before[32], after[32]; // fc_loc.0.bias (32)
    cr_assert_eq(nst_stn_get(other, "fc_loc.0.bias", NST_STN_WEIGHT, before), NST_OK);

    write_variant(ctx, s, path, "fc_loc.0.bias", NULL, NULL, false);
    nst_test_expect_status(ctx, nst_stn_load_weights(other, path), NST_ERR_FORMAT, "missing: fc_loc.0.bias", "bad.safetensors");
    write_variant(ctx, s, path, NULL, "localization.3.weight", NULL, false);
    nst_test_expect_status(ctx, nst_stn_load_weights(other, path), NST_ERR_SHAPE,
                           "localization.3.weight is [10, 8, 3, 3], expected [10, 8, 5, 5]", "");
    write_variant(ctx, s, path, NULL, NULL, NULL, true);
    nst_test_expect_status(ctx, nst_stn_load_weights(other, path), NST_ERR_FORMAT,
                           "unexpected: fc_loc.4.weight", "");
    write_variant(ctx, s, path, NULL, NULL, "fc_loc.2.bias", false);
    nst_test_expect_status(ctx, nst_stn_load_weights(other, path), NST_ERR_FORMAT,
                           "fc_loc.2.bias is U8", "");
    cr_assert_eq(nst_stn_get(other, "fc_loc.0.bias", NST_STN_WEIGHT, after), NST_OK);
    cr_expect(memcmp(before, after, sizeof after) == 0, "a refused file changes nothing");

    /* a 2-channel file into a 1-channel module; a file without the first convolution */
    nst_stn *one = NULL, *opened = NULL;
    cr_assert_eq(nst_stn_create(ctx, 1, 4, &one), NST_OK);
    write_variant(ctx, s, path, NULL, NULL, NULL, false);
    nst_test_expect_status(ctx, nst_stn_load_weights(one, path), NST_ERR_SHAPE,
                           "localization.0.weight is [8, 2, 7, 7], expected [8, 1, 7, 7]", "");
    write_variant(ctx, s, path, "localization.0.weight", NULL, NULL, false);
    nst_test_expect_status(ctx, nst_stn_open(ctx, path, &opened), NST_ERR_FORMAT,
                           "localization.0.weight of shape (8, C, 7, 7)", "");
    cr_expect_null(opened);
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    cr_expect_neq(nst_stn_open(ctx, path, &opened), NST_OK);
    /* names and arguments */
    nst_test_expect_status(ctx, nst_stn_set(s, "fc_loc.1.weight", before), NST_ERR_INVALID_ARG,
                           "no weight named 'fc_loc.1.weight'", "");
    nst_test_expect_status(ctx, nst_stn_create(ctx, 0, 1, &opened), NST_ERR_INVALID_ARG,
                           "0 channels", "");
    float x[2 * 5 * 5] = {0}, y[2 * 5 * 5];
    nst_test_expect_status(ctx, nst_stn_run(s, 1, 5, 5, &(nst_stn_io){.x = x, .dx = y}),
                           NST_ERR_INVALID_ARG, "without dy or a target", "");
    nst_stn_destroy(s), nst_stn_destroy(other), nst_stn_destroy(one);
    nst_ctx_destroy(ctx);
}

/* Inside a caller's pass: the channel count is checked against the module's. */
Test(stn, forward_refuses_another_channel_count) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_stn *s = NULL;
    cr_assert_eq(nst_stn_create(ctx, 3, 1, &s), NST_OK);
    nst_plan *plan = nst_plan_create();
    nst_mem_pass *pass = NULL;
    cr_assert_eq(nst_mem_pass_record(ctx, plan, &pass), NST_OK);
    nst_tensor x, y;
    const int64_t d[4] = {1, 8, 8, 4};
    cr_assert_eq(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4, d, 0, "x", &x), NST_OK);
    cr_assert_eq(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4, d, 0, "y", &y), NST_OK);
    nst_stn_tape tape;
    nst_test_expect_status(ctx, nst_stn_forward(s, pass, &x, NULL, &y, &tape), NST_ERR_SHAPE,
                           "(1, 8, 8, 4)", "(N, H, W, 3)");
    nst_mem_pass_abort(pass);
    nst_plan_destroy(plan);
    nst_stn_destroy(s);
    nst_ctx_destroy(ctx);
}

/* A plan made for CUDA without a GPU counts each linear call's cuBLAS workspace at the largest
 * any card takes (32 MiB, sm_90), as it counts cuDNN's at --workspace-limit: the localisation
 * network's fully connected layers run through cuBLAS. */
Test(stn, a_plan_for_cuda_counts_the_cublas_workspace) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_stn *s = NULL;
    cr_assert_eq(nst_stn_create(ctx, 3, 2, &s), NST_OK, "%s", nst_last_error(ctx));
    const int N = 2, H = 23, W = 31;
    const size_t n = (size_t)N * H * W * 3;
    float *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y);
    nst_stn_io io = {.x = x, .y = y};
    nst_plan_summary cpu, cuda;
    cr_assert_eq(nst_stn_plan(s, N, H, W, &io, &cpu), NST_OK, "%s", nst_last_error(ctx));
    nst_ctx_set_workspace_limit(ctx, (size_t)1 << 20); /* cuDNN's bound below cuBLAS's */
    nst_ctx_plan_for_cuda(ctx, true);
    cr_assert_eq(nst_stn_plan(s, N, H, W, &io, &cuda), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_geq(cuda.total_bytes, cpu.total_bytes + ((size_t)31 << 20),
                  "cuda plan %zu, cpu plan %zu: the 32 MiB cuBLAS workspace is missing",
                  cuda.total_bytes, cpu.total_bytes);
    free(x), free(y);
    nst_stn_destroy(s);
    nst_ctx_destroy(ctx);
}
