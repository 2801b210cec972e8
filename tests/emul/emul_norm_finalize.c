/* Instance norm's finalize kernel (instance_norm.cuh) launched as instance_norm.cu launches it,
 * under the CUDA-on-CPU shim (emul.h): one block of 32 threads per item, each item's chunk
 * partials taken stage by stage through shared memory; every order of the modes below, and a
 * 2-block grid.
 * Tested against a plain loop over the chunk partials: each (n, c) must add its partials in chunk
 * order from 0, so the staged loads give the very bits of one thread adding them one by one. The
 * partials make another order of the additions show: the mean's span sixty binary orders of
 * magnitude (compared as doubles); the gradient sums' come in pairs of about +-2^40 that cancel
 * to about 1, so each rounding of a pair reaches the float outputs. The chunk counts sit on
 * either side of the stage. Part of test_kernel_emul. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/kernels/instance_norm.cuh"
#include "emul.h"
#include "test_support.h"

void emul_norm_finalize(const emul_mode *m, const nst_k_norm *k) {
    nst_k_grid g = nst_k_norm_fin_grid(k);
    cr_assert_eq(g.threads, NST_K_NORM_FIN_THREADS);
    if (m->max_blocks > 0 && g.blocks > m->max_blocks)
        g.blocks = m->max_blocks;
    if (g.blocks > 0)
        EMUL_K(m, nst_k_norm_finalize_kernel, g.blocks, g.threads, k);
}

enum { N = 3, C = 37, M = 1000 };

/* A random double of magnitude 2^-30 to 2^30 (uniform in [lo, 1) times a random power of 2). */
static double wide(nst_test_rng *r, double lo) {
    return ldexp(nst_test_rng_uniform(r, lo, 1.0), (int)nst_test_rng_uniform(r, -30, 30));
}

/* part[n, k, c] for every n, c: pairs of chunks whose sum is about 1 while each is about 2^40. */
static void fill_cancelling(double *part, int64_t chunks, nst_test_rng *r) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < chunks; k++)
            for (int64_t c = 0; c < C; c++) {
                double *x = &part[(n * chunks + k) * C + c];
                *x = k % 2 == 0 ? ldexp(nst_test_rng_uniform(r, -1.0, 1.0), 40)
                                : nst_test_rng_uniform(r, -1.0, 1.0) - x[-C];
            }
}

/* The kernels' arguments over `chunks` chunk partials per (n, c) in a new scratch (*scratch, to
 * free); the partials are the caller's to fill. */
static nst_k_norm make_norm(int64_t chunks, int backward, void **scratch) {
    nst_k_norm_shape d = nst_k_norm_shape_make(N, M, C);
    d.chunks = chunks;
    *scratch = emul_scratch(nst_k_norm_layout_make(d, backward).total, "partial sums");
    nst_k_norm p = nst_k_norm_make(d, *scratch, backward);
    p.eps = 1e-5f;
    return p;
}

static double plain_sum(const double *part, int64_t chunks, int64_t n, int64_t c) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; k++)
        s += part[(n * chunks + k) * C + c];
    return s;
}

static void same_bits(const char *what, int64_t chunks, const float *got, const float *want,
                      int64_t n) {
    for (int64_t i = 0; i < n; i++)
        cr_assert(memcmp(&got[i], &want[i], sizeof(float)) == 0,
                  "%s, %lld chunks, element %lld: %a, a plain loop gives %a", what,
                  (long long)chunks, (long long)i, (double)got[i], (double)want[i]);
}

static const emul_mode modes[3] = {
    {.name = "grid order"},
    {.name = "shuffled order", .blocks = CUSHIM_SHUFFLED, .threads = CUSHIM_SHUFFLED},
    {.name = "2-block grid", .blocks = CUSHIM_REVERSE, .threads = CUSHIM_REVERSE,
     .max_blocks = 2}};
static const int64_t chunk_counts[] = {1, NST_K_NORM_FIN_STAGE - 1, NST_K_NORM_FIN_STAGE,
                                       NST_K_NORM_FIN_STAGE + 1, 3 * NST_K_NORM_FIN_STAGE + 5,
                                       NST_K_NORM_MAX_CHUNKS};

Test(kernel_emul, norm_forward_finalize_adds_the_chunks_in_order) {
    nst_test_rng r = nst_test_rng_seed(77);
    for (size_t t = 0; t < sizeof chunk_counts / sizeof chunk_counts[0]; t++) {
        const int64_t K = chunk_counts[t];
        for (int mi = 0; mi < 3; mi++) {
            void *scratch;
            nst_k_norm p = make_norm(K, 0, &scratch);
            for (int64_t i = 0; i < N * K * C; i++)
                p.part1[i] = wide(&r, -1.0);
            float mean_out[N * C], rstd_out[N * C], mean_bits[N * C], want[N * C];
            p.mean_out = mean_out, p.rstd_out = rstd_out;
            p.mode = NST_K_NORM_SUM;
            emul_norm_finalize(&modes[mi], &p);
            for (int64_t i = 0; i < N * C; i++) {
                const double m = plain_sum(p.part1, K, i / C, i % C) / (double)M;
                cr_assert(memcmp(&p.mean[i], &m, sizeof m) == 0,
                          "mean, %lld chunks, (n, c) %lld: %a, a plain loop gives %a",
                          (long long)K, (long long)i, p.mean[i], m);
                mean_bits[i] = (float)m;
            }
            for (int64_t i = 0; i < N * K * C; i++) /* the squares' partials */
                p.part1[i] = wide(&r, 0.0);
            p.mode = NST_K_NORM_SQUARES;
            emul_norm_finalize(&modes[mi], &p);
            for (int64_t i = 0; i < N * C; i++) {
                const double var = plain_sum(p.part1, K, i / C, i % C);
                want[i] = (float)(1.0 / sqrt(var / (double)M + (double)p.eps));
            }
            same_bits("rstd", K, rstd_out, want, N * C);
            same_bits("saved mean", K, mean_out, mean_bits, N * C);
            cr_assert_eq(cushim_findings(), 0, "%s, %lld chunks: the shim reported:\n%s",
                         modes[mi].name, (long long)K, cushim_report());
            emul_scratch_free(scratch);
        }
    }
}

Test(kernel_emul, norm_backward_finalize_adds_the_chunks_in_order) {
    nst_test_rng r = nst_test_rng_seed(78);
    for (size_t t = 0; t < sizeof chunk_counts / sizeof chunk_counts[0]; t++) {
        const int64_t K = chunk_counts[t];
        for (int mi = 0; mi < 3; mi++) {
            void *scratch;
            nst_k_norm p = make_norm(K, 1, &scratch);
            fill_cancelling(p.part1, K, &r);
            fill_cancelling(p.part2, K, &r);
            float gamma[C], rstd[N * C], dgamma[C], dbeta[C];
            float want_g[C], want_b[C], want_k1[N * C], want_m1[N * C], want_m2[N * C];
            for (int64_t c = 0; c < C; c++)
                gamma[c] = (float)nst_test_rng_uniform(&r, -2.0, 2.0);
            for (int64_t i = 0; i < N * C; i++)
                rstd[i] = (float)nst_test_rng_uniform(&r, 0.5, 2.0);
            for (int64_t c = 0; c < C; c++) {
                dgamma[c] = (float)nst_test_rng_uniform(&r, -1.0, 1.0);
                dbeta[c] = (float)nst_test_rng_uniform(&r, -1.0, 1.0);
            }
            p.gamma = gamma, p.rstd_in = rstd, p.dgamma = dgamma, p.dbeta = dbeta;
            p.accumulate = 1, p.mode = NST_K_NORM_GRAD;
            for (int64_t c = 0; c < C; c++) {
                double sg = 0.0, sb = 0.0;
                for (int64_t n = 0; n < N; n++) {
                    const double s1 = plain_sum(p.part1, K, n, c);
                    const double s2 = plain_sum(p.part2, K, n, c);
                    sg += s2, sb += s1;
                    want_k1[n * C + c] = (float)((double)gamma[c] * (double)rstd[n * C + c]);
                    want_m1[n * C + c] = (float)(s1 / (double)M);
                    want_m2[n * C + c] = (float)(s2 / (double)M);
                }
                want_g[c] = (float)(dgamma[c] + sg);
                want_b[c] = (float)(dbeta[c] + sb);
            }
            emul_norm_finalize(&modes[mi], &p);
            same_bits("dgamma", K, dgamma, want_g, C);
            same_bits("dbeta", K, dbeta, want_b, C);
            same_bits("k1", K, p.t0, want_k1, N * C);
            same_bits("m1", K, p.t1, want_m1, N * C);
            same_bits("m2", K, p.t2, want_m2, N * C);
            cr_assert_eq(cushim_findings(), 0, "%s, %lld chunks: the shim reported:\n%s",
                         modes[mi].name, (long long)K, cushim_report());
            emul_scratch_free(scratch);
        }
    }
}
