/* VGG19's forward and backward, written out layer by layer over the op table (no backend
 * calls), as src/host/networks/vgg19_net.h declares.
 *
 * Semantics: torchvision's vgg19().features up to the deepest layer a pass needs, preceded by
 * the weights' input convention as a differentiable op (NST_OP_INPUT_CONVERT_*), so the image
 * is always RGB in [0, 1]: conv 3x3, stride 1, zero padding 1, bias, ReLU (fused into the conv
 * unless the pre-ReLU output is tapped), a 2x2 max or avg pool after conv1_2, conv2_2, conv3_4,
 * conv4_4 (and conv5_4) when a later conv follows.
 *
 * Backward goes to the image only (no weight gradients). It keeps what it needs: each ReLU
 * output (its mask, and the max pool's argmax), the tapped pre-ReLU outputs; everything else
 * (the converted input, pooled maps) lives only until its consumer has run, which the memory
 * pass's lifetimes give for free. The ReLU backward runs in place on the gradient buffer.
 *
 * Tested by tests/test_vgg19.c (features at several layers, max and avg pooling, and the image
 * gradient through the losses, against PyTorch goldens from tests/golden/gen_vgg19.py). */
#include <stdio.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "vgg19_net.h"

int nst__vgg19_cin(int i, int width) {
    return i == 0 ? 3 : nst_vgg19_layer_get(i)->cin * width / NST_VGG19_WIDTH;
}

int nst__vgg19_cout(int i, int width) {
    return nst_vgg19_layer_get(i)->cout * width / NST_VGG19_WIDTH;
}

nst_status nst__vgg19_declare(nst_mem_pass *pass, int n_convs, int width, nst_pool_mode pooling,
                              nst_input_convention convention, nst__vgg19 *net) {
    *net = (nst__vgg19){.n_convs = n_convs, .width = width, .pooling = pooling};
    net->convert = nst_input_convert_params_for(convention);
    char label[48];
    for (int i = 0; i < n_convs; i++) {
        const int ci = nst__vgg19_cin(i, width), co = nst__vgg19_cout(i, width);
        snprintf(label, sizeof label, "%s weight", nst_vgg19_layer_get(i)->name);
        NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_WEIGHTS, NST_F32, 4,
                                     (const int64_t[]){co, 3, 3, ci}, NST_MEM_PERSISTENT, label,
                                     &net->w[i]));
        snprintf(label, sizeof label, "%s bias", nst_vgg19_layer_get(i)->name);
        NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_WEIGHTS, NST_F32, 1, (const int64_t[]){co},
                                     NST_MEM_PERSISTENT, label, &net->b[i]));
    }
    return NST_OK;
}

nst_status nst__vgg19_upload(nst_ctx *ctx, nst_mem_pass *pass, nst__vgg19 *net,
                             const nst_vgg19_weights *w) {
    for (int i = 0; i < net->n_convs; i++) {
        if (nst_mem_pass_recording(pass)) {
            nst_mem_pass_touch(pass, &net->w[i]);
            nst_mem_pass_touch(pass, &net->b[i]);
            continue;
        }
        NST__TRY(nst_copy_to_device(ctx, net->w[i].data, w->w[i], nst_tensor_bytes(&net->w[i])));
        NST__TRY(nst_copy_to_device(ctx, net->b[i].data, w->b[i], nst_tensor_bytes(&net->b[i])));
    }
    return NST_OK;
}

/* One activation-shaped request: "<prefix><layer> <what>". */
static nst_status act(nst_mem_pass *pass, nst_mem_tag tag, const char *prefix, const char *layer,
                      const char *what, int64_t h, int64_t w, int64_t c, nst_tensor *out) {
    char label[64];
    snprintf(label, sizeof label, "%s%s %s", prefix, layer, what);
    return nst_mem_pass_tensor(pass, tag, NST_F32, 4, (const int64_t[]){1, h, w, c}, 0, label,
                               out);
}

nst_status nst__vgg19_pass_declare(nst_mem_pass *pass, const nst__vgg19 *net, int height,
                                   int width, const unsigned char *tap, bool backward,
                                   const char *prefix, nst__vgg19_pass *out) {
    *out = (nst__vgg19_pass){.height = height, .width = width, .backward = backward};
    for (int i = 0; i < NST__VGG_N; i++)
        if ((out->tap[i] = tap[i]) != 0)
            out->depth = i + 1;
    if (out->depth > net->n_convs)
        return NST_ERR_INTERNAL;
    const nst_mem_tag A = NST_TAG_ACTIVATIONS, G = NST_TAG_GRADIENTS;
    NST__TRY(act(pass, A, prefix, "input", "converted", height, width, 3, &out->xin));
    if (backward)
        NST__TRY(act(pass, G, prefix, "input", "grad", height, width, 3, &out->g_xin));
    int64_t h = height, w = width;
    for (int i = 0; i < out->depth; i++) {
        const nst_vgg19_layer *l = nst_vgg19_layer_get(i);
        const int64_t c = nst__vgg19_cout(i, net->width);
        if (tap[i] & NST__TAP_CONV)
            NST__TRY(act(pass, A, prefix, l->name, "out", h, w, c, &out->c[i]));
        NST__TRY(act(pass, A, prefix, l->relu_name, "out", h, w, c, &out->a[i]));
        if (backward)
            NST__TRY(act(pass, G, prefix, l->relu_name, "grad", h, w, c, &out->g_a[i]));
        if (l->pool_after && i + 1 < out->depth) {
            h /= 2, w /= 2;
            NST__TRY(act(pass, A, prefix, l->relu_name, "pooled", h, w, c, &out->p[i]));
            if (backward)
                NST__TRY(act(pass, G, prefix, l->relu_name, "pooled grad", h, w, c, &out->g_p[i]));
        }
    }
    return NST_OK;
}

const nst_tensor *nst__vgg19_feature(const nst__vgg19_pass *p, int i, bool relu) {
    if (i < 0 || i >= p->depth)
        return NULL;
    if (relu)
        return &p->a[i];
    return (p->tap[i] & NST__TAP_CONV) ? &p->c[i] : NULL;
}

/* Conv i's input in the forward: the converted image, the previous ReLU output or its pool. */
static const nst_tensor *conv_input(const nst__vgg19_pass *p, int i) {
    if (i == 0)
        return &p->xin;
    return p->p[i - 1].ndim ? &p->p[i - 1] : &p->a[i - 1];
}

nst_status nst__vgg19_forward(nst_ctx *ctx, const nst__vgg19 *net, nst__vgg19_pass *p,
                              const nst_tensor *x) {
    nst_input_convert_params cv = net->convert;
    cv.x = x;
    cv.y = &p->xin;
    NST__TRY(nst_input_convert_forward(ctx, &cv));
    for (int i = 0; i < p->depth; i++) {
        const bool pre = (p->tap[i] & NST__TAP_CONV) != 0;
        nst_conv2d_params c = {.x = conv_input(p, i), .w = &net->w[i], .b = &net->b[i],
                               .y = pre ? &p->c[i] : &p->a[i], .stride = 1, .pad = 1,
                               .relu = !pre};
        NST__TRY(nst_conv2d_forward(ctx, &c));
        if (pre) {
            nst_relu_params r = {.x = &p->c[i], .y = &p->a[i]};
            NST__TRY(nst_relu_forward(ctx, &r));
        }
        if (p->p[i].ndim) {
            nst_pool2x2_params pp = {.x = &p->a[i], .y = &p->p[i], .mode = net->pooling};
            NST__TRY(nst_pool2x2_forward(ctx, &pp));
        }
    }
    return NST_OK;
}

/* The gradient w.r.t. conv i's input goes here: the previous ReLU's gradient, its pool's, or
 * the converted input's. */
static nst_tensor *conv_input_grad(nst__vgg19_pass *p, int i) {
    if (i == 0)
        return &p->g_xin;
    return p->g_p[i - 1].ndim ? &p->g_p[i - 1] : &p->g_a[i - 1];
}

/* Conv i's backward: g_a[i] holds the gradient w.r.t. its ReLU output when `written`; turns it
 * into the pre-ReLU gradient (in place), adds the pre-ReLU losses, and sends it to the input. */
static nst_status conv_backward(nst_ctx *ctx, const nst__vgg19 *net, nst__vgg19_pass *p, int i,
                                nst__vgg19_grad_fn fn, void *user, bool written) {
    nst_tensor *g = &p->g_a[i];
    if (written) {
        nst_relu_params r = {.x = &p->a[i], .dy = g, .dx = g};
        NST__TRY(nst_relu_backward(ctx, &r));
    }
    if (p->tap[i] & NST__TAP_CONV)
        NST__TRY(fn(ctx, user, i, false, &p->c[i], g, &written));
    if (!written)
        return NST__ERR(ctx, NST_ERR_INTERNAL, "vgg19 backward: no gradient reaches %s",
                        nst_vgg19_layer_get(i)->name);
    nst_tensor *dx = conv_input_grad(p, i);
    nst_conv2d_params c = {.w = &net->w[i], .dy = g, .dx = dx, .stride = 1, .pad = 1};
    NST__TRY(nst_conv2d_backward_data(ctx, &c));
    if (i > 0 && p->g_p[i - 1].ndim) {
        nst_pool2x2_params pp = {.x = &p->a[i - 1], .dy = dx, .dx = &p->g_a[i - 1],
                                 .mode = net->pooling};
        NST__TRY(nst_pool2x2_backward(ctx, &pp));
    }
    return NST_OK;
}

nst_status nst__vgg19_backward(nst_ctx *ctx, const nst__vgg19 *net, nst__vgg19_pass *p,
                               nst__vgg19_grad_fn fn, void *user, nst_tensor *dx,
                               bool accumulate) {
    if (!p->backward || p->depth == 0)
        return NST__ERR(ctx, NST_ERR_INTERNAL, "vgg19 backward: the pass has no backward");
    for (int i = p->depth - 1; i >= 0; i--) {
        bool written = i + 1 < p->depth; /* the conv above wrote g_a[i] */
        if (p->tap[i] & NST__TAP_RELU)
            NST__TRY(fn(ctx, user, i, true, &p->a[i], &p->g_a[i], &written));
        NST__TRY(conv_backward(ctx, net, p, i, fn, user, written));
    }
    nst_input_convert_params cv = net->convert;
    cv.dy = &p->g_xin;
    cv.dx = dx;
    cv.accumulate = accumulate;
    return nst_input_convert_backward(ctx, &cv);
}
