/* The context: backend selection, error messages, tracked allocations and copies.
 * Every allocation a backend makes goes through nst_alloc(), so the tracker sees all of it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core.h"

const char *nst_mem_tag_name(nst_mem_tag tag) {
    switch (tag) {
#define NST__CASE(name, desc) \
    case NST_TAG_##name:      \
        return desc;
        NST_TAG_LIST(NST__CASE)
#undef NST__CASE
    default:
        return "?";
    }
}

nst_status nst__error(nst_ctx *ctx, nst_status status, const char *file, int line,
                      const char *fmt, ...) {
    if (!ctx)
        return status;
    ctx->last_status = status;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(ctx->last_error, sizeof ctx->last_error, "%s (%s:%d): ", nst_strerror(status),
                     base, line);
    if (n < 0 || (size_t)n >= sizeof ctx->last_error)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->last_error + n, sizeof ctx->last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

nst_ctx *nst_ctx_create(void) {
    nst_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->backend = &nst__cpu_backend;
    ctx->device_index = -1;
    snprintf(ctx->device_name, sizeof ctx->device_name, "cpu");
    if (ctx->backend->open(ctx, 0) != NST_OK) {
        free(ctx);
        return NULL;
    }
    return ctx;
}

void nst_ctx_destroy(nst_ctx *ctx) {
    if (!ctx)
        return;
    /* Memory still live at this point is a caller's leak; release it anyway so nothing is lost
     * on the device, then close the backend. */
    for (size_t i = 0; i < ctx->tracker.n_live; i++)
        ctx->backend->free(ctx, ctx->tracker.live[i].ptr);
    ctx->tracker.n_live = 0;
    ctx->backend->close(ctx);
    nst__tracker_release(&ctx->tracker);
    free(ctx);
}

static nst_status parse_device(nst_ctx *ctx, const char *device, nst_backend_kind *kind,
                               int *index) {
    if (!device || !*device)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "empty device name (use cpu, cuda or cuda:N)");
    if (strcmp(device, "cpu") == 0) {
        *kind = NST_BACKEND_CPU;
        *index = -1;
        return NST_OK;
    }
    if (strncmp(device, "cuda", 4) == 0) {
        *kind = NST_BACKEND_CUDA;
        if (device[4] == '\0') {
            *index = 0;
            return NST_OK;
        }
        if (device[4] == ':' && device[5] >= '0' && device[5] <= '9') {
            char *end = NULL;
            long v = strtol(device + 5, &end, 10);
            if (*end == '\0' && v >= 0 && v < 1024) {
                *index = (int)v;
                return NST_OK;
            }
        }
    }
    return NST__ERR(ctx, NST_ERR_INVALID_ARG, "unknown device '%s' (use cpu, cuda or cuda:N)",
                    device);
}

nst_status nst_ctx_set_device(nst_ctx *ctx, const char *device) {
    nst_backend_kind kind = NST_BACKEND_CPU;
    int index = -1;
    NST__TRY(parse_device(ctx, device, &kind, &index));
    const nst__backend *be = &nst__cpu_backend;
    if (kind == NST_BACKEND_CUDA) {
#ifdef NST_HAVE_CUDA
        char why[NST__ERRMSG_SIZE - 128];
        be = nst__cuda_backend_get(why, sizeof why);
        if (!be)
            return NST__ERR(ctx, NST_ERR_NO_DEVICE, "device '%s' asked for, but %s", device, why);
#else
        return NST__ERR(ctx, NST_ERR_NO_DEVICE,
                        "device '%s' asked for, but this nstyle was built without CUDA "
                        "(rebuild with -DNST_CUDA=ON on a machine with the CUDA toolkit, or use "
                        "--device cpu)",
                        device);
#endif
    }
    if (ctx->scratch.owned) { /* the reserved scratch belongs to the old backend */
        nst_free(ctx, ctx->scratch.owned);
        memset(&ctx->scratch, 0, sizeof ctx->scratch);
    }
    if (ctx->tracker.n_live > 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "cannot switch to device '%s': %zu allocations are still live on %s",
                        device, ctx->tracker.n_live, ctx->device_name);
    /* Open the new backend first: on failure the context stays where it was. */
    const nst__backend *old = ctx->backend;
    void *old_state = ctx->backend_state;
    int old_index = ctx->device_index;
    char old_name[sizeof ctx->device_name];
    memcpy(old_name, ctx->device_name, sizeof old_name);
    ctx->backend = be;
    ctx->backend_state = NULL;
    ctx->device_index = index;
    snprintf(ctx->device_name, sizeof ctx->device_name, "%s", device);
    nst_status s = be->open(ctx, index < 0 ? 0 : index);
    if (s != NST_OK) {
        ctx->backend = old;
        ctx->backend_state = old_state;
        ctx->device_index = old_index;
        memcpy(ctx->device_name, old_name, sizeof old_name);
        return s;
    }
    void *new_state = ctx->backend_state;
    const char *sync = getenv("NSTYLE_CUDA_SYNC");
    ctx->sync_each_op = kind == NST_BACKEND_CUDA && sync && strcmp(sync, "1") == 0;
    ctx->backend = old;
    ctx->backend_state = old_state;
    old->close(ctx);
    ctx->backend = be;
    ctx->backend_state = new_state;
    return NST_OK;
}

nst_backend_kind nst_ctx_backend(const nst_ctx *ctx) { return ctx->backend->kind; }
const char *nst_ctx_device_name(const nst_ctx *ctx) { return ctx->device_name; }
void nst_ctx_set_threads(nst_ctx *ctx, int n) { ctx->n_threads = n < 0 ? 0 : n; }
int nst_ctx_threads(const nst_ctx *ctx) { return ctx->n_threads; }
int nst__threads(const nst_ctx *ctx) {
    if (ctx->n_threads > 0)
        return ctx->n_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
const char *nst_last_error(const nst_ctx *ctx) { return ctx ? ctx->last_error : "no context"; }
nst_status nst_last_status(const nst_ctx *ctx) { return ctx ? ctx->last_status : NST_ERR_INVALID_ARG; }

void nst_clear_error(nst_ctx *ctx) {
    ctx->last_status = NST_OK;
    ctx->last_error[0] = '\0';
}

nst_status nst_alloc(nst_ctx *ctx, size_t bytes, nst_mem_tag tag, void **out) {
    *out = NULL;
    if ((unsigned)tag >= NST_TAG_COUNT)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "unknown memory tag %d", (int)tag);
    if (bytes == 0)
        return NST_OK;
    void *p = NULL;
    NST__TRY(ctx->backend->alloc(ctx, bytes, &p));
    nst_status s = nst__tracker_add(ctx, p, bytes, tag);
    if (s != NST_OK) {
        ctx->backend->free(ctx, p);
        return s;
    }
    *out = p;
    return NST_OK;
}

void nst_free(nst_ctx *ctx, void *ptr) {
    if (!ptr)
        return;
    if (nst__tracker_remove(ctx, ptr))
        ctx->backend->free(ctx, ptr);
}

nst_status nst_tensor_alloc(nst_ctx *ctx, nst_tensor *t, nst_mem_tag tag) {
    t->backend = ctx->backend->kind;
    return nst_alloc(ctx, nst_tensor_bytes(t), tag, &t->data);
}

void nst_tensor_free(nst_ctx *ctx, nst_tensor *t) {
    nst_free(ctx, t->data);
    t->data = NULL;
}

nst_status nst_copy_to_device(nst_ctx *ctx, void *dst, const void *host_src, size_t bytes) {
    return bytes ? ctx->backend->copy(ctx, dst, host_src, bytes, NST__COPY_H2D) : NST_OK;
}

nst_status nst_copy_to_host(nst_ctx *ctx, void *host_dst, const void *src, size_t bytes) {
    return bytes ? ctx->backend->copy(ctx, host_dst, src, bytes, NST__COPY_D2H) : NST_OK;
}

nst_status nst_memset_device(nst_ctx *ctx, void *dst, int value, size_t bytes) {
    return bytes ? ctx->backend->memset(ctx, dst, value, bytes) : NST_OK;
}

nst_status nst_synchronize(nst_ctx *ctx) { return ctx->backend->synchronize(ctx); }
