/* The spatial-transformer, optimiser and Gram kernels at the brief's sizes, on one GPU: affine
 * grid (forward, backward) and bilinear grid sampling forward and backward (atomic dx, and the
 * deterministic dx path) on a (1, 64, 512, 768) feature map and a (1, 3, 2048, 3072) image with
 * a rotated grid of the same size; fused Adam over 20M parameters in 40 tensors, one 1.18M
 * tensor, and 62 tensors holding 1.68M; the Gram forward and backward of a (64, 393216) and a
 * (512, 6144) feature map (FLOPs = 2 * C^2 * HW each way). Each kernel sequence is the
 * launcher's (src/kernels/<op>.cu) over the bodies of src/kernels/<op>.cuh, timed with
 * cudaEvents on one stream (bench_gpu_util.cuh): 3 warm-ups, then the median of `repeats` runs
 * (default 50) with the L2 cache flushed before each (a buffer of twice the L2 size written), min
 * and max printed. Built as the library builds the kernels' sources: this file with -fmad=false,
 * as affine_grid.cu, grid_sample.cu and adam.cu; the Gram in bench_gpu_brief_gram.cu without it
 * (bench/bench_gpu.cmake). bench/peer_gpu_brief.py runs the same work in PyTorch on the same
 * card.
 *   bench_gpu_brief [repeats]        (prints one line per kernel and size; GPU only) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_gpu_util.cuh"
#include "kernels/adam.cuh"
#include "kernels/affine_grid.cuh"
#include "kernels/gram.cuh"
#include "kernels/grid_sample.cuh"

/* The launch sequences of the kernels built without -fmad=false (bench_gpu_brief_gram.cu). */
void bench_gram_forward(const nst_k_gram &k);
void bench_gram_backward(const nst_k_gram &k);

NST_K_GLOBAL(nst_k_affine_forward, nst_k_affine)
NST_K_GLOBAL(nst_k_affine_final, nst_k_affine)
NST_K_GLOBAL(nst_k_gs_count, nst_k_gs)
NST_K_GLOBAL(nst_k_gs_fill, nst_k_gs)

static int repeats = 50;

/* Times fn `repeats` times (bench_gpu_time); prints the median and spread, and TFLOP/s when
 * flops > 0 or GB/s when bytes > 0. */
template <typename Fn>
static void bench(const char *name, Fn fn, double flops, double bytes) {
    const bench_gpu_ms t = bench_gpu_time(repeats, fn);
    const double med = t.median;
    printf("%-58s %9.3f ms  [%.3f .. %.3f]", name, med, t.min, t.max);
    if (flops > 0)
        printf("  %7.2f TFLOP/s", flops / (med * 1e-3) / 1e12);
    if (bytes > 0)
        printf("  %7.1f GB/s", bytes / (med * 1e-3) / 1e9);
    printf("\n");
}

static float *device_uniform(size_t n, float lo, float hi, unsigned seed) {
    float *h = (float *)malloc(n * sizeof(float)), *d = NULL;
    srand(seed);
    for (size_t i = 0; i < n; i++)
        h[i] = lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
    BENCH_CUDA_CHECK(cudaMalloc(&d, n * sizeof(float) + 16));
    BENCH_CUDA_CHECK(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    free(h);
    return d;
}

static void affine_and_sample(int64_t H, int64_t W, int64_t C) {
    char name[128];
    const int64_t P = H * W;
    /* a 15 degree rotation with a 0.9 zoom: points inside and outside the image */
    const float a = 0.9f * cosf(0.2618f), b = 0.9f * sinf(0.2618f);
    const float theta_h[6] = {a, -b, 0.05f, b, a, -0.03f};
    float *theta, *grid, *dgrid, *dtheta, *x, *y, *dy, *dx;
    double *part;
    BENCH_CUDA_CHECK(cudaMalloc(&theta, sizeof theta_h));
    BENCH_CUDA_CHECK(cudaMemcpy(theta, theta_h, sizeof theta_h, cudaMemcpyHostToDevice));
    BENCH_CUDA_CHECK(cudaMalloc(&grid, (size_t)P * 2 * sizeof(float)));
    BENCH_CUDA_CHECK(cudaMalloc(&dtheta, 6 * sizeof(float)));
    BENCH_CUDA_CHECK(cudaMalloc(&part, nst_k_affine_scratch(1, H, W)));
    dgrid = device_uniform((size_t)P * 2, -1, 1, 1);
    x = device_uniform((size_t)P * C, -1, 1, 2);
    dy = device_uniform((size_t)P * C, -1, 1, 3);
    BENCH_CUDA_CHECK(cudaMalloc(&y, (size_t)P * C * sizeof(float)));
    BENCH_CUDA_CHECK(cudaMalloc(&dx, (size_t)P * C * sizeof(float)));
    nst_k_affine ka = nst_k_affine_make(1, H, W, false);
    ka.theta = theta, ka.grid = grid, ka.dgrid = dgrid, ka.dtheta = dtheta, ka.part = part;
    snprintf(name, sizeof name, "affine_grid forward (1, 2, 3) -> (1, %lld, %lld, 2)",
             (long long)H, (long long)W);
    bench(name, [&] { BENCH_LAUNCH_1D(nst_k_affine_forward, P, ka); }, 0, P * 8.0);
    snprintf(name, sizeof name, "affine_grid backward (1, %lld, %lld, 2) -> dtheta",
             (long long)H, (long long)W);
    bench(name, [&] {
        nst_k_affine_partial_kernel<<<(unsigned)nst_k_affine_partial_blocks(&ka),
                                      NST_K_AFFINE_THREADS, 0, bench_stream>>>(ka);
        BENCH_LAUNCH_1D(nst_k_affine_final, 6, ka);
    }, 0, P * 8.0);
    BENCH_LAUNCH_1D(nst_k_affine_forward, P, ka);

    nst_k_gs k = nst_k_gs_make(x, grid, 1, H, W, C, H, W, NST_PAD_ZEROS, false);
    k.y = y, k.dy = dy, k.dgrid = dgrid;
    const int64_t blocks = nst_k_gs_blocks(&k, P);
    const double io = (double)P * (C * 2 + 2) * 4.0;
    snprintf(name, sizeof name, "grid_sample forward (1, %lld, %lld, %lld) zeros", (long long)H,
             (long long)W, (long long)C);
    bench(name, [&] {
        nst_k_gs_forward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0, bench_stream>>>(k);
    }, 0, io);
    nst_k_gs ka_dx = k;
    ka_dx.dx = dx;
    snprintf(name, sizeof name, "grid_sample backward dx (atomic) + dgrid, C %lld", (long long)C);
    bench(name, [&] {
        BENCH_CUDA_CHECK(cudaMemsetAsync(dx, 0, (size_t)P * C * sizeof(float), bench_stream));
        nst_k_gs_backward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0, bench_stream>>>(ka_dx);
    }, 0, io + P * C * 4.0);
    nst_k_gs kd = k;
    void *scratch;
    BENCH_CUDA_CHECK(cudaMalloc(&scratch, nst_k_gs_layout_make(P, P).total));
    nst_k_gs_set_scratch(&kd, scratch);
    kd.dx_gather = dx;
    snprintf(name, sizeof name, "grid_sample backward dx (deterministic) + dgrid, C %lld",
             (long long)C);
    bench(name, [&] {
        nst_k_gs_backward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0, bench_stream>>>(k);
        BENCH_CUDA_CHECK(cudaMemsetAsync(kd.count, 0, (size_t)P * sizeof(int), bench_stream));
        BENCH_LAUNCH_1D(nst_k_gs_count, P, kd);
        nst_k_gs_scan_sum_kernel<<<(unsigned)kd.tiles, NST_K_GS_THREADS, 0, bench_stream>>>(kd);
        nst_k_gs_scan_tiles_kernel<<<1, 1, 0, bench_stream>>>(kd);
        nst_k_gs_scan_apply_kernel<<<(unsigned)kd.tiles, NST_K_GS_THREADS, 0, bench_stream>>>(kd);
        BENCH_LAUNCH_1D(nst_k_gs_fill, P, kd);
        nst_k_gs_gather_kernel<<<(unsigned)nst_k_gs_blocks(&kd, P), NST_K_GS_THREADS, 0,
                                 bench_stream>>>(kd);
    }, 0, io + P * C * 4.0);
    BENCH_CUDA_CHECK(cudaStreamSynchronize(bench_stream));
    void *bufs[] = {theta, grid, dgrid, dtheta, part, x, y, dy, dx, scratch};
    for (void *p : bufs)
        BENCH_CUDA_CHECK(cudaFree(p));
}

static nst_adam_step step_make(double lr, double beta1, double beta2, double eps,
                               double weight_decay, long t);

static void adam(const char *what, int n_slots, int64_t per_slot) {
    nst_k_adam_slot *rows = (nst_k_adam_slot *)calloc((size_t)n_slots, sizeof *rows);
    int64_t chunks = 0;
    for (int i = 0; i < n_slots; i++) {
        rows[i].param = device_uniform((size_t)per_slot, -1, 1, 10 + i);
        rows[i].grad = device_uniform((size_t)per_slot, -1, 1, 20 + i);
        rows[i].m = device_uniform((size_t)per_slot, -0.1f, 0.1f, 30 + i);
        rows[i].v = device_uniform((size_t)per_slot, 0, 0.1f, 40 + i);
        rows[i].n = per_slot, rows[i].first_chunk = chunks, rows[i].vec = 4;
        chunks += nst_k_adam_slot_chunks(per_slot);
    }
    char *table;
    BENCH_CUDA_CHECK(cudaMalloc(&table, nst_k_adam_scratch(n_slots)));
    nst_k_adam_head head;
    head.step = step_make(1e-3, 0.9, 0.999, 1e-8, 0.0, 10);
    nst_k_adam_slot *dslots = (nst_k_adam_slot *)(table + nst_k_adam_slots_offset());
    nst_k_adam k;
    k.head = (const nst_k_adam_head *)table, k.slots = dslots, k.chunks = chunks;
    k.n_slots = n_slots;
    const nst_k_grid g = nst_k_adam_grid(&k);
    const double n = (double)n_slots * (double)per_slot;
    char name[128];
    snprintf(name, sizeof name, "adam %s (upload + 1 launch)", what);
    bench(name, [&] {
        BENCH_CUDA_CHECK(cudaMemcpyAsync(table, &head, sizeof head, cudaMemcpyHostToDevice,
                                         bench_stream));
        BENCH_CUDA_CHECK(cudaMemcpyAsync(dslots, rows, (size_t)n_slots * sizeof *rows,
                                         cudaMemcpyHostToDevice, bench_stream));
        nst_k_adam_kernel<<<(unsigned)g.blocks, g.threads, 0, bench_stream>>>(k);
    }, 0, n * 28.0); /* param, m, v read and written, grad read */
    BENCH_CUDA_CHECK(cudaStreamSynchronize(bench_stream));
    for (int i = 0; i < n_slots; i++) {
        BENCH_CUDA_CHECK(cudaFree(rows[i].param));
        BENCH_CUDA_CHECK(cudaFree((void *)rows[i].grad));
        BENCH_CUDA_CHECK(cudaFree(rows[i].m));
        BENCH_CUDA_CHECK(cudaFree(rows[i].v));
    }
    BENCH_CUDA_CHECK(cudaFree(table));
    free(rows);
}

/* The step constants as nst_adam_step_make computes them (in double, stored as float), without
 * linking the library. */
static nst_adam_step step_make(double lr, double beta1, double beta2, double eps,
                                 double weight_decay, long t) {
    nst_adam_step s;
    s.lr = (float)lr, s.beta1 = (float)beta1, s.beta2 = (float)beta2, s.eps = (float)eps;
    s.weight_decay = (float)weight_decay;
    s.one_minus_beta1 = (float)(1.0 - beta1), s.one_minus_beta2 = (float)(1.0 - beta2);
    s.bias_correction1 = (float)(1.0 - pow(beta1, (double)t));
    s.bias_correction2_sqrt = (float)sqrt(1.0 - pow(beta2, (double)t));
    return s;
}

static void gram(int64_t C, int64_t HW) {
    float *x = device_uniform((size_t)(C * HW), -1, 1, 5);
    float *dg = device_uniform((size_t)(C * C), -1, 1, 6);
    float *g, *dx, *part, *sym;
    nst_k_gram k = nst_k_gram_make(x, 1, HW, C);
    BENCH_CUDA_CHECK(cudaMalloc(&g, (size_t)(C * C) * sizeof(float)));
    BENCH_CUDA_CHECK(cudaMalloc(&dx, (size_t)(C * HW) * sizeof(float)));
    BENCH_CUDA_CHECK(cudaMalloc(&part, nst_k_gram_scratch(&k, 0)));
    BENCH_CUDA_CHECK(cudaMalloc(&sym, nst_k_gram_scratch(&k, 1)));
    k.g = g, k.part = part, k.dg = dg, k.dx = dx, k.sym = sym;
    const double flops = 2.0 * (double)C * (double)C * (double)HW;
    char name[128];
    snprintf(name, sizeof name, "gram forward (%lld, %lld), %lld chunks", (long long)C,
             (long long)HW, (long long)k.chunks);
    bench(name, [&] { bench_gram_forward(k); }, flops, 0);
    snprintf(name, sizeof name, "gram backward (%lld, %lld)", (long long)C, (long long)HW);
    bench(name, [&] { bench_gram_backward(k); }, flops, 0);
    BENCH_CUDA_CHECK(cudaStreamSynchronize(bench_stream));
    void *bufs[] = {x, dg, g, dx, part, sym};
    for (void *p : bufs)
        BENCH_CUDA_CHECK(cudaFree(p));
}

int main(int argc, char **argv) {
    if (argc > 1)
        repeats = atoi(argv[1]) < 50 ? 50 : atoi(argv[1]);
    int dev_count = 0;
    if (cudaGetDeviceCount(&dev_count) != cudaSuccess || dev_count == 0) {
        printf("no CUDA device: nothing to measure\n");
        return 77;
    }
    const cudaDeviceProp prop = bench_gpu_open();
    printf("%s, L2 %d MiB, %d repeats (median [min .. max], L2 flushed before each)\n", prop.name,
           prop.l2CacheSize >> 20, repeats);
    affine_and_sample(512, 768, 64);
    affine_and_sample(2048, 3072, 3);
    adam("20M parameters in 40 tensors", 40, 500000);
    adam("one 1.18M tensor", 1, 1180000);
    adam("62 tensors holding 1.68M", 62, 1680000 / 62);
    gram(64, 393216);
    gram(512, 6144);
    bench_gpu_close();
    return 0;
}
