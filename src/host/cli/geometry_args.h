/* `nstyle render`'s geometry options (src/host/cli/geometry_args.c):
 * --content-transform,
 * --style-transform, --transform-padding, --robust, --style-augment,
 * --learn-style-transform,
 * --style-transform-penalty, --style-transform-lr; their help, summary lines
 * and JSON fields. The library does the work (nst_render_options,
 * include/nstyle/geometry.h). */
#ifndef NSTYLE_CLI_RENDER_GEOMETRY_H
#define NSTYLE_CLI_RENDER_GEOMETRY_H

#include <getopt.h>

#include "nstyle/image.h"
#include "nstyle/render.h"
#include "report.h"

enum {
    NST_CLI_GEO_FIRST = 1024,
    NST_CLI_GEO_CONTENT = NST_CLI_GEO_FIRST,
    NST_CLI_GEO_STYLE,
    NST_CLI_GEO_PADDING,
    NST_CLI_GEO_ROBUST,
    NST_CLI_GEO_AUGMENT,
    NST_CLI_GEO_LEARN,
    NST_CLI_GEO_PENALTY,
    NST_CLI_GEO_LR,
    NST_CLI_GEO_LAST = NST_CLI_GEO_LR
};

/* The getopt_long entries, for the option table. */
/* clang-format off */
#define NST_CLI_GEO_OPTIONS                                                                        \
    {"content-transform", required_argument, NULL, NST_CLI_GEO_CONTENT},                           \
    {"style-transform", required_argument, NULL, NST_CLI_GEO_STYLE},                               \
    {"transform-padding", required_argument, NULL, NST_CLI_GEO_PADDING},                           \
    {"robust", required_argument, NULL, NST_CLI_GEO_ROBUST},                                       \
    {"style-augment", required_argument, NULL, NST_CLI_GEO_AUGMENT},                               \
    {"learn-style-transform", no_argument, NULL, NST_CLI_GEO_LEARN},                               \
    {"style-transform-penalty", required_argument, NULL, NST_CLI_GEO_PENALTY},                     \
    {"style-transform-lr", required_argument, NULL, NST_CLI_GEO_LR}
/* clang-format on */

/* The texts of the transforms as given (for the JSON); NULL when absent. */
typedef struct {
    const char *content, *style;
} nst_cli_geo_text;

/* The command named in the usage errors below (default "render"). */
void nst_cli_geo_set_command(const char *name);
/* One geometry option into o: -1 when fine, else the usage error's exit code.
 */
int nst_cli_geo_option(int c, const char *v, nst_render_options *o, nst_cli_geo_text *t);
/* The checks that need every option (-1 when fine, else the exit code). */
int nst_cli_geo_check(const nst_render_options *o, int n_styles);
void nst_cli_geo_help(const nst_render_options *defaults);
/* The content image as the render saw it (its transform applied), for SSIM. */
nst_status nst_cli_geo_content(nst_ctx *ctx, const nst_render_options *o, nst_image *content);
void nst_cli_geo_summary(const nst_render_options *o, const nst_render_result *r);
void nst_cli_geo_json(nst_cli_json *j, const nst_render_options *o, const nst_cli_geo_text *t,
                      const nst_render_result *r);

#endif
