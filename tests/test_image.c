/* Image I/O (src/host/image.c): PNG round trips bit-exact for 1..4 channels, JPEG within a
 * stated error, BMP (top-down too)/TGA/16-bit PNG read, channel conversion, the real photos in
 * ../shared/data, refusal of corrupt, truncated, empty, huge (crafted headers, sides up to
 * 2^32 - 1) and missing files with the right status, and atomic saves. Inputs are made here
 * (stb_image_write, or PNG bytes built by hand). Resizing and the float conversions:
 * tests/test_image_resize.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "test_files.h"
#include "test_images.h"
#include "test_support.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static char *path_in(const char *dir, const char *name) {
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* ---- PNG bytes built by hand: chunks with real CRCs, IDAT as zlib stored blocks ----------- */

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint8_t *put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t n) {
    p = put_be32(p, n);
    memcpy(p, type, 4);
    if (n)
        memcpy(p + 4, data, n);
    p = put_be32(p + 4 + n, crc32_of(p, 4 + (size_t)n));
    return p;
}

/* Writes a PNG of the given header; raw (filter byte + samples per row) goes into one IDAT
 * unless NULL, in which case the file is header and IEND only. */
static void write_png(const char *path, uint32_t w, uint32_t h, int depth, int type,
                      const uint8_t *raw, size_t raw_n) {
    uint8_t *buf = malloc(raw_n + raw_n / 65535 * 5 + 128), *p = buf;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(p, sig, 8);
    p += 8;
    uint8_t ihdr[13] = {0};
    put_be32(put_be32(ihdr, w), h);
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)type;
    p = put_chunk(p, "IHDR", ihdr, 13);
    if (raw) {
        uint8_t *z = malloc(raw_n + raw_n / 65535 * 5 + 16), *q = z;
        *q++ = 0x78, *q++ = 0x01;
        uint32_t a = 1, b = 0; /* adler32 */
        for (size_t off = 0; off < raw_n || off == 0; ) {
            size_t len = raw_n - off > 65535 ? 65535 : raw_n - off;
            *q++ = off + len == raw_n; /* BFINAL, stored */
            *q++ = (uint8_t)len, *q++ = (uint8_t)(len >> 8);
            *q++ = (uint8_t)~len, *q++ = (uint8_t)(~len >> 8);
            memcpy(q, raw + off, len);
            q += len;
            off += len;
            if (len == 0)
                break;
        }
        for (size_t i = 0; i < raw_n; i++)
            a = (a + raw[i]) % 65521, b = (b + a) % 65521;
        q = put_be32(q, b << 16 | a);
        p = put_chunk(p, "IDAT", z, (uint32_t)(q - z));
        free(z);
    }
    p = put_chunk(p, "IEND", NULL, 0);
    nst_test_write_bytes(path, buf, (size_t)(p - buf));
    free(buf);
}

Test(image_helpers, crc32_matches_the_png_iend_crc) {
    /* Every PNG ends with IEND and the CRC AE 42 60 82: checks the helper the crafted files use. */
    cr_assert_eq(crc32_of((const uint8_t *)"IEND", 4), 0xAE426082u);
}

/* ---- round trips and formats ------------------------------------------------------------- */

Test(image_io, png_round_trip_is_bit_exact_for_1_to_4_channels) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (int c = 1; c <= 4; c++) {
        nst_image src = nst_test_image_random(13, 7, c, 100 + c), got = {0};
        const char *p = path_in(dir, c % 2 ? "odd.png" : "EVEN.PNG"); /* extension in any case */
        cr_assert_eq(nst_image_save(ctx, p, &src, 0), NST_OK, "%s", nst_last_error(ctx));
        int w, h, ch;
        cr_assert_eq(nst_image_probe(ctx, p, &w, &h, &ch), NST_OK, "%s", nst_last_error(ctx));
        cr_assert(w == 13 && h == 7 && ch == c, "probe: %dx%dx%d", w, h, ch);
        cr_assert_eq(nst_image_load(ctx, p, 0, &got), NST_OK, "%s", nst_last_error(ctx));
        nst_test_assert_same_pixels(&got, &src, "png round trip"); /* PNG is lossless: exact */
        nst_image_free(&got);
        nst_image_free(&src);
    }
    nst_ctx_destroy(ctx);
}

/* A smooth 64x48 RGB gradient: JPEG at quality 95 must come back close. */
Test(image_io, jpeg_round_trip_within_tolerance) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image src = nst_test_image_new(64, 48, 3), got = {0};
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *px = src.data + ((size_t)y * 64 + x) * 3;
            px[0] = (uint8_t)(x * 4), px[1] = (uint8_t)(y * 5), px[2] = (uint8_t)(128 + x - y);
        }
    const char *names[] = {"g.jpg", "g.JPEG"};
    for (int k = 0; k < 2; k++) {
        const char *p = path_in(dir, names[k]);
        cr_assert_eq(nst_image_save(ctx, p, &src, 95), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(nst_image_load(ctx, p, 0, &got), NST_OK, "%s", nst_last_error(ctx));
        cr_assert(got.width == 64 && got.height == 48 && got.channels == 3);
        int worst;
        double mean = nst_test_image_mean_abs_diff(&got, &src, &worst);
        /* JPEG is lossy: at quality 95 this gradient comes back with a mean error of 0.5 and
         * at most 2 levels; 1.5 (mean) and 8 (worst) leave room for encoder changes, not for a
         * wrong image (a one-pixel shift alone gives a mean error above 3). */
        cr_assert_lt(mean, 1.5, "mean abs error %.3f", mean);
        cr_assert_leq(worst, 8, "max abs error %d", worst);
        nst_image_free(&got);
    }
    nst_image_free(&src);
    nst_ctx_destroy(ctx);
}

Test(image_io, bmp_and_tga_read_equal_the_source) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (int c = 1; c <= 4; c++) {
        nst_image src = nst_test_image_random(11, 5, c, 200 + c), got = {0};
        const char *tga = path_in(dir, "x.tga"), *bmp = path_in(dir, "x.bmp");
        cr_assert(stbi_write_tga(tga, 11, 5, c, src.data));
        cr_assert_eq(nst_image_load(ctx, tga, c, &got), NST_OK, "%s", nst_last_error(ctx));
        nst_test_assert_same_pixels(&got, &src, "tga");
        nst_image_free(&got);
        /* BMP holds 24-bit colour or 32-bit with alpha: grey comes back as equal R, G, B and
         * luma (77+150+29)g >> 8 = g; grey+alpha is stored as colour with alpha. */
        if (c != 2) {
            cr_assert(stbi_write_bmp(bmp, 11, 5, c, src.data));
            cr_assert_eq(nst_image_load(ctx, bmp, c, &got), NST_OK, "%s", nst_last_error(ctx));
            nst_test_assert_same_pixels(&got, &src, "bmp");
            nst_image_free(&got);
        }
        nst_image_free(&src);
    }
    nst_ctx_destroy(ctx);
}

/* Found by the fuzz corpus's seeds (fuzz/corpus/image/bmp24_top_down.bmp): a BMP stored top-down
 * (negative height in its header, a layout BMP allows) was refused as "a zero size (17x-9)",
 * stb_image's stbi_info reporting the height as stored. It loads upright, probed and loaded. */
Test(image_io, top_down_bmp_loads_upright) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image src = nst_test_image_random(11, 5, 3, 77), got = {0};
    const char *bmp = path_in(dir, "down.bmp");
    cr_assert(stbi_write_bmp(bmp, 11, 5, 3, src.data));
    size_t n;
    uint8_t *b = nst_test_read_bytes(bmp, &n);
    int32_t h = -5; /* BITMAPINFOHEADER height at byte 22: the bottom-up rows now read top-down */
    memcpy(b + 22, &h, 4);
    nst_test_write_bytes(bmp, b, n);
    free(b);
    int pw, ph, pc;
    cr_assert_eq(nst_image_probe(ctx, bmp, &pw, &ph, &pc), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(pw == 11 && ph == 5 && pc == 3, "probe: %dx%d, %d channels", pw, ph, pc);
    cr_assert_eq(nst_image_load(ctx, bmp, 0, &got), NST_OK, "%s", nst_last_error(ctx));
    nst_image flipped = nst_test_image_new(11, 5, 3);
    for (int y = 0; y < 5; y++)
        memcpy(flipped.data + y * 33, src.data + (4 - y) * 33, 33);
    nst_test_assert_same_pixels(&got, &flipped, "top-down bmp");
    nst_image_free(&got);
    nst_image_free(&flipped);
    nst_image_free(&src);
    nst_ctx_destroy(ctx);
}

Test(image_io, png_16_bit_loads_as_the_high_bytes) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    enum { W = 3, H = 2, ROW = 1 + W * 3 * 2 };
    uint8_t raw[H * ROW];
    for (int y = 0; y < H; y++) {
        raw[y * ROW] = 0; /* filter: none */
        for (int i = 0; i < W * 3; i++) {
            raw[y * ROW + 1 + 2 * i] = (uint8_t)(20 * y + 7 * i + 3); /* high byte */
            raw[y * ROW + 2 + 2 * i] = (uint8_t)(255 - i);             /* low byte */
        }
    }
    const char *p = path_in(dir, "deep.png");
    write_png(p, W, H, 16, 2, raw, sizeof raw);
    nst_image got = {0};
    cr_assert_eq(nst_image_load(ctx, p, 0, &got), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(got.width == W && got.height == H && got.channels == 3);
    for (int y = 0; y < H; y++)
        for (int i = 0; i < W * 3; i++)
            cr_assert_eq(got.data[y * W * 3 + i], 20 * y + 7 * i + 3, "sample %d,%d", y, i);
    nst_image_free(&got);
    nst_ctx_destroy(ctx);
}

Test(image_io, want_channels_converts) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image rgba = nst_test_image_random(9, 4, 4, 7), got = {0};
    const char *p = path_in(dir, "c.png");
    cr_assert_eq(nst_image_save(ctx, p, &rgba, 0), NST_OK, "%s", nst_last_error(ctx));
    for (int want = 1; want <= 3; want++) {
        cr_assert_eq(nst_image_load(ctx, p, want, &got), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(got.channels, want);
        for (int i = 0; i < 9 * 4; i++) {
            const uint8_t *s = rgba.data + 4 * i, *g = got.data + want * i;
            int luma = (77 * s[0] + 150 * s[1] + 29 * s[2]) >> 8; /* BT.601, 8-bit fixed point */
            int expect[3][2] = {{luma, 0}, {luma, s[3]}, {s[0], s[1]}};
            cr_assert_eq(g[0], expect[want - 1][0], "want %d pixel %d", want, i);
            cr_assert_eq(g[1 % want], want == 1 ? luma : expect[want - 1][1]);
            if (want == 3)
                cr_assert_eq(g[2], s[2]);
        }
        nst_image_free(&got);
    }
    nst_image grey = nst_test_image_random(5, 3, 1, 8);
    cr_assert_eq(nst_image_save(ctx, p, &grey, 0), NST_OK);
    cr_assert_eq(nst_image_load(ctx, p, 4, &got), NST_OK, "%s", nst_last_error(ctx));
    for (int i = 0; i < 15; i++) /* grey repeated, opaque alpha added */
        cr_assert(got.data[4 * i] == grey.data[i] && got.data[4 * i + 1] == grey.data[i] &&
                  got.data[4 * i + 2] == grey.data[i] && got.data[4 * i + 3] == 255);
    nst_image_free(&got);
    nst_image_free(&grey);
    nst_image_free(&rgba);
    nst_ctx_destroy(ctx);
}

static void check_photo(const char *rel, int w, int h) {
    char path[4096];
    if (!nst_test_shared_path(rel, path, sizeof path))
        cr_skip_test("%s not found: the shared data folder (../shared/data next to the "
                     "checkout, or $NST_SHARED_DATA) is absent or lacks it", rel);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, path, 0, &img), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(img.width == w && img.height == h && img.channels == 3, "%s: %dx%dx%d", rel,
              img.width, img.height, img.channels);
    int lo = 255, hi = 0; /* a photo, not a blank decode */
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        lo = img.data[i] < lo ? img.data[i] : lo, hi = img.data[i] > hi ? img.data[i] : hi;
    cr_assert_gt(hi - lo, 100, "%s: values span only %d..%d", rel, lo, hi);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

Test(image_io, real_photo_astronaut) { check_photo("images/content/astronaut.png", 512, 512); }
Test(image_io, real_photo_chelsea) { check_photo("images/content/chelsea.png", 451, 300); }
Test(image_io, real_photo_rocket_jpeg) { check_photo("images/content/rocket.jpg", 640, 427); }

/* ---- refusals ------------------------------------------------------------------------------ */

/* load must fail with `want` and a message naming the file (and holding in_msg); probe reads
 * only the header, so it fails the same way unless the damage is in the pixel data. */
static void expect_refusal_probe(nst_ctx *ctx, const char *path, nst_status want,
                                 const char *in_msg, nst_status probe_want) {
    nst_image img = {1, 1, 1, NULL};
    nst_status s = nst_image_load(ctx, path, 0, &img);
    cr_assert_eq(s, want, "%s: got %s: %s", path, nst_status_name(s), nst_last_error(ctx));
    cr_assert(img.data == NULL && img.width == 0, "out not cleared on failure");
    cr_assert(strstr(nst_last_error(ctx), path), "message does not name the file: %s",
              nst_last_error(ctx));
    if (in_msg)
        cr_assert(strstr(nst_last_error(ctx), in_msg), "message lacks '%s': %s", in_msg,
                  nst_last_error(ctx));
    int w, h, c;
    cr_assert_eq(nst_image_probe(ctx, path, &w, &h, &c), probe_want, "probe %s", path);
}

static void expect_refusal(nst_ctx *ctx, const char *path, nst_status want, const char *in_msg) {
    expect_refusal_probe(ctx, path, want, in_msg, want);
}

Test(image_refuse, corrupt_and_truncated_and_empty_are_format_errors) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(5);
    uint8_t junk[512] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    for (size_t i = 8; i < sizeof junk; i++)
        junk[i] = (uint8_t)nst_test_rng_next(&r);
    const char *p = path_in(dir, "junk.png");
    nst_test_write_bytes(p, junk, sizeof junk);
    expect_refusal(ctx, p, NST_ERR_FORMAT, NULL);

    uint8_t raw[8 * (1 + 8 * 3)]; /* a valid header, then an IDAT whose zlib header is broken */
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)nst_test_rng_next(&r);
    write_png(p, 8, 8, 8, 2, raw, sizeof raw);
    size_t n;
    uint8_t *bytes = nst_test_read_bytes(p, &n);
    bytes[41] ^= 0xFF, bytes[42] ^= 0xFF; /* the zlib header bytes after IDAT's tag */
    nst_test_write_bytes(p, bytes, n);
    free(bytes);
    expect_refusal_probe(ctx, p, NST_ERR_FORMAT, "stb_image", NST_OK);

    nst_image src = nst_test_image_random(64, 64, 3, 9);
    const char *full = path_in(dir, "full.png"), *cut = path_in(dir, "cut.png");
    cr_assert_eq(nst_image_save(ctx, full, &src, 0), NST_OK);
    bytes = nst_test_read_bytes(full, &n);
    nst_test_write_bytes(cut, bytes, n / 2);
    free(bytes);
    expect_refusal_probe(ctx, cut, NST_ERR_FORMAT, "stb_image", NST_OK);
    nst_image_free(&src);

    const char *empty = path_in(dir, "empty.png");
    nst_test_write_bytes(empty, "", 0);
    expect_refusal(ctx, empty, NST_ERR_FORMAT, "empty");
    const char *gif = path_in(dir, "a.gif"); /* formats other than PNG/JPEG/BMP/TGA */
    nst_test_write_bytes(gif, "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
    expect_refusal(ctx, gif, NST_ERR_FORMAT, NULL);
    const char *zero = path_in(dir, "zero.png");
    write_png(zero, 0, 10, 8, 2, NULL, 0);
    expect_refusal(ctx, zero, NST_ERR_FORMAT, "0x10");
    nst_ctx_destroy(ctx);
}

/* Headers claiming huge images, with no pixel data at all: TOO_LARGE (not FORMAT) shows they
 * were refused from the header, before any decoding or allocation. */
Test(image_refuse, huge_headers_are_too_large_before_decoding) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    const char *p = path_in(dir, "wide.png");
    write_png(p, 40000, 10, 8, 2, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "40000x10");
    p = path_in(dir, "huge.png");
    write_png(p, 25000, 25000, 8, 6, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "25000x25000");
    /* within nstyle's limits (400M pixels) but over the 1 GiB stb_image decodes */
    p = path_in(dir, "big.png");
    write_png(p, 20000, 20000, 8, 2, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "1 GiB");

    /* A real JPEG and BMP with their size fields patched. */
    nst_image src = nst_test_image_random(16, 8, 3, 3);
    const char *jpg = path_in(dir, "big.jpg"), *bmp = path_in(dir, "big.bmp");
    cr_assert(stbi_write_jpg(jpg, 16, 8, 3, src.data, 90));
    size_t n;
    uint8_t *b = nst_test_read_bytes(jpg, &n);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (b[i] == 0xFF && b[i + 1] == 0xC0)
            sof = i;
    cr_assert_gt(sof, 0u, "no SOF0 in the JPEG");
    b[sof + 5] = 25000 >> 8, b[sof + 6] = 25000 & 255, b[sof + 7] = 25000 >> 8;
    b[sof + 8] = 25000 & 255;
    nst_test_write_bytes(jpg, b, n);
    free(b);
    expect_refusal(ctx, jpg, NST_ERR_TOO_LARGE, "25000x25000");
    cr_assert(stbi_write_bmp(bmp, 16, 8, 3, src.data));
    b = nst_test_read_bytes(bmp, &n);
    b[18] = 40000 & 255, b[19] = 40000 >> 8; /* BITMAPINFOHEADER width, little-endian */
    nst_test_write_bytes(bmp, b, n);
    free(b);
    expect_refusal(ctx, bmp, NST_ERR_TOO_LARGE, "40000x8");
    nst_image_free(&src);
    nst_ctx_destroy(ctx);
}

/* Which limit governs (docs/fuzzing.md): 8-bit RGBA reaches stb_image's 1 GiB before 400
 * megapixels, and 16384 x 16384 x 4 is exactly 2^30 bytes, still allowed; one row more is over.
 * Grey stops at 400 megapixels first (30000 x 13334 is 400,020,000), and a side at 30000. */
Test(image_refuse, which_limit_governs_at_its_edge) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    const char *p = path_in(dir, "edge.png");
    int w, h, c;
    write_png(p, 16384, 16384, 8, 6, NULL, 0);
    cr_assert_eq(nst_image_probe(ctx, p, &w, &h, &c), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(w == 16384 && h == 16384 && c == 4);
    write_png(p, 16384, 16385, 8, 6, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "1 GiB");
    write_png(p, 30000, 13333, 8, 0, NULL, 0);
    cr_assert_eq(nst_image_probe(ctx, p, &w, &h, &c), NST_OK, "%s", nst_last_error(ctx));
    write_png(p, 30000, 13334, 8, 0, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "over the limit of 400000000 pixels");
    write_png(p, 30001, 1, 8, 0, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "over the limit of 30000 pixels a side");
    nst_ctx_destroy(ctx);
}

/* Found by fuzzing (fuzz/fuzz_image.c): a PNG header's sides are 32-bit, and the bytes to decode
 * were computed as w * h * channels before the sides were checked, a signed overflow (undefined
 * behaviour, caught by the sanitize build's UBSan) for sides past about 2^31. */
Test(image_refuse, sides_near_2_pow_32_are_too_large_without_overflow) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    const char *p = path_in(dir, "vast.png");
    write_png(p, 3267498504u, 2894638196u, 16, 6, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "3267498504x2894638196");
    write_png(p, 0xFFFFFFFFu, 0xFFFFFFFFu, 8, 2, NULL, 0);
    expect_refusal(ctx, p, NST_ERR_TOO_LARGE, "4294967295x4294967295");
    nst_ctx_destroy(ctx);
}

Test(image_refuse, missing_file_and_directory_are_io_errors) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    expect_refusal(ctx, path_in(dir, "no-such.png"), NST_ERR_IO, "No such file");
    expect_refusal(ctx, dir, NST_ERR_IO, NULL);
    nst_image img;
    cr_assert_eq(nst_image_load(ctx, path_in(dir, "x.png"), 5, &img), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_image_load(ctx, NULL, 0, &img), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}

/* ---- atomic saves --------------------------------------------------------------------------- */

Test(image_save, missing_folder_fails_and_leaves_nothing) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(4, 4, 3, 1);
    const char *p = path_in(dir, "nope/out.png");
    cr_assert_eq(nst_image_save(ctx, p, &img, 0), NST_ERR_IO, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), p), "%s", nst_last_error(ctx));
    int tmp;
    cr_assert_eq(nst_test_count_entries(dir, &tmp), 0, "something was left in %s", dir);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

Test(image_save, failed_saves_keep_the_existing_target) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(6, 5, 3, 2);
    /* refused extension */
    const char *gif = path_in(dir, "keep.gif");
    nst_test_write_bytes(gif, "old", 3);
    cr_assert_eq(nst_image_save(ctx, gif, &img, 0), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), ".gif"), "%s", nst_last_error(ctx));
    cr_assert_eq(nst_image_save(ctx, path_in(dir, "noext"), &img, 0), NST_ERR_INVALID_ARG);
    /* refused image arguments */
    nst_image bad = img;
    bad.channels = 5;
    cr_assert_eq(nst_image_save(ctx, path_in(dir, "a.png"), &bad, 0), NST_ERR_INVALID_ARG);
    bad = img, bad.width = 0;
    cr_assert_eq(nst_image_save(ctx, path_in(dir, "a.png"), &bad, 0), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_image_save(ctx, path_in(dir, "a.jpg"), &img, 101), NST_ERR_INVALID_ARG);
    /* a failure after the temporary file was written: the rename onto a non-empty folder */
    char folder[4096], inside[4200];
    snprintf(folder, sizeof folder, "%s/taken.png", dir);
    snprintf(inside, sizeof inside, "%s/inside", folder);
    cr_assert_eq(mkdir(folder, 0755), 0);
    nst_test_write_bytes(inside, "x", 1);
    cr_assert_eq(nst_image_save(ctx, folder, &img, 0), NST_ERR_IO, "%s", nst_last_error(ctx));
    size_t n;
    uint8_t *b = nst_test_read_bytes(gif, &n);
    cr_assert(n == 3 && memcmp(b, "old", 3) == 0, "the existing target changed");
    free(b);
    int tmp;
    cr_assert_eq(nst_test_count_entries(dir, &tmp), 2, "only keep.gif and taken.png should exist");
    cr_assert_eq(tmp, 0, "a temporary file was left behind");
    cr_assert_eq(nst_test_count_entries(folder, &tmp), 1);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

Test(image_save, success_replaces_target_and_leaves_no_temporaries) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(7, 3, 4, 3), got = {0};
    const char *p = path_in(dir, "t.png");
    nst_test_write_bytes(p, "old", 3);
    cr_assert_eq(chmod(p, 0640), 0);
    cr_assert_eq(nst_image_save(ctx, p, &img, 0), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_image_save(ctx, path_in(dir, "t.jpg"), &img, 80), NST_OK);
    cr_assert_eq(nst_image_load(ctx, p, 0, &got), NST_OK, "%s", nst_last_error(ctx));
    nst_test_assert_same_pixels(&got, &img, "replaced target");
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640, "a replaced file keeps its permissions");
    mode_t mask = umask(022);
    umask(mask);
    cr_assert_eq(stat(path_in(dir, "t.jpg"), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~mask, "a new file gets 0666 less the umask");
    int tmp;
    cr_assert_eq(nst_test_count_entries(dir, &tmp), 2);
    cr_assert_eq(tmp, 0, "a temporary file was left behind");
    nst_image_free(&got);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}
