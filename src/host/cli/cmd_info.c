/* `nstyle info`: the build, the CPU threads and the visible GPUs, or why none can be used. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "nstyle/nstyle.h"

int nst_cli_info(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("Usage: nstyle info\n\nPrints this build's version and backends, the CPU "
                   "threads OpenMP will use, and every\nvisible GPU with its compute capability "
                   "and free/total memory (or why there is none).\nThe CUDA backend needs an "
                   "NVIDIA driver of branch R580 or newer (CUDA 13); the CUDA line\nsays which "
                   "driver was found.\n");
            return NST_EXIT_OK;
        }
        fprintf(stderr, "nstyle info: unknown option '%s'\n", argv[optind - 1]);
        return NST_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "nstyle info: unexpected argument '%s'\n", argv[optind]);
        return NST_EXIT_USAGE;
    }
    nst_build_info b = nst_get_build_info();
    printf("nstyle %s (%s)\n", b.version, b.cuda ? "CPU and CUDA backends" : "CPU backend only");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef _OPENMP
    printf("CPU: %ld cores online, %d OpenMP threads\n", cores, omp_get_max_threads());
#else
    printf("CPU: %ld cores online, no OpenMP\n", cores);
#endif
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS kernels: %s%s\n", nst_cpu_blas_core(),
           coretype && getenv("NST_BLAS_REEXEC")
               ? " (set by nstyle: OpenBLAS does not know this CPU model)"
               : coretype ? " (OPENBLAS_CORETYPE)" : "");
    nst_gpu_info gpus[16];
    int count = 0;
    char why[512];
    char libs[1024];
    if (nst_cuda_libraries(libs, sizeof libs) == NST_OK)
        printf("CUDA: %s\n", libs);
    if (nst_list_gpus(gpus, 16, &count, why, sizeof why) != NST_OK) {
        printf("GPUs: none usable: %s\n", why);
        return NST_EXIT_OK; /* no GPU is a fact to report, not a failure */
    }
    printf("GPUs: %d visible\n", count);
    for (int i = 0; i < count && i < 16; i++) {
        const nst_gpu_info *g = &gpus[i];
        char mem[96];
        if (g->free_known)
            snprintf(mem, sizeof mem, "%.1f GiB free of %.1f GiB", g->free_bytes / 1073741824.0,
                     g->total_bytes / 1073741824.0);
        else
            snprintf(mem, sizeof mem, "%.1f GiB (free memory unknown: no NVML)",
                     g->total_bytes / 1073741824.0);
        printf("  cuda:%d  %s  compute %d.%d  %d SMs  %s\n", g->index, g->name, g->cc_major,
               g->cc_minor, g->multiprocessors, mem);
    }
    return NST_EXIT_OK;
}
