/* Temporal smoothing of stylised video frames (include/nstyle/stylize.h):
 *     d_t(p)   = max over the 3x3 neighbourhood of p and the colour channels of
 *                |frame_t - frame_{t-1}|                                  (0-255 scale)
 *     w_t(p)   = alpha * max(0, 1 - d_t(p) / threshold)
 *     out_t(p) = w_t(p) * out_{t-1}(p) + (1 - w_t(p)) * y_t(p),   out_0 = y_0
 * The neighbourhood makes an edge that moves by a pixel count as changed on both sides. The
 * previous output is kept in float, so repeated blending does not drift by rounding. Host code
 * only: it runs on the pixels the stylizer returns.
 * Tested by tests/test_transformer_smooth.c (the formula on hand-made values; less flicker on a
 * static scene with per-frame noise; a translated frame matches its per-frame output) and, with
 * the real models, tests/test_transformer_golden.c. */
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "nstyle/stylize.h"

struct nst_smoother {
    nst_ctx *ctx;
    float alpha, threshold;
    int w, h;
    bool have_prev;
    uint8_t *prev_frame; /* (h, w, 3) */
    float *prev_out;     /* (h, w, 3) */
    uint8_t *diff, *tmp; /* (h, w) */
};

nst_status nst_smoother_create(nst_ctx *ctx, float alpha, float threshold, nst_smoother **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_smoother_create: NULL output pointer");
    *out = NULL;
    if (!(alpha >= 0.0f && alpha < 1.0f) || !(threshold > 0.0f))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "temporal smoothing: alpha must be in [0, 1) "
                        "and the threshold above 0 (got %g and %g)", alpha, threshold);
    nst_smoother *sm = calloc(1, sizeof *sm);
    if (!sm)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "temporal smoothing: no host memory");
    sm->ctx = ctx;
    sm->alpha = alpha;
    sm->threshold = threshold;
    *out = sm;
    return NST_OK;
}

static void release_buffers(nst_smoother *sm) {
    free(sm->prev_frame);
    free(sm->prev_out);
    free(sm->diff);
    free(sm->tmp);
    sm->prev_frame = sm->diff = sm->tmp = NULL;
    sm->prev_out = NULL;
    sm->w = sm->h = 0;
}

void nst_smoother_destroy(nst_smoother *sm) {
    if (!sm)
        return;
    release_buffers(sm);
    free(sm);
}

void nst_smoother_reset(nst_smoother *sm) {
    if (sm)
        sm->have_prev = false;
}

static nst_status resize(nst_smoother *sm, int w, int h) {
    release_buffers(sm);
    const size_t px = (size_t)w * (size_t)h;
    sm->prev_frame = malloc(3 * px);
    sm->prev_out = malloc(3 * px * sizeof *sm->prev_out);
    sm->diff = malloc(px);
    sm->tmp = malloc(px);
    if (!sm->prev_frame || !sm->prev_out || !sm->diff || !sm->tmp) {
        release_buffers(sm);
        return NST__ERR(sm->ctx, NST_ERR_NO_MEMORY, "temporal smoothing: no host memory for a "
                        "%dx%d frame", w, h);
    }
    sm->w = w;
    sm->h = h;
    return NST_OK;
}

static inline uint8_t max3(uint8_t a, uint8_t b, uint8_t c) {
    const uint8_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* diff (h, w) = the 3x3 maximum of the per-pixel channel maximum of |frame - prev|. */
static void change_map(nst_smoother *sm, const uint8_t *frame) {
    const int w = sm->w, h = sm->h;
    uint8_t *d = sm->diff, *t = sm->tmp;
    for (size_t p = 0; p < (size_t)w * h; p++) {
        uint8_t m = 0;
        for (int c = 0; c < 3; c++) {
            const int v = abs((int)frame[3 * p + c] - (int)sm->prev_frame[3 * p + c]);
            m = v > m ? (uint8_t)v : m;
        }
        d[p] = m;
    }
    for (int r = 0; r < h; r++) /* horizontal 3-max into t */
        for (int x = 0; x < w; x++) {
            const uint8_t *row = d + (size_t)r * w;
            t[(size_t)r * w + x] = max3(row[x > 0 ? x - 1 : x], row[x], row[x < w - 1 ? x + 1 : x]);
        }
    for (int r = 0; r < h; r++) /* vertical 3-max back into d */
        for (int x = 0; x < w; x++) {
            const size_t up = (size_t)(r > 0 ? r - 1 : r) * w, dn = (size_t)(r < h - 1 ? r + 1 : r) * w;
            d[(size_t)r * w + x] = max3(t[up + x], t[(size_t)r * w + x], t[dn + x]);
        }
}

nst_status nst_smoother_apply(nst_smoother *sm, const uint8_t *frame, int w, int h, float *y) {
    if (!sm || !frame || !y || w < 1 || h < 1)
        return sm ? NST__ERR(sm->ctx, NST_ERR_INVALID_ARG, "temporal smoothing: bad frame")
                  : NST_ERR_INVALID_ARG;
    const size_t n = (size_t)w * (size_t)h * 3;
    for (size_t i = 0; i < n; i++) /* clamp; NaN -> 0 */
        y[i] = y[i] >= 255.0f ? 255.0f : y[i] > 0.0f ? y[i] : 0.0f;
    if (w != sm->w || h != sm->h) {
        NST__TRY(resize(sm, w, h));
        sm->have_prev = false;
    }
    if (sm->have_prev && sm->alpha > 0.0f) {
        change_map(sm, frame);
        const float inv = 1.0f / sm->threshold;
        for (size_t p = 0; p < (size_t)w * h; p++) {
            const float still = 1.0f - (float)sm->diff[p] * inv;
            const float wt = still > 0.0f ? sm->alpha * still : 0.0f;
            for (int c = 0; c < 3; c++) {
                float *v = &y[3 * p + c];
                *v = wt * sm->prev_out[3 * p + c] + (1.0f - wt) * *v;
            }
        }
    }
    memcpy(sm->prev_frame, frame, n);
    memcpy(sm->prev_out, y, n * sizeof *y);
    sm->have_prev = true;
    return NST_OK;
}
