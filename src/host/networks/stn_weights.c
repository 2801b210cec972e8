/* The spatial transformer's weights (include/nstyle/stn.h): the ten tensors' PyTorch shapes and
 * the module's allocations, PyTorch's default initialisation from a seeded generator, weights
 * and gradients by name in PyTorch's layout, and safetensors load and save.
 *
 * Layouts: conv weights OIHW on disk and in every name-based call, (O, KH, KW, I) in memory as
 * the op table wants; fc_loc.0.weight (32, 360) with columns in PyTorch's flatten order (c, h, w)
 * of the (10, 6, 6) feature map on disk, (h, w, c) in memory, since feature maps are NHWC here.
 * convert() is the one place that permutes, both ways.
 *
 * Tested by tests/test_stn.c (goldens loaded by name, save/load round trip, bad files). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/safetensors.h"
#include "../safetensors_internal.h"
#include "stn_internal.h"

const char *const nst__stn_names[NST_STN_N_TENSORS] = {
    "localization.0.weight", "localization.0.bias", "localization.3.weight",
    "localization.3.bias",   "localization.6.weight", "localization.6.bias",
    "fc_loc.0.weight",       "fc_loc.0.bias",       "fc_loc.2.weight", "fc_loc.2.bias"};

/* ---- layouts -------------------------------------------------------------------------------- */

static void shapes(nst_stn *s) {
    const int64_t d[NST_STN_N_TENSORS][4] = {
        {8, s->C, 7, 7}, {8}, {10, 8, 5, 5}, {10}, {10, 10, 3, 3}, {10},
        {32, NST_STN_FLAT}, {32}, {6, 32}, {6}};
    size_t off = 0;
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        s->ndim[i] = i % 2 ? 1 : i < F1_W ? 4 : 2;
        s->numel[i] = 1;
        for (int k = 0; k < s->ndim[i]; k++)
            s->numel[i] *= (s->dims[i][k] = d[i][k]);
        s->offset[i] = off;
        off += ((size_t)s->numel[i] * sizeof(float) + NST__STN_ALIGN - 1) & ~(size_t)(NST__STN_ALIGN - 1);
    }
    s->bytes = off;
}

/* PyTorch layout -> op-table layout (to_file: the inverse): conv OIHW -> (O, H, W, I); fc_loc.0
 * columns (c, h, w) -> (h, w, c) over the (10, 6, 6) feature map. */
static void convert(const nst_stn *s, int i, const float *src, float *dst, bool to_file) {
    const int64_t *d = s->dims[i];
    if (s->ndim[i] == 4) {
        const int64_t O = d[0], I = d[1], KK = d[2] * d[3];
        for (int64_t o = 0; o < O; o++)
            for (int64_t c = 0; c < I; c++)
                for (int64_t q = 0; q < KK; q++) {
                    const size_t a = (size_t)((o * I + c) * KK + q), b = (size_t)((o * KK + q) * I + c);
                    if (to_file)
                        dst[a] = src[b];
                    else
                        dst[b] = src[a];
                }
    } else if (i == F1_W) {
        for (int64_t o = 0; o < 32; o++)
            for (int64_t c = 0; c < 10; c++)
                for (int64_t hw = 0; hw < 36; hw++) {
                    const size_t a = (size_t)(o * 360 + c * 36 + hw), b = (size_t)(o * 360 + hw * 10 + c);
                    if (to_file)
                        dst[a] = src[b];
                    else
                        dst[b] = src[a];
                }
    } else {
        memcpy(dst, src, (size_t)s->numel[i] * sizeof *dst);
    }
}

static int find(const nst_stn *s, const char *name) {
    for (int i = 0; name && i < NST_STN_N_TENSORS; i++)
        if (strcmp(nst__stn_names[i], name) == 0)
            return i;
    (void)s;
    return -1;
}

static nst_status set_index(nst_stn *s, int i, const float *values) {
    float *tmp = malloc((size_t)s->numel[i] * sizeof *tmp);
    if (!tmp)
        return NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stn: no host memory for %s", nst__stn_names[i]);
    convert(s, i, values, tmp, false);
    nst_status st = nst_copy_to_device(s->ctx, s->w[i].data, tmp, nst_tensor_bytes(&s->w[i]));
    free(tmp);
    return st;
}

/* ---- creation ------------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* PyTorch's defaults for Conv2d and Linear, from seed; fc_loc.2 the identity. */
static nst_status init_weights(nst_stn *s, uint64_t seed) {
    float *host = malloc((size_t)s->numel[C1_W] > 360 * 32 ? (size_t)s->numel[C1_W] * sizeof *host
                                                           : 360 * 32 * sizeof *host);
    if (!host)
        return NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stn: no host memory to initialise");
    uint64_t state = seed;
    nst_status st = NST_OK;
    for (int i = 0; st == NST_OK && i < NST_STN_N_TENSORS; i++) {
        const int wi = i & ~1; /* the layer's weight: fan_in = its numel / out channels */
        const double bound = 1.0 / sqrt((double)(s->numel[wi] / s->dims[wi][0]));
        for (int64_t k = 0; k < s->numel[i]; k++) {
            const double u = (double)(splitmix(&state) >> 11) * 0x1.0p-53;
            host[k] = i == F2_W ? 0.0f
                      : i == F2_B ? (k == 0 || k == 4 ? 1.0f : 0.0f)
                                  : (float)((2.0 * u - 1.0) * bound);
        }
        st = set_index(s, i, host);
    }
    free(host);
    return st;
}

nst_status nst_stn_create(nst_ctx *ctx, int channels, uint64_t seed, nst_stn **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_stn_create: NULL output pointer");
    *out = NULL;
    if (channels < 1 || channels > 65536)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_stn_create: %d channels (1..65536)",
                        channels);
    nst_stn *s = calloc(1, sizeof *s);
    if (!s)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "nst_stn_create: no host memory");
    s->ctx = ctx;
    s->C = channels;
    shapes(s);
    nst_status st = nst_alloc(ctx, s->bytes, NST_TAG_WEIGHTS, &s->wmem);
    if (st == NST_OK)
        st = nst_alloc(ctx, s->bytes, NST_TAG_GRADIENTS, &s->gmem);
    if (st == NST_OK)
        st = nst_alloc(ctx, 2 * s->bytes, NST_TAG_OPTIMISER, &s->mvmem);
    for (int i = 0; st == NST_OK && i < NST_STN_N_TENSORS; i++) {
        const int64_t *d = s->dims[i];
        const int64_t dims[4] = {d[0], d[2], d[3], d[1]}; /* conv: (O, KH, KW, I) */
        const int64_t *md = s->ndim[i] == 4 ? dims : d;
        const nst_backend_kind be = nst_ctx_backend(ctx);
        s->w[i] = nst_tensor_make(NST_F32, be, (char *)s->wmem + s->offset[i], s->ndim[i], md);
        s->g[i] = nst_tensor_make(NST_F32, be, (char *)s->gmem + s->offset[i], s->ndim[i], md);
        s->m[i] = nst_tensor_make(NST_F32, be, (char *)s->mvmem + s->offset[i], s->ndim[i], md);
        s->v[i] = nst_tensor_make(NST_F32, be, (char *)s->mvmem + s->bytes + s->offset[i],
                                  s->ndim[i], md);
    }
    if (st == NST_OK)
        st = nst_memset_device(ctx, s->gmem, 0, s->bytes);
    if (st == NST_OK)
        st = nst_stn_adam_reset(s);
    if (st == NST_OK)
        st = init_weights(s, seed);
    if (st != NST_OK) {
        nst_stn_destroy(s);
        return st;
    }
    *out = s;
    return NST_OK;
}

void nst_stn_destroy(nst_stn *s) {
    if (!s)
        return;
    nst__stn_drop_arena(s);
    nst_free(s->ctx, s->wmem);
    nst_free(s->ctx, s->gmem);
    nst_free(s->ctx, s->mvmem);
    free(s);
}

int nst_stn_channels(const nst_stn *s) { return s ? s->C : 0; }
void nst_stn_set_padding(nst_stn *s, nst_grid_padding padding) {
    if (s)
        s->padding = padding;
}
nst_grid_padding nst_stn_padding(const nst_stn *s) { return s ? s->padding : NST_PAD_ZEROS; }
size_t nst_stn_owned_bytes(const nst_stn *s) { return s ? 4 * s->bytes : 0; }
void nst_stn_set_memory_limit(nst_stn *s, size_t bytes) {
    if (s)
        s->mem_limit = bytes;
}
const nst_plan *nst_stn_current_plan(const nst_stn *s) { return s ? s->plan : NULL; }

/* ---- weights by name and files -------------------------------------------------------------- */

nst_status nst_stn_tensor_info(const nst_stn *s, int i, const char **name, int *ndim,
                               int64_t dims[4]) {
    if (!s || i < 0 || i >= NST_STN_N_TENSORS)
        return s ? NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: no tensor %d (0..%d)", i,
                            NST_STN_N_TENSORS - 1)
                 : NST_ERR_INVALID_ARG;
    if (name)
        *name = nst__stn_names[i];
    if (ndim)
        *ndim = s->ndim[i];
    if (dims)
        memcpy(dims, s->dims[i], sizeof s->dims[i]);
    return NST_OK;
}

static nst_status lookup(nst_stn *s, const char *name, const void *p, int *i) {
    if (!s)
        return NST_ERR_INVALID_ARG;
    if ((*i = find(s, name)) < 0)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: no weight named '%s'",
                        name ? name : "(null)");
    if (!p)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: NULL buffer for %s", name);
    return NST_OK;
}

nst_status nst_stn_get(nst_stn *s, const char *name, nst_stn_which which, float *out) {
    int i;
    NST__TRY(lookup(s, name, out, &i));
    const nst_tensor *t = which == NST_STN_GRAD ? &s->g[i] : &s->w[i];
    float *tmp = malloc(nst_tensor_bytes(t));
    if (!tmp)
        return NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stn: no host memory for %s", name);
    nst_status st = nst_copy_to_host(s->ctx, tmp, t->data, nst_tensor_bytes(t));
    if (st == NST_OK)
        convert(s, i, tmp, out, true);
    free(tmp);
    return st;
}

nst_status nst_stn_set(nst_stn *s, const char *name, const float *values) {
    int i;
    NST__TRY(lookup(s, name, values, &i));
    return set_index(s, i, values);
}

/* Every tensor of f must be one of the ten, with this module's shape and a float dtype. */
static nst_status check_file(nst_stn *s, const char *path, const nst_st_file *f,
                             const nst_st_tensor **found) {
    char missing[256] = "", extra[256] = "", shape[512] = "", dtype[256] = "";
    for (int i = 0; i < NST_STN_N_TENSORS; i++) {
        const nst_st_tensor *t = found[i] = nst_st_find(f, nst__stn_names[i]);
        if (!t) {
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
                     *missing ? ", " : "", nst__stn_names[i]);
            continue;
        }
        bool ok = t->ndim == s->ndim[i];
        for (int k = 0; ok && k < t->ndim; k++)
            ok = t->shape[k] == s->dims[i][k];
        char got[96], want[96];
        if (!ok)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%s is %s, expected %s",
                     *shape ? ", " : "", nst__stn_names[i], nst__st_shape_str(t->shape, t->ndim, got, sizeof got),
                     nst__st_shape_str(s->dims[i], s->ndim[i], want, sizeof want));
        if (t->dtype == NST_ST_U8)
            snprintf(dtype + strlen(dtype), sizeof dtype - strlen(dtype), "%s%s is U8",
                     *dtype ? ", " : "", nst__stn_names[i]);
    }
    for (int k = 0; k < nst_st_count(f); k++)
        if (find(s, nst_st_at(f, k)->name) < 0)
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%s%s",
                     *extra ? ", " : "", nst_st_at(f, k)->name);
    if (*missing || *extra || *dtype)
        return NST__ERR(s->ctx, NST_ERR_FORMAT,
                        "%s is not a spatial transformer's weights (%d channels): missing: %s; "
                        "unexpected: %s; not float: %s", path, s->C, *missing ? missing : "none",
                        *extra ? extra : "none", *dtype ? dtype : "none");
    if (*shape)
        return NST__ERR(s->ctx, NST_ERR_SHAPE, "%s: weights of the wrong shape for a %d-channel "
                        "spatial transformer: %s", path, s->C, shape);
    return NST_OK;
}

nst_status nst_stn_load_weights(nst_stn *s, const char *path) {
    if (!s || !path)
        return s ? NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "nst_stn_load_weights: no path")
                 : NST_ERR_INVALID_ARG;
    nst_st_file *f = NULL;
    NST__TRY(nst_st_open(s->ctx, path, &f));
    const nst_st_tensor *found[NST_STN_N_TENSORS];
    nst_status st = check_file(s, path, f, found);
    float *host = st == NST_OK ? malloc(s->bytes) : NULL; /* all ten, then uploaded */
    if (st == NST_OK && !host)
        st = NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stn: no host memory to load %s", path);
    for (int i = 0; st == NST_OK && i < NST_STN_N_TENSORS; i++)
        nst_st_to_f32(found[i], host + s->offset[i] / sizeof *host);
    for (int i = 0; st == NST_OK && i < NST_STN_N_TENSORS; i++)
        st = set_index(s, i, host + s->offset[i] / sizeof *host);
    free(host);
    nst_st_close(f);
    return st;
}

nst_status nst_stn_open(nst_ctx *ctx, const char *path, nst_stn **out) {
    if (!out || !path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_stn_open: NULL argument");
    *out = NULL;
    nst_st_file *f = NULL;
    NST__TRY(nst_st_open(ctx, path, &f));
    const nst_st_tensor *t = nst_st_find(f, nst__stn_names[C1_W]);
    const bool ok = t && t->ndim == 4 && t->shape[0] == 8 && t->shape[2] == 7 &&
                    t->shape[3] == 7 && t->shape[1] >= 1 && t->shape[1] <= 65536;
    const int C = ok ? (int)t->shape[1] : 0;
    nst_st_close(f);
    if (!ok)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: no %s of shape (8, C, 7, 7): not a spatial "
                        "transformer's weights", path, nst__stn_names[C1_W]);
    nst_stn *s = NULL;
    NST__TRY(nst_stn_create(ctx, C, 0, &s));
    nst_status st = nst_stn_load_weights(s, path);
    if (st != NST_OK) {
        nst_stn_destroy(s);
        return st;
    }
    *out = s;
    return NST_OK;
}

nst_status nst_stn_save_weights(nst_stn *s, const char *path) {
    if (!s || !path)
        return s ? NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "nst_stn_save_weights: no path")
                 : NST_ERR_INVALID_ARG;
    nst_st_writer *w = nst_st_writer_create();
    float *host = malloc(s->bytes);
    nst_status st = w && host ? NST_OK
                              : NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stn: no host memory to save");
    for (int i = 0; st == NST_OK && i < NST_STN_N_TENSORS; i++)
        if ((st = nst_stn_get(s, nst__stn_names[i], NST_STN_WEIGHT, host)) == NST_OK)
            st = nst_st_writer_add(s->ctx, w, nst__stn_names[i], NST_ST_F32, s->ndim[i], s->dims[i], host);
    char channels[16];
    snprintf(channels, sizeof channels, "%d", s->C);
    if (st == NST_OK)
        st = nst_st_writer_metadata(s->ctx, w, "format", "nstyle-stn");
    if (st == NST_OK)
        st = nst_st_writer_metadata(s->ctx, w, "channels", channels);
    if (st == NST_OK)
        st = nst_st_writer_save(s->ctx, w, path);
    nst_st_writer_destroy(w);
    free(host);
    return st;
}

