/* colour.cu's launchers emulated (emul.h): RGB <-> YUV and the input-convention conversion
 * forward and backward, each a 1-D grid-stride kernel over the pixels. Run by
 * tests/emul/test_kernel_emul.c over the shared and extra colour cases (every input
 * convention, accumulation), compared bit for bit with the CPU op. */
#include <string.h>

#include "../../src/kernels/colour.cuh"
#include "emul.h"

static nst_k_colour colour_args(const nst_tensor *x, nst_tensor *y) {
    nst_k_colour k;
    memset(&k, 0, sizeof k);
    k.x = CF(x), k.y = OF(y), k.pixels = nst_tensor_numel(x) / 3;
    return k;
}

void emul_colour(nst_op op, const void *params, const emul_mode *m) {
    if (op == NST_OP_RGB_TO_YUV || op == NST_OP_YUV_TO_RGB) {
        const nst_colour_params *p = params;
        nst_k_colour k = colour_args(p->x, p->y);
        nst_k_colour_matrix(op == NST_OP_RGB_TO_YUV, k.m);
        EMUL_1D(m, nst_k_colour_3x3, k.pixels, &k);
        return;
    }
    const nst_input_convert_params *p = params;
    const bool fwd = op == NST_OP_INPUT_CONVERT_FORWARD;
    if (!fwd && !p->dx)
        return;
    nst_k_colour k = fwd ? colour_args(p->x, p->y) : colour_args(p->dy, p->dx);
    k.s0 = p->swap_rb ? 2 : 0, k.s2 = p->swap_rb ? 0 : 2;
    if (fwd) {
        k.mul = p->mul;
        for (int c = 0; c < 3; c++)
            k.mean[c] = p->mean[c], k.std[c] = p->std[c];
        EMUL_1D(m, nst_k_convert_forward, k.pixels, &k);
    } else {
        for (int c = 0; c < 3; c++)
            k.k[c] = p->mul / p->std[c];
        k.accumulate = p->accumulate;
        EMUL_1D(m, nst_k_convert_backward, k.pixels, &k);
    }
}
