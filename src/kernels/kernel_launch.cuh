/* What every launcher in src/kernels/ shares (CUDA only, never the emulation): the library's
 * error reporting and op scratch with C linkage, the context's stream, and the check after each
 * launch, which puts the CUDA error string in the context's message. This header is the
 * kernels' one door to the backend: nothing in src/kernels/ includes the CUDA module's private
 * src/host/cuda/cuda_internal.h, whose module (backend_cuda.c) defines the two functions below. */
#ifndef NSTYLE_KERNEL_LAUNCH_CUH
#define NSTYLE_KERNEL_LAUNCH_CUH

#include <cuda_runtime.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern "C" {
#include "../host/errors.h"
#include "../host/op_scratch.h"
#include "launchers.cuh"

/* The context's CUDA stream, for launches. */
cudaStream_t nst__cuda_launch_stream(const nst_ctx *ctx);
/* Records `what` (a kernel's name) as the stream's last launch, which a failed synchronisation
 * names (NSTYLE_CUDA_SYNC=1). */
void nst__cuda_launch_note(nst_ctx *ctx, const char *what);
}

#include "kernel_common.cuh"

/* After a launch of `kernel` for `op`: NST_OK, or NST_ERR_CUDA naming both with the error. The
 * kernel is recorded as the stream's last launch (NSTYLE_CUDA_SYNC=1 names it). */
static inline nst_status nst_k_launched(nst_ctx *ctx, const char *op, const char *kernel) {
    nst__cuda_launch_note(ctx, kernel); /* named if a later synchronisation fails */
    const cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        return NST_OK;
    return NST__ERR(ctx, NST_ERR_CUDA, "op %s: launch of %s failed: %s (%s)", op, kernel,
                    cudaGetErrorString(e), cudaGetErrorName(e));
}

/* A CUDA runtime call made by a launcher (a copy, a memset): NST_ERR_CUDA naming `what` with
 * the error, as the module's own calls report theirs. */
#define NST_K_CUDA_TRY(ctx, call, what)                                                    \
    do {                                                                                   \
        const cudaError_t nst_k_e_ = (call);                                               \
        if (nst_k_e_ != cudaSuccess)                                                       \
            return NST__ERR((ctx), NST_ERR_CUDA, "%s: %s (%s)", (what),                    \
                            cudaGetErrorString(nst_k_e_), cudaGetErrorName(nst_k_e_));     \
    } while (0)

/* Launches the flat kernel K over p (nothing for an empty tensor) and checks the launch. */
#define NST_K_LAUNCH_FLAT(ctx, op, K, p)                                                 \
    do {                                                                                 \
        const nst_k_grid g_ = nst_k_grid_for(nst_k_flat_work(&(p)));                     \
        if (g_.blocks == 0)                                                              \
            return NST_OK;                                                               \
        K<<<(unsigned)g_.blocks, g_.threads, 0, nst__cuda_launch_stream(ctx)>>>(p);             \
        return nst_k_launched((ctx), (op), #K);                                          \
    } while (0)

/* Launches NAME_kernel on the 1-D grid `grid` (nothing when it has no blocks). */
#define NST_K_LAUNCH_GRID(ctx, op, NAME, grid, p)                                        \
    do {                                                                                 \
        const nst_k_grid g_ = (grid);                                                    \
        if (g_.blocks > 0) {                                                             \
            cudaStream_t s_ = nst__cuda_launch_stream(ctx);                             \
            NAME##_kernel<<<(unsigned)g_.blocks, g_.threads, 0, s_>>>(p);                \
            NST__TRY(nst_k_launched((ctx), (op), #NAME "_kernel"));                      \
        }                                                                                \
    } while (0)

/* Launches NAME_kernel over `work` items with a grid-stride grid (nothing when work is 0). */
#define NST_K_LAUNCH_1D(ctx, op, NAME, work, p)                                          \
    NST_K_LAUNCH_GRID(ctx, op, NAME, nst_k_grid_for(work), p)

#endif
