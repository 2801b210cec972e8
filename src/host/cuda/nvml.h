/* NVML, opened at run time for GPU memory figures (nvml.c). No NVML header needed. */
#ifndef NSTYLE_CUDA_NVML_H
#define NSTYLE_CUDA_NVML_H

#include <stdbool.h>
#include <stddef.h>

#include "cuda_internal.h"

#define NST__NVML_LIBRARY "libnvidia-ml.so.1"

typedef struct {
    void *lib;
    int (*init)(void);
    int (*shutdown)(void);
    int (*by_pci)(const char *bus_id, void **device);
    int (*memory)(void *device, void *memory);
    const char *(*error)(int status);
    int (*driver_version)(char *out, unsigned size); /* optional */
} nst__nvml;

/* Opens and initialises NVML from `library` (NST__NVML_LIBRARY, or a test's stand-in); false
 * with the reason in why when it cannot. */
NST__CUDA_EXPORT bool nst__nvml_open(nst__nvml *n, const char *library, char *why,
                                     size_t why_size);
/* The free and total memory of the GPU at pci_bus_id ("00000000:01:00.0", as
 * cudaDeviceGetPCIBusId writes it); false with the reason in why. */
NST__CUDA_EXPORT bool nst__nvml_memory(const nst__nvml *n, const char *pci_bus_id,
                                       size_t *free_bytes, size_t *total_bytes, char *why,
                                       size_t why_size);
/* The driver's release ("580.65.06") into out; false when NVML does not say. */
NST__CUDA_EXPORT bool nst__nvml_driver(const nst__nvml *n, char *out, size_t size);
NST__CUDA_EXPORT void nst__nvml_close(nst__nvml *n);

#endif
