/* The CUDA backend module's entry (libnstyle_cuda.so): the one exported function, the library
 * functions the module's code calls, forwarded to the library that opened it (error messages,
 * scratch, op names), and the module's device queries: the GPU listing for `nstyle info` (total
 * memory from the device properties, free memory from NVML when it is there; no device is made
 * current) and the versions of the CUDA runtime, driver, cuDNN and cuBLAS. Every CUDA runtime call of the
 * process is in this module, so there is one copy of the static runtime.
 * Tested by tests/test_cuda_loader.c (loading, versions) and, on a GPU, test_cuda_backend.c. */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"
#include "../backends/cuda_module.h"
#include "cuda_test_hooks.h"
#include "nvml.h"

/* The library's functions, set once by the entry: the module's import table. */
static const nst__cuda_host *host;

nst_status nst__error(nst_ctx *ctx, nst_status status, const char *file, int line,
                      const char *fmt, ...) {
    char text[NST__ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return host->error(ctx, status, file, line, "%s", text);
}

nst_status nst__scratch_take(nst_ctx *ctx, const char *op, const char *what, size_t bytes,
                             void **out) {
    return host->scratch_take(ctx, op, what, bytes, out);
}

const nst_op_info *nst_op_get_info(nst_op op) { return host->op_get_info(op); }

static nst_status list_gpus(nst_gpu_info *out, int max, int *count, char *why, size_t why_size) {
    *count = 0;
    if (why_size)
        why[0] = '\0';
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        int driver = 0;
        if (cudaDriverGetVersion(&driver) != cudaSuccess)
            driver = 0;
        if (driver == 0)
            snprintf(why, why_size, "no NVIDIA driver found (%s: %s)", cudaGetErrorName(err),
                     cudaGetErrorString(err));
        else
            snprintf(why, why_size, "%s (%s); the driver supports CUDA %d.%d, nstyle needs %d.%d "
                     "(NVIDIA driver R%d or newer)", cudaGetErrorString(err),
                     cudaGetErrorName(err), driver / 1000, (driver % 1000) / 10,
                     CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10, NST__MIN_DRIVER);
        return NST_ERR_NO_DEVICE;
    }
    if (n == 0) {
        snprintf(why, why_size, "the CUDA driver reports no devices");
        return NST_ERR_NO_DEVICE;
    }
    /* No cudaSetDevice here (it would leave the last device current for the process): the
     * properties name the total memory, NVML the free memory, by PCI bus id. */
    nst__nvml nvml;
    char nvml_why[256];
    const bool have_nvml = nst__nvml_open(&nvml, NST__NVML_LIBRARY, nvml_why, sizeof nvml_why);
    nst_status st = NST_OK;
    for (int i = 0; i < n && i < max; i++) {
        struct cudaDeviceProp p;
        nst_gpu_info *g = &out[i];
        memset(g, 0, sizeof *g);
        g->index = i;
        const char *call = "cudaGetDeviceProperties";
        err = cudaGetDeviceProperties(&p, i);
        if (err == cudaSuccess) {
            call = "cudaDeviceGetAttribute(cudaDevAttrClockRate)";
            err = cudaDeviceGetAttribute(&g->clock_khz, cudaDevAttrClockRate, i);
        }
        if (err == cudaSuccess) {
            call = "cudaDeviceGetAttribute(cudaDevAttrL2CacheSize)";
            err = cudaDeviceGetAttribute(&g->l2_bytes, cudaDevAttrL2CacheSize, i);
        }
        char bus[32] = "";
        if (err == cudaSuccess) {
            call = "cudaDeviceGetPCIBusId";
            err = cudaDeviceGetPCIBusId(bus, (int)sizeof bus, i);
        }
        if (err != cudaSuccess) {
            snprintf(why, why_size, "cuda:%d: %s failed: %s (%s)", i, call,
                     cudaGetErrorString(err), cudaGetErrorName(err));
            st = NST_ERR_CUDA;
            break;
        }
        snprintf(g->name, sizeof g->name, "%s", p.name);
        g->cc_major = p.major;
        g->cc_minor = p.minor;
        g->multiprocessors = p.multiProcessorCount;
        g->total_bytes = p.totalGlobalMem;
        size_t total = 0;
        char mem_why[256];
        g->free_known = have_nvml && nst__nvml_memory(&nvml, bus, &g->free_bytes, &total,
                                                      mem_why, sizeof mem_why);
    }
    if (have_nvml)
        nst__nvml_close(&nvml);
    if (st != NST_OK)
        return st;
    *count = n;
    return NST_OK;
}

static void versions(nst__cuda_versions *v) {
    memset(v, 0, sizeof *v);
    v->runtime_built = CUDART_VERSION;
    if (cudaRuntimeGetVersion(&v->runtime) != cudaSuccess)
        v->runtime = 0;
    if (cudaDriverGetVersion(&v->driver) != cudaSuccess)
        v->driver = 0;
    v->cudnn_headers = CUDNN_VERSION;
    v->cudnn = (int)cudnnGetVersion();
    v->cublas_headers = CUBLAS_VERSION;
    int major = 0, minor = 0, patch = 0;
    if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
        cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
        cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
        v->cublas = major * 10000 + minor * 100 + patch;
    nst__nvml nvml;
    char why[256];
    if (nst__nvml_open(&nvml, NST__NVML_LIBRARY, why, sizeof why)) {
        nst__nvml_driver(&nvml, v->driver_release, sizeof v->driver_release);
        nst__nvml_close(&nvml);
    }
}

static const nst__cuda_module module = {
    .abi = NST__CUDA_MODULE_ABI,
    .ctx_size = sizeof(struct nst_ctx),
    .backend_size = sizeof(nst__backend),
    .op_count = NST_OP_COUNT,
    .backend = &nst__cuda_backend,
    .list_gpus = list_gpus,
    .versions = versions,
};

NST__CUDA_EXPORT const nst__cuda_module *nst_cuda_module_entry(const nst__cuda_host *h) {
    if (h && h->abi == NST__CUDA_MODULE_ABI && h->ctx_size == sizeof(struct nst_ctx) &&
        h->backend_size == sizeof(nst__backend) && h->op_count == NST_OP_COUNT)
        host = h;
    return &module;
}

int nst__cuda_test_mem_get_info(size_t *free_bytes, size_t *total_bytes) {
    return (int)cudaMemGetInfo(free_bytes, total_bytes);
}
