/* `nstyle stylize -m MODEL -i IN -o OUT`: feed-forward style transfer (Johnson et al., the
 * pytorch/examples TransformerNet, include/nstyle/stylize.h) of one image, several, or a folder
 * of video frames in name order, with optional temporal smoothing between frames.
 * A reader thread decodes (and resizes) the inputs and a writer thread encodes the results,
 * each through a bounded queue (stylize_io.c), around the compute loop here, which gathers up to
 * --batch frames of the same size into one pass. Prints a progress bar over many inputs and a
 * summary (images, ms per image compute-only and with I/O, peak memory); --json writes the
 * shared summary (report.h) with inputs, width, height, ms_per_image_compute,
 * ms_per_image_total, images_written, model, style, batch, smooth and memory.
 * Exit codes: 0 success, 1 failure (model not found, corrupt or of another architecture, an
 * unreadable input, a failed write; the frames written before it are kept), 2 usage error.
 * Tested by tests/test_cli_stylize.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "nstyle/models.h"
#include "nstyle/nstyle.h"
#include "nstyle/stylize.h"
#include "report.h"
#include "stylize_io.h"

static void print_help(void) {
    printf(
        "Usage: nstyle stylize -m MODEL -i IN [IN...] -o OUT [options]\n"
        "\n"
        "Stylises images with a feed-forward network (Johnson et al. 2016; pytorch/examples\n"
        "fast_neural_style TransformerNet weights as safetensors, F32 or F16).\n"
        "\n"
        "Inputs and outputs:\n"
        "  -i, --input IN      an image (PNG, JPEG, BMP, TGA), or a folder: every image in it,\n"
        "                      in name order (video frames: frame_0001.png, ...). Repeat -i or\n"
        "                      list more inputs after the options\n"
        "  -o, --output OUT    with one input file: the output image (.png or .jpg) or a folder;\n"
        "                      with a folder or several inputs: a folder (made if missing), each\n"
        "                      result named after its input (frame_0001.png)\n"
        "  -m, --model MODEL   a weight file's path, or a name (candy, mosaic, pointilism,\n"
        "                      rain_princess, udnie, or any NAME) looked up as NAME.safetensors\n"
        "                      in $NSTYLE_MODELS, then ./models, then ~/.cache/nstyle\n"
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
        "\n"
        "Output:\n"
        "  -q, --quality Q     JPEG quality 1..100 (default 95)\n"
        "      --quiet         no progress and no summary\n"
        "      --json FILE     write the run's summary as JSON to FILE (- for stdout)\n"
        "  -h, --help          this text\n"
        "\n"
        "Each output is written to a temporary file and renamed, so a failure never leaves half\n"
        "an image; when an input cannot be read, the run stops there and the results before it\n"
        "stay. Exit status: 0 success, 1 failure (the message says what and where), 2 usage\n"
        "error.\n",
        NST_SMOOTH_THRESHOLD);
}

typedef struct {
    const char *model, *out, *device, *json;
    const char **inputs;
    int n_inputs;
    int size, threads, batch, quality;
    double scale;
    float smooth, threshold;
    bool quiet;
} stylize_args;

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
           O_JSON };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},    {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},   {"quality", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {"size", required_argument, NULL, O_SIZE},
        {"scale", required_argument, NULL, O_SCALE}, {"device", required_argument, NULL, O_DEVICE},
        {"threads", required_argument, NULL, O_THREADS},
        {"batch", required_argument, NULL, O_BATCH}, {"smooth", required_argument, NULL, O_SMOOTH},
        {"smooth-threshold", required_argument, NULL, O_THRESH},
        {"quiet", no_argument, NULL, O_QUIET},      {"json", required_argument, NULL, O_JSON},
        {NULL, 0, NULL, 0},
    };
    *a = (stylize_args){.device = "cpu", .batch = 1, .quality = 95,
                        .threshold = NST_SMOOTH_THRESHOLD};
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
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    while (optind < argc)
        a->inputs[a->n_inputs++] = argv[optind++];
    if (!a->model)
        return usage_error("%s", "missing -m MODEL (a path, or a name such as candy)");
    if (a->n_inputs == 0)
        return usage_error("%s", "missing -i IN (an image, several, or a folder)");
    if (!a->out)
        return usage_error("%s", "missing -o OUT (an image or a folder)");
    if (a->size && a->scale > 0)
        return usage_error("%s", "--size and --scale cannot be used together");
    return -1;
}

/* ---- the run ---------------------------------------------------------------------------------- */

typedef struct {
    int images, width, height;
    double compute_s, total_s;
    size_t plan_bytes;
} run_stats;

/* Stylises the n frames in batch (all one size) as one pass, smooths them in order, and hands
 * them to the writer. */
static nst_status compute_batch(nst_stylizer *s, nst_smoother *sm,
                                nst_cli_frame **batch, int n, float **buf, size_t *cap,
                                nst_cli_queue *out, run_stats *st) {
    const int w = batch[0]->img.width, h = batch[0]->img.height;
    const size_t one = (size_t)w * h * 3;
    if (n * one > *cap) {
        float *b = realloc(*buf, n * one * sizeof *b);
        if (!b)
            return NST_ERR_NO_MEMORY;
        *buf = b;
        *cap = n * one;
    }
    const double t0 = nst_cli_now();
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < one; k++)
            (*buf)[i * one + k] = batch[i]->img.data[k];
    nst_status status = nst_stylize_float(s, *buf, n, w, h, *buf);
    for (int i = 0; status == NST_OK && i < n; i++) {
        float *y = *buf + i * one;
        if (sm)
            status = nst_smoother_apply(sm, batch[i]->img.data, w, h, y);
        nst_stylize_to_u8(y, one, batch[i]->img.data);
    }
    st->compute_s += nst_cli_now() - t0;
    if (status != NST_OK)
        return status;
    if (st->images == 0) {
        st->width = w;
        st->height = h;
        const nst_plan *plan = nst_stylizer_current_plan(s);
        st->plan_bytes = plan ? nst_plan_get_summary(plan).total_bytes : 0;
    }
    for (int i = 0; i < n; i++) {
        st->images++;
        if (!nst_cli_queue_push(out, batch[i]))
            nst_cli_frame_free(batch[i]);
        batch[i] = NULL;
    }
    return NST_OK;
}

/* The compute loop between the reader's queue and the writer's. Returns the first failure; an
 * unreadable frame's message goes to err. */
static nst_status compute_all(nst_stylizer *s, nst_smoother *sm,
                              const stylize_args *a, nst_cli_queue *in, nst_cli_queue *out,
                              nst_cli_writer *writer, long total, run_stats *st,
                              int *failed_input, int *failed_compute, char *err,
                              size_t err_size) {
    nst_cli_frame **batch = calloc((size_t)a->batch, sizeof *batch);
    float *buf = NULL;
    size_t cap = 0;
    nst_cli_progress progress;
    nst_cli_progress_start(&progress, "image", total, a->quiet || total < 2);
    nst_status status = batch ? NST_OK : NST_ERR_NO_MEMORY;
    int n = 0;
    for (;;) {
        nst_cli_frame *f = status == NST_OK ? nst_cli_queue_pop(in) : NULL;
        const bool other_size = f && f->status == NST_OK && n > 0 &&
                                (f->img.width != batch[0]->img.width ||
                                 f->img.height != batch[0]->img.height);
        if (n > 0 && (!f || f->status != NST_OK || other_size || n == a->batch)) {
            status = compute_batch(s, sm, batch, n, &buf, &cap, out, st);
            if (status != NST_OK) {
                *failed_compute = batch[0]->index;
                for (int i = 0; i < n; i++)
                    nst_cli_frame_free(batch[i]);
            }
            n = 0;
            char text[64];
            snprintf(text, sizeof text, "%dx%d", st->width, st->height);
            nst_cli_progress_update(&progress, st->images, text);
        }
        if (!f)
            break;
        if (f->status != NST_OK || status != NST_OK || atomic_load(&writer->failed)) {
            if (f->status != NST_OK) {
                snprintf(err, err_size, "%s", f->error);
                status = f->status;
                *failed_input = f->index;
            }
            nst_cli_frame_free(f);
            if (status == NST_OK) /* the writer failed: it says why */
                status = NST_ERR_IO;
            break;
        }
        batch[n++] = f;
    }
    nst_cli_progress_finish(&progress);
    for (int i = 0; i < n; i++)
        nst_cli_frame_free(batch[i]);
    free(batch);
    free(buf);
    return status;
}

static void print_summary(nst_ctx *ctx, const stylize_args *a, const char *model,
                          const run_stats *st, int written) {
    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    const double mib = 1048576.0;
    printf("stylized %d image%s (first %dx%d) with %s on %s, batch %d%s\n", written,
           written == 1 ? "" : "s", st->width, st->height, model, nst_ctx_device_name(ctx),
           a->batch, a->smooth > 0 ? ", smoothed" : "");
    printf("  %.1f ms per image compute, %.1f ms with decoding and encoding\n",
           st->images ? 1e3 * st->compute_s / st->images : 0.0,
           st->images ? 1e3 * st->total_s / st->images : 0.0);
    printf("  peak memory %.1f MiB: weights %.1f, activations %.1f, workspace %.1f, arena "
           "slack %.1f (plan %.1f MiB)\n", snap.peak_total / mib,
           snap.peak[NST_TAG_WEIGHTS] / mib, snap.peak[NST_TAG_ACTIVATIONS] / mib,
           snap.peak[NST_TAG_WORKSPACE] / mib, snap.arena_slack_peak / mib,
           st->plan_bytes / mib);
}

static nst_cli_json *summary_json(nst_ctx *ctx, const stylize_args *a, const char *model,
                                  const char *style, const run_stats *st, int inputs,
                                  int written) {
    nst_cli_json *j = nst_cli_json_begin("stylize");
    nst_cli_json_int(j, "inputs", inputs);
    nst_cli_json_int(j, "width", st->width);
    nst_cli_json_int(j, "height", st->height);
    nst_cli_json_num(j, "ms_per_image_compute", st->images ? 1e3 * st->compute_s / st->images : NAN);
    nst_cli_json_num(j, "ms_per_image_total", st->images ? 1e3 * st->total_s / st->images : NAN);
    nst_cli_json_int(j, "images_written", written);
    nst_cli_json_str(j, "model", model);
    nst_cli_json_str(j, "style", style);
    nst_cli_json_int(j, "batch", a->batch);
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    nst_cli_json_int(j, "threads", nst_ctx_threads(ctx) ? nst_ctx_threads(ctx) : cores);
    nst_cli_json_num(j, "smooth", a->smooth);
    nst_cli_json_int(j, "plan_bytes", (int64_t)st->plan_bytes);
    nst_cli_json_memory(j, ctx);
    return j;
}

/* Opens the context, finds and opens the model: NST_OK, or prints why. */
static nst_status open_all(const stylize_args *a, nst_ctx *ctx, char *model, size_t size,
                           nst_stylizer **s, nst_smoother **sm) {
    nst_status st = nst_ctx_set_device(ctx, a->device);
    if (st == NST_OK && a->threads)
        nst_ctx_set_threads(ctx, a->threads);
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
    if (st == NST_OK)
        st = nst_stylizer_open(ctx, model, s);
    if (st == NST_OK && a->smooth > 0)
        st = nst_smoother_create(ctx, a->smooth, a->threshold, sm);
    if (st != NST_OK)
        fprintf(stderr, "nstyle stylize: %s\n", nst_last_error(ctx));
    return st;
}

/* Runs the reader, the compute loop and the writer over the jobs. */
static nst_status run_jobs(nst_ctx *ctx, nst_stylizer *s, nst_smoother *sm, const stylize_args *a,
                           const nst_cli_jobs *jobs, run_stats *stats, int *written, char *err,
                           size_t err_size) {
    nst_cli_queue in, out;
    const int depth = 2 * a->batch + 2;
    if (nst_cli_queue_init(&in, depth) != 0 || nst_cli_queue_init(&out, depth) != 0) {
        nst_cli_queue_destroy(&in);
        snprintf(err, err_size, "out of memory");
        return NST_ERR_NO_MEMORY;
    }
    nst_cli_reader reader = {.jobs = jobs, .size = a->size, .scale = a->scale, .queue = &in};
    nst_cli_writer writer = {.jobs = jobs, .quality = a->quality, .queue = &out};
    int failed_input = -1, failed_compute = -1;
    const double t0 = nst_cli_now();
    const bool reading = nst_cli_reader_start(&reader) == 0;
    const bool writing = reading && nst_cli_writer_start(&writer) == 0;
    nst_status st = NST_ERR_INTERNAL;
    if (writing) {
        st = compute_all(s, sm, a, &in, &out, &writer, jobs->n, stats, &failed_input,
                         &failed_compute, err, err_size);
        if (st != NST_OK && failed_compute >= 0) /* the library's message, and which input */
            snprintf(err, err_size, "%s: %s", jobs->in[failed_compute], nst_last_error(ctx));
    } else {
        snprintf(err, err_size, "cannot start the reader and writer threads");
    }
    nst_cli_queue_close(&in); /* the reader stops at its next frame */
    nst_cli_queue_close(&out);
    if (reading)
        nst_cli_reader_join(&reader);
    if (writing)
        nst_cli_writer_join(&writer);
    stats->total_s = nst_cli_now() - t0;
    *written = writing ? writer.written : 0;
    if (writing && writer.status != NST_OK) {
        snprintf(err, err_size, "%s", writer.error);
        st = writer.status;
    }
    /* A worker's failure is repeated here so that the message is also the main context's (the
     * JSON summary's "error"): the same decode, the same atomic write. */
    if (st != NST_OK && failed_input >= 0) {
        nst_image img = {0};
        (void)nst_image_load(ctx, jobs->in[failed_input], 3, &img);
        nst_image_free(&img);
    } else if (writer.failed_frame) {
        const nst_cli_frame *f = writer.failed_frame;
        if (nst_image_save(ctx, jobs->out[f->index], &f->img, a->quality) == NST_OK)
            (*written)++;
    }
    nst_cli_frame_free(writer.failed_frame);
    nst_cli_queue_destroy(&in);
    nst_cli_queue_destroy(&out);
    return st;
}

int nst_cli_stylize(int argc, char **argv) {
    stylize_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        free(a.inputs);
        return rc;
    }
    char err[1200] = "";
    nst_cli_jobs jobs;
    rc = nst_cli_jobs_make(a.inputs, a.n_inputs, a.out, &jobs, err, sizeof err);
    free(a.inputs);
    if (rc != 0) {
        fprintf(stderr, "nstyle stylize: %s\n", err);
        return rc == 2 ? usage_error("%s", "no work to do") : NST_EXIT_FAILURE;
    }
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        nst_cli_jobs_free(&jobs);
        fprintf(stderr, "nstyle stylize: out of memory\n");
        return NST_EXIT_FAILURE;
    }
    char model[4096] = "";
    nst_stylizer *s = NULL;
    nst_smoother *sm = NULL;
    run_stats stats = {0};
    int written = 0;
    nst_status st = open_all(&a, ctx, model, sizeof model, &s, &sm);
    if (st == NST_OK) {
        st = run_jobs(ctx, s, sm, &a, &jobs, &stats, &written, err, sizeof err);
        if (st != NST_OK)
            fprintf(stderr, "nstyle stylize: %s (%d of %d images written)\n", err, written,
                    jobs.n);
        else if (!a.quiet)
            print_summary(ctx, &a, model, &stats, written);
    }
    if (a.json) {
        nst_cli_json *j = summary_json(ctx, &a, model[0] ? model : a.model,
                                       nst_stylizer_style(s), &stats, jobs.n, written);
        if (nst_cli_json_write(j, ctx, st, a.json) != 0 && st == NST_OK)
            st = NST_ERR_IO;
        nst_cli_json_free(j);
    }
    nst_smoother_destroy(sm);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
    nst_cli_jobs_free(&jobs);
    return st == NST_OK ? NST_EXIT_OK : NST_EXIT_FAILURE;
}
