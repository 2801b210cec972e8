/* CUDA colour ops: RGB <-> YUV (BT.601, scikit-image's matrices) and the input-convention
 * conversion with its backward (semantics of src/cpu/colour.c, bit for bit). Launch shape: a
 * 1-D grid-stride grid of 256-thread blocks, one thread per pixel (3 floats in, 3 out),
 * coalesced. The per-pixel math lives in colour.cuh, which the CPU emulation (tests/emul/) runs
 * over this same grid; parity on a GPU: tests/parity/. */
#include <string.h>

#include "colour.cuh"
#include "kernel_launch.cuh"

NST_K_GLOBAL(nst_k_colour_3x3, nst_k_colour)
NST_K_GLOBAL(nst_k_convert_forward, nst_k_colour)
NST_K_GLOBAL(nst_k_convert_backward, nst_k_colour)

static nst_k_colour kernel_args(const nst_tensor *x, nst_tensor *y) {
    nst_k_colour k;
    memset(&k, 0, sizeof k);
    k.x = (const float *)x->data;
    k.y = (float *)y->data;
    k.pixels = nst_tensor_numel(x) / 3;
    return k;
}

static nst_status colour_3x3(nst_ctx *ctx, const void *params, bool to_yuv) {
    const nst_colour_params *p = (const nst_colour_params *)params;
    nst_k_colour k = kernel_args(p->x, p->y);
    nst_k_colour_matrix(to_yuv, k.m);
    NST_K_LAUNCH_1D(ctx, to_yuv ? "rgb_to_yuv" : "yuv_to_rgb", nst_k_colour_3x3, k.pixels, k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_rgb_to_yuv(nst_ctx *ctx, const void *params) {
    return colour_3x3(ctx, params, true);
}

extern "C" nst_status nst__cuda_yuv_to_rgb(nst_ctx *ctx, const void *params) {
    return colour_3x3(ctx, params, false);
}

extern "C" nst_status nst__cuda_input_convert_forward(nst_ctx *ctx, const void *params) {
    const nst_input_convert_params *p = (const nst_input_convert_params *)params;
    nst_k_colour k = kernel_args(p->x, p->y);
    k.s0 = p->swap_rb ? 2 : 0, k.s2 = p->swap_rb ? 0 : 2;
    k.mul = p->mul;
    for (int c = 0; c < 3; c++)
        k.mean[c] = p->mean[c], k.std[c] = p->std[c];
    NST_K_LAUNCH_1D(ctx, "input_convert_forward", nst_k_convert_forward, k.pixels, k);
    return NST_OK;
}

extern "C" nst_status nst__cuda_input_convert_backward(nst_ctx *ctx, const void *params) {
    const nst_input_convert_params *p = (const nst_input_convert_params *)params;
    if (!p->dx)
        return NST_OK;
    nst_k_colour k = kernel_args(p->dy, p->dx);
    k.s0 = p->swap_rb ? 2 : 0, k.s2 = p->swap_rb ? 0 : 2;
    for (int c = 0; c < 3; c++)
        k.k[c] = p->mul / p->std[c];
    k.accumulate = p->accumulate;
    NST_K_LAUNCH_1D(ctx, "input_convert_backward", nst_k_convert_backward, k.pixels, k);
    return NST_OK;
}
