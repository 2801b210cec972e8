/* A stand-in "libcudnn.so.9" that reports itself as cuDNN 8.9.7, for tests/test_cuda_loader.c:
 * found first on LD_LIBRARY_PATH, it must be refused with both versions named. */
#include <stddef.h>

__attribute__((visibility("default"))) size_t cudnnGetVersion(void) { return 80907; }
