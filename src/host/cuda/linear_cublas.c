/* linear (PyTorch nn.Linear: y = x w^T + b) on the CUDA backend through cuBLAS; every cuBLAS
 * call of nstyle is in this file. Row-major matrices are cuBLAS's column-major transposes, so
 * y^T (OUT, N) = w (OUT, IN) x^T is one SGEMM with w read transposed: no copies.
 *   forward:  y  = x w^T (+ b, ReLU: cuDNN's broadcast add and activation, conv2d_cudnn.c)
 *   backward: dx = dy w;  dw [+]= dy^T x;  db [+]= column sums of dy (cuDNN's bias gradient)
 * cuBLAS's workspace is a piece of the op's scratch (cublasSetWorkspace before each call), so
 * cuBLAS allocates nothing while the op runs: 32 MiB on sm_90 and newer, 4 MiB before. TF32 is off in GEMMs unless the context turns it
 * on (CUBLAS_TF32_TENSOR_OP_MATH), as PyTorch's default; parity runs keep it off.
 * Tested on a GPU by the parity tool against the CPU op (scripts/gpu-check.sh). */
#include <cublas_v2.h>

#include "cuda_internal.h"

static nst_status cublas_error(nst_ctx *ctx, cublasStatus_t st, const char *call,
                               const char *file, int line) {
    return nst__error(ctx, NST_ERR_CUDA, file, line, "%s: %s (%s)", call,
                      cublasGetStatusString(st), cublasGetStatusName(st));
}

#define CUBLAS_TRY(ctx, call)                                                         \
    do {                                                                              \
        cublasStatus_t st_ = (call);                                                  \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                             \
            return cublas_error((ctx), st_, #call, __FILE__, __LINE__);               \
    } while (0)

nst_status nst__cublas_open(nst_ctx *ctx, nst__cuda_state *s) {
    cublasHandle_t h = NULL;
    cublasStatus_t st = cublasCreate(&h);
    if (st != CUBLAS_STATUS_SUCCESS)
        return cublas_error(ctx, st, "cublasCreate", __FILE__, __LINE__);
    /* the stream first: cublasSetStream resets the workspace to cuBLAS's own pool */
    st = cublasSetStream(h, s->stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
        cublasDestroy(h);
        return cublas_error(ctx, st, "cublasSetStream", __FILE__, __LINE__);
    }
    s->cublas = h;
    return NST_OK;
}

void nst__cublas_close(nst__cuda_state *s) {
    if (s->cublas)
        cublasDestroy(s->cublas);
    s->cublas = NULL;
}

/* The handle with this call's workspace and the context's math mode. */
static nst_status prepare(nst_ctx *ctx, const char *op, cublasHandle_t *out) {
    cublasHandle_t h = nst__cuda_state_of(ctx)->cublas;
    const size_t bytes = nst__cuda_state_of(ctx)->cublas_workspace;
    void *ws = NULL;
    NST__TRY(nst__scratch_take(ctx, op, "cuBLAS workspace", bytes, &ws));
    CUBLAS_TRY(ctx, cublasSetWorkspace(h, ws, bytes));
    CUBLAS_TRY(ctx, cublasSetMathMode(h, nst_ctx_tf32_gemms(ctx) ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                 : CUBLAS_DEFAULT_MATH));
    *out = h;
    return NST_OK;
}

nst_status nst__cuda_linear_forward(nst_ctx *ctx, const void *params) {
    const nst_linear_params *p = params;
    const int n = (int)p->x->shape[0], in = (int)p->x->shape[1], out = (int)p->w->shape[0];
    cublasHandle_t h;
    NST__TRY(prepare(ctx, "linear_forward", &h));
    const float one = 1.0f, zero = 0.0f;
    nst__cuda_state_of(ctx)->last_launch = "cublasSgemm (linear_forward)";
    /* y^T (out x n, ld out) = op(w^T as stored: in x out, ld in)^T * x^T (in x n, ld in) */
    CUBLAS_TRY(ctx, cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, p->w->data, in,
                                p->x->data, in, &zero, p->y->data, out));
    if (p->b || p->relu)
        NST__TRY(nst__cudnn_bias_relu(ctx, p->y->data, p->b ? p->b->data : NULL, n, out,
                                      p->relu));
    return NST_OK;
}

nst_status nst__cuda_linear_backward(nst_ctx *ctx, const void *params) {
    const nst_linear_params *p = params;
    const int n = (int)p->dy->shape[0], out = (int)p->dy->shape[1];
    const int in = (int)(p->w ? p->w->shape[1] : p->dw->shape[1]);
    cublasHandle_t h;
    NST__TRY(prepare(ctx, "linear_backward", &h));
    const float one = 1.0f, zero = 0.0f, beta = p->accumulate ? 1.0f : 0.0f;
    nst__cuda_state_of(ctx)->last_launch = "cublasSgemm (linear_backward)";
    if (p->dx) /* dx^T (in x n, ld in) = w^T (in x out, ld in) * dy^T (out x n, ld out) */
        CUBLAS_TRY(ctx, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, p->w->data,
                                    in, p->dy->data, out, &zero, p->dx->data, in));
    if (p->dw) /* dw^T (in x out, ld in) = x^T (in x n, ld in) * dy (n x out) = (dy^T)^T */
        CUBLAS_TRY(ctx, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, p->x->data,
                                    in, p->dy->data, out, &beta, p->dw->data, in));
    if (p->db)
        NST__TRY(nst__cudnn_bias_grad(ctx, "linear_backward", p->db->data, p->dy->data, n, out, p->accumulate));
    return NST_OK;
}
