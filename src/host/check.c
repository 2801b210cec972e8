/* Argument checks shared by op implementations: clear messages naming the op, the argument and
 * the shapes involved. */
#include <stdio.h>

#include "internal.h"

static const char *backend_name(nst_backend_kind k) {
    return k == NST_BACKEND_CPU ? "cpu" : k == NST_BACKEND_CUDA ? "cuda" : "?";
}

nst_status nst__check_tensor(nst_ctx *ctx, const char *op, const char *arg, const nst_tensor *t,
                             nst_backend_kind backend, int ndim, const int64_t *dims) {
    if (!t)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s is missing", op, arg);
    if (!t->data && nst_tensor_numel(t) > 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s has no data", op, arg);
    if (t->backend != backend)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s lives on %s, op runs on %s",
                        op, arg, backend_name(t->backend), backend_name(backend));
    char have[96], want[96];
    bool ok = t->dtype == NST_F32 && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = dims[i] < 0 || dims[i] == t->shape[i];
    if (ok)
        return NST_OK;
    int n = snprintf(want, sizeof want, "(");
    for (int i = 0; i < ndim && n < (int)sizeof want; i++) {
        if (dims[i] < 0)
            n += snprintf(want + n, sizeof want - (size_t)n, "%s*", i ? ", " : "");
        else
            n += snprintf(want + n, sizeof want - (size_t)n, "%s%lld", i ? ", " : "",
                          (long long)dims[i]);
    }
    if (n < (int)sizeof want)
        snprintf(want + n, sizeof want - (size_t)n, ") F32");
    return NST__ERR(ctx, NST_ERR_SHAPE, "op %s: tensor %s is %s, expected %s", op, arg,
                    nst_tensor_describe(t, have, sizeof have), want);
}

nst_status nst__check_same_shape(nst_ctx *ctx, const char *op, const char *arg,
                                 const nst_tensor *t, const char *ref_arg, const nst_tensor *ref) {
    if (!ref)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s is missing", op, ref_arg);
    (void)ref_arg;
    return nst__check_tensor(ctx, op, arg, t, ref->backend, ref->ndim, ref->shape);
}

nst_status nst__check_any_shape(nst_ctx *ctx, const char *op, const char *arg, const nst_tensor *t,
                                nst_backend_kind backend) {
    if (!t)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "op %s: tensor %s is missing", op, arg);
    return nst__check_tensor(ctx, op, arg, t, backend, t->ndim, t->shape);
}
