/* Colour preservation helpers that are not ops in the graph (they run once, on host memory).
 *
 * Neural style transfer repaints the content image in the style's colours. Gatys et al. 2016,
 * "Preserving Color in Neural Artistic Style Transfer", give two ways to keep the content's
 * colours:
 *   - luminance-only transfer: stylise, then keep the content's chroma (U, V); that is the
 *     rgb_to_yuv / yuv_to_rgb ops in ops.h;
 *   - colour histogram matching: recolour the style image to the content's colour distribution
 *     before stylising; that is nst_histogram_match() below.
 * Gatys et al. match the mean and covariance (a linear map); nstyle matches each RGB channel's
 * whole distribution instead (exact CDF mapping, as scikit-image's match_histograms), which
 * reproduces every channel's histogram rather than only its first two moments, but does not
 * model correlations between channels. */
#ifndef NSTYLE_COLOUR_H
#define NSTYLE_COLOUR_H

#include <stdint.h>

#include "context.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Recolours src so that each channel's value distribution matches ref's: exactly
 * skimage.exposure.match_histograms(src, ref, channel_axis=-1), per channel independently:
 *   - q_src(v) = (number of src values <= v) / n_src_pixels for each distinct src value v,
 *   - q_ref(u) = the same for each distinct ref value u,
 *   - out = numpy.interp(q_src(v), q_ref, u): piecewise-linear quantile mapping (values below
 *     the first ref quantile map to ref's minimum; the top src value maps to ref's maximum).
 * src, ref and out are host memory, interleaved (pixels, channels) float, e.g. an (H, W, C)
 * image; the two images may differ in size; out may be src (in place). Any value range works
 * (0..1, 0..255); values must be finite. Computed in double, stored as float; O(n log n).
 * Errors: NST_ERR_INVALID_ARG (NULL pointers, counts < 1, channels < 1, a NaN or infinity, with
 * the position in the message), NST_ERR_NO_MEMORY.
 * Tested by tests/test_histogram_match.c against skimage. */
nst_status nst_histogram_match(nst_ctx *ctx, const float *src, int64_t n_src_pixels,
                               const float *ref, int64_t n_ref_pixels, int channels, float *out);

#ifdef __cplusplus
}
#endif
#endif
