/* The fuzz targets' stand-in context and scratch file (fuzz_support.h). nst__error here replaces
 * src/host/context.c's, which the targets do not link (it pulls in the backends): it formats the
 * message the same way, into a buffer of the same size, so a refusal's format string and
 * arguments are exercised on every input. Tested by running the targets (fuzz/run.sh). */
#include "fuzz_support.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"

static char last_error[NST__ERRMSG_SIZE];
static char scratch_dir[512];
static char scratch_path[600];
static int the_ctx; /* only its address is used: the stand-in is never dereferenced */

nst_ctx *fuzz_ctx(void) { return (nst_ctx *)(void *)&the_ctx; }

const char *fuzz_last_error(void) { return last_error; }

nst_status nst__error(nst_ctx *ctx, nst_status status, const char *file, int line,
                      const char *fmt, ...) {
    if (!ctx)
        return status;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(last_error, sizeof last_error, "%s (%s:%d): ", nst_strerror(status), base,
                     line);
    if (n < 0 || (size_t)n >= sizeof last_error)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

void fuzz_require(int ok, const char *what) {
    if (ok)
        return;
    fprintf(stderr, "fuzz check failed: %s\nlast library message: %s\n", what, last_error);
    abort();
}

static void remove_scratch(void) {
    if (scratch_path[0])
        unlink(scratch_path);
    if (scratch_dir[0])
        rmdir(scratch_dir);
}

const char *fuzz_write_scratch(const uint8_t *data, size_t size) {
    if (!scratch_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        struct stat st;
        if (!tmp || !*tmp)
            tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(scratch_dir, sizeof scratch_dir, "%s/nstyle-fuzz-XXXXXX", tmp);
        fuzz_require(mkdtemp(scratch_dir) != NULL, "cannot make the scratch folder");
        snprintf(scratch_path, sizeof scratch_path, "%s/input", scratch_dir);
        atexit(remove_scratch);
    }
    int fd = open(scratch_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    fuzz_require(fd >= 0, "cannot create the scratch file");
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        fuzz_require(n > 0, "cannot write the scratch file");
        done += (size_t)n;
    }
    close(fd);
    return scratch_path;
}
