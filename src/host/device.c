/* Build information and GPU listing for `nstyle --version` and `nstyle info`. */
#include <stdio.h>
#include <string.h>

#include "nstyle/device.h"

#ifdef NST_HAVE_CUDA
#include <cuda_runtime_api.h>
#ifdef NST_HAVE_CUDNN_HEADER
#include <cudnn_version.h>
#endif
#endif

#ifndef NST_CUDA_ARCHITECTURES
#define NST_CUDA_ARCHITECTURES ""
#endif

nst_build_info nst_get_build_info(void) {
    nst_build_info b;
    memset(&b, 0, sizeof b);
    b.version = NST_VERSION_STRING;
    b.cuda_architectures = NST_CUDA_ARCHITECTURES;
#ifdef NST_HAVE_CUDA
    b.cuda = true;
    b.cuda_runtime_version = CUDART_VERSION;
#if defined(NST_HAVE_CUDNN_HEADER) && defined(CUDNN_VERSION)
    b.cudnn_version = CUDNN_VERSION;
#endif
#endif
#ifdef _OPENMP
    b.openmp = true;
#endif
    return b;
}

nst_status nst_list_gpus(nst_gpu_info *out, int max, int *count, char *why, size_t why_size) {
    *count = 0;
    if (why_size)
        why[0] = '\0';
#ifndef NST_HAVE_CUDA
    (void)out;
    (void)max;
    snprintf(why, why_size, "this nstyle was built without CUDA (NST_CUDA=OFF or no toolkit)");
    return NST_ERR_NO_DEVICE;
#else
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        int driver = 0;
        cudaDriverGetVersion(&driver);
        if (driver == 0)
            snprintf(why, why_size, "no NVIDIA driver found (%s)", cudaGetErrorName(err));
        else
            snprintf(why, why_size, "%s (%s); the driver supports CUDA %d.%d, nstyle needs %d.%d",
                     cudaGetErrorString(err), cudaGetErrorName(err), driver / 1000,
                     (driver % 1000) / 10, CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
        return NST_ERR_NO_DEVICE;
    }
    if (n == 0) {
        snprintf(why, why_size, "the CUDA driver reports no devices");
        return NST_ERR_NO_DEVICE;
    }
    *count = n;
    for (int i = 0; i < n && i < max; i++) {
        struct cudaDeviceProp p;
        nst_gpu_info *g = &out[i];
        memset(g, 0, sizeof *g);
        g->index = i;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            snprintf(g->name, sizeof g->name, "(properties unreadable)");
            continue;
        }
        snprintf(g->name, sizeof g->name, "%s", p.name);
        g->cc_major = p.major;
        g->cc_minor = p.minor;
        g->multiprocessors = p.multiProcessorCount;
        if (cudaSetDevice(i) == cudaSuccess)
            cudaMemGetInfo(&g->free_bytes, &g->total_bytes);
    }
    return NST_OK;
#endif
}
