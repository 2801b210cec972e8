/* `nstyle stylize --style PAINTING` and `--builtin SPEC` (stylize_light.h): the light networks
 * of docs/light-networks.md found, opened and conditioned for the run that cmd_stylize.c makes.
 * Tested by tests/test_cli_stylize_light.c. */
#include "stylize_light.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/models.h"

int nst_cli_parse_builtin(const char *spec, float *w) {
    for (int i = 0; i < NST_LIGHT_STYLES; i++)
        w[i] = 0.0f;
    const char *p = spec;
    int parts = 0;
    while (*p) {
        char *end;
        const long idx = strtol(p, &end, 10);
        if (end == p || idx < 0 || idx >= NST_LIGHT_STYLES)
            return -1;
        double wt = 1.0;
        p = end;
        if (*p == ':') {
            wt = strtod(p + 1, &end);
            if (end == p + 1 || !isfinite(wt) || wt < 0)
                return -1;
            p = end;
        }
        w[idx] += (float)wt;
        parts++;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    double sum = 0;
    for (int i = 0; i < NST_LIGHT_STYLES; i++)
        sum += w[i];
    return parts > 0 && sum > 0 ? 0 : -1;
}

static nst_status find(nst_ctx *ctx, const char *name, char *path, size_t size) {
    char file[64];
    snprintf(file, sizeof file, "%s.safetensors", name);
    const char *names[1] = {file};
    const nst_status st = nst_model_find(ctx, NULL, names, 1, path, size);
    if (st != NST_OK)
        fprintf(stderr, "nstyle stylize: %s\nThe light networks are made by "
                        "models/fetch-light.sh (docs/light-networks.md).\n", nst_last_error(ctx));
    return st;
}

static nst_status fail(nst_ctx *ctx, nst_status st) {
    fprintf(stderr, "nstyle stylize: %s\n", nst_last_error(ctx));
    return st;
}

/* Reads a vector file written by save_vector. */
static nst_status load_vector(nst_ctx *ctx, const char *path, float *vec) {
    nst_st_file *f = NULL;
    nst_status st = nst_st_open(ctx, path, &f);
    const int64_t dims[1] = {NST_STYLE_VECTOR_SIZE};
    float *v = NULL;
    if (st == NST_OK)
        st = nst_st_load_f32(ctx, f, "style_vector", 1, dims, &v);
    if (st == NST_OK)
        memcpy(vec, v, sizeof(float) * NST_STYLE_VECTOR_SIZE);
    free(v);
    nst_st_close(f);
    return st;
}

static nst_status save_vector(nst_ctx *ctx, const char *path, const float *vec,
                              const char *painting, int size) {
    nst_st_writer *w = nst_st_writer_create();
    if (!w)
        return NST_ERR_NO_MEMORY;
    const int64_t dims[1] = {NST_STYLE_VECTOR_SIZE};
    char sz[16];
    snprintf(sz, sizeof sz, "%d", size);
    nst_status st = nst_st_writer_add(ctx, w, "style_vector", NST_ST_F32, 1, dims, vec);
    if (st == NST_OK)
        st = nst_st_writer_metadata(ctx, w, "format", "nstyle-style-vector-1");
    if (st == NST_OK)
        st = nst_st_writer_metadata(ctx, w, "style_image", painting);
    if (st == NST_OK)
        st = nst_st_writer_metadata(ctx, w, "style_size", sz);
    if (st == NST_OK)
        st = nst_st_writer_save(ctx, w, path);
    nst_st_writer_destroy(w);
    return st;
}

nst_status nst_cli_light_open(nst_ctx *ctx, const nst_cli_light_args *a, nst_stylizer **s,
                              nst_style_predictor **own, char *model, size_t size) {
    *s = NULL;
    *own = NULL;
    const bool builtin = a->builtin != NULL;
    NST__CLI_TRY(find(ctx, builtin ? "multistyle26" : "arbitrary_transform", model, size));
    nst_status st = nst_stylizer_open_light(ctx, model, s);
    if (st != NST_OK)
        return fail(ctx, st);
    if (builtin) {
        float w[NST_LIGHT_STYLES];
        nst_cli_parse_builtin(a->builtin, w); /* checked when parsed */
        st = nst_stylizer_set_condition(*s, w, NST_LIGHT_STYLES);
        if (st == NST_OK)
            st = nst_stylizer_set_strength(*s, a->strength, NULL, 0);
        return st == NST_OK ? st : fail(ctx, st);
    }
    float vec[NST_STYLE_VECTOR_SIZE];
    const bool need_predictor = !a->vector_in || a->strength < 1.0f;
    char pred[4096];
    if (need_predictor) {
        NST__CLI_TRY(find(ctx, "arbitrary_predict", pred, sizeof pred));
        if ((st = nst_style_predictor_open(ctx, pred, own)) != NST_OK)
            return fail(ctx, st);
    }
    if (a->vector_in) {
        st = load_vector(ctx, a->vector_in, vec);
    } else {
        nst_image img = {0};
        st = nst_image_load(ctx, a->style, 3, &img);
        if (st == NST_OK)
            st = nst_style_vector(*own, &img, a->style_size, vec);
        nst_image_free(&img);
    }
    if (st == NST_OK && a->vector_out)
        st = save_vector(ctx, a->vector_out, vec, a->style ? a->style : a->vector_in,
                         a->style_size);
    if (st == NST_OK)
        st = nst_stylizer_set_condition(*s, vec, NST_STYLE_VECTOR_SIZE);
    if (st == NST_OK)
        st = nst_stylizer_set_strength(*s, a->strength, *own, a->style_size);
    return st == NST_OK ? st : fail(ctx, st);
}
