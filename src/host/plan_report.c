/* What a memory plan says to people: the plan as a table, the biggest consumers at its peak, the
 * budget check that refuses a plan before anything is allocated, and the parser for sizes such
 * as "4G" or "3.5GiB" (--vram-limit). Sizes in messages are MiB (2^20 bytes).
 *
 * Tested by tests/test_tracker.c (budget refusal, nst_parse_bytes) and tests/test_planner.c
 * (report text). */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

nst__text nst__text_init(char *buf, size_t size) {
    nst__text t = {buf, size, 0};
    if (buf && size)
        buf[0] = '\0';
    return t;
}

void nst__text_printf(nst__text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *dst = NULL;
    size_t room = 0;
    if (t->buf && t->len < t->size) {
        dst = t->buf + t->len;
        room = t->size - t->len;
    }
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

/* ---- consumers ------------------------------------------------------------------------------- */

/* Whether buffer a comes before b in "largest first, then lower id" order. */
static bool larger(const nst_plan_buffer *a, int ia, const nst_plan_buffer *b, int ib) {
    return a->bytes != b->bytes ? a->bytes > b->bytes : ia < ib;
}

void nst__plan_consumers(const nst_plan *plan, int max_labels, nst__text *t) {
    nst_plan_summary s = nst_plan_get_summary(plan);
    nst__text_printf(t, "at the peak (step %d, %.1f MiB live):", s.peak_step,
                     nst__mib(s.lower_bound));
    /* tags, largest first (selection: at most NST_TAG_COUNT rounds) */
    bool shown[NST_TAG_COUNT] = {false};
    const char *sep = " ";
    for (int round = 0; round < NST_TAG_COUNT; round++) {
        int best = -1;
        for (int tag = 0; tag < NST_TAG_COUNT; tag++)
            if (!shown[tag] && s.tag_at_peak[tag] > 0 &&
                (best < 0 || s.tag_at_peak[tag] > s.tag_at_peak[best]))
                best = tag;
        if (best < 0)
            break;
        shown[best] = true;
        nst__text_printf(t, "%s%s %.1f MiB", sep, nst_mem_tag_name((nst_mem_tag)best),
                         nst__mib(s.tag_at_peak[best]));
        sep = ", ";
    }
    /* buffers live at the peak, largest first: each round takes the largest below the last */
    int prev = -1, n = nst_plan_count(plan);
    sep = "; largest buffers then: ";
    for (int round = 0; round < max_labels; round++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            const nst_plan_buffer *b = nst_plan_get(plan, i);
            if (b->bytes == 0 || b->first > s.peak_step || b->last < s.peak_step)
                continue;
            if (prev >= 0 && !larger(nst_plan_get(plan, prev), prev, b, i))
                continue;
            if (best < 0 || larger(b, i, nst_plan_get(plan, best), best))
                best = i;
        }
        if (best < 0)
            break;
        const nst_plan_buffer *b = nst_plan_get(plan, best);
        nst__text_printf(t, "%s'%s' (%s) %.1f MiB", sep, b->label, nst_mem_tag_name(b->tag),
                         nst__mib(b->bytes));
        sep = ", ";
        prev = best;
    }
}

/* ---- the plan as a table --------------------------------------------------------------------- */

/* Insertion sort of ids, largest first (qsort has no context argument in C11); plans are
 * small and the report is not on a hot path. */
static void sort_by_size(const nst_plan *p, int *ids, int n) {
    for (int i = 1; i < n; i++) {
        int v = ids[i], k = i;
        while (k > 0 && larger(nst_plan_get(p, v), v, nst_plan_get(p, ids[k - 1]), ids[k - 1])) {
            ids[k] = ids[k - 1];
            k--;
        }
        ids[k] = v;
    }
}

size_t nst_plan_report_text(const nst_plan *plan, char *buf, size_t size) {
    nst__text t = nst__text_init(buf, size);
    nst_plan_summary s = nst_plan_get_summary(plan);
    if (!s.solved) {
        nst__text_printf(&t, "memory plan: %d buffers, not solved\n", nst_plan_count(plan));
        return t.len;
    }
    nst__text_printf(&t, "memory plan: %d buffers, arena %zu bytes (%.1f MiB)\n", s.n_buffers,
                     s.total_bytes, nst__mib(s.total_bytes));
    nst__text_printf(&t,
                     "  lower bound %zu bytes (%.1f MiB, live at step %d); slack %zu bytes "
                     "(%.2f%% of the arena); without sharing %.1f MiB\n",
                     s.lower_bound, nst__mib(s.lower_bound), s.peak_step,
                     s.total_bytes - s.lower_bound,
                     s.total_bytes ? 100.0 * (double)(s.total_bytes - s.lower_bound) /
                                         (double)s.total_bytes
                                   : 0.0,
                     nst__mib(s.sum_bytes));
    if (s.base_slack)
        nst__text_printf(&t, "  of the slack, %zu bytes align the base to %zu bytes\n",
                         s.base_slack, s.max_align);
    nst__text_printf(&t, "%-14s %16s %16s\n", "tag", "alone (MiB)", "at peak (MiB)");
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        nst__text_printf(&t, "%-14s %16.1f %16.1f\n", nst_mem_tag_name((nst_mem_tag)tag),
                         nst__mib(s.tag_peak[tag]), nst__mib(s.tag_at_peak[tag]));
    int n = nst_plan_count(plan);
    int *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    for (int i = 0; i < n && ids; i++)
        ids[i] = i;
    if (ids)
        sort_by_size(plan, ids, n);
    nst__text_printf(&t, "buffers%s:\n%6s  %-28s %-12s %12s %14s %14s  %s\n",
                     ids ? ", largest first" : "", "id", "label", "tag", "MiB", "bytes",
                     "offset", "steps");
    for (int k = 0; k < n; k++) {
        int id = ids ? ids[k] : k;
        const nst_plan_buffer *b = nst_plan_get(plan, id);
        nst__text_printf(&t, "%6d  %-28s %-12s %12.2f %14zu %14zu  %d..%d\n", id, b->label,
                         nst_mem_tag_name(b->tag), nst__mib(b->bytes), b->bytes, b->offset,
                         b->first, b->last);
    }
    free(ids);
    return t.len;
}

/* ---- budget ---------------------------------------------------------------------------------- */

nst_status nst_plan_check_budget(nst_ctx *ctx, const nst_plan *plan, size_t limit_bytes) {
    nst_plan_summary s = nst_plan_get_summary(plan);
    if (!plan || !s.solved)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "budget check: the memory plan must be solved first (nst_plan_solve)");
    size_t limit = limit_bytes, total = 0;
    if (limit == 0)
        NST__TRY(ctx->backend->mem_info(ctx, &limit, &total));
    if (s.total_bytes <= limit)
        return NST_OK;
    char msg[NST__ERRMSG_SIZE - 96];
    nst__text t = nst__text_init(msg, sizeof msg);
    if (limit_bytes)
        nst__text_printf(&t, "the memory plan needs %zu bytes (%.1f MiB) but the limit is %zu "
                             "bytes (%.1f MiB); ",
                         s.total_bytes, nst__mib(s.total_bytes), limit, nst__mib(limit));
    else
        nst__text_printf(&t, "the memory plan needs %zu bytes (%.1f MiB) but %s has %zu bytes "
                             "(%.1f MiB) free of %.1f MiB; ",
                         s.total_bytes, nst__mib(s.total_bytes), ctx->device_name, limit,
                         nst__mib(limit), nst__mib(total));
    nst__plan_consumers(plan, 3, &t);
    nst__text_printf(&t, ". To fit: lower the image size (activations and gradients grow with "
                         "the pixel count), or use fewer or shallower style/content layers");
    return NST__ERR(ctx, NST_ERR_BUDGET, "%s", msg);
}

/* ---- sizes ----------------------------------------------------------------------------------- */

static const char *skip_spaces(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads the unit at p (spaces, then "", "B", or a prefix K/M/G/T followed by "", "iB" or
 * "B") into *mult; false when it is not one. */
static bool parse_unit(const char *p, size_t *mult) {
    static const char prefixes[] = "kmgt";
    *mult = 1;
    p = skip_spaces(p);
    if (*p == '\0')
        return true;
    if (*p == 'b' || *p == 'B')
        return *skip_spaces(p + 1) == '\0';
    const char *pre = strchr(prefixes, tolower((unsigned char)*p));
    if (!pre)
        return false;
    p++;
    size_t base = 1024;
    if ((*p == 'i' || *p == 'I') && (p[1] == 'b' || p[1] == 'B')) {
        p += 2; /* KiB, MiB, ... */
    } else if (*p == 'b' || *p == 'B') {
        base = 1000; /* kB, MB, ... (SI) */
        p++;
    }
    for (const char *q = prefixes; q <= pre; q++)
        *mult *= base;
    return *skip_spaces(p) == '\0';
}

nst_status nst_parse_bytes(nst_ctx *ctx, const char *text, size_t *out) {
    static const char *hint = "expected a size such as 4G, 512M, 3.5GiB, 4GB or 1000000";
    if (!text || !out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "size: NULL argument");
    const char *p = skip_spaces(text);
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "size '%s': %s", text, hint);
    size_t whole = 0;
    bool whole_overflow = false;
    for (; isdigit((unsigned char)*p); p++) {
        size_t d = (size_t)(*p - '0');
        if (whole > (SIZE_MAX - d) / 10)
            whole_overflow = true;
        else
            whole = whole * 10 + d;
    }
    long double frac = 0.0L, scale = 0.1L;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
            frac += (long double)(*p - '0') * scale;
    size_t mult = 1;
    if (!parse_unit(p, &mult))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "size '%s': unknown unit '%s'; %s", text,
                        skip_spaces(p), hint);
    /* frac < 1, so the fractional bytes are below mult (at most 2^40) */
    size_t fbytes = (size_t)(frac * (long double)mult + 0.5L);
    if (whole_overflow || whole > SIZE_MAX / mult || fbytes > SIZE_MAX - whole * mult)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE, "size '%s' is larger than %zu bytes", text,
                        (size_t)SIZE_MAX);
    *out = whole * mult + fbytes;
    return NST_OK;
}
