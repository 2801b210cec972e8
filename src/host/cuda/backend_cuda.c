/* The CUDA backend's host side, in C: device selection, a stream per context with its cuDNN and
 * cuBLAS handles, device memory (cudaMallocAsync is avoided: the arena asks for one
 * allocation), copies, and the CUDA op table. Compiled into the backend module
 * (libnstyle_cuda.so), never into libnstyle. Every CUDA runtime call is checked and its error
 * string lands in the context's message.
 * Tested on a GPU by tests/test_cuda_backend.c (skipped without one). */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "cuda_internal.h"

nst_status nst__cuda_error(nst_ctx *ctx, cudaError_t err, const char *what, const char *file,
                           int line) {
    return nst__error(ctx, NST_ERR_CUDA, file, line, "%s: %s (%s)", what, cudaGetErrorString(err),
                      cudaGetErrorName(err));
}

static nst__cuda_state *state(nst_ctx *ctx) { return (nst__cuda_state *)ctx->backend_state; }

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
    cudaGetLastError(); /* clear the sticky-free error state */
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return NST__ERR(ctx, NST_ERR_DEVICE_MEMORY,
                    "cudaMalloc of %zu bytes (%.1f MiB) failed: %s; %.1f MiB free of %.1f MiB",
                    bytes, bytes / 1048576.0, cudaGetErrorString(err), free_b / 1048576.0,
                    total_b / 1048576.0);
}

static void cuda_free(nst_ctx *ctx, void *ptr) {
    (void)ctx;
    cudaFree(ptr);
}

static nst_status cuda_copy(nst_ctx *ctx, void *dst, const void *src, size_t bytes,
                            nst__copy_kind kind) {
    enum cudaMemcpyKind k = kind == NST__COPY_H2D   ? cudaMemcpyHostToDevice
                            : kind == NST__COPY_D2H ? cudaMemcpyDeviceToHost
                                                    : cudaMemcpyDeviceToDevice;
    NST__CUDA_TRY(ctx, cudaMemcpyAsync(dst, src, bytes, k, state(ctx)->stream), "cudaMemcpyAsync");
    if (kind == NST__COPY_D2H) /* the host reads the data next */
        NST__CUDA_TRY(ctx, cudaStreamSynchronize(state(ctx)->stream), "cudaStreamSynchronize");
    return NST_OK;
}

static nst_status cuda_memset(nst_ctx *ctx, void *dst, int value, size_t bytes) {
    NST__CUDA_TRY(ctx, cudaMemsetAsync(dst, value, bytes, state(ctx)->stream), "cudaMemsetAsync");
    return NST_OK;
}

static nst_status cuda_synchronize(nst_ctx *ctx) {
    NST__CUDA_TRY(ctx, cudaStreamSynchronize(state(ctx)->stream), "cudaStreamSynchronize");
    return NST_OK;
}

static nst_status cuda_mem_info(nst_ctx *ctx, size_t *free_bytes, size_t *total_bytes) {
    NST__CUDA_TRY(ctx, cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
    return NST_OK;
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
};
