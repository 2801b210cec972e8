/* The trainable TransformerNet (src/host/networks/transformer_net.h): the pytorch/examples network
 * of include/nstyle/stylize.h written once more over the op table, at a chosen base width, with a
 * forward that keeps what the backward needs and the backward to all 62 parameters:
 *   ConvLayer  reflect pad k/2 -> conv   backward: conv backward-filter (dw, db), backward-data,
 *                                        reflect pad backward
 *   UpConv     nearest x2 first          backward: upsample backward after the pad's
 *   IN + ReLU  instance norm (eps 1e-5)  backward: ReLU backward in place on the gradient, then
 *                                        instance norm backward (dx, dgamma, dbeta)
 *   residual   y + in2(conv2(...))       the sum's gradient goes to both branches: the branch's
 *                                        input gradient is added to it with NST_OP_AXPY
 * Every buffer is a memory-pass request, so one recording plans forward and backward; each
 * weight is used once per forward, so its gradient is overwritten, never accumulated.
 * Tested by tests/test_train.c against PyTorch float64 (tests/golden/gen_train.py). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "transformer_net.h"

#define NORM_EPS 1e-5f

typedef struct {
    char name[16]; /* "res3.conv1" */
    int cin, cout, k, stride;
    bool upsample;
} conv_spec;

/* conv i's spec for base width w; norm i's name and channels. */
static conv_spec conv_at(int i, int w) {
    static const char *names[3] = {"conv1", "conv2", "conv3"};
    static const char *tails[3] = {"deconv1", "deconv2", "deconv3"};
    conv_spec c = {"", 0, 0, 3, 1, false};
    if (i < 3) {
        const int cin[3] = {3, w, 2 * w}, cout[3] = {w, 2 * w, 4 * w};
        snprintf(c.name, sizeof c.name, "%s", names[i]);
        c.cin = cin[i], c.cout = cout[i], c.k = i == 0 ? 9 : 3, c.stride = i == 0 ? 1 : 2;
    } else if (i < 13) {
        snprintf(c.name, sizeof c.name, "res%d.conv%d", (i - 3) / 2 + 1, (i - 3) % 2 + 1);
        c.cin = c.cout = 4 * w;
    } else {
        const int cin[3] = {4 * w, 2 * w, w}, cout[3] = {2 * w, w, 3};
        snprintf(c.name, sizeof c.name, "%s", tails[i - 13]);
        c.cin = cin[i - 13], c.cout = cout[i - 13], c.k = i == 15 ? 9 : 3;
        c.upsample = i < 15;
    }
    return c;
}

static void norm_name(int i, char *buf, size_t size) {
    if (i < 3 || i >= 13)
        snprintf(buf, size, "in%d", i < 3 ? i + 1 : i - 9);
    else
        snprintf(buf, size, "res%d.in%d", (i - 3) / 2 + 1, (i - 3) % 2 + 1);
}

/* Parameter indices in state_dict order: conv i's weight and bias, then norm i's (none for
 * deconv3). */
static int w_index(int i) { return 4 * i; }
static int b_index(int i) { return 4 * i + 1; }
static int g_index(int i) { return 4 * i + 2; }
static int beta_index(int i) { return 4 * i + 3; }

uint64_t nst__splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static nst_status request(nst_mem_pass *pass, nst_mem_tag tag, const nst__tn_param_info *p,
                          const char *what, nst_tensor *out) {
    char label[64];
    snprintf(label, sizeof label, "%s%s", what, p->name);
    int64_t dims[4] = {p->torch[0], p->torch[2], p->torch[3], p->torch[1]};
    return nst_mem_pass_tensor(pass, tag, NST_F32, p->ndim, p->ndim == 4 ? dims : p->torch,
                               NST_MEM_PERSISTENT, label, out);
}

nst_status nst__tn_declare(nst_mem_pass *pass, int width, nst__tn *net) {
    *net = (nst__tn){.width = width};
    for (int i = 0; i < NST__TN_CONVS; i++) {
        const conv_spec c = conv_at(i, width);
        nst__tn_param_info *w = &net->info[w_index(i)], *b = &net->info[b_index(i)];
        *w = (nst__tn_param_info){.ndim = 4, .torch = {c.cout, c.cin, c.k, c.k}};
        snprintf(w->name, sizeof w->name, "%s.conv2d.weight", c.name);
        *b = (nst__tn_param_info){.ndim = 1, .torch = {c.cout}};
        snprintf(b->name, sizeof b->name, "%s.conv2d.bias", c.name);
        if (i == NST__TN_NORMS)
            continue;
        char nn[16];
        norm_name(i, nn, sizeof nn);
        nst__tn_param_info *g = &net->info[g_index(i)], *be = &net->info[beta_index(i)];
        *g = (nst__tn_param_info){.ndim = 1, .torch = {c.cout}};
        snprintf(g->name, sizeof g->name, "%s.weight", nn);
        *be = *g;
        snprintf(be->name, sizeof be->name, "%s.bias", nn);
    }
    for (int k = 0; k < NST__TN_PARAMS; k++) {
        const nst__tn_param_info *p = &net->info[k];
        NST__TRY(request(pass, NST_TAG_WEIGHTS, p, "", &net->param[k]));
        NST__TRY(request(pass, NST_TAG_GRADIENTS, p, "grad ", &net->grad[k]));
        NST__TRY(request(pass, NST_TAG_OPTIMISER, p, "adam m ", &net->m[k]));
        NST__TRY(request(pass, NST_TAG_OPTIMISER, p, "adam v ", &net->v[k]));
    }
    return NST_OK;
}

int nst__tn_find(const nst__tn *net, const char *name) {
    for (int k = 0; k < NST__TN_PARAMS; k++)
        if (strcmp(net->info[k].name, name) == 0)
            return k;
    return -1;
}

void nst__tn_init_param(const nst__tn *net, int k, uint64_t *rng, float *out) {
    const nst__tn_param_info *p = &net->info[k];
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++)
        n *= p->torch[d];
    if (k % 4 >= 2) { /* instance norm: gamma 1, beta 0 */
        for (int64_t i = 0; i < n; i++)
            out[i] = k % 4 == 2 ? 1.0f : 0.0f;
        return;
    }
    const int64_t *w = net->info[k - k % 4].torch; /* the conv's weight: fan_in = Cin K K */
    const double bound = 1.0 / sqrt((double)(w[1] * w[2] * w[3]));
    for (int64_t i = 0; i < n; i++) {
        const double u = (double)(nst__splitmix64(rng) >> 11) * 0x1p-53; /* [0, 1) */
        out[i] = (float)((2.0 * u - 1.0) * bound);
    }
}

void nst__tn_to_memory(const nst__tn_param_info *p, const float *torch, float *mem) {
    if (p->ndim != 4) {
        memcpy(mem, torch, (size_t)p->torch[0] * sizeof *mem);
        return;
    }
    const int64_t O = p->torch[0], I = p->torch[1], KK = p->torch[2] * p->torch[3];
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t q = 0; q < KK; q++)
                mem[(o * KK + q) * I + i] = torch[(o * I + i) * KK + q];
}

void nst__tn_to_torch(const nst__tn_param_info *p, const float *mem, float *torch) {
    if (p->ndim != 4) {
        memcpy(torch, mem, (size_t)p->torch[0] * sizeof *mem);
        return;
    }
    const int64_t O = p->torch[0], I = p->torch[1], KK = p->torch[2] * p->torch[3];
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t q = 0; q < KK; q++)
                torch[(o * I + i) * KK + q] = mem[(o * KK + q) * I + i];
}

/* ---- forward ----------------------------------------------------------------------------------
 * */

static nst_status act(nst_mem_pass *pass, nst_mem_tag tag, const char *name, const char *what,
                      int64_t n, int64_t h, int64_t w, int64_t c, nst_tensor *t) {
    char label[64];
    snprintf(label, sizeof label, "tn %s %s", name, what);
    const int64_t dims[4] = {n, h, w, c};
    return nst_mem_pass_tensor(pass, tag, NST_F32, 4, dims, 0, label, t);
}

static nst_status conv_fwd(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, nst__tn_acts *a,
                           int i, const nst_tensor *x) {
    const conv_spec c = conv_at(i, net->width);
    const int p = c.k / 2;
    const int64_t n = x->shape[0];
    a->in[i] = x;
    if (c.upsample) {
        NST__TRY(act(pass, NST_TAG_ACTIVATIONS, c.name, "upsample", n, 2 * x->shape[1],
                     2 * x->shape[2], c.cin, &a->up[i]));
        NST__TRY(nst_upsample2x_forward(ctx, &(nst_upsample2x_params){.x = x, .y = &a->up[i]}));
        x = &a->up[i];
    }
    NST__TRY(act(pass, NST_TAG_ACTIVATIONS, c.name, "pad", n, x->shape[1] + 2 * p,
                 x->shape[2] + 2 * p, c.cin, &a->pad[i]));
    NST__TRY(nst_reflect_pad_forward(ctx, &(nst_reflect_pad_params){
        .x = x, .y = &a->pad[i], .top = p, .bottom = p, .left = p, .right = p}));
    const int64_t ho = (a->pad[i].shape[1] - c.k) / c.stride + 1;
    const int64_t wo = (a->pad[i].shape[2] - c.k) / c.stride + 1;
    NST__TRY(act(pass, NST_TAG_ACTIVATIONS, c.name, "out", n, ho, wo, c.cout, &a->out[i]));
    return nst_conv2d_forward(ctx, &(nst_conv2d_params){
        .x = &a->pad[i], .w = &net->param[w_index(i)], .b = &net->param[b_index(i)],
        .y = &a->out[i], .stride = c.stride});
}

static nst_status norm_fwd(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, nst__tn_acts *a,
                           int i, bool relu) {
    const nst_tensor *x = &a->out[i];
    char nn[16];
    norm_name(i, nn, sizeof nn);
    NST__TRY(act(pass, NST_TAG_ACTIVATIONS, nn, "out", x->shape[0], x->shape[1], x->shape[2],
                 x->shape[3], &a->nout[i]));
    const int64_t nc[2] = {x->shape[0], x->shape[3]};
    char label[48];
    snprintf(label, sizeof label, "tn %s mean", nn);
    NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 2, nc, 0, label,
                                 &a->mean[i]));
    snprintf(label, sizeof label, "tn %s rstd", nn);
    NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 2, nc, 0, label,
                                 &a->rstd[i]));
    NST__TRY(nst_instance_norm_forward(ctx, &(nst_instance_norm_params){
        .x = x, .gamma = &net->param[g_index(i)], .beta = &net->param[beta_index(i)],
        .y = &a->nout[i], .mean = &a->mean[i], .rstd = &a->rstd[i], .eps = NORM_EPS}));
    if (!relu)
        return NST_OK;
    return nst_relu_forward(ctx, &(nst_relu_params){.x = &a->nout[i], .y = &a->nout[i]});
}

nst_status nst__tn_forward(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, const nst_tensor *x,
                           nst__tn_acts *a, nst_tensor *y) {
    *a = (nst__tn_acts){0};
    const nst_tensor *h = x;
    for (int i = 0; i < 3; i++) {
        NST__TRY(conv_fwd(ctx, pass, net, a, i, h));
        NST__TRY(norm_fwd(ctx, pass, net, a, i, true));
        h = &a->nout[i];
    }
    for (int r = 0; r < 5; r++) {
        const int i = 3 + 2 * r;
        NST__TRY(conv_fwd(ctx, pass, net, a, i, h));
        NST__TRY(norm_fwd(ctx, pass, net, a, i, true));
        NST__TRY(conv_fwd(ctx, pass, net, a, i + 1, &a->nout[i]));
        NST__TRY(norm_fwd(ctx, pass, net, a, i + 1, false));
        char name[8];
        snprintf(name, sizeof name, "res%d", r + 1);
        NST__TRY(act(pass, NST_TAG_ACTIVATIONS, name, "sum", h->shape[0], h->shape[1],
                     h->shape[2], h->shape[3], &a->sum[r]));
        NST__TRY(nst_add(ctx, &(nst_add_params){.a = &a->nout[i + 1], .b = h, .y = &a->sum[r]}));
        h = &a->sum[r];
    }
    for (int i = 13; i < 15; i++) {
        NST__TRY(conv_fwd(ctx, pass, net, a, i, h));
        NST__TRY(norm_fwd(ctx, pass, net, a, i, true));
        h = &a->nout[i];
    }
    NST__TRY(conv_fwd(ctx, pass, net, a, 15, h));
    *y = a->out[15];
    return NST_OK;
}

/* ---- backward ---------------------------------------------------------------------------------
 * */

/* dy (conv i's output gradient) -> dw, db and, unless dx is NULL, the input gradient in a new
 * buffer *dx. */
static nst_status conv_bwd(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, nst__tn_acts *a,
                           int i, const nst_tensor *dy, nst_tensor *dx) {
    const conv_spec c = conv_at(i, net->width);
    const int p = c.k / 2;
    NST__TRY(nst_conv2d_backward_filter(ctx, &(nst_conv2d_params){
        .x = &a->pad[i], .w = &net->param[w_index(i)], .dy = dy, .dw = &net->grad[w_index(i)],
        .db = &net->grad[b_index(i)], .stride = c.stride}));
    if (!dx)
        return NST_OK;
    const nst_tensor *pd = &a->pad[i], *in = a->in[i];
    nst_tensor dpad, dup;
    NST__TRY(act(pass, NST_TAG_GRADIENTS, c.name, "pad grad", pd->shape[0], pd->shape[1],
                 pd->shape[2], pd->shape[3], &dpad));
    NST__TRY(nst_conv2d_backward_data(ctx, &(nst_conv2d_params){
        .w = &net->param[w_index(i)], .dy = dy, .dx = &dpad, .stride = c.stride}));
    NST__TRY(act(pass, NST_TAG_GRADIENTS, c.name, "in grad", in->shape[0], in->shape[1],
                 in->shape[2], in->shape[3], dx));
    nst_tensor *to = dx;
    if (c.upsample) {
        const nst_tensor *u = &a->up[i];
        NST__TRY(act(pass, NST_TAG_GRADIENTS, c.name, "upsample grad", u->shape[0], u->shape[1],
                     u->shape[2], u->shape[3], &dup));
        to = &dup;
    }
    NST__TRY(nst_reflect_pad_backward(ctx, &(nst_reflect_pad_params){
        .dy = &dpad, .dx = to, .top = p, .bottom = p, .left = p, .right = p}));
    if (!c.upsample)
        return NST_OK;
    return nst_upsample2x_backward(ctx, &(nst_upsample2x_params){.dy = &dup, .dx = dx});
}

/* dy (norm i's output gradient; with relu, turned into the pre-ReLU gradient in place) ->
 * dgamma, dbeta and conv i's output gradient in a new buffer *dx. */
static nst_status norm_bwd(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, nst__tn_acts *a,
                           int i, bool relu, nst_tensor *dy, nst_tensor *dx) {
    if (relu)
        NST__TRY(nst_relu_backward(ctx, &(nst_relu_params){.x = &a->nout[i], .dy = dy, .dx = dy}));
    const nst_tensor *x = &a->out[i];
    char nn[16];
    norm_name(i, nn, sizeof nn);
    NST__TRY(act(pass, NST_TAG_GRADIENTS, nn, "in grad", x->shape[0], x->shape[1], x->shape[2],
                 x->shape[3], dx));
    return nst_instance_norm_backward(ctx, &(nst_instance_norm_params){
        .x = x, .gamma = &net->param[g_index(i)], .mean = &a->mean[i], .rstd = &a->rstd[i],
        .dy = dy, .dx = dx, .dgamma = &net->grad[g_index(i)],
        .dbeta = &net->grad[beta_index(i)], .eps = NORM_EPS});
}

nst_status nst__tn_backward(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, nst__tn_acts *a,
                            const nst_tensor *dy) {
    nst_tensor d, e, f;
    NST__TRY(conv_bwd(ctx, pass, net, a, 15, dy, &d));
    for (int i = 14; i >= 13; i--) {
        NST__TRY(norm_bwd(ctx, pass, net, a, i, true, &d, &e));
        NST__TRY(conv_bwd(ctx, pass, net, a, i, &e, &d));
    }
    for (int r = 4; r >= 0; r--) { /* d: the gradient w.r.t. sum[r] */
        const int i = 3 + 2 * r;
        NST__TRY(norm_bwd(ctx, pass, net, a, i + 1, false, &d, &e));
        NST__TRY(conv_bwd(ctx, pass, net, a, i + 1, &e, &f));
        NST__TRY(norm_bwd(ctx, pass, net, a, i, true, &f, &e));
        NST__TRY(conv_bwd(ctx, pass, net, a, i, &e, &f));
        NST__TRY(nst_axpy(ctx, &(nst_scale_params){.x = &f, .y = &d, .alpha = 1.0f}));
    }
    for (int i = 2; i >= 1; i--) {
        NST__TRY(norm_bwd(ctx, pass, net, a, i, true, &d, &e));
        NST__TRY(conv_bwd(ctx, pass, net, a, i, &e, &d));
    }
    NST__TRY(norm_bwd(ctx, pass, net, a, 0, true, &d, &e));
    return conv_bwd(ctx, pass, net, a, 0, &e, NULL);
}
