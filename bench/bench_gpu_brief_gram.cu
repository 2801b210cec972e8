/* The launch sequences of the Gram forward and backward, as gram.cu launches them, for
 * bench_gpu_brief.cu to time. This source is built as gram.cu is, without -fmad=false (its
 * rank-1 updates are fused on purpose and it claims fp32 tolerances, not the CPU's bits), and
 * bench_gpu_brief.cu with it, as the sources of the kernels it launches itself
 * (bench/bench_gpu.cmake). Run by bench_gpu_brief on a GPU. */
#include "bench_gpu_util.cuh"
#include "kernels/gram.cuh"

NST_K_GLOBAL(nst_k_gram_final, nst_k_gram)
NST_K_GLOBAL(nst_k_gram_sym, nst_k_gram)

/* The forward: the tile kernel's partial Grams, then the final kernel adds the chunks. */
void bench_gram_forward(const nst_k_gram &k) {
    nst_k_gram_forward_kernel<<<(unsigned)nst_k_gram_forward_blocks(&k), NST_K_GRAM_THREADS, 0,
                                bench_stream>>>(k);
    BENCH_LAUNCH_1D(nst_k_gram_final, k.N * k.C * k.C, k);
}

/* The backward: dG symmetrised, then the tile kernel's dx. */
void bench_gram_backward(const nst_k_gram &k) {
    BENCH_LAUNCH_1D(nst_k_gram_sym, k.N * k.C * k.C, k);
    nst_k_gram_backward_kernel<<<(unsigned)nst_k_gram_backward_blocks(&k), NST_K_GRAM_THREADS, 0,
                                 bench_stream>>>(k);
}
