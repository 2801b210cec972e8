/* The parity tool's passes and their context settings (parity_setup.h). */
#include <stddef.h>

#include "parity_bound.h"
#include "parity_setup.h"

static const nst_parity_pass_info passes[NST_PARITY_PASSES] = {
    [NST_PARITY_FP32] = {.name = "fp32", .deterministic = true, .tf32 = false},
    [NST_PARITY_FP32_ATOMIC] = {.name = "fp32-atomic", .deterministic = false, .tf32 = false},
    [NST_PARITY_TF32] = {.name = "tf32", .deterministic = true, .tf32 = true},
};

const nst_parity_pass_info *nst_parity_pass_get(nst_parity_pass pass) {
    return (int)pass >= 0 && pass < NST_PARITY_PASSES ? &passes[pass] : NULL;
}

void nst_parity_ctx_setup(nst_ctx *ctx, nst_parity_pass pass) {
    const nst_parity_pass_info *info = nst_parity_pass_get(pass);
    if (!info)
        return;
    nst_ctx_set_tf32(ctx, info->tf32, info->tf32);
    nst_ctx_set_deterministic(ctx, info->deterministic);
}

bool nst_parity_pass_runs(nst_parity_pass pass, nst_op op, const void *params) {
    switch (pass) {
    case NST_PARITY_FP32:
        return true;
    case NST_PARITY_FP32_ATOMIC:
        return op == NST_OP_GRID_SAMPLE_BACKWARD && params &&
               ((const nst_grid_sample_params *)params)->dx;
    case NST_PARITY_TF32:
        return nst_parity_tf32_applies(op);
    default:
        return false;
    }
}
