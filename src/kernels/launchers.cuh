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
    X(add) X(scale) X(axpy) X(clamp) X(reduce_sum) X(reduce_mean)

#define NST__CUDA_DECLARE_LAUNCHER(name) nst_status nst__cuda_##name(nst_ctx *ctx, const void *params);
NST__CUDA_KERNEL_OPS(NST__CUDA_DECLARE_LAUNCHER)
#undef NST__CUDA_DECLARE_LAUNCHER

#endif
