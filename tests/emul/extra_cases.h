/* Argument sets beyond tests/support/op_cases.c for the ops with CUDA kernels: the modes and
 * paths the shared cases leave out (average and max pooling both ways with exact ties, channel
 * counts that take the float4 path, several pixel chunks and channel tiles in instance norm,
 * absent optional tensors, accumulation, multi-block reductions; grid sampling in every padding
 * mode with align_corners both ways and 1, 8 and 32 channel lanes, points well outside [-1, 1],
 * several scan tiles, an identity grid whose edge points lie exactly on the border clip;
 * split-K and several tiles in the Gram; Adam with several chunks, a tail and an empty slot; the
 * other input conventions). The emulation test and the parity tool run them after the shared
 * cases. Same layout and guard bytes as op_cases.h. */
#ifndef NSTYLE_TEST_EXTRA_CASES_H
#define NSTYLE_TEST_EXTRA_CASES_H

#include "op_cases.h"

/* The extra cases; *count set. Free with nst_test_op_cases_free. */
nst_test_op_case *nst_test_extra_cases(int *count);

#endif
