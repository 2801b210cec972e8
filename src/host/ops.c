/* The op table's metadata and the dispatch through the context's backend (include/nstyle/ops.h).
 * With sync_each_op (NSTYLE_CUDA_SYNC=1 on a CUDA context) the dispatch synchronises after every
 * op, so an asynchronous failure is pinned on the op, its shapes and the last launch instead of
 * surfacing at a later, unrelated call. Also the small pieces of op parameters every backend shares (Adam step constants, input
 * conventions), so no backend computes them its own way. Tested by tests/test_ops_table.c. */
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "core.h"

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
    if (kind == NST_BACKEND_CUDA) {
        char why[NST__ERRMSG_SIZE]; /* no context to report to: unsupported, as without CUDA */
        return nst__cuda_backend_get(why, sizeof why);
    }
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

nst_status nst_op_scratch_bytes(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes) {
    *bytes = 0;
    bool nothing;
    NST__TRY(nst__op_check(ctx, op, params, &nothing));
    if (nothing || !ctx->backend->ops[op])
        return NST_OK;
    return ctx->backend->scratch(ctx, op, params, bytes);
}

void nst_ctx_set_scratch(nst_ctx *ctx, void *ptr, size_t bytes) {
    ctx->scratch.base = ptr;
    ctx->scratch.bytes = ptr ? bytes : 0;
}

nst_status nst_ctx_reserve_scratch(nst_ctx *ctx, size_t bytes) {
    if (ctx->scratch.owned && ctx->scratch.base == ctx->scratch.owned &&
        ctx->scratch.bytes >= bytes)
        return NST_OK;
    void *p = NULL;
    NST__TRY(nst_alloc(ctx, bytes, NST_TAG_WORKSPACE, &p));
    nst_free(ctx, ctx->scratch.owned);
    ctx->scratch.owned = p;
    nst_ctx_set_scratch(ctx, p, bytes);
    return NST_OK;
}

nst_status nst__scratch_take(nst_ctx *ctx, const char *op, const char *what, size_t bytes,
                             void **out) {
    *out = NULL;
    if (bytes == 0)
        return NST_OK;
    const size_t need = nst__scratch_bytes(bytes);
    if (need > ctx->scratch.left)
        return NST__ERR(ctx, NST_ERR_INTERNAL,
                        "op %s: %s needs %zu bytes of scratch, but only %zu of the amount the "
                        "backend's scratch query stated are left", op, what, bytes,
                        ctx->scratch.left);
    *out = ctx->scratch.next;
    ctx->scratch.next += need;
    ctx->scratch.left -= need;
    return NST_OK;
}

nst_status nst__scratch_begin(nst_ctx *ctx, const char *op, size_t need) {
    void *base = ctx->scratch.base;
    size_t have = ctx->scratch.bytes;
    const bool in_pass = ctx->pass != NULL;
    if (in_pass)
        nst__pass_scratch(ctx, &base, &have);
    if (need > have)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "op %s needs %zu bytes (%.1f MiB) of scratch on %s, but %s has %zu: plan "
                        "it (a memory pass plans it for every op), or give the context a region "
                        "(nst_ctx_set_scratch, nst_ctx_reserve_scratch)",
                        op, need, need / 1048576.0, ctx->backend->name,
                        in_pass ? "the memory pass's planned scratch" : "the context's region",
                        have);
    ctx->scratch.next = base;
    ctx->scratch.left = need;
    return NST_OK;
}

void nst__scratch_end(nst_ctx *ctx) {
    ctx->scratch.next = NULL;
    ctx->scratch.left = 0;
}

/* "x (1, 64, 64, 3), w (8, 3, 3, 3), y (1, 64, 64, 8)": the present tensors of op's params. */
static void describe_args(nst_ctx *ctx, nst_op op, const void *params, char *buf, size_t size) {
    nst_op_arg stack[NST__OP_ARGS_STACK], *args = NULL;
    const int n = nst__op_args_collect(ctx, op, params, stack, &args);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len + 1 < size; i++) {
        const nst_tensor *t = args[i].t;
        if (!t)
            continue;
        int k = snprintf(buf + len, size - len, "%s%s (", len ? ", " : "", args[i].name);
        for (int d = 0; k > 0 && d < t->ndim && len + (size_t)k < size; d++)
            k += snprintf(buf + len + k, size - len - (size_t)k, "%s%lld", d ? ", " : "",
                          (long long)t->shape[d]);
        if (k > 0 && len + (size_t)k < size)
            k += snprintf(buf + len + k, size - len - (size_t)k, ")");
        if (k <= 0)
            break;
        len = len + (size_t)k < size ? len + (size_t)k : size - 1;
    }
    if (n >= 0)
        nst__op_args_release(stack, args);
}

/* After op ran without an error: the device's own verdict, pinned on op (sync_each_op). */
static nst_status sync_after(nst_ctx *ctx, nst_op op, const void *params) {
    const nst_status st = ctx->backend->synchronize(ctx);
    if (st == NST_OK)
        return NST_OK;
    char why[NST__ERRMSG_SIZE / 2], shapes[NST__ERRMSG_SIZE / 4];
    snprintf(why, sizeof why, "%s", nst_last_error(ctx));
    describe_args(ctx, op, params, shapes, sizeof shapes);
    const char *launch = ctx->backend->last_launch ? ctx->backend->last_launch(ctx) : "?";
    return NST__ERR(ctx, st, "op %s (%s) failed on %s, found by the synchronisation after it "
                    "(NSTYLE_CUDA_SYNC=1); the last launch: %s: %s", op_infos[op].name, shapes,
                    ctx->device_name, launch, why);
}

nst_status nst_op_run(nst_ctx *ctx, nst_op op, const void *params) {
    if ((unsigned)op >= NST_OP_COUNT)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "unknown op %d", (int)op);
    nst__op_fn fn = ctx->backend->ops[op];
    const char *name = op_infos[op].name;
    if (!fn) /* before the params are read: a backend without the op never sees them */
        return NST__ERR(ctx, NST_ERR_UNSUPPORTED, "op %s has no implementation on backend %s",
                        name, ctx->backend->name);
    bool nothing;
    NST__TRY(nst__op_check(ctx, op, params, &nothing));
    if (nothing)
        return NST_OK;
    size_t need = 0;
    NST__TRY(ctx->backend->scratch(ctx, op, params, &need));
    if (nst__recording(ctx)) {
        const bool conv = op == NST_OP_CONV2D_FORWARD || op == NST_OP_CONV2D_BACKWARD_DATA ||
                          op == NST_OP_CONV2D_BACKWARD_FILTER || op == NST_OP_DWCONV2D_FORWARD ||
                          op == NST_OP_DWCONV2D_BACKWARD_DATA ||
                          op == NST_OP_DWCONV2D_BACKWARD_FILTER;
        const bool gemm = op == NST_OP_LINEAR_FORWARD || op == NST_OP_LINEAR_BACKWARD;
        if (ctx->plan_for_cuda && conv) /* no GPU to ask: cuDNN's workspace at its bound */
            need = nst__scratch_bytes(nst_ctx_workspace_limit(ctx));
        if (ctx->plan_for_cuda && gemm) /* and cuBLAS's at the largest any card takes */
            need = nst__scratch_bytes(NST__CUBLAS_WORKSPACE_MAX);
        return nst__pass_record_op(ctx, op, params, need);
    }
    NST__TRY(nst__scratch_begin(ctx, name, need));
    nst_status st = fn(ctx, params);
    nst__scratch_end(ctx);
    if (st == NST_OK && ctx->sync_each_op)
        st = sync_after(ctx, op, params);
    return st;
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
