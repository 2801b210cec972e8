/* The CLI's one home for option parsing (src/host/cli/args.c): usage errors, whole numbers,
 * numbers, sizes and comma lists, and the render options that change memory, declared once in
 * one getopt table fragment and one parser that `nstyle render` and `nstyle plan` share, so a
 * new option of that kind is added in one place. Tested by tests/test_cli.c,
 * tests/test_cli_render.c and tests/test_cli_plan.c (every usage error names the option and
 * the value). */
#ifndef NSTYLE_CLI_ARGS_H
#define NSTYLE_CLI_ARGS_H

#include <getopt.h>
#include <stdbool.h>

#include "nstyle/render.h"

/* "nstyle COMMAND: <fmt with arg>" and the --help hint on stderr; returns NST_EXIT_USAGE. */
int nst_cli_usage_error(const char *command, const char *fmt, const char *arg);

/* A whole decimal integer (or any finite number) within [lo, hi] into *out; false otherwise,
 * *out untouched. */
bool nst_cli_parse_long(const char *s, long lo, long hi, long *out);
bool nst_cli_parse_int(const char *s, long lo, long hi, int *out);
bool nst_cli_parse_double(const char *s, double lo, double hi, double *out);
/* Parses "WxH" (e.g. 768x512) into positive ints; returns 0 on success. */
int nst_cli_parse_size(const char *s, int *w, int *h);
/* A comma list of numbers in [lo, hi] into v (at most max): the count, or -1. */
int nst_cli_parse_list(const char *text, double lo, double hi, double *v, int max);

/* ---- the render options that change memory (render and plan) -------------------------------- */

enum {
    NST_CLI_MEM_FIRST = 768,
    NST_CLI_MEM_CONTENT_LAYERS = NST_CLI_MEM_FIRST,
    NST_CLI_MEM_STYLE_LAYERS,
    NST_CLI_MEM_POOLING,
    NST_CLI_MEM_OPTIMIZER,
    NST_CLI_MEM_HISTORY,
    NST_CLI_MEM_LINE_SEARCH,
    NST_CLI_MEM_SCALES,
    NST_CLI_MEM_NORMGRAD,
    NST_CLI_MEM_LAST = NST_CLI_MEM_NORMGRAD
};

/* The getopt_long entries of those options: the layers, pooling, the optimiser, L-BFGS's
 * history and line search, the scales, normalised gradients (the geometry options that change
 * memory, --robust, --style-augment and --learn-style-transform, are geometry_args.h's). */
#define NST_CLI_MEMORY_OPTIONS                                                                     \
    {"content-layers", required_argument, NULL, NST_CLI_MEM_CONTENT_LAYERS},                       \
    {"style-layers", required_argument, NULL, NST_CLI_MEM_STYLE_LAYERS},                           \
    {"pooling", required_argument, NULL, NST_CLI_MEM_POOLING},                                     \
    {"optimizer", required_argument, NULL, NST_CLI_MEM_OPTIMIZER},                                 \
    {"lbfgs-history", required_argument, NULL, NST_CLI_MEM_HISTORY},                               \
    {"line-search", required_argument, NULL, NST_CLI_MEM_LINE_SEARCH},                             \
    {"scales", required_argument, NULL, NST_CLI_MEM_SCALES},                                       \
    {"normalize-gradients", no_argument, NULL, NST_CLI_MEM_NORMGRAD}

typedef struct {
    int scales;             /* --scales (1 when not given) */
    bool line_search_given; /* --line-search, which wants --optimizer lbfgs */
    const char *given;      /* the last such option given ("--pooling"): plan's mode check */
} nst_cli_memory_args;

/* Whether c is one of NST_CLI_MEMORY_OPTIONS' codes. */
bool nst_cli_is_memory_option(int c);
/* Option c's value v into o and m (layers into o's content_layers / style_layers): -1 when
 * fine, else the usage error's exit code, the message naming command, the option and v. */
int nst_cli_memory_option(const char *command, int c, const char *v, nst_render_options *o,
                          nst_cli_memory_args *m);

#endif
