/* L-BFGS (src/host/lbfgs.c) on host-side problems over the CPU op table:
 *  - a separable quadratic with a known minimum: torch's default tolerances stop it early, at
 *    the minimum;
 *  - torch.optim.LBFGS (line_search_fn=None, history 5, lr 1) on an ill-conditioned least-squares
 *    problem (tests/golden/gen_lbfgs.py): the loss at each of 20 evaluations within 1 % of
 *    torch's, and x after the last step close to torch's;
 *  - a bad history is refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "host/lbfgs.h"
#include "nstyle/safetensors.h"
#include "test_support.h"
#include "test_tensors.h"

#define MAXN 64
#define MAXH 16

/* The optimiser's tensors over host buffers. */
typedef struct {
    float x[MAXN], g[MAXN], d[MAXN], pg[MAXN], z[MAXN], tmp[MAXN], sc[3];
    float y[MAXH + 1][MAXN], s[MAXH + 1][MAXN];
    nst_tensor tx, tg, ys[MAXH + 1], ss[MAXH + 1];
    nst__lbfgs L;
} host_lbfgs;

static void host_setup(nst_ctx *ctx, host_lbfgs *h, int n, int history, double lr) {
    cr_assert(n <= MAXN && history <= MAXH);
    h->tx = nst_test_f32_1d(h->x, n);
    h->tg = nst_test_f32_1d(h->g, n);
    for (int i = 0; i <= history; i++)
        h->ys[i] = nst_test_f32_1d(h->y[i], n), h->ss[i] = nst_test_f32_1d(h->s[i], n);
    h->L = (nst__lbfgs){.history = history, .lr = lr, .tolerance_grad = 1e-7,
                        .tolerance_change = 1e-9, .x = &h->tx, .g = &h->tg, .ys = h->ys,
                        .ss = h->ss, .d = nst_test_f32_1d(h->d, n),
                        .prev_g = nst_test_f32_1d(h->pg, n), .zeros = nst_test_f32_1d(h->z, n),
                        .tmp = nst_test_f32_1d(h->tmp, n)};
    for (int i = 0; i < 3; i++)
        h->L.scalar[i] = nst_test_f32_1d(&h->sc[i], 1);
    cr_assert_eq(nst__lbfgs_init_host(ctx, &h->L), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst__lbfgs_reset(ctx, NULL, &h->L), NST_OK, "%s", nst_last_error(ctx));
}

Test(lbfgs, quadratic_reaches_its_minimum_and_stops) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    host_lbfgs h;
    const int n = 40;
    host_setup(ctx, &h, n, 10, 1.0);
    double a[MAXN], c[MAXN];
    for (int i = 0; i < n; i++)
        a[i] = 1.0 + 0.25 * i, c[i] = sin(0.7 * i), h.x[i] = 0.0f;
    int evals = 0;
    bool done = false;
    double loss = 0.0;
    while (!done && evals < 200) {
        loss = 0.0;
        for (int i = 0; i < n; i++) {
            const double e = h.x[i] - c[i];
            loss += 0.5 * a[i] * e * e;
            h.g[i] = (float)(a[i] * e);
        }
        evals++;
        cr_assert_eq(nst__lbfgs_step(ctx, NULL, &h.L, loss, &done), NST_OK, "%s",
                     nst_last_error(ctx));
    }
    cr_log_info("quadratic: %d evaluations, loss %g", evals, loss);
    cr_expect(done, "the tolerances must stop it (%d evaluations)", evals);
    cr_expect_lt(evals, 200);
    for (int i = 0; i < n; i++)
        cr_expect(fabs(h.x[i] - c[i]) < 1e-4, "x[%d] = %g, minimum %g", i, h.x[i], c[i]);
    nst__lbfgs_free(&h.L);
    nst_ctx_destroy(ctx);
}

Test(lbfgs, least_squares_matches_torch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "lbfgs.safetensors");
    enum { M = 24, N = 16, EVALS = 20 };
    float *A = nst_test_golden_f32(f, "A", M * N), *b = nst_test_golden_f32(f, "b", M);
    float *x0 = nst_test_golden_f32(f, "x0", N), *xf = nst_test_golden_f32(f, "x_final", N);
    double *want = nst_test_golden_f64(f, "losses", EVALS);
    host_lbfgs h;
    host_setup(ctx, &h, N, 5, 1.0);
    for (int i = 0; i < N; i++)
        h.x[i] = x0[i];
    bool done = false;
    double worst = 0.0;
    for (int e = 0; e < EVALS && !done; e++) {
        double r[M], loss = 0.0;
        for (int i = 0; i < M; i++) {
            double v = -b[i];
            for (int j = 0; j < N; j++)
                v += (double)A[i * N + j] * h.x[j];
            r[i] = v, loss += 0.5 * v * v;
        }
        for (int j = 0; j < N; j++) {
            double gj = 0.0;
            for (int i = 0; i < M; i++)
                gj += (double)A[i * N + j] * r[i];
            h.g[j] = (float)gj;
        }
        const double rel = fabs(loss - want[e]) / want[e];
        worst = fmax(worst, rel);
        cr_expect_lt(rel, 0.01, "evaluation %d: loss %.7g, torch %.7g", e + 1, loss, want[e]);
        cr_assert_eq(nst__lbfgs_step(ctx, NULL, &h.L, loss, &done), NST_OK, "%s",
                     nst_last_error(ctx));
    }
    cr_expect(!done, "torch ran all %d evaluations", EVALS);
    double dx = 0.0, nx = 0.0;
    for (int j = 0; j < N; j++)
        dx += (h.x[j] - xf[j]) * (double)(h.x[j] - xf[j]), nx += xf[j] * (double)xf[j];
    cr_log_info("least squares: worst loss difference to torch %.3g %%, |x - x_torch| / |x_torch| "
                "%.3g", 100 * worst, sqrt(dx / nx));
    cr_expect_lt(sqrt(dx / nx), 0.02, "x after 20 steps: %g relative to torch's", sqrt(dx / nx));
    nst__lbfgs_free(&h.L);
    free(A), free(b), free(x0), free(xf), free(want);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(lbfgs, bad_history_is_refused) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst__lbfgs L = {.history = 0};
    nst_test_expect_status(ctx, nst__lbfgs_init_host(ctx, &L), NST_ERR_INVALID_ARG, "history",
                           "1 ..");
    nst_ctx_destroy(ctx);
}
