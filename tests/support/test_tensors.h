/* Host buffers, CPU F32 tensors and golden-file access shared by the op tests: allocation that
 * fails the test instead of returning NULL, float <-> double copies, NaN-filled outputs (so an
 * element the op forgets to write fails every comparison), and PyTorch goldens read from
 * tests/golden/<name>.safetensors with a size check. Every helper fails the running test on
 * error. */
#ifndef NSTYLE_TEST_TENSORS_H
#define NSTYLE_TEST_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "nstyle/nstyle.h"
#include "nstyle/safetensors.h"
#include "test_support.h"

/* ---- buffers (all malloc'd; the caller frees; n == 0 still gives a valid pointer) --------- */

float *nst_test_alloc_f32(size_t n);  /* uninitialised */
double *nst_test_alloc_f64(size_t n); /* zeroed */
float *nst_test_nan_f32(size_t n);    /* every element NaN */
/* n values drawn by nst_test_fill_uniform from r, in [lo, hi). */
float *nst_test_random_f32(nst_test_rng *r, size_t n, float lo, float hi);
double *nst_test_to_f64(const float *x, size_t n);  /* a double copy */
float *nst_test_to_f32(const double *x, size_t n);  /* a float copy, each value rounded once */
void nst_test_widen(const float *x, double *out, size_t n); /* out[i] = x[i] */
double nst_test_max_abs(const double *x, size_t n); /* max |x[i]|, 0 for n == 0 */
double nst_test_dot(const double *a, const double *b, size_t n); /* sum a[i] * b[i] */
/* An op's fp32 gradient against central finite differences in double, element by element:
 * cr_expect that every |got - fd| <= atol_rel * max|fd| + rtol * |fd| (nst_test_allclose, which
 * prints the first mismatches under `what`). The absolute part scales with the gradient's size:
 * an element that cancels to near zero keeps the rounding error of its larger terms. The worst
 * errors found are logged (--verbose), for choosing tolerances. */
void nst_test_expect_grad(const char *what, const float *got, const double *fd, size_t n,
                          double atol_rel, double rtol);

/* Flat index of (n, h, w, c) in an (N, H, W, C) tensor. */
static inline size_t nst_test_at(int64_t H, int64_t W, int64_t C, int64_t n, int64_t h, int64_t w,
                                 int64_t c) {
    return (size_t)(((n * H + h) * W + w) * C + c);
}

/* ---- CPU F32 tensors ----------------------------------------------------------------------- */

/* Descriptors over caller memory. */
nst_tensor nst_test_f32(float *data, int ndim, const int64_t *dims);
nst_tensor nst_test_f32_1d(float *data, int64_t d0);
nst_tensor nst_test_f32_2d(float *data, int64_t d0, int64_t d1);

/* A tensor that owns its buffer (t.data == data, n elements), prefilled with NaN so that an
 * output the op leaves unwritten fails the comparison. Free with nst_test_tensor_free. */
typedef struct {
    nst_tensor t;
    float *data;
    size_t n;
} nst_test_tensor;

nst_test_tensor nst_test_tensor_nan(int ndim, const int64_t *dims);
void nst_test_tensor_free(nst_test_tensor *t);

/* ---- forward/backward data of an op with one input x and one output y ------------------------ */

/* x (n) and dy (no) drawn in that order from r in [-1, 1), their double copies xd and dyd, the
 * op's outputs y (no) and dx (n), and zeroed reference outputs yr (no) and dxr (n). */
typedef struct {
    size_t n, no;
    float *x, *dy, *y, *dx;
    double *xd, *dyd, *yr, *dxr;
} nst_test_fwd_bwd;

nst_test_fwd_bwd nst_test_fwd_bwd_random(nst_test_rng *r, size_t n, size_t no);
void nst_test_fwd_bwd_free(nst_test_fwd_bwd *d);
/* The op's dx (already computed into d->dx) against central differences with step h of
 * loss(x, user), typically sum(dy * f(x)) with the double forward f: the differences at d->xd go
 * to d->dxr, and nst_test_expect_grad checks dx against them. */
void nst_test_fwd_bwd_expect_fd(nst_test_fwd_bwd *d, nst_test_scalar_fn loss, void *user,
                                double h, double atol_rel, double rtol, const char *what);

/* ---- goldens ------------------------------------------------------------------------------- */

/* Opens path, failing the test with the reader's message when it cannot. */
nst_st_file *nst_test_st_open(nst_ctx *ctx, const char *path);
/* Opens NST_SOURCE_DIR/tests/golden/<file>. */
nst_st_file *nst_test_open_golden(nst_ctx *ctx, const char *file);
/* The tensor `name` (the test fails when it is absent), and where as_f32 / as_f64 are not NULL
 * its values in new float / double buffers (float: exact for the generators' float32 inputs). */
const nst_st_tensor *nst_test_golden(const nst_st_file *f, const char *name, float **as_f32,
                                     double **as_f64);
/* The values of `name` as a new double buffer; the test fails unless it has numel elements. */
double *nst_test_golden_f64(const nst_st_file *f, const char *name, size_t numel);
/* The same rounded once to float (exact for the generators' float32 inputs). */
float *nst_test_golden_f32(const nst_st_file *f, const char *name, size_t numel);
/* nst_st_load_f32 (shape check: ndim dims, -1 = any), failing the test when it does. */
float *nst_test_load_f32(nst_ctx *ctx, const nst_st_file *f, const char *name, int ndim,
                         const int64_t *dims);
/* Asserts that the golden `name` has n elements and that got matches it within
 * atol + rtol*|ref| (nst_test_allclose, which prints the first mismatches). */
void nst_test_expect_golden(const nst_st_file *f, const char *name, const float *got, size_t n,
                            double atol, double rtol);

#endif
