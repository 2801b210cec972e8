/* A stand-in for libnvidia-ml.so.1 with one GPU at PCI bus id 00000000:01:00.0 (80 GiB, 79 GiB
 * free), for tests/test_cuda_cudnn_host.c's NVML tests: no driver needed. */
#include <string.h>

typedef struct {
    unsigned long long total, free, used;
} nvml_memory;

static int initialised;
static int the_gpu;

int nvmlInit_v2(void) {
    initialised = 1;
    return 0;
}
int nvmlShutdown(void) {
    initialised = 0;
    return 0;
}
const char *nvmlErrorString(int st) { return st == 6 ? "Not Found" : "Uninitialized"; }
int nvmlDeviceGetHandleByPciBusId_v2(const char *bus, void **dev) {
    if (!initialised)
        return 1;
    if (strcmp(bus, "00000000:01:00.0") != 0)
        return 6; /* NVML_ERROR_NOT_FOUND */
    *dev = &the_gpu;
    return 0;
}
int nvmlDeviceGetMemoryInfo(void *dev, nvml_memory *m) {
    if (!initialised || dev != &the_gpu)
        return 1;
    m->total = 80ull << 30;
    m->free = 79ull << 30;
    m->used = 1ull << 30;
    return 0;
}
int nvmlSystemGetDriverVersion(char *out, unsigned size) {
    if (!initialised || size < 10)
        return 1;
    strcpy(out, "575.51.03");
    return 0;
}
