/* A context's GPU settings (include/nstyle/context.h): the cuDNN workspace limit, deterministic
 * algorithms, TF32 in convolutions and GEMMs. Stored so that a zeroed context has the defaults;
 * the CUDA backend reads them when it chooses algorithms and math modes.
 * Tested by tests/test_cuda_settings.c. */
#include "core.h"

void nst_ctx_set_workspace_limit(nst_ctx *ctx, size_t bytes) { ctx->workspace_limit = bytes; }
size_t nst_ctx_workspace_limit(const nst_ctx *ctx) {
    return ctx->workspace_limit ? ctx->workspace_limit : NST_DEFAULT_WORKSPACE_LIMIT;
}
void nst_ctx_plan_for_cuda(nst_ctx *ctx, bool on) { ctx->plan_for_cuda = on; }
void nst_ctx_set_deterministic(nst_ctx *ctx, bool on) { ctx->deterministic = on; }
bool nst_ctx_deterministic(const nst_ctx *ctx) { return ctx->deterministic; }
void nst_ctx_set_tf32(nst_ctx *ctx, bool convolutions, bool gemms) {
    ctx->conv_tf32_off = !convolutions;
    ctx->gemm_tf32_on = gemms;
}
bool nst_ctx_tf32_convolutions(const nst_ctx *ctx) { return !ctx->conv_tf32_off; }
bool nst_ctx_tf32_gemms(const nst_ctx *ctx) { return ctx->gemm_tf32_on; }
