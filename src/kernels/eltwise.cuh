/* The elementwise ops' per-element math and thread loops (src/kernels/eltwise.cu launches them;
 * the CPU emulation runs them over the same grid). Semantics of src/cpu/eltwise.c and clamp.c:
 *   add y = a + b;  scale y = alpha * x;  axpy y = y + alpha * x (product rounded first, as the
 *   CPU's saxpy loop; never a fused multiply-add);  clamp y = x < lo ? lo : (x > hi ? hi : x).
 * Launch shape and access: the flat kernel of kernel_common.cuh (one thread per float4,
 * grid-stride, coalesced; y may alias x). Every op is exact: the GPU gives the CPU's bits.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_ELTWISE_CUH
#define NSTYLE_ELTWISE_CUH

#include "kernel_common.cuh"

NST_K_FLAT_KERNEL(nst_k_add, true, false, x + g)
NST_K_FLAT_KERNEL(nst_k_scale, false, false, NST_FMUL(p->alpha, x))
NST_K_FLAT_KERNEL(nst_k_axpy, false, true, NST_FADD(yv, NST_FMUL(p->alpha, x)))
NST_K_FLAT_KERNEL(nst_k_clamp, false, false, x < p->lo ? p->lo : (x > p->hi ? p->hi : x))

#endif
