/* libFuzzer target: the image reader (src/host/image.c: PNG IHDR and JPEG marker sniffing, the
 * EXIF orientation walk, the size caps, the JPEG Huffman-table guard, then stb_image's PNG, JPEG,
 * BMP and TGA decoders) on arbitrary file contents, through the public API
 * (include/nstyle/image.h). Each input is written to a scratch file, probed, then loaded with
 * want_channels = size % 5 (0 = as stored). Besides crashes, leaks and undefined behaviour it
 * checks image.h's promises: a refusal is NST_ERR_FORMAT or NST_ERR_TOO_LARGE naming the file,
 * with *out zeroed; a file that fails to probe fails to load; one that probes fails to load only
 * when its data is corrupt (NST_ERR_FORMAT) or more channels than stored take it past 1 GiB; a
 * loaded image has the probed (upright) size, the channels asked for (or the stored ones), and
 * fits the caps. Run by fuzz/run.sh image N; seeds in fuzz/corpus/image. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "nstyle/image.h"

static void check_refusal(nst_status s, const char *path) {
    fuzz_require(s == NST_ERR_FORMAT || s == NST_ERR_TOO_LARGE,
                 "a refusal that is neither NST_ERR_FORMAT nor NST_ERR_TOO_LARGE");
    fuzz_require(strstr(fuzz_last_error(), path) != NULL, "a message not naming the file");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_scratch(data, size);
    const int want = (int)(size % 5);
    int w = 0, h = 0, c = 0;
    const nst_status probed = nst_image_probe(fuzz_ctx(), path, &w, &h, &c);
    if (probed != NST_OK)
        check_refusal(probed, path);
    else
        fuzz_require(w >= 1 && h >= 1 && w <= NST_IMAGE_MAX_SIDE && h <= NST_IMAGE_MAX_SIDE &&
                         (long long)w * h <= NST_IMAGE_MAX_PIXELS && c >= 1 && c <= 4,
                     "probe reported a size or channel count outside the caps");

    nst_image img = {7, 7, 7, (uint8_t *)&img}; /* load must zero it on failure */
    const nst_status s = nst_image_load(fuzz_ctx(), path, want, &img);
    if (s != NST_OK) {
        check_refusal(s, path);
        fuzz_require(img.data == NULL && img.width == 0 && img.height == 0 && img.channels == 0,
                     "a refused load left *out set");
        /* past a probe, only corrupt data, or more channels asked than stored, stop a load */
        fuzz_require(probed != NST_OK || s == NST_ERR_FORMAT || want > c,
                     "a probed file too large to load at its own channel count");
        return 0;
    }
    fuzz_require(probed == NST_OK, "a file that does not probe loaded");
    fuzz_require(img.width == w && img.height == h, "loaded size differs from the probed one");
    fuzz_require(img.channels == (want ? want : c), "loaded channels are not the ones asked for");
    /* touch every pixel, so ASan sees a buffer shorter than its size */
    const size_t n = (size_t)img.width * (size_t)img.height * (size_t)img.channels;
    size_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += img.data[i];
    fuzz_require(sum <= 255 * n, "pixel sum out of range");
    nst_image_free(&img);
    return 0;
}
