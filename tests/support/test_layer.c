/* Inputs and gradient checks for the conv2d and linear tests (see test_layer.h). */
#include "test_layer.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static size_t count(int ndim, const int64_t *dims) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    return n;
}

nst_test_layer nst_test_layer_random(uint64_t seed, int xdim, const int64_t *xs, int wdim,
                                     const int64_t *ws, int ydim, const int64_t *ys) {
    nst_test_layer d;
    nst_test_rng r = nst_test_rng_seed(seed);
    d.nx = count(xdim, xs), d.nw = count(wdim, ws), d.nb = (size_t)ws[0], d.ny = count(ydim, ys);
    d.x = nst_test_random_f32(&r, d.nx, -1, 1);
    d.w = nst_test_random_f32(&r, d.nw, -1, 1);
    d.b = nst_test_random_f32(&r, d.nb, -1, 1);
    d.dy = nst_test_random_f32(&r, d.ny, -1, 1);
    d.xd = nst_test_to_f64(d.x, d.nx), d.wd = nst_test_to_f64(d.w, d.nw);
    d.bd = nst_test_to_f64(d.b, d.nb), d.dyd = nst_test_to_f64(d.dy, d.ny);
    d.tx = nst_test_f32(d.x, xdim, xs), d.tw = nst_test_f32(d.w, wdim, ws);
    d.tb = nst_test_f32_1d(d.b, ws[0]), d.tdy = nst_test_f32(d.dy, ydim, ys);
    return d;
}

void nst_test_layer_free(nst_test_layer *d) {
    free(d->x), free(d->w), free(d->b), free(d->dy);
    free(d->xd), free(d->wd), free(d->bd), free(d->dyd);
}

nst_test_layer_grads nst_test_layer_nan_grads(const nst_test_layer *d) {
    nst_test_layer_grads g;
    g.dx = nst_test_tensor_nan(d->tx.ndim, d->tx.shape);
    g.dw = nst_test_tensor_nan(d->tw.ndim, d->tw.shape);
    g.db = nst_test_tensor_nan(d->tb.ndim, d->tb.shape);
    return g;
}

void nst_test_layer_grads_free(nst_test_layer_grads *g) {
    nst_test_tensor_free(&g->dx), nst_test_tensor_free(&g->dw), nst_test_tensor_free(&g->db);
}

void nst_test_layer_accumulate_start(uint64_t seed, float *dw, double *rdw, size_t nw, float *db,
                                     double *rdb, size_t nb) {
    nst_test_rng r = nst_test_rng_seed(seed);
    nst_test_fill_uniform(&r, dw, nw, -1, 1);
    nst_test_fill_uniform(&r, db, nb, -1, 1);
    for (size_t i = 0; i < nw; i++)
        rdw[i] += dw[i];
    for (size_t i = 0; i < nb; i++)
        rdb[i] += db[i];
}

void nst_test_layer_expect_fd(nst_test_layer *d, const nst_test_layer_grads *g,
                              nst_test_scalar_fn loss, void *user, double h, double atol_rel,
                              double rtol, const char *name) {
    const char *what[3] = {"dx", "dw", "db"};
    double *theta[3] = {d->xd, d->wd, d->bd};
    const nst_test_tensor *got[3] = {&g->dx, &g->dw, &g->db};
    for (int k = 0; k < 3; k++) {
        double *fd = nst_test_alloc_f64(got[k]->n);
        nst_test_fd_grad(loss, user, theta[k], got[k]->n, h, NULL, 0, fd);
        char label[256];
        snprintf(label, sizeof label, "%s %s", what[k], name);
        nst_test_expect_grad(label, got[k]->data, fd, got[k]->n, atol_rel, rtol);
        free(fd);
    }
}
