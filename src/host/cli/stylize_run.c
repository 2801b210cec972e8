/* The run of `nstyle stylize` (stylize_run.h): a reader thread decodes (and resizes) the inputs
 * and a writer thread encodes the results, each through a bounded queue (stylize_io.c), around
 * the compute loop here, which gathers up to --batch frames of the same size into one pass,
 * smooths them in order and checks for a signal between batches. The same loop serves image
 * files and a video's frames (video.c). Also the human summary and the JSON one.
 * Tested by tests/test_cli_stylize.c and tests/test_cli_video.c. */
#include "stylize_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nstyle/stylize.h"
#include "signals.h"

static nst_status grow_floats(float **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        float *b = realloc(*buf, n * sizeof *b);
        if (!b)
            return NST_ERR_NO_MEMORY;
        *buf = b;
        *cap = n;
    }
    return NST_OK;
}

/* The tile for frames of w x h: --tile, else 0 when one frame's plan fits the limit, else the
 * largest tile that fits (decided once per size). */
static nst_status tile_for(nst_stylizer *s, const nst_cli_stylize_args *a, int w, int h,
                           nst_cli_stylize_stats *st, int *tile) {
    if (a->tile || (st->decided_w == w && st->decided_h == h)) {
        *tile = a->tile ? a->tile : st->decided_tile;
        return NST_OK;
    }
    const nst_status status = nst_stylizer_choose_tile(s, w, h, a->mem_limit, tile);
    if (status != NST_OK)
        return status;
    st->decided_w = w;
    st->decided_h = h;
    st->decided_tile = *tile;
    return NST_OK;
}

/* Shows the window passes; a SIGINT or SIGTERM stops the image after the current one. */
static bool window_done(void *user, int done, int total) {
    nst_cli_progress *p = user;
    p->total = total;
    nst_cli_progress_update(p, done, NULL);
    return nst_cli_cancel_signal == 0;
}

/* One frame in tiles (nst_stylize_tiled), with a progress display of its window passes: the
 * result replaces the frame's pixels. Smoothing, if on, works on the 8-bit result. */
static nst_status compute_tiled(nst_stylizer *s, nst_smoother *sm, const nst_cli_stylize_args *a,
                                nst_cli_frame *f, int tile, float **buf, size_t *cap) {
    const int w = f->img.width, h = f->img.height;
    const size_t one = (size_t)w * h * 3;
    uint8_t *out = malloc(one);
    nst_cli_progress progress;
    nst_cli_progress_start(&progress, "window pass", 0, a->quiet);
    nst_stylizer_set_progress(s, window_done, &progress);
    nst_status status = out ? nst_stylize_tiled(s, f->img.data, w, h, tile, out)
                            : NST_ERR_NO_MEMORY;
    nst_stylizer_set_progress(s, NULL, NULL);
    nst_cli_progress_finish(&progress);
    if (status == NST_OK && sm && (status = grow_floats(buf, cap, one)) == NST_OK) {
        for (size_t k = 0; k < one; k++)
            (*buf)[k] = out[k];
        if ((status = nst_smoother_apply(sm, f->img.data, w, h, *buf)) == NST_OK)
            nst_stylize_to_u8(*buf, one, out);
    }
    if (status != NST_OK) {
        free(out);
        return status;
    }
    free(f->img.data);
    f->img.data = out;
    return NST_OK;
}

/* Stylises the n frames in batch (all one size) as one pass, or one by one in tiles when one
 * frame's plan does not fit; smooths them in order, and hands them to the writer. */
static nst_status compute_batch(nst_stylizer *s, nst_smoother *sm, const nst_cli_stylize_args *a,
                                nst_cli_frame **batch, int n, float **buf, size_t *cap,
                                nst_cli_queue *out, nst_cli_stylize_stats *st) {
    const int w = batch[0]->img.width, h = batch[0]->img.height;
    const size_t one = (size_t)w * h * 3;
    const double t0 = nst_cli_now();
    int tile = 0;
    nst_status status = tile_for(s, a, w, h, st, &tile);
    if (status == NST_OK && tile && !st->tiled) {
        nst_plan_summary whole;
        status = nst_stylizer_plan_tiled(s, w, h, tile, &st->tiling);
        if (status == NST_OK && (status = nst_stylizer_plan(s, 1, w, h, &whole)) == NST_OK)
            st->untiled_plan_bytes = whole.total_bytes;
        st->tiled = status == NST_OK;
    }
    for (int i = 0; tile && status == NST_OK && i < n; i++)
        status = compute_tiled(s, sm, a, batch[i], tile, buf, cap);
    if (tile && status == NST_ERR_INTERRUPTED && nst_cli_cancel_signal) {
        /* a signal stopped a tiled image: it and the rest of the batch are not written */
        st->compute_s += nst_cli_now() - t0;
        st->cancelled = true;
        for (int i = 0; i < n; i++) {
            nst_cli_frame_free(batch[i]);
            batch[i] = NULL;
        }
        return NST_OK;
    }
    if (!tile && status == NST_OK && (status = grow_floats(buf, cap, n * one)) == NST_OK) {
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < one; k++)
                (*buf)[i * one + k] = batch[i]->img.data[k];
        status = nst_stylize_float(s, *buf, n, w, h, *buf);
        for (int i = 0; status == NST_OK && i < n; i++) {
            float *y = *buf + i * one;
            if (sm)
                status = nst_smoother_apply(sm, batch[i]->img.data, w, h, y);
            nst_stylize_to_u8(y, one, batch[i]->img.data);
        }
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

typedef struct {
    int failed_input, failed_compute; /* frame indices, or -1 */
} failures;

/* The compute loop between the reader's queue and the writer's. Returns the first failure; an
 * unreadable frame's message goes to err. */
static nst_status compute_all(nst_stylizer *s, nst_smoother *sm, const nst_cli_stylize_args *a,
                              nst_cli_queue *in, nst_cli_queue *out, nst_cli_writer *writer,
                              long total, bool video, nst_cli_stylize_stats *st, failures *fail,
                              char *err, size_t err_size) {
    nst_cli_frame **batch = calloc((size_t)a->batch, sizeof *batch);
    float *buf = NULL;
    size_t cap = 0;
    nst_cli_progress progress;
    nst_cli_progress_start(&progress, video ? "frame" : "image", total,
                           a->quiet || (!video && total < 2));
    nst_status status = batch ? NST_OK : NST_ERR_NO_MEMORY;
    int n = 0;
    for (;;) {
        const bool stop = nst_cli_cancel_signal != 0;
        st->cancelled = st->cancelled || stop;
        nst_cli_frame *f = status == NST_OK && !stop ? nst_cli_queue_pop(in) : NULL;
        const bool other_size = f && f->status == NST_OK && n > 0 &&
                                (f->img.width != batch[0]->img.width ||
                                 f->img.height != batch[0]->img.height);
        if (n > 0 && (!f || f->status != NST_OK || other_size || n == a->batch)) {
            status = compute_batch(s, sm, a, batch, n, &buf, &cap, out, st);
            if (status != NST_OK) {
                fail->failed_compute = batch[0]->index;
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
                fail->failed_input = f->index;
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

nst_status nst_cli_stylize_run(nst_ctx *ctx, nst_stylizer *s, nst_smoother *sm,
                               const nst_cli_stylize_args *a, const nst_cli_jobs *jobs,
                               nst_cli_video *video, long total, nst_cli_stylize_stats *stats,
                               char *err, size_t err_size) {
    nst_cli_queue in, out;
    const int depth = 2 * a->batch + 2;
    if (nst_cli_queue_init(&in, depth) != 0 || nst_cli_queue_init(&out, depth) != 0) {
        nst_cli_queue_destroy(&in);
        snprintf(err, err_size, "out of memory");
        return NST_ERR_NO_MEMORY;
    }
    nst_cli_reader reader = {.jobs = jobs, .video = video, .size = a->size, .scale = a->scale,
                             .queue = &in};
    nst_cli_writer writer = {.jobs = jobs, .video = video, .quality = a->quality, .queue = &out};
    failures fail = {-1, -1};
    const double t0 = nst_cli_now();
    const bool reading = nst_cli_reader_start(&reader) == 0;
    const bool writing = reading && nst_cli_writer_start(&writer) == 0;
    nst_status st = NST_ERR_INTERNAL;
    if (writing) {
        st = compute_all(s, sm, a, &in, &out, &writer, total, video != NULL, stats, &fail, err,
                         err_size);
        if (st != NST_OK && fail.failed_compute >= 0 && video)
            snprintf(err, err_size, "%s: frame %d: %s", video->in_path, fail.failed_compute + 1,
                     nst_last_error(ctx));
        else if (st != NST_OK && fail.failed_compute >= 0) /* the library's message, and where */
            snprintf(err, err_size, "%s: %s", jobs->in[fail.failed_compute], nst_last_error(ctx));
    } else {
        snprintf(err, err_size, "cannot start the reader and writer threads");
    }
    nst_cli_queue_close(&in); /* the reader stops at its next frame */
    if (video) /* and a decoder still running stops now, so the reader is not left waiting */
        nst_cli_proc_kill(&video->dec, SIGKILL);
    nst_cli_queue_close(&out);
    if (reading)
        nst_cli_reader_join(&reader);
    if (writing)
        nst_cli_writer_join(&writer);
    stats->total_s = nst_cli_now() - t0;
    stats->written = writing ? writer.written : 0;
    if (writing && writer.status != NST_OK) {
        snprintf(err, err_size, "%s", writer.error);
        st = writer.status;
    }
    /* An image worker's failure is repeated here so that the message is also the main
     * context's: the same decode, the same atomic write. */
    if (!video && st != NST_OK && fail.failed_input >= 0) {
        nst_image img = {0};
        (void)nst_image_load(ctx, jobs->in[fail.failed_input], 3, &img);
        nst_image_free(&img);
    } else if (writer.failed_frame) {
        const nst_cli_frame *f = writer.failed_frame;
        if (nst_image_save(ctx, jobs->out[f->index], &f->img, a->quality) == NST_OK)
            stats->written++;
    }
    nst_cli_frame_free(writer.failed_frame);
    nst_cli_queue_destroy(&in);
    nst_cli_queue_destroy(&out);
    return st;
}

/* ---- summaries ------------------------------------------------------------------------------- */

static void audio_words(const nst_cli_video *v, char *buf, size_t size) {
    if (strcmp(v->audio, "none") == 0)
        snprintf(buf, size, "no audio");
    else if (strcmp(v->audio, "copy") == 0)
        snprintf(buf, size, "audio copied (%s)", v->info.audio_codec);
    else
        snprintf(buf, size, "audio re-encoded to %s (the container does not take %s)", v->audio,
                 v->info.audio_codec);
}

void nst_cli_stylize_print_summary(nst_ctx *ctx, const nst_cli_stylize_args *a,
                                   const char *model, const nst_cli_stylize_stats *st,
                                   const nst_cli_video *video) {
    nst_tracker_snapshot snap;
    nst_tracker_snapshot_get(ctx, &snap);
    const double mib = 1048576.0;
    const char *extras[2] = {a->smooth > 0 ? ", smoothed" : "",
                             a->original_colors ? ", original colours" : ""};
    if (video) {
        printf("stylized %d frame%s of %s (%dx%d, %.3g fps) into %s with %s on %s, batch %d%s%s\n",
               st->written, st->written == 1 ? "" : "s", video->in_path, st->width, st->height,
               video->info.fps, video->out_path, model, nst_ctx_device_name(ctx), a->batch,
               extras[0], extras[1]);
        char audio[160];
        audio_words(video, audio, sizeof audio);
        printf("  %s %s crf %d, %s\n", video->codec, video->pix_fmt, video->crf, audio);
    } else {
        printf("stylized %d image%s (first %dx%d) with %s on %s, batch %d%s%s\n", st->written,
               st->written == 1 ? "" : "s", st->width, st->height, model,
               nst_ctx_device_name(ctx), a->batch, extras[0], extras[1]);
    }
    const char *unit = video ? "frame" : "image";
    printf("  %.1f ms per %s compute, %.1f ms with decoding and encoding\n",
           st->images ? 1e3 * st->compute_s / st->images : 0.0, unit,
           st->images ? 1e3 * st->total_s / st->images : 0.0);
    printf("  peak memory %.1f MiB: weights %.1f, activations %.1f, workspace %.1f, arena "
           "slack %.1f (plan %.1f MiB%s)\n", snap.peak_total / mib,
           snap.peak[NST_TAG_WEIGHTS] / mib, snap.peak[NST_TAG_ACTIVATIONS] / mib,
           snap.peak[NST_TAG_WORKSPACE] / mib, snap.arena_slack_peak / mib,
           st->plan_bytes / mib, st->tiled ? " per tile" : "");
    const nst_stylize_tiling *t = &st->tiling;
    if (st->tiled)
        printf("  tiled: %dx%d tiles of %d px in windows of %dx%d (margin %d), %d window "
               "passes; plan %.1f MiB per tile (untiled: %.1f MiB), plus %.1f MiB of host "
               "staging and the 8-bit image in and out\n", t->nx, t->ny, t->tile, t->win_w,
               t->win_h, t->halo, t->passes, t->plan.total_bytes / mib,
               st->untiled_plan_bytes / mib, t->host_bytes / mib);
}

nst_cli_json *nst_cli_stylize_json(nst_ctx *ctx, const nst_cli_stylize_args *a,
                                   const char *model, const char *style,
                                   const nst_cli_stylize_stats *st, int inputs,
                                   const nst_cli_video *video) {
    nst_cli_json *j = nst_cli_json_begin("stylize");
    nst_cli_json_int(j, "inputs", inputs);
    nst_cli_json_int(j, "width", st->width);
    nst_cli_json_int(j, "height", st->height);
    nst_cli_json_num(j, "ms_per_image_compute",
                     st->images ? 1e3 * st->compute_s / st->images : NAN);
    nst_cli_json_num(j, "ms_per_image_total", st->images ? 1e3 * st->total_s / st->images : NAN);
    nst_cli_json_int(j, "images_written", st->written);
    nst_cli_json_str(j, "model", model);
    nst_cli_json_str(j, "style", style);
    nst_cli_json_int(j, "batch", a->batch);
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    nst_cli_json_int(j, "threads", nst_ctx_threads(ctx) ? nst_ctx_threads(ctx) : cores);
    nst_cli_json_num(j, "smooth", a->smooth);
    nst_cli_json_bool(j, "original_colors", a->original_colors);
    nst_cli_json_bool(j, "cancelled", st->cancelled);
    nst_cli_json_int(j, "plan_bytes", (int64_t)st->plan_bytes);
    if (st->tiled) {
        const nst_stylize_tiling *t = &st->tiling;
        nst_cli_json_object_begin(j, "tiles");
        nst_cli_json_int(j, "tile", t->tile);
        nst_cli_json_int(j, "across", t->nx);
        nst_cli_json_int(j, "down", t->ny);
        nst_cli_json_int(j, "window_width", t->win_w);
        nst_cli_json_int(j, "window_height", t->win_h);
        nst_cli_json_int(j, "margin", t->halo);
        nst_cli_json_int(j, "receptive_radius", NST_STYLIZE_RECEPTIVE_RADIUS);
        nst_cli_json_int(j, "window_passes", t->passes);
        nst_cli_json_int(j, "plan_bytes_per_tile", (int64_t)t->plan.total_bytes);
        nst_cli_json_int(j, "untiled_plan_bytes", (int64_t)st->untiled_plan_bytes);
        nst_cli_json_int(j, "host_staging_bytes", (int64_t)t->host_bytes);
        nst_cli_json_int(j, "image_bytes", (int64_t)6 * st->width * st->height);
        nst_cli_json_object_end(j);
    } else {
        nst_cli_json_null(j, "tiles");
    }
    if (video) {
        nst_cli_json_object_begin(j, "video");
        nst_cli_json_str(j, "input", video->in_path);
        nst_cli_json_str(j, "output", video->out_path);
        nst_cli_json_int(j, "frames_read", video->read);
        nst_cli_json_int(j, "frames_written", video->written);
        nst_cli_json_int(j, "frames_expected", video->info.expected);
        nst_cli_json_str(j, "frame_rate", video->info.rate);
        nst_cli_json_num(j, "fps", video->info.fps);
        nst_cli_json_str(j, "codec", video->codec);
        nst_cli_json_str(j, "pix_fmt", video->pix_fmt);
        nst_cli_json_int(j, "crf", video->crf);
        nst_cli_json_str(j, "audio", video->audio);
        nst_cli_json_object_end(j);
    } else {
        nst_cli_json_null(j, "video");
    }
    nst_cli_json_memory(j, ctx);
    return j;
}
