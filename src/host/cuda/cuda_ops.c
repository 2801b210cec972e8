/* The CUDA op table: which ops the CUDA backend runs, in which dtypes, with how much scratch.
 * Each op's entry is its launcher (src/kernels/<family>.cu, extern "C") or its cuDNN/cuBLAS
 * call (src/host/cuda/); an op without an entry reports NST_ERR_UNSUPPORTED on this backend,
 * never pretending to have run. The CPU op is the spec every entry is checked against (the
 * parity tool, and the CPU emulation of each kernel's grid). */
#include "cuda_internal.h"
#include "../../kernels/adam.cuh"
#include "../../kernels/affine_grid.cuh"
#include "../../kernels/instance_norm.cuh"
#include "../../kernels/launchers.cuh"
#include "../../kernels/reduce.cuh"

const nst__op_fn nst__cuda_ops[NST_OP_COUNT] = {
    /* [NST_OP_<NAME>] = nst__cuda_<name>, one line per op */
    [NST_OP_CONV2D_FORWARD] = nst__cuda_conv2d_forward,               /* cuDNN, conv2d_cudnn.c */
    [NST_OP_CONV2D_BACKWARD_DATA] = nst__cuda_conv2d_backward_data,
    [NST_OP_CONV2D_BACKWARD_FILTER] = nst__cuda_conv2d_backward_filter,
    [NST_OP_LINEAR_FORWARD] = nst__cuda_linear_forward,               /* cuBLAS, linear_cublas.c */
    [NST_OP_LINEAR_BACKWARD] = nst__cuda_linear_backward,
    [NST_OP_RELU_FORWARD] = nst__cuda_relu_forward,
    [NST_OP_RELU_BACKWARD] = nst__cuda_relu_backward,
    [NST_OP_POOL2X2_FORWARD] = nst__cuda_pool2x2_forward,
    [NST_OP_POOL2X2_BACKWARD] = nst__cuda_pool2x2_backward,
    [NST_OP_UPSAMPLE2X_FORWARD] = nst__cuda_upsample2x_forward,
    [NST_OP_UPSAMPLE2X_BACKWARD] = nst__cuda_upsample2x_backward,
    [NST_OP_REFLECT_PAD_FORWARD] = nst__cuda_reflect_pad_forward,
    [NST_OP_REFLECT_PAD_BACKWARD] = nst__cuda_reflect_pad_backward,
    [NST_OP_INSTANCE_NORM_FORWARD] = nst__cuda_instance_norm_forward,
    [NST_OP_INSTANCE_NORM_BACKWARD] = nst__cuda_instance_norm_backward,
    [NST_OP_ADD] = nst__cuda_add,
    [NST_OP_SCALE] = nst__cuda_scale,
    [NST_OP_AXPY] = nst__cuda_axpy,
    [NST_OP_CLAMP] = nst__cuda_clamp,
    [NST_OP_REDUCE_SUM] = nst__cuda_reduce_sum,
    [NST_OP_REDUCE_MEAN] = nst__cuda_reduce_mean,
    [NST_OP_ADAM] = nst__cuda_adam,
    [NST_OP_AFFINE_GRID_FORWARD] = nst__cuda_affine_grid_forward,
    [NST_OP_AFFINE_GRID_BACKWARD] = nst__cuda_affine_grid_backward,
    [NST_OP_GRID_SAMPLE_FORWARD] = nst__cuda_grid_sample_forward,
    [NST_OP_GRID_SAMPLE_BACKWARD] = nst__cuda_grid_sample_backward,
    [NST_OP_GRAM_FORWARD] = nst__cuda_gram_forward,
    [NST_OP_GRAM_BACKWARD] = nst__cuda_gram_backward,
    [NST_OP_MSE_FORWARD] = nst__cuda_mse_forward,
    [NST_OP_MSE_BACKWARD] = nst__cuda_mse_backward,
    [NST_OP_TV_FORWARD] = nst__cuda_tv_forward,
    [NST_OP_TV_BACKWARD] = nst__cuda_tv_backward,
    [NST_OP_RGB_TO_YUV] = nst__cuda_rgb_to_yuv,
    [NST_OP_YUV_TO_RGB] = nst__cuda_yuv_to_rgb,
    [NST_OP_INPUT_CONVERT_FORWARD] = nst__cuda_input_convert_forward,
    [NST_OP_INPUT_CONVERT_BACKWARD] = nst__cuda_input_convert_backward,
    [NST_OP_DWCONV2D_FORWARD] = nst__cuda_dwconv2d_forward,           /* cuDNN, grouped */
    [NST_OP_DWCONV2D_BACKWARD_DATA] = nst__cuda_dwconv2d_backward_data,
    [NST_OP_DWCONV2D_BACKWARD_FILTER] = nst__cuda_dwconv2d_backward_filter,
    [NST_OP_SIGMOID_FORWARD] = nst__cuda_sigmoid_forward,
    [NST_OP_SIGMOID_BACKWARD] = nst__cuda_sigmoid_backward,
    [NST_OP_GLOBAL_AVG_POOL_FORWARD] = nst__cuda_global_avg_pool_forward,
    [NST_OP_GLOBAL_AVG_POOL_BACKWARD] = nst__cuda_global_avg_pool_backward,
    [NST_OP_COND_INSTANCE_NORM_FORWARD] = nst__cuda_cond_instance_norm_forward,
    [NST_OP_COND_INSTANCE_NORM_BACKWARD] = nst__cuda_cond_instance_norm_backward,
};

/* F32 for every op that has an entry; fp16/bf16 come with the half-precision kernels. */
nst_status nst__cuda_supports(nst_ctx *ctx, nst_op op, const void *params, nst_dtype compute) {
    (void)params;
    if (compute == NST_F32)
        return NST_OK;
    return NST__ERR(ctx, NST_ERR_UNSUPPORTED,
                    "op %s: the cuda backend computes in F32 only so far, and these tensors are %s",
                    nst_op_get_info(op)->name, nst_dtype_name(compute));
}

nst_status nst__cuda_scratch(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes) {
    *bytes = 0; /* cases: ops whose kernels or library calls take scratch */
    switch (op) {
    case NST_OP_CONV2D_FORWARD:
    case NST_OP_CONV2D_BACKWARD_DATA:
    case NST_OP_CONV2D_BACKWARD_FILTER:
    case NST_OP_DWCONV2D_FORWARD:
    case NST_OP_DWCONV2D_BACKWARD_DATA:
    case NST_OP_DWCONV2D_BACKWARD_FILTER: /* the chosen cuDNN algorithm's exact workspace */
        return nst__cuda_conv2d_scratch(ctx, op, params, bytes);
    case NST_OP_LINEAR_FORWARD:
    case NST_OP_LINEAR_BACKWARD: /* cuBLAS's workspace (cublasSetWorkspace) */
        *bytes = nst__scratch_bytes(nst__cuda_state_of(ctx)->cublas_workspace);
        break;
    case NST_OP_INSTANCE_NORM_FORWARD:
    case NST_OP_INSTANCE_NORM_BACKWARD:
    case NST_OP_COND_INSTANCE_NORM_FORWARD:
    case NST_OP_COND_INSTANCE_NORM_BACKWARD:
    case NST_OP_GLOBAL_AVG_POOL_FORWARD: { /* partial sums and per-(n, c) tables, one piece */
        const nst_tensor *x = op == NST_OP_GLOBAL_AVG_POOL_FORWARD
                                  ? ((const nst_global_avg_pool_params *)params)->x
                                  : ((const nst_instance_norm_params *)params)->x;
        const nst_k_norm_shape d =
            nst_k_norm_shape_make(x->shape[0], x->shape[1] * x->shape[2], x->shape[3]);
        const int backward = op == NST_OP_INSTANCE_NORM_BACKWARD ||
                             op == NST_OP_COND_INSTANCE_NORM_BACKWARD;
        *bytes = nst__scratch_bytes(nst_k_norm_layout_make(d, backward).total);
        break;
    }
    case NST_OP_REDUCE_SUM:
    case NST_OP_REDUCE_MEAN: /* one double per pass-1 block */
        *bytes = nst__scratch_bytes(
            nst_k_reduce_scratch(nst_tensor_numel(((const nst_reduce_params *)params)->x)));
        break;
    case NST_OP_MSE_FORWARD: /* one double per pass-1 block */
        *bytes = nst__scratch_bytes(
            nst_k_reduce_scratch(nst_tensor_numel(((const nst_mse_params *)params)->a)));
        break;
    case NST_OP_TV_FORWARD:
        *bytes = nst__scratch_bytes(nst__cuda_tv_scratch(params));
        break;
    case NST_OP_AFFINE_GRID_BACKWARD: { /* six double partials per (image, chunk) */
        const nst_tensor *dg = ((const nst_affine_grid_params *)params)->dgrid;
        *bytes = nst__scratch_bytes(nst_k_affine_scratch(dg->shape[0], dg->shape[1], dg->shape[2]));
        break;
    }
    case NST_OP_GRID_SAMPLE_BACKWARD: /* the deterministic dx lists, when deterministic */
        *bytes = nst__scratch_bytes(nst__cuda_grid_sample_scratch(ctx, params));
        break;
    case NST_OP_GRAM_FORWARD:
    case NST_OP_GRAM_BACKWARD: /* split-K partials / the symmetrised gradient */
        *bytes = nst__scratch_bytes(nst__cuda_gram_scratch(params, op == NST_OP_GRAM_BACKWARD));
        break;
    case NST_OP_ADAM: /* the step constants and the slot table */
        *bytes = nst__scratch_bytes(nst_k_adam_scratch(((const nst_adam_params *)params)->n_slots));
        break;
    default:
        break;
    }
    return NST_OK;
}
