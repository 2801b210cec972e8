/* `nstyle plan --size WxH [--style-size WxH ...] [--content-layers L] [--style-layers L]
 * [--pooling max|avg] [--optimizer adam|lbfgs] [--lbfgs-history N] [--line-search L] [--scales N]
 * [--normalize-gradients] [--robust N] [--style-augment K] [--learn-style-transform] [--device D]
 * [--workspace-limit B] [--buffers] [--json FILE]`: the memory plan of a Gatys render
 * (nst_render_plan, the render's own dry run), with no weights and no images: the layer shapes
 * come from the VGG19 table. One --style-size per style image (each style's target pass has its
 * own size); L-BFGS adds its history (2 (m + 1) image-sized vectors, printed on a line of their
 * own, counted from the plan's buffers); --scales N lists each scale's total and prints the plan
 * of the largest, which the render checks before its first scale.
 * `nstyle plan --train [--crop N] [--batch N] [--style-size WxH] [--width N] [layers]`: the
 * memory plan of `nstyle train` (nst_train_plan, the trainer's own dry run).
 * Prints the plan by tag, then `total: <bytes> bytes (<x> MiB)`, and beside it the CUDA
 * context's own share (measured, not in the total; "does not apply" on the CPU). --buffers adds
 * every buffer; --json writes the same in the shared summary schema (report.h). Exit codes: 0
 * success, 1 failure, 2 usage error. Tested by tests/test_cli_plan.c. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "nstyle/render.h"
#include "nstyle/train.h"
#include "nstyle/vgg19.h"
#include "geometry_args.h"
#include "report.h"

static void print_help(void) {
    char names[512];
    nst_vgg19_layer_names(names, sizeof names);
    printf("Usage: nstyle plan --size WxH [--style-size WxH ...] [--content-layers L]\n"
           "                   [--style-layers L] [--pooling max|avg] [--optimizer adam|lbfgs]\n"
           "                   [--lbfgs-history N] [--scales N] [--device D]\n"
           "                   [--workspace-limit B] [--buffers] [--json FILE]\n"
           "       nstyle plan --train [--crop N] [--batch N] [--style-size WxH] [--width N]\n"
           "                   [--content-layers L] [--style-layers L] [--device D] ...\n"
           "\n"
           "Prints the exact memory plan of a render (weights, activations, gradients, op\n"
           "workspace, the optimiser's state, the style-target passes), or with --train of a\n"
           "training run, without weights, images or a GPU.\n"
           "\n"
           "Render:\n"
           "  -s, --size WxH            the content (output) size; required\n"
           "  -S, --style-size WxH      a style image's size, once per style (up to %d;\n"
           "                            default: one style of --size)\n"
           "  -c, --content-layers L    comma list (default relu4_2)\n"
           "  -l, --style-layers L      comma list (default relu1_1,relu2_1,relu3_1,relu4_1,\n"
           "                            relu5_1)\n"
           "  -p, --pooling max|avg     (default max)\n"
           "      --optimizer O         adam (default) or lbfgs\n"
           "      --lbfgs-history N     L-BFGS pairs kept (default 100): 2 (N + 1) vectors of\n"
           "                            the image's size\n"
           "      --scales N            coarse to fine as render runs it: each scale's total,\n"
           "                            and the plan of the largest (--size)\n"
           "      --line-search none|strong-wolfe  L-BFGS's (strong-wolfe: 3 vectors more)\n"
           "      --normalize-gradients  two temporaries of each loss layer's size\n"
           "      --robust N, --style-augment K, --learn-style-transform  the views and the\n"
           "                            style pass's backward, as render plans them\n"
           "\n"
           "Training (the plan of `nstyle train` with the same settings):\n"
           "      --train               plan a training run instead of a render\n"
           "      --crop N              crop side, a multiple of 4 (train's --size; default 256)\n"
           "      --batch N             crops per step (default 4)\n"
           "  -S, --style-size WxH      the style image after train's resize (default: the crop)\n"
           "      --width N             the TransformerNet's base width (default 32)\n"
           "  -c, -l                    layers (default relu2_2; relu1_2,relu2_2,relu3_4,relu4_4)\n"
           "\n"
           "Both:\n"
           "  -d, --device D            cpu (default), cuda or cuda:N: whose op workspace;\n"
           "                            without a GPU, cuda counts each convolution's cuDNN\n"
           "                            workspace at its --workspace-limit bound and says so\n"
           "  -w, --workspace-limit B   the cuDNN workspace cap (default 512M)\n"
           "  -b, --buffers             also list every buffer, largest first\n"
           "  -j, --json FILE           the summary as JSON (\"-\" = stdout)\n"
           "  -h, --help                this text\n"
           "\n"
           "Layers: %s\n"
           "\n"
           "Exit status: 0 success, 1 failure (the message says what), 2 usage error.\n",
           NST_RENDER_MAX_STYLES, names);
}

#define TRAIN_CONTENT "relu2_2"
#define TRAIN_STYLE "relu1_2,relu2_2,relu3_4,relu4_4"

typedef struct {
    nst_render_options o;
    int n_styles, style_w[NST_RENDER_MAX_STYLES], style_h[NST_RENDER_MAX_STYLES];
    nst_cli_memory_args mem; /* the options that change memory, as render takes them */
    bool train;
    nst_train_options t;
    const char *render_only, *train_only; /* an option given that the other mode refuses */
    const char *device, *json;
    bool buffers;
    size_t workspace_limit; /* 0 = the default */
    nst_cli_geo_text geo;
} plan_args;

static int usage_error(const char *fmt, const char *arg) {
    return nst_cli_usage_error("plan", fmt, arg);
}

enum { OPT_TRAIN = 256, OPT_CROP, OPT_BATCH, OPT_WIDTH };

/* optarg as a whole number lo..hi into *out: -1, else the usage error's exit code. */
static int whole(const char *opt, long lo, long hi, int *out) {
    if (nst_cli_parse_int(optarg, lo, hi, out))
        return -1;
    char text[256];
    snprintf(text, sizeof text, "%s wants a whole number %ld..%ld (got '%%s')", opt, lo, hi);
    return usage_error(text, optarg);
}

/* After the options: the mode's checks and defaults. */
static int finish_args(plan_args *a) {
    if (a->train) {
        if (a->render_only)
            return usage_error("%s plans a render; --train takes --crop, --batch, --width, one "
                               "--style-size and the layers", a->render_only);
        if (a->n_styles > 1)
            return usage_error("%s", "--train takes one --style-size (the one style image)");
        nst_train_options *t = &a->t;
        t->style_width = a->n_styles ? a->style_w[0] : t->size;
        t->style_height = a->n_styles ? a->style_h[0] : t->size;
        t->content_layers = a->o.content_layers;
        t->style_layers = a->o.style_layers;
        return -1;
    }
    if (a->train_only)
        return usage_error("%s plans a training run: add --train", a->train_only);
    if (!a->o.width)
        return usage_error("%s", "--size WxH is required (or --train for a training run)");
    if (a->n_styles == 0) {
        a->n_styles = 1;
        a->style_w[0] = a->o.width;
        a->style_h[0] = a->o.height;
    }
    a->o.style_width = a->style_w[0];
    a->o.style_height = a->style_h[0];
    if (a->n_styles > 1) {
        a->o.n_styles = a->n_styles;
        a->o.styles_width = a->style_w;
        a->o.styles_height = a->style_h;
    }
    if (a->mem.line_search_given && a->o.optimizer != NST_OPTIMIZER_LBFGS)
        return usage_error("%s", "--line-search is L-BFGS's: add --optimizer lbfgs");
    nst_cli_geo_set_command("plan");
    return nst_cli_geo_check(&a->o, a->n_styles);
}

/* Returns -1 when parsed, else the exit code (help or usage error). */
static int parse_args(int argc, char **argv, plan_args *a) {
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'},       {"style-size", required_argument, NULL, 'S'},
        {"device", required_argument, NULL, 'd'},
        {"buffers", no_argument, NULL, 'b'},          {"json", required_argument, NULL, 'j'},
        {"workspace-limit", required_argument, NULL, 'w'},
        NST_CLI_MEMORY_OPTIONS,
        {"robust", required_argument, NULL, NST_CLI_GEO_ROBUST},
        {"style-augment", required_argument, NULL, NST_CLI_GEO_AUGMENT},
        {"learn-style-transform", no_argument, NULL, NST_CLI_GEO_LEARN},
        {"train", no_argument, NULL, OPT_TRAIN},      {"crop", required_argument, NULL, OPT_CROP},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    *a = (plan_args){.device = "cpu", .mem = {.scales = 1}};
    nst_render_options_default(&a->o);
    nst_train_options_default(&a->t);
    optind = 0;
    opterr = 0;
    int c, rc = -1;
    while (rc < 0 && (c = getopt_long(argc, argv, ":s:S:c:l:p:d:bj:w:h", opts, NULL)) != -1) {
        /* -c, -l, -p: the short forms of the options render and plan share (args.h) */
        c = c == 'c' ? NST_CLI_MEM_CONTENT_LAYERS : c == 'l' ? NST_CLI_MEM_STYLE_LAYERS
            : c == 'p' ? NST_CLI_MEM_POOLING : c;
        if (nst_cli_is_memory_option(c)) {
            rc = nst_cli_memory_option("plan", c, optarg, &a->o, &a->mem);
            if (c != NST_CLI_MEM_CONTENT_LAYERS && c != NST_CLI_MEM_STYLE_LAYERS)
                a->render_only = a->mem.given;
            continue;
        }
        switch (c) {
        case 'h':
            print_help();
            return NST_EXIT_OK;
        case 's':
            if (nst_cli_parse_size(optarg, &a->o.width, &a->o.height) != 0)
                return usage_error("--size wants WxH, e.g. 768x512 (got '%s')", optarg);
            a->render_only = "--size";
            break;
        case 'S':
            if (a->n_styles == NST_RENDER_MAX_STYLES)
                return usage_error("at most %s --style-size (one per style image)", "8");
            if (nst_cli_parse_size(optarg, &a->style_w[a->n_styles], &a->style_h[a->n_styles]))
                return usage_error("--style-size wants WxH, e.g. 768x512 (got '%s')", optarg);
            a->n_styles++;
            break;
        case NST_CLI_GEO_ROBUST:
        case NST_CLI_GEO_AUGMENT:
        case NST_CLI_GEO_LEARN:
            nst_cli_geo_set_command("plan");
            rc = nst_cli_geo_option(c, optarg, &a->o, &a->geo);
            a->render_only = c == NST_CLI_GEO_ROBUST    ? "--robust"
                             : c == NST_CLI_GEO_AUGMENT ? "--style-augment"
                                                        : "--learn-style-transform";
            break;
        case OPT_TRAIN: a->train = true; break;
        case OPT_CROP:
            rc = whole("--crop", 8, 8192, &a->t.size);
            if (rc < 0 && a->t.size % 4)
                return usage_error("--crop wants a multiple of 4 (got '%s')", optarg);
            a->train_only = "--crop";
            break;
        case OPT_BATCH:
            rc = whole("--batch", 1, 1024, &a->t.batch);
            a->train_only = "--batch";
            break;
        case OPT_WIDTH:
            rc = whole("--width", 1, 1024, &a->t.width);
            a->train_only = "--width";
            break;
        case 'd': a->device = optarg; break;
        case 'b': a->buffers = true; break;
        case 'w':
            if (nst_parse_bytes(NULL, optarg, &a->workspace_limit) != NST_OK ||
                a->workspace_limit == 0)
                return usage_error("--workspace-limit wants a size such as 512M (got '%s')",
                                   optarg);
            break;
        case 'j': a->json = optarg; break;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    return finish_args(a);
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* Why the plan is for CUDA without a GPU ("" when it is not), for the notes. */
static char no_gpu_note[1400];

/* The L-BFGS history in the plan: the bytes and count of its y and s vectors (labelled by
 * nst__lbfgs_declare). */
static size_t history_bytes(const nst_plan *plan, int *count) {
    size_t bytes = 0;
    *count = 0;
    for (int i = 0; i < nst_plan_count(plan); i++) {
        const nst_plan_buffer *b = nst_plan_get(plan, i);
        if (!strcmp(b->label, "lbfgs y") || !strcmp(b->label, "lbfgs s")) {
            bytes += b->bytes;
            ++*count;
        }
    }
    return bytes;
}

static void print_header(const plan_args *a, int n_buffers) {
    if (a->train) {
        const nst_train_options *t = &a->t;
        printf("train %d crops of %dx%d, style %dx%d, TransformerNet width %d, %d buffers\n",
               t->batch, t->size, t->size, t->style_width, t->style_height, t->width, n_buffers);
        return;
    }
    printf("render %dx%d, style", a->o.width, a->o.height);
    for (int j = 0; j < a->n_styles; j++)
        printf("%s %dx%d", j ? " +" : "", a->style_w[j], a->style_h[j]);
    printf(", %s pooling", a->o.pooling == NST_POOL_MAX ? "max" : "avg");
    if (a->o.optimizer == NST_OPTIMIZER_LBFGS)
        printf(", L-BFGS history %d", a->o.lbfgs_history);
    printf(", %d buffers\n", n_buffers);
}

static void print_plan(const nst_plan *plan, const plan_args *a, const nst_tracker_snapshot *t,
                       bool cuda) {
    nst_plan_summary s = nst_plan_get_summary(plan);
    print_header(a, s.n_buffers);
    printf("%-12s %14s %10s %14s %10s\n", "tag", "at peak", "MiB", "alone", "MiB");
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        printf("%-12s %14zu %10.1f %14zu %10.1f\n", nst_mem_tag_name((nst_mem_tag)tag),
               s.tag_at_peak[tag], mib(s.tag_at_peak[tag]), s.tag_peak[tag], mib(s.tag_peak[tag]));
    printf("%-12s %14zu %10.1f\n", "slack", s.total_bytes - s.lower_bound,
           mib(s.total_bytes - s.lower_bound));
    printf("total: %zu bytes (%.1f MiB)\n", s.total_bytes, mib(s.total_bytes));
    int n = 0;
    const size_t h = history_bytes(plan, &n);
    if (!a->train && a->o.optimizer == NST_OPTIMIZER_LBFGS)
        printf("L-BFGS history: %zu bytes (%.1f MiB, %.2f GB), %d vectors of %zu bytes, in "
               "optimiser\n", h, mib(h), (double)h / 1e9, n, n ? h / (size_t)n : 0);
    if (!a->train && s.scales > 1) { /* the library's coarse to fine, as render runs it */
        printf("scales:");
        for (int k = 0; k < s.scales; k++)
            printf(" %dx%d %.1f MiB%s", s.scale_width[k], s.scale_height[k],
                   mib(s.scale_total_bytes[k]), k + 1 < s.scales ? "," : "");
        printf(" (above: the largest)\n");
    }
    if (no_gpu_note[0])
        printf("note: %s\n", no_gpu_note);
    else if (!cuda)
        printf("CUDA context: does not apply (cpu)\n");
    else if (t->has_device_info)
        printf("CUDA context and other processes: %zu bytes (%.1f MiB) now, not in the total\n",
               t->device_other, mib(t->device_other));
    else
        printf("CUDA context: not measured (cudaMemGetInfo did not answer)\n");
}

/* The settings the plan is for: the training run's, or the render's with its styles, optimiser
 * and scales. */
static void json_settings(nst_cli_json *j, const nst_plan *plan, const plan_args *a) {
    nst_cli_json_bool(j, "train", a->train);
    if (a->train) {
        const nst_train_options *t = &a->t;
        nst_cli_json_int(j, "crop", t->size);
        nst_cli_json_int(j, "batch", t->batch);
        nst_cli_json_int(j, "net_width", t->width);
        nst_cli_json_int(j, "style_width", t->style_width);
        nst_cli_json_int(j, "style_height", t->style_height);
        nst_cli_json_str(j, "content_layers", t->content_layers ? t->content_layers
                                                                : TRAIN_CONTENT);
        nst_cli_json_str(j, "style_layers", t->style_layers ? t->style_layers : TRAIN_STYLE);
        return;
    }
    nst_cli_json_int(j, "width", a->o.width);
    nst_cli_json_int(j, "height", a->o.height);
    nst_cli_json_int(j, "style_width", a->o.style_width);
    nst_cli_json_int(j, "style_height", a->o.style_height);
    double sizes[2 * NST_RENDER_MAX_STYLES];
    for (int k = 0; k < a->n_styles; k++)
        sizes[2 * k] = a->style_w[k], sizes[2 * k + 1] = a->style_h[k];
    nst_cli_json_num_array(j, "style_sizes", sizes, 2 * (size_t)a->n_styles);
    nst_cli_json_str(j, "content_layers", a->o.content_layers ? a->o.content_layers : "relu4_2");
    nst_cli_json_str(j, "style_layers", a->o.style_layers ? a->o.style_layers
                                                           : "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1");
    nst_cli_json_str(j, "pooling", a->o.pooling == NST_POOL_MAX ? "max" : "avg");
    const bool lbfgs = a->o.optimizer == NST_OPTIMIZER_LBFGS;
    nst_cli_json_str(j, "optimizer", lbfgs ? "lbfgs" : "adam");
    int n = 0;
    const size_t h = history_bytes(plan, &n);
    if (lbfgs) {
        nst_cli_json_int(j, "lbfgs_history", a->o.lbfgs_history);
        nst_cli_json_int(j, "lbfgs_history_bytes", (int64_t)h);
    } else {
        nst_cli_json_null(j, "lbfgs_history");
        nst_cli_json_null(j, "lbfgs_history_bytes");
    }
    const nst_plan_summary s = nst_plan_get_summary(plan);
    double t[NST_PLAN_MAX_SCALES];
    const int scales = s.scales > 1 ? s.scales : 1;
    for (int k = 0; k < scales; k++)
        t[k] = (double)(s.scales > 1 ? s.scale_total_bytes[k] : s.total_bytes);
    nst_cli_json_num_array(j, "scale_total_bytes", t, (size_t)scales);
}

static void json_plan(nst_cli_json *j, const nst_plan *plan, const plan_args *a,
                      const nst_tracker_snapshot *t, bool cuda) {
    nst_plan_summary s = nst_plan_get_summary(plan);
    json_settings(j, plan, a);
    nst_cli_json_object_begin(j, "plan");
    nst_cli_json_int(j, "total_bytes", (int64_t)s.total_bytes);
    nst_cli_json_int(j, "lower_bound_bytes", (int64_t)s.lower_bound);
    nst_cli_json_int(j, "buffers", s.n_buffers);
    nst_cli_json_object_begin(j, "at_peak_bytes");
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        nst_cli_json_int(j, nst_mem_tag_name((nst_mem_tag)tag), (int64_t)s.tag_at_peak[tag]);
    nst_cli_json_object_end(j);
    nst_cli_json_object_begin(j, "alone_bytes");
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        nst_cli_json_int(j, nst_mem_tag_name((nst_mem_tag)tag), (int64_t)s.tag_peak[tag]);
    nst_cli_json_object_end(j);
    nst_cli_json_object_end(j);
    if (cuda && t->has_device_info)
        nst_cli_json_int(j, "cuda_context_bytes", (int64_t)t->device_other);
    else
        nst_cli_json_null(j, "cuda_context_bytes");
    nst_cli_json_str(j, "note", no_gpu_note[0] ? no_gpu_note : NULL);
}

/* The training run's plan, or the render's (coarse to fine: its largest scale's, every scale's
 * total in the summary). */
static nst_status make_plan(nst_ctx *ctx, const plan_args *a, nst_plan **plan) {
    if (a->train)
        return nst_train_plan(ctx, &a->t, plan);
    nst_render_options o = a->o;
    o.scales = a->mem.scales;
    return nst_render_plan(ctx, &o, plan);
}

int nst_cli_plan(int argc, char **argv) {
    plan_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        fprintf(stderr, "nstyle plan: out of memory\n");
        return NST_EXIT_FAILURE;
    }
    nst_cli_json *j = a.json ? nst_cli_json_begin("plan") : NULL;
    nst_plan *plan = NULL;
    if (a.workspace_limit)
        nst_ctx_set_workspace_limit(ctx, a.workspace_limit);
    nst_status st = nst_ctx_set_device(ctx, a.device);
    if (st == NST_ERR_NO_DEVICE && strncmp(a.device, "cuda", 4) == 0) {
        /* no GPU here: plan for CUDA on the CPU context, the cuDNN workspace at its bound */
        const size_t limit = nst_ctx_workspace_limit(ctx);
        snprintf(no_gpu_note, sizeof no_gpu_note,
                 "no GPU could be opened (%s), so this plan for CUDA counts each convolution's "
                 "cuDNN workspace at its --workspace-limit bound, %zu bytes (%.1f MiB), and the "
                 "other ops' scratch as on the CPU; the CUDA context's own memory (about 500 MiB "
                 "on an H200) comes on top and is measured only on a GPU",
                 strstr(nst_last_error(ctx), "): ") ? strstr(nst_last_error(ctx), "): ") + 3
                                                    : nst_last_error(ctx),
                 limit, mib(limit));
        nst_ctx_plan_for_cuda(ctx, true);
        nst_clear_error(ctx);
        st = NST_OK;
    }
    if (st == NST_OK)
        st = make_plan(ctx, &a, &plan);
    const bool cuda = nst_ctx_backend(ctx) == NST_BACKEND_CUDA;
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    if (st == NST_OK) {
        print_plan(plan, &a, &t, cuda);
        if (a.buffers) {
            size_t n = nst_plan_report_text(plan, NULL, 0) + 1;
            char *text = malloc(n);
            if (text) {
                nst_plan_report_text(plan, text, n);
                fputs(text, stdout);
            }
            free(text);
        }
        json_plan(j, plan, &a, &t, cuda);
    } else {
        fprintf(stderr, "nstyle plan: %s\n", nst_last_error(ctx));
    }
    if (j) {
        nst_cli_json_memory(j, ctx);
        if (nst_cli_json_write(j, ctx, st, a.json) != 0 && st == NST_OK)
            st = NST_ERR_IO;
        nst_cli_json_free(j);
    }
    nst_plan_destroy(plan);
    nst_ctx_destroy(ctx);
    return st == NST_OK ? NST_EXIT_OK : NST_EXIT_FAILURE;
}
