/* Training benchmark: ms per nstyle training step (include/nstyle/train.h) at a batch and
 * crop size on the CPU (or --device cuda), median of several steps after warm-up, with the
 * spread.
 *
 *   build/bench_train --vgg VGG19.safetensors [--size 256] [--batch 4] [--threads N]
 *                     [--style-layers L] [--reps R] [--warmup W] [--device D] [--csv FILE]
 *
 * The batch and the style image are fixed pseudo-random pixels (timing does not depend on them)
 * and a step is nst_trainer_step_on: the TransformerNet forward, VGG19 on the output and the
 * batch, the losses, both backwards and Adam, with no image decoding. bench/peer_train.py
 * runs the same step in PyTorch (same network, VGG19 weights, layers, losses and threads) and
 * writes the same CSV columns: impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nstyle/nstyle.h"
#include "nstyle/train.h"

typedef struct {
    nst_trainer *t;
    const float *batch;
} run_args;

static int run_once(void *user) {
    run_args *r = user;
    return nst_trainer_step_on(r->t, r->batch, NULL) != NST_OK;
}

static const char usage[] = "usage: bench_train --vgg VGG19.safetensors [--size N] [--batch N] "
                            "[--threads N] [--style-layers L] [--reps R] [--warmup W] "
                            "[--device D] [--csv FILE]";

int main(int argc, char **argv) {
    const char *vgg = NULL, *style_layers = "relu1_2,relu2_2,relu3_4", *device = "cpu";
    int size = 256, batch = 4;
    bench_run_opts run = {.threads = 0, .reps = 3, .warmup = 1, .csv = NULL};
    const bench_opt opts[] = {{"--vgg", BENCH_OPT_STRING, &vgg, 0},
                              {"--size", BENCH_OPT_INT, &size, 0},
                              {"--batch", BENCH_OPT_INT, &batch, 0},
                              {"--style-layers", BENCH_OPT_STRING, &style_layers, 0},
                              {"--device", BENCH_OPT_STRING, &device, 0}, BENCH_RUN_OPTS(run)};
    if (bench_parse_args(argc, argv, opts, BENCH_N_OPTS(opts), usage))
        return 2;
    if (!vgg || size < 8 || batch < 1 || run.reps < 1)
        return bench_usage(usage);
    nst_ctx *ctx = bench_ctx_open("bench_train", device, run.threads, 0);
    if (!ctx)
        return 1;
    const size_t n = (size_t)batch * size * size * 3;
    float *images = malloc(n * sizeof *images), *style = malloc((size_t)size * size * 3 * 4);
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        images[i] = (float)(s >> 56);
        if (i < (size_t)size * size * 3)
            style[i] = (float)(s >> 40) * 0x1p-24f;
    }
    nst_train_options o;
    nst_train_options_default(&o);
    o.weights_path = vgg;
    o.style = style, o.style_width = size, o.style_height = size;
    o.style_layers = style_layers;
    o.size = size, o.batch = batch;
    nst_trainer *t = NULL;
    if (nst_trainer_create(ctx, &o, &t) != NST_OK) {
        fprintf(stderr, "bench_train: %s\n", nst_last_error(ctx));
        return 1;
    }
    run_args r = {t, images};
    bench_stats st;
    if (bench_time(run_once, &r, run.warmup, run.reps, run.reps, 0.0, &st)) {
        fprintf(stderr, "bench_train: %s\n", nst_last_error(ctx));
        return 1;
    }
    const int th = nst_ctx_threads(ctx);
    bench_print_tracker_peak(ctx);
    printf("nstyle train step, batch %d at %dx%d, %d threads: median %.1f ms (min %.1f, q1 %.1f, "
           "q3 %.1f, max %.1f; %d reps)\n", batch, size, size, th, 1e3 * st.median, 1e3 * st.min,
           1e3 * st.q1, 1e3 * st.q3, 1e3 * st.max, st.n);
    FILE *f = run.csv ? bench_csv_open(run.csv, "a", NULL) : NULL;
    if (f) {
        fprintf(f, "nstyle,%d,%d,%d,%d,", size, batch, th, st.n);
        bench_csv_stats(f, &st, 1e3);
        fclose(f);
    }
    nst_trainer_destroy(t);
    free(images);
    free(style);
    nst_ctx_destroy(ctx);
    return 0;
}
