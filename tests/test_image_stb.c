/* The guards src/host/image.c puts in front of Debian's stb_image v2.27 (a 2022 snapshot, older
 * than upstream's fixes), one reproducer per crash the fuzzer found inside stb
 * (fuzz/fuzz_image.c; docs/fuzzing.md): each builds the damaged file from a good one made here
 * with stb_image_write and checks that nstyle refuses it with NST_ERR_FORMAT naming the file and
 * the problem, before stb reads the damage. Without the guards these inputs write and read out of
 * bounds inside stb (the sanitize build's ASan and UBSan stop the test) or decode with
 * uninitialised memory; the good files, and every seed of the fuzz corpus (fuzz/corpus/image:
 * PNG, BMP, TGA and baseline, progressive, grey and restart-marker JPEGs), still load. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "test_files.h"
#include "test_images.h"
#include "test_support.h"

/* A good 24x16 RGB JPEG as bytes (stb_image_write: SOI, APP0, DQT, SOF0, DHT, SOS, EOI). */
static uint8_t *good_jpeg(const char *dir, size_t *n) {
    char path[512];
    snprintf(path, sizeof path, "%s/good.jpg", dir);
    nst_image src = nst_test_image_random(24, 16, 3, 11);
    cr_assert(stbi_write_jpg(path, 24, 16, 3, src.data, 90));
    nst_image_free(&src);
    return nst_test_read_bytes(path, n);
}

/* Offset of the first marker segment of this type (the 0xFF), 0 when there is none. */
static size_t find_marker(const uint8_t *b, size_t n, uint8_t marker) {
    for (size_t i = 2; i + 1 < n; i++)
        if (b[i] == 0xFF && b[i + 1] == marker)
            return i;
    return 0;
}

static void expect_format_error(nst_ctx *ctx, const char *path, const char *in_msg) {
    nst_image img = {1, 1, 1, NULL};
    nst_status s = nst_image_load(ctx, path, 0, &img);
    cr_assert_eq(s, NST_ERR_FORMAT, "%s: got %s: %s", path, nst_status_name(s),
                 nst_last_error(ctx));
    cr_assert(img.data == NULL && img.width == 0, "out not cleared on failure");
    cr_assert(strstr(nst_last_error(ctx), path), "message does not name the file: %s",
              nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), in_msg), "message lacks '%s': %s", in_msg,
              nst_last_error(ctx));
}

/* stb_image v2.27 does not check that a DHT table's 16 code-length counts add up to at most 256
 * (upstream v2.28 does): found as an out-of-bounds write in stbi__build_huffman, then a read in
 * stbi__jpeg_huff_decode. A DHT after the frame header is read only by a load (probe passes); one
 * before it already by stbi_info, so probe refuses too. */
Test(image_stb, jpeg_huffman_table_of_more_than_256_codes_is_refused) {
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    size_t n;
    uint8_t *b = good_jpeg(dir, &n);
    snprintf(path, sizeof path, "%s/good.jpg", dir);
    nst_image img;
    cr_assert_eq(nst_image_load(ctx, path, 0, &img), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);

    const size_t dht = find_marker(b, n, 0xC4);
    cr_assert(dht > find_marker(b, n, 0xC0), "stb_image_write put DHT before SOF0");
    uint8_t *bad = malloc(n);
    memcpy(bad, b, n);
    for (int i = 0; i < 16; i++) /* first table: 16 x 20 = 320 codes */
        bad[dht + 5 + i] = 20;
    snprintf(path, sizeof path, "%s/dht_after_sof.jpg", dir);
    nst_test_write_bytes(path, bad, n);
    expect_format_error(ctx, path, "has 320 codes, more than the 256");
    int w, h, c;
    cr_assert_eq(nst_image_probe(ctx, path, &w, &h, &c), NST_OK, "%s", nst_last_error(ctx));

    /* the same table as a segment of its own right after SOI, before anything else */
    const uint8_t seg[4 + 17] = {0xFF, 0xC4, 0x00, 19, 0x00, 255, 255};
    uint8_t *early = malloc(n + sizeof seg);
    memcpy(early, b, 2);
    memcpy(early + 2, seg, sizeof seg);
    memcpy(early + 2 + sizeof seg, b + 2, n - 2);
    snprintf(path, sizeof path, "%s/dht_first.jpg", dir);
    nst_test_write_bytes(path, early, n + sizeof seg);
    expect_format_error(ctx, path, "DHT segment at byte 2 has 510 codes");
    cr_assert_eq(nst_image_probe(ctx, path, &w, &h, &c), NST_ERR_FORMAT);

    /* fill bytes before SOI: stb_image still reads the file as a JPEG, so the guard does too */
    uint8_t *filled = malloc(n + sizeof seg + 1);
    filled[0] = 0xFF;
    memcpy(filled + 1, early, n + sizeof seg);
    snprintf(path, sizeof path, "%s/fill_before_soi.jpg", dir);
    nst_test_write_bytes(path, filled, n + sizeof seg + 1);
    expect_format_error(ctx, path, "has 510 codes");
    free(filled);
    free(early);
    free(bad);
    free(b);
    nst_ctx_destroy(ctx);
}

/* stb_image v2.27 mallocs its decoder state without clearing it, so a scan using a Huffman table
 * that no DHT segment defined decodes with leftover memory: found by the fuzzer as reads far out
 * of bounds (a heap-use-after-free, the leftovers being a freed decoder's) in
 * stbi__jpeg_huff_decode. */
Test(image_stb, jpeg_scan_using_an_undefined_huffman_table_is_refused) {
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    size_t n;
    uint8_t *b = good_jpeg(dir, &n);
    const size_t sos = find_marker(b, n, 0xDA);
    cr_assert_gt(sos, 0u, "no SOS in the JPEG");
    cr_assert_eq(b[sos + 4], 3, "stb_image_write's scan has 3 components");
    b[sos + 6] = 0x03; /* the first component: DC table 0, AC table 3, which no DHT defines */
    snprintf(path, sizeof path, "%s/undefined_table.jpg", dir);
    nst_test_write_bytes(path, b, n);
    char want[128];
    snprintf(want, sizeof want, "the scan at byte %zu uses the AC Huffman table 3", sos);
    expect_format_error(ctx, path, want);
    b[sos + 6] = 0x20; /* DC table 2 */
    nst_test_write_bytes(path, b, n);
    expect_format_error(ctx, path, "uses the DC Huffman table 2, which no DHT segment");
    free(b);
    nst_ctx_destroy(ctx);
}

Test(image_stb, every_seed_of_the_fuzz_corpus_loads) {
    const char *folder = NST_SOURCE_DIR "/fuzz/corpus/image";
    DIR *d = opendir(folder);
    cr_assert_not_null(d, "cannot list %s", folder);
    nst_ctx *ctx = nst_test_cpu_ctx();
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "finding-", 8) == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
        nst_image img;
        cr_assert_eq(nst_image_load(ctx, path, 0, &img), NST_OK, "%s", nst_last_error(ctx));
        cr_assert(img.width == 17 || img.width == 9, "%s: %dx%d", path, img.width, img.height);
        nst_image_free(&img);
        count++;
    }
    closedir(d);
    cr_assert_geq(count, 20, "only %d seeds in %s", count, folder);
    nst_ctx_destroy(ctx);
}

/* stb_image v2.27 reads a BMP, TGA or JPEG that ends early as if zeros followed: the fuzzer found
 * 23-byte TGA files "decoding" into 2304x8192 blank images, seconds per load. A file shorter than
 * its size needs at the densest coding its format has (BMP 8 pixels a byte, TGA 64 with RLE,
 * JPEG 512: one bit per 8x8 block) is refused as truncated, from its header. */
Test(image_stb, files_far_too_short_for_their_size_are_truncated) {
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image src = nst_test_image_random(16, 8, 3, 5);
    size_t n;
    int w, h, c;

    snprintf(path, sizeof path, "%s/t.tga", dir);
    cr_assert(stbi_write_tga(path, 16, 8, 3, src.data)); /* RLE */
    uint8_t *b = nst_test_read_bytes(path, &n);
    b[12] = 2304 & 255, b[13] = 2304 >> 8, b[14] = 8192 & 255, b[15] = 8192 >> 8;
    nst_test_write_bytes(path, b, n);
    free(b);
    expect_format_error(ctx, path, "cannot hold its 2304x8192 pixels");
    cr_assert_eq(nst_image_probe(ctx, path, &w, &h, &c), NST_ERR_FORMAT);

    snprintf(path, sizeof path, "%s/t.bmp", dir);
    cr_assert(stbi_write_bmp(path, 16, 8, 3, src.data));
    b = nst_test_read_bytes(path, &n);
    b[18] = 200, b[19] = 0, b[22] = 100, b[23] = 0; /* 200x100 in 438 bytes */
    nst_test_write_bytes(path, b, n);
    free(b);
    expect_format_error(ctx, path, "truncated");

    snprintf(path, sizeof path, "%s/t.jpg", dir);
    cr_assert(stbi_write_jpg(path, 16, 8, 3, src.data, 90));
    b = nst_test_read_bytes(path, &n);
    const size_t sof = find_marker(b, n, 0xC0);
    cr_assert_gt(sof, 0u, "no SOF0 in the JPEG");
    b[sof + 5] = 2000 >> 8, b[sof + 6] = 2000 & 255, b[sof + 7] = 2000 >> 8;
    b[sof + 8] = 2000 & 255;
    nst_test_write_bytes(path, b, n);
    free(b);
    expect_format_error(ctx, path, "cannot hold its 2000x2000 pixels");
    nst_image_free(&src);
    nst_ctx_destroy(ctx);
}
