/* A context's GPU settings (include/nstyle/context.h): the defaults (workspace limit 512 MiB,
 * not deterministic, TF32 on in convolutions and off in GEMMs, as PyTorch) and their setters.
 * Runs without a GPU. */
#include <criterion/criterion.h>

#include "test_support.h"

Test(cuda_settings, defaults_follow_pytorch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    cr_assert_eq(nst_ctx_workspace_limit(ctx), (size_t)512 << 20);
    cr_assert(!nst_ctx_deterministic(ctx));
    cr_assert(nst_ctx_tf32_convolutions(ctx));
    cr_assert(!nst_ctx_tf32_gemms(ctx));
    nst_ctx_destroy(ctx);
}

Test(cuda_settings, setters_store_and_zero_restores_the_default_limit) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_workspace_limit(ctx, (size_t)64 << 20);
    cr_assert_eq(nst_ctx_workspace_limit(ctx), (size_t)64 << 20);
    nst_ctx_set_workspace_limit(ctx, 0);
    cr_assert_eq(nst_ctx_workspace_limit(ctx), NST_DEFAULT_WORKSPACE_LIMIT);
    nst_ctx_set_deterministic(ctx, true);
    cr_assert(nst_ctx_deterministic(ctx));
    nst_ctx_set_tf32(ctx, false, true);
    cr_assert(!nst_ctx_tf32_convolutions(ctx));
    cr_assert(nst_ctx_tf32_gemms(ctx));
    nst_ctx_set_tf32(ctx, false, false); /* parity runs */
    cr_assert(!nst_ctx_tf32_convolutions(ctx) && !nst_ctx_tf32_gemms(ctx));
    /* the settings survive a device switch (here a failed or CPU one) */
    nst_ctx_set_device(ctx, "cuda:1000");
    cr_assert(nst_ctx_deterministic(ctx));
    nst_ctx_destroy(ctx);
}
