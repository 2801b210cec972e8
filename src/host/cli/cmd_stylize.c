/* `nstyle stylize -m MODEL -i IN -o OUT`: feed-forward style transfer (Johnson et al., the
 * pytorch/examples TransformerNet, include/nstyle/stylize.h) of one image, several, a folder of
 * video frames in name order, or a video file (through ffmpeg, video.c), with optional temporal
 * smoothing between frames and the photo's own colours. This file has the options, tells the
 * kinds of input apart and sets up the run; the run itself (reader and writer threads around
 * the compute loop) and the summaries are stylize_run.c's. Prints a progress bar over many
 * inputs and a summary; --json writes the shared summary (report.h, docs/json.md).
 * Signals: the first SIGINT or SIGTERM stops the run after the current batch: the images done
 * are written, a video is finished with the frames done; exit 130 or 143. A second one ends the
 * process at once.
 * Exit codes: 0 success, 1 failure (model not found, corrupt or of another architecture, an
 * unreadable input, a failed write; images written before it are kept, a video is not),
 * 2 usage error, 130/143 stopped by a signal.
 * Tested by tests/test_cli_stylize.c and tests/test_cli_video.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "manifest_run.h"
#include "nstyle/models.h"
#include "nstyle/nstyle.h"
#include "nstyle/stylize.h"
#include "report.h"
#include "signals.h"
#include "stylize_io.h"
#include "stylize_run.h"
#include "temporaries.h"
#include "video.h"

static void print_help(void) {
    printf(
        "Usage: nstyle stylize -m MODEL -i IN [IN...] -o OUT [options]\n"
        "       nstyle stylize -m MODEL -i clip.mp4 -o out.mp4 [options]\n"
        "       nstyle stylize --style PAINTING -i IN... -o OUT [--strength S] [options]\n"
        "       nstyle stylize --builtin 3:0.5,12:0.5 -i IN... -o OUT [options]\n"
        "\n"
        "Stylises images or a video with a feed-forward network (Johnson et al. 2016;\n"
        "pytorch/examples fast_neural_style TransformerNet weights as safetensors, F32 or F16).\n"
        "\n"
        "Inputs and outputs:\n"
        "  -i, --input IN      an image (PNG, JPEG, BMP, TGA), or a folder: every image in it,\n"
        "                      in name order (video frames: frame_0001.png, ...). Repeat -i or\n"
        "                      list more inputs after the options. Any other file is a video,\n"
        "                      read with ffmpeg (any container and codec it reads), alone\n"
        "  -o, --output OUT    with one input file: the output image (.png or .jpg) or a folder;\n"
        "                      with a folder or several inputs: a folder (made if missing), each\n"
        "                      result named after its input (frame_0001.png); with a video: the\n"
        "                      video to write, its extension choosing the container (.mp4 .mkv\n"
        "                      .mov .webm ...): the input's frame rate, frame count and audio\n"
        "  -m, --model MODEL   a weight file's path, or a name (candy, mosaic, pointilism,\n"
        "                      rain_princess, udnie, or any NAME) looked up as NAME.safetensors\n"
        "                      in $NSTYLE_MODELS, then ./models, then ~/.cache/nstyle\n"
        "\n"
        "Light networks instead of -m (models/fetch-light.sh; docs/light-networks.md):\n"
        "      --style IMG     any painting: its style vector (Magenta's style predictor on its\n"
        "                      centre square) drives the arbitrary-style network\n"
        "      --style-size N  the side the painting is resized to for the predictor, a\n"
        "                      multiple of 32 (default %d, the trained size)\n"
        "      --save-style-vector F  write the painting's vector to F (safetensors)\n"
        "      --style-vector F  use a saved vector instead of --style\n"
        "      --builtin SPEC  the 26-style network: one style (7) or a mix (3:0.5,12:0.5)\n"
        "      --strength S    0..1 (default 1): --builtin mixes the result with the photo;\n"
        "                      --style mixes the vector with the photo's own\n"
        "\n"
        "Size:\n"
        "      --size N        resize each input so its longer side is N pixels\n"
        "      --scale F       resize each input by F (0.5 = half size); not with --size\n"
        "                      (the network works at any size of at least 5x5; its output is\n"
        "                      cropped back to the input's size)\n"
        "\n"
        "Compute:\n"
        "      --device D      cpu (default) or cuda, cuda:N\n"
        "      --threads N     CPU threads (default: all cores)\n"
        "      --batch N       frames of the same size per pass (default 1); more uses more\n"
        "                      memory and can be faster on a GPU\n"
        "      --smooth A      temporal smoothing for video frames, 0 <= A < 1 (default 0, off):\n"
        "                      out_t = w * out_t-1 + (1 - w) * y_t with w = A * max(0, 1 - d / T),\n"
        "                      d the largest change of the input pixel and its 3x3 neighbours\n"
        "                      since the previous frame (0-255), so still areas stop flickering\n"
        "                      and moving ones do not ghost\n"
        "      --smooth-threshold T  the change T (0-255 scale) at which a pixel counts as moving\n"
        "                      (default %g)\n"
        "      --original-colors  keep the input's colours: the result's luminance with the\n"
        "                      input's chroma (BT.601 YUV), as render's option\n"
        "      --tile N        run each image in tiles of N x N pixels (rounded up to a multiple\n"
        "                      of 4) inside windows with a %d-pixel margin, with the whole\n"
        "                      image's instance-norm statistics: the memory of one window, the\n"
        "                      untiled output (to float rounding), about 7x the compute\n"
        "      --mem-limit B   refuse a plan over B bytes (512M, 4G; --vram-limit is the same);\n"
        "                      without --tile, an image whose plan does not fit B (or, without\n"
        "                      B, the free memory) runs in the largest tiles that fit\n"
        "\n"
        "Batches (docs/cluster.md):\n"
        "      --manifest FILE  run the jobs of FILE, one a line: INPUT<tab>OUTPUT, then any\n"
        "                      number of <tab>--name=value options for that job (after the\n"
        "                      command line's); '#' lines are comments. A job whose OUTPUT\n"
        "                      exists and decodes is skipped, so a rerun resumes; one that\n"
        "                      fails does not stop the others. Each job runs with --quiet\n"
        "      --shard I/N     take jobs I, I+N, I+2N, ... (I in 1..N); by default the shard\n"
        "                      of a Slurm array task or of a Kubernetes indexed Job\n"
        "                      (JOB_COMPLETION_INDEX of NSTYLE_SHARD_COUNT), else every job\n"
        "  With --manifest, --json FILE is the shard's summary ({shard} in FILE becomes I-of-N;\n"
        "  default MANIFEST.shard-I-of-N.json) and --threads defaults to SLURM_CPUS_PER_TASK\n"
        "\n"
        "Output:\n"
        "  -q, --quality Q     JPEG quality 1..100 (default 95)\n"
        "      --codec C       video: ffmpeg's encoder (default libx264, yuv420p, or yuv444p at\n"
        "                      an odd size; libvpx-vp9 for .webm, gif for .gif)\n"
        "      --crf N         video: the encoder's constant quality 0..63 (default %d; lower\n"
        "                      is better and larger)\n"
        "      --quiet         no progress and no summary\n"
        "      --json FILE     write the run's summary as JSON to FILE (- for stdout)\n"
        "  -h, --help          this text\n"
        "\n"
        "Each output is written to a temporary file and renamed, so a failure never leaves half\n"
        "an image; when an input cannot be read, the run stops there and the results before it\n"
        "stay (a video is then not written at all). Ctrl-C stops after the current frame: the\n"
        "images done are kept, and a video is finished with the frames done (its audio cut to\n"
        "them), so it plays. Video needs ffmpeg and ffprobe on $PATH (Debian: apt-get install\n"
        "ffmpeg). Exit status: 0 success, 1 failure (the message says what and where), 2 usage\n"
        "error, 130 (SIGINT) or 143 (SIGTERM) stopped early.\n",
        NST_STYLE_SIZE, NST_SMOOTH_THRESHOLD, NST_STYLIZE_TILE_HALO, NST_CLI_VIDEO_CRF);
}

typedef nst_cli_stylize_args stylize_args;

static int usage_error(const char *fmt, const char *arg) {
    return nst_cli_usage_error("stylize", fmt, arg);
}

/* A whole number in lo..hi, or -1. */
static long whole(const char *s, long lo, long hi) {
    long v;
    return nst_cli_parse_long(s, lo, hi, &v) ? v : -1;
}

/* A finite number, or NAN. */
static double number(const char *s) {
    double v;
    return nst_cli_parse_double(s, -HUGE_VAL, HUGE_VAL, &v) ? v : NAN;
}

/* Returns -1 when parsed, else the exit code (help or usage error). */
static int parse_args(int argc, char **argv, stylize_args *a) {
    enum { O_SIZE = 256, O_SCALE, O_DEVICE, O_THREADS, O_BATCH, O_SMOOTH, O_THRESH, O_QUIET,
           O_JSON, O_CODEC, O_CRF, O_COLORS, O_STYLE, O_STYLE_SIZE, O_VEC_OUT, O_VEC_IN,
           O_BUILTIN, O_STRENGTH, O_TILE, O_MEM };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},    {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},   {"quality", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {"size", required_argument, NULL, O_SIZE},
        {"scale", required_argument, NULL, O_SCALE}, {"device", required_argument, NULL, O_DEVICE},
        {"threads", required_argument, NULL, O_THREADS},
        {"batch", required_argument, NULL, O_BATCH}, {"smooth", required_argument, NULL, O_SMOOTH},
        {"smooth-threshold", required_argument, NULL, O_THRESH},
        {"quiet", no_argument, NULL, O_QUIET},      {"json", required_argument, NULL, O_JSON},
        {"codec", required_argument, NULL, O_CODEC}, {"crf", required_argument, NULL, O_CRF},
        {"original-colors", no_argument, NULL, O_COLORS},
        {"style", required_argument, NULL, O_STYLE},
        {"style-size", required_argument, NULL, O_STYLE_SIZE},
        {"save-style-vector", required_argument, NULL, O_VEC_OUT},
        {"style-vector", required_argument, NULL, O_VEC_IN},
        {"builtin", required_argument, NULL, O_BUILTIN},
        {"strength", required_argument, NULL, O_STRENGTH},
        {"tile", required_argument, NULL, O_TILE}, {"mem-limit", required_argument, NULL, O_MEM},
        {"vram-limit", required_argument, NULL, O_MEM},
        {NULL, 0, NULL, 0},
    };
    nst_stylize_options d; /* the library's defaults, as the Python package's */
    nst_stylize_options_default(&d);
    *a = (stylize_args){.device = d.device, .threads = d.threads, .size = d.size,
                        .scale = d.scale, .batch = d.batch, .smooth = d.smooth,
                        .threshold = d.smooth_threshold, .original_colors = d.original_colors,
                        .quality = d.quality, .crf = -1,
                        .light = {.strength = 1.0f, .style_size = NST_STYLE_SIZE}};
    nst_cli_light_args *L = &a->light;
    bool size_given = false, strength_given = false;
    a->inputs = calloc((size_t)argc + 1, sizeof *a->inputs);
    if (!a->inputs)
        return usage_error("%s", "out of memory");
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:i:o:q:h", opts, NULL)) != -1) {
        double v;
        switch (c) {
        case 'h':
            print_help();
            return NST_EXIT_OK;
        case 'm': a->model = optarg; break;
        case 'i': a->inputs[a->n_inputs++] = optarg; break;
        case 'o': a->out = optarg; break;
        case 'q':
            if ((a->quality = (int)whole(optarg, 1, 100)) < 0)
                return usage_error("--quality wants a whole number 1..100 (got '%s')", optarg);
            break;
        case O_SIZE:
            if ((a->size = (int)whole(optarg, NST_STYLIZE_MIN_SIDE, NST_IMAGE_MAX_SIDE)) < 0)
                return usage_error("--size wants a whole number 5..30000 (got '%s')", optarg);
            break;
        case O_SCALE:
            if (!((a->scale = number(optarg)) > 0 && a->scale <= 64))
                return usage_error("--scale wants a number above 0, at most 64 (got '%s')",
                                   optarg);
            break;
        case O_DEVICE: a->device = optarg; break;
        case O_THREADS:
            if ((a->threads = (int)whole(optarg, 1, 1024)) < 0)
                return usage_error("--threads wants a whole number 1..1024 (got '%s')", optarg);
            break;
        case O_BATCH:
            if ((a->batch = (int)whole(optarg, 1, 256)) < 0)
                return usage_error("--batch wants a whole number 1..256 (got '%s')", optarg);
            break;
        case O_SMOOTH:
            if (!((v = number(optarg)) >= 0 && v < 1))
                return usage_error("--smooth wants a number in [0, 1), 0 = off (got '%s')", optarg);
            a->smooth = (float)v;
            break;
        case O_THRESH:
            if (!((v = number(optarg)) > 0 && v <= 255))
                return usage_error("--smooth-threshold wants a number in (0, 255] (got '%s')",
                                   optarg);
            a->threshold = (float)v;
            break;
        case O_QUIET: a->quiet = true; break;
        case O_JSON: a->json = optarg; break;
        case O_CODEC:
            if (!optarg[0] || optarg[0] == '-' || strpbrk(optarg, " /"))
                return usage_error("--codec wants an ffmpeg encoder name such as libx264 (got "
                                   "'%s')", optarg);
            a->codec = optarg;
            break;
        case O_CRF:
            if ((a->crf = (int)whole(optarg, 0, 63)) < 0)
                return usage_error("--crf wants a whole number 0..63 (got '%s')", optarg);
            break;
        case O_COLORS: a->original_colors = true; break;
        case O_STYLE: L->style = optarg; break;
        case O_VEC_OUT: L->vector_out = optarg; break;
        case O_VEC_IN: L->vector_in = optarg; break;
        case O_STYLE_SIZE:
            if ((L->style_size = (int)whole(optarg, 32, 2048)) < 0 || L->style_size % 32)
                return usage_error("--style-size wants a multiple of 32, 32..2048 (got '%s')",
                                   optarg);
            size_given = true;
            break;
        case O_BUILTIN: {
            float w[NST_LIGHT_STYLES];
            if (nst_cli_parse_builtin(optarg, w) != 0)
                return usage_error("--builtin wants a style 0..25 or a mix such as 3:0.5,12:0.5 "
                                   "(weights >= 0, not all 0; got '%s')", optarg);
            L->builtin = optarg;
            break;
        }
        case O_STRENGTH:
            if (!((v = number(optarg)) >= 0 && v <= 1))
                return usage_error("--strength wants a number in [0, 1] (got '%s')", optarg);
            L->strength = (float)v;
            strength_given = true;
            break;
        case O_TILE:
            if ((a->tile = (int)whole(optarg, 1, 65536)) < 0)
                return usage_error("--tile wants a whole number of pixels 1..65536 (got '%s')",
                                   optarg);
            break;
        case O_MEM:
            if (nst_parse_bytes(NULL, optarg, &a->mem_limit) != NST_OK || a->mem_limit == 0)
                return usage_error("--mem-limit wants a size such as 512M or 4G (got '%s')",
                                   optarg);
            break;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    while (optind < argc)
        a->inputs[a->n_inputs++] = argv[optind++];
    const int kinds = !!a->model + !!L->style + !!L->vector_in + !!L->builtin;
    if (kinds == 0)
        return usage_error("%s", "missing -m MODEL (a path, or a name such as candy), --style "
                                 "PAINTING or --builtin SPEC");
    if (kinds > 1)
        return usage_error("%s", "-m, --style, --style-vector and --builtin choose the network: "
                                 "give one of them");
    if (L->vector_out && !L->style)
        return usage_error("%s", "--save-style-vector wants --style PAINTING");
    if (a->model && (strength_given || size_given))
        return usage_error("%s", "--strength and --style-size are for --style and --builtin");
    if (L->builtin && size_given)
        return usage_error("%s", "--style-size is for --style (the painting's vector)");
    if (a->tile && !a->model)
        return usage_error("%s", "--tile is for TransformerNet models (-m): the light networks "
                                 "(--style, --builtin) run whole images");
    if (a->n_inputs == 0)
        return usage_error("%s", "missing -i IN (an image, several, or a folder)");
    if (!a->out)
        return usage_error("%s", "missing -o OUT (an image or a folder)");
    if (a->size && a->scale > 0)
        return usage_error("%s", "--size and --scale cannot be used together");
    return -1;
}

/* ---- kinds of input -------------------------------------------------------------------------- */

static bool is_image_name(const char *path) {
    static const char *const exts[] = {"png", "jpg", "jpeg", "bmp", "tga", NULL};
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    for (int i = 0; dot && (!slash || dot > slash) && exts[i]; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return true;
    return false;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A video input: a file that is not an image (or a missing one named like a video). */
static bool is_video_input(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        return nst_cli_is_video_name(path);
    return !S_ISDIR(st.st_mode) && !is_image_name(path);
}

/* -1 when the inputs and the output go together, else the usage error's exit code. */
static int check_kinds(const stylize_args *a, bool *video) {
    *video = false;
    for (int i = 0; i < a->n_inputs; i++)
        if (is_video_input(a->inputs[i])) {
            if (a->n_inputs > 1)
                return usage_error("'%s' is a video: a video is stylised alone (one -i)",
                                   a->inputs[i]);
            *video = true;
        }
    const size_t len = strlen(a->out);
    if (*video && (!len || is_dir(a->out) || is_image_name(a->out) || a->out[len - 1] == '/'))
        return usage_error("a video input (any file that is not a PNG, JPEG, BMP or TGA image) "
                           "wants a video output such as -o out.mp4 (got '%s'); for frames, "
                           "extract them with ffmpeg (docs/stylize.md)", a->out);
    if (!*video && nst_cli_is_video_name(a->out) && !is_dir(a->out))
        return usage_error("-o '%s' names a video: a video output needs a video input (-i "
                           "clip.mp4); frames are encoded with ffmpeg (docs/stylize.md)", a->out);
    if (!*video && (a->codec || a->crf >= 0))
        return usage_error("%s", "--codec and --crf are for a video output");
    return -1;
}

/* ---- the run --------------------------------------------------------------------------------- */

/* Opens the context, finds and opens the model: NST_OK, or prints why. */
static nst_status open_all(const stylize_args *a, nst_ctx *ctx, char *model, size_t size,
                           nst_stylizer **s, nst_style_predictor **own, nst_smoother **sm) {
    nst_status st = nst_ctx_set_device(ctx, a->device);
    if (st == NST_OK && a->threads)
        nst_ctx_set_threads(ctx, a->threads);
    if (st == NST_OK && !a->model) {
        if ((st = nst_cli_light_open(ctx, &a->light, s, own, model, size)) != NST_OK)
            return st;
        nst_stylizer_set_original_colors(*s, a->original_colors);
        if (a->smooth > 0 && (st = nst_smoother_create(ctx, a->smooth, a->threshold, sm)) != NST_OK)
            fprintf(stderr, "nstyle stylize: %s\n", nst_last_error(ctx));
        return st;
    }
    if (st != NST_OK && !a->model) { /* the device failed before a light network was opened */
        fprintf(stderr, "nstyle stylize: %s\n", nst_last_error(ctx));
        return st;
    }
    char file[1024];
    const size_t len = strlen(a->model);
    snprintf(file, sizeof file, "%s%s", a->model,
             len > 12 && strcmp(a->model + len - 12, ".safetensors") == 0 ? "" : ".safetensors");
    const char *names[1] = {file};
    if (st == NST_OK && (st = nst_model_find(ctx, a->model, names, 1, model, size)) != NST_OK) {
        fprintf(stderr, "nstyle stylize: %s\n", nst_last_error(ctx));
        fprintf(stderr, "The five pretrained styles (candy, mosaic, pointilism, rain_princess, "
                        "udnie) are pytorch/examples' fast_neural_style models; convert their "
                        ".pth files with models/convert-fast-pth.py (models/README.md).\n");
        return st;
    }
    if (st == NST_OK && (st = nst_stylizer_open(ctx, model, s)) == NST_OK) {
        nst_stylizer_set_original_colors(*s, a->original_colors);
        nst_stylizer_set_memory_limit(*s, a->mem_limit);
    }
    if (st == NST_OK && a->smooth > 0)
        st = nst_smoother_create(ctx, a->smooth, a->threshold, sm);
    if (st != NST_OK)
        fprintf(stderr, "nstyle stylize: %s\n", nst_last_error(ctx));
    return st;
}

/* A video: ffprobe, the two ffmpeg processes, the run, then the file finished and renamed (or
 * removed after a failure). *opened says whether v holds a started video. */
static nst_status run_video(nst_ctx *ctx, nst_stylizer *s, nst_smoother *sm, const stylize_args *a,
                            nst_cli_video *v, bool *opened, nst_cli_stylize_stats *stats,
                            char *err, size_t err_size) {
    nst_cli_video_info info;
    if (nst_cli_video_probe(a->inputs[0], &info, err, err_size) != 0)
        return NST_ERR_IO;
    nst_cli_video_options o = {.codec = a->codec, .crf = a->crf};
    nst_cli_target_size(a->size, a->scale, info.width, info.height, &o.width, &o.height);
    if (nst_cli_video_open(v, a->inputs[0], a->out, &info, &o, err, err_size) != 0)
        return NST_ERR_IO;
    *opened = true;
    if (v->note[0])
        fprintf(stderr, "nstyle stylize: note: %s\n", v->note);
    nst_status st = nst_cli_stylize_run(ctx, s, sm, a, NULL, v, info.expected, stats, err,
                                        err_size);
    /* a second signal while ffmpeg finishes the file and it is renamed waits for the rename */
    nst_cli_write_guard guard = {0};
    nst_cli_write_guard_begin(&guard);
    char close_err[1200] = "";
    const int rc = nst_cli_video_close(v, st == NST_OK, close_err, sizeof close_err);
    nst_cli_write_guard_end(&guard);
    if (st == NST_OK && rc != 0) {
        snprintf(err, err_size, "%s", close_err);
        st = NST_ERR_IO;
    }
    if (v->warning[0])
        fprintf(stderr, "nstyle stylize: warning: %s\n", v->warning);
    return st;
}

/* A manifest line as parsed: -1 when it is one image into one image file (manifest_run.h). */
static int check_job(int argc, char **argv, const char *const *field) {
    stylize_args a;
    int rc = parse_args(argc, argv, &a);
    bool video = false;
    if (rc < 0 && (a.n_inputs != 1 || a.inputs[0] != field[0] || a.out != field[1] || a.json))
        rc = usage_error("%s", "a manifest gives each job's input and output: -i, -o, --json "
                               "and inputs are not options of the command line or of a line");
    if (rc < 0)
        rc = check_kinds(&a, &video);
    if (rc < 0 && (video || is_dir(field[0])))
        rc = usage_error("a manifest's input is one image file (got '%s')", field[0]);
    if (rc < 0 && !is_image_name(field[1]))
        rc = usage_error("a manifest's output is one image file, .png or .jpg (got '%s')",
                         field[1]);
    free(a.inputs);
    return rc;
}

static const nst_cli_manifest_command manifest_command = {
    .command = "stylize",
    .fields = 2,
    .flags = (const char *const[]){"-i", "-o"},
    .field_names = (const char *const[]){"input", "output"},
    .check = check_job,
};

int nst_cli_stylize(int argc, char **argv) {
    if (nst_cli_manifest_asked(argc, argv))
        return nst_cli_manifest_main(&manifest_command, argc, argv);
    stylize_args a;
    int rc = parse_args(argc, argv, &a);
    bool video = false;
    if (rc < 0)
        rc = check_kinds(&a, &video);
    if (rc >= 0) {
        free(a.inputs);
        return rc;
    }
    char err[1200] = "";
    nst_cli_jobs jobs = {0};
    if (!video && (rc = nst_cli_jobs_make(a.inputs, a.n_inputs, a.out, &jobs, err,
                                          sizeof err)) != 0) {
        free(a.inputs);
        fprintf(stderr, "nstyle stylize: %s\n", err);
        return rc == 2 ? usage_error("%s", "no work to do") : NST_EXIT_FAILURE;
    }
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        nst_cli_jobs_free(&jobs);
        free(a.inputs);
        fprintf(stderr, "nstyle stylize: out of memory\n");
        return NST_EXIT_FAILURE;
    }
    nst_cli_signals_install();
    /* what a killed run left for these outputs */
    for (int i = 0; i < jobs.n; i++)
        nst_cli_clean_temporaries(jobs.out[i]);
    if (video)
        nst_cli_clean_temporaries(a.out);
    if (a.json && strcmp(a.json, "-") != 0)
        nst_cli_clean_temporaries(a.json);
    if (video) /* a failed encoder shows as EPIPE on its pipe, not as a signal */
        signal(SIGPIPE, SIG_IGN);
    char model[4096] = "";
    nst_stylizer *s = NULL;
    nst_style_predictor *own = NULL;
    nst_smoother *sm = NULL;
    nst_cli_stylize_stats stats = {0};
    nst_cli_video v;
    bool opened = false;
    nst_status st = open_all(&a, ctx, model, sizeof model, &s, &own, &sm);
    if (st == NST_OK && video)
        st = run_video(ctx, s, sm, &a, &v, &opened, &stats, err, sizeof err);
    else if (st == NST_OK)
        st = nst_cli_stylize_run(ctx, s, sm, &a, &jobs, NULL, jobs.n, &stats, err, sizeof err);
    const char *what = video ? "frame" : "image";
    if (st != NST_OK && err[0] && video)
        fprintf(stderr, "nstyle stylize: %s (nothing written to %s)\n", err, a.out);
    else if (st != NST_OK && err[0])
        fprintf(stderr, "nstyle stylize: %s (%d of %d images written)\n", err, stats.written,
                jobs.n);
    if (st == NST_OK && stats.cancelled)
        fprintf(stderr, "nstyle stylize: stopped by %s after %d %s%s%s%s\n",
                nst_cli_cancel_signal == SIGTERM ? "SIGTERM" : "SIGINT", stats.written, what,
                stats.written == 1 ? "" : "s", !video ? "" : stats.written ? ", written to "
                                                                          : ": nothing written",
                video && stats.written ? a.out : "");
    if (st == NST_OK && !a.quiet)
        nst_cli_stylize_print_summary(ctx, &a, model, &stats, opened ? &v : NULL);
    if (a.json) {
        nst_cli_json *j = nst_cli_stylize_json(ctx, &a, model[0] ? model : a.model ? a.model : "",
                                               nst_stylizer_style(s), &stats,
                                               video ? (opened ? (int)v.read : 0) : jobs.n,
                                               opened ? &v : NULL);
        if (nst_cli_json_write_error(j, ctx, st, err, a.json) != 0 && st == NST_OK)
            st = NST_ERR_IO;
        nst_cli_json_free(j);
    }
    nst_smoother_destroy(sm);
    nst_stylizer_close(s);
    nst_style_predictor_close(own);
    nst_ctx_destroy(ctx);
    nst_cli_jobs_free(&jobs);
    free(a.inputs);
    if (st != NST_OK)
        return NST_EXIT_FAILURE;
    return stats.cancelled && nst_cli_cancel_signal ? 128 + nst_cli_cancel_signal : NST_EXIT_OK;
}
