/* `nstyle plan` end to end (src/host/cli/cmd_plan.c): with no weights anywhere it looks, the
 * 768x512 plan prints its tags and a total equal to nst_render_plan's in this process; --json
 * writes the same total in the shared summary schema; --help lists the layer names; bad sizes,
 * pooling and layers are refused with exit codes 2 and 1; L-BFGS's history is 2 (m + 1) image
 * vectors; one --style-size per style; --scales plans the largest and lists each; --train plans
 * nst_train_plan's run, growing with the batch and the crop, and refuses render options; the
 * geometry, line-search and normalised-gradient controls plan what the library plans. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nstyle/render.h"
#include "nstyle/train.h"
#include "test_files.h"
#include "test_support.h"

static char out[65536], err[16384];

#define RUN(...) \
    nst_test_run_cli((const char *const[]){__VA_ARGS__, NULL}, out, sizeof out, err, sizeof err)

static char dir[256];

/* No weights where nstyle looks: an empty models folder and home, run from an empty folder. */
static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    setenv("NSTYLE_MODELS", dir, 1);
    setenv("HOME", dir, 1);
    cr_assert_eq(chdir(dir), 0);
}

TestSuite(cli_plan, .init = setup);

/* A file's bytes as a string (free it). */
static char *read_text(const char *path) {
    size_t n = 0;
    char *text = (char *)nst_test_read_bytes(path, &n);
    text[n] = '\0';
    return text;
}

/* The total of the plan *plan the library made on ctx (st its status); frees both. */
static unsigned long long total_of(nst_ctx *ctx, nst_status st, nst_plan **plan) {
    cr_assert_eq(st, NST_OK, "%s", nst_last_error(ctx));
    unsigned long long total = nst_plan_get_summary(*plan).total_bytes;
    nst_plan_destroy(*plan);
    nst_ctx_destroy(ctx);
    return total;
}

static unsigned long long plan_total(int w, int h) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = o.style_width = w;
    o.height = o.style_height = h;
    nst_plan *plan = NULL;
    return total_of(ctx, nst_render_plan(ctx, &o, &plan), &plan);
}

Test(cli_plan, prints_the_768x512_total_without_weights) {
    cr_assert_eq(RUN("plan", "--size", "768x512"), 0, "stderr: %s", err);
    const char *line = strstr(out, "total: ");
    cr_assert_not_null(line, "no total line in:\n%s", out);
    unsigned long long total = 0;
    double mib = 0.0;
    cr_assert_eq(sscanf(line, "total: %llu bytes (%lf MiB)", &total, &mib), 2, "%s", line);
    cr_expect_eq(total, plan_total(768, 512));
    cr_expect(mib > 0.0 && mib < 1024.0, "768x512 should plan under 1 GiB, got %.1f MiB", mib);
    for (int tag = 0; tag < NST_TAG_COUNT; tag++)
        cr_expect_not_null(strstr(out, nst_mem_tag_name((nst_mem_tag)tag)), "tag %s missing",
                           nst_mem_tag_name((nst_mem_tag)tag));
    cr_expect_not_null(strstr(out, "CUDA context: does not apply"), "%s", out);
}

Test(cli_plan, json_holds_the_same_total) {
    char path[512];
    snprintf(path, sizeof path, "%s/plan.json", dir);
    cr_assert_eq(RUN("plan", "--size", "96x64", "--style-size", "64x64", "--pooling", "avg",
                     "--content-layers", "relu3_2", "--style-layers", "relu1_1,conv2_1",
                     "--json", path), 0, "stderr: %s", err);
    char *json = read_text(path);
    cr_expect_not_null(strstr(json, "\"schema\""), "%s", json);
    cr_expect_not_null(strstr(json, "\"command\": \"plan\""), "%s", json);
    nst_test_expect_json_version(json);
    const char *t = strstr(json, "\"total_bytes\"");
    cr_assert_not_null(t, "%s", json);
    unsigned long long total = strtoull(strchr(t, ':') + 1, NULL, 10);
    const char *line = strstr(out, "total: ");
    cr_assert_not_null(line);
    cr_expect_eq(total, strtoull(line + 7, NULL, 10), "JSON %llu vs printed %s", total, line);
    cr_expect_not_null(strstr(json, "\"cuda_context_bytes\": null"), "%s", json);
    free(json);
}

Test(cli_plan, help_lists_the_layers) {
    cr_assert_eq(RUN("plan", "--help"), 0);
    cr_expect_not_null(strstr(out, "relu4_2"), "%s", out);
    cr_expect_not_null(strstr(out, "conv5_4"), "%s", out);
}

Test(cli_plan, refusals) {
    cr_expect_eq(RUN("plan"), 2);
    cr_expect_not_null(strstr(err, "--size"), "%s", err);
    cr_expect_eq(RUN("plan", "--size", "768"), 2);
    cr_expect_eq(RUN("plan", "--size", "64x64", "--pooling", "min"), 2);
    cr_expect_eq(RUN("plan", "--size", "64x64", "--style-layers", "relu6_1"), 1);
    cr_expect_not_null(strstr(err, "relu6_1"), "%s", err);
}

/* The "total: N bytes" figure of the plan in out. */
static unsigned long long printed_total(void) {
    const char *t = strstr(out, "total: ");
    cr_assert_not_null(t, "no total in '%s'", out);
    return strtoull(t + 7, NULL, 10);
}

/* Without a GPU, a plan for CUDA counts each convolution's cuDNN workspace at the
 * --workspace-limit bound and says so; with a GPU the device opens and this does not apply. */
Test(cli_plan, cuda_without_a_gpu_counts_the_workspace_at_its_bound) {
    nst_gpu_info gpus[1];
    int count = 0;
    char why[256];
    if (nst_list_gpus(gpus, 1, &count, why, sizeof why) == NST_OK && count > 0)
        cr_skip_test("a GPU is visible: the plan measures cuDNN's real choice there");
    cr_assert_eq(RUN("plan", "--size", "256x256", "--device", "cuda"), 0, "%s", err);
    cr_assert(strstr(out, "note: no GPU could be opened"), "%s", out);
    cr_assert(strstr(out, "--workspace-limit bound, 536870912 bytes"), "%s", out);
    const unsigned long long big = printed_total();
    cr_assert_eq(RUN("plan", "--size", "256x256", "--device", "cuda", "--workspace-limit", "64M"),
                 0, "%s", err);
    const unsigned long long small = printed_total();
    /* the op scratch is one buffer as large as the largest any op needs: the convolutions' */
    cr_assert_eq(big - small, (512ull - 64ull) << 20, "512M: %llu, 64M: %llu", big, small);
    cr_assert_eq(RUN("plan", "--size", "256x256", "--workspace-limit", "0"), 2);
}

/* ---- the render's controls and the training run ------------------------------------------ */

/* The "at peak" bytes of a tag's row of the plan in out. */
static unsigned long long row_at_peak(const char *tag) {
    char key[32];
    snprintf(key, sizeof key, "\n%s ", tag);
    const char *r = strstr(out, key);
    cr_assert_not_null(r, "no %s row in '%s'", tag, out);
    return strtoull(r + strlen(key), NULL, 10);
}

/* The bytes on the "L-BFGS history: N bytes" line. */
static unsigned long long printed_history(void) {
    const char *h = strstr(out, "L-BFGS history: ");
    cr_assert_not_null(h, "no history line in '%s'", out);
    return strtoull(h + 16, NULL, 10);
}

/* torch.optim.LBFGS keeps m pairs (y, s) of image-sized vectors; this ring has one slot more,
 * so it never overwrites the oldest with a rejected pair: 2 (m + 1) vectors of H x W x 3 floats. */
Test(cli_plan, lbfgs_history_is_2_m_plus_1_image_vectors) {
    const struct { const char *size, *m; unsigned long long w, h, hist; } cases[] = {
        {"768x512", "100", 768, 512, 100}, {"96x64", "5", 96, 64, 5}, {"33x17", "1", 33, 17, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_assert_eq(RUN("plan", "--size", cases[i].size, "--optimizer", "lbfgs",
                         "--lbfgs-history", cases[i].m), 0, "%s", err);
        const unsigned long long image = cases[i].w * cases[i].h * 3 * sizeof(float);
        cr_expect_eq(printed_history(), 2 * (cases[i].hist + 1) * image, "%s m=%s: %s",
                     cases[i].size, cases[i].m, out);
        /* beside the history: the direction, the previous gradient, zeros, a temporary and
           three (1) scalars */
        cr_expect_eq(row_at_peak("optimiser"), (2 * (cases[i].hist + 1) + 4) * image + 3 * 4,
                     "%s", out);
    }
    /* 768x512, m = 100: 953 155 584 bytes, about 0.95 GB (the brief: about 0.94 GB) */
    cr_assert_eq(RUN("plan", "--size", "768x512", "--optimizer", "lbfgs"), 0, "%s", err);
    cr_expect_eq(printed_history(), 953155584ull);
    cr_expect_not_null(strstr(out, "L-BFGS history 100"), "%s", out);
    const unsigned long long lbfgs = printed_total(), opt100 = row_at_peak("optimiser");
    const unsigned long long grad_lbfgs = row_at_peak("gradients");
    cr_assert_eq(RUN("plan", "--size", "768x512", "--optimizer", "lbfgs", "--lbfgs-history", "10"),
                 0, "%s", err);
    const unsigned long long image = 768ull * 512 * 3 * 4;
    cr_expect_eq(opt100 - row_at_peak("optimiser"), 2 * 90 * image);
    cr_expect_geq(lbfgs - printed_total(), 2 * 90 * image);
    /* Adam: m and v only, and no history line; L-BFGS keeps the gradient for the next step */
    cr_assert_eq(RUN("plan", "--size", "768x512"), 0, "%s", err);
    cr_expect_eq(row_at_peak("optimiser"), 2 * image);
    cr_expect_eq(grad_lbfgs - row_at_peak("gradients"), image);
    cr_expect_null(strstr(out, "L-BFGS"), "%s", out);
    cr_expect_lt(printed_total(), lbfgs);
    cr_expect_eq(RUN("plan", "--size", "64x64", "--optimizer", "sgd"), 2);
    cr_expect_eq(RUN("plan", "--size", "64x64", "--optimizer", "lbfgs", "--lbfgs-history", "0"),
                 2);
}

Test(cli_plan, lbfgs_json_names_the_optimizer_and_history) {
    char path[512];
    snprintf(path, sizeof path, "%s/lbfgs.json", dir);
    cr_assert_eq(RUN("plan", "--size", "40x30", "--optimizer", "lbfgs", "--lbfgs-history", "7",
                     "--json", path), 0, "%s", err);
    char *json = read_text(path);
    cr_expect_not_null(strstr(json, "\"optimizer\": \"lbfgs\""), "%s", json);
    cr_expect_not_null(strstr(json, "\"lbfgs_history\": 7"), "%s", json);
    char want[64];
    snprintf(want, sizeof want, "\"lbfgs_history_bytes\": %d", 2 * 8 * 40 * 30 * 3 * 4);
    cr_expect_not_null(strstr(json, want), "want %s in %s", want, json);
    free(json);
}

/* The library's plan of a render with these styles' sizes at w x h. */
static unsigned long long styles_total(int w, int h, int n, const int *sw, const int *sh) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = w, o.height = h;
    o.style_width = sw[0], o.style_height = sh[0];
    if (n > 1)
        o.n_styles = n, o.styles_width = sw, o.styles_height = sh;
    nst_plan *plan = NULL;
    return total_of(ctx, nst_render_plan(ctx, &o, &plan), &plan);
}

Test(cli_plan, one_style_size_per_style) {
    cr_assert_eq(RUN("plan", "--size", "64x64", "-S", "64x64"), 0, "%s", err);
    const unsigned long long one = printed_total();
    cr_assert_eq(RUN("plan", "--size", "64x64", "-S", "64x64", "--style-size", "256x192"), 0, "%s",
                 err);
    const unsigned long long two = printed_total();
    cr_expect_not_null(strstr(out, "style 64x64 + 256x192"), "%s", out);
    cr_expect_eq(two, styles_total(64, 64, 2, (const int[]){64, 256}, (const int[]){64, 192}));
    /* the second style's pass at 256x192 is the largest pass of the run */
    cr_expect_gt(two, one, "a 256x192 style over a 64x64 render: %llu, alone %llu", two, one);
    cr_expect_geq(two, styles_total(64, 64, 1, (const int[]){256}, (const int[]){192}));
    /* the passes run one after another: a second style of the same size needs only its image and
       its Gram matrices, not a second pass */
    cr_assert_eq(RUN("plan", "--size", "64x64", "-S", "64x64", "-S", "64x64"), 0, "%s", err);
    cr_expect_lt(printed_total() - one, 64ull * 64 * 64 * 4 + 2 * (1u << 20), "%s", out);
    cr_expect_eq(RUN("plan", "--size", "64x64", "-S", "8x8", "-S", "8x8", "-S", "8x8", "-S", "8x8",
                     "-S", "8x8", "-S", "8x8", "-S", "8x8", "-S", "8x8", "-S", "8x8"), 2);
    cr_expect_not_null(strstr(err, "at most 8"), "%s", err);
}

Test(cli_plan, scales_plan_the_largest_and_list_each) {
    cr_assert_eq(RUN("plan", "--size", "768x512", "--scales", "3"), 0, "%s", err);
    cr_expect_eq(printed_total(), plan_total(768, 512));
    const char *line = strstr(out, "scales: ");
    cr_assert_not_null(line, "%s", out);
    double a = 0, b = 0, c = 0;
    cr_assert_eq(sscanf(line, "scales: 192x128 %lf MiB, 384x256 %lf MiB, 768x512 %lf MiB", &a,
                        &b, &c), 3, "%s", line);
    cr_expect(a < b && b < c, "%s", line);
    cr_expect(fabs(a - plan_total(192, 128) / 1048576.0) < 0.05, "%s", line);
    cr_expect(fabs(c - plan_total(768, 512) / 1048576.0) < 0.05, "%s", line);
    /* odd sides round as the render rounds them: 101 / 2 = 50.5 -> 51 */
    cr_assert_eq(RUN("plan", "--size", "101x75", "--scales", "2"), 0, "%s", err);
    cr_expect_not_null(strstr(out, "scales: 51x38 "), "%s", out);
    cr_expect_eq(RUN("plan", "--size", "64x64", "--scales", "0"), 2);
    cr_expect_eq(RUN("plan", "--size", "64x64", "--scales", "9"), 2);
}

static unsigned long long train_total(int crop, int batch, int sw, int sh) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_train_options o;
    nst_train_options_default(&o);
    o.size = crop, o.batch = batch, o.style_width = sw, o.style_height = sh;
    nst_plan *plan = NULL;
    return total_of(ctx, nst_train_plan(ctx, &o, &plan), &plan);
}

Test(cli_plan, train_plans_the_training_run) {
    cr_assert_eq(RUN("plan", "--train"), 0, "%s", err);
    cr_expect_not_null(strstr(out, "train 4 crops of 256x256, style 256x256"), "%s", out);
    const unsigned long long def = printed_total();
    cr_expect_eq(def, train_total(256, 4, 256, 256));
    const unsigned long long weights = row_at_peak("weights");
    /* weights: VGG19 to conv4_4 (the deepest default layer, relu4_4) and the TransformerNet's
       62 tensors, each with its gradient and Adam's m and v */
    const unsigned long long vgg = 4ull * (3 * 64 * 9 + 64 + 64 * 64 * 9 + 64 + 64 * 128 * 9 +
                                           128 + 128 * 128 * 9 + 128 + 128 * 256 * 9 + 256 +
                                           3 * (256 * 256 * 9 + 256) + 256 * 512 * 9 + 512 +
                                           3 * (512 * 512 * 9 + 512));
    cr_expect_geq(row_at_peak("weights"), vgg, "%s", out);
    cr_assert_eq(RUN("plan", "--train", "--batch", "8"), 0, "%s", err);
    const unsigned long long b8 = printed_total();
    cr_assert_eq(RUN("plan", "--train", "--batch", "16"), 0, "%s", err);
    const unsigned long long b16 = printed_total();
    cr_assert_eq(RUN("plan", "--train", "--crop", "128"), 0, "%s", err);
    const unsigned long long c128 = printed_total();
    /* each crop of the batch adds its share (the net's activations are kept for its backward;
       VGG19 runs one image at a time): the total is linear in the batch */
    cr_expect_gt(b8, def);
    cr_expect(fabs((double)(b16 - b8) - 2.0 * (double)(b8 - def)) < 1e-3 * (double)(b16 - b8),
              "batch 4 %llu, 8 %llu, 16 %llu", def, b8, b16);
    /* a crop of a quarter of the pixels: under a third of the memory besides the weights */
    cr_expect_lt(3 * (c128 - weights), def - weights, "crop 128 %llu, 256 %llu", c128, def);
    cr_assert_eq(RUN("plan", "--train", "--crop", "64", "--batch", "2", "--style-size", "96x80",
                     "--style-layers", "relu1_2,relu2_2"), 0, "%s", err);
    cr_expect_not_null(strstr(out, "style 96x80"), "%s", out);
    char path[512];
    snprintf(path, sizeof path, "%s/train.json", dir);
    cr_assert_eq(RUN("plan", "--train", "--crop", "32", "--json", path), 0, "%s", err);
    char *json = read_text(path);
    cr_expect_not_null(strstr(json, "\"train\": true"), "%s", json);
    cr_expect_not_null(strstr(json, "\"crop\": 32"), "%s", json);
    char want[64];
    snprintf(want, sizeof want, "\"total_bytes\": %llu", train_total(32, 4, 32, 32));
    cr_expect_not_null(strstr(json, want), "want %s in %s", want, json);
    free(json);
}

Test(cli_plan, train_usage_errors) {
    cr_expect_eq(RUN("plan", "--train", "--crop", "30"), 2);
    cr_expect_not_null(strstr(err, "multiple of 4"), "%s", err);
    cr_expect_eq(RUN("plan", "--train", "--crop", "4"), 2);
    cr_expect_eq(RUN("plan", "--train", "--batch", "0"), 2);
    cr_expect_eq(RUN("plan", "--train", "--size", "64x64"), 2);
    cr_expect_not_null(strstr(err, "--size plans a render"), "%s", err);
    cr_expect_eq(RUN("plan", "--train", "--optimizer", "lbfgs"), 2);
    cr_expect_eq(RUN("plan", "--train", "-S", "64x64", "-S", "64x64"), 2);
    cr_expect_eq(RUN("plan", "--size", "64x64", "--batch", "2"), 2);
    cr_expect_not_null(strstr(err, "add --train"), "%s", err);
    cr_expect_eq(RUN("plan", "--train", "--style-layers", "relu6_1"), 1);
    cr_expect_not_null(strstr(err, "relu6_1"), "%s", err);
}

/* The library's plan of a 96x64 render with one control set by f. */
static unsigned long long controlled_total(void (*f)(nst_render_options *)) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = o.style_width = 96;
    o.height = o.style_height = 64;
    f(&o);
    nst_plan *plan = NULL;
    return total_of(ctx, nst_render_plan(ctx, &o, &plan), &plan);
}

static void robust2(nst_render_options *o) { o->robust_views = 2; }
static void augment4(nst_render_options *o) { o->style_augment = 4; }
static void learn(nst_render_options *o) { o->learn_style_transform = true; }
static void normalize(nst_render_options *o) { o->normalize_gradients = true; }
static void wolfe(nst_render_options *o) {
    o->optimizer = NST_OPTIMIZER_LBFGS, o->lbfgs_line_search = NST_LINE_SEARCH_STRONG_WOLFE;
}

/* The controls that change memory plan as the render plans them: each printed total is the
 * library's for the same options; the robust views and the learned transform's style pass add
 * memory; strong Wolfe adds exactly 3 image vectors to the optimiser's row; refusals. */
Test(cli_plan, the_geometry_and_gradient_controls_plan_as_render_does) {
    cr_assert_eq(RUN("plan", "--size", "96x64"), 0, "%s", err);
    const unsigned long long plain = printed_total();
    const struct {
        const char *flag, *value;
        void (*f)(nst_render_options *);
        bool grows;
    } cases[] = {{"--robust", "2", robust2, true},
                 {"--style-augment", "4", augment4, false},
                 {"--learn-style-transform", NULL, learn, true},
                 {"--normalize-gradients", NULL, normalize, false}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const int rc = cases[i].value ? RUN("plan", "--size", "96x64", cases[i].flag,
                                            cases[i].value)
                                      : RUN("plan", "--size", "96x64", cases[i].flag);
        cr_assert_eq(rc, 0, "%s: %s", cases[i].flag, err);
        const unsigned long long got = printed_total(), want = controlled_total(cases[i].f);
        cr_expect_eq(got, want, "%s: printed %llu, the library plans %llu", cases[i].flag, got,
                     want);
        if (cases[i].grows)
            cr_expect_gt(got, plain, "%s: %llu, plain %llu", cases[i].flag, got, plain);
    }
    cr_assert_eq(RUN("plan", "--size", "96x64", "--optimizer", "lbfgs"), 0, "%s", err);
    const unsigned long long none = row_at_peak("optimiser");
    cr_assert_eq(RUN("plan", "--size", "96x64", "--optimizer", "lbfgs", "--line-search",
                     "strong-wolfe"), 0, "%s", err);
    cr_expect_eq(printed_total(), controlled_total(wolfe));
    cr_expect_eq(row_at_peak("optimiser") - none, 3ull * 96 * 64 * 3 * 4,
                 "strong Wolfe's optimiser row %llu, without %llu", row_at_peak("optimiser"),
                 none);
    cr_expect_eq(RUN("plan", "--size", "96x64", "--line-search", "strong-wolfe"), 2);
    cr_expect(strstr(err, "--optimizer lbfgs"), "%s", err);
    cr_expect_eq(RUN("plan", "--size", "96x64", "--optimizer", "lbfgs", "--line-search", "wolfe"),
                 2);
    cr_expect_eq(RUN("plan", "--size", "96x64", "--optimizer", "lbfgs", "--robust", "2"), 2);
    cr_expect(strstr(err, "nstyle plan:"), "%s", err);
    cr_expect_eq(RUN("plan", "--size", "96x64", "--robust", "many"), 2);
    cr_expect_eq(RUN("plan", "--train", "--normalize-gradients"), 2);
}

/* The options that change memory are one table (src/host/cli/args.h) for render and plan: a bad
 * value gets the same message from both, after the command's name; numbers are strict. */
Test(cli_plan, render_and_plan_share_the_memory_options) {
    static const char *const bad[][2] = {
        {"--pooling", "mean"},        {"--optimizer", "sgd"},     {"--lbfgs-history", "0"},
        {"--lbfgs-history", " 5"},    {"--line-search", "armijo"}, {"--scales", "9"},
        {"--scales", "+2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static char render_err[sizeof err];
        cr_assert_eq(RUN("render", "-c", "c.png", "-s", "s.png", "-o", "o.png", bad[i][0],
                         bad[i][1]), 2, "render %s %s", bad[i][0], bad[i][1]);
        snprintf(render_err, sizeof render_err, "%s", err);
        cr_assert_eq(RUN("plan", "--size", "64x48", bad[i][0], bad[i][1]), 2, "plan %s %s",
                     bad[i][0], bad[i][1]);
        const char *r = strstr(render_err, "nstyle render: "), *p = strstr(err, "nstyle plan: ");
        cr_assert(r && p, "render: %s\nplan: %s", render_err, err);
        const char *r_end = strchr(r, '\n'), *p_end = strchr(p, '\n');
        cr_assert(r_end && p_end);
        r += strlen("nstyle render: "), p += strlen("nstyle plan: ");
        cr_assert(r_end - r == p_end - p && strncmp(r, p, (size_t)(r_end - r)) == 0,
                  "%s %s: render says '%.*s', plan '%.*s'", bad[i][0], bad[i][1],
                  (int)(r_end - r), r, (int)(p_end - p), p);
        cr_assert(strstr(r, bad[i][0]), "the message names %s: %.*s", bad[i][0],
                  (int)(r_end - r), r);
    }
}
