/* Internal state and error helpers of the CUDA backend module (host C code, compiled only into
 * libnstyle_cuda.so). No cuDNN or cuBLAS header here: their calls live in conv2d_cudnn.c and
 * linear_cublas.c, which own the handles declared opaquely below. */
#ifndef NSTYLE_CUDA_INTERNAL_H
#define NSTYLE_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>

#include "../core.h"

/* Functions the module exports beyond its entry: for the tests that link the module. */
#define NST__CUDA_EXPORT __attribute__((visibility("default")))

struct cudnnContext; /* = cudnnHandle_t */
struct cublasContext; /* = cublasHandle_t */
struct nst__conv_plan;

typedef struct {
    int device;
    struct cudaDeviceProp props;
    cudaStream_t stream;
    struct cudnnContext *cudnn;         /* conv2d_cudnn.c; on the stream */
    struct nst__conv_plan *conv_plans;  /* per convolution shape and settings, conv2d_cudnn.c */
    struct cublasContext *cublas;       /* linear_cublas.c; on the stream */
    size_t cublas_workspace;            /* bytes of each linear call's cuBLAS workspace */
    bool fuse_bias_relu;                /* try cudnnConvolutionBiasActivationForward */
    /* The last kernel or library call launched on the stream ("nst_k_relu_forward_kernel",
     * "cudnnConvolutionForward"): named when a synchronisation finds an error. */
    const char *last_launch;
    /* A failure of a call that returns nothing to its caller (cudaFree): recorded here and
     * reported by the next call that returns a status, naming the call that failed. */
    nst_status deferred;
    char deferred_msg[512];
} nst__cuda_state;

extern const nst__backend nst__cuda_backend;

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
static inline nst__cuda_state *nst__cuda_state_of(nst_ctx *ctx) {
    return (nst__cuda_state *)ctx->backend_state;
}

/* ---- cuDNN (conv2d_cudnn.c) ---------------------------------------------------------------- */
/* Handle on the context's stream / everything cuDNN of the context, plans included. */
nst_status nst__cudnn_open(nst_ctx *ctx, nst__cuda_state *s);
void nst__cudnn_close(nst__cuda_state *s);
/* conv2d_forward / _backward_data / _backward_filter, and their scratch (the chosen algorithm's
 * exact workspace, under the context's workspace limit). */
nst_status nst__cuda_conv2d_forward(nst_ctx *ctx, const void *params);
nst_status nst__cuda_conv2d_backward_data(nst_ctx *ctx, const void *params);
nst_status nst__cuda_conv2d_backward_filter(nst_ctx *ctx, const void *params);
nst_status nst__cuda_conv2d_scratch(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes);
/* dwconv2d_*: the same through cuDNN's grouped convolution (groups = C); their scratch is
 * nst__cuda_conv2d_scratch's. */
nst_status nst__cuda_dwconv2d_forward(nst_ctx *ctx, const void *params);
nst_status nst__cuda_dwconv2d_backward_data(nst_ctx *ctx, const void *params);
nst_status nst__cuda_dwconv2d_backward_filter(nst_ctx *ctx, const void *params);
/* For linear: y (rows, cols) += bias (cols) broadcast over rows, then ReLU if relu; and
 * db (cols) = [db +] column sums of dy (rows, cols). Row-major, device pointers. */
nst_status nst__cudnn_bias_relu(nst_ctx *ctx, float *y, const float *bias, int rows, int cols,
                                bool relu);
nst_status nst__cudnn_bias_grad(nst_ctx *ctx, const char *op, float *db, const float *dy,
                                int rows, int cols, bool accumulate);

/* ---- cuBLAS (linear_cublas.c) -------------------------------------------------------------- */
nst_status nst__cublas_open(nst_ctx *ctx, nst__cuda_state *s);
void nst__cublas_close(nst__cuda_state *s);
nst_status nst__cuda_linear_forward(nst_ctx *ctx, const void *params);
nst_status nst__cuda_linear_backward(nst_ctx *ctx, const void *params);
/* The cuBLAS workspace every linear call takes from its scratch (cublasSetWorkspace): 32 MiB
 * on sm_90 and newer (Hopper's GEMM kernels want it, as NVIDIA's cuBLAS notes say), 4 MiB
 * before. A plan made without a GPU counts the larger (NST__CUBLAS_WORKSPACE_MAX, internal.h). */
#define NST__CUBLAS_WORKSPACE_BYTES(cc_major) \
    ((cc_major) >= 9 ? NST__CUBLAS_WORKSPACE_MAX : (size_t)4 << 20)

#endif
