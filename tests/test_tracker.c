/* The memory tracker (src/host/tracker.c) and the budget check and size parser
 * (src/host/plan_report.c): random alloc/free sequences against an independent model of current
 * and peak bytes per tag; the text report has every tag's line with the right numbers and the
 * totals; the JSON report parses with the library's strict JSON parser and its numbers match;
 * the budget refusal names the largest consumer; nst_parse_bytes cases. On a GPU (skipped
 * otherwise): the device figures against cudaMemGetInfo, and the CUDA context's share stays put
 * when we allocate more. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/json.h"
#include "nstyle/memory.h"
#include "test_support.h"

#ifdef NST_HAVE_CUDA
#include "host/cuda/cuda_test_hooks.h" /* the CUDA module's own cudaMemGetInfo */
#endif

typedef struct {
    size_t current[NST_TAG_COUNT], peak[NST_TAG_COUNT], total, peak_total, n_live;
} model;

static void expect_model(nst_ctx *ctx, const model *m, int op) {
    nst_tracker_snapshot s;
    nst_tracker_snapshot_get(ctx, &s);
    for (int t = 0; t < NST_TAG_COUNT; t++) {
        cr_assert_eq(s.current[t], m->current[t], "op %d tag %s current", op,
                     nst_mem_tag_name(t));
        cr_assert_eq(s.peak[t], m->peak[t], "op %d tag %s peak", op, nst_mem_tag_name(t));
    }
    cr_assert_eq(s.current_total, m->total, "op %d total", op);
    cr_assert_eq(s.peak_total, m->peak_total, "op %d peak total", op);
    cr_assert_eq(s.n_live, m->n_live, "op %d live count", op);
    cr_assert_eq(s.arena_slack_current, 0);
}

Test(tracker, random_alloc_free_sequences) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
        nst_ctx *ctx = nst_test_bare_cpu_ctx();
        nst_test_rng r = nst_test_rng_seed(seed);
        model m;
        memset(&m, 0, sizeof m);
        void *ptrs[64];
        size_t sizes[64];
        nst_mem_tag tags[64];
        int n = 0;
        for (int op = 0; op < 600; op++) {
            bool alloc = n == 0 || (n < 64 && nst_test_rng_next(&r) % 10 < 6);
            if (alloc) {
                size_t bytes = nst_test_rng_next(&r) % 8 == 0 ? 0 : nst_test_rng_next(&r) % 8192;
                nst_mem_tag tag = (nst_mem_tag)(nst_test_rng_next(&r) % NST_TAG_COUNT);
                void *p = NULL;
                cr_assert_eq(nst_alloc(ctx, bytes, tag, &p), NST_OK, "%s", nst_last_error(ctx));
                if (bytes == 0) { /* NULL, not counted */
                    cr_assert_null(p);
                } else {
                    memset(p, 0xab, bytes); /* the memory is really there */
                    ptrs[n] = p, sizes[n] = bytes, tags[n] = tag, n++;
                    m.current[tag] += bytes;
                    m.total += bytes;
                    m.n_live++;
                }
            } else {
                int k = (int)(nst_test_rng_next(&r) % (uint64_t)n);
                nst_free(ctx, ptrs[k]);
                m.current[tags[k]] -= sizes[k];
                m.total -= sizes[k];
                m.n_live--;
                ptrs[k] = ptrs[n - 1], sizes[k] = sizes[n - 1], tags[k] = tags[n - 1], n--;
            }
            for (int t = 0; t < NST_TAG_COUNT; t++)
                m.peak[t] = m.current[t] > m.peak[t] ? m.current[t] : m.peak[t];
            m.peak_total = m.total > m.peak_total ? m.total : m.peak_total;
            expect_model(ctx, &m, op);
        }
        int stranger = 0;
        nst_free(ctx, NULL);      /* no-op */
        nst_free(ctx, &stranger); /* not ours: ignored, counts unchanged */
        expect_model(ctx, &m, -1);
        while (n > 0) {
            n--;
            nst_free(ctx, ptrs[n]);
            m.current[tags[n]] -= sizes[n];
            m.total -= sizes[n];
            m.n_live--;
        }
        expect_model(ctx, &m, -2);
        cr_assert_eq(m.total, 0);
        cr_assert_gt(m.peak_total, 0);
        nst_ctx_destroy(ctx);
    }
}

/* Allocates a known mix, frees part of it; returns the pointers still live in keep[3]. */
static void known_mix(nst_ctx *ctx, void *keep[3]) {
    void *tmp = NULL;
    cr_assert_eq(nst_alloc(ctx, 3000000, NST_TAG_WEIGHTS, &keep[0]), NST_OK);
    cr_assert_eq(nst_alloc(ctx, 5000000, NST_TAG_ACTIVATIONS, &tmp), NST_OK);
    nst_free(ctx, tmp); /* activations: peak 5000000, current 0 */
    cr_assert_eq(nst_alloc(ctx, 1234567, NST_TAG_ACTIVATIONS, &keep[1]), NST_OK);
    cr_assert_eq(nst_alloc(ctx, 777, NST_TAG_OPTIMISER, &keep[2]), NST_OK);
}

static const size_t mix_current[NST_TAG_COUNT] = {3000000, 1234567, 0, 0, 777, 0};
static const size_t mix_peak[NST_TAG_COUNT] = {3000000, 5000000, 0, 0, 777, 0};
#define MIX_TOTAL ((size_t)3000000 + 1234567 + 777)
#define MIX_PEAK_TOTAL ((size_t)3000000 + 5000000)

/* The line of text that starts with `name` followed by a space, or NULL. */
static const char *find_line(const char *text, const char *name) {
    size_t n = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, n) == 0 && l[n] == ' ')
            return l;
    return NULL;
}

static void expect_row(const char *text, const char *name, size_t current, size_t peak) {
    const char *l = find_line(text, name);
    cr_assert_not_null(l, "no line for %s in:\n%s", name, text);
    size_t c = 0, p = 0;
    double cm = 0, pm = 0;
    cr_assert_eq(sscanf(l + strlen(name), "%zu %lf %zu %lf", &c, &cm, &p, &pm), 4, "row %s", name);
    cr_assert_eq(c, current, "%s current", name);
    cr_assert_eq(p, peak, "%s peak", name);
    /* MiB columns are printed with one decimal: within 0.05 MiB */
    cr_assert(cm > current / 1048576.0 - 0.051 && cm < current / 1048576.0 + 0.051);
    cr_assert(pm > peak / 1048576.0 - 0.051 && pm < peak / 1048576.0 + 0.051);
}

Test(tracker, text_report) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    void *keep[3];
    known_mix(ctx, keep);
    size_t need = nst_tracker_report_text(ctx, NULL, 0);
    char *text = malloc(need + 1);
    cr_assert_eq(nst_tracker_report_text(ctx, text, need + 1), need);
    cr_assert_eq(strlen(text), need);
    for (int t = 0; t < NST_TAG_COUNT; t++)
        expect_row(text, nst_mem_tag_name(t), mix_current[t], mix_peak[t]);
    expect_row(text, "arena slack", 0, 0);
    expect_row(text, "total", MIX_TOTAL, MIX_PEAK_TOTAL);
    cr_assert(strstr(text, "live allocations: 3"));
    cr_assert(strstr(text, "cpu"));
    cr_assert_null(strstr(text, "CUDA context"), "no device line on the CPU");
    free(text);
    for (int i = 0; i < 3; i++)
        nst_free(ctx, keep[i]);
    nst_ctx_destroy(ctx);
}

static int64_t json_int(const nst__json *root, const char *a, const char *b) {
    const nst__json *v = nst__json_find(root, a);
    cr_assert_not_null(v, "no key %s", a);
    if (b) {
        v = nst__json_find(v, b);
        cr_assert_not_null(v, "no key %s.%s", a, b);
    }
    cr_assert_eq(v->type, NST__JSON_NUMBER);
    cr_assert(v->is_int, "%s.%s is not an integer", a, b ? b : "");
    return v->integer;
}

/* Parses the JSON report (strict: no duplicate keys, no trailing commas). */
static void parse_report(nst_ctx *ctx, nst__json *root) {
    size_t need = nst_tracker_report_json(ctx, NULL, 0);
    char *text = malloc(need + 1);
    cr_assert_eq(nst_tracker_report_json(ctx, text, need + 1), need);
    char err[256];
    cr_assert(nst__json_parse(text, need, 16, root, err, sizeof err), "%s in %s", err, text);
    cr_assert_eq(root->type, NST__JSON_OBJECT);
    free(text);
}

Test(tracker, json_report) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    void *keep[3];
    known_mix(ctx, keep);
    /* an arena with slack too: two 1000-byte buffers live together, one aligned to 4096 */
    nst_plan *plan = nst_plan_create();
    nst_plan_request_span(plan, NST_TAG_GRADIENTS, 1000, 1, "g", 0, 1);
    nst_plan_request_span(plan, NST_TAG_WORKSPACE, 1000, 4096, "w", 1, 1);
    cr_assert_eq(nst_plan_solve(ctx, plan), NST_OK);
    nst_plan_summary ps = nst_plan_get_summary(plan);
    size_t slack = ps.total_bytes - 2000;
    cr_assert_gt(slack, 0);
    nst_arena *arena = NULL;
    cr_assert_eq(nst_arena_create(ctx, plan, &arena), NST_OK, "%s", nst_last_error(ctx));

    nst__json root;
    parse_report(ctx, &root);
    const nst__json *dev = nst__json_find(&root, "device");
    cr_assert(dev && dev->type == NST__JSON_STRING && strcmp(dev->str, "cpu") == 0);
    const nst__json *tags = nst__json_find(&root, "tags");
    cr_assert(tags && tags->type == NST__JSON_OBJECT);
    cr_assert_eq(tags->count, NST_TAG_COUNT + 1);
    for (int t = 0; t < NST_TAG_COUNT; t++) {
        size_t extra = t == NST_TAG_GRADIENTS || t == NST_TAG_WORKSPACE ? 1000 : 0;
        cr_assert_eq(json_int(tags, nst_mem_tag_name(t), "current"),
                     (int64_t)(mix_current[t] + extra), "%s", nst_mem_tag_name(t));
        size_t peak = mix_peak[t] > mix_current[t] + extra ? mix_peak[t] : mix_current[t] + extra;
        cr_assert_eq(json_int(tags, nst_mem_tag_name(t), "peak"), (int64_t)peak);
    }
    cr_assert_eq(json_int(tags, "arena_slack", "current"), (int64_t)slack);
    cr_assert_eq(json_int(&root, "total", "current"), (int64_t)(MIX_TOTAL + ps.total_bytes));
    cr_assert_eq(json_int(&root, "total", "peak"),
                 (int64_t)(MIX_TOTAL + ps.total_bytes > MIX_PEAK_TOTAL
                               ? MIX_TOTAL + ps.total_bytes
                               : MIX_PEAK_TOTAL));
    cr_assert_eq(json_int(&root, "live_allocations", NULL), 4);
    const nst__json *dm = nst__json_find(&root, "device_memory");
    cr_assert(dm && dm->type == NST__JSON_NULL, "no device figures on the CPU");
    nst__json_release(&root);

    nst_arena_destroy(ctx, arena);
    nst_plan_destroy(plan);
    for (int i = 0; i < 3; i++)
        nst_free(ctx, keep[i]);
    nst_ctx_destroy(ctx);
}

Test(tracker, budget_refusal_names_the_largest_consumer) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_plan *p = nst_plan_create();
    nst_plan_request_span(p, NST_TAG_WEIGHTS, 80 << 20, 256, "vgg19 weights", 0, 9);
    nst_plan_request_span(p, NST_TAG_ACTIVATIONS, 96 << 20, 256, "relu1_1 out", 2, 7);
    nst_plan_request_span(p, NST_TAG_GRADIENTS, 48 << 20, 256, "relu1_1 grad", 7, 8);
    nst_plan_request_span(p, NST_TAG_WORKSPACE, 16 << 20, 256, "conv workspace", 3, 3);
    cr_assert_eq(nst_plan_check_budget(ctx, p, 1), NST_ERR_INVALID_ARG, "unsolved");
    cr_assert_eq(nst_plan_solve(ctx, p), NST_OK);
    size_t total = nst_plan_get_summary(p).total_bytes;
    /* all live at step 7; 256-byte alignment costs 256 - 64 bytes of base slack */
    cr_assert_eq(total, ((size_t)(80 + 96 + 48) << 20) + 256 - NST_PLAN_BASE_ALIGN);

    cr_assert_eq(nst_plan_check_budget(ctx, p, total), NST_OK, "exactly the limit fits");
    cr_assert_eq(nst_plan_check_budget(ctx, p, total - 1), NST_ERR_BUDGET);
    const char *msg = nst_last_error(ctx);
    cr_assert(strstr(msg, "'relu1_1 out' (activations) 96.0 MiB"), "%s", msg);
    cr_assert(strstr(msg, "activations 96.0 MiB"), "%s", msg);
    /* the largest buffer comes first in the list */
    cr_assert_lt(strstr(msg, "relu1_1 out"), strstr(msg, "vgg19 weights"), "%s", msg);
    char limit[64];
    snprintf(limit, sizeof limit, "limit is %zu bytes", total - 1);
    cr_assert(strstr(msg, limit), "%s", msg);
    cr_assert(strstr(msg, "image size") && strstr(msg, "layers"), "says what to change: %s", msg);
    /* and only what exists: there is no half-precision option to point at */
    cr_assert(!strstr(msg, "--precision"), "advises an option nstyle does not have: %s", msg);
    /* limit 0 = free memory now: a 240 MiB plan fits any machine that runs these tests */
    cr_assert_eq(nst_plan_check_budget(ctx, p, 0), NST_OK, "%s", nst_last_error(ctx));
    nst_tracker_snapshot s;
    nst_tracker_snapshot_get(ctx, &s);
    cr_assert_eq(s.peak_total, 0, "the check allocates nothing");
    nst_plan_destroy(p);
    nst_ctx_destroy(ctx);
}

Test(tracker, parse_bytes) {
    struct {
        const char *text;
        size_t bytes;
    } good[] = {
        {"4G", (size_t)4 << 30},          {"512M", (size_t)512 << 20},
        {"3.5GiB", (size_t)7 << 29},      {"1000000", 1000000},
        {"0", 0},                         {"1.5k", 1536},
        {"4GB", 4000000000u},             {"2 MiB", (size_t)2 << 20},
        {" 7 ", 7},                       {"100B", 100},
        {"1t", (size_t)1 << 40},          {"0.5KB", 500},
        {".25G", (size_t)1 << 28},        {"18446744073709551615", SIZE_MAX},
        {"1.5", 2}, /* rounded to the nearest byte */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        size_t v = 12345;
        cr_assert_eq(nst_parse_bytes(NULL, good[i].text, &v), NST_OK, "'%s'", good[i].text);
        cr_assert_eq(v, good[i].bytes, "'%s' -> %zu, expected %zu", good[i].text, v,
                     good[i].bytes);
    }
    struct {
        const char *text;
        nst_status status;
    } bad[] = {
        {"", NST_ERR_INVALID_ARG},     {"  ", NST_ERR_INVALID_ARG},
        {"-1", NST_ERR_INVALID_ARG},   {"G", NST_ERR_INVALID_ARG},
        {"4X", NST_ERR_INVALID_ARG},   {"4 G B", NST_ERR_INVALID_ARG},
        {"4GiBs", NST_ERR_INVALID_ARG}, {"1e9", NST_ERR_INVALID_ARG},
        {"0x10", NST_ERR_INVALID_ARG}, {"18446744073709551616", NST_ERR_TOO_LARGE},
        {"17179869184G", NST_ERR_TOO_LARGE},
    };
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t v = 12345;
        cr_assert_eq(nst_parse_bytes(ctx, bad[i].text, &v), bad[i].status, "'%s'", bad[i].text);
        cr_assert_eq(v, 12345, "'%s' must not write the output", bad[i].text);
        cr_assert(strstr(nst_last_error(ctx), bad[i].text), "message names the input: %s",
                  nst_last_error(ctx));
    }
    nst_ctx_destroy(ctx);
}

Test(tracker, cuda_device_figures) {
    nst_ctx *ctx = nst_test_cuda_ctx();
#ifdef NST_HAVE_CUDA
    void *a = NULL, *b = NULL;
    cr_assert_eq(nst_alloc(ctx, (size_t)64 << 20, NST_TAG_ACTIVATIONS, &a), NST_OK);
    nst_tracker_snapshot s1, s2;
    nst_tracker_snapshot_get(ctx, &s1);
    size_t free_b = 0, total_b = 0;
    cr_assert_eq(nst__cuda_test_mem_get_info(&free_b, &total_b), 0);
    cr_assert(s1.has_device_info);
    cr_assert_eq(s1.device_total, total_b);
    /* other processes may allocate between the two reads; on a lent GPU they do not, and 64 MiB
     * of leeway covers a neighbour's small change */
    cr_assert(s1.device_free + ((size_t)64 << 20) >= free_b &&
                  free_b + ((size_t)64 << 20) >= s1.device_free,
              "free %zu vs %zu", s1.device_free, free_b);
    cr_assert_eq(s1.device_other, s1.device_total - s1.device_free - s1.current_total);
    cr_assert_gt(s1.device_other, 0, "the CUDA context itself takes memory");
    /* allocating 256 MiB more is ours, not the context's: its share moves by cudaMalloc's
     * rounding at most (2 MiB pages), here within 8 MiB */
    cr_assert_eq(nst_alloc(ctx, (size_t)256 << 20, NST_TAG_WORKSPACE, &b), NST_OK);
    nst_tracker_snapshot_get(ctx, &s2);
    cr_assert_eq(s2.current_total, (size_t)320 << 20);
    size_t d = s2.device_other > s1.device_other ? s2.device_other - s1.device_other
                                                 : s1.device_other - s2.device_other;
    /* compute-sanitizer allocates device memory of its own as we allocate (shadow state), so
     * the share is only stable without it */
    if (!getenv("NST_UNDER_SANITIZER"))
        cr_assert_leq(d, (size_t)8 << 20, "context share moved by %zu bytes", d);
    char text[4096];
    nst_tracker_report_text(ctx, text, sizeof text);
    cr_assert(strstr(text, "CUDA context"), "%s", text);
    nst__json root;
    parse_report(ctx, &root);
    const nst__json *dm = nst__json_find(&root, "device_memory");
    cr_assert(dm && dm->type == NST__JSON_OBJECT);
    cr_assert_eq(json_int(dm, "ours", NULL), (int64_t)320 << 20);
    cr_assert_gt(json_int(dm, "context_and_other", NULL), 0);
    nst__json_release(&root);
    cr_log_info("cuda: total %zu, free %zu, ours %zu, context and other %zu", s2.device_total,
                s2.device_free, s2.current_total, s2.device_other);
    nst_free(ctx, a);
    nst_free(ctx, b);
#endif
    nst_ctx_destroy(ctx);
}
