/* The context: device selection and its errors, status strings, error messages with location,
 * tracked allocations and copies on the CPU backend. */
#include <criterion/criterion.h>
#include <string.h>

#include "test_support.h"

Test(context, status_strings_are_distinct_and_named) {
    for (int i = 0; i < NST_STATUS_COUNT; i++) {
        cr_assert_str_neq(nst_strerror((nst_status)i), "unknown status");
        cr_assert_str_neq(nst_status_name((nst_status)i), "UNKNOWN");
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(nst_strerror((nst_status)i), nst_strerror((nst_status)j));
    }
    cr_assert_str_eq(nst_status_name(NST_ERR_DEVICE_MEMORY), "ERR_DEVICE_MEMORY");
    cr_assert_str_eq(nst_strerror(NST_STATUS_COUNT), "unknown status");
}

Test(context, starts_on_cpu_without_error) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    cr_assert_eq(nst_ctx_backend(ctx), NST_BACKEND_CPU);
    cr_assert_str_eq(nst_ctx_device_name(ctx), "cpu");
    cr_assert_str_empty(nst_last_error(ctx));
    cr_assert_eq(nst_last_status(ctx), NST_OK);
    nst_ctx_destroy(ctx);
}

Test(context, bad_device_names_are_refused_and_context_stays_usable) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const char *bad[] = {"", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda0", "cpu:0", "cuda:99999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(nst_ctx_set_device(ctx, bad[i]), NST_ERR_INVALID_ARG, "'%s'", bad[i]);
        cr_assert(strstr(nst_last_error(ctx), "cpu, cuda or cuda:N") != NULL, "%s",
                  nst_last_error(ctx));
        cr_assert_eq(nst_ctx_backend(ctx), NST_BACKEND_CPU);
    }
    cr_assert_eq(nst_ctx_set_device(ctx, "cpu"), NST_OK);
    nst_ctx_destroy(ctx);
}

Test(context, cuda_without_gpu_says_why) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_gpu_info gpus[4];
    int count = 0;
    char why[512];
    nst_status listed = nst_list_gpus(gpus, 4, &count, why, sizeof why);
    nst_status s = nst_ctx_set_device(ctx, "cuda:0");
    if (listed == NST_OK && count > 0) {
        cr_assert_eq(s, NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(nst_ctx_backend(ctx), NST_BACKEND_CUDA);
        cr_assert(strstr(nst_ctx_device_name(ctx), gpus[0].name) != NULL);
    } else {
        cr_assert_eq(s, NST_ERR_NO_DEVICE, "%s", nst_status_name(s));
        cr_assert_gt(strlen(why), 10u);
        cr_assert_gt(strlen(nst_last_error(ctx)), 10u);
#ifndef NST_HAVE_CUDA
        cr_assert(strstr(nst_last_error(ctx), "built without CUDA") != NULL, "%s",
                  nst_last_error(ctx));
#endif
        cr_assert_eq(nst_ctx_backend(ctx), NST_BACKEND_CPU, "failed switch must not move the ctx");
    }
    nst_ctx_destroy(ctx);
}

Test(context, error_message_carries_location_and_detail) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[4] = {0};
    nst_tensor a = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, 2, 2, 1);
    nst_tensor h = nst_tensor_nhwc(NST_F16, NST_BACKEND_CPU, x, 1, 2, 2, 1);
    nst_add_params p = {&a, &h, &a};
    cr_assert_eq(nst_add(ctx, &p), NST_ERR_SHAPE);
    const char *msg = nst_last_error(ctx);
    cr_assert(strstr(msg, nst_strerror(NST_ERR_SHAPE)) == msg, "%s", msg);
    cr_assert(strstr(msg, ".c:") != NULL, "no source location: %s", msg);
    cr_assert(strstr(msg, "F16") != NULL, "no dtype: %s", msg);
    nst_clear_error(ctx);
    cr_assert_str_empty(nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

Test(context, tracked_alloc_copy_free) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    int64_t dims[2] = {3, 5};
    nst_tensor t = nst_tensor_make(NST_F32, NST_BACKEND_CPU, NULL, 2, dims);
    cr_assert_eq(nst_tensor_bytes(&t), 60u);
    cr_assert_eq(nst_tensor_alloc(ctx, &t, NST_TAG_ACTIVATIONS), NST_OK);
    cr_assert_not_null(t.data);
    cr_assert_eq((uintptr_t)t.data % 64, 0u, "CPU allocations are 64-byte aligned");
    float src[15], back[15];
    for (int i = 0; i < 15; i++)
        src[i] = (float)i * 0.5f;
    cr_assert_eq(nst_copy_to_device(ctx, t.data, src, sizeof src), NST_OK);
    cr_assert_eq(nst_copy_to_host(ctx, back, t.data, sizeof back), NST_OK);
    cr_assert_arr_eq(src, back, sizeof src);
    cr_assert_eq(nst_memset_device(ctx, t.data, 0, sizeof src), NST_OK);
    cr_assert_eq(nst_copy_to_host(ctx, back, t.data, sizeof back), NST_OK);
    for (int i = 0; i < 15; i++)
        cr_assert_eq(back[i], 0.0f);
    /* a device switch is refused while memory is live */
    cr_assert_eq(nst_ctx_set_device(ctx, "cpu"), NST_ERR_INVALID_ARG);
    nst_tensor_free(ctx, &t);
    cr_assert_null(t.data);
    void *p = (void *)1;
    cr_assert_eq(nst_alloc(ctx, 0, NST_TAG_OTHER, &p), NST_OK);
    cr_assert_null(p, "zero bytes gives NULL");
    cr_assert_eq(nst_alloc(ctx, 16, (nst_mem_tag)99, &p), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}
