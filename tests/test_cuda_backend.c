/* The CUDA backend's host side on a real GPU: device selection, tracked device allocations,
 * copies and memset round trips, out-of-memory messages, and ops without a CUDA implementation
 * reported as unsupported. Skipped, saying why, in a CPU-only build or on a machine without a GPU
 * (nst_test_cuda_ctx); a GPU that is there but does not open fails.
 * Each test creates its own context (Criterion forks a process per test). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

Test(cuda_backend, selects_the_device_by_name) {
    nst_ctx *ctx = nst_test_cuda_ctx();
    cr_assert_eq(nst_ctx_backend(ctx), NST_BACKEND_CUDA);
    cr_assert(strncmp(nst_ctx_device_name(ctx), "cuda:0 (", 8) == 0, "%s",
              nst_ctx_device_name(ctx));
    cr_assert_eq(nst_ctx_set_device(ctx, "cuda:1000"), NST_ERR_NO_DEVICE);
    cr_assert(strstr(nst_last_error(ctx), "cuda:1000") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_ctx_backend(ctx), NST_BACKEND_CUDA, "failed switch keeps the device");
    cr_assert_eq(nst_ctx_set_device(ctx, "cpu"), NST_OK);
    cr_assert_eq(nst_ctx_set_device(ctx, "cuda"), NST_OK, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

Test(cuda_backend, device_memory_round_trip) {
    nst_ctx *ctx = nst_test_cuda_ctx();
    enum { N = 1 << 20 };
    static float host[N], back[N];
    for (int i = 0; i < N; i++)
        host[i] = (float)i * 0.25f - 3.0f;
    nst_tensor t = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, NULL, 1, 1024, 1024, 1);
    cr_assert_eq(nst_tensor_alloc(ctx, &t, NST_TAG_ACTIVATIONS), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(t.backend, NST_BACKEND_CUDA);
    cr_assert_eq(nst_copy_to_device(ctx, t.data, host, sizeof host), NST_OK);
    cr_assert_eq(nst_copy_to_host(ctx, back, t.data, sizeof back), NST_OK);
    cr_assert_arr_eq(host, back, sizeof host);
    cr_assert_eq(nst_memset_device(ctx, t.data, 0, sizeof host / 2), NST_OK);
    cr_assert_eq(nst_copy_to_host(ctx, back, t.data, sizeof back), NST_OK);
    for (int i = 0; i < N; i++)
        cr_assert_eq(back[i], i < N / 2 ? 0.0f : host[i], "element %d", i);
    cr_assert_eq(nst_synchronize(ctx), NST_OK);
    nst_tensor_free(ctx, &t);
    nst_ctx_destroy(ctx);
}

Test(cuda_backend, out_of_memory_names_the_bytes_and_free_memory) {
    /* compute-sanitizer reports the failing cudaMalloc this test provokes as an API error */
    if (getenv("NST_UNDER_SANITIZER"))
        cr_skip_test("under compute-sanitizer: the deliberate out-of-memory would be reported");
    nst_ctx *ctx = nst_test_cuda_ctx();
    void *p = NULL;
    nst_status s = nst_alloc(ctx, (size_t)1 << 50, NST_TAG_WEIGHTS, &p);
    cr_assert_eq(s, NST_ERR_DEVICE_MEMORY, "%s", nst_status_name(s));
    cr_assert_null(p);
    const char *msg = nst_last_error(ctx);
    cr_assert(strstr(msg, "1125899906842624 bytes") != NULL, "%s", msg);
    cr_assert(strstr(msg, "MiB free of") != NULL, "%s", msg);
    /* the context is still usable afterwards */
    cr_assert_eq(nst_alloc(ctx, 4096, NST_TAG_OTHER, &p), NST_OK, "%s", nst_last_error(ctx));
    nst_free(ctx, p);
    nst_ctx_destroy(ctx);
}

Test(cuda_backend, ops_without_a_cuda_implementation_are_unsupported) {
    nst_ctx *ctx = nst_test_cuda_ctx();
    for (int i = 0; i < NST_OP_COUNT; i++) {
        if (nst_op_supported(ctx, (nst_op)i))
            continue;
        char params[512] = {0};
        nst_status s = nst_op_run(ctx, (nst_op)i, params);
        cr_assert_eq(s, NST_ERR_UNSUPPORTED, "%s: %s", nst_op_get_info((nst_op)i)->name,
                     nst_status_name(s));
        cr_assert(strstr(nst_last_error(ctx), "backend cuda") != NULL, "%s", nst_last_error(ctx));
    }
    nst_ctx_destroy(ctx);
}
