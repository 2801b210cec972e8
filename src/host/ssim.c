/* Mean SSIM of two 8-bit images (include/nstyle/metrics.h), matching scikit-image 0.19's
 * structural_similarity(channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False) (skimage/metrics/_structural_similarity.py):
 *   - window: scipy.ndimage.gaussian_filter with sigma 1.5, truncate 3.5, so radius
 *     int(3.5 * 1.5 + 0.5) = 5 and weights exp(-x^2 / (2 sigma^2)) / sum over x = -5..5,
 *     applied separably (rows, then columns);
 *   - ux, uy, uxx, uyy, uxy the filtered x, y, x*x, y*y, x*y; vx = uxx - ux^2 etc. (population);
 *   - S = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2)), C1 = (0.01*255)^2,
 *     C2 = (0.03*255)^2;
 *   - the mean of S over the interior after cropping pad = (11 - 1) / 2 = 5 from every side,
 *     then the mean over channels.
 * skimage filters with mode="reflect" (scipy's half-sample reflection, d c b a | a b c d), but the
 * crop radius equals the filter radius, so every window of a kept pixel lies inside the image:
 * the padding never reaches the result, and only the interior is computed here.
 *
 * Tested by tests/test_ssim.c (skimage goldens on real and synthetic pairs, a direct 2-D window
 * reference, properties). */
#include <math.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core.h"
#include "nstyle/metrics.h"

#define SSIM_RADIUS 5
#define SSIM_TAPS (2 * SSIM_RADIUS + 1)

/* scipy.ndimage._gaussian_kernel1d(sigma=1.5, order=0, radius=5) */
static void gaussian_taps(double w[SSIM_TAPS]) {
    const double sigma2 = 1.5 * 1.5;
    double sum = 0.0;
    for (int k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) {
        w[k + SSIM_RADIUS] = exp(-0.5 / sigma2 * (double)(k * k));
        sum += w[k + SSIM_RADIUS];
    }
    for (int k = 0; k < SSIM_TAPS; k++)
        w[k] /= sum;
}

/* Sum of the SSIM map over output row i (interior columns) of channel ch. col is scratch of
 * 5 * width doubles: the vertically filtered x, y, xx, yy, xy of row i. */
static double ssim_row(const uint8_t *a, const uint8_t *b, int width, int channels, int ch,
                       int i, const double w[SSIM_TAPS], double *col) {
    double *vx = col, *vy = col + width, *vxx = col + 2 * width, *vyy = col + 3 * width;
    double *vxy = col + 4 * width;
    for (int j = 0; j < width; j++) {
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        for (int k = 0; k < SSIM_TAPS; k++) {
            const int64_t at = ((int64_t)(i - SSIM_RADIUS + k) * width + j) * channels + ch;
            const double x = a[at], y = b[at];
            sx += w[k] * x;
            sy += w[k] * y;
            sxx += w[k] * (x * x);
            syy += w[k] * (y * y);
            sxy += w[k] * (x * y);
        }
        vx[j] = sx, vy[j] = sy, vxx[j] = sxx, vyy[j] = syy, vxy[j] = sxy;
    }
    const double c1 = (0.01 * 255.0) * (0.01 * 255.0), c2 = (0.03 * 255.0) * (0.03 * 255.0);
    double sum = 0.0;
    for (int j = SSIM_RADIUS; j < width - SSIM_RADIUS; j++) {
        double ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
        for (int k = 0; k < SSIM_TAPS; k++) {
            const int at = j - SSIM_RADIUS + k;
            ux += w[k] * vx[at];
            uy += w[k] * vy[at];
            uxx += w[k] * vxx[at];
            uyy += w[k] * vyy[at];
            uxy += w[k] * vxy[at];
        }
        const double var_x = uxx - ux * ux, var_y = uyy - uy * uy, cov = uxy - ux * uy;
        const double num = (2.0 * ux * uy + c1) * (2.0 * cov + c2);
        const double den = (ux * ux + uy * uy + c1) * (var_x + var_y + c2);
        sum += num / den;
    }
    return sum;
}

nst_status nst_ssim_u8(nst_ctx *ctx, const uint8_t *a, const uint8_t *b, int width, int height,
                       int channels, double *out) {
    if (!a || !b || !out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "ssim: %s is NULL",
                        !a ? "a" : !b ? "b" : "out");
    if (width < SSIM_TAPS || height < SSIM_TAPS || channels < 1)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "ssim: image %dx%d with %d channels; need at least %dx%d (the Gaussian "
                        "window) and 1 channel",
                        width, height, channels, SSIM_TAPS, SSIM_TAPS);
    double w[SSIM_TAPS];
    gaussian_taps(w);
    const int threads = nst__threads(ctx);
    /* scratch: 5 rows per thread, then one partial sum per image row. The rows' sums are added
     * in row order afterwards, so the result is the same bits on any number of threads (an
     * OpenMP reduction would combine per-thread sums in an unspecified order). */
    double *scratch = malloc(((size_t)threads * 5 * (size_t)width + (size_t)height) *
                             sizeof *scratch);
    if (!scratch)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "ssim: no memory for %d rows of %d pixels",
                        5 * threads, width);
    double *row_sum = scratch + (size_t)threads * 5 * (size_t)width; /* (height) */
    double total = 0.0;
    for (int ch = 0; ch < channels; ch++) {
#pragma omp parallel num_threads(threads)
        {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            double *col = scratch + (size_t)t * 5 * (size_t)width;
#pragma omp for schedule(static)
            for (int i = SSIM_RADIUS; i < height - SSIM_RADIUS; i++)
                row_sum[i] = ssim_row(a, b, width, channels, ch, i, w, col);
        }
        double sum = 0.0;
        for (int i = SSIM_RADIUS; i < height - SSIM_RADIUS; i++)
            sum += row_sum[i];
        const double interior =
            (double)(height - 2 * SSIM_RADIUS) * (double)(width - 2 * SSIM_RADIUS);
        total += sum / interior;
    }
    free(scratch);
    *out = total / channels;
    return NST_OK;
}
