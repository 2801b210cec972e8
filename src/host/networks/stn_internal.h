/* Internal layout of the spatial transformer module (include/nstyle/stn.h), shared by
 * src/host/networks/stn_weights.c (creation, weights by name, files) and src/host/networks/stn.c
 * (forward, backward, memory passes, Adam). Not installed; tested through the public API by
 * tests/test_stn.c and tests/test_stn_grad.c. */
#ifndef NSTYLE_STN_INTERNAL_H
#define NSTYLE_STN_INTERNAL_H

#include "../errors.h"
#include "nstyle/ops.h"
#include "nstyle/stn.h"

#define NST__STN_ALIGN 256 /* bytes, each tensor inside the module's allocations */
enum { C1_W, C1_B, C2_W, C2_B, C3_W, C3_B, F1_W, F1_B, F2_W, F2_B };

extern const char *const nst__stn_names[NST_STN_N_TENSORS]; /* file order */

struct nst_stn {
    nst_ctx *ctx;
    int C;
    nst_grid_padding padding;
    int ndim[NST_STN_N_TENSORS];
    int64_t dims[NST_STN_N_TENSORS][4]; /* PyTorch shapes */
    int64_t numel[NST_STN_N_TENSORS];
    size_t offset[NST_STN_N_TENSORS], bytes; /* per allocation */
    void *wmem, *gmem, *mvmem;               /* weights, gradients, Adam m then v */
    nst_tensor w[NST_STN_N_TENSORS], g[NST_STN_N_TENSORS]; /* op-table layouts */
    nst_tensor m[NST_STN_N_TENSORS], v[NST_STN_N_TENSORS];
    long adam_t;
    size_t mem_limit;
    nst_plan *plan; /* nst_stn_run's plan and arena, for plan_key */
    nst_arena *arena;
    int plan_key[7];
};


/* Frees nst_stn_run's arena and plan. */
void nst__stn_drop_arena(nst_stn *s);

#endif
