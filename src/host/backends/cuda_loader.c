/* Loads the CUDA backend module (libnstyle_cuda.so) and the CUDA libraries it needs, on first
 * use, so that one nstyle binary runs on machines with no NVIDIA driver, cuDNN or cuBLAS and
 * says what is missing only when asked for a GPU. Part of libnstyle: no CUDA call here.
 *
 * Order: cuBLASLt, cuBLAS and cuDNN are opened first (RTLD_GLOBAL, so the module's own
 * references to them resolve to these copies), by soname (LD_LIBRARY_PATH, the system), and
 * when that fails from each folder in $NSTYLE_CUDA_LIBRARY_PATH (a folder holding the library,
 * or a Python site-packages folder holding PyPI's NVIDIA wheels: nvidia/cu13/lib, where the
 * CUDA 13 wheels of cuBLAS put it, nvidia/cublas/lib and nvidia/cudnn/lib, where the older and
 * cuDNN's do); cuDNN's major version must be 9. Then the module: $NSTYLE_CUDA_MODULE, else
 * libnstyle_cuda.so beside the library holding this code (libnstyle.so, or the executable that
 * links libnstyle.a), beside the executable (/proc/self/exe), or in the installed lib folder
 * from it (../lib by GNUInstallDirs). Its one entry returns a versioned table
 * (cuda_module.h); a stale module is refused. A missing symbol (an older cuDNN than the one
 * built against) fails the module's dlopen (RTLD_NOW), and the message says so with the
 * versions found.
 *
 * Tested by tests/test_cuda_loader.c: a missing, stale or foreign module, a cuDNN of the wrong
 * major version, the CLI with the CUDA libraries out of reach, the installed layout (bin/ and
 * lib/); tests/scripts/test_install.sh: an installed nstyle and a program using libnstyle.so. */
#define _GNU_SOURCE /* dlinfo, RTLD_DI_LINKMAP */
#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_module.h"

#ifndef NST_CUDNN_SONAME
#define NST_CUDNN_SONAME "libcudnn.so.9"
#endif
#ifndef NST_CUBLAS_SONAME
#define NST_CUBLAS_SONAME "libcublas.so.13"
#endif
#ifndef NST_CUBLASLT_SONAME
#define NST_CUBLASLT_SONAME "libcublasLt.so.13"
#endif
#ifndef NST_CUDA_MAJOR
#define NST_CUDA_MAJOR 13
#endif
#define NST_CUDNN_MAJOR_NEEDED 9
#define NST_CUDA_MODULE_FILE "libnstyle_cuda.so"

#define NST_CUDA_LIB_SUBDIRS 2
typedef struct {
    const char *what;   /* "cuDNN 9" */
    const char *soname; /* "libcudnn.so.9" */
    const char *subdir[NST_CUDA_LIB_SUBDIRS]; /* inside a site-packages folder, in order */
    const char *wheel;  /* the Python package that ships it */
} nst__cuda_lib;

static const nst__cuda_lib cuda_libs[] = {
    {"cuBLASLt", NST_CUBLASLT_SONAME, {"nvidia/cu13/lib", "nvidia/cublas/lib"}, "nvidia-cublas"},
    {"cuBLAS", NST_CUBLAS_SONAME, {"nvidia/cu13/lib", "nvidia/cublas/lib"}, "nvidia-cublas"},
    {"cuDNN 9", NST_CUDNN_SONAME, {"nvidia/cudnn/lib", "nvidia/cu13/lib"}, "nvidia-cudnn-cu13"},
};

/* cuDNN 9 opens these itself, by soname, when first needed; when cuDNN came from a folder of
 * our search path they are opened from the same folder first (those present). */
static const char *const cudnn_parts[] = {
    "libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9",
    "libcudnn_heuristic.so.9", "libcudnn_engines_precompiled.so.9",
    "libcudnn_engines_runtime_compiled.so.9",
};

/* Appends to a message buffer, truncating quietly. */
typedef struct {
    char *buf;
    size_t size, len;
} nst__msg;

static void msg_add(nst__msg *m, const char *fmt, ...) NST__PRINTF(2, 3);
static void msg_add(nst__msg *m, const char *fmt, ...) {
    if (!m->size || m->len + 1 >= m->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, m->size - m->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        m->len = m->len + (size_t)n < m->size ? m->len + (size_t)n : m->size - 1;
}

static const char *loaded_path(void *handle) {
    struct link_map *lm = NULL;
    if (handle && dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name)
        return lm->l_name;
    return "?";
}

/* Opens lib by soname, else from the folders of $NSTYLE_CUDA_LIBRARY_PATH; on failure writes
 * what was tried, with each dlerror, into m and returns NULL. *from_dir says where it was found
 * (a search-path folder, or "" for the soname). */
static void *open_cuda_lib(const nst__cuda_lib *lib, char *from_dir, size_t from_size,
                           nst__msg *m) {
    from_dir[0] = '\0';
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_GLOBAL);
    if (h)
        return h;
    char first_err[512];
    snprintf(first_err, sizeof first_err, "%s", dlerror());
    const char *path = getenv("NSTYLE_CUDA_LIBRARY_PATH");
    char tried[1024] = "";
    nst__msg t = {tried, sizeof tried, 0};
    if (path && *path) {
        char *copy = strdup(path);
        for (char *save = NULL, *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
             dir = strtok_r(NULL, ":", &save)) {
            for (int sub = 0; sub <= NST_CUDA_LIB_SUBDIRS; sub++) {
                char dirbuf[1024], file[1200];
                snprintf(dirbuf, sizeof dirbuf, "%s%s%s", dir, sub ? "/" : "",
                         sub ? lib->subdir[sub - 1] : "");
                snprintf(file, sizeof file, "%s/%s", dirbuf, lib->soname);
                if (access(file, F_OK) != 0) {
                    msg_add(&t, "%s%s", t.len ? ", " : "", dirbuf);
                    continue;
                }
                h = dlopen(file, RTLD_NOW | RTLD_GLOBAL);
                if (h) {
                    snprintf(from_dir, from_size, "%s", dirbuf);
                    free(copy);
                    return h;
                }
                msg_add(&t, "%s%s (%s)", t.len ? ", " : "", file, dlerror());
            }
        }
        free(copy);
    }
    msg_add(m, "%s (%s) could not be loaded: dlopen(\"%s\"): %s; ", lib->what, lib->soname,
            lib->soname, first_err);
    if (path && *path)
        msg_add(m, "not in $NSTYLE_CUDA_LIBRARY_PATH either (looked in %s). ", tried);
    else
        msg_add(m, "$NSTYLE_CUDA_LIBRARY_PATH is not set. ");
    msg_add(m, "Install it for CUDA %d (the system's package, or Python's %s wheel) and put its "
               "lib folder on LD_LIBRARY_PATH or NSTYLE_CUDA_LIBRARY_PATH", NST_CUDA_MAJOR,
            lib->wheel);
    return NULL;
}

/* Where the installed module lies from the installed executable: bin/ to lib/ by CMake's
 * GNUInstallDirs ("../lib", "../lib64", "../lib/x86_64-linux-gnu"). */
#ifndef NST_CUDA_MODULE_BIN_TO_LIB
#define NST_CUDA_MODULE_BIN_TO_LIB "../lib"
#endif

/* The folder of a file path, in place ("/a/b/x" -> "/a/b"); false when it has none. */
static bool dir_of(char *path) {
    char *slash = strrchr(path, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return true;
}

/* The module's path: $NSTYLE_CUDA_MODULE, else the first of these that exists: beside the
 * library holding this code (libnstyle.so's folder when a program or Python loads the shared
 * library; the executable's when linked statically), beside the executable, and in the
 * installed lib folder from it (NST_CUDA_MODULE_BIN_TO_LIB, and ../lib). When none does, out
 * is the first and `looked` lists them all. */
static void module_path(char *out, size_t size, char *looked, size_t looked_size) {
    nst__msg l = {looked, looked_size, 0};
    if (looked_size)
        looked[0] = '\0';
    const char *env = getenv("NSTYLE_CUDA_MODULE");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return;
    }
    enum { N_DIRS = 4 };
    char dirs[N_DIRS][4200];
    int n = 0;
    Dl_info info;
    /* an absolute name only: the executable's own is argv[0], perhaps relative, and is the
     * next candidate anyway */
    if (dladdr((void *)module_path, &info) && info.dli_fname && info.dli_fname[0] == '/') {
        snprintf(dirs[n], sizeof dirs[n], "%s", info.dli_fname);
        if (dir_of(dirs[n]))
            n++;
    }
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        if (dir_of(exe)) {
            snprintf(dirs[n++], sizeof dirs[0], "%s", exe);
            snprintf(dirs[n++], sizeof dirs[0], "%s/%s", exe, NST_CUDA_MODULE_BIN_TO_LIB);
            if (strcmp(NST_CUDA_MODULE_BIN_TO_LIB, "../lib") != 0)
                snprintf(dirs[n++], sizeof dirs[0], "%s/../lib", exe);
        }
    }
    if (n == 0) {
        snprintf(out, size, "%s", NST_CUDA_MODULE_FILE);
        return;
    }
    for (int i = 0; i < n; i++) {
        bool seen = false; /* the library's folder is the executable's when linked statically */
        for (int j = 0; j < i; j++)
            seen = seen || strcmp(dirs[i], dirs[j]) == 0;
        if (seen)
            continue;
        snprintf(out, size, "%s/%s", dirs[i], NST_CUDA_MODULE_FILE);
        if (access(out, F_OK) == 0)
            return;
        msg_add(&l, "%s%s", l.len ? ", " : "", dirs[i]);
    }
    snprintf(out, size, "%s/%s", dirs[0], NST_CUDA_MODULE_FILE);
}

static const nst__cuda_host host_table = {
    .abi = NST__CUDA_MODULE_ABI,
    .ctx_size = sizeof(struct nst_ctx),
    .backend_size = sizeof(nst__backend),
    .op_count = NST_OP_COUNT,
    .error = nst__error,
    .scratch_take = nst__scratch_take,
    .op_get_info = nst_op_get_info,
};

static void version_text(char *out, size_t size, int v, int per_major) {
    snprintf(out, size, "%d.%d.%d", v / per_major, (v % per_major) / 100, v % 100);
}

const nst__cuda_module *nst__cuda_module_load(char *why, size_t why_size) {
    nst__msg m = {why, why_size, 0};
    if (why_size)
        why[0] = '\0';
    void *libs[sizeof cuda_libs / sizeof cuda_libs[0]];
    char found[256] = "";
    nst__msg f = {found, sizeof found, 0};
    for (size_t i = 0; i < sizeof cuda_libs / sizeof cuda_libs[0]; i++) {
        char dir[1024];
        libs[i] = open_cuda_lib(&cuda_libs[i], dir, sizeof dir, &m);
        if (!libs[i])
            return NULL;
        if (dir[0] && strcmp(cuda_libs[i].soname, NST_CUDNN_SONAME) == 0) {
            for (size_t p = 0; p < sizeof cudnn_parts / sizeof cudnn_parts[0]; p++) {
                char file[1200];
                snprintf(file, sizeof file, "%s/%s", dir, cudnn_parts[p]);
                if (access(file, F_OK) == 0)
                    (void)dlopen(file, RTLD_NOW | RTLD_GLOBAL); /* cuDNN reports its own gaps */
            }
        }
    }
    /* the versions found, before anything of ours depends on them */
    void *cudnn = libs[2], *cublas = libs[1];
    size_t (*cudnn_version)(void) = (size_t(*)(void))dlsym(cudnn, "cudnnGetVersion");
    int cudnn_v = cudnn_version ? (int)cudnn_version() : 0;
    char cudnn_text[32] = "unknown version";
    if (cudnn_v)
        version_text(cudnn_text, sizeof cudnn_text, cudnn_v, 10000);
    int cublas_major = -1, cublas_minor = -1;
    int (*cublas_property)(int, int *) = (int (*)(int, int *))dlsym(cublas, "cublasGetProperty");
    if (cublas_property) {
        cublas_property(0 /* MAJOR_VERSION */, &cublas_major);
        cublas_property(1 /* MINOR_VERSION */, &cublas_minor);
    }
    msg_add(&f, "cuDNN %s from %s, cuBLAS %d.%d from %s", cudnn_text, loaded_path(cudnn),
            cublas_major, cublas_minor, loaded_path(cublas));
    if (cudnn_v / 10000 != NST_CUDNN_MAJOR_NEEDED) {
        msg_add(&m, "%s is cuDNN %s, but nstyle needs cuDNN %d (built against cuDNN %s headers)",
                loaded_path(cudnn), cudnn_text, NST_CUDNN_MAJOR_NEEDED,
#ifdef NST_CUDNN_HEADER_VERSION_TEXT
                NST_CUDNN_HEADER_VERSION_TEXT
#else
                "9"
#endif
        );
        return NULL;
    }
    char path[4400], looked[2048];
    module_path(path, sizeof path, looked, sizeof looked);
    void *mod = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!mod) {
        const char *err = dlerror();
        msg_add(&m, "the CUDA backend module does not load: dlopen(\"%s\"): %s", path, err);
        if (err && strstr(err, "undefined symbol"))
            msg_add(&m, " (a function nstyle calls is missing from the libraries found: %s; "
                        "built against cuDNN %s headers)", found,
#ifdef NST_CUDNN_HEADER_VERSION_TEXT
                    NST_CUDNN_HEADER_VERSION_TEXT
#else
                    "9"
#endif
            );
        else if (access(path, F_OK) != 0)
            msg_add(&m, " (looked in %s; it is built next to the nstyle executable in a build "
                        "with CUDA and installed beside libnstyle; $NSTYLE_CUDA_MODULE names "
                        "another path)", looked[0] ? looked : "no folder");
        return NULL;
    }
    nst__cuda_module_entry_fn entry = (nst__cuda_module_entry_fn)dlsym(mod, NST__CUDA_MODULE_ENTRY);
    if (!entry) {
        msg_add(&m, "%s is not an nstyle CUDA module: it exports no %s (%s)", path,
                NST__CUDA_MODULE_ENTRY, dlerror());
        return NULL;
    }
    const nst__cuda_module *cm = entry(&host_table);
    if (!cm || cm->abi != NST__CUDA_MODULE_ABI || cm->ctx_size != sizeof(struct nst_ctx) ||
        cm->backend_size != sizeof(nst__backend) || cm->op_count != NST_OP_COUNT) {
        msg_add(&m, "%s is a stale CUDA module: it has ABI %d, a %zu-byte context, a %zu-byte "
                    "backend table and %d ops; this nstyle has ABI %d, %zu, %zu and %d. Rebuild "
                    "both together", path, cm ? cm->abi : -1, cm ? cm->ctx_size : 0,
                cm ? cm->backend_size : 0, cm ? cm->op_count : 0, NST__CUDA_MODULE_ABI,
                sizeof(struct nst_ctx), sizeof(nst__backend), NST_OP_COUNT);
        return NULL;
    }
    return cm;
}

const nst__backend *nst__cuda_backend_get(char *why, size_t why_size) {
    const nst__cuda_module *cm = nst__cuda_module_load(why, why_size);
    return cm ? cm->backend : NULL;
}

/* 580 for "580.65.06"; 0 when unreadable. */
static int nst__driver_release_branch(const char *release) {
    int branch = 0;
    return release && sscanf(release, "%d", &branch) == 1 && branch > 0 ? branch : 0;
}

static void triple(char *out, size_t size, int v, int per_major, int per_minor) {
    if (v <= 0)
        snprintf(out, size, "?");
    else
        snprintf(out, size, "%d.%d.%d", v / per_major, (v % per_major) / per_minor,
                 v % per_minor);
}

nst_status nst_cuda_libraries(char *out, size_t size) {
    const nst__cuda_module *cm = nst__cuda_module_load(out, size);
    if (!cm)
        return NST_ERR_NO_DEVICE;
    nst__cuda_versions v;
    cm->versions(&v);
    Dl_info info;
    const char *path = dladdr(cm->backend, &info) && info.dli_fname ? info.dli_fname : "?";
    char rt[16], rtb[16], drv[16], dnn[16], dnnh[16], blas[16], blash[16];
    triple(rt, sizeof rt, v.runtime, 1000, 10);
    triple(rtb, sizeof rtb, v.runtime_built, 1000, 10);
    char driver[160];
    if (v.driver) {
        triple(drv, sizeof drv, v.driver, 1000, 10);
        const int branch = nst__driver_release_branch(v.driver_release);
        if (!v.driver_release[0])
            snprintf(driver, sizeof driver, "for CUDA %s (nstyle needs R%d or newer)", drv,
                     NST__MIN_DRIVER);
        else if (branch < NST__MIN_DRIVER)
            snprintf(driver, sizeof driver, "%s for CUDA %s, older than the R%d nstyle needs: "
                     "update the NVIDIA driver", v.driver_release, drv, NST__MIN_DRIVER);
        else
            snprintf(driver, sizeof driver, "%s for CUDA %s (nstyle needs R%d or newer)",
                     v.driver_release, drv, NST__MIN_DRIVER);
    } else {
        snprintf(driver, sizeof driver, "none (nstyle needs R%d or newer)", NST__MIN_DRIVER);
    }
    triple(dnn, sizeof dnn, v.cudnn, 10000, 100);
    triple(dnnh, sizeof dnnh, v.cudnn_headers, 10000, 100);
    triple(blas, sizeof blas, v.cublas, 10000, 100);
    triple(blash, sizeof blash, v.cublas_headers, 10000, 100);
    snprintf(out, size,
             "module %s; CUDA runtime %s (static, built with %s), driver %s; cuDNN %s (headers "
             "%s); cuBLAS %s (headers %s)",
             path, rt, rtb, driver, dnn, dnnh, blas, blash);
    return NST_OK;
}
