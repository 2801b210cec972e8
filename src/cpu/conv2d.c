/* CPU conv2d: forward (bias and ReLU fused), backward-data and backward-filter (with the bias
 * gradient), the reference for every other backend.
 *
 * Semantics: PyTorch F.conv2d (cross-correlation, zero padding, the same stride and pad on both
 * axes, no dilation or groups) on NHWC tensors with weights (Cout, KH, KW, Cin).
 *   forward          y  = [relu](conv(x, w) + b)
 *   backward_data    dx = conv_transpose(dy, w)                 (dx is always overwritten)
 *   backward_filter  dw = sum_p dy(p) patch(p)^T, db = sum_p dy(p)   (+= when accumulate)
 *
 * Method, by a fixed rule (never timed at run time; bench/results/cpu_conv_direct.md has the
 * layer-by-layer figures behind it), on a CPU with AVX2 + FMA or AVX-512:
 *  - forward with Cout a multiple of 32 (not pointwise): src/cpu/conv2d_wide.c, straight from x;
 *  - forward with Cout <= 4 and patches of 64+ floats: src/cpu/conv2d_direct.c, the same;
 *  - backward-data of a stride-1 conv with a square kernel whose Cin fits either of those: the
 *    same kernels run the transposed conv (dy with flipped weights);
 *  - everything else, and every conv on other CPUs: im2col + OpenBLAS sgemm, as follows.
 * An output pixel's patch (KH, KW, Cin) is contiguous in NHWC, so with K = KH*KW*Cin the
 * convolution is y(P, Cout) = cols(P, K) * W(Cout, K)^T. Backward-data
 * is dcols = dy(P, Cout) * W(Cout, K) followed by col2im (a scatter-add on one thread, a gather
 * over input pixels on several); backward-filter is dW(Cout, K) += dy^T(Cout, P) * cols.
 *
 * Output pixels (the flattened (N, Ho, Wo) index) are cut into tiles, run in one of two ways:
 *  - enough pixels for every thread to get several tiles of at least NST__CONV_MIN_TILE pixels
 *    (one thread: always): each thread takes whole tiles, with a column buffer of at most
 *    nst__conv_tile_bytes() (a core's L2) that stays cached between im2col and a
 *    single-threaded sgemm.
 *    Backward-filter sums per-thread partial dW; backward-data runs the tiles in phases so
 *    tiles whose input footprints overlap never run at the same time.
 *  - few pixels (small images, deep layers): tiles one after another, im2col/col2im over all
 *    threads, the sgemm split into row or column slices over all threads; tiles up to
 *    NST__CONV_COLS_BYTES.
 * All threading is OpenMP's: OpenBLAS runs single-threaded (the CPU backend sets that once, see
 * src/cpu/backend_cpu.c), so its own thread pool never competes with ours for cores.
 * Scratch (column buffers, partial sums) comes from the caller's planned region: its size for
 * given params is nst__cpu_conv2d_scratch(), and the op takes exactly those pieces.
 * A 1x1, stride-1, pad-0 conv is a plain GEMM on x itself (no column buffer).
 *
 * Tested by tests/test_cpu_conv2d.c (naive loops, finite differences, PyTorch goldens, both
 * schedules with tiny tiles); benchmarked by bench/bench_cpu_ops.c against a bare sgemm and by
 * bench/peer_cpu_conv.py against PyTorch.
 */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../host/core.h"
#include "conv2d.h"
#include "cpu_ops.h"

/* Below this many elements an OpenMP region costs more than it saves. */
#define NST__CONV_OMP_MIN 32768
/* Multiply-adds per thread below which a GEMM is not split. */
#define NST__CONV_GEMM_MIN ((int64_t)1 << 18)
/* Per-thread tiles: at least this many per thread (balance), of at least this many pixels. */
#define NST__CONV_TILES_PER_THREAD 4
#define NST__CONV_MIN_TILE 64

/* Sizes of one convolution, all validated. */
typedef struct {
    int64_t n, h, w, cin;   /* input (N, H, W, Cin) */
    int64_t cout, kh, kw;   /* weights (Cout, KH, KW, Cin) */
    int64_t ho, wo;         /* output (N, Ho, Wo, Cout) */
    int64_t k;              /* KH*KW*Cin: length of a patch */
    int64_t p;              /* N*Ho*Wo: number of output pixels */
    int stride, pad;
} conv_geom;

static bool conv_is_pointwise(const conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0;
}

/* Few output channels: the forward computes straight from x (src/cpu/conv2d_direct.c). */
static bool conv_is_direct(const conv_geom *g) {
    return nst__conv_direct_applies(g->cout, g->kh, g->kw, g->cin);
}

/* Output channels in blocks of 32: the forward computes straight from x with packed weights
 * (src/cpu/conv2d_wide.c), except the pointwise conv, already a GEMM on x. */
static bool conv_is_wide(const conv_geom *g) {
    return !conv_is_pointwise(g) && nst__conv_wide_applies(g->cout, g->cin);
}

/* The sizes of a convolution whose arguments the dispatch has checked (src/host/op_check.c),
 * read from the input-shaped tensor `in` (x or dx) and w. */
static conv_geom conv_geometry(const nst_conv2d_params *p, const nst_tensor *in) {
    conv_geom g;
    g.n = in->shape[0];
    g.h = in->shape[1];
    g.w = in->shape[2];
    g.cin = in->shape[3];
    g.cout = p->w->shape[0];
    g.kh = p->w->shape[1];
    g.kw = p->w->shape[2];
    g.stride = p->stride;
    g.pad = p->pad;
    g.ho = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
    g.wo = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
    g.k = g.kh * g.kw * g.cin;
    g.p = g.n * g.ho * g.wo;
    return g;
}

/* How the output pixels are cut and run: `workers` tiles at a time (1 = one after another),
 * each tile using `inner` threads for im2col/col2im and sgemm. */
typedef struct {
    int64_t tile;   /* output pixels per tile */
    int64_t ntiles;
    int workers;
    int inner;
} conv_sched;

size_t nst__conv_tile_bytes(void) {
    static size_t bytes; /* the same answer whichever thread asks first */
    if (!bytes) {
        const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        size_t b = l2 > 0 ? (size_t)l2 : NST__CONV_TILE_BYTES;
        b = b < NST__CONV_TILE_BYTES ? NST__CONV_TILE_BYTES : b;
        bytes = b > NST__CONV_TILE_MAX_BYTES ? NST__CONV_TILE_MAX_BYTES : b;
    }
    return bytes;
}

static int64_t pixels_within(const conv_geom *g, size_t bytes) {
    int64_t t = (int64_t)(bytes / sizeof(float)) / g->k;
    t = t < 1 ? 1 : (t < g->p ? t : g->p);
    return t > (1 << 30) ? (1 << 30) : t;
}

/* tile_bytes = 0, workers = 0: the automatic choice described at the top of the file. Per-thread
 * tiles are cache-sized, and smaller when that gives each thread NST__CONV_TILES_PER_THREAD of
 * them, as long as they keep NST__CONV_MIN_TILE pixels (rows of the GEMM). */
static conv_sched conv_schedule(nst_ctx *ctx, const conv_geom *g, size_t tile_bytes,
                                int workers) {
    const int nt = nst__cpu_threads(ctx);
    conv_sched s;
    if (workers <= 0) {
        const int64_t per = (int64_t)NST__CONV_TILES_PER_THREAD * nt;
        const int64_t balanced = (g->p + per - 1) / per;
        s.tile = pixels_within(g, g->cout >= 32 ? nst__conv_tile_bytes() : NST__CONV_TILE_BYTES);
        if (nt > 1 && balanced < s.tile)
            s.tile = balanced;
        workers = nt;
        if (nt > 1 && s.tile < NST__CONV_MIN_TILE) { /* few pixels: share each tile instead */
            workers = 1;
            s.tile = pixels_within(g, NST__CONV_COLS_BYTES);
        }
    } else {
        size_t dflt = workers == 1    ? NST__CONV_COLS_BYTES
                      : g->cout >= 32 ? nst__conv_tile_bytes()
                                      : NST__CONV_TILE_BYTES;
        s.tile = pixels_within(g, tile_bytes ? tile_bytes : dflt);
    }
    s.ntiles = g->p ? (g->p + s.tile - 1) / s.tile : 0;
    s.workers = workers;
    s.inner = workers == 1 ? nt : 1;
    return s;
}

static int worker_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Bytes of the column buffers: (tile, K) floats per worker; none for the pointwise conv. */
static size_t cols_bytes(const conv_geom *g, const conv_sched *s) {
    if (conv_is_pointwise(g) || g->p == 0)
        return 0;
    return (size_t)s->workers * (size_t)s->tile * (size_t)g->k * sizeof(float);
}

static nst_status take_cols(nst_ctx *ctx, const char *op, const conv_geom *g,
                            const conv_sched *s, float **cols) {
    return nst__cpu_scratch(ctx, op, "column buffers", cols_bytes(g, s), false, (void **)cols);
}

/* Row-major C(M, N) = op(A)(M, K) op(B)(K, N) + beta C over `threads` OpenMP threads, each a
 * single-threaded sgemm on a slice of C: rows when M >= N, else columns (slices of 16). */
static void sgemm_threads(int threads, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                          int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    const bool by_rows = m >= n;
    const int64_t len = by_rows ? m : n;
    const double work = (double)m * (double)n * (double)k; /* multiply-adds */
    int64_t parts = threads;
    if (parts > (len + 15) / 16)
        parts = (len + 15) / 16;
    if ((double)parts * NST__CONV_GEMM_MIN > work) /* small products: fewer threads are faster */
        parts = work > 2.0 * NST__CONV_GEMM_MIN ? (int64_t)(work / NST__CONV_GEMM_MIN) : 1;
#pragma omp parallel for num_threads((int)parts) schedule(static) if (parts > 1)
    for (int64_t i = 0; i < parts; i++) {
        const int64_t lo = len * i / parts / 16 * 16;
        const int64_t hi = i == parts - 1 ? len : len * (i + 1) / parts / 16 * 16;
        if (hi <= lo)
            continue;
        const float *ai = a, *bi = b;
        float *ci;
        if (by_rows) { /* rows lo..hi of op(A) and C */
            ai = ta == CblasNoTrans ? a + lo * lda : a + lo;
            ci = c + lo * ldc;
        } else {       /* columns lo..hi of op(B) and C */
            bi = tb == CblasNoTrans ? b + lo : b + lo * ldb;
            ci = c + lo;
        }
        const int64_t mi = by_rows ? hi - lo : m, ni = by_rows ? n : hi - lo;
        cblas_sgemm(CblasRowMajor, ta, tb, (int)mi, (int)ni, (int)k, 1.0f, ai, (int)lda, bi,
                    (int)ldb, beta, ci, (int)ldc);
    }
}

/* cols(t, K) for output pixels q0 .. q0 + t - 1: each row the (KH, KW, Cin) patch, zero outside
 * the image. Within one kernel row the valid taps read consecutive input pixels, so a row is one
 * memset, one memcpy and one memset. */
static void im2col(const conv_geom *g, const float *x, int64_t q0, int64_t t, float *cols,
                   int threads) {
    const int64_t cin = g->cin, k = g->k, s = g->stride, pad = g->pad;
#pragma omp parallel for num_threads(threads) schedule(static) \
    if (threads > 1 && t * k > NST__CONV_OMP_MIN)
    for (int64_t i = 0; i < t; i++) {
        const int64_t q = q0 + i;
        const int64_t n = q / (g->ho * g->wo), oh = q / g->wo % g->ho, ow = q % g->wo;
        const int64_t iw0 = ow * s - pad;
        int64_t kw_lo = -iw0 > 0 ? -iw0 : 0;
        int64_t kw_hi = g->w - iw0 < g->kw ? g->w - iw0 : g->kw;
        if (kw_hi < kw_lo)
            kw_hi = kw_lo;
        float *dst = cols + i * k; // (KH, KW, Cin)
        for (int64_t kh = 0; kh < g->kh; kh++, dst += g->kw * cin) {
            const int64_t ih = oh * s - pad + kh;
            if (ih < 0 || ih >= g->h || kw_hi == kw_lo) {
                memset(dst, 0, (size_t)(g->kw * cin) * sizeof(float));
                continue;
            }
            const float *src = x + ((n * g->h + ih) * g->w + iw0 + kw_lo) * cin; // (.., Cin)
            memset(dst, 0, (size_t)(kw_lo * cin) * sizeof(float));
            memcpy(dst + kw_lo * cin, src, (size_t)((kw_hi - kw_lo) * cin) * sizeof(float));
            memset(dst + kw_hi * cin, 0, (size_t)((g->kw - kw_hi) * cin) * sizeof(float));
        }
    }
}

/* The input pixels (flattened (N, H, W) index, [lo, hi)) that output pixels q0 .. q0 + t - 1
 * read: whole input rows from the first output row's top tap to the last one's bottom tap. */
static void tile_footprint(const conv_geom *g, int64_t q0, int64_t t, int64_t *lo, int64_t *hi) {
    const int64_t hw_out = g->ho * g->wo, q1 = q0 + t;
    const int64_t n0 = q0 / hw_out, oh0 = q0 / g->wo % g->ho;
    const int64_t n1 = (q1 - 1) / hw_out, oh1 = (q1 - 1) / g->wo % g->ho;
    int64_t ih_lo = oh0 * g->stride - g->pad, ih_hi = oh1 * g->stride - g->pad + g->kh - 1;
    ih_lo = ih_lo < 0 ? 0 : ih_lo;
    ih_hi = ih_hi >= g->h ? g->h - 1 : ih_hi;
    *lo = (n0 * g->h + ih_lo) * g->w;
    *hi = (n1 * g->h + ih_hi + 1) * g->w;
    if (*hi < *lo)
        *hi = *lo;
}

/* dx += col2im(dcols) for the output pixels q0 .. q0 + t - 1 over several threads: a gather over
 * the tile's input footprint, each input pixel summing the patch entries of this tile that read
 * it, so threads never share a write. */
static void col2im_gather(const conv_geom *g, const float *dcols, int64_t q0, int64_t t,
                          float *dx, int threads) {
    const int64_t cin = g->cin, k = g->k, s = g->stride, pad = g->pad, q1 = q0 + t;
    int64_t gi_lo, gi_hi;
    tile_footprint(g, q0, t, &gi_lo, &gi_hi);
#pragma omp parallel for num_threads(threads) schedule(static) \
    if (threads > 1 && (gi_hi - gi_lo) * cin * g->kh * g->kw > NST__CONV_OMP_MIN)
    for (int64_t gi = gi_lo; gi < gi_hi; gi++) {
        const int64_t n = gi / (g->h * g->w), ih = gi / g->w % g->h, iw = gi % g->w;
        float *dst = dx + gi * cin; // (Cin)
        for (int64_t kh = 0; kh < g->kh; kh++) {
            const int64_t th = ih + pad - kh; // = oh * stride
            if (th < 0)
                break;
            if (th % s || th / s >= g->ho)
                continue;
            for (int64_t kw = 0; kw < g->kw; kw++) {
                const int64_t tw = iw + pad - kw; // = ow * stride
                if (tw < 0)
                    break;
                if (tw % s || tw / s >= g->wo)
                    continue;
                const int64_t q = (n * g->ho + th / s) * g->wo + tw / s;
                if (q < q0 || q >= q1)
                    continue;
                const float *src = dcols + (q - q0) * k + (kh * g->kw + kw) * cin; // (Cin)
                for (int64_t c = 0; c < cin; c++)
                    dst[c] += src[c];
            }
        }
    }
}

/* The same on one thread: a scatter that mirrors im2col, adding each patch row's valid span
 * (consecutive input pixels) back into dx. No footprint scan, so it suits small tiles. */
static void col2im_scatter(const conv_geom *g, const float *dcols, int64_t q0, int64_t t,
                           float *dx) {
    const int64_t cin = g->cin, s = g->stride, pad = g->pad;
    for (int64_t i = 0; i < t; i++) {
        const int64_t q = q0 + i;
        const int64_t n = q / (g->ho * g->wo), oh = q / g->wo % g->ho, ow = q % g->wo;
        const int64_t iw0 = ow * s - pad;
        const int64_t kw_lo = -iw0 > 0 ? -iw0 : 0;
        const int64_t kw_hi = g->w - iw0 < g->kw ? g->w - iw0 : g->kw;
        const float *src = dcols + i * g->k; // (KH, KW, Cin)
        for (int64_t kh = 0; kh < g->kh && kw_hi > kw_lo; kh++, src += g->kw * cin) {
            const int64_t ih = oh * s - pad + kh;
            if (ih < 0 || ih >= g->h)
                continue;
            float *dst = dx + ((n * g->h + ih) * g->w + iw0 + kw_lo) * cin; // (.., Cin)
            const float *span = src + kw_lo * cin;
            const int64_t len = (kw_hi - kw_lo) * cin;
            for (int64_t j = 0; j < len; j++)
                dst[j] += span[j];
        }
    }
}

static void col2im_add(const conv_geom *g, const float *dcols, int64_t q0, int64_t t, float *dx,
                       int threads) {
    if (threads > 1)
        col2im_gather(g, dcols, q0, t, dx, threads);
    else
        col2im_scatter(g, dcols, q0, t, dx);
}

static int64_t tile_len(const conv_geom *g, const conv_sched *s, int64_t it) {
    const int64_t q0 = it * s->tile;
    return g->p - q0 < s->tile ? g->p - q0 : s->tile;
}

/* Smallest m such that tiles i and i + m never share an input pixel: running the tiles i = ph,
 * ph + m, ph + 2m, ... of one phase in parallel is then race-free in col2im. */
static int64_t col2im_phases(const conv_geom *g, const conv_sched *s) {
    if (s->workers == 1 || conv_is_pointwise(g))
        return 1;
    for (int64_t m = 1; m < s->ntiles; m++) {
        bool ok = true;
        for (int64_t i = 0; ok && i + m < s->ntiles; i++) {
            int64_t lo_a, hi_a, lo_b, hi_b;
            tile_footprint(g, i * s->tile, s->tile, &lo_a, &hi_a);
            tile_footprint(g, (i + m) * s->tile, tile_len(g, s, i + m), &lo_b, &hi_b);
            ok = hi_a <= lo_b;
        }
        if (ok)
            return m;
    }
    return s->ntiles > 0 ? s->ntiles : 1;
}

nst_status nst__cpu_conv2d_phases(nst_ctx *ctx, const nst_conv2d_params *p, size_t tile_bytes,
                                  int workers, nst__conv_tiling *out) {
    if (!p->dx || !p->w || p->dx->ndim != 4 || p->w->ndim != 4 || p->stride < 1 || p->pad < 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "conv2d phases: needs dx, w, stride and pad");
    const conv_geom g = conv_geometry(p, p->dx);
    const conv_sched s = conv_schedule(ctx, &g, tile_bytes, workers);
    out->tile = s.tile;
    out->ntiles = s.ntiles;
    out->workers = s.workers;
    out->phases = col2im_phases(&g, &s);
    return NST_OK;
}

static void relu_inplace(float *y, int64_t n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) \
    if (threads > 1 && n > NST__CONV_OMP_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

/* ---- the direct kernels (src/cpu/conv2d_direct.c, src/cpu/conv2d_wide.c) ------------------- */

/* Runs a direct forward over all threads, static split: the few-channel kernel by output rows,
 * the wide one (wp: its packed weights, else NULL) by (output row, 32-channel block) items. */
static void run_direct(nst_ctx *ctx, const nst__conv_direct_args *a, const float *wp) {
    const int64_t items = a->n * a->ho * (wp ? a->cout / 32 : 1);
    const int nt = nst__cpu_threads(ctx), parts = items < nt ? (int)items : nt;
#pragma omp parallel for num_threads(parts) schedule(static) if (parts > 1)
    for (int i = 0; i < parts; i++) {
        const int64_t i0 = items * i / parts, i1 = items * (i + 1) / parts;
        if (wp)
            nst__conv_wide_items(a, wp, i0, i1);
        else
            nst__conv_direct_rows(a, i0, i1);
    }
}

/* Backward-data of a stride-1 conv with a square kernel is a forward conv of dy: dx = conv(dy,
 * w') with w' (Cin, KH, KW, Cout) = w (Cout, KH-1-kh, KW-1-kw, Cin) and padding KH-1-pad. It runs
 * on the direct kernels when they take its shape (Cin, the transposed conv's output channels, a
 * multiple of 32, or at most 4). */
static bool bwd_data_direct(const conv_geom *g) {
    if (g->stride != 1 || g->kh != g->kw || g->pad > g->kh - 1 || conv_is_pointwise(g))
        return false;
    return nst__conv_wide_applies(g->cin, g->cout) ||
           nst__conv_direct_applies(g->cin, g->kh, g->kw, g->cout);
}

/* w' as above into out: packed for the wide kernel ((Cin / 32, K, 32), K = KH*KW*Cout), else
 * plain (Cin, KH, KW, Cout). Reads each filter row of w once, in order; threads split Cout. */
static void flip_weights(nst_ctx *ctx, const conv_geom *g, const float *w, bool packed,
                         float *out) {
    const int64_t kh = g->kh, kw = g->kw, cin = g->cin, cout = g->cout, k = kh * kw * cout;
    const int nt = nst__cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && cin * k > NST__CONV_OMP_MIN)
    for (int64_t co = 0; co < cout; co++)
        for (int64_t i = 0; i < kh; i++)
            for (int64_t j = 0; j < kw; j++) {
                const float *src = w + ((co * kh + kh - 1 - i) * kw + kw - 1 - j) * cin; // (Cin)
                const int64_t jj = (i * kw + j) * cout + co; /* the tap's place in w'(ci, .) */
                if (packed)
                    for (int64_t ci = 0; ci < cin; ci++)
                        out[((ci / 32) * k + jj) * 32 + ci % 32] = src[ci];
                else
                    for (int64_t ci = 0; ci < cin; ci++)
                        out[ci * k + jj] = src[ci];
            }
}

static nst_status backward_data_direct(nst_ctx *ctx, const char *op, const conv_geom *g,
                                       const float *dy, const float *w, float *dx) {
    const bool wide = nst__conv_wide_applies(g->cin, g->cout);
    float *wf; // w' (packed or plain)
    NST__TRY(nst__cpu_scratch(ctx, op, "flipped weights", nst__conv_wide_scratch(g->cout, g->k),
                              false, (void **)&wf));
    flip_weights(ctx, g, w, wide, wf);
    const nst__conv_direct_args a = {.x = dy, .wt = wf, .y = dx, .n = g->n, .h = g->ho,
                                     .w = g->wo, .cin = g->cout, .cout = g->cin, .kh = g->kh,
                                     .kw = g->kw, .ho = g->h, .wo = g->w, .stride = 1,
                                     .pad = (int)(g->kh - 1 - g->pad)};
    run_direct(ctx, &a, wide ? wf : NULL);
    return NST_OK;
}

/* ---- the three ops ----------------------------------------------------------------------- */

static nst_status conv_forward(nst_ctx *ctx, const nst_conv2d_params *p, size_t tile_bytes,
                               int workers) {
    static const char op[] = "conv2d_forward";
    const conv_geom g = conv_geometry(p, p->x);
    const float *x = p->x->data;               // (N, H, W, Cin)
    const float *w = p->w->data;               // (Cout, KH, KW, Cin) = (Cout, K)
    const float *b = p->b ? p->b->data : NULL; // (Cout)
    float *y = p->y->data;                     // (N, Ho, Wo, Cout) = (P, Cout)
    if (conv_is_direct(&g) || conv_is_wide(&g)) {
        const nst__conv_direct_args a = {.x = x, .wt = w, .b = b, .y = y, .n = g.n, .h = g.h,
                                         .w = g.w, .cin = g.cin, .cout = g.cout, .kh = g.kh,
                                         .kw = g.kw, .ho = g.ho, .wo = g.wo,
                                         .stride = (int)g.stride, .pad = (int)g.pad,
                                         .relu = p->relu};
        float *wp = NULL; // (Cout / 32, K, 32)
        if (conv_is_wide(&g)) {
            NST__TRY(nst__cpu_scratch(ctx, op, "packed weights",
                                      nst__conv_wide_scratch(g.cout, g.k), false, (void **)&wp));
            const int64_t blocks = g.cout / 32;
            const int nt = nst__cpu_threads(ctx), parts = blocks < nt ? (int)blocks : nt;
#pragma omp parallel for num_threads(parts) schedule(static) if (parts > 1)
            for (int64_t bl = 0; bl < blocks; bl++)
                nst__conv_wide_pack(w + bl * 32 * g.k, 32, g.k, wp + bl * 32 * g.k);
        }
        run_direct(ctx, &a, wp);
        return NST_OK;
    }
    const conv_sched s = conv_schedule(ctx, &g, tile_bytes, workers);
    float *cols;                               // (workers, tile, K)
    NST__TRY(take_cols(ctx, op, &g, &s, &cols));
#pragma omp parallel for num_threads(s.workers) schedule(static) if (s.workers > 1)
    for (int64_t it = 0; it < s.ntiles; it++) {
        const int64_t q0 = it * s.tile, t = tile_len(&g, &s, it);
        float *c = cols ? cols + (int64_t)worker_id() * s.tile * g.k : NULL; // (tile, K)
        if (c)
            im2col(&g, x, q0, t, c, s.inner);
        float *yt = y + q0 * g.cout; // (t, Cout)
        if (b)
            for (int64_t i = 0; i < t; i++)
                memcpy(yt + i * g.cout, b, (size_t)g.cout * sizeof(float));
        sgemm_threads(s.inner, CblasNoTrans, CblasTrans, t, g.cout, g.k, c ? c : x + q0 * g.cin,
                      g.k, w, g.k, b ? 1.0f : 0.0f, yt, g.cout);
        if (p->relu)
            relu_inplace(yt, t * g.cout, s.inner);
    }
    return NST_OK;
}

static nst_status conv_backward_data(nst_ctx *ctx, const nst_conv2d_params *p,
                                     size_t tile_bytes, int workers) {
    static const char op[] = "conv2d_backward_data";
    const conv_geom g = conv_geometry(p, p->dx);
    const float *dy = p->dy->data; // (N, Ho, Wo, Cout) = (P, Cout)
    const float *w = p->w->data;   // (Cout, K)
    float *dx = p->dx->data;       // (N, H, W, Cin)
    if (bwd_data_direct(&g))
        return backward_data_direct(ctx, op, &g, dy, w, dx);
    const conv_sched s = conv_schedule(ctx, &g, tile_bytes, workers);
    float *dcols;                  // (workers, tile, K)
    NST__TRY(take_cols(ctx, op, &g, &s, &dcols));
    if (dcols) {
        const int64_t nx = g.n * g.h * g.w * g.cin;
        const int nt = nst__cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && nx > NST__CONV_OMP_MIN)
        for (int64_t i = 0; i < nx; i++)
            dx[i] = 0.0f;
    }
    const int64_t phases = col2im_phases(&g, &s);
    /* Round-robin within a phase: neighbouring tiles of the phase run side by side, which the
     * phases make safe (and the tests would catch if they did not). */
    for (int64_t ph = 0; ph < phases; ph++) {
#pragma omp parallel for num_threads(s.workers) schedule(static, 1) if (s.workers > 1)
        for (int64_t it = ph; it < s.ntiles; it += phases) {
            const int64_t q0 = it * s.tile, t = tile_len(&g, &s, it);
            /* pointwise: the GEMM writes dx rows directly */
            float *c = dcols ? dcols + (int64_t)worker_id() * s.tile * g.k : dx + q0 * g.cin;
            sgemm_threads(s.inner, CblasNoTrans, CblasNoTrans, t, g.k, g.cout, dy + q0 * g.cout,
                          g.cout, w, g.k, 0.0f, c, g.k);
            if (dcols)
                col2im_add(&g, c, q0, t, dx, s.inner);
        }
    }
    return NST_OK;
}

static int bias_grad_threads(nst_ctx *ctx, int64_t rows, int64_t cout) {
    return rows * cout > NST__CONV_OMP_MIN ? nst__cpu_threads(ctx) : 1;
}

static size_t bias_grad_bytes(nst_ctx *ctx, int64_t rows, int64_t cout) {
    return (size_t)bias_grad_threads(ctx, rows, cout) * (size_t)cout * sizeof(double);
}

/* db (+)= column sums of dy (P, Cout), summed in double: per-thread partial sums over a static
 * split of the pixels, then combined in a fixed order (deterministic for a thread count). */
static nst_status bias_grad(nst_ctx *ctx, const char *op, const float *dy, int64_t rows,
                            int64_t cout, float *db, bool accumulate) {
    const int nt = bias_grad_threads(ctx, rows, cout);
    double *part = NULL; // (nt, Cout)
    NST__TRY(nst__cpu_scratch(ctx, op, "bias-gradient partial sums",
                              (size_t)nt * (size_t)cout * sizeof *part, true, (void **)&part));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#ifdef _OPENMP
        const int id = omp_get_thread_num(), count = omp_get_num_threads();
#else
        const int id = 0, count = 1;
#endif
        const int64_t r0 = rows * id / count, r1 = rows * (id + 1) / count;
        double *acc = part + (int64_t)id * cout;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = 0; c < cout; c++)
                acc[c] += dy[r * cout + c];
    }
    for (int64_t c = 0; c < cout; c++) {
        double sum = accumulate ? db[c] : 0.0;
        for (int i = 0; i < nt; i++)
            sum += part[(int64_t)i * cout + c];
        db[c] = (float)sum;
    }
    return NST_OK;
}

/* Bytes of the per-worker partial dW when several workers run. */
static size_t filter_partial_bytes(const conv_geom *g, const conv_sched *s) {
    return s->workers > 1 ? (size_t)s->workers * (size_t)(g->cout * g->k) * sizeof(float) : 0;
}

/* dW (+)= dy^T cols over all tiles. One worker accumulates straight into dw; several sum into
 * private partial dW buffers, added to dw in a fixed order at the end. */
static nst_status filter_grad(nst_ctx *ctx, const char *op, const conv_geom *g,
                              const conv_sched *s, const float *x, const float *dy, float *dw,
                              bool accumulate) {
    const int64_t nw = g->cout * g->k;
    float *cols = NULL, *part = NULL; // (workers, tile, K), (workers, Cout, K)
    NST__TRY(take_cols(ctx, op, g, s, &cols));
    if (s->workers > 1)
        NST__TRY(nst__cpu_scratch(ctx, op, "partial weight gradients",
                                  filter_partial_bytes(g, s), true, (void **)&part));
    else if (!accumulate)
        memset(dw, 0, (size_t)nw * sizeof *dw);
#pragma omp parallel for num_threads(s->workers) schedule(static) if (s->workers > 1)
    for (int64_t it = 0; it < s->ntiles; it++) {
        const int64_t q0 = it * s->tile, t = tile_len(g, s, it);
        const int64_t id = worker_id();
        float *c = cols ? cols + id * s->tile * g->k : NULL; // (tile, K)
        if (c)
            im2col(g, x, q0, t, c, s->inner);
        sgemm_threads(s->inner, CblasTrans, CblasNoTrans, g->cout, g->k, t, dy + q0 * g->cout,
                      g->cout, c ? c : x + q0 * g->cin, g->k, 1.0f, part ? part + id * nw : dw,
                      g->k);
    }
    if (part) {
        const int nt = nst__cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && nw > NST__CONV_OMP_MIN)
        for (int64_t i = 0; i < nw; i++) {
            float sum = accumulate ? dw[i] : 0.0f;
            for (int j = 0; j < s->workers; j++)
                sum += part[j * nw + i];
            dw[i] = sum;
        }
    }
    return NST_OK;
}

static nst_status conv_backward_filter(nst_ctx *ctx, const nst_conv2d_params *p,
                                       size_t tile_bytes, int workers) {
    static const char op[] = "conv2d_backward_filter";
    const float *dy = p->dy->data; // (P, Cout)
    const int64_t rows = nst_tensor_numel(p->dy) / p->dy->shape[3], cout = p->dy->shape[3];
    if (p->db)
        NST__TRY(bias_grad(ctx, op, dy, rows, cout, p->db->data, p->accumulate));
    if (!p->dw)
        return NST_OK;
    const conv_geom g = conv_geometry(p, p->x);
    const conv_sched s = conv_schedule(ctx, &g, tile_bytes, workers);
    return filter_grad(ctx, op, &g, &s, p->x->data, dy, p->dw->data, p->accumulate);
}

/* The scratch the three passes take for these (checked) params and tiling. */
static size_t conv_scratch(nst_ctx *ctx, nst_op op, const nst_conv2d_params *p,
                           size_t tile_bytes, int workers) {
    if (op == NST_OP_CONV2D_BACKWARD_FILTER) {
        size_t bytes = 0;
        if (p->db)
            bytes += nst__scratch_bytes(bias_grad_bytes(ctx, nst_tensor_numel(p->dy) /
                                                                 p->dy->shape[3],
                                                        p->dy->shape[3]));
        if (p->dw) {
            const conv_geom g = conv_geometry(p, p->x);
            const conv_sched s = conv_schedule(ctx, &g, tile_bytes, workers);
            bytes += nst__scratch_bytes(cols_bytes(&g, &s)) +
                     nst__scratch_bytes(filter_partial_bytes(&g, &s));
        }
        return bytes;
    }
    const conv_geom g = conv_geometry(p, op == NST_OP_CONV2D_FORWARD ? p->x : p->dx);
    if (op == NST_OP_CONV2D_FORWARD && conv_is_direct(&g))
        return 0;
    if ((op == NST_OP_CONV2D_FORWARD && conv_is_wide(&g)) ||
        (op == NST_OP_CONV2D_BACKWARD_DATA && bwd_data_direct(&g)))
        return nst__scratch_bytes(nst__conv_wide_scratch(g.cout, g.k));
    const conv_sched s = conv_schedule(ctx, &g, tile_bytes, workers);
    return nst__scratch_bytes(cols_bytes(&g, &s));
}

size_t nst__cpu_conv2d_scratch(nst_ctx *ctx, nst_op op, const void *params) {
    return conv_scratch(ctx, op, params, 0, 0);
}

static nst_status conv_tiled(nst_ctx *ctx, nst_op op, const nst_conv2d_params *p,
                             size_t tile_bytes, int workers) {
    switch (op) {
    case NST_OP_CONV2D_FORWARD:
        return conv_forward(ctx, p, tile_bytes, workers);
    case NST_OP_CONV2D_BACKWARD_DATA:
        return conv_backward_data(ctx, p, tile_bytes, workers);
    case NST_OP_CONV2D_BACKWARD_FILTER:
        return conv_backward_filter(ctx, p, tile_bytes, workers);
    default:
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %d is not a conv2d op", (int)op);
    }
}

nst_status nst__cpu_conv2d_tiled(nst_ctx *ctx, nst_op op, const nst_conv2d_params *p,
                                 size_t tile_bytes, int workers) {
    if (op != NST_OP_CONV2D_FORWARD && op != NST_OP_CONV2D_BACKWARD_DATA &&
        op != NST_OP_CONV2D_BACKWARD_FILTER)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %d is not a conv2d op", (int)op);
    bool nothing;
    NST__TRY(nst__op_check(ctx, op, p, &nothing));
    if (nothing)
        return NST_OK;
    NST__TRY(nst__scratch_begin(ctx, nst_op_get_info(op)->name,
                                conv_scratch(ctx, op, p, tile_bytes, workers)));
    nst_status st = conv_tiled(ctx, op, p, tile_bytes, workers);
    nst__scratch_end(ctx);
    return st;
}

nst_status nst__cpu_conv2d_forward(nst_ctx *ctx, const void *params) {
    return conv_forward(ctx, params, 0, 0);
}

nst_status nst__cpu_conv2d_backward_data(nst_ctx *ctx, const void *params) {
    return conv_backward_data(ctx, params, 0, 0);
}

nst_status nst__cpu_conv2d_backward_filter(nst_ctx *ctx, const void *params) {
    return conv_backward_filter(ctx, params, 0, 0);
}
