/* Sigmoid's per-element math (src/kernels/sigmoid.cu launches it; the CPU emulation runs it over
 * the same grid). Semantics of src/cpu/sigmoid.c, computed in double and rounded once:
 *   forward  y = x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) (never overflows; NaN stays);
 *   backward dx = dy * y * (1 - y) from the forward output y (a = y, b = dy).
 * Launch shape and access: the flat kernel of kernel_common.cuh (one thread per float4,
 * grid-stride, coalesced; y may alias x, dx may alias dy). backward gives the CPU's bits (its
 * products never contract: NST_DMUL); forward's double exp is libdevice's on a GPU (within an
 * ulp of double, not glibc's), so it claims the fp32 tolerance there and the CPU's bits only on
 * the host, where exp is the CPU op's own.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_SIGMOID_CUH
#define NSTYLE_SIGMOID_CUH

#include <math.h>

#include "kernel_common.cuh"

NST_HDI float nst_k_sigmoid_of(float x) {
    const double v = x;
    return (float)(v >= 0.0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v)));
}

NST_HDI float nst_k_sigmoid_grad(float y, float g) {
    return (float)NST_DMUL(NST_DMUL((double)g, (double)y), 1.0 - (double)y);
}

NST_K_FLAT_KERNEL(nst_k_sigmoid_forward, false, false, nst_k_sigmoid_of(x))
NST_K_FLAT_KERNEL(nst_k_sigmoid_backward, true, false, nst_k_sigmoid_grad(x, g))

#endif
