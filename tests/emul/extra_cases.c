/* Extra argument sets for the kernels' ops (extra_cases.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "math/grid_math.h"
#include "extra_cases.h"
#include "test_support.h"

enum { FILL_UNIFORM, FILL_NAN, FILL_POSITIVE, FILL_TIES, FILL_WIDE, FILL_LOGITS };

static nst_tensor *tensor(nst_test_op_case *c, nst_test_rng *r, int fill, const int64_t *dims,
                          int ndim) {
    const int i = c->n_tensors++;
    if (i >= NST_TEST_CASE_TENSORS) {
        fprintf(stderr, "extra case %s: too many tensors\n", c->what);
        abort();
    }
    nst_tensor *t = &c->t[i];
    *t = nst_tensor_make(NST_F32, NST_BACKEND_CPU, NULL, ndim, dims);
    const size_t bytes = nst_tensor_bytes(t), n = (size_t)nst_tensor_numel(t);
    unsigned char *b = malloc(bytes + 2 * NST_TEST_GUARD_BYTES);
    if (!b)
        abort();
    memset(b, NST_TEST_GUARD_BYTE, bytes + 2 * NST_TEST_GUARD_BYTES);
    c->block[i] = b;
    float *x = (float *)(b + NST_TEST_GUARD_BYTES);
    t->data = x;
    for (size_t k = 0; k < n; k++) {
        if (fill == FILL_NAN)
            x[k] = NAN;
        else if (fill == FILL_POSITIVE)
            x[k] = (float)nst_test_rng_uniform(r, 0.5, 2.0);
        else if (fill == FILL_WIDE) /* sample points well beyond [-1, 1]: every padding rule */
            x[k] = (float)nst_test_rng_uniform(r, -1.7, 1.7);
        else if (fill == FILL_LOGITS) /* sigmoid's inputs: saturating both ways in float */
            x[k] = (float)nst_test_rng_uniform(r, -90.0, 90.0);
        else if (fill == FILL_TIES) /* five values only: windows with equal maxima are common */
            x[k] = (float)((int)nst_test_rng_uniform(r, 0.0, 5.0) - 2) * 0.5f;
        else
            x[k] = (float)nst_test_rng_uniform(r, -1.0, 1.0);
    }
    return t;
}

/* g (N, H, W, 2) := F.affine_grid of the identity theta, align_corners false: with border padding
 * the first row and column land exactly on the clip border, where the gradient multiplier is 0
 * only when the unnormalising rounds as the CPU does (tests/emul/emul_rounding.c). */
static void identity_grid(nst_tensor *g) {
    const int64_t N = g->shape[0], H = g->shape[1], W = g->shape[2];
    float *p = g->data;
    for (int64_t i = 0; i < N * H * W; i++) {
        p[2 * i + 0] = nst__affine_base(i % W, W, false);
        p[2 * i + 1] = nst__affine_base((i / W) % H, H, false);
    }
}

#define D(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define U(...) tensor(c, &r, FILL_UNIFORM, D(__VA_ARGS__)) /* an input */
#define O(...) tensor(c, &r, FILL_NAN, D(__VA_ARGS__))     /* an output, NaN until written */
#define POS(...) tensor(c, &r, FILL_POSITIVE, D(__VA_ARGS__))
#define TIES(...) tensor(c, &r, FILL_TIES, D(__VA_ARGS__))
#define WIDE(...) tensor(c, &r, FILL_WIDE, D(__VA_ARGS__))
#define LOGITS(...) tensor(c, &r, FILL_LOGITS, D(__VA_ARGS__))

enum { MAX_CASES = 100 };

static nst_test_op_case *next_case(nst_test_op_case *cases, int *n, nst_op op, const char *what) {
    if (*n >= MAX_CASES) {
        fprintf(stderr, "extra cases: more than %d\n", MAX_CASES);
        abort();
    }
    nst_test_op_case *c = &cases[(*n)++];
    memset(c, 0, sizeof *c);
    c->op = op;
    snprintf(c->what, sizeof c->what, "%s %s", nst_op_get_info(op)->name, what);
    return c;
}

nst_test_op_case *nst_test_extra_cases(int *count) {
    nst_test_op_case *cases = calloc(MAX_CASES, sizeof *cases);
    if (!cases)
        abort();
    int n = 0;
    nst_test_rng r = nst_test_rng_seed(4242);
    nst_test_op_case *c;
#define CASE(op, what) c = next_case(cases, &n, NST_OP_##op, what)
    CASE(RELU_FORWARD, "float4 path, 1001 elements");
    c->p.relu = (nst_relu_params){.x = U(7, 11, 13), .y = O(7, 11, 13)};
    CASE(RELU_BACKWARD, "float4 path");
    c->p.relu = (nst_relu_params){.x = U(3, 4, 5, 8), .dy = U(3, 4, 5, 8), .dx = O(3, 4, 5, 8)};
    CASE(POOL2X2_FORWARD, "avg, odd size");
    c->p.pool = (nst_pool2x2_params){.x = U(2, 7, 9, 3), .y = O(2, 3, 4, 3), .mode = NST_POOL_AVG};
    CASE(POOL2X2_FORWARD, "max, ties, float4 path");
    c->p.pool = (nst_pool2x2_params){.x = TIES(2, 9, 7, 8), .y = O(2, 4, 3, 8), .mode = NST_POOL_MAX};
    CASE(POOL2X2_BACKWARD, "max, ties, odd size");
    c->p.pool = (nst_pool2x2_params){.x = TIES(2, 7, 9, 3), .dy = U(2, 3, 4, 3),
                                     .dx = O(2, 7, 9, 3), .mode = NST_POOL_MAX};
    CASE(POOL2X2_BACKWARD, "max, ties, float4 path");
    c->p.pool = (nst_pool2x2_params){.x = TIES(3, 5, 6, 12), .dy = U(3, 2, 3, 12),
                                     .dx = O(3, 5, 6, 12), .mode = NST_POOL_MAX};
    CASE(POOL2X2_BACKWARD, "avg, float4 path");
    c->p.pool = (nst_pool2x2_params){.dy = U(2, 3, 2, 8), .dx = O(2, 6, 5, 8),
                                     .mode = NST_POOL_AVG};
    CASE(UPSAMPLE2X_FORWARD, "odd channels");
    c->p.upsample = (nst_upsample2x_params){.x = U(3, 5, 3, 7), .y = O(3, 10, 6, 7)};
    CASE(UPSAMPLE2X_BACKWARD, "odd channels");
    c->p.upsample = (nst_upsample2x_params){.dy = U(3, 10, 6, 7), .dx = O(3, 5, 3, 7)};
    CASE(REFLECT_PAD_FORWARD, "4 4 4 4, float4 path");
    c->p.pad = (nst_reflect_pad_params){.x = U(2, 5, 6, 8), .y = O(2, 13, 14, 8), .top = 4,
                                        .bottom = 4, .left = 4, .right = 4};
    CASE(REFLECT_PAD_BACKWARD, "4 4 4 4, float4 path (three copies of some pixels)");
    c->p.pad = (nst_reflect_pad_params){.dy = U(2, 13, 14, 8), .dx = O(2, 5, 6, 8), .top = 4,
                                        .bottom = 4, .left = 4, .right = 4};
    CASE(REFLECT_PAD_BACKWARD, "0 3 2 0");
    c->p.pad = (nst_reflect_pad_params){.dy = U(3, 7, 5, 5), .dx = O(3, 4, 3, 5), .top = 0,
                                        .bottom = 3, .left = 2, .right = 0};
    CASE(INSTANCE_NORM_FORWARD, "no affine, no saved statistics, float4 path");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 5, 6, 8), .y = O(2, 5, 6, 8), .eps = 1e-5f};
    CASE(INSTANCE_NORM_FORWARD, "affine, 3 chunks x 2 tiles (C 40)");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 19, 21, 40), .gamma = U(40), .beta = U(40),
                                           .y = O(2, 19, 21, 40), .mean = O(2, 40),
                                           .rstd = O(2, 40), .eps = 1e-3f};
    CASE(INSTANCE_NORM_FORWARD, "C 3, 2 chunks, offset mean");
    c->p.norm = (nst_instance_norm_params){.x = U(1, 37, 41, 3), .gamma = U(3), .beta = U(3),
                                           .y = O(1, 37, 41, 3), .mean = O(1, 3),
                                           .rstd = O(1, 3), .eps = 1e-5f};
    CASE(INSTANCE_NORM_BACKWARD, "no gamma, 3 chunks x 2 tiles, float4 path");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 19, 21, 40), .mean = U(2, 40),
                                           .rstd = POS(2, 40), .dy = U(2, 19, 21, 40),
                                           .dx = O(2, 19, 21, 40), .dgamma = O(40),
                                           .dbeta = O(40), .eps = 1e-5f};
    CASE(INSTANCE_NORM_BACKWARD, "accumulate, parameter gradients only");
    c->p.norm = (nst_instance_norm_params){.x = U(3, 4, 5, 6), .gamma = U(6), .mean = U(3, 6),
                                           .rstd = POS(3, 6), .dy = U(3, 4, 5, 6),
                                           .dgamma = U(6), .dbeta = U(6), .eps = 1e-5f,
                                           .accumulate = true};
    CASE(ADD, "float4 path with a tail");
    c->p.add = (nst_add_params){.a = U(3, 7, 11), .b = U(3, 7, 11), .y = O(3, 7, 11)};
    CASE(SCALE, "1 element");
    c->p.scale = (nst_scale_params){.x = U(1), .y = O(1), .alpha = -2.5f};
    CASE(AXPY, "float4 path with a tail");
    c->p.scale = (nst_scale_params){.x = U(5, 9, 7), .y = U(5, 9, 7), .alpha = 0.37f};
    CASE(CLAMP, "float4 path");
    c->p.clamp = (nst_clamp_params){.x = U(4, 6, 8), .y = O(4, 6, 8), .lo = 0.0f, .hi = 1.0f};
    CASE(REDUCE_SUM, "65 blocks");
    c->p.reduce = (nst_reduce_params){.x = U(3, 100, 89, 3), .y = O(1)};
    CASE(REDUCE_MEAN, "odd length, one block");
    c->p.reduce = (nst_reduce_params){.x = U(997), .y = O(1)};
    /* grid sampling: every padding mode with align_corners both ways, forward and backward; C 3
     * (one thread per pixel), 6 (8 lanes) and 37 (32 lanes, two channels for some) */
    static const char *const pad_names[3] = {"zeros", "border", "reflection"};
    static const int64_t chans[3] = {3, 6, 37};
    for (int pad = 0; pad < 3; pad++) {
        for (int ac = 0; ac < 2; ac++) {
            char what[64];
            const int64_t C = chans[(pad + ac) % 3];
            snprintf(what, sizeof what, "%s, align_corners %s, C %d", pad_names[pad],
                     ac ? "true" : "false", (int)C);
            CASE(GRID_SAMPLE_FORWARD, what);
            c->p.sample = (nst_grid_sample_params){.x = U(2, 5, 7, C), .grid = WIDE(2, 6, 9, 2),
                                                   .y = O(2, 6, 9, C),
                                                   .padding = (nst_grid_padding)pad,
                                                   .align_corners = ac};
            CASE(GRID_SAMPLE_BACKWARD, what);
            c->p.sample = (nst_grid_sample_params){.x = U(2, 5, 7, C), .grid = WIDE(2, 6, 9, 2),
                                                   .dy = U(2, 6, 9, C), .dx = O(2, 5, 7, C),
                                                   .dgrid = O(2, 6, 9, 2),
                                                   .padding = (nst_grid_padding)pad,
                                                   .align_corners = ac};
        }
    }
    CASE(GRID_SAMPLE_BACKWARD, "dx only, zeros, upsampling (many entries per input pixel)");
    c->p.sample = (nst_grid_sample_params){.x = U(1, 4, 5, 5), .grid = U(1, 17, 19, 2),
                                           .dy = U(1, 17, 19, 5), .dx = O(1, 4, 5, 5)};
    CASE(GRID_SAMPLE_BACKWARD, "dgrid only, border, 2 scan tiles of inputs");
    c->p.sample = (nst_grid_sample_params){.x = U(1, 70, 65, 2), .grid = WIDE(1, 9, 8, 2),
                                           .dy = U(1, 9, 8, 2), .dgrid = O(1, 9, 8, 2),
                                           .padding = NST_PAD_BORDER};
    CASE(GRID_SAMPLE_BACKWARD, "reflection, 2 scan tiles, many blocks");
    c->p.sample = (nst_grid_sample_params){.x = U(1, 70, 65, 3), .grid = WIDE(1, 40, 31, 2),
                                           .dy = U(1, 40, 31, 3), .dx = O(1, 70, 65, 3),
                                           .dgrid = O(1, 40, 31, 2),
                                           .padding = NST_PAD_REFLECTION, .align_corners = true};
    CASE(GRID_SAMPLE_BACKWARD, "border, identity grid 97 x 97 (edge points on the clip border)");
    nst_tensor *identity = U(1, 97, 97, 2);
    identity_grid(identity);
    c->p.sample = (nst_grid_sample_params){.x = U(1, 97, 97, 3), .grid = identity,
                                           .dy = U(1, 97, 97, 3), .dx = O(1, 97, 97, 3),
                                           .dgrid = O(1, 97, 97, 2), .padding = NST_PAD_BORDER};
    CASE(AFFINE_GRID_FORWARD, "align_corners true, 1 x W");
    c->p.affine = (nst_affine_grid_params){.theta = U(3, 2, 3), .grid = O(3, 1, 9, 2),
                                           .align_corners = true};
    CASE(AFFINE_GRID_BACKWARD, "align_corners false, 3 chunks");
    c->p.affine = (nst_affine_grid_params){.dgrid = U(2, 97, 101, 2), .dtheta = O(2, 2, 3)};
    CASE(GRAM_FORWARD, "C 70 (3 tile pairs), 1100 rows (2 chunks)");
    c->p.gram = (nst_gram_params){.x = U(2, 25, 44, 70), .g = O(2, 70, 70)};
    CASE(GRAM_FORWARD, "C 3, 1 row");
    c->p.gram = (nst_gram_params){.x = U(1, 1, 1, 3), .g = O(1, 3, 3)};
    CASE(GRAM_BACKWARD, "C 70, accumulate");
    c->p.gram = (nst_gram_params){.x = U(2, 9, 11, 70), .dg = U(2, 70, 70), .dx = U(2, 9, 11, 70),
                                  .accumulate = true};
    CASE(ADAM, "3 chunks + tail and 1 element, no weight decay");
    c->slots[0] = (nst_adam_slot){.param = U(3, 2731), .grad = U(3, 2731), .m = U(3, 2731),
                                  .v = POS(3, 2731)};
    c->slots[1] = (nst_adam_slot){.param = U(1), .grad = U(1), .m = U(1), .v = POS(1)};
    c->p.adam = (nst_adam_params){c->slots, 2, nst_adam_step_make(1e-3, 0.9, 0.999, 1e-8, 0.0, 1)};
    CASE(ADAM, "an empty slot first, step 1000");
    c->slots[0] = (nst_adam_slot){.param = U(0), .grad = U(0), .m = U(0), .v = U(0)};
    c->slots[1] = (nst_adam_slot){.param = U(4, 33), .grad = U(4, 33), .m = U(4, 33),
                                  .v = POS(4, 33)};
    c->p.adam = (nst_adam_params){c->slots, 2, nst_adam_step_make(0.05, 0.5, 0.99, 1e-6, 0.01, 1000)};
    CASE(MSE_FORWARD, "5 blocks, float4 path with a tail");
    c->p.mse = (nst_mse_params){.a = U(3, 51, 131), .b = U(3, 51, 131), .loss = O(1)};
    CASE(MSE_BACKWARD, "accumulate, odd length");
    c->p.mse = (nst_mse_params){.a = U(7, 13), .b = U(7, 13), .da = U(7, 13), .scale = 0.25f,
                                .accumulate = true};
    CASE(TV_FORWARD, "4 blocks, C 5");
    c->p.tv = (nst_tv_params){.x = U(2, 31, 33, 5), .loss = O(1)};
    CASE(TV_FORWARD, "1 x 1 images");
    c->p.tv = (nst_tv_params){.x = U(3, 1, 1, 2), .loss = O(1)};
    CASE(TV_BACKWARD, "accumulate, H 1");
    c->p.tv = (nst_tv_params){.x = U(2, 1, 7, 3), .dx = U(2, 1, 7, 3), .scale = 2.0f,
                              .accumulate = true};
    CASE(RGB_TO_YUV, "odd pixel count");
    c->p.colour = (nst_colour_params){.x = U(1, 7, 9, 3), .y = O(1, 7, 9, 3)};
    CASE(YUV_TO_RGB, "odd pixel count");
    c->p.colour = (nst_colour_params){.x = U(1, 7, 9, 3), .y = O(1, 7, 9, 3)};
    CASE(INPUT_CONVERT_FORWARD, "rgb-0-1-imagenet-norm");
    c->p.convert = nst_input_convert_params_for(NST_INPUT_RGB_0_1_IMAGENET_NORM);
    c->p.convert.x = U(2, 5, 3, 3), c->p.convert.y = O(2, 5, 3, 3);
    CASE(INPUT_CONVERT_FORWARD, "rgb-0-255");
    c->p.convert = nst_input_convert_params_for(NST_INPUT_RGB_0_255);
    c->p.convert.x = U(2, 5, 3, 3), c->p.convert.y = O(2, 5, 3, 3);
    CASE(INPUT_CONVERT_BACKWARD, "bgr-0-255-minus-mean, accumulate");
    c->p.convert = nst_input_convert_params_for(NST_INPUT_BGR_0_255_MINUS_MEAN);
    c->p.convert.dy = U(2, 5, 3, 3), c->p.convert.dx = U(2, 5, 3, 3);
    c->p.convert.accumulate = true;
    CASE(SIGMOID_FORWARD, "float4 path with a tail, inputs in [-90, 90]");
    c->p.sigmoid = (nst_sigmoid_params){.x = LOGITS(7, 11, 13), .y = O(7, 11, 13)};
    CASE(SIGMOID_BACKWARD, "float4 path");
    c->p.sigmoid = (nst_sigmoid_params){.y = U(3, 4, 5, 8), .dy = U(3, 4, 5, 8),
                                        .dx = O(3, 4, 5, 8)};
    CASE(GLOBAL_AVG_POOL_FORWARD, "3 chunks x 2 tiles (C 40)");
    c->p.gap = (nst_global_avg_pool_params){.x = U(2, 19, 21, 40), .y = O(2, 1, 1, 40)};
    CASE(GLOBAL_AVG_POOL_FORWARD, "C 3, 2 chunks, 1 image");
    c->p.gap = (nst_global_avg_pool_params){.x = U(1, 37, 41, 3), .y = O(1, 1, 1, 3)};
    CASE(GLOBAL_AVG_POOL_BACKWARD, "float4 path, C 40");
    c->p.gap = (nst_global_avg_pool_params){.dy = U(2, 1, 1, 40), .dx = O(2, 7, 9, 40)};
    CASE(GLOBAL_AVG_POOL_BACKWARD, "1 x 1 images");
    c->p.gap = (nst_global_avg_pool_params){.dy = U(3, 1, 1, 5), .dx = O(3, 1, 1, 5)};
    CASE(COND_INSTANCE_NORM_FORWARD, "3 chunks x 2 tiles (C 40), float4 path");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 19, 21, 40), .gamma = U(2, 40),
                                           .beta = U(2, 40), .y = O(2, 19, 21, 40),
                                           .mean = O(2, 40), .rstd = O(2, 40), .eps = 1e-3f};
    CASE(COND_INSTANCE_NORM_BACKWARD, "accumulate, 3 images, 3 chunks x 2 tiles, float4 path");
    c->p.norm = (nst_instance_norm_params){.x = U(3, 19, 21, 40), .gamma = U(3, 40),
                                           .mean = U(3, 40), .rstd = POS(3, 40),
                                           .dy = U(3, 19, 21, 40), .dx = O(3, 19, 21, 40),
                                           .dgamma = U(3, 40), .dbeta = U(3, 40), .eps = 1e-5f,
                                           .accumulate = true};
    CASE(COND_INSTANCE_NORM_BACKWARD, "parameter gradients only");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 4, 5, 6), .gamma = U(2, 6), .mean = U(2, 6),
                                           .rstd = POS(2, 6), .dy = U(2, 4, 5, 6),
                                           .dgamma = O(2, 6), .dbeta = O(2, 6), .eps = 1e-5f};
#undef CASE
    *count = n;
    return cases;
}
