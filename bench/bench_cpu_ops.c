/* CPU op benchmark: conv2d (forward, backward-data, backward-filter) and linear (forward,
 * backward) at the sizes of the style-transfer networks, each next to a bare OpenBLAS sgemm of
 * the same M, N, K as the op's GEMM, so the im2col / col2im overhead is visible.
 *
 * Prints per case the median time over the repeats (after warm-up), the spread (min..max and the
 * interquartile range) and GFLOP/s (conv: 2*N*Ho*Wo*Cout*Cin*KH*KW per pass; linear:
 * 2*N*IN*OUT), and writes the same rows as CSV with --csv PATH. The PyTorch peer for the same
 * conv layer is bench/peer_cpu_conv.py.
 *
 *   bench_cpu_ops [--threads N] [--csv PATH] [--quick] [--tile-mb MB] [--workers N]
 *                 [--layers mixed|transformer|vgg] [--forward-only] [--no-direct] [--avx2]
 *
 * --threads sets the op's threads (nst_ctx_set_threads) and OpenBLAS's; --quick runs only the
 * 64->64 3x3 256x256 layer; --tile-mb and --workers force the conv schedule (see
 * src/cpu/conv2d.h; default: the op's own choice). --layers picks the conv shapes: mixed (the
 * default: a few of each network at 256x256), transformer (every distinct layer of the candy
 * TransformerNet on a 768x512 frame: its 9x9 first and last layers, the stride-2 ones, the
 * residual blocks', the upsampled ones) or vgg (VGG19's conv layers up to conv5_1 on a 512x512
 * image); --forward-only skips the backward passes; --no-direct sends every conv through
 * im2col + sgemm, the direct kernels off (src/cpu/conv2d_wide.c, conv2d_direct.c), to compare;
 * --avx2 runs the direct kernels' AVX2 variant on a CPU with AVX-512 (with
 * OPENBLAS_CORETYPE=Haswell for OpenBLAS, that is an AVX2 machine's choice on this one).
 *
 * OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons (family 6 model 207) and falls back
 * to its Prescott (SSE3) kernels, about 5x slower; the corename printed first shows which kernels
 * run. Set OPENBLAS_CORETYPE=SkylakeX (or Cooperlake) in the environment on such machines.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cpu/conv2d.h"
#include "cpu/cpu_ops.h"
#include "nstyle/nstyle.h"

#define WARMUP 2
#define MIN_REPS 5
#define MAX_REPS 50
#define TARGET_S 1.0

typedef struct {
    const char *name;
    int n, h, w, cin, cout, k, stride, pad;
} conv_size;

static const conv_size mixed_sizes[] = {
    {"vgg conv1_2", 1, 256, 256, 64, 64, 3, 1, 1},
    {"vgg conv1_1", 1, 256, 256, 3, 64, 3, 1, 1},
    {"vgg conv3_x", 1, 64, 64, 256, 256, 3, 1, 1},
    {"johnson conv1 9x9", 1, 256, 256, 3, 32, 9, 1, 4},
    {"johnson down s2", 1, 256, 256, 32, 64, 3, 2, 1},
    {"pointwise 1x1", 1, 128, 128, 128, 128, 1, 1, 0},
    {0},
};

/* TransformerNet on 768x512: each conv follows a reflect pad (zero pad here: the same work). */
static const conv_size transformer_sizes[] = {
    {"tnet conv1 9x9", 1, 512, 768, 3, 32, 9, 1, 4},
    {"tnet conv2 s2", 1, 512, 768, 32, 64, 3, 2, 1},
    {"tnet conv3 s2", 1, 256, 384, 64, 128, 3, 2, 1},
    {"tnet res (x10)", 1, 128, 192, 128, 128, 3, 1, 1},
    {"tnet deconv1 (up x2)", 1, 256, 384, 128, 64, 3, 1, 1},
    {"tnet deconv2 (up x2)", 1, 512, 768, 64, 32, 3, 1, 1},
    {"tnet deconv3 9x9", 1, 512, 768, 32, 3, 9, 1, 4},
    {0},
};

/* VGG19 up to conv5_1 on 512x512 (conv1_2 .. conv4_4 repeat their block's shape). */
static const conv_size vgg_sizes[] = {
    {"vgg conv1_1", 1, 512, 512, 3, 64, 3, 1, 1},
    {"vgg conv1_2", 1, 512, 512, 64, 64, 3, 1, 1},
    {"vgg conv2_1", 1, 256, 256, 64, 128, 3, 1, 1},
    {"vgg conv2_2", 1, 256, 256, 128, 128, 3, 1, 1},
    {"vgg conv3_1", 1, 128, 128, 128, 256, 3, 1, 1},
    {"vgg conv3_x (x3)", 1, 128, 128, 256, 256, 3, 1, 1},
    {"vgg conv4_1", 1, 64, 64, 256, 512, 3, 1, 1},
    {"vgg conv4_x (x3)", 1, 64, 64, 512, 512, 3, 1, 1},
    {"vgg conv5_1", 1, 32, 32, 512, 512, 3, 1, 1},
    {0},
};

typedef struct {
    const char *name;
    int n, in, out;
} linear_size;

static const linear_size linear_sizes[] = {
    {"stn fc 360->32", 1, 360, 32},
    {"fc 64x1024->1024", 64, 1024, 1024},
};

/* ---- output -------------------------------------------------------------------------------- */

static void report(FILE *csv, const char *op, const char *shape, const bench_stats *s,
                   double flops) {
    double gflops = flops / s->median * 1e-9;
    printf("%-30s %-40s %10.3f  %9.3f..%-9.3f  %8.3f  %8.2f\n", op, shape, s->median * 1e3,
           s->min * 1e3, s->max * 1e3, (s->q3 - s->q1) * 1e3, gflops);
    if (csv)
        fprintf(csv, "%s,\"%s\",%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f\n", op, shape, s->n,
                s->median * 1e3, s->min * 1e3, s->max * 1e3, s->q1 * 1e3, s->q3 * 1e3, gflops);
}

/* ---- timed calls --------------------------------------------------------------------------- */

typedef struct {
    nst_ctx *ctx;
    nst_op op;
    const void *params;
    size_t tile_bytes; /* with workers 0: through the op table */
    int workers;
} op_call;

static int run_op(void *user) {
    op_call *c = user;
    nst_status s = c->tile_bytes || c->workers
                       ? nst__cpu_conv2d_tiled(c->ctx, c->op, c->params, c->tile_bytes, c->workers)
                       : nst_op_run(c->ctx, c->op, c->params);
    if (s != NST_OK) {
        fprintf(stderr, "%s failed: %s\n", nst_op_get_info(c->op)->name, nst_last_error(c->ctx));
        return 1;
    }
    return 0;
}

/* C(M, N) = A(M, K) * op(B) in row-major, as the op's GEMM calls it. */
typedef struct {
    enum CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    const float *a, *b;
    float *c;
} gemm_call;

static int run_gemm(void *user) {
    gemm_call *g = user;
    int lda = g->ta == CblasNoTrans ? g->k : g->m;
    int ldb = g->tb == CblasNoTrans ? g->n : g->k;
    cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, lda, g->b, ldb, 0.0f,
                g->c, g->n);
    return 0;
}

static float *random_buffer(size_t n, unsigned seed) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    return p;
}

static int time_and_report(FILE *csv, const char *op, const char *shape, bench_fn fn, void *user,
                           double flops) {
    bench_stats s;
    if (bench_time(fn, user, WARMUP, MIN_REPS, MAX_REPS, TARGET_S, &s))
        return 1;
    report(csv, op, shape, &s, flops);
    return 0;
}

/* ---- cases --------------------------------------------------------------------------------- */

static int bench_conv(nst_ctx *ctx, FILE *csv, const conv_size *z, size_t tile_bytes,
                      int workers, bool forward_only) {
    const int ho = (z->h + 2 * z->pad - z->k) / z->stride + 1;
    const int wo = (z->w + 2 * z->pad - z->k) / z->stride + 1;
    const int p = z->n * ho * wo, kk = z->k * z->k * z->cin;
    const size_t nx = (size_t)z->n * z->h * z->w * z->cin, nw = (size_t)z->cout * kk;
    const size_t ny = (size_t)p * z->cout;
    float *x = random_buffer(nx, 1), *w = random_buffer(nw, 2), *b = random_buffer(z->cout, 3);
    float *y = random_buffer(ny, 4), *dy = random_buffer(ny, 5), *dx = random_buffer(nx, 6);
    float *dw = random_buffer(nw, 7), *db = random_buffer(z->cout, 8);
    /* the bare GEMMs' operands: (P, K) columns, and an output for (P, Cout), (P, K), (Cout, K) */
    const size_t nout = (size_t)p * (kk > z->cout ? kk : z->cout);
    float *cols = random_buffer((size_t)p * kk, 9), *out = random_buffer(nout, 10);
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, z->n, z->h, z->w, z->cin);
    nst_tensor tw = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, w, z->cout, z->k, z->k, z->cin);
    nst_tensor tb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, b, 1, (const int64_t[]){z->cout});
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, z->n, ho, wo, z->cout);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, z->n, ho, wo, z->cout);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, z->n, z->h, z->w, z->cin);
    nst_tensor tdw = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dw, z->cout, z->k, z->k, z->cin);
    nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, db, 1, (const int64_t[]){z->cout});
    nst_conv2d_params prm = {.x = &tx, .w = &tw, .b = &tb, .y = &ty, .dy = &tdy, .dx = &tdx,
                             .dw = &tdw, .db = &tdb, .stride = z->stride, .pad = z->pad,
                             .relu = true};
    char shape[128];
    snprintf(shape, sizeof shape, "%s %dx%dx%d->%d k%d s%d p%d", z->name, z->h, z->w, z->cin,
             z->cout, z->k, z->stride, z->pad);
    const double flops = 2.0 * p * z->cout * (double)kk;
    op_call call = {ctx, NST_OP_CONV2D_FORWARD, &prm, tile_bytes, workers};
    gemm_call fwd = {CblasNoTrans, CblasTrans, p, z->cout, kk, cols, w, out};
    gemm_call bwd_data = {CblasNoTrans, CblasNoTrans, p, kk, z->cout, dy, w, out};
    gemm_call bwd_filter = {CblasTrans, CblasNoTrans, z->cout, kk, p, dy, cols, out};
    int fail = time_and_report(csv, "conv2d_forward", shape, run_op, &call, flops);
    fail = fail || time_and_report(csv, "sgemm (fwd shape)", shape, run_gemm, &fwd, flops);
    if (forward_only)
        goto done;
    call.op = NST_OP_CONV2D_BACKWARD_DATA;
    fail = fail || time_and_report(csv, "conv2d_backward_data", shape, run_op, &call, flops);
    fail = fail || time_and_report(csv, "sgemm (bwd-data shape)", shape, run_gemm, &bwd_data,
                                   flops);
    call.op = NST_OP_CONV2D_BACKWARD_FILTER;
    fail = fail || time_and_report(csv, "conv2d_backward_filter", shape, run_op, &call, flops);
    fail = fail || time_and_report(csv, "sgemm (bwd-filter shape)", shape, run_gemm, &bwd_filter,
                                   flops);
done:
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db), free(cols);
    free(out);
    return fail;
}

static int bench_linear(nst_ctx *ctx, FILE *csv, const linear_size *z) {
    const size_t nx = (size_t)z->n * z->in, nw = (size_t)z->out * z->in;
    const size_t ny = (size_t)z->n * z->out;
    float *x = random_buffer(nx, 1), *w = random_buffer(nw, 2), *b = random_buffer(z->out, 3);
    float *y = random_buffer(ny, 4), *dy = random_buffer(ny, 5), *dx = random_buffer(nx, 6);
    float *dw = random_buffer(nw, 7), *db = random_buffer(z->out, 8);
#define T2(p, a, b) nst_tensor_make(NST_F32, NST_BACKEND_CPU, p, 2, (const int64_t[]){a, b})
    nst_tensor tx = T2(x, z->n, z->in), tw = T2(w, z->out, z->in), ty = T2(y, z->n, z->out);
    nst_tensor tdy = T2(dy, z->n, z->out), tdx = T2(dx, z->n, z->in), tdw = T2(dw, z->out, z->in);
#undef T2
    nst_tensor tb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, b, 1, (const int64_t[]){z->out});
    nst_tensor tdb = nst_tensor_make(NST_F32, NST_BACKEND_CPU, db, 1, (const int64_t[]){z->out});
    nst_linear_params prm = {.x = &tx, .w = &tw, .b = &tb, .y = &ty, .dy = &tdy, .dx = &tdx,
                             .dw = &tdw, .db = &tdb};
    char shape[128];
    snprintf(shape, sizeof shape, "%s (%d, %d)->%d", z->name, z->n, z->in, z->out);
    const double flops = 2.0 * z->n * (double)z->in * z->out;
    op_call call = {ctx, NST_OP_LINEAR_FORWARD, &prm, 0, 0};
    gemm_call fwd = {CblasNoTrans, CblasTrans, z->n, z->out, z->in, x, w, y};
    int fail = time_and_report(csv, "linear_forward", shape, run_op, &call, flops);
    fail = fail || time_and_report(csv, "sgemm (fwd shape)", shape, run_gemm, &fwd, flops);
    call.op = NST_OP_LINEAR_BACKWARD; /* dx, dw and db: two GEMMs */
    fail = fail || time_and_report(csv, "linear_backward", shape, run_op, &call, 2 * flops);
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db);
    return fail;
}

int main(int argc, char **argv) {
    int threads = 0, quick = 0, workers = 0, forward_only = 0, no_direct = 0, avx2 = 0;
    double tile_mb = 0.0;
    const char *csv_path = NULL, *layers = "mixed";
    const bench_opt opts[] = {{"--threads", BENCH_OPT_INT, &threads, 0},
                              {"--csv", BENCH_OPT_STRING, &csv_path, 0},
                              {"--tile-mb", BENCH_OPT_DOUBLE, &tile_mb, 0},
                              {"--workers", BENCH_OPT_INT, &workers, 0},
                              {"--quick", BENCH_OPT_SET, &quick, 1},
                              {"--layers", BENCH_OPT_STRING, &layers, 0},
                              {"--forward-only", BENCH_OPT_SET, &forward_only, 1},
                              {"--no-direct", BENCH_OPT_SET, &no_direct, 1},
                              {"--avx2", BENCH_OPT_SET, &avx2, 1}};
    static const char usage[] = "usage: bench_cpu_ops [--threads N] [--csv PATH] [--quick] "
                                "[--tile-mb MB] [--workers N] [--layers mixed|transformer|vgg] "
                                "[--forward-only] [--no-direct] [--avx2]";
    if (bench_parse_args(argc, argv, opts, BENCH_N_OPTS(opts), usage))
        return 2;
    const conv_size *sizes = !strcmp(layers, "mixed")         ? mixed_sizes
                             : !strcmp(layers, "transformer") ? transformer_sizes
                             : !strcmp(layers, "vgg")         ? vgg_sizes
                                                              : NULL;
    if (!sizes) {
        fprintf(stderr, "bench_cpu_ops: --layers %s: one of mixed, transformer, vgg\n%s\n", layers,
                usage);
        return 2;
    }
    if (no_direct)
        nst__cpu_simd_force(0);
    if (avx2)
        nst__cpu_simd_force(1);
    const size_t tile_bytes = (size_t)(tile_mb * 1048576.0);
    /* op scratch, touched as used */
    nst_ctx *ctx = bench_ctx_open("bench_cpu_ops", NULL, threads, (size_t)1 << 30);
    if (!ctx)
        return 1;
    openblas_set_num_threads(threads > 0 ? threads : openblas_get_num_threads());
    FILE *csv = NULL;
    if (csv_path && !(csv = bench_csv_open(csv_path, "w", "op,shape,repeats,median_ms,min_ms,"
                                                          "max_ms,q1_ms,q3_ms,gflops"))) {
        nst_ctx_destroy(ctx);
        return 1;
    }
    printf("threads %d (0 = all; OpenBLAS %d, core %s), conv schedule: tile %.2f MB "
           "(0 = default), workers %d (0 = automatic), direct convolutions: %s\n",
           nst_ctx_threads(ctx), openblas_get_num_threads(), openblas_get_corename(),
           tile_bytes / 1048576.0, workers,
           (const char *[]){"off", "AVX2", "AVX-512"}[nst__cpu_simd()]);
    printf("%-30s %-40s %10s  %-20s  %8s  %8s\n", "op", "shape", "median ms", "min..max ms",
           "IQR ms", "GFLOP/s");
    int fail = 0;
    for (size_t i = 0; sizes[i].name && (!quick || i == 0) && !fail; i++)
        fail = bench_conv(ctx, csv, &sizes[i], tile_bytes, workers, forward_only);
    for (size_t i = 0; sizes == mixed_sizes && !quick && !forward_only &&
                       i < sizeof linear_sizes / sizeof linear_sizes[0] && !fail; i++)
        fail = bench_linear(ctx, csv, &linear_sizes[i]);
    if (csv && fclose(csv) != 0) {
        fprintf(stderr, "cannot write %s\n", csv_path);
        fail = 1;
    }
    nst_ctx_destroy(ctx);
    return fail ? 1 : 0;
}
