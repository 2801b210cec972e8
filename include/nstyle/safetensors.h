/* safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
 * {string: string}}, then the data. Weights, checkpoints and test goldens use it.
 *
 * Reading validates everything before handing out a byte: header length within the file, JSON
 * syntax, known dtypes, shape products equal to the byte ranges, offsets in range, sorted,
 * non-overlapping and covering the data exactly. Anything malformed is refused with
 * NST_ERR_FORMAT and a message naming the file and the problem. */
#ifndef NSTYLE_SAFETENSORS_H
#define NSTYLE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File dtypes. F64 exists for goldens; U8 for quantised weights (indices into a codebook);
 * nstyle computes in F32/F16/BF16. */
typedef enum {
    NST_ST_F32,
    NST_ST_F16,
    NST_ST_BF16,
    NST_ST_F64,
    NST_ST_U8,
    NST_ST_DTYPE_COUNT
} nst_st_dtype;

#define NST_ST_MAX_DIMS 8

typedef struct {
    const char *name;
    nst_st_dtype dtype;
    int ndim;
    int64_t shape[NST_ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* little-endian raw bytes inside the mapped file */
    size_t bytes;
} nst_st_tensor;

typedef struct nst_st_file nst_st_file;

/* Opens and validates path (memory-mapped, read-only). On failure *out is NULL and the context
 * holds the message. */
nst_status nst_st_open(nst_ctx *ctx, const char *path, nst_st_file **out);
void nst_st_close(nst_st_file *f);

int nst_st_count(const nst_st_file *f);
/* Tensors in file order (by data offset). */
const nst_st_tensor *nst_st_at(const nst_st_file *f, int i);
/* NULL when absent. */
const nst_st_tensor *nst_st_find(const nst_st_file *f, const char *name);
/* The __metadata__ value for key, or NULL. */
const char *nst_st_metadata(const nst_st_file *f, const char *key);
int nst_st_metadata_count(const nst_st_file *f);
void nst_st_metadata_at(const nst_st_file *f, int i, const char **key, const char **value);

/* Converts any file dtype to F32 / F64 (F16/BF16 exactly, U8 as its plain value 0..255, F64
 * rounded to nearest). out must hold t->numel values. */
void nst_st_to_f32(const nst_st_tensor *t, float *out);
void nst_st_to_f64(const nst_st_tensor *t, double *out);
/* Finds name, checks dtype-independent shape (ndim dims; -1 = any) and converts to F32 in a newly
 * malloc'ed buffer the caller frees. ndim < 0 skips the shape check (dims may then be NULL).
 * Errors name the file and the tensor: NST_ERR_FORMAT when absent, NST_ERR_SHAPE on mismatch. */
nst_status nst_st_load_f32(nst_ctx *ctx, const nst_st_file *f, const char *name, int ndim,
                           const int64_t *dims, float **out);

/* Writing: collect tensors (data is copied at add time), then write atomically (temporary file
 * in the same folder, fsync, rename). */
typedef struct nst_st_writer nst_st_writer;
nst_st_writer *nst_st_writer_create(void);
void nst_st_writer_destroy(nst_st_writer *w);
nst_status nst_st_writer_add(nst_ctx *ctx, nst_st_writer *w, const char *name, nst_st_dtype dtype,
                             int ndim, const int64_t *shape, const void *data);
nst_status nst_st_writer_metadata(nst_ctx *ctx, nst_st_writer *w, const char *key,
                                  const char *value);
nst_status nst_st_writer_save(nst_ctx *ctx, const nst_st_writer *w, const char *path);

const char *nst_st_dtype_name(nst_st_dtype t); /* "F32" ... */
size_t nst_st_dtype_size(nst_st_dtype t);

#ifdef __cplusplus
}
#endif
#endif
