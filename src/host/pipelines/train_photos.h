/* Internal: the training photos (src/host/pipelines/train_photos.c), for src/host/pipelines/
 * train.c. Not installed. */
#ifndef NSTYLE_TRAIN_PHOTOS_H
#define NSTYLE_TRAIN_PHOTOS_H

#include <stdint.h>

#include "nstyle/context.h"
#include "nstyle/status.h"

/* The readable images of dir (anything the image loader can probe), sorted by name, appended
 * to *files (malloc'd paths, the array realloc'd) and counted in *n_files; none is an error
 * naming the folder and how many other entries it holds. */
nst_status nst__train_photos_list(nst_ctx *ctx, const char *dir, char ***files, int *n_files);
/* One image of a batch into out (S, S, 3), 0-255: a random photo of files[0, n_files), its
 * short side resized to S, a random S x S crop; rng advances. */
nst_status nst__train_photos_crop(nst_ctx *ctx, char *const *files, int n_files, int S,
                                  uint64_t *rng, float *out);

#endif
