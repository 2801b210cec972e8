/* Memory planning: a lifetime-aware planner, the arena that backs a plan, the budget check and
 * the memory tracker's reports.
 *
 * How a model plans itself. The model's forward/backward code runs twice through the same path.
 * First a dry run in a recording mode: instead of touching memory, every place that needs a
 * buffer calls nst_plan_request() (tag, bytes, alignment, a label such as "relu3_1 out") and
 * keeps the returned id; every op marks the buffers it reads or writes with nst_plan_touch(),
 * and the code calls nst_plan_next_step() once per op, so each buffer's lifetime becomes
 * [first op that uses it, last op that uses it]. The same code records the cuDNN/cuBLAS
 * workspaces and the style-target pass at the style image's size, so nothing is forgotten and
 * nothing is listed by hand. Then nst_plan_solve() places the buffers (buffers whose lifetimes
 * do not overlap share space), nst_plan_check_budget() refuses a plan that exceeds free device
 * memory or --vram-limit before a byte is allocated, nst_arena_create() makes the one
 * allocation of exactly nst_plan_get_summary().total_bytes, and the real pass runs the same code
 * again, now taking each buffer as nst_arena_ptr(arena, id) (ids are the order of the requests,
 * which is the same in both passes because the code path is the same). `nstyle plan` is the dry
 * run alone, so it needs no GPU.
 *
 * Lifetimes are inclusive step ranges: two buffers overlap in time when first_a <= last_b and
 * first_b <= last_a (an op at step s reading a and writing b needs both at s).
 *
 * Placement is greedy by size with best fit (as in TensorFlow Lite's arena planner, and
 * "greedy by size for offset calculation", Pisarchyk & Lee 2020): buffers are taken largest
 * first (ties: earlier first use, then lower id), and each goes into the smallest gap, among the
 * buffers already placed whose lifetimes overlap its own, that holds it at its alignment, or
 * above all of them. The result is deterministic. The lower bound (the largest number of bytes
 * live at any one step) is reported next to the total so the placement's quality is visible.
 *
 * Per-tag figures when space is shared: tag_peak[t] is the largest number of bytes of tag t live
 * at any one step (what that tag alone would need); tag_at_peak[t] is the bytes of tag t live at
 * the plan's peak step, and these sum to lower_bound. The rest of the arena, total_bytes -
 * lower_bound, is "slack": space left by the placement (fragmentation) plus base alignment.
 *
 * Tracker accounting of an arena: its single allocation is split in the tracker by tag_at_peak,
 * and the remainder is shown under its own row, "arena slack", so the rows still add up to the
 * bytes actually allocated and the placement's cost is not hidden inside one tag.
 *
 * Tested by tests/test_planner.c, tests/test_arena.c and tests/test_tracker.c. */
#ifndef NSTYLE_MEMORY_H
#define NSTYLE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- planner --------------------------------------------------------------------------------- */

/* Alignment used when a request passes 0: cudaMalloc's guarantee and what cuDNN prefers. */
#define NST_PLAN_ALIGN_DEFAULT 256
/* The alignment every backend guarantees for the base of an allocation (CPU: 64, CUDA: 256).
 * Requests aligned more strictly make the arena a little larger (see base_slack). */
#define NST_PLAN_BASE_ALIGN 64
#define NST_PLAN_MAX_SCALES 8 /* nst_plan_summary's per-scale figures (NST_RENDER_MAX_SCALES) */

typedef struct nst_plan nst_plan;

/* One recorded buffer. first > last while the buffer has no use yet. */
typedef struct {
    const char *label; /* owned by the plan; "" when none was given */
    nst_mem_tag tag;
    size_t bytes;
    size_t align;  /* a power of two */
    int first;     /* first step that uses the buffer */
    int last;      /* last step that uses it (inclusive) */
    size_t offset; /* from the arena's (aligned) base; valid after nst_plan_solve() */
} nst_plan_buffer;

typedef struct {
    bool solved;
    int n_buffers;
    size_t total_bytes;  /* the arena's size: span_bytes + base_slack */
    size_t span_bytes;   /* max over buffers of offset + bytes */
    size_t base_slack;   /* max_align - NST_PLAN_BASE_ALIGN when max_align is larger, else 0 */
    size_t max_align;    /* the strictest alignment of a non-empty buffer (1 if none) */
    size_t lower_bound;  /* max over steps of the bytes live at that step */
    size_t sum_bytes;    /* sum of all requests: what separate allocations would take */
    int peak_step;       /* the first step at which lower_bound bytes are live (0 if none) */
    size_t tag_peak[NST_TAG_COUNT];    /* max over steps of the live bytes of each tag */
    size_t tag_at_peak[NST_TAG_COUNT]; /* live bytes of each tag at peak_step */
    /* A coarse-to-fine render's plan (nst_render_plan with scales > 1) is its largest scale's;
       these give every scale's size and total, the coarsest first (the last = total_bytes).
       scales is 0 for any other plan. */
    int scales;
    int scale_width[NST_PLAN_MAX_SCALES], scale_height[NST_PLAN_MAX_SCALES];
    size_t scale_total_bytes[NST_PLAN_MAX_SCALES];
} nst_plan_summary;

/* An empty plan, or NULL when host memory runs out. */
nst_plan *nst_plan_create(void);
void nst_plan_destroy(nst_plan *plan);

/* Records a buffer and returns its id (0, 1, 2, ... in request order), or -1 on failure.
 * align 0 means NST_PLAN_ALIGN_DEFAULT; otherwise it must be a power of two. The label is
 * copied. Recording calls do not need checking one by one: the first failure (bad tag or
 * alignment, negative step, unknown id, no host memory) is kept and nst_plan_solve() reports
 * it. Any recording after a solve marks the plan unsolved. */
int nst_plan_request(nst_plan *plan, nst_mem_tag tag, size_t bytes, size_t align,
                     const char *label);
/* The same with its lifetime given: uses at steps first and last. */
int nst_plan_request_span(nst_plan *plan, nst_mem_tag tag, size_t bytes, size_t align,
                          const char *label, int first, int last);
/* Marks buffer id as used at step (>= 0): first = min, last = max. */
void nst_plan_use(nst_plan *plan, int id, int step);

/* A step counter for recording code: it starts at 0. */
int nst_plan_step(const nst_plan *plan);
int nst_plan_next_step(nst_plan *plan);       /* advances the counter, returns the new step */
void nst_plan_touch(nst_plan *plan, int id);  /* nst_plan_use(plan, id, nst_plan_step(plan)) */

/* Places every buffer and fills the summary. Fails with the first recording error, with
 * NST_ERR_INVALID_ARG naming a buffer that was never used, or with NST_ERR_TOO_LARGE when the
 * sizes overflow size_t. */
nst_status nst_plan_solve(nst_ctx *ctx, nst_plan *plan);

int nst_plan_count(const nst_plan *plan);
/* Buffer id, or NULL when id is out of range. Valid until the next request. */
const nst_plan_buffer *nst_plan_get(const nst_plan *plan, int id);
nst_plan_summary nst_plan_get_summary(const nst_plan *plan);

/* The plan as a human table (summary, per-tag figures, every buffer largest first) into buf.
 * Returns the length of the whole text like snprintf: when it is >= size the text was cut
 * (buf is NUL-terminated whenever size > 0); pass NULL, 0 to measure. */
size_t nst_plan_report_text(const nst_plan *plan, char *buf, size_t size);

/* Refuses a solved plan whose total_bytes exceed limit_bytes with NST_ERR_BUDGET and a message
 * naming the biggest consumers at the peak (tags and labels, in MiB) and what to change. A limit
 * of 0 means the device's free memory now (backend mem_info: cudaMemGetInfo on CUDA, available
 * RAM on CPU). Allocates nothing. */
nst_status nst_plan_check_budget(nst_ctx *ctx, const nst_plan *plan, size_t limit_bytes);

/* Parses a size such as "4G", "512M", "3.5GiB", "1.5k", "4GB" or "1000000" into bytes.
 * K, M, G, T (any case, with or without "iB") are binary (1024^n); kB, MB, GB, TB are decimal
 * (1000^n); "B" or no suffix means bytes. Fractions are rounded to the nearest byte. Spaces
 * around the number and between number and unit are allowed. Fails with NST_ERR_INVALID_ARG
 * (or NST_ERR_TOO_LARGE past SIZE_MAX) and a message in ctx, which may be NULL. */
nst_status nst_parse_bytes(nst_ctx *ctx, const char *text, size_t *out);

/* ---- arena ----------------------------------------------------------------------------------- */

typedef struct nst_arena nst_arena;

/* Makes one allocation of exactly summary.total_bytes on the context's backend (host memory on
 * CPU, one cudaMalloc on CUDA), counted by the tracker split by tag (see above). The plan must be
 * solved; it may be destroyed afterwards. On failure the message names the bytes asked for, the
 * device's free memory and the plan's biggest consumers. */
nst_status nst_arena_create(nst_ctx *ctx, const nst_plan *plan, nst_arena **out);
/* Frees the arena's allocation (through nst_free, so the tracker sees it) and the arena. */
void nst_arena_destroy(nst_ctx *ctx, nst_arena *arena);
/* The buffer's memory (aligned base + offset), or NULL for an unknown id or a zero-byte buffer. */
void *nst_arena_ptr(const nst_arena *arena, int id);
size_t nst_arena_size(const nst_arena *arena);

/* ---- memory passes: a plan recorded by a dry run of the code that then runs -------------------
 *
 * A recording pass binds a context to an empty plan. Buffers come from nst_mem_pass_tensor():
 * a planned tensor with no data whose plan id it carries. Ops run on such tensors through the
 * normal calls (nst_conv2d_forward, ...) check their arguments as always but compute nothing:
 * each records a use of every planned tensor it touches and of the op scratch it will need, and
 * advances the plan's step. Uses outside ops (an upload, a read-back) are recorded with
 * nst_mem_pass_touch(). A persistent buffer (NST_MEM_PERSISTENT: weights, the image, optimiser
 * state, style targets) lives from its request to the end of the pass, which is what a loop over
 * the recorded body needs for values carried from one iteration to the next; every other buffer
 * lives from its first use to its last. nst_mem_pass_end() adds one workspace buffer, "op
 * scratch", as large as the largest scratch any op asked for and live at exactly the steps of
 * those ops (it is buffer 0 of the plan).
 *
 * A run pass replays the same code over an arena made from that plan: nst_mem_pass_tensor()
 * hands out the arena's memory for the same ids, checking that each request matches the plan's
 * buffer (tag, bytes, label), ops take their scratch from the planned buffer, and
 * nst_mem_pass_end() fails unless every planned buffer was asked for. A pass that asks for
 * anything else fails loudly instead of running over the wrong memory.
 *
 *   record:  nst_mem_pass_record(ctx, plan, &pass); build(pass); nst_mem_pass_end(pass);
 *            nst_plan_solve(ctx, plan); nst_plan_check_budget(...); nst_arena_create(...);
 *   run:     nst_mem_pass_run(ctx, plan, arena, &pass); build(pass); ... nst_mem_pass_end(pass);
 * Tested by tests/test_mem_pass.c. */

typedef struct nst_mem_pass nst_mem_pass;

#define NST_MEM_PERSISTENT 1u /* live from its request to the end of the pass */

/* Starts a recording pass over an empty plan. The context stays in it until nst_mem_pass_end()
 * or nst_mem_pass_abort(); one pass at a time per context. */
nst_status nst_mem_pass_record(nst_ctx *ctx, nst_plan *plan, nst_mem_pass **out);
/* Starts a run pass over `arena`, made from `plan` (solved) by nst_arena_create(). */
nst_status nst_mem_pass_run(nst_ctx *ctx, const nst_plan *plan, const nst_arena *arena,
                            nst_mem_pass **out);
bool nst_mem_pass_recording(const nst_mem_pass *pass);
/* The next buffer: recording, a planned tensor without data; running, the arena's memory for the
 * same id (zero bytes: data NULL), refused unless tag, bytes and label match the plan's buffer.
 * The label is what reports and budget messages show ("relu3_1 out"). */
nst_status nst_mem_pass_tensor(nst_mem_pass *pass, nst_mem_tag tag, nst_dtype dtype, int ndim,
                               const int64_t *dims, unsigned flags, const char *label,
                               nst_tensor *out);
/* Records a use of planned tensor t outside an op, at the current step (no-op when running). */
void nst_mem_pass_touch(nst_mem_pass *pass, const nst_tensor *t);
/* Ends the pass and frees it; the context leaves it. Recording: sizes the op-scratch buffer and
 * closes the persistent lifetimes. Running: fails unless every planned buffer was asked for. */
nst_status nst_mem_pass_end(nst_mem_pass *pass);
/* Leaves and frees a pass without its end checks (on a failure path). NULL is ignored. */
void nst_mem_pass_abort(nst_mem_pass *pass);

/* ---- tracker --------------------------------------------------------------------------------- */

typedef struct {
    size_t current[NST_TAG_COUNT]; /* bytes allocated now, per tag */
    size_t peak[NST_TAG_COUNT];    /* the most bytes of that tag allocated at once */
    size_t arena_slack_current;    /* arena bytes not attributed to a tag (see above) */
    size_t arena_slack_peak;
    size_t current_total; /* everything allocated now: the sum of the rows above */
    size_t peak_total;    /* the most allocated at once */
    size_t n_live;        /* live allocations */
    /* Device figures, valid when has_device_info (the CUDA backend, when cudaMemGetInfo
     * answers). device_other = total - free - current_total (0 if negative): the CUDA
     * context (module images, cuBLAS/cuDNN handles' own memory), cudaMalloc's rounding of our
     * allocations, and every other process on the same GPU. */
    bool has_device_info;
    size_t device_total, device_free, device_other;
} nst_tracker_snapshot;

/* Fills *out. Device figures are read now; if cudaMemGetInfo fails they are left out
 * (has_device_info false) and the call still succeeds. */
void nst_tracker_snapshot_get(nst_ctx *ctx, nst_tracker_snapshot *out);

/* The snapshot as a human table, or as one JSON object, into buf (snprintf convention, see
 * nst_plan_report_text). JSON:
 *   {"device": "...", "tags": {"weights": {"current": N, "peak": N}, ...,
 *    "arena_slack": {...}}, "total": {"current": N, "peak": N}, "live_allocations": N,
 *    "device_memory": {"total": N, "free": N, "ours": N, "context_and_other": N} or null} */
size_t nst_tracker_report_text(nst_ctx *ctx, char *buf, size_t size);
size_t nst_tracker_report_json(nst_ctx *ctx, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
