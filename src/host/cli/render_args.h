/* `nstyle render`'s arguments (src/host/cli/render_args.c): the options, their checks and the
 * --help text; the run is src/host/cli/cmd_render.c. */
#ifndef NSTYLE_CLI_RENDER_ARGS_H
#define NSTYLE_CLI_RENDER_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "nstyle/render.h"
#include "args.h"
#include "geometry_args.h"

#define MAX_SCALES NST_RENDER_MAX_SCALES /* --scales at most (nstyle plan takes the same) */

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
    bool quiet, lr_given;
    int threads;
    int scales, scale_iters[MAX_SCALES], n_scale_iters;
    int iterations; /* --iters (o.iterations is the current scale's) */
    size_t vram_limit, workspace_limit;
    nst_render_options o;
    nst_cli_geo_text geo; /* --content-transform, --style-transform as given */
    nst_cli_memory_args mem; /* the options that change memory (args.h), with nstyle plan */
} render_args;

/* Parses the command line into *a (after nst_render_options_default and the CLI's defaults):
 * -1 when parsed, else the exit code (help printed, or a usage error explained). */
int nst_cli_render_parse_args(int argc, char **argv, render_args *a);
/* Every name in a comma list is a VGG19 layer; else prints the first that is not (option
 * names the flag) and returns false. */
bool nst_cli_render_layers_known(const char *list, const char *option);
/* path's folder can take a new file; else prints why (what names the file) and returns false. */
bool nst_cli_render_folder_writable(const char *path, const char *what);

#endif
