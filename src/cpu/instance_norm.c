/* CPU instance normalisation, forward and backward, NHWC.
 * Semantics: PyTorch nn.InstanceNorm2d(C, eps, affine) in training mode (statistics of the input
 * itself, no running stats): over each (n, c) plane of M = H*W pixels
 *     mean = sum(x) / M,  var = sum((x - mean)^2) / M (biased),  rstd = 1 / sqrt(var + eps)
 *     y = (x - mean) * rstd * gamma[c] + beta[c]      (gamma = 1, beta = 0 when NULL)
 * Forward saves mean and rstd (N, C) for backward (either may be NULL when no backward follows).
 * Backward, with xhat = (x - mean) * rstd and per-plane sums S1 = sum(dy), S2 = sum(dy * xhat):
 *     dx = gamma * rstd * (dy - S1 / M - xhat * S2 / M)
 *     dgamma[c] = sum over n of S2,  dbeta[c] = sum over n of S1
 * dx, dgamma, dbeta may each be NULL (skipped); dx is overwritten, dgamma/dbeta are added to when
 * `accumulate` is set. Plane statistics are accumulated in double in one pass: the sums of
 * x - x0 and (x - x0)^2 with x0 the plane's first pixel (shifted data: no loss to a large mean).
 *
 * Work layout: each image's pixels are split into NORM_CHUNKS contiguous chunks; a work item is
 * one (image, chunk) and walks its pixels in memory order with the C channels innermost, adding
 * into C double partial sums. The partials are then combined chunk by chunk in a fixed order, so
 * the result does not depend on the thread count, and even one image keeps every thread busy.
 * Conditional instance norm (cond_instance_norm_*) is the same computation with per-image
 * parameters: gamma, beta (N, C), as a style vector's projection gives them, and dgamma, dbeta
 * (N, C) the per-plane sums S2, S1 themselves (no sum over images).
 * Tested by tests/test_cpu_instance_norm.c (naive loops, finite differences, PyTorch goldens in
 * tests/golden/nn_ops.safetensors) and tests/test_cpu_cond_instance_norm.c (PyTorch goldens in
 * tests/golden/light_ops.safetensors, finite differences); timed by bench/bench_cpu_nn.c. */
#include <math.h>

#include "cpu_ops.h"

#define NORM_CHUNKS 16
/* Below this many elements the work runs on one thread. */
#define NORM_PARALLEL_MIN 32768

typedef struct {
    int64_t N, M, C; /* images, pixels per plane, channels */
} dims3;

/* Pixel range [lo, hi) of chunk p of M pixels. */
static inline void chunk_range(int64_t M, int64_t p, int64_t *lo, int64_t *hi) {
    *lo = M * p / NORM_CHUNKS;
    *hi = M * (p + 1) / NORM_CHUNKS;
}

/* part (N, NORM_CHUNKS, C) -> out (N, C): out[n, c] = sum over chunks, in chunk order. */
static void combine_chunks(const double *part, int64_t N, int64_t C, double *out) {
    for (int64_t n = 0; n < N; n++) {
        double *o = out + n * C;
        for (int64_t c = 0; c < C; c++)
            o[c] = 0.0;
        for (int p = 0; p < NORM_CHUNKS; p++) {
            const double *s = part + (n * NORM_CHUNKS + p) * C;
            for (int64_t c = 0; c < C; c++)
                o[c] += s[c];
        }
    }
}

/* ---- forward ----------------------------------------------------------------------------- */

static dims3 dims_of(const nst_tensor *x) {
    return (dims3){x->shape[0], x->shape[1] * x->shape[2], x->shape[3]};
}

/* Scratch of the forward: chunk partials, double mean and variance, float mean/scale/shift;
 * of the backward: chunk partials of S1 and S2, their totals, float k1/m1/m2. */
static size_t forward_scratch(dims3 d) {
    const int64_t NC = d.N * d.C;
    return (size_t)(2 * d.N * NORM_CHUNKS * d.C + 2 * NC) * sizeof(double) +
           (size_t)(3 * NC) * sizeof(float);
}

static size_t backward_scratch(dims3 d) {
    const int64_t NC = d.N * d.C;
    return (size_t)(2 * d.N * NORM_CHUNKS * d.C + 2 * NC) * sizeof(double) +
           (size_t)(3 * NC) * sizeof(float);
}

size_t nst__cpu_instance_norm_scratch(nst_ctx *ctx, nst_op op, const void *params) {
    (void)ctx;
    const nst_instance_norm_params *p = params;
    const dims3 d = dims_of(p->x);
    const bool fwd = op == NST_OP_INSTANCE_NORM_FORWARD || op == NST_OP_COND_INSTANCE_NORM_FORWARD;
    return nst__scratch_bytes(fwd ? forward_scratch(d) : backward_scratch(d));
}

/* The per-chunk loops, compiled for AVX-512, for AVX2 and for the baseline ISA and picked by the
 * CPU's features (the sums run across channels, C wide, in double; no multiply-add is fused in
 * ISO C, so every variant gives the same bits). */
#define NST__NORM_LOOPS(SUFFIX, ATTR)                                                           \
    /* s1[c] = sum(x - shift), s2[c] = sum((x - shift)^2) over pixels lo..hi of one image */    \
    ATTR static void chunk_sums_##SUFFIX(const float *x, int64_t lo, int64_t hi, int64_t C,     \
                                         const float *shift, double *s1, double *s2) {          \
        for (int64_t c = 0; c < C; c++)                                                         \
            s1[c] = s2[c] = 0.0;                                                                \
        for (int64_t q = lo; q < hi; q++) {                                                     \
            const float *px = x + q * C; /* (C) */                                              \
            for (int64_t c = 0; c < C; c++) {                                                   \
                const double v = (double)px[c] - (double)shift[c];                              \
                s1[c] += v;                                                                     \
                s2[c] += v * v;                                                                 \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    /* y = (x - mean) * scale + shift over pixels lo..hi of one image */                        \
    ATTR static void chunk_normalize_##SUFFIX(const float *x, int64_t lo, int64_t hi,           \
                                              int64_t C, const float *mu, const float *sc,      \
                                              const float *sh, float *y) {                      \
        for (int64_t q = lo; q < hi; q++) {                                                     \
            const float *px = x + q * C; /* (C) */                                              \
            float *py = y + q * C;       /* (C) */                                              \
            for (int64_t c = 0; c < C; c++)                                                     \
                py[c] = (px[c] - mu[c]) * sc[c] + sh[c];                                        \
        }                                                                                       \
    }

NST__NORM_LOOPS(base, )
#if defined(__x86_64__) && defined(__GNUC__)
NST__NORM_LOOPS(avx2, __attribute__((target("avx2"))))
NST__NORM_LOOPS(avx512, __attribute__((target("avx512f"))))
#endif

static void chunk_sums(const float *x, int64_t lo, int64_t hi, int64_t C, const float *shift,
                       double *s1, double *s2) {
#if defined(__x86_64__) && defined(__GNUC__)
    switch (nst__cpu_simd()) {
    case NST__CPU_SIMD_AVX512:
        chunk_sums_avx512(x, lo, hi, C, shift, s1, s2);
        return;
    case NST__CPU_SIMD_AVX2:
        chunk_sums_avx2(x, lo, hi, C, shift, s1, s2);
        return;
    default:
        break;
    }
#endif
    chunk_sums_base(x, lo, hi, C, shift, s1, s2);
}

static void chunk_normalize(const float *x, int64_t lo, int64_t hi, int64_t C, const float *mu,
                            const float *sc, const float *sh, float *y) {
#if defined(__x86_64__) && defined(__GNUC__)
    switch (nst__cpu_simd()) {
    case NST__CPU_SIMD_AVX512:
        chunk_normalize_avx512(x, lo, hi, C, mu, sc, sh, y);
        return;
    case NST__CPU_SIMD_AVX2:
        chunk_normalize_avx2(x, lo, hi, C, mu, sc, sh, y);
        return;
    default:
        break;
    }
#endif
    chunk_normalize_base(x, lo, hi, C, mu, sc, sh, y);
}

/* Chunk partials of S1 = sum(x - shift) and S2 = sum((x - shift)^2), one pass, with the shift
 * each plane's first pixel (the shifted-data formulas: var = (S2 - S1^2 / M) / M loses nothing
 * to a large mean, as the two-pass method would not either). x (N, M, C); shift (N, C);
 * part1, part2 (N, NORM_CHUNKS, C). */
static void partial_sums(nst_ctx *ctx, const float *x, dims3 d, const float *shift,
                         double *part1, double *part2) {
    const int64_t M = d.M, C = d.C;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (d.N * M * C > NORM_PARALLEL_MIN)
    for (int64_t item = 0; item < d.N * NORM_CHUNKS; item++) {
        const int64_t n = item / NORM_CHUNKS;
        int64_t lo, hi;
        chunk_range(M, item % NORM_CHUNKS, &lo, &hi);
        chunk_sums(x + n * M * C, lo, hi, C, shift + n * C, part1 + item * C, part2 + item * C);
    }
}

/* y = (x - mean) * scale + shift with per-(n, c) float constants, each (N, C). */
static void normalize(nst_ctx *ctx, const float *x, dims3 d, const float *mean, const float *scale,
                      const float *shift, float *y) {
    const int64_t M = d.M, C = d.C;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (d.N * M * C > NORM_PARALLEL_MIN)
    for (int64_t item = 0; item < d.N * NORM_CHUNKS; item++) {
        const int64_t n = item / NORM_CHUNKS;
        int64_t lo, hi;
        chunk_range(M, item % NORM_CHUNKS, &lo, &hi);
        chunk_normalize(x + n * M * C, lo, hi, C, mean + n * C, scale + n * C, shift + n * C,
                        y + n * M * C);
    }
}

/* per_image: gamma and beta are (N, C), else (C). */
static nst_status norm_forward(nst_ctx *ctx, const nst_instance_norm_params *p, bool per_image,
                               const char *op) {
    const dims3 d = dims_of(p->x);
    const int64_t N = d.N, C = d.C, NC = N * C;
    const float *x = p->x->data;                          // (N, H, W, C)
    const float *gamma = p->gamma ? p->gamma->data : NULL; // (C) or (N, C)
    const float *beta = p->beta ? p->beta->data : NULL;    // (C) or (N, C)
    float *mean_out = p->mean ? p->mean->data : NULL;     // (N, C)
    float *rstd_out = p->rstd ? p->rstd->data : NULL;     // (N, C)

    double *part = NULL;
    NST__TRY(nst__cpu_scratch(ctx, op, "partial sums", forward_scratch(d), false,
                              (void **)&part));
    double *part2 = part + N * NORM_CHUNKS * C;
    double *sum1 = part2 + N * NORM_CHUNKS * C, *sum2 = sum1 + NC; // (N, C) each
    float *meanf = (float *)(sum2 + NC), *scale = meanf + NC, *shift = scale + NC;

    /* the sums' shift: each plane's first pixel (N, C); then shift is beta's, below */
    float *x0 = shift;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            x0[n * C + c] = d.M > 0 ? x[n * d.M * C + c] : 0.0f;
    partial_sums(ctx, x, d, x0, part, part2);
    combine_chunks(part, N, C, sum1);
    combine_chunks(part2, N, C, sum2);
    for (int64_t i = 0; i < NC; i++) {
        const int64_t c = per_image ? i : i % C;
        const double m = (double)d.M, var = (sum2[i] - sum1[i] * sum1[i] / m) / m;
        const double rstd = 1.0 / sqrt((var > 0.0 ? var : 0.0) + (double)p->eps);
        meanf[i] = (float)((double)x0[i] + sum1[i] / m);
        scale[i] = (float)(rstd * (gamma ? gamma[c] : 1.0));
        shift[i] = beta ? beta[c] : 0.0f; /* x0[i] is read above, before this */
        if (mean_out)
            mean_out[i] = meanf[i];
        if (rstd_out)
            rstd_out[i] = (float)rstd;
    }
    normalize(ctx, x, d, meanf, scale, shift, p->y->data);
    return NST_OK;
}

nst_status nst__cpu_instance_norm_forward(nst_ctx *ctx, const void *params) {
    return norm_forward(ctx, params, false, "instance_norm_forward");
}

nst_status nst__cpu_cond_instance_norm_forward(nst_ctx *ctx, const void *params) {
    return norm_forward(ctx, params, true, "cond_instance_norm_forward");
}

/* ---- backward ---------------------------------------------------------------------------- */

/* Chunk partials of S1 = sum(dy) and S2 = sum(dy * xhat); part1, part2 (N, NORM_CHUNKS, C). */
static void partial_grad_sums(nst_ctx *ctx, const float *x, const float *dy, dims3 d,
                              const float *mean, const float *rstd, double *part1,
                              double *part2) {
    const int64_t M = d.M, C = d.C;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (d.N * M * C > NORM_PARALLEL_MIN)
    for (int64_t item = 0; item < d.N * NORM_CHUNKS; item++) {
        const int64_t n = item / NORM_CHUNKS;
        const float *mu = mean + n * C, *rs = rstd + n * C;
        int64_t lo, hi;
        chunk_range(M, item % NORM_CHUNKS, &lo, &hi);
        double *a = part1 + item * C, *b = part2 + item * C; // (C) each
        for (int64_t c = 0; c < C; c++)
            a[c] = b[c] = 0.0;
        for (int64_t q = lo; q < hi; q++) {
            const float *px = x + (n * M + q) * C, *pg = dy + (n * M + q) * C; // (C) each
            for (int64_t c = 0; c < C; c++) {
                const double g = pg[c];
                a[c] += g;
                b[c] += g * (((double)px[c] - mu[c]) * rs[c]);
            }
        }
    }
}

/* dx = k1 * (dy - m1 - xhat * m2), xhat = (x - mean) * rstd, per-(n, c) constants (N, C). */
static void input_grad(nst_ctx *ctx, const float *x, const float *dy, dims3 d, const float *mean,
                       const float *rstd, const float *k1, const float *m1, const float *m2,
                       float *dx) {
    const int64_t M = d.M, C = d.C;
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (d.N * M * C > NORM_PARALLEL_MIN)
    for (int64_t item = 0; item < d.N * NORM_CHUNKS; item++) {
        const int64_t n = item / NORM_CHUNKS, o = n * C;
        int64_t lo, hi;
        chunk_range(M, item % NORM_CHUNKS, &lo, &hi);
        for (int64_t q = lo; q < hi; q++) {
            const int64_t base = (n * M + q) * C;
            for (int64_t c = 0; c < C; c++) {
                const float xhat = (x[base + c] - mean[o + c]) * rstd[o + c];
                dx[base + c] = k1[o + c] * (dy[base + c] - m1[o + c] - xhat * m2[o + c]);
            }
        }
    }
}

static nst_status norm_backward(nst_ctx *ctx, const nst_instance_norm_params *p, bool per_image,
                                const char *op) {
    const dims3 d = dims_of(p->x);
    const int64_t N = d.N, C = d.C, NC = N * C;
    const float *x = p->x->data;                          // (N, H, W, C)
    const float *dy = p->dy->data;                        // (N, H, W, C)
    const float *mean = p->mean->data;                    // (N, C)
    const float *rstd = p->rstd->data;                    // (N, C)
    const float *gamma = p->gamma ? p->gamma->data : NULL; // (C) or (N, C)

    double *part1 = NULL;
    NST__TRY(nst__cpu_scratch(ctx, op, "partial sums", backward_scratch(d), false,
                              (void **)&part1));
    double *part2 = part1 + N * NORM_CHUNKS * C;
    double *s1 = part2 + N * NORM_CHUNKS * C, *s2 = s1 + NC; // (N, C) each
    float *k1 = (float *)(s2 + NC), *m1 = k1 + NC, *m2 = m1 + NC;

    partial_grad_sums(ctx, x, dy, d, mean, rstd, part1, part2);
    combine_chunks(part1, N, C, s1);
    combine_chunks(part2, N, C, s2);

    /* parameter gradients: the plane sums added over images, in image order */
    float *dgamma = p->dgamma ? p->dgamma->data : NULL; // (C) or (N, C)
    float *dbeta = p->dbeta ? p->dbeta->data : NULL;    // (C) or (N, C)
    for (int64_t i = 0; per_image && i < NC; i++) {
        if (dgamma)
            dgamma[i] = (float)(p->accumulate ? dgamma[i] + s2[i] : s2[i]);
        if (dbeta)
            dbeta[i] = (float)(p->accumulate ? dbeta[i] + s1[i] : s1[i]);
    }
    for (int64_t c = 0; !per_image && c < C; c++) {
        double sg = 0.0, sb = 0.0;
        for (int64_t n = 0; n < N; n++)
            sg += s2[n * C + c], sb += s1[n * C + c];
        if (dgamma)
            dgamma[c] = (float)(p->accumulate ? dgamma[c] + sg : sg);
        if (dbeta)
            dbeta[c] = (float)(p->accumulate ? dbeta[c] + sb : sb);
    }

    if (p->dx) {
        for (int64_t i = 0; i < NC; i++) {
            k1[i] = (float)((gamma ? gamma[per_image ? i : i % C] : 1.0) * rstd[i]);
            m1[i] = (float)(s1[i] / (double)d.M);
            m2[i] = (float)(s2[i] / (double)d.M);
        }
        input_grad(ctx, x, dy, d, mean, rstd, k1, m1, m2, p->dx->data);
    }
    return NST_OK;
}

nst_status nst__cpu_instance_norm_backward(nst_ctx *ctx, const void *params) {
    return norm_backward(ctx, params, false, "instance_norm_backward");
}

nst_status nst__cpu_cond_instance_norm_backward(nst_ctx *ctx, const void *params) {
    return norm_backward(ctx, params, true, "cond_instance_norm_backward");
}
