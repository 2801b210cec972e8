/* `nstyle plan` end to end (src/host/cli/plan.c): with no weights anywhere it looks, the
 * 768x512 plan prints its tags and a total equal to nst_render_plan's in this process; --json
 * writes the same total in the shared summary schema; --help lists the layer names; bad sizes,
 * pooling and layers are refused with exit codes 2 and 1. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nstyle/render.h"
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

static unsigned long long plan_total(int w, int h) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = o.style_width = w;
    o.height = o.style_height = h;
    nst_plan *plan = NULL;
    cr_assert_eq(nst_render_plan(ctx, &o, &plan), NST_OK, "%s", nst_last_error(ctx));
    unsigned long long total = nst_plan_get_summary(plan).total_bytes;
    nst_plan_destroy(plan);
    nst_ctx_destroy(ctx);
    return total;
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
    size_t n = 0;
    char *json = (char *)nst_test_read_bytes(path, &n);
    json[n] = '\0';
    cr_expect_not_null(strstr(json, "\"schema\""), "%s", json);
    cr_expect_not_null(strstr(json, "\"command\": \"plan\""), "%s", json);
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
