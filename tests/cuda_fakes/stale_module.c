/* A stand-in for a CUDA backend module built from older sources: it exports the entry, but its
 * table has another ABI number and sizes, so the loader must refuse it, naming both.
 * Loaded by tests/test_cuda_loader.c. */
#include <stddef.h>

typedef struct {
    int abi;
    size_t ctx_size, backend_size;
    int op_count;
} stale_module;

static const stale_module module = {0, 64, 32, 3};

__attribute__((visibility("default"))) const stale_module *nst_cuda_module_entry(const void *host) {
    (void)host;
    return &module;
}
