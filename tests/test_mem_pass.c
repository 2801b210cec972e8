/* Memory passes (include/nstyle/memory.h): a small two-layer conv network with a loss and its
 * backward is planned by recording its own code on planned tensors, then run over the arena made
 * from that plan. The arena's measured peak must equal the plan's total, the results must equal
 * the same network run on separately allocated tensors bit for bit, recording must compute
 * nothing, and a run that strays from the recorded code path must fail loudly. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <string.h>

#include "nstyle/nstyle.h"
#include "test_support.h"

/* x (2, 12, 10, 3) -> conv 3x3 pad 1 + ReLU -> y1 (2, 12, 10, 8) -> conv 3x3 stride 2 pad 1 ->
 * y2 (2, 6, 5, 4); loss = MSE(y2, target); backward to dx, dw1, db1, dw2, db2. */
enum { N = 2, H = 12, W = 10, C0 = 3, C1 = 8, C2 = 4, H2 = 6, W2 = 5 };

typedef struct {
    nst_tensor x, w1, b1, w2, b2, target;           /* persistent inputs */
    nst_tensor y1, y2, loss;                         /* activations */
    nst_tensor dy2, dy1, dx, dw1, db1, dw2, db2;     /* gradients */
} net;

typedef struct {
    nst_mem_pass *pass; /* NULL: allocate each tensor separately */
    nst_ctx *ctx;
    const char *rename; /* if set, the label of y1 is changed to this (a stray run) */
    bool skip_last;     /* if set, db2 is never asked for */
} builder;

static nst_status tensor(builder *b, nst_mem_tag tag, unsigned flags, const char *label, int ndim,
                         const int64_t *dims, nst_tensor *out) {
    if (b->pass)
        return nst_mem_pass_tensor(b->pass, tag, NST_F32, ndim, dims, flags, label, out);
    *out = nst_tensor_make(NST_F32, NST_BACKEND_CPU, NULL, ndim, dims);
    return nst_tensor_alloc(b->ctx, out, tag);
}

#define T4(tag, flags, label, t, a, bb, c, d) \
    NST__T(tensor(b, tag, flags, label, 4, (const int64_t[]){a, bb, c, d}, t))
#define T1(tag, flags, label, t, a) NST__T(tensor(b, tag, flags, label, 1, (const int64_t[]){a}, t))
#define NST__T(e)                    \
    do {                             \
        nst_status s_ = (e);         \
        if (s_ != NST_OK)            \
            return s_;               \
    } while (0)

/* Every buffer, in the same order on every pass. */
static nst_status make_tensors(builder *b, net *n) {
    const unsigned P = NST_MEM_PERSISTENT;
    T4(NST_TAG_ACTIVATIONS, P, "x", &n->x, N, H, W, C0);
    T4(NST_TAG_WEIGHTS, P, "w1", &n->w1, C1, 3, 3, C0);
    T1(NST_TAG_WEIGHTS, P, "b1", &n->b1, C1);
    T4(NST_TAG_WEIGHTS, P, "w2", &n->w2, C2, 3, 3, C1);
    T1(NST_TAG_WEIGHTS, P, "b2", &n->b2, C2);
    T4(NST_TAG_OTHER, P, "target", &n->target, N, H2, W2, C2);
    T4(NST_TAG_ACTIVATIONS, 0, b->rename ? b->rename : "y1", &n->y1, N, H, W, C1);
    T4(NST_TAG_ACTIVATIONS, 0, "y2", &n->y2, N, H2, W2, C2);
    T1(NST_TAG_OTHER, P, "loss", &n->loss, 1);
    T4(NST_TAG_GRADIENTS, 0, "dy2", &n->dy2, N, H2, W2, C2);
    T4(NST_TAG_GRADIENTS, 0, "dy1", &n->dy1, N, H, W, C1);
    T4(NST_TAG_GRADIENTS, P, "dx", &n->dx, N, H, W, C0);
    T4(NST_TAG_GRADIENTS, P, "dw1", &n->dw1, C1, 3, 3, C0);
    T1(NST_TAG_GRADIENTS, P, "db1", &n->db1, C1);
    T4(NST_TAG_GRADIENTS, P, "dw2", &n->dw2, C2, 3, 3, C1);
    if (!b->skip_last)
        T1(NST_TAG_GRADIENTS, P, "db2", &n->db2, C2);
    return NST_OK;
}

/* Fills the persistent inputs (an upload: a use outside the ops). */
static void upload(nst_ctx *ctx, nst_mem_pass *pass, net *n) {
    nst_tensor *in[] = {&n->x, &n->w1, &n->b1, &n->w2, &n->b2, &n->target};
    nst_test_rng r = nst_test_rng_seed(42);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        if (pass && nst_mem_pass_recording(pass)) {
            nst_mem_pass_touch(pass, in[i]);
            continue;
        }
        size_t count = (size_t)nst_tensor_numel(in[i]);
        float *host = malloc(count * sizeof *host);
        cr_assert_not_null(host);
        nst_test_fill_uniform(&r, host, count, -1.0f, 1.0f);
        cr_assert_eq(nst_copy_to_device(ctx, in[i]->data, host, count * sizeof *host), NST_OK);
        free(host);
    }
}

/* Forward, loss and backward through the op table. */
static nst_status run_net(nst_ctx *ctx, net *n) {
    nst_conv2d_params c1 = {.x = &n->x, .w = &n->w1, .b = &n->b1, .y = &n->y1, .stride = 1,
                            .pad = 1, .relu = true};
    NST__T(nst_conv2d_forward(ctx, &c1));
    nst_conv2d_params c2 = {.x = &n->y1, .w = &n->w2, .b = &n->b2, .y = &n->y2, .stride = 2,
                            .pad = 1};
    NST__T(nst_conv2d_forward(ctx, &c2));
    nst_mse_params m = {.a = &n->y2, .b = &n->target, .loss = &n->loss, .da = &n->dy2,
                        .scale = 1.0f};
    NST__T(nst_mse_forward(ctx, &m));
    NST__T(nst_mse_backward(ctx, &m));
    c2.dy = &n->dy2, c2.dx = &n->dy1, c2.dw = &n->dw2, c2.db = &n->db2;
    NST__T(nst_conv2d_backward_data(ctx, &c2));
    NST__T(nst_conv2d_backward_filter(ctx, &c2));
    nst_relu_params r = {.x = &n->y1, .dy = &n->dy1, .dx = &n->dy1};
    NST__T(nst_relu_backward(ctx, &r));
    c1.dy = &n->dy1, c1.dx = &n->dx, c1.dw = &n->dw1, c1.db = &n->db1;
    NST__T(nst_conv2d_backward_data(ctx, &c1));
    return nst_conv2d_backward_filter(ctx, &c1);
}

static nst_plan *record(nst_ctx *ctx) {
    nst_plan *plan = nst_plan_create();
    cr_assert_not_null(plan);
    nst_mem_pass *pass = NULL;
    cr_assert_eq(nst_mem_pass_record(ctx, plan, &pass), NST_OK, "%s", nst_last_error(ctx));
    builder b = {.pass = pass, .ctx = ctx};
    net n;
    cr_assert_eq(make_tensors(&b, &n), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_null(n.y1.data, "a recorded tensor has no memory");
    upload(ctx, pass, &n);
    cr_assert_eq(run_net(ctx, &n), NST_OK, "recording: %s", nst_last_error(ctx));
    cr_assert_eq(nst_mem_pass_end(pass), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_plan_solve(ctx, plan), NST_OK, "%s", nst_last_error(ctx));
    return plan;
}

/* The network's outputs, copied to the host. */
typedef struct {
    float loss, dx[N * H * W * C0], dw1[C1 * 9 * C0], db1[C1], dw2[C2 * 9 * C1], db2[C2];
} results;

static void read_results(net *n, results *out) {
    memcpy(&out->loss, n->loss.data, sizeof out->loss);
    memcpy(out->dx, n->dx.data, sizeof out->dx);
    memcpy(out->dw1, n->dw1.data, sizeof out->dw1);
    memcpy(out->db1, n->db1.data, sizeof out->db1);
    memcpy(out->dw2, n->dw2.data, sizeof out->dw2);
    memcpy(out->db2, n->db2.data, sizeof out->db2);
}

Test(mem_pass, two_layer_network_planned_by_recording_runs_in_exactly_the_plan) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx(); /* nothing else allocated: the peak is the arena's */
    nst_ctx_set_threads(ctx, 2);
    nst_plan *plan = record(ctx);
    nst_plan_summary s = nst_plan_get_summary(plan);
    const nst_plan_buffer *scratch = nst_plan_get(plan, 0);
    cr_assert_str_eq(scratch->label, "op scratch");
    cr_assert_gt(scratch->bytes, 0, "the convolutions take column buffers");
    /* y2 is dead before dy1 is first written, so fewer bytes are ever live at once than all */
    cr_assert_lt(s.lower_bound, s.sum_bytes, "lifetimes must not all overlap");
    const nst_plan_buffer *y2 = nst_plan_get(plan, 8), *dy1 = nst_plan_get(plan, 11);
    cr_assert_str_eq(y2->label, "y2");
    cr_assert_str_eq(dy1->label, "dy1");
    cr_assert_lt(y2->last, dy1->first, "y2 [%d, %d], dy1 [%d, %d]", y2->first, y2->last,
                 dy1->first, dy1->last);

    nst_arena *arena = NULL;
    cr_assert_eq(nst_arena_create(ctx, plan, &arena), NST_OK, "%s", nst_last_error(ctx));
    nst_mem_pass *pass = NULL;
    cr_assert_eq(nst_mem_pass_run(ctx, plan, arena, &pass), NST_OK, "%s", nst_last_error(ctx));
    builder b = {.pass = pass, .ctx = ctx};
    net n;
    cr_assert_eq(make_tensors(&b, &n), NST_OK, "%s", nst_last_error(ctx));
    upload(ctx, pass, &n);
    cr_assert_eq(run_net(ctx, &n), NST_OK, "%s", nst_last_error(ctx));
    results planned;
    read_results(&n, &planned);
    cr_assert_eq(nst_mem_pass_end(pass), NST_OK, "%s", nst_last_error(ctx));
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    cr_assert_eq(t.peak_total, s.total_bytes, "measured peak %zu, plan total %zu", t.peak_total,
                 s.total_bytes);
    cr_log_info("two-layer network: %d buffers, plan total %zu bytes (lower bound %zu, %zu if "
                "allocated separately), op scratch %zu bytes, arena's measured peak %zu bytes",
                s.n_buffers, s.total_bytes, s.lower_bound, s.sum_bytes, scratch->bytes,
                t.peak_total);
    nst_arena_destroy(ctx, arena);
    nst_plan_destroy(plan);

    /* the same network on separately allocated tensors, with a context scratch region */
    cr_assert_eq(nst_ctx_reserve_scratch(ctx, (size_t)16 << 20), NST_OK);
    builder plain = {.ctx = ctx};
    net m;
    cr_assert_eq(make_tensors(&plain, &m), NST_OK, "%s", nst_last_error(ctx));
    upload(ctx, NULL, &m);
    cr_assert_eq(run_net(ctx, &m), NST_OK, "%s", nst_last_error(ctx));
    results separate;
    read_results(&m, &separate);
    cr_assert(memcmp(&planned, &separate, sizeof planned) == 0,
              "the planned run must compute exactly what the unplanned one does");
    cr_assert(separate.loss > 0.0f);
    nst_ctx_destroy(ctx);
}

Test(mem_pass, recording_computes_nothing) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_plan *plan = nst_plan_create();
    nst_mem_pass *pass = NULL;
    cr_assert_eq(nst_mem_pass_record(ctx, plan, &pass), NST_OK);
    float x[6] = {-1, 2, -3, 4, -5, 6}, y[6];
    for (int i = 0; i < 6; i++)
        y[i] = 99.0f;
    nst_tensor tx = nst_tensor_make(NST_F32, NST_BACKEND_CPU, x, 1, (const int64_t[]){6});
    nst_tensor ty = nst_tensor_make(NST_F32, NST_BACKEND_CPU, y, 1, (const int64_t[]){6});
    nst_relu_params p = {.x = &tx, .y = &ty};
    cr_assert_eq(nst_relu_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    for (int i = 0; i < 6; i++)
        cr_assert_eq(y[i], 99.0f, "a recorded op must not write its output");
    cr_assert_eq(nst_plan_step(plan), 1, "each op is one step");
    /* recording still checks the arguments */
    nst_tensor bad = nst_tensor_make(NST_F32, NST_BACKEND_CPU, y, 1, (const int64_t[]){5});
    p.y = &bad;
    nst_test_expect_status(ctx, nst_relu_forward(ctx, &p), NST_ERR_SHAPE, "relu_forward", "(5)");
    cr_assert_eq(nst_mem_pass_end(pass), NST_OK);
    nst_plan_destroy(plan);
    nst_ctx_destroy(ctx);
}

/* A plan made for CUDA without a GPU counts a depthwise convolution's scratch, like a plain
 * one's, at the workspace limit (cuDNN's grouped convolution takes a workspace the CPU op does
 * not); for the CPU, at the CPU op's own. */
Test(mem_pass, a_plan_for_cuda_counts_depthwise_convolutions_at_the_workspace_limit) {
    const size_t limit = (size_t)3 << 20;
    size_t totals[2];
    for (int cuda = 0; cuda < 2; cuda++) {
        nst_ctx *ctx = nst_test_bare_cpu_ctx();
        nst_ctx_set_workspace_limit(ctx, limit);
        nst_ctx_plan_for_cuda(ctx, cuda);
        nst_plan *plan = nst_plan_create();
        nst_mem_pass *pass = NULL;
        cr_assert_eq(nst_mem_pass_record(ctx, plan, &pass), NST_OK);
        nst_tensor x, w, y;
        cr_assert_eq(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4,
                                         (const int64_t[]){1, 16, 16, 8}, 0, "x", &x), NST_OK);
        cr_assert_eq(nst_mem_pass_tensor(pass, NST_TAG_WEIGHTS, NST_F32, 4,
                                         (const int64_t[]){8, 3, 3, 1}, 0, "w", &w), NST_OK);
        cr_assert_eq(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4,
                                         (const int64_t[]){1, 8, 8, 8}, 0, "y", &y), NST_OK);
        nst_conv2d_params p = {.x = &x, .w = &w, .y = &y, .stride = 2, .pad = 1};
        cr_assert_eq(nst_op_run(ctx, NST_OP_DWCONV2D_FORWARD, &p), NST_OK, "%s",
                     nst_last_error(ctx));
        cr_assert_eq(nst_mem_pass_end(pass), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(nst_plan_solve(ctx, plan), NST_OK, "%s", nst_last_error(ctx));
        totals[cuda] = nst_plan_get_summary(plan).total_bytes;
        nst_plan_destroy(plan);
        nst_ctx_destroy(ctx);
    }
    cr_assert_lt(totals[0], limit, "cpu plan %zu", totals[0]);
    cr_assert_geq(totals[1], limit, "cuda plan %zu: the workspace bound is missing", totals[1]);
}

/* A run that does not follow the recorded path: a buffer asked for under another name, or one
 * never asked for, fails loudly. */
Test(mem_pass, a_run_that_strays_from_the_plan_fails) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_plan *plan = record(ctx);
    nst_arena *arena = NULL;
    cr_assert_eq(nst_arena_create(ctx, plan, &arena), NST_OK, "%s", nst_last_error(ctx));

    nst_mem_pass *pass = NULL;
    cr_assert_eq(nst_mem_pass_run(ctx, plan, arena, &pass), NST_OK);
    builder renamed = {.pass = pass, .ctx = ctx, .rename = "y1 renamed"};
    net n;
    nst_status s = make_tensors(&renamed, &n);
    cr_assert_eq(s, NST_ERR_INTERNAL);
    cr_assert(strstr(nst_last_error(ctx), "'y1 renamed'") && strstr(nst_last_error(ctx), "'y1'"),
              "%s", nst_last_error(ctx));
    nst_mem_pass_abort(pass);

    cr_assert_eq(nst_mem_pass_run(ctx, plan, arena, &pass), NST_OK);
    builder short_run = {.pass = pass, .ctx = ctx, .skip_last = true};
    cr_assert_eq(make_tensors(&short_run, &n), NST_OK);
    s = nst_mem_pass_end(pass);
    cr_assert_eq(s, NST_ERR_INTERNAL);
    cr_assert(strstr(nst_last_error(ctx), "does not follow the recorded code path"), "%s",
              nst_last_error(ctx));

    /* an arena from another plan is refused */
    nst_plan *other = nst_plan_create();
    nst_plan_request_span(other, NST_TAG_OTHER, 64, 0, "other", 0, 0);
    cr_assert_eq(nst_plan_solve(ctx, other), NST_OK);
    cr_assert_eq(nst_mem_pass_run(ctx, other, arena, &pass), NST_ERR_INVALID_ARG);
    nst_plan_destroy(other);
    nst_arena_destroy(ctx, arena);
    nst_plan_destroy(plan);
    nst_ctx_destroy(ctx);
}

Test(mem_pass, one_pass_at_a_time_and_an_empty_plan_to_record) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_plan *plan = nst_plan_create(), *second = nst_plan_create();
    nst_mem_pass *pass = NULL, *again = NULL;
    cr_assert_eq(nst_mem_pass_record(ctx, plan, &pass), NST_OK);
    cr_assert_eq(nst_mem_pass_record(ctx, second, &again), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_mem_pass_end(pass), NST_OK);
    /* plan now holds the scratch buffer: recording into it again is refused */
    cr_assert_eq(nst_mem_pass_record(ctx, plan, &again), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "empty plan"), "%s", nst_last_error(ctx));
    nst_plan_destroy(plan);
    nst_plan_destroy(second);
    nst_ctx_destroy(ctx);
}
