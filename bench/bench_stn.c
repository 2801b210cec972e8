/* Spatial transformer benchmark: ms per forward + backward of the STN module
 * (src/host/networks/stn.c: localisation network, affine grid and sampler; backward to the input
 * and every weight) on a large image, median of several runs after warm-up, with the spread
   * (min..max, quartiles), plus the memory plan.
 *
 *   build/bench_stn [--size 768x512] [--channels 3,64] [--threads N] [--reps R] [--warmup W]
 *                   [--device D] [--csv FILE]
 *
 * One timed call is one memory pass over a planned arena: nst_stn_forward then nst_stn_backward
 * (dy -> dx and the ten weight gradients), inside the caller's pass as a larger model would run
 * it; input and dy are uploaded once before timing (persistent buffers), so host copies are not
 * timed (PyTorch has none either). The module has its initial weights (theta = identity); x and
 * dy are fixed pseudo-random values (timing does not depend on them).
 * --csv writes impl,size,channels,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms, the columns
 * bench/peer_stn.py (the same module in PyTorch) writes; bench/stn_vs_torch.sh runs the two
 * alternately. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nstyle/nstyle.h"
#include "nstyle/stn.h"

typedef struct {
    nst_ctx *ctx;
    nst_stn *s;
    int c, w, h;
    const nst_plan *plan;
    const nst_arena *arena;
    const float *x, *dy; /* host, uploaded when upload is set */
    int upload;
} run_args;

/* The pass: x, dy persistent; y, dx; forward; backward. */
static nst_status body(run_args *r, nst_mem_pass *pass) {
    const int64_t d[4] = {1, r->h, r->w, r->c};
    nst_tensor x, dy, y, dx;
    nst_stn_tape tape;
    nst_status st;
    if ((st = nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4, d, NST_MEM_PERSISTENT,
                                  "x", &x)) != NST_OK ||
        (st = nst_mem_pass_tensor(pass, NST_TAG_GRADIENTS, NST_F32, 4, d, NST_MEM_PERSISTENT,
                                  "dy", &dy)) != NST_OK)
        return st;
    if (nst_mem_pass_recording(pass)) {
        nst_mem_pass_touch(pass, &x);
        nst_mem_pass_touch(pass, &dy);
    } else if (r->upload) {
        const size_t bytes = nst_tensor_bytes(&x);
        if ((st = nst_copy_to_device(r->ctx, x.data, r->x, bytes)) != NST_OK ||
            (st = nst_copy_to_device(r->ctx, dy.data, r->dy, bytes)) != NST_OK)
            return st;
    }
    if ((st = nst_mem_pass_tensor(pass, NST_TAG_ACTIVATIONS, NST_F32, 4, d, 0, "y", &y)) != NST_OK ||
        (st = nst_mem_pass_tensor(pass, NST_TAG_GRADIENTS, NST_F32, 4, d, 0, "dx", &dx)) != NST_OK ||
        (st = nst_stn_forward(r->s, pass, &x, NULL, &y, &tape)) != NST_OK)
        return st;
    return nst_stn_backward(r->s, pass, &tape, &dy, &dx, NULL, false);
}

static int run_once(void *user) {
    run_args *r = user;
    nst_mem_pass *pass = NULL;
    if (nst_mem_pass_run(r->ctx, r->plan, r->arena, &pass) != NST_OK)
        return 1;
    if (body(r, pass) != NST_OK) {
        nst_mem_pass_abort(pass);
        return 1;
    }
    return nst_mem_pass_end(pass) != NST_OK || nst_synchronize(r->ctx) != NST_OK;
}

static const char usage[] = "usage: bench_stn [--size WxH] [--channels C[,C...]] [--threads N] "
                            "[--reps R] [--warmup W] [--device D] [--csv FILE]";

static int fail(nst_ctx *ctx) {
    fprintf(stderr, "bench_stn: %s\n", ctx ? nst_last_error(ctx) : "out of memory");
    return 1;
}

int main(int argc, char **argv) {
    const char *device = "cpu", *channels = "3,64";
    bench_size size = {768, 512};
    bench_run_opts run = {.threads = 0, .reps = 7, .warmup = 2, .csv = NULL};
    const bench_opt opts[] = {{"--size", BENCH_OPT_SIZE, &size, 0},
                              {"--channels", BENCH_OPT_STRING, &channels, 0},
                              {"--device", BENCH_OPT_STRING, &device, 0}, BENCH_RUN_OPTS(run)};
    if (bench_parse_args(argc, argv, opts, BENCH_N_OPTS(opts), usage))
        return 2;
    const int w = size.w, h = size.h;
    if (run.reps < 1 || run.warmup < 0 || w < 1 || h < 1)
        return bench_usage(usage);
    nst_ctx *ctx = bench_ctx_open("bench_stn", device, run.threads, 0);
    if (!ctx)
        return 1;
    FILE *out = NULL;
    if (run.csv && !(out = bench_csv_open(run.csv, "w", "impl,size,channels,threads,reps,median_ms,"
                                                         "min_ms,q1_ms,q3_ms,max_ms")))
        return 1;
    for (const char *p = channels; *p;) {
        const int c = atoi(p);
        p += strcspn(p, ",");
        p += *p == ',';
        if (c < 1)
            return bench_usage(usage);
        const size_t n = (size_t)w * h * c;
        float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
        if (!x || !dy)
            return fail(NULL);
        uint64_t state = 12345;
        for (size_t i = 0; i < n; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            x[i] = (float)(state >> 40) / (float)(1 << 24);
            dy[i] = x[i] - 0.5f;
        }
        nst_stn *s = NULL;
        if (nst_stn_create(ctx, c, 1, &s) != NST_OK)
            return fail(ctx);
        run_args r = {ctx, s, c, w, h, NULL, NULL, x, dy, 1};
        nst_plan *plan = nst_plan_create();
        nst_mem_pass *pass = NULL;
        nst_arena *arena = NULL;
        if (!plan || nst_mem_pass_record(ctx, plan, &pass) != NST_OK || body(&r, pass) != NST_OK ||
            nst_mem_pass_end(pass) != NST_OK || nst_plan_solve(ctx, plan) != NST_OK ||
            nst_arena_create(ctx, plan, &arena) != NST_OK)
            return fail(ctx);
        r.plan = plan;
        r.arena = arena;
        if (run_once(&r)) /* uploads x and dy */
            return fail(ctx);
        r.upload = 0;
        bench_stats st;
        if (bench_time(run_once, &r, run.warmup, run.reps, run.reps, 0.0, &st))
            return fail(ctx);
        const nst_plan_summary ps = nst_plan_get_summary(plan);
        printf("nstyle stn %dx%dx%d forward+backward, %d threads: %.1f ms (min %.1f, q1 %.1f, "
               "q3 %.1f, max %.1f; %d runs); plan %.1f MiB, module %.2f MiB\n", w, h, c,
               nst_ctx_threads(ctx), 1e3 * st.median, 1e3 * st.min, 1e3 * st.q1, 1e3 * st.q3,
               1e3 * st.max, st.n, ps.total_bytes / 1048576.0, nst_stn_owned_bytes(s) / 1048576.0);
        if (out) {
            fprintf(out, "nstyle,%dx%d,%d,%d,%d,", w, h, c, nst_ctx_threads(ctx), st.n);
            bench_csv_stats(out, &st, 1e3);
        }
        nst_arena_destroy(ctx, arena);
        nst_plan_destroy(plan);
        nst_stn_destroy(s);
        free(x);
        free(dy);
    }
    if (out)
        fclose(out);
    nst_ctx_destroy(ctx);
    return 0;
}
