// A planted out-of-bounds write, for scripts/gpu-check.sh to find out whether compute-sanitizer
// can check this device: under memcheck it must report an invalid __global__ write and exit with
// the error code; if it does not, the sanitizer steps are marked UNAVAILABLE, never "ok".
// Launch: one block of 64 threads over a 64-float buffer; thread 63 also writes 1 KiB past it.
// Without a sanitizer the stray write lands inside the allocation's page and the program exits 0.
#include <cstdio>
#include <cuda_runtime.h>

__global__ void write_past_the_end(float *buf, int n) {
    int i = threadIdx.x;
    if (i < n)
        buf[i] = (float)i;
    if (i == n - 1)
        buf[n + 256] = -1.0f; // out of bounds on purpose
}

int main() {
    float *buf = nullptr;
    cudaError_t e = cudaMalloc(&buf, 64 * sizeof(float));
    if (e != cudaSuccess) {
        std::fprintf(stderr, "oob_probe: cudaMalloc: %s\n", cudaGetErrorString(e));
        return 2;
    }
    write_past_the_end<<<1, 64>>>(buf, 64);
    e = cudaDeviceSynchronize();
    std::printf("oob_probe: kernel finished: %s\n", cudaGetErrorString(e));
    cudaFree(buf);
    return 0;
}
