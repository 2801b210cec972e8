/* Memory passes (include/nstyle/memory.h): a model's code runs once on planned tensors to record
 * its plan (every op records the buffers it touches and its scratch, computing nothing), then
 * again over the arena made from that plan, with every buffer request checked against the plan.
 * The dispatch (src/host/ops.c) calls nst__pass_record_op() and nst__pass_scratch().
 *
 * Tested by tests/test_mem_pass.c (a two-layer conv network planned by recording and run:
 * arena peak = plan total, results equal an unplanned run; mismatched and missing requests
 * refused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"
#include "plan_run.h"

#define SCRATCH_ID 0
#define SCRATCH_LABEL "op scratch"

struct nst_mem_pass {
    nst_ctx *ctx;
    bool recording;
    nst_plan *plan;         /* recording */
    const nst_plan *solved; /* running */
    const nst_arena *arena; /* running */
    int next_id;            /* running: the id the next request must match */
    size_t scratch_max;     /* recording: the largest scratch an op asked for */
    bool scratch_used;
    int *persistent;        /* recording: ids of persistent buffers */
    int n_persistent, cap_persistent;
};

bool nst__recording(const nst_ctx *ctx) { return ctx->pass && ctx->pass->recording; }

static nst_status begin(nst_ctx *ctx, nst_mem_pass **out, nst_mem_pass **made) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "memory pass: NULL output pointer");
    *out = NULL;
    if (ctx->pass)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "memory pass: the context is already in a pass (end it first)");
    *made = calloc(1, sizeof **made);
    if (!*made)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "memory pass: no host memory");
    (*made)->ctx = ctx;
    return NST_OK;
}

nst_status nst_mem_pass_record(nst_ctx *ctx, nst_plan *plan, nst_mem_pass **out) {
    nst_mem_pass *p = NULL;
    NST__TRY(begin(ctx, out, &p));
    if (!plan || nst_plan_count(plan) != 0) {
        free(p);
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "memory pass: recording needs an empty plan (it holds %d buffers)",
                        nst_plan_count(plan));
    }
    p->recording = true;
    p->plan = plan;
    if (nst_plan_request(plan, NST_TAG_WORKSPACE, 0, 0, SCRATCH_LABEL) != SCRATCH_ID) {
        free(p);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "memory pass: the plan refused its scratch buffer");
    }
    ctx->pass = p;
    *out = p;
    return NST_OK;
}

nst_status nst_mem_pass_run(nst_ctx *ctx, const nst_plan *plan, const nst_arena *arena,
                            nst_mem_pass **out) {
    nst_mem_pass *p = NULL;
    NST__TRY(begin(ctx, out, &p));
    nst_plan_summary s = nst_plan_get_summary(plan);
    const nst_plan_buffer *scratch = nst_plan_get(plan, SCRATCH_ID);
    nst_status st = NST_OK;
    if (!plan || !s.solved || !scratch || strcmp(scratch->label, SCRATCH_LABEL) != 0)
        st = NST__ERR(ctx, NST_ERR_INVALID_ARG,
                      "memory pass: running needs a solved plan recorded by a memory pass");
    else if (!arena || nst__arena_count(arena) != s.n_buffers ||
             nst_arena_size(arena) != s.total_bytes)
        st = NST__ERR(ctx, NST_ERR_INVALID_ARG,
                      "memory pass: the arena (%d buffers, %zu bytes) was not made from this plan "
                      "(%d buffers, %zu bytes)", nst__arena_count(arena), nst_arena_size(arena),
                      s.n_buffers, s.total_bytes);
    if (st != NST_OK) {
        free(p);
        return st;
    }
    p->solved = plan;
    p->arena = arena;
    p->next_id = SCRATCH_ID + 1;
    ctx->pass = p;
    *out = p;
    return NST_OK;
}

bool nst_mem_pass_recording(const nst_mem_pass *pass) { return pass && pass->recording; }

static nst_status remember_persistent(nst_mem_pass *p, int id) {
    if (p->n_persistent == p->cap_persistent) {
        int cap = p->cap_persistent ? 2 * p->cap_persistent : 32;
        int *ids = realloc(p->persistent, (size_t)cap * sizeof *ids);
        if (!ids)
            return NST__ERR(p->ctx, NST_ERR_NO_MEMORY, "memory pass: no host memory");
        p->persistent = ids;
        p->cap_persistent = cap;
    }
    p->persistent[p->n_persistent++] = id;
    return NST_OK;
}

nst_status nst_mem_pass_tensor(nst_mem_pass *pass, nst_mem_tag tag, nst_dtype dtype, int ndim,
                               const int64_t *dims, unsigned flags, const char *label,
                               nst_tensor *out) {
    if (!pass || !out)
        return NST_ERR_INVALID_ARG;
    nst_ctx *ctx = pass->ctx;
    if (!label)
        label = "";
    if (ndim < 1 || ndim > NST_MAX_DIMS || (unsigned)dtype >= NST_DTYPE_COUNT)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "memory pass: buffer '%s' has ndim %d, dtype %d",
                        label, ndim, (int)dtype);
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "memory pass: buffer '%s' has a negative "
                            "dimension", label);
    *out = nst_tensor_make(dtype, ctx->backend->kind, NULL, ndim, dims);
    const size_t bytes = nst_tensor_bytes(out);
    if (pass->recording) {
        int id = nst_plan_request(pass->plan, tag, bytes, 0, label);
        if (id < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                            "memory pass: the plan refused buffer '%s' (%zu bytes); nst_plan_solve "
                            "says why", label, bytes);
        if (flags & NST_MEM_PERSISTENT) {
            nst_plan_touch(pass->plan, id);
            NST__TRY(remember_persistent(pass, id));
        }
        out->plan_ref = id + 1;
        return NST_OK;
    }
    const int id = pass->next_id;
    const nst_plan_buffer *b = nst_plan_get(pass->solved, id);
    if (!b)
        return NST__ERR(ctx, NST_ERR_INTERNAL,
                        "memory pass: buffer '%s' is request %d, but the plan holds only %d "
                        "buffers: the run does not follow the recorded code path", label, id,
                        nst_plan_count(pass->solved));
    if (b->tag != tag || b->bytes != bytes || strcmp(b->label, label) != 0)
        return NST__ERR(ctx, NST_ERR_INTERNAL,
                        "memory pass: request %d is '%s' (%s, %zu bytes), but the plan recorded "
                        "'%s' (%s, %zu bytes) there: the run does not follow the recorded code "
                        "path", id, label, nst_mem_tag_name(tag), bytes, b->label,
                        nst_mem_tag_name(b->tag), b->bytes);
    pass->next_id++;
    out->data = nst_arena_ptr(pass->arena, id);
    out->plan_ref = id + 1;
    return NST_OK;
}

static void touch(nst_mem_pass *pass, const nst_tensor *t) {
    const int id = nst_tensor_plan_id(t);
    if (id >= 0 && id < nst_plan_count(pass->plan))
        nst_plan_touch(pass->plan, id);
}

void nst_mem_pass_touch(nst_mem_pass *pass, const nst_tensor *t) {
    if (pass && pass->recording && t)
        touch(pass, t);
}

nst_status nst__pass_record_op(nst_ctx *ctx, nst_op op, const void *params, size_t scratch) {
    nst_mem_pass *pass = ctx->pass;
    nst_op_arg stack_args[NST__OP_ARGS_STACK], *args;
    const int n = nst__op_args_collect(ctx, op, params, stack_args, &args);
    if (n < 0)
        return NST_ERR_NO_MEMORY;
    for (int i = 0; i < n; i++)
        if (args[i].t)
            touch(pass, args[i].t);
    nst__op_args_release(stack_args, args);
    if (scratch > 0) {
        nst_plan_touch(pass->plan, SCRATCH_ID);
        pass->scratch_used = true;
        if (scratch > pass->scratch_max)
            pass->scratch_max = scratch;
    }
    nst_plan_next_step(pass->plan);
    return NST_OK;
}

void nst__pass_scratch(const nst_ctx *ctx, void **base, size_t *bytes) {
    const nst_mem_pass *pass = ctx->pass;
    *base = NULL;
    *bytes = 0;
    if (pass && !pass->recording) {
        const nst_plan_buffer *b = nst_plan_get(pass->solved, SCRATCH_ID);
        *base = nst_arena_ptr(pass->arena, SCRATCH_ID);
        *bytes = *base ? b->bytes : 0;
    }
}

static void release(nst_mem_pass *pass) {
    if (pass->ctx->pass == pass)
        pass->ctx->pass = NULL;
    free(pass->persistent);
    free(pass);
}

nst_status nst_mem_pass_end(nst_mem_pass *pass) {
    if (!pass)
        return NST_ERR_INVALID_ARG;
    nst_ctx *ctx = pass->ctx;
    nst_status st = NST_OK;
    if (pass->recording) {
        nst__plan_set_bytes(pass->plan, SCRATCH_ID, pass->scratch_max);
        if (!pass->scratch_used) /* no op needed scratch: an empty buffer, used once */
            nst_plan_touch(pass->plan, SCRATCH_ID);
        const int last = nst_plan_step(pass->plan);
        for (int i = 0; i < pass->n_persistent; i++)
            nst_plan_use(pass->plan, pass->persistent[i], last);
    } else if (pass->next_id != nst_plan_count(pass->solved)) {
        st = NST__ERR(ctx, NST_ERR_INTERNAL,
                      "memory pass: the run asked for %d of the plan's %d buffers: it does not "
                      "follow the recorded code path", pass->next_id,
                      nst_plan_count(pass->solved));
    }
    release(pass);
    return st;
}

void nst_mem_pass_abort(nst_mem_pass *pass) {
    if (pass)
        release(pass);
}

/* ---- plan, then run (plan_run.h) ---------------------------------------------------------- */

/* Runs fn in a pass that began with status `begun`, then ends it (or aborts it on failure). */
static nst_status in_pass(nst_ctx *ctx, nst_status begun, nst_mem_pass *pass, nst__pass_fn fn,
                          void *user) {
    if (begun != NST_OK)
        return begun;
    nst_status st = fn(ctx, pass, user);
    if (st != NST_OK) {
        nst_mem_pass_abort(pass);
        return st;
    }
    return nst_mem_pass_end(pass);
}

nst_status nst__plan_record(nst_ctx *ctx, nst__pass_fn fn, void *user, nst_plan **out) {
    *out = NULL;
    nst_plan *plan = nst_plan_create();
    if (!plan)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "memory plan: no host memory");
    nst_mem_pass *pass = NULL;
    nst_status st = nst_mem_pass_record(ctx, plan, &pass);
    st = in_pass(ctx, st, pass, fn, user);
    if (st == NST_OK)
        st = nst_plan_solve(ctx, plan);
    if (st != NST_OK) {
        nst_plan_destroy(plan);
        return st;
    }
    *out = plan;
    return NST_OK;
}

nst_status nst__plan_run(nst_ctx *ctx, const nst_plan *plan, size_t limit, nst__pass_fn fn,
                         void *user) {
    NST__TRY(nst_plan_check_budget(ctx, plan, limit));
    nst_arena *arena = NULL;
    NST__TRY(nst_arena_create(ctx, plan, &arena));
    nst_mem_pass *pass = NULL;
    nst_status st = nst_mem_pass_run(ctx, plan, arena, &pass);
    st = in_pass(ctx, st, pass, fn, user);
    nst_arena_destroy(ctx, arena);
    return st;
}

nst_status nst__pass_act(nst_mem_pass *pass, int64_t n, const char *name, const char *what,
                         int64_t h, int64_t w, int64_t c, nst_tensor *t) {
    char label[80];
    snprintf(label, sizeof label, "%s %s", name, what);
    const int64_t dims[4] = {n, h, w, c};
    return nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4, dims, 0, label, t);
}

nst_status nst__pass_up_pad(nst_ctx *ctx, nst_mem_pass *pass, const char *name,
                            const nst_tensor *x, bool upsample, int pad, nst_tensor *up,
                            nst_tensor *padded, const nst_tensor **out) {
    const int64_t n = x->shape[0], c = x->shape[3];
    if (upsample) {
        NST__TRY(nst__pass_act(pass, n, name, "upsample", 2 * x->shape[1], 2 * x->shape[2], c,
                               up));
        NST__TRY(nst_upsample2x_forward(ctx, &(nst_upsample2x_params){.x = x, .y = up}));
        x = up;
    }
    if (pad > 0) {
        NST__TRY(nst__pass_act(pass, n, name, "pad", x->shape[1] + 2 * pad,
                               x->shape[2] + 2 * pad, c, padded));
        NST__TRY(nst_reflect_pad_forward(ctx, &(nst_reflect_pad_params){
            .x = x, .y = padded, .top = pad, .bottom = pad, .left = pad, .right = pad}));
        x = padded;
    }
    *out = x;
    return NST_OK;
}
