/* CPU emulation of the bilinear grid-sampling kernels (grid_sample.cuh): the forward; the
 * backward kernel phase by phase (a barrier = the end of a loop over the block's threads, shared
 * memory starting as NaN), writing dgrid and, on the atomic path, dx (atomics are plain adds
 * here, one thread at a time; grid_sample.cuh says so); and the deterministic dx path's kernels
 * (count, the three scan kernels, fill, gather), shared memory starting as a sentinel, the
 * scratch in an exact-size heap buffer laid out as the launcher lays it out and cudaMemsetAsync
 * a memset. Run by tests/emul/test_kernel_emul.c: every grid-sample case through the
 * deterministic path against the CPU op's bits (dgrid too when it has one channel lane), and
 * the atomic dx path within the fp32 tolerances in grid and reverse order. */
#include <string.h>

#include "../../src/kernels/grid_sample.cuh"
#include "emul.h"

static nst_k_gs gs_args(const nst_grid_sample_params *p) {
    const int64_t *xs = p->x->shape, *gs = p->grid->shape;
    return nst_k_gs_make(CF(p->x), CF(p->grid), xs[0], xs[1], xs[2], xs[3], gs[1], gs[2],
                         (int)p->padding, p->align_corners);
}

void emul_grid_sample_forward(const nst_grid_sample_params *p, const emul_mode *m) {
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
    void *scratch = emul_xmalloc(nst_k_gs_layout_make(inputs, outputs).total);
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

bool emul_grid_sample_dgrid_exact(const nst_grid_sample_params *p) {
    return nst_k_gs_lanes(p->x->shape[3]) == 1;
}
