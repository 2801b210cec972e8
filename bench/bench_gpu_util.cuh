/* What the CUDA benchmarks that launch src/kernels/ bodies themselves (bench_gpu_kernels.cu,
 * bench_gpu_brief.cu and their companion sources) share beside bench_util.h: the CUDA error
 * check, the one stream they launch on, an L2 flush buffer of twice the L2 size (both defined in
 * bench_gpu_util.cu), the 1-D launch of a kernel on a launcher's grid, and the event timing of a
 * kernel sequence (3 warm-ups, then `repeats` runs, each after the flush, timed with cudaEvents
 * on the stream: min, median, max). The benchmarks are its tests: they build where CUDA is on
 * and run by hand on a GPU. */
#ifndef NSTYLE_BENCH_GPU_UTIL_CUH
#define NSTYLE_BENCH_GPU_UTIL_CUH

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "kernels/kernel_common.cuh"

#define BENCH_CUDA_CHECK(call)                                                                \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

/* The stream every benchmark launch and copy goes to, and the L2 flush buffer. */
extern cudaStream_t bench_stream;
extern float *bench_flush_buf;
extern size_t bench_flush_bytes;

/* Device 0's properties, with the stream and the flush buffer made; bench_gpu_close frees
 * them. */
cudaDeviceProp bench_gpu_open(void);
void bench_gpu_close(void);

/* Launches NAME_kernel over p on the 1-D grid `grid` (nothing when it has no blocks), on the
 * benchmark's stream, as the launchers' NST_K_LAUNCH_GRID does; BENCH_LAUNCH_1D on the
 * grid-stride grid for `work` items, as NST_K_LAUNCH_1D. */
#define BENCH_LAUNCH_GRID(NAME, grid, p)                                                      \
    do {                                                                                      \
        const nst_k_grid g_ = (grid);                                                         \
        if (g_.blocks > 0)                                                                    \
            NAME##_kernel<<<(unsigned)g_.blocks, g_.threads, 0, bench_stream>>>(p);           \
    } while (0)
#define BENCH_LAUNCH_1D(NAME, work, p) BENCH_LAUNCH_GRID(NAME, nst_k_grid_for(work), p)

/* Milliseconds of one run of a kernel sequence over the repeats; the median is the upper of the
 * two middle runs when the count is even. */
typedef struct {
    double min, median, max;
} bench_gpu_ms;

/* Times fn() (launches on bench_stream) `repeats` times (>= 1) after 3 untimed warm-ups,
 * writing the flush buffer before each timed run; a CUDA error stops the program. */
template <typename F>
static bench_gpu_ms bench_gpu_time(int repeats, F fn) {
    cudaEvent_t t0, t1;
    BENCH_CUDA_CHECK(cudaEventCreate(&t0));
    BENCH_CUDA_CHECK(cudaEventCreate(&t1));
    for (int i = 0; i < 3; i++)
        fn();
    BENCH_CUDA_CHECK(cudaGetLastError());
    double *ms = (double *)malloc(sizeof(double) * (size_t)repeats);
    if (!ms) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int i = 0; i < repeats; i++) {
        BENCH_CUDA_CHECK(cudaMemsetAsync(bench_flush_buf, i & 0xff, bench_flush_bytes,
                                         bench_stream));
        BENCH_CUDA_CHECK(cudaEventRecord(t0, bench_stream));
        fn();
        BENCH_CUDA_CHECK(cudaEventRecord(t1, bench_stream));
        BENCH_CUDA_CHECK(cudaEventSynchronize(t1));
        BENCH_CUDA_CHECK(cudaGetLastError());
        float elapsed = 0.0f;
        BENCH_CUDA_CHECK(cudaEventElapsedTime(&elapsed, t0, t1));
        ms[i] = elapsed;
    }
    qsort(ms, (size_t)repeats, sizeof *ms, bench_cmp_double);
    const bench_gpu_ms r = {ms[0], ms[repeats / 2], ms[repeats - 1]};
    free(ms);
    BENCH_CUDA_CHECK(cudaEventDestroy(t0));
    BENCH_CUDA_CHECK(cudaEventDestroy(t1));
    return r;
}

#endif
