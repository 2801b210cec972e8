/* Plan, then run (src/host/mem_pass.c): a model's code recorded once, then run over an arena of
 * exactly its plan, for the networks and pipelines (which include this, not the core's
 * layout). Not installed. */
#ifndef NSTYLE_PLAN_RUN_H
#define NSTYLE_PLAN_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nstyle/memory.h"
#include "errors.h"
#include "nstyle/ops.h"

/* Code that runs the same way in a recording pass and in a run pass. */
typedef nst_status (*nst__pass_fn)(nst_ctx *ctx, nst_mem_pass *pass, void *user);
/* Records fn's plan and solves it. */
nst_status nst__plan_record(nst_ctx *ctx, nst__pass_fn fn, void *user, nst_plan **out);
/* Checks plan against limit (0 = free memory), makes its arena and runs fn over it. */
nst_status nst__plan_run(nst_ctx *ctx, const nst_plan *plan, size_t limit, nst__pass_fn fn,
                         void *user);

/* The next activation of a pass: F32 (n, h, w, c) labelled "NAME WHAT" ("res3.conv1 pad"). */
nst_status nst__pass_act(nst_mem_pass *pass, int64_t n, const char *name, const char *what,
                         int64_t h, int64_t w, int64_t c, nst_tensor *t);
/* x, upsampled x2 (nearest) when upsample, then reflection-padded by pad on every side when pad
 * > 0, into new activations "NAME upsample" and "NAME pad"; *out is the last of them (x itself
 * when neither applies). */
nst_status nst__pass_up_pad(nst_ctx *ctx, nst_mem_pass *pass, const char *name,
                            const nst_tensor *x, bool upsample, int pad, nst_tensor *up,
                            nst_tensor *padded, const nst_tensor **out);

/* Records a coarse-to-fine render's scales in plan's summary (nst_plan_summary.scales ...): n
 * sizes and totals, the coarsest first. */
void nst__plan_set_scales(nst_plan *plan, int n, const int *width, const int *height,
                          const size_t *total_bytes);

#endif
