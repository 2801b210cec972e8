/* `nstyle plan --size WxH [--style-size WxH] [--content-layers L] [--style-layers L]
 * [--pooling max|avg] [--device D] [--workspace-limit B] [--buffers] [--json FILE]`: the memory plan of a Gatys render
 * (nst_render_plan, the render's own dry run), with no weights and no images: the layer shapes
 * come from the VGG19 table. Prints the plan by tag, then `total: <bytes> bytes (<x> MiB)`, and
 * beside it the CUDA context's own share (measured, not in the total; "does not apply" on the
 * CPU). --buffers adds every buffer; --json writes the same in the shared summary schema
 * (report.h). Exit codes: 0 success, 1 failure, 2 usage error. Tested by tests/test_cli_plan.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nstyle/render.h"
#include "nstyle/vgg19.h"
#include "report.h"

static void print_help(void) {
    char names[512];
    nst_vgg19_layer_names(names, sizeof names);
    printf("Usage: nstyle plan --size WxH [--style-size WxH] [--content-layers L]\n"
           "                   [--style-layers L] [--pooling max|avg] [--device D]\n"
           "                   [--workspace-limit B] [--buffers] [--json FILE]\n"
           "\n"
           "Prints the exact memory plan of a render (weights, activations, gradients, op\n"
           "workspace, Adam state, the style-target pass) without weights, images or a GPU.\n"
           "\n"
           "Options:\n"
           "  -s, --size WxH            the content (output) size; required\n"
           "  -S, --style-size WxH      the style image's size (default: --size)\n"
           "  -c, --content-layers L    comma list (default relu4_2)\n"
           "  -l, --style-layers L      comma list (default relu1_1,relu2_1,relu3_1,relu4_1,\n"
           "                            relu5_1)\n"
           "  -p, --pooling max|avg     (default max)\n"
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
           names);
}

typedef struct {
    nst_render_options o;
    const char *device, *json;
    bool buffers;
    size_t workspace_limit; /* 0 = the default */
} plan_args;

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "nstyle plan: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun `nstyle plan --help` for usage.\n");
    return NST_EXIT_USAGE;
}

/* Returns -1 when parsed, else the exit code (help or usage error). */
static int parse_args(int argc, char **argv, plan_args *a) {
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'},       {"style-size", required_argument, NULL, 'S'},
        {"content-layers", required_argument, NULL, 'c'},
        {"style-layers", required_argument, NULL, 'l'},
        {"pooling", required_argument, NULL, 'p'},    {"device", required_argument, NULL, 'd'},
        {"buffers", no_argument, NULL, 'b'},          {"json", required_argument, NULL, 'j'},
        {"workspace-limit", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    *a = (plan_args){.device = "cpu"};
    nst_render_options_default(&a->o);
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":s:S:c:l:p:d:bj:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            print_help();
            return NST_EXIT_OK;
        case 's':
            if (nst_cli_parse_size(optarg, &a->o.width, &a->o.height) != 0)
                return usage_error("--size wants WxH, e.g. 768x512 (got '%s')", optarg);
            break;
        case 'S':
            if (nst_cli_parse_size(optarg, &a->o.style_width, &a->o.style_height) != 0)
                return usage_error("--style-size wants WxH, e.g. 768x512 (got '%s')", optarg);
            break;
        case 'c': a->o.content_layers = optarg; break;
        case 'l': a->o.style_layers = optarg; break;
        case 'p':
            if (strcmp(optarg, "max") != 0 && strcmp(optarg, "avg") != 0)
                return usage_error("--pooling wants max or avg (got '%s')", optarg);
            a->o.pooling = optarg[0] == 'm' ? NST_POOL_MAX : NST_POOL_AVG;
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
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!a->o.width)
        return usage_error("%s", "--size WxH is required");
    if (!a->o.style_width) {
        a->o.style_width = a->o.width;
        a->o.style_height = a->o.height;
    }
    return -1;
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* Why the plan is for CUDA without a GPU ("" when it is not), for the notes. */
static char no_gpu_note[1400];

static void print_plan(const nst_plan *plan, const plan_args *a, const nst_tracker_snapshot *t,
                       bool cuda) {
    nst_plan_summary s = nst_plan_get_summary(plan);
    printf("render %dx%d, style %dx%d, %s pooling, %d buffers\n", a->o.width, a->o.height,
           a->o.style_width, a->o.style_height, a->o.pooling == NST_POOL_MAX ? "max" : "avg",
           s.n_buffers);
    printf("%-12s %14s %10s %14s %10s\n", "tag", "at peak", "MiB", "alone", "MiB");
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        printf("%-12s %14zu %10.1f %14zu %10.1f\n", nst_mem_tag_name((nst_mem_tag)tag),
               s.tag_at_peak[tag], mib(s.tag_at_peak[tag]), s.tag_peak[tag], mib(s.tag_peak[tag]));
    printf("%-12s %14zu %10.1f\n", "slack", s.total_bytes - s.lower_bound,
           mib(s.total_bytes - s.lower_bound));
    printf("total: %zu bytes (%.1f MiB)\n", s.total_bytes, mib(s.total_bytes));
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

static void json_plan(nst_cli_json *j, const nst_plan *plan, const plan_args *a,
                      const nst_tracker_snapshot *t, bool cuda) {
    nst_plan_summary s = nst_plan_get_summary(plan);
    nst_cli_json_int(j, "width", a->o.width);
    nst_cli_json_int(j, "height", a->o.height);
    nst_cli_json_int(j, "style_width", a->o.style_width);
    nst_cli_json_int(j, "style_height", a->o.style_height);
    nst_cli_json_str(j, "content_layers", a->o.content_layers ? a->o.content_layers : "relu4_2");
    nst_cli_json_str(j, "style_layers", a->o.style_layers ? a->o.style_layers
                                                           : "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1");
    nst_cli_json_str(j, "pooling", a->o.pooling == NST_POOL_MAX ? "max" : "avg");
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
        st = nst_render_plan(ctx, &a.o, &plan);
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
