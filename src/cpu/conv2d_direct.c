/* CPU conv2d forward for few output channels (Cout <= 4, e.g. TransformerNet's 9x9 32 -> 3 output
 * layer), computed directly from the input: no column buffer and no GEMM.
 *
 * Why: im2col + sgemm writes a K = KH*KW*Cin float patch per output pixel (10 KB for the 9x9 layer
 * over 32 channels) to feed a GEMM only Cout = 3 columns wide, which OpenBLAS runs far below its
 * peak. Here an output pixel's value is Cout dot products of length KW*Cin per kernel row: within
 * one kernel row the patch is contiguous in NHWC (the valid taps read consecutive input pixels),
 * and so is the weights' row (Cout, KH, KW, Cin). Four neighbouring output pixels share each
 * weight load: 4 x Cout vector accumulators, with the same arithmetic per pixel as one alone.
 *
 * Order of the sums (fixed, whatever the thread count): for each output value, per kernel row
 * kh in order, the valid span's full vectors accumulate lane-wise into one vector (lane l holds
 * the products at offsets = l mod W, W the vector width) and the span's tail (< W floats) into a
 * scalar; at the end the lanes are summed in order, then the tail, then the bias. Rows run over
 * OpenMP threads (static split); each output is computed by one thread, so the bits do not depend
 * on the thread count. They do depend on the vector width: the AVX-512 and AVX2 variants differ
 * in the last bits, as any two BLAS kernels would (both are within the goldens' tolerance).
 *
 * Used by src/cpu/conv2d.c's forward when nst__conv_direct_applies() (a fixed rule, no timing at
 * run time); tested there against the naive loops and PyTorch goldens (tests/test_cpu_conv2d.c
 * covers both variants on a CPU that has them: nst__cpu_simd_force). */
#include <stdint.h>

#include "conv2d.h"
#include "cpu_ops.h"

#define MAX_COUT 4
/* Output pixels sharing each weight load: 8 with AVX-512 (8 x 3 accumulators, 3 weight vectors
 * and 1 input vector fill its 32 registers), else 4 (AVX2's 16 registers; 4 channels). */
#define BLOCK 8

bool nst__conv_direct_applies(int64_t cout, int64_t kh, int64_t kw, int64_t cin) {
    /* a patch of at least 64 floats: below that im2col's copy costs little against the GEMM */
    return cout <= MAX_COUT && kh * kw * cin >= 64 && nst__cpu_simd() > NST__CPU_SIMD_BASE;
}

#if defined(__x86_64__) && defined(__GNUC__)

/* One variant's body: VEC is a GCC vector of W floats, compiled for TARGET. The span loops are
 * written once for a block of NP pixels and NC channels, both constants after inlining. */
#define NST__DIRECT_VARIANT(SUFFIX, W, TARGET)                                                  \
    typedef float vec_##SUFFIX __attribute__((vector_size(4 * (W)), aligned(4), may_alias));  \
                                                                                                \
    __attribute__((target(TARGET), always_inline)) static inline vec_##SUFFIX load_##SUFFIX(   \
        const float *p) {                                                                       \
        return *(const vec_##SUFFIX *)p; /* unaligned: the type is aligned(4) */               \
    }                                                                                           \
                                                                                                \
    /* out[p][c] = sum over kernel rows of dot(src_p row span, weight row span) */              \
    __attribute__((target(TARGET), always_inline)) static inline void block_##SUFFIX(           \
        const nst__conv_direct_args *a, int64_t n, int64_t oh, int64_t ow, int np, int nc,       \
        int64_t kw_lo, int64_t kw_hi, float out[BLOCK][MAX_COUT]) {                             \
        vec_##SUFFIX acc[BLOCK][MAX_COUT];                                                      \
        float tail[BLOCK][MAX_COUT];                                                            \
        for (int p = 0; p < BLOCK; p++) /* all of them: what np, nc leave out stays unused */   \
            for (int c = 0; c < MAX_COUT; c++) {                                                \
                acc[p][c] = (vec_##SUFFIX){0};                                                  \
                tail[p][c] = 0.0f;                                                              \
            }                                                                                   \
        const int64_t cin = a->cin, len = (kw_hi - kw_lo) * cin, vlen = len / (W) * (W);        \
        for (int64_t kh = 0; kh < a->kh; kh++) {                                                \
            const int64_t ih = oh * a->stride - a->pad + kh;                                    \
            if (ih < 0 || ih >= a->h)                                                           \
                continue;                                                                       \
            const float *row = a->x + (n * a->h + ih) * a->w * cin;                             \
            const float *src[BLOCK], *wr[MAX_COUT];                                             \
            for (int p = 0; p < np; p++)                                                        \
                src[p] = row + ((ow + p) * a->stride - a->pad + kw_lo) * cin;                   \
            for (int c = 0; c < nc; c++)                                                        \
                wr[c] = a->wt + ((c * a->kh + kh) * a->kw + kw_lo) * cin;                       \
            for (int64_t j = 0; j < vlen; j += (W)) {                                           \
                vec_##SUFFIX wv[MAX_COUT];                                                      \
                _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                            \
                    wv[c] = load_##SUFFIX(wr[c] + j);                                           \
                _Pragma("GCC unroll 8") for (int p = 0; p < np; p++) {                          \
                    vec_##SUFFIX xv = load_##SUFFIX(src[p] + j);                                \
                    __asm__("" : "+v"(xv)); /* one load, kept in a register for its nc uses */  \
                    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                        \
                        acc[p][c] += xv * wv[c];                                                \
                }                                                                               \
            }                                                                                   \
            for (int64_t j = vlen; j < len; j++)                                                \
                for (int p = 0; p < np; p++)                                                    \
                    for (int c = 0; c < nc; c++)                                                \
                        tail[p][c] += src[p][j] * wr[c][j];                                     \
        }                                                                                       \
        for (int p = 0; p < np; p++)                                                            \
            for (int c = 0; c < nc; c++) {                                                      \
                float s = 0.0f;                                                                 \
                for (int l = 0; l < (W); l++)                                                   \
                    s += acc[p][c][l];                                                          \
                out[p][c] = s + tail[p][c];                                                     \
            }                                                                                   \
    }                                                                                           \
                                                                                                \
    __attribute__((target(TARGET), always_inline)) static inline void row_nc_##SUFFIX(          \
        const nst__conv_direct_args *a, int64_t r, int nc) {                                    \
        const int64_t n = r / a->ho, oh = r % a->ho;                                            \
        float *y = a->y + r * a->wo * nc;                                                       \
        float out[BLOCK][MAX_COUT];                                                             \
        int64_t ow = 0;                                                                         \
        while (ow < a->wo) {                                                                    \
            const int64_t iw0 = ow * a->stride - a->pad;                                        \
            const int blk = (W) == 16 && nc <= 3 ? 8 : 4;                                       \
            const int64_t last = iw0 + (blk - 1) * a->stride;                                   \
            int np = 1;                                                                         \
            int64_t kw_lo = -iw0 > 0 ? -iw0 : 0;                                                \
            int64_t kw_hi = a->w - iw0 < a->kw ? a->w - iw0 : a->kw;                            \
            if (ow + blk <= a->wo && iw0 >= 0 && last + a->kw <= a->w) {                        \
                np = blk; /* every tap of the block's pixels inside the image */                \
                block_##SUFFIX(a, n, oh, ow, blk, nc, 0, a->kw, out);                           \
            } else if (kw_hi > kw_lo) {                                                         \
                block_##SUFFIX(a, n, oh, ow, 1, nc, kw_lo, kw_hi, out);                         \
            } else {                                                                            \
                for (int c = 0; c < nc; c++)                                                    \
                    out[0][c] = 0.0f;                                                           \
            }                                                                                   \
            for (int p = 0; p < np; p++, ow++)                                                  \
                for (int c = 0; c < nc; c++) {                                                  \
                    float v = out[p][c] + (a->b ? a->b[c] : 0.0f);                              \
                    y[ow * nc + c] = a->relu && !(v > 0.0f) ? 0.0f : v;                         \
                }                                                                               \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    __attribute__((target(TARGET))) static void rows_##SUFFIX(const nst__conv_direct_args *a,  \
                                                              int64_t r0, int64_t r1) {         \
        for (int64_t r = r0; r < r1; r++)                                                       \
            switch (a->cout) {                                                                  \
            case 1:                                                                             \
                row_nc_##SUFFIX(a, r, 1);                                                       \
                break;                                                                          \
            case 2:                                                                             \
                row_nc_##SUFFIX(a, r, 2);                                                       \
                break;                                                                          \
            case 3:                                                                             \
                row_nc_##SUFFIX(a, r, 3);                                                       \
                break;                                                                          \
            default:                                                                            \
                row_nc_##SUFFIX(a, r, 4);                                                       \
                break;                                                                          \
            }                                                                                   \
    }

NST__DIRECT_VARIANT(avx2, 8, "avx2,fma")
NST__DIRECT_VARIANT(avx512, 16, "avx512f")

#endif

void nst__conv_direct_rows(const nst__conv_direct_args *a, int64_t r0, int64_t r1) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (nst__cpu_simd() == NST__CPU_SIMD_AVX512)
        rows_avx512(a, r0, r1);
    else
        rows_avx2(a, r0, r1);
#else
    (void)a, (void)r0, (void)r1; /* never chosen: nst__conv_direct_applies() is false */
#endif
}
