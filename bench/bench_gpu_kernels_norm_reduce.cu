/* The launch sequences of instance norm's forward and of the sum reduction, as instance_norm.cu
 * and reduce.cu launch them, for bench_gpu_kernels.cu to time. This source is built as those two
 * are, without -fmad=false (their kernels claim fp32 tolerances, not the CPU's bits), and
 * bench_gpu_kernels.cu with it, as the sources of the kernels it launches itself
 * (bench/bench_gpu.cmake). Run by bench_gpu_kernels on a GPU. */
#include "bench_gpu_util.cuh"
#include "kernels/instance_norm.cuh"
#include "kernels/reduce.cuh"

NST_K_GLOBAL(nst_k_norm_apply, nst_k_norm)

/* instance_norm.cu's forward: sums, finalize (the mean), squares, finalize (the statistics),
 * normalize; the finalize kernel on its own grid, nst_k_norm_fin_grid. */
void bench_norm_forward(nst_k_norm k) {
    k.mode = NST_K_NORM_SUM;
    nst_k_norm_partial_kernel<<<(unsigned)nst_k_norm_partial_blocks(&k), NST_K_NORM_THREADS, 0,
                                bench_stream>>>(k);
    BENCH_LAUNCH_GRID(nst_k_norm_finalize, nst_k_norm_fin_grid(&k), k);
    k.mode = NST_K_NORM_SQUARES;
    nst_k_norm_partial_kernel<<<(unsigned)nst_k_norm_partial_blocks(&k), NST_K_NORM_THREADS, 0,
                                bench_stream>>>(k);
    BENCH_LAUNCH_GRID(nst_k_norm_finalize, nst_k_norm_fin_grid(&k), k);
    BENCH_LAUNCH_1D(nst_k_norm_apply, nst_k_norm_elem_work(&k), k);
}

/* reduce.cu's two passes: the partial sums, then the final one-block sum. */
void bench_reduce_sum(const nst_k_reduce &r) {
    nst_k_reduce_partial_kernel<<<(unsigned)r.blocks, NST_K_REDUCE_THREADS, 0, bench_stream>>>(r);
    nst_k_reduce_final_kernel<<<1, NST_K_REDUCE_THREADS, 0, bench_stream>>>(r);
}
