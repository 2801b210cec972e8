/* The ops of the table that have no CUDA implementation yet, by name, NULL-terminated: the one
 * list tests/test_cuda_op_table.c checks the CUDA table against (exactly these are missing) and
 * tests/parity/parity.c reports as known missing rather than as failures. The light feed-forward
 * networks' ops (depthwise convolution, sigmoid, global average pooling, conditional instance
 * norm) have CPU references only; their CUDA kernels come later, and each name leaves this list
 * when its entry lands. */
#ifndef NSTYLE_TEST_CUDA_MISSING_H
#define NSTYLE_TEST_CUDA_MISSING_H

#include <stdbool.h>
#include <string.h>

static const char *const nst_test_cuda_missing_ops[] = {
    "dwconv2d_forward",         "dwconv2d_backward_data",     "dwconv2d_backward_filter",
    "sigmoid_forward",          "sigmoid_backward",           "global_avg_pool_forward",
    "global_avg_pool_backward", "cond_instance_norm_forward", "cond_instance_norm_backward",
    NULL};

static inline bool nst_test_cuda_missing(const char *name) {
    for (size_t i = 0; nst_test_cuda_missing_ops[i]; i++)
        if (strcmp(nst_test_cuda_missing_ops[i], name) == 0)
            return true;
    return false;
}

#endif
