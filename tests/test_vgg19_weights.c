/* VGG19's layer table and weight loading (src/host/networks/vgg19_weights.c):
 * - the table: names round-trip, unknown names refuse, torchvision indices, pools, channels;
 * - where the weights are found (argument, $NSTYLE_MODELS, ./models, ~/.cache/nstyle, file
 *   names in order) and the message when they are not;
 * - loading small files written here (F32, F16 and q8; refusals naming the tensor, the missing
 *   layer, the convention);
 * - the real weights: ../shared/data's F32 conv1_1..conv3_4 against the permutation done here,
 *   and models/fetch-vgg19.sh's q8 file in ~/.cache/nstyle against those exact weights (skipped,
 *   saying why, when either is absent).
 * The converters' output against PyTorch: tests/test_model_convert.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nstyle/safetensors.h"
#include "nstyle/vgg19.h"
#include "test_files.h"
#include "test_support.h"
#include "test_tensors.h"

/* ---- the table ----------------------------------------------------------------------------- */

Test(vgg19_table, names_round_trip) {
    cr_assert_eq(nst_vgg19_layer_count(), 16);
    for (int i = 0; i < nst_vgg19_layer_count(); i++) {
        const nst_vgg19_layer *L = nst_vgg19_layer_get(i);
        bool relu = true;
        cr_assert_eq(nst_vgg19_layer_find(L->name, &relu), i, "%s", L->name);
        cr_assert(!relu, "%s taken for a relu", L->name);
        cr_assert_eq(nst_vgg19_layer_find(L->relu_name, &relu), i, "%s", L->relu_name);
        cr_assert(relu, "%s not taken for a relu", L->relu_name);
        cr_assert_eq(nst_vgg19_layer_find(L->name, NULL), i);
        cr_assert_eq(strncmp(L->name, "conv", 4), 0);
        cr_assert_str_eq(L->name + 4, L->relu_name + 4);
    }
    cr_assert_null(nst_vgg19_layer_get(-1));
    cr_assert_null(nst_vgg19_layer_get(16));
}

Test(vgg19_table, unknown_names_refuse) {
    const char *bad[] = {"conv1_3", "relu6_1", "conv0_1", "pool1", "", "conv1_1 ", "Conv1_1",
                         "relu1", "features.0", "conv3_5", "relu5_5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bool relu = true;
        cr_assert_eq(nst_vgg19_layer_find(bad[i], &relu), -1, "'%s' accepted", bad[i]);
    }
    cr_assert_eq(nst_vgg19_layer_find(NULL, NULL), -1);
}

Test(vgg19_table, torchvision_indices_pools_and_channels) {
    const int index[16] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};
    const char *pooled[] = {"conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"};
    int pools = 0;
    for (int i = 0; i < 16; i++) {
        const nst_vgg19_layer *L = nst_vgg19_layer_get(i);
        cr_assert_eq(L->torchvision_index, index[i], "%s", L->name);
        /* torchvision's features: relu at N + 1, then the pool at N + 2 */
        if (L->pool_after) {
            cr_assert_str_eq(L->name, pooled[pools]);
            pools++;
            if (i < 15)
                cr_assert_eq(nst_vgg19_layer_get(i + 1)->torchvision_index, index[i] + 3);
        } else if (i < 15) {
            cr_assert_eq(nst_vgg19_layer_get(i + 1)->torchvision_index, index[i] + 2);
        }
        cr_assert_eq(L->cin, i ? nst_vgg19_layer_get(i - 1)->cout : 3, "%s", L->name);
        cr_assert_eq(L->cout, NST_VGG19_WIDTH << (L->name[4] - '1' < 3 ? L->name[4] - '1' : 3));
    }
    cr_assert_eq(pools, 5);
}

Test(vgg19_table, names_list) {
    size_t n = nst_vgg19_layer_names(NULL, 0);
    char *buf = malloc(n + 1);
    cr_assert_eq(nst_vgg19_layer_names(buf, n + 1), n);
    cr_assert_eq(strlen(buf), n);
    cr_assert_eq(strncmp(buf, "conv1_1 relu1_1 conv1_2 relu1_2 conv2_1", 39), 0, "%s", buf);
    cr_assert_str_eq(buf + n - 15, "conv5_4 relu5_4");
    for (int i = 0; i < 16; i++)
        cr_assert_not_null(strstr(buf, nst_vgg19_layer_get(i)->relu_name));
    char small[9];
    memset(small, 'x', sizeof small);
    cr_assert_eq(nst_vgg19_layer_names(small, 8), n);
    cr_assert_str_eq(small, "conv1_1");
    cr_assert_eq(small[8], 'x', "wrote past the size given");
    free(buf);
}

/* ---- finding the file ---------------------------------------------------------------------- */

static void touch(const char *dir, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nst_test_write_bytes(path, "x", 1);
}

/* A temporary folder with env/, home/.cache/nstyle/ and cwd/models/, the process moved into
 * cwd/ and $NSTYLE_MODELS and $HOME pointed at env/ and home/. */
typedef struct {
    char root[256], env[300], cache[300], models[300];
} search_dirs;

static void search_setup(search_dirs *d) {
    nst_test_tmpdir(d->root, sizeof d->root);
    char path[400];
    const char *sub[] = {"env", "home", "home/.cache", "home/.cache/nstyle", "cwd", "cwd/models"};
    for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
        snprintf(path, sizeof path, "%s/%s", d->root, sub[i]);
        cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
    }
    snprintf(d->env, sizeof d->env, "%s/env", d->root);
    snprintf(d->cache, sizeof d->cache, "%s/home/.cache/nstyle", d->root);
    snprintf(d->models, sizeof d->models, "%s/cwd/models", d->root);
    snprintf(path, sizeof path, "%s/cwd", d->root);
    cr_assert_eq(chdir(path), 0);
    setenv("NSTYLE_MODELS", d->env, 1);
    snprintf(path, sizeof path, "%s/home", d->root);
    setenv("HOME", path, 1);
}

static void expect_found(nst_ctx *ctx, const char *arg, const char *want_dir, const char *file) {
    char got[1024], want[1024];
    nst_status s = nst_vgg19_weights_find(ctx, arg, got, sizeof got);
    cr_assert_eq(s, NST_OK, "%s", nst_last_error(ctx));
    snprintf(want, sizeof want, "%s/%s", want_dir, file);
    cr_assert_str_eq(got, want);
}

#define Q8_FILE "vgg19-imagenet-caffe-q8.safetensors"
#define F32_FILE "vgg19.safetensors"

Test(vgg19_find, search_order) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    search_dirs d;
    search_setup(&d);
    touch(d.cache, F32_FILE);
    expect_found(ctx, NULL, d.cache, F32_FILE);
    touch(d.cache, Q8_FILE);
    expect_found(ctx, NULL, d.cache, Q8_FILE);
    touch(d.models, F32_FILE);
    expect_found(ctx, NULL, "./models", F32_FILE);
    touch(d.env, F32_FILE);
    expect_found(ctx, NULL, d.env, F32_FILE);
    touch(d.env, Q8_FILE);
    expect_found(ctx, NULL, d.env, Q8_FILE);
    /* an explicit file wins, whatever its name */
    touch(d.root, "mine.safetensors");
    expect_found(ctx, strcat(strcpy((char[400]){0}, d.root), "/mine.safetensors"), d.root,
                 "mine.safetensors");
    unsetenv("NSTYLE_MODELS");
    expect_found(ctx, NULL, "./models", F32_FILE);
    nst_ctx_destroy(ctx);
}

Test(vgg19_find, nothing_found_lists_every_place) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    search_dirs d;
    search_setup(&d);
    char got[1024] = "unchanged";
    nst_status s = nst_vgg19_weights_find(ctx, NULL, got, sizeof got);
    cr_assert_eq(s, NST_ERR_IO);
    cr_assert_str_eq(got, "");
    const char *msg = nst_last_error(ctx);
    char want[600];
    const char *dirs[] = {d.env, "models", d.cache};
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "%s/%s", dirs[i], Q8_FILE);
        cr_assert_not_null(strstr(msg, want), "'%s' lacks %s", msg, want);
        snprintf(want, sizeof want, "%s/%s", dirs[i], F32_FILE);
        cr_assert_not_null(strstr(msg, want), "'%s' lacks %s", msg, want);
    }
    cr_assert_not_null(strstr(msg, "models/fetch-vgg19.sh"), "%s", msg);
    unsetenv("NSTYLE_MODELS");
    unsetenv("HOME");
    cr_assert_eq(nst_vgg19_weights_find(ctx, NULL, got, sizeof got), NST_ERR_IO);
    cr_assert_not_null(strstr(nst_last_error(ctx), "$NSTYLE_MODELS is not set"));
    cr_assert_not_null(strstr(nst_last_error(ctx), "$HOME is not set"));
    nst_ctx_destroy(ctx);
}

Test(vgg19_find, bad_arguments) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    search_dirs d;
    search_setup(&d);
    char got[1024];
    nst_test_expect_status(ctx, nst_vgg19_weights_find(ctx, "no/such.safetensors", got, sizeof got),
                           NST_ERR_IO, "no/such.safetensors", "fetch-vgg19.sh");
    nst_test_expect_status(ctx, nst_vgg19_weights_find(ctx, d.root, got, sizeof got), NST_ERR_IO,
                           d.root, "no such readable file");
    touch(d.env, Q8_FILE);
    char tiny[8];
    nst_test_expect_status(ctx, nst_vgg19_weights_find(ctx, NULL, tiny, sizeof tiny),
                           NST_ERR_INVALID_ARG, "model path", "does not fit");
    cr_assert_eq(nst_vgg19_weights_find(ctx, NULL, NULL, 0), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}

/* ---- loading small files ------------------------------------------------------------------- */

/* Layer i of a width-1 net (Cout = 1, 2, 4 or 8): random weights as F32/F16 OIHW, or as q8
 * indices with a codebook; the bias F32. Values are multiples of 1/64 in [-2, 2), exact in F16. */
typedef enum { SYN_F32, SYN_F16, SYN_Q8 } syn_kind;

static void add_layer(nst_ctx *ctx, nst_st_writer *w, int i, syn_kind kind, uint64_t seed) {
    const nst_vgg19_layer *L = nst_vgg19_layer_get(i);
    int64_t cin = i ? L->cin / 64 : 3, cout = L->cout / 64, n = cout * cin * 9;
    nst_test_rng r = nst_test_rng_seed(seed + (uint64_t)i);
    char name[64];
    float *v = malloc((size_t)(n > 256 ? n : 256) * sizeof *v);
    uint16_t *h = malloc((size_t)n * sizeof *h);
    uint8_t *q = malloc((size_t)n);
    for (int64_t j = 0; j < (n > 256 ? n : 256); j++)
        v[j] = (float)((int)(nst_test_rng_next(&r) % 256) - 128) / 64.0f;
    const int64_t oihw[4] = {cout, cin, 3, 3};
    if (kind == SYN_Q8) {
        for (int64_t j = 0; j < n; j++)
            q[j] = (uint8_t)(nst_test_rng_next(&r) >> 56);
        snprintf(name, sizeof name, "features.%d.weight_q8", L->torchvision_index);
        cr_assert_eq(nst_st_writer_add(ctx, w, name, NST_ST_U8, 4, oihw, q), NST_OK);
        snprintf(name, sizeof name, "features.%d.weight_codebook", L->torchvision_index);
        cr_assert_eq(nst_st_writer_add(ctx, w, name, NST_ST_F32, 1, (int64_t[]){256}, v), NST_OK);
    } else {
        for (int64_t j = 0; j < n; j++)
            h[j] = nst_f32_to_f16(v[j]);
        snprintf(name, sizeof name, "features.%d.weight", L->torchvision_index);
        cr_assert_eq(nst_st_writer_add(ctx, w, name, kind == SYN_F16 ? NST_ST_F16 : NST_ST_F32, 4,
                                       oihw, kind == SYN_F16 ? (void *)h : (void *)v),
                     NST_OK);
    }
    snprintf(name, sizeof name, "features.%d.bias", L->torchvision_index);
    cr_assert_eq(nst_st_writer_add(ctx, w, name, NST_ST_F32, 1, (int64_t[]){cout}, v + 1), NST_OK);
    free(v);
    free(h);
    free(q);
}

/* A width-1 file of layers [0, n) except `skip` (-1: none), all of one kind. */
static void write_net(nst_ctx *ctx, const char *path, int n, int skip, syn_kind kind,
                      const char *input) {
    nst_st_writer *w = nst_st_writer_create();
    if (input)
        cr_assert_eq(nst_st_writer_metadata(ctx, w, "input", input), NST_OK);
    for (int i = 0; i < n; i++)
        if (i != skip)
            add_layer(ctx, w, i, kind, 77);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
}

static void tmp_file(char *path, size_t size, const char *name) {
    char dir[256];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, size, "%s/%s", dir, name);
}

static void expect_zeroed(const nst_vgg19_weights *w) {
    cr_assert_eq(w->n_layers, 0);
    for (int i = 0; i < NST_VGG19_CONV_COUNT; i++)
        cr_assert(w->w[i] == NULL && w->b[i] == NULL);
}

/* Every loaded layer against the file's tensors read here: dequantised when q8, permuted from
 * (Cout, Cin, 3, 3) to (Cout, 3, 3, Cin); exact. Returns max |w - ref| over layers [0, n) when
 * ref_path names another file with F32/F16 weights of the same shapes, else 0. */
static double check_layers(nst_ctx *ctx, const nst_vgg19_weights *got, const char *path,
                           const char *ref_path, int n, double *per_layer) {
    nst_st_file *f = nst_test_st_open(ctx, ref_path ? ref_path : path);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const nst_vgg19_layer *L = nst_vgg19_layer_get(i);
        int cin = got->cin[i], cout = got->cout[i];
        char name[64];
        snprintf(name, sizeof name, "features.%d.weight_q8", L->torchvision_index);
        const nst_st_tensor *q = nst_st_find(f, name);
        float *ref = NULL; // (Cout, Cin, 3, 3)
        if (q) {
            snprintf(name, sizeof name, "features.%d.weight_codebook", L->torchvision_index);
            float *table = nst_test_load_f32(ctx, f, name, 1, (int64_t[]){256});
            ref = nst_test_alloc_f32(q->numel ? (size_t)q->numel : 1);
            for (int64_t j = 0; j < q->numel; j++)
                ref[j] = table[((const uint8_t *)q->data)[j]];
            free(table);
        } else {
            snprintf(name, sizeof name, "features.%d.weight", L->torchvision_index);
            ref = nst_test_load_f32(ctx, f, name, 4, (int64_t[]){cout, cin, 3, 3});
        }
        double layer_max = 0;
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
                for (int k = 0; k < 9; k++) {
                    float a = got->w[i][((size_t)o * 9 + (size_t)k) * (size_t)cin + (size_t)c];
                    float b = ref[((size_t)o * (size_t)cin + (size_t)c) * 9 + (size_t)k];
                    if (!ref_path)
                        cr_assert(a == b, "%s w[%d][%d][%d]: %g != %g", L->name, o, k, c, a, b);
                    layer_max = fmax(layer_max, fabs((double)a - (double)b));
                }
        snprintf(name, sizeof name, "features.%d.bias", L->torchvision_index);
        float *bias = nst_test_load_f32(ctx, f, name, 1, (int64_t[]){cout});
        cr_assert(memcmp(bias, got->b[i], (size_t)cout * sizeof *bias) == 0, "%s: bias differs",
                  L->name);
        if (per_layer)
            per_layer[i] = layer_max;
        worst = fmax(worst, layer_max);
        free(bias);
        free(ref);
    }
    nst_st_close(f);
    return worst;
}

Test(vgg19_load, every_kind_loads_exactly) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    const syn_kind kinds[] = {SYN_F32, SYN_F16, SYN_Q8};
    const char *inputs[] = {"rgb-0-1-imagenet-norm", "rgb-0-255", "bgr-0-255-minus-mean"};
    const nst_input_convention conv[] = {NST_INPUT_RGB_0_1_IMAGENET_NORM, NST_INPUT_RGB_0_255,
                                         NST_INPUT_BGR_0_255_MINUS_MEAN};
    for (int k = 0; k < 3; k++) {
        char path[512];
        tmp_file(path, sizeof path, "net.safetensors");
        write_net(ctx, path, 16, -1, kinds[k], inputs[k]);
        nst_vgg19_weights w;
        cr_assert_eq(nst_vgg19_weights_load(ctx, path, 16, &w), NST_OK, "%s", nst_last_error(ctx));
        cr_assert_eq(w.n_layers, 16);
        cr_assert_eq(w.width, 1);
        cr_assert_eq(w.convention, conv[k]);
        cr_assert_eq(w.cin[0], 3);
        cr_assert_eq(w.cout[15], 8);
        check_layers(ctx, &w, path, NULL, 16, NULL);
        nst_vgg19_weights_free(&w);
        expect_zeroed(&w);
    }
    nst_ctx_destroy(ctx);
}

Test(vgg19_load, leading_layers_and_the_missing_one) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char path[512];
    tmp_file(path, sizeof path, "partial.safetensors");
    write_net(ctx, path, 8, -1, SYN_F32, "bgr-0-255-minus-mean");
    nst_vgg19_weights w;
    cr_assert_eq(nst_vgg19_weights_load(ctx, path, 8, &w), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(w.n_layers, 8);
    cr_assert_null(w.w[8]);
    nst_vgg19_weights_free(&w);
    nst_test_expect_status(ctx, nst_vgg19_weights_load(ctx, path, 10, &w), NST_ERR_FORMAT, path,
                           "up to conv3_4 only: conv4_1 (features.19.weight");
    cr_assert_not_null(strstr(nst_last_error(ctx), "up to conv4_2 are needed"));
    expect_zeroed(&w);
    nst_ctx_destroy(ctx);
}

/* Writes a net through write_net, then expects loading it to fail with want and needle. */
static void expect_refused(nst_ctx *ctx, int n, int skip, syn_kind kind, const char *input,
                           nst_status want, const char *needle) {
    char path[512];
    tmp_file(path, sizeof path, "bad.safetensors");
    write_net(ctx, path, n, skip, kind, input);
    nst_vgg19_weights w;
    nst_test_expect_status(ctx, nst_vgg19_weights_load(ctx, path, 1, &w), want, path, needle);
    expect_zeroed(&w);
}

Test(vgg19_load, refusals) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    expect_refused(ctx, 4, -1, SYN_F32, NULL, NST_ERR_FORMAT, "no __metadata__ \"input\"");
    expect_refused(ctx, 4, -1, SYN_F32, "rgb-0-1", NST_ERR_FORMAT,
                   "unknown input convention 'rgb-0-1'");
    expect_refused(ctx, 6, 2, SYN_Q8, "rgb-0-255", NST_ERR_FORMAT,
                   "holds conv2_2 (features.7) but not conv2_1 (features.5)");
    expect_refused(ctx, 0, -1, SYN_F32, "rgb-0-255", NST_ERR_FORMAT,
                   "conv1_1 (features.0.weight or features.0.weight_q8) is missing");
    nst_vgg19_weights w;
    nst_test_expect_status(ctx, nst_vgg19_weights_load(ctx, "none.safetensors", 1, &w), NST_ERR_IO,
                           "none.safetensors", "cannot open");
    cr_assert_eq(nst_vgg19_weights_load(ctx, NULL, 1, &w), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_vgg19_weights_load(ctx, "x", 17, &w), NST_ERR_INVALID_ARG);
    nst_ctx_destroy(ctx);
}

Test(vgg19_load, u8_tensors_read_as_plain_values) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char path[512];
    tmp_file(path, sizeof path, "u8.safetensors");
    const uint8_t v[5] = {0, 1, 127, 128, 255};
    nst_st_writer *w = nst_st_writer_create();
    cr_assert_eq(nst_st_writer_add(ctx, w, "q", NST_ST_U8, 1, (int64_t[]){5}, v), NST_OK);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK);
    nst_st_writer_destroy(w);
    nst_st_file *f = nst_test_st_open(ctx, path);
    const nst_st_tensor *t = nst_st_find(f, "q");
    cr_assert(t && t->dtype == NST_ST_U8 && t->bytes == 5);
    cr_assert_str_eq(nst_st_dtype_name(NST_ST_U8), "U8");
    cr_assert_eq(nst_st_dtype_size(NST_ST_U8), 1);
    float got[5];
    double got64[5];
    nst_st_to_f32(t, got);
    nst_st_to_f64(t, got64);
    for (int i = 0; i < 5; i++)
        cr_assert(got[i] == (float)v[i] && got64[i] == (double)v[i], "element %d", i);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* conv1_2's tensors in a bad file: up to three, all zeros (ndim 0 ends the list). */
typedef struct {
    const char *name;
    nst_st_dtype dtype;
    int ndim;
    int64_t shape[4];
} bad_tensor;

typedef struct {
    bad_tensor t[3];
    bool add_q8_layer; /* also a whole q8 conv1_2 */
    nst_status want;
    const char *needle;
} bad_case;

#define W_F32 {"features.2.weight", NST_ST_F32, 4, {1, 1, 3, 3}}
#define BIAS {"features.2.bias", NST_ST_F32, 1, {1}}

static const bad_case bad_cases[] = {
    {{{"features.2.weight", NST_ST_F64, 4, {1, 1, 3, 3}}, BIAS}, false, NST_ERR_FORMAT,
     "'features.2.weight' is F64, expected F32, F16 or BF16"},
    {{{"features.2.weight", NST_ST_F32, 4, {1, 3, 3, 3}}, BIAS}, false, NST_ERR_SHAPE,
     "'features.2.weight' has shape [1, 3, 3, 3], expected [1, 1, 3, 3]"},
    {{W_F32}, false, NST_ERR_FORMAT, "no tensor 'features.2.bias'"},
    {{W_F32}, true, NST_ERR_FORMAT,
     "conv1_2 has both features.2.weight and features.2.weight_q8"},
    {{{"features.2.weight_q8", NST_ST_U8, 4, {1, 1, 3, 3}},
      {"features.2.weight_codebook", NST_ST_F32, 1, {255}}, BIAS},
     false, NST_ERR_SHAPE, "'features.2.weight_codebook' has shape [255], expected [256]"},
    {{{"features.2.weight_q8", NST_ST_F32, 4, {1, 1, 3, 3}}, BIAS}, false, NST_ERR_FORMAT,
     "'features.2.weight_q8' is F32, expected U8"},
};

static const double zeros[256]; /* more than any bad tensor needs (a 255-float codebook) */

Test(vgg19_load, bad_tensors_are_named) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (size_t k = 0; k < sizeof bad_cases / sizeof *bad_cases; k++) {
        const bad_case *c = &bad_cases[k];
        char path[512];
        tmp_file(path, sizeof path, "bad.safetensors");
        nst_st_writer *w = nst_st_writer_create();
        cr_assert_eq(nst_st_writer_metadata(ctx, w, "input", "rgb-0-255"), NST_OK);
        add_layer(ctx, w, 0, SYN_F32, 5);
        for (int j = 0; j < 3 && c->t[j].ndim; j++)
            cr_assert_eq(nst_st_writer_add(ctx, w, c->t[j].name, c->t[j].dtype, c->t[j].ndim,
                                           c->t[j].shape, zeros),
                         NST_OK);
        if (c->add_q8_layer)
            add_layer(ctx, w, 1, SYN_Q8, 9);
        cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK);
        nst_st_writer_destroy(w);
        nst_vgg19_weights out;
        nst_test_expect_status(ctx, nst_vgg19_weights_load(ctx, path, 2, &out), c->want, path,
                               c->needle);
        expect_zeroed(&out);
    }
    nst_ctx_destroy(ctx);
}

/* ---- the real weights ---------------------------------------------------------------------- */

#define SHARED_VGG "models/vgg19-partial/vgg19_conv1_to_conv3.safetensors"

/* Loads real Caffe VGG19 weights holding n convs, with the table's shapes. */
static void load_real(nst_ctx *ctx, const char *path, int n, nst_vgg19_weights *w) {
    cr_assert_eq(nst_vgg19_weights_load(ctx, path, n, w), NST_OK, "%s", nst_last_error(ctx));
    cr_assert_eq(w->n_layers, n);
    cr_assert_eq(w->width, 64);
    cr_assert_eq(w->convention, NST_INPUT_BGR_0_255_MINUS_MEAN);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(w->cin[i], nst_vgg19_layer_get(i)->cin);
        cr_assert_eq(w->cout[i], nst_vgg19_layer_get(i)->cout);
    }
}

Test(vgg19_real, shared_partial_layout) {
    char path[1024];
    if (!nst_test_shared_path(SHARED_VGG, path, sizeof path) || access(path, R_OK) != 0)
        cr_skip_test("../shared/data/" SHARED_VGG " is absent: no real weights to check");
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_vgg19_weights w;
    load_real(ctx, path, 8, &w);
    check_layers(ctx, &w, path, NULL, 8, NULL);
    nst_vgg19_weights_free(&w);
    nst_test_expect_status(ctx, nst_vgg19_weights_load(ctx, path, 10, &w), NST_ERR_FORMAT, path,
                           "conv4_1 (features.19.weight");
    nst_ctx_destroy(ctx);
}

Test(vgg19_real, fetched_q8_against_exact_weights) {
    char exact[1024], q8[1024];
    const char *home = getenv("HOME");
    snprintf(q8, sizeof q8, "%s/.cache/nstyle/" Q8_FILE, home ? home : "");
    if (!nst_test_shared_path(SHARED_VGG, exact, sizeof exact) || access(exact, R_OK) != 0)
        cr_skip_test("../shared/data/" SHARED_VGG " is absent: nothing exact to compare with");
    if (!home || access(q8, R_OK) != 0)
        cr_skip_test("%s is absent: run models/fetch-vgg19.sh to fetch it", q8);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_vgg19_weights w;
    load_real(ctx, q8, 16, &w);
    double per_layer[8];
    double worst = check_layers(ctx, &w, q8, exact, 8, per_layer);
    for (int i = 0; i < 8; i++)
        fprintf(stderr, "%s: max |q8 - exact| = %.6f\n", nst_vgg19_layer_get(i)->name,
                per_layer[i]);
    cr_expect_leq(worst, 0.006, "dequantised weights differ by up to %g", worst);
    nst_vgg19_weights_free(&w);
    nst_ctx_destroy(ctx);
}
