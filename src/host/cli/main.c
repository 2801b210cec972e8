/* The nstyle command line: argument parsing, terminal output and exit codes. This is the only
 * part of nstyle that prints or exits. Exit codes: 0 success, 1 failure, 2 usage error.
 * Tested by tests/test_cli.c (--version: the build's version, OpenBLAS's). */
#include <getopt.h>
#include <signal.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nstyle/nstyle.h"

static void print_usage(FILE *out) {
    fprintf(out,
            "nstyle %s: neural style transfer, CUDA-accelerated\n"
            "\n"
            "Usage: nstyle [--help] [--version] <command> [options]\n"
            "\n"
            "Commands:\n"
            "  info                 this build, the CPU threads and the GPUs visible (name,\n"
            "                       compute capability, free/total memory) or why there are none\n"
            "  convert IN OUT       read an image and write it again (PNG/JPEG by OUT's extension),\n"
            "                       optionally resized: checks the image path end to end\n"
            "  render -c -s -o      style a photo like a painting (Gatys et al., VGG19)\n"
            "  stylize -m -i -o     style photos or video frames with a trained feed-forward net\n"
            "                       (Johnson et al.): candy, mosaic, pointilism, rain_princess, udnie\n"
            "  train -s --data -o   train such a net from a style image and a folder of photos\n"
            "  plan --size WxH      a render's memory plan by tag, with no weights, images or GPU\n"
            "\n"
            "Run `nstyle <command> --help` for a command's options.\n"
            "\n"
            "Exit status: 0 success, 1 failure (the message says what and where), 2 usage error.\n",
            NST_VERSION_STRING);
}

/* "4.5" for _OPENMP 201511; the date itself for one not in the table. */
static void openmp_name(int v, char *out, size_t size) {
    static const struct {
        int date;
        const char *name;
    } known[] = {{200505, "2.5"}, {200805, "3.0"}, {201107, "3.1"}, {201307, "4.0"},
                 {201511, "4.5"}, {201811, "5.0"}, {202011, "5.1"}, {202111, "5.2"},
                 {202411, "6.0"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i].date == v) {
            snprintf(out, size, "%s (%d)", known[i].name, v);
            return;
        }
    }
    snprintf(out, size, "%d", v);
}

/* The first line is "nstyle VERSION" and nothing else (scripts and tests read it); then the
 * CUDA backend as built, and the CPU libraries and compiler in use. */
static void print_version(void) {
    nst_build_info b = nst_get_build_info();
    printf("nstyle %s\n", b.version);
    if (b.cuda) {
        printf("CUDA backend: built with CUDA runtime %d.%d (static)", b.cuda_runtime_version / 1000,
               (b.cuda_runtime_version % 1000) / 10);
        if (b.cudnn_version)
            printf(", cuDNN headers %d.%d.%d", b.cudnn_version / 10000,
                   (b.cudnn_version % 10000) / 100, b.cudnn_version % 100);
        printf("\nCUDA architectures: %s\n", b.cuda_architectures);
    } else {
        printf("CUDA backend: not built (CPU only)\n");
    }
    /* "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64": the version, then how
     * it was built */
    const char *blas = nst_cpu_blas_config();
    if (strncmp(blas, "OpenBLAS ", 9) == 0)
        blas += 9;
    char blas_version[64] = "", *build = NULL;
    snprintf(blas_version, sizeof blas_version, "%s", blas);
    if ((build = strchr(blas_version, ' ')) != NULL)
        *build = '\0';
    const char *rest = strchr(blas, ' ');
    printf("OpenBLAS: %s, kernels %s%s%s%s\n", blas_version, nst_cpu_blas_core(),
           rest ? " (config: " : "", rest ? rest + 1 : "", rest ? ")" : "");
    char omp[48] = "no";
    if (b.openmp)
        openmp_name(b.openmp_version, omp, sizeof omp);
    printf("OpenMP: %s\n", omp);
#ifdef __GLIBC__
    printf("C library: glibc %s\n", gnu_get_libc_version());
#endif
    printf("Compiler: %s\n", b.compiler);
}

/* OpenBLAS picks its kernels when it loads; on a CPU model it does not know (virtual machines
 * often hide the model) it falls back to SSE3 kernels about 5x slower than the CPU allows. Then,
 * unless the user chose OPENBLAS_CORETYPE, run again with the kernels the CPU's features allow.
 * If the exec fails, carry on with the slow kernels: correct, only slower. */
static void use_fast_blas_kernels(char **argv) {
    const char *better = nst_cpu_blas_better_core();
    if (!better || getenv("OPENBLAS_CORETYPE") || getenv("NST_BLAS_REEXEC"))
        return;
    setenv("OPENBLAS_CORETYPE", better, 1);
    setenv("NST_BLAS_REEXEC", "1", 1); /* never loop, whatever OpenBLAS does with it */
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    /* past RLIMIT_FSIZE a write fails with EFBIG, which the command reports naming the file,
     * instead of the process being killed with half a temporary file left */
    signal(SIGXFSZ, SIG_IGN);
    use_fast_blas_kernels(argv);
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* Options before the command only; the command parses the rest. */
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            print_usage(stdout);
            return NST_EXIT_OK;
        case 'V':
            print_version();
            return NST_EXIT_OK;
        default:
            fprintf(stderr, "nstyle: unknown option '%s'\n", argv[optind - 1]);
            fprintf(stderr, "Run `nstyle --help` for usage.\n");
            return NST_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        print_usage(stderr);
        return NST_EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* glibc: 0 fully reinitialises getopt (drops main's "+" stop-at-first-
                 * non-option mode), so each command parses its own options anywhere */
    if (strcmp(cmd, "info") == 0)
        return nst_cli_info(sub_argc, sub_argv);
    if (strcmp(cmd, "convert") == 0)
        return nst_cli_convert(sub_argc, sub_argv);
    if (strcmp(cmd, "plan") == 0)
        return nst_cli_plan(sub_argc, sub_argv);
    if (strcmp(cmd, "render") == 0)
        return nst_cli_render(sub_argc, sub_argv);
    if (strcmp(cmd, "stylize") == 0)
        return nst_cli_stylize(sub_argc, sub_argv);
    if (strcmp(cmd, "train") == 0)
        return nst_cli_train(sub_argc, sub_argv);
    if (strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return NST_EXIT_OK;
    }
    fprintf(stderr, "nstyle: unknown command '%s'\nRun `nstyle --help` for the commands.\n", cmd);
    return NST_EXIT_USAGE;
}
