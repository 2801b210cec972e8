/* A GPU's free memory through NVML (libnvidia-ml.so.1, the driver's management library),
 * opened with dlopen when `nstyle info` lists GPUs, so that listing neither makes every device
 * current in turn (cudaSetDevice, then cudaMemGetInfo) nor creates a CUDA context on each. The
 * device is found by its PCI bus id, which CUDA and NVML agree on whatever the device order.
 * Without NVML (no driver, a container without it) the free memory is left out, never guessed.
 * Tested by tests/test_cuda_cudnn_host.c against a stand-in NVML (tests/cuda_fakes/nvml.c). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "nvml.h"

/* nvmlMemory_t: what nvmlDeviceGetMemoryInfo fills (bytes) */
typedef struct {
    unsigned long long total, free, used;
} nvml_memory;

#define NVML_SUCCESS 0

bool nst__nvml_open(nst__nvml *n, const char *library, char *why, size_t why_size) {
    memset(n, 0, sizeof *n);
    void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(why, why_size, "NVML is not available: %s", dlerror());
        return false;
    }
    n->lib = lib;
    n->init = (int (*)(void))dlsym(lib, "nvmlInit_v2");
    n->shutdown = (int (*)(void))dlsym(lib, "nvmlShutdown");
    n->by_pci = (int (*)(const char *, void **))dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
    n->memory = (int (*)(void *, void *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
    n->error = (const char *(*)(int))dlsym(lib, "nvmlErrorString");
    n->driver_version = (int (*)(char *, unsigned))dlsym(lib, "nvmlSystemGetDriverVersion");
    if (!n->init || !n->shutdown || !n->by_pci || !n->memory) {
        snprintf(why, why_size, "%s lacks the NVML functions nstyle calls", library);
        dlclose(lib);
        memset(n, 0, sizeof *n);
        return false;
    }
    const int st = n->init();
    if (st != NVML_SUCCESS) {
        snprintf(why, why_size, "nvmlInit failed: %s (%d)", n->error ? n->error(st) : "?", st);
        dlclose(lib);
        memset(n, 0, sizeof *n);
        return false;
    }
    return true;
}

bool nst__nvml_memory(const nst__nvml *n, const char *pci_bus_id, size_t *free_bytes,
                      size_t *total_bytes, char *why, size_t why_size) {
    void *dev = NULL;
    nvml_memory m = {0, 0, 0};
    int st = n->by_pci(pci_bus_id, &dev);
    if (st == NVML_SUCCESS)
        st = n->memory(dev, &m);
    if (st != NVML_SUCCESS) {
        snprintf(why, why_size, "NVML has no memory figures for %s: %s (%d)", pci_bus_id,
                 n->error ? n->error(st) : "?", st);
        return false;
    }
    *free_bytes = (size_t)m.free;
    *total_bytes = (size_t)m.total;
    return true;
}

bool nst__nvml_driver(const nst__nvml *n, char *out, size_t size) {
    char text[96] = "";
    if (!size)
        return false;
    out[0] = '\0';
    if (!n->driver_version || n->driver_version(text, sizeof text) != NVML_SUCCESS || !text[0])
        return false;
    snprintf(out, size, "%s", text);
    return true;
}

void nst__nvml_close(nst__nvml *n) {
    if (n->lib) {
        n->shutdown();
        dlclose(n->lib);
    }
    memset(n, 0, sizeof *n);
}
