/* 8-bit image helpers for the image tests: new and random images, an exact comparison that
 * names the first differing byte, and float crops of the images in ../shared/data. */
#ifndef NSTYLE_TEST_IMAGES_H
#define NSTYLE_TEST_IMAGES_H

#include <stdint.h>

#include "nstyle/image.h"

/* A w x h image of c channels with uninitialised pixels; free with nst_image_free. */
nst_image nst_test_image_new(int w, int h, int c);
/* The same with every byte drawn from nst_test_rng_seed(seed) (the top byte of each draw). */
nst_image nst_test_image_random(int w, int h, int c, uint64_t seed);
/* Saves nst_test_image_random(w, h, 3, seed) to path (its extension picks the format). */
void nst_test_write_random_image(const char *path, int w, int h, uint64_t seed);
/* path read with want_channels (0 = as stored), asserted to succeed; free with nst_image_free. */
nst_image nst_test_image_load(const char *path, int want_channels);
/* Mean |a - b| over the bytes of two images of the same size (asserted), and in *worst the
 * largest. */
double nst_test_image_mean_abs_diff(const nst_image *a, const nst_image *b, int *worst);
/* Asserts equal size, channel count and bytes; `what` starts each failure message. */
void nst_test_assert_same_pixels(const nst_image *got, const nst_image *want, const char *what);
/* A w x h RGB [0, 1] float crop from the top left of ../shared/data/REL (asserted present and
 * large enough; callers skip first when the folder is absent); free with free(). */
float *nst_test_shared_crop(nst_ctx *ctx, const char *rel, int w, int h);

#endif
