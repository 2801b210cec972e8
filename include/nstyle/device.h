/* What this build is and which GPUs it can see: for `nstyle --version` and `nstyle info`. */
#ifndef NSTYLE_DEVICE_H
#define NSTYLE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The API's version (CMake's project() version). The build's own, from git, is
 * nst_build_info.version. */
#define NST_VERSION_STRING "0.1.0"

/* The binary interface's version: raised whenever a public struct's layout or a function's
 * signature changes. Bindings that declare the structs themselves (Python's ctypes, python/)
 * compare it, and the structs' sizes (nst_render_options_size() and the like), with what they
 * were written for before they call anything else. */
#define NST_ABI_VERSION 1
/* NST_ABI_VERSION as the library was built with it. */
int nst_abi_version(void);

typedef struct {
    /* The build's version, as `nstyle --version` and every JSON summary give it: `git describe
     * --tags --always --dirty` of the checkout it was configured from, or with no tag
     * NST_VERSION_STRING-N-gHASH[-dirty] (N commits); without git, -DNST_VERSION=... or the
     * source's VERSION file; NST_VERSION_STRING when none of these says (docs/install.md). */
    const char *version;
    bool cuda;                /* built with the CUDA backend */
    int cuda_runtime_version; /* CUDART_VERSION at build time (13000 = 13.0), 0 without CUDA */
    int cudnn_version;        /* CUDNN_VERSION at build time (91900 = 9.19.0), 0 without cuDNN */
    const char *cuda_architectures; /* the architectures compiled in, "" without CUDA */
    bool openmp;
    int openmp_version;       /* _OPENMP at build time (201511 = OpenMP 4.5), 0 without */
    const char *compiler;     /* the C compiler that built the library: "GCC 12.2.0" */
} nst_build_info;

nst_build_info nst_get_build_info(void);

/* The CPU kernels OpenBLAS chose at load time ("SkylakeX", "Haswell", ...). OpenBLAS falls back
 * to its slowest, "Prescott", on CPUs whose model it does not know (common in virtual machines);
 * the environment variable OPENBLAS_CORETYPE, read when the library loads, overrides it. */
const char *nst_cpu_blas_core(void);
/* OpenBLAS's description of itself, from the library loaded (openblas_get_config()):
 * "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"; "unknown" when it says
 * nothing. */
const char *nst_cpu_blas_config(void);
/* The OPENBLAS_CORETYPE worth setting on this CPU when OpenBLAS fell back to Prescott although
 * the CPU has AVX-512 ("SkylakeX") or AVX2 ("Haswell"); NULL when nothing is to be gained. */
const char *nst_cpu_blas_better_core(void);

typedef struct {
    int index;
    char name[256];
    int cc_major, cc_minor;   /* compute capability */
    int multiprocessors;
    size_t total_bytes;       /* cudaDeviceProp.totalGlobalMem */
    size_t free_bytes;        /* from NVML, valid when free_known */
    bool free_known;          /* false without NVML (libnvidia-ml.so.1): not guessed */
    int clock_khz;            /* cudaDevAttrClockRate: the SM clock's peak */
    int l2_bytes;             /* cudaDevAttrL2CacheSize */
} nst_gpu_info;

/* Lists up to max visible GPUs into out and sets *count to how many there are. When none can
 * be used (built without CUDA, no driver, no device, driver too old), returns NST_ERR_NO_DEVICE
 * with *count = 0 and the reason in why. */
nst_status nst_list_gpus(nst_gpu_info *out, int max, int *count, char *why, size_t why_size);

/* One line on the CUDA pieces this process uses: the backend module's path and the versions of
 * the CUDA runtime, the driver, cuDNN and cuBLAS, each library's next to the headers nstyle was
 * built with. When they cannot be loaded, returns NST_ERR_NO_DEVICE with the reason in out. */
nst_status nst_cuda_libraries(char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
