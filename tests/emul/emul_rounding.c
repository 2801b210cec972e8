/* Why the grid-sampling kernels must round as the CPU does: src/math/grid_math.h unnormalises a
 * grid coordinate as ((coord + 1) * size - 1) / 2, rounding the product and the difference
 * apart (C11 in ISO mode does not contract). nvcc contracts the two into one FMA unless told
 * not to; one rounding instead of two is usually an ulp away, but the border clip compares the
 * result with 0 and size - 1 exactly. An identity affine grid (an STN's starting point) puts
 * the first pixel's coordinate where the two roundings fall on either side of that border, so
 * the gradient multiplier is 0 on the CPU and 1 with an FMA, and dgrid changes from 0 to a full
 * value. The emulation cannot see contraction (it is the CPU's arithmetic); tests/ptx/ checks
 * the kernels' PTX, and the identity-grid extra case (extra_cases.c) checks it on a GPU. */
#include <criterion/criterion.h>
#include <math.h>

#include "math/grid_math.h"

Test(kernel_rounding, one_rounding_moves_an_identity_grid_point_off_the_border_clip) {
    const int W = 97;
    const float coord = nst__affine_base(0, W, false); /* identity theta, first column */

    float mult = -1.0f;
    const float ix = nst__grid_source_index(coord, W, NST_PAD_BORDER, false, &mult);
    cr_assert(ix == 0.0f && mult == 0.0f,
              "the CPU's two roundings put the point on the border: ix %a, multiplier %g", ix,
              (double)mult);

    /* the same unnormalising with one rounding, as a contracted multiply-add computes it */
    const float fused = fmaf(coord + 1, (float)W, -1.0f) / 2;
    float clip = -1.0f;
    const float fused_ix = nst__grid_clip(fused, W, &clip);
    cr_assert(fused_ix == 0x1p-25f && clip == 1.0f,
              "one rounding lands inside: ix %a, clip multiplier %g", fused_ix, (double)clip);
}
