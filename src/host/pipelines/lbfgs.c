/* L-BFGS on one tensor (src/host/pipelines/lbfgs.h), torch.optim.LBFGS's algorithm with
 * line_search_fn=None or "strong_wolfe", one iteration per call:
 *   y = g - g_prev, s = t d; the pair is kept when y.s > 1e-10 (the oldest dropped past m),
 *   H_diag = y.s / y.y; the two-loop recursion from q = -g gives d; the step length is
 *   lr * min(1, 1 / |g|_1) the first time and lr after; x += t d. Stops (instead of stepping)
 *   when max |g| <= tolerance_grad, when g.d > -tolerance_change, and after a step when
 *   max |t d| <= tolerance_change or |loss - previous loss| < tolerance_change.
 * With the strong Wolfe line search, x += t d is torch's _strong_wolfe instead: trial points
 * x0 + t d evaluated through the caller's function until one meets the strong Wolfe conditions
 * (bracketing with cubic extrapolation, then a zoom with cubic interpolation, 25 evaluations at
 * most); the accepted point's loss and gradient are kept (a bracket end's gradient is copied
 * into one of two bracket vectors only when a later evaluation would overwrite it).
 *
 * The vectors live on the context's backend and every vector operation is an op of the table:
 * copies and negations are NST_OP_SCALE, updates NST_OP_AXPY, |g|_1 is
 * reduce_sum(2 clamp(g, 0, inf) - g). Dot products come from NST_OP_MSE_FORWARD (a mean in
 * double on the CPU) by polarisation, a.b = (|a|^2 + |c|^2 - |a - c|^2) / (2 r) with
 * c = r b and r = |a| / |b| so that the three terms are of one size; |a|^2 = n mse(a, 0). The
 * scalars (each a (1) tensor) are read back to the host: about 3 reductions and one scale per
 * dot product, 2 m + 4 dot products an iteration at most. The tolerance checks on max |g| and
 * max |t d| read the whole vector back and are skipped when the tolerance is negative.
 *
 * Tested by tests/test_lbfgs.c. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "lbfgs.h"

static bool recording(const nst_mem_pass *pass) { return pass && nst_mem_pass_recording(pass); }

static nst_status read_scalar(nst_ctx *ctx, nst_mem_pass *pass, const nst_tensor *t, double *v) {
    if (recording(pass)) {
        nst_mem_pass_touch(pass, t);
        *v = 1.0;
        return NST_OK;
    }
    float f = 0.0f;
    NST__TRY(nst_copy_to_host(ctx, &f, t->data, sizeof f));
    *v = f;
    return NST_OK;
}

static nst_status scale(nst_ctx *ctx, const nst_tensor *x, nst_tensor *y, double alpha) {
    nst_scale_params p = {.x = x, .y = y, .alpha = (float)alpha};
    return nst_scale(ctx, &p);
}

static nst_status axpy(nst_ctx *ctx, const nst_tensor *x, nst_tensor *y, double alpha) {
    nst_scale_params p = {.x = x, .y = y, .alpha = (float)alpha};
    return nst_axpy(ctx, &p);
}

/* n mse(a, b) = |a - b|^2. */
static nst_status dist2(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, const nst_tensor *a,
                        const nst_tensor *b, double *out) {
    nst_mse_params m = {.a = a, .b = b, .loss = &L->scalar[0]};
    NST__TRY(nst_mse_forward(ctx, &m));
    NST__TRY(read_scalar(ctx, pass, &L->scalar[0], out));
    *out *= (double)nst_tensor_numel(a);
    return NST_OK;
}

static nst_status norm2(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, const nst_tensor *a,
                        double *out) {
    return dist2(ctx, pass, L, a, &L->zeros, out);
}

/* a.b from |a|^2 = na2 and |b|^2 = nb2 (see the top of the file). */
static nst_status dot(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, const nst_tensor *a,
                      double na2, const nst_tensor *b, double nb2, double *out) {
    const bool rec = recording(pass);
    *out = 0.0;
    if (!rec && (!(na2 > 0) || !(nb2 > 0)))
        return NST_OK;
    const double r = rec ? 1.0 : sqrt(na2 / nb2);
    NST__TRY(scale(ctx, b, &L->tmp, r));
    double d2 = 0.0;
    NST__TRY(dist2(ctx, pass, L, a, &L->tmp, &d2));
    *out = rec ? 1.0 : (2.0 * na2 - d2) / (2.0 * r);
    return NST_OK;
}

/* max |v| (the vector read back); 1 when recording. */
static nst_status max_abs(nst_ctx *ctx, nst_mem_pass *pass, const nst_tensor *v, double *out) {
    *out = 1.0;
    if (recording(pass)) {
        nst_mem_pass_touch(pass, v);
        return NST_OK;
    }
    const int64_t n = nst_tensor_numel(v);
    float *h = malloc((size_t)n * sizeof *h);
    if (!h)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "L-BFGS: no host memory for a tolerance check");
    nst_status st = nst_copy_to_host(ctx, h, v->data, (size_t)n * sizeof *h);
    double m = 0.0;
    for (int64_t i = 0; st == NST_OK && i < n; i++)
        m = fmax(m, fabs((double)h[i]));
    free(h);
    *out = m;
    return st;
}

nst_status nst__l1_norm(nst_ctx *ctx, nst_mem_pass *pass, const nst_tensor *x, nst_tensor *tmp,
                        nst_tensor *scalar, double *out) {
    nst_clamp_params c = {.x = x, .y = tmp, .lo = 0.0f, .hi = FLT_MAX};
    NST__TRY(nst_clamp(ctx, &c));
    NST__TRY(scale(ctx, tmp, tmp, 2.0));
    NST__TRY(axpy(ctx, x, tmp, -1.0));
    nst_reduce_params r = {.x = tmp, .y = scalar};
    NST__TRY(nst_reduce_sum(ctx, &r));
    return read_scalar(ctx, pass, scalar, out);
}

nst_status nst__lbfgs_init_host(nst_ctx *ctx, nst__lbfgs *L) {
    if (L->history < 1 || L->history > NST__LBFGS_MAX_HISTORY)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "L-BFGS: history %d (want 1 .. %d)",
                        L->history, NST__LBFGS_MAX_HISTORY);
    const size_t k = (size_t)L->history + 1;
    L->ro = calloc(4 * k, sizeof(double));
    if (!L->ro)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "L-BFGS: no host memory");
    L->al = L->ro + k, L->ynorm2 = L->ro + 2 * k, L->snorm2 = L->ro + 3 * k;
    return NST_OK;
}

nst_status nst__lbfgs_declare(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *x, nst_tensor *g,
                              int history, nst__lbfgs *L) {
    L->x = x, L->g = g, L->history = history;
    NST__TRY(nst__lbfgs_init_host(ctx, L));
    const size_t k = (size_t)history + 1;
    L->ys = calloc(2 * k, sizeof(nst_tensor));
    if (!L->ys)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "L-BFGS: no host memory");
    L->ss = L->ys + k;
    L->owns_vectors = true;
    const unsigned P = NST_MEM_PERSISTENT;
#define VEC(label, out)                                                                        \
    NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_OPTIMISER, NST_F32, x->ndim, x->shape, P, label, \
                                 out))
    for (size_t i = 0; i < k; i++) {
        VEC("lbfgs y", &L->ys[i]);
        VEC("lbfgs s", &L->ss[i]);
    }
    VEC("lbfgs direction", &L->d);
    VEC("lbfgs previous gradient", &L->prev_g);
    VEC("lbfgs zeros", &L->zeros);
    VEC("lbfgs temporary", &L->tmp);
    if (L->strong_wolfe) {
        VEC("lbfgs line search start", &L->x0);
        VEC("lbfgs bracket gradient", &L->bg[0]);
        VEC("lbfgs bracket gradient", &L->bg[1]);
    }
#undef VEC
    for (int i = 0; i < 3; i++)
        NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_OPTIMISER, NST_F32, 1, (const int64_t[]){1}, P,
                                     "lbfgs scalar", &L->scalar[i]));
    return NST_OK;
}

nst_status nst__lbfgs_reset(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L) {
    L->n_iter = L->num_old = L->first = L->evals = 0;
    L->t = L->h_diag = 1.0;
    L->prev_loss = 0.0;
    if (recording(pass)) {
        nst_mem_pass_touch(pass, &L->zeros);
        return NST_OK;
    }
    return nst_memset_device(ctx, L->zeros.data, 0, nst_tensor_bytes(&L->zeros));
}

/* The new pair and the two-loop recursion: d from g, prev_g and the history. */
static nst_status direction(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L) {
    const int k = L->history + 1;
    const int slot = (L->first + L->num_old) % k; /* always free */
    nst_tensor *y = &L->ys[slot], *s = &L->ss[slot];
    NST__TRY(scale(ctx, &L->prev_g, y, -1.0));
    NST__TRY(axpy(ctx, L->g, y, 1.0));
    NST__TRY(scale(ctx, &L->d, s, L->t));
    double yy, ss, ys;
    NST__TRY(norm2(ctx, pass, L, y, &yy));
    NST__TRY(norm2(ctx, pass, L, s, &ss));
    NST__TRY(dot(ctx, pass, L, y, yy, s, ss, &ys));
    if (ys > 1e-10) {
        if (L->num_old == L->history)
            L->first = (L->first + 1) % k, L->num_old--;
        L->ro[slot] = 1.0 / ys, L->ynorm2[slot] = yy, L->snorm2[slot] = ss;
        L->num_old++;
        L->h_diag = ys / yy;
    }
    NST__TRY(scale(ctx, L->g, &L->d, -1.0)); /* q */
    for (int i = L->num_old - 1; i >= 0; i--) {
        const int j = (L->first + i) % k;
        double qq, sq;
        NST__TRY(norm2(ctx, pass, L, &L->d, &qq));
        NST__TRY(dot(ctx, pass, L, &L->ss[j], L->snorm2[j], &L->d, qq, &sq));
        L->al[j] = sq * L->ro[j];
        NST__TRY(axpy(ctx, &L->ys[j], &L->d, -L->al[j]));
    }
    NST__TRY(scale(ctx, &L->d, &L->d, L->h_diag)); /* r */
    for (int i = 0; i < L->num_old; i++) {
        const int j = (L->first + i) % k;
        double rr, yr;
        NST__TRY(norm2(ctx, pass, L, &L->d, &rr));
        NST__TRY(dot(ctx, pass, L, &L->ys[j], L->ynorm2[j], &L->d, rr, &yr));
        NST__TRY(axpy(ctx, &L->ss[j], &L->d, L->al[j] - yr * L->ro[j]));
    }
    return NST_OK;
}

/* ---- the strong Wolfe line search: torch's _strong_wolfe and _cubic_interpolate ------------- */

/* The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to bounds (by
 * default the interval between the points), or the middle of the bounds when it has none.
 * Clamped as Python's min(max(v, lo), hi) does it. */
static double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                                const double *bounds) {
    const double lo = bounds ? bounds[0] : fmin(x1, x2), hi = bounds ? bounds[1] : fmax(x1, x2);
    const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
    const double d2_square = d1 * d1 - g1 * g2;
    if (!(d2_square >= 0))
        return (lo + hi) / 2.0;
    const double d2 = sqrt(d2_square);
    double v = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                        : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    if (lo > v)
        v = lo;
    if (hi < v)
        v = hi;
    return v;
}

/* Where a point's gradient is: the caller's g (the last evaluation's), prev_g (the start's),
 * or bracket vector 0 or 1. */
enum { G_LIVE = -1, G_START = 2 };

typedef struct {
    double t, gtd, f[NST__LBFGS_F];
    int g;
} ls_point;

static const nst_tensor *point_grad(const nst__lbfgs *L, int g) {
    return g == G_LIVE ? L->g : g == G_START ? &L->prev_g : &L->bg[g];
}

/* Before an evaluation overwrites L->g: the held points whose gradient is there get a copy in
 * the bracket vector none of the other held points uses (of n <= 2 points, at most one other). */
static nst_status keep(nst_ctx *ctx, nst__lbfgs *L, ls_point *held, int n) {
    bool used[2] = {false, false}, live = false;
    for (int i = 0; i < n; i++) {
        live |= held[i].g == G_LIVE;
        if (held[i].g == 0 || held[i].g == 1)
            used[held[i].g] = true;
    }
    if (!live)
        return NST_OK;
    const int b = used[0] ? 1 : 0;
    NST__TRY(scale(ctx, L->g, &L->bg[b], 1.0));
    for (int i = 0; i < n; i++)
        if (held[i].g == G_LIVE)
            held[i].g = b;
    return NST_OK;
}

/* The loss and gradient at x0 + t d into *p (its gradient in L->g); dd = |d|^2. */
static nst_status trial(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double dd, double t,
                        ls_point *p) {
    NST__TRY(scale(ctx, &L->x0, L->x, 1.0));
    NST__TRY(axpy(ctx, &L->d, L->x, t));
    NST__TRY(L->eval(ctx, pass, L->eval_user, p->f));
    L->evals++;
    double gg;
    NST__TRY(norm2(ctx, pass, L, L->g, &gg));
    NST__TRY(dot(ctx, pass, L, L->g, gg, &L->d, dd, &p->gtd));
    p->t = t, p->g = G_LIVE;
    return NST_OK;
}

/* Recording: every op a line search can issue, once, but not the evaluation: the caller's own
 * before the first step records it, and between evaluations only persistent vectors are
 * touched, so the evaluation's buffers keep the lifetimes of one evaluation (recording it
 * again here would stretch them over the step and grow the plan). */
static nst_status record_line_search(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double dd) {
    NST__TRY(scale(ctx, &L->x0, L->x, 1.0));
    NST__TRY(axpy(ctx, &L->d, L->x, L->t));
    double gg, gtd;
    NST__TRY(norm2(ctx, pass, L, L->g, &gg));
    NST__TRY(dot(ctx, pass, L, L->g, gg, &L->d, dd, &gtd));
    for (int b = 0; b < 2; b++)
        NST__TRY(scale(ctx, L->g, &L->bg[b], 1.0));
    double m;
    NST__TRY(max_abs(ctx, pass, &L->d, &m));
    NST__TRY(scale(ctx, &L->bg[0], L->g, 1.0));
    NST__TRY(scale(ctx, &L->prev_g, L->g, 1.0));
    NST__TRY(scale(ctx, &L->x0, L->x, 1.0));
    return axpy(ctx, &L->d, L->x, L->t);
}

/* torch's _strong_wolfe from x with step L->t along d (loss, gtd = g.d, dd = |d|^2 at x): x, L->g,
 * L->f and L->t end at the accepted point. */
static nst_status strong_wolfe(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double loss,
                               double gtd, double dd) {
    const double c1 = 1e-4, c2 = 0.9, tolerance_change = 1e-9;
    const int max_ls = 25;
    if (!L->eval)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "L-BFGS: the strong Wolfe line search needs "
                        "an evaluation function (eval)");
    NST__TRY(scale(ctx, L->x, &L->x0, 1.0));
    if (recording(pass))
        return record_line_search(ctx, pass, L, dd);
    ls_point start = {.t = 0.0, .gtd = gtd, .g = G_START};
    memcpy(start.f, L->f, sizeof start.f);
    start.f[0] = loss;
    double t = L->t;
    ls_point prev = start, cur, br[2] = {start, start};
    NST__TRY(trial(ctx, pass, L, dd, t, &cur));
    /* bracket an interval containing a point satisfying the strong Wolfe conditions */
    int ls_iter = 0, n_br = 0;
    bool done = false;
    while (ls_iter < max_ls) {
        if (cur.f[0] > loss + c1 * t * gtd || (ls_iter > 1 && cur.f[0] >= prev.f[0])) {
            br[0] = prev, br[1] = cur, n_br = 2;
            break;
        }
        if (fabs(cur.gtd) <= -c2 * gtd) {
            br[0] = cur, n_br = 1, done = true;
            break;
        }
        if (cur.gtd >= 0) {
            br[0] = prev, br[1] = cur, n_br = 2;
            break;
        }
        if (L->cancel && *L->cancel) { /* stop at the lower of the start and this trial */
            br[0] = cur.f[0] <= start.f[0] ? cur : start, n_br = 1, done = true;
            break;
        }
        const double bounds[2] = {t + 0.01 * (t - prev.t), t * 10};
        t = cubic_interpolate(prev.t, prev.f[0], prev.gtd, t, cur.f[0], cur.gtd, bounds);
        prev = cur;
        NST__TRY(keep(ctx, L, &prev, 1));
        NST__TRY(trial(ctx, pass, L, dd, t, &cur));
        ls_iter++;
    }
    if (ls_iter == max_ls)
        br[0] = start, br[1] = cur, n_br = 2;
    /* zoom: refine the bracket until a point meets the conditions */
    bool insuf_progress = false;
    int low = n_br == 2 && !(br[0].f[0] <= br[1].f[0]) ? 1 : 0, high = 1 - low;
    double d_norm = -1.0; /* max |d|, read back when first needed */
    while (!done && ls_iter < max_ls) {
        if (L->cancel && *L->cancel) /* stop at the bracket's lower end */
            break;
        if (d_norm < 0)
            NST__TRY(max_abs(ctx, pass, &L->d, &d_norm));
        if (fabs(br[1].t - br[0].t) * d_norm < tolerance_change)
            break;
        t = cubic_interpolate(br[0].t, br[0].f[0], br[0].gtd, br[1].t, br[1].f[0], br[1].gtd, NULL);
        /* too close to an end: after insufficient progress, or on an end, move 0.1 of the
           bracket inside */
        const double hi = fmax(br[0].t, br[1].t), lo = fmin(br[0].t, br[1].t);
        const double eps = 0.1 * (hi - lo);
        if (fmin(hi - t, t - lo) < eps) {
            if (insuf_progress || t >= hi || t <= lo) {
                t = fabs(t - hi) < fabs(t - lo) ? hi - eps : lo + eps;
                insuf_progress = false;
            } else {
                insuf_progress = true;
            }
        } else {
            insuf_progress = false;
        }
        NST__TRY(keep(ctx, L, br, 2));
        NST__TRY(trial(ctx, pass, L, dd, t, &cur));
        ls_iter++;
        if (cur.f[0] > loss + c1 * t * gtd || cur.f[0] >= br[low].f[0]) {
            br[high] = cur; /* not sufficiently lower: the new high end */
            low = br[0].f[0] <= br[1].f[0] ? 0 : 1, high = 1 - low;
        } else {
            if (fabs(cur.gtd) <= -c2 * gtd)
                done = true;
            else if (cur.gtd * (br[high].t - br[low].t) >= 0)
                br[high] = br[low]; /* the old low becomes the high end */
            br[low] = cur;
        }
    }
    const ls_point *a = &br[low];
    memcpy(L->f, a->f, sizeof L->f);
    L->t = a->t;
    if (a->g == G_LIVE) /* the last evaluation's: x and g are there already */
        return NST_OK;
    NST__TRY(scale(ctx, point_grad(L, a->g), L->g, 1.0));
    NST__TRY(scale(ctx, &L->x0, L->x, 1.0));
    return axpy(ctx, &L->d, L->x, a->t);
}

nst_status nst__lbfgs_step(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double loss,
                           bool *done) {
    const bool rec = recording(pass);
    *done = false;
    L->evals = 0;
    double m = 0.0;
    if (L->tolerance_grad >= 0) {
        NST__TRY(max_abs(ctx, pass, L->g, &m));
        if (!rec && m <= L->tolerance_grad)
            return *done = true, NST_OK;
    }
    if (L->n_iter > 0 && L->tolerance_change >= 0) {
        NST__TRY(max_abs(ctx, pass, &L->d, &m));
        if (!rec && (m * fabs(L->t) <= L->tolerance_change ||
                     fabs(loss - L->prev_loss) < L->tolerance_change))
            return *done = true, NST_OK;
    }
    double l1 = 1.0;
    if (L->n_iter == 0 || rec) {
        NST__TRY(nst__l1_norm(ctx, pass, L->g, &L->tmp, &L->scalar[1], &l1));
        NST__TRY(scale(ctx, L->g, &L->d, -1.0));
        L->num_old = 0, L->first = 0, L->h_diag = 1.0;
    }
    if (L->n_iter > 0 || rec) {
        if (rec) /* one pair, so that the recursion's ops are recorded */
            L->num_old = 0;
        NST__TRY(direction(ctx, pass, L));
    }
    NST__TRY(scale(ctx, L->g, &L->prev_g, 1.0));
    L->prev_loss = loss;
    L->t = L->n_iter == 0 ? fmin(1.0, 1.0 / l1) * L->lr : L->lr;
    double gg, dd, gtd;
    NST__TRY(norm2(ctx, pass, L, L->g, &gg));
    NST__TRY(norm2(ctx, pass, L, &L->d, &dd));
    NST__TRY(dot(ctx, pass, L, L->g, gg, &L->d, dd, &gtd));
    L->n_iter++;
    if (!rec && gtd > -L->tolerance_change)
        return *done = true, NST_OK;
    if (L->strong_wolfe)
        return strong_wolfe(ctx, pass, L, loss, gtd, dd);
    return axpy(ctx, &L->d, L->x, L->t);
}

void nst__lbfgs_free(nst__lbfgs *L) {
    if (!L)
        return;
    free(L->ro);
    if (L->owns_vectors)
        free(L->ys);
    L->ys = L->ss = NULL;
    L->owns_vectors = false;
    L->ro = L->al = L->ynorm2 = L->snorm2 = NULL;
}
