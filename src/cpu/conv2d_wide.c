/* CPU conv2d forward for output channels in multiples of 32 (VGG19's and TransformerNet's layers),
 * computed directly from the input: no column buffer and no GEMM packing of the patches.
 *
 * Why: im2col + sgemm copies every patch twice before multiplying (im2col writes the K floats of a
 * pixel's patch, OpenBLAS then packs them again); on TransformerNet at 768x512 the two copies took
 * about a fifth of a frame. Here the weights are repacked once per call into channel blocks,
 * wp (Cout / CB, KH, KW, Cin, CB) with CB = 32 channels, and a block of PB output pixels of one
 * output row is computed as PB x CB accumulators in vector registers: for each tap (kh, kw, ci)
 * one weight vector load per W channels and one broadcast input value per pixel (the pixel's
 * patch is read in place, NHWC: the taps of one kernel row are consecutive in memory). Bias and
 * ReLU are applied in registers as the block is stored.
 *
 * Order of the sums (fixed): each output value is its bias plus the products of its taps added
 * one at a time in the order (kh, kw, ci), as the naive loops do; fused multiply-adds. Kernel
 * rows above or below the image are skipped; taps left or right of it multiply zeros (as
 * im2col's zero columns do), so a row's border pixels share the blocks of the others. Work items are (output row, channel block) pairs split
 * statically over the threads; each output is computed by one thread, so the bits do not depend
 * on the thread count, nor on the vector width.
 *
 * Used by src/cpu/conv2d.c's forward when nst__conv_wide_applies() (a fixed rule: Cout a multiple
 * of 32 on a CPU with AVX2 and FMA or AVX-512, see conv2d.h); tested there against the naive
 * loops, finite differences and PyTorch goldens (tests/test_cpu_conv2d.c, both variants). */
#include <stdint.h>

#include "conv2d.h"
#include "cpu_ops.h"

#define CB 32 /* output channels per block */

/* What a tap outside the image reads: Cin zeros. */
static const float nst__conv_wide_zeros[NST__CONV_WIDE_MAX_CIN];

bool nst__conv_wide_applies(int64_t cout, int64_t cin) {
    return cout % CB == 0 && cin <= NST__CONV_WIDE_MAX_CIN && nst__cpu_simd() > NST__CPU_SIMD_BASE;
}

size_t nst__conv_wide_scratch(int64_t cout, int64_t k) {
    return (size_t)cout * (size_t)k * sizeof(float);
}

/* wp (Cout / CB, K, CB) from w (Cout, K). */
void nst__conv_wide_pack(const float *w, int64_t cout, int64_t k, float *wp) {
    for (int64_t b = 0; b < cout / CB; b++)
        for (int64_t j = 0; j < k; j++)
            for (int64_t c = 0; c < CB; c++)
                wp[(b * k + j) * CB + c] = w[(b * CB + c) * k + j];
}

#if defined(__x86_64__) && defined(__GNUC__)

/* One variant: VEC holds W floats, NV = CB / W vectors per pixel, PB pixels per block, chosen so
 * PB x NV accumulators plus NV weight vectors fit the registers (AVX-512: 12 x 2 + 2 of 32;
 * AVX2: 3 x 4 + 4 of 16). */
#define NST__WIDE_VARIANT(SUFFIX, W, PB, TARGET)                                                \
    typedef float wvec_##SUFFIX __attribute__((vector_size(4 * (W)), aligned(4), may_alias)); \
    typedef int32_t wivec_##SUFFIX __attribute__((vector_size(4 * (W)), aligned(4)));          \
    enum { NV_##SUFFIX = CB / (W) };                                                            \
                                                                                                \
    __attribute__((target(TARGET), always_inline)) static inline wvec_##SUFFIX wload_##SUFFIX( \
        const float *p) {                                                                       \
        return *(const wvec_##SUFFIX *)p; /* unaligned: the type is aligned(4) */              \
    }                                                                                           \
                                                                                                \
    /* np pixels from (n, oh, ow) of channel block cb, kernel rows kh_lo..kh_hi; a tap left or  \
     * right of the image reads a row of zeros, so border pixels run in blocks too */           \
    __attribute__((target(TARGET), always_inline)) static inline void wblock_##SUFFIX(          \
        const nst__conv_direct_args *a, const float *wp, int64_t cb, int64_t n, int64_t oh,      \
        int64_t ow, int np, int64_t kh_lo, int64_t kh_hi) {                                     \
        wvec_##SUFFIX acc[PB][NV_##SUFFIX];                                                     \
        for (int p = 0; p < PB; p++)                                                            \
            for (int v = 0; v < NV_##SUFFIX; v++)                                               \
                acc[p][v] = (wvec_##SUFFIX){0};                                                 \
        const int64_t cin = a->cin, k = a->kh * a->kw * cin;                                    \
        const float *wb = wp + cb * k * CB;                                                     \
        for (int64_t kh = kh_lo; kh < kh_hi; kh++) {                                            \
            const float *row = a->x + (n * a->h + oh * a->stride - a->pad + kh) * a->w * cin;    \
            for (int64_t kw = 0; kw < a->kw; kw++) {                                            \
                const float *src[PB];                                                           \
                for (int p = 0; p < np; p++) {                                                  \
                    const int64_t iw = (ow + p) * a->stride - a->pad + kw;                      \
                    src[p] = iw >= 0 && iw < a->w ? row + iw * cin : nst__conv_wide_zeros;      \
                }                                                                               \
                const float *wk = wb + (kh * a->kw + kw) * cin * CB;                             \
                for (int64_t ci = 0; ci < cin; ci++) {                                          \
                    wvec_##SUFFIX wv[NV_##SUFFIX];                                              \
                    _Pragma("GCC unroll 4") for (int v = 0; v < NV_##SUFFIX; v++)               \
                        wv[v] = wload_##SUFFIX(wk + ci * CB + v * (W));                         \
                    _Pragma("GCC unroll 12") for (int p = 0; p < np; p++) {                     \
                        const float xv = src[p][ci];                                            \
                        _Pragma("GCC unroll 4") for (int v = 0; v < NV_##SUFFIX; v++)           \
                            acc[p][v] += wv[v] * xv;                                            \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        float *y = a->y + ((n * a->ho + oh) * a->wo + ow) * a->cout + cb * CB;                   \
        for (int p = 0; p < np; p++)                                                            \
            for (int v = 0; v < NV_##SUFFIX; v++) {                                             \
                wvec_##SUFFIX r = acc[p][v];                                                    \
                if (a->b)                                                                       \
                    r += wload_##SUFFIX(a->b + cb * CB + v * (W));                              \
                if (a->relu) { /* r > 0 ? r : 0, NaN to 0 as the ReLU op does */                \
                    const wivec_##SUFFIX pos = r > (wvec_##SUFFIX){0};                          \
                    r = (wvec_##SUFFIX)((wivec_##SUFFIX)r & pos);                               \
                }                                                                               \
                *(wvec_##SUFFIX *)(y + p * a->cout + v * (W)) = r;                              \
            }                                                                                   \
    }                                                                                           \
                                                                                                \
    /* items i0..i1: (output row, channel block) pairs; each row in blocks of PB pixels, then   \
     * PB / 2 and PB / 4 (12, 6, 3 or 3, ...), then single pixels */                           \
    __attribute__((target(TARGET))) static void witems_##SUFFIX(                                \
        const nst__conv_direct_args *a, const float *wp, int64_t i0, int64_t i1) {              \
        const int64_t nb = a->cout / CB;                                                        \
        for (int64_t it = i0; it < i1; it++) {                                                  \
            const int64_t r = it / nb, cb = it % nb, n = r / a->ho, oh = r % a->ho;             \
            const int64_t ih0 = oh * a->stride - a->pad;                                        \
            const int64_t kh_lo = -ih0 > 0 ? -ih0 : 0;                                          \
            int64_t kh_hi = a->h - ih0 < a->kh ? a->h - ih0 : a->kh;                            \
            kh_hi = kh_hi < kh_lo ? kh_lo : kh_hi;                                              \
            int64_t ow = 0;                                                                     \
            for (; ow + (PB) <= a->wo; ow += (PB))                                              \
                wblock_##SUFFIX(a, wp, cb, n, oh, ow, PB, kh_lo, kh_hi);                        \
            if ((PB) >= 4 && ow + (PB) / 2 <= a->wo) {                                          \
                wblock_##SUFFIX(a, wp, cb, n, oh, ow, (PB) / 2, kh_lo, kh_hi);                  \
                ow += (PB) / 2;                                                                 \
            }                                                                                   \
            if ((PB) >= 8 && ow + (PB) / 4 <= a->wo) {                                          \
                wblock_##SUFFIX(a, wp, cb, n, oh, ow, (PB) / 4, kh_lo, kh_hi);                  \
                ow += (PB) / 4;                                                                 \
            }                                                                                   \
            for (; ow < a->wo; ow++)                                                            \
                wblock_##SUFFIX(a, wp, cb, n, oh, ow, 1, kh_lo, kh_hi);                         \
        }                                                                                       \
    }

NST__WIDE_VARIANT(avx2, 8, 3, "avx2,fma")
NST__WIDE_VARIANT(avx512, 16, 12, "avx512f")

#endif

void nst__conv_wide_items(const nst__conv_direct_args *a, const float *wp, int64_t i0,
                          int64_t i1) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (nst__cpu_simd() == NST__CPU_SIMD_AVX512)
        witems_avx512(a, wp, i0, i1);
    else
        witems_avx2(a, wp, i0, i1);
#else
    (void)a, (void)wp, (void)i0, (void)i1; /* never chosen: nst__conv_wide_applies() is false */
#endif
}
