/* CUDA on the CPU for the tests: with this header included first, a C++ compiler (g++, no CUDA
 * toolkit) compiles the kernels of src/kernels/ as they are, and the runtime (cushim.cpp) runs
 * them thread by thread. What it gives the kernels:
 *   threadIdx, blockIdx, blockDim, gridDim   the running thread's (1-D launches);
 *   __global__, __device__, __host__        nothing; NST_CUSHIM makes the src/kernels/ headers
 *                                           compile their kernels (NST_K_KERNELS);
 *   __syncthreads()                         a barrier of the block's fibers, told apart by its
 *                                           call site, so threads waiting at different barriers,
 *                                           or exiting while others wait, are reported;
 *   NST_K_SHARED(TYPE, NAME, COUNT)         the kernels' shared arrays: storage of the running
 *                                           block (made at its first thread's declaration, all
 *                                           bytes 0xff, i.e. NaN, with guard zones), which the
 *                                           race detector watches;
 *   atomicAdd (float, double, int, unsigned) recorded as atomic accesses;
 *   __fmul_rn, __fadd_rn, __dmul_rn, __dadd_rn, __fdiv_rn, __ddiv_rn, __fsqrt_rn  host
 *                                           arithmetic, one rounding each (compile with
 *                                           -ffp-contract=off).
 * Not given (a kernel using them does not compile here, which says so): warp functions
 * (__shfl_*, __ballot_sync, __syncwarp), __ldg, textures, dynamic shared memory, cooperative
 * groups, 2-D and 3-D launches. The kernels compile with __CUDA_ARCH__ undefined, so
 * kernel_common.cuh takes its host paths: NST_FMUL and friends are plain operators and the 4-wide
 * loads check their alignment (nst_k_emul_fault).
 *
 * The race detector sees the kernels' memory accesses through GCC's (or Clang's) ThreadSanitizer
 * instrumentation: the kernel sources are compiled with -fsanitize=thread, but the program is
 * linked without TSan's runtime, and cushim.cpp defines the __tsan_read/__tsan_write hooks the
 * instrumentation calls. Every load and store of the kernels' code to memory that may be shared
 * reaches it, with no change to the kernels. Tests: tests/emul/test_kernel_emul.c (every kernel,
 * every order, against the CPU ops) and tests/emul/test_cushim.c (bugs planted in copies of real
 * kernels must be reported). */
#ifndef NSTYLE_CUSHIM_H
#define NSTYLE_CUSHIM_H

#ifndef __cplusplus
#error "cushim.h compiles CUDA kernels as C++"
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "cushim_api.h"

extern "C" {
/* CUDA's uint3 (threadIdx, blockIdx) and, as the kernels only read it, dim3. */
struct uint3 {
    unsigned int x, y, z;
};
typedef uint3 dim3;

/* The runtime's side of the names below. */
typedef struct {
    const char *file;
    int line;
} cushim_site;

typedef struct {
    const char *name, *file;
    int line;
} cushim_shared_site;

uint3 cushim_thread_idx(void);
uint3 cushim_block_idx(void);
uint3 cushim_block_dim(void);
uint3 cushim_grid_dim(void);
void cushim_syncthreads(const cushim_site *site);
void *cushim_shared(const cushim_shared_site *site, size_t elem_size, size_t count, size_t align);
float cushim_atomic_add_f32(float *p, float v);
double cushim_atomic_add_f64(double *p, double v);
int cushim_atomic_add_i32(int *p, int v);
unsigned cushim_atomic_add_u32(unsigned *p, unsigned v);

/* A kernel of the table: its name, its source, a call of it on an argument struct, whose size
 * is arg_size. Each C++ file of kernels registers its table once (CUSHIM_TABLE). */
typedef void (*cushim_thunk)(const void *arg);
typedef struct {
    const char *name, *file;
    cushim_thunk run;
    size_t arg_size;
} cushim_kernel;
int cushim_register(const cushim_kernel *table, int count);
}

#ifndef CUSHIM_RUNTIME /* the CUDA names, for the kernels' files only */

#define NST_CUSHIM 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

#define threadIdx (cushim_thread_idx())
#define blockIdx (cushim_block_idx())
#define blockDim (cushim_block_dim())
#define gridDim (cushim_grid_dim())

#define __syncthreads()                                                                    \
    do {                                                                                   \
        static const cushim_site cushim_site_ = {__FILE__, __LINE__};                      \
        cushim_syncthreads(&cushim_site_);                                                 \
    } while (0)

#define NST_K_SHARED(TYPE, NAME, COUNT)                                                    \
    static const cushim_shared_site NAME##_cushim_site_ = {#NAME, __FILE__, __LINE__};     \
    TYPE *const NAME = static_cast<TYPE *>(                                                \
        cushim_shared(&NAME##_cushim_site_, sizeof(TYPE), (COUNT), alignof(TYPE)))

static inline float atomicAdd(float *p, float v) {
    return cushim_atomic_add_f32(p, v);
}
static inline double atomicAdd(double *p, double v) {
    return cushim_atomic_add_f64(p, v);
}
static inline int atomicAdd(int *p, int v) {
    return cushim_atomic_add_i32(p, v);
}
static inline unsigned atomicAdd(unsigned *p, unsigned v) {
    return cushim_atomic_add_u32(p, v);
}

static inline float __fmul_rn(float a, float b) {
    return a * b;
}
static inline float __fadd_rn(float a, float b) {
    return a + b;
}
static inline float __fdiv_rn(float a, float b) {
    return a / b;
}
static inline float __fsqrt_rn(float a) {
    return sqrtf(a);
}
static inline double __dmul_rn(double a, double b) {
    return a * b;
}
static inline double __dadd_rn(double a, double b) {
    return a + b;
}
static inline double __ddiv_rn(double a, double b) {
    return a / b;
}

namespace cushim {
template <typename F> struct param;
template <typename T> struct param<void (*)(T)> {
    typedef T type;
};
/* Calls kernel K on the argument struct at arg (each thread takes its own copy, as a GPU thread
 * reads its parameters). */
template <auto K> void thunk(const void *arg) {
    K(*static_cast<const typename param<decltype(K)>::type *>(arg));
}
} // namespace cushim

/* A table row for kernel K of source file FILE. */
#define CUSHIM_KERNEL(K, FILE)                                                             \
    { #K, FILE, &cushim::thunk<K>, sizeof(cushim::param<decltype(&K)>::type) }

/* Registers a file's table before main. */
#define CUSHIM_TABLE(table)                                                                \
    static const int cushim_registered_ =                                                  \
        cushim_register(table, (int)(sizeof(table) / sizeof((table)[0])))

#endif /* CUSHIM_RUNTIME */

#endif
