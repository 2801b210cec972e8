/* VGG19's conv layers and their weights.
 *
 * The network: 16 convs, each 3x3, stride 1, zero padding 1, with bias and a ReLU after it; a
 * 2x2 max pool (stride 2) after conv1_2, conv2_2, conv3_4, conv4_4 and conv5_4. Layers are
 * named conv<b>_<k> / relu<b>_<k> (block b, k-th conv in it); weight files use torchvision's
 * `features.N` indices.
 *
 * Weight files (safetensors, see models/README.md) hold per conv either
 *   features.N.weight  F32/F16/BF16 (Cout, Cin, 3, 3) and features.N.bias (Cout), or
 *   features.N.weight_q8 U8 (Cout, Cin, 3, 3) indices into features.N.weight_codebook F32 (256)
 *   (k-means quantised; w = codebook[index]) and features.N.bias F32 (Cout),
 * and the input convention in __metadata__ "input" (ops.h: nst_input_convention_from_name).
 * A file may hold only the first convs (conv1_1 onwards, without gaps). */
#ifndef NSTYLE_VGG19_H
#define NSTYLE_VGG19_H

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "ops.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NST_VGG19_CONV_COUNT 16
#define NST_VGG19_WIDTH 64 /* conv1_1's Cout; every Cout is a multiple of it */

typedef struct {
    const char *name;      /* "conv1_1" */
    const char *relu_name; /* "relu1_1" */
    int torchvision_index; /* N in features.N */
    int cin, cout;
    bool pool_after; /* a 2x2 max pool follows this conv's ReLU */
} nst_vgg19_layer;

int nst_vgg19_layer_count(void); /* NST_VGG19_CONV_COUNT */
/* NULL when i is out of range. */
const nst_vgg19_layer *nst_vgg19_layer_get(int i);
/* The conv index of "conv<b>_<k>" or "relu<b>_<k>" (is_relu, which may be NULL, says which
 * name matched), or -1 for any other name. */
int nst_vgg19_layer_find(const char *name, bool *is_relu);
/* "conv1_1 relu1_1 conv1_2 ... relu5_4" into buf (snprintf semantics: truncated to size, NUL
 * terminated when size > 0); returns the full length without the NUL. buf may be NULL when
 * size is 0. */
size_t nst_vgg19_layer_names(char *buf, size_t size);

/* Where the weights are: model_arg when not NULL (a file that must exist), else the first
 * readable file of $NSTYLE_MODELS/, ./models/, ~/.cache/nstyle/, each tried with
 * vgg19-imagenet-caffe-q8.safetensors then vgg19.safetensors. Writes the path to path (size
 * bytes). NST_ERR_IO when nothing is found, with a message that lists every place looked and
 * says how to get the weights (models/fetch-vgg19.sh); NST_ERR_INVALID_ARG when path is too
 * small. */
nst_status nst_vgg19_weights_find(nst_ctx *ctx, const char *model_arg, char *path, size_t size);

/* Host copies of the conv weights, in the op layer's layout. */
typedef struct {
    int n_layers; /* convs in the file, conv1_1 .. conv<n_layers> in table order */
    int width;    /* conv1_1's Cout: NST_VGG19_WIDTH for VGG19 itself; layer i then has
                     Cin = cin * width / 64 (3 for conv1_1) and Cout = cout * width / 64 */
    nst_input_convention convention;
    float *w[NST_VGG19_CONV_COUNT]; /* (Cout, 3, 3, Cin), NULL from n_layers on */
    float *b[NST_VGG19_CONV_COUNT]; /* (Cout) */
    int cin[NST_VGG19_CONV_COUNT], cout[NST_VGG19_CONV_COUNT];
} nst_vgg19_weights;

/* Reads path, dequantising q8 layers, and checks every shape and dtype against the table (scaled
 * by width) and the metadata's input convention. Fails, naming the tensor and what is wrong
 * (NST_ERR_FORMAT; NST_ERR_SHAPE for shapes), when a tensor is malformed, when the file holds
 * fewer than n_layers_needed convs (naming the first missing one), or when "input" is missing
 * or unknown. On failure *out is zeroed (nst_vgg19_weights_free is still safe). */
nst_status nst_vgg19_weights_load(nst_ctx *ctx, const char *path, int n_layers_needed,
                                  nst_vgg19_weights *out);
void nst_vgg19_weights_free(nst_vgg19_weights *w);

#ifdef __cplusplus
}
#endif
#endif
