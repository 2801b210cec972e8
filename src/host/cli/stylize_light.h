/* The light networks in `nstyle stylize` (src/host/cli/stylize_light.c): --style PAINTING
 * (arbitrary_transform with the vector of arbitrary_predict), --style-vector / --save-style-vector
 * and --builtin SPEC (multistyle26), found as NAME.safetensors where -m looks (models.h). Part of
 * the CLI. */
#ifndef NSTYLE_CLI_STYLIZE_LIGHT_H
#define NSTYLE_CLI_STYLIZE_LIGHT_H

#include <stddef.h>

#include "nstyle/nstyle.h"

typedef struct {
    const char *style;      /* --style: the painting */
    const char *builtin;    /* --builtin: "3:0.5,12:0.5" */
    const char *vector_in;  /* --style-vector */
    const char *vector_out; /* --save-style-vector */
    float strength;         /* --strength, 1 by default */
    int style_size;         /* --style-size, NST_STYLE_SIZE by default */
} nst_cli_light_args;

#define NST__CLI_TRY(expr)             \
    do {                               \
        const nst_status st_ = (expr); \
        if (st_ != NST_OK)             \
            return st_;                \
    } while (0)

/* "7", "3:0.5,12:0.5" (index 0..25, optional weight >= 0; repeated indices add up) into the
 * 26 weights: 0, or -1 when malformed or all zero. */
int nst_cli_parse_builtin(const char *spec, float *w);

/* Finds and opens the network, computes or reads the style vector (saving it when asked) and
 * sets the conditioning and strength; *own is the predictor when one was opened (close it after
 * the stylizer). model receives the transformer's path. Prints why on failure. */
nst_status nst_cli_light_open(nst_ctx *ctx, const nst_cli_light_args *a, nst_stylizer **s,
                              nst_style_predictor **own, char *model, size_t size);

#endif
