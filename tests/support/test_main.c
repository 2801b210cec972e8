/* The main of every test executable: Criterion's own, plus an exit status that tells ctest about
 * skips. Criterion exits 0 when tests skip, so ctest would count them as passes; here a run whose
 * selected tests all passed or skipped, with at least one skipped, exits NST_TEST_SKIP_CODE
 * (the SKIP_RETURN_CODE that CMakeLists.txt gives every test), after a line per skipped test
 * with its reason. A --filter that selects no test fails, so a renamed test cannot quietly drop
 * out of the ctest entries that name it. The folders of nst_test_tmpdir go into one folder per
 * run, removed here at the end, so that a test that crashes leaves nothing behind either. Linked
 * into each test executable (not through the support library, whose members are only pulled in
 * when referenced). */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_files.h"

#ifndef NST_TEST_SKIP_CODE
#define NST_TEST_SKIP_CODE 77
#endif

static size_t n_run, n_skipped;

/* Report hooks run in the runner process, once per selected test (filtered-out tests have no
 * POST_TEST, though Criterion counts them as skipped in its global statistics). */
ReportHook(POST_TEST)(struct criterion_test_stats *stats) {
    n_run++;
    if (stats->test_status != CR_STATUS_SKIPPED)
        return;
    n_skipped++;
    printf("SKIPPED %s/%s: %s\n", stats->test->category, stats->test->name,
           stats->message && *stats->message ? stats->message : "(no reason given)");
    fflush(stdout);
}

int main(int argc, char *argv[]) {
    char root[4096];
    const char *base = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/nstyle-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(root) || setenv("NST_TEST_TMPROOT", root, 1) != 0) {
        perror(root);
        return 1;
    }
    struct criterion_test_set *tests = criterion_initialize();
    int status = 0;
    if (criterion_handle_args(argc, argv, true)) {
        status = criterion_run_all_tests(tests) ? 0 : 1;
        if (status == 0 && n_run == 0) {
            fprintf(stderr, "no test matched the filter: nothing ran\n");
            status = 1;
        } else if (status == 0 && n_skipped > 0) {
            printf("%zu of %zu tests skipped, the others passed\n", n_skipped, n_run);
            status = NST_TEST_SKIP_CODE;
        }
    }
    criterion_finalize(tests);
    nst_test_remove_tree(root);
    return status;
}
