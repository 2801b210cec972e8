/* Internal pieces shared by the safetensors reader (safetensors.c), writer (safetensors_write.c)
 * and their tests. */
#ifndef NSTYLE_SAFETENSORS_INTERNAL_H
#define NSTYLE_SAFETENSORS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "nstyle/ops.h"
#include "nstyle/safetensors.h"

/* nst_st_open() with the read path chosen: use_mmap false takes the read() fallback. */
nst_status nst__st_open_with(nst_ctx *ctx, const char *path, bool use_mmap, nst_st_file **out);

/* "[2, 3, 4]" into buf, for messages; returns buf. */
const char *nst__st_shape_str(const int64_t *shape, int ndim, char *buf, size_t size);

#endif
