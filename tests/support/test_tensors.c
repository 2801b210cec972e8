/* Host buffers, CPU F32 tensors and golden-file access for the op tests (see test_tensors.h). */
#include "test_tensors.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- buffers ------------------------------------------------------------------------------- */

float *nst_test_alloc_f32(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    cr_assert_not_null(p, "out of memory for %zu floats", n);
    return p;
}

double *nst_test_alloc_f64(size_t n) {
    double *p = calloc(n ? n : 1, sizeof *p);
    cr_assert_not_null(p, "out of memory for %zu doubles", n);
    return p;
}

float *nst_test_nan_f32(size_t n) {
    float *p = nst_test_alloc_f32(n);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

float *nst_test_random_f32(nst_test_rng *r, size_t n, float lo, float hi) {
    float *p = nst_test_alloc_f32(n);
    nst_test_fill_uniform(r, p, n, lo, hi);
    return p;
}

double *nst_test_to_f64(const float *x, size_t n) {
    double *d = nst_test_alloc_f64(n);
    nst_test_widen(x, d, n);
    return d;
}

float *nst_test_to_f32(const double *x, size_t n) {
    float *f = nst_test_alloc_f32(n);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)x[i];
    return f;
}

void nst_test_widen(const float *x, double *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = x[i];
}

double nst_test_max_abs(const double *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

double nst_test_dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void nst_test_expect_grad(const char *what, const float *got, const double *fd, size_t n,
                          double atol_rel, double rtol) {
    const double scale = nst_test_max_abs(fd, n);
    double worst_abs = 0.0, worst_rel = 0.0; /* rel: over elements above 1% of the largest */
    for (size_t i = 0; i < n; i++) {
        const double e = fabs(got[i] - fd[i]);
        worst_abs = fmax(worst_abs, e);
        if (fabs(fd[i]) > 0.01 * scale)
            worst_rel = fmax(worst_rel, e / fabs(fd[i]));
    }
    cr_log_info("%s: worst |op - fd| %.3g max|fd|, worst relative %.3g (max|fd| %.3g)", what,
                scale > 0 ? worst_abs / scale : worst_abs, worst_rel, scale);
    cr_expect(nst_test_allclose(what, got, fd, n, atol_rel * scale, rtol),
              "%s: gradient outside %.3g max|fd| + %.3g |fd| of the finite differences", what,
              atol_rel, rtol);
}

/* ---- CPU F32 tensors ----------------------------------------------------------------------- */

nst_tensor nst_test_f32(float *data, int ndim, const int64_t *dims) {
    return nst_tensor_make(NST_F32, NST_BACKEND_CPU, data, ndim, dims);
}

nst_tensor nst_test_f32_1d(float *data, int64_t d0) { return nst_test_f32(data, 1, &d0); }

nst_tensor nst_test_f32_2d(float *data, int64_t d0, int64_t d1) {
    return nst_test_f32(data, 2, (const int64_t[]){d0, d1});
}

nst_test_tensor nst_test_tensor_nan(int ndim, const int64_t *dims) {
    nst_test_tensor t;
    t.n = 1;
    for (int i = 0; i < ndim; i++)
        t.n *= (size_t)dims[i];
    t.data = nst_test_nan_f32(t.n);
    t.t = nst_test_f32(t.data, ndim, dims);
    return t;
}

void nst_test_tensor_free(nst_test_tensor *t) {
    free(t->data);
    t->data = NULL;
    t->t.data = NULL;
}

/* ---- forward/backward data ----------------------------------------------------------------- */

nst_test_fwd_bwd nst_test_fwd_bwd_random(nst_test_rng *r, size_t n, size_t no) {
    nst_test_fwd_bwd d = {.n = n, .no = no};
    d.x = nst_test_random_f32(r, n, -1.0f, 1.0f);
    d.dy = nst_test_random_f32(r, no, -1.0f, 1.0f);
    d.y = nst_test_alloc_f32(no), d.dx = nst_test_alloc_f32(n);
    d.xd = nst_test_to_f64(d.x, n), d.dyd = nst_test_to_f64(d.dy, no);
    d.yr = nst_test_alloc_f64(no), d.dxr = nst_test_alloc_f64(n);
    return d;
}

void nst_test_fwd_bwd_free(nst_test_fwd_bwd *d) {
    free(d->x), free(d->dy), free(d->y), free(d->dx);
    free(d->xd), free(d->dyd), free(d->yr), free(d->dxr);
}

void nst_test_fwd_bwd_expect_fd(nst_test_fwd_bwd *d, nst_test_scalar_fn loss, void *user,
                                double h, double atol_rel, double rtol, const char *what) {
    nst_test_fd_grad(loss, user, d->xd, d->n, h, NULL, 0, d->dxr);
    nst_test_expect_grad(what, d->dx, d->dxr, d->n, atol_rel, rtol);
}

/* ---- goldens ------------------------------------------------------------------------------- */

nst_st_file *nst_test_st_open(nst_ctx *ctx, const char *path) {
    nst_st_file *f = NULL;
    nst_status s = nst_st_open(ctx, path, &f);
    cr_assert_eq(s, NST_OK, "%s: %s", path, nst_last_error(ctx));
    cr_assert_not_null(f);
    return f;
}

nst_st_file *nst_test_open_golden(nst_ctx *ctx, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/%s", NST_SOURCE_DIR, file);
    return nst_test_st_open(ctx, path);
}

const nst_st_tensor *nst_test_golden(const nst_st_file *f, const char *name, float **as_f32,
                                     double **as_f64) {
    const nst_st_tensor *t = nst_st_find(f, name);
    cr_assert_not_null(t, "golden tensor %s missing", name);
    if (as_f32) {
        *as_f32 = nst_test_alloc_f32((size_t)t->numel);
        nst_st_to_f32(t, *as_f32);
    }
    if (as_f64) {
        *as_f64 = nst_test_alloc_f64((size_t)t->numel);
        nst_st_to_f64(t, *as_f64);
    }
    return t;
}

double *nst_test_golden_f64(const nst_st_file *f, const char *name, size_t numel) {
    const nst_st_tensor *t = nst_st_find(f, name);
    cr_assert_not_null(t, "golden tensor %s missing", name);
    cr_assert_eq((size_t)t->numel, numel, "golden %s has %lld elements, expected %zu", name,
                 (long long)t->numel, numel);
    double *d = nst_test_alloc_f64(numel);
    nst_st_to_f64(t, d);
    return d;
}

float *nst_test_golden_f32(const nst_st_file *f, const char *name, size_t numel) {
    double *d = nst_test_golden_f64(f, name, numel);
    float *x = nst_test_to_f32(d, numel);
    free(d);
    return x;
}

float *nst_test_load_f32(nst_ctx *ctx, const nst_st_file *f, const char *name, int ndim,
                         const int64_t *dims) {
    float *out = NULL;
    cr_assert_eq(nst_st_load_f32(ctx, f, name, ndim, dims, &out), NST_OK, "%s",
                 nst_last_error(ctx));
    return out;
}

void nst_test_expect_golden(const nst_st_file *f, const char *name, const float *got, size_t n,
                            double atol, double rtol) {
    double *ref = nst_test_golden_f64(f, name, n);
    cr_assert(nst_test_allclose(name, got, ref, n, atol, rtol), "%s differs from the golden",
              name);
    free(ref);
}
