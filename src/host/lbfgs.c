/* L-BFGS on one tensor (src/host/lbfgs.h), torch.optim.LBFGS's algorithm with
 * line_search_fn=None, one iteration per call:
 *   y = g - g_prev, s = t d; the pair is kept when y.s > 1e-10 (the oldest dropped past m),
 *   H_diag = y.s / y.y; the two-loop recursion from q = -g gives d; the step length is
 *   lr * min(1, 1 / |g|_1) the first time and lr after; x += t d. Stops (instead of stepping)
 *   when max |g| <= tolerance_grad, when g.d > -tolerance_change, and after a step when
 *   max |t d| <= tolerance_change or |loss - previous loss| < tolerance_change.
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

#include "internal.h"
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

/* |g|_1 = sum(2 clamp(g, 0, inf) - g), with tmp as the scratch vector. */
static nst_status l1_norm(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double *out) {
    nst_clamp_params c = {.x = L->g, .y = &L->tmp, .lo = 0.0f, .hi = FLT_MAX};
    NST__TRY(nst_clamp(ctx, &c));
    NST__TRY(scale(ctx, &L->tmp, &L->tmp, 2.0));
    NST__TRY(axpy(ctx, L->g, &L->tmp, -1.0));
    nst_reduce_params r = {.x = &L->tmp, .y = &L->scalar[1]};
    NST__TRY(nst_reduce_sum(ctx, &r));
    return read_scalar(ctx, pass, &L->scalar[1], out);
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

nst_status nst__lbfgs_declare(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *x,
                              const nst_tensor *g, int history, nst__lbfgs *L) {
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
#undef VEC
    for (int i = 0; i < 3; i++)
        NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_OPTIMISER, NST_F32, 1, (const int64_t[]){1}, P,
                                     "lbfgs scalar", &L->scalar[i]));
    return NST_OK;
}

nst_status nst__lbfgs_reset(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L) {
    L->n_iter = L->num_old = L->first = 0;
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

nst_status nst__lbfgs_step(nst_ctx *ctx, nst_mem_pass *pass, nst__lbfgs *L, double loss,
                           bool *done) {
    const bool rec = recording(pass);
    *done = false;
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
        NST__TRY(l1_norm(ctx, pass, L, &l1));
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
