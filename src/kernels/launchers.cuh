/* The CUDA ops' launchers (src/kernels/<family>.cu), one per op in the table's signature;
 * declared for the CUDA op table (src/host/cuda/cuda_ops.c), valid C and C++. The dispatch has
 * checked the arguments before a launcher runs. */
#ifndef NSTYLE_LAUNCHERS_CUH
#define NSTYLE_LAUNCHERS_CUH

#include "nstyle/ops.h"

#define NST__CUDA_KERNEL_OPS(X)                                            \
    X(relu_forward) X(relu_backward) X(pool2x2_forward) X(pool2x2_backward) \
    X(upsample2x_forward) X(upsample2x_backward) X(reflect_pad_forward)     \
    X(reflect_pad_backward) X(instance_norm_forward) X(instance_norm_backward) \
    X(add) X(scale) X(axpy) X(clamp) X(reduce_sum) X(reduce_mean) X(adam)   \
    X(affine_grid_forward) X(affine_grid_backward) X(grid_sample_forward)   \
    X(grid_sample_backward) X(gram_forward) X(gram_backward) X(mse_forward) \
    X(mse_backward) X(tv_forward) X(tv_backward) X(rgb_to_yuv) X(yuv_to_rgb) \
    X(input_convert_forward) X(input_convert_backward) X(sigmoid_forward)  \
    X(sigmoid_backward) X(global_avg_pool_forward) X(global_avg_pool_backward) \
    X(cond_instance_norm_forward) X(cond_instance_norm_backward)

#define NST__CUDA_DECLARE_LAUNCHER(name) nst_status nst__cuda_##name(nst_ctx *ctx, const void *params);
NST__CUDA_KERNEL_OPS(NST__CUDA_DECLARE_LAUNCHER)
#undef NST__CUDA_DECLARE_LAUNCHER

/* Scratch bytes of the launchers whose scratch depends on more than one tensor's size (before
 * nst__scratch_bytes rounding): grid_sample_backward's deterministic dx lists (0 on the atomic
 * path), the Gram's partials (forward) or symmetrised gradient (backward), TV's partials. */
size_t nst__cuda_grid_sample_scratch(nst_ctx *ctx, const void *params);
size_t nst__cuda_gram_scratch(const void *params, int backward);
size_t nst__cuda_tv_scratch(const void *params);

#endif
