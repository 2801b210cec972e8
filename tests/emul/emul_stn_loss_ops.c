/* CPU emulation of the optimiser, spatial-transformer, loss and colour kernels (adam.cuh,
 * affine_grid.cuh, grid_sample.cuh, gram.cuh, mse.cuh, tv.cuh, colour.cuh): each launcher's
 * sequence of kernels over its whole grid, every block and thread, phase by phase for the
 * shared-memory kernels (a barrier = the end of a loop over the block's threads), per-thread
 * registers kept in arrays between phases, shared memory starting as NaN (or a sentinel for
 * ints), scratch in exact-size heap buffers laid out as the launcher lays it out. Host-to-device
 * uploads (Adam's table) and cudaMemsetAsync become memcpy and memset. Atomics are plain adds
 * here (one thread at a time; grid_sample.cuh says so); the reverse-order mode checks that the
 * deterministic paths do not depend on the order the GPU's threads take.
 * Run by tests/emul/test_kernel_emul.c over the shared and extra op cases. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/kernels/adam.cuh"
#include "../../src/kernels/affine_grid.cuh"
#include "../../src/kernels/colour.cuh"
#include "../../src/kernels/grid_sample.cuh"
#include "../../src/kernels/gram.cuh"
#include "../../src/kernels/mse.cuh"
#include "../../src/kernels/tv.cuh"
#include "emul.h"

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    cr_assert_not_null(p);
    return p;
}

/* reduce.cuh's final kernel (one block), phase by phase. */
static void emul_reduce_final(const emul_mode *m, const nst_k_reduce *r) {
    enum { T = NST_K_REDUCE_THREADS };
    double sm[T];
    fill_nan(sm, T);
    for (int ti = 0; ti < T; ti++)
        nst_k_reduce_final_load((int)at(ti, T, m->reverse), T, r, sm);
    for (int s = T / 2; s > 0; s /= 2)
        for (int ti = 0; ti < T; ti++)
            nst_k_tree_step((int)at(ti, T, m->reverse), 0, 1, s, sm);
    for (int ti = 0; ti < T; ti++)
        nst_k_reduce_final_store((int)at(ti, T, m->reverse), r, sm);
}

/* A pass-1 reduction kernel of mse.cuh / tv.cuh: LOAD(block, thread, threads, blocks, argp, sm)
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

static void emul_adam(const nst_adam_params *p, const emul_mode *m) {
    if (p->n_slots == 0)
        return;
    /* the launcher's upload: the header and the table rows into the scratch layout */
    char *scratch = xmalloc(nst_k_adam_scratch(p->n_slots));
    nst_k_adam_head head = {.step = p->step};
    memcpy(scratch, &head, sizeof head);
    nst_k_adam_slot *table = (nst_k_adam_slot *)(scratch + nst_k_adam_slots_offset());
    int64_t chunks = 0;
    for (int i = 0; i < p->n_slots; i++) {
        nst_k_adam_slot row = nst_k_adam_row(&p->slots[i], chunks);
        if (m->scalar)
            row.vec = 1;
        chunks += nst_k_adam_slot_chunks(row.n);
        memcpy(&table[i], &row, sizeof row);
    }
    const nst_k_adam k = {.head = (const nst_k_adam_head *)scratch, .slots = table,
                          .chunks = chunks, .n_slots = p->n_slots};
    nst_k_grid g = nst_k_adam_grid(&k);
    if (m->max_blocks > 0 && g.blocks > m->max_blocks)
        g.blocks = m->max_blocks;
    for (int64_t bi = 0; bi < g.blocks; bi++)
        for (int ti = 0; ti < g.threads; ti++)
            nst_k_adam_body(at(bi, g.blocks, m->reverse), (int)at(ti, g.threads, m->reverse),
                            g.threads, g.blocks, &k);
    free(scratch);
}

static void emul_affine_backward(const nst_affine_grid_params *p, const emul_mode *m) {
    if (!p->dtheta)
        return;
    enum { T = NST_K_AFFINE_THREADS };
    const int64_t *s = p->dgrid->shape;
    nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
    k.dgrid = CF(p->dgrid), k.dtheta = OF(p->dtheta);
    k.part = xmalloc(nst_k_affine_scratch(s[0], s[1], s[2]));
    double *sm = xmalloc(6 * T * sizeof *sm);
    const int64_t blocks = nst_k_affine_partial_blocks(&k);
    for (int64_t bi = 0; bi < blocks; bi++) {
        const int64_t b = at(bi, blocks, m->reverse);
        fill_nan(sm, 6 * T);
        for (int ti = 0; ti < T; ti++)
            nst_k_affine_partial_load(b, (int)at(ti, T, m->reverse), &k, sm);
        for (int st = T / 2; st > 0; st /= 2)
            for (int ti = 0; ti < T; ti++)
                nst_k_affine_partial_step((int)at(ti, T, m->reverse), st, sm);
        for (int ti = 0; ti < T; ti++)
            nst_k_affine_partial_store(b, (int)at(ti, T, m->reverse), &k, sm);
    }
    EMUL_1D(m, nst_k_affine_final_body, s[0] * 6, &k);
    free(sm);
    free(k.part);
}

static nst_k_gs gs_args(const nst_grid_sample_params *p) {
    const int64_t *xs = p->x->shape, *gs = p->grid->shape;
    return nst_k_gs_make(CF(p->x), CF(p->grid), xs[0], xs[1], xs[2], xs[3], gs[1], gs[2],
                         (int)p->padding, p->align_corners);
}

static void emul_gs_forward(const nst_grid_sample_params *p, const emul_mode *m) {
    nst_k_gs k = gs_args(p);
    k.y = OF(p->y);
    const int64_t blocks = nst_k_gs_blocks(&k, k.N * k.Ho * k.Wo);
    for (int64_t bi = 0; bi < blocks; bi++)
        for (int ti = 0; ti < NST_K_GS_THREADS; ti++)
            nst_k_gs_forward_body(at(bi, blocks, m->reverse),
                                  (int)at(ti, NST_K_GS_THREADS, m->reverse), &k);
}

static void fill_int(int *sm, int n) {
    for (int i = 0; i < n; i++)
        sm[i] = 0x7f7f7f7f; /* a sentinel: a sum that read it shows */
}

/* The deterministic dx kernels: count, scan (three kernels), fill, gather. */
static void emul_gs_deterministic_dx(nst_k_gs k, float *dx, const emul_mode *m) {
    enum { T = NST_K_GS_THREADS };
    const int64_t inputs = k.N * k.H * k.W, outputs = k.N * k.Ho * k.Wo;
    cr_assert(nst_k_gs_keys_fit(outputs));
    void *scratch = xmalloc(nst_k_gs_layout_make(inputs, outputs).total);
    nst_k_gs_set_scratch(&k, scratch);
    k.dx = NULL, k.dx_gather = dx;
    memset(k.count, 0, (size_t)inputs * sizeof(int));
    EMUL_1D(m, nst_k_gs_count_body, outputs, &k);
    int sm[T];
    for (int64_t bi = 0; bi < k.tiles; bi++) {
        const int64_t b = at(bi, k.tiles, m->reverse);
        fill_int(sm, T);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_scan_load(b, (int)at(ti, T, m->reverse), &k, sm);
        for (int s = T / 2; s > 0; s /= 2)
            for (int ti = 0; ti < T; ti++)
                nst_k_gs_scan_step((int)at(ti, T, m->reverse), s, sm);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_scan_store(b, (int)at(ti, T, m->reverse), &k, sm);
    }
    nst_k_gs_scan_tiles(&k);
    for (int64_t bi = 0; bi < k.tiles; bi++) {
        const int64_t b = at(bi, k.tiles, m->reverse);
        fill_int(sm, T);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_scan_load(b, (int)at(ti, T, m->reverse), &k, sm);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_scan_offsets((int)at(ti, T, m->reverse), sm);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_scan_apply(b, (int)at(ti, T, m->reverse), &k, sm);
    }
    EMUL_1D(m, nst_k_gs_fill_body, outputs, &k);
    const int64_t blocks = nst_k_gs_blocks(&k, inputs);
    for (int64_t bi = 0; bi < blocks; bi++) {
        const int64_t b = at(bi, blocks, m->reverse);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_gather_sort(b, (int)at(ti, T, m->reverse), &k);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_gather_sum(b, (int)at(ti, T, m->reverse), &k);
    }
    free(scratch);
}

void emul_grid_sample_backward(const nst_grid_sample_params *p, const emul_mode *m,
                               bool deterministic) {
    enum { T = NST_K_GS_THREADS };
    nst_k_gs k = gs_args(p);
    k.dy = CF(p->dy), k.dgrid = OF(p->dgrid);
    float *dx = OF(p->dx);
    if (dx && !deterministic) {
        memset(dx, 0, nst_tensor_bytes(p->dx));
        k.dx = dx;
    }
    const int64_t blocks = nst_k_gs_blocks(&k, k.N * k.Ho * k.Wo);
    float sm[4 * T];
    for (int64_t bi = 0; (k.dx || k.dgrid) && bi < blocks; bi++) {
        const int64_t b = at(bi, blocks, m->reverse);
        for (int i = 0; i < 4 * T; i++)
            sm[i] = NAN;
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_backward_load(b, (int)at(ti, T, m->reverse), &k, sm);
        for (int s = k.lanes / 2; s > 0; s /= 2)
            for (int ti = 0; ti < T; ti++)
                nst_k_gs_backward_step((int)at(ti, T, m->reverse), s, &k, sm);
        for (int ti = 0; ti < T; ti++)
            nst_k_gs_backward_store(b, (int)at(ti, T, m->reverse), &k, sm);
    }
    if (dx && deterministic)
        emul_gs_deterministic_dx(k, dx, m);
}

/* A gram.cuh tile kernel: per stage a load phase and a mac phase, then the store phase. */
#define EMUL_GRAM(m, k, BLOCKS, STAGES, LOAD, STORE)                                    \
    do {                                                                                \
        enum { T_ = NST_K_GRAM_THREADS };                                               \
        float *sm_ = xmalloc(NST_K_GRAM_SMEM * sizeof(float));                          \
        nst_k_gram_acc *st_ = xmalloc(T_ * sizeof *st_);                                \
        const int64_t blocks_ = BLOCKS(&(k)), stages_ = STAGES(&(k));                   \
        for (int64_t bi = 0; bi < blocks_; bi++) {                                      \
            const int64_t b_ = at(bi, blocks_, (m)->reverse);                           \
            for (int i = 0; i < NST_K_GRAM_SMEM; i++)                                   \
                sm_[i] = NAN;                                                           \
            for (int ti = 0; ti < T_; ti++)                                             \
                nst_k_gram_zero(&st_[ti]);                                              \
            for (int64_t s_ = 0; s_ < stages_; s_++) {                                  \
                for (int ti = 0; ti < T_; ti++)                                         \
                    LOAD(b_, (int)at(ti, T_, (m)->reverse), s_, &(k), sm_);             \
                for (int ti = 0; ti < T_; ti++) {                                       \
                    const int t_ = (int)at(ti, T_, (m)->reverse);                       \
                    nst_k_gram_mac(t_, sm_, &st_[t_]);                                  \
                }                                                                       \
            }                                                                           \
            for (int ti = 0; ti < T_; ti++) {                                           \
                const int t_ = (int)at(ti, T_, (m)->reverse);                           \
                STORE(b_, t_, &(k), &st_[t_]);                                          \
            }                                                                           \
        }                                                                               \
        free(st_);                                                                      \
        free(sm_);                                                                      \
    } while (0)

static void emul_gram(nst_op op, const nst_gram_params *p, const emul_mode *m) {
    const int64_t *s = p->x->shape;
    nst_k_gram k = nst_k_gram_make(CF(p->x), s[0], s[1] * s[2], s[3]);
    if (op == NST_OP_GRAM_FORWARD) {
        k.part = xmalloc(nst_k_gram_scratch(&k, 0));
        k.g = OF(p->g);
        EMUL_GRAM(m, k, nst_k_gram_forward_blocks, nst_k_gram_forward_stages,
                  nst_k_gram_forward_load, nst_k_gram_forward_store);
        EMUL_1D(m, nst_k_gram_final_body, k.N * k.C * k.C, &k);
        free(k.part);
        return;
    }
    if (!p->dx || k.HW == 0 || k.C == 0)
        return;
    k.sym = xmalloc(nst_k_gram_scratch(&k, 1));
    k.dg = CF(p->dg), k.dx = OF(p->dx), k.accumulate = p->accumulate;
    EMUL_1D(m, nst_k_gram_sym_body, k.N * k.C * k.C, &k);
    EMUL_GRAM(m, k, nst_k_gram_backward_blocks, nst_k_gram_backward_stages,
              nst_k_gram_backward_load, nst_k_gram_backward_store);
    free(k.sym);
}

static void emul_mse(nst_op op, const nst_mse_params *p, const emul_mode *m) {
    const int64_t n = nst_tensor_numel(p->a);
    if (op == NST_OP_MSE_FORWARD) {
        double *part = xmalloc(nst_k_reduce_scratch(n));
        nst_k_mse k = nst_k_mse_make(CF(p->a), CF(p->b), n, part, OF(p->loss));
        if (m->scalar)
            k.v = 1;
        EMUL_PARTIAL(m, nst_k_mse_load, &k, &k.r);
        emul_reduce_final(m, &k.r);
        free(part);
        return;
    }
    if (!p->da || n == 0)
        return;
    nst_k_flat k = nst_k_flat_make(CF(p->a), CF(p->b), OF(p->da), n);
    k.alpha = (float)(2.0 * (double)p->scale / (double)n);
    if (p->accumulate)
        EMUL_FLAT(m, nst_k_mse_grad_acc, k);
    else
        EMUL_FLAT(m, nst_k_mse_grad, k);
}

static void emul_tv(nst_op op, const nst_tv_params *p, const emul_mode *m) {
    const int64_t *s = p->x->shape;
    nst_k_tv k = nst_k_tv_make(CF(p->x), s[0], s[1], s[2], s[3]);
    if (op == NST_OP_TV_FORWARD) {
        k.r.part = xmalloc((size_t)k.r.blocks * sizeof(double));
        k.r.y = OF(p->loss);
        EMUL_PARTIAL(m, nst_k_tv_load, &k, &k.r);
        emul_reduce_final(m, &k.r);
        free(k.r.part);
        return;
    }
    const int64_t pixels = k.N * k.H * k.W;
    if (!p->dx || pixels == 0)
        return;
    k.dx = OF(p->dx);
    k.k = (float)(2.0 * (double)p->scale / (double)pixels);
    k.accumulate = p->accumulate;
    EMUL_1D(m, nst_k_tv_grad_body, nst_k_tv_numel(&k), &k);
}

static nst_k_colour colour_args(const nst_tensor *x, nst_tensor *y) {
    nst_k_colour k;
    memset(&k, 0, sizeof k);
    k.x = CF(x), k.y = OF(y), k.pixels = nst_tensor_numel(x) / 3;
    return k;
}

static void emul_colour(nst_op op, const void *params, const emul_mode *m) {
    if (op == NST_OP_RGB_TO_YUV || op == NST_OP_YUV_TO_RGB) {
        const nst_colour_params *p = params;
        nst_k_colour k = colour_args(p->x, p->y);
        nst_k_colour_matrix(op == NST_OP_RGB_TO_YUV, k.m);
        EMUL_1D(m, nst_k_colour_3x3_body, k.pixels, &k);
        return;
    }
    const nst_input_convert_params *p = params;
    const bool fwd = op == NST_OP_INPUT_CONVERT_FORWARD;
    if (!fwd && !p->dx)
        return;
    nst_k_colour k = fwd ? colour_args(p->x, p->y) : colour_args(p->dy, p->dx);
    k.s0 = p->swap_rb ? 2 : 0, k.s2 = p->swap_rb ? 0 : 2;
    k.mul = p->mul;
    for (int c = 0; c < 3; c++)
        k.mean[c] = p->mean[c], k.std[c] = p->std[c], k.k[c] = p->mul / p->std[c];
    k.accumulate = p->accumulate;
    if (fwd)
        EMUL_1D(m, nst_k_convert_forward_body, k.pixels, &k);
    else
        EMUL_1D(m, nst_k_convert_backward_body, k.pixels, &k);
}

bool emul_launch_stn_loss(nst_op op, const void *params, const emul_mode *m) {
    switch (op) {
    case NST_OP_ADAM:
        emul_adam(params, m);
        return true;
    case NST_OP_AFFINE_GRID_FORWARD: {
        const nst_affine_grid_params *p = params;
        const int64_t *s = p->grid->shape;
        nst_k_affine k = nst_k_affine_make(s[0], s[1], s[2], p->align_corners);
        k.theta = CF(p->theta), k.grid = OF(p->grid);
        EMUL_1D(m, nst_k_affine_forward_body, s[0] * s[1] * s[2], &k);
        return true;
    }
    case NST_OP_AFFINE_GRID_BACKWARD:
        emul_affine_backward(params, m);
        return true;
    case NST_OP_GRID_SAMPLE_FORWARD:
        emul_gs_forward(params, m);
        return true;
    case NST_OP_GRID_SAMPLE_BACKWARD:
        emul_grid_sample_backward(params, m, true);
        return true;
    case NST_OP_GRAM_FORWARD:
    case NST_OP_GRAM_BACKWARD:
        emul_gram(op, params, m);
        return true;
    case NST_OP_MSE_FORWARD:
    case NST_OP_MSE_BACKWARD:
        emul_mse(op, params, m);
        return true;
    case NST_OP_TV_FORWARD:
    case NST_OP_TV_BACKWARD:
        emul_tv(op, params, m);
        return true;
    case NST_OP_RGB_TO_YUV:
    case NST_OP_YUV_TO_RGB:
    case NST_OP_INPUT_CONVERT_FORWARD:
    case NST_OP_INPUT_CONVERT_BACKWARD:
        emul_colour(op, params, m);
        return true;
    default:
        return false;
    }
}

bool emul_exact_stn_loss(nst_op op, const void *params, const char *arg) {
    switch (op) {
    case NST_OP_AFFINE_GRID_BACKWARD: /* double sums in another order */
    case NST_OP_GRAM_FORWARD:
    case NST_OP_GRAM_BACKWARD:
    case NST_OP_MSE_FORWARD:
    case NST_OP_TV_FORWARD:
        return false;
    case NST_OP_GRID_SAMPLE_BACKWARD: /* dgrid: lane partials added by a tree when G > 1 */
        return strcmp(arg, "dgrid") != 0 ||
               nst_k_gs_lanes(((const nst_grid_sample_params *)params)->x->shape[3]) == 1;
    default:
        return true;
    }
}
