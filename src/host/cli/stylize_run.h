/* The run of `nstyle stylize` (src/host/cli/stylize_run.c): its options as parsed by
 * cmd_stylize.c, the compute loop between the reader and writer threads of stylize_io.h, and
 * the human and JSON summaries. Part of the CLI. */
#ifndef NSTYLE_CLI_STYLIZE_RUN_H
#define NSTYLE_CLI_STYLIZE_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "nstyle/nstyle.h"
#include "nstyle/stylize.h"
#include "report.h"
#include "stylize_io.h"
#include "stylize_light.h"
#include "video.h"

typedef struct {
    const char *model, *out, *device, *json, *codec;
    const char **inputs;
    int n_inputs;
    int size, threads, batch, quality, crf; /* crf -1: the default */
    int tile;         /* --tile: cores of tile pixels; 0: tiles only when the frame does not fit */
    size_t mem_limit; /* --mem-limit / --vram-limit bytes; 0: the device's free memory */
    double scale;
    float smooth, threshold;
    bool quiet, original_colors;
    nst_cli_light_args light; /* --style, --builtin ...: a light network instead of -m */
} nst_cli_stylize_args;

typedef struct {
    int images, width, height; /* stylised, and the first one's size */
    double compute_s, total_s;
    size_t plan_bytes;
    int written;    /* images, or frames handed to the encoder */
    bool cancelled; /* a signal stopped the run after a batch */
    /* tiles: the decision for the last frame size, and the tiling of the first tiled frame */
    int decided_w, decided_h, decided_tile;
    bool tiled;
    nst_stylize_tiling tiling;
    size_t untiled_plan_bytes;
} nst_cli_stylize_stats;

/* Runs the reader, the compute loop and the writer over the jobs' images, or over the video's
 * frames when video is not NULL (total: the frames expected, or -1). Stops after the current
 * batch when a SIGINT or SIGTERM comes (signals.h; stats->cancelled). Returns the first
 * failure, its message in err naming the image or frame. */
nst_status nst_cli_stylize_run(nst_ctx *ctx, nst_stylizer *s, nst_smoother *sm,
                               const nst_cli_stylize_args *a, const nst_cli_jobs *jobs,
                               nst_cli_video *video, long total, nst_cli_stylize_stats *stats,
                               char *err, size_t err_size);

/* "stylized N images ..." and the times and memory, on stdout. */
void nst_cli_stylize_print_summary(nst_ctx *ctx, const nst_cli_stylize_args *a,
                                   const char *model, const nst_cli_stylize_stats *st,
                                   const nst_cli_video *video);
/* The JSON summary's fields (docs/json.md). */
nst_cli_json *nst_cli_stylize_json(nst_ctx *ctx, const nst_cli_stylize_args *a,
                                   const char *model, const char *style,
                                   const nst_cli_stylize_stats *st, int inputs,
                                   const nst_cli_video *video);

#endif
