/* What the CPU emulation's files share (test_kernel_emul.c and the emul_*.c files it links):
 * how a grid is walked (grid order, reverse order, scalar path, a 2-block grid), the 1-D
 * grid-stride walk, exact-size heap buffers, instance norm's finalize kernel, and the launchers
 * of the optimiser, spatial-transformer, Gram, loss and colour ops emulated, one file per op
 * family. test_kernel_emul.c dispatches to them and compares each with its CPU op. */
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
#include "nstyle/nstyle.h"

/* How a grid is walked. */
typedef struct {
    bool reverse;       /* blocks and the threads of every phase in reverse order */
    bool scalar;        /* vector width 1 whatever the launcher would choose */
    int64_t max_blocks; /* > 0: grid-stride kernels get at most this many blocks */
} emul_mode;

static inline int64_t at(int64_t i, int64_t n, bool reverse) {
    return reverse ? n - 1 - i : i;
}

/* Every thread of a 1-D grid-stride kernel's grid for `work` items runs BODY. */
#define EMUL_1D(m, BODY, work, argp)                                                     \
    do {                                                                                 \
        nst_k_grid g_ = nst_k_grid_for(work);                                            \
        if ((m)->max_blocks > 0 && g_.blocks > (m)->max_blocks)                          \
            g_.blocks = (m)->max_blocks;                                                 \
        for (int64_t bi = 0; bi < g_.blocks; bi++)                                       \
            for (int ti = 0; ti < g_.threads; ti++)                                      \
                BODY(at(bi, g_.blocks, (m)->reverse), (int)at(ti, g_.threads, (m)->reverse), \
                     g_.threads, g_.blocks, argp);                                       \
    } while (0)

#define EMUL_FLAT(m, NAME, k)                                                            \
    do {                                                                                 \
        if ((m)->scalar)                                                                 \
            (k).v = 1;                                                                   \
        EMUL_1D(m, NAME##_body, nst_k_flat_work(&(k)), &(k));                            \
    } while (0)

static inline void fill_nan(double *sm, int n) {
    for (int i = 0; i < n; i++)
        sm[i] = NAN;
}

/* An exact-size heap buffer (scratch, shared memory, per-thread registers), so that
 * AddressSanitizer sees an access past it; the test fails when memory runs out. */
static inline void *emul_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    cr_assert_not_null(p);
    return p;
}

#define F(t) ((float *)(t)->data)
#define CF(t) ((t) ? (const float *)(t)->data : NULL)
#define OF(t) ((t) ? (float *)(t)->data : NULL)

/* instance_norm.cu's finalize kernel for k->mode over its grid, phase by phase
 * (emul_norm_finalize.c). */
void emul_norm_finalize(const emul_mode *m, const nst_k_norm *k);

/* A pass-1 reduction kernel (reduce.cuh's, or mse.cuh's and tv.cuh's for the losses) over its
 * grid of r->blocks blocks, phase by phase: LOAD(block, thread, threads, blocks, argp, sm),
 * then reduce.cuh's tree and store. */
#define EMUL_PARTIAL(m, LOAD, argp, r)                                                  \
    do {                                                                                \
        enum { T_ = NST_K_REDUCE_THREADS };                                             \
        double sm_[T_];                                                                 \
        for (int64_t bi = 0; bi < (r)->blocks; bi++) {                                  \
            const int64_t b_ = at(bi, (r)->blocks, (m)->reverse);                       \
            fill_nan(sm_, T_);                                                          \
            for (int ti = 0; ti < T_; ti++)                                             \
                LOAD(b_, (int)at(ti, T_, (m)->reverse), T_, (r)->blocks, argp, sm_);    \
            for (int s_ = T_ / 2; s_ > 0; s_ /= 2)                                      \
                for (int ti = 0; ti < T_; ti++)                                         \
                    nst_k_tree_step((int)at(ti, T_, (m)->reverse), 0, 1, s_, sm_);      \
            for (int ti = 0; ti < T_; ti++)                                             \
                nst_k_reduce_store(b_, (int)at(ti, T_, (m)->reverse), r, sm_);          \
        }                                                                               \
    } while (0)

/* emul_reduce.c: reduce.cuh's final kernel (one block) phase by phase, and reduce.cu's two
 * passes (the scalar path when m->scalar). */
void emul_reduce_final(const emul_mode *m, const nst_k_reduce *r);
void emul_reduce(const emul_mode *m, nst_k_reduce *k);

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
