/* The op contract (include/nstyle/ops.h), for every op in the table on the CPU backend: each op
 * lists its tensors; the dispatch refuses a missing tensor, a tensor on another backend and a
 * dtype the backend does not compute, by name; each op runs in exactly the scratch its query
 * states, allocates nothing while it runs, writes every output element and nothing outside its
 * outputs (guard bytes); and a recording pass records a use of every tensor the op lists. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "nstyle/nstyle.h"
#include "op_cases.h"
#include "test_support.h"

static int list_args(const nst_test_op_case *c, nst_op_arg *args) {
    int n = nst_op_args(c->op, &c->p, args, 32);
    cr_assert(n >= 1 && n <= 32, "%s lists %d tensors", c->what, n);
    return n;
}

Test(op_contract, every_op_has_a_case_and_lists_its_tensors) {
    int count = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    bool covered[NST_OP_COUNT] = {false};
    for (int i = 0; i < count; i++) {
        const nst_test_op_case *c = &cases[i];
        covered[c->op] = true;
        nst_op_arg args[32];
        const int n = list_args(c, args);
        int outputs = 0;
        for (int k = 0; k < n; k++) {
            outputs += args[k].role != NST_ARG_IN;
            cr_assert(args[k].t || args[k].optional, "%s: %s missing", c->what, args[k].name);
            for (int j = 0; j < k; j++)
                cr_assert(strcmp(args[j].name, args[k].name) != 0 || args[j].slot != args[k].slot,
                          "%s lists %s twice", c->what, args[k].name);
        }
        cr_assert_gt(outputs, 0, "%s has no output", c->what);
        cr_assert_eq(nst_op_args(c->op, &c->p, NULL, 0), n, "counting without storing");
    }
    for (int op = 0; op < NST_OP_COUNT; op++)
        cr_assert(covered[op], "op %s has no case", nst_op_get_info((nst_op)op)->name);
    cr_assert_eq(nst_op_args(NST_OP_COUNT, &cases[0].p, NULL, 0), -1);
    nst_test_op_cases_free(cases, count);
}

/* Runs every case with a scratch region of exactly the stated size, guarded on both sides, on a
 * context whose tracker shows that nothing else is allocated while the op runs. */
Test(op_contract, ops_run_in_their_stated_scratch_and_write_only_their_outputs) {
    int count = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_ctx_set_threads(ctx, 2);
    for (int i = 0; i < count; i++) {
        nst_test_op_case *c = &cases[i];
        size_t need = 0;
        cr_assert_eq(nst_op_scratch_bytes(ctx, c->op, &c->p, &need), NST_OK, "%s: %s", c->what,
                     nst_last_error(ctx));
        unsigned char *region = malloc(need + 2 * NST_TEST_GUARD_BYTES);
        cr_assert_not_null(region);
        memset(region, NST_TEST_GUARD_BYTE, need + 2 * NST_TEST_GUARD_BYTES);
        if (need > 0) { /* one byte short is refused before anything runs */
            nst_ctx_set_scratch(ctx, region + NST_TEST_GUARD_BYTES, need - 1);
            nst_status s = nst_op_run(ctx, c->op, &c->p);
            cr_assert_eq(s, NST_ERR_INVALID_ARG, "%s ran with too little scratch", c->what);
            cr_assert(strstr(nst_last_error(ctx), "scratch"), "%s", nst_last_error(ctx));
        }
        nst_ctx_set_scratch(ctx, region + NST_TEST_GUARD_BYTES, need);
        nst_tracker_snapshot before, after;
        nst_tracker_snapshot_get(ctx, &before);
        cr_assert_eq(nst_op_run(ctx, c->op, &c->p), NST_OK, "%s: %s", c->what,
                     nst_last_error(ctx));
        nst_tracker_snapshot_get(ctx, &after);
        cr_assert_eq(after.peak_total, before.peak_total, "%s allocated while running", c->what);
        cr_assert_eq(after.n_live, before.n_live, "%s left an allocation", c->what);
        for (size_t k = 0; k < NST_TEST_GUARD_BYTES; k++)
            cr_assert(region[k] == NST_TEST_GUARD_BYTE &&
                          region[NST_TEST_GUARD_BYTES + need + k] == NST_TEST_GUARD_BYTE,
                      "%s wrote outside its scratch", c->what);
        cr_assert(nst_test_op_case_guards_ok(c), "%s wrote outside a tensor", c->what);
        nst_op_arg args[32];
        const int n = list_args(c, args);
        for (int k = 0; k < n; k++) {
            if (args[k].role == NST_ARG_IN || !args[k].t)
                continue;
            const float *y = args[k].t->data;
            for (int64_t e = 0; e < nst_tensor_numel(args[k].t); e++)
                cr_assert(isfinite(y[e]), "%s: output %s element %lld not written (%g)",
                          c->what, args[k].name, (long long)e, (double)y[e]);
        }
        nst_ctx_set_scratch(ctx, NULL, 0);
        free(region);
    }
    nst_ctx_destroy(ctx);
    nst_test_op_cases_free(cases, count);
}

/* The first present tensor of role `role` in the case's list. */
static nst_tensor *first_of(const nst_test_op_case *c, nst_arg_role role, bool f32_ok) {
    nst_op_arg args[32];
    const int n = list_args(c, args);
    for (int k = 0; k < n; k++)
        if (args[k].t && args[k].role == role && (f32_ok || !args[k].f32))
            return args[k].t;
    return NULL;
}

Test(op_contract, the_dispatch_refuses_by_name) {
    int count = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (int i = 0; i < count; i++) {
        nst_test_op_case *c = &cases[i];
        const char *name = nst_op_get_info(c->op)->name;
        /* every compute-dtype tensor in F16: the CPU backend computes in F32 only */
        nst_op_arg args[32];
        const int n = list_args(c, args);
        int changed = 0;
        for (int k = 0; k < n; k++)
            if (args[k].t && !args[k].f32)
                args[k].t->dtype = NST_F16, changed++;
        if (changed) {
            nst_status s = nst_op_run(ctx, c->op, &c->p);
            nst_test_expect_status(ctx, s, NST_ERR_UNSUPPORTED, name, "F32 only");
            cr_assert(strstr(nst_last_error(ctx), "F16"), "%s", nst_last_error(ctx));
            for (int k = 0; k < n; k++)
                if (args[k].t)
                    args[k].t->dtype = NST_F32;
        }
        /* an input on another backend */
        nst_tensor *in = first_of(c, NST_ARG_IN, true);
        if (in) {
            in->backend = NST_BACKEND_CUDA;
            nst_test_expect_status(ctx, nst_op_run(ctx, c->op, &c->p), NST_ERR_INVALID_ARG, name,
                                   "lives on cuda");
            in->backend = NST_BACKEND_CPU;
        }
        /* an input with no data */
        if (in) {
            void *data = in->data;
            in->data = NULL;
            nst_test_expect_status(ctx, nst_op_run(ctx, c->op, &c->p), NST_ERR_INVALID_ARG, name,
                                   "has no data");
            in->data = data;
        }
        cr_assert(nst_test_op_case_guards_ok(c));
    }
    nst_ctx_destroy(ctx);
    nst_test_op_cases_free(cases, count);
}

/* In a recording pass, each op on planned tensors records one step that uses every tensor it
 * lists, and writes nothing. */
Test(op_contract, recording_records_every_listed_tensor) {
    int count = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    for (int i = 0; i < count; i++) {
        nst_test_op_case *c = &cases[i];
        nst_plan *plan = nst_plan_create();
        nst_mem_pass *pass = NULL;
        cr_assert_eq(nst_mem_pass_record(ctx, plan, &pass), NST_OK);
        nst_op_arg args[32];
        const int n = list_args(c, args);
        void *saved[32];
        for (int k = 0; k < n; k++) {
            if (!args[k].t)
                continue;
            nst_tensor *t = args[k].t;
            nst_tensor planned;
            cr_assert_eq(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, t->dtype, t->ndim,
                                             t->shape, 0, args[k].name, &planned), NST_OK);
            saved[k] = t->data;
            t->data = NULL;
            t->plan_ref = planned.plan_ref;
        }
        nst_plan_next_step(plan); /* the op's step is 1 */
        cr_assert_eq(nst_op_run(ctx, c->op, &c->p), NST_OK, "%s: %s", c->what,
                     nst_last_error(ctx));
        for (int k = 0; k < n; k++) {
            if (!args[k].t)
                continue;
            const nst_plan_buffer *b = nst_plan_get(plan, nst_tensor_plan_id(args[k].t));
            cr_assert(b->first == 1 && b->last == 1, "%s: %s used at [%d, %d]", c->what,
                      args[k].name, b->first, b->last);
            args[k].t->data = saved[k];
            args[k].t->plan_ref = 0;
        }
        cr_assert_eq(nst_mem_pass_end(pass), NST_OK);
        cr_assert_eq(nst_plan_solve(ctx, plan), NST_OK, "%s: %s", c->what, nst_last_error(ctx));
        size_t need = 0;
        cr_assert_eq(nst_op_scratch_bytes(ctx, c->op, &c->p, &need), NST_OK);
        cr_assert_eq(nst_plan_get(plan, 0)->bytes, need, "%s: planned scratch", c->what);
        nst_plan_destroy(plan);
    }
    nst_ctx_destroy(ctx);
    nst_test_op_cases_free(cases, count);
}
