/* The tolerances the parity tool (tests/parity/parity.c) holds a CUDA result to against the CPU
 * reference, as functions that need no GPU (tests/test_parity_bound.c tests them on the CPU).
 *
 * Most ops: docs/design.md's fp32 form, |cuda - cpu| <= atol + rtol * |cpu| with rtol 1e-5 and
 * atol 1e-6 * max|cpu| over the output.
 *
 * Reductions over products (conv2d forward, backward_data and backward_filter; linear forward
 * and backward; gram forward and backward: every output element a sum of products of two
 * inputs): the rounding error of a sum scales with the sum of the terms' absolute values, not
 * with the result, which cancels to near zero where the terms do. Per element
 *
 *     |cuda - cpu| <= C * u * M + C * L * FLT_MIN
 *
 * M: the same op, same params, run on a CPU context on the absolute values of its inputs (and
 * of the outputs it accumulates into): forward conv(|x|, |w|) + |b|, backward_data
 * conv_transpose(|dy|, |w|), backward_filter corr(|x|, |dy|) and sum |dy|, the linear GEMMs and
 * the Gram products on |.| (nst_parity_magnitudes). A fused ReLU only shrinks a difference.
 * L: the roundings each element goes through on one side, the reduction's length plus the
 * additions and scalings after it (nst_parity_reduction_length):
 *     conv2d forward y          Cin*KH*KW + 1            (the bias)
 *     conv2d backward_data dx   Cout*ceil(KH/s)*ceil(KW/s)  (the taps that reach one pixel)
 *     conv2d backward_filter    dw, db: N*Ho*Wo (+ 1 when accumulating)
 *     linear forward y          IN + 1                   (the bias)
 *     linear backward           dx: OUT; dw, db: N (+ 1 when accumulating)
 *     gram forward g            H*W + 2                  (the scale 1/(C*H*W) and its rounding)
 *     gram backward dx          C + 3 (+ 1 when accumulating)  (dG + dG^T, the scale, its rounding)
 * u: strict fp32 (TF32 off) u = L * 2^-23; with TF32, u = 2^-10 + 2^-21 + L * 2^-23.
 * The floor covers products and partial sums flushed to zero (at most FLT_MIN each).
 *
 * C = 2, from the standard error analysis of a dot product (Higham, Accuracy and Stability of
 * Numerical Algorithms, 2nd ed., section 3.1): summed in fp32 in any order, with or without
 * FMA, |computed - exact| <= gamma_L * M with gamma_L = L*2^-24 / (1 - L*2^-24).
 *  - strict fp32: the GPU and the CPU are each within gamma_L * M of the exact value, so they
 *    differ by at most 2 gamma_L * M ~= L * 2^-23 * M: C = 1 is the worst case of direct
 *    summation; C = 2 leaves a factor 2 for what that model leaves out: cuDNN's FFT and
 *    Winograd algorithms (their transforms round too; their errors are a small multiple of the
 *    direct one's typical error, about sqrt(L) * 2^-24 * M, itself far below this worst case),
 *    and the fp32 rounding of M itself.
 *  - TF32: each operand is rounded to 10 explicit mantissa bits, relative error < 2^-10 whether
 *    rounded to nearest (2^-11) or truncated; each product of two 11-bit significands is exact
 *    in fp32, so it is off by at most (1 + 2^-10)^2 - 1 = 2 * (2^-10 + 2^-21) of |x w|, at most
 *    C * (2^-10 + 2^-21) * M over the sum. The accumulation stays fp32 on both sides, the same
 *    L * 2^-23 term as the strict pass, kept in u with the same factor C.
 */
#ifndef NSTYLE_TEST_PARITY_BOUND_H
#define NSTYLE_TEST_PARITY_BOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nstyle/nstyle.h"

#define NST_PARITY_RTOL 1e-5     /* docs/design.md's fp32 form: rtol */
#define NST_PARITY_ATOL_REL 1e-6 /* ... and atol = this * max|cpu| */
#define NST_PARITY_BOUND_C 2.0   /* C above */
#define NST_PARITY_FP32_UNIT 0x1p-23            /* per rounding of L: 2 * 2^-24, both sides */
#define NST_PARITY_TF32_UNIT (0x1p-10 + 0x1p-21) /* TF32's operand rounding, per product */
#define NST_PARITY_MAX_ARGS 8    /* the most tensors an op of the bound form lists */

/* Whether op's outputs are held to the bound form (the reductions over products). */
bool nst_parity_bound_applies(nst_op op);
/* Whether op's CUDA implementation may use TF32 (cuDNN convolutions, cuBLAS GEMMs): the ops of
 * the TF32 pass. */
bool nst_parity_tf32_applies(nst_op op);
/* L above for output `arg` (its params field name: "y", "dx", "dw", "db", "g") of op with these
 * params; 0 when op is not of the bound form or has no such output. */
int64_t nst_parity_reduction_length(nst_op op, const void *params, const char *arg);
/* The bound for one element of magnitude M and length L, strict fp32 or TF32. */
double nst_parity_bound(double magnitude, int64_t length, bool tf32);

/* M above: runs op on `cpu` (a CPU context with scratch) over copies of the params' tensors
 * (host F32 tensors) holding their absolute values, leaving the params' own tensors untouched.
 * mag[a] receives a malloc'd array of M for the a-th tensor of nst_op_args(op, params) when that
 * is a present output, else NULL; max is mag's length (at least the op's argument count). On
 * failure every mag[a] is NULL: NST_ERR_INVALID_ARG for an op not of the bound form, a context
 * not on the CPU or a tensor that is not host F32, else the op's status (cpu's last error says
 * why). */
nst_status nst_parity_magnitudes(nst_ctx *cpu, nst_op op, const void *params, float **mag,
                                 int max);
void nst_parity_magnitudes_free(float **mag, int max);

/* The tolerance of one output: magnitude NULL for docs/design.md's form, else the bound form with
 * one M per element, its L, and whether TF32 was on. */
typedef struct {
    const float *magnitude;
    int64_t length;
    bool tf32;
} nst_parity_tol;

/* The number of the n elements of got outside tol around ref (NaN and inf must match the CPU's
 * exactly). Appends up to 3 of them to msg ("\n    dx[17] = ..., cpu ..., bound ...") when msg
 * is not NULL. */
int nst_parity_compare(const char *arg, const float *got, const float *ref, size_t n,
                       const nst_parity_tol *tol, char *msg, size_t size);

#endif
