/* Reflection padding's index math (PyTorch ReflectionPad2d, pad < size along each axis), shared
 * by the CPU op (src/cpu/reflect_pad.c) and the CUDA kernel (src/kernels/reflect_pad.cuh): the
 * source index a padded index copies, and the padded indices that copy a source index (the
 * backward's gather). Plain C; each function is NST_HD, __host__ __device__ under nvcc (defined
 * by src/kernels/kernel_common.cuh before this header), nothing for the C compiler. Tested with
 * the ops by tests/test_cpu_reflect_pad.c and tests/emul/. */
#ifndef NSTYLE_REFLECT_INDEX_H
#define NSTYLE_REFLECT_INDEX_H

#include <stdint.h>

#ifndef NST_HD
#define NST_HD
#endif

/* Source index of padded index i along an axis of `size` with `lo` leading pad. */
NST_HD static inline int64_t nst__reflect_src(int64_t i, int64_t size, int64_t lo) {
    int64_t j = i - lo;
    if (j < 0)
        j = -j;
    if (j >= size)
        j = 2 * (size - 1) - j;
    return j;
}

/* The padded indices along an axis that read source index j (at most 3: the copy itself, then
 * a reflection into the leading pad, then into the trailing pad): how many, written to out. */
NST_HD static inline int nst__reflect_dst(int64_t j, int64_t size, int64_t lo, int64_t hi,
                                          int64_t out[3]) {
    int n = 0;
    out[n++] = j + lo;
    if (j >= 1 && j <= lo) /* mirrored into the leading pad */
        out[n++] = lo - j;
    if (j <= size - 2 && j >= size - 1 - hi) /* mirrored into the trailing pad */
        out[n++] = lo + 2 * (size - 1) - j;
    return n;
}

#endif
