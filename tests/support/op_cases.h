/* One or more argument sets for every op in the table, on odd shapes with batch > 1, with guard
 * bytes around every tensor: the cases the op-contract test runs on the CPU (and a parity run
 * compares across backends). Inputs are uniform in [-1, 1] unless an op needs otherwise (grids
 * slightly beyond [-1, 1], rstd and v positive); outputs start as NaN so a test can see that an
 * op wrote every element it must. */
#ifndef NSTYLE_TEST_OP_CASES_H
#define NSTYLE_TEST_OP_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "nstyle/nstyle.h"

#define NST_TEST_CASE_TENSORS 12
#define NST_TEST_GUARD_BYTES 64
#define NST_TEST_GUARD_BYTE 0x5A

typedef struct {
    nst_op op;
    char what[96]; /* "conv2d_forward stride 2 pad 1 relu" */
    union {
        nst_conv2d_params conv2d;
        nst_relu_params relu;
        nst_pool2x2_params pool;
        nst_upsample2x_params upsample;
        nst_reflect_pad_params pad;
        nst_instance_norm_params norm;
        nst_linear_params linear;
        nst_add_params add;
        nst_scale_params scale;
        nst_clamp_params clamp;
        nst_reduce_params reduce;
        nst_adam_params adam;
        nst_affine_grid_params affine;
        nst_grid_sample_params sample;
        nst_gram_params gram;
        nst_mse_params mse;
        nst_tv_params tv;
        nst_colour_params colour;
        nst_input_convert_params convert;
        nst_sigmoid_params sigmoid;
        nst_global_avg_pool_params gap;
    } p;
    int n_tensors;
    nst_tensor t[NST_TEST_CASE_TENSORS];
    unsigned char *block[NST_TEST_CASE_TENSORS]; /* guard + data + guard */
    nst_adam_slot slots[2];
} nst_test_op_case;

/* All cases (every op at least once), in op order; *count set. Free with nst_test_op_cases_free. */
nst_test_op_case *nst_test_op_cases(int *count);
void nst_test_op_cases_free(nst_test_op_case *cases, int count);
/* Whether every guard byte around every tensor of the case is intact; names the first broken one
 * on stderr. */
bool nst_test_op_case_guards_ok(const nst_test_op_case *c);

#endif
