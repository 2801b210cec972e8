/* Atomic file writes (src/host/atomic_file.c) for the formats and pipelines that write files:
 * images, safetensors weights and checkpoints. Not installed. */
#ifndef NSTYLE_FILES_H
#define NSTYLE_FILES_H

#include <stdio.h>

#include "nstyle/context.h"
#include "nstyle/status.h"

/* Writes path atomically (src/host/atomic_file.c): write() fills a temporary file in the same
 * folder, which then replaces path; on any failure path is untouched and nothing is left over.
 * write() returns NST_OK or records its own error with NST__ERR. */
typedef nst_status (*nst__write_fn)(nst_ctx *ctx, FILE *f, void *user);
nst_status nst__atomic_write(nst_ctx *ctx, const char *path, nst__write_fn write, void *user);

#endif
