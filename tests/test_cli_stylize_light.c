/* `nstyle stylize --builtin / --style` end to end (src/host/cli/stylize_light.c, cmd_stylize.c):
 * every new option's usage error names the option and the value; missing networks say how to
 * get them, and a device that fails says so; with models/fetch-light.sh's networks (skipped, saying why, without them), a mix
 * of built-in styles keeps the photo's size, a painting's saved vector gives the same image as
 * the painting, and --json names the network. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nstyle/models.h"
#include "test_files.h"
#include "test_images.h"
#include "test_support.h"

static char out[16384], err[16384], dir[256];

#define RUN(...) \
    nst_test_run_cli((const char *const[]){"stylize", __VA_ARGS__, NULL}, out, sizeof out, err, \
                     sizeof err)

static void setup(void) { nst_test_tmpdir(dir, sizeof dir); }

TestSuite(cli_stylize_light, .init = setup, .timeout = 120);

/* dir/name into path (600 bytes). */
static char *in_dir(char *path, const char *name) {
    snprintf(path, 600, "%s/%s", dir, name);
    return path;
}

/* A seeded random w x h photo saved as dir/name; its path into path. */
static const char *photo(char *path, const char *name, int w, int h, uint64_t seed) {
    nst_image img = nst_test_image_random(w, h, 3, seed);
    nst_ctx *ctx = nst_test_cpu_ctx();
    const nst_status st = nst_image_save(ctx, in_dir(path, name), &img, 95);
    cr_assert_eq(st, NST_OK, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
    nst_image_free(&img);
    return path;
}

static void expect_usage(const char *needle) {
    cr_expect(strstr(err, needle) != NULL, "stderr lacks '%s': %s", needle, err);
}

Test(cli_stylize_light, usage_errors_name_option_and_value) {
    char in[600], o[600];
    photo(in, "in.png", 16, 12, 1);
    in_dir(o, "o.png");
    cr_expect_eq(RUN("--builtin", "26", "-i", in, "-o", o), 2);
    expect_usage("--builtin wants a style 0..25");
    expect_usage("'26'");
    cr_expect_eq(RUN("--builtin", "3:-1", "-i", in, "-o", o), 2);
    expect_usage("'3:-1'");
    cr_expect_eq(RUN("--builtin", "3:0,4:0", "-i", in, "-o", o), 2);
    expect_usage("not all 0");
    cr_expect_eq(RUN("--builtin", "1;2", "-i", in, "-o", o), 2);
    expect_usage("'1;2'");
    cr_expect_eq(RUN("--style", in, "--style-size", "100", "-i", in, "-o", o), 2);
    expect_usage("--style-size wants a multiple of 32");
    cr_expect_eq(RUN("--builtin", "1", "--strength", "1.5", "-i", in, "-o", o), 2);
    expect_usage("--strength wants a number in [0, 1] (got '1.5')");
    cr_expect_eq(RUN("-m", "candy", "--builtin", "1", "-i", in, "-o", o), 2);
    expect_usage("give one of them");
    cr_expect_eq(RUN("--style", in, "--style-vector", in, "-i", in, "-o", o), 2);
    expect_usage("give one of them");
    cr_expect_eq(RUN("--builtin", "1", "--save-style-vector", o, "-i", in, "-o", o), 2);
    expect_usage("--save-style-vector wants --style");
    cr_expect_eq(RUN("-m", "candy", "--strength", "0.5", "-i", in, "-o", o), 2);
    expect_usage("--strength and --style-size are for --style and --builtin");
    cr_expect_eq(RUN("--builtin", "1", "--style-size", "64", "-i", in, "-o", o), 2);
    expect_usage("--style-size is for --style");
    cr_expect_eq(RUN("-i", in, "-o", o), 2);
    expect_usage("--builtin SPEC");
    cr_expect_eq(RUN("--help"), 0);
    cr_expect(strstr(out, "--builtin SPEC") && strstr(out, "--save-style-vector"), "%s", out);
}

Test(cli_stylize_light, missing_networks_say_how_to_get_them) {
    char in[600], o[600], empty[600];
    photo(in, "in.png", 16, 12, 2);
    in_dir(o, "o.png");
    in_dir(empty, "empty");
    cr_assert_eq(mkdir(empty, 0755), 0);
    setenv("NSTYLE_MODELS", empty, 1);
    setenv("HOME", empty, 1);
    cr_expect_eq(RUN("--builtin", "4", "-i", in, "-o", o), 1);
    cr_expect(strstr(err, "multistyle26.safetensors") && strstr(err, "models/fetch-light.sh"),
              "%s", err);
    cr_expect_eq(RUN("--style", in, "-i", in, "-o", o), 1);
    cr_expect(strstr(err, "arbitrary_transform.safetensors"), "%s", err);
    cr_expect_eq(RUN("--builtin", "4", "--device", "nonsense", "-i", in, "-o", o), 1);
    cr_expect(strstr(err, "unknown device 'nonsense'"), "%s", err);
}

/* Skips unless the three networks are found. */
static void need_networks(void) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const char *names[1] = {"arbitrary_predict.safetensors"};
    char path[4096];
    const nst_status st = nst_model_find(ctx, NULL, names, 1, path, sizeof path);
    nst_ctx_destroy(ctx);
    if (st != NST_OK)
        cr_skip_test("the light networks are absent (models/fetch-light.sh makes them; the "
                     "ctest step fetch_light fetches them when PyPI answers)");
}

static nst_image load(const char *path) { return nst_test_image_load(path, 3); }

Test(cli_stylize_light, builtin_mix_and_saved_vector) {
    need_networks();
    char in[600], paint[600], p[5][600];
    photo(in, "in.png", 45, 31, 3);
    photo(paint, "paint.png", 70, 50, 4);
    const char *mix_png = in_dir(p[0], "mix.png"), *mix_json = in_dir(p[1], "mix.json");
    const char *vec = in_dir(p[2], "v.st"), *a_png = in_dir(p[3], "a.png");
    const char *b_png = in_dir(p[4], "b.png");
    cr_assert_eq(RUN("--builtin", "3:0.5,12:0.5", "-i", in, "-o", mix_png, "--json", mix_json),
                 0, "%s", err);
    nst_image mix = load(mix_png);
    cr_expect(mix.width == 45 && mix.height == 31);
    size_t n = 0;
    char *json = (char *)nst_test_read_bytes(mix_json, &n);
    cr_expect(strstr(json, "\"style\": \"multistyle26\"") != NULL, "%s", json);
    free(json);
    cr_assert_eq(RUN("--style", paint, "--style-size", "64", "--save-style-vector", vec, "-i", in,
                     "-o", a_png), 0, "%s", err);
    cr_assert_eq(RUN("--style-vector", vec, "-i", in, "-o", b_png), 0, "%s", err);
    nst_image a = load(a_png), b = load(b_png);
    cr_expect(a.width == 45 && a.height == 31);
    cr_expect_arr_eq(a.data, b.data, (size_t)45 * 31 * 3);
    cr_assert_eq(RUN("--style", paint, "--strength", "0.3", "-i", in, "-o", a_png), 0, "%s", err);
    nst_image c = load(a_png);
    cr_expect(memcmp(a.data, c.data, (size_t)45 * 31 * 3) != 0, "strength changed nothing");
    nst_image_free(&mix);
    nst_image_free(&a);
    nst_image_free(&b);
    nst_image_free(&c);
}
