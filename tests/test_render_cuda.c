/* The Gatys render on CUDA against the CPU reference: the same 64x64 render (the width-16 golden
 * net of tests/golden/gen_vgg19.py, random content and style, init from the content), 5 Adam
 * iterations on each backend, with TF32 off and deterministic algorithms, must give the same
 * losses and the same image within fp32 accumulation-order differences. Skipped, saying why,
 * without a GPU; a GPU that exists but does not open fails. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "nstyle/nstyle.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN NST_SOURCE_DIR "/tests/golden/vgg19.safetensors"
#define SIDE 64

static void render_on(nst_ctx *ctx, const float *content, const float *style,
                      nst_render_result *r) {
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = SIDE, o.height = SIDE, o.content = content;
    o.style = style, o.style_width = SIDE, o.style_height = SIDE;
    o.content_layers = "relu2_2";
    o.style_layers = "relu1_1,relu2_1,conv3_1";
    o.iterations = 5;
    o.weights_path = GOLDEN;
    o.deterministic = true;
    cr_assert_eq(nst_render_gatys(ctx, &o, r), NST_OK, "%s: %s", nst_ctx_device_name(ctx),
                 nst_last_error(ctx));
}

static void expect_close(const char *what, double got, double ref) {
    cr_expect(fabs(got - ref) <= 1e-4 * fabs(ref) + 1e-7, "%s: cuda %.9g, cpu %.9g", what, got,
              ref);
}

Test(render_cuda, five_iterations_match_the_cpu) {
    nst_ctx *gpu = nst_test_cuda_ctx(); /* skips without a GPU */
    nst_ctx_set_tf32(gpu, false, false);
    nst_ctx_set_deterministic(gpu, true);
    nst_ctx *cpu = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(7);
    float *content = nst_test_random_f32(&rng, SIDE * SIDE * 3, 0.0f, 1.0f);
    float *style = nst_test_random_f32(&rng, SIDE * SIDE * 3, 0.0f, 1.0f);
    nst_render_result rc, rg;
    render_on(cpu, content, style, &rc);
    render_on(gpu, content, style, &rg);
    cr_assert_eq(rg.iterations_done, 5);
    expect_close("initial content loss", rg.initial_content_loss, rc.initial_content_loss);
    expect_close("initial style loss", rg.initial_style_loss, rc.initial_style_loss);
    expect_close("content loss", rg.content_loss, rc.content_loss);
    expect_close("style loss", rg.style_loss, rc.style_loss);
    double worst = 0.0;
    for (int i = 0; i < SIDE * SIDE * 3; i++)
        worst = fmax(worst, fabs((double)rg.image[i] - (double)rc.image[i]));
    /* 5 steps of lr 0.01 move a pixel by at most 0.05; the backends may differ in the last bits */
    cr_expect_leq(worst, 1e-4, "largest pixel difference %g", worst);
    nst_render_result_free(&rc);
    nst_render_result_free(&rg);
    free(content);
    free(style);
    nst_ctx_destroy(cpu);
    nst_ctx_destroy(gpu);
}
