/* Which OpenBLAS is loaded and which kernels it uses, and which the CPU's features would allow
 * (include/nstyle/device.h): `nstyle info` and `nstyle --version` report them and the CLI
 * re-runs itself with OPENBLAS_CORETYPE when OpenBLAS fell back to its slowest kernels. Tested
 * by tests/test_cli.c (--version against the OpenBLAS pkg-config found). */
#include <cblas.h>
#include <string.h>
#include <strings.h>

#include "nstyle/device.h"

const char *nst_cpu_blas_core(void) {
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
}

const char *nst_cpu_blas_config(void) {
    const char *config = openblas_get_config();
    return config && *config ? config : "unknown";
}

const char *nst_cpu_blas_better_core(void) {
    if (strcasecmp(nst_cpu_blas_core(), "prescott") != 0)
        return NULL;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2"))
        return "Haswell";
#endif
    return NULL;
}

