/* File helpers for the tests (see test_files.h). */
#include "test_files.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nst_test_write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, n, fp), n, "short write to %s", path);
    cr_assert_eq(fclose(fp), 0, "closing %s failed", path);
}

uint8_t *nst_test_read_bytes(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    cr_assert_eq(fseek(fp, 0, SEEK_END), 0, "cannot seek in %s", path);
    long size = ftell(fp);
    cr_assert_geq(size, 0, "cannot tell the size of %s", path);
    rewind(fp);
    *n = (size_t)size;
    uint8_t *b = malloc(*n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, *n, fp), *n, "short read of %s", path);
    b[*n] = 0; /* text files read this way are strings */
    fclose(fp);
    return b;
}

int nst_test_count_entries(const char *dir, int *tmp) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot list %s", dir);
    int n = 0, t = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        t += strstr(e->d_name, ".tmp-") != NULL;
    }
    closedir(d);
    if (tmp)
        *tmp = t;
    return n;
}

void nst_test_remove_tree(const char *dir) {
    chmod(dir, 0700); /* a test may have left it read-only */
    DIR *d = opendir(dir);
    if (d) {
        char path[4096];
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                nst_test_remove_tree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

char *nst_test_read_text(const char *path) {
    size_t n = 0;
    char *t = (char *)nst_test_read_bytes(path, &n);
    t[n] = '\0';
    return t;
}

double nst_test_json_num(const char *text, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(text, pat);
    cr_assert_not_null(p, "no \"%s\" in the JSON:\n%s", key, text);
    p += strlen(pat);
    return strncmp(p, "null", 4) == 0 ? NAN : strtod(p, NULL);
}

const char *nst_test_path_in(const char *dir, const char *name) {
    static char buf[16][600];
    static int next;
    char *p = buf[next++ % 16];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}
