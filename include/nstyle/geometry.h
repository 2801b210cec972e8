/* Geometric transforms of the render's images: the spatial transformer's grid
 * generator and sampler (NST_OP_AFFINE_GRID_*, NST_OP_GRID_SAMPLE_*) driven by
 * a transform written as keys.
 *
 * A transform is the movement of the picture's content, about the image centre,
 * in the order scale, then rotate, then translate: p' = T(tx, ty) . R(angle) .
 * S(sx, sy) . p in affine_grid's normalised coordinates (x to the right, y
 * down, each in [-1, 1] across the image, align_corners false). A positive
 * angle turns the content counter-clockwise as the image is seen; scale < 1
 * shrinks it (the uncovered border comes from the padding mode); translate
 * moves it right (tx > 0) and down (ty > 0) by that many half-widths /
 * half-heights. The rotation is a true rotation in pixels on any aspect ratio:
 * it is taken in pixel-square units, D^-1 R D with D = diag(W/2, H/2).
 *
 * affine_grid's theta maps each output pixel to where it samples the input, so
 * theta is the inverse movement, A^-1 with A = D^-1 R D S: theta = [ c/sx -s
 * H/(W sx)   -(theta00 tx + theta01 ty) ] [ s W/(H sy)     c/sy -(theta10 tx +
 * theta11 ty) ]     c, s = cos, sin(angle) e.g. rotate=90 on a square image is
 * theta = [[0, -1, 0], [1, 0, 0]]: the output's top centre samples the input's
 * right centre.
 *
 * Text form: "rotate=15,scale=0.8,translate=0.1,0": keys in any order, each at
 * most once; rotate in degrees (finite), scale one value or sx,sy (each finite,
 * > 0), translate tx,ty (finite). Tested by tests/test_render_geometry.c. */
#ifndef NSTYLE_GEOMETRY_H
#define NSTYLE_GEOMETRY_H

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "ops.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    bool set;                /* false: the identity, nothing is resampled */
    double rotate_deg;       /* counter-clockwise on screen */
    double scale_x, scale_y; /* > 0 */
    double translate_x, translate_y;
    bool raw;       /* use theta below as it is (library callers) */
    float theta[6]; /* row-major 2x3, as affine_grid takes it */
} nst_geometry;

/* The identity (set false, scale 1). */
nst_geometry nst_geometry_identity(void);

/* Parses the text form into *out. On failure returns NST_ERR_INVALID_ARG with a
 * message in err (may be NULL) naming the key and the value and saying what is
 * wanted. */
nst_status nst_geometry_parse(const char *text, nst_geometry *out, char *err, size_t err_size);

/* theta (2x3, row-major) of g for an image of width x height (the identity when
 * !g->set). */
void nst_geometry_theta(const nst_geometry *g, int width, int height, float theta[6]);

/* dst = grid_sample(src, affine_grid(theta)) on host images (H, W, C) of the
 * same size, bilinear, align_corners false, on a CPU context of its own. ctx
 * takes the error message. */
nst_status nst_geometry_apply(nst_ctx *ctx, const float theta[6], nst_grid_padding padding,
                              const float *src, int width, int height, int channels, float *dst);

/* The padding mode's name ("zeros", "border", "reflection"), and back (-1 when
 * unknown). */
const char *nst_grid_padding_name(nst_grid_padding p);
int nst_grid_padding_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
