/* Internal: tiles for a feed-forward network with instance norm whose statistics must be the
 * whole image's (src/host/networks/tiling.c). Any such network can use it; TransformerNet does
 * (transformer.c, nst_stylize_tiled).
 *
 * Geometry. The image is cut into cores of `tile` x `tile` pixels (the last row and column of
 * cores take what is left); each core is run inside a window that adds `halo` pixels on every
 * side that is not the image's border. Every window has the same size (win_w x win_h), so one
 * memory plan serves every tile: a window near the right or bottom border is moved inwards
 * until it ends at the border. Core and window origins are multiples of `align`, the network's
 * total stride, so every strided layer of a tile samples the whole image's grid; the window is
 * sized win = tile + 2 halo (or the image's side, when smaller), adjusted so that win and the
 * image's side agree modulo align, which lets the last window both start on the grid and end at
 * the border. With halo at least the network's receptive radius, every value a tile computes
 * inside its core (at every layer) equals the whole image's: a window's own edge differs from
 * the image only where it is not the image's border, and that difference reaches inwards no
 * further than the receptive radius.
 *
 * Statistics. A norm layer's mean and variance are gathered over the cores of every tile, at
 * that layer's resolution, in double, and combined tile by tile (Chan et al.'s pairwise
 * update: no sum of squares of large numbers). */
#ifndef NSTYLE_TILING_H
#define NSTYLE_TILING_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int w, h, tile, halo, align;
    int nx, ny;         /* cores across and down */
    int win_w, win_h;   /* every window's size */
} nst__tiling;

/* One tile's core and window along one axis, in image pixels: [core0, core1), [win0, win1). */
typedef struct {
    int core0, core1, win0, win1;
    bool last; /* the core ends at the image's border */
} nst__tile_span;

/* tile and halo multiples of align (rounded up here), tile >= align. */
void nst__tiling_make(nst__tiling *t, int w, int h, int tile, int halo, int align);
/* Tile i (0 .. nx-1) across (axis 0) or down (axis 1). */
nst__tile_span nst__tiling_span(const nst__tiling *t, int axis, int i);

/* A core's rows (or columns) in a layer of down-scaling factor `scale` (1, 2, 4: the layer's
 * grid step in image pixels), relative to the window's first row at that layer: [*lo, *hi).
 * `extent` is the layer's size in the window (its tensor's rows), which the last core runs to:
 * a layer may have a few more rows than image / scale (TransformerNet's upsampled layers,
 * 4 ceil(H / 4)). */
void nst__tile_core_at(const nst__tile_span *s, int scale, int extent, int *lo, int *hi);

/* Per-channel mean and biased variance, accumulated over many regions. */
typedef struct {
    int c;
    double n;               /* pixels folded in */
    double *mean, *m2;      /* (c) each */
    double *k, *sum, *sq;   /* (c) each: the open region, around its first pixel k */
    double rn;              /* the open region's pixels */
} nst__chan_stats;

bool nst__chan_stats_init(nst__chan_stats *s, int c);
void nst__chan_stats_free(nst__chan_stats *s);
void nst__chan_stats_reset(nst__chan_stats *s);
/* Adds count pixels of c channels (channels innermost) to the open region. */
void nst__chan_stats_add(nst__chan_stats *s, const float *x, size_t count);
/* Folds the open region into mean and m2 and starts a new one. */
void nst__chan_stats_close(nst__chan_stats *s);
/* scale = gamma / sqrt(var + eps), shift = beta - mean * scale: the norm as a per-channel
 * affine map (gamma, beta NULL: 1, 0). */
void nst__chan_stats_affine(const nst__chan_stats *s, const float *gamma, const float *beta,
                            float eps, float *scale, float *shift);

#endif
