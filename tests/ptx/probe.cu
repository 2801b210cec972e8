/* check_ptx.sh's self-check: a multiply-add that nvcc contracts into an FMA unless told not to,
 * which ptx_rules.awk must report, and an fmodf call, whose library FMAs it must excuse. Compiled
 * to PTX only, never built into anything. */
#include <math.h>

__global__ void nst_ptx_probe_contracted(const float *a, float *y) {
    y[threadIdx.x] = a[threadIdx.x] * a[threadIdx.x + 32] + a[threadIdx.x + 64];
}

__global__ void nst_ptx_probe_fmodf(const float *a, float *y) {
    y[threadIdx.x] = fmodf(a[threadIdx.x], a[threadIdx.x + 32]);
}
