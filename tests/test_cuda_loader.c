/* The CUDA backend module's loader (src/host/backends/cuda_loader.c) without a GPU: a missing,
 * stale or foreign module and a cuDNN of the wrong major version are refused with a message naming
 * the file, the dlerror and the versions; the real module loads and lists its libraries; and
 * the CLI's CPU commands run with the CUDA libraries out of reach while `--device cuda` says
 * what is missing; a copy of nstyle in an installed layout (bin/, lib/) finds the module. Each
 * test is its own process (Criterion), so environment changes stay there. In a CPU-only build the loader is absent and these tests check the "built without CUDA"
 * answers instead. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_files.h"
#include "test_support.h"

#define ASSERT_HAS(text, needle) \
    cr_assert(strstr((text), (needle)) != NULL, "'%s' lacks '%s'", (text), (needle))

#ifdef NST_HAVE_CUDA

static char out[16384], err[16384];

#define RUN(...) \
    nst_test_run_cli((const char *const[]){__VA_ARGS__, NULL}, out, sizeof out, err, sizeof err)

/* nst_ctx_set_device(ctx, "cuda") fails with NST_ERR_NO_DEVICE, keeps the context on the CPU,
 * and its message holds needle; returns the message. */
static const char *cuda_refused(nst_ctx *ctx, const char *needle) {
    cr_assert_eq(nst_ctx_set_device(ctx, "cuda"), NST_ERR_NO_DEVICE, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_ctx_backend(ctx), NST_BACKEND_CPU);
    ASSERT_HAS(nst_last_error(ctx), "device 'cuda' asked for");
    ASSERT_HAS(nst_last_error(ctx), needle);
    return nst_last_error(ctx);
}

Test(cuda_loader, missing_module_is_named_with_dlerror) {
    setenv("NSTYLE_CUDA_MODULE", "/nonexistent/libnstyle_cuda.so", 1);
    nst_ctx *ctx = nst_test_cpu_ctx();
    const char *msg = cuda_refused(ctx, "/nonexistent/libnstyle_cuda.so");
    ASSERT_HAS(msg, "cannot open shared object file");
    ASSERT_HAS(msg, "NSTYLE_CUDA_MODULE");
    cr_assert(!nst_op_supported_on(NST_BACKEND_CUDA, NST_OP_CONV2D_FORWARD));
    nst_gpu_info g;
    int count = -1;
    char why[1024];
    cr_assert_eq(nst_list_gpus(&g, 1, &count, why, sizeof why), NST_ERR_NO_DEVICE);
    cr_assert_eq(count, 0);
    ASSERT_HAS(why, "/nonexistent/libnstyle_cuda.so");
    nst_ctx_destroy(ctx);
}

Test(cuda_loader, stale_module_is_refused_naming_both_abis) {
    setenv("NSTYLE_CUDA_MODULE", NST_TEST_STALE_MODULE, 1);
    nst_ctx *ctx = nst_test_cpu_ctx();
    const char *msg = cuda_refused(ctx, "stale CUDA module");
    ASSERT_HAS(msg, "ABI 0");
    ASSERT_HAS(msg, "this nstyle has ABI 2");
    ASSERT_HAS(msg, "Rebuild");
    nst_ctx_destroy(ctx);
}

Test(cuda_loader, foreign_library_is_not_a_module) {
    setenv("NSTYLE_CUDA_MODULE", "libm.so.6", 1);
    nst_ctx *ctx = nst_test_cpu_ctx();
    cuda_refused(ctx, "exports no nst_cuda_module_entry");
    nst_ctx_destroy(ctx);
}

Test(cuda_loader, real_module_loads_and_names_its_libraries) {
    setenv("NSTYLE_CUDA_MODULE", NST_TEST_CUDA_MODULE, 1);
    char line[1024];
    cr_assert_eq(nst_cuda_libraries(line, sizeof line), NST_OK, "%s", line);
    ASSERT_HAS(line, "libnstyle_cuda.so");
    ASSERT_HAS(line, "cuDNN 9.");
    ASSERT_HAS(line, "(headers 9.");
    ASSERT_HAS(line, "cuBLAS ");
    cr_assert(nst_op_supported_on(NST_BACKEND_CUDA, NST_OP_CONV2D_FORWARD));
    cr_assert(nst_op_supported_on(NST_BACKEND_CUDA, NST_OP_CONV2D_BACKWARD_FILTER));
    cr_assert(nst_op_supported_on(NST_BACKEND_CUDA, NST_OP_LINEAR_BACKWARD));
    /* without a GPU, the module answers why; with one, it lists it */
    nst_gpu_info g;
    int count = 0;
    char why[1024];
    if (nst_list_gpus(&g, 1, &count, why, sizeof why) != NST_OK)
        cr_assert(strstr(why, "driver") || strstr(why, "no devices"), "%s", why);
    else
        cr_assert_gt(count, 0);
}

/* A folder whose libcudnn.so.9 is an empty file: found first on LD_LIBRARY_PATH, it fails to
 * load, which stands for a machine without cuDNN (the system's copy is never reached). */
static void broken_cudnn_dir(char *dir, size_t size) {
    nst_test_tmpdir(dir, size);
    char file[600];
    snprintf(file, sizeof file, "%s/libcudnn.so.9", dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
}

Test(cuda_loader, cli_cpu_commands_run_without_the_cuda_libraries) {
    char dir[512], png[600], jpg[600];
    broken_cudnn_dir(dir, sizeof dir);
    setenv("LD_LIBRARY_PATH", dir, 1);
    setenv("NSTYLE_CUDA_MODULE", "/nonexistent/libnstyle_cuda.so", 1);
    cr_assert_eq(RUN("info"), 0, "%s", err);
    ASSERT_HAS(out, "GPUs: none usable: ");
    ASSERT_HAS(out, "libcudnn.so.9");
    ASSERT_HAS(out, "file too short");
    /* convert: an image made here, written back as JPEG */
    snprintf(png, sizeof png, "%s/in.png", dir);
    snprintf(jpg, sizeof jpg, "%s/out.jpg", dir);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {24, 16, 3, calloc(24 * 16 * 3, 1)};
    cr_assert_eq(nst_image_save(ctx, png, &img, 0), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
    cr_assert_eq(RUN("convert", png, jpg), 0, "%s", err);
    /* plan on the CPU works; on cuda it plans without the GPU, its note giving the loader's
     * message (the cuDNN workspace counted at its bound) */
    cr_assert_eq(RUN("plan", "--size", "64x48"), 0, "%s", err);
    cr_assert_eq(RUN("plan", "--size", "64x48", "--device", "cuda"), 0, "%s", err);
    ASSERT_HAS(out, "device 'cuda' asked for, but cuDNN 9 (libcudnn.so.9) could not be loaded");
    ASSERT_HAS(out, "file too short");
    ASSERT_HAS(out, "NSTYLE_CUDA_LIBRARY_PATH");
    ASSERT_HAS(out, "--workspace-limit bound");
}

Test(cuda_loader, search_path_folders_are_listed_when_cudnn_is_missing) {
    char dir[512], elsewhere[512];
    broken_cudnn_dir(dir, sizeof dir);
    nst_test_tmpdir(elsewhere, sizeof elsewhere);
    setenv("LD_LIBRARY_PATH", dir, 1);
    setenv("NSTYLE_CUDA_LIBRARY_PATH", elsewhere, 1);
    cr_assert_eq(RUN("info"), 0, "%s", err);
    ASSERT_HAS(out, "not in $NSTYLE_CUDA_LIBRARY_PATH either");
    ASSERT_HAS(out, elsewhere);
    ASSERT_HAS(out, "nvidia/cudnn/lib");
}

/* PyPI's CUDA 13 cuBLAS wheel (nvidia-cublas 13.x) puts its libraries in nvidia/cu13/lib of
 * site-packages: with the system's cuBLAS out of reach (broken copies first on
 * LD_LIBRARY_PATH), a site-packages folder on NSTYLE_CUDA_LIBRARY_PATH holding them there is
 * enough. */
Test(cuda_loader, cublas_from_the_cuda13_wheel_layout) {
    char dir[512], site[512], lib[700], file[800], real[800];
    nst_test_tmpdir(dir, sizeof dir);
    nst_test_tmpdir(site, sizeof site);
    snprintf(lib, sizeof lib, "%s/nvidia", site);
    cr_assert_eq(mkdir(lib, 0755), 0);
    snprintf(lib, sizeof lib, "%s/nvidia/cu13", site);
    cr_assert_eq(mkdir(lib, 0755), 0);
    snprintf(lib, sizeof lib, "%s/nvidia/cu13/lib", site);
    cr_assert_eq(mkdir(lib, 0755), 0);
    static const char *const names[] = {NST_CUBLAS_SONAME, NST_CUBLASLT_SONAME};
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/%s", dir, names[i]);
        FILE *f = fopen(file, "w"); /* an empty file: the soname search fails on it */
        cr_assert_not_null(f);
        fclose(f);
        snprintf(real, sizeof real, "%s/%s", NST_TEST_CUDA_LIB_DIR, names[i]);
        snprintf(file, sizeof file, "%s/%s", lib, names[i]);
        cr_assert_eq(symlink(real, file), 0, "%s -> %s", file, real);
    }
    setenv("LD_LIBRARY_PATH", dir, 1);
    cr_assert_eq(RUN("info"), 0, "%s", err);
    ASSERT_HAS(out, "could not be loaded"); /* the control: without the folder, it is missing */
    setenv("NSTYLE_CUDA_LIBRARY_PATH", site, 1);
    cr_assert_eq(RUN("info"), 0, "%s", err);
    cr_assert(!strstr(out, "could not be loaded"), "%s", out);
    ASSERT_HAS(out, "CUDA: module ");
    ASSERT_HAS(out, "cuBLAS 13.");
}

/* An installed layout made here: a copy of nstyle in PREFIX/bin and the module in the lib folder
 * that CMake's install puts it in (NST_CUDA_MODULE_BIN_TO_LIB from bin/). The copy finds the
 * module there; without it, the message lists each folder looked in. */
Test(cuda_loader, installed_layout_finds_the_module_in_lib) {
    char prefix[512], bin[600], lib[1200], exe[700], module[1300], real[1400];
    nst_test_tmpdir(prefix, sizeof prefix);
    snprintf(bin, sizeof bin, "%s/bin", prefix);
    cr_assert_eq(mkdir(bin, 0755), 0);
    snprintf(lib, sizeof lib, "%s/%s", bin, NST_CUDA_MODULE_BIN_TO_LIB);
    /* "../lib", "../lib64" or "../lib/x86_64-linux-gnu": each folder below the prefix */
    for (char *p = lib + strlen(prefix) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (strcmp(p - 2, "..") != 0)
            cr_assert(mkdir(lib, 0755) == 0 || access(lib, F_OK) == 0, "%s", lib);
        *p = '/';
    }
    cr_assert(mkdir(lib, 0755) == 0 || access(lib, F_OK) == 0, "%s", lib);
    snprintf(exe, sizeof exe, "%s/nstyle", bin);
    size_t n = 0;
    uint8_t *cli = nst_test_read_bytes(NST_CLI_PATH, &n);
    nst_test_write_bytes(exe, cli, n);
    free(cli);
    cr_assert_eq(chmod(exe, 0755), 0);
    unsetenv("NSTYLE_CUDA_MODULE");
    cr_assert_eq(nst_test_run_program(exe, (const char *const[]){"info", NULL}, out, sizeof out,
                                      err, sizeof err), 0, "%s", err);
    ASSERT_HAS(out, "GPUs: none usable: ");
    ASSERT_HAS(out, "the CUDA backend module does not load");
    ASSERT_HAS(out, "looked in ");
    ASSERT_HAS(out, bin);
    ASSERT_HAS(out, lib);
    snprintf(module, sizeof module, "%s/libnstyle_cuda.so", lib);
    cr_assert_eq(symlink(NST_TEST_CUDA_MODULE, module), 0, "%s", module);
    cr_assert_eq(nst_test_run_program(exe, (const char *const[]){"info", NULL}, out, sizeof out,
                                      err, sizeof err), 0, "%s", err);
    snprintf(real, sizeof real, "CUDA: module %s;", module);
    ASSERT_HAS(out, real);
}

Test(cuda_loader, cudnn_of_another_major_version_is_refused_with_both_versions) {
    setenv("LD_LIBRARY_PATH", NST_TEST_FAKE_CUDNN8_DIR, 1);
    cr_assert_eq(RUN("info"), 0, "%s", err);
    ASSERT_HAS(out, "is cuDNN 8.9.7, but nstyle needs cuDNN 9 (built against cuDNN 9.");
}

#else

Test(cuda_loader, cpu_only_build_says_so) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    cr_assert_eq(nst_ctx_set_device(ctx, "cuda"), NST_ERR_NO_DEVICE);
    ASSERT_HAS(nst_last_error(ctx), "built without CUDA");
    char line[256];
    cr_assert_eq(nst_cuda_libraries(line, sizeof line), NST_ERR_NO_DEVICE);
    ASSERT_HAS(line, "built without CUDA");
    nst_ctx_destroy(ctx);
}

#endif
