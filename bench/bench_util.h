/* Timing helpers shared by the benchmark programs in bench/ (header-only, static inline, so the
 * CMake glob builds each bench_*.c on its own): a monotonic clock, repeated timing with warm-up,
 * and order statistics (median, quartiles, min, max) of the repeats. Benchmarks measure; tests
 * never time. */
#ifndef NSTYLE_BENCH_UTIL_H
#define NSTYLE_BENCH_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Order statistics of n timings, in seconds. */
typedef struct {
    int n;
    double min, q1, median, q3, max;
} bench_stats;

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (numpy's default percentile). */
static inline double bench_quantile(const double *sorted, int n, double q) {
    double pos = q * (double)(n - 1);
    int i = (int)pos;
    if (i >= n - 1)
        return sorted[n - 1];
    return sorted[i] + (pos - (double)i) * (sorted[i + 1] - sorted[i]);
}

/* Sorts t in place and summarises it. n >= 1. */
static inline bench_stats bench_summarise(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
    bench_stats s = {n, t[0], bench_quantile(t, n, 0.25), bench_quantile(t, n, 0.5),
                     bench_quantile(t, n, 0.75), t[n - 1]};
    return s;
}

/* One timed call; returns nonzero on failure, which stops the timing. */
typedef int (*bench_fn)(void *user);

/* Runs fn `warmup` times untimed, then times it at least min_reps times and until target_s
 * seconds have passed or max_reps runs are done. Returns nonzero when fn fails. */
static inline int bench_time(bench_fn fn, void *user, int warmup, int min_reps, int max_reps,
                             double target_s, bench_stats *out) {
    for (int i = 0; i < warmup; i++)
        if (fn(user))
            return 1;
    double *t = malloc((size_t)max_reps * sizeof *t);
    if (!t)
        return 1;
    int n = 0;
    double start = bench_now();
    while (n < max_reps && (n < min_reps || bench_now() - start < target_s)) {
        double t0 = bench_now();
        if (fn(user)) {
            free(t);
            return 1;
        }
        t[n++] = bench_now() - t0;
    }
    *out = bench_summarise(t, n);
    free(t);
    return 0;
}

#endif
