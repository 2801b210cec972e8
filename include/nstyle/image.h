/* Images: PNG, JPEG, BMP, TGA in (through stb_image); PNG and JPEG out (chosen by extension).
 * Pixels are 8-bit, interleaved, row-major, top row first. Sizes are checked from the header
 * before decoding: over NST_IMAGE_MAX_SIDE pixels a side or NST_IMAGE_MAX_PIXELS in all is refused.
 * Every write goes to a temporary file in the target's folder and is renamed over the target,
 * so a failure never leaves a half-written image. */
#ifndef NSTYLE_IMAGE_H
#define NSTYLE_IMAGE_H

#include <stdint.h>

#include "context.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NST_IMAGE_MAX_SIDE 30000
#define NST_IMAGE_MAX_PIXELS 400000000LL

typedef struct {
    int width, height;
    int channels;  /* 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
    uint8_t *data; /* (height, width, channels), malloc'ed; free with nst_image_free */
} nst_image;

/* Reads path. want_channels 0 keeps the file's channels; 1..4 converts (RGB from grey repeats
 * the grey value; dropping alpha composites nothing, it just drops it). */
nst_status nst_image_load(nst_ctx *ctx, const char *path, int want_channels, nst_image *out);
/* Reads only the header: size and channels, no decoding. */
nst_status nst_image_probe(nst_ctx *ctx, const char *path, int *width, int *height, int *channels);
/* Writes PNG (.png) or JPEG (.jpg/.jpeg, quality 1..100; 0 = 95) atomically. */
nst_status nst_image_save(nst_ctx *ctx, const char *path, const nst_image *img, int jpeg_quality);
void nst_image_free(nst_image *img);

/* Resizes to (width, height) with a separable filter (Catmull-Rom bicubic, sRGB treated as
 * linear values, edges clamped). out is allocated. */
nst_status nst_image_resize(nst_ctx *ctx, const nst_image *in, int width, int height,
                            nst_image *out);

/* Conversions between 8-bit images and float (H, W, C) in [0, 1]. */
nst_status nst_image_to_float(nst_ctx *ctx, const nst_image *img, float *out);
/* Clamps to [0, 1] and rounds to nearest. out->data is allocated. */
nst_status nst_image_from_float(nst_ctx *ctx, const float *in, int width, int height,
                                int channels, nst_image *out);

#ifdef __cplusplus
}
#endif
#endif
