/* The Gatys render (include/nstyle/render.h): VGG19 features (src/host/vgg19.c), the content,
 * Gram style and TV losses (src/host/losses.c), torch.optim.Adam on the image (NST_OP_ADAM, one
 * slot) and a clamp to [0, 1] after each step (NST_OP_CLAMP), all through the op table.
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
 * loss; refusals) and tests/test_vgg19.c (losses and the image gradient against PyTorch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "vgg19_net.h"

void nst_render_options_default(nst_render_options *o) {
    *o = (nst_render_options){.init = NST_INIT_CONTENT, .iterations = 300, .lr = 0.01,
                              .content_weight = 1.0, .style_weight = 100.0, .tv_weight = 0.0,
                              .adam_beta1 = 0.9, .adam_beta2 = 0.999, .adam_eps = 1e-8,
                              .pooling = NST_POOL_MAX};
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

/* ---- plan, then run ------------------------------------------------------------------------- */

/* Runs fn in a pass that began with status `begun`, then ends it (or aborts it on failure). */
static nst_status in_pass(nst_ctx *ctx, nst_status begun, nst_mem_pass *pass, nst__pass_fn fn,
                          void *user) {
    if (begun != NST_OK)
        return begun;
    nst_status st = fn(ctx, pass, user);
    if (st != NST_OK) {
        nst_mem_pass_abort(pass);
        return st;
    }
    return nst_mem_pass_end(pass);
}

nst_status nst__plan_record(nst_ctx *ctx, nst__pass_fn fn, void *user, nst_plan **out) {
    *out = NULL;
    nst_plan *plan = nst_plan_create();
    if (!plan)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "memory plan: no host memory");
    nst_mem_pass *pass = NULL;
    nst_status st = nst_mem_pass_record(ctx, plan, &pass);
    st = in_pass(ctx, st, pass, fn, user);
    if (st == NST_OK)
        st = nst_plan_solve(ctx, plan);
    if (st != NST_OK) {
        nst_plan_destroy(plan);
        return st;
    }
    *out = plan;
    return NST_OK;
}

nst_status nst__plan_run(nst_ctx *ctx, const nst_plan *plan, size_t limit, nst__pass_fn fn,
                         void *user) {
    NST__TRY(nst_plan_check_budget(ctx, plan, limit));
    nst_arena *arena = NULL;
    NST__TRY(nst_arena_create(ctx, plan, &arena));
    nst_mem_pass *pass = NULL;
    nst_status st = nst_mem_pass_run(ctx, plan, arena, &pass);
    st = in_pass(ctx, st, pass, fn, user);
    nst_arena_destroy(ctx, arena);
    return st;
}

/* ---- the render's state ----------------------------------------------------------------------- */

typedef struct {
    const nst_render_options *o;
    const nst_vgg19_weights *weights; /* NULL when only planning */
    nst__gatys_layers L;
    int net_width;
    nst_input_convention convention;
    float *grad_out;   /* evaluate only: the image gradient (H, W, 3) */
    nst_render_result *r;
    nst__vgg19 net;
    nst__vgg19_pass content, style, it;
    nst__gatys_losses loss;
    nst_tensor image;      /* (1, H, W, 3) RGB [0, 1], persistent */
    nst_tensor m, v;       /* (1, H, W, 3) Adam state, persistent */
    nst_tensor image_grad; /* (1, H, W, 3) */
    nst_tensor content_in; /* (1, H, W, 3) the content image */
    nst_tensor style_in;   /* (1, Hs, Ws, 3) the style image */
} render_state;

static nst_status image_tensor(nst_mem_pass *pass, nst_mem_tag tag, int h, int w, unsigned flags,
                               const char *label, nst_tensor *out) {
    return nst_mem_pass_tensor(pass, tag, NST_F32, 4, (const int64_t[]){1, h, w, 3}, flags, label,
                               out);
}

static nst_status declare(nst_mem_pass *pass, render_state *s) {
    const nst_render_options *o = s->o;
    const int H = o->height, W = o->width;
    unsigned char tc[NST__VGG_N], ts[NST__VGG_N], both[NST__VGG_N];
    nst__gatys_taps(&s->L, tc, ts, both);
    NST__TRY(nst__vgg19_declare(pass, s->L.depth, s->net_width, o->pooling, s->convention,
                                &s->net));
    NST__TRY(image_tensor(pass, NST_TAG_OTHER, H, W, NST_MEM_PERSISTENT, "image", &s->image));
    NST__TRY(image_tensor(pass, NST_TAG_OPTIMISER, H, W, NST_MEM_PERSISTENT, "adam m", &s->m));
    NST__TRY(image_tensor(pass, NST_TAG_OPTIMISER, H, W, NST_MEM_PERSISTENT, "adam v", &s->v));
    NST__TRY(image_tensor(pass, NST_TAG_GRADIENTS, H, W, 0, "image grad", &s->image_grad));
    NST__TRY(image_tensor(pass, NST_TAG_ACTIVATIONS, H, W, 0, "content image", &s->content_in));
    NST__TRY(image_tensor(pass, NST_TAG_ACTIVATIONS, o->style_height, o->style_width, 0,
                          "style image", &s->style_in));
    NST__TRY(nst__vgg19_pass_declare(pass, &s->net, o->style_height, o->style_width, ts, false,
                                     "style ", &s->style));
    NST__TRY(nst__vgg19_pass_declare(pass, &s->net, H, W, tc, false, "content ", &s->content));
    NST__TRY(nst__vgg19_pass_declare(pass, &s->net, H, W, both, true, "", &s->it));
    s->loss.content_weight = (float)o->content_weight;
    s->loss.style_weight = (float)o->style_weight;
    s->loss.tv_weight = (float)o->tv_weight;
    return nst__gatys_losses_declare(pass, &s->L, &s->it, &s->loss);
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

/* Weights, images, Adam state and the targets. */
static nst_status setup(nst_ctx *ctx, nst_mem_pass *pass, render_state *s) {
    const nst_render_options *o = s->o;
    NST__TRY(nst__vgg19_upload(ctx, pass, &s->net, s->weights));
    NST__TRY(upload(ctx, pass, &s->style_in, o->style));
    NST__TRY(upload(ctx, pass, &s->content_in, o->content));
    NST__TRY(init_image(ctx, pass, s));
    NST__TRY(zero(ctx, pass, &s->m));
    NST__TRY(zero(ctx, pass, &s->v));
    NST__TRY(nst__vgg19_forward(ctx, &s->net, &s->style, &s->style_in));
    NST__TRY(nst__gatys_targets(ctx, &s->loss, NULL, &s->style));
    NST__TRY(nst__vgg19_forward(ctx, &s->net, &s->content, &s->content_in));
    return nst__gatys_targets(ctx, &s->loss, &s->content, NULL);
}

/* The losses at the image and their gradient w.r.t. it. */
static nst_status evaluate(nst_ctx *ctx, nst_mem_pass *pass, render_state *s, char *bad) {
    NST__TRY(nst__vgg19_forward(ctx, &s->net, &s->it, &s->image));
    NST__TRY(nst__gatys_forward(ctx, pass, &s->loss, &s->it, &s->image, bad));
    NST__TRY(nst__vgg19_backward(ctx, &s->net, &s->it, nst__gatys_grad, &s->loss,
                                 &s->image_grad, false));
    return nst__gatys_tv_backward(ctx, &s->loss, &s->image, &s->image_grad);
}

/* Adam step t (from 1) on the image, then the clamp to [0, 1]. */
static nst_status step(nst_ctx *ctx, render_state *s, int t) {
    const nst_render_options *o = s->o;
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
    nst_render_progress p = {.iteration = t, .iterations = o->iterations,
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

/* The iterations: one when recording; none past evaluation when iterations is 0. */
static nst_status iterate(nst_ctx *ctx, nst_mem_pass *pass, render_state *s) {
    const bool rec = nst_mem_pass_recording(pass);
    const bool steps = s->o->iterations > 0 && !s->grad_out;
    const int n = rec || !steps ? 1 : s->o->iterations;
    const double t0 = now();
    nst_status st = NST_OK;
    for (int t = 1; t <= n && st == NST_OK; t++) {
        char bad[32] = "";
        st = evaluate(ctx, pass, s, bad);
        if (bad[0]) {
            snprintf(s->r->nonfinite_layer, sizeof s->r->nonfinite_layer, "%s", bad);
            s->r->nonfinite_iteration = t;
        }
        if (st != NST_OK)
            break;
        record_losses(s, t);
        if (s->grad_out)
            st = download(ctx, pass, &s->image_grad, s->grad_out);
        if (!steps || st != NST_OK)
            break;
        st = step(ctx, s, t);
        if (st == NST_OK && !rec) {
            s->r->iterations_done = t;
            if (!keep_going(s, t, t0))
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
    NST__TRY(declare(pass, s));
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
    return st != NST_OK ? st : dl;
}

/* ---- the calls ---------------------------------------------------------------------------------- */

static nst_status check_options(nst_ctx *ctx, const nst_render_options *o, bool images) {
    if (!o)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: NULL options");
    if (o->width < 1 || o->height < 1 || o->style_width < 1 || o->style_height < 1)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: image %dx%d and style %dx%d must be "
                        "at least 1x1", o->width, o->height, o->style_width, o->style_height);
    if (o->iterations < 0 || !(o->lr > 0) || !isfinite(o->lr) || !isfinite(o->content_weight) ||
        !isfinite(o->style_weight) || !isfinite(o->tv_weight))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: iterations %d, lr %g, weights "
                        "content %g style %g tv %g (want >= 0, > 0 and finite)", o->iterations,
                        o->lr, o->content_weight, o->style_weight, o->tv_weight);
    if (o->pooling != NST_POOL_MAX && o->pooling != NST_POOL_AVG)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: unknown pooling %d", (int)o->pooling);
    if (images && (!o->content || !o->style || (o->init == NST_INIT_IMAGE && !o->init_image)))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: the content, style%s image is NULL",
                        o->init == NST_INIT_IMAGE ? " or initial" : "");
    if (images && !o->weights_path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: no weights file (weights_path)");
    return NST_OK;
}

nst_status nst_render_plan(nst_ctx *ctx, const nst_render_options *o, nst_plan **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render plan: NULL output");
    *out = NULL;
    NST__TRY(check_options(ctx, o, false));
    render_state s = {.o = o, .net_width = NST_VGG19_WIDTH,
                      .convention = NST_INPUT_BGR_0_255_MINUS_MEAN};
    nst_render_result r = {0};
    s.r = &r;
    NST__TRY(nst__gatys_layers_parse(ctx, o->content_layers, o->style_layers,
                                     o->style_layer_weights, &s.L));
    return nst__plan_record(ctx, build, &s, out);
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

static nst_status render(nst_ctx *ctx, const nst_render_options *o, float *grad,
                         nst_render_result *r) {
    NST__TRY(check_options(ctx, o, true));
    render_state s = {.o = o, .grad_out = grad, .r = r};
    NST__TRY(nst__gatys_layers_parse(ctx, o->content_layers, o->style_layers,
                                     o->style_layer_weights, &s.L));
    nst_vgg19_weights w = {0};
    NST__TRY(load_weights(ctx, o->weights_path, &s.L, &w));
    s.weights = &w;
    s.net_width = w.width;
    s.convention = w.convention;
    nst_plan *plan = NULL;
    nst_status st = nst__plan_record(ctx, build, &s, &plan);
    if (st == NST_OK) {
        r->plan_total_bytes = nst_plan_get_summary(plan).total_bytes;
        st = nst__plan_run(ctx, plan, o->vram_limit, build, &s);
    }
    nst_plan_destroy(plan);
    nst_vgg19_weights_free(&w);
    if (r->iterations_done > 0)
        r->s_per_iter = r->seconds / r->iterations_done;
    return st;
}

static void result_init(nst_render_result *r) {
    *r = (nst_render_result){.nonfinite_iteration = -1};
}

nst_status nst_render_gatys(nst_ctx *ctx, const nst_render_options *o, nst_render_result *r) {
    if (!r)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render: NULL result");
    result_init(r);
    return render(ctx, o, NULL, r);
}

nst_status nst__render_evaluate(nst_ctx *ctx, const nst_render_options *o, float *grad,
                                nst_render_result *r) {
    result_init(r);
    if (!grad)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "render evaluate: NULL gradient buffer");
    return render(ctx, o, grad, r);
}
