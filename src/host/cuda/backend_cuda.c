/* The CUDA backend's host side, in C: device selection, a stream per context with its cuDNN and
 * cuBLAS handles, device memory (cudaMallocAsync is avoided: the arena asks for one
 * allocation), copies, and the CUDA op table. Compiled into the backend module
 * (libnstyle_cuda.so), never into libnstyle. Every CUDA runtime call is checked and its error
 * string lands in the context's message; a failed cudaFree, which cannot answer its caller, is
 * reported by the next call that can (copy, memset, synchronize, memory info), naming cudaFree.
 * Settings read at open: NSTYLE_CUDNN_FUSED=0 (conv2d_cudnn.c runs bias and ReLU unfused).
 * Tested on a GPU by tests/test_cuda_backend.c (skipped without one). */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

nst_status nst__cuda_error(nst_ctx *ctx, cudaError_t err, const char *what, const char *file,
                           int line) {
    return nst__error(ctx, NST_ERR_CUDA, file, line, "%s: %s (%s)", what, cudaGetErrorString(err),
                      cudaGetErrorName(err));
}

static nst__cuda_state *state(nst_ctx *ctx) { return (nst__cuda_state *)ctx->backend_state; }

/* The failure an earlier cudaFree left, reported once. */
static nst_status deferred(nst_ctx *ctx) {
    nst__cuda_state *s = state(ctx);
    if (!s || s->deferred == NST_OK)
        return NST_OK;
    const nst_status st = s->deferred;
    s->deferred = NST_OK;
    return NST__ERR(ctx, st, "an earlier call failed: %s", s->deferred_msg);
}

#define DEFERRED_TRY(ctx)                        \
    do {                                         \
        const nst_status d_ = deferred(ctx);     \
        if (d_ != NST_OK)                        \
            return d_;                           \
    } while (0)

static nst_status cuda_open(nst_ctx *ctx, int device) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess)
        return NST__ERR(ctx, NST_ERR_NO_DEVICE, "no usable CUDA device: %s (%s)",
                        cudaGetErrorString(err), cudaGetErrorName(err));
    if (device >= count)
        return NST__ERR(ctx, NST_ERR_NO_DEVICE, "cuda:%d asked for, but %d CUDA device%s visible",
                        device, count, count == 1 ? " is" : "s are");
    nst__cuda_state *s = calloc(1, sizeof *s);
    if (!s)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "no host memory for the CUDA state");
    s->device = device;
    NST__CUDA_GOTO(ctx, cudaSetDevice(device), "cudaSetDevice", fail);
    NST__CUDA_GOTO(ctx, cudaGetDeviceProperties(&s->props, device), "cudaGetDeviceProperties", fail);
    NST__CUDA_GOTO(ctx, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking),
                   "cudaStreamCreate", fail);
    s->cublas_workspace = NST__CUBLAS_WORKSPACE_BYTES(s->props.major);
    const char *fused = getenv("NSTYLE_CUDNN_FUSED");
    s->fuse_bias_relu = !(fused && strcmp(fused, "0") == 0);
    if (nst__cudnn_open(ctx, s) != NST_OK || nst__cublas_open(ctx, s) != NST_OK)
        goto fail;
    ctx->backend_state = s;
    snprintf(ctx->device_name, sizeof ctx->device_name, "cuda:%d (%s, sm_%d%d)", device,
             s->props.name, s->props.major, s->props.minor);
    return NST_OK;
fail:
    nst__cublas_close(s);
    nst__cudnn_close(s);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    free(s);
    return ctx->last_status;
}

static void cuda_close(nst_ctx *ctx) {
    nst__cuda_state *s = state(ctx);
    if (!s)
        return;
    nst__cublas_close(s);
    nst__cudnn_close(s);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    free(s);
    ctx->backend_state = NULL;
}

static nst_status cuda_alloc(nst_ctx *ctx, size_t bytes, void **out) {
    cudaError_t err = cudaMalloc(out, bytes);
    if (err == cudaSuccess)
        return NST_OK;
    cudaGetLastError(); /* clear the (non-sticky) allocation error */
    size_t free_b = 0, total_b = 0;
    const cudaError_t info = cudaMemGetInfo(&free_b, &total_b);
    if (info != cudaSuccess)
        return NST__ERR(ctx, err == cudaErrorMemoryAllocation ? NST_ERR_DEVICE_MEMORY : NST_ERR_CUDA,
                        "cudaMalloc of %zu bytes (%.1f MiB) failed: %s (%s); the free memory is "
                        "unknown: cudaMemGetInfo failed too: %s (%s)",
                        bytes, bytes / 1048576.0, cudaGetErrorString(err), cudaGetErrorName(err),
                        cudaGetErrorString(info), cudaGetErrorName(info));
    return NST__ERR(ctx, err == cudaErrorMemoryAllocation ? NST_ERR_DEVICE_MEMORY : NST_ERR_CUDA,
                    "cudaMalloc of %zu bytes (%.1f MiB) failed: %s (%s); %.1f MiB free of %.1f MiB",
                    bytes, bytes / 1048576.0, cudaGetErrorString(err), cudaGetErrorName(err),
                    free_b / 1048576.0, total_b / 1048576.0);
}

static void cuda_free(nst_ctx *ctx, void *ptr) {
    const cudaError_t err = cudaFree(ptr);
    nst__cuda_state *s = state(ctx);
    if (err == cudaSuccess || !s || s->deferred != NST_OK)
        return;
    /* an error of an earlier asynchronous launch surfaces here: keep it for the next caller
     * that can be told, with the last launch named */
    s->deferred = NST_ERR_CUDA;
    snprintf(s->deferred_msg, sizeof s->deferred_msg,
             "cudaFree(%p): %s (%s); the last launch on the stream: %s", ptr,
             cudaGetErrorString(err), cudaGetErrorName(err),
             s->last_launch ? s->last_launch : "none");
}

static nst_status cuda_copy(nst_ctx *ctx, void *dst, const void *src, size_t bytes,
                            nst__copy_kind kind) {
    DEFERRED_TRY(ctx);
    enum cudaMemcpyKind k = kind == NST__COPY_H2D   ? cudaMemcpyHostToDevice
                            : kind == NST__COPY_D2H ? cudaMemcpyDeviceToHost
                                                    : cudaMemcpyDeviceToDevice;
    NST__CUDA_TRY(ctx, cudaMemcpyAsync(dst, src, bytes, k, state(ctx)->stream), "cudaMemcpyAsync");
    if (kind == NST__COPY_D2H) /* the host reads the data next */
        NST__CUDA_TRY(ctx, cudaStreamSynchronize(state(ctx)->stream), "cudaStreamSynchronize");
    return NST_OK;
}

static nst_status cuda_memset(nst_ctx *ctx, void *dst, int value, size_t bytes) {
    DEFERRED_TRY(ctx);
    NST__CUDA_TRY(ctx, cudaMemsetAsync(dst, value, bytes, state(ctx)->stream), "cudaMemsetAsync");
    return NST_OK;
}

static nst_status cuda_synchronize(nst_ctx *ctx) {
    DEFERRED_TRY(ctx);
    NST__CUDA_TRY(ctx, cudaStreamSynchronize(state(ctx)->stream), "cudaStreamSynchronize");
    return NST_OK;
}

static nst_status cuda_mem_info(nst_ctx *ctx, size_t *free_bytes, size_t *total_bytes) {
    DEFERRED_TRY(ctx);
    NST__CUDA_TRY(ctx, cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
    return NST_OK;
}

/* For src/kernels/kernel_launch.cuh (the kernels' door: they never see this module's state). */
cudaStream_t nst__cuda_launch_stream(const nst_ctx *ctx) {
    return ((const nst__cuda_state *)ctx->backend_state)->stream;
}
void nst__cuda_launch_note(nst_ctx *ctx, const char *what) { state(ctx)->last_launch = what; }

static const char *cuda_last_launch(const nst_ctx *ctx) {
    const nst__cuda_state *s = (const nst__cuda_state *)ctx->backend_state;
    return s && s->last_launch ? s->last_launch : "none";
}

const nst__backend nst__cuda_backend = {
    .name = "cuda",
    .kind = NST_BACKEND_CUDA,
    .open = cuda_open,
    .close = cuda_close,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .copy = cuda_copy,
    .memset = cuda_memset,
    .synchronize = cuda_synchronize,
    .mem_info = cuda_mem_info,
    .ops = nst__cuda_ops,
    .supports = nst__cuda_supports,
    .scratch = nst__cuda_scratch,
    .last_launch = cuda_last_launch,
};
