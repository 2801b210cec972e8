/* The CUDA op table: which ops the CUDA backend runs, in which dtypes, with how much scratch.
 * Each op's entry is its launcher (src/kernels/<family>.cu, extern "C") or its cuDNN/cuBLAS
 * call (src/host/cuda/); an op without an entry reports NST_ERR_UNSUPPORTED on this backend,
 * never pretending to have run. The CPU op is the spec every entry is checked against (the
 * parity tool, and the CPU emulation of each kernel's grid). */
#include "../internal.h"
#include "cuda_internal.h"

const nst__op_fn nst__cuda_ops[NST_OP_COUNT] = {
    /* [NST_OP_<NAME>] = nst__cuda_<name>, one line per op */
    [NST_OP_ADD] = NULL,
};

/* F32 for every op that has an entry; fp16/bf16 come with the half-precision kernels. */
nst_status nst__cuda_supports(nst_ctx *ctx, nst_op op, const void *params, nst_dtype compute) {
    (void)params;
    if (compute == NST_F32)
        return NST_OK;
    return NST__ERR(ctx, NST_ERR_UNSUPPORTED,
                    "op %s: the cuda backend computes in F32 only so far, and these tensors are %s",
                    nst_op_get_info(op)->name, nst_dtype_name(compute));
}

nst_status nst__cuda_scratch(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes) {
    (void)ctx, (void)op, (void)params;
    *bytes = 0; /* cases: ops whose kernels or library calls take scratch */
    return NST_OK;
}
