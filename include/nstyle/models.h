/* Finding a model's weight file: a path given by the user, or a file name looked up in the model
 * folders, in this order:
 *     $NSTYLE_MODELS/   (when set)
 *     ./models/         (relative to the working directory)
 *     ~/.cache/nstyle/  (when HOME is set)
 * Implemented in src/host/model_path.c; tested by tests/test_transformer.c (search order, a path
 * taken as given, the message when nothing is found). */
#ifndef NSTYLE_MODELS_H
#define NSTYLE_MODELS_H

#include <stddef.h>

#include "context.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the weights are, written to path (size bytes):
 *  - arg names a readable file: arg itself;
 *  - arg holds a '/' (a path) but is no readable file: NST_ERR_IO;
 *  - otherwise (arg NULL or a bare name) the first readable file_names[k] (k = 0 .. n_names - 1)
 *    in each model folder in turn, folders in the order above.
 * When nothing is found, NST_ERR_IO with a message that lists every place looked and says what
 * to do (pass a path, put the file in a folder, or set NSTYLE_MODELS), after the text of
 * $NSTYLE_MODELS_HINT when that is set (e.g. what to mount in a container); the caller adds how
 * to get that model. NST_ERR_INVALID_ARG when the found path does not fit in size bytes. */
nst_status nst_model_find(nst_ctx *ctx, const char *arg, const char *const *file_names,
                          int n_names, char *path, size_t size);

#ifdef __cplusplus
}
#endif
#endif
