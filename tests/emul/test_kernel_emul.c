/* CPU emulation of the CUDA kernels: each kernel body of the src/kernels/ headers runs over its whole
 * launch grid, every block and every thread, on the grid the launcher uses (same plan and work
 * functions), phase by phase for the shared-memory kernels (a barrier = the end of a loop over
 * all threads of the block), with the launcher's sequence of kernels and its scratch layout.
 * Inputs are the shared op cases (tests/support/op_cases.c: odd shapes, batch > 1) and the extra
 * cases (extra_cases.c), copied to exact-size heap buffers so that AddressSanitizer sees any
 * access past a tensor or the scratch; the result is compared with the CPU op run through the
 * normal dispatch: bit for bit where the op is exact, else within docs/design.md's fp32 tolerances
 * (rtol 1e-5, atol 1e-6 * max|ref|), NaN/inf mismatches failing.
 * Each case also runs with the threads of every phase and the blocks in reverse order (a result
 * that changes means two threads of one phase touch the same data: a race on the GPU), on the
 * scalar path instead of float4, and, for the grid-stride kernels, on a grid of 2 blocks (the
 * stride loop); each must give the same bits. Shared memory starts as NaN in every block, so a
 * phase that reads a slot no earlier phase wrote shows. A 4-wide access that is not 16-byte
 * aligned fails (nst_k_emul_fault).
 *
 * The headers are plain C here (no CUDA toolkit needed), so this test builds in every variant
 * of scripts/test.sh, the AddressSanitizer/UBSan one included.
 * Not covered, because one CPU thread runs the threads one after another: real concurrency
 * (a missing barrier between phases that the kernel's code has but runs differently), memory
 * ordering, occupancy and launch limits, and device arithmetic itself. Those are checked on a
 * GPU by the parity tool (tests/parity/) and by compute-sanitizer's memcheck, racecheck and
 * synccheck over it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/kernels/eltwise.cuh"
#include "../../src/kernels/instance_norm.cuh"
#include "../../src/kernels/pool.cuh"
#include "../../src/kernels/reduce.cuh"
#include "../../src/kernels/reflect_pad.cuh"
#include "../../src/kernels/relu.cuh"
#include "../../src/kernels/upsample.cuh"
#include "../../src/kernels/launchers.cuh"
#include "emul.h"
#include "extra_cases.h"
#include "op_cases.h"
#include "test_support.h"

static int n_faults;

void nst_k_emul_fault(const void *p) {
    if (n_faults++ < 4)
        fprintf(stderr, "4-wide access at %p, which is not 16-byte aligned\n", p);
}

/* instance_norm.cu's partial-sum kernel, phase by phase. */
static void emul_norm_partial(const emul_mode *m, const nst_k_norm *k) {
    enum { T = NST_K_NORM_THREADS };
    double sm[2 * T];
    const int64_t blocks = nst_k_norm_partial_blocks(k);
    for (int64_t bi = 0; bi < blocks; bi++) {
        const int64_t b = at(bi, blocks, m->reverse);
        fill_nan(sm, 2 * T);
        for (int ti = 0; ti < T; ti++)
            nst_k_norm_partial_load(b, (int)at(ti, T, m->reverse), k, sm);
        for (int s = k->d.rt / 2; s > 0; s /= 2)
            for (int ti = 0; ti < T; ti++)
                nst_k_norm_partial_step((int)at(ti, T, m->reverse), s, k, sm);
        for (int ti = 0; ti < T; ti++)
            nst_k_norm_partial_store(b, (int)at(ti, T, m->reverse), k, sm);
    }
}

static nst_k_norm_shape norm_shape(const nst_tensor *x) {
    return nst_k_norm_shape_make(x->shape[0], x->shape[1] * x->shape[2], x->shape[3]);
}

/* The launcher of op over params (tensors in host memory), emulated. Returns false for an op
 * without a kernel. Scratch is an exact-size heap buffer, as the launcher's scratch query says. */
static bool emul_launch(nst_op op, const void *params, const emul_mode *m) {
    switch (op) {
    case NST_OP_RELU_FORWARD:
    case NST_OP_RELU_BACKWARD: {
        const nst_relu_params *p = params;
        const bool fwd = op == NST_OP_RELU_FORWARD;
        nst_k_flat k = nst_k_flat_make(F(p->x), fwd ? NULL : F(p->dy), fwd ? F(p->y) : F(p->dx),
                                       nst_tensor_numel(p->x));
        if (fwd)
            EMUL_FLAT(m, nst_k_relu_forward, k);
        else
            EMUL_FLAT(m, nst_k_relu_backward, k);
        return true;
    }
    case NST_OP_ADD: {
        const nst_add_params *p = params;
        nst_k_flat k = nst_k_flat_make(F(p->a), F(p->b), F(p->y), nst_tensor_numel(p->a));
        EMUL_FLAT(m, nst_k_add, k);
        return true;
    }
    case NST_OP_SCALE:
    case NST_OP_AXPY: {
        const nst_scale_params *p = params;
        nst_k_flat k = nst_k_flat_make(F(p->x), NULL, F(p->y), nst_tensor_numel(p->x));
        k.alpha = p->alpha;
        if (op == NST_OP_SCALE)
            EMUL_FLAT(m, nst_k_scale, k);
        else
            EMUL_FLAT(m, nst_k_axpy, k);
        return true;
    }
    case NST_OP_CLAMP: {
        const nst_clamp_params *p = params;
        nst_k_flat k = nst_k_flat_make(F(p->x), NULL, F(p->y), nst_tensor_numel(p->x));
        k.lo = p->lo, k.hi = p->hi;
        EMUL_FLAT(m, nst_k_clamp, k);
        return true;
    }
    case NST_OP_POOL2X2_FORWARD: {
        const nst_pool2x2_params *p = params;
        const int64_t *s = p->x->shape;
        nst_k_pool k = nst_k_pool_make(F(p->x), NULL, F(p->y), NULL, s[0], s[1], s[2], s[3],
                                       p->mode == NST_POOL_MAX);
        if (m->scalar)
            k.v = 1;
        EMUL_1D(m, nst_k_pool_forward_body, nst_k_pool_forward_work(&k), &k);
        return true;
    }
    case NST_OP_POOL2X2_BACKWARD: {
        const nst_pool2x2_params *p = params;
        const int64_t *s = p->dx->shape;
        const bool is_max = p->mode == NST_POOL_MAX;
        nst_k_pool k = nst_k_pool_make(is_max ? F(p->x) : NULL, F(p->dy), NULL, F(p->dx), s[0],
                                       s[1], s[2], s[3], is_max);
        if (m->scalar)
            k.v = 1;
        EMUL_1D(m, nst_k_pool_backward_body, nst_k_pool_backward_work(&k), &k);
        return true;
    }
    case NST_OP_UPSAMPLE2X_FORWARD:
    case NST_OP_UPSAMPLE2X_BACKWARD: {
        const nst_upsample2x_params *p = params;
        const bool fwd = op == NST_OP_UPSAMPLE2X_FORWARD;
        const int64_t *s = fwd ? p->x->shape : p->dx->shape;
        nst_k_upsample k = nst_k_upsample_make(fwd ? F(p->x) : NULL, fwd ? NULL : F(p->dy),
                                               fwd ? F(p->y) : NULL, fwd ? NULL : F(p->dx), s[0],
                                               s[1], s[2], s[3]);
        if (m->scalar)
            k.v = 1;
        if (fwd)
            EMUL_1D(m, nst_k_upsample_forward_body, nst_k_upsample_forward_work(&k), &k);
        else
            EMUL_1D(m, nst_k_upsample_backward_body, nst_k_upsample_backward_work(&k), &k);
        return true;
    }
    case NST_OP_REFLECT_PAD_FORWARD:
    case NST_OP_REFLECT_PAD_BACKWARD: {
        const nst_reflect_pad_params *p = params;
        const bool fwd = op == NST_OP_REFLECT_PAD_FORWARD;
        const int64_t *s = fwd ? p->x->shape : p->dx->shape;
        nst_k_pad k = nst_k_pad_make(fwd ? F(p->x) : NULL, fwd ? NULL : F(p->dy),
                                     fwd ? F(p->y) : NULL, fwd ? NULL : F(p->dx), s[0], s[1],
                                     s[2], s[3], p->top, p->bottom, p->left, p->right);
        if (m->scalar)
            k.v = 1;
        if (fwd)
            EMUL_1D(m, nst_k_pad_forward_body, nst_k_pad_forward_work(&k), &k);
        else
            EMUL_1D(m, nst_k_pad_backward_body, nst_k_pad_backward_work(&k), &k);
        return true;
    }
    case NST_OP_INSTANCE_NORM_FORWARD: {
        const nst_instance_norm_params *p = params;
        const nst_k_norm_shape d = norm_shape(p->x);
        void *scratch = malloc(nst_k_norm_layout_make(d, 0).total);
        cr_assert_not_null(scratch);
        nst_k_norm k = nst_k_norm_make(d, scratch, 0);
        k.x = CF(p->x), k.gamma = CF(p->gamma), k.beta = CF(p->beta), k.y = OF(p->y);
        k.mean_out = OF(p->mean), k.rstd_out = OF(p->rstd), k.eps = p->eps;
        k.v = m->scalar ? 1 : nst_k_norm_vec(&k);
        k.mode = NST_K_NORM_SUM;
        emul_norm_partial(m, &k);
        emul_norm_finalize(m, &k);
        k.mode = NST_K_NORM_SQUARES;
        emul_norm_partial(m, &k);
        emul_norm_finalize(m, &k);
        EMUL_1D(m, nst_k_norm_apply_body, nst_k_norm_elem_work(&k), &k);
        free(scratch);
        return true;
    }
    case NST_OP_INSTANCE_NORM_BACKWARD: {
        const nst_instance_norm_params *p = params;
        const nst_k_norm_shape d = norm_shape(p->x);
        void *scratch = malloc(nst_k_norm_layout_make(d, 1).total);
        cr_assert_not_null(scratch);
        nst_k_norm k = nst_k_norm_make(d, scratch, 1);
        k.x = CF(p->x), k.gamma = CF(p->gamma), k.dy = CF(p->dy);
        k.mean_in = CF(p->mean), k.rstd_in = CF(p->rstd);
        k.dx = OF(p->dx), k.dgamma = OF(p->dgamma), k.dbeta = OF(p->dbeta);
        k.accumulate = p->accumulate;
        k.v = m->scalar ? 1 : nst_k_norm_vec(&k);
        k.mode = NST_K_NORM_GRAD;
        emul_norm_partial(m, &k);
        emul_norm_finalize(m, &k);
        if (k.dx)
            EMUL_1D(m, nst_k_norm_dx_body, nst_k_norm_elem_work(&k), &k);
        free(scratch);
        return true;
    }
    case NST_OP_REDUCE_SUM:
    case NST_OP_REDUCE_MEAN: {
        const nst_reduce_params *p = params;
        const int64_t n = nst_tensor_numel(p->x);
        double *part = malloc(nst_k_reduce_scratch(n));
        cr_assert_not_null(part);
        nst_k_reduce k = nst_k_reduce_make(F(p->x), n, part, F(p->y), op == NST_OP_REDUCE_MEAN);
        emul_reduce(m, &k);
        free(part);
        return true;
    }
    case NST_OP_ADAM:
        emul_adam(params, m);
        return true;
    case NST_OP_AFFINE_GRID_FORWARD:
    case NST_OP_AFFINE_GRID_BACKWARD:
        emul_affine_grid(op, params, m);
        return true;
    case NST_OP_GRID_SAMPLE_FORWARD:
        emul_grid_sample_forward(params, m);
        return true;
    case NST_OP_GRID_SAMPLE_BACKWARD: /* the deterministic dx path: the CPU's bits */
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

/* Whether the op's kernels give the CPU op's bits in output arg (no sums in another order). */
static bool exact_output(nst_op op, const void *params, const char *arg) {
    switch (op) {
    case NST_OP_INSTANCE_NORM_FORWARD:
    case NST_OP_INSTANCE_NORM_BACKWARD:
    case NST_OP_REDUCE_SUM:
    case NST_OP_REDUCE_MEAN:
    case NST_OP_AFFINE_GRID_BACKWARD: /* double sums in another order */
    case NST_OP_GRAM_FORWARD:
    case NST_OP_GRAM_BACKWARD:
    case NST_OP_MSE_FORWARD:
    case NST_OP_TV_FORWARD:
        return false;
    case NST_OP_GRID_SAMPLE_BACKWARD: /* dgrid: lane partials added by a tree when G > 1 */
        return strcmp(arg, "dgrid") != 0 || emul_grid_sample_dgrid_exact(params);
    default:
        return true;
    }
}

/* The case's tensors copied into exact-size heap buffers, and its params pointing at them. */
typedef struct {
    nst_tensor t[NST_TEST_CASE_TENSORS];
    unsigned char params[sizeof(((nst_test_op_case *)0)->p)];
    nst_adam_slot slots[2]; /* Adam: the case's slots over the copies */
} emul_copy;

static int tensor_index(const nst_test_op_case *c, const nst_tensor *t);

static void copy_make(const nst_test_op_case *c, emul_copy *e) {
    for (int k = 0; k < c->n_tensors; k++) {
        e->t[k] = c->t[k];
        const size_t bytes = nst_tensor_bytes(&c->t[k]);
        e->t[k].data = malloc(bytes ? bytes : 1);
        cr_assert_not_null(e->t[k].data);
        memcpy(e->t[k].data, c->t[k].data, bytes);
    }
    /* every tensor pointer of a params struct is a field of its own: swap each one that points
     * at a case tensor for its copy */
    memcpy(e->params, &c->p, sizeof e->params);
    const size_t size = nst_op_get_info(c->op)->params_size;
    for (size_t off = 0; off + sizeof(void *) <= size; off += sizeof(void *)) {
        const void *ptr;
        memcpy(&ptr, e->params + off, sizeof ptr);
        for (int k = 0; k < c->n_tensors; k++) {
            if (ptr == (const void *)&c->t[k]) {
                const void *to = &e->t[k];
                memcpy(e->params + off, &to, sizeof to);
            }
        }
    }
    if (c->op == NST_OP_ADAM) { /* the slots array holds tensor pointers of its own */
        nst_adam_params *a = (nst_adam_params *)e->params;
        cr_assert_leq(a->n_slots, 2);
        for (int i = 0; i < a->n_slots; i++) {
            const nst_adam_slot *from = &c->p.adam.slots[i];
            e->slots[i] = (nst_adam_slot){.param = &e->t[tensor_index(c, from->param)],
                                          .grad = &e->t[tensor_index(c, from->grad)],
                                          .m = &e->t[tensor_index(c, from->m)],
                                          .v = &e->t[tensor_index(c, from->v)]};
        }
        a->slots = e->slots;
    }
}

static void copy_free(const nst_test_op_case *c, emul_copy *e) {
    for (int k = 0; k < c->n_tensors; k++)
        free(e->t[k].data);
}

static int tensor_index(const nst_test_op_case *c, const nst_tensor *t) {
    for (int k = 0; k < c->n_tensors; k++)
        if (t == &c->t[k])
            return k;
    return -1;
}

/* Compares output k of got with want: bits, or the fp32 tolerances. */
static bool same_output(const char *what, const char *arg, const nst_tensor *want,
                        const nst_tensor *got, bool bits) {
    const size_t n = (size_t)nst_tensor_numel(want);
    const float *w = want->data, *g = got->data;
    char label[256];
    snprintf(label, sizeof label, "%.160s: %.64s", what, arg);
    if (bits) {
        for (size_t i = 0; i < n; i++) {
            if (memcmp(&w[i], &g[i], sizeof(float)) != 0) {
                fprintf(stderr, "%s: element %zu is %.9g, expected %.9g (bit for bit)\n", label,
                        i, (double)g[i], (double)w[i]);
                return false;
            }
        }
        return true;
    }
    double max_ref = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(w[i]) && fabs(w[i]) > max_ref)
            max_ref = fabs(w[i]);
    return nst_test_allclose_f(label, g, w, n, 1e-6 * max_ref, 1e-5);
}

/* Runs case c: the CPU op through the dispatch, then the emulation in every mode. Returns
 * whether the op has kernels (false: nothing run). */
static bool run_case(nst_ctx *cpu, nst_test_op_case *c) {
    const emul_mode modes[4] = {
        {.reverse = false}, {.reverse = true}, {.scalar = true}, {.max_blocks = 2}};
    const char *mode_names[4] = {"grid order", "reverse order", "scalar path", "2-block grid"};
    emul_copy copies[4];
    for (int i = 0; i < 4; i++)
        copy_make(c, &copies[i]);
    nst_op_arg args[NST_TEST_CASE_TENSORS];
    const int n_args = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
    cr_assert(n_args >= 0 && n_args <= NST_TEST_CASE_TENSORS);

    n_faults = 0;
    bool has = true;
    for (int i = 0; i < 4 && has; i++)
        has = emul_launch(c->op, copies[i].params, &modes[i]);
    if (has) {
        cr_assert_eq(n_faults, 0, "%s: misaligned float4 accesses", c->what);
        const nst_status s = nst_op_run(cpu, c->op, &c->p);
        cr_assert_eq(s, NST_OK, "%s: CPU op: %s", c->what, nst_last_error(cpu));
        for (int a = 0; a < n_args; a++) {
            if (args[a].role == NST_ARG_IN || !args[a].t)
                continue;
            const int k = tensor_index(c, args[a].t);
            cr_assert_geq(k, 0);
            cr_assert(same_output(c->what, args[a].name, &c->t[k], &copies[0].t[k],
                                  exact_output(c->op, &c->p, args[a].name)),
                      "%s: emulated kernels differ from the CPU op in %s", c->what,
                      args[a].name);
            for (int i = 1; i < 4; i++) {
                /* a reduction's float4 path adds in another order: only the tolerance applies */
                const bool reorders = modes[i].scalar && (c->op == NST_OP_REDUCE_SUM ||
                                                          c->op == NST_OP_REDUCE_MEAN ||
                                                          c->op == NST_OP_MSE_FORWARD);
                char what[160];
                snprintf(what, sizeof what, "%s (%s)", c->what, mode_names[i]);
                cr_assert(reorders ? same_output(what, args[a].name, &c->t[k], &copies[i].t[k],
                                                 false)
                                   : same_output(what, args[a].name, &copies[0].t[k],
                                                 &copies[i].t[k], true),
                          "%s: %s changes %s", c->what, mode_names[i], args[a].name);
            }
        }
        cr_assert(nst_test_op_case_guards_ok(c), "%s: the CPU op wrote past a tensor", c->what);
    }
    for (int i = 0; i < 4; i++)
        copy_free(c, &copies[i]);
    return has;
}

/* The ops with CUDA kernels (src/kernels/launchers.cuh). */
static const char *const kernel_ops[] = {
#define NST__NAME(name) #name,
    NST__CUDA_KERNEL_OPS(NST__NAME)
#undef NST__NAME
};
#define N_KERNEL_OPS (sizeof kernel_ops / sizeof kernel_ops[0])

static void run_all(nst_test_op_case *cases, int count, bool *seen) {
    nst_ctx *cpu = nst_test_cpu_ctx();
    for (int i = 0; i < count; i++) {
        if (run_case(cpu, &cases[i])) {
            for (size_t k = 0; k < N_KERNEL_OPS; k++)
                if (strcmp(kernel_ops[k], nst_op_get_info(cases[i].op)->name) == 0)
                    seen[k] = true;
        }
    }
    nst_ctx_destroy(cpu);
}



Test(kernel_emul, shared_cases_match_the_cpu_ops) {
    int count = 0;
    nst_test_op_case *cases = nst_test_op_cases(&count);
    bool seen[N_KERNEL_OPS] = {false};
    run_all(cases, count, seen);
    for (size_t k = 0; k < N_KERNEL_OPS; k++)
        cr_expect(seen[k], "op %s has a kernel but no shared case ran its emulation",
                  kernel_ops[k]);
    nst_test_op_cases_free(cases, count);
}

Test(kernel_emul, extra_cases_match_the_cpu_ops) {
    int count = 0;
    nst_test_op_case *cases = nst_test_extra_cases(&count);
    bool seen[N_KERNEL_OPS] = {false};
    run_all(cases, count, seen);
    nst_test_op_cases_free(cases, count);
}

/* grid_sample_backward's default dx path (atomicAdd, plain adds here): within the fp32
 * tolerances of the CPU op in grid order and in reverse order (another order of the adds, as
 * the GPU's threads may take), on every grid-sample backward case; dgrid as on the
 * deterministic path. */
Test(kernel_emul, grid_sample_atomic_dx_matches_the_cpu_op) {
    int n_shared = 0, n_extra = 0, ran = 0;
    nst_test_op_case *sets[2] = {nst_test_op_cases(&n_shared), nst_test_extra_cases(&n_extra)};
    const int counts[2] = {n_shared, n_extra};
    nst_ctx *cpu = nst_test_cpu_ctx();
    for (int set = 0; set < 2; set++) {
        for (int i = 0; i < counts[set]; i++) {
            nst_test_op_case *c = &sets[set][i];
            if (c->op != NST_OP_GRID_SAMPLE_BACKWARD || !c->p.sample.dx)
                continue;
            emul_copy copies[2];
            const emul_mode modes[2] = {{.reverse = false}, {.reverse = true}};
            for (int k = 0; k < 2; k++) {
                copy_make(c, &copies[k]);
                emul_grid_sample_backward((const nst_grid_sample_params *)copies[k].params,
                                          &modes[k], false);
            }
            cr_assert_eq(nst_op_run(cpu, c->op, &c->p), NST_OK, "%s: %s", c->what,
                         nst_last_error(cpu));
            const int dx = tensor_index(c, c->p.sample.dx);
            for (int k = 0; k < 2; k++)
                cr_assert(same_output(c->what, k ? "dx (atomic, reverse order)" : "dx (atomic)",
                                      &c->t[dx], &copies[k].t[dx], false),
                          "%s: the atomic dx path differs from the CPU op", c->what);
            for (int k = 0; k < 2; k++)
                copy_free(c, &copies[k]);
            ran++;
        }
    }
    cr_assert_gt(ran, 0);
    nst_ctx_destroy(cpu);
    nst_test_op_cases_free(sets[0], n_shared);
    nst_test_op_cases_free(sets[1], n_extra);
}

Test(kernel_emul, misaligned_float4_access_is_caught) {
    float buf[12] = {0};
    n_faults = 0;
    (void)nst_k_ldv(buf + 1, 4);
    cr_assert_eq(n_faults, 1);
    cr_assert(!nst_k_vec_ok(8, buf + 1, NULL, NULL, NULL), "an odd address is not 4-wide");
    cr_assert(!nst_k_vec_ok(6, buf, NULL, NULL, NULL), "a row of 6 is not 4-wide");
    n_faults = 0;
}

Test(kernel_emul, indices_past_two_to_the_31) {
    /* an 8K image's first layer: 8192 * 8192 * 64 floats = 2^32 elements */
    const int64_t n = (int64_t)8192 * 8192 * 64;
    const nst_k_grid g = nst_k_grid_for(n / 4);
    cr_assert_eq(g.blocks, NST_K_MAX_BLOCKS);
    const int64_t last = nst_k_first(g.blocks - 1, g.threads - 1, g.threads);
    cr_assert_eq(last, g.blocks * g.threads - 1);
    cr_assert_eq(nst_k_first((int64_t)1 << 24, 255, 256), ((int64_t)1 << 32) + 255);
    cr_assert_eq(nst_k_stride(g.blocks, g.threads), (int64_t)1 << 24);
    /* pool: the last output vector of a (1, 8192, 8192, 64) map indexes past 2^31 floats */
    nst_k_pool p = nst_k_pool_make(NULL, NULL, NULL, NULL, 1, 8192, 8192, 64, 1);
    cr_assert_eq(nst_k_pool_backward_work(&p), n / 4);
}
