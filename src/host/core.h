/* The core's internal layout, for the core (the files of src/host/) and the backends (src/cpu/,
 * src/host/cuda/, src/host/backends/) only: the backend interface, the context's layout, the
 * tracker and scratch state, the dispatch's checks and the memory pass's hooks. Ops, networks
 * and pipelines include errors.h (and op_scratch.h) instead. Not installed. */
#ifndef NSTYLE_CORE_H
#define NSTYLE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nstyle/context.h"
#include "nstyle/ops.h"
#include "nstyle/status.h"
#include "nstyle/tensor.h"

#include "errors.h"
#include "op_scratch.h"

/* One op implementation: params points to the op's params struct (see ops.h). */
typedef nst_status (*nst__op_fn)(nst_ctx *ctx, const void *params);

typedef enum { NST__COPY_H2D, NST__COPY_D2H, NST__COPY_D2D } nst__copy_kind;

/* A backend: memory, copies and the op table. Every function reports failures through
 * nst__error() on ctx. */
typedef struct nst__backend {
    const char *name; /* "cpu", "cuda" */
    nst_backend_kind kind;
    nst_status (*open)(nst_ctx *ctx, int device); /* creates ctx->backend_state */
    void (*close)(nst_ctx *ctx);
    nst_status (*alloc)(nst_ctx *ctx, size_t bytes, void **out);
    void (*free)(nst_ctx *ctx, void *ptr);
    nst_status (*copy)(nst_ctx *ctx, void *dst, const void *src, size_t bytes, nst__copy_kind k);
    nst_status (*memset)(nst_ctx *ctx, void *dst, int value, size_t bytes);
    nst_status (*synchronize)(nst_ctx *ctx);
    /* Free and total memory of the device (host RAM on CPU). */
    nst_status (*mem_info)(nst_ctx *ctx, size_t *free_bytes, size_t *total_bytes);
    const nst__op_fn *ops; /* [NST_OP_COUNT], NULL entries = not implemented */
    /* Whether the backend computes op for these (already checked) params in dtype `compute`
     * and their modes: NST_OK, or NST_ERR_UNSUPPORTED with a message saying what it lacks. */
    nst_status (*supports)(nst_ctx *ctx, nst_op op, const void *params, nst_dtype compute);
    /* Scratch bytes op needs for these (already checked) params on this context (thread
     * count, algorithm choice); what nst__scratch_take() then hands out must fit in them. */
    nst_status (*scratch)(nst_ctx *ctx, nst_op op, const void *params, size_t *bytes);
    /* The last kernel or library call the backend launched, for messages after a
     * synchronisation finds an error (NULL: the backend runs everything synchronously). */
    const char *(*last_launch)(const nst_ctx *ctx);
} nst__backend;

extern const nst__backend nst__cpu_backend;
#ifdef NST_HAVE_CUDA
/* The CUDA backend: the table of the module (libnstyle_cuda.so) loaded on first use
 * (src/host/backends/cuda_loader.c), or NULL with the reason in why (the missing library, where it
 * was looked for, the versions found). */
const nst__backend *nst__cuda_backend_get(char *why, size_t why_size);
#endif

/* Tracker rows: one per memory tag, then the arena slack row (arena bytes that the plan does not
 * attribute to a tag: placement gaps and base alignment; see include/nstyle/memory.h). */
#define NST__TRACK_SLACK NST_TAG_COUNT
#define NST__TRACK_ROWS (NST_TAG_COUNT + 1)

/* One live allocation, for the tracker: `bytes` counted under `tag`, or, for an arena
 * (is_split), spread over the rows as split[] says (its entries sum to bytes). */
typedef struct {
    void *ptr;
    size_t bytes;
    nst_mem_tag tag;
    bool is_split;
    size_t split[NST__TRACK_ROWS];
} nst__allocation;

typedef struct {
    size_t current[NST__TRACK_ROWS]; /* indexed by nst_mem_tag, then NST__TRACK_SLACK */
    size_t peak[NST__TRACK_ROWS];
    size_t current_total;
    size_t peak_total;
    nst__allocation *live; /* unordered */
    size_t n_live, cap_live;
} nst__tracker;

/* Scratch memory for op calls: a region the caller planned (or reserved), handed to one op at a
 * time; nst__scratch_take() cuts it into pieces during that call. */
typedef struct {
    void *base;        /* the caller's region */
    size_t bytes;
    void *owned;       /* a region the context reserved itself (nst_ctx_reserve_scratch) */
    char *next;        /* during an op call: the next free byte */
    size_t left;       /* during an op call: bytes still free */
} nst__scratch;

struct nst_mem_pass;

struct nst_ctx {
    const nst__backend *backend;
    void *backend_state; /* owned by the backend (CUDA: device, stream, handles) */
    int device_index;    /* -1 on CPU */
    char device_name[160];
    int n_threads;       /* 0 = all */
    nst__tracker tracker;
    nst__scratch scratch;
    struct nst_mem_pass *pass; /* the memory pass this context is in, or NULL (memory.h) */
    nst_status last_status;
    char last_error[NST__ERRMSG_SIZE];
    /* GPU settings (include/nstyle/context.h, src/host/context_gpu.c); zero = the defaults */
    size_t workspace_limit; /* cuDNN workspace cap, 0 = NST_DEFAULT_WORKSPACE_LIMIT */
    bool deterministic;     /* only algorithms that give the same bits every run */
    bool conv_tf32_off;     /* TF32 in convolutions: on unless turned off (as PyTorch) */
    bool gemm_tf32_on;      /* TF32 in GEMMs (cuBLAS): off unless turned on (as PyTorch) */
    bool plan_for_cuda;     /* recording counts convolutions' scratch at workspace_limit */
    /* NSTYLE_CUDA_SYNC=1 when the CUDA device was opened: synchronise and check after every op,
     * naming the op, its shapes and the last launch (for debugging a first GPU run). */
    bool sync_each_op;
};

/* The most cuBLAS workspace a linear call takes on any GPU (32 MiB, sm_90 and newer): what a
 * plan made without a GPU counts for it (src/host/cuda/cuda_internal.h has the rule). */
#define NST__CUBLAS_WORKSPACE_MAX ((size_t)32 << 20)

/* Opens the scratch of one op call: `need` bytes from the memory pass's planned buffer or the
 * context's region (refused, naming op, when that is smaller); closed by nst__scratch_end(). */
nst_status nst__scratch_begin(nst_ctx *ctx, const char *op, size_t need);
void nst__scratch_end(nst_ctx *ctx);

/* The dispatch's checks (src/host/op_check.c): arguments present, on the context's backend,
 * with data (or planned, while recording), the dtype rule, shapes and scalars, and the backend's
 * support. *nothing_to_do is set when every output is absent (a backward op asked for nothing). */
nst_status nst__op_check(nst_ctx *ctx, nst_op op, const void *params, bool *nothing_to_do);
/* An op's tensor list (nst_op_args) in `stack` when it holds them, else in a heap array (Adam
 * with many slots): *out points at the list and the count is returned, or -1 with a message
 * naming op when host memory runs out. Release with nst__op_args_release(stack, *out). */
#define NST__OP_ARGS_STACK 24
int nst__op_args_collect(nst_ctx *ctx, nst_op op, const void *params,
                         nst_op_arg stack[NST__OP_ARGS_STACK], nst_op_arg **out);
void nst__op_args_release(const nst_op_arg *stack, nst_op_arg *args);
/* Whether ctx is in a recording memory pass (ops record their buffers, compute nothing). */
bool nst__recording(const nst_ctx *ctx);
/* Records an op call in the recording pass: uses of its planned tensors, its scratch. */
nst_status nst__pass_record_op(nst_ctx *ctx, nst_op op, const void *params, size_t scratch);
/* The scratch region of the pass ctx is in (run mode), or NULL/0. */
void nst__pass_scratch(const nst_ctx *ctx, void **base, size_t *bytes);

/* The OpenMP threads the context's CPU work uses: its setting, or all available when 0. */
int nst__threads(const nst_ctx *ctx);

/* Tracker bookkeeping, called by nst_alloc/nst_free. */
nst_status nst__tracker_add(nst_ctx *ctx, void *ptr, size_t bytes, nst_mem_tag tag);
bool nst__tracker_remove(nst_ctx *ctx, void *ptr);
void nst__tracker_release(nst__tracker *t);

#endif
