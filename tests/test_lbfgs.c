/* L-BFGS (src/host/pipelines/lbfgs.c) on host-side problems over the CPU op table:
 *  - a separable quadratic with a known minimum: torch's default tolerances stop it early, at
 *    the minimum, with and without the strong Wolfe line search;
 *  - torch.optim.LBFGS (line_search_fn=None, history 5, lr 1) on an ill-conditioned least-squares
 *    problem (tests/golden/gen_lbfgs.py): the loss at each of 20 evaluations within 1 % of
 *    torch's, and x after the last step close to torch's;
 *  - torch.optim.LBFGS(line_search_fn="strong_wolfe", max_eval=20) on the same problem and on
 *    an 8-variable Rosenbrock function (lr 1, and lr 10, whose line searches extrapolate, zoom,
 *    swap the bracket's ends and run past max_eval): the loss at every evaluation (trial points
 *    included) and at the final x within 1 % of torch's, the same evaluation count, x close to
 *    torch's;
 *  - a bad history, and a line search without an evaluation function, are refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "host/pipelines/lbfgs.h"
#include "nstyle/safetensors.h"
#include "test_support.h"
#include "test_tensors.h"

#define MAXN 64
#define MAXH 16

/* The optimiser's tensors over host buffers. */
typedef struct {
    float x[MAXN], g[MAXN], d[MAXN], pg[MAXN], z[MAXN], tmp[MAXN], sc[3], x0[MAXN];
    float bg[2][MAXN];
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
                        .tmp = nst_test_f32_1d(h->tmp, n), .x0 = nst_test_f32_1d(h->x0, n),
                        .bg = {nst_test_f32_1d(h->bg[0], n), nst_test_f32_1d(h->bg[1], n)}};
    for (int i = 0; i < 3; i++)
        h->L.scalar[i] = nst_test_f32_1d(&h->sc[i], 1);
    cr_assert_eq(nst__lbfgs_init_host(ctx, &h->L), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst__lbfgs_reset(ctx, NULL, &h->L), NST_OK, "%s", nst_last_error(ctx));
}

#define MAXE 64
#define LS_M 24

/* A problem on host buffers: the loss at x, its gradient into g; every loss evaluated kept. */
typedef struct problem problem;
struct problem {
    double (*f)(const problem *p, const float *x, float *g);
    int n;
    const float *A, *b;  /* least squares: A (LS_M, n), b (LS_M) */
    const double *a, *c; /* quadratic: 0.5 sum a_i (x_i - c_i)^2 */
    host_lbfgs *h;
    double losses[MAXE];
    int evals;
    volatile int *cancel; /* set to 1 by evaluation number cancel_at (from 1) */
    int cancel_at;
};

static double quadratic(const problem *p, const float *x, float *g) {
    double loss = 0.0;
    for (int i = 0; i < p->n; i++) {
        const double e = x[i] - p->c[i];
        loss += 0.5 * p->a[i] * e * e;
        g[i] = (float)(p->a[i] * e);
    }
    return loss;
}

static double least_squares(const problem *p, const float *x, float *g) {
    double r[LS_M], loss = 0.0;
    for (int i = 0; i < LS_M; i++) {
        double v = -p->b[i];
        for (int j = 0; j < p->n; j++)
            v += (double)p->A[i * p->n + j] * x[j];
        r[i] = v, loss += 0.5 * v * v;
    }
    for (int j = 0; j < p->n; j++) {
        double gj = 0.0;
        for (int i = 0; i < LS_M; i++)
            gj += (double)p->A[i * p->n + j] * r[i];
        g[j] = (float)gj;
    }
    return loss;
}

/* sum over pairs (x_{2i}, x_{2i+1}) of 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2. */
static double rosenbrock(const problem *p, const float *x, float *g) {
    double loss = 0.0;
    for (int i = 0; i + 1 < p->n; i += 2) {
        const double u = x[i], v = x[i + 1], e = v - u * u;
        loss += 100 * e * e + (1 - u) * (1 - u);
        g[i] = (float)(-400 * e * u - 2 * (1 - u));
        g[i + 1] = (float)(200 * e);
    }
    return loss;
}

static nst_status eval_problem(nst_ctx *ctx, nst_mem_pass *pass, void *user,
                               double f[NST__LBFGS_F]) {
    (void)ctx, (void)pass;
    problem *p = user;
    f[0] = p->f(p, p->h->x, p->h->g);
    f[1] = 2.0 * f[0], f[2] = f[3] = 0.0; /* a part carried with the loss */
    if (p->evals < MAXE)
        p->losses[p->evals] = f[0];
    p->evals++;
    if (p->cancel && p->evals == p->cancel_at)
        *p->cancel = 1;
    return NST_OK;
}

Test(lbfgs, least_squares_matches_torch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "lbfgs.safetensors");
    enum { N = 16, EVALS = 20 };
    float *A = nst_test_golden_f32(f, "A", LS_M * N), *b = nst_test_golden_f32(f, "b", LS_M);
    float *x0 = nst_test_golden_f32(f, "x0", N), *xf = nst_test_golden_f32(f, "x_final", N);
    double *want = nst_test_golden_f64(f, "losses", EVALS);
    host_lbfgs h;
    host_setup(ctx, &h, N, 5, 1.0);
    for (int i = 0; i < N; i++)
        h.x[i] = x0[i];
    problem p = {.f = least_squares, .n = N, .A = A, .b = b};
    bool done = false;
    double worst = 0.0;
    for (int e = 0; e < EVALS && !done; e++) {
        const double loss = least_squares(&p, h.x, h.g);
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

/* ---- the strong Wolfe line search ------------------------------------------------------------ */

/* As torch's step(closure): the first evaluation, then iterations until a tolerance stops them
 * or the evaluations reach max_eval (checked after each). Returns the evaluations counted from
 * the steps' reports. */
static int run_wolfe(nst_ctx *ctx, host_lbfgs *h, problem *p, int max_eval, bool *done) {
    h->L.strong_wolfe = true, h->L.eval = eval_problem, h->L.eval_user = p;
    p->h = h;
    cr_assert_eq(eval_problem(ctx, NULL, p, h->L.f), NST_OK);
    int evals = 1;
    *done = false;
    while (!*done && evals < max_eval) {
        cr_assert_eq(nst__lbfgs_step(ctx, NULL, &h->L, h->L.f[0], done), NST_OK, "%s",
                     nst_last_error(ctx));
        evals += h->L.evals;
        cr_assert_eq(h->L.f[1], 2.0 * h->L.f[0], "the parts must travel with the loss");
    }
    cr_expect_eq(evals, p->evals, "the steps' evaluation counts must add up");
    return evals;
}

/* 0.5 sum a_i (x_i - c_i)^2 from 0, with or without the line search: the tolerances stop it at
 * the minimum. */
static void quadratic_to_its_minimum(bool wolfe) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    host_lbfgs h;
    const int n = 40;
    host_setup(ctx, &h, n, 10, 1.0);
    double a[MAXN], c[MAXN];
    for (int i = 0; i < n; i++)
        a[i] = 1.0 + 0.25 * i, c[i] = sin(0.7 * i), h.x[i] = 0.0f;
    problem p = {.f = quadratic, .n = n, .a = a, .c = c};
    bool done = false;
    int evals = 0;
    double loss = 0.0;
    if (wolfe) {
        evals = run_wolfe(ctx, &h, &p, 200, &done);
        loss = h.L.f[0];
        float g[MAXN]; /* the loss kept is the loss at x */
        cr_expect(fabs(quadratic(&p, h.x, g) - loss) <= 1e-12 + 1e-9 * loss);
    }
    while (!wolfe && !done && evals < 200) {
        loss = quadratic(&p, h.x, h.g);
        evals++;
        cr_assert_eq(nst__lbfgs_step(ctx, NULL, &h.L, loss, &done), NST_OK, "%s",
                     nst_last_error(ctx));
    }
    cr_log_info("quadratic%s: %d evaluations, loss %g", wolfe ? ", strong Wolfe" : "", evals,
                loss);
    cr_expect(done, "the tolerances must stop it (%d evaluations)", evals);
    cr_expect_lt(evals, 200);
    cr_expect_lt(loss, 1e-8);
    for (int i = 0; i < n; i++)
        cr_expect(fabs(h.x[i] - c[i]) < 1e-4, "x[%d] = %g, minimum %g", i, h.x[i], c[i]);
    nst__lbfgs_free(&h.L);
    nst_ctx_destroy(ctx);
}

Test(lbfgs, quadratic_reaches_its_minimum_and_stops) { quadratic_to_its_minimum(false); }

Test(lbfgs, strong_wolfe_quadratic_reaches_its_minimum_and_stops) {
    quadratic_to_its_minimum(true);
}

/* Torch's strong Wolfe run of golden `key` ("ls", "rb", "rb10") against ours from x0. */
static void against_torch(nst_ctx *ctx, const nst_st_file *gf, const char *key, problem *p,
                          const float *x0, double lr) {
    char name[64];
    snprintf(name, sizeof name, "wolfe_%s_evals", key);
    double *want_evals = nst_test_golden_f64(gf, name, 1);
    const int te = (int)*want_evals;
    snprintf(name, sizeof name, "wolfe_%s_losses", key);
    double *want = nst_test_golden_f64(gf, name, (size_t)te);
    snprintf(name, sizeof name, "wolfe_%s_final", key);
    double *final = nst_test_golden_f64(gf, name, 1);
    snprintf(name, sizeof name, "wolfe_%s_x", key);
    float *xf = nst_test_golden_f32(gf, name, (size_t)p->n);
    host_lbfgs h;
    host_setup(ctx, &h, p->n, 5, lr);
    for (int i = 0; i < p->n; i++)
        h.x[i] = x0[i];
    bool done = false;
    const int evals = run_wolfe(ctx, &h, p, 20, &done);
    cr_expect_geq(evals, 20);
    cr_expect_eq(evals, te, "%s: %d evaluations, torch %d", key, evals, te);
    cr_expect(!done, "%s: torch ran to max_eval", key);
    double worst = 0.0;
    for (int e = 0; e < evals && e < te && e < MAXE; e++) {
        const double rel = fabs(p->losses[e] - want[e]) / want[e];
        worst = fmax(worst, rel);
        cr_expect_lt(rel, 0.01, "%s: evaluation %d: loss %.7g, torch %.7g", key, e + 1,
                     p->losses[e], want[e]);
    }
    const double rel = fabs(h.L.f[0] - *final) / *final;
    cr_expect_lt(rel, 0.01, "%s: final loss %.7g, torch %.7g", key, h.L.f[0], *final);
    float g[MAXN];
    cr_expect(fabs(p->f(p, h.x, g) - h.L.f[0]) <= 1e-9 * h.L.f[0],
              "%s: the loss kept must be the loss at x", key);
    double dx = 0.0, nx = 0.0;
    for (int j = 0; j < p->n; j++)
        dx += (h.x[j] - xf[j]) * (double)(h.x[j] - xf[j]), nx += xf[j] * (double)xf[j];
    cr_log_info("strong Wolfe %s: %d evaluations (torch %d), final loss %.7g (torch %.7g), "
                "worst loss difference %.3g %%, |x - x_torch| / |x_torch| %.3g",
                key, evals, te, h.L.f[0], *final, 100 * worst, sqrt(dx / nx));
    cr_expect_lt(sqrt(dx / nx), 0.02, "%s: x %g relative to torch's", key, sqrt(dx / nx));
    nst__lbfgs_free(&h.L);
    free(want_evals), free(want), free(final), free(xf);
}

Test(lbfgs, strong_wolfe_least_squares_and_rosenbrock_match_torch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "lbfgs.safetensors");
    enum { N = 16, NR = 8 };
    float *A = nst_test_golden_f32(f, "A", LS_M * N), *b = nst_test_golden_f32(f, "b", LS_M);
    float *x0 = nst_test_golden_f32(f, "x0", N), *rb0 = nst_test_golden_f32(f, "rb_x0", NR);
    problem ls = {.f = least_squares, .n = N, .A = A, .b = b};
    against_torch(ctx, f, "ls", &ls, x0, 1.0);
    problem rb = {.f = rosenbrock, .n = NR}, rb10 = rb;
    against_torch(ctx, f, "rb", &rb, rb0, 1.0);
    against_torch(ctx, f, "rb10", &rb10, rb0, 10.0); /* its last line search runs past 20 */
    cr_expect_eq(rb10.evals, 21);
    free(A), free(b), free(x0), free(rb0);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* The cancel flag, raised by a trial evaluation inside a line search (lr 10 on the Rosenbrock
 * function extrapolates, so its line searches take several trials), ends that search at once:
 * no evaluation after the one that raised it, and x is left at the lowest point the search
 * evaluated, with that point's loss, no higher than the loss it started from. */
Test(lbfgs, cancel_ends_a_line_search_after_the_current_trial) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "lbfgs.safetensors");
    enum { NR = 8 };
    float *rb0 = nst_test_golden_f32(f, "rb_x0", NR);
    for (int at = 2; at <= 8; at++) {
        host_lbfgs h;
        host_setup(ctx, &h, NR, 5, 10.0);
        for (int i = 0; i < NR; i++)
            h.x[i] = rb0[i];
        volatile int cancel = 0;
        problem p = {.f = rosenbrock, .n = NR, .cancel = &cancel, .cancel_at = at};
        h.L.strong_wolfe = true, h.L.eval = eval_problem, h.L.eval_user = &p, h.L.cancel = &cancel;
        p.h = &h;
        cr_assert_eq(eval_problem(ctx, NULL, &p, h.L.f), NST_OK);
        bool done = false;
        double before = h.L.f[0];
        while (!cancel && !done) {
            before = h.L.f[0];
            cr_assert_eq(nst__lbfgs_step(ctx, NULL, &h.L, h.L.f[0], &done), NST_OK, "%s",
                         nst_last_error(ctx));
        }
        cr_expect_eq(p.evals, at, "cancelled at evaluation %d, the step went on to %d", at,
                     p.evals);
        float g[NR];
        const double here = rosenbrock(&p, h.x, g);
        cr_expect(fabs(here - h.L.f[0]) <= 1e-9 * fmax(here, 1.0),
                  "cancelled at %d: the loss kept %.9g, the loss at x %.9g", at, h.L.f[0], here);
        cr_expect_leq(h.L.f[0], before, "cancelled at %d: the loss rose from %.9g to %.9g", at,
                      before, h.L.f[0]);
        for (int i = 0; i < NR; i++)
            cr_expect(fabs(g[i] - h.g[i]) <= 1e-5f * fmaxf(1.0f, fabsf(g[i])),
                      "cancelled at %d: g[%d] %g is not the gradient at x (%g)", at, i, h.g[i],
                      g[i]);
        nst__lbfgs_free(&h.L);
    }
    free(rb0);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(lbfgs, strong_wolfe_needs_an_evaluation_function) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    host_lbfgs h;
    host_setup(ctx, &h, 4, 3, 1.0);
    for (int i = 0; i < 4; i++)
        h.x[i] = 0.0f, h.g[i] = (float)(i + 1);
    h.L.strong_wolfe = true;
    bool done = false;
    nst_test_expect_status(ctx, nst__lbfgs_step(ctx, NULL, &h.L, 1.0, &done),
                           NST_ERR_INVALID_ARG, "line search", "evaluation function");
    nst__lbfgs_free(&h.L);
    nst_ctx_destroy(ctx);
}
