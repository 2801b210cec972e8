/* Bugs planted in copies of real kernels, and probes of the shim's checks, for
 * tests/emul/test_cushim.c: each kernel below is a kernel of src/kernels/ copied here with one
 * change a GPU would run wrongly (the rest of it is the real headers' phases), compiled for the
 * host under the CUDA-on-CPU shim as tests/cushim/kernels.cpp is. Test code only: nothing in
 * src/ sees these. */
#include "cushim.h"

/* the headers' own kernels are tests/cushim/kernels.cpp's to launch */
#pragma GCC diagnostic ignored "-Wunused-function"

#include "../../src/kernels/gram.cuh"
#include "../../src/kernels/reduce.cuh"

/* gram.cuh's forward tile kernel without the barrier between a stage's loads and its
 * multiply-adds: threads read tile slots other threads have not loaded yet. */
static __global__ void planted_gram_no_load_barrier_kernel(nst_k_gram p) {
    NST_K_SHARED(float, sm, NST_K_GRAM_SMEM);
    nst_k_gram_acc st;
    nst_k_gram_zero(&st);
    const int64_t stages = nst_k_gram_forward_stages(&p);
    for (int64_t s = 0; s < stages; s++) {
        nst_k_gram_forward_load(blockIdx.x, threadIdx.x, s, &p, sm);
        nst_k_gram_mac(threadIdx.x, sm, &st);
        __syncthreads();
    }
    nst_k_gram_forward_store(blockIdx.x, threadIdx.x, &p, &st);
}

/* The same kernel without the barrier after the multiply-adds: the next stage's loads overwrite
 * slots other threads are still reading. */
static __global__ void planted_gram_no_mac_barrier_kernel(nst_k_gram p) {
    NST_K_SHARED(float, sm, NST_K_GRAM_SMEM);
    nst_k_gram_acc st;
    nst_k_gram_zero(&st);
    const int64_t stages = nst_k_gram_forward_stages(&p);
    for (int64_t s = 0; s < stages; s++) {
        nst_k_gram_forward_load(blockIdx.x, threadIdx.x, s, &p, sm);
        __syncthreads();
        nst_k_gram_mac(threadIdx.x, sm, &st);
    }
    nst_k_gram_forward_store(blockIdx.x, threadIdx.x, &p, &st);
}

/* reduce.cuh's pass-1 kernel with each block's sum added into y by a float atomicAdd instead
 * of stored as the block's partial: race-free, but the float total depends on the order the
 * blocks come in. */
static __global__ void planted_reduce_atomic_total_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    nst_k_reduce_load(blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        nst_k_tree_step(threadIdx.x, 0, 1, s, sm);
        __syncthreads();
    }
    if (threadIdx.x == 0)
        atomicAdd(p.y, (float)sm[0]);
}

/* reduce.cuh's pass-1 kernel storing running sums: block b adds block b - 1's stored partial,
 * as if blocks ran in index order. */
static __global__ void planted_reduce_chained_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    nst_k_reduce_load(blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        nst_k_tree_step(threadIdx.x, 0, 1, s, sm);
        __syncthreads();
    }
    if (threadIdx.x == 0)
        p.part[blockIdx.x] = sm[0] + (blockIdx.x > 0 ? p.part[blockIdx.x - 1] : 0.0);
}

/* reduce.cuh's final kernel with the tree's barrier inside the branch of the threads that add:
 * the others skip it and return while those wait. */
static __global__ void planted_reduce_branch_barrier_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    nst_k_reduce_final_load(threadIdx.x, blockDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s) {
            nst_k_tree_step(threadIdx.x, 0, 1, s, sm);
            __syncthreads();
        }
    }
    nst_k_reduce_final_store(threadIdx.x, &p, sm);
}

/* The same kernel with a barrier on either side of the branch: two different barriers. */
static __global__ void planted_reduce_two_barriers_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    nst_k_reduce_final_load(threadIdx.x, blockDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s) {
            nst_k_tree_step(threadIdx.x, 0, 1, s, sm);
            __syncthreads();
        } else {
            __syncthreads();
        }
    }
    nst_k_reduce_final_store(threadIdx.x, &p, sm);
}

/* reduce.cuh's final kernel with an off-by-one tree step (t <= s adds): at step 128, thread 128
 * reads sm[256], one past the array, and writes sm[128], which thread 0 reads. */
static __global__ void planted_reduce_off_by_one_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    nst_k_reduce_final_load(threadIdx.x, blockDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x <= s)
            sm[threadIdx.x] += sm[threadIdx.x + s];
        __syncthreads();
    }
    nst_k_reduce_final_store(threadIdx.x, &p, sm);
}

/* reduce.cuh's final kernel launched on half its threads' worth of loads: threads 128 and up
 * skip the load, so the tree reads slots nobody wrote. */
static __global__ void planted_reduce_half_load_kernel(nst_k_reduce p) {
    NST_K_SHARED(double, sm, NST_K_REDUCE_THREADS);
    if (threadIdx.x < NST_K_REDUCE_THREADS / 2)
        nst_k_reduce_final_load(threadIdx.x, blockDim.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_REDUCE_THREADS / 2; s > 0; s /= 2) {
        nst_k_tree_step(threadIdx.x, 0, 1, s, sm);
        __syncthreads();
    }
    nst_k_reduce_final_store(threadIdx.x, &p, sm);
}

/* The order probe: every thread takes the next slot of log by an atomic counter, twice, with a
 * barrier between, and writes block * 1000 + thread there. */
typedef struct {
    int *counter;
    int *log;
} planted_probe;

static __global__ void planted_order_probe_kernel(planted_probe p) {
    p.log[atomicAdd(p.counter, 1)] = (int)(blockIdx.x * 1000 + threadIdx.x);
    __syncthreads();
    p.log[atomicAdd(p.counter, 1)] = (int)(blockIdx.x * 1000 + threadIdx.x);
}

static const cushim_kernel planted_table[] = {
    CUSHIM_KERNEL(planted_gram_no_load_barrier_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_gram_no_mac_barrier_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_reduce_atomic_total_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_reduce_chained_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_reduce_branch_barrier_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_reduce_two_barriers_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_reduce_off_by_one_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_reduce_half_load_kernel, "planted_kernels.cpp"),
    CUSHIM_KERNEL(planted_order_probe_kernel, "planted_kernels.cpp"),
};
CUSHIM_TABLE(planted_table);
