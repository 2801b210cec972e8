/* Allocation bookkeeping behind nst_alloc()/nst_free(): current and peak bytes per memory tag.
 * Tested by tests/test_context.c. */
#include <stdlib.h>

#include "internal.h"

nst_status nst__tracker_add(nst_ctx *ctx, void *ptr, size_t bytes, nst_mem_tag tag) {
    nst__tracker *t = &ctx->tracker;
    if (t->n_live == t->cap_live) {
        size_t cap = t->cap_live ? 2 * t->cap_live : 64;
        nst__allocation *live = realloc(t->live, cap * sizeof *live);
        if (!live)
            return NST__ERR(ctx, NST_ERR_NO_MEMORY, "tracker: no host memory for %zu entries", cap);
        t->live = live;
        t->cap_live = cap;
    }
    t->live[t->n_live++] = (nst__allocation){ptr, bytes, tag};
    t->current[tag] += bytes;
    t->current_total += bytes;
    if (t->current[tag] > t->peak[tag])
        t->peak[tag] = t->current[tag];
    if (t->current_total > t->peak_total)
        t->peak_total = t->current_total;
    return NST_OK;
}

bool nst__tracker_remove(nst_ctx *ctx, void *ptr) {
    nst__tracker *t = &ctx->tracker;
    for (size_t i = t->n_live; i-- > 0;) {
        if (t->live[i].ptr != ptr)
            continue;
        t->current[t->live[i].tag] -= t->live[i].bytes;
        t->current_total -= t->live[i].bytes;
        t->live[i] = t->live[--t->n_live];
        return true;
    }
    return false;
}

void nst__tracker_release(nst__tracker *t) {
    free(t->live);
    t->live = NULL;
    t->n_live = t->cap_live = 0;
}
