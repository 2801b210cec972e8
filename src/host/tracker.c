/* The memory tracker behind nst_alloc()/nst_free() and the arena: current and peak bytes per
 * memory tag (plus the "arena slack" row, see include/nstyle/memory.h), and its reports as a
 * human table and as JSON, with the device's own figures on CUDA (cudaMemGetInfo: total - free -
 * our bytes = the CUDA context, allocation rounding and other processes). The library never
 * prints: reports go into the caller's buffer.
 *
 * Tested by tests/test_tracker.c (random alloc/free sequences against an independent model,
 * reports) and tests/test_context.c; the arena's split by tests/test_arena.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

/* ---- bookkeeping ----------------------------------------------------------------------------- */

static nst_status push_entry(nst_ctx *ctx, const nst__allocation *a) {
    nst__tracker *t = &ctx->tracker;
    if (t->n_live == t->cap_live) {
        size_t cap = t->cap_live ? 2 * t->cap_live : 64;
        nst__allocation *live = realloc(t->live, cap * sizeof *live);
        if (!live)
            return NST__ERR(ctx, NST_ERR_NO_MEMORY, "tracker: no host memory for %zu entries", cap);
        t->live = live;
        t->cap_live = cap;
    }
    t->live[t->n_live++] = *a;
    return NST_OK;
}

static void count_in(nst__tracker *t, size_t row, size_t bytes) {
    t->current[row] += bytes;
    if (t->current[row] > t->peak[row])
        t->peak[row] = t->current[row];
}

static void count_total(nst__tracker *t, size_t bytes) {
    t->current_total += bytes;
    if (t->current_total > t->peak_total)
        t->peak_total = t->current_total;
}

nst_status nst__tracker_add(nst_ctx *ctx, void *ptr, size_t bytes, nst_mem_tag tag) {
    nst__allocation a;
    memset(&a, 0, sizeof a);
    a.ptr = ptr;
    a.bytes = bytes;
    a.tag = tag;
    NST__TRY(push_entry(ctx, &a));
    count_in(&ctx->tracker, (size_t)tag, bytes);
    count_total(&ctx->tracker, bytes);
    return NST_OK;
}

nst_status nst__tracker_add_split(nst_ctx *ctx, void *ptr, size_t bytes,
                                  const size_t split[NST__TRACK_ROWS]) {
    nst__allocation a;
    memset(&a, 0, sizeof a);
    a.ptr = ptr;
    a.bytes = bytes;
    a.tag = NST_TAG_OTHER; /* unused: the split says where the bytes go */
    a.is_split = true;
    size_t sum = 0;
    for (size_t r = 0; r < NST__TRACK_ROWS; r++)
        sum += a.split[r] = split[r];
    if (sum != bytes)
        return NST__ERR(ctx, NST_ERR_INTERNAL, "tracker: split of %zu bytes adds up to %zu",
                        bytes, sum);
    NST__TRY(push_entry(ctx, &a));
    for (size_t r = 0; r < NST__TRACK_ROWS; r++)
        count_in(&ctx->tracker, r, split[r]);
    count_total(&ctx->tracker, bytes);
    return NST_OK;
}

bool nst__tracker_remove(nst_ctx *ctx, void *ptr) {
    nst__tracker *t = &ctx->tracker;
    for (size_t i = t->n_live; i-- > 0;) {
        const nst__allocation *a = &t->live[i];
        if (a->ptr != ptr)
            continue;
        if (a->is_split)
            for (size_t r = 0; r < NST__TRACK_ROWS; r++)
                t->current[r] -= a->split[r];
        else
            t->current[a->tag] -= a->bytes;
        t->current_total -= a->bytes;
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

/* ---- snapshot and reports -------------------------------------------------------------------- */

void nst_tracker_snapshot_get(nst_ctx *ctx, nst_tracker_snapshot *out) {
    memset(out, 0, sizeof *out);
    const nst__tracker *t = &ctx->tracker;
    memcpy(out->current, t->current, sizeof out->current);
    memcpy(out->peak, t->peak, sizeof out->peak);
    out->arena_slack_current = t->current[NST__TRACK_SLACK];
    out->arena_slack_peak = t->peak[NST__TRACK_SLACK];
    out->current_total = t->current_total;
    out->peak_total = t->peak_total;
    out->n_live = t->n_live;
    if (ctx->backend->kind != NST_BACKEND_CUDA)
        return; /* on the CPU, "free" is the whole host's: nothing about us to learn from it */
    size_t free_b = 0, total_b = 0;
    nst_status saved_status = ctx->last_status;
    char saved[NST__ERRMSG_SIZE];
    memcpy(saved, ctx->last_error, sizeof saved);
    if (ctx->backend->mem_info(ctx, &free_b, &total_b) != NST_OK) {
        /* a report is not a failure: keep the caller's last error as it was */
        ctx->last_status = saved_status;
        memcpy(ctx->last_error, saved, sizeof saved);
        return;
    }
    out->has_device_info = true;
    out->device_total = total_b;
    out->device_free = free_b;
    size_t used = total_b >= free_b ? total_b - free_b : 0;
    out->device_other = used > t->current_total ? used - t->current_total : 0;
}

size_t nst_tracker_report_text(nst_ctx *ctx, char *buf, size_t size) {
    nst_tracker_snapshot s;
    nst_tracker_snapshot_get(ctx, &s);
    nst__text t = nst__text_init(buf, size);
    nst__text_printf(&t, "memory on %s\n", ctx->device_name);
    nst__text_printf(&t, "%-12s %16s %12s %16s %12s\n", "tag", "current bytes", "MiB",
                     "peak bytes", "MiB");
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        nst__text_printf(&t, "%-12s %16zu %12.1f %16zu %12.1f\n",
                         nst_mem_tag_name((nst_mem_tag)tag), s.current[tag],
                         nst__mib(s.current[tag]), s.peak[tag], nst__mib(s.peak[tag]));
    nst__text_printf(&t, "%-12s %16zu %12.1f %16zu %12.1f\n", "arena slack",
                     s.arena_slack_current, nst__mib(s.arena_slack_current), s.arena_slack_peak,
                     nst__mib(s.arena_slack_peak));
    nst__text_printf(&t, "%-12s %16zu %12.1f %16zu %12.1f\n", "total", s.current_total,
                     nst__mib(s.current_total), s.peak_total, nst__mib(s.peak_total));
    nst__text_printf(&t, "live allocations: %zu (peaks per row are separate maxima; the total's "
                         "peak is the most allocated at once)\n",
                     s.n_live);
    if (s.has_device_info)
        nst__text_printf(&t,
                         "device: %zu bytes (%.1f MiB) total, %zu (%.1f MiB) free; ours %zu "
                         "(%.1f MiB); CUDA context and other processes %zu (%.1f MiB) "
                         "(= total - free - ours)\n",
                         s.device_total, nst__mib(s.device_total), s.device_free,
                         nst__mib(s.device_free), s.current_total, nst__mib(s.current_total),
                         s.device_other, nst__mib(s.device_other));
    return t.len;
}

/* s as a JSON string: quotes, backslashes and control characters escaped. */
static void json_string(nst__text *t, const char *s) {
    nst__text_printf(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            nst__text_printf(t, "\\%c", c);
        else if (c < 0x20)
            nst__text_printf(t, "\\u%04x", c);
        else
            nst__text_printf(t, "%c", c);
    }
    nst__text_printf(t, "\"");
}

size_t nst_tracker_report_json(nst_ctx *ctx, char *buf, size_t size) {
    nst_tracker_snapshot s;
    nst_tracker_snapshot_get(ctx, &s);
    nst__text t = nst__text_init(buf, size);
    nst__text_printf(&t, "{\"device\": ");
    json_string(&t, ctx->device_name);
    nst__text_printf(&t, ", \"tags\": {");
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        nst__text_printf(&t, "\"%s\": {\"current\": %zu, \"peak\": %zu}, ",
                         nst_mem_tag_name((nst_mem_tag)tag), s.current[tag], s.peak[tag]);
    nst__text_printf(&t, "\"arena_slack\": {\"current\": %zu, \"peak\": %zu}}, ",
                     s.arena_slack_current, s.arena_slack_peak);
    nst__text_printf(&t, "\"total\": {\"current\": %zu, \"peak\": %zu}, ", s.current_total,
                     s.peak_total);
    nst__text_printf(&t, "\"live_allocations\": %zu, \"device_memory\": ", s.n_live);
    if (s.has_device_info)
        nst__text_printf(&t,
                         "{\"total\": %zu, \"free\": %zu, \"ours\": %zu, "
                         "\"context_and_other\": %zu}}",
                         s.device_total, s.device_free, s.current_total, s.device_other);
    else
        nst__text_printf(&t, "null}");
    return t.len;
}
