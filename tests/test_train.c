/* nstyle train (include/nstyle/train.h, src/host/pipelines/train.c,
 * src/host/networks/transformer_backward.c):
 *  - one training step's 62 weight gradients and its losses against PyTorch float64
 *    (tests/golden/gen_train.py: a width-4 TransformerNet, a width-8 VGG19 up to conv2_2, two
 *    16x16 crops);
 *  - resume: 6 steps with a checkpoint at 3, then 3 steps from that checkpoint, the losses of
 *    steps 4-6 equal bit for bit (CPU, fixed threads);
 *  - 30 steps on the shared photos with the shared partial VGG19 (64 px) lower the loss (skipped
 *    without ../shared/data);
 *  - nst_train_plan's total equals the trainer's measured peak with real VGG19 weights (skipped
 *    without them);
 *  - the CLI: a folder with no readable image, a bad style image (exit 1, clear message), and a
 *    short run whose model nstyle stylize loads;
 *  - SIGINT / SIGTERM stop a long run after the current step: exit 130 / 143, a checkpoint of
 *    the steps done (that --resume continues) and the model so far, no temporary file. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nstyle/image.h"
#include "nstyle/nstyle.h"
#include "nstyle/safetensors.h"
#include "nstyle/stylize.h"
#include "nstyle/train.h"
#include "test_files.h"
#include "test_support.h"

#define GOLDEN NST_SOURCE_DIR "/tests/golden/train.safetensors"

static const char *const STYLE_LAYERS = "relu1_2,relu2_2";

/* Options for the golden's small nets; style points into the open golden file's copy. */
static void small_options(nst_train_options *o, float *style) {
    nst_train_options_default(o);
    o->weights_path = GOLDEN;
    o->style = style;
    o->style_width = 24, o->style_height = 20;
    o->content_layers = "relu2_2";
    o->style_layers = STYLE_LAYERS;
    o->content_weight = 30, o->style_weight = 900, o->tv_weight = 0.5;
    o->size = 16, o->batch = 2, o->width = 4;
}

static float *load_f32(nst_ctx *ctx, nst_st_file *f, const char *name) {
    float *p = NULL;
    cr_assert_eq(nst_st_load_f32(ctx, f, name, -1, NULL, &p), NST_OK, "%s", nst_last_error(ctx));
    return p;
}

Test(train, one_step_gradients_match_pytorch) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = NULL;
    cr_assert_eq(nst_st_open(ctx, GOLDEN, &f), NST_OK, "%s", nst_last_error(ctx));
    float *style = load_f32(ctx, f, "style"), *x = load_f32(ctx, f, "x");
    nst_train_options o;
    small_options(&o, style);
    o.init_model = GOLDEN;
    nst_trainer *t = NULL;
    cr_assert_eq(nst_trainer_create(ctx, &o, &t), NST_OK, "%s", nst_last_error(ctx));
    nst_train_progress p;
    cr_assert_eq(nst_trainer_step_on(t, x, &p), NST_OK, "%s", nst_last_error(ctx));
    double loss[4];
    nst_st_to_f64(nst_st_find(f, "loss"), loss);
    const double got[4] = {p.content_loss, p.style_loss, p.tv_loss, p.total_loss};
    for (int i = 0; i < 4; i++)
        cr_expect(fabs(got[i] - loss[i]) <= 1e-4 * fabs(loss[i]) + 1e-9,
                  "loss %d: %.9g, PyTorch %.9g", i, got[i], loss[i]);
    /* Gradients that are zero in exact arithmetic (conv biases before an instance norm, the
     * betas whose constant the next norm removes; PyTorch's are ~1e-17) must stay below 1e-6 of
     * the step's largest gradient; every other one is compared relative to its own largest
     * element. */
    double global = 0;
    for (int i = 0; i < nst_st_count(f); i++) {
        const nst_st_tensor *g = nst_st_at(f, i);
        if (strncmp(g->name, "grad.", 5) != 0)
            continue;
        double *ref = malloc((size_t)g->numel * sizeof *ref);
        nst_st_to_f64(g, ref);
        for (int64_t k = 0; k < g->numel; k++)
            global = fmax(global, fabs(ref[k]));
        free(ref);
    }
    double worst = 0, worst_zero = 0;
    char worst_name[64] = "";
    int n_grads = 0, n_zero = 0;
    for (int i = 0; i < nst_st_count(f); i++) {
        const nst_st_tensor *g = nst_st_at(f, i);
        if (strncmp(g->name, "grad.", 5) != 0)
            continue;
        n_grads++;
        double *ref = malloc((size_t)g->numel * sizeof *ref);
        float *mine = malloc((size_t)g->numel * sizeof *mine);
        nst_st_to_f64(g, ref);
        cr_assert_eq(nst_trainer_get(t, g->name + 5, true, mine, (size_t)g->numel), NST_OK,
                     "%s", nst_last_error(ctx));
        double scale = 0, err = 0, size = 0;
        for (int64_t k = 0; k < g->numel; k++)
            scale = fmax(scale, fabs(ref[k]));
        if (scale <= 1e-10 * global) { /* zero in exact arithmetic */
            n_zero++;
            for (int64_t k = 0; k < g->numel; k++)
                size = fmax(size, fabs(mine[k]));
            cr_expect(size <= 1e-6 * global, "%s: zero in PyTorch, max |got| %.3g", g->name + 5,
                      size);
            worst_zero = fmax(worst_zero, size / global);
        } else {
            for (int64_t k = 0; k < g->numel; k++)
                err = fmax(err, fabs(mine[k] - ref[k]) / scale);
            if (err > worst) {
                worst = err;
                snprintf(worst_name, sizeof worst_name, "%s", g->name + 5);
            }
            cr_expect(err < 1e-4, "%s: max |d| / max |ref| = %.3g (max |ref| %.3g)",
                      g->name + 5, err, scale);
        }
        free(ref);
        free(mine);
    }
    cr_expect_eq(n_grads, 62);
    cr_log_info("gradients: worst max|d|/max|ref| %.3g (%s); %d zero ones within %.3g of the "
                "largest gradient %.3g; losses %.6g %.6g %.6g", worst, worst_name, n_zero,
                worst_zero, global, got[0], got[1], got[2]);
    nst_trainer_destroy(t);
    free(style);
    free(x);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* A folder of n small random photos of different sizes. */
static void write_photos(const char *dir, int n) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng r = nst_test_rng_seed(7);
    for (int i = 0; i < n; i++) {
        const int w = 20 + 7 * i, h = 18 + 5 * i;
        nst_image img = {w, h, 3, malloc((size_t)w * h * 3)};
        for (int k = 0; k < w * h * 3; k++)
            img.data[k] = (uint8_t)(nst_test_rng_next(&r) >> 56);
        char path[600];
        snprintf(path, sizeof path, "%s/photo%d.%s", dir, i, i % 2 ? "jpg" : "png");
        cr_assert_eq(nst_image_save(ctx, path, &img, 90), NST_OK, "%s", nst_last_error(ctx));
        nst_image_free(&img);
    }
    nst_ctx_destroy(ctx);
}

typedef struct {
    double loss[64];
    long n;
    const char *ckpt, *copy_to;
    long copy_at;
} loss_log;

static bool log_loss(const nst_train_progress *p, void *user) {
    loss_log *l = user;
    l->loss[p->step] = p->total_loss;
    l->n++;
    if (l->copy_to && p->step == l->copy_at) {
        size_t n = 0;
        uint8_t *b = nst_test_read_bytes(l->ckpt, &n);
        nst_test_write_bytes(l->copy_to, b, n);
        free(b);
    }
    return true;
}

Test(train, resume_reproduces_the_losses_bit_for_bit) {
    char dir[400], photos[512], ckpt[512], ckpt3[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(photos, sizeof photos, "%s/photos", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt.safetensors", dir);
    snprintf(ckpt3, sizeof ckpt3, "%s/step3.safetensors", dir);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", photos);
    cr_assert_eq(system(cmd), 0);
    write_photos(photos, 3);

    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_ctx_set_threads(ctx, 2);
    nst_st_file *f = NULL;
    cr_assert_eq(nst_st_open(ctx, GOLDEN, &f), NST_OK, "%s", nst_last_error(ctx));
    float *style = load_f32(ctx, f, "style");
    nst_train_options o;
    small_options(&o, style);
    o.data_dir = photos;
    o.steps = 6, o.seed = 42;
    o.checkpoint = ckpt, o.checkpoint_every = 3;
    loss_log a = {.ckpt = ckpt, .copy_to = ckpt3, .copy_at = 3};
    o.progress = log_loss, o.progress_user = &a;
    nst_train_result r;
    cr_assert_eq(nst_train(ctx, &o, NULL, NULL, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(r.steps_done, 6);
    cr_assert_eq(r.images, 3);

    loss_log b = {0};
    o.resume = ckpt3;
    o.checkpoint_every = 0;
    o.progress_user = &b;
    cr_assert_eq(nst_train(ctx, &o, NULL, NULL, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(b.n, 3, "the resumed run made %ld steps", b.n);
    for (int s = 4; s <= 6; s++) {
        cr_expect(memcmp(&a.loss[s], &b.loss[s], sizeof(double)) == 0,
                  "step %d: %.17g, resumed %.17g", s, a.loss[s], b.loss[s]);
        cr_log_info("step %d loss %.17g, resumed %.17g", s, a.loss[s], b.loss[s]);
    }
    cr_expect(a.loss[1] != a.loss[2], "the crops change from step to step");
    free(style);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(train, shared_photos_30_steps_lower_the_loss) {
    char vgg[1024], photos[1024], style_path[1024];
    if (!nst_test_shared_path("models/vgg19-partial/vgg19_conv1_to_conv3.safetensors", vgg,
                              sizeof vgg) ||
        !nst_test_shared_path("images/content", photos, sizeof photos) ||
        !nst_test_shared_path("images/style/starry_night.jpg", style_path, sizeof style_path))
        cr_skip_test("../shared/data is absent: no shared photos or VGG19 weights");
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0}, small = {0};
    if (nst_image_load(ctx, style_path, 3, &img) != NST_OK)
        cr_skip_test("no style image at %s", style_path);
    cr_assert_eq(nst_image_resize(ctx, &img, 64, 64 * img.height / img.width, &small), NST_OK);
    float *style = malloc((size_t)small.width * small.height * 3 * sizeof *style);
    nst_image_to_float(ctx, &small, style);
    nst_train_options o;
    nst_train_options_default(&o);
    o.weights_path = vgg, o.data_dir = photos;
    o.style = style, o.style_width = small.width, o.style_height = small.height;
    o.style_layers = "relu1_2,relu2_2,relu3_4";
    o.size = 64, o.steps = 30, o.seed = 3;
    loss_log l = {0};
    o.progress = log_loss, o.progress_user = &l;
    nst_train_result r;
    cr_assert_eq(nst_train(ctx, &o, NULL, NULL, &r), NST_OK, "%s", nst_last_error(ctx));
    const double first = (l.loss[1] + l.loss[2] + l.loss[3]) / 3;
    const double last = (l.loss[28] + l.loss[29] + l.loss[30]) / 3;
    cr_log_info("30 steps at 64 px: loss %.4g (steps 1-3) -> %.4g (steps 28-30), %.0f ms/step",
                first, last, r.ms_per_step);
    cr_expect(last < 0.5 * first, "loss %.4g -> %.4g", first, last);
    free(style);
    nst_image_free(&img);
    nst_image_free(&small);
    nst_ctx_destroy(ctx);
}

/* nst_train_plan (no weights, photos or style pixels) against what the trainer's arena takes
 * on a context with nothing else allocated: the real VGG19 (the fetched one with the default
 * layers, else the shared partial one to relu3_4), 2 crops of 32 px. */
Test(train, plan_equals_the_trainers_measured_peak) {
    char vgg[1024];
    const char *style_layers = NULL;
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    if (nst_vgg19_weights_find(ctx, NULL, vgg, sizeof vgg) != NST_OK) {
        if (!nst_test_shared_path("models/vgg19-partial/vgg19_conv1_to_conv3.safetensors", vgg,
                                  sizeof vgg))
            cr_skip_test("no VGG19 weights: neither fetched (models/fetch-vgg19.sh) nor in "
                         "../shared/data");
        style_layers = "relu1_2,relu2_2,relu3_4";
    }
    char dir[400], photos[512], cmd[700];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(photos, sizeof photos, "%s/photos", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", photos);
    cr_assert_eq(system(cmd), 0);
    write_photos(photos, 2);
    float style[36 * 40 * 3];
    for (size_t i = 0; i < sizeof style / sizeof *style; i++)
        style[i] = (float)(i % 97) / 96.0f;
    nst_train_options o;
    nst_train_options_default(&o);
    o.weights_path = vgg, o.data_dir = photos, o.style_layers = style_layers;
    o.style = style, o.style_width = 40, o.style_height = 36;
    o.size = 32, o.batch = 2, o.steps = 2;
    nst_train_result r;
    cr_assert_eq(nst_train(ctx, &o, NULL, NULL, &r), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(r.steps_done, 2);
    nst_tracker_snapshot t;
    nst_tracker_snapshot_get(ctx, &t);
    nst_ctx_destroy(ctx);

    nst_ctx *bare = nst_test_bare_cpu_ctx();
    nst_train_options p;
    nst_train_options_default(&p); /* sizes and layers only */
    p.style_layers = style_layers;
    p.style_width = 40, p.style_height = 36, p.size = 32, p.batch = 2;
    nst_plan *plan = NULL;
    cr_assert_eq(nst_train_plan(bare, &p, &plan), NST_OK, "%s", nst_last_error(bare));
    const size_t planned = nst_plan_get_summary(plan).total_bytes;
    cr_expect_eq(t.peak_total, planned, "%s: measured %zu, nst_train_plan %zu", vgg, t.peak_total,
                 planned);
    cr_expect_eq(r.plan_bytes, planned);
    cr_expect_eq(t.current_total, 0, "%zu bytes left allocated", t.current_total);
    cr_log_info("%s, layers %s: planned %zu bytes, measured %zu", vgg,
                style_layers ? style_layers : "(default)", planned, t.peak_total);
    nst_plan_destroy(plan);
    nst_ctx_destroy(bare);
}

/* ---- the CLI -------------------------------------------------------------------------------- */

#define RUN_TRAIN(...)                                                                         \
    nst_test_run_cli((const char *const[]){"train", __VA_ARGS__, NULL}, out, sizeof out, err,   \
                     sizeof err)

/* A style image and a folder of photos in a fresh temporary folder. */
static void cli_files(char *dir, size_t size, char *style, char *photos, size_t n) {
    nst_test_tmpdir(dir, size);
    snprintf(photos, n, "%s/photos", dir);
    snprintf(style, n, "%s/style.png", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", photos);
    cr_assert_eq(system(cmd), 0);
    write_photos(photos, 2);
    snprintf(cmd, sizeof cmd, "cp '%s/photo0.png' '%s'", photos, style);
    cr_assert_eq(system(cmd), 0);
}

Test(train_cli, folder_without_images_fails_clearly) {
    char dir[400], style[512], photos[512], empty[512], model[512], out[4096], err[4096];
    cli_files(dir, sizeof dir, style, photos, sizeof style);
    snprintf(empty, sizeof empty, "%s/empty", dir);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && echo text > '%s/notes.txt'", empty, empty);
    cr_assert_eq(system(cmd), 0);
    const int rc = RUN_TRAIN("-s", style, "--data", empty, "-o", model, "-m", GOLDEN,
                             "--style-layers", STYLE_LAYERS, "--size", "16", "--steps", "1", "-q");
    cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "no readable image") && strstr(err, empty), "stderr: %s", err);
}

Test(train_cli, bad_style_image_fails_clearly) {
    char dir[400], style[512], photos[512], bad[512], model[512], out[4096], err[4096];
    cli_files(dir, sizeof dir, style, photos, sizeof style);
    snprintf(bad, sizeof bad, "%s/bad.jpg", dir);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    nst_test_write_bytes(bad, "not a jpeg", 10);
    const int rc = RUN_TRAIN("-s", bad, "--data", photos, "-o", model, "-m", GOLDEN,
                             "--style-layers", STYLE_LAYERS, "--size", "16", "--steps", "1", "-q");
    cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "bad.jpg") != NULL, "stderr: %s", err);
    cr_expect_eq(access(model, F_OK), -1, "no model written");
}

Test(train_cli, missing_layer_is_refused) {
    char dir[400], style[512], photos[512], model[512], out[4096], err[4096];
    cli_files(dir, sizeof dir, style, photos, sizeof style);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    const int rc = RUN_TRAIN("-s", style, "--data", photos, "-o", model, "-m", GOLDEN,
                             "--size", "16", "--steps", "1", "-q"); /* relu4_4: not in the file */
    cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "conv4_4") && strstr(err, "--style-layers"), "stderr: %s", err);
}

Test(train_cli, short_run_writes_a_model_stylize_reads) {
    char dir[400], style[512], photos[512], model[512], json[512], img[600], res[600];
    char out[8192], err[4096];
    cli_files(dir, sizeof dir, style, photos, sizeof style);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(json, sizeof json, "%s/s.json", dir);
    int rc = RUN_TRAIN("-s", style, "--data", photos, "-o", model, "-m", GOLDEN, "--style-layers",
                       STYLE_LAYERS, "--size", "16", "--batch", "2", "--steps", "2",
                       "--threads", "2", "--checkpoint-every", "1", "--deterministic",
                       "--json", json, "-q");
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    size_t n = 0;
    char *text = (char *)nst_test_read_bytes(json, &n);
    cr_expect(strstr(text, "\"deterministic\": true"), "%s", text);
    cr_expect(strstr(text, "\"command\": \"train\"") || strstr(text, "\"command\":\"train\""),
              "%s", text);
    cr_expect(strstr(text, "\"steps\": 2") || strstr(text, "\"steps\":2"), "%s", text);
    nst_test_expect_json_version(text);
    free(text);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt.safetensors", dir);
    cr_expect_eq(access(ckpt, F_OK), 0, "checkpoint %s", ckpt);
    snprintf(img, sizeof img, "%s/photo1.jpg", photos);
    snprintf(res, sizeof res, "%s/styled.png", dir);
    rc = nst_test_run_cli((const char *const[]){"stylize", "-m", model, "-i", img, "-o", res,
                                                NULL}, out, sizeof out, err, sizeof err);
    cr_expect_eq(rc, 0, "stylize exit %d: %s", rc, err);
    cr_expect_eq(access(res, F_OK), 0);
}

/* ---- signals --------------------------------------------------------------------------------- */

/* nstyle train on a long run; sig after the first progress line. Returns the wait status. */
static int train_then_signal(int sig, const char *style, const char *photos, const char *model,
                             const char *json) {
    int fd;
    const int pid = nst_test_start_cli(
        (const char *const[]){"train", "-s", style, "--data", photos, "-o", model, "-m", GOLDEN,
                              "--style-layers", STYLE_LAYERS, "--size", "16", "--batch", "2",
                              "--steps", "1000000", "--threads", "1", "--json", json, NULL},
        "step 1/1000000", &fd);
    kill(pid, sig);
    return nst_test_wait_cli(pid, fd);
}

static void expect_stopped_with_a_checkpoint(int sig, int code) {
    char dir[400], style[512], photos[512], model[512], json[512], ckpt[600];
    cli_files(dir, sizeof dir, style, photos, sizeof style);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(json, sizeof json, "%s/run.json", dir);
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt.safetensors", dir);
    const int status = train_then_signal(sig, style, photos, model, json);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == code, "status %#x, want exit %d",
              status, code);
    int tmp = 0;
    nst_test_count_entries(dir, &tmp);
    cr_expect_eq(tmp, 0, "a temporary file was left");
    /* the checkpoint: the steps done, Adam's state, resumable */
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = NULL;
    cr_assert_eq(nst_st_open(ctx, ckpt, &f), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_str_eq(nst_st_metadata(f, "format"), "nstyle-train-checkpoint/1");
    const long step = strtol(nst_st_metadata(f, "step"), NULL, 10);
    cr_expect(step >= 1 && step < 1000000, "checkpoint at step %ld", step);
    cr_expect_not_null(nst_st_find(f, "adam_m.conv1.conv2d.weight"));
    nst_st_close(f);
    /* the model so far, at the same step, which stylize reads */
    nst_stylizer *s = NULL;
    cr_expect_eq(nst_stylizer_open(ctx, model, &s), NST_OK, "%s", nst_last_error(ctx));
    nst_stylizer_close(s);
    cr_assert_eq(nst_st_open(ctx, model, &f), NST_OK, "%s", nst_last_error(ctx));
    cr_expect_eq(strtol(nst_st_metadata(f, "step"), NULL, 10), step);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
    size_t n = 0;
    char *text = (char *)nst_test_read_bytes(json, &n);
    text[n] = '\0';
    cr_expect(strstr(text, "\"cancelled\": true") && strstr(text, "\"ok\": true"), "%s", text);
    cr_expect(strstr(text, "m.ckpt.safetensors"), "%s", text);
    char want[64];
    snprintf(want, sizeof want, "\"steps\": %ld", step);
    cr_expect(strstr(text, want), "want %s in %s", want, text);
    free(text);
    /* and --resume continues from it */
    char more[32], out[4096], err[4096];
    snprintf(more, sizeof more, "%ld", step + 1);
    const int rc = RUN_TRAIN("-s", style, "--data", photos, "-o", model, "-m", GOLDEN,
                             "--style-layers", STYLE_LAYERS, "--size", "16", "--batch", "2",
                             "--steps", more, "--resume", ckpt, "-q");
    cr_expect_eq(rc, 0, "resume: exit %d: %s", rc, err);
}

Test(train_cli, sigint_writes_a_checkpoint_and_the_model_and_exits_130) {
    expect_stopped_with_a_checkpoint(SIGINT, 130);
}

Test(train_cli, sigterm_writes_a_checkpoint_and_the_model_and_exits_143) {
    expect_stopped_with_a_checkpoint(SIGTERM, 143);
}
