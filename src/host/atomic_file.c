/* Atomic file writes for every output nstyle makes (images, safetensors): the content goes to a
 * temporary "<path>.tmp-XXXXXX" in the target's folder, is flushed and fsync'ed, then renamed
 * over the target, and the folder is fsync'ed so the rename survives a crash. On any failure the
 * temporary is removed and an existing target is left exactly as it was. The new file keeps the
 * permissions of the file it replaces, else gets 0666 less the process umask.
 * Tested through tests/test_image.c and tests/test_safetensors.c (failed saves, permissions,
 * no temporaries left behind). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "nstyle/ops.h"
#include "files.h"

/* Permissions for the new file: an existing target's, else 0666 less the umask (read from /proc,
 * since umask() can only be read by changing it, which is not thread-safe), else 0644. */
static mode_t new_file_mode(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return st.st_mode & 07777;
    mode_t mode = 0644;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return mode;
    char line[256];
    unsigned mask = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "Umask: %o", &mask) == 1) {
            mode = 0666 & ~(mode_t)mask;
            break;
        }
    }
    fclose(f);
    return mode;
}

/* Makes the rename durable; a failure here leaves a complete file, so it is not reported. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

nst_status nst__atomic_write(nst_ctx *ctx, const char *path, nst__write_fn write, void *user) {
    size_t tmp_size = strlen(path) + sizeof ".tmp-XXXXXX";
    char *tmp = malloc(tmp_size);
    if (!tmp)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "cannot save '%s': out of memory", path);
    snprintf(tmp, tmp_size, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        nst_status s = NST__ERR(ctx, NST_ERR_IO, "cannot create a temporary file next to '%s': %s",
                                path, strerror(errno));
        free(tmp);
        return s;
    }
    (void)fchmod(fd, new_file_mode(path)); /* best effort: else mkstemp's 0600 stays */
    nst_status s = NST_OK;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        s = NST__ERR(ctx, NST_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    s = write(ctx, f, user);
    if (s == NST_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        s = NST__ERR(ctx, NST_ERR_IO, "cannot write '%s' (left unchanged): %s", path,
                     strerror(errno));
    if (fclose(f) != 0 && s == NST_OK)
        s = NST__ERR(ctx, NST_ERR_IO, "cannot write '%s' (left unchanged): %s", path,
                     strerror(errno));
    if (s != NST_OK)
        goto fail;
    if (rename(tmp, path) != 0) {
        s = NST__ERR(ctx, NST_ERR_IO, "cannot replace '%s' (left unchanged): %s", path,
                     strerror(errno));
        goto fail;
    }
    free(tmp);
    sync_parent_dir(path);
    return NST_OK;
fail:
    unlink(tmp);
    free(tmp);
    return s;
}

typedef struct {
    const void *data;
    size_t len;
} bytes_view;

static nst_status write_bytes(nst_ctx *ctx, FILE *f, void *user) {
    const bytes_view *b = user;
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        return NST__ERR(ctx, NST_ERR_IO, "write failed: %s", strerror(errno));
    return NST_OK;
}

nst_status nst_write_file_atomic(nst_ctx *ctx, const char *path, const void *data, size_t len) {
    bytes_view b = {data, len};
    return nst__atomic_write(ctx, path, write_bytes, &b);
}
