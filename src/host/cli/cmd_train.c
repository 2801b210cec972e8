/* `nstyle train -s STYLE --data DIR -o MODEL`: trains a feed-forward style network
 * (include/nstyle/train.h) from one style image and a folder of photos, with progress (loss and
 * ETA) on stderr, checkpoints every --checkpoint-every steps, --resume, and the shared JSON
 * summary (report.h) with style, data, output, weights, images, steps, steps_requested, size,
 * batch, seed, content_weight, style_weight, tv_weight, first_loss, last_loss, content_loss,
 * style_loss, tv_loss, seconds, ms_per_step, plan_bytes, cancelled, checkpoint and memory.
 * Exit codes: 0 done, 1 failure (unreadable style image, no readable photo, missing weights or
 * layer, a checkpoint of other settings), 2 usage error, 130 / 143 when SIGINT / SIGTERM stopped
 * it after the current step (the checkpoint and the model so far written). Tested by
 * tests/test_train.c. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "nstyle/image.h"
#include "nstyle/nstyle.h"
#include "nstyle/train.h"
#include "report.h"
#include "signals.h"
#include "temporaries.h"

/* Signals (signals.h): the first SIGINT/SIGTERM only sets nst_cli_cancel_signal; the progress
 * callback after the current step sees it, puts up a write guard and stops the run, so the
 * checkpoint, the model and the JSON are written whole; the guard comes down at the end, and a
 * second signal that came meanwhile then ends the process. Before the writes begin a second one
 * ends it at once, as in nstyle render. The library's cancel flag is not used: a signal between
 * the callback and the flag's check would start the writes unguarded. */
static nst_cli_write_guard writes_guard; /* up from the stop to the end */

typedef struct {
    const char *style, *output, *model, *json, *device, *checkpoint;
    bool quiet, deterministic;
    int threads, style_size;
    long steps;
    char checkpoint_buf[4096];
    nst_train_options o;
} train_args;

enum { OPT_DATA = 256, OPT_STEPS, OPT_SEED, OPT_BATCH, OPT_SIZE, OPT_STYLE_SIZE, OPT_CKPT_EVERY,
       OPT_CKPT, OPT_RESUME, OPT_CL, OPT_SL, OPT_CW, OPT_SW, OPT_TVW, OPT_LR, OPT_WIDTH,
       OPT_JSON, OPT_INIT, OPT_DET };

static int usage_error(const char *fmt, const char *arg) {
    return nst_cli_usage_error("train", fmt, arg);
}

/* A finite number >= lo. */
static bool parse_double(const char *s, double lo, double *out) {
    return nst_cli_parse_double(s, lo, HUGE_VAL, out);
}

static void print_help(const nst_train_options *d) {
    printf("Usage: nstyle train -s STYLE --data DIR -o MODEL [options]\n"
           "\n"
           "Trains a feed-forward style network (Johnson et al. 2016, the pytorch/examples\n"
           "TransformerNet) on random crops of the photos in DIR, with VGG19's content and Gram\n"
           "style losses against STYLE, and writes it as a safetensors model that `nstyle\n"
           "stylize -m MODEL` reads.\n"
           "\n"
           "Data:\n"
           "  -s, --style FILE         the style image (PNG, JPEG, BMP, TGA)\n"
           "      --style-size N       resize it so its shorter side is N (default: --size)\n"
           "      --data DIR           the photos: every readable image in DIR, any size\n"
           "  -o, --output MODEL       the trained model (.safetensors), written atomically\n"
           "      --size N             crop side: the shorter side is resized to N, then a random\n"
           "                           N x N crop (default %d; a multiple of 4)\n"
           "      --batch N            crops per step (default %d)\n"
           "\n"
           "Training:\n"
           "      --steps N            steps to run, resumed ones included (default %ld)\n"
           "      --lr X               Adam learning rate (default %g)\n"
           "      --seed N             initial weights and crops (default %llu)\n"
           "      --content-weight X   (default: 1e5 / s^2, s = 57.6 for 0-255 VGG19 weights,\n"
           "                           1 for ImageNet-normalised ones: 30.1 with the Caffe VGG19)\n"
           "      --style-weight X     (default: 1e10 / s^4: 906 with the Caffe VGG19)\n"
           "      --tv-weight X        total variation on the [0,1] output (default 0)\n"
           "      --content-layers L   comma list (default relu2_2)\n"
           "      --style-layers L     comma list (default relu1_2,relu2_2,relu3_4,relu4_4)\n"
           "      --checkpoint-every N write a checkpoint every N steps (default 0: none)\n"
           "      --checkpoint FILE    where (default: MODEL with .ckpt.safetensors)\n"
           "      --resume CKPT        continue from a checkpoint (same size, batch, data)\n"
           "\n"
           "Device and output:\n"
           "  -m, --model FILE         VGG19 weights (default: looked up as render does)\n"
           "  -d, --device D           cpu (default), cuda or cuda:N\n"
           "  -t, --threads N          CPU threads (default: all cores)\n"
           "      --deterministic      the same bits on every run on a GPU too (cuDNN's\n"
           "                           deterministic algorithms, slower): what --resume needs\n"
           "                           to continue bit for bit on CUDA; the CPU is always so\n"
           "                           at a fixed --threads\n"
           "      --json FILE          a JSON summary (\"-\": stdout)\n"
           "  -q, --quiet              errors only\n"
           "  -h, --help               this text\n"
           "\n"
           "Ctrl-C (SIGINT) or SIGTERM stops after the current step and writes the checkpoint\n"
           "(--checkpoint) and the model so far; --resume continues from it.\n"
           "Exit status: 0 done, 1 failure, 2 usage error, 130 stopped by SIGINT, 143 by\n"
           "SIGTERM.\n",
           d->size, d->batch, d->steps, d->lr, (unsigned long long)d->seed);
}

static int parse_args(int argc, char **argv, train_args *a) {
    static const struct option opts[] = {
        {"style", required_argument, NULL, 's'}, {"data", required_argument, NULL, OPT_DATA},
        {"output", required_argument, NULL, 'o'}, {"model", required_argument, NULL, 'm'},
        {"steps", required_argument, NULL, OPT_STEPS}, {"seed", required_argument, NULL, OPT_SEED},
        {"batch", required_argument, NULL, OPT_BATCH}, {"size", required_argument, NULL, OPT_SIZE},
        {"style-size", required_argument, NULL, OPT_STYLE_SIZE},
        {"checkpoint-every", required_argument, NULL, OPT_CKPT_EVERY},
        {"checkpoint", required_argument, NULL, OPT_CKPT},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"content-layers", required_argument, NULL, OPT_CL},
        {"style-layers", required_argument, NULL, OPT_SL},
        {"content-weight", required_argument, NULL, OPT_CW},
        {"style-weight", required_argument, NULL, OPT_SW},
        {"tv-weight", required_argument, NULL, OPT_TVW}, {"lr", required_argument, NULL, OPT_LR},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"init-model", required_argument, NULL, OPT_INIT},
        {"device", required_argument, NULL, 'd'}, {"threads", required_argument, NULL, 't'},
        {"json", required_argument, NULL, OPT_JSON}, {"quiet", no_argument, NULL, 'q'},
        {"deterministic", no_argument, NULL, OPT_DET},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    nst_train_options_default(&a->o);
    a->device = "cpu";
    long v = 0;
    double x = 0;
    int c;
    while ((c = getopt_long(argc, argv, "s:o:m:d:t:qh", opts, NULL)) != -1) {
        const char *s = optarg;
        switch (c) {
        case 's': a->style = s; break;
        case OPT_DATA: a->o.data_dir = s; break;
        case 'o': a->output = s; break;
        case 'm': a->model = s; break;
        case 'd': a->device = s; break;
        case 'q': a->quiet = true; break;
        case OPT_JSON: a->json = s; break;
        case OPT_DET: a->deterministic = true; break;
        case OPT_CKPT: a->checkpoint = s; break;
        case OPT_RESUME: a->o.resume = s; break;
        case OPT_INIT: a->o.init_model = s; break;
        case OPT_CL: a->o.content_layers = s; break;
        case OPT_SL: a->o.style_layers = s; break;
        case 'h': print_help(&a->o); return NST_EXIT_OK;
        case 't':
            if (!nst_cli_parse_long(s, 1, 4096, &v))
                return usage_error("--threads wants a whole number 1..4096 (got '%s')", s);
            a->threads = (int)v;
            break;
        case OPT_STEPS:
            if (!nst_cli_parse_long(s, 0, 1000000000L, &a->o.steps))
                return usage_error("--steps wants a whole number >= 0 (got '%s')", s);
            break;
        case OPT_SEED:
            if (!nst_cli_parse_long(s, 0, 0x7fffffffL, &v))
                return usage_error("--seed wants a whole number >= 0 (got '%s')", s);
            a->o.seed = (uint64_t)v;
            break;
        case OPT_BATCH:
            if (!nst_cli_parse_long(s, 1, 1024, &v))
                return usage_error("--batch wants a whole number 1..1024 (got '%s')", s);
            a->o.batch = (int)v;
            break;
        case OPT_SIZE:
            if (!nst_cli_parse_long(s, 8, 8192, &v) || v % 4)
                return usage_error("--size wants a multiple of 4, 8..8192 (got '%s')", s);
            a->o.size = (int)v;
            break;
        case OPT_STYLE_SIZE:
            if (!nst_cli_parse_long(s, 8, 8192, &v))
                return usage_error("--style-size wants a whole number 8..8192 (got '%s')", s);
            a->style_size = (int)v;
            break;
        case OPT_WIDTH:
            if (!nst_cli_parse_long(s, 1, 1024, &v))
                return usage_error("--width wants a whole number 1..1024 (got '%s')", s);
            a->o.width = (int)v;
            break;
        case OPT_CKPT_EVERY:
            if (!nst_cli_parse_long(s, 0, 1000000000L, &a->o.checkpoint_every))
                return usage_error("--checkpoint-every wants a whole number >= 0 (got '%s')", s);
            break;
        case OPT_CW: case OPT_SW: case OPT_TVW: case OPT_LR:
            if (!parse_double(s, 0, &x) || (c == OPT_LR && x == 0))
                return usage_error("weights and --lr want a number >= 0 (lr > 0) (got '%s')", s);
            *(c == OPT_CW ? &a->o.content_weight : c == OPT_SW ? &a->o.style_weight
              : c == OPT_TVW ? &a->o.tv_weight : &a->o.lr) = x;
            break;
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!a->style || !a->o.data_dir || !a->output)
        return usage_error("needs -s STYLE, --data DIR and -o MODEL%s", "");
    if (!a->checkpoint) {
        const char *dot = strrchr(a->output, '.');
        const int stem = dot && !strchr(dot, '/') ? (int)(dot - a->output)
                                                  : (int)strlen(a->output);
        snprintf(a->checkpoint_buf, sizeof a->checkpoint_buf, "%.*s.ckpt.safetensors", stem,
                 a->output);
        a->checkpoint = a->checkpoint_buf;
    }
    a->o.checkpoint = a->checkpoint;
    return -1;
}

/* The style image, shorter side resized to `side`, as RGB [0, 1] floats. */
static nst_status load_style(nst_ctx *ctx, const char *path, int side, float **out, int *w,
                             int *h) {
    nst_image img = {0}, rs = {0};
    nst_status s = nst_image_load(ctx, path, 3, &img);
    if (s != NST_OK)
        return s;
    const double k = (double)side / (img.width < img.height ? img.width : img.height);
    *w = (int)fmax(1, floor(img.width * k + 0.5));
    *h = (int)fmax(1, floor(img.height * k + 0.5));
    s = nst_image_resize(ctx, &img, *w, *h, &rs);
    nst_image_free(&img);
    if (s != NST_OK)
        return s;
    *out = malloc((size_t)*w * *h * 3 * sizeof **out);
    s = *out ? nst_image_to_float(ctx, &rs, *out) : NST_ERR_NO_MEMORY;
    nst_image_free(&rs);
    return s;
}

typedef struct {
    nst_cli_progress bar;
} run_state;

static bool on_progress(const nst_train_progress *p, void *user) {
    run_state *st = user;
    char text[160];
    snprintf(text, sizeof text, "loss %.4g (content %.3g style %.3g tv %.3g)", p->total_loss,
             p->content_loss, p->style_loss, p->tv_loss);
    nst_cli_progress_update(&st->bar, p->step, text);
    if (!nst_cli_cancel_signal)
        return true;
    nst_cli_write_guard_begin(&writes_guard); /* until the files are written */
    return false;
}

static void json_fields(nst_cli_json *j, const train_args *a, const nst_train_result *r,
                        const char *weights) {
    nst_cli_json_str(j, "style", a->style);
    nst_cli_json_str(j, "data", a->o.data_dir);
    nst_cli_json_str(j, "output", a->output);
    nst_cli_json_str(j, "weights", weights[0] ? weights : NULL);
    nst_cli_json_int(j, "images", r->images);
    nst_cli_json_int(j, "steps", r->steps_done);
    nst_cli_json_int(j, "steps_requested", a->o.steps);
    nst_cli_json_int(j, "size", a->o.size);
    nst_cli_json_int(j, "batch", a->o.batch);
    nst_cli_json_int(j, "seed", (int64_t)a->o.seed);
    nst_cli_json_bool(j, "deterministic", a->deterministic);
    nst_cli_json_num(j, "content_weight", r->content_weight);
    nst_cli_json_num(j, "style_weight", r->style_weight);
    nst_cli_json_num(j, "tv_weight", r->tv_weight);
    nst_cli_json_num(j, "first_loss", r->first_loss);
    nst_cli_json_num(j, "last_loss", r->last_loss);
    nst_cli_json_num(j, "content_loss", r->content_loss);
    nst_cli_json_num(j, "style_loss", r->style_loss);
    nst_cli_json_num(j, "tv_loss", r->tv_loss);
    nst_cli_json_num(j, "seconds", r->seconds);
    nst_cli_json_num(j, "ms_per_step", r->ms_per_step);
    nst_cli_json_int(j, "plan_bytes", (int64_t)r->plan_bytes);
    nst_cli_json_bool(j, "cancelled", r->cancelled);
    nst_cli_json_str(j, "checkpoint",
                     a->o.checkpoint_every > 0 || r->checkpointed ? a->checkpoint : NULL);
}

/* The style's name for the model's metadata: STYLE's file name without its extension. */
static void style_name(const char *path, char *buf, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    snprintf(buf, size, "%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
}

int nst_cli_train(int argc, char **argv) {
    train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    nst_cli_clean_temporaries(a.output); /* what a killed run left for these outputs */
    nst_cli_clean_temporaries(a.checkpoint);
    if (a.json && strcmp(a.json, "-") != 0)
        nst_cli_clean_temporaries(a.json);
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        fprintf(stderr, "nstyle train: out of memory\n");
        return NST_EXIT_FAILURE;
    }
    nst_cli_json *json = a.json ? nst_cli_json_begin("train") : NULL;
    char weights[4096] = "";
    float *style = NULL;
    nst_train_result r = {0};
    nst_status s = nst_ctx_set_device(ctx, a.device);
    if (s == NST_OK && a.threads)
        nst_ctx_set_threads(ctx, a.threads);
    nst_ctx_set_deterministic(ctx, a.deterministic);
    if (s == NST_OK)
        s = nst_vgg19_weights_find(ctx, a.model, weights, sizeof weights);
    int sw = 0, sh = 0;
    if (s == NST_OK)
        s = load_style(ctx, a.style, a.style_size ? a.style_size : a.o.size, &style, &sw, &sh);
    if (s == NST_OK) {
        nst_cli_signals_install();
        run_state st;
        a.o.weights_path = weights;
        a.o.style = style, a.o.style_width = sw, a.o.style_height = sh;
        a.o.progress = on_progress, a.o.progress_user = &st;
        char name[128];
        style_name(a.style, name, sizeof name);
        nst_cli_progress_start(&st.bar, "step", a.o.steps, a.quiet);
        s = nst_train(ctx, &a.o, a.output, name, &r);
        nst_cli_progress_finish(&st.bar);
    }
    rc = s == NST_OK ? NST_EXIT_OK : NST_EXIT_FAILURE;
    if (s != NST_OK)
        fprintf(stderr, "nstyle train: %s\n", nst_last_error(ctx));
    else if (!a.quiet && !(a.json && strcmp(a.json, "-") == 0)) {
        printf("trained %ld steps (%d photos, %dx%d crops, batch %d) on %s in %.1f s, %.0f ms per "
               "step\nloss %.4g -> %.4g (weights: content %.4g, style %.4g, tv %.4g)\nwrote %s\n",
               r.steps_done, r.images, a.o.size, a.o.size, a.o.batch, nst_ctx_device_name(ctx),
               r.seconds, r.ms_per_step, r.first_loss, r.last_loss, r.content_weight,
               r.style_weight, r.tv_weight, a.output);
        if (r.checkpointed)
            printf("interrupted by %s after step %ld of %ld: wrote %s (continue with --resume "
                   "%s)\n", nst_cli_cancel_signal == SIGTERM ? "SIGTERM" : "SIGINT", r.steps_done,
                   a.o.steps, a.checkpoint, a.checkpoint);
        nst_cli_print_memory(stdout, ctx, 0);
    }
    if (json) {
        json_fields(json, &a, &r, weights);
        nst_cli_json_memory(json, ctx);
        if (nst_cli_json_write(json, ctx, s, a.json) != 0 && rc == NST_EXIT_OK)
            rc = NST_EXIT_FAILURE;
        nst_cli_json_free(json);
    }
    free(style);
    nst_ctx_destroy(ctx);
    if (rc == NST_EXIT_OK && nst_cli_cancel_signal)
        rc = 128 + nst_cli_cancel_signal; /* 130 SIGINT, 143 SIGTERM */
    nst_cli_write_guard_end(&writes_guard); /* a second signal held back acts now */
    return rc;
}
