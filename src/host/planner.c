/* The memory planner: records buffer requests (tag, bytes, alignment, label, first and last use
 * as inclusive step indices) and places them so buffers with disjoint lifetimes share space.
 *
 * Placement is greedy by size with best fit, as TensorFlow Lite's arena planner does (see
 * include/nstyle/memory.h): largest buffer first (ties: earlier first use, then lower id); each
 * goes into the smallest gap between already-placed buffers whose lifetimes overlap its own that
 * holds it at its alignment, else above the highest of them. A sweep over the steps gives the
 * lower bound (most bytes live at once) and the per-tag figures.
 *
 * Tested by tests/test_planner.c (random request sets checked for overlap, alignment, bounds and
 * per-tag figures against an independent sweep, plus hand-made cases with known optima). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

struct nst_plan {
    nst_plan_buffer *bufs; /* [n], labels owned (malloc'd) */
    int n, cap;
    int step;              /* the recording step counter */
    nst_status err;        /* first recording failure, NST_OK when none */
    char err_msg[256];
    nst_plan_summary summary;
};

/* ---- recording ------------------------------------------------------------------------------- */

static void record_error(nst_plan *p, nst_status s, const char *fmt, ...) NST__PRINTF(3, 4);
static void record_error(nst_plan *p, nst_status s, const char *fmt, ...) {
    if (p->err != NST_OK)
        return; /* keep the first: later ones are often its consequences */
    p->err = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err_msg, sizeof p->err_msg, fmt, ap);
    va_end(ap);
}

nst_plan *nst_plan_create(void) { return calloc(1, sizeof(nst_plan)); }

void nst_plan_destroy(nst_plan *plan) {
    if (!plan)
        return;
    for (int i = 0; i < plan->n; i++)
        free((char *)plan->bufs[i].label); /* allocated by nst_plan_request() */
    free(plan->bufs);
    free(plan);
}

int nst_plan_request(nst_plan *plan, nst_mem_tag tag, size_t bytes, size_t align,
                     const char *label) {
    if (!plan)
        return -1;
    plan->summary.solved = false;
    if (!label)
        label = "";
    if ((unsigned)tag >= NST_TAG_COUNT) {
        record_error(plan, NST_ERR_INVALID_ARG, "buffer '%s': unknown memory tag %d", label,
                     (int)tag);
        return -1;
    }
    if (align == 0)
        align = NST_PLAN_ALIGN_DEFAULT;
    if ((align & (align - 1)) != 0) {
        record_error(plan, NST_ERR_INVALID_ARG,
                     "buffer '%s': alignment %zu is not a power of two", label, align);
        return -1;
    }
    if (plan->n == INT32_MAX) {
        record_error(plan, NST_ERR_TOO_LARGE, "more than %d buffers", INT32_MAX);
        return -1;
    }
    if (plan->n == plan->cap) {
        int cap = plan->cap ? (plan->cap > INT32_MAX / 2 ? INT32_MAX : 2 * plan->cap) : 64;
        nst_plan_buffer *b = realloc(plan->bufs, (size_t)cap * sizeof *b);
        if (!b) {
            record_error(plan, NST_ERR_NO_MEMORY, "no host memory for %d buffer records", cap);
            return -1;
        }
        plan->bufs = b;
        plan->cap = cap;
    }
    size_t len = strlen(label);
    char *copy = malloc(len + 1);
    if (!copy) {
        record_error(plan, NST_ERR_NO_MEMORY, "no host memory for the label '%s'", label);
        return -1;
    }
    memcpy(copy, label, len + 1);
    plan->bufs[plan->n] = (nst_plan_buffer){
        .label = copy, .tag = tag, .bytes = bytes, .align = align,
        .first = INT32_MAX, .last = -1, .offset = 0,
    };
    return plan->n++;
}

int nst_plan_request_span(nst_plan *plan, nst_mem_tag tag, size_t bytes, size_t align,
                          const char *label, int first, int last) {
    int id = nst_plan_request(plan, tag, bytes, align, label);
    if (id >= 0) {
        nst_plan_use(plan, id, first);
        nst_plan_use(plan, id, last);
    }
    return id;
}

void nst__plan_set_bytes(nst_plan *plan, int id, size_t bytes) {
    if (plan && id >= 0 && id < plan->n) {
        plan->bufs[id].bytes = bytes;
        plan->summary.solved = false;
    }
}

void nst_plan_use(nst_plan *plan, int id, int step) {
    if (!plan)
        return;
    plan->summary.solved = false;
    if (id < 0 || id >= plan->n) {
        record_error(plan, NST_ERR_INVALID_ARG, "use of unknown buffer id %d (%d recorded)", id,
                     plan->n);
        return;
    }
    nst_plan_buffer *b = &plan->bufs[id];
    if (step < 0) {
        record_error(plan, NST_ERR_INVALID_ARG, "buffer '%s': negative step %d", b->label, step);
        return;
    }
    if (step < b->first)
        b->first = step;
    if (step > b->last)
        b->last = step;
}

int nst_plan_step(const nst_plan *plan) { return plan ? plan->step : 0; }

int nst_plan_next_step(nst_plan *plan) {
    if (!plan)
        return 0;
    if (plan->step == INT32_MAX)
        record_error(plan, NST_ERR_TOO_LARGE, "step counter past %d", INT32_MAX);
    else
        plan->step++;
    return plan->step;
}

void nst_plan_touch(nst_plan *plan, int id) { nst_plan_use(plan, id, nst_plan_step(plan)); }

int nst_plan_count(const nst_plan *plan) { return plan ? plan->n : 0; }

const nst_plan_buffer *nst_plan_get(const nst_plan *plan, int id) {
    return plan && id >= 0 && id < plan->n ? &plan->bufs[id] : NULL;
}

void nst__plan_set_scales(nst_plan *plan, int n, const int *width, const int *height,
                          const size_t *total_bytes) {
    nst_plan_summary *s = &plan->summary;
    s->scales = n < NST_PLAN_MAX_SCALES ? n : NST_PLAN_MAX_SCALES;
    for (int k = 0; k < s->scales; k++) {
        s->scale_width[k] = width[k];
        s->scale_height[k] = height[k];
        s->scale_total_bytes[k] = total_bytes[k];
    }
}

nst_plan_summary nst_plan_get_summary(const nst_plan *plan) {
    nst_plan_summary s;
    if (plan)
        return plan->summary;
    memset(&s, 0, sizeof s);
    return s;
}

/* ---- lower bound and per-tag figures: a sweep over lifetime events --------------------------- */

typedef struct {
    int64_t pos; /* the step at which the change applies: first, or last + 1 for a removal */
    int id;
    int add;     /* 1 = becomes live, 0 = stops being live */
} sweep_event;

static int cmp_event(const void *a, const void *b) {
    const sweep_event *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return x->id - y->id; /* any fixed order: a step's figures are read after all its events */
}

/* Fills lower_bound, peak_step, tag_peak and tag_at_peak. Sums cannot overflow: the caller
 * checked that the sum of all sizes fits. */
static nst_status sweep(nst_ctx *ctx, nst_plan *p) {
    nst_plan_summary *s = &p->summary;
    if (p->n == 0)
        return NST_OK;
    sweep_event *ev = malloc(2 * (size_t)p->n * sizeof *ev);
    if (!ev)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "memory plan: no host memory for %d events",
                        2 * p->n);
    for (int i = 0; i < p->n; i++) {
        ev[2 * i] = (sweep_event){p->bufs[i].first, i, 1};
        ev[2 * i + 1] = (sweep_event){(int64_t)p->bufs[i].last + 1, i, 0};
    }
    qsort(ev, 2 * (size_t)p->n, sizeof *ev, cmp_event);
    size_t live = 0, live_tag[NST_TAG_COUNT] = {0};
    for (size_t k = 0; k < 2 * (size_t)p->n;) {
        int64_t pos = ev[k].pos;
        for (; k < 2 * (size_t)p->n && ev[k].pos == pos; k++) {
            const nst_plan_buffer *b = &p->bufs[ev[k].id];
            if (ev[k].add) {
                live += b->bytes;
                live_tag[b->tag] += b->bytes;
            } else {
                live -= b->bytes;
                live_tag[b->tag] -= b->bytes;
            }
        }
        /* live and live_tag now hold for every step in [pos, next event's pos) */
        for (int t = 0; t < NST_TAG_COUNT; t++)
            if (live_tag[t] > s->tag_peak[t])
                s->tag_peak[t] = live_tag[t];
        if (live > s->lower_bound) {
            s->lower_bound = live;
            s->peak_step = (int)pos;
            memcpy(s->tag_at_peak, live_tag, sizeof live_tag);
        }
    }
    free(ev);
    return NST_OK;
}

/* ---- placement ------------------------------------------------------------------------------- */

static bool lifetimes_overlap(const nst_plan_buffer *a, const nst_plan_buffer *b) {
    return a->first <= b->last && b->first <= a->last;
}

/* The placement order: largest first, then earlier first use, then lower id. */
typedef struct {
    size_t bytes;
    int first;
    int id;
} order_key;

static int cmp_order(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Rounds v up to a multiple of align (a power of two); false on overflow. */
static bool align_up(size_t v, size_t align, size_t *out) {
    if (v > SIZE_MAX - (align - 1))
        return false;
    *out = (v + align - 1) & ~(align - 1);
    return true;
}

/* Best-fit offset for b among the placed buffers (placed[0, n_placed), sorted by offset). */
static nst_status best_fit(nst_ctx *ctx, const nst_plan *p, const int *placed, int n_placed,
                           const nst_plan_buffer *b, size_t *offset) {
    size_t prev_end = 0, best_gap = SIZE_MAX, best = 0, cand;
    bool found = false;
    for (int k = 0; k < n_placed; k++) {
        const nst_plan_buffer *x = &p->bufs[placed[k]];
        if (!lifetimes_overlap(b, x))
            continue;
        if (x->offset > prev_end && align_up(prev_end, b->align, &cand) && cand <= x->offset &&
            x->offset - cand >= b->bytes && x->offset - prev_end < best_gap) {
            best_gap = x->offset - prev_end;
            best = cand;
            found = true;
        }
        if (x->offset + x->bytes > prev_end) /* placed ends were checked against overflow */
            prev_end = x->offset + x->bytes;
    }
    if (!found) {
        if (!align_up(prev_end, b->align, &best) || best > SIZE_MAX - b->bytes)
            return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                            "memory plan: buffer '%s' (%zu bytes) does not fit below SIZE_MAX",
                            b->label, b->bytes);
    }
    *offset = best;
    return NST_OK;
}

/* Inserts id into placed[] (sorted by offset, then id) after its offset was set. */
static void insert_placed(const nst_plan *p, int *placed, int *n_placed, int id) {
    int k = *n_placed;
    size_t off = p->bufs[id].offset;
    while (k > 0 && (p->bufs[placed[k - 1]].offset > off ||
                     (p->bufs[placed[k - 1]].offset == off && placed[k - 1] > id))) {
        placed[k] = placed[k - 1];
        k--;
    }
    placed[k] = id;
    (*n_placed)++;
}

static nst_status place(nst_ctx *ctx, nst_plan *p) {
    order_key *order = malloc((size_t)p->n * sizeof *order);
    int *placed = malloc((size_t)p->n * sizeof *placed);
    nst_status s = NST_OK;
    if (!order || !placed) {
        s = NST__ERR(ctx, NST_ERR_NO_MEMORY, "memory plan: no host memory to place %d buffers",
                     p->n);
        goto done;
    }
    for (int i = 0; i < p->n; i++)
        order[i] = (order_key){p->bufs[i].bytes, p->bufs[i].first, i};
    qsort(order, (size_t)p->n, sizeof *order, cmp_order);
    int n_placed = 0;
    for (int k = 0; k < p->n; k++) {
        nst_plan_buffer *b = &p->bufs[order[k].id];
        b->offset = 0;
        if (b->bytes == 0)
            continue; /* occupies nothing, overlaps nothing */
        s = best_fit(ctx, p, placed, n_placed, b, &b->offset);
        if (s != NST_OK)
            goto done;
        insert_placed(p, placed, &n_placed, order[k].id);
    }
done:
    free(order);
    free(placed);
    return s;
}

/* ---- solve ----------------------------------------------------------------------------------- */

static nst_status check_records(nst_ctx *ctx, const nst_plan *p, size_t *sum) {
    if (p->err != NST_OK)
        return NST__ERR(ctx, p->err, "memory plan: %s", p->err_msg);
    *sum = 0;
    for (int i = 0; i < p->n; i++) {
        const nst_plan_buffer *b = &p->bufs[i];
        if (b->first > b->last)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                            "memory plan: buffer %d '%s' (%s, %zu bytes) was requested but never "
                            "used, so it has no lifetime",
                            i, b->label, nst_mem_tag_name(b->tag), b->bytes);
        if (b->bytes > SIZE_MAX - *sum)
            return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                            "memory plan: the requests add up to more than SIZE_MAX bytes "
                            "(buffer %d '%s' has %zu)",
                            i, b->label, b->bytes);
        *sum += b->bytes;
    }
    return NST_OK;
}

nst_status nst_plan_solve(nst_ctx *ctx, nst_plan *plan) {
    if (!plan)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "memory plan: NULL plan");
    nst_plan_summary *s = &plan->summary;
    memset(s, 0, sizeof *s);
    s->max_align = 1;
    s->n_buffers = plan->n;
    NST__TRY(check_records(ctx, plan, &s->sum_bytes));
    NST__TRY(sweep(ctx, plan));
    NST__TRY(place(ctx, plan));
    for (int i = 0; i < plan->n; i++) {
        const nst_plan_buffer *b = &plan->bufs[i];
        if (b->bytes == 0)
            continue;
        if (b->offset + b->bytes > s->span_bytes)
            s->span_bytes = b->offset + b->bytes;
        if (b->align > s->max_align)
            s->max_align = b->align;
    }
    if (s->span_bytes > 0 && s->max_align > NST_PLAN_BASE_ALIGN)
        s->base_slack = s->max_align - NST_PLAN_BASE_ALIGN;
    if (s->span_bytes > SIZE_MAX - s->base_slack)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE, "memory plan: arena size overflows size_t");
    s->total_bytes = s->span_bytes + s->base_slack;
    if (s->lower_bound == 0)
        s->peak_step = 0;
    s->solved = true;
    return NST_OK;
}
