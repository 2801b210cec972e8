/* The Gatys render (include/nstyle/render.h): VGG19 features (src/host/networks/vgg19.c), the
 * content, Gram style and TV losses (src/host/pipelines/losses.c), torch.optim.Adam on the image
 * (NST_OP_ADAM, one slot) and a clamp to [0, 1] after each step (NST_OP_CLAMP), or L-BFGS
   * (src/host/pipelines/lbfgs.c), all through the op table. Several styles: one target pass each,
   * their Gram matrices blended into the targets (NST_OP_SCALE / NST_OP_AXPY). Original colours
     * and the final clamp run on the host copy of the result.
 *
 * One function, build(), declares every buffer and runs the render; it runs twice. First in a
 * recording pass: the setup (weights upload, the style-target pass at the style image's size,
 * the content-target pass) and one iteration record the plan. Then, after the budget check and
 * with one arena of exactly the plan's size, in a run pass: the same setup, then the iteration
 * body as many times as asked. Values carried between iterations (image, Adam state, targets,
 * weights) are persistent buffers; everything else lives from its first use to its last within
 * one iteration, so looping over the recorded body is safe. nst_render_plan() is the first
 * pass alone, with no weights and no images.
 *
 * Tested by tests/test_render.c (plan total = the tracker's peak on a bare context; the real
 * partial weights on a 64x64 crop, style loss falling; cancel and callback stop; non-finite
 * loss; refusals), tests/test_vgg19.c (losses and the image gradient against PyTorch) and
 * tests/test_render_controls.c (styles, blend, colours, L-BFGS, snapshots). */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "lbfgs.h"
#include "nstyle/colour.h"
#include "render_geometry.h"
#include "gatys.h"

void nst_render_options_default(nst_render_options *o) {
    *o = (nst_render_options){.init = NST_INIT_CONTENT, .iterations = 300, .lr = 0.01,
                              .content_weight = 1.0, .style_weight = 100.0, .tv_weight = 0.0,
                              .adam_beta1 = 0.9, .adam_beta2 = 0.999, .adam_eps = 1e-8,
                              .pooling = NST_POOL_MAX, .lbfgs_history = 100,
                              .lbfgs_tolerance_grad = -1.0, .lbfgs_tolerance_change = -1.0,
                              .content_transform = nst_geometry_identity(),
                              .style_transform = nst_geometry_identity(),
                              .transform_padding = NST_PAD_REFLECTION, .view_rotate_deg = 20.0,
                              .view_scale_min = 0.8, .view_scale_max = 1.2, .view_shift = 0.1,
                              .style_transform_penalty = 1e8};
}

void nst_render_result_free(nst_render_result *r) {
    if (!r)
        return;
    free(r->image);
    r->image = NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the render's state -----------------------------------------------------------------------
 * */

typedef struct {
    const nst_render_options *o;
    const nst_vgg19_weights *weights; /* NULL when only planning */
    nst__gatys_layers L;
    int net_width;
    nst_input_convention convention;
    float *grad_out;   /* evaluate only: the image gradient (H, W, 3) */
    nst_render_result *r;
    nst__vgg19 net;
    nst__vgg19_pass content, it, style[NST_RENDER_MAX_STYLES];
    nst__gatys_losses loss;
    nst_tensor image;      /* (1, H, W, 3) RGB [0, 1], persistent */
    nst_tensor m, v;       /* (1, H, W, 3) Adam state, persistent */
    nst__lbfgs lbfgs;      /* L-BFGS state (persistent tensors) */
    nst_tensor image_grad; /* (1, H, W, 3); persistent under L-BFGS */
    nst_tensor content_in; /* (1, H, W, 3) the content image */
    nst_tensor style_in[NST_RENDER_MAX_STYLES]; /* (1, Hs, Ws, 3) each style image */
    /* the styles, from options.style or options.styles */
    int n_styles;
    const float *style_host[NST_RENDER_MAX_STYLES]; /* after histogram matching, if asked */
    int style_w[NST_RENDER_MAX_STYLES], style_h[NST_RENDER_MAX_STYLES];
    double blend[NST_RENDER_MAX_STYLES];            /* normalised to sum 1 */
    float *snapshot;       /* host copy for the snapshot callback */
    int evals;             /* loss + gradient evaluations so far */
    nst__geometry geo;     /* src/host/pipelines/render_geometry.h */
} render_state;

static nst__geometry_env geo_env(render_state *s) {
    return (nst__geometry_env){.o = s->o, .L = &s->L, .net = &s->net, .loss = &s->loss,
                               .image = &s->image, .image_grad = &s->image_grad,
                               .n_styles = s->n_styles, .style = s->style, .style_in = s->style_in,
                               .style_w = s->style_w, .style_h = s->style_h, .blend = s->blend,
                               .steps = s->o->iterations > 0 && !s->grad_out, .r = s->r};
}

/* The styles of o into s (options checked). */
static void resolve_styles(const nst_render_options *o, render_state *s) {
    s->n_styles = o->n_styles > 0 ? o->n_styles : 1;
    double sum = 0.0;
    for (int j = 0; j < s->n_styles; j++) {
        s->style_host[j] = o->n_styles > 0 ? (o->styles ? o->styles[j] : NULL) : o->style;
        s->style_w[j] = o->n_styles > 0 ? o->styles_width[j] : o->style_width;
        s->style_h[j] = o->n_styles > 0 ? o->styles_height[j] : o->style_height;
        s->blend[j] = o->n_styles > 0 && o->style_blend ? o->style_blend[j] : 1.0;
        sum += s->blend[j];
    }
    for (int j = 0; j < s->n_styles; j++)
        s->blend[j] /= sum;
}

static nst_status image_tensor(nst_mem_pass *pass, nst_mem_tag tag, int h, int w, unsigned flags,
                               const char *label, nst_tensor *out) {
    return nst_mem_pass_tensor(pass, tag, NST_F32, 4, (const int64_t[]){1, h, w, 3}, flags, label,
                               out);
}

static nst_status lbfgs_evaluate(nst_ctx *ctx, nst_mem_pass *pass, void *user,
                                 double f[NST__LBFGS_F]);

static nst_status declare(nst_ctx *ctx, nst_mem_pass *pass, render_state *s) {
    const nst_render_options *o = s->o;
    const int H = o->height, W = o->width;
    unsigned char tc[NST__VGG_N], ts[NST__VGG_N], both[NST__VGG_N];
    nst__gatys_taps(&s->L, tc, ts, both);
    NST__TRY(nst__vgg19_declare(pass, s->L.depth, s->net_width, o->pooling, s->convention,
                                &s->net));
    const bool lbfgs = o->optimizer == NST_OPTIMIZER_LBFGS;
    NST__TRY(image_tensor(pass, NST_TAG_OTHER, H, W, NST_MEM_PERSISTENT, "image", &s->image));
    NST__TRY(image_tensor(pass, NST_TAG_GRADIENTS, H, W, lbfgs ? NST_MEM_PERSISTENT : 0,
                          "image grad", &s->image_grad));
    if (lbfgs) {
        nst__lbfgs_free(&s->lbfgs);
        s->lbfgs = (nst__lbfgs){
            .lr = o->lr, .tolerance_grad = o->lbfgs_tolerance_grad,
            .tolerance_change = o->lbfgs_tolerance_change,
            .strong_wolfe = o->lbfgs_line_search == NST_LINE_SEARCH_STRONG_WOLFE,
            .eval = lbfgs_evaluate, .eval_user = s, .cancel = o->cancel};
        NST__TRY(nst__lbfgs_declare(ctx, pass, &s->image, &s->image_grad,
                                    o->lbfgs_history, &s->lbfgs));
    } else {
        NST__TRY(image_tensor(pass, NST_TAG_OPTIMISER, H, W, NST_MEM_PERSISTENT, "adam m",
                              &s->m));
        NST__TRY(image_tensor(pass, NST_TAG_OPTIMISER, H, W, NST_MEM_PERSISTENT, "adam v",
                              &s->v));
    }
    NST__TRY(image_tensor(pass, NST_TAG_ACTIVATIONS, H, W, 0, "content image", &s->content_in));
    for (int j = 0; j < s->n_styles; j++) {
        char label[32] = "style ";
        if (s->n_styles > 1)
            snprintf(label, sizeof label, "style %d ", j + 1);
        char image_label[48];
        snprintf(image_label, sizeof image_label, "%simage", label);
        const bool learn = nst__geometry_learns(o); /* theta: the style pass every iteration */
        NST__TRY(image_tensor(pass, NST_TAG_ACTIVATIONS, s->style_h[j], s->style_w[j],
                              learn ? NST_MEM_PERSISTENT : 0, image_label, &s->style_in[j]));
        NST__TRY(nst__vgg19_pass_declare(pass, &s->net, s->style_h[j], s->style_w[j], ts, learn,
                                         label, &s->style[j]));
    }
    NST__TRY(nst__vgg19_pass_declare(pass, &s->net, H, W, tc, false, "content ", &s->content));
    NST__TRY(nst__vgg19_pass_declare(pass, &s->net, H, W, both, true, "", &s->it));
    s->loss.content_weight = (float)o->content_weight;
    s->loss.style_weight = (float)nst__geometry_style_weight(o);
    s->loss.tv_weight = (float)o->tv_weight;
    s->loss.normalize = o->normalize_gradients;
    NST__TRY(nst__gatys_losses_declare(pass, &s->L, &s->it, &s->loss));
    const nst__geometry_env e = geo_env(s);
    return nst__geometry_declare(pass, &e, &s->geo);
}

/* Host to a tensor (recording: a use of it). */
static nst_status upload(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *t, const float *host) {
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, t);
        return NST_OK;
    }
    return nst_copy_to_device(ctx, t->data, host, nst_tensor_bytes(t));
}

/* A tensor to the host (recording: a use of it). */
static nst_status download(nst_ctx *ctx, nst_mem_pass *pass, const nst_tensor *t, float *host) {
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, t);
        return NST_OK;
    }
    return nst_copy_to_host(ctx, host, t->data, nst_tensor_bytes(t));
}

static nst_status zero(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *t) {
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, t);
        return NST_OK;
    }
    return nst_memset_device(ctx, t->data, 0, nst_tensor_bytes(t));
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The initial image: the content, the given image, or uniform [0, 1) noise from the seed. */
static nst_status init_image(nst_ctx *ctx, nst_mem_pass *pass, render_state *s) {
    const nst_render_options *o = s->o;
    if (nst_mem_pass_recording(pass) || o->init != NST_INIT_NOISE)
        return upload(ctx, pass, &s->image, o->init == NST_INIT_IMAGE ? o->init_image : o->content);
    const size_t n = (size_t)o->width * (size_t)o->height * 3;
    float *noise = malloc(n * sizeof *noise);
    if (!noise)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "render: no host memory for the noise image");
    uint64_t state = o->seed;
    for (size_t i = 0; i < n; i++)
        noise[i] = (float)(splitmix64(&state) >> 40) * 0x1p-24f;
    nst_status st = upload(ctx, pass, &s->image, noise);
    free(noise);
    return st;
}

/* Style j's Gram matrices into the targets: the target itself for one style, else
 * target (+)= blend_j G_j through the image's Gram buffers. */
static nst_status style_targets(nst_ctx *ctx, render_state *s, int j) {
    if (s->n_styles == 1)
        return nst__gatys_targets(ctx, &s->loss, NULL, &s->style[0]);
    const nst__gatys_layers *L = &s->L;
    for (int k = 0; k < L->n_style; k++) {
        nst_gram_params gp = {.x = nst__vgg19_feature(&s->style[j], L->style[k].conv,
                                                      L->style[k].relu),
                              .g = &s->loss.gram[k]};
        NST__TRY(nst_gram_forward(ctx, &gp));
        nst_scale_params sp = {.x = &s->loss.gram[k], .y = &s->loss.style_target[k],
                               .alpha = (float)s->blend[j]};
        NST__TRY(j == 0 ? nst_scale(ctx, &sp) : nst_axpy(ctx, &sp));
    }
    return NST_OK;
}

/* Weights, images, optimiser state and the targets. */
static nst_status setup(nst_ctx *ctx, nst_mem_pass *pass, render_state *s) {
    const nst_render_options *o = s->o;
    NST__TRY(nst__vgg19_upload(ctx, pass, &s->net, s->weights));
    NST__TRY(upload(ctx, pass, &s->content_in, o->content));
    NST__TRY(init_image(ctx, pass, s));
    if (o->optimizer == NST_OPTIMIZER_LBFGS) {
        NST__TRY(nst__lbfgs_reset(ctx, pass, &s->lbfgs));
    } else {
        NST__TRY(zero(ctx, pass, &s->m));
        NST__TRY(zero(ctx, pass, &s->v));
    }
    for (int j = 0; j < s->n_styles; j++) {
        NST__TRY(upload(ctx, pass, &s->style_in[j], s->style_host[j]));
        if (nst__geometry_owns_targets(o))
            continue;
        NST__TRY(nst__vgg19_forward(ctx, &s->net, &s->style[j], &s->style_in[j]));
        NST__TRY(style_targets(ctx, s, j));
    }
    const nst__geometry_env e = geo_env(s);
    NST__TRY(nst__geometry_setup(ctx, pass, &e, &s->geo));
    NST__TRY(nst__vgg19_forward(ctx, &s->net, &s->content, &s->content_in));
    return nst__gatys_targets(ctx, &s->loss, &s->content, NULL);
}

/* The losses at the image and their gradient w.r.t. it. */
static nst_status evaluate(nst_ctx *ctx, nst_mem_pass *pass, render_state *s, char *bad) {
    const nst__geometry_env e = geo_env(s);
    NST__TRY(nst__geometry_before_evaluate(ctx, &e, &s->geo));
    NST__TRY(nst__vgg19_forward(ctx, &s->net, &s->it, &s->image));
    NST__TRY(nst__gatys_forward(ctx, pass, &s->loss, &s->it, &s->image, bad));
    NST__TRY(nst__vgg19_backward(ctx, &s->net, &s->it, nst__gatys_grad, &s->loss,
                                 &s->image_grad, false));
    NST__TRY(nst__gatys_tv_backward(ctx, &s->loss, &s->image, &s->image_grad));
    return nst__geometry_after_evaluate(ctx, pass, &e, &s->geo, bad);
}

/* evaluate(), counted; a non-finite loss names its layer and evaluation. */
static nst_status evaluate_counted(nst_ctx *ctx, nst_mem_pass *pass, render_state *s) {
    char bad[32] = "";
    s->evals++;
    nst_status st = evaluate(ctx, pass, s, bad);
    if (bad[0]) {
        snprintf(s->r->nonfinite_layer, sizeof s->r->nonfinite_layer, "%s", bad);
        s->r->nonfinite_iteration = s->evals;
    }
    return st;
}

/* The line search's evaluations (lbfgs.h): the total loss and its parts. */
static nst_status lbfgs_evaluate(nst_ctx *ctx, nst_mem_pass *pass, void *user,
                                 double f[NST__LBFGS_F]) {
    render_state *s = user;
    NST__TRY(evaluate_counted(ctx, pass, s));
    f[0] = s->loss.total, f[1] = s->loss.content, f[2] = s->loss.style, f[3] = s->loss.tv;
    return NST_OK;
}

/* Adam step t (from 1) on the image, then the clamp to [0, 1]; or an L-BFGS iteration
 * (unclamped, as neural-style: clamping would break its curvature pairs), which sets *done
 * when a tolerance stops it; its line search leaves the losses at the accepted image. */
static nst_status step(nst_ctx *ctx, nst_mem_pass *pass, render_state *s, int t, bool *done) {
    const nst_render_options *o = s->o;
    *done = false;
    if (o->optimizer == NST_OPTIMIZER_LBFGS) {
        nst__lbfgs *L = &s->lbfgs;
        nst__gatys_losses *l = &s->loss;
        const double f[NST__LBFGS_F] = {l->total, l->content, l->style, l->tv};
        memcpy(L->f, f, sizeof f);
        NST__TRY(nst__lbfgs_step(ctx, pass, L, l->total, done));
        l->total = L->f[0], l->content = L->f[1], l->style = L->f[2], l->tv = L->f[3];
        return NST_OK;
    }
    nst_adam_slot slot = {.param = &s->image, .grad = &s->image_grad, .m = &s->m, .v = &s->v};
    nst_adam_params a = {.slots = &slot, .n_slots = 1,
                         .step = nst_adam_step_make(o->lr, o->adam_beta1, o->adam_beta2,
                                                    o->adam_eps, 0.0, t)};
    NST__TRY(nst_adam(ctx, &a));
    nst_clamp_params c = {.x = &s->image, .y = &s->image, .lo = 0.0f, .hi = 1.0f};
    return nst_clamp(ctx, &c);
}

static void record_losses(render_state *s, int t) {
    nst_render_result *r = s->r;
    r->content_loss = s->loss.content;
    r->style_loss = s->loss.style;
    r->tv_loss = s->loss.tv;
    r->total_loss = s->loss.total;
    if (t == 1) {
        r->initial_content_loss = s->loss.content;
        r->initial_style_loss = s->loss.style;
    }
}

/* Whether the loop goes on after iteration t (the callback and the cancel flag can stop it). */
static bool keep_going(render_state *s, int t, double t0) {
    const nst_render_options *o = s->o;
    nst_render_progress p = {.iteration = t, .iterations = o->iterations, .scales = 1,
                             .content_loss = s->loss.content, .style_loss = s->loss.style,
                             .tv_loss = s->loss.tv, .total_loss = s->loss.total,
                             .seconds = now() - t0};
    bool go = !o->progress || o->progress(&p, o->progress_user);
    if (!go || (o->cancel && *o->cancel)) {
        s->r->cancelled = t < o->iterations;
        return false;
    }
    return true;
}

/* The final touches on a host image: clamped to [0, 1] and, under original_colors, its Y with
 * the content's U and V (BT.601, the rgb_to_yuv / yuv_to_rgb ops on a CPU context over host
 * memory), then clamped again. */
static nst_status finish_image(nst_ctx *ctx, const nst_render_options *o, float *img) {
    const size_t n = (size_t)o->width * (size_t)o->height * 3;
    for (size_t i = 0; i < n; i++)
        img[i] = img[i] < 0.0f ? 0.0f : img[i] > 1.0f ? 1.0f : img[i];
    if (!o->original_colors)
        return NST_OK;
    float *uv = malloc(n * sizeof *uv);
    nst_ctx *cpu = uv ? nst_ctx_create() : NULL;
    if (!cpu) {
        free(uv);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "render: no host memory for original colours");
    }
    nst_tensor ti = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, img, 1, o->height, o->width, 3);
    nst_tensor tc = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (void *)o->content, 1, o->height,
                                    o->width, 3);
    nst_tensor tu = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, uv, 1, o->height, o->width, 3);
    nst_colour_params to_yuv = {.x = &ti, .y = &ti}, content_yuv = {.x = &tc, .y = &tu};
    nst_status st = nst_rgb_to_yuv(cpu, &to_yuv);
    if (st == NST_OK)
        st = nst_rgb_to_yuv(cpu, &content_yuv);
    for (size_t i = 0; st == NST_OK && i < n; i += 3)
        img[i + 1] = uv[i + 1], img[i + 2] = uv[i + 2];
    nst_colour_params to_rgb = {.x = &ti, .y = &ti};
    if (st == NST_OK)
        st = nst_yuv_to_rgb(cpu, &to_rgb);
    if (st != NST_OK)
        st = NST__ERR(ctx, st, "render: original colours: %s", nst_last_error(cpu));
    for (size_t i = 0; i < n; i++)
        img[i] = img[i] < 0.0f ? 0.0f : img[i] > 1.0f ? 1.0f : img[i];
    nst_ctx_destroy(cpu);
    free(uv);
    return st;
}

/* The image after iteration t to the snapshot callback. */
static nst_status snapshot(nst_ctx *ctx, nst_mem_pass *pass, render_state *s, int t) {
    const nst_render_options *o = s->o;
    const size_t n = (size_t)o->width * (size_t)o->height * 3;
    if (!s->snapshot && !(s->snapshot = malloc(n * sizeof(float))))
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "render: no host memory for a snapshot");
    NST__TRY(download(ctx, pass, &s->image, s->snapshot));
    NST__TRY(finish_image(ctx, o, s->snapshot));
    if (!o->snapshot(s->snapshot, o->width, o->height, t, o->snapshot_user))
        return NST__ERR(ctx, NST_ERR_IO, "render: the snapshot of iteration %d failed", t);
    return NST_OK;
}

/* The iterations: one when recording; none past evaluation when iterations is 0. They stop
 * when the evaluations reach o->iterations (torch's max_eval, checked after each step: under
 * a line search, L-BFGS evaluates itself after the first evaluation, and may run past it). */
static nst_status iterate(nst_ctx *ctx, nst_mem_pass *pass, render_state *s) {
    const nst_render_options *o = s->o;
    const bool rec = nst_mem_pass_recording(pass);
    const bool steps = o->iterations > 0 && !s->grad_out;
    const bool line_search = o->optimizer == NST_OPTIMIZER_LBFGS && s->lbfgs.strong_wolfe;
    const int n = rec || !steps ? 1 : o->iterations;
    const double t0 = now();
    nst_status st = NST_OK;
    s->evals = 0;
    for (int t = 1, last = 0; s->evals < n && st == NST_OK; t++) {
        if (t == 1 || !line_search) {
            if ((st = evaluate_counted(ctx, pass, s)) != NST_OK)
                break;
            record_losses(s, s->evals);
            if (s->grad_out)
                st = download(ctx, pass, &s->image_grad, s->grad_out);
            if (!steps || st != NST_OK)
                break;
        }
        bool done = false;
        st = step(ctx, pass, s, t, &done);
        if (st == NST_OK && line_search)
            record_losses(s, s->evals);
        if (st == NST_OK && !rec) {
            s->r->iterations_done = s->r->evaluations = s->evals;
            s->r->converged = done;
            const int every = o->save_every; /* after the evaluation that reaches a multiple */
            if (!done && every > 0 && s->evals / every > last / every && o->snapshot)
                st = snapshot(ctx, pass, s, s->evals);
            last = s->evals;
            if (st != NST_OK || done || !keep_going(s, s->evals, t0))
                break;
        }
    }
    if (!rec && nst_synchronize(ctx) == NST_OK)
        s->r->seconds = now() - t0;
    return st;
}

static nst_status build(nst_ctx *ctx, nst_mem_pass *pass, void *user) {
    render_state *s = user;
    const bool rec = nst_mem_pass_recording(pass);
    NST__TRY(declare(ctx, pass, s));
    const double t0 = now();
    NST__TRY(setup(ctx, pass, s));
    if (!rec) {
        NST__TRY(nst_synchronize(ctx));
        s->r->setup_seconds = now() - t0;
    }
    nst_status st = iterate(ctx, pass, s);
    if (!rec) {
        const size_t n = (size_t)s->o->width * (size_t)s->o->height * 3;
        s->r->image = malloc(n * sizeof(float));
        if (!s->r->image)
            return NST__ERR(ctx, NST_ERR_NO_MEMORY, "render: no host memory for the result");
        s->r->width = s->o->width;
        s->r->height = s->o->height;
    }
    nst_status dl = download(ctx, pass, &s->image, s->r->image);
    if (!rec && dl == NST_OK)
        dl = finish_image(ctx, s->o, s->r->image);
    return st != NST_OK ? st : dl;
}

/* ---- the calls ----------------------------------------------------------------------------------
 * */

static nst_status check_options(nst_ctx *ctx, const nst_render_options *o, bool images) {
    if (!o)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: NULL options");
    if (o->width < 1 || o->height < 1 ||
        (o->n_styles == 0 && (o->style_width < 1 || o->style_height < 1)))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: image %dx%d and style %dx%d must be "
                        "at least 1x1", o->width, o->height, o->style_width, o->style_height);
    if (o->iterations < 0 || !(o->lr > 0) || !isfinite(o->lr) || !isfinite(o->content_weight) ||
        !isfinite(o->style_weight) || !isfinite(o->tv_weight))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: iterations %d, lr %g, weights "
                        "content %g style %g tv %g (want >= 0, > 0 and finite)", o->iterations,
                        o->lr, o->content_weight, o->style_weight, o->tv_weight);
    if (o->pooling != NST_POOL_MAX && o->pooling != NST_POOL_AVG)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: unknown pooling %d", (int)o->pooling);
    if (o->n_styles < 0 || o->n_styles > NST_RENDER_MAX_STYLES)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: %d style images (want 1 .. %d)",
                        o->n_styles, NST_RENDER_MAX_STYLES);
    if (o->n_styles > 0 && (!o->styles_width || !o->styles_height || (images && !o->styles)))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: %d style images but NULL images or "
                        "sizes", o->n_styles);
    double blend_sum = 0.0;
    for (int j = 0; j < o->n_styles; j++) {
        if (o->styles_width[j] < 1 || o->styles_height[j] < 1)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: style %d is %dx%d (want at least "
                            "1x1)", j + 1, o->styles_width[j], o->styles_height[j]);
        const double w = o->style_blend ? o->style_blend[j] : 1.0;
        if (!isfinite(w) || w < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: style blend weight %d is %g (want "
                            "finite, >= 0)", j + 1, w);
        blend_sum += w;
        if (images && !o->styles[j])
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: style image %d is NULL", j + 1);
    }
    if (o->n_styles > 0 && !(blend_sum > 0))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: the style blend weights are all 0");
    if (o->optimizer != NST_OPTIMIZER_ADAM && o->optimizer != NST_OPTIMIZER_LBFGS)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: unknown optimizer %d",
                        (int)o->optimizer);
    if (o->optimizer == NST_OPTIMIZER_LBFGS &&
        (o->lbfgs_history < 1 || o->lbfgs_history > NST__LBFGS_MAX_HISTORY))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: L-BFGS history %d (want 1 .. %d)",
                        o->lbfgs_history, NST__LBFGS_MAX_HISTORY);
    if (o->lbfgs_line_search != NST_LINE_SEARCH_NONE &&
        (o->lbfgs_line_search != NST_LINE_SEARCH_STRONG_WOLFE ||
         o->optimizer != NST_OPTIMIZER_LBFGS))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: line search %d is not one for this "
                        "optimizer (want NST_LINE_SEARCH_NONE, or NST_LINE_SEARCH_STRONG_WOLFE "
                        "with NST_OPTIMIZER_LBFGS)", (int)o->lbfgs_line_search);
    if (o->save_every < 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: save_every %d (want >= 0)",
                        o->save_every);
    if (images && (!o->content || (o->n_styles == 0 && !o->style) ||
                   (o->init == NST_INIT_IMAGE && !o->init_image)))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: the content, style%s image is NULL",
                        o->init == NST_INIT_IMAGE ? " or initial" : "");
    if (images && !o->weights_path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: no weights file (weights_path)");
    return nst__geometry_check(ctx, o);
}

/* The options' GPU settings on the context for the render's duration (deterministic: on when
 * asked, else the context's own; workspace_limit: the cap when non-zero), restored after. */
typedef struct {
    bool deterministic;
    size_t workspace_limit;
} ctx_settings;

static ctx_settings apply_settings(nst_ctx *ctx, const nst_render_options *o) {
    const ctx_settings saved = {nst_ctx_deterministic(ctx), nst_ctx_workspace_limit(ctx)};
    if (o && o->deterministic)
        nst_ctx_set_deterministic(ctx, true);
    if (o && o->workspace_limit)
        nst_ctx_set_workspace_limit(ctx, o->workspace_limit);
    return saved;
}

static void restore_settings(nst_ctx *ctx, ctx_settings saved) {
    nst_ctx_set_deterministic(ctx, saved.deterministic);
    nst_ctx_set_workspace_limit(ctx, saved.workspace_limit);
}

nst_status nst_render_plan(nst_ctx *ctx, const nst_render_options *o, nst_plan **out) {
    if (o && o->scales > 1)
        return nst__render_scales_plan(ctx, o, out);
    return nst__render_plan_one(ctx, o, out);
}

nst_status nst__render_plan_one(nst_ctx *ctx, const nst_render_options *o, nst_plan **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render plan: NULL output");
    *out = NULL;
    NST__TRY(check_options(ctx, o, false));
    render_state s = {.o = o, .net_width = NST_VGG19_WIDTH,
                      .convention = NST_INPUT_BGR_0_255_MINUS_MEAN};
    nst_render_result r = {0};
    s.r = &r;
    resolve_styles(o, &s);
    NST__TRY(nst__gatys_layers_parse(ctx, o->content_layers, o->style_layers,
                                     o->style_layer_weights, &s.L));
    const ctx_settings saved = apply_settings(ctx, o);
    nst_status st = nst__plan_record(ctx, build, &s, out);
    restore_settings(ctx, saved);
    nst__lbfgs_free(&s.lbfgs);
    return st;
}

/* The deepest requested layer's name. */
static const char *deepest(const nst__gatys_layers *L) {
    const char *name = "";
    int best = -1;
    for (int k = 0; k < L->n_content + L->n_style; k++) {
        const nst__tap *t = k < L->n_content ? &L->content[k] : &L->style[k - L->n_content];
        if (t->conv > best)
            best = t->conv, name = t->name;
    }
    return name;
}

static nst_status load_weights(nst_ctx *ctx, const char *path, const nst__gatys_layers *L,
                               nst_vgg19_weights *w) {
    NST__TRY(nst_vgg19_weights_load(ctx, path, 1, w));
    if (w->n_layers >= L->depth)
        return NST_OK;
    const int n = w->n_layers;
    nst_vgg19_weights_free(w);
    return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                    "layer %s needs %s, but %s holds only conv1_1 .. %s (%d convs): choose "
                    "layers up to %s, or use full VGG19 weights (models/fetch-vgg19.sh)",
                    deepest(L), nst_vgg19_layer_get(L->depth - 1)->name, path,
                    nst_vgg19_layer_get(n - 1)->name, n, nst_vgg19_layer_get(n - 1)->relu_name);
}

/* The render of s: weights, plan, budget, run. */
static nst_status render_with(nst_ctx *ctx, render_state *s) {
    const nst_render_options *o = s->o;
    nst_vgg19_weights w = {0};
    NST__TRY(load_weights(ctx, o->weights_path, &s->L, &w));
    s->weights = &w;
    s->net_width = w.width;
    s->convention = w.convention;
    nst_plan *plan = NULL;
    nst_status st = nst__plan_record(ctx, build, s, &plan);
    if (st == NST_OK) {
        s->r->plan_total_bytes = nst_plan_get_summary(plan).total_bytes;
        st = nst__plan_run(ctx, plan, o->vram_limit, build, s);
    }
    nst_plan_destroy(plan);
    nst_vgg19_weights_free(&w);
    s->weights = NULL;
    return st;
}

static nst_status render(nst_ctx *ctx, const nst_render_options *options, float *grad,
                         nst_render_result *r) {
    NST__TRY(check_options(ctx, options, true));
    nst_render_options transformed = *options; /* the content after its transform */
    const nst_render_options *o = &transformed;
    render_state s = {.o = o, .grad_out = grad, .r = r};
    resolve_styles(o, &s);
    NST__TRY(nst__gatys_layers_parse(ctx, o->content_layers, o->style_layers,
                                     o->style_layer_weights, &s.L));
    float *geo_images[1 + NST_RENDER_MAX_STYLES] = {0};
    float *matched[NST_RENDER_MAX_STYLES] = {0};
    nst_status st = nst__geometry_prepare_images(ctx, o, &transformed.content, s.n_styles,
                                                 s.style_host, s.style_w, s.style_h, geo_images);
    for (int j = 0; o->histogram_match && j < s.n_styles && st == NST_OK; j++) {
        const size_t n = (size_t)s.style_w[j] * (size_t)s.style_h[j];
        if (!(matched[j] = malloc(n * 3 * sizeof(float))))
            st = NST__ERR(ctx, NST_ERR_NO_MEMORY, "render: no host memory for histogram matching");
        else
            st = nst_histogram_match(ctx, s.style_host[j], (int64_t)n, o->content,
                                     (int64_t)o->width * o->height, 3, matched[j]);
        s.style_host[j] = matched[j];
    }
    if (st == NST_OK)
        st = render_with(ctx, &s);
    for (int j = 0; j < NST_RENDER_MAX_STYLES; j++)
        free(matched[j]), free(geo_images[1 + j]);
    free(geo_images[0]);
    nst__lbfgs_free(&s.lbfgs);
    free(s.snapshot);
    if (r->iterations_done > 0)
        r->s_per_iter = r->seconds / r->iterations_done;
    return st;
}

static void result_init(nst_render_result *r) {
    *r = (nst_render_result){.nonfinite_iteration = -1};
}

nst_status nst_render_gatys(nst_ctx *ctx, const nst_render_options *o, nst_render_result *r) {
    if (o && o->scales > 1)
        return nst__render_scales(ctx, o, r);
    return nst__render_one(ctx, o, r);
}

nst_status nst__render_one(nst_ctx *ctx, const nst_render_options *o, nst_render_result *r) {
    if (!r)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: NULL result");
    result_init(r);
    const ctx_settings saved = apply_settings(ctx, o);
    nst_status st = render(ctx, o, NULL, r);
    restore_settings(ctx, saved);
    return st;
}

nst_status nst__render_evaluate(nst_ctx *ctx, const nst_render_options *o, float *grad,
                                nst_render_result *r) {
    result_init(r);
    if (!grad)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render evaluate: NULL gradient buffer");
    return render(ctx, o, grad, r);
}
