/* The parity tool's tolerances (parity_bound.h): docs/design.md's fp32 form, and the bound form of
 * the reductions over products with its magnitudes computed by the CPU ops on absolute values. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity_bound.h"

bool nst_parity_tf32_applies(nst_op op) {
    switch (op) {
    case NST_OP_CONV2D_FORWARD:
    case NST_OP_CONV2D_BACKWARD_DATA:
    case NST_OP_CONV2D_BACKWARD_FILTER:
    case NST_OP_DWCONV2D_FORWARD:
    case NST_OP_DWCONV2D_BACKWARD_DATA:
    case NST_OP_DWCONV2D_BACKWARD_FILTER:
    case NST_OP_LINEAR_FORWARD:
    case NST_OP_LINEAR_BACKWARD:
        return true;
    default:
        return false;
    }
}

bool nst_parity_bound_applies(nst_op op) {
    return nst_parity_tf32_applies(op) || op == NST_OP_GRAM_FORWARD ||
           op == NST_OP_GRAM_BACKWARD;
}

static bool is(const char *arg, const char *name) { return arg && strcmp(arg, name) == 0; }

static int64_t ceil_div(int64_t a, int64_t b) { return b > 0 ? (a + b - 1) / b : 0; }

int64_t nst_parity_reduction_length(nst_op op, const void *params, const char *arg) {
    if (!params)
        return 0;
    switch (op) {
    case NST_OP_CONV2D_FORWARD:
    case NST_OP_DWCONV2D_FORWARD: { /* dwconv2d's w (C, KH, KW, 1): KH KW taps per output */
        const nst_conv2d_params *p = params;
        return is(arg, "y") && p->w ? p->w->shape[1] * p->w->shape[2] * p->w->shape[3] + 1 : 0;
    }
    case NST_OP_DWCONV2D_BACKWARD_DATA: { /* one channel's taps, no sum over channels */
        const nst_conv2d_params *p = params;
        if (!is(arg, "dx") || !p->w)
            return 0;
        return ceil_div(p->w->shape[1], p->stride) * ceil_div(p->w->shape[2], p->stride);
    }
    case NST_OP_CONV2D_BACKWARD_DATA: {
        const nst_conv2d_params *p = params;
        if (!is(arg, "dx") || !p->w)
            return 0;
        return p->w->shape[0] * ceil_div(p->w->shape[1], p->stride) *
               ceil_div(p->w->shape[2], p->stride);
    }
    case NST_OP_CONV2D_BACKWARD_FILTER:
    case NST_OP_DWCONV2D_BACKWARD_FILTER: {
        const nst_conv2d_params *p = params;
        if (!(is(arg, "dw") || is(arg, "db")) || !p->dy)
            return 0;
        return p->dy->shape[0] * p->dy->shape[1] * p->dy->shape[2] + (p->accumulate ? 1 : 0);
    }
    case NST_OP_LINEAR_FORWARD: {
        const nst_linear_params *p = params;
        return is(arg, "y") && p->w ? p->w->shape[1] + 1 : 0;
    }
    case NST_OP_LINEAR_BACKWARD: {
        const nst_linear_params *p = params;
        if (!p->dy)
            return 0;
        if (is(arg, "dx"))
            return p->dy->shape[1];
        if (is(arg, "dw") || is(arg, "db"))
            return p->dy->shape[0] + (p->accumulate ? 1 : 0);
        return 0;
    }
    case NST_OP_GRAM_FORWARD: {
        const nst_gram_params *p = params;
        return is(arg, "g") && p->x ? p->x->shape[1] * p->x->shape[2] + 2 : 0;
    }
    case NST_OP_GRAM_BACKWARD: {
        const nst_gram_params *p = params;
        return is(arg, "dx") && p->x ? p->x->shape[3] + 3 + (p->accumulate ? 1 : 0) : 0;
    }
    default:
        return 0;
    }
}

double nst_parity_bound(double magnitude, int64_t length, bool tf32) {
    const double l = (double)length;
    const double u = (tf32 ? NST_PARITY_TF32_UNIT : 0.0) + l * NST_PARITY_FP32_UNIT;
    return NST_PARITY_BOUND_C * (u * magnitude + l * FLT_MIN);
}

/* The twin (absolute values) of params tensor t among the op's arguments; NULL for a tensor the
 * op does not list, so the run on absolute values never touches the caller's tensors. */
static nst_tensor *twin_of(const nst_tensor *t, const nst_op_arg *args, nst_tensor *twins,
                           int n) {
    for (int a = 0; t && a < n; a++)
        if (args[a].t == t)
            return &twins[a];
    return NULL;
}

nst_status nst_parity_magnitudes(nst_ctx *cpu, nst_op op, const void *params, float **mag,
                                 int max) {
    for (int a = 0; a < max; a++)
        mag[a] = NULL;
    nst_op_arg args[NST_PARITY_MAX_ARGS];
    const int n = nst_op_args(op, params, args, NST_PARITY_MAX_ARGS);
    if (!nst_parity_bound_applies(op) || n < 0 || n > NST_PARITY_MAX_ARGS || n > max ||
        nst_ctx_backend(cpu) != NST_BACKEND_CPU)
        return NST_ERR_INVALID_ARG;
    nst_tensor twins[NST_PARITY_MAX_ARGS];
    float *data[NST_PARITY_MAX_ARGS] = {0};
    nst_status s = NST_OK;
    for (int a = 0; a < n && s == NST_OK; a++) {
        const nst_tensor *t = args[a].t;
        if (!t)
            continue;
        if (t->dtype != NST_F32 || t->backend != NST_BACKEND_CPU || !t->data) {
            s = NST_ERR_INVALID_ARG;
            break;
        }
        const size_t k = (size_t)nst_tensor_numel(t);
        if (!(data[a] = malloc(k ? k * sizeof(float) : 1))) {
            s = NST_ERR_NO_MEMORY;
            break;
        }
        const float *from = t->data;
        for (size_t i = 0; i < k; i++)
            data[a][i] = fabsf(from[i]);
        twins[a] = *t;
        twins[a].data = data[a];
    }
    union {
        nst_conv2d_params conv;
        nst_linear_params linear;
        nst_gram_params gram;
    } q;
#define TWIN(field) q.field = twin_of(q.field, args, twins, n)
    if (s == NST_OK) {
        switch (op) {
        case NST_OP_CONV2D_FORWARD:
        case NST_OP_CONV2D_BACKWARD_DATA:
        case NST_OP_CONV2D_BACKWARD_FILTER:
        case NST_OP_DWCONV2D_FORWARD:
        case NST_OP_DWCONV2D_BACKWARD_DATA:
        case NST_OP_DWCONV2D_BACKWARD_FILTER:
            q.conv = *(const nst_conv2d_params *)params;
            TWIN(conv.x), TWIN(conv.w), TWIN(conv.b), TWIN(conv.y);
            TWIN(conv.dy), TWIN(conv.dx), TWIN(conv.dw), TWIN(conv.db);
            break;
        case NST_OP_LINEAR_FORWARD:
        case NST_OP_LINEAR_BACKWARD:
            q.linear = *(const nst_linear_params *)params;
            TWIN(linear.x), TWIN(linear.w), TWIN(linear.b), TWIN(linear.y);
            TWIN(linear.dy), TWIN(linear.dx), TWIN(linear.dw), TWIN(linear.db);
            break;
        default: /* gram */
            q.gram = *(const nst_gram_params *)params;
            TWIN(gram.x), TWIN(gram.g), TWIN(gram.dg), TWIN(gram.dx);
            break;
        }
        s = nst_op_run(cpu, op, &q);
    }
#undef TWIN
    for (int a = 0; a < n; a++) {
        if (s == NST_OK && args[a].t && args[a].role != NST_ARG_IN)
            mag[a] = data[a];
        else
            free(data[a]);
    }
    return s;
}

void nst_parity_magnitudes_free(float **mag, int max) {
    for (int a = 0; a < max; a++) {
        free(mag[a]);
        mag[a] = NULL;
    }
}

int nst_parity_compare(const char *arg, const float *got, const float *ref, size_t n,
                       const nst_parity_tol *tol, char *msg, size_t size) {
    const bool bound = tol && tol->magnitude;
    double max_ref = 0.0;
    for (size_t i = 0; !bound && i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > max_ref)
            max_ref = fabs(ref[i]);
    const double atol = NST_PARITY_ATOL_REL * max_ref;
    int bad = 0;
    size_t used = msg ? strlen(msg) : 0;
    for (size_t i = 0; i < n; i++) {
        const double g = got[i], r = ref[i];
        const double lim = bound ? nst_parity_bound(tol->magnitude[i], tol->length, tol->tf32)
                                 : atol + NST_PARITY_RTOL * fabs(r);
        bool ok;
        if (!isfinite(r) || !isfinite(g))
            ok = (isnan(r) && isnan(g)) || g == r;
        else
            ok = fabs(g - r) <= lim;
        if (!ok && bad++ < 3 && msg && used + 1 < size)
            used += (size_t)snprintf(msg + used, size - used,
                                     "\n    %s[%zu] = %.9g, cpu %.9g, |diff| %.3g > %.3g", arg, i,
                                     g, r, fabs(g - r), lim);
    }
    return bad;
}
