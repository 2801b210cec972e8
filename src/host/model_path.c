/* Finding a weight file (include/nstyle/models.h): a readable path as given, or each candidate
 * file name in $NSTYLE_MODELS, ./models and ~/.cache/nstyle, in that order. The failure message
 * lists every path tried, which folders were skipped and why (NSTYLE_MODELS or HOME unset), the
 * ways to fix it, and first $NSTYLE_MODELS_HINT when set (the container image says there what
 * to mount). Tested by tests/test_transformer.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "nstyle/ops.h"
#include "nstyle/models.h"

static bool readable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

static nst_status copy_out(nst_ctx *ctx, const char *src, char *path, size_t size) {
    const size_t n = strlen(src);
    if (n >= size)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "model path '%s' does not fit in %zu bytes", src, size);
    memcpy(path, src, n + 1);
    return NST_OK;
}

nst_status nst_model_find(nst_ctx *ctx, const char *arg, const char *const *file_names,
                          int n_names, char *path, size_t size) {
    if (!path || size == 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_model_find: no output buffer");
    path[0] = '\0';
    if (arg && arg[0] && readable_file(arg))
        return copy_out(ctx, arg, path, size);
    if (arg && strchr(arg, '/'))
        return NST__ERR(ctx, NST_ERR_IO, "model '%s': no such readable file", arg);
    if (!file_names || n_names < 1)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_model_find: no file names to look for");
    const char *env = getenv("NSTYLE_MODELS"), *home = getenv("HOME");
    char cache[4096] = "";
    if (home && home[0])
        snprintf(cache, sizeof cache, "%s/.cache/nstyle", home);
    const char *dirs[3] = {env && env[0] ? env : NULL, "./models", cache[0] ? cache : NULL};
    char tried[640] = "", candidate[4400];
    size_t used = 0;
    for (int d = 0; d < 3; d++)
        for (int k = 0; dirs[d] && k < n_names; k++) {
            snprintf(candidate, sizeof candidate, "%s/%s", dirs[d], file_names[k]);
            if (readable_file(candidate))
                return copy_out(ctx, candidate, path, size);
            if (used < sizeof tried)
                used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s",
                                         used ? ", " : "", candidate);
        }
    const char *hint = getenv("NSTYLE_MODELS_HINT");
    return NST__ERR(ctx, NST_ERR_IO,
                    "model '%s' not found%s%s; looked for %s%s%s. Pass the file's path, put the "
                    "file in one of those folders, or set NSTYLE_MODELS to the folder that holds "
                    "it", arg ? arg : file_names[0], hint && hint[0] ? "; " : "",
                    hint && hint[0] ? hint : "", tried,
                    dirs[0] ? "" : " ($NSTYLE_MODELS is not set)",
                    dirs[2] ? "" : " ($HOME is not set)");
}
