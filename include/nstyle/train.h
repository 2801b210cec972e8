/* Training a feed-forward style network (Johnson et al. 2016, as pytorch/examples
 * fast_neural_style trains it) from one style image and a folder of photos.
 *
 * Each step: a batch of random crops of the photos (short side resized to `size`, then a
 * size x size crop at a random place of a random photo; RGB 0-255), the TransformerNet forward,
 * VGG19 (include/nstyle/vgg19.h, RGB [0,1] after dividing by 255, the weights' own input
 * convention applied as an op) on its output and on the batch, the losses
 *   content = MSE(F_l(y), F_l(x))                 over the content layers (default relu2_2)
 *   style   = sum_l MSE(G_l(y), G_l(style))       default relu1_2, relu2_2, relu3_4, relu4_4,
 *                                                 G = F^T F / (C H W) per image
 *   tv      = TV(y / 255)
 *   total   = content_weight * content + style_weight * style + tv_weight * tv
 * (MSEs are means over the batch, as torch's mse_loss), the backward through VGG19 and the
 * TransformerNet to its 62 parameters, and one torch.optim.Adam step over all of them (one
 * NST_OP_ADAM call). Default weights (negative option values): content 1e5 / s^2, style
 * 1e10 / s^4, tv 0, with s = 1 for rgb-0-1-imagenet-norm weights and s = 255 * 0.226 for the
 * 0-255 conventions: pytorch/examples' 1e5 and 1e10 on ImageNet-normalised features, moved to
 * features about s times larger (content MSE scales by s^2, a Gram MSE by s^4); docs/train.md
 * has the derivation.
 *
 * Memory: one memory pass (memory.h) records the setup and a whole step; the arena it plans
 * serves every step. Checkpoints (safetensors, written atomically) hold the weights and Adam's
 * m and v in PyTorch names and layout ("adam_m.<name>", "adam_v.<name>"), the step and the
 * crop generator's state; resuming one continues bit for bit on the CPU with the same threads.
 * The model file is an ordinary pytorch/examples safetensors (62 tensors, metadata input
 * rgb-0-255) that nst_stylizer_open reads.
 *
 * Implemented in src/host/pipelines/train.c and src/host/networks/transformer_backward.c; tested by
 * tests/test_train.c. */
#ifndef NSTYLE_TRAIN_H
#define NSTYLE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "memory.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    long step, steps;
    double content_loss, style_loss, tv_loss, total_loss; /* of this step, weighted */
    double seconds;                                      /* since the run started */
} nst_train_progress;

typedef bool (*nst_train_progress_fn)(const nst_train_progress *p, void *user);

typedef struct {
    const char *weights_path;   /* VGG19 weights (nst_vgg19_weights_find) */
    const char *data_dir;       /* the photos: every readable image in it, in name order */
    const float *style;         /* (style_height, style_width, 3) RGB [0, 1], host memory */
    int style_width, style_height;
    const char *content_layers; /* comma lists of VGG19 names; NULL: relu2_2 */
    const char *style_layers;   /* NULL: relu1_2,relu2_2,relu3_4,relu4_4 */
    double content_weight, style_weight, tv_weight; /* < 0: the defaults above */
    double lr, beta1, beta2, eps; /* Adam: 1e-3, 0.9, 0.999, 1e-8 */
    int size;                   /* crop side, a multiple of 4 (default 256) */
    int batch;                  /* default 4 */
    long steps;                 /* the step to stop after (counted from the start, resumed
                                   runs included) */
    int width;                  /* the TransformerNet's base width: 32 (pytorch/examples) */
    uint64_t seed;              /* initial weights and crops */
    const char *init_model;     /* optional: start from these weights (62 tensors) */
    const char *resume;         /* optional: a checkpoint to continue from */
    const char *checkpoint;     /* where checkpoints go (with checkpoint_every > 0) */
    long checkpoint_every;      /* steps; 0: none */
    size_t memory_limit;        /* bytes for the arena; 0: the device's free memory */
    nst_train_progress_fn progress; /* after every step; false stops */
    void *progress_user;
    const volatile int *cancel; /* non-zero stops after the current step */
} nst_train_options;

void nst_train_options_default(nst_train_options *o);
/* sizeof(nst_train_options) as the library was built (for bindings' checks, device.h). */
size_t nst_train_options_size(void);

typedef struct nst_trainer nst_trainer;

/* Loads the VGG19 weights, lists the photos (NST_ERR_IO when none is readable), plans and makes
 * the arena, initialises the weights (seed, init_model or resume) and the style targets. */
nst_status nst_trainer_create(nst_ctx *ctx, const nst_train_options *o, nst_trainer **out);
void nst_trainer_destroy(nst_trainer *t);
/* The trainer's memory plan (the dry run nst_trainer_create records: the setup and a whole
 * step) for VGG19 itself (conv1_1 64 wide), with no weights, photos or style pixels: only size,
 * batch, width, style_width, style_height and the layers are read. `nstyle plan --train` prints
 * it. Free with nst_plan_destroy(). */
nst_status nst_train_plan(nst_ctx *ctx, const nst_train_options *o, nst_plan **out);
/* One step on a batch of random crops of the photos. */
nst_status nst_trainer_step(nst_trainer *t, nst_train_progress *out);
/* One step on a given batch (batch, size, size, 3) RGB 0-255 (host memory). */
nst_status nst_trainer_step_on(nst_trainer *t, const float *images, nst_train_progress *out);
long nst_trainer_steps_done(const nst_trainer *t);
int nst_trainer_image_count(const nst_trainer *t); /* readable photos found */
/* The content, style and TV weights in use. */
void nst_trainer_loss_weights(const nst_trainer *t, double *content, double *style, double *tv);
/* A parameter (grad false) or its gradient of the last step (grad true) by state_dict name,
 * in the PyTorch layout, into out (its element count). */
nst_status nst_trainer_get(nst_trainer *t, const char *name, bool grad, float *out, size_t n);
/* The model (62 F32 tensors, metadata input rgb-0-255 and style) / a checkpoint, atomically. */
nst_status nst_trainer_save_model(nst_trainer *t, const char *path, const char *style_name);
nst_status nst_trainer_save_checkpoint(nst_trainer *t, const char *path);

typedef struct {
    long steps_done;
    double first_loss, last_loss; /* total loss of the first and the last step run */
    double content_loss, style_loss, tv_loss;
    double content_weight, style_weight, tv_weight; /* in use */
    double seconds, ms_per_step;
    int images;
    size_t plan_bytes;
    bool cancelled;    /* stopped (cancel flag or progress) before o->steps */
    bool checkpointed; /* stopped, and o->checkpoint holds the steps done */
} nst_train_result;

/* The whole run: create, steps up to o->steps with checkpoints, the model to model_path (may be
 * NULL), destroy. When the cancel flag or the progress callback stops it, the current step is
 * finished, o->checkpoint (when set) is written with the steps done, then the model, both
 * atomically, so `--resume` continues from there. */
nst_status nst_train(nst_ctx *ctx, const nst_train_options *o, const char *model_path,
                     const char *style_name, nst_train_result *r);

#ifdef __cplusplus
}
#endif
#endif
