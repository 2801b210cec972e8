/* The CPU backend: host memory (64-byte aligned), memcpy copies, the CPU op table, what it
 * supports (every op, in F32) and each op's scratch bytes.
 * The CPU ops are the reference every other backend is tested against.
 *
 * OpenBLAS threads. Every CPU op threads with OpenMP and calls BLAS from inside its own threads,
 * each call single-threaded; OpenBLAS's own pool would only compete with ours for the cores.
 * Debian's OpenBLAS is the pthread build, whose thread count is one process-wide setting
 * (openblas_set_num_threads) that no call can override locally. So the backend sets it to 1
 * once, when the first context opens, and never changes it again: no op touches process-wide
 * state per call, and concurrent contexts cannot race on it. A host program that also calls
 * OpenBLAS itself gets single-threaded BLAS after opening a context; it can set its own count
 * again, and nstyle's ops stay correct whatever it is (they only slow down when it is > 1). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cblas.h>
#include <pthread.h>

#include "../host/core.h"
#include "cpu_ops.h"
#include "nstyle/device.h"

int nst__cpu_threads(const nst_ctx *ctx) { return nst__threads(ctx); }

/* The CPU's vector features, probed once (OpenMP workers ask too: pthread_once). */
static int simd_found = NST__CPU_SIMD_BASE, simd_forced = -1;

static void simd_probe(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        simd_found = NST__CPU_SIMD_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        simd_found = NST__CPU_SIMD_AVX2;
#endif
}

int nst__cpu_simd(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, simd_probe);
    return simd_forced >= 0 && simd_forced < simd_found ? simd_forced : simd_found;
}

void nst__cpu_simd_force(int level) { simd_forced = level; }

nst_status nst__cpu_scratch(nst_ctx *ctx, const char *op, const char *what, size_t bytes,
                            bool zero, void **out) {
    NST__TRY(nst__scratch_take(ctx, op, what, bytes, out));
    if (zero && *out)
        memset(*out, 0, bytes);
    return NST_OK;
}

static void blas_single_threaded(void) {
#ifdef OPENBLAS_VERSION
    openblas_set_num_threads(1);
#endif
}

static nst_status cpu_open(nst_ctx *ctx, int device) {
    (void)device;
    static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
    pthread_once(&blas_once, blas_single_threaded);
    ctx->backend_state = NULL;
    ctx->device_index = -1;
    return NST_OK;
}

static void cpu_close(nst_ctx *ctx) { (void)ctx; }

static nst_status cpu_alloc(nst_ctx *ctx, size_t bytes, void **out) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "allocation of %zu bytes overflows", bytes);
    void *p = aligned_alloc(64, rounded);
    if (!p)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "host allocation of %zu bytes failed", bytes);
    *out = p;
    return NST_OK;
}

static void cpu_free(nst_ctx *ctx, void *ptr) {
    (void)ctx;
    free(ptr);
}

static nst_status cpu_copy(nst_ctx *ctx, void *dst, const void *src, size_t bytes,
                           nst__copy_kind kind) {
    (void)ctx;
    (void)kind;
    memmove(dst, src, bytes);
    return NST_OK;
}

static nst_status cpu_memset(nst_ctx *ctx, void *dst, int value, size_t bytes) {
    (void)ctx;
    memset(dst, value, bytes);
    return NST_OK;
}

static nst_status cpu_synchronize(nst_ctx *ctx) {
    (void)ctx;
    return NST_OK;
}

static nst_status cpu_mem_info(nst_ctx *ctx, size_t *free_bytes, size_t *total_bytes) {
    long page = sysconf(_SC_PAGESIZE);
    long avail = sysconf(_SC_AVPHYS_PAGES);
    long total = sysconf(_SC_PHYS_PAGES);
    if (page <= 0 || avail < 0 || total <= 0)
        return NST__ERR(ctx, NST_ERR_INTERNAL, "cannot read the host memory size (sysconf)");
    *free_bytes = (size_t)avail * (size_t)page;
    *total_bytes = (size_t)total * (size_t)page;
    return NST_OK;
}

/* The CPU op table. An op without a line here reports NST_ERR_UNSUPPORTED. */
static const nst__op_fn cpu_ops[NST_OP_COUNT] = {
    [NST_OP_ADD] = nst__cpu_add,
    [NST_OP_SCALE] = nst__cpu_scale,
    [NST_OP_AXPY] = nst__cpu_axpy,
    [NST_OP_CLAMP] = nst__cpu_clamp,
    [NST_OP_RELU_FORWARD] = nst__cpu_relu_forward,
    [NST_OP_RELU_BACKWARD] = nst__cpu_relu_backward,
    [NST_OP_POOL2X2_FORWARD] = nst__cpu_pool2x2_forward,
    [NST_OP_POOL2X2_BACKWARD] = nst__cpu_pool2x2_backward,
    [NST_OP_UPSAMPLE2X_FORWARD] = nst__cpu_upsample2x_forward,
    [NST_OP_UPSAMPLE2X_BACKWARD] = nst__cpu_upsample2x_backward,
    [NST_OP_REFLECT_PAD_FORWARD] = nst__cpu_reflect_pad_forward,
    [NST_OP_REFLECT_PAD_BACKWARD] = nst__cpu_reflect_pad_backward,
    [NST_OP_INSTANCE_NORM_FORWARD] = nst__cpu_instance_norm_forward,
    [NST_OP_INSTANCE_NORM_BACKWARD] = nst__cpu_instance_norm_backward,
    [NST_OP_REDUCE_SUM] = nst__cpu_reduce_sum,
    [NST_OP_REDUCE_MEAN] = nst__cpu_reduce_mean,
    [NST_OP_ADAM] = nst__cpu_adam,
    [NST_OP_CONV2D_FORWARD] = nst__cpu_conv2d_forward,
    [NST_OP_CONV2D_BACKWARD_DATA] = nst__cpu_conv2d_backward_data,
    [NST_OP_CONV2D_BACKWARD_FILTER] = nst__cpu_conv2d_backward_filter,
    [NST_OP_LINEAR_FORWARD] = nst__cpu_linear_forward,
    [NST_OP_LINEAR_BACKWARD] = nst__cpu_linear_backward,
    [NST_OP_GRAM_FORWARD] = nst__cpu_gram_forward,
    [NST_OP_GRAM_BACKWARD] = nst__cpu_gram_backward,
    [NST_OP_MSE_FORWARD] = nst__cpu_mse_forward,
    [NST_OP_MSE_BACKWARD] = nst__cpu_mse_backward,
    [NST_OP_TV_FORWARD] = nst__cpu_tv_forward,
    [NST_OP_TV_BACKWARD] = nst__cpu_tv_backward,
    [NST_OP_RGB_TO_YUV] = nst__cpu_rgb_to_yuv,
    [NST_OP_YUV_TO_RGB] = nst__cpu_yuv_to_rgb,
    [NST_OP_INPUT_CONVERT_FORWARD] = nst__cpu_input_convert_forward,
    [NST_OP_INPUT_CONVERT_BACKWARD] = nst__cpu_input_convert_backward,
    [NST_OP_AFFINE_GRID_FORWARD] = nst__cpu_affine_grid_forward,
    [NST_OP_AFFINE_GRID_BACKWARD] = nst__cpu_affine_grid_backward,
    [NST_OP_GRID_SAMPLE_FORWARD] = nst__cpu_grid_sample_forward,
    [NST_OP_GRID_SAMPLE_BACKWARD] = nst__cpu_grid_sample_backward,
    [NST_OP_DWCONV2D_FORWARD] = nst__cpu_dwconv2d_forward,
    [NST_OP_DWCONV2D_BACKWARD_DATA] = nst__cpu_dwconv2d_backward_data,
    [NST_OP_DWCONV2D_BACKWARD_FILTER] = nst__cpu_dwconv2d_backward_filter,
    [NST_OP_SIGMOID_FORWARD] = nst__cpu_sigmoid_forward,
    [NST_OP_SIGMOID_BACKWARD] = nst__cpu_sigmoid_backward,
    [NST_OP_GLOBAL_AVG_POOL_FORWARD] = nst__cpu_global_avg_pool_forward,
    [NST_OP_GLOBAL_AVG_POOL_BACKWARD] = nst__cpu_global_avg_pool_backward,
    [NST_OP_COND_INSTANCE_NORM_FORWARD] = nst__cpu_cond_instance_norm_forward,
    [NST_OP_COND_INSTANCE_NORM_BACKWARD] = nst__cpu_cond_instance_norm_backward,
};

/* Every op in F32; modes are checked by the dispatch's shape rules. */
static nst_status cpu_supports(nst_ctx *ctx, nst_op op, const void *params, nst_dtype compute) {
    (void)params;
    if (compute == NST_F32)
        return NST_OK;
    return NST__ERR(ctx, NST_ERR_UNSUPPORTED,
                    "op %s: the cpu backend computes in F32 only, and these tensors are %s",
                    nst_op_get_info(op)->name, nst_dtype_name(compute));
}

static nst_status cpu_scratch(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes) {
    switch (op) {
    case NST_OP_CONV2D_FORWARD:
    case NST_OP_CONV2D_BACKWARD_DATA:
    case NST_OP_CONV2D_BACKWARD_FILTER:
        *bytes = nst__cpu_conv2d_scratch(ctx, op, params);
        break;
    case NST_OP_LINEAR_FORWARD:
    case NST_OP_LINEAR_BACKWARD:
        *bytes = nst__cpu_linear_scratch(ctx, op, params);
        break;
    case NST_OP_GRAM_FORWARD:
    case NST_OP_GRAM_BACKWARD:
        *bytes = nst__cpu_gram_scratch(ctx, op, params);
        break;
    case NST_OP_INSTANCE_NORM_FORWARD:
    case NST_OP_INSTANCE_NORM_BACKWARD:
    case NST_OP_COND_INSTANCE_NORM_FORWARD:
    case NST_OP_COND_INSTANCE_NORM_BACKWARD:
        *bytes = nst__cpu_instance_norm_scratch(ctx, op, params);
        break;
    default:
        *bytes = 0;
        break;
    }
    return NST_OK;
}

const nst__backend nst__cpu_backend = {
    .name = "cpu",
    .kind = NST_BACKEND_CPU,
    .open = cpu_open,
    .close = cpu_close,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy = cpu_copy,
    .memset = cpu_memset,
    .synchronize = cpu_synchronize,
    .mem_info = cpu_mem_info,
    .ops = cpu_ops,
    .supports = cpu_supports,
    .scratch = cpu_scratch,
};
