/* Images: PNG, JPEG, BMP, TGA in (through stb_image); PNG and JPEG out (chosen by extension).
 * Pixels are 8-bit, interleaved, row-major, top row first; 16-bit PNGs are read as 8-bit (the high
 * byte of each sample, as stb_image's stbi_load does). Sizes are checked from the header before
 * decoding: over NST_IMAGE_MAX_SIDE pixels a side or NST_IMAGE_MAX_PIXELS in all, or more than the
 * 1 GiB stb_image decodes, is refused with NST_ERR_TOO_LARGE; a zero size, a corrupt or truncated
 * file is NST_ERR_FORMAT (a PNG's truncation is always seen; a BMP, TGA or JPEG is refused when
 * far too short for its size at its format's densest coding, a shorter cut loads with the missing
 * pixels as stb_image fills them); a missing or unreadable file NST_ERR_IO. Messages name the
 * file. JPEGs are returned upright: the EXIF Orientation tag (1..8, in the first APP1 Exif
 * segment, either byte order) is applied to the pixels as PIL's ImageOps.exif_transpose does, and
 * probe reports the upright size; other formats, and JPEGs without a valid tag, come back as
 * stored. Every write goes to a temporary file "<path>.tmp-XXXXXX" in the target's folder, is
 * fsync'ed and renamed over the target, so a failure never leaves a half-written image and an
 * existing target stays intact. Implemented in src/host/image.c; tested by tests/test_image.c
 * (files), tests/test_image_exif.c (orientation), tests/test_image_stb.c (the guards in front of
 * stb_image) and tests/test_image_resize.c (resizing, float conversions); fuzzed by
 * fuzz/fuzz_image.c (docs/fuzzing.md). */
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
 * the grey value; grey from RGB is stb_image's BT.601 luma (77 R + 150 G + 29 B) >> 8; added
 * alpha is 255; dropping alpha composites nothing, it just drops it). On failure *out is zeroed. */
nst_status nst_image_load(nst_ctx *ctx, const char *path, int want_channels, nst_image *out);
/* Reads only the header: size and channels as stored, no decoding. Applies the same checks as
 * nst_image_load, so a file that probes fine fails to load only when its pixel data is corrupt. */
nst_status nst_image_probe(nst_ctx *ctx, const char *path, int *width, int *height, int *channels);
/* Writes PNG (.png) or JPEG (.jpg/.jpeg, quality 1..100; 0 = 95; extensions in any case)
 * atomically; any other extension is NST_ERR_INVALID_ARG. PNG keeps 1..4 channels exactly;
 * JPEG (baseline, 4:2:0 chroma below quality 91) always stores 3 channels: grey is written as
 * equal R, G, B and alpha is dropped. A new file gets 0666 less the umask; a replaced one keeps
 * its permissions. */
nst_status nst_image_save(nst_ctx *ctx, const char *path, const nst_image *img, int jpeg_quality);
void nst_image_free(nst_image *img);

/* Resizes to (width, height), each 1..NST_IMAGE_MAX_SIDE, with stb_image_resize v1
 * (stbir_resize_uint8_generic): separable Catmull-Rom cubic (Keys' cubic with a = -0.5, the
 * kernel of PIL's BICUBIC, though PIL rounds to 8 bits between its two passes and this does
 * not); output pixel j is centred at (j + 0.5) * in / out - 0.5 in the input (pixel centres
 * aligned, align_corners=False); edges clamped; the 8-bit values filtered as they are (no sRGB
 * decoding) in float, then rounded to nearest and clamped. When shrinking, the kernel is
 * widened by in/out (antialiased: support 2 * in/out input pixels each side); weights are
 * normalised to sum 1. With alpha (2 or 4 channels) the colour is weighted by alpha while
 * filtering, so transparent pixels do not bleed. out must be a different image from in;
 * out->data is allocated. */
nst_status nst_image_resize(nst_ctx *ctx, const nst_image *in, int width, int height,
                            nst_image *out);

/* Conversions between 8-bit images and float (H, W, C) in [0, 1]: out[i] = data[i] / 255,
 * out holds width * height * channels floats. */
nst_status nst_image_to_float(nst_ctx *ctx, const nst_image *img, float *out);
/* data = round(clamp(in, 0, 1) * 255), halves rounded up; NaN gives 0. out->data is allocated. */
nst_status nst_image_from_float(nst_ctx *ctx, const float *in, int width, int height,
                                int channels, nst_image *out);

#ifdef __cplusplus
}
#endif
#endif
