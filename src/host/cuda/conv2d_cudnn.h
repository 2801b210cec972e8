/* conv2d through cuDNN: the descriptors of one convolution shape (NHWC tensors, NHWC filters =
 * our (Cout, KH, KW, Cin) weights), made without a cuDNN handle so that they are testable on a
 * machine without a GPU (tests/test_cuda_cudnn_host.c). The ops themselves are declared in
 * cuda_internal.h; everything here is implemented in conv2d_cudnn.c. */
#ifndef NSTYLE_CUDA_CONV2D_CUDNN_H
#define NSTYLE_CUDA_CONV2D_CUDNN_H

#include <cudnn.h>

#include "conv_algo.h"

/* One convolution: input (n, h, w, cin), weights (cout, kh, kw, cin / groups), stride and zero
 * padding on both axes; groups 0 or 1 for conv2d, cin (= cout) for dwconv2d, whose (C, KH, KW, 1)
 * weights are cuDNN's NHWC filter of a grouped convolution (cudnnSetConvolutionGroupCount). */
typedef struct {
    int n, h, w, cin, cout, kh, kw, stride, pad;
    int groups;
} nst__conv_shape;

typedef struct {
    cudnnTensorDescriptor_t x;    /* (n, h, w, cin) NHWC */
    cudnnTensorDescriptor_t y;    /* (n, ho, wo, cout) NHWC, = dy */
    cudnnTensorDescriptor_t bias; /* (1, 1, 1, cout) */
    cudnnFilterDescriptor_t w;    /* (cout, kh, kw, cin / groups) NHWC filter format */
    cudnnConvolutionDescriptor_t conv;
    cudnnActivationDescriptor_t relu;
    int ho, wo;                   /* cudnnGetConvolutionNdForwardOutputDim */
} nst__conv_descs;

/* Makes the descriptors for shape, F32 data, with math_type (cudnnMathType_t) on the
 * convolution; checks cuDNN's output size against PyTorch's floor((h + 2 pad - kh) / stride) + 1.
 * On failure every descriptor made is destroyed and the message names the shape and the cuDNN
 * call. */
NST__CUDA_EXPORT nst_status nst__cudnn_conv_descs_make(nst_ctx *ctx, const nst__conv_shape *shape,
                                                       int math_type, nst__conv_descs *out);
NST__CUDA_EXPORT void nst__cudnn_conv_descs_free(nst__conv_descs *d);
/* Puts the convolution descriptor's math type back to the rules' own (cuDNN's default with TF32
 * allowed, FMA without), as before each direction's algorithm query. */
NST__CUDA_EXPORT nst_status nst__cudnn_conv_math_reset(nst_ctx *ctx, const nst__conv_descs *d,
                                                       bool allow_tf32, const char *what);
/* "(1, 512, 768, 64) * (128, 3, 3, 64) stride 1 pad 1", "... groups 64" when grouped */
NST__CUDA_EXPORT const char *nst__conv_shape_text(const nst__conv_shape *s, char *buf, size_t size);

#endif
