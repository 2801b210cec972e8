/* Image files and 8-bit pixel buffers (include/nstyle/image.h), through stb:
 *  - load: the header is read first (PNG IHDR and JPEG SOF by this file, then stbi_info for all
 *    formats) and the size checked against NST_IMAGE_MAX_SIDE / NST_IMAGE_MAX_PIXELS and
 *    stb_image's 1 GiB decode limit before anything is decoded; 16-bit PNGs come back as 8-bit.
 *  - guards in front of Debian's stb_image v2.27: before stb reads a JPEG, its Huffman tables
 *    are counted and a table of more than 256 codes (which v2.27 writes past its arrays) is
 *    refused as corrupt, and so is a scan using a table no DHT segment defined (v2.27 would
 *    decode with uninitialised memory) (docs/fuzzing.md); a BMP, TGA or JPEG far too short to
 *    hold its size (stb reads the missing bytes as zeros) is refused as truncated.
 *  - JPEG EXIF orientation: the first APP1 "Exif" segment's TIFF header (either byte order) is
 *    read on the way to the frame header; IFD0's Orientation tag (0x0112, values 1..8) is applied
 *    to the decoded pixels (mirror, rotate, transpose) so images come out upright, and probe
 *    reports the upright size. A missing, malformed or out-of-range tag means 1 (as stored).
 *  - save: PNG or JPEG by extension, written to "<path>.tmp-XXXXXX" in the same folder, flushed,
 *    fsync'ed and renamed over the target, so a failure leaves any existing target intact.
 *  - resize: stb_image_resize v1, Catmull-Rom, edges clamped, values resampled as they are
 *    (no sRGB decoding), alpha-weighted colour.
 *  - float conversions: v / 255 and back with clamping, NaN -> 0, round to nearest.
 * Tested by tests/test_image.c (files), tests/test_image_resize.c (resize, floats) and end to
 * end by tests/test_cli_convert.c; EXIF orientation by tests/test_image_exif.c; the stb guard by
 * tests/test_image_stb.c and the fuzz target fuzz/fuzz_image.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include "errors.h"
#include "nstyle/ops.h"
#include "files.h"
#include "nstyle/image.h"

/* stb_image refuses to decode more than about 1 GiB of pixels (PNG: w*h*channels <= 2^30);
 * images past it are reported as too large, from the header, rather than as corrupt. */
#define NST__STB_DECODE_LIMIT (1LL << 30)

/* ---- size checks ------------------------------------------------------------------------- */

/* The sizes a file's header claims, then the bytes stb_image would need to decode it (w x h x
 * bytes_per_pixel, computed only once the sides are known to be small: a header may claim up to
 * 2^32 - 1 a side, whose products overflow). */
static nst_status check_header_size(nst_ctx *ctx, const char *path, long long w, long long h,
                                    long long bytes_per_pixel) {
    if (w < 1 || h < 1)
        return NST__ERR(ctx, NST_ERR_FORMAT, "image '%s' has a zero size (%lldx%lld)", path, w,
                        h);
    if (w > NST_IMAGE_MAX_SIDE || h > NST_IMAGE_MAX_SIDE)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                        "image '%s' is %lldx%lld pixels, over the limit of %d pixels a side",
                        path, w, h, NST_IMAGE_MAX_SIDE);
    if (w * h > NST_IMAGE_MAX_PIXELS)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                        "image '%s' is %lldx%lld = %lld pixels, over the limit of %lld pixels",
                        path, w, h, w * h, NST_IMAGE_MAX_PIXELS);
    const long long decoded_bytes = w * h * bytes_per_pixel;
    if (decoded_bytes > NST__STB_DECODE_LIMIT)
        return NST__ERR(ctx, NST_ERR_TOO_LARGE,
                        "image '%s' is %lldx%lld pixels: decoding needs %lld bytes, over the "
                        "1 GiB stb_image decodes",
                        path, w, h, decoded_bytes);
    return NST_OK;
}

/* Sizes an in-memory image may have: the same limits as files. */
static bool size_ok(long long w, long long h) {
    return w >= 1 && h >= 1 && w <= NST_IMAGE_MAX_SIDE && h <= NST_IMAGE_MAX_SIDE &&
           w * h <= NST_IMAGE_MAX_PIXELS;
}

static nst_status check_image(nst_ctx *ctx, const char *fn, const char *arg,
                              const nst_image *img) {
    if (!img || !img->data)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: %s is NULL or has no pixels", fn, arg);
    if (img->channels < 1 || img->channels > 4)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: %s has %d channels (1..4 allowed)", fn,
                        arg, img->channels);
    if (!size_ok(img->width, img->height))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "%s: %s is %dx%d (sides 1..%d, at most %lld pixels)", fn, arg, img->width,
                        img->height, NST_IMAGE_MAX_SIDE, NST_IMAGE_MAX_PIXELS);
    return NST_OK;
}

/* ---- header sniffing: sizes stb_image's own header check would refuse to report ------------ */

typedef struct {
    bool known;                /* the size below was read */
    long long w, h, channels;  /* channels as decoded (PNG palette counted as 4) */
    int bytes_per_sample;      /* 2 for 16-bit PNG */
    int orientation;           /* EXIF orientation 1..8 (JPEG), 1 when absent */
} header_size;

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static unsigned long be32(const uint8_t *p) {
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

/* PNG: 8-byte signature, then the IHDR chunk: length 13, "IHDR", width, height, depth, type. */
static nst_status sniff_png(nst_ctx *ctx, const char *path, const uint8_t *b, size_t n,
                            header_size *hs) {
    if (n < 26 || be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "corrupt PNG '%s': the signature is not followed by an IHDR chunk", path);
    static const int channels_of_type[7] = {1, 0, 3, 4, 2, 0, 4}; /* palette: up to RGBA */
    int type = b[25];
    hs->known = true;
    hs->w = (long long)be32(b + 16);
    hs->h = (long long)be32(b + 20);
    hs->channels = type <= 6 && channels_of_type[type] ? channels_of_type[type] : 4;
    hs->bytes_per_sample = b[24] == 16 ? 2 : 1;
    return NST_OK;
}

/* ---- EXIF orientation ------------------------------------------------------------------- */

/* Orientation from an APP1 payload: "Exif\0\0", then a TIFF header ("II*\0" little-endian or
 * "MM\0*" big-endian, then IFD0's offset from the TIFF start), then IFD0: an entry count and
 * 12-byte entries (tag, type, count, value). The Orientation tag is 0x0112, type SHORT (3),
 * count 1, its value in the first two bytes of the value field. 0 when absent or malformed. */
static int exif_orientation(const uint8_t *p, size_t n) {
    if (n < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0)
        return 0;
    const uint8_t *t = p + 6; /* the TIFF header; offsets count from here */
    const size_t tn = n - 6;
    bool le;
    if (memcmp(t, "II*\0", 4) == 0)
        le = true;
    else if (memcmp(t, "MM\0*", 4) == 0)
        le = false;
    else
        return 0;
#define EXIF_U16(q) (le ? (unsigned)(q)[0] | (unsigned)(q)[1] << 8 : be16(q))
#define EXIF_U32(q) (le ? (unsigned long)EXIF_U16(q) | (unsigned long)EXIF_U16((q) + 2) << 16 \
                        : be32(q))
    const unsigned long ifd = EXIF_U32(t + 4);
    if (ifd < 8 || ifd > tn - 2)
        return 0;
    const unsigned count = EXIF_U16(t + ifd);
    int orientation = 0;
    for (unsigned i = 0; i < count && orientation == 0; i++) {
        const size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
        if (e + 12 > tn)
            break;
        if (EXIF_U16(t + e) == 0x0112 && EXIF_U16(t + e + 2) == 3 && EXIF_U32(t + e + 4) == 1) {
            const unsigned v = EXIF_U16(t + e + 8);
            orientation = v >= 1 && v <= 8 ? (int)v : 0;
            break;
        }
    }
#undef EXIF_U16
#undef EXIF_U32
    return orientation;
}

/* Reads an APP1 segment of `len` payload bytes at f's position; the orientation it holds, or 0
 * (not Exif, malformed, unreadable). The stream is left just past the segment on success. */
static int read_app1_orientation(FILE *f, size_t len) {
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    const int o = fread(buf, 1, len, f) == len ? exif_orientation(buf, len) : 0;
    free(buf);
    return o;
}

/* Displayed pixel (x, y) of an image of stored size w x h under orientation o comes from stored
 * pixel (*sx, *sy) (PIL's ImageOps.exif_transpose): 2 mirrors left-right, 3 rotates 180, 4
 * mirrors top-bottom, 5 transposes, 6 rotates 90 clockwise, 7 transverses, 8 rotates 90
 * anticlockwise. For 5..8 the displayed image is h wide and w high. */
static void oriented_source(int o, int w, int h, int x, int y, int *sx, int *sy) {
    switch (o) {
    case 2: *sx = w - 1 - x, *sy = y; break;
    case 3: *sx = w - 1 - x, *sy = h - 1 - y; break;
    case 4: *sx = x, *sy = h - 1 - y; break;
    case 5: *sx = y, *sy = x; break;
    case 6: *sx = y, *sy = h - 1 - x; break;
    case 7: *sx = w - 1 - y, *sy = h - 1 - x; break;
    case 8: *sx = w - 1 - y, *sy = x; break;
    default: *sx = x, *sy = y; break;
    }
}

/* Applies orientation o (2..8) to img in place (a new pixel buffer). */
static nst_status apply_orientation(nst_ctx *ctx, const char *path, int o, nst_image *img) {
    if (o < 2 || o > 8)
        return NST_OK;
    const int w = img->width, h = img->height, c = img->channels;
    const int dw = o >= 5 ? h : w, dh = o >= 5 ? w : h;
    uint8_t *dst = malloc((size_t)w * (size_t)h * (size_t)c); // (dh, dw, c)
    if (!dst)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "image '%s': no memory to apply its EXIF "
                        "orientation %d (%dx%d)", path, o, w, h);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            int sx, sy;
            oriented_source(o, w, h, x, y, &sx, &sy);
            memcpy(dst + ((size_t)y * dw + x) * c, img->data + ((size_t)sy * w + sx) * c,
                   (size_t)c);
        }
    free(img->data);
    img->data = dst;
    img->width = dw;
    img->height = dh;
    return NST_OK;
}

/* JPEG: walk the marker segments from SOI to the first frame header (SOF0..SOF15 except DHT,
 * JPG and DAC), which holds precision, height, width and the component count; the first Exif
 * APP1 on the way gives the orientation. */
static void sniff_jpeg(FILE *f, header_size *hs) {
    uint8_t m[8];
    if (fseek(f, 2, SEEK_SET) != 0)
        return;
    for (int segments = 0; segments < 4096; segments++) {
        int c = fgetc(f);
        if (c != 0xFF)
            return;
        while ((c = fgetc(f)) == 0xFF) {
        }
        if (c == EOF || c == 0xDA || c == 0xD9) /* scan or end before any frame header */
            return;
        if (c == 0x01 || (c >= 0xD0 && c <= 0xD7)) /* markers without a length */
            continue;
        if (fread(m, 1, 2, f) != 2 || be16(m) < 2)
            return;
        if (c == 0xE1 && hs->orientation == 0) { /* APP1: Exif (or XMP, which gives 0) */
            long at = ftell(f);
            hs->orientation = read_app1_orientation(f, be16(m) - 2u);
            if (at < 0 || fseek(f, at + (long)be16(m) - 2, SEEK_SET) != 0)
                return;
            continue;
        }
        bool sof = c >= 0xC0 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC;
        if (sof) {
            if (fread(m, 1, 6, f) != 6)
                return;
            hs->known = true;
            hs->h = be16(m + 1);
            hs->w = be16(m + 3);
            hs->channels = m[5];
            hs->bytes_per_sample = 1;
            return;
        }
        if (fseek(f, (long)be16(m) - 2, SEEK_CUR) != 0)
            return;
    }
}

/* ---- guards in front of stb_image v2.27 ------------------------------------------------------ */

/* Debian's stb_image is v2.27, a 2022 snapshot older than upstream's fixes; two JPEG flaws in it
 * are reachable from a file and are refused here before stb reads the file (docs/fuzzing.md):
 *  - a Huffman table is built from the 16 code-length counts of a DHT segment without checking
 *    that they add up to at most 256 (upstream checks since v2.28): more codes write past the
 *    table's 257-entry arrays inside stb's decoder state, and decoding then reads out of bounds;
 *  - the decoder state is malloc'ed, not cleared, so a scan that uses a table no DHT defined
 *    decodes with whatever the memory held, and reads wherever that points.
 * stb reads DHT segments while reading the header (stbi_info) and between scans, so this walks
 * the file's markers the way stb_image does: a file is a JPEG when 0xFF bytes and then 0xD8
 * (SOI) open it; segments are skipped by their length, a scan's entropy-coded data up to the next
 * marker (0xFF, then a byte other than 0x00, 0xFF or a restart marker), and where a marker is due
 * but another byte is found it scans on to the next 0xFF (stb does so before the frame header;
 * after it stb stops, so going on only checks more). A DHT segment is read table by table as stb
 * reads it, past the segment's end if its length says so. Each scan after the frame header (SOF0,
 * SOF1, SOF2) must find defined the tables stb will use: DC and AC of each component in a
 * sequential scan, in a progressive one the DC table for a first DC pass, the AC table for an AC
 * scan, none for a DC refinement. With whole false the walk stops at the frame header, all that
 * stbi_info reads. Returns 0 when f is not a JPEG or has neither flaw; else the offset of the
 * DHT or SOS marker at fault, the reason in why. */
static long jpeg_stb_hazard(FILE *f, bool whole, char *why, size_t why_size) {
    bool defined[2][4] = {{false}}; /* [DC, AC][table] */
    int frame = 0;                  /* the SOF marker read, 0 before it */
    rewind(f);
    int c = fgetc(f);
    if (c != 0xFF)
        return 0;
    while ((c = fgetc(f)) == 0xFF) {
    }
    if (c != 0xD8)
        return 0;
    c = fgetc(f);
    for (;;) {
        if (c == EOF)
            return 0;
        if (c != 0xFF) { /* out of step: on to the next 0xFF */
            c = fgetc(f);
            continue;
        }
        const long at = ftell(f) - 1;
        while ((c = fgetc(f)) == 0xFF) {
        }
        if (c == EOF || c == 0xD9) /* end of image */
            return 0;
        const int marker = c;
        if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
            c = fgetc(f); /* no length */
            continue;
        }
        const int hi = fgetc(f), lo = fgetc(f);
        if (lo == EOF)
            return 0;
        long left = (long)(hi << 8 | lo) - 2; /* stb: L = length - 2 */
        if (marker == 0xC4) {
            while (left > 0) {
                const int q = fgetc(f);
                if (q == EOF || q >> 4 > 1 || (q & 15) > 3) /* stb stops: bad DHT header */
                    return 0;
                int n = 0;
                for (int i = 0; i < 16; i++) {
                    const int k = fgetc(f);
                    n += k == EOF ? 0 : k; /* stb reads 0 past the end */
                }
                if (n > 256) {
                    snprintf(why, why_size, "the Huffman table in the DHT segment at byte %ld "
                             "has %d codes, more than the 256 a table holds", at, n);
                    return at;
                }
                defined[q >> 4][q & 15] = true;
                if (fseek(f, n, SEEK_CUR) != 0)
                    return 0;
                left -= 17 + n;
            }
            if (left != 0) /* stb stops: the tables did not fill the segment exactly */
                return 0;
            c = fgetc(f);
            continue;
        }
        if (marker == 0xDA && frame && left >= 1) { /* a scan: its header, then its data */
            uint8_t h[1 + 2 * 4 + 3];
            const int ns = fgetc(f);
            if (ns < 1 || ns > 4 || left != 4 + 2 * ns || fread(h, 1, (size_t)left - 1, f) !=
                                                               (size_t)left - 1)
                return 0; /* stb stops: bad SOS */
            const int ss = h[2 * ns], ah = h[2 * ns + 2] >> 4;
            for (int i = 0; i < ns; i++) {
                const int td = h[2 * i + 1] >> 4, ta = h[2 * i + 1] & 15;
                const bool dc = frame != 0xC2 || (ss == 0 && ah == 0);
                const bool ac = frame != 0xC2 || ss != 0;
                if (td > 3 || ta > 3) /* stb stops: bad DC or AC huff */
                    return 0;
                if ((dc && !defined[0][td]) || (ac && !defined[1][ta])) {
                    snprintf(why, why_size, "the scan at byte %ld uses the %s Huffman table %d, "
                             "which no DHT segment before it defines",
                             at, dc && !defined[0][td] ? "DC" : "AC",
                             dc && !defined[0][td] ? td : ta);
                    return at;
                }
            }
            left = 0;
        }
        if (left < 0 || fseek(f, left, SEEK_CUR) != 0)
            return 0;
        if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) {
            if (!whole)
                return 0;
            frame = frame ? frame : marker;
        }
        c = fgetc(f);
        if (marker != 0xDA)
            continue;
        for (;;) { /* entropy-coded data, up to the next marker */
            while (c != EOF && c != 0xFF)
                c = fgetc(f);
            if (c == EOF)
                return 0;
            while ((c = fgetc(f)) == 0xFF) {
            }
            if (c != 0x00 && !(c >= 0xD0 && c <= 0xD7))
                break;
            c = fgetc(f);
        }
        if (c == EOF)
            return 0;
        ungetc(c, f);
        c = 0xFF; /* the marker's 0xFF, already read */
    }
}

/* Refuses a JPEG in which jpeg_stb_hazard finds a flaw. */
static nst_status check_jpeg_for_stb(nst_ctx *ctx, const char *path, FILE *f, bool whole) {
    char why[200];
    const long at = jpeg_stb_hazard(f, whole, why, sizeof why);
    rewind(f);
    if (at == 0)
        return NST_OK;
    return NST__ERR(ctx, NST_ERR_FORMAT, "corrupt JPEG '%s': %s", path, why);
}

/* The most pixels a byte of file can hold in a format, 0 for no bound: stb_image v2.27 reads a
 * BMP, TGA or JPEG that ends early as if zeros followed, so a few bytes claiming a large size
 * decode into a large blank image (found by the fuzzer as loads of 23-byte TGA files taking
 * seconds); with this bound such a file is refused as truncated from its size alone. A BMP row
 * holds a pixel in 1 bit at least (stb_image reads no RLE BMP); a TGA pixel takes a byte at
 * least, an RLE packet of up to 128 equal pixels 2; a JPEG codes each 8x8 block's DC coefficient
 * in a Huffman code of at least 1 bit. PNG is left to stb_image, which checks the length of the
 * data it inflates. */
static long long max_pixels_per_byte(const uint8_t *head, size_t n) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && memcmp(head, png_sig, 8) == 0)
        return 0;
    if (n >= 2 && head[0] == 'B' && head[1] == 'M')
        return 8;
    if (n >= 1 && head[0] == 0xFF) /* JPEG (or a TGA with a 255-byte id field) */
        return 8 * 64;
    return 64; /* TGA, the format stb_image tries last (it has no signature) */
}

/* Opens path and checks its header: size limits, then stbi_info. On success *f is open and
 * rewound, w/h/channels are the file's as stored and *orientation its EXIF orientation (1..8). */
static nst_status open_and_check(nst_ctx *ctx, const char *path, int want_channels, FILE **fp,
                                 int *w, int *h, int *channels, int *orientation) {
    *fp = NULL;
    *orientation = 1;
    if (!path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "image path is NULL");
    if (want_channels < 0 || want_channels > 4)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "image '%s': want_channels %d (0 = as stored, 1..4)", path, want_channels);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NST__ERR(ctx, NST_ERR_IO, "cannot open image '%s': %s", path, strerror(errno));
    struct stat st;
    nst_status s = NST_OK;
    if (fstat(fileno(f), &st) != 0)
        s = NST__ERR(ctx, NST_ERR_IO, "cannot stat image '%s': %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        s = NST__ERR(ctx, NST_ERR_IO, "cannot read image '%s': %s", path, strerror(EISDIR));
    else if (st.st_size == 0)
        s = NST__ERR(ctx, NST_ERR_FORMAT, "image '%s' is an empty file (0 bytes)", path);
    if (s != NST_OK)
        goto fail;

    uint8_t head[32] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    if (ferror(f)) {
        s = NST__ERR(ctx, NST_ERR_IO, "cannot read image '%s': %s", path, strerror(errno));
        goto fail;
    }
    header_size hs = {0};
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && memcmp(head, png_sig, 8) == 0)
        s = sniff_png(ctx, path, head, n, &hs);
    else if (n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF)
        sniff_jpeg(f, &hs);
    if (s == NST_OK && hs.known) {
        long long ch = hs.channels > want_channels ? hs.channels : want_channels;
        s = check_header_size(ctx, path, hs.w, hs.h, ch * hs.bytes_per_sample);
    }
    if (s != NST_OK)
        goto fail;

    s = check_jpeg_for_stb(ctx, path, f, false);
    if (s != NST_OK)
        goto fail;
    if (!stbi_info_from_file(f, w, h, channels)) {
        s = NST__ERR(ctx, NST_ERR_FORMAT,
                     "'%s' is not a PNG, JPEG, BMP or TGA image, or its header is corrupt "
                     "(stb_image: %s)",
                     path, stbi_failure_reason());
        goto fail;
    }
    /* BMP and TGA sizes come from stbi_info; PNG and JPEG were checked above already. A BMP
     * stored top-down has a negative height in its header, which stb_image v2.27's stbi_info
     * passes on as it is (its loader flips the rows and reports the height positive). */
    long long height = *h;
    if (height < 0 && n >= 2 && head[0] == 'B' && head[1] == 'M')
        height = -height;
    long long ch = *channels > want_channels ? *channels : want_channels;
    s = check_header_size(ctx, path, *w, height, ch);
    if (s != NST_OK)
        goto fail;
    *h = (int)height; /* at most NST_IMAGE_MAX_SIDE now */
    const long long per_byte = max_pixels_per_byte(head, n);
    if (per_byte && (long long)*w * *h > per_byte * (long long)st.st_size) {
        s = NST__ERR(ctx, NST_ERR_FORMAT,
                     "image '%s' is truncated: %lld bytes cannot hold its %dx%d pixels", path,
                     (long long)st.st_size, *w, *h);
        goto fail;
    }
    rewind(f);
    *fp = f;
    *orientation = hs.orientation ? hs.orientation : 1;
    return NST_OK;
fail:
    fclose(f);
    return s;
}

nst_status nst_image_probe(nst_ctx *ctx, const char *path, int *width, int *height,
                           int *channels) {
    if (!width || !height || !channels)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_image_probe: NULL output pointer");
    FILE *f = NULL;
    int orientation = 1;
    NST__TRY(open_and_check(ctx, path, 0, &f, width, height, channels, &orientation));
    fclose(f);
    if (orientation >= 5) { /* transposed: the upright image is h wide */
        int t = *width;
        *width = *height;
        *height = t;
    }
    return NST_OK;
}

nst_status nst_image_load(nst_ctx *ctx, const char *path, int want_channels, nst_image *out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    FILE *f = NULL;
    int w = 0, h = 0, c = 0, orientation = 1;
    NST__TRY(open_and_check(ctx, path, want_channels, &f, &w, &h, &c, &orientation));
    nst_status checked = check_jpeg_for_stb(ctx, path, f, true);
    if (checked != NST_OK) {
        fclose(f);
        return checked;
    }
    int lw = 0, lh = 0, lc = 0;
    uint8_t *data = stbi_load_from_file(f, &lw, &lh, &lc, want_channels);
    fclose(f);
    if (!data)
        return NST__ERR(ctx, NST_ERR_FORMAT, "cannot decode image '%s' (%dx%d; stb_image: %s)",
                        path, w, h, stbi_failure_reason());
    if (lw != w || lh != h) { /* the file changed between the header check and the decode */
        stbi_image_free(data);
        return NST__ERR(ctx, NST_ERR_FORMAT, "image '%s' changed while being read (%dx%d, then "
                        "%dx%d)", path, w, h, lw, lh);
    }
    out->width = lw;
    out->height = lh;
    out->channels = want_channels ? want_channels : lc;
    out->data = data; /* stb_image allocates with malloc, so nst_image_free's free() matches */
    nst_status s = apply_orientation(ctx, path, orientation, out);
    if (s != NST_OK)
        nst_image_free(out);
    return s;
}

void nst_image_free(nst_image *img) {
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* ---- saving ------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    int error; /* errno of the first failed write, 0 while fine */
} write_sink;

static void sink_write(void *user, void *data, int size) {
    write_sink *s = user;
    if (s->error || size <= 0)
        return;
    errno = 0;
    if (fwrite(data, 1, (size_t)size, s->f) != (size_t)size)
        s->error = errno ? errno : EIO;
}

/* .png -> 0, .jpg/.jpeg -> 1 (case-insensitive), anything else refused. */
static nst_status format_from_path(nst_ctx *ctx, const char *path, bool *jpeg) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *ext = strrchr(base, '.');
    if (!ext || ext == base)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "cannot save '%s': no file extension (use .png, .jpg or .jpeg)", path);
    if (strcasecmp(ext, ".png") == 0)
        *jpeg = false;
    else if (strcasecmp(ext, ".jpg") == 0 || strcasecmp(ext, ".jpeg") == 0)
        *jpeg = true;
    else
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "cannot save '%s': unsupported extension '%s' (use .png, .jpg or .jpeg)",
                        path, ext);
    return NST_OK;
}

static nst_status encode_to(nst_ctx *ctx, FILE *f, const char *path, const nst_image *img,
                            bool jpeg, int quality) {
    write_sink sink = {f, 0};
    int ok = jpeg ? stbi_write_jpg_to_func(sink_write, &sink, img->width, img->height,
                                           img->channels, img->data, quality)
                  : stbi_write_png_to_func(sink_write, &sink, img->width, img->height,
                                           img->channels, img->data,
                                           img->width * img->channels);
    if (sink.error)
        return NST__ERR(ctx, NST_ERR_IO, "cannot write image '%s': %s", path,
                        strerror(sink.error));
    if (!ok)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "stb_image_write could not encode %dx%d '%s'",
                        img->width, img->height, path);
    return NST_OK;
}

typedef struct {
    const char *path;
    const nst_image *img;
    bool jpeg;
    int quality;
} encode_job;

static nst_status encode_job_write(nst_ctx *ctx, FILE *f, void *user) {
    const encode_job *job = user;
    return encode_to(ctx, f, job->path, job->img, job->jpeg, job->quality);
}

nst_status nst_image_save(nst_ctx *ctx, const char *path, const nst_image *img,
                          int jpeg_quality) {
    if (!path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_image_save: path is NULL");
    NST__TRY(check_image(ctx, "nst_image_save", "img", img));
    if (jpeg_quality < 0 || jpeg_quality > 100)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "cannot save '%s': JPEG quality %d (1..100, 0 = 95)", path, jpeg_quality);
    bool jpeg = false;
    NST__TRY(format_from_path(ctx, path, &jpeg));

    encode_job job = {path, img, jpeg, jpeg_quality ? jpeg_quality : 95};
    return nst__atomic_write(ctx, path, encode_job_write, &job);
}

/* ---- resizing and conversions -------------------------------------------------------------- */

nst_status nst_image_resize(nst_ctx *ctx, const nst_image *in, int width, int height,
                            nst_image *out) {
    NST__TRY(check_image(ctx, "nst_image_resize", "in", in));
    if (!out || out == in)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "nst_image_resize: out must be a separate image (got %s)",
                        out ? "out == in" : "NULL");
    if (!size_ok(width, height))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "nst_image_resize: target size %dx%d (sides 1..%d, at most %lld pixels)",
                        width, height, NST_IMAGE_MAX_SIDE, NST_IMAGE_MAX_PIXELS);
    int c = in->channels;
    uint8_t *dst = malloc((size_t)width * (size_t)height * (size_t)c); // (height, width, c)
    if (!dst)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "nst_image_resize: %dx%dx%d image", width, height,
                        c);
    int alpha = c == 4 ? 3 : c == 2 ? 1 : STBIR_ALPHA_CHANNEL_NONE;
    if (!stbir_resize_uint8_generic(in->data, in->width, in->height, 0, dst, width, height, 0, c,
                                    alpha, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_CATMULLROM,
                                    STBIR_COLORSPACE_LINEAR, NULL)) {
        free(dst);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY,
                        "nst_image_resize: stb_image_resize failed for %dx%d -> %dx%d (out of "
                        "memory)",
                        in->width, in->height, width, height);
    }
    out->width = width;
    out->height = height;
    out->channels = c;
    out->data = dst;
    return NST_OK;
}

nst_status nst_image_to_float(nst_ctx *ctx, const nst_image *img, float *out) {
    NST__TRY(check_image(ctx, "nst_image_to_float", "img", img));
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_image_to_float: out is NULL");
    size_t n = (size_t)img->width * (size_t)img->height * (size_t)img->channels;
    for (size_t i = 0; i < n; i++)
        out[i] = (float)img->data[i] / 255.0f;
    return NST_OK;
}

/* [0, 1] -> 0..255, rounding to nearest (halves up); NaN and values below 0 give 0. */
static uint8_t float_to_u8(float v) {
    if (!(v > 0.0f))
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

nst_status nst_image_from_float(nst_ctx *ctx, const float *in, int width, int height,
                                int channels, nst_image *out) {
    if (!in || !out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_image_from_float: %s is NULL",
                        in ? "out" : "in");
    memset(out, 0, sizeof *out);
    if (channels < 1 || channels > 4)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "nst_image_from_float: %d channels (1..4 allowed)", channels);
    if (!size_ok(width, height))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "nst_image_from_float: size %dx%d (sides 1..%d, at most %lld pixels)",
                        width, height, NST_IMAGE_MAX_SIDE, NST_IMAGE_MAX_PIXELS);
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    uint8_t *data = malloc(n); // (height, width, channels)
    if (!data)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "nst_image_from_float: %dx%dx%d image", width,
                        height, channels);
    for (size_t i = 0; i < n; i++)
        data[i] = float_to_u8(in[i]);
    out->width = width;
    out->height = height;
    out->channels = channels;
    out->data = data;
    return NST_OK;
}
