/* Internal: the light feed-forward networks of docs/light-networks.md (src/host/networks/light.c),
 * loaded from the safetensors that models/convert_light.py writes and run over the op table as
 * part of a memory pass:
 *   multistyle26         Dumoulin et al.'s 26-style network, conditioned by 26 style weights
 *   arbitrary_transform  Magenta's arbitrary-stylisation transformer, conditioned by a style
 *                        vector of 100
 *   arbitrary_predict    its style predictor (MobileNet v2): an image to that vector
 * The public entry points are include/nstyle/stylize.h's (nst_stylizer_open_light,
 * nst_style_predictor_*). Not installed. Tested by tests/test_light.c. */
#ifndef NSTYLE_LIGHT_NET_H
#define NSTYLE_LIGHT_NET_H

#include <stddef.h>

#include "nstyle/memory.h"
#include "nstyle/ops.h"

typedef enum {
    NST__LIGHT_PREDICT = 0,
    NST__LIGHT_ARBITRARY = 1,
    NST__LIGHT_MULTI26 = 2
} nst__light_kind;

typedef struct nst__light nst__light;

/* Reads path (metadata format "nstyle-light-1") and uploads its weights to ctx's backend. */
nst_status nst__light_open(nst_ctx *ctx, const char *path, nst__light **out);
void nst__light_close(nst__light *net);
nst__light_kind nst__light_kind_of(const nst__light *net);
/* The conditioning each image takes: 26 style weights, 100 vector values, 0 (the predictor). */
int nst__light_cond_size(const nst__light *net);
size_t nst__light_weight_bytes(const nst__light *net);
/* "multistyle26", "arbitrary_transform", "arbitrary_predict". */
const char *nst__light_name(const nst__light *net);
/* The forward as part of a memory pass:
 *   transformers: x (n, h, w, 3) RGB 0..255 -> *y (n, 4 ceil(h/4), 4 ceil(w/4), 3) on 0..255
 *                 (the network's sigmoid output times 255); cond: n rows of
 *                 nst__light_cond_size values (weights as given: the caller normalises them);
 *   predictor:    x (1, h, w, 3), h and w multiples of 32 -> *y (1, 1, 1, 100); cond unused.
 * cond is read only in a run pass (NULL when recording). */
nst_status nst__light_forward(nst__light *net, nst_mem_pass *pass, const nst_tensor *x,
                              const float *cond, nst_tensor *y);

#endif
