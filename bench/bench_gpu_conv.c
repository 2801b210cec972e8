/* GPU conv2d benchmark: every VGG19 convolution at 768x512 (batch 1), forward, backward-data and
 * backward-filter, in FP32 (TF32 off) and TF32, through nstyle's op layer on the CUDA backend
 * (cuDNN, src/host/cuda/conv2d_cudnn.c), in ms and TFLOP/s (2*N*Ho*Wo*Cout*Cin*KH*KW per pass).
 * Each figure is the median of many timed runs after a warm-up, with min..max and the
 * interquartile range; the L2 cache is flushed (a memset of twice its size) before every run,
 * and each run is timed from launch to nst_synchronize on the host clock.
 *
 * Beside them: the FP32 peak = SMs x cudaDevAttrClockRate x FP32 FLOP per clock per SM (the
 * table below: FP32 lanes per SM x 2 for a fused multiply-add, from the CUDA C++ Programming
 * Guide's arithmetic-instruction throughput table, "32-bit floating-point add, multiply,
 * multiply-add": 64 results per clock per SM for compute capability 7.x and 8.0, 128 for 8.6,
 * 8.7, 8.9, 9.0, 10.x, 12.x), and a large SGEMM (8192^3, nstyle's linear op = one cuBLAS call,
 * TF32 off, then on) as the practical ceiling. bench/peer_gpu_conv.py runs the same layers in
 * PyTorch in the same GPU session (scripts/gpu-check.sh).
 *
 *   build/bench_gpu_conv [--quick] [--reps N] [--csv FILE]
 * Without a GPU it says why and exits 0 (it builds everywhere; it runs on a GPU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nstyle/nstyle.h"

/* FP32 FLOP per clock per SM by compute capability (lanes x 2), see the comment above. */
static int fp32_flop_per_clock_per_sm(int major, int minor) {
    if (major == 7 || (major == 8 && minor == 0))
        return 64 * 2;
    if (major >= 8)
        return 128 * 2;
    return 0; /* unknown: the peak column is left out */
}

typedef struct {
    const char *name;
    int h, cin, cout; /* W = H * 3 / 2 at 768x512 */
} vgg_layer;

static const vgg_layer layers[] = {
    {"conv1_1", 512, 3, 64},    {"conv1_2", 512, 64, 64},   {"conv2_1", 256, 64, 128},
    {"conv2_2", 256, 128, 128}, {"conv3_1", 128, 128, 256}, {"conv3_2", 128, 256, 256},
    {"conv3_3", 128, 256, 256}, {"conv3_4", 128, 256, 256}, {"conv4_1", 64, 256, 512},
    {"conv4_2", 64, 512, 512},  {"conv4_3", 64, 512, 512},  {"conv4_4", 64, 512, 512},
    {"conv5_1", 32, 512, 512},  {"conv5_2", 32, 512, 512},  {"conv5_3", 32, 512, 512},
    {"conv5_4", 32, 512, 512},
};

typedef struct {
    nst_ctx *ctx;
    nst_op op;
    const void *params;
    void *flush;
    size_t flush_bytes;
} timed_op;

/* Before each run, untimed: the L2 flush, finished. */
static int flush_l2(void *user) {
    timed_op *t = user;
    return nst_memset_device(t->ctx, t->flush, 0, t->flush_bytes) != NST_OK ||
           nst_synchronize(t->ctx) != NST_OK;
}

/* The timed run: from launch to nst_synchronize. */
static int run_op(void *user) {
    timed_op *t = user;
    return nst_op_run(t->ctx, t->op, t->params) != NST_OK || nst_synchronize(t->ctx) != NST_OK;
}

/* warm-up, then reps flushed runs; fills *s. */
static int measure(timed_op *t, int warmup, int reps, bench_stats *s) {
    return bench_time_prepared(flush_l2, run_op, t, warmup, reps, reps, 0.0, s);
}

/* A device tensor of the given shape filled with uniform values in [-1, 1). */
static nst_status device_tensor(nst_ctx *ctx, nst_tensor *t, int ndim, const int64_t *dims,
                                unsigned seed) {
    *t = nst_tensor_make(NST_F32, NST_BACKEND_CUDA, NULL, ndim, dims);
    nst_status st = nst_tensor_alloc(ctx, t, NST_TAG_ACTIVATIONS);
    if (st != NST_OK)
        return st;
    size_t n = (size_t)nst_tensor_numel(t);
    float *host = malloc(n * sizeof *host);
    if (!host)
        return NST_ERR_NO_MEMORY;
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        host[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
    st = nst_copy_to_device(ctx, t->data, host, n * sizeof *host);
    free(host);
    return st;
}

static void print_row(FILE *csv, const char *layer, const char *dir, const char *math,
                      double flop, const bench_stats *s, double peak_tflops) {
    const double tflops = flop / s->median / 1e12;
    printf("%-8s %-16s %-5s %9.3f  %7.3f..%-8.3f  %7.3f  %8.2f", layer, dir, math,
           s->median * 1e3, s->min * 1e3, s->max * 1e3, (s->q3 - s->q1) * 1e3, tflops);
    if (peak_tflops > 0)
        printf("  %5.1f%%", 100.0 * tflops / peak_tflops);
    printf("\n");
    if (csv)
        fprintf(csv, "%s,%s,%s,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f\n", layer, dir, math,
                s->median * 1e3, s->min * 1e3, s->max * 1e3, s->q1 * 1e3, s->q3 * 1e3, tflops);
}

/* One SGEMM of size^3 through the linear op (y = x w^T: one cublasSgemm). */
static int bench_sgemm(nst_ctx *ctx, int size, bool tf32, int reps, void *flush,
                       size_t flush_bytes, FILE *csv, double peak) {
    nst_tensor x, w, y;
    const int64_t d[2] = {size, size};
    if (device_tensor(ctx, &x, 2, d, 1) || device_tensor(ctx, &w, 2, d, 2) ||
        device_tensor(ctx, &y, 2, d, 3))
        return 1;
    nst_ctx_set_tf32(ctx, true, tf32);
    nst_linear_params p = {.x = &x, .w = &w, .y = &y};
    size_t need = 0;
    if (nst_op_scratch_bytes(ctx, NST_OP_LINEAR_FORWARD, &p, &need) != NST_OK ||
        nst_ctx_reserve_scratch(ctx, need) != NST_OK)
        return 1;
    timed_op t = {ctx, NST_OP_LINEAR_FORWARD, &p, flush, flush_bytes};
    bench_stats s;
    if (measure(&t, 3, reps, &s))
        return 1;
    char name[32];
    snprintf(name, sizeof name, "sgemm%d", size);
    print_row(csv, name, "cublas", tf32 ? "tf32" : "fp32", 2.0 * size * size * (double)size, &s,
              peak);
    nst_tensor_free(ctx, &x), nst_tensor_free(ctx, &w), nst_tensor_free(ctx, &y);
    return 0;
}

static int bench_layer(nst_ctx *ctx, const vgg_layer *l, bool tf32, int reps, void *flush,
                       size_t flush_bytes, FILE *csv, double peak) {
    const int h = l->h, w = l->h * 3 / 2;
    const int64_t xd[4] = {1, h, w, l->cin}, wd[4] = {l->cout, 3, 3, l->cin},
                  yd[4] = {1, h, w, l->cout}, bd[1] = {l->cout};
    nst_tensor x, wt, b, y, dy, dx, dw, db;
    if (device_tensor(ctx, &x, 4, xd, 1) || device_tensor(ctx, &wt, 4, wd, 2) ||
        device_tensor(ctx, &b, 1, bd, 3) || device_tensor(ctx, &y, 4, yd, 4) ||
        device_tensor(ctx, &dy, 4, yd, 5) || device_tensor(ctx, &dx, 4, xd, 6) ||
        device_tensor(ctx, &dw, 4, wd, 7) || device_tensor(ctx, &db, 1, bd, 8))
        return 1;
    nst_ctx_set_tf32(ctx, tf32, false);
    const double flop = 2.0 * h * w * l->cout * l->cin * 9.0;
    const nst_conv2d_params fwd = {.x = &x, .w = &wt, .b = &b, .y = &y, .stride = 1, .pad = 1,
                                   .relu = true};
    const nst_conv2d_params bwd_data = {.w = &wt, .dy = &dy, .dx = &dx, .stride = 1, .pad = 1};
    const nst_conv2d_params bwd_filter = {.x = &x, .w = &wt, .dy = &dy, .dw = &dw, .db = &db,
                                          .stride = 1, .pad = 1};
    const struct {
        nst_op op;
        const nst_conv2d_params *p;
        const char *name;
    } dirs[3] = {{NST_OP_CONV2D_FORWARD, &fwd, "forward+bias+relu"},
                 {NST_OP_CONV2D_BACKWARD_DATA, &bwd_data, "backward_data"},
                 {NST_OP_CONV2D_BACKWARD_FILTER, &bwd_filter, "backward_filter"}};
    for (int i = 0; i < 3; i++) {
        size_t need = 0;
        if (nst_op_scratch_bytes(ctx, dirs[i].op, dirs[i].p, &need) != NST_OK ||
            nst_ctx_reserve_scratch(ctx, need) != NST_OK)
            return 1;
        timed_op t = {ctx, dirs[i].op, dirs[i].p, flush, flush_bytes};
        bench_stats s;
        if (measure(&t, 3, reps, &s))
            return 1;
        print_row(csv, l->name, dirs[i].name, tf32 ? "tf32" : "fp32", flop, &s, peak);
    }
    nst_tensor *all[] = {&x, &wt, &b, &y, &dy, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nst_tensor_free(ctx, all[i]);
    return 0;
}

int main(int argc, char **argv) {
    int reps = 30, quick = 0;
    const char *csv_path = NULL;
    const bench_opt opts[] = {{"--quick", BENCH_OPT_SET, &quick, 1},
                              {"--quick", BENCH_OPT_SET, &reps, 7},
                              {"--reps", BENCH_OPT_INT, &reps, 0},
                              {"--csv", BENCH_OPT_STRING, &csv_path, 0}};
    if (bench_parse_args(argc, argv, opts, BENCH_N_OPTS(opts),
                         "usage: bench_gpu_conv [--quick] [--reps N] [--csv FILE]"))
        return 2;
    if (reps < 3)
        reps = 3;
    nst_gpu_info g;
    int count = 0;
    char why[1024];
    if (nst_list_gpus(&g, 1, &count, why, sizeof why) != NST_OK) {
        printf("bench_gpu_conv: no GPU: %s\n", why);
        return 0;
    }
    nst_ctx *ctx = bench_ctx_open("bench_gpu_conv", "cuda:0", 0, 0);
    if (!ctx)
        return 1;
    const int per_sm = fp32_flop_per_clock_per_sm(g.cc_major, g.cc_minor);
    const double peak = (double)g.multiprocessors * g.clock_khz * 1e3 * per_sm / 1e12;
    char libs[1024];
    nst_cuda_libraries(libs, sizeof libs);
    printf("%s, sm_%d%d, %d SMs at %.0f MHz, L2 %d KiB\n%s\n", g.name, g.cc_major, g.cc_minor,
           g.multiprocessors, g.clock_khz / 1e3, g.l2_bytes / 1024, libs);
    if (per_sm)
        printf("FP32 peak %.1f TFLOP/s = %d SMs x %.0f MHz x %d FLOP/clock/SM (%d FP32 lanes x 2)\n",
               peak, g.multiprocessors, g.clock_khz / 1e3, per_sm, per_sm / 2);
    else
        printf("FP32 peak: compute capability %d.%d is not in the table\n", g.cc_major, g.cc_minor);
    printf("median of %d runs after 3 warm-up runs, L2 flushed before each; ms: median, "
           "min..max, IQR\n\n", reps);
    FILE *csv = csv_path ? bench_csv_open(csv_path, "w", "layer,direction,math,median_ms,min_ms,"
                                                         "max_ms,q1_ms,q3_ms,tflops")
                         : NULL;
    size_t flush_bytes = (size_t)(g.l2_bytes > 0 ? g.l2_bytes : 64 << 20) * 2;
    void *flush = NULL;
    int rc = 0;
    if (nst_alloc(ctx, flush_bytes, NST_TAG_OTHER, &flush) != NST_OK) {
        fprintf(stderr, "bench_gpu_conv: %s\n", nst_last_error(ctx));
        return 1;
    }
    printf("%-8s %-16s %-5s %9s  %-17s  %7s  %8s  %s\n", "layer", "direction", "math", "ms",
           "min..max", "IQR", "TFLOP/s", "of FP32 peak");
    const int sizes = quick ? 1 : 2;
    for (int tf = 0; tf < 2 && !rc; tf++)
        for (int k = 0; k < sizes && !rc; k++)
            rc = bench_sgemm(ctx, k ? 4096 : 8192, tf == 1, reps, flush, flush_bytes, csv, peak);
    for (int tf = 0; tf < 2 && !rc; tf++)
        for (size_t i = 0; i < sizeof layers / sizeof layers[0] && !rc; i++) {
            if (quick && i % 4 != 1) /* conv1_2, conv2_2, conv3_2, conv4_2 */
                continue;
            rc = bench_layer(ctx, &layers[i], tf == 1, reps, flush, flush_bytes, csv, peak);
        }
    if (rc)
        fprintf(stderr, "bench_gpu_conv: %s\n", nst_last_error(ctx));
    nst_free(ctx, flush);
    if (csv)
        fclose(csv);
    nst_ctx_destroy(ctx);
    return rc;
}
