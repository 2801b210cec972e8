/* `nstyle render -c CONTENT -s STYLE -o OUT [options]`: the Gatys render (nst_render_gatys) from
 * the command line. Loads and scales the images (the content to --size, the style to the
 * content's long side), finds the VGG19 weights, runs the render with a progress display on
 * stderr (report.h), writes the result atomically, prints a one-screen summary on stdout and,
 * with --json FILE, the summary schema of report.h with the render's fields (docs/json.md).
 *
 * The controls: several style images (-s a,b or -s repeated) with --style-blend and
 * --style-scale, --histogram-match, --original-colors, --optimizer adam|lbfgs with
 * --lbfgs-history and --line-search none|strong-wolfe, --scales N coarse to fine (the library
 * does these; for the coarser scales this file reads the images again from their files at the
 * sizes the library chose); --save-every N writes OUT_NNNNNN.ext (numbered across scales)
 * atomically.
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
 * The options and --help are src/host/cli/render_args.c. Tested by tests/test_cli_render.c and
 * tests/test_render_controls.c. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "manifest_run.h"
#include "nstyle/nstyle.h"
#include "nstyle/render.h"
#include "nstyle/vgg19.h"
#include "render_args.h"
#include "geometry_args.h"
#include "report.h"
#include "signals.h"
#include "temporaries.h"

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
    int scale; /* the scale the bar shows, -1 before the first */
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
    snapshot_path(st->a->output, iteration, path, sizeof path); /* counted over the scales */
    nst_ctx *ctx = nst_ctx_create();
    const bool ok = ctx && save_float_image(ctx, path, image, w, h);
    nst_ctx_destroy(ctx);
    return ok;
}

static bool on_progress(const nst_render_progress *p, void *user) {
    run_state *st = user;
    if (p->scale != st->scale) { /* a bar per scale */
        if (st->scale >= 0)
            nst_cli_progress_finish(&st->bar);
        st->scale = p->scale;
        snprintf(st->label, sizeof st->label, p->scales > 1 ? "scale %d/%d" : "iter",
                 p->scale + 1, p->scales);
        nst_cli_progress_start(&st->bar, st->label, p->iterations, st->a->quiet);
    }
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
/* The images of one size: 8-bit as loaded (the content is SSIM's reference) and as floats. */
typedef struct {
    nst_image content, style[NST_RENDER_MAX_STYLES], init;
    float *content_f, *style_f[NST_RENDER_MAX_STYLES], *init_f;
    int style_w[NST_RENDER_MAX_STYLES], style_h[NST_RENDER_MAX_STYLES];
} image_set;

struct run_data {
    image_set img; /* at the result's size */
    nst_render_result r;
    nst_cli_json *json;
    char weights[4096];
    int iterations_total, requested_total; /* over all scales */
};

static void print_summary(nst_ctx *ctx, const render_args *a, const run_data *d, double ssim) {
    print_summary_of(ctx, a, &d->r, d->iterations_total, d->requested_total, ssim);
}

static void json_fields(nst_cli_json *j, const render_args *a, const run_data *d, double ssim) {
    json_fields_of(j, a, &d->r, ssim, d->weights, d->iterations_total, d->requested_total);
}

static void images_free(image_set *m) {
    nst_image_free(&m->content);
    nst_image_free(&m->init);
    free(m->content_f);
    free(m->init_f);
    m->content_f = m->init_f = NULL;
    for (int j = 0; j < NST_RENDER_MAX_STYLES; j++) {
        nst_image_free(&m->style[j]);
        free(m->style_f[j]);
        m->style_f[j] = NULL;
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
    images_free(&d->img);
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

/* The result's size: --size's long side (or exact size) applied to the content file. */
static nst_status final_size(nst_ctx *ctx, const render_args *a, int *w, int *h) {
    int cw, ch, cc;
    TRY(nst_image_probe(ctx, a->content, &cw, &ch, &cc));
    *w = a->width, *h = a->height;
    if (!*w)
        scale_to_long_side(cw, ch, a->long_side, w, h);
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

/* Into m: the content at w x h, each style at --style-scale times its long side, and (with_init)
 * the --init image at w x h, as loaded and as floats. */
static nst_status images_load(nst_ctx *ctx, const render_args *a, int w, int h, bool with_init,
                              image_set *m) {
    images_free(m);
    TRY(style_sizes(ctx, a, w, h, m->style_w, m->style_h));
    nst_status st = load_rgb_at(ctx, a->content, w, h, &m->content);
    for (int j = 0; st == NST_OK && j < a->n_styles; j++)
        st = load_rgb_at(ctx, a->styles[j], m->style_w[j], m->style_h[j], &m->style[j]);
    if (st == NST_OK && with_init && a->init_file)
        st = load_rgb_at(ctx, a->init_file, w, h, &m->init);
    bool ok = st == NST_OK && (m->content_f = to_float(ctx, &m->content));
    for (int j = 0; ok && j < a->n_styles; j++)
        ok = (m->style_f[j] = to_float(ctx, &m->style[j])) != NULL;
    if (ok && with_init && a->init_file)
        ok = (m->init_f = to_float(ctx, &m->init)) != NULL;
    if (!ok)
        return st != NST_OK ? st
               : nst_last_status(ctx) != NST_OK ? nst_last_status(ctx) : NST_ERR_NO_MEMORY;
    return NST_OK;
}

/* Loads the images at the result's size into d; the options point at the floats. */
static nst_status prepare(nst_ctx *ctx, render_args *a, run_data *d) {
    int w, h;
    TRY(final_size(ctx, a, &w, &h));
    TRY(images_load(ctx, a, w, h, true, &d->img));
    const image_set *m = &d->img;
    nst_render_options *o = &a->o;
    o->width = w, o->height = h, o->content = m->content_f;
    o->n_styles = a->n_styles;
    o->styles = (const float *const *)m->style_f;
    o->styles_width = m->style_w, o->styles_height = m->style_h;
    o->style_blend = a->n_blend ? a->blend : NULL;
    o->init_image = m->init_f;
    o->scales = a->scales;
    for (int k = 0; k < a->scales && k < NST_RENDER_MAX_SCALES; k++)
        o->scale_iterations[k] = a->n_scale_iters ? a->scale_iters[k] : 0;
    return NST_OK;
}

/* A coarser scale's images, read again from the files (as neural-style does) instead of resized
 * from the full-size ones: the content at the size the library chose, each style at
 * --style-scale times that size's long side, as at the full size. */
typedef struct {
    const render_args *a;
    image_set img;
} scale_files;

static nst_status on_scale_images(nst_ctx *ctx, int k, nst_render_options *o, void *user) {
    scale_files *f = user;
    const render_args *a = f->a;
    if (k + 1 == a->scales) /* the largest: the images loaded at the start */
        return NST_OK;
    TRY(images_load(ctx, a, o->width, o->height, k == 0, &f->img));
    o->content = f->img.content_f;
    o->styles = (const float *const *)f->img.style_f;
    o->styles_width = f->img.style_w, o->styles_height = f->img.style_h;
    if (k == 0 && a->init_file)
        o->init_image = f->img.init_f;
    return NST_OK;
}

/* Whether the parsed style list is exactly `styles` (the parser cut its commas into NULs). */
static bool same_styles(const render_args *a, const char *styles) {
    const size_t n = strlen(styles);
    int count = 1;
    for (const char *c = strchr(styles, ','); c; c = strchr(c + 1, ','))
        count++;
    if (count != a->n_styles || n >= sizeof a->style_list || a->style_list[n] != '\0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (a->style_list[i] != (styles[i] == ',' ? '\0' : styles[i]))
            return false;
    return true;
}

/* A manifest line as parsed: -1 when it renders exactly its content, styles and output
 * (manifest_run.h). */
static int check_job(int argc, char **argv, const char *const *field) {
    render_args a;
    int rc = nst_cli_render_parse_args(argc, argv, &a);
    if (rc < 0 && (a.content != field[0] || !same_styles(&a, field[1]) ||
                   a.output != field[2] || a.json))
        rc = nst_cli_usage_error("render", "%s", "a manifest gives each job's content, style "
                                 "and output: -c, -s, -o and --json are not options of the "
                                 "command line or of a line");
    return rc;
}

static const nst_cli_manifest_command manifest_command = {
    .command = "render",
    .fields = 3,
    .flags = (const char *const[]){"-c", "-s", "-o"},
    .field_names = (const char *const[]){"content", "style", "output"},
    .check = check_job,
};

int nst_cli_render(int argc, char **argv) {
    if (nst_cli_manifest_asked(argc, argv))
        return nst_cli_manifest_main(&manifest_command, argc, argv);
    render_args a;
    int rc = nst_cli_render_parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (!nst_cli_render_layers_known(a.content_layers, "--content-layers") ||
        !nst_cli_render_layers_known(a.style_layers, "--style-layers") ||
        !nst_cli_render_folder_writable(a.output, "the output") ||
        (a.json && strcmp(a.json, "-") != 0 && !nst_cli_render_folder_writable(a.json, "the JSON summary")))
        return NST_EXIT_FAILURE;
    nst_cli_signals_install();
    nst_cli_clean_temporaries(a.output); /* what a killed run left for these outputs */
    if (a.o.save_every > 0)
        nst_cli_clean_numbered_temporaries(a.output);
    if (a.json && strcmp(a.json, "-") != 0)
        nst_cli_clean_temporaries(a.json);
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
        (s = prepare(ctx, &a, &d)) != NST_OK)
        return fail(ctx, &d, &a, s);

    run_state st = {.a = &a, .scale = -1};
    scale_files files = {.a = &a};
    a.o.weights_path = d.weights;
    a.o.progress = on_progress;
    a.o.progress_user = &st;
    a.o.cancel = &nst_cli_cancel_signal;
    a.o.snapshot = a.o.save_every > 0 ? on_snapshot : NULL;
    a.o.snapshot_user = &st;
    a.o.scale_images = a.scales > 1 ? on_scale_images : NULL;
    a.o.scale_images_user = &files;
    if (!nst_cli_cancel_signal)
        s = nst_render_gatys(ctx, &a.o, &d.r);
    if (st.scale >= 0)
        nst_cli_progress_finish(&st.bar);
    images_free(&files.img);
    for (int k = 0; k < a.scales; k++)
        d.requested_total += a.n_scale_iters ? a.scale_iters[k] : a.iterations;
    d.iterations_total = d.r.iterations_done;
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
    /* a render stopped at a coarser scale has no content of its size to compare with */
    nst_image *content = &d.img.content;
    const bool same = d.r.width == content->width && d.r.height == content->height;
    const double ssim = same && nst_cli_geo_content(ctx, &a.o, content) == NST_OK
                            ? ssim_to_content(ctx, content, d.r.image) : NAN;
    if (!a.quiet && !(a.json && strcmp(a.json, "-") == 0)) /* stdout is the JSON's then */
        print_summary(ctx, &a, &d, ssim);
    return finish(ctx, &d, &a, s, ssim);
}
