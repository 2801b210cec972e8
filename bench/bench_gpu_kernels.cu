/* The network ops' CUDA kernels in GB/s at VGG19 and TransformerNet sizes, beside a
 * device-to-device cudaMemcpy of the same bytes measured on the same card. Each kernel runs the
 * bodies of src/kernels/<family>.cuh on the launchers' grids (one thin __global__ per body, as
 * in the src/kernels/ launchers; instance norm's finalize kernel on nst_k_norm_fin_grid, as
 * instance_norm.cu launches it), timed with cudaEvents on one stream (bench_gpu_util.cuh):
 * warm-up, then the median of many repeats with the L2 cache flushed before each (a buffer of
 * twice the L2 size written), the spread (min and max) printed. Bytes counted: what the kernel
 * must read and write at least. Target: the memory-bound kernels at >= 70 % of the copy's
 * bandwidth. Built as the library builds the kernels' sources: this file with -fmad=false, as
 * relu.cu, eltwise.cu, pool.cu, upsample.cu and reflect_pad.cu; instance norm and the sum
 * reduction in bench_gpu_kernels_norm_reduce.cu without it (bench/bench_gpu.cmake).
 *   bench_gpu_kernels [repeats]       (default 50; prints one line per kernel and size) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_gpu_util.cuh"
#include "kernels/eltwise.cuh"
#include "kernels/instance_norm.cuh"
#include "kernels/pool.cuh"
#include "kernels/reduce.cuh"
#include "kernels/reflect_pad.cuh"
#include "kernels/relu.cuh"
#include "kernels/upsample.cuh"

/* The launch sequences of the kernels built without -fmad=false
 * (bench_gpu_kernels_norm_reduce.cu). */
void bench_norm_forward(nst_k_norm k);
void bench_reduce_sum(const nst_k_reduce &r);

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

/* Times fn `repeats` times (bench_gpu_time); prints GB/s for bytes, and the share of copy_gbs
 * when it is > 0. */
template <typename F>
static double timed(const char *name, const char *size, double bytes, int repeats, double copy_gbs,
                    F fn) {
    const bench_gpu_ms t = bench_gpu_time(repeats, fn);
    const double med = t.median, gbs = bytes / (med * 1e-3) / 1e9;
    printf("%-22s %-18s %9.1f MB %9.3f ms (min %.3f max %.3f) %8.1f GB/s", name, size, bytes / 1e6,
           med, t.min, t.max, gbs);
    if (copy_gbs > 0)
        printf("  %5.1f %% of copy", 100.0 * gbs / copy_gbs);
    printf("\n");
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
    const cudaDeviceProp prop = bench_gpu_open();
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
        BENCH_CUDA_CHECK(cudaMalloc(&x, bytes));
        BENCH_CUDA_CHECK(cudaMalloc(&y, bytes));
        BENCH_CUDA_CHECK(cudaMalloc(&z, bytes));
        BENCH_CUDA_CHECK(cudaMalloc(&big, nbig * 4));
        BENCH_CUDA_CHECK(cudaMemsetAsync(x, 0, bytes, bench_stream));
        BENCH_CUDA_CHECK(cudaMemsetAsync(y, 0, bytes, bench_stream));
        const nst_k_norm_shape nd = nst_k_norm_shape_make(s.n, (int64_t)s.h * s.w, s.c);
        const size_t scratch = nst_k_norm_layout_make(nd, 1).total + nst_k_reduce_scratch(n);
        BENCH_CUDA_CHECK(cudaMalloc(&part, scratch));
        char size[32];
        snprintf(size, sizeof size, "%dx%dx%dx%d", s.n, s.h, s.w, s.c);
        printf("-- %s\n", s.name);
        const double copy = timed("cudaMemcpy d2d", size, 2.0 * bytes, repeats, 0, [&] {
            BENCH_CUDA_CHECK(cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, bench_stream));
        });
        nst_k_flat f = nst_k_flat_make(x, NULL, y, n);
        timed("relu_forward", size, 2.0 * bytes, repeats, copy,
              [&] { BENCH_LAUNCH_1D(nst_k_relu_forward, nst_k_flat_work(&f), f); });
        nst_k_flat fa = nst_k_flat_make(x, y, z, n);
        timed("add", size, 3.0 * bytes, repeats, copy,
              [&] { BENCH_LAUNCH_1D(nst_k_add, nst_k_flat_work(&fa), fa); });
        nst_k_flat fx = nst_k_flat_make(x, NULL, y, n);
        fx.alpha = 0.5f;
        timed("axpy", size, 3.0 * bytes, repeats, copy,
              [&] { BENCH_LAUNCH_1D(nst_k_axpy, nst_k_flat_work(&fx), fx); });
        nst_k_pool pf = nst_k_pool_make(x, NULL, y, NULL, s.n, s.h, s.w, s.c, 1);
        timed("pool2x2_forward max", size, 1.25 * bytes, repeats, copy,
              [&] { BENCH_LAUNCH_1D(nst_k_pool_forward, nst_k_pool_forward_work(&pf), pf); });
        nst_k_pool pb = nst_k_pool_make(x, y, NULL, z, s.n, s.h, s.w, s.c, 1);
        timed("pool2x2_backward max", size, 2.25 * bytes, repeats, copy,
              [&] { BENCH_LAUNCH_1D(nst_k_pool_backward, nst_k_pool_backward_work(&pb), pb); });
        nst_k_upsample uf = nst_k_upsample_make(x, NULL, big, NULL, s.n, s.h, s.w, s.c);
        timed("upsample2x_forward", size, 5.0 * bytes, repeats, copy,
              [&] {
                  BENCH_LAUNCH_1D(nst_k_upsample_forward, nst_k_upsample_forward_work(&uf), uf);
              });
        nst_k_upsample ub = nst_k_upsample_make(NULL, big, NULL, x, s.n, s.h, s.w, s.c);
        timed("upsample2x_backward", size, 5.0 * bytes, repeats, copy,
              [&] {
                  BENCH_LAUNCH_1D(nst_k_upsample_backward, nst_k_upsample_backward_work(&ub), ub);
              });
        nst_k_pad rf = nst_k_pad_make(x, NULL, big, NULL, s.n, s.h, s.w, s.c, 4, 4, 4, 4);
        const double padded = 4.0 * s.n * (s.h + 8) * (s.w + 8) * s.c;
        timed("reflect_pad_forward 4", size, bytes + padded, repeats, copy,
              [&] { BENCH_LAUNCH_1D(nst_k_pad_forward, nst_k_pad_forward_work(&rf), rf); });
        nst_k_pad rb = nst_k_pad_make(NULL, big, NULL, y, s.n, s.h, s.w, s.c, 4, 4, 4, 4);
        timed("reflect_pad_backward 4", size, bytes + padded, repeats, copy,
              [&] { BENCH_LAUNCH_1D(nst_k_pad_backward, nst_k_pad_backward_work(&rb), rb); });
        nst_k_norm k = nst_k_norm_make(nd, part, 0);
        k.x = x, k.y = y, k.eps = 1e-5f;
        k.v = nst_k_norm_vec(&k);
        timed("instance_norm_forward", size, 3.0 * bytes, repeats, copy,
              [&] { bench_norm_forward(k); });
        nst_k_reduce r = nst_k_reduce_make(x, n, part, z, 0);
        timed("reduce_sum", size, 1.0 * bytes, repeats, copy, [&] { bench_reduce_sum(r); });
        BENCH_CUDA_CHECK(cudaFree(x));
        BENCH_CUDA_CHECK(cudaFree(y));
        BENCH_CUDA_CHECK(cudaFree(z));
        BENCH_CUDA_CHECK(cudaFree(big));
        BENCH_CUDA_CHECK(cudaFree(part));
    }
    bench_gpu_close();
    return 0;
}
