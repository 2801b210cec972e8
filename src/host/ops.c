/* The op table's metadata and the dispatch through the context's backend (include/nstyle/ops.h).
 * Also the small pieces of op parameters every backend shares (Adam step constants, input
 * conventions), so no backend computes them its own way. Tested by tests/test_ops_table.c. */
#include <math.h>
#include <string.h>

#include "internal.h"

static const nst_op_info op_infos[NST_OP_COUNT] = {
#define NST__OP_INFO(E, name, P) [NST_OP_##E] = {#name, #P, sizeof(P)},
    NST_OP_LIST(NST__OP_INFO)
#undef NST__OP_INFO
};

const nst_op_info *nst_op_get_info(nst_op op) {
    return (unsigned)op < NST_OP_COUNT ? &op_infos[op] : NULL;
}

nst_op nst_op_from_name(const char *name) {
    for (int i = 0; i < NST_OP_COUNT; i++)
        if (strcmp(op_infos[i].name, name) == 0)
            return (nst_op)i;
    return NST_OP_COUNT;
}

static const nst__backend *backend_for(nst_backend_kind kind) {
    if (kind == NST_BACKEND_CPU)
        return &nst__cpu_backend;
#ifdef NST_HAVE_CUDA
    if (kind == NST_BACKEND_CUDA)
        return &nst__cuda_backend;
#endif
    return NULL;
}

bool nst_op_supported_on(nst_backend_kind backend, nst_op op) {
    const nst__backend *be = backend_for(backend);
    return be && (unsigned)op < NST_OP_COUNT && be->ops[op] != NULL;
}

bool nst_op_supported(const nst_ctx *ctx, nst_op op) {
    return (unsigned)op < NST_OP_COUNT && ctx->backend->ops[op] != NULL;
}

nst_status nst_op_run(nst_ctx *ctx, nst_op op, const void *params) {
    if ((unsigned)op >= NST_OP_COUNT)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "unknown op %d", (int)op);
    if (!params)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: params is NULL", op_infos[op].name);
    nst__op_fn fn = ctx->backend->ops[op];
    if (!fn)
        return NST__ERR(ctx, NST_ERR_UNSUPPORTED, "op %s has no implementation on backend %s",
                        op_infos[op].name, ctx->backend->name);
    return fn(ctx, params);
}

nst_adam_step nst_adam_step_make(double lr, double beta1, double beta2, double eps,
                                 double weight_decay, long t) {
    nst_adam_step s;
    s.lr = (float)lr;
    s.beta1 = (float)beta1;
    s.beta2 = (float)beta2;
    s.eps = (float)eps;
    s.weight_decay = (float)weight_decay;
    s.one_minus_beta1 = (float)(1.0 - beta1);
    s.one_minus_beta2 = (float)(1.0 - beta2);
    s.bias_correction1 = (float)(1.0 - pow(beta1, (double)t));
    s.bias_correction2_sqrt = (float)sqrt(1.0 - pow(beta2, (double)t));
    return s;
}

static const char *const convention_names[NST_INPUT_CONVENTION_COUNT] = {
    [NST_INPUT_RGB_0_1_IMAGENET_NORM] = "rgb-0-1-imagenet-norm",
    [NST_INPUT_BGR_0_255_MINUS_MEAN] = "bgr-0-255-minus-mean",
    [NST_INPUT_RGB_0_255] = "rgb-0-255",
};

nst_status nst_input_convention_from_name(const char *name, nst_input_convention *out) {
    for (int i = 0; i < NST_INPUT_CONVENTION_COUNT; i++) {
        if (name && strcmp(name, convention_names[i]) == 0) {
            *out = (nst_input_convention)i;
            return NST_OK;
        }
    }
    return NST_ERR_INVALID_ARG;
}

nst_input_convert_params nst_input_convert_params_for(nst_input_convention conv) {
    nst_input_convert_params p;
    memset(&p, 0, sizeof p);
    p.mul = 1.0f;
    for (int c = 0; c < 3; c++)
        p.std[c] = 1.0f;
    switch (conv) {
    case NST_INPUT_RGB_0_1_IMAGENET_NORM:
        p.mean[0] = 0.485f, p.mean[1] = 0.456f, p.mean[2] = 0.406f;
        p.std[0] = 0.229f, p.std[1] = 0.224f, p.std[2] = 0.225f;
        break;
    case NST_INPUT_BGR_0_255_MINUS_MEAN: /* Caffe/Oxford VGG means, B G R */
        p.swap_rb = true;
        p.mul = 255.0f;
        p.mean[0] = 103.939f, p.mean[1] = 116.779f, p.mean[2] = 123.68f;
        break;
    case NST_INPUT_RGB_0_255:
    default:
        p.mul = 255.0f;
        break;
    }
    return p;
}
