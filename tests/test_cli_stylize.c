/* `nstyle stylize` end to end (src/host/cli/cmd_stylize.c, stylize_io.c): runs the built CLI with a
 * synthetic TransformerNet (tests/support/test_transformer_model.c) on images made here and
 * checks the written files, the exit codes (0, 1 failure, 2 usage), the messages, --json, the
 * model lookup by name, folders in name order with an unreadable frame (the frames before it
 * kept), batches equal to single frames, --size/--scale, smoothing, and --original-colors on
 * an image and a folder (the output's U and V are the input's wherever nothing is clamped),
 * --tile and --mem-limit (tiles chosen under the limit; the output the untiled one's), and
 * SIGINT during a tiled image (stopped after a window pass, exit 130, nothing written).
 * Video files: tests/test_cli_video.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_files.h"
#include "test_images.h"
#include "test_support.h"
#include "test_transformer_model.h"

static char out[16384], err[16384];

#define RUN(...) \
    nst_test_run_cli((const char *const[]){"stylize", __VA_ARGS__, NULL}, out, sizeof out, err, \
                     sizeof err)

static char dir[256], model[512];

static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(model, sizeof model, "%s/net.safetensors", dir);
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
}

/* One timeout for every test: BoxFort (Criterion 2.4.1's runner) loses a 48-byte timer entry of
 * its own, seen by LeakSanitizer, when tests of different timeouts run side by side. */
TestSuite(cli_stylize, .init = setup, .timeout = 300);

static const char *path_of(const char *name) { return nst_test_path_in(dir, name); }

/* Writes a w x h random RGB image (seeded) to path. */
static void write_image(const char *path, int w, int h, uint64_t seed) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(w, h, 3, seed);
    cr_assert_eq(nst_image_save(ctx, path, &img, 95), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static nst_image load(const char *path) { return nst_test_image_load(path, 0); }

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* A folder of n frames frame_0001.png .. of w x h, plus a text file that is not an image. */
static const char *frames_folder(const char *name, int n, int w, int h) {
    const char *folder = path_of(name);
    mkdir(folder, 0755);
    char p[700];
    for (int i = n; i >= 1; i--) { /* written out of order: the run must sort */
        snprintf(p, sizeof p, "%s/frame_%04d.png", folder, i);
        write_image(p, w, h, (uint64_t)i);
    }
    snprintf(p, sizeof p, "%s/notes.txt", folder);
    nst_test_write_bytes(p, "not an image", 12);
    return folder;
}

Test(cli_stylize, help_explains_options_and_lookup) {
    cr_assert_eq(RUN("--help"), 0, "%s", err);
    const char *needles[] = {"-m, --model", "-i, --input", "-o, --output", "--size", "--scale",
                             "--device", "--threads", "--batch", "--smooth", "--quiet",
                             "--json", "--original-colors", "--tile", "--mem-limit",
                             "$NSTYLE_MODELS", "./models",
                             "~/.cache/nstyle",
                             "name order", "Exit status"};
    for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
        cr_expect(strstr(out, needles[i]), "help lacks '%s'", needles[i]);
}

Test(cli_stylize, one_file_keeps_its_odd_size_and_prints_a_summary) {
    write_image(path_of("in.png"), 37, 29, 1);
    cr_assert_eq(RUN("-m", model, "-i", path_of("in.png"), "-o", path_of("out.jpg")), 0, "%s",
                 err);
    nst_image img = load(path_of("out.jpg"));
    cr_expect(img.width == 37 && img.height == 29, "%dx%d", img.width, img.height);
    nst_image_free(&img);
    cr_expect(strstr(out, "stylized 1 image (first 37x29)"), "%s", out);
    cr_expect(strstr(out, "ms per image compute"), "%s", out);
    cr_expect(strstr(out, "peak memory"), "%s", out);
    /* a single file into a folder keeps its name, as PNG */
    cr_assert_eq(RUN("-m", model, "--quiet", path_of("in.png"), "-o", path_of("res")), 0, "%s",
                 err);
    cr_expect(exists(path_of("res/in.png")));
    cr_expect_str_empty(out);
}

Test(cli_stylize, folder_to_new_folder_in_order_with_json) {
    const char *in = frames_folder("frames", 5, 24, 20);
    const char *res = path_of("a/b/styled");
    cr_assert_eq(RUN("-m", model, "-i", in, "-o", res, "--batch", "2", "--threads", "1",
                     "--json", path_of("run.json"), "--quiet"), 0, "%s", err);
    int tmp = -1;
    cr_expect_eq(nst_test_count_entries(res, &tmp), 5);
    cr_expect_eq(tmp, 0, "temporary files left");
    char p[700];
    for (int i = 1; i <= 5; i++) {
        snprintf(p, sizeof p, "%s/frame_%04d.png", res, i);
        cr_expect(exists(p), "%s missing", p);
    }
    size_t n = 0;
    char *json = (char *)nst_test_read_bytes(path_of("run.json"), &n);
    const char *fields[] = {"\"command\": \"stylize\"", "\"inputs\": 5", "\"width\": 24",
                            "\"height\": 20", "\"images_written\": 5", "\"ms_per_image_compute\": ",
                            "\"ms_per_image_total\": ", "\"batch\": 2", "\"threads\": 1",
                            "\"style\": \"synthetic\"", "\"memory\": {", "\"ok\": true"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        cr_expect(strstr(json, fields[i]), "JSON lacks %s:\n%s", fields[i], json);
    nst_test_expect_json_version(json);
    free(json);
}

Test(cli_stylize, batches_equal_single_frames) {
    const char *in = frames_folder("frames", 4, 21, 17);
    cr_assert_eq(RUN("-m", model, in, "-o", path_of("one"), "--quiet"), 0, "%s", err);
    cr_assert_eq(RUN("-m", model, in, "-o", path_of("three"), "--batch", "3", "--quiet"), 0, "%s",
                 err);
    for (int i = 1; i <= 4; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/frame_%04d.png", path_of("one"), i);
        snprintf(b, sizeof b, "%s/frame_%04d.png", path_of("three"), i);
        nst_image x = load(a), y = load(b);
        int worst = 0;
        nst_test_image_mean_abs_diff(&x, &y, &worst);
        cr_expect_leq(worst, 1, "frame %d: batch 3 differs by %d", i, worst);
        nst_image_free(&x);
        nst_image_free(&y);
    }
}

Test(cli_stylize, several_files_and_sizes) {
    write_image(path_of("a.png"), 40, 30, 1);
    write_image(path_of("b.jpg"), 30, 40, 2);
    write_image(path_of("c.jpeg"), 25, 25, 3);
    cr_assert_eq(RUN("-m", model, "-i", path_of("a.png"), "-i", path_of("b.jpg"), path_of("c.jpeg"),
                     "-o", path_of("res"), "--size", "16", "--quiet"), 0, "%s", err);
    nst_image a = load(path_of("res/a.png")), b = load(path_of("res/b.png"));
    nst_image c = load(path_of("res/c.png"));
    cr_expect(a.width == 16 && a.height == 12, "a: %dx%d", a.width, a.height);
    cr_expect(b.width == 12 && b.height == 16, "b: %dx%d", b.width, b.height);
    cr_expect(c.width == 16 && c.height == 16, "c: %dx%d", c.width, c.height);
    nst_image_free(&a), nst_image_free(&b), nst_image_free(&c);
    cr_assert_eq(RUN("-m", model, path_of("a.png"), "-o", path_of("half.png"), "--scale", "0.5",
                     "--quiet"), 0, "%s", err);
    a = load(path_of("half.png"));
    cr_expect(a.width == 20 && a.height == 15, "half: %dx%d", a.width, a.height);
    nst_image_free(&a);
}

Test(cli_stylize, model_by_name_and_not_found) {
    char models[700];
    snprintf(models, sizeof models, "%s/models", dir);
    mkdir(models, 0755);
    char p[800];
    snprintf(p, sizeof p, "%s/mystyle.safetensors", models);
    nst_test_tn_write(p, 9, NULL);
    write_image(path_of("in.png"), 20, 20, 1);
    setenv("NSTYLE_MODELS", models, 1);
    cr_assert_eq(RUN("-m", "mystyle", path_of("in.png"), "-o", path_of("o.png"), "--quiet"), 0,
                 "%s", err);
    cr_expect(exists(path_of("o.png")));
    cr_assert_eq(RUN("-m", "candy", path_of("in.png"), "-o", path_of("o2.png")), 1);
    char want[900];
    snprintf(want, sizeof want, "%s/candy.safetensors", models);
    cr_expect(strstr(err, want), "%s", err);
    cr_expect(strstr(err, "./models/candy.safetensors"), "%s", err);
    cr_expect(strstr(err, ".cache/nstyle/candy.safetensors"), "%s", err);
    cr_expect(strstr(err, "convert-fast-pth.py"), "%s", err);
    cr_expect(!exists(path_of("o2.png")));
    unsetenv("NSTYLE_MODELS");
}

Test(cli_stylize, corrupt_model_and_wrong_architecture_fail) {
    write_image(path_of("in.png"), 20, 20, 1);
    nst_test_write_bytes(path_of("bad.safetensors"), "garbage garbage garbage", 23);
    cr_assert_eq(RUN("-m", path_of("bad.safetensors"), path_of("in.png"), "-o", path_of("o.png")),
                 1);
    cr_expect(strstr(err, "bad.safetensors"), "%s", err);
    nst_test_tn_write(path_of("arch.safetensors"), 1,
                      &(nst_test_tn_options){.drop = "in4.weight", .extra = "res6.in1.weight"});
    cr_assert_eq(RUN("-m", path_of("arch.safetensors"), path_of("in.png"), "-o", path_of("o.png")),
                 1);
    cr_expect(strstr(err, "not a TransformerNet"), "%s", err);
    cr_expect(strstr(err, "in4.weight"), "%s", err);
    cr_expect(strstr(err, "res6.in1.weight"), "%s", err);
    cr_expect(!exists(path_of("o.png")));
}

Test(cli_stylize, unreadable_frame_stops_and_keeps_earlier_frames) {
    const char *in = frames_folder("frames", 5, 16, 16);
    char p[700];
    snprintf(p, sizeof p, "%s/frame_0003.png", in);
    nst_test_write_bytes(p, "\x89PNG\r\n\x1a\n broken", 16);
    const char *res = path_of("res");
    cr_assert_eq(RUN("-m", model, in, "-o", res, "--json", path_of("r.json"), "--quiet"), 1);
    cr_expect(strstr(err, "frame_0003.png"), "%s", err);
    cr_expect(strstr(err, "2 of 5 images written"), "%s", err);
    snprintf(p, sizeof p, "%s/frame_0001.png", res);
    cr_expect(exists(p));
    snprintf(p, sizeof p, "%s/frame_0002.png", res);
    cr_expect(exists(p));
    int tmp = -1;
    cr_expect_eq(nst_test_count_entries(res, &tmp), 2);
    cr_expect_eq(tmp, 0);
    size_t n = 0;
    char *json = (char *)nst_test_read_bytes(path_of("r.json"), &n);
    cr_expect(strstr(json, "\"ok\": false"), "%s", json);
    cr_expect(strstr(json, "\"images_written\": 2"), "%s", json);
    cr_expect(strstr(json, "frame_0003.png"), "the JSON error does not name the frame: %s", json);
    free(json);
}

Test(cli_stylize, usage_errors) {
    write_image(path_of("a.png"), 20, 20, 1);
    write_image(path_of("b.png"), 20, 20, 2);
    cr_expect_eq(RUN("-i", path_of("a.png"), "-o", path_of("o.png")), 2);
    cr_expect(strstr(err, "-m MODEL"), "%s", err);
    cr_expect_eq(RUN("-m", model, "-o", path_of("o.png")), 2);
    cr_expect_eq(RUN("-m", model, path_of("a.png")), 2);
    cr_expect_eq(RUN("-m", model, path_of("a.png"), "-o", "x.png", "--size", "9", "--scale", "2"),
                 2);
    cr_expect_eq(RUN("-m", model, path_of("a.png"), "-o", "x.png", "--smooth", "1"), 2);
    cr_expect_eq(RUN("-m", model, path_of("a.png"), "-o", "x.png", "--batch", "0"), 2);
    cr_expect_eq(RUN("-m", model, path_of("a.png"), "-o", "x.png", "--bogus"), 2);
    cr_expect_eq(RUN("-m", model, path_of("a.png"), path_of("b.png"), "-o", path_of("o.png")), 2);
    cr_expect(strstr(err, "give a folder"), "%s", err);
    write_image(path_of("a.jpg"), 20, 20, 3);
    cr_expect_eq(RUN("-m", model, path_of("a.png"), path_of("a.jpg"), "-o", path_of("r")), 2);
    cr_expect(strstr(err, "both be written"), "%s", err);
    write_image(path_of("tiny.png"), 4, 9, 4);
    cr_expect_eq(RUN("-m", model, path_of("tiny.png"), "-o", path_of("t.png"), "--json",
                     path_of("t.json")), 1);
    cr_expect(strstr(err, "tiny.png") && strstr(err, "4x9") && strstr(err, "5x5"), "%s", err);
    size_t n = 0;
    char *json = (char *)nst_test_read_bytes(path_of("t.json"), &n);
    cr_expect(strstr(json, "\"ok\": false") && strstr(json, "5x5"), "%s", json);
    free(json);
    cr_expect_eq(RUN("-m", model, path_of("missing.png"), "-o", path_of("o.png")), 1);
    cr_expect(strstr(err, "missing.png"), "%s", err);
#ifndef NST_HAVE_CUDA
    cr_expect_eq(RUN("-m", model, path_of("a.png"), "-o", path_of("o.png"), "--device", "cuda"), 1);
    cr_expect(strstr(err, "CUDA") || strstr(err, "cuda"), "%s", err);
#endif
}

Test(cli_stylize, smoothing_changes_only_later_frames) {
    const char *in = path_of("still");
    mkdir(in, 0755);
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (int i = 0; i < 3; i++) { /* a static scene with per-frame noise of +-2 */
        nst_image img = nst_test_image_random(24, 24, 3, 7);
        nst_test_rng r = nst_test_rng_seed(100 + (uint64_t)i);
        for (int k = 0; k < 24 * 24 * 3; k++) {
            const int v = img.data[k] / 2 + 64 + (int)(nst_test_rng_next(&r) % 5) - 2;
            img.data[k] = (uint8_t)v;
        }
        char p[700];
        snprintf(p, sizeof p, "%s/f%d.png", in, i);
        cr_assert_eq(nst_image_save(ctx, p, &img, 0), NST_OK);
        nst_image_free(&img);
    }
    nst_ctx_destroy(ctx);
    cr_assert_eq(RUN("-m", model, in, "-o", path_of("plain"), "--quiet"), 0, "%s", err);
    cr_assert_eq(RUN("-m", model, in, "-o", path_of("smooth"), "--smooth", "0.7", "--quiet"), 0,
                 "%s", err);
    for (int i = 0; i < 3; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/f%d.png", path_of("plain"), i);
        snprintf(b, sizeof b, "%s/f%d.png", path_of("smooth"), i);
        nst_image x = load(a), y = load(b);
        int worst = 0;
        const double mean = nst_test_image_mean_abs_diff(&x, &y, &worst);
        if (i == 0)
            cr_expect_eq(worst, 0, "frame 0 changed by smoothing");
        else
            cr_expect_gt(mean, 0.5, "frame %d: smoothing changed it by only %g", i, mean);
        nst_image_free(&x);
        nst_image_free(&y);
    }
}

/* The largest |U, V (output) - U, V (input)| (BT.601, scikit-image's rgb2yuv) over the pixels
 * with no channel at 0 or 255; *inside counts them. */
static double chroma_change(const nst_image *in, const nst_image *res, size_t *inside) {
    double worst = 0;
    *inside = 0;
    for (size_t i = 0; i < (size_t)in->width * in->height * 3; i += 3) {
        const uint8_t *a = in->data + i, *b = res->data + i;
        if (b[0] == 0 || b[0] == 255 || b[1] == 0 || b[1] == 255 || b[2] == 0 || b[2] == 255)
            continue;
        const double du = -0.14714119 * (b[0] - a[0]) - 0.28886916 * (b[1] - a[1]) +
                          0.43601035 * (b[2] - a[2]);
        const double dv = 0.61497538 * (b[0] - a[0]) - 0.51496512 * (b[1] - a[1]) -
                          0.10001026 * (b[2] - a[2]);
        worst = fmax(worst, fmax(fabs(du), fabs(dv)));
        (*inside)++;
    }
    return worst;
}

Test(cli_stylize, original_colors_keep_the_chroma_of_images_and_folders) {
    write_image(path_of("in.png"), 33, 27, 3);
    cr_assert_eq(RUN("-m", model, "-i", path_of("in.png"), "-o", path_of("oc.png"),
                     "--original-colors", "--json", path_of("oc.json"), "--quiet"), 0, "%s",
                 err);
    nst_image a = load(path_of("in.png")), b = load(path_of("oc.png"));
    size_t inside = 0;
    /* truncating each channel by less than 1 moves U by < 0.44 and V by < 0.62 */
    double worst = chroma_change(&a, &b, &inside);
    cr_expect_leq(worst, 0.62, "image: U or V moved by %.3f", worst);
    cr_expect_gt(inside, (size_t)33 * 27 / 8, "only %zu pixels unclamped", inside);
    nst_image_free(&a), nst_image_free(&b);
    size_t n = 0;
    char *json = (char *)nst_test_read_bytes(path_of("oc.json"), &n);
    cr_expect(strstr(json, "\"original_colors\": true"), "%s", json);
    free(json);
    const char *in = frames_folder("frames", 3, 24, 20);
    cr_assert_eq(RUN("-m", model, "-i", in, "-o", path_of("res"), "--original-colors", "--batch",
                     "2", "--quiet"), 0, "%s", err);
    for (int i = 1; i <= 3; i++) {
        char p[700], q[700];
        snprintf(p, sizeof p, "%s/frame_%04d.png", in, i);
        snprintf(q, sizeof q, "%s/frame_%04d.png", path_of("res"), i);
        a = load(p), b = load(q);
        worst = chroma_change(&a, &b, &inside);
        cr_expect_leq(worst, 0.62, "frame %d: U or V moved by %.3f", i, worst);
        cr_expect_gt(inside, 0);
        nst_image_free(&a), nst_image_free(&b);
    }
}

static char *read_text(const char *path) {
    size_t n;
    return (char *)nst_test_read_bytes(path, &n);
}

/* The JSON number after "key": in text, or -1. */
static long json_number(const char *text, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(text, k);
    return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

Test(cli_stylize, tiles_by_option_and_by_memory_limit) {
    write_image(path_of("wide.png"), 200, 8, 3);
    cr_assert_eq(RUN("-m", model, "-i", path_of("wide.png"), "-o", path_of("plain.png"),
                     "--quiet", "--json", path_of("plain.json")), 0, "%s", err);
    char *plain = read_text(path_of("plain.json"));
    cr_expect(strstr(plain, "\"tiles\":null") || strstr(plain, "\"tiles\": null"), "%s", plain);
    const long whole = json_number(plain, "plan_bytes");
    cr_assert_gt(whole, 0, "%s", plain);
    /* --tile 40: 5 tiles across in windows of 160 */
    cr_assert_eq(RUN("-m", model, "-i", path_of("wide.png"), "-o", path_of("tiled.png"),
                     "--tile", "40", "--json", path_of("tiled.json")), 0, "%s", err);
    cr_expect(strstr(out, "tiled: 5x1 tiles of 40 px in windows of 160x8"), "%s", out);
    char *tiled = read_text(path_of("tiled.json"));
    cr_expect_eq(json_number(tiled, "across"), 5, "%s", tiled);
    cr_expect_eq(json_number(tiled, "receptive_radius"), 57, "%s", tiled);
    /* a limit under the untiled plan picks tiles whose plan fits it */
    char limit[32];
    snprintf(limit, sizeof limit, "%ld", whole * 9 / 10);
    cr_assert_eq(RUN("-m", model, "-i", path_of("wide.png"), "-o", path_of("auto.png"),
                     "--mem-limit", limit, "--quiet", "--json", path_of("auto.json")), 0, "%s",
                 err);
    char *chosen = read_text(path_of("auto.json"));
    const long per_tile = json_number(chosen, "plan_bytes_per_tile");
    cr_expect(per_tile > 0 && per_tile <= whole * 9 / 10, "%s", chosen);
    const char *outs[2] = {"tiled.png", "auto.png"};
    nst_image ref = load(path_of("plain.png"));
    for (int i = 0; i < 2; i++) {
        nst_image img = load(path_of(outs[i]));
        int worst = 0;
        nst_test_image_mean_abs_diff(&ref, &img, &worst);
        cr_expect_leq(worst, 1, "%s differs from the untiled output by %d", outs[i], worst);
        nst_image_free(&img);
    }
    nst_image_free(&ref);
    cr_expect_eq(RUN("-m", model, "-i", path_of("wide.png"), "-o", path_of("x.png"), "--tile",
                     "0"), 2);
    cr_expect(strstr(err, "--tile"), "%s", err);
    free(plain), free(tiled), free(chosen);
}

Test(cli_stylize, sigint_stops_a_tiled_image_after_a_window_pass) {
    write_image(path_of("big.png"), 240, 8, 4);
    int fd;
    const int pid = nst_test_start_cli(
        (const char *const[]){"stylize", "-m", model, "-i", path_of("big.png"), "-o",
                              path_of("big-out.png"), "--tile", "20", "--json",
                              path_of("big.json"), NULL},
        "window pass 1/192", &fd);
    kill(pid, SIGINT);
    const int status = nst_test_wait_cli(pid, fd);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %#x, want exit 130",
              status);
    cr_expect(!exists(path_of("big-out.png")), "a cut-short tiled image was written");
    int tmp = 0;
    nst_test_count_entries(dir, &tmp);
    cr_expect_eq(tmp, 0, "a temporary file was left");
    char *j = read_text(path_of("big.json"));
    cr_expect(strstr(j, "\"cancelled\": true") && strstr(j, "\"images_written\": 0"), "%s", j);
    free(j);
}
