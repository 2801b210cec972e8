/* conv2d on the CUDA backend through cuDNN: every cuDNN call of nstyle is in this file, which
 * alone uses cuDNN's legacy convolution API (deprecated in cuDNN 9: the module is compiled with
 * CUDNN_WARN_DEPRECATED, and the warnings are silenced here only).
 *
 * Semantics: PyTorch's conv2d (cross-correlation, zero padding) on NHWC tensors with
 * (Cout, KH, KW, Cin) weights, which is cuDNN's NHWC filter format, so nothing is transposed.
 * forward: y = [relu](conv(x, w) + b), fused through cudnnConvolutionBiasActivationForward when
 * there are both a bias and a ReLU, else convolution, cudnnAddTensor, cudnnActivationForward.
 * The fused call supports fewer algorithms than the heuristics list for a plain convolution, so
 * it is tried with each passing candidate in turn and, when none runs, the unfused path runs
 * (conv_algo.c; NSTYLE_CUDNN_FUSED=0 skips the fused call, for measuring whether plain FMA math
 * is faster unfused: a question only a GPU can answer).
 * backward_data: dx = conv_transpose(dy, w), overwritten. backward_filter: dw and the bias
 * gradient (cudnnConvolutionBackwardBias), beta = 1 when `accumulate`.
 *
 * Per convolution shape (and the context's workspace limit, determinism and TF32 settings) the
 * descriptors are made once and kept in the context's CUDA state (freed at close) with the
 * algorithms that pass for each direction: cudnnGet*Algorithm_v7's heuristic list filtered by
 * conv_algo.c, asked with the descriptor's math type reset to the rules' own first; the op's
 * scratch is the first one's exact workspace (cudnnGet*WorkspaceSize).
 * Nothing here runs cudnnFind*: no benchmark touches live buffers.
 *
 * Tested without a GPU by tests/test_cuda_cudnn_host.c (descriptors and output sizes of every
 * VGG19, TransformerNet and STN convolution; algorithm selection through a fake table); on a GPU
 * by the parity tool against the CPU op (scripts/gpu-check.sh). */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv2d_cudnn.h"

/* ---- errors -------------------------------------------------------------------------------- */

static nst_status cudnn_error(nst_ctx *ctx, cudnnStatus_t st, const char *call, const char *what,
                              const char *file, int line) {
    return nst__error(ctx, NST_ERR_CUDA, file, line, "%s%s%s: %s (%d)", what ? what : "",
                      what ? ": " : "", call, cudnnGetErrorString(st), (int)st);
}

/* call checked; on failure the message names `what` (the op and shape) and the call */
#define CUDNN_GOTO(ctx, call, what, label)                                             \
    do {                                                                               \
        cudnnStatus_t st_ = (call);                                                    \
        if (st_ != CUDNN_STATUS_SUCCESS) {                                             \
            cudnn_error((ctx), st_, #call, (what), __FILE__, __LINE__);                \
            goto label;                                                                \
        }                                                                              \
    } while (0)
#define CUDNN_TRY(ctx, call, what)                                                         \
    do {                                                                                   \
        cudnnStatus_t st_ = (call);                                                        \
        if (st_ != CUDNN_STATUS_SUCCESS)                                                   \
            return cudnn_error((ctx), st_, #call, (what), __FILE__, __LINE__);             \
    } while (0)

/* ---- handle -------------------------------------------------------------------------------- */

nst_status nst__cudnn_open(nst_ctx *ctx, nst__cuda_state *s) {
    cudnnHandle_t h = NULL;
    CUDNN_TRY(ctx, cudnnCreate(&h), "cuDNN handle");
    CUDNN_GOTO(ctx, cudnnSetStream(h, s->stream), "cuDNN handle", fail);
    s->cudnn = h;
    return NST_OK;
fail:
    cudnnDestroy(h);
    return ctx->last_status;
}

/* ---- descriptors --------------------------------------------------------------------------- */

static int groups_of(const nst__conv_shape *s) {
    return s->groups > 1 ? s->groups : 1;
}

const char *nst__conv_shape_text(const nst__conv_shape *s, char *buf, size_t size) {
    const int g = groups_of(s);
    int at = snprintf(buf, size, "(%d, %d, %d, %d) * (%d, %d, %d, %d) stride %d pad %d", s->n,
                      s->h, s->w, s->cin, s->cout, s->kh, s->kw, s->cin / g, s->stride, s->pad);
    if (g > 1 && at > 0 && (size_t)at < size)
        snprintf(buf + at, size - (size_t)at, " groups %d", g);
    return buf;
}

void nst__cudnn_conv_descs_free(nst__conv_descs *d) {
    if (d->relu)
        cudnnDestroyActivationDescriptor(d->relu);
    if (d->conv)
        cudnnDestroyConvolutionDescriptor(d->conv);
    if (d->w)
        cudnnDestroyFilterDescriptor(d->w);
    if (d->bias)
        cudnnDestroyTensorDescriptor(d->bias);
    if (d->y)
        cudnnDestroyTensorDescriptor(d->y);
    if (d->x)
        cudnnDestroyTensorDescriptor(d->x);
    memset(d, 0, sizeof *d);
}

nst_status nst__cudnn_conv_descs_make(nst_ctx *ctx, const nst__conv_shape *s, int math_type,
                                      nst__conv_descs *d) {
    char what[128];
    nst__conv_shape_text(s, what, sizeof what);
    memset(d, 0, sizeof *d);
    const int g = groups_of(s);
    if (s->stride < 1 || s->pad < 0 || s->h + 2 * s->pad < s->kh || s->w + 2 * s->pad < s->kw)
        return NST__ERR(ctx, NST_ERR_SHAPE, "conv2d %s: the kernel does not fit the padded input",
                        what);
    if (s->cin % g != 0 || s->cout % g != 0)
        return NST__ERR(ctx, NST_ERR_SHAPE, "conv2d %s: %d groups do not divide the channels",
                        what, g);
    CUDNN_GOTO(ctx, cudnnCreateTensorDescriptor(&d->x), what, fail);
    CUDNN_GOTO(ctx, cudnnCreateTensorDescriptor(&d->y), what, fail);
    CUDNN_GOTO(ctx, cudnnCreateTensorDescriptor(&d->bias), what, fail);
    CUDNN_GOTO(ctx, cudnnCreateFilterDescriptor(&d->w), what, fail);
    CUDNN_GOTO(ctx, cudnnCreateConvolutionDescriptor(&d->conv), what, fail);
    CUDNN_GOTO(ctx, cudnnCreateActivationDescriptor(&d->relu), what, fail);
    CUDNN_GOTO(ctx, cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s->n,
                                               s->cin, s->h, s->w), what, fail);
    CUDNN_GOTO(ctx, cudnnSetFilter4dDescriptor(d->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, s->cout,
                                               s->cin / g, s->kh, s->kw), what, fail);
    CUDNN_GOTO(ctx, cudnnSetConvolution2dDescriptor(d->conv, s->pad, s->pad, s->stride, s->stride,
                                                    1, 1, CUDNN_CROSS_CORRELATION,
                                                    CUDNN_DATA_FLOAT), what, fail);
    CUDNN_GOTO(ctx, cudnnSetConvolutionGroupCount(d->conv, g), what, fail);
    CUDNN_GOTO(ctx, cudnnSetConvolutionMathType(d->conv, (cudnnMathType_t)math_type), what, fail);
    int dims[4] = {0};
    /* cuDNN answers in (N, C, H, W) order whatever the layout */
    CUDNN_GOTO(ctx, cudnnGetConvolutionNdForwardOutputDim(d->conv, d->x, d->w, 4, dims), what,
               fail);
    const int ho = (s->h + 2 * s->pad - s->kh) / s->stride + 1;
    const int wo = (s->w + 2 * s->pad - s->kw) / s->stride + 1;
    if (dims[0] != s->n || dims[1] != s->cout || dims[2] != ho || dims[3] != wo) {
        NST__ERR(ctx, NST_ERR_INTERNAL,
                 "conv2d %s: cuDNN's output is (%d, %d, %d, %d) NCHW, PyTorch's (%d, %d, %d, %d)",
                 what, dims[0], dims[1], dims[2], dims[3], s->n, s->cout, ho, wo);
        goto fail;
    }
    d->ho = ho;
    d->wo = wo;
    CUDNN_GOTO(ctx, cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s->n,
                                               s->cout, ho, wo), what, fail);
    CUDNN_GOTO(ctx, cudnnSetTensor4dDescriptor(d->bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1,
                                               s->cout, 1, 1), what, fail);
    CUDNN_GOTO(ctx, cudnnSetActivationDescriptor(d->relu, CUDNN_ACTIVATION_RELU,
                                                 CUDNN_NOT_PROPAGATE_NAN, 0.0), what, fail);
    return NST_OK;
fail:
    nst__cudnn_conv_descs_free(d);
    return ctx->last_status;
}

/* ---- per-shape plans ------------------------------------------------------------------------ */

struct nst__conv_plan {
    nst__conv_shape shape;
    nst__conv_algo_rules rules;
    nst__conv_descs d;
    bool chosen[NST__CONV_KINDS];
    nst__conv_algo_choice choice[NST__CONV_KINDS]; /* = passing[kind][0] */
    nst__conv_algo_choice passing[NST__CONV_KINDS][NST__CONV_ALGO_MAX];
    int n_passing[NST__CONV_KINDS];
    int fused_state; /* NST__FUSED_UNTRIED, NST__FUSED_NONE or the forward candidate that ran */
    struct nst__conv_plan *next;
};

void nst__cudnn_close(nst__cuda_state *s) {
    for (struct nst__conv_plan *p = s->conv_plans, *next; p; p = next) {
        next = p->next;
        nst__cudnn_conv_descs_free(&p->d);
        free(p);
    }
    s->conv_plans = NULL;
    if (s->cudnn)
        cudnnDestroy(s->cudnn);
    s->cudnn = NULL;
}

static nst__conv_algo_rules rules_of(const nst_ctx *ctx) {
    nst__conv_algo_rules r;
    r.workspace_limit = nst_ctx_workspace_limit(ctx);
    r.deterministic = nst_ctx_deterministic(ctx);
    r.allow_tf32 = nst_ctx_tf32_convolutions(ctx);
    return r;
}

static bool same_plan(const struct nst__conv_plan *p, const nst__conv_shape *s,
                      const nst__conv_algo_rules *r) {
    const nst__conv_shape *a = &p->shape;
    return a->n == s->n && a->h == s->h && a->w == s->w && a->cin == s->cin &&
           a->cout == s->cout && a->kh == s->kh && a->kw == s->kw && a->stride == s->stride &&
           a->pad == s->pad && groups_of(a) == groups_of(s) &&
           p->rules.workspace_limit == r->workspace_limit &&
           p->rules.deterministic == r->deterministic && p->rules.allow_tf32 == r->allow_tf32;
}

static nst__conv_shape shape_of(const nst_conv2d_params *p) {
    const nst_tensor *w = p->w ? p->w : p->dw;
    const nst_tensor *x = p->x ? p->x : p->dx;
    nst__conv_shape s;
    s.n = (int)x->shape[0];
    s.h = (int)x->shape[1];
    s.w = (int)x->shape[2];
    s.cin = (int)x->shape[3];
    s.cout = (int)w->shape[0];
    s.kh = (int)w->shape[1];
    s.kw = (int)w->shape[2];
    s.stride = p->stride;
    s.pad = p->pad;
    s.groups = (int)(s.cin / w->shape[3]); /* 1 for conv2d; C for dwconv2d's (C, KH, KW, 1) */
    return s;
}

static struct nst__conv_plan *plan_for(nst_ctx *ctx, const nst_conv2d_params *params) {
    nst__cuda_state *s = nst__cuda_state_of(ctx);
    const nst__conv_shape shape = shape_of(params);
    const nst__conv_algo_rules rules = rules_of(ctx);
    for (struct nst__conv_plan *p = s->conv_plans; p; p = p->next)
        if (same_plan(p, &shape, &rules))
            return p;
    struct nst__conv_plan *p = calloc(1, sizeof *p);
    if (!p) {
        NST__ERR(ctx, NST_ERR_NO_MEMORY, "no host memory for a cuDNN convolution plan");
        return NULL;
    }
    p->shape = shape;
    p->rules = rules;
    p->fused_state = NST__FUSED_UNTRIED;
    if (nst__cudnn_conv_descs_make(ctx, &shape, rules.allow_tf32 ? CUDNN_DEFAULT_MATH
                                                                 : CUDNN_FMA_MATH,
                                   &p->d) != NST_OK) {
        free(p);
        return NULL;
    }
    p->next = s->conv_plans;
    s->conv_plans = p;
    return p;
}

/* ---- algorithm queries (cudnnGet*Algorithm_v7, cudnnGet*WorkspaceSize) --------------------- */

typedef struct {
    cudnnHandle_t h;
    struct nst__conv_plan *plan;
    const char *what;
} query_user;

static bool is_tensor_op(cudnnMathType_t m) {
    return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

#define COPY_PERF(dst, src)                                                 \
    do {                                                                    \
        (dst).algo = (int)(src).algo;                                       \
        (dst).ok = (src).status == CUDNN_STATUS_SUCCESS;                    \
        (dst).workspace = (src).memory;                                     \
        (dst).deterministic = (src).determinism == CUDNN_DETERMINISTIC;     \
        (dst).tensor_op = is_tensor_op((src).mathType);                     \
        (dst).math_type = (int)(src).mathType;                              \
        (dst).time_ms = (src).time;                                         \
        (dst).converts = (src).mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; \
    } while (0)

nst_status nst__cudnn_conv_math_reset(nst_ctx *ctx, const nst__conv_descs *d, bool allow_tf32,
                                      const char *what) {
    CUDNN_TRY(ctx, cudnnSetConvolutionMathType(d->conv, allow_tf32 ? CUDNN_DEFAULT_MATH
                                                                   : CUDNN_FMA_MATH), what);
    return NST_OK;
}

static nst_status query_begin(nst_ctx *ctx, void *user, nst__conv_kind kind,
                              const nst__conv_algo_rules *rules) {
    query_user *u = user;
    (void)kind;
    return nst__cudnn_conv_math_reset(ctx, &u->plan->d, rules->allow_tf32, u->what);
}

static nst_status query_candidates(nst_ctx *ctx, void *user, nst__conv_kind kind,
                                   nst__conv_algo_perf *perf, int max, int *n) {
    query_user *u = user;
    const nst__conv_descs *d = &u->plan->d;
    *n = 0;
    if (kind == NST__CONV_FORWARD) {
        cudnnConvolutionFwdAlgoPerf_t r[NST__CONV_ALGO_MAX];
        CUDNN_TRY(ctx, cudnnGetConvolutionForwardAlgorithm_v7(u->h, d->x, d->w, d->conv, d->y,
                                                              max, n, r), u->what);
        for (int i = 0; i < *n; i++)
            COPY_PERF(perf[i], r[i]);
    } else if (kind == NST__CONV_BACKWARD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t r[NST__CONV_ALGO_MAX];
        CUDNN_TRY(ctx, cudnnGetConvolutionBackwardDataAlgorithm_v7(u->h, d->w, d->y, d->conv,
                                                                   d->x, max, n, r), u->what);
        for (int i = 0; i < *n; i++)
            COPY_PERF(perf[i], r[i]);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t r[NST__CONV_ALGO_MAX];
        CUDNN_TRY(ctx, cudnnGetConvolutionBackwardFilterAlgorithm_v7(u->h, d->x, d->y, d->conv,
                                                                     d->w, max, n, r), u->what);
        for (int i = 0; i < *n; i++)
            COPY_PERF(perf[i], r[i]);
    }
    return NST_OK;
}

/* the math type a chosen algorithm runs with: its own, or FMA only when TF32 is off */
static cudnnMathType_t run_math(const struct nst__conv_plan *p, const nst__conv_algo_choice *c) {
    return p->rules.allow_tf32 ? (cudnnMathType_t)c->math_type : CUDNN_FMA_MATH;
}

static nst_status query_workspace(nst_ctx *ctx, void *user, nst__conv_kind kind,
                                  const nst__conv_algo_perf *c, size_t *bytes) {
    query_user *u = user;
    const nst__conv_descs *d = &u->plan->d;
    const nst__conv_algo_choice as_choice = {c->algo, c->math_type, c->tensor_op, 0};
    CUDNN_TRY(ctx, cudnnSetConvolutionMathType(d->conv, run_math(u->plan, &as_choice)), u->what);
    if (kind == NST__CONV_FORWARD)
        CUDNN_TRY(ctx, cudnnGetConvolutionForwardWorkspaceSize(u->h, d->x, d->w, d->conv, d->y,
                                                               (cudnnConvolutionFwdAlgo_t)c->algo,
                                                               bytes), u->what);
    else if (kind == NST__CONV_BACKWARD_DATA)
        CUDNN_TRY(ctx, cudnnGetConvolutionBackwardDataWorkspaceSize(
                           u->h, d->w, d->y, d->conv, d->x,
                           (cudnnConvolutionBwdDataAlgo_t)c->algo, bytes), u->what);
    else
        CUDNN_TRY(ctx, cudnnGetConvolutionBackwardFilterWorkspaceSize(
                           u->h, d->x, d->y, d->conv, d->w,
                           (cudnnConvolutionBwdFilterAlgo_t)c->algo, bytes), u->what);
    return NST_OK;
}

static const nst__conv_algo_api cudnn_algo_api = {query_begin, query_candidates, query_workspace};

static const char *const kind_op[2][NST__CONV_KINDS] = {
    {"conv2d_forward", "conv2d_backward_data", "conv2d_backward_filter"},
    {"dwconv2d_forward", "dwconv2d_backward_data", "dwconv2d_backward_filter"}};

/* The op's name: conv2d_* or, for a grouped convolution, dwconv2d_*. */
static const char *op_name(const nst__conv_shape *s, nst__conv_kind kind) {
    return kind_op[groups_of(s) > 1][kind];
}

/* The plan of params' shape with its algorithm for kind chosen. */
static nst_status plan_with_algo(nst_ctx *ctx, const nst_conv2d_params *params,
                                 nst__conv_kind kind, struct nst__conv_plan **out) {
    struct nst__conv_plan *p = plan_for(ctx, params);
    if (!p)
        return ctx->last_status;
    if (!p->chosen[kind]) {
        char what[160], shape[128];
        snprintf(what, sizeof what, "%s %s", op_name(&p->shape, kind),
                 nst__conv_shape_text(&p->shape, shape, sizeof shape));
        query_user u = {nst__cuda_state_of(ctx)->cudnn, p, what};
        NST__TRY(nst__conv_algo_list(ctx, &cudnn_algo_api, &u, kind, &p->rules, what,
                                     p->passing[kind], &p->n_passing[kind]));
        p->choice[kind] = p->passing[kind][0];
        p->chosen[kind] = true;
    }
    *out = p;
    return NST_OK;
}

nst_status nst__cuda_conv2d_scratch(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes) {
    const nst_conv2d_params *p = params;
    *bytes = 0;
    const bool fwd = op == NST_OP_CONV2D_FORWARD || op == NST_OP_DWCONV2D_FORWARD;
    const bool data = op == NST_OP_CONV2D_BACKWARD_DATA || op == NST_OP_DWCONV2D_BACKWARD_DATA;
    nst__conv_kind kind = fwd    ? NST__CONV_FORWARD
                          : data ? NST__CONV_BACKWARD_DATA
                                 : NST__CONV_BACKWARD_FILTER;
    if (kind == NST__CONV_BACKWARD_FILTER && !p->dw)
        return NST_OK; /* the bias gradient alone takes no workspace */
    struct nst__conv_plan *plan = NULL;
    NST__TRY(plan_with_algo(ctx, p, kind, &plan));
    *bytes = nst__scratch_bytes(plan->choice[kind].workspace);
    return NST_OK;
}

/* ---- the ops -------------------------------------------------------------------------------- */

/* The plan, its algorithm for kind set on the descriptor, and its workspace from the scratch. */
static nst_status begin(nst_ctx *ctx, const nst_conv2d_params *params, nst__conv_kind kind,
                        struct nst__conv_plan **plan, void **ws, char *what, size_t what_size) {
    NST__TRY(plan_with_algo(ctx, params, kind, plan));
    char shape[128];
    const char *op = op_name(&(*plan)->shape, kind);
    snprintf(what, what_size, "%s %s", op,
             nst__conv_shape_text(&(*plan)->shape, shape, sizeof shape));
    const nst__conv_algo_choice *c = &(*plan)->choice[kind];
    CUDNN_TRY(ctx, cudnnSetConvolutionMathType((*plan)->d.conv, run_math(*plan, c)), what);
    return nst__scratch_take(ctx, op, "cuDNN workspace", c->workspace, ws);
}

/* The forward's calls, for nst__conv_forward_bias_relu and the plain paths. */
typedef struct {
    const nst_conv2d_params *p;
    struct nst__conv_plan *plan;
    void *ws;
    const char *what;
} forward_call;

static nst_status set_math(nst_ctx *ctx, const forward_call *f, const nst__conv_algo_choice *c) {
    CUDNN_TRY(ctx, cudnnSetConvolutionMathType(f->plan->d.conv, run_math(f->plan, c)), f->what);
    return NST_OK;
}

static nst_status forward_fused(nst_ctx *ctx, void *user, const nst__conv_algo_choice *c,
                                int *cudnn_status) {
    const forward_call *f = user;
    const nst_conv2d_params *p = f->p;
    const nst__conv_descs *d = &f->plan->d;
    const float one = 1.0f, zero = 0.0f;
    NST__TRY(set_math(ctx, f, c));
    /* y = relu(conv + 0 * z + b), z = y: y is cleared first so that whatever the arena held
     * there (NaN bit patterns included) cannot leak in through 0 * z */
    NST__CUDA_TRY(ctx, cudaMemsetAsync(p->y->data, 0, nst_tensor_bytes(p->y),
                                       nst__cuda_stream(ctx)), "cudaMemsetAsync");
    nst__cuda_state_of(ctx)->last_launch = "cudnnConvolutionBiasActivationForward";
    *cudnn_status = (int)cudnnConvolutionBiasActivationForward(
        nst__cuda_state_of(ctx)->cudnn, &one, d->x, p->x->data, d->w, p->w->data, d->conv,
        (cudnnConvolutionFwdAlgo_t)c->algo, f->ws, c->workspace, &zero, d->y, p->y->data,
        d->bias, p->b->data, d->relu, d->y, p->y->data);
    return NST_OK;
}

static nst_status forward_unfused(nst_ctx *ctx, void *user, const nst__conv_algo_choice *c) {
    const forward_call *f = user;
    const nst_conv2d_params *p = f->p;
    const nst__conv_descs *d = &f->plan->d;
    nst__cuda_state *s = nst__cuda_state_of(ctx);
    cudnnHandle_t h = s->cudnn;
    const float one = 1.0f, zero = 0.0f;
    NST__TRY(set_math(ctx, f, c));
    s->last_launch = "cudnnConvolutionForward";
    CUDNN_TRY(ctx, cudnnConvolutionForward(h, &one, d->x, p->x->data, d->w, p->w->data, d->conv,
                                           (cudnnConvolutionFwdAlgo_t)c->algo, f->ws,
                                           c->workspace, &zero, d->y, p->y->data), f->what);
    if (p->b) {
        s->last_launch = "cudnnAddTensor (conv2d bias)";
        CUDNN_TRY(ctx, cudnnAddTensor(h, &one, d->bias, p->b->data, &one, d->y, p->y->data),
                  f->what);
    }
    if (p->relu) {
        s->last_launch = "cudnnActivationForward (conv2d ReLU)";
        CUDNN_TRY(ctx, cudnnActivationForward(h, d->relu, &one, d->y, p->y->data, &zero, d->y,
                                              p->y->data), f->what);
    }
    return NST_OK;
}

static const nst__conv_fwd_api cudnn_fwd_api = {forward_fused, forward_unfused};

nst_status nst__cuda_conv2d_forward(nst_ctx *ctx, const void *params) {
    const nst_conv2d_params *p = params;
    struct nst__conv_plan *plan = NULL;
    void *ws = NULL;
    char what[160];
    NST__TRY(begin(ctx, p, NST__CONV_FORWARD, &plan, &ws, what, sizeof what));
    const forward_call f = {p, plan, ws, what};
    const nst__conv_algo_choice *c = &plan->choice[NST__CONV_FORWARD];
    if (p->b && p->relu)
        return nst__conv_forward_bias_relu(ctx, &cudnn_fwd_api, (void *)&f,
                                           plan->passing[NST__CONV_FORWARD],
                                           plan->n_passing[NST__CONV_FORWARD], c->workspace,
                                           nst__cuda_state_of(ctx)->fuse_bias_relu,
                                           &plan->fused_state);
    return forward_unfused(ctx, (void *)&f, c);
}

nst_status nst__cuda_conv2d_backward_data(nst_ctx *ctx, const void *params) {
    const nst_conv2d_params *p = params;
    struct nst__conv_plan *plan = NULL;
    void *ws = NULL;
    char what[160];
    NST__TRY(begin(ctx, p, NST__CONV_BACKWARD_DATA, &plan, &ws, what, sizeof what));
    const nst__conv_descs *d = &plan->d;
    const nst__conv_algo_choice *c = &plan->choice[NST__CONV_BACKWARD_DATA];
    const float one = 1.0f, zero = 0.0f;
    nst__cuda_state_of(ctx)->last_launch = "cudnnConvolutionBackwardData";
    CUDNN_TRY(ctx, cudnnConvolutionBackwardData(nst__cuda_state_of(ctx)->cudnn, &one, d->w,
                                                p->w->data, d->y, p->dy->data, d->conv,
                                                (cudnnConvolutionBwdDataAlgo_t)c->algo, ws,
                                                c->workspace, &zero, d->x, p->dx->data), what);
    return NST_OK;
}

/* dw (when asked for) and db; bias_op names the op in the bias gradient's messages. */
static nst_status filter_grads(nst_ctx *ctx, const nst_conv2d_params *p, const char *bias_op) {
    const float one = 1.0f, beta = p->accumulate ? 1.0f : 0.0f;
    if (p->dw) {
        cudnnHandle_t h = nst__cuda_state_of(ctx)->cudnn;
        struct nst__conv_plan *plan = NULL;
        char what[160];
        void *ws = NULL;
        NST__TRY(begin(ctx, p, NST__CONV_BACKWARD_FILTER, &plan, &ws, what, sizeof what));
        const nst__conv_descs *d = &plan->d;
        const nst__conv_algo_choice *c = &plan->choice[NST__CONV_BACKWARD_FILTER];
        nst__cuda_state_of(ctx)->last_launch = "cudnnConvolutionBackwardFilter";
        CUDNN_TRY(ctx, cudnnConvolutionBackwardFilter(h, &one, d->x, p->x->data, d->y,
                                                      p->dy->data, d->conv,
                                                      (cudnnConvolutionBwdFilterAlgo_t)c->algo,
                                                      ws, c->workspace, &beta, d->w,
                                                      p->dw->data), what);
    }
    if (p->db) { /* dy (N, Ho, Wo, Cout) is a (N*Ho*Wo, Cout) matrix: its column sums */
        const int cout = (int)p->dy->shape[3];
        NST__TRY(nst__cudnn_bias_grad(ctx, bias_op, p->db->data, p->dy->data,
                                      (int)(nst_tensor_numel(p->dy) / cout), cout, p->accumulate));
    }
    return NST_OK;
}

nst_status nst__cuda_conv2d_backward_filter(nst_ctx *ctx, const void *params) {
    return filter_grads(ctx, params, "conv2d_backward_filter");
}

/* dwconv2d: the same calls, the grouped plan chosen by the weights' shape (C, KH, KW, 1). */
nst_status nst__cuda_dwconv2d_forward(nst_ctx *ctx, const void *params) {
    return nst__cuda_conv2d_forward(ctx, params);
}

nst_status nst__cuda_dwconv2d_backward_data(nst_ctx *ctx, const void *params) {
    return nst__cuda_conv2d_backward_data(ctx, params);
}

nst_status nst__cuda_dwconv2d_backward_filter(nst_ctx *ctx, const void *params) {
    return filter_grads(ctx, params, "dwconv2d_backward_filter");
}

/* ---- bias and ReLU for linear (row-major (rows, cols) = NCHW (rows, cols, 1, 1)) ------------- */

typedef struct {
    cudnnTensorDescriptor_t m, v;
    cudnnActivationDescriptor_t relu;
} matrix_descs;

static void matrix_descs_free(matrix_descs *d) {
    if (d->relu)
        cudnnDestroyActivationDescriptor(d->relu);
    if (d->v)
        cudnnDestroyTensorDescriptor(d->v);
    if (d->m)
        cudnnDestroyTensorDescriptor(d->m);
}

static nst_status matrix_descs_make(nst_ctx *ctx, int rows, int cols, const char *what,
                                    matrix_descs *d) {
    memset(d, 0, sizeof *d);
    CUDNN_GOTO(ctx, cudnnCreateTensorDescriptor(&d->m), what, fail);
    CUDNN_GOTO(ctx, cudnnCreateTensorDescriptor(&d->v), what, fail);
    CUDNN_GOTO(ctx, cudnnCreateActivationDescriptor(&d->relu), what, fail);
    CUDNN_GOTO(ctx, cudnnSetTensor4dDescriptor(d->m, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, rows,
                                               cols, 1, 1), what, fail);
    CUDNN_GOTO(ctx, cudnnSetTensor4dDescriptor(d->v, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, cols,
                                               1, 1), what, fail);
    CUDNN_GOTO(ctx, cudnnSetActivationDescriptor(d->relu, CUDNN_ACTIVATION_RELU,
                                                 CUDNN_NOT_PROPAGATE_NAN, 0.0), what, fail);
    return NST_OK;
fail:
    matrix_descs_free(d);
    return ctx->last_status;
}

nst_status nst__cudnn_bias_relu(nst_ctx *ctx, float *y, const float *bias, int rows, int cols,
                                bool relu) {
    matrix_descs d;
    NST__TRY(matrix_descs_make(ctx, rows, cols, "linear_forward", &d));
    cudnnHandle_t h = nst__cuda_state_of(ctx)->cudnn;
    const float one = 1.0f, zero = 0.0f;
    nst__cuda_state_of(ctx)->last_launch = "cudnnAddTensor / cudnnActivationForward (linear)";
    if (bias)
        CUDNN_GOTO(ctx, cudnnAddTensor(h, &one, d.v, bias, &one, d.m, y), "linear_forward", fail);
    if (relu)
        CUDNN_GOTO(ctx, cudnnActivationForward(h, d.relu, &one, d.m, y, &zero, d.m, y),
                   "linear_forward", fail);
    matrix_descs_free(&d);
    return NST_OK;
fail:
    matrix_descs_free(&d);
    return ctx->last_status;
}

nst_status nst__cudnn_bias_grad(nst_ctx *ctx, const char *op, float *db, const float *dy,
                                int rows, int cols, bool accumulate) {
    matrix_descs d;
    NST__TRY(matrix_descs_make(ctx, rows, cols, op, &d));
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    nst__cuda_state_of(ctx)->last_launch = "cudnnConvolutionBackwardBias";
    CUDNN_GOTO(ctx, cudnnConvolutionBackwardBias(nst__cuda_state_of(ctx)->cudnn, &one, d.m, dy,
                                                 &beta, d.v, db), op, fail);
    matrix_descs_free(&d);
    return NST_OK;
fail:
    matrix_descs_free(&d);
    return ctx->last_status;
}
