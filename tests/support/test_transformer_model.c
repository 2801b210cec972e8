/* Synthetic TransformerNet files and a naive double-precision forward over them
 * (test_transformer_model.h). The reference works image by image on (H, W, C) arrays with
 * plain loops: reflection pad, cross-correlation with OIHW weights, instance norm with the
 * biased variance, ReLU, nearest x2 upsampling, the residual add. */
#include "test_transformer_model.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/nstyle.h"
#include "nstyle/safetensors.h"
#include "test_support.h"
#include "test_tensors.h"

typedef struct {
    const char *name;
    int cin, cout, k, stride, up;
    const char *norm; /* NULL for deconv3 */
} layer;

/* The whole net in state_dict order (each residual block is conv1 in1 conv2 in2). */
static const layer layers[16] = {
    {"conv1", 3, 32, 9, 1, 0, "in1"},           {"conv2", 32, 64, 3, 2, 0, "in2"},
    {"conv3", 64, 128, 3, 2, 0, "in3"},         {"res1.conv1", 128, 128, 3, 1, 0, "res1.in1"},
    {"res1.conv2", 128, 128, 3, 1, 0, "res1.in2"}, {"res2.conv1", 128, 128, 3, 1, 0, "res2.in1"},
    {"res2.conv2", 128, 128, 3, 1, 0, "res2.in2"}, {"res3.conv1", 128, 128, 3, 1, 0, "res3.in1"},
    {"res3.conv2", 128, 128, 3, 1, 0, "res3.in2"}, {"res4.conv1", 128, 128, 3, 1, 0, "res4.in1"},
    {"res4.conv2", 128, 128, 3, 1, 0, "res4.in2"}, {"res5.conv1", 128, 128, 3, 1, 0, "res5.in1"},
    {"res5.conv2", 128, 128, 3, 1, 0, "res5.in2"}, {"deconv1", 128, 64, 3, 1, 1, "in4"},
    {"deconv2", 64, 32, 3, 1, 1, "in5"},        {"deconv3", 32, 3, 9, 1, 0, NULL},
};

static void add_tensor(nst_ctx *ctx, nst_st_writer *w, const nst_test_tn_options *o,
                       const char *name, int ndim, int64_t *dims, const float *v, bool f16) {
    if (o->drop && strcmp(o->drop, name) == 0)
        return;
    if (o->reshape && strcmp(o->reshape, name) == 0)
        dims[0] /= 2;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    nst_status s;
    if (f16) {
        uint16_t *h = malloc((size_t)n * sizeof *h);
        for (int64_t i = 0; i < n; i++)
            h[i] = nst_f32_to_f16(v[i]);
        s = nst_st_writer_add(ctx, w, name, NST_ST_F16, ndim, dims, h);
        free(h);
    } else {
        s = nst_st_writer_add(ctx, w, name, NST_ST_F32, ndim, dims, v);
    }
    cr_assert_eq(s, NST_OK, "%s", nst_last_error(ctx));
}

void nst_test_tn_write(const char *path, uint64_t seed, const nst_test_tn_options *opt) {
    static const nst_test_tn_options none = {0};
    const nst_test_tn_options *o = opt ? opt : &none;
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_writer *w = nst_st_writer_create();
    nst_test_rng r = nst_test_rng_seed(seed);
    char name[64];
    for (int i = 0; i < 16; i++) {
        const layer *L = &layers[i];
        const int64_t nw = (int64_t)L->cout * L->cin * L->k * L->k;
        const float a = 1.0f / sqrtf((float)(L->cin * L->k * L->k));
        float *v = nst_test_random_f32(&r, (size_t)nw, -a, a);
        float *b = nst_test_random_f32(&r, (size_t)L->cout, -0.1f, 0.1f);
        if (!L->norm) /* the output layer: centred in the 0-255 range, a wide spread */
            for (int64_t j = 0; j < L->cout; j++) {
                b[j] = 128.0f + 10.0f * b[j];
                for (int64_t q = 0; q < nw / L->cout; q++)
                    v[j * (nw / L->cout) + q] *= 60.0f;
            }
        snprintf(name, sizeof name, "%s.conv2d.weight", L->name);
        add_tensor(ctx, w, o, name, 4, (int64_t[]){L->cout, L->cin, L->k, L->k}, v, o->f16_convs);
        snprintf(name, sizeof name, "%s.conv2d.bias", L->name);
        add_tensor(ctx, w, o, name, 1, (int64_t[]){L->cout}, b, false);
        free(v);
        free(b);
        if (!L->norm)
            continue;
        float *g = nst_test_random_f32(&r, (size_t)L->cout, 0.5f, 1.5f);
        float *be = nst_test_random_f32(&r, (size_t)L->cout, -0.3f, 0.3f);
        snprintf(name, sizeof name, "%s.weight", L->norm);
        add_tensor(ctx, w, o, name, 1, (int64_t[]){L->cout}, g, false);
        snprintf(name, sizeof name, "%s.bias", L->norm);
        add_tensor(ctx, w, o, name, 1, (int64_t[]){L->cout}, be, false);
        free(g);
        free(be);
    }
    if (o->extra)
        add_tensor(ctx, w, o, o->extra, 1, (int64_t[]){4}, (const float[]){1, 2, 3, 4}, false);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "input", o->input ? o->input : "rgb-0-255"), NST_OK);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "style", "synthetic"), NST_OK);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    nst_ctx_destroy(ctx);
}

/* ---- the naive forward ---------------------------------------------------------------------- */

typedef struct {
    double *v;
    int h, w, c;
} map;

static map map_new(int h, int w, int c) {
    map m = {nst_test_alloc_f64((size_t)h * w * c), h, w, c};
    return m;
}

static double *at(const map *m, int y, int x) { return m->v + ((size_t)y * m->w + x) * m->c; }

static int reflect(int i, int n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; }

static double *weights(nst_ctx *ctx, const nst_st_file *f, const char *fmt,
                       const char *layer_name) {
    char name[64];
    snprintf(name, sizeof name, fmt, layer_name);
    const nst_st_tensor *t = nst_st_find(f, name);
    cr_assert_not_null(t, "reference: no tensor %s", name);
    (void)ctx;
    double *v = nst_test_alloc_f64((size_t)t->numel);
    nst_st_to_f64(t, v);
    return v;
}

/* conv(reflect_pad(x)) with OIHW weights, after an x2 upsample when L->up. Frees x. */
static map conv_layer(nst_ctx *ctx, const nst_st_file *f, const layer *L, map x) {
    if (L->up) {
        map u = map_new(2 * x.h, 2 * x.w, x.c);
        for (int y = 0; y < u.h; y++)
            for (int q = 0; q < u.w; q++)
                memcpy(at(&u, y, q), at(&x, y / 2, q / 2), (size_t)x.c * sizeof(double));
        free(x.v);
        x = u;
    }
    const int p = L->k / 2, s = L->stride;
    const int ho = (x.h + 2 * p - L->k) / s + 1, wo = (x.w + 2 * p - L->k) / s + 1;
    double *w = weights(ctx, f, "%s.conv2d.weight", L->name); // (Cout, Cin, K, K)
    double *b = weights(ctx, f, "%s.conv2d.bias", L->name);   // (Cout)
    map y = map_new(ho, wo, L->cout);
    for (int i = 0; i < ho; i++)
        for (int j = 0; j < wo; j++)
            for (int o = 0; o < L->cout; o++) {
                double acc = b[o];
                for (int ky = 0; ky < L->k; ky++)
                    for (int kx = 0; kx < L->k; kx++) {
                        const double *px = at(&x, reflect(i * s + ky - p, x.h),
                                              reflect(j * s + kx - p, x.w));
                        const double *wk = w + ((size_t)o * L->cin * L->k + ky) * L->k + kx;
                        for (int c = 0; c < L->cin; c++)
                            acc += px[c] * wk[(size_t)c * L->k * L->k];
                    }
                at(&y, i, j)[o] = acc;
            }
    free(w);
    free(b);
    free(x.v);
    return y;
}

static void norm(nst_ctx *ctx, const nst_st_file *f, const char *name, map *x, bool relu) {
    double *g = weights(ctx, f, "%s.weight", name), *b = weights(ctx, f, "%s.bias", name);
    const size_t m = (size_t)x->h * x->w;
    for (int c = 0; c < x->c; c++) {
        double mean = 0, var = 0;
        for (size_t q = 0; q < m; q++)
            mean += x->v[q * x->c + c];
        mean /= (double)m;
        for (size_t q = 0; q < m; q++)
            var += (x->v[q * x->c + c] - mean) * (x->v[q * x->c + c] - mean);
        const double rstd = 1.0 / sqrt(var / (double)m + 1e-5);
        for (size_t q = 0; q < m; q++) {
            double *v = &x->v[q * x->c + c];
            *v = (*v - mean) * rstd * g[c] + b[c];
            if (relu && *v < 0)
                *v = 0;
        }
    }
    free(g);
    free(b);
}

void nst_test_tn_reference(const char *path, const double *in, int n, int w, int h, double *out) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_st_open(ctx, path);
    for (int img = 0; img < n; img++) {
        map x = map_new(h, w, 3), block_in = {0};
        memcpy(x.v, in + (size_t)img * h * w * 3, (size_t)h * w * 3 * sizeof(double));
        for (int i = 0; i < 16; i++) {
            const layer *L = &layers[i];
            const bool res2 = strstr(L->name, ".conv2") != NULL;
            if (strstr(L->name, ".conv1")) { /* keep the block's input for the add */
                block_in = map_new(x.h, x.w, x.c);
                memcpy(block_in.v, x.v, (size_t)x.h * x.w * x.c * sizeof(double));
            }
            x = conv_layer(ctx, f, L, x);
            if (L->norm)
                norm(ctx, f, L->norm, &x, !res2);
            if (res2) { /* y + in2(conv2(...)), no ReLU after the add */
                for (size_t q = 0; q < (size_t)x.h * x.w * x.c; q++)
                    x.v[q] += block_in.v[q];
                free(block_in.v);
                block_in.v = NULL;
            }
        }
        for (int y = 0; y < h; y++) /* crop the padding to a multiple of 4 */
            memcpy(out + (((size_t)img * h + y) * w) * 3, at(&x, y, 0),
                   (size_t)w * 3 * sizeof(double));
        free(x.v);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* ---- temporal smoothing measures ------------------------------------------------------------- */

/* y (h, w, 3) = smoothed stylised frame, as 8 bits in out. */
static void stylize_smoothed(nst_stylizer *s, nst_smoother *sm, const uint8_t *frame, int w,
                             int h, float *y, uint8_t *out) {
    const size_t n = (size_t)w * h * 3;
    for (size_t i = 0; i < n; i++)
        y[i] = frame[i];
    cr_assert_eq(nst_stylize_float(s, y, 1, w, h, y), NST_OK);
    if (sm)
        cr_assert_eq(nst_smoother_apply(sm, frame, w, h, y), NST_OK);
    nst_stylize_to_u8(y, n, out);
}

static double mean_abs_u8(const uint8_t *a, const uint8_t *b, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += abs((int)a[i] - (int)b[i]);
    return sum / (double)n;
}

double nst_test_flicker(nst_stylizer *s, const uint8_t *scene, int w, int h, int n, int noise,
                        float alpha) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_smoother *sm = NULL;
    cr_assert_eq(nst_smoother_create(ctx, alpha, NST_SMOOTH_THRESHOLD, &sm), NST_OK);
    const size_t count = (size_t)w * h * 3;
    uint8_t *frame = malloc(count), *out = malloc(count), *prev = malloc(count);
    float *y = nst_test_alloc_f32(count);
    nst_test_rng r = nst_test_rng_seed(42);
    double sum = 0;
    for (int t = 0; t < n; t++) {
        for (size_t i = 0; i < count; i++) {
            const int v = scene[i] + (int)floor(nst_test_rng_uniform(&r, -noise, noise + 1));
            frame[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        stylize_smoothed(s, sm, frame, w, h, y, out);
        if (t > 0)
            sum += mean_abs_u8(out, prev, count);
        memcpy(prev, out, count);
    }
    free(frame), free(out), free(prev), free(y);
    nst_smoother_destroy(sm);
    nst_ctx_destroy(ctx);
    return sum / (n - 1);
}

double nst_test_ghost(nst_stylizer *s, const uint8_t *src, int w, int h, int shift, float alpha,
                      double *moved) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_smoother *sm = NULL;
    cr_assert_eq(nst_smoother_create(ctx, alpha, NST_SMOOTH_THRESHOLD, &sm), NST_OK);
    const size_t count = (size_t)w * h * 3;
    uint8_t *f0 = malloc(count), *f1 = malloc(count), *y0 = malloc(count), *y1 = malloc(count);
    uint8_t *sm1 = malloc(count);
    float *y = nst_test_alloc_f32(count);
    for (int r = 0; r < h; r++) { /* frame 0 sees columns shift.., frame 1 columns 0.. */
        memcpy(f0 + (size_t)r * w * 3, src + ((size_t)r * (w + shift) + shift) * 3, (size_t)w * 3);
        memcpy(f1 + (size_t)r * w * 3, src + (size_t)r * (w + shift) * 3, (size_t)w * 3);
    }
    stylize_smoothed(s, NULL, f0, w, h, y, y0);
    stylize_smoothed(s, NULL, f1, w, h, y, y1);
    stylize_smoothed(s, sm, f0, w, h, y, sm1);
    stylize_smoothed(s, sm, f1, w, h, y, sm1);
    *moved = mean_abs_u8(y0, y1, count);
    const double ghost = mean_abs_u8(sm1, y1, count);
    free(f0), free(f1), free(y0), free(y1), free(sm1), free(y);
    nst_smoother_destroy(sm);
    nst_ctx_destroy(ctx);
    return ghost;
}
