/* Internal state and error helpers of the CUDA backend (host C code). */
#ifndef NSTYLE_CUDA_INTERNAL_H
#define NSTYLE_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>

#include "../internal.h"

typedef struct {
    int device;
    struct cudaDeviceProp props;
    cudaStream_t stream;
} nst__cuda_state;

nst_status nst__cuda_error(nst_ctx *ctx, cudaError_t err, const char *what, const char *file,
                           int line);

#define NST__CUDA_TRY(ctx, call, what)                                          \
    do {                                                                        \
        cudaError_t nst__e_ = (call);                                           \
        if (nst__e_ != cudaSuccess)                                             \
            return nst__cuda_error((ctx), nst__e_, (what), __FILE__, __LINE__); \
    } while (0)

#define NST__CUDA_GOTO(ctx, call, what, label)                           \
    do {                                                                 \
        cudaError_t nst__e_ = (call);                                    \
        if (nst__e_ != cudaSuccess) {                                    \
            nst__cuda_error((ctx), nst__e_, (what), __FILE__, __LINE__); \
            goto label;                                                  \
        }                                                                \
    } while (0)

/* The CUDA op table, what it supports and each op's scratch (src/host/cuda/cuda_ops.c): one
 * line per op as its kernel (src/kernels/) or library call (cuDNN, cuBLAS) lands. */
extern const nst__op_fn nst__cuda_ops[NST_OP_COUNT];
nst_status nst__cuda_supports(nst_ctx *ctx, nst_op op, const void *params, nst_dtype compute);
nst_status nst__cuda_scratch(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes);

/* The context's CUDA stream, for launches. */
static inline cudaStream_t nst__cuda_stream(const nst_ctx *ctx) {
    return ((const nst__cuda_state *)ctx->backend_state)->stream;
}

#endif
