/* `nstyle render -c CONTENT -s STYLE -o OUT [options]`: the Gatys render (nst_render_gatys) from
 * the command line. Loads and scales the images (the content to --size, the style to the
 * content's long side), finds the VGG19 weights, runs the render with a progress display on
 * stderr (report.h), writes the result atomically, prints a one-screen summary on stdout and,
 * with --json FILE, the summary schema of report.h with the render's fields (README, "JSON
 * summaries").
 *
 * Signals: the first SIGINT or SIGTERM only sets the library's cancel flag (the handler does
 * nothing else and is reset to the default as it runs); the render stops after the current
 * iteration, the image so far is written and the exit code is 130 (SIGINT) or 143 (SIGTERM). A
 * second one terminates at once through the default action. While a file is being written
 * (the result, the JSON) a signal is held back until the rename is done, so no
 * temporary file is ever left behind.
 *
 * Exit codes: 0 done, 1 failure (unreadable image, missing weights or layer, budget, non-finite
 * loss: nothing written), 2 usage error, 130/143 cut short by a signal (the last image written).
 * Tested by tests/test_cli_render.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "nstyle/nstyle.h"
#include "nstyle/render.h"
#include "nstyle/vgg19.h"
#include "report.h"

/* ---- signals: the only state the handlers touch -------------------------------------------- */

static volatile sig_atomic_t cancel_signal;   /* the first SIGINT/SIGTERM, read by the library */
static volatile sig_atomic_t deferred_signal; /* one that came while a file was being written */

static void on_signal(int sig) { cancel_signal = sig; }
static void on_signal_while_writing(int sig) { deferred_signal = sig; }

static void install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* the second one takes the default action: exit at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Around a file write: a signal only sets deferred_signal; afterwards the dispositions are put
 * back and a held-back signal is raised again, so it does then what it would have done. */
typedef struct {
    struct sigaction old_int, old_term;
} write_guard;

static void write_guard_begin(write_guard *g) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal_while_writing;
    sigemptyset(&sa.sa_mask);
    deferred_signal = 0;
    sigaction(SIGINT, &sa, &g->old_int);
    sigaction(SIGTERM, &sa, &g->old_term);
}

static void write_guard_end(write_guard *g) {
    sigaction(SIGINT, &g->old_int, NULL);
    sigaction(SIGTERM, &g->old_term, NULL);
    if (deferred_signal)
        raise(deferred_signal);
}

/* ---- arguments ------------------------------------------------------------------------------- */

typedef struct {
    const char *content, *style, *output, *init_file, *model, *json, *device;
    const char *content_layers, *style_layers;
    int long_side, width, height; /* --size N (long side) or WxH */
    bool quiet;
    int threads;
    size_t vram_limit, workspace_limit;
    nst_render_options o;
} render_args;

static int usage_error(const char *fmt, const char *arg) {
    return nst_cli_usage_error("render", fmt, arg);
}

static bool parse_int(const char *s, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = s && *s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || errno || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = s && *s ? strtod(s, &end) : 0;
    if (!s || !*s || errno || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The layer names, wrapped into lines of at most 80 columns under a 4-space indent. */
static void print_layer_names(void) {
    char names[512];
    nst_vgg19_layer_names(names, sizeof names);
    int col = 0;
    for (char *w = strtok(names, " "); w; w = strtok(NULL, " ")) {
        const int n = (int)strlen(w);
        if (col && col + 1 + n > 80) {
            printf("\n");
            col = 0;
        }
        col += printf("%s%s", col ? " " : "    ", w);
    }
    printf("\n");
}

static void print_help(const nst_render_options *d) {
    printf("Usage: nstyle render -c CONTENT -s STYLE -o OUT [options]\n"
           "\n"
           "Optimises an image so that its VGG19 features match CONTENT's and its Gram matrices\n"
           "STYLE's (Gatys et al.): total = content-weight * content + style-weight * style +\n"
           "tv-weight * tv, minimised with Adam, starting from the content image. OUT (.png,\n"
           ".jpg, .jpeg) is written to a temporary file and renamed when done.\n"
           "\n"
           "Images:\n"
           "  -c, --content FILE     the photo (PNG, JPEG, BMP, TGA; EXIF orientation honoured)\n"
           "  -s, --style FILE       the style image, scaled to the content's long side\n"
           "  -o, --output FILE      the result\n"
           "      --size N | WxH     the result's long side in pixels, keeping CONTENT's aspect,\n"
           "                         or exactly W by H (default 512)\n"
           "      --init WHAT        content (default), noise (uniform, from --seed) or an image\n"
           "                         FILE (scaled to the result's size)\n"
           "\n"
           "Optimisation:\n"
           "  -n, --iters N          Adam iterations (default %d)\n"
           "      --lr X             Adam learning rate, on [0,1] pixel values (default %g)\n"
           "      --seed N           seed of --init noise (default 0)\n"
           "      --content-weight X (default %g)\n"
           "      --style-weight X   (default %g)\n"
           "      --tv-weight X      total variation: smooths the result (default %g)\n"
           "      --content-layers L comma list (default relu4_2)\n"
           "      --style-layers L   comma list, equal weights (default\n"
           "                         relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)\n"
           "      --pooling max|avg  VGG19's pooling (default max)\n"
           "  Layer names:\n",
           d->iterations, d->lr, d->content_weight, d->style_weight, d->tv_weight);
    print_layer_names();
    printf("\n"
           "Device and memory:\n"
           "  -d, --device D         auto (default: cuda:0 when a GPU can be used, else cpu),\n"
           "                         cpu, cuda or cuda:N\n"
           "  -t, --threads N        CPU threads (default: all cores)\n"
           "      --vram-limit B     refuse a render whose memory plan exceeds B (e.g. 4G,\n"
           "                         512M); default: the device's free memory. Checked before\n"
           "                         anything is allocated; the message names the biggest\n"
           "                         consumers and what to change\n"
           "      --workspace-limit B  cap on convolution scratch memory (default: none)\n"
           "      --deterministic    the same bits on every run (slower convolutions on GPUs)\n"
           "\n"
           "Output:\n"
           "      --json FILE        a JSON summary (README: JSON summaries); \"-\" writes it to\n"
           "                         stdout instead of the summary\n"
           "  -q, --quiet            no progress and no summary; errors only\n"
           "  -m, --model FILE       VGG19 weights (safetensors)\n"
           "  -h, --help             this text\n"
           "\n"
           "Weights: --model FILE, else the first of $NSTYLE_MODELS/, ./models/ and\n"
           "~/.cache/nstyle/ holding vgg19-imagenet-caffe-q8.safetensors or vgg19.safetensors.\n"
           "models/fetch-vgg19.sh downloads the original VGG19 (Oxford/Caffe, 8-bit, about\n"
           "20 MB) into ~/.cache/nstyle/.\n"
           "\n"
           "Progress goes to stderr (one line redrawn on a terminal, plain lines otherwise); the\n"
           "summary to stdout. Ctrl-C (or SIGTERM) stops after the current iteration and writes\n"
           "the image so far; a second Ctrl-C quits at once without writing.\n"
           "Exit status: 0 done, 1 failure (nothing written), 2 usage error, 130 stopped by\n"
           "SIGINT, 143 by SIGTERM (the image so far written).\n");
}

/* Every name in a comma list is a VGG19 layer; prints the first that is not. */
static bool layers_known(const char *list, const char *option) {
    if (!list)
        return true;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char name[64];
        bool ok = n > 0 && n < sizeof name;
        if (ok) {
            memcpy(name, p, n);
            name[n] = '\0';
            ok = nst_vgg19_layer_find(name, NULL) >= 0;
        }
        if (!ok) {
            char known[512];
            nst_vgg19_layer_names(known, sizeof known);
            fprintf(stderr, "nstyle render: unknown layer '%.*s' in %s (known: %s)\n", (int)n, p,
                    option, known);
            return false;
        }
        if (!end)
            return true;
        p = end + 1;
    }
}

static bool image_extension_ok(const char *path) {
    const char *base = strrchr(path, '/');
    const char *ext = strrchr(base ? base + 1 : path, '.');
    return ext && (strcasecmp(ext, ".png") == 0 || strcasecmp(ext, ".jpg") == 0 ||
                   strcasecmp(ext, ".jpeg") == 0);
}

enum {
    OPT_SIZE = 256, OPT_LR, OPT_SEED, OPT_CW, OPT_SW, OPT_TVW, OPT_CL, OPT_SL, OPT_POOL,
    OPT_INIT, OPT_VRAM, OPT_WS, OPT_DET, OPT_JSON
};

/* One option's value into a; returns -1 when fine, else the usage error's exit code. */
static int parse_option(int c, const char *v, render_args *a) {
    nst_render_options *o = &a->o;
    switch (c) {
    case 'c': a->content = v; break;
    case 's': a->style = v; break;
    case 'o': a->output = v; break;
    case 'm': a->model = v; break;
    case 'd': a->device = v; break;
    case 'q': a->quiet = true; break;
    case OPT_JSON: a->json = v; break;
    case OPT_CL: a->content_layers = v; break;
    case OPT_SL: a->style_layers = v; break;
    case OPT_DET: o->deterministic = true; break;
    case OPT_SIZE:
        a->long_side = a->width = a->height = 0;
        if (strpbrk(v, "xX") ? nst_cli_parse_size(v, &a->width, &a->height) == 0 &&
                                   a->width <= NST_IMAGE_MAX_SIDE &&
                                   a->height <= NST_IMAGE_MAX_SIDE
                             : parse_int(v, 1, NST_IMAGE_MAX_SIDE, &a->long_side))
            break;
        return usage_error("--size wants a long side N or WxH, sides 1..30000 (got '%s')", v);
    case 'n':
        if (!parse_int(v, 0, 10000000, &o->iterations))
            return usage_error("--iters wants a whole number 0..10000000 (got '%s')", v);
        break;
    case 't':
        if (!parse_int(v, 1, 4096, &a->threads))
            return usage_error("--threads wants a whole number 1..4096 (got '%s')", v);
        break;
    case OPT_SEED: {
        char *end = NULL;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (!*v || *v == '-' || errno || *end)
            return usage_error("--seed wants a whole number >= 0 (got '%s')", v);
        o->seed = s;
        break;
    }
    case OPT_LR:
        if (!parse_double(v, 1e-12, 1e6, &o->lr))
            return usage_error("--lr wants a number > 0 (got '%s')", v);
        break;
    case OPT_CW: case OPT_SW: case OPT_TVW: {
        double *w = c == OPT_CW ? &o->content_weight : c == OPT_SW ? &o->style_weight
                                                                   : &o->tv_weight;
        if (!parse_double(v, 0, 1e30, w))
            return usage_error("weights want a number >= 0 (got '%s')", v);
        break;
    }
    case OPT_POOL:
        if (strcmp(v, "max") == 0)
            o->pooling = NST_POOL_MAX;
        else if (strcmp(v, "avg") == 0)
            o->pooling = NST_POOL_AVG;
        else
            return usage_error("--pooling wants max or avg (got '%s')", v);
        break;
    case OPT_INIT:
        o->init = strcmp(v, "content") == 0 ? NST_INIT_CONTENT
                  : strcmp(v, "noise") == 0 ? NST_INIT_NOISE : NST_INIT_IMAGE;
        a->init_file = o->init == NST_INIT_IMAGE ? v : NULL;
        break;
    case OPT_VRAM: case OPT_WS:
        if (nst_parse_bytes(NULL, v, c == OPT_VRAM ? &a->vram_limit : &a->workspace_limit) !=
                NST_OK || (c == OPT_VRAM ? a->vram_limit : a->workspace_limit) == 0)
            return usage_error("memory limits want a size such as 4G, 512M or 1.5GiB (got '%s')",
                               v);
        break;
    default:
        return NST_EXIT_USAGE;
    }
    return -1;
}

/* Returns -1 when parsed, else the exit code (help or usage error). */
static int parse_args(int argc, char **argv, render_args *a) {
    static const struct option opts[] = {
        {"content", required_argument, NULL, 'c'},     {"style", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},      {"size", required_argument, NULL, OPT_SIZE},
        {"iters", required_argument, NULL, 'n'},       {"iterations", required_argument, NULL, 'n'},
        {"lr", required_argument, NULL, OPT_LR},       {"seed", required_argument, NULL, OPT_SEED},
        {"content-weight", required_argument, NULL, OPT_CW},
        {"style-weight", required_argument, NULL, OPT_SW},
        {"tv-weight", required_argument, NULL, OPT_TVW},
        {"content-layers", required_argument, NULL, OPT_CL},
        {"style-layers", required_argument, NULL, OPT_SL},
        {"pooling", required_argument, NULL, OPT_POOL}, {"init", required_argument, NULL, OPT_INIT},
        {"device", required_argument, NULL, 'd'},      {"threads", required_argument, NULL, 't'},
        {"vram-limit", required_argument, NULL, OPT_VRAM},
        {"workspace-limit", required_argument, NULL, OPT_WS},
        {"deterministic", no_argument, NULL, OPT_DET}, {"model", required_argument, NULL, 'm'},
        {"json", required_argument, NULL, OPT_JSON},   {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    nst_render_options_default(&a->o);
    a->long_side = 512;
    a->device = "auto";
    optind = 0; /* glibc: start afresh (main's getopt ran with another optstring) */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:s:o:n:d:t:m:qh", opts, NULL)) != -1) {
        if (c == 'h') {
            print_help(&a->o);
            return NST_EXIT_OK;
        }
        if (c == ':')
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        if (c == '?')
            return usage_error("unknown option '%s'", argv[optind - 1]);
        int rc = parse_option(c, optarg, a);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s' (images go with -c, -s and -o)",
                           argv[optind]);
    if (!a->content || !a->style || !a->output)
        return usage_error("missing %s", !a->content ? "-c CONTENT"
                                         : !a->style ? "-s STYLE" : "-o OUT");
    if (!image_extension_ok(a->output))
        return usage_error("cannot write '%s': OUT must end in .png, .jpg or .jpeg", a->output);
    return -1;
}

/* The folder of path accepts new files (checked before a render that may take minutes);
 * prints why not. */
static bool folder_writable(const char *path, const char *what) {
    char folder[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(folder, sizeof folder, ".");
    else if (slash == path)
        snprintf(folder, sizeof folder, "/");
    else
        snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
    if (access(folder, W_OK | X_OK) == 0)
        return true;
    fprintf(stderr, "nstyle render: cannot write %s '%s': folder '%s': %s\n", what, path, folder,
            strerror(errno));
    return false;
}

/* ---- images ---------------------------------------------------------------------------------- */

/* (w, h) scaled so that the long side is `side`, each side at least 1. */
static void scale_to_long_side(int w, int h, int side, int *ow, int *oh) {
    const double s = (double)side / (w > h ? w : h);
    *ow = w >= h ? side : (int)fmax(1.0, floor(w * s + 0.5));
    *oh = h > w ? side : (int)fmax(1.0, floor(h * s + 0.5));
}

/* Loads path as RGB at exactly w x h (Catmull-Rom when the size differs). */
static nst_status load_rgb_at(nst_ctx *ctx, const char *path, int w, int h, nst_image *out) {
    nst_image img = {0};
    nst_status s = nst_image_load(ctx, path, 3, &img);
    if (s != NST_OK || (img.width == w && img.height == h)) {
        *out = img;
        return s;
    }
    s = nst_image_resize(ctx, &img, w, h, out);
    nst_image_free(&img);
    return s;
}

static float *to_float(nst_ctx *ctx, const nst_image *img) {
    float *f = malloc((size_t)img->width * img->height * 3 * sizeof *f); // (H, W, 3)
    if (f && nst_image_to_float(ctx, img, f) == NST_OK)
        return f;
    free(f);
    return NULL;
}

/* Writes the float image to path; false after printing why. */
static bool save_float_image(nst_ctx *ctx, const char *path, const float *rgb, int w, int h) {
    nst_image img = {0};
    write_guard g;
    write_guard_begin(&g);
    nst_status s = nst_image_from_float(ctx, rgb, w, h, 3, &img);
    if (s == NST_OK)
        s = nst_image_save(ctx, path, &img, 95);
    nst_image_free(&img);
    write_guard_end(&g);
    if (s != NST_OK)
        fprintf(stderr, "nstyle render: %s\n", nst_last_error(ctx));
    return s == NST_OK;
}

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct {
    nst_cli_progress bar;
    const render_args *a;
} run_state;

static bool on_progress(const nst_render_progress *p, void *user) {
    run_state *st = user;
    char tv[32] = "", text[160];
    if (st->a->o.tv_weight > 0)
        snprintf(tv, sizeof tv, "  tv %.4g", p->tv_loss);
    snprintf(text, sizeof text, "content %.4g  style %.4g%s", p->content_loss, p->style_loss, tv);
    nst_cli_progress_update(&st->bar, p->iteration, text);
    return true;
}

/* SSIM of the content at the output's size against the output (NaN when too small). */
static double ssim_to_content(nst_ctx *ctx, const nst_image *content, const float *rgb) {
    nst_image out = {0};
    double v = NAN;
    if (content->width >= 11 && content->height >= 11 &&
        nst_image_from_float(ctx, rgb, content->width, content->height, 3, &out) == NST_OK &&
        nst_ssim_u8(ctx, content->data, out.data, content->width, content->height, 3, &v) !=
            NST_OK)
        v = NAN;
    nst_image_free(&out);
    return v;
}

static void print_summary(nst_ctx *ctx, const render_args *a, const nst_render_result *r,
                          double ssim) {
    printf("nstyle render: %dx%d, %d of %d iterations on %s%s\n", r->width, r->height,
           r->iterations_done, a->o.iterations, nst_ctx_device_name(ctx),
           r->cancelled ? " (stopped early)" : "");
    printf("  setup %.2f s, iterations %.2f s, %.4f s/iter\n", r->setup_seconds, r->seconds,
           r->s_per_iter);
    printf("  loss     %-12s %s\n", "initial", "final");
    printf("  content  %-12.5g %.5g\n", r->initial_content_loss, r->content_loss);
    printf("  style    %-12.5g %.5g\n", r->initial_style_loss, r->style_loss);
    if (a->o.tv_weight > 0)
        printf("  tv       %-12s %.5g\n", "", r->tv_loss);
    if (isfinite(ssim))
        printf("  SSIM to content %.4f\n", ssim);
    nst_cli_print_memory(stdout, ctx, 2);
    printf("wrote %s\n", a->output);
}

static void json_fields(nst_cli_json *j, const render_args *a, const nst_render_result *r,
                        double ssim, const char *weights) {
    nst_cli_json_str(j, "content", a->content);
    nst_cli_json_str(j, "style", a->style);
    nst_cli_json_str(j, "output", a->output);
    nst_cli_json_str(j, "weights", weights[0] ? weights : NULL);
    nst_cli_json_int(j, "width", r->width);
    nst_cli_json_int(j, "height", r->height);
    nst_cli_json_int(j, "iterations", r->iterations_done);
    nst_cli_json_int(j, "iterations_requested", a->o.iterations);
    nst_cli_json_bool(j, "cancelled", r->cancelled);
    nst_cli_json_num(j, "setup_seconds", r->setup_seconds);
    nst_cli_json_num(j, "seconds", r->seconds);
    nst_cli_json_num(j, "s_per_iter", r->s_per_iter);
    nst_cli_json_num(j, "content_loss", r->content_loss);
    nst_cli_json_num(j, "style_loss", r->style_loss);
    nst_cli_json_num(j, "tv_loss", r->tv_loss);
    nst_cli_json_num(j, "total_loss", r->total_loss);
    nst_cli_json_num(j, "initial_content_loss", r->initial_content_loss);
    nst_cli_json_num(j, "initial_style_loss", r->initial_style_loss);
    nst_cli_json_num(j, "ssim_to_content", ssim);
    nst_cli_json_int(j, "plan_bytes", (int64_t)r->plan_total_bytes);
    if (r->nonfinite_iteration >= 0) {
        nst_cli_json_str(j, "nonfinite_layer", r->nonfinite_layer);
        nst_cli_json_int(j, "nonfinite_iteration", r->nonfinite_iteration);
    }
}

/* "auto": cuda:0 when a GPU can be used, else the CPU. */
static nst_status select_device(nst_ctx *ctx, const char *device) {
    if (strcmp(device, "auto") != 0)
        return nst_ctx_set_device(ctx, device);
    nst_gpu_info gpu;
    int count = 0;
    char why[256];
    if (nst_list_gpus(&gpu, 1, &count, why, sizeof why) == NST_OK && count > 0)
        return nst_ctx_set_device(ctx, "cuda:0");
    return NST_OK;
}

/* Everything that needs freeing at the end. */
typedef struct {
    nst_image content, style, init;
    float *content_f, *style_f, *init_f;
    nst_render_result r;
    nst_cli_json *json;
    char weights[4096];
} run_data;

static int finish(nst_ctx *ctx, run_data *d, const render_args *a, nst_status s, double ssim) {
    int rc = s == NST_OK ? NST_EXIT_OK : NST_EXIT_FAILURE;
    if (d->json) {
        json_fields(d->json, a, &d->r, ssim, d->weights);
        nst_cli_json_memory(d->json, ctx);
        write_guard g;
        write_guard_begin(&g);
        if (nst_cli_json_write(d->json, ctx, s, a->json) != 0 && rc == NST_EXIT_OK)
            rc = NST_EXIT_FAILURE;
        write_guard_end(&g);
    }
    if (rc == NST_EXIT_OK && cancel_signal)
        rc = 128 + cancel_signal;
    nst_cli_json_free(d->json);
    nst_render_result_free(&d->r);
    nst_image_free(&d->content);
    nst_image_free(&d->style);
    nst_image_free(&d->init);
    free(d->content_f);
    free(d->style_f);
    free(d->init_f);
    nst_ctx_destroy(ctx);
    return rc;
}

static int fail(nst_ctx *ctx, run_data *d, const render_args *a, nst_status s) {
    fprintf(stderr, "nstyle render: %s\n", nst_last_error(ctx));
    return finish(ctx, d, a, s, NAN);
}

#define TRY(call)                                                                              \
    do {                                                                                       \
        nst_status try_status_ = (call);                                                       \
        if (try_status_ != NST_OK)                                                             \
            return try_status_;                                                                \
    } while (0)

/* Loads and scales the three images into d; the options point at the floats. */
static nst_status prepare_images(nst_ctx *ctx, render_args *a, run_data *d) {
    int cw, ch, cc, sw, sh, sc;
    TRY(nst_image_probe(ctx, a->content, &cw, &ch, &cc));
    TRY(nst_image_probe(ctx, a->style, &sw, &sh, &sc));
    int w = a->width, h = a->height;
    if (!w)
        scale_to_long_side(cw, ch, a->long_side, &w, &h);
    int stw, sth;
    scale_to_long_side(sw, sh, w > h ? w : h, &stw, &sth);
    TRY(load_rgb_at(ctx, a->content, w, h, &d->content));
    TRY(load_rgb_at(ctx, a->style, stw, sth, &d->style));
    if (a->init_file)
        TRY(load_rgb_at(ctx, a->init_file, w, h, &d->init));
    d->content_f = to_float(ctx, &d->content);
    d->style_f = to_float(ctx, &d->style);
    d->init_f = a->init_file ? to_float(ctx, &d->init) : NULL;
    if (!d->content_f || !d->style_f || (a->init_file && !d->init_f))
        return nst_last_status(ctx) != NST_OK ? nst_last_status(ctx) : NST_ERR_NO_MEMORY;
    a->o.width = w;
    a->o.height = h;
    a->o.content = d->content_f;
    a->o.style = d->style_f;
    a->o.style_width = stw;
    a->o.style_height = sth;
    a->o.init_image = d->init_f;
    return NST_OK;
}

int nst_cli_render(int argc, char **argv) {
    render_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (!layers_known(a.content_layers, "--content-layers") ||
        !layers_known(a.style_layers, "--style-layers") ||
        !folder_writable(a.output, "the output") ||
        (a.json && strcmp(a.json, "-") != 0 && !folder_writable(a.json, "the JSON summary")))
        return NST_EXIT_FAILURE;
    install_signal_handlers();
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        fprintf(stderr, "nstyle render: out of memory\n");
        return NST_EXIT_FAILURE;
    }
    run_data d = {.r = {.nonfinite_iteration = -1}};
    d.json = a.json ? nst_cli_json_begin("render") : NULL;
    nst_status s = select_device(ctx, a.device);
    if (s != NST_OK)
        return fail(ctx, &d, &a, s);
    if (a.threads)
        nst_ctx_set_threads(ctx, a.threads);
    if ((s = nst_vgg19_weights_find(ctx, a.model, d.weights, sizeof d.weights)) != NST_OK ||
        (s = prepare_images(ctx, &a, &d)) != NST_OK)
        return fail(ctx, &d, &a, s);

    run_state st = {.a = &a};
    a.o.content_layers = a.content_layers;
    a.o.style_layers = a.style_layers;
    a.o.weights_path = d.weights;
    a.o.vram_limit = a.vram_limit;
    a.o.workspace_limit = a.workspace_limit;
    a.o.progress = on_progress;
    a.o.progress_user = &st;
    a.o.cancel = &cancel_signal;
    nst_cli_progress_start(&st.bar, "iter", a.o.iterations, a.quiet);
    s = cancel_signal ? NST_OK : nst_render_gatys(ctx, &a.o, &d.r);
    nst_cli_progress_finish(&st.bar);
    if (s != NST_OK) {
        if (d.r.nonfinite_iteration >= 0)
            fprintf(stderr, "nstyle render: the loss became non-finite (NaN or infinite) at "
                            "iteration %d in %s; try a lower --lr or smaller loss weights\n",
                    d.r.nonfinite_iteration, d.r.nonfinite_layer);
        return fail(ctx, &d, &a, s);
    }
    if (!d.r.image) /* stopped by a signal before the render began: nothing to write */
        return finish(ctx, &d, &a, s, NAN);
    if (!save_float_image(ctx, a.output, d.r.image, d.r.width, d.r.height))
        return finish(ctx, &d, &a, nst_last_status(ctx), NAN);
    const double ssim = ssim_to_content(ctx, &d.content, d.r.image);
    if (!a.quiet && !(a.json && strcmp(a.json, "-") == 0)) /* stdout is the JSON's then */
        print_summary(ctx, &a, &d.r, ssim);
    return finish(ctx, &d, &a, s, ssim);
}
