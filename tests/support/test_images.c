/* 8-bit image helpers for the image tests (see test_images.h). */
#include "test_images.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "test_support.h"

nst_image nst_test_image_new(int w, int h, int c) {
    nst_image img = {w, h, c, malloc((size_t)w * h * c)};
    cr_assert_not_null(img.data);
    return img;
}

nst_image nst_test_image_random(int w, int h, int c, uint64_t seed) {
    nst_image img = nst_test_image_new(w, h, c);
    nst_test_rng r = nst_test_rng_seed(seed);
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        img.data[i] = (uint8_t)(nst_test_rng_next(&r) >> 56);
    return img;
}

void nst_test_write_random_image(const char *path, int w, int h, uint64_t seed) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(w, h, 3, seed);
    cr_assert_eq(nst_image_save(ctx, path, &img, 95), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

double nst_test_image_mean_abs_diff(const nst_image *a, const nst_image *b, int *worst) {
    cr_assert(a->width == b->width && a->height == b->height && a->channels == b->channels,
              "images of different sizes: %dx%dx%d and %dx%dx%d", a->width, a->height,
              a->channels, b->width, b->height, b->channels);
    const size_t n = (size_t)a->width * a->height * a->channels;
    double sum = 0;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs(a->data[i] - b->data[i]);
        sum += d;
        *worst = d > *worst ? d : *worst;
    }
    return sum / (double)n;
}

void nst_test_assert_same_pixels(const nst_image *got, const nst_image *want, const char *what) {
    cr_assert_eq(got->width, want->width, "%s: width", what);
    cr_assert_eq(got->height, want->height, "%s: height", what);
    cr_assert_eq(got->channels, want->channels, "%s: channels", what);
    size_t n = (size_t)want->width * want->height * want->channels;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got->data[i], want->data[i], "%s: byte %zu: got %d, want %d", what, i,
                     got->data[i], want->data[i]);
}

float *nst_test_shared_crop(nst_ctx *ctx, const char *rel, int w, int h) {
    char path[1024];
    cr_assert(nst_test_shared_path(rel, path, sizeof path), "no %s in ../shared/data", rel);
    nst_image img;
    cr_assert_eq(nst_image_load(ctx, path, 3, &img), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(img.width >= w && img.height >= h);
    float *out = malloc((size_t)w * h * 3 * sizeof *out);
    cr_assert_not_null(out);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            out[(size_t)y * w * 3 + x] = img.data[(size_t)y * img.width * 3 + x] / 255.0f;
    nst_image_free(&img);
    return out;
}

nst_image nst_test_image_load(const char *path, int want_channels) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, path, want_channels, &img), NST_OK, "%s",
                 nst_last_error(ctx));
    nst_ctx_destroy(ctx);
    return img;
}
