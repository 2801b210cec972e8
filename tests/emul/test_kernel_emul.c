/* The CUDA kernels of src/kernels/ on the CPU, checked against the CPU ops. Every kernel runs as
 * it is, compiled for the host under the CUDA-on-CPU shim (tests/cushim/): each launch's blocks
 * one after another, each thread of a block on a fiber of its own, __syncthreads a real barrier
 * of those fibers. The launchers are emulated (emul_launch below and the emul_<family>.c files):
 * the kernels of each launcher's sequence, on its grids, with its scratch layout.
 * Inputs are the shared op cases (tests/support/op_cases.c: odd shapes, batch > 1) and the extra
 * cases (extra_cases.c), copied to heap buffers with guard zones the shim watches; the result is
 * compared with the CPU op run through the normal dispatch: bit for bit where the op is exact,
 * else within docs/design.md's fp32 tolerances (rtol 1e-5, atol 1e-6 * max|ref|), NaN/inf
 * mismatches failing.
 * Each case runs in five modes (below): blocks and the threads of a block in grid order, in
 * reverse and in shuffled orders (seeded: NST_EMUL_SEED reruns a failure's orders), on the
 * scalar path instead of float4, and, for the grid-stride kernels, on a grid of 2 blocks (the
 * stride loop); every mode must give the bits of the first. In every mode the shim's race
 * detector watches shared memory and the case's buffers, and its other checks run (barrier
 * divergence, reads of shared memory no thread wrote, accesses to guard zones, misaligned 4-wide
 * accesses): any finding fails the case, with the kernel, block, threads and offset.
 * Every kernel of the shim's table (every kernel of src/kernels/) must be launched by a case.
 *
 * No CUDA toolkit is needed, so this test builds in every variant of scripts/test.sh, the
 * AddressSanitizer/UBSan one included (where the shim checks the kernels' accesses against
 * ASan's shadow). Not covered: memory ordering beyond barriers, warp-level behaviour,
 * occupancy and launch limits, and device arithmetic itself; those are checked on a GPU by the
 * parity tool (tests/parity/) and by compute-sanitizer's memcheck, racecheck and synccheck. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/kernels/eltwise.cuh"
#include "../../src/kernels/global_pool.cuh"
#include "../../src/kernels/instance_norm.cuh"
#include "../../src/kernels/launchers.cuh"
#include "../../src/kernels/pool.cuh"
#include "../../src/kernels/reduce.cuh"
#include "../../src/kernels/reflect_pad.cuh"
#include "../../src/kernels/relu.cuh"
#include "../../src/kernels/sigmoid.cuh"
#include "../../src/kernels/upsample.cuh"
#include "emul.h"
#include "extra_cases.h"
#include "op_cases.h"
#include "test_support.h"

void nst_k_emul_fault(const void *p) {
    cushim_finding("4-wide access at %p, which is not 16-byte aligned", p);
}

static nst_k_norm_shape norm_shape(const nst_tensor *x) {
    return nst_k_norm_shape_make(x->shape[0], x->shape[1] * x->shape[2], x->shape[3]);
}

/* instance_norm.cu's partial_sums(). */
static void norm_partial_sums(const emul_mode *m, const nst_k_norm *k) {
    const int64_t blocks = nst_k_norm_partial_blocks(k);
    if (blocks > 0)
        EMUL_K(m, nst_k_norm_partial_kernel, blocks, NST_K_NORM_THREADS, k);
}

/* The launcher of op over params (tensors in host memory), emulated. Returns false for an op
 * without a kernel. */
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
    case NST_OP_SIGMOID_FORWARD:
    case NST_OP_SIGMOID_BACKWARD: {
        const nst_sigmoid_params *p = params;
        const bool fwd = op == NST_OP_SIGMOID_FORWARD;
        nst_k_flat k = nst_k_flat_make(fwd ? F(p->x) : F(p->y), fwd ? NULL : F(p->dy),
                                       fwd ? F(p->y) : F(p->dx), nst_tensor_numel(p->y));
        if (fwd)
            EMUL_FLAT(m, nst_k_sigmoid_forward, k);
        else
            EMUL_FLAT(m, nst_k_sigmoid_backward, k);
        return true;
    }
    case NST_OP_GLOBAL_AVG_POOL_FORWARD: { /* global_pool.cu: the instance-norm sums */
        const nst_global_avg_pool_params *p = params;
        const nst_k_norm_shape d = norm_shape(p->x);
        void *scratch = emul_scratch(nst_k_norm_layout_make(d, 0).total, "partial sums");
        nst_k_norm k = nst_k_norm_make(d, scratch, 0);
        k.x = CF(p->x), k.pool = OF(p->y), k.mode = NST_K_NORM_SUM;
        norm_partial_sums(m, &k);
        if (nst_k_norm_partial_blocks(&k) > 0)
            emul_norm_finalize(m, &k);
        emul_scratch_free(scratch);
        return true;
    }
    case NST_OP_GLOBAL_AVG_POOL_BACKWARD: {
        const nst_global_avg_pool_params *p = params;
        const int64_t *s = p->dx->shape;
        nst_k_gap k = nst_k_gap_make(CF(p->dy), OF(p->dx), s[0], s[1] * s[2], s[3]);
        if (m->scalar)
            k.v = 1;
        EMUL_1D(m, nst_k_gap_backward, nst_k_gap_backward_work(&k), &k);
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
        EMUL_1D(m, nst_k_pool_forward, nst_k_pool_forward_work(&k), &k);
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
        EMUL_1D(m, nst_k_pool_backward, nst_k_pool_backward_work(&k), &k);
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
            EMUL_1D(m, nst_k_upsample_forward, nst_k_upsample_forward_work(&k), &k);
        else
            EMUL_1D(m, nst_k_upsample_backward, nst_k_upsample_backward_work(&k), &k);
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
            EMUL_1D(m, nst_k_pad_forward, nst_k_pad_forward_work(&k), &k);
        else
            EMUL_1D(m, nst_k_pad_backward, nst_k_pad_backward_work(&k), &k);
        return true;
    }
    case NST_OP_INSTANCE_NORM_FORWARD:
    case NST_OP_COND_INSTANCE_NORM_FORWARD: {
        const nst_instance_norm_params *p = params;
        const nst_k_norm_shape d = norm_shape(p->x);
        void *scratch = emul_scratch(nst_k_norm_layout_make(d, 0).total,
                                     "partial sums and statistics");
        nst_k_norm k = nst_k_norm_make(d, scratch, 0);
        k.x = CF(p->x), k.gamma = CF(p->gamma), k.beta = CF(p->beta), k.y = OF(p->y);
        k.mean_out = OF(p->mean), k.rstd_out = OF(p->rstd), k.eps = p->eps;
        k.per_image = op == NST_OP_COND_INSTANCE_NORM_FORWARD;
        k.v = m->scalar ? 1 : nst_k_norm_vec(&k);
        k.mode = NST_K_NORM_SUM;
        norm_partial_sums(m, &k);
        emul_norm_finalize(m, &k);
        k.mode = NST_K_NORM_SQUARES;
        norm_partial_sums(m, &k);
        emul_norm_finalize(m, &k);
        EMUL_1D(m, nst_k_norm_apply, nst_k_norm_elem_work(&k), &k);
        emul_scratch_free(scratch);
        return true;
    }
    case NST_OP_INSTANCE_NORM_BACKWARD:
    case NST_OP_COND_INSTANCE_NORM_BACKWARD: {
        const nst_instance_norm_params *p = params;
        const nst_k_norm_shape d = norm_shape(p->x);
        void *scratch = emul_scratch(nst_k_norm_layout_make(d, 1).total,
                                     "partial sums and constants");
        nst_k_norm k = nst_k_norm_make(d, scratch, 1);
        k.x = CF(p->x), k.gamma = CF(p->gamma), k.dy = CF(p->dy);
        k.mean_in = CF(p->mean), k.rstd_in = CF(p->rstd);
        k.dx = OF(p->dx), k.dgamma = OF(p->dgamma), k.dbeta = OF(p->dbeta);
        k.accumulate = p->accumulate;
        k.per_image = op == NST_OP_COND_INSTANCE_NORM_BACKWARD;
        k.v = m->scalar ? 1 : nst_k_norm_vec(&k);
        k.mode = NST_K_NORM_GRAD;
        norm_partial_sums(m, &k);
        emul_norm_finalize(m, &k);
        if (k.dx)
            EMUL_1D(m, nst_k_norm_dx, nst_k_norm_elem_work(&k), &k);
        emul_scratch_free(scratch);
        return true;
    }
    case NST_OP_REDUCE_SUM:
    case NST_OP_REDUCE_MEAN: {
        const nst_reduce_params *p = params;
        const int64_t n = nst_tensor_numel(p->x);
        double *part = emul_scratch(nst_k_reduce_scratch(n), "block partial sums");
        nst_k_reduce k = nst_k_reduce_make(F(p->x), n, part, F(p->y), op == NST_OP_REDUCE_MEAN);
        emul_reduce(m, &k);
        emul_scratch_free(part);
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
    case NST_OP_COND_INSTANCE_NORM_FORWARD:
    case NST_OP_COND_INSTANCE_NORM_BACKWARD:
    case NST_OP_GLOBAL_AVG_POOL_FORWARD: /* double sums in another order */
    case NST_OP_SIGMOID_FORWARD: /* exact on the host only: a GPU's exp is libdevice's */
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

/* The case's tensors copied into heap buffers of their size with guard zones, each tracked by
 * the shim as global memory named after the op's argument, and its params pointing at them. */
typedef struct {
    nst_tensor t[NST_TEST_CASE_TENSORS];
    unsigned char params[sizeof(((nst_test_op_case *)0)->p)];
    nst_adam_slot slots[2]; /* Adam: the case's slots over the copies */
} emul_copy;

enum { GUARD = 64 }; /* bytes on either side of a copy, watched by the shim */

static int tensor_index(const nst_test_op_case *c, const nst_tensor *t);

static void copy_make(const nst_test_op_case *c, const nst_op_arg *args, int n_args,
                      emul_copy *e) {
    for (int k = 0; k < c->n_tensors; k++) {
        const char *name = "a tensor of the case";
        for (int a = 0; a < n_args; a++)
            if (args[a].t == &c->t[k])
                name = args[a].name;
        e->t[k] = c->t[k];
        const size_t bytes = nst_tensor_bytes(&c->t[k]);
        unsigned char *b = malloc(bytes + 2 * GUARD);
        cr_assert_not_null(b);
        memset(b, 0xff, bytes + 2 * GUARD);
        e->t[k].data = b + GUARD;
        memcpy(e->t[k].data, c->t[k].data, bytes);
        cushim_track(e->t[k].data, bytes, GUARD, name);
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
    for (int k = 0; k < c->n_tensors; k++) {
        cushim_untrack(e->t[k].data);
        free((unsigned char *)e->t[k].data - GUARD);
    }
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

/* The modes every case runs in: the orders a GPU may take, the scalar path, a grid-stride grid
 * of 2 blocks; every one with the race detector and the shim's other checks. */
static const emul_mode modes[] = {
    {.name = "grid order"},
    {.name = "reverse order", .blocks = CUSHIM_REVERSE, .threads = CUSHIM_REVERSE},
    {.name = "shuffled order", .blocks = CUSHIM_SHUFFLED, .threads = CUSHIM_SHUFFLED},
    {.name = "scalar path, shuffled blocks", .blocks = CUSHIM_SHUFFLED, .scalar = true},
    {.name = "2-block grid, reverse blocks, shuffled threads", .blocks = CUSHIM_REVERSE,
     .threads = CUSHIM_SHUFFLED, .max_blocks = 2}};
enum { N_MODES = sizeof modes / sizeof modes[0] };

/* Fails the test when the shim reported anything in mode m of case `what`. */
static void no_findings(const char *what, const emul_mode *m) {
    cr_assert_eq(cushim_findings(), 0,
                 "%s (%s; NST_EMUL_SEED=%#llx reruns the shuffled orders): the shim reported:\n%s",
                 what, m->name, (unsigned long long)emul_seed(), cushim_report());
}

/* Runs case c: the CPU op through the dispatch, then the emulation in every mode. Returns
 * whether the op has kernels (false: nothing run). */
static bool run_case(nst_ctx *cpu, nst_test_op_case *c) {
    nst_op_arg args[NST_TEST_CASE_TENSORS];
    const int n_args = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
    cr_assert(n_args >= 0 && n_args <= NST_TEST_CASE_TENSORS);
    emul_copy copies[N_MODES];
    for (int i = 0; i < N_MODES; i++)
        copy_make(c, args, n_args, &copies[i]);

    bool has = true;
    for (int i = 0; i < N_MODES && has; i++) {
        cushim_reset();
        has = emul_launch(c->op, copies[i].params, &modes[i]);
        no_findings(c->what, &modes[i]);
    }
    if (has) {
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
            for (int i = 1; i < N_MODES; i++) {
                /* a reduction's float4 path adds in another order: only the tolerance applies */
                const bool reorders = modes[i].scalar && (c->op == NST_OP_REDUCE_SUM ||
                                                          c->op == NST_OP_REDUCE_MEAN ||
                                                          c->op == NST_OP_MSE_FORWARD);
                char what[200];
                snprintf(what, sizeof what, "%s (%s, NST_EMUL_SEED=%#llx)", c->what,
                         modes[i].name, (unsigned long long)emul_seed());
                cr_assert(reorders ? same_output(what, args[a].name, &c->t[k], &copies[i].t[k],
                                                 false)
                                   : same_output(what, args[a].name, &copies[0].t[k],
                                                 &copies[i].t[k], true),
                          "%s: %s changes %s", c->what, modes[i].name, args[a].name);
            }
        }
        cr_assert(nst_test_op_case_guards_ok(c), "%s: the CPU op wrote past a tensor", c->what);
    }
    for (int i = 0; i < N_MODES; i++)
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

/* tests/ptx/kernels.txt's word on kernel `kernel` of the table, defined in `file` ("gram.cuh",
 * "relu.cu"): whether its row (or its source's "*" row) says exact. The row's source is the .cu
 * of the file's family. */
static bool ptx_exact(const char *file, const char *kernel) {
    char cu[64];
    snprintf(cu, sizeof cu, "%.*s.cu", (int)strcspn(file, "."), file);
    FILE *f = fopen(NST_SOURCE_DIR "/tests/ptx/kernels.txt", "r");
    cr_assert_not_null(f, "tests/ptx/kernels.txt");
    char line[512];
    int any = -1, named = -1;
    while (fgets(line, sizeof line, f)) {
        char src[64], name[128], cls[32];
        if (line[0] == '#' || sscanf(line, "%63s %127s %31s", src, name, cls) != 3)
            continue;
        if (strcmp(src, cu) != 0)
            continue;
        if (strcmp(name, kernel) == 0)
            named = strcmp(cls, "exact") == 0;
        else if (strcmp(name, "*") == 0)
            any = strcmp(cls, "exact") == 0;
    }
    fclose(f);
    cr_assert(named >= 0 || any >= 0, "tests/ptx/kernels.txt has no row for %s of %s", kernel,
              cu);
    return named >= 0 ? named : any;
}

/* Case c in grid order, for the coverage test below: whether it has kernels. Fails when an op
 * whose outputs are compared bit for bit launched a kernel tests/ptx/kernels.txt does not call
 * exact (test_ptx_exact would not read its PTX for FMAs). */
static bool run_for_coverage(nst_test_op_case *c, bool atomic_dx) {
    nst_op_arg args[NST_TEST_CASE_TENSORS];
    const int n_args = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
    int64_t before[256];
    const int n_kernels = cushim_kernel_count();
    cr_assert_leq(n_kernels, 256);
    for (int i = 0; i < n_kernels; i++)
        before[i] = cushim_kernel_launches(i);
    emul_copy copy;
    copy_make(c, args, n_args, &copy);
    cushim_reset();
    bool has = true;
    if (atomic_dx)
        emul_grid_sample_backward((const nst_grid_sample_params *)copy.params, &modes[0], false);
    else
        has = emul_launch(c->op, copy.params, &modes[0]);
    no_findings(c->what, &modes[0]);
    copy_free(c, &copy);
    bool exact = false;
    for (int a = 0; a < n_args; a++)
        if (args[a].role != NST_ARG_IN && args[a].t && exact_output(c->op, &c->p, args[a].name))
            exact = true;
    for (int i = 0; i < n_kernels && exact && !atomic_dx; i++)
        if (cushim_kernel_launches(i) > before[i])
            cr_assert(ptx_exact(cushim_kernel_file(i), cushim_kernel_name(i)),
                      "%s is compared bit for bit, but runs %s, which tests/ptx/kernels.txt "
                      "does not call exact",
                      c->what, cushim_kernel_name(i));
    return has;
}

/* Every kernel of src/kernels/ (the shim's table, the planted ones of test_cushim.c aside) runs
 * in some shared or extra case; the ops compared bit for bit run only kernels whose PTX
 * test_ptx_exact checks. */
Test(kernel_emul, every_kernel_runs_in_a_case) {
    int n_shared = 0, n_extra = 0;
    nst_test_op_case *sets[2] = {nst_test_op_cases(&n_shared), nst_test_extra_cases(&n_extra)};
    const int counts[2] = {n_shared, n_extra};
    for (int set = 0; set < 2; set++) {
        for (int i = 0; i < counts[set]; i++) {
            nst_test_op_case *c = &sets[set][i];
            run_for_coverage(c, false);
            if (c->op == NST_OP_GRID_SAMPLE_BACKWARD && c->p.sample.dx)
                run_for_coverage(c, true);
        }
    }
    int n = 0;
    for (int i = 0; i < cushim_kernel_count(); i++) {
        if (strcmp(cushim_kernel_file(i), "planted_kernels.cpp") == 0)
            continue;
        n++;
        cr_expect_gt(cushim_kernel_launches(i), 0, "kernel %s (%s) ran in no case",
                     cushim_kernel_name(i), cushim_kernel_file(i));
    }
    cr_assert_geq(n, 40, "the shim's table holds %d kernels of src/kernels/", n);
    nst_test_op_cases_free(sets[0], n_shared);
    nst_test_op_cases_free(sets[1], n_extra);
}

/* grid_sample_backward's default dx path (atomicAdd, each a read-modify-write of its own
 * here): within the fp32 tolerances of the CPU op in the first three modes' orders (another
 * order of the adds, as the GPU's threads may take), on every grid-sample backward case; dgrid
 * as on the deterministic path. */
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
            nst_op_arg args[NST_TEST_CASE_TENSORS];
            const int n_args = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
            emul_copy copies[3];
            for (int k = 0; k < 3; k++) {
                copy_make(c, args, n_args, &copies[k]);
                cushim_reset();
                emul_grid_sample_backward((const nst_grid_sample_params *)copies[k].params,
                                          &modes[k], false);
                no_findings(c->what, &modes[k]);
            }
            cr_assert_eq(nst_op_run(cpu, c->op, &c->p), NST_OK, "%s: %s", c->what,
                         nst_last_error(cpu));
            const int dx = tensor_index(c, c->p.sample.dx);
            for (int k = 0; k < 3; k++) {
                char what[160];
                snprintf(what, sizeof what, "dx (atomic, %s)", modes[k].name);
                cr_assert(same_output(c->what, what, &c->t[dx], &copies[k].t[dx], false),
                          "%s: the atomic dx path differs from the CPU op", c->what);
            }
            for (int k = 0; k < 3; k++)
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
    _Alignas(16) float buf[12] = {0};
    cushim_reset();
    (void)nst_k_ldv(buf + 1, 4);
    cr_assert_eq(cushim_findings(), 1);
    cr_assert(strstr(cushim_report(), "not 16-byte aligned"), "%s", cushim_report());
    cr_assert(!nst_k_vec_ok(8, buf + 1, NULL, NULL, NULL), "an odd address is not 4-wide");
    cr_assert(!nst_k_vec_ok(6, buf, NULL, NULL, NULL), "a row of 6 is not 4-wide");
    cushim_reset();
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
