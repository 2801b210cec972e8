/* The arena behind a solved memory plan: one allocation of exactly the plan's total_bytes on
 * the context's backend (host memory on CPU, one cudaMalloc on CUDA), whose base is aligned up to
 * the plan's strictest alignment (the plan's base_slack pays for that), and buffer pointers =
 * base + the plan's offsets. The tracker counts the allocation split by tag as the plan's peak
 * step has it, the remainder under "arena slack" (see include/nstyle/memory.h).
 *
 * Tested by tests/test_arena.c (size through the tracker, bounds, alignment, patterns written
 * and read back over simulated lifetimes, the failure message). */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

struct nst_arena {
    void *raw;      /* the allocation; NULL for an empty plan */
    uintptr_t base; /* raw rounded up to the plan's max_align */
    size_t total;   /* bytes allocated */
    int n;
    size_t *offset; /* [n] */
    size_t *bytes;  /* [n] */
};

static void arena_free_host(nst_arena *a) {
    if (!a)
        return;
    free(a->offset);
    free(a->bytes);
    free(a);
}

/* Reports a failed allocation: the backend's own message, the bytes asked for, the device's
 * free memory and the plan's biggest consumers. */
static nst_status report_failure(nst_ctx *ctx, nst_status s, const nst_plan *plan) {
    char backend_msg[NST__ERRMSG_SIZE];
    memcpy(backend_msg, ctx->last_error, sizeof backend_msg);
    nst_plan_summary sum = nst_plan_get_summary(plan);
    size_t free_b = 0, total_b = 0;
    bool have_info = ctx->backend->mem_info(ctx, &free_b, &total_b) == NST_OK;
    char msg[NST__ERRMSG_SIZE - 96];
    nst__text t = nst__text_init(msg, sizeof msg);
    nst__text_printf(&t, "arena of %zu bytes (%.1f MiB) could not be allocated on %s", sum.total_bytes,
                     nst__mib(sum.total_bytes), ctx->device_name);
    if (have_info)
        nst__text_printf(&t, " (%zu bytes, %.1f MiB free of %.1f MiB)", free_b, nst__mib(free_b),
                         nst__mib(total_b));
    nst__text_printf(&t, "; ");
    nst__plan_consumers(plan, 3, &t);
    nst__text_printf(&t, "; the backend said: %s", backend_msg);
    return NST__ERR(ctx, s, "%s", msg);
}

nst_status nst_arena_create(nst_ctx *ctx, const nst_plan *plan, nst_arena **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "arena: NULL output pointer");
    *out = NULL;
    nst_plan_summary s = nst_plan_get_summary(plan);
    if (!plan || !s.solved)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "arena: the memory plan must be solved first (nst_plan_solve)");
    nst_arena *a = calloc(1, sizeof *a);
    size_t n = (size_t)s.n_buffers;
    if (a) {
        a->offset = malloc((n ? n : 1) * sizeof *a->offset);
        a->bytes = malloc((n ? n : 1) * sizeof *a->bytes);
    }
    if (!a || !a->offset || !a->bytes) {
        arena_free_host(a);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "arena: no host memory for %zu buffer records", n);
    }
    a->n = s.n_buffers;
    for (int i = 0; i < a->n; i++) {
        const nst_plan_buffer *b = nst_plan_get(plan, i);
        a->offset[i] = b->offset;
        a->bytes[i] = b->bytes;
    }
    a->total = s.total_bytes;
    if (a->total > 0) {
        nst_status st = ctx->backend->alloc(ctx, a->total, &a->raw);
        if (st != NST_OK) {
            arena_free_host(a);
            return report_failure(ctx, st, plan);
        }
        size_t split[NST__TRACK_ROWS];
        memcpy(split, s.tag_at_peak, sizeof s.tag_at_peak);
        split[NST__TRACK_SLACK] = s.total_bytes - s.lower_bound; /* tag_at_peak sums to it */
        st = nst__tracker_add_split(ctx, a->raw, a->total, split);
        if (st != NST_OK) {
            ctx->backend->free(ctx, a->raw);
            arena_free_host(a);
            return st;
        }
        uintptr_t raw = (uintptr_t)a->raw;
        a->base = (raw + (s.max_align - 1)) & ~(uintptr_t)(s.max_align - 1);
        /* the backends align the base to at least NST_PLAN_BASE_ALIGN, so rounding it up takes
         * at most base_slack bytes and the span still ends inside the allocation */
        if (a->base - raw > s.base_slack) {
            nst_free(ctx, a->raw);
            arena_free_host(a);
            return NST__ERR(ctx, NST_ERR_INTERNAL,
                            "arena: %s returned a base aligned to less than %d bytes",
                            ctx->backend->name, NST_PLAN_BASE_ALIGN);
        }
    }
    *out = a;
    return NST_OK;
}

void nst_arena_destroy(nst_ctx *ctx, nst_arena *arena) {
    if (!arena)
        return;
    nst_free(ctx, arena->raw);
    arena_free_host(arena);
}

void *nst_arena_ptr(const nst_arena *arena, int id) {
    if (!arena || id < 0 || id >= arena->n || arena->bytes[id] == 0)
        return NULL;
    return (void *)(arena->base + arena->offset[id]);
}

size_t nst_arena_size(const nst_arena *arena) { return arena ? arena->total : 0; }

int nst__arena_count(const nst_arena *arena) { return arena ? arena->n : 0; }
