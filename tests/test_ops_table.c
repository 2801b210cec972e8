/* The op table: every op has a name, a params type and size; names round-trip; dispatch to a
 * missing implementation reports NST_ERR_UNSUPPORTED and names the op and backend; the add op
 * runs through the table on the CPU. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "host/core.h"
#include "test_support.h"

Test(ops_table, every_op_has_name_and_params) {
    for (int i = 0; i < NST_OP_COUNT; i++) {
        const nst_op_info *info = nst_op_get_info((nst_op)i);
        cr_assert_not_null(info);
        cr_assert(info->name && strlen(info->name) > 0, "op %d has no name", i);
        cr_assert(strncmp(info->params_type, "nst_", 4) == 0, "op %s params type %s", info->name,
                  info->params_type);
        cr_assert_gt(info->params_size, 0u);
        cr_assert_eq(nst_op_from_name(info->name), (nst_op)i, "name %s does not round-trip",
                     info->name);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(info->name, nst_op_get_info((nst_op)j)->name, "duplicate op name");
    }
    cr_assert_null(nst_op_get_info(NST_OP_COUNT));
    cr_assert_eq(nst_op_from_name("no_such_op"), NST_OP_COUNT);
}

Test(ops_table, the_cpu_reference_implements_every_op) {
    /* The CPU backend is the specification every other backend is checked against. */
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (int i = 0; i < NST_OP_COUNT; i++)
        cr_assert(nst_op_supported(ctx, (nst_op)i), "op %s has no CPU implementation",
                  nst_op_get_info((nst_op)i)->name);
    nst_ctx_destroy(ctx);
}

Test(ops_table, missing_implementation_is_unsupported) {
    /* A backend like the CPU's but with an empty op table: every dispatch must refuse, name the
     * op and the backend, and never touch the params. */
    nst_ctx *ctx = nst_test_cpu_ctx();
    static const nst__op_fn no_ops[NST_OP_COUNT];
    nst__backend empty = nst__cpu_backend;
    empty.name = "empty";
    empty.ops = no_ops;
    const nst__backend *saved = ctx->backend;
    ctx->backend = &empty;
    for (int i = 0; i < NST_OP_COUNT; i++) {
        const char *name = nst_op_get_info((nst_op)i)->name;
        cr_assert(!nst_op_supported(ctx, (nst_op)i));
        nst_status s = nst_op_run(ctx, (nst_op)i, "params never read");
        cr_assert_eq(s, NST_ERR_UNSUPPORTED, "op %s: status %s", name, nst_status_name(s));
        cr_assert(strstr(nst_last_error(ctx), name) != NULL, "message '%s' does not name the op",
                  nst_last_error(ctx));
        cr_assert(strstr(nst_last_error(ctx), "backend empty") != NULL, "%s", nst_last_error(ctx));
    }
    ctx->backend = saved;
    /* The CUDA table of a build without CUDA cannot support anything. */
#ifndef NST_HAVE_CUDA
    for (int i = 0; i < NST_OP_COUNT; i++)
        cr_assert(!nst_op_supported_on(NST_BACKEND_CUDA, (nst_op)i));
#endif
    nst_ctx_destroy(ctx);
}

Test(ops_table, out_of_range_op_and_null_params) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    cr_assert_eq(nst_op_run(ctx, NST_OP_COUNT, ""), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_op_run(ctx, (nst_op)-1, ""), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_op_run(ctx, NST_OP_ADD, NULL), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}

Test(ops_table, add_through_dispatch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {0.5f, -2, 10, 0, -5, 1e-3f}, y[6] = {0};
    nst_tensor ta = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 1, 2, 3, 1);
    nst_tensor tb = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 2, 3, 1);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 2, 3, 1);
    nst_add_params p = {&ta, &tb, &ty};
    cr_assert_eq(nst_add(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(y[i], a[i] + b[i], 0.0f);
    /* shape mismatch names the op and both shapes */
    nst_tensor bad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, b, 1, 3, 2, 1);
    p.b = &bad;
    cr_assert_eq(nst_add(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "(1, 3, 2, 1)") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(1, 2, 3, 1)") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

/* NSTYLE_CUDA_SYNC=1 (sync_each_op): the dispatch synchronises after each op, and a failure the
 * device reports there names the op, its tensors' shapes and the backend's last launch, with the
 * device's own message. A backend whose synchronize fails stands in for a faulting kernel. */
static nst_status failing_sync(nst_ctx *ctx) {
    return nst__error(ctx, NST_ERR_CUDA, "fake", 1,
                      "cudaStreamSynchronize: an illegal memory access was encountered");
}
static const char *fake_last_launch(const nst_ctx *ctx) {
    (void)ctx;
    return "nst_k_add_kernel";
}

Test(ops_table, sync_each_op_pins_an_asynchronous_failure_on_the_op) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float a[6] = {1, 2, 3, 4, 5, 6}, y[6] = {0};
    nst_tensor ta = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, a, 1, 2, 3, 1);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 2, 3, 1);
    nst_add_params p = {&ta, &ta, &ty};
    nst__backend faulty = nst__cpu_backend;
    faulty.synchronize = failing_sync;
    faulty.last_launch = fake_last_launch;
    const nst__backend *saved = ctx->backend;
    ctx->backend = &faulty;
    /* off (the default): the op returns before the device is asked */
    cr_assert_eq(nst_add(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
    ctx->sync_each_op = true;
    cr_assert_eq(nst_add(ctx, &p), NST_ERR_CUDA);
    const char *msg = nst_last_error(ctx);
    cr_assert(strstr(msg, "op add (a (1, 2, 3, 1), b (1, 2, 3, 1), y (1, 2, 3, 1))"), "%s", msg);
    cr_assert(strstr(msg, "NSTYLE_CUDA_SYNC=1"), "%s", msg);
    cr_assert(strstr(msg, "the last launch: nst_k_add_kernel"), "%s", msg);
    cr_assert(strstr(msg, "an illegal memory access"), "%s", msg);
    ctx->backend = saved;
    ctx->sync_each_op = false;
    /* the variable applies to CUDA contexts only: a CPU device ignores it */
    setenv("NSTYLE_CUDA_SYNC", "1", 1);
    cr_assert_eq(nst_ctx_set_device(ctx, "cpu"), NST_OK);
    cr_assert_not(ctx->sync_each_op);
    nst_ctx_destroy(ctx);
}
