/* What the CPU emulation's files share (test_kernel_emul.c and the emul_*.c files it links): the
 * modes a case runs in (block and thread orders, the scalar path, a 2-block grid), launching a
 * kernel of src/kernels/ under the CUDA-on-CPU shim (tests/cushim/) in a mode, the grid of a
 * grid-stride kernel, scratch buffers the shim watches, and the launchers of the op families
 * emulated in files of their own. Each emulated launcher does what its src/kernels/<family>.cu
 * launcher does (the kernels in the same sequence on the same grids, the same scratch layout,
 * a memset for a cudaMemsetAsync, a memcpy for an upload), with the real kernels. */
#ifndef NSTYLE_TEST_EMUL_H
#define NSTYLE_TEST_EMUL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../src/kernels/instance_norm.cuh"
#include "../../src/kernels/kernel_common.cuh"
#include "../../src/kernels/reduce.cuh"
#include "cushim_api.h"
#include "nstyle/nstyle.h"

/* How a case's launches run. */
typedef struct {
    const char *name;       /* "grid order", for messages */
    cushim_order blocks;    /* the order of each launch's blocks */
    cushim_order threads;   /* the order the threads of a block resume in after each barrier */
    bool scalar;            /* vector width 1 whatever the launcher would choose */
    int64_t max_blocks;     /* > 0: grid-stride kernels get at most this many blocks */
} emul_mode;

/* The seed of the shuffled orders: $NST_EMUL_SEED (decimal or 0x hex) when set, else fixed. */
uint64_t emul_seed(void);

/* Launches kernel K (its name) on `blocks` blocks of `threads` threads with the argument struct
 * *argp, in mode m's orders, the race detector on. */
void emul_kernel(const emul_mode *m, const char *kernel, int64_t blocks, int threads,
                 const void *arg, size_t arg_size);
#define EMUL_K(m, K, blocks, threads, argp)                                              \
    emul_kernel((m), #K, (blocks), (threads), (argp), sizeof *(argp))

/* The grid of a grid-stride kernel over `work` items: the launchers' nst_k_grid_for, cut to
 * m->max_blocks blocks. */
nst_k_grid emul_grid(const emul_mode *m, int64_t work);

/* NST_K_LAUNCH_1D: the grid-stride kernel NAME_kernel over `work` items (nothing when there is
 * no block). */
#define EMUL_1D(m, NAME, work, argp)                                                     \
    do {                                                                                 \
        const nst_k_grid g_ = emul_grid((m), (work));                                    \
        if (g_.blocks > 0)                                                               \
            EMUL_K(m, NAME##_kernel, g_.blocks, g_.threads, argp);                       \
    } while (0)

/* NST_K_LAUNCH_FLAT: the flat kernel NAME_kernel over k (nst_k_flat), the scalar path in a
 * scalar mode. */
#define EMUL_FLAT(m, NAME, k)                                                            \
    do {                                                                                 \
        if ((m)->scalar)                                                                 \
            (k).v = 1;                                                                   \
        EMUL_1D(m, NAME, nst_k_flat_work(&(k)), &(k));                                   \
    } while (0)

/* Scratch of `bytes` (a launcher's nst__scratch_take), bytes 0xff, with guard zones the shim
 * watches, tracked as global memory named `what`; the test fails when memory runs out. */
void *emul_scratch(size_t bytes, const char *what);
void emul_scratch_free(void *p);

#define F(t) ((float *)(t)->data)
#define CF(t) ((t) ? (const float *)(t)->data : NULL)
#define OF(t) ((t) ? (float *)(t)->data : NULL)

/* instance_norm.cu's finalize kernel for k->mode (emul_norm_finalize.c). */
void emul_norm_finalize(const emul_mode *m, const nst_k_norm *k);

/* reduce.cu's two passes (emul_reduce.c), the scalar path when m->scalar; and its final kernel
 * alone, which the MSE and TV losses launch too. */
void emul_reduce(const emul_mode *m, nst_k_reduce *k);
void emul_reduce_final(const emul_mode *m, const nst_k_reduce *r);

/* The launchers of the ops below over params in host memory, emulated: each kernel of the
 * launcher's sequence over its whole grid. */
/* emul_adam.c: the fused Adam step. */
void emul_adam(const nst_adam_params *p, const emul_mode *m);
/* emul_affine_grid.c: op is NST_OP_AFFINE_GRID_FORWARD or _BACKWARD. */
void emul_affine_grid(nst_op op, const nst_affine_grid_params *p, const emul_mode *m);
/* emul_grid_sample.c: the backward takes the atomic dx path, or the deterministic one (the
 * CPU's bits); dgrid is the same on both. Whether dgrid has the CPU op's bits: only with one
 * channel lane (more lanes add their partials by a tree). */
void emul_grid_sample_forward(const nst_grid_sample_params *p, const emul_mode *m);
void emul_grid_sample_backward(const nst_grid_sample_params *p, const emul_mode *m,
                               bool deterministic);
bool emul_grid_sample_dgrid_exact(const nst_grid_sample_params *p);
/* emul_gram.c: op is NST_OP_GRAM_FORWARD or _BACKWARD. */
void emul_gram(nst_op op, const nst_gram_params *p, const emul_mode *m);
/* emul_mse_tv.c: op is NST_OP_MSE_FORWARD / _BACKWARD, NST_OP_TV_FORWARD / _BACKWARD. */
void emul_mse(nst_op op, const nst_mse_params *p, const emul_mode *m);
void emul_tv(nst_op op, const nst_tv_params *p, const emul_mode *m);
/* emul_colour.c: op is NST_OP_RGB_TO_YUV / _YUV_TO_RGB (nst_colour_params) or
 * NST_OP_INPUT_CONVERT_FORWARD / _BACKWARD (nst_input_convert_params). */
void emul_colour(nst_op op, const void *params, const emul_mode *m);

#endif
