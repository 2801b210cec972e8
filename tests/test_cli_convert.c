/* `nstyle convert` end to end (src/host/cli/cmd_convert.c): runs the built CLI (NST_CLI_PATH) on
 * images made here and checks exit codes (0 success, 1 failure, 2 usage error), the messages on
 * stderr, the success line on stdout, and the written files (read back with nst_image_load). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

static char out[16384], err[16384];

#define RUN(...) \
    nst_test_run_cli((const char *const[]){__VA_ARGS__, NULL}, out, sizeof out, err, sizeof err)

static char dir[256], in_png[512], gone[512];

/* A fresh folder holding in.png: 40x30 RGB, a smooth pattern. */
static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(in_png, sizeof in_png, "%s/in.png", dir);
    snprintf(gone, sizeof gone, "%s/missing.png", dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {40, 30, 3, malloc(40 * 30 * 3)};
    for (int i = 0; i < 40 * 30 * 3; i++)
        img.data[i] = (uint8_t)((i / 3 % 40) * 5 + (i / 120) * 3 + (i % 3) * 40);
    cr_assert_eq(nst_image_save(ctx, in_png, &img, 0), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static const char *path_of(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* The file at path decodes to w x h x c. */
static void assert_image(const char *path, int w, int h, int c) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_assert_eq(nst_image_load(ctx, path, 0, &img), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(img.width == w && img.height == h && img.channels == c, "%s is %dx%dx%d, want "
              "%dx%dx%d", path, img.width, img.height, img.channels, w, h, c);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

TestSuite(cli_convert, .init = setup);

Test(cli_convert, resize_to_jpeg_prints_the_result) {
    const char *o = path_of("out.jpg");
    cr_assert_eq(RUN("convert", in_png, o, "--resize", "20x10"), 0, "stderr: %s", err);
    char want[1024];
    snprintf(want, sizeof want, "wrote %s (20x10, 3 channels, %lld bytes)\n", o, file_size(o));
    cr_assert_str_eq(out, want);
    cr_assert_str_empty(err);
    assert_image(o, 20, 10, 3);
}

Test(cli_convert, options_anywhere_and_short_forms) {
    const char *o = path_of("o.png");
    cr_assert_eq(RUN("convert", "-r", "7x9", in_png, o), 0, "stderr: %s", err);
    assert_image(o, 7, 9, 3);
    cr_assert_eq(RUN("convert", in_png, "--channels=1", o), 0, "stderr: %s", err);
    assert_image(o, 40, 30, 1);
    cr_assert(strstr(out, "(40x30, 1 channels,"), "%s", out);
    cr_assert_eq(RUN("convert", in_png, o, "-c", "4"), 0, "stderr: %s", err);
    assert_image(o, 40, 30, 4);
}

Test(cli_convert, max_side_shrinks_keeping_the_aspect_and_never_enlarges) {
    const char *o = path_of("m.png");
    cr_assert_eq(RUN("convert", in_png, o, "--max-side", "16"), 0, "stderr: %s", err);
    assert_image(o, 16, 12, 3); /* 40x30 scaled by 16/40 */
    cr_assert_eq(RUN("convert", in_png, o, "--max-side", "100"), 0, "stderr: %s", err);
    assert_image(o, 40, 30, 3);
}

Test(cli_convert, quality_changes_the_jpeg) {
    const char *lo = path_of("lo.jpg"), *hi = path_of("hi.JPEG");
    cr_assert_eq(RUN("convert", in_png, lo, "--quality", "5"), 0, "stderr: %s", err);
    cr_assert_eq(RUN("convert", in_png, hi, "--quality", "100"), 0, "stderr: %s", err);
    cr_assert_lt(file_size(lo), file_size(hi), "quality 5 should give the smaller file");
}

Test(cli_convert, help_explains_every_option) {
    cr_assert_eq(RUN("convert", "--help"), 0);
    const char *words[] = {"Usage: nstyle convert", "--resize", "--max-side", "--quality",
                           "--channels", "Exit status"};
    for (int i = 0; i < 6; i++)
        cr_assert(strstr(out, words[i]), "help lacks '%s':\n%s", words[i], out);
    cr_assert_eq(RUN("--help"), 0);
    cr_assert(strstr(out, "convert"), "%s", out);
}

Test(cli_convert, unreadable_input_fails_with_1) {
    const char *o = path_of("x.png");
    cr_assert_eq(RUN("convert", gone, o), 1);
    cr_assert(strstr(err, gone) && strstr(err, "No such file"), "%s", err);
    cr_assert_str_empty(out);
    const char *bad = path_of("bad.png");
    FILE *f = fopen(bad, "wb");
    cr_assert_not_null(f);
    fputs("\x89PNG\r\n\x1a\nthis is not a png at all", f);
    fclose(f);
    cr_assert_eq(RUN("convert", bad, o), 1);
    cr_assert(strstr(err, bad) && strstr(err, "corrupt"), "%s", err);
    cr_assert_eq(access(o, F_OK), -1, "no output may be written");
}

Test(cli_convert, unwritable_output_fails_with_1) {
    const char *o = path_of("no/such/folder/x.png");
    cr_assert_eq(RUN("convert", in_png, o), 1);
    cr_assert(strstr(err, o), "%s", err);
    cr_assert_eq(RUN("convert", in_png, path_of("x.webp")), 1);
    cr_assert(strstr(err, ".webp"), "%s", err);
}

Test(cli_convert, usage_errors_exit_2) {
    const char *o = path_of("u.png");
    cr_assert_eq(RUN("convert"), 2);
    cr_assert(strstr(err, "missing"), "%s", err);
    cr_assert_eq(RUN("convert", in_png), 2);
    cr_assert(strstr(err, "missing OUT"), "%s", err);
    cr_assert_eq(RUN("convert", in_png, o, "extra"), 2);
    cr_assert_eq(RUN("convert", in_png, o, "--bogus"), 2);
    cr_assert(strstr(err, "unknown option '--bogus'"), "%s", err);
    cr_assert_eq(RUN("convert", in_png, o, "--resize"), 2);
    cr_assert(strstr(err, "needs a value"), "%s", err);
    const char *bad_sizes[] = {"0x10", "10x", "x10", "10x10x", "-5x5", "abc", "10 x10",
                               "40000x10", "99999999999x1", ""};
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(RUN("convert", in_png, o, "--resize", bad_sizes[i]), 2, "--resize '%s'",
                     bad_sizes[i]);
        cr_assert(strstr(err, "--resize"), "%s", err);
    }
    cr_assert_eq(RUN("convert", in_png, o, "--max-side", "0"), 2);
    cr_assert_eq(RUN("convert", in_png, o, "--quality", "101"), 2);
    cr_assert_eq(RUN("convert", in_png, o, "--channels", "2"), 2);
    cr_assert_eq(RUN("convert", in_png, o, "--resize", "8x8", "--max-side", "4"), 2);
    cr_assert_str_empty(out);
    cr_assert_eq(access(o, F_OK), -1, "no output may be written on a usage error");
}
