/* The training photos (src/host/pipelines/train_photos.h): the readable images of a folder in
 * name order, and one random S x S crop of a random photo after resizing its short side to S,
 * from the trainer's seeded generator. Tested by tests/test_train.c (refusals, the shared
 * photos). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/image.h"
#include "nstyle/train.h"
#include "../networks/transformer_net.h" /* nst__splitmix64 */
#include "train_photos.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

nst_status nst__train_photos_list(nst_ctx *ctx, const char *dir, char ***files, int *n_files) {
    if (!dir)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "train: no folder of photos (data_dir)");
    DIR *d = opendir(dir);
    if (!d)
        return NST__ERR(ctx, NST_ERR_IO, "train: cannot open the folder of photos '%s'", dir);
    int cap = 0, skipped = 0;
    nst_status st = NST_OK;
    for (struct dirent *e; st == NST_OK && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        const size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            st = NST__ERR(ctx, NST_ERR_NO_MEMORY, "train: no host memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        int w, h, c;
        if (nst_image_probe(ctx, path, &w, &h, &c) != NST_OK) {
            skipped++;
            free(path);
            continue;
        }
        if (*n_files == cap) {
            cap = cap ? 2 * cap : 64;
            char **f = realloc(*files, (size_t)cap * sizeof *f);
            if (!f) {
                free(path);
                st = NST__ERR(ctx, NST_ERR_NO_MEMORY, "train: no host memory");
                break;
            }
            *files = f;
        }
        (*files)[(*n_files)++] = path;
    }
    closedir(d);
    NST__TRY(st);
    if (*n_files == 0)
        return NST__ERR(ctx, NST_ERR_IO, "train: no readable image in '%s' (%d other entr%s; "
                        "PNG, JPEG, BMP, TGA, ... as the image loader reads)", dir, skipped,
                        skipped == 1 ? "y" : "ies");
    qsort(*files, (size_t)*n_files, sizeof **files, cmp_str);
    return NST_OK;
}

nst_status nst__train_photos_crop(nst_ctx *ctx, char *const *files, int n_files, int S,
                                  uint64_t *rng, float *out) {
    const char *path = files[nst__splitmix64(rng) % (uint64_t)n_files];
    nst_image img = {0}, rs = {0};
    NST__TRY(nst_image_load(ctx, path, 3, &img));
    const int w = img.width, h = img.height;
    int nw = S, nh = S;
    if (w < h)
        nh = (int)fmax(S, floor((double)h * S / w + 0.5));
    else
        nw = (int)fmax(S, floor((double)w * S / h + 0.5));
    nst_status st = nst_image_resize(ctx, &img, nw, nh, &rs);
    nst_image_free(&img);
    NST__TRY(st);
    const int ox = (int)(nst__splitmix64(rng) % (uint64_t)(nw - S + 1));
    const int oy = (int)(nst__splitmix64(rng) % (uint64_t)(nh - S + 1));
    for (int r = 0; r < S; r++)
        for (int c = 0; c < S * 3; c++)
            out[(size_t)r * S * 3 + c] = rs.data[((size_t)(oy + r) * nw + ox) * 3 + c];
    nst_image_free(&rs);
    return NST_OK;
}
