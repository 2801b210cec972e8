/* The CUDA-on-CPU shim's checks (tests/cushim/), each shown to catch what it is for: bugs planted
 * in copies of real kernels (tests/emul/planted_kernels.cpp) must be reported, naming the
 * kernel, block, threads and place, while the real kernels on the same inputs give no finding:
 *   - a deleted __syncthreads in the Gram tile loop (either of the two): the race detector
 *     reports the shared-memory race, and the result changes;
 *   - a result that depends on block order: block sums added by a float atomicAdd (race-free,
 *     caught by the block orders: forward and reverse give other bits), and running sums that
 *     read the previous block's partial (the detector reports the race between blocks);
 *   - a barrier inside a branch some threads skip (they return while the others wait), and a
 *     barrier on either side of a branch (threads wait at different barriers);
 *   - an off-by-one tree step (a read past a shared array: its guard zone; a race), a load
 *     phase that skips threads (reads of shared slots no thread wrote), a launch past a
 *     tracked buffer (its guard zone), a misaligned 4-wide access (named with its kernel);
 * and the orders: forward, reverse and seeded shuffles of blocks and of the threads resumed
 * after each barrier, the same for the same seed. Part of test_kernel_emul. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../src/kernels/gram.cuh"
#include "../../src/kernels/reduce.cuh"
#include "../../src/kernels/relu.cuh"
#include "emul.h"
#include "test_support.h"

static const emul_mode forward = {.name = "grid order"};
static const emul_mode reverse = {.name = "reverse order", .blocks = CUSHIM_REVERSE,
                                  .threads = CUSHIM_REVERSE};
static const emul_mode shuffled = {.name = "shuffled order", .blocks = CUSHIM_SHUFFLED,
                                   .threads = CUSHIM_SHUFFLED};

static void fill_uniform(float *x, int64_t n, uint64_t seed) {
    nst_test_rng r = nst_test_rng_seed(seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)nst_test_rng_uniform(&r, -1.0, 1.0);
}

/* Whether the shim's report holds `text`; fails naming both when not. */
static void reported(const char *text) {
    cr_assert(strstr(cushim_report(), text),
              "expected a finding with \"%s\"; the shim reported:\n%s", text, cushim_report());
}

Test(cushim, planted_missing_gram_barrier_is_reported) {
    const int64_t HW = 64, C = 64; /* one tile pair, one chunk, four stages of 16 rows */
    float *x = emul_scratch((size_t)(HW * C) * sizeof(float), "x");
    fill_uniform(x, HW * C, 11);
    nst_k_gram k = nst_k_gram_make(x, 1, HW, C);
    const size_t bytes = nst_k_gram_scratch(&k, 0);
    k.part = emul_scratch(bytes, "partials");
    const int64_t blocks = nst_k_gram_forward_blocks(&k);
    cr_assert_eq(blocks, 1);
    cushim_reset();
    EMUL_K(&forward, nst_k_gram_forward_kernel, blocks, NST_K_GRAM_THREADS, &k);
    cr_assert_eq(cushim_findings(), 0, "the real kernel: %s", cushim_report());
    float *want = malloc(bytes);
    cr_assert_not_null(want);
    memcpy(want, k.part, bytes);

    static const char *const planted[2] = {"planted_gram_no_load_barrier_kernel",
                                           "planted_gram_no_mac_barrier_kernel"};
    for (int i = 0; i < 2; i++) {
        cushim_reset();
        emul_kernel(&forward, planted[i], blocks, NST_K_GRAM_THREADS, &k, sizeof k);
        cr_assert_gt(cushim_findings(), 0, "%s: nothing reported", planted[i]);
        char where[128];
        snprintf(where, sizeof where, "kernel %s, block 0: ", planted[i]);
        reported(where);
        reported("race on shared sm (planted_kernels.cpp:");
        reported("in the same barrier interval (no __syncthreads between them)");
        cr_assert(memcmp(k.part, want, bytes) != 0, "%s: the partials came out right",
                  planted[i]);
        /* with the race detector off, only the other checks (none of which sees this) */
        const cushim_config quiet = {.seed = emul_seed(), .races = false};
        cushim_configure(&quiet);
        cushim_reset();
        cushim_launch(planted[i], blocks, NST_K_GRAM_THREADS, &k, sizeof k);
        cr_assert_eq(cushim_findings(), 0, "%s", cushim_report());
    }
    cushim_reset();
    free(want);
    emul_scratch_free(k.part);
    emul_scratch_free(x);
}

/* x for reduce.cuh's pass 1 on 4 blocks of 256 threads, v = 1, whose block sums are 2^24, 1, 1
 * and -2^24: added in block order as floats they give 0, in reverse order 2. */
static nst_k_reduce four_block_sums(void) {
    enum { BLOCKS = 4, T = NST_K_REDUCE_THREADS, PER = NST_K_REDUCE_PER_THREAD };
    const int64_t n = (int64_t)BLOCKS * T * PER;
    float *x = emul_scratch((size_t)n * sizeof(float), "x");
    static const float each[BLOCKS] = {4096.0f, 1.0f / 4096, 1.0f / 4096, -4096.0f};
    for (int64_t i = 0; i < n; i++)
        x[i] = each[(i / T) % BLOCKS]; /* element i is thread i % T of block (i / T) % BLOCKS */
    nst_k_reduce k = nst_k_reduce_make(x, n, NULL, NULL, 0);
    k.v = 1;
    cr_assert_eq(k.blocks, BLOCKS);
    k.part = emul_scratch(nst_k_reduce_scratch(n), "partials");
    k.y = emul_scratch(sizeof(float), "y");
    return k;
}

static void free_sums(nst_k_reduce *k) {
    emul_scratch_free(k->y);
    emul_scratch_free(k->part);
    emul_scratch_free((void *)k->x);
}

Test(cushim, planted_block_order_dependence_is_reported) {
    nst_k_reduce k = four_block_sums();
    /* the atomic total: no race, but the block orders give other bits */
    const emul_mode *orders[3] = {&forward, &reverse, &shuffled};
    float total[3];
    for (int i = 0; i < 3; i++) {
        cushim_reset();
        *k.y = 0.0f;
        emul_kernel(orders[i], "planted_reduce_atomic_total_kernel", k.blocks,
                    NST_K_REDUCE_THREADS, &k, sizeof k);
        cr_assert_eq(cushim_findings(), 0, "%s", cushim_report());
        total[i] = *k.y;
    }
    cr_assert(total[0] == 0.0f && total[1] == 2.0f,
              "the float total in block order is %g, in reverse order %g (0 and 2 expected)",
              (double)total[0], (double)total[1]);

    /* running sums: block b reads the partial block b - 1 stored, in every order */
    for (int i = 0; i < 3; i++) {
        cushim_reset();
        emul_kernel(orders[i], "planted_reduce_chained_kernel", k.blocks, NST_K_REDUCE_THREADS,
                    &k, sizeof k);
        cr_assert_gt(cushim_findings(), 0, "%s: nothing reported", orders[i]->name);
        reported("kernel planted_reduce_chained_kernel, block ");
        reported("race on global partials at byte ");
        reported("in this launch (nothing orders blocks)");
    }
    cushim_reset();
    /* the real kernels on the same input */
    EMUL_K(&shuffled, nst_k_reduce_partial_kernel, k.blocks, NST_K_REDUCE_THREADS, &k);
    EMUL_K(&shuffled, nst_k_reduce_final_kernel, 1, NST_K_REDUCE_THREADS, &k);
    cr_assert_eq(cushim_findings(), 0, "%s", cushim_report());
    cr_assert_eq(*k.y, 2.0f); /* the partials added in double */
    free_sums(&k);
}

/* A final-kernel launch over 1 partial, for the planted final kernels. */
static nst_k_reduce one_partial(void) {
    nst_k_reduce k = nst_k_reduce_make(NULL, 1, NULL, NULL, 0);
    k.part = emul_scratch(sizeof(double), "partials");
    k.part[0] = 1.5;
    k.y = emul_scratch(sizeof(float), "y");
    return k;
}

static void launch_final(const char *kernel, nst_k_reduce *k) {
    cushim_reset();
    emul_kernel(&forward, kernel, 1, NST_K_REDUCE_THREADS, k, sizeof *k);
    cr_assert_gt(cushim_findings(), 0, "%s: nothing reported", kernel);
    char where[128];
    snprintf(where, sizeof where, "kernel %s, block 0: ", kernel);
    reported(where);
}

Test(cushim, planted_barrier_in_a_branch_is_reported) {
    nst_k_reduce k = one_partial();
    launch_final("planted_reduce_branch_barrier_kernel", &k);
    reported("barrier divergence: threads 128-255 returned while the others wait at "
             "planted_kernels.cpp:");
    launch_final("planted_reduce_two_barriers_kernel", &k);
    reported("barrier divergence: threads 0-127 wait at planted_kernels.cpp:");
    reported("; threads 128-255 wait at planted_kernels.cpp:");
    cushim_reset();
    EMUL_K(&reverse, nst_k_reduce_final_kernel, 1, NST_K_REDUCE_THREADS, &k);
    cr_assert_eq(cushim_findings(), 0, "the real kernel: %s", cushim_report());
    cr_assert_eq(*k.y, 1.5f);
    emul_scratch_free(k.y);
    emul_scratch_free(k.part);
}

Test(cushim, shared_out_of_bounds_and_unwritten_reads_are_reported) {
    nst_k_reduce k = one_partial();
    launch_final("planted_reduce_off_by_one_kernel", &k);
    reported("thread 128 reads 8 bytes of shared sm (planted_kernels.cpp:");
    reported("at element 256 (byte 2048), outside its 2048 bytes");
    reported("thread 128 writes it, thread 0 read it in the same barrier interval");
    launch_final("planted_reduce_half_load_kernel", &k);
    reported("reads shared sm (planted_kernels.cpp:");
    reported(", which no thread of this block wrote");
    cushim_reset();
    emul_scratch_free(k.y);
    emul_scratch_free(k.part);
}

Test(cushim, tracked_buffers_have_guard_zones) {
    enum { N = 300 };
    float *x = emul_scratch(N * sizeof(float), "x"), *y = emul_scratch(N * sizeof(float), "y");
    fill_uniform(x, N, 12);
    nst_k_flat k = nst_k_flat_make(x, NULL, y, N + 1); /* a launcher's off-by-one */
    k.v = 1;
    cushim_reset();
    EMUL_FLAT(&forward, nst_k_relu_forward, k);
    reported("kernel nst_k_relu_forward_kernel, block 1: thread 44 reads 4 bytes of global x at "
             "byte 1200, outside its 1200 bytes");
    reported("thread 44 writes 4 bytes of global y at byte 1200, outside its 1200 bytes");
    cushim_reset();
    k.n = N;
    EMUL_FLAT(&forward, nst_k_relu_forward, k);
    cr_assert_eq(cushim_findings(), 0, "%s", cushim_report());
    emul_scratch_free(y);
    emul_scratch_free(x);
}

Test(cushim, misaligned_vector_access_names_the_kernel) {
    enum { N = 64 };
    float *x = emul_scratch((N + 1) * sizeof(float), "x");
    float *y = emul_scratch(N * sizeof(float), "y");
    fill_uniform(x, N + 1, 13);
    nst_k_flat k = nst_k_flat_make(x + 1, NULL, y, N);
    k.v = 4; /* as a launcher that skipped nst_k_vec_ok would */
    cushim_reset();
    EMUL_FLAT(&forward, nst_k_relu_forward, k);
    reported("kernel nst_k_relu_forward_kernel, block 0: 4-wide access at ");
    reported("which is not 16-byte aligned");
    cushim_reset();
    emul_scratch_free(y);
    emul_scratch_free(x);
}

enum { PB = 3, PT = 5, PLOG = 2 * PB * PT };

typedef struct {
    int *counter;
    int *log;
} planted_probe;

/* The order probe's log: (block * 1000 + thread) in the order the threads ran, twice per block
 * (before and after its barrier). */
static void probe(const emul_mode *m, uint64_t seed, int *log) {
    planted_probe p = {emul_scratch(sizeof(int), "counter"),
                       emul_scratch(PLOG * sizeof(int), "log")};
    *p.counter = 0;
    const cushim_config c = {.blocks = m->blocks, .threads = m->threads, .seed = seed,
                             .races = true};
    cushim_configure(&c);
    cushim_reset();
    cushim_launch("planted_order_probe_kernel", PB, PT, &p, sizeof p);
    cr_assert_eq(cushim_findings(), 0, "%s", cushim_report());
    cr_assert_eq(*p.counter, PLOG);
    memcpy(log, p.log, sizeof(int) * PLOG);
    emul_scratch_free(p.log);
    emul_scratch_free(p.counter);
}

static bool is_ascending(const int *v, int n) {
    for (int i = 1; i < n; i++)
        if (v[i] < v[i - 1])
            return false;
    return true;
}

Test(cushim, orders_of_blocks_and_threads) {
    int f[PLOG], r[PLOG], s1[PLOG], s2[PLOG], s3[PLOG];
    probe(&forward, 1, f);
    probe(&reverse, 1, r);
    for (int b = 0; b < PB; b++) {
        for (int half = 0; half < 2; half++) {
            const int *fp = f + (b * 2 + half) * PT, *rp = r + (b * 2 + half) * PT;
            cr_assert(is_ascending(fp, PT) && fp[0] == b * 1000, "forward: block %d", b);
            cr_assert(rp[0] == (PB - 1 - b) * 1000 + PT - 1 && !is_ascending(rp, PT),
                      "reverse: block %d", PB - 1 - b);
        }
    }
    probe(&shuffled, 7, s1);
    probe(&shuffled, 7, s2);
    probe(&shuffled, 8, s3);
    cr_assert(memcmp(s1, s2, sizeof s1) == 0, "one seed, one order");
    cr_assert(memcmp(s1, s3, sizeof s1) != 0, "another seed, another order");
    cr_assert(memcmp(s1, f, sizeof s1) != 0 && memcmp(s1, r, sizeof s1) != 0);
    /* the threads of a block resume in a new order after its barrier */
    bool reshuffled = false;
    for (int b = 0; b < PB; b++)
        reshuffled |= memcmp(s1 + b * 2 * PT, s1 + (b * 2 + 1) * PT, PT * sizeof(int)) != 0;
    cr_assert(reshuffled);
}
