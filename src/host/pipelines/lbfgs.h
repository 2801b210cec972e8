/* Internal: L-BFGS on one tensor, as torch.optim.LBFGS does it with line_search_fn=None or
 * "strong_wolfe" (src/host/pipelines/lbfgs.c). Every vector operation runs through the op table
 * (scale, axpy, clamp, reduce_sum, mse_forward), so it runs on the context's backend; only scalars
   * come back to the host. Not installed. Tested by tests/test_lbfgs.c (quadratics with a known
 * minimum; torch.optim.LBFGS on a least-squares problem and on a Rosenbrock function, with and
 * without the line search, tests/golden/gen_lbfgs.py). */
#ifndef NSTYLE_LBFGS_H
#define NSTYLE_LBFGS_H

#include <stdbool.h>

#include "nstyle/memory.h"
#include "nstyle/ops.h"

#define NST__LBFGS_MAX_HISTORY 1000
#define NST__LBFGS_F 4 /* values per evaluation: the loss, then up to 3 of the caller's parts */

/* The strong Wolfe line search's evaluation: the loss at L->x into f[0] (and whatever the
 * caller wants carried with it into f[1..]), its gradient into L->g. Not called in a recording
 * pass: there the caller's evaluation before the first step stands for all of them (between
 * evaluations the line search touches only the persistent vectors and g, which must be
 * persistent too). */
typedef nst_status (*nst__lbfgs_eval_fn)(nst_ctx *ctx, nst_mem_pass *pass, void *user,
                                         double f[NST__LBFGS_F]);

typedef struct {
    /* settings */
    int history;             /* m, 1 .. NST__LBFGS_MAX_HISTORY */
    double lr;               /* the step length after the first (torch's lr) */
    double tolerance_grad;   /* stop when max |g| <= this (torch: 1e-7; < 0: never) */
    double tolerance_change; /* stop when |loss change| or max |t d| < / <= this, or when
                                g.d > -this (torch: 1e-9) */
    bool strong_wolfe;       /* torch's line_search_fn="strong_wolfe" (set before declare) */
    nst__lbfgs_eval_fn eval; /* strong Wolfe: evaluates the trial points */
    void *eval_user;
    const volatile int *cancel; /* strong Wolfe: non-zero ends a line search after the current
                                   trial, at the lowest point it has evaluated (NULL: never) */
    /* the caller's tensors, all of one shape */
    nst_tensor *x; /* the parameters, stepped in place */
    nst_tensor *g; /* the gradient at x, written by the caller before each step (strong Wolfe:
                      by the caller before the first, then by the steps) */
    /* state tensors, of x's shape: history + 1 slots each of y and s (one slot is always free,
       so a pair that fails the curvature test is never written over the oldest), the
       direction d, the previous gradient, zeros and a temporary */
    nst_tensor *ys, *ss; /* history + 1 each */
    nst_tensor d, prev_g, zeros, tmp;
    nst_tensor scalar[3]; /* (1) results of the reductions */
    nst_tensor x0, bg[2]; /* strong Wolfe: x before the line search, two bracket gradients */
    double f[NST__LBFGS_F]; /* strong Wolfe: the loss and parts at x (the caller's first
                               evaluation writes them, each step leaves the accepted point's) */
    int evals;              /* evaluations the last step made (strong Wolfe; else 0) */
    /* host state */
    double *ro, *al, *ynorm2, *snorm2; /* history + 1 each */
    int n_iter, num_old, first;        /* first: the ring slot of the oldest pair */
    double t, h_diag, prev_loss;
    bool owns_vectors; /* ys/ss were allocated by nst__lbfgs_declare */
} nst__lbfgs;

/* The state tensors from a memory pass (persistent; tagged optimiser), x and g set, host state
 * allocated. Free with nst__lbfgs_free(). */
nst_status nst__lbfgs_declare(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *x, nst_tensor *g,
                              int history, nst__lbfgs *L);
/* The same for tensors the caller provides (tests): ys, ss point at history + 1 tensors each;
 * d, prev_g, zeros, tmp and scalar[] (and x0, bg[] for strong Wolfe) must be set by the
 * caller. Allocates the host state. */
nst_status nst__lbfgs_init_host(nst_ctx *ctx, nst__lbfgs *L);
/* Clears the state (zeros the zero vector) before the first step. pass may be NULL. */
nst_status nst__lbfgs_reset(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L);
/* One iteration of torch's loop, given loss and L->g at x: the tolerance checks of the last
 * evaluation, the direction (two-loop recursion), the step length (the first:
 * lr * min(1, 1 / |g|_1), then lr) and x += t d. *done is set instead of stepping when a
 * tolerance says stop. In a recording pass every op is recorded once and nothing is read.
 *
 * With strong_wolfe the step length comes from torch's _strong_wolfe (c1 1e-4, c2 0.9,
 * tolerance_change 1e-9, at most 25 evaluations) from that first guess: L->eval at trial
 * points x + t d, x set to the accepted one, L->g and L->f to its gradient and loss, L->evals
 * to the evaluations made; the next step's loss is L->f[0]. The caller counts evaluations
 * and stops as torch does, when they reach max_eval (checked after each step, so a line search
 * may overrun it). */
nst_status nst__lbfgs_step(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double loss,
                           bool *done);
void nst__lbfgs_free(nst__lbfgs *L);

/* |x|_1 = sum(2 clamp(x, 0, inf) - x) through the op table (tmp: x's shape, scratch; scalar: a
 * (1) tensor), read back into *out (1 when recording). Also the normalised gradients' norm
 * (src/host/pipelines/losses.c). */
nst_status nst__l1_norm(nst_ctx *ctx, nst_mem_pass *pass, const nst_tensor *x, nst_tensor *tmp,
                        nst_tensor *scalar, double *out);

#endif
