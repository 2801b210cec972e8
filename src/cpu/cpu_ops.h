/* Declarations of the CPU reference ops. Each has the op table's uniform signature; params
 * points to the op's params struct from include/nstyle/ops.h. One family per file in src/cpu/. */
#ifndef NSTYLE_CPU_OPS_H
#define NSTYLE_CPU_OPS_H

#include "../host/errors.h"
#include "../host/op_scratch.h"
#include "nstyle/ops.h"

#define NST__CPU_DECLARE(E, name, P) nst_status nst__cpu_##name(nst_ctx *ctx, const void *params);
NST_OP_LIST(NST__CPU_DECLARE)
#undef NST__CPU_DECLARE

/* Threads for an OpenMP region: the context's setting, or all available when 0. */
int nst__cpu_threads(const nst_ctx *ctx);

/* The vector code the CPU kernels with per-ISA variants run (src/cpu/conv2d_wide.c,
 * conv2d_direct.c, instance_norm.c): the CPU's features, probed once. Tests and benchmarks may
 * force a lower level (-1: back to the CPU's own). */
enum { NST__CPU_SIMD_BASE = 0, NST__CPU_SIMD_AVX2 = 1, NST__CPU_SIMD_AVX512 = 2 };
int nst__cpu_simd(void);
void nst__cpu_simd_force(int level);

/* Scratch bytes of the ops that take any, for params the dispatch has checked; each piece the op
 * takes is counted rounded up with nst__scratch_bytes(). */
size_t nst__cpu_conv2d_scratch(nst_ctx *ctx, nst_op op, const void *params);
size_t nst__cpu_linear_scratch(nst_ctx *ctx, nst_op op, const void *params);
size_t nst__cpu_gram_scratch(nst_ctx *ctx, nst_op op, const void *params);
size_t nst__cpu_instance_norm_scratch(nst_ctx *ctx, nst_op op, const void *params);

/* A piece of the op call's scratch (column buffers, partial sums), zeroed when `zero` is set; it
 * must be among what the op's scratch query counted (else NST_ERR_INTERNAL naming the op and
 * what the piece is for). Nothing to release. */
nst_status nst__cpu_scratch(nst_ctx *ctx, const char *op, const char *what, size_t bytes,
                            bool zero, void **out);

#endif
