/* JPEG EXIF orientation (src/host/image.c): a 32x16 JPEG of four solid quadrants (red, green,
 * blue, yellow; 8x8-block aligned, quality 100, so each decodes to its colour within a few
 * levels) is written with stb_image_write, then an APP1 Exif segment is spliced in after SOI
 * holding a TIFF header in either byte order with IFD0's Orientation tag set to 1..8 (after
 * another tag, so the entry walk is exercised). nst_image_load must return the pixels upright:
 * each corner's colour is checked against a table written out by hand (the stored corner that
 * PIL's ImageOps.exif_transpose puts there), and the size is swapped for 5..8, as
 * nst_image_probe reports it. Values 0 and 9, truncated or garbage segments and XMP APP1
 * segments leave the image as stored. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "test_files.h"
#include "test_support.h"

enum { W = 32, H = 16 };
enum { RED, GREEN, BLUE, YELLOW };
static const uint8_t colours[4][3] = {{230, 20, 20}, {20, 220, 30}, {25, 30, 225}, {235, 225, 20}};

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void append(bytes *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 256;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void sink(void *user, void *data, int size) { append(user, data, (size_t)size); }

/* The stored JPEG: quadrants top-left red, top-right green, bottom-left blue, bottom-right
 * yellow. */
static bytes quadrant_jpeg(void) {
    uint8_t px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(px + (y * W + x) * 3, colours[(y >= H / 2) * 2 + (x >= W / 2)], 3);
    bytes b = {0};
    cr_assert(stbi_write_jpg_to_func(sink, &b, W, H, 3, px, 100));
    cr_assert(b.n > 4 && b.p[0] == 0xFF && b.p[1] == 0xD8);
    return b;
}

static void put16(uint8_t *p, unsigned v, bool le) {
    p[le ? 0 : 1] = (uint8_t)v;
    p[le ? 1 : 0] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, unsigned long v, bool le) {
    put16(p + (le ? 0 : 2), (unsigned)(v & 0xFFFF), le);
    put16(p + (le ? 2 : 0), (unsigned)(v >> 16), le);
}

/* An Exif APP1 payload: TIFF header, IFD0 at offset 8 with a Make entry and then Orientation
 * (type SHORT, count 1) = orientation. */
static size_t exif_payload(uint8_t *p, int orientation, bool le) {
    memcpy(p, "Exif\0\0", 6);
    uint8_t *t = p + 6;
    memcpy(t, le ? "II*\0" : "MM\0*", 4);
    put32(t + 4, 8, le);
    put16(t + 8, 2, le);
    uint8_t *e = t + 10;
    put16(e, 0x010F, le), put16(e + 2, 2, le), put32(e + 4, 4, le), memcpy(e + 8, "nst", 4);
    e += 12;
    put16(e, 0x0112, le), put16(e + 2, 3, le), put32(e + 4, 1, le);
    put32(e + 8, 0, le);
    put16(e + 8, (unsigned)orientation, le);
    put32(e + 12, 0, le); /* no next IFD */
    return 6 + 10 + 24 + 4;
}

/* The JPEG with an APP1 segment holding payload (n bytes) spliced in after SOI, at path. */
static void write_with_app1(const char *path, const uint8_t *payload, size_t n) {
    bytes jpg = quadrant_jpeg(), out = {0};
    append(&out, jpg.p, 2);
    const uint8_t marker[4] = {0xFF, 0xE1, (uint8_t)((n + 2) >> 8), (uint8_t)(n + 2)};
    append(&out, marker, 4);
    append(&out, payload, n);
    append(&out, jpg.p + 2, jpg.n - 2);
    nst_test_write_bytes(path, out.p, out.n);
    free(jpg.p);
    free(out.p);
}

static void write_oriented(const char *path, int orientation, bool le) {
    uint8_t payload[128];
    write_with_app1(path, payload, exif_payload(payload, orientation, le));
}

/* Which stored quadrant lands at the upright image's top-left, top-right, bottom-left,
 * bottom-right corners for orientations 1..8. */
static const int corners[9][4] = {
    {0},
    {RED, GREEN, BLUE, YELLOW},   /* 1: as stored */
    {GREEN, RED, YELLOW, BLUE},   /* 2: mirrored left-right */
    {YELLOW, BLUE, GREEN, RED},   /* 3: rotated 180 */
    {BLUE, YELLOW, RED, GREEN},   /* 4: mirrored top-bottom */
    {RED, BLUE, GREEN, YELLOW},   /* 5: transposed */
    {BLUE, RED, YELLOW, GREEN},   /* 6: rotated 90 clockwise */
    {YELLOW, GREEN, BLUE, RED},   /* 7: transversed */
    {GREEN, YELLOW, RED, BLUE},   /* 8: rotated 90 anticlockwise */
};

static void expect_colour(const nst_image *img, int x, int y, int want, const char *what) {
    const uint8_t *p = img->data + ((size_t)y * img->width + x) * 3;
    for (int c = 0; c < 3; c++)
        cr_expect(abs(p[c] - colours[want][c]) <= 12,
                  "%s: pixel (%d, %d) is (%d, %d, %d), want colour %d (%d, %d, %d)", what, x, y,
                  p[0], p[1], p[2], want, colours[want][0], colours[want][1], colours[want][2]);
}

/* Loads path and checks size and the four corners (2 pixels in) against orientation o. */
static void expect_upright(const char *path, int o, const char *what) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, path, 3, &img), NST_OK, "%s", nst_last_error(ctx));
    const int w = o >= 5 ? H : W, h = o >= 5 ? W : H;
    cr_assert(img.width == w && img.height == h, "%s: %dx%d, want %dx%d", what, img.width,
              img.height, w, h);
    int pw, ph, pc;
    cr_assert_eq(nst_image_probe(ctx, path, &pw, &ph, &pc), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(pw == w && ph == h && pc == 3, "%s: probe says %dx%dx%d", what, pw, ph, pc);
    expect_colour(&img, 2, 2, corners[o][0], what);
    expect_colour(&img, w - 3, 2, corners[o][1], what);
    expect_colour(&img, 2, h - 3, corners[o][2], what);
    expect_colour(&img, w - 3, h - 3, corners[o][3], what);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static char dir[256];
static void setup(void) { nst_test_tmpdir(dir, sizeof dir); }
static const char *path_of(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

TestSuite(image_exif, .init = setup);

Test(image_exif, every_orientation_in_both_byte_orders) {
    for (int le = 0; le <= 1; le++)
        for (int o = 1; o <= 8; o++) {
            char what[64];
            snprintf(what, sizeof what, "orientation %d, %s", o, le ? "II" : "MM");
            write_oriented(path_of("o.jpg"), o, le);
            expect_upright(path_of("o.jpg"), o, what);
        }
}

Test(image_exif, no_exif_and_out_of_range_values_keep_the_stored_pixels) {
    bytes jpg = quadrant_jpeg();
    nst_test_write_bytes(path_of("plain.jpg"), jpg.p, jpg.n);
    free(jpg.p);
    expect_upright(path_of("plain.jpg"), 1, "no APP1");
    write_oriented(path_of("zero.jpg"), 0, true);
    expect_upright(path_of("zero.jpg"), 1, "orientation 0");
    write_oriented(path_of("nine.jpg"), 9, false);
    expect_upright(path_of("nine.jpg"), 1, "orientation 9");
}

Test(image_exif, malformed_segments_are_ignored) {
    uint8_t p[128];
    const size_t n = exif_payload(p, 6, true);
    /* cut inside IFD0: the Orientation entry is past the end */
    write_with_app1(path_of("cut.jpg"), p, 6 + 10 + 12 + 4);
    expect_upright(path_of("cut.jpg"), 1, "truncated IFD");
    /* IFD0 offset pointing past the segment */
    uint8_t q[128];
    memcpy(q, p, n);
    put32(q + 6 + 4, 5000, true);
    write_with_app1(path_of("far.jpg"), q, n);
    expect_upright(path_of("far.jpg"), 1, "IFD offset out of range");
    /* a byte-order mark that is neither II nor MM */
    memcpy(q, p, n);
    memcpy(q + 6, "IM*\0", 4);
    write_with_app1(path_of("bom.jpg"), q, n);
    expect_upright(path_of("bom.jpg"), 1, "bad byte order");
    /* an entry count far larger than the segment */
    memcpy(q, p, n);
    put16(q + 6 + 8, 0xFFFF, true);
    put16(q + 6 + 10, 0x0100, true); /* and the first tag no longer Make, still not 0x0112 */
    write_with_app1(path_of("count.jpg"), q, n);
    expect_upright(path_of("count.jpg"), 6, "huge count, tag still found");
    /* XMP in APP1 is not Exif */
    const char xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
    write_with_app1(path_of("xmp.jpg"), (const uint8_t *)xmp, sizeof xmp);
    expect_upright(path_of("xmp.jpg"), 1, "XMP APP1");
}

Test(image_exif, orientation_survives_a_resave_as_upright_png) {
    write_oriented(path_of("six.jpg"), 6, false);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, path_of("six.jpg"), 0, &img), NST_OK, "%s",
                 nst_last_error(ctx));
    cr_assert_eq(nst_image_save(ctx, path_of("six.png"), &img, 0), NST_OK, "%s",
                 nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
    expect_upright(path_of("six.png"), 6, "PNG of an orientation-6 JPEG");
}
