/* Inputs and gradient checks shared by the tests of the ops with a weight and a bias (conv2d,
 * linear): random x, w, b, dy with their double copies, NaN-filled gradients of the same shapes,
 * the start values of an accumulate check, and dx, dw, db against central finite differences. */
#ifndef NSTYLE_TEST_LAYER_H
#define NSTYLE_TEST_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "test_support.h"
#include "test_tensors.h"

/* x, w, b and dy drawn in that order from nst_test_rng_seed(seed), uniform in [-1, 1); the same
 * values in double; CPU F32 tensors over the floats. b has w's leading dimension. */
typedef struct {
    float *x, *w, *b, *dy;
    double *xd, *wd, *bd, *dyd;
    nst_tensor tx, tw, tb, tdy;
    size_t nx, nw, nb, ny;
} nst_test_layer;

nst_test_layer nst_test_layer_random(uint64_t seed, int xdim, const int64_t *xs, int wdim,
                                     const int64_t *ws, int ydim, const int64_t *ys);
void nst_test_layer_free(nst_test_layer *d);

/* Gradients of the shapes of x, w and b, prefilled with NaN (nst_test_tensor_nan). */
typedef struct {
    nst_test_tensor dx, dw, db;
} nst_test_layer_grads;

nst_test_layer_grads nst_test_layer_nan_grads(const nst_test_layer *d);
void nst_test_layer_grads_free(nst_test_layer_grads *g);

/* Start values of an accumulate check: fills dw (nw) then db (nb) from nst_test_rng_seed(seed),
 * uniform in [-1, 1), and adds them to the references rdw and rdb, which then hold the values the
 * accumulating op must produce. */
void nst_test_layer_accumulate_start(uint64_t seed, float *dw, double *rdw, size_t nw, float *db,
                                     double *rdb, size_t nb);

/* The op's fp32 gradients in g against central differences with step h of loss, a double
 * function of d->xd, d->wd and d->bd that reads them through user (nst_test_fd_grad perturbs
 * each array in place): nst_test_expect_grad(atol_rel, rtol) for dx, dw and db in turn, `name`
 * in the messages. */
void nst_test_layer_expect_fd(nst_test_layer *d, const nst_test_layer_grads *g,
                              nst_test_scalar_fn loss, void *user, double h, double atol_rel,
                              double rtol, const char *name);

#endif
