/* CPU conv2d with an explicit schedule (src/cpu/conv2d.c). The op table's entries choose the
 * schedule themselves; tests pass tiny tiles and both schedules to exercise tile boundaries
 * (tiles ending mid-row and mid-image, col2im phases) on small shapes, and benchmarks compare
 * tile sizes and schedules. */
#ifndef NSTYLE_CPU_CONV2D_H
#define NSTYLE_CPU_CONV2D_H

#include <stddef.h>

#include "../host/errors.h"
#include "nstyle/ops.h"

/* Column buffer of one tile when each thread runs its own tiles: about half an L2 cache, so the
 * patches im2col writes are still cached when the sgemm reads them. */
#define NST__CONV_TILE_BYTES ((size_t)1 << 20)
/* Upper bound of the column buffer when tiles run one after another over all threads (at least
 * one pixel's patch). Buffers come from the backend inside the op, counted by the tracker as
 * workspace; these two bounds cap what a plan has to reserve for them. */
#define NST__CONV_COLS_BYTES ((size_t)64 << 20)

/* Runs NST_OP_CONV2D_FORWARD, _BACKWARD_DATA or _BACKWARD_FILTER with tiles of at most
 * tile_bytes of columns (0: the default for the schedule) and `workers` tiles in parallel, each
 * single-threaded (1: tiles one after another, each over all threads; 0: automatic). */
nst_status nst__cpu_conv2d_tiled(nst_ctx *ctx, nst_op op, const nst_conv2d_params *p,
                                 size_t tile_bytes, int workers);

/* The tiling backward-data would use for these sizes, tile_bytes and workers (as above): tiles
 * of `tile` output pixels, `workers` at a time, in `phases` rounds; tiles it and jt run at the
 * same time only when it % phases == jt % phases, so such tiles must never touch the same input
 * pixel. Tests check that against the pixels each tile really touches. */
typedef struct {
    int64_t tile, ntiles, phases;
    int workers;
} nst__conv_tiling;

nst_status nst__cpu_conv2d_phases(nst_ctx *ctx, const nst_conv2d_params *p, size_t tile_bytes,
                                  int workers, nst__conv_tiling *out);

#endif
