/* Error reporting for every layer of the library (ops, networks, pipelines, the core, the CUDA
 * module, the kernels' launchers): a status and a message naming what failed, recorded in the
 * context (nst_last_error), and the propagation macro. Not installed; never included by the CLI,
 * which reads errors through the public API. */
#ifndef NSTYLE_ERRORS_H
#define NSTYLE_ERRORS_H

#include "nstyle/context.h"
#include "nstyle/status.h"

#if defined(__GNUC__)
#define NST__PRINTF(fmt_idx, first) __attribute__((format(printf, fmt_idx, first)))
#else
#define NST__PRINTF(fmt_idx, first)
#endif

#define NST__ERRMSG_SIZE 1024

/* Records status and a formatted message (prefixed with the source location) in ctx and
 * returns status, so failures read `return NST__ERR(ctx, NST_ERR_SHAPE, "...", ...)`. */
nst_status nst__error(nst_ctx *ctx, nst_status status, const char *file, int line,
                      const char *fmt, ...) NST__PRINTF(5, 6);
#define NST__ERR(ctx, status, ...) nst__error((ctx), (status), __FILE__, __LINE__, __VA_ARGS__)

/* Propagates a failure: NST__TRY(nst_conv2d_forward(ctx, &p)); */
#define NST__TRY(expr)                 \
    do {                               \
        nst_status nst__s_ = (expr);   \
        if (nst__s_ != NST_OK)         \
            return nst__s_;            \
    } while (0)

#endif
