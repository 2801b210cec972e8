/* Every CUDA kernel of src/kernels/, compiled for the host under the shim (cushim.h): the
 * <family>.cuh headers as they are (their __global__ kernels compile where NST_K_KERNELS is 1),
 * then cushim_kernels.inc, which tests/emul/emul.cmake writes at configure time from the sources:
 * the __global__ wrapper lines of each <family>.cu (NST_K_GLOBAL, NST_K_FLAT_GLOBAL), copied as
 * they are, and the shim's table of every kernel found (those wrappers, each `__global__ void
 * name(` of a header, each NST_K_LOSS_PARTIAL_KERNEL). Built with -fsanitize=thread for the race
 * detector's hooks (cushim.cpp) and -ffp-contract=off (no fused multiply-add the CPU op lacks).
 * Used by tests/emul/test_kernel_emul.c, which launches each kernel by name over the op cases and
 * fails on a kernel of the table that no case launched. */
#include "cushim.h"

#include "../../src/kernels/adam.cuh"
#include "../../src/kernels/affine_grid.cuh"
#include "../../src/kernels/colour.cuh"
#include "../../src/kernels/eltwise.cuh"
#include "../../src/kernels/global_pool.cuh"
#include "../../src/kernels/gram.cuh"
#include "../../src/kernels/grid_sample.cuh"
#include "../../src/kernels/instance_norm.cuh"
#include "../../src/kernels/kernel_common.cuh"
#include "../../src/kernels/mse.cuh"
#include "../../src/kernels/pool.cuh"
#include "../../src/kernels/reduce.cuh"
#include "../../src/kernels/reflect_pad.cuh"
#include "../../src/kernels/relu.cuh"
#include "../../src/kernels/sigmoid.cuh"
#include "../../src/kernels/tv.cuh"
#include "../../src/kernels/upsample.cuh"

#include "cushim_kernels.inc"
