/* Histogram matching (nst_histogram_match, include/nstyle/colour.h): against a quadratic-time
 * reference of skimage's _match_cumulative_cdf on data with ties, properties that hold exactly
 * (self-match, a monotone relabelling, in place), skimage.exposure.match_histograms goldens
 * (tests/golden/gen_losses_colour.py), and its argument checks. Its tests are in the
 * cpu_colour suite, with the colour ops' (tests/test_cpu_colour.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/colour.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "losses_colour.safetensors"

/* O(n^2) reference of skimage's _match_cumulative_cdf for one channel: quantiles by counting,
 * then numpy.interp over the reference's distinct values (linear search). */
static double ref_match_one(double v, const float *src, int64_t ns, const float *ref, int64_t nr,
                            int ch, int channels) {
    int64_t below = 0;
    for (int64_t i = 0; i < ns; i++)
        below += src[i * channels + ch] <= v;
    const double q = (double)below / (double)ns;
    /* walk the reference's distinct values in increasing order */
    double prev_u = -INFINITY, prev_q = 0.0;
    bool have_prev = false;
    for (;;) {
        double u = INFINITY;
        for (int64_t i = 0; i < nr; i++) {
            const double r = ref[i * channels + ch];
            if (r > prev_u && r < u)
                u = r;
        }
        if (u == INFINITY)
            return prev_u; /* q above every reference quantile cannot happen (last is 1) */
        int64_t cnt = 0;
        for (int64_t i = 0; i < nr; i++)
            cnt += ref[i * channels + ch] <= u;
        const double qu = (double)cnt / (double)nr;
        if (q <= qu) {
            if (!have_prev || q == qu)
                return u;
            return prev_u + (u - prev_u) * (q - prev_q) / (qu - prev_q);
        }
        prev_u = u, prev_q = qu, have_prev = true;
    }
}

/* Against the quadratic reference on data with ties and different sizes; outputs are
 * interpolations of fp32 values computed in double and rounded once: rtol 1e-6, atol 1e-7. */
Test(histogram_match, matches_reference) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(45);
    enum { NS = 13 * 17, NR = 9 * 10, C = 3 };
    float src[NS * C], ref[NR * C], out[NS * C];
    double want[NS * C];
    for (int i = 0; i < NS * C; i++) /* 5-bit values: many ties */
        src[i] = (float)(nst_test_rng_next(&rng) % 32) / 31.0f;
    nst_test_fill_uniform(&rng, ref, NR * C, -2.0f, 3.0f);
    for (int i = 0; i < NR * C; i += 7)
        ref[i] = 0.5f; /* and ties in the reference too */
    cr_assert_eq(nst_histogram_match(ctx, src, NS, ref, NR, C, out), NST_OK, "%s",
                 nst_last_error(ctx));
    for (int i = 0; i < NS; i++)
        for (int c = 0; c < C; c++)
            want[i * C + c] = ref_match_one(src[i * C + c], src, NS, ref, NR, c, C);
    cr_assert(nst_test_allclose("histogram match", out, want, NS * C, 1e-7, 1e-6));
    nst_ctx_destroy(ctx);
}

/* Properties that hold exactly: an image matched to itself is unchanged; the output's values
 * are the reference's when both have the same number of distinct equally frequent values;
 * in-place operation gives the same result. */
Test(histogram_match, properties) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(46);
    enum { NP = 8 * 8, C = 2 };
    float src[NP * C], out[NP * C], ref[NP * C], inplace[NP * C];
    nst_test_fill_uniform(&rng, src, NP * C, 0.0f, 1.0f);
    cr_assert_eq(nst_histogram_match(ctx, src, NP, src, NP, C, out), NST_OK);
    for (int i = 0; i < NP * C; i++)
        cr_assert_eq(out[i], src[i], "self-match changed element %d", i);
    /* ref = 3 * (rank of src within its channel) + 1: a monotone relabelling, so the match
     * must produce exactly ref (both sides have NP distinct values, each once) */
    for (int c = 0; c < C; c++)
        for (int i = 0; i < NP; i++) {
            int rank = 0;
            for (int j = 0; j < NP; j++)
                rank += src[j * C + c] < src[i * C + c];
            ref[((i * 5) % NP) * C + c] = 3.0f * (float)rank + 1.0f; /* shuffled position */
        }
    cr_assert_eq(nst_histogram_match(ctx, src, NP, ref, NP, C, out), NST_OK);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < NP; i++) {
            int rank = 0;
            for (int j = 0; j < NP; j++)
                rank += src[j * C + c] < src[i * C + c];
            cr_assert_eq(out[i * C + c], 3.0f * (float)rank + 1.0f, "pixel %d channel %d", i, c);
        }
    memcpy(inplace, src, sizeof src);
    cr_assert_eq(nst_histogram_match(ctx, inplace, NP, ref, NP, C, inplace), NST_OK);
    cr_assert_eq(memcmp(inplace, out, sizeof out), 0, "in place differs");
    nst_ctx_destroy(ctx);
}

/* skimage.exposure.match_histograms(channel_axis=-1) in float64 on the same float32 inputs:
 * |got - ref| <= 1e-5 + 1e-4 |ref|. */
Test(histogram_match, skimage_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    const struct {
        const char *name;
        int64_t ns, nr;
    } cases[] = {{"hist_ties", 24 * 32, 20 * 28}, {"hist_cont", 17 * 19, 30 * 20}};
    for (int k = 0; k < 2; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s.src", cases[k].name);
        float *src = nst_test_golden_f32(f, key, (size_t)cases[k].ns * 3);
        snprintf(key, sizeof key, "%s.ref", cases[k].name);
        float *ref = nst_test_golden_f32(f, key, (size_t)cases[k].nr * 3);
        float *out = nst_test_alloc_f32((size_t)cases[k].ns * 3);
        cr_assert_eq(nst_histogram_match(ctx, src, cases[k].ns, ref, cases[k].nr, 3, out),
                     NST_OK, "%s", nst_last_error(ctx));
        snprintf(key, sizeof key, "%s.out", cases[k].name);
        nst_test_expect_golden(f, key, out, (size_t)cases[k].ns * 3, 1e-5, 1e-4);
        free(src), free(ref), free(out);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(histogram_match, checks_arguments) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float a[6] = {0, 1, 2, 3, 4, 5}, out[6];
    cr_assert_eq(nst_histogram_match(ctx, NULL, 2, a, 2, 3, out), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "src") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_histogram_match(ctx, a, 0, a, 2, 3, out), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_histogram_match(ctx, a, 2, a, 2, 0, out), NST_ERR_INVALID_ARG);
    a[4] = NAN;
    cr_assert_eq(nst_histogram_match(ctx, a, 2, a + 3, 1, 3, out), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "pixel 1 channel 1") != NULL, "%s",
              nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
