/* Image quality metrics used by the tests, the benchmarks and the CLI to compare renders. */
#ifndef NSTYLE_METRICS_H
#define NSTYLE_METRICS_H

#include <stdint.h>

#include "context.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mean structural similarity (Wang et al. 2004) of two 8-bit images with scikit-image's
 * settings, i.e. the value of
 *   skimage.metrics.structural_similarity(a, b, channel_axis=2, data_range=255,
 *       gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
 * per channel: Gaussian-weighted means, variances and covariance (sigma 1.5, 11 taps),
 * K1 = 0.01, K2 = 0.03, the SSIM map averaged over the interior that skimage keeps (5 pixels
 * cropped from every side), then the mean over channels. a and b are (height, width, channels)
 * interleaved, row-major; both sides at least 11 pixels. Computed in double; *out in [-1, 1],
 * 1 for identical images. Errors: NST_ERR_INVALID_ARG (NULL pointers, sizes), NST_ERR_NO_MEMORY.
 * Tested by tests/test_ssim.c against skimage. */
nst_status nst_ssim_u8(nst_ctx *ctx, const uint8_t *a, const uint8_t *b, int width, int height,
                       int channels, double *out);

#ifdef __cplusplus
}
#endif
#endif
