/* Colour ops' per-pixel math (src/kernels/colour.cu launches it; the CPU emulation runs it over
 * the same grid). Semantics of src/cpu/colour.c, bit for bit:
 *   RGB <-> YUV  BT.601 as scikit-image; each output the double sum of three double products
 *                in the CPU's order, stored as float (the matrices come from the launcher);
 *   input conversion forward  y[c] = (float)((x[s(c)] * mul - mean[c]) / std[c]) in double,
 *                s(c) = swap_rb ? 2 - c : c;
 *   backward     dx[s(c)] = dy[c] * k[c] with k[c] = mul / std[c] in float (+= with accumulate).
 * Launch shape: 1-D grid-stride over pixels, one thread per pixel reading its 3 floats and
 * writing 3 (a warp covers 384 consecutive bytes: coalesced); y may alias x (every read of a
 * pixel comes before its writes, in one thread).
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_COLOUR_CUH
#define NSTYLE_COLOUR_CUH

#include "kernel_common.cuh"

#if defined(__CUDA_ARCH__)
#define NST_K_DDIV(a, b) __ddiv_rn((a), (b))
#else
#define NST_K_DDIV(a, b) ((a) / (b))
#endif

typedef struct {
    const float *x;  /* (pixels, 3): the colour ops' x, input_convert's x (forward) or dy */
    float *y;        /* (pixels, 3): y, or dx (backward) */
    int64_t pixels;
    double m[9];     /* RGB <-> YUV: row-major 3 x 3 */
    double mul, mean[3], std[3]; /* input conversion, forward */
    float k[3];      /* input conversion, backward: mul / std[c] */
    int s0, s2;      /* source channels of outputs 0 and 2 (swap_rb) */
    int accumulate;
} nst_k_colour;

/* The 3 x 3 matrix, row-major: skimage.color.colorconv.yuv_from_rgb, or rgb_from_yuv =
 * numpy.linalg.inv(yuv_from_rgb) with every digit kept (the values of src/cpu/colour.c). */
static inline void nst_k_colour_matrix(bool to_yuv, double *m) { /* host only */
    static const double yuv[9] = {0.299,       0.587,       0.114,       -0.14714119, -0.28886916,
                                  0.43601035,  0.61497538,  -0.51496512, -0.10001026};
    static const double rgb[9] = {1.0000000000000002, -4.182779605511789e-09,
                                  1.1398830297637945, 1.0,
                                  -0.3946423339441288, -0.5806218496761879,
                                  1.0000000000000002, 2.0320618532969705,
                                  -1.2232658219701875e-09};
    for (int i = 0; i < 9; i++)
        m[i] = to_yuv ? yuv[i] : rgb[i];
}

NST_HDI double nst_k_dot3(const double *m, double a, double b, double c) {
    return NST_DADD(NST_DADD(NST_DMUL(m[0], a), NST_DMUL(m[1], b)), NST_DMUL(m[2], c));
}

/* y = M x per pixel. */
NST_HDI void nst_k_colour_3x3_body(int64_t block, int thread, int threads, int64_t blocks,
                                   const nst_k_colour *p) {
    const int64_t stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < p->pixels; i += stride) {
        const double a = p->x[3 * i], b = p->x[3 * i + 1], c = p->x[3 * i + 2];
        const float r0 = (float)nst_k_dot3(p->m, a, b, c);
        const float r1 = (float)nst_k_dot3(p->m + 3, a, b, c);
        const float r2 = (float)nst_k_dot3(p->m + 6, a, b, c);
        p->y[3 * i] = r0, p->y[3 * i + 1] = r1, p->y[3 * i + 2] = r2;
    }
}

NST_HDI float nst_k_convert_lane(double v, double mul, double mean, double std) {
    return (float)NST_K_DDIV(NST_DADD(NST_DMUL(v, mul), -mean), std);
}

/* Input conversion forward. */
NST_HDI void nst_k_convert_forward_body(int64_t block, int thread, int threads, int64_t blocks,
                                        const nst_k_colour *p) {
    const int64_t stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < p->pixels; i += stride) {
        const float *xi = p->x + 3 * i;
        const double a = xi[p->s0], b = xi[1], c = xi[p->s2];
        const float r0 = nst_k_convert_lane(a, p->mul, p->mean[0], p->std[0]);
        const float r1 = nst_k_convert_lane(b, p->mul, p->mean[1], p->std[1]);
        const float r2 = nst_k_convert_lane(c, p->mul, p->mean[2], p->std[2]);
        float *yi = p->y + 3 * i;
        yi[0] = r0, yi[1] = r1, yi[2] = r2;
    }
}

/* Input conversion backward (x = dy, y = dx). */
NST_HDI void nst_k_convert_backward_body(int64_t block, int thread, int threads, int64_t blocks,
                                         const nst_k_colour *p) {
    const int64_t stride = nst_k_stride(blocks, threads);
    for (int64_t i = nst_k_first(block, thread, threads); i < p->pixels; i += stride) {
        const float g0 = NST_FMUL(p->x[3 * i], p->k[0]), g1 = NST_FMUL(p->x[3 * i + 1], p->k[1]);
        const float g2 = NST_FMUL(p->x[3 * i + 2], p->k[2]);
        float *di = p->y + 3 * i;
        di[p->s0] = p->accumulate ? NST_FADD(di[p->s0], g0) : g0;
        di[1] = p->accumulate ? NST_FADD(di[1], g1) : g1;
        di[p->s2] = p->accumulate ? NST_FADD(di[p->s2], g2) : g2;
    }
}

#endif
