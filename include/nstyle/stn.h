/* The spatial transformer network (Jaderberg et al. 2015) as a learnable module: a localisation
 * network predicts an affine theta (2x3) from the image, an affine grid at the image's size maps
 * every output pixel to a source point, and a bilinear sampler reads the image there:
 * y = T(x, theta). Or theta is given and the module is a differentiable geometric transform.
 *
 * Semantics (PyTorch, the STN tutorial's module with the brief's third convolution):
 *   r     = F.grid_sample(x, F.affine_grid(I, (N, C, 48, 48), False), "bilinear", "border",
 *           False)  = F.interpolate(x, (48, 48), mode="bilinear", align_corners=False)
 *   theta = fc_loc(flatten(localization(r))).view(N, 2, 3)
 *     localization = Conv2d(C, 8, 7), MaxPool2d(2), ReLU, Conv2d(8, 10, 5), MaxPool2d(2), ReLU,
 *                    Conv2d(10, 10, 3), ReLU                       -> (N, 10, 6, 6)
 *     fc_loc       = Linear(360, 32), ReLU, Linear(32, 6)
 *   y     = F.grid_sample(x, F.affine_grid(theta, x.size(), False), "bilinear", padding, False)
 * The resampling to 48x48 (so that the flatten is always 10*6*6 = 360 whatever the image size)
 * uses border padding, which makes it exactly bilinear interpolation; it is differentiable, so
 * the gradient to x holds both the sampler's path and the localisation network's.
 *
 * Weights: safetensors with the tutorial's names, OIHW on disk, F32 (F16/BF16/F64 read too):
 *   localization.0.weight (8, C, 7, 7)   localization.0.bias (8)
 *   localization.3.weight (10, 8, 5, 5)  localization.3.bias (10)
 *   localization.6.weight (10, 10, 3, 3) localization.6.bias (10)
 *   fc_loc.0.weight (32, 360)            fc_loc.0.bias (32)
 *   fc_loc.2.weight (6, 32)              fc_loc.2.bias (6)
 * fc_loc.0.weight's columns are PyTorch's flatten order (c, h, w). Feature maps are NHWC here,
 * so its columns are permuted once to (h, w, c) on the way in (load, set) and back on the way
 * out (save, get); every name-based call below speaks PyTorch's layout.
 * A new module is initialised as PyTorch initialises those layers (kaiming-uniform with
 * a = sqrt(5): weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from a seeded
 * generator in file order), except fc_loc.2: weights 0, bias (1, 0, 0, 0, 1, 0), the identity.
 *
 * Memory: weights, their gradients and the Adam moments are allocations the module owns
 * (tags weights, gradients, optimiser). Everything per call lives in a memory pass
 * (memory.h): nst_stn_forward / nst_stn_backward request their buffers from the caller's pass,
 * so they plan and run inside a larger model's pass; nst_stn_run plans its own pass per size
 * and mode and keeps the arena until either changes.
 *
 * Tested by tests/test_stn.c (PyTorch float64 goldens of the output and every gradient,
 * tests/golden/gen_stn.py; plan = measured peak; save/load; refusals) and tests/test_stn_grad.c
 * (finite differences in double; learning to undo a rotation with Adam). */
#ifndef NSTYLE_STN_H
#define NSTYLE_STN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "memory.h"
#include "ops.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NST_STN_LOC_SIZE 48   /* the localisation network's input side */
#define NST_STN_FLAT 360      /* 10 * 6 * 6 */
#define NST_STN_N_TENSORS 10  /* weight tensors */

typedef struct nst_stn nst_stn;

/* A module for `channels` input channels (>= 1), initialised from `seed` as above; sampler
 * padding zeros. */
nst_status nst_stn_create(nst_ctx *ctx, int channels, uint64_t seed, nst_stn **out);
/* A module made from a weight file (channels from localization.0.weight). */
nst_status nst_stn_open(nst_ctx *ctx, const char *path, nst_stn **out);
void nst_stn_destroy(nst_stn *s);

int nst_stn_channels(const nst_stn *s);
/* The full-size sampler's padding (default NST_PAD_ZEROS). */
void nst_stn_set_padding(nst_stn *s, nst_grid_padding padding);
nst_grid_padding nst_stn_padding(const nst_stn *s);
/* Bytes of the module's own allocations (weights + gradients + Adam moments). */
size_t nst_stn_owned_bytes(const nst_stn *s);

/* ---- weights by name (PyTorch layout) ---------------------------------------------------- */

/* Tensor i (0 .. NST_STN_N_TENSORS-1) in file order: name and PyTorch shape. */
nst_status nst_stn_tensor_info(const nst_stn *s, int i, const char **name, int *ndim,
                               int64_t dims[4]);
typedef enum { NST_STN_WEIGHT = 0, NST_STN_GRAD = 1 } nst_stn_which;
/* Copies the weight or its gradient to host memory (numel floats, PyTorch layout). */
nst_status nst_stn_get(nst_stn *s, const char *name, nst_stn_which which, float *out);
/* Sets a weight from host memory (numel floats, PyTorch layout). */
nst_status nst_stn_set(nst_stn *s, const char *name, const float *values);
/* Reads every weight from a file. Refused, naming the tensors, unless the file holds exactly the
 * ten tensors with this module's shapes (NST_ERR_FORMAT for missing or extra ones and for
 * non-float dtypes, NST_ERR_SHAPE for a wrong shape); the module is unchanged on failure. */
nst_status nst_stn_load_weights(nst_stn *s, const char *path);
/* Writes every weight as F32 (metadata: format nstyle-stn, channels). Atomic. */
nst_status nst_stn_save_weights(nst_stn *s, const char *path);

/* ---- inside a memory pass ------------------------------------------------------------------ */

/* What the forward pass keeps for the backward pass (tensors of the caller's pass). */
typedef struct {
    nst_tensor x;      /* (N, H, W, C), the input (a copy of the descriptor) */
    nst_tensor theta;  /* (N, 2, 3) the theta used */
    nst_tensor grid;   /* (N, H, W, 2) */
    bool given;        /* theta was given: no localisation network */
    nst_tensor grid48; /* (N, 48, 48, 2) the identity grid */
    nst_tensor r;      /* (N, 48, 48, C) */
    nst_tensor c1;     /* (N, 42, 42, 8), after ReLU */
    nst_tensor p1;     /* (N, 21, 21, 8) */
    nst_tensor c2;     /* (N, 17, 17, 10), after ReLU */
    nst_tensor p2;     /* (N, 8, 8, 10) */
    nst_tensor c3;     /* (N, 6, 6, 10), after ReLU */
    nst_tensor h1;     /* (N, 32), after ReLU */
} nst_stn_tape;

/* y = T(x, theta) within pass (recording or running: the same calls in the same order).
 * theta NULL: the localisation network computes it; else (N, 2, 3) and given. y (N, H, W, C) is
 * the caller's. Requests its buffers from pass ("stn ..." labels). */
nst_status nst_stn_forward(nst_stn *s, nst_mem_pass *pass, const nst_tensor *x,
                           const nst_tensor *theta, nst_tensor *y, nst_stn_tape *tape);
/* From dy (N, H, W, C): dx (N, H, W, C, overwritten; NULL = not needed), dtheta (N, 2, 3,
 * overwritten; NULL = not needed) and, when theta was not given, every weight gradient into the
 * module's gradient tensors (added to them when accumulate, else overwritten). */
nst_status nst_stn_backward(nst_stn *s, nst_mem_pass *pass, const nst_stn_tape *tape,
                            const nst_tensor *dy, nst_tensor *dx, nst_tensor *dtheta,
                            bool accumulate);

/* ---- one call over host memory ------------------------------------------------------------- */

typedef struct {
    const float *x;      /* (N, H, W, C) */
    const float *theta;  /* (N, 2, 3) given, or NULL: the localisation network */
    /* backward from one of: dy (N, H, W, C), or target (N, H, W, C) with loss = MSE(y, target);
     * both NULL: forward only */
    const float *dy;
    const float *target;
    float *y;            /* (N, H, W, C) or NULL */
    float *theta_out;    /* (N, 2, 3) the theta used, or NULL */
    float *dx;           /* (N, H, W, C) or NULL: not computed */
    float *dtheta;       /* (N, 2, 3) or NULL: not computed */
    float *loss;         /* (1), with target */
} nst_stn_io;

/* Runs forward (and backward when dy or target is given; weight gradients land in the module)
 * for n images of h x w, planning a pass for this size and mode first when they differ from
 * the last call's. */
nst_status nst_stn_run(nst_stn *s, int n, int h, int w, const nst_stn_io *io);
/* The plan of the last nst_stn_run (NULL before the first). */
const nst_plan *nst_stn_current_plan(const nst_stn *s);
/* The plan of a call, without running it (a recording pass alone). */
nst_status nst_stn_plan(nst_stn *s, int n, int h, int w, const nst_stn_io *io,
                        nst_plan_summary *out);
/* Refuses plans larger than bytes (0: the device's free memory). */
void nst_stn_set_memory_limit(nst_stn *s, size_t bytes);

/* ---- training ------------------------------------------------------------------------------ */

typedef struct {
    double lr, beta1, beta2, eps, weight_decay; /* torch.optim.Adam's meaning */
} nst_stn_adam;

/* One torch.optim.Adam step over all ten weight tensors (one NST_OP_ADAM call) from the
 * gradients the last backward left; the step count is the module's (from 1). */
nst_status nst_stn_adam_step(nst_stn *s, const nst_stn_adam *opt);
/* Zeroes the Adam moments and the step count. */
nst_status nst_stn_adam_reset(nst_stn *s);

#ifdef __cplusplus
}
#endif
#endif
