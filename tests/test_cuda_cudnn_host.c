/* The cuDNN host code of the CUDA module without a GPU (cudnnCreate needs one; descriptors do
 * not): the descriptors of every convolution nstyle runs (VGG19's 3x3 pad 1 layers at 768x512,
 * the TransformerNet's 9x9 s1, 3x3 s2 and 3x3 s1 convolutions after reflection padding, the
 * STN's 7x7, 5x5 and 3x3 without padding, MobileNet v2's depthwise 3x3 as grouped
 * convolutions) with cuDNN's own output size
 * (cudnnGetConvolutionNdForwardOutputDim) against sizes worked out here, NHWC strides and the
 * NHWC filter format; the algorithm selection (workspace limit, determinism, TF32, no
 * conversion to half precision, the math type reset before each direction's query) through a
 * fake function table standing in for cudnnGet*Algorithm_v7; and the fused bias+ReLU forward's
 * fallback through the candidates and to the unfused path, through a fake call table. Links
 * libnstyle_cuda.so. */
#include <criterion/criterion.h>
#include <string.h>

#include "test_support.h"

#ifndef NST_HAVE_CUDA
Test(cudnn_host, needs_the_cuda_module) {
    cr_skip_test("CPU-only build (NST_CUDA=OFF or no CUDA toolkit): no cuDNN host code to test");
}
#else
#include "host/cuda/conv2d_cudnn.h"

/* The module's calls into the library (error messages) are wired when it is loaded. */
static nst_ctx *module_ctx(void) {
    char line[1024];
    cr_assert_eq(nst_cuda_libraries(line, sizeof line), NST_OK, "%s", line);
    return nst_test_cpu_ctx();
}

typedef struct {
    nst__conv_shape s;
    int ho, wo; /* expected, worked out by hand */
    const char *name;
} conv_case;

static void check_descriptors(nst_ctx *ctx, const conv_case *c) {
    nst__conv_descs d;
    cr_assert_eq(nst__cudnn_conv_descs_make(ctx, &c->s, CUDNN_FMA_MATH, &d), NST_OK, "%s: %s",
                 c->name, nst_last_error(ctx));
    cr_assert_eq(d.ho, c->ho, "%s: ho %d, expected %d", c->name, d.ho, c->ho);
    cr_assert_eq(d.wo, c->wo, "%s: wo %d, expected %d", c->name, d.wo, c->wo);
    /* cuDNN's own answer, asked again here */
    int dims[4];
    cr_assert_eq(cudnnGetConvolutionNdForwardOutputDim(d.conv, d.x, d.w, 4, dims),
                 CUDNN_STATUS_SUCCESS);
    cr_assert(dims[0] == c->s.n && dims[1] == c->s.cout && dims[2] == c->ho && dims[3] == c->wo,
              "%s: cuDNN says (%d, %d, %d, %d)", c->name, dims[0], dims[1], dims[2], dims[3]);
    /* y is NHWC: channels innermost */
    cudnnDataType_t dt;
    int n, ch, h, w, ns, cs, hs, ws;
    cr_assert_eq(cudnnGetTensor4dDescriptor(d.y, &dt, &n, &ch, &h, &w, &ns, &cs, &hs, &ws),
                 CUDNN_STATUS_SUCCESS);
    cr_assert(dt == CUDNN_DATA_FLOAT && n == c->s.n && ch == c->s.cout && h == c->ho &&
              w == c->wo, "%s", c->name);
    cr_assert(cs == 1 && ws == c->s.cout && hs == c->wo * c->s.cout && ns == c->ho * c->wo * ch,
              "%s: strides n %d c %d h %d w %d", c->name, ns, cs, hs, ws);
    cr_assert_eq(cudnnGetTensor4dDescriptor(d.x, &dt, &n, &ch, &h, &w, &ns, &cs, &hs, &ws),
                 CUDNN_STATUS_SUCCESS);
    cr_assert(cs == 1 && ws == c->s.cin && hs == c->s.w * c->s.cin, "%s: x strides", c->name);
    /* the filter is (Cout, KH, KW, Cin / groups) = cuDNN's NHWC filter format: dwconv2d's
     * (C, KH, KW, 1) with C groups */
    const int groups = c->s.groups > 1 ? c->s.groups : 1;
    cudnnTensorFormat_t fmt;
    int k, fc, fh, fw;
    cr_assert_eq(cudnnGetFilter4dDescriptor(d.w, &dt, &fmt, &k, &fc, &fh, &fw),
                 CUDNN_STATUS_SUCCESS);
    cr_assert(fmt == CUDNN_TENSOR_NHWC && k == c->s.cout && fc == c->s.cin / groups &&
              fh == c->s.kh && fw == c->s.kw, "%s: filter", c->name);
    int g = 0;
    cr_assert_eq(cudnnGetConvolutionGroupCount(d.conv, &g), CUDNN_STATUS_SUCCESS);
    cr_assert_eq(g, groups, "%s: %d groups, expected %d", c->name, g, groups);
    int ph, pw, sh, sw, dh, dw;
    cudnnConvolutionMode_t mode;
    cudnnDataType_t cdt;
    cr_assert_eq(cudnnGetConvolution2dDescriptor(d.conv, &ph, &pw, &sh, &sw, &dh, &dw, &mode, &cdt),
                 CUDNN_STATUS_SUCCESS);
    cr_assert(ph == c->s.pad && pw == c->s.pad && sh == c->s.stride && sw == c->s.stride &&
              dh == 1 && dw == 1 && mode == CUDNN_CROSS_CORRELATION && cdt == CUDNN_DATA_FLOAT,
              "%s: convolution", c->name);
    nst__cudnn_conv_descs_free(&d);
}

Test(cudnn_host, vgg19_convolutions_at_768x512) {
    nst_ctx *ctx = module_ctx();
    /* (H, W, Cin, Cout) of the 16 layers; a 2x2 pool halves H and W after conv1_2, 2_2, 3_4, 4_4 */
    static const int layers[16][2] = {{3, 64},    {64, 64},   {64, 128},  {128, 128},
                                      {128, 256}, {256, 256}, {256, 256}, {256, 256},
                                      {256, 512}, {512, 512}, {512, 512}, {512, 512},
                                      {512, 512}, {512, 512}, {512, 512}, {512, 512}};
    static const int height[16] = {512, 512, 256, 256, 128, 128, 128, 128,
                                   64,  64,  64,  64,  32,  32,  32,  32};
    for (int i = 0; i < 16; i++) {
        const int h = height[i], w = h * 768 / 512;
        conv_case c = {{1, h, w, layers[i][0], layers[i][1], 3, 3, 1, 1, 1}, h, w, "vgg19"};
        check_descriptors(ctx, &c);
    }
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, transformer_net_convolutions_after_reflection_padding) {
    nst_ctx *ctx = module_ctx();
    /* 768x512 input; each conv sees its input reflection-padded by kernel/2, then pad 0 */
    static const conv_case cases[] = {
        {{1, 512 + 8, 768 + 8, 3, 32, 9, 9, 1, 0, 1}, 512, 768, "conv1 9x9 s1"},
        {{1, 512 + 2, 768 + 2, 32, 64, 3, 3, 2, 0, 1}, 256, 384, "conv2 3x3 s2"},
        {{1, 256 + 2, 384 + 2, 64, 128, 3, 3, 2, 0, 1}, 128, 192, "conv3 3x3 s2"},
        {{1, 128 + 2, 192 + 2, 128, 128, 3, 3, 1, 0, 1}, 128, 192, "residual 3x3 s1"},
        {{1, 256 + 2, 384 + 2, 128, 64, 3, 3, 1, 0, 1}, 256, 384, "deconv1 3x3 s1 after x2"},
        {{1, 512 + 2, 768 + 2, 64, 32, 3, 3, 1, 0, 1}, 512, 768, "deconv2 3x3 s1 after x2"},
        {{1, 512 + 8, 768 + 8, 32, 3, 9, 9, 1, 0, 1}, 512, 768, "deconv3 9x9 s1"},
        /* odd sizes: the stride-2 floor */
        {{2, 101 + 2, 77 + 2, 32, 64, 3, 3, 2, 0, 1}, 51, 39, "conv2 at 77x101"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_descriptors(ctx, &cases[i]);
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, stn_localisation_convolutions) {
    nst_ctx *ctx = module_ctx();
    /* 48x48 -> 7x7 -> 42, pool 21 -> 5x5 -> 17, pool 8 -> 3x3 -> 6: 10 * 6 * 6 = 360 */
    static const conv_case cases[] = {
        {{4, 48, 48, 3, 8, 7, 7, 1, 0, 1}, 42, 42, "stn 7x7"},
        {{4, 21, 21, 8, 10, 5, 5, 1, 0, 1}, 17, 17, "stn 5x5"},
        {{4, 8, 8, 10, 10, 3, 3, 1, 0, 1}, 6, 6, "stn 3x3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_descriptors(ctx, &cases[i]);
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, mobilenet_v2_depthwise_convolutions_as_grouped_ones) {
    nst_ctx *ctx = module_ctx();
    /* the style predictor at 256x256: each depthwise 3x3 pad 1, groups = channels */
    static const conv_case cases[] = {
        {{1, 128, 128, 32, 32, 3, 3, 1, 1, 32}, 128, 128, "dw 32 s1"},
        {{1, 128, 128, 96, 96, 3, 3, 2, 1, 96}, 64, 64, "dw 96 s2"},
        {{1, 64, 64, 144, 144, 3, 3, 1, 1, 144}, 64, 64, "dw 144 s1"},
        {{1, 64, 64, 144, 144, 3, 3, 2, 1, 144}, 32, 32, "dw 144 s2"},
        {{1, 32, 32, 192, 192, 3, 3, 2, 1, 192}, 16, 16, "dw 192 s2"},
        {{1, 16, 16, 384, 384, 3, 3, 1, 1, 384}, 16, 16, "dw 384 s1"},
        {{1, 16, 16, 576, 576, 3, 3, 2, 1, 576}, 8, 8, "dw 576 s2"},
        {{1, 8, 8, 960, 960, 3, 3, 1, 1, 960}, 8, 8, "dw 960 s1"},
        /* the shared op cases' odd shapes: stride 2 floor, batch 2 */
        {{2, 7, 9, 3, 3, 3, 3, 2, 1, 3}, 4, 5, "dw 3 at 7x9 s2"},
        {{2, 7, 9, 5, 5, 3, 3, 1, 1, 5}, 7, 9, "dw 5 at 7x9 s1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_descriptors(ctx, &cases[i]);
    /* the text that names a shape in messages shows the grouped filter */
    char text[128];
    cr_assert_str_eq(nst__conv_shape_text(&cases[1].s, text, sizeof text),
                     "(1, 128, 128, 96) * (96, 3, 3, 1) stride 2 pad 1 groups 96");
    cr_assert_str_eq(nst__conv_shape_text(&(nst__conv_shape){1, 8, 8, 3, 4, 3, 3, 1, 1, 1},
                                          text, sizeof text),
                     "(1, 8, 8, 3) * (4, 3, 3, 3) stride 1 pad 1");
    /* groups that do not divide the channels are refused, naming the shape */
    nst__conv_descs d;
    const nst__conv_shape bad = {1, 8, 8, 6, 6, 3, 3, 1, 1, 4};
    cr_assert_eq(nst__cudnn_conv_descs_make(ctx, &bad, CUDNN_FMA_MATH, &d), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "4 groups do not divide"), "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, a_kernel_larger_than_the_padded_input_is_refused) {
    nst_ctx *ctx = module_ctx();
    nst__conv_shape s = {1, 4, 4, 3, 8, 7, 7, 1, 1, 1};
    nst__conv_descs d;
    cr_assert_eq(nst__cudnn_conv_descs_make(ctx, &s, CUDNN_FMA_MATH, &d), NST_ERR_SHAPE);
    cr_assert(strstr(nst_last_error(ctx), "(1, 4, 4, 3) * (8, 7, 7, 3)"), "%s",
              nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

/* ---- algorithm selection through a fake table ------------------------------------------------ */

typedef struct {
    nst__conv_algo_perf perf[8];
    int n;
    size_t exact_extra;     /* added to each candidate's reported workspace by the exact query */
    int workspace_queries;  /* how many exact queries were made */
    bool fail_candidates;
    char calls[64];         /* 'b' begin, 'c' candidates, 'w' workspace, in order */
    bool begin_tf32;        /* what the last begin was told */
} fake_cudnn;

static void fake_log(fake_cudnn *f, char c) {
    size_t n = strlen(f->calls);
    if (n + 1 < sizeof f->calls)
        f->calls[n] = c, f->calls[n + 1] = '\0';
}

static nst_status fake_begin(nst_ctx *ctx, void *user, nst__conv_kind kind,
                             const nst__conv_algo_rules *rules) {
    fake_cudnn *f = user;
    (void)ctx, (void)kind;
    fake_log(f, 'b');
    f->begin_tf32 = rules->allow_tf32;
    return NST_OK;
}

static nst_status fake_candidates(nst_ctx *ctx, void *user, nst__conv_kind kind,
                                  nst__conv_algo_perf *perf, int max, int *n) {
    fake_cudnn *f = user;
    (void)kind;
    fake_log(f, 'c');
    if (f->fail_candidates)
        return nst__error(ctx, NST_ERR_CUDA, "fake", 1, "cudnnGet: CUDNN_STATUS_BAD_PARAM");
    *n = f->n < max ? f->n : max;
    memcpy(perf, f->perf, (size_t)*n * sizeof *perf);
    return NST_OK;
}

static nst_status fake_workspace(nst_ctx *ctx, void *user, nst__conv_kind kind,
                                 const nst__conv_algo_perf *c, size_t *bytes) {
    fake_cudnn *f = user;
    (void)ctx, (void)kind;
    f->workspace_queries++;
    fake_log(f, 'w');
    *bytes = c->workspace + f->exact_extra;
    return NST_OK;
}

static const nst__conv_algo_api fake_api = {fake_begin, fake_candidates, fake_workspace};

#define MiB ((size_t)1 << 20)
/* algo, ok, workspace, deterministic, tensor_op */
#define CAND(a, ok, ws, det, tc) {(a), (ok), (ws), (det), (tc), (tc) ? 1 : 3, 0.1f, false}

static nst_status pick(nst_ctx *ctx, fake_cudnn *f, size_t limit, bool det, bool tf32,
                       nst__conv_algo_choice *c) {
    const nst__conv_algo_rules r = {limit, det, tf32};
    return nst__conv_algo_select(ctx, &fake_api, f, NST__CONV_BACKWARD_FILTER, &r,
                                 "conv2d_backward_filter (1, 8, 8, 3) * (4, 3, 3, 3)", c);
}

Test(cudnn_host, selection_keeps_cudnn_order_within_the_workspace_limit) {
    nst_ctx *ctx = module_ctx();
    fake_cudnn f = {{CAND(1, true, 1024 * MiB, true, false), CAND(0, true, 100 * MiB, true, false),
                     CAND(3, true, 0, true, false)}, 3, 0, 0, false, "", false};
    nst__conv_algo_choice c;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, false, true, &c), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(c.algo, 0, "the first candidate under 512 MiB");
    cr_assert_eq(c.workspace, 100 * MiB, "the exact query's bytes");
    cr_assert_eq(pick(ctx, &f, 2048 * MiB, false, true, &c), NST_OK);
    cr_assert_eq(c.algo, 1, "with room, cuDNN's first choice");
    cr_assert_eq(pick(ctx, &f, 1, false, true, &c), NST_OK);
    cr_assert_eq(c.algo, 3);
    cr_assert_eq(c.workspace, 0u);
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, selection_filters_determinism_tf32_and_failures) {
    nst_ctx *ctx = module_ctx();
    fake_cudnn f = {{CAND(5, false, 0, true, false), CAND(0, true, 0, false, false),
                     CAND(4, true, MiB, true, true), CAND(1, true, 2 * MiB, true, false)},
                    4, 0, 0, false, "", false};
    nst__conv_algo_choice c;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, false, true, &c), NST_OK);
    cr_assert_eq(c.algo, 0, "a failed candidate is passed over");
    cr_assert_eq(pick(ctx, &f, 512 * MiB, true, true, &c), NST_OK);
    cr_assert_eq(c.algo, 4, "deterministic only");
    cr_assert(c.tensor_op);
    cr_assert_eq(pick(ctx, &f, 512 * MiB, true, false, &c), NST_OK);
    cr_assert_eq(c.algo, 1, "deterministic and no TF32");
    cr_assert(!c.tensor_op);
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, exact_workspace_over_the_limit_moves_to_the_next) {
    nst_ctx *ctx = module_ctx();
    fake_cudnn f = {{CAND(2, true, 500 * MiB, true, false), CAND(6, true, 0, true, false)}, 2,
                    20 * MiB, 0, false, "", false};
    nst__conv_algo_choice c;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, false, true, &c), NST_OK);
    cr_assert_eq(c.algo, 6);
    cr_assert_eq(c.workspace, 20 * MiB);
    cr_assert_eq(f.workspace_queries, 2);
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, nothing_passes_names_every_candidate_and_the_setting) {
    nst_ctx *ctx = module_ctx();
    fake_cudnn f = {{CAND(0, true, 0, false, false), CAND(1, true, 900 * MiB, true, false)}, 2, 0,
                    0, false, "", false};
    nst__conv_algo_choice c;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, true, true, &c), NST_ERR_UNSUPPORTED);
    const char *msg = nst_last_error(ctx);
    cr_assert(strstr(msg, "conv2d_backward_filter (1, 8, 8, 3)"), "%s", msg);
    cr_assert(strstr(msg, "algorithm 0: not deterministic"), "%s", msg);
    cr_assert(strstr(msg, "algorithm 1: workspace 900.0 MiB over the limit of 512.0 MiB"), "%s",
              msg);
    cr_assert(strstr(msg, "Raise --workspace-limit or turn deterministic mode off"), "%s", msg);
    f.n = 0;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, false, true, &c), NST_ERR_UNSUPPORTED);
    cr_assert(strstr(nst_last_error(ctx), "cuDNN listed none"), "%s", nst_last_error(ctx));
    f.fail_candidates = true;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, false, true, &c), NST_ERR_CUDA);
    cr_assert(strstr(nst_last_error(ctx), "CUDNN_STATUS_BAD_PARAM"), "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, the_math_type_is_reset_before_each_directions_query) {
    nst_ctx *ctx = module_ctx();
    fake_cudnn f = {{CAND(1, true, 0, true, true), CAND(0, true, 0, true, false)}, 2, 0, 0, false,
                    "", false};
    nst__conv_algo_choice c;
    const nst__conv_algo_rules tf32 = {512 * MiB, false, true}, strict = {512 * MiB, false, false};
    for (int kind = 0; kind < NST__CONV_KINDS; kind++) {
        f.calls[0] = '\0';
        const nst__conv_algo_rules *r = kind == 1 ? &strict : &tf32;
        cr_assert_eq(nst__conv_algo_select(ctx, &fake_api, &f, (nst__conv_kind)kind, r, "conv", &c),
                     NST_OK, "%s", nst_last_error(ctx));
        /* begin, then the list, then the exact workspace of each that passes */
        cr_assert_str_eq(f.calls, kind == 1 ? "bcw" : "bcww", "kind %d: calls %s", kind, f.calls);
        cr_assert_eq(f.begin_tf32, r->allow_tf32);
    }
    /* the real reset on real descriptors: a tensor-op type left by a workspace query goes */
    nst__conv_shape s = {1, 16, 16, 8, 8, 3, 3, 1, 1, 1};
    nst__conv_descs d;
    cr_assert_eq(nst__cudnn_conv_descs_make(ctx, &s, CUDNN_FMA_MATH, &d), NST_OK);
    cudnnMathType_t m;
    for (int allow = 0; allow < 2; allow++) {
        cr_assert_eq(cudnnSetConvolutionMathType(d.conv, CUDNN_TENSOR_OP_MATH), CUDNN_STATUS_SUCCESS);
        cr_assert_eq(nst__cudnn_conv_math_reset(ctx, &d, allow, "conv"), NST_OK);
        cr_assert_eq(cudnnGetConvolutionMathType(d.conv, &m), CUDNN_STATUS_SUCCESS);
        cr_assert_eq(m, allow ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, "allow %d: math %d", allow,
                     (int)m);
    }
    nst__cudnn_conv_descs_free(&d);
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, conversion_to_half_precision_is_refused_for_f32) {
    nst_ctx *ctx = module_ctx();
    fake_cudnn f = {{CAND(7, true, 0, true, true), CAND(1, true, 0, true, true)}, 2, 0, 0, false,
                    "", false};
    f.perf[0].converts = true;
    f.perf[0].math_type = (int)CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    nst__conv_algo_choice c;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, false, true, &c), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(c.algo, 1, "the converting candidate is passed over, even with TF32 on");
    f.n = 1;
    cr_assert_eq(pick(ctx, &f, 512 * MiB, false, true, &c), NST_ERR_UNSUPPORTED);
    cr_assert(strstr(nst_last_error(ctx), "algorithm 7: converts F32 data to half precision"), "%s",
              nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

/* ---- the fused bias+ReLU forward's fallback, through a fake call table ----------------------- */

typedef struct {
    int fused_status[4]; /* cuDNN's answer to the fused call with candidate i */
    char tried[16];      /* the candidates' algorithms the fused call was tried with, in order */
    int unfused_algo;    /* the algorithm the unfused path ran with, -1 if it did not run */
    nst_status unfused_result;
    bool fused_hard_failure;
} fake_fwd;

static nst_status fake_fused(nst_ctx *ctx, void *user, const nst__conv_algo_choice *c, int *st) {
    fake_fwd *f = user;
    size_t n = strlen(f->tried);
    f->tried[n] = (char)('0' + c->algo);
    f->tried[n + 1] = '\0';
    if (f->fused_hard_failure)
        return nst__error(ctx, NST_ERR_CUDA, "fake", 1, "cudaMemsetAsync: an illegal address");
    *st = f->fused_status[c->algo];
    return NST_OK;
}

static nst_status fake_unfused(nst_ctx *ctx, void *user, const nst__conv_algo_choice *c) {
    fake_fwd *f = user;
    f->unfused_algo = c->algo;
    if (f->unfused_result != NST_OK)
        return nst__error(ctx, f->unfused_result, "fake", 1, "cudnnConvolutionForward failed");
    return NST_OK;
}

static const nst__conv_fwd_api fake_fwd_api = {fake_fused, fake_unfused};

/* Candidates 0..3 (algorithm = index), workspace 0, 1, 2, 3 MiB. */
static void four_candidates(nst__conv_algo_choice c[4]) {
    for (int i = 0; i < 4; i++)
        c[i] = (nst__conv_algo_choice){i, 3, false, (size_t)i * MiB};
}

static void reset(fake_fwd *f) {
    f->tried[0] = '\0';
    f->unfused_algo = -1;
}

Test(cudnn_host, fused_forward_falls_back_through_the_candidates) {
    nst_ctx *ctx = module_ctx();
    nst__conv_algo_choice c[4];
    four_candidates(c);
    /* the first refuses (CUDNN_STATUS_NOT_SUPPORTED), the second runs */
    fake_fwd f = {{9, 0, 0, 0}, "", -1, NST_OK, false};
    int state = NST__FUSED_UNTRIED;
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 3 * MiB, true, &state),
                 NST_OK, "%s", nst_last_error(ctx));
    cr_assert_str_eq(f.tried, "01");
    cr_assert_eq(f.unfused_algo, -1, "the fused call ran: no unfused path");
    cr_assert_eq(state, 1);
    /* later calls go straight to the one that ran */
    reset(&f);
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 3 * MiB, true, &state),
                 NST_OK);
    cr_assert_str_eq(f.tried, "1");
    /* a candidate whose workspace is over the planned scratch is never tried */
    f = (fake_fwd){{9, 9, 0, 0}, "", -1, NST_OK, false};
    state = NST__FUSED_UNTRIED;
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 1 * MiB, true, &state),
                 NST_OK);
    cr_assert_str_eq(f.tried, "01", "candidates 2 and 3 need more than the 1 MiB planned");
    cr_assert_eq(f.unfused_algo, 0, "none fit and ran: unfused with the first");
    cr_assert_eq(state, NST__FUSED_NONE);
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, fused_forward_runs_unfused_when_no_candidate_runs) {
    nst_ctx *ctx = module_ctx();
    nst__conv_algo_choice c[4];
    four_candidates(c);
    /* CUDNN_STATUS_NOT_SUPPORTED, _BAD_PARAM, _EXECUTION_FAILED, _NOT_SUPPORTED */
    fake_fwd f = {{9, 3, 8, 9}, "", -1, NST_OK, false};
    int state = NST__FUSED_UNTRIED;
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 3 * MiB, true, &state),
                 NST_OK, "%s", nst_last_error(ctx));
    cr_assert_str_eq(f.tried, "0123");
    cr_assert_eq(f.unfused_algo, 0);
    cr_assert_eq(state, NST__FUSED_NONE);
    /* remembered: the next call tries nothing fused */
    reset(&f);
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 3 * MiB, true, &state),
                 NST_OK);
    cr_assert_str_eq(f.tried, "");
    cr_assert_eq(f.unfused_algo, 0);
    /* the unfused path's own failure is the op's */
    f.unfused_result = NST_ERR_CUDA;
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 3 * MiB, true, &state),
                 NST_ERR_CUDA);
    cr_assert(strstr(nst_last_error(ctx), "cudnnConvolutionForward failed"), "%s",
              nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

Test(cudnn_host, fused_forward_switch_and_hard_failures) {
    nst_ctx *ctx = module_ctx();
    nst__conv_algo_choice c[4];
    four_candidates(c);
    fake_fwd f = {{0, 0, 0, 0}, "", -1, NST_OK, false};
    int state = NST__FUSED_UNTRIED;
    /* the switch off (NSTYLE_CUDNN_FUSED=0): unfused only */
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 3 * MiB, false, &state),
                 NST_OK);
    cr_assert_str_eq(f.tried, "");
    cr_assert_eq(f.unfused_algo, 0);
    /* a CUDA failure around the fused call (not a cuDNN refusal) fails the op, no fallback */
    reset(&f);
    f.fused_hard_failure = true;
    cr_assert_eq(nst__conv_forward_bias_relu(ctx, &fake_fwd_api, &f, c, 4, 3 * MiB, true, &state),
                 NST_ERR_CUDA);
    cr_assert_eq(f.unfused_algo, -1);
    cr_assert(strstr(nst_last_error(ctx), "cudaMemsetAsync"), "%s", nst_last_error(ctx));
    nst_ctx_destroy(ctx);
}

#endif
