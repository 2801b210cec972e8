/* `nstyle render -c CONTENT -s STYLE -o OUT [options]`: the Gatys render (nst_render_gatys) from
 * the command line. Loads and scales the images (the content to --size, the style to the
 * content's long side), finds the VGG19 weights, runs the render with a progress display on
 * stderr (report.h), writes the result atomically, prints a one-screen summary on stdout and,
 * with --json FILE, the summary schema of report.h with the render's fields (README, "JSON
 * summaries").
 *
 * The controls: several style images (-s a,b or -s repeated) with --style-blend and
 * --style-scale, --histogram-match, --original-colors, --optimizer adam|lbfgs with
 * --lbfgs-history and --line-search none|strong-wolfe (the library does these); --scales N
 * coarse to fine (here: each scale a render of its own at twice the previous size, started
 * from the previous result resized through 8 bits; the largest scale's plan is checked against
 * the budget before the first runs); --save-every N writes OUT_NNNNNN.ext (numbered across
 * scales) atomically.
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
 * Tested by tests/test_cli_render.c and tests/test_render_controls.c. */
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
#include "render_geometry.h"
#include "report.h"
#include "signals.h"

/* ---- arguments ------------------------------------------------------------------------------- */

#define MAX_SCALES 8

typedef struct {
    const char *content, *output, *init_file, *model, *json, *device;
    const char *style;     /* the first style (the JSON's "style") */
    char style_list[8192]; /* every -s value, comma-joined; split into styles[] */
    const char *styles[NST_RENDER_MAX_STYLES];
    int n_styles;
    double blend[NST_RENDER_MAX_STYLES];
    int n_blend;           /* 0: no --style-blend */
    double style_scale;    /* the styles' long side over the content's (default 1) */
    const char *content_layers, *style_layers;
    int long_side, width, height; /* --size N (long side) or WxH */
    bool quiet, lr_given, line_search_given;
    int threads;
    int scales, scale_iters[MAX_SCALES], n_scale_iters;
    int iterations; /* --iters (o.iterations is the current scale's) */
    size_t vram_limit, workspace_limit;
    nst_render_options o;
    nst_cli_geo_text geo; /* --content-transform, --style-transform as given */
} render_args;

static int usage_error(const char *fmt, const char *arg) {
    return nst_cli_usage_error("render", fmt, arg);
}

static bool parse_int(const char *s, long lo, long hi, int *out) {
    long v;
    if (!nst_cli_parse_long(s, lo, hi, &v))
        return false;
    *out = (int)v;
    return true;
}

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
           "  -s, --style FILE[,FILE...]  the style image(s), scaled to the content's long side\n"
           "                         (-s may be repeated; up to 8 images)\n"
           "      --style-blend W,W..  one weight >= 0 per style, normalised to sum 1: each\n"
           "                         layer's Gram target is their weighted sum (default equal)\n"
           "      --style-scale F    scale the styles to F times the content's long side\n"
           "                         (default 1)\n"
           "      --histogram-match  match the styles' colours to the content's first\n"
           "      --original-colors  keep the content's colours: the result's luminance with\n"
           "                         the content's chroma (YUV)\n"
           "  -o, --output FILE      the result\n"
           "      --size N | WxH     the result's long side in pixels, keeping CONTENT's aspect,\n"
           "                         or exactly W by H (default 512)\n"
           "      --init WHAT        content (default), noise (uniform, from --seed) or an image\n"
           "                         FILE (scaled to the result's size)\n"
           "\n"
           "Optimisation:\n"
           "  -n, --iters N          iterations (default %d); for L-BFGS, loss evaluations\n"
           "                         (with a line search, torch's max_eval: checked after each\n"
           "                         L-BFGS iteration, whose trial points all count, so the\n"
           "                         last line search may run a few past N)\n"
           "      --lr X             learning rate, on [0,1] pixel values (default %g; L-BFGS:\n"
           "                         its step length, default 1)\n"
           "      --optimizer O      adam (default) or lbfgs (torch.optim.LBFGS)\n"
           "      --lbfgs-history N  L-BFGS pairs kept (default 100; 2 N image-sized buffers)\n"
           "      --line-search L    L-BFGS only: none (default: the fixed step --lr, as\n"
           "                         neural-style) or strong-wolfe (torch's line search: trial\n"
           "                         steps until the strong Wolfe conditions hold, 25 at most;\n"
           "                         3 image-sized buffers more)\n"
           "      --scales N         coarse to fine: N sizes, each twice the previous, ending\n"
           "                         at --size; each starts from the previous result (default 1)\n"
           "      --scale-iters N,N..  iterations at each scale (default --iters each)\n"
           "      --seed N           seed of --init noise (default 0)\n"
           "      --content-weight X (default %g)\n"
           "      --style-weight X   (default %g)\n"
           "      --tv-weight X      total variation: smooths the result (default %g)\n"
           "      --content-layers L comma list (default relu4_2)\n"
           "      --style-layers L   comma list, equal weights (default\n"
           "                         relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)\n"
           "      --pooling max|avg  VGG19's pooling (default max)\n"
           "      --normalize-gradients  neural-style's: each loss's gradient at its layer\n"
           "                         divided by its L1 norm, then weighted (the image's\n"
           "                         gradient is then not the total loss's)\n"
           "  Layer names:\n",
           d->iterations, d->lr, d->content_weight, d->style_weight, d->tv_weight);
    print_layer_names();
    nst_cli_geo_help(d);
    printf("\n"
           "Device and memory:\n"
           "  -d, --device D         auto (default: cuda:0 when a GPU can be used, else cpu),\n"
           "                         cpu, cuda or cuda:N\n"
           "  -t, --threads N        CPU threads (default: all cores)\n"
           "      --vram-limit B     refuse a render whose memory plan exceeds B (e.g. 4G,\n"
           "                         512M); default: the device's free memory. Checked before\n"
           "                         anything is allocated; the message names the biggest\n"
           "                         consumers and what to change\n"
           "      --workspace-limit B  cap on each cuDNN convolution's workspace (default\n"
           "                         512M; the CPU's convolutions ignore it)\n"
           "      --deterministic    the same bits on every run (slower convolutions on GPUs)\n"
           "\n"
           "Output:\n"
           "      --save-every N     also write OUT_000100.png (OUT's name and extension) every\n"
           "                         N iterations, atomically\n"
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
           "neural-style's flags (jcjohnson/neural-style, ProGamerGov/neural-style-pt) here:\n"
           "  -style_image a,b -style_blend_weights: -s a,b --style-blend; -image_size: --size;\n"
           "  -num_iterations: --iters; -init image|random, -init_image: --init content|noise|\n"
           "  FILE (noise is uniform in [0,1], not their small Gaussian); -optimizer,\n"
           "  -learning_rate: --optimizer, --lr; -lbfgs_num_correction: --lbfgs-history;\n"
           "  -normalize_gradients, -style_scale, -original_colors, -pooling, -seed,\n"
           "  -content_layers, -style_layers, -content_weight, -style_weight, -tv_weight: the\n"
           "  same names with dashes (the loss weights are in other units: the README's render\n"
           "  section); -save_iter: --save-every; -print_iter: the progress line shows every\n"
           "  iteration; -gpu N: --device cuda:N; -backend cudnn, -cudnn_autotune: CUDA always\n"
           "  runs cuDNN, its algorithm chosen by cuDNN's heuristic; -model_file: --model\n"
           "  (safetensors; models/ converts torchvision's VGG19); -multigpu_strategy: one GPU.\n"
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
    OPT_INIT, OPT_VRAM, OPT_WS, OPT_DET, OPT_JSON, OPT_BLEND, OPT_SSCALE, OPT_HIST, OPT_ORIG,
    OPT_OPTIM, OPT_HISTORY, OPT_SAVE, OPT_SCALES, OPT_SCALE_ITERS, OPT_LINE_SEARCH, OPT_NORMGRAD
};

/* A comma list of numbers in [lo, hi] into v (at most max); the count, or -1. */
static int parse_list(const char *text, double lo, double hi, double *v, int max) {
    char buf[1024];
    const size_t len = strlen(text);
    if (len == 0 || len >= sizeof buf || text[0] == ',' || text[len - 1] == ',' ||
        strstr(text, ",,"))
        return -1;
    memcpy(buf, text, len + 1);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == max || !nst_cli_parse_double(tok, lo, hi, &v[n]))
            return -1;
        n++;
    }
    return n;
}

/* Adds a -s value (one file or a comma list) to the style list. */
static int add_styles(render_args *a, const char *v) {
    const size_t used = strlen(a->style_list);
    if (!*v || used + strlen(v) + 2 > sizeof a->style_list)
        return usage_error("-s wants one or more files (got '%s')", v);
    snprintf(a->style_list + used, sizeof a->style_list - used, "%s%s", used ? "," : "", v);
    return -1;
}

/* One option's value into a; returns -1 when fine, else the usage error's exit code. */
static int parse_option(int c, const char *v, render_args *a) {
    nst_render_options *o = &a->o;
    switch (c) {
    case 'c': a->content = v; break;
    case 's': return add_styles(a, v);
    case OPT_HIST: o->histogram_match = true; break;
    case OPT_ORIG: o->original_colors = true; break;
    case OPT_NORMGRAD: o->normalize_gradients = true; break;
    case OPT_BLEND:
        if ((a->n_blend = parse_list(v, 0, 1e30, a->blend, NST_RENDER_MAX_STYLES)) < 0)
            return usage_error("--style-blend wants a comma list of weights >= 0, one per style "
                               "(got '%s')", v);
        break;
    case OPT_SSCALE:
        if (!nst_cli_parse_double(v, 1e-3, 100, &a->style_scale))
            return usage_error("--style-scale wants a number in (0, 100] (got '%s')", v);
        break;
    case OPT_OPTIM:
        if (strcmp(v, "adam") == 0)
            o->optimizer = NST_OPTIMIZER_ADAM;
        else if (strcmp(v, "lbfgs") == 0)
            o->optimizer = NST_OPTIMIZER_LBFGS;
        else
            return usage_error("--optimizer wants adam or lbfgs (got '%s')", v);
        break;
    case OPT_HISTORY:
        if (!parse_int(v, 1, 1000, &o->lbfgs_history))
            return usage_error("--lbfgs-history wants a whole number 1..1000 (got '%s')", v);
        break;
    case OPT_LINE_SEARCH:
        a->line_search_given = true;
        if (strcmp(v, "none") == 0)
            o->lbfgs_line_search = NST_LINE_SEARCH_NONE;
        else if (strcmp(v, "strong-wolfe") == 0)
            o->lbfgs_line_search = NST_LINE_SEARCH_STRONG_WOLFE;
        else
            return usage_error("--line-search wants none or strong-wolfe (got '%s')", v);
        break;
    case OPT_SAVE:
        if (!parse_int(v, 1, 10000000, &o->save_every))
            return usage_error("--save-every wants a whole number >= 1 (got '%s')", v);
        break;
    case OPT_SCALES:
        if (!parse_int(v, 1, MAX_SCALES, &a->scales))
            return usage_error("--scales wants a whole number 1..8 (got '%s')", v);
        break;
    case OPT_SCALE_ITERS: {
        double it[MAX_SCALES];
        if ((a->n_scale_iters = parse_list(v, 0, 10000000, it, MAX_SCALES)) < 0)
            return usage_error("--scale-iters wants a comma list of iteration counts, one per "
                               "scale (got '%s')", v);
        for (int k = 0; k < a->n_scale_iters; k++) {
            if (it[k] != floor(it[k]))
                return usage_error("--scale-iters wants whole numbers (got '%s')", v);
            a->scale_iters[k] = (int)it[k];
        }
        break;
    }
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
        if (!nst_cli_parse_double(v, 1e-12, 1e6, &o->lr))
            return usage_error("--lr wants a number > 0 (got '%s')", v);
        a->lr_given = true;
        break;
    case OPT_CW: case OPT_SW: case OPT_TVW: {
        double *w = c == OPT_CW ? &o->content_weight : c == OPT_SW ? &o->style_weight
                                                                   : &o->tv_weight;
        if (!nst_cli_parse_double(v, 0, 1e30, w))
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
        if (c >= NST_CLI_GEO_FIRST && c <= NST_CLI_GEO_LAST)
            return nst_cli_geo_option(c, v, o, &a->geo);
        return NST_EXIT_USAGE;
    }
    return -1;
}

/* The style list into styles[] and the checks that need every option: blend and scale counts.
 * Returns -1 when fine, else the usage error's exit code. */
static int split_styles(render_args *a) {
    const char *list = a->style_list;
    if (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
        return usage_error("-s has an empty file name in '%s'", list);
    for (char *save = NULL, *tok = strtok_r(a->style_list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (a->n_styles == NST_RENDER_MAX_STYLES)
            return usage_error("-s: more than 8 style images (from '%s')", tok);
        a->styles[a->n_styles++] = tok;
    }
    a->style = a->styles[0];
    char got[32];
    snprintf(got, sizeof got, "%d", a->n_blend);
    if (a->n_blend && a->n_blend != a->n_styles)
        return usage_error("--style-blend has %s weights, not one per style image (-s)", got);
    double sum = 0;
    for (int j = 0; j < a->n_blend; j++)
        sum += a->blend[j];
    if (a->n_blend && !(sum > 0))
        return usage_error("--style-blend: the weights are all %s; one must be > 0", "0");
    snprintf(got, sizeof got, "%d", a->n_scale_iters);
    if (a->n_scale_iters && a->n_scale_iters != a->scales)
        return usage_error("--scale-iters has %s counts, not one per scale (--scales)", got);
    if (a->line_search_given && a->o.optimizer != NST_OPTIMIZER_LBFGS)
        return usage_error("--line-search is for L-BFGS only: add --optimizer lbfgs, or drop "
                           "%s", "--line-search");
    if (a->o.optimizer == NST_OPTIMIZER_LBFGS && !a->lr_given)
        a->o.lr = 1.0;
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
        {"style-blend", required_argument, NULL, OPT_BLEND},
        {"style-scale", required_argument, NULL, OPT_SSCALE},
        {"histogram-match", no_argument, NULL, OPT_HIST},
        {"original-colors", no_argument, NULL, OPT_ORIG},
        {"original-colours", no_argument, NULL, OPT_ORIG},
        {"normalize-gradients", no_argument, NULL, OPT_NORMGRAD},
        {"optimizer", required_argument, NULL, OPT_OPTIM},
        {"lbfgs-history", required_argument, NULL, OPT_HISTORY},
        {"line-search", required_argument, NULL, OPT_LINE_SEARCH},
        {"save-every", required_argument, NULL, OPT_SAVE},
        {"scales", required_argument, NULL, OPT_SCALES},
        {"scale-iters", required_argument, NULL, OPT_SCALE_ITERS},
        NST_CLI_GEO_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    nst_render_options_default(&a->o);
    a->long_side = 512;
    a->device = "auto";
    a->style_scale = 1.0;
    a->scales = 1;
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
    if (!a->content || !a->style_list[0] || !a->output)
        return usage_error("missing %s", !a->content ? "-c CONTENT"
                                         : !a->style_list[0] ? "-s STYLE" : "-o OUT");
    int rc = split_styles(a);
    if (rc >= 0 || (rc = nst_cli_geo_check(&a->o, a->n_styles)) >= 0)
        return rc;
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
    nst_cli_write_guard g = {0};
    nst_cli_write_guard_begin(&g);
    nst_status s = nst_image_from_float(ctx, rgb, w, h, 3, &img);
    if (s == NST_OK)
        s = nst_image_save(ctx, path, &img, 95);
    nst_image_free(&img);
    nst_cli_write_guard_end(&g);
    if (s != NST_OK)
        fprintf(stderr, "nstyle render: %s\n", nst_last_error(ctx));
    return s == NST_OK;
}

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct {
    nst_cli_progress bar;
    const render_args *a;
    char label[32];
    int offset; /* iterations done at the coarser scales */
} run_state;

/* OUT with _NNNNNN before its extension. */
static void snapshot_path(const char *out, int n, char *buf, size_t size) {
    const char *base = strrchr(out, '/');
    const char *dot = strrchr(base ? base + 1 : out, '.');
    const int stem = dot ? (int)(dot - out) : (int)strlen(out);
    snprintf(buf, size, "%.*s_%06d%s", stem, out, n, dot ? dot : "");
}

/* --save-every: the image so far to OUT_NNNNNN.ext (atomically). */
static bool on_snapshot(const float *image, int w, int h, int iteration, void *user) {
    run_state *st = user;
    char path[4096];
    snapshot_path(st->a->output, st->offset + iteration, path, sizeof path);
    nst_ctx *ctx = nst_ctx_create();
    const bool ok = ctx && save_float_image(ctx, path, image, w, h);
    nst_ctx_destroy(ctx);
    return ok;
}

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

typedef struct run_data run_data;

static void print_summary(nst_ctx *ctx, const render_args *a, const run_data *d, double ssim);
static void json_fields(nst_cli_json *j, const render_args *a, const run_data *d, double ssim);

static void print_summary_of(nst_ctx *ctx, const render_args *a, const nst_render_result *r,
                             int done, int requested, double ssim) {
    const bool lbfgs = a->o.optimizer == NST_OPTIMIZER_LBFGS;
    printf("nstyle render: %dx%d, %d of %d %s on %s%s\n", r->width, r->height, done, requested,
           lbfgs ? "evaluations (L-BFGS)" : "iterations", nst_ctx_device_name(ctx),
           r->cancelled ? " (stopped early)" : r->converged ? " (converged)" : "");
    printf("  setup %.2f s, iterations %.2f s, %.4f s/iter\n", r->setup_seconds, r->seconds,
           r->s_per_iter);
    printf("  loss     %-12s %s\n", "initial", "final");
    printf("  content  %-12.5g %.5g\n", r->initial_content_loss, r->content_loss);
    printf("  style    %-12.5g %.5g\n", r->initial_style_loss, r->style_loss);
    nst_cli_geo_summary(&a->o, r);
    if (a->o.tv_weight > 0)
        printf("  tv       %-12s %.5g\n", "", r->tv_loss);
    if (isfinite(ssim))
        printf("  SSIM to content %.4f\n", ssim);
    nst_cli_print_memory(stdout, ctx, 2);
    printf("wrote %s\n", a->output);
}

static void json_fields_of(nst_cli_json *j, const render_args *a, const nst_render_result *r,
                           double ssim, const char *weights, int done, int requested) {
    nst_cli_json_str(j, "content", a->content);
    nst_cli_json_str(j, "style", a->style);
    nst_cli_json_str(j, "output", a->output);
    nst_cli_json_str(j, "weights", weights[0] ? weights : NULL);
    nst_cli_json_int(j, "width", r->width);
    nst_cli_json_int(j, "height", r->height);
    nst_cli_json_int(j, "iterations", done);
    nst_cli_json_int(j, "iterations_requested", requested);
    nst_cli_json_str(j, "optimizer", a->o.optimizer == NST_OPTIMIZER_LBFGS ? "lbfgs" : "adam");
    nst_cli_json_int(j, "evaluations", done);
    if (a->o.optimizer == NST_OPTIMIZER_LBFGS) {
        nst_cli_json_int(j, "lbfgs_history", a->o.lbfgs_history);
        const bool wolfe = a->o.lbfgs_line_search == NST_LINE_SEARCH_STRONG_WOLFE;
        nst_cli_json_str(j, "line_search", wolfe ? "strong-wolfe" : "none");
        nst_cli_json_bool(j, "converged", r->converged);
    }
    nst_cli_json_int(j, "styles", a->n_styles);
    double blend[NST_RENDER_MAX_STYLES], sum = 0;
    for (int k = 0; k < a->n_styles; k++)
        sum += blend[k] = a->n_blend ? a->blend[k] : 1.0;
    for (int k = 0; k < a->n_styles; k++)
        blend[k] /= sum;
    nst_cli_json_num_array(j, "style_blend", blend, (size_t)a->n_styles);
    nst_cli_json_num(j, "style_scale", a->style_scale);
    nst_cli_json_bool(j, "original_colors", a->o.original_colors);
    nst_cli_json_bool(j, "normalize_gradients", a->o.normalize_gradients);
    nst_cli_json_bool(j, "histogram_match", a->o.histogram_match);
    nst_cli_json_int(j, "scales", a->scales);
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
    nst_cli_geo_json(j, &a->o, &a->geo, r);
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
struct run_data {
    nst_image content, style[NST_RENDER_MAX_STYLES], init;
    float *content_f, *style_f[NST_RENDER_MAX_STYLES], *init_f;
    int style_w[NST_RENDER_MAX_STYLES], style_h[NST_RENDER_MAX_STYLES];
    nst_render_result r;
    nst_cli_json *json;
    char weights[4096];
    int iterations_total, requested_total; /* over all scales */
    double seconds_total;
};

static void print_summary(nst_ctx *ctx, const render_args *a, const run_data *d, double ssim) {
    print_summary_of(ctx, a, &d->r, d->iterations_total, d->requested_total, ssim);
}

static void json_fields(nst_cli_json *j, const render_args *a, const run_data *d, double ssim) {
    json_fields_of(j, a, &d->r, ssim, d->weights, d->iterations_total, d->requested_total);
}

static void free_images(run_data *d) {
    nst_image_free(&d->content);
    nst_image_free(&d->init);
    free(d->content_f);
    free(d->init_f);
    d->content_f = d->init_f = NULL;
    for (int j = 0; j < NST_RENDER_MAX_STYLES; j++) {
        nst_image_free(&d->style[j]);
        free(d->style_f[j]);
        d->style_f[j] = NULL;
    }
}

static int finish(nst_ctx *ctx, run_data *d, const render_args *a, nst_status s, double ssim) {
    int rc = s == NST_OK ? NST_EXIT_OK : NST_EXIT_FAILURE;
    if (d->json) {
        json_fields(d->json, a, d, ssim);
        nst_cli_json_memory(d->json, ctx);
        nst_cli_write_guard g = {0};
        nst_cli_write_guard_begin(&g);
        if (nst_cli_json_write(d->json, ctx, s, a->json) != 0 && rc == NST_EXIT_OK)
            rc = NST_EXIT_FAILURE;
        nst_cli_write_guard_end(&g);
    }
    if (rc == NST_EXIT_OK && nst_cli_cancel_signal)
        rc = 128 + nst_cli_cancel_signal;
    nst_cli_json_free(d->json);
    nst_render_result_free(&d->r);
    free_images(d);
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

/* The result's size at scale k (0 = the coarsest): --size halved scales - 1 - k times. */
static nst_status scale_size(nst_ctx *ctx, const render_args *a, int k, int *w, int *h) {
    int cw, ch, cc;
    TRY(nst_image_probe(ctx, a->content, &cw, &ch, &cc));
    int fw = a->width, fh = a->height;
    if (!fw)
        scale_to_long_side(cw, ch, a->long_side, &fw, &fh);
    const double f = ldexp(1.0, -(a->scales - 1 - k));
    *w = (int)fmax(1.0, floor(fw * f + 0.5));
    *h = (int)fmax(1.0, floor(fh * f + 0.5));
    return NST_OK;
}

/* Each style's size for a w x h result: its long side --style-scale times the result's. */
static nst_status style_sizes(nst_ctx *ctx, const render_args *a, int w, int h, int *sw,
                              int *sh) {
    const int side = (int)fmax(1.0, floor(a->style_scale * (w > h ? w : h) + 0.5));
    for (int j = 0; j < a->n_styles; j++) {
        int iw, ih, ic;
        TRY(nst_image_probe(ctx, a->styles[j], &iw, &ih, &ic));
        scale_to_long_side(iw, ih, side, &sw[j], &sh[j]);
    }
    return NST_OK;
}

/* prev (pw x ph) to w x h through 8 bits (Catmull-Rom), as a new float image. */
static float *upsample_previous(nst_ctx *ctx, const float *prev, int pw, int ph, int w, int h) {
    nst_image small = {0}, big = {0};
    float *out = NULL;
    if (nst_image_from_float(ctx, prev, pw, ph, 3, &small) == NST_OK &&
        nst_image_resize(ctx, &small, w, h, &big) == NST_OK)
        out = to_float(ctx, &big);
    nst_image_free(&small);
    nst_image_free(&big);
    return out;
}

/* Loads and scales the images of scale k into d (the previous scale's result, when there is
 * one, becomes the initial image); the options point at the floats. */
static nst_status prepare_scale(nst_ctx *ctx, render_args *a, run_data *d, int k) {
    int w, h;
    TRY(scale_size(ctx, a, k, &w, &h));
    TRY(style_sizes(ctx, a, w, h, d->style_w, d->style_h));
    float *prev = d->r.image;
    const int pw = d->r.width, ph = d->r.height;
    d->r.image = NULL;
    free_images(d);
    nst_status st = load_rgb_at(ctx, a->content, w, h, &d->content);
    for (int j = 0; st == NST_OK && j < a->n_styles; j++)
        st = load_rgb_at(ctx, a->styles[j], d->style_w[j], d->style_h[j], &d->style[j]);
    if (st == NST_OK && a->init_file && !prev)
        st = load_rgb_at(ctx, a->init_file, w, h, &d->init);
    bool ok = st == NST_OK && (d->content_f = to_float(ctx, &d->content));
    for (int j = 0; ok && j < a->n_styles; j++)
        ok = (d->style_f[j] = to_float(ctx, &d->style[j])) != NULL;
    if (ok && prev)
        ok = (d->init_f = upsample_previous(ctx, prev, pw, ph, w, h)) != NULL;
    else if (ok && a->init_file)
        ok = (d->init_f = to_float(ctx, &d->init)) != NULL;
    free(prev);
    nst_render_result_free(&d->r);
    if (!ok)
        return st != NST_OK ? st
               : nst_last_status(ctx) != NST_OK ? nst_last_status(ctx) : NST_ERR_NO_MEMORY;
    nst_render_options *o = &a->o;
    o->width = w, o->height = h, o->content = d->content_f;
    o->n_styles = a->n_styles;
    o->styles = (const float *const *)d->style_f;
    o->styles_width = d->style_w, o->styles_height = d->style_h;
    o->style_blend = a->n_blend ? a->blend : NULL;
    o->init_image = d->init_f;
    if (prev)
        o->init = NST_INIT_IMAGE;
    o->iterations = a->n_scale_iters ? a->scale_iters[k] : a->iterations;
    return NST_OK;
}

/* Coarse to fine: the largest scale's plan against the budget before the first scale runs. */
static nst_status check_largest_scale(nst_ctx *ctx, const render_args *a) {
    nst_render_options o = a->o;
    int sw[NST_RENDER_MAX_STYLES], sh[NST_RENDER_MAX_STYLES];
    TRY(scale_size(ctx, a, a->scales - 1, &o.width, &o.height));
    TRY(style_sizes(ctx, a, o.width, o.height, sw, sh));
    o.n_styles = a->n_styles, o.styles = NULL, o.styles_width = sw, o.styles_height = sh;
    nst_plan *plan = NULL;
    TRY(nst_render_plan(ctx, &o, &plan));
    nst_status st = nst_plan_check_budget(ctx, plan, a->vram_limit);
    nst_plan_destroy(plan);
    return st;
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
    nst_cli_signals_install();
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
    a.iterations = a.o.iterations;
    a.o.content_layers = a.content_layers;
    a.o.style_layers = a.style_layers;
    a.o.vram_limit = a.vram_limit;
    a.o.workspace_limit = a.workspace_limit;
    if ((s = nst_vgg19_weights_find(ctx, a.model, d.weights, sizeof d.weights)) != NST_OK ||
        (a.scales > 1 && (s = check_largest_scale(ctx, &a)) != NST_OK))
        return fail(ctx, &d, &a, s);

    run_state st = {.a = &a};
    a.o.weights_path = d.weights;
    a.o.progress = on_progress;
    a.o.progress_user = &st;
    a.o.cancel = &nst_cli_cancel_signal;
    a.o.snapshot = a.o.save_every > 0 ? on_snapshot : NULL;
    a.o.snapshot_user = &st;
    for (int k = 0; k < a.scales && !nst_cli_cancel_signal; k++) {
        if ((s = prepare_scale(ctx, &a, &d, k)) != NST_OK)
            return fail(ctx, &d, &a, s);
        snprintf(st.label, sizeof st.label, a.scales > 1 ? "scale %d/%d" : "iter", k + 1,
                 a.scales);
        nst_cli_progress_start(&st.bar, st.label, a.o.iterations, a.quiet);
        s = nst_render_gatys(ctx, &a.o, &d.r);
        nst_cli_progress_finish(&st.bar);
        d.iterations_total += d.r.iterations_done;
        d.requested_total += a.o.iterations;
        d.seconds_total += d.r.seconds;
        st.offset = d.iterations_total;
        if (s != NST_OK) {
            if (d.r.nonfinite_iteration >= 0)
                fprintf(stderr, "nstyle render: the loss became non-finite (NaN or infinite) at "
                                "iteration %d in %s; try a lower --lr or smaller loss weights\n",
                        d.r.nonfinite_iteration, d.r.nonfinite_layer);
            return fail(ctx, &d, &a, s);
        }
        if (d.r.cancelled)
            break;
    }
    if (!d.r.image) /* stopped by a signal before the render began: nothing to write */
        return finish(ctx, &d, &a, s, NAN);
    if (!save_float_image(ctx, a.output, d.r.image, d.r.width, d.r.height))
        return finish(ctx, &d, &a, nst_last_status(ctx), NAN);
    const double ssim = nst_cli_geo_content(ctx, &a.o, &d.content) == NST_OK
                            ? ssim_to_content(ctx, &d.content, d.r.image) : NAN;
    if (!a.quiet && !(a.json && strcmp(a.json, "-") == 0)) /* stdout is the JSON's then */
        print_summary(ctx, &a, &d, ssim);
    return finish(ctx, &d, &a, s, ssim);
}
