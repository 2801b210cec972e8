/* safetensors writer (format: include/nstyle/safetensors.h): tensors are copied when added, then
 * written contiguously in insertion order after a header that holds __metadata__ first (as the
 * reference writer does) and pads with spaces to a multiple of 8 bytes, so the data section stays
 * 8-byte aligned. Names and metadata must be valid UTF-8 and are escaped as JSON strings.
 * Saving is atomic: a temporary "<path>.tmp-XXXXXX" in the same folder is written, flushed,
 * fsync'ed and renamed over path; on any failure it is removed and path is left untouched.
 * Tested by tests/test_safetensors.c and tests/test_safetensors_malformed.c (round trips
 * through the reader, refusals, failed saves). */
#include "nstyle/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "nstyle/ops.h"
#include "files.h"
#include "safetensors_internal.h"
#include "json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and the writer stores host-order bytes: add swapping"
#endif

#define ST_MAX_HEADER 100000000ull /* bytes: the reader's limit, so every file written reads back  \
                                    */

typedef struct {
    char *name;
    nst_st_dtype dtype;
    int ndim;
    int64_t shape[NST_ST_MAX_DIMS];
    void *data; /* (bytes) copied at add time */
    size_t bytes;
} st_entry;

struct nst_st_writer {
    st_entry *entries; /* (count) in insertion order = file order */
    size_t count, cap;
    char **meta; /* (2 * n_meta) key, value, key, value ... */
    size_t n_meta, cap_meta;
};

nst_st_writer *nst_st_writer_create(void) { return calloc(1, sizeof(nst_st_writer)); }

void nst_st_writer_destroy(nst_st_writer *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->entries[i].name);
        free(w->entries[i].data);
    }
    for (size_t i = 0; i < 2 * w->n_meta; i++)
        free(w->meta[i]);
    free(w->entries);
    free(w->meta);
    free(w);
}

/* Makes room for one more element of size elem in *arr. */
static bool reserve(void **arr, size_t *cap, size_t count, size_t elem) {
    if (count < *cap)
        return true;
    size_t ncap = *cap ? 2 * *cap : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static nst_status check_text(nst_ctx *ctx, const char *fn, const char *what, const char *s) {
    if (!s)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: %s is NULL", fn, what);
    if (!nst__utf8_valid(s, strlen(s)))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: %s '%s' is not valid UTF-8", fn, what, s);
    return NST_OK;
}


/* Element count and byte size of a shape; refuses negative dims and overflow. */
static nst_status writer_sizes(nst_ctx *ctx, const char *name, nst_st_dtype dtype, int ndim,
                               const int64_t *shape, size_t *bytes) {
    const char *fn = "nst_st_writer_add";
    if ((unsigned)dtype >= NST_ST_DTYPE_COUNT)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: tensor '%s': invalid dtype %d", fn, name,
                        (int)dtype);
    if (ndim < 0 || ndim > NST_ST_MAX_DIMS || (ndim > 0 && !shape))
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: tensor '%s': %d dimensions (0..%d)", fn,
                        name, ndim, NST_ST_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                            "%s: tensor '%s': shape %s has a negative size", fn, name,
                            nst__st_shape_str(shape, ndim, (char[160]){0}, 160));
        if (shape[i] != 0 && numel > INT64_MAX / shape[i] / 8)
            return NST__ERR(ctx, NST_ERR_TOO_LARGE, "%s: tensor '%s': shape %s is too large", fn,
                            name, nst__st_shape_str(shape, ndim, (char[160]){0}, 160));
        numel *= shape[i];
    }
    if ((uint64_t)numel > SIZE_MAX / nst_st_dtype_size(dtype))
        return NST__ERR(ctx, NST_ERR_TOO_LARGE, "%s: tensor '%s' is too large for this host", fn,
                        name);
    *bytes = (size_t)numel * nst_st_dtype_size(dtype);
    return NST_OK;
}

nst_status nst_st_writer_add(nst_ctx *ctx, nst_st_writer *w, const char *name, nst_st_dtype dtype,
                             int ndim, const int64_t *shape, const void *data) {
    const char *fn = "nst_st_writer_add";
    if (!w)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: writer is NULL", fn);
    NST__TRY(check_text(ctx, fn, "tensor name", name));
    if (strcmp(name, "__metadata__") == 0)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG,
                        "%s: '__metadata__' is reserved, not a tensor name", fn);
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", fn, name);
    size_t bytes;
    NST__TRY(writer_sizes(ctx, name, dtype, ndim, shape, &bytes));
    if (bytes && !data)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: tensor '%s': data is NULL", fn, name);
    if (!reserve((void **)&w->entries, &w->cap, w->count, sizeof *w->entries))
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: out of memory adding '%s'", fn, name);
    st_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->data = malloc(bytes ? bytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: cannot copy tensor '%s' (%zu bytes)", fn, name,
                        bytes);
    }
    if (bytes)
        memcpy(e->data, data, bytes);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->shape[i] = shape[i];
    e->bytes = bytes;
    w->count++;
    return NST_OK;
}

nst_status nst_st_writer_metadata(nst_ctx *ctx, nst_st_writer *w, const char *key,
                                  const char *value) {
    const char *fn = "nst_st_writer_metadata";
    if (!w)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: writer is NULL", fn);
    NST__TRY(check_text(ctx, fn, "key", key));
    NST__TRY(check_text(ctx, fn, "value", value));
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[2 * i], key) == 0)
            return NST__ERR(ctx, NST_ERR_INVALID_ARG, "%s: duplicate key '%s'", fn, key);
    size_t cap_pairs = w->cap_meta / 2;
    if (!reserve((void **)&w->meta, &cap_pairs, w->n_meta, 2 * sizeof *w->meta))
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: out of memory", fn);
    w->cap_meta = 2 * cap_pairs;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    w->meta[2 * w->n_meta] = k;
    w->meta[2 * w->n_meta + 1] = v;
    w->n_meta++;
    return NST_OK;
}

/* The header JSON, metadata first (as the reference writer), then tensors in insertion order,
 * padded with spaces to a multiple of 8 bytes. */
static void build_header(const nst_st_writer *w, nst__strbuf *b) {
    char num[64];
    nst__strbuf_puts(b, "{");
    if (w->n_meta) {
        nst__strbuf_puts(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            nst__strbuf_puts(b, i ? "," : "");
            nst__json_put_string(b, w->meta[2 * i]);
            nst__strbuf_puts(b, ":");
            nst__json_put_string(b, w->meta[2 * i + 1]);
        }
        nst__strbuf_puts(b, "}");
    }
    size_t offset = 0;
    for (size_t i = 0; i < w->count; i++) {
        const st_entry *e = &w->entries[i];
        nst__strbuf_puts(b, i || w->n_meta ? "," : "");
        nst__json_put_string(b, e->name);
        nst__strbuf_puts(b, ":{\"dtype\":\"");
        nst__strbuf_puts(b, nst_st_dtype_name(e->dtype));
        nst__strbuf_puts(b, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", e->shape[d]);
            nst__strbuf_puts(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", offset, offset + e->bytes);
        nst__strbuf_puts(b, num);
        offset += e->bytes;
    }
    nst__strbuf_puts(b, "}");
    while (!b->failed && b->len % 8)
        nst__strbuf_puts(b, " ");
}

static bool write_contents(FILE *fp, const nst_st_writer *w, const nst__strbuf *header) {
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)header->len >> (8 * i));
    if (fwrite(len, 1, 8, fp) != 8 || fwrite(header->data, 1, header->len, fp) != header->len)
        return false;
    for (size_t i = 0; i < w->count; i++)
        if (w->entries[i].bytes &&
            fwrite(w->entries[i].data, 1, w->entries[i].bytes, fp) != w->entries[i].bytes)
            return false;
    return true;
}

typedef struct {
    const nst_st_writer *w;
    const nst__strbuf *header;
    const char *path;
} save_job;

static nst_status save_job_write(nst_ctx *ctx, FILE *f, void *user) {
    const save_job *job = user;
    if (!write_contents(f, job->w, job->header))
        return NST__ERR(ctx, NST_ERR_IO, "%s: writing failed (file left unchanged): %s",
                        job->path, strerror(errno));
    return NST_OK;
}

nst_status nst_st_writer_save(nst_ctx *ctx, const nst_st_writer *w, const char *path) {
    if (!w || !path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_st_writer_save: NULL writer or path");
    nst__strbuf header = {0};
    build_header(w, &header);
    nst_status s = NST_OK;
    if (header.failed)
        s = NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: out of memory building the header", path);
    else if (header.len > ST_MAX_HEADER)
        s = NST__ERR(ctx, NST_ERR_TOO_LARGE, "%s: header of %zu bytes exceeds the limit of %llu",
                     path, header.len, ST_MAX_HEADER);
    if (s == NST_OK) {
        save_job job = {w, &header, path};
        s = nst__atomic_write(ctx, path, save_job_write, &job);
    }
    nst__strbuf_free(&header);
    return s;
}
