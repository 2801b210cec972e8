/* safetensors reader (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...,
 * "__metadata__": {string: string}}, then the data section.
 *
 * Reading maps the file read-only (or reads it into memory when mmap fails) and validates it the
 * way the reference implementation does, before handing out any byte: header length within the
 * file and under 100 MB, strict JSON (src/host/json.c), known dtypes (F32, F16, BF16, F64, U8),
 * shape products equal to the byte ranges, and ranges that, sorted by offset, cover the data
 * section exactly (no overlap, no gap, no trailing bytes). Every refusal is NST_ERR_FORMAT
 * (NST_ERR_IO when the file cannot be opened or read) with a message naming the path, the
 * problem and the tensor. The writer is in safetensors_write.c.
 * Tested by tests/test_safetensors.c and tests/test_safetensors_malformed.c. */
#include "nstyle/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "nstyle/ops.h"
#include "safetensors_internal.h"
#include "json.h"

#define ST_MAX_HEADER 100000000ull /* bytes, as the reference implementation */
#define ST_MAX_DEPTH 16            /* a valid header nests 3 deep */

static const struct {
    const char *name;
    size_t size;
} st_dtypes[NST_ST_DTYPE_COUNT] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"U8", 1}};

const char *nst_st_dtype_name(nst_st_dtype t) {
    return (unsigned)t < NST_ST_DTYPE_COUNT ? st_dtypes[t].name : "?";
}

size_t nst_st_dtype_size(nst_st_dtype t) {
    return (unsigned)t < NST_ST_DTYPE_COUNT ? st_dtypes[t].size : 0;
}

struct nst_st_file {
    char *path;
    const unsigned char *base; /* (size) the whole file */
    size_t size;
    bool mapped;                   /* munmap, else free */
    nst__json header;              /* tensor names and metadata point into it */
    const nst__json *metadata;     /* OBJECT of strings, or NULL */
    nst_st_tensor *tensors;        /* (count) by data offset */
    const nst_st_tensor **by_name; /* (count) sorted by name, for nst_st_find */
    int count;
};

/* ---- loading the bytes ------------------------------------------------------------------- */

static nst_status read_all(nst_ctx *ctx, int fd, nst_st_file *f) {
    unsigned char *buf = malloc(f->size);
    if (!buf)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes to read it", f->path,
                        f->size);
    size_t done = 0;
    while (done < f->size) {
        ssize_t n = read(fd, buf + done, f->size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : 0;
            free(buf);
            return NST__ERR(ctx, NST_ERR_IO, "%s: read failed after %zu of %zu bytes: %s", f->path,
                            done, f->size, err ? strerror(err) : "file shrank while reading");
        }
        done += (size_t)n;
    }
    f->base = buf;
    return NST_OK;
}

static nst_status load_bytes(nst_ctx *ctx, nst_st_file *f, bool use_mmap) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NST__ERR(ctx, NST_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat st;
    nst_status s = NST_OK;
    if (fstat(fd, &st) != 0)
        s = NST__ERR(ctx, NST_ERR_IO, "%s: cannot stat: %s", f->path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = NST__ERR(ctx, NST_ERR_IO, "%s: not a regular file", f->path);
    else if (st.st_size < 8)
        s = NST__ERR(ctx, NST_ERR_FORMAT,
                     "%s: file is %lld bytes, shorter than the 8-byte header length", f->path,
                     (long long)st.st_size);
    else if ((uintmax_t)st.st_size > SIZE_MAX)
        s = NST__ERR(ctx, NST_ERR_TOO_LARGE, "%s: file too large for this host", f->path);
    if (s == NST_OK) {
        f->size = (size_t)st.st_size;
        void *p = use_mmap ? mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        if (p != MAP_FAILED) {
            f->base = p;
            f->mapped = true;
        } else {
            s = read_all(ctx, fd, f);
        }
    }
    close(fd);
    return s;
}

/* ---- validating the header --------------------------------------------------------------- */

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static bool is_count(const nst__json *v) {
    return v && v->type == NST__JSON_NUMBER && v->is_int && v->integer >= 0;
}

const char *nst__st_shape_str(const int64_t *shape, int ndim, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

static nst_status check_metadata(nst_ctx *ctx, nst_st_file *f, const nst__json *m) {
    if (m->type != NST__JSON_OBJECT)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: __metadata__ is not an object", f->path);
    for (size_t i = 0; i < m->count; i++) {
        const nst__json_member *kv = &m->members[i];
        if (kv->value.type != NST__JSON_STRING)
            return NST__ERR(ctx, NST_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string",
                            f->path, kv->key);
        if (strlen(kv->key) != kv->key_len || strlen(kv->value.str) != kv->value.str_len)
            return NST__ERR(ctx, NST_ERR_FORMAT,
                            "%s: __metadata__ entry '%s' contains a NUL character", f->path,
                            kv->key);
    }
    f->metadata = m;
    return NST_OK;
}

static nst_status parse_shape(nst_ctx *ctx, const nst_st_file *f, const char *name,
                              const nst__json *shape, nst_st_tensor *t) {
    if (!shape || shape->type != NST__JSON_ARRAY)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: tensor '%s': 'shape' missing or not an array",
                        f->path, name);
    if (shape->count > NST_ST_MAX_DIMS)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: tensor '%s': shape has %zu dimensions (at most %d)", f->path, name,
                        shape->count, NST_ST_MAX_DIMS);
    t->ndim = (int)shape->count;
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (!is_count(&shape->items[i]))
            return NST__ERR(ctx, NST_ERR_FORMAT,
                            "%s: tensor '%s': shape[%d] is not a non-negative integer", f->path,
                            name, i);
        t->shape[i] = shape->items[i].integer;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] != 0 && t->numel > INT64_MAX / t->shape[i])
            return NST__ERR(ctx, NST_ERR_FORMAT,
                            "%s: tensor '%s': element count of shape %s overflows", f->path, name,
                            nst__st_shape_str(t->shape, t->ndim, (char[160]){0}, 160));
        t->numel *= t->shape[i];
    }
    return NST_OK;
}

/* One tensor entry; data points at the data section (data_size bytes). */
static nst_status parse_entry(nst_ctx *ctx, const nst_st_file *f, const nst__json_member *m,
                              const unsigned char *data, size_t data_size, nst_st_tensor *t) {
    const char *name = m->key;
    if (strlen(name) != m->key_len)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: tensor name '%s...' contains a NUL character",
                        f->path, name);
    const nst__json *v = &m->value;
    if (v->type != NST__JSON_OBJECT)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: tensor '%s': entry is not an object", f->path,
                        name);
    for (size_t i = 0; i < v->count; i++) {
        const char *k = v->members[i].key;
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            return NST__ERR(ctx, NST_ERR_FORMAT, "%s: tensor '%s': unknown field '%s'", f->path,
                            name, k);
    }
    const nst__json *dtype = nst__json_find(v, "dtype");
    if (!dtype || dtype->type != NST__JSON_STRING)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: tensor '%s': 'dtype' missing or not a string",
                        f->path, name);
    int d = 0;
    while (d < NST_ST_DTYPE_COUNT && strcmp(dtype->str, st_dtypes[d].name) != 0)
        d++;
    if (d == NST_ST_DTYPE_COUNT)
        return NST__ERR(
            ctx, NST_ERR_FORMAT,
            "%s: tensor '%s': unsupported dtype '%.40s' (nstyle reads F32, F16, BF16, F64, U8)",
            f->path, name, dtype->str);
    t->name = name;
    t->dtype = (nst_st_dtype)d;
    NST__TRY(parse_shape(ctx, f, name, nst__json_find(v, "shape"), t));

    const nst__json *offs = nst__json_find(v, "data_offsets");
    if (!offs || offs->type != NST__JSON_ARRAY || offs->count != 2 || !is_count(&offs->items[0]) ||
        !is_count(&offs->items[1]))
        return NST__ERR(
            ctx, NST_ERR_FORMAT,
            "%s: tensor '%s': 'data_offsets' must be [begin, end] with non-negative integers",
            f->path, name);
    int64_t begin = offs->items[0].integer, end = offs->items[1].integer;
    if (begin > end)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets begin %" PRId64 " > end %" PRId64, f->path,
                        name, begin, end);
    if ((uint64_t)end > data_size)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                        "] beyond the %zu-byte data section",
                        f->path, name, begin, end, data_size);
    const int64_t size = (int64_t)st_dtypes[d].size;
    if (t->numel > INT64_MAX / size || t->numel * size != end - begin)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: tensor '%s': shape %s of %s needs %" PRId64
                        " elements of %d bytes, but data_offsets span %" PRId64 " bytes",
                        f->path, name, nst__st_shape_str(t->shape, t->ndim, (char[160]){0}, 160),
                        st_dtypes[d].name, t->numel, (int)size, end - begin);
    t->data = data + begin;
    t->bytes = (size_t)(end - begin);
    return NST_OK;
}

/* Tensors sort by offset, then size (an empty tensor before a full one at the same offset), then
 * header position, so the order is fully determined. */
typedef struct {
    nst_st_tensor t;
    size_t header_pos;
} st_sort_entry;

static int cmp_offset(const void *a, const void *b) {
    const st_sort_entry *x = a, *y = b;
    if (x->t.data != y->t.data)
        return (uintptr_t)x->t.data < (uintptr_t)y->t.data ? -1 : 1;
    if (x->t.bytes != y->t.bytes)
        return x->t.bytes < y->t.bytes ? -1 : 1;
    return (x->header_pos > y->header_pos) - (x->header_pos < y->header_pos);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const nst_st_tensor *const *)a)->name,
                  (*(const nst_st_tensor *const *)b)->name);
}

/* Sorted ranges must tile [0, data_size) exactly. */
static nst_status check_coverage(nst_ctx *ctx, const nst_st_file *f, const unsigned char *data,
                                 size_t data_size) {
    size_t cursor = 0;
    for (int i = 0; i < f->count; i++) {
        const nst_st_tensor *t = &f->tensors[i];
        size_t begin = (size_t)((const unsigned char *)t->data - data);
        if (begin < cursor) {
            const nst_st_tensor *p = &f->tensors[i - 1];
            size_t pb = (size_t)((const unsigned char *)p->data - data);
            return NST__ERR(ctx, NST_ERR_FORMAT,
                            "%s: tensors '%s' [%zu, %zu) and '%s' [%zu, %zu) overlap", f->path,
                            p->name, pb, pb + p->bytes, t->name, begin, begin + t->bytes);
        }
        if (begin > cursor)
            return NST__ERR(
                ctx, NST_ERR_FORMAT,
                "%s: gap in the data: bytes [%zu, %zu) before tensor '%s' belong to no tensor",
                f->path, cursor, begin, t->name);
        cursor = begin + t->bytes;
    }
    if (cursor != data_size)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: %zu trailing bytes after the last tensor (data section is %zu bytes)",
                        f->path, data_size - cursor, data_size);
    return NST_OK;
}

static nst_status parse_tensors(nst_ctx *ctx, nst_st_file *f, const unsigned char *data,
                                size_t data_size) {
    const nst__json *h = &f->header;
    st_sort_entry *entries = calloc(h->count + 1, sizeof *entries);
    if (!entries)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: out of memory for %zu header entries", f->path,
                        h->count);
    nst_status s = NST_OK;
    size_t n = 0;
    for (size_t i = 0; i < h->count && s == NST_OK; i++) {
        if (strcmp(h->members[i].key, "__metadata__") == 0) {
            s = check_metadata(ctx, f, &h->members[i].value);
            continue;
        }
        entries[n].header_pos = i;
        s = parse_entry(ctx, f, &h->members[i], data, data_size, &entries[n].t);
        n++;
    }
    if (s == NST_OK && n > INT32_MAX)
        s = NST__ERR(ctx, NST_ERR_FORMAT, "%s: %zu tensors, too many", f->path, n);
    if (s == NST_OK) {
        qsort(entries, n, sizeof *entries, cmp_offset);
        f->tensors = calloc(n + 1, sizeof *f->tensors);
        f->by_name = calloc(n + 1, sizeof *f->by_name);
        if (!f->tensors || !f->by_name)
            s = NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: out of memory for %zu tensors", f->path, n);
    }
    if (s == NST_OK) {
        f->count = (int)n;
        for (size_t i = 0; i < n; i++) {
            f->tensors[i] = entries[i].t;
            f->by_name[i] = &f->tensors[i];
        }
        qsort(f->by_name, n, sizeof *f->by_name, cmp_name);
        s = check_coverage(ctx, f, data, data_size);
    }
    free(entries);
    return s;
}

static nst_status parse_file(nst_ctx *ctx, nst_st_file *f) {
    uint64_t hlen = le64(f->base);
    if (hlen == 0)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: header length is 0", f->path);
    if (hlen > ST_MAX_HEADER)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: header length %" PRIu64 " exceeds the limit of %llu bytes", f->path,
                        hlen, ST_MAX_HEADER);
    if (hlen > f->size - 8)
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                        f->path, hlen, f->size);
    char err[256];
    if (!nst__json_parse((const char *)f->base + 8, (size_t)hlen, ST_MAX_DEPTH, &f->header, err,
                         sizeof err))
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: malformed header JSON: %s", f->path, err);
    if (f->header.type != NST__JSON_OBJECT)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    if (f->base[8] != '{') /* the format allows padding after the JSON, not before */
        return NST__ERR(ctx, NST_ERR_FORMAT,
                        "%s: header must begin with '{' (whitespace before it)", f->path);
    return parse_tensors(ctx, f, f->base + 8 + hlen, f->size - 8 - (size_t)hlen);
}

/* Also the entry point of the tests for the read() fallback (use_mmap false). */
nst_status nst__st_open_with(nst_ctx *ctx, const char *path, bool use_mmap, nst_st_file **out) {
    if (!out)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_st_open: out is NULL");
    *out = NULL;
    if (!path)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_st_open: path is NULL");
    nst_st_file *f = calloc(1, sizeof *f);
    if (f)
        f->path = strdup(path);
    if (!f || !f->path) {
        free(f);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    nst_status s = load_bytes(ctx, f, use_mmap);
    if (s == NST_OK)
        s = parse_file(ctx, f);
    if (s != NST_OK) {
        nst_st_close(f);
        return s;
    }
    *out = f;
    return NST_OK;
}

nst_status nst_st_open(nst_ctx *ctx, const char *path, nst_st_file **out) {
    return nst__st_open_with(ctx, path, true, out);
}

void nst_st_close(nst_st_file *f) {
    if (!f)
        return;
    if (f->mapped)
        munmap((void *)f->base, f->size);
    else
        free((void *)f->base);
    nst__json_release(&f->header);
    free(f->tensors);
    free(f->by_name);
    free(f->path);
    free(f);
}

/* ---- queries and conversions ------------------------------------------------------------- */

int nst_st_count(const nst_st_file *f) { return f ? f->count : 0; }

const nst_st_tensor *nst_st_at(const nst_st_file *f, int i) {
    return f && i >= 0 && i < f->count ? &f->tensors[i] : NULL;
}

static int cmp_find(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const nst_st_tensor *const *)elem)->name);
}

const nst_st_tensor *nst_st_find(const nst_st_file *f, const char *name) {
    if (!f || !name || f->count == 0)
        return NULL;
    const nst_st_tensor **hit =
        bsearch(name, f->by_name, (size_t)f->count, sizeof *f->by_name, cmp_find);
    return hit ? *hit : NULL;
}

const char *nst_st_metadata(const nst_st_file *f, const char *key) {
    const nst__json *v = f && key ? nst__json_find(f->metadata, key) : NULL;
    return v ? v->str : NULL;
}

int nst_st_metadata_count(const nst_st_file *f) {
    return f && f->metadata ? (int)f->metadata->count : 0;
}

void nst_st_metadata_at(const nst_st_file *f, int i, const char **key, const char **value) {
    bool ok = i >= 0 && i < nst_st_metadata_count(f);
    if (key)
        *key = ok ? f->metadata->members[i].key : NULL;
    if (value)
        *value = ok ? f->metadata->members[i].value.str : NULL;
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static float load_le_f32(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static double load_le_f64(const unsigned char *p) {
    uint64_t u = le64(p);
    double x;
    memcpy(&x, &u, 8);
    return x;
}

/* Element i of an F32, F16, BF16 or U8 tensor's raw little-endian data, exactly (NaN payloads
 * included: a float that went through a double would come back with its NaN quietened). */
static float element_f32(const nst_st_tensor *t, int64_t i) {
    const unsigned char *p = t->data; // (numel * dtype size) little-endian
    switch (t->dtype) {
    case NST_ST_U8:
        return (float)p[i];
    case NST_ST_F16:
        return nst_f16_to_f32(le16(p + 2 * i));
    case NST_ST_BF16:
        return nst_bf16_to_f32(le16(p + 2 * i));
    default:
        return load_le_f32(p + 4 * i);
    }
}

void nst_st_to_f32(const nst_st_tensor *t, float *out) {
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) /* F64 is rounded to nearest by the cast */
        out[i] = t->dtype == NST_ST_F64 ? (float)load_le_f64(p + 8 * i) : element_f32(t, i);
}

void nst_st_to_f64(const nst_st_tensor *t, double *out) {
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < t->numel; i++)
        out[i] = t->dtype == NST_ST_F64 ? load_le_f64(p + 8 * i) : (double)element_f32(t, i);
}

nst_status nst_st_load_f32(nst_ctx *ctx, const nst_st_file *f, const char *name, int ndim,
                           const int64_t *dims, float **out) {
    if (!out || !f || !name)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "nst_st_load_f32: NULL file, name or out");
    *out = NULL;
    const nst_st_tensor *t = nst_st_find(f, name);
    if (!t)
        return NST__ERR(ctx, NST_ERR_FORMAT, "%s: no tensor '%s'", f->path, name);
    bool match = ndim < 0 || t->ndim == ndim;
    for (int i = 0; match && ndim > 0 && i < ndim; i++)
        match = dims[i] < 0 || dims[i] == t->shape[i];
    if (!match) {
        char got[160], want[160];
        return NST__ERR(ctx, NST_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path,
                        name, nst__st_shape_str(t->shape, t->ndim, got, sizeof got),
                        nst__st_shape_str(dims, ndim, want, sizeof want));
    }
    float *buf = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *buf);
    if (!buf)
        return NST__ERR(ctx, NST_ERR_NO_MEMORY,
                        "%s: tensor '%s': cannot allocate %" PRId64 " floats", f->path, name,
                        t->numel);
    nst_st_to_f32(t, buf);
    *out = buf;
    return NST_OK;
}
