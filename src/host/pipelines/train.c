/* Training a feed-forward style network (include/nstyle/train.h): photos in a folder, random
 * crops (train_photos.c), the TransformerNet (src/host/networks/transformer_backward.c), the
 * VGG19 losses (src/host/networks/vgg19.c, src/host/pipelines/losses.c), Adam over the 62
 * parameters in one NST_OP_ADAM call, checkpoints and resume.
 *
 * One function, build(), declares every buffer and runs the setup and/or a step; a recording
 * pass of both plans the arena; the first step's run pass runs both (the setup fills the weights,
 * Adam state and style targets), and each later step is a run pass of the step body alone over
 * the same arena (the persistent buffers keep their values between passes). The VGG19 passes
 * run one image at a time on views of the batch (an image of an NHWC batch is contiguous), with
 * each loss weight divided by the batch size, which is torch's mean over the batch.
 *
 * Tested by tests/test_train.c (gradients against PyTorch, bit-exact resume, a falling loss on
 * the shared photos, refusals). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "nstyle/image.h"
#include "nstyle/safetensors.h"
#include "nstyle/train.h"
#include "../networks/transformer_net.h"
#include "gatys.h"
#include "train_photos.h"

#define DEFAULT_CONTENT "relu2_2"
#define DEFAULT_STYLE "relu1_2,relu2_2,relu3_4,relu4_4"
#define CKPT_FORMAT "nstyle-train-checkpoint/1"

enum { SETUP = 1, STEP = 2 };

void nst_train_options_default(nst_train_options *o) {
    *o = (nst_train_options){.content_weight = -1, .style_weight = -1, .tv_weight = -1,
                             .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .size = 256,
                             .batch = 4, .steps = 1000, .width = 32, .seed = 1};
}

struct nst_trainer {
    nst_ctx *ctx;
    nst_train_options o;
    nst_vgg19_weights vw;
    nst__gatys_layers L;
    double cw, sw, tvw;
    char **files; /* readable photos, name order */
    int n_files;
    long steps_done;
    bool need_setup; /* the setup runs in the first step's pass (the step requests buffers) */
    uint64_t rng;
    float *host_param[NST__TN_PARAMS], *host_m[NST__TN_PARAMS], *host_v[NST__TN_PARAMS];
    float *batch; /* (B, S, S, 3) 0-255 */
    const float *step_images;
    double content, style, tv, total; /* the last step's */
    /* the pass's tensors */
    nst__tn net;
    nst__tn_acts acts;
    nst__vgg19 vgg;
    nst__vgg19_pass style_pass, content_pass, it;
    nst__gatys_losses loss;
    nst_tensor style_in; /* (1, Hs, Ws, 3) RGB [0, 1] */
    nst_tensor x;        /* (B, S, S, 3) 0-255 */
    nst_tensor x01, y01; /* (B, S, S, 3) [0, 1] */
    nst_tensor y;        /* (B, S, S, 3) the net's output, 0-255 */
    nst_tensor g01, gy;  /* (B, S, S, 3) gradients w.r.t. y01 and y */
    nst_plan *plan;
    nst_arena *arena;
};

static int64_t numel_of(const nst__tn_param_info *p) {
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++)
        n *= p->torch[d];
    return n;
}

/* ---- the pass -----------------------------------------------------------------------------------
 * */

static nst_status batch_tensor(nst_mem_pass *pass, const nst_trainer *t, nst_mem_tag tag,
                               const char *label, nst_tensor *out) {
    const int64_t S = t->o.size;
    return nst_mem_pass_tensor(pass, tag, NST_F32, 4, (const int64_t[]){t->o.batch, S, S, 3}, 0,
                               label, out);
}

static nst_status declare(nst_mem_pass *pass, nst_trainer *t) {
    const int S = t->o.size;
    unsigned char tc[NST__VGG_N], ts[NST__VGG_N], both[NST__VGG_N];
    nst__gatys_taps(&t->L, tc, ts, both);
    NST__TRY(nst__tn_declare(pass, t->o.width, &t->net));
    NST__TRY(nst__vgg19_declare(pass, t->L.depth, t->vw.width, NST_POOL_MAX, t->vw.convention,
                                &t->vgg));
    NST__TRY(nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4,
                                 (const int64_t[]){1, t->o.style_height, t->o.style_width, 3}, 0,
                                 "style image", &t->style_in));
    NST__TRY(nst__vgg19_pass_declare(pass, &t->vgg, t->o.style_height, t->o.style_width, ts,
                                     false, "style ", &t->style_pass));
    NST__TRY(batch_tensor(pass, t, NST_TAG_ACTIVATIONS, "batch", &t->x));
    NST__TRY(batch_tensor(pass, t, NST_TAG_ACTIVATIONS, "batch 0-1", &t->x01));
    NST__TRY(batch_tensor(pass, t, NST_TAG_ACTIVATIONS, "output 0-1", &t->y01));
    NST__TRY(batch_tensor(pass, t, NST_TAG_GRADIENTS, "output 0-1 grad", &t->g01));
    NST__TRY(batch_tensor(pass, t, NST_TAG_GRADIENTS, "output grad", &t->gy));
    NST__TRY(nst__vgg19_pass_declare(pass, &t->vgg, S, S, tc, false, "content ",
                                     &t->content_pass));
    NST__TRY(nst__vgg19_pass_declare(pass, &t->vgg, S, S, both, true, "", &t->it));
    const double B = t->o.batch;
    t->loss.content_weight = (float)(t->cw / B);
    t->loss.style_weight = (float)(t->sw / B);
    t->loss.tv_weight = (float)(t->tvw / B);
    return nst__gatys_losses_declare(pass, &t->L, &t->it, &t->loss);
}

static nst_status upload(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *tn, const float *host) {
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, tn);
        return NST_OK;
    }
    return nst_copy_to_device(ctx, tn->data, host, nst_tensor_bytes(tn));
}

static nst_status setup(nst_ctx *ctx, nst_mem_pass *pass, nst_trainer *t) {
    NST__TRY(nst__vgg19_upload(ctx, pass, &t->vgg, &t->vw));
    for (int k = 0; k < NST__TN_PARAMS; k++) {
        NST__TRY(upload(ctx, pass, &t->net.param[k], t->host_param[k]));
        NST__TRY(upload(ctx, pass, &t->net.m[k], t->host_m[k]));
        NST__TRY(upload(ctx, pass, &t->net.v[k], t->host_v[k]));
    }
    NST__TRY(upload(ctx, pass, &t->style_in, t->o.style));
    NST__TRY(nst__vgg19_forward(ctx, &t->vgg, &t->style_pass, &t->style_in));
    return nst__gatys_targets(ctx, &t->loss, NULL, &t->style_pass);
}

/* Image i of a (B, S, S, 3) batch as a (1, S, S, 3) tensor (same plan buffer). */
static nst_tensor view(const nst_tensor *b, int64_t i) {
    nst_tensor v = *b;
    const size_t bytes = nst_tensor_bytes(b) / (size_t)b->shape[0];
    v.shape[0] = 1;
    v.data = b->data ? (char *)b->data + (size_t)i * bytes : NULL;
    return v;
}

static nst_status step_body(nst_ctx *ctx, nst_mem_pass *pass, nst_trainer *t) {
    NST__TRY(upload(ctx, pass, &t->x, t->step_images));
    NST__TRY(nst__tn_forward(ctx, pass, &t->net, &t->x, &t->acts, &t->y));
    const float k = 1.0f / 255.0f;
    NST__TRY(nst_scale(ctx, &(nst_scale_params){.x = &t->x, .y = &t->x01, .alpha = k}));
    NST__TRY(nst_scale(ctx, &(nst_scale_params){.x = &t->y, .y = &t->y01, .alpha = k}));
    double c = 0, s = 0, tv = 0;
    for (int i = 0; i < t->o.batch; i++) {
        nst_tensor xi = view(&t->x01, i), yi = view(&t->y01, i), gi = view(&t->g01, i);
        NST__TRY(nst__vgg19_forward(ctx, &t->vgg, &t->content_pass, &xi));
        NST__TRY(nst__gatys_targets(ctx, &t->loss, &t->content_pass, NULL));
        NST__TRY(nst__vgg19_forward(ctx, &t->vgg, &t->it, &yi));
        char bad[32] = "";
        NST__TRY(nst__gatys_forward(ctx, pass, &t->loss, &t->it, &yi, bad));
        c += t->loss.content, s += t->loss.style, tv += t->loss.tv;
        NST__TRY(nst__vgg19_backward(ctx, &t->vgg, &t->it, nst__gatys_grad, &t->loss, &gi,
                                     false));
        NST__TRY(nst__gatys_tv_backward(ctx, &t->loss, &yi, &gi));
    }
    const double B = t->o.batch;
    t->content = t->cw * c / B, t->style = t->sw * s / B, t->tv = t->tvw * tv / B;
    t->total = t->content + t->style + t->tv;
    NST__TRY(nst_scale(ctx, &(nst_scale_params){.x = &t->g01, .y = &t->gy, .alpha = k}));
    NST__TRY(nst__tn_backward(ctx, pass, &t->net, &t->acts, &t->gy));
    nst_adam_slot slots[NST__TN_PARAMS];
    for (int j = 0; j < NST__TN_PARAMS; j++)
        slots[j] = (nst_adam_slot){.param = &t->net.param[j], .grad = &t->net.grad[j],
                                   .m = &t->net.m[j], .v = &t->net.v[j]};
    const nst_train_options *o = &t->o;
    nst_adam_params a = {.slots = slots, .n_slots = NST__TN_PARAMS,
                         .step = nst_adam_step_make(o->lr, o->beta1, o->beta2, o->eps, 0.0,
                                                    t->steps_done + 1)};
    return nst_adam(ctx, &a);
}

static nst_status build(nst_ctx *ctx, nst_mem_pass *pass, void *user, int mode) {
    nst_trainer *t = user;
    NST__TRY(declare(pass, t));
    if (mode & SETUP)
        NST__TRY(setup(ctx, pass, t));
    if (mode & STEP)
        NST__TRY(step_body(ctx, pass, t));
    return NST_OK;
}

static nst_status build_all(nst_ctx *ctx, nst_mem_pass *pass, void *user) {
    return build(ctx, pass, user, SETUP | STEP);
}

static nst_status run_pass(nst_trainer *t, int mode) {
    nst_mem_pass *pass = NULL;
    NST__TRY(nst_mem_pass_run(t->ctx, t->plan, t->arena, &pass));
    nst_status st = build(t->ctx, pass, t, mode);
    if (st != NST_OK) {
        nst_mem_pass_abort(pass);
        return st;
    }
    return nst_mem_pass_end(pass);
}

/* ---- initial state: seed, a model, a checkpoint ------------------------------------------- */

static nst_status host_state(nst_trainer *t) {
    for (int k = 0; k < NST__TN_PARAMS; k++) {
        const size_t n = (size_t)numel_of(&t->net.info[k]);
        t->host_param[k] = malloc(n * sizeof(float));
        t->host_m[k] = calloc(n, sizeof(float));
        t->host_v[k] = calloc(n, sizeof(float));
        if (!t->host_param[k] || !t->host_m[k] || !t->host_v[k])
            return NST__ERR(t->ctx, NST_ERR_NO_MEMORY, "train: no host memory for the weights");
    }
    return NST_OK;
}

/* Reads tensor prefix+name of parameter k from f into dst (memory layout). */
static nst_status read_param(nst_trainer *t, const nst_st_file *f, const char *path,
                             const char *prefix, int k, float *dst) {
    const nst__tn_param_info *p = &t->net.info[k];
    char name[64];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    float *torch = NULL;
    nst_status st = nst_st_load_f32(t->ctx, f, name, p->ndim, p->torch, &torch);
    if (st != NST_OK)
        return NST__ERR(t->ctx, st, "train: %s: %s (a TransformerNet of base width %d)", path,
                        nst_last_error(t->ctx), t->o.width);
    nst__tn_to_memory(p, torch, dst);
    free(torch);
    return NST_OK;
}

static nst_status meta_long(nst_trainer *t, const nst_st_file *f, const char *path,
                            const char *key, long want, long *got) {
    const char *v = nst_st_metadata(f, key);
    char *end = NULL;
    const long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end)
        return NST__ERR(t->ctx, NST_ERR_FORMAT, "train: %s is not an nstyle training checkpoint "
                        "(metadata '%s' missing or malformed)", path, key);
    if (want >= 0 && x != want)
        return NST__ERR(t->ctx, NST_ERR_INVALID_ARG, "train: checkpoint %s has %s %ld, this run "
                        "%ld: resume with the same settings", path, key, x, want);
    if (got)
        *got = x;
    return NST_OK;
}

static nst_status load_resume(nst_trainer *t) {
    const char *path = t->o.resume;
    nst_st_file *f = NULL;
    NST__TRY(nst_st_open(t->ctx, path, &f));
    nst_status st = NST_OK;
    const char *fmt = nst_st_metadata(f, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
        st = NST__ERR(t->ctx, NST_ERR_FORMAT, "train: %s is not an nstyle training checkpoint "
                      "(metadata format is not %s)", path, CKPT_FORMAT);
    if (st == NST_OK)
        st = meta_long(t, f, path, "width", t->o.width, NULL);
    if (st == NST_OK)
        st = meta_long(t, f, path, "size", t->o.size, NULL);
    if (st == NST_OK)
        st = meta_long(t, f, path, "batch", t->o.batch, NULL);
    if (st == NST_OK)
        st = meta_long(t, f, path, "step", -1, &t->steps_done);
    const char *rng = nst_st_metadata(f, "rng");
    if (st == NST_OK && (!rng || sscanf(rng, "%16" SCNx64, &t->rng) != 1))
        st = NST__ERR(t->ctx, NST_ERR_FORMAT, "train: %s: metadata rng missing", path);
    for (int k = 0; st == NST_OK && k < NST__TN_PARAMS; k++) {
        st = read_param(t, f, path, "", k, t->host_param[k]);
        if (st == NST_OK)
            st = read_param(t, f, path, "adam_m.", k, t->host_m[k]);
        if (st == NST_OK)
            st = read_param(t, f, path, "adam_v.", k, t->host_v[k]);
    }
    nst_st_close(f);
    return st;
}

static nst_status init_state(nst_trainer *t) {
    NST__TRY(host_state(t));
    t->rng = t->o.seed;
    if (t->o.resume)
        return load_resume(t);
    if (t->o.init_model) {
        nst_st_file *f = NULL;
        NST__TRY(nst_st_open(t->ctx, t->o.init_model, &f));
        nst_status st = NST_OK;
        for (int k = 0; st == NST_OK && k < NST__TN_PARAMS; k++)
            st = read_param(t, f, t->o.init_model, "", k, t->host_param[k]);
        nst_st_close(f);
        return st;
    }
    uint64_t wrng = t->o.seed ^ 0x5eed5eed5eed5eedull;
    for (int k = 0; k < NST__TN_PARAMS; k++) {
        const nst__tn_param_info *p = &t->net.info[k];
        float *torch = malloc((size_t)numel_of(p) * sizeof *torch);
        if (!torch)
            return NST__ERR(t->ctx, NST_ERR_NO_MEMORY, "train: no host memory");
        nst__tn_init_param(&t->net, k, &wrng, torch);
        nst__tn_to_memory(p, torch, t->host_param[k]);
        free(torch);
    }
    return NST_OK;
}

/* ---- create, step, save ---------------------------------------------------------------------- */

/* The options a plan reads (sizes, batch, width, steps); nst_trainer_create checks the rest. */
static nst_status check_sizes(nst_ctx *ctx, const nst_train_options *o) {
    if (!o)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: NULL options");
    if (o->size < 8 || o->size % 4 || o->size > 8192 || o->batch < 1 || o->batch > 1024 ||
        o->width < 1 || o->width > 1024 || o->steps < 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: size %d (want a multiple of 4, 8 .. "
                        "8192), batch %d, width %d, steps %ld", o->size, o->batch, o->width,
                        o->steps);
    if (o->style_width < 1 || o->style_height < 1 || o->style_width > 32768 ||
        o->style_height > 32768)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: style image of %dx%d (want 1 .. 32768 "
                        "a side)", o->style_width, o->style_height);
    return NST_OK;
}

static nst_status check_options(nst_ctx *ctx, const nst_train_options *o) {
    NST__TRY(check_sizes(ctx, o));
    if (!o->style)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: no style image");
    if (!(o->lr > 0) || !isfinite(o->lr) || !isfinite(o->content_weight) ||
        !isfinite(o->style_weight) || !isfinite(o->tv_weight))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: lr %g and the loss weights must be "
                        "finite, lr > 0", o->lr);
    if (!o->weights_path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: no VGG19 weights file");
    if (o->checkpoint_every > 0 && !o->checkpoint)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: checkpoint_every without a path");
    return NST_OK;
}

static nst_status parse_layers(nst_trainer *t) {
    return nst__gatys_layers_parse(t->ctx, t->o.content_layers ? t->o.content_layers
                                                               : DEFAULT_CONTENT,
                                   t->o.style_layers ? t->o.style_layers : DEFAULT_STYLE, NULL,
                                   &t->L);
}

static nst_status load_vgg(nst_trainer *t) {
    nst_ctx *ctx = t->ctx;
    NST__TRY(parse_layers(t));
    NST__TRY(nst_vgg19_weights_load(ctx, t->o.weights_path, 1, &t->vw));
    if (t->vw.n_layers < t->L.depth) {
        const int n = t->vw.n_layers;
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: the layers need %s, but %s holds only "
                        "conv1_1 .. %s: choose --style-layers / --content-layers up to %s, or "
                        "use full VGG19 weights (models/fetch-vgg19.sh)",
                        nst_vgg19_layer_get(t->L.depth - 1)->name, t->o.weights_path,
                        nst_vgg19_layer_get(n - 1)->name, nst_vgg19_layer_get(n - 1)->relu_name);
    }
    const double s = t->vw.convention == NST_INPUT_RGB_0_1_IMAGENET_NORM ? 1.0 : 255.0 * 0.226;
    t->cw = t->o.content_weight >= 0 ? t->o.content_weight : 1e5 / (s * s);
    t->sw = t->o.style_weight >= 0 ? t->o.style_weight : 1e10 / (s * s * s * s);
    t->tvw = t->o.tv_weight >= 0 ? t->o.tv_weight : 0.0;
    return NST_OK;
}

static nst_status create(nst_trainer *t) {
    nst_ctx *ctx = t->ctx;
    NST__TRY(load_vgg(t));
    if (t->o.data_dir)
        NST__TRY(nst__train_photos_list(t->ctx, t->o.data_dir, &t->files, &t->n_files));
    t->batch = malloc((size_t)t->o.batch * t->o.size * t->o.size * 3 * sizeof(float));
    if (!t->batch)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "train: no host memory for the batch");
    /* the table, for the initial state (the pass declares it again) */
    nst_plan *scratch = NULL;
    NST__TRY(nst__plan_record(ctx, build_all, t, &scratch));
    t->plan = scratch;
    NST__TRY(init_state(t));
    NST__TRY(nst_plan_check_budget(ctx, t->plan, t->o.memory_limit));
    NST__TRY(nst_arena_create(ctx, t->plan, &t->arena));
    t->need_setup = true;
    return NST_OK;
}

/* A zeroed trainer for o, or NULL (the error set). */
static nst_trainer *new_trainer(nst_ctx *ctx, const nst_train_options *o) {
    nst_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        NST__ERR(ctx, NST_ERR_NO_MEMORY, "train: no host memory");
        return NULL;
    }
    t->ctx = ctx;
    t->o = *o;
    return t;
}

nst_status nst_trainer_create(nst_ctx *ctx, const nst_train_options *o, nst_trainer **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: NULL output");
    *out = NULL;
    NST__TRY(check_options(ctx, o));
    nst_trainer *t = new_trainer(ctx, o);
    if (!t)
        return NST_ERR_NO_MEMORY;
    nst_status st = create(t);
    if (st != NST_OK) {
        nst_trainer_destroy(t);
        return st;
    }
    *out = t;
    return NST_OK;
}

nst_status nst_train_plan(nst_ctx *ctx, const nst_train_options *o, nst_plan **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train plan: NULL output");
    *out = NULL;
    NST__TRY(check_sizes(ctx, o));
    nst_trainer *t = new_trainer(ctx, o);
    if (!t)
        return NST_ERR_NO_MEMORY;
    t->vw.width = NST_VGG19_WIDTH; /* VGG19 itself, in the fetched weights' convention */
    t->vw.convention = NST_INPUT_BGR_0_255_MINUS_MEAN;
    nst_status st = parse_layers(t);
    if (st == NST_OK)
        st = nst__plan_record(ctx, build_all, t, out);
    nst_trainer_destroy(t);
    return st;
}

void nst_trainer_destroy(nst_trainer *t) {
    if (!t)
        return;
    if (t->arena)
        nst_arena_destroy(t->ctx, t->arena);
    nst_plan_destroy(t->plan);
    nst_vgg19_weights_free(&t->vw);
    for (int i = 0; i < t->n_files; i++)
        free(t->files[i]);
    free(t->files);
    for (int k = 0; k < NST__TN_PARAMS; k++) {
        free(t->host_param[k]);
        free(t->host_m[k]);
        free(t->host_v[k]);
    }
    free(t->batch);
    free(t);
}

nst_status nst_trainer_step_on(nst_trainer *t, const float *images, nst_train_progress *out) {
    if (!t || !images)
        return NST_ERR_INVALID_ARG;
    t->step_images = images;
    NST__TRY(run_pass(t, t->need_setup ? SETUP | STEP : STEP));
    t->need_setup = false;
    t->steps_done++;
    if (out)
        *out = (nst_train_progress){.step = t->steps_done, .steps = t->o.steps,
                                    .content_loss = t->content, .style_loss = t->style,
                                    .tv_loss = t->tv, .total_loss = t->total};
    return NST_OK;
}

nst_status nst_trainer_step(nst_trainer *t, nst_train_progress *out) {
    if (!t)
        return NST_ERR_INVALID_ARG;
    if (t->n_files == 0)
        return NST__ERR(t->ctx, NST_ERR_INVALID_ARG, "train: no photos (data_dir)");
    const size_t one = (size_t)t->o.size * t->o.size * 3;
    for (int b = 0; b < t->o.batch; b++)
        NST__TRY(nst__train_photos_crop(t->ctx, t->files, t->n_files, t->o.size, &t->rng,
                                        t->batch + b * one));
    return nst_trainer_step_on(t, t->batch, out);
}

long nst_trainer_steps_done(const nst_trainer *t) { return t ? t->steps_done : 0; }
int nst_trainer_image_count(const nst_trainer *t) { return t ? t->n_files : 0; }

void nst_trainer_loss_weights(const nst_trainer *t, double *content, double *style, double *tv) {
    if (content)
        *content = t->cw;
    if (style)
        *style = t->sw;
    if (tv)
        *tv = t->tvw;
}

/* Tensor k of one of the net's sets (param, grad, m, v) in the PyTorch layout (before the first
 * step: the initial state, gradients zero). */
static nst_status fetch(nst_trainer *t, const nst_tensor *set, int k, float *out) {
    const nst__tn_param_info *p = &t->net.info[k];
    const size_t n = (size_t)numel_of(p);
    if (t->need_setup) {
        const float *h = set == t->net.param ? t->host_param[k]
                         : set == t->net.m   ? t->host_m[k]
                         : set == t->net.v   ? t->host_v[k]
                                             : NULL;
        if (h)
            nst__tn_to_torch(p, h, out);
        else
            memset(out, 0, n * sizeof *out);
        return NST_OK;
    }
    float *mem = malloc(n * sizeof *mem);
    if (!mem)
        return NST__ERR(t->ctx, NST_ERR_NO_MEMORY, "train: no host memory");
    nst_status st = nst_copy_to_host(t->ctx, mem, set[k].data, n * sizeof *mem);
    if (st == NST_OK)
        nst__tn_to_torch(p, mem, out);
    free(mem);
    return st;
}

nst_status nst_trainer_get(nst_trainer *t, const char *name, bool grad, float *out, size_t n) {
    if (!t || !name || !out)
        return NST_ERR_INVALID_ARG;
    const int k = nst__tn_find(&t->net, name);
    if (k < 0 || (size_t)numel_of(&t->net.info[k]) != n)
        return NST__ERR(t->ctx, NST_ERR_INVALID_ARG, "train: no parameter '%s' of %zu values",
                        name, n);
    return fetch(t, grad ? t->net.grad : t->net.param, k, out);
}

/* Adds prefix+name of every parameter of `set` to w. */
static nst_status add_set(nst_trainer *t, nst_st_writer *w, const nst_tensor *set,
                          const char *prefix) {
    for (int k = 0; k < NST__TN_PARAMS; k++) {
        const nst__tn_param_info *p = &t->net.info[k];
        float *torch = malloc((size_t)numel_of(p) * sizeof *torch);
        if (!torch)
            return NST__ERR(t->ctx, NST_ERR_NO_MEMORY, "train: no host memory");
        nst_status st = fetch(t, set, k, torch);
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        if (st == NST_OK)
            st = nst_st_writer_add(t->ctx, w, name, NST_ST_F32, p->ndim, p->torch, torch);
        free(torch);
        NST__TRY(st);
    }
    return NST_OK;
}

static nst_status save(nst_trainer *t, const char *path, const char *style_name, bool ckpt) {
    if (!t || !path)
        return NST_ERR_INVALID_ARG;
    nst_st_writer *w = nst_st_writer_create();
    if (!w)
        return NST__ERR(t->ctx, NST_ERR_NO_MEMORY, "train: no host memory");
    char buf[64];
    nst_status st = add_set(t, w, t->net.param, "");
    if (st == NST_OK && ckpt)
        st = add_set(t, w, t->net.m, "adam_m.");
    if (st == NST_OK && ckpt)
        st = add_set(t, w, t->net.v, "adam_v.");
    if (st == NST_OK)
        st = nst_st_writer_metadata(t->ctx, w, "arch", "johnson2016-transformer");
    if (st == NST_OK)
        st = nst_st_writer_metadata(t->ctx, w, "input", "rgb-0-255");
    if (st == NST_OK)
        st = nst_st_writer_metadata(t->ctx, w, "instance_norm_eps", "1e-5");
    if (st == NST_OK)
        st = nst_st_writer_metadata(t->ctx, w, "upsample", "nearest");
    snprintf(buf, sizeof buf, "%ld", t->steps_done);
    if (st == NST_OK)
        st = nst_st_writer_metadata(t->ctx, w, "step", buf);
    if (st == NST_OK && style_name && *style_name)
        st = nst_st_writer_metadata(t->ctx, w, "style", style_name);
    if (st == NST_OK)
        st = nst_st_writer_metadata(t->ctx, w, "source", "nstyle train");
    const struct { const char *key; long v; } meta[3] = {
        {"width", t->o.width}, {"size", t->o.size}, {"batch", t->o.batch}};
    for (int i = 0; st == NST_OK && ckpt && i < 3; i++) {
        snprintf(buf, sizeof buf, "%ld", meta[i].v);
        st = nst_st_writer_metadata(t->ctx, w, meta[i].key, buf);
    }
    snprintf(buf, sizeof buf, "%016" PRIx64, t->rng);
    if (st == NST_OK && ckpt)
        st = nst_st_writer_metadata(t->ctx, w, "rng", buf);
    if (st == NST_OK && ckpt)
        st = nst_st_writer_metadata(t->ctx, w, "format", CKPT_FORMAT);
    if (st == NST_OK)
        st = nst_st_writer_save(t->ctx, w, path);
    nst_st_writer_destroy(w);
    return st;
}

nst_status nst_trainer_save_model(nst_trainer *t, const char *path, const char *style_name) {
    return save(t, path, style_name, false);
}

nst_status nst_trainer_save_checkpoint(nst_trainer *t, const char *path) {
    return save(t, path, NULL, true);
}

/* ---- the whole run
 * ------------------------------------------------------------------------------- */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

nst_status nst_train(nst_ctx *ctx, const nst_train_options *o, const char *model_path,
                     const char *style_name, nst_train_result *r) {
    if (!r)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: NULL result");
    *r = (nst_train_result){0};
    nst_trainer *t = NULL;
    NST__TRY(nst_trainer_create(ctx, o, &t));
    r->images = t->n_files;
    nst_trainer_loss_weights(t, &r->content_weight, &r->style_weight, &r->tv_weight);
    r->plan_bytes = nst_plan_get_summary(t->plan).total_bytes;
    const double t0 = now();
    const long first = t->steps_done;
    nst_status st = NST_OK;
    while (st == NST_OK && t->steps_done < o->steps) {
        nst_train_progress p;
        st = nst_trainer_step(t, &p);
        if (st != NST_OK)
            break;
        if (t->steps_done == first + 1)
            r->first_loss = p.total_loss;
        r->last_loss = p.total_loss;
        r->content_loss = p.content_loss, r->style_loss = p.style_loss, r->tv_loss = p.tv_loss;
        r->steps_done = t->steps_done;
        p.seconds = now() - t0;
        if (o->checkpoint_every > 0 && t->steps_done % o->checkpoint_every == 0)
            st = nst_trainer_save_checkpoint(t, o->checkpoint);
        const bool go = !o->progress || o->progress(&p, o->progress_user);
        if (st == NST_OK && (!go || (o->cancel && *o->cancel))) {
            r->cancelled = t->steps_done < o->steps;
            /* stopped: a checkpoint of the steps done, unless this step's was just written */
            const bool written = o->checkpoint_every > 0 &&
                                 t->steps_done % o->checkpoint_every == 0;
            if (o->checkpoint && !written)
                st = nst_trainer_save_checkpoint(t, o->checkpoint);
            r->checkpointed = o->checkpoint != NULL;
            break;
        }
    }
    r->seconds = now() - t0;
    if (r->steps_done > first)
        r->ms_per_step = 1e3 * r->seconds / (double)(r->steps_done - first);
    if (st == NST_OK && model_path)
        st = nst_trainer_save_model(t, model_path, style_name);
    nst_trainer_destroy(t);
    return st;
}
