/* Extra argument sets for the kernels' ops (extra_cases.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extra_cases.h"
#include "test_support.h"

enum { FILL_UNIFORM, FILL_NAN, FILL_POSITIVE, FILL_TIES };

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
        else if (fill == FILL_TIES) /* five values only: windows with equal maxima are common */
            x[k] = (float)((int)nst_test_rng_uniform(r, 0.0, 5.0) - 2) * 0.5f;
        else
            x[k] = (float)nst_test_rng_uniform(r, -1.0, 1.0);
    }
    return t;
}

#define D(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define U(...) tensor(c, &r, FILL_UNIFORM, D(__VA_ARGS__)) /* an input */
#define O(...) tensor(c, &r, FILL_NAN, D(__VA_ARGS__))     /* an output, NaN until written */
#define POS(...) tensor(c, &r, FILL_POSITIVE, D(__VA_ARGS__))
#define TIES(...) tensor(c, &r, FILL_TIES, D(__VA_ARGS__))

static nst_test_op_case *next_case(nst_test_op_case *cases, int *n, nst_op op, const char *what) {
    nst_test_op_case *c = &cases[(*n)++];
    memset(c, 0, sizeof *c);
    c->op = op;
    snprintf(c->what, sizeof c->what, "%s %s", nst_op_get_info(op)->name, what);
    return c;
}

nst_test_op_case *nst_test_extra_cases(int *count) {
    enum { MAX_CASES = 40 };
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
#undef CASE
    *count = n;
    return cases;
}
