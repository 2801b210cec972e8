/* VGG19 over the op table (src/host/networks/vgg19.c) and the Gatys losses
 * (src/host/pipelines/losses.c) against PyTorch float64 goldens (tests/golden/gen_vgg19.py): a
 * width-16 net up to conv3_1 with random weights, read by nst_vgg19_weights_load from the golden
   * file itself. Checks the features at ReLU and pre-ReLU layers with max and avg pooling, then the
   * content, style, TV and total losses and the gradient of the total w.r.t. the image (the
     * render's own evaluation, through the input convention, every loss's backward and the VGG
     * backward). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/pipelines/gatys.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN NST_SOURCE_DIR "/tests/golden/vgg19.safetensors"
#define H 24
#define W 32

static const char *const FEATURES[] = {"relu1_1", "conv1_2", "relu2_2", "conv3_1", "relu3_1"};
#define N_FEATURES (sizeof FEATURES / sizeof *FEATURES)

#define TRY(expr)                          \
    do {                                   \
        nst_status try_st_ = (expr);       \
        if (try_st_ != NST_OK)             \
            return try_st_;                \
    } while (0)

typedef struct {
    const nst_vgg19_weights *w;
    nst_pool_mode pooling;
    const float *x;               /* (H, W, 3) */
    float *out[N_FEATURES];       /* each feature, NHWC */
    unsigned char tap[NST__VGG_N];
    nst__vgg19 net;
    nst__vgg19_pass pass;
    nst_tensor image;
} features_run;

static nst_status features_fn(nst_ctx *ctx, nst_mem_pass *pass, void *user) {
    features_run *f = user;
    const bool rec = nst_mem_pass_recording(pass);
    TRY(nst__vgg19_declare(pass, 5, f->w->width, f->pooling, f->w->convention, &f->net));
    TRY(nst_mem_pass_tensor(pass, NST_TAG_OTHER, NST_F32, 4, (const int64_t[]){1, H, W, 3},
                                 NST_MEM_PERSISTENT, "image", &f->image));
    TRY(nst__vgg19_pass_declare(pass, &f->net, H, W, f->tap, false, "", &f->pass));
    TRY(nst__vgg19_upload(ctx, pass, &f->net, f->w));
    if (!rec)
        TRY(nst_copy_to_device(ctx, f->image.data, f->x, nst_tensor_bytes(&f->image)));
    TRY(nst__vgg19_forward(ctx, &f->net, &f->pass, &f->image));
    for (size_t k = 0; k < N_FEATURES; k++) {
        bool relu = false;
        const int i = nst_vgg19_layer_find(FEATURES[k], &relu);
        const nst_tensor *t = nst__vgg19_feature(&f->pass, i, relu);
        if (rec)
            nst_mem_pass_touch(pass, t);
        else
            TRY(nst_copy_to_host(ctx, f->out[k], t->data, nst_tensor_bytes(t)));
    }
    return NST_OK;
}

static void check_features(nst_pool_mode pooling, const char *prefix) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_st_file *g = nst_test_st_open(ctx, GOLDEN);
    nst_vgg19_weights w;
    cr_assert_eq(nst_vgg19_weights_load(ctx, GOLDEN, 5, &w), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(w.width, 16);
    features_run f = {.w = &w, .pooling = pooling};
    f.x = nst_test_golden_f32(g, "x", H * W * 3);
    for (size_t k = 0; k < N_FEATURES; k++) {
        bool relu = false;
        const int i = nst_vgg19_layer_find(FEATURES[k], &relu);
        f.tap[i] |= relu ? NST__TAP_RELU : NST__TAP_CONV;
        char name[32];
        snprintf(name, sizeof name, "%s.%s", prefix, FEATURES[k]);
        f.out[k] = nst_test_alloc_f32((size_t)nst_st_find(g, name)->numel);
    }
    nst_plan *plan = NULL;
    cr_assert_eq(nst__plan_record(ctx, features_fn, &f, &plan), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(nst__plan_run(ctx, plan, 0, features_fn, &f), NST_OK, "%s", nst_last_error(ctx));
    for (size_t k = 0; k < N_FEATURES; k++) {
        char name[32];
        snprintf(name, sizeof name, "%s.%s", prefix, FEATURES[k]);
        const nst_st_tensor *t = nst_st_find(g, name);
        double *ref = nst_test_golden_f64(g, name, (size_t)t->numel);
        const double scale = nst_test_max_abs(ref, (size_t)t->numel);
        double worst = 0.0;
        for (size_t i = 0; i < (size_t)t->numel; i++)
            worst = fmax(worst, fabs(f.out[k][i] - ref[i]));
        cr_log_info("%s: max |error| %.3g of max |feature| %.3g", name, worst, scale);
        cr_expect(nst_test_allclose(name, f.out[k], ref, (size_t)t->numel, 1e-5 * scale, 1e-4),
                  "%s differs from PyTorch", name);
        free(ref);
        free(f.out[k]);
    }
    nst_plan_destroy(plan);
    free((void *)f.x);
    nst_vgg19_weights_free(&w);
    nst_st_close(g);
    nst_ctx_destroy(ctx);
}

Test(vgg19, features_max_pool_match_pytorch) { check_features(NST_POOL_MAX, "max"); }

Test(vgg19, features_avg_pool_match_pytorch) { check_features(NST_POOL_AVG, "avg"); }

static double golden_scalar(const nst_st_file *g, const char *name) {
    double *v = nst_test_golden_f64(g, name, 1);
    double r = v[0];
    free(v);
    return r;
}

Test(vgg19, losses_and_image_gradient_match_pytorch) {
    nst_ctx *ctx = nst_test_bare_cpu_ctx();
    nst_st_file *g = nst_test_st_open(ctx, GOLDEN);
    float *x = nst_test_golden_f32(g, "x", H * W * 3);
    float *content = nst_test_golden_f32(g, "content", H * W * 3);
    float *style = nst_test_golden_f32(g, "style", 20 * 28 * 3);
    static const double style_weights[] = {0.5, 1.0, 2.0};
    nst_render_options o;
    nst_render_options_default(&o);
    o.width = W, o.height = H, o.content = content;
    o.style = style, o.style_width = 28, o.style_height = 20;
    o.init = NST_INIT_IMAGE, o.init_image = x;
    o.content_layers = "relu2_2,conv3_1";
    o.style_layers = "relu1_1,conv2_1,relu3_1";
    o.style_layer_weights = style_weights;
    o.content_weight = 1.0, o.style_weight = 1e4, o.tv_weight = 0.5;
    o.weights_path = GOLDEN;
    float *grad = nst_test_nan_f32(H * W * 3);
    nst_render_result r;
    cr_assert_eq(nst__render_evaluate(ctx, &o, grad, &r), NST_OK, "%s", nst_last_error(ctx));
    const double want[4] = {golden_scalar(g, "loss.content"), golden_scalar(g, "loss.style"),
                            golden_scalar(g, "loss.tv"), golden_scalar(g, "loss.total")};
    const double got[4] = {r.content_loss, r.style_loss, r.tv_loss, r.total_loss};
    static const char *const names[4] = {"content", "style", "tv", "total"};
    for (int k = 0; k < 4; k++) {
        cr_log_info("%s loss %.9g, PyTorch %.9g (rel %.2e)", names[k], got[k], want[k],
                    fabs(got[k] - want[k]) / fabs(want[k]));
        cr_expect(fabs(got[k] - want[k]) <= 1e-4 * fabs(want[k]), "%s loss %.9g, PyTorch %.9g",
                  names[k], got[k], want[k]);
    }
    cr_expect_eq(r.initial_content_loss, r.content_loss);
    cr_expect_eq(r.iterations_done, 0);
    double *ref = nst_test_golden_f64(g, "loss.grad", H * W * 3);
    const double scale = nst_test_max_abs(ref, H * W * 3);
    double worst = 0.0;
    for (size_t i = 0; i < H * W * 3; i++)
        worst = fmax(worst, fabs(grad[i] - ref[i]));
    cr_log_info("image gradient: max |error| %.3g = %.3g of max |grad| %.3g", worst,
                worst / scale, scale);
    cr_expect(nst_test_allclose("image gradient", grad, ref, H * W * 3, 1e-4 * scale, 1e-3),
              "the image gradient differs from PyTorch's");
    nst_render_result_free(&r);
    free(ref), free(grad), free(x), free(content), free(style);
    nst_st_close(g);
    nst_ctx_destroy(ctx);
}
