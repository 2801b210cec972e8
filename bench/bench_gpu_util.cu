/* The definitions behind bench_gpu_util.cuh that the CUDA benchmarks link once each: the stream,
 * the L2 flush buffer, and kernel_common.cuh's report of a misaligned 4-wide host access (which
 * only the CPU emulation acts on: the benchmarks run the kernels on the GPU, where that path is
 * never taken). No kernels here. Exercised by the benchmarks it is linked into, on a GPU. */
#include "bench_gpu_util.cuh"

cudaStream_t bench_stream;
float *bench_flush_buf;
size_t bench_flush_bytes;

extern "C" void nst_k_emul_fault(const void *p) { (void)p; }

cudaDeviceProp bench_gpu_open(void) {
    cudaDeviceProp prop;
    BENCH_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    BENCH_CUDA_CHECK(cudaStreamCreate(&bench_stream));
    bench_flush_bytes = 2 * (size_t)prop.l2CacheSize;
    BENCH_CUDA_CHECK(cudaMalloc(&bench_flush_buf, bench_flush_bytes));
    return prop;
}

void bench_gpu_close(void) {
    BENCH_CUDA_CHECK(cudaFree(bench_flush_buf));
    BENCH_CUDA_CHECK(cudaStreamDestroy(bench_stream));
}
