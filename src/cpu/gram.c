/* CPU Gram matrix, forward and backward.
 *
 * Semantics: for each image n, with F the (H*W, C) feature map (NHWC memory is already that
 * matrix, row-major), G = F^T F / (C*H*W), the normalisation of Gatys et al. as written in
 * PyTorch: `f = x.view(C, H*W); f @ f.t() / (C*H*W)`.
 * Backward: G is quadratic in F, so dF = F (dG + dG^T) / (C*H*W); dG need not be symmetric.
 *
 * Both directions go through OpenBLAS in fp32, single-threaded calls inside OpenMP threads: the
 * forward is an ssyrk per fixed piece of rows (the upper triangle; partials added in piece order,
 * then mirrored), the backward an sgemm against the symmetrised dG per slice of rows. Scratch (the
 * partials, the symmetrised dG) comes from the caller's region (nst__cpu_gram_scratch). Measured on the
 * build machine (2 cores, OpenBLAS, median of 5): for 256x256x64, 128x128x256 and 512x512x64
 * maps ssyrk takes 19, 24 and 54 ms against 78, 284 and 293 ms for plain loops with double
 * accumulation (and 15, 37, 96 ms for sgemm), at a relative error of at most ~2e-6 against a
 * float64 Gram, well inside the losses' needs.
 *
 * Tested by tests/test_cpu_gram.c (naive double loops, finite differences, PyTorch goldens). */
#include <cblas.h>

#include "cpu_ops.h"

/* The forward sums the (H*W) rows in GRAM_CHUNKS fixed pieces (fewer for small maps), each a
 * single-threaded ssyrk into its own partial Gram, then adds the partials in piece order: the
 * same bits on any thread count. Rows per piece at least GRAM_MIN_ROWS. */
#define GRAM_CHUNKS 8
#define GRAM_MIN_ROWS 512

static int gram_chunks(int64_t hw) {
    int64_t k = hw / GRAM_MIN_ROWS;
    return k < 1 ? 1 : (k > GRAM_CHUNKS ? GRAM_CHUNKS : (int)k);
}

size_t nst__cpu_gram_scratch(nst_ctx *ctx, nst_op op, const void *params) {
    (void)ctx;
    const nst_gram_params *p = params;
    const size_t c = (size_t)p->x->shape[3];
    const int64_t hw = p->x->shape[1] * p->x->shape[2];
    if (op == NST_OP_GRAM_BACKWARD) /* the symmetrised gradient */
        return nst__scratch_bytes(c * c * sizeof(float));
    const int k = gram_chunks(hw);
    return k > 1 ? nst__scratch_bytes((size_t)k * c * c * sizeof(float)) : 0;
}

nst_status nst__cpu_gram_forward(nst_ctx *ctx, const void *params) {
    const nst_gram_params *p = params;
    const int64_t n = p->x->shape[0];
    const int c = (int)p->x->shape[3];
    const int hw = (int)(p->x->shape[1] * p->x->shape[2]);
    const float alpha = (float)(1.0 / ((double)c * (double)hw));
    const float *x = p->x->data; // (N, H*W, C)
    float *g = p->g->data;       // (N, C, C)
    if (c == 0)
        return NST_OK; /* BLAS refuses leading dimension 0 */
    const int k = gram_chunks(hw);
    const int64_t cc = (int64_t)c * c;
    float *part = NULL; // (k, C, C) upper triangles, when k > 1
    if (k > 1)
        NST__TRY(nst__cpu_scratch(ctx, "gram_forward", "partial Gram matrices",
                                  (size_t)k * (size_t)cc * sizeof *part, false, (void **)&part));
    const int nt = nst__cpu_threads(ctx);
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * (int64_t)hw * c;
        float *gb = g + b * cc;
        if (hw == 0) {
            for (int64_t i = 0; i < cc; i++)
                gb[i] = 0.0f;
            continue;
        }
        if (k == 1) {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, c, hw, alpha, xb, c, 0.0f, gb, c);
        } else {
#pragma omp parallel for num_threads(nt < k ? nt : k) schedule(static)
            for (int j = 0; j < k; j++) {
                const int r0 = (int)((int64_t)hw * j / k), r1 = (int)((int64_t)hw * (j + 1) / k);
                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, c, r1 - r0, alpha,
                            xb + (int64_t)r0 * c, c, 0.0f, part + j * cc, c);
            }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && cc > 65536)
            for (int i = 0; i < c; i++)
                for (int jj = i; jj < c; jj++) {
                    float sum = 0.0f;
                    for (int j = 0; j < k; j++) /* in piece order */
                        sum += part[j * cc + (int64_t)i * c + jj];
                    gb[(int64_t)i * c + jj] = sum;
                }
        }
        for (int i = 1; i < c; i++) /* mirror the upper triangle */
            for (int j = 0; j < i; j++)
                gb[(int64_t)i * c + j] = gb[(int64_t)j * c + i];
    }
    return NST_OK;
}

nst_status nst__cpu_gram_backward(nst_ctx *ctx, const void *params) {
    const nst_gram_params *p = params;
    const int64_t n = p->x->shape[0];
    const int c = (int)p->x->shape[3];
    const int hw = (int)(p->x->shape[1] * p->x->shape[2]);
    if (hw == 0 || c == 0 || n == 0)
        return NST_OK;
    const float alpha = (float)(1.0 / ((double)c * (double)hw));
    const float *x = p->x->data;   // (N, H*W, C)
    const float *dg = p->dg->data; // (N, C, C)
    float *dx = p->dx->data;       // (N, H*W, C)
    float *sym = NULL;             // (C, C) dG + dG^T
    NST__TRY(nst__cpu_scratch(ctx, "gram_backward", "the symmetrised gradient",
                              (size_t)c * (size_t)c * sizeof *sym, false, (void **)&sym));
    const int nt = nst__cpu_threads(ctx);
    const float beta = p->accumulate ? 1.0f : 0.0f;
    for (int64_t b = 0; b < n; b++) {
        const float *dgb = dg + b * (int64_t)c * c;
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
                sym[(int64_t)i * c + j] = dgb[(int64_t)i * c + j] + dgb[(int64_t)j * c + i];
        /* rows of dx split over threads, each a single-threaded sgemm: no sums are shared */
        const int parts = hw / GRAM_MIN_ROWS < nt ? (hw / GRAM_MIN_ROWS > 0 ? hw / GRAM_MIN_ROWS : 1)
                                                  : nt;
#pragma omp parallel for num_threads(parts) schedule(static) if (parts > 1)
        for (int j = 0; j < parts; j++) {
            const int r0 = (int)((int64_t)hw * j / parts), r1 = (int)((int64_t)hw * (j + 1) / parts);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, c, c, alpha,
                        x + (b * (int64_t)hw + r0) * c, c, sym, c, beta,
                        dx + (b * (int64_t)hw + r0) * c, c);
        }
    }
    return NST_OK;
}
