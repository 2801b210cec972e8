/* The Gatys losses on VGG19 features (src/host/networks/vgg19_net.h), as docs/design.md "Pixels and
 * semantics" defines them:
 *   content = sum_l w_l MSE(F_l, F_l(content))      w_l = 1
 *   style   = sum_l w_l MSE(G_l, G_l(style))        G = F^T F / (C H W) (NST_OP_GRAM_*)
 *   tv      = TV(x)                                 (NST_OP_TV_*)
 *   total   = content_weight * content + style_weight * style + tv_weight * tv
 * The gradients come from the ops' backward with `scale` = the loss's weight times its layer's
 * weight, accumulated into the feature's gradient (the first write overwrites). Also the layer
 * lists: comma-separated VGG19 names, the brief's defaults when NULL.
 * Tested by tests/test_vgg19.c (the total loss and the image gradient against PyTorch) and
 * tests/test_render.c (layer lists and their refusals). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "lbfgs.h"
#include "gatys.h"

#define DEFAULT_CONTENT "relu4_2"
#define DEFAULT_STYLE "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"

/* ---- layer lists ------------------------------------------------------------------------------ */

static nst_status parse_list(nst_ctx *ctx, const char *what, const char *list, nst__tap *taps,
                             int *n, int *depth) {
    *n = 0;
    *depth = 0;
    const char *s = list;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char name[16] = {0};
        if (len == 0 || len >= sizeof name)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s layers '%s': empty or overlong name "
                            "(names: conv1_1, relu1_1, ... relu5_4)", what, list);
        memcpy(name, s, len);
        bool relu = false;
        const int i = nst_vgg19_layer_find(name, &relu);
        if (i < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s layers: unknown layer '%s' (names: "
                            "conv1_1, relu1_1, ... relu5_4)", what, name);
        if (*n == NST__MAX_TAPS)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s layers: more than %d", what,
                            NST__MAX_TAPS);
        taps[*n] = (nst__tap){.conv = i, .relu = relu, .weight = 1.0};
        memcpy(taps[*n].name, name, sizeof name);
        (*n)++;
        if (i + 1 > *depth)
            *depth = i + 1;
        s = end ? end + 1 : s + len;
    }
    if (*n == 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s layers: the list is empty", what);
    return NST_OK;
}

nst_status nst__gatys_layers_parse(nst_ctx *ctx, const char *content, const char *style,
                                   const double *style_weights, nst__gatys_layers *out) {
    *out = (nst__gatys_layers){0};
    NST__TRY(parse_list(ctx, "content", content ? content : DEFAULT_CONTENT, out->content,
                        &out->n_content, &out->content_depth));
    NST__TRY(parse_list(ctx, "style", style ? style : DEFAULT_STYLE, out->style, &out->n_style,
                        &out->style_depth));
    for (int k = 0; style_weights && k < out->n_style; k++) {
        if (!isfinite(style_weights[k]) || style_weights[k] < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "style layer %s: weight %g (want finite, "
                            ">= 0)", out->style[k].name, style_weights[k]);
        out->style[k].weight = style_weights[k];
    }
    out->depth = out->content_depth > out->style_depth ? out->content_depth : out->style_depth;
    return NST_OK;
}

static unsigned char tap_bit(const nst__tap *t) { return t->relu ? NST__TAP_RELU : NST__TAP_CONV; }

void nst__gatys_taps(const nst__gatys_layers *L, unsigned char content[NST__VGG_N],
                     unsigned char style[NST__VGG_N], unsigned char both[NST__VGG_N]) {
    memset(content, 0, NST__VGG_N);
    memset(style, 0, NST__VGG_N);
    for (int k = 0; k < L->n_content; k++)
        content[L->content[k].conv] |= tap_bit(&L->content[k]);
    for (int k = 0; k < L->n_style; k++)
        style[L->style[k].conv] |= tap_bit(&L->style[k]);
    for (int i = 0; i < NST__VGG_N; i++)
        both[i] = content[i] | style[i];
}

/* ---- the losses ---------------------------------------------------------------------------------- */

static nst_status scalar(nst_mem_pass *pass, const char *what, const char *name, nst_tensor *out) {
    char label[48];
    snprintf(label, sizeof label, "%s loss %s", what, name);
    return nst_mem_pass_tensor(pass, NST_TAG_OTHER, NST_F32, 1, (const int64_t[]){1}, 0, label,
                               out);
}

/* Element i of the (n) losses buffer as a (1) tensor: the same planned buffer (a use of the
 * view is a use of the whole buffer), its data the element's address when running. */
static nst_tensor loss_view(const nst_tensor *all, int i) {
    nst_tensor v = *all;
    v.ndim = 1;
    v.shape[0] = 1;
    v.data = all->data ? (float *)all->data + i : NULL;
    return v;
}

static nst_status gram_tensor(nst_mem_pass *pass, nst_mem_tag tag, const char *label,
                              const char *name, int64_t c, unsigned flags, nst_tensor *out) {
    char text[48];
    snprintf(text, sizeof text, "%s %s", name, label);
    return nst_mem_pass_tensor(pass, tag, NST_F32, 3, (const int64_t[]){1, c, c}, flags, text,
                               out);
}

nst_status nst__gatys_losses_declare(nst_mem_pass *pass, const nst__gatys_layers *L,
                                     const nst__vgg19_pass *it, nst__gatys_losses *out) {
    out->L = L;
    for (int k = 0; k < L->n_content; k++) {
        const nst__tap *t = &L->content[k];
        const nst_tensor *f = nst__vgg19_feature(it, t->conv, t->relu);
        char label[48];
        snprintf(label, sizeof label, "%s content target", t->name);
        NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, f->ndim, f->shape,
                                     NST_MEM_PERSISTENT, label, &out->content_target[k]));
    }
    for (int k = 0; k < L->n_style; k++) {
        const nst__tap *t = &L->style[k];
        const int64_t c = nst__vgg19_feature(it, t->conv, t->relu)->shape[3];
        NST__TRY(gram_tensor(pass, NST_TAG_ACTIVATIONS, "style target", t->name, c,
                             NST_MEM_PERSISTENT, &out->style_target[k]));
        NST__TRY(gram_tensor(pass, NST_TAG_ACTIVATIONS, "gram", t->name, c, 0, &out->gram[k]));
        NST__TRY(gram_tensor(pass, NST_TAG_GRADIENTS, "gram grad", t->name, c, 0,
                             &out->dgram[k]));
    }
    if (out->normalize) {
        for (int k = 0; k < L->n_content + L->n_style; k++) {
            const nst__tap *t = k < L->n_content ? &L->content[k] : &L->style[k - L->n_content];
            const nst_tensor *f = nst__vgg19_feature(it, t->conv, t->relu);
            char label[64];
            snprintf(label, sizeof label, "%s normalised grad", t->name);
            NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_GRADIENTS, NST_F32, f->ndim, f->shape, 0,
                                         label, &out->norm_u[k]));
            snprintf(label, sizeof label, "%s normalised grad, norm scratch", t->name);
            NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_GRADIENTS, NST_F32, f->ndim, f->shape, 0,
                                         label, &out->norm_tmp[k]));
        }
        NST__TRY(scalar(pass, "normalisation", "L1 norm", &out->norm_sum));
    }
    /* every loss value in one buffer (content, style, tv), read back in one copy */
    const int n = L->n_content + L->n_style + 1;
    NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_OTHER, NST_F32, 1, (const int64_t[]){n}, 0,
                                 "loss values", &out->losses));
    for (int k = 0; k < L->n_content; k++)
        out->content_loss[k] = loss_view(&out->losses, out->content_at[k] = k);
    for (int k = 0; k < L->n_style; k++)
        out->style_loss[k] = loss_view(&out->losses, out->style_at[k] = L->n_content + k);
    out->tv_loss = loss_view(&out->losses, out->tv_at = n - 1);
    return NST_OK;
}

nst_status nst__gatys_targets(nst_ctx *ctx, nst__gatys_losses *g, const nst__vgg19_pass *content,
                              const nst__vgg19_pass *style) {
    const nst__gatys_layers *L = g->L;
    for (int k = 0; content && k < L->n_content; k++) {
        nst_scale_params copy = {
            .x = nst__vgg19_feature(content, L->content[k].conv, L->content[k].relu),
            .y = &g->content_target[k], .alpha = 1.0f};
        NST__TRY(nst_scale(ctx, &copy));
    }
    for (int k = 0; style && k < L->n_style; k++) {
        nst_gram_params gp = {.x = nst__vgg19_feature(style, L->style[k].conv, L->style[k].relu),
                              .g = &g->style_target[k]};
        NST__TRY(nst_gram_forward(ctx, &gp));
    }
    return NST_OK;
}

/* Copies the loss values to the host in one copy (a use of them, when recording). */
static nst_status read_losses(nst_ctx *ctx, nst_mem_pass *pass, const nst_tensor *t,
                              float *out) {
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, t);
        memset(out, 0, nst_tensor_bytes(t));
        return NST_OK;
    }
    return nst_copy_to_host(ctx, out, t->data, nst_tensor_bytes(t));
}

/* Runs each loss's forward op; the values are read back afterwards. */
static nst_status run_forwards(nst_ctx *ctx, nst__gatys_losses *g, const nst__vgg19_pass *it,
                               const nst_tensor *x) {
    const nst__gatys_layers *L = g->L;
    for (int k = 0; k < L->n_content; k++) {
        nst_mse_params m = {.a = nst__vgg19_feature(it, L->content[k].conv, L->content[k].relu),
                            .b = &g->content_target[k], .loss = &g->content_loss[k]};
        NST__TRY(nst_mse_forward(ctx, &m));
    }
    for (int k = 0; k < L->n_style; k++) {
        nst_gram_params gp = {.x = nst__vgg19_feature(it, L->style[k].conv, L->style[k].relu),
                              .g = &g->gram[k]};
        NST__TRY(nst_gram_forward(ctx, &gp));
        nst_mse_params m = {.a = &g->gram[k], .b = &g->style_target[k], .loss = &g->style_loss[k]};
        NST__TRY(nst_mse_forward(ctx, &m));
    }
    nst_tv_params tv = {.x = x, .loss = &g->tv_loss};
    return nst_tv_forward(ctx, &tv);
}

static bool nonfinite(double v, const char *name, char *bad) {
    if (isfinite(v) || bad[0])
        return !isfinite(v);
    snprintf(bad, 32, "%s", name);
    return true;
}

nst_status nst__gatys_forward(nst_ctx *ctx, nst_mem_pass *pass, nst__gatys_losses *g,
                              const nst__vgg19_pass *it, const nst_tensor *x, char *bad) {
    const nst__gatys_layers *L = g->L;
    g->pass = pass;
    NST__TRY(run_forwards(ctx, g, it, x));
    g->content = g->style = 0.0;
    bool failed = false;
    bad[0] = '\0';
    float v[2 * NST__MAX_TAPS + 1];
    NST__TRY(read_losses(ctx, pass, &g->losses, v));
    for (int k = 0; k < L->n_content; k++) {
        g->content_value[k] = v[g->content_at[k]];
        g->content += L->content[k].weight * g->content_value[k];
        failed |= nonfinite(g->content_value[k], L->content[k].name, bad);
    }
    for (int k = 0; k < L->n_style; k++) {
        g->style_value[k] = v[g->style_at[k]];
        g->style += L->style[k].weight * g->style_value[k];
        failed |= nonfinite(g->style_value[k], L->style[k].name, bad);
    }
    g->tv_value = v[g->tv_at];
    failed |= nonfinite(g->tv_value, "tv", bad);
    g->tv = g->tv_value;
    g->total = g->content_weight * g->content + g->style_weight * g->style + g->tv_weight * g->tv;
    if (failed)
        return NST__ERR(ctx, NST_ERR_INTERNAL, "the loss at %s is not finite (content %g, style "
                        "%g, tv %g): try a smaller learning rate or style weight", bad,
                        g->content, g->style, g->tv);
    return NST_OK;
}

/* Under normalize: u (the loss's unscaled gradient at the feature, in norm_u[k]) into grad as
 * weight * u / (|u|_1 + 1e-8). */
static nst_status add_normalised(nst_ctx *ctx, nst__gatys_losses *g, int k, double weight,
                                 nst_tensor *grad, bool *written) {
    double l1 = 0.0;
    NST__TRY(nst__l1_norm(ctx, g->pass, &g->norm_u[k], &g->norm_tmp[k], &g->norm_sum, &l1));
    nst_scale_params sp = {.x = &g->norm_u[k], .y = grad,
                           .alpha = (float)(weight / (fmax(l1, 0.0) + 1e-8))};
    NST__TRY(*written ? nst_axpy(ctx, &sp) : nst_scale(ctx, &sp));
    *written = true;
    return NST_OK;
}

nst_status nst__gatys_grad(nst_ctx *ctx, void *user, int i, bool relu, const nst_tensor *feature,
                           nst_tensor *grad, bool *written) {
    nst__gatys_losses *g = user;
    const nst__gatys_layers *L = g->L;
    for (int k = 0; k < L->n_content; k++) {
        if (L->content[k].conv != i || L->content[k].relu != relu)
            continue;
        const double w = g->content_weight * L->content[k].weight;
        nst_mse_params m = {.a = feature, .b = &g->content_target[k],
                            .da = g->normalize ? &g->norm_u[k] : grad,
                            .scale = g->normalize ? 1.0f : (float)w,
                            .accumulate = !g->normalize && *written};
        NST__TRY(nst_mse_backward(ctx, &m));
        if (g->normalize)
            NST__TRY(add_normalised(ctx, g, k, w, grad, written));
        *written = true;
    }
    for (int k = 0; k < L->n_style; k++) {
        if (L->style[k].conv != i || L->style[k].relu != relu)
            continue;
        const double w = g->style_weight * L->style[k].weight;
        nst_mse_params m = {.a = &g->gram[k], .b = &g->style_target[k], .da = &g->dgram[k],
                            .scale = g->normalize ? 1.0f : (float)w};
        NST__TRY(nst_mse_backward(ctx, &m));
        const int n = L->n_content + k;
        nst_gram_params gp = {.x = feature, .dg = &g->dgram[k],
                              .dx = g->normalize ? &g->norm_u[n] : grad,
                              .accumulate = !g->normalize && *written};
        NST__TRY(nst_gram_backward(ctx, &gp));
        if (g->normalize)
            NST__TRY(add_normalised(ctx, g, n, w, grad, written));
        *written = true;
    }
    return NST_OK;
}

nst_status nst__gatys_tv_backward(nst_ctx *ctx, const nst__gatys_losses *g, const nst_tensor *x,
                                  nst_tensor *dx) {
    if (g->tv_weight == 0.0f)
        return NST_OK;
    nst_tv_params tv = {.x = x, .dx = dx, .scale = g->tv_weight, .accumulate = true};
    return nst_tv_backward(ctx, &tv);
}
