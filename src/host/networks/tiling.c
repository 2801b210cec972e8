/* Tiles with whole-image instance-norm statistics (tiling.h). Tested through TransformerNet by
 * tests/test_transformer_tiled.c (tiled output against the untiled one, seams, plans). */
#include "tiling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int round_up(int v, int a) { return (v + a - 1) / a * a; }

/* The window's side along an axis of n pixels. */
static int window_side(int n, int tile, int halo, int align) {
    if (tile >= n)
        return n;
    int win = tile + 2 * halo;
    if (win >= n)
        return n;
    while (win % align != n % align)
        win++;
    return win < n ? win : n;
}

void nst__tiling_make(nst__tiling *t, int w, int h, int tile, int halo, int align) {
    tile = round_up(tile < align ? align : tile, align);
    halo = round_up(halo, align);
    *t = (nst__tiling){.w = w, .h = h, .tile = tile, .halo = halo, .align = align,
                       .nx = (w + tile - 1) / tile, .ny = (h + tile - 1) / tile};
    t->win_w = window_side(w, tile, halo, align);
    t->win_h = window_side(h, tile, halo, align);
}

nst__tile_span nst__tiling_span(const nst__tiling *t, int axis, int i) {
    const int n = axis ? t->h : t->w, win = axis ? t->win_h : t->win_w;
    nst__tile_span s = {.core0 = i * t->tile, .core1 = (i + 1) * t->tile};
    if (s.core1 >= n) {
        s.core1 = n;
        s.last = true;
    }
    /* n - win is a multiple of align (window_side), as is core0 - halo */
    s.win0 = s.core0 - t->halo;
    if (s.win0 > n - win)
        s.win0 = n - win;
    if (s.win0 < 0)
        s.win0 = 0;
    s.win1 = s.win0 + win;
    return s;
}

void nst__tile_core_at(const nst__tile_span *s, int scale, int extent, int *lo, int *hi) {
    *lo = (s->core0 - s->win0) / scale;
    *hi = s->last ? extent : (s->core1 - s->win0) / scale;
}

bool nst__chan_stats_init(nst__chan_stats *s, int c) {
    *s = (nst__chan_stats){.c = c};
    double *p = calloc((size_t)5 * c, sizeof *p);
    if (!p)
        return false;
    s->mean = p;
    s->m2 = p + c;
    s->k = p + 2 * c;
    s->sum = p + 3 * c;
    s->sq = p + 4 * c;
    return true;
}

void nst__chan_stats_free(nst__chan_stats *s) {
    free(s->mean);
    *s = (nst__chan_stats){0};
}

void nst__chan_stats_reset(nst__chan_stats *s) {
    memset(s->mean, 0, (size_t)5 * s->c * sizeof *s->mean);
    s->n = s->rn = 0;
}

void nst__chan_stats_add(nst__chan_stats *s, const float *x, size_t count) {
    const int c = s->c;
    if (count && s->rn == 0)
        for (int j = 0; j < c; j++)
            s->k[j] = x[j];
    for (size_t i = 0; i < count; i++)
        for (int j = 0; j < c; j++) {
            const double d = (double)x[i * c + j] - s->k[j];
            s->sum[j] += d;
            s->sq[j] += d * d;
        }
    s->rn += (double)count;
}

void nst__chan_stats_close(nst__chan_stats *s) {
    const double nb = s->rn, n = s->n + nb;
    if (nb == 0)
        return;
    for (int j = 0; j < s->c; j++) {
        const double mb = s->sum[j] / nb, m2b = fmax(0.0, s->sq[j] - s->sum[j] * mb);
        const double mean_b = s->k[j] + mb, delta = mean_b - s->mean[j];
        s->mean[j] += delta * nb / n;
        s->m2[j] += m2b + delta * delta * s->n * nb / n;
        s->sum[j] = s->sq[j] = 0;
    }
    s->n = n;
    s->rn = 0;
}

void nst__chan_stats_affine(const nst__chan_stats *s, const float *gamma, const float *beta,
                            float eps, float *scale, float *shift) {
    for (int j = 0; j < s->c; j++) {
        const double var = s->n > 0 ? s->m2[j] / s->n : 0.0;
        const double a = (gamma ? gamma[j] : 1.0) / sqrt(var + eps);
        scale[j] = (float)a;
        shift[j] = (float)((beta ? beta[j] : 0.0) - s->mean[j] * a);
    }
}
