/* nst_tensor: dtype + shape + data pointer + the backend that owns the memory.
 * Layout is NHWC for images and feature maps; convolution weights are (Cout, KH, KW, Cin) in
 * memory (converted once from PyTorch's OIHW at load). Tensors are plain descriptors: they do not
 * own their memory, which comes from an arena or from nst_tensor_alloc(). */
#ifndef NSTYLE_TENSOR_H
#define NSTYLE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NST_MAX_DIMS 4

typedef enum { NST_F32 = 0, NST_F16 = 1, NST_BF16 = 2, NST_DTYPE_COUNT } nst_dtype;

typedef enum { NST_BACKEND_CPU = 0, NST_BACKEND_CUDA = 1, NST_BACKEND_COUNT } nst_backend_kind;

typedef struct nst_tensor {
    nst_dtype dtype;
    int ndim;                       /* 1..NST_MAX_DIMS */
    int64_t shape[NST_MAX_DIMS];    /* outermost first: (N, H, W, C) for images */
    void *data;                     /* host pointer on CPU, device pointer on CUDA */
    nst_backend_kind backend;       /* where data lives */
    /* A planned tensor's memory-plan buffer id + 1 (0: not planned). In a recording pass a
     * planned tensor has no data and ops record its uses instead of computing (memory.h). */
    int32_t plan_ref;
} nst_tensor;

size_t nst_dtype_size(nst_dtype t);      /* bytes per element */
const char *nst_dtype_name(nst_dtype t); /* "F32", "F16", "BF16" */
int64_t nst_tensor_numel(const nst_tensor *t);
size_t nst_tensor_bytes(const nst_tensor *t);
/* A descriptor with no data; ndim entries of shape are read from dims. */
nst_tensor nst_tensor_make(nst_dtype dtype, nst_backend_kind backend, void *data, int ndim,
                           const int64_t *dims);
/* Shortcut for the common (N, H, W, C) case. */
nst_tensor nst_tensor_nhwc(nst_dtype dtype, nst_backend_kind backend, void *data, int64_t n,
                           int64_t h, int64_t w, int64_t c);
/* The plan buffer id of a planned tensor, or -1. */
static inline int nst_tensor_plan_id(const nst_tensor *t) { return t ? (int)t->plan_ref - 1 : -1; }
/* Writes "(2, 7, 11, 3) F32" into buf; returns buf. */
const char *nst_tensor_describe(const nst_tensor *t, char *buf, size_t size);

/* Exact scalar conversions (round to nearest even on the way down; subnormals kept). */
float nst_f16_to_f32(uint16_t h);
uint16_t nst_f32_to_f16(float f);
float nst_bf16_to_f32(uint16_t h);
uint16_t nst_f32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif
