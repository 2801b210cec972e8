/* cuDNN convolution algorithm selection over plain data (conv_algo.h): cuDNN's heuristic order
 * is kept, and the candidates that run, fit the workspace limit (by their exact workspace
 * query), keep F32 data in F32 (TF32 at most) and are deterministic / free of TF32 where the
 * context asks, are listed; the first is chosen. The fused bias+ReLU forward's fallback order
 * lives here too. No cuDNN call here: conv2d_cudnn.c feeds the real queries and calls in;
 * tests/test_cuda_cudnn_host.c feeds fakes. */
#include <stdio.h>
#include <string.h>

#include "conv_algo.h"

static void mib(char *buf, size_t size, size_t bytes) {
    snprintf(buf, size, "%.1f MiB", bytes / 1048576.0);
}

const char *nst__conv_algo_refusal(const nst__conv_algo_perf *perf,
                                   const nst__conv_algo_rules *rules, char *buf, size_t size) {
    char a[32], b[32];
    if (!perf->ok)
        snprintf(buf, size, "not available for this shape");
    else if (perf->converts)
        snprintf(buf, size, "converts F32 data to half precision "
                            "(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)");
    else if (rules->deterministic && !perf->deterministic)
        snprintf(buf, size, "not deterministic");
    else if (!rules->allow_tf32 && perf->tensor_op)
        snprintf(buf, size, "uses TF32 tensor cores, which are off");
    else if (perf->workspace > rules->workspace_limit) {
        mib(a, sizeof a, perf->workspace);
        mib(b, sizeof b, rules->workspace_limit);
        snprintf(buf, size, "workspace %s over the limit of %s", a, b);
    } else
        return NULL;
    return buf;
}

nst_status nst__conv_algo_list(nst_ctx *ctx, const nst__conv_algo_api *api, void *user,
                               nst__conv_kind kind, const nst__conv_algo_rules *rules,
                               const char *what, nst__conv_algo_choice *out, int *n_out) {
    nst__conv_algo_perf perf[NST__CONV_ALGO_MAX];
    int n = 0;
    *n_out = 0;
    if (api->begin)
        NST__TRY(api->begin(ctx, user, kind, rules));
    NST__TRY(api->candidates(ctx, user, kind, perf, NST__CONV_ALGO_MAX, &n));
    if (n > NST__CONV_ALGO_MAX)
        n = NST__CONV_ALGO_MAX;
    char passed_over[640] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        char reason[160];
        const char *why = nst__conv_algo_refusal(&perf[i], rules, reason, sizeof reason);
        size_t exact = 0;
        if (!why) {
            NST__TRY(api->workspace(ctx, user, kind, &perf[i], &exact));
            if (exact > rules->workspace_limit) {
                char a[32], b[32];
                mib(a, sizeof a, exact);
                mib(b, sizeof b, rules->workspace_limit);
                snprintf(reason, sizeof reason, "exact workspace %s over the limit of %s", a, b);
                why = reason;
            }
        }
        if (!why) {
            nst__conv_algo_choice *c = &out[(*n_out)++];
            c->algo = perf[i].algo;
            c->math_type = perf[i].math_type;
            c->tensor_op = perf[i].tensor_op;
            c->workspace = exact;
            continue;
        }
        if (len + 1 < sizeof passed_over) {
            int k = snprintf(passed_over + len, sizeof passed_over - len, "%salgorithm %d: %s",
                             len ? "; " : "", perf[i].algo, why);
            if (k > 0)
                len = len + (size_t)k < sizeof passed_over ? len + (size_t)k : sizeof passed_over - 1;
        }
    }
    if (*n_out > 0)
        return NST_OK;
    char lim[32];
    mib(lim, sizeof lim, rules->workspace_limit);
    return NST__ERR(ctx, NST_ERR_UNSUPPORTED,
                    "%s: no cuDNN algorithm passes (workspace limit %s, deterministic %s, TF32 "
                    "%s): %s%s. Raise --workspace-limit%s",
                    what, lim, rules->deterministic ? "on" : "off",
                    rules->allow_tf32 ? "on" : "off", n ? passed_over : "cuDNN listed none",
                    n ? "" : " for these descriptors",
                    rules->deterministic ? " or turn deterministic mode off" : "");
}

nst_status nst__conv_algo_select(nst_ctx *ctx, const nst__conv_algo_api *api, void *user,
                                 nst__conv_kind kind, const nst__conv_algo_rules *rules,
                                 const char *what, nst__conv_algo_choice *out) {
    nst__conv_algo_choice all[NST__CONV_ALGO_MAX];
    int n = 0;
    memset(out, 0, sizeof *out);
    NST__TRY(nst__conv_algo_list(ctx, api, user, kind, rules, what, all, &n));
    *out = all[0];
    return NST_OK;
}

nst_status nst__conv_forward_bias_relu(nst_ctx *ctx, const nst__conv_fwd_api *api, void *user,
                                       const nst__conv_algo_choice *cands, int n, size_t scratch,
                                       bool try_fused, int *fused_state) {
    if (n < 1)
        return NST__ERR(ctx, NST_ERR_INTERNAL, "conv2d_forward: no algorithm to run");
    if (try_fused && *fused_state != NST__FUSED_NONE) {
        /* what ran before first, then the rest in cuDNN's order */
        const int known = *fused_state >= 0 && *fused_state < n ? *fused_state : -1;
        for (int k = -1; k < n; k++) {
            const int i = k < 0 ? known : k;
            if (i < 0 || (k >= 0 && i == known) || cands[i].workspace > scratch)
                continue;
            int st = 0;
            NST__TRY(api->fused(ctx, user, &cands[i], &st));
            if (st == 0) {
                *fused_state = i;
                return NST_OK;
            }
        }
        *fused_state = NST__FUSED_NONE;
    }
    return api->unfused(ctx, user, &cands[0]);
}
