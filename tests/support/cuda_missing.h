/* The ops of the table that have no CUDA implementation yet, by name, NULL-terminated: the one
 * list tests/test_cuda_op_table.c checks the CUDA table against (exactly these are missing) and
 * tests/parity/parity.c reports as known missing rather than as failures. Empty now: every op
 * has its CUDA entry. An op added to the table without one is named here until its entry lands.
 */
#ifndef NSTYLE_TEST_CUDA_MISSING_H
#define NSTYLE_TEST_CUDA_MISSING_H

#include <stdbool.h>
#include <string.h>

static const char *const nst_test_cuda_missing_ops[] = {NULL};

static inline bool nst_test_cuda_missing(const char *name) {
    for (size_t i = 0; nst_test_cuda_missing_ops[i]; i++)
        if (strcmp(nst_test_cuda_missing_ops[i], name) == 0)
            return true;
    return false;
}

#endif
