/* The spatial-transformer, optimiser and Gram kernels at the brief's sizes, on one GPU: affine
 * grid (forward, backward) and bilinear grid sampling forward and backward (atomic dx, and the
 * deterministic dx path) on a (1, 64, 512, 768) feature map and a (1, 3, 2048, 3072) image with
 * a rotated grid of the same size; fused Adam over 20M parameters in 40 tensors, one 1.18M
 * tensor, and 62 tensors holding 1.68M; the Gram forward and backward of a (64, 393216) and a
 * (512, 6144) feature map (FLOPs = 2 * C^2 * HW each way). Each kernel sequence is the
 * launcher's (src/kernels/<op>.cu) over the bodies of src/kernels/<op>.cuh, timed with
 * cudaEvents on one stream: 3 warm-ups, then the median of `repeats` runs (default 50) with the
 * L2 cache flushed before each (a buffer of twice the L2 size written), min and max printed.
 * bench/peer_gpu_brief.py runs the same work in PyTorch on the same card.
 *   bench_gpu_brief [repeats]        (prints one line per kernel and size; GPU only) */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/adam.cuh"
#include "kernels/affine_grid.cuh"
#include "kernels/gram.cuh"
#include "kernels/grid_sample.cuh"

extern "C" void nst_k_emul_fault(const void *p) { (void)p; }

#define CHECK(call)                                                                           \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

NST_K_GLOBAL(nst_k_affine_forward, nst_k_affine)
NST_K_GLOBAL(nst_k_affine_final, nst_k_affine)
NST_K_GLOBAL(nst_k_gs_count, nst_k_gs)
NST_K_GLOBAL(nst_k_gs_fill, nst_k_gs)
NST_K_GLOBAL(nst_k_gram_final, nst_k_gram)
NST_K_GLOBAL(nst_k_gram_sym, nst_k_gram)

static cudaStream_t stream;
static float *flush_buf;
static size_t flush_bytes;
static int repeats = 50;

#define LAUNCH_1D(NAME, work, p)                                                              \
    do {                                                                                      \
        const nst_k_grid g_ = nst_k_grid_for(work);                                           \
        if (g_.blocks > 0)                                                                    \
            NAME##_kernel<<<(unsigned)g_.blocks, g_.threads, 0, stream>>>(p);                 \
    } while (0)

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Times fn(arg) `repeats` times after 3 warm-ups, L2 flushed before each; prints the median
 * and spread, and TFLOP/s when flops > 0 or GB/s when bytes > 0. */
template <typename Fn>
static void bench(const char *name, Fn fn, double flops, double bytes) {
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    for (int i = 0; i < 3; i++)
        fn();
    CHECK(cudaGetLastError());
    float *ms = (float *)malloc(sizeof(float) * (size_t)repeats);
    for (int i = 0; i < repeats; i++) {
        CHECK(cudaMemsetAsync(flush_buf, i & 0xff, flush_bytes, stream));
        CHECK(cudaEventRecord(t0, stream));
        fn();
        CHECK(cudaEventRecord(t1, stream));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaGetLastError());
        CHECK(cudaEventElapsedTime(&ms[i], t0, t1));
    }
    qsort(ms, (size_t)repeats, sizeof(float), cmp_float);
    const double med = ms[repeats / 2];
    printf("%-58s %9.3f ms  [%.3f .. %.3f]", name, med, ms[0], ms[repeats - 1]);
    if (flops > 0)
        printf("  %7.2f TFLOP/s", flops / (med * 1e-3) / 1e12);
    if (bytes > 0)
        printf("  %7.1f GB/s", bytes / (med * 1e-3) / 1e9);
    printf("\n");
    free(ms);
    CHECK(cudaEventDestroy(t0));
    CHECK(cudaEventDestroy(t1));
}

static float *device_uniform(size_t n, float lo, float hi, unsigned seed) {
    float *h = (float *)malloc(n * sizeof(float)), *d = NULL;
    srand(seed);
    for (size_t i = 0; i < n; i++)
        h[i] = lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
    CHECK(cudaMalloc(&d, n * sizeof(float) + 16));
    CHECK(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
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
    CHECK(cudaMalloc(&theta, sizeof theta_h));
    CHECK(cudaMemcpy(theta, theta_h, sizeof theta_h, cudaMemcpyHostToDevice));
    CHECK(cudaMalloc(&grid, (size_t)P * 2 * sizeof(float)));
    CHECK(cudaMalloc(&dtheta, 6 * sizeof(float)));
    CHECK(cudaMalloc(&part, nst_k_affine_scratch(1, H, W)));
    dgrid = device_uniform((size_t)P * 2, -1, 1, 1);
    x = device_uniform((size_t)P * C, -1, 1, 2);
    dy = device_uniform((size_t)P * C, -1, 1, 3);
    CHECK(cudaMalloc(&y, (size_t)P * C * sizeof(float)));
    CHECK(cudaMalloc(&dx, (size_t)P * C * sizeof(float)));
    nst_k_affine ka = nst_k_affine_make(1, H, W, false);
    ka.theta = theta, ka.grid = grid, ka.dgrid = dgrid, ka.dtheta = dtheta, ka.part = part;
    snprintf(name, sizeof name, "affine_grid forward (1, 2, 3) -> (1, %lld, %lld, 2)",
             (long long)H, (long long)W);
    bench(name, [&] { LAUNCH_1D(nst_k_affine_forward, P, ka); }, 0, P * 8.0);
    snprintf(name, sizeof name, "affine_grid backward (1, %lld, %lld, 2) -> dtheta",
             (long long)H, (long long)W);
    bench(name, [&] {
        nst_k_affine_partial_kernel<<<(unsigned)nst_k_affine_partial_blocks(&ka),
                                      NST_K_AFFINE_THREADS, 0, stream>>>(ka);
        LAUNCH_1D(nst_k_affine_final, 6, ka);
    }, 0, P * 8.0);
    LAUNCH_1D(nst_k_affine_forward, P, ka);

    nst_k_gs k = nst_k_gs_make(x, grid, 1, H, W, C, H, W, NST_PAD_ZEROS, false);
    k.y = y, k.dy = dy, k.dgrid = dgrid;
    const int64_t blocks = nst_k_gs_blocks(&k, P);
    const double io = (double)P * (C * 2 + 2) * 4.0;
    snprintf(name, sizeof name, "grid_sample forward (1, %lld, %lld, %lld) zeros", (long long)H,
             (long long)W, (long long)C);
    bench(name, [&] { nst_k_gs_forward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0, stream>>>(k); },
          0, io);
    nst_k_gs ka_dx = k;
    ka_dx.dx = dx;
    snprintf(name, sizeof name, "grid_sample backward dx (atomic) + dgrid, C %lld", (long long)C);
    bench(name, [&] {
        CHECK(cudaMemsetAsync(dx, 0, (size_t)P * C * sizeof(float), stream));
        nst_k_gs_backward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0, stream>>>(ka_dx);
    }, 0, io + P * C * 4.0);
    nst_k_gs kd = k;
    void *scratch;
    CHECK(cudaMalloc(&scratch, nst_k_gs_layout_make(P, P).total));
    nst_k_gs_set_scratch(&kd, scratch);
    kd.dx_gather = dx;
    snprintf(name, sizeof name, "grid_sample backward dx (deterministic) + dgrid, C %lld",
             (long long)C);
    bench(name, [&] {
        nst_k_gs_backward_kernel<<<(unsigned)blocks, NST_K_GS_THREADS, 0, stream>>>(k);
        CHECK(cudaMemsetAsync(kd.count, 0, (size_t)P * sizeof(int), stream));
        LAUNCH_1D(nst_k_gs_count, P, kd);
        nst_k_gs_scan_sum_kernel<<<(unsigned)kd.tiles, NST_K_GS_THREADS, 0, stream>>>(kd);
        nst_k_gs_scan_tiles_kernel<<<1, 1, 0, stream>>>(kd);
        nst_k_gs_scan_apply_kernel<<<(unsigned)kd.tiles, NST_K_GS_THREADS, 0, stream>>>(kd);
        LAUNCH_1D(nst_k_gs_fill, P, kd);
        nst_k_gs_gather_kernel<<<(unsigned)nst_k_gs_blocks(&kd, P), NST_K_GS_THREADS, 0,
                                 stream>>>(kd);
    }, 0, io + P * C * 4.0);
    CHECK(cudaStreamSynchronize(stream));
    void *bufs[] = {theta, grid, dgrid, dtheta, part, x, y, dy, dx, scratch};
    for (void *p : bufs)
        CHECK(cudaFree(p));
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
    CHECK(cudaMalloc(&table, nst_k_adam_scratch(n_slots)));
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
        CHECK(cudaMemcpyAsync(table, &head, sizeof head, cudaMemcpyHostToDevice, stream));
        CHECK(cudaMemcpyAsync(dslots, rows, (size_t)n_slots * sizeof *rows,
                              cudaMemcpyHostToDevice, stream));
        nst_k_adam_kernel<<<(unsigned)g.blocks, g.threads, 0, stream>>>(k);
    }, 0, n * 28.0); /* param, m, v read and written, grad read */
    CHECK(cudaStreamSynchronize(stream));
    for (int i = 0; i < n_slots; i++) {
        CHECK(cudaFree(rows[i].param));
        CHECK(cudaFree((void *)rows[i].grad));
        CHECK(cudaFree(rows[i].m));
        CHECK(cudaFree(rows[i].v));
    }
    CHECK(cudaFree(table));
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
    float *x = device_uniform((size_t)(C * HW), -1, 1, 5), *dg = device_uniform((size_t)(C * C), -1, 1, 6);
    float *g, *dx, *part, *sym;
    nst_k_gram k = nst_k_gram_make(x, 1, HW, C);
    CHECK(cudaMalloc(&g, (size_t)(C * C) * sizeof(float)));
    CHECK(cudaMalloc(&dx, (size_t)(C * HW) * sizeof(float)));
    CHECK(cudaMalloc(&part, nst_k_gram_scratch(&k, 0)));
    CHECK(cudaMalloc(&sym, nst_k_gram_scratch(&k, 1)));
    k.g = g, k.part = part, k.dg = dg, k.dx = dx, k.sym = sym;
    const double flops = 2.0 * (double)C * (double)C * (double)HW;
    char name[128];
    snprintf(name, sizeof name, "gram forward (%lld, %lld), %lld chunks", (long long)C,
             (long long)HW, (long long)k.chunks);
    bench(name, [&] {
        nst_k_gram_forward_kernel<<<(unsigned)nst_k_gram_forward_blocks(&k), NST_K_GRAM_THREADS, 0,
                                    stream>>>(k);
        LAUNCH_1D(nst_k_gram_final, C * C, k);
    }, flops, 0);
    snprintf(name, sizeof name, "gram backward (%lld, %lld)", (long long)C, (long long)HW);
    bench(name, [&] {
        LAUNCH_1D(nst_k_gram_sym, C * C, k);
        nst_k_gram_backward_kernel<<<(unsigned)nst_k_gram_backward_blocks(&k), NST_K_GRAM_THREADS,
                                     0, stream>>>(k);
    }, flops, 0);
    CHECK(cudaStreamSynchronize(stream));
    void *bufs[] = {x, dg, g, dx, part, sym};
    for (void *p : bufs)
        CHECK(cudaFree(p));
}

int main(int argc, char **argv) {
    if (argc > 1)
        repeats = atoi(argv[1]) < 50 ? 50 : atoi(argv[1]);
    int dev_count = 0;
    if (cudaGetDeviceCount(&dev_count) != cudaSuccess || dev_count == 0) {
        printf("no CUDA device: nothing to measure\n");
        return 77;
    }
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    CHECK(cudaStreamCreate(&stream));
    flush_bytes = 2 * (size_t)prop.l2CacheSize;
    CHECK(cudaMalloc(&flush_buf, flush_bytes));
    printf("%s, L2 %d MiB, %d repeats (median [min .. max], L2 flushed before each)\n", prop.name,
           prop.l2CacheSize >> 20, repeats);
    affine_and_sample(512, 768, 64);
    affine_and_sample(2048, 3072, 3);
    adam("20M parameters in 40 tensors", 40, 500000);
    adam("one 1.18M tensor", 1, 1180000);
    adam("62 tensors holding 1.68M", 62, 1680000 / 62);
    gram(64, 393216);
    gram(512, 6144);
    CHECK(cudaFree(flush_buf));
    CHECK(cudaStreamDestroy(stream));
    return 0;
}
