/* The interface between libnstyle and the CUDA backend module (libnstyle_cuda.so), which the
 * library opens with dlopen the first time a context asks for CUDA
 * (src/host/backends/cuda_loader.c). Both sides fill a versioned struct: the library hands the
   * module the few library functions the module's code calls (error messages, scratch, op names),
   * and the module answers with its backend table and its device and library queries. The loader
     * refuses a module whose ABI number or struct sizes differ from its own (a stale build), saying
     * which. No CUDA types here: this header is compiled into the library, which never includes a
       * CUDA header for code. Tested by tests/test_cuda_loader.c (a stale or missing module,
       * missing CUDA libraries). */
#ifndef NSTYLE_CUDA_MODULE_H
#define NSTYLE_CUDA_MODULE_H

#include <stddef.h>

#include "nstyle/device.h"
#include "../core.h"

/* Bump when nst__cuda_host, nst__cuda_module, nst__backend or struct nst_ctx change meaning. */
#define NST__CUDA_MODULE_ABI 2
/* The oldest NVIDIA driver branch the CUDA runtime nstyle is built with runs on: R580 for
 * CUDA 13 (NVIDIA's CUDA 13.0 release notes), R525 for CUDA 12. */
#if defined(NST_CUDA_MAJOR) && NST_CUDA_MAJOR < 13
#define NST__MIN_DRIVER 525
#else
#define NST__MIN_DRIVER 580
#endif
/* The one function the module exports. */
#define NST__CUDA_MODULE_ENTRY "nst_cuda_module_entry"

/* What the library gives the module. */
typedef struct {
    int abi;            /* NST__CUDA_MODULE_ABI */
    size_t ctx_size;    /* sizeof(struct nst_ctx) */
    size_t backend_size; /* sizeof(nst__backend) */
    int op_count;       /* NST_OP_COUNT */
    nst_status (*error)(nst_ctx *ctx, nst_status status, const char *file, int line,
                        const char *fmt, ...) NST__PRINTF(5, 6);
    nst_status (*scratch_take)(nst_ctx *ctx, const char *op, const char *what, size_t bytes,
                               void **out);
    const nst_op_info *(*op_get_info)(nst_op op);
} nst__cuda_host;

/* Versions of the CUDA pieces, 0 where unknown. Library versions as each library encodes them:
 * CUDA 13000 = 13.0, cuDNN 91900 = 9.19.0, cuBLAS 130100 = 13.1.0. */
typedef struct {
    int runtime_built;   /* CUDART_VERSION the module was compiled with */
    int runtime;         /* cudaRuntimeGetVersion */
    int driver;          /* cudaDriverGetVersion: 0 without an NVIDIA driver */
    int cudnn_headers;   /* CUDNN_VERSION the module was compiled with */
    int cudnn;           /* cudnnGetVersion() of the loaded library */
    int cublas_headers;  /* CUBLAS_VERSION the module was compiled with */
    int cublas;          /* cublasGetProperty of the loaded library */
    char driver_release[32]; /* NVML's nvmlSystemGetDriverVersion ("580.65.06"), "" without */
} nst__cuda_versions;

/* What the module gives back. */
typedef struct {
    int abi;
    size_t ctx_size, backend_size;
    int op_count;
    const nst__backend *backend;
    /* nst_list_gpus (include/nstyle/device.h), answered by the module's CUDA runtime. */
    nst_status (*list_gpus)(nst_gpu_info *out, int max, int *count, char *why, size_t why_size);
    void (*versions)(nst__cuda_versions *out);
} nst__cuda_module;

/* The module's entry: takes the library's table (kept for the process's life) and returns its
 * own. It records the host table only when abi and sizes match; the loader checks them too. */
typedef const nst__cuda_module *(*nst__cuda_module_entry_fn)(const nst__cuda_host *host);

/* The loader (src/host/backends/cuda_loader.c, in libnstyle): the module, loaded on first use with
 * the CUDA libraries it needs, or NULL with the reason in why: the missing library, where it
 * was looked for (dlerror), and the versions found. Thread-safe (dlopen is); never unloads. */
const nst__cuda_module *nst__cuda_module_load(char *why, size_t why_size);

#endif
