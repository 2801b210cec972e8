/* The arena (src/host/arena.c) on random solved plans: one allocation of exactly the plan's
 * total (the tracker's peak equals it, split by tag as the plan's peak step has it, the rest
 * under "arena slack"), every buffer pointer inside that allocation and aligned, and a distinct
 * pattern written into each buffer at its first use and read back intact at its last use, over
 * every step, which proves that no two live buffers share bytes. The same runs on CUDA when a GPU
 * is present (skipped otherwise). Failure: an absurd plan (2^62 bytes) is refused with the bytes,
 * the free memory and the biggest consumer named, and nothing stays allocated. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/core.h"
#include "nstyle/memory.h"
#include "test_support.h"

static const size_t aligns[4] = {1, 16, 256, 4096};

static nst_plan *random_plan(nst_ctx *ctx, uint64_t seed, int n) {
    nst_test_rng r = nst_test_rng_seed(seed);
    nst_plan *p = nst_plan_create();
    for (int i = 0; i < n; i++) {
        char label[32];
        snprintf(label, sizeof label, "b%d", i);
        uint64_t kind = nst_test_rng_next(&r) % 10;
        size_t bytes = kind == 0 ? 0 : 1 + nst_test_rng_next(&r) % (1u << 16);
        int first = (int)(nst_test_rng_next(&r) % 30);
        int last = first + (int)(nst_test_rng_next(&r) % 12);
        nst_plan_request_span(p, (nst_mem_tag)(nst_test_rng_next(&r) % NST_TAG_COUNT), bytes,
                              aligns[nst_test_rng_next(&r) % 4], label, first, last);
    }
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK, "%s", nst_last_error(ctx));
    return p;
}

static uint8_t pattern(int id, size_t k) {
    uint32_t h = (uint32_t)(id + 1) * 2654435761u ^ (uint32_t)k * 40503u;
    return (uint8_t)(h ^ (h >> 13) ^ (h >> 24));
}

/* Checks the arena's size, tracker accounting, pointer bounds and alignment, then simulates
 * the steps: write each buffer's pattern at its first use, compare it at its last use. Works on
 * any backend through the copy functions. */
static void check_arena(nst_ctx *ctx, const nst_plan *p) {
    nst_plan_summary s = nst_plan_get_summary(p);
    nst_tracker_snapshot before;
    nst_tracker_snapshot_get(ctx, &before);
    cr_assert_eq(before.current_total, 0);
    nst_arena *a = NULL;
    cr_assert_eq(nst_arena_create(ctx, p, &a), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_arena_size(a), s.total_bytes);

    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    cr_assert_eq(snap.peak_total, s.total_bytes, "tracker peak %zu, plan total %zu",
                 snap.peak_total, s.total_bytes);
    cr_assert_eq(snap.current_total, s.total_bytes);
    cr_assert_eq(snap.n_live, 1, "one allocation");
    size_t rows = snap.arena_slack_current;
    for (int t = 0; t < NST_TAG_COUNT; t++) {
        cr_assert_eq(snap.current[t], s.tag_at_peak[t], "tag %s", nst_mem_tag_name(t));
        rows += snap.current[t];
    }
    cr_assert_eq(snap.arena_slack_current, s.total_bytes - s.lower_bound);
    cr_assert_eq(rows, s.total_bytes, "rows add up to the allocation");

    /* the allocation as the tracker saw it */
    uintptr_t lo = (uintptr_t)ctx->tracker.live[0].ptr;
    uintptr_t hi = lo + ctx->tracker.live[0].bytes;
    cr_assert_eq(ctx->tracker.live[0].bytes, s.total_bytes);
    int n = nst_plan_count(p), last_step = 0;
    size_t biggest = 0;
    for (int i = 0; i < n; i++) {
        const nst_plan_buffer *b = nst_plan_get(p, i);
        uintptr_t q = (uintptr_t)nst_arena_ptr(a, i);
        last_step = b->last > last_step ? b->last : last_step;
        biggest = b->bytes > biggest ? b->bytes : biggest;
        if (b->bytes == 0) {
            cr_assert_eq(q, 0, "zero-byte buffer %d gets NULL", i);
            continue;
        }
        cr_assert(q >= lo && q + b->bytes <= hi, "buffer %d [%#lx,+%zu) outside [%#lx,%#lx)", i,
                  (unsigned long)q, b->bytes, (unsigned long)lo, (unsigned long)hi);
        cr_assert_eq(q % b->align, 0, "buffer %d at %#lx not aligned to %zu", i,
                     (unsigned long)q, b->align);
    }
    cr_assert_null(nst_arena_ptr(a, n));
    cr_assert_null(nst_arena_ptr(a, -1));

    uint8_t *host = malloc(biggest ? biggest : 1), *back = malloc(biggest ? biggest : 1);
    for (int step = 0; step <= last_step; step++) {
        for (int i = 0; i < n; i++) {
            const nst_plan_buffer *b = nst_plan_get(p, i);
            if (b->first != step || !b->bytes)
                continue;
            for (size_t k = 0; k < b->bytes; k++)
                host[k] = pattern(i, k);
            cr_assert_eq(nst_copy_to_device(ctx, nst_arena_ptr(a, i), host, b->bytes), NST_OK);
        }
        for (int i = 0; i < n; i++) {
            const nst_plan_buffer *b = nst_plan_get(p, i);
            if (b->last != step || !b->bytes)
                continue;
            cr_assert_eq(nst_copy_to_host(ctx, back, nst_arena_ptr(a, i), b->bytes), NST_OK);
            for (size_t k = 0; k < b->bytes; k++)
                cr_assert_eq(back[k], pattern(i, k),
                             "buffer %d byte %zu overwritten while live (steps %d..%d)", i, k,
                             b->first, b->last);
        }
    }
    free(host);
    free(back);

    nst_arena_destroy(ctx, a);
    nst_tracker_snapshot_get(ctx, &snap);
    cr_assert_eq(snap.current_total, 0);
    cr_assert_eq(snap.arena_slack_current, 0);
    for (int t = 0; t < NST_TAG_COUNT; t++)
        cr_assert_eq(snap.current[t], 0);
    cr_assert_eq(snap.peak_total, s.total_bytes, "the peak stays");
}

Test(arena, random_plans_on_cpu) {
    for (uint64_t seed = 1; seed <= 20; seed++) {
        nst_ctx *ctx = nst_test_bare_cpu_ctx(); /* fresh, so the tracker's peak is the arena's */
        nst_plan *p = random_plan(ctx, seed, 1 + (int)(seed * 7 % 60));
        check_arena(ctx, p);
        nst_plan_destroy(p);
        nst_ctx_destroy(ctx);
    }
}

Test(arena, random_plans_on_cuda) {
    nst_ctx_destroy(nst_test_cuda_ctx()); /* skips without a GPU */
    for (uint64_t seed = 1; seed <= 4; seed++) {
        nst_ctx *ctx = nst_test_cuda_ctx();
        nst_plan *p = random_plan(ctx, seed, 60);
        check_arena(ctx, p);
        nst_plan_destroy(p);
        nst_ctx_destroy(ctx);
    }
}

Test(arena, absurd_plan_is_refused_with_its_consumers) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_plan *p = nst_plan_create();
    nst_plan_request_span(p, NST_TAG_ACTIVATIONS, (size_t)1 << 62, 256, "giant activations", 0,
                          1);
    nst_plan_request_span(p, NST_TAG_WEIGHTS, 4096, 256, "small weights", 0, 1);
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK, "%s", nst_last_error(ctx));
    size_t total = nst_plan_get_summary(p).total_bytes;
    cr_assert_eq(total, ((size_t)1 << 62) + 4096 + 256 - NST_PLAN_BASE_ALIGN);

    nst_arena *a = (nst_arena *)p; /* anything non-NULL: must come back NULL */
    nst_status s = nst_arena_create(ctx, p, &a);
    cr_assert(s == NST_ERR_NO_MEMORY || s == NST_ERR_DEVICE_MEMORY || s == NST_ERR_BUDGET,
              "status %s", nst_status_name(s));
    cr_assert_null(a);
    const char *msg = nst_last_error(ctx);
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%zu bytes", total);
    cr_assert(strstr(msg, bytes), "message does not name the bytes asked for: %s", msg);
    cr_assert(strstr(msg, "free"), "message does not give the free memory: %s", msg);
    cr_assert(strstr(msg, "'giant activations' (activations)"),
              "message does not name the biggest consumer: %s", msg);
    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    cr_assert_eq(snap.current_total, 0, "nothing stays allocated");
    cr_assert_eq(snap.n_live, 0);

    /* the budget check refuses it before trying: free memory now, and an explicit limit */
    cr_assert_eq(nst_plan_check_budget(ctx, p, 0), NST_ERR_BUDGET);
    cr_assert(strstr(nst_last_error(ctx), "giant activations"));
    cr_assert_eq(nst_plan_check_budget(ctx, p, (size_t)4 << 30), NST_ERR_BUDGET);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

Test(arena, unsolved_and_empty_plans) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_plan *p = nst_plan_create();
    nst_plan_request_span(p, NST_TAG_OTHER, 64, 16, "x", 0, 0);
    nst_arena *a = NULL;
    cr_assert_eq(nst_arena_create(ctx, p, &a), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "solved"));
    cr_assert_null(a);
    nst_plan_destroy(p);

    p = nst_plan_create();
    nst_plan_request_span(p, NST_TAG_OTHER, 0, 16, "nothing", 0, 3);
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK);
    cr_assert_eq(nst_arena_create(ctx, p, &a), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_not_null(a);
    cr_assert_eq(nst_arena_size(a), 0);
    cr_assert_null(nst_arena_ptr(a, 0));
    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    cr_assert_eq(snap.n_live, 0, "an empty arena allocates nothing");
    nst_arena_destroy(ctx, a);
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}
