/* Argument sets for every op in the table (op_cases.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "op_cases.h"
#include "test_support.h"

typedef enum { FILL_UNIFORM, FILL_NAN, FILL_POSITIVE, FILL_GRID } fill_kind;

/* A host tensor of the case with guard bytes on both sides. */
static nst_tensor *tensor(nst_test_op_case *c, nst_test_rng *r, fill_kind fill, int ndim,
                          const int64_t *dims) {
    cr_assert_lt(c->n_tensors, NST_TEST_CASE_TENSORS, "too many tensors in %s", c->what);
    const int i = c->n_tensors++;
    nst_tensor *t = &c->t[i];
    *t = nst_tensor_make(NST_F32, NST_BACKEND_CPU, NULL, ndim, dims);
    const size_t bytes = nst_tensor_bytes(t), n = (size_t)nst_tensor_numel(t);
    unsigned char *b = malloc(bytes + 2 * NST_TEST_GUARD_BYTES);
    cr_assert_not_null(b);
    memset(b, NST_TEST_GUARD_BYTE, bytes + 2 * NST_TEST_GUARD_BYTES);
    c->block[i] = b;
    float *x = (float *)(b + NST_TEST_GUARD_BYTES);
    t->data = x;
    for (size_t k = 0; k < n; k++) {
        switch (fill) {
        case FILL_NAN:
            x[k] = NAN;
            break;
        case FILL_POSITIVE:
            x[k] = (float)nst_test_rng_uniform(r, 0.5, 2.0);
            break;
        case FILL_GRID:
            x[k] = (float)nst_test_rng_uniform(r, -1.15, 1.15);
            break;
        default:
            x[k] = (float)nst_test_rng_uniform(r, -1.0, 1.0);
            break;
        }
    }
    return t;
}

/* dims as two arguments: the array and its length */
#define D(...) (const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)
static nst_tensor *mk(nst_test_op_case *c, nst_test_rng *r, fill_kind f, const int64_t *dims,
                      size_t ndim) {
    return tensor(c, r, f, (int)ndim, dims);
}
#define U(...) mk(c, &r, FILL_UNIFORM, D(__VA_ARGS__))   /* an input */
#define O(...) mk(c, &r, FILL_NAN, D(__VA_ARGS__))       /* an output, starting as NaN */
#define POS(...) mk(c, &r, FILL_POSITIVE, D(__VA_ARGS__)) /* a positive input */
#define GRID(...) mk(c, &r, FILL_GRID, D(__VA_ARGS__))    /* sample coordinates */

static nst_test_op_case *next_case(nst_test_op_case *cases, int *n, nst_op op, const char *what) {
    nst_test_op_case *c = &cases[(*n)++];
    memset(c, 0, sizeof *c);
    c->op = op;
    snprintf(c->what, sizeof c->what, "%s%s%s", nst_op_get_info(op)->name, *what ? " " : "",
             what);
    return c;
}

nst_test_op_case *nst_test_op_cases(int *count) {
    enum { MAX_CASES = 64 };
    nst_test_op_case *cases = calloc(MAX_CASES, sizeof *cases);
    cr_assert_not_null(cases);
    int n = 0;
    nst_test_rng r = nst_test_rng_seed(2024);
    nst_test_op_case *c;
#define CASE(op, what) c = next_case(cases, &n, NST_OP_##op, what)

    /* x (2, 7, 9, 3), w (5, 3, 3, 3), stride 2, pad 1: y (2, 4, 5, 5) */
    CASE(CONV2D_FORWARD, "stride 2 pad 1 relu");
    c->p.conv2d = (nst_conv2d_params){.x = U(2, 7, 9, 3), .w = U(5, 3, 3, 3), .b = U(5),
                                      .y = O(2, 4, 5, 5), .stride = 2, .pad = 1, .relu = true};
    CASE(CONV2D_FORWARD, "1x1 no bias");
    c->p.conv2d = (nst_conv2d_params){.x = U(3, 5, 4, 6), .w = U(4, 1, 1, 6),
                                      .y = O(3, 5, 4, 4), .stride = 1};
    CASE(CONV2D_BACKWARD_DATA, "stride 2 pad 1");
    c->p.conv2d = (nst_conv2d_params){.dy = U(2, 4, 5, 5), .w = U(5, 3, 3, 3),
                                      .dx = O(2, 7, 9, 3), .stride = 2, .pad = 1};
    CASE(CONV2D_BACKWARD_FILTER, "stride 2 pad 1");
    c->p.conv2d = (nst_conv2d_params){.x = U(2, 7, 9, 3), .w = U(5, 3, 3, 3),
                                      .dy = U(2, 4, 5, 5), .dw = O(5, 3, 3, 3), .db = O(5),
                                      .stride = 2, .pad = 1};
    CASE(RELU_FORWARD, "");
    c->p.relu = (nst_relu_params){.x = U(2, 5, 3, 7), .y = O(2, 5, 3, 7)};
    CASE(RELU_BACKWARD, "");
    c->p.relu = (nst_relu_params){.x = U(2, 5, 3, 7), .dy = U(2, 5, 3, 7), .dx = O(2, 5, 3, 7)};
    CASE(POOL2X2_FORWARD, "max, odd size");
    c->p.pool = (nst_pool2x2_params){.x = U(2, 7, 9, 3), .y = O(2, 3, 4, 3), .mode = NST_POOL_MAX};
    CASE(POOL2X2_BACKWARD, "avg, odd size");
    c->p.pool = (nst_pool2x2_params){.x = U(2, 7, 9, 3), .dy = U(2, 3, 4, 3),
                                     .dx = O(2, 7, 9, 3), .mode = NST_POOL_AVG};
    CASE(UPSAMPLE2X_FORWARD, "");
    c->p.upsample = (nst_upsample2x_params){.x = U(2, 3, 5, 4), .y = O(2, 6, 10, 4)};
    CASE(UPSAMPLE2X_BACKWARD, "");
    c->p.upsample = (nst_upsample2x_params){.dy = U(2, 6, 10, 4), .dx = O(2, 3, 5, 4)};
    CASE(REFLECT_PAD_FORWARD, "1 2 3 2");
    c->p.pad = (nst_reflect_pad_params){.x = U(2, 5, 6, 3), .y = O(2, 8, 11, 3), .top = 1,
                                        .bottom = 2, .left = 3, .right = 2};
    CASE(REFLECT_PAD_BACKWARD, "1 2 3 2");
    c->p.pad = (nst_reflect_pad_params){.dy = U(2, 8, 11, 3), .dx = O(2, 5, 6, 3), .top = 1,
                                        .bottom = 2, .left = 3, .right = 2};
    CASE(INSTANCE_NORM_FORWARD, "affine, saving mean and rstd");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 5, 6, 7), .gamma = U(7), .beta = U(7),
                                           .y = O(2, 5, 6, 7), .mean = O(2, 7), .rstd = O(2, 7),
                                           .eps = 1e-5f};
    CASE(INSTANCE_NORM_BACKWARD, "affine");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 5, 6, 7), .gamma = U(7), .mean = U(2, 7),
                                           .rstd = POS(2, 7), .dy = U(2, 5, 6, 7),
                                           .dx = O(2, 5, 6, 7), .dgamma = O(7), .dbeta = O(7),
                                           .eps = 1e-5f};
    CASE(LINEAR_FORWARD, "relu");
    c->p.linear = (nst_linear_params){.x = U(3, 11), .w = U(5, 11), .b = U(5), .y = O(3, 5),
                                      .relu = true};
    CASE(LINEAR_BACKWARD, "");
    c->p.linear = (nst_linear_params){.x = U(3, 11), .w = U(5, 11), .dy = U(3, 5),
                                      .dx = O(3, 11), .dw = O(5, 11), .db = O(5)};
    CASE(ADD, "");
    c->p.add = (nst_add_params){.a = U(2, 3, 4, 5), .b = U(2, 3, 4, 5), .y = O(2, 3, 4, 5)};
    CASE(SCALE, "");
    c->p.scale = (nst_scale_params){.x = U(2, 3, 4, 5), .y = O(2, 3, 4, 5), .alpha = 0.7f};
    CASE(AXPY, "");
    c->p.scale = (nst_scale_params){.x = U(2, 3, 4, 5), .y = U(2, 3, 4, 5), .alpha = -1.3f};
    CASE(CLAMP, "");
    c->p.clamp = (nst_clamp_params){.x = U(2, 3, 4, 5), .y = O(2, 3, 4, 5), .lo = -0.5f,
                                    .hi = 0.5f};
    CASE(REDUCE_SUM, "");
    c->p.reduce = (nst_reduce_params){.x = U(2, 3, 4, 5), .y = O(1)};
    CASE(REDUCE_MEAN, "");
    c->p.reduce = (nst_reduce_params){.x = U(2, 3, 4, 5), .y = O(1)};
    CASE(ADAM, "two slots, weight decay");
    c->slots[0] = (nst_adam_slot){.param = U(2, 3, 4, 5), .grad = U(2, 3, 4, 5),
                                  .m = U(2, 3, 4, 5), .v = POS(2, 3, 4, 5)};
    c->slots[1] = (nst_adam_slot){.param = U(7), .grad = U(7), .m = U(7), .v = POS(7)};
    c->p.adam = (nst_adam_params){c->slots, 2, nst_adam_step_make(0.01, 0.9, 0.999, 1e-8, 0.1, 3)};
    CASE(AFFINE_GRID_FORWARD, "align_corners false");
    c->p.affine = (nst_affine_grid_params){.theta = U(2, 2, 3), .grid = O(2, 5, 7, 2)};
    CASE(AFFINE_GRID_BACKWARD, "align_corners true");
    c->p.affine = (nst_affine_grid_params){.dgrid = U(2, 5, 7, 2), .dtheta = O(2, 2, 3),
                                           .align_corners = true};
    CASE(GRID_SAMPLE_FORWARD, "border, align_corners false");
    c->p.sample = (nst_grid_sample_params){.x = U(2, 6, 7, 3), .grid = GRID(2, 5, 4, 2),
                                           .y = O(2, 5, 4, 3), .padding = NST_PAD_BORDER};
    CASE(GRID_SAMPLE_BACKWARD, "reflection, align_corners true");
    c->p.sample = (nst_grid_sample_params){.x = U(2, 6, 7, 3), .grid = GRID(2, 5, 4, 2),
                                           .dy = U(2, 5, 4, 3), .dx = O(2, 6, 7, 3),
                                           .dgrid = O(2, 5, 4, 2),
                                           .padding = NST_PAD_REFLECTION, .align_corners = true};
    CASE(GRAM_FORWARD, "");
    c->p.gram = (nst_gram_params){.x = U(2, 5, 6, 7), .g = O(2, 7, 7)};
    CASE(GRAM_BACKWARD, "");
    c->p.gram = (nst_gram_params){.x = U(2, 5, 6, 7), .dg = U(2, 7, 7), .dx = O(2, 5, 6, 7)};
    CASE(MSE_FORWARD, "");
    c->p.mse = (nst_mse_params){.a = U(2, 3, 4, 5), .b = U(2, 3, 4, 5), .loss = O(1)};
    CASE(MSE_BACKWARD, "");
    c->p.mse = (nst_mse_params){.a = U(2, 3, 4, 5), .b = U(2, 3, 4, 5), .da = O(2, 3, 4, 5),
                                .scale = 3.0f};
    CASE(TV_FORWARD, "");
    c->p.tv = (nst_tv_params){.x = U(2, 5, 6, 3), .loss = O(1)};
    CASE(TV_BACKWARD, "");
    c->p.tv = (nst_tv_params){.x = U(2, 5, 6, 3), .dx = O(2, 5, 6, 3), .scale = 0.5f};
    CASE(RGB_TO_YUV, "");
    c->p.colour = (nst_colour_params){.x = U(2, 3, 4, 3), .y = O(2, 3, 4, 3)};
    CASE(YUV_TO_RGB, "");
    c->p.colour = (nst_colour_params){.x = U(2, 3, 4, 3), .y = O(2, 3, 4, 3)};
    CASE(INPUT_CONVERT_FORWARD, "bgr-0-255-minus-mean");
    c->p.convert = nst_input_convert_params_for(NST_INPUT_BGR_0_255_MINUS_MEAN);
    c->p.convert.x = U(2, 3, 4, 3), c->p.convert.y = O(2, 3, 4, 3);
    CASE(INPUT_CONVERT_BACKWARD, "rgb-0-1-imagenet-norm");
    c->p.convert = nst_input_convert_params_for(NST_INPUT_RGB_0_1_IMAGENET_NORM);
    c->p.convert.dy = U(2, 3, 4, 3), c->p.convert.dx = O(2, 3, 4, 3);
    /* x (2, 7, 9, 3), w (3, 3, 3, 1), stride 2, pad 1: y (2, 4, 5, 3) */
    CASE(DWCONV2D_FORWARD, "stride 2 pad 1 relu");
    c->p.conv2d = (nst_conv2d_params){.x = U(2, 7, 9, 3), .w = U(3, 3, 3, 1), .b = U(3),
                                      .y = O(2, 4, 5, 3), .stride = 2, .pad = 1, .relu = true};
    CASE(DWCONV2D_BACKWARD_DATA, "stride 2 pad 1");
    c->p.conv2d = (nst_conv2d_params){.dy = U(2, 4, 5, 3), .w = U(3, 3, 3, 1),
                                      .dx = O(2, 7, 9, 3), .stride = 2, .pad = 1};
    CASE(DWCONV2D_BACKWARD_FILTER, "stride 1 pad 1");
    c->p.conv2d = (nst_conv2d_params){.x = U(2, 7, 9, 5), .w = U(5, 3, 3, 1),
                                      .dy = U(2, 7, 9, 5), .dw = O(5, 3, 3, 1), .db = O(5),
                                      .stride = 1, .pad = 1};
    CASE(SIGMOID_FORWARD, "");
    c->p.sigmoid = (nst_sigmoid_params){.x = U(2, 5, 3, 7), .y = O(2, 5, 3, 7)};
    CASE(SIGMOID_BACKWARD, "");
    c->p.sigmoid = (nst_sigmoid_params){.y = POS(2, 5, 3, 7), .dy = U(2, 5, 3, 7),
                                        .dx = O(2, 5, 3, 7)};
    CASE(GLOBAL_AVG_POOL_FORWARD, "");
    c->p.gap = (nst_global_avg_pool_params){.x = U(2, 5, 6, 7), .y = O(2, 1, 1, 7)};
    CASE(GLOBAL_AVG_POOL_BACKWARD, "");
    c->p.gap = (nst_global_avg_pool_params){.dy = U(2, 1, 1, 7), .dx = O(2, 5, 6, 7)};
    CASE(COND_INSTANCE_NORM_FORWARD, "per-image gamma and beta, saving mean and rstd");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 5, 6, 7), .gamma = U(2, 7), .beta = U(2, 7),
                                           .y = O(2, 5, 6, 7), .mean = O(2, 7), .rstd = O(2, 7),
                                           .eps = 1e-5f};
    CASE(COND_INSTANCE_NORM_BACKWARD, "per-image gamma");
    c->p.norm = (nst_instance_norm_params){.x = U(2, 5, 6, 7), .gamma = U(2, 7), .mean = U(2, 7),
                                           .rstd = POS(2, 7), .dy = U(2, 5, 6, 7),
                                           .dx = O(2, 5, 6, 7), .dgamma = O(2, 7),
                                           .dbeta = O(2, 7), .eps = 1e-5f};
#undef CASE
    cr_assert_leq(n, MAX_CASES);
    *count = n;
    return cases;
}

void nst_test_op_cases_free(nst_test_op_case *cases, int count) {
    for (int i = 0; cases && i < count; i++)
        for (int k = 0; k < cases[i].n_tensors; k++)
            free(cases[i].block[k]);
    free(cases);
}

bool nst_test_op_case_guards_ok(const nst_test_op_case *c) {
    for (int k = 0; k < c->n_tensors; k++) {
        const size_t bytes = nst_tensor_bytes(&c->t[k]);
        const unsigned char *b = c->block[k];
        for (size_t i = 0; i < NST_TEST_GUARD_BYTES; i++) {
            if (b[i] != NST_TEST_GUARD_BYTE ||
                b[NST_TEST_GUARD_BYTES + bytes + i] != NST_TEST_GUARD_BYTE) {
                fprintf(stderr, "%s: a guard byte of tensor %d changed (%s the data)\n", c->what,
                        k, b[i] != NST_TEST_GUARD_BYTE ? "before" : "after");
                return false;
            }
        }
    }
    return true;
}
