/* The CUDA op table is complete, with no GPU needed: in a CUDA build every op of the table (the
 * convolutions: cuDNN; linear: cuBLAS; the rest: kernels in src/kernels/) must have a CUDA entry
 * (nst_op_supported_on). The required ops come from the table's own list (NST_OP_LIST in
 * include/nstyle/ops.h), so an op added there is required at once. Ops still expected to be
 * missing are listed by name, and the test checks that exactly those are missing, so an entry
 * that lands must also leave the list. In a CPU-only build the CUDA backend answers no op at
 * all. */
#include <criterion/criterion.h>
#include <string.h>

#include "cuda_missing.h"
#include "nstyle/nstyle.h"

/* The ops that need a CUDA entry: every op of the table, by enum and by name. */
typedef struct {
    nst_op op;
    const char *name;
} required_op;

static const required_op required[] = {
#define NST__REQUIRED(E, name, P) {NST_OP_##E, #name},
    NST_OP_LIST(NST__REQUIRED)
#undef NST__REQUIRED
};
#define N_REQUIRED (sizeof required / sizeof required[0])

/* Required ops whose CUDA entry has not landed yet: tests/support/cuda_missing.h (none at
 * present). An op added to the table without its entry is named there until the entry lands. */
#define expected_missing nst_test_cuda_missing_ops
#define is_expected_missing nst_test_cuda_missing

static bool is_required(const char *name) {
    for (size_t i = 0; i < N_REQUIRED; i++)
        if (strcmp(required[i].name, name) == 0)
            return true;
    return false;
}

#ifdef NST_HAVE_CUDA
Test(cuda_op_table, every_network_op_has_a_cuda_entry) {
    int supported = 0;
    for (size_t i = 0; i < N_REQUIRED; i++) {
        const nst_op op = required[i].op;
        cr_assert_eq(nst_op_from_name(required[i].name), op, "%s is not an op of the table",
                     required[i].name);
        const bool has = nst_op_supported_on(NST_BACKEND_CUDA, op);
        supported += has;
        if (is_expected_missing(required[i].name))
            cr_expect(!has, "%s has a CUDA entry now: remove it from expected_missing",
                      required[i].name);
        else
            cr_expect(has, "%s has no CUDA entry (src/host/cuda/cuda_ops.c)", required[i].name);
    }
    cr_assert_gt(supported, 0,
                 "the CUDA backend answers no op at all: its module did not load, so the table "
                 "could not be checked");
    for (size_t i = 0; expected_missing[i]; i++)
        cr_assert(is_required(expected_missing[i]), "%s is not a required op",
                  expected_missing[i]);
    cr_assert_eq(N_REQUIRED, (size_t)NST_OP_COUNT, "every op of the table is required");
}
#else
Test(cuda_op_table, a_cpu_only_build_has_no_cuda_entry) {
    for (int op = 0; op < NST_OP_COUNT; op++)
        cr_expect(!nst_op_supported_on(NST_BACKEND_CUDA, (nst_op)op), "%s",
                  nst_op_get_info((nst_op)op)->name);
    (void)required;
    (void)is_expected_missing;
    (void)is_required;
}
#endif
