/* Build information and GPU listing for `nstyle --version` and `nstyle info`. The listing is
 * the CUDA module's (every CUDA runtime call lives in libnstyle_cuda.so); without the module,
 * or without the libraries it needs, the reason is the loader's. The CUDA headers are read here
 * for their version numbers only. Tested by tests/test_cli.c (info, --version against the build's
 * VERSION file) and test_cuda_loader.c. */
#include <stdio.h>
#include <string.h>

#include "nstyle/device.h"
#ifdef NST_HAVE_CUDA
#include "backends/cuda_module.h"
#endif

#ifdef NST_HAVE_CUDA
#include <cuda_runtime_api.h>
#ifdef NST_HAVE_CUDNN_HEADER
#include <cudnn_version.h>
#endif
#endif

#ifndef NST_CUDA_ARCHITECTURES
#define NST_CUDA_ARCHITECTURES ""
#endif
/* CMakeLists.txt passes the build's version (cmake/NstVersion.cmake) to this file alone */
#ifndef NST_VERSION_FULL
#define NST_VERSION_FULL NST_VERSION_STRING
#endif

#if defined(__clang__)
#define NST_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define NST_COMPILER "GCC " __VERSION__
#else
#define NST_COMPILER "unknown"
#endif

nst_build_info nst_get_build_info(void) {
    nst_build_info b;
    memset(&b, 0, sizeof b);
    b.version = NST_VERSION_FULL;
    b.cuda_architectures = NST_CUDA_ARCHITECTURES;
    b.compiler = NST_COMPILER;
#ifdef NST_HAVE_CUDA
    b.cuda = true;
    b.cuda_runtime_version = CUDART_VERSION;
#if defined(NST_HAVE_CUDNN_HEADER) && defined(CUDNN_VERSION)
    b.cudnn_version = CUDNN_VERSION;
#endif
#endif
#ifdef _OPENMP
    b.openmp = true;
    b.openmp_version = _OPENMP;
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
    const nst__cuda_module *cm = nst__cuda_module_load(why, why_size);
    if (!cm)
        return NST_ERR_NO_DEVICE;
    return cm->list_gpus(out, max, count, why, why_size);
#endif
}

#ifndef NST_HAVE_CUDA
nst_status nst_cuda_libraries(char *out, size_t size) {
    snprintf(out, size, "this nstyle was built without CUDA (NST_CUDA=OFF or no toolkit)");
    return NST_ERR_NO_DEVICE;
}
#endif
