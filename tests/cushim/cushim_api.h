/* The C interface of the CUDA-on-CPU shim (cushim.cpp), for the tests that launch the kernels of
 * src/kernels/ on the host (tests/emul/): choose the orders, tell the race detector which
 * buffers are global memory, launch a kernel of the shim's table by name, read what the checks
 * reported. Valid C and C++. The shim is described in cushim.h; tested by
 * tests/emul/test_kernel_emul.c (every kernel) and tests/emul/test_cushim.c (the planted bugs).
 *
 * A launch runs the grid's blocks one after another, in the configured block order; the threads
 * of a block each run on a fiber of their own, resumed between barriers in the configured thread
 * order. Every launch is checked: barrier divergence (threads waiting at different
 * __syncthreads, or returning while others wait), accesses to the guard zones beside a shared
 * array or a tracked buffer, and, with the race detector on, races on shared memory and on
 * tracked global memory and reads of shared memory no thread of the block wrote (cushim.cpp
 * says which). Each finding is counted, its text printed to stderr (the first few of each kind
 * per launch) and kept for cushim_report(); cushim_finding adds one (the tests' misaligned
 * 4-wide accesses, nst_k_emul_fault). */
#ifndef NSTYLE_CUSHIM_API_H
#define NSTYLE_CUSHIM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The order of a launch's blocks, or of the threads of a block resumed after each barrier. */
typedef enum {
    CUSHIM_FORWARD = 0,
    CUSHIM_REVERSE = 1,
    CUSHIM_SHUFFLED = 2 /* a permutation drawn from the seed, the launch, the block, the barrier */
} cushim_order;

typedef struct {
    cushim_order blocks;
    cushim_order threads;
    uint64_t seed;   /* of the shuffled orders */
    bool races;      /* the race detector: off, only the other checks */
} cushim_config;

/* The configuration of the launches that follow (the default: forward orders, races on). */
void cushim_configure(const cushim_config *c);
cushim_config cushim_get_config(void);

/* Global memory the checks know: [p, p + bytes), `name` in reports (the pointer is kept), with
 * `guard` bytes on either side that no kernel may touch. cushim_untrack forgets it. */
void cushim_track(const void *p, size_t bytes, size_t guard, const char *name);
void cushim_untrack(const void *p);

/* Launches `kernel` (its name in the shim's table: "nst_k_gram_forward_kernel") on `blocks`
 * blocks of `threads` threads (1-D) with the argument struct at arg, arg_size bytes (must match
 * the kernel's parameter). Aborts, naming the kernel, for an unknown name or another size. */
void cushim_launch(const char *kernel, int64_t blocks, int threads, const void *arg,
                   size_t arg_size);

/* Findings since the last cushim_reset(), and the first ones' text ("" when none). */
int cushim_findings(void);
const char *cushim_report(void);
void cushim_reset(void);

/* The kernels of the table: count, and the name and source file of kernel i. */
int cushim_kernel_count(void);
const char *cushim_kernel_name(int i);
const char *cushim_kernel_file(int i);
/* How many launches of kernel i ran since the process started. */
int64_t cushim_kernel_launches(int i);

/* Where a launch stands, for messages of code that the kernels call (nst_k_emul_fault): "kernel
 * K, block B, thread T", or "no launch". */
const char *cushim_where(void);
/* Counts a finding with the text fmt (printf-style), prefixed with cushim_where(). */
void cushim_finding(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
