/* Shared pieces of the CUDA kernels that the CPU emulation also compiles: the host/device
 * qualifier macro, what marks the kernels and their shared arrays, a 4-float vector with its
 * loads and stores, rounding-exact arithmetic, the launch shape of every 1-D grid, a block tree
 * sum written as phases, and the flat elementwise kernel template. The header is valid C11 (the
 * emulation test, cuda_ops.c), C++ and CUDA; with no CUDA compiler the qualifiers are empty, so
 * each kernel's index math and per-element math run unchanged on the CPU, and under the tests'
 * CUDA-on-CPU shim (tests/cushim/) the __global__ kernels themselves compile for the host.
 *
 * Rounding: nvcc contracts a*b + c into one fused multiply-add, the C reference (ISO C mode) does
 * not. Kernels write products that feed a sum with NST_FMUL/NST_DMUL, which never contract, so a
 * kernel rounds exactly as its CPU op and as its emulation. The sources of the kernels that claim
 * the CPU's bits are compiled with -fmad=false besides, which covers the shared CPU math they
 * include (src/math/grid_math.h); test_ptx_exact (tests/ptx/) reads their PTX for FMAs.
 *
 * Vector loads: nst_k_ldv/nst_k_stv move 1 or 4 floats; 4 only when the launcher chose vector
 * width 4 (the row length divides by 4 and every pointer is 16-byte aligned, nst_k_vec_ok). On
 * the host a misaligned 4-wide access calls nst_k_emul_fault, so the emulation catches a launcher
 * that picks the vector path where the GPU would fault.
 * Tested by tests/emul/test_kernel_emul.c (every kernel's grid run on the CPU). */
#ifndef NSTYLE_KERNEL_COMMON_CUH
#define NSTYLE_KERNEL_COMMON_CUH

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define NST_HD __host__ __device__
#else
#define NST_HD
#endif
#define NST_HDI static inline NST_HD

/* 1 where the __global__ kernels compile: under nvcc, and on the host under the tests'
 * CUDA-on-CPU shim (tests/cushim/cushim.h defines NST_CUSHIM and the CUDA names the kernels use,
 * and runs every thread of a block on a fiber of its own). */
#if defined(__CUDACC__) || defined(NST_CUSHIM)
#define NST_K_KERNELS 1
#else
#define NST_K_KERNELS 0
#endif

/* A kernel's shared-memory array: `__shared__ TYPE NAME[COUNT]`. The shim defines it first, to
 * give every block storage of its own that its race detector watches. */
#ifndef NST_K_SHARED
#define NST_K_SHARED(TYPE, NAME, COUNT) __shared__ TYPE NAME[COUNT]
#endif

/* Threads per block of every 1-D kernel, and the most blocks a grid-stride kernel launches. */
#define NST_K_THREADS 256
#define NST_K_MAX_BLOCKS ((int64_t)1 << 16)

typedef struct {
    float x, y, z, w;
} nst_f4;

#if defined(__CUDA_ARCH__)
#define NST_FMUL(a, b) __fmul_rn((a), (b))
#define NST_FADD(a, b) __fadd_rn((a), (b))
#define NST_DMUL(a, b) __dmul_rn((a), (b))
#define NST_DADD(a, b) __dadd_rn((a), (b))
#else
#define NST_FMUL(a, b) ((a) * (b))
#define NST_FADD(a, b) ((a) + (b))
#define NST_DMUL(a, b) ((a) * (b))
#define NST_DADD(a, b) ((a) + (b))
#endif

#if !defined(__CUDA_ARCH__)
/* Called by a 4-wide host access at an address that is not 16-byte aligned: defined by the
 * emulation test, which fails on it; the library's host code never takes that path. */
#ifdef __cplusplus
extern "C"
#endif
void nst_k_emul_fault(const void *p);
#endif

/* v (1 or 4) floats at p; lanes beyond v are 0. */
NST_HDI nst_f4 nst_k_ldv(const float *p, int v) {
    nst_f4 r = {0.0f, 0.0f, 0.0f, 0.0f};
    if (v == 4) {
#if defined(__CUDA_ARCH__)
        const float4 q = *(const float4 *)p;
        r.x = q.x, r.y = q.y, r.z = q.z, r.w = q.w;
#else
        if ((uintptr_t)p % 16 != 0)
            nst_k_emul_fault(p);
        r.x = p[0], r.y = p[1], r.z = p[2], r.w = p[3];
#endif
    } else {
        r.x = p[0];
    }
    return r;
}

NST_HDI void nst_k_stv(float *p, nst_f4 r, int v) {
    if (v == 4) {
#if defined(__CUDA_ARCH__)
        *(float4 *)p = make_float4(r.x, r.y, r.z, r.w);
#else
        if ((uintptr_t)p % 16 != 0)
            nst_k_emul_fault(p);
        p[0] = r.x, p[1] = r.y, p[2] = r.z, p[3] = r.w;
#endif
    } else {
        p[0] = r.x;
    }
}

/* Whether 4-wide access is safe: the row length `len` divides by 4 and each pointer (NULL
 * passes) is 16-byte aligned. */
NST_HDI bool nst_k_vec_ok(int64_t len, const void *a, const void *b, const void *c,
                          const void *d) {
    return len % 4 == 0 && (uintptr_t)a % 16 == 0 && (uintptr_t)b % 16 == 0 &&
           (uintptr_t)c % 16 == 0 && (uintptr_t)d % 16 == 0;
}

/* A 1-D launch: `blocks` blocks of `threads` threads (blocks 0: nothing to launch). */
typedef struct {
    int64_t blocks;
    int threads;
} nst_k_grid;

/* The grid of a grid-stride loop over `work` items: one item per thread up to the block cap. */
NST_HDI nst_k_grid nst_k_grid_for(int64_t work) {
    nst_k_grid g;
    g.threads = NST_K_THREADS;
    g.blocks = (work + NST_K_THREADS - 1) / NST_K_THREADS;
    if (g.blocks > NST_K_MAX_BLOCKS)
        g.blocks = NST_K_MAX_BLOCKS;
    return g;
}

/* A thread's first item and the grid's stride, 64-bit so that grids over more than 2^31 items
 * stay correct. */
NST_HDI int64_t nst_k_first(int64_t block, int thread, int threads) {
    return block * (int64_t)threads + thread;
}
NST_HDI int64_t nst_k_stride(int64_t blocks, int threads) {
    return blocks * (int64_t)threads;
}

/* A block-wide tree sum over doubles in shared memory, as phases: after every thread t stored
 * its value in sm[t * lanes + lane] for t < rows (a power of two), the steps s = rows/2, rows/4,
 * ... 1, with a barrier after each, leave each lane's sum in sm[lane], always added in the same
 * order. A thread of step s reads only slots no thread of that step writes. */
NST_HDI void nst_k_tree_step(int row, int lane, int lanes, int s, double *sm) {
    if (row < s)
        sm[row * lanes + lane] = NST_DADD(sm[row * lanes + lane], sm[(row + s) * lanes + lane]);
}

/* ---- flat elementwise kernels ----------------------------------------------------------------
 * One thread per 4-float vector (v = 4) or per float (v = 1), in a grid-stride loop; with v = 4
 * the last n % 4 elements follow, one per thread. Consecutive threads touch consecutive
 * addresses, so a warp's loads and stores are coalesced 128-byte (v = 1) or 512-byte (v = 4)
 * runs. An output may alias an input: each element is read and written by the same thread. */
typedef struct {
    const float *a; /* x, or a of add; any shape, n elements */
    const float *b; /* dy of relu_backward, b of add; else NULL */
    float *y;       /* output (axpy: read too) */
    int64_t n;
    float alpha, lo, hi;
    int v;          /* 1 or 4 */
} nst_k_flat;

/* The work items (vectors, then the tail) of a flat kernel: its grid is nst_k_grid_for(this). */
NST_HDI int64_t nst_k_flat_work(const nst_k_flat *p) {
    return p->n / p->v + p->n % p->v;
}

/* The flat kernel's arguments: 4-wide when every pointer is 16-byte aligned. */
NST_HDI nst_k_flat nst_k_flat_make(const float *a, const float *b, float *y, int64_t n) {
    nst_k_flat p;
    p.a = a, p.b = b, p.y = y, p.n = n;
    p.alpha = 0.0f, p.lo = 0.0f, p.hi = 0.0f;
    p.v = nst_k_vec_ok(0, a, b, y, NULL) ? 4 : 1;
    return p;
}

/* Defines NAME_elem (the per-element math: EXPR over x = a[i], g = b[i], yv = y[i] and p) and
 * NAME_body (one thread's grid-stride loop). READS_B and READS_Y say which operands it loads. */
#define NST_K_FLAT_KERNEL(NAME, READS_B, READS_Y, EXPR)                                     \
    NST_HDI float NAME##_elem(float x, float g, float yv, const nst_k_flat *p) {           \
        (void)g, (void)yv, (void)p;                                                        \
        return EXPR;                                                                       \
    }                                                                                      \
    NST_HDI void NAME##_body(int64_t block, int thread, int threads, int64_t blocks,       \
                             const nst_k_flat *p) {                                        \
        const int v = p->v;                                                                \
        const int64_t nv = p->n / v, first = nst_k_first(block, thread, threads);         \
        const int64_t stride = nst_k_stride(blocks, threads);                              \
        const nst_f4 zero = {0.0f, 0.0f, 0.0f, 0.0f};                                      \
        for (int64_t i = first; i < nv; i += stride) {                                     \
            const nst_f4 x = nst_k_ldv(p->a + i * v, v);                                   \
            const nst_f4 g = (READS_B) ? nst_k_ldv(p->b + i * v, v) : zero;                \
            const nst_f4 yv = (READS_Y) ? nst_k_ldv(p->y + i * v, v) : zero;               \
            nst_f4 r;                                                                      \
            r.x = NAME##_elem(x.x, g.x, yv.x, p);                                          \
            r.y = NAME##_elem(x.y, g.y, yv.y, p);                                          \
            r.z = NAME##_elem(x.z, g.z, yv.z, p);                                          \
            r.w = NAME##_elem(x.w, g.w, yv.w, p);                                          \
            nst_k_stv(p->y + i * v, r, v);                                                 \
        }                                                                                  \
        for (int64_t i = nv * v + first; i < p->n; i += stride)                            \
            p->y[i] = NAME##_elem(p->a[i], (READS_B) ? p->b[i] : 0.0f,                     \
                                  (READS_Y) ? p->y[i] : 0.0f, p);                          \
    }

#if NST_K_KERNELS
/* NAME_kernel, the __global__ wrapper of a 1-D body taking TYPE: a thin call per thread. The
 * emulation runs these very wrappers (tests/emul/emul.cmake copies each .cu's lines). */
#define NST_K_GLOBAL(NAME, TYPE)                                                          \
    __global__ void NAME##_kernel(TYPE p) {                                               \
        NAME##_body(blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, &p);                  \
    }
#define NST_K_FLAT_GLOBAL(NAME) NST_K_GLOBAL(NAME, nst_k_flat)
#endif

#endif
