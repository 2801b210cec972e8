/* Plan, then run (src/host/mem_pass.c): a model's code recorded once, then run over an arena of
 * exactly its plan, for the networks and pipelines (which include this, not the core's
 * layout). Not installed. */
#ifndef NSTYLE_PLAN_RUN_H
#define NSTYLE_PLAN_RUN_H

#include <stddef.h>

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

/* Records a coarse-to-fine render's scales in plan's summary (nst_plan_summary.scales ...): n
 * sizes and totals, the coarsest first. */
void nst__plan_set_scales(nst_plan *plan, int n, const int *width, const int *height,
                          const size_t *total_bytes);

#endif
