/* The network ops' CUDA kernels in GB/s at VGG19 and TransformerNet sizes, beside a
 * device-to-device cudaMemcpy of the same bytes measured on the same card. Each kernel runs the
 * bodies of src/kernels/<family>.cuh on the launchers' grids (one thin __global__ per body, as
 * in the src/kernels/ launchers), timed with cudaEvents on one stream: warm-up, then the median of many
 * repeats with the L2 cache flushed before each (a buffer of twice the L2 size written), the
 * spread (min and max) printed. Bytes counted: what the kernel must read and write at least.
 * Target: the memory-bound kernels at >= 70 % of the copy's bandwidth.
 *   bench_gpu_kernels [repeats]       (default 50; prints one line per kernel and size) */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/eltwise.cuh"
#include "kernels/instance_norm.cuh"
#include "kernels/pool.cuh"
#include "kernels/reduce.cuh"
#include "kernels/reflect_pad.cuh"
#include "kernels/relu.cuh"
#include "kernels/upsample.cuh"

extern "C" void nst_k_emul_fault(const void *p) { (void)p; }

#define CHECK(call)                                                                           \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

#define GLOBAL NST_K_GLOBAL
GLOBAL(nst_k_relu_forward, nst_k_flat)
GLOBAL(nst_k_add, nst_k_flat)
GLOBAL(nst_k_axpy, nst_k_flat)
GLOBAL(nst_k_pool_forward, nst_k_pool)
GLOBAL(nst_k_pool_backward, nst_k_pool)
GLOBAL(nst_k_upsample_forward, nst_k_upsample)
GLOBAL(nst_k_upsample_backward, nst_k_upsample)
GLOBAL(nst_k_pad_forward, nst_k_pad)
GLOBAL(nst_k_pad_backward, nst_k_pad)
GLOBAL(nst_k_norm_mean, nst_k_norm)
GLOBAL(nst_k_norm_stats, nst_k_norm)
GLOBAL(nst_k_norm_apply, nst_k_norm)

#define LAUNCH(NAME, work, p)                                                                 \
    do {                                                                                      \
        const nst_k_grid g_ = nst_k_grid_for(work);                                           \
        if (g_.blocks > 0)                                                                    \
            NAME##_kernel<<<(unsigned)g_.blocks, g_.threads, 0, stream>>>(p);                 \
    } while (0)

static cudaStream_t stream;
static float *flush_buf;
static size_t flush_bytes;

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Times fn `repeats` times after 3 warm-ups, flushing L2 before each; prints GB/s for bytes. */
template <typename F>
static double timed(const char *name, const char *size, double bytes, int repeats, double copy_gbs,
                    F fn) {
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    for (int i = 0; i < 3; i++)
        fn();
    float *ms = (float *)malloc(sizeof(float) * repeats);
    for (int i = 0; i < repeats; i++) {
        CHECK(cudaMemsetAsync(flush_buf, i & 0xff, flush_bytes, stream));
        CHECK(cudaEventRecord(a, stream));
        fn();
        CHECK(cudaEventRecord(b, stream));
        CHECK(cudaEventSynchronize(b));
        CHECK(cudaGetLastError());
        CHECK(cudaEventElapsedTime(&ms[i], a, b));
    }
    qsort(ms, repeats, sizeof *ms, cmp_float);
    const double med = ms[repeats / 2], gbs = bytes / (med * 1e-3) / 1e9;
    printf("%-22s %-18s %9.1f MB %9.3f ms (min %.3f max %.3f) %8.1f GB/s", name, size, bytes / 1e6,
           med, ms[0], ms[repeats - 1], gbs);
    if (copy_gbs > 0)
        printf("  %5.1f %% of copy", 100.0 * gbs / copy_gbs);
    printf("\n");
    free(ms);
    CHECK(cudaEventDestroy(a));
    CHECK(cudaEventDestroy(b));
    return gbs;
}

typedef struct {
    const char *name;
    int n, h, w, c;
} shape;

int main(int argc, char **argv) {
    const int repeats = argc > 1 ? atoi(argv[1]) : 50;
    if (repeats < 1) {
        fprintf(stderr, "usage: bench_gpu_kernels [repeats >= 1]\n");
        return 2;
    }
    int dev = 0;
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, dev));
    CHECK(cudaStreamCreate(&stream));
    flush_bytes = 2 * (size_t)prop.l2CacheSize;
    CHECK(cudaMalloc(&flush_buf, flush_bytes));
    printf("%s, L2 %d MiB, %d repeats (median, L2 flushed before each)\n", prop.name,
           prop.l2CacheSize >> 20, repeats);
    /* VGG19 at 512x512 (conv1_x, conv3_x), TransformerNet at 1024x1024 (in, conv1, up1) */
    const shape shapes[] = {{"vgg conv1 512", 1, 512, 512, 64},
                            {"vgg conv3 512", 1, 128, 128, 256},
                            {"tnet in1 1024", 1, 1024, 1024, 32},
                            {"tnet rgb 1024", 1, 1024, 1024, 3}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape s = shapes[si];
        const int64_t n = (int64_t)s.n * s.h * s.w * s.c, bytes = n * 4;
        float *x, *y, *z, *big;
        double *part;
        /* big: the 2x upsampled or padded map */
        const int64_t nbig = (int64_t)s.n * (2 * s.h + 8) * (2 * s.w + 8) * s.c;
        CHECK(cudaMalloc(&x, bytes));
        CHECK(cudaMalloc(&y, bytes));
        CHECK(cudaMalloc(&z, bytes));
        CHECK(cudaMalloc(&big, nbig * 4));
        CHECK(cudaMemsetAsync(x, 0, bytes, stream));
        CHECK(cudaMemsetAsync(y, 0, bytes, stream));
        const nst_k_norm_shape nd = nst_k_norm_shape_make(s.n, (int64_t)s.h * s.w, s.c);
        const size_t scratch = nst_k_norm_layout_make(nd, 1).total + nst_k_reduce_scratch(n);
        CHECK(cudaMalloc(&part, scratch));
        char size[32];
        snprintf(size, sizeof size, "%dx%dx%dx%d", s.n, s.h, s.w, s.c);
        printf("-- %s\n", s.name);
        const double copy = timed("cudaMemcpy d2d", size, 2.0 * bytes, repeats, 0, [&] {
            CHECK(cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, stream));
        });
        nst_k_flat f = nst_k_flat_make(x, NULL, y, n);
        timed("relu_forward", size, 2.0 * bytes, repeats, copy,
              [&] { LAUNCH(nst_k_relu_forward, nst_k_flat_work(&f), f); });
        nst_k_flat fa = nst_k_flat_make(x, y, z, n);
        timed("add", size, 3.0 * bytes, repeats, copy,
              [&] { LAUNCH(nst_k_add, nst_k_flat_work(&fa), fa); });
        nst_k_flat fx = nst_k_flat_make(x, NULL, y, n);
        fx.alpha = 0.5f;
        timed("axpy", size, 3.0 * bytes, repeats, copy,
              [&] { LAUNCH(nst_k_axpy, nst_k_flat_work(&fx), fx); });
        nst_k_pool pf = nst_k_pool_make(x, NULL, y, NULL, s.n, s.h, s.w, s.c, 1);
        timed("pool2x2_forward max", size, 1.25 * bytes, repeats, copy,
              [&] { LAUNCH(nst_k_pool_forward, nst_k_pool_forward_work(&pf), pf); });
        nst_k_pool pb = nst_k_pool_make(x, y, NULL, z, s.n, s.h, s.w, s.c, 1);
        timed("pool2x2_backward max", size, 2.25 * bytes, repeats, copy,
              [&] { LAUNCH(nst_k_pool_backward, nst_k_pool_backward_work(&pb), pb); });
        nst_k_upsample uf = nst_k_upsample_make(x, NULL, big, NULL, s.n, s.h, s.w, s.c);
        timed("upsample2x_forward", size, 5.0 * bytes, repeats, copy,
              [&] { LAUNCH(nst_k_upsample_forward, nst_k_upsample_forward_work(&uf), uf); });
        nst_k_upsample ub = nst_k_upsample_make(NULL, big, NULL, x, s.n, s.h, s.w, s.c);
        timed("upsample2x_backward", size, 5.0 * bytes, repeats, copy,
              [&] { LAUNCH(nst_k_upsample_backward, nst_k_upsample_backward_work(&ub), ub); });
        nst_k_pad rf = nst_k_pad_make(x, NULL, big, NULL, s.n, s.h, s.w, s.c, 4, 4, 4, 4);
        const double padded = 4.0 * s.n * (s.h + 8) * (s.w + 8) * s.c;
        timed("reflect_pad_forward 4", size, bytes + padded, repeats, copy,
              [&] { LAUNCH(nst_k_pad_forward, nst_k_pad_forward_work(&rf), rf); });
        nst_k_pad rb = nst_k_pad_make(NULL, big, NULL, y, s.n, s.h, s.w, s.c, 4, 4, 4, 4);
        timed("reflect_pad_backward 4", size, bytes + padded, repeats, copy,
              [&] { LAUNCH(nst_k_pad_backward, nst_k_pad_backward_work(&rb), rb); });
        nst_k_norm k = nst_k_norm_make(nd, part, 0);
        k.x = x, k.y = y, k.eps = 1e-5f;
        k.v = nst_k_norm_vec(&k);
        timed("instance_norm_forward", size, 3.0 * bytes, repeats, copy, [&] {
            k.mode = NST_K_NORM_SUM;
            nst_k_norm_partial_kernel<<<(unsigned)nst_k_norm_partial_blocks(&k), NST_K_NORM_THREADS, 0,
                                  stream>>>(k);
            LAUNCH(nst_k_norm_mean, nd.N * nd.C, k);
            k.mode = NST_K_NORM_SQUARES;
            nst_k_norm_partial_kernel<<<(unsigned)nst_k_norm_partial_blocks(&k), NST_K_NORM_THREADS, 0,
                                  stream>>>(k);
            LAUNCH(nst_k_norm_stats, nd.N * nd.C, k);
            LAUNCH(nst_k_norm_apply, nst_k_norm_elem_work(&k), k);
        });
        nst_k_reduce r = nst_k_reduce_make(x, n, part, z, 0);
        timed("reduce_sum", size, 1.0 * bytes, repeats, copy, [&] {
            nst_k_reduce_partial_kernel<<<(unsigned)r.blocks, NST_K_REDUCE_THREADS, 0, stream>>>(r);
            nst_k_reduce_final_kernel<<<1, NST_K_REDUCE_THREADS, 0, stream>>>(r);
        });
        CHECK(cudaFree(x));
        CHECK(cudaFree(y));
        CHECK(cudaFree(z));
        CHECK(cudaFree(big));
        CHECK(cudaFree(part));
    }
    CHECK(cudaFree(flush_buf));
    CHECK(cudaStreamDestroy(stream));
    return 0;
}
