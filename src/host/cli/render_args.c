/* `nstyle render`'s arguments (render_args.h): every option into render_args and
 * nst_render_options, with a usage error (exit 2) that names the option and the value; the
 * --help text with neural-style's flags mapped; the layer and output-folder checks. Tested by
 * tests/test_cli_render.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "nstyle/vgg19.h"
#include "render_args.h"
#include "report.h"


static int usage_error(const char *fmt, const char *arg) {
    return nst_cli_usage_error("render", fmt, arg);
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
           "Batches (docs/cluster.md):\n"
           "      --manifest FILE    run the renders of FILE, one a line: CONTENT<tab>STYLE<tab>\n"
           "                         OUTPUT, then any number of <tab>--name=value options for\n"
           "                         that render (after the command line's); '#' lines are\n"
           "                         comments. A render whose OUTPUT exists and decodes is\n"
           "                         skipped, so a rerun resumes; one that fails does not stop\n"
           "                         the others. Each runs with --quiet\n"
           "      --shard I/N        take renders I, I+N, ... (I in 1..N); by default the shard\n"
           "                         of a Slurm array task or of a Kubernetes indexed Job\n"
           "                         (JOB_COMPLETION_INDEX of NSTYLE_SHARD_COUNT), else all\n"
           "  With --manifest, --json FILE is the shard's summary ({shard} in FILE becomes\n"
           "  I-of-N; default MANIFEST.shard-I-of-N.json) and --threads defaults to\n"
           "  SLURM_CPUS_PER_TASK\n"
           "\n"
           "Output:\n"
           "      --save-every N     also write OUT_000100.png (OUT's name and extension) every\n"
           "                         N iterations, atomically\n"
           "      --json FILE        a JSON summary (docs/json.md); \"-\" writes it to\n"
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
           "  same names with dashes (the loss weights are in other units: docs/render.md);\n"
           "  -save_iter: --save-every; -print_iter: the progress line shows every\n"
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
bool nst_cli_render_layers_known(const char *list, const char *option) {
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
    OPT_SIZE = 256, OPT_LR, OPT_SEED, OPT_CW, OPT_SW, OPT_TVW, OPT_INIT, OPT_VRAM, OPT_WS,
    OPT_DET, OPT_JSON, OPT_BLEND, OPT_SSCALE, OPT_HIST, OPT_ORIG, OPT_SAVE, OPT_SCALE_ITERS
};

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
    case OPT_BLEND:
        if ((a->n_blend = nst_cli_parse_list(v, 0, 1e30, a->blend, NST_RENDER_MAX_STYLES)) < 0)
            return usage_error("--style-blend wants a comma list of weights >= 0, one per style "
                               "(got '%s')", v);
        break;
    case OPT_SSCALE:
        if (!nst_cli_parse_double(v, 1e-3, 100, &a->style_scale))
            return usage_error("--style-scale wants a number in (0, 100] (got '%s')", v);
        break;
    case OPT_SAVE:
        if (!nst_cli_parse_int(v, 1, 10000000, &o->save_every))
            return usage_error("--save-every wants a whole number >= 1 (got '%s')", v);
        break;
    case OPT_SCALE_ITERS: {
        double it[MAX_SCALES];
        if ((a->n_scale_iters = nst_cli_parse_list(v, 0, 10000000, it, MAX_SCALES)) < 0)
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
    case OPT_DET: o->deterministic = true; break;
    case OPT_SIZE:
        a->long_side = a->width = a->height = 0;
        if (strpbrk(v, "xX") ? nst_cli_parse_size(v, &a->width, &a->height) == 0 &&
                                   a->width <= NST_IMAGE_MAX_SIDE &&
                                   a->height <= NST_IMAGE_MAX_SIDE
                             : nst_cli_parse_int(v, 1, NST_IMAGE_MAX_SIDE, &a->long_side))
            break;
        return usage_error("--size wants a long side N or WxH, sides 1..30000 (got '%s')", v);
    case 'n':
        if (!nst_cli_parse_int(v, 0, 10000000, &o->iterations))
            return usage_error("--iters wants a whole number 0..10000000 (got '%s')", v);
        break;
    case 't':
        if (!nst_cli_parse_int(v, 1, 4096, &a->threads))
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
        if (nst_cli_is_memory_option(c))
            return nst_cli_memory_option("render", c, v, o, &a->mem);
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
    if (a->n_scale_iters && a->n_scale_iters != a->mem.scales)
        return usage_error("--scale-iters has %s counts, not one per scale (--scales)", got);
    if (a->mem.line_search_given && a->o.optimizer != NST_OPTIMIZER_LBFGS)
        return usage_error("--line-search is for L-BFGS only: add --optimizer lbfgs, or drop "
                           "%s", "--line-search");
    if (a->o.optimizer == NST_OPTIMIZER_LBFGS && !a->lr_given)
        a->o.lr = 1.0;
    return -1;
}

/* Returns -1 when parsed, else the exit code (help or usage error). */
int nst_cli_render_parse_args(int argc, char **argv, render_args *a) {
    static const struct option opts[] = {
        {"content", required_argument, NULL, 'c'},     {"style", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},      {"size", required_argument, NULL, OPT_SIZE},
        {"iters", required_argument, NULL, 'n'},       {"iterations", required_argument, NULL, 'n'},
        {"lr", required_argument, NULL, OPT_LR},       {"seed", required_argument, NULL, OPT_SEED},
        {"content-weight", required_argument, NULL, OPT_CW},
        {"style-weight", required_argument, NULL, OPT_SW},
        {"tv-weight", required_argument, NULL, OPT_TVW},
        {"init", required_argument, NULL, OPT_INIT},
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
        {"save-every", required_argument, NULL, OPT_SAVE},
        {"scale-iters", required_argument, NULL, OPT_SCALE_ITERS},
        NST_CLI_MEMORY_OPTIONS,
        NST_CLI_GEO_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    nst_render_options_default(&a->o);
    a->long_side = 512;
    a->device = "auto";
    a->style_scale = 1.0;
    a->mem.scales = 1;
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
    a->scales = a->mem.scales;
    a->content_layers = a->o.content_layers;
    a->style_layers = a->o.style_layers;
    int rc = split_styles(a);
    if (rc >= 0 || (rc = nst_cli_geo_check(&a->o, a->n_styles)) >= 0)
        return rc;
    if (!image_extension_ok(a->output))
        return usage_error("cannot write '%s': OUT must end in .png, .jpg or .jpeg", a->output);
    return -1;
}

/* The folder of path accepts new files (checked before a render that may take minutes);
 * prints why not. */
bool nst_cli_render_folder_writable(const char *path, const char *what) {
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
