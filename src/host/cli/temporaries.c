/* Removing the temporaries of an output that a killed run left (temporaries.h). */
#include "temporaries.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How much of name is the output's name (stem and ext), or 0: output's own name itself. */
static size_t same_name(const char *name, const char *stem, const char *ext) {
    const size_t len = strlen(stem) + strlen(ext);
    return strncmp(name, stem, strlen(stem)) == 0 &&
           strncmp(name + strlen(stem), ext, strlen(ext)) == 0 ? len : 0;
}

/* STEM_NNNNNN.EXT (six or more digits). */
static size_t numbered_name(const char *name, const char *stem, const char *ext) {
    const size_t n = strlen(stem);
    if (strncmp(name, stem, n) != 0 || name[n] != '_')
        return 0;
    const size_t digits = strspn(name + n + 1, "0123456789");
    if (digits < 6 || strncmp(name + n + 1 + digits, ext, strlen(ext)) != 0)
        return 0;
    return n + 1 + digits + strlen(ext);
}

static int clean(const char *output, size_t (*match)(const char *, const char *, const char *)) {
    const char *slash = strrchr(output, '/');
    const char *name = slash ? slash + 1 : output;
    const char *dot = match == numbered_name ? strrchr(name, '.') : NULL;
    char dir[4096], stem[1024];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == output)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - output), output);
    snprintf(stem, sizeof stem, "%.*s", dot ? (int)(dot - name) : (int)strlen(name), name);
    const char *ext = dot ? dot : "";
    if (!*name)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const size_t len = match(e->d_name, stem, ext);
        if (!len || strncmp(e->d_name + len, ".tmp-", 5) != 0 || !e->d_name[len + 5])
            continue;
        char path[8192];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int nst_cli_clean_temporaries(const char *output) { return clean(output, same_name); }

int nst_cli_clean_numbered_temporaries(const char *output) {
    return clean(output, numbered_name);
}
