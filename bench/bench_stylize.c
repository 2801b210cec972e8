/* Fast-style benchmark: ms per frame of the TransformerNet stylizer
 * (src/host/networks/transformer.c) on the CPU (or --device cuda), median of several runs after
 * warm-up, printed with its spread (min..max, interquartile range), plus the memory plan of that
   * size.
 *
 *   build/bench_stylize --model M.safetensors [--size 768x512] [--threads N] [--batch N]
 *                       [--reps R] [--warmup W] [--device D] [--csv FILE]
 *
 * The frame is a fixed pseudo-random RGB image (timing does not depend on the pixels); one call
 * is nst_stylize_images (uint8 in and out, host copies included), divided by the batch.
 * --csv writes impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms, the columns
 * bench/peer_stylize.py (the same network in PyTorch) writes; bench/stylize_vs_torch.sh runs
 * the two alternately. Set OPENBLAS_CORETYPE on CPUs OpenBLAS does not recognise (the script
 * does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "nstyle/nstyle.h"
#include "nstyle/stylize.h"

typedef struct {
    nst_stylizer *s;
    const uint8_t *in;
    uint8_t *out;
    int n, w, h;
} run_args;

static int run_once(void *user) {
    run_args *r = user;
    return nst_stylize_images(r->s, r->in, r->n, r->w, r->h, r->out) != NST_OK;
}

static const char usage[] = "usage: bench_stylize --model M.safetensors [--size WxH] "
                            "[--threads N] [--batch N] [--reps R] [--warmup W] [--device D] "
                            "[--csv FILE]";

int main(int argc, char **argv) {
    const char *model = NULL, *device = "cpu";
    bench_size size = {768, 512};
    int batch = 1;
    bench_run_opts run = {.threads = 0, .reps = 5, .warmup = 1, .csv = NULL};
    const bench_opt opts[] = {{"--model", BENCH_OPT_STRING, &model, 0},
                              {"--size", BENCH_OPT_SIZE, &size, 0},
                              {"--batch", BENCH_OPT_INT, &batch, 0},
                              {"--device", BENCH_OPT_STRING, &device, 0}, BENCH_RUN_OPTS(run)};
    if (bench_parse_args(argc, argv, opts, BENCH_N_OPTS(opts), usage))
        return 2;
    const int w = size.w, h = size.h;
    if (!model || batch < 1 || run.reps < 1 || run.warmup < 0)
        return bench_usage(usage);
    nst_ctx *ctx = bench_ctx_open("bench_stylize", device, run.threads, 0);
    nst_stylizer *s = NULL;
    if (!ctx)
        return 1;
    if (nst_stylizer_open(ctx, model, &s) != NST_OK) {
        fprintf(stderr, "bench_stylize: %s\n", nst_last_error(ctx));
        return 1;
    }
    const size_t n = (size_t)batch * w * h * 3;
    uint8_t *in = malloc(n), *out = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; in && i < n; i++) { /* xorshift64 */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        in[i] = (uint8_t)(x >> 56);
    }
    run_args r = {s, in, out, batch, w, h};
    bench_stats st;
    if (!in || !out || bench_time(run_once, &r, run.warmup, run.reps, run.reps, 0.0, &st) != 0) {
        fprintf(stderr, "bench_stylize: %s\n", nst_last_error(ctx));
        return 1;
    }
    const nst_plan_summary p = nst_plan_get_summary(nst_stylizer_current_plan(s));
    const int nthreads = run.threads > 0 ? run.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    const double k = 1e3 / batch;
    bench_print_tracker_peak(ctx);
    printf("nstyle %dx%d batch %d, %d threads on %s: %.1f ms per frame (min %.1f, max %.1f, "
           "IQR %.1f..%.1f, %d runs); plan %.1f MiB (sum of buffers %.1f MiB)\n", w, h, batch,
           nthreads, nst_ctx_device_name(ctx), k * st.median, k * st.min, k * st.max, k * st.q1,
           k * st.q3, st.n, p.total_bytes / 1048576.0, p.sum_bytes / 1048576.0);
    if (run.csv) {
        FILE *f = bench_csv_open(run.csv, "w", "impl,size,batch,threads,reps,median_ms,min_ms,"
                                               "q1_ms,q3_ms,max_ms");
        if (!f)
            return 1;
        fprintf(f, "nstyle,%dx%d,%d,%d,%d,", w, h, batch, nthreads, st.n);
        bench_csv_stats(f, &st, k);
        fclose(f);
    }
    free(in);
    free(out);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
    return 0;
}
