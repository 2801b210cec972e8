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

#endif
