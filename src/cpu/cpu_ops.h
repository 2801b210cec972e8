/* Declarations of the CPU reference ops. Each has the op table's uniform signature; params
 * points to the op's params struct from include/nstyle/ops.h. One family per file in src/cpu/. */
#ifndef NSTYLE_CPU_OPS_H
#define NSTYLE_CPU_OPS_H

#include "../host/internal.h"

#define NST__CPU_DECLARE(E, name, P) nst_status nst__cpu_##name(nst_ctx *ctx, const void *params);
NST_OP_LIST(NST__CPU_DECLARE)
#undef NST__CPU_DECLARE

/* Threads for an OpenMP region: the context's setting, or all available when 0. */
int nst__cpu_threads(const nst_ctx *ctx);

/* Scratch memory of an op (column buffers, partial sums): allocated through the backend so the
 * tracker counts it under the workspace tag; zeroed when `zero` is set. On failure the message
 * names the op, what the buffer is for and its size. Release with nst_free(). */
nst_status nst__cpu_scratch(nst_ctx *ctx, const char *op, const char *what, size_t bytes,
                            bool zero, void **out);

#endif
