/* The CUDA op table is complete, with no GPU needed: in a CUDA build every op of the table (the
 * convolutions: cuDNN; linear: cuBLAS; the rest: kernels in src/kernels/) must have a CUDA entry
 * (nst_op_supported_on). Ops still expected to be missing
 * are listed by name, and the test checks that exactly those are missing, so an entry that lands
 * must also leave the list. In a CPU-only build the CUDA backend answers no op at all. */
#include <criterion/criterion.h>
#include <string.h>

#include "nstyle/nstyle.h"

/* The ops that need a CUDA entry: every op of the table. */
static const char *const required[] = {
    "conv2d_forward",         "conv2d_backward_data",   "conv2d_backward_filter",
    "relu_forward",           "relu_backward",          "pool2x2_forward",
    "pool2x2_backward",       "upsample2x_forward",     "upsample2x_backward",
    "reflect_pad_forward",    "reflect_pad_backward",   "instance_norm_forward",
    "instance_norm_backward", "linear_forward",         "linear_backward",
    "add",                    "scale",                  "axpy",
    "clamp",                  "reduce_sum",             "reduce_mean",
    "adam",                   "affine_grid_forward",    "affine_grid_backward",
    "grid_sample_forward",    "grid_sample_backward",   "gram_forward",
    "gram_backward",          "mse_forward",            "mse_backward",
    "tv_forward",             "tv_backward",            "rgb_to_yuv",
    "yuv_to_rgb",             "input_convert_forward",  "input_convert_backward",
};

/* Required ops whose CUDA entry has not landed yet, NULL-terminated: none now (the
 * convolutions are cuDNN's, src/host/cuda/conv2d_cudnn.c). Add a name before its entry lands. */
static const char *const expected_missing[] = {NULL};

static bool listed(const char *name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

#ifdef NST_HAVE_CUDA
Test(cuda_op_table, every_network_op_has_a_cuda_entry) {
    const size_t n_req = sizeof required / sizeof required[0];
    size_t n_exp = 0;
    while (expected_missing[n_exp])
        n_exp++;
    int supported = 0;
    for (size_t i = 0; i < n_req; i++) {
        const nst_op op = nst_op_from_name(required[i]);
        cr_assert_neq(op, NST_OP_COUNT, "%s is not an op of the table", required[i]);
        const bool has = nst_op_supported_on(NST_BACKEND_CUDA, op);
        supported += has;
        if (listed(required[i], expected_missing, n_exp))
            cr_expect(!has, "%s has a CUDA entry now: remove it from expected_missing",
                      required[i]);
        else
            cr_expect(has, "%s has no CUDA entry (src/host/cuda/cuda_ops.c)", required[i]);
    }
    cr_assert_gt(supported, 0,
                 "the CUDA backend answers no op at all: its module did not load, so the table "
                 "could not be checked");
    for (size_t i = 0; i < n_exp; i++)
        cr_assert(listed(expected_missing[i], required, n_req), "%s is not a required op",
                  expected_missing[i]);
    cr_assert_eq(n_req, (size_t)NST_OP_COUNT, "every op of the table is required");
}
#else
Test(cuda_op_table, a_cpu_only_build_has_no_cuda_entry) {
    for (int op = 0; op < NST_OP_COUNT; op++)
        cr_expect(!nst_op_supported_on(NST_BACKEND_CUDA, (nst_op)op), "%s",
                  nst_op_get_info((nst_op)op)->name);
    (void)listed;
    (void)required;
    (void)expected_missing;
}
#endif
