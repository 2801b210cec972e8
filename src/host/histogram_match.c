/* Histogram matching (include/nstyle/colour.h): each channel of src is mapped so that its value
 * distribution matches ref's, exactly as skimage.exposure.match_histograms(channel_axis=-1):
 * distinct sorted values with cumulative-count quantiles on both sides, then numpy.interp of the
 * source quantiles into (reference quantiles, reference values), evaluated as numpy does
 * (including its rule that a quantile equal to a knot takes that knot's value).
 *
 * Tested by tests/test_histogram_match.c (skimage goldens, a naive quadratic-time reference,
 * properties such as matching an image to itself). */
#include <math.h>
#include <stdlib.h>

#include "core.h"
#include "nstyle/colour.h"

static int cmp_float(const void *pa, const void *pb) {
    const float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

/* Copies channel ch of the (n, channels) array into vals, sorts it and keeps the distinct
 * values, writing their quantiles (count of values <= v, over n) into q. Returns the count. */
static int64_t distinct_quantiles(const float *x, int64_t n, int channels, int ch, float *vals,
                                  double *q) {
    for (int64_t i = 0; i < n; i++)
        vals[i] = x[i * channels + ch];
    qsort(vals, (size_t)n, sizeof *vals, cmp_float);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (k > 0 && vals[i] == vals[k - 1]) {
            q[k - 1] = (double)(i + 1);
            continue;
        }
        vals[k] = vals[i];
        q[k++] = (double)(i + 1);
    }
    for (int64_t i = 0; i < k; i++)
        q[i] /= (double)n;
    return k;
}

/* numpy.interp(x, xp, fp) for increasing xp and a cursor j that only moves forward (x is
 * visited in increasing order). */
static double interp_forward(double x, const double *xp, const float *fp, int64_t m, int64_t *j) {
    if (x < xp[0])
        return fp[0];
    if (x > xp[m - 1])
        return fp[m - 1];
    while (*j + 1 < m && xp[*j + 1] <= x)
        (*j)++;
    const int64_t i = *j;
    if (i == m - 1 || xp[i] == x)
        return fp[i];
    const double slope = ((double)fp[i + 1] - (double)fp[i]) / (xp[i + 1] - xp[i]);
    return slope * (x - xp[i]) + (double)fp[i];
}

/* Index of v in the sorted distinct values u[0..k). v is known to be present. */
static int64_t find_value(const float *u, int64_t k, float v) {
    int64_t lo = 0, hi = k - 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (u[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static nst_status check_finite(nst_ctx *ctx, const char *name, const float *x, int64_t n,
                               int channels) {
    for (int64_t i = 0; i < n * channels; i++)
        if (!isfinite(x[i]))
            return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                            "histogram_match: %s pixel %lld channel %d is %g (must be finite)",
                            name, (long long)(i / channels), (int)(i % channels), (double)x[i]);
    return NST_OK;
}

nst_status nst_histogram_match(nst_ctx *ctx, const float *src, int64_t n_src_pixels,
                               const float *ref, int64_t n_ref_pixels, int channels, float *out) {
    if (!src || !ref || !out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "histogram_match: %s is NULL",
                        !src ? "src" : !ref ? "ref" : "out");
    if (n_src_pixels < 1 || n_ref_pixels < 1 || channels < 1)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "histogram_match: %lld src pixels, %lld ref pixels, %d channels (each "
                        "must be at least 1)",
                        (long long)n_src_pixels, (long long)n_ref_pixels, channels);
    if (n_src_pixels > INT64_MAX / 16 / channels || n_ref_pixels > INT64_MAX / 16 / channels)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE, "histogram_match: image too large");
    NST__TRY(check_finite(ctx, "src", src, n_src_pixels, channels));
    NST__TRY(check_finite(ctx, "ref", ref, n_ref_pixels, channels));

    float *src_vals = malloc((size_t)n_src_pixels * sizeof *src_vals);  // distinct src values
    double *src_map = malloc((size_t)n_src_pixels * sizeof *src_map);   // quantile, then output
    float *ref_vals = malloc((size_t)n_ref_pixels * sizeof *ref_vals);  // distinct ref values
    double *ref_q = malloc((size_t)n_ref_pixels * sizeof *ref_q);       // their quantiles
    nst_status st = NST_OK;
    if (!src_vals || !src_map || !ref_vals || !ref_q) {
        st = NST__ERR(ctx, NST_ERR_NO_MEMORY,
                      "histogram_match: no memory for %lld + %lld pixels of sort buffers",
                      (long long)n_src_pixels, (long long)n_ref_pixels);
        goto done;
    }
    for (int ch = 0; ch < channels; ch++) {
        const int64_t ks = distinct_quantiles(src, n_src_pixels, channels, ch, src_vals, src_map);
        const int64_t kr = distinct_quantiles(ref, n_ref_pixels, channels, ch, ref_vals, ref_q);
        int64_t cursor = 0;
        for (int64_t k = 0; k < ks; k++) /* quantile -> matched value, in place */
            src_map[k] = interp_forward(src_map[k], ref_q, ref_vals, kr, &cursor);
#pragma omp parallel for num_threads(nst__threads(ctx)) schedule(static) \
    if (n_src_pixels > 16384)
        for (int64_t i = 0; i < n_src_pixels; i++) {
            const int64_t at = i * channels + ch;
            out[at] = (float)src_map[find_value(src_vals, ks, src[at])];
        }
    }
done:
    free(src_vals);
    free(src_map);
    free(ref_vals);
    free(ref_q);
    return st;
}
