/* The spatial transformer's computation (include/nstyle/stn.h): forward and backward written
 * against the op table only (affine grid, grid sample, conv2d, 2x2 max pool, ReLU, linear, axpy,
 * MSE), inside a caller's memory pass or in nst_stn_run's own, and the fused Adam step over the
 * ten weight tensors. Weights and files: src/host/networks/stn_weights.c.
 *
 * Semantics: PyTorch's STN tutorial module with a third convolution, as stn.h states; every op
 * follows its PyTorch counterpart (ops.h). ReLU after max pooling is computed as ReLU fused into
 * the convolution before the pooling: max(relu(a), relu(b)) = relu(max(a, b)), and the backward
 * masks agree (a pooled output <= 0 gets zero gradient either way), so the results are the same.
 * Flatten: the (N, 6, 6, 10) NHWC feature map is read as (N, 360) in (h, w, c) order, which is
 * the order fc_loc.0.weight's columns are kept in memory (stn_weights.c permutes them).
 * dx = the sampler's gradient + the localisation path's, which the resampling's backward writes
 * into a buffer of its own (grid_sample backward overwrites) and axpy adds.
 *
 * Tested by tests/test_stn.c (PyTorch goldens, plan = measured peak) and tests/test_stn_grad.c
 * (finite differences in double, learning to undo a rotation). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plan_run.h"
#include "stn_internal.h"

void nst__stn_drop_arena(nst_stn *s) {
    if (s->arena)
        nst_arena_destroy(s->ctx, s->arena);
    nst_plan_destroy(s->plan);
    s->arena = NULL;
    s->plan = NULL;
}

/* ---- forward and backward inside a memory pass ---------------------------------------------- */

static nst_status buf(nst_mem_pass *pass, nst_mem_tag tag, const char *label, int ndim,
                      const int64_t *dims, nst_tensor *t) {
    return nst_mem_pass_tensor(pass, tag, NST_F32, ndim, dims, 0, label, t);
}
#define ACT4(label, t, a, b, c, d) \
    NST__TRY(buf(pass, NST_TAG_ACTIVATIONS, label, 4, (const int64_t[]){a, b, c, d}, t))
#define GRAD4(label, t, a, b, c, d) \
    NST__TRY(buf(pass, NST_TAG_GRADIENTS, label, 4, (const int64_t[]){a, b, c, d}, t))

/* The same memory under another shape (equal element count). */
static nst_tensor view(const nst_tensor *t, int ndim, const int64_t *dims) {
    nst_tensor v = *t;
    v.ndim = ndim;
    for (int k = 0; k < NST_MAX_DIMS; k++)
        v.shape[k] = k < ndim ? dims[k] : 0;
    return v;
}

/* Host data into t (recording: a use of t). */
static nst_status upload(nst_ctx *ctx, nst_mem_pass *pass, nst_tensor *t, const void *host) {
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, t);
        return NST_OK;
    }
    return nst_copy_to_device(ctx, t->data, host, nst_tensor_bytes(t));
}

/* theta = fc_loc(flatten(localization(resample48(x)))): the tape's buffers, theta (N, 6). */
static nst_status localise(nst_stn *s, nst_mem_pass *pass, nst_stn_tape *t, nst_tensor *th6) {
    nst_ctx *ctx = s->ctx;
    const int64_t N = t->x.shape[0], L = NST_STN_LOC_SIZE;
    nst_tensor ident; // (N, 2, 3)
    NST__TRY(buf(pass, NST_TAG_OTHER, "stn identity theta", 3, (const int64_t[]){N, 2, 3}, &ident));
    float *host = malloc((size_t)N * 6 * sizeof *host);
    if (!host)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "stn: no host memory for %lld thetas", (long long)N);
    for (int64_t n = 0; n < N; n++)
        memcpy(host + 6 * n, (const float[6]){1, 0, 0, 0, 1, 0}, sizeof(float[6]));
    nst_status st = upload(ctx, pass, &ident, host);
    free(host);
    NST__TRY(st);
    ACT4("stn grid 48", &t->grid48, N, L, L, 2);
    NST__TRY(nst_affine_grid_forward(ctx, &(nst_affine_grid_params){.theta = &ident,
                                                                    .grid = &t->grid48}));
    ACT4("stn x 48", &t->r, N, L, L, s->C);
    NST__TRY(nst_grid_sample_forward(ctx, &(nst_grid_sample_params){
        .x = &t->x, .grid = &t->grid48, .y = &t->r, .padding = NST_PAD_BORDER}));
    const struct { nst_tensor *in, *conv, *pool; int w, k, cout; const char *label; } L3[3] = {
        {&t->r, &t->c1, &t->p1, C1_W, 7, 8, "stn conv1"},
        {&t->p1, &t->c2, &t->p2, C2_W, 5, 10, "stn conv2"},
        {&t->p2, &t->c3, NULL, C3_W, 3, 10, "stn conv3"}};
    for (int i = 0; i < 3; i++) {
        const int64_t ho = L3[i].in->shape[1] - L3[i].k + 1;
        ACT4(L3[i].label, L3[i].conv, N, ho, ho, L3[i].cout);
        NST__TRY(nst_conv2d_forward(ctx, &(nst_conv2d_params){
            .x = L3[i].in, .w = &s->w[L3[i].w], .b = &s->w[L3[i].w + 1], .y = L3[i].conv,
            .stride = 1, .relu = true}));
        if (!L3[i].pool)
            break;
        ACT4(i ? "stn pool2" : "stn pool1", L3[i].pool, N, ho / 2, ho / 2, L3[i].cout);
        NST__TRY(nst_pool2x2_forward(ctx, &(nst_pool2x2_params){.x = L3[i].conv,
                                                                .y = L3[i].pool}));
    }
    const nst_tensor flat = view(&t->c3, 2, (const int64_t[]){N, NST_STN_FLAT});
    NST__TRY(buf(pass, NST_TAG_ACTIVATIONS, "stn fc1", 2, (const int64_t[]){N, 32}, &t->h1));
    NST__TRY(nst_linear_forward(ctx, &(nst_linear_params){
        .x = &flat, .w = &s->w[F1_W], .b = &s->w[F1_B], .y = &t->h1, .relu = true}));
    NST__TRY(buf(pass, NST_TAG_ACTIVATIONS, "stn theta", 2, (const int64_t[]){N, 6}, th6));
    return nst_linear_forward(ctx, &(nst_linear_params){
        .x = &t->h1, .w = &s->w[F2_W], .b = &s->w[F2_B], .y = th6});
}

nst_status nst_stn_forward(nst_stn *s, nst_mem_pass *pass, const nst_tensor *x,
                           const nst_tensor *theta, nst_tensor *y, nst_stn_tape *tape) {
    if (!s || !pass || !x || !y || !tape)
        return s ? NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "nst_stn_forward: NULL argument")
                 : NST_ERR_INVALID_ARG;
    nst_ctx *ctx = s->ctx;
    char d[64];
    if (x->ndim != 4 || x->shape[3] != s->C || x->shape[0] < 1 || x->shape[1] < 1 ||
        x->shape[2] < 1)
        return NST__ERR(ctx, NST_ERR_SHAPE, "stn forward: x is %s; this module takes (N, H, W, %d)",
                        nst_tensor_describe(x, d, sizeof d), s->C);
    memset(tape, 0, sizeof *tape);
    tape->x = *x;
    tape->given = theta != NULL;
    const int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2];
    if (theta) {
        tape->theta = *theta;
    } else {
        nst_tensor th6; // (N, 6)
        NST__TRY(localise(s, pass, tape, &th6));
        tape->theta = view(&th6, 3, (const int64_t[]){N, 2, 3});
    }
    ACT4("stn grid", &tape->grid, N, H, W, 2);
    NST__TRY(nst_affine_grid_forward(ctx, &(nst_affine_grid_params){.theta = &tape->theta,
                                                                    .grid = &tape->grid}));
    return nst_grid_sample_forward(ctx, &(nst_grid_sample_params){
        .x = x, .grid = &tape->grid, .y = y, .padding = s->padding});
}

/* From dtheta (N, 6) down the localisation network into the weight gradients, and into dx
 * (added) when dx is wanted. */
static nst_status localise_backward(nst_stn *s, nst_mem_pass *pass, const nst_stn_tape *t,
                                    const nst_tensor *dth6, nst_tensor *dx, bool acc) {
    nst_ctx *ctx = s->ctx;
    const int64_t N = t->x.shape[0];
    nst_tensor dh1, dflat; // (N, 32), (N, 360)
    NST__TRY(buf(pass, NST_TAG_GRADIENTS, "stn d fc1", 2, (const int64_t[]){N, 32}, &dh1));
    NST__TRY(nst_linear_backward(ctx, &(nst_linear_params){
        .x = &t->h1, .w = &s->w[F2_W], .dy = dth6, .dx = &dh1, .dw = &s->g[F2_W],
        .db = &s->g[F2_B], .accumulate = acc}));
    NST__TRY(nst_relu_backward(ctx, &(nst_relu_params){.x = &t->h1, .dy = &dh1, .dx = &dh1}));
    NST__TRY(buf(pass, NST_TAG_GRADIENTS, "stn d conv3", 2, (const int64_t[]){N, NST_STN_FLAT},
                 &dflat));
    const nst_tensor flat = view(&t->c3, 2, (const int64_t[]){N, NST_STN_FLAT});
    NST__TRY(nst_linear_backward(ctx, &(nst_linear_params){
        .x = &flat, .w = &s->w[F1_W], .dy = &dh1, .dx = &dflat, .dw = &s->g[F1_W],
        .db = &s->g[F1_B], .accumulate = acc}));
    /* dc: the gradient at the current convolution's output (N, S, S, Cout); dp at its input */
    nst_tensor dc = view(&dflat, 4, (const int64_t[]){N, 6, 6, 10}), dp, dr;
    const struct { const nst_tensor *in, *conv, *pool; int w; const char *din, *dconv; } L3[3] = {
        {&t->p2, &t->c3, NULL, C3_W, "stn d pool2", NULL},
        {&t->p1, &t->c2, &t->p2, C2_W, "stn d pool1", "stn d conv2"},
        {&t->r, &t->c1, &t->p1, C1_W, "stn d x 48", "stn d conv1"}};
    for (int i = 0; i < 3; i++) {
        const int64_t *cs = L3[i].conv->shape, *is = L3[i].in->shape;
        if (L3[i].pool) { /* dc (the pooled gradient) back through the pooling */
            nst_tensor dpool = dc;
            GRAD4(L3[i].dconv, &dc, N, cs[1], cs[2], cs[3]);
            NST__TRY(nst_pool2x2_backward(ctx, &(nst_pool2x2_params){
                .x = L3[i].conv, .dy = &dpool, .dx = &dc}));
        }
        NST__TRY(nst_relu_backward(ctx, &(nst_relu_params){.x = L3[i].conv, .dy = &dc, .dx = &dc}));
        nst_conv2d_params c = {.x = L3[i].in, .w = &s->w[L3[i].w], .dy = &dc,
                               .dw = &s->g[L3[i].w], .db = &s->g[L3[i].w + 1], .stride = 1,
                               .accumulate = acc};
        NST__TRY(nst_conv2d_backward_filter(ctx, &c));
        if (i == 2 && !dx)
            return NST_OK;
        GRAD4(L3[i].din, &dp, N, is[1], is[2], is[3]);
        c.dx = &dp;
        NST__TRY(nst_conv2d_backward_data(ctx, &c));
        dc = dp;
    }
    dr = dc; /* (N, 48, 48, C) back through the resampling, added to dx */
    nst_tensor dxl; // (N, H, W, C)
    GRAD4("stn d x (localisation)", &dxl, N, t->x.shape[1], t->x.shape[2], t->x.shape[3]);
    NST__TRY(nst_grid_sample_backward(ctx, &(nst_grid_sample_params){
        .x = &t->x, .grid = &t->grid48, .dy = &dr, .dx = &dxl, .padding = NST_PAD_BORDER}));
    return nst_axpy(ctx, &(nst_scale_params){.x = &dxl, .y = dx, .alpha = 1.0f});
}

nst_status nst_stn_backward(nst_stn *s, nst_mem_pass *pass, const nst_stn_tape *tape,
                            const nst_tensor *dy, nst_tensor *dx, nst_tensor *dtheta,
                            bool accumulate) {
    if (!s || !pass || !tape || !dy)
        return s ? NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "nst_stn_backward: NULL argument")
                 : NST_ERR_INVALID_ARG;
    nst_ctx *ctx = s->ctx;
    const int64_t N = tape->x.shape[0], H = tape->x.shape[1], W = tape->x.shape[2];
    const bool need_theta = dtheta || !tape->given;
    nst_tensor dgrid, dth; // (N, H, W, 2), (N, 2, 3)
    if (need_theta)
        GRAD4("stn d grid", &dgrid, N, H, W, 2);
    NST__TRY(nst_grid_sample_backward(ctx, &(nst_grid_sample_params){
        .x = &tape->x, .grid = &tape->grid, .dy = dy, .dx = dx, .dgrid = need_theta ? &dgrid : NULL,
        .padding = s->padding}));
    if (!need_theta)
        return NST_OK;
    if (dtheta)
        dth = *dtheta;
    else
        NST__TRY(buf(pass, NST_TAG_GRADIENTS, "stn d theta", 3, (const int64_t[]){N, 2, 3}, &dth));
    NST__TRY(nst_affine_grid_backward(ctx, &(nst_affine_grid_params){.dgrid = &dgrid,
                                                                     .dtheta = &dth}));
    if (tape->given)
        return NST_OK;
    const nst_tensor dth6 = view(&dth, 2, (const int64_t[]){N, 6});
    return localise_backward(s, pass, tape, &dth6, dx, accumulate);
}

/* ---- one call over host memory: its own memory pass ----------------------------------------- */

typedef struct {
    const nst_tensor *t;
    float *host;
} download;

/* The pass of one nst_stn_run: buffers, uploads, forward, loss, backward, downloads. */
static nst_status run_body(nst_stn *s, nst_mem_pass *pass, int n, int h, int w,
                           const nst_stn_io *io) {
    nst_ctx *ctx = s->ctx;
    const bool rec = nst_mem_pass_recording(pass);
    nst_tensor x, y, dy, dx, target; // (N, H, W, C)
    nst_tensor theta, dth, loss;     // (N, 2, 3), (N, 2, 3), (1)
    nst_stn_tape tape;
    ACT4("stn x", &x, n, h, w, s->C);
    NST__TRY(upload(ctx, pass, &x, io->x));
    if (io->theta) {
        NST__TRY(buf(pass, NST_TAG_OTHER, "stn theta given", 3, (const int64_t[]){n, 2, 3},
                     &theta));
        NST__TRY(upload(ctx, pass, &theta, io->theta));
    }
    ACT4("stn y", &y, n, h, w, s->C);
    NST__TRY(nst_stn_forward(s, pass, &x, io->theta ? &theta : NULL, &y, &tape));
    download down[5] = {{&y, io->y}, {&tape.theta, io->theta_out}};
    int n_down = 2;
    if (io->target || io->dy) {
        GRAD4("stn dy", &dy, n, h, w, s->C);
        if (io->target) {
            ACT4("stn target", &target, n, h, w, s->C);
            NST__TRY(upload(ctx, pass, &target, io->target));
            NST__TRY(buf(pass, NST_TAG_OTHER, "stn loss", 1, (const int64_t[]){1}, &loss));
            nst_mse_params m = {.a = &y, .b = &target, .loss = &loss, .da = &dy, .scale = 1.0f};
            NST__TRY(nst_mse_forward(ctx, &m));
            NST__TRY(nst_mse_backward(ctx, &m));
            down[n_down++] = (download){&loss, io->loss};
        } else {
            NST__TRY(upload(ctx, pass, &dy, io->dy));
        }
        if (io->dx)
            GRAD4("stn dx", &dx, n, h, w, s->C);
        if (io->dtheta)
            NST__TRY(buf(pass, NST_TAG_GRADIENTS, "stn dtheta", 3, (const int64_t[]){n, 2, 3},
                         &dth));
        NST__TRY(nst_stn_backward(s, pass, &tape, &dy, io->dx ? &dx : NULL,
                                  io->dtheta ? &dth : NULL, false));
        if (io->dx)
            down[n_down++] = (download){&dx, io->dx};
        if (io->dtheta)
            down[n_down++] = (download){&dth, io->dtheta};
    }
    for (int i = 0; i < n_down; i++) {
        if (!down[i].host)
            continue;
        if (rec)
            nst_mem_pass_touch(pass, down[i].t);
        else
            NST__TRY(nst_copy_to_host(ctx, down[i].host, down[i].t->data,
                                      nst_tensor_bytes(down[i].t)));
    }
    return NST_OK;
}

static nst_status check_io(nst_stn *s, int n, int h, int w, const nst_stn_io *io) {
    if (!s)
        return NST_ERR_INVALID_ARG;
    if (!io || !io->x)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: no input image");
    if (n < 1 || h < 1 || w < 1 || h > 65536 || w > 65536)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: %d image(s) of %dx%d (n >= 1, sides "
                        "1..65536)", n, w, h);
    if (io->dy && io->target)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: give dy or a target, not both");
    if ((io->dx || io->dtheta || io->loss) && !io->dy && !io->target)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: gradients or a loss asked for without "
                        "dy or a target");
    if (io->loss && !io->target)
        return NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "stn: a loss needs a target");
    return NST_OK;
}

/* One call's body as a plan-then-run pass function (src/host/plan_run.h). */
typedef struct {
    nst_stn *s;
    int n, h, w;
    const nst_stn_io *io;
} body_call;

static nst_status body_pass(nst_ctx *ctx, nst_mem_pass *pass, void *user) {
    const body_call *c = user;
    (void)ctx;
    return run_body(c->s, pass, c->n, c->h, c->w, c->io);
}

static nst_status record(nst_stn *s, int n, int h, int w, const nst_stn_io *io, nst_plan **out) {
    body_call c = {s, n, h, w, io};
    return nst__plan_record(s->ctx, body_pass, &c, out);
}

nst_status nst_stn_plan(nst_stn *s, int n, int h, int w, const nst_stn_io *io,
                        nst_plan_summary *out) {
    NST__TRY(check_io(s, n, h, w, io));
    nst_plan *plan = NULL;
    NST__TRY(record(s, n, h, w, io, &plan));
    if (out)
        *out = nst_plan_get_summary(plan);
    nst_plan_destroy(plan);
    return NST_OK;
}

nst_status nst_stn_run(nst_stn *s, int n, int h, int w, const nst_stn_io *io) {
    NST__TRY(check_io(s, n, h, w, io));
    nst_ctx *ctx = s->ctx;
    /* what decides the plan: size, theta given, backward kind, the outputs wanted */
    const int key[7] = {n, h, w, io->theta != NULL, io->target ? 2 : io->dy ? 1 : 0,
                        io->dx != NULL, io->dtheta != NULL};
    if (!s->arena || memcmp(key, s->plan_key, sizeof key) != 0) {
        nst__stn_drop_arena(s); /* first, so its memory counts as free for the budget */
        NST__TRY(record(s, n, h, w, io, &s->plan));
        nst_status st = nst_plan_check_budget(ctx, s->plan, s->mem_limit);
        if (st == NST_OK)
            st = nst_arena_create(ctx, s->plan, &s->arena);
        if (st != NST_OK) {
            nst__stn_drop_arena(s);
            return st;
        }
        memcpy(s->plan_key, key, sizeof key);
    }
    nst_mem_pass *pass = NULL;
    NST__TRY(nst_mem_pass_run(ctx, s->plan, s->arena, &pass));
    nst_status st = run_body(s, pass, n, h, w, io);
    if (st != NST_OK) {
        nst_mem_pass_abort(pass);
        return st;
    }
    return nst_mem_pass_end(pass);
}

/* ---- training ------------------------------------------------------------------------------- */

nst_status nst_stn_adam_step(nst_stn *s, const nst_stn_adam *opt) {
    if (!s || !opt)
        return s ? NST__ERR(s->ctx, NST_ERR_INVALID_ARG, "nst_stn_adam_step: no options")
                 : NST_ERR_INVALID_ARG;
    nst_adam_slot slots[NST_STN_N_TENSORS];
    for (int i = 0; i < NST_STN_N_TENSORS; i++)
        slots[i] = (nst_adam_slot){.param = &s->w[i], .grad = &s->g[i], .m = &s->m[i],
                                   .v = &s->v[i]};
    nst_adam_params p = {.slots = slots, .n_slots = NST_STN_N_TENSORS,
                         .step = nst_adam_step_make(opt->lr, opt->beta1, opt->beta2, opt->eps,
                                                    opt->weight_decay, s->adam_t + 1)};
    NST__TRY(nst_adam(s->ctx, &p));
    s->adam_t++;
    return NST_OK;
}

nst_status nst_stn_adam_reset(nst_stn *s) {
    if (!s)
        return NST_ERR_INVALID_ARG;
    s->adam_t = 0;
    return nst_memset_device(s->ctx, s->mvmem, 0, 2 * s->bytes);
}
