/* An op's scratch, for the op implementations (src/cpu/, src/host/cuda/, src/kernels/): each op
 * states its scratch bytes before it runs (the backend's scratch query, rounded per piece with
 * nst__scratch_bytes) and, while it runs, cuts them from the region the dispatch opened for it.
 * Not installed. */
#ifndef NSTYLE_OP_SCRATCH_H
#define NSTYLE_OP_SCRATCH_H

#include <stddef.h>

#include "nstyle/context.h"
#include "nstyle/status.h"

/* Alignment of each piece of op scratch; a backend's scratch query rounds every piece it will
 * take up to it (nst__scratch_bytes). */
#define NST__SCRATCH_ALIGN 64
static inline size_t nst__scratch_bytes(size_t bytes) {
    return (bytes + NST__SCRATCH_ALIGN - 1) & ~(size_t)(NST__SCRATCH_ALIGN - 1);
}
/* A piece of the current op call's scratch (NULL for 0 bytes). Failing here means the backend's
 * scratch query under-counted: the call fails with NST_ERR_INTERNAL naming op and `what`. */
nst_status nst__scratch_take(nst_ctx *ctx, const char *op, const char *what, size_t bytes,
                             void **out);

#endif
