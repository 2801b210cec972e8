/* Choosing a cuDNN convolution algorithm, as plain data: the candidates cuDNN's
 * cudnnGet*Algorithm_v7 heuristics list (best first) pass through the context's rules (the
 * workspace limit, determinism, TF32) and the first that passes is taken, with the exact
 * workspace its own query states. The queries come through a function table, so a test can
 * stand in for cuDNN (tests/test_cuda_cudnn_host.c). No cuDNN header here. */
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
    /* Up to max candidates of kind for the convolution behind user, best first, into perf. */
    nst_status (*candidates)(nst_ctx *ctx, void *user, nst__conv_kind kind,
                             nst__conv_algo_perf *perf, int max, int *n);
    /* The exact workspace of candidate c for that convolution. */
    nst_status (*workspace)(nst_ctx *ctx, void *user, nst__conv_kind kind,
                            const nst__conv_algo_perf *c, size_t *bytes);
} nst__conv_algo_api;

#define NST__CONV_ALGO_MAX 32

/* The first candidate that passes the rules and whose exact workspace fits the limit. When none
 * does: NST_ERR_UNSUPPORTED naming `what` (the op and its shape), each candidate and why it was
 * passed over, and which setting to change. */
NST__CUDA_EXPORT nst_status nst__conv_algo_select(nst_ctx *ctx, const nst__conv_algo_api *api,
                                                  void *user, nst__conv_kind kind,
                                                  const nst__conv_algo_rules *rules,
                                                  const char *what, nst__conv_algo_choice *out);

#endif
