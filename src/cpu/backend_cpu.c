/* The CPU backend: host memory (64-byte aligned), memcpy copies and the CPU op table.
 * The CPU ops are the reference every other backend is tested against. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_ops.h"

int nst__cpu_threads(const nst_ctx *ctx) {
    if (ctx->n_threads > 0)
        return ctx->n_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static nst_status cpu_open(nst_ctx *ctx, int device) {
    (void)device;
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
};

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
};
