/* Internal: the trainable TransformerNet (src/host/networks/transformer_backward.c): the
 * pytorch/examples network of include/nstyle/stylize.h at a chosen base width, its 62 parameters
 * with their gradients and Adam state as persistent memory-pass buffers, a forward that keeps what
   * the backward needs, and the backward to every parameter. Used by src/host/pipelines/train.c.
   * Not installed. Tested by tests/test_train.c (weight gradients of one training step against
     * PyTorch). */
#ifndef NSTYLE_TRAIN_NET_H
#define NSTYLE_TRAIN_NET_H

#include <stdint.h>

#include "nstyle/memory.h"
#include "nstyle/ops.h"

#define NST__TN_CONVS 16
#define NST__TN_NORMS 15
#define NST__TN_PARAMS 62

typedef struct {
    char name[48];     /* "res3.conv1.conv2d.weight", the pytorch/examples state_dict name */
    int ndim;
    int64_t torch[4];  /* the PyTorch shape: (Cout, Cin, K, K) or (C) */
} nst__tn_param_info;

typedef struct {
    int width; /* conv1's Cout: 32 in pytorch/examples; the net's widths are 1x, 2x, 4x it */
    nst__tn_param_info info[NST__TN_PARAMS]; /* state_dict order */
    /* persistent, (Cout, K, K, Cin) for conv weights, (C) otherwise */
    nst_tensor param[NST__TN_PARAMS], grad[NST__TN_PARAMS], m[NST__TN_PARAMS], v[NST__TN_PARAMS];
} nst__tn;

/* The tensors one forward keeps for the backward (batch n, input h x w, both multiples of 4). */
typedef struct {
    const nst_tensor *in[NST__TN_CONVS]; /* conv i's input */
    nst_tensor up[NST__TN_CONVS];        /* (n, 2h, 2w, Cin) deconv1/2 only */
    nst_tensor pad[NST__TN_CONVS];       /* (n, h + 2p, w + 2p, Cin) */
    nst_tensor out[NST__TN_CONVS];       /* (n, Ho, Wo, Cout) conv output */
    nst_tensor nout[NST__TN_NORMS];      /* (n, Ho, Wo, C) norm output (after its ReLU) */
    nst_tensor mean[NST__TN_NORMS], rstd[NST__TN_NORMS]; /* (n, C) */
    nst_tensor sum[5];                   /* (n, h/4, w/4, 4 width) residual outputs */
} nst__tn_acts;

/* Fills the table for a base width (>= 1) and requests the persistent parameters, gradients and
 * Adam state. */
nst_status nst__tn_declare(nst_mem_pass *pass, int width, nst__tn *net);
/* Index of a state_dict name, or -1. */
int nst__tn_find(const nst__tn *net, const char *name);
/* x (n, h, w, 3) RGB 0-255 -> y (n, h, w, 3), keeping the activations in a. */
nst_status nst__tn_forward(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, const nst_tensor *x,
                           nst__tn_acts *a, nst_tensor *y);
/* dy (n, h, w, 3): the loss gradient w.r.t. y; writes every net->grad (overwritten). */
nst_status nst__tn_backward(nst_ctx *ctx, nst_mem_pass *pass, nst__tn *net, nst__tn_acts *a,
                            const nst_tensor *dy);
/* PyTorch's default initialisation from a splitmix64 state: conv weights and biases uniform in
 * +-1/sqrt(fan_in), instance-norm gamma 1 and beta 0; parameter k in the PyTorch layout. */
void nst__tn_init_param(const nst__tn *net, int k, uint64_t *rng, float *out);
/* Between the PyTorch layout (OIHW) and the memory layout (Cout, K, K, Cin) of parameter p. */
void nst__tn_to_memory(const nst__tn_param_info *p, const float *torch, float *mem);
void nst__tn_to_torch(const nst__tn_param_info *p, const float *mem, float *torch);
uint64_t nst__splitmix64(uint64_t *state);

#endif
