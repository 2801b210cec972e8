/* File helpers for the tests that write, read back and list files in temporary folders (made by
 * nst_test_tmpdir). Each fails the running test when the file system refuses. */
#ifndef NSTYLE_TEST_FILES_H
#define NSTYLE_TEST_FILES_H

#include <stddef.h>
#include <stdint.h>

/* Creates or replaces path with n bytes of data. */
void nst_test_write_bytes(const char *path, const void *data, size_t n);
/* The whole file in a new buffer, NUL-terminated after the n bytes read; the caller frees. */
uint8_t *nst_test_read_bytes(const char *path, size_t *n);
/* Entries in dir other than . and ..; when tmp is not NULL, *tmp counts those whose names hold
 * ".tmp-" (the temporaries of an atomic save). */
int nst_test_count_entries(const char *dir, int *tmp);
/* The whole file as a NUL-terminated string; the caller frees. */
char *nst_test_read_text(const char *path);
/* The number after the first "KEY": in a JSON text (NaN for null); fails the test when the key
 * is absent. */
double nst_test_json_num(const char *text, const char *key);
/* Removes dir and everything below it (symbolic links are removed, not followed); nst_test_tmpdir
 * does this for its folders when the test ends. */
void nst_test_remove_tree(const char *dir);

/* dir/name in one of 16 static buffers used in turn, so up to 16 results can be held at once
 * (the CLI tests' output and input paths). */
const char *nst_test_path_in(const char *dir, const char *name);

#endif
