/* CPU conv2d with an explicit schedule (src/cpu/conv2d.c). The op table's entries choose the
 * schedule themselves; tests pass tiny tiles and both schedules to exercise tile boundaries
 * (tiles ending mid-row and mid-image, col2im phases) on small shapes, and benchmarks compare
 * tile sizes and schedules. */
#ifndef NSTYLE_CPU_CONV2D_H
#define NSTYLE_CPU_CONV2D_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../host/errors.h"
#include "nstyle/ops.h"

/* Column buffer of one tile when each thread runs its own tiles: for Cout >= 32, the size of a
 * core's L2 cache (sysconf), at least NST__CONV_TILE_BYTES and at most NST__CONV_TILE_MAX_BYTES;
 * for fewer output channels NST__CONV_TILE_BYTES. Larger tiles repack the weights fewer times
 * per image (OpenBLAS packs them afresh for every call): on a 2 MB-L2 Xeon 2 MB tiles ran
 * TransformerNet's layers 1-12% faster than 1 MB ones, but its 3-channel output layer 4x slower
 * (the larger GEMM leaves OpenBLAS's small-matrix kernel), hence the Cout bound
 * (bench/results/cpu_conv_direct.md). A fixed rule per machine: the same machine always cuts the
 * same tiles, so its results keep their bits. */
#define NST__CONV_TILE_BYTES ((size_t)1 << 20)
#define NST__CONV_TILE_MAX_BYTES ((size_t)4 << 20)
size_t nst__conv_tile_bytes(void);
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

/* The direct forward for few output channels (src/cpu/conv2d_direct.c). The forward uses it when
 * nst__conv_direct_applies(): Cout <= 4, a patch (KH*KW*Cin) of at least 64 floats, and a CPU
 * with AVX2 and FMA or AVX-512; then it takes no scratch. */
typedef struct {
    const float *x;  /* (N, H, W, Cin) */
    const float *wt; /* (Cout, KH, KW, Cin) */
    const float *b;  /* (Cout) or NULL */
    float *y;        /* (N, Ho, Wo, Cout) */
    int64_t n, h, w, cin, cout, kh, kw, ho, wo;
    int stride, pad;
    bool relu;
} nst__conv_direct_args;

bool nst__conv_direct_applies(int64_t cout, int64_t kh, int64_t kw, int64_t cin);
/* Output rows r0 .. r1 - 1 of the flattened (N, Ho). */
void nst__conv_direct_rows(const nst__conv_direct_args *a, int64_t r0, int64_t r1);
/* The variant in use is nst__cpu_simd()'s level (src/cpu/cpu_ops.h): none below AVX2. */

/* The direct forward for Cout a multiple of 32 (src/cpu/conv2d_wide.c), on the same CPUs. The
 * forward uses it when nst__conv_wide_applies() (Cout a multiple of 32, Cin at most
 * NST__CONV_WIDE_MAX_CIN) and the conv is not pointwise (a 1x1, stride-1,
 * pad-0 conv is a GEMM on x itself); its scratch is the packed weights,
 * nst__conv_wide_scratch() bytes, which nst__conv_wide_pack() fills. Work items are the
 * (output row, 32-channel block) pairs, N * Ho * Cout / 32 of them. */
#define NST__CONV_WIDE_MAX_CIN 4096
bool nst__conv_wide_applies(int64_t cout, int64_t cin);
size_t nst__conv_wide_scratch(int64_t cout, int64_t k);
void nst__conv_wide_pack(const float *w, int64_t cout, int64_t k, float *wp);
void nst__conv_wide_items(const nst__conv_direct_args *a, const float *wp, int64_t i0,
                          int64_t i1);

#endif
