/* nst_parity: every op of the table that has cases (tests/support/op_cases.c, then
 * tests/emul/extra_cases.c), forward and backward, run on CUDA and on the CPU in one process on
 * one CUDA context, in the style of ggml's test-backend-ops, in three passes whose context
 * settings come from tests/parity/parity_setup.c:
 *  - fp32: strict fp32 (TF32 off for convolutions and GEMMs), deterministic mode, every case;
 *  - fp32-atomic: TF32 off, deterministic mode off: grid_sample_backward's cases with dx again,
 *    on its default atomic dx path;
 *  - tf32: TF32 on for convolutions and GEMMs (PyTorch's allow_tf32 both true), deterministic
 *    mode: the ops TF32 can change, conv2d forward/backward_data/backward_filter and linear
 *    forward/backward (no other op's CUDA code reads the setting, so the others are not rerun).
 * Each pass starts from fresh cases. Each device tensor sits between guard regions (the case's
 * guard bytes, uploaded with it) that must come back unchanged; outputs start as NaN, so an
 * element the op does not write fails. Results must agree with the CPU within the tolerances of
 * tests/parity/parity_bound.h: for the reductions over products (convolutions, linear, Gram)
 * |cuda - cpu| <= 2 u M per element, M the op run on the CPU on absolute values and u the
 * pass's unit (fp32: L 2^-23 for a reduction of L roundings; TF32: 2^-10 + 2^-21 + L 2^-23);
 * for the other ops docs/design.md's fp32 form (|cuda - cpu| <= atol + rtol * |cpu|, rtol 1e-5,
 * atol 1e-6 * max|cpu|); NaN and inf only where the CPU has them. In the deterministic passes
 * each op also runs twice on the GPU and must give the same bits (both runs start from the same
 * inputs); the atomic pass checks the tolerances only. Prints one line per case with its pass
 * (ok, or FAIL with the first mismatches; an op without a CUDA implementation fails unless
 * tests/support/cuda_missing.h lists it, then its cases print MISSING and count as neither),
 * the known-missing ops by name, any other op without one (each counted as a failure too; so is
 * a listed op that has one now), then `N passed, N failed` as the last line.
 * Exit status: 0 when nothing failed, 77 when there is no GPU, 1 otherwise.
 * Run it under compute-sanitizer (memcheck, racecheck, synccheck) on a GPU machine; wrapped for
 * ctest by tests/parity/test_parity.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_missing.h"
#include "extra_cases.h"
#include "op_cases.h"
#include "parity_bound.h"
#include "parity_setup.h"

#define SKIP_CODE 77

typedef struct {
    int passed, failed, missing; /* missing: cases of known-missing ops, not run */
} tally;

/* A device copy of case c: each tensor's whole block (guards included) uploaded, and params
 * whose tensor pointers point at device tensors. */
typedef struct {
    nst_tensor t[NST_TEST_CASE_TENSORS];
    void *block[NST_TEST_CASE_TENSORS];
    unsigned char params[sizeof(((nst_test_op_case *)0)->p)];
    nst_adam_slot slots[2]; /* Adam: the case's slots over the device tensors */
} device_case;

static size_t block_bytes(const nst_test_op_case *c, int k) {
    return nst_tensor_bytes(&c->t[k]) + 2 * NST_TEST_GUARD_BYTES;
}

static void device_free(nst_ctx *cuda, const nst_test_op_case *c, device_case *d) {
    for (int k = 0; k < c->n_tensors; k++)
        nst_free(cuda, d->block[k]);
}

static nst_status device_make(nst_ctx *cuda, const nst_test_op_case *c, device_case *d) {
    memset(d, 0, sizeof *d);
    for (int k = 0; k < c->n_tensors; k++) {
        nst_status s = nst_alloc(cuda, block_bytes(c, k), NST_TAG_OTHER, &d->block[k]);
        if (s == NST_OK)
            s = nst_copy_to_device(cuda, d->block[k], c->block[k], block_bytes(c, k));
        if (s != NST_OK)
            return s;
        d->t[k] = c->t[k];
        d->t[k].backend = NST_BACKEND_CUDA;
        d->t[k].data = (unsigned char *)d->block[k] + NST_TEST_GUARD_BYTES;
    }
    /* every tensor pointer of a params struct is a field of its own: swap each one that points
     * at a case tensor for its device twin */
    memcpy(d->params, &c->p, sizeof d->params);
    const size_t size = nst_op_get_info(c->op)->params_size;
    for (size_t off = 0; off + sizeof(void *) <= size; off += sizeof(void *)) {
        const void *ptr;
        memcpy(&ptr, d->params + off, sizeof ptr);
        for (int k = 0; k < c->n_tensors; k++) {
            if (ptr == (const void *)&c->t[k]) {
                const void *to = &d->t[k];
                memcpy(d->params + off, &to, sizeof to);
            }
        }
    }
    if (c->op == NST_OP_ADAM) { /* the slots array holds tensor pointers of its own */
        nst_adam_params *a = (nst_adam_params *)d->params;
        for (int i = 0; i < a->n_slots && i < 2; i++) {
            const nst_adam_slot *from = &c->p.adam.slots[i];
            d->slots[i] = (nst_adam_slot){.param = &d->t[from->param - c->t],
                                          .grad = &d->t[from->grad - c->t],
                                          .m = &d->t[from->m - c->t],
                                          .v = &d->t[from->v - c->t]};
        }
        a->slots = d->slots;
    }
    return NST_OK;
}

/* Runs c on the GPU from its current host data; out[k] receives tensor k's block after. */
static nst_status run_cuda(nst_ctx *cuda, const nst_test_op_case *c, unsigned char **out) {
    device_case d;
    nst_status s = device_make(cuda, c, &d);
    if (s == NST_OK)
        s = nst_op_run(cuda, c->op, d.params);
    for (int k = 0; s == NST_OK && k < c->n_tensors; k++)
        s = nst_copy_to_host(cuda, out[k], d.block[k], block_bytes(c, k));
    if (s == NST_OK)
        s = nst_synchronize(cuda);
    device_free(cuda, c, &d);
    return s;
}

static bool guards_intact(const unsigned char *b, size_t data_bytes) {
    for (size_t i = 0; i < NST_TEST_GUARD_BYTES; i++)
        if (b[i] != NST_TEST_GUARD_BYTE || b[NST_TEST_GUARD_BYTES + data_bytes + i] != NST_TEST_GUARD_BYTE)
            return false;
    return true;
}

static const char *info_name(const nst_test_op_case *c) { return nst_op_get_info(c->op)->name; }

/* Runs case c in the pass the CUDA context is set up for (a case whose op has no CUDA
 * implementation fails: every op of the table must have one, except those that
 * tests/support/cuda_missing.h lists, whose cases are reported as MISSING). Outside the deterministic passes
 * only the tolerances apply (no two-run bits check): grid_sample_backward's atomic dx path,
 * whose float adds may come in any order. */
static void run_case(nst_ctx *cpu, nst_ctx *cuda, nst_parity_pass pass, nst_test_op_case *c,
                     tally *t) {
    const nst_parity_pass_info *info = nst_parity_pass_get(pass);
    if (!nst_op_supported_on(NST_BACKEND_CUDA, c->op) && nst_test_cuda_missing(info_name(c))) {
        printf("MISSING  [%s] %s\n    no cuda implementation yet (known missing)\n", info->name,
               c->what);
        t->missing++;
        return;
    }
    if (!nst_op_supported_on(NST_BACKEND_CUDA, c->op)) {
        printf("FAIL     [%s] %s\n    no cuda implementation\n", info->name, c->what);
        t->failed++;
        return;
    }
    nst_op_arg args[NST_TEST_CASE_TENSORS];
    const int n_args = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
    unsigned char *first[NST_TEST_CASE_TENSORS] = {0}, *second[NST_TEST_CASE_TENSORS] = {0};
    float *mag[NST_TEST_CASE_TENSORS] = {0}; /* the bound form's M per output argument */
    char msg[2048] = "";
    bool ok = n_args >= 0;
    for (int k = 0; ok && k < c->n_tensors; k++) {
        first[k] = malloc(block_bytes(c, k));
        second[k] = malloc(block_bytes(c, k));
        ok = first[k] && second[k];
    }
    nst_status s = ok ? run_cuda(cuda, c, first) : NST_ERR_NO_MEMORY;
    if (s == NST_OK) /* both runs start from the same host data, accumulating ops included */
        s = run_cuda(cuda, c, second);
    if (s != NST_OK) {
        snprintf(msg, sizeof msg, "\n    cuda: %s: %s", nst_status_name(s), nst_last_error(cuda));
        ok = false;
    }
    /* M from the inputs as the GPU had them, before the CPU run overwrites (or adds to) them */
    if (ok && nst_parity_bound_applies(c->op) &&
        (s = nst_parity_magnitudes(cpu, c->op, &c->p, mag, NST_TEST_CASE_TENSORS)) != NST_OK) {
        snprintf(msg, sizeof msg, "\n    cpu on absolute values: %s: %s", nst_status_name(s),
                 nst_last_error(cpu));
        ok = false;
    }
    if (ok && (s = nst_op_run(cpu, c->op, &c->p)) != NST_OK) {
        snprintf(msg, sizeof msg, "\n    cpu: %s: %s", nst_status_name(s), nst_last_error(cpu));
        ok = false;
    }
    for (int k = 0; ok && k < c->n_tensors; k++) {
        const size_t bytes = nst_tensor_bytes(&c->t[k]);
        if (!guards_intact(first[k], bytes)) {
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg),
                     "\n    a guard byte around tensor %d changed on the GPU", k);
            ok = false;
        }
        if (info->deterministic && memcmp(first[k], second[k], block_bytes(c, k)) != 0) {
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg),
                     "\n    tensor %d differs between two GPU runs", k);
            ok = false;
        }
    }
    for (int a = 0; ok && a < n_args; a++) {
        if (args[a].role == NST_ARG_IN || !args[a].t)
            continue;
        int k = 0;
        while (k < c->n_tensors && args[a].t != &c->t[k])
            k++;
        const float *got = (const float *)(first[k] + NST_TEST_GUARD_BYTES);
        nst_parity_tol tol = {0}; /* docs/design.md's fp32 form unless the bound form applies */
        if (mag[a])
            tol = (nst_parity_tol){
                .magnitude = mag[a],
                .length = nst_parity_reduction_length(c->op, &c->p, args[a].name),
                .tf32 = info->tf32 && nst_parity_tf32_applies(c->op)};
        if (nst_parity_compare(args[a].name, got, c->t[k].data,
                               (size_t)nst_tensor_numel(&c->t[k]), &tol, msg, sizeof msg) > 0)
            ok = false;
    }
    if (ok)
        printf("ok       [%s] %s\n", info->name, c->what);
    else
        printf("FAIL     [%s] %s%s\n", info->name, c->what, msg);
    ok ? t->passed++ : t->failed++;
    for (int k = 0; k < c->n_tensors; k++)
        free(first[k]), free(second[k]);
    nst_parity_magnitudes_free(mag, NST_TEST_CASE_TENSORS);
    fflush(stdout);
}

/* One pass over fresh cases (outputs NaN again, accumulators at their first values): the
 * context set up for it, then every case it runs. */
static void run_pass(nst_ctx *cpu, nst_ctx *cuda, nst_parity_pass pass, tally *t) {
    nst_parity_ctx_setup(cuda, pass);
    int n_shared = 0, n_extra = 0;
    nst_test_op_case *shared = nst_test_op_cases(&n_shared);
    nst_test_op_case *extra = nst_test_extra_cases(&n_extra);
    for (int i = 0; i < n_shared; i++)
        if (nst_parity_pass_runs(pass, shared[i].op, &shared[i].p))
            run_case(cpu, cuda, pass, &shared[i], t);
    for (int i = 0; i < n_extra; i++)
        if (nst_parity_pass_runs(pass, extra[i].op, &extra[i].p))
            run_case(cpu, cuda, pass, &extra[i], t);
    nst_test_op_cases_free(shared, n_shared);
    nst_test_op_cases_free(extra, n_extra);
}

int main(void) {
    nst_ctx *cpu = nst_ctx_create(), *cuda = nst_ctx_create();
    if (!cpu || !cuda || nst_ctx_reserve_scratch(cpu, (size_t)256 << 20) != NST_OK) {
        printf("no host memory for the contexts\n0 passed, 1 failed\n");
        return 1;
    }
    nst_status s = nst_ctx_set_device(cuda, "cuda:0");
    if (s != NST_OK) {
        printf("no cuda: %s: %s\n0 passed, 0 failed\n", nst_status_name(s), nst_last_error(cuda));
        return s == NST_ERR_NO_DEVICE ? SKIP_CODE : 1;
    }
    printf("cuda: %s\n", nst_ctx_device_name(cuda));
    if ((s = nst_ctx_reserve_scratch(cuda, (size_t)64 << 20)) != NST_OK) {
        printf("cuda scratch: %s\n0 passed, 1 failed\n", nst_last_error(cuda));
        return 1;
    }
    tally t = {0, 0, 0};
    for (int pass = 0; pass < NST_PARITY_PASSES; pass++)
        run_pass(cpu, cuda, (nst_parity_pass)pass, &t);
    printf("known missing on CUDA (kernels to come, %d cases not run):", t.missing);
    int known = 0, missing = 0, landed = 0;
    for (int op = 0; op < NST_OP_COUNT; op++) {
        const char *name = nst_op_get_info((nst_op)op)->name;
        if (nst_test_cuda_missing(name) && !nst_op_supported_on(NST_BACKEND_CUDA, (nst_op)op))
            printf("%s%s", known++ ? ", " : " ", name);
    }
    printf("%s\nops without a CUDA implementation:", known ? "" : " none");
    for (int op = 0; op < NST_OP_COUNT; op++) {
        const char *name = nst_op_get_info((nst_op)op)->name;
        if (!nst_test_cuda_missing(name) && !nst_op_supported_on(NST_BACKEND_CUDA, (nst_op)op))
            printf("%s%s", missing++ ? ", " : " ", name);
    }
    printf("%s\nlisted as missing but implemented (leave tests/support/cuda_missing.h):",
           missing ? "" : " none");
    for (int op = 0; op < NST_OP_COUNT; op++) {
        const char *name = nst_op_get_info((nst_op)op)->name;
        if (nst_test_cuda_missing(name) && nst_op_supported_on(NST_BACKEND_CUDA, (nst_op)op))
            printf("%s%s", landed++ ? ", " : " ", name);
    }
    printf("%s\n", landed ? "" : " none");
    /* each one a failure: the CUDA backend must run the whole table but the listed ops */
    t.failed += missing + landed;
    printf("%d passed, %d failed\n", t.passed, t.failed);
    nst_ctx_destroy(cuda);
    nst_ctx_destroy(cpu);
    return t.failed ? 1 : 0;
}
