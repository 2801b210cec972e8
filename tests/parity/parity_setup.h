/* The passes of the parity tool (tests/parity/parity.c) and the CUDA context settings of each:
 * which arithmetic cuDNN and cuBLAS may use (TF32 or strict fp32), whether only deterministic
 * algorithms are allowed, and which ops a pass runs. Plain settings on an nst_ctx, so a test
 * without a GPU can set a CPU context up the same way and read the settings back
 * (tests/test_parity_bound.c). */
#ifndef NSTYLE_TEST_PARITY_SETUP_H
#define NSTYLE_TEST_PARITY_SETUP_H

#include <stdbool.h>

#include "nstyle/nstyle.h"

typedef enum {
    /* strict fp32: TF32 off for convolutions and GEMMs, deterministic algorithms; every case,
     * and the two GPU runs of a case must give the same bits */
    NST_PARITY_FP32 = 0,
    /* strict fp32 without deterministic mode: grid_sample_backward's atomic dx path (cases
     * with dx), within the tolerances only */
    NST_PARITY_FP32_ATOMIC,
    /* TF32 on for convolutions and GEMMs, deterministic algorithms: the ops whose CUDA
     * implementation TF32 can change (nst_parity_tf32_applies), within the TF32 bound */
    NST_PARITY_TF32,
    NST_PARITY_PASSES
} nst_parity_pass;

typedef struct {
    const char *name;   /* printed on each case line: "fp32", "fp32-atomic", "tf32" */
    bool deterministic; /* nst_ctx_set_deterministic; the two GPU runs must agree bit for bit */
    bool tf32;          /* nst_ctx_set_tf32(ctx, tf32, tf32): convolutions and GEMMs alike */
} nst_parity_pass_info;

/* The pass's settings; NULL for a value out of range. */
const nst_parity_pass_info *nst_parity_pass_get(nst_parity_pass pass);
/* Puts the context's GPU settings (TF32 for convolutions and GEMMs, deterministic mode) in the
 * state the pass runs with; the workspace limit is left as it is. */
void nst_parity_ctx_setup(nst_ctx *ctx, nst_parity_pass pass);
/* Whether the pass runs op with these params. */
bool nst_parity_pass_runs(nst_parity_pass pass, nst_op op, const void *params);

#endif
