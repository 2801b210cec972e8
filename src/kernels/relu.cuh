/* ReLU's per-element math and thread loops (src/kernels/relu.cu launches them; the CPU emulation
 * runs them over the same grid). Semantics of src/cpu/relu.c: y = x < 0 ? 0 : x (NaN passes),
 * dx = x > 0 ? dy : 0. Launch shape and access: the flat kernel of kernel_common.cuh (one thread
 * per float4, grid-stride, coalesced; y may alias x, dx may alias dy).
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_RELU_CUH
#define NSTYLE_RELU_CUH

#include "kernel_common.cuh"

NST_K_FLAT_KERNEL(nst_k_relu_forward, false, false, x < 0.0f ? 0.0f : x)
NST_K_FLAT_KERNEL(nst_k_relu_backward, true, false, x > 0.0f ? g : 0.0f)

#endif
