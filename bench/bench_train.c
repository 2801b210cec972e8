/* Training benchmark: CPU ms per nstyle training step (include/nstyle/train.h) at a batch and
 * crop size, median of several steps after warm-up, with the spread.
 *
 *   build/bench_train --vgg VGG19.safetensors [--size 256] [--batch 4] [--threads N]
 *                     [--style-layers L] [--reps R] [--warmup W] [--csv FILE]
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

static int usage(void) {
    fprintf(stderr, "usage: bench_train --vgg VGG19.safetensors [--size N] [--batch N] "
                    "[--threads N] [--style-layers L] [--reps R] [--warmup W] [--csv FILE]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *vgg = NULL, *csv = NULL, *style_layers = "relu1_2,relu2_2,relu3_4";
    int size = 256, batch = 4, threads = 0, reps = 3, warmup = 1;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (!strcmp(argv[i], "--vgg"))
            vgg = v;
        else if (!strcmp(argv[i], "--size"))
            size = atoi(v);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(v);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(v);
        else if (!strcmp(argv[i], "--style-layers"))
            style_layers = v;
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(v);
        else if (!strcmp(argv[i], "--warmup"))
            warmup = atoi(v);
        else if (!strcmp(argv[i], "--csv"))
            csv = v;
        else
            return usage();
    }
    if (!vgg || size < 8 || batch < 1 || reps < 1)
        return usage();
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx)
        return 1;
    if (threads)
        nst_ctx_set_threads(ctx, threads);
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
    if (bench_time(run_once, &r, warmup, reps, reps, 0.0, &st)) {
        fprintf(stderr, "bench_train: %s\n", nst_last_error(ctx));
        return 1;
    }
    const int th = nst_ctx_threads(ctx);
    printf("nstyle train step, batch %d at %dx%d, %d threads: median %.1f ms (min %.1f, q1 %.1f, "
           "q3 %.1f, max %.1f; %d reps)\n", batch, size, size, th, 1e3 * st.median, 1e3 * st.min,
           1e3 * st.q1, 1e3 * st.q3, 1e3 * st.max, st.n);
    if (csv) {
        FILE *f = fopen(csv, "a");
        if (f) {
            fprintf(f, "nstyle,%d,%d,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f\n", size, batch, th, st.n,
                    1e3 * st.median, 1e3 * st.min, 1e3 * st.q1, 1e3 * st.q3, 1e3 * st.max);
            fclose(f);
        }
    }
    nst_trainer_destroy(t);
    free(images);
    free(style);
    nst_ctx_destroy(ctx);
    return 0;
}
