/* Choosing a cuDNN convolution algorithm, as plain data: the candidates cuDNN's
 * cudnnGet*Algorithm_v7 heuristics list (best first) pass through the context's rules (the
 * workspace limit, determinism, TF32, no conversion of F32 data to half precision) and the
 * first that passes is taken, with the exact workspace its own query states; the others that
 * pass are kept, in order, for the fused bias+ReLU forward, which falls back through them and
 * then to the unfused path. The queries and the calls come through function tables, so a test
 * can stand in for cuDNN (tests/test_cuda_cudnn_host.c). No cuDNN header here. */
#ifndef NSTYLE_CUDA_CONV_ALGO_H
#define NSTYLE_CUDA_CONV_ALGO_H

#include <stdbool.h>
#include <stddef.h>

#include "cuda_internal.h"

typedef enum {
    NST__CONV_FORWARD = 0,
    NST__CONV_BACKWARD_DATA = 1,
    NST__CONV_BACKWARD_FILTER = 2,
    NST__CONV_KINDS
} nst__conv_kind;

/* One candidate as cudnnGet*Algorithm_v7 reports it (cudnnConvolution*AlgoPerf_t). */
typedef struct {
    int algo;           /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
    bool ok;            /* status == CUDNN_STATUS_SUCCESS */
    size_t workspace;   /* memory */
    bool deterministic; /* determinism == CUDNN_DETERMINISTIC */
    bool tensor_op;     /* mathType is a tensor-core one: TF32 arithmetic on F32 data */
    int math_type;      /* the cudnnMathType_t it was rated with */
    float time_ms;      /* cuDNN's estimate, -1 when it gives none */
    bool converts;      /* CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: F32 data rounded to FP16/BF16 */
} nst__conv_algo_perf;

typedef struct {
    size_t workspace_limit; /* bytes */
    bool deterministic;     /* only CUDNN_DETERMINISTIC candidates */
    bool allow_tf32;        /* tensor-op candidates allowed */
} nst__conv_algo_rules;

typedef struct {
    int algo;
    int math_type;
    bool tensor_op;
    size_t workspace; /* the exact bytes cudnnGet*WorkspaceSize states for algo */
} nst__conv_algo_choice;

/* Why candidate perf fails the rules ("workspace 1.2 GiB over the limit"), or NULL if it passes. */
const char *nst__conv_algo_refusal(const nst__conv_algo_perf *perf,
                                   const nst__conv_algo_rules *rules, char *buf, size_t size);

typedef struct {
    /* Called before each direction's candidates are asked for: puts the descriptor back to the
     * rules' math type (FMA with TF32 off, cuDNN's default with it on), so that the math type a
     * previous direction's workspace queries left on it cannot steer this direction's list. */
    nst_status (*begin)(nst_ctx *ctx, void *user, nst__conv_kind kind,
                        const nst__conv_algo_rules *rules);
    /* Up to max candidates of kind for the convolution behind user, best first, into perf. */
    nst_status (*candidates)(nst_ctx *ctx, void *user, nst__conv_kind kind,
                             nst__conv_algo_perf *perf, int max, int *n);
    /* The exact workspace of candidate c for that convolution. */
    nst_status (*workspace)(nst_ctx *ctx, void *user, nst__conv_kind kind,
                            const nst__conv_algo_perf *c, size_t *bytes);
} nst__conv_algo_api;

#define NST__CONV_ALGO_MAX 32

/* Every candidate that passes the rules and whose exact workspace fits the limit, in cuDNN's
 * order, into out[0..*n) (at most NST__CONV_ALGO_MAX). When none does: NST_ERR_UNSUPPORTED
 * naming `what` (the op and its shape), each candidate and why it was passed over, and which
 * setting to change. out[0] is the choice. */
NST__CUDA_EXPORT nst_status nst__conv_algo_list(nst_ctx *ctx, const nst__conv_algo_api *api,
                                                void *user, nst__conv_kind kind,
                                                const nst__conv_algo_rules *rules,
                                                const char *what, nst__conv_algo_choice *out,
                                                int *n);
/* The first of that list (out[0]). */
NST__CUDA_EXPORT nst_status nst__conv_algo_select(nst_ctx *ctx, const nst__conv_algo_api *api,
                                                  void *user, nst__conv_kind kind,
                                                  const nst__conv_algo_rules *rules,
                                                  const char *what, nst__conv_algo_choice *out);

/* ---- the forward with bias and ReLU ---------------------------------------------------------
 * cudnnConvolutionBiasActivationForward supports fewer algorithms than a plain convolution,
 * and which ones is not in the heuristics' answer, so the fused call is tried with each passing
 * candidate in order (those whose workspace fits the scratch planned for the first), and on any
 * non-success status the next is tried; when none runs, the unfused path (convolution, bias
 * add, ReLU) runs with the first. What happened is remembered per shape in *fused_state, so
 * later calls go straight to what worked. */
typedef struct {
    /* The fused call with candidate c: a non-OK return is a hard failure (recorded in ctx, the
     * forward fails); otherwise *cudnn_status is cuDNN's answer (0 = success). */
    nst_status (*fused)(nst_ctx *ctx, void *user, const nst__conv_algo_choice *c,
                        int *cudnn_status);
    /* Convolution, bias add and ReLU as three calls, with candidate c. */
    nst_status (*unfused)(nst_ctx *ctx, void *user, const nst__conv_algo_choice *c);
} nst__conv_fwd_api;

#define NST__FUSED_UNTRIED (-2) /* *fused_state before the first call */
#define NST__FUSED_NONE (-1)    /* no candidate ran fused: the unfused path only */

/* Runs the forward with bias and ReLU: fused when try_fused and a candidate of cands[0..n)
 * whose workspace is at most `scratch` runs, else unfused with cands[0]. *fused_state: in, what
 * an earlier call found (NST__FUSED_UNTRIED, NST__FUSED_NONE, or the index that ran); out,
 * updated. */
NST__CUDA_EXPORT nst_status nst__conv_forward_bias_relu(nst_ctx *ctx, const nst__conv_fwd_api *api,
                                                        void *user,
                                                        const nst__conv_algo_choice *cands, int n,
                                                        size_t scratch, bool try_fused,
                                                        int *fused_state);

#endif
