/* `nstyle render` end to end (src/host/cli/cmd_render.c): runs the built CLI (NST_CLI_PATH) and
 * checks its exit codes, messages and files.
 *  - bad input: missing -c/-s/-o, unknown options, bad --size/--vram-limit values, unknown layer
 *    names, unreadable images, weights without a requested layer, a --vram-limit too small for
 *    the plan (refused before allocating, the consumers named), --line-search with a bad value
 *    or without --optimizer lbfgs: the right exit code and no output file;
 *  - a 64x64 CPU render with synthetic weights (a narrow random VGG19, 8 channels wide, written
 *    here with the library's safetensors writer): the output decodes at the asked size, the
 *    losses read back from --json fall, the summary and the plain progress lines are there;
 *  - signals: SIGINT or SIGTERM after the first progress line stops the render, the last image
 *    is written and decodes, the exit code is 130 / 143, and no temporary file is left; two
 *    SIGINTs in a row end it at once, still without a temporary file;
 *  - a non-finite loss (weights of 1e30) stops with the iteration and the layer named;
 *  - geometry: its options in --help, bad transforms, paddings and counts as usage errors
 *    naming the option and the value, --robust with L-BFGS and a learned theta with two styles
 *    refused; renders with every geometry option write their JSON fields and summary lines;
 *  - the real partial VGG19 of ../shared/data on chelsea.png with starry_night.jpg at 128 px:
 *    the style loss ends at 0.1x its start or lower and SSIM to the content is in [0.3, 0.8]
 *    (skipped without ../shared/data, and under AddressSanitizer, where it is too slow). */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nstyle/safetensors.h"
#include "nstyle/vgg19.h"
#include "test_files.h"
#include "test_images.h"
#include "test_support.h"

#if defined(__SANITIZE_ADDRESS__)
#define NST_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NST_TEST_SANITIZED 1
#endif
#endif

static char out[65536], err[65536];

#define RUN(...) \
    nst_test_run_cli((const char *const[]){__VA_ARGS__, NULL}, out, sizeof out, err, sizeof err)

static char dir[256], content[512], style[512], weights[512], result[512], json[512];

static const char *path_of(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* A narrow random VGG19 (width 8: conv1_1 3->8, conv1_2 8->8, conv2_1 8->16, ...) with its first
 * n_convs layers, He-scaled normal-ish weights times `scale`, small biases. */
static void write_weights(const char *path, int n_convs, float scale) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_writer *w = nst_st_writer_create();
    cr_assert_not_null(w);
    nst_test_rng rng = nst_test_rng_seed(7);
    for (int i = 0; i < n_convs; i++) {
        const nst_vgg19_layer *L = nst_vgg19_layer_get(i);
        const int cin = i == 0 ? 3 : L->cin / 8, cout = L->cout / 8;
        const size_t nw = (size_t)cout * cin * 9;
        float *wt = malloc(nw * sizeof *wt), *b = malloc((size_t)cout * sizeof *b);
        const double amp = sqrt(6.0 / (9.0 * cin)); /* uniform with He's variance */
        for (size_t k = 0; k < nw; k++)
            wt[k] = scale * (float)nst_test_rng_uniform(&rng, -amp, amp);
        for (int k = 0; k < cout; k++)
            b[k] = scale * (float)nst_test_rng_uniform(&rng, 0.0, 0.05);
        char name[64];
        const int64_t ws[4] = {cout, cin, 3, 3}, bs[1] = {cout};
        snprintf(name, sizeof name, "features.%d.weight", L->torchvision_index);
        cr_assert_eq(nst_st_writer_add(ctx, w, name, NST_ST_F32, 4, ws, wt), NST_OK, "%s",
                     nst_last_error(ctx));
        snprintf(name, sizeof name, "features.%d.bias", L->torchvision_index);
        cr_assert_eq(nst_st_writer_add(ctx, w, name, NST_ST_F32, 1, bs, b), NST_OK, "%s",
                     nst_last_error(ctx));
        free(wt);
        free(b);
    }
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "input", "rgb-0-1-imagenet-norm"), NST_OK);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    nst_ctx_destroy(ctx);
}

static void write_image(const char *path, int w, int h, uint64_t seed, bool stripes) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(w, h, 3, seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                uint8_t *p = img.data + ((size_t)y * w + x) * 3 + c;
                int smooth = stripes ? ((x + 2 * y) / 3 % 2) * 200 + 20 : (x * 3 + y * 2 + c * 60);
                *p = (uint8_t)((smooth % 256) * 3 / 4 + *p / 4);
            }
    cr_assert_eq(nst_image_save(ctx, path, &img, 0), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

/* A fresh folder with content.png (64x48), style.png (48x48) and weights.safetensors (3 convs:
 * enough for relu1_1, relu1_2 and relu2_1). */
static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(content, sizeof content, "%s/content.png", dir);
    snprintf(style, sizeof style, "%s/style.png", dir);
    snprintf(weights, sizeof weights, "%s/weights.safetensors", dir);
    snprintf(result, sizeof result, "%s/out.png", dir);
    snprintf(json, sizeof json, "%s/summary.json", dir);
    write_image(content, 64, 48, 1, false);
    write_image(style, 48, 48, 2, true);
    write_weights(weights, 3, 1.0f);
}

/* The synthetic render's fixed arguments, then up to 12 more, NULL-terminated. */
#define RENDER(...)                                                                            \
    RUN("render", "-c", content, "-s", style, "-o", result, "--model", weights, "--size", "64", "--device", \
        "cpu", "--threads", "2", "--content-layers", "relu2_1", "--style-layers",              \
        "relu1_1,relu2_1", __VA_ARGS__)

static char *read_json(void) { return nst_test_read_text(json); }

static void assert_image(const char *path, int w, int h) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, path, 0, &img), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(img.width == w && img.height == h && img.channels == 3, "%s is %dx%dx%d", path,
              img.width, img.height, img.channels);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static void assert_no_output(void) {
    int tmp = 0;
    nst_test_count_entries(dir, &tmp);
    cr_assert_eq(access(result, F_OK), -1, "%s must not be written", result);
    cr_assert_eq(tmp, 0, "a temporary file was left in %s", dir);
}

TestSuite(cli_render, .init = setup, .timeout = 300);

/* ---- usage ----------------------------------------------------------------------------------- */

Test(cli_render, help_explains_options_layers_and_weights) {
    cr_assert_eq(RUN("render", "--help"), 0, "%s", err);
    const char *words[] = {"--content", "--style", "--output", "--size", "--iters", "--lr",
                           "--seed", "--content-weight", "--style-weight", "--tv-weight",
                           "--content-layers", "--style-layers", "--pooling", "--init",
                           "--device", "--threads", "--vram-limit", "--workspace-limit",
                           "--deterministic", "--model", "--json", "--quiet",
                           "relu5_4", "conv3_1", "NSTYLE_MODELS", "~/.cache/nstyle",
                           "models/fetch-vgg19.sh", "default 512", "130", "143"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_expect(strstr(out, words[i]), "help lacks '%s'", words[i]);
    cr_assert_eq(RUN("--help"), 0);
    cr_assert(strstr(out, "render"), "%s", out);
}

Test(cli_render, missing_images_and_unknown_options_are_usage_errors) {
    cr_assert_eq(RUN("render", "-s", style, "-o", result), 2);
    cr_assert(strstr(err, "missing -c"), "%s", err);
    cr_assert_eq(RUN("render", "-c", content, "-o", result), 2);
    cr_assert(strstr(err, "missing -s"), "%s", err);
    cr_assert_eq(RUN("render", "-c", content, "-s", style), 2);
    cr_assert(strstr(err, "missing -o"), "%s", err);
    cr_assert_eq(RENDER("--frobnicate"), 2);
    cr_assert(strstr(err, "unknown option '--frobnicate'"), "%s", err);
    cr_assert_eq(RENDER("--iters"), 2);
    cr_assert(strstr(err, "needs a value"), "%s", err);
    cr_assert_eq(RUN("render", "-c", content, "-s", style, "-o", path_of("out.gif")), 2);
    cr_assert(strstr(err, ".png, .jpg or .jpeg"), "%s", err);
    assert_no_output();
}

Test(cli_render, bad_values_are_usage_errors) {
    const char *bad[][2] = {{"--size", "0"},        {"--size", "abc"},   {"--size", "64x"},
                            {"--size", "40000"},    {"--size", "-5"},    {"--iters", "-1"},
                            {"--lr", "0"},          {"--lr", "fast"},    {"--pooling", "min"},
                            {"--vram-limit", "lots"}, {"--vram-limit", "0"},
                            {"--workspace-limit", "1Q"}, {"--threads", "0"},
                            {"--style-weight", "-1"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(RENDER(bad[i][0], bad[i][1]), 2, "%s %s: %s", bad[i][0], bad[i][1], err);
        cr_expect(strstr(err, bad[i][1]), "%s %s: the message should quote it: %s", bad[i][0],
                  bad[i][1], err);
    }
    assert_no_output();
}

Test(cli_render, line_search_bad_or_without_lbfgs_is_a_usage_error) {
    const char *bad[][5] = {
        {"--optimizer", "lbfgs", "--line-search", "armijo", "armijo"},
        {"--optimizer", "lbfgs", "--line-search", "", "none or strong-wolfe"},
        {"--line-search", "strong-wolfe", "-n", "1", "--optimizer lbfgs"},
        {"--optimizer", "adam", "--line-search", "none", "L-BFGS only"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(RENDER(bad[i][0], bad[i][1], bad[i][2], bad[i][3]), 2, "%s %s %s %s: %s",
                     bad[i][0], bad[i][1], bad[i][2], bad[i][3], err);
        cr_expect(strstr(err, bad[i][4]), "%s %s %s %s: the message should say '%s': %s",
                  bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4], err);
    }
    assert_no_output();
}

/* ---- failures: exit 1, nothing written --------------------------------------------------------
 * */

Test(cli_render, unknown_layer_names_fail_with_the_known_ones_listed) {
    cr_assert_eq(RENDER("--style-layers", "relu1_1,relu9_9"), 1);
    cr_assert(strstr(err, "unknown layer 'relu9_9'") && strstr(err, "--style-layers") &&
              strstr(err, "relu5_4"), "%s", err);
    cr_assert_eq(RENDER("--content-layers", "pool1"), 1);
    cr_assert(strstr(err, "'pool1'") && strstr(err, "--content-layers"), "%s", err);
    cr_assert_eq(RENDER("--style-layers", "relu1_1,,relu2_1"), 1, "%s", err);
    assert_no_output();
}

Test(cli_render, unreadable_images_fail) {
    const char *gone = path_of("missing.png");
    cr_assert_eq(RUN("render", "-c", gone, "-s", style, "-o", result, "--model", weights,
                     "--device", "cpu"), 1);
    cr_assert(strstr(err, gone) && strstr(err, "No such file"), "%s", err);
    const char *bad = path_of("bad.jpg");
    nst_test_write_bytes(bad, "\xff\xd8\xff\xe0 not really a jpeg", 22);
    cr_assert_eq(RUN("render", "-c", content, "-s", bad, "-o", result, "--model", weights,
                     "--device", "cpu"), 1);
    cr_assert(strstr(err, bad), "%s", err);
    cr_assert_eq(RENDER("--init", gone), 1);
    cr_assert(strstr(err, gone), "%s", err);
    /* an output folder that does not exist is refused before the render */
    const char *nowhere = path_of("no/such/folder/out.png");
    cr_assert_eq(RUN("render", "-c", content, "-s", style, "-o", nowhere, "--model", weights,
                     "--device", "cpu"), 1);
    cr_assert(strstr(err, "no/such/folder") && strstr(err, "No such file"), "%s", err);
    assert_no_output();
}

Test(cli_render, weights_missing_or_without_a_requested_layer_fail) {
    const char *gone = path_of("none.safetensors");
    cr_assert_eq(RUN("render", "-c", content, "-s", style, "-o", result, "--model", gone,
                     "--device", "cpu"), 1);
    cr_assert(strstr(err, gone), "%s", err);
    cr_assert_eq(RENDER("--style-layers", "relu1_1,relu3_1", "--json", json), 1);
    cr_assert(strstr(err, "conv3_1") || strstr(err, "relu3_1"), "%s", err);
    char *j = read_json();
    cr_assert(strstr(j, "\"ok\": false") && strstr(j, "\"command\": \"render\""), "%s", j);
    free(j);
    assert_no_output();
}

Test(cli_render, a_tiny_vram_limit_is_refused_before_allocating) {
    cr_assert_eq(RENDER("--vram-limit", "1K", "--json", json), 1);
    cr_assert(strstr(err, "memory plan needs") && strstr(err, "limit") &&
              strstr(err, "To fit"), "%s", err);
    cr_assert(strstr(err, "activations") || strstr(err, "gradients") || strstr(err, "weights"),
              "the consumers should be named: %s", err);
    char *j = read_json();
    cr_expect_eq(nst_test_json_num(j, "total"), 0, "nothing may be allocated: %s", j);
    free(j);
    assert_no_output();
}

Test(cli_render, a_non_finite_loss_names_the_iteration_and_the_layer) {
    write_weights(weights, 3, 1e30f);
    cr_assert_eq(RENDER("--iters", "5"), 1);
    cr_assert(strstr(err, "non-finite") && strstr(err, "iteration") &&
              (strstr(err, "relu") || strstr(err, "conv") || strstr(err, "tv")), "%s", err);
    assert_no_output();
}

/* ---- renders --------------------------------------------------------------------------------- */

Test(cli_render, synthetic_render_lowers_the_losses) {
    cr_assert_eq(RENDER("--iters", "40", "--lr", "0.05", "--json", json), 0, "%s", err);
    assert_image(result, 64, 48);
    char *j = read_json();
    cr_assert(strstr(j, "\"schema\": \"nstyle-summary/1\"") && strstr(j, "\"ok\": true") &&
              strstr(j, "\"device\": \"cpu\"") && strstr(j, "\"peak_bytes\""), "%s", j);
    nst_test_expect_json_version(j);
    cr_expect_eq(nst_test_json_num(j, "width"), 64);
    cr_expect_eq(nst_test_json_num(j, "height"), 48);
    cr_expect_eq(nst_test_json_num(j, "iterations"), 40);
    const double s0 = nst_test_json_num(j, "initial_style_loss"), s1 = nst_test_json_num(j, "style_loss");
    cr_expect(s0 > 0 && s1 < 0.8 * s0, "style loss %g -> %g should fall", s0, s1);
    cr_expect(nst_test_json_num(j, "initial_content_loss") < 1e-6, "init from content: %s", j);
    cr_expect(nst_test_json_num(j, "content_loss") >= 0);
    const double ssim = nst_test_json_num(j, "ssim_to_content");
    cr_expect(ssim > 0 && ssim < 1, "ssim %g", ssim);
    cr_expect(nst_test_json_num(j, "seconds") > 0 && nst_test_json_num(j, "setup_seconds") > 0 &&
              nst_test_json_num(j, "s_per_iter") > 0, "%s", j);
    cr_expect(nst_test_json_num(j, "total") > 0, "peak memory total: %s", j);
    free(j);
    const char *summary[] = {"64x48", "40 of 40 iterations", "s/iter", "content", "style",
                             "SSIM to content", "peak memory", "wrote"};
    for (size_t i = 0; i < sizeof summary / sizeof *summary; i++)
        cr_expect(strstr(out, summary[i]), "summary lacks '%s':\n%s", summary[i], out);
    /* stderr is a file here: plain progress lines, the first and the last */
    cr_expect(strstr(err, "iter 1/40") && strstr(err, "iter 40/40") && strstr(err, "ETA") &&
              strstr(err, "it") && strstr(err, "style"), "%s", err);
    cr_expect(!strchr(err, '\r'), "no in-place redraws off a terminal: %s", err);
}

Test(cli_render, size_init_pooling_tv_and_quiet) {
    cr_assert_eq(RENDER("--iters", "3", "--size", "40x30", "--quiet"), 0, "%s", err);
    assert_image(result, 40, 30);
    cr_expect_str_empty(err);
    cr_expect_str_empty(out);
    cr_assert_eq(RENDER("--iters", "2", "--size", "32", "--init", "noise", "--seed", "3",
                        "--pooling", "avg", "--json", "-"), 0, "%s", err);
    assert_image(result, 32, 24);
    cr_expect(out[0] == '{' && strstr(out, "\"width\": 32") && !strstr(out, "wrote"),
              "--json - puts the JSON alone on stdout: %s", out);
    const char *jpg = path_of("out.jpg");
    cr_assert_eq(RUN("render", "-c", content, "-s", style, "-o", jpg, "--model", weights,
                     "--device", "cpu", "--size", "64", "--content-layers", "relu1_2", "--style-layers",
                     "relu1_1", "--iters", "4", "--init", content,
                     "--tv-weight", "1", "--quiet"), 0, "%s", err);
    assert_image(jpg, 64, 48);
    int tmp = 0;
    nst_test_count_entries(dir, &tmp);
    cr_expect_eq(tmp, 0);
}

/* ---- signals --------------------------------------------------------------------------------- */

/* Starts a long synthetic render; returns its pid and the read end of its stderr after the
 * first progress line has come. */
static pid_t start_long_render(int *fd) {
    return nst_test_start_cli(
        (const char *const[]){"render", "-c", content, "-s", style, "-o", result, "--model",
                              weights, "--size", "64", "--device", "cpu", "--threads", "1",
                              "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1",
                              "--iters", "1000000", "--json", json, NULL},
        "iter 1/1000000", fd);
}

static int wait_for(pid_t pid, int fd) { return nst_test_wait_cli(pid, fd); }

static void expect_cut_short(int sig, int code) {
    int fd;
    pid_t pid = start_long_render(&fd);
    kill(pid, sig);
    int status = wait_for(pid, fd);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == code, "status %#x, want exit %d",
              status, code);
    assert_image(result, 64, 48);
    int tmp = 0;
    nst_test_count_entries(dir, &tmp);
    cr_expect_eq(tmp, 0, "a temporary file was left");
    char *j = read_json();
    cr_expect(strstr(j, "\"cancelled\": true") && strstr(j, "\"ok\": true"), "%s", j);
    const double it = nst_test_json_num(j, "iterations");
    cr_expect(it >= 1 && it < 1000000, "iterations done: %g", it);
    free(j);
}

Test(cli_render, sigint_writes_the_last_image_and_exits_130) { expect_cut_short(SIGINT, 130); }
Test(cli_render, sigterm_writes_the_last_image_and_exits_143) { expect_cut_short(SIGTERM, 143); }

Test(cli_render, a_second_sigint_ends_it_at_once_without_temporaries) {
    int fd;
    pid_t pid = start_long_render(&fd);
    kill(pid, SIGINT);
    kill(pid, SIGINT);
    int status = wait_for(pid, fd);
    /* Either killed by the second one, or (when both came while the image was being written)
     * exit 130 after the write. */
    cr_assert((WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) ||
              (WIFEXITED(status) && WEXITSTATUS(status) == 130), "status %#x", status);
    int tmp = 0;
    nst_test_count_entries(dir, &tmp);
    cr_expect_eq(tmp, 0, "a temporary file was left");
    if (access(result, F_OK) == 0)
        assert_image(result, 64, 48);
}

/* ---- real weights ---------------------------------------------------------------------------- */

Test(cli_render, real_partial_vgg19_styles_chelsea_like_starry_night) {
#ifdef NST_TEST_SANITIZED
    cr_skip_test("the real-weights render is too slow under AddressSanitizer");
#endif
    char model[1024], photo[1024], painting[1024];
    if (!nst_test_shared_path("models/vgg19-partial/vgg19_conv1_to_conv3.safetensors", model,
                              sizeof model) ||
        !nst_test_shared_path("images/content/chelsea.png", photo, sizeof photo) ||
        !nst_test_shared_path("images/style/starry_night.jpg", painting, sizeof painting))
        cr_skip_test("../shared/data is absent: no real VGG19 weights or photos");
    cr_assert_eq(RUN("render", "-c", photo, "-s", painting, "-o", result, "--model", model,
                     "--device", "cpu", "--size", "128", "--iters", "200", "--content-layers",
                     "relu3_2", "--style-layers", "relu1_1,relu2_1,relu3_1", "--json", json),
                 0, "%s", err);
    assert_image(result, 128, 85);
    char *j = read_json();
    const double s0 = nst_test_json_num(j, "initial_style_loss"), s1 = nst_test_json_num(j, "style_loss");
    const double ssim = nst_test_json_num(j, "ssim_to_content");
    cr_expect(s1 <= 0.1 * s0, "style loss %g -> %g: want 0.1x or lower", s0, s1);
    cr_expect(ssim >= 0.3 && ssim <= 0.8, "SSIM to content %g, want [0.3, 0.8]", ssim);
    cr_log_info("real weights: style %g -> %g, content %g, ssim %.3f, %.3f s/iter", s0, s1,
                nst_test_json_num(j, "content_loss"), ssim, nst_test_json_num(j, "s_per_iter"));
    free(j);
}

/* ---- geometry (src/host/cli/geometry_args.c)
 * ------------------------------------------------ */

/* A neural-style user finds each of its flags mapped in --help, and each option named there
 * exists. */
Test(cli_render, help_maps_neural_styles_flags) {
    cr_assert_eq(RUN("render", "--help"), 0, "%s", err);
    const char *theirs[] = {"-style_blend_weights", "-image_size", "-num_iterations",
                            "-init_image", "-learning_rate", "-lbfgs_num_correction",
                            "-normalize_gradients", "-original_colors", "-save_iter",
                            "-print_iter", "-gpu", "-cudnn_autotune", "-model_file",
                            "-multigpu_strategy"};
    for (size_t i = 0; i < sizeof theirs / sizeof *theirs; i++)
        cr_expect(strstr(out, theirs[i]), "--help does not map %s", theirs[i]);
    const char *ours[][2] = {{"--normalize-gradients", NULL}, {"--original-colors", NULL},
                             {"--style-scale", "1"},           {"--lbfgs-history", "5"},
                             {"--save-every", "10"},           {"--style-blend", "1"}};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) {
        const int rc = ours[i][1] ? RUN("render", ours[i][0], ours[i][1], "--help")
                                  : RUN("render", ours[i][0], "--help");
        cr_expect_eq(rc, 0, "%s is not an option: %s", ours[i][0], err);
    }
}

Test(cli_render, geometry_options_in_help_and_bad_values_are_usage_errors) {
    cr_assert_eq(RUN("render", "--help"), 0, "%s", err);
    const char *words[] = {"--content-transform",
                           "--style-transform",
                           "--transform-padding",
                           "--robust",
                           "--style-augment",
                           "--learn-style-transform",
                           "--style-transform-penalty",
                           "--style-transform-lr",
                           "rotate=DEG",
                           "counter-clockwise",
                           "default reflection",
                           "align_corners false"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_expect(strstr(out, words[i]), "help lacks '%s'", words[i]);
    const char *bad[][3] = {{"--content-transform", "scale=0", "scale"},
                            {"--style-transform", "rotate=nan", "rotate"},
                            {"--content-transform", "zoom=2", "zoom"},
                            {"--content-transform", "rotate=1,rotate=2", "rotate"},
                            {"--style-transform", "translate=0.1", "translate"},
                            {"--content-transform", "scale=", "scale"},
                            {"--transform-padding", "wrap", "wrap"},
                            {"--robust", "-1", "-1"},
                            {"--style-augment", "many", "many"},
                            {"--style-transform-penalty", "-3", "-3"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(RENDER(bad[i][0], bad[i][1]), 2, "%s %s: %s", bad[i][0], bad[i][1], err);
        cr_expect(strstr(err, bad[i][0]) && strstr(err, bad[i][2]),
                  "%s %s: the message should name the option and '%s': %s", bad[i][0], bad[i][1],
                  bad[i][2], err);
    }
    cr_expect_eq(RENDER("--robust", "2", "--optimizer", "lbfgs"), 2, "%s", err);
    cr_expect(strstr(err, "--robust") && strstr(err, "adam"), "%s", err);
    cr_expect_eq(RUN("render", "-c", content, "-s", style, "-s", content, "-o", result,
                     "--learn-style-transform"),
                 2, "%s", err);
    cr_expect(strstr(err, "one style image"), "%s", err);
    cr_expect_eq(RENDER("--robust", "2", "--normalize-gradients"), 2, "%s", err);
    cr_expect(strstr(err, "--normalize-gradients") && strstr(err, "--robust"), "%s", err);
    cr_expect_eq(RENDER("--learn-style-transform", "--normalize-gradients"), 2, "%s", err);
    cr_expect(strstr(err, "--learn-style-transform"), "%s", err);
    assert_no_output();
}

Test(cli_render, geometry_renders_write_their_json_fields) {
    cr_assert_eq(RENDER("--iters", "3", "--content-transform", "rotate=90", "--style-transform",
                        "scale=0.8", "--transform-padding", "border", "--robust", "2",
                        "--style-augment", "2", "--json", json),
                 0, "%s", err);
    assert_image(result, 64, 48);
    char *j = read_json();
    cr_expect(strstr(j, "\"content_transform\": \"rotate=90\"") &&
                  strstr(j, "\"style_transform\": \"scale=0.8\"") &&
                  strstr(j, "\"transform_padding\": \"border\""),
              "%s", j);
    cr_expect_eq(nst_test_json_num(j, "robust_views"), 2);
    cr_expect_eq(nst_test_json_num(j, "style_augment"), 2);
    cr_expect(nst_test_json_num(j, "robust_style_loss") > 0, "%s", j);
    cr_expect(strstr(out, "robust   style loss of the 2 views"), "%s", out);
    free(j);
    cr_assert_eq(RENDER("--iters", "5", "--learn-style-transform", "--style-transform-penalty", "0",
                        "--json", json),
                 0, "%s", err);
    j = read_json();
    cr_expect(strstr(j, "\"learn_style_transform\": true") && strstr(j, "\"style_theta\": ["), "%s",
              j);
    cr_expect_eq(nst_test_json_num(j, "style_transform_penalty"), 0);
    const char *t = strstr(j, "\"style_theta\": [") + strlen("\"style_theta\": [");
    cr_expect(fabs(strtod(t, NULL) - 1.0) > 1e-4, "theta must have moved from 1: %s", t);
    cr_expect(strstr(out, "style theta ["), "%s", out);
    free(j);
}
