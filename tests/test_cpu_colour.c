/* CPU colour ops (src/cpu/colour.c): RGB <-> YUV against the BT.601 matrix in plain double
 * loops, the round trip, and scikit-image goldens; the three input conventions
 * (nst_input_convert_params_for in src/host/ops.c) against the formulas of
 * ../shared/data/README.md and torchvision, with their backward against central finite
 * differences and PyTorch goldens; argument checks throughout. Goldens:
 * tests/golden/gen_losses_colour.py. Histogram matching: tests/test_histogram_match.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/colour.h"
#include "test_support.h"
#include "test_tensors.h"

#define GOLDEN "losses_colour.safetensors"
#define N 2
#define H 7
#define W 11
#define NPIX (N * H * W)

/* ---- RGB <-> YUV ------------------------------------------------------------------------------ */

/* BT.601 as in skimage: Y = .299 R + .587 G + .114 B, U = .492111 (B - Y), V = .877283 (R - Y),
 * written here as the rows of the matrix skimage uses. */
static const double M_YUV[3][3] = {{0.299, 0.587, 0.114},
                                   {-0.14714119, -0.28886916, 0.43601035},
                                   {0.61497538, -0.51496512, -0.10001026}};

static nst_status run_colour(nst_ctx *ctx, bool to_yuv, float *x, float *y, int64_t npix) {
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, 1, npix, 3);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 1, npix, 3);
    nst_colour_params p = {&tx, &ty};
    return to_yuv ? nst_rgb_to_yuv(ctx, &p) : nst_yuv_to_rgb(ctx, &p);
}

/* Three products summed in double and rounded once: rtol 1e-6, atol 1e-7 for U, V near 0. */
Test(cpu_colour, rgb_to_yuv_matches_matrix) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(41);
    float rgb[NPIX * 3], yuv[NPIX * 3];
    double ref[NPIX * 3];
    nst_test_fill_uniform(&rng, rgb, NPIX * 3, 0.0f, 1.0f);
    for (int i = 0; i < NPIX; i++)
        for (int r = 0; r < 3; r++)
            ref[3 * i + r] = M_YUV[r][0] * rgb[3 * i] + M_YUV[r][1] * rgb[3 * i + 1] +
                             M_YUV[r][2] * rgb[3 * i + 2];
    cr_assert_eq(run_colour(ctx, true, rgb, yuv, NPIX), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(nst_test_allclose("rgb_to_yuv", yuv, ref, NPIX * 3, 1e-7, 1e-6));
    /* greys have no chroma: |U|, |V| at the level of the matrix's 8-digit rows (1e-8) */
    float grey[3] = {0.6f, 0.6f, 0.6f}, g_yuv[3];
    cr_assert_eq(run_colour(ctx, true, grey, g_yuv, 1), NST_OK);
    cr_assert_float_eq(g_yuv[0], 0.6f, 1e-7);
    cr_assert_float_eq(g_yuv[1], 0.0f, 1e-7);
    cr_assert_float_eq(g_yuv[2], 0.0f, 1e-7);
    nst_ctx_destroy(ctx);
}

/* yuv_to_rgb(rgb_to_yuv(x)) = x: two fp32 roundings of values <= ~1 through a matrix of norm
 * ~2.5: within 1e-6 absolute. Also the other way round, and in place (y aliasing x). */
Test(cpu_colour, yuv_round_trip) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(42);
    float rgb[NPIX * 3], yuv[NPIX * 3], back[NPIX * 3];
    nst_test_fill_uniform(&rng, rgb, NPIX * 3, 0.0f, 1.0f);
    cr_assert_eq(run_colour(ctx, true, rgb, yuv, NPIX), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(run_colour(ctx, false, yuv, back, NPIX), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(nst_test_allclose_f("rgb round trip", back, rgb, NPIX * 3, 1e-6, 0.0));
    memcpy(back, yuv, sizeof back);
    cr_assert_eq(run_colour(ctx, false, back, back, NPIX), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(run_colour(ctx, true, back, back, NPIX), NST_OK, "%s", nst_last_error(ctx));
    cr_assert(nst_test_allclose_f("yuv round trip in place", back, yuv, NPIX * 3, 1e-6, 0.0));
    nst_ctx_destroy(ctx);
}

/* skimage float64 on the same float32 inputs: |got - ref| <= 1e-5 + 1e-4 |ref|. */
Test(cpu_colour, yuv_skimage_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    const size_t m = NPIX * 3;
    float *rgb = nst_test_golden_f32(f, "yuv.rgb", m), *yuv = nst_test_golden_f32(f, "yuv.yuv", m);
    float out[NPIX * 3];
    cr_assert_eq(run_colour(ctx, true, rgb, out, NPIX), NST_OK, "%s", nst_last_error(ctx));
    nst_test_expect_golden(f, "yuv.yuv_of_rgb", out, m, 1e-5, 1e-4);
    cr_assert_eq(run_colour(ctx, false, yuv, out, NPIX), NST_OK, "%s", nst_last_error(ctx));
    nst_test_expect_golden(f, "yuv.rgb_of_yuv", out, m, 1e-5, 1e-4);
    free(rgb), free(yuv);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_colour, yuv_checks_shapes) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[24], y[24];
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, 2, 3, 4);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 2, 3, 4);
    nst_colour_params p = {&tx, &ty};
    cr_assert_eq(nst_rgb_to_yuv(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "rgb_to_yuv") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "(*, *, *, 3)") != NULL, "%s", nst_last_error(ctx));
    nst_tensor x3 = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, 2, 4, 3);
    p.x = &x3;
    cr_assert_eq(nst_yuv_to_rgb(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "tensor y") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

/* ---- input conventions ------------------------------------------------------------------------ */

static const char *const convention_names[3] = {"rgb-0-1-imagenet-norm", "bgr-0-255-minus-mean",
                                                "rgb-0-255"};

/* The conventions written out independently of ops.c: torchvision's ImageNet normalisation and
 * the data README's Caffe preprocessing (255 * RGB reversed to BGR minus B 103.939, G 116.779,
 * R 123.68). out is in the network's channel order. */
static void ref_convert(int conv, const float *rgb, double *out) {
    const double r = rgb[0], g = rgb[1], b = rgb[2];
    if (conv == 0) {
        out[0] = (r - 0.485) / 0.229;
        out[1] = (g - 0.456) / 0.224;
        out[2] = (b - 0.406) / 0.225;
    } else if (conv == 1) {
        out[0] = 255.0 * b - 103.939;
        out[1] = 255.0 * g - 116.779;
        out[2] = 255.0 * r - 123.68;
    } else {
        out[0] = 255.0 * r, out[1] = 255.0 * g, out[2] = 255.0 * b;
    }
}

static nst_input_convert_params convention(int conv) {
    nst_input_convention c;
    cr_assert_eq(nst_input_convention_from_name(convention_names[conv], &c), NST_OK);
    return nst_input_convert_params_for(c);
}

typedef struct {
    nst_tensor x, y, dy, dx;
} convert_tensors;

static void convert_bind(nst_input_convert_params *p, convert_tensors *t, float *x, float *y,
                         float *dy, float *dx, int64_t npix) {
    t->x = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, 1, npix, 3);
    t->y = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 1, npix, 3);
    t->dy = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dy, 1, 1, npix, 3);
    t->dx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, 1, 1, npix, 3);
    p->x = &t->x, p->y = &t->y, p->dy = &t->dy;
    p->dx = dx ? &t->dx : NULL;
}

Test(cpu_colour, convention_names_round_trip) {
    nst_input_convention c;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(nst_input_convention_from_name(convention_names[i], &c), NST_OK);
        cr_assert_eq((int)c, i, "%s", convention_names[i]);
    }
    cr_assert_eq(nst_input_convention_from_name("bgr-0-1", &c), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_input_convention_from_name(NULL, &c), NST_ERR_INVALID_ARG);
}

/* Forward against the written-out conventions: the op evaluates in double from float
 * constants (123.68f is 3.8e-6 off 123.68) and rounds once: atol 1e-5 (the 0..255 scale),
 * rtol 1e-6. */
Test(cpu_colour, input_convert_forward_matches_conventions) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(43);
    float x[NPIX * 3], y[NPIX * 3];
    double ref[NPIX * 3];
    nst_test_fill_uniform(&rng, x, NPIX * 3, 0.0f, 1.0f);
    x[0] = 0.0f, x[1] = 1.0f, x[2] = 0.5f; /* the range ends */
    for (int conv = 0; conv < 3; conv++) {
        nst_input_convert_params p = convention(conv);
        convert_tensors t;
        convert_bind(&p, &t, x, y, NULL, NULL, NPIX);
        cr_assert_eq(nst_input_convert_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        for (int i = 0; i < NPIX; i++)
            ref_convert(conv, x + 3 * i, ref + 3 * i);
        cr_assert(nst_test_allclose(convention_names[conv], y, ref, NPIX * 3, 1e-5, 1e-6));
    }
    nst_ctx_destroy(ctx);
}

typedef struct {
    int conv;
    const double *dy;
    size_t npix;
} convert_fd_ctx;

static double convert_objective(const double *x, void *user) {
    const convert_fd_ctx *u = user;
    double s = 0.0, y[3];
    for (size_t i = 0; i < u->npix; i++) {
        /* the conventions of ref_convert, on the perturbed double x */
        const double r = x[3 * i], g = x[3 * i + 1], b = x[3 * i + 2];
        if (u->conv == 0)
            y[0] = (r - 0.485) / 0.229, y[1] = (g - 0.456) / 0.224, y[2] = (b - 0.406) / 0.225;
        else if (u->conv == 1)
            y[0] = 255.0 * b - 103.939, y[1] = 255.0 * g - 116.779, y[2] = 255.0 * r - 123.68;
        else
            y[0] = 255.0 * r, y[1] = 255.0 * g, y[2] = 255.0 * b;
        for (int c = 0; c < 3; c++)
            s += u->dy[3 * i + c] * y[c];
    }
    return s;
}

/* Backward against central differences of sum(dy * convert(x)) in double (linear: exact up to
 * rounding), element by element; then accumulate adds to dx. */
Test(cpu_colour, input_convert_backward_matches_finite_differences) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_test_rng rng = nst_test_rng_seed(44);
    float x[NPIX * 3], dy[NPIX * 3], dx[NPIX * 3], prev[NPIX * 3];
    double xd[NPIX * 3], dyd[NPIX * 3], fd[NPIX * 3];
    nst_test_fill_uniform(&rng, x, NPIX * 3, 0.0f, 1.0f);
    nst_test_fill_uniform(&rng, dy, NPIX * 3, -1.0f, 1.0f);
    nst_test_fill_uniform(&rng, prev, NPIX * 3, -1.0f, 1.0f);
    nst_test_widen(x, xd, NPIX * 3), nst_test_widen(dy, dyd, NPIX * 3);
    for (int conv = 0; conv < 3; conv++) {
        convert_fd_ctx u = {conv, dyd, NPIX};
        nst_test_fd_grad(convert_objective, &u, xd, NPIX * 3, 1e-3, NULL, 0, fd);
        nst_input_convert_params p = convention(conv);
        convert_tensors t;
        convert_bind(&p, &t, x, NULL, dy, dx, NPIX);
        for (int i = 0; i < NPIX * 3; i++)
            dx[i] = NAN; /* overwrite mode must not read dx */
        cr_assert_eq(nst_input_convert_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        /* Element by element against the differences: one fp32 scale per element (a rounding or
         * two, 6e-8 each); measured worst 1.3e-7 of max|dx|. */
        nst_test_expect_grad(convention_names[conv], dx, fd, NPIX * 3, 3e-7, 3e-7);

        memcpy(dx, prev, sizeof dx);
        p.accumulate = true;
        cr_assert_eq(nst_input_convert_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        for (int i = 0; i < NPIX * 3; i++)
            fd[i] += prev[i];
        /* finite differences of a linear function in double: ~1e-9 of 255 * |dy|; fp32 result */
        cr_assert(nst_test_allclose(convention_names[conv], dx, fd, NPIX * 3, 1e-4, 1e-5));
    }
    nst_ctx_destroy(ctx);
}

/* PyTorch float64 on the same inputs (channels last): |got - ref| <= 1e-5 + 1e-4 |ref|. */
Test(cpu_colour, input_convert_pytorch_goldens) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, GOLDEN);
    const int npix = 2 * 5 * 6;
    const size_t m = (size_t)npix * 3;
    for (int conv = 0; conv < 3; conv++) {
        char key[96];
        snprintf(key, sizeof key, "conv.%s.x", convention_names[conv]);
        float *x = nst_test_golden_f32(f, key, m);
        snprintf(key, sizeof key, "conv.%s.dy", convention_names[conv]);
        float *dy = nst_test_golden_f32(f, key, m);
        float *y = nst_test_alloc_f32(m), *dx = nst_test_alloc_f32(m);
        nst_input_convert_params p = convention(conv);
        convert_tensors t;
        convert_bind(&p, &t, x, y, dy, dx, npix);
        cr_assert_eq(nst_input_convert_forward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(nst_input_convert_backward(ctx, &p), NST_OK, "%s", nst_last_error(ctx));
        snprintf(key, sizeof key, "conv.%s.y", convention_names[conv]);
        nst_test_expect_golden(f, key, y, m, 1e-5, 1e-4);
        snprintf(key, sizeof key, "conv.%s.dx", convention_names[conv]);
        nst_test_expect_golden(f, key, dx, m, 1e-5, 1e-4);
        free(x), free(dy), free(y), free(dx);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(cpu_colour, input_convert_checks_arguments) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    float x[12] = {0}, y[12], dx[12];
    nst_input_convert_params p = convention(0);
    convert_tensors t;
    convert_bind(&p, &t, x, y, x, NULL, 4);
    cr_assert_eq(nst_input_convert_backward(ctx, &p), NST_OK, "dx NULL means not needed");
    p.std[1] = 0.0f;
    cr_assert_eq(nst_input_convert_forward(ctx, &p), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "std") != NULL, "%s", nst_last_error(ctx));
    p.std[1] = 1.0f;
    nst_tensor ybad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 2, 2, 3);
    p.y = &ybad;
    cr_assert_eq(nst_input_convert_forward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "input_convert_forward") != NULL, "%s",
              nst_last_error(ctx));
    nst_tensor dxbad = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dx, 1, 1, 3, 4);
    p.dx = &dxbad;
    cr_assert_eq(nst_input_convert_backward(ctx, &p), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "dx") != NULL, "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}
