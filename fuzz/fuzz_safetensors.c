/* libFuzzer target: the safetensors reader (src/host/safetensors.c with json.c) on arbitrary
 * file contents, through its public API (include/nstyle/safetensors.h). Each input is written to
 * a scratch file and opened, by mmap when its size is even and by the read() fallback when odd.
 * Besides crashes, leaks and undefined behaviour it checks what the header promises of a file
 * that opens: tensors in offset order tiling the data section, each inside the file with bytes =
 * elements x dtype size, every name found again by nst_st_find, metadata readable; every tensor
 * is converted to F32 and F64 (so every byte handed out is read) and loaded by nst_st_load_f32.
 * A refusal must be NST_ERR_FORMAT with a message naming the file.
 * Run by fuzz/run.sh safetensors N; seeds in fuzz/corpus/safetensors. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "nstyle/safetensors.h"
#include "safetensors_internal.h"

static void check_file(const nst_st_file *f, const uint8_t *data, size_t size) {
    const int n = nst_st_count(f);
    uint64_t hlen = 0; /* the file opened, so its 8-byte length is there */
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | data[i];
    const uint8_t *first = NULL, *cursor = NULL;
    for (int i = 0; i < n; i++) {
        const nst_st_tensor *t = nst_st_at(f, i);
        fuzz_require(t && t->name && t->ndim >= 0 && t->ndim <= NST_ST_MAX_DIMS, "bad tensor");
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            fuzz_require(t->shape[d] >= 0, "negative dimension");
            numel *= t->shape[d]; /* bounded: the bytes are inside the file */
        }
        fuzz_require(numel == t->numel, "numel is not the product of the shape");
        fuzz_require(t->bytes == (size_t)t->numel * nst_st_dtype_size(t->dtype),
                     "bytes are not elements x dtype size");
        /* t->data points into the reader's copy of the file: compare offsets and contents */
        const uint8_t *p = t->data;
        if (i == 0)
            first = cursor = p;
        fuzz_require(p == cursor, "tensors do not tile the data section");
        cursor = p + t->bytes;
        const size_t at = 8 + (size_t)hlen + (size_t)(p - first);
        fuzz_require(at <= size && t->bytes <= size - at, "tensor past the end of the file");
        fuzz_require(t->bytes == 0 || memcmp(p, data + at, t->bytes) == 0,
                     "tensor bytes differ from the file's");
        const nst_st_tensor *found = nst_st_find(f, t->name);
        fuzz_require(found && strcmp(found->name, t->name) == 0, "name not found again");
        float *f32 = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *f32);
        double *f64 = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *f64);
        fuzz_require(f32 && f64, "out of memory");
        nst_st_to_f32(t, f32);
        nst_st_to_f64(t, f64);
        free(f32);
        free(f64);
    }
    fuzz_require(8 + hlen + (size_t)(n ? cursor - first : 0) == size,
                 "the data section is not exactly the tensors");
    if (n > 0) {
        float *w = NULL;
        nst_status s = nst_st_load_f32(fuzz_ctx(), f, nst_st_at(f, 0)->name, -1, NULL, &w);
        fuzz_require(s == NST_OK && w, "nst_st_load_f32 failed on a tensor of the file");
        free(w);
    }
    for (int i = 0; i < nst_st_metadata_count(f); i++) {
        const char *key, *value;
        nst_st_metadata_at(f, i, &key, &value);
        fuzz_require(key && value, "metadata entry missing");
        fuzz_require(nst_st_metadata(f, key) == value, "metadata key not found again");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_scratch(data, size);
    nst_st_file *f = NULL;
    nst_status s = nst__st_open_with(fuzz_ctx(), path, size % 2 == 0, &f);
    if (s != NST_OK) {
        fuzz_require(f == NULL, "a refusal handed out a file");
        fuzz_require(s == NST_ERR_FORMAT, "a refusal that is not NST_ERR_FORMAT");
        fuzz_require(strstr(fuzz_last_error(), path) != NULL, "a message not naming the file");
        return 0;
    }
    check_file(f, data, size);
    nst_st_close(f);
    return 0;
}
