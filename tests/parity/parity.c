/* nst_parity: every op of the table that has cases (tests/support/op_cases.c, then
 * tests/emul/extra_cases.c), forward and backward, run on CUDA and on the CPU in one process on
 * one CUDA context, in the style of ggml's test-backend-ops. Each device tensor sits between
 * guard regions (the case's guard bytes, uploaded with it) that must come back unchanged; outputs
 * start as NaN, so an element the op does not write fails. Results must agree within DESIGN.md's
 * fp32 tolerances (|cuda - cpu| <= atol + rtol * |cpu|, rtol 1e-5, atol 1e-6 * max|cpu|), NaN
 * and inf only where the CPU has them; each op also runs twice on the GPU and must give the same
 * bits (both runs start from the same inputs), in deterministic mode; grid_sample_backward also
 * runs on its default atomic dx path, within the tolerances only. Prints one line per case (ok,
 * or FAIL with the first mismatches; an op without a CUDA implementation fails), the ops
 * without one (each counted as a failure too), then `N passed, N failed` as the last line.
 * Exit status: 0 when nothing failed, 77 when there is no GPU, 1 otherwise.
 * Run it under compute-sanitizer (memcheck, racecheck, synccheck) on a GPU machine; wrapped for
 * ctest by tests/parity/test_parity.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extra_cases.h"
#include "op_cases.h"

#define SKIP_CODE 77

typedef struct {
    int passed, failed;
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

/* Compares one output; prints up to 3 mismatches after the case's FAIL line. */
static int compare(const char *arg, const float *got, const float *ref, size_t n, char *msg,
                   size_t size) {
    double max_ref = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > max_ref)
            max_ref = fabs(ref[i]);
    const double atol = 1e-6 * max_ref, rtol = 1e-5;
    int bad = 0;
    size_t used = strlen(msg);
    for (size_t i = 0; i < n; i++) {
        const double g = got[i], r = ref[i];
        bool ok;
        if (!isfinite(r) || !isfinite(g))
            ok = (isnan(r) && isnan(g)) || g == r;
        else
            ok = fabs(g - r) <= atol + rtol * fabs(r);
        if (!ok && bad++ < 3 && used < size)
            used += (size_t)snprintf(msg + used, size - used, "\n    %s[%zu] = %.9g, cpu %.9g", arg,
                                     i, g, r);
    }
    return bad;
}

/* A case whose op has no CUDA implementation fails: every op of the table must have one. With
 * `relaxed`, only the tolerances apply (no two-run bits check): grid_sample_backward's atomic dx
 * path, whose float adds may come in any order. */
static void run_case(nst_ctx *cpu, nst_ctx *cuda, nst_test_op_case *c, tally *t, bool relaxed) {
    if (!nst_op_supported_on(NST_BACKEND_CUDA, c->op)) {
        printf("FAIL     %s\n    no cuda implementation\n", c->what);
        t->failed++;
        return;
    }
    nst_op_arg args[NST_TEST_CASE_TENSORS];
    const int n_args = nst_op_args(c->op, &c->p, args, NST_TEST_CASE_TENSORS);
    unsigned char *first[NST_TEST_CASE_TENSORS] = {0}, *second[NST_TEST_CASE_TENSORS] = {0};
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
        if (!relaxed && memcmp(first[k], second[k], block_bytes(c, k)) != 0) {
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
        if (compare(args[a].name, got, c->t[k].data, (size_t)nst_tensor_numel(&c->t[k]), msg,
                    sizeof msg) > 0)
            ok = false;
    }
    if (ok)
        printf("ok       %s\n", c->what);
    else
        printf("FAIL     %s%s\n", c->what, msg);
    ok ? t->passed++ : t->failed++;
    for (int k = 0; k < c->n_tensors; k++)
        free(first[k]), free(second[k]);
    fflush(stdout);
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
    tally t = {0, 0};
    int n_shared = 0, n_extra = 0;
    nst_test_op_case *shared = nst_test_op_cases(&n_shared);
    nst_test_op_case *extra = nst_test_extra_cases(&n_extra);
    /* deterministic mode first (every op gives the same bits twice), then grid_sample_backward
     * again on its default atomic dx path, within the tolerances */
    nst_ctx_set_deterministic(cuda, true);
    for (int i = 0; i < n_shared; i++)
        run_case(cpu, cuda, &shared[i], &t, false);
    for (int i = 0; i < n_extra; i++)
        run_case(cpu, cuda, &extra[i], &t, false);
    nst_ctx_set_deterministic(cuda, false);
    for (int set = 0; set < 2; set++) {
        nst_test_op_case *cases = set ? extra : shared;
        for (int i = 0; i < (set ? n_extra : n_shared); i++) {
            if (cases[i].op != NST_OP_GRID_SAMPLE_BACKWARD || !cases[i].p.sample.dx)
                continue;
            char what[sizeof cases[i].what];
            memcpy(what, cases[i].what, sizeof what);
            snprintf(cases[i].what, sizeof cases[i].what, "%.70s (atomic dx)", what);
            run_case(cpu, cuda, &cases[i], &t, true);
            memcpy(cases[i].what, what, sizeof what);
        }
    }
    printf("ops without a CUDA implementation:");
    int missing = 0;
    for (int op = 0; op < NST_OP_COUNT; op++)
        if (!nst_op_supported_on(NST_BACKEND_CUDA, (nst_op)op))
            printf("%s%s", missing++ ? ", " : " ", nst_op_get_info((nst_op)op)->name);
    printf("%s\n", missing ? "" : " none");
    t.failed += missing; /* each one a failure: the CUDA backend must run the whole table */
    printf("%d passed, %d failed\n", t.passed, t.failed);
    nst_test_op_cases_free(shared, n_shared);
    nst_test_op_cases_free(extra, n_extra);
    nst_ctx_destroy(cuda);
    nst_ctx_destroy(cpu);
    return t.failed ? 1 : 0;
}
