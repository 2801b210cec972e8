/* nstyle status codes: one X-macro list gives the enum, the names and nst_strerror().
 * Library functions return nst_status; the detailed message (file, layer, shape, CUDA/cuDNN
 * string) is kept in the context and read with nst_last_error(). */
#ifndef NSTYLE_STATUS_H
#define NSTYLE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, short description) */
#define NST_STATUS_LIST(X)                                                        \
    X(OK, "success")                                                              \
    X(ERR_INVALID_ARG, "invalid argument")                                        \
    X(ERR_SHAPE, "tensor shape or dtype mismatch")                                \
    X(ERR_NO_MEMORY, "out of host memory")                                        \
    X(ERR_DEVICE_MEMORY, "out of device memory")                                  \
    X(ERR_BUDGET, "memory plan exceeds the budget")                               \
    X(ERR_IO, "file input/output failed")                                         \
    X(ERR_FORMAT, "malformed or unsupported file")                                \
    X(ERR_TOO_LARGE, "input too large")                                           \
    X(ERR_UNSUPPORTED, "operation not supported on this backend")                 \
    X(ERR_NO_DEVICE, "requested device is not available")                         \
    X(ERR_CUDA, "CUDA runtime error")                                             \
    X(ERR_CUDNN, "cuDNN error")                                                   \
    X(ERR_CUBLAS, "cuBLAS error")                                                 \
    X(ERR_INTERRUPTED, "interrupted")                                             \
    X(ERR_INTERNAL, "internal error")

typedef enum {
#define NST__STATUS_ENUM(name, desc) NST_##name,
    NST_STATUS_LIST(NST__STATUS_ENUM)
#undef NST__STATUS_ENUM
    NST_STATUS_COUNT
} nst_status;

/* Short, constant description of a status ("out of device memory"). Never NULL. */
const char *nst_strerror(nst_status s);
/* The enum's name without the prefix ("ERR_DEVICE_MEMORY"). Never NULL. */
const char *nst_status_name(nst_status s);

#ifdef __cplusplus
}
#endif
#endif
