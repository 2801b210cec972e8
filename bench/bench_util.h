/* What the benchmark programs in bench/ share (header-only, static inline, so the CMake glob
 * builds each bench_*.c on its own; plain C that also compiles as C++, for the CUDA benchmarks'
 * bench_gpu_util.cuh): a monotonic clock, repeated timing with warm-up (and an untimed step
 * before each run), order statistics (median, quartiles, min, max) of the repeats, the
 * command-line options of a table, the context a benchmark runs on, and the CSV output. The
 * benchmarks that include it are its tests: they build in every configuration (the CUDA ones
 * where CUDA is on) and run by hand, from the bench/..._vs_torch.sh scripts and from
 * scripts/gpu-check.sh. Benchmarks measure; tests never time. */
#ifndef NSTYLE_BENCH_UTIL_H
#define NSTYLE_BENCH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nstyle/memory.h"
#include "nstyle/nstyle.h"

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

/* Runs prepare (untimed; may be NULL) then fn, `warmup` times untimed, then times fn at least
 * min_reps times and until target_s seconds (prepares included) have passed or max_reps runs
 * are done, prepare before each. Returns nonzero when either fails. */
static inline int bench_time_prepared(bench_fn prepare, bench_fn fn, void *user, int warmup,
                                      int min_reps, int max_reps, double target_s,
                                      bench_stats *out) {
    for (int i = 0; i < warmup; i++)
        if ((prepare && prepare(user)) || fn(user))
            return 1;
    double *t = (double *)malloc((size_t)max_reps * sizeof *t);
    if (!t)
        return 1;
    int n = 0;
    double start = bench_now();
    while (n < max_reps && (n < min_reps || bench_now() - start < target_s)) {
        if (prepare && prepare(user)) {
            free(t);
            return 1;
        }
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

/* bench_time_prepared with nothing to prepare. */
static inline int bench_time(bench_fn fn, void *user, int warmup, int min_reps, int max_reps,
                             double target_s, bench_stats *out) {
    return bench_time_prepared(NULL, fn, user, warmup, min_reps, max_reps, target_s, out);
}

/* ---- command-line options -------------------------------------------------------------------
 * A benchmark lists its options in a table; every argument must be an option's name, followed
 * by its value unless the option is a flag. */
typedef enum {
    BENCH_OPT_INT,    /* --name N: atoi into an int */
    BENCH_OPT_DOUBLE, /* --name X: atof into a double */
    BENCH_OPT_STRING, /* --name S: the argument itself into a const char * */
    BENCH_OPT_SIZE,   /* --name WxH: two ints into a bench_size */
    BENCH_OPT_SET     /* --name: stores `value` into an int (a flag) */
} bench_opt_kind;

typedef struct {
    int w, h;
} bench_size;

typedef struct {
    const char *name; /* "--reps" */
    bench_opt_kind kind;
    void *out;        /* int, double, const char *, bench_size or int, by kind */
    int value;        /* BENCH_OPT_SET: what it stores */
} bench_opt;

/* The entries of a bench_opt array. */
#define BENCH_N_OPTS(opts) (sizeof(opts) / sizeof((opts)[0]))

/* The options of the benchmarks that time a whole model over repeated runs (bench_stn,
 * bench_stylize, bench_train), the benchmark's defaults in them before parsing. */
typedef struct {
    int threads;     /* --threads N: the ops' threads (0: all) */
    int reps;        /* --reps R: timed runs */
    int warmup;      /* --warmup W: untimed runs first */
    const char *csv; /* --csv FILE: where the row goes (NULL: nowhere) */
} bench_run_opts;

/* The bench_opt entries of r's fields, for a table. */
#define BENCH_RUN_OPTS(r)                                                                     \
    {"--threads", BENCH_OPT_INT, &(r).threads, 0}, {"--reps", BENCH_OPT_INT, &(r).reps, 0},   \
        {"--warmup", BENCH_OPT_INT, &(r).warmup, 0}, {"--csv", BENCH_OPT_STRING, &(r).csv, 0}

/* Prints usage (one line, without its newline) to stderr; returns 2, the exit status. */
static inline int bench_usage(const char *usage) {
    fprintf(stderr, "%s\n", usage);
    return 2;
}

/* Parses argv[1 .. argc-1] against the n options of opts. Every entry that bears an
 * argument's name applies, in table order (so one flag may set several ints); later arguments
 * overwrite earlier ones. Returns 0, or bench_usage(usage) for an unknown option, a missing value
 * or a size that is not WxH. */
static inline int bench_parse_args(int argc, char **argv, const bench_opt *opts, size_t n,
                                   const char *usage) {
    for (int i = 1; i < argc; i++) {
        bool known = false, takes_value = false;
        for (size_t k = 0; k < n; k++)
            if (strcmp(argv[i], opts[k].name) == 0)
                known = true, takes_value |= opts[k].kind != BENCH_OPT_SET;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!known || (takes_value && !v))
            return bench_usage(usage);
        for (size_t k = 0; k < n; k++) {
            if (strcmp(argv[i], opts[k].name) != 0)
                continue;
            switch (opts[k].kind) {
            case BENCH_OPT_INT:
                *(int *)opts[k].out = atoi(v);
                break;
            case BENCH_OPT_DOUBLE:
                *(double *)opts[k].out = atof(v);
                break;
            case BENCH_OPT_STRING:
                *(const char **)opts[k].out = v;
                break;
            case BENCH_OPT_SIZE: {
                bench_size *s = (bench_size *)opts[k].out;
                if (sscanf(v, "%dx%d", &s->w, &s->h) != 2)
                    return bench_usage(usage);
                break;
            }
            case BENCH_OPT_SET:
                *(int *)opts[k].out = opts[k].value;
                break;
            }
        }
        i += takes_value;
    }
    return 0;
}

/* ---- context and output -------------------------------------------------------------------- */

/* A context on `device` (NULL: the default, the CPU) whose ops use `threads` threads (0: all),
 * owning `scratch` bytes of op scratch when scratch > 0 (touched as used). NULL on failure, the
 * reason printed after "prog: ". */
static inline nst_ctx *bench_ctx_open(const char *prog, const char *device, int threads,
                                      size_t scratch) {
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        fprintf(stderr, "%s: cannot create a context (out of memory)\n", prog);
        return NULL;
    }
    if ((device && nst_ctx_set_device(ctx, device) != NST_OK) ||
        (scratch && nst_ctx_reserve_scratch(ctx, scratch) != NST_OK)) {
        fprintf(stderr, "%s: %s\n", prog, nst_last_error(ctx));
        nst_ctx_destroy(ctx);
        return NULL;
    }
    nst_ctx_set_threads(ctx, threads);
    return ctx;
}

/* One line with the context's tracker peak, the most bytes allocated at once on its device (the
 * JSON summary's memory.peak_bytes.total): scripts/timing-charts.sh reads it on a GPU. */
static inline void bench_print_tracker_peak(nst_ctx *ctx) {
    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    printf("tracker peak %zu bytes on %s\n", snap.peak_total, nst_ctx_device_name(ctx));
}

/* The CSV file at path opened with mode ("w", "a"), the header line written when header is not
 * NULL; NULL when it cannot be opened, the reason printed. */
static inline FILE *bench_csv_open(const char *path, const char *mode, const char *header) {
    FILE *f = fopen(path, mode);
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (header)
        fprintf(f, "%s\n", header);
    return f;
}

/* The CSV columns median,min,q1,q3,max of s, each times scale (1e3: milliseconds), with the
 * line's end. */
static inline void bench_csv_stats(FILE *f, const bench_stats *s, double scale) {
    fprintf(f, "%.3f,%.3f,%.3f,%.3f,%.3f\n", scale * s->median, scale * s->min, scale * s->q1,
            scale * s->q3, scale * s->max);
}

#endif
