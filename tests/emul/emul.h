/* What the CPU emulation's files share (test_kernel_emul.c, emul_stn_loss_ops.c,
 * emul_norm_finalize.c): how a grid is walked (grid order, reverse order, scalar path, a 2-block
 * grid), the 1-D grid-stride walk, instance norm's finalize kernel, and the launchers of the
 * optimiser, spatial-transformer, loss and colour ops emulated. */
#ifndef NSTYLE_TEST_EMUL_H
#define NSTYLE_TEST_EMUL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../src/kernels/instance_norm.cuh"
#include "../../src/kernels/kernel_common.cuh"
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

#define F(t) ((float *)(t)->data)
#define CF(t) ((t) ? (const float *)(t)->data : NULL)
#define OF(t) ((t) ? (float *)(t)->data : NULL)

/* instance_norm.cu's finalize kernel for k->mode over its grid, phase by phase
 * (emul_norm_finalize.c). */
void emul_norm_finalize(const emul_mode *m, const nst_k_norm *k);

/* The launcher of op (Adam, affine grid, grid sample, Gram, MSE, TV, colour ops) over params
 * in host memory, emulated; false for another op. grid_sample_backward takes the deterministic
 * dx path here (the CPU's bits); emul_grid_sample_backward runs either path. */
bool emul_launch_stn_loss(nst_op op, const void *params, const emul_mode *m);
void emul_grid_sample_backward(const nst_grid_sample_params *p, const emul_mode *m,
                               bool deterministic);
/* Whether the emulated kernels give the CPU op's bits in output `arg` of op over params. */
bool emul_exact_stn_loss(nst_op op, const void *params, const char *arg);

#endif
