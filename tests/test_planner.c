/* The memory planner (src/host/planner.c): random request sets (200 sets of 1..60 buffers over
 * four seeds, random sizes including zero, alignments in {1, 16, 256, 4096}, random lifetimes
 * recorded both as spans and as scattered uses) checked for no overlap between buffers live at
 * the same step, alignment, the lower bound and per-tag figures against an independent
 * step-by-step count, total >= bound and total <= the sum of sizes plus alignment padding, and
 * determinism; hand-made cases with known optima (disjoint lifetimes share, all overlapping, an
 * activation chain, best fit picking the smaller gap, alignment slack); recording errors. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/memory.h"
#include "test_support.h"

typedef struct {
    nst_mem_tag tag;
    size_t bytes, align;
    int first, last;
} req;

static const size_t aligns[4] = {1, 16, 256, 4096};

/* A random request set of n buffers; every buffer gets at least one use. */
static void random_reqs(nst_test_rng *r, req *q, int n) {
    for (int i = 0; i < n; i++) {
        uint64_t kind = nst_test_rng_next(r) % 10;
        q[i].tag = (nst_mem_tag)(nst_test_rng_next(r) % NST_TAG_COUNT);
        q[i].bytes = kind == 0   ? 0 /* zero-byte buffers occupy nothing */
                     : kind < 3 ? 1 + nst_test_rng_next(r) % 64
                                : 1 + nst_test_rng_next(r) % (1u << 16);
        q[i].align = aligns[nst_test_rng_next(r) % 4];
        q[i].first = (int)(nst_test_rng_next(r) % 30);
        q[i].last = q[i].first + (int)(nst_test_rng_next(r) % 16);
    }
}

/* Records q into a new plan: even ids as spans, odd ids as request + scattered uses in random
 * order (first and last among them) so both recording paths are exercised. */
static nst_plan *record(const req *q, int n, uint64_t seed) {
    nst_test_rng r = nst_test_rng_seed(seed);
    nst_plan *p = nst_plan_create();
    cr_assert_not_null(p);
    for (int i = 0; i < n; i++) {
        char label[32];
        snprintf(label, sizeof label, "buf%d", i);
        int id;
        if (i % 2 == 0) {
            id = nst_plan_request_span(p, q[i].tag, q[i].bytes, q[i].align, label, q[i].first,
                                       q[i].last);
        } else {
            id = nst_plan_request(p, q[i].tag, q[i].bytes, q[i].align, label);
            int extra = (int)(nst_test_rng_next(&r) % 4);
            for (int k = 0; k < extra; k++)
                nst_plan_use(p, id, q[i].first + (int)(nst_test_rng_next(&r) %
                                                       (uint64_t)(q[i].last - q[i].first + 1)));
            nst_plan_use(p, id, q[i].last);
            nst_plan_use(p, id, q[i].first);
        }
        cr_assert_eq(id, i);
    }
    return p;
}

static bool live_at(const req *b, int step) { return b->first <= step && step <= b->last; }

/* Every property of a solved plan against the requests, computed independently. */
static void check_plan(const req *q, int n, const nst_plan *p, double *overhead) {
    nst_plan_summary s = nst_plan_get_summary(p);
    cr_assert(s.solved);
    cr_assert_eq(s.n_buffers, n);
    size_t sum = 0, pad = 0, span = 0, max_align = 1;
    int lo = INT32_MAX, hi = -1;
    for (int i = 0; i < n; i++) {
        const nst_plan_buffer *b = nst_plan_get(p, i);
        cr_assert_eq(b->first, q[i].first, "buffer %d first", i);
        cr_assert_eq(b->last, q[i].last, "buffer %d last", i);
        cr_assert_eq(b->bytes, q[i].bytes);
        cr_assert_eq(b->offset % q[i].align, 0, "buffer %d offset %zu not aligned to %zu", i,
                     b->offset, q[i].align); /* (b) */
        sum += q[i].bytes;
        if (q[i].bytes) {
            pad += q[i].align - 1;
            if (b->offset + b->bytes > span)
                span = b->offset + b->bytes;
            if (q[i].align > max_align)
                max_align = q[i].align;
        }
        lo = q[i].first < lo ? q[i].first : lo;
        hi = q[i].last > hi ? q[i].last : hi;
        for (int j = 0; j < i; j++) { /* (a) */
            const nst_plan_buffer *c = nst_plan_get(p, j);
            if (!b->bytes || !c->bytes || q[i].first > q[j].last || q[j].first > q[i].last)
                continue;
            cr_assert(b->offset + b->bytes <= c->offset || c->offset + c->bytes <= b->offset,
                      "buffers %d [%zu,+%zu) and %d [%zu,+%zu) are live together and overlap", i,
                      b->offset, b->bytes, j, c->offset, c->bytes);
        }
    }
    /* (c) the bound and per-tag figures, step by step */
    size_t bound = 0, tag_peak[NST_TAG_COUNT] = {0}, tag_at[NST_TAG_COUNT] = {0};
    int peak_step = 0;
    for (int step = lo; step <= hi; step++) {
        size_t live = 0, by_tag[NST_TAG_COUNT] = {0};
        for (int i = 0; i < n; i++)
            if (live_at(&q[i], step)) {
                live += q[i].bytes;
                by_tag[q[i].tag] += q[i].bytes;
            }
        for (int t = 0; t < NST_TAG_COUNT; t++)
            tag_peak[t] = by_tag[t] > tag_peak[t] ? by_tag[t] : tag_peak[t];
        if (live > bound) {
            bound = live;
            peak_step = step;
            memcpy(tag_at, by_tag, sizeof by_tag);
        }
    }
    cr_assert_eq(s.lower_bound, bound);
    cr_assert_eq(s.peak_step, peak_step);
    for (int t = 0; t < NST_TAG_COUNT; t++) {
        cr_assert_eq(s.tag_peak[t], tag_peak[t], "tag %s peak", nst_mem_tag_name(t));
        cr_assert_eq(s.tag_at_peak[t], tag_at[t], "tag %s at peak", nst_mem_tag_name(t));
    }
    /* (d) */
    cr_assert_eq(s.sum_bytes, sum);
    cr_assert_eq(s.span_bytes, span);
    cr_assert_eq(s.max_align, max_align);
    cr_assert_eq(s.base_slack, span && max_align > NST_PLAN_BASE_ALIGN
                                   ? max_align - NST_PLAN_BASE_ALIGN : 0);
    cr_assert_eq(s.total_bytes, s.span_bytes + s.base_slack);
    cr_assert_geq(s.span_bytes, bound);
    cr_assert_leq(s.span_bytes, sum + pad);
    if (overhead && bound)
        *overhead += (double)s.span_bytes / (double)bound - 1.0;
}

static void random_sets(uint64_t seed, int n_sets) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(seed);
    req q[60];
    double overhead = 0;
    int total_buffers = 0;
    for (int set = 0; set < n_sets; set++) {
        int n = 1 + (int)(nst_test_rng_next(&r) % 60);
        total_buffers += n;
        random_reqs(&r, q, n);
        nst_plan *p = record(q, n, seed * 1000 + (uint64_t)set);
        cr_assert_eq(nst_plan_solve(ctx, p), NST_OK, "%s", nst_last_error(ctx));
        check_plan(q, n, p, &overhead);
        /* deterministic: the same requests give the same offsets, and solving again changes
         * nothing */
        nst_plan *p2 = record(q, n, seed * 1000 + (uint64_t)set);
        cr_assert_eq(nst_plan_solve(ctx, p2), NST_OK);
        cr_assert_eq(nst_plan_solve(ctx, p), NST_OK);
        for (int i = 0; i < n; i++)
            cr_assert_eq(nst_plan_get(p, i)->offset, nst_plan_get(p2, i)->offset);
        nst_plan_destroy(p);
        nst_plan_destroy(p2);
    }
    cr_log_info("seed %llu: %d buffers in %d sets, mean span/bound - 1 = %.2f%%",
                (unsigned long long)seed, total_buffers, n_sets, 100.0 * overhead / n_sets);
    nst_ctx_destroy(ctx);
}

Test(planner, random_sets_seed1) { random_sets(1, 50); }
Test(planner, random_sets_seed2) { random_sets(2, 50); }
Test(planner, random_sets_seed3) { random_sets(3, 50); }
Test(planner, random_sets_seed4) { random_sets(4, 50); }

/* Solves q (align 1 unless given) and returns the plan; the caller destroys it. */
static nst_plan *solve_reqs(nst_ctx *ctx, const req *q, int n) {
    nst_plan *p = nst_plan_create();
    for (int i = 0; i < n; i++)
        nst_plan_request_span(p, q[i].tag, q[i].bytes, q[i].align ? q[i].align : 1, "x",
                              q[i].first, q[i].last);
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK, "%s", nst_last_error(ctx));
    check_plan(q, n, p, NULL);
    return p;
}

Test(planner, disjoint_lifetimes_share) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    req q[3] = {{NST_TAG_ACTIVATIONS, 100, 1, 0, 0},
                {NST_TAG_GRADIENTS, 300, 1, 1, 1},
                {NST_TAG_WORKSPACE, 200, 1, 2, 2}};
    nst_plan *p = solve_reqs(ctx, q, 3);
    nst_plan_summary s = nst_plan_get_summary(p);
    cr_assert_eq(s.total_bytes, 300); /* all three at offset 0 */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nst_plan_get(p, i)->offset, 0);
    cr_assert_eq(s.lower_bound, 300);
    cr_assert_eq(s.peak_step, 1);
    cr_assert_eq(s.sum_bytes, 600);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

Test(planner, all_overlapping_take_the_sum) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    req q[4] = {{NST_TAG_WEIGHTS, 10, 1, 0, 9},
                {NST_TAG_ACTIVATIONS, 70, 1, 3, 5},
                {NST_TAG_GRADIENTS, 30, 1, 5, 8},
                {NST_TAG_OTHER, 5, 1, 0, 5}};
    nst_plan *p = solve_reqs(ctx, q, 4);
    nst_plan_summary s = nst_plan_get_summary(p);
    cr_assert_eq(s.total_bytes, 115); /* all four are live at step 5 */
    cr_assert_eq(s.lower_bound, 115);
    cr_assert_eq(s.peak_step, 5);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

/* x0 -> x1 -> x2 -> x3 -> x4: op i reads x_i and writes x_{i+1}, so x_i lives over steps
 * [i, i+1]. Sizes 4, 8, 2, 6, 4: at most two are live at once, the largest pair is 12, and that
 * is the optimum (x0, x2 and x4 can sit above x1 and x3). */
Test(planner, activation_chain_reaches_the_optimum) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const size_t sizes[5] = {4096, 8192, 2048, 6144, 4096};
    req q[5];
    for (int i = 0; i < 5; i++)
        q[i] = (req){NST_TAG_ACTIVATIONS, sizes[i], 1, i, i + 1};
    nst_plan *p = solve_reqs(ctx, q, 5);
    cr_assert_eq(nst_plan_get_summary(p).lower_bound, 12288);
    cr_assert_eq(nst_plan_get_summary(p).total_bytes, 12288);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

/* At step 0, P1 [0,200), P2 [500,650) and P3 [700,1000) are live (the spacers X and Y, live at
 * other steps, push P2 and P3 up). R (50 bytes, step 0) fits both the 300-byte gap at 200 and the
 * 50-byte gap at 650: best fit takes 650 (first fit would take 200). */
Test(planner, best_fit_takes_the_smallest_gap) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    req q[6] = {{NST_TAG_OTHER, 700, 1, 2, 2},       /* Y  -> 0 */
                {NST_TAG_OTHER, 500, 1, 1, 1},       /* X  -> 0 */
                {NST_TAG_ACTIVATIONS, 300, 1, 0, 2}, /* P3 -> 700 */
                {NST_TAG_ACTIVATIONS, 200, 1, 0, 0}, /* P1 -> 0 */
                {NST_TAG_ACTIVATIONS, 150, 1, 0, 1}, /* P2 -> 500 */
                {NST_TAG_ACTIVATIONS, 50, 1, 0, 0}}; /* R  -> 650 */
    const size_t expect[6] = {0, 0, 700, 0, 500, 650};
    nst_plan *p = solve_reqs(ctx, q, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(nst_plan_get(p, i)->offset, expect[i], "buffer %d at %zu, expected %zu", i,
                     nst_plan_get(p, i)->offset, expect[i]);
    cr_assert_eq(nst_plan_get_summary(p).total_bytes, 1000);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

/* A 100-byte buffer (align 1) placed first pushes an overlapping 10-byte buffer aligned to 4096
 * to offset 4096; the arena then needs 4096 - 64 bytes more to align its base. */
Test(planner, alignment_padding_and_base_slack) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    req q[2] = {{NST_TAG_ACTIVATIONS, 100, 1, 0, 1}, {NST_TAG_WORKSPACE, 10, 4096, 1, 1}};
    nst_plan *p = solve_reqs(ctx, q, 2);
    nst_plan_summary s = nst_plan_get_summary(p);
    cr_assert_eq(nst_plan_get(p, 1)->offset, 4096);
    cr_assert_eq(s.span_bytes, 4106);
    cr_assert_eq(s.base_slack, 4096 - NST_PLAN_BASE_ALIGN);
    cr_assert_eq(s.total_bytes, 4106 + 4096 - NST_PLAN_BASE_ALIGN);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

Test(planner, step_counter_and_default_alignment) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_plan *p = nst_plan_create();
    int a = nst_plan_request(p, NST_TAG_ACTIVATIONS, 1000, 0, "a");
    int b = nst_plan_request(p, NST_TAG_ACTIVATIONS, 1000, 0, "b");
    int c = nst_plan_request(p, NST_TAG_ACTIVATIONS, 1000, 0, "c");
    cr_assert_eq(nst_plan_step(p), 0);
    nst_plan_touch(p, a); /* step 0: writes a */
    cr_assert_eq(nst_plan_next_step(p), 1);
    nst_plan_touch(p, a); /* step 1: a -> b */
    nst_plan_touch(p, b);
    nst_plan_next_step(p);
    nst_plan_touch(p, b); /* step 2: b -> c */
    nst_plan_touch(p, c);
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_plan_get(p, a)->align, NST_PLAN_ALIGN_DEFAULT);
    cr_assert_eq(nst_plan_get(p, c)->first, 2);
    /* a and c share; b goes next to them at 1024 (1000 rounded up to 256) */
    cr_assert_eq(nst_plan_get(p, a)->offset, nst_plan_get(p, c)->offset);
    cr_assert_eq(nst_plan_get_summary(p).total_bytes, 2024 + NST_PLAN_ALIGN_DEFAULT -
                                                          NST_PLAN_BASE_ALIGN);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

Test(planner, empty_and_zero_byte_plans) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_plan *p = nst_plan_create();
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK);
    cr_assert_eq(nst_plan_get_summary(p).total_bytes, 0);
    nst_plan_request_span(p, NST_TAG_OTHER, 0, 4096, "empty", 3, 7);
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK);
    nst_plan_summary s = nst_plan_get_summary(p);
    cr_assert_eq(s.total_bytes, 0);
    cr_assert_eq(s.lower_bound, 0);
    cr_assert_eq(s.peak_step, 0);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

Test(planner, recording_errors_reach_solve) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    struct {
        const char *what;
        nst_status status;
    } cases[] = {{"never used", NST_ERR_INVALID_ARG},
                 {"not a power of two", NST_ERR_INVALID_ARG},
                 {"negative step", NST_ERR_INVALID_ARG},
                 {"unknown buffer id", NST_ERR_INVALID_ARG},
                 {"unknown memory tag", NST_ERR_INVALID_ARG},
                 {"more than SIZE_MAX", NST_ERR_TOO_LARGE}};
    for (int k = 0; k < 6; k++) {
        nst_plan *p = nst_plan_create();
        int ok = nst_plan_request_span(p, NST_TAG_OTHER, 8, 8, "fine", 0, 1);
        cr_assert_eq(ok, 0);
        switch (k) {
        case 0:
            nst_plan_request(p, NST_TAG_ACTIVATIONS, 64, 16, "orphan");
            break;
        case 1:
            cr_assert_eq(nst_plan_request(p, NST_TAG_ACTIVATIONS, 64, 24, "odd"), -1);
            break;
        case 2:
            nst_plan_use(p, ok, -3);
            break;
        case 3:
            nst_plan_use(p, 7, 1);
            break;
        case 4:
            cr_assert_eq(nst_plan_request(p, (nst_mem_tag)99, 64, 16, "bad"), -1);
            break;
        case 5:
            nst_plan_request_span(p, NST_TAG_ACTIVATIONS, SIZE_MAX - 4, 1, "huge", 0, 0);
            break;
        }
        nst_status st = nst_plan_solve(ctx, p);
        cr_assert_eq(st, cases[k].status, "case %d: %s", k, nst_status_name(st));
        cr_assert(strstr(nst_last_error(ctx), cases[k].what), "case %d: message '%s'", k,
                  nst_last_error(ctx));
        cr_assert(!nst_plan_get_summary(p).solved);
        if (k == 0)
            cr_assert(strstr(nst_last_error(ctx), "orphan"), "names the buffer");
        nst_plan_destroy(p);
    }
    nst_ctx_destroy(ctx);
}

Test(planner, report_lists_every_buffer) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_plan *p = nst_plan_create();
    nst_plan_request_span(p, NST_TAG_WEIGHTS, 3 << 20, 256, "features.0.weight", 0, 4);
    nst_plan_request_span(p, NST_TAG_ACTIVATIONS, 5 << 20, 256, "relu1_1 out", 1, 2);
    nst_plan_request_span(p, NST_TAG_WORKSPACE, 1 << 20, 256, "conv workspace", 3, 3);
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK);
    size_t need = nst_plan_report_text(p, NULL, 0);
    char *text = malloc(need + 1);
    cr_assert_eq(nst_plan_report_text(p, text, need + 1), need);
    cr_assert_eq(strlen(text), need);
    char expect[128];
    snprintf(expect, sizeof expect, "arena %zu bytes", nst_plan_get_summary(p).total_bytes);
    cr_assert(strstr(text, expect), "'%s' missing in:\n%s", expect, text);
    cr_assert(strstr(text, "features.0.weight") && strstr(text, "relu1_1 out") &&
              strstr(text, "conv workspace"));
    /* largest first: relu1_1 out is listed before features.0.weight */
    cr_assert_lt(strstr(text, "relu1_1 out"), strstr(text, "features.0.weight"));
    /* a short buffer gets a cut, terminated prefix and the same length back */
    char small[40];
    cr_assert_eq(nst_plan_report_text(p, small, sizeof small), need);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(strncmp(small, text, sizeof small - 1), 0);
    free(text);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}
