/* Gatys render benchmark: seconds per iteration of nst_render_gatys (the brief's defaults:
 * Adam lr 0.01, content relu4_2, style relu1_1..relu5_1) at one size, each iteration timed
 * from the progress callback, the first `warmup` iterations left out; the median of the rest
 * with its spread, and the memory plan of that size.
 *
 *   build/bench_render --vgg VGG19.safetensors [--size 512x512] [--threads N] [--reps R]
 *                      [--warmup W] [--device D] [--content-layers L] [--style-layers L]
 *                      [--csv FILE]
 *
 * One render of W + R iterations. The content and the style are fixed pseudo-random RGB images
 * of the same size (timing does not depend on the pixels). --csv writes
 * impl,size,threads,warmup,reps,median_s,min_s,q1_s,q3_s,max_s,setup_s,plan_bytes, the columns
 * bench/peer_render_loop.py writes with --csv; scripts/timing-charts.sh runs the two
 * alternately. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nstyle/nstyle.h"
#include "nstyle/render.h"

typedef struct {
    double *t, last;
    int n, max;
} iter_times;

static bool on_iteration(const nst_render_progress *p, void *user) {
    iter_times *it = user;
    if (it->n < it->max)
        it->t[it->n++] = p->seconds - it->last;
    it->last = p->seconds;
    return true;
}

static float *random_image(int w, int h, uint64_t x) {
    float *im = malloc((size_t)w * h * 3 * sizeof *im);
    for (size_t i = 0; im && i < (size_t)w * h * 3; i++) { /* xorshift64 */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        im[i] = (float)(x >> 40) * 0x1p-24f;
    }
    return im;
}

static const char usage[] = "usage: bench_render --vgg VGG19.safetensors [--size WxH] "
                            "[--threads N] [--reps R] [--warmup W] [--device D] "
                            "[--content-layers L] [--style-layers L] [--csv FILE]";

int main(int argc, char **argv) {
    const char *vgg = NULL, *device = "cpu", *content_layers = NULL, *style_layers = NULL;
    bench_size size = {512, 512};
    bench_run_opts run = {.threads = 0, .reps = 5, .warmup = 1, .csv = NULL};
    const bench_opt opts[] = {{"--vgg", BENCH_OPT_STRING, &vgg, 0},
                              {"--size", BENCH_OPT_SIZE, &size, 0},
                              {"--device", BENCH_OPT_STRING, &device, 0},
                              {"--content-layers", BENCH_OPT_STRING, &content_layers, 0},
                              {"--style-layers", BENCH_OPT_STRING, &style_layers, 0},
                              BENCH_RUN_OPTS(run)};
    if (bench_parse_args(argc, argv, opts, BENCH_N_OPTS(opts), usage))
        return 2;
    if (!vgg || size.w < 16 || size.h < 16 || run.reps < 1 || run.warmup < 0)
        return bench_usage(usage);
    nst_ctx *ctx = bench_ctx_open("bench_render", device, run.threads, 0);
    if (!ctx)
        return 1;
    const int iters = run.warmup + run.reps;
    float *content = random_image(size.w, size.h, 88172645463325252ull);
    float *style = random_image(size.w, size.h, 1442695040888963407ull);
    double *t = malloc((size_t)iters * sizeof *t);
    if (!content || !style || !t) {
        fprintf(stderr, "bench_render: out of memory\n");
        return 1;
    }
    iter_times it = {t, 0.0, 0, iters};
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = size.w, o.height = size.h;
    o.content = content;
    o.style = style, o.style_width = size.w, o.style_height = size.h;
    o.iterations = iters;
    o.content_layers = content_layers, o.style_layers = style_layers;
    o.weights_path = vgg;
    o.progress = on_iteration, o.progress_user = &it;
    nst_render_result r;
    if (nst_render_gatys(ctx, &o, &r) != NST_OK || it.n != iters) {
        fprintf(stderr, "bench_render: %s\n", nst_last_error(ctx));
        return 1;
    }
    const bench_stats st = bench_summarise(t + run.warmup, run.reps);
    const int th = nst_ctx_threads(ctx);
    bench_print_tracker_peak(ctx);
    printf("nstyle render %dx%d, %d threads on %s: %.3f s/iter (min %.3f, IQR %.3f..%.3f, "
           "max %.3f; %d iterations after %d warm-up); setup %.2f s; plan %.1f MiB\n", size.w,
           size.h, th, nst_ctx_device_name(ctx), st.median, st.min, st.q1, st.q3, st.max, st.n,
           run.warmup, r.setup_seconds, r.plan_total_bytes / 1048576.0);
    if (run.csv) {
        FILE *f = bench_csv_open(run.csv, "w", "impl,size,threads,warmup,reps,median_s,min_s,"
                                               "q1_s,q3_s,max_s,setup_s,plan_bytes");
        if (!f)
            return 1;
        fprintf(f, "nstyle,%dx%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,%zu\n", size.w, size.h,
                th, run.warmup, st.n, st.median, st.min, st.q1, st.q3, st.max, r.setup_seconds,
                r.plan_total_bytes);
        fclose(f);
    }
    nst_render_result_free(&r);
    free(t);
    free(content);
    free(style);
    nst_ctx_destroy(ctx);
    return 0;
}
