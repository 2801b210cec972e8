/* CUDA runtime calls the CUDA module exports for tests that link it: the module's static
 * runtime keeps its symbols hidden, and a test must see the device through that one copy
 * (tests/test_tracker.c). Implemented in src/host/cuda/module_entry.c. */
#ifndef NSTYLE_CUDA_TEST_HOOKS_H
#define NSTYLE_CUDA_TEST_HOOKS_H

#include <stddef.h>

/* cudaMemGetInfo of the current device: 0 (cudaSuccess) or the cudaError_t. */
__attribute__((visibility("default"))) int nst__cuda_test_mem_get_info(size_t *free_bytes,
                                                                       size_t *total_bytes);

#endif
