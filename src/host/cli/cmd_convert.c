/* `nstyle convert IN OUT [--resize WxH | --max-side N] [--quality Q] [--channels 1|3|4]`:
 * reads an image, optionally converts its channels and resizes it (Catmull-Rom, see
 * nst_image_resize), and writes it as PNG or JPEG by OUT's extension, atomically. Exit codes:
 * 0 success, 1 failure (unreadable/corrupt input, unwritable output: the library's message),
 * 2 usage error. Also holds nst_cli_parse_size ("WxH"). Tested by tests/test_cli_convert.c. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "cli.h"
#include "nstyle/nstyle.h"

static void print_help(void) {
    printf("Usage: nstyle convert IN OUT [--resize WxH | --max-side N] [--quality Q]\n"
           "                             [--channels 1|3|4]\n"
           "\n"
           "Reads IN (PNG, JPEG, BMP or TGA; 8 or 16 bits, 16 read as 8) and writes OUT as PNG\n"
           "or JPEG, chosen by OUT's extension (.png, .jpg, .jpeg; any case). OUT is written to\n"
           "a temporary file next to it and renamed, so a failure never leaves half an image.\n"
           "\n"
           "Options:\n"
           "  -r, --resize WxH    resize to exactly W by H pixels (Catmull-Rom bicubic,\n"
           "                      edges clamped; each side 1..%d)\n"
           "  -m, --max-side N    shrink so the longer side is at most N pixels, keeping the\n"
           "                      aspect ratio (never enlarges); not with --resize\n"
           "  -q, --quality Q     JPEG quality 1..100 (default 95); PNG is lossless and\n"
           "                      ignores it\n"
           "  -c, --channels C    1 grey, 3 RGB or 4 RGBA (default: as stored in IN); grey\n"
           "                      from colour is BT.601 luma, added alpha is opaque. JPEG\n"
           "                      always stores colour and drops alpha\n"
           "  -h, --help          this text\n"
           "\n"
           "Prints \"wrote OUT (WxH, C channels, N bytes)\" on success.\n"
           "Exit status: 0 success, 1 failure (the message says what and where), 2 usage error.\n",
           NST_IMAGE_MAX_SIDE);
}

static int usage_error(const char *fmt, const char *arg) {
    return nst_cli_usage_error("convert", fmt, arg);
}

/* A whole number in lo..hi, or -1. */
static long whole(const char *s, long lo, long hi) {
    long v;
    return nst_cli_parse_long(s, lo, hi, &v) ? v : -1;
}

typedef struct {
    const char *in, *out;
    int resize_w, resize_h; /* 0 = keep */
    int max_side;           /* 0 = none */
    int quality;            /* 1..100 */
    int channels;           /* 0 = as stored */
} convert_args;

/* Returns -1 when parsed, else the exit code (help or usage error). */
static int parse_args(int argc, char **argv, convert_args *a) {
    static const struct option opts[] = {
        {"resize", required_argument, NULL, 'r'},   {"max-side", required_argument, NULL, 'm'},
        {"quality", required_argument, NULL, 'q'},  {"channels", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *a = (convert_args){.quality = 95};
    /* optind 0 makes glibc start afresh: the caller's getopt ran with another optstring ("+"). */
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":r:m:q:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            print_help();
            return NST_EXIT_OK;
        case 'r':
            if (nst_cli_parse_size(optarg, &a->resize_w, &a->resize_h) != 0 ||
                a->resize_w > NST_IMAGE_MAX_SIDE || a->resize_h > NST_IMAGE_MAX_SIDE)
                return usage_error("--resize wants WxH with sides 1..30000, e.g. 768x512 "
                                   "(got '%s')", optarg);
            break;
        case 'm':
            if ((a->max_side = (int)whole(optarg, 1, NST_IMAGE_MAX_SIDE)) < 0)
                return usage_error("--max-side wants a whole number 1..30000 (got '%s')", optarg);
            break;
        case 'q':
            if ((a->quality = (int)whole(optarg, 1, 100)) < 0)
                return usage_error("--quality wants a whole number 1..100 (got '%s')", optarg);
            break;
        case 'c':
            a->channels = (int)whole(optarg, 1, 4);
            if (a->channels != 1 && a->channels != 3 && a->channels != 4)
                return usage_error("--channels wants 1, 3 or 4 (got '%s')", optarg);
            break;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (a->resize_w && a->max_side)
        return usage_error("%s", "--resize and --max-side cannot be used together");
    if (argc - optind < 2)
        return usage_error("%s", argc - optind == 0 ? "missing IN and OUT" : "missing OUT");
    if (argc - optind > 2)
        return usage_error("unexpected argument '%s'", argv[optind + 2]);
    a->in = argv[optind];
    a->out = argv[optind + 1];
    return -1;
}

/* The size the image ends up at: --resize, or --max-side applied to w x h, or unchanged. */
static void target_size(const convert_args *a, int w, int h, int *tw, int *th) {
    *tw = w;
    *th = h;
    if (a->resize_w) {
        *tw = a->resize_w;
        *th = a->resize_h;
    } else if (a->max_side && (w > a->max_side || h > a->max_side)) {
        double scale = (double)a->max_side / (w > h ? w : h);
        *tw = w >= h ? a->max_side : (int)(w * scale + 0.5);
        *th = h >= w ? a->max_side : (int)(h * scale + 0.5);
        *tw = *tw < 1 ? 1 : *tw;
        *th = *th < 1 ? 1 : *th;
    }
}

static int fail(nst_ctx *ctx) {
    fprintf(stderr, "nstyle convert: %s\n", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
    return NST_EXIT_FAILURE;
}

int nst_cli_convert(int argc, char **argv) {
    convert_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        fprintf(stderr, "nstyle convert: out of memory\n");
        return NST_EXIT_FAILURE;
    }
    nst_image img = {0};
    if (nst_image_load(ctx, a.in, a.channels, &img) != NST_OK)
        return fail(ctx);
    int tw, th;
    target_size(&a, img.width, img.height, &tw, &th);
    if (tw != img.width || th != img.height) {
        nst_image resized = {0};
        nst_status s = nst_image_resize(ctx, &img, tw, th, &resized);
        nst_image_free(&img);
        if (s != NST_OK)
            return fail(ctx);
        img = resized;
    }
    nst_status s = nst_image_save(ctx, a.out, &img, a.quality);
    nst_image_free(&img);
    /* Report what is on disk (a JPEG always holds 3 channels). */
    int w, h, c;
    struct stat st;
    if (s != NST_OK || nst_image_probe(ctx, a.out, &w, &h, &c) != NST_OK)
        return fail(ctx);
    if (stat(a.out, &st) != 0) {
        fprintf(stderr, "nstyle convert: cannot stat '%s': %s\n", a.out, strerror(errno));
        nst_ctx_destroy(ctx);
        return NST_EXIT_FAILURE;
    }
    nst_ctx_destroy(ctx);
    printf("wrote %s (%dx%d, %d channels, %lld bytes)\n", a.out, w, h, c, (long long)st.st_size);
    return NST_EXIT_OK;
}
