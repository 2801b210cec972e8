/* Internal: L-BFGS on one tensor, as torch.optim.LBFGS does it with line_search_fn=None
 * (src/host/lbfgs.c). Every vector operation runs through the op table (scale, axpy, clamp,
 * reduce_sum, mse_forward), so it runs on the context's backend; only scalars come back to the
 * host. Not installed. Tested by tests/test_lbfgs.c (a quadratic with a known minimum; the loss
 * sequence of torch.optim.LBFGS on a least-squares problem, tests/golden/gen_lbfgs.py). */
#ifndef NSTYLE_LBFGS_H
#define NSTYLE_LBFGS_H

#include <stdbool.h>

#include "nstyle/memory.h"
#include "nstyle/ops.h"

#define NST__LBFGS_MAX_HISTORY 1000

typedef struct {
    /* settings */
    int history;             /* m, 1 .. NST__LBFGS_MAX_HISTORY */
    double lr;               /* the step length after the first (torch's lr) */
    double tolerance_grad;   /* stop when max |g| <= this (torch: 1e-7; < 0: never) */
    double tolerance_change; /* stop when |loss change| or max |t d| < / <= this, or when
                                g.d > -this (torch: 1e-9) */
    /* the caller's tensors, all of one shape */
    nst_tensor *x;       /* the parameters, stepped in place */
    const nst_tensor *g; /* the gradient at x, written by the caller before each step */
    /* state tensors, of x's shape: history + 1 slots each of y and s (one slot is always free,
       so a pair that fails the curvature test is never written over the oldest), the
       direction d, the previous gradient, zeros and a temporary */
    nst_tensor *ys, *ss; /* history + 1 each */
    nst_tensor d, prev_g, zeros, tmp;
    nst_tensor scalar[3]; /* (1) results of the reductions */
    /* host state */
    double *ro, *al, *ynorm2, *snorm2; /* history + 1 each */
    int n_iter, num_old, first;        /* first: the ring slot of the oldest pair */
    double t, h_diag, prev_loss;
    bool owns_vectors; /* ys/ss were allocated by nst__lbfgs_declare */
} nst__lbfgs;

/* The state tensors from a memory pass (persistent; tagged optimiser), x and g set, host state
 * allocated. Free with nst__lbfgs_free(). */
nst_status nst__lbfgs_declare(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *x,
                              const nst_tensor *g, int history, nst__lbfgs *L);
/* The same for tensors the caller provides (tests): ys, ss point at history + 1 tensors each;
 * d, prev_g, zeros, tmp and scalar[] must be set by the caller. Allocates the host state. */
nst_status nst__lbfgs_init_host(nst_ctx *ctx, nst__lbfgs *L);
/* Clears the state (zeros the zero vector) before the first step. pass may be NULL. */
nst_status nst__lbfgs_reset(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L);
/* One iteration of torch's loop, given loss and L->g at x: the tolerance checks of the last
 * evaluation, the direction (two-loop recursion), the step length (the first:
 * lr * min(1, 1 / |g|_1), then lr) and x += t d. *done is set instead of stepping when a
 * tolerance says stop. In a recording pass every op is recorded once and nothing is read. */
nst_status nst__lbfgs_step(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double loss,
                           bool *done);
void nst__lbfgs_free(nst__lbfgs *L);

#endif
