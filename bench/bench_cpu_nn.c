/* CPU benchmark of the memory-bound nn ops: ReLU, 2x2 max/avg pooling, nearest upsampling x2,
 * reflection padding, instance norm (each forward and backward), add/scale/axpy, sum, and the
 * fused Adam step, at 64 channels on 256x256 and 512x512 feature maps (N = 1) and Adam on 1M and
 * 10M parameters.
 *
 * Prints per case the median time over the repeats (after warm-up), the spread (min..max and
 * the interquartile range) and the achieved GB/s, counting each tensor the op must touch once
 * (bytes read + bytes written; e.g. ReLU forward 2 x 4 bytes per element, Adam 7 x 4 bytes per
 * parameter: param, grad, m, v read, param, m, v written). Ops that read an input twice
 * (instance norm's two-pass statistics) therefore show a lower GB/s than the memory system
 * delivered. With --csv PATH the same rows go to a CSV file.
 *
 *   bench_cpu_nn [--threads N] [--csv PATH] [--quick]
 *
 * --threads sets the ops' OpenMP threads (0 = all); --quick runs 256x256 and 1M only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nstyle/nstyle.h"

#define WARMUP 2
#define MIN_REPS 5
#define MAX_REPS 50
#define TARGET_S 0.5
#define CHANNELS 64

typedef struct {
    nst_ctx *ctx;
    nst_op op;
    const void *params;
} op_call;

static int run_op(void *user) {
    op_call *c = user;
    if (nst_op_run(c->ctx, c->op, c->params) != NST_OK) {
        fprintf(stderr, "%s failed: %s\n", nst_op_get_info(c->op)->name, nst_last_error(c->ctx));
        return 1;
    }
    return 0;
}

/* Times one op call and prints (and writes to csv) its row. Returns nonzero on failure. */
static int bench_case(nst_ctx *ctx, FILE *csv, nst_op op, const char *variant, const char *shape,
                      const void *params, double bytes) {
    op_call call = {ctx, op, params};
    bench_stats s;
    if (bench_time(run_op, &call, WARMUP, MIN_REPS, MAX_REPS, TARGET_S, &s))
        return 1;
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", nst_op_get_info(op)->name, *variant ? " " : "", variant);
    const double gbs = bytes / s.median * 1e-9;
    printf("%-30s %-18s %10.3f  %9.3f..%-9.3f  %8.3f  %8.2f\n", name, shape, s.median * 1e3,
           s.min * 1e3, s.max * 1e3, (s.q3 - s.q1) * 1e3, gbs);
    if (csv)
        fprintf(csv, "%s,%s,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f\n", name, shape, s.n, s.median * 1e3,
                s.min * 1e3, s.max * 1e3, s.q1 * 1e3, s.q3 * 1e3, gbs);
    return 0;
}

static float *alloc_random(size_t n, unsigned seed) {
    float *p = malloc(n * sizeof *p);
    if (!p)
        return NULL;
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f; /* uniform in [-1, 1) */
    }
    return p;
}

/* Every feature-map op at (1, hw, hw, CHANNELS). Buffers: small (n floats) and big (4n). */
static int bench_feature_maps(nst_ctx *ctx, FILE *csv, int64_t hw) {
    const int64_t C = CHANNELS, n = hw * hw * C;
    const double f = sizeof(float);
    float *x = alloc_random((size_t)n, 1), *dx = alloc_random((size_t)n, 2);
    float *big = alloc_random((size_t)(4 * n), 3), *dbig = alloc_random((size_t)(4 * n), 4);
    float *stats = alloc_random(4 * (size_t)C, 5); /* gamma, beta, mean, rstd */
    float *scalar = alloc_random(1, 6);
    if (!x || !dx || !big || !dbig || !stats || !scalar) {
        fprintf(stderr, "out of memory at %lldx%lld\n", (long long)hw, (long long)hw);
        free(x), free(dx), free(big), free(dbig), free(stats), free(scalar);
        return 1;
    }
    char shape[32];
    snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)hw, (long long)hw, (long long)C);
    const nst_backend_kind cpu = NST_BACKEND_CPU;
    nst_tensor tx = nst_tensor_nhwc(NST_F32, cpu, x, 1, hw, hw, C);
    nst_tensor tdx = nst_tensor_nhwc(NST_F32, cpu, dx, 1, hw, hw, C);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, cpu, big, 1, hw, hw, C);
    nst_tensor tdy = nst_tensor_nhwc(NST_F32, cpu, dbig, 1, hw, hw, C);
    int rc = 0;

    nst_relu_params relu = {.x = &tx, .y = &ty, .dy = &tdy, .dx = &tdx};
    rc |= bench_case(ctx, csv, NST_OP_RELU_FORWARD, "", shape, &relu, 2 * n * f);
    rc |= bench_case(ctx, csv, NST_OP_RELU_BACKWARD, "", shape, &relu, 3 * n * f);

    nst_tensor tq = nst_tensor_nhwc(NST_F32, cpu, big, 1, hw / 2, hw / 2, C);
    nst_tensor tdq = nst_tensor_nhwc(NST_F32, cpu, dbig, 1, hw / 2, hw / 2, C);
    const char *modes[2] = {"max", "avg"};
    for (int m = 0; m < 2; m++) {
        nst_pool2x2_params pool = {.x = &tx, .y = &tq, .dy = &tdq, .dx = &tdx,
                                   .mode = (nst_pool_mode)m};
        rc |= bench_case(ctx, csv, NST_OP_POOL2X2_FORWARD, modes[m], shape, &pool, 1.25 * n * f);
        /* max reads x to find the argmax; avg does not */
        rc |= bench_case(ctx, csv, NST_OP_POOL2X2_BACKWARD, modes[m], shape, &pool,
                         (m == 0 ? 2.25 : 1.25) * n * f);
    }

    nst_tensor tu = nst_tensor_nhwc(NST_F32, cpu, big, 1, 2 * hw, 2 * hw, C);
    nst_tensor tdu = nst_tensor_nhwc(NST_F32, cpu, dbig, 1, 2 * hw, 2 * hw, C);
    nst_upsample2x_params up = {.x = &tx, .y = &tu, .dy = &tdu, .dx = &tdx};
    rc |= bench_case(ctx, csv, NST_OP_UPSAMPLE2X_FORWARD, "", shape, &up, 5 * n * f);
    rc |= bench_case(ctx, csv, NST_OP_UPSAMPLE2X_BACKWARD, "", shape, &up, 5 * n * f);

    const int pads[2] = {1, 4}; /* 3x3 and 9x9 convolutions of the feed-forward network */
    for (int k = 0; k < 2; k++) {
        const int pd = pads[k];
        const int64_t hp = hw + 2 * pd, np = hp * hp * C;
        nst_tensor tp = nst_tensor_nhwc(NST_F32, cpu, big, 1, hp, hp, C);
        nst_tensor tdp = nst_tensor_nhwc(NST_F32, cpu, dbig, 1, hp, hp, C);
        nst_reflect_pad_params pad = {.x = &tx, .y = &tp, .dy = &tdp, .dx = &tdx, .top = pd,
                                      .bottom = pd, .left = pd, .right = pd};
        char variant[16];
        snprintf(variant, sizeof variant, "pad %d", pd);
        rc |= bench_case(ctx, csv, NST_OP_REFLECT_PAD_FORWARD, variant, shape, &pad,
                         (double)(n + np) * f);
        rc |= bench_case(ctx, csv, NST_OP_REFLECT_PAD_BACKWARD, variant, shape, &pad,
                         (double)(n + np) * f);
    }

    const int64_t nc[2] = {1, C};
    nst_tensor tg = nst_tensor_make(NST_F32, cpu, stats, 1, &C);
    nst_tensor tb = nst_tensor_make(NST_F32, cpu, stats + C, 1, &C);
    nst_tensor tm = nst_tensor_make(NST_F32, cpu, stats + 2 * C, 2, nc);
    nst_tensor tr = nst_tensor_make(NST_F32, cpu, stats + 3 * C, 2, nc);
    float *grads = alloc_random(2 * (size_t)C, 7);
    nst_tensor tdg = nst_tensor_make(NST_F32, cpu, grads, 1, &C);
    nst_tensor tdb = nst_tensor_make(NST_F32, cpu, grads ? grads + C : NULL, 1, &C);
    nst_instance_norm_params norm = {.x = &tx, .gamma = &tg, .beta = &tb, .y = &ty, .mean = &tm,
                                     .rstd = &tr, .dy = &tdy, .dx = &tdx, .dgamma = &tdg,
                                     .dbeta = &tdb, .eps = 1e-5f};
    rc |= bench_case(ctx, csv, NST_OP_INSTANCE_NORM_FORWARD, "", shape, &norm, 2 * n * f);
    rc |= bench_case(ctx, csv, NST_OP_INSTANCE_NORM_BACKWARD, "", shape, &norm, 3 * n * f);
    free(grads);

    nst_add_params add = {&tx, &tdx, &ty};
    rc |= bench_case(ctx, csv, NST_OP_ADD, "", shape, &add, 3 * n * f);
    nst_scale_params sc = {.x = &tx, .y = &ty, .alpha = 0.5f};
    rc |= bench_case(ctx, csv, NST_OP_SCALE, "", shape, &sc, 2 * n * f);
    rc |= bench_case(ctx, csv, NST_OP_AXPY, "", shape, &sc, 3 * n * f);
    nst_tensor ts = nst_tensor_make(NST_F32, cpu, scalar, 1, (const int64_t[]){1});
    nst_reduce_params red = {.x = &tx, .y = &ts};
    rc |= bench_case(ctx, csv, NST_OP_REDUCE_SUM, "", shape, &red, (double)n * f);

    free(x), free(dx), free(big), free(dbig), free(stats), free(scalar);
    return rc;
}

/* Adam over `total` parameters split into 3 tensors (60/30/10 %), as one call. */
static int bench_adam(nst_ctx *ctx, FILE *csv, int64_t total) {
    const int64_t a = total * 6 / 10, b = total * 3 / 10, sizes[3] = {a, b, total - a - b};
    float *buf[4];
    for (int k = 0; k < 4; k++)
        buf[k] = alloc_random((size_t)total, 10 + (unsigned)k);
    int rc = 0;
    if (!buf[0] || !buf[1] || !buf[2] || !buf[3]) {
        fprintf(stderr, "out of memory for Adam on %lld parameters\n", (long long)total);
        rc = 1;
        goto done;
    }
    for (int64_t i = 0; i < total; i++) /* v must be >= 0 */
        buf[3][i] *= buf[3][i];
    nst_tensor t[3][4];
    nst_adam_slot slots[3];
    int64_t off = 0;
    for (int s = 0; s < 3; s++) {
        for (int k = 0; k < 4; k++)
            t[s][k] = nst_tensor_make(NST_F32, NST_BACKEND_CPU, buf[k] + off, 1, &sizes[s]);
        slots[s] = (nst_adam_slot){&t[s][0], &t[s][1], &t[s][2], &t[s][3]};
        off += sizes[s];
    }
    nst_adam_params p = {slots, 3, nst_adam_step_make(1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 10)};
    char shape[32];
    snprintf(shape, sizeof shape, "%.0fM params", (double)total * 1e-6);
    rc = bench_case(ctx, csv, NST_OP_ADAM, "", shape, &p, 7.0 * (double)total * sizeof(float));
done:
    for (int k = 0; k < 4; k++)
        free(buf[k]);
    return rc;
}

int main(int argc, char **argv) {
    int threads = 0, quick = 0;
    const char *csv_path = NULL;
    const bench_opt opts[] = {{"--threads", BENCH_OPT_INT, &threads, 0},
                              {"--csv", BENCH_OPT_STRING, &csv_path, 0},
                              {"--quick", BENCH_OPT_SET, &quick, 1}};
    if (bench_parse_args(argc, argv, opts, BENCH_N_OPTS(opts),
                         "usage: bench_cpu_nn [--threads N] [--csv PATH] [--quick]"))
        return 2;
    /* op scratch, touched as used */
    nst_ctx *ctx = bench_ctx_open("bench_cpu_nn", NULL, threads, (size_t)1 << 30);
    if (!ctx)
        return 1;
    FILE *csv = NULL;
    if (csv_path && !(csv = bench_csv_open(csv_path, "w", "op,shape,reps,median_ms,min_ms,max_ms,"
                                                          "q1_ms,q3_ms,gb_per_s"))) {
        nst_ctx_destroy(ctx);
        return 1;
    }
    printf("threads %d (0 = all); times in ms; GB/s = (bytes read + written) / median\n",
           nst_ctx_threads(ctx));
    printf("%-30s %-18s %10s  %-20s  %8s  %8s\n", "op", "shape (H x W x C)", "median", "min..max",
           "IQR", "GB/s");
    int rc = bench_feature_maps(ctx, csv, 256);
    if (!quick)
        rc |= bench_feature_maps(ctx, csv, 512);
    rc |= bench_adam(ctx, csv, 1000000);
    if (!quick)
        rc |= bench_adam(ctx, csv, 10000000);
    if (csv)
        fclose(csv);
    nst_ctx_destroy(ctx);
    return rc ? 1 : 0;
}
