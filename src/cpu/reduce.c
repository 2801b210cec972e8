/* CPU reductions: sum and mean of every element of an F32 tensor (any rank) into y, shape (1).
 * Semantics: torch.sum / torch.mean over all elements (mean of an empty tensor is NaN, as in
 * PyTorch). Accumulation is in double over a fixed split into at most REDUCE_BLOCKS contiguous
 * blocks (each summed by 8 interleaved accumulators) added in block order, so the result is the
 * same whatever the thread count.
 * Tested by tests/test_cpu_reduce.c (plain double loops, and sums whose exact value is known). */
#include <math.h>

#include "cpu_ops.h"

#define REDUCE_BLOCKS 256
/* Below this many elements the work runs on one thread. */
#define REDUCE_PARALLEL_MIN 65536

/* Sum of x[0..n) in double, deterministic for any thread count. */
static double sum_f64(nst_ctx *ctx, const float *x, int64_t n) {
    const int64_t block = (n + REDUCE_BLOCKS - 1) / REDUCE_BLOCKS;
    double part[REDUCE_BLOCKS] = {0};
#pragma omp parallel for num_threads(nst__cpu_threads(ctx)) schedule(static) \
    if (n > REDUCE_PARALLEL_MIN)
    for (int b = 0; b < REDUCE_BLOCKS; b++) {
        const int64_t lo = b * block, hi = lo + block < n ? lo + block : n;
        /* 8 interleaved accumulators break the add latency chain and vectorise; they are
         * combined in a fixed order */
        double acc[8] = {0};
        int64_t i = lo;
        for (; i + 8 <= hi; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += x[i + j];
        for (; i < hi; i++)
            acc[0] += x[i];
        part[b] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
    double total = 0.0;
    for (int b = 0; b < REDUCE_BLOCKS; b++)
        total += part[b];
    return total;
}

nst_status nst__cpu_reduce_sum(nst_ctx *ctx, const void *params) {
    const nst_reduce_params *p = params;
    const float *x = p->x->data; // any shape
    float *y = p->y->data;       // (1)
    y[0] = (float)sum_f64(ctx, x, nst_tensor_numel(p->x));
    return NST_OK;
}

nst_status nst__cpu_reduce_mean(nst_ctx *ctx, const void *params) {
    const nst_reduce_params *p = params;
    const float *x = p->x->data; // any shape
    float *y = p->y->data;       // (1)
    const int64_t n = nst_tensor_numel(p->x);
    y[0] = n > 0 ? (float)(sum_f64(ctx, x, n) / (double)n) : NAN;
    return NST_OK;
}
