/* ctest's view of the parity tool (tests/parity/parity.c): runs nst_parity, prints its output,
 * and passes when it exits 0 and its last line says `N passed, 0 failed` with N > 0. Skipped,
 * saying why, when there is no GPU (nst_test_cuda_ctx decides, as for every GPU test). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "test_support.h"

Test(parity, every_op_with_a_kernel_matches_the_cpu, .timeout = 600) {
    nst_ctx *probe = nst_test_cuda_ctx(); /* skips without a GPU */
    nst_ctx_destroy(probe);
    FILE *f = popen(NST_PARITY_PATH " 2>&1", "r");
    cr_assert_not_null(f, "cannot run %s", NST_PARITY_PATH);
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, f)) {
        fputs(line, stdout);
        if (line[0] && line[0] != '\n')
            strcpy(last, line);
    }
    const int status = pclose(f);
    int passed = -1, failed = -1;
    cr_assert_eq(sscanf(last, "%d passed, %d failed", &passed, &failed), 2,
                 "the last line is not a tally: %s", last);
    cr_assert_eq(failed, 0, "%d parity cases failed (output above)", failed);
    cr_assert_gt(passed, 0, "no parity case ran");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "nst_parity exit status %d", status);
}
