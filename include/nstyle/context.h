/* nst_ctx: the state a run carries explicitly (no globals): the chosen backend and its state
 * (CUDA stream and handles), the thread count, the memory tracker and the last error message.
 *
 * Usage:
 *     nst_ctx *ctx = nst_ctx_create();              // NULL only when out of host memory
 *     if (nst_ctx_set_device(ctx, "cuda:0") != NST_OK)
 *         fprintf(stderr, "%s\n", nst_last_error(ctx));
 *     ...
 *     nst_ctx_destroy(ctx);
 */
#ifndef NSTYLE_CONTEXT_H
#define NSTYLE_CONTEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nst_ctx nst_ctx;

/* Memory tags: every allocation through a backend is counted under one of them. */
#define NST_TAG_LIST(X)  \
    X(WEIGHTS, "weights")         \
    X(ACTIVATIONS, "activations") \
    X(GRADIENTS, "gradients")     \
    X(WORKSPACE, "workspace")     \
    X(OPTIMISER, "optimiser")     \
    X(OTHER, "other")

typedef enum {
#define NST__TAG_ENUM(name, desc) NST_TAG_##name,
    NST_TAG_LIST(NST__TAG_ENUM)
#undef NST__TAG_ENUM
    NST_TAG_COUNT
} nst_mem_tag;

const char *nst_mem_tag_name(nst_mem_tag tag);

/* Allocates a context on the CPU backend. Returns NULL only when host memory runs out. */
nst_ctx *nst_ctx_create(void);
void nst_ctx_destroy(nst_ctx *ctx);

/* Selects the backend: "cpu", "cuda" (= "cuda:0") or "cuda:N". On failure the context stays on
 * its previous backend and nst_last_error() says why (built without CUDA, no driver, no such
 * device, ...). */
nst_status nst_ctx_set_device(nst_ctx *ctx, const char *device);
nst_backend_kind nst_ctx_backend(const nst_ctx *ctx);
const char *nst_ctx_device_name(const nst_ctx *ctx); /* "cpu" or "cuda:0 (NVIDIA H100 ...)" */

/* CPU threads used by CPU ops (OpenMP); 0 = all available. */
void nst_ctx_set_threads(nst_ctx *ctx, int n);
int nst_ctx_threads(const nst_ctx *ctx);

/* GPU settings, read by the CUDA backend (the CPU backend ignores them):
 * - the workspace limit caps each cuDNN convolution's workspace: algorithms needing more are
 *   passed over (`--workspace-limit`; 0 restores the default, 512 MiB);
 * - deterministic: only algorithms that give the same bits on every run (cuDNN's
 *   CUDNN_DETERMINISTIC), which can be slower; off by default;
 * - TF32: tensor-core TF32 arithmetic for F32 convolutions (on by default) and F32 GEMMs (off
 *   by default), PyTorch's defaults (torch.backends.cudnn.allow_tf32,
 *   torch.backends.cuda.matmul.allow_tf32). Parity runs turn both off. */
#define NST_DEFAULT_WORKSPACE_LIMIT ((size_t)512 << 20)
void nst_ctx_set_workspace_limit(nst_ctx *ctx, size_t bytes);
/* Planning for CUDA where no GPU can be opened: a CPU context whose recording passes count each
 * convolution's scratch (depthwise ones too) at the workspace limit (the bound of the cuDNN workspace, whose exact
 * size depends on the algorithm the GPU chooses) instead of the CPU's column buffers; the other
 * ops' scratch is counted as on the CPU. Affects recording only: ops that run are unchanged. */
void nst_ctx_plan_for_cuda(nst_ctx *ctx, bool on);
size_t nst_ctx_workspace_limit(const nst_ctx *ctx);
void nst_ctx_set_deterministic(nst_ctx *ctx, bool on);
bool nst_ctx_deterministic(const nst_ctx *ctx);
void nst_ctx_set_tf32(nst_ctx *ctx, bool convolutions, bool gemms);
bool nst_ctx_tf32_convolutions(const nst_ctx *ctx);
bool nst_ctx_tf32_gemms(const nst_ctx *ctx);

/* The detailed message of the last failure ("" when none). Valid until the next call that fails. */
const char *nst_last_error(const nst_ctx *ctx);
nst_status nst_last_status(const nst_ctx *ctx);
void nst_clear_error(nst_ctx *ctx);

/* Backend memory, counted by the tracker under `tag`. Zero bytes gives a NULL pointer and NST_OK. */
nst_status nst_alloc(nst_ctx *ctx, size_t bytes, nst_mem_tag tag, void **out);
void nst_free(nst_ctx *ctx, void *ptr);
/* Allocates t->data for a descriptor made with nst_tensor_make() on the context's backend. */
nst_status nst_tensor_alloc(nst_ctx *ctx, nst_tensor *t, nst_mem_tag tag);
void nst_tensor_free(nst_ctx *ctx, nst_tensor *t);

/* Copies between host memory and a tensor on the context's backend (plain memcpy on CPU). */
nst_status nst_copy_to_device(nst_ctx *ctx, void *dst, const void *host_src, size_t bytes);
nst_status nst_copy_to_host(nst_ctx *ctx, void *host_dst, const void *src, size_t bytes);
nst_status nst_memset_device(nst_ctx *ctx, void *dst, int value, size_t bytes);
nst_status nst_synchronize(nst_ctx *ctx);

/* Writes len bytes to path atomically: a temporary file in the same folder, flushed and renamed
 * over path, so a failure leaves path as it was and no temporary behind. */
nst_status nst_write_file_atomic(nst_ctx *ctx, const char *path, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
